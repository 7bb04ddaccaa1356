//! `.dir` manifests: the JSON list of `{"md5", "relpath"}` entries that names
//! the files of a tracked directory. Parsed defensively (a hostile remote
//! must not make us write outside the directory) and written exactly as DVC
//! writes it, so a subtree's manifest hashes to the `md5` DVC records.

use std::fmt;

use serde_core::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::pyjson;
use super::yaml::{Map, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::hash::Md5;

/// Largest manifest text we parse; a directory of a million files is ~80 MB.
const MAX_MANIFEST_BYTES: usize = 512 << 20;

/// One file of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Path inside the directory, `/`-separated, validated.
    pub relpath: String,
    /// The file's content hash.
    pub md5: Md5,
}

/// A parsed `.dir` manifest, entries sorted by `relpath`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirManifest {
    entries: Vec<DirEntry>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Format, format!(".dir manifest: {}", msg.into()))
}

impl DirManifest {
    /// Parses manifest bytes. Extra keys per entry (DVC 2's `size`, `isexec`,
    /// ...) are ignored; unsafe or duplicate relpaths are errors.
    pub fn parse(bytes: &[u8]) -> Result<DirManifest> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(bad("too large"));
        }
        // serde_json limits nesting to 128 levels itself, so hostile input
        // can't overflow. Read entry by entry, keeping only `md5` and
        // `relpath`: a JSON tree of the whole list would cost about 600
        // bytes per entry, 12 MB for a 20,000-file directory.
        let list: List =
            serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        let List::Entries(items) = list else {
            return Err(bad("expected a list"));
        };
        let entries = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| parse_entry(item).map_err(|e| e.context(format!("entry {i}"))))
            .collect::<Result<Vec<_>>>()?;
        DirManifest::from_entries(entries)
    }

    /// A manifest from entries (sorted here); rejects unsafe and duplicate
    /// paths, and a path that is both a file and a folder (`a`, `a/b`).
    pub fn from_entries(mut entries: Vec<DirEntry>) -> Result<DirManifest> {
        for e in &entries {
            check_relpath(&e.relpath)?;
        }
        entries.sort_by(|a, b| a.relpath.cmp(&b.relpath));
        if let Some(w) = entries.windows(2).find(|w| w[0].relpath == w[1].relpath) {
            return Err(bad(format!(
                "duplicate relpath `{}`",
                w[0].relpath.escape_debug()
            )));
        }
        // A path cannot be a file and a folder at once (`a` and `a/b`).
        let files: std::collections::HashSet<&str> =
            entries.iter().map(|e| e.relpath.as_str()).collect();
        for e in &entries {
            let mut folder = e.relpath.as_str();
            while let Some((parent, _)) = folder.rsplit_once('/') {
                if files.contains(parent) {
                    return Err(bad(format!(
                        "`{}` is a file, but `{}` is inside it",
                        parent.escape_debug(),
                        e.relpath.escape_debug()
                    )));
                }
                folder = parent;
            }
        }
        Ok(DirManifest { entries })
    }

    /// The entries, sorted by relpath.
    pub fn entries(&self) -> &[DirEntry] {
        &self.entries
    }

    /// The entry for `relpath`.
    pub fn get(&self, relpath: &str) -> Option<&DirEntry> {
        self.entries
            .binary_search_by(|e| e.relpath.as_str().cmp(relpath))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The manifest of the subdirectory `prefix` (`a/b`), relpaths made
    /// relative to it; what DVC builds when importing a subdirectory of a
    /// tracked directory. Empty when nothing is under `prefix`.
    pub fn subtree(&self, prefix: &str) -> DirManifest {
        let prefix = prefix.trim_matches('/');
        let lead = format!("{prefix}/");
        let entries = self
            .entries
            .iter()
            .filter_map(|e| {
                let rel = e.relpath.strip_prefix(&lead)?;
                Some(DirEntry {
                    relpath: rel.to_string(),
                    md5: e.md5,
                })
            })
            .collect();
        DirManifest { entries }
    }

    /// The bytes DVC writes for this manifest: Python's
    /// `json.dumps(list, sort_keys=True)`.
    pub fn to_json(&self) -> String {
        let list = self
            .entries
            .iter()
            .map(|e| {
                let mut m = Map::new();
                m.insert("md5", Value::Str(e.md5.to_hex()));
                m.insert("relpath", Value::Str(e.relpath.clone()));
                Value::Map(m)
            })
            .collect();
        pyjson::dumps(&Value::Seq(list))
    }

    /// The manifest's hash (the directory's `md5`, without `.dir`).
    pub fn md5(&self) -> Md5 {
        Md5::of(self.to_json().as_bytes())
    }
}

fn parse_entry(item: RawEntry) -> Result<DirEntry> {
    let RawEntry::Object { md5, relpath } = item else {
        return Err(bad("expected an object"));
    };
    let field = |key: &str, value: Option<Field>| match value {
        Some(Field::Str(s)) => Ok(s),
        Some(Field::Other) => Err(bad(format!("`{key}`: expected a string"))),
        None => Err(bad(format!("`{key}`: missing"))),
    };
    let relpath = field("relpath", relpath)?;
    let md5 = field("md5", md5)?
        .parse()
        .map_err(|e: Error| bad(e.message().to_string()))?;
    Ok(DirEntry { relpath, md5 })
}

