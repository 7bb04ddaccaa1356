//! `[package.metadata.dvc]`: the data dependencies a crate declares.
//!
//! Parses a `Cargo.toml` (as text) into a [`Manifest`]: one [`Dependency`] per
//! `[package.metadata.dvc.deps.NAME]` table, validated. Errors name the exact
//! key (`package.metadata.dvc.deps.classifier.url: missing`), unknown keys are
//! rejected with a "did you mean" hint, and an `out` that would leave the
//! crate is refused. Names must make a Rust identifier (`DVC_<NAME>`, the
//! generated constant), and no two may make the same one. Every error is
//! reported at once, each with the line and column of the key it is about.
//! Nothing here touches the network or the file system.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::hash::Sha256;

/// The keys a dependency table may hold.
const DEP_KEYS: &[&str] = &[
    "url",
    "path",
    "rev",
    "out",
    "remote",
    "config",
    "fs_config",
    "sha256",
    "feature",
    "embed",
];
/// The keys only a registry import (with `path`) may hold.
const REGISTRY_KEYS: &[&str] = &["rev", "remote", "config"];
/// The keys only a URL import (without `path`) may hold.
const URL_KEYS: &[&str] = &["fs_config", "sha256"];
/// The keys `[package.metadata.dvc]` may hold.
const DVC_KEYS: &[&str] = &["deps"];

/// The data dependencies of one package.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Manifest {
    /// The package's name, from `[package] name` (empty for a virtual manifest).
    pub package: String,
    /// The declared dependencies, in name order.
    pub deps: Vec<Dependency>,
}

/// One `[package.metadata.dvc.deps.NAME]` declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    /// The table's key: the dependency's name.
    pub name: String,
    /// Where the artifact goes, relative to the crate root (`/`-separated).
    pub out: String,
    /// What is imported, and from where.
    pub import: Import,
    /// `feature = "NAME"`: a feature of the declaring crate; the build
    /// fetches and exports this dependency only when it is on.
    pub feature: Option<String>,
    /// `embed = true`: the generated `dvc_deps.rs` embeds the bytes (in its
    /// `bytes` module); otherwise only the path is generated, and rustc
    /// never reads the artifact.
    pub embed: bool,
}

/// The two kinds of data dependency, as DVC's two import commands.
#[derive(Debug, Clone, PartialEq)]
pub enum Import {
    /// `dvc import`: a path inside a DVC registry (a git repository), pinned
    /// to a commit.
    Registry(RegistryImport),
    /// `dvc import-url`: one file or directory named by a URL (no registry),
    /// pinned by what its source says about it (ETag, checksum, MD5).
    Url(UrlImport),
}

/// A declaration with `path`: an artifact of a DVC registry.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryImport {
    /// Git URL or local path of the source DVC project, as written.
    pub url: String,
    /// File or directory inside the source project (`/`-separated), as
    /// written (`dir/`, `/data`, `.` too): the lock records it so.
    pub path: String,
    /// Branch, tag or commit; `None` means the remote's default branch.
    pub rev: Option<String>,
    /// A remote of the source project to use instead of its default.
    pub remote: Option<RemoteSpec>,
    /// Configuration merged over the source project's `.dvc/config`.
    pub config: Option<ConfigSpec>,
}

impl RegistryImport {
    /// `path` as a lookup key in the source repository: normal form, no
    /// leading or trailing `/`, `""` for the whole repository (`.`).
    pub fn source_path(&self) -> String {
        source_lookup_path(&self.path).unwrap_or_else(|_| self.path.clone())
    }
}

/// A declaration without `path`: an artifact named by its URL.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlImport {
    /// `http(s)://`, `s3://`, ... or a local path (relative to the crate
    /// root), as written.
    pub url: String,
    /// DVC's `--fs-config`: options of the file system the URL is read
    /// with (the same options as a DVC remote of that kind), in the order
    /// written, each value as DVC records it (a string).
    pub fs_config: Vec<(String, String)>,
    /// The SHA-256 the bytes must have (ours: kept in `Cargo.toml` only).
    pub sha256: Option<Sha256>,
}

/// `remote = "name"` or `remote = { url = "...", ... }`: DVC's `repo.remote`.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteSpec {
    /// The name of a remote defined in the source project's config.
    Name(String),
    /// The options of a remote, given in full.
    Options(BTreeMap<String, Scalar>),
}

/// `config = "file"` or `config = { core = { ... }, ... }`: DVC's `repo.config`.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigSpec {
    /// A config file, relative to the crate root.
    File(String),
    /// Sections of options, e.g. `{ core = { remote = "x" } }`; DVC's nesting
    /// (`remote = { name = { url = ... } }`) is kept as written.
    Table(BTreeMap<String, ConfigValue>),
}

/// A value in a `config` table: a scalar or a nested table.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    /// A leaf option.
    Scalar(Scalar),
    /// A section or sub-section.
    Table(BTreeMap<String, ConfigValue>),
}

/// A scalar option value, as TOML gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string.
    String(String),
    /// A boolean (`ssl_verify = false`).
    Bool(bool),
    /// An integer (`read_timeout = 60`).
    Integer(i64),
    /// A float.
    Float(f64),
}

impl fmt::Display for Scalar {
    /// The value as DVC's config would hold it (`true`, `60`, the string).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::String(s) => f.write_str(s),
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Integer(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
        }
    }
}

impl Dependency {
    /// The lock file of this dependency, `<out>.dvc`, relative to the crate root.
    ///
    /// ```
    /// # let m = dvc_build::__private::manifest::Manifest::parse(r#"
    /// # [package.metadata.dvc.deps.model]
    /// # url = "../registry"
    /// # path = "models/model.onnx"
    /// # "#).unwrap();
    /// let dep = &m.deps[0];
    /// assert_eq!(dep.out, "model.onnx");
    /// assert_eq!(dep.lock_path(), std::path::Path::new("model.onnx.dvc"));
    /// ```
    pub fn lock_path(&self) -> PathBuf {
        PathBuf::from(format!("{}.dvc", self.out))
    }

