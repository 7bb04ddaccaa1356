//! Mixed folders: a git folder holding DVC outputs, subrepos (`dvc init
//! --subdir`), the whole repository (`.`), a git folder with a nested DVC
//! subrepo (left out). From `test_import.py`, `test_get.py` and
//! `test_external_repo.py`. The lock names the folder as `dvc` sees it
//! (DVC files, `.dvc/` and subrepos left out), so its hash is `dvc`'s.

use super::harness::*;

/// `test_import_mixed_dir`, `test_get_mixed_dir`.
#[test]
fn mixed_dir() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("dir/foo", "foo")], &["dir/foo"], "foo");
    erepo.scm_gen(&[("dir/bar", "bar")], "bar");
    let (dvc_dir, our_dir, ours) = import_both(&b, &erepo.url(), "dir", &Args::default());
    assert_eq!(
        ours.placed,
        [r#".gitignore:"/foo\n""#, r#"bar:"bar""#, r#"foo:"foo""#]
    );
    let lock = read(&dvc_dir, "dir.dvc");
    assert_eq!(dvc_pull_lock(&b, "dir", &lock), Ok(ours.placed.clone()));
    assert_eq!(
        our_pull_lock(&b, &our_dir, "dir", &lock),
        Ok(ours.placed.clone())
    );
    assert_eq!(build_with_lock(&b, &our_dir, "dir", &lock), Ok(ours.placed));
    get_both(&b, &erepo.url(), "dir", &Args::default());
}

/// A subrepo with `files` DVC-tracked (`is_dvc`) or git-tracked.
fn subrepo_bench(is_dvc: bool, dir: bool) -> (Bench, Repo, &'static str) {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    let sub = erepo.subrepo("subrepo");
    let (files, key): (&[(&str, &str)], &str) = if dir {
        (&[("dir/bar", "bar")], "dir")
    } else {
        (&[("foo", "foo")], "foo")
    };
    if is_dvc {
        sub.dvc_gen(files, &[key], "add files in subrepo");
    } else {
        sub.scm_gen(files, "add files in subrepo");
    }
    (b, erepo, key)
}

/// `test_import_subrepos`, `test_pull_imported_stage_from_subrepos`,
/// `test_get_from_subrepos`: a file or directory in a subrepo.
#[test]
fn subrepos() {
    for is_dvc in [true, false] {
        for dir in [false, true] {
            let (b, erepo, key) = subrepo_bench(is_dvc, dir);
            let path = format!("subrepo/{key}");
            let (dvc_dir, our_dir, ours) = import_both(&b, &erepo.url(), &path, &Args::out("out"));
            assert!(
                ours.lock
                    .as_ref()
                    .unwrap()
                    .contains(&format!("- path: {path}\n"))
            );
            let lock = read(&dvc_dir, "out.dvc");
            assert_eq!(dvc_pull_lock(&b, "out", &lock), Ok(ours.placed.clone()));
            assert_eq!(
                our_pull_lock(&b, &our_dir, "out", &lock),
                Ok(ours.placed.clone())
            );
            get_both(&b, &erepo.url(), &path, &Args::out("out"));
        }
    }
}

/// `test_granular_import_from_subrepos`, `test_granular_get_from_subrepos`:
/// a file inside a directory tracked in a subrepo.
#[test]
fn granular_from_subrepos() {
    let (b, erepo, _) = subrepo_bench(true, true);
    import_both(&b, &erepo.url(), "subrepo/dir/bar", &Args::out("out"));
    get_both(&b, &erepo.url(), "subrepo/dir/bar", &Args::out("out"));
}

