//! `cargo dvc`: the command-line front end (feature `cli`).
//!
//! [`main`] parses the arguments (`args`), finds the packages to work on
//! (`workspace`), and runs one function per command over the same engine
//! and lock policy the build script uses. Output follows cargo's style
//! (`shell`); `Cargo.toml` edits keep formatting (`manifest_edit`).

pub mod args;
mod dvc_project;
pub mod manifest_edit;
pub mod shell;
mod workspace;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;

use crate::cache::Cache;
use crate::engine::{Artifact, Engine};
use crate::error::{Error, ErrorKind, Result};
use crate::format::stage::{ImportStage, RepoSpec};
use crate::git::NetMode;
use crate::lock::{self, LockState};
use crate::manifest::{Dependency, Manifest};
use crate::progress::Progress;
use crate::project::{self, LockAction, LockMode};
use args::{Cli, Command, Global};
use shell::{Shell, Verbosity};
use workspace::Package;

/// Exit code for a failed command.
const FAILURE: i32 = 1;

/// Runs `cargo dvc` with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let args = args::strip_cargo_subcommand(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let global = cli.command.global().clone();
    let shell = Shell::new(if global.quiet {
        Verbosity::Quiet
    } else if global.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    });
    match run(cli.command, &global, &shell) {
        Ok(code) => code,
        Err(e) => {
            shell.error(&e);
            FAILURE
        }
    }
}

fn run(command: Command, global: &Global, shell: &Shell) -> Result<i32> {
    let ctx = Context::new(global, shell)?;
    match command {
        Command::Import {
            url,
            path,
            out,
            rev,
            name,
            ..
        } => ctx.import(&url, &path, out.as_deref(), rev.as_deref(), name.as_deref()),
        Command::Update {
            names,
            rev,
            dry_run,
            ..
        } => ctx.update(&names, rev.as_deref(), dry_run),
        Command::Status { json, .. } => ctx.status(json),
        Command::Fetch { names, .. } => ctx.fetch(&names, false),
        Command::Pull { names, .. } => ctx.fetch(&names, true),
        Command::Get {
            url,
            path,
            out,
            rev,
            ..
        } => ctx.get(&url, &path, out.as_deref(), rev.as_deref()),
        Command::Check { .. } => ctx.check(),
    }
}

/// What every command needs: options, output, the engine.
struct Context<'a> {
    global: &'a Global,
    shell: &'a Shell,
    engine: Engine,
    /// Download progress, drawn on a terminal only.
    bar: Option<Arc<Bar>>,
}

