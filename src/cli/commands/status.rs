//! `cargo dvc status [NAME...]`: each dependency's lock (fresh, stale,
//! missing), cache and update state, as an aligned table or as JSON
//! (format version 1, see [`crate::cli::json`]). Writes nothing.
//!
//! "Update available" means the data changed: when `rev` has moved to a
//! commit where `path` has the same hash, the update is reported as "new
//! commit, same data". A declaration that cannot be resolved (unknown `rev`,
//! `path` not in the registry, unreachable `url`) is an error, reported with
//! the others and ending in exit status 101.
//!
//! Read only: the cache is inspected without repairing it (a corrupt
//! object is reported, not removed), and `out` in the crate is compared
//! with the lock (`modified`, as `dvc status` says).

use clap::Args;

use crate::cli::args::{ManifestPath, PackageSelection};
use crate::cli::context::Context;
use crate::cli::json::{
    self, ArtifactKind, DependencyStatus, ImportKind, LockStatus, StatusReport, UpdateStatus,
    WorkspaceStatus,
};
use crate::cli::workspace::{self, Package};
use crate::confined::Dir;
use crate::engine::SourceState;
use crate::error::{Error, ErrorKind, Result};
use crate::format::stage::{ImportStage, ImportUrlStage, LockStage};
use crate::git::CommitId;
use crate::lock::{self, LockState};
use crate::manifest::{Dependency, Import, RegistryImport};
use crate::materialize::{self, Expected, State};
use std::path::Path;

use super::label;

/// `cargo dvc status`'s arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
States: LOCK is fresh (matches Cargo.toml), stale (Cargo.toml changed since;
the next build rewrites it), missing (the next build writes it) or invalid.
UPDATE is `up to date`, `available` (the data at `rev` changed), `new commit,
same data`, or unknown (offline, no lock).

DATA is cached, not cached, or corrupt (a cached object no longer matches its
hash: reported here, replaced by the next fetch, pull or build). OUT is what
is at `out` in the crate: - (nothing), pulled, modified, or ? (unknown).

Exit status: 0; 101 on an error (a declaration that cannot be resolved); with
--exit-code, 1 when a lock is not fresh, an update is available, the output
is modified or a cached object corrupt.")]
pub struct StatusArgs {
    /// Dependencies to show [default: all].
    pub names: Vec<String>,
    /// Print JSON (one line, format version 1) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The JSON format version.
    #[arg(long, value_name = "VERSION", requires = "json", value_parser = ["1"])]
    pub format_version: Option<String>,
    /// Exit with 1 when a lock is not fresh or an update is available.
    #[arg(long)]
    pub exit_code: bool,
    /// Package selection.
    #[command(flatten)]
    pub packages: PackageSelection,
    /// Manifest options.
    #[command(flatten)]
    pub manifest: ManifestPath,
}

/// Runs `cargo dvc status`.
pub fn exec(ctx: &Context, args: StatusArgs) -> Result<i32> {
    let shell = ctx.shell();
    let packages = ctx.packages(&args.packages, &args.manifest)?;
    let many = packages.len() > 1;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (package, deps) in workspace::select_deps(&packages, &args.names)? {
        for dep in deps {
            let (row, error) = dep_status(ctx, package, dep)?;
            if let Some(e) = error {
                errors.push(e.with_dependency(label(package, dep, many)));
            }
            rows.push((label(package, dep, many), row));
        }
    }
    if args.json {
        let report = StatusReport {
            version: json::FORMAT_VERSION,
            dependencies: rows.iter().map(|(_, r)| r.clone()).collect(),
        };
        shell.print_stdout(json::to_line(&report));
    } else if rows.is_empty() {
        shell.status("Status", "no data dependencies declared");
    } else {
        print_table(ctx, &rows);
    }
    for e in &errors {
        shell.error(format_args!("{e:?}"));
    }
    if !errors.is_empty() {
        return Ok(crate::cli::ERROR);
    }
    let attention = rows.iter().any(|(_, r)| {
        r.lock != LockStatus::Fresh
            || r.update_available == Some(true)
            || r.workspace == WorkspaceStatus::Modified
            || !r.corrupt.is_empty()
    });
    Ok(if args.exit_code && attention { 1 } else { 0 })
}

