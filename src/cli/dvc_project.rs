//! What `dvc import` and `dvc pull` do to the project around an artifact,
//! beyond placing it: a `.gitignore` entry beside the output, and the
//! project's own DVC cache filled with the artifact's objects.
//!
//! * **`.gitignore`**: inside a git work tree, DVC appends `/<name>` (glob
//!   characters escaped) to the `.gitignore` in the output's folder, unless
//!   git already ignores the output by some rule or that exact line is
//!   there; [`gitignore`] does the same, byte for byte (asking
//!   `git check-ignore`, only when the line is not there already).
//! * **The DVC cache**: `dvc status` reports an output whose objects are not
//!   in `.dvc/cache` as "not in cache", however right its bytes are. In a
//!   DVC project (a `.dvc` folder at or above the crate, inside the same git
//!   work tree) using the default cache location, [`fill_dvc_cache`] links
//!   (or copies) the objects from our cache into `.dvc/cache/files/md5`,
//!   DVC 3's layout, as `dvc pull` would have fetched them.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::cache::{Cache, CachedFile};
use crate::confined::{Dir, Kind};
use crate::engine::Artifact;
use crate::error::{Error, ErrorKind, Result};

/// The git work tree holding `path`, if any: the nearest folder at or above
/// it with a `.git` entry (a folder, or a file for worktrees and submodules).
fn git_work_tree(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
}

/// The `.gitignore` edit that `dvc import` and `dvc pull` make for the
/// output `rel` below `root` (a folder when `is_dir`): `/<file name>` added
/// to the `.gitignore` beside it, when `rel` is inside a git work tree and
/// git does not ignore it yet. Returns the `.gitignore`'s path relative to
/// `root` and its new text; `None` when nothing needs adding. Reads only.
pub fn gitignore_edit(root: &Dir, rel: &Path, is_dir: bool) -> Result<Option<(PathBuf, String)>> {
    let (folder, name) = crate::confined::split(rel)?;
    if git_work_tree(&root.path().join(&folder)).is_none() {
        return Ok(None);
    }
    let entry = format!("/{}", escape(&name.to_string_lossy()));
    let text = match root.open_dir(&folder, false)? {
        Some(dir) => dir
            .read_to_string(OsStr::new(".gitignore"))?
            .unwrap_or_default(),
        None => String::new(),
    };
    if text.lines().any(|line| line == entry) {
        return Ok(None);
    }
    if crate::git::ignores(root.path(), rel.as_os_str(), is_dir) == Some(true) {
        return Ok(None);
    }
    let prefix = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    Ok(Some((
        folder.join(".gitignore"),
        format!("{text}{prefix}{entry}\n"),
    )))
}

/// The `.gitignore` edit that `dvc remove` makes for the output `rel`
/// below `root`: its `/<file name>` line taken out of the `.gitignore`
/// beside it. Returns the `.gitignore`'s path relative to `root` and its new
/// text (empty: DVC then deletes the file); `None` when the line is not
/// there. Reads only.
pub fn gitignore_removal(root: &Dir, rel: &Path) -> Result<Option<(PathBuf, String)>> {
    let (folder, name) = crate::confined::split(rel)?;
    let entry = format!("/{}", escape(&name.to_string_lossy()));
    let Some(text) = root
        .open_dir(&folder, false)?
        .and_then(|dir| dir.read_to_string(OsStr::new(".gitignore")).transpose())
        .transpose()?
    else {
        return Ok(None);
    };
    if !text.lines().any(|line| line == entry) {
        return Ok(None);
    }
    let kept: String = text
        .split_inclusive('\n')
        .filter(|line| line.trim_end_matches(['\n', '\r']) != entry)
        .collect();
    Ok(Some((folder.join(".gitignore"), kept)))
}

/// Makes the [`gitignore_edit`] for `rel`, never through a symlink; `true`
/// when the file changed.
pub fn gitignore(root: &Dir, rel: &Path, is_dir: bool) -> Result<bool> {
    write_gitignore_edit(root, gitignore_edit(root, rel, is_dir)?)
}

