//! At scale: a directory of many files, changed a little upstream, costs
//! only its changed objects. Requests are counted at the server
//! ([`FileServer`]'s log), with the real `cargo dvc` and a registry made by
//! the real `dvc`. So are the connections a server is asked to serve at
//! once.

use std::path::Path;
use std::time::Duration;

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
    consumer_of(dir, reg, server, "data");
}

/// A crate whose one dependency is `path` of `reg`, its data on `server`.
fn consumer_of(dir: &Path, reg: &Registry, server: &FileServer, path: &str) {
    support::write(
        dir,
        "Cargo.toml",
        format!(
            "[package]\nname = \"consumer\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [package.metadata.dvc.deps.data]\nurl = {:?}\npath = {path:?}\n\
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

/// A server that closes every connection after one answer (as Python's
/// `http.server` does) is sent at most 6 requests at once: every object is a
/// new connection to it, and more at once than its short listen queue holds
/// only get dropped (a 1 s SYN retransmission each). A keep-alive server is
/// sent 8. Every request is held 30 ms, so the client's limit is reached.
#[test]
fn a_server_that_closes_each_connection_is_sent_at_most_six_requests_at_once() {
    let tmp = support::tempdir();
    let reg = Registry::new(tmp.path());
    // Objects whose MD5s all start with another byte: the cache locks
    // objects by that byte, so none waits for another here.
    let n = 60;
    let mut firsts = std::collections::HashSet::new();
    let mut seed = 0u64;
    for i in 0..n {
        let bytes = loop {
            seed += 1;
            let bytes = pseudo_random(100 + i, seed);
            if firsts.insert(Md5::of(&bytes).as_bytes()[0]) {
                break bytes;
            }
        };
        reg.write(&file_path(i), bytes);
    }
    reg.add(&["data"]);
    reg.commit("v1");
    reg.push();
    for (closes, most) in [(true, 6), (false, 8)] {
        let server = FileServer::start(&reg.remote);
        server.close_each(closes);
        server.hold(Some(Duration::from_millis(30)));
        let krate = tmp.path().join(format!("consumer-{closes}"));
        consumer(&krate, &reg, &server);
        let cache = tmp.path().join(format!("cache-{closes}"));
        run(cargo_dvc(&krate, &cache).args(["fetch", "-q"]));
        let paths: Vec<String> = server.log().into_iter().map(|r| r.path).collect();
        assert_eq!(objects(&paths).0.len(), n, "every object once");
        assert_eq!(
            server.peak_waiting(),
            most,
            "requests at once to a server that {}",
            if closes {
                "closes each connection"
            } else {
                "keeps them alive"
            }
        );
        assert_cache_sound(&cache, false);
    }
}

/// A large object comes as one stream while that stream keeps up with the
/// hash; from a slow server the rest comes in parallel ranges. Counted at
/// the server: one `GET` without `Range`, then (slow) `Range` requests from
/// where the stream stopped, covering the rest.
#[test]
fn a_large_object_comes_in_one_stream_unless_that_stream_is_slow() {
    let tmp = support::tempdir();
    let reg = Registry::new(tmp.path());
    let size = 40u64 << 20;
    let bytes = pseudo_random(size as usize, 99);
    let object = object_path(&bytes);
    reg.write("model.bin", bytes);
    reg.add(&["model.bin"]);
    reg.commit("v1");
    reg.push();
    for slow in [false, true] {
        let server = FileServer::start(&reg.remote);
        if slow {
            // 8 MB/s: slower than the hash, even in a debug build.
            server.throttle(Some((8 << 10, Duration::from_millis(1))));
        }
        let krate = tmp.path().join(format!("consumer-{slow}"));
        consumer_of(&krate, &reg, &server, "model.bin");
        let cache = tmp.path().join(format!("cache-{slow}"));
        run(cargo_dvc(&krate, &cache).args(["fetch", "-q"]));
        let gets: Vec<_> = server
            .log()
            .into_iter()
            .filter(|r| r.path == object)
            .collect();
        assert_eq!(gets[0].range, None, "a stream first: {gets:?}");
        let mut ranges: Vec<(u64, u64)> = gets[1..]
            .iter()
            .map(|r| {
                let spec = r.range.as_deref().unwrap().trim_start_matches("bytes=");
                let (a, b) = spec.split_once('-').unwrap();
                (a.parse().unwrap(), b.parse::<u64>().unwrap() + 1)
            })
            .collect();
        if !slow {
            assert!(ranges.is_empty(), "one stream to the end: {gets:?}");
        } else {
            ranges.sort();
            assert!(ranges.len() >= 2, "then ranges: {gets:?}");
            let mut covered = ranges[0].0;
            assert!(covered > 0, "{gets:?}");
            for (a, b) in ranges {
                assert_eq!(a, covered, "{gets:?}");
                covered = b;
            }
            assert_eq!(covered, size);
        }
        assert_cache_sound(&cache, false);
    }
}
