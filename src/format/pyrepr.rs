//! Python's `repr()` of the small dicts fsspec builds, and fsspec's
//! `checksum` over them: what `dvc import-url` records as an HTTP source's
//! `checksum` when the server sends neither `ETag` nor `Content-MD5`.
//!
//! fsspec's `AbstractFileSystem.checksum(path)` is
//! `int(md5(str((info,)).encode()).hexdigest(), 16)`, written in decimal:
//! the MD5 of the text of a one-element tuple holding the info dict, read
//! as a 128-bit number. Keys keep their insertion order (Python dicts do).

use crate::hash::Md5;

/// A value in such a dict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int`.
    Int(u64),
    /// A `str`.
    Str(String),
}

/// `repr(value)` as Python 3 writes it.
pub fn repr(value: &PyValue) -> String {
    match value {
        PyValue::None => "None".to_string(),
        PyValue::Bool(true) => "True".to_string(),
        PyValue::Bool(false) => "False".to_string(),
        PyValue::Int(i) => i.to_string(),
        PyValue::Str(s) => repr_str(s),
    }
}

/// `repr(s)` of a Python `str`: single quotes unless the text holds a
/// single quote and no double quote; `\\`, the quote, `\t`, `\n`, `\r`
/// escaped; other control characters as `\xNN`.
pub fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f || (0x80..0xa1).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `repr(dict)`: `{'k': v, ...}` in the order given.
pub fn repr_dict(fields: &[(String, PyValue)]) -> String {
    let items: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}: {}", repr_str(k), repr(v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// fsspec's `checksum` of a file whose info dict is `fields`: the decimal
/// value of `md5(str((info,)))`.
///
/// ```
/// use dvc_build::__private::format::pyrepr::{PyValue, fsspec_checksum};
/// let s = |v: &str| PyValue::Str(v.to_string());
/// let info = [
///     ("name".to_string(), s("http://127.0.0.1:18120/data.txt")),
///     ("size".to_string(), PyValue::Int(9)),
///     ("mimetype".to_string(), s("text/plain")),
///     ("url".to_string(), s("http://127.0.0.1:18120/data.txt")),
///     ("Last-Modified".to_string(), s("Sun, 29 Nov 2026 13:14:47 GMT")),
///     ("type".to_string(), s("file")),
/// ];
/// // What `dvc import-url` wrote for this server (shared/facts).
/// assert_eq!(fsspec_checksum(&info), "3666652321209134395202422085534887170");
/// ```
pub fn fsspec_checksum(fields: &[(String, PyValue)]) -> String {
    let text = format!("({},)", repr_dict(fields));
    u128::from_be_bytes(*Md5::of(text.as_bytes()).as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_as_python_does() {
        assert_eq!(repr_str("abc"), "'abc'");
        assert_eq!(repr_str("\"etag\""), "'\"etag\"'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("it's \"x\""), "'it\\'s \"x\"'");
        assert_eq!(repr_str("a\\b\tc\n\x01\x7f"), "'a\\\\b\\tc\\n\\x01\\x7f'");
        assert_eq!(repr_str("é"), "'é'");
    }

    #[test]
    fn dicts_keep_their_order() {
        let d = [
            ("b".to_string(), PyValue::Int(1)),
            ("a".to_string(), PyValue::None),
            ("partial".to_string(), PyValue::Bool(false)),
        ];
        assert_eq!(repr_dict(&d), "{'b': 1, 'a': None, 'partial': False}");
    }
}
