//! The bench every scenario runs on: registries made the way DVC's own test
//! fixtures make them (`erepo_dir`: a git + DVC repository without a remote;
//! `git_dir`: git alone; subrepos), and the two sides that run on them, the
//! real `dvc` in a DVC project and `cargo dvc` (or the build script) in a
//! crate, each leaving an [`Outcome`] to compare.

use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::support::{self, cargo_dvc, dvc, dvc2, git, run, run_stdout};

/// A scratch folder for one scenario: registries, DVC projects, crates and
/// one content cache for our side.
pub struct Bench {
    _tmp: tempfile::TempDir,
    /// The folder everything is made in.
    pub root: PathBuf,
    /// `DVC_BUILD_CACHE_DIR` of our side.
    pub cache: PathBuf,
    next: Cell<usize>,
}

impl Bench {
    pub fn new() -> Bench {
        let tmp = support::tempdir();
        let root = tmp.path().to_path_buf();
        Bench {
            cache: root.join("cache"),
            root,
            _tmp: tmp,
            next: Cell::new(0),
        }
    }

    /// A new, unused folder `<prefix>-N` under the root.
    pub fn fresh(&self, prefix: &str) -> PathBuf {
        let n = self.next.get();
        self.next.set(n + 1);
        let dir = self.root.join(format!("{prefix}-{n}"));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A new DVC project (`git init`, `dvc init`), as DVC's `tmp_dir` + `dvc` + `scm`.
    pub fn dvc_project(&self) -> PathBuf {
        self.copy_of(template(Template::Project), "dvc")
    }

    /// A new crate that is also a git and DVC project, as a user's crate is.
    pub fn crate_dir(&self) -> PathBuf {
        let dir = self.copy_of(template(Template::Project), "ours");
        support::write(&dir, "Cargo.toml", CRATE_MANIFEST);
        dir
    }

    /// A copy of `template` as a new folder `<prefix>-N`.
    fn copy_of(&self, template: &Path, prefix: &str) -> PathBuf {
        let dir = self.fresh(prefix);
        fs::remove_dir(&dir).unwrap();
        support::copy_tree(template, &dir);
        dir
    }

    /// A new empty folder (no git, no DVC): where `get` runs.
    pub fn plain_dir(&self) -> PathBuf {
        self.fresh("plain")
    }

    /// `cargo dvc ARGS` in `dir` with the bench's cache.
    pub fn ours(&self, dir: &Path) -> Command {
        cargo_dvc(dir, &self.cache)
    }
}

/// The starting points every scenario copies (`dvc init` alone costs a
/// second): made once per test process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Template {
    /// `git init` + `dvc init` (nothing committed): a consumer project.
    Project,
    /// `git init` + one empty commit: DVC's `git_dir`.
    GitDir,
    /// `git_dir` + `dvc init` (DVC 3), committed: DVC's `erepo_dir`.
    Erepo,
    /// The same with DVC 2.
    Erepo2,
}

fn template(which: Template) -> &'static Path {
    static TEMPLATES: OnceLock<Vec<(Template, PathBuf)>> = OnceLock::new();
    let made = TEMPLATES.get_or_init(|| {
        // Kept for the whole run: in `target/tmp`, not `/tmp` (see
        // `process_dir`).
        let tmp = support::process_dir("dvc-scenario-templates");
        let project = tmp.join("project");
        support::consumer(&project);
        let git_dir = tmp.join("git_dir");
        fs::create_dir_all(&git_dir).unwrap();
        run(git(&git_dir).args(["init", "-q"]));
        run(git(&git_dir).args(["commit", "-q", "--allow-empty", "-m", "init"]));
        let mut made = vec![
            (Template::Project, project),
            (Template::GitDir, git_dir.clone()),
        ];
        for (which, version2) in [(Template::Erepo, false), (Template::Erepo2, true)] {
            let dir = tmp.join(format!("{which:?}"));
            support::copy_tree(&git_dir, &dir);
            let repo = Repo {
                git_root: dir.clone(),
                dir: dir.clone(),
                dvc2: version2,
            };
            repo.dvc_init();
            made.push((which, dir));
        }
        made
    });
    made.iter()
        .find(|(t, _)| *t == which)
        .map(|(_, p)| p.as_path())
        .unwrap()
}

