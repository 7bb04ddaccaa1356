//! URL imports (`dvc import-url`): one file or directory named by a URL,
//! pinned by what its source says about it.
//!
//! The source is read through the same [`Remote`]s as a registry's data: a
//! URL is split into the remote holding it (its parent: `https://host/dir`,
//! `s3://bucket/prefix`, a local folder) and its name there, opened with
//! the dependency's `fs_config` as the remote's options. What DVC records
//! to pin the version ([`Remote::info`]: an HTTP `ETag` or checksum, an S3
//! ETag, a local file's MD5; for a directory, the tree of those) goes into
//! the lock's `deps` entry; the content MD5 into `outs`, as for any import.
//!
//! [`Engine::resolve_url`] is `dvc import-url` (download, hash, describe);
//! [`Engine::fetch_import_url`] fetches what a lock names, from the cache
//! when it is there, else from the source, refusing bytes that are not the
//! locked ones (the source changed and nobody ran `cargo dvc update`);
//! [`Engine::url_source_state`] asks the source, without downloading,
//! whether it still holds the locked version (`status`, `update`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Artifact, Engine};
use crate::cache::CachedFile;
use crate::error::{Error, ErrorKind, Result};
use crate::format::dir_manifest::{DirEntry, DirManifest, check_relpath};
use crate::format::pyjson;
use crate::format::stage::{ImportUrlStage, SourcePin, UrlDep};
use crate::format::yaml::{Map, Value};
use crate::hash::{Md5, Sha256};
use crate::progress::CountingRemote;
use crate::redact;
use crate::remote::{self, FetchError, ObjectInfo, Pin, Remote};
use crate::transfer::{self, RetryPolicy, SourceCheck};

/// What a URL dependency asks of the engine, beside its lock.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlSpec {
    /// The URL, or a local path relative to the lock's folder, as the lock
    /// records it (`deps[0].path`).
    pub path: String,
    /// `fs_config`: the source's file-system options, as the lock records
    /// them.
    pub fs_config: Map,
    /// The SHA-256 the bytes must have (`sha256 =` in `Cargo.toml`).
    pub sha256: Option<Sha256>,
}

/// Whether a URL import's source still holds the locked version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    /// The source pins the same version as the lock.
    Unchanged,
    /// The source now pins another version: `now` is its pin, as the lock
    /// would record it.
    Changed {
        /// The pin the source reports now.
        now: String,
    },
    /// Only a download can tell: the source pins nothing that changes with
    /// its content (an HTTP server sending no `ETag`, `Content-MD5` nor
    /// `Last-Modified`).
    Unknown,
    /// The source is gone.
    Gone,
}

/// A URL import's source, opened: the remote holding it and its name there.
struct Source {
    remote: Arc<dyn Remote>,
    rel: String,
    /// The URL as a message shows it (credentials removed).
    shown: String,
    /// Names the source (remote, name, options) in the cache's records.
    key: Md5,
}

/// A pin worth remembering (one that changes with the content), as a line.
fn remembered_line(pin: &Pin, size: Option<u64>) -> Option<String> {
    let size = size.map_or_else(|| "-".to_string(), |s| s.to_string());
    match pin {
        Pin::Checksum {
            value,
            validated: true,
        } => Some(format!("checksum {size} {value}")),
        Pin::Etag(etag) if !etag.is_empty() => Some(format!("etag {size} {etag}")),
        _ => None,
    }
}