    /// The name of the environment variable that carries the artifact's path
    /// to the crate's code: `DVC_` and the name upper-cased, every
    /// non-alphanumeric character turned into `_`.
    ///
    /// ```
    /// # let m = dvc_build::__private::manifest::Manifest::parse(r#"
    /// # [package.metadata.dvc.deps.my-model]
    /// # url = "r"
    /// # path = "m.bin"
    /// # "#).unwrap();
    /// assert_eq!(m.deps[0].env_var(), "DVC_MY_MODEL");
    /// ```
    pub fn env_var(&self) -> String {
        env_var_name(&self.name)
    }

    /// The SHA-256 its bytes must have: a URL dependency's `sha256`.
    pub fn sha256(&self) -> Option<Sha256> {
        match &self.import {
            Import::Registry(_) => None,
            Import::Url(u) => u.sha256,
        }
    }

    /// The name of the constants generated for it in `dvc_deps.rs`: the
    /// name upper-cased, every non-alphanumeric character turned into `_`
    /// (so `DVC_<NAME>` is `DVC_` + this).
    pub fn const_name(&self) -> String {
        upper_snake(&self.name)
    }

    /// The variable cargo sets for a build script when `feature` is on
    /// (`CARGO_FEATURE_<NAME>`).
    pub fn feature_env(&self) -> Option<String> {
        self.feature
            .as_ref()
            .map(|f| format!("CARGO_FEATURE_{}", upper_snake(f)))
    }

    /// Where the artifact comes from: the registry's URL, or the artifact's.
    pub fn url(&self) -> &str {
        match &self.import {
            Import::Registry(r) => &r.url,
            Import::Url(u) => &u.url,
        }
    }
}

/// `DVC_<NAME>` for a dependency key, per the contract.
pub fn env_var_name(name: &str) -> String {
    format!("DVC_{}", upper_snake(name))
}

/// `name` upper-cased, every non-alphanumeric character turned into `_`.
pub fn upper_snake(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl Manifest {
    /// Reads and parses the `Cargo.toml` at `path`.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        Manifest::parse_file(&text, path)
    }

    /// Parses the text of a `Cargo.toml`. A manifest with no
    /// `[package.metadata.dvc]` has no dependencies.
    ///
    /// ```
    /// let m = dvc_build::__private::manifest::Manifest::parse(r#"
    /// [package]
    /// name = "app"
    /// [package.metadata.dvc.deps.classifier]
    /// url = "https://example.com/acme/registry"
    /// path = "models/classifier.onnx"
    /// rev = "v1.2.0"
    /// "#).unwrap();
    /// assert_eq!(m.deps[0].name, "classifier");
    /// let dvc_build::__private::manifest::Import::Registry(registry) = &m.deps[0].import else {
    ///     unreachable!()
    /// };
    /// assert_eq!(registry.rev.as_deref(), Some("v1.2.0"));
    /// ```
    pub fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse_file(text, Path::new("Cargo.toml"))
    }

    /// [`Manifest::parse`], naming `file` in error locations.
    pub fn parse_file(text: &str, file: &Path) -> Result<Manifest> {
        let doc: toml::Table = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|span| format!("\n  --> {}", Locator::position(text, span.start, file)))
                .unwrap_or_default();
            Error::new(
                ErrorKind::Manifest,
                format!("not valid TOML: {}{at}", e.message().trim_end()),
            )
            .with_help("fix the TOML syntax")
        })?;
        let package = doc.get("package").and_then(|p| p.as_table());
        let package_name = package
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string();
        let Some(dvc) = package
            .and_then(|p| p.get("metadata"))
            .and_then(|m| m.as_table())
            .and_then(|m| m.get("dvc"))
        else {
            return Ok(Manifest {
                package: package_name,
                deps: Vec::new(),
            });
        };
        let locator = Locator::new(text, file);
        let key = "package.metadata.dvc";
        let dvc = as_table(dvc, key).map_err(|e| locator.at(e, &[]))?;
        reject_unknown(dvc, DVC_KEYS, key).map_err(|e| locator.at(e, &[]))?;
        let features = declared_features(&doc);
        let mut deps = Vec::new();
        let mut errors = Vec::new();
        if let Some(table) = dvc.get("deps") {
            let key = "package.metadata.dvc.deps";
            for (name, value) in as_table(table, key).map_err(|e| locator.at(e, &["deps"]))? {
                match parse_dependency(name, value, text, &features) {
                    Ok(dep) => deps.push(dep),
                    Err((field, e)) => errors.push(locator.at(e, &["deps", name, &field])),
                }
            }
        }
        for (name, field, e) in check_names(&deps)
            .into_iter()
            .chain(check_unique_outs(&deps))
        {
            errors.push(locator.at(e, &["deps", &name, field]));
        }
        match errors.len() {
            0 => Ok(Manifest {
                package: package_name,
                deps,
            }),
            1 => Err(errors.remove(0)),
            n => {
                let list: Vec<String> = errors
                    .iter()
                    .map(|e| format!("  {}", e.to_string().replace('\n', "\n  ")))
                    .collect();
                Err(Error::new(
                    ErrorKind::Manifest,
                    format!(
                        "{n} errors in [package.metadata.dvc] of `{}`:\n{}",
                        file.display(),
                        list.join("\n")
                    ),
                ))
            }
        }
    }

    /// The dependency called `name`, if declared.
    pub fn dep(&self, name: &str) -> Option<&Dependency> {
        self.deps.iter().find(|d| d.name == name)
    }
}

/// Turns byte offsets of `[package.metadata.dvc]` keys into
/// `file:line:column` (1-based, columns in characters), as rustc and cargo
/// print them.
struct Locator<'a> {
    text: &'a str,
    file: &'a Path,
    /// The spanned document, when it parses (it does whenever `toml` did).
    doc: Option<toml::Spanned<toml::de::DeTable<'a>>>,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str, file: &'a Path) -> Locator<'a> {
        Locator {
            text,
            file,
            doc: toml::de::DeTable::parse(text).ok(),
        }
    }

    /// `file:line:column` of byte `offset`.
    fn position(text: &str, offset: usize, file: &Path) -> String {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        format!("{}:{line}:{column}", file.display())
    }

    /// The offset of the deepest key of `path` (below
    /// `package.metadata.dvc`) that exists in the document.
    fn offset(&self, path: &[&str]) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let mut table = doc.get_ref();
        let mut found = None;
        let full = ["package", "metadata", "dvc"].iter().chain(path);
        for key in full {
            let Some((k, v)) = table.get_key_value(*key) else {
                break;
            };
            found = Some(k.span().start);
            match v.get_ref() {
                toml::de::DeValue::Table(t) => table = t,
                _ => break,
            }
        }
        found
    }

    /// `err` with ` --> file:line:column` of the key at `path` appended.
    fn at(&self, err: Error, path: &[&str]) -> Error {
        match self.offset(path) {
            Some(offset) => {
                let at = Locator::position(self.text, offset, self.file);
                err.append_message(format_args!("\n  --> {at}"))
            }
            None => err,
        }
    }
}

