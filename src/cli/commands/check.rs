//! `cargo dvc check`: fail unless every lock agrees with its declaration
//! (for CI). Writes nothing and uses no network.
//!
//! Each lock must be a well-formed import stage whose own checksum (its
//! `md5:` line, DVC's stage hash) matches its content, and match its
//! declaration; each problem says which command fixes it. It also warns,
//! without failing, about what would break the crate once published: a lock
//! the package leaves out (asking `cargo package --list`, then naming the
//! rule: `include`, git's ignore rules, `exclude`), a `url` (registry or URL
//! dependency) or `remote = { url }` that is a local path; and about
//! orphaned locks (import stages no declaration owns).

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::args::{ManifestPath, PackageSelection};
use crate::cli::context::Context;
use crate::cli::json::{self, CheckReport, CheckWarning, DependencyCheck, LockStatus};
use crate::cli::workspace::Package;
use crate::error::{Error, ErrorKind, Result};
use crate::format::stage::{LockStage, Stage};
use crate::lock::{self, LockState};
use crate::manifest::{Dependency, Import, RemoteSpec};

use super::label;

/// `cargo dvc check`'s arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
Exit status: 0 when every lock agrees with its declaration, 1 when one does
not (each problem is printed with the command that fixes it), 101 on an
error. Warnings (packaging, orphaned locks) do not change it.")]
pub struct CheckArgs {
    /// Print the result as JSON (one line, format version 1) on stdout.
    #[arg(long)]
    pub json: bool,
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
    let mut checks = Vec::new();
    let mut warnings = Vec::new();
    for package in &packages {
        for dep in &package.manifest.deps {
            let name = label(package, dep, many);
            let check = check_lock(package, dep);
            match (&check.reason, &check.help) {
                (Some(reason), help) => {
                    let mut e =
                        Error::new(ErrorKind::Locked, reason.clone()).with_dependency(&name);
                    if let Some(help) = help {
                        e = e.with_help(help.clone());
                    }
                    shell.error(format_args!("{e:?}"));
                }
                (None, _) => shell.detail("Ok", &name),
            }
            checks.push(check);
        }
        warnings.extend(packaging_warnings(ctx, package));
        warnings.extend(orphaned_locks(package));
    }
    for w in &warnings {
        let about = match &w.name {
            Some(name) if many => format!("dependency `{}/{name}`: ", w.package),
            Some(name) => format!("dependency `{name}`: "),
            None if many => format!("package `{}`: ", w.package),
            None => String::new(),
        };
        let help = w
            .help
            .as_ref()
            .map(|h| format!("\n  help: {h}"))
            .unwrap_or_default();
        shell.warn(format_args!("{about}{}{help}", w.message));
    }
    let bad = checks
        .iter()
        .filter(|c| c.lock != LockStatus::Fresh)
        .count();
    if bad == 0 {
        shell.status(
            "Checked",
            match checks.len() {
                0 => "no data dependencies declared".to_string(),
                1 => "the lock agrees with its declaration".to_string(),
                n => format!("all {n} locks agree with their declarations"),
            },
        );
    }
    if args.json {
        shell.print_stdout(json::to_line(&CheckReport {
            version: json::FORMAT_VERSION,
            ok: bad == 0,
            dependencies: checks,
            warnings,
        }));
    }
    Ok(if bad == 0 { 0 } else { crate::cli::FAILURE })
}

/// One dependency's lock: well formed, its own checksum right, fresh.
fn check_lock(package: &Package, dep: &Dependency) -> DependencyCheck {
    let lock_path = dep.lock_path().to_string_lossy().into_owned();
    let mut check = DependencyCheck {
        package: package.manifest.package.clone(),
        name: dep.name.clone(),
        lock_path: lock_path.clone(),
        lock: LockStatus::Fresh,
        reason: None,
        help: None,
    };
    let rewrite = format!(
        "run `cargo dvc fetch {}` (or `cargo build`) to write it from the declaration, and commit it; \
         if the declaration cannot be resolved (a typo in `path`, an unknown `rev`), that says so",
        dep.name
    );
    let restore = format!(
        "restore it from git (`git checkout -- {lock_path}`), or delete it and run `cargo dvc fetch {}` \
         to write it anew from the declaration",
        dep.name
    );
    match lock::read(&package.root, dep) {
        Ok(LockState::Missing) => {
            check.lock = LockStatus::Missing;
            check.reason = Some(format!("the lock `{lock_path}` is missing"));
            check.help = Some(rewrite);
        }
        Ok(LockState::Stale { reason, .. }) => {
            check.lock = LockStatus::Stale;
            check.reason = Some(format!(
                "the lock is stale: {reason} (`Cargo.toml` changed since it was written)"
            ));
            check.help = Some(format!(
                "{rewrite}; or, to move the pin on purpose, `cargo dvc update {}`",
                dep.name
            ));
        }
        Ok(LockState::Fresh(lock)) => {
            if let Some(problem) = checksum_problem(&lock.text) {
                check.lock = LockStatus::Invalid;
                check.reason = Some(format!("the lock `{lock_path}` {problem}"));
                check.help = Some(restore);
            }
        }
        Err(e) => {
            check.lock = LockStatus::Invalid;
            check.reason = Some(format!(
                "the lock `{lock_path}` is not a valid import stage: {}",
                e.message_with_causes()
            ));
            check.help = Some(restore);
        }
    }
    check
}

