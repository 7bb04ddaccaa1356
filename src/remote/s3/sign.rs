//! Addressing and signing S3 requests: the bucket's base URL (virtual-hosted
//! or path style) and SigV4 presigned `GET` URLs, made by `rusty-s3`.

use std::time::Duration;

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

/// How long a presigned request stays valid; it is sent at once.
const PRESIGN_TTL: Duration = Duration::from_secs(15 * 60);

/// The parts of the target that a wrong-region answer can change.
pub(super) struct Target {
    pub bucket: Bucket,
    pub region: String,
}

/// The presigned (or, without credentials, plain) `GET` URL of `key`.
pub(super) fn presigned_get(
    target: &Target,
    credentials: Option<&Credentials>,
    key: &str,
) -> String {
    rusty_s3::actions::GetObject::new(&target.bucket, credentials, key)
        .sign(PRESIGN_TTL)
        .to_string()
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

/// The bucket `name` at `endpoint` (path-style), or on AWS in `region`
/// (virtual-hosted style when the name allows it).
pub(super) fn make_bucket(
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
