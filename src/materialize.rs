//! Placing cached objects where a build or a user needs them (`OUT_DIR`,
//! the crate for `pull`, a folder for `get`).
//!
//! Everything is written through [`crate::confined`]: relative to a handle
//! on the destination's root, never through a symlink. How a file gets its
//! bytes is [`Sharing`]:
//!
//! - [`Sharing::Copies`] (a user's files: `pull`, `get`): a reflink
//!   (copy-on-write clone) where the file system has them, else a copy; an
//!   independent, writable file (`0666 & !umask`), as DVC's default
//!   `cache.type` (`reflink,copy`). Editing it can change nothing else.
//! - [`Sharing::Links`] (`OUT_DIR`; `--link`, or a project whose `cache.type`
//!   asks for links): a reflink, else a hard link to the read-only cache
//!   object, else a copy; read-only (0444), as DVC protects linked outputs.
//!
//! What may be replaced is [`Existing`]: in `OUT_DIR` anything
//! ([`Existing::Replace`]: it is ours, and a file found modified is reported
//! so the build can warn; also `--force`); in a user's tree only a file that
//! holds the wanted bytes or an unmodified earlier placement at that path,
//! and for `pull` ([`Existing::KeepUnsaved`]) bytes the cache holds (nothing
//! is lost: as `dvc pull` decides what is "saved"); for `get` and `import`
//! ([`Existing::KeepOthers`]) nothing else, as `dvc` refuses a file that
//! "already exists locally". Anything else is an [`ErrorKind::Conflict`]
//! naming every such path.
//!
//! Invariants:
//!
//! - **Atomic.** A file is built at a hidden sibling and renamed over the
//!   destination; a directory is built in a hidden sibling folder and
//!   swapped in. An interrupted run leaves the old destination or the new
//!   one, plus at worst a hidden `.*.dvc-build-<pid>-*` sibling (removed by
//!   the next placement there once its process is gone, or a minute old).
//! - **Never through a symlink.** Folders on the way are opened no-follow
//!   (a symlink there is refused); a symlink at the destination is never
//!   followed (replaced as a link, or refused).
//! - **Idempotent and cheap.** A destination that already holds the object
//!   is left alone: a hard link is recognised by the cache object's inode; a
//!   copy by the fingerprint (size, mtime, inode, mode) recorded when it was
//!   placed (one small record per destination in the cache's `placed/`).
//!   Without a matching record the file is hashed.
//!
//! Callers pass objects they just got from [`Cache::get`] or the transfer
//! functions, so they are verified.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::cache::{Cache, CachedFile};
use crate::confined::{self, Dir, Kind, Meta};
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

/// How placed files may share their bytes with the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Reflink, else hard link, else copy; every file read-only (0444).
    Links,
    /// Reflink, else copy: independent files, `0666 & !umask`.
    Copies,
}

/// What a placement may replace at its destination. Files holding the
/// wanted bytes are kept as they are, and unmodified earlier placements at
/// the same path replaced, in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Anything (a folder that is ours, or `--force`); files that held
    /// bytes of their own are listed in [`Placed::replaced`].
    Replace,
    /// Also files whose bytes the cache holds (nothing is lost), as
    /// `dvc pull` removes only "saved" files; anything else is an
    /// [`ErrorKind::Conflict`] (`pull`).
    KeepUnsaved,
    /// Nothing else: any other file is an [`ErrorKind::Conflict`], as
    /// `dvc get` and `dvc import` refuse a file that "already exists
    /// locally" (`get`, `import`).
    KeepOthers,
}

/// How to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// How files share bytes with the cache.
    pub sharing: Sharing,
    /// What may be replaced.
    pub existing: Existing,
}

impl Options {
    /// Build outputs (`OUT_DIR`): links, and anything may be replaced.
    pub const BUILD: Options = Options {
        sharing: Sharing::Links,
        existing: Existing::Replace,
    };

    /// A user's files: copies unless `link`; unless `force`, what is there
    /// is kept as `keep` says.
    pub fn workspace(link: bool, force: bool, keep: Existing) -> Options {
        Options {
            sharing: if link {
                Sharing::Links
            } else {
                Sharing::Copies
            },
            existing: if force { Existing::Replace } else { keep },
        }
    }
}

/// What a placement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// How (for a directory: the least efficient method used).
    pub how: Placement,
    /// Files that held bytes of their own (not the artifact, not an
    /// unmodified earlier placement, not in the cache) and were replaced;
    /// only with [`Existing::Replace`].
    pub replaced: Vec<PathBuf>,
}

/// What to place: one file, or a directory's files (relative `/`-separated
/// paths and their cached objects).
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A single file.
    File(&'a CachedFile),
    /// Exactly these files, nothing else.
    Dir(&'a [(String, CachedFile)]),
}

/// What belongs in one file: its bytes' MD5, and when known its size and
/// the cache object it may be a hard link to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    /// The plain MD5 of the bytes.
    pub md5: Md5,
    /// The size, when known.
    pub size: Option<u64>,
    /// Device and inode of the verified cache object holding them.
    identity: Option<(u64, u64)>,
}

