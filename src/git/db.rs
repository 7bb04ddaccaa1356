//! [`GitDatabase`]: the cached bare repository of one remote, and turning a
//! revision (branch, tag, commit) into a commit that is present in it.
//!
//! Layout and rules:
//!
//! - The database lives at `<cache_root>/git/db/<ident>`; it is created
//!   under the lock in a temporary folder and renamed into place, so a
//!   half-made database is never seen.
//! - Fetched refs are stored as a clone would: branches under
//!   `refs/remotes/origin/*`, the default branch as the symbolic ref
//!   `refs/remotes/origin/HEAD`, tags under `refs/tags/*`. The URL itself is
//!   never written into the database (it may hold a token).
//! - Names are looked up with `git ls-remote` first; objects are fetched only
//!   when the commit is missing, with `--depth=1`. Objects always arrive as
//!   whole packs (`transfer.unpackLimit=1`), so a commit that is present has
//!   its tree too; `gc.pruneExpire=never` keeps commits that no ref reaches
//!   any more (an old, locked `rev_lock` after its branch moved on).
//! - Presence of a full commit id is one `git rev-parse --verify`, with no
//!   network.
//! - `<db>.lock` beside the database is held (an OS file lock) while
//!   anything is fetched or a ref written; reads take no lock.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::cmd::{self, git};
use super::{CommitId, GitRemote, NetMode, Oid};
use crate::error::{Error, ErrorKind, Result};

/// Settings written into a new database's config.
const DB_CONFIG: &str = "\n[gc]\n\tpruneExpire = never\n\tautoDetach = false\n\
[transfer]\n\tunpackLimit = 1\n[fetch]\n\tunpackLimit = 1\n\
[core]\n\tlogAllRefUpdates = false\n";

/// The local bare repository that caches one [`GitRemote`], shared by every
/// project on the machine.
///
/// ```no_run
/// use dvc_build::__private::git::{GitDatabase, GitRemote, NetMode};
/// # fn main() -> dvc_build::Result<()> {
/// let remote = GitRemote::new("/srv/registry")?;
/// let db = GitDatabase::open("/tmp/cache".as_ref(), &remote)?;
/// let main = db.resolve(None, NetMode::Online)?;          // the default branch
/// let same = db.resolve(Some(main.as_str()), NetMode::Offline)?; // no network
/// assert_eq!(main, same);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GitDatabase {
    remote: GitRemote,
    path: PathBuf,
    lock_path: PathBuf,
}

/// A ref as `git ls-remote` reported it.
#[derive(Debug, Clone)]
struct RemoteRef {
    /// Full name on the remote, e.g. `refs/tags/v1`.
    name: String,
    /// What the ref points at (an annotated tag object, for such a tag).
    oid: Oid,
    /// The commit it leads to (peeled tag), when the remote said.
    peeled: Option<Oid>,
}

impl RemoteRef {
    fn commit(&self) -> &Oid {
        self.peeled.as_ref().unwrap_or(&self.oid)
    }

    /// Where a fetch stores this ref in the database.
    fn local_name(&self) -> String {
        local_ref_name(&self.name)
    }
}

fn local_ref_name(remote_name: &str) -> String {
    match remote_name.strip_prefix("refs/heads/") {
        Some(branch) => format!("refs/remotes/origin/{branch}"),
        None => remote_name.to_string(),
    }
}

impl GitDatabase {
    /// Opens the database of `remote` under `cache_root`, creating it
    /// (`git init --bare`) when missing. Touches no network.
    pub fn open(cache_root: &Path, remote: &GitRemote) -> Result<GitDatabase> {
        let dir = cache_root.join("git").join("db");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let ident = remote.ident();
        let db = GitDatabase {
            remote: remote.clone(),
            path: dir.join(&ident),
            lock_path: dir.join(format!("{ident}.lock")),
        };
        db.ensure_created()?;
        Ok(db)
    }

    /// Creates the database when it is missing (never made, or removed
    /// after a failed first contact: see `or_forget`).
    fn ensure_created(&self) -> Result<()> {
        if self.path.join("HEAD").is_file() {
            return Ok(());
        }
        let (Some(dir), Some(ident)) = (self.path.parent(), self.path.file_name()) else {
            return Ok(());
        };
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let _lock = self.lock()?;
        if !self.path.join("HEAD").is_file() {
            self.create(dir, &ident.to_string_lossy())?;
        }
        Ok(())
    }

