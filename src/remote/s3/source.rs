//! An S3 object or prefix as the source of a URL import (`dvc import-url
//! s3://bucket/key`): a signed `HeadObject` for one object's size and ETag,
//! and a signed `ListObjectsV2` (paged) for every object under a prefix.
//! DVC pins an S3 file by its ETag without the quotes, and a prefix by the
//! tree of its objects' ETags.

use std::time::Duration;

use rusty_s3::S3Action;

use super::S3Remote;
use crate::error::ErrorKind;
use crate::remote::{FetchError, ObjectInfo, Pin, rest};

/// How long a presigned request stays valid; it is sent at once.
const PRESIGN_TTL: Duration = Duration::from_secs(15 * 60);

/// Objects per `ListObjectsV2` page (S3's own maximum).
const PAGE: &str = "1000";

/// A listing page larger than this is refused (1000 keys of 1 KiB each,
/// and their XML, fit well within it).
const MAX_PAGE_BYTES: u64 = 16 << 20;

impl S3Remote {
    /// `HeadObject` of `rel_path`: its size and ETag; `None` on 404.
    pub(super) fn head_info(&self, rel_path: &str) -> Result<Option<ObjectInfo>, FetchError> {
        let key = self.key(rel_path)?;
        let response = self.call_signed(rel_path, "HEAD", |t, c| {
            rusty_s3::actions::HeadObject::new(&t.bucket, c, &key)
                .sign(PRESIGN_TTL)
                .to_string()
        })?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(self.status_error(rel_path, status, response));
        }
        let size = rest::header(&response, "content-length").and_then(|v| v.trim().parse().ok());
        let etag = rest::header(&response, "etag").ok_or_else(|| {
            FetchError::Permanent(self.fail(
                ErrorKind::Remote,
                rel_path,
                "the store sent no ETag for the object",
            ))
        })?;
        Ok(Some(ObjectInfo {
            size,
            pin: Pin::Etag(etag.trim_matches('"').to_string()),
            // DVC records no version of an object it does not read
            // version-aware (checked on an unversioned bucket).
            version_id: None,
        }))
    }

    /// `ListObjectsV2` of every object under the folder `rel_path`.
    pub(super) fn list_prefix(
        &self,
        rel_path: &str,
    ) -> Result<Vec<(String, ObjectInfo)>, FetchError> {
        let prefix = format!("{}/", self.key(rel_path)?);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let response = self.call_signed(rel_path, "GET", |t, c| {
                // A `GET` of the bucket itself with `list-type=2`.
                let mut action = rusty_s3::actions::GetObject::new(&t.bucket, c, "");
                let query = action.query_mut();
                query.insert("list-type", "2");
                query.insert("prefix", prefix.clone());
                query.insert("max-keys", PAGE);
                if let Some(token) = &token {
                    query.insert("continuation-token", token.clone());
                }
                action.sign(PRESIGN_TTL).to_string()
            })?;
            let status = response.status().as_u16();
            if !(200..300).contains(&status) {
                return Err(self.status_error(rel_path, status, response));
            }
            let text = rest::body_text(response, MAX_PAGE_BYTES).map_err(|e| {
                FetchError::Transient(self.fail(
                    ErrorKind::Remote,
                    rel_path,
                    format!("reading the listing: {e}"),
                ))
            })?;
            let page = parse_listing(&text).map_err(|what| {
                FetchError::Permanent(self.fail(
                    ErrorKind::Remote,
                    rel_path,
                    format!("the listing is not S3's ListObjectsV2 answer: {what}"),
                ))
            })?;
            for (key, etag, size) in page.objects {
                let Some(rel) = key.strip_prefix(&prefix) else {
                    continue;
                };
                // Folder markers (`dir/`) are not files.
                if rel.is_empty() || rel.ends_with('/') {
                    continue;
                }
                out.push((
                    rel.to_string(),
                    ObjectInfo {
                        size: Some(size),
                        pin: Pin::Etag(etag.trim_matches('"').to_string()),
                        version_id: None,
                    },
                ));
            }
            match page.next {
                Some(next) if page.truncated => token = Some(next),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Sends the request `sign` presigns (for `method`), signing it again
    /// for the bucket's region when S3 names another one.
    fn call_signed(
        &self,
        rel_path: &str,
        method: &str,
        sign: impl Fn(&super::sign::Target, Option<&rusty_s3::Credentials>) -> String,
    ) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
        let send = || {
            let url = match self.target.read() {
                Ok(t) => sign(&t, self.credentials.as_ref()),
                Err(poisoned) => sign(&poisoned.into_inner(), self.credentials.as_ref()),
            };
            let request = match method {
                "HEAD" => self.agent.head(&url),
                _ => self.agent.get(&url),
            };
            request.call().map_err(|e| {
                rest::transport_error(
                    e,
                    &|msg| self.fail(ErrorKind::Remote, rel_path, msg),
                    "check the endpoint's certificate, or the `ssl_verify` option (a CA bundle path, or `false`)",
                )
            })
        };
        let response = send()?;
        let status = response.status().as_u16();
        if matches!(status, 301 | 307 | 400)
            && let Some(region) = rest::header(&response, "x-amz-bucket-region")
            && self.switch_region(&region)
        {
            return send();
        }
        Ok(response)
    }
}

