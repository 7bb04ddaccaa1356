//! A crate's data dependencies kept in step with their locks: the lock
//! policy shared by the build script and `cargo dvc`.
//!
//! [`sync`] is what a build does for each dependency: use a lock that matches
//! its declaration as it is (never moving it, even when the branch moved),
//! write one when it is missing or stale (as Cargo writes `Cargo.lock`),
//! unless locks may not be written ([`LockMode::Locked`]). [`update`] is
//! `cargo dvc update`: resolve again and rewrite the lock.

use std::path::Path;

use crate::confined::Dir;
use crate::engine::{Artifact, Engine, SourceState};
use crate::error::{Error, ErrorKind, Result};
use crate::format::stage::LockStage;
use crate::lock::{self, Lock, LockState};
use crate::manifest::{Dependency, Import};

/// May locks be written?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Write a lock that is missing or stale.
    Write,
    /// Never write; a missing or stale lock is an error (`--locked`,
    /// `DVC_BUILD_LOCKED=1`, a crate built from a package).
    Locked,
}

/// What happened to a dependency's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockAction {
    /// The lock matched its declaration and was used as it is.
    Used,
    /// There was no lock; one was written.
    Created,
    /// The lock no longer matched its declaration; it was written anew.
    Replaced {
        /// What had changed.
        reason: String,
    },
}

/// A dependency whose lock is current and whose artifact is in the cache.
#[derive(Debug, Clone)]
pub struct Synced {
    /// The lock.
    pub stage: LockStage,
    /// The verified artifact in the cache.
    pub artifact: Artifact,
    /// What was done to the lock.
    pub action: LockAction,
    /// The lock before it was written anew, if there was one.
    pub old: Option<LockStage>,
}

/// Refuses a dependency whose lock or `out` path in the crate at `root`
/// goes through a symlink (a symlinked folder, or a symlink itself): the
/// lock would be written there, and `pull` would place there, perhaps
/// outside the crate. `dvc` refuses the same layout.
pub fn check_layout(root: &Path, dep: &Dependency) -> Result<()> {
    let crate_root = Dir::open_root(root)?;
    crate_root
        .check_writable(&dep.lock_path())
        .and_then(|_| crate_root.check_writable(Path::new(&dep.out)))
        .map(|_| ())
        .map_err(|e| e.with_dependency(&dep.name))
}

/// Makes sure `dep` (declared by the crate at `root`) has a current lock and
/// its artifact is in the cache.
pub fn sync(engine: &Engine, root: &Path, dep: &Dependency, mode: LockMode) -> Result<Synced> {
    check_layout(root, dep)?;
    let (old, action) = match lock::read(root, dep)? {
        LockState::Fresh(lock) => {
            // The lock has no secrets: fetch with the declaration's.
            let artifact = engine
                .fetch_locked(
                    &lock::source_base(root, dep),
                    &lock::with_secrets(dep, &lock.stage),
                    dep.sha256(),
                )
                .map_err(|e| e.with_dependency(&dep.name))?;
            return Ok(Synced {
                stage: lock.stage,
                artifact,
                action: LockAction::Used,
                old: None,
            });
        }
        LockState::Missing => (None, LockAction::Created),
        LockState::Stale { lock, reason } => (Some(lock), LockAction::Replaced { reason }),
    };
    if mode == LockMode::Locked {
        let why = match &action {
            LockAction::Replaced { reason } => format!("the lock is stale: {reason}"),
            _ => format!("the lock `{}` is missing", dep.lock_path().display()),
        };
        return Err(lock::locked_error(dep, &why));
    }
    reuse(engine, old.as_ref());
    let (mut stage, artifact) = resolve(engine, root, dep, None)?;
    keep_frozen(&mut stage, old.as_ref());
    let text = lock::render(&stage, old.as_ref()).map_err(|e| e.with_dependency(&dep.name))?;
    lock::write(root, dep, &text)?;
    Ok(Synced {
        stage,
        artifact,
        action,
        old: old.map(|l| l.stage),
    })
}

/// The outcome of [`update`].
#[derive(Debug, Clone)]
pub struct Updated {
    /// The lock before, if there was one.
    pub old: Option<LockStage>,
    /// The lock after.
    pub new: LockStage,
    /// The verified artifact of the new lock.
    pub artifact: Artifact,
    /// `true` when the lock's text changed (or would, with `dry_run`).
    pub changed: bool,
    /// The new text of the lock.
    pub text: String,
}

