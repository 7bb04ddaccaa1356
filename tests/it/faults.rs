//! Fault injection: downloads through a misbehaving HTTP server
//! ([`FileServer`] with scripted [`Fault`]s). Every case either retries and
//! ends with the right bytes, or stops with a clear error; after every case
//! the cache holds only verified objects ([`assert_cache_sound`]) and no
//! destination holds a wrong or partial file. The test prints a table of the
//! injected faults and their outcomes and writes it to
//! `target/fault-report.txt`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use dvc_build::__private::cache::Cache;
use dvc_build::__private::engine::{Artifact, Engine};
use dvc_build::__private::format::dir_manifest::{DirEntry, DirManifest};
use dvc_build::__private::format::stage::{NameOrMap, RepoSpec};
use dvc_build::__private::format::yaml::{Map, Value};
use dvc_build::__private::git::NetMode;
use dvc_build::__private::hash::Md5;
use dvc_build::__private::materialize::{place_dir, place_file};
use dvc_build::__private::remote::{Layout, ObjectKey, Remote, open_remote};
use dvc_build::__private::transfer::{Options, RetryPolicy, fetch_dir_with, fetch_file_with};

use crate::support::http::{Fault, FileServer};
use crate::support::invariants::assert_cache_sound;
use crate::support::{self, Registry, pseudo_random};

/// The client read timeout for these tests (the http remote's `read_timeout`).
const READ_TIMEOUT: &str = "0.3";
/// Longer than [`READ_TIMEOUT`].
const STALL: Duration = Duration::from_millis(900);

fn quick() -> Options {
    Options {
        retry: RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        parallel: Some(3),
        ..Options::default()
    }
}

/// Stores `data` on a DVC 3 remote folder; returns its key.
fn put(remote_dir: &Path, data: &[u8], is_dir: bool) -> ObjectKey {
    let key = ObjectKey {
        md5: Md5::of(data),
        is_dir,
        layout: Layout::V3,
    };
    support::write(remote_dir, &key.rel_path(), data);
    key
}

fn http_remote(server: &FileServer) -> Box<dyn Remote> {
    let mut opts = BTreeMap::new();
    opts.insert("read_timeout".to_string(), READ_TIMEOUT.to_string());
    opts.insert("connect_timeout".to_string(), "2".to_string());
    open_remote(&server.url(), &opts).unwrap()
}

