//! Moving objects from a remote into the cache: downloads that survive a
//! flaky network and never leave a wrong byte behind.
//!
//! - [`fetch_file`] streams one object into the cache, hashing as it writes
//!   (one pass over the bytes; 1 MiB reads), and returns the verified
//!   [`CachedFile`] with its plain MD5 and size.
//! - A transient failure (connection reset, timeout, 5xx, 429) is retried
//!   with exponential backoff and jitter ([`RetryPolicy`], bounded); a body
//!   cut short is resumed with a ranged request from the bytes already
//!   written. A download whose hash then fails is restarted once from byte 0
//!   (resumed bytes may come from a changed object, and a body damaged in
//!   flight, or cut short under a wrong `Content-Length`, is worth one more
//!   try); a second mismatch is an [`ErrorKind::Integrity`] error.
//! - Sizes are checked against the caller's `expected_size` (the lock's
//!   `size`) while streaming, so an oversized or endless body stops early,
//!   and against the remote's announced length.
//! - Before downloading, the object's lock is taken: concurrent processes
//!   fetching one object download it once; the others wait and find it.
//! - DVC 2 objects ([`Layout::V2`]) are fetched from the legacy place and
//!   verified against the legacy hash; the cache keys them by the plain MD5
//!   computed while downloading, which the caller gets back (it is what a DVC
//!   3 consumer's lock records).
//! - [`fetch_dir`] fetches a directory's files with bounded parallelism
//!   over the remote's keep-alive connections, each distinct MD5 once,
//!   skipping what is cached; it succeeds only when every file is cached.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher as _};
use std::io::{self, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::cache::{Cache, CachedFile, Incoming, ObjectLock};
use crate::error::{Error, ErrorKind, Result};
use crate::hash::{self, Md5};
use crate::remote::{FetchError, Layout, ObjectKey, Remote};

/// How transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in a row without progress before giving up (at least 1).
    pub attempts: u32,
    /// The delay after the first failure; doubled after each further one.
    pub base_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 250 ms doubling up to 4 s (about 8 s of waiting at most).
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    /// The pause after the `failures`-th failure in a row: exponential, capped,
    /// with jitter (a random factor in `[0.5, 1]`).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(self.max_delay);
        let mut h = RandomState::new().build_hasher();
        h.write_u32(failures);
        let jitter = 0.5 + (h.finish() % 1000) as f64 / 2000.0;
        exp.mul_f64(jitter)
    }
}

/// Settings of a transfer.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Retrying transient failures.
    pub retry: RetryPolicy,
    /// Concurrent downloads for a directory; default: [`Remote::max_parallel`].
    pub parallel: Option<usize>,
}

/// A directory whose files are all in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedDir {
    /// Every entry, in the order given, with its cached file (plain MD5).
    pub files: Vec<(String, CachedFile)>,
    /// The sum of the files' sizes.
    pub size: u64,
}

/// Fetches one object into `cache` (unless it is there already) and returns
/// it, verified. `expected_size`, when known, is checked too.
///
/// Errors: [`ErrorKind::NotFound`] naming the object and the remote when the
/// remote has no such object; [`ErrorKind::Integrity`] when the bytes do not
/// match; the remote's error after the retries are exhausted.
pub fn fetch_file(
    remote: &dyn Remote,
    cache: &Cache,
    key: ObjectKey,
    expected_size: Option<u64>,
) -> Result<CachedFile> {
    fetch_file_with(remote, cache, key, expected_size, &Options::default())
}

