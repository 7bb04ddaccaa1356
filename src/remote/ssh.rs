//! DVC's `ssh://[user@]host[:port]/path` remote, read over SFTP through the
//! `ssh` program.
//!
//! We drive the OpenSSH client as git does (`ssh ... -s HOST sftp`), so the
//! user's `~/.ssh/config` (host aliases, `HostName`, `Port`, `User`,
//! `IdentityFile`, `ProxyJump`, ...), ssh-agent, keys and `known_hosts` work
//! as they do for `ssh` itself, and no SSH or crypto code is compiled into
//! every build. The SFTP protocol spoken over the child's pipes is our own
//! small client (`ssh/sftp.rs`): one connection per host and run, shared by every
//! thread, many requests outstanding at once (a large object streams with
//! several reads in flight; a 2,000-file directory is fetched over one
//! connection).
//!
//! # Remote options
//!
//! DVC's own, from the remote's section of `.dvc/config` (or a dependency's
//! `remote`/`config` table, or an uncommitted config file):
//!
//! | option | meaning |
//! | --- | --- |
//! | `user` | the login name (beats the URL's `user@`, which beats `User` in `~/.ssh/config`) |
//! | `port` | the port (beats the URL's `:port`, which beats `Port` in `~/.ssh/config`; default 22) |
//! | `keyfile` | a private key (`ssh -i`; `~/` is the home folder); agent keys are still offered, as in DVC |
//! | `password` | a password, for servers that take one (see below); also `user:password@` in the URL |
//! | `passphrase` | the passphrase of an encrypted key (see below) |
//! | `timeout` | seconds to connect (`ConnectTimeout`; twice that to log in) and for each reply (default 60; DVC's default, 1800, is too long for a build) |
//! | `gss_auth` | `true`: try Kerberos (`GSSAPIAuthentication=yes`) |
//! | `allow_agent` | `false`: do not use ssh-agent (`IdentityAgent=none`; DVC ignores this option) |
//!
//! We ask for OpenSSH's default ciphers with AES-GCM first (as DVC's ssh
//! plugin does); a `Ciphers` line of the user's ssh config is overridden.
//!
//! `ask_password` and `ask_passphrase` are ignored: dvc-build never prompts
//! (it runs in build scripts, without a terminal). `max_sessions` is ignored
//! (one SFTP channel carries every request). The generic options (`jobs`,
//! `verify`, ...) do not apply.
//!
//! # Where credentials come from
//!
//! ssh's own order: the `user`/`port`/`keyfile` options and the URL become
//! command-line arguments, which beat `~/.ssh/config`; then ssh offers agent
//! keys, the `keyfile` (or the config's `IdentityFile`s, or the default
//! `~/.ssh/id_*`), and, only when `password` is set, the password. `ssh`
//! runs with `BatchMode=yes`: it never asks anything. With a `password` or
//! `passphrase` it runs with `BatchMode=no` instead, its prompts answered by
//! a helper script (`SSH_ASKPASS` with `SSH_ASKPASS_REQUIRE=force`, OpenSSH
//! 8.4 or newer) that reads the secret from a file only the user can read, in
//! a private temporary folder removed once the login is done; any other
//! prompt is refused, and `NumberOfPasswordPrompts=1` stops a wrong password
//! from being retried. Secrets are never on a command line, in the
//! environment of `ssh`, in a message or in a lock.
//!
//! # Host keys
//!
//! DVC (asyncssh) never checks the server's host key. We do: `ssh` runs with
//! `StrictHostKeyChecking=yes` and `UpdateHostKeys=no`, so a host whose key
//! is not in `known_hosts` is refused, a key that changed is refused, and no
//! key is ever added. Each refusal is a clear error naming the host and
//! saying what to check and how to record the right key.
//!
//! # The `ssh` program
//!
//! `ssh` from `PATH`, or the command in `DVC_BUILD_SSH_COMMAND` (split into
//! words as a shell would: quotes and backslashes, no expansion), for example
//! `ssh -F /path/to/ssh_config`. Our options come after its words.
//!
//! # Failures
//!
//! A refused login, an unknown or changed host key, a missing SFTP subsystem
//! or a bad option are permanent (the same error again on every later
//! request of the run, without a new connection). A connection that cannot
//! be made, or that drops, is transient: the next request connects again,
//! and `transfer` resumes the download from the bytes it has.

mod sftp;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use self::sftp::{Connection, FileReader, SftpError};
use super::{Body, FetchError, ObjectInfo, Pin, Remote};
use crate::error::{Error, ErrorKind, Result};
use crate::redact;

/// Default for `timeout` (seconds).
const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// The size asked for the pipe `ssh` writes SFTP replies into.
#[cfg(target_os = "linux")]
const PIPE_SIZE: usize = 1 << 20;

/// Ciphers in the order we prefer them: OpenSSH's default set with
/// AES-GCM first (hardware AES makes it the cheapest for bulk data, and
/// DVC's ssh plugin also asks for `aes128-gcm@openssh.com` first). Listed in
/// full rather than with `^` (OpenSSH 8.2+) so that older clients take it.
const CIPHERS: &str = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,\
    chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr";

/// The stderr of `ssh` kept for messages (its tail).
const STDERR_KEPT: usize = 8 << 10;

