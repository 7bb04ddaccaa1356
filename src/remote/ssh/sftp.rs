//! A small SFTP client (protocol version 3, as OpenSSH's `sftp-server` and
//! every other server speak it) over any pair of byte pipes: here, the
//! standard input and output of an `ssh -s ... sftp` child.
//!
//! Only what reading objects needs: `OPEN` (read-only), `FSTAT`, `READ`,
//! `CLOSE`, and OpenSSH's `limits@openssh.com` extension (the largest read a
//! server allows). One [`Connection`] carries many requests at once, from any
//! number of threads: each request gets an id, a reader thread hands every
//! reply to the request that waits for it, so a thread that reads one file
//! keeps several `READ`s outstanding ([`FileReader`]) while other threads
//! open other files over the same connection.
//!
//! Wire format (draft-ietf-secsh-filexfer-02): every packet is a `u32`
//! length, a type byte, a `u32` request id (except `INIT`/`VERSION`) and
//! fields; integers are big-endian, strings a `u32` length and bytes.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SSH_FXP_INIT: u8 = 1;
const SSH_FXP_VERSION: u8 = 2;
const SSH_FXP_OPEN: u8 = 3;
const SSH_FXP_CLOSE: u8 = 4;
const SSH_FXP_READ: u8 = 5;
const SSH_FXP_FSTAT: u8 = 8;
const SSH_FXP_OPENDIR: u8 = 11;
const SSH_FXP_READDIR: u8 = 12;
const SSH_FXP_STAT: u8 = 17;
const SSH_FXP_STATUS: u8 = 101;
const SSH_FXP_HANDLE: u8 = 102;
const SSH_FXP_DATA: u8 = 103;
const SSH_FXP_NAME: u8 = 104;
const SSH_FXP_ATTRS: u8 = 105;
const SSH_FXP_EXTENDED: u8 = 200;
const SSH_FXP_EXTENDED_REPLY: u8 = 201;

const SSH_FXF_READ: u32 = 0x01;
const SSH_FILEXFER_ATTR_SIZE: u32 = 0x01;
const SSH_FILEXFER_ATTR_UIDGID: u32 = 0x02;
const SSH_FILEXFER_ATTR_PERMISSIONS: u32 = 0x04;
const SSH_FILEXFER_ATTR_ACMODTIME: u32 = 0x08;
const SSH_FILEXFER_ATTR_EXTENDED: u32 = 0x8000_0000;

/// `SSH_FX_EOF`: a read at or past the end of the file.
pub const FX_EOF: u32 = 1;
/// `SSH_FX_NO_SUCH_FILE`.
pub const FX_NO_SUCH_FILE: u32 = 2;
/// `SSH_FX_PERMISSION_DENIED`.
pub const FX_PERMISSION_DENIED: u32 = 3;
/// `SSH_FX_NO_CONNECTION`.
pub const FX_NO_CONNECTION: u32 = 6;
/// `SSH_FX_CONNECTION_LOST`.
pub const FX_CONNECTION_LOST: u32 = 7;

/// The largest packet we accept from a server (OpenSSH sends at most 256 KiB;
/// anything much larger is a broken stream, not data).
const MAX_PACKET: u32 = 4 << 20;

/// The read size when the server does not say its limit: what OpenSSH's own
/// client asks for, which every server serves whole.
const DEFAULT_READ_LEN: u32 = 32 << 10;

/// The largest read we ask for, whatever the server allows.
const MAX_READ_LEN: u32 = 256 << 10;

/// `READ`s one [`FileReader`] keeps outstanding.
const READ_AHEAD: usize = 8;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SftpError {
    /// The server answered with an error status (`code`, its message).
    Status {
        /// The `SSH_FX_*` code.
        code: u32,
        /// The server's text, possibly empty.
        message: String,
    },
    /// The connection is gone (the pipes closed or broke); `String` says how.
    Lost(String),
    /// The server sent something that is not SFTP, or not what was asked.
    Protocol(String),
    /// No answer within the timeout.
    Timeout,
}

