//! The user-wide content cache: verified objects, addressed by MD5.
//!
//! Root: `DVC_BUILD_CACHE_DIR`, else [`Cache::default_root`] (outside any
//! `target/`, so every crate and every `cargo clean` shares it). Layout, as
//! DVC's own cache:
//!
//! ```text
//! <root>/files/md5/<2 hex>/<30 hex>[.dir]   objects (read-only)
//! <root>/state/<2 hex>/<30 hex>[.dir]       when each object was last verified
//! <root>/state/<2 hex>/<30 hex>.set         the same for every file of a directory
//! <root>/legacy/<2 hex>/<30 hex>[.dir]      DVC 2 hash -> plain MD5 of the same bytes
//! <root>/resolved/<2 hex>/<30 hex>          (registry, rev_lock, path) -> the hash found
//!                                           there, for locks that record none
//! <root>/locks/                            named locks; on Unix the 256 striped object
//!                                           locks are `flock`s of the shard folders,
//!                                           elsewhere objects-<2 hex>.lock files
//! <root>/placed/<hash of a path>            what a materialised copy looked like
//! <root>/tmp/                               downloads in progress (each locked by its
//!                                           writer; unlocked ones, abandoned by a
//!                                           killed process, are removed by the next run)
//! ```
//!
//! Invariants:
//!
//! 1. **Nothing enters unverified.** Bytes go through an [`Incoming`], which
//!    hashes them as they are written into a temporary file under
//!    `<root>/tmp` (same file system), and [`Incoming::commit`] names the
//!    object by the MD5 it computed, after checking the MD5 and size the
//!    caller expected; only then is the file made read-only (0444) and
//!    renamed into place. An object's name is always the MD5 of its bytes.
//! 2. **Concurrent processes do not collide.** Writers of one object hold
//!    its lock ([`Cache::lock_object`], an OS lock on its shard folder):
//!    the loser waits and then finds the object present. Renames are atomic,
//!    so a reader sees no object or a whole one.
//! 3. **A changed entry is verified again before use.** After verifying an
//!    object the cache records its size, mtime, ctime, inode and device
//!    (its *stamp*). [`Cache::get`] compares the current `stat` with that
//!    record: equal means trusted (one `stat` and one tiny read, no hashing);
//!    different or missing means the object is hashed again, under its lock,
//!    and removed when its bytes no longer match its name. So a user writing
//!    through a hard link into the cache, or a disk that lost bytes while
//!    the file was changed, leads to a new download, not to wrong bytes.
//!    A directory's files are recorded together, in one record per
//!    directory ([`Cache::get_set`]); those under [`OWN_RECORD_MIN`] have no
//!    record of their own (a new file, a new inode, for each), so one looked
//!    up outside its directory is hashed again before it is trusted.
//! 4. **DVC 2 objects are cached under their plain MD5.** The transfer layer
//!    verifies the legacy hash and records the alias legacy -> plain
//!    ([`Cache::set_legacy_alias`]), so a second fetch of the same legacy
//!    object finds it without the network.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use tempfile::NamedTempFile;

use crate::error::{Error, ErrorKind, Result};
use crate::hash::{self, Hasher, Md5, Sha256};
use crate::parallel;

/// The environment variable that overrides the cache location.
pub const CACHE_DIR_ENV: &str = "DVC_BUILD_CACHE_DIR";

/// A verified object in the cache.
#[derive(Debug, Clone)]
pub struct CachedFile {
    /// The plain MD5 of the bytes (the object's name in the cache).
    pub md5: Md5,
    /// The size in bytes.
    pub size: u64,
    /// Where the object is (read-only; never write to it).
    pub path: PathBuf,
    /// The object's `stat` when it was trusted: its device and inode tell a
    /// hard link placed from it without another `stat` of the object, and
    /// the whole is what a directory's record keeps for it.
    stamp: Stamp,
}

impl CachedFile {
    /// The object's device and inode (where the platform has them): a
    /// hard link placed from it has the same.
    pub(crate) fn identity(&self) -> Option<(u64, u64)> {
        cfg!(unix).then(|| self.stamp.identity())
    }
}

/// The same object, at the same place, with the same identity (its other
/// `stat` fields may have moved since: links made or removed).
impl PartialEq for CachedFile {
    fn eq(&self, other: &CachedFile) -> bool {
        self.md5 == other.md5
            && self.size == other.size
            && self.path == other.path
            && self.stamp.identity() == other.stamp.identity()
    }
}

impl Eq for CachedFile {}

/// Objects of a directory smaller than this get no stamp record of their
/// own when the directory is fetched: the directory's record
/// ([`Cache::get_set`]) vouches for them. One looked up on its own, or for
/// another directory, is hashed again ([`Cache::find_many`]), which for so
/// few bytes costs about what creating its record's file (a new inode)
/// would have.
pub const OWN_RECORD_MIN: u64 = 64 << 10;

/// The write buffer of an [`Incoming`] file (several network reads per
/// write; each of a directory's concurrent downloads holds one).
const INCOMING_BUFFER: usize = 256 << 10;

/// The content cache rooted at one folder. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    /// Shard folders known to exist: creating them again on every write
    /// is a `mkdir` + `stat` per object.
    made_dirs: Arc<Mutex<HashSet<PathBuf>>>,
    /// Objects found corrupt (and removed) since [`Cache::take_repairs`]
    /// was last called: what a build warns about.
    repairs: Arc<Mutex<Vec<PathBuf>>>,
    /// The striped object locks, shared by every clone.
    stripes: Arc<Stripes>,
}

/// How many striped object locks there are (one per first byte of a hash).
const STRIPES: usize = 256;

/// The object-lock files, each opened once per process and kept open: a
/// lock costs a `flock` and an unlock, not an `open`, a `flock` and a
/// `close`. An OS file lock belongs to an open file, which this process's
/// threads share, so each stripe also says whether a thread of this process
/// holds it; the others wait for it here before locking the file.
#[derive(Debug)]
struct Stripes {
    slots: Vec<Stripe>,
    /// Signalled when a stripe is released.
    released: Condvar,
}

#[derive(Debug, Default)]
struct Stripe {
    state: Mutex<StripeState>,
}

#[derive(Debug, Default)]
struct StripeState {
    /// A thread of this process holds the stripe.
    held: bool,
    /// The lock file, once opened.
    file: Option<Arc<File>>,
}

impl Stripes {
    fn new() -> Stripes {
        Stripes {
            slots: (0..STRIPES).map(|_| Stripe::default()).collect(),
            released: Condvar::new(),
        }
    }
}

/// An exclusive lock on one cache object, released on drop.
#[derive(Debug)]
pub struct ObjectLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    /// A lock file of its own, released when closed.
    Named { _file: File },
    /// One of the shared stripes.
    Stripe {
        stripes: Arc<Stripes>,
        index: usize,
        /// What the OS lock is on, once taken.
        file: Option<Arc<File>>,
    },
}

impl Drop for ObjectLock {
    fn drop(&mut self) {
        if let Held::Stripe {
            stripes,
            index,
            file,
        } = &self.held
        {
            // Unlocking an open file that holds the lock cannot fail in a
            // way that leaves it held; a failure here would at worst make
            // another process wait until this one exits.
            if let Some(file) = file {
                let _ = file.unlock();
            }
            if let Some(slot) = stripes.slots.get(*index) {
                slot.state.lock().unwrap_or_else(|e| e.into_inner()).held = false;
            }
            stripes.released.notify_all();
        }
    }
}

