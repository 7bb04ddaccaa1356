//! `cargo dvc check`: fail unless every lock agrees with its declaration
//! (for CI). Writes nothing and uses no network.

use clap::Args;

use crate::cli::args::{ManifestPath, PackageSelection};
use crate::cli::context::Context;
use crate::error::{Error, ErrorKind, Result};
use crate::lock::{self, LockState};

use super::label;

/// `cargo dvc check`'s arguments.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Package selection.
    #[command(flatten)]
    pub packages: PackageSelection,
    /// Manifest options.
    #[command(flatten)]
    pub manifest: ManifestPath,
}

/// Runs `cargo dvc check`.
pub fn exec(ctx: &Context, args: CheckArgs) -> Result<i32> {
    let shell = ctx.shell();
    let packages = ctx.packages(&args.packages, &args.manifest)?;
    let many = packages.len() > 1;
    let mut bad = 0;
    for package in &packages {
        for dep in &package.manifest.deps {
            let name = label(package, dep, many);
            match lock::read(&package.root, dep) {
                Ok(LockState::Fresh(_)) => shell.detail("Ok", &name),
                Ok(LockState::Missing) => {
                    bad += 1;
                    shell.error(
                        Error::new(
                            ErrorKind::Locked,
                            format!("the lock `{}` is missing", dep.lock_path().display()),
                        )
                        .with_dependency(&name)
                        .with_help(format!("run `cargo dvc update {}` and commit it", dep.name)),
                    );
                }
                Ok(LockState::Stale { reason, .. }) => {
                    bad += 1;
                    shell.error(
                        Error::new(ErrorKind::Locked, format!("the lock is stale: {reason}"))
                            .with_dependency(&name)
                            .with_help(format!(
                                "run `cargo dvc update {}` and commit the lock",
                                dep.name
                            )),
                    );
                }
                Err(e) => {
                    bad += 1;
                    shell.error(format_args!("{e:?}"));
                }
            }
        }
    }
    if bad == 0 {
        shell.status("Checked", "every lock agrees with its declaration");
        Ok(0)
    } else {
        Ok(crate::cli::FAILURE)
    }
}
