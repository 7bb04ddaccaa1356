//! The git layer against real repositories: local paths, `git daemon` and
//! smart HTTP (`git http-backend`) on loopback.

use std::path::{Path, PathBuf};

use dvc_build::__private::git::{CommitId, EntryKind, GitDatabase, GitRemote, NetMode, Oid};
use dvc_build::ErrorKind;

use crate::support::{GitDaemon, GitHttp, free_port, git, run, run_stdout, tempdir, write};

const UNICODE: &str = "models/a b/modèle ✓.bin";

/// A source repository with a known history:
/// `c1` (tags `v1` annotated, `v1-light`) <- `c2` (main), and `dev` at `c3` off `c1`.
struct Source {
    dir: PathBuf,
    c1: String,
    c2: String,
    c3: String,
}

impl Source {
    fn new(root: &Path) -> Source {
        Source::named(root, "source")
    }

    fn named(root: &Path, name: &str) -> Source {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        run(git(&dir).args(["init", "-q"]));
        write(&dir, "README.md", "v1\n");
        write(&dir, UNICODE, vec![7u8; 3000]);
        write(&dir, "data/x.txt", "x\n");
        write(&dir, "data/sub/y.txt", "yy\n");
        write(&dir, "data/run.sh", "#!/bin/sh\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.join("data/run.sh");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::symlink("x.txt", dir.join("data/link")).unwrap();
        }
        let c1 = commit(&dir, "one");
        run(git(&dir).args(["tag", "-a", "-m", "release", "v1"]));
        run(git(&dir).args(["tag", "v1-light"]));
        run(git(&dir).args(["checkout", "-q", "-b", "dev"]));
        write(&dir, "README.md", "dev\n");
        let c3 = commit(&dir, "three");
        run(git(&dir).args(["checkout", "-q", "main"]));
        write(&dir, "README.md", "v2\n");
        let c2 = commit(&dir, "two");
        Source { dir, c1, c2, c3 }
    }

    fn remote(&self) -> GitRemote {
        GitRemote::new(&self.dir.to_string_lossy()).unwrap()
    }

    /// A new commit on `main`.
    fn advance(&self, readme: &str) -> String {
        write(&self.dir, "README.md", readme);
        commit(&self.dir, readme)
    }
}

fn commit(dir: &Path, msg: &str) -> String {
    run(git(dir).args(["add", "-A"]));
    run(git(dir).args(["commit", "-q", "-m", msg]));
    run_stdout(git(dir).args(["rev-parse", "HEAD"]))
}

fn oid(s: &str) -> CommitId {
    Oid::parse(s).unwrap()
}

fn open(cache: &Path, url: &str) -> GitDatabase {
    GitDatabase::open(cache, &GitRemote::new(url).unwrap()).unwrap()
}

fn text(db: &GitDatabase, c: &CommitId, path: &str) -> Option<String> {
    db.read_file(c, path)
        .unwrap()
        .map(|b| String::from_utf8(b).unwrap())
}

/// Every way of naming a revision, then the same again offline.
fn check_all_revisions(db: &GitDatabase, src: &Source) {
    use NetMode::*;
    assert_eq!(db.resolve(None, Online).unwrap(), oid(&src.c2));
    assert_eq!(db.resolve(Some("main"), Online).unwrap(), oid(&src.c2));
    assert_eq!(db.resolve(Some("dev"), Online).unwrap(), oid(&src.c3));
    assert_eq!(db.resolve(Some("v1"), Online).unwrap(), oid(&src.c1));
    assert_eq!(db.resolve(Some("v1-light"), Online).unwrap(), oid(&src.c1));
    assert_eq!(
        db.resolve(Some("refs/heads/dev"), Online).unwrap(),
        oid(&src.c3)
    );
    assert_eq!(db.resolve(Some(&src.c1), Online).unwrap(), oid(&src.c1));
    assert_eq!(
        db.resolve(Some(&src.c3[..10]), Online).unwrap(),
        oid(&src.c3)
    );
    for rev in [
        None,
        Some("main"),
        Some("dev"),
        Some("v1"),
        Some(&src.c1[..]),
    ] {
        db.resolve(rev, Offline)
            .unwrap_or_else(|e| panic!("offline {rev:?}: {e}"));
    }
    assert_eq!(db.resolve(Some("v1"), Offline).unwrap(), oid(&src.c1));
    assert_eq!(text(db, &oid(&src.c3), "README.md").unwrap(), "dev\n");
    assert_eq!(text(db, &oid(&src.c1), "README.md").unwrap(), "v1\n");
}

