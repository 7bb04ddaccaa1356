//! Shared helpers for the integration tests: the real tools, temp dirs, git
//! repositories and DVC registries made by the real `dvc`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where `build-support/install-test-tools.sh` put the tools.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("DVC_BUILD_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-tools"))
}

/// The path of a test tool (`dvc`, `dvc2`, `weed`); panics loudly when missing:
/// tests never skip silently.
pub fn tool(name: &str) -> PathBuf {
    let path = tools_dir().join("bin").join(name);
    assert!(
        path.exists(),
        "test tool `{name}` is missing at {}: run build-support/install-test-tools.sh \
         (the README's test command does)",
        path.display()
    );
    path
}

/// Runs `cmd`, panicking with its output when it fails.
#[track_caller]
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd` and returns its stdout as a trimmed string.
#[track_caller]
pub fn run_stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run(cmd).stdout).trim().to_string()
}

/// A `dvc` (3.x, the reference) command run in `dir`, with analytics off.
pub fn dvc(dir: &Path) -> Command {
    dvc_tool("dvc", dir)
}

/// A `dvc` 2.x command run in `dir`.
pub fn dvc2(dir: &Path) -> Command {
    dvc_tool("dvc2", dir)
}

fn dvc_tool(name: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(tool(name));
    cmd.current_dir(dir)
        .env("DVC_NO_ANALYTICS", "1")
        .env("DVC_SITE_CACHE_DIR", dir.join(".dvc-site-cache"))
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com");
    cmd
}

/// A `git` command run in `dir`, independent of the user's git config.
pub fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ]);
    cmd
}

/// A temporary directory removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("dvc-build-test-")
        .tempdir()
        .expect("create temp dir")
}

/// An empty folder that lasts as long as the test process: for fixtures
/// made once and held in a static, which Rust never drops (a `TempDir`
/// there would be left behind in `/tmp` by every run). It is
/// `target/tmp/<name>/<pid>`; the folders of earlier runs whose process is
/// gone are removed here, so at most one per live test process remains.
pub fn process_dir(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let pid = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok());
        if pid.is_some_and(|pid| !process_alive(pid)) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = root.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(unix)]
fn process_alive(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        Some(pid) => !matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        ),
        None => true,
    }
}

#[cfg(not(unix))]
fn process_alive(_pid: i32) -> bool {
    true
}

/// Writes `contents` to `dir/rel`, creating parent folders.
pub fn write(dir: &Path, rel: &str, contents: impl AsRef<[u8]>) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A DVC registry made by the real `dvc`: a git repo with `dvc init`, and a
/// local remote folder beside it set as the default remote.
pub struct Registry {
    /// The git work tree of the registry.
    pub repo: PathBuf,
    /// The local remote folder.
    pub remote: PathBuf,
    /// `true` when made with DVC 2.
    pub dvc2: bool,
}

impl Registry {
    /// `dvc init` in `root/registry` (DVC 3) with a default remote `root/remote`.
    pub fn new(root: &Path) -> Registry {
        Registry::with_version(root, false)
    }

    /// As [`Registry::new`], with DVC 2 when `dvc2`.
    pub fn with_version(root: &Path, dvc2: bool) -> Registry {
        let repo = root.join("registry");
        let remote = root.join("remote");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&remote).unwrap();
        let reg = Registry { repo, remote, dvc2 };
        run(git(&reg.repo).arg("init").arg("-q"));
        run(reg.dvc().args(["init", "-q"]));
        run(reg
            .dvc()
            .args(["remote", "add", "-d", "store"])
            .arg(&reg.remote));
        reg.commit("init");
        reg
    }

    /// A dvc command (of the registry's version) in the registry.
    pub fn dvc(&self) -> Command {
        if self.dvc2 {
            dvc2(&self.repo)
        } else {
            dvc(&self.repo)
        }
    }

    /// Writes a file into the work tree.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        write(&self.repo, rel, contents);
    }

    /// `dvc add` the paths.
    pub fn add(&self, paths: &[&str]) {
        run(self.dvc().arg("add").arg("-q").args(paths));
    }

    /// `git add -A && git commit`, returning the new commit id.
    pub fn commit(&self, msg: &str) -> String {
        run(git(&self.repo).args(["add", "-A"]));
        run(git(&self.repo).args(["commit", "-q", "--allow-empty", "-m", msg]));
        self.head()
    }

    /// `dvc push` to the default remote.
    pub fn push(&self) {
        run(self.dvc().args(["push", "-q"]));
    }

    /// `git tag NAME`.
    pub fn tag(&self, name: &str) {
        run(git(&self.repo).args(["tag", name]));
    }

    /// The commit id of HEAD.
    pub fn head(&self) -> String {
        run_stdout(git(&self.repo).args(["rev-parse", "HEAD"]))
    }
}

// ---------------------------------------------------------------------------
// Git servers on loopback, for the git transport tests.

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// Waits (up to 10 s) until something accepts connections on `port`.
pub fn wait_for_port(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on 127.0.0.1:{port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `git daemon` serving every repository under a folder (`git://`); killed on drop.
pub struct GitDaemon {
    child: std::process::Child,
    /// The port it listens on.
    pub port: u16,
}