impl Engine {
    /// `dvc import-url`: looks at the source, downloads it (verified
    /// against `spec.sha256` when given, before anything enters the
    /// cache), and describes it as the lock `dvc import-url` writes, with
    /// `out_path` as its output (relative to the lock's folder, `base`).
    pub fn resolve_url(
        &self,
        base: &Path,
        spec: &UrlSpec,
        out_path: &str,
    ) -> Result<(ImportUrlStage, Artifact)> {
        self.require_online(spec)?;
        let source = self.open_source(base, spec)?;
        let info = retrying(|| source.remote.info(&source.rel)).map_err(|e| source.error(e))?;
        let (pin, size, nfiles, version_id, artifact) = match info {
            Some(info) => {
                let remembered = self.remembered(&source, &info.pin, info.size, false)?;
                let file = match remembered {
                    Some(Artifact::File(file)) => file,
                    _ => {
                        let check = SourceCheck {
                            md5: None,
                            size: info.size,
                            sha256: spec.sha256,
                            want_sha256: self.wants_sha256(),
                        };
                        self.fetch_source_file(&source, &source.rel, &check)?
                    }
                };
                self.check_sha256(spec, &source, &file)?;
                let pin = match &info.pin {
                    Pin::Checksum { value, .. } => SourcePin::Checksum(value.clone()),
                    Pin::Etag(etag) => SourcePin::Etag(etag.clone()),
                    Pin::ContentMd5 => SourcePin::Md5 {
                        md5: file.md5,
                        is_dir: false,
                    },
                };
                self.remember(&source, &info.pin, info.size, file.md5)?;
                (pin, info.size, None, info.version_id, Artifact::File(file))
            }
            None => {
                let listing =
                    retrying(|| source.remote.list(&source.rel)).map_err(|e| source.error(e))?;
                if listing.is_empty() {
                    return Err(source.error(FetchError::NotFound(Error::new(
                        ErrorKind::NotFound,
                        "no such file or directory",
                    ))));
                }
                if spec.sha256.is_some() {
                    return Err(Error::new(
                        ErrorKind::Manifest,
                        format!(
                            "`sha256` pins one file, but `{}` is a directory",
                            source.shown
                        ),
                    )
                    .with_help("remove `sha256`, or name one file of the directory"));
                }
                let size = listing.iter().map(|(_, i)| i.size).sum::<Option<u64>>();
                // An S3 prefix is pinned by its objects' ETags, known before
                // any download: the same tree as before is already cached.
                let etags = etag_tree(&listing).map(|tree| Pin::Etag(tree.to_hex()));
                let remembered = match &etags {
                    Some(pin) => self.remembered(&source, pin, size, true)?,
                    None => None,
                };
                let artifact = match remembered {
                    Some(dir) => dir,
                    None => self.fetch_source_dir(&source, listing.clone())?,
                };
                if let Some(pin) = &etags {
                    self.remember(&source, pin, size, artifact.md5())?;
                }
                let pin = dir_pin(&source, &listing, Some(artifact.md5()))?;
                (pin, size, Some(listing.len() as u64), None, artifact)
            }
        };
        let stage = ImportUrlStage {
            dep: UrlDep {
                path: spec.path.clone(),
                pin,
                size,
                nfiles,
                version_id,
                fs_config: spec.fs_config.clone(),
            },
            out: artifact.out_info(out_path),
        };
        Ok((stage, artifact))
    }

    /// The artifact an import-url lock names: from the cache when it is
    /// there (no network), else downloaded from the source and checked
    /// against the lock's MD5 (and `spec.sha256`). Bytes that are not the
    /// locked ones never enter the cache: the error names both hashes and
    /// says to run `cargo dvc update`.
    pub fn fetch_import_url(
        &self,
        base: &Path,
        stage: &ImportUrlStage,
        sha256: Option<Sha256>,
    ) -> Result<Artifact> {
        let spec = UrlSpec {
            path: stage.dep.path.clone(),
            fs_config: stage.dep.fs_config.clone(),
            sha256,
        };
        let out = &stage.out;
        let Some(locked) = out.md5 else {
            // `dvc import-url --no-download`: nothing pins the bytes yet.
            return Err(Error::new(
                ErrorKind::Format,
                format!(
                    "the lock of `{}` records no hash (`dvc import-url --no-download`)",
                    redact::url(&spec.path)
                ),
            )
            .with_help("run `cargo dvc update` to download it and record its hash"));
        };
        if let Some(found) = self.cached(out)? {
            if let Artifact::File(file) = &found
                && let Some(want) = sha256
            {
                let got = self.cache.sha256(file)?;
                if got != want {
                    return Err(sha256_error(&redact::url(&spec.path), want, got));
                }
            }
            return Ok(found);
        }
        if self.net.is_offline() {
            return Err(Error::new(
                ErrorKind::Offline,
                format!(
                    "offline, and `{}` ({}) is not in the cache",
                    redact::url(&spec.path),
                    locked
                ),
            )
            .with_help("run `cargo dvc fetch` once with network access"));
        }
        let source = self.open_source(base, &spec)?;
        let shown = source.shown.clone();
        let changed = |e: Error| -> Error {
            // A wrong MD5 (not a wrong `sha256`, which says so itself): the
            // source moved on since the lock was written.
            if e.kind() == ErrorKind::Integrity && !e.message().contains("`sha256` pin") {
                Error::new(
                    ErrorKind::Integrity,
                    format!(
                        "{} (the lock pins the first MD5: the source changed since it was written)",
                        e.message()
                    ),
                )
                .with_help(
                    "run `cargo dvc update` to lock the source's new version (nothing was kept)",
                )
            } else {
                e
            }
        };
        if !out.is_dir {
            let check = SourceCheck {
                md5: Some(locked),
                size: out.size,
                sha256,
                want_sha256: self.wants_sha256(),
            };
            let file = self
                .fetch_source_file(&source, &source.rel, &check)
                .map_err(changed)?;
            self.check_sha256(&spec, &source, &file)?;
            return Ok(Artifact::File(file));
        }
        let listing = retrying(|| source.remote.list(&source.rel)).map_err(|e| source.error(e))?;
        let artifact = self.fetch_source_dir(&source, listing)?;
        if artifact.md5() != locked {
            return Err(changed(Error::new(
                ErrorKind::Integrity,
                format!(
                    "`{shown}`: expected MD5 {}.dir, got {}.dir",
                    locked,
                    artifact.md5()
                ),
            )));
        }
        Ok(artifact)
    }