/// How to reach one server: everything that makes two connections
/// interchangeable. Two remotes with equal targets share one connection.
#[derive(Clone, PartialEq, Eq)]
struct Target {
    /// The `ssh` program and its leading arguments.
    command: Vec<OsString>,
    /// Our arguments, the host last.
    args: Vec<OsString>,
    /// The host (or `~/.ssh/config` alias), the user and port as given.
    host: String,
    user: Option<String>,
    port: Option<u16>,
    /// `SSH_AUTH_SOCK` for the child: `None` removes it.
    agent: Option<OsString>,
    /// Password and passphrase. Never printed.
    secrets: Secrets,
    timeout: Duration,
}

#[derive(Clone, Default, PartialEq, Eq)]
struct Secrets {
    password: Option<String>,
    passphrase: Option<String>,
}

impl Secrets {
    fn any(&self) -> bool {
        self.password.is_some() || self.passphrase.is_some()
    }
}

impl Target {
    /// `user@host:port` as far as we know them, for messages.
    fn shown(&self) -> String {
        let mut s = String::new();
        if let Some(user) = &self.user {
            s.push_str(user);
            s.push('@');
        }
        s.push_str(&self.host);
        if let Some(port) = self.port {
            s.push_str(&format!(":{port}"));
        }
        s
    }
}

/// A DVC remote on an SSH server, read over SFTP.
///
/// `Debug` shows the URL (without any password) and never a secret.
pub struct SshRemote {
    /// The URL for messages.
    shown: String,
    /// The remote's folder on the server, without a trailing `/` (empty:
    /// the login folder).
    root: String,
    target: Arc<Target>,
    slot: Mutex<Slot>,
}

impl std::fmt::Debug for SshRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshRemote")
            .field("url", &self.shown)
            .field("host", &self.target.shown())
            .field(
                "password",
                &self.target.secrets.password.as_ref().map(|_| "***"),
            )
            .finish_non_exhaustive()
    }
}

/// This remote's connection, or why it cannot have one.
enum Slot {
    Empty,
    Live(Arc<Session>),
    /// A permanent failure, repeated without connecting again.
    Failed {
        kind: ErrorKind,
        message: String,
        help: Option<String>,
    },
}

/// Opens the SSH remote at `url` (`ssh://[user@]host[:port]/path`) with DVC's
/// remote `options`, reading the process environment (`HOME`,
/// `SSH_AUTH_SOCK`, `DVC_BUILD_SSH_COMMAND`). Makes no connection.
///
/// # Errors
///
/// A malformed URL or option ([`ErrorKind::Manifest`]).
pub fn open(url: &str, options: &BTreeMap<String, String>) -> Result<SshRemote> {
    SshRemote::open_with_env(url, options, &|name| std::env::var_os(name))
}