impl<'a> Context<'a> {
    fn new(global: &'a Global, shell: &'a Shell) -> Result<Context<'a>> {
        let offline = global.offline || NetMode::from_env().is_offline();
        let net = if offline {
            NetMode::Offline
        } else {
            NetMode::Online
        };
        let mut engine = Engine::new(Cache::open_default()?, net);
        let bar = Bar::for_terminal(shell);
        if let Some(bar) = &bar {
            engine = engine.with_progress(Arc::clone(bar) as Arc<dyn Progress>);
        }
        Ok(Context {
            global,
            shell,
            engine,
            bar,
        })
    }

    fn mode(&self) -> LockMode {
        let env_locked = std::env::var(crate::build_script::LOCKED_ENV)
            .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"));
        if self.global.locked || env_locked {
            LockMode::Locked
        } else {
            LockMode::Write
        }
    }

    fn packages(&self) -> Result<Vec<Package>> {
        workspace::select(self.global)
    }

    /// The one package a command that edits `Cargo.toml` works on.
    fn single_package(&self) -> Result<Package> {
        let mut packages = self.packages()?;
        match packages.len() {
            1 => Ok(packages.remove(0)),
            0 => Err(Error::new(ErrorKind::Manifest, "no package selected")),
            _ => Err(Error::new(
                ErrorKind::Manifest,
                "this command works on one package, but several are selected",
            )
            .with_help("pick one with `-p NAME` or `--manifest-path`")),
        }
    }

    /// `cargo dvc import`.
    fn import(
        &self,
        url: &str,
        path: &str,
        out: Option<&str>,
        rev: Option<&str>,
        name: Option<&str>,
    ) -> Result<i32> {
        if self.mode() == LockMode::Locked {
            return Err(Error::new(
                ErrorKind::Locked,
                "`import` writes a lock, and --locked / DVC_BUILD_LOCKED forbids it",
            ));
        }
        let package = self.single_package()?;
        let url = url_for_crate(url, &package.root);
        let path_clean = path.trim_matches('/');
        let default_out = path_clean.rsplit('/').next().unwrap_or(path_clean);
        let out_value = out.map(|o| o.trim_end_matches('/'));
        let name = match name {
            Some(n) => n.to_string(),
            None => default_name(out_value.unwrap_or(default_out)),
        };
        let original = std::fs::read_to_string(&package.manifest_path)
            .map_err(|e| Error::io("read", &package.manifest_path, e))?;
        if Manifest::parse(&original)?.dep(&name).is_some() {
            return Err(Error::new(
                ErrorKind::Manifest,
                format!("a data dependency called `{name}` is already declared"),
            )
            .with_dependency(&name)
            .with_help("pick another name with `--name`, or change it with `cargo dvc update`"));
        }
        let edited = manifest_edit::add_dependency(
            &original,
            &manifest_edit::NewDependency {
                name: &name,
                url: &url,
                path: path_clean,
                rev,
                out: out_value.filter(|o| *o != default_out),
            },
        )?;
        let manifest = Manifest::parse(&edited)?;
        let dep = manifest
            .dep(&name)
            .ok_or_else(|| Error::new(ErrorKind::Manifest, "the new declaration did not parse"))?;
        self.shell.status(
            "Importing",
            format!(
                "{name} ({} {path_clean}{})",
                crate::redact::url(&url),
                rev_note(rev)
            ),
        );
        let bar = self.spinner(&name);
        let updated = project::update(&self.engine, &package.root, dep, None, false)?;
        drop(bar);
        lock::write_atomic(&package.manifest_path, edited.as_bytes())?;
        dvc_project::gitignore(&package.root.join(&dep.out), updated.artifact.is_dir())?;
        self.shell.status(
            "Locked",
            format!(
                "{name} to {} ({})",
                short(&updated.new),
                describe(&updated.artifact)
            ),
        );
        Ok(0)
    }

    /// `cargo dvc update`.
    fn update(&self, names: &[String], rev: Option<&str>, dry_run: bool) -> Result<i32> {
        if self.mode() == LockMode::Locked && !dry_run {
            return Err(Error::new(
                ErrorKind::Locked,
                "`update` writes locks, and --locked / DVC_BUILD_LOCKED forbids it",
            )
            .with_help("use `--dry-run` to see what would change"));
        }
        for package in self.packages()? {
            let deps = select_deps(&package.manifest, names)?;
            for dep in deps {
                // Resolve first; write Cargo.toml, then the lock, only once
                // everything is known, so a failure changes nothing.
                let bar = self.spinner(&dep.name);
                let updated = project::update(&self.engine, &package.root, dep, rev, true)?;
                drop(bar);
                if !dry_run {
                    if let Some(rev) = rev.filter(|r| dep.rev.as_deref() != Some(*r)) {
                        let text = std::fs::read_to_string(&package.manifest_path)
                            .map_err(|e| Error::io("read", &package.manifest_path, e))?;
                        let edited = manifest_edit::set_rev(&text, &dep.name, rev)?;
                        lock::write_atomic(&package.manifest_path, edited.as_bytes())?;
                    }
                    if updated.changed {
                        lock::write(&package.root, dep, &updated.text)?;
                    }
                }
                let old_rev = updated.old.as_ref().and_then(|o| o.repo.rev.clone());
                let new_rev = updated.new.repo.rev.clone();
                let revs = match (&old_rev, &new_rev) {
                    (Some(a), Some(b)) if a != b => format!(" {a} -> {b}"),
                    (None, Some(b)) => format!(" -> {b}"),
                    _ => String::new(),
                };
                let commits = match &updated.old {
                    Some(old) => format!("{} -> {}", short(old), short(&updated.new)),
                    None => short(&updated.new).to_string(),
                };
                if updated.changed {
                    let verb = if dry_run { "Would update" } else { "Updating" };
                    self.shell
                        .status(verb, format!("{}{revs} ({commits})", dep.name));
                } else {
                    self.shell.verbose(
                        "Unchanged",
                        format!("{} ({})", dep.name, short(&updated.new)),
                    );
                }
            }
        }
        Ok(0)
    }

    /// `cargo dvc fetch` and `cargo dvc pull`.
    fn fetch(&self, names: &[String], place: bool) -> Result<i32> {
        let mode = self.mode();
        for package in self.packages()? {
            for dep in select_deps(&package.manifest, names)? {
                let spinner = self.spinner(&dep.name);
                let synced = project::sync(&self.engine, &package.root, dep, mode);
                drop(spinner);
                let synced = synced?;
                match &synced.action {
                    LockAction::Used => {}
                    LockAction::Created => self.shell.status(
                        "Locked",
                        format!("{} to {}", dep.name, short(&synced.stage)),
                    ),
                    LockAction::Replaced { reason } => self.shell.status(
                        "Relocked",
                        format!("{} to {} ({reason})", dep.name, short(&synced.stage)),
                    ),
                }
                if place {
                    let dest = package.root.join(&dep.out);
                    let how = self
                        .engine
                        .place(&synced.artifact, &dest)
                        .and_then(|how| {
                            dvc_project::gitignore(&dest, synced.artifact.is_dir()).map(|_| how)
                        })
                        .map_err(|e| e.with_dependency(&dep.name))?;
                    // The artifact is in place; a DVC cache we cannot fill
                    // only makes `dvc status` say "not in cache".
                    if let Err(e) = dvc_project::fill_dvc_cache(
                        self.engine.cache(),
                        &synced.artifact,
                        &package.root,
                    ) {
                        self.shell.warn(format!(
                            "dependency `{}`: could not add it to the DVC cache: {e}",
                            dep.name
                        ));
                    }
                    self.shell
                        .status("Pulled", format!("{} -> {} ({how:?})", dep.name, dep.out));
                } else {
                    self.shell.verbose(
                        "Fetched",
                        format!("{} ({})", dep.name, describe(&synced.artifact)),
                    );
                }
            }
        }
        Ok(0)
    }

    /// `cargo dvc get`.
    fn get(&self, url: &str, path: &str, out: Option<&str>, rev: Option<&str>) -> Result<i32> {
        let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
        let path_clean = path.trim_matches('/');
        let default_out = path_clean.rsplit('/').next().unwrap_or(path_clean);
        let out = out.unwrap_or(default_out);
        let repo = RepoSpec {
            url: url.to_string(),
            rev: rev.map(str::to_string),
            ..RepoSpec::default()
        };
        let (stage, artifact) = self.engine.resolve(&cwd, &repo, path_clean, out)?;
        let dest = cwd.join(out);
        self.engine.place(&artifact, &dest)?;
        self.shell.status(
            "Downloaded",
            format!(
                "{path_clean} at {} -> {out} ({})",
                short(&stage),
                describe(&artifact)
            ),
        );
        Ok(0)
    }

    /// `cargo dvc status`.
    fn status(&self, json: bool) -> Result<i32> {
        let mut rows = Vec::new();
        for package in self.packages()? {
            for dep in &package.manifest.deps {
                rows.push(self.dep_status(&package, dep)?);
            }
        }
        if json {
            let value = serde_json::Value::Array(rows.iter().map(StatusRow::to_json).collect());
            println!("{value:#}");
        } else if rows.is_empty() {
            self.shell.status("Status", "no data dependencies declared");
        } else {
            for row in &rows {
                println!("{}", row.to_line());
            }
        }
        Ok(0)
    }

    fn dep_status(&self, package: &Package, dep: &Dependency) -> Result<StatusRow> {
        let state = lock::read(&package.root, dep)?;
        let (lock_state, stage) = match &state {
            LockState::Missing => ("missing".to_string(), None),
            LockState::Fresh(l) => ("locked".to_string(), Some(&l.stage)),
            LockState::Stale { lock, reason } => (format!("stale: {reason}"), Some(&lock.stage)),
        };
        let cached = match stage {
            Some(s) => self.engine.cached(s)?.is_some(),
            None => false,
        };
        let latest = if self.engine.net().is_offline() {
            None
        } else {
            self.engine
                .database(&dep.url, &package.root)
                .and_then(|db| db.ls_remote(dep.rev.as_deref(), self.engine.net()))
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

    /// `cargo dvc check`.
    fn check(&self) -> Result<i32> {
        let mut bad = 0;
        for package in self.packages()? {
            for dep in &package.manifest.deps {
                match lock::read(&package.root, dep) {
                    Ok(LockState::Fresh(_)) => {
                        self.shell.verbose("Ok", &dep.name);
                    }
                    Ok(LockState::Missing) => {
                        bad += 1;
                        self.shell.error(format!(
                            "dependency `{}`: the lock `{}` is missing\n  help: run `cargo dvc update {}` and commit it",
                            dep.name,
                            dep.lock_path().display(),
                            dep.name
                        ));
                    }
                    Ok(LockState::Stale { reason, .. }) => {
                        bad += 1;
                        self.shell.error(format!(
                            "dependency `{}`: the lock is stale: {reason}\n  help: run `cargo dvc update {}` and commit the lock",
                            dep.name, dep.name
                        ));
                    }
                    Err(e) => {
                        bad += 1;
                        self.shell.error(e);
                    }
                }
            }
        }
        if bad == 0 {
            self.shell
                .status("Checked", "every lock agrees with its declaration");
            Ok(0)
        } else {
            Ok(FAILURE)
        }
    }

    /// Shows download progress for dependency `name` until the guard drops.
    fn spinner(&self, name: &str) -> Option<BarGuard> {
        self.bar.as_ref().map(|bar| bar.start(name))
    }
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

/// The dependencies named (all when `names` is empty); an unknown name is an error.
fn select_deps<'m>(manifest: &'m Manifest, names: &[String]) -> Result<Vec<&'m Dependency>> {
    if names.is_empty() {
        return Ok(manifest.deps.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            manifest.dep(n).ok_or_else(|| {
                let known: Vec<_> = manifest
                    .deps
                    .iter()
                    .map(|d| format!("`{}`", d.name))
                    .collect();
                Error::new(
                    ErrorKind::Manifest,
                    format!("no data dependency called `{n}`"),
                )
                .with_dependency(n)
                .with_help(if known.is_empty() {
                    "this package declares none; add one with `cargo dvc import`".to_string()
                } else {
                    format!("declared: {}", known.join(", "))
                })
            })
        })
        .collect()
}

