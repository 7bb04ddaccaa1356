//! `dvc_build::fetch()`: the build-script front end.
//!
//! Reads `Cargo.toml` from `CARGO_MANIFEST_DIR` (no `cargo metadata`
//! subprocess), brings every dependency's lock and artifact up to date
//! through [`crate::project::sync`], places each artifact under
//! `OUT_DIR/dvc/<out>`, and tells cargo about it:
//!
//! * `cargo:rustc-env=DVC_<NAME>=<absolute path>` per dependency;
//! * `$OUT_DIR/dvc_deps.rs`: a `&str` path constant per dependency and, in a
//!   `bytes` module, an `include_bytes!` static per file dependency declared
//!   with `embed = true` (only those: including the module never makes rustc
//!   read any other artifact); `$OUT_DIR/dvc_paths.rs`: the path constants
//!   alone. Every generated item is `#[allow(dead_code)]`: using some of them
//!   gives no warning pointing into `OUT_DIR`;
//! * a dependency declared with `feature = "NAME"` is fetched and exported
//!   only when that feature of the crate is on (`CARGO_FEATURE_<NAME>`);
//! * `cargo:rerun-if-changed` for `Cargo.toml` and every lock, and
//!   `cargo:rerun-if-env-changed` for every variable read here.
//!
//! Environment: `DVC_BUILD_CACHE_DIR` (cache location), `DVC_BUILD_LOCKED=1`
//! (never write a lock), `CARGO_NET_OFFLINE=true` (no network), `DOCS_RS`
//! (on docs.rs: a dependency that cannot be fetched becomes an empty
//! placeholder and a warning, never a failed build). A crate built from a
//! package (`Cargo.toml.orig` beside `Cargo.toml`: a registry download or
//! `cargo package` verification) never writes locks.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::cache::{CACHE_DIR_ENV, Cache};
use crate::confined::Dir;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::format::stage::LockStage;
use crate::git::NetMode;
use crate::lock;
use crate::manifest::{Dependency, Import, Manifest};
use crate::materialize;
use crate::project::{self, LockAction, LockMode};

/// The variable that forbids writing locks.
pub const LOCKED_ENV: &str = "DVC_BUILD_LOCKED";
/// Cargo's offline switch, as `cargo --offline` users set it.
pub const OFFLINE_ENV: &str = "CARGO_NET_OFFLINE";
/// Set by docs.rs builds.
pub const DOCS_RS_ENV: &str = "DOCS_RS";

/// Fetches every data dependency of the crate being built. A complete
/// `build.rs`:
///
/// ```no_run
/// fn main() {
///     dvc_build::fetch().unwrap();
/// }
/// ```
///
/// Then, in the crate: `include_bytes!(env!("DVC_CLASSIFIER"))`, or
/// `include!(concat!(env!("OUT_DIR"), "/dvc_deps.rs"));`.
pub fn fetch() -> Result<Fetched> {
    Fetch::new().run()
}

/// Options for [`fetch`]; every one defaults to what the environment says.
///
/// ```no_run
/// let fetched = dvc_build::Fetch::new().offline(true).run().unwrap();
/// for dep in &fetched.deps {
///     println!("{} -> {}", dep.name, dep.path.display());
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Fetch {
    manifest_dir: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    offline: Option<bool>,
    locked: Option<bool>,
    emit: Option<bool>,
    features: Option<Vec<String>>,
}

/// What [`Fetch::run`] placed.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// One entry per dependency, in name order.
    pub deps: Vec<FetchedDep>,
}

/// One placed dependency.
#[derive(Debug, Clone)]
pub struct FetchedDep {
    /// The dependency's name.
    pub name: String,
    /// The environment variable cargo passes to the crate (`DVC_<NAME>`).
    pub env_var: String,
    /// Where the artifact is, under `OUT_DIR`.
    pub path: PathBuf,
    /// `true` for a directory.
    pub is_dir: bool,
    /// `true` when this is an empty placeholder (docs.rs only).
    pub placeholder: bool,
}

impl Fetch {
    /// Options from the environment.
    pub fn new() -> Fetch {
        Fetch::default()
    }

