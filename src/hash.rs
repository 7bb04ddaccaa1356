//! MD5 content hashes, as DVC computes them.
//!
//! [`Md5`] is a validated 32-hex-digit hash. [`md5_reader`] hashes a stream in
//! fixed-size chunks (never the whole file in memory). DVC 2 hashed files it
//! judged to be text after turning CRLF into LF; [`legacy_md5_reader`]
//! reproduces that exactly, chunk boundaries included, so both kinds of
//! `outs` can be verified.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use md5::{Digest, Md5 as Md5Hasher};

use crate::error::{Error, ErrorKind};

/// Size of the chunks DVC reads while hashing (`2**20`); DVC 2's CRLF folding
/// works chunk by chunk, so the legacy hash depends on it.
pub const CHUNK_SIZE: usize = 1 << 20;

/// How many leading bytes DVC 2 inspects to decide "text or binary".
const TEXT_PROBE_SIZE: usize = 512;

/// An MD5 content hash: 16 bytes, shown as 32 lowercase hex digits.
///
/// ```
/// use dvc_build::__private::hash::Md5;
/// let h: Md5 = "d41d8cd98f00b204e9800998ecf8427e".parse().unwrap();
/// assert_eq!(h, Md5::of(b""));
/// assert!("not-a-hash".parse::<Md5>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Md5([u8; 16]);

impl Md5 {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Md5 {
        Md5(Md5Hasher::digest(bytes).into())
    }

    /// The raw 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// 32 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// The 32 lowercase hex digits as ASCII bytes, without allocating (for
    /// comparing with a record on a hot path).
    pub fn hex_digits(&self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (pair, b) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0x0f)];
        }
        out
    }
}

impl FromStr for Md5 {
    type Err = Error;

    fn from_str(s: &str) -> Result<Md5, Error> {
        let mut out = [0u8; 16];
        if !parse_hex(s, &mut out) {
            return Err(Error::new(
                ErrorKind::Format,
                format!("`{}` is not an MD5 hash (32 hex digits)", shown(s)),
            ));
        }
        Ok(Md5(out))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.hex_digits();
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Md5 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Md5({self})")
    }
}

/// A SHA-256 hash: 32 bytes, shown as 64 lowercase hex digits. What a
/// `sha256 =` pin in `Cargo.toml` names (DVC itself knows only MD5).
///
/// ```
/// use dvc_build::__private::hash::Sha256;
/// let h: Sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855".parse().unwrap();
/// assert_eq!(h.to_string(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
/// assert!("e3b0".parse::<Sha256>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    /// The hash with these raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Sha256 {
        Sha256(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for Sha256 {
    type Err = Error;

    fn from_str(s: &str) -> Result<Sha256, Error> {
        let mut out = [0u8; 32];
        if !parse_hex(s, &mut out) {
            return Err(Error::new(
                ErrorKind::Format,
                format!("`{}` is not a SHA-256 hash (64 hex digits)", shown(s)),
            ));
        }
        Ok(Sha256(out))
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

/// Fills `out` from exactly `2 * out.len()` hex digits; `false` otherwise.
fn parse_hex(s: &str, out: &mut [u8]) -> bool {
    let bytes = s.as_bytes();
    if bytes.len() != out.len() * 2 {
        return false;
    }
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(hi), Some(lo)) => *slot = hi << 4 | lo,
            _ => return false,
        }
    }
    true
}

/// `s` as a message shows it: escaped, at most 80 characters.
fn shown(s: &str) -> String {
    s.escape_debug().to_string().chars().take(80).collect()
}

/// An incremental MD5 that also counts bytes, and computes the SHA-256 of
/// the same bytes in the same pass when asked ([`Hasher::with_sha256`]);
/// feed it with [`Hasher::update`].
#[derive(Clone, Default)]
pub struct Hasher {
    inner: Md5Hasher,
    sha256: Option<sha2::Sha256>,
    len: u64,
}

impl Hasher {
    /// A fresh hasher (MD5 only).
    pub fn new() -> Hasher {
        Hasher::default()
    }

    /// A fresh hasher that also computes the SHA-256.
    pub fn with_sha256() -> Hasher {
        Hasher {
            sha256: Some(sha2::Sha256::default()),
            ..Hasher::default()
        }
    }

    /// A fresh hasher computing the same hashes as this one.
    pub fn fresh(&self) -> Hasher {
        if self.sha256.is_some() {
            Hasher::with_sha256()
        } else {
            Hasher::new()
        }
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        if let Some(sha) = &mut self.sha256 {
            sha2::Digest::update(sha, bytes);
        }
        self.len += bytes.len() as u64;
    }

