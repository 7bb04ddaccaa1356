//! Secrets stay secret: a token planted in the registry URL, in an http
//! remote's `password` / `custom_auth_header` (in the registry's config or in
//! the declaration's `remote` table) or in `AWS_SECRET_ACCESS_KEY` appears in
//! nothing we print or write: errors, locks, OUT_DIR, the cache (git
//! databases' `.git/config` included), and `cargo dvc` output.

use std::fs;
use std::path::Path;

use dvc_build::Fetch;

use crate::support::http::FileServer;
use crate::support::invariants::walk;
use crate::support::{self, GitHttp, Registry, git, run};

const URL_TOKEN: &str = "URLTOKEN8d1f0c";
const PASSWORD: &str = "PASSWORD5e7a9b";
const HEADER_TOKEN: &str = "HEADERTOKEN3c2d";
const AWS_SECRET: &str = "AWSSECRET9f8e7d";
const ALL: [&str; 4] = [URL_TOKEN, PASSWORD, HEADER_TOKEN, AWS_SECRET];

/// Panics when any secret is in `text`.
#[track_caller]
fn assert_clean(what: &str, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    for secret in ALL {
        assert!(
            !text.contains(secret),
            "{what} holds the secret {secret}:\n{text}"
        );
    }
}

/// Every file under `root` but those under `skip` (the registry, which holds
/// its own config, and the crate manifests, where the user wrote the token).
#[track_caller]
fn assert_tree_clean(root: &Path, skip: &[&Path]) -> usize {
    let mut n = 0;
    for file in walk(root) {
        if skip.iter().any(|s| file.starts_with(s)) {
            continue;
        }
        let bytes = fs::read(&file).unwrap_or_default();
        assert_clean(&file.display().to_string(), &bytes);
        n += 1;
    }
    n
}

struct Setup {
    tmp: tempfile::TempDir,
    reg: Registry,
    git_http: GitHttp,
    server: FileServer,
}

/// A registry served over smart HTTP whose default remote is an http remote
/// with `auth = basic` and a password, and a second one with a custom header.
fn setup() -> Setup {
    let tmp = support::tempdir();
    let reg = Registry::new(&tmp.path().join("git"));
    reg.write("model.bin", "model bytes\n");
    reg.add(&["model.bin"]);
    reg.push();
    let server = FileServer::start(&reg.remote);
    support::write(
        &reg.repo,
        ".dvc/config",
        format!(
            "[core]\n    remote = web\n['remote \"web\"']\n    url = {0}\n    auth = basic\n    \
             user = me\n    password = {PASSWORD}\n['remote \"custom\"']\n    url = {0}\n    \
             auth = custom\n    custom_auth_header = X-Token\n    password = {HEADER_TOKEN}\n",
            server.url()
        ),
    );
    reg.commit("model");
    run(git(&reg.repo).args(["update-server-info"]));
    let git_http = GitHttp::start(&tmp.path().join("git"));
    Setup {
        tmp,
        reg,
        git_http,
        server,
    }
}

impl Setup {
    /// The registry URL with a token in it.
    fn secret_url(&self) -> String {
        self.git_http
            .url("registry")
            .replacen("http://", &format!("http://user:{URL_TOKEN}@"), 1)
    }

    fn krate(&self, name: &str, table: &str) -> std::path::PathBuf {
        let dir = self.tmp.path().join(name);
        support::write(
            &dir,
            "Cargo.toml",
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\n\n\
                 [package.metadata.dvc.deps.model]\nurl = \"{}\"\n{table}",
                self.secret_url()
            ),
        );
        dir
    }
}

