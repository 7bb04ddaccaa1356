//! The GCS remote against fake-gcs-server, holding objects pushed there by
//! the real `dvc push` (dvc-gs), and a token service of our own that checks
//! every exchange (RS256 signature of a service account's JWT, refresh
//! tokens, the metadata server's header). fake-gcs-server checks no
//! credentials, so the routes that need a token go through [`GcsGate`],
//! which lets a request through only with a live token.
//!
//! One server and one pushed registry serve every test of the run (see
//! [`fixture`]); each test opens its own [`GcsRemote`] with an explicit
//! environment, or runs the real tools in child processes with one.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dvc_build::__private::cache::Cache;
use dvc_build::__private::hash::Md5;
use dvc_build::__private::remote::gs::{CredentialSource, GcsRemote};
use dvc_build::__private::remote::{FetchError, Layout, ObjectKey, Remote};
use dvc_build::__private::transfer::{Options, Ranges, RetryPolicy, fetch_file_with};
use dvc_build::ErrorKind;
use rsa::pkcs8::DecodePrivateKey as _;

use crate::support::cloud::{GcsGate, Guarded, TokenServer, server_root, unique};
use crate::support::{self, Registry, run};

const BUCKET: &str = "dvc-bucket";
const PREFIX: &str = "team/registry";
const SA_EMAIL: &str = "reader@dvc-build-test.iam.gserviceaccount.com";
const SA_KEY_ID: &str = "key-1";
/// The test key of the service account (its PEM never appears in output).
const SA_KEY: &str = include_str!("../data/gcs-test-key.pem");
const USER_CLIENT: &str = "user-client.apps.googleusercontent.com";

struct Fixture {
    /// fake-gcs-server, under its watchdog.
    _server: Guarded,
    /// fake-gcs-server, `http://127.0.0.1:PORT`.
    endpoint: String,
    tokens: TokenServer,
    gate: GcsGate,
    /// Distinctive secrets of the authorized user.
    user_secret: String,
    refresh_token: String,
    /// A service-account key file, an authorized-user file and a key file
    /// whose key the token service does not know, all outside every folder
    /// searched for secrets.
    sa_file: PathBuf,
    user_file: PathBuf,
    wrong_sa_file: PathBuf,
    model: Vec<u8>,
    model_md5: Md5,
    dir_md5: Md5,
    dir_files: BTreeMap<String, Vec<u8>>,
    /// The registry's git work tree; its committed `.dvc/config` makes the
    /// GCS remote (`endpointurl` = fake-gcs-server) the default.
    registry: PathBuf,
}

fn url() -> String {
    format!("gs://{BUCKET}/{PREFIX}")
}

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An explicit environment for [`GcsRemote::open_with_env`].
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

/// Removes every Google variable from `cmd`'s environment, points `HOME` at
/// `home`, and keeps google-auth and gcsfs off the network and the machine's
/// credentials (the gcsfs variable is the documented workaround for
/// fake-gcs-server).
pub fn isolate_google_env(cmd: &mut Command, home: &Path) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("GOOGLE_")
            || name.starts_with("GCE_")
            || name.starts_with("CLOUDSDK_")
            || name.starts_with("GCLOUD_")
            || name == "STORAGE_EMULATOR_HOST"
        {
            cmd.env_remove(&name);
        }
    }
    cmd.env("HOME", home)
        .env("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        .env("NO_GCE_CHECK", "true")
        .env("GCE_METADATA_HOST", "127.0.0.1:9")
        .env("GCE_METADATA_IP", "127.0.0.1:9")
        .env_remove("DVC_BUILD_CACHE_DIR")
        .env_remove("DVC_BUILD_LOCKED")
        .env_remove("CARGO_NET_OFFLINE");
}

