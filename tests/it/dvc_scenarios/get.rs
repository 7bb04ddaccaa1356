//! `tests/func/test_get.py`: `dvc get` and `cargo dvc get` on the same
//! registry, in plain folders. (`-o EXISTING_DIR`, overwriting and
//! `--force` are the user-data safety scenarios, tested with those.)

use std::fs;

use super::harness::*;
use crate::support::run;

/// `test_get_repo_file`, `test_get_repo_dir`: a registry without a remote.
#[test]
fn get_repo_file_and_dir() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(
        &[("file", "contents"), ("dir/file", "contents")],
        &["file", "dir"],
        "create",
    );
    get_both(&b, &erepo.url(), "file", &Args::out("file_imported"));
    get_both(&b, &erepo.url(), "dir", &Args::out("dir_imported"));
}

/// `test_get_repo_broken_dir`: the objects are gone: both fail, nothing left.
#[test]
fn get_repo_broken_dir() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("broken/file", "contents")], &["broken"], "create");
    erepo.clear_cache();
    fs::remove_dir_all(erepo.dir.join("broken")).unwrap();
    let ours = get_both(&b, &erepo.url(), "broken", &Args::out("out"));
    assert!(!ours.ok && ours.placed.is_empty());
}

/// `test_get_git_file`, `test_get_git_dir`: from a plain git repository and
/// from a DVC project.
#[test]
fn get_git_file_and_dir() {
    for dvc in [false, true] {
        let b = Bench::new();
        let repo = if dvc {
            Repo::erepo(&b, "erepo")
        } else {
            Repo::git_dir(&b, "git_dir")
        };
        repo.scm_gen(
            &[
                ("some_file", "hello"),
                ("some_directory/dir/file.txt", "hello"),
            ],
            "add a regular file and dir",
        );
        get_both(
            &b,
            &repo.url(),
            "some_file",
            &Args::out("some_file_imported"),
        );
        get_both(
            &b,
            &repo.url(),
            "some_directory",
            &Args::out("some_directory_imported"),
        );
    }
}

/// `test_cache_type_is_properly_overridden`: a regular file, not a link into
/// the registry's symlinked cache.
#[test]
fn get_cache_type_symlink() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    run(erepo.dvc().args(["config", "cache.type", "symlink"]));
    erepo.commit("set cache type to symlinks");
    erepo.dvc_gen(&[("file", "contents")], &["file"], "create file");
    let dir = b.plain_dir();
    let out = output(
        b.ours(&dir)
            .args(["get", &erepo.url(), "file", "-o", "file_imported"]),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        fs::symlink_metadata(dir.join("file_imported"))
            .unwrap()
            .file_type()
            .is_file()
    );
    get_both(&b, &erepo.url(), "file", &Args::out("file_imported"));
}

/// `test_get_repo_rev`: a branch.
#[test]
fn get_repo_rev() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.checkout("branch", true);
    erepo.dvc_gen(&[("file", "contents")], &["file"], "create file on branch");
    erepo.checkout("main", false);
    get_both(
        &b,
        &erepo.url(),
        "file",
        &Args::out("file_imported").rev("branch"),
    );
}

/// `test_get_from_non_dvc_repo`.
#[test]
fn get_from_non_dvc_repo() {
    let b = Bench::new();
    let repo = Repo::git_dir(&b, "git_dir");
    repo.scm_gen(&[("some_file", "contents")], "create file");
    get_both(&b, &repo.url(), "some_file", &Args::out("file_imported"));
}

/// `test_get_a_dvc_file`: refused, as `dvc` refuses it.
#[test]
fn get_a_dvc_file() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("some_file", "contents")], &["some_file"], "create file");
    let ours = get_both(&b, &erepo.url(), "some_file.dvc", &Args::default());
    assert!(!ours.ok);
    assert!(ours.message.contains("DVC file"), "{}", ours.message);
    let ours = get_both(&b, &erepo.url(), "some_file", &Args::out("x.dvc"));
    assert!(!ours.ok);
}

/// `test_non_cached_output`: an output with `cache: false`, bytes in git.
#[test]
fn get_non_cached_output() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    run(erepo
        .dvc()
        .args(["stage", "add", "-q", "-n", "gen", "-O", "non_cached_file"])
        .arg("echo hello > non_cached_file"));
    run(erepo.dvc().args(["repro", "-q"]));
    erepo.commit("add non-cached output");
    get_both(
        &b,
        &erepo.url(),
        "non_cached_file",
        &Args::out("non_cached_file_imported"),
    );
}

/// `test_absolute_file_outside_repo`, `..._outside_git_repo`, `test_unknown_path`.
#[test]
fn get_missing_paths() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("foo", "foo")], &["foo"], "create foo");
    let git_dir = Repo::git_dir(&b, "git_dir");
    git_dir.scm_gen(&[("bar", "bar")], "create bar");
    for (url, path) in [
        (erepo.url(), "/root/"),
        (git_dir.url(), "/root/"),
        (erepo.url(), "a_non_existing_file"),
    ] {
        let ours = get_both(&b, &url, path, &Args::out("out"));
        assert!(!ours.ok);
    }
}

/// `test_get_from_non_dvc_master`: DVC only on a branch.
#[test]
fn get_from_non_dvc_master() {
    let b = Bench::new();
    let repo = Repo::git_dir(&b, "git_dir");
    repo.checkout("branch", true);
    repo.dvc_init();
    repo.dvc_gen(
        &[("some_file", "some text")],
        &["some_file"],
        "create some file",
    );
    repo.checkout("main", false);
    get_both(
        &b,
        &repo.url(),
        "some_file",
        &Args::out("some_dst").rev("branch"),
    );
}

/// `test_get_file_from_dir`.
#[test]
fn get_file_from_dir() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(
        &[
            ("dir/1", "1"),
            ("dir/2", "2"),
            ("dir/subdir/foo", "foo"),
            ("dir/subdir/bar", "bar"),
        ],
        &["dir"],
        "create dir",
    );
    let url = erepo.url();
    get_both(&b, &url, "dir/1", &Args::default());
    get_both(&b, &url, "dir/2", &Args::out("file"));
    get_both(&b, &url, "dir/subdir", &Args::default());
    get_both(&b, &url, "dir/subdir/foo", &Args::out("X"));
}

/// `test_get_pipeline_tracked_outs`: a `dvc.yaml` output through `file://`.
#[test]
fn get_pipeline_tracked_outs() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.add_remote(&b);
    erepo.write_files(&[("foo", "foo")]);
    run(erepo
        .dvc()
        .args([
            "stage",
            "add",
            "-q",
            "-n",
            "copy-foo-bar",
            "-d",
            "foo",
            "-o",
            "bar",
        ])
        .arg("cp foo bar"));
    run(erepo.dvc().args(["repro", "-q"]));
    erepo.push();
    erepo.commit("add pipeline stage");
    get_both(
        &b,
        &format!("file://{}", erepo.url()),
        "bar",
        &Args::out("baz"),
    );
}

/// `-o sub/foo` where `sub/` is missing: `dvc get` makes the folder.
#[test]
fn get_into_missing_folder() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("foo", "foo")], &["foo"], "create foo");
    let ours = get_both(&b, &erepo.url(), "foo", &Args::out("sub/foo"));
    assert!(ours.ok);
}