impl SshRemote {
    /// As [`open`], reading environment variables through `env`.
    ///
    /// # Errors
    ///
    /// As [`open`].
    pub fn open_with_env(
        url: &str,
        options: &BTreeMap<String, String>,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<SshRemote> {
        let shown = redact::url(url).trim_end_matches('/').to_string();
        let config_error = |msg: String| {
            Error::new(ErrorKind::Manifest, format!("ssh remote `{shown}`: {msg}")).with_help(
                "fix the remote's options in the source project's `.dvc/config`, \
                 or in `remote =`/`config =`",
            )
        };
        let opt = |name: &str| {
            options
                .get(name)
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
        };
        let parsed = parse_url(url).map_err(config_error)?;

        let user = opt("user").map(str::to_string).or(parsed.user);
        let port = match opt("port") {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| config_error(format!("`port = {p}` is not a port number")))?,
            ),
            None => parsed.port,
        };
        let timeout = match opt("timeout") {
            Some(t) => t
                .parse::<u64>()
                .ok()
                .filter(|&t| t > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    config_error(format!("`timeout = {t}` is not a number of seconds"))
                })?,
            None => Duration::from_secs(DEFAULT_TIMEOUT_SECS),
        };
        let flag = |name: &str| -> Result<Option<bool>> {
            match opt(name).map(str::to_ascii_lowercase).as_deref() {
                None => Ok(None),
                Some("true" | "yes" | "1" | "on") => Ok(Some(true)),
                Some("false" | "no" | "0" | "off") => Ok(Some(false)),
                Some(other) => Err(config_error(format!(
                    "`{name} = {other}` is neither true nor false"
                ))),
            }
        };
        let secrets = Secrets {
            password: options
                .get("password")
                .filter(|p| !p.is_empty())
                .cloned()
                .or(parsed.password),
            passphrase: options.get("passphrase").filter(|p| !p.is_empty()).cloned(),
        };
        if let Some(user) = &user
            && (user.starts_with('-') || user.contains(['\n', '\r', '\0']))
        {
            return Err(config_error(format!(
                "`{}` is not a user name",
                user.escape_debug()
            )));
        }

        let command = match env("DVC_BUILD_SSH_COMMAND").filter(|c| !c.is_empty()) {
            Some(cmd) => {
                let text = cmd.to_string_lossy();
                match split_words(&text) {
                    Some(words) if !words.is_empty() => {
                        words.into_iter().map(OsString::from).collect()
                    }
                    _ => {
                        return Err(Error::new(
                            ErrorKind::Manifest,
                            format!(
                                "DVC_BUILD_SSH_COMMAND `{}` is not a command (unbalanced quotes?)",
                                text.escape_debug()
                            ),
                        ));
                    }
                }
            }
            None => vec![OsString::from("ssh")],
        };

        let mut args: Vec<OsString> = Vec::new();
        let mut o = |setting: String| {
            args.push("-o".into());
            args.push(setting.into());
        };
        o(format!(
            "BatchMode={}",
            if secrets.any() { "no" } else { "yes" }
        ));
        o("StrictHostKeyChecking=yes".into());
        o("UpdateHostKeys=no".into());
        o(format!("ConnectTimeout={}", timeout.as_secs()));
        o("ServerAliveInterval=15".into());
        o("ServerAliveCountMax=4".into());
        o("ForwardAgent=no".into());
        o("ForwardX11=no".into());
        o("ClearAllForwardings=yes".into());
        o("PermitLocalCommand=no".into());
        o("ControlMaster=no".into());
        o(format!("Ciphers={CIPHERS}"));
        if flag("allow_agent")? == Some(false) {
            o("IdentityAgent=none".into());
        }
        if flag("gss_auth")? == Some(true) {
            o("GSSAPIAuthentication=yes".into());
        }
        if secrets.any() {
            o("NumberOfPasswordPrompts=1".into());
        }
        if secrets.password.is_some() {
            o("PasswordAuthentication=yes".into());
            o("KbdInteractiveAuthentication=yes".into());
        }
        args.push("-T".into());
        if let Some(user) = &user {
            args.push("-l".into());
            args.push(user.into());
        }
        if let Some(port) = port {
            args.push("-p".into());
            args.push(port.to_string().into());
        }
        if let Some(keyfile) = opt("keyfile") {
            args.push("-i".into());
            args.push(expand_home(keyfile, env));
        }
        args.extend(["-s", "--"].map(OsString::from));
        args.push(parsed.host.clone().into());
        args.push("sftp".into());

        let target = Target {
            command,
            args,
            host: parsed.host,
            user,
            port,
            agent: env("SSH_AUTH_SOCK").filter(|s| !s.is_empty()),
            secrets,
            timeout,
        };
        Ok(SshRemote {
            shown,
            root: match parsed.path.trim_end_matches('/') {
                "" if parsed.path.starts_with('/') => "/".to_string(),
                root => root.to_string(),
            },
            target: Arc::new(target),
            slot: Mutex::new(Slot::Empty),
        })
    }

    /// The remote's folder on the server, as given in its URL.
    pub fn root(&self) -> &str {
        &self.root
    }

    fn object_path(&self, rel_path: &str) -> String {
        let rel = rel_path.trim_matches('/');
        match self.root.as_str() {
            // `ssh://host`: relative to the login folder, as SFTP resolves it.
            "" if rel.is_empty() => ".".to_string(),
            "" => rel.to_string(),
            root if rel.is_empty() => root.to_string(),
            "/" => format!("/{rel}"),
            root => format!("{root}/{rel}"),
        }
    }

    /// The live connection: this remote's, another remote's to the same
    /// target, or a new one.
    fn session(&self) -> std::result::Result<Arc<Session>, FetchError> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Slot::Live(s) if !s.conn.is_closed() => return Ok(Arc::clone(s)),
            Slot::Failed {
                kind,
                message,
                help,
            } => {
                let mut err = Error::new(*kind, message.clone());
                if let Some(help) = help {
                    err = err.with_help(help.clone());
                }
                return Err(FetchError::Permanent(err));
            }
            _ => {}
        }
        match shared_session(&self.target) {
            Ok(s) => {
                *slot = Slot::Live(Arc::clone(&s));
                Ok(s)
            }
            Err(FetchError::Permanent(e)) => {
                *slot = Slot::Failed {
                    kind: e.kind(),
                    message: e.message().to_string(),
                    help: e.help().map(str::to_string),
                };
                Err(FetchError::Permanent(e))
            }
            Err(e) => {
                *slot = Slot::Empty;
                Err(e)
            }
        }
    }

    /// Maps a failed request on `path` to a fetch class.
    fn request_error(&self, session: &Session, path: &str, err: SftpError) -> FetchError {
        let host = self.target.shown();
        match err {
            SftpError::Status {
                code: sftp::FX_NO_SUCH_FILE,
                ..
            } => FetchError::NotFound(Error::new(
                ErrorKind::NotFound,
                format!("`{path}` does not exist on `{host}`"),
            )),
            SftpError::Status {
                code: sftp::FX_PERMISSION_DENIED,
                ..
            } => FetchError::Permanent(
                Error::new(
                    ErrorKind::Auth,
                    format!("`{path}` on `{host}`: permission denied"),
                )
                .with_help("the ssh user needs read access to the remote's folder on the server"),
            ),
            SftpError::Status {
                code: sftp::FX_NO_CONNECTION | sftp::FX_CONNECTION_LOST,
                ..
            } => FetchError::Transient(Error::new(
                ErrorKind::Remote,
                format!("`{path}` on `{host}`: {err}"),
            )),
            SftpError::Status { .. } => FetchError::Permanent(Error::new(
                ErrorKind::Remote,
                format!("`{path}` on `{host}`: {err}"),
            )),
            SftpError::Lost(_) | SftpError::Timeout | SftpError::Protocol(_) => {
                // The connection is no good any more: the next request makes
                // a new one.
                session.conn.shut(err.clone());
                let said = session.stderr_summary();
                let mut message = format!("sftp to `{host}`: {err}");
                if !said.is_empty() {
                    message.push_str(&format!(" (ssh: {said})"));
                }
                FetchError::Transient(Error::new(ErrorKind::Remote, message))
            }
        }
    }
}

impl Remote for SshRemote {
    fn display_url(&self) -> String {
        self.shown.clone()
    }

