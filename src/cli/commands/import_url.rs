//! `cargo dvc import-url URL [OUT]`: declare a URL dependency (a file or
//! directory named by its URL, no registry) in `Cargo.toml` and write its
//! lock, as `dvc import-url` writes its stage.

use std::path::Path;

use clap::Args;

use crate::cli::args::{ManifestPath, OnePackage};
use crate::cli::context::Context;
use crate::cli::dvc_project;
use crate::cli::manifest_edit;
use crate::cli::shell::Verbosity;
use crate::confined::Dir;
use crate::engine::Artifact;
use crate::error::{Error, ErrorKind, Result};
use crate::hash::Sha256;
use crate::manifest::{Manifest, url_basename};
use crate::project::{self, LockMode};

use super::import::{Imported, default_name, out_inside_folders};
use super::{describe, short};

/// `cargo dvc import-url`'s arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
    cargo dvc import-url https://example.com/models/encoder.onnx --sha256 9f86d0...
    cargo dvc import-url s3://bucket/data/ assets/ --fs-config endpointurl=http://127.0.0.1:9000
    cargo dvc import-url ../shared/lexicon.txt")]
pub struct ImportUrlArgs {
    /// The file or directory: http(s)://, s3://, file:// or a local path.
    pub url: String,
    /// Where to put it, relative to the crate root; an existing folder (or
    /// one ending in `/`) gets it inside [default: the last component of
    /// URL's path].
    #[arg(value_name = "OUT")]
    pub out: Option<String>,
    /// The dependency's name [default: derived from OUT's file name].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// An option of the URL's file system, as a DVC remote of that kind takes
    /// it (`endpointurl=...`, `ssl_verify=false`); recorded in the lock, as
    /// `dvc import-url --fs-config` does. Repeatable.
    #[arg(long = "fs-config", value_name = "K=V")]
    pub fs_config: Vec<String>,
    /// The SHA-256 the file must have; checked on every download and
    /// written to Cargo.toml.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Replace a file or folder already at OUT (or its lock) with the
    /// artifact, as `dvc import-url --force`.
    #[arg(short, long)]
    pub force: bool,
    /// Package selection.
    #[command(flatten)]
    pub package: OnePackage,
    /// Manifest options.
    #[command(flatten)]
    pub manifest: ManifestPath,
}

