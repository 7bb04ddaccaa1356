//! `cargo dvc import URL PATH`: declare a data dependency in `Cargo.toml`
//! and write its lock, as `dvc import` writes its stage.
//!
//! As `dvc import`: `-o DIR` naming an existing folder (or ending in `/`)
//! means inside it; an output that already exists is refused unless
//! `--force` (which then replaces it with the artifact), one git tracks is
//! refused even then, and one in a symlinked folder always. `Cargo.toml`,
//! the lock and the `.gitignore` entry are written together or not at all.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::args::{ManifestPath, OnePackage};
use crate::cli::context::Context;
use crate::cli::dvc_project;
use crate::cli::manifest_edit;
use crate::confined::{Batch, Dir};
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::Manifest;
use crate::materialize::{Existing, Options};
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
    /// Replace a file or folder already at OUT with the artifact, as
    /// `dvc import --force` (one git tracks is refused even so).
    #[arg(short, long)]
    pub force: bool,
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
    let root = Dir::open_root(&package.root)?;
    let out_value = match args.out.as_deref() {
        Some(out) => Some(out_inside_folders(&root, out, default_out)?),
        None => None,
    };
    let out_value = out_value.as_deref();
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
    let rel = Path::new(&dep.out);
    let lock_rel = dep.lock_path();
    // Everything that would stop the import, before any download or write.
    root.check_writable(rel)?;
    root.check_writable(&lock_rel)?;
    let existing = match root.parent_of(rel, false)? {
        Some((dir, file)) => dir.stat(&file)?,
        None => None,
    };
    if existing.is_some() && !args.force {
        let what = if existing.is_some_and(|m| m.is_dir()) {
            "folder"
        } else {
            "file"
        };
        return Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "the {what} `{}` already exists in the crate",
                package.root.join(rel).display()
            ),
        )
        .with_dependency(&name)
        .with_help(
            "choose another `-o`, or run again with `--force` to replace it with the artifact (as `dvc import --force` does)",
        ));
    }
    let tracked = dvc_project::tracked_by_git(&package.root, rel);
    if !tracked.is_empty() {
        return Err(dvc_project::tracked_error(&tracked)
            .with_dependency(&name)
            .with_help(format!(
                "an output is ignored by git, so git may not track it: choose another `-o`, or stop tracking it first (`git rm -r --cached {}` and commit)",
                dep.out
            )));
    }
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
    let updated = project::update(engine, &package.root, dep, None, true)?;
    drop(bar);
    // The lock, Cargo.toml and the .gitignore entry: all or none.
    let manifest_root = match package.manifest_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => Dir::open_root(p)?,
        _ => Dir::open_root(Path::new("."))?,
    };
    let manifest_name = package
        .manifest_path
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("Cargo.toml"));
    let ignore = dvc_project::gitignore_edit(&root, rel, updated.artifact.is_dir())?;
    let mut batch = Batch::new();
    batch.write(&root, lock_rel, updated.text.clone());
    batch.write(&manifest_root, manifest_name, edited.clone());
    if let Some((file, text)) = ignore {
        batch.write(&root, file, text);
    }
    batch.commit().map_err(|e| e.with_dependency(&name))?;
    if existing.is_some() {
        // --force: the artifact replaces what was there, as with dvc.
        let link = dvc_project::project_wants_links(&package.root);
        engine
            .place(
                &updated.artifact,
                &root,
                rel,
                Options::workspace(link, true, Existing::Replace),
            )
            .map_err(|e| e.with_dependency(&name))?;
        shell.warn(format!(
            "replaced `{}` with the artifact (--force)",
            package.root.join(rel).display()
        ));
    }
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

/// The `out` that `-o OUT` means: inside OUT when it names an existing
/// folder of the crate or ends in `/` (`OUT/<last component of PATH>`, as
/// `dvc import -o DIR` places it), else OUT. A symlinked folder on the way
/// is refused.
pub(super) fn out_inside_folders(root: &Dir, out: &str, default_out: &str) -> Result<String> {
    let trimmed = out.trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        return Ok(default_out.to_string());
    }
    let is_folder = match root.open_dir(Path::new(trimmed), false) {
        Ok(found) => found.is_some(),
        Err(e) if e.kind() == ErrorKind::Symlink => return Err(e),
        // Not a plain relative path, or a file there: the manifest's
        // validation and the existence check say what is wrong.
        Err(_) => false,
    };
    if is_folder || out.ends_with('/') {
        Ok(format!("{trimmed}/{default_out}"))
    } else {
        Ok(trimmed.to_string())
    }
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
/// anything but ASCII letters, digits, `-` and `_` turned into `-`, and
/// `data-` in front when it would not start with a letter (a name must make
/// a Rust identifier).
pub fn default_name(out: &str) -> String {
    let file = out.rsplit('/').next().unwrap_or(out);
    let stem = match file.find('.') {
        Some(0) | None => file,
        Some(dot) => &file[..dot],
    };
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        format!("data-{name}").trim_end_matches('-').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_files() {
        assert_eq!(default_name("models/classifier.onnx"), "classifier");
        assert_eq!(default_name("Data Set.tar.gz"), "data-set");
        assert_eq!(default_name(".hidden"), "data--hidden");
        assert_eq!(default_name("1st.bin"), "data-1st");
        assert_eq!(default_name("modèle.onnx"), "mod-le");
        assert_eq!(default_name("_"), "data-_");
    }

    #[test]
    fn scp_urls() {
        assert!(looks_like_scp("git@github.com:acme/r.git"));
        assert!(!looks_like_scp("../registry"));
        assert!(!looks_like_scp("C:/x"));
    }
}
