//! The engine: from a declaration, or from a lock, to a verified artifact in
//! the cache.
//!
//! [`Engine::resolve`] is `dvc import`: resolve `rev` to a commit in the git
//! database, look the path up in the registry at that commit, fetch it, and
//! describe it as an [`ImportStage`] (the lock). [`Engine::fetch_locked`] is
//! `dvc pull` of an import: the warm path finds the lock's `md5` in the cache
//! and touches neither git nor the network; the cold path reads the registry
//! at `rev_lock` from the git database (fetching that one commit if needed),
//! downloads the object and checks it is the one the lock names. A lock
//! whose remote is given as options (`remote = { url = ... }`) names its data
//! completely: its cold path fetches the objects by the lock's hash from that
//! remote and needs no git at all (see `fetch_by_hash`).
//!
//! Where the bytes come from, as `dvc` reads a registry:
//!
//! * a DVC output: the registry's remote (`repo.remote`, else its default
//!   remote, with `repo.config` merged over its config); a registry given as
//!   a local path whose work tree names no default remote is read from its
//!   own DVC cache (`.dvc/cache`), as `dvc` does (through a git URL, such a
//!   registry has no storage, and both tools fail);
//! * an output that is itself an import (a chained import): the registry it
//!   was imported from, at its `rev_lock`, recursively (never the middle
//!   registry's remote, which `dvc push` leaves without imported data);
//! * a file git tracks (`cache: false` outputs included): the commit;
//! * a folder: its git files and the DVC outputs below it, merged as `dvc`
//!   lists them, under a `.dir` manifest made here (so the lock's hash is
//!   `dvc`'s);
//! * a DVC 2 directory: its files, under a manifest re-made from their plain
//!   MD5s, as `dvc` 3 does.
//!
//! A lock without a hash (`dvc import --no-download`) names whatever the
//! registry has at `rev_lock`: the first fetch records the answer in the
//! cache, so later builds find it with no git. A lock without `rev_lock`
//! is read at `rev`, as `dvc` reads it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::cache::{Cache, CachedFile, Inspected};
use crate::confined::Dir;
use crate::error::{Error, ErrorKind, Result};
use crate::format::config::Config;
use crate::format::dir_manifest::{DirEntry, DirManifest};
use crate::format::stage::{ImportStage, LockStage, NameOrMap, OutInfo, RepoSpec};
use crate::format::yaml::{Map, Value};
use crate::git::{CommitId, EntryKind, GitDatabase, GitRemote, NetMode};
use crate::hash::Md5;
use crate::materialize::{self, Expected, Placed, Target, Want};
use crate::progress::{CountingRemote, Progress};
use crate::redact;
use crate::remote::{self, Layout, ObjectKey, Remote};
use crate::source::{self, Folder, ImportLink, Located, NodeKind, SourceTree, TrackedOutput, join};
use crate::transfer;

mod list;
mod url;

pub use list::{ListEntry, ListOptions};
pub use url::{SourceState, UrlSpec, etag_tree_md5};

/// An artifact whose bytes are all in the cache, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Artifact {
    /// A single file.
    File(CachedFile),
    /// A directory: its `.dir` manifest hash and every file.
    Dir {
        /// The MD5 of the directory's `.dir` manifest (as the lock records it).
        md5: Md5,
        /// Relative path and cached object of every file, sorted by path.
        files: Vec<(String, CachedFile)>,
        /// Sum of the files' sizes.
        size: u64,
    },
}

impl Artifact {
    /// The hash the lock records (the `.dir` hash for a directory).
    pub fn md5(&self) -> Md5 {
        match self {
            Artifact::File(f) => f.md5,
            Artifact::Dir { md5, .. } => *md5,
        }
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self, Artifact::Dir { .. })
    }

    /// What placing it puts in place.
    pub fn target(&self) -> Target<'_> {
        match self {
            Artifact::File(file) => Target::File(file),
            Artifact::Dir { files, .. } => Target::Dir(files),
        }
    }

    /// The `outs` entry of a lock naming this artifact at `path`.
    pub fn out_info(&self, path: &str) -> OutInfo {
        match self {
            Artifact::File(f) => OutInfo {
                path: path.to_string(),
                md5: Some(f.md5),
                is_dir: false,
                size: Some(f.size),
                nfiles: None,
                isexec: false,
            },
            Artifact::Dir { md5, files, size } => OutInfo {
                path: path.to_string(),
                md5: Some(*md5),
                is_dir: true,
                size: Some(*size),
                nfiles: Some(files.len() as u64),
                isexec: false,
            },
        }
    }
}

/// Where a declaration points now: see [`Engine::probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The commit `rev` resolves to.
    pub commit: CommitId,
    /// The hash the registry records for the path at that commit (the
    /// `.dir` hash for a directory), when known without downloading data.
    pub md5: Option<Md5>,
}

/// What the cache holds for a lock's artifact ([`Engine::inspect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The artifact, when every object is cached and matches its hash.
    pub artifact: Option<Artifact>,
    /// What belongs at the output, when known: the file's hash, or a
    /// directory's files when its `.dir` object is cached.
    pub expected: Option<Expected>,
    /// Cache objects whose bytes no longer match their name.
    pub corrupt: Vec<PathBuf>,
}

impl Inspection {
    /// Nothing known about the artifact.
    fn unknown() -> Inspection {
        Inspection {
            artifact: None,
            expected: None,
            corrupt: Vec::new(),
        }
    }
}

/// Shared state for resolving and fetching: the cache (which also holds the
/// git databases) and the open remotes. Cheap to share across threads.
pub struct Engine {
    cache: Cache,
    net: NetMode,
    remotes: Mutex<HashMap<String, Arc<dyn Remote>>>,
    /// Revisions resolved in this session, by registry and `rev`: ten
    /// dependencies on one registry cost one round trip to it, not ten.
    resolved: Mutex<HashMap<(String, Option<String>), CommitId>>,
    /// Where download progress goes, if anywhere.
    progress: Option<Arc<dyn Progress>>,
    /// Compute (and record) the SHA-256 of every URL import's download.
    want_sha256: std::sync::atomic::AtomicBool,
    /// Directories cached before that a fetch may share files with
    /// ([`Engine::reuse_dir`]).
    known_dirs: Mutex<Vec<Md5>>,
}

impl Engine {
    /// An engine over `cache`, online or offline.
    pub fn new(cache: Cache, net: NetMode) -> Engine {
        Engine {
            cache,
            net,
            remotes: Mutex::new(HashMap::new()),
            resolved: Mutex::new(HashMap::new()),
            progress: None,
            want_sha256: std::sync::atomic::AtomicBool::new(false),
            known_dirs: Mutex::new(Vec::new()),
        }
    }

    /// Says that the directory whose lock records `md5` was fetched before
    /// (the version an update replaces): a directory fetched later in this
    /// session trusts the files it shares with it by its record, one `stat`
    /// each, instead of hashing them again.
    pub fn reuse_dir(&self, md5: Md5) {
        let mut known = self.known_dirs.lock().unwrap_or_else(|e| e.into_inner());
        if !known.contains(&md5) {
            known.push(md5);
        }
    }

