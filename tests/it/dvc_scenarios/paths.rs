//! Paths as typed, and the small refusals: `dir/` and `/data/` are recorded
//! in the lock as typed (the stage `md5` follows); DVC files are no output;
//! `-o sub/foo` needs `sub/`.

use super::harness::*;

fn registry() -> (Bench, Repo) {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(
        &[("data/a", "a"), ("dir/b", "b"), ("foo", "foo")],
        &["data", "dir", "foo"],
        "d",
    );
    erepo.scm_gen(&[("top.txt", "top")], "top");
    (b, erepo)
}

/// `dir/`, `/data/`, `/foo`, `./foo`: locks byte for byte, builds from
/// `dvc`'s lock.
#[test]
fn paths_as_typed() {
    let (b, erepo) = registry();
    for (path, out) in [
        ("dir/", "dir"),
        ("/data/", "data"),
        ("/foo", "foo"),
        ("./top.txt", "top.txt"),
    ] {
        let (dvc_dir, our_dir, ours) = import_both(&b, &erepo.url(), path, &Args::default());
        assert!(ours.ok, "{}", ours.message);
        assert!(
            ours.lock
                .as_ref()
                .unwrap()
                .contains(&format!("- path: {path}\n"))
        );
        let lock = read(&dvc_dir, &format!("{out}.dvc"));
        assert_eq!(build_with_lock(&b, &our_dir, out, &lock), Ok(ours.placed));
        // `dvc get` reads a path with a leading `/` from the workspace index
        // of the registry it opened, which has nothing: it fails, and so do we.
        let got = get_both(&b, &erepo.url(), path, &Args::default());
        assert_eq!(got.ok, !path.starts_with('/'), "{}", got.message);
    }
}

/// `import .` and `get .` with no `-o`: the output would be the folder the
/// command runs in; both refuse.
#[test]
fn whole_repo_needs_an_out() {
    let (b, erepo) = registry();
    let (_, theirs) = dvc_import(&b, &erepo.url(), ".", &Args::default());
    let (_, ours) = our_import(&b, &erepo.url(), ".", &Args::default());
    assert!(!theirs.ok && !ours.ok, "{}", theirs.message);
    assert!(ours.message.contains("help:"), "{}", ours.message);
    let theirs = dvc_get(&b, &erepo.url(), ".", &Args::default());
    let ours = our_get(&b, &erepo.url(), ".", &Args::default());
    assert!(!theirs.ok && !ours.ok, "{}", theirs.message);
    assert!(ours.message.contains("help:"), "{}", ours.message);
}

/// A DVC file is no output: `import X.dvc`, `import X -o y.dvc`.
#[test]
fn dvc_files_are_no_outputs() {
    let (b, erepo) = registry();
    let (_, _, ours) = import_both(&b, &erepo.url(), "foo.dvc", &Args::default());
    assert!(!ours.ok);
    let (_, _, ours) = import_both(&b, &erepo.url(), "foo", &Args::out("y.dvc"));
    assert!(!ours.ok);
}

/// `-o sub/foo` with `sub/` missing fails, as in `dvc import`.
#[test]
fn import_into_missing_folder() {
    let (b, erepo) = registry();
    let (_, _, ours) = import_both(&b, &erepo.url(), "foo", &Args::out("sub/foo"));
    assert!(!ours.ok);
    assert!(ours.message.contains("sub"), "{}", ours.message);
}
