//! Reading a commit's files straight from the bare [`GitDatabase`], with no
//! checkout: tree entries (`git ls-tree -z --long`) and blobs
//! (`git cat-file blob`). Paths are `/`-separated, relative to the
//! repository root, and may hold any Unicode and spaces.

use std::io::Write;

use super::cmd;
use super::{CommitId, EntryKind, GitDatabase, Oid, TreeEntry};
use crate::error::{Error, ErrorKind, Result};

impl GitDatabase {
    /// The entry at `path` in `commit`, or `None` when there is none.
    /// `""` (or `"."`) is the root folder. The commit must be in the database
    /// (see [`GitDatabase::resolve`]).
    ///
    /// ```no_run
    /// # use dvc_build::__private::git::*;
    /// # fn f(db: &GitDatabase, commit: &CommitId) -> dvc_build::Result<()> {
    /// if let Some(e) = db.entry(commit, "models/classifier.onnx")? {
    ///     assert_eq!(e.kind, EntryKind::Blob);
    ///     println!("{} bytes", e.size.unwrap_or(0));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn entry(&self, commit: &CommitId, path: &str) -> Result<Option<TreeEntry>> {
        let path = normalize(path)?;
        if path.is_empty() {
            let out = cmd::run(
                self.git()
                    .args(["rev-parse", "--verify"])
                    .arg(format!("{commit}^{{tree}}")),
                || self.read_failure(commit, ""),
            )?;
            let oid = Oid::parse(&cmd::text(&out))
                .ok_or_else(|| Error::new(ErrorKind::Git, self.read_failure(commit, "")))?;
            return Ok(Some(TreeEntry {
                path,
                kind: EntryKind::Tree,
                mode: 0o040000,
                oid,
                size: None,
            }));
        }
        let out = cmd::run(
            self.git()
                .args(["ls-tree", "-z", "--long", "--full-tree"])
                .arg(commit.as_str())
                .arg("--")
                .arg(&path),
            || self.read_failure(commit, &path),
        )?;
        Ok(parse_ls_tree(&out)?.into_iter().find(|e| e.path == path))
    }

    /// The bytes of the file at `path` in `commit`; `None` when no such path.
    /// A symbolic link is not followed: its bytes are the target path. A
    /// folder or submodule at `path` is an error.
    pub fn read_file(&self, commit: &CommitId, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(entry) = self.entry(commit, path)? else {
            return Ok(None);
        };
        match entry.kind {
            EntryKind::Blob | EntryKind::Symlink => {
                let mut buf = Vec::with_capacity(entry.size.unwrap_or(0).min(1 << 24) as usize);
                self.write_blob(&entry.oid, &mut buf)?;
                Ok(Some(buf))
            }
            EntryKind::Tree | EntryKind::Submodule => Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "`{}` at commit {} of {} is a {}, not a file",
                    entry.path,
                    commit.short(12),
                    self.remote(),
                    if entry.kind == EntryKind::Tree {
                        "folder"
                    } else {
                        "submodule"
                    }
                ),
            )),
        }
    }

    /// The entries of the folder `dir` in `commit`, with paths relative to
    /// `dir`, in git's order; `None` when `dir` is not a folder there.
    /// `recursive` lists every file below `dir` (blobs, links, submodules;
    /// not the folders themselves), else only the direct children.
    ///
    /// ```no_run
    /// # use dvc_build::__private::git::*;
    /// # fn f(db: &GitDatabase, commit: &CommitId) -> dvc_build::Result<()> {
    /// for e in db.list_dir(commit, "data", true)?.unwrap_or_default() {
    ///     println!("{} {:?}", e.path, e.size);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_dir(
        &self,
        commit: &CommitId,
        dir: &str,
        recursive: bool,
    ) -> Result<Option<Vec<TreeEntry>>> {
        let Some(tree) = self.entry(commit, dir)? else {
            return Ok(None);
        };
        if tree.kind != EntryKind::Tree {
            return Ok(None);
        }
        let mut command = self.git();
        command.args(["ls-tree", "-z", "--long"]);
        if recursive {
            command.arg("-r");
        }
        command.arg(tree.oid.as_str());
        let out = cmd::run(&mut command, || self.read_failure(commit, &tree.path))?;
        parse_ls_tree(&out).map(Some)
    }

    /// Streams the blob `oid` (from a [`TreeEntry`]) into `out`, returning the
    /// number of bytes written; for large git-tracked files.
    pub fn write_blob(&self, oid: &Oid, out: &mut dyn Write) -> Result<u64> {
        cmd::stream(
            self.git().args(["cat-file", "blob", oid.as_str()]),
            out,
            || format!("cannot read blob {} from {}", oid.short(12), self.remote()),
        )
    }

    /// The bytes of several blobs, in the order given, from one
    /// `git cat-file --batch` process (one process for any number of small
    /// files, such as every `.dvc` file of a registry).
    pub fn read_blobs(&self, oids: &[Oid]) -> Result<Vec<Vec<u8>>> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        let what = || format!("cannot read blobs from {}", self.remote());
        let mut input = String::with_capacity(oids.len() * 41);
        for oid in oids {
            input.push_str(oid.as_str());
            input.push('\n');
        }
        let mut command = self.git();
        command.args(["cat-file", "--batch"]);
        super::cmd::trace(&command);
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => cmd::spawn_error(e),
                _ => Error::new(ErrorKind::Git, what()).with_source(e),
            })?;
        let stdin = child.stdin.take();
        // Fed from a thread: git answers while it reads, and either pipe may fill.
        let feeder = std::thread::spawn(move || {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(input.as_bytes());
            }
        });
        let mut out = Vec::new();
        let read = match child.stdout.take() {
            Some(mut stdout) => std::io::Read::read_to_end(&mut stdout, &mut out).map(|_| ()),
            None => Ok(()),
        };
        let status = child.wait();
        let _ = feeder.join();
        let bad = |detail: &str| Error::new(ErrorKind::Git, format!("{}: {detail}", what()));
        read.map_err(|e| bad(&e.to_string()))?;
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => return Err(bad(&format!("git cat-file --batch failed ({s})"))),
            Err(e) => return Err(bad(&e.to_string())),
        }
        let mut blobs = Vec::with_capacity(oids.len());
        let mut rest = &out[..];
        for oid in oids {
            let nl = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or_else(|| bad("truncated output"))?;
            let header = std::str::from_utf8(&rest[..nl]).map_err(|_| bad("bad header"))?;
            let mut parts = header.split(' ');
            let (got, kind, size) = (parts.next(), parts.next(), parts.next());
            if got != Some(oid.as_str()) || kind != Some("blob") {
                return Err(bad(&format!(
                    "object {} is not a blob here ({header})",
                    oid.short(12)
                )));
            }
            let size: usize = size
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("bad size"))?;
            let body = rest
                .get(nl + 1..nl + 1 + size)
                .ok_or_else(|| bad("truncated output"))?;
            blobs.push(body.to_vec());
            rest = rest.get(nl + 2 + size..).unwrap_or(&[]);
        }
        Ok(blobs)
    }

    fn read_failure(&self, commit: &CommitId, path: &str) -> String {
        format!(
            "cannot read `{path}` at commit {} of {} (git cache `{}`)",
            commit.short(12),
            self.remote(),
            self.path().display()
        )
    }
}

