//! `cargo dvc update [NAME...]`: resolve declarations again and rewrite
//! their locks, as `dvc update` does; `--rev` also pins the new revision in
//! `Cargo.toml`.
//!
//! Every dependency is resolved first; only then are `Cargo.toml` and the
//! locks written, together (a [`Batch`]): a failure anywhere writes
//! nothing.

use clap::Args;

use crate::cli::args::{ManifestPath, PackageSelection};
use crate::cli::context::Context;
use crate::cli::manifest_edit;
use crate::confined::{Batch, Dir};
use crate::error::{Error, ErrorKind, Result};
use crate::project::{self, LockMode};

use super::{label, lock_rev, short};
use crate::manifest::Import;

/// `cargo dvc update`'s arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
    cargo dvc update                        move every lock to its rev's newest commit
    cargo dvc update classifier --rev v2    pin v2 (written to Cargo.toml too)
    cargo dvc update --dry-run              say what would change")]
pub struct UpdateArgs {
    /// Dependencies to update [default: all].
    pub names: Vec<String>,
    /// Pin this branch, tag or commit (also written to Cargo.toml).
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// Say what would change without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Package selection.
    #[command(flatten)]
    pub packages: PackageSelection,
    /// Manifest options.
    #[command(flatten)]
    pub manifest: ManifestPath,
}

/// Where a file of the update is written: the crate root of package `i`
/// (a lock), or the folder of its `Cargo.toml`.
enum Folder {
    Crate(usize),
    Manifest(usize),
}

/// Runs `cargo dvc update`.
pub fn exec(ctx: &Context, args: UpdateArgs) -> Result<i32> {
    if ctx.mode() == LockMode::Locked && !args.dry_run {
        return Err(Error::new(
            ErrorKind::Locked,
            "`update` writes locks, and --locked / DVC_BUILD_LOCKED forbids it",
        )
        .with_help("use `--dry-run` to see what would change"));
    }
    let shell = ctx.shell();
    let packages = ctx.packages(&args.packages, &args.manifest)?;
    let many = packages.len() > 1;
    let rev = args.rev.as_deref();
    // Resolve everything first: a failure here writes nothing.
    let mut lines = Vec::new();
    let mut roots = Vec::with_capacity(packages.len());
    let mut writes: Vec<(Folder, std::path::PathBuf, String)> = Vec::new();
    for package in &packages {
        let index = roots.len();
        roots.push((
            Dir::open_root(&package.root)?,
            package
                .manifest_path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Dir::open_root)
                .transpose()?,
        ));
        let mut manifest_text: Option<String> = None;
        for dep in package.deps(&args.names)? {
            let name = label(package, dep, many);
            let engine = ctx.engine()?;
            if rev.is_some() && matches!(dep.import, Import::Url(_)) {
                shell.warn(format!(
                    "`{name}` is a URL dependency: --rev applies to registry imports and is ignored for it"
                ));
            }
            let bar = shell.progress(&name);
            let updated = project::update(engine, &package.root, dep, rev, true)?;
            drop(bar);
            // Only a registry import has a `rev` to write.
            let declared = match &dep.import {
                Import::Registry(r) => Some(r.rev.as_deref()),
                Import::Url(_) => None,
            };
            if let Some(declared) = declared
                && let Some(rev) = rev.filter(|r| declared != Some(*r))
            {
                let text = match manifest_text.take() {
                    Some(text) => text,
                    None => std::fs::read_to_string(&package.manifest_path)
                        .map_err(|e| Error::io("read", &package.manifest_path, e))?,
                };
                manifest_text = Some(manifest_edit::set_rev(&text, &dep.name, rev)?);
            }
            if updated.changed {
                writes.push((Folder::Crate(index), dep.lock_path(), updated.text.clone()));
            }
            let old_rev = updated.old.as_ref().and_then(lock_rev);
            let new_rev = lock_rev(&updated.new);
            let revs = match (&old_rev, &new_rev) {
                (Some(a), Some(b)) if a != b => format!(" {a} -> {b}"),
                (None, Some(b)) => format!(" -> {b}"),
                _ => String::new(),
            };
            let commits = match &updated.old {
                Some(old) => format!("{} -> {}", short(old), short(&updated.new)),
                None => short(&updated.new),
            };
            let is_url = matches!(dep.import, Import::Url(_));
            lines.push((
                updated.changed,
                is_url,
                name,
                revs,
                commits,
                short(&updated.new),
            ));
        }
        if let Some(text) = manifest_text {
            let file = package
                .manifest_path
                .file_name()
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| "Cargo.toml".into());
            writes.push((Folder::Manifest(index), file, text));
        }
    }
    if !args.dry_run {
        // Then write everything, or (should one write fail) nothing.
        let mut batch = Batch::new();
        for (folder, rel, text) in writes {
            let root = match folder {
                Folder::Crate(i) => &roots[i].0,
                Folder::Manifest(i) => roots[i].1.as_ref().unwrap_or(&roots[i].0),
            };
            batch.write(root, rel, text);
        }
        batch.commit()?;
    }
    for (changed, is_url, name, revs, commits, new) in lines {
        if changed {
            let verb = if args.dry_run {
                "Would update"
            } else {
                "Updating"
            };
            shell.status(verb, format!("{name}{revs} ({commits})"));
        } else if is_url {
            // As `dvc update` says "didn't change, skipping".
            shell.status("Unchanged", format!("{name} (the source still has {new})"));
        } else {
            shell.detail("Unchanged", format!("{name} ({new})"));
        }
    }
    Ok(0)
}
