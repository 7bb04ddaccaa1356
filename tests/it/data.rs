//! The data plane against real DVC registries: remotes (local, file://,
//! HTTP), the content cache, transfers and materialisation.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use dvc_build::__private::cache::Cache;
use dvc_build::__private::hash::Md5;
use dvc_build::__private::materialize::{Placement, place_dir, place_file};
use dvc_build::__private::remote::{Layout, ObjectKey, Remote, open_remote};
use dvc_build::__private::transfer::{Options, RetryPolicy, fetch_dir_with, fetch_file_with};
use dvc_build::ErrorKind;

use crate::support::http::FileServer;
use crate::support::{self, PythonHttpServer, Registry, out_md5_and_size, pseudo_random};

/// A DVC 3 registry pushed to a local remote, built once per test process.
struct Fixture {
    reg: Registry,
    model_md5: Md5,
    model_size: u64,
    dir_md5: Md5,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Kept for the whole run: in `target/tmp`, not `/tmp` (see
        // `process_dir`).
        let root = support::process_dir("data-fixture");
        let reg = Registry::new(&root);
        reg.write("model.bin", pseudo_random(3 << 20, 7));
        for i in 0..200 {
            reg.write(
                &format!("data/sub{}/f{i}.txt", i % 5),
                format!("file {i}\n"),
            );
        }
        reg.write("data/dup1.txt", "same\n");
        reg.write("data/dup2.txt", "same\n");
        reg.add(&["model.bin", "data"]);
        reg.commit("add artifacts");
        reg.push();
        let (model, size) =
            out_md5_and_size(&fs::read_to_string(reg.repo.join("model.bin.dvc")).unwrap());
        let (dir, _) = out_md5_and_size(&fs::read_to_string(reg.repo.join("data.dvc")).unwrap());
        Fixture {
            reg,
            model_md5: model.parse().unwrap(),
            model_size: size.unwrap(),
            dir_md5: dir.trim_end_matches(".dir").parse().unwrap(),
        }
    })
}

fn quick() -> Options {
    Options {
        retry: RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        parallel: None,
        ..Options::default()
    }
}

/// The fixture's model, fetched from `remote` (DVC 3 layout) into `cache`.
fn fetch_model(
    remote: &dyn Remote,
    cache: &Cache,
    f: &Fixture,
) -> dvc_build::__private::cache::CachedFile {
    fetch_file_with(
        remote,
        cache,
        key(f.model_md5, false, Layout::V3),
        Some(f.model_size),
        &quick(),
    )
    .unwrap()
}

fn key(md5: Md5, is_dir: bool, layout: Layout) -> ObjectKey {
    ObjectKey {
        md5,
        is_dir,
        layout,
    }
}

fn remote(url: &str) -> Box<dyn Remote> {
    open_remote(url, &BTreeMap::new()).unwrap()
}