/// What a case must end with.
#[derive(Debug, Clone)]
enum Expect {
    /// The right bytes.
    Ok,
    /// An error whose text contains this.
    Err(&'static str),
}

/// One line of the report.
struct Row {
    case: String,
    faults: Vec<String>,
    requests: usize,
    outcome: String,
    millis: u128,
}

struct Report {
    rows: Vec<Row>,
}

impl Report {
    fn table(&self) -> String {
        let mut t = String::new();
        let injected: usize = self.rows.iter().map(|r| r.faults.len()).sum();
        let _ = writeln!(
            t,
            "fault injection: {} cases, {injected} faults injected",
            self.rows.len()
        );
        let _ = writeln!(
            t,
            "{:<44} | {:>3} | {:>4} | {:>6} | {:<60} | faults",
            "case", "#f", "reqs", "ms", "outcome"
        );
        let _ = writeln!(t, "{}", "-".repeat(160));
        for r in &self.rows {
            let _ = writeln!(
                t,
                "{:<44} | {:>3} | {:>4} | {:>6} | {:<60} | {}",
                r.case,
                r.faults.len(),
                r.requests,
                r.millis,
                r.outcome.chars().take(60).collect::<String>(),
                r.faults.join(", ")
            );
        }
        t
    }
}

/// `error (Kind): <the innermost two causes>` for the report.
fn brief(e: &dvc_build::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("");
    let parts: Vec<&str> = first.split(": ").collect();
    let tail = parts[parts.len().saturating_sub(2)..].join(": ");
    format!("error ({:?}): {tail}", e.kind())
}

/// How long `faults` ask the client to wait (their `Retry-After`s).
fn asked_wait(faults: &[Fault]) -> Duration {
    faults
        .iter()
        .map(|f| match f {
            Fault::Throttle { retry_after, .. } => Duration::from_secs(*retry_after),
            _ => Duration::ZERO,
        })
        .sum()
}

/// The single-file cases: the faults scripted for the object's path, in order.
fn file_cases(len: u64) -> Vec<(&'static str, Vec<Fault>, bool, Expect)> {
    use Fault::*;
    let half = len / 2;
    let stall = |after| Stall {
        after,
        pause: STALL,
    };
    vec![
        (
            "503 burst (2)",
            vec![Status(503), Status(503)],
            true,
            Expect::Ok,
        ),
        (
            "500 then 502",
            vec![Status(500), Status(502)],
            true,
            Expect::Ok,
        ),
        ("429 then ok", vec![Status(429)], true, Expect::Ok),
        (
            "429 with Retry-After",
            vec![Throttle {
                status: 429,
                retry_after: 1,
            }],
            true,
            Expect::Ok,
        ),
        (
            "503 burst beyond the retry budget",
            vec![Status(503); 4],
            true,
            Expect::Err("gave up after 4 attempts"),
        ),
        (
            "reset before the body",
            vec![Reset { after: 0 }],
            true,
            Expect::Ok,
        ),
        (
            "reset mid-body",
            vec![Reset { after: half }],
            true,
            Expect::Ok,
        ),
        (
            "reset mid-body, size unknown",
            vec![Reset { after: half }],
            false,
            Expect::Ok,
        ),
        (
            "truncated body",
            vec![Truncate { after: half }],
            true,
            Expect::Ok,
        ),
        (
            "truncated body, size unknown",
            vec![Truncate { after: 1 }],
            false,
            Expect::Ok,
        ),
        ("stall before the body", vec![stall(0)], true, Expect::Ok),
        ("stall mid-body", vec![stall(half)], true, Expect::Ok),
        (
            "wrong bytes (right length)",
            vec![Corrupt { at: half }],
            true,
            Expect::Ok,
        ),
        (
            "wrong bytes, size unknown",
            vec![Corrupt { at: 0 }],
            false,
            Expect::Ok,
        ),
        (
            "wrong bytes, every time",
            vec![Corrupt { at: 7 }; 2],
            true,
            Expect::Err("expected MD5"),
        ),
        (
            "Content-Length too long",
            vec![LengthTooLong { extra: 1000 }],
            true,
            Expect::Ok,
        ),
        (
            "Content-Length too long, size unknown",
            vec![LengthTooLong { extra: 1000 }],
            false,
            Expect::Ok,
        ),
        (
            "Content-Length too short",
            vec![LengthTooShort { less: 1000 }],
            true,
            Expect::Ok,
        ),
        (
            "Content-Length too short, size unknown",
            vec![LengthTooShort { less: 1000 }],
            false,
            Expect::Ok,
        ),
        (
            "range: 503 on resume",
            vec![Truncate { after: half }, Status(503)],
            true,
            Expect::Ok,
        ),
        (
            "range: reset on resume",
            vec![Truncate { after: 1000 }, Reset { after: 1000 }],
            true,
            Expect::Ok,
        ),
        (
            "range: truncated resume",
            vec![Truncate { after: 1000 }, Truncate { after: 1000 }],
            true,
            Expect::Ok,
        ),
        (
            "range: stall on resume",
            vec![Truncate { after: half }, stall(10)],
            true,
            Expect::Ok,
        ),
        (
            "range: wrong bytes on resume",
            vec![Truncate { after: half }, Corrupt { at: 3 }],
            true,
            Expect::Ok,
        ),
        (
            "range: wrong bytes on resume, size unknown",
            vec![Truncate { after: half }, Corrupt { at: 3 }],
            false,
            Expect::Ok,
        ),
        (
            "range: Content-Length too long on resume",
            vec![Truncate { after: half }, LengthTooLong { extra: 50 }],
            true,
            Expect::Ok,
        ),
        (
            "range: Content-Length too short on resume",
            vec![Truncate { after: half }, LengthTooShort { less: 50 }],
            true,
            Expect::Ok,
        ),
        (
            "range: ignored (200)",
            vec![Truncate { after: half }, IgnoreRange],
            true,
            Expect::Ok,
        ),
        (
            "range: wrong start",
            vec![Truncate { after: half }, WrongRange],
            true,
            Expect::Ok,
        ),
        (
            "range: a fault on every resume",
            vec![
                Truncate { after: 10_000 },
                Reset { after: 10_000 },
                Status(503),
                stall(10_000),
                Truncate { after: 10_000 },
            ],
            true,
            Expect::Ok,
        ),
    ]
}

#[test]
fn faults_report_every_outcome_and_never_leave_a_bad_file() {
    let tmp = support::tempdir();
    let remote_dir = tmp.path().join("remote");
    let file = pseudo_random(200_000, 1);
    let key = put(&remote_dir, &file, false);
    let server = FileServer::start(&remote_dir);
    let remote = http_remote(&server);
    let mut report = Report { rows: Vec::new() };

    // --- one file, each fault in its own fresh cache
    for (i, (name, faults, sized, expect)) in file_cases(file.len() as u64).into_iter().enumerate()
    {
        let cache_dir = tmp.path().join(format!("cache-f{i}"));
        let cache = Cache::open(&cache_dir).unwrap();
        let n = faults.len();
        let asked = asked_wait(&faults);
        server.script(&key.rel_path(), faults);
        let before = server.log().len();
        let injected_before = server.injected().len();
        let size = sized.then_some(file.len() as u64);
        let started = Instant::now();
        let result = fetch_file_with(&*remote, &cache, key, size, &quick());
        let millis = started.elapsed().as_millis();
        assert!(
            started.elapsed() >= asked,
            "{name}: waited {millis} ms, the server asked for {asked:?}"
        );
        assert_eq!(
            server.clear_script(),
            0,
            "{name}: every scripted fault was injected"
        );
        let faults: Vec<String> = server.injected()[injected_before..]
            .iter()
            .map(|f| f.fault.name())
            .collect();
        assert_eq!(faults.len(), n, "{name}");
        let dest = tmp.path().join(format!("dest-f{i}/model.bin"));
        let outcome = match (&result, &expect) {
            (Ok(got), Expect::Ok) => {
                assert_eq!(fs::read(&got.path).unwrap(), file, "{name}: right bytes");
                place_file(&cache, got, &dest).unwrap();
                assert_eq!(fs::read(&dest).unwrap(), file, "{name}: right bytes placed");
                "ok: right bytes".to_string()
            }
            (Err(e), Expect::Err(want)) => {
                let text = e.to_string();
                assert!(text.contains(want), "{name}: {text}");
                assert!(
                    text.contains(&key.rel_path()) && text.contains(&server.url()),
                    "{name}: the error names the object and the remote: {text}"
                );
                assert!(!dest.exists());
                brief(e)
            }
            (r, e) => panic!("{name}: expected {e:?}, got {r:?}"),
        };
        let objects = assert_cache_sound(&cache_dir, false);
        match expect {
            Expect::Ok => assert_eq!(objects.len(), 1, "{name}: {objects:?}"),
            Expect::Err(_) => assert!(objects.is_empty(), "{name}: {objects:?}"),
        }
        report.rows.push(Row {
            case: format!("file: {name}"),
            faults,
            requests: server.log().len() - before,
            outcome,
            millis,
        });
    }

    // --- a directory of 12 files fetched 3 at a time, faults on any request
    let entries: Vec<(String, Vec<u8>)> = (0..12)
        .map(|i| {
            (
                format!("d{}/f{i}.bin", i % 3),
                pseudo_random(20_000 + i * 1000, 100 + i as u64),
            )
        })
        .collect();
    let manifest = DirManifest::from_entries(
        entries
            .iter()
            .map(|(rel, data)| DirEntry {
                relpath: rel.clone(),
                md5: put(&remote_dir, data, false).md5,
            })
            .collect(),
    )
    .unwrap();
    let dir_key = put(&remote_dir, manifest.to_json().as_bytes(), true);
    let dir_entries: Vec<(String, Md5)> = manifest
        .entries()
        .iter()
        .map(|e| (e.relpath.clone(), e.md5))
        .collect();
    use Fault::*;
    let file_key = |i: usize| ObjectKey {
        md5: dir_entries[i].1,
        is_dir: false,
        layout: Layout::V3,
    };
    // Faults per file (by index in the manifest), so that parallel workers
    // cannot change which file gets which fault.
    type PerFile = Vec<(usize, Vec<Fault>)>;
    let dir_cases: Vec<(&str, PerFile, Expect)> = vec![
        (
            "a different fault on 8 files",
            vec![
                (0, vec![Status(503)]),
                (1, vec![Reset { after: 5000 }]),
                (2, vec![Truncate { after: 100 }]),
                (3, vec![Corrupt { at: 10 }]),
                (4, vec![LengthTooLong { extra: 10 }]),
                (5, vec![LengthTooShort { less: 10 }]),
                (6, vec![Status(500), Status(502)]),
                (
                    7,
                    vec![Stall {
                        after: 10,
                        pause: STALL,
                    }],
                ),
            ],
            Expect::Ok,
        ),
        (
            "one file always 503",
            vec![(0, vec![Status(503); 4])],
            Expect::Err("gave up after 4 attempts"),
        ),
        (
            "one file always wrong bytes",
            vec![(0, vec![Corrupt { at: 0 }; 2])],
            Expect::Err("expected MD5"),
        ),
    ];
    for (i, (name, per_file, expect)) in dir_cases.into_iter().enumerate() {
        let cache_dir = tmp.path().join(format!("cache-d{i}"));
        let cache = Cache::open(&cache_dir).unwrap();
        let n: usize = per_file.iter().map(|(_, f)| f.len()).sum();
        for (file, faults) in per_file {
            server.script(&file_key(file).rel_path(), faults);
        }
        let before = server.log().len();
        let injected_before = server.injected().len();
        let started = Instant::now();
        let result = fetch_dir_with(&*remote, &cache, dir_key, &dir_entries, &quick());
        let millis = started.elapsed().as_millis();
        let left = server.clear_script();
        if matches!(expect, Expect::Ok) {
            assert_eq!(left, 0, "{name}: every scripted fault was injected");
        }
        let faults: Vec<String> = server.injected()[injected_before..]
            .iter()
            .map(|f| f.fault.name())
            .collect();
        assert_eq!(faults.len() + left, n, "{name}");
        let dest = tmp.path().join(format!("dest-d{i}/data"));
        let outcome = match (&result, &expect) {
            (Ok(got), Expect::Ok) => {
                place_dir(&cache, &got.files, &dest).unwrap();
                for (rel, data) in &entries {
                    assert_eq!(&fs::read(dest.join(rel)).unwrap(), data, "{name}: {rel}");
                }
                "ok: right bytes".to_string()
            }
            (Err(e), Expect::Err(want)) => {
                let text = e.to_string();
                assert!(text.contains(want), "{name}: {text}");
                assert!(
                    text.contains(&dir_entries[0].0),
                    "{name}: the error names the file: {text}"
                );
                assert!(!dest.exists());
                brief(e)
            }
            (r, e) => panic!("{name}: expected {e:?}, got {r:?}"),
        };
        assert_cache_sound(&cache_dir, false);
        report.rows.push(Row {
            case: format!("dir: {name}"),
            faults,
            requests: server.log().len() - before,
            outcome,
            millis,
        });
    }

    engine_cases(&tmp, &mut report);

    let table = report.table();
    println!("{table}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fault-report.txt");
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    fs::write(&out, &table).unwrap();
    let injected: usize = report.rows.iter().map(|r| r.faults.len()).sum();
    assert!(injected >= 80, "{injected} faults injected");
}

/// Through the engine (`dvc import` and `dvc pull` of an import) from a real
/// DVC registry whose remote is the faulty server, with the default retry
/// policy; results are placed as a build would place them.
fn engine_cases(tmp: &tempfile::TempDir, report: &mut Report) {
    use Fault::*;
    let reg = Registry::new(&tmp.path().join("reg"));
    let model = pseudo_random(150_000, 7);
    reg.write("model.bin", &model);
    let files: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| {
            (
                format!("f{i}.bin"),
                pseudo_random(30_000 + i, 50 + i as u64),
            )
        })
        .collect();
    for (rel, data) in &files {
        reg.write(&format!("data/{rel}"), data);
    }
    reg.add(&["model.bin", "data"]);
    reg.commit("data");
    reg.push();
    let server = FileServer::start(&reg.remote);
    let mut remote = Map::new();
    remote.insert("url", Value::Str(server.url()));
    remote.insert("read_timeout", Value::Str(READ_TIMEOUT.to_string()));
    let repo = RepoSpec {
        url: reg.repo.display().to_string(),
        remote: Some(NameOrMap::Map(remote)),
        ..RepoSpec::default()
    };
    let base = tmp.path();
    let model_key = ObjectKey {
        md5: Md5::of(&model),
        is_dir: false,
        layout: Layout::V3,
    };

