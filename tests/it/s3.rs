//! The S3 remote against a real S3-compatible store (SeaweedFS, SigV4
//! enforced), holding objects pushed there by the real `dvc push`.
//!
//! One SeaweedFS server and one pushed registry serve every test of the run
//! (see [`fixture`]); each test builds its own [`S3Remote`] with an explicit
//! environment, so no test touches the process environment.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dvc_build::ErrorKind;
use dvc_build::hash::Md5;
use dvc_build::remote::s3::{CredentialSource, S3Remote};
use dvc_build::remote::{FetchError, Layout, ObjectKey, Remote};

use crate::support::{Registry, run, tool};

const BUCKET: &str = "dvc-bucket";
const PREFIX: &str = "team/registry";
const KEY_ID: &str = "test-key-id";
/// Distinctive, so tests can assert it never shows up in any output.
const SECRET: &str = "Sup3rS3cretValue-9f2c";

/// A SeaweedFS server (`weed mini`) on free ports, started once per test run.
///
/// `weed` runs under a small `sh` watchdog that polls the test process's pid
/// and, once it is gone, kills `weed` and removes the server's folder (which
/// also holds the pushed registry): no orphan server outlives the run, even
/// when the test binary is killed.
struct Seaweed {
    endpoint: String,
    root: PathBuf,
    /// The watchdog; it ends on its own once the test process is gone.
    _watchdog: std::process::Child,
}

/// The pushed registry: what the tests read back.
struct Fixture {
    server: Seaweed,
    /// `model.bin`'s bytes and DVC's MD5 of them.
    model: Vec<u8>,
    model_md5: Md5,
    /// The `.dir` object's MD5 of `data/`, and the files under it.
    dir_md5: Md5,
    dir_files: BTreeMap<String, Vec<u8>>,
}