/// Writes an `edit` made by [`gitignore_edit`], never through a symlink;
/// `true` when there was one.
pub fn write_gitignore_edit(root: &Dir, edit: Option<(PathBuf, String)>) -> Result<bool> {
    let Some((file, text)) = edit else {
        return Ok(false);
    };
    let mut batch = crate::confined::Batch::new();
    batch.write(root, file, text);
    batch.commit()?;
    Ok(true)
}

/// The files git tracks at `rel` below `root` (the path itself, or files
/// below it when it is a folder), as absolute paths.
pub fn tracked_by_git(root: &Path, rel: &Path) -> Vec<PathBuf> {
    crate::git::tracked(root, rel)
        .unwrap_or_default()
        .into_iter()
        .map(|p| root.join(p))
        .collect()
}

/// The error for outputs git tracks.
pub fn tracked_error(paths: &[PathBuf]) -> Error {
    let list: Vec<String> = paths.iter().map(|p| format!("  {}", p.display())).collect();
    Error::new(
        ErrorKind::Conflict,
        format!(
            "git tracks what is at the output, and placing the artifact would replace it:\n{}",
            list.join("\n")
        ),
    )
}

/// Escapes what gitignore patterns treat specially, as DVC (pathspec's
/// `GitWildMatchPattern.escape`) does.
pub(crate) fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '[' | ']' | '!' | '*' | '#' | '?') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The DVC project holding `dir` inside the same git work tree, if any.
fn dvc_project_of(dir: &Path) -> Option<PathBuf> {
    let top = git_work_tree(dir);
    dir.ancestors()
        .take_while(|d| top.as_deref().is_none_or(|top| d.starts_with(top)))
        .find(|d| d.join(".dvc").is_dir())
        .map(Path::to_path_buf)
}

/// The `[cache]` section of the project's config (`config`, then
/// `config.local` over it), if either has one.
fn cache_section(project: &Path) -> Option<crate::format::config::Section> {
    let dvc = project.join(".dvc");
    let mut found = None;
    for name in ["config", "config.local"] {
        let Ok(text) = std::fs::read_to_string(dvc.join(name)) else {
            continue;
        };
        let Ok(config) = crate::format::config::Config::parse(&text, &dvc.to_string_lossy()) else {
            continue;
        };
        if let Some(section) = config.section("cache") {
            let merged = found.get_or_insert_with(crate::format::config::Section::default);
            for (k, v) in &section.options {
                merged.set(k, v);
            }
        }
    }
    found
}

/// Whether the DVC project around `dir` asks for linked outputs: its
/// `cache.type` lists `hardlink` or `symlink` (placed as hard links here),
/// as DVC users choose to save space. The default (`reflink,copy`) and
/// `copy` do not.
pub fn project_wants_links(dir: &Path) -> bool {
    let Some(project) = dvc_project_of(dir) else {
        return false;
    };
    cache_section(&project)
        .and_then(|s| s.get("type").map(str::to_string))
        .is_some_and(|types| {
            types
                .split(',')
                .map(str::trim)
                .any(|t| t == "hardlink" || t == "symlink")
        })
}

/// The default cache (`.dvc/cache/files/md5`, relative to the project) of
/// the DVC project holding `dir`, if there is one and it does not configure
/// another cache location.
fn dvc_cache_of(dir: &Path) -> Option<PathBuf> {
    let project = dvc_project_of(dir)?;
    if cache_section(&project).is_some_and(|s| s.get("dir").is_some() || s.get("shared").is_some())
    {
        // A cache elsewhere, or shared with its own permissions: leave it
        // to dvc.
        return None;
    }
    Some(project)
}

