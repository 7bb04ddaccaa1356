//! The one error type of the crate.
//!
//! Every failure a user can meet is an [`Error`]: a [`ErrorKind`] to match on,
//! a message, the dependency it concerns (when there is one) and a `help` line
//! that says what to do next. Errors never carry credentials: code that builds
//! a message from a URL passes it through [`crate::redact::url`] first.

use std::fmt;
use std::path::Path;

/// What went wrong, broadly; for callers that branch on the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `[package.metadata.dvc]` or the `Cargo.toml` around it is wrong.
    Manifest,
    /// A DVC file (`.dvc`, `dvc.lock`, `.dvc/config`, `.dir`) is malformed.
    Format,
    /// A git operation failed (clone, fetch, unknown revision, ...).
    Git,
    /// The path was not found in the source project.
    NotFound,
    /// A remote failed (network, server error, missing object).
    Remote,
    /// Credentials are missing or were refused.
    Auth,
    /// Downloaded or cached bytes do not match their hash or size.
    Integrity,
    /// A lock is missing or stale and writing it is not allowed.
    Locked,
    /// Network access is needed but offline mode is on.
    Offline,
    /// A feature DVC has that we do not support (a remote type, `import-db`).
    Unsupported,
    /// A local file-system operation failed.
    Io,
}

/// An error with enough context to act on.
///
/// ```
/// use dvc_build::{Error, ErrorKind};
/// let err = Error::new(ErrorKind::NotFound, "`models/x.onnx` is not in the project")
///     .with_dependency("classifier")
///     .with_help("check `path` in [package.metadata.dvc.deps.classifier]");
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert!(err.to_string().contains("classifier"));
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    dependency: Option<String>,
    help: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                dependency: None,
                help: None,
                source: None,
            }),
        }
    }

    /// An I/O error on `path`, saying what was being done (`"read"`, `"create"`).
    pub fn io(action: &str, path: &Path, err: std::io::Error) -> Self {
        Error::new(
            ErrorKind::Io,
            format!("failed to {action} `{}`: {err}", path.display()),
        )
        .with_source(err)
    }

    /// Names the dependency this error is about, unless one is named already.
    pub fn with_dependency(mut self, name: impl Into<String>) -> Self {
        if self.inner.dependency.is_none() {
            self.inner.dependency = Some(name.into());
        }
        self
    }

    /// Says what the user should do, unless a more specific hint is there already.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        if self.inner.help.is_none() {
            self.inner.help = Some(help.into());
        }
        self
    }

    /// Replaces the help line.
    pub fn replace_help(mut self, help: impl Into<String>) -> Self {
        self.inner.help = Some(help.into());
        self
    }

    /// Records the underlying error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// Puts `context` in front of the message: `"{context}: {message}"`.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.inner.message = format!("{context}: {}", self.inner.message);
        self
    }

    /// The broad category of the failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message, without dependency or help.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The dependency this error concerns, if any.
    pub fn dependency(&self) -> Option<&str> {
        self.inner.dependency.as_deref()
    }

    /// What to do about it, if known.
    pub fn help(&self) -> Option<&str> {
        self.inner.help.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(dep) = &self.inner.dependency {
            write!(f, "dependency `{dep}`: ")?;
        }
        f.write_str(&self.inner.message)?;
        if let Some(help) = &self.inner.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    // `Debug` is what `fetch().unwrap()` prints in a build script: make it the
    // readable message, not a struct dump.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
