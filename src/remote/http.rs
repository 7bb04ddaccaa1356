//! DVC's `http(s)://` remote: objects fetched with plain `GET`s.
//!
//! One [`ureq::Agent`] per remote keeps a pool of keep-alive connections that
//! every download (and every thread of a directory fetch) shares. Options are
//! DVC's: `auth` (`basic`, `custom`; `digest` is refused, as DVC 3 does),
//! `user`, `password`, `custom_auth_header`, `ssl_verify` (`false`, or the
//! path of a CA bundle), `read_timeout`, `connect_timeout` (seconds).
//!
//! Connections: up to [`KEEP_ALIVE_CONNECTIONS`] at once, each carrying
//! request after request. A server that closes the connection after every
//! answer (HTTP/1.0 without keep-alive, or `Connection: close`; Python's
//! `http.server` is one) makes every object a new connection: to such a
//! server we open at most [`CLOSING_SERVER_CONNECTIONS`] at once, as browsers
//! limit themselves per host. Those servers are typically small, with a short
//! listen queue (Python's socketserver: 5) and one thread accepting; more
//! connections at once than that queue holds only overflow it, and each
//! dropped connection costs its client a 1 s SYN retransmission.
//!
//! Reads from an offset send `Range: bytes=N-`; a server that ignores the
//! range (`200`) is handled by skipping the first `N` bytes, and `416` past
//! the end is an empty body. Status codes map to [`FetchError`] classes:
//! 404/410 not found, 401/403 permanent ([`ErrorKind::Auth`]), 408/425/429/5xx
//! and network failures transient (throttled, when the answer says
//! `Retry-After`); a refused TLS certificate is permanent. Credentials never reach a message: the
//! URL is shown through [`crate::redact::url`] and headers are never printed.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ureq::Agent;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use super::{Body, FetchError, ObjectInfo, Pin, Remote};
use crate::error::{Error, ErrorKind, Result};
use crate::format::pyrepr::{PyValue, fsspec_checksum};
use crate::redact;

/// Redirects followed for one request.
const MAX_REDIRECTS: u32 = 10;

/// Connections at once to a server that keeps them alive.
pub const KEEP_ALIVE_CONNECTIONS: usize = 8;

/// Connections at once to a server that closes each after one answer (see
/// the module's docs): as many as browsers open to one host, and never more
/// than a listen queue of 5 holds (6 connections waiting to be accepted).
pub const CLOSING_SERVER_CONNECTIONS: usize = 6;

/// Default for `connect_timeout` and `read_timeout`, as in DVC (seconds).
const DEFAULT_TIMEOUT_SECS: f64 = 60.0;

/// An HTTP(S) remote.
pub struct HttpRemote {
    base: String,
    agent: Agent,
    /// `(name, value)` of the authorization header, if any. Never printed.
    auth_header: Option<(String, String)>,
    /// An answer said the server closes its connection after each answer.
    closes_connections: AtomicBool,
}

impl std::fmt::Debug for HttpRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRemote")
            .field("url", &redact::url(&self.base))
            .finish_non_exhaustive()
    }
}