    fn create(&self, dir: &Path, ident: &str) -> Result<()> {
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{ident}-new-"))
            .tempdir_in(dir)
            .map_err(|e| Error::io("create a folder in", dir, e))?;
        cmd::run(
            git(None).args(["init", "--bare", "-q"]).arg(tmp.path()),
            || format!("cannot create a git database at `{}`", tmp.path().display()),
        )?;
        let config = tmp.path().join("config");
        let mut text =
            std::fs::read_to_string(&config).map_err(|e| Error::io("read", &config, e))?;
        text.push_str(DB_CONFIG);
        std::fs::write(&config, text).map_err(|e| Error::io("write", &config, e))?;
        if self.path.exists() {
            // A leftover without HEAD: not a usable repository.
            std::fs::remove_dir_all(&self.path).map_err(|e| Error::io("remove", &self.path, e))?;
        }
        let tmp = tmp.keep();
        std::fs::rename(&tmp, &self.path).map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp);
            Error::io("create", &self.path, e)
        })
    }

    /// `result`, after removing the database when the repository could not
    /// be reached (a mistyped or unreachable URL) and the database holds
    /// nothing yet: a failed first contact leaves no empty repository behind
    /// in the cache. (A wrong `rev` on a good URL keeps it.)
    fn or_forget<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result
            && e.kind() == ErrorKind::Git
            && is_unreachable(&e.to_string())
        {
            self.forget_if_empty();
        }
        result
    }

    /// Best effort: removes the database (and its lock file) when it has no
    /// ref and no object, under its lock.
    fn forget_if_empty(&self) {
        let Ok(lock) = self.lock() else {
            return;
        };
        if is_empty_repository(&self.path) && std::fs::remove_dir_all(&self.path).is_ok() {
            let _ = std::fs::remove_file(&self.lock_path);
        }
        drop(lock);
    }

    /// The bare repository's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The remote this database caches.
    pub fn remote(&self) -> &GitRemote {
        &self.remote
    }

    /// Blocks until this process is the only one changing the database; the
    /// lock is released when the returned file is dropped.
    fn lock(&self) -> Result<File> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| Error::io("open the lock file", &self.lock_path, e))?;
        file.lock()
            .map_err(|e| Error::io("lock", &self.lock_path, e))?;
        Ok(file)
    }

    pub(super) fn git(&self) -> std::process::Command {
        git(Some(&self.path))
    }

    /// `true` when `commit` is in the database (one local `git` process).
    pub fn contains(&self, commit: &CommitId) -> Result<bool> {
        Ok(self.local_commit(commit.as_str())?.is_some())
    }

    /// The commit `spec` names in the database, if it does; `Err` only when
    /// git cannot run or the database is broken.
    fn local_commit(&self, spec: &str) -> Result<Option<CommitId>> {
        let out = cmd::output(
            self.git()
                .args(["rev-parse", "--verify", "--quiet"])
                .arg(format!("{spec}^{{commit}}")),
        )?;
        if out.ok {
            return Ok(Oid::parse(&cmd::text(&out.stdout)));
        }
        if out.stderr.trim().is_empty() {
            return Ok(None);
        }
        Err(cmd::failure(
            ErrorKind::Git,
            &format!("the git cache `{}` is unreadable", self.path.display()),
            &out.stderr,
        )
        .with_help(format!(
            "delete `{}` to have it fetched again",
            self.path.display()
        )))
    }

    /// The commit `rev` names: `None` for the remote's default branch (its
    /// `HEAD`), else a branch, a tag, a full commit id or an unambiguous
    /// prefix of one. The commit is in the database afterwards, so it can be
    /// read.
    ///
    /// A full commit id already present costs one local `git` process and no
    /// network. Online, a branch or tag name is always asked of the remote
    /// (it may have moved); objects are fetched only when missing. Offline,
    /// names are answered from the refs the last online resolve stored, and
    /// anything missing is an [`ErrorKind::Offline`] error. Tags win over
    /// branches of the same name, as in `git rev-parse`.
    pub fn resolve(&self, rev: Option<&str>, net: NetMode) -> Result<CommitId> {
        self.ensure_created()?;
        self.or_forget(self.resolve_inner(rev, net))
    }

    fn resolve_inner(&self, rev: Option<&str>, net: NetMode) -> Result<CommitId> {
        let rev = rev.map(str::trim);
        if let Some(rev) = rev {
            validate_rev(rev)?;
            if let Some(oid) = Oid::parse(rev) {
                if let Some(commit) = self.local_commit(oid.as_str())? {
                    return Ok(commit);
                }
                self.ensure_commit(&oid, net)?;
                return self.local_commit(oid.as_str())?.ok_or_else(|| {
                    Error::new(
                        ErrorKind::Git,
                        format!("`{oid}` in {} is not a commit", self.remote),
                    )
                });
            }
        }
        match net {
            NetMode::Offline => self.resolve_offline(rev),
            NetMode::Online => self.resolve_online(rev),
        }
    }

    fn resolve_offline(&self, rev: Option<&str>) -> Result<CommitId> {
        let Some(rev) = rev else {
            return self
                .local_commit("refs/remotes/origin/HEAD")?
                .ok_or_else(|| self.offline_error("the default branch"));
        };
        for candidate in local_candidates(rev) {
            if let Some(commit) = self.local_commit(&candidate)? {
                return Ok(commit);
            }
        }
        if is_short_hex(rev)
            && let Some(commit) = self.short_commit(rev)?
        {
            return Ok(commit);
        }
        Err(self.offline_error(&format!("revision `{rev}`")))
    }

    fn offline_error(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::Offline,
            format!(
                "{what} of {} is not in the git cache, and offline mode forbids fetching it",
                self.remote
            ),
        )
        .with_help(
            "run once without `--offline` (and with CARGO_NET_OFFLINE unset) to fill the cache",
        )
    }

    fn resolve_online(&self, rev: Option<&str>) -> Result<CommitId> {
        let _lock = self.lock()?;
        let Some(rev) = rev else {
            return self.update_default_branch();
        };
        if let Some(found) = self.ls_remote_name(rev)? {
            return self.update_ref(&found);
        }
        if is_short_hex(rev) {
            if let Some(commit) = self.short_commit(rev)? {
                return Ok(commit);
            }
            self.fetch_all()?;
            if let Some(commit) = self.short_commit(rev)? {
                return Ok(commit);
            }
        }
        Err(self.not_found(rev))
    }

    /// Makes sure `commit` is in the database: nothing to do when present;
    /// else `git fetch --depth=1 <url> <commit>` (servers that allow fetching
    /// any reachable commit by id, as GitHub and GitLab do), falling back to
    /// fetching all branches and tags.
    pub fn ensure_commit(&self, commit: &CommitId, net: NetMode) -> Result<()> {
        self.ensure_created()?;
        self.or_forget(self.ensure_commit_inner(commit, net))
    }

    fn ensure_commit_inner(&self, commit: &CommitId, net: NetMode) -> Result<()> {
        if self.contains(commit)? {
            return Ok(());
        }
        if net.is_offline() {
            return Err(self.offline_error(&format!("commit `{}`", commit.short(12))));
        }
        let _lock = self.lock()?;
        if self.contains(commit)? {
            return Ok(()); // another process fetched it while we waited
        }
        if let Err(err) = self.fetch(&[commit.as_str()], true) {
            if err.kind() == ErrorKind::Auth || is_unreachable(err.message()) {
                return Err(err);
            }
            self.fetch_all()?;
        }
        if self.contains(commit)? {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Git,
            format!("commit `{commit}` is not in {}", self.remote),
        )
        .with_help(
            "the commit may have been removed from the repository (a force-push?); \
             check the revision, or pick a new one with `cargo dvc update`",
        ))
    }

    /// The commit a branch or tag `rev` (`None`: the default branch) points
    /// at on the remote now, without fetching objects; `None` when the remote
    /// has no such ref (a commit id is not a ref). For "update available".
    pub fn ls_remote(&self, rev: Option<&str>, net: NetMode) -> Result<Option<CommitId>> {
        self.ensure_created()?;
        self.or_forget(self.ls_remote_inner(rev, net))
    }

    fn ls_remote_inner(&self, rev: Option<&str>, net: NetMode) -> Result<Option<CommitId>> {
        if net.is_offline() {
            return Err(Error::new(
                ErrorKind::Offline,
                format!("cannot ask {} for its refs in offline mode", self.remote),
            )
            .with_help("run without `--offline` (and with CARGO_NET_OFFLINE unset)"));
        }
        match rev.map(str::trim) {
            None => Ok(self.ls_remote_head()?.map(|(_, r)| r.oid)),
            Some(rev) => {
                validate_rev(rev)?;
                Ok(self.ls_remote_name(rev)?.map(|r| r.commit().clone()))
            }
        }
    }

    /// Runs `git ls-remote <url> [args]` and parses its lines into
    /// `(name, value)`: value is an id, or `ref: <target>` for `--symref`.
    fn ls_remote_raw(&self, args: &[&str], what: &str) -> Result<Vec<(String, String)>> {
        let mut command = self.git();
        command.arg("ls-remote");
        for arg in args.iter().filter(|a| a.starts_with("--")) {
            command.arg(arg);
        }
        // `--`: whatever the URL looks like, git reads it as one.
        command.arg("--").arg(self.remote.url());
        command.args(args.iter().filter(|a| !a.starts_with("--")));
        let out = cmd::output(&mut command)?;
        if !out.ok {
            return Err(self.net_error(
                &format!("cannot ask {} for {what}", self.remote),
                &out.stderr,
            ));
        }
        Ok(cmd::text(&out.stdout)
            .lines()
            .filter_map(|line| {
                let (value, name) = line.split_once('\t')?;
                Some((name.to_string(), value.to_string()))
            })
            .collect())
    }

    /// The branch `HEAD` points at (if the server said) and its ref.
    fn ls_remote_head(&self) -> Result<Option<(Option<String>, RemoteRef)>> {
        let lines = self.ls_remote_raw(&["--symref", "HEAD"], "the default branch")?;
        let mut target = None;
        let mut oid = None;
        for (name, value) in lines {
            if name != "HEAD" {
                continue;
            }
            match value.strip_prefix("ref: ") {
                Some(t) => target = Some(t.to_string()),
                None => oid = Oid::parse(&value),
            }
        }
        Ok(oid.map(|oid| {
            let name = target.clone().unwrap_or_else(|| "HEAD".to_string());
            (
                target,
                RemoteRef {
                    name,
                    oid,
                    peeled: None,
                },
            )
        }))
    }

    /// The tag (preferred) or branch called `rev` on the remote.
    fn ls_remote_name(&self, rev: &str) -> Result<Option<RemoteRef>> {
        // `v1^{}` is the peeled line of an annotated tag; the pattern `v1` misses it.
        let peeled_pattern = format!("{rev}^{{}}");
        let lines = self.ls_remote_raw(&[rev, &peeled_pattern], &format!("`{rev}`"))?;
        let short = rev
            .strip_prefix("refs/heads/")
            .or_else(|| rev.strip_prefix("refs/tags/"))
            .unwrap_or(rev);
        let tag_name = format!("refs/tags/{short}");
        let branch_name = format!("refs/heads/{short}");
        let explicit_branch = rev.starts_with("refs/heads/");
        let explicit_tag = rev.starts_with("refs/tags/");
        let find = |name: &str| {
            lines
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| Oid::parse(v))
        };
        if !explicit_branch && let Some(oid) = find(&tag_name) {
            let peeled = find(&format!("{tag_name}^{{}}"));
            return Ok(Some(RemoteRef {
                name: tag_name,
                oid,
                peeled,
            }));
        }
        if !explicit_tag && let Some(oid) = find(&branch_name) {
            return Ok(Some(RemoteRef {
                name: branch_name,
                oid,
                peeled: None,
            }));
        }
        Ok(None)
    }

    fn update_default_branch(&self) -> Result<CommitId> {
        let Some((target, head)) = self.ls_remote_head()? else {
            return Err(Error::new(
                ErrorKind::Git,
                format!(
                    "{} has no default branch (is the repository empty?)",
                    self.remote
                ),
            )
            .with_help("give a `rev`, or push a commit to the repository"));
        };
        let commit = self.update_ref(&head)?;
        let origin_head = "refs/remotes/origin/HEAD";
        match target {
            Some(_) => {
                let local = head.local_name();
                cmd::run(
                    self.git().args(["symbolic-ref", origin_head]).arg(&local),
                    || {
                        format!(
                            "cannot record the default branch in `{}`",
                            self.path.display()
                        )
                    },
                )?;
            }
            None => {
                // The server did not say which branch: keep the commit itself.
                cmd::run(
                    self.git()
                        .args(["update-ref", "--no-deref", origin_head, commit.as_str()]),
                    || {
                        format!(
                            "cannot record the default branch in `{}`",
                            self.path.display()
                        )
                    },
                )?;
            }
        }
        Ok(commit)
    }

    /// Points the local ref for `remote_ref` where the remote has it, fetching
    /// (shallow) only when the objects are missing; returns its commit.
    /// Called with the lock held.
    fn update_ref(&self, remote_ref: &RemoteRef) -> Result<CommitId> {
        let local = if remote_ref.name == "HEAD" {
            "refs/remotes/origin/HEAD".to_string()
        } else {
            remote_ref.local_name()
        };
        let have_object = self.local_commit(remote_ref.commit().as_str())?.is_some()
            && (remote_ref.peeled.is_none() || self.has_object(&remote_ref.oid)?);
        if have_object {
            cmd::run(
                self.git()
                    .args(["update-ref", "--no-deref", &local, remote_ref.oid.as_str()]),
                || format!("cannot update `{local}` in `{}`", self.path.display()),
            )?;
        } else {
            self.fetch(&[&format!("+{}:{local}", remote_ref.name)], true)?;
        }
        self.local_commit(&local)?.ok_or_else(|| {
            Error::new(
                ErrorKind::Git,
                format!(
                    "`{}` of {} does not point at a commit",
                    remote_ref.name, self.remote
                ),
            )
        })
    }

    fn has_object(&self, oid: &Oid) -> Result<bool> {
        Ok(cmd::output(self.git().args(["cat-file", "-e", oid.as_str()]))?.ok)
    }

    /// A prefix of a commit id, if it names exactly one commit here.
    fn short_commit(&self, prefix: &str) -> Result<Option<CommitId>> {
        let out = cmd::output(
            self.git()
                .args(["rev-parse", "--verify"])
                .arg(format!("{prefix}^{{commit}}")),
        )?;
        if out.ok {
            return Ok(Oid::parse(&cmd::text(&out.stdout)));
        }
        if out.stderr.contains("ambiguous") {
            return Err(cmd::failure(
                ErrorKind::Git,
                &format!(
                    "the short commit id `{prefix}` is ambiguous in {}",
                    self.remote
                ),
                &out.stderr,
            )
            .with_help("give more hex digits, or the full 40-digit commit id"));
        }
        Ok(None)
    }

    /// Fetches all branches and tags, deepening a shallow database.
    fn fetch_all(&self) -> Result<()> {
        self.fetch(
            &[
                "+refs/heads/*:refs/remotes/origin/*",
                "+refs/tags/*:refs/tags/*",
            ],
            false,
        )
    }

    /// `git fetch <url> <refspecs>`: `shallow` asks for `--depth=1` (retried
    /// in full when the transport cannot do shallow, as dumb HTTP cannot).
    fn fetch(&self, refspecs: &[&str], shallow: bool) -> Result<()> {
        let attempt = |depth: bool| -> Result<cmd::Finished> {
            let mut command = self.git();
            command.args(["fetch", "--quiet", "--no-tags"]);
            if depth {
                command.arg("--depth=1");
            } else if self.path.join("shallow").exists() {
                command.arg("--unshallow");
            }
            if refspecs.iter().any(|r| r.contains('*')) {
                command.arg("--prune");
            }
            command.arg("--").arg(self.remote.url()).args(refspecs);
            cmd::output(&mut command)
        };
        let mut out = attempt(shallow)?;
        if !out.ok && shallow && out.stderr.contains("shallow") {
            out = attempt(false)?;
        }
        if out.ok {
            return Ok(());
        }
        Err(self.net_error(&format!("cannot fetch from {}", self.remote), &out.stderr))
    }

    /// An error for a failed talk with the remote, classified by git's words.
    fn net_error(&self, what: &str, stderr: &str) -> Error {
        let redacted = self.remote.redacted();
        if is_auth_failure(stderr) {
            cmd::failure(ErrorKind::Auth, what, stderr).with_help(format!(
                "git found no valid credentials: set up a credential helper or ssh key so \
                 that `git ls-remote {redacted}` works without a prompt"
            ))
        } else {
            cmd::failure(ErrorKind::Git, what, stderr).with_help(format!(
                "check `url`, and that `git ls-remote {redacted}` works from this machine"
            ))
        }
    }

    /// An "unknown revision" error listing some branches and tags.
    fn not_found(&self, rev: &str) -> Error {
        let err = Error::new(
            ErrorKind::Git,
            format!("revision `{rev}` was not found in {}", self.remote),
        );
        let Ok(lines) = self.ls_remote_raw(&["--heads", "--tags"], "the refs") else {
            return err.with_help("check `rev`: it must be a branch, a tag or a commit id");
        };
        let mut branches = Vec::new();
        let mut tags = Vec::new();
        for (name, _) in &lines {
            if let Some(b) = name.strip_prefix("refs/heads/") {
                branches.push(b);
            } else if let Some(t) = name.strip_prefix("refs/tags/")
                && !t.ends_with("^{}")
            {
                tags.push(t);
            }
        }
        err.with_help(format!(
            "check `rev`: it must be a branch, a tag or a commit id; branches: {}; tags: {}",
            some_of(&branches),
            some_of(&tags)
        ))
    }
}