fn start_fake_gcs() -> (Guarded, String) {
    let root = server_root("dvc-build-gcs-");
    let port = support::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let args: Vec<String> = [
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        &port.to_string(),
        "-backend",
        "memory",
        "-external-url",
        &endpoint,
        "-public-host",
        &format!("127.0.0.1:{port}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = Guarded::start(&root, &support::tool("fake-gcs-server"), &args, &[]);
    let agent = ureq::Agent::new_with_defaults();
    server.wait_until("fake-gcs-server", Duration::from_secs(60), || {
        agent.get(format!("{endpoint}/storage/v1/b")).call().is_ok()
    });
    let created = agent
        .post(format!("{endpoint}/storage/v1/b?project=test-project"))
        .header("Content-Type", "application/json")
        .send(format!(r#"{{"name":"{BUCKET}"}}"#))
        .expect("create the bucket");
    assert_eq!(created.status().as_u16(), 200);
    (server, endpoint)
}

/// Writes a service-account key file for `email` with the PEM `key`.
fn key_file(path: &Path, email: &str, key: &str, token_uri: &str) {
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": "dvc-build-test",
        "private_key_id": SA_KEY_ID,
        "private_key": key,
        "client_email": email,
        "client_id": "1234567890",
        "token_uri": token_uri,
    });
    std::fs::write(path, json.to_string()).unwrap();
}

/// A fresh RSA key (PKCS#8 PEM), made by `openssl`.
fn new_rsa_key(dir: &Path) -> String {
    let path = dir.join(format!("{}.pem", unique("key")));
    run(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&path));
    std::fs::read_to_string(&path).unwrap()
}

fn out_md5(dvc_file: &Path) -> String {
    let text = std::fs::read_to_string(dvc_file).unwrap();
    support::out_md5_and_size(&text).0
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (server, endpoint) = start_fake_gcs();
        let tokens = TokenServer::start();
        let public = rsa::PrivateKey::from_pkcs8_pem(SA_KEY)
            .unwrap()
            .to_public_key();
        tokens.add_service_account(SA_EMAIL, public, SA_KEY_ID);
        let user_secret = unique("GcsUserSecret");
        let refresh_token = unique("GcsRefresh");
        tokens.add_user(USER_CLIENT, &user_secret, &refresh_token);
        let upstream = endpoint.strip_prefix("http://").unwrap().parse().unwrap();
        let gate = GcsGate::start(upstream, &tokens);

        // Key files, in the server's folder (removed with it), outside
        // every consumer's.
        let files = server.root.join("keys");
        std::fs::create_dir_all(&files).unwrap();
        let sa_file = files.join("reader.json");
        key_file(&sa_file, SA_EMAIL, SA_KEY, &tokens.google_token_uri());
        let user_file = files.join("adc.json");
        std::fs::write(
            &user_file,
            serde_json::json!({
                "type": "authorized_user",
                "client_id": USER_CLIENT,
                "client_secret": user_secret,
                "refresh_token": refresh_token,
                "token_uri": tokens.google_token_uri(),
            })
            .to_string(),
        )
        .unwrap();
        let wrong_sa_file = files.join("wrong.json");
        key_file(
            &wrong_sa_file,
            SA_EMAIL,
            &new_rsa_key(&files),
            &tokens.google_token_uri(),
        );

        let reg = Registry::new(&server.root);
        let model = support::pseudo_random(300_000, 11);
        reg.write("model.bin", &model);
        let mut dir_files = BTreeMap::new();
        for (rel, data) in [
            ("a.csv", b"x,y\n1,2\n".to_vec()),
            ("sub/b.bin", support::pseudo_random(70_000, 12)),
            ("sub/deeper/c.txt", b"hello\n".to_vec()),
        ] {
            reg.write(&format!("data/{rel}"), &data);
            dir_files.insert(rel.to_string(), data);
        }
        reg.add(&["model.bin", "data"]);
        run(reg.dvc().args(["remote", "add", "-d", "gcs", &url()]));
        run(reg
            .dvc()
            .args(["remote", "modify", "gcs", "endpointurl", &endpoint]));
        reg.commit("data on GCS");
        let home = server.root.join("push-home");
        std::fs::create_dir_all(&home).unwrap();
        let mut push = reg.dvc();
        isolate_google_env(&mut push, &home);
        run(push.args(["push", "-q", "-r", "gcs"]));
        // No local copy of the data: every reader goes to GCS.
        std::fs::remove_dir_all(reg.repo.join(".dvc/cache")).unwrap();
        let model_md5 = out_md5(&reg.repo.join("model.bin.dvc")).parse().unwrap();
        assert_eq!(model_md5, Md5::of(&model));
        let dir_md5 = out_md5(&reg.repo.join("data.dvc"))
            .strip_suffix(".dir")
            .expect("a .dir hash")
            .parse()
            .unwrap();
        Fixture {
            _server: server,
            endpoint,
            tokens,
            gate,
            user_secret,
            refresh_token,
            sa_file,
            user_file,
            wrong_sa_file,
            model,
            model_md5,
            dir_md5,
            dir_files,
            registry: reg.repo.clone(),
        }
    })
}

