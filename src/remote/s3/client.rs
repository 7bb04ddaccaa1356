//! Talking to S3: the HTTP agent, one signed ranged `GET` per
//! [`Remote::open`], and S3's answers turned into [`FetchError`]s.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::credentials::CREDENTIALS_HELP;
use super::{S3Remote, config_error, sign};
use crate::error::{ErrorKind, Result};
use crate::remote::credentials::parse_bool;
use crate::remote::{Body, FetchError, ObjectInfo, Remote, rest};

/// The HTTP agent: keep-alive, no redirects (S3 redirects are region errors),
/// statuses as values, DVC's timeouts and `ssl_verify`.
pub(super) fn make_agent(url: &str, options: &BTreeMap<String, String>) -> Result<ureq::Agent> {
    let opt = |name: &str| super::opt(options, name);
    let read_timeout =
        rest::seconds("read_timeout", opt("read_timeout")).map_err(|e| config_error(url, e))?;
    let connect_timeout = rest::seconds("connect_timeout", opt("connect_timeout"))
        .map_err(|e| config_error(url, e))?;
    let tls = match opt("ssl_verify") {
        None => ureq::tls::TlsConfig::builder().build(),
        Some(v) => match parse_bool(v) {
            Some(true) => ureq::tls::TlsConfig::builder().build(),
            Some(false) => ureq::tls::TlsConfig::builder()
                .disable_verification(true)
                .build(),
            None => rest::trust_only(Path::new(v), &|e| {
                config_error(url, format!("`ssl_verify`: {e}"))
            })?,
        },
    };
    Ok(rest::agent(connect_timeout, read_timeout, tls))
}

impl S3Remote {
    pub(super) fn fail(
        &self,
        kind: ErrorKind,
        rel_path: &str,
        what: impl fmt::Display,
    ) -> crate::Error {
        crate::Error::new(
            kind,
            format!(
                "S3 remote `{}` (bucket `{}`): `{rel_path}`: {what}",
                self.display_url(),
                self.bucket_name
            ),
        )
    }

    /// The presigned (or, anonymous, plain) URL of `key`.
    fn signed_url(&self, key: &str) -> String {
        match self.target.read() {
            Ok(t) => sign::presigned_get(&t, self.credentials.as_ref(), key),
            Err(poisoned) => {
                sign::presigned_get(&poisoned.into_inner(), self.credentials.as_ref(), key)
            }
        }
    }

    /// Switches to `region` after S3 said the bucket lives there. Returns
    /// `false` when nothing changed.
    pub(super) fn switch_region(&self, region: &str) -> bool {
        let Ok(mut t) = self.target.write() else {
            return false;
        };
        if t.region == region {
            return false;
        }
        match sign::make_bucket(self.endpoint.as_deref(), &self.bucket_name, region) {
            Ok(bucket) => {
                t.bucket = bucket;
                t.region = region.to_string();
                true
            }
            Err(_) => false,
        }
    }

    fn send(
        &self,
        rel_path: &str,
        key: &str,
        range: Option<&str>,
    ) -> std::result::Result<ureq::http::Response<ureq::Body>, FetchError> {
        let url = self.signed_url(key);
        let mut req = self.agent.get(&url);
        if let Some(range) = range {
            req = req.header("Range", range);
        }
        req.call().map_err(|e| {
            rest::transport_error(
                e,
                &|msg| self.fail(ErrorKind::Remote, rel_path, msg),
                "check the endpoint's certificate, or the remote's `ssl_verify` option (a CA bundle path, or `false`)",
            )
        })
    }

    /// Turns a non-success answer into the right [`FetchError`].
    pub(super) fn status_error(
        &self,
        rel_path: &str,
        status: u16,
        response: ureq::http::Response<ureq::Body>,
    ) -> FetchError {
        let retry_after = rest::retry_after(&response);
        let text = rest::error_text(response);
        let code = rest::xml_tag(&text, "Code");
        let message = rest::xml_tag(&text, "Message");
        let detail = match (&code, &message) {
            (Some(c), Some(m)) => format!(" ({c}: {m})"),
            (Some(c), None) => format!(" ({c})"),
            _ => String::new(),
        };
        match status {
            404 => FetchError::NotFound(
                self.fail(
                    ErrorKind::Remote,
                    rel_path,
                    format!("object not found{detail}"),
                )
                .with_help("the object was never pushed: run `dvc push` in the source project"),
            ),
            401 | 403 => {
                let err = if self.credentials.is_none() {
                    self.fail(
                        ErrorKind::Auth,
                        rel_path,
                        format!("anonymous access refused (HTTP {status}){detail}"),
                    )
                    .with_help(format!(
                        "bucket `{}` is not public: remove `allow_anonymous_login` and {CREDENTIALS_HELP}",
                        self.bucket_name
                    ))
                } else {
                    self.fail(
                        ErrorKind::Auth,
                        rel_path,
                        format!(
                            "access denied (HTTP {status}){detail} with credentials from {}",
                            self.source
                        ),
                    )
                    .with_help(format!(
                        "check that these credentials may read bucket `{}` (and the remote's `region`); \
                         to use others, {CREDENTIALS_HELP}",
                        self.bucket_name
                    ))
                };
                FetchError::Permanent(err)
            }
            301 | 307 | 400 if code.as_deref() == Some("PermanentRedirect") || status != 400 => {
                FetchError::Permanent(
                    self.fail(
                        ErrorKind::Remote,
                        rel_path,
                        format!(
                            "the bucket is in another region than `{}`{detail}",
                            self.region()
                        ),
                    )
                    .with_help("set the remote's `region` to the bucket's region"),
                )
            }
            _ => rest::status_failure(
                status,
                self.fail(
                    ErrorKind::Remote,
                    rel_path,
                    format!("HTTP {status}{detail}"),
                ),
                retry_after,
            ),
        }
    }
}

impl Remote for S3Remote {
    fn display_url(&self) -> String {
        rest::store_url("s3", &self.bucket_name, &self.prefix)
    }

    fn open(&self, rel_path: &str, offset: u64, end: Option<u64>) -> Result<Body, FetchError> {
        let key = self.key(rel_path)?;
        if end.is_some_and(|end| end <= offset) {
            return Ok(rest::empty());
        }
        let range = rest::range(offset, end);
        let mut response = self.send(rel_path, &key, range.as_deref())?;
        // A bucket in another region: S3 names it; sign again once, for it.
        let status = response.status().as_u16();
        if matches!(status, 301 | 307 | 400)
            && let Some(region) = rest::header(&response, "x-amz-bucket-region")
            && self.switch_region(&region)
        {
            response = self.send(rel_path, &key, range.as_deref())?;
        }
        let status = response.status().as_u16();
        if rest::is_body(status) {
            rest::body(response, offset, end, &|msg| {
                self.fail(ErrorKind::Remote, rel_path, msg)
            })
        } else {
            Err(self.status_error(rel_path, status, response))
        }
    }

    /// An object's size and ETag (`HeadObject`), for a URL import.
    fn info(&self, rel_path: &str) -> Result<Option<ObjectInfo>, FetchError> {
        self.head_info(rel_path)
    }

    /// Every object under a prefix (`ListObjectsV2`), for a URL import.
    fn list(&self, rel_path: &str) -> Result<Vec<(String, ObjectInfo)>, FetchError> {
        self.list_prefix(rel_path)
    }
}
