//! DVC remotes: where artifact bytes live.
//!
//! A remote is anything that can hand out the bytes of an object by its
//! path relative to the remote's root ([`ObjectKey::rel_path`]). Every remote
//! type implements the small [`Remote`] trait; retries, verification and
//! caching live above it (in `transfer`), so a remote only moves bytes.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use crate::error::{Error, ErrorKind, Result};
use crate::hash::Md5;
use crate::redact;

#[cfg(feature = "azure")]
pub mod azure;
#[cfg(any(feature = "s3", feature = "gs", feature = "azure"))]
pub mod credentials;
#[cfg(feature = "gs")]
pub mod gs;
#[cfg(feature = "http")]
pub mod http;
pub mod local;
#[cfg(feature = "http")]
pub mod rest;
#[cfg(feature = "s3")]
pub mod s3;

#[cfg(feature = "ssh")]
pub mod ssh;

/// How a remote lays out its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// DVC 3: `files/md5/<2 hex>/<30 hex>[.dir]`.
    V3,
    /// DVC 2: `<2 hex>/<30 hex>[.dir]` at the remote's root; text files were
    /// hashed after CRLF -> LF (see [`crate::hash::legacy_md5_reader`]).
    V2,
}

/// The name of one object on a remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    /// The object's MD5 as DVC recorded it.
    pub md5: Md5,
    /// `true` for a directory manifest (`.dir`).
    pub is_dir: bool,
    /// Which layout the hash belongs to.
    pub layout: Layout,
}

impl ObjectKey {
    /// The object's path relative to the remote's root, `/`-separated.
    ///
    /// ```
    /// use dvc_build::__private::remote::{Layout, ObjectKey};
    /// let md5 = "c9283308ba03a923cd0d08df856095c3".parse().unwrap();
    /// let key = ObjectKey { md5, is_dir: false, layout: Layout::V3 };
    /// assert_eq!(key.rel_path(), "files/md5/c9/283308ba03a923cd0d08df856095c3");
    /// ```
    pub fn rel_path(&self) -> String {
        let hex = self.md5.to_hex();
        let suffix = if self.is_dir { ".dir" } else { "" };
        match self.layout {
            Layout::V3 => format!("files/md5/{}/{}{suffix}", &hex[..2], &hex[2..]),
            Layout::V2 => format!("{}/{}{suffix}", &hex[..2], &hex[2..]),
        }
    }
}

/// An open download: a stream of bytes and, when the remote said, their length.
pub struct Body {
    /// The bytes, from the requested offset on.
    pub reader: Box<dyn Read + Send>,
    /// The number of bytes `reader` will yield, if known.
    pub len: Option<u64>,
}

/// Why a request failed, as far as retrying is concerned.
#[derive(Debug)]
pub enum FetchError {
    /// The object is not on the remote (404, missing file).
    NotFound(Error),
    /// Worth retrying: connection refused or reset, timeouts, 5xx, 429.
    Transient(Error),
    /// Worth retrying, but not before the time the server asked for (a 429
    /// or 503 answer with `Retry-After`).
    Throttled(Error, std::time::Duration),
    /// Retrying will not help: 401/403, bad configuration, unsupported type.
    Permanent(Error),
}

impl FetchError {
    /// The error inside, whatever the class.
    pub fn into_error(self) -> Error {
        match self {
            FetchError::NotFound(e)
            | FetchError::Transient(e)
            | FetchError::Throttled(e, _)
            | FetchError::Permanent(e) => e,
        }
    }
}

/// What a remote says about one object without reading its bytes (an HTTP
/// `HEAD`, an S3 `HeadObject`, a `stat`): what `dvc import-url` records to
/// pin the version it imported ([`Remote::info`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The size in bytes, when the remote says.
    pub size: Option<u64>,
    /// How DVC pins this version of the object.
    pub pin: Pin,
    /// The version the store gave the object, which DVC records beside the
    /// pin (`version_id`: a GCS object's generation); not compared.
    pub version_id: Option<String>,
}

/// How `dvc import-url` pins one version of an object: the first key of
/// the lock's `deps` entry, as DVC's file system for this kind of remote
/// reports it. Each remote kind computes its own; the engine only compares
/// and records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// `checksum:` (`http(s)://`): the raw `ETag`, else `Content-MD5`, else
    /// fsspec's token over what the server said of the file.
    Checksum {
        /// The value DVC writes.
        value: String,
        /// `false` when nothing in it changes with the content (no `ETag`,
        /// `Content-MD5` nor `Last-Modified`: only the name, size and type):
        /// a same-size change then goes unseen, so a check must download.
        validated: bool,
    },
    /// `etag:` (`s3://`): the ETag without its quotes.
    Etag(String),
    /// `md5:` of the content (local files): known only from the bytes.
    ContentMd5,
}

