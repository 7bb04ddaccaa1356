//! A remote that is a folder on this machine (a local path or a `file://` URL).
//!
//! Objects are plain files under the folder; [`LocalRemote::open`] seeks to
//! the requested offset, so resuming and ranges cost nothing. A missing file
//! is [`FetchError::NotFound`]; every other failure is permanent (retrying a
//! local read does not help).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{Body, FetchError, ObjectInfo, Pin, Remote};
use crate::error::{Error, ErrorKind};

/// A DVC remote in a local folder.
#[derive(Debug, Clone)]
pub struct LocalRemote {
    root: PathBuf,
}

impl LocalRemote {
    /// The remote rooted at `root` (which need not exist yet: a missing
    /// object is reported when it is opened).
    pub fn new(root: impl Into<PathBuf>) -> LocalRemote {
        LocalRemote { root: root.into() }
    }

    /// The remote's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file holding the object at `rel_path`.
    pub fn object_path(&self, rel_path: &str) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(rel_path.split('/').filter(|c| !c.is_empty()));
        path
    }
}

impl Remote for LocalRemote {
    fn display_url(&self) -> String {
        self.root.display().to_string()
    }

    fn open(&self, rel_path: &str, offset: u64, end: Option<u64>) -> Result<Body, FetchError> {
        let path = self.object_path(rel_path);
        let mut file = File::open(&path).map_err(|e| classify(&path, e))?;
        let total = file
            .metadata()
            .map_err(|e| FetchError::Permanent(Error::io("stat", &path, e)))?
            .len();
        let end = end.unwrap_or(total).min(total);
        let start = offset.min(end);
        file.seek(SeekFrom::Start(start))
            .map_err(|e| FetchError::Permanent(Error::io("seek in", &path, e)))?;
        let len = end - start;
        Ok(Body {
            reader: Box::new(file.take(len)),
            len: Some(len),
        })
    }

    fn max_parallel(&self) -> usize {
        4
    }

    fn is_local(&self) -> bool {
        true
    }

    fn local_file(&self, rel_path: &str) -> Option<PathBuf> {
        Some(self.object_path(rel_path))
    }

    /// A `stat` (following symbolic links, as DVC's local file system
    /// does): a file's size; DVC pins a local file by its content's MD5.
    fn info(&self, rel_path: &str) -> Result<Option<ObjectInfo>, FetchError> {
        let path = self.object_path(rel_path);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectInfo {
                size: Some(meta.len()),
                pin: Pin::ContentMd5,
                version_id: None,
            })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FetchError::Permanent(Error::io("stat", &path, e))),
        }
    }

    /// Every regular file under the folder, at any depth (symbolic links to
    /// files followed, to folders not), sorted by relative path.
    fn list(&self, rel_path: &str) -> Result<Vec<(String, ObjectInfo)>, FetchError> {
        let root = self.object_path(rel_path);
        let mut out = Vec::new();
        let mut pending = vec![(root.clone(), String::new())];
        while let Some((dir, prefix)) = pending.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if dir == root && e.kind() == io::ErrorKind::NotFound => return Ok(out),
                Err(e) if dir == root && e.kind() == io::ErrorKind::NotADirectory => {
                    return Ok(out);
                }
                Err(e) => return Err(FetchError::Permanent(Error::io("list", &dir, e))),
            };
            for entry in entries {
                let entry = entry.map_err(|e| FetchError::Permanent(Error::io("list", &dir, e)))?;
                let path = entry.path();
                let name = entry.file_name().into_string().map_err(|name| {
                    FetchError::Permanent(Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            "`{}` has a name that is not UTF-8",
                            Path::new(&name).display()
                        ),
                    ))
                })?;
                let rel = format!("{prefix}{name}");
                let kind = entry
                    .file_type()
                    .map_err(|e| FetchError::Permanent(Error::io("stat", &path, e)))?;
                if kind.is_dir() {
                    pending.push((path, format!("{rel}/")));
                    continue;
                }
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_file() => out.push((
                        rel,
                        ObjectInfo {
                            size: Some(meta.len()),
                            pin: Pin::ContentMd5,
                            version_id: None,
                        },
                    )),
                    // A link to a folder, a socket, a dangling link: not a file.
                    Ok(_) | Err(_) => {}
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

fn classify(path: &Path, err: io::Error) -> FetchError {
    if err.kind() == io::ErrorKind::NotFound {
        FetchError::NotFound(Error::new(
            ErrorKind::NotFound,
            format!("`{}` does not exist", path.display()),
        ))
    } else {
        FetchError::Permanent(Error::io("open", path, err))
    }
}