    /// The crate root (default: `CARGO_MANIFEST_DIR`).
    pub fn manifest_dir(mut self, dir: impl Into<PathBuf>) -> Fetch {
        self.manifest_dir = Some(dir.into());
        self
    }

    /// Where artifacts go (default: `OUT_DIR`).
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Fetch {
        self.out_dir = Some(dir.into());
        self
    }

    /// The content cache (default: `DVC_BUILD_CACHE_DIR`, else the user cache).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Fetch {
        self.cache_dir = Some(dir.into());
        self
    }

    /// No network (default: `CARGO_NET_OFFLINE=true`).
    pub fn offline(mut self, offline: bool) -> Fetch {
        self.offline = Some(offline);
        self
    }

    /// Never write locks (default: `DVC_BUILD_LOCKED=1`, or a packaged crate).
    pub fn locked(mut self, locked: bool) -> Fetch {
        self.locked = Some(locked);
        self
    }

    /// The crate's features that are on, for dependencies declared with
    /// `feature = "..."` (default: those cargo says are on, through
    /// `CARGO_FEATURE_<NAME>`).
    pub fn features<I, S>(mut self, features: I) -> Fetch
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.features = Some(features.into_iter().map(Into::into).collect());
        self
    }

    /// Print `cargo:` directives (default: when run by cargo, i.e. `OUT_DIR` is set).
    pub fn emit_directives(mut self, emit: bool) -> Fetch {
        self.emit = Some(emit);
        self
    }

    /// Fetches and places every dependency.
    pub fn run(self) -> Result<Fetched> {
        let emit = self
            .emit
            .unwrap_or_else(|| std::env::var_os("OUT_DIR").is_some());
        let out = Directives { emit };
        let root = match self.manifest_dir {
            Some(d) => d,
            None => env_path("CARGO_MANIFEST_DIR")?,
        };
        let out_dir = match self.out_dir {
            Some(d) => d,
            None => env_path("OUT_DIR")?,
        };
        for var in [CACHE_DIR_ENV, LOCKED_ENV, OFFLINE_ENV, DOCS_RS_ENV] {
            out.line(format_args!("rerun-if-env-changed={var}"));
        }
        let manifest_path = root.join("Cargo.toml");
        out.line(format_args!("rerun-if-changed={}", manifest_path.display()));
        let manifest = Manifest::load(&manifest_path)?;
        let docs_rs = std::env::var_os(DOCS_RS_ENV).is_some();
        let offline = self
            .offline
            .unwrap_or_else(|| NetMode::from_env().is_offline());
        let locked = self
            .locked
            .unwrap_or_else(|| env_flag(LOCKED_ENV) || root.join("Cargo.toml.orig").exists());
        let mode = if locked {
            LockMode::Locked
        } else {
            LockMode::Write
        };
        let net = if offline {
            NetMode::Offline
        } else {
            NetMode::Online
        };

        let enabled = |dep: &Dependency| match (&dep.feature, &self.features) {
            (None, _) => true,
            (Some(f), Some(on)) => on.contains(f),
            (Some(_), None) => dep
                .feature_env()
                .is_some_and(|var| std::env::var_os(var).is_some()),
        };
        let deps: Vec<&Dependency> = manifest.deps.iter().filter(|d| enabled(d)).collect();
        let mut fetched = Fetched::default();
        if !deps.is_empty() {
            let cache = match self.cache_dir {
                Some(d) => Cache::open(d)?,
                None => Cache::open_default()?,
            };
            let engine = Engine::new(cache, net);
            let placed_root = out_dir.join("dvc");
            for dep in &deps {
                let dest = placed_root.join(&dep.out);
                let placed = place(&engine, &root, dep, mode, &placed_root, &out);
                out.line(format_args!(
                    "rerun-if-changed={}",
                    lock::lock_path(&root, dep).display()
                ));
                // An edit of a placed file (a hard link shares the cache
                // object's bytes) runs this script again, which checks it.
                out.line(format_args!("rerun-if-changed={}", dest.display()));
                let entry = match placed {
                    Ok(is_dir) => FetchedDep {
                        name: dep.name.clone(),
                        env_var: dep.env_var(),
                        path: dest,
                        is_dir,
                        placeholder: false,
                    },
                    Err(e) if docs_rs => {
                        out.line(format_args!(
                            "warning=docs.rs build: `{}` is an empty placeholder ({})",
                            dep.name,
                            e.message_with_causes()
                        ));
                        placeholder(
                            &Dir::create_root(&placed_root)?,
                            &dep.name,
                            dep.env_var(),
                            Path::new(&dep.out),
                            locked_as_dir(&root, dep),
                        )?
                    }
                    Err(e) => return Err(e),
                };
                out.line(format_args!(
                    "rustc-env={}={}",
                    entry.env_var,
                    entry.path.display()
                ));
                fetched.deps.push(entry);
            }
        }
        write_modules(&out_dir, &deps, &fetched)?;
        Ok(fetched)
    }
}