    /// From now on, computes the SHA-256 of every URL import downloaded
    /// (in the same pass as its MD5) and records it in the cache, pinned
    /// or not: what `cargo dvc import-url` shows so that it can be pinned.
    pub fn compute_sha256(&self, yes: bool) {
        self.want_sha256
            .store(yes, std::sync::atomic::Ordering::Relaxed);
    }

    fn wants_sha256(&self) -> bool {
        self.want_sha256.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The SHA-256 of a cached file (recorded, or read once).
    pub fn sha256(&self, file: &CachedFile) -> Result<crate::hash::Sha256> {
        self.cache.sha256(file)
    }

    /// Reports every byte downloaded from a remote to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Engine {
        self.progress = Some(progress);
        self
    }

    /// The content cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Whether the network may be used.
    pub fn net(&self) -> NetMode {
        self.net
    }

    /// The git database of the registry at `url` (relative local paths are
    /// taken from `base`, the crate root).
    pub fn database(&self, url: &str, base: &Path) -> Result<GitDatabase> {
        let remote = GitRemote::with_base(url, base)?;
        GitDatabase::open(self.cache.root(), &remote)
    }

    /// `dvc import`: resolves `repo.rev` and fetches `path` (as typed: `dir/`,
    /// `/data`, `.`) at that commit. Returns the lock (with `out_path` as its
    /// output's path, relative to the lock's folder) and the artifact.
    pub fn resolve(
        &self,
        base: &Path,
        repo: &RepoSpec,
        path: &str,
        out_path: &str,
    ) -> Result<(ImportStage, Artifact)> {
        let at = self.at_rev(base, repo)?;
        let artifact = self.fetch_at(&at, path)?;
        let stage = ImportStage {
            frozen: true,
            dep_path: path.to_string(),
            repo: RepoSpec {
                rev_lock: Some(at.commit.as_str().to_string()),
                ..repo.clone()
            },
            out: artifact.out_info(out_path),
        };
        Ok((stage, artifact))
    }

    /// `dvc import --no-download`: resolves `repo.rev` and checks `path` is
    /// there at that commit, fetching nothing. The lock records no hash.
    pub fn resolve_no_download(
        &self,
        base: &Path,
        repo: &RepoSpec,
        path: &str,
        out_path: &str,
    ) -> Result<ImportStage> {
        let at = self.at_rev(base, repo)?;
        source::locate(&Snapshot::new(&at.db, &at.commit), &lookup_path(path)?)?;
        Ok(ImportStage {
            frozen: true,
            dep_path: path.to_string(),
            repo: RepoSpec {
                rev_lock: Some(at.commit.as_str().to_string()),
                ..repo.clone()
            },
            out: OutInfo {
                path: out_path.to_string(),
                md5: None,
                is_dir: false,
                size: None,
                nfiles: None,
                isexec: false,
            },
        })
    }

    /// The registry `repo` opened at the commit its `rev` points at now
    /// (asking the remote, unless offline).
    fn at_rev(&self, base: &Path, repo: &RepoSpec) -> Result<At> {
        let db = self.database(&repo.url, base)?;
        let commit = self.resolve_rev(&db, repo.rev.as_deref())?;
        Ok(At {
            repo: repo.clone(),
            base: base.to_path_buf(),
            db,
            commit,
        })
    }

    /// The commit `repo.rev` points at now (asking the remote, unless
    /// offline): for "update available".
    pub fn latest_commit(&self, base: &Path, repo: &RepoSpec) -> Result<CommitId> {
        let db = self.database(&repo.url, base)?;
        self.resolve_rev(&db, repo.rev.as_deref())
    }

    /// What `repo.rev` points at now and the hash the registry records there
    /// for `path` (as typed), downloading no data (at most a directory's
    /// small `.dir` object): for "update available" only when the data
    /// changed. The hash is `None` where it cannot be had without
    /// downloading (a folder, a DVC 2 directory, a chained import). A
    /// declaration that cannot be resolved (an unknown `rev`, a `path` not
    /// in the registry) is an error.
    pub fn probe(&self, base: &Path, repo: &RepoSpec, path: &str) -> Result<Probe> {
        let at = self.at_rev(base, repo)?;
        let snapshot = Snapshot::new(&at.db, &at.commit);
        let lookup = lookup_path(path)?;
        let found = source::locate(&snapshot, &lookup)?;
        let md5 = match &found.located {
            Located::Output(out) if out.import.is_none() => out
                .key
                .filter(|k| !k.is_dir || k.layout == Layout::V3)
                .map(|k| k.md5),
            Located::InsideDir { dir, inner } if dir.import.is_none() => match dir.key {
                Some(key) => {
                    let remote = self.remote_for(&at, &snapshot, &found.project_dir)?;
                    let manifest = self.dir_manifest(&*remote, dir, key)?;
                    match manifest.get(inner) {
                        Some(entry) if key.layout == Layout::V3 => Some(entry.md5),
                        Some(_) => None,
                        None => {
                            let sub = manifest.subtree(inner);
                            if sub.entries().is_empty() {
                                return Err(Error::new(
                                    ErrorKind::NotFound,
                                    format!(
                                        "`{path}` is not in the directory `{}` tracked by `{}`",
                                        dir.path, dir.recorded_in
                                    ),
                                )
                                .with_help("check `path`"));
                            }
                            (key.layout == Layout::V3).then(|| sub.md5())
                        }
                    }
                }
                None => None,
            },
            Located::GitFile => snapshot.read(&lookup)?.map(|bytes| Md5::of(&bytes)),
            _ => None,
        };
        Ok(Probe {
            commit: at.commit.clone(),
            md5,
        })
    }

    /// Tells the progress sink how many bytes are coming, when known.
    fn expect(&self, size: Option<u64>) {
        if let (Some(progress), Some(size)) = (&self.progress, size) {
            progress.expect(size);
        }
    }

