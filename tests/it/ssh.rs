//! The `ssh://` remote against a real OpenSSH server (`sshd` on loopback,
//! see [`Sshd`]), holding objects pushed there by the real `dvc push`
//! (dvc-ssh). Our `ssh` always reads a config written by the test
//! (`DVC_BUILD_SSH_COMMAND=ssh -F ...`), never `~/.ssh`; the real `dvc`
//! runs with an empty home folder of the test's.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dvc_build::__private::cache::Cache;
use dvc_build::__private::hash::Md5;
use dvc_build::__private::remote::ssh::SshRemote;
use dvc_build::__private::remote::{FetchError, Layout, ObjectKey, Remote};
use dvc_build::__private::transfer::{Options, RetryPolicy, fetch_file_with};
use dvc_build::ErrorKind;

use crate::support::invariants::assert_cache_sound;
use crate::support::sshd::{Agent, CuttingProxy, Sshd, keygen};
use crate::support::{Registry, pseudo_random, run, tempdir};

/// The pushed registry: what the tests read back.
struct Fixture {
    server: Sshd,
    /// `model.bin`'s bytes and MD5.
    model: Vec<u8>,
    model_md5: Md5,
    /// `data/`: its `.dir` MD5 and files.
    dir_md5: Md5,
    dir_files: BTreeMap<String, Vec<u8>>,
    /// The registry's git work tree: its committed `.dvc/config` makes the
    /// ssh remote (`url` with the port, `user`) the default; no key, no
    /// cache.
    registry: PathBuf,
}

/// The remote's folder name under the server's storage.
const STORE: &str = "store";

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let server = Sshd::start();
        let dvc_home = server.root.join("dvc-home");
        std::fs::create_dir_all(&dvc_home).unwrap();
        let reg = Registry::new(&server.root);
        let model = pseudo_random(300_000, 1);
        reg.write("model.bin", &model);
        let mut dir_files = BTreeMap::new();
        for (rel, data) in [
            ("a.csv", b"x,y\n1,2\n".to_vec()),
            ("sub/b.bin", pseudo_random(70_000, 2)),
            ("sub/deeper/c.txt", b"hello\n".to_vec()),
        ] {
            reg.write(&format!("data/{rel}"), &data);
            dir_files.insert(rel.to_string(), data);
        }
        reg.add(&["model.bin", "data"]);
        let dvc = |args: &[&str]| {
            run(reg.dvc().args(args).env("HOME", &dvc_home));
        };
        dvc(&["remote", "add", "-d", "sshstore", &server.url(STORE)]);
        dvc(&["remote", "modify", "sshstore", "user", &server.user]);
        dvc(&[
            "remote",
            "modify",
            "--local",
            "sshstore",
            "keyfile",
            server.client_key.to_str().unwrap(),
        ]);
        reg.commit("data");
        dvc(&["push", "-q", "-r", "sshstore"]);
        // No key (`config.local`) and no local copy of the data: readers
        // must reach the server with their own credentials.
        std::fs::remove_file(reg.repo.join(".dvc/config.local")).unwrap();
        std::fs::remove_dir_all(reg.repo.join(".dvc/cache")).unwrap();
        let model_md5 = Md5::of(&model);
        let dvc_file = std::fs::read_to_string(reg.repo.join("data.dvc")).unwrap();
        let (dir, _) = crate::support::out_md5_and_size(&dvc_file);
        let dir_md5 = dir.strip_suffix(".dir").unwrap().parse().unwrap();
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

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An environment for [`SshRemote::open_with_env`]: only these variables.
fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| OsString::from(v))
    }
}

/// The fixture's remote with `options`, through an ssh config written in
/// `dir` (the server's key known, the client key offered).
fn remote_in(dir: &Path, url: &str, options: &[(&str, &str)]) -> SshRemote {
    let fx = fixture();
    let command = fx
        .server
        .ssh_command(dir, "", None, Some(&fx.server.client_key));
    SshRemote::open_with_env(
        url,
        &opts(options),
        &env(&[("DVC_BUILD_SSH_COMMAND", &command)]),
    )
    .expect("open the ssh remote")
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

fn open_err(remote: &dyn Remote, rel: &str) -> FetchError {
    match remote.open(rel, 0, None) {
        Ok(_) => panic!("opening {rel} worked"),
        Err(e) => e,
    }
}

#[test]
fn ssh_reads_file_and_dir_objects_pushed_by_dvc() {
    let fx = fixture();
    let tmp = tempdir();
    let url = fx.server.url(STORE);
    let remote = remote_in(tmp.path(), &url, &[("user", &fx.server.user)]);
    assert_eq!(remote.display_url(), url);
    let model = read_all(&remote, &key(fx.model_md5, false), 0, None);
    assert_eq!(model, fx.model);
    let manifest = read_all(&remote, &key(fx.dir_md5, true), 0, None);
    assert_eq!(Md5::of(&manifest), fx.dir_md5);
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(entries.len(), fx.dir_files.len());
    for entry in entries {
        let rel = entry["relpath"].as_str().unwrap();
        let md5: Md5 = entry["md5"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            read_all(&remote, &key(md5, false), 0, None),
            fx.dir_files[rel]
        );
    }
}

#[test]
fn ssh_ranged_reads() {
    let fx = fixture();
    let tmp = tempdir();
    let remote = remote_in(tmp.path(), &fx.server.url(STORE), &[]);
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
        (size + 7, None),
        (5, Some(5)),
    ] {
        let got = read_all(&remote, &rel, offset, end);
        let stop = end.unwrap_or(size).min(size) as usize;
        let want = &fx.model[(offset as usize).min(stop)..stop];
        assert_eq!(got, want, "range {offset}..{end:?}");
    }
}

