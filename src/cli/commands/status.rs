//! `cargo dvc status`: each dependency's lock, cache and update state.

use clap::Args;

use crate::cli::args::{ManifestPath, PackageSelection};
use crate::cli::context::Context;
use crate::cli::workspace::Package;
use crate::error::Result;
use crate::lock::{self, LockState};
use crate::manifest::Dependency;

/// `cargo dvc status`'s arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Package selection.
    #[command(flatten)]
    pub packages: PackageSelection,
    /// Manifest options.
    #[command(flatten)]
    pub manifest: ManifestPath,
}

/// Runs `cargo dvc status`.
pub fn exec(ctx: &Context, args: StatusArgs) -> Result<i32> {
    let mut rows = Vec::new();
    for package in ctx.packages(&args.packages, &args.manifest)? {
        for dep in &package.manifest.deps {
            rows.push(dep_status(ctx, &package, dep)?);
        }
    }
    let shell = ctx.shell();
    if args.json {
        let value = serde_json::Value::Array(rows.iter().map(StatusRow::to_json).collect());
        shell.print_stdout(format_args!("{value:#}"));
    } else if rows.is_empty() {
        shell.status("Status", "no data dependencies declared");
    } else {
        for row in &rows {
            shell.print_stdout(row.to_line());
        }
    }
    Ok(0)
}

fn dep_status(ctx: &Context, package: &Package, dep: &Dependency) -> Result<StatusRow> {
    let engine = ctx.engine()?;
    let state = lock::read(&package.root, dep)?;
    let (lock_state, stage) = match &state {
        LockState::Missing => ("missing".to_string(), None),
        LockState::Fresh(l) => ("locked".to_string(), Some(&l.stage)),
        LockState::Stale { lock, reason } => (format!("stale: {reason}"), Some(&lock.stage)),
    };
    let cached = match stage {
        Some(s) => engine.cached(s)?.is_some(),
        None => false,
    };
    let latest = if engine.net().is_offline() {
        None
    } else {
        engine
            .database(&dep.url, &package.root)
            .and_then(|db| db.ls_remote(dep.rev.as_deref(), engine.net()))
            .ok()
            .flatten()
    };
    let rev_lock = stage.and_then(|s| s.repo.rev_lock.clone());
    let update_available = match (&latest, &rev_lock) {
        (Some(latest), Some(locked)) => Some(latest.as_str() != locked),
        _ => None,
    };
    Ok(StatusRow {
        package: package.manifest.package.clone(),
        name: dep.name.clone(),
        rev: dep.rev.clone(),
        rev_lock,
        lock: lock_state,
        cached,
        latest: latest.map(|c| c.as_str().to_string()),
        update_available,
    })
}

/// One line of `cargo dvc status`.
struct StatusRow {
    package: String,
    name: String,
    rev: Option<String>,
    rev_lock: Option<String>,
    lock: String,
    cached: bool,
    latest: Option<String>,
    update_available: Option<bool>,
}

impl StatusRow {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "package": self.package,
            "name": self.name,
            "rev": self.rev,
            "rev_lock": self.rev_lock,
            "lock": self.lock,
            "cached": self.cached,
            "latest": self.latest,
            "update_available": self.update_available,
        })
    }

    fn to_line(&self) -> String {
        let at = match (&self.rev, &self.rev_lock) {
            (Some(rev), Some(lock)) => format!("{rev} ({})", &lock[..lock.len().min(7)]),
            (None, Some(lock)) => lock[..lock.len().min(7)].to_string(),
            _ => "-".to_string(),
        };
        let cached = if self.cached { "cached" } else { "not cached" };
        let update = match self.update_available {
            Some(true) => format!(
                ", update available ({})",
                self.latest
                    .as_deref()
                    .map(|l| &l[..l.len().min(7)])
                    .unwrap_or("")
            ),
            Some(false) => ", up to date".to_string(),
            None => String::new(),
        };
        format!("{}: {at}, {}, {cached}{update}", self.name, self.lock)
    }
}
