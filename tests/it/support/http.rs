//! A tiny threaded HTTP/1.1 file server for tests: serves a folder with
//! keep-alive and `Range` support, counts requests per path, and injects
//! scripted faults: [`FileServer::script`] queues [`Fault`]s for a path (one
//! per request, in order; requests past the script are served normally), and
//! [`FileServer::injected`] reports every fault that was actually injected.
//! [`FileServer::throttle`] slows every body down (so a test can kill a
//! client mid-transfer). [`FileServer::close_each`] closes every connection
//! after one answer (as Python's `http.server` does), and
//! [`FileServer::hold`] with [`FileServer::peak_waiting`] shows how many
//! requests a client had waiting at once. [`FileServer::start_as`] serves the folder the way
//! an object store names its objects ([`Store`]: Google Cloud Storage's JSON
//! API, Azure Blob's `/<account>/<container>/<blob>`), so the cloud remotes
//! meet the same faults.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request path, e.g. `/files/md5/ab/cdef...`.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// Every header, as sent (name, value).
    pub headers: Vec<(String, String)>,
}

/// One scripted misbehaviour of the server, for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (500, 503, ...) and an empty body.
    Status(u16),
    /// Send the headers and `after` bytes of the body, then reset the
    /// connection (TCP RST).
    Reset {
        /// Body bytes sent before the reset.
        after: u64,
    },
    /// Send the headers (with the right `Content-Length`) and `after` bytes
    /// of the body, then close the connection.
    Truncate {
        /// Body bytes sent before closing.
        after: u64,
    },
    /// Send the headers and `after` bytes, then go silent for `pause`
    /// (longer than the client's read timeout), then close.
    Stall {
        /// Body bytes sent before going silent.
        after: u64,
        /// How long to stay silent.
        pause: Duration,
    },
    /// The right length, wrong bytes: the body's byte at `at` (or its last
    /// byte, when shorter) is flipped.
    Corrupt {
        /// Offset (within the body sent) of the flipped byte.
        at: u64,
    },
    /// `Content-Length` announces `extra` bytes more than the body; the body
    /// is sent, then the connection is closed.
    LengthTooLong {
        /// Bytes announced but never sent.
        extra: u64,
    },
    /// `Content-Length` announces `less` bytes fewer than the body; the whole
    /// body is sent anyway (garbage for a keep-alive client), then the
    /// connection is closed.
    LengthTooShort {
        /// Bytes sent beyond the announced length.
        less: u64,
    },
    /// A range request is answered `200` with the whole file.
    IgnoreRange,
    /// A range request is answered `206` for the range starting at byte 0.
    WrongRange,
    /// `302 Found` to this URL prefix (the request path is appended).
    Redirect(String),
    /// Answer with this status (429, 503) and `Retry-After: <seconds>`.
    Throttle {
        /// The status.
        status: u16,
        /// The seconds asked for.
        retry_after: u64,
    },
    /// Refuse the request's credentials the way the store refuses an
    /// expired token: `401` (plain HTTP and GCS, with GCS's JSON error), or
    /// Azure's `403 AuthenticationFailed`.
    Expired,
}

impl Fault {
    /// A short name for reports.
    pub fn name(&self) -> String {
        match self {
            Fault::Status(code) => format!("status {code}"),
            Fault::Reset { after } => format!("reset after {after} B"),
            Fault::Truncate { after } => format!("truncate after {after} B"),
            Fault::Stall { after, pause } => format!("stall {pause:?} after {after} B"),
            Fault::Corrupt { at } => format!("wrong byte at {at}"),
            Fault::LengthTooLong { extra } => format!("Content-Length +{extra}"),
            Fault::LengthTooShort { less } => format!("Content-Length -{less}"),
            Fault::IgnoreRange => "range ignored (200)".to_string(),
            Fault::WrongRange => "wrong range (206 from 0)".to_string(),
            Fault::Redirect(to) => format!("redirect to {to}"),
            Fault::Throttle {
                status,
                retry_after,
            } => format!("status {status}, Retry-After {retry_after}"),
            Fault::Expired => "credentials expired".to_string(),
        }
    }
}