/// Parses a `.dir` manifest the simple way (the strict parser lives elsewhere).
fn manifest(path: &Path) -> Vec<(String, Md5)> {
    let v: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["relpath"].as_str().unwrap().to_string(),
                e["md5"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// Fetches the fixture's directory (manifest, then files) into `cache`.
fn fetch_data_dir(remote: &dyn Remote, cache: &Cache) -> dvc_build::__private::transfer::CachedDir {
    let f = fixture();
    let dir_key = key(f.dir_md5, true, Layout::V3);
    let manifest_file = fetch_file_with(remote, cache, dir_key, None, &quick()).unwrap();
    let entries = manifest(&manifest_file.path);
    assert_eq!(entries.len(), 202);
    fetch_dir_with(remote, cache, dir_key, &entries, &quick()).unwrap()
}

fn assert_dir_matches_registry(placed: &Path) {
    let repo = &fixture().reg.repo;
    let mut n = 0;
    for i in 0..200 {
        let rel = format!("sub{}/f{i}.txt", i % 5);
        assert_eq!(
            fs::read(placed.join(&rel)).unwrap(),
            fs::read(repo.join("data").join(&rel)).unwrap()
        );
        n += 1;
    }
    assert_eq!(fs::read(placed.join("dup2.txt")).unwrap(), b"same\n");
    assert!(n == 200);
}

fn rel(md5: Md5, is_dir: bool) -> String {
    key(md5, is_dir, Layout::V3).rel_path()
}

#[test]
fn local_and_file_url_remotes_fetch_and_place_files_and_directories() {
    let f = fixture();
    let tmp = support::tempdir();
    let cache = Cache::open(tmp.path().join("cache")).unwrap();
    let file_url = format!("file://{}", f.reg.remote.display());
    for url in [f.reg.remote.display().to_string(), file_url] {
        let remote = remote(&url);
        let got = fetch_model(&*remote, &cache, f);
        assert_eq!(got.md5, f.model_md5);
        assert_eq!(got.size, f.model_size);
        assert_eq!(
            fs::read(&got.path).unwrap(),
            fs::read(f.reg.repo.join("model.bin")).unwrap()
        );
        assert!(fs::metadata(&got.path).unwrap().permissions().readonly());
    }
    let remote = remote(&f.reg.remote.display().to_string());
    let dir = fetch_data_dir(&*remote, &cache);
    assert_eq!(dir.files.len(), 202);
    let out = tmp.path().join("out/data");
    assert_ne!(
        place_dir(&cache, &dir.files, &out).unwrap(),
        Placement::UpToDate
    );
    assert_dir_matches_registry(&out);
    assert_eq!(
        place_dir(&cache, &dir.files, &out).unwrap(),
        Placement::UpToDate
    );
}

#[test]
fn http_directory_of_200_files_fetches_each_object_once() {
    let f = fixture();
    let server = FileServer::start(&f.reg.remote);
    let tmp = support::tempdir();
    let cache = Cache::open(tmp.path().join("cache")).unwrap();
    let remote = remote(&server.url());
    let started = std::time::Instant::now();
    let dir = fetch_data_dir(&*remote, &cache);
    eprintln!("202 files over HTTP in {:?}", started.elapsed());
    let distinct: HashSet<Md5> = dir.files.iter().map(|(_, c)| c.md5).collect();
    assert_eq!(distinct.len(), 201, "dup1 and dup2 share one object");
    for md5 in &distinct {
        assert_eq!(server.count(&rel(*md5, false)), 1, "{md5}");
    }
    let before = server.log().len();
    fetch_data_dir(&*remote, &cache);
    assert_eq!(server.log().len(), before, "a warm fetch makes no request");
    let out = tmp.path().join("data");
    place_dir(&cache, &dir.files, &out).unwrap();
    assert_dir_matches_registry(&out);
}

#[test]
fn python_http_server_serves_a_dvc_remote() {
    let f = fixture();
    let server = PythonHttpServer::start(&f.reg.remote);
    let tmp = support::tempdir();
    let cache = Cache::open(tmp.path().join("cache")).unwrap();
    let remote = remote(&format!("{}/", server.url));
    let got = fetch_model(&*remote, &cache, f);
    assert_eq!(
        fs::read(&got.path).unwrap(),
        fs::read(f.reg.repo.join("model.bin")).unwrap()
    );
}

#[test]
fn a_body_cut_short_is_resumed_with_a_range_request() {
    let f = fixture();
    let server = FileServer::start(&f.reg.remote);
    let path = rel(f.model_md5, false);
    server.cut_once(&path, 1_000_000);
    let tmp = support::tempdir();
    let cache = Cache::open(tmp.path().join("cache")).unwrap();
    let got = fetch_model(&*remote(&server.url()), &cache, f);
    assert_eq!(got.md5, f.model_md5);
    let log: Vec<_> = server
        .log()
        .into_iter()
        .filter(|r| r.path.ends_with(&path))
        .collect();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].range, None);
    assert_eq!(log[1].range.as_deref(), Some("bytes=1000000-"));
    assert!(
        fs::read_dir(tmp.path().join("cache/tmp"))
            .unwrap()
            .next()
            .is_none(),
        "no temp file left"
    );
}

