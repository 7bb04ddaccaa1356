//! `cargo dvc fetch [NAME...]`: bring every locked artifact into the cache
//! (writing a missing or stale lock first, as a build would), so that
//! offline builds find it. Says what it downloaded (`Downloading`,
//! `Fetched` with sizes), and one `Fresh` line when everything was cached.

use std::time::Instant;

use clap::Args;

use crate::cli::args::{ManifestPath, PackageSelection};
use crate::cli::context::Context;
use crate::cli::json::{self, ArtifactKind, DependencyFetch, FetchReport, LockWrite};
use crate::cli::workspace::{self, Package};
use crate::error::Result;
use crate::lock::{self, LockState};
use crate::manifest::Dependency;
use crate::project::{self, LockAction, Synced};

use super::{describe, human_size, label, short};

/// `cargo dvc fetch`'s arguments.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Dependencies to fetch [default: all].
    pub names: Vec<String>,
    /// Print what was fetched as JSON (one line, format version 1) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Package selection.
    #[command(flatten)]
    pub packages: PackageSelection,
    /// Manifest options.
    #[command(flatten)]
    pub manifest: ManifestPath,
}

/// Runs `cargo dvc fetch`.
pub fn exec(ctx: &Context, args: FetchArgs) -> Result<i32> {
    let shell = ctx.shell();
    let packages = ctx.packages(&args.packages, &args.manifest)?;
    let many = packages.len() > 1;
    let mut report = Vec::new();
    let mut total = 0;
    for (package, deps) in workspace::select_deps(&packages, &args.names)? {
        for dep in deps {
            total += 1;
            let name = label(package, dep, many);
            let fetched = sync(ctx, package, dep, &name)?;
            let artifact = &fetched.synced.artifact;
            report.push(DependencyFetch {
                package: package.manifest.package.clone(),
                name: dep.name.clone(),
                md5: artifact.md5().to_hex(),
                size: size_of(artifact),
                kind: if artifact.is_dir() {
                    ArtifactKind::Directory
                } else {
                    ArtifactKind::File
                },
                downloaded: fetched.downloaded,
                lock: match fetched.synced.action {
                    LockAction::Used => LockWrite::Used,
                    LockAction::Created => LockWrite::Created,
                    LockAction::Replaced { .. } => LockWrite::Replaced,
                },
            });
        }
    }
    if !report.iter().any(|r| r.downloaded) {
        shell.status(
            "Fresh",
            match total {
                0 => "no data dependencies declared".to_string(),
                1 => "the artifact is in the cache".to_string(),
                n => format!("all {n} artifacts are in the cache"),
            },
        );
    }
    if args.json {
        shell.print_stdout(json::to_line(&FetchReport {
            version: json::FORMAT_VERSION,
            fetched: report,
        }));
    }
    Ok(0)
}

/// What [`sync`] did.
pub struct Fetched {
    /// The lock and the artifact.
    pub synced: Synced,
    /// Whether bytes came from a remote (`false`: all were in the cache).
    pub downloaded: bool,
}

/// Makes sure `dep`'s lock is current (writing it unless locked) and its
/// artifact is in the cache, saying so as cargo would: `Downloading` when a
/// locked artifact is not cached, `Fetched` with its size once downloaded,
/// `Fresh` (with `-v`) when it was there, `Locked`/`Relocked` when a lock
/// was written. Shared with `pull`.
pub fn sync(ctx: &Context, package: &Package, dep: &Dependency, name: &str) -> Result<Fetched> {
    let shell = ctx.shell();
    let engine = ctx.engine()?;
    // A fresh lock names what to download: say so before the wait.
    if let Ok(LockState::Fresh(lock)) = lock::read(&package.root, dep)
        && !engine.looks_cached(lock.stage.out())?
    {
        let size = lock
            .stage
            .out()
            .size
            .map(|s| format!(" ({})", human_size(s)))
            .unwrap_or_default();
        shell.status("Downloading", format!("{name}{size}"));
    }
    let before = ctx.received();
    let started = Instant::now();
    let bar = shell.progress(name);
    let synced = project::sync(engine, &package.root, dep, ctx.mode());
    drop(bar);
    let synced = synced?;
    let downloaded = ctx.received() > before;
    match &synced.action {
        LockAction::Used => {}
        LockAction::Created => {
            shell.status("Locked", format!("{name} to {}", short(&synced.stage)))
        }
        LockAction::Replaced { reason } => shell.status(
            "Relocked",
            format!("{name} to {} ({reason})", short(&synced.stage)),
        ),
    }
    if downloaded {
        shell.status(
            "Fetched",
            format!(
                "{name} ({}) in {:.1}s",
                describe(&synced.artifact),
                started.elapsed().as_secs_f64()
            ),
        );
    } else {
        shell.detail("Fresh", format!("{name} ({})", describe(&synced.artifact)));
    }
    Ok(Fetched { synced, downloaded })
}

/// The artifact's size in bytes (a directory: all its files).
fn size_of(artifact: &crate::engine::Artifact) -> u64 {
    match artifact {
        crate::engine::Artifact::File(f) => f.size,
        crate::engine::Artifact::Dir { size, .. } => *size,
    }
}
