//! The HTTP side shared by the object-store remotes (`s3`, `gs`, `azure`):
//! the keep-alive agent, ranged `GET` answers, transport errors,
//! `Retry-After`, and keeping signed query strings out of messages.
//!
//! Each store signs its own requests and reads its own error documents; what
//! a ranged answer means is the same for all of them: `206` must start where
//! asked, a `200` (range ignored) is skipped to the offset and cut at the
//! end, and `416` past the end is an empty body.

use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind, Result};
use crate::remote::{Body, FetchError};

/// botocore's and gcsfs' default connect and read timeouts.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Error answers are small documents; read no more than this of them.
pub const MAX_ERROR_BODY: u64 = 64 * 1024;

/// The longest `Retry-After` honoured; a server asking for more is asked
/// again after this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The HTTP agent of a remote: keep-alive, no redirects (an object store's
/// redirects are errors to report, not to follow with a signature), statuses
/// as values.
pub fn agent(
    connect_timeout: Duration,
    read_timeout: Duration,
    tls: ureq::tls::TlsConfig,
) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_idle_connections_per_host(16)
        .timeout_connect(Some(connect_timeout))
        .timeout_per_read(Some(read_timeout))
        .tls_config(tls)
        .user_agent(concat!("dvc-build/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// A timeout option in seconds (`read_timeout = 30`); [`DEFAULT_TIMEOUT`]
/// when unset.
///
/// # Errors
///
/// `Err(message)` when the value is not a positive number.
pub fn seconds(name: &str, value: Option<&str>) -> std::result::Result<Duration, String> {
    match value {
        None => Ok(DEFAULT_TIMEOUT),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("`{name} = {v}` is not a number of seconds")),
    }
}

/// TLS settings trusting exactly the certificates of the PEM file at `path`
/// (an `ssl_verify` CA bundle, or `SSL_CERT_FILE`).
///
/// # Errors
///
/// An unreadable file ([`ErrorKind::Io`]), or `Err` with a message when it
/// holds no certificate or a malformed one; `fail` turns that message into
/// the remote's error.
pub fn trust_only(path: &Path, fail: &dyn Fn(String) -> Error) -> Result<ureq::tls::TlsConfig> {
    let pem = std::fs::read(path).map_err(|e| Error::io("read the CA bundle", path, e))?;
    let certs = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c.to_owned())),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| fail(format!("CA bundle `{}`: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(fail(format!(
            "CA bundle `{}` holds no certificate",
            path.display()
        )));
    }
    Ok(ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
        .build())
}

/// TLS settings for a store whose DVC plugin has no TLS option: the built-in
/// roots, or exactly the certificates in the PEM file `ssl_cert_file` (the
/// `SSL_CERT_FILE` variable, which OpenSSL, and so Python and DVC, read the
/// same way).
///
/// # Errors
///
/// As [`trust_only`].
pub fn tls_from_env(
    ssl_cert_file: Option<String>,
    fail: &dyn Fn(String) -> Error,
) -> Result<ureq::tls::TlsConfig> {
    match ssl_cert_file {
        Some(path) => trust_only(Path::new(&path), &|e| fail(format!("`SSL_CERT_FILE`: {e}"))),
        None => Ok(ureq::tls::TlsConfig::builder().build()),
    }
}

/// The object name of `rel_path` under `prefix` (no leading or trailing
/// `/`), or `None` when `rel_path` is not a plain relative path (empty
/// segments, `.`, `..`, `?`, `#`, `\`).
pub fn object_name(prefix: &str, rel_path: &str) -> Option<String> {
    let bad = rel_path.is_empty()
        || rel_path
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        || rel_path.contains(['?', '#', '\\']);
    if bad {
        None
    } else if prefix.is_empty() {
        Some(rel_path.to_string())
    } else {
        Some(format!("{prefix}/{rel_path}"))
    }
}

/// Splits `scheme://bucket/prefix` into the bucket (container) and the
/// trimmed prefix; `Err` with a message when it is not of that shape.
pub fn split_url<'u>(
    url: &'u str,
    scheme: &str,
) -> std::result::Result<(&'u str, &'u str), String> {
    let rest = url
        .strip_prefix(scheme)
        .and_then(|r| r.strip_prefix("://"))
        .ok_or_else(|| format!("not a `{scheme}://` URL"))?;
    if rest.contains(['?', '#']) {
        return Err(format!(
            "query strings and fragments are not supported in `{scheme}://` remote URLs"
        ));
    }
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.contains('@') {
        return Err("user-info is not supported in the URL".to_string());
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|s| s == "." || s == "..") {
        return Err("`.` and `..` are not allowed in the prefix".to_string());
    }
    Ok((bucket, prefix))
}