impl HttpRemote {
    /// The remote at `url` (`http://` or `https://`) with DVC's remote options.
    pub fn new(url: &str, options: &BTreeMap<String, String>) -> Result<HttpRemote> {
        let shown = redact::url(url);
        let opt = |name: &str| {
            options
                .get(name)
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
        };
        let config_error = |msg: String| {
            Error::new(ErrorKind::Manifest, format!("http remote `{shown}`: {msg}")).with_help(
                "fix the remote's options in the source project's `.dvc/config` or in `remote =`",
            )
        };

        let auth_header = match opt("auth") {
            None => None,
            Some("basic") => {
                let user = opt("user")
                    .ok_or_else(|| config_error("`auth = basic` needs `user`".into()))?;
                let password = options.get("password").map(String::as_str).unwrap_or("");
                Some((
                    "Authorization".to_string(),
                    format!("Basic {}", base64(format!("{user}:{password}").as_bytes())),
                ))
            }
            Some("custom") => {
                let header = opt("custom_auth_header").ok_or_else(|| {
                    config_error("`auth = custom` needs `custom_auth_header`".into())
                })?;
                let value = options.get("password").cloned().unwrap_or_default();
                Some((header.to_string(), value))
            }
            Some("digest") => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("http remote `{shown}`: digest authentication is not supported (DVC 3 does not support it either)"),
                )
                .with_help("use `auth = basic` or `auth = custom` for this remote"));
            }
            Some(other) => {
                return Err(config_error(format!(
                    "unknown `auth = {}` (expected `basic`, `custom` or `digest`)",
                    other.escape_debug()
                )));
            }
        };

        let seconds = |name: &str| -> Result<Duration> {
            match opt(name) {
                None => Ok(Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS)),
                Some(s) => s
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        config_error(format!("`{name} = {s}` is not a number of seconds"))
                    }),
            }
        };
        let read_timeout = seconds("read_timeout")?;
        let connect_timeout = seconds("connect_timeout")?;

        let tls = match opt("ssl_verify").map(|s| s.to_ascii_lowercase()) {
            None => TlsConfig::builder().build(),
            Some(v) if matches!(v.as_str(), "true" | "yes" | "1" | "on") => {
                TlsConfig::builder().build()
            }
            Some(v) if matches!(v.as_str(), "false" | "no" | "0" | "off") => {
                TlsConfig::builder().disable_verification(true).build()
            }
            Some(_) => {
                // A path to a CA bundle, as in DVC.
                let path = opt("ssl_verify").map(Path::new).unwrap_or(Path::new(""));
                let pem =
                    std::fs::read(path).map_err(|e| Error::io("read the CA bundle", path, e))?;
                let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(PemItem::Certificate(c)) => Some(c.to_owned()),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(config_error(format!(
                        "`ssl_verify = {}` holds no PEM certificate",
                        path.display()
                    )));
                }
                TlsConfig::builder()
                    .root_certs(RootCerts::Specific(std::sync::Arc::new(certs)))
                    .build()
            }
        };

        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .timeout_connect(Some(connect_timeout))
            .timeout_per_read(Some(read_timeout))
            // Followed in `open`, where credentials are kept to one origin.
            .max_redirects(0)
            .max_idle_connections_per_host(16)
            .user_agent(concat!("dvc-build/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();

        Ok(HttpRemote {
            base: url.trim_end_matches('/').to_string(),
            agent,
            auth_header,
            closes_connections: AtomicBool::new(false),
        })
    }

    fn object_url(&self, rel_path: &str) -> String {
        format!("{}/{rel_path}", self.base)
    }

    /// Sends `method` (`GET` or `HEAD`) for `rel_path`, with `Range` when
    /// given, following redirects; the final answer and its URL.
    ///
    /// Redirects are followed here, not by ureq, so that credentials go
    /// only to the remote's own origin: a redirect to another scheme, host
    /// or port drops the authorization header (ureq would keep a custom
    /// one). More than [`MAX_REDIRECTS`] (a loop) is a permanent error.
    fn send(
        &self,
        method: &str,
        rel_path: &str,
        range: Option<&str>,
    ) -> Result<(ureq::http::Response<ureq::Body>, String), FetchError> {
        let mut url = self.object_url(rel_path);
        let mut send_auth = true;
        let mut redirects = 0;
        loop {
            let mut req = match method {
                "HEAD" => self.agent.head(&url),
                _ => self.agent.get(&url),
            }
            .header("Accept-Encoding", "identity");
            if let Some(range) = range {
                req = req.header("Range", range);
            }
            if let Some((name, value)) = self.auth_header.as_ref().filter(|_| send_auth) {
                req = req.header(name.as_str(), value.as_str());
            }
            let response = req
                .call()
                .map_err(|e| classify_transport(method, &redact::url(&url), e))?;
            if !keeps_alive(&response) {
                self.closes_connections.store(true, Ordering::Relaxed);
            }
            let location = match response.status().as_u16() {
                301 | 302 | 303 | 307 | 308 => response
                    .headers()
                    .get("Location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                _ => None,
            };
            let Some(location) = location else {
                return Ok((response, url));
            };
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                return Err(FetchError::Permanent(
                    Error::new(
                        ErrorKind::Remote,
                        format!(
                            "{method} {}: more than {MAX_REDIRECTS} redirects (the last to {})",
                            redact::url(&self.object_url(rel_path)),
                            redact::url(&url)
                        ),
                    )
                    .with_help("the server redirects in a loop: check the URL"),
                ));
            }
            let next = resolve_location(&url, &location);
            if origin(&next) != origin(&url) {
                send_auth = false;
            }
            url = next;
        }
    }

    /// What a `HEAD` (else a `GET` whose body is never read) says of
    /// `rel_path`, as fsspec's `HTTPFileSystem._info` collects it: the
    /// fields of its info dict after `name` and `size`, in its order.
    fn probe(&self, method: &str, rel_path: &str) -> Result<Vec<(String, PyValue)>, FetchError> {
        let (response, url) = self.send(method, rel_path, None)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(status_error(method, &redact::url(&url), status, &response));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let mut fields = Vec::new();
        let encoded = header("Content-Encoding").is_some_and(|e| !e.is_empty() && e != "identity");
        if let Some(len) = header("Content-Length") {
            if !encoded {
                let size = len.trim().parse::<u64>().map_err(|_| {
                    FetchError::Permanent(Error::new(
                        ErrorKind::Remote,
                        format!("{method} {}: bad Content-Length `{len}`", redact::url(&url)),
                    ))
                })?;
                fields.push(("size".to_string(), PyValue::Int(size)));
            }
        } else if let Some(total) = header("Content-Range")
            .as_deref()
            .and_then(|r| r.split('/').nth(1))
            .and_then(|t| t.trim().parse::<u64>().ok())
        {
            fields.push(("size".to_string(), PyValue::Int(total)));
        }
        if let Some(ct) = header("Content-Type") {
            let mime = ct.split(';').next().unwrap_or("").to_string();
            fields.push(("mimetype".to_string(), PyValue::Str(mime)));
        }
        if header("Accept-Ranges").as_deref() == Some("none") {
            fields.push(("partial".to_string(), PyValue::Bool(false)));
        }
        fields.push(("url".to_string(), PyValue::Str(yarl_str(&url))));
        for name in ["ETag", "Content-MD5", "Digest", "Last-Modified"] {
            if let Some(v) = header(name).filter(|v| !v.is_empty()) {
                fields.push((name.to_string(), PyValue::Str(v)));
            }
        }
        Ok(fields)
    }
}