/// The features a crate can turn on: `[features]` keys and optional
/// dependencies (implicit features).
fn declared_features(doc: &toml::Table) -> Vec<String> {
    let mut names: Vec<String> = doc
        .get("features")
        .and_then(|f| f.as_table())
        .map(|f| f.keys().cloned().collect())
        .unwrap_or_default();
    for section in ["dependencies", "build-dependencies"] {
        if let Some(deps) = doc.get(section).and_then(|d| d.as_table()) {
            for (name, spec) in deps {
                let optional = spec
                    .as_table()
                    .and_then(|t| t.get("optional"))
                    .and_then(|o| o.as_bool())
                    .unwrap_or(false);
                if optional {
                    names.push(name.clone());
                }
            }
        }
    }
    names
}

/// One declaration; on error, the key (`url`, `out`, ...; `""` for the
/// table itself) the error is about, for its location.
fn parse_dependency(
    name: &str,
    value: &toml::Value,
    text: &str,
    features: &[String],
) -> std::result::Result<Dependency, (String, Error)> {
    parse_declaration(name, value, text, features).map_err(|e| {
        let prefix = format!("package.metadata.dvc.deps.{name}.");
        let field = e
            .message()
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split([':', '.']).next())
            .unwrap_or("")
            .to_string();
        (field, e)
    })
}

fn parse_declaration(
    name: &str,
    value: &toml::Value,
    text: &str,
    features: &[String],
) -> Result<Dependency> {
    let key = format!("package.metadata.dvc.deps.{name}");
    let err = |msg: String| Error::new(ErrorKind::Manifest, msg).with_dependency(name);
    if name.is_empty() {
        return Err(err(format!("{key}: a dependency needs a non-empty name")));
    }
    let table = as_table(value, &key).map_err(|e| e.with_dependency(name))?;
    reject_unknown(table, DEP_KEYS, &key).map_err(|e| e.with_dependency(name))?;
    for field in ["remote", "config"] {
        if let Some(v) = table.get(field) {
            reject_secrets(v, &format!("{key}.{field}")).map_err(|e| e.with_dependency(name))?;
        }
    }
    let string = |field: &str, required: bool| -> Result<Option<String>> {
        match table.get(field) {
            None if required => Err(err(format!("{key}.{field}: missing"))
                .with_help(format!("add `{field} = \"...\"` to [{key}]"))),
            None => Ok(None),
            Some(toml::Value::String(s)) if s.is_empty() => {
                Err(err(format!("{key}.{field}: must not be empty")))
            }
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(err(format!(
                "{key}.{field}: expected a string, found {}",
                other.type_str()
            ))),
        }
    };
    let feature = match table.get("feature") {
        None => None,
        Some(toml::Value::String(f)) if features.contains(f) => Some(f.clone()),
        Some(toml::Value::String(f)) => {
            return Err(err(format!(
                "{key}.feature: the crate has no feature `{f}`"
            ))
            .with_help(format!(
                "declare it under [features] (`{f} = []`), then build with `--features {f}` to fetch this dependency"
            )));
        }
        Some(other) => {
            return Err(err(format!(
                "{key}.feature: expected a feature name, found {}",
                other.type_str()
            )));
        }
    };
    let embed = match table.get("embed") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(other) => {
            return Err(err(format!(
                "{key}.embed: expected true or false, found {}",
                other.type_str()
            )));
        }
    };
    let url = string("url", true)?.unwrap_or_default();
    let kind_only = |keys: &[&str], help: &str| -> Result<()> {
        match keys.iter().find(|k| table.contains_key(**k)) {
            Some(k) => Err(err(format!("{key}.{k}: {help}"))),
            None => Ok(()),
        }
    };
    if !table.contains_key("path") {
        kind_only(
            REGISTRY_KEYS,
            "only a registry import (with `path`) has this; a URL dependency (no `path`) is pinned by its source",
        )
        .map_err(|e| {
            e.with_help("add `path` if `url` is a DVC registry (a git repository), or remove the key")
        })?;
        return parse_url_dependency(name, &key, table, url, text).map(|dep| Dependency {
            feature,
            embed,
            ..dep
        });
    }
    kind_only(URL_KEYS, "only a URL dependency (without `path`) has this")
        .map_err(|e| e.with_help("remove the key, or `path` if `url` names the artifact itself"))?;
    // `path` is kept as typed (`dir/`, `/data/`, `.`): the lock records it
    // so, as `dvc import` does; lookups use its normal form.
    let path = string("path", true)?.unwrap_or_default();
    let lookup = source_lookup_path(&path).map_err(|msg| err(format!("{key}.path: {msg}")))?;
    let rev = string("rev", false)?;
    let out = match string("out", false)? {
        Some(out) => out,
        None if lookup.is_empty() => {
            return Err(err(format!(
                "{key}.out: missing, and `path = {path:?}` names the whole repository"
            ))
            .with_help(format!(
                "add `out = \"NAME\"` to [{key}]: the folder to put it in"
            )));
        }
        None => lookup.rsplit('/').next().unwrap_or(&lookup).to_string(),
    };
    let out = normalize_out(&out).map_err(|msg| {
        err(format!("{key}.out: {msg}"))
            .with_help("`out` is a path relative to the crate root that stays inside the crate")
    })?;
    if is_dvc_file_name(out.rsplit('/').next().unwrap_or(&out)) {
        // `dvc import` refuses too: "DVC file '...' cannot be an output".
        return Err(err(format!(
            "{key}.out: `{out}` is a DVC file name, which cannot be an output"
        ))
        .with_help("give `out` a name that does not end in `.dvc` (the lock is `<out>.dvc`)"));
    }
    let remote = match table.get("remote") {
        None => None,
        Some(toml::Value::String(s)) if s.is_empty() => {
            return Err(err(format!("{key}.remote: must not be empty")));
        }
        Some(toml::Value::String(s)) => Some(RemoteSpec::Name(s.clone())),
        Some(toml::Value::Table(t)) => {
            let mut options = BTreeMap::new();
            for (k, v) in t {
                let scalar = to_scalar(v).ok_or_else(|| {
                    err(format!(
                        "{key}.remote.{k}: expected a string, boolean or number, found {}",
                        v.type_str()
                    ))
                })?;
                options.insert(k.clone(), scalar);
            }
            if !options.contains_key("url") {
                return Err(err(format!("{key}.remote.url: missing")).with_help(
                    "a remote given as a table needs at least `url`, e.g. `remote = { url = \"s3://bucket/path\" }`",
                ));
            }
            Some(RemoteSpec::Options(options))
        }
        Some(other) => {
            return Err(err(format!(
                "{key}.remote: expected a remote name or a table of remote options, found {}",
                other.type_str()
            )));
        }
    };
    let config = match table.get("config") {
        None => None,
        Some(toml::Value::String(s)) if s.is_empty() => {
            return Err(err(format!("{key}.config: must not be empty")));
        }
        Some(toml::Value::String(s)) => Some(ConfigSpec::File(s.clone())),
        Some(toml::Value::Table(t)) => Some(ConfigSpec::Table(
            to_config_table(t, &format!("{key}.config")).map_err(err)?,
        )),
        Some(other) => {
            return Err(err(format!(
                "{key}.config: expected a file name or a table of config sections, found {}",
                other.type_str()
            )));
        }
    };
    Ok(Dependency {
        name: name.to_string(),
        out,
        feature,
        embed,
        import: Import::Registry(RegistryImport {
            url,
            path,
            rev,
            remote,
            config,
        }),
    })
}