impl Fixture {
    /// The remote straight at fake-gcs-server, without credentials.
    fn anonymous(&self) -> GcsRemote {
        GcsRemote::open_with_env(
            &url(),
            &opts(&[
                ("endpointurl", &self.endpoint),
                ("allow_anonymous_login", "true"),
            ]),
            &env(&[("HOME", "/nonexistent")]),
        )
        .expect("open the GCS remote")
    }

    /// The remote behind the gate, with `options` and `vars`.
    fn gated(&self, options: &[(&str, &str)], vars: &[(&str, &str)]) -> GcsRemote {
        let mut o = opts(&[("endpointurl", &self.gate.url())]);
        o.extend(opts(options));
        GcsRemote::open_with_env(&url(), &o, &env(vars)).expect("open the GCS remote")
    }

    fn secrets(&self) -> Vec<String> {
        let pem_body: String = SA_KEY.lines().nth(3).unwrap_or("").to_string();
        vec![
            self.user_secret.clone(),
            self.refresh_token.clone(),
            pem_body,
            "ya29.test-".to_string(),
        ]
    }
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
        assert_eq!(len, out.len() as u64, "announced length of {rel}");
    }
    out
}

#[test]
fn gs_reads_file_and_dir_objects_pushed_by_dvc() {
    let fx = fixture();
    let remote = fx.anonymous();
    assert_eq!(remote.display_url(), url());
    assert_eq!(remote.credential_source(), &CredentialSource::Anonymous);
    assert_eq!(
        read_all(&remote, &key(fx.model_md5, false), 0, None),
        fx.model
    );
    let manifest = read_all(&remote, &key(fx.dir_md5, true), 0, None);
    assert_eq!(Md5::of(&manifest), fx.dir_md5);
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(entries.len(), fx.dir_files.len());
    for entry in entries {
        let rel = entry["relpath"].as_str().unwrap();
        let md5: Md5 = entry["md5"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            &read_all(&remote, &key(md5, false), 0, None),
            &fx.dir_files[rel],
            "{rel}"
        );
    }
}

#[test]
fn gs_ranged_reads_and_a_parallel_ranged_download() {
    let fx = fixture();
    let remote = fx.anonymous();
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
        assert_eq!(
            got,
            &fx.model[(offset as usize).min(stop)..stop],
            "{offset}..{end:?}"
        );
    }
    // The transfer layer splits it into 64 KiB ranges fetched 4 at a time.
    let cache_dir = support::tempdir();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let object = ObjectKey {
        md5: fx.model_md5,
        is_dir: false,
        layout: Layout::V3,
    };
    let options = Options {
        parallel: Some(4),
        ranged_min: Some(64 << 10),
        range_size: Some(64 << 10),
        ranges: Ranges::Always,
        ..Options::default()
    };
    let file = fetch_file_with(&remote, &cache, object, Some(size), &options).unwrap();
    assert_eq!(std::fs::read(&file.path).unwrap(), fx.model);
}

#[test]
fn gs_missing_object_and_missing_bucket() {
    let fx = fixture();
    let remote = fx.anonymous();
    let rel = key(Md5::of(b"never pushed"), false);
    match remote.open(&rel, 0, None) {
        Err(FetchError::NotFound(e)) => {
            assert!(e.to_string().contains(&rel), "{e}");
            assert!(e.to_string().contains("dvc push"), "{e}");
        }
        other => panic!("expected NotFound, got {:?}", other.err()),
    }
    let remote = GcsRemote::open_with_env(
        "gs://no-such-bucket/x",
        &opts(&[("endpointurl", &fx.endpoint)]),
        &env(&[("HOME", "/nonexistent"), ("NO_GCE_CHECK", "true")]),
    )
    .unwrap();
    match remote.open(&key(fx.model_md5, false), 0, None) {
        Err(FetchError::Permanent(e)) => {
            let text = e.to_string();
            assert!(
                text.contains("bucket `no-such-bucket` does not exist"),
                "{text}"
            );
            assert!(text.contains("help: "), "{text}");
        }
        other => panic!("expected a permanent error, got {:?}", other.err()),
    }
}

