//! `cargo dvc update [NAME...]`: resolve declarations again and rewrite
//! their locks, as `dvc update` does; `--rev` also pins the new revision in
//! `Cargo.toml`.
//!
//! Every dependency is resolved first; only then are `Cargo.toml` and the
//! locks written, together (a [`Batch`]): a failure anywhere writes
//! nothing. `--rev` pins what is named; without names it is refused unless
//! exactly one dependency is selected (as `cargo update --precise` needs a
//! package), so it never re-pins dependencies of other registries. An
//! update that moves only the commit, not the data, says so.

use clap::Args;

use crate::cli::args::{ManifestPath, PackageSelection};
use crate::cli::context::Context;
use crate::cli::json::{self, DependencyUpdate, UpdateReport};
use crate::cli::manifest_edit;
use crate::cli::workspace;
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
    /// Print what changed as JSON (one line, format version 1) on stdout.
    #[arg(long)]
    pub json: bool,
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
    if ctx.net().is_offline() {
        return Err(Error::new(
            ErrorKind::Offline,
            "`update` looks for new revisions, which needs the network, but offline mode is on",
        )
        .with_help("run without `--offline` / `--frozen` (and with CARGO_NET_OFFLINE unset)"));
    }
    let shell = ctx.shell();
    let packages = ctx.packages(&args.packages, &args.manifest)?;
    let many = packages.len() > 1;
    let rev = args.rev.as_deref();
    let selected = workspace::select_deps(&packages, &args.names)?;
    let count: usize = selected.iter().map(|(_, deps)| deps.len()).sum();
    if let Some(rev) = rev
        && args.names.is_empty()
        && count != 1
    {
        let names: Vec<String> = selected
            .iter()
            .flat_map(|(p, deps)| deps.iter().map(|d| format!("`{}`", label(p, d, many))))
            .collect();
        return Err(Error::new(
            ErrorKind::Manifest,
            format!(
                "`--rev {rev}` pins one dependency, but {count} are selected{}",
                if names.is_empty() {
                    String::new()
                } else {
                    format!(": {}", names.join(", "))
                }
            ),
        )
        .with_help(format!(
            "name the one(s) to pin: `cargo dvc update NAME --rev {rev}`"
        )));
    }
    let mut report = Vec::new();
    // Resolve everything first: a failure here writes nothing.
    let mut lines = Vec::new();
    let mut roots = Vec::with_capacity(packages.len());
    let mut writes: Vec<(Folder, std::path::PathBuf, String)> = Vec::new();
    for (package, deps) in &selected {
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
        for dep in deps {
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
            let data_changed = updated
                .old
                .as_ref()
                .is_none_or(|old| old.out().md5 != updated.new.out().md5);
            let pin = |stage: &crate::format::stage::LockStage| match stage {
                crate::format::stage::LockStage::Import(s) => s.repo.rev_lock.clone(),
                crate::format::stage::LockStage::ImportUrl(_) => None,
            };
            report.push(DependencyUpdate {
                package: package.manifest.package.clone(),
                name: dep.name.clone(),
                lock_path: dep.lock_path().to_string_lossy().into_owned(),
                rev_before: declared.flatten().map(str::to_string),
                rev_after: match declared {
                    Some(declared) => rev.or(declared).map(str::to_string),
                    None => None,
                },
                rev_lock_before: updated.old.as_ref().and_then(pin),
                rev_lock_after: pin(&updated.new),
                md5_before: updated
                    .old
                    .as_ref()
                    .and_then(|o| o.out().md5.map(|m| m.to_hex())),
                // The hash of the data fetched (also what the new lock records).
                md5_after: updated.artifact.md5().to_hex(),
                changed: updated.changed,
                data_changed,
                written: updated.changed && !args.dry_run,
            });
            let commits = if updated.changed && !data_changed {
                format!("{commits}, same data")
            } else {
                commits
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
    let changed = lines.iter().filter(|l| l.0).count();
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
    if changed == 0 {
        let what = match count {
            0 => "no data dependencies declared".to_string(),
            1 => "the lock is up to date".to_string(),
            n => format!("all {n} locks are up to date"),
        };
        shell.status("Fresh", what);
    }
    if args.json {
        shell.print_stdout(json::to_line(&UpdateReport {
            version: json::FORMAT_VERSION,
            dry_run: args.dry_run,
            updates: report,
        }));
    }
    Ok(0)
}