/// A declaration without `path`: `url` names the artifact (DVC's
/// `import-url`). `text` is the whole `Cargo.toml`, for the order in which
/// `fs_config`'s keys are written (the lock records them in that order).
fn parse_url_dependency(
    name: &str,
    key: &str,
    table: &toml::Table,
    url: String,
    text: &str,
) -> Result<Dependency> {
    let err = |msg: String| Error::new(ErrorKind::Manifest, msg).with_dependency(name);
    if url.contains('\0') {
        return Err(err(format!("{key}.url: must not contain a NUL character")));
    }
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        // An ssh user name (`ssh://git@host/...`) is no secret, as in git
        // URLs; a password is (`redact::url` tells them apart).
        if authority.contains('@') && crate::redact::url(&url) != url {
            return Err(err(format!(
                "{key}.url: credentials do not belong in Cargo.toml (it is committed, and the lock would copy them)"
            ))
            .with_help("remove them from the URL; give them through the environment (e.g. AWS_ACCESS_KEY_ID for s3://)"));
        }
        if url.to_ascii_lowercase().contains("versionid=") {
            return Err(err(format!(
                "{key}.url: a version in the URL (`versionId=`) is not supported"
            ))
            .with_help("name the object without `?versionId=`: dvc-build pins it by its ETag"));
        }
    }
    let mut fs_config = Vec::new();
    if let Some(value) = table.get("fs_config") {
        let at = format!("{key}.fs_config");
        reject_secrets(value, &at).map_err(|e| e.with_dependency(name))?;
        let options = as_table(value, &at).map_err(|e| e.with_dependency(name))?;
        for (k, v) in options {
            if k == "version_aware" {
                return Err(err(format!(
                    "{at}.version_aware: version-aware URL imports are not supported"
                ))
                .with_help("remove it: the dependency is pinned by its ETag or checksum"));
            }
            let scalar = to_scalar(v).ok_or_else(|| {
                err(format!(
                    "{at}.{k}: expected a string, boolean or number, found {}",
                    v.type_str()
                ))
            })?;
            fs_config.push((k.clone(), scalar.to_string()));
        }
        let order = fs_config_order(text, name);
        fs_config.sort_by_key(|(k, _)| order.iter().position(|o| o == k).unwrap_or(usize::MAX));
    }
    let sha256 = match table.get("sha256") {
        None => None,
        Some(toml::Value::String(s)) => Some(s.parse::<Sha256>().map_err(|_| {
            err(format!(
                "{key}.sha256: `{}` is not a SHA-256 (64 hex digits)",
                s.escape_debug()
            ))
            .with_help(
                "run `sha256sum` on the file, or let `cargo dvc import-url --sha256` write it",
            )
        })?),
        Some(other) => {
            return Err(err(format!(
                "{key}.sha256: expected a string, found {}",
                other.type_str()
            )));
        }
    };
    let out = match table.get("out") {
        None => url_basename(&url).ok_or_else(|| {
            err(format!(
                "{key}.out: missing, and `{}` ends with no file name",
                crate::redact::url(&url)
            ))
            .with_help("add `out = \"...\"`")
        })?,
        Some(toml::Value::String(s)) if s.is_empty() => {
            return Err(err(format!("{key}.out: must not be empty")));
        }
        Some(toml::Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(err(format!(
                "{key}.out: expected a string, found {}",
                other.type_str()
            )));
        }
    };
    let out = normalize_out(&out).map_err(|msg| {
        err(format!("{key}.out: {msg}"))
            .with_help("`out` is a path relative to the crate root that stays inside the crate")
    })?;
    Ok(Dependency {
        name: name.to_string(),
        out,
        feature: None,
        embed: false,
        import: Import::Url(UrlImport {
            url,
            fs_config,
            sha256,
        }),
    })
}

/// The last component of a URL's path (without its query), or of a local
/// path, as DVC names an import-url's output by default
/// (`basename(normpath(urlparse(url).path))`).
pub fn url_basename(url: &str) -> Option<String> {
    let path = match url.split_once("://") {
        Some((_, rest)) => {
            let rest = rest.split(['?', '#']).next().unwrap_or("");
            rest.split_once('/').map_or("", |(_, path)| path)
        }
        None => url,
    };
    let name = path.trim_end_matches('/').rsplit('/').next()?;
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_string())
}