    let run = |report: &mut Report,
               name: &str,
               path: &str,
               locked: Option<&dvc_build::__private::format::stage::ImportStage>,
               script: &dyn Fn(),
               expect: Expect,
               check: &dyn Fn(&Result<Artifact, dvc_build::Error>, &Path)|
     -> Option<dvc_build::__private::format::stage::ImportStage> {
        let i = report.rows.len();
        let cache_dir = tmp.path().join(format!("cache-e{i}"));
        let engine = Engine::new(Cache::open(&cache_dir).unwrap(), NetMode::Online);
        script();
        let before = server.log().len();
        let injected_before = server.injected().len();
        let started = Instant::now();
        let (result, stage) = match locked {
            None => match engine.resolve(base, &repo, path, path) {
                Ok((stage, a)) => (Ok(a), Some(stage)),
                Err(e) => (Err(e), None),
            },
            Some(stage) => (
                engine.fetch_locked(
                    base,
                    &dvc_build::__private::format::stage::LockStage::Import(stage.clone()),
                    None,
                ),
                None,
            ),
        };
        let millis = started.elapsed().as_millis();
        assert_eq!(
            server.clear_script(),
            0,
            "{name}: every scripted fault was injected"
        );
        let faults: Vec<String> = server.injected()[injected_before..]
            .iter()
            .map(|f| f.fault.name())
            .collect();
        let dest = tmp.path().join(format!("dest-e{i}")).join(path);
        let outcome = match (&result, &expect) {
            (Ok(Artifact::File(f)), Expect::Ok) => {
                place_file(engine.cache(), f, &dest).unwrap();
                "ok: right bytes".to_string()
            }
            (Ok(Artifact::Dir { files, .. }), Expect::Ok) => {
                place_dir(engine.cache(), files, &dest).unwrap();
                "ok: right bytes".to_string()
            }
            (Err(e), Expect::Err(want)) => {
                let text = e.to_string();
                assert!(text.contains(want), "{name}: {text}");
                brief(e)
            }
            (r, e) => panic!("{name}: expected {e:?}, got {r:?}"),
        };
        check(&result, &dest);
        assert_cache_sound(&cache_dir, false);
        report.rows.push(Row {
            case: format!("engine: {name}"),
            faults,
            requests: server.log().len() - before,
            outcome,
            millis,
        });
        stage
    };

