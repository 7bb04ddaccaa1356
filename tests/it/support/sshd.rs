//! A real OpenSSH server for the `ssh://` remote tests: Debian's `sshd`
//! (installed by `build-support/install-test-tools.sh`), run in the
//! foreground with its own config, host key, client key, `authorized_keys`
//! and `known_hosts`, all in a temp folder, on 127.0.0.1 and a free port.
//! The system's sshd and `/etc/ssh` are never used; every `ssh` the tests
//! start reads only a config file written here (`ssh -F`), never `~/.ssh`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{free_port, run, run_stdout};

/// The login name of the user running the tests (sshd started by that user
/// can only log that user in).
pub fn login_user() -> String {
    run_stdout(Command::new("id").arg("-un"))
}

/// Makes an ed25519 key pair at `path` (and `path.pub`).
pub fn keygen(path: &Path, comment: &str) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path));
}

/// The public half of a key pair, `type base64` (no comment).
pub fn public_key(path: &Path) -> String {
    let text = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `sshd -D -e -f <config>` under a watchdog that stops it (and removes its
/// folder) once the test process is gone.
pub struct Sshd {
    /// The server's folder: keys, config, log; `storage/` for remotes.
    pub root: PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// The client key that `authorized_keys` accepts.
    pub client_key: PathBuf,
    /// A `known_hosts` holding the server's key for `[127.0.0.1]:port`.
    pub known_hosts: PathBuf,
    /// The user to log in as.
    pub user: String,
    _watchdog: Child,
}

impl Sshd {
    /// Starts a server in a new temp folder (kept until the test process
    /// ends; the watchdog removes it).
    pub fn start() -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: run build-support/install-test-tools.sh \
             (the README's test command does)"
        );
        let root = tempfile::Builder::new()
            .prefix("dvc-build-sshd-")
            .tempdir()
            .expect("temp dir")
            .keep();
        std::fs::create_dir_all(root.join("storage")).unwrap();
        let host_key = root.join("host_key");
        let client_key = root.join("id_ed25519");
        keygen(&host_key, "dvc-build-test-host");
        keygen(&client_key, "dvc-build-test-client");
        let authorized = root.join("authorized_keys");
        std::fs::write(&authorized, public_key(&client_key) + "\n").unwrap();
        let port = free_port();
        let known_hosts = root.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", public_key(&host_key)),
        )
        .unwrap();
        let config = root.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\n\
                 AuthorizedKeysFile {}\nStrictModes no\nPubkeyAuthentication yes\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nUsePAM no\nMaxStartups 100\n\
                 MaxSessions 100\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n",
                host_key.display(),
                authorized.display()
            ),
        )
        .unwrap();
        let test = Command::new(sshd).arg("-t").arg("-f").arg(&config).output();
        let test = test.expect("run sshd -t");
        assert!(
            test.status.success(),
            "sshd -t refused its config: {}",
            String::from_utf8_lossy(&test.stderr)
        );
        // The watchdog: start sshd, wait for the test process or sshd to go
        // away, then stop sshd and remove the folder.
        let script = r#"
            "$SSHD" -D -e -f "$CONFIG" >"$ROOT/sshd.log" 2>&1 &
            S=$!
            cleanup() {
                kill "$S" 2>/dev/null; wait "$S" 2>/dev/null
                rm -rf "$ROOT"; exit 0
            }
            trap cleanup INT TERM HUP
            while kill -0 "$PARENT" 2>/dev/null && kill -0 "$S" 2>/dev/null; do sleep 0.3; done
            cleanup
        "#;
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sshd-watchdog")
            .env("SSHD", sshd)
            .env("CONFIG", &config)
            .env("ROOT", &root)
            .env("PARENT", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the sshd watchdog");
        let server = Sshd {
            root,
            port,
            client_key,
            known_hosts,
            user: login_user(),
            _watchdog: watchdog,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("sshd.log")).unwrap_or_default()
    }

    /// `ssh://127.0.0.1:PORT<storage>/<name>`, the URL of a remote folder.
    pub fn url(&self, name: &str) -> String {
        format!(
            "ssh://127.0.0.1:{}{}",
            self.port,
            self.root.join("storage").join(name).display()
        )
    }

    /// The folder behind [`Sshd::url`].
    pub fn storage(&self, name: &str) -> PathBuf {
        self.root.join("storage").join(name)
    }

    /// The host key's known_hosts line for `host` (e.g. `[127.0.0.1]:2222`).
    pub fn known_hosts_line(&self, host: &str) -> String {
        format!("{host} {}\n", public_key(&self.root.join("host_key")))
    }

    /// Writes an ssh client config to `dir/ssh_config` and returns the
    /// `DVC_BUILD_SSH_COMMAND` that uses it: `extra` first (so its `Host`
    /// blocks win), then `known_hosts` (default: the server's) and, unless
    /// `identity` is `None`, that key. Never reads `~/.ssh`.
    pub fn ssh_command(
        &self,
        dir: &Path,
        extra: &str,
        known_hosts: Option<&Path>,
        identity: Option<&Path>,
    ) -> String {
        let config = dir.join("ssh_config");
        let identity = match identity {
            Some(key) => format!("  IdentityFile {}\n  IdentitiesOnly yes\n", key.display()),
            // A key that does not exist: only the agent's keys are offered.
            None => format!("  IdentityFile {}\n", dir.join("no-such-key").display()),
        };
        std::fs::write(
            &config,
            format!(
                "{extra}\nHost *\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n\
                 {identity}",
                known_hosts.unwrap_or(&self.known_hosts).display()
            ),
        )
        .unwrap();
        format!("ssh -F {}", config.display())
    }
}