/// The keys of dependency `name`'s `fs_config` table in the order they are
/// written in `text` (the TOML reader keeps tables sorted).
fn fs_config_order(text: &str, name: &str) -> Vec<String> {
    use toml::de::{DeTable, DeValue};
    fn child<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a DeTable<'i>> {
        table
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .and_then(|(_, v)| match v.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            })
    }
    let Ok(doc) = DeTable::parse(text) else {
        return Vec::new();
    };
    let mut table = doc.get_ref();
    for key in ["package", "metadata", "dvc", "deps", name, "fs_config"] {
        match child(table, key) {
            Some(t) => table = t,
            None => return Vec::new(),
        }
    }
    let mut keys: Vec<(usize, String)> = table
        .iter()
        .map(|(k, _)| (k.span().start, k.get_ref().to_string()))
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

/// Refuses a secret option ([`crate::redact::SECRET_OPTIONS`]) anywhere in
/// `value` (a `remote` or `config` table), naming the key but never showing
/// its value: a declaration is committed (in `Cargo.toml`) and copied into
/// the lock, so credentials belong in the environment, an AWS profile, or an
/// uncommitted file named by `config = "..."`.
fn reject_secrets(value: &toml::Value, at: &str) -> Result<()> {
    let Some(table) = value.as_table() else {
        return Ok(());
    };
    for (k, v) in table {
        let key = format!("{at}.{k}");
        if crate::redact::is_secret_option(k) {
            return Err(Error::new(
                ErrorKind::Manifest,
                format!("{key}: a secret does not belong in Cargo.toml (it is committed, and the lock would copy it)"),
            )
            .with_help(
                "remove it, and give the credential through the environment (e.g. AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), \
                 an AWS profile (`profile`, `credentialpath`), or an uncommitted DVC config file named by `config = \"...\"`",
            ));
        }
        reject_secrets(v, &key)?;
    }
    Ok(())
}

fn to_scalar(v: &toml::Value) -> Option<Scalar> {
    match v {
        toml::Value::String(s) => Some(Scalar::String(s.clone())),
        toml::Value::Boolean(b) => Some(Scalar::Bool(*b)),
        toml::Value::Integer(i) => Some(Scalar::Integer(*i)),
        toml::Value::Float(x) => Some(Scalar::Float(*x)),
        _ => None,
    }
}

fn to_config_table(
    t: &toml::Table,
    key: &str,
) -> std::result::Result<BTreeMap<String, ConfigValue>, String> {
    let mut out = BTreeMap::new();
    for (k, v) in t {
        let value = match v {
            toml::Value::Table(inner) => {
                ConfigValue::Table(to_config_table(inner, &format!("{key}.{k}"))?)
            }
            other => ConfigValue::Scalar(to_scalar(other).ok_or_else(|| {
                format!(
                    "{key}.{k}: expected a string, boolean, number or table, found {}",
                    other.type_str()
                )
            })?),
        };
        out.insert(k.clone(), value);
    }
    Ok(out)
}

fn as_table<'a>(value: &'a toml::Value, key: &str) -> Result<&'a toml::Table> {
    value.as_table().ok_or_else(|| {
        Error::new(
            ErrorKind::Manifest,
            format!("{key}: expected a table, found {}", value.type_str()),
        )
    })
}

fn reject_unknown(table: &toml::Table, known: &[&str], key: &str) -> Result<()> {
    for k in table.keys() {
        if !known.contains(&k.as_str()) {
            let mut e = Error::new(ErrorKind::Manifest, format!("{key}.{k}: unknown key"));
            e = match closest(k, known) {
                Some(s) => e.with_help(format!("did you mean `{s}`?")),
                None => e.with_help(format!("the keys allowed here are: {}", known.join(", "))),
            };
            return Err(e);
        }
    }
    Ok(())
}

/// The known word closest to `word`, if it is close enough to be a typo.
fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance (insert, delete, substitute), over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// A file name DVC keeps for its own files (a stage file `*.dvc`,
/// `dvc.yaml`), which `dvc import` and `dvc get` refuse as an output.
pub(crate) fn is_dvc_file_name(name: &str) -> bool {
    name.ends_with(".dvc") || name == "dvc.yaml"
}

/// `path` inside the source project as a lookup key: `/`-separated, no
/// `..`; a leading `/` means the repository root (as `dvc import` reads
/// it), `.` or `/` the whole repository (`""`).
pub fn source_lookup_path(path: &str) -> std::result::Result<String, String> {
    if path.contains('\0') {
        return Err("must not contain a NUL character".to_string());
    }
    if path.contains('\\') {
        return Err(format!("`{path}` must use `/` as separator"));
    }
    if has_drive_prefix(path) {
        return Err(format!(
            "`{path}` must be a path inside the source repository"
        ));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("`{path}` must not contain `..`")),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// `out` relative to the crate root: must stay inside the crate and must
/// not be the crate root itself.
fn normalize_out(out: &str) -> std::result::Result<String, String> {
    let parts = safe_components(out)?;
    if parts.first().is_some_and(|p| *p == "target") {
        return Err(format!(
            "`{out}` is inside `target/`, which cargo owns; pick another folder"
        ));
    }
    Ok(parts.join("/"))
}

fn safe_components(path: &str) -> std::result::Result<Vec<&str>, String> {
    if path.contains('\0') {
        return Err("must not contain a NUL character".to_string());
    }
    if path.contains('\\') {
        return Err(format!("`{path}` must use `/` as separator"));
    }
    let p = Path::new(path);
    if p.is_absolute() || path.starts_with('/') || has_drive_prefix(path) {
        return Err(format!("`{path}` must be a relative path"));
    }
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or_default()),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!("`{path}` must not contain `..`"));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("`{path}` must be a relative path"));
            }
        }
    }
    if parts.is_empty() {
        return Err(format!("`{path}` names no file"));
    }
    Ok(parts)
}

