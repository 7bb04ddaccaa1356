//! S3 and S3-compatible remotes (`s3://bucket/prefix`).
//!
//! Objects are read with `GET` requests signed with AWS Signature Version 4
//! (presigned URLs made by `rusty-s3`), over one shared keep-alive HTTP agent.
//! [`S3Remote::open`] asks for a byte range (`Range: bytes=...`), so the
//! transfer layer can resume downloads and split large objects into parallel
//! ranged requests.
//!
//! # Remote options
//!
//! The options are DVC's own, read from the remote's section of
//! `.dvc/config` (or the `remote` table of a dependency):
//!
//! | option | meaning |
//! | --- | --- |
//! | `endpointurl` | URL of an S3-compatible store (MinIO, SeaweedFS, Ceph, R2...); requests then use path-style URLs (`<endpoint>/<bucket>/<key>`) |
//! | `region` | the bucket's region |
//! | `profile` | the profile to read from the AWS credentials and config files |
//! | `credentialpath` | the AWS shared credentials file |
//! | `configpath` | the AWS config file |
//! | `access_key_id`, `secret_access_key`, `session_token` | explicit credentials (keep them in `.dvc/config.local`, never in git) |
//! | `allow_anonymous_login` | `true`: send unsigned requests (public buckets) |
//! | `ssl_verify` | `false` to skip TLS certificate checks, or the path of a PEM CA bundle |
//! | `read_timeout`, `connect_timeout` | seconds (default 60 each, as in DVC) |
//!
//! Other DVC options (`acl`, `grant_*`, `sse`, `sse_kms_key_id`, `use_ssl`,
//! multipart settings, ...) only matter when writing and are ignored.
//! `sse_customer_key` (SSE-C) is needed to read, and is not supported: such a
//! remote is a clear error.
//!
//! # Where credentials come from
//!
//! The order is DVC's (DVC hands the options to `s3fs`, which hands them to
//! botocore); the first source that yields credentials wins:
//!
//! 1. `allow_anonymous_login = true`: no credentials at all, every request is
//!    unsigned, even if credentials exist somewhere (as in DVC).
//! 2. The remote's `access_key_id` + `secret_access_key` (+ `session_token`).
//!    Setting only one of the two is an error.
//! 3. The environment variables `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`
//!    (+ `AWS_SESSION_TOKEN`, or the older `AWS_SECURITY_TOKEN`) — **skipped
//!    when the remote sets `profile`**: an explicit profile wins over the
//!    environment, as in botocore.
//! 4. The profile's section in the shared credentials file. The profile is the
//!    remote's `profile`, else `AWS_DEFAULT_PROFILE`, else `AWS_PROFILE`, else
//!    `default`. The file is `AWS_SHARED_CREDENTIALS_FILE`, else the remote's
//!    `credentialpath` (DVC only sets that variable when it is unset, so the
//!    variable wins), else `~/.aws/credentials`. Sections are `[NAME]`; keys
//!    `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`.
//! 5. The profile's section in the config file: `AWS_CONFIG_FILE`, else the
//!    remote's `configpath`, else `~/.aws/config`; sections are
//!    `[profile NAME]` (and `[default]`), with the same keys.
//!
//! When none yields credentials, opening the remote fails before any request
//! is made, saying what to set. A `profile` named in the remote's options that
//! exists in neither file is an error too. Sources that need an AWS API call
//! (SSO, `role_arn`/assume-role, `credential_process`, web identity, container
//! and EC2 instance metadata credentials) are not supported: export the
//! resulting credentials into the environment instead (for example with
//! `eval "$(aws configure export-credentials --format env)"`).
//!
//! # Region and endpoint
//!
//! The region is the remote's `region`, else `AWS_DEFAULT_REGION`, else
//! `AWS_REGION`, else the profile's `region` in the config file, else
//! `us-east-1`. When S3 answers that the bucket lives in another region (the
//! `x-amz-bucket-region` header of a 301 or 400 answer), the request is signed
//! again for that region, as botocore does.
//!
//! The endpoint is the remote's `endpointurl`, else `AWS_ENDPOINT_URL_S3`, else
//! `AWS_ENDPOINT_URL`, else the profile's `endpoint_url` in the config file
//! (the last three are ignored when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is
//! true, as in botocore), else AWS itself: `https://s3.<region>.amazonaws.com`
//! with virtual-hosted-style URLs (`https://<bucket>.s3...`), or path-style
//! ones for bucket names that cannot be a host name. A custom endpoint always
//! gets path-style URLs.
//!
//! # Secrets
//!
//! No credential is ever printed: not in errors, not in `Debug` output.
//! Presigned URLs carry a signature (never the secret key) in their query
//! string; messages never show a query string either.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use crate::error::{Error, ErrorKind, Result};
use crate::remote::{Body, FetchError, Remote};