/// Why a lock's own checksum (DVC's stage `md5:`) does not vouch for its
/// content, if it does not: a hand edit or a merge changed the lock after
/// it was written (the build would fetch what the edited text says). A lock
/// without the line (DVC writes it; older tools may not) is not checked.
fn checksum_problem(text: &str) -> Option<String> {
    let stage = match Stage::parse(text) {
        Ok(stage) => stage,
        Err(e) => return Some(format!("cannot be read: {}", e.message_with_causes())),
    };
    match &stage.md5 {
        None => None,
        Some(recorded) if *recorded != stage.compute_md5().to_hex() => Some(format!(
            "was changed after it was written: its checksum (`md5: {recorded}`) does not match its content \
             (a hand edit, or a merge?)"
        )),
        Some(_) => None,
    }
}

/// What breaks the crate once published: a lock left out of the package, a
/// registry at a local path. Nothing for a package with `publish = false`.
fn packaging_warnings(ctx: &Context, package: &Package) -> Vec<CheckWarning> {
    let mut warnings = Vec::new();
    if package.manifest.deps.is_empty() {
        return warnings;
    }
    let table = package_table(&package.manifest_path);
    if !publishable(table.as_ref()) {
        return warnings;
    }
    let warn = |dep: Option<&Dependency>, message: String, help: &str| CheckWarning {
        package: package.manifest.package.clone(),
        name: dep.map(|d| d.name.clone()),
        message,
        help: Some(help.to_string()),
    };
    for dep in &package.manifest.deps {
        let (what, url, help) = match &dep.import {
            Import::Registry(r) => (
                "registry",
                r.url.as_str(),
                "declare the registry's git URL (`https://...`, `ssh://...`) before publishing, or `publish = false`",
            ),
            Import::Url(u) => (
                "file",
                u.url.as_str(),
                "declare a URL others can reach (`https://...`, `s3://...`) before publishing, or `publish = false`",
            ),
        };
        if is_local_path(url) {
            warnings.push(warn(
                Some(dep),
                format!(
                    "`url = \"{url}\"` is a local path: a build of the published crate, on another machine, cannot reach that {what}"
                ),
                help,
            ));
        }
        if let Import::Registry(r) = &dep.import
            && let Some(RemoteSpec::Options(options)) = &r.remote
            && let Some(remote_url) = options.get("url").map(|v| v.to_string())
            && is_local_path(&remote_url)
        {
            warnings.push(warn(
                Some(dep),
                format!(
                    "`remote = {{ url = \"{remote_url}\" }}` is a local path: a build of the published crate, on another machine, cannot reach that remote"
                ),
                "give the remote's URL (`s3://...`, `https://...`) or a remote name of the registry before publishing, or `publish = false`",
            ));
        }
    }
    match package_files(&package.manifest_path) {
        Ok(files) => {
            for dep in &package.manifest.deps {
                let lock = dep.lock_path();
                // A missing lock is reported above, as an error.
                if files.iter().any(|f| f == &lock) || !package.root.join(&lock).is_file() {
                    continue;
                }
                let (cause, help) = excluded_because(package, table.as_ref(), &lock);
                warnings.push(CheckWarning {
                    package: package.manifest.package.clone(),
                    name: Some(dep.name.clone()),
                    message: format!(
                        "the lock `{}` is not in the package: {cause}; a build of the published crate \
                         fails without it (a build never writes a lock in a package from a registry)",
                        lock.display()
                    ),
                    help: Some(help),
                });
            }
        }
        Err(e) => ctx.shell().detail(
            "Skipped",
            format!(
                "the package check of `{}`: {}",
                package.manifest.package,
                e.message_with_causes()
            ),
        ),
    }
    warnings
}

