//! `cargo dvc import URL PATH`: declare a data dependency in `Cargo.toml`
//! and write its lock, as `dvc import` writes its stage.
//!
//! As `dvc import`: `-o DIR` naming an existing folder (or ending in `/`)
//! means inside it; an output that already exists is refused unless
//! `--force` (which then replaces it with the artifact), one git tracks is
//! refused even then, and one in a symlinked folder always. `Cargo.toml`,
//! the lock and the `.gitignore` entry are written together or not at all.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::args::{ManifestPath, OnePackage};
use crate::cli::context::Context;
use crate::cli::dvc_project;
use crate::cli::manifest_edit;
use crate::cli::workspace::Package;
use crate::confined::{Batch, Dir};
use crate::engine::Artifact;
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::{Dependency, Manifest};
use crate::materialize::{Existing, Options};
use crate::project::{self, LockMode};

use super::{describe, rev_note, short};

/// `cargo dvc import`'s arguments.
#[derive(Debug, Args)]
#[command(after_help = "\
URL, a local path, and --config are taken relative to the current folder and
written to Cargo.toml relative to the crate root (as typed, when run there);
-o is relative to the crate root, as `out` in Cargo.toml.

Examples:
    cargo dvc import https://github.com/acme/registry models/classifier.onnx --rev v1
    cargo dvc import ../registry data/images -o assets/images --name images
    cargo dvc import ../registry models/big.bin --remote s3-mirror")]
pub struct ImportArgs {
    /// Git URL (or local path) of the source DVC project.
    pub url: String,
    /// File or directory inside the source project.
    pub path: String,
    /// Where to put the artifact, relative to the crate root [default: the
    /// last component of PATH].
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: Option<String>,
    /// Branch, tag or commit of the source project [default: its default
    /// branch].
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// The dependency's name [default: derived from OUT's file name].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A remote of the source project to use instead of its default
    /// (written as `remote = "NAME"`, as `dvc import --remote`).
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,
    /// A DVC config file merged over the source project's `.dvc/config`
    /// (written as `config = "FILE"`, as `dvc import --config`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Replace a file or folder already at OUT with the artifact, as
    /// `dvc import --force` (one git tracks is refused even so).
    #[arg(short, long)]
    pub force: bool,
    /// Write the lock (with no hash, as `dvc import --no-download` does)
    /// but fetch nothing; the first build or pull takes what the registry
    /// has at the locked commit.
    #[arg(long)]
    pub no_download: bool,
    /// Package selection.
    #[command(flatten)]
    pub package: OnePackage,
    /// Manifest options.
    #[command(flatten)]
    pub manifest: ManifestPath,
}

