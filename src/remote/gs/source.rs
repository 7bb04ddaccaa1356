//! A GCS object or prefix as the source of a URL import (`dvc import-url
//! gs://bucket/key`): the JSON API's object metadata (`GET
//! /storage/v1/b/B/o/NAME`) for one object, its listing (`GET
//! /storage/v1/b/B/o?prefix=...`, paged) for a prefix. DVC (dvc-data's
//! `Meta.from_info` for `gs`) pins an object by its `etag`, base64-decoded
//! and written in hex, and records its `generation` as `version_id`; a
//! prefix by the tree of its objects' ETags, as for S3.

use base64::Engine as _;

use super::{Auth, GcsRemote};
use crate::error::ErrorKind;
use crate::remote::{FetchError, ObjectInfo, Pin, rest};

/// Largest listing page or metadata document read.
const MAX_JSON_BYTES: u64 = 32 << 20;

impl GcsRemote {
    /// The object's size, ETag and generation; `None` when it does not exist.
    pub(super) fn object_info(&self, rel_path: &str) -> Result<Option<ObjectInfo>, FetchError> {
        let name = self.name(rel_path)?;
        let url = format!(
            "{}/storage/v1/b/{}/o/{}",
            self.endpoint,
            rest::encode(&self.bucket, false),
            rest::encode(&name, false)
        );
        match self.json(&url, rel_path)? {
            Some(meta) => self.info_of(rel_path, &meta).map(Some),
            None => Ok(None),
        }
    }

    /// Every object whose name starts with the folder `rel_path` + `/`.
    pub(super) fn list_folder(
        &self,
        rel_path: &str,
    ) -> Result<Vec<(String, ObjectInfo)>, FetchError> {
        let prefix = format!("{}/", self.name(rel_path)?);
        let mut out = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut url = format!(
                "{}/storage/v1/b/{}/o?prefix={}",
                self.endpoint,
                rest::encode(&self.bucket, false),
                rest::encode(&prefix, false)
            );
            if let Some(token) = &page {
                url.push_str(&format!("&pageToken={}", rest::encode(token, false)));
            }
            let Some(listing) = self.json(&url, rel_path)? else {
                return Ok(out);
            };
            for item in listing["items"].as_array().map_or(&[][..], Vec::as_slice) {
                let Some(rel) = item["name"].as_str().and_then(|n| n.strip_prefix(&prefix)) else {
                    continue;
                };
                // Folder placeholders (`dir/`) are not files.
                if rel.is_empty() || rel.ends_with('/') {
                    continue;
                }
                let mut info = self.info_of(rel_path, item)?;
                info.version_id = None;
                out.push((rel.to_string(), info));
            }
            match listing["nextPageToken"].as_str() {
                Some(next) if !next.is_empty() => page = Some(next.to_string()),
                _ => break,
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn name(&self, rel_path: &str) -> Result<String, FetchError> {
        rest::object_name(&self.prefix, rel_path).ok_or_else(|| {
            FetchError::Permanent(self.fail(ErrorKind::Remote, rel_path, "invalid object path"))
        })
    }

    /// What DVC records of an object resource.
    fn info_of(&self, rel_path: &str, meta: &serde_json::Value) -> Result<ObjectInfo, FetchError> {
        let bad = |what: &str| {
            FetchError::Permanent(self.fail(
                ErrorKind::Remote,
                rel_path,
                format!("the object's metadata has {what}"),
            ))
        };
        let size = match &meta["size"] {
            serde_json::Value::String(s) => {
                Some(s.parse::<u64>().map_err(|_| bad("a bad `size`"))?)
            }
            serde_json::Value::Number(n) => n.as_u64(),
            _ => None,
        };
        let etag = meta["etag"].as_str().ok_or_else(|| bad("no `etag`"))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(etag)
            .map_err(|_| bad("an `etag` that is not base64"))?;
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let version_id = match &meta["generation"] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        Ok(ObjectInfo {
            size,
            pin: Pin::Etag(hex),
            version_id,
        })
    }

    /// A JSON API `GET` with the remote's credentials (a refused token
    /// renewed once): the document, or `None` on 404 when the bucket exists.
    fn json(&self, url: &str, rel_path: &str) -> Result<Option<serde_json::Value>, FetchError> {
        let mut token = self.token(rel_path)?;
        let mut response = self.get(url, None, token.as_deref(), rel_path)?;
        if response.status().as_u16() == 401
            && let (Auth::Token(cache), Some(used)) = (&self.auth, &token)
        {
            cache.refused(used);
            token = self.token(rel_path)?;
            response = self.get(url, None, token.as_deref(), rel_path)?;
        }
        let status = response.status().as_u16();
        if status != 200 {
            return match self.status_error(rel_path, status, response, token.as_deref()) {
                FetchError::NotFound(_) => Ok(None),
                other => Err(other),
            };
        }
        let text = rest::body_bytes(response, MAX_JSON_BYTES).map_err(|e| {
            FetchError::Transient(self.fail(
                ErrorKind::Remote,
                rel_path,
                format!("reading the answer: {e}"),
            ))
        })?;
        serde_json::from_slice(&text).map(Some).map_err(|e| {
            FetchError::Permanent(self.fail(
                ErrorKind::Remote,
                rel_path,
                format!("the answer is not the JSON API's: {e}"),
            ))
        })
    }
}