/// A place DVC objects can be read from.
pub trait Remote: Send + Sync {
    /// The remote's URL with any secret removed, for messages.
    fn display_url(&self) -> String;

    /// Opens the object at `rel_path` (see [`ObjectKey::rel_path`]), from
    /// byte `offset` to the end, or to `end` (exclusive) when given.
    fn open(&self, rel_path: &str, offset: u64, end: Option<u64>) -> Result<Body, FetchError>;

    /// How many requests may usefully run at once against this remote.
    fn max_parallel(&self) -> usize {
        8
    }

    /// `true` when [`Remote::open`] is a cheap local read (no retries, no
    /// parallel ranges needed).
    fn is_local(&self) -> bool {
        false
    }

    /// The file on this machine holding the object at `rel_path`, for
    /// remotes that are local folders: it is then copied in the kernel
    /// rather than read through [`Remote::open`].
    fn local_file(&self, rel_path: &str) -> Option<std::path::PathBuf> {
        let _ = rel_path;
        None
    }

    /// `bytes` more of a [`Remote::local_file`] were copied into the cache
    /// (outside [`Remote::open`]'s bodies): for progress reporting.
    fn copied(&self, _bytes: u64) {}

    /// What the remote says about the object at `rel_path` without reading
    /// it, for a URL import (`dvc import-url`) of it: its size and how DVC
    /// pins its version. `Ok(None)` when there is no such object (it may be
    /// a folder: see [`Remote::list`]).
    ///
    /// A remote kind that can be an import-url source implements this and
    /// [`Remote::list`]; the default says it cannot.
    fn info(&self, rel_path: &str) -> Result<Option<ObjectInfo>, FetchError> {
        let _ = rel_path;
        Err(FetchError::Permanent(not_a_url_source(&self.display_url())))
    }

    /// Every object under the folder `rel_path`, at any depth, with what
    /// [`Remote::info`] says of it: paths relative to that folder,
    /// `/`-separated, sorted. Empty when there is no such folder (or it
    /// holds nothing).
    fn list(&self, rel_path: &str) -> Result<Vec<(String, ObjectInfo)>, FetchError> {
        let _ = rel_path;
        Err(FetchError::Permanent(not_a_url_source(&self.display_url())))
    }
}

/// The error of [`Remote::info`] and [`Remote::list`] for a remote kind that
/// cannot be the source of a URL import.
fn not_a_url_source(url: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "`{}` cannot be the source of a URL dependency: dvc-build cannot ask this kind of remote what version of a file it holds",
            redact::url(url)
        ),
    )
    .with_help(
        "use an http(s)://, s3://, gs://, azure://, ssh:// or local URL, or a registry import (`path =`)",
    )
}

/// Opens the remote at `url` with DVC's remote `options` (the keys of its
/// `['remote "name"']` section other than `url`).
///
/// A local path or `file://` URL gives a [`local::LocalRemote`] (a relative
/// path is taken as is: resolving it against the config file's folder is the
/// caller's job); `http://` and `https://` give an `http::HttpRemote` (feature `http`),
/// `s3://`, `gs://` and `azure://` the object-store remotes (each behind the
/// cargo feature of its name).
/// Every other scheme is an [`ErrorKind::Unsupported`] error naming the type.
///
/// ```
/// use std::collections::BTreeMap;
/// use dvc_build::{ErrorKind, __private::remote::open_remote};
/// let err = open_remote("hdfs://namenode/x", &BTreeMap::new()).err().unwrap();
/// assert_eq!(err.kind(), ErrorKind::Unsupported);
/// assert!(err.to_string().contains("hdfs"));
/// ```
pub fn open_remote(url: &str, options: &BTreeMap<String, String>) -> Result<Box<dyn Remote>> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(Box::new(local::LocalRemote::new(PathBuf::from(url))));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "file" => {
            // `file:///abs/path` and `file://localhost/abs/path`.
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if path.is_empty() {
                return Err(Error::new(
                    ErrorKind::Manifest,
                    format!("`{}` names no folder", redact::url(url)),
                ));
            }
            Ok(Box::new(local::LocalRemote::new(PathBuf::from(
                percent_decode(path),
            ))))
        }
        "http" | "https" => open_http(url, options),
        #[cfg(feature = "s3")]
        "s3" => Ok(Box::new(s3::open(url, options)?)),
        #[cfg(not(feature = "s3"))]
        "s3" => Err(feature_off(url, "s3://", "s3")),
        #[cfg(feature = "gs")]
        "gs" => Ok(Box::new(gs::open(url, options)?)),
        #[cfg(not(feature = "gs"))]
        "gs" => Err(feature_off(url, "gs://", "gs")),
        #[cfg(feature = "azure")]
        "azure" => Ok(Box::new(azure::open(url, options)?)),
        #[cfg(not(feature = "azure"))]
        "azure" => Err(feature_off(url, "azure://", "azure")),
        #[cfg(feature = "ssh")]
        "ssh" => Ok(Box::new(ssh::open(url, options)?)),
        #[cfg(not(feature = "ssh"))]
        "ssh" => Err(feature_off(url, "ssh://", "ssh")),
        other => {
            let kind = match other {
                "gcs" => "`gcs://` (DVC's Google Cloud Storage scheme is `gs://`)",
                "az" => "`az://` (DVC's Azure Blob Storage scheme is `azure://`)",
                "sftp" => "SFTP (DVC's remote type is `ssh://`)",
                "hdfs" | "webhdfs" => "HDFS (hdfs)",
                "webdav" | "webdavs" => "WebDAV (webdav)",
                "oss" => "Aliyun OSS (oss)",
                "remote" => "remote:// (a path inside another remote)",
                _ => other,
            };
            Err(unsupported(
                url,
                other,
                &format!("{kind} remotes are not supported by dvc-build"),
            ))
        }
    }
}