/// Why `cargo package` leaves out `lock` (which exists): the package's
/// `include`, else git's ignore rules, else its `exclude`, as cargo applies
/// them (an `include` list replaces the rest; git-ignored files are left
/// out unless git tracks them). Returns the cause and what to do.
fn excluded_because(
    package: &Package,
    table: Option<&toml::Table>,
    lock: &Path,
) -> (String, String) {
    let set = |key: &str| table.is_some_and(|p| p.contains_key(key));
    let shown = lock.display();
    if set("include") {
        return (
            "`include` in [package] of `Cargo.toml` does not cover it".to_string(),
            format!("add `\"{shown}\"` (or `\"*.dvc\"`) to `include`"),
        );
    }
    let tracked = crate::git::tracked(&package.root, lock).is_some_and(|t| !t.is_empty());
    if !tracked && crate::git::ignores(&package.root, lock.as_os_str(), false) == Some(true) {
        return (
            "git ignores it (cargo leaves out what git ignores)".to_string(),
            format!(
                "commit it with `git add -f {shown}`, or change the rule `git check-ignore -v {shown}` shows"
            ),
        );
    }
    if set("exclude") {
        return (
            "`exclude` in [package] of `Cargo.toml` covers it".to_string(),
            "take it out of `exclude` (a pattern there matches it)".to_string(),
        );
    }
    (
        "`cargo package --list` leaves it out".to_string(),
        "make `cargo package --list` list it, and commit it".to_string(),
    )
}

/// The `[package]` table of the manifest at `manifest_path` (`None` when it
/// cannot be read or parsed, or has none).
fn package_table(manifest_path: &Path) -> Option<toml::Table> {
    let text = std::fs::read_to_string(manifest_path).ok()?;
    let mut doc = text.parse::<toml::Table>().ok()?;
    match doc.remove("package")? {
        toml::Value::Table(package) => Some(package),
        _ => None,
    }
}

/// `false` for `publish = false` (or an empty registry list) in `package`.
fn publishable(package: Option<&toml::Table>) -> bool {
    match package.and_then(|p| p.get("publish")) {
        Some(toml::Value::Boolean(false)) => false,
        Some(toml::Value::Array(registries)) => !registries.is_empty(),
        _ => true,
    }
}

/// A `url` that names a file or folder on this machine.
fn is_local_path(url: &str) -> bool {
    !url.contains("://") && !super::import::looks_like_scp(url) || url.starts_with("file://")
}

/// The files `cargo package --list` would put in the package, relative to
/// the crate root.
fn package_files(manifest_path: &Path) -> Result<Vec<PathBuf>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "package",
            "--list",
            "--allow-dirty",
            "--offline",
            "--manifest-path",
        ])
        .arg(manifest_path)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            Error::new(ErrorKind::Io, "cannot run `cargo package --list`").with_source(e)
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::new(
            ErrorKind::Manifest,
            format!(
                "`cargo package --list` failed: {}",
                stderr
                    .lines()
                    .find(|l| l.starts_with("error"))
                    .unwrap_or(stderr.trim())
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect())
}

/// Import stages in the crate that no declaration owns (left behind by a
/// hand-removed declaration or a changed `out`).
pub fn orphaned_locks(package: &Package) -> Vec<CheckWarning> {
    let owned: Vec<PathBuf> = package
        .manifest
        .deps
        .iter()
        .map(|d| d.lock_path())
        .collect();
    let mut found = Vec::new();
    find_dvc_files(&package.root, &package.root, 0, &mut found);
    found.sort();
    found
        .into_iter()
        .filter(|rel| !owned.contains(rel))
        .filter(|rel| {
            std::fs::read_to_string(package.root.join(rel))
                .ok()
                .is_some_and(|text| LockStage::parse(&text).is_ok())
        })
        .map(|rel| CheckWarning {
            package: package.manifest.package.clone(),
            name: None,
            message: format!(
                "`{}` is an import stage no declaration in Cargo.toml owns (an orphaned lock)",
                rel.display()
            ),
            help: Some(
                "delete it (and its `.gitignore` entry) if the dependency is gone, or declare it again; \
                 `cargo dvc remove NAME` removes a declaration with its lock"
                    .to_string(),
            ),
        })
        .collect()
}

/// `.dvc` files under `dir`, relative to `root`; not in `target/`, hidden
/// folders or other packages, at most 8 levels down.
fn find_dvc_files(root: &Path, dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let nested_package = path.join("Cargo.toml").is_file();
            if depth < 8 && !name.starts_with('.') && name != "target" && !nested_package {
                find_dvc_files(root, &path, depth + 1, out);
            }
        } else if kind.is_file()
            && name.ends_with(".dvc")
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_path_buf());
        }
    }
}
