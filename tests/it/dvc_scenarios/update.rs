//! `tests/func/test_update.py`: `dvc update` and `cargo dvc update` (then
//! `cargo dvc pull`, which places the artifact as `dvc update` does) on
//! imports both tools wrote alike.

use std::fs;
use std::path::Path;

use super::harness::*;

/// `dvc update OUT.dvc ARGS` in `dvc_dir` and `cargo dvc update dep ARGS`
/// (then `pull`) in `our_dir`; asserts they agree.
#[track_caller]
pub fn update_both(b: &Bench, dvc_dir: &Path, our_dir: &Path, out: &str, args: &[&str]) -> Outcome {
    let theirs = output(
        crate::support::dvc(dvc_dir)
            .args(["update", &format!("{out}.dvc")])
            .args(args),
    );
    let theirs = Outcome::collect(dvc_dir, out, &theirs);
    let mut ours = output(b.ours(our_dir).args(["update", NAME]).args(args));
    if ours.status.success() {
        let pull = output(b.ours(our_dir).args(["pull", NAME]));
        ours.status = pull.status;
        ours.stderr.extend_from_slice(&pull.stderr);
    }
    let ours = Outcome::collect(our_dir, out, &ours);
    assert_agree(&theirs, &ours, &format!("update {out} {args:?}"));
    ours
}

/// `test_update_import`: a file and a directory on a branch, DVC-tracked
/// (`cached`) or git-tracked, updated after the branch moved.
#[test]
fn update_import() {
    for cached in [true, false] {
        let b = Bench::new();
        let erepo = Repo::erepo(&b, "erepo");
        let generate = |version: &str, msg: &str| {
            let files = [
                ("version", version),
                ("dir/version", version),
                ("dir/subdir/file", "file"),
            ];
            if cached {
                erepo.dvc_gen(&files, &["version", "dir"], msg);
            } else {
                erepo.scm_gen(&files, msg);
            }
        };
        erepo.checkout("branch", true);
        generate("branch", "add version file");
        erepo.checkout("main", false);
        let url = erepo.url();
        let (dvc_v, our_v, _) =
            import_both(&b, &url, "version", &Args::out("version").rev("branch"));
        let (dvc_d, our_d, _) = import_both(&b, &url, "dir", &Args::out("dir").rev("branch"));
        erepo.checkout("branch", false);
        generate("updated", "update version content");
        erepo.checkout("main", false);
        let new_rev = erepo.rev_parse("branch");
        let ours = update_both(&b, &dvc_v, &our_v, "version", &[]);
        assert!(ours.lock.unwrap().contains(&new_rev));
        update_both(&b, &dvc_d, &our_d, "dir", &[]);
    }
}

/// `test_update_import_after_remote_updates_to_dvc`: a git file that the
/// registry starts tracking with DVC.
#[test]
fn update_import_after_remote_updates_to_dvc() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.checkout("branch", true);
    erepo.scm_gen(&[("version", "branch")], "add version file");
    let (dvc_dir, our_dir, _) = import_both(
        &b,
        &erepo.url(),
        "version",
        &Args::out("version").rev("branch"),
    );
    crate::support::run(erepo.git().args(["rm", "-q", "--cached", "version"]));
    erepo.dvc_gen(
        &[("version", "updated")],
        &["version"],
        "upgrade to DVC tracking",
    );
    erepo.checkout("main", false);
    update_both(&b, &dvc_dir, &our_dir, "version", &[]);
}

/// `test_update_before_and_after_dvc_init`: a plain git repository that becomes a DVC project.
#[test]
fn update_before_and_after_dvc_init() {
    let b = Bench::new();
    let repo = Repo::git_dir(&b, "git_dir");
    repo.scm_gen(&[("file", "first version")], "first version");
    let (dvc_dir, our_dir, _) = import_both(&b, &repo.url(), "file", &Args::out("file"));
    repo.dvc_init();
    crate::support::run(repo.git().args(["rm", "-q", "file"]));
    repo.dvc_gen(&[("file", "second version")], &["file"], "with dvc");
    update_both(&b, &dvc_dir, &our_dir, "file", &[]);
}

/// `test_update_unchanged`: nothing moved, the lock stays byte for byte.
#[test]
fn update_unchanged() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("file", "file content")], &["file"], "add file");
    let (dvc_dir, our_dir, before) = import_both(&b, &erepo.url(), "file", &Args::default());
    let after = update_both(&b, &dvc_dir, &our_dir, "file", &[]);
    assert_eq!(before.lock, after.lock);
}

/// `test_update_rev`: `--rev` to one branch, then another, on a plain git repository.
#[test]
fn update_rev() {
    let b = Bench::new();
    let repo = Repo::git_dir(&b, "git_dir");
    repo.scm_gen(&[("foo", "foo")], "first");
    let (dvc_dir, our_dir, _) = import_both(&b, &repo.url(), "foo", &Args::default());
    repo.checkout("branch1", true);
    repo.scm_gen(&[("foo", "foobar")], "branch1 commit");
    repo.checkout("branch2", true);
    repo.scm_gen(&[("foo", "foobar foo")], "branch2 commit");
    repo.checkout("main", false);
    let ours = update_both(&b, &dvc_dir, &our_dir, "foo", &["--rev", "branch1"]);
    assert_eq!(ours.placed, [r#":"foobar""#]);
    let ours = update_both(&b, &dvc_dir, &our_dir, "foo", &["--rev", "branch2"]);
    assert_eq!(ours.placed, [r#":"foobar foo""#]);
}

/// `test_update_recursive`: three imports in nested folders, all updated
/// (`dvc update -R dir`; ours: `cargo dvc update`, every dependency).
#[test]
fn update_recursive() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.checkout("branch", true);
    erepo.scm_gen(
        &[("foo1", "text1"), ("foo2", "text2"), ("foo3", "text3")],
        "add foo files",
    );
    erepo.checkout("main", false);
    let url = erepo.url();
    let outs = [
        ("foo1", "dir/foo1"),
        ("foo2", "dir/subdir/foo2"),
        ("foo3", "dir/subdir/foo3"),
    ];
    let dvc_dir = b.dvc_project();
    let our_dir = b.crate_dir();
    for (path, out) in outs {
        for dir in [&dvc_dir, &our_dir] {
            fs::create_dir_all(dir.join("dir/subdir")).unwrap();
        }
        crate::support::run(
            crate::support::dvc(&dvc_dir)
                .args(["import", "-q", &url, path, "-o", out, "--rev", "branch"]),
        );
        crate::support::run(b.ours(&our_dir).args([
            "import", "-q", &url, path, "-o", out, "--rev", "branch", "--name", path,
        ]));
    }
    erepo.checkout("branch", false);
    erepo.scm_gen(
        &[
            ("foo1", "updated1"),
            ("foo2", "updated2"),
            ("foo3", "updated3"),
        ],
        "update foo content",
    );
    erepo.checkout("main", false);
    crate::support::run(crate::support::dvc(&dvc_dir).args(["update", "-q", "-R", "dir"]));
    crate::support::run(b.ours(&our_dir).args(["update", "-q"]));
    for (_, out) in outs {
        let lock = format!("{out}.dvc");
        assert_eq!(read(&dvc_dir, &lock), read(&our_dir, &lock), "{lock}");
        assert!(read(&our_dir, &lock).contains(&erepo.rev_parse("branch")));
    }
}