    fn open(
        &self,
        rel_path: &str,
        offset: u64,
        end: Option<u64>,
    ) -> std::result::Result<Body, FetchError> {
        if end.is_some_and(|end| end <= offset) {
            return Ok(Body {
                reader: Box::new(std::io::empty()),
                len: Some(0),
            });
        }
        let session = self.session()?;
        let path = self.object_path(rel_path);
        let handle = session
            .conn
            .open(path.as_bytes())
            .map_err(|e| self.request_error(&session, &path, e))?;
        // The size and the first reads go out together: one round trip.
        let stat = session.conn.fstat(&handle);
        let mut reader = FileReader::new(Live(Arc::clone(&session)), handle, offset, end);
        let size = stat
            .and_then(|pending| pending.wait_attrs())
            .map_err(|e| self.request_error(&session, &path, e))?
            .size;
        let len = match size {
            Some(size) => {
                reader.set_size(size);
                Some(end.unwrap_or(size).min(size).saturating_sub(offset))
            }
            None => None,
        };
        Ok(Body {
            reader: Box::new(reader),
            len,
        })
    }

    fn max_parallel(&self) -> usize {
        8
    }

    /// A regular file's size (symbolic links followed); `None` for a folder
    /// or nothing. DVC pins an `ssh://` URL import by the MD5 of its content
    /// (dvc-ssh computes it with `md5sum` on the server; we hash what we
    /// download).
    fn info(&self, rel_path: &str) -> std::result::Result<Option<ObjectInfo>, FetchError> {
        let session = self.session()?;
        let path = self.object_path(rel_path);
        match session.conn.stat(path.as_bytes()) {
            Ok(attrs) if attrs.is_file() => Ok(Some(ObjectInfo {
                size: attrs.size,
                pin: Pin::ContentMd5,
                version_id: None,
            })),
            Ok(_) => Ok(None),
            Err(SftpError::Status {
                code: sftp::FX_NO_SUCH_FILE,
                ..
            }) => Ok(None),
            Err(e) => Err(self.request_error(&session, &path, e)),
        }
    }