    /// `rev` resolved in `db`, once per session.
    fn resolve_rev(&self, db: &GitDatabase, rev: Option<&str>) -> Result<CommitId> {
        let key = (db.remote().canonical().to_string(), rev.map(str::to_string));
        let memo = |m: &Mutex<HashMap<_, CommitId>>| {
            m.lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .cloned()
        };
        if let Some(commit) = memo(&self.resolved) {
            return Ok(commit);
        }
        let commit = db.resolve(rev, self.net)?;
        self.resolved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, commit.clone());
        Ok(commit)
    }

    /// The artifact a lock names, from the cache alone; `None` when any part
    /// of it is missing. No git, no network: a registry import without a
    /// hash (`--no-download`) is looked up in the answers recorded by
    /// earlier fetches at its `rev_lock`.
    pub fn cached_lock(&self, base: &Path, stage: &LockStage) -> Result<Option<Artifact>> {
        match self.locked_object(base, stage) {
            Some((md5, is_dir)) => self.cached_object_tree(md5, is_dir),
            None => Ok(None),
        }
    }

    /// The object (hash, and whether it is a `.dir`) a lock names: its own
    /// hash, else, for a registry import without one (`--no-download`), the
    /// answer an earlier fetch recorded at its `rev_lock`. No git.
    fn locked_object(&self, base: &Path, stage: &LockStage) -> Option<(Md5, bool)> {
        let out = stage.out();
        match (out.md5, stage) {
            (Some(md5), _) => Some((md5, out.is_dir)),
            (None, LockStage::Import(import)) => self.recorded_resolution(base, import),
            (None, LockStage::ImportUrl(_)) => None,
        }
    }

    /// The artifact a lock's `outs` entry names, from the cache alone;
    /// `None` when any part of it is missing (or it records no hash). No
    /// git, no network.
    pub fn cached(&self, out: &OutInfo) -> Result<Option<Artifact>> {
        match out.md5 {
            Some(md5) => self.cached_object_tree(md5, out.is_dir),
            None => Ok(None),
        }
    }

    /// Whether the artifact of `out` looks cached, for a message said
    /// before the real check (`Downloading`): a file is checked as
    /// [`Engine::cached`] checks it; a directory only by its `.dir` object
    /// and the record of its files' stamps, without a `stat` per file (the
    /// fetch that follows makes those, and downloads what is missing).
    ///
    /// # Errors
    ///
    /// As [`Engine::cached`].
    pub fn looks_cached(&self, out: &OutInfo) -> Result<bool> {
        let Some(md5) = out.md5 else {
            return Ok(false);
        };
        if !out.is_dir {
            return Ok(self.cache.get(&md5, false)?.is_some());
        }
        Ok(self.cached_object(&md5, true)?.is_some() && self.cache.has_set_record(&md5))
    }

    /// The file, or the directory and every file of it, from the cache.
    fn cached_object_tree(&self, md5: Md5, is_dir: bool) -> Result<Option<Artifact>> {
        if !is_dir {
            return Ok(self.cache.get(&md5, false)?.map(Artifact::File));
        }
        let Some(dir) = self.cached_object(&md5, true)? else {
            return Ok(None);
        };
        let manifest = read_manifest(&dir)?;
        let hashes: Vec<Md5> = manifest.entries().iter().map(|e| e.md5).collect();
        if let Some(cached) = self.cache.get_set(&md5, &hashes)? {
            let size = cached.iter().map(|f| f.size).sum();
            let files = manifest
                .entries()
                .iter()
                .map(|e| e.relpath.clone())
                .zip(cached)
                .collect();
            return Ok(Some(Artifact::Dir { md5, files, size }));
        }
        // Some object is missing under its recorded name: DVC 2 hashes are
        // cached under their plain MD5 (an alias away).
        let mut files = Vec::with_capacity(manifest.entries().len());
        let mut size = 0;
        for entry in manifest.entries() {
            match self.cached_object(&entry.md5, false)? {
                Some(f) => {
                    size += f.size;
                    files.push((entry.relpath.clone(), f));
                }
                None => return Ok(None),
            }
        }
        Ok(Some(Artifact::Dir { md5, files, size }))
    }

    /// The key of the answer to "what does `stage` name at its `rev_lock`"
    /// (registry, commit, path), or `None` without a `rev_lock`.
    fn resolution_key(&self, base: &Path, stage: &ImportStage) -> Option<Md5> {
        let rev_lock = CommitId::parse(stage.repo.rev_lock.as_deref()?)?;
        let remote = GitRemote::with_base(&stage.repo.url, base).ok()?;
        let path = lookup_path(&stage.dep_path).ok()?;
        let key = format!("{}\n{}\n{}", remote.canonical(), rev_lock, path);
        Some(Md5::of(key.as_bytes()))
    }

    /// What an earlier fetch found `stage` names at its `rev_lock`.
    fn recorded_resolution(&self, base: &Path, stage: &ImportStage) -> Option<(Md5, bool)> {
        let key = self.resolution_key(base, stage)?;
        let text = self.cache.read_record(RESOLVED, &key)?;
        let text = text.trim();
        match text.strip_suffix(".dir") {
            Some(hex) => Some((hex.parse().ok()?, true)),
            None => Some((text.parse().ok()?, false)),
        }
    }

    /// What the cache holds for the artifact a lock names, looked at without
    /// changing anything (no lock, no record written, a corrupt object left
    /// where it is): for `status`. See [`Inspection`]. A registry import
    /// without a hash (`--no-download`) is looked at through the answer an
    /// earlier fetch recorded at its `rev_lock`; without one, nothing is
    /// known (no git is read here).
    pub fn inspect(&self, base: &Path, stage: &LockStage) -> Result<Inspection> {
        let out = stage.out();
        let Some((md5, is_dir)) = self.locked_object(base, stage) else {
            return Ok(Inspection::unknown());
        };
        let mut corrupt = Vec::new();
        // An object by its recorded hash, or by the plain MD5 a DVC 2 hash
        // is an alias of; `Err(md5)`: not (well) cached, `md5` the plain
        // hash when known.
        let mut look = |md5: &Md5, is_dir: bool| -> Result<std::result::Result<CachedFile, Md5>> {
            let plain = match self.cache.inspect(md5, is_dir)? {
                Inspected::Missing => match self.cache.legacy_alias(md5, is_dir) {
                    Some(plain) => plain,
                    None => return Ok(Err(*md5)),
                },
                found => {
                    return Ok(match found {
                        Inspected::Good(file) => Ok(file),
                        Inspected::Corrupt(path) => {
                            corrupt.push(path);
                            Err(*md5)
                        }
                        Inspected::Missing => Err(*md5),
                    });
                }
            };
            Ok(match self.cache.inspect(&plain, is_dir)? {
                Inspected::Good(file) => Ok(file),
                Inspected::Corrupt(path) => {
                    corrupt.push(path);
                    Err(plain)
                }
                Inspected::Missing => Err(plain),
            })
        };
        if !is_dir {
            let (artifact, expected) = match look(&md5, false)? {
                Ok(file) => (
                    Some(Artifact::File(file.clone())),
                    Expected::File(Want::from(&file)),
                ),
                Err(md5) => (None, Expected::File(Want::hash(md5, out.size))),
            };
            return Ok(Inspection {
                artifact,
                expected: Some(expected),
                corrupt,
            });
        }
        let manifest = match look(&md5, true)? {
            Ok(dir) => read_manifest(&dir)?,
            Err(_) => {
                return Ok(Inspection {
                    artifact: None,
                    expected: None,
                    corrupt,
                });
            }
        };
        let hashes: Vec<Md5> = manifest.entries().iter().map(|e| e.md5).collect();
        let trusted = self.cache.trusted_set(&md5, &hashes);
        let mut files = Vec::with_capacity(hashes.len());
        let mut wants = Vec::with_capacity(hashes.len());
        for (i, entry) in manifest.entries().iter().enumerate() {
            let found = match &trusted {
                Some(set) => Ok(set[i].clone()),
                None => look(&entry.md5, false)?,
            };
            match found {
                Ok(file) => {
                    wants.push((entry.relpath.clone(), Want::from(&file)));
                    files.push((entry.relpath.clone(), file));
                }
                Err(md5) => wants.push((entry.relpath.clone(), Want::hash(md5, None))),
            }
        }
        let artifact = (files.len() == hashes.len()).then(|| Artifact::Dir {
            md5,
            size: files.iter().map(|(_, f)| f.size).sum(),
            files,
        });
        Ok(Inspection {
            artifact,
            expected: Some(Expected::Dir(wants)),
            corrupt,
        })
    }

    /// An object by the hash a registry recorded: its plain MD5, or a DVC 2
    /// hash whose plain MD5 the cache learnt when it verified the bytes.
    fn cached_object(&self, md5: &Md5, is_dir: bool) -> Result<Option<CachedFile>> {
        if let Some(found) = self.cache.get(md5, is_dir)? {
            return Ok(Some(found));
        }
        match self.cache.legacy_alias(md5, is_dir) {
            Some(plain) => self.cache.get(&plain, is_dir),
            None => Ok(None),
        }
    }

    /// Places `artifact` at `rel` below `root` (a file, or a directory with
    /// exactly its files), as `options` say. The links this makes change
    /// only the objects' ctime and link count, which the cache's stamp check
    /// tolerates: nothing to re-record.
    pub fn place(
        &self,
        artifact: &Artifact,
        root: &Dir,
        rel: &Path,
        options: materialize::Options,
    ) -> Result<Placed> {
        materialize::place(&self.cache, artifact.target(), root, rel, options)
    }

    /// `dvc pull` of a lock: the artifact it names, from the cache when it
    /// is there (no git, no network), else fetched from its source and
    /// checked against the lock's hash (and `sha256`, the pin of a URL
    /// import). `base` is the folder the lock's relative paths start from:
    /// the crate root for a registry import's `url`, the lock's own folder
    /// for a URL import's path (as DVC reads a stage's paths).
    pub fn fetch_locked(
        &self,
        base: &Path,
        stage: &LockStage,
        sha256: Option<crate::hash::Sha256>,
    ) -> Result<Artifact> {
        match stage {
            LockStage::Import(import) => {
                if let Some(found) = self.cached_lock(base, stage)? {
                    return Ok(found);
                }
                self.fetch_import(base, import)
            }
            LockStage::ImportUrl(stage) => self.fetch_import_url(base, stage, sha256),
        }
    }

    /// The artifact of a registry import's lock, fetched at `rev_lock` (at
    /// `rev` when the lock has none, as `dvc` reads it) and checked against
    /// the lock's hash (or, for a lock without one, taken as the registry
    /// has it there).
    fn fetch_import(&self, base: &Path, stage: &ImportStage) -> Result<Artifact> {
        // A remote given as options names the data completely: no git.
        if let Some(found) = self.fetch_by_hash(base, stage)? {
            return Ok(found);
        }
        let db = self.database(&stage.repo.url, base)?;
        let commit = match stage.repo.rev_lock.as_deref() {
            Some(rev_lock) => {
                let commit = CommitId::parse(rev_lock).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Format,
                        format!("the lock's `rev_lock` `{rev_lock}` is not a commit id"),
                    )
                    .with_help("run `cargo dvc update` to pin a commit")
                })?;
                if self.net.is_offline() && !db.contains(&commit)? {
                    return Err(offline_missing(stage));
                }
                db.ensure_commit(&commit, self.net)?;
                commit
            }
            None => self.resolve_rev(&db, stage.repo.rev.as_deref())?,
        };
        let at = At {
            repo: stage.repo.clone(),
            base: base.to_path_buf(),
            db,
            commit,
        };
        let artifact = self.fetch_at(&at, &stage.dep_path).map_err(|e| {
            if e.kind() == ErrorKind::Offline {
                e.replace_help(offline_help(stage))
            } else {
                e
            }
        })?;
        let Some(locked) = stage.out.md5 else {
            // What the registry has at `rev_lock` never changes: remember
            // it, so the next build needs no git. (Without a `rev_lock`
            // there is no key, and nothing to remember.)
            if let Some(key) = self.resolution_key(base, stage) {
                let suffix = if artifact.is_dir() { ".dir" } else { "" };
                let answer = format!("{}{suffix}", artifact.md5());
                self.cache.write_record(RESOLVED, &key, &answer)?;
            }
            return Ok(artifact);
        };
        if artifact.md5() != locked || artifact.is_dir() != stage.out.is_dir {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "the registry has `{}` at {} as {}, but the lock says {}",
                    stage.dep_path,
                    at.commit.short(7),
                    artifact.md5(),
                    locked
                ),
            )
            .with_help(
                "the lock does not match the registry: run `cargo dvc update` to re-resolve it",
            ));
        }
        Ok(artifact)
    }

    /// The cold path of a lock whose declaration gives its remote as options:
    /// the lock's `md5` names the object on that remote (DVC 3's layout,
    /// else DVC 2's), so no git is needed, and the bytes are verified against
    /// the lock as ever. `None` when that remote has no such object (a
    /// sub-folder of a tracked directory, whose `.dir` is made on import; a
    /// file tracked by git itself; a DVC 2 text file hashed as DVC 2 does),
    /// for another kind of remote, and offline: the caller then looks the
    /// path up in the registry at `rev_lock`.
    fn fetch_by_hash(&self, base: &Path, stage: &ImportStage) -> Result<Option<Artifact>> {
        let Some(NameOrMap::Map(map)) = &stage.repo.remote else {
            return Ok(None);
        };
        if self.net.is_offline() {
            return Ok(None);
        }
        let options = scalar_options(map, "repo.remote")?;
        let remote = self.declared_remote(base, options)?;
        let out = &stage.out;
        // A lock without a hash (`--no-download`) names nothing by itself.
        let Some(md5) = out.md5 else {
            return Ok(None);
        };
        self.expect(out.size);
        for layout in [remote::Layout::V3, remote::Layout::V2] {
            let key = ObjectKey {
                md5,
                is_dir: out.is_dir,
                layout,
            };
            let fetched = if out.is_dir {
                transfer::fetch_file(&*remote, &self.cache, key, None).and_then(|file| {
                    let manifest = read_manifest(&file)?;
                    self.fetch_dir(&*remote, key, &manifest, true)
                })
            } else {
                transfer::fetch_file(&*remote, &self.cache, key, out.size).map(Artifact::File)
            };
            match fetched {
                // A DVC 2 object is named by its text-normalised hash: the
                // bytes must still be the ones the lock names.
                Ok(artifact) if artifact.md5() == md5 => return Ok(Some(artifact)),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        crate::trace::event("Looking up", || {
            format!(
                "`{}` in {}: {} is not on the declared remote under its own name",
                stage.dep_path,
                redact::url(&stage.repo.url),
                md5
            )
        });
        Ok(None)
    }

    /// Looks `path` (as typed) up in the registry `at` and fetches it into
    /// the cache.
    fn fetch_at(&self, at: &At, path: &str) -> Result<Artifact> {
        let mut chain = Vec::new();
        self.fetch_path(at, &lookup_path(path)?, &mut chain)
    }

    /// Fetches `path` (normal form) from the registry `at`; `chain` holds
    /// the registries a chained import went through to get here.
    fn fetch_path(&self, at: &At, path: &str, chain: &mut Vec<String>) -> Result<Artifact> {
        let snapshot = Snapshot::new(&at.db, &at.commit);
        let found = source::locate(&snapshot, path)?;
        let project = found.project_dir.as_str();
        match found.located {
            Located::Output(out) => self.fetch_output(at, &snapshot, project, &out, None, chain),
            Located::InsideDir { dir, inner } => {
                self.fetch_output(at, &snapshot, project, &dir, Some(&inner), chain)
            }
            Located::GitFile => {
                let bytes = snapshot.read(path)?.ok_or_else(|| {
                    Error::new(ErrorKind::NotFound, format!("`{path}` vanished from git"))
                })?;
                Ok(Artifact::File(self.cache.insert_bytes(&bytes, false)?))
            }
            Located::Folder(folder) => {
                self.fetch_folder(at, &snapshot, project, path, &folder, chain)
            }
        }
    }

    /// Fetches the output `out` (or `inner`, a path inside it) of the
    /// project at `project` of the registry `at`.
    fn fetch_output(
        &self,
        at: &At,
        snapshot: &Snapshot<'_>,
        project: &str,
        out: &TrackedOutput,
        inner: Option<&str>,
        chain: &mut Vec<String>,
    ) -> Result<Artifact> {
        // A chained import: its bytes are those of the registry it was
        // imported from, at its `rev_lock`.
        if let Some(link) = &out.import {
            let (next, path) = self.follow_import(at, out, link, inner, chain)?;
            let artifact = self.fetch_path(&next, &path, chain)?;
            chain.pop();
            if inner.is_none() {
                same_as_recorded(out, &artifact)?;
            }
            return Ok(artifact);
        }
        let Some(key) = out.key else {
            return Err(Error::new(
                ErrorKind::Format,
                format!("`{}` names no object for `{}`", out.recorded_in, out.path),
            ));
        };
        let remote = self.remote_for(at, snapshot, project)?;
        let Some(inner) = inner else {
            self.expect(out.size);
            if !key.is_dir {
                let file = transfer::fetch_file(&*remote, &self.cache, key, out.size)?;
                return Ok(Artifact::File(file));
            }
            let manifest = self.dir_manifest(&*remote, out, key)?;
            // `dvc` 3 names a DVC 2 directory by a manifest of the files'
            // plain MD5s (a text file with CRLF had another hash in DVC 2).
            let whole = key.layout == Layout::V3;
            return self.fetch_dir(&*remote, key, &manifest, whole);
        };
        let manifest = self.dir_manifest(&*remote, out, key)?;
        if let Some(entry) = manifest.get(inner) {
            let key = ObjectKey {
                md5: entry.md5,
                is_dir: false,
                layout: key.layout,
            };
            let file = transfer::fetch_file(&*remote, &self.cache, key, None)?;
            return Ok(Artifact::File(file));
        }
        let sub = manifest.subtree(inner);
        if sub.entries().is_empty() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "`{}/{inner}` is not in the directory `{}` tracked by `{}`",
                    out.path, out.path, out.recorded_in
                ),
            )
            .with_help(format!(
                "check `path`; `{}` holds {}",
                out.path,
                sample(&manifest)
            )));
        }
        self.fetch_dir(&*remote, key, &sub, false)
    }

    /// One hop of a chain of imports: the registry `out` was imported from
    /// (`link`), at its `rev_lock`, and the path there (with `inner`, a path
    /// inside the output, appended). Pushes the hop onto `chain` (the
    /// caller pops it when done); a chain that loops or is too long is an
    /// error.
    fn follow_import(
        &self,
        at: &At,
        out: &TrackedOutput,
        link: &ImportLink,
        inner: Option<&str>,
        chain: &mut Vec<String>,
    ) -> Result<(At, String)> {
        // A relative URL in the middle registry's stage is relative to that
        // registry's folder, when it is a local checkout.
        let base = match at.db.remote().local_path() {
            Some(dir) => dir,
            None => at.base.clone(),
        };
        let db = self.database(&link.repo.url, &base)?;
        let commit = match link.repo.rev_lock.as_deref() {
            Some(rev_lock) => {
                let commit = CommitId::parse(rev_lock).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Format,
                        format!(
                            "`{}` has a `rev_lock` that is not a commit id",
                            out.recorded_in
                        ),
                    )
                })?;
                db.ensure_commit(&commit, self.net)?;
                commit
            }
            None => self.resolve_rev(&db, link.repo.rev.as_deref())?,
        };
        let mut path = lookup_path(&link.path)?;
        if let Some(inner) = inner {
            path = join(&path, inner);
        }
        let hop = format!(
            "{} {} at {}",
            redact::url(&link.repo.url),
            path,
            commit.short(7)
        );
        if chain.contains(&hop) || chain.len() >= MAX_CHAIN {
            let why = if chain.contains(&hop) {
                "loops"
            } else {
                "is too long"
            };
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "the chain of imports behind `{}` {why}: {}",
                    out.path,
                    chain.join(" -> ")
                ),
            )
            .with_help(
                "the registries import from each other; import from the registry that holds the data",
            ));
        }
        chain.push(hop);
        let next = At {
            repo: link.repo.clone(),
            base,
            db,
            commit,
        };
        Ok((next, path))
    }

    /// A folder as `dvc` lists it: its git files and the DVC outputs below
    /// it, under a `.dir` manifest made here.
    fn fetch_folder(
        &self,
        at: &At,
        snapshot: &Snapshot<'_>,
        project: &str,
        path: &str,
        folder: &Folder,
        chain: &mut Vec<String>,
    ) -> Result<Artifact> {
        let strip = |full: &str| -> String {
            if path.is_empty() {
                full.to_string()
            } else {
                full[path.len() + 1..].to_string()
            }
        };
        let mut files: BTreeMap<String, CachedFile> = BTreeMap::new();
        for (full, bytes) in snapshot.read_many(&folder.git_files)? {
            files.insert(strip(&full), self.cache.insert_bytes(&bytes, false)?);
        }
        for out in &folder.outputs {
            let rel = strip(&out.path);
            match self.fetch_output(at, snapshot, project, out, None, chain)? {
                Artifact::File(file) => {
                    files.entry(rel).or_insert(file);
                }
                Artifact::Dir { files: inner, .. } => {
                    for (name, file) in inner {
                        files.entry(format!("{rel}/{name}")).or_insert(file);
                    }
                }
            }
        }
        let files: Vec<(String, CachedFile)> = files.into_iter().collect();
        let size = files.iter().map(|(_, f)| f.size).sum();
        let md5 = self.cache_manifest(&files)?;
        self.cache
            .record_set(&md5, files.iter().map(|(_, file)| file))?;
        Ok(Artifact::Dir { md5, files, size })
    }

    /// The `.dir` manifest of a directory output, fetched and parsed.
    fn dir_manifest(
        &self,
        remote: &dyn Remote,
        out: &TrackedOutput,
        key: ObjectKey,
    ) -> Result<DirManifest> {
        let file = transfer::fetch_file(remote, &self.cache, key, None)?;
        read_manifest(&file).map_err(|e| e.context(format!("the `.dir` object of `{}`", out.path)))
    }

    /// Fetches the files of `manifest` (all of the directory whose `.dir`
    /// object is `key`, or a sub-folder of it). `whole` means the remote's
    /// own `.dir` object describes the result; otherwise (a sub-folder) a new
    /// manifest is made and cached, as `dvc import` does.
    fn fetch_dir(
        &self,
        remote: &dyn Remote,
        key: ObjectKey,
        manifest: &DirManifest,
        whole: bool,
    ) -> Result<Artifact> {
        let entries: Vec<(String, Md5)> = manifest
            .entries()
            .iter()
            .map(|e| (e.relpath.clone(), e.md5))
            .collect();
        let known = self
            .known_dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let fetched = transfer::fetch_dir_reusing(
            remote,
            &self.cache,
            key,
            &entries,
            &known,
            &transfer::Options::default(),
        )?;
        let md5 = if whole {
            key.md5
        } else {
            self.cache_manifest(&fetched.files)?
        };
        if key.layout == Layout::V3 {
            // Its small files have no stamp record of their own: this one
            // vouches for them (see `cache::OWN_RECORD_MIN`).
            self.cache
                .record_set(&md5, fetched.files.iter().map(|(_, file)| file))?;
        }
        Ok(Artifact::Dir {
            md5,
            files: fetched.files,
            size: fetched.size,
        })
    }

    /// Writes the `.dir` manifest of `files` into the cache; its hash.
    fn cache_manifest(&self, files: &[(String, CachedFile)]) -> Result<Md5> {
        let manifest = DirManifest::from_entries(
            files
                .iter()
                .map(|(relpath, f)| DirEntry {
                    relpath: relpath.clone(),
                    md5: f.md5,
                })
                .collect(),
        )?;
        Ok(self
            .cache
            .insert_bytes(manifest.to_json().as_bytes(), true)?
            .md5)
    }

    /// The remote to read the registry's data from: `repo.remote` (a name or
    /// options), else the default remote of the registry's config, with
    /// `repo.config` merged over that config.
    fn remote_for(
        &self,
        at: &At,
        snapshot: &Snapshot<'_>,
        project_dir: &str,
    ) -> Result<Arc<dyn Remote>> {
        let (base, repo) = (at.base.as_path(), &at.repo);
        let config = self.source_config(at, snapshot, project_dir)?;
        let (url, options) = match &repo.remote {
            // Given in the declaration (the config is still read above, so
            // that a broken one is reported as before).
            Some(NameOrMap::Map(map)) => {
                return self.declared_remote(base, scalar_options(map, "repo.remote")?);
            }
            Some(NameOrMap::Name(name)) => remote_by_name(&config, name)?,
            None => {
                let name = config.default_remote().ok_or_else(|| {
                    Error::new(
                        ErrorKind::Remote,
                        format!(
                            "the registry {} has no default remote (`core.remote` in `.dvc/config`), so its data is nowhere to be read",
                            redact::url(&repo.url)
                        ),
                    )
                    .with_help("name one of its remotes with `remote = \"NAME\"`, or give `remote = { url = \"...\" }`; or use the path of a local checkout, whose own DVC cache is then read (as `dvc` does)")
                })?;
                remote_by_name(&config, name)?
            }
        };
        if is_relative_path(&url) {
            // From the config of a registry that is not a local checkout: a
            // relative folder there names nothing we can reach.
            return Err(Error::new(
                ErrorKind::Remote,
                format!(
                    "the registry's remote is the relative path `{url}`, which only has a meaning inside a local checkout of {}",
                    redact::url(&repo.url)
                ),
            )
            .with_help("give the remote explicitly: `remote = { url = \"...\" }`"));
        }
        self.open_remote(url, options)
    }

    /// The remote a declaration gives as options (`repo.remote` as a table):
    /// a relative `url` is taken from `base`, the crate root. No git.
    fn declared_remote(
        &self,
        base: &Path,
        options: BTreeMap<String, String>,
    ) -> Result<Arc<dyn Remote>> {
        let url = options
            .get("url")
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::Manifest, "`remote` options have no `url`"))?;
        let url = if is_relative_path(&url) {
            base.join(&url).to_string_lossy().into_owned()
        } else {
            url
        };
        self.open_remote(url, options)
    }

    /// Opens the remote at `url` with `options` (`url` among them is
    /// ignored), once per session.
    fn open_remote(
        &self,
        url: String,
        mut options: BTreeMap<String, String>,
    ) -> Result<Arc<dyn Remote>> {
        options.remove("url");
        let key = format!("{url}\n{options:?}");
        let mut remotes = self.remotes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = remotes.get(&key) {
            return Ok(Arc::clone(r));
        }
        crate::trace::event("Opening", || format!("remote {}", redact::url(&url)));
        let mut remote: Arc<dyn Remote> = Arc::from(remote::open_remote(&url, &options)?);
        if let Some(progress) = &self.progress {
            remote = Arc::new(CountingRemote::new(remote, Arc::clone(progress)));
        }
        remotes.insert(key, Arc::clone(&remote));
        Ok(remote)
    }

    /// The registry's `.dvc/config` at the commit; for a local checkout, the
    /// remote its work tree names (or, naming none, its own DVC cache), as
    /// `dvc` opens a local repository; `repo.config` merged over it all.
    fn source_config(&self, at: &At, snapshot: &Snapshot<'_>, project_dir: &str) -> Result<Config> {
        let (base, repo) = (at.base.as_path(), &at.repo);
        let config_path = join(project_dir, ".dvc/config");
        let checkout = at.db.remote().local_path();
        // A relative local remote is relative to the folder holding the
        // config: meaningful only when the registry is a local checkout.
        let config_dir = match at.db.remote().is_local() {
            true => {
                let root = PathBuf::from(at.db.remote().url().trim_start_matches("file://"));
                let root = if root.is_absolute() {
                    root
                } else {
                    base.join(root)
                };
                root.join(project_dir)
                    .join(".dvc")
                    .to_string_lossy()
                    .into_owned()
            }
            false => String::new(),
        };
        let mut config = match snapshot.read(&config_path)? {
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                Config::parse(&text, &config_dir)
                    .map_err(|e| e.context(format!("the registry's `{config_path}`")))?
            }
            None => Config::default(),
        };
        let work_tree = match checkout {
            Some(checkout) => work_tree_remote(&checkout.join(project_dir).join(".dvc"))?,
            None => None,
        };
        if let Some(work_tree) = work_tree {
            config.merge_from(&work_tree);
        }
        match &repo.config {
            None => {}
            Some(NameOrMap::Name(file)) => {
                let path = base.join(file);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    Error::io("read", &path, e)
                        .with_help("check `config`: it is a file relative to the crate root")
                })?;
                let dir = path.parent().unwrap_or(base).to_string_lossy().into_owned();
                let extra = Config::parse(&text, &dir).map_err(|e| e.context(path.display()))?;
                config.merge_from(&extra);
            }
            Some(NameOrMap::Map(map)) => {
                let extra = config_from_map(map, &base.to_string_lossy())?;
                config.merge_from(&extra);
            }
        }
        Ok(config)
    }
}