/// The manifest of every crate a scenario makes.
pub const CRATE_MANIFEST: &str =
    "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n";

/// A git repository made as DVC's fixtures make one.
pub struct Repo {
    /// Its work tree.
    pub dir: PathBuf,
    /// `true` when its DVC files are written by DVC 2.
    pub dvc2: bool,
    /// The folder of the git repository holding it (differs for a subrepo).
    pub git_root: PathBuf,
}

impl Repo {
    /// DVC's `erepo_dir`: `git init`, `dvc init`, committed; no remote, so
    /// the data is only in the registry's own `.dvc/cache`.
    pub fn erepo(bench: &Bench, name: &str) -> Repo {
        Repo::erepo_with(bench, name, false)
    }

    /// As [`Repo::erepo`], with DVC 2 when `dvc2`.
    pub fn erepo_with(bench: &Bench, name: &str, dvc2: bool) -> Repo {
        let which = if dvc2 {
            Template::Erepo2
        } else {
            Template::Erepo
        };
        Repo::from_template(bench, name, which, dvc2)
    }

    /// DVC's `git_dir`: a git repository with one commit and no DVC.
    pub fn git_dir(bench: &Bench, name: &str) -> Repo {
        Repo::from_template(bench, name, Template::GitDir, false)
    }

    fn from_template(bench: &Bench, name: &str, which: Template, dvc2: bool) -> Repo {
        let dir = bench.root.join(name);
        support::copy_tree(template(which), &dir);
        Repo {
            git_root: dir.clone(),
            dir,
            dvc2,
        }
    }

    /// `dvc init` (committed): `git_dir.init(dvc=True)`.
    pub fn dvc_init(&self) {
        run(self.dvc().args(["init", "-q"]));
        self.commit("dvc init");
    }

    /// DVC's `make_subrepo`: `dvc init --subdir` in the folder `rel`, committed.
    pub fn subrepo(&self, rel: &str) -> Repo {
        let dir = self.dir.join(rel);
        fs::create_dir_all(&dir).unwrap();
        let sub = Repo {
            dir,
            dvc2: self.dvc2,
            git_root: self.git_root.clone(),
        };
        run(sub.dvc().args(["init", "-q", "--subdir"]));
        sub.commit("init subrepo");
        sub
    }

    /// The registry's URL: its absolute path.
    pub fn url(&self) -> String {
        self.dir.to_str().unwrap().to_string()
    }

    /// A `dvc` command (of the repository's version) in the work tree, its
    /// site cache outside the repository (so `git add -A` leaves it out).
    pub fn dvc(&self) -> Command {
        let mut cmd = if self.dvc2 {
            dvc2(&self.dir)
        } else {
            dvc(&self.dir)
        };
        cmd.env(
            "DVC_SITE_CACHE_DIR",
            self.git_root.with_extension("site-cache"),
        );
        cmd
    }

    /// A `git` command in the work tree.
    pub fn git(&self) -> Command {
        git(&self.dir)
    }

    /// Writes files (path, contents) into the work tree.
    pub fn write_files(&self, files: &[(&str, &str)]) {
        for (path, contents) in files {
            support::write(&self.dir, path, contents);
        }
    }

    /// DVC's `dvc_gen`: writes `files`, `dvc add`s `targets`, commits.
    pub fn dvc_gen(&self, files: &[(&str, &str)], targets: &[&str], msg: &str) -> String {
        self.write_files(files);
        run(self.dvc().arg("add").arg("-q").args(targets));
        self.commit(msg)
    }

    /// DVC's `scm_gen`: writes `files` and commits them to git.
    pub fn scm_gen(&self, files: &[(&str, &str)], msg: &str) -> String {
        self.write_files(files);
        self.commit(msg)
    }

    /// `git add -A && git commit` (of the whole git repository); the new HEAD.
    pub fn commit(&self, msg: &str) -> String {
        run(git(&self.git_root).args(["add", "-A"]));
        run(git(&self.git_root).args(["commit", "-q", "--allow-empty", "-m", msg]));
        self.head()
    }

    /// The commit id of HEAD.
    pub fn head(&self) -> String {
        self.rev_parse("HEAD")
    }

