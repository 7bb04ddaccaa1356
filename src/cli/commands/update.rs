//! `cargo dvc update [NAME...]`: resolve declarations again and rewrite
//! their locks, as `dvc update` does; `--rev` also pins the new revision in
//! `Cargo.toml`.

use clap::Args;

use crate::cli::args::{ManifestPath, PackageSelection};
use crate::cli::context::Context;
use crate::cli::manifest_edit;
use crate::error::{Error, ErrorKind, Result};
use crate::lock;
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
    for package in &packages {
        for dep in package.deps(&args.names)? {
            let name = label(package, dep, many);
            // Resolve first; write Cargo.toml, then the lock, only once
            // everything is known, so a failure changes nothing.
            let engine = ctx.engine()?;
            let bar = shell.progress(&name);
            let updated = project::update(engine, &package.root, dep, rev, true)?;
            drop(bar);
            if !args.dry_run {
                let declared = match &dep.import {
                    Import::Registry(r) => r.rev.as_deref(),
                    Import::Url(_) => None,
                };
                if let Some(rev) = rev.filter(|r| declared != Some(*r)) {
                    let text = std::fs::read_to_string(&package.manifest_path)
                        .map_err(|e| Error::io("read", &package.manifest_path, e))?;
                    let edited = manifest_edit::set_rev(&text, &dep.name, rev)?;
                    lock::write_atomic(&package.manifest_path, edited.as_bytes())?;
                }
                if updated.changed {
                    lock::write(&package.root, dep, &updated.text)?;
                }
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
            if updated.changed {
                let verb = if args.dry_run {
                    "Would update"
                } else {
                    "Updating"
                };
                shell.status(verb, format!("{name}{revs} ({commits})"));
            } else {
                shell.detail("Unchanged", format!("{name} ({})", short(&updated.new)));
            }
        }
    }
    Ok(0)
}