#[test]
fn git_resolves_every_kind_of_revision_from_a_local_path() {
    let tmp = tempdir();
    let src = Source::new(tmp.path());
    let db = GitDatabase::open(&tmp.path().join("cache"), &src.remote()).unwrap();
    assert!(db.path().starts_with(tmp.path().join("cache/git/db")));
    check_all_revisions(&db, &src);
    // A commit that is no branch tip and not yet fetched (the db is shallow).
    let db2 = open(&tmp.path().join("cache2"), &src.dir.to_string_lossy());
    assert_eq!(
        db2.resolve(Some(&src.c1), NetMode::Online).unwrap(),
        oid(&src.c1)
    );
}

#[test]
fn git_unknown_revision_lists_branches_and_tags() {
    let tmp = tempdir();
    let src = Source::new(tmp.path());
    let db = GitDatabase::open(&tmp.path().join("cache"), &src.remote()).unwrap();
    for rev in ["no-such-branch", "abcdef12"] {
        let err = db.resolve(Some(rev), NetMode::Online).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Git, "{err}");
        let msg = err.to_string();
        assert!(msg.contains(rev) && msg.contains("not found"), "{msg}");
        assert!(msg.contains(&*src.dir.to_string_lossy()), "{msg}");
        let help = err.help().unwrap();
        for name in ["`main`", "`dev`", "`v1`", "`v1-light`"] {
            assert!(help.contains(name), "{help}");
        }
    }
    let err = db
        .resolve(Some("--upload-pack=x"), NetMode::Online)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Git);
}

#[test]
fn git_reads_files_and_folders_with_unicode_and_spaces() {
    let tmp = tempdir();
    let src = Source::new(tmp.path());
    let db = GitDatabase::open(&tmp.path().join("cache"), &src.remote()).unwrap();
    let c = db.resolve(Some("v1"), NetMode::Online).unwrap();

    assert_eq!(db.read_file(&c, UNICODE).unwrap().unwrap(), vec![7u8; 3000]);
    let e = db.entry(&c, UNICODE).unwrap().unwrap();
    assert_eq!(
        (e.kind, e.size, e.path.as_str()),
        (EntryKind::Blob, Some(3000), UNICODE)
    );
    let mut streamed = Vec::new();
    assert_eq!(db.write_blob(&e.oid, &mut streamed).unwrap(), 3000);
    assert_eq!(streamed, vec![7u8; 3000]);

    assert_eq!(
        db.entry(&c, "models/a b").unwrap().unwrap().kind,
        EntryKind::Tree
    );
    assert_eq!(db.entry(&c, "").unwrap().unwrap().kind, EntryKind::Tree);
    assert!(db.entry(&c, "models/a").unwrap().is_none());
    assert!(db.read_file(&c, "nope.txt").unwrap().is_none());
    assert!(db.read_file(&c, "data").is_err(), "a folder is no file");
    assert!(db.read_file(&c, "../etc/passwd").is_err());
    assert_eq!(text(&db, &c, "./data//x.txt").unwrap(), "x\n");

    let names = |dir: &str, rec: bool| -> Vec<String> {
        let list = db.list_dir(&c, dir, rec).unwrap().unwrap();
        list.into_iter().map(|e| e.path).collect()
    };
    assert_eq!(names("models/a b", false), ["modèle ✓.bin"]);
    assert_eq!(names("", false), ["README.md", "data", "models"]);
    let mut expected = vec!["run.sh", "sub/y.txt", "x.txt"];
    if cfg!(unix) {
        expected.insert(0, "link");
    }
    assert_eq!(names("data", true), expected);
    assert_eq!(names("data", false).len(), expected.len());
    assert!(db.list_dir(&c, "README.md", false).unwrap().is_none());
    assert!(db.list_dir(&c, "missing", true).unwrap().is_none());

    #[cfg(unix)]
    {
        let list = db.list_dir(&c, "data", false).unwrap().unwrap();
        let get = |n: &str| list.iter().find(|e| e.path == n).unwrap().clone();
        assert_eq!(get("link").kind, EntryKind::Symlink);
        assert_eq!(text(&db, &c, "data/link").unwrap(), "x.txt");
        assert!(get("run.sh").is_executable());
        assert!(!get("x.txt").is_executable());
        assert_eq!(get("sub").kind, EntryKind::Tree);
    }
}

