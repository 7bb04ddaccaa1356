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

use dvc_build::__private::hash::Md5;
use dvc_build::__private::remote::s3::{CredentialSource, S3Remote};
use dvc_build::__private::remote::{FetchError, Layout, ObjectKey, Remote};
use dvc_build::ErrorKind;

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
    /// The registry's git work tree. Its committed `.dvc/config` makes the S3
    /// remote (with `endpointurl`) the default; it holds no credentials and
    /// no DVC cache, so every reader needs credentials to get the data.
    registry: PathBuf,
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
        // Leave no credentials (`config.local`) and no local copy of the data
        // (the registry's DVC cache) behind: the real `dvc import` must read
        // S3 with the credentials each test gives it, as we do.
        std::fs::remove_file(reg.repo.join(".dvc/config.local")).unwrap();
        std::fs::remove_dir_all(reg.repo.join(".dvc/cache")).unwrap();
        let config = std::fs::read_to_string(reg.repo.join(".dvc/config")).unwrap();
        assert!(config.contains("endpointurl"), "{config}");
        assert!(!config.contains(SECRET), "{config}");
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
            registry: reg.repo.clone(),
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

// ---------------------------------------------------------------------------
// End to end: the build-script path (`dvc_build::Fetch`) with the registry's
// default remote on S3, credentials given the way users give them.
//
// The S3 remote reads credentials from the process environment, and tests run
// in parallel threads of one process: so each `Fetch::run` happens in a child
// process (this test binary again, running [`s3_child_fetch`]) with an
// environment of its own: every `AWS_*` variable of ours removed, `HOME` an
// empty folder, plus the variables the case gives.

/// Selects [`s3_child_fetch`]'s work: `crate root`, `OUT_DIR`, cache and
/// result file, one per line.
const CHILD_ENV: &str = "DVC_BUILD_TEST_S3_CHILD";

/// Run by [`fetch_in_child`] in a child process: `Fetch::run` for one crate,
/// with the result written to a file (`ok` and one `name<TAB>path` line per
/// dependency, or `err` and the error's text).
#[test]
#[ignore = "child process of the s3 end-to-end tests"]
fn s3_child_fetch() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.lines().collect();
    let [root, out_dir, cache_dir, result] = parts[..] else {
        panic!("bad {CHILD_ENV}: {spec}");
    };
    let fetched = dvc_build::Fetch::new()
        .manifest_dir(root)
        .out_dir(out_dir)
        .cache_dir(cache_dir)
        .offline(false)
        .locked(false)
        .emit_directives(false)
        .run();
    let text = match fetched {
        Ok(f) => {
            let mut text = String::from("ok\n");
            for dep in f.deps {
                text.push_str(&format!("{}\t{}\n", dep.name, dep.path.display()));
            }
            text
        }
        Err(e) => format!("err\n{e}\n{e:?}"),
    };
    std::fs::write(result, text).unwrap();
}

/// A consumer crate with data dependencies, its `OUT_DIR`, a cache and an
/// empty home folder, all in one temp dir.
struct Consumer {
    tmp: tempfile::TempDir,
}

impl Consumer {
    /// A crate whose `Cargo.toml` declares `deps` (TOML under
    /// `[package.metadata.dvc.deps]`, e.g. `[package.metadata.dvc.deps.x]\n...`).
    fn new(deps: &str) -> Consumer {
        let c = Consumer {
            tmp: crate::support::tempdir(),
        };
        for dir in ["crate", "home", "cache"] {
            std::fs::create_dir_all(c.tmp.path().join(dir)).unwrap();
        }
        std::fs::write(
            c.root().join("Cargo.toml"),
            format!(
                "[package]\nname = \"consumer\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n{deps}"
            ),
        )
        .unwrap();
        c
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("crate")
    }

    fn cache(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }

    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    /// A fresh `OUT_DIR` per build.
    fn out_dir(&self, n: usize) -> PathBuf {
        self.tmp.path().join(format!("out{n}"))
    }