/// How many registries a chain of imports may pass through.
const MAX_CHAIN: usize = 16;

/// The cache records of what a hash-less lock names at its `rev_lock`.
const RESOLVED: &str = "resolved";

/// The name `dvc` gives the remote it makes of a local registry's cache.
const CACHE_AS_REMOTE: &str = "auto-generated-upstream";

/// A registry opened at one commit: its declaration (URL, `remote`,
/// `config`), the folder relative paths in it are taken from, its git
/// database and the commit.
struct At {
    repo: RepoSpec,
    base: PathBuf,
    db: GitDatabase,
    commit: CommitId,
}

/// Checks that what a chained import led to is the object the middle
/// registry recorded for `out` (for a DVC 2 record, whose hash is made
/// otherwise, only that both are files or both directories).
fn same_as_recorded(out: &TrackedOutput, artifact: &Artifact) -> Result<()> {
    let Some(key) = out.key else {
        return Ok(());
    };
    let differs =
        artifact.is_dir() != key.is_dir || (key.layout == Layout::V3 && artifact.md5() != key.md5);
    if differs {
        return Err(Error::new(
            ErrorKind::Integrity,
            format!(
                "`{}` records `{}` as {}, but the registry it was imported from has {}",
                out.recorded_in,
                out.path,
                key.md5,
                artifact.md5()
            ),
        )
        .with_help(
            "the registry's import is out of date; ask its maintainers to run `dvc update`",
        ));
    }
    Ok(())
}