impl Cache {
    /// The cache at `root`, created if missing.
    pub fn open(root: impl Into<PathBuf>) -> Result<Cache> {
        let root = root.into();
        for sub in ["files/md5", "tmp", "locks", "state"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).map_err(|e| {
                Error::io("create the cache folder", &dir, e)
                    .with_help(format!("set {CACHE_DIR_ENV} to a writable folder"))
            })?;
        }
        let cache = Cache {
            root,
            made_dirs: Arc::default(),
            repairs: Arc::default(),
            stripes: Arc::new(Stripes::new()),
        };
        cache.remove_stale_temp_files();
        Ok(cache)
    }

    /// Best effort: removes downloads abandoned by a process that was
    /// killed or crashed. Every download in progress holds an exclusive OS
    /// lock on its temporary file in `<root>/tmp` (see [`Cache::incoming`]),
    /// so a file nobody holds is abandoned and goes now, on the next run,
    /// however recent; a file a live download holds (this machine's, or
    /// another container's sharing the cache) is left alone. An empty file
    /// is left for a few seconds: its writer may be between creating and
    /// locking it.
    fn remove_stale_temp_files(&self) {
        const YOUNG: std::time::Duration = std::time::Duration::from_secs(5);
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(file) = File::open(entry.path()) else {
                continue;
            };
            if file.try_lock().is_err() {
                continue;
            }
            let Ok(meta) = file.metadata() else {
                continue;
            };
            let young = meta
                .modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_none_or(|age| age < YOUNG);
            if meta.len() > 0 || !young {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// The objects found corrupt (their bytes no longer matched their
    /// name) and removed since the last call: each will be fetched again
    /// when next needed. For a warning; the log is emptied.
    pub fn take_repairs(&self) -> Vec<PathBuf> {
        std::mem::take(&mut *self.repairs.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The cache at `DVC_BUILD_CACHE_DIR`, or at [`Cache::default_root`].
    pub fn open_default() -> Result<Cache> {
        Cache::open(Cache::default_root()?)
    }

    /// Where the cache lives when `DVC_BUILD_CACHE_DIR` is not set:
    /// `$XDG_CACHE_HOME/dvc-build` or `~/.cache/dvc-build` on Linux and other
    /// Unix systems, `~/Library/Caches/dvc-build` on macOS,
    /// `%LOCALAPPDATA%\dvc-build` on Windows. With the variable set (and not
    /// empty), its value.
    pub fn default_root() -> Result<PathBuf> {
        if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        let env_dir = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
        };
        let found = if cfg!(windows) {
            env_dir("LOCALAPPDATA").map(|d| d.join("dvc-build"))
        } else if cfg!(target_os = "macos") {
            env_dir("HOME").map(|h| h.join("Library/Caches/dvc-build"))
        } else {
            env_dir("XDG_CACHE_HOME")
                .map(|d| d.join("dvc-build"))
                .or_else(|| env_dir("HOME").map(|h| h.join(".cache/dvc-build")))
        };
        found.ok_or_else(|| {
            Error::new(
                ErrorKind::Io,
                "cannot tell where the user's cache folder is",
            )
            .with_help(format!(
                "set {CACHE_DIR_ENV} to a folder for downloaded artifacts"
            ))
        })
    }

    /// The cache's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the object `md5` (a `.dir` manifest when `is_dir`) is stored.
    pub fn object_path(&self, md5: &Md5, is_dir: bool) -> PathBuf {
        self.objects_dir().join(shard(md5, is_dir))
    }

    /// The folder holding every object (in 256 subfolders).
    pub fn objects_dir(&self) -> PathBuf {
        self.root.join("files/md5")
    }

    fn state_path(&self, md5: &Md5, is_dir: bool) -> PathBuf {
        self.root.join("state").join(shard(md5, is_dir))
    }

    fn legacy_path(&self, legacy: &Md5, is_dir: bool) -> PathBuf {
        self.root.join("legacy").join(shard(legacy, is_dir))
    }

    /// The verified object `md5`, or `None` when it is not in the cache (or
    /// was there but corrupt: it is then removed).
    ///
    /// Warm path: one `stat` of the object and one read of its small state
    /// record. Only when they disagree is the object hashed again (under its
    /// lock).
    pub fn get(&self, md5: &Md5, is_dir: bool) -> Result<Option<CachedFile>> {
        match self.quick_check(md5, is_dir)? {
            Check::Trusted(file) => Ok(Some(file)),
            Check::Missing => Ok(None),
            Check::Unverified => {
                let lock = self.lock_object(md5, is_dir)?;
                self.get_locked(md5, is_dir, &lock)
            }
        }
    }

    /// As [`Cache::get`], for a caller that already holds the object's lock.
    pub fn get_locked(
        &self,
        md5: &Md5,
        is_dir: bool,
        _lock: &ObjectLock,
    ) -> Result<Option<CachedFile>> {
        match self.quick_check(md5, is_dir)? {
            Check::Trusted(file) => Ok(Some(file)),
            Check::Missing => Ok(None),
            Check::Unverified => self.verify(md5, is_dir),
        }
    }

    fn quick_check(&self, md5: &Md5, is_dir: bool) -> Result<Check> {
        let path = self.object_path(md5, is_dir);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Check::Missing),
            Err(e) => return Err(Error::io("stat", &path, e)),
        };
        self.check_record(md5, is_dir, path, &meta)
    }

    /// [`Cache::quick_check`] of the object at `path`, whose `stat` is `meta`.
    fn check_record(
        &self,
        md5: &Md5,
        is_dir: bool,
        path: PathBuf,
        meta: &fs::Metadata,
    ) -> Result<Check> {
        if !meta.is_file() {
            return Ok(Check::Unverified);
        }
        let state = self.state_path(md5, is_dir);
        let recorded = fs::read_to_string(&state).ok();
        let now = Stamp::of(meta);
        let trusted = CachedFile {
            md5: *md5,
            size: meta.len(),
            path,
            stamp: now,
        };
        match recorded.as_deref().and_then(Stamp::parse) {
            Some(stamp) if stamp == now => Ok(Check::Trusted(trusted)),
            Some(stamp) if stamp.only_links_changed(&now) => {
                self.write_record_file(&state, now.to_string().as_bytes())?;
                Ok(Check::Trusted(trusted))
            }
            _ => Ok(Check::Unverified),
        }
    }

    /// The object `md5` as it is, looked at without changing anything: no
    /// lock, no record written, nothing removed (for `status`). Trusted by
    /// its stamp when that matches its record, else hashed.
    pub fn inspect(&self, md5: &Md5, is_dir: bool) -> Result<Inspected> {
        let path = self.object_path(md5, is_dir);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Inspected::Missing),
            Err(e) => return Err(Error::io("stat", &path, e)),
        };
        if !meta.is_file() {
            return Ok(Inspected::Corrupt(path));
        }
        let now = Stamp::of(&meta);
        let recorded = fs::read_to_string(self.state_path(md5, is_dir))
            .ok()
            .and_then(|t| Stamp::parse(&t));
        let trusted = recorded.is_some_and(|r| r == now || r.only_links_changed(&now));
        if !trusted {
            let file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
            let (actual, _) = hash::md5_reader(file).map_err(|e| Error::io("read", &path, e))?;
            if actual != *md5 {
                return Ok(Inspected::Corrupt(path));
            }
        }
        Ok(Inspected::Good(CachedFile {
            md5: *md5,
            size: meta.len(),
            path,
            stamp: now,
        }))
    }

    /// Hashes the object; keeps it (recording a fresh stamp) when it matches
    /// its name, removes it otherwise. Caller holds the lock.
    fn verify(&self, md5: &Md5, is_dir: bool) -> Result<Option<CachedFile>> {
        let path = self.object_path(md5, is_dir);
        let good = match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("stat", &path, e)),
            Ok(meta) if !meta.is_file() => None,
            Ok(_) => {
                let file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
                let (actual, size) =
                    hash::md5_reader(file).map_err(|e| Error::io("read", &path, e))?;
                (actual == *md5).then_some(size)
            }
        };
        match good {
            Some(size) => {
                // Make it read-only again (a user may have chmod-ed it); this
                // changes ctime, so stamp afterwards.
                set_read_only(&path)?;
                let stamp = self.write_stamp(md5, is_dir, &path)?;
                Ok(Some(CachedFile {
                    md5: *md5,
                    size,
                    path,
                    stamp,
                }))
            }
            None => {
                self.remove_entry(md5, is_dir, &path)?;
                self.repairs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(path);
                Ok(None)
            }
        }
    }

    fn remove_entry(&self, md5: &Md5, is_dir: bool, path: &Path) -> Result<()> {
        let _ = fs::remove_file(self.state_path(md5, is_dir));
        let removed = match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(path),
            _ => fs::remove_file(path),
        };
        match removed {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(Error::io("remove the corrupt cache entry", path, e))
            }
            _ => Ok(()),
        }
    }

    /// Records the object's current stamp, and returns it.
    fn write_stamp(&self, md5: &Md5, is_dir: bool, path: &Path) -> Result<Stamp> {
        let meta = fs::symlink_metadata(path).map_err(|e| Error::io("stat", path, e))?;
        let stamp = Stamp::of(&meta);
        self.write_record_file(&self.state_path(md5, is_dir), stamp.to_string().as_bytes())?;
        Ok(stamp)
    }

    /// Many objects at once (the files of a directory), checked against one
    /// record of their stamps kept under `key` (the directory's hash): one
    /// read and a `stat` per object, where [`Cache::get`] reads a record per
    /// object. Any object whose stamp does not match sends the whole set
    /// through [`Cache::find_many`] (verifying what changed), after which
    /// the record is written anew. `None` when an object is missing.
    pub fn get_set(&self, key: &Md5, objects: &[Md5]) -> Result<Option<Vec<CachedFile>>> {
        if let Some(found) = self.trusted_set(key, objects) {
            return Ok(Some(found));
        }
        let found: Option<Vec<CachedFile>> = self.find_many(objects, &[])?.into_iter().collect();
        let Some(files) = found else {
            return Ok(None);
        };
        self.record_set(key, &files)?;
        Ok(Some(files))
    }

    /// Writes the record [`Cache::get_set`] checks under `key`: the stamp
    /// of each of `files` (objects obtained from this cache, in the order
    /// `get_set` will ask for them), as each was when trusted. Placing the
    /// objects later changes only their ctime and link counts, which the
    /// check tolerates, so the record need not be written again.
    pub fn record_set<'a>(
        &self,
        key: &Md5,
        files: impl IntoIterator<Item = &'a CachedFile>,
    ) -> Result<()> {
        let files = files.into_iter();
        let mut text = String::with_capacity(files.size_hint().0 * 96);
        for file in files {
            text.push_str(&file.md5.to_hex());
            text.push(' ');
            text.push_str(file.stamp.to_string().trim_end());
            text.push('\n');
        }
        self.write_record_file(&self.set_path(key), text.as_bytes())
    }

    /// Each of `objects` (plain MD5s of files, not `.dir` objects) that is
    /// in the cache, verified, else `None`; on up to a few threads. As
    /// [`Cache::get`], except that a small read-only object (one fetched
    /// with its directory has no record of its own, see [`OWN_RECORD_MIN`])
    /// is hashed without taking its lock and trusted for this call without
    /// writing a record: the caller records the set it belongs to.
    ///
    /// `known`: sets whose records are asked first (directories fetched
    /// before, such as the version an update replaces): an object whose
    /// `stat` matches its stamp there is trusted with that one `stat`.
    pub fn find_many(&self, objects: &[Md5], known: &[Md5]) -> Result<Vec<Option<CachedFile>>> {
        let mut recorded: HashMap<Md5, Stamp> = HashMap::new();
        for key in known {
            if let Ok(text) = fs::read_to_string(self.set_path(key)) {
                recorded.extend(text.lines().filter_map(|line| {
                    let (hex, stamp) = line.split_once(' ')?;
                    Some((hex.parse().ok()?, Stamp::parse(stamp)?))
                }));
            }
        }
        let chunks = parallel::map_chunks(objects, |chunk| {
            chunk
                .iter()
                .map(|md5| self.find_one(md5, recorded.get(md5)))
                .collect::<Result<Vec<_>>>()
        });
        let mut found = Vec::with_capacity(objects.len());
        for chunk in chunks {
            found.extend(chunk?);
        }
        Ok(found)
    }

    /// One object for [`Cache::find_many`], `recorded` its stamp in a known
    /// set's record.
    fn find_one(&self, md5: &Md5, recorded: Option<&Stamp>) -> Result<Option<CachedFile>> {
        let path = self.object_path(md5, false);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("stat", &path, e)),
        };
        let now = Stamp::of(&meta);
        if let Some(recorded) = recorded
            && meta.is_file()
            && (now == *recorded || recorded.only_links_changed(&now))
        {
            return Ok(Some(CachedFile {
                md5: *md5,
                size: meta.len(),
                path,
                stamp: now,
            }));
        }
        if meta.is_file() && meta.len() < OWN_RECORD_MIN && !writable(now.mode) {
            if let Some(file) = self.hash_small(md5, &path, now) {
                return Ok(Some(file));
            }
        } else if let Check::Trusted(file) = self.check_record(md5, false, path, &meta)? {
            return Ok(Some(file));
        }
        // Changed, writable or corrupt: the locked path verifies it (and
        // removes it when corrupt).
        self.get(md5, false)
    }

    /// The small object at `path` when its bytes hash to `md5` and its
    /// `stat` is still `before` once they are read; `None` otherwise
    /// (nothing changed). No lock: objects are only ever renamed into place
    /// whole, and a corrupt one is left to the locked path.
    fn hash_small(&self, md5: &Md5, path: &Path, before: Stamp) -> Option<CachedFile> {
        let mut file = File::open(path).ok()?;
        let size = usize::try_from(before.size).ok()?;
        let mut bytes = vec![0u8; size];
        let mut got = 0;
        // Exactly the size `stat` gave: a file that grew meanwhile shows in
        // the second `stat`.
        while got < size {
            match file.read(&mut bytes[got..]) {
                Ok(0) => return None,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        if Md5::of(&bytes) != *md5 {
            return None;
        }
        let after = Stamp::of(&file.metadata().ok()?);
        (after == before).then(|| CachedFile {
            md5: *md5,
            size: before.size,
            path: path.to_path_buf(),
            stamp: before,
        })
    }

    /// The set's objects when every one matches its recorded stamp. The
    /// `stat`s run on a few threads (lookups do not wait on one another).
    pub(crate) fn trusted_set(&self, key: &Md5, objects: &[Md5]) -> Option<Vec<CachedFile>> {
        let text = fs::read_to_string(self.set_path(key)).ok()?;
        let mut lines = text.lines();
        let mut recorded = Vec::with_capacity(objects.len());
        for md5 in objects {
            let (hex, stamp) = lines.next()?.split_once(' ')?;
            if hex.as_bytes() != md5.hex_digits() {
                return None;
            }
            recorded.push((md5, Stamp::parse(stamp)?));
        }
        if lines.next().is_some() {
            return None;
        }
        // On Unix each object is looked up relative to one handle on the
        // objects folder: two path components per `stat`, not the whole
        // path from `/` (half the kernel's work for a warm directory).
        #[cfg(unix)]
        let objects_fd = rustix::fs::open(
            self.objects_dir(),
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()?;
        let chunks = parallel::map_chunks(&recorded, |chunk| {
            let mut files = Vec::with_capacity(chunk.len());
            for &(md5, recorded) in chunk {
                #[cfg(unix)]
                let (is_file, now) = {
                    let st = rustix::fs::statat(
                        &objects_fd,
                        shard(md5, false),
                        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .ok()?;
                    (
                        rustix::fs::FileType::from_raw_mode(st.st_mode).is_file(),
                        Stamp::of_stat(&st),
                    )
                };
                #[cfg(not(unix))]
                let (is_file, now) = {
                    let meta = fs::symlink_metadata(self.object_path(md5, false)).ok()?;
                    (meta.is_file(), Stamp::of(&meta))
                };
                if !(is_file && (now == recorded || recorded.only_links_changed(&now))) {
                    return None;
                }
                files.push(CachedFile {
                    md5: *md5,
                    size: now.size,
                    path: self.object_path(md5, false),
                    stamp: now,
                });
            }
            Some(files)
        });
        let mut files = Vec::with_capacity(objects.len());
        for chunk in chunks {
            files.extend(chunk?);
        }
        Some(files)
    }

    /// Whether a record of the stamps of set `key`'s objects exists (see
    /// [`Cache::get_set`]); says nothing of whether they still match.
    pub(crate) fn has_set_record(&self, key: &Md5) -> bool {
        self.set_path(key).is_file()
    }

    fn set_path(&self, key: &Md5) -> PathBuf {
        let mut path = self.state_path(key, true);
        path.set_extension("set");
        path
    }

    /// Waits for, then takes, the exclusive lock of object `md5`: one of 256
    /// stripes, chosen by the hash's first byte. One lock file per object
    /// would cost a new inode per object; striping bounds them, and holders
    /// never take a second object lock, so it cannot deadlock.
    ///
    /// On Unix the stripe's OS lock is a `flock` of the object's shard
    /// folder (`files/md5/<2 hex>`, which the object needs anyway): a new
    /// cache then creates no lock files (256 inodes saved). Where a folder
    /// cannot be locked (some network file systems), and elsewhere, it is
    /// `locks/objects-<2 hex>.lock`.
    pub fn lock_object(&self, md5: &Md5, _is_dir: bool) -> Result<ObjectLock> {
        let index = usize::from(md5.as_bytes()[0]);
        let stripes = &self.stripes;
        let slot = &stripes.slots[index];
        let mut state = slot.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.held {
            state = stripes
                .released
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        let opened = match &state.file {
            Some(file) => Ok(Arc::clone(file)),
            None => self.open_stripe(index).map(Arc::new),
        };
        state.held = true;
        drop(state);
        // Built before locking: dropping it releases the stripe, whether
        // the OS lock was taken or not.
        let mut lock = ObjectLock {
            held: Held::Stripe {
                stripes: Arc::clone(stripes),
                index,
                file: None,
            },
        };
        let mut file = opened?;
        if let Err(e) = file.lock() {
            // A folder that cannot be locked: a lock file instead.
            let name = format!("objects-{index:02x}");
            let fallback = Arc::new(self.open_lock_file(&name)?);
            fallback.lock().map_err(|_| {
                Error::io(
                    "lock",
                    &self.root.join("locks").join(format!("{name}.lock")),
                    e,
                )
            })?;
            file = fallback;
        }
        slot.state.lock().unwrap_or_else(|e| e.into_inner()).file = Some(Arc::clone(&file));
        if let Held::Stripe { file: held, .. } = &mut lock.held {
            *held = Some(file);
        }
        Ok(lock)
    }

    /// What stripe `index`'s OS lock is taken on: its shard folder on Unix,
    /// else its lock file.
    fn open_stripe(&self, index: usize) -> Result<File> {
        #[cfg(unix)]
        {
            let dir = self.objects_dir().join(format!("{index:02x}"));
            self.create_dir(&dir)?;
            File::open(&dir).map_err(|e| Error::io("open", &dir, e))
        }
        #[cfg(not(unix))]
        {
            self.open_lock_file(&format!("objects-{index:02x}"))
        }
    }

    /// Waits for, then takes, the exclusive lock called `name` (a file name).
    pub fn lock(&self, name: &str) -> Result<ObjectLock> {
        let file = self.open_lock_file(name)?;
        file.lock().map_err(|e| {
            Error::io(
                "lock",
                &self.root.join("locks").join(format!("{name}.lock")),
                e,
            )
        })?;
        Ok(ObjectLock {
            held: Held::Named { _file: file },
        })
    }

    fn open_lock_file(&self, name: &str) -> Result<File> {
        let path = self.root.join("locks").join(format!("{name}.lock"));
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open the lock file", &path, e))
    }

    /// Starts writing a new object whose SHA-256 is computed too, in the
    /// same pass as its MD5, and recorded when it is committed (see
    /// [`Cache::sha256`]).
    pub fn incoming_with_sha256(&self) -> Result<Incoming> {
        let mut incoming = self.incoming()?;
        incoming.hasher = Hasher::with_sha256();
        Ok(incoming)
    }

    /// Starts writing a new object; see [`Incoming`].
    pub fn incoming(&self) -> Result<Incoming> {
        let dir = self.root.join("tmp");
        let file = tempfile::Builder::new()
            .prefix("incoming-")
            .tempfile_in(&dir)
            .map_err(|e| Error::io("create a temporary file in", &dir, e))?;
        // Held until the download ends (or its process dies): a later run
        // removes only files nobody holds.
        file.as_file()
            .try_lock()
            .map_err(|e| Error::io("lock", file.path(), std::io::Error::other(e.to_string())))?;
        Ok(Incoming {
            file: BufWriter::with_capacity(INCOMING_BUFFER, file),
            hasher: Hasher::new(),
            in_set: false,
        })
    }

    /// Adds `bytes` (small objects such as `.dir` manifests) and returns the
    /// entry, named by their MD5.
    pub fn insert_bytes(&self, bytes: &[u8], is_dir: bool) -> Result<CachedFile> {
        let md5 = Md5::of(bytes);
        let lock = self.lock_object(&md5, is_dir)?;
        if let Some(found) = self.get_locked(&md5, is_dir, &lock)? {
            return Ok(found);
        }
        let mut incoming = self.incoming()?;
        incoming.write(bytes)?;
        incoming.commit(self, &lock, Some(md5), Some(bytes.len() as u64), is_dir)
    }

    /// Whether an object called `md5` is in the cache, without verifying
    /// it (or removing it when corrupt): for read-only questions.
    pub fn holds(&self, md5: &Md5) -> bool {
        self.object_path(md5, false).is_file()
    }

    /// The SHA-256 of the cached object `file`: from the record made when
    /// it was downloaded (or last hashed) while the object is still as it
    /// was then (same size, mtime, inode and read-only mode: only links may
    /// have come and gone since), else by reading the object once and
    /// recording the result. What a `sha256 =` pin is checked against
    /// without hashing a large object on every build.
    pub fn sha256(&self, file: &CachedFile) -> Result<Sha256> {
        let record = self.sha256_path(&file.md5);
        let meta =
            fs::symlink_metadata(&file.path).map_err(|e| Error::io("stat", &file.path, e))?;
        let now = Stamp::of(&meta);
        if let Some((sha, stamp)) = fs::read_to_string(&record)
            .ok()
            .as_deref()
            .and_then(parse_sha256_record)
            && (stamp == now || stamp.only_links_changed(&now))
        {
            return Ok(sha);
        }
        let object = File::open(&file.path).map_err(|e| Error::io("open", &file.path, e))?;
        let sha = hash::sha256_reader(object).map_err(|e| Error::io("read", &file.path, e))?;
        self.write_record_file(&record, format!("{sha} {now}").as_bytes())?;
        Ok(sha)
    }

    fn sha256_path(&self, md5: &Md5) -> PathBuf {
        self.root.join("sha256").join(shard(md5, false))
    }

    /// The plain MD5 recorded for the DVC 2 object `legacy`, if any.
    pub fn legacy_alias(&self, legacy: &Md5, is_dir: bool) -> Option<Md5> {
        fs::read_to_string(self.legacy_path(legacy, is_dir))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Records that the DVC 2 object `legacy` has the plain MD5 `plain`
    /// (call only after verifying the legacy hash of those bytes).
    pub fn set_legacy_alias(&self, legacy: &Md5, is_dir: bool, plain: &Md5) -> Result<()> {
        self.write_record_file(&self.legacy_path(legacy, is_dir), plain.to_hex().as_bytes())
    }

    /// A record kept by [`crate::materialize`] for a placed copy (`key` names
    /// the destination). `None` when absent.
    pub(crate) fn read_record(&self, kind: &str, key: &Md5) -> Option<String> {
        fs::read_to_string(self.root.join(kind).join(shard(key, false))).ok()
    }

    /// Writes such a record.
    pub(crate) fn write_record(&self, kind: &str, key: &Md5, text: &str) -> Result<()> {
        self.write_record_file(
            &self.root.join(kind).join(shard(key, false)),
            text.as_bytes(),
        )
    }

    /// Writes a record (a stamp, an alias, a placement) in place. Records
    /// only ever let us skip work: a torn or concurrent write leaves text
    /// that does not parse or does not match, and the object is then
    /// verified (or the copy placed) again. So no temp file and rename, and
    /// no new inode when a record is refreshed.
    ///
    /// The file is overwritten from its start and then cut to length, never
    /// truncated to zero first: ext4 flushes a file to disk when it is
    /// closed after such a truncation (its `auto_da_alloc` heuristic), which
    /// would make every record a synchronous write.
    fn write_record_file(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.create_parent(path)?;
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io("write", path, e))?;
        file.write_all(bytes)
            .and_then(|()| file.set_len(bytes.len() as u64))
            .map_err(|e| Error::io("write", path, e))
    }

    /// Creates the folder holding `path`, once per process.
    fn create_parent(&self, path: &Path) -> Result<()> {
        match path.parent() {
            Some(parent) => self.create_dir(parent),
            None => Ok(()),
        }
    }

    /// Creates the folder `parent`, once per process.
    fn create_dir(&self, parent: &Path) -> Result<()> {
        let made = |dirs: &Mutex<HashSet<PathBuf>>| {
            dirs.lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(parent)
        };
        if made(&self.made_dirs) {
            return Ok(());
        }
        // Not under the lock: other threads' objects need not wait for it.
        fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        self.made_dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(parent.to_path_buf());
        Ok(())
    }
}

/// What [`Cache::inspect`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspected {
    /// The object, its bytes matching its name.
    Good(CachedFile),
    /// No such object.
    Missing,
    /// An object whose bytes no longer match its name (edited through a
    /// hard link, damaged): the next fetch, pull or build replaces it.
    Corrupt(PathBuf),
}

enum Check {
    Trusted(CachedFile),
    Missing,
    Unverified,
}

/// A new object being written: every byte is hashed on its way into a
/// temporary file in the cache's file system. Dropping it discards the file.
pub struct Incoming {
    file: BufWriter<NamedTempFile>,
    hasher: Hasher,
    /// Part of a directory being fetched: a small object gets no stamp
    /// record of its own ([`OWN_RECORD_MIN`]).
    in_set: bool,
}

impl Incoming {
    /// Marks the object as a file of a directory whose record the caller
    /// writes once the directory is complete ([`Cache::record_set`]): if it
    /// is smaller than [`OWN_RECORD_MIN`], committing it writes no record of
    /// its own.
    pub fn in_set(&mut self) {
        self.in_set = true;
    }

    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).map_err(|e| self.io_error(e))?;
        self.hasher.update(bytes);
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// `true` before the first byte.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// Forgets everything written (when a download must start over).
    pub fn reset(&mut self) -> Result<()> {
        self.file.flush().map_err(|e| self.io_error(e))?;
        let f = self.file.get_mut().as_file_mut();
        f.set_len(0)
            .map_err(|e| Error::io("truncate", Path::new("<incoming>"), e))?;
        io::Seek::rewind(f).map_err(|e| Error::io("rewind", Path::new("<incoming>"), e))?;
        self.hasher = self.hasher.fresh();
        Ok(())
    }

    /// The temporary file, complete once flushed ([`Incoming::flush`]); for a
    /// second look at the bytes (the DVC 2 hash).
    pub fn path(&self) -> &Path {
        self.file.get_ref().path()
    }

    /// Writes buffered bytes to the temporary file.
    pub fn flush(&mut self) -> Result<()> {
        self.file.flush().map_err(|e| self.io_error(e))
    }

    /// The MD5 and size of what was written so far.
    pub fn digest(&self) -> (Md5, u64) {
        self.hasher.clone().finish()
    }

    /// The SHA-256 of what was written so far, when it is computed (see
    /// [`Cache::incoming_with_sha256`]).
    pub fn sha256(&self) -> Option<Sha256> {
        self.hasher.clone().finish_all().2
    }

    /// Moves the bytes into the cache under their MD5, after checking it
    /// against `expected_md5` and the size against `expected_size` (an
    /// [`ErrorKind::Integrity`] error otherwise, and nothing is kept).
    /// The caller holds the object's lock (`lock`, taken for the plain MD5).
    pub fn commit(
        mut self,
        cache: &Cache,
        _lock: &ObjectLock,
        expected_md5: Option<Md5>,
        expected_size: Option<u64>,
        is_dir: bool,
    ) -> Result<CachedFile> {
        self.flush()?;
        let (md5, size, sha256) = self.hasher.clone().finish_all();
        if let Some(want) = expected_size
            && want != size
        {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!("expected {want} bytes, got {size}"),
            ));
        }
        if let Some(want) = expected_md5
            && want != md5
        {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!("expected MD5 {want}, got {md5}"),
            ));
        }
        let temp = self.file.into_inner().map_err(|e| {
            let err = io::Error::new(e.error().kind(), e.error().to_string());
            Error::io("write", Path::new("<incoming>"), err)
        })?;
        // Through the open file: no path lookups.
        temp.as_file()
            .set_permissions(read_only_permissions(temp.as_file())?)
            .map_err(|e| Error::io("make read-only", temp.path(), e))?;
        let dest = cache.object_path(&md5, is_dir);
        cache.create_parent(&dest)?;
        let file = temp
            .persist(&dest)
            .map_err(|e| Error::io("move into the cache", &dest, e.error))?;
        // After the rename, which moves ctime.
        let meta = file.metadata().map_err(|e| Error::io("stat", &dest, e))?;
        let stamp = Stamp::of(&meta);
        if !(self.in_set && size < OWN_RECORD_MIN) {
            cache.write_record_file(
                &cache.state_path(&md5, is_dir),
                stamp.to_string().as_bytes(),
            )?;
        }
        if let Some(sha) = sha256 {
            cache.write_record_file(
                &cache.sha256_path(&md5),
                format!("{sha} {stamp}").as_bytes(),
            )?;
        }
        Ok(CachedFile {
            md5,
            size,
            path: dest,
            stamp,
        })
    }

    fn io_error(&self, err: io::Error) -> Error {
        Error::io("write", self.file.get_ref().path(), err)
    }

    /// Appends every chunk `fill` produces (it fills the buffer it is given
    /// and returns how many bytes it put there; 0 ends), hashing on a second
    /// thread while the next chunk is read and written: one pass over the
    /// bytes, the hash off the I/O path. The hasher sees exactly the buffers
    /// written to the file, in order, so what is hashed is what was written,
    /// also when `fill` or a write fails half-way (the file and the hash then
    /// both hold the bytes up to the failure, ready to be resumed).
    ///
    /// `fill`'s error is returned as is; a write error goes through
    /// `write_err`.
    ///
    /// `clock`, when given, is told how long each chunk took to hash.
    pub fn write_from<E>(
        &mut self,
        chunk: usize,
        mut fill: impl FnMut(&mut [u8]) -> std::result::Result<usize, E>,
        write_err: impl Fn(Error) -> E,
        clock: Option<&HashClock>,
    ) -> std::result::Result<(), E> {
        use std::sync::mpsc::sync_channel;
        self.flush().map_err(&write_err)?;
        let chunk = chunk.max(1);
        let placeholder = self.hasher.fresh();
        let hasher = std::mem::replace(&mut self.hasher, placeholder);
        // Three buffers in flight: one being filled, one being hashed, one spare.
        const BUFFERS: usize = 3;
        let (to_hash, hash_rx) = sync_channel::<Vec<u8>>(BUFFERS);
        let (free_tx, free_rx) = sync_channel::<Vec<u8>>(BUFFERS);
        let path = self.file.get_ref().path().to_path_buf();
        let file = self.file.get_mut().as_file_mut();
        let (result, hashed) = std::thread::scope(|s| {
            let worker = s.spawn(move || {
                let mut hasher = hasher;
                for buf in hash_rx {
                    let started = std::time::Instant::now();
                    hasher.update(&buf);
                    if let Some(clock) = clock {
                        clock.add(buf.len(), started.elapsed());
                    }
                    // The filler may have finished: a closed channel is fine.
                    let _ = free_tx.send(buf);
                }
                hasher
            });
            let mut allocated = 0usize;
            let result = loop {
                let mut buf = match free_rx.try_recv() {
                    Ok(buf) => buf,
                    Err(_) if allocated < BUFFERS => {
                        allocated += 1;
                        Vec::with_capacity(chunk)
                    }
                    Err(_) => match free_rx.recv() {
                        Ok(buf) => buf,
                        // The hasher is gone (it panicked): stop; join says why.
                        Err(_) => break Ok(()),
                    },
                };
                buf.resize(chunk, 0);
                let n = match fill(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => n.min(chunk),
                    Err(e) => break Err(e),
                };
                buf.truncate(n);
                if let Err(e) = buf
                    .chunks(WRITE_PIECE)
                    .try_for_each(|piece| file.write_all(piece))
                {
                    break Err(write_err(Error::io("write", &path, e)));
                }
                if to_hash.send(buf).is_err() {
                    break Ok(());
                }
            };
            drop(to_hash);
            (result, worker.join())
        });
        match hashed {
            Ok(hasher) => self.hasher = hasher,
            Err(_) => {
                // The file holds bytes no hasher saw: start over from nothing.
                let _ = self.reset();
                return Err(write_err(Error::new(
                    ErrorKind::Io,
                    "the hashing thread failed",
                )));
            }
        }
        result
    }

    /// Fills the (empty) file with all of `src` by in-kernel copies
    /// (`copy_file_range`, or a reflink where the file system shares
    /// extents) in 16 MiB steps, while a second thread hashes each step
    /// back *from this file*: what is hashed is what the cache will hold,
    /// and no byte crosses into user space on the way in. For local remotes,
    /// where a read-and-write loop spends most of its time copying pages
    /// through a buffer. Returns the number of bytes copied; `copied` is told
    /// the size of each step as it lands (for a progress bar).
    pub fn copy_from_file(&mut self, src: &mut File, copied: &dyn Fn(u64)) -> Result<u64> {
        use std::sync::mpsc::channel;
        const STEP: u64 = 16 << 20;
        if !self.is_empty() {
            return Err(Error::new(
                ErrorKind::Io,
                "copy_from_file needs an empty incoming file",
            ));
        }
        self.flush()?;
        let path = self.file.get_ref().path().to_path_buf();
        let mut reader = self
            .file
            .get_ref()
            .reopen()
            .map_err(|e| Error::io("reopen", &path, e))?;
        let dest = self.file.get_mut().as_file_mut();
        let fresh = self.hasher.fresh();
        let (done_tx, done_rx) = channel::<u64>();
        let (copied, hashed) = std::thread::scope(|s| {
            let worker = s.spawn(move || -> io::Result<Hasher> {
                let mut hasher = fresh;
                let mut buf = vec![0u8; hash::CHUNK_SIZE];
                let mut at = 0u64;
                for upto in done_rx {
                    while at < upto {
                        let want = usize::try_from(upto - at)
                            .unwrap_or(usize::MAX)
                            .min(buf.len());
                        let n = reader.read(&mut buf[..want])?;
                        if n == 0 {
                            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
                        }
                        hasher.update(&buf[..n]);
                        at += n as u64;
                    }
                }
                Ok(hasher)
            });
            let mut total = 0u64;
            let copied = loop {
                match io::copy(&mut Read::by_ref(src).take(STEP), dest) {
                    Ok(0) => break Ok(total),
                    Ok(n) => {
                        total += n;
                        copied(n);
                        if done_tx.send(total).is_err() {
                            break Ok(total);
                        }
                    }
                    Err(e) => break Err(e),
                }
            };
            drop(done_tx);
            (copied, worker.join())
        });
        let result = match (copied, hashed) {
            (Ok(n), Ok(Ok(hasher))) => {
                self.hasher = hasher;
                Ok(n)
            }
            (Err(e), _) | (_, Ok(Err(e))) => Err(Error::io("copy into", &path, e)),
            (_, Err(_)) => Err(Error::new(ErrorKind::Io, "the hashing thread failed")),
        };
        if result.is_err() {
            let _ = self.reset();
        }
        result
    }

    /// Prepares the file for [`RangeWriter`]s to fill it from
    /// [`Incoming::len`] to `size`, keeping the bytes written so far (and
    /// their hash): sets its length to `size`. The new bytes then count as
    /// written only once [`Incoming::hash_written`] has hashed them, in
    /// order, from the file.
    pub fn ranged(&mut self, size: u64) -> Result<RangeWriter> {
        self.flush()?;
        let path = self.file.get_ref().path().to_path_buf();
        let f = self.file.get_ref().as_file();
        f.set_len(size).map_err(|e| Error::io("size", &path, e))?;
        let file = f.try_clone().map_err(|e| Error::io("open", &path, e))?;
        Ok(RangeWriter { file, path, size })
    }

    /// Hashes the file's bytes from where the hash stands up to `upto`
    /// (after [`Incoming::ranged`]: the ranges up to there are complete).
    pub fn hash_written(&mut self, upto: u64, buf: &mut [u8]) -> Result<()> {
        let path = self.file.get_ref().path().to_path_buf();
        let file = self.file.get_ref().as_file();
        while self.hasher.len() < upto {
            let want = ((upto - self.hasher.len()) as usize).min(buf.len());
            let n = read_at(file, &mut buf[..want], self.hasher.len())
                .map_err(|e| Error::io("read", &path, e))?;
            if n == 0 {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("`{}` ended before byte {upto}", path.display()),
                ));
            }
            self.hasher.update(&buf[..n]);
        }
        Ok(())
    }
}