impl GitDaemon {
    /// Serves the repositories under `base` on a free loopback port.
    pub fn start(base: &Path) -> GitDaemon {
        let port = free_port();
        let child = git(base)
            .arg("daemon")
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--informative-errors")
            .arg(format!("--base-path={}", base.display()))
            .arg(format!("--port={port}"))
            .arg("--listen=127.0.0.1")
            .arg(base)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start git daemon");
        let daemon = GitDaemon { child, port };
        wait_for_port(port);
        daemon
    }

    /// The `git://` URL of the repository `name` under the base folder.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(feature = "gs")]
pub mod cloud;
pub mod http;
pub mod invariants;
#[cfg(feature = "ssh")]
pub mod sshd;

/// `python3 -m http.server` serving `dir` on a free loopback port; killed on drop.
pub struct PythonHttpServer {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl PythonHttpServer {
    /// Starts the server and waits until it accepts connections.
    pub fn start(dir: &Path) -> PythonHttpServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("find a free port")
            .port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        let server = PythonHttpServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "python3 http.server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        server
    }
}

impl Drop for PythonHttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Smart HTTP: a tiny HTTP/1.1 server on loopback that hands every request
/// to `git http-backend` (CGI) for the repositories under a folder. Counts
/// requests; stops on drop.
pub struct GitHttp {
    /// The port it listens on.
    pub port: u16,
    /// Requests served so far.
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitHttp {
    /// Serves the repositories under `root` on a free loopback port.
    pub fn start(root: &Path) -> GitHttp {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (root, counter, stopping) = (root.to_path_buf(), requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let root = root.clone();
                std::thread::spawn(move || {
                    let _ = serve_cgi(stream, &root);
                });
            }
        });
        GitHttp {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The `http://` URL of the repository `name` under the root folder.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request: parse it, run `git http-backend`, send its answer, close.
fn serve_cgi(stream: std::net::TcpStream, root: &Path) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("GET").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(len, 0);
        reader.read_exact(&mut body)?;
    }
    let mut cmd = Command::new("git");
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(v) = header("content-type") {
        cmd.env("CONTENT_TYPE", v);
    }
    if let Some(v) = header("content-encoding") {
        cmd.env("HTTP_CONTENT_ENCODING", v);
    }
    if let Some(v) = header("git-protocol") {
        cmd.env("GIT_PROTOCOL", v);
    }
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output()?;
    let _ = writer.join();
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .unwrap_or((raw.len(), raw.len()));
    let head = String::from_utf8_lossy(&raw[..split.0]).to_string();
    let mut status = "200 OK".to_string();
    let mut response = Vec::new();
    let mut out_headers = String::new();
    for h in head.lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => out_headers.push_str(&format!("{}\r\n", h.trim_end())),
            None => {}
        }
    }
    let content = &raw[split.1..];
    response.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\n{out_headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
            content.len()
        )
        .as_bytes(),
    );
    response.extend_from_slice(content);
    let mut stream = stream;
    stream.write_all(&response)?;
    stream.flush()
}

/// The `md5` and `size` of the first `outs` entry of a `.dvc` file's text.
pub fn out_md5_and_size(dvc_file: &str) -> (String, Option<u64>) {
    let outs = dvc_file.split("outs:").nth(1).expect("an outs: section");
    let field = |name: &str| {
        outs.lines()
            .map(|l| l.trim_start_matches(['-', ' ']))
            .find_map(|l| {
                l.strip_prefix(&format!("{name}: "))
                    .map(|v| v.trim().to_string())
            })
    };
    (
        field("md5").expect("an md5"),
        field("size").and_then(|s| s.parse().ok()),
    )
}

/// The python interpreter of the DVC 3 tools venv (has ruamel.yaml).
pub fn dvc3_python() -> PathBuf {
    let path = tools_dir().join("dvc3/bin/python");
    assert!(path.exists(), "missing {}", path.display());
    path
}

/// A consumer project: `git init` + `dvc init` in `dir`.
pub fn consumer(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    run(git(dir).args(["init", "-q"]));
    run(dvc(dir).args(["init", "-q"]));
}

// ---------------------------------------------------------------------------
// Consumer crates and the real binaries, for the end-to-end tests.

/// The one target directory every consumer crate builds into, so dvc-build
/// and its dependencies compile once for the whole suite.
pub fn consumer_target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/e2e-consumers")
}

/// Environment variables that change what dvc-build does: removed from every
/// command the end-to-end tests start, so the caller's shell cannot leak in.
const DVC_BUILD_ENV: &[&str] = &[
    "CARGO_NET_OFFLINE",
    "DVC_BUILD_LOCKED",
    "DOCS_RS",
    "DVC_BUILD_CACHE_DIR",
    "CARGO_TARGET_DIR",
];

/// `cargo` (the one running the tests) in `dir`, building into
/// [`consumer_target_dir`], with the content cache at `cache`.
pub fn cargo(dir: &Path, cache: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir);
    for var in DVC_BUILD_ENV {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_TARGET_DIR", consumer_target_dir())
        .env("DVC_BUILD_CACHE_DIR", cache)
        .env("CARGO_TERM_COLOR", "never");
    cmd
}