impl Want {
    /// Bytes known only by their hash (and maybe size): no cache object.
    pub fn hash(md5: Md5, size: Option<u64>) -> Want {
        Want {
            md5,
            size,
            identity: None,
        }
    }

    /// `meta` is a hard link to the very object holding these bytes.
    fn linked_by(&self, meta: &Meta) -> bool {
        self.size.is_none_or(|s| s == meta.size) && self.identity == Some((meta.dev, meta.ino))
    }
}

impl From<&CachedFile> for Want {
    fn from(file: &CachedFile) -> Want {
        Want {
            md5: file.md5,
            size: Some(file.size),
            identity: file.identity(),
        }
    }
}

/// What belongs at a destination, for [`state`]: one file, or a
/// directory's files (relative paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// A single file.
    File(Want),
    /// Exactly these files.
    Dir(Vec<(String, Want)>),
}

impl From<Target<'_>> for Expected {
    fn from(target: Target<'_>) -> Expected {
        match target {
            Target::File(file) => Expected::File(Want::from(file)),
            Target::Dir(files) => Expected::Dir(
                files
                    .iter()
                    .map(|(r, f)| (r.clone(), Want::from(f)))
                    .collect(),
            ),
        }
    }
}

/// What is at a destination, compared with what belongs there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Nothing is there.
    Missing,
    /// Exactly the artifact.
    UpToDate,
    /// Something else: the paths that differ (modified, added, missing
    /// files, or a file where a folder belongs).
    Modified(Vec<PathBuf>),
}

const RECORDS: &str = "placed";

/// The fingerprint and object of each file of a placed directory, by path.
type Prints = HashMap<String, (Md5, Print)>;

/// How old a hidden temporary sibling must be before a placement removes it
/// as abandoned (a live placement finishes long before).
const ABANDONED: std::time::Duration = std::time::Duration::from_secs(60);

/// Places `target` at `rel` below `root` (creating folders on the way).
pub fn place(
    cache: &Cache,
    target: Target<'_>,
    root: &Dir,
    rel: &Path,
    options: Options,
) -> Result<Placed> {
    match target {
        Target::File(file) => place_one(cache, file, root, rel, options),
        Target::Dir(files) => place_tree(cache, files, root, rel, options),
    }
}

/// Places the cached `file` at `dest` as a build output ([`Options::BUILD`];
/// `dest`'s folder is created and taken as the root).
pub fn place_file(cache: &Cache, file: &CachedFile, dest: &Path) -> Result<Placement> {
    let (root, name) = root_and_name(dest)?;
    place(cache, Target::File(file), &root, &name, Options::BUILD).map(|p| p.how)
}

/// Places a cached directory at `dest` as a build output: exactly `files`,
/// nothing else.
pub fn place_dir(cache: &Cache, files: &[(String, CachedFile)], dest: &Path) -> Result<Placement> {
    let (root, name) = root_and_name(dest)?;
    place(cache, Target::Dir(files), &root, &name, Options::BUILD).map(|p| p.how)
}

/// `dest`'s folder (created, opened as a root) and its last component.
fn root_and_name(dest: &Path) -> Result<(Dir, PathBuf)> {
    let name = dest
        .file_name()
        .ok_or_else(|| Error::new(ErrorKind::Io, format!("`{}` names no file", dest.display())))?;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((Dir::create_root(parent)?, PathBuf::from(name)))
}

/// Refuses, before anything is downloaded, what is at `rel` below `root`
/// that a placement with `options` could not replace whatever the artifact
/// turns out to be. With [`Existing::KeepOthers`] that is anything but an
/// unmodified earlier placement recorded at this path; the other modes
/// decide once the artifact is known ([`place`] checks again in any case).
pub fn precheck(cache: &Cache, root: &Dir, rel: &Path, options: Options) -> Result<()> {
    if options.existing != Existing::KeepOthers {
        return Ok(());
    }
    let Some((dir, name)) = root.parent_of(rel, false)? else {
        return Ok(());
    };
    let Some(meta) = dir.stat(&name)? else {
        return Ok(());
    };
    let dest = root.path().join(rel);
    let records = Records::read(cache, &dest);
    let placed_here = match meta.kind {
        Kind::File => records
            .file()
            .is_some_and(|(_, print)| *print == Print::of(&meta)),
        Kind::Dir => !records.dir.is_empty(),
        _ => false,
    };
    if placed_here {
        return Ok(());
    }
    let err = conflict(&[dest]).replace_help(
        "choose another `-o`, move it away, or run again with `--force` to replace it (as `dvc get --force` does)",
    );
    Err(match meta.kind {
        Kind::File => err,
        _ => err.context(describe_entry(&dir, &name, &meta)),
    })
}

