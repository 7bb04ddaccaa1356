//! `tests/func/test_import.py`: `dvc import` and `cargo dvc import` (then
//! `cargo dvc pull`, which places the artifact as `dvc import` does) on the
//! same registry. DVC's `erepo_dir` has no remote: its data is read from its
//! own `.dvc/cache`.

use std::fs;

use super::harness::*;
use crate::support::{self, run};

/// `test_import`: a file from a registry without a remote; the build script
/// on `dvc`'s lock places the same bytes and leaves the lock alone.
#[test]
fn import_file() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("foo", "foo content")], &["foo"], "create foo");
    let args = Args::out("foo_imported");
    let (dvc_dir, our_dir, ours) = import_both(&b, &erepo.url(), "foo", &args);
    let lock = ours.lock.clone().unwrap();
    assert!(
        lock.contains(&format!("rev_lock: {}", erepo.head())),
        "{lock}"
    );
    assert_eq!(
        build_with_lock(
            &b,
            &our_dir,
            "foo_imported",
            &read(&dvc_dir, "foo_imported.dvc")
        ),
        Ok(ours.placed.clone())
    );
}

/// `test_import_git_file`: a file git tracks, in a DVC project and in a plain git repository.
#[test]
fn import_git_file() {
    for src_is_dvc in [true, false] {
        let b = Bench::new();
        let repo = Repo::git_dir(&b, "git_dir");
        if src_is_dvc {
            repo.dvc_init();
        }
        repo.scm_gen(&[("src", "hello")], "add a git file");
        import_both(&b, &repo.url(), "src", &Args::out("dst"));
    }
}

/// `test_import_git_dir`: a folder git tracks, in a DVC project and in a plain git repository.
#[test]
fn import_git_dir() {
    for src_is_dvc in [true, false] {
        let b = Bench::new();
        let repo = Repo::git_dir(&b, "git_dir");
        if src_is_dvc {
            repo.dvc_init();
        }
        repo.scm_gen(&[("src/file.txt", "hello")], "add a dir");
        import_both(&b, &repo.url(), "src", &Args::out("dst"));
    }
}

/// `test_import_dir`: a DVC-tracked directory from a registry without a remote.
#[test]
fn import_dir() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("dir/foo", "foo content")], &["dir"], "create dir");
    let (dvc_dir, our_dir, ours) = import_both(&b, &erepo.url(), "dir", &Args::out("dir_imported"));
    assert_eq!(
        build_with_lock(
            &b,
            &our_dir,
            "dir_imported",
            &read(&dvc_dir, "dir_imported.dvc")
        ),
        Ok(ours.placed)
    );
}

/// `test_import_broken_dir`: the directory's objects are gone from the
/// registry's cache: both fail and leave neither lock nor output.
#[test]
fn import_broken_dir() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("dir/foo", "foo content")], &["dir"], "create dir");
    erepo.clear_cache();
    fs::remove_dir_all(erepo.dir.join("dir")).unwrap();
    let (_, _, ours) = import_both(&b, &erepo.url(), "dir", &Args::out("dir_imported"));
    assert!(!ours.ok && ours.lock.is_none() && ours.placed.is_empty());
}

/// `test_import_file_from_dir`: files and a sub-folder inside a tracked directory.
#[test]
fn import_file_from_dir() {
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
    import_both(&b, &url, "dir/1", &Args::default());
    import_both(&b, &url, "dir/2", &Args::out("file"));
    let (dvc_dir, our_dir, ours) = import_both(&b, &url, "dir/subdir", &Args::default());
    assert_eq!(
        build_with_lock(&b, &our_dir, "subdir", &read(&dvc_dir, "subdir.dvc")),
        Ok(ours.placed)
    );
    import_both(&b, &url, "dir/subdir/foo", &Args::out("X"));
}

/// `test_import_file_from_dir_to_dir`: `-o dir/foo` fails while `dir/` does
/// not exist, and works (the lock beside the output) once it does.
#[test]
fn import_file_from_dir_to_dir() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("dir/foo", "foo")], &["dir"], "create dir");
    let url = erepo.url();
    let (_, _, ours) = import_both(&b, &url, "dir/foo", &Args::out("dir/foo"));
    assert!(!ours.ok);
    let (_, our_dir, ours) =
        import_both(&b, &url, "dir/foo", &Args::out("dir/foo").mkdirs(&["dir"]));
    assert!(ours.ok && our_dir.join("dir/foo.dvc").exists() && !our_dir.join("foo.dvc").exists());
}

/// `test_import_non_cached`: an output with `cache: false`, its bytes in git.
#[test]
fn import_non_cached() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    run(erepo
        .dvc()
        .args(["stage", "add", "-q", "-n", "gen", "-O", "non_cached_output"])
        .arg("echo hello > non_cached_output"));
    run(erepo.dvc().args(["repro", "-q"]));
    erepo.commit("add a non-cached out");
    import_both(
        &b,
        &erepo.url(),
        "non_cached_output",
        &Args::out("non_cached_output_imported"),
    );
}