#[test]
fn gs_endpoint_from_storage_emulator_host_and_no_credentials() {
    let fx = fixture();
    let home = support::tempdir();
    let host = fx.endpoint.strip_prefix("http://").unwrap();
    let remote = GcsRemote::open_with_env(
        &url(),
        &opts(&[]),
        &env(&[
            ("HOME", home.path().to_str().unwrap()),
            ("STORAGE_EMULATOR_HOST", host),
            ("NO_GCE_CHECK", "true"),
        ]),
    )
    .unwrap();
    assert_eq!(remote.endpoint_url(), fx.endpoint);
    assert_eq!(remote.credential_source(), &CredentialSource::NotFound);
    assert_eq!(
        read_all(&remote, &key(fx.model_md5, false), 0, Some(3)),
        &fx.model[..3]
    );
}

/// Every route to a token, each through the gate (so each request carried
/// a live token) and each exchange checked by the token service.
#[test]
fn gs_credentials_by_every_route() {
    let fx = fixture();
    let home = support::tempdir();
    let h = home.path().to_str().unwrap();
    let gcloud = home.path().join("gcloud-config");
    std::fs::create_dir_all(&gcloud).unwrap();
    std::fs::copy(
        &fx.user_file,
        gcloud.join("application_default_credentials.json"),
    )
    .unwrap();
    let adc_home = support::tempdir();
    let adc_dir = adc_home.path().join(".config/gcloud");
    std::fs::create_dir_all(&adc_dir).unwrap();
    std::fs::copy(
        &fx.user_file,
        adc_dir.join("application_default_credentials.json"),
    )
    .unwrap();
    let sa = fx.sa_file.to_str().unwrap();
    let metadata_host = fx.tokens.host();
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        Vec<(&'a str, &'a str)>,
        String,
    );
    let cases: Vec<Case> = vec![
        (
            "credentialpath: service account",
            vec![("credentialpath", sa)],
            vec![("HOME", h), ("NO_GCE_CHECK", "true")],
            format!("service-account:{SA_EMAIL}"),
        ),
        (
            "GOOGLE_APPLICATION_CREDENTIALS: service account",
            vec![],
            vec![
                ("HOME", h),
                ("GOOGLE_APPLICATION_CREDENTIALS", sa),
                ("NO_GCE_CHECK", "true"),
            ],
            format!("service-account:{SA_EMAIL}"),
        ),
        (
            "gcloud application-default file: authorized user",
            vec![],
            vec![
                ("HOME", adc_home.path().to_str().unwrap()),
                ("NO_GCE_CHECK", "true"),
            ],
            format!("refresh-token:{USER_CLIENT}"),
        ),
        (
            "CLOUDSDK_CONFIG: authorized user",
            vec![],
            vec![
                ("HOME", h),
                ("CLOUDSDK_CONFIG", gcloud.to_str().unwrap()),
                ("NO_GCE_CHECK", "true"),
            ],
            format!("refresh-token:{USER_CLIENT}"),
        ),
        (
            "metadata server",
            vec![],
            vec![("HOME", h), ("GCE_METADATA_HOST", &metadata_host)],
            "metadata".to_string(),
        ),
        (
            // `projectname` is accepted and changes nothing.
            "credentialpath with projectname",
            vec![("credentialpath", sa), ("projectname", "dvc-build-test")],
            vec![("HOME", h), ("NO_GCE_CHECK", "true")],
            format!("service-account:{SA_EMAIL}"),
        ),
    ];
    let rel = key(fx.model_md5, false);
    for (what, options, vars, grant) in cases {
        let remote = fx.gated(&options, &vars);
        let exchanges = fx.tokens.log().len();
        let passed = fx.gate.passed.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(read_all(&remote, &rel, 0, None), fx.model, "{what}");
        assert_eq!(
            read_all(&remote, &rel, 7, Some(70)),
            &fx.model[7..70],
            "{what}"
        );
        let log = fx.tokens.log();
        let new: Vec<_> = log[exchanges..].iter().collect();
        // One exchange for both requests (other tests may exchange too).
        assert!(
            new.iter()
                .filter(|e| e.outcome == format!("ok {grant}"))
                .count()
                >= 1,
            "{what}: {new:?}"
        );
        assert!(
            fx.gate.passed.load(std::sync::atomic::Ordering::SeqCst) >= passed + 2,
            "{what}"
        );
        let dbg = format!("{remote:?}");
        for secret in fx.secrets() {
            assert!(!dbg.contains(&secret), "{what}: {dbg}");
        }
    }
}