/// Syncs `dep` and places its artifact at its `out` below `placed_root`;
/// `true` for a directory. Says in a cargo warning when it wrote a lock, or
/// replaced bytes that were not the pinned ones.
fn place(
    engine: &Engine,
    root: &Path,
    dep: &Dependency,
    mode: LockMode,
    placed_root: &Path,
    out: &Directives,
) -> Result<bool> {
    let synced = project::sync(engine, root, dep, mode);
    for repaired in engine.cache().take_repairs() {
        out.line(format_args!(
            "warning=dvc-build: dependency `{}`: the cached object `{}` no longer matched its hash (edited through a hard link?); it was removed and fetched again",
            dep.name,
            repaired.display()
        ));
    }
    let synced = synced?;
    match &synced.action {
        LockAction::Used => {}
        _ => out.line(format_args!(
            "warning=dvc-build: wrote `{}` ({})",
            lock::lock_path(root, dep).display(),
            lock_change(dep, synced.old.as_ref(), &synced.stage)
        )),
    }
    let placed = engine
        .place(
            &synced.artifact,
            &Dir::create_root(placed_root)?,
            Path::new(&dep.out),
            materialize::Options::BUILD,
        )
        .map_err(|e| e.with_dependency(&dep.name))?;
    for path in &placed.replaced {
        out.line(format_args!(
            "warning=dvc-build: dependency `{}`: `{}` no longer held the pinned bytes; replaced with verified ones",
            dep.name,
            path.display()
        ));
    }
    Ok(synced.artifact.is_dir())
}

/// What a written lock changed: `classifier: v1 -> v2, d8518a7 -> 960dce5`.
fn lock_change(dep: &Dependency, old: Option<&LockStage>, new: &LockStage) -> String {
    let pin = |s: &LockStage| -> String {
        match s {
            LockStage::Import(s) => s.repo.rev_lock.clone().unwrap_or_default(),
            LockStage::ImportUrl(s) => s.out.md5.map(|m| m.to_hex()).unwrap_or_default(),
        }
        .chars()
        .take(7)
        .collect()
    };
    let rev = |s: &LockStage| match s {
        LockStage::Import(s) => Some(
            s.repo
                .rev
                .clone()
                .unwrap_or_else(|| "the default branch".into()),
        ),
        LockStage::ImportUrl(_) => None,
    };
    match old {
        Some(old) => {
            let revs = match (rev(old), rev(new)) {
                (Some(a), Some(b)) if a != b => format!("{a} -> {b}, "),
                _ => String::new(),
            };
            format!("{}: {revs}{} -> {}", dep.name, pin(old), pin(new))
        }
        None => match rev(new) {
            Some(rev) => format!("{}: locked to {rev} at {}", dep.name, pin(new)),
            None => format!("{}: locked to {}", dep.name, pin(new)),
        },
    }
}

/// `true` when `dep`'s lock (if it can be read) names a directory.
fn locked_as_dir(root: &Path, dep: &Dependency) -> bool {
    match lock::read(root, dep) {
        Ok(lock::LockState::Fresh(l) | lock::LockState::Stale { lock: l, .. }) => {
            l.stage.out().is_dir
        }
        _ => false,
    }
}