#[test]
fn dvc2_legacy_crlf_object_is_verified_by_legacy_hash_and_cached_by_plain_md5() {
    let root = support::tempdir();
    let reg = Registry::with_version(root.path(), true);
    let text = "first line\r\nsecond line\r\n".repeat(1000);
    reg.write("notes.txt", &text);
    reg.add(&["notes.txt"]);
    reg.commit("notes");
    reg.push();
    let (legacy, size) =
        out_md5_and_size(&fs::read_to_string(reg.repo.join("notes.txt.dvc")).unwrap());
    let legacy: Md5 = legacy.parse().unwrap();
    let plain = Md5::of(text.as_bytes());
    assert_ne!(legacy, plain, "DVC 2 hashed the text after CRLF -> LF");
    let k = key(legacy, false, Layout::V2);
    assert!(
        reg.remote.join(k.rel_path()).is_file(),
        "legacy layout at the remote's root"
    );

    let server = FileServer::start(&reg.remote);
    let cache = Cache::open(root.path().join("cache")).unwrap();
    for remote in [
        remote(&reg.remote.display().to_string()),
        remote(&server.url()),
    ] {
        let got = fetch_file_with(&*remote, &cache, k, size, &quick()).unwrap();
        assert_eq!(got.md5, plain);
        assert_eq!(got.size, text.len() as u64);
        assert_eq!(fs::read(&got.path).unwrap(), text.as_bytes(), "CRLF kept");
    }
    assert_eq!(
        server.log().len(),
        0,
        "the legacy alias found the cached object"
    );
    let cache2 = Cache::open(root.path().join("cache2")).unwrap();
    let got = fetch_file_with(&*remote(&server.url()), &cache2, k, size, &quick()).unwrap();
    assert_eq!(got.md5, plain);
    assert_eq!(server.count(&k.rel_path()), 1);
}

