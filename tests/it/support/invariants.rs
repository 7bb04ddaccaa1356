//! Invariants the tests check after every fault, crash and hostile input.
//!
//! The cache invariant ([`assert_cache_sound`]):
//!
//! * the cache root holds only `files/`, `state/`, `legacy/`, `resolved/`,
//!   `locks/`, `placed/`, `tmp/` and `git/`;
//! * every file under `files/md5/` is named `<2 hex>/<30 hex>[.dir]`, is a
//!   regular read-only file, and its MD5 equals its name (a `.dir` object is
//!   kept even when hostile: it is the remote's object, and every read of it
//!   parses and validates it again);
//! * nothing else is under `files/` (no temp files, no folders but the shards);
//! * `tmp/` is empty unless the caller allows leftovers (a killed process may
//!   leave an `incoming-*` download behind; it is never an object).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use dvc_build::__private::hash::Md5;

/// What the cache holds after the check: object name -> size.
pub type Objects = BTreeMap<String, u64>;

/// Checks the cache invariant (see the module doc); returns the objects.
#[track_caller]
pub fn assert_cache_sound(root: &Path, allow_tmp_leftovers: bool) -> Objects {
    let mut objects = Objects::new();
    if !root.exists() {
        return objects;
    }
    for entry in fs::read_dir(root).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            [
                "files", "state", "legacy", "resolved", "locks", "placed", "tmp", "git"
            ]
            .contains(&name.as_str()),
            "unexpected entry `{name}` in the cache root {}",
            root.display()
        );
    }
    let md5_dir = root.join("files/md5");
    for file in walk(&root.join("files")) {
        let rel = file
            .strip_prefix(&md5_dir)
            .unwrap_or_else(|_| panic!("a file outside files/md5: {}", file.display()));
        let rel = rel.to_string_lossy().replace('\\', "/");
        let (shard, rest) = rel
            .split_once('/')
            .unwrap_or_else(|| panic!("an object outside a shard: {rel}"));
        let (hex_rest, is_dir) = match rest.strip_suffix(".dir") {
            Some(h) => (h, true),
            None => (rest, false),
        };
        let hex = format!("{shard}{hex_rest}");
        let want: Md5 = hex
            .parse()
            .unwrap_or_else(|_| panic!("a cache file that is not an object: {rel}"));
        let meta = fs::symlink_metadata(&file).unwrap();
        assert!(meta.is_file(), "not a regular file: {rel}");
        assert!(meta.permissions().readonly(), "a writable object: {rel}");
        let bytes = fs::read(&file).unwrap();
        assert_eq!(
            Md5::of(&bytes),
            want,
            "object {rel} does not hash to its name"
        );
        let _ = is_dir;
        objects.insert(rel, bytes.len() as u64);
    }
    if !allow_tmp_leftovers {
        let left: Vec<_> = walk(&root.join("tmp"));
        assert!(left.is_empty(), "leftovers in the cache's tmp/: {left:?}");
    }
    objects
}

/// Every regular file (or symlink) under `dir`, recursively, sorted.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let ty = e.file_type().unwrap();
            if ty.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// A snapshot of a tree: relative path -> (kind, bytes of a file / link
/// target), for before/after comparisons.
pub type Snapshot = BTreeMap<String, (char, Vec<u8>)>;

/// Everything under `root` (files, folders, symlinks), with contents.
/// Folders named in `skip` (relative paths) are not entered.
pub fn snapshot(root: &Path, skip: &[&str]) -> Snapshot {
    let mut out = Snapshot::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if skip
                .iter()
                .any(|s| rel == *s || rel.starts_with(&format!("{s}/")))
            {
                continue;
            }
            let ty = e.file_type().unwrap();
            if ty.is_symlink() {
                let target = fs::read_link(&path).unwrap();
                out.insert(
                    rel,
                    ('l', target.to_string_lossy().into_owned().into_bytes()),
                );
            } else if ty.is_dir() {
                out.insert(rel, ('d', Vec::new()));
                stack.push(path);
            } else {
                out.insert(rel, ('f', fs::read(&path).unwrap_or_default()));
            }
        }
    }
    out
}

/// The paths added, removed or changed between two snapshots.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in after {
        match before.get(k) {
            None => out.push(format!("+ {k}")),
            Some(old) if old != v => out.push(format!("~ {k}")),
            _ => {}
        }
    }
    for k in before.keys() {
        if !after.contains_key(k) {
            out.push(format!("- {k}"));
        }
    }
    out
}
