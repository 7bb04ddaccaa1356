//! The machine-readable output of `cargo dvc` (`--json`), format version 1.
//!
//! Every command prints one JSON object on one line of stdout:
//! `{"version": 1, ...}`. The types here ARE the schema (the README's
//! "JSON output" section documents it as the v1 contract): a field is added
//! here, and to the README, or not at all. Fields are only ever added within
//! version 1; removing or changing the meaning of one needs version 2 (and
//! `--format-version 2`). Closed sets are enums serialized in snake_case.

use serde::Serialize;

/// The only format version there is.
pub const FORMAT_VERSION: u32 = 1;

/// `cargo dvc status --json`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Always [`FORMAT_VERSION`].
    pub version: u32,
    /// One entry per selected dependency, in package then name order.
    pub dependencies: Vec<DependencyStatus>,
}

/// One dependency in `status`.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyStatus {
    /// The package declaring it.
    pub package: String,
    /// The dependency's name (its key under `[package.metadata.dvc.deps]`).
    pub name: String,
    /// `registry` (a path in a DVC registry, `dvc import`) or `url` (a file
    /// or directory by URL, `dvc import-url`).
    pub source: ImportKind,
    /// `url` as declared (credentials removed).
    pub url: String,
    /// `path` inside the registry; `null` for a URL dependency.
    pub path: Option<String>,
    /// `out`, relative to the crate root.
    pub out: String,
    /// The lock file, relative to the crate root (`<out>.dvc`).
    pub lock_path: String,
    /// `rev` as declared; `null` for the registry's default branch.
    pub rev: Option<String>,
    /// The commit the lock pins; `null` without a readable lock.
    pub rev_lock: Option<String>,
    /// The MD5 the lock records (a directory's `.dir` hash, without `.dir`).
    pub md5: Option<String>,
    /// The size in bytes the lock records (a directory: all its files).
    pub size: Option<u64>,
    /// `file` or `directory`, as the lock records; `null` without a lock.
    pub kind: Option<ArtifactKind>,
    /// The SHA-256 a URL dependency's bytes must have (`sha256` as
    /// declared); `null` when none is pinned.
    pub sha256: Option<String>,
    /// The lock compared with the declaration.
    pub lock: LockStatus,
    /// Why the lock is `stale` or `invalid`; `null` otherwise.
    pub lock_reason: Option<String>,
    /// Whether the locked artifact is in the cache (a build needs no
    /// download).
    pub cached: bool,
    /// Cache objects of the artifact whose bytes no longer match their hash
    /// (edited through a hard link, damaged); the next `fetch`, `pull` or
    /// build replaces them. Empty when all is well.
    pub corrupt: Vec<String>,
    /// What is at `out` in the crate (what `cargo dvc pull` placed there).
    pub workspace: WorkspaceStatus,
    /// The paths at `out` that differ from the lock (modified, added or
    /// missing files), relative to the crate root; empty unless `workspace`
    /// is `modified`.
    pub workspace_changes: Vec<String>,
    /// Whether the declared `rev` points at newer data.
    pub update: UpdateStatus,
    /// The commit `rev` points at now; for a URL dependency whose source
    /// changed, what pins the source now (`checksum ...`, `etag ...`,
    /// `md5 ...`); `null` when not looked up.
    pub latest: Option<String>,
    /// `true` when `update` is `available` or `source_changed`, `false` when `up_to_date` or
    /// `new_commit_same_data`, `null` when `unknown`.
    pub update_available: Option<bool>,
    /// Why `update` is `unknown` (offline, no lock yet, ...); `null` otherwise.
    pub update_reason: Option<String>,
    /// The error that made this dependency fail (a declaration that cannot
    /// be resolved: unknown `rev`, `path` not in the registry, unreachable
    /// `url`); the command then exits with 101. `null` otherwise.
    pub error: Option<String>,
}

/// A lock compared with its declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockStatus {
    /// The lock matches the declaration.
    Fresh,
    /// The declaration changed since the lock was written; the next build
    /// (or `cargo dvc update NAME`) rewrites it.
    Stale,
    /// There is no lock yet; the next build writes it.
    Missing,
    /// The lock cannot be read as an import stage (a bad merge, a hand
    /// edit); see `lock_reason`.
    Invalid,
}

/// Whether an update would bring new data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStatus {
    /// `rev` still points at the locked commit (or is a commit).
    UpToDate,
    /// `rev` points at a newer commit with different data (or data that
    /// cannot be compared without downloading it).
    Available,
    /// `rev` points at a newer commit, but the data at `path` is the same:
    /// `cargo dvc update` would only move `rev_lock`.
    NewCommitSameData,
    /// A URL dependency's source holds another version than the lock pins
    /// (its ETag, checksum or MD5 changed): `cargo dvc update` would
    /// download it. `latest` is what the source says now.
    SourceChanged,
    /// Not looked up: see `update_reason`.
    Unknown,
}

/// The kind of a data dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    /// A path inside a DVC registry, pinned to a commit (`dvc import`).
    Registry,
    /// A file or directory named by its URL (`dvc import-url`).
    Url,
}

