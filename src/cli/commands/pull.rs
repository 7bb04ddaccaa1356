//! `cargo dvc pull [NAME...]`: place locked artifacts at their `out` paths
//! in the crate, as `dvc pull` does: the `.gitignore` entry beside each, and
//! in a DVC project its objects in `.dvc/cache`.
//!
//! Placed files are independent copies (reflinks where the file system has
//! them) unless `--link` or the project's `cache.type` asks for read-only
//! hard links. What is at an output is replaced only when nothing is lost
//! (an unmodified earlier placement, or bytes the cache holds, as `dvc pull`
//! removes only "saved" files), and never when git tracks it, unless
//! `--force`.

use std::path::Path;

use clap::Args;

use crate::cli::args::{ManifestPath, PackageSelection};
use crate::cli::context::Context;
use crate::cli::dvc_project;
use crate::confined::Dir;
use crate::error::Result;
use crate::materialize::{Existing, Options};

use super::label;

/// `cargo dvc pull`'s arguments.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Dependencies to pull [default: all].
    pub names: Vec<String>,
    /// Replace what is at an output even when it holds data of its own
    /// (modified, added or git-tracked files), as `dvc pull --force`.
    #[arg(short, long)]
    pub force: bool,
    /// Hard-link the files from the cache (read-only, no extra space)
    /// instead of copying them [default: copies, unless the project's
    /// `cache.type` asks for links].
    #[arg(long)]
    pub link: bool,
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
    for (package, deps) in crate::cli::workspace::select_deps(&packages, &args.names)? {
        for dep in deps {
            let name = label(package, dep, many);
            let synced = super::fetch::sync(ctx, package, dep, &name)?.synced;
            let engine = ctx.engine()?;
            let root = Dir::open_root(&package.root)?;
            let rel = Path::new(&dep.out);
            // An output in a symlinked folder, or a symlink itself, is
            // refused (as dvc refuses it), `--force` or not.
            let present = root
                .check_writable(rel)
                .map_err(|e| e.with_dependency(&dep.name))?
                .is_some();
            // git is asked (a process) only where its answer matters:
            // something is at `out` (a file git may track), or `.gitignore`
            // is to gain an entry (never one covering a tracked file). A
            // re-pull of a deleted placement needs neither.
            let is_dir = synced.artifact.is_dir();
            // The `.gitignore` edit, when worked out here (nothing at `out`),
            // so that it is not worked out (a `git check-ignore`) again below.
            let ignore_edit = if present {
                None
            } else {
                Some(dvc_project::gitignore_edit(&root, rel, is_dir)?)
            };
            let tracked = if present || ignore_edit.as_ref().is_some_and(Option::is_some) {
                dvc_project::tracked_by_git(&package.root, rel)
            } else {
                Vec::new()
            };
            if !tracked.is_empty() && !args.force {
                return Err(dvc_project::tracked_error(&tracked)
                    .with_dependency(&dep.name)
                    .with_help("choose another `out`, or run again with `--force` to replace it (as `dvc pull --force` does)"));
            }
            let link = args.link || dvc_project::project_wants_links(&package.root);
            let options = Options::workspace(link, args.force, Existing::KeepUnsaved);
            let placed = engine
                .place(&synced.artifact, &root, rel, options)
                .map_err(|e| e.with_dependency(&dep.name))?;
            if tracked.is_empty() {
                match ignore_edit {
                    Some(edit) => dvc_project::write_gitignore_edit(&root, edit),
                    None => dvc_project::gitignore(&root, rel, is_dir),
                }
                .map_err(|e| e.with_dependency(&dep.name))?;
            }
            for path in &placed.replaced {
                shell.warn(format!(
                    "dependency `{}`: replaced `{}` (--force)",
                    dep.name,
                    path.display()
                ));
            }
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
            let how = placed.how;
            shell.status("Pulled", format!("{name} -> {} ({how})", dep.out));
        }
    }
    Ok(0)
}