fn free_ports(n: usize) -> Vec<u16> {
    // Hold all listeners at once so the ports are distinct.
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

fn start_seaweed() -> Seaweed {
    let root = tempfile::Builder::new()
        .prefix("dvc-build-s3-")
        .tempdir()
        .expect("temp dir")
        .keep();
    let data = root.join("weed");
    std::fs::create_dir_all(&data).unwrap();
    let p = free_ports(16);
    let flags = [
        format!("-dir={}", data.display()),
        format!("-bucket={BUCKET}"),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        "-admin.ui=false".into(),
        "-webdav=false".into(),
        format!("-master.port={}", p[0]),
        format!("-master.port.grpc={}", p[1]),
        format!("-volume.port={}", p[2]),
        format!("-volume.port.grpc={}", p[3]),
        format!("-filer.port={}", p[4]),
        format!("-filer.port.grpc={}", p[5]),
        format!("-s3.port={}", p[6]),
        format!("-s3.port.grpc={}", p[7]),
        format!("-debug.port={}", p[8]),
        format!("-metricsPort={}", p[9]),
        format!("-s3.port.iceberg={}", p[10]),
        format!("-s3.port.lance={}", p[11]),
        format!("-admin.port={}", p[12]),
        format!("-admin.port.grpc={}", p[13]),
        format!("-s3.debug.port={}", p[14]),
        format!("-s3.metricsPort={}", p[15]),
    ];
    // The watchdog: start weed, then wait for either the test process or weed
    // to go away; then stop weed and remove the folder.
    let script = r#"
        "$WEED" mini "$@" >"$ROOT/weed.log" 2>&1 &
        W=$!
        cleanup() {
            kill "$W" 2>/dev/null
            n=0; while kill -0 "$W" 2>/dev/null && [ $n -lt 10 ]; do sleep 0.2; n=$((n+1)); done
            kill -9 "$W" 2>/dev/null; wait "$W" 2>/dev/null
            rm -rf "$ROOT"; exit 0
        }
        trap cleanup INT TERM HUP
        while kill -0 "$PARENT" 2>/dev/null && kill -0 "$W" 2>/dev/null; do sleep 0.3; done
        cleanup
    "#;
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("weed-watchdog")
        .args(&flags)
        .env("WEED", tool("weed"))
        .env("ROOT", &root)
        .env("PARENT", std::process::id().to_string())
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the weed watchdog");
    let server = Seaweed {
        endpoint: format!("http://127.0.0.1:{}", p[6]),
        root,
        _watchdog: watchdog,
    };
    // Ready when the bucket answers a signed GET with "no such key".
    let remote = server.remote(&[]);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match remote.open("readiness-probe", 0, None) {
            Err(FetchError::NotFound(e)) if e.message().contains("NoSuchKey") => break,
            other => {
                let log = std::fs::read_to_string(server.root.join("weed.log")).unwrap_or_default();
                assert!(
                    Instant::now() < deadline,
                    "SeaweedFS did not become ready: {:?}\nlog:\n{log}",
                    other.err()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    server
}

impl Seaweed {
    /// The remote at `s3://BUCKET/PREFIX` with the right credentials in the
    /// options, plus `extra` options.
    fn remote(&self, extra: &[(&str, &str)]) -> S3Remote {
        let mut options = opts(&[
            ("endpointurl", &self.endpoint),
            ("access_key_id", KEY_ID),
            ("secret_access_key", SECRET),
        ]);
        options.extend(opts(extra));
        S3Remote::open_with_env(&url(), &options, &env(&[("HOME", "/nonexistent")]))
            .expect("open the S3 remote")
    }
}

fn url() -> String {
    format!("s3://{BUCKET}/{PREFIX}")
}

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An explicit environment for [`S3Remote::open_with_env`].
fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Deterministic pseudo-random bytes.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as u8
        })
        .collect()
}

/// The `md5:` of the first out of a `.dvc` file.
fn out_md5(dvc_file: &Path) -> String {
    let text = std::fs::read_to_string(dvc_file).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("- md5: "))
        .unwrap_or_else(|| panic!("no out md5 in {text}"));
    line.trim().to_string()
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let server = start_seaweed();
        let reg = Registry::new(&server.root);
        let model = bytes(300_000, 1);
        reg.write("model.bin", &model);
        let mut dir_files = BTreeMap::new();
        for (rel, data) in [
            ("a.csv", b"x,y\n1,2\n".to_vec()),
            ("sub/b.bin", bytes(70_000, 2)),
            ("sub/deeper/c.txt", b"hello\n".to_vec()),
        ] {
            reg.write(&format!("data/{rel}"), &data);
            dir_files.insert(rel.to_string(), data);
        }
        reg.add(&["model.bin", "data"]);
        run(reg.dvc().args(["remote", "add", "-d", "s3store", &url()]));
        run(reg.dvc().args([
            "remote",
            "modify",
            "s3store",
            "endpointurl",
            &server.endpoint,
        ]));
        run(reg.dvc().args([
            "remote",
            "modify",
            "--local",
            "s3store",
            "access_key_id",
            KEY_ID,
        ]));
        run(reg.dvc().args([
            "remote",
            "modify",
            "--local",
            "s3store",
            "secret_access_key",
            SECRET,
        ]));
        reg.commit("data");
        run(reg.dvc().args(["push", "-q", "-r", "s3store"]));
        let model_md5 = out_md5(&reg.repo.join("model.bin.dvc")).parse().unwrap();
        assert_eq!(model_md5, Md5::of(&model));
        let dir = out_md5(&reg.repo.join("data.dvc"));
        let dir_md5 = dir
            .strip_suffix(".dir")
            .expect("a .dir hash")
            .parse()
            .unwrap();
        Fixture {
            server,
            model,
            model_md5,
            dir_md5,
            dir_files,
        }
    })
}

fn key(md5: Md5, is_dir: bool) -> String {
    ObjectKey {
        md5,
        is_dir,
        layout: Layout::V3,
    }
    .rel_path()
}

fn read_all(remote: &dyn Remote, rel: &str, offset: u64, end: Option<u64>) -> Vec<u8> {
    let body = remote
        .open(rel, offset, end)
        .unwrap_or_else(|e| panic!("open {rel} {offset}..{end:?}: {}", e.into_error()));
    let mut out = Vec::new();
    body.reader.take(u64::MAX).read_to_end(&mut out).unwrap();
    if let Some(len) = body.len {
        assert_eq!(
            len,
            out.len() as u64,
            "announced length of {rel} {offset}..{end:?}"
        );
    }
    out
}

#[test]
fn s3_reads_file_and_dir_objects_pushed_by_dvc() {
    let fx = fixture();
    let remote = fx.server.remote(&[]);
    assert_eq!(remote.display_url(), url());
    let model = read_all(&remote, &key(fx.model_md5, false), 0, None);
    assert_eq!(Md5::of(&model), fx.model_md5);
    assert_eq!(model, fx.model);

    let manifest = read_all(&remote, &key(fx.dir_md5, true), 0, None);
    assert_eq!(Md5::of(&manifest), fx.dir_md5);
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(entries.len(), fx.dir_files.len());
    for entry in entries {
        let rel = entry["relpath"].as_str().unwrap();
        let md5: Md5 = entry["md5"].as_str().unwrap().parse().unwrap();
        let bytes = read_all(&remote, &key(md5, false), 0, None);
        assert_eq!(Md5::of(&bytes), md5, "{rel}");
        assert_eq!(&bytes, &fx.dir_files[rel], "{rel}");
    }
}