/// A relative local URL typed in another folder, made relative to nothing
/// (absolute) so the crate root can use it; anything else as typed.
fn url_for_crate(url: &str, root: &Path) -> String {
    let is_local_relative =
        !url.contains("://") && !Path::new(url).is_absolute() && !looks_like_scp(url);
    if !is_local_relative {
        return url.to_string();
    }
    let Ok(cwd) = std::env::current_dir() else {
        return url.to_string();
    };
    let same = cwd.canonicalize().ok() == root.canonicalize().ok();
    if same {
        url.to_string()
    } else {
        let abs: PathBuf = cwd.join(url);
        abs.to_string_lossy().into_owned()
    }
}

/// `git@host:path`.
fn looks_like_scp(url: &str) -> bool {
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon < slash && colon > 1,
        (Some(colon), None) => colon > 1,
        _ => false,
    }
}

/// A dependency name from an output file name: its stem, lower-case, with
/// anything unusual turned into `-`.
fn default_name(out: &str) -> String {
    let file = out.rsplit('/').next().unwrap_or(out);
    let stem = match file.find('.') {
        Some(0) | None => file,
        Some(dot) => &file[..dot],
    };
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "data".to_string()
    } else {
        name
    }
}

fn short(stage: &ImportStage) -> &str {
    let lock = stage.repo.rev_lock.as_deref().unwrap_or("");
    &lock[..lock.len().min(7)]
}