/// How long a presigned request stays valid; it is sent at once.
const PRESIGN_TTL: Duration = Duration::from_secs(15 * 60);
/// botocore's default connect and read timeouts.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Error answers are small XML documents; read no more than this of them.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// The help line for missing or refused credentials.
const CREDENTIALS_HELP: &str = "set `access_key_id`/`secret_access_key` in the remote's options \
     (`dvc remote modify --local <remote> access_key_id ...`), \
     AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials \
     (`profile`/AWS_PROFILE)";

/// Where an [`S3Remote`]'s credentials came from (see the module docs for the
/// order). Never holds the credentials themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `allow_anonymous_login = true`: requests are unsigned.
    Anonymous,
    /// The remote's `access_key_id`/`secret_access_key` options.
    Options,
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`.
    Environment,
    /// A profile's section of an AWS credentials or config file.
    Profile {
        /// The profile name.
        name: String,
        /// The file it was read from.
        file: PathBuf,
    },
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Anonymous => f.write_str("anonymous (allow_anonymous_login)"),
            CredentialSource::Options => {
                f.write_str("the remote's access_key_id/secret_access_key")
            }
            CredentialSource::Environment => f.write_str("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"),
            CredentialSource::Profile { name, file } => {
                write!(f, "profile `{name}` in `{}`", file.display())
            }
        }
    }
}

/// The parts of the target that a wrong-region answer can change.
struct Target {
    bucket: Bucket,
    region: String,
}

/// A DVC remote in an S3 bucket (or an S3-compatible store).
///
/// `Debug` shows where the credentials came from, never the credentials.
pub struct S3Remote {
    bucket_name: String,
    /// The key prefix, without leading or trailing `/`; may be empty.
    prefix: String,
    /// A custom endpoint, or `None` for AWS.
    endpoint: Option<String>,
    target: RwLock<Target>,
    credentials: Option<Credentials>,
    source: CredentialSource,
    agent: ureq::Agent,
}

impl fmt::Debug for S3Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Remote")
            .field("url", &self.display_url())
            .field("endpoint", &self.endpoint_url())
            .field("region", &self.region())
            .field("credentials", &self.source.to_string())
            .finish_non_exhaustive()
    }
}

/// Opens the S3 remote at `url` (`s3://bucket/prefix`) with DVC's remote
/// `options`, reading the process environment and the AWS files under the
/// home directory. Makes no request.
///
/// # Errors
///
/// A malformed URL or option ([`ErrorKind::Remote`]), an unreadable AWS
/// file ([`ErrorKind::Io`]), or credentials missing, half-set or naming an
/// unknown profile ([`ErrorKind::Auth`]).
pub fn open(url: &str, options: &BTreeMap<String, String>) -> Result<S3Remote> {
    S3Remote::open_with_env(url, options, &|name| std::env::var(name).ok())
}