fn has_drive_prefix(path: &str) -> bool {
    let b = path.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Overlapping `out`s: (dependency, key, error) for each.
fn check_unique_outs(deps: &[Dependency]) -> Vec<(String, &'static str, Error)> {
    let mut errors = Vec::new();
    for (i, a) in deps.iter().enumerate() {
        for b in &deps[i + 1..] {
            let nested = a.out == b.out
                || b.out.starts_with(&format!("{}/", a.out))
                || a.out.starts_with(&format!("{}/", b.out));
            if nested {
                let e = Error::new(
                    ErrorKind::Manifest,
                    format!(
                        "package.metadata.dvc.deps.{}.out: `{}` overlaps `{}` of dependency `{}`",
                        b.name, b.out, a.out, a.name
                    ),
                )
                .with_dependency(&b.name)
                .with_help("give each dependency its own `out`");
                errors.push((b.name.clone(), "out", e));
            }
        }
    }
    errors
}

/// Why `name` cannot become a Rust identifier once mapped (upper-cased,
/// every non-alphanumeric character turned into `_`), if it cannot: it
/// must be ASCII, printable, and start with a letter (a leading digit or
/// `_`/punctuation makes no identifier, or a `_`-only one).
fn name_problem(name: &str) -> Option<String> {
    if let Some(c) = name.chars().find(|c| !c.is_ascii()) {
        return Some(format!("`{c}` is not an ASCII character"));
    }
    if let Some(c) = name.chars().find(char::is_ascii_control) {
        return Some(format!(
            "it holds the control character `{}`",
            c.escape_debug()
        ));
    }
    match name.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => None,
        Some(c) if c.is_ascii_digit() => Some(format!("it starts with the digit `{c}`")),
        Some(c) => Some(format!("it starts with `{c}`, not a letter")),
        None => Some("it is empty".to_string()),
    }
}