#[test]
fn ssh_missing_object_is_not_found() {
    let fx = fixture();
    let tmp = tempdir();
    let remote = remote_in(tmp.path(), &fx.server.url(STORE), &[]);
    let rel = key(Md5::of(b"never pushed"), false);
    match open_err(&remote, &rel) {
        FetchError::NotFound(e) => assert!(e.to_string().contains(&rel), "{e}"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

/// `ssh-keygen -lf`: the `SHA256:...` fingerprint of a public key file.
fn fingerprint(public: &Path) -> String {
    let out = crate::support::run_stdout(
        std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(public),
    );
    out.split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no fingerprint in {out}"))
        .to_string()
}

/// Opening fails permanently with an `Auth` error; returns its text
/// (message and help), after checking that asking again fails the same way
/// at once.
#[track_caller]
fn auth_refusal(remote: &SshRemote) -> String {
    let fx = fixture();
    let rel = key(fx.model_md5, false);
    let started = Instant::now();
    let err = match open_err(remote, &rel) {
        FetchError::Permanent(e) => e,
        other => panic!("expected a permanent error, got {other:?}"),
    };
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let text = err.to_string();
    // Remembered: the same refusal, without another login.
    let again = Instant::now();
    match open_err(remote, &rel) {
        FetchError::Permanent(e) => assert_eq!(e.to_string(), text),
        other => panic!("expected the same refusal, got {other:?}"),
    }
    assert!(
        again.elapsed() < Duration::from_millis(200),
        "{:?}",
        again.elapsed()
    );
    text
}

#[test]
fn ssh_unknown_host_key_is_refused_and_never_added() {
    let fx = fixture();
    let tmp = tempdir();
    let known_hosts = tmp.path().join("known_hosts");
    std::fs::write(&known_hosts, "").unwrap();
    let command = fx.server.ssh_command(
        tmp.path(),
        "",
        Some(&known_hosts),
        Some(&fx.server.client_key),
    );
    let remote = SshRemote::open_with_env(
        &fx.server.url(STORE),
        &BTreeMap::new(),
        &env(&[("DVC_BUILD_SSH_COMMAND", &command)]),
    )
    .unwrap();
    let text = auth_refusal(&remote);
    let port = fx.server.port;
    assert!(text.contains("host key is unknown"), "{text}");
    assert!(text.contains(&format!("`[127.0.0.1]:{port}`")), "{text}");
    assert!(
        text.contains(&format!("ssh-keyscan -p {port} 127.0.0.1")),
        "{text}"
    );
    assert!(text.contains("help: "), "{text}");
    // Nothing was added.
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), "");
}

#[test]
fn ssh_changed_host_key_is_refused_and_named() {
    let fx = fixture();
    let tmp = tempdir();
    let other = tmp.path().join("other_host_key");
    keygen(&other, "impostor");
    let port = fx.server.port;
    let known_hosts = tmp.path().join("known_hosts");
    let recorded = format!(
        "[127.0.0.1]:{port} {}\n",
        crate::support::sshd::public_key(&other)
    );
    std::fs::write(&known_hosts, &recorded).unwrap();
    let command = fx.server.ssh_command(
        tmp.path(),
        "",
        Some(&known_hosts),
        Some(&fx.server.client_key),
    );
    let remote = SshRemote::open_with_env(
        &fx.server.url(STORE),
        &BTreeMap::new(),
        &env(&[("DVC_BUILD_SSH_COMMAND", &command)]),
    )
    .unwrap();
    let text = auth_refusal(&remote);
    assert!(text.contains("host key has CHANGED"), "{text}");
    assert!(text.contains(&format!("[127.0.0.1]:{port}")), "{text}");
    // The key the server offers now, and where the old one is recorded.
    let offered = fingerprint(&fx.server.root.join("host_key.pub"));
    assert!(text.contains(&offered), "{text}");
    assert!(
        text.contains(&format!("{}:1", known_hosts.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ssh-keygen -f \"{}\" -R \"[127.0.0.1]:{port}\"",
            known_hosts.display()
        )),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), recorded);
}

