//! Source-project lookup: what a path names in a DVC project at one commit,
//! as `dvc` sees the repository (its `DVCFileSystem`).
//!
//! Given the tree of a registry at a commit (any [`SourceTree`]; in practice
//! the git database), [`locate`] finds the DVC project that holds `path`
//! (the repository root, a subfolder made by `dvc init --subdir`, or `path`
//! itself when it is such a subrepo) and says where the artifact's bytes
//! are, in the order `dvc import` looks:
//!
//! 1. an output of a `.dvc` file (relative to the file's folder and `wdir`);
//! 2. an output of a `dvc.lock` stage;
//! 3. a file or folder inside a tracked directory (resolved later, from the
//!    directory's `.dir` object);
//! 4. a file tracked by git itself;
//! 5. a folder: its git files and the DVC outputs below it, merged, as
//!    `dvc` lists it ([`Folder`]): DVC files (`*.dvc`, `dvc.yaml`,
//!    `.dvcignore`), `.dvc/` and nested subrepos are left out.
//!
//! An output may itself be an import from another registry (a chained
//! import): it says so ([`ImportLink`]) and the engine follows it. An output
//! whose bytes git holds (`cache: false`, or a file git tracks as well) is
//! read from git, as `dvc` does.
//!
//! It also reads the project's `.dvc/config`, which says where the default
//! remote is. Nothing here fetches data.

use std::collections::BTreeSet;

use crate::error::{Error, ErrorKind, Result};
use crate::format::dvc_lock::DvcLock;
use crate::format::dvcignore::IgnoreFile;
use crate::format::stage::{HashFields, RepoSpec, Stage};
use crate::remote::{Layout, ObjectKey};

/// What kind of thing a path in a tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A regular file (blob).
    File,
    /// A folder (tree).
    Dir,
}

/// Read access to a repository's files at one commit.
pub trait SourceTree {
    /// The bytes of the file at `path` (`/`-separated, relative to the root),
    /// or `None` when there is no such file.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>>;
    /// What `path` is, or `None` when absent. `""` is the root folder.
    fn kind(&self, path: &str) -> Result<Option<NodeKind>>;
    /// Every file below folder `dir` (`""` for the root), recursively, as
    /// paths relative to the root.
    fn files_under(&self, dir: &str) -> Result<Vec<String>>;
    /// What is below folder `dir` that is neither a file nor a folder
    /// (symbolic links, submodules): paths relative to the root, each with
    /// what it is.
    fn others_under(&self, _dir: &str) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }
}

/// Where a DVC-tracked output's bytes are.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedOutput {
    /// The output's path, relative to the repository root.
    pub path: String,
    /// The object the registry recorded: a file, or a directory's `.dir`
    /// manifest. `None` only for an import written with `--no-download`.
    pub key: Option<ObjectKey>,
    /// The recorded size, when the file recorded one.
    pub size: Option<u64>,
    /// The recorded file count of a directory.
    pub nfiles: Option<u64>,
    /// The file (`.dvc` or `dvc.lock`) that records it.
    pub recorded_in: String,
    /// `Some` when the output is itself an import: its bytes are those of
    /// that registry, not of this one's remote.
    pub import: Option<ImportLink>,
}

impl TrackedOutput {
    /// `true` when the registry recorded a directory (`.dir`).
    pub fn is_dir(&self) -> bool {
        self.key.is_some_and(|k| k.is_dir)
    }
}

/// The source of an output that is an import stage (`deps[0].repo`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportLink {
    /// `deps[0].path`: the path in that registry, as recorded.
    pub path: String,
    /// `deps[0].repo`: that registry, its `rev_lock`, `remote`, `config`.
    pub repo: RepoSpec,
}

/// A folder as `dvc` lists it: git files and DVC outputs together.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Folder {
    /// The git-tracked files shown in the folder, as paths relative to the
    /// repository root (DVC files, `.dvc/` and nested subrepos left out),
    /// sorted.
    pub git_files: Vec<String>,
    /// The DVC outputs below the folder (files and whole directories).
    pub outputs: Vec<TrackedOutput>,
}

/// What `path` names in the source project.
#[derive(Debug, Clone, PartialEq)]
pub enum Located {
    /// A whole DVC output (file or directory).
    Output(TrackedOutput),
    /// Something inside a tracked directory: `inner` is the path below the
    /// directory output (`/`-separated), a file or a sub-folder.
    InsideDir {
        /// The directory output.
        dir: TrackedOutput,
        /// The path inside it.
        inner: String,
    },
    /// A file tracked by git itself.
    GitFile,
    /// A folder: see [`Folder`].
    Folder(Folder),
}