#[test]
fn git_cache_is_shared_and_needs_no_source_once_fetched() {
    let tmp = tempdir();
    let cache = tmp.path().join("cache");
    let src = Source::new(tmp.path());
    let first = GitDatabase::open(&cache, &src.remote()).unwrap();
    let c = first.resolve(Some("v1"), NetMode::Online).unwrap();
    first.resolve(None, NetMode::Online).unwrap();

    // The registry disappears: everything already fetched keeps working.
    std::fs::rename(&src.dir, tmp.path().join("moved")).unwrap();
    let url = format!("{}/", src.dir.display()); // another spelling, same db
    let second = open(&cache, &url);
    assert_eq!(second.path(), first.path());
    for net in [NetMode::Online, NetMode::Offline] {
        assert_eq!(second.resolve(Some(c.as_str()), net).unwrap(), c);
        second.ensure_commit(&c, net).unwrap();
    }
    assert_eq!(second.resolve(Some("v1"), NetMode::Offline).unwrap(), c);
    assert_eq!(
        second.resolve(None, NetMode::Offline).unwrap(),
        oid(&src.c2)
    );
    assert_eq!(text(&second, &c, "README.md").unwrap(), "v1\n");

    // Asking the (gone) remote fails clearly.
    let err = second.resolve(Some("v1"), NetMode::Online).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Git, "{err}");
    assert!(err.to_string().contains("git ls-remote"), "{err}");
}

#[test]
fn git_offline_mode_never_fetches() {
    let tmp = tempdir();
    let src = Source::new(tmp.path());
    let db = GitDatabase::open(&tmp.path().join("cache"), &src.remote()).unwrap();
    let errors = [
        db.resolve(None, NetMode::Offline).unwrap_err(),
        db.resolve(Some("main"), NetMode::Offline).unwrap_err(),
        db.resolve(Some(&src.c1), NetMode::Offline).unwrap_err(),
        db.resolve(Some(&src.c1[..8]), NetMode::Offline)
            .unwrap_err(),
        db.ensure_commit(&oid(&src.c1), NetMode::Offline)
            .unwrap_err(),
        db.ls_remote(None, NetMode::Offline).unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.kind(), ErrorKind::Offline, "{err}");
        assert!(err.to_string().contains("--offline"), "{err}");
    }
    // Still nothing was fetched.
    assert!(!db.contains(&oid(&src.c1)).unwrap());
}

#[test]
fn git_sees_a_moved_branch_online_only() {
    let tmp = tempdir();
    let src = Source::new(tmp.path());
    let db = GitDatabase::open(&tmp.path().join("cache"), &src.remote()).unwrap();
    assert_eq!(
        db.resolve(Some("main"), NetMode::Online).unwrap(),
        oid(&src.c2)
    );
    assert_eq!(db.resolve(None, NetMode::Online).unwrap(), oid(&src.c2));
    let c4 = oid(&src.advance("v4\n"));
    // ls-remote sees it without fetching.
    assert_eq!(
        db.ls_remote(Some("main"), NetMode::Online).unwrap(),
        Some(c4.clone())
    );
    assert_eq!(
        db.ls_remote(None, NetMode::Online).unwrap(),
        Some(c4.clone())
    );
    assert_eq!(
        db.ls_remote(Some("v1"), NetMode::Online).unwrap(),
        Some(oid(&src.c1))
    );
    assert_eq!(db.ls_remote(Some("nope"), NetMode::Online).unwrap(), None);
    assert!(!db.contains(&c4).unwrap());
    assert_eq!(
        db.resolve(Some("main"), NetMode::Offline).unwrap(),
        oid(&src.c2)
    );
    assert_eq!(db.resolve(Some("main"), NetMode::Online).unwrap(), c4);
    assert_eq!(db.resolve(None, NetMode::Online).unwrap(), c4);
    assert_eq!(db.resolve(None, NetMode::Offline).unwrap(), c4);
    assert_eq!(text(&db, &c4, "README.md").unwrap(), "v4\n");
    // The old commit stays readable.
    assert_eq!(text(&db, &oid(&src.c2), "README.md").unwrap(), "v2\n");
}

#[test]
fn git_over_git_daemon() {
    let tmp = tempdir();
    let src = Source::new(tmp.path());
    let daemon = GitDaemon::start(tmp.path());
    let db = open(&tmp.path().join("cache"), &daemon.url("source"));
    check_all_revisions(&db, &src);
    // By id, a commit that is no tip, into a fresh cache.
    let db2 = open(&tmp.path().join("cache2"), &daemon.url("source"));
    assert_eq!(
        db2.resolve(Some(&src.c1), NetMode::Online).unwrap(),
        oid(&src.c1)
    );
    assert_eq!(text(&db2, &oid(&src.c1), UNICODE).unwrap().len(), 3000);
}

#[test]
fn git_over_smart_http() {
    let tmp = tempdir();
    let src = Source::new(tmp.path());
    let http = GitHttp::start(tmp.path());
    let db = open(&tmp.path().join("cache"), &http.url("source"));
    check_all_revisions(&db, &src);
    let db2 = open(&tmp.path().join("cache2"), &http.url("source/.git"));
    assert_eq!(
        db2.resolve(Some(&src.c1), NetMode::Online).unwrap(),
        oid(&src.c1)
    );

    // A present commit costs no request at all.
    let before = http.requests.load(std::sync::atomic::Ordering::SeqCst);
    let other = open(&tmp.path().join("cache"), &http.url("source.git"));
    assert_eq!(other.path(), db.path());
    assert_eq!(
        other.resolve(Some(&src.c3), NetMode::Online).unwrap(),
        oid(&src.c3)
    );
    assert_eq!(
        http.requests.load(std::sync::atomic::Ordering::SeqCst),
        before
    );
}