#[test]
fn ssh_refused_key_is_a_quick_auth_error() {
    let fx = fixture();
    let tmp = tempdir();
    let stranger = tmp.path().join("stranger");
    keygen(&stranger, "not authorized");
    let command = fx.server.ssh_command(tmp.path(), "", None, Some(&stranger));
    let remote = SshRemote::open_with_env(
        &fx.server.url(STORE),
        &opts(&[("user", &fx.server.user)]),
        &env(&[("DVC_BUILD_SSH_COMMAND", &command)]),
    )
    .unwrap();
    let text = auth_refusal(&remote);
    assert!(text.contains("refused the login"), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
    assert!(text.contains("keyfile"), "{text}");
}

#[test]
fn ssh_credentials_by_keyfile_agent_and_config_alias() {
    let fx = fixture();
    let rel = key(fx.model_md5, false);
    let url = fx.server.url(STORE);

    // `keyfile` (with `~/`), and no other key offered.
    let tmp = tempdir();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::copy(&fx.server.client_key, home.join(".ssh/dvc_key")).unwrap();
    let command = fx.server.ssh_command(tmp.path(), "", None, None);
    let with = |options: &[(&str, &str)], vars: &[(&str, &str)]| {
        let mut all = vec![("DVC_BUILD_SSH_COMMAND", command.as_str())];
        all.extend_from_slice(vars);
        SshRemote::open_with_env(&url, &opts(options), &env(&all)).unwrap()
    };
    let home_str = home.to_str().unwrap();
    let remote = with(&[("keyfile", "~/.ssh/dvc_key")], &[("HOME", home_str)]);
    assert_eq!(read_all(&remote, &rel, 0, None), fx.model);
    // Without it: refused.
    let text = auth_refusal(&with(&[], &[("HOME", home_str)]));
    assert!(text.contains("refused the login"), "{text}");

    // ssh-agent.
    let agent = Agent::start(tmp.path(), &fx.server.client_key);
    let sock = agent.socket.to_str().unwrap();
    let remote = with(&[], &[("SSH_AUTH_SOCK", sock)]);
    assert_eq!(read_all(&remote, &rel, 0, None), fx.model);
    // `allow_agent = false` turns it off.
    let text = auth_refusal(&with(
        &[("allow_agent", "false")],
        &[("SSH_AUTH_SOCK", sock)],
    ));
    assert!(text.contains("refused the login"), "{text}");
    drop(agent);

    // A `Host` alias in the ssh config names the host, port, user and key.
    let alias = tempdir();
    let command = fx.server.ssh_command(
        alias.path(),
        &format!(
            "Host dvc-test-alias\n  HostName 127.0.0.1\n  Port {}\n  User {}\n",
            fx.server.port, fx.server.user
        ),
        None,
        Some(&fx.server.client_key),
    );
    let alias_url = format!("ssh://dvc-test-alias{}", fx.server.storage(STORE).display());
    let remote = SshRemote::open_with_env(
        &alias_url,
        &BTreeMap::new(),
        &env(&[("DVC_BUILD_SSH_COMMAND", &command)]),
    )
    .unwrap();
    assert_eq!(read_all(&remote, &rel, 0, None), fx.model);
    assert_eq!(remote.display_url(), alias_url);
}

#[test]
fn ssh_encrypted_key_with_passphrase_option() {
    let fx = fixture();
    let tmp = tempdir();
    let phrase = "Phr4se-never-printed-61c";
    let locked = tmp.path().join("locked_key");
    run(std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-C", "locked", "-N", phrase, "-f"])
        .arg(&locked));
    // Authorize it (sshd reads authorized_keys at each login).
    let authorized = fx.server.root.join("authorized_keys");
    let mut keys = std::fs::read_to_string(&authorized).unwrap();
    keys.push_str(&crate::support::sshd::public_key(&locked));
    keys.push('\n');
    std::fs::write(&authorized, keys).unwrap();
    let command = fx.server.ssh_command(tmp.path(), "", None, Some(&locked));
    let open = |options: &[(&str, &str)]| {
        SshRemote::open_with_env(
            &fx.server.url(STORE),
            &opts(options),
            &env(&[("DVC_BUILD_SSH_COMMAND", &command)]),
        )
        .unwrap()
    };
    let remote = open(&[("passphrase", phrase)]);
    assert!(!format!("{remote:?}").contains(phrase));
    assert_eq!(
        read_all(&remote, &key(fx.model_md5, false), 0, None),
        fx.model
    );
    // Without the passphrase, and with a wrong one: refused, never prompted.
    for options in [vec![], vec![("passphrase", "wrong-phrase")]] {
        let text = auth_refusal(&open(&options));
        assert!(!text.contains(phrase), "{text}");
        assert!(text.contains("refused the login"), "{text}");
    }
}

/// The asyncssh SFTP server (pure Python, in the dvc 3 venv as dvc-ssh's
/// dependency), for password logins: OpenSSH's sshd would need a system
/// account's password.
const PASSWORD_SERVER: &str = r#"
import asyncio, sys, asyncssh
port, host_key, user, password = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
class Server(asyncssh.SSHServer):
    def begin_auth(self, username):
        return True
    def password_auth_supported(self):
        return True
    def validate_password(self, username, pw):
        return username == user and pw == password
async def main():
    await asyncssh.listen("127.0.0.1", int(port), server_host_keys=[host_key],
                          server_factory=Server, sftp_factory=asyncssh.SFTPServer)
    print("ready", flush=True)
    await asyncio.Future()
asyncio.run(main())
"#;

/// An asyncssh server on a free loopback port that logs in `dvcuser`
/// with `password` (and nothing else); stopped on drop.
struct PasswordServer {
    child: std::process::Child,
    port: u16,
}

impl PasswordServer {
    fn start(dir: &Path, password: &str) -> PasswordServer {
        let fx = fixture();
        let port = crate::support::free_port();
        let script = dir.join("password_server.py");
        std::fs::write(&script, PASSWORD_SERVER).unwrap();
        let child = std::process::Command::new(crate::support::dvc3_python())
            .arg(&script)
            .arg(port.to_string())
            .arg(fx.server.root.join("host_key"))
            .arg("dvcuser")
            .arg(password)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the asyncssh server");
        let server = PasswordServer { child, port };
        crate::support::wait_for_port(port);
        server
    }

    /// An ssh command (config in `dir`) that knows this server's key and
    /// offers no key.
    fn ssh_command(&self, dir: &Path) -> String {
        let fx = fixture();
        let known_hosts = dir.join("known_hosts");
        std::fs::write(
            &known_hosts,
            fx.server
                .known_hosts_line(&format!("[127.0.0.1]:{}", self.port)),
        )
        .unwrap();
        fx.server.ssh_command(dir, "", Some(&known_hosts), None)
    }

    /// The URL of the fixture's remote folder through this server.
    fn url(&self) -> String {
        format!(
            "ssh://127.0.0.1:{}{}",
            self.port,
            fixture().server.storage(STORE).display()
        )
    }
}

impl Drop for PasswordServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ssh_password_option_against_a_password_server() {
    let fx = fixture();
    let tmp = tempdir();
    let password = "Pa55word-never-printed-9e1";
    let server = PasswordServer::start(tmp.path(), password);
    let command = server.ssh_command(tmp.path());
    let url = server.url();
    let open = |url: &str, options: &[(&str, &str)]| {
        SshRemote::open_with_env(
            url,
            &opts(options),
            &env(&[("DVC_BUILD_SSH_COMMAND", &command)]),
        )
        .unwrap()
    };
    let rel = key(fx.model_md5, false);
    let temp_before = askpass_dirs();

    let remote = open(&url, &[("user", "dvcuser"), ("password", password)]);
    assert_eq!(read_all(&remote, &rel, 0, None), fx.model);
    // The password may also come from the URL (never shown).
    let in_url = url.replace("ssh://", &format!("ssh://dvcuser:{password}@"));
    let remote = open(&in_url, &[]);
    assert!(
        !remote.display_url().contains(password),
        "{}",
        remote.display_url()
    );
    assert_eq!(read_all(&remote, &rel, 0, None), fx.model);

    // A wrong password: refused once, quickly, never retried or prompted.
    let text = auth_refusal(&open(
        &url,
        &[("user", "dvcuser"), ("password", "Wr0ng-pw-3b")],
    ));
    assert!(text.contains("refused the login"), "{text}");
    for secret in [password, "Wr0ng-pw-3b"] {
        assert!(!text.contains(secret), "{text}");
    }
    // The helper's private folders are gone once the logins are done.
    assert_eq!(askpass_dirs(), temp_before);
}

/// The password helper's folders in the temp folder.
fn askpass_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("dvc-build-ssh-"))
        })
        .collect();
    dirs.sort();
    dirs
}