/// The result of a lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceArtifact {
    /// The DVC project's folder relative to the repository root (`""` when
    /// at the root, or when the repository is not a DVC project).
    pub project_dir: String,
    /// The path that was asked for, relative to the repository root.
    pub path: String,
    /// What it is.
    pub located: Located,
}

/// Looks `path` (relative to the repository root, `/`-separated, normalised;
/// `""` for the whole repository) up in `tree`.
pub fn locate(tree: &dyn SourceTree, path: &str) -> Result<SourceArtifact> {
    let project_dir = project_dir_of(tree, path)?;
    let outputs = tracked_outputs(tree, &project_dir)?;
    let located = match match_output(&outputs, path) {
        Some(l) => l,
        None => match tree.kind(path)? {
            Some(NodeKind::File) => Located::GitFile,
            Some(NodeKind::Dir) => Located::Folder(folder(tree, &project_dir, path, &outputs)?),
            None => return Err(not_found(tree, path, &outputs)),
        },
    };
    Ok(SourceArtifact {
        project_dir,
        path: path.to_string(),
        located,
    })
}

/// The folder of the innermost DVC project (a folder with `.dvc/`) holding
/// `path`, `path` itself included.
pub(crate) fn project_dir_of(tree: &dyn SourceTree, path: &str) -> Result<String> {
    let mut best = String::new();
    let mut prefix = String::new();
    let mut parts = path.split('/').filter(|p| !p.is_empty()).peekable();
    loop {
        if tree.kind(&join(&prefix, ".dvc"))? == Some(NodeKind::Dir) {
            best = prefix.clone();
        }
        match parts.next() {
            Some(part) => {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
            }
            None => break,
        }
    }
    Ok(best)
}

/// The folders below `dir` (strictly) that are DVC projects of their own
/// (subrepos): they hold a `.dvc/` folder.
fn subrepos_below(files: &[String], dir: &str) -> BTreeSet<String> {
    let mut roots = BTreeSet::new();
    for file in files {
        let parts: Vec<&str> = file.split('/').collect();
        for (i, part) in parts.iter().enumerate().take(parts.len().saturating_sub(1)) {
            if *part == ".dvc" {
                let root = parts[..i].join("/");
                if root != dir && is_below(&root, dir) {
                    roots.insert(root);
                }
                break;
            }
        }
    }
    roots
}

/// `path` is strictly below the folder `dir` (`""` holds everything).
pub(crate) fn is_below_dir(path: &str, dir: &str) -> bool {
    path != dir && is_below(path, dir)
}