    /// Bytes seen so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before any byte was added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hash and the byte count.
    pub fn finish(self) -> (Md5, u64) {
        (Md5(self.inner.finalize().into()), self.len)
    }

    /// The MD5, the byte count and, when asked for, the SHA-256.
    pub fn finish_all(self) -> (Md5, u64, Option<Sha256>) {
        let sha = self
            .sha256
            .map(|s| Sha256(sha2::Digest::finalize(s).into()));
        (Md5(self.inner.finalize().into()), self.len, sha)
    }
}

/// The SHA-256 of everything `reader` yields, read in [`CHUNK_SIZE`] chunks.
pub fn sha256_reader(mut reader: impl Read) -> io::Result<Sha256> {
    let mut hasher = sha2::Sha256::default();
    let mut buf = vec![0u8; CHUNK_SIZE];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha2::Digest::update(&mut hasher, &buf[..n]);
    }
    Ok(Sha256(sha2::Digest::finalize(hasher).into()))
}

/// The MD5 and size of everything `reader` yields, read in [`CHUNK_SIZE`] chunks.
pub fn md5_reader(mut reader: impl Read) -> io::Result<(Md5, u64)> {
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; CHUNK_SIZE];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish())
}

/// DVC 2's hash of a stream: the plain MD5 for binary content; for content
/// whose first 512 bytes look like text, the MD5 after `\r\n` -> `\n`,
/// applied to each 1 MiB chunk separately, as DVC 2 did.
/// Returns the hash and the stream's real (unconverted) size.
pub fn legacy_md5_reader(mut reader: impl Read) -> io::Result<(Md5, u64)> {
    let mut hasher = Md5Hasher::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; CHUNK_SIZE];
    let mut is_text: Option<bool> = None;
    let mut converted = Vec::new();
    loop {
        let n = read_full(&mut reader, &mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        size += n as u64;
        let text = *is_text.get_or_insert_with(|| is_text_block(&chunk[..n.min(TEXT_PROBE_SIZE)]));
        if text {
            converted.clear();
            dos2unix(chunk, &mut converted);
            hasher.update(&converted);
        } else {
            hasher.update(chunk);
        }
    }
    Ok((Md5(hasher.finalize().into()), size))
}

/// Python's `file.read(n)` on a regular file returns `n` bytes unless at EOF;
/// DVC's chunking relies on that, so we fill the buffer the same way.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// DVC's `istextblock`: empty is text; a NUL byte means binary; otherwise text
/// when at most 30% of the bytes are outside printable ASCII and `\n\r\t\f\b`.
pub fn is_text_block(block: &[u8]) -> bool {
    if block.is_empty() {
        return true;
    }
    if block.contains(&0) {
        return false;
    }
    let nontext = block
        .iter()
        .filter(|&&b| !((32..127).contains(&b) || matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0x08)))
        .count();
    (nontext as f64) / (block.len() as f64) <= 0.30
}

fn dos2unix(chunk: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < chunk.len() {
        if chunk[i] == b'\r' && chunk.get(i + 1) == Some(&b'\n') {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(chunk[i]);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_md5() {
        let (h, n) = md5_reader(&b"hello\n"[..]).unwrap();
        assert_eq!(h.to_string(), "b1946ac92492d2347c6235b4d2611184");
        assert_eq!(n, 6);
    }

    #[test]
    fn sha256_in_the_same_pass() {
        let mut h = Hasher::with_sha256();
        h.update(b"hel");
        h.update(b"lo\n");
        let (md5, len, sha) = h.finish_all();
        assert_eq!(md5, Md5::of(b"hello\n"));
        assert_eq!(len, 6);
        let want = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        assert_eq!(sha.unwrap().to_string(), want);
        assert_eq!(sha256_reader(&b"hello\n"[..]).unwrap().to_string(), want);
        assert_eq!(Hasher::new().fresh().finish_all().2, None);
    }

    #[test]
    fn legacy_md5_folds_crlf_in_text_only() {
        let (h, n) = legacy_md5_reader(&b"a\r\nb\r\n"[..]).unwrap();
        assert_eq!(h, Md5::of(b"a\nb\n"));
        assert_eq!(n, 6);
        let bin = b"\0\r\n";
        assert_eq!(legacy_md5_reader(&bin[..]).unwrap().0, Md5::of(bin));
    }

    #[test]
    fn parse_rejects_wrong_shapes() {
        for bad in [
            "",
            "abc",
            "g1946ac92492d2347c6235b4d2611184",
            "b1946ac92492d2347c6235b4d2611184.dir",
        ] {
            assert!(bad.parse::<Md5>().is_err(), "{bad}");
        }
    }
}