/// Runs `cargo dvc import`.
pub fn exec(ctx: &Context, args: ImportArgs) -> Result<i32> {
    if ctx.mode() == LockMode::Locked {
        return Err(Error::new(
            ErrorKind::Locked,
            "`import` writes a lock, and --locked / DVC_BUILD_LOCKED forbids it",
        ));
    }
    let shell = ctx.shell();
    let package = ctx.single_package(&args.package, &args.manifest)?;
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    let url = if is_local_relative(&args.url) {
        relative_to_root(&args.url, &cwd, &package.root)
    } else {
        args.url.clone()
    };
    let config = args
        .config
        .as_deref()
        .map(|c| relative_to_root(c, &cwd, &package.root));
    // `path` goes into Cargo.toml (and the lock) as typed, as `dvc import`
    // records it: `dir/`, `/data`, `.`.
    let lookup = crate::manifest::source_lookup_path(&args.path)
        .map_err(|msg| Error::new(ErrorKind::Manifest, format!("PATH: {msg}")))?;
    let path_clean = lookup.as_str();
    let default_out = path_clean.rsplit('/').next().unwrap_or(path_clean);
    let root = Dir::open_root(&package.root)?;
    let out_value = match args.out.as_deref() {
        Some(out) => Some(out_inside_folders(&root, out, default_out)?),
        None => None,
    };
    let out_value = out_value.as_deref();
    if let Some(out) = out_value {
        missing_out_folder(&package.root, out)?;
    }
    let rev = args.rev.as_deref();
    let name = match &args.name {
        Some(n) => n.clone(),
        None => default_name(out_value.unwrap_or(default_out)),
    };
    let original = std::fs::read_to_string(&package.manifest_path)
        .map_err(|e| Error::io("read", &package.manifest_path, e))?;
    if Manifest::parse(&original)?.dep(&name).is_some() {
        return Err(Error::new(
            ErrorKind::Manifest,
            format!("a data dependency called `{name}` is already declared"),
        )
        .with_dependency(&name)
        .with_help("pick another name with `--name`, or change it with `cargo dvc update`"));
    }
    let edited = manifest_edit::add_dependency(
        &original,
        &manifest_edit::NewDependency {
            name: &name,
            url: &url,
            path: &args.path,
            rev,
            out: out_value.filter(|o| *o != default_out),
            remote: args.remote.as_deref(),
            config: config.as_deref(),
        },
    )?;
    let manifest = Manifest::parse(&edited)?;
    let dep = manifest
        .dep(&name)
        .ok_or_else(|| Error::new(ErrorKind::Manifest, "the new declaration did not parse"))?;
    let rel = Path::new(&dep.out);
    let lock_rel = dep.lock_path();
    // Everything that would stop the import, before any download or write.
    let existing = root.check_writable(rel)?;
    let existing_lock = root.check_writable(&lock_rel)?;
    if existing.is_some() && !args.force {
        let what = if existing.is_some_and(|m| m.is_dir()) {
            "folder"
        } else {
            "file"
        };
        return Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "the {what} `{}` already exists in the crate",
                package.root.join(rel).display()
            ),
        )
        .with_dependency(&name)
        .with_help(
            "choose another `-o`, or run again with `--force` to replace it with the artifact (as `dvc import --force` does)",
        ));
    }
    // A DVC file where the lock goes (an orphaned lock, the user's own
    // stage): refused, as `dvc import` refuses an existing stage file.
    if existing_lock.is_some() && !args.force {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "`{}` already exists in the crate",
                package.root.join(&lock_rel).display()
            ),
        )
        .with_dependency(&name)
        .with_help(
            "choose another `-o`, or run again with `--force` to replace it (as `dvc import --force` does)",
        ));
    }
    let tracked = dvc_project::tracked_by_git(&package.root, rel);
    if !tracked.is_empty() {
        return Err(dvc_project::tracked_error(&tracked)
            .with_dependency(&name)
            .with_help(format!(
                "an output is ignored by git, so git may not track it: choose another `-o`, or stop tracking it first (`git rm -r --cached {}` and commit)",
                dep.out
            )));
    }
    shell.status(
        "Importing",
        format!(
            "{name} ({} {path_clean}{})",
            crate::redact::url(&url),
            rev_note(rev)
        ),
    );
    let engine = ctx.engine()?;
    let (lock_text, new_stage, artifact) = if args.no_download {
        let stage = project::lock_without_download(engine, &package.root, dep)?;
        (stage.to_yaml_string(), stage, None)
    } else {
        let bar = shell.progress(&name);
        let updated = project::update(engine, &package.root, dep, None, true)?;
        drop(bar);
        (updated.text, updated.new, Some(updated.artifact))
    };
    Imported {
        dep,
        lock: lock_text,
        manifest: edited,
        artifact: artifact.as_ref(),
        replaces: existing.is_some(),
    }
    .write(ctx, &package, &root)?;
    let what = match &artifact {
        Some(artifact) => describe(artifact),
        None => "not downloaded".to_string(),
    };
    shell.status(
        "Locked",
        format!("{name} to {} ({what})", short(&new_stage)),
    );
    if existing.is_none() {
        shell.note(format!(
            "the build fetches `{name}` into OUT_DIR (`env!(\"{}\")`); `cargo dvc pull {name}` also places a copy at `{}`",
            dep.env_var(),
            dep.out
        ));
    }
    if let Some(missing) = build_setup_missing(&package.manifest_path, &package.root) {
        shell.note(format!(
            "{missing}, so `cargo build` will not fetch data dependencies yet; add\n\
             \x20     [build-dependencies]\n\
             \x20     dvc-build = \"{}\"\n\
             \x20 to Cargo.toml, and this build.rs:\n\
             \x20     fn main() {{\n\
             \x20         dvc_build::fetch().unwrap();\n\
             \x20     }}",
            env!("CARGO_PKG_VERSION")
        ));
    }
    Ok(0)
}