#[test]
fn s3_ranged_reads() {
    let fx = fixture();
    let remote = fx.server.remote(&[]);
    let rel = key(fx.model_md5, false);
    let size = fx.model.len() as u64;
    for (offset, end) in [
        (0, Some(1)),
        (10, Some(20)),
        (1000, None),
        (size - 5, None),
        (100_000, Some(200_000)),
        (size - 10, Some(size + 100)),
        (size, None),
        (5, Some(5)),
    ] {
        let got = read_all(&remote, &rel, offset, end);
        let stop = end.unwrap_or(size).min(size) as usize;
        let want = &fx.model[(offset as usize).min(stop)..stop];
        assert_eq!(got, want, "range {offset}..{end:?}");
    }
}

#[test]
fn s3_missing_object_is_not_found() {
    let fx = fixture();
    let remote = fx.server.remote(&[]);
    let rel = key(Md5::of(b"never pushed"), false);
    match remote.open(&rel, 0, None) {
        Err(FetchError::NotFound(e)) => {
            assert!(e.to_string().contains(&rel), "{e}");
            assert!(e.to_string().contains("dvc push"), "{e}");
        }
        other => panic!("expected NotFound, got {:?}", other.err()),
    }
}

#[test]
fn s3_credentials_from_environment() {
    let fx = fixture();
    let home = crate::support::tempdir();
    let options = opts(&[("endpointurl", &fx.server.endpoint)]);
    let remote = S3Remote::open_with_env(
        &url(),
        &options,
        &env(&[
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ]),
    )
    .unwrap();
    assert_eq!(remote.credential_source(), &CredentialSource::Environment);
    let model = read_all(&remote, &key(fx.model_md5, false), 0, None);
    assert_eq!(Md5::of(&model), fx.model_md5);

    // The endpoint may come from the environment too (botocore honours it).
    let remote = S3Remote::open_with_env(
        &url(),
        &opts(&[]),
        &env(&[
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_ENDPOINT_URL_S3", &fx.server.endpoint),
        ]),
    )
    .unwrap();
    assert_eq!(
        read_all(&remote, &key(fx.model_md5, false), 0, Some(3)),
        &fx.model[..3]
    );
}

#[test]
fn s3_credentials_from_profile_files() {
    let fx = fixture();
    let dir = crate::support::tempdir();
    let creds = dir.path().join("creds");
    std::fs::write(
        &creds,
        format!(
            "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n\
             [ci]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
        ),
    )
    .unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile cfg]\nregion = us-east-1\nendpoint_url = {}\n\
             aws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n",
            fx.server.endpoint
        ),
    )
    .unwrap();
    let home = ("HOME", "/nonexistent");
    let rel = key(fx.model_md5, false);

    // `credentialpath` + `profile` options.
    let options = opts(&[
        ("endpointurl", &fx.server.endpoint),
        ("credentialpath", creds.to_str().unwrap()),
        ("profile", "ci"),
    ]);
    // An explicit profile wins over (wrong) environment credentials, as in botocore.
    let remote = S3Remote::open_with_env(
        &url(),
        &options,
        &env(&[
            home,
            ("AWS_ACCESS_KEY_ID", "bad"),
            ("AWS_SECRET_ACCESS_KEY", "bad"),
        ]),
    )
    .unwrap();
    assert_eq!(
        remote.credential_source(),
        &CredentialSource::Profile {
            name: "ci".into(),
            file: creds.clone()
        }
    );
    assert_eq!(Md5::of(&read_all(&remote, &rel, 0, None)), fx.model_md5);

    // AWS_SHARED_CREDENTIALS_FILE + AWS_PROFILE.
    let options = opts(&[("endpointurl", &fx.server.endpoint)]);
    let remote = S3Remote::open_with_env(
        &url(),
        &options,
        &env(&[
            home,
            ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
            ("AWS_PROFILE", "ci"),
        ]),
    )
    .unwrap();
    assert!(
        matches!(remote.credential_source(), CredentialSource::Profile { name, .. } if name == "ci")
    );
    assert_eq!(Md5::of(&read_all(&remote, &rel, 0, None)), fx.model_md5);

    // The config file (`[profile NAME]`) gives credentials and the endpoint.
    let remote = S3Remote::open_with_env(
        &url(),
        &opts(&[("configpath", config.to_str().unwrap())]),
        &env(&[home, ("AWS_PROFILE", "cfg")]),
    )
    .unwrap();
    assert!(
        matches!(remote.credential_source(), CredentialSource::Profile { file, .. } if *file == config)
    );
    assert_eq!(Md5::of(&read_all(&remote, &rel, 0, None)), fx.model_md5);
}