/// What is at `rel` below `root` compared with `target`; reads only (no
/// record is written, nothing removed). Files without a matching record are
/// hashed.
pub fn state(cache: &Cache, expected: &Expected, root: &Dir, rel: &Path) -> Result<State> {
    let Some((dir, name)) = root.parent_of(rel, false)? else {
        return Ok(State::Missing);
    };
    let Some(meta) = dir.stat(&name)? else {
        return Ok(State::Missing);
    };
    let dest = root.path().join(rel);
    let records = Records::read(cache, &dest);
    match expected {
        Expected::File(want) => {
            let found = classify(cache, &dir, &name, &meta, Some(want), records.file(), false)?;
            Ok(match found {
                Found::Same { .. } => State::UpToDate,
                _ => State::Modified(vec![dest]),
            })
        }
        Expected::Dir(files) => {
            if meta.kind != Kind::Dir {
                return Ok(State::Modified(vec![dest]));
            }
            let survey = survey_dir(cache, &dir, &name, &dest, files, &records, None)?;
            let mut differ: Vec<PathBuf> = survey
                .replaceable
                .into_iter()
                .chain(survey.conflicts)
                .chain(survey.missing)
                .collect();
            differ.sort();
            Ok(if differ.is_empty() {
                State::UpToDate
            } else {
                State::Modified(differ)
            })
        }
    }
}

/// What an existing file is, for the artifact that belongs there.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    /// It holds the wanted bytes; `record` when that was learnt by hashing
    /// (its fingerprint is worth recording).
    Same { record: Option<Print> },
    /// An unmodified earlier placement at this path.
    Placed,
    /// Bytes the cache holds.
    Saved,
    /// Bytes of the user's own (or not a regular file).
    Modified,
}

impl Found {
    /// Whether `existing` lets a placement replace (or delete) it.
    fn replaceable(&self, existing: Existing) -> bool {
        match self {
            Found::Same { .. } | Found::Placed => true,
            Found::Saved => existing != Existing::KeepOthers,
            Found::Modified => existing == Existing::Replace,
        }
    }
}

/// Classifies the entry `name` of `dir` (described by `meta`) against
/// `want` (`None`: nothing belongs there) and the fingerprint recorded when
/// it was placed. `repair`: the caller may fix the cache (a corrupt object
/// found while checking is removed; `false` for a read-only look).
fn classify(
    cache: &Cache,
    dir: &Dir,
    name: &OsStr,
    meta: &Meta,
    want: Option<&Want>,
    recorded: Option<&(Md5, Print)>,
    repair: bool,
) -> Result<Found> {
    if meta.kind != Kind::File {
        return Ok(Found::Modified);
    }
    if let Some(want) = want
        && want.linked_by(meta)
    {
        return Ok(Found::Same { record: None });
    }
    let print = Print::of(meta);
    if let Some((md5, at)) = recorded
        && *at == print
    {
        return Ok(if want.is_some_and(|w| w.md5 == *md5) {
            Found::Same { record: None }
        } else {
            Found::Placed
        });
    }
    // Unknown: the bytes decide.
    let Some(file) = dir.open_file(name)? else {
        return Ok(Found::Placed);
    };
    let (md5, _) =
        crate::hash::md5_reader(file).map_err(|e| Error::io("read", &dir.path().join(name), e))?;
    if want.is_some_and(|w| w.md5 == md5) {
        return Ok(Found::Same {
            record: Some(print),
        });
    }
    let saved = if repair {
        cache.get(&md5, false)?.is_some()
    } else {
        cache.holds(&md5)
    };
    Ok(if saved { Found::Saved } else { Found::Modified })
}