impl std::fmt::Display for SftpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SftpError::Status { code, message } if message.is_empty() => {
                write!(f, "the SFTP server answered status {code}")
            }
            SftpError::Status { code, message } => {
                write!(f, "the SFTP server answered: {message} (status {code})")
            }
            SftpError::Lost(how) => write!(f, "the SFTP connection was lost: {how}"),
            SftpError::Protocol(what) => write!(f, "SFTP protocol error: {what}"),
            SftpError::Timeout => f.write_str("the SFTP server did not answer in time"),
        }
    }
}

/// One reply packet: its type and the bytes after the request id.
#[derive(Debug)]
struct Reply {
    kind: u8,
    body: Vec<u8>,
}

/// Who waits for the reply to a request id.
enum Waiter {
    /// A thread, on the receiving end.
    Thread(Sender<Result<Reply, SftpError>>),
    /// Nobody (a `CLOSE` sent on drop): the reply is read and dropped.
    Nobody,
}

#[derive(Default)]
struct State {
    waiting: HashMap<u32, Waiter>,
    /// Set once the connection is gone; every later request fails with it.
    closed: Option<SftpError>,
}

/// The state the reader thread shares with the requesters.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the connection gone and fails every waiting request.
    fn close(&self, why: SftpError) {
        let mut state = self.lock();
        if state.closed.is_none() {
            state.closed = Some(why.clone());
        }
        for (_, waiter) in state.waiting.drain() {
            if let Waiter::Thread(tx) = waiter {
                let _ = tx.send(Err(why.clone()));
            }
        }
    }
}

/// An SFTP session over a pair of pipes, shared by any number of threads.
pub struct Connection {
    shared: Arc<Shared>,
    writer: Mutex<Box<dyn Write + Send>>,
    next_id: AtomicU32,
    /// The size of each `READ` (the server's limit, capped).
    read_len: u32,
    /// How long a reply may take.
    timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("read_len", &self.read_len)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// An open file on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle(Vec<u8>);

/// A request sent, its reply not yet read.
#[must_use = "a request's reply must be waited for"]
pub struct Pending {
    rx: Receiver<Result<Reply, SftpError>>,
    timeout: Duration,
    /// A reply that never comes ends the connection for everyone.
    shared: Arc<Shared>,
}

impl Pending {
    fn wait(self) -> Result<Reply, SftpError> {
        match self.rx.recv_timeout(self.timeout) {
            Ok(reply) => reply,
            Err(RecvTimeoutError::Timeout) => {
                self.shared.close(SftpError::Timeout);
                Err(SftpError::Timeout)
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(SftpError::Lost("the reply was dropped".into()))
            }
        }
    }

    /// Waits for the reply to an `FSTAT` or `STAT`.
    pub fn wait_attrs(self) -> Result<Attrs, SftpError> {
        let reply = self.wait()?;
        match reply.kind {
            SSH_FXP_ATTRS => parse_attrs(&mut Fields::new(&reply.body)),
            SSH_FXP_STATUS => Err(status_error(&reply.body)),
            other => Err(unexpected("ATTRS", other)),
        }
    }

