//! Shared helpers for the integration tests: the real tools, temp dirs, git
//! repositories and DVC registries made by the real `dvc`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where `build-support/install-test-tools.sh` put the tools.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("DVC_BUILD_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tools"))
}

/// The path of a test tool (`dvc`, `dvc2`, `weed`); panics loudly when missing:
/// tests never skip silently.
pub fn tool(name: &str) -> PathBuf {
    let path = tools_dir().join("bin").join(name);
    assert!(
        path.exists(),
        "test tool `{name}` is missing at {}: run build-support/install-test-tools.sh \
         (the README's test command does)",
        path.display()
    );
    path
}

/// Runs `cmd`, panicking with its output when it fails.
#[track_caller]
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd` and returns its stdout as a trimmed string.
#[track_caller]
pub fn run_stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stdout).trim().to_string()
}

/// A `dvc` (3.x, the reference) command run in `dir`, with analytics off.
pub fn dvc(dir: &Path) -> Command {
    dvc_tool("dvc", dir)
}

/// A `dvc` 2.x command run in `dir`.
pub fn dvc2(dir: &Path) -> Command {
    dvc_tool("dvc2", dir)
}

fn dvc_tool(name: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(tool(name));
    cmd.current_dir(dir)
        .env("DVC_NO_ANALYTICS", "1")
        .env("DVC_SITE_CACHE_DIR", dir.join(".dvc-site-cache"))
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com");
    cmd
}

/// A `git` command run in `dir`, independent of the user's git config.
pub fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ]);
    cmd
}

/// A temporary directory removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dvc-build-test-")
        .tempdir()
        .expect("create temp dir")
}

/// Writes `contents` to `dir/rel`, creating parent folders.
pub fn write(dir: &Path, rel: &str, contents: impl AsRef<[u8]>) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A DVC registry made by the real `dvc`: a git repo with `dvc init`, and a
/// local remote folder beside it set as the default remote.
pub struct Registry {
    /// The git work tree of the registry.
    pub repo: PathBuf,
    /// The local remote folder.
    pub remote: PathBuf,
    /// `true` when made with DVC 2.
    pub dvc2: bool,
}

impl Registry {
    /// `dvc init` in `root/registry` (DVC 3) with a default remote `root/remote`.
    pub fn new(root: &Path) -> Registry {
        Registry::with_version(root, false)
    }

    /// As [`Registry::new`], with DVC 2 when `dvc2`.
    pub fn with_version(root: &Path, dvc2: bool) -> Registry {
        let repo = root.join("registry");
        let remote = root.join("remote");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&remote).unwrap();
        let reg = Registry { repo, remote, dvc2 };
        run(git(&reg.repo).arg("init").arg("-q"));
        run(reg.dvc().args(["init", "-q"]));
        run(reg
            .dvc()
            .args(["remote", "add", "-d", "store"])
            .arg(&reg.remote));
        reg.commit("init");
        reg
    }

    /// A dvc command (of the registry's version) in the registry.
    pub fn dvc(&self) -> Command {
        if self.dvc2 {
            dvc2(&self.repo)
        } else {
            dvc(&self.repo)
        }
    }

    /// Writes a file into the work tree.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        write(&self.repo, rel, contents);
    }

    /// `dvc add` the paths.
    pub fn add(&self, paths: &[&str]) {
        run(self.dvc().arg("add").arg("-q").args(paths));
    }

    /// `git add -A && git commit`, returning the new commit id.
    pub fn commit(&self, msg: &str) -> String {
        run(git(&self.repo).args(["add", "-A"]));
        run(git(&self.repo).args(["commit", "-q", "--allow-empty", "-m", msg]));
        self.head()
    }

    /// `dvc push` to the default remote.
    pub fn push(&self) {
        run(self.dvc().args(["push", "-q"]));
    }

    /// `git tag NAME`.
    pub fn tag(&self, name: &str) {
        run(git(&self.repo).args(["tag", name]));
    }

    /// The commit id of HEAD.
    pub fn head(&self) -> String {
        run_stdout(git(&self.repo).args(["rev-parse", "HEAD"]))
    }
}