/// [`fetch_file`] with explicit [`Options`].
pub fn fetch_file_with(
    remote: &dyn Remote,
    cache: &Cache,
    key: ObjectKey,
    expected_size: Option<u64>,
    options: &Options,
) -> Result<CachedFile> {
    if let Some(found) = lookup(cache, &key, None)? {
        return check_cached_size(found, expected_size, &key);
    }
    let lock = match key.layout {
        Layout::V3 => cache.lock_object(&key.md5, key.is_dir)?,
        Layout::V2 => cache.lock(&format!(
            "v2-{}{}",
            key.md5,
            if key.is_dir { ".dir" } else { "" }
        ))?,
    };
    // Whoever held the lock before us may have fetched it.
    if let Some(found) = lookup(cache, &key, Some(&lock))? {
        return check_cached_size(found, expected_size, &key);
    }
    download(remote, cache, &key, expected_size, options, &lock).map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            // Already names the object and the remote.
            e
        } else {
            e.context(format_args!(
                "object `{}` from remote `{}`",
                key.rel_path(),
                remote.display_url()
            ))
        }
    })
}

/// The cached object for `key`, if any. `lock` is the held lock of a V3 key.
fn lookup(cache: &Cache, key: &ObjectKey, lock: Option<&ObjectLock>) -> Result<Option<CachedFile>> {
    match key.layout {
        Layout::V3 => match lock {
            Some(lock) => cache.get_locked(&key.md5, key.is_dir, lock),
            None => cache.get(&key.md5, key.is_dir),
        },
        Layout::V2 => match cache.legacy_alias(&key.md5, key.is_dir) {
            Some(plain) => cache.get(&plain, key.is_dir),
            None => Ok(None),
        },
    }
}

fn check_cached_size(
    found: CachedFile,
    expected_size: Option<u64>,
    key: &ObjectKey,
) -> Result<CachedFile> {
    match expected_size {
        Some(want) if want != found.size => Err(Error::new(
            ErrorKind::Integrity,
            format!(
                "object `{}` has {} bytes, but {want} were recorded for it",
                key.rel_path(),
                found.size
            ),
        )
        .with_help(
            "the lock's `size` disagrees with its `md5`: run `cargo dvc update` to rewrite it",
        )),
        _ => Ok(found),
    }
}

/// Why one attempt ended.
enum Attempt {
    /// Give up now.
    Fatal(Error),
    /// Worth another try (resuming from what was written).
    Retry(Error),
}

fn download(
    remote: &dyn Remote,
    cache: &Cache,
    key: &ObjectKey,
    expected_size: Option<u64>,
    options: &Options,
    lock: &ObjectLock,
) -> Result<CachedFile> {
    let rel = key.rel_path();
    let mut incoming = cache.incoming()?;
    let mut buf = vec![0u8; hash::CHUNK_SIZE];
    let mut restarted = false;
    loop {
        // Whether it resumed no longer matters: any mismatch restarts once.
        let _resumed = receive(
            remote,
            &rel,
            key,
            &mut incoming,
            &mut buf,
            expected_size,
            &options.retry,
        )?;
        match verify(key, expected_size, &mut incoming)? {
            Verdict::Good { plain, size } => {
                return commit(cache, key, incoming, plain, size, lock);
            }
            Verdict::Bad(err) if restarted => return Err(err),
            Verdict::Bad(_) => {
                // Resumed bytes may come from a changed object, and a body
                // may be damaged in flight: start over once.
                restarted = true;
                incoming.reset()?;
            }
        }
    }
}

/// Receives the whole object into `incoming`, retrying and resuming.
/// Returns whether any attempt resumed from a non-zero offset.
fn receive(
    remote: &dyn Remote,
    rel: &str,
    key: &ObjectKey,
    incoming: &mut Incoming,
    buf: &mut [u8],
    expected_size: Option<u64>,
    retry: &RetryPolicy,
) -> Result<bool> {
    let mut failures = 0u32;
    let mut total = 0u32;
    let mut resumed = false;
    loop {
        let offset = incoming.len();
        resumed |= offset > 0;
        match receive_once(remote, rel, key, incoming, buf, expected_size) {
            Ok(()) => return Ok(resumed),
            Err(Attempt::Fatal(e)) => return Err(e),
            Err(Attempt::Retry(e)) => {
                failures = if incoming.len() > offset {
                    1
                } else {
                    failures + 1
                };
                total += 1;
                if failures >= retry.attempts.max(1)
                    || total >= retry.attempts.max(1).saturating_mul(4)
                {
                    return Err(e.context(format_args!("gave up after {total} attempts")));
                }
                std::thread::sleep(retry.delay(failures));
            }
        }
    }
}

