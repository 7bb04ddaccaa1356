//! Placing cached objects where a build or a user needs them (`OUT_DIR`,
//! the workspace).
//!
//! Each file is placed by the cheapest safe means: a reflink (copy-on-write
//! clone) where the file system has them, else a hard link to the read-only
//! cache object when on the same file system, else a copy. Invariants:
//!
//! - **Atomic.** A file is built at a temporary sibling and renamed over the
//!   destination; a directory is built in a temporary sibling folder and
//!   swapped in. An interrupted run leaves the old destination or the new
//!   one, plus at worst a hidden `.*.dvc-build-*` sibling.
//! - **Never through a symlink.** A symlink at the destination is replaced
//!   (rename replaces the link itself), never followed or written through.
//! - **Read-only results.** Placed files are 0444 (folders stay writable so
//!   `cargo clean` can remove them).
//! - **Idempotent and cheap.** A destination that already holds the object
//!   is left alone: for a hard link, same inode as the cache object; for a
//!   copy or reflink, the `stat` recorded when it was placed.
//! - **What a user does to a placed file cannot change what a later build
//!   gets.** A hard link shares the cache object's inode, so a user who
//!   makes it writable and edits it changes the object too; the cache sees
//!   the changed mtime/ctime, verifies the object, finds it corrupt and has
//!   it fetched again, and the next placement (new inode) replaces the
//!   edited file. An edited copy no longer matches its recorded `stat` and
//!   is replaced.
//!
//! Callers pass objects they just got from [`Cache::get`] or the transfer
//! functions, so they are verified.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cache::{Cache, CachedFile, Stamp, set_read_only};
use crate::error::{Error, ErrorKind, Result};
use crate::hash::Md5;

/// How a file reached its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The destination already held the right content; nothing was done.
    UpToDate,
    /// A copy-on-write clone of the cache object.
    Reflink,
    /// A hard link to the (read-only) cache object.
    Hardlink,
    /// A plain copy.
    Copy,
}

impl std::fmt::Display for Placement {
    /// How it was placed, in words: `up to date`, `reflinked`, `hard-linked`, `copied`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Placement::UpToDate => "up to date",
            Placement::Reflink => "reflinked",
            Placement::Hardlink => "hard-linked",
            Placement::Copy => "copied",
        })
    }
}

const RECORDS: &str = "placed";

/// Places the cached `file` at `dest` (creating parent folders).
pub fn place_file(cache: &Cache, file: &CachedFile, dest: &Path) -> Result<Placement> {
    if file_up_to_date(cache, file, dest)? {
        return Ok(Placement::UpToDate);
    }
    let parent = parent_of(dest)?;
    fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
    if let Ok(meta) = fs::symlink_metadata(dest)
        && meta.is_dir()
    {
        return Err(Error::new(
            ErrorKind::Io,
            format!("`{}` is a folder, but a file belongs there", dest.display()),
        )
        .with_help("remove or rename that folder"));
    }
    let tmp = temp_sibling(dest);
    let mut try_reflink = may_reflink(parent);
    let how = match put(
        cache,
        file,
        &tmp,
        dest,
        &mut try_reflink,
        &mut Linker::new(cache),
    ) {
        Ok(how) => how,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = fs::rename(&tmp, dest) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io("replace", dest, e));
    }
    Ok(how)
}

/// Places a cached directory at `dest`: exactly `files` (relative paths,
/// `/`-separated, and their cached objects), nothing else.
pub fn place_dir(cache: &Cache, files: &[(String, CachedFile)], dest: &Path) -> Result<Placement> {
    for (rel, _) in files {
        check_relpath(rel)?;
    }
    if dir_up_to_date(cache, files, dest)? {
        return Ok(Placement::UpToDate);
    }
    let parent = parent_of(dest)?;
    fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
    let tmp = temp_sibling(dest);
    let built = (|| -> Result<Placement> {
        fs::create_dir(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let mut made = std::collections::HashSet::new();
        for (rel, _) in files {
            let path = tmp.join(rel);
            let sub = parent_of(&path)?;
            if !made.contains(sub) {
                fs::create_dir_all(sub).map_err(|e| Error::io("create", sub, e))?;
                made.insert(sub.to_path_buf());
            }
        }
        // Places some files with one linker: the least efficient method
        // used, and whether reflinks still work.
        let place = |chunk: &[(String, CachedFile)], mut try_reflink: bool| {
            let mut linker = Linker::new(cache);
            let mut used = Placement::Reflink;
            for (rel, file) in chunk {
                let how = put(
                    cache,
                    file,
                    &tmp.join(rel),
                    &dest.join(rel),
                    &mut try_reflink,
                    &mut linker,
                )?;
                used = least_efficient(used, how);
            }
            Ok::<_, Error>((used, try_reflink))
        };
        // The first file finds out whether this file system clones; the
        // rest are placed on a few threads (links into different folders do
        // not wait on one another).
        let (first, rest) = files.split_at(files.len().min(1));
        let (first_how, try_reflink) = place(first, may_reflink(&tmp))?;
        crate::parallel::map_chunks(rest, |chunk| place(chunk, try_reflink))
            .into_iter()
            .try_fold(first_how, |used, placed| {
                Ok(least_efficient(used, placed?.0))
            })
    })();
    let how = match built {
        Ok(how) => how,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    // Swap: move the old destination aside, the new one in, then drop the old.
    let old = match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("stat", dest, e)),
        Ok(meta) if meta.is_dir() => {
            let aside = temp_sibling(dest);
            fs::rename(dest, &aside).map_err(|e| Error::io("move aside", dest, e))?;
            Some(aside)
        }
        Ok(_) => {
            // A file or a symlink: remove the entry itself, never its target.
            fs::remove_file(dest).map_err(|e| Error::io("remove", dest, e))?;
            None
        }
    };
    if let Err(e) = fs::rename(&tmp, dest) {
        if let Some(aside) = &old {
            let _ = fs::rename(aside, dest);
        }
        let _ = fs::remove_dir_all(&tmp);
        return Err(Error::io("replace", dest, e));
    }
    if let Some(aside) = old {
        let _ = fs::remove_dir_all(&aside);
    }
    Ok(how)
}