    /// Asks the source, without downloading (an HTTP `HEAD`, an S3
    /// `HeadObject` or listing, a `stat`; a local file is hashed), whether
    /// it still holds the version `stage` pins.
    pub fn url_source_state(&self, base: &Path, stage: &ImportUrlStage) -> Result<SourceState> {
        let spec = UrlSpec {
            path: stage.dep.path.clone(),
            fs_config: stage.dep.fs_config.clone(),
            sha256: None,
        };
        self.require_online(&spec)?;
        let source = self.open_source(base, &spec)?;
        let info = retrying(|| source.remote.info(&source.rel)).map_err(|e| source.error(e))?;
        let now = match info {
            Some(info) => {
                let pin = match info.pin {
                    Pin::Checksum { value, validated } => {
                        if !validated && stage.dep.pin == SourcePin::Checksum(value.clone()) {
                            return Ok(SourceState::Unknown);
                        }
                        SourcePin::Checksum(value)
                    }
                    Pin::Etag(etag) => SourcePin::Etag(etag),
                    Pin::ContentMd5 if info.size != stage.dep.size => {
                        return Ok(SourceState::Changed {
                            now: format!("size {}", info.size.unwrap_or_default()),
                        });
                    }
                    // A file on this machine is hashed where it is; one on
                    // a server (ssh) only a download can hash.
                    Pin::ContentMd5 if source.remote.local_file(&source.rel).is_none() => {
                        return Ok(SourceState::Unknown);
                    }
                    Pin::ContentMd5 => SourcePin::Md5 {
                        md5: self.hash_local(&source, &source.rel)?,
                        is_dir: false,
                    },
                };
                if info.size != stage.dep.size {
                    return Ok(SourceState::Changed {
                        now: pin.to_string(),
                    });
                }
                pin
            }
            None => {
                let listing =
                    retrying(|| source.remote.list(&source.rel)).map_err(|e| source.error(e))?;
                if listing.is_empty() {
                    return Ok(SourceState::Gone);
                }
                let by_content = listing.iter().all(|(_, i)| i.pin == Pin::ContentMd5);
                if by_content && source.remote.local_file(&source.rel).is_none() {
                    let size = listing.iter().map(|(_, i)| i.size).sum::<Option<u64>>();
                    return Ok(
                        if size != stage.dep.size || Some(listing.len() as u64) != stage.dep.nfiles
                        {
                            SourceState::Changed {
                                now: format!("{} files", listing.len()),
                            }
                        } else {
                            SourceState::Unknown
                        },
                    );
                }
                let content = if by_content {
                    let mut entries = Vec::with_capacity(listing.len());
                    for (rel, _) in &listing {
                        let md5 = self.hash_local(&source, &join(&source.rel, rel))?;
                        entries.push(DirEntry {
                            relpath: rel.clone(),
                            md5,
                        });
                    }
                    Some(DirManifest::from_entries(entries)?.md5())
                } else {
                    None
                };
                dir_pin(&source, &listing, content)?
            }
        };
        Ok(if now == stage.dep.pin {
            SourceState::Unchanged
        } else {
            SourceState::Changed {
                now: now.to_string(),
            }
        })
    }

    /// Offline mode forbids looking at a source.
    fn require_online(&self, spec: &UrlSpec) -> Result<()> {
        if self.net.is_offline() {
            return Err(Error::new(
                ErrorKind::Offline,
                format!(
                    "offline, and `{}` can only be looked at online",
                    redact::url(&spec.path)
                ),
            )
            .with_help("run without --offline / CARGO_NET_OFFLINE"));
        }
        Ok(())
    }