fn receive_once(
    remote: &dyn Remote,
    rel: &str,
    key: &ObjectKey,
    incoming: &mut Incoming,
    buf: &mut [u8],
    expected_size: Option<u64>,
) -> Result<(), Attempt> {
    let offset = incoming.len();
    let body = remote.open(rel, offset, None).map_err(|e| match e {
        FetchError::NotFound(inner) => Attempt::Fatal(
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "object `{rel}` ({}{}) is not on remote `{}`",
                    key.md5,
                    if key.is_dir { ".dir" } else { "" },
                    remote.display_url()
                ),
            )
            .with_source(inner)
            .with_help("push it from the source project (`dvc push`), or choose a remote that has it with `remote =`"),
        ),
        FetchError::Transient(inner) => Attempt::Retry(inner),
        FetchError::Permanent(inner) => Attempt::Fatal(inner),
    })?;
    let mut reader = body.reader;
    let mut got = 0u64;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Attempt::Retry(
                    Error::new(ErrorKind::Remote, format!("reading the body: {e}")).with_source(e),
                ));
            }
        };
        if let Some(want) = expected_size
            && offset + got + n as u64 > want
        {
            return Err(Attempt::Fatal(Error::new(
                ErrorKind::Integrity,
                format!("the remote sent more than the {want} bytes recorded for this object"),
            )));
        }
        incoming.write(&buf[..n]).map_err(Attempt::Fatal)?;
        got += n as u64;
    }
    let cut = match (body.len, expected_size) {
        (Some(len), _) if got < len => Some(format!("{got} of {len} bytes")),
        // An empty answer at a non-zero offset (416) means "nothing more":
        // retrying will not help; the size check below will tell.
        _ if got == 0 && offset > 0 && body.len == Some(0) => None,
        (_, Some(want)) if offset + got < want => Some(format!("{} of {want} bytes", offset + got)),
        _ => None,
    };
    match cut {
        Some(what) => Err(Attempt::Retry(Error::new(
            ErrorKind::Remote,
            format!("the body ended early ({what})"),
        ))),
        None => Ok(()),
    }
}

/// The outcome of checking received bytes against their key.
enum Verdict {
    /// The bytes are the object; `plain` is their plain MD5.
    Good { plain: Md5, size: u64 },
    /// They are not.
    Bad(Error),
}

fn verify(key: &ObjectKey, expected_size: Option<u64>, incoming: &mut Incoming) -> Result<Verdict> {
    let bad = |msg: String| {
        Verdict::Bad(
            Error::new(ErrorKind::Integrity, msg)
                .with_help("the remote's copy is damaged or is another object: push it again from the source project"),
        )
    };
    let (plain, size) = incoming.digest();
    if let Some(want) = expected_size
        && want != size
    {
        return Ok(bad(format!("expected {want} bytes, got {size}")));
    }
    let (want, got, which) = match key.layout {
        Layout::V3 => (key.md5, plain, ""),
        Layout::V2 => {
            incoming.flush()?;
            let path = incoming.path();
            let legacy = std::fs::File::open(path)
                .and_then(hash::legacy_md5_reader)
                .map_err(|e| Error::io("read", path, e))?
                .0;
            (key.md5, legacy, "(DVC 2) ")
        }
    };
    if want != got {
        return Ok(bad(format!("expected {which}MD5 {want}, got {got}")));
    }
    Ok(Verdict::Good { plain, size })
}