impl Remote for HttpRemote {
    fn display_url(&self) -> String {
        redact::url(&self.base)
    }

    fn open(&self, rel_path: &str, offset: u64, end: Option<u64>) -> Result<Body, FetchError> {
        if end.is_some_and(|end| end <= offset) {
            return Ok(Body {
                reader: Box::new(io::empty()),
                len: Some(0),
            });
        }
        let range = match end {
            Some(end) => Some(format!("bytes={offset}-{}", end - 1)),
            None if offset > 0 => Some(format!("bytes={offset}-")),
            None => None,
        };
        let (response, url) = self.send("GET", rel_path, range.as_deref())?;
        let shown = redact::url(&url);
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match status {
            206 => {
                let start = header("Content-Range")
                    .as_deref()
                    .and_then(content_range_start);
                if start != Some(offset) {
                    return Err(FetchError::Transient(Error::new(
                        ErrorKind::Remote,
                        format!(
                            "GET {shown}: the server answered a range request for byte {offset} with another range"
                        ),
                    )));
                }
                let len = response.body().content_length();
                Ok(Body {
                    reader: Box::new(response.into_body().into_reader()),
                    len,
                })
            }
            200 => {
                let len = response.body().content_length();
                let mut reader = response.into_body().into_reader();
                if offset > 0 {
                    // The server ignored `Range`: skip what we already have.
                    let skipped = io::copy(&mut (&mut reader).take(offset), &mut io::sink())
                        .map_err(|e| FetchError::Transient(read_error(&shown, e)))?;
                    if skipped < offset {
                        return Err(FetchError::Transient(Error::new(
                            ErrorKind::Remote,
                            format!(
                                "GET {shown}: the body ended after {skipped} bytes, before byte {offset}"
                            ),
                        )));
                    }
                }
                let mut len = len.map(|l| l.saturating_sub(offset));
                let reader: Box<dyn Read + Send> = match end {
                    Some(end) => {
                        len = Some(len.map_or(end - offset, |l| l.min(end - offset)));
                        Box::new(reader.take(end - offset))
                    }
                    None => Box::new(reader),
                };
                Ok(Body { reader, len })
            }
            416 => {
                // Past the end: nothing left to read from `offset`.
                Ok(Body {
                    reader: Box::new(io::empty()),
                    len: Some(0),
                })
            }
            _ => Err(status_error("GET", &shown, status, &response)),
        }
    }

    /// Learnt from the answers so far: a directory's files are fetched after
    /// its `.dir` listing, so by then the server has said how it treats
    /// connections.
    fn max_parallel(&self) -> usize {
        if self.closes_connections.load(Ordering::Relaxed) {
            CLOSING_SERVER_CONNECTIONS
        } else {
            KEEP_ALIVE_CONNECTIONS
        }
    }