/// `path` as typed (`dir/`, `/data`, `./x`, `.`) in the normal form lookups use.
fn lookup_path(path: &str) -> Result<String> {
    crate::git::normalize_path(path)
}

/// What `dvc` takes from the work tree of a local registry's project
/// (`dot_dvc` is its `.dvc` folder): the definition of the remote its config
/// names as default, or, when it names none, a remote made of its own cache
/// (`cache.dir`, else `.dvc/cache`), set as default. `None` when there is no
/// `.dvc` folder (a bare repository, a branch without DVC checked out).
fn work_tree_remote(dot_dvc: &Path) -> Result<Option<Config>> {
    if !dot_dvc.is_dir() {
        return Ok(None);
    }
    let dir = dot_dvc.to_string_lossy().into_owned();
    let mut config = Config::default();
    for name in ["config", "config.local"] {
        let path = dot_dvc.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let layer = Config::parse(&text, &dir).map_err(|e| e.context(path.display()))?;
                config.merge_from(&layer);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("read", &path, e)),
        }
    }
    let mut out = Config::default();
    match config.default_remote() {
        Some(name) => {
            if let Some(remote) = config.remote(name) {
                let options: Vec<(&str, &str)> = remote
                    .section
                    .options
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                out.set_remote(remote.name, options);
            }
        }
        None => {
            let cache_dir = config
                .section("cache")
                .and_then(|s| s.get("dir"))
                .map(|d| crate::format::config::resolve_local(&dir, d))
                .unwrap_or_else(|| dot_dvc.join("cache").to_string_lossy().into_owned());
            out.section_mut("core").set("remote", CACHE_AS_REMOTE);
            out.set_remote(CACHE_AS_REMOTE, [("url", cache_dir.as_str())]);
        }
    }
    Ok(Some(out))
}