/// The `cargo-dvc` binary built with this test suite, run in `dir` with the
/// content cache at `cache`.
#[cfg(feature = "cli")]
pub fn cargo_dvc(dir: &Path, cache: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-dvc"));
    cmd.current_dir(dir);
    for var in DVC_BUILD_ENV {
        cmd.env_remove(var);
    }
    cmd.env("DVC_BUILD_CACHE_DIR", cache)
        .env("CARGO_TERM_COLOR", "never");
    cmd
}

/// Runs `cmd`, expecting it to fail; returns its stdout + stderr.
#[track_caller]
pub fn run_fail(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded, but should fail:\n{text}"
    );
    text
}

/// Writes a consumer crate called `name` into `dir`: `Cargo.toml` (with
/// `metadata`, the `[package.metadata.dvc...]` tables, and a `[workspace]`
/// table unless `member` of an enclosing workspace), the one-line `build.rs`,
/// `src/main.rs` = `main_rs`, and dvc-build's own `Cargo.lock` so that cargo
/// resolves nothing anew.
pub fn write_crate(dir: &Path, name: &str, metadata: &str, main_rs: &str, member: bool) {
    let root = env!("CARGO_MANIFEST_DIR");
    let workspace = if member { "" } else { "\n[workspace]\n" };
    write(
        dir,
        "Cargo.toml",
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
             [build-dependencies]\n\
             dvc-build = {{ path = {root:?}, default-features = false, features = [\"http\"] }}\n\n\
             {metadata}{workspace}"
        ),
    );
    write(
        dir,
        "build.rs",
        "fn main() {\n    dvc_build::fetch().unwrap();\n}\n",
    );
    write(dir, "src/main.rs", main_rs);
    if !member {
        std::fs::copy(Path::new(root).join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    }
}

/// The path of a consumer's binary in [`consumer_target_dir`].
pub fn consumer_bin(name: &str) -> PathBuf {
    consumer_target_dir().join("debug").join(name)
}

/// Lists a directory tree as `relpath=contents` lines, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                out.push(format!("{rel}={}", text.trim_end()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `cp -a from to`.
pub fn copy_tree(from: &Path, to: &Path) {
    run(Command::new("cp").arg("-a").arg(from).arg(to));
}

/// Deterministic bytes of length `len` (xorshift), different for each `seed`.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Checks `object` against the README's table of its fields (the JSON v1
/// contract): the table follows the first README line containing
/// `heading`, one row per field, `| \`name\` | type | meaning |`, the type
/// being `string`, `integer`, `boolean`, `array`, `object`, or a list of
/// backticked values (a closed set), optionally followed by ` or null`.
/// The object must have exactly the documented fields, each of its type.
#[track_caller]
pub fn check_json_schema(object: &serde_json::Value, heading: &str) {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme
        .lines()
        .position(|l| l.contains(heading))
        .unwrap_or_else(|| panic!("README has no line containing {heading:?}"));
    let rows: Vec<&str> = readme
        .lines()
        .skip(start + 1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .collect();
    assert!(!rows.is_empty(), "no table after {heading:?}");
    let map = object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"));
    let mut documented = Vec::new();
    for row in rows {
        let cells: Vec<&str> = row
            .split(" | ")
            .map(|c| c.trim_matches(['|', ' ']))
            .collect();
        let field = cells[0].trim_matches('`');
        let ty = cells[1];
        documented.push(field.to_string());
        let value = map
            .get(field)
            .unwrap_or_else(|| panic!("{heading}: field `{field}` missing from {object}"));
        let (ty, nullable) = match ty.strip_suffix(" or null") {
            Some(t) => (t, true),
            None => (ty, false),
        };
        if value.is_null() {
            assert!(
                nullable,
                "{heading}: `{field}` is null but may not be: {object}"
            );
            continue;
        }
        let ok = match ty {
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            set => {
                let allowed: Vec<&str> = set
                    .split('`')
                    .enumerate()
                    .filter(|(i, _)| i % 2 == 1)
                    .map(|(_, v)| v)
                    .collect();
                assert!(!allowed.is_empty(), "{heading}: unknown type {set:?}");
                value.as_str().is_some_and(|v| allowed.contains(&v))
            }
        };
        assert!(ok, "{heading}: `{field}` = {value} is not {ty}");
    }
    for key in map.keys() {
        assert!(
            documented.contains(key),
            "{heading}: field `{key}` is not documented in the README"
        );
    }
}

/// Switches a crate written by [`write_crate`] from dvc-build's `http`
/// feature to `features` (still without the default ones).
pub fn set_dvc_build_features(dir: &Path, features: &[&str]) {
    let path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let list = features
        .iter()
        .map(|f| format!("{f:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let changed = text.replacen("features = [\"http\"]", &format!("features = [{list}]"), 1);
    assert_ne!(
        changed,
        text,
        "no dvc-build features line in {}",
        path.display()
    );
    std::fs::write(path, changed).unwrap();
}