#[test]
fn gs_wrong_or_missing_credentials_are_clear_permanent_errors() {
    let fx = fixture();
    let rel = key(fx.model_md5, false);
    let home = support::tempdir();
    let h = home.path().to_str().unwrap();
    let expect_auth = |remote: &GcsRemote, wants: &[&str]| {
        let started = Instant::now();
        let err = match remote.open(&rel, 0, None) {
            Err(FetchError::Permanent(e)) => e,
            Err(other) => panic!("expected a permanent error, got {other:?}"),
            Ok(_) => panic!("wrong credentials were accepted"),
        };
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        let text = format!("{err}\n{err:?}");
        for want in wants {
            assert!(text.contains(want), "`{want}` missing: {text}");
        }
        assert!(text.contains("help: "), "{text}");
        for secret in fx.secrets() {
            assert!(!text.contains(&secret), "`{secret}` leaked: {text}");
        }
    };
    // A key the token service does not know: its signature fails.
    let remote = fx.gated(
        &[("credentialpath", fx.wrong_sa_file.to_str().unwrap())],
        &[("HOME", h), ("NO_GCE_CHECK", "true")],
    );
    expect_auth(
        &remote,
        &[
            SA_EMAIL,
            "wrong.json",
            "Invalid JWT Signature",
            "credentialpath",
        ],
    );
    // A refresh token that is not (or no longer) valid.
    let revoked = home.path().join("revoked.json");
    let mut user: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fx.user_file).unwrap()).unwrap();
    user["refresh_token"] = serde_json::Value::String("revoked-refresh-token".into());
    std::fs::write(&revoked, user.to_string()).unwrap();
    let remote = fx.gated(
        &[],
        &[
            ("HOME", h),
            ("GOOGLE_APPLICATION_CREDENTIALS", revoked.to_str().unwrap()),
            ("NO_GCE_CHECK", "true"),
        ],
    );
    expect_auth(
        &remote,
        &[
            "revoked.json",
            "invalid_grant",
            "GOOGLE_APPLICATION_CREDENTIALS",
        ],
    );
    // No credentials at all: the request goes out anonymous, is refused,
    // and the error lists what was looked for.
    let remote = fx.gated(&[], &[("HOME", h), ("NO_GCE_CHECK", "true")]);
    assert_eq!(remote.credential_source(), &CredentialSource::NotFound);
    expect_auth(
        &remote,
        &[
            "anonymous access refused",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "credentialpath",
            BUCKET,
        ],
    );
    // `allow_anonymous_login` with a bucket that is not public.
    let remote = fx.gated(
        &[
            ("allow_anonymous_login", "true"),
            ("credentialpath", fx.sa_file.to_str().unwrap()),
        ],
        &[("HOME", h)],
    );
    expect_auth(
        &remote,
        &["anonymous access refused", "allow_anonymous_login"],
    );
}

