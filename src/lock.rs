//! Locks: the `<out>.dvc` import stage of each dependency.
//!
//! Reads a dependency's lock, decides whether it still matches its
//! declaration ([`LockState`]), builds the `repo` part a declaration implies
//! ([`repo_spec`]) and writes locks atomically (temp file + rename beside the
//! lock). A new lock is exactly what `dvc import` writes; an updated one is
//! what `dvc update` writes, keeping `meta`, `desc` and comments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::confined::Dir;
use crate::engine::UrlSpec;
use crate::error::{Error, ErrorKind, Result};
use crate::format::stage::{
    ImportStage, ImportUpdate, ImportUrlStage, LockStage, NameOrMap, RepoSpec, update_import_text,
    update_import_url_text,
};
use crate::format::yaml::{Map, Value};
use crate::manifest::{
    ConfigSpec, ConfigValue, Dependency, Import, RegistryImport, RemoteSpec, Scalar, UrlImport,
};
use crate::redact;

/// What is on disk for one dependency.
#[derive(Debug, Clone, PartialEq)]
pub enum LockState {
    /// No lock yet.
    Missing,
    /// A lock that matches the declaration.
    Fresh(Lock),
    /// A lock whose declaration changed since (`reason` says how).
    Stale {
        /// The lock as it is.
        lock: Lock,
        /// What differs, e.g. "`rev` is `v2` in Cargo.toml but `v1` in the lock".
        reason: String,
    },
}

/// A lock file read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Lock {
    /// The stage it holds.
    pub stage: LockStage,
    /// Its text (kept so that an update preserves `meta`, `desc`, comments).
    pub text: String,
}

/// The absolute path of `dep`'s lock in the crate at `root`.
pub fn lock_path(root: &Path, dep: &Dependency) -> PathBuf {
    root.join(dep.lock_path())
}

/// The lock's output path, relative to the lock's folder: the last part of `out`.
pub fn out_name(dep: &Dependency) -> &str {
    dep.out.rsplit('/').next().unwrap_or(&dep.out)
}

/// Reads `dep`'s lock and compares it with the declaration. The lock is
/// read below the crate root without following a symlink: a lock in a
/// symlinked folder, or a symlink itself, is an [`ErrorKind::Symlink`]
/// error (its output would be written there too).
pub fn read(root: &Path, dep: &Dependency) -> Result<LockState> {
    let text = (|| {
        let crate_root = Dir::open_root(root)?;
        let Some((dir, name)) = crate_root.parent_of(&dep.lock_path(), false)? else {
            return Ok(None);
        };
        dir.read_to_string(&name)
    })()
    .map_err(|e| e.with_dependency(&dep.name))?;
    let Some(text) = text else {
        return Ok(LockState::Missing);
    };
    let stage = LockStage::parse(&text).map_err(|e| {
        e.context(format!("lock `{}`", dep.lock_path().display()))
            .with_dependency(&dep.name)
            .with_help(format!(
                "fix the file, or delete it and run `cargo dvc update {}` to write it anew",
                dep.name
            ))
    })?;
    let lock = Lock { stage, text };
    Ok(match mismatch(root, dep, &lock.stage) {
        None => LockState::Fresh(lock),
        Some(reason) => LockState::Stale { lock, reason },
    })
}

/// How the lock differs from the declaration, if it does, in words:
/// "`rev` is `v2` in Cargo.toml but `v1` in the lock".
/// `root` is the crate root (a URL dependency's local path is recorded
/// relative to the lock when it lies inside the crate).
pub fn mismatch(root: &Path, dep: &Dependency, stage: &LockStage) -> Option<String> {
    if stage.out().path != out_name(dep) {
        return Some(format!(
            "`out` is {} in Cargo.toml but {} in the lock",
            quoted(out_name(dep)),
            quoted(&stage.out().path)
        ));
    }
    match (&dep.import, stage) {
        (Import::Registry(decl), LockStage::Import(stage)) => registry_mismatch(decl, stage),
        (Import::Registry(_), LockStage::ImportUrl(_)) => Some(
            "Cargo.toml declares a registry import (`path`), but the lock is an import-url stage"
                .to_string(),
        ),
        (Import::Url(_), LockStage::Import(_)) => Some(
            "Cargo.toml declares a URL import (no `path`), but the lock is a registry import"
                .to_string(),
        ),
        (Import::Url(decl), LockStage::ImportUrl(stage)) => url_mismatch(root, dep, decl, stage),
    }
}

