//! Locks `dvc` writes that are not plain imports: `--no-download` (no hash
//! in `outs`), unfrozen (`dvc unfreeze`). `test_import_no_download`,
//! `test_pull_import_no_download`, `test_pull_import_no_download_rev_lock`,
//! `test_update_no_download`.

use std::fs;

use super::harness::*;
use crate::support::{self, run};

/// `test_import_no_download`: the same lock and `.gitignore`, nothing placed.
#[test]
fn import_no_download() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("foo", "foo content")], &["foo"], "create foo");
    let args = Args::out("foo_imported").flags(&["--no-download"]);
    let (_, our_dir, ours) = import_both(&b, &erepo.url(), "foo", &args);
    assert!(ours.ok && ours.placed.is_empty());
    assert!(!ours.lock.as_ref().unwrap().contains("size:"));
    // check, pull, build and update all take it.
    let lock = ours.lock.unwrap();
    run(b.ours(&our_dir).arg("check"));
    assert_eq!(
        our_pull_lock(&b, &our_dir, "foo_imported", &lock),
        Ok(vec![r#":"foo content""#.to_string()])
    );
    assert_eq!(
        build_with_lock(&b, &our_dir, "foo_imported", &lock),
        Ok(vec![r#":"foo content""#.to_string()])
    );
}

/// `test_pull_import_no_download`: a mixed folder (a git file and a DVC
/// file), imported `--no-download`, then pulled by both tools.
#[test]
fn pull_import_no_download() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.scm_gen(&[("foo/bar", "bar")], "add bar");
    erepo.dvc_gen(&[("foo/baz", "baz contents")], &["foo/baz"], "add baz");
    let args = Args::out("foo_imported").flags(&["--no-download"]);
    let (dvc_dir, our_dir, _) = import_both(&b, &erepo.url(), "foo", &args);
    let lock = read(&dvc_dir, "foo_imported.dvc");
    let theirs = dvc_pull_lock(&b, "foo_imported", &lock);
    assert!(theirs.is_ok(), "{theirs:?}");
    assert_eq!(our_pull_lock(&b, &our_dir, "foo_imported", &lock), theirs);
    assert_eq!(build_with_lock(&b, &our_dir, "foo_imported", &lock), theirs);
    // `dvc commit --force` then records DVC's own hash of the folder: ours.
    let (_, full) = our_import(&b, &erepo.url(), "foo", &Args::out("foo_imported"));
    assert!(
        full.lock
            .unwrap()
            .contains("bdb8641831d8fcb03939637e09011c21.dir"),
        "the hash in DVC's test"
    );
}

/// `test_pull_import_no_download_rev_lock`: the registry moved on; `pull`
/// still brings the bytes of `rev_lock`.
#[test]
fn pull_import_no_download_rev_lock() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("foo", "foo content")], &["foo"], "add");
    let args = Args::out("foo_imported").flags(&["--no-download"]);
    let (dvc_dir, our_dir, _) = import_both(&b, &erepo.url(), "foo", &args);
    erepo.dvc_gen(&[("foo", "modified foo content")], &["foo"], "modify foo");
    let lock = read(&dvc_dir, "foo_imported.dvc");
    let expected = Ok(vec![r#":"foo content""#.to_string()]);
    assert_eq!(dvc_pull_lock(&b, "foo_imported", &lock), expected);
    assert_eq!(our_pull_lock(&b, &our_dir, "foo_imported", &lock), expected);
    assert_eq!(
        build_with_lock(&b, &our_dir, "foo_imported", &lock),
        expected
    );
}

/// `test_update_no_download`: `update` of a `--no-download` lock, plain.
#[test]
fn update_no_download_lock() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("file", "file content")], &["file"], "add file");
    let args = Args::default().flags(&["--no-download"]);
    let (dvc_dir, our_dir, _) = import_both(&b, &erepo.url(), "file", &args);
    erepo.dvc_gen(
        &[("file", "updated file content")],
        &["file"],
        "update file",
    );
    super::update::update_both(&b, &dvc_dir, &our_dir, "file", &[]);
}

/// An unfrozen import (`dvc unfreeze`) stays unfrozen through `update`, and
/// builds and pulls as it is.
#[test]
fn unfrozen_import_stays_unfrozen() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("foo", "v1")], &["foo"], "v1");
    let (dvc_dir, our_dir, ours) = import_both(&b, &erepo.url(), "foo", &Args::default());
    run(support::dvc(&dvc_dir).args(["unfreeze", "foo.dvc"]));
    let lock = read(&dvc_dir, "foo.dvc");
    assert!(!lock.contains("frozen"), "{lock}");
    fs::write(our_dir.join("foo.dvc"), &lock).unwrap();
    assert_eq!(
        build_with_lock(&b, &our_dir, "foo", &lock),
        Ok(ours.placed.clone())
    );
    run(b.ours(&our_dir).arg("check"));
    erepo.dvc_gen(&[("foo", "v2")], &["foo"], "v2");
    let updated = super::update::update_both(&b, &dvc_dir, &our_dir, "foo", &[]);
    assert!(!updated.lock.unwrap().contains("frozen"));
}

/// A `--no-download` lock's warm build needs no git: the first build
/// records what the registry has at `rev_lock`, the second finds it in the
/// cache with the registry gone.
#[test]
fn no_download_lock_warm_build_needs_no_git() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("dir/a", "a"), ("dir/b", "b")], &["dir"], "add dir");
    let (dvc_dir, theirs) = dvc_import(
        &b,
        &erepo.url(),
        "dir",
        &Args::default().flags(&["--no-download"]),
    );
    assert!(theirs.ok, "{}", theirs.message);
    let krate = b.crate_dir();
    support::write(
        &krate,
        "Cargo.toml",
        format!(
            "{CRATE_MANIFEST}\n[package.metadata.dvc.deps.{NAME}]\nurl = {:?}\npath = \"dir\"\n",
            erepo.url()
        ),
    );
    support::write(&krate, "dir.dvc", read(&dvc_dir, "dir.dvc"));
    let cache = b.fresh("warm-cache");
    let build = || {
        dvc_build::Fetch::new()
            .manifest_dir(&krate)
            .out_dir(krate.join("out"))
            .cache_dir(&cache)
            .offline(false)
            .locked(true)
            .emit_directives(false)
            .run()
            .map(|_| snapshot(&krate.join("out/dvc/dir")))
            .map_err(|e| e.to_string())
    };
    let cold = build();
    assert_eq!(
        cold,
        Ok(vec![r#"a:"a""#.to_string(), r#"b:"b""#.to_string()])
    );
    // Neither the registry nor our git database of it is there any more.
    fs::rename(&erepo.dir, b.root.join("moved-away")).unwrap();
    fs::remove_dir_all(cache.join("git")).unwrap();
    assert_eq!(build(), cold, "the warm build needed git");
    assert_eq!(read(&krate, "dir.dvc"), read(&dvc_dir, "dir.dvc"));
}