#[test]
fn unsupported_remote_types_are_named_and_secrets_are_not_shown() {
    for (url, name) in [
        ("sftp://user:hunter2@host/p", "sftp"),
        ("hdfs://host/p", "hdfs"),
        ("webdav://host/p", "webdav"),
        ("oss://bucket/p", "oss"),
    ] {
        let err = open_remote(url, &BTreeMap::new()).err().expect(url);
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{url}");
        let text = err.to_string();
        assert!(text.contains(name), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn a_missing_object_is_not_found_naming_object_and_remote() {
    let f = fixture();
    let server = FileServer::start(&f.reg.remote);
    let tmp = support::tempdir();
    let cache = Cache::open(tmp.path().join("cache")).unwrap();
    let md5: Md5 = "0123456789abcdef0123456789abcdef".parse().unwrap();
    for url in [f.reg.remote.display().to_string(), server.url()] {
        let remote = remote(&url);
        let err = fetch_file_with(
            &*remote,
            &cache,
            key(md5, false, Layout::V3),
            None,
            &quick(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let text = err.to_string();
        assert!(
            text.contains("files/md5/01/23456789abcdef0123456789abcdef"),
            "{text}"
        );
        assert!(text.contains(&url), "{text}");
    }
    assert_eq!(server.log().len(), 1, "a 404 is not retried");
}

fn make_writable(path: &Path) {
    let mut perms = fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(path, perms).unwrap();
}

#[test]
fn a_corrupt_cache_entry_is_detected_and_fetched_again() {
    let f = fixture();
    let server = FileServer::start(&f.reg.remote);
    let tmp = support::tempdir();
    let cache = Cache::open(tmp.path().join("cache")).unwrap();
    let remote = remote(&server.url());
    let k = key(f.model_md5, false, Layout::V3);
    let got = fetch_model(&*remote, &cache, f);
    // Flip bytes, keep the size, and even put the old mtime back.
    let mtime = fs::metadata(&got.path).unwrap().modified().unwrap();
    make_writable(&got.path);
    let mut bytes = fs::read(&got.path).unwrap();
    bytes[1000] ^= 0xff;
    fs::write(&got.path, &bytes).unwrap();
    fs::File::options()
        .write(true)
        .open(&got.path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    let again = fetch_file_with(&*remote, &cache, k, Some(f.model_size), &quick()).unwrap();
    assert_eq!(server.count(&k.rel_path()), 2, "fetched again");
    assert_eq!(
        fs::read(&again.path).unwrap(),
        fs::read(f.reg.repo.join("model.bin")).unwrap()
    );
    assert!(fs::metadata(&again.path).unwrap().permissions().readonly());
}

#[test]
fn a_user_editing_a_materialised_file_does_not_change_the_next_build() {
    let f = fixture();
    let server = FileServer::start(&f.reg.remote);
    let tmp = support::tempdir();
    let cache = Cache::open(tmp.path().join("cache")).unwrap();
    let remote = remote(&server.url());
    let k = key(f.model_md5, false, Layout::V3);
    let original = fs::read(f.reg.repo.join("model.bin")).unwrap();
    let dest = tmp.path().join("out/model.bin");

    let build = || {
        let file = fetch_file_with(&*remote, &cache, k, Some(f.model_size), &quick()).unwrap();
        place_file(&cache, &file, &dest).unwrap()
    };
    let how = build();
    assert_ne!(how, Placement::UpToDate);
    assert_eq!(build(), Placement::UpToDate);
    assert!(fs::metadata(&dest).unwrap().permissions().readonly());

    // The user makes the placed file writable and edits it in place (same
    // size: only timestamps betray it). With a hard link this writes into
    // the cache object too.
    make_writable(&dest);
    let mut bytes = fs::read(&dest).unwrap();
    bytes[..6].copy_from_slice(b"HACKED");
    fs::OpenOptions::new().write(true).open(&dest).unwrap();
    fs::write(&dest, &bytes).unwrap();

    assert_ne!(build(), Placement::UpToDate);
    assert_eq!(fs::read(&dest).unwrap(), original);
    let cached = cache.get(&f.model_md5, false).unwrap().unwrap();
    assert_eq!(fs::read(&cached.path).unwrap(), original);
    eprintln!(
        "placement: {how:?}; requests: {}",
        server.count(&k.rel_path())
    );
}

const CHILD_ENV: &str = "DVC_BUILD_TEST_CHILD_FETCH";

/// Run by [`several_processes_share_one_cache`] in child processes.
#[test]
#[ignore = "child process of several_processes_share_one_cache"]
fn child_process_fetch() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.split('|');
    let (url, cache_dir, model, dir) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap().parse::<Md5>().unwrap(),
        parts.next().unwrap().parse::<Md5>().unwrap(),
    );
    let cache = Cache::open(cache_dir).unwrap();
    let remote = remote(url);
    fetch_file_with(
        &*remote,
        &cache,
        key(model, false, Layout::V3),
        None,
        &quick(),
    )
    .unwrap();
    let dir_key = key(dir, true, Layout::V3);
    let m = fetch_file_with(&*remote, &cache, dir_key, None, &quick()).unwrap();
    fetch_dir_with(&*remote, &cache, dir_key, &manifest(&m.path), &quick()).unwrap();
}

#[test]
fn several_processes_share_one_cache() {
    let f = fixture();
    let server = FileServer::start(&f.reg.remote);
    let tmp = support::tempdir();
    let cache_dir: PathBuf = tmp.path().join("cache");
    let spec = format!(
        "{}|{}|{}|{}",
        server.url(),
        cache_dir.display(),
        f.model_md5,
        f.dir_md5
    );
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "data::child_process_fetch",
                    "--ignored",
                    "--test-threads=1",
                    "-q",
                ])
                .env(CHILD_ENV, &spec)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "the child test ran"
        );
    }
    let cache = Cache::open(&cache_dir).unwrap();
    assert_eq!(server.count(&rel(f.model_md5, false)), 1);
    assert_eq!(server.count(&rel(f.dir_md5, true)), 1);
    let manifest_file = cache.get(&f.dir_md5, true).unwrap().unwrap();
    for (_, md5) in manifest(&manifest_file.path) {
        assert_eq!(server.count(&rel(md5, false)), 1, "{md5} downloaded once");
        let entry = cache.get(&md5, false).unwrap().unwrap();
        assert_eq!(Md5::of(&fs::read(&entry.path).unwrap()), md5);
    }
    let model = cache.get(&f.model_md5, false).unwrap().unwrap();
    assert_eq!(Md5::of(&fs::read(&model.path).unwrap()), f.model_md5);
}