impl S3Remote {
    /// As [`open`], reading environment variables (including `HOME`, for
    /// `~/.aws`) through `env` instead of the process environment.
    ///
    /// # Errors
    ///
    /// As [`open`].
    pub fn open_with_env(
        url: &str,
        options: &BTreeMap<String, String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<S3Remote> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let opt = |name: &str| opt(options, name);
        let (bucket_name, prefix) = parse_url(url)?;

        if opt("sse_customer_key").is_some() {
            return Err(config_error(
                url,
                "`sse_customer_key` (SSE-C encryption) is not supported for reading",
            )
            .with_help("read the remote with `dvc pull`, or store its objects without SSE-C"));
        }

        let anonymous = match opt("allow_anonymous_login") {
            Some(v) => parse_bool(v).ok_or_else(|| {
                config_error(
                    url,
                    format!("`allow_anonymous_login = {v}` is not a boolean"),
                )
            })?,
            None => false,
        };

        let home = env("HOME")
            .or_else(|| env("USERPROFILE"))
            .map(PathBuf::from);
        let explicit_profile = opt("profile").map(str::to_string);
        let profile = explicit_profile
            .clone()
            .or_else(|| env("AWS_DEFAULT_PROFILE"))
            .or_else(|| env("AWS_PROFILE"))
            .unwrap_or_else(|| "default".to_string());
        let credentials_file = env("AWS_SHARED_CREDENTIALS_FILE")
            .or_else(|| opt("credentialpath").map(str::to_string))
            .map(|p| expand_home(&p, home.as_deref()))
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join("credentials")));
        let config_file = env("AWS_CONFIG_FILE")
            .or_else(|| opt("configpath").map(str::to_string))
            .map(|p| expand_home(&p, home.as_deref()))
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join("config")));
        let config_ini = match &config_file {
            Some(path) => Ini::load(path)?,
            None => None,
        };
        let profile_config = config_ini.as_ref().and_then(|ini| {
            ini.section(&config_section_name(&profile)).or_else(|| {
                (profile == "default")
                    .then(|| ini.section("profile default"))
                    .flatten()
            })
        });

        // Credentials.
        let (credentials, source) = if anonymous {
            (None, CredentialSource::Anonymous)
        } else if let Some(c) = pair(
            opt("access_key_id"),
            opt("secret_access_key"),
            opt("session_token"),
            "the remote's `access_key_id` and `secret_access_key` options",
            url,
        )? {
            (Some(c), CredentialSource::Options)
        } else {
            let from_env = if explicit_profile.is_none() {
                let token = env("AWS_SESSION_TOKEN").or_else(|| env("AWS_SECURITY_TOKEN"));
                pair(
                    env("AWS_ACCESS_KEY_ID").as_deref(),
                    env("AWS_SECRET_ACCESS_KEY").as_deref(),
                    token.as_deref(),
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                    url,
                )?
            } else {
                None
            };
            if let Some(c) = from_env {
                (Some(c), CredentialSource::Environment)
            } else {
                let credentials_ini = match &credentials_file {
                    Some(path) => Ini::load(path)?,
                    None => None,
                };
                let cred_section = credentials_ini
                    .as_ref()
                    .and_then(|ini| ini.section(&profile));
                if explicit_profile.is_some() && cred_section.is_none() && profile_config.is_none()
                {
                    return Err(Error::new(
                        ErrorKind::Auth,
                        format!(
                            "S3 remote `{}`: profile `{profile}` is in neither `{}` nor `{}`",
                            crate::redact::url(url),
                            display_opt_path(credentials_file.as_deref()),
                            display_opt_path(config_file.as_deref()),
                        ),
                    )
                    .with_help("fix the remote's `profile` option, or add the profile to the AWS credentials file"));
                }
                let mut found = None;
                for (section, file) in [
                    (cred_section, &credentials_file),
                    (profile_config, &config_file),
                ] {
                    let Some(section) = section else { continue };
                    let token = section
                        .get("aws_session_token")
                        .or_else(|| section.get("aws_security_token"));
                    let what = format!(
                        "profile `{profile}`'s aws_access_key_id and aws_secret_access_key"
                    );
                    if let Some(c) = pair(
                        section.get("aws_access_key_id"),
                        section.get("aws_secret_access_key"),
                        token,
                        &what,
                        url,
                    )? {
                        let file = file.clone().unwrap_or_default();
                        found = Some((
                            c,
                            CredentialSource::Profile {
                                name: profile.clone(),
                                file,
                            },
                        ));
                        break;
                    }
                }
                match found {
                    Some((c, source)) => (Some(c), source),
                    None => {
                        let unsupported = profile_config.and_then(|s| {
                            [
                                "role_arn",
                                "sso_session",
                                "sso_start_url",
                                "credential_process",
                                "web_identity_token_file",
                            ]
                            .into_iter()
                            .find(|k| s.get(k).is_some())
                        });
                        let mut err = Error::new(
                            ErrorKind::Auth,
                            format!(
                                "no AWS credentials for S3 remote `{}` (bucket `{bucket_name}`)",
                                crate::redact::url(url)
                            ),
                        );
                        if let Some(key) = unsupported {
                            err = err.with_help(format!(
                                "profile `{profile}` uses `{key}`, which dvc-build cannot resolve; \
                                 export the credentials instead \
                                 (`eval \"$(aws configure export-credentials --profile {profile} --format env)\"`)"
                            ));
                        }
                        return Err(err.with_help(format!(
                            "{CREDENTIALS_HELP}; for a public bucket set `allow_anonymous_login = true`"
                        )));
                    }
                }
            }
        };

        // Region and endpoint.
        let region = opt("region")
            .map(str::to_string)
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or_else(|| env("AWS_REGION"))
            .or_else(|| {
                profile_config
                    .and_then(|s| s.get("region"))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "us-east-1".to_string());
        let ignore_configured = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .or_else(|| {
                profile_config
                    .and_then(|s| s.get("ignore_configured_endpoint_urls"))
                    .map(str::to_string)
            })
            .and_then(|v| parse_bool(&v))
            .unwrap_or(false);
        let endpoint = opt("endpointurl").map(str::to_string).or_else(|| {
            if ignore_configured {
                return None;
            }
            env("AWS_ENDPOINT_URL_S3")
                .or_else(|| env("AWS_ENDPOINT_URL"))
                .or_else(|| {
                    profile_config
                        .and_then(|s| s.get("endpoint_url"))
                        .map(str::to_string)
                })
        });
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(config_error(
                url,
                format!("endpoint `{}` is not an http(s) URL", crate::redact::url(e)),
            )
            .with_help("set `endpointurl` to a URL such as `https://minio.example.com:9000`"));
        }
        let bucket = make_bucket(endpoint.as_deref(), &bucket_name, &region)
            .map_err(|e| config_error(url, e))?;

        let agent = make_agent(url, options)?;
        Ok(S3Remote {
            bucket_name,
            prefix,
            endpoint,
            target: RwLock::new(Target { bucket, region }),
            credentials,
            source,
            agent,
        })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket_name
    }

    /// The key prefix of the remote inside the bucket (no leading or trailing
    /// `/`; empty for a remote at the bucket's root).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The region requests are signed for (it may change once S3 has said
    /// where the bucket lives).
    pub fn region(&self) -> String {
        match self.target.read() {
            Ok(t) => t.region.clone(),
            Err(poisoned) => poisoned.into_inner().region.clone(),
        }
    }

    /// The base URL of the bucket, e.g. `http://127.0.0.1:8333/bucket/`, with
    /// any user-info redacted.
    pub fn endpoint_url(&self) -> String {
        let base = match self.target.read() {
            Ok(t) => t.bucket.base_url().to_string(),
            Err(poisoned) => poisoned.into_inner().bucket.base_url().to_string(),
        };
        crate::redact::url(&base)
    }

    /// Where the credentials came from.
    pub fn credential_source(&self) -> &CredentialSource {
        &self.source
    }

    /// The object key of `rel_path`, with the remote's prefix.
    fn key(&self, rel_path: &str) -> std::result::Result<String, FetchError> {
        let bad = rel_path.is_empty()
            || rel_path
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == "..")
            || rel_path.contains(['?', '#', '\\']);
        if bad {
            return Err(FetchError::Permanent(Error::new(
                ErrorKind::Remote,
                format!(
                    "invalid object path `{rel_path}` for S3 remote `{}`",
                    self.display_url()
                ),
            )));
        }
        Ok(if self.prefix.is_empty() {
            rel_path.to_string()
        } else {
            format!("{}/{rel_path}", self.prefix)
        })
    }

    /// The presigned (or, anonymous, plain) URL of `key`.
    fn signed_url(&self, key: &str) -> String {
        let sign = |t: &Target| {
            rusty_s3::actions::GetObject::new(&t.bucket, self.credentials.as_ref(), key)
                .sign(PRESIGN_TTL)
                .to_string()
        };
        match self.target.read() {
            Ok(t) => sign(&t),
            Err(poisoned) => sign(&poisoned.into_inner()),
        }
    }

    /// Switches to `region` after S3 said the bucket lives there. Returns
    /// `false` when nothing changed.
    fn switch_region(&self, region: &str) -> bool {
        let Ok(mut t) = self.target.write() else {
            return false;
        };
        if t.region == region {
            return false;
        }
        match make_bucket(self.endpoint.as_deref(), &self.bucket_name, region) {
            Ok(bucket) => {
                t.bucket = bucket;
                t.region = region.to_string();
                true
            }
            Err(_) => false,
        }
    }

    fn fail(&self, kind: ErrorKind, rel_path: &str, what: impl fmt::Display) -> Error {
        Error::new(
            kind,
            format!(
                "S3 remote `{}` (bucket `{}`): `{rel_path}`: {what}",
                self.display_url(),
                self.bucket_name
            ),
        )
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
        req.call().map_err(|e| self.transport_error(rel_path, e))
    }

    fn transport_error(&self, rel_path: &str, e: ureq::Error) -> FetchError {
        let msg = scrub(&e.to_string());
        match e {
            ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_) => {
                FetchError::Permanent(
                    self.fail(ErrorKind::Remote, rel_path, format!("TLS error: {msg}"))
                        .with_help("check the endpoint's certificate, or the remote's `ssl_verify` option (a CA bundle path, or `false`)"),
                )
            }
            ureq::Error::BadUri(_) | ureq::Error::RequireHttpsOnly(_) => {
                FetchError::Permanent(self.fail(ErrorKind::Remote, rel_path, msg))
            }
            _ => FetchError::Transient(self.fail(ErrorKind::Remote, rel_path, msg)),
        }
    }

    /// Turns a non-success answer into the right [`FetchError`].
    fn status_error(
        &self,
        rel_path: &str,
        status: u16,
        response: ureq::http::Response<ureq::Body>,
    ) -> FetchError {
        let (code, message) = s3_error(response);
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
            429 | 500..=599 => FetchError::Transient(self.fail(
                ErrorKind::Remote,
                rel_path,
                format!("HTTP {status}{detail}"),
            )),
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
            _ => FetchError::Permanent(self.fail(
                ErrorKind::Remote,
                rel_path,
                format!("HTTP {status}{detail}"),
            )),
        }
    }
}