    /// fsspec's `HTTPFileSystem._info`, and what DVC makes of it: a `HEAD`
    /// (with `Accept-Encoding: identity`, redirects followed), then a `GET`
    /// whose body is never read when the `HEAD` failed or gave no size; the
    /// pin is the raw `ETag`, else `Content-MD5`, else fsspec's checksum of
    /// the info dict (name, size, type, final URL, `Last-Modified`, ...).
    fn info(&self, rel_path: &str) -> Result<Option<ObjectInfo>, FetchError> {
        let mut fields: Vec<(String, PyValue)> = Vec::new();
        let head = self.probe("HEAD", rel_path);
        let sized = |f: &[(String, PyValue)]| f.iter().any(|(k, _)| k == "size");
        let need_get = !head.as_ref().is_ok_and(|f| sized(f));
        if let Ok(f) = head {
            dict_update(&mut fields, f);
        }
        if need_get {
            match self.probe("GET", rel_path) {
                Ok(f) => dict_update(&mut fields, f),
                Err(FetchError::NotFound(_)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let size = match field("size") {
            Some(PyValue::Int(n)) => Some(n),
            _ => None,
        };
        let text = |name: &str| match field(name) {
            Some(PyValue::Str(s)) => Some(s),
            _ => None,
        };
        let pin = match text("ETag").or_else(|| text("Content-MD5")) {
            Some(value) => Pin::Checksum {
                value,
                validated: true,
            },
            None => {
                let mut dict = vec![
                    ("name".to_string(), PyValue::Str(self.object_url(rel_path))),
                    ("size".to_string(), size.map_or(PyValue::None, PyValue::Int)),
                ];
                dict.extend(fields.iter().filter(|(k, _)| k != "size").cloned());
                dict.push(("type".to_string(), PyValue::Str("file".to_string())));
                Pin::Checksum {
                    value: fsspec_checksum(&dict),
                    validated: text("Last-Modified").is_some() || text("Digest").is_some(),
                }
            }
        };
        Ok(Some(ObjectInfo {
            size,
            pin,
            version_id: None,
        }))
    }

    /// HTTP has no folders: nothing to list.
    fn list(&self, _rel_path: &str) -> Result<Vec<(String, ObjectInfo)>, FetchError> {
        Ok(Vec::new())
    }
}

/// Python's `dict.update`: existing keys keep their place, new ones go last.
fn dict_update(dict: &mut Vec<(String, PyValue)>, more: Vec<(String, PyValue)>) {
    for (k, v) in more {
        match dict.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) => slot.1 = v,
            None => dict.push((k, v)),
        }
    }
}

/// A URL as aiohttp shows a response's (`str(yarl.URL)`): the scheme and
/// host lower-cased, the rest as sent.
fn yarl_str(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    format!(
        "{}://{userinfo}{}{tail}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    )
}

/// The error for an answer that is neither a body nor a redirect.
fn status_error(
    method: &str,
    shown: &str,
    status: u16,
    response: &ureq::http::Response<ureq::Body>,
) -> FetchError {
    match status {
        404 | 410 => FetchError::NotFound(Error::new(
            ErrorKind::NotFound,
            format!("{method} {shown}: {status} not found"),
        )),
        401 | 403 => FetchError::Permanent(
            Error::new(ErrorKind::Auth, format!("{method} {shown}: {status} access denied"))
                .with_help("check the remote's `auth`, `user` and `password` (in `.dvc/config.local` or `remote =`)"),
        ),
        408 | 425 | 429 | 500..=599 => super::rest::transient(
            Error::new(ErrorKind::Remote, format!("{method} {shown}: server answered {status}")),
            response,
        ),
        _ => FetchError::Permanent(Error::new(
            ErrorKind::Remote,
            format!("{method} {shown}: unexpected status {status}"),
        )),
    }
}

fn read_error(shown: &str, err: io::Error) -> Error {
    Error::new(
        ErrorKind::Remote,
        format!("GET {shown}: reading the body failed"),
    )
    .with_source(err)
}

/// Maps a failure before any status was received to a fetch class.
fn classify_transport(method: &str, shown: &str, err: ureq::Error) -> FetchError {
    // A refused certificate will be refused again: fail at once, and say how
    // to fix it. (rustls reports it as an I/O error.)
    let certificate = matches!(&err, ureq::Error::Io(e) if e.to_string().to_ascii_lowercase().contains("certificate"));
    if certificate {
        return FetchError::Permanent(
            Error::new(ErrorKind::Remote, format!("{method} {shown}: {err}")).with_help(
                "check the server's certificate, or the remote's `ssl_verify` option \
                 (the path of a CA bundle, or `false`)",
            ),
        );
    }
    let transient = matches!(
        err,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_)
    );
    let error = Error::new(ErrorKind::Remote, format!("{method} {shown}: {err}"));
    if transient {
        FetchError::Transient(error)
    } else {
        FetchError::Permanent(error)
    }
}

/// `scheme://host:port` of an absolute URL, lower-cased, without user-info.
fn origin(url: &str) -> String {
    let stripped = redact::strip_userinfo(url);
    let (scheme, rest) = stripped.split_once("://").unwrap_or(("", &stripped));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{authority}").to_ascii_lowercase()
}

/// The URL a `Location` header names, relative to `base` (the request's URL).
/// Whether the server will keep the connection of `response` open for the
/// next request: not after `Connection: close`, and for HTTP/1.0 only after
/// `Connection: keep-alive` (RFC 9112, section 9.3).
fn keeps_alive<B>(response: &ureq::http::Response<B>) -> bool {
    let tokens = response
        .headers()
        .get_all("Connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    let (mut close, mut keep_alive) = (false, false);
    for token in tokens {
        close |= token.eq_ignore_ascii_case("close");
        keep_alive |= token.eq_ignore_ascii_case("keep-alive");
    }
    if close {
        return false;
    }
    response.version() >= ureq::http::Version::HTTP_11 || keep_alive
}

fn resolve_location(base: &str, location: &str) -> String {
    let location = location.trim();
    let scheme = base.split_once("://").map_or("http", |(s, _)| s);
    if location.contains("://") {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{}{location}", origin_as_given(base))
    } else {
        let path_end = base.find(['?', '#']).unwrap_or(base.len());
        let dir = &base[..path_end];
        let cut = dir
            .rfind('/')
            .filter(|&i| i > scheme.len() + 2)
            .unwrap_or(dir.len());
        format!("{}/{location}", &dir[..cut])
    }
}

/// `scheme://authority` of `url`, as written (user-info kept: it is the
/// same origin).
fn origin_as_given(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    &url[..end]
}

/// The first byte of `Content-Range: bytes START-END/TOTAL`.
fn content_range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (start, _) = rest.split_once('-')?;
    start.trim().parse().ok()
}

/// Standard base64 with padding (for `Authorization: Basic`).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_is_read_from_the_version_and_the_connection_header() {
        let answer = |version, connection: Option<&str>| {
            let mut b = ureq::http::Response::builder().version(version);
            if let Some(c) = connection {
                b = b.header("Connection", c);
            }
            keeps_alive(&b.body(()).unwrap())
        };
        use ureq::http::Version;
        assert!(answer(Version::HTTP_11, None));
        assert!(answer(Version::HTTP_11, Some("Keep-Alive")));
        assert!(!answer(Version::HTTP_11, Some("close")));
        assert!(!answer(Version::HTTP_11, Some("upgrade, Close")));
        // Python's http.server: HTTP/1.0, no header.
        assert!(!answer(Version::HTTP_10, None));
        assert!(answer(Version::HTTP_10, Some("keep-alive")));
        assert!(!answer(Version::HTTP_10, Some("keep-alive, close")));
    }

    #[test]
    fn base64_matches_rfc4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn resolves_redirect_locations() {
        let base = "http://u:p@h:8/files/md5/ab/cd?x=1";
        assert_eq!(resolve_location(base, "https://o/x"), "https://o/x");
        assert_eq!(resolve_location(base, "//o/x"), "http://o/x");
        assert_eq!(resolve_location(base, "/y/z"), "http://u:p@h:8/y/z");
        assert_eq!(
            resolve_location(base, "ef"),
            "http://u:p@h:8/files/md5/ab/ef"
        );
        assert_eq!(origin(base), origin("HTTP://H:8/other"));
        assert_ne!(origin(base), origin("https://h:8/files"));
        assert_ne!(origin(base), origin("http://h:9/files"));
    }

    #[test]
    fn parses_content_range() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes */200"), None);
    }

    #[test]
    fn digest_is_unsupported_and_secrets_stay_out() {
        let mut opts = BTreeMap::new();
        opts.insert("auth".to_string(), "digest".to_string());
        opts.insert("password".to_string(), "hunter2".to_string());
        let err = HttpRemote::new("https://u:tok@example.com/r", &opts).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        let text = err.to_string();
        assert!(!text.contains("hunter2") && !text.contains("tok"), "{text}");
    }
}