    /// `git rev-parse REV`.
    pub fn rev_parse(&self, rev: &str) -> String {
        run_stdout(git(&self.git_root).args(["rev-parse", rev]))
    }

    /// `git checkout [-b] NAME`.
    pub fn checkout(&self, name: &str, new: bool) {
        let mut cmd = git(&self.git_root);
        cmd.args(["checkout", "-q"]);
        if new {
            cmd.arg("-b");
        }
        run(cmd.arg(name));
    }

    /// `git tag NAME`.
    pub fn tag(&self, name: &str) {
        run(git(&self.git_root).args(["tag", name]));
    }

    /// Adds a local remote folder (created beside the repository) as the
    /// default remote, committed: DVC's `add_remote` with `local_cloud`.
    pub fn add_remote(&self, bench: &Bench) -> PathBuf {
        let remote = bench.fresh("remote");
        run(self
            .dvc()
            .args(["remote", "add", "-q", "-d", "store"])
            .arg(&remote));
        self.commit("add remote");
        remote
    }

    /// `dvc push` to the default remote.
    pub fn push(&self) {
        run(self.dvc().args(["push", "-q"]));
    }

    /// Removes the repository's own DVC cache (`.dvc/cache`).
    pub fn clear_cache(&self) {
        let _ = fs::remove_dir_all(self.dir.join(".dvc/cache"));
    }
}

/// What one side left after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the command succeeded.
    pub ok: bool,
    /// The text of `<out>.dvc`, if there is one.
    pub lock: Option<String>,
    /// What is at `out`: `[":<bytes>"]` for a file, `["rel:<bytes>", ...]`
    /// for a directory, empty when nothing is there.
    pub placed: Vec<String>,
    /// `path: text` of every `.gitignore` outside `.dvc/` and `out`.
    pub gitignores: Vec<String>,
    /// stdout and stderr (not compared).
    pub message: String,
}

impl Outcome {
    /// The outcome of `output` in `dir` for the output `out`.
    pub fn collect(dir: &Path, out: &str, output: &Output) -> Outcome {
        let message = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let out_path = dir.join(out);
        Outcome {
            ok: output.status.success(),
            lock: fs::read_to_string(format!("{}.dvc", out_path.display())).ok(),
            placed: snapshot(&out_path),
            gitignores: gitignores(dir, &out_path),
            message,
        }
    }

    /// What the two sides must agree on.
    fn compared(&self) -> (bool, &Option<String>, &Vec<String>, &Vec<String>) {
        (self.ok, &self.lock, &self.placed, &self.gitignores)
    }
}

/// Asserts `ours` agrees with `dvc`: outcome, lock bytes, placed bytes,
/// `.gitignore` lines. When both failed, ours must name the dependency (or
/// the path) and say what to do.
#[track_caller]
pub fn assert_agree(dvc: &Outcome, ours: &Outcome, what: &str) {
    assert_eq!(
        dvc.compared(),
        ours.compared(),
        "{what}: dvc (left) and ours (right) differ\n--- dvc said:\n{}\n--- we said:\n{}",
        dvc.message,
        ours.message
    );
    if !ours.ok {
        assert!(
            ours.message.contains("help:"),
            "{what}: both failed, but our error says nothing to do:\n{}",
            ours.message
        );
    }
}

/// The bytes at `path`: see [`Outcome::placed`].
pub fn snapshot(path: &Path) -> Vec<String> {
    let Ok(meta) = fs::metadata(path) else {
        return Vec::new();
    };
    if meta.is_file() {
        return vec![format!(":{}", bytes(path))];
    }
    let mut out = Vec::new();
    walk(path, path, &mut out);
    out.sort();
    out
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(base, &path, out);
        } else {
            let rel = path.strip_prefix(base).unwrap().to_string_lossy();
            out.push(format!("{rel}:{}", bytes(&path)));
        }
    }
}

fn bytes(path: &Path) -> String {
    let bytes = fs::read(path).unwrap();
    match String::from_utf8(bytes) {
        Ok(text) => format!("{text:?}"),
        Err(e) => format!("{:?}", e.into_bytes()),
    }
}