    /// Waits for the reply to a `READ`: its bytes, or `None` at the end of
    /// the file.
    fn wait_data(self) -> Result<Option<Vec<u8>>, SftpError> {
        let reply = self.wait()?;
        match reply.kind {
            SSH_FXP_DATA => {
                let mut fields = Fields::new(&reply.body);
                let len = fields.u32()? as usize;
                let start = fields.pos;
                if reply.body.len() - start < len {
                    return Err(SftpError::Protocol("a DATA reply is cut short".into()));
                }
                let mut body = reply.body;
                body.truncate(start + len);
                body.drain(..start);
                Ok(Some(body))
            }
            SSH_FXP_STATUS => match status_error(&reply.body) {
                SftpError::Status { code: FX_EOF, .. } => Ok(None),
                err => Err(err),
            },
            other => Err(unexpected("DATA", other)),
        }
    }
}

impl Connection {
    /// Starts a session: sends `INIT`, waits (up to `login`) for the
    /// server's `VERSION`, asks for its read limit when it offers
    /// `limits@openssh.com`. `input` is what the server sends, `output`
    /// where requests go; a reader thread owns `input` from now on. Every
    /// later reply may take up to `timeout`.
    pub fn start(
        input: impl Read + Send + 'static,
        mut output: impl Write + Send + 'static,
        login: Duration,
        timeout: Duration,
    ) -> Result<Connection, SftpError> {
        let shared = Arc::new(Shared::default());
        let (first_tx, first_rx) = mpsc::channel();
        let reader_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("dvc-build-sftp".into())
            .spawn(move || read_replies(input, first_tx, &reader_shared))
            .map_err(|e| SftpError::Lost(format!("cannot start a thread: {e}")))?;

        let mut init = Vec::with_capacity(9);
        put_u32(&mut init, 5);
        init.push(SSH_FXP_INIT);
        put_u32(&mut init, 3);
        output
            .write_all(&init)
            .and_then(|()| output.flush())
            .map_err(|e| lost(&e))?;
        let version = match first_rx.recv_timeout(login) {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => return Err(e),
            Err(RecvTimeoutError::Timeout) => return Err(SftpError::Timeout),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(SftpError::Lost("the server closed the connection".into()));
            }
        };
        if version.kind != SSH_FXP_VERSION {
            return Err(unexpected("VERSION", version.kind));
        }
        let mut fields = Fields::new(&version.body);
        let number = fields.u32()?;
        if number < 3 {
            return Err(SftpError::Protocol(format!(
                "the server speaks SFTP version {number}, version 3 is needed"
            )));
        }
        let mut has_limits = false;
        while !fields.is_empty() {
            let name = fields.string()?;
            let _data = fields.string()?;
            has_limits |= name == b"limits@openssh.com";
        }
        let mut conn = Connection {
            shared,
            writer: Mutex::new(Box::new(output)),
            next_id: AtomicU32::new(1),
            read_len: DEFAULT_READ_LEN,
            timeout,
        };
        if has_limits {
            let mut req = Vec::new();
            put_string(&mut req, b"limits@openssh.com");
            let reply = conn.send(SSH_FXP_EXTENDED, &req)?.wait()?;
            if reply.kind == SSH_FXP_EXTENDED_REPLY {
                let mut fields = Fields::new(&reply.body);
                let _max_packet = fields.u64()?;
                let max_read = fields.u64()?;
                if max_read > 0 {
                    conn.read_len = u32::try_from(max_read)
                        .unwrap_or(MAX_READ_LEN)
                        .min(MAX_READ_LEN);
                }
            }
        }
        Ok(conn)
    }

