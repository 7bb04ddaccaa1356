//! Writing into a folder we do not own (a crate, a workspace, the folder a
//! user named for `get`), confined to it: the only way dvc-build writes into
//! a user's tree.
//!
//! A [`Dir`] is an open handle on a folder. Paths below it are resolved one
//! component at a time, each opened relative to the handle of its parent
//! with `O_NOFOLLOW` (`openat`, `mkdirat`, `renameat`, `linkat`,
//! `unlinkat`), so:
//!
//! - **No symlink is ever followed below the root.** A symlinked folder on
//!   the way, or a symlink where a file is written, is an
//!   [`ErrorKind::Symlink`] error naming the path, the symlink and where it
//!   points, as `dvc` refuses "files inside symlinked directories".
//! - **A symlink swapped in after a check cannot redirect a write.** The
//!   write happens relative to a handle opened no-follow, not to a path
//!   resolved again later.
//! - **New files get the user's umask** (created `0666 & !umask`, as `dvc`
//!   and every editor create them); a replaced file keeps its mode.
//! - **Replacing is atomic.** A file is written at a hidden sibling
//!   (`.<name>.dvc-build-<pid>-<n>`) and renamed over its name.
//!
//! The root itself is opened as given (following symlinks): the crate, or
//! the folder a user chose, is theirs to place where they like.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, ErrorKind, Result};

/// An open folder inside a confined tree (or its root).
#[derive(Debug)]
pub struct Dir {
    /// Where it is, for messages (the root's path joined with the
    /// components walked).
    path: PathBuf,
    #[cfg(unix)]
    fd: rustix::fd::OwnedFd,
}

/// What a directory entry is, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link (never followed).
    Symlink,
    /// Anything else (a socket, a device, a FIFO).
    Other,
}

/// What `stat` (without following symlinks) says about an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// The entry's kind.
    pub kind: Kind,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, in nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Last status change, in nanoseconds since the epoch.
    pub ctime_ns: i128,
    /// Inode number (0 where there is none).
    pub ino: u64,
    /// Device (0 where there is none).
    pub dev: u64,
    /// Hard links.
    pub nlink: u64,
    /// The full `st_mode` (type and permission bits).
    pub mode: u32,
}

impl Meta {
    /// The permission bits (`0o7777`).
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }

    /// `true` for a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == Kind::File
    }

    /// `true` for a folder.
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
}

/// Splits a relative path into its components; anything but plain names
/// (`..`, `.`, a root, a prefix, an empty path) is refused: callers pass
/// validated `out` paths and `.dir` relpaths.
pub fn components(rel: &Path) -> Result<Vec<&OsStr>> {
    let mut parts = Vec::new();
    for comp in rel.components() {
        match comp {
            Component::Normal(name) => parts.push(name),
            _ => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "`{}` is not a plain relative path inside the folder",
                        rel.display()
                    ),
                ));
            }
        }
    }
    if parts.is_empty() {
        return Err(Error::new(ErrorKind::Io, "an empty path names no file"));
    }
    Ok(parts)
}

/// `rel` split into its folder part (possibly empty) and its last component.
pub fn split(rel: &Path) -> Result<(PathBuf, OsString)> {
    let mut parts = components(rel)?;
    let name = parts.pop().map(OsStr::to_os_string).unwrap_or_default();
    Ok((parts.iter().collect(), name))
}

/// A unique hidden sibling name for `name`: `.<name>.dvc-build-<pid>-<n>`.
pub fn temp_name(name: &OsStr) -> OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".dvc-build-{}-{n}", std::process::id()));
    tmp
}

/// The prefix of every [`temp_name`] of `name`.
pub fn temp_prefix(name: &OsStr) -> OsString {
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".dvc-build-");
    prefix
}

/// The error for a symlink met at `path` (pointing at `target`) while
/// writing `wanted` (relative to the root, for the message).
fn symlink_error(path: &Path, target: &Path, wanted: &Path, is_last: bool) -> Error {
    let message = if is_last {
        format!(
            "`{}` is a symlink (to `{}`); dvc-build does not write through symlinks",
            path.display(),
            target.display()
        )
    } else {
        format!(
            "cannot write `{}` inside a symlinked folder: `{}` is a symlink to `{}`",
            wanted.display(),
            path.display(),
            target.display()
        )
    };
    Error::new(ErrorKind::Symlink, message).with_help(
        "dvc-build writes only inside the crate and never through a symlink \
         (dvc refuses this too: \"Cannot add files inside symlinked directories\"); \
         replace the symlink with a real folder or file, or choose another `out`",
    )
}