/// `path: text` of every `.gitignore` under `dir` outside `.dvc/`, `.git/`
/// and `skip`.
fn gitignores(dir: &Path, skip: &Path) -> Vec<String> {
    fn visit(base: &Path, dir: &Path, skip: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path == skip || name == ".git" || name == ".dvc" || name == "target" {
                continue;
            }
            if path.is_dir() {
                visit(base, &path, skip, out);
            } else if name == ".gitignore" {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push(format!("{rel}: {:?}", fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    visit(dir, dir, skip, &mut out);
    out.sort();
    out
}

/// Options of an import or a get, as both tools spell them.
#[derive(Debug, Clone, Default)]
pub struct Args<'a> {
    /// `-o OUT`.
    pub out: Option<&'a str>,
    /// `--rev REV`.
    pub rev: Option<&'a str>,
    /// More flags for both tools (`--no-download`).
    pub flags: &'a [&'a str],
    /// Folders to create in the project first.
    pub mkdirs: &'a [&'a str],
}

impl<'a> Args<'a> {
    pub fn out(out: &'a str) -> Args<'a> {
        Args {
            out: Some(out),
            ..Args::default()
        }
    }

    pub fn rev(mut self, rev: &'a str) -> Args<'a> {
        self.rev = Some(rev);
        self
    }

    pub fn flags(mut self, flags: &'a [&'a str]) -> Args<'a> {
        self.flags = flags;
        self
    }

    pub fn mkdirs(mut self, dirs: &'a [&'a str]) -> Args<'a> {
        self.mkdirs = dirs;
        self
    }

    fn apply(&self, cmd: &mut Command) {
        if let Some(out) = self.out {
            cmd.args(["-o", out]);
        }
        if let Some(rev) = self.rev {
            cmd.args(["--rev", rev]);
        }
        cmd.args(self.flags);
    }

    /// Where the output lands, relative to the project: `-o`, else the
    /// last part of `path`.
    pub fn out_path(&self, path: &str) -> String {
        match self.out {
            Some(out) => out.trim_end_matches('/').to_string(),
            None => path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(path)
                .to_string(),
        }
    }
}

/// The dependency name our side declares.
pub const NAME: &str = "dep";

/// `dvc import URL PATH ARGS` in a new DVC project.
pub fn dvc_import(bench: &Bench, url: &str, path: &str, args: &Args) -> (PathBuf, Outcome) {
    let dir = bench.dvc_project();
    mkdirs(&dir, args.mkdirs);
    let mut cmd = dvc(&dir);
    cmd.args(["import", url, path]);
    args.apply(&mut cmd);
    let output = cmd.output().unwrap();
    let outcome = Outcome::collect(&dir, &args.out_path(path), &output);
    (dir, outcome)
}

/// `cargo dvc import URL PATH ARGS --name dep` in a new crate, then (when
/// that worked and the lock is not `--no-download`) `cargo dvc pull`, which
/// places the artifact as `dvc import` does.
pub fn our_import(bench: &Bench, url: &str, path: &str, args: &Args) -> (PathBuf, Outcome) {
    let dir = bench.crate_dir();
    mkdirs(&dir, args.mkdirs);
    let mut cmd = bench.ours(&dir);
    cmd.args(["import", url, path, "--name", NAME]);
    args.apply(&mut cmd);
    let mut output = cmd.output().unwrap();
    if output.status.success() && !args.flags.contains(&"--no-download") {
        let pull = bench.ours(&dir).args(["pull", NAME]).output().unwrap();
        output.status = pull.status;
        output.stderr.extend_from_slice(&pull.stderr);
    }
    let outcome = Outcome::collect(&dir, &args.out_path(path), &output);
    (dir, outcome)
}

/// Imports with both tools and asserts they agree; returns (dvc's project,
/// our crate, the outcome).
#[track_caller]
pub fn import_both(
    bench: &Bench,
    url: &str,
    path: &str,
    args: &Args,
) -> (PathBuf, PathBuf, Outcome) {
    let (dvc_dir, theirs) = dvc_import(bench, url, path, args);
    let (our_dir, ours) = our_import(bench, url, path, args);
    assert_agree(&theirs, &ours, &format!("import {path} {args:?}"));
    (dvc_dir, our_dir, ours)
}