/// The largest single `write` of [`Incoming::write_from`]. Measured on a
/// Linux 6.18 VM: 4 MiB writes to a new file took up to 3x the system time
/// of 256 KiB ones (the kernel fills large page-cache folios, whose memory a
/// VM may first have to fault in from the host).
const WRITE_PIECE: usize = 256 << 10;

/// How fast the hash of an [`Incoming::write_from`] goes: the bytes hashed
/// and the time it took, updated by the hashing thread after each chunk.
#[derive(Debug, Default)]
pub struct HashClock {
    bytes: AtomicU64,
    nanos: AtomicU64,
}

impl HashClock {
    fn add(&self, bytes: usize, took: std::time::Duration) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Bytes hashed so far, and the time that took.
    pub fn read(&self) -> (u64, std::time::Duration) {
        (
            self.bytes.load(Ordering::Relaxed),
            std::time::Duration::from_nanos(self.nanos.load(Ordering::Relaxed)),
        )
    }
}

/// Writes byte ranges of an [`Incoming`] file, from any thread (see
/// [`Incoming::ranged`]). Writing is not hashing: the hash is taken from the
/// file afterwards, so nothing written here is trusted until then.
#[derive(Debug)]
pub struct RangeWriter {
    file: File,
    path: PathBuf,
    size: u64,
}