/// `cargo dvc update`: resolves `dep` again (at `rev` when given, which the
/// caller also writes to `Cargo.toml`) and rewrites its lock unless `dry_run`.
pub fn update(
    engine: &Engine,
    root: &Path,
    dep: &Dependency,
    rev: Option<&str>,
    dry_run: bool,
) -> Result<Updated> {
    check_layout(root, dep)?;
    let (old, fresh): (Option<Lock>, bool) = match lock::read(root, dep)? {
        LockState::Missing => (None, false),
        LockState::Fresh(lock) => (Some(lock), true),
        LockState::Stale { lock, .. } => (Some(lock), false),
    };
    reuse(engine, old.as_ref());
    let (mut stage, artifact) = match (&dep.import, &old) {
        // `dvc update` of an import-url stage: ask the source first; only
        // a changed source (or one that only a download can check) is
        // downloaded again.
        (Import::Url(_), Some(old)) if fresh => recheck_url(engine, root, dep, &old.stage)?,
        _ => resolve(engine, root, dep, rev)?,
    };
    keep_frozen(&mut stage, old.as_ref());
    let text = lock::render(&stage, old.as_ref()).map_err(|e| e.with_dependency(&dep.name))?;
    let changed = old.as_ref().is_none_or(|o| o.text != text);
    if changed && !dry_run {
        lock::write(root, dep, &text)?;
    }
    Ok(Updated {
        old: old.map(|o| o.stage),
        new: stage,
        artifact,
        changed,
        text,
    })
}

/// A new version of a directory mostly shares its files with the one its
/// old lock names: tell the engine, so that those cost a `stat` each.
fn reuse(engine: &Engine, old: Option<&Lock>) {
    let out = old.map(|o| o.stage.out()).filter(|out| out.is_dir);
    if let Some(md5) = out.and_then(|out| out.md5) {
        engine.reuse_dir(md5);
    }
}

/// `dvc update` keeps an unfrozen import (`dvc unfreeze`) unfrozen.
fn keep_frozen(stage: &mut LockStage, old: Option<&Lock>) {
    if let (
        LockStage::Import(new),
        Some(Lock {
            stage: LockStage::Import(old),
            ..
        }),
    ) = (stage, old)
    {
        new.frozen = old.frozen;
    }
}

/// `cargo dvc import --no-download`: resolves `dep`'s revision, checks its
/// path is there, and returns the lock `dvc import --no-download` writes
/// (no hash: the first fetch takes what the registry has at `rev_lock`).
/// Fetches no data, writes nothing.
pub fn lock_without_download(engine: &Engine, root: &Path, dep: &Dependency) -> Result<LockStage> {
    let Import::Registry(decl) = &dep.import else {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "`--no-download` is for registry imports",
        )
        .with_dependency(&dep.name));
    };
    let repo = lock::repo_spec(decl);
    let mut stage = engine
        .resolve_no_download(root, &repo, &decl.path, lock::out_name(dep))
        .map_err(|e| e.with_dependency(&dep.name))?;
    stage.repo = lock::without_secrets(&stage.repo);
    Ok(LockStage::Import(stage))
}

/// Resolves the declaration (with `rev` overriding a registry import's
/// `rev`) into the lock it implies, and fetches its artifact.
fn resolve(
    engine: &Engine,
    root: &Path,
    dep: &Dependency,
    rev: Option<&str>,
) -> Result<(LockStage, Artifact)> {
    match &dep.import {
        Import::Registry(decl) => {
            let mut repo = lock::repo_spec(decl);
            if let Some(rev) = rev {
                repo.rev = Some(rev.to_string());
            }
            let (mut stage, artifact) = engine
                .resolve(root, &repo, &decl.path, lock::out_name(dep))
                .map_err(|e| e.with_dependency(&dep.name))?;
            // What the lock records: no credentials, no secret options.
            stage.repo = lock::without_secrets(&stage.repo);
            Ok((LockStage::Import(stage), artifact))
        }
        Import::Url(decl) => {
            let (stage, artifact) = engine
                .resolve_url(
                    &lock::source_base(root, dep),
                    &lock::url_spec(root, dep, decl),
                    lock::out_name(dep),
                )
                .map_err(|e| e.with_dependency(&dep.name))?;
            Ok((LockStage::ImportUrl(stage), artifact))
        }
    }
}

/// A URL dependency's fresh lock checked against its source: kept (with
/// its artifact) when the source still pins the same version, else the
/// source is imported again.
fn recheck_url(
    engine: &Engine,
    root: &Path,
    dep: &Dependency,
    old: &LockStage,
) -> Result<(LockStage, Artifact)> {
    let base = lock::source_base(root, dep);
    if let LockStage::ImportUrl(was) = old {
        let state = engine
            .url_source_state(&base, was)
            .map_err(|e| e.with_dependency(&dep.name))?;
        if state == SourceState::Unchanged {
            let artifact = engine
                .fetch_locked(&base, old, dep.sha256())
                .map_err(|e| e.with_dependency(&dep.name))?;
            return Ok((old.clone(), artifact));
        }
    }
    resolve(engine, root, dep, None)
}
