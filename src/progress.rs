//! Download progress: the [`Progress`] sink the engine reports received
//! bytes to (the CLI draws a progress bar from it), and [`CountingRemote`],
//! a [`Remote`] wrapper that counts the bytes its bodies yield.

use std::io::Read;
use std::sync::Arc;

use crate::remote::{Body, FetchError, ObjectInfo, Remote};

/// Told about bytes as they arrive from remotes, from any thread.
pub trait Progress: Send + Sync {
    /// `bytes` more were received.
    fn received(&self, bytes: u64);

    /// `bytes` in all are about to be downloaded (the size a DVC file
    /// records), so a bar can show the total and the time left.
    fn expect(&self, _bytes: u64) {}
}

/// A remote whose downloads report to a [`Progress`].
pub struct CountingRemote {
    inner: Arc<dyn Remote>,
    progress: Arc<dyn Progress>,
}

impl CountingRemote {
    /// Wraps `inner`, reporting to `progress`.
    pub fn new(inner: Arc<dyn Remote>, progress: Arc<dyn Progress>) -> CountingRemote {
        CountingRemote { inner, progress }
    }
}

impl Remote for CountingRemote {
    fn display_url(&self) -> String {
        self.inner.display_url()
    }

    fn open(&self, rel_path: &str, offset: u64, end: Option<u64>) -> Result<Body, FetchError> {
        let body = self.inner.open(rel_path, offset, end)?;
        Ok(Body {
            reader: Box::new(CountingReader {
                inner: body.reader,
                progress: Arc::clone(&self.progress),
            }),
            len: body.len,
        })
    }

    fn max_parallel(&self) -> usize {
        self.inner.max_parallel()
    }

    fn is_local(&self) -> bool {
        self.inner.is_local()
    }

    fn local_file(&self, rel_path: &str) -> Option<std::path::PathBuf> {
        self.inner.local_file(rel_path)
    }

    fn copied(&self, bytes: u64) {
        self.progress.received(bytes);
    }

    fn info(&self, rel_path: &str) -> Result<Option<ObjectInfo>, FetchError> {
        self.inner.info(rel_path)
    }

    fn list(&self, rel_path: &str) -> Result<Vec<(String, ObjectInfo)>, FetchError> {
        self.inner.list(rel_path)
    }
}

struct CountingReader {
    inner: Box<dyn Read + Send>,
    progress: Arc<dyn Progress>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.progress.received(n as u64);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Bytes(Vec<u8>);
    impl Remote for Bytes {
        fn display_url(&self) -> String {
            "mem".into()
        }
        fn open(&self, _: &str, offset: u64, _: Option<u64>) -> Result<Body, FetchError> {
            let rest = self.0[offset as usize..].to_vec();
            Ok(Body {
                len: Some(rest.len() as u64),
                reader: Box::new(std::io::Cursor::new(rest)),
            })
        }
    }

    #[derive(Default)]
    struct Count(AtomicU64);
    impl Progress for Count {
        fn received(&self, bytes: u64) {
            self.0.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    #[test]
    fn counts_every_byte_read() {
        let count = Arc::new(Count::default());
        let remote = CountingRemote::new(Arc::new(Bytes(vec![7; 10_000])), count.clone());
        let mut body = remote.open("x", 1000, None).unwrap();
        let mut out = Vec::new();
        body.reader.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 9_000);
        assert_eq!(count.0.load(Ordering::Relaxed), 9_000);
    }
}
