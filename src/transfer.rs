//! Moving objects from a remote into the cache: downloads that survive a
//! flaky network and never leave a wrong byte behind.
//!
//! - [`fetch_file`] streams one object into the cache, hashing as it writes
//!   (one pass over the bytes; 1 MiB reads), and returns the verified
//!   [`CachedFile`] with its plain MD5 and size.
//! - A transient failure (connection reset, timeout, 5xx, 429) is retried
//!   with exponential backoff and jitter ([`RetryPolicy`], bounded), waiting
//!   at least as long as a `Retry-After` answer asked
//!   ([`FetchError::Throttled`]); a body
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
//! - A large object (from [`RANGED_MIN`] bytes, not from a local folder)
//!   starts as one stream, hashed from memory on a second thread as it is
//!   written. Once [`STREAM_PROBE`] bytes came, the stream is judged: when
//!   it brought them slower than the hash took them in (a far server, a
//!   slow link), the rest comes in parallel ranges, hashed in order from
//!   the file as each range completes ([`Ranges::WhenSlow`]). From a
//!   source faster than the hash (the same machine, a fast LAN) more
//!   connections would only take CPU from the hash, the download's
//!   critical path: here one stream imports 256 MiB over loopback HTTP in
//!   0.45 s, eight ranges in 0.72 s.
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

use crate::cache::{Cache, CachedFile, HashClock, Incoming, ObjectLock, RangeWriter};
use crate::error::{Error, ErrorKind, Result};
use crate::hash::{self, Md5, Sha256};
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
    /// Concurrent downloads for a directory, and concurrent ranges of one
    /// large object; default: [`Remote::max_parallel`].
    pub parallel: Option<usize>,
    /// Objects of at least this many bytes, from a remote that is not local,
    /// are fetched as parallel ranges; default: [`RANGED_MIN`].
    pub ranged_min: Option<u64>,
    /// The size of each range; default: [`RANGE_SIZE`].
    pub range_size: Option<u64>,
    /// When those ranges start; default: [`Ranges::WhenSlow`].
    pub ranges: Ranges,
    /// With [`Ranges::WhenSlow`], how many bytes one stream brings before it
    /// is judged against the hash; default: [`STREAM_PROBE`].
    pub stream_probe: Option<u64>,
}

/// When a large object is fetched in parallel ranges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ranges {
    /// One stream first; the rest in parallel ranges only when that stream
    /// brings the bytes slower than the hash takes them in. Every byte is
    /// hashed in order, on one core: from a source faster than that (the
    /// same machine, a fast LAN), more connections would not make the
    /// download any faster, they would take CPU from the hash and
    /// add a second read of every byte (ranges are hashed from the file,
    /// one stream from memory).
    #[default]
    WhenSlow,
    /// Parallel ranges from the first byte.
    Always,
}

/// Objects this large (and larger) come in parallel ranges from non-local
/// remotes (one stream from a remote over the network rarely fills the
/// pipe, and hashing then overlaps the download).
pub const RANGED_MIN: u64 = 32 << 20;

/// The size of one range of a parallel download.
pub const RANGE_SIZE: u64 = 8 << 20;

/// How much of a large object one stream brings before it is judged
/// against the hash (see [`Ranges::WhenSlow`]).
pub const STREAM_PROBE: u64 = 2 * PIPELINE_CHUNK as u64;

/// Bodies at least this large are hashed on a second thread while the next
/// chunk is read and written.
const PIPELINE_MIN: u64 = 4 << 20;

/// The chunk a pipelined download reads, writes and hashes at a time.
const PIPELINE_CHUNK: usize = 4 << 20;

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
    fetch_missing(remote, cache, key, expected_size, options, false)
}