impl RangeWriter {
    /// Writes `bytes` at `offset`; refuses to grow the file past its size.
    pub fn write_at(&self, bytes: &[u8], offset: u64) -> Result<()> {
        if offset.saturating_add(bytes.len() as u64) > self.size {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "a range write past the object's {} bytes (at {offset})",
                    self.size
                ),
            ));
        }
        write_all_at(&self.file, bytes, offset).map_err(|e| Error::io("write", &self.path, e))
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    loop {
        match file.read_at(buf, offset) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::os::windows::fs::FileExt;
    file.seek_read(buf, offset)
}

#[cfg(unix)]
fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, offset)
}

#[cfg(windows)]
fn write_all_at(file: &File, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !bytes.is_empty() {
        match file.seek_write(bytes, offset) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                bytes = &bytes[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `<2 hex>/<30 hex>[.dir]`.
fn shard(md5: &Md5, is_dir: bool) -> PathBuf {
    let hex = md5.to_hex();
    let suffix = if is_dir { ".dir" } else { "" };
    Path::new(&hex[..2]).join(format!("{}{suffix}", &hex[2..]))
}

/// Read-only for everyone (0444 on Unix) for the open `file`.
fn read_only_permissions(file: &File) -> Result<fs::Permissions> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = file;
        Ok(fs::Permissions::from_mode(0o444))
    }
    #[cfg(not(unix))]
    {
        let mut p = file
            .metadata()
            .map_err(|e| Error::io("stat", Path::new("<incoming>"), e))?
            .permissions();
        p.set_readonly(true);
        Ok(p)
    }
}

/// Makes `path` read-only for everyone (0444 on Unix).
pub(crate) fn set_read_only(path: &Path) -> Result<()> {
    #[cfg(unix)]
    let perms = {
        use std::os::unix::fs::PermissionsExt;
        fs::Permissions::from_mode(0o444)
    };
    #[cfg(not(unix))]
    let perms = {
        let mut p = fs::metadata(path)
            .map_err(|e| Error::io("stat", path, e))?
            .permissions();
        p.set_readonly(true);
        p
    };
    fs::set_permissions(path, perms).map_err(|e| Error::io("make read-only", path, e))
}

/// What `stat` said about a file when it was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
    nlink: u64,
    mode: u32,
}