impl Remote for S3Remote {
    fn display_url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket_name)
        } else {
            format!("s3://{}/{}", self.bucket_name, self.prefix)
        }
    }

    fn open(&self, rel_path: &str, offset: u64, end: Option<u64>) -> Result<Body, FetchError> {
        let key = self.key(rel_path)?;
        if let Some(end) = end
            && end <= offset
        {
            return Ok(Body {
                reader: Box::new(std::io::empty()),
                len: Some(0),
            });
        }
        let range = match end {
            Some(end) => Some(format!("bytes={offset}-{}", end - 1)),
            None if offset > 0 => Some(format!("bytes={offset}-")),
            None => None,
        };
        let mut response = self.send(rel_path, &key, range.as_deref())?;
        // A bucket in another region: S3 names it; sign again once, for it.
        let status = response.status().as_u16();
        if matches!(status, 301 | 307 | 400)
            && let Some(region) = response
                .headers()
                .get("x-amz-bucket-region")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
            && self.switch_region(&region)
        {
            response = self.send(rel_path, &key, range.as_deref())?;
        }
        let status = response.status().as_u16();
        let content_length = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        match status {
            206 => {
                let start = response
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(content_range_start);
                if start != Some(offset) {
                    return Err(FetchError::Transient(self.fail(
                        ErrorKind::Remote,
                        rel_path,
                        format!("the server answered a different range than bytes {offset}-"),
                    )));
                }
                Ok(Body {
                    reader: Box::new(response.into_body().into_reader()),
                    len: content_length,
                })
            }
            200 => {
                // The whole object: the server ignored `Range` (or none was
                // sent). Skip to `offset` and stop at `end` ourselves.
                let mut reader: Box<dyn Read + Send> = Box::new(response.into_body().into_reader());
                if offset > 0 {
                    let skipped =
                        std::io::copy(&mut reader.by_ref().take(offset), &mut std::io::sink())
                            .map_err(|e| {
                                FetchError::Transient(self.fail(
                                    ErrorKind::Remote,
                                    rel_path,
                                    scrub(&e.to_string()),
                                ))
                            })?;
                    if skipped < offset {
                        return Ok(Body {
                            reader: Box::new(std::io::empty()),
                            len: Some(0),
                        });
                    }
                }
                let mut len = content_length.map(|l| l.saturating_sub(offset));
                if let Some(end) = end {
                    let want = end - offset;
                    len = Some(len.map_or(want, |l| l.min(want)));
                    reader = Box::new(reader.take(want));
                }
                Ok(Body { reader, len })
            }
            // The range starts at or after the end of the object: nothing left.
            416 => Ok(Body {
                reader: Box::new(std::io::empty()),
                len: Some(0),
            }),
            _ => Err(self.status_error(rel_path, status, response)),
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers.

/// A remote option, trimmed; `None` when unset or empty.
fn opt<'a>(options: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    options
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
}

fn config_error(url: &str, what: impl fmt::Display) -> Error {
    Error::new(
        ErrorKind::Remote,
        format!("S3 remote `{}`: {what}", crate::redact::url(url)),
    )
}

/// Splits `s3://bucket/prefix` into the bucket and the trimmed prefix.
fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| config_error(url, "not an `s3://bucket/prefix` URL"))?;
    if rest.contains(['?', '#']) {
        return Err(config_error(
            url,
            "query strings and fragments are not supported in S3 remote URLs",
        ));
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() || bucket.contains('@') {
        return Err(config_error(url, "the URL names no bucket")
            .with_help("write the remote's `url` as `s3://bucket/prefix`"));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|s| s == "." || s == "..") {
        return Err(config_error(
            url,
            "`.` and `..` are not allowed in the prefix",
        ));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// DVC's booleans (configobj): `true/false`, `yes/no`, `on/off`, `1/0`.
fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Credentials from a key id and a secret; exactly one of the two is an error.
fn pair(
    key: Option<&str>,
    secret: Option<&str>,
    token: Option<&str>,
    what: &str,
    url: &str,
) -> Result<Option<Credentials>> {
    match (key, secret) {
        (Some(key), Some(secret)) => Ok(Some(match token {
            Some(token) => Credentials::new_with_token(key, secret, token),
            None => Credentials::new(key, secret),
        })),
        (None, None) => Ok(None),
        _ => Err(Error::new(
            ErrorKind::Auth,
            format!(
                "S3 remote `{}`: only one of {what} is set",
                crate::redact::url(url)
            ),
        )
        .with_help("set both the access key id and the secret access key, or neither")),
    }
}

fn expand_home(path: &str, home: Option<&Path>) -> PathBuf {
    match (
        path.strip_prefix("~/").or_else(|| path.strip_prefix("~\\")),
        home,
    ) {
        (Some(rest), Some(home)) => home.join(rest),
        _ if path == "~" => home.map_or_else(|| PathBuf::from(path), Path::to_path_buf),
        _ => PathBuf::from(path),
    }
}

fn display_opt_path(path: Option<&Path>) -> String {
    path.map_or_else(
        || "(no home directory)".to_string(),
        |p| p.display().to_string(),
    )
}

/// The config-file section of a profile: `[default]` or `[profile NAME]`.
fn config_section_name(profile: &str) -> String {
    if profile == "default" {
        "default".to_string()
    } else {
        format!("profile {profile}")
    }
}

/// A bucket name usable as a DNS label over HTTPS.
fn virtual_host_ok(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn make_bucket(
    endpoint: Option<&str>,
    name: &str,
    region: &str,
) -> std::result::Result<Bucket, String> {
    let (endpoint, style) = match endpoint {
        Some(e) => (e.to_string(), UrlStyle::Path),
        None => {
            let style = if virtual_host_ok(name) {
                UrlStyle::VirtualHost
            } else {
                UrlStyle::Path
            };
            (format!("https://s3.{region}.amazonaws.com"), style)
        }
    };
    let parsed = endpoint.parse().map_err(|e| {
        format!(
            "endpoint `{}` is not a valid URL: {e}",
            crate::redact::url(&endpoint)
        )
    })?;
    Bucket::new(parsed, style, name.to_string(), region.to_string()).map_err(|e| {
        format!(
            "cannot address bucket `{name}` at `{}`: {e:?}",
            crate::redact::url(&endpoint)
        )
    })
}

/// The HTTP agent: keep-alive, no redirects (S3 redirects are region errors),
/// statuses as values, DVC's timeouts and `ssl_verify`.
fn make_agent(url: &str, options: &BTreeMap<String, String>) -> Result<ureq::Agent> {
    let opt = |name: &str| opt(options, name);
    let seconds = |name: &str| -> Result<Duration> {
        match opt(name) {
            None => Ok(DEFAULT_TIMEOUT),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    config_error(url, format!("`{name} = {v}` is not a number of seconds"))
                }),
        }
    };
    let read_timeout = seconds("read_timeout")?;
    let connect_timeout = seconds("connect_timeout")?;
    let mut tls = ureq::tls::TlsConfig::builder();
    if let Some(v) = opt("ssl_verify") {
        match parse_bool(v) {
            Some(true) => {}
            Some(false) => tls = tls.disable_verification(true),
            None => {
                let path = Path::new(v);
                let pem = std::fs::read(path)
                    .map_err(|e| Error::io("read the `ssl_verify` CA bundle", path, e))?;
                let certs = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| config_error(url, format!("`ssl_verify` CA bundle `{v}`: {e}")))?;
                if certs.is_empty() {
                    return Err(config_error(
                        url,
                        format!("`ssl_verify` CA bundle `{v}` holds no certificate"),
                    ));
                }
                tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
            }
        }
    }
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(connect_timeout))
        .timeout_per_read(Some(read_timeout))
        .tls_config(tls.build())
        .user_agent(concat!("dvc-build/", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(config.new_agent())
}

/// The start offset of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(v: &str) -> Option<u64> {
    let range = v.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

/// `<Code>` and `<Message>` of an S3 error document, if any.
fn s3_error(response: ureq::http::Response<ureq::Body>) -> (Option<String>, Option<String>) {
    let mut text = String::new();
    let _ = response
        .into_body()
        .into_reader()
        .take(MAX_ERROR_BODY)
        .read_to_string(&mut text);
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find(&close)?;
        let value = text[start..start + len].trim();
        (!value.is_empty()).then(|| scrub(value).chars().take(300).collect::<String>())
    };
    (tag("Code"), tag("Message"))
}