/// `path` is `dir` or below it (`dir == ""` holds everything).
pub(crate) fn is_below(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// `true` for what `dvc` hides in a listing: DVC files (`*.dvc`, which
/// includes the `.dvc/` folder, `dvc.yaml`) and `.dvcignore`.
fn is_dvc_file_name(name: &str) -> bool {
    name.ends_with(".dvc") || name == "dvc.yaml" || name == ".dvcignore"
}

/// Every output recorded by the `.dvc` files and `dvc.lock` files of the
/// project at `project_dir` (not of its subrepos), with paths relative to
/// the repository root. Outputs whose bytes git holds are left out: `dvc`
/// reads those from git.
pub fn tracked_outputs(tree: &dyn SourceTree, project_dir: &str) -> Result<Vec<TrackedOutput>> {
    let mut outputs = Vec::new();
    let files = tree.files_under(project_dir)?;
    let subrepos = subrepos_below(&files, project_dir);
    let internal = join(project_dir, ".dvc/");
    for file in &files {
        if file.starts_with(&internal) || subrepos.iter().any(|r| is_below(file, r)) {
            continue;
        }
        let name = file.rsplit('/').next().unwrap_or(file);
        let folder = parent(file);
        if name.ends_with(".dvc") && name != ".dvc" {
            let Some(bytes) = tree.read(file)? else {
                continue;
            };
            let text = utf8(&bytes, file)?;
            let stage = Stage::parse(text).map_err(|e| e.context(format!("in `{file}`")))?;
            let base = match &stage.wdir {
                Some(wdir) => normalize_join(&folder, wdir).ok_or_else(|| escapes(file, wdir))?,
                None => folder.clone(),
            };
            let import = stage.import_dep().and_then(|dep| {
                dep.repo.as_ref().map(|repo| ImportLink {
                    path: dep.path.clone(),
                    repo: repo.clone(),
                })
            });
            for out in stage.outs.iter().filter(|o| o.cache) {
                if let Some(o) = output(tree, file, &base, &out.path, &out.hash, import.clone())? {
                    outputs.push(o);
                }
            }
        } else if name == "dvc.lock" {
            let Some(bytes) = tree.read(file)? else {
                continue;
            };
            let text = utf8(&bytes, file)?;
            let lock = DvcLock::parse(text).map_err(|e| e.context(format!("in `{file}`")))?;
            for out in lock.stages.iter().flat_map(|s| &s.outs) {
                // `cache: false` lives in `dvc.yaml` (perhaps behind
                // `${...}`): such an output is committed to git, and a
                // path git holds is read from git.
                let path =
                    normalize_join(&folder, &out.path).ok_or_else(|| escapes(file, &out.path))?;
                if tree.kind(&path)?.is_some() {
                    continue;
                }
                if let Some(o) = output(tree, file, &folder, &out.path, &out.hash, None)? {
                    outputs.push(o);
                }
            }
        }
    }
    Ok(outputs)
}

fn output(
    tree: &dyn SourceTree,
    file: &str,
    base: &str,
    out_path: &str,
    hash: &HashFields,
    import: Option<ImportLink>,
) -> Result<Option<TrackedOutput>> {
    let path = normalize_join(base, out_path).ok_or_else(|| escapes(file, out_path))?;
    // A file git tracks as well is read from git, as `dvc` opens it.
    if tree.kind(&path)? == Some(NodeKind::File) {
        return Ok(None);
    }
    let key = hash
        .md5_hash()
        .map_err(|e| e.context(format!("in `{file}`, output `{out_path}`")))?
        .map(|(md5, is_dir)| ObjectKey {
            md5,
            is_dir,
            layout: if hash.is_legacy() {
                Layout::V2
            } else {
                Layout::V3
            },
        });
    // An output without a hash (never committed) has no object anywhere,
    // unless it is an import, whose registry has the bytes.
    if key.is_none() && import.is_none() {
        return Ok(None);
    }
    Ok(Some(TrackedOutput {
        path,
        key,
        size: hash.size,
        nfiles: hash.nfiles,
        recorded_in: file.to_string(),
        import,
    }))
}

fn match_output(outputs: &[TrackedOutput], path: &str) -> Option<Located> {
    if let Some(o) = outputs.iter().find(|o| o.path == path) {
        return Some(Located::Output(o.clone()));
    }
    outputs.iter().find_map(|o| {
        let inner = path.strip_prefix(&o.path)?.strip_prefix('/')?;
        // An import written with `--no-download` says nothing of its kind:
        // its registry will tell.
        let may_hold = o.is_dir() || o.key.is_none() || o.path.is_empty();
        may_hold.then(|| Located::InsideDir {
            dir: o.clone(),
            inner: inner.to_string(),
        })
    })
}

/// The folder `path` of the project at `project_dir` as `dvc` lists it
/// (see [`Folder`]).
fn folder(
    tree: &dyn SourceTree,
    project_dir: &str,
    path: &str,
    outputs: &[TrackedOutput],
) -> Result<Folder> {
    let files = tree.files_under(path)?;
    let subrepos = subrepos_below(&files, path);
    let prefix_len = if path.is_empty() { 0 } else { path.len() + 1 };
    let ignores = Ignores::load(tree, project_dir)?;
    let shown = |f: &str| {
        !subrepos.iter().any(|r| is_below(f, r))
            && !f[prefix_len..].split('/').any(is_dvc_file_name)
            && !ignores.ignored(f)
    };
    let git_files: Vec<String> = files.into_iter().filter(|f| shown(f)).collect();
    if let Some((other, what)) = tree.others_under(path)?.into_iter().find(|(f, _)| shown(f)) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("`{other}` is a {what} in git; only regular files can be imported"),
        )
        .with_help("import the regular files of the folder one by one"));
    }
    let outputs = outputs
        .iter()
        .filter(|o| o.path != path && is_below(&o.path, path))
        .filter(|o| !o.path[prefix_len..].split('/').any(is_dvc_file_name))
        .cloned()
        .collect();
    Ok(Folder { git_files, outputs })
}

