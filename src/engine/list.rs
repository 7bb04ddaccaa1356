//! `cargo dvc ls`: what a registry holds at a revision, as `dvc list` shows
//! it: the files git tracks (DVC files included) merged with the outputs
//! its `.dvc` files and `dvc.lock` record, which git does not hold.
//!
//! Measured against `dvc list` (3.x): the project's own `.dvc/` folder is
//! left out; a folder holding an output is listed as a folder that is not
//! an output; a directory output is one entry unless the listing goes into
//! it (a `PATH` inside it, or `--recursive`), then its files come from its
//! `.dir` object (the only thing downloaded: a small JSON list), each an
//! output with its MD5 and no size; `--recursive` lists files only;
//! `--dvc-only` keeps outputs and the folders holding them. A directory
//! output that is itself an import (a chained import) is listed from the
//! registry it was imported from, at its `rev_lock`, as fetches follow it
//! (the middle registry's remote holds none of its files); `dvc list`
//! shows those files without MD5s, and so do we.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{At, Engine, Snapshot};
use crate::error::{Error, ErrorKind, Result};
use crate::format::stage::RepoSpec;
use crate::git::{CommitId, EntryKind};
use crate::redact;
use crate::source::{self, join};

/// One entry of a registry listing: `dvc list --json`'s fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Relative to the folder listed (the file's own name when a file was
    /// asked for), `/`-separated.
    pub path: String,
    /// A DVC output, or a file or folder inside a directory output.
    pub isout: bool,
    /// A folder.
    pub isdir: bool,
    /// A file git records as executable.
    pub isexec: bool,
    /// The size in bytes: of a git file's blob, or what a DVC file records
    /// for an output (a directory: all its files); `None` elsewhere.
    pub size: Option<u64>,
    /// An output's MD5 (a directory's ends in `.dir`), or a file's inside a
    /// directory output.
    pub md5: Option<String>,
}

/// What to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListOptions {
    /// Every file below the folder (folders themselves are not listed).
    pub recursive: bool,
    /// Only DVC outputs (and the folders holding them).
    pub dvc_only: bool,
}

impl Engine {
    /// Lists `path` (`""`: the root) of the registry `repo` at its `rev`
    /// (see the module documentation). Returns the commit listed and the
    /// entries, sorted by path.
    pub fn list(
        &self,
        base: &Path,
        repo: &RepoSpec,
        path: &str,
        options: ListOptions,
    ) -> Result<(CommitId, Vec<ListEntry>)> {
        let at = self.at_rev(base, repo)?;
        let path = crate::git::normalize_path(path)?;
        let entries = self.list_at(&at, &path, options, &mut Vec::new())?;
        Ok((at.commit, entries))
    }