#[test]
fn s3_wrong_credentials_are_a_permanent_auth_error_without_secrets() {
    let fx = fixture();
    let wrong_secret = "Wr0ngButSecret-77ab";
    let remote = fx.server.remote(&[("secret_access_key", wrong_secret)]);
    let debug = format!("{remote:?}");
    assert!(!debug.contains(wrong_secret), "{debug}");
    let started = Instant::now();
    let err = match remote.open(&key(fx.model_md5, false), 0, None) {
        Err(FetchError::Permanent(e)) => e,
        Err(other) => panic!("expected a permanent error, got {other:?}"),
        Ok(_) => panic!("wrong credentials were accepted"),
    };
    // One request, no retry loop inside the remote.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.kind(), ErrorKind::Auth);
    let text = format!("{err}\n{err:?}");
    assert!(text.contains(BUCKET), "{text}");
    assert!(text.contains("access_key_id"), "{text}");
    assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
    for secret in [wrong_secret, SECRET, "X-Amz-Signature", "X-Amz-Credential"] {
        assert!(!text.contains(secret), "`{secret}` leaked: {text}");
    }

    // An unknown key id, too.
    let remote = fx.server.remote(&[("access_key_id", "nobody")]);
    match remote.open(&key(fx.model_md5, false), 0, None) {
        Err(FetchError::Permanent(e)) => {
            assert_eq!(e.kind(), ErrorKind::Auth);
            assert!(!format!("{e:?}").contains(SECRET));
        }
        other => panic!("expected a permanent error, got {:?}", other.err()),
    }
}

#[test]
fn s3_anonymous_request_refused_is_a_clear_error() {
    let fx = fixture();
    // `allow_anonymous_login` sends unsigned requests even with credentials
    // at hand, as DVC (s3fs `anon=True`) does.
    let remote = fx.server.remote(&[("allow_anonymous_login", "true")]);
    assert_eq!(remote.credential_source(), &CredentialSource::Anonymous);
    match remote.open(&key(fx.model_md5, false), 0, None) {
        Err(FetchError::Permanent(e)) => {
            assert_eq!(e.kind(), ErrorKind::Auth);
            let text = e.to_string();
            assert!(text.contains("anonymous access refused"), "{text}");
            assert!(text.contains(BUCKET), "{text}");
            assert!(text.contains("allow_anonymous_login"), "{text}");
        }
        other => panic!("expected a permanent error, got {:?}", other.err()),
    }
}

#[test]
fn s3_missing_credentials_fail_before_any_request() {
    // Nothing listens on port 1: reaching the network would be a transport
    // error, not this one.
    let home = crate::support::tempdir();
    let err = S3Remote::open_with_env(
        &url(),
        &opts(&[("endpointurl", "http://127.0.0.1:1")]),
        &env(&[("HOME", home.path().to_str().unwrap())]),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    let text = err.to_string();
    assert!(text.contains("no AWS credentials"), "{text}");
    assert!(text.contains(BUCKET), "{text}");
    assert!(text.contains("allow_anonymous_login"), "{text}");
}

#[test]
fn s3_unreachable_endpoint_is_transient() {
    let remote = S3Remote::open_with_env(
        &url(),
        &opts(&[
            ("endpointurl", "http://127.0.0.1:1"),
            ("connect_timeout", "2"),
        ]),
        &env(&[
            ("HOME", "/nonexistent"),
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ]),
    )
    .unwrap();
    match remote.open("files/md5/00/11", 0, None) {
        Err(FetchError::Transient(e)) => {
            let text = format!("{e:?}");
            assert!(!text.contains("X-Amz-Signature"), "{text}");
            assert!(!text.contains(SECRET), "{text}");
        }
        other => panic!("expected a transient error, got {:?}", other.err()),
    }
}