/// Puts the objects of `artifact` into the DVC cache of the project around
/// `dir`, when there is one (see the module documentation). Objects already
/// there are left alone. Written below the project's root, never through a
/// symlink (a symlinked `.dvc/cache` is refused).
pub fn fill_dvc_cache(cache: &Cache, artifact: &Artifact, dir: &Path) -> Result<()> {
    let Some(project) = dvc_cache_of(dir) else {
        return Ok(());
    };
    let root = Dir::open_root(&project)?;
    let Some(md5_dir) = root.open_dir(Path::new(".dvc/cache/files/md5"), true)? else {
        return Ok(());
    };
    let mut objects: Vec<(String, PathBuf)> = Vec::new();
    let mut add = |file: &CachedFile, is_dir: bool| {
        let name = format!("{}{}", file.md5, if is_dir { ".dir" } else { "" });
        objects.push((name, cache.object_path(&file.md5, is_dir)));
    };
    match artifact {
        Artifact::File(file) => add(file, false),
        Artifact::Dir { md5, files, .. } => {
            for (_, file) in files {
                add(file, false);
            }
            let manifest = cache.object_path(md5, true);
            if manifest.is_file() {
                objects.push((format!("{md5}.dir"), manifest));
            }
        }
    }
    let objects_root = cache.objects_dir();
    let object_dir = Dir::open_root(&objects_root).ok();
    for (name, source) in objects {
        let Some(shard) = md5_dir.subdir(OsStr::new(&name[..2]), true)? else {
            continue;
        };
        let file_name = OsStr::new(&name[2..]);
        if shard
            .stat(file_name)?
            .is_some_and(|m| m.kind != Kind::Symlink)
        {
            continue;
        }
        // A hard link where the file systems allow (the objects are
        // read-only), else a copy.
        let tmp = crate::confined::temp_name(file_name);
        if let Ok(rel) = source.strip_prefix(&objects_root)
            && let Some(object_dir) = &object_dir
            && object_dir.link_to(rel, &shard, &tmp).is_ok()
        {
            let renamed = shard.rename(&tmp, file_name);
            if renamed.is_err() {
                let _ = shard.remove_file(&tmp);
            }
            renamed?;
            continue;
        }
        let mut out = shard.create_new(&tmp)?;
        let copied = (|| {
            let mut src =
                std::fs::File::open(&source).map_err(|e| Error::io("open", &source, e))?;
            std::io::copy(&mut src, &mut out)
                .map_err(|e| Error::io("copy to", &shard.path().join(&tmp), e))?;
            crate::confined::set_read_only(&out)
                .map_err(|e| Error::io("make read-only", &shard.path().join(&tmp), e))?;
            drop(out);
            shard.rename(&tmp, file_name)
        })();
        if copied.is_err() {
            let _ = shard.remove_file(&tmp);
        }
        copied?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn git_init(dir: &Path) {
        let init = std::process::Command::new("git")
            .args(["init", "-q"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(init.success());
    }

    #[test]
    fn gitignore_entries_as_dvc_writes_them() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let out = Path::new("assets/model[1].bin");
        let dir = Dir::open_root(root).unwrap();
        // Not in a git work tree: nothing.
        assert!(!gitignore(&dir, out, false).unwrap());
        git_init(root);
        fs::create_dir_all(root.join("assets")).unwrap();
        fs::write(root.join("assets/.gitignore"), "/other").unwrap();
        assert!(gitignore(&dir, out, false).unwrap());
        assert!(!gitignore(&dir, out, false).unwrap(), "once only");
        assert_eq!(
            fs::read_to_string(root.join("assets/.gitignore")).unwrap(),
            "/other\n/model\\[1\\].bin\n"
        );
    }

    #[test]
    fn outputs_git_already_ignores_get_no_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        git_init(root);
        fs::write(root.join(".gitignore"), "*.onnx\ndata/\n").unwrap();
        fs::write(root.join(".git/info/exclude"), "/excluded.bin\n").unwrap();
        // Ignored by a pattern in a parent folder, by a folder-only pattern
        // (before the folder exists), by .git/info/exclude.
        let dir = Dir::open_root(root).unwrap();
        assert!(!gitignore(&dir, Path::new("models/a.onnx"), false).unwrap());
        assert!(!gitignore(&dir, Path::new("data"), true).unwrap());
        assert!(!gitignore(&dir, Path::new("excluded.bin"), false).unwrap());
        assert!(!root.join("models/.gitignore").exists());
        // A file called `data` is not a folder: `data/` does not cover it.
        assert!(gitignore(&dir, Path::new("sub/data"), false).unwrap());
        assert_eq!(
            fs::read_to_string(root.join("sub/.gitignore")).unwrap(),
            "/data\n"
        );
        assert_eq!(
            fs::read_to_string(root.join(".gitignore")).unwrap(),
            "*.onnx\ndata/\n"
        );
    }
}