/// `path` as git names it: `/`-separated, no `.` or empty parts; `..` refused.
pub(super) fn normalize(path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("the path `{path}` leaves the repository"),
                )
                .with_help("give a path inside the repository, without `..`"));
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Parses `git ls-tree -z --long`: `<mode> <type> <oid> <size>\t<path>\0`.
fn parse_ls_tree(out: &[u8]) -> Result<Vec<TreeEntry>> {
    let bad = |rec: &[u8]| {
        Error::new(
            ErrorKind::Git,
            format!(
                "unexpected `git ls-tree` output: {:?}",
                String::from_utf8_lossy(rec)
            ),
        )
    };
    let mut entries = Vec::new();
    for rec in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let tab = rec
            .iter()
            .position(|&b| b == b'\t')
            .ok_or_else(|| bad(rec))?;
        let meta = std::str::from_utf8(&rec[..tab]).map_err(|_| bad(rec))?;
        let path = std::str::from_utf8(&rec[tab + 1..]).map_err(|_| {
            Error::new(
                ErrorKind::Unsupported,
                format!(
                    "the file name {:?} is not UTF-8",
                    String::from_utf8_lossy(&rec[tab + 1..])
                ),
            )
        })?;
        let mut fields = meta.split_whitespace();
        let (Some(mode), Some(kind), Some(oid), Some(size)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad(rec));
        };
        let mode = u32::from_str_radix(mode, 8).map_err(|_| bad(rec))?;
        let kind = match (kind, mode) {
            ("tree", _) => EntryKind::Tree,
            ("commit", _) => EntryKind::Submodule,
            ("blob", 0o120000) => EntryKind::Symlink,
            ("blob", _) => EntryKind::Blob,
            _ => return Err(bad(rec)),
        };
        entries.push(TreeEntry {
            path: path.to_string(),
            kind,
            mode,
            oid: Oid::parse(oid).ok_or_else(|| bad(rec))?,
            size: size.parse().ok(),
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ls_tree_records() {
        let out =
            b"100644 blob e69de29bb2d1d6434b8b29ae775ad8c2e48c5391       0\ta b/\xc3\xa9.txt\0\
040000 tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904       -\tdir\0\
120000 blob e69de29bb2d1d6434b8b29ae775ad8c2e48c5391      12\tlink\0\
160000 commit e69de29bb2d1d6434b8b29ae775ad8c2e48c5391       -\tsub\0";
        let e = parse_ls_tree(out).unwrap();
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].path, "a b/é.txt");
        assert_eq!((e[0].kind, e[0].size), (EntryKind::Blob, Some(0)));
        assert_eq!((e[1].kind, e[1].size), (EntryKind::Tree, None));
        assert_eq!(e[2].kind, EntryKind::Symlink);
        assert_eq!(e[3].kind, EntryKind::Submodule);
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("./a//b/").unwrap(), "a/b");
        assert_eq!(normalize(".").unwrap(), "");
        assert!(normalize("a/../../b").is_err());
    }
}