/// The manifest as read: a list of entries, or any other JSON value.
enum List {
    Entries(Vec<RawEntry>),
    Other,
}

/// One item of the list as read, before it is checked: an object's `md5`
/// and `relpath` (a key given twice: the last), or any other JSON value.
enum RawEntry {
    Object {
        md5: Option<Field>,
        relpath: Option<Field>,
    },
    Other,
}

/// The value of a field we read: a string, or anything else.
enum Field {
    Str(String),
    Other,
}

/// A visitor that turns every JSON value but the one kind it wants into
/// `$other`, consuming it.
macro_rules! other_values {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok($other)
        }
    };
}

/// Consumes the rest of a list.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> std::result::Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Consumes the rest of an object.
fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> std::result::Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<List, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = List;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of entries")
            }
            other_values!(List::Other);
            fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<List, E> {
                Ok(List::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<List, A::Error> {
                skip_map(map)?;
                Ok(List::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<List, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(item) = seq.next_element::<RawEntry>()? {
                    items.push(item);
                }
                Ok(List::Entries(items))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<RawEntry, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an entry")
            }
            other_values!(RawEntry::Other);
            fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<RawEntry, E> {
                Ok(RawEntry::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                seq: A,
            ) -> std::result::Result<RawEntry, A::Error> {
                skip_seq(seq)?;
                Ok(RawEntry::Other)
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<RawEntry, A::Error> {
                let (mut md5, mut relpath) = (None, None);
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Md5 => md5 = Some(map.next_value::<Field>()?),
                        Key::Relpath => relpath = Some(map.next_value::<Field>()?),
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(RawEntry::Object { md5, relpath })
            }
        }
        d.deserialize_any(V)
    }
}

/// The key of an entry's field, without allocating it.
enum Key {
    Md5,
    Relpath,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Key, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> std::result::Result<Key, E> {
                Ok(match key {
                    "md5" => Key::Md5,
                    "relpath" => Key::Relpath,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Field, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value")
            }
            other_values!(Field::Other);
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Field, E> {
                Ok(Field::Str(s.to_string()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> std::result::Result<Field, E> {
                Ok(Field::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<Field, A::Error> {
                skip_seq(seq)?;
                Ok(Field::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Field, A::Error> {
                skip_map(map)?;
                Ok(Field::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// Rejects a relpath that could leave the directory or is ambiguous: empty,
/// absolute, `..` or `.` components, empty components, NUL, backslashes,
/// Windows drive letters.
pub fn check_relpath(relpath: &str) -> Result<()> {
    let reject = |why: &str| {
        Err(bad(format!(
            "unsafe relpath `{}`: {why}",
            relpath.escape_debug()
        )))
    };
    if relpath.is_empty() {
        return reject("empty");
    }
    if relpath.contains('\0') {
        return reject("contains NUL");
    }
    if relpath.contains('\\') {
        return reject("contains a backslash");
    }
    if relpath.starts_with('/') {
        return reject("absolute");
    }
    let b = relpath.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return reject("Windows drive");
    }
    for part in relpath.split('/') {
        match part {
            "" => return reject("empty component"),
            "." | ".." => return reject("`.` or `..` component"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "d41d8cd98f00b204e9800998ecf8427e";

    fn manifest(paths: &[&str]) -> Result<DirManifest> {
        let items: Vec<String> = paths
            .iter()
            .map(|p| {
                format!(
                    "{{\"md5\": \"{H}\", \"relpath\": {}}}",
                    serde_json::Value::from(*p)
                )
            })
            .collect();
        DirManifest::parse(format!("[{}]", items.join(", ")).as_bytes())
    }

    #[test]
    fn rejects_a_file_that_is_also_a_folder() {
        let err = manifest(&["a", "a-b", "a/b/c"]).unwrap_err();
        assert!(err.to_string().contains("`a` is a file"), "{err}");
        assert!(manifest(&["a/b", "a/c", "ab"]).is_ok());
    }

    #[test]
    fn rejects_unsafe_paths() {
        for p in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            ".",
            "a//b",
            "a/",
            "a\\b",
            "C:x",
            "c:/x",
            "\\\\server\\share",
            "a\0b",
        ] {
            assert!(manifest(&[p]).is_err(), "{p:?}");
        }
        assert!(manifest(&["a", "a"]).is_err());
        assert!(manifest(&["a..b", ".hidden", "é/ü"]).is_ok());
    }

    #[test]
    fn writes_like_dvc_and_sorts_by_code_point() {
        let m = manifest(&["b", "a/é", "a/z"]).unwrap();
        assert_eq!(
            m.to_json(),
            format!(
                "[{{\"md5\": \"{H}\", \"relpath\": \"a/z\"}}, {{\"md5\": \"{H}\", \"relpath\": \"a/\\u00e9\"}}, {{\"md5\": \"{H}\", \"relpath\": \"b\"}}]"
            )
        );
        assert_eq!(m.subtree("a").entries().len(), 2);
        assert_eq!(m.subtree("a/").get("z").unwrap().md5.to_hex(), H);
    }

    #[test]
    fn malformed_json_is_an_error() {
        for bad in [
            "",
            "{",
            "[1]",
            "[{}]",
            "[{\"md5\": 1, \"relpath\": \"a\"}]",
            &"[".repeat(10_000),
        ] {
            assert!(DirManifest::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