    let model_ok = |r: &Result<Artifact, dvc_build::Error>, dest: &Path| {
        assert!(r.is_ok());
        assert_eq!(fs::read(dest).unwrap(), model);
    };
    let dir_ok = |r: &Result<Artifact, dvc_build::Error>, dest: &Path| {
        assert!(r.is_ok());
        for (rel, data) in &files {
            assert_eq!(&fs::read(dest.join(rel)).unwrap(), data, "{rel}");
        }
    };
    let failed = |r: &Result<Artifact, dvc_build::Error>, dest: &Path| {
        assert!(r.is_err());
        assert!(!dest.exists(), "nothing placed");
    };
    let model_stage = run(
        report,
        "import a file: 503, reset mid-body",
        "model.bin",
        None,
        &|| {
            server.script(
                &model_key.rel_path(),
                [Status(503), Reset { after: 70_000 }],
            )
        },
        Expect::Ok,
        &model_ok,
    )
    .unwrap();
    let dir_stage = run(
        report,
        "import a directory: 4 faults",
        "data",
        None,
        &|| {
            server.script_any([
                Truncate { after: 10 },
                Stall {
                    after: 0,
                    pause: STALL,
                },
                Corrupt { at: 5 },
                Status(500),
            ])
        },
        Expect::Ok,
        &dir_ok,
    )
    .unwrap();
    run(
        report,
        "pull a locked file: stall, wrong length",
        "model.bin",
        Some(&model_stage),
        &|| {
            server.script(
                &model_key.rel_path(),
                [
                    Stall {
                        after: 1000,
                        pause: STALL,
                    },
                    LengthTooShort { less: 10 },
                ],
            )
        },
        Expect::Ok,
        &model_ok,
    );
    run(
        report,
        "pull a locked directory: resets everywhere",
        "data",
        Some(&dir_stage),
        &|| server.script_any((0..6).map(|i| Reset { after: i * 1000 })),
        Expect::Ok,
        &dir_ok,
    );
    run(
        report,
        "pull a locked file: always wrong bytes",
        "model.bin",
        Some(&model_stage),
        &|| {
            server.script(
                &model_key.rel_path(),
                [Corrupt { at: 0 }, Corrupt { at: 0 }],
            )
        },
        Expect::Err("expected MD5"),
        &failed,
    );
}