/// A bare repository with no ref (loose or packed), no object and no
/// shallow file: what `git init --bare` made and nothing has filled.
fn is_empty_repository(path: &Path) -> bool {
    fn has_files(dir: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|e| match e.file_type() {
            Ok(t) if t.is_dir() => has_files(&e.path()),
            Ok(_) => true,
            Err(_) => true,
        })
    }
    path.join("HEAD").is_file()
        && !path.join("packed-refs").exists()
        && !path.join("shallow").exists()
        && !has_files(&path.join("refs"))
        && !has_files(&path.join("objects"))
}

/// Where an offline lookup of `rev` searches, in order.
fn local_candidates(rev: &str) -> Vec<String> {
    if let Some(branch) = rev.strip_prefix("refs/heads/") {
        return vec![format!("refs/remotes/origin/{branch}")];
    }
    if rev.starts_with("refs/tags/") {
        return vec![rev.to_string()];
    }
    vec![
        format!("refs/tags/{rev}"),
        format!("refs/remotes/origin/{rev}"),
    ]
}

fn some_of(names: &[&str]) -> String {
    const SHOWN: usize = 8;
    if names.is_empty() {
        return "none".to_string();
    }
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

fn is_short_hex(rev: &str) -> bool {
    (4..40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Refuses what can be neither a ref name nor a commit id, and anything git
/// could take for an option.
fn validate_rev(rev: &str) -> Result<()> {
    let bad = rev.is_empty()
        || rev.starts_with('-')
        || rev.ends_with('/')
        || rev.ends_with(".lock")
        || rev.contains("..")
        || rev.contains("@{")
        || rev.contains("//")
        || rev
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(c));
    if bad {
        return Err(Error::new(
            ErrorKind::Git,
            format!("`{rev}` is not a valid git revision"),
        )
        .with_help("`rev` must be a branch, a tag or a commit id"));
    }
    Ok(())
}

fn is_auth_failure(stderr: &str) -> bool {
    const SIGNS: &[&str] = &[
        "Authentication failed",
        "could not read Username",
        "could not read Password",
        "terminal prompts disabled",
        "Permission denied",
        "HTTP Basic: Access denied",
        "The requested URL returned error: 401",
        "The requested URL returned error: 403",
    ];
    SIGNS.iter().any(|s| stderr.contains(s))
}

fn is_unreachable(message: &str) -> bool {
    const SIGNS: &[&str] = &[
        "Could not resolve host",
        "Connection refused",
        "Failed to connect",
        "Connection timed out",
        "unable to connect",
        "Could not read from remote repository",
        "does not appear to be a git repository",
        "Network is unreachable",
        "fatal: repository '",
    ];
    SIGNS.iter().any(|s| message.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_are_validated() {
        for ok in ["main", "v1.2.0", "feature/x", "refs/tags/v1", "0123abcd"] {
            assert!(validate_rev(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "--upload-pack=evil",
            "a b",
            "a..b",
            "x^",
            "a:b",
            "x.lock",
        ] {
            assert!(validate_rev(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn local_ref_names() {
        assert_eq!(local_ref_name("refs/heads/a/b"), "refs/remotes/origin/a/b");
        assert_eq!(local_ref_name("refs/tags/v1"), "refs/tags/v1");
        assert_eq!(
            local_candidates("v1"),
            ["refs/tags/v1", "refs/remotes/origin/v1"]
        );
    }

    #[test]
    fn listing_is_bounded() {
        let names: Vec<String> = (0..20).map(|i| format!("b{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let s = some_of(&refs);
        assert!(s.ends_with("and 12 more"), "{s}");
        assert_eq!(some_of(&[]), "none");
    }
}
