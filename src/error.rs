//! The one error type of the crate.
//!
//! Every failure a user can meet is an [`Error`]: a [`ErrorKind`] to match on,
//! a message, the dependency it concerns (when there is one) and a `help` line
//! that says what to do next. Errors never carry credentials: code that builds
//! a message from a URL passes it through [`crate::redact::url`] first.
//!
//! A cause (an I/O error, the remote's own error) is kept in
//! [`std::error::Error::source`], never also copied into the message, as
//! cargo and ripgrep do. `{}` shows the message and the help line; `{:#}`
//! adds the causes on the same line (`message: cause: cause`); `{:?}` (what
//! `fetch().unwrap()` and `fn main() -> Result<(), dvc_build::Error>` print)
//! shows them as cargo does, under "Caused by:".

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
    /// A write into the crate would go through a symlink (and so, perhaps,
    /// outside the crate); refused, as `dvc` refuses it.
    Symlink,
    /// A write would overwrite or delete a user's own data (a modified
    /// output, files they added, a file git tracks); refused unless
    /// `--force`, as `dvc` refuses it.
    Conflict,
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

    /// An I/O error on `path`, saying what was being done (`"read"`,
    /// `"create"`); the I/O error is its cause.
    ///
    /// ```
    /// let err = dvc_build::Error::io(
    ///     "read",
    ///     std::path::Path::new("Cargo.toml"),
    ///     std::io::Error::from(std::io::ErrorKind::NotFound),
    /// );
    /// assert_eq!(err.to_string(), "failed to read `Cargo.toml`");
    /// assert_eq!(format!("{err:#}"), "failed to read `Cargo.toml`: entity not found");
    /// assert_eq!(
    ///     format!("{err:?}"),
    ///     "failed to read `Cargo.toml`\n\nCaused by:\n  entity not found"
    /// );
    /// ```
    pub fn io(action: &str, path: &Path, err: std::io::Error) -> Self {
        Error::new(
            ErrorKind::Io,
            format!("failed to {action} `{}`", path.display()),
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

    /// Records the underlying error: its text is shown as a cause, so do not
    /// repeat it in the message.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// Puts `context` in front of the message: `"{context}: {message}"`.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.inner.message = format!("{context}: {}", self.inner.message);
        self
    }

    /// Puts `text` after the message: `"{message}{text}"` (a location line).
    pub fn append_message(mut self, text: impl fmt::Display) -> Self {
        self.inner.message = format!("{}{text}", self.inner.message);
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

    /// The message followed by its causes, on one line (`message: cause`),
    /// without dependency or help: for a one-line report (a JSON field, a
    /// `cargo:warning`).
    pub fn message_with_causes(&self) -> String {
        let mut text = self.inner.message.clone();
        for cause in self.causes() {
            text.push_str(": ");
            text.push_str(&cause.to_string().replace('\n', " "));
        }
        text
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

impl Error {
    /// The causes, outermost first (the chain of [`std::error::Error::source`]).
    pub fn causes(&self) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
        let first = std::error::Error::source(self);
        std::iter::successors(first, |e| e.source())
    }
}

impl fmt::Display for Error {
    /// `dependency `x`: message`, then `  help: ...` on its own line. With
    /// `{:#}`, the causes follow the message: `message: cause: cause`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(dep) = &self.inner.dependency {
            write!(f, "dependency `{dep}`: ")?;
        }
        f.write_str(&self.inner.message)?;
        if f.alternate() {
            for cause in self.causes() {
                write!(f, ": {cause}")?;
            }
        }
        if let Some(help) = &self.inner.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    /// What `fetch().unwrap()` and `main() -> Result<(), Error>` print, and
    /// what `cargo dvc` prints after `error: `: the message, each cause under
    /// "Caused by:" (as cargo), then the help line. No struct dump.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(dep) = &self.inner.dependency {
            write!(f, "dependency `{dep}`: ")?;
        }
        f.write_str(&self.inner.message)?;
        let mut causes = self.causes().peekable();
        if causes.peek().is_some() {
            f.write_str("\n\nCaused by:")?;
            for cause in causes {
                for (i, line) in cause.to_string().lines().enumerate() {
                    let indent = if i == 0 { "  " } else { "    " };
                    write!(f, "\n{indent}{line}")?;
                }
            }
            if self.inner.help.is_some() {
                f.write_str("\n")?;
            }
        }
        if let Some(help) = &self.inner.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn io_error() -> Error {
        Error::io(
            "read",
            Path::new("x.dvc"),
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "Permission denied"),
        )
        .with_dependency("model")
        .with_help("check the file's permissions")
    }

    /// A cause is printed once, wherever the error is shown.
    #[test]
    fn a_cause_is_printed_once() {
        let err = io_error();
        let count = |text: &str| text.matches("Permission denied").count();
        assert_eq!(count(&err.to_string()), 0, "{err}");
        assert_eq!(count(&format!("{err:#}")), 1);
        assert_eq!(count(&format!("{err:?}")), 1);
        assert_eq!(count(&err.message_with_causes()), 1);
        // Wrapped in another error (as a build script's `?` into anyhow
        // would chain it): the cause still shows once.
        let outer = Error::new(ErrorKind::Io, "fetching failed").with_source(err);
        assert_eq!(count(&format!("{outer:?}")), 1, "{outer:?}");
        assert_eq!(count(&format!("{outer:#}")), 1, "{outer:#}");
    }

    /// `Debug` is what `fetch().unwrap()` prints: cargo's layout, no struct.
    #[test]
    fn debug_reads_like_cargo() {
        assert_eq!(
            format!("{:?}", io_error()),
            "dependency `model`: failed to read `x.dvc`\n\nCaused by:\n  Permission denied\n\n  help: check the file's permissions"
        );
        let plain = Error::new(ErrorKind::NotFound, "no such path").with_help("check `path`");
        assert_eq!(format!("{plain:?}"), "no such path\n  help: check `path`");
        assert_eq!(format!("{plain:?}"), plain.to_string());
        assert_eq!(
            format!("{:#}", io_error()),
            "dependency `model`: failed to read `x.dvc`: Permission denied\n  help: check the file's permissions"
        );
    }
}