/// The `Range` header value for bytes `offset..end` (`None`: the whole
/// object from byte 0).
pub fn range(offset: u64, end: Option<u64>) -> Option<String> {
    match end {
        Some(end) => Some(format!("bytes={offset}-{}", end.saturating_sub(1))),
        None if offset > 0 => Some(format!("bytes={offset}-")),
        None => None,
    }
}

/// `true` for the statuses [`body`] handles: 200, 206 and 416.
pub fn is_body(status: u16) -> bool {
    matches!(status, 200 | 206 | 416)
}

/// The body of a `200`, `206` or `416` answer to a request for bytes
/// `offset..end`. `fail` makes the remote's error from a message.
///
/// # Errors
///
/// [`FetchError::Transient`] when a `206` starts elsewhere than asked, or
/// skipping to the offset of a `200` fails.
pub fn body(
    response: ureq::http::Response<ureq::Body>,
    offset: u64,
    end: Option<u64>,
    fail: &dyn Fn(String) -> Error,
) -> Result<Body, FetchError> {
    let status = response.status().as_u16();
    let content_length =
        header(&response, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    match status {
        206 => {
            let start = header(&response, "content-range").and_then(|v| content_range_start(&v));
            if start != Some(offset) {
                return Err(FetchError::Transient(fail(format!(
                    "the server answered a different range than bytes {offset}-"
                ))));
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
                        .map_err(|e| FetchError::Transient(fail(scrub(&e.to_string()))))?;
                if skipped < offset {
                    return Ok(empty());
                }
            }
            let mut len = content_length.map(|l| l.saturating_sub(offset));
            if let Some(end) = end {
                let want = end.saturating_sub(offset);
                len = Some(len.map_or(want, |l| l.min(want)));
                reader = Box::new(reader.take(want));
            }
            Ok(Body { reader, len })
        }
        // The range starts at or after the end of the object: nothing left.
        _ => Ok(empty()),
    }
}

/// An empty body.
pub fn empty() -> Body {
    Body {
        reader: Box::new(std::io::empty()),
        len: Some(0),
    }
}

/// A response header as text.
pub fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The start offset of a `Content-Range: bytes START-END/TOTAL` header.
pub fn content_range_start(v: &str) -> Option<u64> {
    let range = v.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

/// How long a `429`/`503` answer asked us to wait (`Retry-After`, in seconds
/// or as an HTTP date), at most [`MAX_RETRY_AFTER`].
pub fn retry_after(response: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    let v = header(response, "retry-after")?;
    let v = v.trim();
    let wait = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => parse_http_date(v)?
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// A transient failure: throttled with a `Retry-After` when the answer had
/// one.
pub fn transient(error: Error, response: &ureq::http::Response<ureq::Body>) -> FetchError {
    throttled(error, retry_after(response))
}

/// A transient failure: throttled for `retry_after` when the server asked
/// for a wait.
fn throttled(error: Error, retry_after: Option<Duration>) -> FetchError {
    match retry_after {
        Some(wait) => FetchError::Throttled(error, wait),
        None => FetchError::Transient(error),
    }
}

/// What a failed answer's `status` means when no rule of the store's own
/// says more: `429` (throttled) and `5xx` are worth trying again (after
/// the server's `Retry-After`, taken from the answer before its body was
/// read), anything else is permanent. `error` says what was asked and
/// what the server said.
pub fn status_failure(status: u16, error: Error, retry_after: Option<Duration>) -> FetchError {
    match status {
        429 | 500..=599 => throttled(error, retry_after),
        _ => FetchError::Permanent(error),
    }
}

/// How an object store's remote names itself in messages:
/// `scheme://bucket[/prefix]`.
pub fn store_url(scheme: &str, bucket: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        format!("{scheme}://{bucket}")
    } else {
        format!("{scheme}://{bucket}/{prefix}")
    }
}

/// Classifies a failed request: TLS problems (a refused certificate will be
/// refused again) and malformed URLs are permanent, everything else
/// (refused, reset, timed out) transient. `tls_help` says what to check for
/// a refused certificate.
pub fn transport_error(
    e: ureq::Error,
    fail: &dyn Fn(String) -> Error,
    tls_help: &str,
) -> FetchError {
    let msg = scrub(&e.to_string());
    // rustls reports a refused certificate as an I/O error.
    if matches!(&e, ureq::Error::Io(io) if io.to_string().to_ascii_lowercase().contains("certificate"))
    {
        return FetchError::Permanent(
            fail(format!("TLS error: {msg}")).with_help(tls_help.to_string()),
        );
    }
    match e {
        ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_) => {
            FetchError::Permanent(fail(format!("TLS error: {msg}")).with_help(tls_help.to_string()))
        }
        ureq::Error::BadUri(_) | ureq::Error::RequireHttpsOnly(_) => {
            FetchError::Permanent(fail(msg))
        }
        _ => FetchError::Transient(fail(msg)),
    }
}

/// The whole body of an answer read in one piece (a listing page, an
/// object's metadata), at most `limit` bytes.
pub fn body_bytes(response: ureq::http::Response<ureq::Body>, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    response
        .into_body()
        .into_reader()
        .take(limit)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// As [`body_bytes`], as UTF-8 text (anything else is an `InvalidData`
/// error).
pub fn body_text(response: ureq::http::Response<ureq::Body>, limit: u64) -> io::Result<String> {
    let mut text = String::new();
    response
        .into_body()
        .into_reader()
        .take(limit)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// The start of an error answer's body, as text (bounded, query strings
/// scrubbed).
pub fn error_text(response: ureq::http::Response<ureq::Body>) -> String {
    let mut text = String::new();
    let _ = response
        .into_body()
        .into_reader()
        .take(MAX_ERROR_BODY)
        .read_to_string(&mut text);
    scrub(&text)
}

/// The trimmed text of the first `<name>...</name>` element of an XML error
/// document (at most 300 characters).
pub fn xml_tag(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&close)?;
    let value = text[start..start + len].trim();
    (!value.is_empty()).then(|| value.chars().take(300).collect())
}

/// The raw (still escaped) text of the first `<name>...</name>` in `text`.
pub fn xml_element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&close)?;
    Some(text[start..start + len].to_string())
}