    /// `true` once the connection is gone (no request can succeed).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed.is_some()
    }

    /// Ends the session: every waiting and later request fails with `why`.
    pub fn shut(&self, why: SftpError) {
        self.shared.close(why);
    }

    /// Closes the pipe requests go to (the server then ends the session).
    pub fn close_output(&self) {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        *writer = Box::new(io::sink());
    }

    /// The size of each `READ`.
    pub fn read_len(&self) -> u32 {
        self.read_len
    }

    /// Sends a request of type `kind` with `fields` after its id.
    fn send(&self, kind: u8, fields: &[u8]) -> Result<Pending, SftpError> {
        let (tx, rx) = mpsc::channel();
        let id = self.register(Waiter::Thread(tx))?;
        self.write_packet(kind, id, fields)?;
        Ok(Pending {
            rx,
            timeout: self.timeout,
            shared: Arc::clone(&self.shared),
        })
    }

    fn register(&self, waiter: Waiter) -> Result<u32, SftpError> {
        let mut state = self.shared.lock();
        if let Some(why) = &state.closed {
            return Err(why.clone());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        state.waiting.insert(id, waiter);
        Ok(id)
    }

    fn write_packet(&self, kind: u8, id: u32, fields: &[u8]) -> Result<(), SftpError> {
        let len = u32::try_from(fields.len() + 5)
            .map_err(|_| SftpError::Protocol("a request is too long".into()))?;
        let mut packet = Vec::with_capacity(fields.len() + 9);
        put_u32(&mut packet, len);
        packet.push(kind);
        put_u32(&mut packet, id);
        packet.extend_from_slice(fields);
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let written = writer.write_all(&packet).and_then(|()| writer.flush());
        drop(writer);
        written.map_err(|e| {
            let why = lost(&e);
            self.shared.close(why.clone());
            why
        })
    }

    /// Opens `path` for reading.
    pub fn open(&self, path: &[u8]) -> Result<Handle, SftpError> {
        let mut fields = Vec::with_capacity(path.len() + 12);
        put_string(&mut fields, path);
        put_u32(&mut fields, SSH_FXF_READ);
        put_u32(&mut fields, 0); // no attributes
        let reply = self.send(SSH_FXP_OPEN, &fields)?.wait()?;
        match reply.kind {
            SSH_FXP_HANDLE => Ok(Handle(Fields::new(&reply.body).string()?.to_vec())),
            SSH_FXP_STATUS => Err(status_error(&reply.body)),
            other => Err(unexpected("HANDLE", other)),
        }
    }

    /// Asks for an open file's attributes ([`Pending::wait_attrs`]).
    pub fn fstat(&self, handle: &Handle) -> Result<Pending, SftpError> {
        let mut fields = Vec::with_capacity(handle.0.len() + 4);
        put_string(&mut fields, &handle.0);
        self.send(SSH_FXP_FSTAT, &fields)
    }

    /// The attributes of `path` (symbolic links followed).
    pub fn stat(&self, path: &[u8]) -> Result<Attrs, SftpError> {
        let mut fields = Vec::with_capacity(path.len() + 4);
        put_string(&mut fields, path);
        self.send(SSH_FXP_STAT, &fields)?.wait_attrs()
    }

    /// Every entry of the folder `path` but `.` and `..`: its name and
    /// attributes (symbolic links not followed).
    pub fn read_dir(&self, path: &[u8]) -> Result<Vec<(Vec<u8>, Attrs)>, SftpError> {
        let mut fields = Vec::with_capacity(path.len() + 4);
        put_string(&mut fields, path);
        let reply = self.send(SSH_FXP_OPENDIR, &fields)?.wait()?;
        let handle = match reply.kind {
            SSH_FXP_HANDLE => Handle(Fields::new(&reply.body).string()?.to_vec()),
            SSH_FXP_STATUS => return Err(status_error(&reply.body)),
            other => return Err(unexpected("HANDLE", other)),
        };
        let mut request = Vec::with_capacity(handle.0.len() + 4);
        put_string(&mut request, &handle.0);
        let mut entries = Vec::new();
        let listed = loop {
            let reply = match self.send(SSH_FXP_READDIR, &request).and_then(Pending::wait) {
                Ok(reply) => reply,
                Err(e) => break Err(e),
            };
            match reply.kind {
                SSH_FXP_NAME => {
                    let mut fields = Fields::new(&reply.body);
                    let parsed = (|| {
                        for _ in 0..fields.u32()? {
                            let name = fields.string()?.to_vec();
                            let _long_name = fields.string()?;
                            let attrs = parse_attrs(&mut fields)?;
                            if name != b"." && name != b".." {
                                entries.push((name, attrs));
                            }
                        }
                        Ok(())
                    })();
                    if let Err(e) = parsed {
                        break Err(e);
                    }
                }
                SSH_FXP_STATUS => match status_error(&reply.body) {
                    SftpError::Status { code: FX_EOF, .. } => break Ok(()),
                    e => break Err(e),
                },
                other => break Err(unexpected("NAME", other)),
            }
        };
        self.close_detached(&handle);
        listed.map(|()| entries)
    }

    /// Asks for `len` bytes of an open file from `offset`.
    fn read(&self, handle: &Handle, offset: u64, len: u32) -> Result<Pending, SftpError> {
        let mut fields = Vec::with_capacity(handle.0.len() + 16);
        put_string(&mut fields, &handle.0);
        fields.extend_from_slice(&offset.to_be_bytes());
        put_u32(&mut fields, len);
        self.send(SSH_FXP_READ, &fields)
    }

    /// Closes an open file without waiting for the answer.
    pub fn close_detached(&self, handle: &Handle) {
        let Ok(id) = self.register(Waiter::Nobody) else {
            return;
        };
        let mut fields = Vec::with_capacity(handle.0.len() + 4);
        put_string(&mut fields, &handle.0);
        let _ = self.write_packet(SSH_FXP_CLOSE, id, &fields);
    }
}