/// Moves verified bytes into the cache (and, for DVC 2, records the alias).
fn commit(
    cache: &Cache,
    key: &ObjectKey,
    incoming: Incoming,
    plain: Md5,
    size: u64,
    lock: &ObjectLock,
) -> Result<CachedFile> {
    match key.layout {
        Layout::V3 => incoming.commit(cache, lock, Some(plain), Some(size), key.is_dir),
        Layout::V2 => {
            let plain_lock = cache.lock_object(&plain, key.is_dir)?;
            let file = match cache.get_locked(&plain, key.is_dir, &plain_lock)? {
                Some(existing) => existing,
                None => incoming.commit(cache, &plain_lock, Some(plain), Some(size), key.is_dir)?,
            };
            cache.set_legacy_alias(&key.md5, key.is_dir, &plain)?;
            Ok(file)
        }
    }
}

/// Fetches every file of a directory (`entries`: validated relative paths
/// and their MD5s, from the `.dir` manifest `dir_key`) into the cache.
pub fn fetch_dir(
    remote: &dyn Remote,
    cache: &Cache,
    dir_key: ObjectKey,
    entries: &[(String, Md5)],
) -> Result<CachedDir> {
    fetch_dir_with(remote, cache, dir_key, entries, &Options::default())
}

/// [`fetch_dir`] with explicit [`Options`].
pub fn fetch_dir_with(
    remote: &dyn Remote,
    cache: &Cache,
    dir_key: ObjectKey,
    entries: &[(String, Md5)],
    options: &Options,
) -> Result<CachedDir> {
    let key_of = |md5: Md5| ObjectKey {
        md5,
        is_dir: false,
        layout: dir_key.layout,
    };
    let mut first_path: HashMap<Md5, &str> = HashMap::new();
    for (rel, md5) in entries {
        first_path.entry(*md5).or_insert(rel);
    }
    let mut found: HashMap<Md5, CachedFile> = HashMap::with_capacity(first_path.len());
    let mut missing = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(first_path.len());
    for (_, md5) in entries {
        if !seen.insert(*md5) {
            continue;
        }
        match lookup(cache, &key_of(*md5), None)? {
            Some(file) => {
                found.insert(*md5, file);
            }
            None => missing.push(*md5),
        }
    }

    if !missing.is_empty() {
        let workers = options
            .parallel
            .unwrap_or_else(|| remote.max_parallel())
            .clamp(1, missing.len());
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let done: Mutex<Vec<(Md5, CachedFile)>> = Mutex::new(Vec::with_capacity(missing.len()));
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(md5) = missing.get(i) else { break };
                        match fetch_file_with(remote, cache, key_of(*md5), None, options) {
                            Ok(file) => done
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((*md5, file)),
                            Err(e) => {
                                stop.store(true, Ordering::Relaxed);
                                let rel = first_path.get(md5).copied().unwrap_or("?");
                                let e = e.context(format_args!("file `{rel}`"));
                                failure
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .get_or_insert(e);
                            }
                        }
                    }
                });
            }
        });
        if let Some(err) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(err.context(format_args!(
                "directory `{}.dir` from remote `{}`",
                dir_key.md5,
                remote.display_url()
            )));
        }
        found.extend(done.into_inner().unwrap_or_else(|e| e.into_inner()));
    }

    let mut files = Vec::with_capacity(entries.len());
    let mut size = 0u64;
    for (rel, md5) in entries {
        let file = found.get(md5).cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::Integrity,
                format!("file `{rel}` ({md5}) is missing from the cache"),
            )
        })?;
        size += file.size;
        files.push((rel.clone(), file));
    }
    Ok(CachedDir { files, size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        for _ in 0..20 {
            let first = p.delay(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = p.delay(3);
            assert!(third >= Duration::from_millis(175) && third <= Duration::from_millis(350));
            assert!(p.delay(40) <= Duration::from_millis(350));
        }
    }
}
