//! Which packages a command works on, as cargo chooses them: the package of
//! `--manifest-path` (or of the nearest `Cargo.toml` above the current
//! folder); `-p NAME` or `--workspace` (and a virtual manifest) go through
//! `cargo metadata` to list the workspace's members.

use std::path::{Path, PathBuf};

use crate::cli::args::{ManifestPath, PackageSelection};
use crate::confined::Dir;
use crate::error::{Error, ErrorKind, Result};
use crate::manifest::{Dependency, Manifest};

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
    /// Reads the package whose `Cargo.toml` is at `manifest_path`.
    pub fn load(manifest_path: PathBuf) -> Result<Package> {
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

    /// The folder holding `Cargo.toml` (a handle for confined writes) and
    /// the manifest's file name in it: where `import`, `import-url` and
    /// `remove` write the edited manifest.
    pub fn manifest_location(&self) -> Result<(Dir, PathBuf)> {
        let folder = match self.manifest_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => Dir::open_root(p)?,
            _ => Dir::open_root(Path::new("."))?,
        };
        let name = self
            .manifest_path
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("Cargo.toml"));
        Ok((folder, name))
    }
}

/// The packages selected by `-p`/`--workspace`/`--exclude` and
/// `--manifest-path`, as cargo selects them.
pub fn select(selection: &PackageSelection, manifest: &ManifestPath) -> Result<Vec<Package>> {
    let manifest_path = match &manifest.manifest_path {
        Some(p) => manifest_file(p)?,
        None => find_manifest()?,
    };
    let is_virtual = !selection.workspace
        && selection.package.is_empty()
        && std::fs::read_to_string(&manifest_path)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .is_some_and(|t| !t.contains_key("package"));
    if selection.package.is_empty() && !selection.workspace && !is_virtual {
        return Ok(vec![Package::load(manifest_path)?]);
    }
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(&manifest_path)
        .no_deps()
        .exec()
        .map_err(|e| Error::new(ErrorKind::Manifest, format!("`cargo metadata` failed: {e}")))?;
    let members: Vec<_> = metadata.workspace_packages();
    let member_list = || {
        let names: Vec<_> = members.iter().map(|p| format!("`{}`", p.name)).collect();
        format!("members: {}", names.join(", "))
    };
    for spec in &selection.exclude {
        if !members.iter().any(|p| p.name.as_str() == spec) {
            return Err(Error::new(
                ErrorKind::Manifest,
                format!("excluded package `{spec}` is not a member of the workspace"),
            )
            .with_help(member_list()));
        }
    }
    let chosen: Vec<PathBuf> = if selection.package.is_empty() {
        members
            .iter()
            .filter(|p| !selection.exclude.iter().any(|e| e == p.name.as_str()))
            .map(|p| p.manifest_path.clone().into_std_path_buf())
            .collect()
    } else {
        let mut out = Vec::new();
        for spec in &selection.package {
            let found = members
                .iter()
                .find(|p| p.name.as_str() == spec)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Manifest,
                        format!("package `{spec}` is not a member of the workspace"),
                    )
                    .with_help(member_list())
                })?;
            out.push(found.manifest_path.clone().into_std_path_buf());
        }
        out
    };
    chosen.into_iter().map(Package::load).collect()
}

/// `--manifest-path`, absolute; like cargo, it must name a `Cargo.toml`.
fn manifest_file(path: &Path) -> Result<PathBuf> {
    if path.file_name().is_none_or(|n| n != "Cargo.toml") {
        let help = if path.is_dir() {
            format!("use `{}`", path.join("Cargo.toml").display())
        } else {
            "pass the path of a package's or workspace's `Cargo.toml`".to_string()
        };
        return Err(Error::new(
            ErrorKind::Manifest,
            format!(
                "the manifest-path must be a path to a Cargo.toml file, not `{}`",
                path.display()
            ),
        )
        .with_help(help));
    }
    absolute(path)
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

impl Package {
    /// The dependencies named (all when `names` is empty); an unknown name
    /// is an error that lists the declared ones.
    pub fn deps(&self, names: &[String]) -> Result<Vec<&Dependency>> {
        let manifest = &self.manifest;
        if names.is_empty() {
            return Ok(manifest.deps.iter().collect());
        }
        names
            .iter()
            .map(|n| {
                manifest.dep(n).ok_or_else(|| {
                    let known: Vec<_> = manifest
                        .deps
                        .iter()
                        .map(|d| format!("`{}`", d.name))
                        .collect();
                    Error::new(
                        ErrorKind::Manifest,
                        format!("no data dependency called `{n}`"),
                    )
                    .with_dependency(n)
                    .with_help(if known.is_empty() {
                        "this package declares none; add one with `cargo dvc import`".to_string()
                    } else {
                        format!("declared: {}", known.join(", "))
                    })
                })
            })
            .collect()
    }
}

/// The dependencies `names` selects in `packages` (all of each package's
/// when `names` is empty), package by package. Every name must be declared
/// by at least one of the packages.
pub fn select_deps<'p>(
    packages: &'p [Package],
    names: &[String],
) -> Result<Vec<(&'p Package, Vec<&'p Dependency>)>> {
    if let [one] = packages {
        return Ok(vec![(one, one.deps(names)?)]);
    }
    for name in names {
        if !packages.iter().any(|p| p.manifest.dep(name).is_some()) {
            let known: Vec<_> = packages
                .iter()
                .flat_map(|p| {
                    p.manifest
                        .deps
                        .iter()
                        .map(move |d| format!("`{}/{}`", p.manifest.package, d.name))
                })
                .collect();
            return Err(Error::new(
                ErrorKind::Manifest,
                format!("no selected package declares a data dependency called `{name}`"),
            )
            .with_dependency(name)
            .with_help(if known.is_empty() {
                "the selected packages declare none; add one with `cargo dvc import`".to_string()
            } else {
                format!("declared: {}", known.join(", "))
            }));
        }
    }
    Ok(packages
        .iter()
        .map(|p| {
            let deps = p
                .manifest
                .deps
                .iter()
                .filter(|d| names.is_empty() || names.contains(&d.name))
                .collect();
            (p, deps)
        })
        .collect())
}