/// [`fetch_file_with`] for an object just found missing: takes its lock,
/// looks again (another process may have fetched it meanwhile), else
/// downloads it. `in_set`: a file of a directory whose record the caller
/// writes ([`Incoming::in_set`]).
fn fetch_missing(
    remote: &dyn Remote,
    cache: &Cache,
    key: ObjectKey,
    expected_size: Option<u64>,
    options: &Options,
    in_set: bool,
) -> Result<CachedFile> {
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
    let target = Target::object(key);
    download(
        remote,
        cache,
        &target,
        expected_size,
        options,
        Some(&lock),
        in_set,
    )
    .map_err(|e| {
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

/// What a download from a URL import's source must turn out to be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceCheck {
    /// The MD5 the lock records; `None` for the first download (the bytes
    /// are then named by whatever they hash to).
    pub md5: Option<Md5>,
    /// The size the source announced, or the lock records.
    pub size: Option<u64>,
    /// The SHA-256 they must have (a `sha256 =` pin): checked before they
    /// enter the cache.
    pub sha256: Option<Sha256>,
    /// Compute the SHA-256 (in the same pass as the MD5) and record it in
    /// the cache even without a pin.
    pub want_sha256: bool,
}

/// Fetches the file at `rel` on `remote`, the source of a URL import, into
/// the cache (unless `check.md5` is there already), with the retries,
/// resumption and parallel ranges of any download, and returns it verified
/// against `check`. Bytes that do not match never enter the cache.
///
/// Errors: the remote's [`ErrorKind::NotFound`] when the source is gone;
/// [`ErrorKind::Integrity`] ("expected MD5 X, got Y", or SHA-256) when the
/// bytes are not the expected ones.
pub fn fetch_source(
    remote: &dyn Remote,
    cache: &Cache,
    rel: &str,
    check: &SourceCheck,
    options: &Options,
) -> Result<CachedFile> {
    if let Some(md5) = &check.md5
        && let Some(found) = cache.get(md5, false)?
    {
        if let Some(want) = check.size
            && want != found.size
        {
            return Err(Error::new(
                ErrorKind::Integrity,
                format!(
                    "the cached object {md5} has {} bytes, but {want} were recorded for it",
                    found.size
                ),
            ));
        }
        return Ok(found);
    }
    let target = Target {
        rel: rel.to_string(),
        what: What::Source(check.md5),
        sha256: check.sha256,
        want_sha256: check.want_sha256,
    };
    download(remote, cache, &target, check.size, options, None, false)
}

/// [`fetch_source`] for every file of a directory source (`files`: paths
/// relative to the remote's root, and what each must be), a few at a time
/// ([`Remote::max_parallel`]). Returns the cached files in the order given;
/// fails, naming the file, when any fails.
pub fn fetch_sources(
    remote: &dyn Remote,
    cache: &Cache,
    files: &[(String, SourceCheck)],
    options: &Options,
) -> Result<Vec<CachedFile>> {
    let workers = options
        .parallel
        .unwrap_or_else(|| remote.max_parallel())
        .clamp(1, files.len().max(1));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let done: Mutex<Vec<Option<CachedFile>>> = Mutex::new(vec![None; files.len()]);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((rel, check)) = files.get(i) else {
                        break;
                    };
                    match fetch_source(remote, cache, rel, check, options) {
                        Ok(file) => done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(file),
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            failure
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(e.context(format_args!("file `{rel}`")));
                        }
                    }
                }
            });
        }
    });
    if let Some(err) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(err);
    }
    done.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .zip(files)
        .map(|(file, (rel, _))| {
            file.ok_or_else(|| {
                Error::new(
                    ErrorKind::Integrity,
                    format!("file `{rel}` was not fetched"),
                )
            })
        })
        .collect()
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
    /// Worth another try, but not before the server's `Retry-After`.
    Wait(Error, Duration),
}

impl Attempt {
    /// The error of a failed attempt worth retrying, and how long the server
    /// asked us to wait; `Err` for a fatal one.
    fn retryable(self) -> Result<(Error, Duration)> {
        match self {
            Attempt::Fatal(e) => Err(e),
            Attempt::Retry(e) => Ok((e, Duration::ZERO)),
            Attempt::Wait(e, asked) => Ok((e, asked)),
        }
    }
}

/// The read buffer of single-stream downloads: one per thread, reused (each
/// of a directory's downloads would otherwise allocate and zero 64 KiB).
struct Scratch(Vec<u8>);

thread_local! {
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

const SCRATCH_SIZE: usize = 64 << 10;

fn scratch() -> Scratch {
    let mut buf = SCRATCH.try_with(|s| s.take()).unwrap_or_default();
    if buf.len() < SCRATCH_SIZE {
        buf = vec![0u8; SCRATCH_SIZE];
    }
    Scratch(buf)
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        let _ = SCRATCH.try_with(|s| s.set(buf));
    }
}