/// The status of one dependency, and the error that broke it, if any.
fn dep_status(
    ctx: &Context,
    package: &Package,
    dep: &Dependency,
) -> Result<(DependencyStatus, Option<Error>)> {
    let engine = ctx.engine()?;
    let (lock, lock_reason, stage) = match lock::read(&package.root, dep) {
        Ok(LockState::Missing) => (LockStatus::Missing, None, None),
        Ok(LockState::Fresh(l)) => (LockStatus::Fresh, None, Some(l.stage)),
        Ok(LockState::Stale { lock, reason }) => {
            (LockStatus::Stale, Some(reason), Some(lock.stage))
        }
        Err(e) => (LockStatus::Invalid, Some(e.message_with_causes()), None),
    };
    // Read only: a corrupt cache object is reported, not removed.
    let inspection = match &stage {
        Some(s) => Some(engine.inspect(&lock::source_base(&package.root, dep), s)?),
        None => None,
    };
    let cached = inspection.as_ref().is_some_and(|i| i.artifact.is_some());
    let corrupt = inspection
        .as_ref()
        .map(|i| i.corrupt.iter().map(|p| p.display().to_string()).collect())
        .unwrap_or_default();
    let (workspace, workspace_changes) = workspace_state(
        engine,
        package,
        dep,
        inspection.as_ref().and_then(|i| i.expected.as_ref()),
    );
    let registry = match &dep.import {
        Import::Registry(r) => Some(r),
        Import::Url(_) => None,
    };
    let mut row = DependencyStatus {
        package: package.manifest.package.clone(),
        name: dep.name.clone(),
        url: crate::redact::strip_userinfo(dep.url()),
        source: match &dep.import {
            Import::Registry(_) => ImportKind::Registry,
            Import::Url(_) => ImportKind::Url,
        },
        path: registry.map(|r| r.path.clone()),
        out: dep.out.clone(),
        lock_path: dep.lock_path().to_string_lossy().into_owned(),
        rev: registry.and_then(|r| r.rev.clone()),
        rev_lock: match &stage {
            Some(LockStage::Import(s)) => s.repo.rev_lock.clone(),
            _ => None,
        },
        md5: stage.as_ref().and_then(|s| s.out().md5).map(|m| m.to_hex()),
        size: stage.as_ref().and_then(|s| s.out().size),
        kind: stage.as_ref().map(|s| {
            if s.out().is_dir {
                ArtifactKind::Directory
            } else {
                ArtifactKind::File
            }
        }),
        sha256: dep.sha256().map(|s| s.to_string()),
        lock,
        lock_reason,
        cached,
        corrupt,
        workspace,
        workspace_changes,
        update: UpdateStatus::Unknown,
        latest: None,
        update_available: None,
        update_reason: None,
        error: None,
    };
    let checked = match (&dep.import, &stage) {
        (Import::Registry(decl), Some(LockStage::Import(s))) => {
            check_update(ctx, package, decl, Some(s), &mut row)
        }
        (Import::Registry(decl), _) => check_update(ctx, package, decl, None, &mut row),
        (Import::Url(_), Some(LockStage::ImportUrl(s))) => {
            check_source(ctx, package, dep, s, &mut row)
        }
        (Import::Url(_), _) => {
            row.update_reason = Some(match row.lock {
                LockStatus::Invalid => "the lock is invalid".to_string(),
                _ => "no lock yet".to_string(),
            });
            Ok(())
        }
    };
    let error = match checked {
        Ok(()) => None,
        Err(e) => {
            row.error = Some(e.message_with_causes());
            row.update_reason = Some("the declaration cannot be resolved".to_string());
            Some(e)
        }
    };
    row.update_available = match row.update {
        UpdateStatus::Available | UpdateStatus::SourceChanged => Some(true),
        UpdateStatus::UpToDate | UpdateStatus::NewCommitSameData => Some(false),
        UpdateStatus::Unknown => None,
    };
    Ok((row, error))
}