/// Whether a reflink into `dir` can work. `false` on file systems known to
/// have none (ext2/3/4, tmpfs), where each attempt would create a file,
/// fail to clone into it and delete it again: a needless inode, and an
/// empty file left behind if the process is killed in between.
#[cfg(target_os = "linux")]
fn may_reflink(dir: &Path) -> bool {
    const EXT_SUPER_MAGIC: i128 = 0xEF53;
    const TMPFS_MAGIC: i128 = 0x0102_1994;
    match rustix::fs::statfs(dir) {
        Ok(fs) => !matches!(i128::from(fs.f_type), EXT_SUPER_MAGIC | TMPFS_MAGIC),
        Err(_) => true,
    }
}

#[cfg(not(target_os = "linux"))]
fn may_reflink(_dir: &Path) -> bool {
    true
}

/// The least efficient of two methods, Copy, else Hardlink, else Reflink:
/// what a directory placement reports.
fn least_efficient(a: Placement, b: Placement) -> Placement {
    match (a, b) {
        (Placement::Copy, _) | (_, Placement::Copy) => Placement::Copy,
        (Placement::Hardlink, _) | (_, Placement::Hardlink) => Placement::Hardlink,
        _ => Placement::Reflink,
    }
}

/// Puts a new file at `tmp` holding `file`; `dest` is where it will end up
/// (the key of its placement record).
///
/// `try_reflink` is cleared after a reflink fails: a file system that cannot
/// clone one file cannot clone the next, and each failed attempt creates
/// and deletes a file (a new inode each time).
fn put(
    cache: &Cache,
    file: &CachedFile,
    tmp: &Path,
    dest: &Path,
    try_reflink: &mut bool,
    linker: &mut Linker,
) -> Result<Placement> {
    let reflinked = *try_reflink && reflink_copy::reflink(&file.path, tmp).is_ok();
    if !reflinked {
        *try_reflink = false;
    }
    let how = if reflinked {
        Placement::Reflink
    } else if linker.link(&file.path, tmp).is_ok() {
        // Linking changes the object's ctime and link count, which the
        // cache's stamp check tells apart from a change of content.
        return Ok(Placement::Hardlink);
    } else {
        let _ = fs::remove_file(tmp);
        fs::copy(&file.path, tmp).map_err(|e| Error::io("copy to", tmp, e))?;
        Placement::Copy
    };
    set_read_only(tmp)?;
    let meta = fs::symlink_metadata(tmp).map_err(|e| Error::io("stat", tmp, e))?;
    let record = format!("{} {}", file.md5, Stamp::of(&meta));
    cache.write_record(RECORDS, &record_key(dest), &record)?;
    Ok(how)
}

/// Makes hard links from the cache's objects, keeping a handle on the
/// objects folder and on every folder it has linked into: each link then
/// resolves two short relative paths, not two full ones (a 2,000-file
/// directory makes 2,000 links).
struct Linker {
    #[cfg(unix)]
    objects: Option<(PathBuf, rustix::fd::OwnedFd)>,
    #[cfg(unix)]
    folders: std::collections::HashMap<PathBuf, rustix::fd::OwnedFd>,
}