impl std::ops::Deref for Scratch {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// What a download fetches: where it is on the remote, and what it must be.
struct Target {
    /// Its path relative to the remote's root.
    rel: String,
    /// What it is.
    what: What,
    /// The SHA-256 it must have (a `sha256 =` pin); computed in the same
    /// pass as the MD5 when set.
    sha256: Option<Sha256>,
    /// Compute (and record) the SHA-256 even without a pin.
    want_sha256: bool,
}

/// A DVC object, or the file a URL import names.
enum What {
    /// An object of a DVC remote, named by its hash.
    Object(ObjectKey),
    /// The file a URL import names: its MD5 must be this one (the lock's),
    /// or, `None`, the first download: whatever its bytes hash to.
    Source(Option<Md5>),
}

impl Target {
    fn object(key: ObjectKey) -> Target {
        Target {
            rel: key.rel_path(),
            what: What::Object(key),
            sha256: None,
            want_sha256: false,
        }
    }
}

/// Downloads `target` into the cache. `lock` is the held lock of a target
/// with a key; without a key, the object's lock is taken once its MD5 is
/// known.
fn download(
    remote: &dyn Remote,
    cache: &Cache,
    target: &Target,
    expected_size: Option<u64>,
    options: &Options,
    lock: Option<&ObjectLock>,
    in_set: bool,
) -> Result<CachedFile> {
    let rel = target.rel.clone();
    let mut incoming = if target.sha256.is_some() || target.want_sha256 {
        cache.incoming_with_sha256()?
    } else {
        cache.incoming()?
    };
    if in_set {
        incoming.in_set();
    }
    let mut buf = scratch();
    let mut restarted = false;
    let parallel = options
        .parallel
        .unwrap_or_else(|| remote.max_parallel())
        .max(1);
    if let Some(size) = expected_size
        && !remote.is_local()
        && parallel > 1
        && size >= options.ranged_min.unwrap_or(RANGED_MIN).max(1)
    {
        let range = options.range_size.unwrap_or(RANGE_SIZE).max(1);
        if options.ranges == Ranges::WhenSlow {
            let probe = options.stream_probe.unwrap_or(STREAM_PROBE).max(2);
            receive_while_fast(remote, &rel, &mut incoming, size, probe)?;
        }
        if incoming.len() < size {
            receive_ranged(
                remote,
                &rel,
                target,
                &mut incoming,
                size,
                range,
                parallel,
                &options.retry,
            )?;
        }
        match verify(target, expected_size, &mut incoming)? {
            Verdict::Good { plain, size } => {
                return commit(cache, target, incoming, plain, size, lock);
            }
            // Ranges may have come from two versions of a changed object:
            // start over once, as one stream.
            Verdict::Bad(_) => {
                restarted = true;
                incoming.reset()?;
            }
        }
    }
    // A local folder: copy in the kernel, hash what landed. Any failure
    // (a missing file included) falls through to the stream below, which
    // classifies and reports it.
    if !restarted
        && let Some(path) = remote.local_file(&rel)
        && let Ok(mut src) = std::fs::File::open(&path)
        && incoming
            .copy_from_file(&mut src, &|n| remote.copied(n))
            .is_ok()
    {
        match verify(target, expected_size, &mut incoming)? {
            Verdict::Good { plain, size } => {
                return commit(cache, target, incoming, plain, size, lock);
            }
            Verdict::Bad(err) => return Err(err),
        }
    }
    loop {
        // Whether it resumed no longer matters: any mismatch restarts once.
        let _resumed = receive(
            remote,
            &rel,
            target,
            &mut incoming,
            &mut buf,
            expected_size,
            &options.retry,
        )?;
        match verify(target, expected_size, &mut incoming)? {
            Verdict::Good { plain, size } => {
                return commit(cache, target, incoming, plain, size, lock);
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
    target: &Target,
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
        match receive_once(remote, rel, target, incoming, buf, expected_size) {
            Ok(()) => return Ok(resumed),
            Err(attempt) => {
                let (e, asked) = attempt.retryable()?;
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
                std::thread::sleep(retry.delay(failures).max(asked));
            }
        }
    }
}

fn receive_once(
    remote: &dyn Remote,
    rel: &str,
    target: &Target,
    incoming: &mut Incoming,
    buf: &mut [u8],
    expected_size: Option<u64>,
) -> Result<(), Attempt> {
    let offset = incoming.len();
    let body = remote
        .open(rel, offset, None)
        .map_err(|e| open_error(e, remote, rel, target))?;
    let mut reader = body.reader;
    let mut got = 0u64;
    if body.len.is_some_and(|len| len >= PIPELINE_MIN) {
        incoming.write_from(
            PIPELINE_CHUNK,
            |chunk| {
                let n = fill(&mut reader, chunk)?;
                if let Some(want) = expected_size
                    && offset + got + n as u64 > want
                {
                    return Err(too_much(want));
                }
                got += n as u64;
                Ok(n)
            },
            Attempt::Fatal,
            None,
        )?;
        return check_complete(body.len, expected_size, offset, got);
    }
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        if let Some(want) = expected_size
            && offset + got + n as u64 > want
        {
            return Err(too_much(want));
        }
        incoming.write(&buf[..n]).map_err(Attempt::Fatal)?;
        got += n as u64;
    }
    check_complete(body.len, expected_size, offset, got)
}

fn too_much(want: u64) -> Attempt {
    Attempt::Fatal(Error::new(
        ErrorKind::Integrity,
        format!("the remote sent more than the {want} bytes recorded for this object"),
    ))
}

fn read_error(e: io::Error) -> Attempt {
    Attempt::Retry(Error::new(ErrorKind::Remote, "reading the body failed").with_source(e))
}

/// Reads until `buf` is full or the body ends; the bytes read.
fn fill(reader: &mut dyn Read, buf: &mut [u8]) -> Result<usize, Attempt> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Keep what was read: it is written and hashed before the retry.
            Err(_) if n > 0 => break,
            Err(e) => return Err(read_error(e)),
        }
    }
    Ok(n)
}

