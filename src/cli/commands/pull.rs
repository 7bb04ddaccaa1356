//! `cargo dvc pull [NAME...]`: place locked artifacts at their `out` paths
//! in the crate, as `dvc pull` does: the `.gitignore` entry beside each, and
//! in a DVC project its objects in `.dvc/cache`.

use clap::Args;

use crate::cli::args::{ManifestPath, PackageSelection};
use crate::cli::context::Context;
use crate::cli::dvc_project;
use crate::error::Result;

use super::label;

/// `cargo dvc pull`'s arguments.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Dependencies to pull [default: all].
    pub names: Vec<String>,
    /// Package selection.
    #[command(flatten)]
    pub packages: PackageSelection,
    /// Manifest options.
    #[command(flatten)]
    pub manifest: ManifestPath,
}

/// Runs `cargo dvc pull`.
pub fn exec(ctx: &Context, args: PullArgs) -> Result<i32> {
    let shell = ctx.shell();
    let packages = ctx.packages(&args.packages, &args.manifest)?;
    let many = packages.len() > 1;
    for package in &packages {
        for dep in package.deps(&args.names)? {
            let name = label(package, dep, many);
            let synced = super::fetch::sync(ctx, package, dep, &name)?;
            let engine = ctx.engine()?;
            let dest = package.root.join(&dep.out);
            let how = engine
                .place(&synced.artifact, &dest)
                .and_then(|how| {
                    dvc_project::gitignore(&dest, synced.artifact.is_dir()).map(|_| how)
                })
                .map_err(|e| e.with_dependency(&dep.name))?;
            // The artifact is in place; a DVC cache we cannot fill only
            // makes `dvc status` say "not in cache".
            if let Err(e) =
                dvc_project::fill_dvc_cache(engine.cache(), &synced.artifact, &package.root)
            {
                shell.warn(format!(
                    "dependency `{}`: could not add it to the DVC cache: {}",
                    dep.name,
                    e.message_with_causes()
                ));
            }
            shell.status("Pulled", format!("{name} -> {} ({how})", dep.out));
        }
    }
    Ok(0)
}