/// A fault that the server injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    /// The request path.
    pub path: String,
    /// The request's `Range` header, if any.
    pub range: Option<String>,
    /// What was done.
    pub fault: Fault,
}

/// How request paths name the files of the served folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Store {
    /// `/<path>`: the file at `<path>` (an HTTP remote).
    #[default]
    Plain,
    /// Google Cloud Storage's JSON API:
    /// `/storage/v1/b/<bucket>/o/<percent-encoded name>?alt=media` is the
    /// file `<name>`, and `/storage/v1/b/<bucket>` the bucket's metadata.
    Gcs {
        /// The bucket served.
        bucket: String,
    },
    /// Azure Blob: `/<account>/<container>/<blob>` is the file `<blob>`;
    /// ranges come in `x-ms-range`.
    Azure {
        /// The account in the path (as an emulator's endpoint has it).
        account: String,
        /// The container served.
        container: String,
    },
}

#[derive(Default)]
struct State {
    store: Store,
    log: Vec<Request>,
    /// path -> faults for its next requests, in order.
    script: HashMap<String, VecDeque<Fault>>,
    /// Faults for the next requests of any path (after the per-path script).
    any: VecDeque<Fault>,
    injected: Vec<Injected>,
    /// Body bytes per tick, and the tick, when throttled.
    throttle: Option<(usize, Duration)>,
    /// Send `ETag: "<md5 hex>"` and a `Content-Type` with every file.
    etag: bool,
    /// Send the ETag weak (`W/"..."`).
    weak: bool,
    /// Send `Content-MD5` (base64 of the MD5) with every file.
    content_md5: bool,
    /// Answer `Connection: close` and close after every answer.
    close_each: bool,
    /// Keep every request waiting this long before answering it.
    hold: Option<Duration>,
    /// Requests received and not answered yet, and the most there were.
    waiting: usize,
    peak_waiting: usize,
    /// Answer every request with `302 Found` to this URL prefix.
    redirect_all: Option<String>,
}