    /// `Fetch::run` in a child process with `OUT_DIR` number `n` and only
    /// the `AWS_*` variables in `env`. `Ok` holds the placed paths by name;
    /// `Err` the error's text. The child's own output is returned too (to be
    /// searched for secrets).
    fn fetch(
        &self,
        n: usize,
        env: &[(&str, &str)],
    ) -> (Result<BTreeMap<String, PathBuf>, String>, String) {
        let result = self.tmp.path().join(format!("result{n}"));
        let _ = std::fs::remove_file(&result);
        let spec = format!(
            "{}\n{}\n{}\n{}",
            self.root().display(),
            self.out_dir(n).display(),
            self.cache().display(),
            result.display()
        );
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "s3::s3_child_fetch",
            "--ignored",
            "--test-threads=1",
            "-q",
        ]);
        isolate_aws_env(&mut cmd, &self.home());
        cmd.envs(env.iter().copied()).env(CHILD_ENV, spec);
        let out = cmd.output().expect("run the child test");
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "child failed:\n{output}");
        let text = std::fs::read_to_string(&result)
            .unwrap_or_else(|e| panic!("the child wrote no result ({e}):\n{output}"));
        let outcome = match text.split_once('\n') {
            Some(("ok", rest)) => Ok(rest
                .lines()
                .map(|l| {
                    let (name, path) = l.split_once('\t').unwrap();
                    (name.to_string(), PathBuf::from(path))
                })
                .collect()),
            Some(("err", rest)) => Err(rest.to_string()),
            _ => panic!("bad child result: {text}"),
        };
        (outcome, output)
    }

    /// The lock `<out>.dvc`, if written.
    fn lock(&self, out: &str) -> Option<String> {
        std::fs::read_to_string(self.root().join(format!("{out}.dvc"))).ok()
    }
}

/// Removes every `AWS_*` variable from `cmd`'s environment and points `HOME`
/// at `home`, so no credential of the machine running the tests leaks in.
fn isolate_aws_env(cmd: &mut Command, home: &Path) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&name);
        }
    }
    cmd.env("HOME", home)
        .env_remove("DVC_BUILD_CACHE_DIR")
        .env_remove("DVC_BUILD_LOCKED")
        .env_remove("CARGO_NET_OFFLINE");
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    format!("{s:?}")
}

/// The declarations of `model.bin` (file) and `data` (directory) from the
/// fixture's registry, each with `extra` lines.
fn both_deps(fx: &Fixture, extra: &str) -> String {
    let url = toml_str(fx.registry.to_str().unwrap());
    format!(
        "[package.metadata.dvc.deps.model]\nurl = {url}\npath = \"model.bin\"\n{extra}\n\
         [package.metadata.dvc.deps.data]\nurl = {url}\npath = \"data\"\n{extra}\n"
    )
}

fn model_dep(fx: &Fixture, extra: &str) -> String {
    let url = toml_str(fx.registry.to_str().unwrap());
    format!("[package.metadata.dvc.deps.model]\nurl = {url}\npath = \"model.bin\"\n{extra}\n")
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// No `secret` in any of `texts`, nor in any file under `dirs` (locks,
/// caches, git databases and their config, OUT_DIRs).
#[track_caller]
fn assert_no_secret(secrets: &[&str], texts: &[&str], dirs: &[PathBuf]) {
    for secret in secrets {
        for text in texts {
            assert!(!text.contains(secret), "`{secret}` leaked: {text}");
        }
        for dir in dirs {
            let files = walk(dir);
            for file in files {
                let Ok(bytes) = std::fs::read(&file) else {
                    continue;
                };
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "`{secret}` leaked into {}",
                    file.display()
                );
            }
        }
    }
}