    /// The remote holding the source, and its name there.
    fn open_source(&self, base: &Path, spec: &UrlSpec) -> Result<Source> {
        let (parent, rel) = split_source(base, &spec.path)?;
        let mut options = BTreeMap::new();
        for (k, v) in spec.fs_config.iter() {
            let v = match v {
                Value::Str(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Int(i) => i.to_string(),
                Value::Float(f) => f.clone(),
                other => {
                    return Err(Error::new(
                        ErrorKind::Format,
                        format!("fs_config.{k}: expected a value, found {}", other.kind()),
                    ));
                }
            };
            options.insert(k.to_string(), v);
        }
        let key = format!("{parent}\n{options:?}");
        let remote = {
            let mut remotes = self.remotes.lock().unwrap_or_else(|e| e.into_inner());
            match remotes.get(&key) {
                Some(r) => Arc::clone(r),
                None => {
                    let mut remote: Arc<dyn Remote> =
                        Arc::from(remote::open_remote(&parent, &options)?);
                    if let Some(progress) = &self.progress {
                        remote = Arc::new(CountingRemote::new(remote, Arc::clone(progress)));
                    }
                    remotes.insert(key, Arc::clone(&remote));
                    remote
                }
            }
        };
        let key = Md5::of(format!("{parent}\n{rel}\n{options:?}").as_bytes());
        Ok(Source {
            remote,
            rel,
            shown: redact::url(&spec.path),
            key,
        })
    }

    /// One file of a source into the cache.
    fn fetch_source_file(
        &self,
        source: &Source,
        rel: &str,
        check: &SourceCheck,
    ) -> Result<CachedFile> {
        transfer::fetch_source(
            &*source.remote,
            &self.cache,
            rel,
            check,
            &transfer::Options::default(),
        )
        .map_err(|e| match e.kind() {
            ErrorKind::Integrity => e.context(format!("`{}`", source.shown)),
            _ => source.fetch_error(e),
        })
    }

    /// Every file of a directory source into the cache, and the directory's
    /// `.dir` manifest (its hash is the artifact's). `None` when the source
    /// holds no such directory.
    fn fetch_source_dir(
        &self,
        source: &Source,
        listing: Vec<(String, ObjectInfo)>,
    ) -> Result<Artifact> {
        if listing.is_empty() {
            return Err(source.error(FetchError::NotFound(Error::new(
                ErrorKind::NotFound,
                "no such file or directory",
            ))));
        }
        for (rel, _) in &listing {
            check_relpath(rel).map_err(|e| e.context(format!("`{}`", source.shown)))?;
        }
        let files: Vec<(String, SourceCheck)> = listing
            .iter()
            .map(|(rel, info)| {
                let check = SourceCheck {
                    md5: None,
                    size: info.size,
                    sha256: None,
                    want_sha256: false,
                };
                (join(&source.rel, rel), check)
            })
            .collect();
        let cached = transfer::fetch_sources(
            &*source.remote,
            &self.cache,
            &files,
            &transfer::Options::default(),
        )
        .map_err(|e| source.fetch_error(e))?;
        let size = cached.iter().map(|f| f.size).sum();
        let files: Vec<(String, CachedFile)> = listing
            .iter()
            .map(|(rel, _)| rel.clone())
            .zip(cached)
            .collect();
        let md5 = self.cache_manifest(&files)?;
        Ok(Artifact::Dir { md5, files, size })
    }

    /// The artifact this source held when it last pinned `pin` (same size),
    /// if the cache still has it: a second crate importing the same URL, or
    /// a lock written anew, downloads nothing. Only pins that change with
    /// the content count (an ETag, a checksum from validators).
    fn remembered(
        &self,
        source: &Source,
        pin: &Pin,
        size: Option<u64>,
        is_dir: bool,
    ) -> Result<Option<Artifact>> {
        let Some(line) = remembered_line(pin, size) else {
            return Ok(None);
        };
        let Some(record) = self.cache.read_record("sources", &source.key) else {
            return Ok(None);
        };
        let Some((pinned, md5)) = record.rsplit_once('\n') else {
            return Ok(None);
        };
        let Ok(md5) = md5.trim().parse::<Md5>() else {
            return Ok(None);
        };
        if pinned != line {
            return Ok(None);
        }
        let out = crate::format::stage::OutInfo {
            path: String::new(),
            md5: Some(md5),
            is_dir,
            size: None,
            nfiles: None,
            isexec: false,
        };
        self.cached(&out)
    }

    /// Records that the source pinned `pin` when it held `md5`.
    fn remember(&self, source: &Source, pin: &Pin, size: Option<u64>, md5: Md5) -> Result<()> {
        match remembered_line(pin, size) {
            Some(line) => {
                self.cache
                    .write_record("sources", &source.key, &format!("{line}\n{md5}"))
            }
            None => Ok(()),
        }
    }

    /// The MD5 of the file `rel` of a local source, read where it is.
    fn hash_local(&self, source: &Source, rel: &str) -> Result<Md5> {
        let path = source.remote.local_file(rel).ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!("`{}` is not a local file", source.shown),
            )
        })?;
        let file = std::fs::File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        Ok(crate::hash::md5_reader(file)
            .map_err(|e| Error::io("read", &path, e))?
            .0)
    }

    /// A `sha256 =` pin checked against a cached file (its SHA-256 record,
    /// made in the download's single pass, or one read of it).
    fn check_sha256(&self, spec: &UrlSpec, source: &Source, file: &CachedFile) -> Result<()> {
        let Some(want) = spec.sha256 else {
            return Ok(());
        };
        let got = self.cache.sha256(file)?;
        if got == want {
            Ok(())
        } else {
            Err(sha256_error(&source.shown, want, got))
        }
    }
}