/// Whether a body that ended after `got` bytes (from `offset`) was complete.
fn check_complete(
    len: Option<u64>,
    expected_size: Option<u64>,
    offset: u64,
    got: u64,
) -> Result<(), Attempt> {
    let cut = match (len, expected_size) {
        (Some(len), _) if got < len => Some(format!("{got} of {len} bytes")),
        // An empty answer at a non-zero offset (416) means "nothing more":
        // retrying will not help; the size check below will tell.
        _ if got == 0 && offset > 0 && len == Some(0) => None,
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

fn open_error(e: FetchError, remote: &dyn Remote, rel: &str, target: &Target) -> Attempt {
    match (e, &target.what) {
        (FetchError::NotFound(inner), What::Object(key)) => Attempt::Fatal(
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
        // A URL import's source: the remote's own words name it.
        (FetchError::NotFound(inner), What::Source(_)) => Attempt::Fatal(inner),
        (FetchError::Transient(inner), _) => Attempt::Retry(inner),
        (FetchError::Throttled(inner, asked), _) => Attempt::Wait(inner, asked),
        (FetchError::Permanent(inner), _) => Attempt::Fatal(inner),
    }
}

/// Receives the object as one stream for as long as that stream is at least
/// as fast as the hash ([`Ranges::WhenSlow`]): judged once `probe` bytes
/// came, by the time spent waiting for them against the time spent hashing
/// them. Stops early (leaving the rest to parallel ranges) when it
/// is slower, and when the stream fails or ends short; returns an error
/// only for what ranges would not mend (bytes past the object's size, a
/// failed write).
fn receive_while_fast(
    remote: &dyn Remote,
    rel: &str,
    incoming: &mut Incoming,
    size: u64,
    probe: u64,
) -> Result<()> {
    let Ok(body) = remote.open(rel, 0, None) else {
        // The ranges ask again, and say why when they fail too.
        return Ok(());
    };
    if body.len.is_some_and(|len| len != size) {
        return Ok(());
    }
    let mut reader = body.reader;
    let clock = HashClock::default();
    let mut waited = Duration::ZERO;
    let mut got = 0u64;
    let mut judged = false;
    // Chunks small enough to judge the stream after `probe` bytes.
    let chunk = PIPELINE_CHUNK.min(usize::try_from(probe / 2).unwrap_or(usize::MAX));
    let streamed = incoming.write_from(
        chunk,
        |chunk| {
            if !judged && got >= probe {
                judged = true;
                let (hashed, hashing) = clock.read();
                // Bytes per second, compared without dividing: the stream
                // is slower when it took longer per byte than the hash.
                let slower = hashed > 0
                    && waited.as_secs_f64() * hashed as f64 > hashing.as_secs_f64() * got as f64;
                if slower {
                    return Ok(0);
                }
            }
            let started = std::time::Instant::now();
            let n = fill(&mut reader, chunk)?;
            waited += started.elapsed();
            if got + n as u64 > size {
                return Err(too_much(size));
            }
            got += n as u64;
            Ok(n)
        },
        Attempt::Fatal,
        Some(&clock),
    );
    match streamed {
        Ok(()) | Err(Attempt::Retry(_) | Attempt::Wait(..)) => Ok(()),
        Err(Attempt::Fatal(e)) => Err(e),
    }
}

/// Receives an object of `size` bytes as ranges of `range` bytes, fetched by
/// up to `parallel` threads into the preallocated temporary file, each range
/// retried and resumed on its own. Meanwhile this thread hashes the file in
/// order, from its start, as far as the ranges are complete; when this
/// returns `Ok` the whole file is hashed (and still to be verified).
#[allow(clippy::too_many_arguments)]
fn receive_ranged(
    remote: &dyn Remote,
    rel: &str,
    target: &Target,
    incoming: &mut Incoming,
    size: u64,
    range: u64,
    parallel: usize,
    retry: &RetryPolicy,
) -> Result<()> {
    let from = incoming.len();
    let writer = incoming.ranged(size)?;
    let count = usize::try_from((size - from).div_ceil(range)).unwrap_or(usize::MAX);
    let bounds = |i: usize| {
        let start = from + i as u64 * range;
        (start, (start + range).min(size))
    };
    let workers = parallel.min(count).max(1);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let done = Mutex::new(vec![false; count]);
    let progress = std::sync::Condvar::new();
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let fail = |e: Error| {
        failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(e);
        stop.store(true, Ordering::Relaxed);
        // Wake the hasher: it waits on `done`, so take that lock to notify.
        let _guard = done.lock().unwrap_or_else(|e| e.into_inner());
        progress.notify_all();
    };
    let hashed = std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut buf = vec![0u8; 256 << 10];
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let (start, end) = bounds(i);
                    match receive_range(remote, rel, target, &writer, start, end, &mut buf, retry) {
                        Ok(()) => {
                            let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                            d[i] = true;
                            progress.notify_all();
                        }
                        Err(e) => {
                            fail(e.context(format_args!("bytes {start}..{end}")));
                            break;
                        }
                    }
                }
            });
        }
        // Hash in order, as far as the ranges are complete.
        let mut buf = vec![0u8; hash::CHUNK_SIZE];
        for i in 0..count {
            {
                let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                while !d[i] && !stop.load(Ordering::Relaxed) {
                    d = progress.wait(d).unwrap_or_else(|e| e.into_inner());
                }
                if !d[i] {
                    return Ok(());
                }
            }
            if let Err(e) = incoming.hash_written(bounds(i).1, &mut buf) {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    });
    if let Some(err) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(err);
    }
    hashed
}