    /// Lists `path` (normal form) of the registry `at`; `chain` holds the
    /// registries a chained import went through to get here.
    fn list_at(
        &self,
        at: &At,
        path: &str,
        options: ListOptions,
        chain: &mut Vec<String>,
    ) -> Result<Vec<ListEntry>> {
        let (repo, commit) = (&at.repo, &at.commit);
        let snapshot = Snapshot::new(&at.db, commit);
        let project_dir = source::project_dir_of(&snapshot, path)?;
        let outputs = source::tracked_outputs(&snapshot, &project_dir)?;
        let listing = snapshot.listing()?;
        let internal = join(&project_dir, ".dvc");

        let mut all: BTreeMap<String, ListEntry> = BTreeMap::new();
        let entry = |isout, isdir, size, md5| ListEntry {
            path: String::new(),
            isout,
            isdir,
            isexec: false,
            size,
            md5,
        };
        for (p, e) in &listing.files {
            if source::is_below(p, &internal) {
                continue;
            }
            match e.kind {
                EntryKind::Blob | EntryKind::Symlink => {
                    let mut file = entry(false, false, e.size, None);
                    file.isexec = e.mode == 0o100755;
                    all.insert(p.clone(), file);
                }
                EntryKind::Submodule => {
                    all.insert(p.clone(), entry(false, true, None, None));
                }
                EntryKind::Tree => {}
            }
        }
        for o in &outputs {
            // An import written with `--no-download` records no hash.
            let md5 = o
                .key
                .map(|k| format!("{}{}", k.md5.to_hex(), if k.is_dir { ".dir" } else { "" }));
            all.insert(o.path.clone(), entry(true, o.is_dir(), o.size, md5));
        }
        // The files of the directory outputs the listing goes into.
        let mut remote = None;
        for o in &outputs {
            let Some(key) = o.key.filter(|k| k.is_dir) else {
                continue;
            };
            let needed = source::is_below(path, &o.path)
                || (options.recursive && source::is_below(&o.path, path));
            if !needed {
                continue;
            }
            // (path relative to the output, MD5) of every file in it.
            let files: Vec<(String, Option<String>)> = match &o.import {
                // A chained import: the files are those of the registry it
                // was imported from, at its `rev_lock` (the middle
                // registry's remote holds none of them). `dvc list` shows
                // them without MD5s.
                Some(link) => {
                    let (next, upstream) = self.follow_import(at, o, link, None, chain)?;
                    let every_file = ListOptions {
                        recursive: true,
                        dvc_only: false,
                    };
                    let listed = self.list_at(&next, &upstream, every_file, chain)?;
                    chain.pop();
                    listed.into_iter().map(|e| (e.path, None)).collect()
                }
                None => {
                    if remote.is_none() {
                        remote = Some(self.remote_for(at, &snapshot, &project_dir)?);
                    }
                    let Some(remote) = &remote else { continue };
                    let manifest = self.dir_manifest(&**remote, o, key)?;
                    manifest
                        .entries()
                        .iter()
                        .map(|e| (e.relpath.clone(), Some(e.md5.to_hex())))
                        .collect()
                }
            };
            for (relpath, md5) in files {
                let full = join(&o.path, &relpath);
                let mut p = full.as_str();
                while let Some((parent, _)) = p.rsplit_once('/') {
                    if parent.len() <= o.path.len() {
                        break;
                    }
                    all.entry(parent.to_string())
                        .or_insert_with(|| entry(true, true, None, None));
                    p = parent;
                }
                all.insert(full.clone(), entry(true, false, None, md5));
            }
        }
        // Folders that only hold outputs (git does not list them), and the
        // set of paths holding an output, for `--dvc-only`.
        let mut holds_output: BTreeSet<String> = BTreeSet::new();
        let paths: Vec<String> = all.keys().cloned().collect();
        for p in &paths {
            let is_out = all.get(p).is_some_and(|e| e.isout);
            let mut rest = p.as_str();
            while let Some((parent, _)) = rest.rsplit_once('/') {
                all.entry(parent.to_string())
                    .or_insert_with(|| entry(false, true, None, None));
                if is_out {
                    holds_output.insert(parent.to_string());
                }
                rest = parent;
            }
        }

        let not_found = || {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "`{path}` is not in the registry {} at {}",
                    redact::url(&repo.url),
                    repo.rev.as_deref().unwrap_or(commit.as_str())
                ),
            )
            .with_help(format!(
                "list the folder above it: `cargo dvc ls {}{}`",
                redact::url(&repo.url),
                path.rsplit_once('/')
                    .map(|(parent, _)| format!(" {parent}"))
                    .unwrap_or_default()
            ))
        };
        if !path.is_empty() {
            let Some(found) = all.get(path) else {
                return Err(not_found());
            };
            if !found.isdir {
                let mut file = found.clone();
                file.path = path.rsplit('/').next().unwrap_or(path).to_string();
                return Ok(vec![file]);
            }
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut entries = Vec::new();
        for (p, e) in all.range(prefix.clone()..) {
            let Some(rel) = p.strip_prefix(&prefix) else {
                break;
            };
            if options.recursive {
                if e.isdir {
                    continue;
                }
            } else if rel.contains('/') {
                continue;
            }
            if options.dvc_only && !(e.isout || holds_output.contains(p)) {
                continue;
            }
            let mut shown = e.clone();
            shown.path = rel.to_string();
            entries.push(shown);
        }
        Ok(entries)
    }
}