/// Fills `update` for a URL dependency: whether its source (asked with a
/// `HEAD`, a listing or a `stat`; nothing is downloaded) still holds the
/// version its lock pins.
fn check_source(
    ctx: &Context,
    package: &Package,
    dep: &Dependency,
    stage: &ImportUrlStage,
    row: &mut DependencyStatus,
) -> Result<()> {
    if ctx.net().is_offline() {
        row.update_reason = Some("offline".to_string());
        return Ok(());
    }
    let engine = ctx.engine()?;
    let base = lock::source_base(&package.root, dep);
    match engine.url_source_state(&base, stage)? {
        SourceState::Unchanged => row.update = UpdateStatus::UpToDate,
        SourceState::Changed { now } => {
            row.update = UpdateStatus::SourceChanged;
            row.latest = Some(now);
        }
        SourceState::Unknown => {
            row.update_reason = Some(
                "the server sends no ETag, Content-MD5 or Last-Modified: only a download \
                 (`cargo dvc update`) can tell"
                    .to_string(),
            );
        }
        SourceState::Gone => {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "`{}` does not exist any more",
                    crate::redact::url(&stage.dep.path)
                ),
            )
            .with_dependency(&dep.name));
        }
    }
    Ok(())
}

/// What is at `dep`'s `out` in the crate, compared with `expected` (what
/// its lock names); reads only.
fn workspace_state(
    engine: &crate::engine::Engine,
    package: &Package,
    dep: &Dependency,
    expected: Option<&Expected>,
) -> (WorkspaceStatus, Vec<String>) {
    let rel = Path::new(&dep.out);
    let looked = Dir::open_root(&package.root).and_then(|root| match expected {
        Some(expected) => materialize::state(engine.cache(), expected, &root, rel).map(Some),
        None => {
            // Without a listing, only "is anything there" can be told.
            let there = match root.parent_of(rel, false)? {
                Some((dir, name)) => dir.stat(&name)?.is_some(),
                None => false,
            };
            Ok((!there).then_some(State::Missing))
        }
    });
    match looked {
        Ok(Some(State::Missing)) => (WorkspaceStatus::Absent, Vec::new()),
        Ok(Some(State::UpToDate)) => (WorkspaceStatus::UpToDate, Vec::new()),
        Ok(Some(State::Modified(paths))) => (
            WorkspaceStatus::Modified,
            paths
                .iter()
                .map(|p| {
                    p.strip_prefix(&package.root)
                        .unwrap_or(p)
                        .display()
                        .to_string()
                })
                .collect(),
        ),
        Ok(None) | Err(_) => (WorkspaceStatus::Unknown, Vec::new()),
    }
}

/// Fills `update` and `latest`: where `rev` points now, and whether the data
/// there differs from the lock's. Without a lock, the declaration is
/// resolved anyway, so a broken one is an error.
fn check_update(
    ctx: &Context,
    package: &Package,
    dep: &RegistryImport,
    stage: Option<&ImportStage>,
    row: &mut DependencyStatus,
) -> Result<()> {
    if ctx.net().is_offline() {
        row.update_reason = Some("offline".to_string());
        return Ok(());
    }
    let engine = ctx.engine()?;
    let repo = lock::repo_spec(dep);
    let locked = stage.and_then(|s| s.repo.rev_lock.as_deref().and_then(CommitId::parse));
    let Some((stage, locked)) = stage.zip(locked) else {
        // No usable lock: check the declaration resolves, nothing to compare.
        let probe = engine.probe(&package.root, &repo, &dep.path)?;
        row.latest = Some(probe.commit.as_str().to_string());
        row.update_reason = Some(match row.lock {
            LockStatus::Invalid => "the lock is invalid".to_string(),
            _ => "no lock yet".to_string(),
        });
        return Ok(());
    };
    let latest = engine.latest_commit(&package.root, &repo)?;
    row.latest = Some(latest.as_str().to_string());
    row.update = if latest == locked {
        UpdateStatus::UpToDate
    } else {
        let probe = engine.probe(&package.root, &repo, &dep.path)?;
        if probe.md5.is_some() && probe.md5 == stage.out.md5 {
            UpdateStatus::NewCommitSameData
        } else {
            UpdateStatus::Available
        }
    };
    Ok(())
}

