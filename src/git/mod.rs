//! Git: finding a registry's revision and reading files at a commit.
//!
//! Modelled on Cargo's git source, in three small layers:
//!
//! - [`GitRemote`] (`remote.rs`): a URL and its canonical identity;
//! - [`GitDatabase`] (`db.rs`): a bare repository per remote, cached
//!   user-wide at `<cache_root>/git/db/<ident>` and shared by every project,
//!   that resolves revisions and fetches only what is missing;
//! - reading at a commit (`read.rs`): files, tree entries and blobs straight
//!   from the bare database, with no checkout.
//!
//! We drive the `git` command line (`cmd.rs`), as Cargo does with
//! `net.git-fetch-with-cli`, rather than link a git library: the build
//! dependency stays light, and ssh, https, credential helpers, proxies and
//! `insteadOf` rewrites all work exactly as they do for the user's own `git`.
//!
//! ```no_run
//! use dvc_build::__private::git::{GitDatabase, GitRemote, NetMode};
//! # fn main() -> dvc_build::Result<()> {
//! let remote = GitRemote::new("https://github.com/acme/model-registry")?;
//! let db = GitDatabase::open(std::path::Path::new("/home/me/.cache/dvc-build"), &remote)?;
//! let commit = db.resolve(Some("v1.2.0"), NetMode::Online)?;
//! let stage = db.read_file(&commit, "models/classifier.onnx.dvc")?;
//! # Ok(()) }
//! ```

mod cmd;
mod db;
mod read;
mod remote;

use std::fmt;
use std::str::FromStr;

pub use db::GitDatabase;
pub use remote::GitRemote;

/// Whether git ignores `name` (a file or, when `is_dir`, a folder in `dir`,
/// a folder of a work tree) by any rule: `.gitignore` files at any level,
/// `.git/info/exclude`, `core.excludesFile`. Tracked files count as ignored
/// when a rule says so, as DVC's own check has it. `None` when git cannot
/// tell (no git, not a repository).
#[cfg(feature = "cli")]
pub(crate) fn ignores(dir: &std::path::Path, name: &std::ffi::OsStr, is_dir: bool) -> Option<bool> {
    // `./`: a name starting with `:` is not pathspec magic.
    let mut path = std::ffi::OsString::from("./");
    path.push(name);
    if is_dir {
        // A pattern with a trailing `/` matches folders only; the folder
        // may not exist yet.
        path.push("/");
    }
    let status = cmd::git_in_work_tree(dir)
        // Paths here are pathnames, and check-ignore refuses literal magic.
        .env_remove("GIT_LITERAL_PATHSPECS")
        .args(["check-ignore", "-q", "--no-index", "--"])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    match status.code() {
        Some(0) => Some(true),
        Some(1) => Some(false),
        _ => None,
    }
}

/// The files git tracks at `rel` (a file, or anything below a folder) in
/// the work tree holding `dir`, relative to `dir`; empty outside a work
/// tree, `None` when git cannot tell.
#[cfg(feature = "cli")]
pub(crate) fn tracked(dir: &std::path::Path, rel: &std::path::Path) -> Option<Vec<String>> {
    let out = cmd::git_in_work_tree(dir)
        .args(["ls-files", "-z", "--"])
        .arg(rel)
        .stderr(std::process::Stdio::piped())
        .output()
        .ok()?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Not a repository: nothing is tracked.
        return stderr.contains("not a git repository").then(Vec::new);
    }
    Some(
        out.stdout
            .split(|b| *b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect(),
    )
}

/// `path` as git names it: `/`-separated, no `.` or empty parts; `..` refused.
pub(crate) fn normalize_path(path: &str) -> crate::error::Result<String> {
    read::normalize(path)
}

use crate::error::{Error, ErrorKind};

/// Whether git may use the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetMode {
    /// Fetch whatever is missing or may have moved.
    Online,
    /// Never touch the network; answer from the cache or fail with
    /// [`ErrorKind::Offline`].
    Offline,
}

impl NetMode {
    /// [`NetMode::Offline`] when `CARGO_NET_OFFLINE` is `true` (or `1`), as
    /// `cargo --offline` sets it for build scripts.
    pub fn from_env() -> NetMode {
        match std::env::var("CARGO_NET_OFFLINE") {
            Ok(v) if v.eq_ignore_ascii_case("true") || v == "1" => NetMode::Offline,
            _ => NetMode::Online,
        }
    }

    /// `true` for [`NetMode::Offline`].
    pub fn is_offline(self) -> bool {
        self == NetMode::Offline
    }
}

/// A full git object id: 40 hex digits (SHA-1) or 64 (SHA-256), lower case.
///
/// ```
/// use dvc_build::__private::git::Oid;
/// let oid: Oid = "67DBF8DA05796C4E8B417E9A50BB5389CC331DAD".parse().unwrap();
/// assert_eq!(oid.as_str(), "67dbf8da05796c4e8b417e9a50bb5389cc331dad");
/// assert!("67dbf8da".parse::<Oid>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid(String);

/// The id of a commit.
pub type CommitId = Oid;

impl Oid {
    /// The id as lower-case hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first `n` hex digits, for display.
    pub fn short(&self, n: usize) -> &str {
        &self.0[..n.min(self.0.len())]
    }

    /// `Some` when `s` is a full object id.
    pub fn parse(s: &str) -> Option<Oid> {
        let s = s.trim();
        ((s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Oid(s.to_ascii_lowercase()))
    }
}

impl FromStr for Oid {
    type Err = Error;
    fn from_str(s: &str) -> Result<Oid, Error> {
        Oid::parse(s).ok_or_else(|| {
            Error::new(
                ErrorKind::Git,
                format!("`{s}` is not a full git object id (40 or 64 hex digits)"),
            )
        })
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({})", self.0)
    }
}

/// What a tree entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A file (mode `100644` or `100755`).
    Blob,
    /// A directory.
    Tree,
    /// A symbolic link (mode `120000`); its blob holds the target path.
    Symlink,
    /// A submodule (mode `160000`); its id is a commit of another repository.
    Submodule,
}

impl std::fmt::Display for EntryKind {
    /// The kind in words: `file`, `folder`, `symbolic link`, `submodule`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EntryKind::Blob => "file",
            EntryKind::Tree => "folder",
            EntryKind::Symlink => "symbolic link",
            EntryKind::Submodule => "submodule",
        })
    }
}

/// One entry of a tree at a commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TreeEntry {
    /// `/`-separated: the full path for [`GitDatabase::entry`], the path
    /// relative to the listed folder for [`GitDatabase::list_dir`].
    pub path: String,
    /// File, folder, link or submodule.
    pub kind: EntryKind,
    /// The git file mode, e.g. `0o100644`.
    pub mode: u32,
    /// The object id (for a submodule, the commit it pins).
    pub oid: Oid,
    /// The size in bytes, for blobs and symlinks.
    pub size: Option<u64>,
}

impl TreeEntry {
    /// `true` for an executable file (mode `100755`).
    pub fn is_executable(&self) -> bool {
        self.kind == EntryKind::Blob && self.mode & 0o111 != 0
    }
}