/// The placed artifacts are the registry's bytes.
#[track_caller]
fn assert_placed(fx: &Fixture, placed: &BTreeMap<String, PathBuf>) {
    if let Some(model) = placed.get("model") {
        assert_eq!(
            std::fs::read(model).unwrap(),
            fx.model,
            "{}",
            model.display()
        );
    }
    if let Some(data) = placed.get("data") {
        let mut found = BTreeMap::new();
        for file in walk(data) {
            let rel = file
                .strip_prefix(data)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            found.insert(rel, std::fs::read(&file).unwrap());
        }
        assert_eq!(found, fx.dir_files);
    }
}

/// The credentials of the S3 server, as environment variables.
const ENV_CREDS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", KEY_ID),
    ("AWS_SECRET_ACCESS_KEY", SECRET),
];

#[test]
fn s3_build_path_imports_file_and_dir_like_dvc_import_then_builds_warm_without_credentials() {
    let fx = fixture();
    let c = Consumer::new(&both_deps(fx, ""));

    // Cold: resolve, write the locks, fetch from S3 with the environment's
    // credentials, place under OUT_DIR.
    let (placed, out1) = c.fetch(1, &ENV_CREDS);
    let placed = placed.unwrap_or_else(|e| panic!("cold fetch failed: {e}\n{out1}"));
    assert_eq!(placed.keys().collect::<Vec<_>>(), ["data", "model"]);
    assert_eq!(placed["model"], c.out_dir(1).join("dvc/model.bin"));
    assert_placed(fx, &placed);

    // The real `dvc import` of the same paths, with the same credentials in
    // its environment, writes the same bytes.
    let dvc_dir = c.tmp.path().join("dvc-consumer");
    crate::support::consumer(&dvc_dir);
    let url = fx.registry.to_str().unwrap();
    for (path, out) in [("model.bin", "model.bin"), ("data", "data")] {
        let mut cmd = crate::support::dvc(&dvc_dir);
        isolate_aws_env(&mut cmd, &c.home());
        run(cmd
            .args(["import", "-q", url, path, "-o", out])
            .envs(ENV_CREDS));
        let theirs = std::fs::read_to_string(dvc_dir.join(format!("{out}.dvc"))).unwrap();
        let ours = c.lock(out).unwrap_or_else(|| panic!("no lock for {out}"));
        assert_eq!(ours, theirs, "lock of {path}");
    }
    // ... and got the same bytes from S3.
    assert_eq!(std::fs::read(dvc_dir.join("model.bin")).unwrap(), fx.model);

    // Warm: the S3 server's credentials are gone, and a second build (a new
    // OUT_DIR) succeeds from the cache alone. Opening the S3 remote without
    // credentials fails before any request, so success means no request.
    let locks_before = (c.lock("model.bin"), c.lock("data"));
    let started = Instant::now();
    let (placed, out2) = c.fetch(2, &[]);
    let placed = placed.unwrap_or_else(|e| panic!("warm fetch failed: {e}\n{out2}"));
    assert_eq!(placed["data"], c.out_dir(2).join("dvc/data"));
    assert_placed(fx, &placed);
    assert_eq!((c.lock("model.bin"), c.lock("data")), locks_before);
    eprintln!("warm build in a child process: {:?}", started.elapsed());

    assert_no_secret(
        &[SECRET],
        &[&out1, &out2],
        &[c.root(), c.cache(), c.out_dir(1), c.out_dir(2)],
    );
}