/// One page of a `ListObjectsV2` answer.
#[derive(Debug, Default, PartialEq, Eq)]
struct Listing {
    /// `(Key, ETag, Size)` of every `<Contents>`.
    objects: Vec<(String, String, u64)>,
    truncated: bool,
    next: Option<String>,
}

/// Reads a `ListObjectsV2Result` document: its `<Contents>` elements,
/// `<IsTruncated>` and `<NextContinuationToken>`.
fn parse_listing(text: &str) -> Result<Listing, String> {
    if !text.contains("<ListBucketResult") {
        return Err("no <ListBucketResult>".to_string());
    }
    let mut listing = Listing::default();
    let mut rest = text;
    while let Some(start) = rest.find("<Contents>") {
        let body_start = start + "<Contents>".len();
        let len = rest[body_start..]
            .find("</Contents>")
            .ok_or("an unclosed <Contents>")?;
        let body = &rest[body_start..body_start + len];
        let field = |name: &str| {
            rest::xml_element(body, name).ok_or(format!("a <Contents> without <{name}>"))
        };
        let key = rest::xml_unescape(&field("Key")?)?;
        let etag = rest::xml_unescape(&field("ETag")?)?;
        let size = field("Size")?
            .trim()
            .parse::<u64>()
            .map_err(|_| "a <Size> that is not a number".to_string())?;
        listing.objects.push((key, etag, size));
        rest = &rest[body_start + len..];
    }
    let outside: String = text
        .split("<Contents>")
        .map(|part| {
            part.split_once("</Contents>")
                .map_or(part, |(_, after)| after)
        })
        .collect();
    listing.truncated =
        rest::xml_element(&outside, "IsTruncated").is_some_and(|v| v.trim() == "true");
    listing.next = rest::xml_element(&outside, "NextContinuationToken")
        .map(|t| rest::xml_unescape(&t))
        .transpose()?;
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_listing_page() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>dir/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>dir/a &amp; b.txt</Key><LastModified>2026-11-29T13:00:00Z</LastModified><ETag>&quot;60b725f10c9c85c70d97880dfe8191b3&quot;</ETag><Size>2</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>dir/sub/b.txt</Key><ETag>"bfcc9da4f2e1d313c63cd0a4ee7604e9-3"</ETag><Size>3</Size></Contents>
<NextContinuationToken>tok&#x2F;en</NextContinuationToken></ListBucketResult>"#;
        let page = parse_listing(xml).unwrap();
        assert_eq!(
            page.objects,
            vec![
                (
                    "dir/a & b.txt".to_string(),
                    "\"60b725f10c9c85c70d97880dfe8191b3\"".to_string(),
                    2
                ),
                (
                    "dir/sub/b.txt".to_string(),
                    "\"bfcc9da4f2e1d313c63cd0a4ee7604e9-3\"".to_string(),
                    3
                ),
            ]
        );
        assert!(page.truncated);
        assert_eq!(page.next.as_deref(), Some("tok/en"));
        assert!(parse_listing("<Error><Code>NoSuchBucket</Code></Error>").is_err());
        assert!(
            parse_listing("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>")
                .is_err()
        );
        assert!(rest::xml_unescape("&bogus;").is_err());
    }
}