impl Stamp {
    pub(crate) fn of(meta: &fs::Metadata) -> Stamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Stamp {
                size: meta.len(),
                mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
                ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
                ino: meta.ino(),
                dev: meta.dev(),
                nlink: meta.nlink(),
                mode: meta.mode(),
            }
        }
        #[cfg(not(unix))]
        {
            let nanos = |t: io::Result<std::time::SystemTime>| {
                t.ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos() as i128)
            };
            Stamp {
                size: meta.len(),
                mtime_ns: nanos(meta.modified()),
                ctime_ns: nanos(meta.created()),
                ino: 0,
                dev: 0,
                nlink: 0,
                mode: u32::from(meta.permissions().readonly()),
            }
        }
    }

    /// As [`Stamp::of`], from a `stat` made with `rustix` (relative to a
    /// folder handle); the same fields, so the two compare equal.
    #[cfg(unix)]
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    pub(crate) fn of_stat(st: &rustix::fs::Stat) -> Stamp {
        Stamp {
            size: st.st_size as u64,
            mtime_ns: i128::from(st.st_mtime as i64) * 1_000_000_000
                + i128::from(st.st_mtime_nsec as i64),
            ctime_ns: i128::from(st.st_ctime as i64) * 1_000_000_000
                + i128::from(st.st_ctime_nsec as i64),
            ino: st.st_ino as u64,
            dev: st.st_dev as u64,
            nlink: st.st_nlink as u64,
            mode: st.st_mode as u32,
        }
    }

    /// Device and inode.
    fn identity(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// Same size, mtime and identity (ctime may differ).
    pub(crate) fn same_content_as(&self, other: &Stamp) -> bool {
        self.size == other.size
            && self.mtime_ns == other.mtime_ns
            && self.ino == other.ino
            && self.dev == other.dev
    }

    /// `self` (recorded) and `now` differ at most by hard links made or
    /// removed since: ctime and the link count may have moved (a link made
    /// and later removed leaves the count as it was, ctime not), while size,
    /// mtime, identity and the read-only mode are untouched. Writing to the
    /// object needs a `chmod` (the mode) and moves mtime, so a content change
    /// never looks like this; placing a copy, deleting it (`cargo clean`, a
    /// new `pull`) does. DVC's own state database trusts size, mtime and
    /// inode alone.
    pub(crate) fn only_links_changed(&self, now: &Stamp) -> bool {
        self.same_content_as(now) && self.mode == now.mode && !writable(now.mode)
    }

    pub(crate) fn parse(text: &str) -> Option<Stamp> {
        let mut it = text.split_ascii_whitespace();
        if it.next()? != "v2" {
            return None;
        }
        let stamp = Stamp {
            size: it.next()?.parse().ok()?,
            mtime_ns: it.next()?.parse().ok()?,
            ctime_ns: it.next()?.parse().ok()?,
            ino: it.next()?.parse().ok()?,
            dev: it.next()?.parse().ok()?,
            nlink: it.next()?.parse().ok()?,
            mode: it.next()?.parse().ok()?,
        };
        Some(stamp)
    }
}

