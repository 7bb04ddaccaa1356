//! A tiny threaded HTTP/1.1 file server for tests: serves a folder with
//! keep-alive and `Range` support, counts requests per path, and can cut a
//! response short once (to test resuming). Meant to grow into a
//! fault-injecting server: every response goes through [`FileServer`]'s
//! `respond`, where faults are decided.

use std::collections::HashMap;
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
    /// The request path, e.g. `/files/md5/ab/cdef...`.
    pub path: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
}

#[derive(Default)]
struct State {
    log: Vec<Request>,
    /// path -> bytes to send before cutting the connection (once).
    cut_once: HashMap<String, u64>,
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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
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
        let key = format!("/{}", path.trim_start_matches('/'));
        self.state.lock().unwrap().cut_once.insert(key, bytes);
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
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':')
                && name.eq_ignore_ascii_case("range")
            {
                range = Some(value.trim().to_string());
            }
        }
        let path = target.split('?').next().unwrap_or("/").to_string();
        let cut = {
            let mut st = state.lock().unwrap();
            st.log.push(Request {
                path: path.clone(),
                range: range.clone(),
            });
            st.cut_once.remove(&path)
        };
        if !respond(&mut out, root, &method, &path, range.as_deref(), cut) {
            return;
        }
    }
}

/// Writes one response; `false` when the connection must close.
fn respond(
    out: &mut TcpStream,
    root: &Path,
    method: &str,
    path: &str,
    range: Option<&str>,
    cut: Option<u64>,
) -> bool {
    let simple = |out: &mut TcpStream, status: &str| {
        let _ = write!(out, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
        true
    };
    if method != "GET" {
        return simple(out, "405 Method Not Allowed");
    }
    let Some(file) = resolve(root, path) else {
        return simple(out, "404 Not Found");
    };
    let Ok(bytes) = std::fs::read(&file) else {
        return simple(out, "404 Not Found");
    };
    let total = bytes.len() as u64;
    let (status, start, end) = match range.and_then(parse_range) {
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
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n",
        end - start
    );
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
    let body = &bytes[start as usize..end as usize];
    match cut {
        Some(n) => {
            let _ = out.write_all(&body[..(n as usize).min(body.len())]);
            let _ = out.flush();
            let _ = out.shutdown(std::net::Shutdown::Both);
            false
        }
        None => out.write_all(body).is_ok(),
    }
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

fn resolve(root: &Path, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path.trim_start_matches('/'));
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let full = root.join(rel);
    full.is_file().then_some(full)
}