#[test]
fn tokens_never_reach_output_locks_or_the_cache() {
    let s = setup();
    let cache = s.tmp.path().join("cache");
    let fetch = |krate: &Path| {
        Fetch::new()
            .manifest_dir(krate)
            .out_dir(krate.join("out"))
            // A cache per crate: every fetch goes to the network.
            .cache_dir(cache.join(krate.file_name().unwrap()))
            .locked(false)
            .offline(false)
            .emit_directives(false)
            .run()
    };
    // (a) the token in the registry URL, (b) the password in the registry's
    // config: a fetch that works.
    let a = s.krate("a", "path = \"model.bin\"\n");
    fetch(&a).unwrap();
    assert_eq!(
        fs::read(a.join("out/dvc/model.bin")).unwrap(),
        b"model bytes\n"
    );
    // The lock has neither the token nor the password, yet it is fresh: a
    // second, locked build uses it as is (fetching with the declaration's
    // credentials), and leaves it alone.
    let lock = fs::read_to_string(a.join("model.bin.dvc")).unwrap();
    assert!(
        lock.contains(&format!("url: {}\n", s.git_http.url("registry"))),
        "{lock}"
    );
    fs::remove_dir_all(cache.join("a")).unwrap();
    Fetch::new()
        .manifest_dir(&a)
        .out_dir(a.join("out2"))
        .cache_dir(cache.join("a"))
        .locked(true)
        .offline(false)
        .emit_directives(false)
        .run()
        .unwrap();
    assert_eq!(fs::read_to_string(a.join("model.bin.dvc")).unwrap(), lock);
    // (b) a password in the declaration's `remote` table: Cargo.toml is
    // committed, so it is refused, by key, without echoing the value, and
    // nothing is written.
    let d = s.krate(
        "d",
        &format!(
            "path = \"model.bin\"\nremote = {{ url = \"{}\", auth = \"basic\", user = \"me\", \
             password = \"{PASSWORD}\" }}\n",
            s.server.url()
        ),
    );
    let err = fetch(&d).unwrap_err();
    assert!(err.to_string().contains("remote.password"), "{err}");
    assert_clean(
        "the refusal of a password in Cargo.toml",
        err.to_string().as_bytes(),
    );
    assert_clean("the refusal's Debug", format!("{err:?}").as_bytes());
    assert!(!d.join("model.bin.dvc").exists());
    // The custom header remote, named by the declaration.
    let c = s.krate("c", "path = \"model.bin\"\nremote = \"custom\"\n");
    fetch(&c).unwrap();
    // Errors: a missing path, and a remote that refuses (401 from a server
    // that is not there), each with every secret around.
    let bad = s.krate("bad", "path = \"nope.bin\"\n");
    let err = fetch(&bad).unwrap_err();
    assert_clean("the error of a missing path", err.to_string().as_bytes());
    assert_clean("the error's Debug", format!("{err:?}").as_bytes());
    let dead = format!(
        "http://user:{URL_TOKEN}@127.0.0.1:{}/r",
        support::free_port()
    );
    let unreachable = s.krate(
        "unreachable",
        &format!(
            "path = \"model.bin\"\nremote = {{ url = \"{dead}\", auth = \"basic\", user = \"me\", \
             password = \"{PASSWORD}\", connect_timeout = \"1\" }}\n"
        ),
    );
    let err = fetch(&unreachable).unwrap_err();
    assert_clean(
        "the error of an unreachable remote",
        err.to_string().as_bytes(),
    );
    assert_clean("the error's Debug", format!("{err:?}").as_bytes());
    let bad_git = format!(
        "http://user:{URL_TOKEN}@127.0.0.1:{}/nothing",
        s.git_http.port
    );
    let dir = s.tmp.path().join("badgit");
    support::write(
        &dir,
        "Cargo.toml",
        format!(
            "[package]\nname = \"x\"\nversion = \"0.1.0\"\n\n\
             [package.metadata.dvc.deps.model]\nurl = \"{bad_git}\"\npath = \"model.bin\"\n"
        ),
    );
    let err = fetch(&dir).unwrap_err();
    assert_clean(
        "the error of a missing git repository",
        err.to_string().as_bytes(),
    );

    // (c) AWS_SECRET_ACCESS_KEY in the environment of a process fetching
    // from an S3 remote (here: an endpoint that answers 404).
    let s3 = s.krate(
        "s3",
        &format!(
            "path = \"model.bin\"\nremote = {{ url = \"s3://bucket/prefix\", endpointurl = \"{}\", \
             region = \"us-east-1\" }}\n",
            s.server.url()
        ),
    );
    let mut cmd = crate::crash::child_command(&s3, &s3.join("out"), &cache.join("s3"));
    let spec = cmd
        .get_envs()
        .find(|(k, _)| *k == "DVC_BUILD_TEST_CHILD_FETCH")
        .and_then(|(_, v)| v)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let output = cmd
        .env("DVC_BUILD_TEST_CHILD_FETCH", format!("{spec}\nwrite"))
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        .env("AWS_SESSION_TOKEN", format!("session-{AWS_SECRET}"))
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "the fetch failed, as it should"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("s3://bucket/prefix") || stderr.contains("bucket"),
        "{stderr}"
    );
    assert_clean("the stderr of a failed S3 fetch", stderr.as_bytes());
    #[cfg(feature = "cli")]
    cli_output_is_clean(&s, &cache);

    // Everything written: locks, OUT_DIRs, the cache with its git databases.
    let manifests: Vec<std::path::PathBuf> =
        ["a", "c", "d", "bad", "unreachable", "badgit", "s3", "cli"]
            .iter()
            .map(|n| s.tmp.path().join(n).join("Cargo.toml"))
            .collect();
    // The user's own uncommitted config file holds the header's value by design.
    let secret_config = s.tmp.path().join("cli").join("secret.dvcconfig");
    let mut skip: Vec<&Path> = manifests.iter().map(|p| p.as_path()).collect();
    skip.push(&secret_config);
    let git_root = s.tmp.path().join("git");
    skip.push(&git_root);
    skip.push(&s.reg.remote);
    let n = assert_tree_clean(s.tmp.path(), &skip);
    assert!(n > 10, "{n} files checked");
    let db_configs: Vec<_> = walk(&cache)
        .into_iter()
        .filter(|p| p.ends_with("config") && p.to_string_lossy().contains("/git/db/"))
        .collect();
    assert!(!db_configs.is_empty(), "a git database was made");
}

