//! `cargo dvc import URL PATH`: declare a data dependency in `Cargo.toml`
//! and write its lock, as `dvc import` writes its stage.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::args::{ManifestPath, OnePackage};
use crate::cli::context::Context;
use crate::cli::dvc_project;
use crate::cli::manifest_edit;
use crate::error::{Error, ErrorKind, Result};
use crate::lock;
use crate::manifest::Manifest;
use crate::project::{self, LockMode};

use super::{describe, rev_note, short};

/// `cargo dvc import`'s arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
    cargo dvc import https://github.com/acme/registry models/classifier.onnx --rev v1
    cargo dvc import ../registry data/images -o assets/images --name images")]
pub struct ImportArgs {
    /// Git URL (or local path) of the source DVC project.
    pub url: String,
    /// File or directory inside the source project.
    pub path: String,
    /// Where to put the artifact, relative to the crate root [default: the
    /// last component of PATH].
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: Option<String>,
    /// Branch, tag or commit of the source project [default: its default
    /// branch].
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// The dependency's name [default: derived from OUT's file name].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Package selection.
    #[command(flatten)]
    pub package: OnePackage,
    /// Manifest options.
    #[command(flatten)]
    pub manifest: ManifestPath,
}

/// Runs `cargo dvc import`.
pub fn exec(ctx: &Context, args: ImportArgs) -> Result<i32> {
    if ctx.mode() == LockMode::Locked {
        return Err(Error::new(
            ErrorKind::Locked,
            "`import` writes a lock, and --locked / DVC_BUILD_LOCKED forbids it",
        ));
    }
    let shell = ctx.shell();
    let package = ctx.single_package(&args.package, &args.manifest)?;
    let url = url_for_crate(&args.url, &package.root);
    let path_clean = args.path.trim_matches('/');
    let default_out = path_clean.rsplit('/').next().unwrap_or(path_clean);
    let out_value = args.out.as_deref().map(|o| o.trim_end_matches('/'));
    let rev = args.rev.as_deref();
    let name = match &args.name {
        Some(n) => n.clone(),
        None => default_name(out_value.unwrap_or(default_out)),
    };
    let original = std::fs::read_to_string(&package.manifest_path)
        .map_err(|e| Error::io("read", &package.manifest_path, e))?;
    if Manifest::parse(&original)?.dep(&name).is_some() {
        return Err(Error::new(
            ErrorKind::Manifest,
            format!("a data dependency called `{name}` is already declared"),
        )
        .with_dependency(&name)
        .with_help("pick another name with `--name`, or change it with `cargo dvc update`"));
    }
    let edited = manifest_edit::add_dependency(
        &original,
        &manifest_edit::NewDependency {
            name: &name,
            url: &url,
            path: path_clean,
            rev,
            out: out_value.filter(|o| *o != default_out),
        },
    )?;
    let manifest = Manifest::parse(&edited)?;
    let dep = manifest
        .dep(&name)
        .ok_or_else(|| Error::new(ErrorKind::Manifest, "the new declaration did not parse"))?;
    shell.status(
        "Importing",
        format!(
            "{name} ({} {path_clean}{})",
            crate::redact::url(&url),
            rev_note(rev)
        ),
    );
    let engine = ctx.engine()?;
    let bar = shell.progress(&name);
    let updated = project::update(engine, &package.root, dep, None, false)?;
    drop(bar);
    lock::write_atomic(&package.manifest_path, edited.as_bytes())?;
    dvc_project::gitignore(&package.root.join(&dep.out), updated.artifact.is_dir())?;
    shell.status(
        "Locked",
        format!(
            "{name} to {} ({})",
            short(&updated.new),
            describe(&updated.artifact)
        ),
    );
    Ok(0)
}

/// A relative local URL typed in another folder, made relative to nothing
/// (absolute) so the crate root can use it; anything else as typed.
fn url_for_crate(url: &str, root: &Path) -> String {
    let is_local_relative =
        !url.contains("://") && !Path::new(url).is_absolute() && !looks_like_scp(url);
    if !is_local_relative {
        return url.to_string();
    }
    let Ok(cwd) = std::env::current_dir() else {
        return url.to_string();
    };
    let same = cwd.canonicalize().ok() == root.canonicalize().ok();
    if same {
        url.to_string()
    } else {
        let abs: PathBuf = cwd.join(url);
        abs.to_string_lossy().into_owned()
    }
}

/// `git@host:path`.
pub fn looks_like_scp(url: &str) -> bool {
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon < slash && colon > 1,
        (Some(colon), None) => colon > 1,
        _ => false,
    }
}

/// A dependency name from an output file name: its stem, lower-case, with
/// anything unusual turned into `-`.
pub fn default_name(out: &str) -> String {
    let file = out.rsplit('/').next().unwrap_or(out);
    let stem = match file.find('.') {
        Some(0) | None => file,
        Some(dot) => &file[..dot],
    };
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "data".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_files() {
        assert_eq!(default_name("models/classifier.onnx"), "classifier");
        assert_eq!(default_name("Data Set.tar.gz"), "data-set");
        assert_eq!(default_name(".hidden"), ".hidden".replace('.', "-"));
    }

    #[test]
    fn scp_urls() {
        assert!(looks_like_scp("git@github.com:acme/r.git"));
        assert!(!looks_like_scp("../registry"));
        assert!(!looks_like_scp("C:/x"));
    }
}