/// An empty file (an empty directory when `is_dir`) at `rel` below
/// `placed_root`, standing in for an artifact docs.rs could not fetch.
fn placeholder(
    placed_root: &Dir,
    name: &str,
    env_var: String,
    rel: &Path,
    is_dir: bool,
) -> Result<FetchedDep> {
    let dest = placed_root.path().join(rel);
    let (dir, file_name) = placed_root
        .parent_of(rel, true)?
        .ok_or_else(|| Error::new(ErrorKind::Io, format!("cannot create `{}`", dest.display())))?;
    // Whatever an earlier build placed there may not match the lock any more:
    // a placeholder is always empty.
    dir.remove_tree(&file_name)?;
    if is_dir {
        dir.subdir(&file_name, true)?;
    } else {
        dir.write_atomic(&file_name, b"")?;
    }
    Ok(FetchedDep {
        name: name.to_string(),
        env_var,
        path: dest,
        is_dir,
        placeholder: true,
    })
}

/// Writes `dvc_deps.rs` and `dvc_paths.rs` into `out_dir`, only when their
/// text changed (so an unchanged build does not recompile the crate).
/// `deps` and `fetched.deps` are the dependencies built, in the same order.
fn write_modules(out_dir: &Path, deps: &[&Dependency], fetched: &Fetched) -> Result<()> {
    let mut paths = String::from(
        "// @generated by dvc-build from [package.metadata.dvc]: one path constant per\n\
         // data dependency. Do not edit.\n",
    );
    let mut bytes = String::new();
    for (dep, placed) in deps.iter().zip(&fetched.deps) {
        let ident = dep.const_name();
        let path = placed.path.to_string_lossy();
        let what = if placed.is_dir { "directory" } else { "file" };
        let from = match &dep.import {
            Import::Registry(r) => format!(
                "`{}` in `{}`",
                doc_text(&r.path),
                doc_text(&crate::redact::url(&r.url))
            ),
            Import::Url(u) => format!("`{}`", doc_text(&crate::redact::url(&u.url))),
        };
        let _ = writeln!(
            paths,
            "/// Absolute path of the {what} of data dependency `{}` ({from}).\n\
             #[allow(dead_code)]\n\
             pub const {ident}: &str = {path:?};",
            doc_text(&dep.name),
        );
        if dep.embed {
            if placed.is_dir {
                return Err(Error::new(
                    ErrorKind::Manifest,
                    "`embed = true` embeds the bytes of a file, but this dependency is a directory",
                )
                .with_dependency(&dep.name)
                .with_help(format!(
                    "remove `embed`, and read the directory at `env!(\"{}\")` (or `dvc_deps::{ident}`)",
                    dep.env_var()
                )));
            }
            let _ = writeln!(
                bytes,
                "    /// The bytes of data dependency `{}` (`embed = true`).\n    \
                 #[allow(dead_code)]\n    \
                 pub static {ident}: &[u8] = include_bytes!({path:?});",
                doc_text(&dep.name),
            );
        }
    }
    let deps = if bytes.is_empty() {
        paths.clone()
    } else {
        format!(
            "{paths}\n/// The bytes of the file dependencies declared with `embed = true`.\n\
             #[allow(dead_code)]\npub mod bytes {{\n{bytes}}}\n"
        )
    };
    let dir = Dir::create_root(out_dir)?;
    write_if_changed(&dir, "dvc_paths.rs", &paths)?;
    write_if_changed(&dir, "dvc_deps.rs", &deps)
}

fn write_if_changed(dir: &Dir, name: &str, text: &str) -> Result<()> {
    let name = std::ffi::OsStr::new(name);
    if dir
        .read_to_string(name)
        .ok()
        .flatten()
        .is_some_and(|old| old == text)
    {
        return Ok(());
    }
    dir.write_atomic(name, text.as_bytes())
}

/// Text safe inside a `///` line.
fn doc_text(s: &str) -> String {
    s.replace(['\n', '\r'], " ").replace('`', "'")
}

fn env_path(var: &str) -> Result<PathBuf> {
    std::env::var_os(var).map(PathBuf::from).ok_or_else(|| {
        Error::new(ErrorKind::Manifest, format!("`{var}` is not set"))
            .with_help("call `dvc_build::fetch()` from a build script, or set the paths with `dvc_build::Fetch`")
    })
}

fn env_flag(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"))
}

/// Prints `cargo:` directives when run by cargo.
struct Directives {
    emit: bool,
}

impl Directives {
    fn line(&self, directive: std::fmt::Arguments<'_>) {
        if self.emit {
            println!("cargo:{directive}");
        }
    }
}