/// A remote's `url` and options, by name (case-insensitive).
fn remote_by_name(config: &Config, name: &str) -> Result<(String, BTreeMap<String, String>)> {
    let Some(remote) = config.remote(name) else {
        let known: Vec<String> = config.remotes().map(|r| format!("`{}`", r.name)).collect();
        return Err(Error::new(
            ErrorKind::Remote,
            format!("the registry has no remote called `{name}`"),
        )
        .with_help(if known.is_empty() {
            "the registry defines no remotes; give `remote = { url = \"...\" }`".to_string()
        } else {
            format!("its remotes are {}", known.join(", "))
        }));
    };
    let options: BTreeMap<String, String> = remote.section.options.iter().cloned().collect();
    let url = options.get("url").cloned().ok_or_else(|| {
        Error::new(
            ErrorKind::Format,
            format!("remote `{name}` in the registry's config has no `url`"),
        )
    })?;
    Ok((url, options))
}

/// A local path that is neither absolute nor a URL.
fn is_relative_path(url: &str) -> bool {
    !url.contains("://") && !Path::new(url).is_absolute()
}

/// A `repo.config` mapping (`{core: {remote: x}, remote: {x: {url: ...}}}`)
/// as a [`Config`].
fn config_from_map(map: &Map, base: &str) -> Result<Config> {
    let mut text = String::new();
    for (section, value) in map.iter() {
        let Value::Map(inner) = value else {
            return Err(Error::new(
                ErrorKind::Manifest,
                format!("config.{section}: expected a table of options"),
            ));
        };
        if section == "remote" {
            for (name, options) in inner.iter() {
                let Value::Map(options) = options else {
                    return Err(Error::new(
                        ErrorKind::Manifest,
                        format!("config.remote.{name}: expected a table of remote options"),
                    ));
                };
                text.push_str(&format!("['remote \"{name}\"']\n"));
                for (k, v) in scalar_options(options, &format!("config.remote.{name}"))? {
                    text.push_str(&format!("{k} = '{v}'\n"));
                }
            }
        } else {
            text.push_str(&format!("[{section}]\n"));
            for (k, v) in scalar_options(inner, &format!("config.{section}"))? {
                text.push_str(&format!("{k} = '{v}'\n"));
            }
        }
    }
    Config::parse(&text, base)
}