    /// Every regular file under the folder, at any depth (symbolic links to
    /// files followed, to folders not), sorted by relative path; empty when
    /// there is no such folder.
    fn list(&self, rel_path: &str) -> std::result::Result<Vec<(String, ObjectInfo)>, FetchError> {
        let session = self.session()?;
        let root = self.object_path(rel_path);
        let mut out = Vec::new();
        let mut pending = vec![(root.clone(), String::new())];
        while let Some((dir, prefix)) = pending.pop() {
            let entries = match session.conn.read_dir(dir.as_bytes()) {
                Ok(entries) => entries,
                // No such folder, or a file: nothing under it.
                Err(SftpError::Status { .. })
                    if dir == root
                        && !matches!(session.conn.stat(dir.as_bytes()), Ok(a) if a.is_dir()) =>
                {
                    return Ok(out);
                }
                Err(e) => return Err(self.request_error(&session, &dir, e)),
            };
            for (name, attrs) in entries {
                let name = String::from_utf8(name).map_err(|e| {
                    FetchError::Permanent(Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            "`{dir}/{}` on `{}` has a name that is not UTF-8",
                            String::from_utf8_lossy(e.as_bytes()),
                            self.target.shown()
                        ),
                    ))
                })?;
                let path = format!("{dir}/{name}");
                let rel = format!("{prefix}{name}");
                let attrs = if attrs.is_symlink() || attrs.mode.is_none() {
                    match session.conn.stat(path.as_bytes()) {
                        // A link to a folder is not followed (no loops).
                        Ok(target) if target.is_file() || attrs.mode.is_none() => target,
                        Ok(_) => continue,
                        // A dangling link.
                        Err(SftpError::Status {
                            code: sftp::FX_NO_SUCH_FILE,
                            ..
                        }) => continue,
                        Err(e) => return Err(self.request_error(&session, &path, e)),
                    }
                } else {
                    attrs
                };
                if attrs.is_dir() {
                    pending.push((path, format!("{rel}/")));
                } else if attrs.is_file() {
                    out.push((
                        rel,
                        ObjectInfo {
                            size: attrs.size,
                            pin: Pin::ContentMd5,
                            version_id: None,
                        },
                    ));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// A session held by a reader.
struct Live(Arc<Session>);

impl AsRef<Connection> for Live {
    fn as_ref(&self) -> &Connection {
        &self.0.conn
    }
}

/// One `ssh` child and the SFTP session over its pipes.
struct Session {
    conn: Connection,
    child: Mutex<Child>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Session {
    /// The last lines `ssh` printed, as one line (empty if none).
    fn stderr_summary(&self) -> String {
        // Give a dying `ssh` a moment to say why.
        let deadline = Instant::now() + Duration::from_millis(300);
        loop {
            let exited = self
                .child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_wait()
                .map_or(true, |s| s.is_some());
            if exited || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        summary(&tail_text(&self.stderr))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.conn
            .shut(SftpError::Lost("the session was closed".into()));
        // Closing its input ends `ssh` cleanly; kill it if it lingers.
        self.conn.close_output();
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + Duration::from_millis(500);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Sessions of this process by target, so that remotes that reach the same
/// server share one connection.
static SESSIONS: Mutex<Vec<(Arc<Target>, Weak<Session>)>> = Mutex::new(Vec::new());

fn shared_session(target: &Arc<Target>) -> std::result::Result<Arc<Session>, FetchError> {
    let mut sessions = SESSIONS.lock().unwrap_or_else(|e| e.into_inner());
    sessions.retain(|(_, s)| s.strong_count() > 0);
    if let Some(live) = sessions
        .iter()
        .filter(|(t, _)| **t == **target)
        .filter_map(|(_, s)| s.upgrade())
        .find(|s| !s.conn.is_closed())
    {
        return Ok(live);
    }
    let session = Arc::new(connect(target)?);
    sessions.push((Arc::clone(target), Arc::downgrade(&session)));
    Ok(session)
}

/// Starts `ssh` and an SFTP session over its pipes.
fn connect(target: &Target) -> std::result::Result<Session, FetchError> {
    let host = target.shown();
    let askpass = if target.secrets.any() {
        Some(askpass::Askpass::new(target)?)
    } else {
        None
    };
    let Some(program) = target.command.first() else {
        return Err(FetchError::Permanent(Error::new(
            ErrorKind::Manifest,
            "DVC_BUILD_SSH_COMMAND is empty",
        )));
    };
    let mut cmd = Command::new(program);
    cmd.args(&target.command[1..])
        .args(&target.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match &target.agent {
        Some(sock) => cmd.env("SSH_AUTH_SOCK", sock),
        None => cmd.env_remove("SSH_AUTH_SOCK"),
    };
    match &askpass {
        Some(a) => {
            cmd.env("SSH_ASKPASS", a.script())
                .env("SSH_ASKPASS_REQUIRE", "force");
        }
        None => {
            cmd.env_remove("SSH_ASKPASS")
                .env_remove("SSH_ASKPASS_REQUIRE");
        }
    }
    let mut child = cmd.spawn().map_err(|e| {
        let shown = PathBuf::from(program).display().to_string();
        FetchError::Permanent(
            Error::new(
                ErrorKind::Remote,
                format!("ssh to `{host}`: cannot run `{shown}`"),
            )
            .with_source(e)
            .with_help("install the OpenSSH client (`ssh`), or name it in DVC_BUILD_SSH_COMMAND"),
        )
    })?;
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let stderr_done = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    if let Some(mut pipe) = child.stderr.take() {
        let (tail, done) = (Arc::clone(&stderr), Arc::clone(&stderr_done));
        let _ = std::thread::Builder::new()
            .name("dvc-build-ssh-stderr".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                    t.extend_from_slice(&buf[..n]);
                    if t.len() > STDERR_KEPT {
                        let cut = t.len() - STDERR_KEPT;
                        t.drain(..cut);
                    }
                }
                let (flag, cv) = &*done;
                *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
                cv.notify_all();
            });
    }
    // A deeper pipe from `ssh`: it writes a whole SFTP reply (up to 256
    // KiB) and more at once instead of waking our reader every 64 KiB (about
    // a tenth less CPU for a large object). The kernel may refuse (a
    // per-user limit): then the default stays.
    #[cfg(target_os = "linux")]
    if let Some(out) = &child.stdout {
        let _ = rustix::pipe::fcntl_setpipe_size(out, PIPE_SIZE);
    }
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(FetchError::Permanent(Error::new(
            ErrorKind::Remote,
            format!("ssh to `{host}`: no pipes to the child"),
        )));
    };
    // Logging in may take a while (a slow network, a jump host): the
    // connect timeout plus a reply's.
    let started = Connection::start(stdout, stdin, target.timeout * 2, target.timeout);
    drop(askpass);
    match started {
        Ok(conn) => Ok(Session {
            conn,
            child: Mutex::new(child),
            stderr,
        }),
        Err(err) => {
            // Let `ssh` finish saying why, then make sure it is gone.
            let deadline = Instant::now() + Duration::from_secs(2);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
            {
                let (flag, cv) = &*stderr_done;
                let mut done = flag.lock().unwrap_or_else(|e| e.into_inner());
                let until = Instant::now() + Duration::from_millis(500);
                while !*done && Instant::now() < until {
                    done = cv
                        .wait_timeout(done, Duration::from_millis(50))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
            }
            Err(classify_login_failure(target, &tail_text(&stderr), &err))
        }
    }
}

fn tail_text(tail: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&tail.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

/// The meaningful lines of what `ssh` printed, joined (no banner art).
fn summary(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("@@@"))
        .collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join("; ")
}

/// Why logging in failed, from what `ssh` printed, as a fetch class.
fn classify_login_failure(target: &Target, stderr: &str, err: &SftpError) -> FetchError {
    let host = target.shown();
    let said = summary(stderr);
    let auth = |message: String, help: String| {
        FetchError::Permanent(Error::new(ErrorKind::Auth, message).with_help(help))
    };
    if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || stderr.contains("has changed and you have requested strict checking")
    {
        let fingerprint = stderr
            .split_whitespace()
            .find(|w| w.starts_with("SHA256:"))
            .map(|w| w.trim_end_matches('.'));
        let offending = stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("Offending "))
            .and_then(|l| l.split(" key in ").nth(1))
            .map(str::trim);
        let known_as = between(stderr, "Host key for ", " has changed").unwrap_or(&target.host);
        // ssh says how to remove the old key from the file that holds it.
        let remove = stderr
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("ssh-keygen ") && l.contains(" -R "))
            .map_or_else(|| format!("ssh-keygen -R '{known_as}'"), str::to_string);
        let mut message = format!(
            "ssh to `{host}`: the server's host key has CHANGED: it is not the key recorded for `{known_as}`"
        );
        if let Some(at) = offending {
            message.push_str(&format!(" in `{at}`"));
        }
        if let Some(fp) = fingerprint {
            message.push_str(&format!("; the server now offers {fp}"));
        }
        return auth(
            message,
            format!(
                "someone may be intercepting the connection, or the server was reinstalled or \
                 replaced; nothing was downloaded. Ask the server's administrator for its key \
                 fingerprint; only if it matches, remove the old key with \
                 `{remove}` and record the new one (log in once with `ssh`, \
                 or `ssh-keyscan`); dvc-build never replaces a host key by itself"
            ),
        );
    }
    if stderr.contains("Host key verification failed")
        || stderr.contains("you have requested strict checking")
    {
        let known_as = between(stderr, "host key is known for ", " and you have")
            .unwrap_or(&target.host)
            .to_string();
        let (scan, login) = match known_as.strip_prefix('[').and_then(|h| h.split_once("]:")) {
            Some((h, p)) => (format!("ssh-keyscan -p {p} {h}"), format!("ssh -p {p} {h}")),
            None => (
                format!("ssh-keyscan {known_as}"),
                format!("ssh {}", target.host),
            ),
        };
        return auth(
            format!(
                "ssh to `{host}`: the server's host key is unknown: `{known_as}` has no entry in \
                 known_hosts, and dvc-build only connects to servers whose key is recorded there"
            ),
            format!(
                "check the key with the server's administrator (`{scan} | ssh-keygen -lf -` \
                 shows its fingerprint), then record it: `{scan} >> ~/.ssh/known_hosts`, or log \
                 in once with `{login}` and accept it"
            ),
        );
    }
    if stderr.contains("Permission denied") || stderr.contains("Too many authentication failures") {
        return auth(
            format!("ssh to `{host}`: the server refused the login ({said})"),
            "dvc-build runs `ssh` without prompts: give a key through ssh-agent, the remote's \
             `keyfile` option (`dvc remote modify --local <remote> keyfile <path>`, or a \
             `config` file/table in Cargo.toml), an `IdentityFile` in ~/.ssh/config, or a \
             `password` in an uncommitted config file; check `user`"
                .to_string(),
        );
    }
    let permanent = |message: String, help: &str| {
        FetchError::Permanent(Error::new(ErrorKind::Remote, message).with_help(help.to_string()))
    };
    if stderr.contains("subsystem request failed") {
        return permanent(
            format!("ssh to `{host}`: the server offers no SFTP ({said})"),
            "DVC's ssh remotes need the server's SFTP subsystem (`Subsystem sftp` in sshd_config)",
        );
    }
    if stderr.contains("Unable to negotiate") {
        return permanent(
            format!("ssh to `{host}`: no common algorithm with the server ({said})"),
            "dvc-build offers OpenSSH's default ciphers (AES-GCM first); the server offers \
             none of them: update the server's sshd, or its `Ciphers`",
        );
    }
    if stderr.contains("Could not resolve hostname") && !stderr.contains("Temporary failure") {
        return permanent(
            format!("ssh to `{host}`: {said}"),
            "check the host name in the remote's URL (or its `Host` entry in ~/.ssh/config)",
        );
    }
    if stderr.contains("Bad configuration option")
        || stderr.contains("Unsupported option")
        || stderr.contains("Bad owner or permissions")
        || stderr.contains("command-line line")
        || stderr.contains("usage: ssh")
        || stderr.contains("hostname contains invalid characters")
    {
        return permanent(
            format!("ssh to `{host}`: ssh refused its configuration ({said})"),
            "check ~/.ssh/config, DVC_BUILD_SSH_COMMAND and the remote's options",
        );
    }
    if let SftpError::Protocol(what) = err {
        return permanent(
            format!("ssh to `{host}`: {what}"),
            "the server's login shell may print text for non-interactive sessions; DVC's ssh \
             remotes need a clean SFTP subsystem",
        );
    }
    let mut message = format!("ssh to `{host}`: {err}");
    if !said.is_empty() {
        message.push_str(&format!(" (ssh: {said})"));
    }
    FetchError::Transient(Error::new(ErrorKind::Remote, message))
}

/// The text between `before` and `after` on the first line holding both.
fn between<'a>(text: &'a str, before: &str, after: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let start = l.find(before)? + before.len();
        let end = l[start..].find(after)? + start;
        Some(&l[start..end])
    })
}

/// What a parsed `ssh://` URL names.
#[derive(Debug, PartialEq, Eq)]
struct ParsedUrl {
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
    path: String,
}

/// Parses `ssh://[user[:password]@]host[:port][/path]` (the host may be an
/// `[IPv6]` literal or a `~/.ssh/config` alias).
fn parse_url(url: &str) -> std::result::Result<ParsedUrl, String> {
    let rest = url
        .split_once("://")
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("ssh"))
        .map(|(_, rest)| rest)
        .ok_or_else(|| "not an `ssh://` URL".to_string())?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        Some(info) => match info.split_once(':') {
            Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
            None => (Some(info.to_string()), None),
        },
        None => (None, None),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| "an unclosed `[` in the host".to_string())?;
        (host.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("`{p}` is not a port number"))?,
        ),
    };
    if host.is_empty() {
        return Err("the URL names no host".into());
    }
    if host.starts_with('-') || host.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{}` is not a host name", host.escape_debug()));
    }
    Ok(ParsedUrl {
        user: user.filter(|u| !u.is_empty()),
        password: password.filter(|p| !p.is_empty()),
        host,
        port,
        path: path.to_string(),
    })
}

/// `~/x` with the home folder, as DVC's `os.path.expanduser` does.
fn expand_home(path: &str, env: &dyn Fn(&str) -> Option<OsString>) -> OsString {
    match (path.strip_prefix("~/"), env("HOME")) {
        (Some(rest), Some(home)) if !home.is_empty() => PathBuf::from(home).join(rest).into(),
        _ => path.into(),
    }
}

/// Splits a command into words as a shell would (single and double quotes,
/// backslashes; no expansion). `None` when a quote is not closed.
fn split_words(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => {
                            let next = chars.next()?;
                            if !matches!(next, '"' | '\\' | '$' | '`') {
                                word.push('\\');
                            }
                            word.push(next);
                        }
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// Answering `ssh`'s password and passphrase prompts without a terminal.
mod askpass {
    use std::path::{Path, PathBuf};