impl Dir {
    /// The folder at `path` (which must exist), following symlinks in
    /// `path` itself: it is the root the caller chose.
    pub fn open_root(path: &Path) -> Result<Dir> {
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            let fd = rustix::fs::open(
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::io("open the folder", path, e.into()))?;
            Ok(Dir {
                path: path.to_path_buf(),
                fd,
            })
        }
        #[cfg(not(unix))]
        {
            let meta =
                std::fs::metadata(path).map_err(|e| Error::io("open the folder", path, e))?;
            if !meta.is_dir() {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("`{}` is not a folder", path.display()),
                ));
            }
            Ok(Dir {
                path: path.to_path_buf(),
            })
        }
    }

    /// As [`Dir::open_root`], creating the folder (and its parents) first
    /// when missing: for folders that are ours (`OUT_DIR`), or that the
    /// user named.
    pub fn create_root(path: &Path) -> Result<Dir> {
        std::fs::create_dir_all(path).map_err(|e| Error::io("create", path, e))?;
        Dir::open_root(path)
    }

    /// Where this folder is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder at `rel` below this one (`rel` may be empty: this folder
    /// again), every component opened without following symlinks; missing
    /// ones are created when `create`, else the answer is `None`. A symlink
    /// on the way is an [`ErrorKind::Symlink`] error, a file an
    /// [`ErrorKind::Io`] one.
    pub fn open_dir(&self, rel: &Path, create: bool) -> Result<Option<Dir>> {
        self.walk(rel, create, rel)
    }

    /// [`Dir::open_dir`], with `wanted` (what is being written) for messages.
    fn walk(&self, rel: &Path, create: bool, wanted: &Path) -> Result<Option<Dir>> {
        let mut current = self.try_clone()?;
        for comp in rel.components() {
            let Component::Normal(name) = comp else {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("`{}` is not a plain relative path", rel.display()),
                ));
            };
            match current.sub(name, create, wanted)? {
                Some(next) => current = next,
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    /// The folder holding `rel` and `rel`'s last component (see
    /// [`Dir::open_dir`]).
    pub fn parent_of(&self, rel: &Path, create: bool) -> Result<Option<(Dir, OsString)>> {
        let (parent, name) = split(rel)?;
        Ok(self.walk(&parent, create, rel)?.map(|dir| (dir, name)))
    }

    /// Checks that `rel` could be written: no symlink in any existing
    /// folder on its way, and not itself a symlink. Nothing is created.
    /// (Writes check again as they happen; this is for refusing before any
    /// work is done.) Returns what is at `rel` now, if anything.
    pub fn check_writable(&self, rel: &Path) -> Result<Option<Meta>> {
        let Some((dir, name)) = self.parent_of(rel, false)? else {
            return Ok(None);
        };
        match dir.stat(&name)? {
            Some(meta) if meta.kind == Kind::Symlink => Err(dir.symlink_error_at(&name, rel, true)),
            found => Ok(found),
        }
    }

    /// The subfolder `name`, opened without following a symlink.
    fn sub(&self, name: &OsStr, create: bool, wanted: &Path) -> Result<Option<Dir>> {
        let path = self.path.join(name);
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            use rustix::io::Errno;
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let mut created = false;
            loop {
                match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
                    Ok(fd) => return Ok(Some(Dir { path, fd })),
                    Err(Errno::NOENT) if create && !created => {
                        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
                            Ok(()) | Err(Errno::EXIST) => created = true,
                            Err(e) => return Err(Error::io("create", &path, e.into())),
                        }
                    }
                    Err(Errno::NOENT) => return Ok(None),
                    Err(Errno::LOOP | Errno::NOTDIR) => {
                        return Err(match self.stat(name)? {
                            Some(meta) if meta.kind == Kind::Symlink => {
                                self.symlink_error_at(name, wanted, false)
                            }
                            _ => Error::new(
                                ErrorKind::Io,
                                format!(
                                    "`{}` is not a folder, but `{}` needs one there",
                                    path.display(),
                                    wanted.display()
                                ),
                            )
                            .with_help("remove or rename it, or choose another `out`"),
                        });
                    }
                    Err(e) => return Err(Error::io("open the folder", &path, e.into())),
                }
            }
        }
        #[cfg(not(unix))]
        {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    Err(self.symlink_error_at(name, wanted, false))
                }
                Ok(m) if m.is_dir() => Ok(Some(Dir { path })),
                Ok(_) => Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "`{}` is not a folder, but `{}` needs one there",
                        path.display(),
                        wanted.display()
                    ),
                )),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    std::fs::create_dir(&path)
                        .or_else(|e| {
                            if e.kind() == io::ErrorKind::AlreadyExists {
                                Ok(())
                            } else {
                                Err(e)
                            }
                        })
                        .map_err(|e| Error::io("create", &path, e))?;
                    self.sub(name, false, wanted)
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io("open the folder", &path, e)),
            }
        }
    }

    /// The subfolder `name` (one component), created when missing and
    /// `create`.
    pub fn subdir(&self, name: &OsStr, create: bool) -> Result<Option<Dir>> {
        let wanted = PathBuf::from(name);
        self.sub(name, create, &wanted)
    }

    /// The symlink error for entry `name`, reading where it points.
    fn symlink_error_at(&self, name: &OsStr, wanted: &Path, is_last: bool) -> Error {
        let target = self.read_link(name).unwrap_or_else(|| PathBuf::from("?"));
        symlink_error(&self.path.join(name), &target, wanted, is_last)
    }

    /// Where the symlink `name` points, if it is one.
    pub fn read_link(&self, name: &OsStr) -> Option<PathBuf> {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            rustix::fs::readlinkat(&self.fd, name, Vec::new())
                .ok()
                .map(|c| PathBuf::from(OsString::from_vec(c.into_bytes())))
        }
        #[cfg(not(unix))]
        {
            std::fs::read_link(self.path.join(name)).ok()
        }
    }

    /// A second handle on this folder.
    pub fn try_clone(&self) -> Result<Dir> {
        #[cfg(unix)]
        {
            let fd = self
                .fd
                .try_clone()
                .map_err(|e| Error::io("open the folder", &self.path, e))?;
            Ok(Dir {
                path: self.path.clone(),
                fd,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Dir {
                path: self.path.clone(),
            })
        }
    }

    /// The handle, for `*at` calls relative to this folder.
    #[cfg(unix)]
    pub fn fd(&self) -> rustix::fd::BorrowedFd<'_> {
        use rustix::fd::AsFd;
        self.fd.as_fd()
    }

    /// The entry `name` as it is (a symlink is described, not followed);
    /// `None` when there is none.
    pub fn stat(&self, name: &OsStr) -> Result<Option<Meta>> {
        #[cfg(unix)]
        {
            use rustix::fs::AtFlags;
            match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Ok(Some(meta_of(&st))),
                Err(rustix::io::Errno::NOENT) => Ok(None),
                Err(e) => Err(Error::io("stat", &self.path.join(name), e.into())),
            }
        }
        #[cfg(not(unix))]
        {
            let path = self.path.join(name);
            match std::fs::symlink_metadata(&path) {
                Ok(m) => Ok(Some(meta_of_std(&m))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io("stat", &path, e)),
            }
        }
    }

    /// Opens the file `name` for reading, refusing a symlink; `None` when
    /// there is no such entry.
    pub fn open_file(&self, name: &OsStr) -> Result<Option<File>> {
        let path = self.path.join(name);
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            use rustix::io::Errno;
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
            match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
                Ok(fd) => Ok(Some(File::from(fd))),
                Err(Errno::NOENT) => Ok(None),
                Err(Errno::LOOP) => Err(self.symlink_error_at(name, Path::new(name), true)),
                Err(e) => Err(Error::io("open", &path, e.into())),
            }
        }
        #[cfg(not(unix))]
        {
            if self.stat(name)?.is_some_and(|m| m.kind == Kind::Symlink) {
                return Err(self.symlink_error_at(name, Path::new(name), true));
            }
            match File::open(&path) {
                Ok(f) => Ok(Some(f)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::io("open", &path, e)),
            }
        }
    }

    /// The text of the file `name` (never through a symlink); `None` when
    /// there is none.
    pub fn read_to_string(&self, name: &OsStr) -> Result<Option<String>> {
        let Some(mut file) = self.open_file(name)? else {
            return Ok(None);
        };
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| Error::io("read", &self.path.join(name), e))?;
        Ok(Some(text))
    }

    /// Creates the new file `name` (it must not exist; never through a
    /// symlink), with mode `0666 & !umask`.
    pub fn create_new(&self, name: &OsStr) -> Result<File> {
        let path = self.path.join(name);
        #[cfg(unix)]
        {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::WRONLY
                | OFlags::CREATE
                | OFlags::EXCL
                | OFlags::NOFOLLOW
                | OFlags::CLOEXEC
                | OFlags::NOCTTY;
            rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o666))
                .map(File::from)
                .map_err(|e| Error::io("create", &path, e.into()))
        }
        #[cfg(not(unix))]
        {
            File::options()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| Error::io("create", &path, e))
        }
    }

    /// Creates a new hidden temporary sibling of `name` (see
    /// [`temp_name`]); returns its name and the open file.
    pub fn create_temp(&self, name: &OsStr) -> Result<(OsString, File)> {
        let tmp = temp_name(name);
        let file = self.create_new(&tmp)?;
        Ok((tmp, file))
    }

    /// Replaces (or creates) the file `name` with `bytes`, atomically: a
    /// temporary sibling renamed over it. A file that was there keeps its
    /// permission bits; a new one gets `0666 & !umask`. A symlink or a
    /// folder at `name` is refused. No fsync, as Cargo writes `Cargo.lock`:
    /// a crash at worst loses the new text, never leaves a torn file.
    pub fn write_atomic(&self, name: &OsStr, bytes: &[u8]) -> Result<()> {
        let keep_mode = match self.stat(name)? {
            None => None,
            Some(meta) if meta.kind == Kind::File => Some(meta.permissions()),
            Some(meta) if meta.kind == Kind::Symlink => {
                return Err(self.symlink_error_at(name, Path::new(name), true));
            }
            Some(_) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "`{}` is not a file, but a file must be written there",
                        self.path.join(name).display()
                    ),
                )
                .with_help("remove or rename it"));
            }
        };
        let (tmp, mut file) = self.create_temp(name)?;
        let written = (|| {
            file.write_all(bytes)
                .map_err(|e| Error::io("write", &self.path.join(&tmp), e))?;
            if let Some(mode) = keep_mode {
                set_mode(&file, mode)
                    .map_err(|e| Error::io("set the mode of", &self.path.join(&tmp), e))?;
            }
            drop(file);
            self.rename(&tmp, name)
        })();
        if written.is_err() {
            let _ = self.remove_file(&tmp);
        }
        written
    }

    /// Appends `bytes` to the file `name`, creating it (`0666 & !umask`)
    /// when missing; never through a symlink.
    pub fn append(&self, name: &OsStr, bytes: &[u8]) -> Result<()> {
        let path = self.path.join(name);
        #[cfg(unix)]
        let mut file = {
            use rustix::fs::{Mode, OFlags};
            let flags = OFlags::WRONLY
                | OFlags::APPEND
                | OFlags::CREATE
                | OFlags::NOFOLLOW
                | OFlags::CLOEXEC
                | OFlags::NOCTTY;
            match rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o666)) {
                Ok(fd) => File::from(fd),
                Err(rustix::io::Errno::LOOP) => {
                    return Err(self.symlink_error_at(name, Path::new(name), true));
                }
                Err(e) => return Err(Error::io("write", &path, e.into())),
            }
        };
        #[cfg(not(unix))]
        let mut file = {
            if self.stat(name)?.is_some_and(|m| m.kind == Kind::Symlink) {
                return Err(self.symlink_error_at(name, Path::new(name), true));
            }
            File::options()
                .append(true)
                .create(true)
                .open(&path)
                .map_err(|e| Error::io("write", &path, e))?
        };
        file.write_all(bytes)
            .map_err(|e| Error::io("write", &path, e))
    }

    /// Renames `from` to `to`, both in this folder (replacing a file or a
    /// symlink at `to`: the link itself, never its target).
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> Result<()> {
        self.rename_to(from, self, to)
    }

    /// Renames `from` in this folder to `to` in folder `dest`.
    pub fn rename_to(&self, from: &OsStr, dest: &Dir, to: &OsStr) -> Result<()> {
        #[cfg(unix)]
        {
            rustix::fs::renameat(&self.fd, from, &dest.fd, to)
                .map_err(|e| Error::io("replace", &dest.path.join(to), e.into()))
        }
        #[cfg(not(unix))]
        {
            std::fs::rename(self.path.join(from), dest.path.join(to))
                .map_err(|e| Error::io("replace", &dest.path.join(to), e))
        }
    }

    /// Hard-links the file at `rel` below this folder (a folder of ours,
    /// such as the cache's objects: `rel` may have several components) as
    /// the new entry `name` of `dest`. Neither end follows a final symlink.
    pub fn link_to(&self, rel: &Path, dest: &Dir, name: &OsStr) -> io::Result<()> {
        #[cfg(unix)]
        {
            rustix::fs::linkat(&self.fd, rel, &dest.fd, name, rustix::fs::AtFlags::empty())
                .map_err(io::Error::from)
        }
        #[cfg(not(unix))]
        {
            std::fs::hard_link(self.path.join(rel), dest.path.join(name))
        }
    }

    /// Removes the file (or symlink: the link itself) `name`; a missing one
    /// is not an error.
    pub fn remove_file(&self, name: &OsStr) -> Result<()> {
        #[cfg(unix)]
        {
            match rustix::fs::unlinkat(&self.fd, name, rustix::fs::AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
                Err(e) => Err(Error::io("remove", &self.path.join(name), e.into())),
            }
        }
        #[cfg(not(unix))]
        {
            match std::fs::remove_file(self.path.join(name)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io("remove", &self.path.join(name), e)),
            }
        }
    }

    /// Removes the entry `name` and, for a folder, everything in it,
    /// never following a symlink (a symlink inside is removed as a link).
    /// A missing entry is not an error.
    pub fn remove_tree(&self, name: &OsStr) -> Result<()> {
        match self.stat(name)? {
            None => Ok(()),
            Some(meta) if meta.kind == Kind::Dir => {
                if let Some(sub) = self.subdir(name, false)? {
                    for (child, _) in sub.entries()? {
                        sub.remove_tree(&child)?;
                    }
                }
                self.remove_empty_dir(name)
            }
            Some(_) => self.remove_file(name),
        }
    }

    /// Removes the empty folder `name`.
    pub fn remove_empty_dir(&self, name: &OsStr) -> Result<()> {
        #[cfg(unix)]
        {
            match rustix::fs::unlinkat(&self.fd, name, rustix::fs::AtFlags::REMOVEDIR) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
                Err(e) => Err(Error::io("remove", &self.path.join(name), e.into())),
            }
        }
        #[cfg(not(unix))]
        {
            match std::fs::remove_dir(self.path.join(name)) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::io("remove", &self.path.join(name), e)),
            }
        }
    }

    /// The entries of this folder (not `.` and `..`), with their kinds.
    pub fn entries(&self) -> Result<Vec<(OsString, Kind)>> {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let mut dir = rustix::fs::Dir::read_from(&self.fd)
                .map_err(|e| Error::io("list", &self.path, e.into()))?;
            let mut out = Vec::new();
            while let Some(entry) = dir.read() {
                let entry = entry.map_err(|e| Error::io("list", &self.path, e.into()))?;
                let raw = entry.file_name().to_bytes();
                if raw == b"." || raw == b".." {
                    continue;
                }
                let name = OsStr::from_bytes(raw).to_os_string();
                use rustix::fs::FileType;
                let kind = match entry.file_type() {
                    FileType::RegularFile => Kind::File,
                    FileType::Directory => Kind::Dir,
                    FileType::Symlink => Kind::Symlink,
                    FileType::Unknown => match self.stat(&name)? {
                        Some(meta) => meta.kind,
                        None => continue,
                    },
                    _ => Kind::Other,
                };
                out.push((name, kind));
            }
            Ok(out)
        }
        #[cfg(not(unix))]
        {
            let mut out = Vec::new();
            let list =
                std::fs::read_dir(&self.path).map_err(|e| Error::io("list", &self.path, e))?;
            for entry in list {
                let entry = entry.map_err(|e| Error::io("list", &self.path, e))?;
                let t = entry
                    .file_type()
                    .map_err(|e| Error::io("stat", &entry.path(), e))?;
                let kind = if t.is_symlink() {
                    Kind::Symlink
                } else if t.is_dir() {
                    Kind::Dir
                } else if t.is_file() {
                    Kind::File
                } else {
                    Kind::Other
                };
                out.push((entry.file_name(), kind));
            }
            Ok(out)
        }
    }

    /// Best effort: removes hidden temporary siblings of `name` left by a
    /// process killed while writing here: at once when the process that
    /// named it (its pid is in the name) is gone, else once `min_age` old (a
    /// live writer finishes long before).
    pub fn remove_abandoned_temps(&self, name: &OsStr, min_age: std::time::Duration) {
        let prefix = temp_prefix(name);
        let Ok(entries) = self.entries() else {
            return;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        for (entry, _) in entries {
            let Some(rest) = entry
                .as_encoded_bytes()
                .strip_prefix(prefix.as_encoded_bytes())
            else {
                continue;
            };
            let writer = std::str::from_utf8(rest)
                .ok()
                .and_then(|r| r.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            let Ok(Some(meta)) = self.stat(&entry) else {
                continue;
            };
            let old = now - meta.mtime_ns > min_age.as_nanos() as i128;
            if old || writer.is_some_and(process_is_gone) {
                let _ = self.remove_tree(&entry);
            }
        }
    }
}

/// Whether no process `pid` runs (on this machine, in this pid namespace).
/// `false` when unsure, and for this process itself.
pub(crate) fn process_is_gone(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    #[cfg(unix)]
    {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Files replaced together: all of them, or none. Each is written at a
/// temporary sibling first (folders created, symlinks refused, modes kept
/// as [`Dir::write_atomic`] does); only when every one is ready are they
/// renamed into place, and should a rename fail, the files already
/// replaced get their old bytes back (or are removed when new).
#[derive(Debug, Default)]
pub struct Batch<'a> {
    writes: Vec<(&'a Dir, PathBuf, Vec<u8>)>,
    #[cfg(test)]
    fail_rename_at: Option<usize>,
}

/// One file of a [`Batch`], ready to be renamed into place.
struct Prepared {
    dir: Dir,
    name: OsString,
    tmp: OsString,
    /// What was there before (`None`: no file).
    old: Option<Vec<u8>>,
}

impl<'a> Batch<'a> {
    /// An empty batch.
    pub fn new() -> Batch<'a> {
        Batch::default()
    }

    /// Adds `bytes` as the new content of `rel` below `root`.
    pub fn write(&mut self, root: &'a Dir, rel: impl Into<PathBuf>, bytes: impl Into<Vec<u8>>) {
        self.writes.push((root, rel.into(), bytes.into()));
    }

    /// `true` when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Writes every file, or none (see the type's documentation).
    pub fn commit(self) -> Result<()> {
        let mut ready: Vec<Prepared> = Vec::with_capacity(self.writes.len());
        for (root, rel, bytes) in &self.writes {
            match prepare(root, rel, bytes) {
                Ok(p) => ready.push(p),
                Err(e) => {
                    for p in &ready {
                        let _ = p.dir.remove_file(&p.tmp);
                    }
                    return Err(e);
                }
            }
        }
        for (i, p) in ready.iter().enumerate() {
            #[cfg(test)]
            let injected = (self.fail_rename_at == Some(i))
                .then(|| Error::new(ErrorKind::Io, "injected failure"));
            #[cfg(not(test))]
            let injected: Option<Error> = None;
            let renamed = match injected {
                Some(e) => Err(e),
                None => p.dir.rename(&p.tmp, &p.name),
            };
            if let Err(e) = renamed {
                for later in &ready[i..] {
                    let _ = later.dir.remove_file(&later.tmp);
                }
                let mut failed_restores = Vec::new();
                for done in ready[..i].iter().rev() {
                    let restored = match &done.old {
                        Some(old) => done.dir.write_atomic(&done.name, old),
                        None => done.dir.remove_file(&done.name),
                    };
                    if restored.is_err() {
                        failed_restores
                            .push(done.dir.path().join(&done.name).display().to_string());
                    }
                }
                return Err(if failed_restores.is_empty() {
                    e.context("nothing was changed")
                } else {
                    e.context(format!(
                        "these files were written and could not be restored: {}",
                        failed_restores.join(", ")
                    ))
                });
            }
        }
        Ok(())
    }
}

/// Writes `bytes` at a temporary sibling of `rel` below `root`.
fn prepare(root: &Dir, rel: &Path, bytes: &[u8]) -> Result<Prepared> {
    let (dir, name) = root.parent_of(rel, true)?.ok_or_else(|| {
        Error::new(
            ErrorKind::Io,
            format!("cannot create `{}`", root.path().join(rel).display()),
        )
    })?;
    let (keep_mode, old) = match dir.stat(&name)? {
        None => (None, None),
        Some(meta) if meta.kind == Kind::File => {
            let mut old = Vec::new();
            if let Some(mut f) = dir.open_file(&name)? {
                f.read_to_end(&mut old)
                    .map_err(|e| Error::io("read", &dir.path().join(&name), e))?;
            }
            (Some(meta.permissions()), Some(old))
        }
        Some(meta) if meta.kind == Kind::Symlink => {
            return Err(dir.symlink_error_at(&name, rel, true));
        }
        Some(_) => {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "`{}` is not a file, but a file must be written there",
                    dir.path().join(&name).display()
                ),
            )
            .with_help("remove or rename it"));
        }
    };
    let (tmp, mut file) = dir.create_temp(&name)?;
    let written = (|| {
        file.write_all(bytes)
            .map_err(|e| Error::io("write", &dir.path().join(&tmp), e))?;
        if let Some(mode) = keep_mode {
            set_mode(&file, mode)
                .map_err(|e| Error::io("set the mode of", &dir.path().join(&tmp), e))?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = dir.remove_file(&tmp);
        return Err(e);
    }
    Ok(Prepared {
        dir,
        name,
        tmp,
        old,
    })
}

/// Sets the permission bits of an open file.
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        rustix::fs::fchmod(file, rustix::fs::Mode::from_raw_mode(mode)).map_err(io::Error::from)
    }
    #[cfg(not(unix))]
    {
        let mut perms = file.metadata()?.permissions();
        perms.set_readonly(mode & 0o222 == 0);
        file.set_permissions(perms)
    }
}