/// Fetches bytes `start..end` of the object into `writer`, retrying
/// transient failures with backoff and resuming from the last byte written.
#[allow(clippy::too_many_arguments)]
fn receive_range(
    remote: &dyn Remote,
    rel: &str,
    target: &Target,
    writer: &RangeWriter,
    start: u64,
    end: u64,
    buf: &mut [u8],
    retry: &RetryPolicy,
) -> Result<()> {
    let mut pos = start;
    let mut failures = 0u32;
    let mut total = 0u32;
    while pos < end {
        let before = pos;
        let attempt = (|| -> Result<(), Attempt> {
            let body = remote
                .open(rel, pos, Some(end))
                .map_err(|e| open_error(e, remote, rel, target))?;
            if let Some(len) = body.len
                && len > end - pos
            {
                return Err(Attempt::Fatal(Error::new(
                    ErrorKind::Remote,
                    format!(
                        "asked for {} bytes from byte {pos}, the remote announced {len}",
                        end - pos
                    ),
                )));
            }
            let mut reader = body.reader.take(end - pos);
            loop {
                let n = match reader.read(buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(read_error(e)),
                };
                writer.write_at(&buf[..n], pos).map_err(Attempt::Fatal)?;
                pos += n as u64;
            }
            if pos < end {
                return Err(Attempt::Retry(Error::new(
                    ErrorKind::Remote,
                    format!("the body ended early (at byte {pos} of {start}..{end})"),
                )));
            }
            Ok(())
        })();
        match attempt {
            Ok(()) => {}
            Err(attempt) => {
                let (e, asked) = attempt.retryable()?;
                failures = if pos > before { 1 } else { failures + 1 };
                total += 1;
                if failures >= retry.attempts.max(1)
                    || total >= retry.attempts.max(1).saturating_mul(4)
                {
                    return Err(e.context(format_args!("gave up after {total} attempts")));
                }
                std::thread::sleep(retry.delay(failures).max(asked));
            }
        }
    }
    Ok(())
}

/// The outcome of checking received bytes against their key.
enum Verdict {
    /// The bytes are the object; `plain` is their plain MD5.
    Good { plain: Md5, size: u64 },
    /// They are not.
    Bad(Error),
}

fn verify(target: &Target, expected_size: Option<u64>, incoming: &mut Incoming) -> Result<Verdict> {
    let help = match target.what {
        What::Object(_) => {
            "the remote's copy is damaged or is another object: push it again from the source project"
        }
        What::Source(_) => "the source's bytes are not the ones expected",
    };
    let bad = |msg: String| Verdict::Bad(Error::new(ErrorKind::Integrity, msg).with_help(help));
    let (plain, size) = incoming.digest();
    if let Some(want) = expected_size
        && want != size
    {
        return Ok(bad(format!("expected {want} bytes, got {size}")));
    }
    let (want, got, which) = match &target.what {
        What::Object(key) if key.layout == Layout::V2 => {
            incoming.flush()?;
            let path = incoming.path();
            let legacy = std::fs::File::open(path)
                .and_then(hash::legacy_md5_reader)
                .map_err(|e| Error::io("read", path, e))?
                .0;
            (key.md5, legacy, "(DVC 2) ")
        }
        What::Object(key) => (key.md5, plain, ""),
        What::Source(Some(md5)) => (*md5, plain, ""),
        What::Source(None) => (plain, plain, ""),
    };
    if want != got {
        return Ok(bad(format!("expected {which}MD5 {want}, got {got}")));
    }
    if let Some(want) = target.sha256
        && let got = incoming.sha256()
        && got != Some(want)
    {
        let got = got.map_or_else(|| "none".to_string(), |g| g.to_string());
        return Ok(Verdict::Bad(
            Error::new(
                ErrorKind::Integrity,
                format!("expected SHA-256 {want} (the `sha256` pin), got {got}"),
            )
            .with_help(
                "the bytes are not the ones `sha256` pins: if they are the version you want, set \
                 `sha256` to their hash and run `cargo dvc update` (nothing was kept)",
            ),
        ));
    }
    Ok(Verdict::Good { plain, size })
}