/// `dvc get URL PATH ARGS` in a new plain folder.
pub fn dvc_get(bench: &Bench, url: &str, path: &str, args: &Args) -> Outcome {
    let dir = bench.plain_dir();
    mkdirs(&dir, args.mkdirs);
    let mut cmd = dvc(&dir);
    cmd.args(["get", url, path]);
    args.apply(&mut cmd);
    let output = cmd.output().unwrap();
    Outcome::collect(&dir, &args.out_path(path), &output)
}

/// `cargo dvc get URL PATH ARGS` in a new plain folder.
pub fn our_get(bench: &Bench, url: &str, path: &str, args: &Args) -> Outcome {
    let dir = bench.plain_dir();
    mkdirs(&dir, args.mkdirs);
    let mut cmd = bench.ours(&dir);
    cmd.args(["get", url, path]);
    args.apply(&mut cmd);
    let output = cmd.output().unwrap();
    Outcome::collect(&dir, &args.out_path(path), &output)
}

/// Gets with both tools and asserts they agree.
#[track_caller]
pub fn get_both(bench: &Bench, url: &str, path: &str, args: &Args) -> Outcome {
    let theirs = dvc_get(bench, url, path, args);
    let ours = our_get(bench, url, path, args);
    assert_agree(&theirs, &ours, &format!("get {path} {args:?}"));
    ours
}

fn mkdirs(dir: &Path, dirs: &[&str]) {
    for d in dirs {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
}

/// The build script on `lock` (text written by `dvc`): a new crate with the
/// declaration of `our_crate` and `lock` at `out.dvc`, built by
/// `dvc_build::Fetch` with a cold cache. Returns what it placed (or the
/// error) and checks it left the lock as it was.
#[track_caller]
pub fn build_with_lock(
    bench: &Bench,
    our_crate: &Path,
    out: &str,
    lock: &str,
) -> Result<Vec<String>, String> {
    let dir = bench.fresh("build");
    fs::copy(our_crate.join("Cargo.toml"), dir.join("Cargo.toml")).unwrap();
    support::write(&dir, &format!("{out}.dvc"), lock);
    let out_dir = dir.join("out");
    let result = dvc_build::Fetch::new()
        .manifest_dir(&dir)
        .out_dir(&out_dir)
        .cache_dir(bench.fresh("build-cache"))
        .offline(false)
        .locked(false)
        .emit_directives(false)
        .run();
    assert_eq!(
        fs::read_to_string(dir.join(format!("{out}.dvc"))).unwrap(),
        lock,
        "the build rewrote the lock"
    );
    match result {
        Ok(_) => Ok(snapshot(&out_dir.join("dvc").join(out))),
        Err(e) => Err(e.to_string()),
    }
}

/// `dvc pull` in a new DVC project holding only `lock` at `out.dvc`:
/// what it placed, or its error.
pub fn dvc_pull_lock(bench: &Bench, out: &str, lock: &str) -> Result<Vec<String>, String> {
    let dir = bench.dvc_project();
    support::write(&dir, &format!("{out}.dvc"), lock);
    let output = dvc(&dir).arg("pull").output().unwrap();
    if output.status.success() {
        Ok(snapshot(&dir.join(out)))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// `cargo dvc pull` in a new crate holding the declaration of `our_crate`
/// and `lock`: what it placed, or its error; the lock must stay as it was.
#[track_caller]
pub fn our_pull_lock(
    bench: &Bench,
    our_crate: &Path,
    out: &str,
    lock: &str,
) -> Result<Vec<String>, String> {
    let dir = bench.crate_dir();
    fs::copy(our_crate.join("Cargo.toml"), dir.join("Cargo.toml")).unwrap();
    support::write(&dir, &format!("{out}.dvc"), lock);
    let cache = bench.fresh("pull-cache");
    let output = cargo_dvc(&dir, &cache).args(["pull"]).output().unwrap();
    assert_eq!(
        fs::read_to_string(dir.join(format!("{out}.dvc"))).unwrap(),
        lock,
        "`cargo dvc pull` rewrote the lock"
    );
    if output.status.success() {
        Ok(snapshot(&dir.join(out)))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Runs `cmd` and returns its output, whatever the exit status.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

/// Reads `dir/rel` as text (panics when missing).
pub fn read(dir: &Path, rel: &str) -> String {
    fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}