/// XML text with its five entities and character references decoded.
pub fn xml_unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let end = rest[amp..]
            .find(';')
            .ok_or_else(|| "an unterminated `&` in the XML".to_string())?;
        let entity = &rest[amp + 1..amp + end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => entity.strip_prefix('#').and_then(|d| d.parse().ok()),
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("an unknown XML entity `&{entity};`"))?
            }
        };
        out.push(c);
        rest = &rest[amp + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `s` with the query string of every URL in it removed: presigned URLs and
/// SAS tokens carry signatures there.
pub fn scrub(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_query = false;
    for c in s.chars() {
        if in_query {
            if c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '>' | '<' | '`') {
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

/// Percent-encodes `s` for a URL path segment or query value (everything
/// but RFC 3986's unreserved characters; `/` too unless `keep_slash`).
pub fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `t` as an HTTP date (IMF-fixdate), e.g. `Sun, 29 Nov 2026 13:20:01 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses an IMF-fixdate (`Sun, 29 Nov 2026 13:20:01 GMT`).
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let mut parts = s.split_whitespace().skip(1);
    let d: u32 = parts.next()?.parse().ok()?;
    let mon = parts.next()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let y: i64 = parts.next()?.parse().ok()?;
    let hms = parts.next()?;
    if parts.next() != Some("GMT") {
        return None;
    }
    time_of(y, m, d, hms)
}

/// Parses an ISO 8601 UTC time as Azure SAS tokens write it
/// (`2026-11-30T13:20:01Z`, optionally with fractions, or a bare date).
pub fn parse_iso8601(s: &str) -> Option<SystemTime> {
    let s = s.trim().trim_end_matches('Z');
    let (date, time) = s.split_once('T').unwrap_or((s, "00:00:00"));
    let mut ymd = date.split('-');
    let y = ymd.next()?.parse().ok()?;
    let m = ymd.next()?.parse().ok()?;
    let d = ymd.next()?.parse().ok()?;
    let time = time.split('.').next()?;
    let time = if time.len() == 5 {
        format!("{time}:00")
    } else {
        time.to_string()
    };
    time_of(y, m, d, &time)
}

fn time_of(y: i64, m: u32, d: u32, hms: &str) -> Option<SystemTime> {
    let mut t = hms.split(':');
    let h: u64 = t.next()?.parse().ok()?;
    let mi: u64 = t.next()?.parse().ok()?;
    let s: u64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + mi * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The error for a remote whose options are wrong.
pub fn config_error(kind: &str, url: &str, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Remote,
        format!("{kind} remote `{}`: {what}", crate::redact::url(url)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_query_strings() {
        let s = scrub("GET http://h/b/k?X-Amz-Signature=abc&X-Amz-Credential=KEY failed");
        assert_eq!(s, "GET http://h/b/k?… failed");
        assert_eq!(
            scrub("<Url>http://h/c?sv=1&sig=S</Url>"),
            "<Url>http://h/c?…</Url>"
        );
    }

    #[test]
    fn statuses_worth_retrying() {
        let err = || Error::new(ErrorKind::Remote, "HTTP");
        let wait = Duration::from_secs(3);
        assert!(matches!(
            status_failure(429, err(), Some(wait)),
            FetchError::Throttled(_, w) if w == wait
        ));
        assert!(matches!(
            status_failure(503, err(), None),
            FetchError::Transient(_)
        ));
        for status in [400, 404, 412, 600] {
            assert!(matches!(
                status_failure(status, err(), Some(wait)),
                FetchError::Permanent(_)
            ));
        }
        assert_eq!(store_url("gs", "b", ""), "gs://b");
        assert_eq!(store_url("s3", "b", "p/q"), "s3://b/p/q");
    }

    #[test]
    fn content_range() {
        assert_eq!(content_range_start("bytes 10-19/100"), Some(10));
        assert_eq!(content_range_start("bytes */100"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(range(0, None), None);
        assert_eq!(range(5, None).as_deref(), Some("bytes=5-"));
        assert_eq!(range(5, Some(10)).as_deref(), Some("bytes=5-9"));
    }

    #[test]
    fn dates_round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_958_401); // 2026-11-29T13:20:01Z
        assert_eq!(http_date(t), "Sun, 29 Nov 2026 13:20:01 GMT");
        assert_eq!(parse_http_date("Sun, 29 Nov 2026 13:20:01 GMT"), Some(t));
        assert_eq!(parse_iso8601("2026-11-29T13:20:01Z"), Some(t));
        assert_eq!(parse_iso8601("2026-11-29T13:20:01.1234567Z"), Some(t));
        assert_eq!(
            parse_iso8601("2026-11-29"),
            Some(t - Duration::from_secs(13 * 3600 + 20 * 60 + 1))
        );
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_iso8601("2026-13-01"), None);
        for days in [0i64, 59, 60, 365, 10_957, 20_000, 40_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn names_and_urls() {
        assert_eq!(
            object_name("", "files/md5/ab/c").as_deref(),
            Some("files/md5/ab/c")
        );
        assert_eq!(object_name("p/q", "a").as_deref(), Some("p/q/a"));
        for bad in ["", "a//b", "../x", "a/./b", "a?b", "a#b", "a\\b", "/a"] {
            assert_eq!(object_name("p", bad), None, "{bad}");
        }
        assert_eq!(split_url("gs://b/p/q/", "gs"), Ok(("b", "p/q")));
        assert_eq!(split_url("gs://b", "gs"), Ok(("b", "")));
        assert_eq!(split_url("azure:///p", "azure"), Ok(("", "p")));
        assert!(split_url("s3://b/p", "gs").is_err());
        assert!(split_url("gs://b/../x", "gs").is_err());
        assert!(split_url("gs://b/x?y", "gs").is_err());
    }

    #[test]
    fn encoding() {
        assert_eq!(encode("a b/c~d%", false), "a%20b%2Fc~d%25");
        assert_eq!(encode("a b/c", true), "a%20b/c");
    }

    #[test]
    fn timeouts() {
        assert_eq!(seconds("t", None), Ok(DEFAULT_TIMEOUT));
        assert_eq!(seconds("t", Some("1.5")), Ok(Duration::from_millis(1500)));
        assert!(seconds("t", Some("-1")).is_err());
    }
}