/// Moves verified bytes into the cache (and, for DVC 2, records the alias).
/// `lock` is held for an object's own MD5; a V2 object, or a source whose
/// MD5 was not known before, takes the lock of the MD5 it hashed to.
fn commit(
    cache: &Cache,
    target: &Target,
    incoming: Incoming,
    plain: Md5,
    size: u64,
    lock: Option<&ObjectLock>,
) -> Result<CachedFile> {
    let is_dir = match &target.what {
        What::Object(key) => key.is_dir,
        What::Source(_) => false,
    };
    if let (What::Object(key), Some(lock)) = (&target.what, lock)
        && key.layout == Layout::V3
    {
        return incoming.commit(cache, lock, Some(plain), Some(size), is_dir);
    }
    let plain_lock = cache.lock_object(&plain, is_dir)?;
    let file = match cache.get_locked(&plain, is_dir, &plain_lock)? {
        Some(existing) => existing,
        None => incoming.commit(cache, &plain_lock, Some(plain), Some(size), is_dir)?,
    };
    if let What::Object(key) = &target.what
        && key.layout == Layout::V2
    {
        cache.set_legacy_alias(&key.md5, key.is_dir, &plain)?;
    }
    Ok(file)
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
    fetch_dir_reusing(remote, cache, dir_key, entries, &[], options)
}

