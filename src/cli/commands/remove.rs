//! `cargo dvc remove NAME...`: take data dependencies out of the crate, as
//! `cargo remove` takes out crates and `dvc remove` an import stage: the
//! declaration in `Cargo.toml`, the lock, and the lock's `.gitignore` entry
//! (a `.gitignore` left empty is deleted, as DVC does). What `cargo dvc pull`
//! placed at the `out` goes too when it is exactly what the lock names (it
//! is in the cache: nothing is lost); anything else there (edited, or not
//! comparable because the lock or the cache lacks what it names) stays, with
//! a note, unless `--force` (the rule `pull` follows before replacing).
//! `dvc remove` keeps every output unless `--outs`, which deletes edited
//! ones too. Afterwards, import stages no declaration owns are reported.
//!
//! `Cargo.toml` and the `.gitignore` files are written together, or not at
//! all, through [`Batch`]; then the locks, emptied `.gitignore`s and the
//! placed outputs are unlinked, exactly those paths, never through a symlink
//! (a symlinked folder on the way is refused before anything changes).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::args::{ManifestPath, OnePackage};
use crate::cli::context::Context;
use crate::cli::{dvc_project, manifest_edit};
use crate::confined::{Batch, Dir, Kind};
use crate::error::{Error, Result};
use crate::lock::{self, LockState};
use crate::manifest::{Dependency, Manifest};
use crate::materialize::{self, State};

/// What is at a dependency's `out` before it is removed.
enum Placed {
    /// Nothing.
    Nothing,
    /// Exactly what the lock names.
    AsLocked,
    /// Something else: these paths (relative to the crate) differ.
    Modified(Vec<String>),
    /// Something that cannot be compared, and why.
    Unknown(&'static str),
}

/// What is at `dep`'s `out`, compared (reading only) with what its lock
/// names. A symlinked folder on the way is an error.
fn placed(ctx: &Context, root: &Dir, dep: &Dependency) -> Result<Placed> {
    let out = Path::new(&dep.out);
    let there = match root.parent_of(out, false)? {
        Some((dir, name)) => dir.stat(&name)?,
        None => None,
    };
    let Some(meta) = there else {
        return Ok(Placed::Nothing);
    };
    if meta.kind == Kind::Symlink {
        return Ok(Placed::Unknown("it is a symlink"));
    }
    let stage = match lock::read(root.path(), dep) {
        Ok(LockState::Fresh(l)) => l.stage,
        Ok(LockState::Stale { lock, .. }) => lock.stage,
        Ok(LockState::Missing) | Err(_) => {
            return Ok(Placed::Unknown(
                "there is no readable lock to compare it with",
            ));
        }
    };
    let engine = ctx.engine()?;
    let base = lock::source_base(root.path(), dep);
    let Some(expected) = engine.inspect(&base, &stage)?.expected else {
        return Ok(Placed::Unknown(
            "the cache does not hold what its lock names, so it cannot be compared",
        ));
    };
    Ok(
        match materialize::state(engine.cache(), &expected, root, out)? {
            State::Missing => Placed::Nothing,
            State::UpToDate => Placed::AsLocked,
            State::Modified(paths) => Placed::Modified(
                paths
                    .iter()
                    .map(|p| {
                        p.strip_prefix(root.path())
                            .unwrap_or(p)
                            .display()
                            .to_string()
                    })
                    .collect(),
            ),
        },
    )
}

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
    /// Delete what is at each `out` even when it differs from what the lock
    /// names (edited, or not comparable).
    #[arg(long)]
    pub force: bool,
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
        let lock_there = root
            .check_writable(&lock)
            .map_err(|e| e.with_dependency(&dep.name))?;
        if lock_there.is_some() {
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
    // What is at each `out`, decided before anything changes.
    let mut outs: Vec<PathBuf> = Vec::new();
    // (`out`, why it stays)
    let mut kept: Vec<(&str, String)> = Vec::new();
    for dep in &deps {
        let state = placed(ctx, &root, dep).map_err(|e| e.with_dependency(&dep.name))?;
        let why = match state {
            Placed::Nothing => continue,
            Placed::AsLocked => None,
            Placed::Modified(paths) => Some(format!(
                "it differs from what its lock names ({})",
                paths
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Placed::Unknown(why) => Some(why.to_string()),
        };
        match why {
            Some(why) if !args.force => kept.push((&dep.out, why)),
            _ => outs.push(PathBuf::from(&dep.out)),
        }
    }
    for dep in &deps {
        let mut what = vec![format!("lock `{}`", dep.lock_path().display())];
        if ignores
            .iter()
            .any(|(p, _)| p.parent() == Path::new(&dep.out).parent())
        {
            what.push("`.gitignore` entry".to_string());
        }
        if outs.iter().any(|o| *o == Path::new(&dep.out)) {
            what.push(format!("`{}`", dep.out));
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
    let note_kept = |left: &str| {
        for (out, why) in &kept {
            shell.note(format!(
                "`{out}` {left} in place: {why}; delete it yourself if you no longer need it, \
                 or run again with `--force`"
            ));
        }
    };
    if args.dry_run {
        note_kept("would be left");
        return Ok(0);
    }
    let (manifest_root, manifest_name) = package.manifest_location()?;
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
    let delete = |rel: &Path, remove: fn(&Dir, &OsStr) -> Result<()>| -> Result<()> {
        if let Some((dir, name)) = root.parent_of(rel, false)? {
            remove(&dir, &name).map_err(|e| {
                e.context(format!(
                    "Cargo.toml no longer declares it, but `{}` could not be deleted",
                    rel.display()
                ))
            })?;
        }
        Ok(())
    };
    for rel in &unlink {
        delete(rel, Dir::remove_file)?;
    }
    for rel in &outs {
        delete(rel, Dir::remove_tree)?;
    }
    note_kept("is left");
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