/// A SHA-256 record: the hash and the stamp of the object it was taken of.
fn parse_sha256_record(text: &str) -> Option<(Sha256, Stamp)> {
    let (sha, stamp) = text.split_once(' ')?;
    Some((sha.parse().ok()?, Stamp::parse(stamp)?))
}

/// Any write permission bit set.
fn writable(mode: u32) -> bool {
    #[cfg(unix)]
    {
        mode & 0o222 != 0
    }
    #[cfg(not(unix))]
    {
        mode == 0
    }
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "v2 {} {} {} {} {} {} {}",
            self.size, self.mtime_ns, self.ctime_ns, self.ino, self.dev, self.nlink, self.mode
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        (dir, cache)
    }

    #[test]
    fn insert_then_get_is_trusted_and_read_only() {
        let (_d, cache) = cache();
        let file = cache.insert_bytes(b"hello\n", false).unwrap();
        assert_eq!(file.md5, Md5::of(b"hello\n"));
        assert!(
            file.path
                .ends_with("files/md5/b1/946ac92492d2347c6235b4d2611184")
        );
        assert!(fs::metadata(&file.path).unwrap().permissions().readonly());
        assert_eq!(cache.get(&file.md5, false).unwrap(), Some(file));
    }

    #[test]
    fn links_placed_and_removed_keep_objects_and_sets_trusted() {
        let (d, cache) = cache();
        let files: Vec<CachedFile> = (0..3u8)
            .map(|i| cache.insert_bytes(&[b'x', i], false).unwrap())
            .collect();
        let objects: Vec<Md5> = files.iter().map(|f| f.md5).collect();
        let key = Md5::of(b"the set");
        assert_eq!(cache.get_set(&key, &objects).unwrap(), Some(files.clone()));
        // pull, rm -rf, pull, rm -rf, pull: the link count goes up and back
        // down, ctime moves every time; nothing is hashed or re-recorded.
        let placed = d.path().join("placed");
        for round in 0..3 {
            fs::create_dir(&placed).unwrap();
            for (i, file) in files.iter().enumerate() {
                fs::hard_link(&file.path, placed.join(i.to_string())).unwrap();
            }
            assert_eq!(
                cache.trusted_set(&key, &objects),
                Some(files.clone()),
                "round {round}, linked"
            );
            assert!(matches!(
                cache.quick_check(&files[0].md5, false).unwrap(),
                Check::Trusted(_)
            ));
            fs::remove_dir_all(&placed).unwrap();
            assert_eq!(
                cache.trusted_set(&key, &objects),
                Some(files.clone()),
                "round {round}, unlinked"
            );
        }
        // An edit is not a link: the object is hashed and found corrupt.
        let target = &files[1].path;
        let mut perms = fs::metadata(target).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(target, perms).unwrap();
        fs::write(target, b"xy").unwrap();
        assert_eq!(cache.trusted_set(&key, &objects), None);
        assert_eq!(cache.get_set(&key, &objects).unwrap(), None);
        assert!(!target.exists());
    }

    /// Commits `bytes` as a file of a directory being fetched.
    fn commit_in_set(cache: &Cache, bytes: &[u8]) -> CachedFile {
        let md5 = Md5::of(bytes);
        let lock = cache.lock_object(&md5, false).unwrap();
        let mut incoming = cache.incoming().unwrap();
        incoming.in_set();
        incoming.write(bytes).unwrap();
        incoming
            .commit(cache, &lock, Some(md5), Some(bytes.len() as u64), false)
            .unwrap()
    }

    #[cfg(unix)]
    #[test]
    fn small_files_of_a_set_are_vouched_for_by_its_record_alone() {
        use std::os::unix::fs::PermissionsExt;
        let (_d, cache) = cache();
        let small = commit_in_set(&cache, b"small");
        let large = commit_in_set(&cache, &vec![7u8; OWN_RECORD_MIN as usize]);
        assert!(
            !cache.state_path(&small.md5, false).exists(),
            "no record of its own"
        );
        assert!(cache.state_path(&large.md5, false).exists());
        let key = Md5::of(b"the directory");
        let set = [small.md5, large.md5];
        cache.record_set(&key, [&small, &large]).unwrap();
        assert_eq!(
            cache.trusted_set(&key, &set),
            Some(vec![small.clone(), large.clone()])
        );
        // On its own (another directory, an update): hashed, found, and
        // still no record of its own.
        let absent = Md5::of(b"absent");
        assert_eq!(
            cache
                .find_many(&[small.md5, absent, large.md5], &[])
                .unwrap(),
            vec![Some(small.clone()), None, Some(large.clone())]
        );
        assert!(!cache.state_path(&small.md5, false).exists());
        // Edited (and made read-only again): found corrupt, removed, and the
        // set is incomplete.
        fs::set_permissions(&small.path, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&small.path, b"smalL").unwrap();
        fs::set_permissions(&small.path, fs::Permissions::from_mode(0o444)).unwrap();
        assert_eq!(cache.trusted_set(&key, &set), None);
        assert_eq!(cache.find_many(&[small.md5], &[key]).unwrap(), vec![None]);
        assert!(!small.path.exists(), "the corrupt object was removed");
        assert_eq!(cache.get_set(&key, &set).unwrap(), None);
    }

    #[test]
    fn a_stripe_is_held_by_one_thread_at_a_time_and_by_one_process() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (_d, cache) = cache();
        // Two objects on one stripe (same first byte), one on another.
        let a: Md5 = "ab000000000000000000000000000000".parse().unwrap();
        let b: Md5 = "ab111111111111111111111111111111".parse().unwrap();
        let other: Md5 = "cd000000000000000000000000000000".parse().unwrap();
        let inside = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for i in 0..8 {
                let (cache, inside) = (&cache, &inside);
                s.spawn(move || {
                    for _ in 0..50 {
                        let _lock = cache
                            .lock_object(if i % 2 == 0 { &a } else { &b }, false)
                            .unwrap();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        // The other stripe is free meanwhile.
                        drop(cache.lock_object(&other, false).unwrap());
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        // A second cache handle (as another process would) waits for the
        // file lock itself.
        let held = cache.lock_object(&a, false).unwrap();
        let other_handle = Cache::open(cache.root()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let _lock = other_handle.lock_object(&b, false).unwrap();
                tx.send(()).unwrap();
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(rx.try_recv().is_err(), "taken while held elsewhere");
            drop(held);
            rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        });
        let files = fs::read_dir(cache.root().join("locks")).unwrap().count();
        if cfg!(unix) {
            assert_eq!(files, 0, "shard folders are the locks: no lock files");
        } else {
            assert_eq!(files, 2, "one lock file per stripe used");
        }
    }

    #[test]
    fn downloads_abandoned_by_a_dead_process_go_on_the_next_open() {
        let (d, cache) = cache();
        let mut live = cache.incoming().unwrap();
        live.write(&[1u8; 4096]).unwrap();
        live.flush().unwrap();
        // Killed mid-download: bytes written, nobody holds it.
        let abandoned = cache.root().join("tmp/incoming-abandoned");
        fs::write(&abandoned, vec![0u8; 4096]).unwrap();
        // Just created by a writer that has not locked it yet: kept.
        let just_made = cache.root().join("tmp/incoming-just-made");
        fs::write(&just_made, b"").unwrap();
        let _again = Cache::open(d.path().join("c")).unwrap();
        assert!(!abandoned.exists(), "nobody held it: removed at once");
        assert!(live.path().exists(), "a live download is left alone");
        assert!(
            just_made.exists(),
            "an empty, recent file may be a live one"
        );
    }

    #[test]
    fn commit_refuses_wrong_hash_and_keeps_nothing() {
        let (_d, cache) = cache();
        let want = Md5::of(b"right");
        let lock = cache.lock_object(&want, false).unwrap();
        let mut inc = cache.incoming().unwrap();
        inc.write(b"wrong").unwrap();
        let err = inc
            .commit(&cache, &lock, Some(want), None, false)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Integrity);
        assert!(!cache.object_path(&Md5::of(b"wrong"), false).exists());
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn corrupt_entry_with_same_size_is_removed() {
        let (_d, cache) = cache();
        let file = cache.insert_bytes(b"abc", false).unwrap();
        let mut perms = fs::metadata(&file.path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&file.path, perms).unwrap();
        fs::write(&file.path, b"abd").unwrap();
        assert_eq!(cache.get(&file.md5, false).unwrap(), None);
        assert!(!file.path.exists());
    }

    #[test]
    fn stamp_round_trips() {
        let s = Stamp {
            size: 1,
            mtime_ns: -2,
            ctime_ns: 3,
            ino: 4,
            dev: 5,
            nlink: 2,
            mode: 0o100444,
        };
        assert_eq!(Stamp::parse(&s.to_string()), Some(s));
        assert_eq!(Stamp::parse("v1 1 2 3 4 5"), None);
    }

    #[test]
    fn a_link_made_or_removed_is_not_a_change_of_content() {
        let recorded = Stamp {
            size: 10,
            mtime_ns: 1,
            ctime_ns: 2,
            ino: 3,
            dev: 4,
            nlink: 2,
            mode: 0o100444,
        };
        let unlinked = Stamp {
            ctime_ns: 9,
            nlink: 1,
            ..recorded
        };
        assert!(recorded.only_links_changed(&unlinked));
        // Made writable: never trusted without hashing.
        let chmodded = Stamp {
            mode: 0o100644,
            ..unlinked
        };
        assert!(!recorded.only_links_changed(&chmodded));
        // Written: mtime moved.
        let written = Stamp {
            mtime_ns: 5,
            ..unlinked
        };
        assert!(!recorded.only_links_changed(&written));
        // A link made and removed again: the count is back, ctime moved.
        let relinked = Stamp {
            ctime_ns: 9,
            ..recorded
        };
        assert!(recorded.only_links_changed(&relinked));
        // Replaced by another file.
        let replaced = Stamp { ino: 7, ..unlinked };
        assert!(!recorded.only_links_changed(&replaced));
    }

    #[test]
    fn copy_from_file_hashes_what_it_copied_across_steps() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache")).unwrap();
        let src_path = dir.path().join("src.bin");
        let bytes: Vec<u8> = (0..(20u32 << 20) + 3).map(|i| (i % 251) as u8).collect();
        std::fs::write(&src_path, &bytes).unwrap();
        let mut incoming = cache.incoming().unwrap();
        let n = incoming
            .copy_from_file(&mut File::open(&src_path).unwrap(), &|_| {})
            .unwrap();
        assert_eq!(n, bytes.len() as u64);
        assert_eq!(incoming.digest(), (Md5::of(&bytes), bytes.len() as u64));
        incoming.flush().unwrap();
        assert_eq!(std::fs::read(incoming.path()).unwrap(), bytes);
        // Only into an empty file.
        assert!(
            incoming
                .copy_from_file(&mut File::open(&src_path).unwrap(), &|_| {})
                .is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_set_is_trusted_across_link_changes_and_rechecked_after_edits() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache")).unwrap();
        let a = cache.insert_bytes(b"alpha", false).unwrap();
        let b = cache.insert_bytes(b"beta", false).unwrap();
        let key = Md5::of(b"the directory");
        let set = [a.md5, b.md5];
        assert_eq!(cache.get_set(&key, &set).unwrap().unwrap().len(), 2);
        // A placed hard link made and removed: still trusted, by the record.
        let link = dir.path().join("placed");
        std::fs::hard_link(&a.path, &link).unwrap();
        cache.record_set(&key, &[a.clone(), b.clone()]).unwrap();
        std::fs::remove_file(&link).unwrap();
        assert!(cache.trusted_set(&key, &set).is_some());
        // Made writable and edited through the cache path: re-verified, dropped.
        std::fs::set_permissions(&b.path, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(&b.path, b"BETA").unwrap();
        assert!(cache.trusted_set(&key, &set).is_none());
        assert_eq!(cache.get_set(&key, &set).unwrap(), None);
        assert!(!b.path.exists(), "the corrupt object was removed");
    }
}
