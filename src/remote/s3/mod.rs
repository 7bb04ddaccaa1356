//! S3 and S3-compatible remotes (`s3://bucket/prefix`).
//!
//! Objects are read with `GET` requests signed with AWS Signature Version 4
//! (presigned URLs made by `rusty-s3`, in `sign.rs`), over one shared
//! keep-alive HTTP agent (`client.rs`).
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
//! botocore); the first source that yields credentials wins. It is written
//! out as one chain in `credentials.rs`:
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

mod client;
mod credentials;
mod sign;
mod source;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::RwLock;

use rusty_s3::Credentials;

use self::credentials::AwsFiles;
pub use self::credentials::CredentialSource;
use self::sign::Target;
use crate::error::{Error, ErrorKind, Result};
use crate::remote::credentials::{Context, parse_bool};
use crate::remote::{FetchError, Remote};

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
        let cx = Context::new(url, options, env);
        let (bucket_name, prefix) = parse_url(url)?;

        if cx.option("sse_customer_key").is_some() {
            return Err(config_error(
                url,
                "`sse_customer_key` (SSE-C encryption) is not supported for reading",
            )
            .with_help("read the remote with `dvc pull`, or store its objects without SSE-C"));
        }

        let files = AwsFiles::read(&cx)?;
        let (credentials, source) = credentials::resolve(&cx, &files, &bucket_name)?;

        // Region and endpoint.
        let profile_config = files.config_section();
        let region = cx
            .option("region")
            .map(str::to_string)
            .or_else(|| cx.env("AWS_DEFAULT_REGION"))
            .or_else(|| cx.env("AWS_REGION"))
            .or_else(|| {
                profile_config
                    .and_then(|s| s.get("region"))
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "us-east-1".to_string());
        let ignore_configured = cx
            .env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .or_else(|| {
                profile_config
                    .and_then(|s| s.get("ignore_configured_endpoint_urls"))
                    .map(str::to_string)
            })
            .and_then(|v| parse_bool(&v))
            .unwrap_or(false);
        let endpoint = cx.option("endpointurl").map(str::to_string).or_else(|| {
            if ignore_configured {
                return None;
            }
            cx.env("AWS_ENDPOINT_URL_S3")
                .or_else(|| cx.env("AWS_ENDPOINT_URL"))
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
        let bucket = sign::make_bucket(endpoint.as_deref(), &bucket_name, &region)
            .map_err(|e| config_error(url, e))?;

        let agent = client::make_agent(url, options)?;
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
    crate::remote::rest::config_error("S3", url, what)
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