/// What an import writes into the crate (`import`, `import-url`).
pub(super) struct Imported<'a> {
    /// The new declaration, as parsed from `manifest`.
    pub dep: &'a Dependency,
    /// The text of its lock.
    pub lock: String,
    /// `Cargo.toml` with the declaration added.
    pub manifest: String,
    /// What was fetched; `None` with `--no-download`.
    pub artifact: Option<&'a Artifact>,
    /// Something is at `out` already (allowed by `--force`, checked before).
    pub replaces: bool,
}

impl Imported<'_> {
    /// Writes the lock, `Cargo.toml` and the `.gitignore` entry, all or
    /// none; then, when something was at `out` (`--force`), puts the
    /// artifact there in its stead, as `dvc import --force` does.
    pub(super) fn write(self, ctx: &Context, package: &Package, root: &Dir) -> Result<()> {
        let name = &self.dep.name;
        let rel = Path::new(&self.dep.out);
        let (manifest_root, manifest_name) = package.manifest_location()?;
        let is_dir = self.artifact.is_some_and(Artifact::is_dir);
        let ignore = dvc_project::gitignore_edit(root, rel, is_dir)?;
        let mut batch = Batch::new();
        batch.write(root, self.dep.lock_path(), self.lock);
        batch.write(&manifest_root, manifest_name, self.manifest);
        if let Some((file, text)) = ignore {
            batch.write(root, file, text);
        }
        batch.commit().map_err(|e| e.with_dependency(name))?;
        if let (true, Some(artifact)) = (self.replaces, self.artifact) {
            let link = dvc_project::project_wants_links(&package.root);
            ctx.engine()?
                .place(
                    artifact,
                    root,
                    rel,
                    Options::workspace(link, true, Existing::Replace),
                )
                .map_err(|e| e.with_dependency(name))?;
            ctx.shell().warn(format!(
                "replaced `{}` with the artifact (--force)",
                package.root.join(rel).display()
            ));
        }
        Ok(())
    }
}

/// What stops the crate's build from fetching its data dependencies: no
/// `dvc-build` build-dependency, no build script, or one that never calls
/// `dvc_build`. `None` when all is there.
fn build_setup_missing(manifest_path: &Path, root: &Path) -> Option<String> {
    let doc = std::fs::read_to_string(manifest_path)
        .ok()?
        .parse::<toml::Table>()
        .ok()?;
    let names_dvc_build = |deps: Option<&toml::Value>| {
        deps.and_then(|d| d.as_table()).is_some_and(|t| {
            t.iter().any(|(key, spec)| {
                key == "dvc-build"
                    || spec.get("package").and_then(|p| p.as_str()) == Some("dvc-build")
            })
        })
    };
    let has_dependency = names_dvc_build(doc.get("build-dependencies"))
        || doc
            .get("target")
            .and_then(|t| t.as_table())
            .is_some_and(|targets| {
                targets
                    .values()
                    .any(|t| names_dvc_build(t.get("build-dependencies")))
            });
    let script = match doc.get("package").and_then(|p| p.get("build")) {
        Some(toml::Value::Boolean(false)) => None,
        Some(toml::Value::String(path)) => Some(root.join(path)),
        _ => Some(root.join("build.rs")),
    };
    let script_calls = script
        .as_ref()
        .and_then(|s| std::fs::read_to_string(s).ok())
        .map(|text| text.contains("dvc_build"));
    match (has_dependency, script_calls) {
        (false, _) => Some("the crate has no `dvc-build` build-dependency".to_string()),
        (true, None) => Some("the crate has no build script".to_string()),
        (true, Some(false)) => Some("the crate's build script never calls `dvc_build`".to_string()),
        (true, Some(true)) => None,
    }
}

/// `-o sub/foo` needs `sub/`, as `dvc import` does ("stage working dir
/// ... does not exist"): the lock goes beside the output.
fn missing_out_folder(root: &Path, out: &str) -> Result<()> {
    let Some((folder, _)) = out.rsplit_once('/') else {
        return Ok(());
    };
    if folder.is_empty() || root.join(folder).is_dir() {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Manifest,
        format!("the folder `{folder}` of `-o {out}` does not exist"),
    )
    .with_help(format!(
        "create it first (`mkdir -p {folder}`), as `dvc import` also needs"
    )))
}