fn url_mismatch(
    root: &Path,
    dep: &Dependency,
    decl: &UrlImport,
    stage: &ImportUrlStage,
) -> Option<String> {
    let want = url_path(root, dep, decl);
    if stage.dep.path != want {
        return Some(format!(
            "`url` is {} in Cargo.toml but {} in the lock",
            quoted(&redact::url(&want)),
            quoted(&redact::url(&stage.dep.path))
        ));
    }
    // Options are compared as a set: their order in the lock is the order
    // they were first given, which a reordered table does not change.
    let sorted = |m: &Map| {
        let mut v: Vec<(String, String)> = m
            .iter()
            .map(|(k, v)| (k.to_string(), format!("{v:?}")))
            .collect();
        v.sort();
        v
    };
    let want = fs_config_map(decl);
    if sorted(&want) != sorted(&stage.dep.fs_config) {
        let show = |m: &Map| match m.is_empty() {
            true => "not set".to_string(),
            false => name_or_map(&Some(NameOrMap::Map(m.clone()))),
        };
        return Some(format!(
            "`fs_config` is {} in Cargo.toml but {} in the lock",
            show(&want),
            show(&stage.dep.fs_config)
        ));
    }
    None
}

/// The folder of `dep`'s lock (and artifact), relative to the crate root
/// (`""` for the root itself).
pub fn lock_dir(dep: &Dependency) -> &str {
    dep.out.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The folder a lock's relative paths start from: the crate root for a
/// registry import (its `url`, its `config` file), the lock's own folder
/// for a URL import's source (as DVC reads a stage's paths from its folder).
pub fn source_base(root: &Path, dep: &Dependency) -> PathBuf {
    match &dep.import {
        Import::Registry(_) => root.to_path_buf(),
        Import::Url(_) => root.join(lock_dir(dep)),
    }
}

/// The `deps[0].path` `dvc import-url` records for a URL dependency (run
/// from the crate root `root`): a URL as written; a local path inside the
/// crate relative to the lock's folder, normalised (as DVC does for a path
/// inside its project); one outside the crate as written (a relative one
/// prefixed with `../` per folder of the lock, so that it names the same
/// file from there, where DVC looks for it). A `file://` URL is recorded as
/// its local path: DVC 3 cannot read `file://` dependencies.
pub fn url_path(root: &Path, dep: &Dependency, decl: &UrlImport) -> String {
    let url = &decl.url;
    let local = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("file") => {
            crate::remote::percent_decode(rest.strip_prefix("localhost").unwrap_or(rest))
        }
        Some(_) => return url.clone(),
        None => url.clone(),
    };
    let lock_dir: Vec<&str> = lock_dir(dep).split('/').filter(|c| !c.is_empty()).collect();
    let inside = if Path::new(&local).is_absolute() {
        match Path::new(&local).strip_prefix(root) {
            Ok(rel) => rel.to_string_lossy().replace('\\', "/"),
            Err(_) => return local,
        }
    } else {
        local.clone()
    };
    // Lexically normalised, from the crate root.
    let mut parts: Vec<&str> = Vec::new();
    for c in inside.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    // Outside the crate: as written, from the lock's folder.
                    return format!("{}{local}", "../".repeat(lock_dir.len()));
                }
            }
            other => parts.push(other),
        }
    }
    let common = lock_dir
        .iter()
        .zip(&parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut rel: Vec<&str> = vec![".."; lock_dir.len() - common];
    rel.extend(&parts[common..]);
    rel.join("/")
}

/// `fs_config` as the lock records it: the declaration's options, in the
/// order written, every value a string (as `--fs-config K=V` gives it).
pub fn fs_config_map(decl: &UrlImport) -> Map {
    decl.fs_config
        .iter()
        .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
        .collect()
}