/// `s` with the query string of every URL in it removed: presigned URLs carry
/// signatures there.
fn scrub(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_query = false;
    for c in s.chars() {
        if in_query {
            if c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '>' | '`') {
                in_query = false;
                out.push(c);
            }
        } else if c == '?' {
            in_query = true;
            out.push_str("?…");
        } else {
            out.push(c);
        }
    }
    out
}

/// A small reader for the AWS credentials and config files (INI as botocore
/// reads it: `[section]`, `key = value`, `#`/`;` comment lines, and indented
/// sub-keys such as `s3 =\n  addressing_style = path`, kept as `s3.addressing_style`).
struct Ini {
    sections: Vec<(String, Vec<(String, String)>)>,
}

/// One section of an [`Ini`].
#[derive(Clone, Copy)]
struct Section<'a>(&'a [(String, String)]);

impl<'a> Section<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

impl Ini {
    /// Reads `path`; `None` when it does not exist.
    fn load(path: &Path) -> Result<Option<Ini>> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(Ini::parse(&text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    fn parse(text: &str) -> Ini {
        let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
        let mut parent: Option<String> = None;
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
                sections.push((name, Vec::new()));
                parent = None;
                continue;
            }
            let Some((_, entries)) = sections.last_mut() else {
                continue;
            };
            let Some((key, value)) = trimmed.split_once(['=', ':']) else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim().to_string();
            let indented = line.starts_with([' ', '\t']);
            match (&parent, indented) {
                (Some(p), true) => entries.push((format!("{p}.{key}"), value)),
                _ => {
                    parent = value.is_empty().then(|| key.clone());
                    entries.push((key, value));
                }
            }
        }
        Ini { sections }
    }