/// Reads bytes `offset..end` of an open file, keeping [`READ_AHEAD`] `READ`s
/// outstanding; closes the file when dropped. `R` keeps whatever owns the
/// connection alive while the file is read.
pub struct FileReader<R: AsRef<Connection>> {
    conn: R,
    handle: Handle,
    /// The offset of the next `READ` to send.
    next: u64,
    /// Where reading stops (exclusive); lowered once the size is known.
    end: u64,
    /// Sent `READ`s in file order: offset, length, reply.
    queue: VecDeque<(u64, u32, Pending)>,
    /// The current reply's bytes and how far they were read.
    buf: Vec<u8>,
    pos: usize,
    done: bool,
    /// A failure seen while sending, reported by the next `read`.
    failed: Option<SftpError>,
}

impl<R: AsRef<Connection>> FileReader<R> {
    /// Reads `handle` from `offset` to `end` (or to the end of the file),
    /// sending the first `READ`s at once.
    pub fn new(conn: R, handle: Handle, offset: u64, end: Option<u64>) -> FileReader<R> {
        let mut reader = FileReader {
            conn,
            handle,
            next: offset,
            end: end.unwrap_or(u64::MAX),
            queue: VecDeque::with_capacity(READ_AHEAD + 1),
            buf: Vec::new(),
            pos: 0,
            done: false,
            failed: None,
        };
        reader.fill();
        reader
    }

    /// The file is `size` bytes long: read no further than that.
    pub fn set_size(&mut self, size: u64) {
        self.end = self.end.min(size);
        // Reads already sent past the end are answered with EOF; forget them.
        while self
            .queue
            .back()
            .is_some_and(|(offset, _, _)| *offset >= self.end)
        {
            self.queue.pop_back();
        }
        self.next = self.next.min(self.end);
    }

    fn fill(&mut self) {
        let chunk = u64::from(self.conn.as_ref().read_len());
        while self.failed.is_none() && self.queue.len() < READ_AHEAD && self.next < self.end {
            let len = chunk.min(self.end - self.next) as u32;
            match self.conn.as_ref().read(&self.handle, self.next, len) {
                Ok(pending) => {
                    self.queue.push_back((self.next, len, pending));
                    self.next += u64::from(len);
                }
                Err(e) => self.failed = Some(e),
            }
        }
    }
}

impl<R: AsRef<Connection>> Read for FileReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.buf.len() {
                let n = out.len().min(self.buf.len() - self.pos);
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.done || out.is_empty() {
                return Ok(0);
            }
            self.fill();
            let Some((offset, len, pending)) = self.queue.pop_front() else {
                if let Some(e) = self.failed.take() {
                    return Err(to_io(e));
                }
                self.done = true;
                return Ok(0);
            };
            match pending.wait_data().map_err(to_io)? {
                None => {
                    // The file ends here (it may be shorter than its size said).
                    self.done = true;
                    self.queue.clear();
                    return Ok(0);
                }
                Some(data) if data.is_empty() || data.len() > len as usize => {
                    return Err(to_io(SftpError::Protocol(format!(
                        "asked for {len} bytes at {offset}, got {}",
                        data.len()
                    ))));
                }
                Some(mut data) => {
                    // Never past `end` (a file that grew since its size was read).
                    let room = self.end.saturating_sub(offset);
                    if room == 0 {
                        self.done = true;
                        self.queue.clear();
                        return Ok(0);
                    }
                    if data.len() as u64 > room {
                        data.truncate(room as usize);
                    }
                    let got = data.len() as u32;
                    if got < len && offset + u64::from(got) < self.end {
                        // A short read: ask for the rest before what follows.
                        let pending = self
                            .conn
                            .as_ref()
                            .read(&self.handle, offset + u64::from(got), len - got)
                            .map_err(to_io)?;
                        self.queue
                            .push_front((offset + u64::from(got), len - got, pending));
                    }
                    self.buf = data;
                    self.pos = 0;
                }
            }
        }
    }
}