    use super::{Error, ErrorKind, FetchError, Target};

    /// A private folder with the helper script and the secrets it answers
    /// with; removed on drop (right after the login).
    pub(super) struct Askpass {
        dir: tempfile::TempDir,
    }

    /// The helper: answers a password or passphrase prompt from the file
    /// beside it, refuses every other prompt (a host key question, a PIN).
    const SCRIPT: &str = "#!/bin/sh\n\
        # dvc-build: answers one ssh prompt from a private file; refuses any other.\n\
        case \"$1\" in\n\
        *[Pp]assphrase*) f=passphrase ;;\n\
        *[Pp]assword*) f=password ;;\n\
        *) exit 1 ;;\n\
        esac\n\
        d=$(dirname \"$0\")\n\
        [ -f \"$d/$f\" ] || exit 1\n\
        exec cat \"$d/$f\"\n";

    impl Askpass {
        /// Writes the script and `target`'s secrets. Checks first that the
        /// `ssh` program honours `SSH_ASKPASS_REQUIRE=force` (OpenSSH 8.4),
        /// so that no older `ssh` falls back to a terminal prompt.
        pub(super) fn new(target: &Target) -> Result<Askpass, FetchError> {
            check_version(target)?;
            write(target).map_err(|e| {
                FetchError::Permanent(Error::new(
                    ErrorKind::Io,
                    format!(
                        "ssh to `{}`: cannot prepare the password helper: {e}",
                        target.shown()
                    ),
                ))
            })
        }

