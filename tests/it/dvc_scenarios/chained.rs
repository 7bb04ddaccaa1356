//! Chained imports (`test_chained_import` and its variants): the registry's
//! output is itself an import (`deps[].repo`); the bytes come from the
//! original registry at its `rev_lock`, through its remote, never from the
//! middle registry's cache or remote.

use std::fs;

use super::harness::*;
use crate::support::{dvc, run, run_stdout};

/// The upstream registry (with a remote; its cache and work-tree copies
/// removed) and a middle registry that imports `dir` and `f1` from it
/// (its cache removed too). `middle_remote` gives the middle registry a
/// default remote of its own, which holds nothing (`dvc push` pushes no
/// imported data).
fn chain(middle_remote: bool) -> (Bench, Repo, Repo) {
    let b = Bench::new();
    let up = Repo::erepo(&b, "erepo");
    up.add_remote(&b);
    up.dvc_gen(
        &[
            ("dir/foo", "foo"),
            ("dir/bar", "bar"),
            ("dir/sub/baz", "baz"),
            ("f1", "one"),
        ],
        &["dir", "f1"],
        "init",
    );
    up.push();
    up.clear_cache();
    fs::remove_dir_all(up.dir.join("dir")).unwrap();
    fs::remove_file(up.dir.join("f1")).unwrap();

    let mid = Repo::erepo(&b, "erepo2");
    if middle_remote {
        mid.add_remote(&b);
    }
    run(mid.dvc().args(["import", "-q", &up.url(), "dir"]));
    run(mid.dvc().args(["import", "-q", &up.url(), "f1"]));
    mid.commit("import");
    if middle_remote {
        mid.push();
    }
    mid.clear_cache();
    fs::remove_dir_all(mid.dir.join("dir")).unwrap();
    fs::remove_file(mid.dir.join("f1")).unwrap();
    (b, up, mid)
}

/// Imports `path` from the middle registry with both tools, then pulls
/// `dvc`'s lock with `dvc pull`, `cargo dvc pull` and the build script.
fn check(b: &Bench, mid: &Repo, path: &str, out: &str) {
    let (dvc_dir, our_dir, ours) = import_both(b, &mid.url(), path, &Args::out(out));
    assert!(ours.ok, "{}", ours.message);
    let lock = read(&dvc_dir, &format!("{out}.dvc"));
    assert_eq!(dvc_pull_lock(b, out, &lock), Ok(ours.placed.clone()));
    assert_eq!(
        our_pull_lock(b, &our_dir, out, &lock),
        Ok(ours.placed.clone())
    );
    assert_eq!(build_with_lock(b, &our_dir, out, &lock), Ok(ours.placed));
    assert!(
        !mid.dir.join(".dvc/cache").exists(),
        "nothing from the middle registry's cache"
    );
}

/// `test_chained_import`: a directory.
#[test]
fn chained_dir() {
    let (b, _up, mid) = chain(false);
    check(&b, &mid, "dir", "dir_imported");
}

/// A file.
#[test]
fn chained_file() {
    let (b, _up, mid) = chain(false);
    check(&b, &mid, "f1", "f1_imported");
}

/// A file inside an imported directory.
#[test]
fn chained_file_inside_imported_dir() {
    let (b, _up, mid) = chain(false);
    check(&b, &mid, "dir/foo", "foo_imported");
}

/// The middle registry has a remote of its own, which holds nothing.
#[test]
fn chained_middle_with_empty_remote() {
    let (b, _up, mid) = chain(true);
    check(&b, &mid, "dir", "dir_imported");
    check(&b, &mid, "f1", "f1_imported");
    get_both(&b, &mid.url(), "dir", &Args::out("got"));
}

/// `cargo dvc ls` into a chained import lists what `dvc list` lists: the
/// files of the registry it was imported from, at its `rev_lock` (the
/// middle registry's remote holds none of them); through a third registry
/// that imports from the middle one, two hops.
#[test]
fn chained_ls_lists_what_dvc_list_lists() {
    let (b, _up, mid) = chain(true);
    let end = Repo::erepo(&b, "erepo3");
    run(end.dvc().args(["import", "-q", &mid.url(), "dir"]));
    end.commit("import");
    end.clear_cache();
    fs::remove_dir_all(end.dir.join("dir")).unwrap();
    let work = b.plain_dir();
    for reg in [&mid, &end] {
        for args in [
            &[][..],
            &["dir"],
            &["dir/sub"],
            &["dir/foo"],
            &["-R"],
            &["--dvc-only"],
            &["-R", "--dvc-only"],
            &["dir", "-R"],
        ] {
            // `file://`: dvc clones and lists the commit, as we do (a bare
            // path would make it list the registry's work tree).
            let url = format!("file://{}", reg.url());
            let theirs = run_stdout(dvc(&work).args(["list", "--json", &url]).args(args));
            let theirs: serde_json::Value = serde_json::from_str(&theirs).unwrap();
            let ours = run_stdout(b.ours(&work).args(["ls", "--json", &reg.url()]).args(args));
            let ours: serde_json::Value = serde_json::from_str(&ours).unwrap();
            assert_eq!(ours["entries"], theirs, "ls {} {args:?}", reg.url());
        }
    }
}

/// The middle registry records another object than the one its import
/// leads to (its `.dvc` file edited, or an import gone stale): refused,
/// naming both hashes, with a way on; nothing is placed.
#[test]
fn chained_record_that_differs_from_the_source_is_refused() {
    let (b, _up, mid) = chain(false);
    let stage = read(&mid.dir, "f1.dvc");
    let recorded = stage
        .lines()
        .find_map(|l| l.trim().strip_prefix("- md5: "))
        .unwrap()
        .to_string();
    let other = "0123456789abcdef0123456789abcdef";
    mid.write_files(&[("f1.dvc", &stage.replace(&recorded, other))]);
    mid.commit("edit the record");
    let ours = our_get(&b, &mid.url(), "f1", &Args::default());
    assert!(!ours.ok, "{}", ours.message);
    assert!(ours.placed.is_empty(), "{:?}", ours.placed);
    assert!(
        ours.message.contains(other) && ours.message.contains(&recorded),
        "{}",
        ours.message
    );
    assert!(ours.message.contains("help:"), "{}", ours.message);
}

/// Two registries that import from each other by branch: a cycle. `dvc`
/// never ends; we stop and say where the chain loops.
#[test]
fn chained_cycle_is_an_error() {
    let b = Bench::new();
    let a = Repo::erepo(&b, "a");
    let c = Repo::erepo(&b, "c");
    let stage = |url: &str| {
        format!(
            "md5: 0123456789abcdef0123456789abcdef\nfrozen: true\ndeps:\n- path: x\n  repo:\n    url: {url}\n    rev: main\nouts:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 1\n  hash: md5\n  path: x\n"
        )
    };
    a.write_files(&[("x.dvc", &stage(&c.url()))]);
    a.commit("import x from c");
    c.write_files(&[("x.dvc", &stage(&a.url()))]);
    c.commit("import x from a");
    let ours = our_get(&b, &a.url(), "x", &Args::default());
    assert!(!ours.ok);
    assert!(ours.message.contains("chain"), "{}", ours.message);
    assert!(ours.message.contains("help:"), "{}", ours.message);
}