/// `cargo dvc` commands with the secret-bearing registry URL and remotes:
/// neither stdout nor stderr shows a secret, with `-v`.
#[cfg(feature = "cli")]
fn cli_output_is_clean(s: &Setup, cache: &Path) {
    use std::process::Command;
    let krate = s.tmp.path().join("cli");
    support::write(
        &krate,
        "Cargo.toml",
        "[package]\nname = \"cli\"\nversion = \"0.1.0\"\n[lib]\npath = \"lib.rs\"\n",
    );
    support::write(&krate, "lib.rs", "");
    let manifest = krate.join("Cargo.toml");
    let bin = env!("CARGO_BIN_EXE_cargo-dvc");
    let dead = format!(
        "http://user:{URL_TOKEN}@127.0.0.1:{}/r",
        support::free_port()
    );
    let runs: Vec<Vec<String>> = vec![
        vec!["import".into(), s.secret_url(), "model.bin".into()],
        vec!["fetch".into()],
        vec!["status".into()],
        vec!["status".into(), "--json".into()],
        vec!["update".into(), "--dry-run".into()],
        vec!["check".into()],
        vec!["pull".into()],
        vec![
            "get".into(),
            s.secret_url(),
            "model.bin".into(),
            "-o".into(),
            krate.join("got.bin").display().to_string(),
        ],
        vec!["get".into(), s.secret_url(), "nope.bin".into()],
        vec!["get".into(), dead.clone(), "model.bin".into()],
    ];
    for (i, args) in runs.into_iter().enumerate() {
        let mut cmd = Command::new(bin);
        cmd.arg("dvc").args(&args).arg("-v");
        // `get` works on no package, and refuses `--manifest-path`.
        if args[0] != "get" {
            cmd.arg("--manifest-path").arg(&manifest);
        }
        let out = cmd
            .current_dir(&krate)
            .env("DVC_BUILD_CACHE_DIR", cache.join("cli"))
            .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .unwrap();
        // The first 8 succeed, the last two fail (no such path; no server).
        assert_eq!(
            out.status.success(),
            i < 8,
            "cargo dvc {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_clean(&format!("stdout of cargo dvc {args:?}"), &out.stdout);
        assert_clean(&format!("stderr of cargo dvc {args:?}"), &out.stderr);
        if i == 0 {
            // After the import: a second dependency whose remote's custom
            // header value sits in an uncommitted DVC config file (Cargo.toml
            // refuses secrets), named by `config` and `remote`.
            support::write(
                &krate,
                "secret.dvcconfig",
                format!(
                    "['remote \"hdr\"']\n    url = {}\n    auth = custom\n    \
                     custom_auth_header = X-Token\n    password = {HEADER_TOKEN}\n",
                    s.server.url()
                ),
            );
            let mut toml = fs::read_to_string(&manifest).unwrap();
            toml.push_str(&format!(
                "\n[package.metadata.dvc.deps.pw]\nurl = \"{}\"\npath = \"model.bin\"\nout = \"pw/model.bin\"\n\
                 config = \"secret.dvcconfig\"\nremote = \"hdr\"\n",
                s.secret_url(),
            ));
            fs::write(&manifest, toml).unwrap();
        }
    }
    let lock = fs::read_to_string(krate.join("model.bin.dvc")).unwrap();
    assert_clean("the lock written by cargo dvc import", lock.as_bytes());
    let lock = fs::read_to_string(krate.join("pw/model.bin.dvc")).unwrap();
    assert_clean("the lock written by cargo dvc fetch", lock.as_bytes());
    assert!(
        lock.contains("config: secret.dvcconfig\n    remote: hdr\n"),
        "{lock}"
    );
    assert_eq!(fs::read(krate.join("got.bin")).unwrap(), b"model bytes\n");
}

/// An HTTPS server with a self-signed certificate for 127.0.0.1 (made by
/// `openssl`), serving `dir` through python's `http.server`; killed on drop.
struct TlsServer {
    child: std::process::Child,
    url: String,
    /// The CA that signed the server's certificate.
    ca: std::path::PathBuf,
}

impl TlsServer {
    fn start(dir: &Path, scratch: &Path) -> TlsServer {
        // A CA, and a leaf for 127.0.0.1 signed by it.
        let (ca, ca_key) = (scratch.join("ca.pem"), scratch.join("ca.key"));
        let (cert, key) = (scratch.join("cert.pem"), scratch.join("key.pem"));
        let (csr, ext) = (scratch.join("leaf.csr"), scratch.join("leaf.ext"));
        let openssl = |args: &[&std::ffi::OsStr]| {
            run(std::process::Command::new("openssl")
                .args(args)
                .current_dir(scratch));
        };
        let o = |s: &str| std::ffi::OsString::from(s);
        fs::write(&ext, "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(&[
            &o("req"),
            &o("-x509"),
            &o("-newkey"),
            &o("rsa:2048"),
            &o("-nodes"),
            &o("-days"),
            &o("2"),
            &o("-subj"),
            &o("/CN=dvc-build test CA"),
            &o("-keyout"),
            ca_key.as_os_str(),
            &o("-out"),
            ca.as_os_str(),
        ]);
        openssl(&[
            &o("req"),
            &o("-newkey"),
            &o("rsa:2048"),
            &o("-nodes"),
            &o("-subj"),
            &o("/CN=127.0.0.1"),
            &o("-keyout"),
            key.as_os_str(),
            &o("-out"),
            csr.as_os_str(),
        ]);
        openssl(&[
            &o("x509"),
            &o("-req"),
            &o("-in"),
            csr.as_os_str(),
            &o("-CA"),
            ca.as_os_str(),
            &o("-CAkey"),
            ca_key.as_os_str(),
            &o("-CAcreateserial"),
            &o("-days"),
            &o("2"),
            &o("-extfile"),
            ext.as_os_str(),
            &o("-out"),
            cert.as_os_str(),
        ]);
        let port = support::free_port();
        let script = "import functools, http.server, ssl, sys\n\
             port, d, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]\n\
             h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=d)\n\
             s = http.server.ThreadingHTTPServer(('127.0.0.1', port), h)\n\
             ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
             ctx.load_cert_chain(cert, key)\n\
             s.socket = ctx.wrap_socket(s.socket, server_side=True)\n\
             s.serve_forever()\n";
        let child = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(port.to_string())
            .arg(dir)
            .arg(&cert)
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        support::wait_for_port(port);
        TlsServer {
            child,
            url: format!("https://127.0.0.1:{port}"),
            ca,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tls_is_verified_by_default_and_ssl_verify_is_honoured() {
    use std::collections::BTreeMap;

    use dvc_build::__private::cache::Cache;
    use dvc_build::__private::hash::Md5;
    use dvc_build::__private::remote::{Layout, ObjectKey, open_remote};
    use dvc_build::__private::transfer::{Options, RetryPolicy, fetch_file_with};

    let tmp = support::tempdir();
    let data = b"served over TLS\n";
    let key = ObjectKey {
        md5: Md5::of(data),
        is_dir: false,
        layout: Layout::V3,
    };
    support::write(&tmp.path().join("remote"), &key.rel_path(), data);
    let server = TlsServer::start(&tmp.path().join("remote"), tmp.path());
    let quick = Options {
        retry: RetryPolicy {
            attempts: 3,
            base_delay: std::time::Duration::from_millis(300),
            max_delay: std::time::Duration::from_millis(300),
        },
        parallel: None,
        ..Options::default()
    };
    let fetch = |name: &str, opts: &[(&str, String)]| {
        let opts: BTreeMap<String, String> = opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let cache = Cache::open(tmp.path().join(name)).unwrap();
        let remote = open_remote(&server.url, &opts).unwrap();
        fetch_file_with(&*remote, &cache, key, Some(data.len() as u64), &quick)
    };
    // Verification is on by default: an unknown CA is refused, at once (a
    // certificate error is not worth retrying).
    let started = std::time::Instant::now();
    let err = fetch("default", &[]).unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_millis(150),
        "retried: {err}"
    );
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("tls"),
        "{text}"
    );
    let err = fetch("true", &[("ssl_verify", "true".into())]).unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    // `ssl_verify = false` turns it off; a CA bundle path trusts that CA.
    let got = fetch("false", &[("ssl_verify", "false".into())]).unwrap();
    assert_eq!(fs::read(got.path).unwrap(), data);
    let got = fetch("bundle", &[("ssl_verify", server.ca.display().to_string())]).unwrap();
    assert_eq!(fs::read(got.path).unwrap(), data);
}

/// A remote that redirects to another host: the object is fetched from
/// there, and the credentials are not sent along.
#[test]
fn credentials_do_not_follow_a_redirect_to_another_host() {
    use std::collections::BTreeMap;

    use dvc_build::__private::cache::Cache;
    use dvc_build::__private::hash::Md5;
    use dvc_build::__private::remote::{Layout, ObjectKey, open_remote};
    use dvc_build::__private::transfer::{Options, fetch_file_with};

    use crate::support::http::Fault;

    let tmp = support::tempdir();
    let data = b"redirected\n";
    let key = ObjectKey {
        md5: Md5::of(data),
        is_dir: false,
        layout: Layout::V3,
    };
    support::write(&tmp.path().join("remote"), &key.rel_path(), data);
    let origin = FileServer::start(&tmp.path().join("remote"));
    let elsewhere = FileServer::start(&tmp.path().join("remote"));
    // `localhost` is another host name than `127.0.0.1`.
    let other = elsewhere.url().replace("127.0.0.1", "localhost");
    for (i, opts) in [
        vec![("auth", "basic"), ("user", "me"), ("password", PASSWORD)],
        vec![
            ("auth", "custom"),
            ("custom_auth_header", "X-Token"),
            ("password", HEADER_TOKEN),
        ],
    ]
    .into_iter()
    .enumerate()
    {
        let opts: BTreeMap<String, String> = opts
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        origin.script(&key.rel_path(), [Fault::Redirect(other.clone())]);
        let (o0, e0) = (origin.log().len(), elsewhere.log().len());
        let remote = open_remote(&origin.url(), &opts).unwrap();
        let cache = Cache::open(tmp.path().join(format!("cache-{i}"))).unwrap();
        let got = fetch_file_with(&*remote, &cache, key, None, &Options::default()).unwrap();
        assert_eq!(fs::read(got.path).unwrap(), data);
        let sent = origin.log()[o0..].to_vec();
        assert!(
            sent.iter().all(|r| r
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(if i == 0 {
                    "authorization"
                } else {
                    "x-token"
                }))),
            "the origin got the credentials: {sent:?}"
        );
        let leaked = elsewhere.log()[e0..].to_vec();
        assert!(!leaked.is_empty(), "the redirect was followed");
        assert_clean(
            "the requests to another host",
            format!("{leaked:?}").as_bytes(),
        );
        assert!(
            leaked.iter().all(|r| !r
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("authorization")
                    || n.eq_ignore_ascii_case("x-token"))),
            "{leaked:?}"
        );
    }
}