        /// The helper's path, for `SSH_ASKPASS`.
        pub(super) fn script(&self) -> PathBuf {
            self.dir.path().join("askpass")
        }
    }

    #[cfg(unix)]
    fn write(target: &Target) -> std::io::Result<Askpass> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

        let dir = tempfile::Builder::new()
            .prefix("dvc-build-ssh-")
            .tempdir()?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        let create = |path: &Path, mode: u32, bytes: &[u8]| -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(path)?;
            f.write_all(bytes)
        };
        let secrets = &target.secrets;
        if let Some(p) = &secrets.password {
            create(&dir.path().join("password"), 0o600, p.as_bytes())?;
        }
        if let Some(p) = &secrets.passphrase {
            create(&dir.path().join("passphrase"), 0o600, p.as_bytes())?;
        }
        create(&dir.path().join("askpass"), 0o700, SCRIPT.as_bytes())?;
        Ok(Askpass { dir })
    }

    #[cfg(not(unix))]
    fn write(_target: &Target) -> std::io::Result<Askpass> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "passwords for ssh remotes are only supported on Unix",
        ))
    }

    /// Refuses an `ssh` older than OpenSSH 8.4 (or not OpenSSH).
    fn check_version(target: &Target) -> Result<(), FetchError> {
        let Some(program) = target.command.first() else {
            return Ok(());
        };
        let out = std::process::Command::new(program)
            .args(&target.command[1..])
            .arg("-V")
            .stdin(std::process::Stdio::null())
            .output();
        let text = match &out {
            Ok(o) => format!(
                "{}{}",
                String::from_utf8_lossy(&o.stderr),
                String::from_utf8_lossy(&o.stdout)
            ),
            Err(_) => String::new(),
        };
        let version = text.split("OpenSSH_").nth(1).and_then(|v| {
            let mut parts = v.split(|c: char| !c.is_ascii_digit());
            Some((
                parts.next()?.parse::<u32>().ok()?,
                parts.next()?.parse::<u32>().ok()?,
            ))
        });
        match version {
            Some(v) if v >= (8, 4) => Ok(()),
            _ => Err(FetchError::Permanent(
                Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "ssh to `{}`: a `password` or `passphrase` needs OpenSSH 8.4 or newer \
                         (`ssh -V` said: {})",
                        target.shown(),
                        text.lines().next().unwrap_or("nothing").trim()
                    ),
                )
                .with_help(
                    "update the OpenSSH client, or log in with a key (ssh-agent, `keyfile`)",
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> ParsedUrl {
        parse_url(u).unwrap()
    }

    #[test]
    fn parses_urls() {
        assert_eq!(
            url("ssh://git@example.com:2222/srv/dvc"),
            ParsedUrl {
                user: Some("git".into()),
                password: None,
                host: "example.com".into(),
                port: Some(2222),
                path: "/srv/dvc".into()
            }
        );
        let u = url("ssh://alias/data");
        assert_eq!((u.user, u.host.as_str(), u.port), (None, "alias", None));
        let u = url("ssh://me:pw@[::1]:22/x");
        assert_eq!(u.host, "::1");
        assert_eq!(u.password.as_deref(), Some("pw"));
        assert_eq!(u.port, Some(22));
        assert_eq!(url("SSH://h").path, "");
        for bad in [
            "ssh://",
            "ssh://h:x/p",
            "ssh://-oProxyCommand=x/p",
            "ssh://[::1/p",
            "s3://b/p",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn splits_commands_like_a_shell() {
        assert_eq!(
            split_words(r#"ssh -F '/a b/c' -o "X=1 2" x\ y"#).unwrap(),
            ["ssh", "-F", "/a b/c", "-o", "X=1 2", "x y"]
        );
        assert_eq!(split_words("  ").unwrap(), Vec::<String>::new());
        assert!(split_words("ssh 'open").is_none());
    }

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_beat_the_url_and_become_arguments() {
        let env = |name: &str| match name {
            "HOME" => Some(OsString::from("/home/me")),
            _ => None,
        };
        let remote = SshRemote::open_with_env(
            "ssh://u@h:1/store/",
            &opts(&[
                ("user", "v"),
                ("port", "2"),
                ("keyfile", "~/.ssh/k"),
                ("allow_agent", "false"),
            ]),
            &env,
        )
        .unwrap();
        let args: Vec<String> = remote
            .target
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let text = args.join(" ");
        assert!(
            text.contains("-l v -p 2 -i /home/me/.ssh/k -s -- h sftp"),
            "{text}"
        );
        assert!(text.contains("BatchMode=yes"), "{text}");
        assert!(text.contains("StrictHostKeyChecking=yes"), "{text}");
        assert!(text.contains("IdentityAgent=none"), "{text}");
        assert_eq!(remote.root(), "/store");
        assert_eq!(
            remote.object_path("files/md5/ab/cd"),
            "/store/files/md5/ab/cd"
        );
        assert_eq!(remote.target.agent, None);
    }

    #[test]
    fn object_paths_under_every_kind_of_root() {
        let at = |url: &str, rel: &str| {
            SshRemote::open_with_env(url, &BTreeMap::new(), &|_| None)
                .unwrap()
                .object_path(rel)
        };
        assert_eq!(
            at("ssh://h/srv/store/", "files/md5/ab/cd"),
            "/srv/store/files/md5/ab/cd"
        );
        assert_eq!(at("ssh://h/srv/store", ""), "/srv/store");
        assert_eq!(at("ssh://h/", "f.txt"), "/f.txt");
        assert_eq!(at("ssh://h", "f.txt"), "f.txt");
        assert_eq!(at("ssh://h", ""), ".");
    }

    #[test]
    fn secrets_stay_out_of_arguments_and_debug() {
        let remote = SshRemote::open_with_env(
            "ssh://u:UrlS3cret@h/p",
            &opts(&[("passphrase", "Phr4se-secret")]),
            &|_| None,
        )
        .unwrap();
        let text = format!("{remote:?} {}", remote.display_url());
        let args = format!("{:?}", remote.target.args);
        for secret in ["UrlS3cret", "Phr4se-secret"] {
            assert!(
                !text.contains(secret) && !args.contains(secret),
                "{text} {args}"
            );
        }
        assert!(args.contains("BatchMode=no"), "{args}");
        assert!(args.contains("NumberOfPasswordPrompts=1"), "{args}");
    }

    #[test]
    fn bad_options_are_clear_errors() {
        for (k, v) in [
            ("port", "x"),
            ("port", "0"),
            ("timeout", "-1"),
            ("gss_auth", "maybe"),
        ] {
            let err =
                SshRemote::open_with_env("ssh://h/p", &opts(&[(k, v)]), &|_| None).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Manifest);
            assert!(err.to_string().contains(k), "{err}");
        }
    }

    #[test]
    fn login_failures_are_classified() {
        let remote =
            SshRemote::open_with_env("ssh://h:2200/p", &BTreeMap::new(), &|_| None).unwrap();
        let t = &remote.target;
        let lost = SftpError::Lost("x".into());
        let unknown = "No ED25519 host key is known for [h]:2200 and you have requested strict checking.\r\nHost key verification failed.\r\n";
        match classify_login_failure(t, unknown, &lost) {
            FetchError::Permanent(e) => {
                assert_eq!(e.kind(), ErrorKind::Auth);
                let text = e.to_string();
                assert!(
                    text.contains("unknown") && text.contains("[h]:2200"),
                    "{text}"
                );
                assert!(text.contains("ssh-keyscan -p 2200 h"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        let changed = "@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
            The fingerprint for the ED25519 key sent by the remote host is\nSHA256:abc.\n\
            Offending ED25519 key in /k/known_hosts:1\n  remove with:\n  ssh-keygen -f \"/k/known_hosts\" -R \"[h]:2200\"\n\
            Host key for [h]:2200 has changed and you have requested strict checking.\nHost key verification failed.\n";
        match classify_login_failure(t, changed, &lost) {
            FetchError::Permanent(e) => {
                let text = e.to_string();
                assert!(
                    text.contains("CHANGED") && text.contains("SHA256:abc"),
                    "{text}"
                );
                assert!(text.contains("/k/known_hosts:1"), "{text}");
                assert!(
                    text.contains(r#"ssh-keygen -f "/k/known_hosts" -R "[h]:2200""#),
                    "{text}"
                );
            }
            other => panic!("{other:?}"),
        }
        let denied = "root@h: Permission denied (publickey).\n";
        assert!(
            matches!(classify_login_failure(t, denied, &lost), FetchError::Permanent(e) if e.kind() == ErrorKind::Auth)
        );
        let refused = "ssh: connect to host h port 2200: Connection refused\n";
        assert!(matches!(
            classify_login_failure(t, refused, &lost),
            FetchError::Transient(_)
        ));
    }
}