fn place_one(
    cache: &Cache,
    file: &CachedFile,
    root: &Dir,
    rel: &Path,
    options: Options,
) -> Result<Placed> {
    let dest = root.path().join(rel);
    let records = Records::read(cache, &dest);
    let mut replaced = Vec::new();
    let (dir, name) = match root.parent_of(rel, false)? {
        Some(found) => found,
        None => root.parent_of(rel, true)?.ok_or_else(|| {
            Error::new(ErrorKind::Io, format!("cannot create `{}`", dest.display()))
        })?,
    };
    let existing = dir.stat(&name)?;
    match existing {
        None => {}
        Some(meta) if meta.kind == Kind::File => {
            let want = Want::from(file);
            match classify(cache, &dir, &name, &meta, Some(&want), records.file(), true)? {
                Found::Same { record } => {
                    if let Some(print) = record {
                        records.write_file(cache, &dest, file.md5, print);
                    }
                    return Ok(Placed {
                        how: Placement::UpToDate,
                        replaced,
                    });
                }
                found if found.replaceable(options.existing) => {
                    if found == Found::Modified {
                        replaced.push(dest.clone());
                    }
                }
                _ => return Err(conflict(&[dest])),
            }
        }
        Some(meta) => match options.existing {
            Existing::Replace => {
                if meta.kind == Kind::Dir {
                    // Whatever files it held that were not ours are gone.
                    replaced.push(dest.clone());
                }
            }
            _ => {
                let what = describe_entry(&dir, &name, &meta);
                return Err(conflict(&[dest]).context(what));
            }
        },
    }
    dir.remove_abandoned_temps(&name, ABANDONED);
    let objects = Objects::open(cache);
    let mut try_reflink = may_reflink(&dir);
    let tmp = confined::temp_name(&name);
    let (how, print) = match put(
        file,
        &dir,
        &tmp,
        options.sharing,
        &mut try_reflink,
        &objects,
    ) {
        Ok(done) => done,
        Err(e) => {
            let _ = dir.remove_file(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = swap_in(&dir, &tmp, &name) {
        let _ = dir.remove_file(&tmp);
        return Err(e);
    }
    records.write_file(cache, &dest, file.md5, print);
    Ok(Placed { how, replaced })
}

/// `name` in `dir`, as the error message describes it.
fn describe_entry(dir: &Dir, name: &OsStr, meta: &Meta) -> String {
    let path = dir.path().join(name);
    match meta.kind {
        Kind::Dir => format!("`{}` is a folder", path.display()),
        Kind::Symlink => format!(
            "`{}` is a symlink (to `{}`)",
            path.display(),
            dir.read_link(name).unwrap_or_default().display()
        ),
        _ => format!("`{}` is not a regular file", path.display()),
    }
}

/// The error for user data in the way.
pub fn conflict(paths: &[PathBuf]) -> Error {
    let list: Vec<String> = paths.iter().map(|p| format!("  {}", p.display())).collect();
    Error::new(
        ErrorKind::Conflict,
        format!(
            "these files hold data of their own (not an unmodified earlier placement, not in the cache), and would be overwritten or deleted:\n{}",
            list.join("\n")
        ),
    )
    .with_help("move them away, or run again with `--force` to replace them (as `dvc pull --force` does)")
}

/// Moves the built `tmp` over `name` in `dir`: a file or symlink there is
/// replaced by the rename itself; a folder is moved aside first and removed
/// after.
fn swap_in(dir: &Dir, tmp: &OsStr, name: &OsStr) -> Result<()> {
    let aside = match dir.stat(name)? {
        Some(meta) if meta.kind == Kind::Dir => {
            let aside = confined::temp_name(name);
            dir.rename(name, &aside)?;
            Some(aside)
        }
        Some(meta) if meta.kind == Kind::File || meta.kind == Kind::Symlink => {
            // A rename over a file replaces it atomically, but a file
            // cannot replace a folder (and vice versa): only folders need
            // moving aside.
            if dir.stat(tmp)?.is_some_and(|m| m.kind == Kind::Dir) {
                dir.remove_file(name)?;
            }
            None
        }
        Some(_) => {
            dir.remove_file(name)?;
            None
        }
        None => None,
    };
    if let Err(e) = dir.rename(tmp, name) {
        if let Some(aside) = &aside {
            let _ = dir.rename(aside, name);
        }
        return Err(e);
    }
    if let Some(aside) = aside {
        let _ = dir.remove_tree(&aside);
    }
    Ok(())
}

/// What a look at an existing destination folder found.
#[derive(Debug, Default)]
struct Survey {
    /// Files that must change or go, safely (earlier placements, cached bytes).
    replaceable: Vec<PathBuf>,
    /// Files (and symlinks, other entries) holding the user's own data.
    conflicts: Vec<PathBuf>,
    /// Wanted files that are not there.
    missing: Vec<PathBuf>,
    /// Fingerprints learnt by hashing files that hold the wanted bytes.
    learnt: Vec<(String, Md5, Print)>,
}

/// Compares the folder `name` of `dir` with `files`, entry by entry,
/// never following a symlink.
fn survey_dir(
    cache: &Cache,
    dir: &Dir,
    name: &OsStr,
    dest: &Path,
    files: &[(String, Want)],
    records: &Records,
    policy: Option<Existing>,
) -> Result<Survey> {
    // `None`: a read-only look (status): nothing is repaired.
    let repair = policy.is_some();
    let existing = policy.unwrap_or(Existing::KeepUnsaved);
    let want: HashMap<&str, &Want> = files.iter().map(|(r, w)| (r.as_str(), w)).collect();
    let mut survey = Survey::default();
    let mut present: HashSet<String> = HashSet::with_capacity(files.len());
    let Some(top) = dir.subdir(name, false)? else {
        return Ok(survey);
    };
    let mut stack = vec![(top, String::new())];
    while let Some((folder, prefix)) = stack.pop() {
        for (entry, kind) in folder.entries()? {
            let Some(entry_str) = entry.to_str() else {
                survey.conflicts.push(folder.path().join(&entry));
                continue;
            };
            let rel = if prefix.is_empty() {
                entry_str.to_string()
            } else {
                format!("{prefix}/{entry_str}")
            };
            if kind == Kind::Dir {
                if let Some(sub) = folder.subdir(&entry, false)? {
                    stack.push((sub, rel));
                }
                continue;
            }
            let path = dest.join(&rel);
            let Some(meta) = folder.stat(&entry)? else {
                continue;
            };
            present.insert(rel.clone());
            let wanted = want.get(rel.as_str()).copied();
            let found = classify(
                cache,
                &folder,
                &entry,
                &meta,
                wanted,
                records.dir_entry(&rel),
                repair,
            )?;
            match (found, wanted) {
                (Found::Same { record }, Some(file)) => {
                    if let Some(print) = record {
                        survey.learnt.push((rel, file.md5, print));
                    }
                }
                (found, _) if found.replaceable(existing) && found != Found::Modified => {
                    survey.replaceable.push(path)
                }
                _ => survey.conflicts.push(path),
            }
        }
    }
    for (rel, _) in files {
        if !present.contains(rel.as_str()) {
            survey.missing.push(dest.join(rel));
        }
    }
    Ok(survey)
}

fn place_tree(
    cache: &Cache,
    files: &[(String, CachedFile)],
    root: &Dir,
    rel: &Path,
    options: Options,
) -> Result<Placed> {
    for (relpath, _) in files {
        check_relpath(relpath)?;
    }
    let dest = root.path().join(rel);
    let records = Records::read(cache, &dest);
    let mut replaced = Vec::new();
    let (dir, name) = match root.parent_of(rel, false)? {
        Some(found) => found,
        None => root.parent_of(rel, true)?.ok_or_else(|| {
            Error::new(ErrorKind::Io, format!("cannot create `{}`", dest.display()))
        })?,
    };
    match dir.stat(&name)? {
        None => {}
        Some(meta) if meta.kind == Kind::Dir => {
            let wants: Vec<(String, Want)> = files
                .iter()
                .map(|(r, f)| (r.clone(), Want::from(f)))
                .collect();
            let survey = survey_dir(
                cache,
                &dir,
                &name,
                &dest,
                &wants,
                &records,
                Some(options.existing),
            )?;
            if survey.replaceable.is_empty()
                && survey.conflicts.is_empty()
                && survey.missing.is_empty()
            {
                if !survey.learnt.is_empty() {
                    let mut prints = records.dir_entries();
                    for (rel, md5, print) in survey.learnt {
                        prints.insert(rel, (md5, print));
                    }
                    Records::write_dir(cache, &dest, &prints);
                }
                return Ok(Placed {
                    how: Placement::UpToDate,
                    replaced,
                });
            }
            if !survey.conflicts.is_empty() {
                match options.existing {
                    Existing::Replace => replaced.extend(survey.conflicts),
                    _ => return Err(conflict(&survey.conflicts)),
                }
            }
        }
        Some(meta) if meta.kind == Kind::File => {
            let found = classify(cache, &dir, &name, &meta, None, records.file(), true)?;
            if !found.replaceable(options.existing) {
                return Err(conflict(&[dest]));
            }
            if found == Found::Modified {
                replaced.push(dest.clone());
            }
        }
        Some(meta) if options.existing != Existing::Replace => {
            let what = describe_entry(&dir, &name, &meta);
            return Err(conflict(&[dest]).context(what));
        }
        Some(_) => {}
    }
    dir.remove_abandoned_temps(&name, ABANDONED);
    let tmp = confined::temp_name(&name);
    let built = build_tree(cache, files, &dir, &tmp, options.sharing);
    let (how, prints) = match built {
        Ok(done) => done,
        Err(e) => {
            let _ = dir.remove_tree(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = swap_in(&dir, &tmp, &name) {
        let _ = dir.remove_tree(&tmp);
        return Err(e);
    }
    Records::write_dir(cache, &dest, &prints);
    Ok(Placed { how, replaced })
}

/// Builds the folder `tmp` in `dir` holding exactly `files`; returns the
/// least efficient method used and each file's fingerprint.
fn build_tree(
    cache: &Cache,
    files: &[(String, CachedFile)],
    dir: &Dir,
    tmp: &OsStr,
    sharing: Sharing,
) -> Result<(Placement, Prints)> {
    let top = dir
        .subdir(tmp, true)?
        .ok_or_else(|| Error::new(ErrorKind::Io, "cannot create a build folder"))?;
    // Every folder, made once, before any file (threads only link).
    let mut folders: HashSet<&str> = HashSet::new();
    for (rel, _) in files {
        if let Some((folder, _)) = rel.rsplit_once('/')
            && folders.insert(folder)
        {
            top.open_dir(Path::new(folder), true)?;
        }
    }
    let objects = Objects::open(cache);
    // Places some files: the least efficient method used, whether reflinks
    // still work, and the files' fingerprints.
    let place = |chunk: &[(String, CachedFile)], mut try_reflink: bool| {
        let mut used = Placement::Reflink;
        let mut open: HashMap<&str, Dir> = HashMap::new();
        let mut prints = Vec::with_capacity(chunk.len());
        for (rel, file) in chunk {
            let (folder, name) = rel.rsplit_once('/').unwrap_or(("", rel.as_str()));
            if !open.contains_key(folder) {
                let handle = top.open_dir(Path::new(folder), false)?.ok_or_else(|| {
                    Error::new(ErrorKind::Io, format!("the folder `{folder}` vanished"))
                })?;
                open.insert(folder, handle);
            }
            let Some(handle) = open.get(folder) else {
                continue;
            };
            let (how, print) = put(
                file,
                handle,
                OsStr::new(name),
                sharing,
                &mut try_reflink,
                &objects,
            )?;
            used = least_efficient(used, how);
            prints.push((rel.clone(), (file.md5, print)));
        }
        Ok::<_, Error>((used, try_reflink, prints))
    };
    // The first file finds out whether this file system clones; the rest
    // are placed on a few threads (links into different folders do not
    // wait on one another).
    let (first, rest) = files.split_at(files.len().min(1));
    let (first_how, try_reflink, first_prints) = place(first, may_reflink(&top))?;
    let mut prints: Prints = first_prints.into_iter().collect();
    let mut how = first_how;
    for chunk in crate::parallel::map_chunks(rest, |chunk| place(chunk, try_reflink)) {
        let (used, _, more) = chunk?;
        how = least_efficient(how, used);
        prints.extend(more);
    }
    Ok((how, prints))
}

/// Whether a reflink into `dir` can work. `false` on file systems known to
/// have none (ext2/3/4, tmpfs), where each attempt would create a file,
/// fail to clone into it and delete it again.
#[cfg(target_os = "linux")]
fn may_reflink(dir: &Dir) -> bool {
    const EXT_SUPER_MAGIC: i128 = 0xEF53;
    const TMPFS_MAGIC: i128 = 0x0102_1994;
    match rustix::fs::fstatfs(dir.fd()) {
        Ok(fs) => !matches!(i128::from(fs.f_type), EXT_SUPER_MAGIC | TMPFS_MAGIC),
        Err(_) => true,
    }
}

#[cfg(not(target_os = "linux"))]
fn may_reflink(_dir: &Dir) -> bool {
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

/// A handle on the cache's objects folder, for hard links made relative to
/// it (each link then resolves short relative paths, not two full ones).
struct Objects {
    root: PathBuf,
    dir: Option<Dir>,
}

impl Objects {
    fn open(cache: &Cache) -> Objects {
        let root = cache.objects_dir();
        let dir = Dir::open_root(&root).ok();
        Objects { root, dir }
    }

    /// Hard-links the object `src` as `name` in `dest`.
    fn link(&self, src: &Path, dest: &Dir, name: &OsStr) -> std::io::Result<()> {
        let (Some(objects), Ok(rel)) = (&self.dir, src.strip_prefix(&self.root)) else {
            return Err(std::io::ErrorKind::Unsupported.into());
        };
        objects.link_to(rel, dest, name)
    }
}

/// Puts a new file `name` in `dir` holding `file`; returns how and the new
/// file's fingerprint.
///
/// `try_reflink` is cleared after a reflink fails: a file system that cannot
/// clone one file cannot clone the next.
fn put(
    file: &CachedFile,
    dir: &Dir,
    name: &OsStr,
    sharing: Sharing,
    try_reflink: &mut bool,
    objects: &Objects,
) -> Result<(Placement, Print)> {
    let path = || dir.path().join(name);
    let read_only = sharing == Sharing::Links;
    let mut out: Option<File> = None;
    if *try_reflink {
        match reflink(file, dir, name) {
            Some(Ok(cloned)) => {
                if read_only {
                    confined::set_read_only(&cloned)
                        .map_err(|e| Error::io("make read-only", &path(), e))?;
                }
                let meta =
                    confined::meta_of_file(&cloned).map_err(|e| Error::io("stat", &path(), e))?;
                return Ok((Placement::Reflink, Print::of(&meta)));
            }
            // The clone failed into a new, empty file: copy into it.
            Some(Err(empty)) => out = Some(empty),
            None => {}
        }
        *try_reflink = false;
    }
    if out.is_none() && sharing == Sharing::Links && objects.link(&file.path, dir, name).is_ok() {
        // Linking changes the object's ctime and link count, which the
        // cache's stamp check tells apart from a change of content.
        let meta = dir
            .stat(name)?
            .ok_or_else(|| Error::new(ErrorKind::Io, format!("`{}` vanished", path().display())))?;
        return Ok((Placement::Hardlink, Print::of(&meta)));
    }
    let mut dst = match out {
        Some(f) => f,
        None => dir.create_new(name)?,
    };
    let mut src = File::open(&file.path).map_err(|e| Error::io("open", &file.path, e))?;
    std::io::copy(&mut src, &mut dst).map_err(|e| Error::io("copy to", &path(), e))?;
    if read_only {
        confined::set_read_only(&dst).map_err(|e| Error::io("make read-only", &path(), e))?;
    }
    let meta = confined::meta_of_file(&dst).map_err(|e| Error::io("stat", &path(), e))?;
    Ok((Placement::Copy, Print::of(&meta)))
}

/// A copy-on-write clone of `file` as the new file `name` in `dir`:
/// `Some(Ok(file))` when cloned, `Some(Err(empty))` when the file was
/// created but could not be cloned into, `None` when not even created.
#[cfg(target_os = "linux")]
fn reflink(file: &CachedFile, dir: &Dir, name: &OsStr) -> Option<std::result::Result<File, File>> {
    let src = File::open(&file.path).ok()?;
    let dst = dir.create_new(name).ok()?;
    Some(match rustix::fs::ioctl_ficlone(&dst, &src) {
        Ok(()) => Ok(dst),
        Err(_) => Err(dst),
    })
}

/// As above, by path (no clone-at-a-handle call here).
#[cfg(not(target_os = "linux"))]
fn reflink(file: &CachedFile, dir: &Dir, name: &OsStr) -> Option<std::result::Result<File, File>> {
    let dest = dir.path().join(name);
    reflink_copy::reflink(&file.path, &dest).ok()?;
    dir.open_file(name).ok().flatten().map(Ok)
}

/// What identifies the bytes of a placed file without reading them: size,
/// mtime, inode, device and mode (not ctime: renaming a file, or linking
/// the cache object it shares, moves that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Print {
    size: u64,
    mtime_ns: i128,
    ino: u64,
    dev: u64,
    mode: u32,
}

impl Print {
    fn of(meta: &Meta) -> Print {
        Print {
            size: meta.size,
            mtime_ns: meta.mtime_ns,
            ino: meta.ino,
            dev: meta.dev,
            mode: meta.mode,
        }
    }

    fn parse(text: &str) -> Option<Print> {
        let mut it = text.split_ascii_whitespace();
        if it.next()? != "p1" {
            return None;
        }
        let print = Print {
            size: it.next()?.parse().ok()?,
            mtime_ns: it.next()?.parse().ok()?,
            ino: it.next()?.parse().ok()?,
            dev: it.next()?.parse().ok()?,
            mode: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(print)
    }
}

impl std::fmt::Display for Print {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p1 {} {} {} {} {}",
            self.size, self.mtime_ns, self.ino, self.dev, self.mode
        )
    }
}

/// The fingerprints recorded when a destination was last placed, kept in
/// the cache's `placed/` under a hash of the destination's path:
/// `file <md5> <print>`, or `dir` and one `<md5> <print>\t<relpath>` line per
/// file. Records only ever let work be skipped: a missing or torn one means
/// the files are hashed.
#[derive(Debug, Default)]
struct Records {
    file: Option<(Md5, Print)>,
    dir: Prints,
}

impl Records {
    fn read(cache: &Cache, dest: &Path) -> Records {
        let mut records = Records::default();
        let Some(text) = cache.read_record(RECORDS, &record_key(dest)) else {
            return records;
        };
        let mut lines = text.lines();
        match lines.next() {
            Some(first) if first.starts_with("file ") => {
                let rest = &first["file ".len()..];
                if let Some((md5, print)) = rest.split_once(' ')
                    && let (Ok(md5), Some(print)) = (md5.parse::<Md5>(), Print::parse(print))
                {
                    records.file = Some((md5, print));
                }
            }
            Some("dir") => {
                for line in lines {
                    let Some((left, rel)) = line.split_once('\t') else {
                        continue;
                    };
                    let Some((md5, print)) = left.split_once(' ') else {
                        continue;
                    };
                    if let (Ok(md5), Some(print)) = (md5.parse::<Md5>(), Print::parse(print)) {
                        records.dir.insert(rel.to_string(), (md5, print));
                    }
                }
            }
            _ => {}
        }
        records
    }

    fn file(&self) -> Option<&(Md5, Print)> {
        self.file.as_ref()
    }

    fn dir_entry(&self, rel: &str) -> Option<&(Md5, Print)> {
        self.dir.get(rel)
    }

    fn dir_entries(&self) -> Prints {
        self.dir.clone()
    }

    /// Best effort: a record that cannot be written only costs a hash later.
    fn write_file(&self, cache: &Cache, dest: &Path, md5: Md5, print: Print) {
        let _ = cache.write_record(RECORDS, &record_key(dest), &format!("file {md5} {print}\n"));
    }

    fn write_dir(cache: &Cache, dest: &Path, prints: &Prints) {
        let mut entries: Vec<_> = prints
            .iter()
            .filter(|(rel, _)| !rel.contains(['\n', '\t']))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut text = String::with_capacity(16 + entries.len() * 96);
        text.push_str("dir\n");
        for (rel, (md5, print)) in entries {
            text.push_str(&format!("{md5} {print}\t{rel}\n"));
        }
        let _ = cache.write_record(RECORDS, &record_key(dest), &text);
    }
}

/// The placement record's name for `dest` (its absolute path, hashed).
fn record_key(dest: &Path) -> Md5 {
    let abs = std::path::absolute(dest).unwrap_or_else(|_| dest.to_path_buf());
    Md5::of(abs.as_os_str().as_encoded_bytes())
}

/// A relative path that stays inside its folder.
fn check_relpath(rel: &str) -> Result<()> {
    let ok = !rel.is_empty() && confined::components(Path::new(rel)).is_ok() && !rel.contains('\\');
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
    use std::fs;

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
        // Left by a process that is gone: removed at once, however recent.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let orphan = out.join(format!(".a.bin.dvc-build-{dead}-0"));
        fs::write(&orphan, b"full size").unwrap();
        place_file(&cache, &file, &out.join("a.bin")).unwrap();
        assert!(!old.exists(), "an abandoned sibling is removed");
        assert!(!orphan.exists(), "so is one whose writer is gone");
        assert!(
            fresh.exists(),
            "a recent one of a live process may belong to a live placement"
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

    /// Copies for a user: independent, writable with the umask, and a user's
    /// edit is never overwritten without `--force`.
    #[cfg(unix)]
    #[test]
    fn copies_are_independent_and_edits_are_protected() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path().join("cache")).unwrap();
        let v1 = cache.insert_bytes(b"version 1", false).unwrap();
        let v2 = cache.insert_bytes(b"version 2", false).unwrap();
        let root = Dir::create_root(&tmp.path().join("crate")).unwrap();
        let rel = Path::new("models/m.bin");
        let dest = tmp.path().join("crate/models/m.bin");
        let keep = Options::workspace(false, false, Existing::KeepUnsaved);
        let placed = place(&cache, Target::File(&v1), &root, rel, keep).unwrap();
        assert!(matches!(placed.how, Placement::Copy | Placement::Reflink));
        let meta = fs::metadata(&dest).unwrap();
        assert_ne!(meta.ino(), fs::metadata(&v1.path).unwrap().ino());
        assert_eq!(meta.permissions().mode() & 0o200, 0o200, "writable");
        // An unmodified earlier placement is replaced by the new version.
        place(&cache, Target::File(&v2), &root, rel, keep).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"version 2");
        // An edit is refused, naming the file and --force; nothing changes.
        fs::write(&dest, b"my own").unwrap();
        let err = place(&cache, Target::File(&v1), &root, rel, keep).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(
            err.to_string().contains(&dest.display().to_string()),
            "{err}"
        );
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(fs::read(&dest).unwrap(), b"my own");
        assert_eq!(
            state(&cache, &Target::File(&v1).into(), &root, rel).unwrap(),
            State::Modified(vec![dest.clone()])
        );
        // Bytes the cache holds are not lost by replacing them.
        fs::write(&dest, b"version 1").unwrap();
        place(&cache, Target::File(&v2), &root, rel, keep).unwrap();
        // --force replaces an edit, and says so.
        fs::write(&dest, b"mine again").unwrap();
        let forced = place(
            &cache,
            Target::File(&v2),
            &root,
            rel,
            Options::workspace(false, true, Existing::KeepUnsaved),
        )
        .unwrap();
        assert_eq!(forced.replaced, vec![dest.clone()]);
        assert_eq!(fs::read(&dest).unwrap(), b"version 2");
        assert_eq!(
            state(&cache, &Target::File(&v2).into(), &root, rel).unwrap(),
            State::UpToDate
        );
    }

    #[cfg(unix)]
    #[test]
    fn extra_files_in_a_placed_folder_are_protected() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path().join("cache")).unwrap();
        let a = cache.insert_bytes(b"a", false).unwrap();
        let b = cache.insert_bytes(b"b", false).unwrap();
        let files = vec![("x/a.txt".to_string(), a.clone()), ("b.txt".to_string(), b)];
        let root = Dir::create_root(&tmp.path().join("crate")).unwrap();
        let rel = Path::new("data");
        let keep = Options::workspace(false, false, Existing::KeepUnsaved);
        place(&cache, Target::Dir(&files), &root, rel, keep).unwrap();
        assert_eq!(
            place(&cache, Target::Dir(&files), &root, rel, keep)
                .unwrap()
                .how,
            Placement::UpToDate
        );
        let extra = tmp.path().join("crate/data/x/mine.txt");
        fs::write(&extra, b"mine").unwrap();
        let err = place(&cache, Target::Dir(&files), &root, rel, keep).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.to_string().contains("mine.txt"), "{err}");
        assert!(extra.exists());
        // A new version replaces an unmodified earlier one.
        fs::remove_file(&extra).unwrap();
        let smaller = vec![("x/a.txt".to_string(), a)];
        place(&cache, Target::Dir(&smaller), &root, rel, keep).unwrap();
        assert!(!tmp.path().join("crate/data/b.txt").exists());
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