#[test]
fn gs_tokens_are_renewed_before_they_expire_and_when_revoked() {
    let fx = fixture();
    let home = support::tempdir();
    // A token server of its own, so lifetimes and revocations touch no other test.
    let tokens = TokenServer::start();
    let public = rsa::PrivateKey::from_pkcs8_pem(SA_KEY)
        .unwrap()
        .to_public_key();
    tokens.add_service_account(SA_EMAIL, public, SA_KEY_ID);
    tokens.set_lifetime(Duration::from_secs(2));
    let sa = home.path().join("sa.json");
    key_file(&sa, SA_EMAIL, SA_KEY, &tokens.google_token_uri());
    let upstream = fx
        .endpoint
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap();
    let gate = GcsGate::start(upstream, &tokens);
    let remote = GcsRemote::open_with_env(
        &url(),
        &opts(&[
            ("endpointurl", &gate.url()),
            ("credentialpath", sa.to_str().unwrap()),
        ]),
        &env(&[
            ("HOME", home.path().to_str().unwrap()),
            ("NO_GCE_CHECK", "true"),
        ]),
    )
    .unwrap();
    let rel = key(fx.model_md5, false);
    assert_eq!(read_all(&remote, &rel, 0, Some(10)), &fx.model[..10]);
    assert_eq!(tokens.issued().len(), 1);
    // Past three quarters of its life the token is exchanged before use: the
    // gate never sees an expired one.
    std::thread::sleep(Duration::from_millis(1700));
    assert_eq!(read_all(&remote, &rel, 0, Some(10)), &fx.model[..10]);
    assert_eq!(tokens.issued().len(), 2);
    assert_eq!(gate.refused.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Revoked early: the service refuses it (401), the remote exchanges
    // again at once and the same read succeeds.
    tokens.set_lifetime(Duration::from_secs(3600));
    tokens.revoke_all();
    assert_eq!(read_all(&remote, &rel, 0, Some(10)), &fx.model[..10]);
    assert_eq!(gate.refused.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(tokens.issued().len(), 3);
    // A token service that is down is a transient failure: retried.
    tokens.revoke_all();
    tokens.fail_next(1);
    let cache_dir = support::tempdir();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let object = ObjectKey {
        md5: fx.model_md5,
        is_dir: false,
        layout: Layout::V3,
    };
    let quick = Options {
        retry: RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        ..Options::default()
    };
    let file = fetch_file_with(&remote, &cache, object, None, &quick).unwrap();
    assert_eq!(std::fs::read(&file.path).unwrap(), fx.model);
    assert!(
        tokens
            .log()
            .iter()
            .any(|e| e.outcome.contains("token service is down")),
        "{:?}",
        tokens.log()
    );
}

// ---------------------------------------------------------------------------
// End to end: `cargo dvc import` next to `dvc import`, and a consumer crate's
// `cargo build` (dvc-build's `fetch()` in its build script).

/// The program of the e2e consumers: the model's size and byte sum, and
/// every file of the data directory with its size.
pub const CONSUMER_MAIN: &str = r#"
static MODEL: &[u8] = include_bytes!(env!("DVC_MODEL"));

fn list(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            list(base, &path, out);
        } else {
            let len = std::fs::metadata(&path).unwrap().len();
            out.push(format!("{} {len}", path.strip_prefix(base).unwrap().display()));
        }
    }
}

fn main() {
    let sum: u64 = MODEL.iter().map(|&b| u64::from(b)).sum();
    println!("model {} {sum}", MODEL.len());
    let dir = std::path::Path::new(env!("DVC_DATA"));
    let mut files = Vec::new();
    list(dir, dir, &mut files);
    files.sort();
    for f in files {
        println!("data {f}");
    }
}
"#;

/// What [`CONSUMER_MAIN`] prints for a model and a directory.
pub fn consumer_output(model: &[u8], files: &BTreeMap<String, Vec<u8>>) -> String {
    let sum: u64 = model.iter().map(|&b| u64::from(b)).sum();
    let mut out = format!("model {} {sum}\n", model.len());
    for (rel, data) in files {
        out.push_str(&format!("data {rel} {}\n", data.len()));
    }
    out
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    crate::support::invariants::walk(dir)
}