impl Linker {
    /// A linker for objects of `cache`.
    fn new(cache: &Cache) -> Linker {
        #[cfg(unix)]
        {
            let dir = cache.objects_dir();
            let objects = open_folder(&dir).ok().map(|fd| (dir, fd));
            Linker {
                objects,
                folders: std::collections::HashMap::new(),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = cache;
            Linker {}
        }
    }

    #[cfg(unix)]
    fn link(&mut self, src: &Path, dst: &Path) -> io::Result<()> {
        let Some((objects, from)) = &self.objects else {
            return fs::hard_link(src, dst);
        };
        let (Ok(src_rel), Some(dst_dir), Some(dst_name)) =
            (src.strip_prefix(objects), dst.parent(), dst.file_name())
        else {
            return fs::hard_link(src, dst);
        };
        if !self.folders.contains_key(dst_dir) {
            let fd = open_folder(dst_dir)?;
            self.folders.insert(dst_dir.to_path_buf(), fd);
        }
        let Some(to) = self.folders.get(dst_dir) else {
            return fs::hard_link(src, dst);
        };
        rustix::fs::linkat(from, src_rel, to, dst_name, rustix::fs::AtFlags::empty())
            .map_err(io::Error::from)
    }

    #[cfg(not(unix))]
    fn link(&mut self, src: &Path, dst: &Path) -> io::Result<()> {
        fs::hard_link(src, dst)
    }
}

#[cfg(unix)]
fn open_folder(dir: &Path) -> io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)
}

/// `true` when `dest` is a regular file (not a symlink) holding `file`.
fn file_up_to_date(cache: &Cache, file: &CachedFile, dest: &Path) -> Result<bool> {
    let meta = match fs::symlink_metadata(dest) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("stat", dest, e)),
    };
    if !meta.is_file() || meta.len() != file.size {
        return Ok(false);
    }
    if file.is_linked_by(&meta) {
        return Ok(true);
    }
    let Some(record) = cache.read_record(RECORDS, &record_key(dest)) else {
        return Ok(false);
    };
    let Some((md5, stamp)) = record.split_once(' ') else {
        return Ok(false);
    };
    Ok(md5 == file.md5.to_hex() && Stamp::parse(stamp) == Some(Stamp::of(&meta)))
}

fn dir_up_to_date(cache: &Cache, files: &[(String, CachedFile)], dest: &Path) -> Result<bool> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {}
        _ => return Ok(false),
    }
    let mut expected = std::collections::HashSet::with_capacity(files.len());
    for (rel, file) in files {
        let path = dest.join(rel);
        if !file_up_to_date(cache, file, &path)? {
            return Ok(false);
        }
        expected.insert(path);
    }
    // Nothing more than the listed files (and the folders holding them).
    let mut stack = vec![dest.to_path_buf()];
    let mut count = 0usize;
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", &dir, e))?;
            let kind = entry
                .file_type()
                .map_err(|e| Error::io("stat", &entry.path(), e))?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() && expected.contains(&entry.path()) {
                count += 1;
            } else {
                return Ok(false);
            }
        }
    }
    Ok(count == expected.len())
}

/// The placement record's name for `dest` (its absolute path, hashed).
fn record_key(dest: &Path) -> Md5 {
    let abs = std::path::absolute(dest).unwrap_or_else(|_| dest.to_path_buf());
    Md5::of(abs.as_os_str().as_encoded_bytes())
}

fn parent_of(path: &Path) -> Result<&Path> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => Ok(p),
        Some(_) => Ok(Path::new(".")),
        None => Err(Error::new(
            ErrorKind::Io,
            format!("`{}` has no parent folder", path.display()),
        )),
    }
}

/// A hidden, unique sibling of `dest`: `.<name>.dvc-build-<pid>-<n>`.
fn temp_sibling(dest: &Path) -> PathBuf {
    remove_abandoned_siblings(dest);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.dvc-build-{}-{n}", std::process::id()))
}

/// Best effort: removes temporary siblings of `dest` (`.<name>.dvc-build-*`)
/// left by a process killed while placing, once they are a minute old (a
/// live placement finishes long before, and touches its folder meanwhile).
fn remove_abandoned_siblings(dest: &Path) {
    const ABANDONED: std::time::Duration = std::time::Duration::from_secs(60);
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
        return;
    };
    let prefix = format!(".{}.dvc-build-", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > ABANDONED);
        if old {
            let _ = if meta.is_dir() {
                fs::remove_dir_all(entry.path())
            } else {
                fs::remove_file(entry.path())
            };
        }
    }
}