/// The `.dvcignore` files of a project, outermost first: each hides, from
/// `dvc`'s listing, what its patterns match in its folder and below. `dvc`
/// walks folder by folder and never enters an ignored one.
struct Ignores {
    /// The project's folder.
    project: String,
    /// (folder of the `.dvcignore`, its patterns), outer folders first.
    files: Vec<(String, IgnoreFile)>,
}

impl Ignores {
    fn load(tree: &dyn SourceTree, project: &str) -> Result<Ignores> {
        let all = tree.files_under(project)?;
        let subrepos = subrepos_below(&all, project);
        let mut files = Vec::new();
        for file in all {
            if file.rsplit('/').next() != Some(".dvcignore")
                || subrepos.iter().any(|r| is_below(&file, r))
            {
                continue;
            }
            let Some(bytes) = tree.read(&file)? else {
                continue;
            };
            let patterns = IgnoreFile::parse(&String::from_utf8_lossy(&bytes));
            if !patterns.is_empty() {
                files.push((parent(&file), patterns));
            }
        }
        files.sort_by_key(|(dir, _)| dir.matches('/').count() + usize::from(!dir.is_empty()));
        Ok(Ignores {
            project: project.to_string(),
            files,
        })
    }

    /// Whether the file `path` (from the repository root) is hidden: it,
    /// or a folder on its way down from the project's folder, is ignored.
    fn ignored(&self, path: &str) -> bool {
        if self.files.is_empty() {
            return false;
        }
        let rel = if self.project.is_empty() {
            path
        } else {
            &path[self.project.len() + 1..]
        };
        let parts: Vec<&str> = rel.split('/').collect();
        for depth in 1..=parts.len() {
            let entry = join(&self.project, &parts[..depth].join("/"));
            let is_dir = depth < parts.len();
            let mut verdict = None;
            for (dir, patterns) in &self.files {
                let Some(inside) = (if dir.is_empty() {
                    Some(entry.as_str())
                } else {
                    entry
                        .strip_prefix(dir.as_str())
                        .and_then(|r| r.strip_prefix('/'))
                }) else {
                    continue;
                };
                if let Some(v) = patterns.matches(inside, is_dir) {
                    verdict = Some(v);
                }
            }
            if verdict == Some(true) {
                return true;
            }
        }
        false
    }
}

fn not_found(tree: &dyn SourceTree, path: &str, outputs: &[TrackedOutput]) -> Error {
    let folder = parent(path);
    let mut near: Vec<String> = outputs
        .iter()
        .filter(|o| parent(&o.path) == folder)
        .map(|o| o.path.clone())
        .collect();
    if let Ok(files) = tree.files_under(&folder) {
        near.extend(
            files.into_iter().filter(|f| {
                parent(f) == folder && !f.ends_with(".dvc") && !f.ends_with(".gitignore")
            }),
        );
    }
    near.sort();
    near.dedup();
    let err = Error::new(
        ErrorKind::NotFound,
        format!("`{path}` is neither tracked by DVC nor by git in the source project"),
    );
    if near.is_empty() {
        err.with_help("check `path`: it is relative to the root of the source repository")
    } else {
        let shown: Vec<_> = near.iter().take(10).map(|p| format!("`{p}`")).collect();
        err.with_help(format!(
            "check `path`; nearby are {}{}",
            shown.join(", "),
            if near.len() > 10 { ", ..." } else { "" }
        ))
    }
}

fn utf8<'a>(bytes: &'a [u8], file: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes)
        .map_err(|_| Error::new(ErrorKind::Format, format!("`{file}` is not valid UTF-8")))
}

fn escapes(file: &str, rel: &str) -> Error {
    Error::new(
        ErrorKind::Format,
        format!("`{file}` names `{rel}`, which leaves the project"),
    )
    .with_help("the source registry is malformed; tell its maintainers")
}

/// The folder part of `path` (`""` at the root).
fn parent(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => path[..i].to_string(),
        None => String::new(),
    }
}

/// `dir/rel`, or `rel` when `dir` is the root (`""`).
pub(crate) fn join(dir: &str, rel: &str) -> String {
    if dir.is_empty() {
        rel.to_string()
    } else {
        format!("{dir}/{rel}")
    }
}