/// A running file server on 127.0.0.1; stopped on drop.
pub struct FileServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Serves `root` on a free loopback port.
    pub fn start(root: &Path) -> FileServer {
        FileServer::start_as(root, Store::Plain)
    }

    /// Serves `root` on a free loopback port, with `store`'s paths.
    pub fn start_as(root: &Path, store: Store) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            store,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (state, root) = (state.clone(), root.clone());
                    std::thread::spawn(move || serve_connection(conn, &root, &state));
                }
            })
        };
        FileServer {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request path of the file `name` (relative to the served folder,
    /// `/`-separated), in the server's [`Store`] shape: what
    /// [`FileServer::script`] and [`FileServer::count`] take.
    pub fn object_path(&self, name: &str) -> String {
        match &self.state.lock().unwrap().store {
            Store::Plain => format!("/{name}"),
            Store::Gcs { bucket } => format!("/storage/v1/b/{bucket}/o/{}", encode_all(name)),
            Store::Azure { account, container } => format!("/{account}/{container}/{name}"),
        }
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Request> {
        self.state.lock().unwrap().log.clone()
    }

    /// How many requests asked for `path` (with or without a leading `/`).
    pub fn count(&self, path: &str) -> usize {
        let want = format!("/{}", path.trim_start_matches('/'));
        self.log().iter().filter(|r| r.path == want).count()
    }

    /// The next response for `path` sends its full headers, then only `bytes`
    /// bytes of the body, then closes the connection.
    pub fn cut_once(&self, path: &str, bytes: u64) {
        self.script(path, [Fault::Truncate { after: bytes }]);
    }

    /// Appends `faults` to the script of `path`: its next requests get them,
    /// one each, in order.
    pub fn script(&self, path: &str, faults: impl IntoIterator<Item = Fault>) {
        let key = format!("/{}", path.trim_start_matches('/'));
        self.state
            .lock()
            .unwrap()
            .script
            .entry(key)
            .or_default()
            .extend(faults);
    }

    /// Appends `faults` for the next requests, whatever their path.
    pub fn script_any(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.lock().unwrap().any.extend(faults);
    }

    /// Forgets the faults not injected yet; returns how many there were.
    pub fn clear_script(&self) -> usize {
        let mut st = self.state.lock().unwrap();
        let n = st.script.values().map(VecDeque::len).sum::<usize>() + st.any.len();
        st.script.clear();
        st.any.clear();
        n
    }

    /// Every fault injected so far, in order.
    pub fn injected(&self) -> Vec<Injected> {
        self.state.lock().unwrap().injected.clone()
    }

    /// Sends every body `bytes` bytes at a time, pausing `tick` between
    /// (`None`: full speed).
    pub fn throttle(&self, rate: Option<(usize, Duration)>) {
        self.state.lock().unwrap().throttle = rate;
    }

    /// Sends a strong `ETag` (`"<md5 hex of the file>"`, as S3 and many CDNs
    /// do) and `Content-Type: application/octet-stream` with every file.
    pub fn send_etags(&self, on: bool) {
        self.state.lock().unwrap().etag = on;
    }

    /// Sends `ETag: W/"<md5 hex>"` instead of a strong one.
    pub fn weak_etags(&self, on: bool) {
        let mut st = self.state.lock().unwrap();
        st.etag = on;
        st.weak = on;
    }

    /// Sends `Content-MD5: <base64 of the MD5>` with every file.
    pub fn send_content_md5(&self, on: bool) {
        self.state.lock().unwrap().content_md5 = on;
    }

    /// Closes every connection after one answer (`Connection: close`),
    /// as Python's `http.server` does.
    pub fn close_each(&self, on: bool) {
        self.state.lock().unwrap().close_each = on;
    }

    /// Keeps every request waiting `hold` before answering it.
    pub fn hold(&self, hold: Option<Duration>) {
        self.state.lock().unwrap().hold = hold;
    }

    /// The most requests that were waiting for their answer at once (one
    /// per connection the client was using).
    pub fn peak_waiting(&self) -> usize {
        self.state.lock().unwrap().peak_waiting
    }

    /// Answers every request with `302 Found` to `prefix` + the request's
    /// path (a CDN in front of a model hub); `None` serves files again.
    pub fn redirect_all(&self, prefix: Option<String>) {
        self.state.lock().unwrap().redirect_all = prefix;
    }

    /// How many requests with `method` asked for `path`.
    pub fn count_method(&self, method: &str, path: &str) -> usize {
        let want = format!("/{}", path.trim_start_matches('/'));
        self.log()
            .iter()
            .filter(|r| r.path == want && r.method == method)
            .count()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_connection(conn: TcpStream, root: &Path, state: &Mutex<State>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    let mut out = write_half;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("/").to_string(),
        );
        let mut range = None;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                if name.eq_ignore_ascii_case("range") || name.eq_ignore_ascii_case("x-ms-range") {
                    range = Some(value.trim().to_string());
                }
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        let path = target.split('?').next().unwrap_or("/").to_string();
        let (fault, throttle, validators, store, close, hold) = {
            let mut st = state.lock().unwrap();
            st.waiting += 1;
            st.peak_waiting = st.peak_waiting.max(st.waiting);
            st.log.push(Request {
                method: method.clone(),
                path: path.clone(),
                range: range.clone(),
                headers,
            });
            let scripted = st.script.get_mut(&path).and_then(VecDeque::pop_front);
            let fault = scripted
                .or_else(|| st.any.pop_front())
                .or_else(|| st.redirect_all.clone().map(Fault::Redirect));
            if let Some(fault) = &fault {
                st.injected.push(Injected {
                    path: path.clone(),
                    range: range.clone(),
                    fault: fault.clone(),
                });
            }
            (
                fault,
                st.throttle,
                (st.etag, st.weak, st.content_md5),
                st.store.clone(),
                st.close_each,
                st.hold,
            )
        };
        if let Some(hold) = hold {
            std::thread::sleep(hold);
        }
        // Counted out before answering: the client sends its next request
        // on this connection only after reading this answer.
        state.lock().unwrap().waiting -= 1;
        let served = Served {
            store: &store,
            method: &method,
            path: &path,
            range: range.as_deref(),
            fault,
            throttle,
            validators,
            close,
        };
        if !respond(&mut out, root, served) || close {
            return;
        }
    }
}

/// One request to answer.
struct Served<'a> {
    store: &'a Store,
    method: &'a str,
    path: &'a str,
    range: Option<&'a str>,
    fault: Option<Fault>,
    throttle: Option<(usize, Duration)>,
    /// ETag, weak, Content-MD5.
    validators: (bool, bool, bool),
    /// Say `Connection: close` (the caller closes after this answer).
    close: bool,
}

/// Writes one response; `false` when the connection must close.
fn respond(out: &mut TcpStream, root: &Path, req: Served<'_>) -> bool {
    let simple = |out: &mut TcpStream, status: &str| {
        let _ = write!(out, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
        true
    };
    if let Some(Fault::Redirect(to)) = &req.fault {
        let _ = write!(
            out,
            "HTTP/1.1 302 Found\r\nLocation: {to}{}\r\nContent-Length: 0\r\n\r\n",
            req.path
        );
        return true;
    }
    if let Some(Fault::Throttle {
        status,
        retry_after,
    }) = req.fault
    {
        let _ = write!(
            out,
            "HTTP/1.1 {status} Busy\r\nRetry-After: {retry_after}\r\nContent-Length: 0\r\n\r\n"
        );
        return true;
    }
    if req.fault == Some(Fault::Expired) {
        let (head, body) = match req.store {
            Store::Azure { .. } => (
                "403 Server failed to authenticate the request\r\nx-ms-error-code: AuthenticationFailed\r\nContent-Type: application/xml",
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request.</Message><AuthenticationErrorDetail>Lifetime validation failed. The token is expired.</AuthenticationErrorDetail></Error>",
            ),
            _ => (
                "401 Unauthorized\r\nContent-Type: application/json",
                r#"{"error":{"code":401,"message":"Invalid Credentials"}}"#,
            ),
        };
        let _ = write!(
            out,
            "HTTP/1.1 {head}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        return true;
    }
    if let Some(Fault::Status(code)) = req.fault {
        let reason = match code {
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            429 => "Too Many Requests",
            _ => "Fault",
        };
        return simple(out, &format!("{code} {reason}"));
    }
    if req.method != "GET" && req.method != "HEAD" {
        return simple(out, "405 Method Not Allowed");
    }
    if let Store::Gcs { bucket } = req.store
        && req.path == format!("/storage/v1/b/{bucket}")
    {
        let body = format!(r#"{{"kind":"storage#bucket","name":"{bucket}"}}"#);
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        return true;
    }
    let Some(file) = file_of(req.store, req.path).and_then(|rel| resolve(root, &rel)) else {
        return simple(out, "404 Not Found");
    };
    let Ok(bytes) = std::fs::read(&file) else {
        return simple(out, "404 Not Found");
    };
    let total = bytes.len() as u64;
    let range = match req.fault {
        Some(Fault::IgnoreRange) => None,
        _ => req.range.and_then(parse_range),
    };
    let (status, mut start, end) = match range {
        Some((start, _)) if start >= total => {
            let _ = write!(
                out,
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{total}\r\nContent-Length: 0\r\n\r\n"
            );
            return true;
        }
        Some((start, end)) => (
            "206 Partial Content",
            start,
            end.map_or(total, |e| (e + 1).min(total)),
        ),
        None => ("200 OK", 0, total),
    };
    if req.fault == Some(Fault::WrongRange) {
        start = 0;
    }
    let mut body = bytes[start as usize..end as usize].to_vec();
    let mut announced = end - start;
    match req.fault {
        Some(Fault::Corrupt { at }) if !body.is_empty() => {
            let i = (at as usize).min(body.len() - 1);
            body[i] ^= 0xff;
        }
        Some(Fault::LengthTooLong { extra }) => announced += extra,
        Some(Fault::LengthTooShort { less }) => announced = announced.saturating_sub(less),
        _ => {}
    }
    let mut head =
        format!("HTTP/1.1 {status}\r\nContent-Length: {announced}\r\nAccept-Ranges: bytes\r\n");
    if req.close {
        head.push_str("Connection: close\r\n");
    }
    let (etag, weak, content_md5) = req.validators;
    if etag {
        let digest = dvc_build::__private::hash::Md5::of(&bytes).to_hex();
        let weak = if weak { "W/" } else { "" };
        head.push_str(&format!(
            "ETag: {weak}\"{digest}\"\r\nContent-Type: application/octet-stream\r\n"
        ));
    }
    if content_md5 {
        let digest = dvc_build::__private::hash::Md5::of(&bytes);
        head.push_str(&format!("Content-MD5: {}\r\n", base64(digest.as_bytes())));
    }
    if start > 0 || end < total || status.starts_with("206") {
        head.push_str(&format!(
            "Content-Range: bytes {start}-{}/{total}\r\n",
            end.saturating_sub(1)
        ));
    }
    head.push_str("\r\n");
    if out.write_all(head.as_bytes()).is_err() {
        return false;
    }
    if req.method == "HEAD" {
        return true;
    }
    let prefix = |after: u64| &body[..(after as usize).min(body.len())];
    match req.fault {
        Some(Fault::Truncate { after }) => {
            let _ = send(out, prefix(after), req.throttle);
            let _ = out.flush();
            let _ = out.shutdown(std::net::Shutdown::Both);
            false
        }
        Some(Fault::Reset { after }) => {
            let _ = send(out, prefix(after), req.throttle);
            let _ = out.flush();
            reset(out);
            false
        }
        Some(Fault::Stall { after, pause }) => {
            let _ = send(out, prefix(after), req.throttle);
            let _ = out.flush();
            std::thread::sleep(pause);
            let _ = out.shutdown(std::net::Shutdown::Both);
            false
        }
        Some(Fault::LengthTooLong { .. } | Fault::LengthTooShort { .. }) => {
            let _ = send(out, &body, req.throttle);
            let _ = out.flush();
            let _ = out.shutdown(std::net::Shutdown::Both);
            false
        }
        _ => send(out, &body, req.throttle).is_ok(),
    }
}

/// Writes `body`, in throttled slices when asked.
fn send(
    out: &mut TcpStream,
    body: &[u8],
    throttle: Option<(usize, Duration)>,
) -> std::io::Result<()> {
    match throttle {
        None => out.write_all(body),
        Some((chunk, tick)) => {
            for piece in body.chunks(chunk.max(1)) {
                out.write_all(piece)?;
                out.flush()?;
                std::thread::sleep(tick);
            }
            Ok(())
        }
    }
}

/// Closes `conn` with a TCP RST (`SO_LINGER` of zero), not a FIN.
fn reset(conn: &mut TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        #[repr(C)]
        struct Linger {
            onoff: i32,
            linger: i32,
        }
        unsafe extern "C" {
            fn setsockopt(fd: i32, level: i32, name: i32, value: *const Linger, len: u32) -> i32;
        }
        const SOL_SOCKET: i32 = 1;
        const SO_LINGER: i32 = 13;
        let linger = Linger {
            onoff: 1,
            linger: 0,
        };
        // SAFETY: a valid socket descriptor and a pointer to a live `struct linger`.
        unsafe {
            setsockopt(
                conn.as_raw_fd(),
                SOL_SOCKET,
                SO_LINGER,
                &linger,
                std::mem::size_of::<Linger>() as u32,
            );
        }
    }
    // Dropping the last handle closes the socket: with a zero linger, an RST.
    let _ = conn.shutdown(std::net::Shutdown::Read);
}

fn parse_range(value: &str) -> Option<(u64, Option<u64>)> {
    let spec = value.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start = a.trim().parse().ok()?;
    let end = if b.trim().is_empty() {
        None
    } else {
        Some(b.trim().parse().ok()?)
    };
    Some((start, end))
}

/// The served file a request path names, relative to the root.
fn file_of(store: &Store, path: &str) -> Option<String> {
    match store {
        Store::Plain => Some(path.to_string()),
        Store::Gcs { bucket } => {
            let name = path.strip_prefix(&format!("/storage/v1/b/{bucket}/o/"))?;
            Some(decode(name))
        }
        Store::Azure { account, container } => path
            .strip_prefix(&format!("/{account}/{container}/"))
            .map(decode),
    }
}

/// Every byte but RFC 3986's unreserved characters, percent-encoded.
fn encode_all(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let full = root.join(rel);
    full.is_file().then_some(full)
}

/// Standard base64 with padding (`Content-MD5`).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