/// `ssh-agent -D -a <socket>` holding one key; killed on drop.
pub struct Agent {
    child: Child,
    /// The agent's socket, for `SSH_AUTH_SOCK`.
    pub socket: PathBuf,
}

impl Agent {
    /// Starts an agent with its socket in `dir` and adds `key` to it.
    pub fn start(dir: &Path, key: &Path) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        let agent = Agent { child, socket };
        // The socket appears (bind) a moment before the agent listens:
        // retry until it takes the key.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let added = Command::new("ssh-add")
                .arg("-q")
                .arg(key)
                .env("SSH_AUTH_SOCK", &agent.socket)
                .stdin(Stdio::null())
                .output()
                .expect("run ssh-add");
            if added.status.success() {
                return agent;
            }
            assert!(
                Instant::now() < deadline,
                "ssh-add failed: {}",
                String::from_utf8_lossy(&added.stderr)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy on loopback in front of `target_port` that, on its first
/// connection only, drops the connection once `cut_after` bytes went from
/// the server to the client. Counts connections and bytes; stops on drop.
pub struct CuttingProxy {
    /// The port clients connect to.
    pub port: u16,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// Bytes sent from the server to clients, all connections.
    pub downstream: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl CuttingProxy {
    /// Starts the proxy.
    pub fn start(target_port: u16, cut_after: u64) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let downstream = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (conns, down, stopping) = (connections.clone(), downstream.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let n = conns.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                let limit = if n == 0 { cut_after } else { u64::MAX };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let down = down.clone();
                // client -> server
                std::thread::spawn(move || pump(c2, s2, None, None));
                // server -> client, cut after `limit` bytes
                std::thread::spawn(move || pump(server, client, Some(limit), Some(down)));
            }
        });
        // Bound above: connections wait in the backlog until accepted.
        CuttingProxy {
            port,
            connections,
            downstream,
            stop,
        }
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, limit: Option<u64>, count: Option<Arc<AtomicU64>>) {
    let mut buf = [0u8; 16 << 10];
    let mut sent = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let n = match limit {
            Some(limit) if sent + n as u64 >= limit => {
                let part = (limit - sent) as usize;
                let _ = to.write_all(&buf[..part]);
                if let Some(c) = &count {
                    c.fetch_add(part as u64, Ordering::SeqCst);
                }
                break;
            }
            _ => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
        if let Some(c) = &count {
            c.fetch_add(n as u64, Ordering::SeqCst);
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