/// Quick retries for the fault tests.
fn quick() -> Options {
    Options {
        retry: RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        },
        ..Options::default()
    }
}

/// Stores `data` as a DVC 3 object under the server's `faults` folder.
fn put(data: &[u8]) -> ObjectKey {
    let key = ObjectKey {
        md5: Md5::of(data),
        is_dir: false,
        layout: Layout::V3,
    };
    crate::support::write(&fixture().server.storage("faults"), &key.rel_path(), data);
    key
}

/// The `faults` remote reached through `proxy` (the server's key known
/// under the proxy's port too).
fn remote_via(dir: &Path, proxy: &CuttingProxy) -> SshRemote {
    let fx = fixture();
    let known_hosts = dir.join("known_hosts");
    std::fs::write(
        &known_hosts,
        fx.server
            .known_hosts_line(&format!("[127.0.0.1]:{}", proxy.port)),
    )
    .unwrap();
    let command = fx
        .server
        .ssh_command(dir, "", Some(&known_hosts), Some(&fx.server.client_key));
    let url = format!(
        "ssh://127.0.0.1:{}{}",
        proxy.port,
        fx.server.storage("faults").display()
    );
    SshRemote::open_with_env(
        &url,
        &BTreeMap::new(),
        &env(&[("DVC_BUILD_SSH_COMMAND", &command)]),
    )
    .unwrap()
}

#[test]
fn ssh_dropped_connection_mid_transfer_reconnects_and_resumes() {
    let fx = fixture();
    // One stream (below the ranged size), and parallel ranges: each time
    // the first connection drops after a part of the body went through.
    for (len, cut, seed) in [(24 << 20, 16 << 20, 11), (40 << 20, 30 << 20, 12)] {
        let data = pseudo_random(len, seed);
        let key = put(&data);
        let proxy = CuttingProxy::start(fx.server.port, cut);
        let tmp = tempdir();
        let remote = remote_via(tmp.path(), &proxy);
        let cache = Cache::open(tmp.path().join("cache")).unwrap();
        let file = fetch_file_with(&remote, &cache, key, Some(len as u64), &quick())
            .unwrap_or_else(|e| panic!("{len} bytes: {e}"));
        assert_eq!(std::fs::read(&file.path).unwrap(), data);
        assert_eq!(proxy.connections.load(Ordering::SeqCst), 2, "{len} bytes");
        // Resumed, not started over: of what came before the cut, only
        // what was still in buffers (ssh's, the pipe, replies read ahead:
        // a few MiB per stream) comes again; starting over would send all
        // of it again.
        let down = proxy.downstream.load(Ordering::SeqCst);
        assert!(down > cut, "{len} bytes: the cut never happened ({down})");
        assert!(
            down < len as u64 + cut * 3 / 4,
            "{len} bytes: {down} bytes came down"
        );
        assert_cache_sound(cache.root(), false);
    }
}