/// The `out` that `-o OUT` means: inside OUT when it names an existing
/// folder of the crate or ends in `/` (`OUT/<last component of PATH>`, as
/// `dvc import -o DIR` places it), else OUT. A symlinked folder on the way
/// is refused.
pub(super) fn out_inside_folders(root: &Dir, out: &str, default_out: &str) -> Result<String> {
    let trimmed = out.trim_end_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        return Ok(default_out.to_string());
    }
    let is_folder = match root.open_dir(Path::new(trimmed), false) {
        Ok(found) => found.is_some(),
        Err(e) if e.kind() == ErrorKind::Symlink => return Err(e),
        // Not a plain relative path, or a file there: the manifest's
        // validation and the existence check say what is wrong.
        Err(_) => false,
    };
    if is_folder || out.ends_with('/') {
        Ok(format!("{trimmed}/{default_out}"))
    } else {
        Ok(trimmed.to_string())
    }
}

/// A local path that is neither absolute nor a URL (nor `git@host:path`).
fn is_local_relative(url: &str) -> bool {
    !url.contains("://") && !Path::new(url).is_absolute() && !looks_like_scp(url)
}

/// A relative path typed in `cwd`, as the declaration in the crate at
/// `root` takes it: exactly as typed when `cwd` is the crate root (as
/// `dvc import ../registry` records `../registry`), else the same place
/// relative to the crate root, `..` resolved (never a machine-specific
/// absolute path, unless the two share no root).
fn relative_to_root(typed: &str, cwd: &Path, root: &Path) -> String {
    if Path::new(typed).is_absolute() {
        return typed.to_string();
    }
    let same = cwd.canonicalize().ok() == root.canonicalize().ok();
    if same {
        return typed.to_string();
    }
    let target = normalize(&cwd.join(typed));
    let root = normalize(root);
    match relative(&target, &root) {
        Some(rel) if !rel.as_os_str().is_empty() => rel.to_string_lossy().replace('\\', "/"),
        Some(_) => ".".to_string(),
        None => target.to_string_lossy().into_owned(),
    }
}

/// `path` with `.` and `..` resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `target` relative to `base` (both absolute and normalized).
fn relative(target: &Path, base: &Path) -> Option<PathBuf> {
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    if t.first() != b.first() {
        return None;
    }
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c);
    }
    Some(rel)
}

/// `git@host:path`.
pub fn looks_like_scp(url: &str) -> bool {
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon < slash && colon > 1,
        (Some(colon), None) => colon > 1,
        _ => false,
    }
}

/// A dependency name from an output file name: its stem, lower-case, with
/// anything but ASCII letters, digits, `-` and `_` turned into `-`, and
/// `data-` in front when it would not start with a letter (a name must make
/// a Rust identifier).
pub fn default_name(out: &str) -> String {
    let file = out.rsplit('/').next().unwrap_or(out);
    let stem = match file.find('.') {
        Some(0) | None => file,
        Some(dot) => &file[..dot],
    };
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        format!("data-{name}").trim_end_matches('-').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_files() {
        assert_eq!(default_name("models/classifier.onnx"), "classifier");
        assert_eq!(default_name("Data Set.tar.gz"), "data-set");
        assert_eq!(default_name(".hidden"), "data--hidden");
        assert_eq!(default_name("1st.bin"), "data-1st");
        assert_eq!(default_name("modèle.onnx"), "mod-le");
        assert_eq!(default_name("_"), "data-_");
    }

    #[test]
    fn relative_paths_as_the_crate_root_sees_them() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("app");
        std::fs::create_dir_all(root.join("src")).unwrap();
        assert_eq!(
            relative_to_root("../registry/", &root, &root),
            "../registry/"
        );
        assert_eq!(
            relative_to_root("../../registry", &root.join("src"), &root),
            "../registry"
        );
        assert_eq!(
            relative_to_root("cfg/x.conf", &root.join("src"), &root),
            "src/cfg/x.conf"
        );
        assert_eq!(
            relative_to_root("/abs/reg", &root.join("src"), &root),
            "/abs/reg"
        );
    }

    #[test]
    fn scp_urls() {
        assert!(looks_like_scp("git@github.com:acme/r.git"));
        assert!(!looks_like_scp("../registry"));
        assert!(!looks_like_scp("C:/x"));
    }
}