/// What the engine needs to resolve a URL dependency (of the crate at
/// `root`), or fetch its lock.
pub fn url_spec(root: &Path, dep: &Dependency, decl: &UrlImport) -> UrlSpec {
    UrlSpec {
        path: url_path(root, dep, decl),
        fs_config: fs_config_map(decl),
        sha256: decl.sha256,
    }
}

fn registry_mismatch(dep: &RegistryImport, stage: &ImportStage) -> Option<String> {
    let want = without_secrets(&repo_spec(dep));
    let have = &without_secrets(&stage.repo);
    let differs = |what: &str, decl: String, lock: String| {
        Some(format!(
            "`{what}` is {decl} in Cargo.toml but {lock} in the lock"
        ))
    };
    if have.url != want.url {
        return differs(
            "url",
            quoted(&redact::url(&want.url)),
            quoted(&redact::url(&have.url)),
        );
    }
    if stage.dep_path != dep.path {
        return differs("path", quoted(&dep.path), quoted(&stage.dep_path));
    }
    if have.rev != want.rev {
        return differs(
            "rev",
            optional(want.rev.as_deref()),
            optional(have.rev.as_deref()),
        );
    }
    if have.remote != want.remote {
        return differs(
            "remote",
            name_or_map(&want.remote),
            name_or_map(&have.remote),
        );
    }
    if have.config != want.config {
        return differs(
            "config",
            name_or_map(&want.config),
            name_or_map(&have.config),
        );
    }
    // A lock without `rev_lock` (DVC reads it at `rev`), or without a hash
    // (`dvc import --no-download`), is still the user's lock: used as it is.
    None
}

/// `` `text` ``.
fn quoted(text: &str) -> String {
    format!("`{text}`")
}

/// `` `value` ``, or "not set".
fn optional(value: Option<&str>) -> String {
    value.map_or_else(|| "not set".to_string(), quoted)
}

/// `` `name` ``, `` `{ url = "s3://b", region = "eu" }` ``, or "not set".
fn name_or_map(value: &Option<NameOrMap>) -> String {
    fn inline(value: &Value) -> String {
        match value {
            Value::Null => "null".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.clone(),
            Value::Str(s) => format!("{s:?}"),
            Value::Seq(items) => {
                let items: Vec<_> = items.iter().map(inline).collect();
                format!("[{}]", items.join(", "))
            }
            Value::Map(map) => {
                let items: Vec<_> = map
                    .iter()
                    .map(|(k, v)| format!("{k} = {}", inline(v)))
                    .collect();
                format!("{{ {} }}", items.join(", "))
            }
        }
    }
    match value {
        None => "not set".to_string(),
        Some(NameOrMap::Name(name)) => quoted(name),
        Some(NameOrMap::Map(map)) => quoted(&inline(&Value::Map(map.clone()))),
    }
}

/// The `repo` mapping `dvc import` would write for `dep` (without `rev_lock`).
pub fn repo_spec(dep: &RegistryImport) -> RepoSpec {
    RepoSpec {
        url: dep.url.clone(),
        rev: dep.rev.clone(),
        rev_lock: None,
        config: dep.config.as_ref().map(|c| match c {
            ConfigSpec::File(f) => NameOrMap::Name(f.clone()),
            ConfigSpec::Table(t) => NameOrMap::Map(config_map(t)),
        }),
        remote: dep.remote.as_ref().map(|r| match r {
            RemoteSpec::Name(n) => NameOrMap::Name(n.clone()),
            RemoteSpec::Options(o) => NameOrMap::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), scalar_value(v)))
                    .collect(),
            ),
        }),
    }
}