/// Makes an open file read-only for everyone (0444).
pub fn set_read_only(file: &File) -> io::Result<()> {
    set_mode(file, 0o444)
}

/// What `fstat` says about an open file.
pub fn meta_of_file(file: &File) -> io::Result<Meta> {
    #[cfg(unix)]
    {
        rustix::fs::fstat(file)
            .map(|st| meta_of(&st))
            .map_err(io::Error::from)
    }
    #[cfg(not(unix))]
    {
        file.metadata().map(|m| meta_of_std(&m))
    }
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn meta_of(st: &rustix::fs::Stat) -> Meta {
    use rustix::fs::FileType;
    let kind = match FileType::from_raw_mode(st.st_mode as _) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    };
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    Meta {
        kind,
        size: st.st_size as u64,
        mtime_ns: ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
        ctime_ns: ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
        ino: st.st_ino as u64,
        dev: st.st_dev as u64,
        nlink: st.st_nlink as u64,
        mode: st.st_mode as u32,
    }
}

/// What `std` says about an entry, as [`Meta`].
pub fn meta_of_std(m: &std::fs::Metadata) -> Meta {
    let t = m.file_type();
    let kind = if t.is_symlink() {
        Kind::Symlink
    } else if t.is_dir() {
        Kind::Dir
    } else if t.is_file() {
        Kind::File
    } else {
        Kind::Other
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Meta {
            kind,
            size: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
            ino: m.ino(),
            dev: m.dev(),
            nlink: m.nlink(),
            mode: m.mode(),
        }
    }
    #[cfg(not(unix))]
    {
        let nanos = |t: io::Result<std::time::SystemTime>| {
            t.ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128)
        };
        Meta {
            kind,
            size: m.len(),
            mtime_ns: nanos(m.modified()),
            ctime_ns: nanos(m.created()),
            ino: 0,
            dev: 0,
            nlink: 0,
            mode: if m.permissions().readonly() {
                0o444
            } else {
                0o666
            },
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn symlinked_folders_and_files_are_refused_naming_link_and_target() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("crate");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        symlink(&outside, root.join("models")).unwrap();
        symlink(outside.join("f"), root.join("f.bin")).unwrap();
        let dir = Dir::open_root(&root).unwrap();

        let err = dir.open_dir(Path::new("models/deeper"), true).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Symlink);
        let text = err.to_string();
        assert!(
            text.contains("models") && text.contains(&outside.display().to_string()),
            "{text}"
        );
        let err = dir.check_writable(Path::new("models/s.bin")).unwrap_err();
        assert!(
            err.to_string()
                .contains("`models/s.bin` inside a symlinked folder"),
            "{err}"
        );
        let err = dir.write_atomic(os("f.bin"), b"x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Symlink, "{err}");
        let err = dir.append(os("f.bin"), b"x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Symlink, "{err}");
        assert!(dir.open_file(os("f.bin")).is_err());
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "nothing outside"
        );
    }

    #[test]
    fn a_folder_swapped_for_a_symlink_after_opening_does_not_redirect_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("crate");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(root.join("models")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let dir = Dir::open_root(&root).unwrap();
        let models = dir.open_dir(Path::new("models"), false).unwrap().unwrap();
        // The folder is moved away and a symlink put in its place.
        std::fs::rename(root.join("models"), tmp.path().join("moved")).unwrap();
        symlink(&outside, root.join("models")).unwrap();
        models.write_atomic(os("s.bin"), b"bytes").unwrap();
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert_eq!(
            std::fs::read(tmp.path().join("moved/s.bin")).unwrap(),
            b"bytes"
        );
        // And a fresh walk refuses the symlink.
        assert_eq!(
            dir.open_dir(Path::new("models"), false).unwrap_err().kind(),
            ErrorKind::Symlink
        );
    }

    #[test]
    fn new_files_take_the_umask_replaced_ones_keep_their_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open_root(tmp.path()).unwrap();
        dir.write_atomic(os("new"), b"a").unwrap();
        let mode = std::fs::metadata(tmp.path().join("new"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        let umask = current_umask();
        assert_eq!(mode, 0o666 & !umask);
        std::fs::set_permissions(
            tmp.path().join("new"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        dir.write_atomic(os("new"), b"b").unwrap();
        let meta = std::fs::metadata(tmp.path().join("new")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_eq!(std::fs::read(tmp.path().join("new")).unwrap(), b"b");
        dir.append(os("new"), b"c").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("new")).unwrap(), b"bc");
        // No temporary left behind.
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn remove_tree_never_follows_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"k").unwrap();
        let root = tmp.path().join("crate");
        std::fs::create_dir_all(root.join("data/sub")).unwrap();
        std::fs::write(root.join("data/sub/a"), b"a").unwrap();
        symlink(&outside, root.join("data/link")).unwrap();
        let dir = Dir::open_root(&root).unwrap();
        dir.remove_tree(os("data")).unwrap();
        assert!(!root.join("data").exists());
        assert_eq!(std::fs::read(outside.join("keep")).unwrap(), b"k");
    }

    #[test]
    fn a_batch_writes_everything_or_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Dir::open_root(tmp.path()).unwrap();
        std::fs::write(tmp.path().join("a"), b"old a").unwrap();
        std::fs::set_permissions(tmp.path().join("a"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        // A failure while preparing (a folder where a file goes): nothing.
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        let mut batch = Batch::new();
        batch.write(&root, "a", b"new a".to_vec());
        batch.write(&root, "sub/b", b"new b".to_vec());
        batch.write(&root, "d", b"x".to_vec());
        assert!(batch.commit().is_err());
        assert_eq!(std::fs::read(tmp.path().join("a")).unwrap(), b"old a");
        assert!(!tmp.path().join("sub/b").exists());
        // A failure half way through the renames: the first is undone.
        let mut batch = Batch::new();
        batch.write(&root, "a", b"new a".to_vec());
        batch.write(&root, "sub/b", b"new b".to_vec());
        batch.write(&root, "c", b"new c".to_vec());
        batch.fail_rename_at = Some(2);
        let err = batch.commit().unwrap_err();
        assert!(err.to_string().contains("nothing was changed"), "{err}");
        assert_eq!(std::fs::read(tmp.path().join("a")).unwrap(), b"old a");
        let mode = std::fs::metadata(tmp.path().join("a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        assert!(!tmp.path().join("sub/b").exists() && !tmp.path().join("c").exists());
        // And all of it when nothing fails; no temporary left anywhere.
        let mut batch = Batch::new();
        batch.write(&root, "a", b"new a".to_vec());
        batch.write(&root, "sub/b", b"new b".to_vec());
        batch.commit().unwrap();
        assert_eq!(std::fs::read(tmp.path().join("a")).unwrap(), b"new a");
        assert_eq!(std::fs::read(tmp.path().join("sub/b")).unwrap(), b"new b");
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    fn current_umask() -> u32 {
        // Read without changing it: /proc/self/status has a `Umask:` line.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
        u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
    }
}
