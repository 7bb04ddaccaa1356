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

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cache::{Cache, CachedFile};
use crate::engine::Artifact;
use crate::error::{Error, Result};

/// The git work tree holding `path`, if any: the nearest folder at or above
/// it with a `.git` entry (a folder, or a file for worktrees and submodules).
fn git_work_tree(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
}

/// Adds `/<file name of out>` to the `.gitignore` beside `out` (an absolute
/// path; a folder when `is_dir`), as `dvc import` and `dvc pull` do, when
/// `out` is inside a git work tree and git does not ignore it yet. Returns
/// `true` when the file changed.
pub fn gitignore(out: &Path, is_dir: bool) -> Result<bool> {
    let (Some(dir), Some(name)) = (out.parent(), out.file_name()) else {
        return Ok(false);
    };
    if git_work_tree(dir).is_none() {
        return Ok(false);
    }
    let entry = format!("/{}", escape(&name.to_string_lossy()));
    let path = dir.join(".gitignore");
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    if text.lines().any(|line| line == entry) {
        return Ok(false);
    }
    fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    if crate::git::ignores(dir, name, is_dir) == Some(true) {
        return Ok(false);
    }
    let prefix = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut file| file.write_all(format!("{prefix}{entry}\n").as_bytes()))
        .map_err(|e| Error::io("write", &path, e))?;
    Ok(true)
}

/// Escapes what gitignore patterns treat specially, as DVC (pathspec's
/// `GitWildMatchPattern.escape`) does.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '[' | ']' | '!' | '*' | '#' | '?') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The default cache (`.dvc/cache/files/md5`) of the DVC project holding
/// `dir`, if there is one and it does not configure another cache location.
fn dvc_cache_of(dir: &Path) -> Option<PathBuf> {
    let top = git_work_tree(dir);
    let project = dir
        .ancestors()
        .take_while(|d| top.as_deref().is_none_or(|top| d.starts_with(top)))
        .find(|d| d.join(".dvc").is_dir())?;
    let dvc = project.join(".dvc");
    for config in ["config", "config.local"] {
        let text = fs::read_to_string(dvc.join(config)).unwrap_or_default();
        if text.lines().any(|l| l.trim() == "[cache]") {
            // A configured cache (`dir`, `type`, `shared`...): leave it to dvc.
            return None;
        }
    }
    Some(dvc.join("cache").join("files").join("md5"))
}

/// Puts the objects of `artifact` into the DVC cache of the project around
/// `dir`, when there is one (see the module documentation). Objects already
/// there are left alone.
pub fn fill_dvc_cache(cache: &Cache, artifact: &Artifact, dir: &Path) -> Result<()> {
    let Some(dvc_cache) = dvc_cache_of(dir) else {
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
    for (name, source) in objects {
        let dest = dvc_cache.join(&name[..2]).join(&name[2..]);
        if dest.exists() {
            continue;
        }
        let folder = dest.parent().unwrap_or(&dvc_cache);
        fs::create_dir_all(folder).map_err(|e| Error::io("create", folder, e))?;
        let tmp = folder.join(format!(".{}.dvc-build-tmp", &name[2..]));
        let _ = fs::remove_file(&tmp);
        if fs::hard_link(&source, &tmp).is_err() {
            fs::copy(&source, &tmp).map_err(|e| Error::io("copy", &source, e))?;
            let mut perms = fs::metadata(&tmp)
                .map_err(|e| Error::io("read", &tmp, e))?
                .permissions();
            perms.set_readonly(true);
            fs::set_permissions(&tmp, perms).map_err(|e| Error::io("write", &tmp, e))?;
        }
        fs::rename(&tmp, &dest).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::io("replace", &dest, e)
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let out = root.join("assets/model[1].bin");
        // Not in a git work tree: nothing.
        assert!(!gitignore(&out, false).unwrap());
        git_init(root);
        fs::create_dir_all(root.join("assets")).unwrap();
        fs::write(root.join("assets/.gitignore"), "/other").unwrap();
        assert!(gitignore(&out, false).unwrap());
        assert!(!gitignore(&out, false).unwrap(), "once only");
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
        assert!(!gitignore(&root.join("models/a.onnx"), false).unwrap());
        assert!(!gitignore(&root.join("data"), true).unwrap());
        assert!(!gitignore(&root.join("excluded.bin"), false).unwrap());
        assert!(!root.join("models/.gitignore").exists());
        // A file called `data` is not a folder: `data/` does not cover it.
        assert!(gitignore(&root.join("sub/data"), false).unwrap());
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