/// Names that cannot become a Rust identifier (`DVC_<NAME>` and the
/// constant in `dvc_deps.rs`), and pairs that become the same one.
fn check_names(deps: &[Dependency]) -> Vec<(String, &'static str, Error)> {
    let mut errors = Vec::new();
    let naming_help = "a name is ASCII and starts with a letter; it becomes the constant `NAME` upper-cased, \
                       every other character than a letter or digit turned into `_` (`model.v2` -> `MODEL_V2`), \
                       and the variable `DVC_` + that constant";
    for dep in deps {
        let name = &dep.name;
        if let Some(problem) = name_problem(name) {
            let e = Error::new(
                ErrorKind::Manifest,
                format!(
                    "package.metadata.dvc.deps.{shown}: the name `{shown}` cannot name a Rust constant: {problem}",
                    shown = name.escape_debug()
                ),
            )
            .with_dependency(name)
            .with_help(naming_help);
            errors.push((name.clone(), "", e));
        }
    }
    for (i, a) in deps.iter().enumerate() {
        for b in &deps[i + 1..] {
            if a.const_name() == b.const_name() {
                let e = Error::new(
                    ErrorKind::Manifest,
                    format!(
                        "package.metadata.dvc.deps.{}: `{}` and `{}` both become `{}` (and the constant `{}`)",
                        b.name,
                        a.name,
                        b.name,
                        a.env_var(),
                        a.const_name()
                    ),
                )
                .with_dependency(&b.name)
                .with_help("rename one of them: names that differ only in case or in the characters other than letters and digits collide");
                errors.push((b.name.clone(), "", e));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        Manifest::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn an_ssh_user_name_is_no_credential() {
        let m = Manifest::parse("[package.metadata.dvc.deps.e]\nurl = \"ssh://git@h/srv/m.bin\"\n")
            .unwrap();
        assert_eq!(m.deps.len(), 1);
    }

    #[test]
    fn full_declaration() {
        let m = Manifest::parse(
            r#"
            [package]
            name = "app"
            [package.metadata.dvc.deps.classifier]
            url = "https://example.com/acme/model-registry"
            path = "models/classifier.onnx"
            rev = "v1.2.0"
            out = "./assets/classifier.onnx"
            remote = "s3-mirror"
            config = "registry.dvcconfig"
            [package.metadata.dvc.deps.data]
            url = "../registry"
            path = "data/dir/"
            remote = { url = "s3://b/p", region = "eu-west-1", ssl_verify = false }
            config = { core = { remote = "x" } }
            "#,
        )
        .unwrap();
        assert_eq!(m.package, "app");
        let c = m.dep("classifier").unwrap();
        assert_eq!(c.out, "assets/classifier.onnx");
        assert_eq!(c.lock_path(), PathBuf::from("assets/classifier.onnx.dvc"));
        let Import::Registry(r) = &c.import else {
            panic!("{c:?}")
        };
        assert_eq!(r.remote, Some(RemoteSpec::Name("s3-mirror".into())));
        let d = m.dep("data").unwrap();
        let Import::Registry(r) = &d.import else {
            panic!("{d:?}")
        };
        assert_eq!(r.path, "data/dir/", "as typed");
        assert_eq!(r.source_path(), "data/dir");
        assert_eq!(d.out, "dir");
        let Some(RemoteSpec::Options(o)) = &r.remote else {
            panic!("{:?}", r.remote)
        };
        assert_eq!(o["ssl_verify"], Scalar::Bool(false));
        assert!(matches!(r.config, Some(ConfigSpec::Table(_))));
    }

    #[test]
    fn a_declaration_without_path_is_a_url_import() {
        let m = Manifest::parse(
            r#"
            [package.metadata.dvc.deps.encoder]
            url = "https://example.com/models/encoder.onnx?download=1"
            sha256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
            fs_config = { ssl_verify = false, read_timeout = 30, auth = "basic", endpointurl = "http://h" }
            [package.metadata.dvc.deps.local]
            url = "../shared/data/"
            out = "assets/data"
            "#,
        )
        .unwrap();
        let e = m.dep("encoder").unwrap();
        assert_eq!(e.out, "encoder.onnx");
        let Import::Url(u) = &e.import else {
            panic!("{e:?}")
        };
        // In the order written, every value a string (as `--fs-config K=V`).
        assert_eq!(
            u.fs_config,
            [
                ("ssl_verify", "false"),
                ("read_timeout", "30"),
                ("auth", "basic"),
                ("endpointurl", "http://h")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            e.sha256().unwrap().to_string(),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
        let l = m.dep("local").unwrap();
        assert_eq!(l.out, "assets/data");
        assert_eq!(l.url(), "../shared/data/");
        assert_eq!(url_basename("s3://b/dir/"), Some("dir".into()));
        assert_eq!(url_basename("https://h/"), None);
        assert_eq!(url_basename("file:///a/b%20c"), Some("b%20c".into()));
    }

    #[test]
    fn url_imports_refuse_what_does_not_apply() {
        let url = |extra: &str| {
            parse_err(&format!(
                "[package.metadata.dvc.deps.e]\nurl = \"https://h/m.bin\"\n{extra}\n"
            ))
        };
        let e = url("rev = \"v1\"");
        assert!(e.contains("deps.e.rev: only a registry import"), "{e}");
        let e = url("sha256 = \"abc\"");
        assert!(e.contains("deps.e.sha256: `abc` is not a SHA-256"), "{e}");
        let e = url("fs_config = { secret_access_key = \"S3CR3T\" }");
        assert!(e.contains("a secret does not belong in Cargo.toml"), "{e}");
        assert!(!e.contains("S3CR3T"), "{e}");
        let e = url("fs_config = { version_aware = true }");
        assert!(e.contains("version-aware"), "{e}");
        let e = parse_err("[package.metadata.dvc.deps.e]\nurl = \"https://u:S3CR3T@h/m\"\n");
        assert!(e.contains("credentials do not belong"), "{e}");
        assert!(!e.contains("S3CR3T"), "{e}");
        let e = parse_err("[package.metadata.dvc.deps.e]\nurl = \"ssh://u:S3CR3T@h/m\"\n");
        assert!(e.contains("credentials do not belong"), "{e}");
        assert!(!e.contains("S3CR3T"), "{e}");
        let e = parse_err("[package.metadata.dvc.deps.e]\nurl = \"https://tok@h/m\"\n");
        assert!(e.contains("credentials do not belong"), "{e}");
        let e = parse_err("[package.metadata.dvc.deps.e]\nurl = \"https://h/\"\n");
        assert!(e.contains("deps.e.out: missing"), "{e}");
        let e =
            parse_err("[package.metadata.dvc.deps.e]\nurl = \"r\"\npath = \"p\"\nsha256 = \"x\"\n");
        assert!(e.contains("deps.e.sha256: only a URL dependency"), "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse_err("[package.metadata.dvc.deps.classifier]\npath = \"a\"\n");
        assert!(
            e.contains("package.metadata.dvc.deps.classifier.url: missing"),
            "{e}"
        );
        let e =
            parse_err("[package.metadata.dvc.deps.c]\nurl = \"u\"\npath = \"a\"\nrevv = \"x\"\n");
        assert!(e.contains("deps.c.revv: unknown key"), "{e}");
        assert!(e.contains("did you mean `rev`?"), "{e}");
        let e = parse_err("[package.metadata.dvc]\ndep = 1\n");
        assert!(e.contains("did you mean `deps`?"), "{e}");
        let e = parse_err("[package.metadata.dvc.deps.c]\nurl = 3\npath = \"a\"\n");
        assert!(
            e.contains("deps.c.url: expected a string, found integer"),
            "{e}"
        );
        let e = parse_err("[package.metadata.dvc.deps]\nc = \"x\"\n");
        assert!(e.contains("deps.c: expected a table"), "{e}");
        let e = parse_err("[package\n");
        assert!(e.contains("not valid TOML"), "{e}");
    }

    #[test]
    fn secrets_are_refused_without_being_shown() {
        for decl in [
            r#"remote = { url = "s3://b/p", access_key_id = "K", secret_access_key = "S3CR3T" }"#,
            r#"config = { remote = { store = { session_token = "S3CR3T" } } }"#,
            r#"remote = { url = "https://h/r", user = "u", password = "S3CR3T" }"#,
        ] {
            let e = parse_err(&format!(
                "[package.metadata.dvc.deps.c]\nurl = \"u\"\npath = \"a\"\n{decl}\n"
            ));
            assert!(e.starts_with("dependency `c`: "), "{e}");
            assert!(e.contains("a secret does not belong in Cargo.toml"), "{e}");
            assert!(!e.contains("S3CR3T"), "{e}");
        }
        let e = parse_err(
            "[package.metadata.dvc.deps.c]\nurl = \"u\"\npath = \"a\"\n\
             config = { remote = { store = { Secret_Access_Key = \"x\" } } }\n",
        );
        assert!(
            e.contains("deps.c.config.remote.store.Secret_Access_Key: a secret"),
            "{e}"
        );
    }

    #[test]
    fn out_must_stay_inside_the_crate() {
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "C:/x",
            "a\\b",
            "target/x",
            ".",
            "a\0b",
        ] {
            let text = format!(
                "[package.metadata.dvc.deps.c]\nurl = \"u\"\npath = \"a\"\nout = \"{}\"\n",
                bad.replace('\\', "\\\\").replace('\0', "\\u0000")
            );
            let e = parse_err(&text);
            assert!(e.contains("deps.c.out"), "{bad}: {e}");
        }
        let e = parse_err("[package.metadata.dvc.deps.c]\nurl = \"u\"\npath = \"../a\"\n");
        assert!(e.contains("deps.c.path"), "{e}");
    }

    #[test]
    fn overlapping_outs_are_refused() {
        let e = parse_err(
            "[package.metadata.dvc.deps.a]\nurl = \"u\"\npath = \"d\"\n\
             [package.metadata.dvc.deps.b]\nurl = \"u\"\npath = \"x/d\"\n",
        );
        assert!(e.contains("overlaps"), "{e}");
    }

    #[test]
    fn no_metadata_means_no_deps() {
        assert!(
            Manifest::parse("[package]\nname = \"x\"\n")
                .unwrap()
                .deps
                .is_empty()
        );
        assert!(Manifest::parse("").unwrap().deps.is_empty());
    }

    /// Names must make a Rust identifier, and no two the same one (issue 13
    /// item 1); every error is reported at once, each with its location.
    #[test]
    fn names_make_distinct_identifiers() {
        let decl = |name: &str, out: &str| {
            format!(
                "[package.metadata.dvc.deps.{name}]\nurl = \"u\"\npath = \"p\"\nout = \"{out}\"\n"
            )
        };
        let e = parse_err(&format!(
            "{}{}",
            decl("\"a-b\"", "a.bin"),
            decl("a_b", "b.bin")
        ));
        assert!(
            e.contains("`a-b` and `a_b` both become `DVC_A_B` (and the constant `A_B`)"),
            "{e}"
        );
        assert!(e.contains("help: rename one"), "{e}");
        assert!(e.contains("--> Cargo.toml:5:28"), "{e}");
        for (bad, why) in [
            ("_", "it starts with `_`, not a letter"),
            ("_x", "it starts with `_`, not a letter"),
            ("\"-x\"", "it starts with `-`, not a letter"),
            ("\".hidden\"", "it starts with `.`, not a letter"),
            ("1st", "it starts with the digit `1`"),
            ("\"modèle\"", "`è` is not an ASCII character"),
            ("\"a\\tb\"", "it holds the control character `\\t`"),
        ] {
            let e = parse_err(&decl(bad, "x.bin"));
            assert!(e.contains("cannot name a Rust constant: "), "{bad}: {e}");
            assert!(e.contains(why), "{bad}: {e}");
            assert!(
                e.contains("help: a name is ASCII and starts with a letter"),
                "{bad}: {e}"
            );
            assert!(e.contains("--> Cargo.toml:1:"), "{bad}: {e}");
        }
        assert!(parse_err(&decl("\"\"", "x.bin")).contains("non-empty name"));
        // PRODUCT.md: upper-cased, every non-alphanumeric character `_`.
        for (name, constant) in [
            ("Model-2_b", "MODEL_2_B"),
            ("\"model.v2\"", "MODEL_V2"),
            ("\"my model+v1\"", "MY_MODEL_V1"),
            ("\"a.\"", "A_"),
        ] {
            let ok = Manifest::parse(&decl(name, "x.bin")).unwrap();
            assert_eq!(ok.deps[0].const_name(), constant);
            assert_eq!(ok.deps[0].env_var(), format!("DVC_{constant}"));
        }
        let e = parse_err(&format!(
            "{}{}",
            decl("\"model.v2\"", "a.bin"),
            decl("model-v2", "b.bin")
        ));
        assert!(
            e.contains("`model-v2` and `model.v2` both become `DVC_MODEL_V2`"),
            "{e}"
        );
    }

    #[test]
    fn every_error_at_once_with_file_line_and_column() {
        let text = "[package]\nname = \"app\"\n\n\
                    [package.metadata.dvc.deps.one]\npath = \"a\"\n\n\
                    [package.metadata.dvc.deps.two]\nurl = \"u\"\npath = \"b\"\n  outt = \"x\"\n";
        let e = Manifest::parse_file(text, Path::new("/w/app/Cargo.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("2 errors in [package.metadata.dvc] of `/w/app/Cargo.toml`:"),
            "{e}"
        );
        assert!(e.contains("deps.one.url: missing"), "{e}");
        assert!(e.contains("--> /w/app/Cargo.toml:4:28"), "{e}");
        assert!(e.contains("deps.two.outt: unknown key"), "{e}");
        assert!(e.contains("--> /w/app/Cargo.toml:10:3"), "{e}");
        assert!(e.contains("did you mean `out`?"), "{e}");
        // TOML syntax errors point at the place too.
        let e = parse_err("[package]\nname = \"a\"\nx = [\n");
        assert!(
            e.contains("not valid TOML") && e.contains("--> Cargo.toml:"),
            "{e}"
        );
    }

    /// `feature` must name a feature of the crate (or an optional dependency).
    #[test]
    fn feature_gates_name_a_feature() {
        let text = |feature: &str| {
            format!(
                "[features]\nbig-model = []\n[dependencies]\nextra = {{ version = \"1\", optional = true }}\n\
                 [package.metadata.dvc.deps.m]\nurl = \"u\"\npath = \"p\"\nfeature = \"{feature}\"\nembed = true\n"
            )
        };
        let m = Manifest::parse(&text("big-model")).unwrap();
        assert_eq!(m.deps[0].feature.as_deref(), Some("big-model"));
        assert_eq!(
            m.deps[0].feature_env().as_deref(),
            Some("CARGO_FEATURE_BIG_MODEL")
        );
        assert!(m.deps[0].embed);
        assert!(Manifest::parse(&text("extra")).is_ok());
        let e = parse_err(&text("huge"));
        assert!(
            e.contains("deps.m.feature: the crate has no feature `huge`"),
            "{e}"
        );
        assert!(e.contains("[features]"), "{e}");
    }

    #[test]
    fn env_var_names() {
        assert_eq!(env_var_name("classifier"), "DVC_CLASSIFIER");
        assert_eq!(env_var_name("a.b-c d"), "DVC_A_B_C_D");
    }

    #[test]
    fn edit_distance_works() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(closest("urll", DEP_KEYS), Some("url"));
        assert_eq!(closest("zzzzzz", DEP_KEYS), None);
    }

    const VALID: &str = "[package]\nname = \"app\"\n[package.metadata.dvc.deps.m]\nurl = \"../r\"\npath = \"models/m.onnx\"\nrev = \"v1\"\nout = \"assets/m.onnx\"\nremote = { url = \"s3://b/p\", region = \"eu\" }\nconfig = { core = { remote = \"x\" } }\n";

    proptest::proptest! {
        /// Any text gives a manifest or an error, never a panic.
        #[test]
        fn never_panics_on_arbitrary_text(text in "\\PC{0,400}") {
            let _ = Manifest::parse(&text);
        }

        /// Every single-byte mutation of a valid manifest gives Ok or Err.
        #[test]
        fn never_panics_on_mutations(pos in 0usize..VALID.len(), byte in proptest::num::u8::ANY) {
            let mut bytes = VALID.as_bytes().to_vec();
            bytes[pos] = byte;
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = Manifest::parse(text);
            }
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000));
        let _ = Manifest::parse(&deep);
        let tables = format!("x = {}1{}", "{ a = ".repeat(50_000), " }".repeat(50_000));
        let _ = Manifest::parse(&tables);
    }
}