/// `test_import_rev`: a branch.
#[test]
fn import_rev() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.checkout("branch", true);
    erepo.dvc_gen(&[("foo", "foo content")], &["foo"], "create foo on branch");
    erepo.checkout("main", false);
    let (_, _, ours) = import_both(
        &b,
        &erepo.url(),
        "foo",
        &Args::out("foo_imported").rev("branch"),
    );
    assert!(ours.lock.unwrap().contains("rev: branch"));
}

/// `test_pull_imported_stage`: output and caches gone, `pull` brings it back.
#[test]
fn pull_imported_stage() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("foo", "foo content")], &["foo"], "create foo");
    let (dvc_dir, our_dir, ours) = import_both(&b, &erepo.url(), "foo", &Args::out("foo_imported"));
    let lock = read(&dvc_dir, "foo_imported.dvc");
    assert_eq!(
        dvc_pull_lock(&b, "foo_imported", &lock),
        Ok(ours.placed.clone())
    );
    assert_eq!(
        our_pull_lock(&b, &our_dir, "foo_imported", &lock),
        Ok(ours.placed)
    );
}

/// `test_cache_type_is_properly_overridden`: the registry links its cache
/// with symlinks; the import is a regular file all the same.
#[test]
fn cache_type_symlink() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    run(erepo.dvc().args(["config", "cache.type", "symlink"]));
    erepo.commit("set source repo cache type to symlink");
    erepo.dvc_gen(&[("foo", "foo content")], &["foo"], "create foo");
    assert!(
        fs::symlink_metadata(erepo.dir.join("foo"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let (_, our_dir, _) = import_both(&b, &erepo.url(), "foo", &Args::out("foo_imported"));
    let placed = fs::symlink_metadata(our_dir.join("foo_imported")).unwrap();
    assert!(placed.file_type().is_file());
}

/// `test_pull_imported_directory_stage`: `dir` and `dir/`, recorded as typed.
#[test]
fn pull_imported_directory_stage() {
    for dirpath in ["dir", "dir/"] {
        let b = Bench::new();
        let erepo = Repo::erepo(&b, "erepo");
        erepo.dvc_gen(&[("dir/foo", "foo content")], &["dir"], "create dir");
        let args = Args::out("dir_imported");
        let (dvc_dir, our_dir, ours) = import_both(&b, &erepo.url(), dirpath, &args);
        assert!(
            ours.lock
                .as_ref()
                .unwrap()
                .contains(&format!("- path: {dirpath}\n"))
        );
        let lock = read(&dvc_dir, "dir_imported.dvc");
        assert_eq!(
            dvc_pull_lock(&b, "dir_imported", &lock),
            Ok(ours.placed.clone())
        );
        assert_eq!(
            our_pull_lock(&b, &our_dir, "dir_imported", &lock),
            Ok(ours.placed.clone())
        );
        assert_eq!(
            build_with_lock(&b, &our_dir, "dir_imported", &lock),
            Ok(ours.placed)
        );
    }
}

/// `test_import_from_bare_git_repo` and `test_push_wildcard_from_bare_git_repo`:
/// a bare repository whose remote holds one directory but not the other.
#[test]
fn import_from_bare_git_repo() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.add_remote(&b);
    erepo.dvc_gen(
        &[
            ("dir123/foo", "foo content"),
            ("dirextra/extrafoo", "extra foo content"),
            ("foo", "foo"),
        ],
        &["dir123", "dirextra", "foo"],
        "initial",
    );
    run(erepo.dvc().args(["push", "-q", "dirextra", "foo"]));
    let bare = b.root.join("bare.git");
    run(support::git(&b.root)
        .args(["clone", "-q", "--bare"])
        .arg(&erepo.dir)
        .arg(&bare));
    let url = bare.to_str().unwrap();
    import_both(&b, url, "foo", &Args::default());
    import_both(&b, url, "dirextra", &Args::default());
    let (_, _, ours) = import_both(&b, url, "dir123", &Args::default());
    assert!(!ours.ok);
}

/// `test_import_non_existing`: a path the registry does not have, and `/root/`.
#[test]
fn import_non_existing() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("foo", "foo")], &["foo"], "create foo");
    let (_, _, ours) = import_both(&b, &erepo.url(), "invalid_output", &Args::default());
    assert!(!ours.ok);
    let (_, _, ours) = import_both(&b, &erepo.url(), "/root/", &Args::out("root"));
    assert!(!ours.ok);
}