/// The rows as an aligned table on stdout; why a lock is stale as notes.
fn print_table(ctx: &Context, rows: &[(String, DependencyStatus)]) {
    let short = |s: &Option<String>| {
        s.as_deref()
            .map(|c| c[..c.len().min(7)].to_string())
            .unwrap_or_else(|| "-".to_string())
    };
    let mut table = vec![[
        "NAME".to_string(),
        "REV".to_string(),
        "LOCKED".to_string(),
        "LOCK".to_string(),
        "DATA".to_string(),
        "OUT".to_string(),
        "UPDATE".to_string(),
    ]];
    for (name, r) in rows {
        let lock = match r.lock {
            LockStatus::Fresh => "fresh",
            LockStatus::Stale => "stale",
            LockStatus::Missing => "missing",
            LockStatus::Invalid => "invalid",
        };
        let update = match (&r.update, &r.error) {
            (_, Some(_)) => "error".to_string(),
            (UpdateStatus::UpToDate, _) => "up to date".to_string(),
            (UpdateStatus::Available, _) => format!("available ({})", short(&r.latest)),
            (UpdateStatus::SourceChanged, _) => "source changed".to_string(),
            (UpdateStatus::NewCommitSameData, _) => {
                format!("new commit, same data ({})", short(&r.latest))
            }
            (UpdateStatus::Unknown, _) => match &r.update_reason {
                Some(why) => format!("unknown ({why})"),
                None => "unknown".to_string(),
            },
        };
        table.push([
            name.clone(),
            r.rev.clone().unwrap_or_else(|| "-".to_string()),
            // A URL dependency's lock pins content, not a commit.
            match r.source {
                ImportKind::Registry => short(&r.rev_lock),
                ImportKind::Url => short(&r.md5),
            },
            lock.to_string(),
            if !r.corrupt.is_empty() {
                "corrupt"
            } else if r.cached {
                "cached"
            } else {
                "not cached"
            }
            .to_string(),
            match r.workspace {
                WorkspaceStatus::Absent => "-",
                WorkspaceStatus::UpToDate => "pulled",
                WorkspaceStatus::Modified => "modified",
                WorkspaceStatus::Unknown => "?",
            }
            .to_string(),
            update,
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let shell = ctx.shell();
    for row in &table {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        shell.print_stdout(line);
    }
    for (name, r) in rows {
        match (r.lock, &r.lock_reason) {
            (LockStatus::Stale, Some(reason)) => shell.note(format!(
                "`{name}`: the lock is stale: {reason}; the next build rewrites it (or run `cargo dvc update {}`)",
                r.name
            )),
            (LockStatus::Invalid, Some(reason)) => shell.warn(format!(
                "`{name}`: the lock `{}` is invalid: {reason}",
                r.lock_path
            )),
            _ => {}
        }
        if r.workspace == WorkspaceStatus::Modified {
            shell.note(format!(
                "`{name}`: `{}` differs from the lock: {}; `cargo dvc pull` keeps it unless `--force`",
                r.out,
                r.workspace_changes.join(", ")
            ));
        }
        for path in &r.corrupt {
            shell.warn(format!(
                "`{name}`: the cached object `{path}` no longer matches its hash; the next fetch, pull or build replaces it"
            ));
        }
    }
}