/// `test_import_complete_repo`, `test_get_complete_repo`: a whole subrepo,
/// and the whole repository (`.`) without its subrepo.
#[test]
fn complete_repo() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("foo", "foo")], &["foo"], "add foo");
    let sub = erepo.subrepo("subrepo");
    sub.dvc_gen(&[("dir/bar", "bar")], &["dir"], "files in subrepo");
    let (dvc_dir, our_dir, ours) = import_both(&b, &erepo.url(), "subrepo", &Args::out("out_sub"));
    assert_eq!(ours.placed, [r#".gitignore:"/dir\n""#, r#"dir/bar:"bar""#]);
    assert_eq!(
        build_with_lock(&b, &our_dir, "out_sub", &read(&dvc_dir, "out_sub.dvc")),
        Ok(ours.placed)
    );
    let (dvc_dir, our_dir, ours) = import_both(&b, &erepo.url(), ".", &Args::out("out"));
    assert_eq!(ours.placed, [r#".gitignore:"/foo\n""#, r#"foo:"foo""#]);
    let lock = read(&dvc_dir, "out.dvc");
    assert_eq!(dvc_pull_lock(&b, "out", &lock), Ok(ours.placed.clone()));
    assert_eq!(build_with_lock(&b, &our_dir, "out", &lock), Ok(ours.placed));
    get_both(&b, &erepo.url(), "subrepo", &Args::out("out_sub"));
    let got = get_both(&b, &erepo.url(), ".", &Args::out("out"));
    assert!(
        !got.placed.iter().any(|f| f.contains(".dvc")),
        "{:?}",
        got.placed
    );
}

/// `test_subrepos_are_ignored`: a git folder holding a DVC output, a git
/// file and a nested subrepo: the subrepo's files are left out, and the
/// lock's hash is the one DVC's own test expects.
#[test]
fn nested_subrepo_is_left_out() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    let sub = erepo.subrepo("dir/subrepo");
    erepo.dvc_gen(&[("dir/foo", "foo")], &["dir/foo"], "foo");
    erepo.scm_gen(&[("dir/bar", "bar")], "bar");
    sub.dvc_gen(&[("file", "file")], &["file"], "add files on subrepo");
    let (_, _, ours) = import_both(&b, &erepo.url(), "dir", &Args::out("out"));
    assert!(
        ours.lock
            .unwrap()
            .contains("md5: e1d9e8eae5374860ae025ec84cfd85c7.dir"),
        "the hash in DVC's test"
    );
    get_both(&b, &erepo.url(), "dir", &Args::out("out"));
}

/// `test_subrepos_are_ignored_for_git_tracked_dirs`.
#[test]
fn nested_subrepo_in_git_folder_is_left_out() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    let sub = erepo.subrepo("dir/subrepo");
    erepo.scm_gen(
        &[
            ("dir/foo", "foo"),
            ("dir/bar", "bar"),
            ("dir/subdir/lorem", "lorem"),
        ],
        "add scm dir",
    );
    sub.dvc_gen(&[("file", "file")], &["file"], "add files on subrepo");
    let (_, _, ours) = import_both(&b, &erepo.url(), "dir", &Args::out("out"));
    assert_eq!(
        ours.placed,
        [r#"bar:"bar""#, r#"foo:"foo""#, r#"subdir/lorem:"lorem""#]
    );
    get_both(&b, &erepo.url(), "dir", &Args::out("out"));
}

/// `test_update_from_subrepos`: `update` of a file in a subrepo, DVC- or
/// git-tracked.
#[test]
fn update_from_subrepos() {
    for is_dvc in [true, false] {
        let b = Bench::new();
        let erepo = Repo::erepo(&b, "erepo");
        let sub = erepo.subrepo("subrepo");
        let generate = |content: &str, msg: &str| {
            if is_dvc {
                sub.dvc_gen(&[("foo", content)], &["foo"], msg);
            } else {
                sub.scm_gen(&[("foo", content)], msg);
            }
        };
        generate("foo", "subrepo initial");
        let (dvc_dir, our_dir, _) = import_both(&b, &erepo.url(), "subrepo/foo", &Args::out("out"));
        generate("foobar", "subrepo second commit");
        super::update::update_both(&b, &dvc_dir, &our_dir, "out", &[]);
    }
}

/// `.dvcignore` patterns (at the root and in a sub-folder: globs, `!`,
/// folders only, anchored, `**`) hide files from a folder's listing, as
/// `dvc` hides them.
#[test]
fn dvcignore_hides_files_of_a_folder() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("dir/foo", "foo")], &["dir/foo"], "foo");
    let ignore = std::fs::read_to_string(erepo.dir.join(".dvcignore")).unwrap();
    erepo.scm_gen(
        &[
            (
                ".dvcignore",
                &format!("{ignore}*.tmp\n!keep.tmp\nbuild/\n/dir/rootonly\n**/*.log\n"),
            ),
            ("dir/logs/.dvcignore", "a/\n"),
            ("dir/a.tmp", "t"),
            ("dir/keep.tmp", "k"),
            ("dir/build/x", "b"),
            ("dir/rootonly", "r"),
            ("dir/sub/rootonly", "r2"),
            ("dir/sub/deep.log", "d"),
            ("dir/logs/a/z", "l"),
            ("top.tmp", "top"),
        ],
        "ignore patterns",
    );
    let (_, _, ours) = import_both(&b, &erepo.url(), "dir", &Args::out("out"));
    assert_eq!(
        ours.placed,
        [
            r#".gitignore:"/foo\n""#,
            r#"foo:"foo""#,
            r#"keep.tmp:"k""#,
            r#"sub/rootonly:"r2""#
        ]
    );
    import_both(&b, &erepo.url(), ".", &Args::out("whole"));
    get_both(&b, &erepo.url(), "dir", &Args::out("out"));
}