/// `base/rel` with `.` and `..` folded; `None` when it leaves the root or
/// `rel` is absolute.
pub fn normalize_join(base: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') || rel.contains('\\') || rel.contains('\0') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// An in-memory tree: path -> contents.
    struct MemTree(BTreeMap<String, Vec<u8>>);

    impl SourceTree for MemTree {
        fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
            Ok(self.0.get(path).cloned())
        }
        fn kind(&self, path: &str) -> Result<Option<NodeKind>> {
            if self.0.contains_key(path) {
                return Ok(Some(NodeKind::File));
            }
            let prefix = if path.is_empty() {
                String::new()
            } else {
                format!("{path}/")
            };
            Ok(self
                .0
                .keys()
                .any(|k| k.starts_with(&prefix))
                .then_some(NodeKind::Dir))
        }
        fn files_under(&self, dir: &str) -> Result<Vec<String>> {
            let prefix = if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            };
            Ok(self
                .0
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned()
                .collect())
        }
    }

    fn tree(files: &[(&str, &str)]) -> MemTree {
        MemTree(
            files
                .iter()
                .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
                .collect(),
        )
    }

    const FILE_DVC: &str = "outs:\n- md5: c9283308ba03a923cd0d08df856095c3\n  size: 1000\n  hash: md5\n  path: model.bin\n";
    const DIR_DVC: &str = "outs:\n- md5: 849835d274483dc683eb416d6e4f887d.dir\n  size: 4\n  nfiles: 2\n  hash: md5\n  path: dir\n";

    #[test]
    fn finds_dvc_outputs_files_in_dirs_and_git_files() {
        let t = tree(&[
            (".dvc/config", ""),
            ("data/model.bin.dvc", FILE_DVC),
            ("data/dir.dvc", DIR_DVC),
            ("README.md", "hi"),
            (
                "stage/dvc.lock",
                "schema: '2.0'\nstages:\n  train:\n    cmd: x\n    outs:\n    - path: out/m.pt\n      hash: md5\n      md5: 60b725f10c9c85c70d97880dfe8191b3\n      size: 2\n",
            ),
        ]);
        let a = locate(&t, "data/model.bin").unwrap();
        let Located::Output(o) = a.located else {
            panic!("{a:?}")
        };
        assert_eq!(o.size, Some(1000));
        assert_eq!(o.key.unwrap().layout, Layout::V3);
        let a = locate(&t, "data/dir/sub/b.txt").unwrap();
        assert!(matches!(a.located, Located::InsideDir { ref inner, .. } if inner == "sub/b.txt"));
        assert_eq!(locate(&t, "README.md").unwrap().located, Located::GitFile);
        let a = locate(&t, "stage/out/m.pt").unwrap();
        assert!(matches!(a.located, Located::Output(ref o) if o.recorded_in == "stage/dvc.lock"));
    }

    #[test]
    fn subdir_projects_and_wdir() {
        let t = tree(&[
            ("proj/.dvc/config", ""),
            (
                "proj/x/m.dvc",
                "wdir: ../y\nouts:\n- md5: c9283308ba03a923cd0d08df856095c3\n  path: m.bin\n",
            ),
        ]);
        let a = locate(&t, "proj/y/m.bin").unwrap();
        assert_eq!(a.project_dir, "proj");
        let Located::Output(o) = a.located else {
            panic!()
        };
        assert_eq!(
            o.key.unwrap().layout,
            Layout::V2,
            "no `hash: md5` means a DVC 2 output"
        );
    }

    #[test]
    fn missing_path_lists_neighbours() {
        let t = tree(&[(".dvc/config", ""), ("data/model.bin.dvc", FILE_DVC)]);
        let e = locate(&t, "data/modle.bin").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("`data/model.bin`"), "{e}");
    }

    #[test]
    fn escaping_outputs_are_errors() {
        let t = tree(&[
            (".dvc/config", ""),
            (
                "a.dvc",
                "outs:\n- md5: c9283308ba03a923cd0d08df856095c3\n  path: ../../x\n",
            ),
        ]);
        assert!(locate(&t, "x").is_err());
    }

    #[test]
    fn normalize() {
        assert_eq!(normalize_join("a/b", "../c").as_deref(), Some("a/c"));
        assert_eq!(normalize_join("", "./c/./d").as_deref(), Some("c/d"));
        assert_eq!(normalize_join("a", "../../c"), None);
        assert_eq!(normalize_join("a", "/etc"), None);
    }
}