/// A relative path that stays inside its folder.
fn check_relpath(rel: &str) -> Result<()> {
    let path = Path::new(rel);
    let ok = !rel.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Format,
            format!("`{}` is not a safe relative path", rel.escape_debug()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandoned_temporary_siblings_are_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache")).unwrap();
        let file = cache.insert_bytes(b"payload", false).unwrap();
        let out = dir.path().join("out");
        fs::create_dir_all(&out).unwrap();
        // Left by a process killed while placing: one old, one in progress.
        let old = out.join(".a.bin.dvc-build-1-0");
        let fresh = out.join(".a.bin.dvc-build-2-0");
        fs::write(&old, b"half").unwrap();
        fs::write(&fresh, b"half").unwrap();
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(300);
        fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(past)
            .unwrap();
        place_file(&cache, &file, &out.join("a.bin")).unwrap();
        assert!(!old.exists(), "an abandoned sibling is removed");
        assert!(
            fresh.exists(),
            "a recent one may belong to a live placement"
        );
    }

    #[test]
    fn places_idempotently_and_replaces_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache")).unwrap();
        let file = cache.insert_bytes(b"payload", false).unwrap();
        let out = dir.path().join("out");
        let dest = out.join("a.bin");
        let first = place_file(&cache, &file, &dest).unwrap();
        assert_ne!(first, Placement::UpToDate);
        assert_eq!(
            place_file(&cache, &file, &dest).unwrap(),
            Placement::UpToDate
        );
        assert!(fs::metadata(&dest).unwrap().permissions().readonly());
        // The cache still trusts its object without hashing after the link.
        assert_eq!(cache.get(&file.md5, false).unwrap(), Some(file.clone()));

        #[cfg(unix)]
        {
            let victim = dir.path().join("victim");
            fs::write(&victim, b"keep").unwrap();
            let link = out.join("link.bin");
            std::os::unix::fs::symlink(&victim, &link).unwrap();
            place_file(&cache, &file, &link).unwrap();
            assert_eq!(fs::read(&victim).unwrap(), b"keep");
            assert!(fs::symlink_metadata(&link).unwrap().is_file());
            assert_eq!(fs::read(&link).unwrap(), b"payload");
        }
    }

    #[test]
    fn places_directories_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache")).unwrap();
        let a = cache.insert_bytes(b"a", false).unwrap();
        let b = cache.insert_bytes(b"b", false).unwrap();
        let files = vec![("x/a.txt".to_string(), a), ("b.txt".to_string(), b)];
        let dest = dir.path().join("out/data");
        place_dir(&cache, &files, &dest).unwrap();
        assert_eq!(
            place_dir(&cache, &files, &dest).unwrap(),
            Placement::UpToDate
        );
        fs::write(dest.join("extra"), b"").unwrap();
        assert_ne!(
            place_dir(&cache, &files, &dest).unwrap(),
            Placement::UpToDate
        );
        assert!(!dest.join("extra").exists());
        assert_eq!(fs::read(dest.join("x/a.txt")).unwrap(), b"a");
        assert!(check_relpath("../x").is_err() && check_relpath("/x").is_err());
    }

    /// Enough files that the links are made on several threads (on a
    /// machine with more than one core).
    #[test]
    fn places_a_large_directory_exactly_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("cache")).unwrap();
        let files: Vec<(String, CachedFile)> = (0..1500u32)
            .map(|i| {
                let bytes = format!("file {i}\n");
                let file = cache.insert_bytes(bytes.as_bytes(), false).unwrap();
                (format!("sub{:02}/f{i:04}.txt", i / 60), file)
            })
            .collect();
        let dest = dir.path().join("out/data");
        let listing = |dest: &Path| {
            let mut names = Vec::new();
            let mut stack = vec![dest.to_path_buf()];
            while let Some(d) = stack.pop() {
                for entry in fs::read_dir(&d).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        stack.push(path);
                    } else {
                        names.push(
                            path.strip_prefix(dest)
                                .unwrap()
                                .to_string_lossy()
                                .into_owned(),
                        );
                    }
                }
            }
            names.sort();
            names
        };
        let how = place_dir(&cache, &files, &dest).unwrap();
        assert!(
            matches!(how, Placement::Hardlink | Placement::Reflink),
            "{how:?}"
        );
        let mut expected: Vec<String> = files.iter().map(|(rel, _)| rel.clone()).collect();
        expected.sort();
        assert_eq!(listing(&dest), expected);
        for (rel, file) in &files {
            assert_eq!(
                fs::read(dest.join(rel)).unwrap(),
                fs::read(&file.path).unwrap()
            );
        }
        assert_eq!(
            place_dir(&cache, &files, &dest).unwrap(),
            Placement::UpToDate
        );

        // An object gone from under its name, late in the list: the
        // placement fails, the old directory stays as it was, and no
        // build folder is left beside it.
        let mut broken = files.clone();
        broken.push(("zz/last.txt".to_string(), files[0].1.clone()));
        broken[1400].1.path = dir.path().join("cache/gone");
        fs::remove_file(dest.join("sub00/f0000.txt")).unwrap();
        assert!(place_dir(&cache, &broken, &dest).is_err());
        assert_eq!(listing(&dest).len(), files.len() - 1);
        let siblings: Vec<_> = fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(siblings, ["data"], "no hidden build folder left");
    }
}