/// `test_pull_no_rev_lock`: a lock without `rev_lock` is pulled at `rev`
/// (the default branch) and left as it is, by `cargo dvc pull` and by a build
/// (the harness checks the lock's bytes after each).
#[test]
fn pull_no_rev_lock() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("foo", "contents")], &["foo"], "create foo");
    let (dvc_dir, our_dir, ours) = import_both(&b, &erepo.url(), "foo", &Args::out("foo_imported"));
    // Drop `rev_lock` as the DVC test does (load, pop, dump).
    let script = "import sys\nfrom dvc.repo import Repo\nfrom dvc.dvcfile import load_file\n\
                  repo = Repo('.')\nf = load_file(repo, 'foo_imported.dvc')\nstage = f.stage\n\
                  stage.deps[0].def_repo.pop('rev_lock')\nf.dump(stage)\n";
    run(std::process::Command::new(support::dvc3_python())
        .current_dir(&dvc_dir)
        .env("DVC_NO_ANALYTICS", "1")
        .args(["-c", script]));
    let lock = read(&dvc_dir, "foo_imported.dvc");
    assert!(!lock.contains("rev_lock"), "{lock}");
    assert_eq!(
        dvc_pull_lock(&b, "foo_imported", &lock),
        Ok(ours.placed.clone())
    );
    assert_eq!(
        our_pull_lock(&b, &our_dir, "foo_imported", &lock),
        Ok(ours.placed.clone())
    );
    assert_eq!(
        build_with_lock(&b, &our_dir, "foo_imported", &lock),
        Ok(ours.placed)
    );
    // The stage's own `md5:` was computed with `rev_lock`: `dvc status`
    // says "changed checksum", and `check` (for CI) fails on it, saying so.
    let status = run(support::dvc(&dvc_dir).args(["status", "foo_imported.dvc"]));
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("changed checksum"),
        "{status:?}"
    );
    let check = b.crate_dir();
    fs::copy(our_dir.join("Cargo.toml"), check.join("Cargo.toml")).unwrap();
    support::write(&check, "foo_imported.dvc", &lock);
    let out = b.ours(&check).arg("check").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1) && err.contains("its checksum"),
        "{out:?}"
    );
}

/// `test_import_pipeline_tracked_outs`: an output of a `dvc.yaml` stage,
/// through a `file://` URL, from a registry with a remote.
#[test]
fn import_pipeline_tracked_outs() {
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
    let url = format!("file://{}", erepo.url());
    import_both(&b, &url, "bar", &Args::out("baz"));
}

/// `test_parameterized_repo`: outputs named through `${...}` in `dvc.yaml`,
/// at the root and in a folder.
#[test]
fn parameterized_repo() {
    for prefix in ["", "dir/"] {
        let b = Bench::new();
        let erepo = Repo::erepo(&b, "erepo");
        erepo.write_files(&[
            (&format!("{prefix}params.yaml"), "out: foo\n"),
            (
                &format!("{prefix}dvc.yaml"),
                "stages:\n  train:\n    cmd: echo ${out} > ${out}\n    outs:\n    - ${out}\n",
            ),
            (&format!("{prefix}foo"), "foo"),
        ]);
        let cwd = erepo.dir.join(prefix);
        run(erepo.dvc().current_dir(&cwd).args(["commit", "-q", "-f"]));
        erepo.commit("init");
        import_both(
            &b,
            &erepo.url(),
            &format!("{prefix}foo"),
            &Args::out("foo_imported"),
        );
    }
}

/// `test_import_configs` (the `--remote` case): the registry's remote named
/// in the declaration, written to the lock as `dvc import --remote` does.
#[test]
fn import_with_remote_name() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    let remote = b.fresh("remote");
    run(erepo
        .dvc()
        .args(["remote", "add", "-q", "myremote"])
        .arg(&remote));
    erepo.commit("add a remote that is not the default");
    erepo.dvc_gen(&[("foo", "foo content")], &["foo"], "create foo");
    run(erepo.dvc().args(["push", "-q", "-r", "myremote"]));
    erepo.clear_cache();
    let (dvc_dir, theirs) = dvc_import(
        &b,
        &erepo.url(),
        "foo",
        &Args::out("foo_imported").flags(&["--remote", "myremote"]),
    );
    assert!(theirs.ok, "{}", theirs.message);
    // Ours: the same declaration, written by hand, resolved by `cargo dvc pull`.
    let ours = b.crate_dir();
    fs::write(
        ours.join("Cargo.toml"),
        format!(
            "{CRATE_MANIFEST}\n[package.metadata.dvc.deps.{NAME}]\nurl = {:?}\npath = \"foo\"\nout = \"foo_imported\"\nremote = \"myremote\"\n",
            erepo.url()
        ),
    )
    .unwrap();
    let out = output(b.ours(&ours).arg("pull"));
    let ours = Outcome::collect(&ours, "foo_imported", &out);
    assert_agree(&theirs, &ours, "import --remote myremote");
    let _ = dvc_dir;
}