#[test]
fn ssh_truncated_object_on_the_server_is_caught() {
    let fx = fixture();
    let tmp = tempdir();
    let remote = remote_in(
        tmp.path(),
        &format!(
            "ssh://127.0.0.1:{}{}",
            fx.server.port,
            fx.server.storage("faults").display()
        ),
        &[],
    );
    let cache = Cache::open(tmp.path().join("cache")).unwrap();
    let data = pseudo_random(100_000, 21);
    let key = put(&data);
    let object = fx.server.storage("faults").join(key.rel_path());
    std::fs::write(&object, &data[..60_000]).unwrap();
    // Size unknown (a directory's file): the hash catches it.
    let err = fetch_file_with(&remote, &cache, key, None, &quick()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert!(err.to_string().contains("expected MD5"), "{err}");
    // Size known (a file's lock): caught too.
    let err = fetch_file_with(&remote, &cache, key, Some(100_000), &quick()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert!(
        err.to_string().contains("expected 100000 bytes, got 60000"),
        "{err}"
    );
    // Same length, other bytes: the hash.
    let mut bad = data.clone();
    bad[77_777] ^= 1;
    std::fs::write(&object, &bad).unwrap();
    let err = fetch_file_with(&remote, &cache, key, Some(100_000), &quick()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert!(cache.get(&key.md5, false).unwrap().is_none());
    assert_cache_sound(cache.root(), false);
}

// ---------------------------------------------------------------------------
// End to end: `cargo dvc` and a consumer crate's build script, against the
// registry whose default remote is on the sshd.

/// `cmd` with our ssh pointed at `command`, and no agent of the caller's.
fn ssh_env<'a>(cmd: &'a mut std::process::Command, command: &str) -> &'a mut std::process::Command {
    cmd.env("DVC_BUILD_SSH_COMMAND", command)
        .env_remove("SSH_AUTH_SOCK")
}

/// A home folder for the real `dvc` whose default key (asyncssh reads
/// `~/.ssh/id_ed25519`) is the server's client key.
fn dvc_home_with_key(dir: &Path) -> PathBuf {
    let home = dir.join("dvc-home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::copy(&fixture().server.client_key, home.join(".ssh/id_ed25519")).unwrap();
    home
}

/// A consumer project (git + DVC) with a `Cargo.toml` holding `deps`.
#[cfg(feature = "cli")]
fn app(dir: &Path, deps: &str) {
    crate::support::consumer(dir);
    crate::support::write(
        dir,
        "Cargo.toml",
        format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n{deps}\n[workspace]\n"
        ),
    );
}

/// `path` (a file) holds the model, or (a folder) the directory's files.
#[track_caller]
fn assert_artifacts(model: &Path, data: &Path) {
    let fx = fixture();
    assert_eq!(
        std::fs::read(model).unwrap(),
        fx.model,
        "{}",
        model.display()
    );
    let mut found = BTreeMap::new();
    for file in crate::support::invariants::walk(data) {
        let rel = file
            .strip_prefix(data)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        found.insert(rel, std::fs::read(&file).unwrap());
    }
    assert_eq!(found, fx.dir_files, "{}", data.display());
}

#[cfg(feature = "cli")]
#[test]
fn ssh_cargo_dvc_import_writes_what_dvc_import_writes() {
    use crate::support::cargo_dvc;
    let fx = fixture();
    let tmp = tempdir();
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    app(&ours, "");
    crate::support::consumer(&theirs);
    let cache = tmp.path().join("cache");
    // Credentials the `~/.ssh/config` way: a config file naming the key.
    let command = fx
        .server
        .ssh_command(tmp.path(), "", None, Some(&fx.server.client_key));
    let dvc_home = dvc_home_with_key(tmp.path());
    let url = fx.registry.to_str().unwrap();
    for path in ["model.bin", "data"] {
        run(ssh_env(&mut cargo_dvc(&ours, &cache), &command).args(["import", "-q", url, path]));
        run(crate::support::dvc(&theirs)
            .env("HOME", &dvc_home)
            .args(["import", "-q", url, path]));
        let lock = format!("{path}.dvc");
        assert_eq!(
            std::fs::read_to_string(ours.join(&lock)).unwrap(),
            std::fs::read_to_string(theirs.join(&lock)).unwrap(),
            "{lock}"
        );
    }
    assert_artifacts(&theirs.join("model.bin"), &theirs.join("data"));
    // `cargo dvc pull` places what `dvc import` placed, and the real `dvc`
    // finds nothing to do.
    run(ssh_env(&mut cargo_dvc(&ours, &cache), &command).args(["pull", "-q"]));
    assert_artifacts(&ours.join("model.bin"), &ours.join("data"));
    let status =
        crate::support::run_stdout(crate::support::dvc(&ours).env("HOME", &dvc_home).args([
            "status",
            "model.bin.dvc",
            "data.dvc",
        ]));
    assert!(status.contains("up to date"), "{status}");
}

#[cfg(feature = "cli")]
#[test]
fn ssh_cargo_dvc_with_agent_and_host_alias() {
    use crate::support::cargo_dvc;
    let fx = fixture();
    let tmp = tempdir();
    // The registry's remote, renamed by a `Host` alias that also gives the
    // port and the user; the key only in ssh-agent.
    let alias_url = format!("ssh://dvc-test-alias{}", fx.server.storage(STORE).display());
    let url = fx.registry.to_str().unwrap();
    let dep = |name: &str, path: &str| {
        format!(
            "[package.metadata.dvc.deps.{name}]\nurl = {url:?}\npath = {path:?}\n\
             remote = {{ url = {alias_url:?} }}\n"
        )
    };
    let krate = tmp.path().join("app");
    app(
        &krate,
        &format!("{}\n{}", dep("model", "model.bin"), dep("data", "data")),
    );
    let command = fx.server.ssh_command(
        tmp.path(),
        &format!(
            "Host dvc-test-alias\n  HostName 127.0.0.1\n  Port {}\n  User {}\n",
            fx.server.port, fx.server.user
        ),
        None,
        None,
    );
    let agent = Agent::start(tmp.path(), &fx.server.client_key);
    let cache = tmp.path().join("cache");
    run(ssh_env(&mut cargo_dvc(&krate, &cache), &command)
        .env("SSH_AUTH_SOCK", &agent.socket)
        .args(["pull", "-q"]));
    assert_artifacts(&krate.join("model.bin"), &krate.join("data"));
    let lock = std::fs::read_to_string(krate.join("model.bin.dvc")).unwrap();
    assert!(lock.contains("ssh://dvc-test-alias"), "{lock}");
}

#[cfg(feature = "cli")]
#[test]
fn ssh_cargo_dvc_refusals_name_the_dependency_and_write_nothing() {
    use crate::support::{cargo_dvc, run_fail};
    let fx = fixture();
    let url = fx.registry.to_str().unwrap();
    let port = fx.server.port;
    let tmp = tempdir();
    let stranger = tmp.path().join("stranger");
    keygen(&stranger, "not authorized");
    let impostor = tmp.path().join("impostor");
    keygen(&impostor, "impostor");
    let empty = tmp.path().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let changed = tmp.path().join("changed_known_hosts");
    std::fs::write(
        &changed,
        format!(
            "[127.0.0.1]:{port} {}\n",
            crate::support::sshd::public_key(&impostor)
        ),
    )
    .unwrap();
    let key = fx.server.client_key.as_path();
    let cases: [(&str, Option<&Path>, &Path, &str); 3] = [
        ("wrong key", None, &stranger, "refused the login"),
        ("unknown host key", Some(&empty), key, "host key is unknown"),
        (
            "changed host key",
            Some(&changed),
            key,
            "host key has CHANGED",
        ),
    ];
    for (what, known_hosts, identity, expect) in cases {
        let dir = tmp.path().join(what.replace(' ', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        let krate = dir.join("app");
        app(&krate, "");
        let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
        let command = fx.server.ssh_command(&dir, "", known_hosts, Some(identity));
        let cache = dir.join("cache");
        let started = Instant::now();
        let err = run_fail(ssh_env(&mut cargo_dvc(&krate, &cache), &command).args([
            "import",
            url,
            "model.bin",
        ]));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what}: {:?}",
            started.elapsed()
        );
        assert!(err.contains(expect), "{what}: {err}");
        eprintln!("REFUSAL {what}: {err}");
        assert!(
            err.contains("`model`") || err.contains("model.bin"),
            "{what}: {err}"
        );
        assert!(err.contains("help:"), "{what}: {err}");
        assert!(
            !krate.join("model.bin.dvc").exists(),
            "{what}: a lock was written"
        );
        assert!(
            !krate.join("model.bin").exists(),
            "{what}: a file was placed"
        );
        assert_eq!(
            std::fs::read_to_string(krate.join("Cargo.toml")).unwrap(),
            manifest,
            "{what}: Cargo.toml changed"
        );
        if let Some(kh) = known_hosts {
            let before = if kh == empty {
                String::new()
            } else {
                std::fs::read_to_string(&changed).unwrap()
            };
            assert_eq!(std::fs::read_to_string(kh).unwrap(), before, "{what}");
        }
    }
}

#[cfg(feature = "cli")]
#[test]
fn ssh_password_in_an_uncommitted_config_never_reaches_a_lock_or_output() {
    use crate::support::cargo_dvc;
    let fx = fixture();
    let tmp = tempdir();
    let password = "Pa55-in-config-file-4d2";
    let server = PasswordServer::start(tmp.path(), password);
    let url = fx.registry.to_str().unwrap();
    let krate = tmp.path().join("app");
    app(
        &krate,
        &format!(
            "[package.metadata.dvc.deps.model]\nurl = {url:?}\npath = \"model.bin\"\n\
             remote = \"pwstore\"\nconfig = \"secret.dvcconfig\"\n"
        ),
    );
    crate::support::write(
        &krate,
        "secret.dvcconfig",
        format!(
            "['remote \"pwstore\"']\n    url = {}\n    user = dvcuser\n    password = {password}\n",
            server.url()
        ),
    );
    let command = server.ssh_command(tmp.path());
    let cache = tmp.path().join("cache");
    let out = run(ssh_env(&mut cargo_dvc(&krate, &cache), &command).args(["pull", "-v"]));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(krate.join("model.bin")).unwrap(), fx.model);
    let lock = std::fs::read_to_string(krate.join("model.bin.dvc")).unwrap();
    assert!(lock.contains("secret.dvcconfig"), "{lock}");
    assert!(
        !lock.contains(password) && !text.contains(password),
        "{lock}\n{text}"
    );
    for file in crate::support::invariants::walk(&cache) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "{}",
            file.display()
        );
    }
}