#[test]
fn s3_build_path_credentials_from_profile_files_and_declarations() {
    let fx = fixture();
    // Outside every folder searched for secrets.
    let files = crate::support::tempdir();
    let creds = files.path().join("credentials");
    std::fs::write(
        &creds,
        format!(
            "[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = wrong-default\n\n\
             [ci]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
        ),
    )
    .unwrap();
    let creds_path = creds.to_str().unwrap();
    let bad_env = [
        ("AWS_ACCESS_KEY_ID", KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", "wrong-env"),
    ];
    let config_file =
        format!("['remote \"s3store\"']\n    credentialpath = {creds_path}\n    profile = ci\n");
    // (what, extra declaration lines, environment)
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (
            "AWS_SHARED_CREDENTIALS_FILE + AWS_PROFILE",
            String::new(),
            vec![
                ("AWS_SHARED_CREDENTIALS_FILE", creds_path),
                ("AWS_PROFILE", "ci"),
            ],
        ),
        (
            // An explicit `profile` beats (wrong) environment credentials.
            "`credentialpath`/`profile` in the declaration's `config` table",
            format!(
                "config = {{ remote = {{ s3store = {{ credentialpath = {}, profile = \"ci\" }} }} }}",
                toml_str(creds_path)
            ),
            bad_env.to_vec(),
        ),
        (
            "`credentialpath`/`profile` in a `config` file",
            "config = \"registry.dvcconfig\"".to_string(),
            bad_env.to_vec(),
        ),
        (
            "`credentialpath`/`profile` in the declaration's `remote` table",
            format!(
                "remote = {{ url = {}, endpointurl = {}, credentialpath = {}, profile = \"ci\" }}",
                toml_str(&url()),
                toml_str(&fx.server.endpoint),
                toml_str(creds_path)
            ),
            bad_env.to_vec(),
        ),
    ];
    for (what, extra, env) in &cases {
        let c = Consumer::new(&model_dep(fx, extra));
        std::fs::write(c.root().join("registry.dvcconfig"), &config_file).unwrap();
        let (placed, output) = c.fetch(1, env);
        let placed = placed.unwrap_or_else(|e| panic!("{what}: {e}\n{output}"));
        assert_placed(fx, &placed);
        let lock = c
            .lock("model.bin")
            .unwrap_or_else(|| panic!("{what}: no lock"));
        assert!(lock.contains(&fx.model_md5.to_hex()), "{what}: {lock}");
        assert_no_secret(&[SECRET], &[&output], &[c.root(), c.cache(), c.out_dir(1)]);
    }
}

/// Nothing of a failed build is left behind: no lock, no object or temporary
/// file in the cache (the git database is fine), nothing in `OUT_DIR`.
#[track_caller]
fn assert_nothing_written(c: &Consumer, outs: &[&str]) {
    for out in outs {
        assert_eq!(c.lock(out), None, "a lock for {out} was written");
    }
    let cache = c.cache();
    let leftovers: Vec<PathBuf> = walk(&cache)
        .into_iter()
        .filter(|p| {
            let rel = p.strip_prefix(&cache).unwrap();
            !(rel.starts_with("git") || rel.starts_with("locks"))
        })
        .collect();
    assert!(leftovers.is_empty(), "left in the cache: {leftovers:?}");
    let placed = walk(&c.out_dir(1));
    assert!(
        placed
            .iter()
            .all(|p| !p.starts_with(c.out_dir(1).join("dvc"))),
        "left in OUT_DIR: {placed:?}"
    );
}

#[test]
fn s3_build_path_wrong_credentials_fail_clearly_and_write_nothing() {
    let fx = fixture();
    let wrong = "Wr0ngButSecret-e2e-31d";
    let c = Consumer::new(&both_deps(fx, ""));
    let started = Instant::now();
    let (result, output) = c.fetch(
        1,
        &[
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", wrong),
        ],
    );
    let err = result.expect_err("wrong credentials were accepted");
    // Refused credentials are not retried with backoff.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // Dependencies run in name order: `data` first.
    assert!(err.starts_with("dependency `data`: "), "{err}");
    assert!(err.contains(&format!("bucket `{BUCKET}`")), "{err}");
    assert!(err.contains("access denied"), "{err}");
    assert!(
        err.contains("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"),
        "{err}"
    );
    assert!(err.contains("help: "), "{err}");
    // One error, said once (the text is Display then Debug, which are equal).
    let (display, debug) = err.split_at(err.len() / 2);
    assert_eq!(display.trim(), debug.trim(), "{err}");
    assert_eq!(display.matches("access denied").count(), 1, "{err}");
    assert_nothing_written(&c, &["model.bin", "data"]);
    assert_no_secret(
        &[wrong, SECRET, "X-Amz-Signature"],
        &[&err, &output],
        &[c.root(), c.cache(), c.out_dir(1)],
    );
}

