//! Which packages a command works on, as cargo chooses them: the package of
//! `--manifest-path` (or of the nearest `Cargo.toml` above the current
//! folder); `-p NAME` or `--workspace` (and a virtual manifest) go through
//! `cargo metadata` to list the workspace's members.

use std::path::{Path, PathBuf};

use crate::cli::args::Global;
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::Manifest;

/// A package and its data dependencies.
#[derive(Debug, Clone)]
pub struct Package {
    /// Its `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// The folder holding it: the crate root.
    pub root: PathBuf,
    /// Its declarations.
    pub manifest: Manifest,
}

impl Package {
    fn load(manifest_path: PathBuf) -> Result<Package> {
        let manifest = Manifest::load(&manifest_path)?;
        let root = manifest_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Package {
            manifest_path,
            root,
            manifest,
        })
    }
}

/// The packages selected by `global`.
pub fn select(global: &Global) -> Result<Vec<Package>> {
    let manifest_path = match &global.manifest_path {
        Some(p) => absolute(p)?,
        None => find_manifest()?,
    };
    let is_virtual = !global.workspace
        && global.package.is_empty()
        && std::fs::read_to_string(&manifest_path)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .is_some_and(|t| !t.contains_key("package"));
    if global.package.is_empty() && !global.workspace && !is_virtual {
        return Ok(vec![Package::load(manifest_path)?]);
    }
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(&manifest_path)
        .no_deps()
        .exec()
        .map_err(|e| Error::new(ErrorKind::Manifest, format!("`cargo metadata` failed: {e}")))?;
    let members: Vec<_> = metadata.workspace_packages();
    let chosen: Vec<PathBuf> = if global.package.is_empty() {
        members
            .iter()
            .map(|p| p.manifest_path.clone().into_std_path_buf())
            .collect()
    } else {
        let mut out = Vec::new();
        for spec in &global.package {
            let found = members
                .iter()
                .find(|p| p.name.as_str() == spec)
                .ok_or_else(|| {
                    let names: Vec<_> = members.iter().map(|p| format!("`{}`", p.name)).collect();
                    Error::new(
                        ErrorKind::Manifest,
                        format!("package `{spec}` is not a member of the workspace"),
                    )
                    .with_help(format!("members: {}", names.join(", ")))
                })?;
            out.push(found.manifest_path.clone().into_std_path_buf());
        }
        out
    };
    chosen.into_iter().map(Package::load).collect()
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    Ok(cwd.join(path))
}

/// The nearest `Cargo.toml` at or above the current folder.
fn find_manifest() -> Result<PathBuf> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("read", Path::new("."), e))?;
    cwd.ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Manifest,
                format!(
                    "could not find `Cargo.toml` in `{}` or any parent folder",
                    cwd.display()
                ),
            )
            .with_help("run in a crate, or pass `--manifest-path`")
        })
}