impl Source {
    /// A download's failure: a missing source said as [`Source::error`] does.
    fn fetch_error(&self, e: Error) -> Error {
        if e.kind() == ErrorKind::NotFound {
            self.error(FetchError::NotFound(e))
        } else {
            e
        }
    }

    /// A failure at the source, named by its URL.
    fn error(&self, e: FetchError) -> Error {
        match e {
            FetchError::NotFound(inner) => Error::new(
                ErrorKind::NotFound,
                format!("`{}` does not exist", self.shown),
            )
            .with_source(inner)
            .with_help("check the dependency's `url`"),
            other => other.into_error(),
        }
    }
}

/// The error for bytes whose SHA-256 is not the pinned one.
fn sha256_error(shown: &str, want: Sha256, got: Sha256) -> Error {
    Error::new(
        ErrorKind::Integrity,
        format!("`{shown}` does not have the pinned SHA-256: expected {want}, got {got}"),
    )
    .with_help(
        "the source's bytes are not the ones `sha256` pins: if the new version is the one you want, \
         set `sha256` to it and run `cargo dvc update` (nothing was kept)",
    )
}

/// How DVC pins a directory source: the `.dir` MD5 of its content for a
/// local folder (`content`: the artifact's own), the MD5 of the tree of
/// its objects' ETags for an S3 prefix.
fn dir_pin(
    source: &Source,
    listing: &[(String, ObjectInfo)],
    content: Option<Md5>,
) -> Result<SourcePin> {
    if let Some(md5) = content
        && listing.iter().all(|(_, i)| i.pin == Pin::ContentMd5)
    {
        return Ok(SourcePin::Md5 { md5, is_dir: true });
    }
    let tree = etag_tree(listing).ok_or_else(|| {
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "`{}` is a directory whose files DVC pins in a way dvc-build does not know",
                source.shown
            ),
        )
    })?;
    Ok(SourcePin::Md5 {
        md5: tree,
        is_dir: true,
    })
}

/// The MD5 of the ETag tree of a listing whose files are all pinned by
/// ETags (an S3 prefix); `None` otherwise.
fn etag_tree(listing: &[(String, ObjectInfo)]) -> Option<Md5> {
    let mut tree = Vec::with_capacity(listing.len());
    for (rel, info) in listing {
        match &info.pin {
            Pin::Etag(etag) => tree.push((rel.clone(), etag.clone())),
            _ => return None,
        }
    }
    Some(etag_tree_md5(&tree))
}

/// The MD5 of DVC's ETag tree of a directory: `json.dumps` of
/// `[{"etag": ..., "relpath": ...}, ...]` sorted by relpath, keys sorted.
pub fn etag_tree_md5(entries: &[(String, String)]) -> Md5 {
    let mut sorted: Vec<&(String, String)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let list = Value::Seq(
        sorted
            .into_iter()
            .map(|(rel, etag)| {
                let mut m = Map::new();
                m.insert("etag", Value::Str(etag.clone()));
                m.insert("relpath", Value::Str(rel.clone()));
                Value::Map(m)
            })
            .collect(),
    );
    Md5::of(pyjson::dumps(&list).as_bytes())
}