/// No `secret` in any of `texts`, nor in any file under `dirs`.
#[track_caller]
pub fn assert_no_secret(secrets: &[String], texts: &[&str], dirs: &[&Path]) {
    for secret in secrets {
        for text in texts {
            assert!(!text.contains(secret.as_str()), "`{secret}` leaked: {text}");
        }
        for dir in dirs {
            for file in walk(dir) {
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

#[cfg(feature = "cli")]
#[test]
fn gs_cargo_dvc_import_writes_the_locks_dvc_import_writes() {
    let fx = fixture();
    let tmp = support::tempdir();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let url = fx.registry.to_str().unwrap();
    let app = tmp.path().join("app");
    support::consumer(&app);
    support::write(
        &app,
        "Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    let reference = tmp.path().join("reference");
    support::consumer(&reference);
    let cache = tmp.path().join("cache");
    for (path, out) in [("model.bin", "model.bin"), ("data", "data")] {
        let mut ours = support::cargo_dvc(&app, &cache);
        isolate_google_env(&mut ours, &home);
        run(ours.args(["dvc", "import", "-q", url, path, "-o", out]));
        let mut theirs = support::dvc(&reference);
        isolate_google_env(&mut theirs, &home);
        run(theirs.args(["import", "-q", url, path, "-o", out]));
        assert_eq!(
            std::fs::read_to_string(app.join(format!("{out}.dvc"))).unwrap(),
            std::fs::read_to_string(reference.join(format!("{out}.dvc"))).unwrap(),
            "lock of {path}"
        );
    }
    // `cargo dvc pull` places what the import fetched.
    let mut pull = support::cargo_dvc(&app, &cache);
    isolate_google_env(&mut pull, &home);
    run(pull.args(["dvc", "pull", "-q"]));
    assert_eq!(std::fs::read(app.join("model.bin")).unwrap(), fx.model);
    assert_eq!(
        std::fs::read(reference.join("model.bin")).unwrap(),
        fx.model
    );
    for (rel, data) in &fx.dir_files {
        assert_eq!(
            &std::fs::read(app.join("data").join(rel)).unwrap(),
            data,
            "{rel}"
        );
    }
}

#[test]
fn gs_consumer_crate_builds_with_a_service_account_key() {
    use std::sync::atomic::Ordering;
    let fx = fixture();
    let tmp = support::tempdir();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let krate = tmp.path().join("consumer");
    let url = fx.registry.to_str().unwrap();
    // Every request through the gate: each one needs a live token.
    let config = format!(
        "config = {{ remote = {{ gcs = {{ endpointurl = {:?} }} }} }}",
        fx.gate.url()
    );
    let metadata = format!(
        "[package.metadata.dvc.deps.model]\nurl = {url:?}\npath = \"model.bin\"\n{config}\n\n\
         [package.metadata.dvc.deps.data]\nurl = {url:?}\npath = \"data\"\n{config}\n"
    );
    support::write_crate(&krate, "e2e-gs", &metadata, CONSUMER_MAIN, false);
    support::set_dvc_build_features(&krate, &["gs", "azure"]);
    let cache = tmp.path().join("cache");
    let exchanges = fx.tokens.log().len();
    let passed = fx.gate.passed.load(Ordering::SeqCst);
    let mut build = support::cargo(&krate, &cache);
    isolate_google_env(&mut build, &home);
    let out = run(build
        .args(["build", "-q"])
        .env("GOOGLE_APPLICATION_CREDENTIALS", &fx.sa_file));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let got = support::run_stdout(&mut Command::new(support::consumer_bin("e2e-gs")));
    assert_eq!(
        format!("{got}\n"),
        consumer_output(&fx.model, &fx.dir_files)
    );
    // The build exchanged the key for a token (once for both dependencies)
    // and every object came through the gate.
    let log = fx.tokens.log();
    assert!(
        log[exchanges..]
            .iter()
            .any(|e| e.outcome == format!("ok service-account:{SA_EMAIL}")),
        "{log:?}"
    );
    assert!(fx.gate.passed.load(Ordering::SeqCst) >= passed + 5);
    for lock in ["model.bin.dvc", "data.dvc"] {
        assert!(krate.join(lock).exists(), "{lock}");
    }
    assert_no_secret(&fx.secrets(), &[&output], &[&krate, &cache]);
}

#[test]
fn gs_consumer_build_without_credentials_fails_naming_the_dependency() {
    let fx = fixture();
    let tmp = support::tempdir();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let krate = tmp.path().join("consumer");
    let url = fx.registry.to_str().unwrap();
    let config = format!(
        "config = {{ remote = {{ gcs = {{ endpointurl = {:?} }} }} }}",
        fx.gate.url()
    );
    let metadata = format!(
        "[package.metadata.dvc.deps.model]\nurl = {url:?}\npath = \"model.bin\"\n{config}\n\n\
         [package.metadata.dvc.deps.data]\nurl = {url:?}\npath = \"data\"\n{config}\n"
    );
    support::write_crate(&krate, "e2e-gs-nocreds", &metadata, CONSUMER_MAIN, false);
    support::set_dvc_build_features(&krate, &["gs", "azure"]);
    let cache = tmp.path().join("cache");
    let mut build = support::cargo(&krate, &cache);
    isolate_google_env(&mut build, &home);
    let out = support::run_fail(build.args(["build", "-q"]));
    // Dependencies run in name order: `data` first.
    assert!(out.contains("dependency `data`: "), "{out}");
    assert!(out.contains("anonymous access refused"), "{out}");
    assert!(out.contains(&format!("bucket `{BUCKET}`")), "{out}");
    assert!(out.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{out}");
    assert!(!krate.join("data.dvc").exists() && !krate.join("model.bin.dvc").exists());
    assert_no_secret(&fx.secrets(), &[&out], &[&krate, &cache]);
}

// ---------------------------------------------------------------------------
// GCS objects and prefixes as URL dependencies (`dvc import-url gs://...`).

/// Uploads `objects` (name, bytes) into the fixture's bucket (fake-gcs-server
/// takes unauthenticated uploads).
fn put_gcs_objects(fx: &Fixture, objects: &[(&str, &[u8])]) {
    let agent = ureq::Agent::new_with_defaults();
    for (name, bytes) in objects {
        let url = format!(
            "{}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={}",
            fx.endpoint,
            name.replace('/', "%2F")
        );
        let answer = agent
            .post(&url)
            .header("Content-Type", "application/octet-stream")
            .send(*bytes)
            .expect("upload an object");
        assert_eq!(answer.status().as_u16(), 200, "{name}");
    }
}

#[cfg(feature = "cli")]
#[test]
fn gs_url_imports_of_an_object_and_a_prefix_lock_as_dvc_import_url() {
    let fx = fixture();
    // An empty home for both tools, removed when the test ends.
    let home_dir = support::tempdir();
    let home = home_dir.path();
    let twins = crate::url::Twins::new()
        .with_env("HOME", home.to_str().unwrap())
        .with_env("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
        .with_env("NO_GCE_CHECK", "true")
        .with_env("GCE_METADATA_HOST", "127.0.0.1:9")
        .with_env("GCE_METADATA_IP", "127.0.0.1:9");
    let prefix = unique("urls");
    let model = support::pseudo_random(150_000, 21);
    put_gcs_objects(
        fx,
        &[
            (&format!("{prefix}/model.bin"), &model),
            (&format!("{prefix}/dir/a.txt"), b"a\n"),
            (&format!("{prefix}/dir/sub/b.txt"), b"bb\n"),
        ],
    );
    let endpoint = format!("endpointurl={}", fx.endpoint);
    let anonymous = "allow_anonymous_login=true";
    for (key, out) in [("model.bin", "model.bin"), ("dir", "dir")] {
        let url = format!("gs://{BUCKET}/{prefix}/{key}");
        twins.dvc_import(&url, out, &["--fs-config", &endpoint, anonymous]);
        twins.import(
            &url,
            out,
            &["--fs-config", &endpoint, "--fs-config", anonymous],
        );
        twins.assert_same(&format!("{out}.dvc"));
    }
    let lock = twins.lock("model.bin.dvc");
    assert!(
        lock.contains(&format!("- etag: {}\n", Md5::of(&model))),
        "{lock}"
    );
    assert!(lock.contains("  version_id: '"), "{lock}");
    // A new version of each: status says so, and both rewrite alike.
    put_gcs_objects(
        fx,
        &[
            (&format!("{prefix}/model.bin"), b"v2"),
            (&format!("{prefix}/dir/sub/c.txt"), b"new\n"),
        ],
    );
    let status = run(twins.cargo_dvc().args(["status", "--json"]));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    for dep in json["dependencies"].as_array().unwrap() {
        assert_eq!(dep["update"], "source_changed", "{json}");
    }
    run(twins
        .dvc()
        .args(["update", "-q", "model.bin.dvc", "dir.dvc"]));
    run(twins.cargo_dvc().args(["update"]));
    twins.assert_same("model.bin.dvc");
    twins.assert_same("dir.dvc");
}
