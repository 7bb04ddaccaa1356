//! At scale: a directory of many files, changed a little upstream, costs
//! only its changed objects. Requests are counted at the server
//! ([`FileServer`]'s log), with the real `cargo dvc` and a registry made by
//! the real `dvc`.

use std::path::Path;

use dvc_build::__private::hash::Md5;
use dvc_build::__private::remote::{Layout, ObjectKey};

use crate::support::http::FileServer;
use crate::support::invariants::assert_cache_sound;
use crate::support::{self, Registry, cargo_dvc, pseudo_random, run};

const FILES: usize = 600;

fn file_path(i: usize) -> String {
    format!("data/sub{:02}/f{i:04}.bin", i % 12)
}

/// `/files/md5/..` of the object holding `bytes`.
fn object_path(bytes: &[u8]) -> String {
    let key = ObjectKey {
        md5: Md5::of(bytes),
        is_dir: false,
        layout: Layout::V3,
    };
    format!("/{}", key.rel_path())
}

/// The object requests in `paths`: (file objects, `.dir` objects).
fn objects(paths: &[String]) -> (Vec<String>, usize) {
    let files = paths
        .iter()
        .filter(|p| p.starts_with("/files/md5/") && !p.ends_with(".dir"))
        .cloned()
        .collect();
    let dirs = paths.iter().filter(|p| p.ends_with(".dir")).count();
    (files, dirs)
}

fn consumer(dir: &Path, reg: &Registry, server: &FileServer) {
    support::write(
        dir,
        "Cargo.toml",
        format!(
            "[package]\nname = \"consumer\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [package.metadata.dvc.deps.data]\nurl = {:?}\npath = \"data\"\n\
             remote = {{ url = {:?} }}\n\n[workspace]\n",
            reg.repo.display().to_string(),
            server.url()
        ),
    );
    support::write(dir, "src/lib.rs", "");
}

#[test]
fn update_of_a_big_directory_downloads_only_the_changed_objects() {
    let tmp = support::tempdir();
    let reg = Registry::new(tmp.path());
    for i in 0..FILES {
        reg.write(&file_path(i), pseudo_random(300 + i % 700, i as u64));
    }
    reg.add(&["data"]);
    reg.commit("v1");
    reg.push();
    let server = FileServer::start(&reg.remote);
    let krate = tmp.path().join("consumer");
    consumer(&krate, &reg, &server);
    let cache = tmp.path().join("cache");

    run(cargo_dvc(&krate, &cache).args(["fetch", "-q"]));
    let paths: Vec<String> = server.log().into_iter().map(|r| r.path).collect();
    let (files, dirs) = objects(&paths);
    assert_eq!((files.len(), dirs), (FILES, 1), "every object once");

    // Ten files change upstream.
    let mut want = Vec::new();
    for k in 0..10 {
        let bytes = pseudo_random(333 + k, 10_000 + k as u64);
        reg.write(&file_path(k * 59 + 3), &bytes);
        want.push(object_path(&bytes));
    }
    reg.add(&["data"]);
    reg.commit("v2");
    reg.push();

    let before = server.log().len();
    run(cargo_dvc(&krate, &cache).args(["update", "-q"]));
    let paths: Vec<String> = server.log()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    let (mut files, dirs) = objects(&paths);
    files.sort();
    want.sort();
    assert_eq!(files, want, "exactly the 10 new objects");
    assert_eq!(dirs, 1, "and the new .dir: {paths:?}");

    // The updated directory is then warm: placing it asks the server nothing.
    let before = server.log().len();
    run(cargo_dvc(&krate, &cache).args(["pull", "-q"]));
    assert_eq!(server.log().len(), before, "a warm pull makes no request");
    assert_eq!(
        support::tree(&krate.join("data")),
        support::tree(&reg.repo.join("data"))
    );
    assert_cache_sound(&cache, false);
}
