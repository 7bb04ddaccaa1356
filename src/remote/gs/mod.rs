//! Google Cloud Storage remotes (`gs://bucket/prefix`).
//!
//! Objects are read with the JSON API's media download,
//! `GET <endpoint>/storage/v1/b/<bucket>/o/<object>?alt=media`, with a
//! `Range` header, so the transfer layer can resume downloads and split
//! large objects into parallel ranged requests. Requests carry an OAuth 2.0
//! access token (`Authorization: Bearer`), fetched on first use and renewed
//! before it expires, or, when the service refuses it early, once at once.
//!
//! # Remote options
//!
//! DVC's own (dvc-gs), from the remote's section of `.dvc/config` (or a
//! dependency's `remote` table):
//!
//! | option | meaning |
//! | --- | --- |
//! | `endpointurl` | a GCS-compatible endpoint (`http://127.0.0.1:4443` for fake-gcs-server); beats `STORAGE_EMULATOR_HOST` |
//! | `credentialpath` | a service-account key or authorized-user JSON file (keep it out of git: `dvc remote modify --local`) |
//! | `allow_anonymous_login` | `true`: send no credentials (public buckets) |
//! | `projectname` | accepted; only listing or creating buckets needs it, and reading objects does neither |
//!
//! The endpoint is `endpointurl`, else `STORAGE_EMULATOR_HOST` (with
//! `http://` when it names no scheme, as gcsfs does), else
//! `https://storage.googleapis.com`. `SSL_CERT_FILE`, when set, names the
//! only CA certificates trusted (as OpenSSL, and so DVC, reads it).
//!
//! # Where credentials come from
//!
//! DVC's order (dvc-gs, gcsfs, google-auth), written out as one chain in
//! `credentials.rs`; the first source that is set wins, and a source that is
//! set but broken (a missing or malformed key file) is an error, never a
//! reason to try the next:
//!
//! 1. `allow_anonymous_login = true`: no credentials at all.
//! 2. The remote's `credentialpath`: that key file only.
//! 3. `GOOGLE_APPLICATION_CREDENTIALS`: the key file it names.
//! 4. gcloud's application-default credentials,
//!    `$CLOUDSDK_CONFIG/application_default_credentials.json` (by default
//!    `~/.config/gcloud/...`), when it exists.
//! 5. The metadata server of a Google Cloud machine: `GCE_METADATA_HOST`
//!    (or `GCE_METADATA_IP`), else `metadata.google.internal` when the
//!    machine's DMI product name is Google's; skipped when `NO_GCE_CHECK` is
//!    true. Unlike google-auth, we do not probe the network for it.
//! 6. Nothing found: requests carry no credentials, as in gcsfs. A bucket
//!    that is not public then refuses them, and the error lists what was
//!    looked for.
//!
//! A key file is a service-account key (`"type": "service_account"`: a JWT
//! signed RS256 with its `private_key` is traded at its `token_uri`) or an
//! authorized user (`"type": "authorized_user"`: its refresh token is
//! traded at its `token_uri`, by default Google's). Other types (workload
//! identity federation, impersonation) are a clear error. Two gcsfs quirks
//! are not copied: a `credentialpath` that does not exist is an error (gcsfs
//! would send the path itself as a token), and `projectname` never turns
//! credentials off (google-auth drops credentials whose project differs).
//! Tokens are asked for the `devstorage.read_only` scope.
//!
//! # Errors and secrets
//!
//! A missing object is [`FetchError::NotFound`]; a missing bucket is a
//! permanent error saying so (told apart by asking for the bucket once);
//! 401/403 are [`ErrorKind::Auth`] errors naming where the credentials came
//! from; 429 and 5xx are transient (throttled with `Retry-After`). No token,
//! key or refresh token is ever printed: `Debug` shows where the credentials
//! came from, never them.

mod credentials;
mod source;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub use self::credentials::CredentialSource;
use self::credentials::{Auth, CREDENTIALS_HELP};
use crate::error::{Error, ErrorKind, Result};
use crate::remote::credentials::{Context, Token};
use crate::remote::{Body, FetchError, ObjectInfo, Remote, rest};

/// The Google Cloud Storage endpoint.
pub const GOOGLE_ENDPOINT: &str = "https://storage.googleapis.com";