    fn section(&self, name: &str) -> Option<Section<'_>> {
        self.sections
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, entries)| Section(entries))
    }
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

    #[test]
    fn ini_reads_sections_keys_and_subkeys() {
        let ini = Ini::parse(
            "# c\n[default]\naws_access_key_id = A\nAWS_Secret_Access_Key=B\n\n[profile  dev]\n\
             region = eu-west-1\ns3 =\n  addressing_style = path\nendpoint_url = http://x\n; c\n",
        );
        let d = ini.section("default").unwrap();
        assert_eq!(d.get("aws_access_key_id"), Some("A"));
        assert_eq!(d.get("aws_secret_access_key"), Some("B"));
        let dev = ini.section("profile dev").unwrap();
        assert_eq!(dev.get("region"), Some("eu-west-1"));
        assert_eq!(dev.get("s3.addressing_style"), Some("path"));
        assert_eq!(dev.get("endpoint_url"), Some("http://x"));
        assert!(ini.section("dev").is_none());
    }

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse_url("s3://b/p/q/").unwrap(),
            ("b".into(), "p/q".into())
        );
        assert_eq!(parse_url("s3://b").unwrap(), ("b".into(), "".into()));
        assert!(parse_url("s3:///p").is_err());
        assert!(parse_url("gs://b/p").is_err());
        assert!(parse_url("s3://b/../x").is_err());
    }

    #[test]
    fn scrub_removes_query_strings() {
        let s = scrub("GET http://h/b/k?X-Amz-Signature=abc&X-Amz-Credential=KEY failed");
        assert_eq!(s, "GET http://h/b/k?… failed");
    }

    #[test]
    fn content_range() {
        assert_eq!(content_range_start("bytes 10-19/100"), Some(10));
        assert_eq!(content_range_start("bytes */100"), None);
    }

    #[test]
    fn order_options_then_env_then_profile() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join(".aws")).unwrap();
        std::fs::write(
            home.path().join(".aws/credentials"),
            "[default]\naws_access_key_id=P\naws_secret_access_key=PS\n[other]\naws_access_key_id=O\naws_secret_access_key=OS\n",
        )
        .unwrap();
        std::fs::write(
            home.path().join(".aws/config"),
            "[profile cfg]\naws_access_key_id=C\naws_secret_access_key=CS\nregion = eu-central-1\n",
        )
        .unwrap();
        let h = home.path().to_str().unwrap();
        let url = "s3://bucket/p";
        let full_env = [
            ("HOME", h),
            ("AWS_ACCESS_KEY_ID", "E"),
            ("AWS_SECRET_ACCESS_KEY", "ES"),
        ];
        let both = opts(&[("access_key_id", "X"), ("secret_access_key", "XS")]);
        let r = S3Remote::open_with_env(url, &both, &env_of(&full_env)).unwrap();
        assert_eq!(r.credential_source(), &CredentialSource::Options);
        let r = S3Remote::open_with_env(url, &opts(&[]), &env_of(&full_env)).unwrap();
        assert_eq!(r.credential_source(), &CredentialSource::Environment);
        // An explicit profile beats the environment.
        let r = S3Remote::open_with_env(url, &opts(&[("profile", "other")]), &env_of(&full_env))
            .unwrap();
        assert!(
            matches!(r.credential_source(), CredentialSource::Profile { name, .. } if name == "other")
        );
        // AWS_PROFILE does not.
        let env2 = [
            ("HOME", h),
            ("AWS_PROFILE", "other"),
            ("AWS_ACCESS_KEY_ID", "E"),
            ("AWS_SECRET_ACCESS_KEY", "ES"),
        ];
        let r = S3Remote::open_with_env(url, &opts(&[]), &env_of(&env2)).unwrap();
        assert_eq!(r.credential_source(), &CredentialSource::Environment);
        let r = S3Remote::open_with_env(url, &opts(&[]), &env_of(&[("HOME", h)])).unwrap();
        assert!(
            matches!(r.credential_source(), CredentialSource::Profile { name, .. } if name == "default")
        );
        assert_eq!(r.region(), "us-east-1");
        assert_eq!(
            r.endpoint_url(),
            "https://bucket.s3.us-east-1.amazonaws.com/"
        );
        // The config file's `[profile NAME]`, and its region.
        let r = S3Remote::open_with_env(url, &opts(&[("profile", "cfg")]), &env_of(&[("HOME", h)]))
            .unwrap();
        assert!(
            matches!(r.credential_source(), CredentialSource::Profile { file, .. } if file.ends_with("config"))
        );
        assert_eq!(r.region(), "eu-central-1");
        // A profile that exists nowhere.
        let err =
            S3Remote::open_with_env(url, &opts(&[("profile", "nope")]), &env_of(&[("HOME", h)]))
                .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn anonymous_and_missing_and_partial() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap();
        let env = env_of(&[("HOME", h)]);
        let err = S3Remote::open_with_env("s3://bkt/x", &opts(&[]), &env).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert!(err.to_string().contains("bkt"), "{err}");
        assert!(err.to_string().contains("allow_anonymous_login"), "{err}");
        let r = S3Remote::open_with_env(
            "s3://bkt/x",
            &opts(&[("allow_anonymous_login", "True")]),
            &env,
        )
        .unwrap();
        assert_eq!(r.credential_source(), &CredentialSource::Anonymous);
        let err = S3Remote::open_with_env("s3://bkt/x", &opts(&[("access_key_id", "K")]), &env)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
    }

    #[test]
    fn endpoints_and_regions() {
        let env = env_of(&[
            ("HOME", "/nonexistent"),
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_DEFAULT_REGION", "eu-west-3"),
        ]);
        let r = S3Remote::open_with_env("s3://b.k/pre", &opts(&[]), &env).unwrap();
        assert_eq!(r.endpoint_url(), "http://127.0.0.1:9000/b.k/");
        assert_eq!(r.region(), "eu-west-3");
        let r = S3Remote::open_with_env(
            "s3://bkt/pre",
            &opts(&[("endpointurl", "https://minio:9000/"), ("region", "x-1")]),
            &env,
        )
        .unwrap();
        assert_eq!(r.endpoint_url(), "https://minio:9000/bkt/");
        assert_eq!(r.region(), "x-1");
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("very-secret"), "{dbg}");
        assert!(dbg.contains("AWS_ACCESS_KEY_ID"), "{dbg}");
        // Dotted names cannot be virtual hosts over https.
        let env = env_of(&[
            ("HOME", "/nonexistent"),
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]);
        let r = S3Remote::open_with_env("s3://b.k/pre", &opts(&[]), &env).unwrap();
        assert_eq!(r.endpoint_url(), "https://s3.us-east-1.amazonaws.com/b.k/");
    }

    #[test]
    fn rejects_bad_options() {
        let env = env_of(&[
            ("HOME", "/nonexistent"),
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]);
        for o in [
            opts(&[("read_timeout", "soon")]),
            opts(&[("allow_anonymous_login", "maybe")]),
            opts(&[("endpointurl", "ftp://x")]),
            opts(&[("sse_customer_key", "abc")]),
        ] {
            assert!(
                S3Remote::open_with_env("s3://b/p", &o, &env).is_err(),
                "{o:?}"
            );
        }
    }
}