#[cfg(feature = "http")]
fn open_http(url: &str, options: &BTreeMap<String, String>) -> Result<Box<dyn Remote>> {
    Ok(Box::new(http::HttpRemote::new(url, options)?))
}

#[cfg(not(feature = "http"))]
fn open_http(url: &str, _options: &BTreeMap<String, String>) -> Result<Box<dyn Remote>> {
    Err(feature_off(url, "http(s)://", "http"))
}

/// The error for a remote type whose cargo feature is turned off.
#[cfg(any(
    not(feature = "http"),
    not(feature = "s3"),
    not(feature = "gs"),
    not(feature = "azure"),
    not(feature = "ssh")
))]
fn feature_off(url: &str, scheme: &str, feature: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "remote `{}`: `{scheme}` remotes need dvc-build's `{feature}` feature, which is off",
            redact::url(url)
        ),
    )
    .with_help(format!(
        "enable it where dvc-build is a dependency: \
         `dvc-build = {{ version = \"...\", features = [\"{feature}\"] }}` (it is on by default; \
         `default-features = false` turns it off)"
    ))
}

fn unsupported(url: &str, scheme: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("remote `{}`: {what}", redact::url(url)),
    )
    .with_help(format!(
        "mirror the artifacts to an HTTP(S) or local remote and select it with `remote =` \
         (remote type `{scheme}` is not supported)"
    ))
}

/// Decodes `%XX` escapes in a `file://` URL path.
pub(crate) fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = path
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "s3"))]
    #[test]
    fn s3_without_its_feature_says_to_enable_it() {
        let err = open_remote("s3://bucket/prefix", &BTreeMap::new())
            .err()
            .expect("an s3 remote without the s3 feature");
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        let text = err.to_string();
        assert!(text.contains("`s3` feature"), "{text}");
        assert!(text.contains("features = [\"s3\"]"), "{text}");
    }

    #[cfg(not(feature = "gs"))]
    #[test]
    fn gs_without_its_feature_says_to_enable_it() {
        let err = open_remote("gs://bucket/prefix", &BTreeMap::new())
            .err()
            .expect("a gs remote without the gs feature");
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("features = [\"gs\"]"), "{err}");
    }

    #[cfg(not(feature = "azure"))]
    #[test]
    fn azure_without_its_feature_says_to_enable_it() {
        let err = open_remote("azure://container/prefix", &BTreeMap::new())
            .err()
            .expect("an azure remote without the azure feature");
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("features = [\"azure\"]"), "{err}");
    }

    #[cfg(not(feature = "ssh"))]
    #[test]
    fn ssh_without_its_feature_says_to_enable_it() {
        let err = open_remote("ssh://host/store", &BTreeMap::new())
            .err()
            .expect("an ssh remote without the ssh feature");
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("features = [\"ssh\"]"), "{err}");
    }

    #[cfg(not(feature = "http"))]
    #[test]
    fn http_without_its_feature_says_to_enable_it() {
        let err = open_remote("https://h/r", &BTreeMap::new())
            .err()
            .expect("an http remote without the http feature");
        assert!(err.to_string().contains("features = [\"http\"]"), "{err}");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/a%20b/%zz"), "/a b/%zz");
    }
}
