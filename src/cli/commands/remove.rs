//! `cargo dvc remove NAME...`: take data dependencies out of the crate, as
//! `cargo remove` takes out crates and `dvc remove` an import stage: the
//! declaration in `Cargo.toml`, the lock, and the lock's `.gitignore` entry
//! (a `.gitignore` left empty is deleted, as DVC does). A copy placed by
//! `cargo dvc pull` stays (it may hold edits); a note says so. Afterwards,
//! import stages no declaration owns are reported.
//!
//! `Cargo.toml` and the `.gitignore` files are written together, or not at
//! all, through [`Batch`]; then the locks and emptied `.gitignore`s are
//! unlinked, exactly those paths, never through a symlink.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::args::{ManifestPath, OnePackage};
use crate::cli::context::Context;
use crate::cli::{dvc_project, manifest_edit};
use crate::confined::{Batch, Dir};
use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// `cargo dvc remove`'s arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
Example:
    cargo dvc remove classifier tokenizer")]
pub struct RemoveArgs {
    /// Dependencies to remove.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// Say what would be removed without changing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Package selection.
    #[command(flatten)]
    pub package: OnePackage,
    /// Manifest options.
    #[command(flatten)]
    pub manifest: ManifestPath,
}

/// Runs `cargo dvc remove`.
pub fn exec(ctx: &Context, args: RemoveArgs) -> Result<i32> {
    let shell = ctx.shell();
    let package = ctx.single_package(&args.package, &args.manifest)?;
    // Every name must be declared before anything changes.
    let deps = package.deps(&args.names)?;
    let root = Dir::open_root(&package.root)?;
    let mut text = std::fs::read_to_string(&package.manifest_path)
        .map_err(|e| Error::io("read", &package.manifest_path, e))?;
    let mut ignores: Vec<(PathBuf, String)> = Vec::new();
    let mut unlink: Vec<PathBuf> = Vec::new();
    for dep in &deps {
        text = manifest_edit::remove_dependency(&text, &dep.name)?;
        let lock = dep.lock_path();
        root.check_writable(&lock)
            .map_err(|e| e.with_dependency(&dep.name))?;
        if root
            .parent_of(&lock, false)?
            .and_then(|(dir, name)| dir.stat(&name).ok().flatten())
            .is_some()
        {
            unlink.push(lock);
        }
        // Two outputs may share a folder: edit its .gitignore once, in turn.
        let out = Path::new(&dep.out);
        let (folder, _) = crate::confined::split(out)?;
        let gitignore = folder.join(".gitignore");
        let edited = match ignores.iter().position(|(p, _)| *p == gitignore) {
            Some(i) => {
                let (_, current) = ignores.remove(i);
                remove_line(&current, out)
            }
            None => dvc_project::gitignore_removal(&root, out)?.map(|(_, t)| t),
        };
        if let Some(edited) = edited {
            ignores.push((gitignore, edited));
        }
    }
    // The result must still parse: nothing else refers to what goes.
    Manifest::parse_file(&text, &package.manifest_path)?;
    for dep in &deps {
        let mut what = vec![format!("lock `{}`", dep.lock_path().display())];
        if ignores
            .iter()
            .any(|(p, _)| p.parent() == Path::new(&dep.out).parent())
        {
            what.push("`.gitignore` entry".to_string());
        }
        let verb = if args.dry_run {
            "Would remove"
        } else {
            "Removing"
        };
        shell.status(
            verb,
            format!("{} from Cargo.toml ({})", dep.name, what.join(", ")),
        );
    }
    if args.dry_run {
        return Ok(0);
    }
    let manifest_root = match package.manifest_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => Dir::open_root(p)?,
        _ => Dir::open_root(Path::new("."))?,
    };
    let manifest_name = package
        .manifest_path
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("Cargo.toml"));
    let mut batch = Batch::new();
    batch.write(&manifest_root, manifest_name, text);
    for (file, edited) in &ignores {
        if edited.is_empty() {
            unlink.push(file.clone());
        } else {
            batch.write(&root, file.clone(), edited.clone());
        }
    }
    batch.commit()?;
    for rel in &unlink {
        if let Some((dir, name)) = root.parent_of(rel, false)? {
            dir.remove_file(&name).map_err(|e| {
                e.context(format!(
                    "Cargo.toml no longer declares it, but `{}` could not be deleted",
                    rel.display()
                ))
            })?;
        }
    }
    for dep in &deps {
        let out = Path::new(&dep.out);
        let placed = root
            .parent_of(out, false)?
            .and_then(|(dir, name)| dir.stat(OsStr::new(&name)).ok().flatten())
            .is_some();
        if placed {
            shell.note(format!(
                "`{}` (placed by `cargo dvc pull`) is left in place; delete it if you no longer need it",
                dep.out
            ));
        }
    }
    let package = crate::cli::workspace::Package::load(package.manifest_path.clone())?;
    for orphan in super::check::orphaned_locks(&package) {
        shell.warn(format_args!(
            "{}{}",
            orphan.message,
            orphan
                .help
                .map(|h| format!("\n  help: {h}"))
                .unwrap_or_default()
        ));
    }
    Ok(0)
}

/// `text` (a `.gitignore`) without the line DVC writes for `out`.
fn remove_line(text: &str, out: &Path) -> Option<String> {
    let name = out.file_name()?.to_string_lossy();
    let entry = format!("/{}", dvc_project::escape(&name));
    text.lines().any(|l| l == entry).then(|| {
        text.split_inclusive('\n')
            .filter(|line| line.trim_end_matches(['\n', '\r']) != entry)
            .collect()
    })
}