#[test]
fn s3_build_path_anonymous_request_refused_is_a_clear_error() {
    let fx = fixture();
    // Even with good credentials in the environment, `allow_anonymous_login`
    // sends unsigned requests (as DVC does), which the server refuses.
    let c = Consumer::new(&model_dep(
        fx,
        "config = { remote = { s3store = { allow_anonymous_login = true } } }",
    ));
    let (result, output) = c.fetch(1, &ENV_CREDS);
    let err = result.expect_err("an anonymous request was accepted");
    assert!(err.starts_with("dependency `model`: "), "{err}");
    assert!(err.contains("anonymous access refused"), "{err}");
    assert!(err.contains(&format!("bucket `{BUCKET}`")), "{err}");
    assert!(err.contains("allow_anonymous_login"), "{err}");
    assert_nothing_written(&c, &["model.bin"]);
    assert_no_secret(
        &[SECRET],
        &[&err, &output],
        &[c.root(), c.cache(), c.out_dir(1)],
    );
}

#[test]
fn s3_build_path_missing_credentials_name_the_dependency() {
    let fx = fixture();
    let c = Consumer::new(&model_dep(fx, ""));
    let (result, _) = c.fetch(1, &[]);
    let err = result.expect_err("no credentials, yet it worked");
    assert!(err.starts_with("dependency `model`: "), "{err}");
    assert!(err.contains("no AWS credentials"), "{err}");
    assert!(err.contains(&format!("bucket `{BUCKET}`")), "{err}");
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    assert_nothing_written(&c, &["model.bin"]);
}

#[test]
fn s3_build_path_refuses_a_secret_in_the_declaration() {
    let fx = fixture();
    // It would be copied into the lock (as `dvc import --remote-config`
    // would): refused before anything runs, naming the key, not the value.
    let c = Consumer::new(&model_dep(
        fx,
        &format!(
            "remote = {{ url = {}, endpointurl = {}, access_key_id = \"{KEY_ID}\", secret_access_key = \"{SECRET}\" }}",
            toml_str(&url()),
            toml_str(&fx.server.endpoint)
        ),
    ));
    let (result, output) = c.fetch(1, &[]);
    let err = result.expect_err("a secret in Cargo.toml was accepted");
    assert!(err.starts_with("dependency `model`: "), "{err}");
    assert!(err.contains("remote.secret_access_key"), "{err}");
    assert_nothing_written(&c, &["model.bin"]);
    let root = c.root();
    std::fs::remove_file(root.join("Cargo.toml")).unwrap();
    assert_no_secret(
        &[SECRET],
        &[&err, &output],
        &[root, c.cache(), c.out_dir(1)],
    );
}

// ---------------------------------------------------------------------------
// S3 objects and prefixes as URL dependencies (`dvc import-url s3://...`).

/// Puts `objects` (key, bytes) into the fixture's bucket with s3fs, as a
/// user's upload tool would (DVC's own S3 client).
fn put_objects(fx: &Fixture, objects: &[(&str, &[u8])]) {
    let dir = crate::support::tempdir();
    let mut script = format!(
        "import s3fs\nfs = s3fs.S3FileSystem(key={KEY_ID:?}, secret={SECRET:?}, \
         client_kwargs={{'endpoint_url': {:?}}})\n",
        fx.server.endpoint
    );
    for (i, (key, bytes)) in objects.iter().enumerate() {
        let file = dir.path().join(format!("obj{i}"));
        std::fs::write(&file, bytes).unwrap();
        script.push_str(&format!(
            "fs.put_file({:?}, {:?})\n",
            file.to_str().unwrap(),
            format!("{BUCKET}/{key}")
        ));
    }
    run(Command::new(crate::support::dvc3_python())
        .arg("-c")
        .arg(script)
        .env_remove("AWS_ENDPOINT_URL"));
}

