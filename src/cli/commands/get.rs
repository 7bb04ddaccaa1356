//! `cargo dvc get URL PATH`: download an artifact without declaring or
//! locking it, as `dvc get` does.
//!
//! The file is the user's own: a copy (a reflink where the file system has
//! them), never a hard link into the cache, unless `--link`. `-o` naming an
//! existing folder (or ending in `/`) places it inside that folder. An
//! existing file is never replaced (not followed either, when a symlink)
//! unless it is an unmodified earlier `get` of the same path, or `--force`.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::context::Context;
use crate::confined::Dir;
use crate::error::{Error, ErrorKind, Result};
use crate::format::stage::RepoSpec;
use crate::materialize::{self, Existing, Options};

use super::{describe, short};

/// `cargo dvc get`'s arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
    cargo dvc get https://github.com/acme/registry models/classifier.onnx --rev v1 -o model.onnx")]
pub struct GetArgs {
    /// Git URL (or local path) of the source DVC project.
    pub url: String,
    /// File or directory inside the source project.
    pub path: String,
    /// Where to write it, relative to the current folder [default: the last
    /// component of PATH]; an existing folder (or OUT ending in `/`): inside
    /// it.
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: Option<String>,
    /// Replace what is at OUT (never following a symlink there), as
    /// `dvc get --force`.
    #[arg(short, long)]
    pub force: bool,
    /// Hard-link the files from the cache (read-only) instead of copying.
    #[arg(long)]
    pub link: bool,
    /// Branch, tag or commit of the source project [default: its default
    /// branch].
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
}

/// The folder to place in (the user's: followed when a symlink) and the
/// name there (never followed), for `-o OUT` (or none: `default_name` in
/// the current folder). An existing folder, or OUT ending in `/`, gets the
/// artifact inside, as `dvc get -o DIR` does.
fn destination(cwd: &Path, out: Option<&str>, default_name: &str) -> Result<(PathBuf, String)> {
    let Some(out) = out else {
        return Ok((cwd.to_path_buf(), default_name.to_string()));
    };
    let path = cwd.join(out);
    let into_folder =
        out.ends_with('/') || out.ends_with(std::path::MAIN_SEPARATOR) || path.is_dir();
    if into_folder {
        return Ok((path, default_name.to_string()));
    }
    match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        (Some(parent), Some(name)) => Ok((parent.to_path_buf(), name.to_string())),
        _ => Err(
            Error::new(ErrorKind::Io, format!("`{out}` does not name a file"))
                .with_help("give `-o` a file name or a folder"),
        ),
    }
}

/// Runs `cargo dvc get`.
pub fn exec(ctx: &Context, args: GetArgs) -> Result<i32> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    if args.path.starts_with('/') {
        // `dvc get` reads an absolute path from the workspace index of the
        // registry it opened, where it finds nothing, and fails; we refuse
        // it up front (`import` takes `/data` as repository-relative).
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "`{}` is an absolute path, and `dvc get` finds nothing at absolute paths",
                args.path
            ),
        )
        .with_help(format!(
            "give the path relative to the repository's root: `{}`",
            args.path.trim_start_matches('/')
        )));
    }
    let lookup = crate::manifest::source_lookup_path(&args.path)
        .map_err(|msg| Error::new(ErrorKind::Manifest, format!("PATH: {msg}")))?;
    let path_clean = lookup.as_str();
    let default_out = path_clean.rsplit('/').next().unwrap_or(path_clean);
    if default_out.is_empty() && args.out.is_none() {
        return Err(Error::new(
            ErrorKind::Manifest,
            format!(
                "`{}` names the whole repository, and no `-o` says where to put it",
                args.path
            ),
        )
        .with_help("give a folder to create with `-o OUT`"));
    }
    let (folder, name) = destination(&cwd, args.out.as_deref(), default_out)?;
    if crate::manifest::is_dvc_file_name(&name) {
        // As `dvc get` refuses (`GetDVCFileError`).
        return Err(Error::new(
            ErrorKind::Manifest,
            format!(
                "`{name}` is a DVC file: the given path is a DVC file, you must specify a data file or a directory"
            ),
        )
        .with_help("get the data the DVC file tracks: its path without `.dvc`"));
    }
    let options = Options::workspace(args.link, args.force, Existing::KeepOthers);
    let engine = ctx.engine()?;
    // Refuse what is in the way before downloading anything.
    if folder.is_dir() {
        let root = Dir::open_root(&folder)?;
        materialize::precheck(engine.cache(), &root, Path::new(&name), options)?;
    }
    let repo = RepoSpec {
        url: args.url.clone(),
        rev: args.rev.clone(),
        ..RepoSpec::default()
    };
    let out = folder.join(&name);
    let shown = out.strip_prefix(&cwd).unwrap_or(&out).display().to_string();
    let bar = ctx.shell().progress(&shown);
    let resolved = engine.resolve(&cwd, &repo, &args.path, &name);
    drop(bar);
    let (stage, artifact) = resolved?;
    let root = Dir::create_root(&folder)?;
    let placed = engine.place(&artifact, &root, Path::new(&name), options)?;
    for path in &placed.replaced {
        ctx.shell()
            .warn(format!("replaced `{}` (--force)", path.display()));
    }
    let out = shown;
    ctx.shell().status(
        "Downloaded",
        format!(
            "{path_clean} at {} -> {out} ({})",
            short(&crate::format::stage::LockStage::Import(stage)),
            describe(&artifact)
        ),
    );
    Ok(0)
}