impl<R: AsRef<Connection>> Drop for FileReader<R> {
    fn drop(&mut self) {
        self.conn.as_ref().close_detached(&self.handle);
    }
}

fn to_io(e: SftpError) -> io::Error {
    let kind = match &e {
        SftpError::Timeout => io::ErrorKind::TimedOut,
        SftpError::Lost(_) => io::ErrorKind::ConnectionAborted,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

impl std::error::Error for SftpError {}

fn lost(e: &io::Error) -> SftpError {
    SftpError::Lost(e.to_string())
}

fn unexpected(wanted: &str, got: u8) -> SftpError {
    SftpError::Protocol(format!("expected a {wanted} reply, got packet type {got}"))
}

fn status_error(body: &[u8]) -> SftpError {
    let mut fields = Fields::new(body);
    let Ok(code) = fields.u32() else {
        return SftpError::Protocol("a STATUS reply without a code".into());
    };
    // Version 3 servers send a message and a language tag; older ones none.
    let message = fields
        .string()
        .map(|m| String::from_utf8_lossy(m).trim().to_string())
        .unwrap_or_default();
    SftpError::Status { code, message }
}

/// What an ATTRS structure says of a file (the parts we use).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attrs {
    /// Its size in bytes.
    pub size: Option<u64>,
    /// Its mode, with the file type bits (`S_IFMT`).
    pub mode: Option<u32>,
}

impl Attrs {
    fn kind(&self) -> Option<u32> {
        self.mode.map(|m| m & 0o170_000)
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.kind() == Some(0o100_000)
    }

    /// A folder.
    pub fn is_dir(&self) -> bool {
        self.kind() == Some(0o040_000)
    }

    /// A symbolic link (as `READDIR` reports entries, unfollowed).
    pub fn is_symlink(&self) -> bool {
        self.kind() == Some(0o120_000)
    }
}

/// Reads an ATTRS structure.
fn parse_attrs(fields: &mut Fields<'_>) -> Result<Attrs, SftpError> {
    let flags = fields.u32()?;
    let mut attrs = Attrs::default();
    if flags & SSH_FILEXFER_ATTR_SIZE != 0 {
        attrs.size = Some(fields.u64()?);
    }
    if flags & SSH_FILEXFER_ATTR_UIDGID != 0 {
        fields.u32()?;
        fields.u32()?;
    }
    if flags & SSH_FILEXFER_ATTR_PERMISSIONS != 0 {
        attrs.mode = Some(fields.u32()?);
    }
    if flags & SSH_FILEXFER_ATTR_ACMODTIME != 0 {
        fields.u32()?;
        fields.u32()?;
    }
    if flags & SSH_FILEXFER_ATTR_EXTENDED != 0 {
        for _ in 0..fields.u32()? {
            fields.string()?;
            fields.string()?;
        }
    }
    Ok(attrs)
}

/// The reader thread: reads replies until the pipe ends, handing each to
/// its waiter (the first one, `VERSION`, to `first`).
fn read_replies(input: impl Read, first: Sender<Result<Reply, SftpError>>, shared: &Shared) {
    let mut input = io::BufReader::with_capacity(64 << 10, input);
    let why = match read_packet(&mut input) {
        Ok(Some(reply)) => {
            let _ = first.send(Ok(reply));
            loop {
                match read_packet(&mut input) {
                    Ok(Some(reply)) => {
                        if let Err(e) = dispatch(reply, shared) {
                            break e;
                        }
                    }
                    Ok(None) => break SftpError::Lost("the server closed the connection".into()),
                    Err(e) => break e,
                }
            }
        }
        Ok(None) => {
            let e = SftpError::Lost("the server closed the connection".into());
            let _ = first.send(Err(e.clone()));
            e
        }
        Err(e) => {
            let _ = first.send(Err(e.clone()));
            e
        }
    };
    shared.close(why);
}

/// Hands a reply to whoever waits for its id.
fn dispatch(mut reply: Reply, shared: &Shared) -> Result<(), SftpError> {
    if reply.body.len() < 4 {
        return Err(SftpError::Protocol(format!(
            "a reply of type {} without a request id",
            reply.kind
        )));
    }
    let id = u32::from_be_bytes([reply.body[0], reply.body[1], reply.body[2], reply.body[3]]);
    reply.body.drain(..4);
    let waiter = shared.lock().waiting.remove(&id);
    match waiter {
        Some(Waiter::Thread(tx)) => {
            // The requester may have given up (dropped its `Pending`).
            let _ = tx.send(Ok(reply));
            Ok(())
        }
        Some(Waiter::Nobody) => Ok(()),
        None => Err(SftpError::Protocol(format!(
            "a reply to request {id}, which was never sent"
        ))),
    }
}

/// One packet, or `None` when the pipe ends cleanly between packets.
fn read_packet(input: &mut impl Read) -> Result<Option<Reply>, SftpError> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(SftpError::Lost("the stream ended inside a packet".into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(lost(&e)),
        }
    }
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if len == 0 || len > MAX_PACKET {
        return Err(SftpError::Protocol(format!(
            "a packet of {len} bytes (is the login shell printing text?)"
        )));
    }
    let mut body = vec![0u8; len as usize - 1];
    input.read_exact(&mut body).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            SftpError::Lost("the stream ended inside a packet".into())
        } else {
            lost(&e)
        }
    })?;
    Ok(Some(Reply {
        kind: head[4],
        body,
    }))
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    // Paths and handles are far below 4 GiB.
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s);
}