/// Runs `cargo dvc import-url`.
pub fn exec(ctx: &Context, args: ImportUrlArgs) -> Result<i32> {
    if ctx.mode() == LockMode::Locked {
        return Err(Error::new(
            ErrorKind::Locked,
            "`import-url` writes a lock, and --locked / DVC_BUILD_LOCKED forbids it",
        ));
    }
    let shell = ctx.shell();
    let package = ctx.single_package(&args.package, &args.manifest)?;
    let url = url_for_crate(&args.url, &package.root);
    let basename = url_basename(&url).ok_or_else(|| {
        Error::new(
            ErrorKind::Manifest,
            format!("`{}` ends with no file name", crate::redact::url(&args.url)),
        )
        .with_help("give OUT, the path to put it at")
    })?;
    let root = Dir::open_root(&package.root)?;
    // As `dvc import-url`: OUT naming a folder gets the file inside it.
    let out = match args.out.as_deref() {
        Some(out) => out_inside_folders(&root, out, &basename)?,
        None => basename.clone(),
    };
    let out = out.strip_prefix("./").unwrap_or(&out).to_string();
    let name = args.name.clone().unwrap_or_else(|| default_name(&out));
    let mut fs_config = Vec::new();
    for pair in &args.fs_config {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            Error::new(
                ErrorKind::Manifest,
                format!("--fs-config `{pair}`: expected KEY=VALUE"),
            )
        })?;
        fs_config.push((k.trim().to_string(), v.to_string()));
    }
    let sha256 =
        match &args.sha256 {
            Some(hex) => Some(hex.parse::<Sha256>().map_err(|e| {
                e.with_help("give the 64 hex digits `sha256sum` prints for the file")
            })?),
            None => None,
        };
    let original = std::fs::read_to_string(&package.manifest_path)
        .map_err(|e| Error::io("read", &package.manifest_path, e))?;
    if Manifest::parse(&original)?.dep(&name).is_some() {
        return Err(Error::new(
            ErrorKind::Manifest,
            format!("a data dependency called `{name}` is already declared"),
        )
        .with_dependency(&name)
        .with_help("pick another name with `--name`, or refresh it with `cargo dvc update`"));
    }
    let sha_text = sha256.map(|s| s.to_string());
    let edited = manifest_edit::add_url_dependency(
        &original,
        &manifest_edit::NewUrlDependency {
            name: &name,
            url: &url,
            out: Some(out.as_str()).filter(|o| *o != basename),
            fs_config: &fs_config,
            sha256: sha_text.as_deref(),
        },
    )?;
    let manifest = Manifest::parse(&edited)?;
    let dep = manifest
        .dep(&name)
        .ok_or_else(|| Error::new(ErrorKind::Manifest, "the new declaration did not parse"))?;
    let rel = Path::new(&dep.out);
    let lock_rel = dep.lock_path();
    // Everything that would stop the import, before any download or write.
    let existing = root.check_writable(rel)?;
    let existing_lock = root.check_writable(&lock_rel)?;
    for (what, found) in [("", &existing), (" lock", &existing_lock)] {
        if found.is_some() && !args.force {
            let path = if what.is_empty() {
                rel
            } else {
                lock_rel.as_path()
            };
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "`{}` already exists in the crate",
                    package.root.join(path).display()
                ),
            )
            .with_dependency(&name)
            .with_help(format!(
                "choose another OUT, or run again with `--force` to replace it{} (as `dvc import-url --force` does)",
                if what.is_empty() { " with the artifact" } else { "" }
            )));
        }
    }
    let tracked = dvc_project::tracked_by_git(&package.root, rel);
    if !tracked.is_empty() {
        return Err(dvc_project::tracked_error(&tracked)
            .with_dependency(&name)
            .with_help(format!(
                "an output is ignored by git, so git may not track it: choose another OUT, or stop tracking it first (`git rm -r --cached {}` and commit)",
                dep.out
            )));
    }
    shell.status(
        "Importing",
        format!("{name} ({})", crate::redact::url(&url)),
    );
    let engine = ctx.engine()?;
    // The note below shows the SHA-256 to pin: computed in the download's
    // one pass, unless nobody will read it (`-q`).
    let noted = sha256.is_none() && shell.verbosity() != Verbosity::Quiet;
    engine.compute_sha256(noted);
    let bar = shell.progress(&name);
    let updated = project::update(engine, &package.root, dep, None, true)?;
    drop(bar);
    Imported {
        dep,
        lock: updated.text.clone(),
        manifest: edited,
        artifact: Some(&updated.artifact),
        replaces: existing.is_some(),
    }
    .write(ctx, &package, &root)?;
    shell.status(
        "Locked",
        format!(
            "{name} to {} ({})",
            short(&updated.new),
            describe(&updated.artifact)
        ),
    );
    if noted && let Artifact::File(file) = &updated.artifact {
        let sha = engine.sha256(file)?;
        shell.note(format!(
            "its SHA-256 is {sha}: to have every download checked against it, add \
             `sha256 = \"{sha}\"` to [package.metadata.dvc.deps.{name}] (or import with --sha256)"
        ));
    }
    Ok(0)
}

/// A relative local path typed in another folder than the crate root,
/// made absolute (declarations take local paths from the crate root);
/// anything else as typed.
fn url_for_crate(url: &str, root: &Path) -> String {
    if url.contains("://") || Path::new(url).is_absolute() {
        return url.to_string();
    }
    let Ok(cwd) = std::env::current_dir() else {
        return url.to_string();
    };
    if cwd.canonicalize().ok() == root.canonicalize().ok() {
        url.to_string()
    } else {
        cwd.join(url).to_string_lossy().into_owned()
    }
}