/// A mapping of scalar options as strings, the way DVC's config holds them.
fn scalar_options(map: &Map, at: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in map.iter() {
        let s = match v {
            Value::Str(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(x) => x.clone(),
            other => {
                return Err(Error::new(
                    ErrorKind::Manifest,
                    format!(
                        "{at}.{k}: expected a string, boolean or number, found {}",
                        other.kind()
                    ),
                ));
            }
        };
        out.insert(k.to_string(), s);
    }
    Ok(out)
}

fn read_manifest(file: &CachedFile) -> Result<DirManifest> {
    let bytes = std::fs::read(&file.path).map_err(|e| Error::io("read", &file.path, e))?;
    DirManifest::parse(&bytes)
}

fn sample(manifest: &DirManifest) -> String {
    let names: Vec<String> = manifest
        .entries()
        .iter()
        .take(5)
        .map(|e| format!("`{}`", e.relpath))
        .collect();
    let more = if manifest.entries().len() > 5 {
        ", ..."
    } else {
        ""
    };
    format!("{}{more}", names.join(", "))
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(7)]
}

fn offline_help(stage: &ImportStage) -> String {
    format!(
        "`{}` at {} is not in the cache; run `cargo dvc fetch` once with network access",
        stage.dep_path,
        short(stage.repo.rev_lock.as_deref().unwrap_or_default())
    )
}

