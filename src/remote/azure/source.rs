//! An Azure blob or prefix as the source of a URL import (`dvc import-url
//! azure://container/path`): a `HEAD` of the blob (its properties) for one
//! blob, the container's listing (`?restype=container&comp=list&prefix=`,
//! paged) for a prefix. DVC (dvc-data's `Meta.from_info` for `azure`) pins
//! a blob by its ETag in quotes, and a prefix by the tree of its blobs'.

use super::{Auth, AzureRemote};
use crate::error::ErrorKind;
use crate::remote::credentials::Token;
use crate::remote::{FetchError, ObjectInfo, Pin, rest};

/// A listing page larger than this is refused.
const MAX_PAGE_BYTES: u64 = 32 << 20;

/// An ETag as DVC records an Azure one: in double quotes.
fn quoted(etag: &str) -> String {
    if etag.starts_with('"') {
        etag.to_string()
    } else {
        format!("\"{etag}\"")
    }
}

impl AzureRemote {
    /// The blob's size and ETag; `None` when it does not exist.
    pub(super) fn blob_info(&self, rel_path: &str) -> Result<Option<ObjectInfo>, FetchError> {
        let name = self.name(rel_path)?;
        let path = format!(
            "/{}/{}",
            rest::encode(&self.container, false),
            rest::encode(&name, true)
        );
        let response = self.call("HEAD", &path, &[], rel_path)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return match self.status_error(rel_path, status, response) {
                FetchError::NotFound(_) => Ok(None),
                other => Err(other),
            };
        }
        let size = rest::header(&response, "content-length").and_then(|v| v.trim().parse().ok());
        let etag = rest::header(&response, "etag").ok_or_else(|| {
            FetchError::Permanent(self.fail(
                ErrorKind::Remote,
                rel_path,
                "the store sent no ETag for the blob",
            ))
        })?;
        Ok(Some(ObjectInfo {
            size,
            pin: Pin::Etag(quoted(&etag)),
            version_id: None,
        }))
    }

    /// Every blob whose name starts with the folder `rel_path` + `/`.
    pub(super) fn list_folder(
        &self,
        rel_path: &str,
    ) -> Result<Vec<(String, ObjectInfo)>, FetchError> {
        let prefix = format!("{}/", self.name(rel_path)?);
        let path = format!("/{}", rest::encode(&self.container, false));
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut query = vec![
                ("restype", "container"),
                ("comp", "list"),
                ("prefix", prefix.as_str()),
            ];
            if let Some(m) = &marker {
                query.push(("marker", m.as_str()));
            }
            let response = self.call("GET", &path, &query, rel_path)?;
            let status = response.status().as_u16();
            if status != 200 {
                return Err(self.status_error(rel_path, status, response));
            }
            let text = rest::body_text(response, MAX_PAGE_BYTES).map_err(|e| {
                FetchError::Transient(self.fail(
                    ErrorKind::Remote,
                    rel_path,
                    format!("reading the listing: {e}"),
                ))
            })?;
            let bad = |what: String| {
                FetchError::Permanent(self.fail(
                    ErrorKind::Remote,
                    rel_path,
                    format!("the listing is not Azure's List Blobs answer: {what}"),
                ))
            };
            let mut rest_text = text.as_str();
            while let Some(start) = rest_text.find("<Blob>") {
                let body_start = start + "<Blob>".len();
                let len = rest_text[body_start..]
                    .find("</Blob>")
                    .ok_or_else(|| bad("an unclosed <Blob>".into()))?;
                let body = &rest_text[body_start..body_start + len];
                rest_text = &rest_text[body_start + len..];
                let field = |n: &str| {
                    rest::xml_element(body, n)
                        .ok_or_else(|| bad(format!("a <Blob> without <{n}>")))
                        .and_then(|v| rest::xml_unescape(&v).map_err(bad))
                };
                let name = field("Name")?;
                let Some(rel) = name.strip_prefix(&prefix) else {
                    continue;
                };
                if rel.is_empty() || rel.ends_with('/') {
                    continue;
                }
                let size = field("Content-Length")?
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| bad("a <Content-Length> that is not a number".into()))?;
                out.push((
                    rel.to_string(),
                    ObjectInfo {
                        size: Some(size),
                        pin: Pin::Etag(quoted(&field("Etag")?)),
                        version_id: None,
                    },
                ));
            }
            let next = rest::xml_element(rest_text, "NextMarker")
                .map(|m| rest::xml_unescape(&m).map_err(bad))
                .transpose()?;
            match next {
                Some(m) if !m.is_empty() => marker = Some(m),
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

    /// A signed request; a refused token is exchanged again, once.
    fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        rel_path: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
        let mut token: Option<std::sync::Arc<Token>> = self.token(rel_path)?;
        let mut response = self.request(method, path, query, None, token.as_deref(), rel_path)?;
        let status = response.status().as_u16();
        let refused = status == 401
            || (status == 403
                && rest::header(&response, "x-ms-error-code").as_deref()
                    == Some("AuthenticationFailed"));
        if refused && let (Auth::Token(cache), Some(used)) = (&self.auth, &token) {
            cache.refused(used);
            token = self.token(rel_path)?;
            response = self.request(method, path, query, None, token.as_deref(), rel_path)?;
        }
        Ok(response)
    }
}