/// The consumer's program: the model's length and byte sum, and every file
/// of the directory with its length.
const CONSUMER_MAIN: &str = r#"
static MODEL: &[u8] = include_bytes!(env!("DVC_MODEL"));
fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(base, &path, out);
        } else {
            let len = std::fs::metadata(&path).unwrap().len();
            out.push(format!("{} {len}", path.strip_prefix(base).unwrap().display()));
        }
    }
}
fn main() {
    let sum: u64 = MODEL.iter().map(|&b| u64::from(b)).sum();
    println!("model {} {sum}", MODEL.len());
    let data = std::path::Path::new(env!("DVC_DATA"));
    let mut files = Vec::new();
    walk(data, data, &mut files);
    files.sort();
    for f in files {
        println!("data {f}");
    }
}
"#;

#[test]
fn ssh_build_script_fetches_through_a_consumer_crate() {
    use crate::support::{cargo, consumer_bin, write_crate};
    let fx = fixture();
    let tmp = tempdir();
    let url = fx.registry.to_str().unwrap();
    let key = fx.server.client_key.to_str().unwrap();
    // The key through the remote's `keyfile` option, in the declaration's
    // `config` table (it is no secret); no key in the ssh config.
    let config = format!("config = {{ remote = {{ sshstore = {{ keyfile = {key:?} }} }} }}\n");
    let metadata = format!(
        "[package.metadata.dvc.deps.model]\nurl = {url:?}\npath = \"model.bin\"\n{config}\n\
         [package.metadata.dvc.deps.data]\nurl = {url:?}\npath = \"data\"\n{config}"
    );
    let krate = tmp.path().join("consumer");
    std::fs::create_dir_all(&krate).unwrap();
    write_crate(&krate, "ssh-consumer", &metadata, CONSUMER_MAIN, false);
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    let only_ssh = manifest.replace("features = [\"http\"]", "features = [\"ssh\"]");
    assert_ne!(manifest, only_ssh);
    std::fs::write(krate.join("Cargo.toml"), only_ssh).unwrap();
    let command = fx.server.ssh_command(tmp.path(), "", None, None);
    let cache = tmp.path().join("cache");
    run(ssh_env(&mut cargo(&krate, &cache), &command).args(["build", "-q"]));
    let out = crate::support::run_stdout(&mut std::process::Command::new(consumer_bin(
        "ssh-consumer",
    )));
    let sum: u64 = fx.model.iter().map(|&b| u64::from(b)).sum();
    let mut want = vec![format!("model {} {sum}", fx.model.len())];
    want.extend(
        fx.dir_files
            .iter()
            .map(|(rel, bytes)| format!("data {rel} {}", bytes.len())),
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    assert!(krate.join("model.bin.dvc").exists() && krate.join("data.dvc").exists());
}

#[test]
fn ssh_info_and_list_for_url_sources() {
    let fx = fixture();
    let tmp = tempdir();
    let base = fx.server.storage("listing");
    for (rel, data) in [
        ("top.bin", &b"top"[..]),
        ("d/a.txt", b"alpha\n"),
        ("d/sub/b.txt", b"beta beta\n"),
        ("d/sub/deeper/c.txt", b""),
    ] {
        crate::support::write(&base, rel, data);
    }
    std::os::unix::fs::symlink(base.join("top.bin"), base.join("d/link-to-file")).unwrap();
    std::os::unix::fs::symlink(base.join("d/sub"), base.join("d/link-to-dir")).unwrap();
    std::os::unix::fs::symlink(base.join("nowhere"), base.join("d/dangling")).unwrap();
    let url = format!("ssh://127.0.0.1:{}{}", fx.server.port, base.display());
    let remote = remote_in(tmp.path(), &url, &[]);
    let info = remote.info("top.bin").unwrap().expect("a file");
    assert_eq!(info.size, Some(3));
    assert_eq!(info.pin, dvc_build::__private::remote::Pin::ContentMd5);
    assert!(remote.info("d").unwrap().is_none(), "a folder is no object");
    assert!(remote.info("nope").unwrap().is_none());
    let listed: Vec<(String, Option<u64>)> = remote
        .list("d")
        .unwrap()
        .into_iter()
        .map(|(rel, info)| (rel, info.size))
        .collect();
    assert_eq!(
        listed,
        [
            ("a.txt".to_string(), Some(6)),
            ("link-to-file".to_string(), Some(3)),
            ("sub/b.txt".to_string(), Some(10)),
            ("sub/deeper/c.txt".to_string(), Some(0)),
        ]
    );
    assert!(remote.list("nope").unwrap().is_empty());
    assert!(remote.list("top.bin").unwrap().is_empty());
    // The URL of the folder itself, and of the server's root.
    let remote = remote_in(tmp.path(), &format!("{url}/d/sub"), &[]);
    assert_eq!(remote.list("").unwrap().len(), 2);
    let at_root = remote_in(
        tmp.path(),
        &format!("ssh://127.0.0.1:{}/", fx.server.port),
        &[],
    );
    let top = base.join("top.bin");
    let rel = top.to_str().unwrap().trim_start_matches('/');
    assert_eq!(at_root.info(rel).unwrap().and_then(|i| i.size), Some(3));
}

#[cfg(feature = "cli")]
#[test]
fn ssh_cargo_dvc_import_url_writes_what_dvc_import_url_writes() {
    use crate::support::cargo_dvc;
    let fx = fixture();
    let tmp = tempdir();
    let base = fx.server.storage("import-url");
    crate::support::write(&base, "model.bin", pseudo_random(50_000, 31));
    crate::support::write(&base, "set/a.txt", "alpha\n");
    crate::support::write(&base, "set/sub/b.txt", "beta\n");
    let url = |rel: &str| {
        format!(
            "ssh://{}@127.0.0.1:{}{}/{rel}",
            fx.server.user,
            fx.server.port,
            base.display()
        )
    };
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    app(&ours, "");
    crate::support::consumer(&theirs);
    let command = fx
        .server
        .ssh_command(tmp.path(), "", None, Some(&fx.server.client_key));
    let dvc_home = dvc_home_with_key(tmp.path());
    let cache = tmp.path().join("cache");
    for (rel, out) in [("model.bin", "model.bin"), ("set", "set")] {
        run(ssh_env(&mut cargo_dvc(&ours, &cache), &command).args([
            "import-url",
            "-q",
            &url(rel),
            out,
        ]));
        run(crate::support::dvc(&theirs).env("HOME", &dvc_home).args([
            "import-url",
            "-q",
            &url(rel),
            out,
        ]));
        let lock = format!("{out}.dvc");
        assert_eq!(
            std::fs::read_to_string(ours.join(&lock)).unwrap(),
            std::fs::read_to_string(theirs.join(&lock)).unwrap(),
            "{lock}"
        );
    }
    run(ssh_env(&mut cargo_dvc(&ours, &cache), &command).args(["pull", "-q"]));
    assert_eq!(
        crate::support::tree(&ours.join("set")),
        crate::support::tree(&theirs.join("set"))
    );
    assert_eq!(
        std::fs::read(ours.join("model.bin")).unwrap(),
        std::fs::read(theirs.join("model.bin")).unwrap()
    );
}

#[test]
fn ssh_one_connection_serves_a_whole_directory_and_every_remote_of_the_host() {
    let fx = fixture();
    let tmp = tempdir();
    // 300 small files, pushed as objects.
    let files: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| {
            (
                format!("f{i:03}.bin"),
                pseudo_random(100 + i * 13, 1000 + i as u64),
            )
        })
        .collect();
    let entries: Vec<(String, Md5)> = files
        .iter()
        .map(|(rel, data)| (rel.clone(), put(data).md5))
        .collect();
    let dir_key = ObjectKey {
        md5: Md5::of(b"a directory"),
        is_dir: true,
        layout: Layout::V3,
    };
    let proxy = CuttingProxy::start(fx.server.port, u64::MAX);
    // Two remotes to the same server (as two dependencies would be).
    let first = remote_via(tmp.path(), &proxy);
    let second = remote_via(tmp.path(), &proxy);
    let cache = Cache::open(tmp.path().join("cache")).unwrap();
    let dir = dvc_build::__private::transfer::fetch_dir(&first, &cache, dir_key, &entries).unwrap();
    assert_eq!(dir.files.len(), files.len());
    for ((_, data), (_, cached)) in files.iter().zip(&dir.files) {
        assert_eq!(&std::fs::read(&cached.path).unwrap(), data);
    }
    let other = pseudo_random(5000, 77);
    let key = put(&other);
    let file = fetch_file_with(&second, &cache, key, Some(5000), &quick()).unwrap();
    assert_eq!(std::fs::read(&file.path).unwrap(), other);
    assert_eq!(proxy.connections.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------
// Files and folders on an SSH server as URL dependencies
// (`dvc import-url ssh://...`).

#[cfg(feature = "cli")]
#[test]
fn ssh_url_imports_of_a_file_and_a_folder_lock_as_dvc_import_url() {
    let fx = fixture();
    let tmp = tempdir();
    let dvc_home = dvc_home_with_key(tmp.path());
    let command = fx
        .server
        .ssh_command(tmp.path(), "", None, Some(&fx.server.client_key));
    let twins = crate::url::Twins::new()
        .with_env("HOME", dvc_home.to_str().unwrap())
        .with_env("DVC_BUILD_SSH_COMMAND", &command);
    let name = crate::support::cloud::unique("urls");
    let folder = fx.server.storage(&name);
    let model = pseudo_random(150_000, 41);
    crate::support::write(&folder, "model.bin", &model);
    crate::support::write(&folder, "dir/a.txt", "a\n");
    crate::support::write(&folder, "dir/sub/b.txt", "bb\n");
    let user = format!("user={}", fx.server.user);
    for (key, out) in [("model.bin", "model.bin"), ("dir", "dir")] {
        let url = format!("{}/{key}", fx.server.url(&name));
        twins.dvc_import(&url, out, &["--fs-config", &user]);
        twins.import(&url, out, &["--fs-config", &user]);
        twins.assert_same(&format!("{out}.dvc"));
    }
    // A change: `status` sees it from the sizes (only a download can hash
    // a file on a server); dvc update and cargo dvc update agree.
    crate::support::write(&folder, "model.bin", "v2");
    crate::support::write(&folder, "dir/sub/c.txt", "new\n");
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