#[test]
fn git_never_prints_credentials() {
    let tmp = tempdir();
    let port = free_port(); // nothing listens there
    let secret = "s3cr3t-T0KEN";
    for scheme in ["http", "https"] {
        let url = format!("{scheme}://me:{secret}@127.0.0.1:{port}/registry.git");
        let db = open(&tmp.path().join("cache"), &url);
        let c = oid(&"ab".repeat(20));
        let errors = [
            db.resolve(None, NetMode::Online).unwrap_err(),
            db.resolve(Some("main"), NetMode::Online).unwrap_err(),
            db.resolve(Some("abcdef1"), NetMode::Online).unwrap_err(),
            db.resolve(Some(c.as_str()), NetMode::Online).unwrap_err(),
            db.ensure_commit(&c, NetMode::Online).unwrap_err(),
            db.ls_remote(Some("main"), NetMode::Online).unwrap_err(),
            db.resolve(Some("main"), NetMode::Offline).unwrap_err(),
        ];
        for err in errors {
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("***@127.0.0.1"), "{shown}");
        }
        assert!(!format!("{db:?}").contains(secret));
        let config = std::fs::read_to_string(db.path().join("config")).unwrap();
        assert!(!config.contains(secret));
    }
}

#[test]
fn git_concurrent_fetches_share_one_database() {
    let tmp = tempdir();
    let src = Source::new(tmp.path());
    let cache = tmp.path().join("cache");
    let url = src.dir.to_string_lossy().to_string();
    let revs = ["main", "dev", "v1", "v1-light", "main", "dev"];
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = revs
            .iter()
            .map(|rev| {
                let (cache, url) = (&cache, &url);
                s.spawn(move || {
                    // Each thread opens its own database handle (and lock file).
                    let db = GitDatabase::open(cache, &GitRemote::new(url)?)?;
                    db.resolve(Some(rev), NetMode::Online)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let expected = [&src.c2, &src.c3, &src.c1, &src.c1, &src.c2, &src.c3];
    for ((rev, got), want) in revs.iter().zip(results).zip(expected) {
        assert_eq!(
            got.unwrap_or_else(|e| panic!("{rev}: {e}")),
            oid(want),
            "{rev}"
        );
    }
    let db = open(&cache, &url);
    run(git(db.path()).args(["fsck", "--no-progress"]));
    let entries: Vec<_> = std::fs::read_dir(cache.join("git/db"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(entries.len(), 2, "one db and its lock: {entries:?}");
}

/// Run in child processes by `git_concurrent_processes_share_one_database`:
/// resolves `DVC_BUILD_TEST_GIT_REV` of `..._URL` into the cache `..._CACHE`.
#[test]
#[ignore = "a helper that git_concurrent_processes_share_one_database runs"]
fn git_child_process_resolve() {
    let var = |n: &str| std::env::var(format!("DVC_BUILD_TEST_GIT_{n}")).ok();
    let (Some(cache), Some(url), Some(rev)) = (var("CACHE"), var("URL"), var("REV")) else {
        return;
    };
    let db = open(Path::new(&cache), &url);
    let commit = db.resolve(Some(&rev), NetMode::Online).unwrap();
    println!("RESOLVED {commit}");
}

#[test]
fn git_concurrent_processes_share_one_database() {
    let tmp = tempdir();
    let src = Source::new(tmp.path());
    let daemon = GitDaemon::start(tmp.path());
    let cache = tmp.path().join("cache");
    let url = daemon.url("source");
    let exe = std::env::current_exe().unwrap();
    let cases = [
        ("main", &src.c2),
        ("dev", &src.c3),
        ("v1", &src.c1),
        (&src.c3[..9], &src.c3),
    ];
    let children: Vec<_> = cases
        .iter()
        .map(|(rev, _)| {
            std::process::Command::new(&exe)
                .args(["--exact", "git::git_child_process_resolve", "--ignored"])
                .args(["--nocapture", "--test-threads=1"])
                .env("DVC_BUILD_TEST_GIT_CACHE", &cache)
                .env("DVC_BUILD_TEST_GIT_URL", &url)
                .env("DVC_BUILD_TEST_GIT_REV", rev)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for ((rev, want), child) in cases.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(&format!("RESOLVED {want}")),
            "{rev}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let db = open(&cache, &url);
    run(git(db.path()).args(["fsck", "--no-progress"]));
    assert_eq!(
        db.resolve(Some("dev"), NetMode::Offline).unwrap(),
        oid(&src.c3)
    );
}
