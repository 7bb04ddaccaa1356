//! `cargo dvc fetch [NAME...]`: bring every locked artifact into the cache
//! (writing a missing or stale lock first, as a build would), so that
//! offline builds find it.

use clap::Args;

use crate::cli::args::{ManifestPath, PackageSelection};
use crate::cli::context::Context;
use crate::cli::workspace::Package;
use crate::error::Result;
use crate::manifest::Dependency;
use crate::project::{self, LockAction, Synced};

use super::{describe, label, short};

/// `cargo dvc fetch`'s arguments.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Dependencies to fetch [default: all].
    pub names: Vec<String>,
    /// Package selection.
    #[command(flatten)]
    pub packages: PackageSelection,
    /// Manifest options.
    #[command(flatten)]
    pub manifest: ManifestPath,
}

/// Runs `cargo dvc fetch`.
pub fn exec(ctx: &Context, args: FetchArgs) -> Result<i32> {
    let packages = ctx.packages(&args.packages, &args.manifest)?;
    let many = packages.len() > 1;
    for package in &packages {
        for dep in package.deps(&args.names)? {
            let name = label(package, dep, many);
            let synced = sync(ctx, package, dep, &name)?;
            ctx.shell().detail(
                "Fetched",
                format!("{name} ({})", describe(&synced.artifact)),
            );
        }
    }
    Ok(0)
}

/// Makes sure `dep`'s lock is current (writing it unless locked) and its
/// artifact is in the cache, reporting a written lock; shared with `pull`.
pub fn sync(ctx: &Context, package: &Package, dep: &Dependency, name: &str) -> Result<Synced> {
    let shell = ctx.shell();
    let engine = ctx.engine()?;
    let bar = shell.progress(name);
    let synced = project::sync(engine, &package.root, dep, ctx.mode());
    drop(bar);
    let synced = synced?;
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
    Ok(synced)
}