/// Twin DVC projects reading the fixture's bucket with credentials from
/// the environment (`AWS_ACCESS_KEY_ID`, ...), the endpoint from
/// `--fs-config` (recorded in the lock, as DVC does).
#[cfg(feature = "cli")]
fn s3_twins() -> crate::url::Twins {
    crate::url::Twins::new()
        .with_env("AWS_ACCESS_KEY_ID", KEY_ID)
        .with_env("AWS_SECRET_ACCESS_KEY", SECRET)
        .with_env("HOME", "/nonexistent")
}

#[cfg(feature = "cli")]
#[test]
fn s3_url_imports_of_an_object_and_a_prefix_lock_as_dvc_import_url() {
    let fx = fixture();
    let prefix = crate::support::cloud::unique("urls");
    let big = bytes(200_000, 7);
    put_objects(
        fx,
        &[
            (&format!("{prefix}/single.bin"), &big),
            (&format!("{prefix}/dir/a.txt"), b"a\n"),
            (&format!("{prefix}/dir/sub/b.txt"), b"bb\n"),
        ],
    );
    let twins = s3_twins();
    let fs_config = format!("endpointurl={}", fx.server.endpoint);
    for (key, out) in [("single.bin", "single.bin"), ("dir", "dir")] {
        let url = format!("s3://{BUCKET}/{prefix}/{key}");
        twins.dvc_import(&url, out, &["--fs-config", &fs_config]);
        twins.import(&url, out, &["--fs-config", &fs_config]);
        twins.assert_same(&format!("{out}.dvc"));
    }
    twins.assert_same(".gitignore");
    let lock = twins.lock("single.bin.dvc");
    assert!(
        lock.starts_with("md5: ") && lock.contains(&format!("- etag: {}\n", Md5::of(&big))),
        "{lock}"
    );
    assert!(
        lock.contains(&format!(
            "  fs_config:\n    endpointurl: {}\n",
            fx.server.endpoint
        )),
        "{lock}"
    );
    // The prefix is pinned by the tree of its ETags, not its content.
    let dir = twins.lock("dir.dvc");
    let (md5s, _): (Vec<&str>, Vec<&str>) = dir
        .lines()
        .filter_map(|l| l.trim_start_matches("- ").strip_prefix("md5: "))
        .partition(|m| m.ends_with(".dir"));
    assert_eq!(md5s.len(), 2, "{dir}");
    assert_ne!(md5s[0], md5s[1], "{dir}");

    // Unchanged: both skip. Changed: both rewrite alike.
    let said = run(twins.dvc().args(["update", "single.bin.dvc", "dir.dvc"]));
    assert!(String::from_utf8_lossy(&said.stdout).contains("didn't change"));
    let ours = crate::url::stderr(twins.cargo_dvc().args(["update"]));
    assert!(ours.matches("Unchanged").count() == 2, "{ours}");
    put_objects(
        fx,
        &[
            (&format!("{prefix}/single.bin"), b"v2"),
            (&format!("{prefix}/dir/sub/c.txt"), b"new\n"),
        ],
    );
    let status = run(twins.cargo_dvc().args(["status", "--json"]));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    for dep in json["dependencies"].as_array().unwrap() {
        assert_eq!(dep["update"], "source_changed", "{json}");
        assert_eq!(dep["source"], "url", "{json}");
    }
    run(twins
        .dvc()
        .args(["update", "-q", "single.bin.dvc", "dir.dvc"]));
    run(twins.cargo_dvc().args(["update"]));
    twins.assert_same("single.bin.dvc");
    twins.assert_same("dir.dvc");
}

#[cfg(feature = "cli")]
#[test]
fn s3_url_import_of_a_missing_object_says_so() {
    let fx = fixture();
    let twins = s3_twins();
    let err = crate::support::run_fail(twins.cargo_dvc().args([
        "import-url",
        &format!("s3://{BUCKET}/no/such/key.bin"),
        "--fs-config",
        &format!("endpointurl={}", fx.server.endpoint),
    ]));
    assert!(err.contains("key.bin` does not exist"), "{err}");
    assert!(!err.contains(SECRET), "{err}");
}
