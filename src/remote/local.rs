//! A remote that is a folder on this machine (a local path or a `file://` URL).
//!
//! Objects are plain files under the folder; [`LocalRemote::open`] seeks to
//! the requested offset, so resuming and ranges cost nothing. A missing file
//! is [`FetchError::NotFound`]; every other failure is permanent (retrying a
//! local read does not help).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{Body, FetchError, Remote};
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