/// What is at a dependency's `out` in the crate, compared with its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceStatus {
    /// Nothing: never pulled (a build needs nothing there).
    Absent,
    /// Exactly the locked artifact.
    UpToDate,
    /// Something else (see `workspace_changes`): `cargo dvc pull` refuses
    /// to replace it without `--force`.
    Modified,
    /// Cannot be told without the artifact's directory listing (its `.dir`
    /// object is not cached), or without a lock.
    Unknown,
}

/// A file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    /// A single file.
    File,
    /// A directory.
    Directory,
}

/// `cargo dvc update --json`.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateReport {
    /// Always [`FORMAT_VERSION`].
    pub version: u32,
    /// `true` with `--dry-run`: nothing was written.
    pub dry_run: bool,
    /// One entry per dependency looked at.
    pub updates: Vec<DependencyUpdate>,
}

/// One dependency in `update`.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyUpdate {
    /// The package declaring it.
    pub package: String,
    /// The dependency's name.
    pub name: String,
    /// The lock file, relative to the crate root.
    pub lock_path: String,
    /// `rev` before (as declared).
    pub rev_before: Option<String>,
    /// `rev` after (`--rev`, or unchanged).
    pub rev_after: Option<String>,
    /// The locked commit before; `null` when there was no lock.
    pub rev_lock_before: Option<String>,
    /// The locked commit after (`null` for a URL dependency).
    pub rev_lock_after: Option<String>,
    /// The data's MD5 before; `null` when there was no lock.
    pub md5_before: Option<String>,
    /// The data's MD5 after.
    pub md5_after: String,
    /// Whether the lock's text changes.
    pub changed: bool,
    /// Whether the data changes (not only the commit).
    pub data_changed: bool,
    /// Whether the lock (and `Cargo.toml`) were written (`false` with
    /// `--dry-run` or when nothing changed).
    pub written: bool,
}

/// `cargo dvc fetch --json`.
#[derive(Debug, Clone, Serialize)]
pub struct FetchReport {
    /// Always [`FORMAT_VERSION`].
    pub version: u32,
    /// One entry per dependency fetched.
    pub fetched: Vec<DependencyFetch>,
}

/// One dependency in `fetch`.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyFetch {
    /// The package declaring it.
    pub package: String,
    /// The dependency's name.
    pub name: String,
    /// The MD5 of the artifact (a directory's `.dir` hash).
    pub md5: String,
    /// Its size in bytes.
    pub size: u64,
    /// `file` or `directory`.
    pub kind: ArtifactKind,
    /// `false` when it was in the cache already.
    pub downloaded: bool,
    /// What was done to the lock.
    pub lock: LockWrite,
}

/// What a command did to a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockWrite {
    /// The lock matched its declaration and was used as it is.
    Used,
    /// There was none; it was written.
    Created,
    /// It was stale; it was written anew.
    Replaced,
}

/// `cargo dvc check --json`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Always [`FORMAT_VERSION`].
    pub version: u32,
    /// `true` when every lock agrees with its declaration (exit 0).
    pub ok: bool,
    /// One entry per dependency.
    pub dependencies: Vec<DependencyCheck>,
    /// Problems that do not fail the check (packaging, orphaned locks).
    pub warnings: Vec<CheckWarning>,
}

/// One dependency in `check`.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyCheck {
    /// The package declaring it.
    pub package: String,
    /// The dependency's name.
    pub name: String,
    /// The lock file, relative to the crate root.
    pub lock_path: String,
    /// The lock compared with the declaration.
    pub lock: LockStatus,
    /// Why it is not `fresh`.
    pub reason: Option<String>,
    /// What to do about it.
    pub help: Option<String>,
}

/// A warning from `check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckWarning {
    /// The package it concerns.
    pub package: String,
    /// The dependency it concerns, if one.
    pub name: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

/// `cargo dvc ls --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    /// Always [`FORMAT_VERSION`].
    pub version: u32,
    /// The commit listed.
    pub rev_lock: String,
    /// The entries, sorted by path.
    pub entries: Vec<ListEntryJson>,
}

/// One entry of `ls`: `dvc list --json`'s fields.
#[derive(Debug, Clone, Serialize)]
pub struct ListEntryJson {
    /// Relative to the folder listed (a file's own name when a file was
    /// listed).
    pub path: String,
    /// A DVC output, or a file or folder inside a directory output.
    pub isout: bool,
    /// A folder.
    pub isdir: bool,
    /// A file git records as executable.
    pub isexec: bool,
    /// A git file's size, or the size a DVC file records for an output.
    pub size: Option<u64>,
    /// An output's MD5 (a directory's ends in `.dir`), or a file's inside a
    /// directory output.
    pub md5: Option<String>,
}

/// `value` as one line of JSON.
pub fn to_line(value: &impl Serialize) -> String {
    // Serializing these plain structs cannot fail (string keys, no maps
    // with non-string keys, no floats).
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}