/// `dir/name`, or `name` when `dir` is empty.
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Retries `op` while it fails transiently, with the transfer layer's
/// backoff (a `Retry-After` honoured).
fn retrying<T>(
    mut op: impl FnMut() -> std::result::Result<T, FetchError>,
) -> std::result::Result<T, FetchError> {
    let policy = RetryPolicy::default();
    let mut failures = 0;
    loop {
        match op() {
            Err(FetchError::Transient(_)) if failures + 1 < policy.attempts => {
                failures += 1;
                std::thread::sleep(policy.delay(failures));
            }
            Err(FetchError::Throttled(_, wait)) if failures + 1 < policy.attempts => {
                failures += 1;
                // As the transfer layer: a server asking for more is asked again sooner.
                let asked = wait.min(std::time::Duration::from_secs(30));
                std::thread::sleep(policy.delay(failures).max(asked));
            }
            other => return other,
        }
    }
}

/// Splits a source into the URL of the remote holding it and its name
/// there: `https://h/a/m.onnx?x=1` into `https://h/a` and `m.onnx?x=1`,
/// `s3://b/p/d` into `s3://b/p` and `d`, a local path (relative ones taken
/// from `base`, the lock's folder) into its folder and file name.
fn split_source(base: &Path, path: &str) -> Result<(String, String)> {
    let bad = |why: &str| {
        Error::new(
            ErrorKind::Manifest,
            format!("`{}` {why}", redact::url(path)),
        )
        .with_help("a URL dependency's `url` names one file or directory")
    };
    if let Some((scheme, rest)) = path.split_once("://") {
        if scheme.eq_ignore_ascii_case("file") {
            let local = rest.strip_prefix("localhost").unwrap_or(rest);
            return split_local(Path::new(&remote::percent_decode(local)))
                .ok_or_else(|| bad("names no file"));
        }
        let (before_query, query) = match rest.find(['?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let trimmed = before_query.trim_end_matches('/');
        let Some((parent, name)) = trimmed.rsplit_once('/') else {
            return Err(bad("names no file (nothing after the host or bucket)"));
        };
        if name.is_empty() || parent.is_empty() {
            return Err(bad("names no file"));
        }
        return Ok((format!("{scheme}://{parent}"), format!("{name}{query}")));
    }
    let full: PathBuf = if Path::new(path).is_absolute() {
        PathBuf::from(path)
    } else {
        base.join(path)
    };
    split_local(&full).ok_or_else(|| bad("names no file"))
}

fn split_local(path: &Path) -> Option<(String, String)> {
    let path = Path::new(path.to_str()?.trim_end_matches('/'));
    let name = path.file_name()?.to_str()?.to_string();
    let parent = path.parent()?.to_str()?.to_string();
    Some((
        if parent.is_empty() {
            ".".to_string()
        } else {
            parent
        },
        name,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sources() {
        let base = Path::new("/crate/models");
        let split = |p: &str| split_source(base, p).unwrap();
        assert_eq!(
            split("https://h:1/a/m.onnx?download=1"),
            ("https://h:1/a".into(), "m.onnx?download=1".into())
        );
        assert_eq!(split("http://h/m"), ("http://h".into(), "m".into()));
        assert_eq!(split("s3://b/p/dir/"), ("s3://b/p".into(), "dir".into()));
        assert_eq!(split("s3://b/key"), ("s3://b".into(), "key".into()));
        assert_eq!(
            split("../data/x.bin"),
            ("/crate/models/../data".into(), "x.bin".into())
        );
        assert_eq!(split("/abs/x.bin"), ("/abs".into(), "x.bin".into()));
        assert_eq!(split("file:///abs/a%20b"), ("/abs".into(), "a b".into()));
        assert!(split_source(base, "https://h/").is_err());
        assert!(split_source(base, "s3://bucket").is_err());
    }

    #[test]
    fn etag_trees_hash_as_dvc_does() {
        // shared/facts/DVC-IMPORT-URL.md, section 3: an S3 prefix with two files.
        let tree = [
            (
                "sub/b.txt".to_string(),
                "bfcc9da4f2e1d313c63cd0a4ee7604e9".to_string(),
            ),
            (
                "a.txt".to_string(),
                "60b725f10c9c85c70d97880dfe8191b3".to_string(),
            ),
        ];
        assert_eq!(
            etag_tree_md5(&tree).to_hex(),
            "29d5f748e382adea00b7817984415b94"
        );
    }
}