/// [`fetch_dir_with`] for a directory that shares files with directories
/// fetched before (`known`, the hashes their locks record, such as the
/// version an update replaces): files their records vouch for are trusted
/// with one `stat` each (see [`Cache::find_many`]).
pub fn fetch_dir_reusing(
    remote: &dyn Remote,
    cache: &Cache,
    dir_key: ObjectKey,
    entries: &[(String, Md5)],
    known: &[Md5],
    options: &Options,
) -> Result<CachedDir> {
    let key_of = |md5: Md5| ObjectKey {
        md5,
        is_dir: false,
        layout: dir_key.layout,
    };
    // Each distinct object once: `unique[slot]`, first named by entry
    // `first[slot]`; `slot_of[entry]`.
    let mut unique: Vec<Md5> = Vec::new();
    let mut first: Vec<usize> = Vec::new();
    let slot_of: Vec<usize> = {
        let mut index: HashMap<Md5, usize> = HashMap::with_capacity(entries.len());
        entries
            .iter()
            .enumerate()
            .map(|(e, (_, md5))| {
                *index.entry(*md5).or_insert_with(|| {
                    unique.push(*md5);
                    first.push(e);
                    unique.len() - 1
                })
            })
            .collect()
    };
    let mut slots: Vec<Option<CachedFile>> = match dir_key.layout {
        // Small files fetched with a directory have no record of their own:
        // they are checked in bulk (see `Cache::find_many`).
        Layout::V3 => cache.find_many(&unique, known)?,
        Layout::V2 => unique
            .iter()
            .map(|md5| lookup(cache, &key_of(*md5), None))
            .collect::<Result<_>>()?,
    };
    let missing: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].is_none()).collect();
    let in_set = dir_key.layout == Layout::V3;

    if !missing.is_empty() {
        let workers = options
            .parallel
            .unwrap_or_else(|| remote.max_parallel())
            .clamp(1, missing.len());
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let done: Mutex<Vec<(usize, CachedFile)>> = Mutex::new(Vec::with_capacity(missing.len()));
        let failure: Mutex<Option<Error>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&slot) = missing.get(i) else { break };
                        let md5 = unique[slot];
                        match fetch_missing(remote, cache, key_of(md5), None, options, in_set) {
                            Ok(file) => done
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push((slot, file)),
                            Err(e) => {
                                stop.store(true, Ordering::Relaxed);
                                let rel = &entries[first[slot]].0;
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
        for (slot, file) in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
            slots[slot] = Some(file);
        }
    }

    let mut files: Vec<(String, CachedFile)> = Vec::with_capacity(entries.len());
    let mut size = 0u64;
    for (e, (rel, md5)) in entries.iter().enumerate() {
        let slot = slot_of[e];
        // Moved out for the entry that first named it, cloned for others.
        let file = if first[slot] == e {
            slots[slot].take()
        } else {
            files.get(first[slot]).map(|(_, file)| file.clone())
        };
        let file = file.ok_or_else(|| {
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
    use crate::remote::Body;
    use std::sync::atomic::AtomicU32;

    /// A remote over bytes in memory that is not local (so large objects come
    /// in ranges); it can cut a range short or fail it once, and logs every open.
    struct MemRemote {
        bytes: Vec<u8>,
        /// Ranges starting here fail once with a transient error...
        fail_at: Option<u64>,
        /// ... and ranges starting here end early once.
        cut_at: Option<u64>,
        failed: AtomicBool,
        cut: AtomicBool,
        /// Every open: offset and end.
        asked: Mutex<Vec<(u64, Option<u64>)>>,
        /// Bodies come 16 KiB at a time, 5 ms apart (a slow network).
        slow: bool,
    }

    /// A body that trickles: a few bytes per read, a pause before each.
    struct Trickle(io::Cursor<Vec<u8>>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(Duration::from_millis(5));
            let n = buf.len().min(16 << 10);
            self.0.read(&mut buf[..n])
        }
    }

    impl MemRemote {
        fn opens(&self) -> usize {
            self.asked.lock().unwrap().len()
        }

        fn ranged_opens(&self) -> usize {
            self.asked
                .lock()
                .unwrap()
                .iter()
                .filter(|a| a.1.is_some())
                .count()
        }

        fn new(bytes: Vec<u8>) -> MemRemote {
            MemRemote {
                bytes,
                fail_at: None,
                cut_at: None,
                failed: AtomicBool::new(false),
                cut: AtomicBool::new(false),
                asked: Mutex::new(Vec::new()),
                slow: false,
            }
        }
    }

    impl Remote for MemRemote {
        fn display_url(&self) -> String {
            "mem://".into()
        }

        fn open(&self, _rel: &str, offset: u64, end: Option<u64>) -> Result<Body, FetchError> {
            self.asked.lock().unwrap().push((offset, end));
            if Some(offset) == self.fail_at && !self.failed.swap(true, Ordering::Relaxed) {
                return Err(FetchError::Transient(Error::new(ErrorKind::Remote, "503")));
            }
            let total = self.bytes.len() as u64;
            let end = end.unwrap_or(total).min(total);
            let mut slice = self.bytes[offset.min(end) as usize..end as usize].to_vec();
            let len = slice.len() as u64;
            if Some(offset) == self.cut_at && !self.cut.swap(true, Ordering::Relaxed) {
                slice.truncate(slice.len() / 3);
            }
            let reader: Box<dyn Read + Send> = if self.slow {
                Box::new(Trickle(io::Cursor::new(slice)))
            } else {
                Box::new(io::Cursor::new(slice))
            };
            Ok(Body {
                reader,
                len: Some(len),
            })
        }

        fn max_parallel(&self) -> usize {
            4
        }
    }

    fn data(n: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_u32;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 7) as u8
            })
            .collect()
    }

    fn ranged_options() -> Options {
        Options {
            retry: RetryPolicy {
                attempts: 3,
                base_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(2),
            },
            parallel: Some(4),
            ranged_min: Some(1000),
            range_size: Some(1000),
            ranges: Ranges::Always,
            stream_probe: None,
        }
    }

    fn key_of(bytes: &[u8]) -> ObjectKey {
        ObjectKey {
            md5: Md5::of(bytes),
            is_dir: false,
            layout: Layout::V3,
        }
    }

    #[test]
    fn ranged_download_is_byte_exact_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        // Not a multiple of the range size: the last range is short.
        let bytes = data(10_500);
        let remote = MemRemote::new(bytes.clone());
        let file = fetch_file_with(
            &remote,
            &cache,
            key_of(&bytes),
            Some(bytes.len() as u64),
            &ranged_options(),
        )
        .unwrap();
        assert_eq!(std::fs::read(&file.path).unwrap(), bytes);
        assert_eq!(file.size, bytes.len() as u64);
        assert_eq!(remote.ranged_opens(), 11);
        assert!(
            std::fs::metadata(&file.path)
                .unwrap()
                .permissions()
                .readonly()
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    fn when_slow(probe: u64, range: u64) -> Options {
        Options {
            ranges: Ranges::WhenSlow,
            stream_probe: Some(probe),
            range_size: Some(range),
            ..ranged_options()
        }
    }

    #[test]
    fn a_stream_faster_than_the_hash_is_kept_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let bytes = data(3 << 20);
        let remote = MemRemote::new(bytes.clone());
        let size = Some(bytes.len() as u64);
        let options = when_slow(256 << 10, 256 << 10);
        let file = fetch_file_with(&remote, &cache, key_of(&bytes), size, &options).unwrap();
        assert_eq!(std::fs::read(&file.path).unwrap(), bytes);
        assert_eq!(*remote.asked.lock().unwrap(), [(0, None)], "one stream");
    }

    #[test]
    fn a_stream_slower_than_the_hash_hands_the_rest_to_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let bytes = data(2 << 20);
        let mut remote = MemRemote::new(bytes.clone());
        remote.slow = true;
        let size = Some(bytes.len() as u64);
        let (probe, range) = (256 << 10, 256 << 10);
        let options = when_slow(probe, range);
        let file = fetch_file_with(&remote, &cache, key_of(&bytes), size, &options).unwrap();
        assert_eq!(std::fs::read(&file.path).unwrap(), bytes);
        let asked = remote.asked.lock().unwrap().clone();
        assert_eq!(asked[0], (0, None), "a stream first: {asked:?}");
        let ranges = &asked[1..];
        assert!(ranges.len() >= 4, "then ranges: {asked:?}");
        // The ranges start where the stream stopped (after the probe) and
        // cover the rest exactly once.
        let from = ranges.iter().map(|r| r.0).min().unwrap();
        assert!(from >= probe, "{asked:?}");
        let mut covered = from;
        let mut sorted: Vec<_> = ranges.iter().map(|&(a, b)| (a, b.unwrap())).collect();
        sorted.sort();
        for (a, b) in sorted {
            assert_eq!(a, covered, "{asked:?}");
            covered = b;
        }
        assert_eq!(covered, bytes.len() as u64);
    }

    #[test]
    fn a_failed_and_a_cut_range_are_retried_alone() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let bytes = data(8_000);
        let mut remote = MemRemote::new(bytes.clone());
        remote.fail_at = Some(3000);
        remote.cut_at = Some(5000);
        let file = fetch_file_with(
            &remote,
            &cache,
            key_of(&bytes),
            Some(bytes.len() as u64),
            &ranged_options(),
        )
        .unwrap();
        assert_eq!(std::fs::read(&file.path).unwrap(), bytes);
        // 8 ranges, one failed open retried, one cut range resumed mid-way.
        assert_eq!(remote.opens(), 10);
        assert!(remote.failed.load(Ordering::Relaxed) && remote.cut.load(Ordering::Relaxed));
    }

    #[test]
    fn ranged_bytes_that_do_not_hash_right_are_never_cached() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let bytes = data(6_000);
        let mut wrong = bytes.clone();
        wrong[4321] ^= 1;
        let remote = MemRemote::new(wrong);
        let err = fetch_file_with(
            &remote,
            &cache,
            key_of(&bytes),
            Some(bytes.len() as u64),
            &ranged_options(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Integrity);
        // Ranged once, then one whole-object retry, then the error.
        assert_eq!(remote.opens(), 7);
        assert!(cache.get(&Md5::of(&bytes), false).unwrap().is_none());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn a_throttled_answer_waits_as_long_as_the_server_asked() {
        struct Busy(AtomicU32, Vec<u8>);
        impl Remote for Busy {
            fn display_url(&self) -> String {
                "mem://busy".into()
            }
            fn open(&self, _: &str, offset: u64, _: Option<u64>) -> Result<Body, FetchError> {
                if self.0.fetch_add(1, Ordering::Relaxed) == 0 {
                    return Err(FetchError::Throttled(
                        Error::new(ErrorKind::Remote, "HTTP 429"),
                        Duration::from_millis(300),
                    ));
                }
                Ok(Body {
                    reader: Box::new(io::Cursor::new(self.1[offset as usize..].to_vec())),
                    len: Some(self.1.len() as u64 - offset),
                })
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let bytes = data(3000);
        let remote = Busy(AtomicU32::new(0), bytes.clone());
        let started = std::time::Instant::now();
        // The policy alone would wait about a millisecond.
        let file =
            fetch_file_with(&remote, &cache, key_of(&bytes), None, &ranged_options()).unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(std::fs::read(&file.path).unwrap(), bytes);
        assert_eq!(remote.0.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_range_that_keeps_failing_gives_up_and_leaves_nothing() {
        struct Broken;
        impl Remote for Broken {
            fn display_url(&self) -> String {
                "mem://broken".into()
            }
            fn open(&self, _: &str, offset: u64, _: Option<u64>) -> Result<Body, FetchError> {
                if offset >= 2000 {
                    return Err(FetchError::Transient(Error::new(
                        ErrorKind::Remote,
                        "reset",
                    )));
                }
                Ok(Body {
                    reader: Box::new(io::Cursor::new(vec![0u8; 1000])),
                    len: Some(1000),
                })
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let bytes = vec![0u8; 5000];
        let err = fetch_file_with(
            &Broken,
            &cache,
            key_of(&bytes),
            Some(5000),
            &ranged_options(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("gave up"), "{err}");
        assert!(cache.get(&Md5::of(&bytes), false).unwrap().is_none());
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn pipelined_single_stream_hashes_what_it_writes() {
        // A local remote and a body over PIPELINE_MIN: the threaded path.
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache")).unwrap();
        let bytes = data((PIPELINE_MIN as usize) * 2 + 12_345);
        let key = key_of(&bytes);
        let remote_dir = dir.path().join("remote");
        let obj = remote_dir.join(key.rel_path());
        std::fs::create_dir_all(obj.parent().unwrap()).unwrap();
        std::fs::write(&obj, &bytes).unwrap();
        let remote = crate::remote::local::LocalRemote::new(&remote_dir);
        let file = fetch_file(&remote, &cache, key, Some(bytes.len() as u64)).unwrap();
        assert_eq!(std::fs::read(&file.path).unwrap(), bytes);
        // A corrupt copy of the same size is refused.
        let other: Vec<u8> = bytes.iter().rev().copied().collect();
        let mut bad = other.clone();
        bad[0] ^= 0xff;
        let key = key_of(&other);
        let obj = remote_dir.join(key.rel_path());
        std::fs::create_dir_all(obj.parent().unwrap()).unwrap();
        std::fs::write(&obj, &bad).unwrap();
        let err = fetch_file(&remote, &cache, key, Some(bad.len() as u64)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Integrity);
    }

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