fn rev_note(rev: Option<&str>) -> String {
    rev.map(|r| format!(" at {r}")).unwrap_or_default()
}

fn describe(artifact: &Artifact) -> String {
    match artifact {
        Artifact::File(f) => human_size(f.size),
        Artifact::Dir { files, size, .. } => {
            format!("{} files, {}", files.len(), human_size(*size))
        }
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A byte-counting progress bar on stderr, one dependency at a time.
struct Bar {
    current: Mutex<Option<indicatif::ProgressBar>>,
}

/// Clears the bar of one dependency when dropped.
struct BarGuard {
    bar: Arc<Bar>,
}

impl Bar {
    /// A bar when stderr is a terminal and `-q` is off; none when piped.
    fn for_terminal(shell: &Shell) -> Option<Arc<Bar>> {
        use std::io::IsTerminal;
        (shell.verbosity() != Verbosity::Quiet && std::io::stderr().is_terminal()).then(|| {
            Arc::new(Bar {
                current: Mutex::new(None),
            })
        })
    }

    fn start(self: &Arc<Self>, name: &str) -> BarGuard {
        let bar = indicatif::ProgressBar::new_spinner().with_message(name.to_string());
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner:.green} {msg}: {bytes} ({binary_bytes_per_sec}, {elapsed})",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(100));
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
        BarGuard {
            bar: Arc::clone(self),
        }
    }
}

impl Progress for Bar {
    fn received(&self, bytes: u64) {
        if let Some(bar) = &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            bar.inc(bytes);
        }
    }
}

impl Drop for BarGuard {
    fn drop(&mut self) {
        if let Some(bar) = self
            .bar
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_files() {
        assert_eq!(default_name("models/classifier.onnx"), "classifier");
        assert_eq!(default_name("Data Set.tar.gz"), "data-set");
        assert_eq!(default_name(".hidden"), ".hidden".replace('.', "-"));
    }

    #[test]
    fn scp_urls() {
        assert!(looks_like_scp("git@github.com:acme/r.git"));
        assert!(!looks_like_scp("../registry"));
        assert!(!looks_like_scp("C:/x"));
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(1536), "1.5 KiB");
    }
}