/// A DVC remote in a Google Cloud Storage bucket (or an emulator).
///
/// `Debug` shows where the credentials came from, never the credentials.
pub struct GcsRemote {
    bucket: String,
    /// The object-name prefix, without leading or trailing `/`; may be empty.
    prefix: String,
    /// `scheme://host[:port]`, no trailing `/`.
    endpoint: String,
    auth: Auth,
    source: CredentialSource,
    agent: ureq::Agent,
}

impl fmt::Debug for GcsRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcsRemote")
            .field("url", &self.display_url())
            .field("endpoint", &self.endpoint_url())
            .field("credentials", &self.source.to_string())
            .finish_non_exhaustive()
    }
}

/// Opens the GCS remote at `url` (`gs://bucket/prefix`) with DVC's remote
/// `options`, reading the process environment and gcloud's files under the
/// home directory. Makes no request (tokens are fetched on first use).
///
/// # Errors
///
/// A malformed URL or option ([`ErrorKind::Remote`]), or a key file that is
/// missing, unreadable or malformed ([`ErrorKind::Auth`], [`ErrorKind::Io`],
/// [`ErrorKind::Unsupported`]).
pub fn open(url: &str, options: &BTreeMap<String, String>) -> Result<GcsRemote> {
    GcsRemote::open_with_env(url, options, &|name| std::env::var(name).ok())
}