/// `repo` as a lock records it: no credentials in `url`, and no secret
/// options ([`redact::SECRET_OPTIONS`]) in `remote` or `config`, at any
/// depth. Locks are committed and shared; the secrets stay in the
/// declaration and are taken from it when fetching (see [`with_secrets`]).
/// A lock and a declaration that differ only in secrets agree.
pub fn without_secrets(repo: &RepoSpec) -> RepoSpec {
    fn strip(map: &Map) -> Map {
        map.iter()
            .filter(|(k, _)| !redact::is_secret_option(k))
            .map(|(k, v)| {
                let v = match v {
                    Value::Map(m) => Value::Map(strip(m)),
                    other => other.clone(),
                };
                (k.to_string(), v)
            })
            .collect()
    }
    let strip_nm = |nm: &Option<NameOrMap>| {
        nm.as_ref().map(|nm| match nm {
            NameOrMap::Map(m) => NameOrMap::Map(strip(m)),
            name => name.clone(),
        })
    };
    RepoSpec {
        url: redact::strip_userinfo(&repo.url),
        rev: repo.rev.clone(),
        rev_lock: repo.rev_lock.clone(),
        config: strip_nm(&repo.config),
        remote: strip_nm(&repo.remote),
    }
}

/// The lock `stage` of a fresh lock with the declaration's secrets (the
/// registry's credentials and secret options, which the lock leaves out):
/// what to fetch with.
pub fn with_secrets(dep: &Dependency, stage: &LockStage) -> LockStage {
    match (&dep.import, stage) {
        (Import::Registry(decl), LockStage::Import(stage)) => LockStage::Import(ImportStage {
            repo: RepoSpec {
                rev_lock: stage.repo.rev_lock.clone(),
                ..repo_spec(decl)
            },
            ..stage.clone()
        }),
        _ => stage.clone(),
    }
}

fn config_map(table: &BTreeMap<String, ConfigValue>) -> Map {
    table
        .iter()
        .map(|(k, v)| {
            let v = match v {
                ConfigValue::Scalar(s) => scalar_value(s),
                ConfigValue::Table(t) => Value::Map(config_map(t)),
            };
            (k.clone(), v)
        })
        .collect()
}

fn scalar_value(s: &Scalar) -> Value {
    match s {
        Scalar::String(s) => Value::Str(s.clone()),
        Scalar::Bool(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Int(*i),
        Scalar::Float(x) => Value::Float(x.to_string()),
    }
}

/// The text of the lock after resolving: an update of `old` (keeping its
/// annotations) when there is one of the same source, else a fresh stage.
pub fn render(stage: &LockStage, old: Option<&Lock>) -> Result<String> {
    let Some(old) = old else {
        return Ok(stage.to_yaml_string());
    };
    let text = match (stage, &old.stage) {
        (LockStage::Import(new), LockStage::Import(was))
            if was.repo.url == new.repo.url && was.dep_path == new.dep_path =>
        {
            let update = ImportUpdate {
                rev: new.repo.rev.clone(),
                rev_lock: new.repo.rev_lock.clone().unwrap_or_default(),
                out: new.out.clone(),
            };
            update_import_text(&old.text, &update)?
        }
        (LockStage::ImportUrl(new), LockStage::ImportUrl(was))
            if was.dep.path == new.dep.path && was.dep.fs_config == new.dep.fs_config =>
        {
            update_import_url_text(&old.text, new)?
        }
        _ => return Ok(stage.to_yaml_string()),
    };
    // `dvc update` cannot drop a `rev`, nor change `remote`/`config`: when
    // those moved, the declaration wins and the stage is new.
    let reparsed = LockStage::parse(&text)?;
    if reparsed == *stage {
        Ok(text)
    } else {
        Ok(stage.to_yaml_string())
    }
}

/// Writes `text` as `dep`'s lock in the crate at `root`, atomically, never
/// through a symlink (see `crate::confined`; a new lock gets the user's
/// umask, a rewritten one keeps its mode).
pub fn write(root: &Path, dep: &Dependency, text: &str) -> Result<()> {
    let crate_root = Dir::open_root(root).map_err(|e| e.with_dependency(&dep.name))?;
    let mut batch = crate::confined::Batch::new();
    batch.write(&crate_root, dep.lock_path(), text);
    batch.commit().map_err(|e| e.with_dependency(&dep.name))
}

/// Replaces the file at `path` with `bytes` atomically: a temporary file in
/// the same folder renamed over it, keeping the file's mode (a new file
/// gets the user's umask). `path`'s folder is taken as given; a symlink at
/// `path` itself is refused, never replaced or written through. (No fsync,
/// as Cargo writes `Cargo.lock`: on ext4 syncing one small file commits the
/// whole journal; the rename keeps the file whole, and a crash at worst
/// loses the new text.)
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::new(ErrorKind::Io, format!("`{}` names no file", path.display())))?;
    Dir::create_root(dir)?.write_atomic(name, bytes)
}