/// A cursor over a packet's fields.
struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Fields<'a> {
        Fields { bytes, pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], SftpError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| SftpError::Protocol("a reply is cut short".into()))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, SftpError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, SftpError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn string(&mut self) -> Result<&'a [u8], SftpError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn parses_attrs_with_every_field() {
        let mut b = Vec::new();
        put_u32(
            &mut b,
            SSH_FILEXFER_ATTR_SIZE
                | SSH_FILEXFER_ATTR_UIDGID
                | SSH_FILEXFER_ATTR_PERMISSIONS
                | SSH_FILEXFER_ATTR_ACMODTIME
                | SSH_FILEXFER_ATTR_EXTENDED,
        );
        b.extend_from_slice(&12345u64.to_be_bytes());
        for v in [0, 0, 0o100_644, 1, 2, 1] {
            put_u32(&mut b, v);
        }
        put_string(&mut b, b"k");
        put_string(&mut b, b"v");
        let attrs = parse_attrs(&mut Fields::new(&b)).unwrap();
        assert_eq!(attrs.size, Some(12345));
        assert!(attrs.is_file() && !attrs.is_dir() && !attrs.is_symlink());
        // Cut anywhere: an error, never a panic or a wrong size.
        for cut in 0..b.len() {
            assert!(parse_attrs(&mut Fields::new(&b[..cut])).is_err(), "{cut}");
        }
        let mut none = Vec::new();
        put_u32(&mut none, 0);
        assert_eq!(parse_attrs(&mut Fields::new(&none)), Ok(Attrs::default()));
    }

    #[test]
    fn reads_packets_and_refuses_garbage() {
        let mut bytes = Vec::new();
        put_u32(&mut bytes, 5);
        bytes.push(SSH_FXP_VERSION);
        put_u32(&mut bytes, 3);
        let reply = read_packet(&mut Cursor::new(&bytes)).unwrap().unwrap();
        assert_eq!(
            (reply.kind, reply.body),
            (SSH_FXP_VERSION, vec![0, 0, 0, 3])
        );
        assert!(read_packet(&mut Cursor::new(Vec::new())).unwrap().is_none());
        // Cut inside a packet.
        assert!(matches!(
            read_packet(&mut Cursor::new(&bytes[..7])),
            Err(SftpError::Lost(_))
        ));
        // Text where a packet should be (a login shell's greeting).
        assert!(matches!(
            read_packet(&mut Cursor::new(b"Welcome to the server\n".to_vec())),
            Err(SftpError::Protocol(_))
        ));
    }

    /// A scripted SFTP server on a pipe pair: serves `data` as the one file,
    /// answers every `READ` with at most `max_read` bytes, and answers each
    /// batch of waiting requests last first (both are allowed by the
    /// protocol; OpenSSH's server does neither). Stops answering after
    /// `die_after` reads.
    fn scripted_server(data: Vec<u8>, max_read: usize, die_after: usize) -> Connection {
        let (client_in, mut server_out) = std::io::pipe().unwrap();
        let (mut server_in, client_out) = std::io::pipe().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            while let Ok(Some(req)) = read_packet(&mut server_in) {
                if tx.send(req).is_err() {
                    break;
                }
            }
        });
        std::thread::spawn(move || {
            let mut reads = 0;
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                batch.extend(rx.try_iter());
                for req in batch.into_iter().rev() {
                    let mut f = Fields::new(&req.body);
                    let mut reply = Vec::new();
                    let kind = if req.kind == SSH_FXP_INIT {
                        put_u32(&mut reply, 3);
                        SSH_FXP_VERSION
                    } else {
                        put_u32(&mut reply, f.u32().unwrap());
                        match req.kind {
                            SSH_FXP_OPEN => {
                                put_string(&mut reply, b"h");
                                SSH_FXP_HANDLE
                            }
                            SSH_FXP_FSTAT => {
                                put_u32(&mut reply, SSH_FILEXFER_ATTR_SIZE);
                                reply.extend_from_slice(&(data.len() as u64).to_be_bytes());
                                SSH_FXP_ATTRS
                            }
                            SSH_FXP_READ => {
                                reads += 1;
                                if reads > die_after {
                                    return;
                                }
                                f.string().unwrap();
                                let offset = f.u64().unwrap() as usize;
                                let len = f.u32().unwrap() as usize;
                                if offset >= data.len() {
                                    put_u32(&mut reply, FX_EOF);
                                    put_string(&mut reply, b"EOF");
                                    put_string(&mut reply, b"");
                                    SSH_FXP_STATUS
                                } else {
                                    let end = data.len().min(offset + len.min(max_read));
                                    put_string(&mut reply, &data[offset..end]);
                                    SSH_FXP_DATA
                                }
                            }
                            _ => {
                                put_u32(&mut reply, 0);
                                put_string(&mut reply, b"");
                                put_string(&mut reply, b"");
                                SSH_FXP_STATUS
                            }
                        }
                    };
                    let mut packet = Vec::new();
                    put_u32(&mut packet, reply.len() as u32 + 1);
                    packet.push(kind);
                    packet.extend_from_slice(&reply);
                    if server_out.write_all(&packet).is_err() {
                        return;
                    }
                }
            }
        });
        let second = Duration::from_secs(5);
        Connection::start(client_in, client_out, second, second).unwrap()
    }

    fn read_range(conn: Connection, offset: u64, end: Option<u64>) -> io::Result<Vec<u8>> {
        let handle = conn.open(b"/f").unwrap();
        let size = conn
            .fstat(&handle)
            .unwrap()
            .wait_attrs()
            .unwrap()
            .size
            .unwrap();
        let mut reader = FileReader::new(Arc::new(conn), handle, offset, end);
        reader.set_size(size);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map(|_| out)
    }

    #[test]
    fn short_and_reordered_reads_give_the_exact_bytes() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        for (offset, end) in [(0, None), (12_345, Some(250_001)), (299_999, None)] {
            let conn = scripted_server(data.clone(), 1000 + offset as usize % 7, usize::MAX);
            let got = read_range(conn, offset, end).unwrap();
            let stop = end.unwrap_or(data.len() as u64) as usize;
            assert_eq!(got, &data[offset as usize..stop], "{offset}..{end:?}");
        }
    }

    #[test]
    fn a_server_that_goes_away_is_an_error_not_an_end() {
        let data = vec![7u8; 100_000];
        let err = read_range(scripted_server(data, 4096, 5), 0, None).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted, "{err}");
    }

    #[test]
    fn status_messages() {
        let mut b = Vec::new();
        put_u32(&mut b, FX_NO_SUCH_FILE);
        put_string(&mut b, b"No such file");
        put_string(&mut b, b"en");
        assert_eq!(
            status_error(&b),
            SftpError::Status {
                code: FX_NO_SUCH_FILE,
                message: "No such file".into()
            }
        );
        assert!(matches!(status_error(&[0, 0]), SftpError::Protocol(_)));
    }
}