fn offline_missing(stage: &ImportStage) -> Error {
    Error::new(
        ErrorKind::Offline,
        match stage.out.md5 {
            Some(md5) => format!(
                "offline, and `{}` ({md5}) is not in the cache",
                stage.dep_path
            ),
            None => format!("offline, and `{}` is not in the cache", stage.dep_path),
        },
    )
    .with_help(offline_help(stage))
}

/// A registry at one commit, read from its git database.
///
/// The whole tree is listed once (`git ls-tree -r`), and every DVC file
/// (`*.dvc`, `dvc.lock`, `.dvc/config`, `.dvcignore`) is read in one
/// `git cat-file --batch` on first use: a lookup costs two git processes,
/// not three per file read.
struct Snapshot<'a> {
    db: &'a GitDatabase,
    commit: &'a CommitId,
    listing: std::cell::OnceCell<Listing>,
}

/// Every blob of a commit (path -> entry), the folders holding them, and the
/// bytes of the DVC files among them.
struct Listing {
    files: HashMap<String, crate::git::TreeEntry>,
    dirs: std::collections::HashSet<String>,
    blobs: HashMap<String, Vec<u8>>,
}

impl<'a> Snapshot<'a> {
    fn new(db: &'a GitDatabase, commit: &'a CommitId) -> Snapshot<'a> {
        Snapshot {
            db,
            commit,
            listing: std::cell::OnceCell::new(),
        }
    }

    fn listing(&self) -> Result<&Listing> {
        if let Some(l) = self.listing.get() {
            return Ok(l);
        }
        let entries = self.db.list_dir(self.commit, "", true)?.unwrap_or_default();
        let mut files = HashMap::with_capacity(entries.len());
        let mut dirs = std::collections::HashSet::new();
        dirs.insert(String::new());
        for e in entries {
            let mut p = e.path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                if !dirs.insert(parent.to_string()) {
                    break;
                }
                p = parent;
            }
            files.insert(e.path.clone(), e);
        }
        let wanted: Vec<&crate::git::TreeEntry> = files
            .values()
            .filter(|e| e.kind == EntryKind::Blob && is_dvc_file(&e.path))
            .collect();
        let oids: Vec<_> = wanted.iter().map(|e| e.oid.clone()).collect();
        let bytes = self.db.read_blobs(&oids)?;
        let blobs = wanted.iter().map(|e| e.path.clone()).zip(bytes).collect();
        Ok(self.listing.get_or_init(|| Listing { files, dirs, blobs }))
    }
}

impl Snapshot<'_> {
    /// The bytes of the git files `paths` (in that order, with their paths),
    /// read a few megabytes at a time through `git cat-file --batch`.
    fn read_many(&self, paths: &[String]) -> Result<Vec<(String, Vec<u8>)>> {
        const BATCH_BYTES: u64 = 32 << 20;
        let listing = self.listing()?;
        let mut out = Vec::with_capacity(paths.len());
        let mut batch: Vec<(&String, crate::git::Oid)> = Vec::new();
        let mut batch_bytes = 0;
        let flush = |batch: &mut Vec<(&String, crate::git::Oid)>,
                     out: &mut Vec<(String, Vec<u8>)>|
         -> Result<()> {
            let oids: Vec<_> = batch.iter().map(|(_, oid)| oid.clone()).collect();
            let blobs = self.db.read_blobs(&oids)?;
            out.extend(batch.drain(..).map(|(p, _)| p.clone()).zip(blobs));
            Ok(())
        };
        for path in paths {
            let entry = listing
                .files
                .get(path)
                .filter(|e| e.kind == EntryKind::Blob)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Unsupported,
                        format!("`{path}` is not a regular file in git; only regular files can be imported"),
                    )
                })?;
            batch_bytes += entry.size.unwrap_or(0);
            batch.push((path, entry.oid.clone()));
            if batch_bytes >= BATCH_BYTES {
                flush(&mut batch, &mut out)?;
                batch_bytes = 0;
            }
        }
        flush(&mut batch, &mut out)?;
        Ok(out)
    }
}

fn is_dvc_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    (name.ends_with(".dvc") && name != ".dvc")
        || name == "dvc.lock"
        || name == ".dvcignore"
        || name == "config"
            && path
                .rsplit('/')
                .nth(1)
                .is_some_and(|parent| parent == ".dvc")
}

impl SourceTree for Snapshot<'_> {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let listing = self.listing()?;
        let path = crate::git::normalize_path(path)?;
        if let Some(bytes) = listing.blobs.get(&path) {
            return Ok(Some(bytes.clone()));
        }
        match listing.files.get(&path) {
            Some(e) if e.kind == EntryKind::Blob => {
                let mut buf = Vec::with_capacity(e.size.unwrap_or(0).min(1 << 24) as usize);
                self.db.write_blob(&e.oid, &mut buf)?;
                Ok(Some(buf))
            }
            _ => Ok(None),
        }
    }

    fn kind(&self, path: &str) -> Result<Option<NodeKind>> {
        let listing = self.listing()?;
        let path = crate::git::normalize_path(path)?;
        Ok(match listing.files.get(&path) {
            Some(e) if e.kind == EntryKind::Blob => Some(NodeKind::File),
            Some(_) => None,
            None if listing.dirs.contains(&path) => Some(NodeKind::Dir),
            None => None,
        })
    }

    fn others_under(&self, dir: &str) -> Result<Vec<(String, String)>> {
        let listing = self.listing()?;
        let dir = crate::git::normalize_path(dir)?;
        let mut out: Vec<(String, String)> = listing
            .files
            .values()
            .filter(|e| e.kind != EntryKind::Blob && source::is_below_dir(&e.path, &dir))
            .map(|e| (e.path.clone(), e.kind.to_string()))
            .collect();
        out.sort();
        Ok(out)
    }

    fn files_under(&self, dir: &str) -> Result<Vec<String>> {
        let listing = self.listing()?;
        let dir = crate::git::normalize_path(dir)?;
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut out: Vec<String> = listing
            .files
            .values()
            .filter(|e| e.kind == EntryKind::Blob && e.path.starts_with(&prefix))
            .map(|e| e.path.clone())
            .collect();
        out.sort();
        Ok(out)
    }
}