/// The error for a lock that may not be written.
pub fn locked_error(dep: &Dependency, why: &str) -> Error {
    Error::new(
        ErrorKind::Locked,
        format!("{why}, and locks may not be written here"),
    )
    .with_dependency(&dep.name)
    .with_help(format!(
        "run `cargo dvc update {}` (without --locked / DVC_BUILD_LOCKED) and commit `{}`",
        dep.name,
        dep.lock_path().display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    fn dep(extra: &str) -> Dependency {
        Manifest::parse(&format!(
            "[package.metadata.dvc.deps.m]\nurl = \"../r\"\npath = \"m.bin\"\n{extra}"
        ))
        .unwrap()
        .deps
        .remove(0)
    }

    #[test]
    fn url_paths_are_recorded_as_dvc_import_url_records_them() {
        let root = Path::new("/crate");
        let path = |url: &str, out: &str| {
            let m = Manifest::parse(&format!(
                "[package.metadata.dvc.deps.m]\nurl = {url:?}\nout = {out:?}\n"
            ))
            .unwrap();
            let Import::Url(decl) = &m.deps[0].import else {
                panic!()
            };
            url_path(root, &m.deps[0], decl)
        };
        assert_eq!(path("https://h/m.bin", "models/m.bin"), "https://h/m.bin");
        assert_eq!(path("data/raw.txt", "models/raw.txt"), "../data/raw.txt");
        assert_eq!(path("./data//raw.txt", "raw.txt"), "data/raw.txt");
        assert_eq!(path("models/src/a.txt", "models/a.txt"), "src/a.txt");
        assert_eq!(path("/crate/data/x", "a/b/x"), "../../data/x");
        assert_eq!(path("/elsewhere/x", "a/x"), "/elsewhere/x");
        assert_eq!(path("file:///elsewhere/a%20b", "a/x"), "/elsewhere/a b");
        assert_eq!(path("../ext/./x", "x"), "../ext/./x");
        assert_eq!(path("../ext/x", "a/x"), "../../ext/x");
    }

    /// Reasons read as sentences: no `Some("v1")`, no `None`.
    #[test]
    fn mismatch_reasons_are_plain_words() {
        let locked_at = |extra: &str| {
            let mut stage = ImportStage {
                frozen: true,
                dep_path: "m.bin".into(),
                repo: match &dep(extra).import {
                    Import::Registry(r) => repo_spec(r),
                    Import::Url(u) => panic!("{u:?}"),
                },
                out: crate::format::stage::OutInfo {
                    path: "m.bin".into(),
                    md5: Some(crate::hash::Md5::of(b"")),
                    is_dir: false,
                    size: Some(0),
                    nfiles: None,
                    isexec: false,
                },
            };
            stage.repo.rev_lock = Some("0".repeat(40));
            LockStage::Import(stage)
        };
        let root = Path::new("/crate");
        let reason = |decl: &str, lock: &str| mismatch(root, &dep(decl), &locked_at(lock)).unwrap();
        assert_eq!(
            reason("rev = \"v2\"", "rev = \"v1\""),
            "`rev` is `v2` in Cargo.toml but `v1` in the lock"
        );
        assert_eq!(
            reason("", "rev = \"v1\""),
            "`rev` is not set in Cargo.toml but `v1` in the lock"
        );
        assert_eq!(
            reason(
                "remote = { url = \"s3://b\", region = \"eu\" }",
                "remote = \"store\""
            ),
            "`remote` is `{ region = \"eu\", url = \"s3://b\" }` in Cargo.toml but `store` in the lock"
        );
        assert!(mismatch(root, &dep("rev = \"v1\""), &locked_at("rev = \"v1\"")).is_none());
    }
}