impl GcsRemote {
    /// As [`open`], reading environment variables (including `HOME`) through
    /// `env` instead of the process environment.
    ///
    /// # Errors
    ///
    /// As [`open`].
    pub fn open_with_env(
        url: &str,
        options: &BTreeMap<String, String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<GcsRemote> {
        let cx = Context::new(url, options, env);
        let (bucket, prefix) = rest::split_url(url, "gs").map_err(|e| config_error(url, e))?;
        if bucket.is_empty() {
            return Err(config_error(url, "the URL names no bucket")
                .with_help("write the remote's `url` as `gs://bucket/prefix`"));
        }
        let endpoint = match cx.option("endpointurl") {
            Some(e) => e.to_string(),
            None => match cx.env("STORAGE_EMULATOR_HOST") {
                Some(host) if host.contains("://") => host,
                Some(host) => format!("http://{host}"),
                None => GOOGLE_ENDPOINT.to_string(),
            },
        };
        let endpoint = endpoint.trim_end_matches('/').to_string();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
            || endpoint
                .split_once("://")
                .is_some_and(|(_, r)| r.is_empty())
        {
            return Err(config_error(
                url,
                format!(
                    "endpoint `{}` is not an http(s) URL",
                    crate::redact::url(&endpoint)
                ),
            )
            .with_help("set `endpointurl` to a URL such as `http://127.0.0.1:4443`"));
        }
        let tls = rest::tls_from_env(cx.env("SSL_CERT_FILE"), &|e| config_error(url, e))?;
        let agent = rest::agent(rest::DEFAULT_TIMEOUT, rest::DEFAULT_TIMEOUT, tls);
        let found = credentials::resolve(&cx, &agent)?;
        Ok(GcsRemote {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            endpoint,
            auth: found.auth,
            source: found.source,
            agent,
        })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object-name prefix of the remote inside the bucket.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The endpoint requests go to, e.g. `https://storage.googleapis.com`.
    pub fn endpoint_url(&self) -> String {
        crate::redact::url(&self.endpoint)
    }

    /// Where the credentials came from.
    pub fn credential_source(&self) -> &CredentialSource {
        &self.source
    }

    fn fail(&self, kind: ErrorKind, rel_path: &str, what: impl fmt::Display) -> Error {
        Error::new(
            kind,
            format!(
                "GCS remote `{}` (bucket `{}`): `{rel_path}`: {what}",
                self.display_url(),
                self.bucket
            ),
        )
    }

    fn get(
        &self,
        url: &str,
        range: Option<&str>,
        token: Option<&Token>,
        rel_path: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
        let mut req = self.agent.get(url);
        if let Some(range) = range {
            req = req.header("Range", range);
        }
        if let Some(token) = token {
            req = req.header("Authorization", format!("Bearer {}", token.secret.expose()));
        }
        req.call().map_err(|e| {
            rest::transport_error(
                e,
                &|msg| self.fail(ErrorKind::Remote, rel_path, msg),
                "check the endpoint's certificate (`SSL_CERT_FILE` names the trusted CA bundle)",
            )
        })
    }

    /// A fresh token, when the remote uses tokens.
    fn token(&self, rel_path: &str) -> Result<Option<Arc<Token>>, FetchError> {
        match &self.auth {
            Auth::Anonymous => Ok(None),
            Auth::Token(cache) => cache.token().map(Some).map_err(|e| {
                let help = format!("check the credentials: {CREDENTIALS_HELP}");
                match e {
                    FetchError::Permanent(err) => FetchError::Permanent(
                        err.context(format_args!(
                            "GCS remote `{}`: `{rel_path}`",
                            self.display_url()
                        ))
                        .with_help(help),
                    ),
                    other => other,
                }
            }),
        }
    }

    /// `true` when the bucket itself is missing (asked after a 404: a
    /// missing bucket and a missing object look alike).
    fn bucket_missing(&self, token: Option<&Token>) -> bool {
        let url = format!(
            "{}/storage/v1/b/{}",
            self.endpoint,
            rest::encode(&self.bucket, false)
        );
        self.get(&url, None, token, "")
            .is_ok_and(|r| r.status().as_u16() == 404)
    }

    /// Turns a non-success answer into the right [`FetchError`].
    fn status_error(
        &self,
        rel_path: &str,
        status: u16,
        response: ureq::http::Response<ureq::Body>,
        token: Option<&Token>,
    ) -> FetchError {
        let retry_after = rest::retry_after(&response);
        let text = rest::error_text(response);
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|j| j["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.trim().chars().take(200).collect());
        let detail = if message.is_empty() {
            String::new()
        } else {
            format!(" ({})", message.chars().take(300).collect::<String>())
        };
        match status {
            404 if self.bucket_missing(token) => FetchError::Permanent(
                self.fail(
                    ErrorKind::Remote,
                    rel_path,
                    format!("bucket `{}` does not exist{detail}", self.bucket),
                )
                .with_help(
                    "check the remote's `url` (and `endpointurl`) in the source project's `.dvc/config`",
                ),
            ),
            404 => FetchError::NotFound(
                self.fail(ErrorKind::Remote, rel_path, format!("object not found{detail}"))
                    .with_help("the object was never pushed: run `dvc push` in the source project"),
            ),
            401 | 403 => FetchError::Permanent(match &self.source {
                CredentialSource::Anonymous | CredentialSource::NotFound => self
                    .fail(
                        ErrorKind::Auth,
                        rel_path,
                        format!("anonymous access refused (HTTP {status}){detail}"),
                    )
                    .with_help(format!(
                        "{}bucket `{}` is not public: {CREDENTIALS_HELP}",
                        if self.source == CredentialSource::Anonymous {
                            "remove `allow_anonymous_login`: "
                        } else {
                            "no credentials were found (looked for `credentialpath`, \
                             GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default \
                             credentials and the metadata server); "
                        },
                        self.bucket
                    )),
                source => self
                    .fail(
                        ErrorKind::Auth,
                        rel_path,
                        format!("access denied (HTTP {status}){detail} with {source}"),
                    )
                    .with_help(format!(
                        "check that this identity may read bucket `{}` (`storage.objects.get`); \
                         to use another, {CREDENTIALS_HELP}",
                        self.bucket
                    )),
            }),
            _ => rest::status_failure(
                status,
                self.fail(ErrorKind::Remote, rel_path, format!("HTTP {status}{detail}")),
                retry_after,
            ),
        }
    }
}

impl Remote for GcsRemote {
    fn display_url(&self) -> String {
        rest::store_url("gs", &self.bucket, &self.prefix)
    }

    fn open(&self, rel_path: &str, offset: u64, end: Option<u64>) -> Result<Body, FetchError> {
        let Some(name) = rest::object_name(&self.prefix, rel_path) else {
            return Err(FetchError::Permanent(self.fail(
                ErrorKind::Remote,
                rel_path,
                "invalid object path",
            )));
        };
        if end.is_some_and(|end| end <= offset) {
            return Ok(rest::empty());
        }
        let url = format!(
            "{}/storage/v1/b/{}/o/{}?alt=media",
            self.endpoint,
            rest::encode(&self.bucket, false),
            rest::encode(&name, false)
        );
        let range = rest::range(offset, end);
        let mut token = self.token(rel_path)?;
        let mut response = self.get(&url, range.as_deref(), token.as_deref(), rel_path)?;
        // A token refused before its time (revoked, or the clock is off):
        // exchange again, once.
        if response.status().as_u16() == 401
            && let (Auth::Token(cache), Some(used)) = (&self.auth, &token)
        {
            cache.refused(used);
            token = self.token(rel_path)?;
            response = self.get(&url, range.as_deref(), token.as_deref(), rel_path)?;
        }
        let status = response.status().as_u16();
        if rest::is_body(status) {
            rest::body(response, offset, end, &|msg| {
                self.fail(ErrorKind::Remote, rel_path, msg)
            })
        } else {
            Err(self.status_error(rel_path, status, response, token.as_deref()))
        }
    }
    /// An object's size, ETag and generation (its metadata), for a URL
    /// import.
    fn info(&self, rel_path: &str) -> Result<Option<ObjectInfo>, FetchError> {
        self.object_info(rel_path)
    }

    /// Every object under a prefix (the JSON API's listing), for a URL
    /// import.
    fn list(&self, rel_path: &str) -> Result<Vec<(String, ObjectInfo)>, FetchError> {
        self.list_folder(rel_path)
    }
}

fn config_error(url: &str, what: impl fmt::Display) -> Error {
    rest::config_error("GCS", url, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A test RSA key (2048 bits, PKCS#8), made for these tests only.
    pub(super) const TEST_KEY: &str = include_str!("../../../tests/data/gcs-test-key.pem");

    fn service_account(dir: &std::path::Path, name: &str, email: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        let json = serde_json::json!({
            "type": "service_account",
            "client_email": email,
            "private_key": TEST_KEY,
            "private_key_id": "k1",
            "token_uri": "http://127.0.0.1:1/token",
        });
        std::fs::write(&path, json.to_string()).unwrap();
        path
    }

    #[test]
    fn order_anonymous_then_credentialpath_then_env_then_gcloud_then_metadata() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap();
        let a = service_account(home.path(), "a.json", "a@p.iam.gserviceaccount.com");
        let b = service_account(home.path(), "b.json", "b@p.iam.gserviceaccount.com");
        let gcloud = home.path().join(".config/gcloud");
        std::fs::create_dir_all(&gcloud).unwrap();
        std::fs::write(
            gcloud.join("application_default_credentials.json"),
            r#"{"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"}"#,
        )
        .unwrap();
        let url = "gs://bkt/pre";
        let all = env_of(&[
            ("HOME", h),
            ("GOOGLE_APPLICATION_CREDENTIALS", b.to_str().unwrap()),
            ("GCE_METADATA_HOST", "127.0.0.1:1"),
        ]);
        let with_path = opts(&[("credentialpath", a.to_str().unwrap())]);
        let r = GcsRemote::open_with_env(url, &with_path, &all).unwrap();
        assert!(
            matches!(r.credential_source(), CredentialSource::ServiceAccount { email, via: "credentialpath", .. } if email.starts_with("a@"))
        );
        let mut anon = with_path.clone();
        anon.insert("allow_anonymous_login".into(), "true".into());
        let r = GcsRemote::open_with_env(url, &anon, &all).unwrap();
        assert_eq!(r.credential_source(), &CredentialSource::Anonymous);
        let r = GcsRemote::open_with_env(url, &opts(&[]), &all).unwrap();
        assert!(
            matches!(r.credential_source(), CredentialSource::ServiceAccount { email, via: "GOOGLE_APPLICATION_CREDENTIALS", .. } if email.starts_with("b@"))
        );
        let env = env_of(&[("HOME", h), ("GCE_METADATA_HOST", "127.0.0.1:1")]);
        let r = GcsRemote::open_with_env(url, &opts(&[]), &env).unwrap();
        assert!(matches!(
            r.credential_source(),
            CredentialSource::AuthorizedUser { .. }
        ));
        let empty = tempfile::tempdir().unwrap();
        let e = empty.path().to_str().unwrap();
        let env = env_of(&[("HOME", e), ("GCE_METADATA_HOST", "127.0.0.1:1")]);
        let r = GcsRemote::open_with_env(url, &opts(&[]), &env).unwrap();
        assert_eq!(
            r.credential_source(),
            &CredentialSource::MetadataServer {
                host: "127.0.0.1:1".into()
            }
        );
        let env = env_of(&[
            ("HOME", e),
            ("GCE_METADATA_HOST", "127.0.0.1:1"),
            ("NO_GCE_CHECK", "True"),
        ]);
        let r = GcsRemote::open_with_env(url, &opts(&[]), &env).unwrap();
        assert_eq!(r.credential_source(), &CredentialSource::NotFound);
        // CLOUDSDK_CONFIG moves gcloud's folder.
        let env = env_of(&[
            ("HOME", e),
            ("CLOUDSDK_CONFIG", gcloud.to_str().unwrap()),
            ("NO_GCE_CHECK", "true"),
        ]);
        let r = GcsRemote::open_with_env(url, &opts(&[]), &env).unwrap();
        assert!(matches!(
            r.credential_source(),
            CredentialSource::AuthorizedUser { .. }
        ));
        // Debug shows the source, not the key.
        let dbg = format!("{r:?}");
        assert!(dbg.contains("refresh token"), "{dbg}");
        assert!(!dbg.contains("BEGIN"), "{dbg}");
    }

    #[test]
    fn broken_key_files_stop_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let good = service_account(d, "good.json", "g@p.iam.gserviceaccount.com");
        let env = env_of(&[
            ("HOME", d.to_str().unwrap()),
            ("GOOGLE_APPLICATION_CREDENTIALS", good.to_str().unwrap()),
        ]);
        let cases = [
            ("missing.json", None),
            ("text.json", Some("not json")),
            ("notype.json", Some(r#"{"client_email": "x"}"#)),
            (
                "badkey.json",
                Some(
                    r#"{"type": "service_account", "client_email": "x", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#,
                ),
            ),
            (
                "user.json",
                Some(r#"{"type": "authorized_user", "client_id": "c"}"#),
            ),
            ("ext.json", Some(r#"{"type": "external_account"}"#)),
        ];
        for (name, text) in cases {
            let path = d.join(name);
            if let Some(text) = text {
                std::fs::write(&path, text).unwrap();
            }
            let err = GcsRemote::open_with_env(
                "gs://b/p",
                &opts(&[("credentialpath", path.to_str().unwrap())]),
                &env,
            )
            .unwrap_err();
            let text = err.to_string();
            assert!(text.contains(name), "{name}: {text}");
            assert!(!text.contains("AAAA"), "{name}: {text}");
            let want = if name == "ext.json" {
                ErrorKind::Unsupported
            } else {
                ErrorKind::Auth
            };
            assert_eq!(err.kind(), want, "{name}: {text}");
        }
    }

    #[test]
    fn endpoints() {
        let env = env_of(&[("HOME", "/nonexistent"), ("NO_GCE_CHECK", "true")]);
        let r = GcsRemote::open_with_env("gs://b/p/", &opts(&[]), &env).unwrap();
        assert_eq!(r.endpoint_url(), GOOGLE_ENDPOINT);
        assert_eq!((r.bucket(), r.prefix()), ("b", "p"));
        assert_eq!(r.display_url(), "gs://b/p");
        let env = env_of(&[
            ("HOME", "/nonexistent"),
            ("NO_GCE_CHECK", "true"),
            ("STORAGE_EMULATOR_HOST", "127.0.0.1:4443"),
        ]);
        let r = GcsRemote::open_with_env("gs://b", &opts(&[]), &env).unwrap();
        assert_eq!(r.endpoint_url(), "http://127.0.0.1:4443");
        let r = GcsRemote::open_with_env(
            "gs://b",
            &opts(&[("endpointurl", "https://gcs.example:9/")]),
            &env,
        )
        .unwrap();
        assert_eq!(r.endpoint_url(), "https://gcs.example:9");
        for (url, o) in [
            ("gs:///p", opts(&[])),
            ("s3://b/p", opts(&[])),
            ("gs://b/../p", opts(&[])),
            ("gs://b/p", opts(&[("endpointurl", "ftp://x")])),
            ("gs://b/p", opts(&[("allow_anonymous_login", "maybe")])),
        ] {
            assert!(
                GcsRemote::open_with_env(url, &o, &env).is_err(),
                "{url} {o:?}"
            );
        }
    }
}
