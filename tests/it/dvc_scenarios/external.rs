//! `tests/func/test_external_repo.py`, and registries without a remote
//! reached through a git URL: how a registry is opened at a revision.

use super::harness::*;
use crate::support::{self, GitDaemon, run};

/// A registry without a remote through `file://` and `git://`: `dvc` has no
/// storage to read from and fails; so do we, with our help text; and so does
/// the build script on a declaration of it.
#[test]
fn git_url_without_remote_fails() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("foo", "foo content")], &["foo"], "create foo");
    let daemon = GitDaemon::start(&b.root);
    for url in [format!("file://{}", erepo.url()), daemon.url("erepo")] {
        let (_, _, ours) = import_both(&b, &url, "foo", &Args::out("foo_imported"));
        assert!(!ours.ok);
        assert!(ours.message.contains("remote"), "{}", ours.message);
        get_both(&b, &url, "foo", &Args::out("foo_imported"));
        // The build script, on a declaration of it.
        let dir = b.fresh("build");
        support::write(
            &dir,
            "Cargo.toml",
            format!(
                "{CRATE_MANIFEST}\n[package.metadata.dvc.deps.{NAME}]\nurl = {url:?}\npath = \"foo\"\n"
            ),
        );
        let err = dvc_build::Fetch::new()
            .manifest_dir(&dir)
            .out_dir(dir.join("out"))
            .cache_dir(b.fresh("build-cache"))
            .offline(false)
            .locked(false)
            .emit_directives(false)
            .run()
            .unwrap_err()
            .to_string();
        assert!(err.contains(NAME) && err.contains("help:"), "{err}");
    }
}

/// The build script on a declaration of a local registry without a remote:
/// a real consumer crate, built by cargo, embeds the bytes from the
/// registry's own cache.
#[test]
fn local_registry_without_remote_builds() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("foo", "foo content")], &["foo"], "create foo");
    let app = b.fresh("app");
    support::write_crate(
        &app,
        "no-remote-app",
        &format!(
            "[package.metadata.dvc.deps.foo]\nurl = {:?}\npath = \"foo\"\n",
            erepo.url()
        ),
        "fn main() { print!(\"{}\", include_str!(env!(\"DVC_FOO\"))); }\n",
        false,
    );
    run(support::cargo(&app, &b.cache).args(["build", "-q"]));
    let out = run(&mut std::process::Command::new(support::consumer_bin(
        "no-remote-app",
    )));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "foo content");
    // The lock it wrote is `dvc import`'s.
    let (dvc_dir, _) = dvc_import(&b, &erepo.url(), "foo", &Args::default());
    assert_eq!(read(&app, "foo.dvc"), read(&dvc_dir, "foo.dvc"));
}

/// `test_external_repo`, `test_shallow_clone_branch`, `test_shallow_clone_tag`:
/// the default branch, a branch, a tag.
#[test]
fn branches_and_tags() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.checkout("branch", true);
    erepo.dvc_gen(&[("file", "branch")], &["file"], "create file on branch");
    erepo.checkout("main", false);
    erepo.dvc_gen(&[("file", "foo")], &["file"], "init");
    erepo.tag("v1");
    erepo.dvc_gen(&[("file", "master")], &["file"], "create file on master");
    let url = erepo.url();
    for rev in [None, Some("branch"), Some("v1"), Some("main")] {
        let args = Args {
            rev,
            ..Args::out("file")
        };
        import_both(&b, &url, "file", &args);
        get_both(&b, &url, "file", &args);
    }
}

/// `test_known_sha`: full commit ids, HEAD and its parent.
#[test]
fn known_sha() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("file", "one")], &["file"], "one");
    erepo.dvc_gen(&[("file", "two")], &["file"], "two");
    let url = format!("file://{}", erepo.url());
    for rev in [erepo.head(), erepo.rev_parse("HEAD^")] {
        // file:// without a remote fails in both; a local path reads the cache.
        import_both(&b, &url, "file", &Args::out("file").rev(&rev));
        import_both(&b, &erepo.url(), "file", &Args::out("file").rev(&rev));
    }
}

/// `test_source_change`: a new commit on the default branch is what the
/// next import pins.
#[test]
fn source_change() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.scm_gen(&[("file", "text")], "a change");
    let (_, _, first) = import_both(&b, &erepo.url(), "file", &Args::default());
    erepo.scm_gen(&[("file", "other text")], "another change");
    let (_, _, second) = import_both(&b, &erepo.url(), "file", &Args::default());
    assert_ne!(first.lock, second.lock);
}

/// `test_cache_reused`: a registry with a remote through `file://`; the same
/// object at another branch comes from the cache.
#[test]
fn cache_reused() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    let remote = erepo.add_remote(&b);
    erepo.dvc_gen(&[("file", "text")], &["file"], "add file");
    erepo.push();
    run(erepo.git().args(["branch", "branch"]));
    let url = format!("file://{}", erepo.url());
    import_both(&b, &url, "file", &Args::default());
    std::fs::remove_dir_all(&remote).unwrap();
    // Ours: the object is in our cache; a lock at the other branch needs no remote.
    let (_, ours) = our_import(&b, &url, "file", &Args::default().rev("branch"));
    assert!(ours.ok, "{}", ours.message);
}

/// `test_pull_subdir_file`.
#[test]
fn pull_subdir_file() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(
        &[("subdir/file", "contents")],
        &["subdir/file"],
        "create file",
    );
    import_both(&b, &erepo.url(), "subdir/file", &Args::default());
    get_both(&b, &erepo.url(), "subdir/file", &Args::default());
}

/// `test_relative_remote`: the registry's remote is a relative path, and its
/// own cache is gone.
#[test]
fn relative_remote() {
    let b = Bench::new();
    let erepo = Repo::erepo(&b, "erepo");
    erepo.dvc_gen(&[("file", "contents")], &["file"], "create file");
    std::fs::create_dir_all(b.root.join("upstream")).unwrap();
    run(erepo
        .dvc()
        .args(["remote", "add", "-q", "-d", "upstream", "../upstream"]));
    erepo.commit("relative remote");
    erepo.push();
    std::fs::remove_file(erepo.dir.join("file")).unwrap();
    erepo.clear_cache();
    import_both(&b, &erepo.url(), "file", &Args::default());
    get_both(&b, &erepo.url(), "file", &Args::default());
}