/// The object-store remotes (GCS, Azure) through the same faulty server,
/// serving their URL shapes ([`Store`]), with tokens from a token service
/// that checks every exchange: 5xx, throttling with `Retry-After`, bodies
/// cut short or reset, and tokens refused as expired (renewed once, then a
/// clear error), a token service that is down once. Each case starts from an
/// empty cache, which ends sound.
#[cfg(all(feature = "gs", feature = "azure"))]
#[test]
fn cloud_remotes_retry_resume_wait_and_renew_tokens() {
    use crate::support::cloud::TokenServer;
    use crate::support::http::Store;
    use Fault::*;
    use dvc_build::__private::remote::azure::AzureRemote;
    use dvc_build::__private::remote::gs::GcsRemote;
    use rsa::pkcs8::DecodePrivateKey as _;

    let tmp = support::tempdir();
    let data = pseudo_random(200_000, 31);
    let half = data.len() as u64 / 2;
    let key = ObjectKey {
        md5: Md5::of(&data),
        is_dir: false,
        layout: Layout::V3,
    };
    let tokens = TokenServer::start();
    let email = "faults@dvc-build-test.iam.gserviceaccount.com";
    let pem = include_str!("../data/gcs-test-key.pem");
    let public = rsa::PrivateKey::from_pkcs8_pem(pem)
        .unwrap()
        .to_public_key();
    tokens.add_service_account(email, public, "k1");
    let key_file = tmp.path().join("sa.json");
    fs::write(
        &key_file,
        serde_json::json!({
            "type": "service_account",
            "client_email": email,
            "private_key": pem,
            "private_key_id": "k1",
            "token_uri": tokens.google_token_uri(),
        })
        .to_string(),
    )
    .unwrap();
    tokens.add_entra_client("tenant-1", "client-1", "client-secret-1");
    let authority = tokens.url();
    let opts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let env = |pairs: Vec<(&'static str, String)>| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    };

    // (case, faults, a token service outage first, expected outcome)
    let cases: Vec<(&str, Vec<Fault>, bool, Expect)> = vec![
        ("503 then ok", vec![Status(503)], false, Expect::Ok),
        (
            "500 then 502",
            vec![Status(500), Status(502)],
            false,
            Expect::Ok,
        ),
        (
            "429 with Retry-After",
            vec![Throttle {
                status: 429,
                retry_after: 1,
            }],
            false,
            Expect::Ok,
        ),
        (
            "503 with Retry-After",
            vec![Throttle {
                status: 503,
                retry_after: 1,
            }],
            false,
            Expect::Ok,
        ),
        (
            "truncated body",
            vec![Truncate { after: half }],
            false,
            Expect::Ok,
        ),
        (
            "reset mid-body",
            vec![Reset { after: half }],
            false,
            Expect::Ok,
        ),
        (
            "range: truncated resume",
            vec![Truncate { after: 1000 }, Truncate { after: 1000 }],
            false,
            Expect::Ok,
        ),
        ("token expired: renewed", vec![Expired], false, Expect::Ok),
        (
            "token expired, token service down once",
            vec![Expired],
            true,
            Expect::Ok,
        ),
        (
            "expired, and the new token refused too",
            vec![Expired, Expired],
            false,
            Expect::Err("access denied"),
        ),
        (
            "503 beyond the retry budget",
            vec![Status(503); 4],
            false,
            Expect::Err("gave up after 4 attempts"),
        ),
    ];
    let mut report = Report { rows: Vec::new() };
    for kind in ["gs", "azure"] {
        let dir = tmp.path().join(kind);
        let name = format!("reg/{}", key.rel_path());
        support::write(&dir, &name, &data);
        let (server, remote): (FileServer, Box<dyn Remote>) = if kind == "gs" {
            let server = FileServer::start_as(
                &dir,
                Store::Gcs {
                    bucket: "bkt".into(),
                },
            );
            let remote = GcsRemote::open_with_env(
                "gs://bkt/reg",
                &opts(&[
                    ("endpointurl", &server.url()),
                    ("credentialpath", key_file.to_str().unwrap()),
                ]),
                &env(vec![("HOME", "/nonexistent".into())]),
            )
            .unwrap();
            (server, Box::new(remote))
        } else {
            let server = FileServer::start_as(
                &dir,
                Store::Azure {
                    account: "acct".into(),
                    container: "cont".into(),
                },
            );
            let remote = AzureRemote::open_with_env(
                "azure://cont/reg",
                &opts(&[
                    (
                        "connection_string",
                        &format!("AccountName=acct;BlobEndpoint={}/acct", server.url()),
                    ),
                    ("tenant_id", "tenant-1"),
                    ("client_id", "client-1"),
                    ("client_secret", "client-secret-1"),
                ]),
                &env(vec![
                    ("HOME", "/nonexistent".into()),
                    ("AZURE_AUTHORITY_HOST", authority.clone()),
                ]),
            )
            .unwrap();
            (server, Box::new(remote))
        };
        let path = server.object_path(&name);
        for (i, (case, faults, outage, expect)) in cases.iter().enumerate() {
            let cache_dir = tmp.path().join(format!("cache-{kind}-{i}"));
            let cache = Cache::open(&cache_dir).unwrap();
            let asked = asked_wait(faults);
            let expired = faults.iter().filter(|f| **f == Expired).count();
            server.script(&path, faults.iter().cloned());
            if *outage {
                tokens.fail_next(1);
            }
            let (before, injected_before, exchanges) = (
                server.log().len(),
                server.injected().len(),
                tokens.log().len(),
            );
            let started = Instant::now();
            let result = fetch_file_with(&*remote, &cache, key, Some(data.len() as u64), &quick());
            let elapsed = started.elapsed();
            assert_eq!(
                server.clear_script(),
                0,
                "{kind} {case}: every fault injected"
            );
            assert!(
                elapsed >= asked,
                "{kind} {case}: waited {elapsed:?}, asked {asked:?}"
            );
            let outcome = match (&result, expect) {
                (Ok(got), Expect::Ok) => {
                    assert_eq!(fs::read(&got.path).unwrap(), data, "{kind} {case}");
                    "ok: right bytes".to_string()
                }
                (Err(e), Expect::Err(want)) => {
                    let text = e.to_string();
                    assert!(text.contains(want), "{kind} {case}: {text}");
                    assert!(text.contains(&key.rel_path()), "{kind} {case}: {text}");
                    for secret in ["client-secret-1", "ya29.", "BEGIN PRIVATE"] {
                        assert!(!text.contains(secret), "{kind} {case}: {text}");
                    }
                    if *want == "access denied" {
                        assert_eq!(e.kind(), dvc_build::ErrorKind::Auth, "{kind} {case}");
                    }
                    brief(e)
                }
                (r, e) => panic!("{kind} {case}: expected {e:?}, got {r:?}"),
            };
            // Each refused token was traded once more (twice with the outage).
            let new_exchanges = tokens.log().len() - exchanges;
            let first = usize::from(i == 0);
            let want = first + expired.min(1) + usize::from(*outage);
            assert_eq!(new_exchanges, want, "{kind} {case}: {:?}", tokens.log());
            let objects = assert_cache_sound(&cache_dir, false);
            assert_eq!(
                objects.len(),
                usize::from(matches!(expect, Expect::Ok)),
                "{kind} {case}"
            );
            report.rows.push(Row {
                case: format!("{kind}: {case}"),
                faults: server.injected()[injected_before..]
                    .iter()
                    .map(|f| f.fault.name())
                    .collect(),
                requests: server.log().len() - before,
                outcome,
                millis: elapsed.as_millis(),
            });
        }
    }
    let table = report.table();
    println!("{table}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fault-report-cloud.txt");
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    fs::write(&out, &table).unwrap();
}
