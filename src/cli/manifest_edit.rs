//! Edits to `Cargo.toml` that keep its formatting and comments (toml_edit).
//!
//! `cargo dvc import` adds a `[package.metadata.dvc.deps.NAME]` table;
//! `cargo dvc update --rev` changes one `rev`. Everything else in the file is
//! left byte for byte as it was.

use toml_edit::{DocumentMut, InlineTable, Item, Table, value};

use crate::error::{Error, ErrorKind, Result};

/// A new dependency declaration to add.
#[derive(Debug, Clone)]
pub struct NewDependency<'a> {
    /// The table key.
    pub name: &'a str,
    /// `url`.
    pub url: &'a str,
    /// `path`.
    pub path: &'a str,
    /// `rev`, if pinned.
    pub rev: Option<&'a str>,
    /// `out`, when it differs from the default.
    pub out: Option<&'a str>,
    /// `remote`: a remote of the source project, by name.
    pub remote: Option<&'a str>,
    /// `config`: a config file merged over the source's, relative to the
    /// crate root.
    pub config: Option<&'a str>,
}

/// `text` with `[package.metadata.dvc.deps.<name>]` added (or replaced).
///
/// ```
/// # use dvc_build::__private::cli::manifest_edit::{add_dependency, NewDependency};
/// let text = "[package]\nname = \"app\" # mine\n";
/// let out = add_dependency(text, &NewDependency {
///     name: "model", url: "../registry", path: "m.bin", rev: Some("v1"), out: None,
///     remote: None, config: None,
/// }).unwrap();
/// assert!(out.starts_with(text));
/// assert!(out.contains("[package.metadata.dvc.deps.model]\nurl = \"../registry\"\npath = \"m.bin\"\nrev = \"v1\"\n"));
/// ```
pub fn add_dependency(text: &str, dep: &NewDependency<'_>) -> Result<String> {
    let mut doc = parse(text)?;
    // The new table goes at the end of the file, after every existing table.
    let last = max_position(doc.as_table()).unwrap_or(0);
    let deps = deps_table(&mut doc)?;
    let mut table = Table::new();
    table.set_position(Some(last + 1));
    table.insert("url", value(dep.url));
    table.insert("path", value(dep.path));
    if let Some(rev) = dep.rev {
        table.insert("rev", value(rev));
    }
    if let Some(out) = dep.out {
        table.insert("out", value(out));
    }
    if let Some(remote) = dep.remote {
        table.insert("remote", value(remote));
    }
    if let Some(config) = dep.config {
        table.insert("config", value(config));
    }
    deps.insert(dep.name, Item::Table(table));
    Ok(doc.to_string())
}

/// A new URL dependency declaration (no `path`) to add.
#[derive(Debug, Clone)]
pub struct NewUrlDependency<'a> {
    /// The table key.
    pub name: &'a str,
    /// `url`.
    pub url: &'a str,
    /// `out`, when it differs from the default.
    pub out: Option<&'a str>,
    /// `fs_config`, in the order given.
    pub fs_config: &'a [(String, String)],
    /// `sha256`, if pinned.
    pub sha256: Option<&'a str>,
}

/// `text` with a URL dependency's `[package.metadata.dvc.deps.<name>]`
/// added (or replaced); `fs_config` as an inline table.
///
/// ```
/// # use dvc_build::__private::cli::manifest_edit::{add_url_dependency, NewUrlDependency};
/// let fs = [("endpointurl".to_string(), "http://127.0.0.1:9000".to_string())];
/// let out = add_url_dependency("[package]\nname = \"app\"\n", &NewUrlDependency {
///     name: "m", url: "s3://b/m.bin", out: None, fs_config: &fs, sha256: Some("ab"),
/// }).unwrap();
/// assert!(out.ends_with("[package.metadata.dvc.deps.m]\nurl = \"s3://b/m.bin\"\n\
///     fs_config = { endpointurl = \"http://127.0.0.1:9000\" }\nsha256 = \"ab\"\n"), "{out}");
/// ```
pub fn add_url_dependency(text: &str, dep: &NewUrlDependency<'_>) -> Result<String> {
    let mut doc = parse(text)?;
    let last = max_position(doc.as_table()).unwrap_or(0);
    let deps = deps_table(&mut doc)?;
    let mut table = Table::new();
    table.set_position(Some(last + 1));
    table.insert("url", value(dep.url));
    if let Some(out) = dep.out {
        table.insert("out", value(out));
    }
    if !dep.fs_config.is_empty() {
        let mut options = InlineTable::new();
        for (k, v) in dep.fs_config {
            options.insert(k, v.as_str().into());
        }
        table.insert("fs_config", value(options));
    }
    if let Some(sha) = dep.sha256 {
        table.insert("sha256", value(sha));
    }
    deps.insert(dep.name, Item::Table(table));
    Ok(doc.to_string())
}

/// `text` with `rev` of dependency `name` set to `rev`.
///
/// ```
/// # use dvc_build::__private::cli::manifest_edit::set_rev;
/// let text = "[package.metadata.dvc.deps.m]\nurl = \"r\"  # the registry\npath = \"m.bin\"\nrev = \"v1\"\n";
/// let out = set_rev(text, "m", "v2").unwrap();
/// assert_eq!(out, text.replace("v1", "v2"));
/// ```
pub fn set_rev(text: &str, name: &str, rev: &str) -> Result<String> {
    let mut doc = parse(text)?;
    let deps = deps_table(&mut doc)?;
    let Some(dep) = deps.get_mut(name).and_then(|d| d.as_table_like_mut()) else {
        return Err(Error::new(
            ErrorKind::Manifest,
            format!("package.metadata.dvc.deps.{name}: not declared"),
        )
        .with_dependency(name));
    };
    match dep.get_mut("rev").and_then(|r| r.as_value_mut()) {
        Some(old) => {
            // Keep the comments and spacing around the old value.
            let decor = old.decor().clone();
            *old = rev.into();
            *old.decor_mut() = decor;
        }
        None => {
            dep.insert("rev", value(rev));
        }
    }
    Ok(doc.to_string())
}

/// `text` without dependency `name`'s declaration (its table, or its key
/// in an inline `deps = { ... }`); the rest byte for byte as it was.
///
/// ```
/// # use dvc_build::__private::cli::manifest_edit::remove_dependency;
/// let text = "[package]\nname = \"a\"\n\n[package.metadata.dvc.deps.m]\nurl = \"r\"\npath = \"m\"\n\n[dependencies] # mine\n";
/// assert_eq!(remove_dependency(text, "m").unwrap(), "[package]\nname = \"a\"\n\n[dependencies] # mine\n");
/// ```
pub fn remove_dependency(text: &str, name: &str) -> Result<String> {
    let mut doc = parse(text)?;
    let deps = doc
        .get_mut("package")
        .and_then(|p| p.get_mut("metadata"))
        .and_then(|m| m.get_mut("dvc"))
        .and_then(|d| d.get_mut("deps"))
        .and_then(|d| d.as_table_like_mut());
    let removed = deps.and_then(|deps| deps.remove(name));
    if removed.is_none() {
        return Err(Error::new(
            ErrorKind::Manifest,
            format!("package.metadata.dvc.deps.{name}: not declared"),
        )
        .with_dependency(name));
    }
    Ok(doc.to_string())
}

/// The largest document position of `table` and the tables below it.
fn max_position(table: &Table) -> Option<isize> {
    let below = table
        .iter()
        .filter_map(|(_, item)| item.as_table())
        .filter_map(max_position);
    table.position().into_iter().chain(below).max()
}

fn parse(text: &str) -> Result<DocumentMut> {
    text.parse::<DocumentMut>().map_err(|e| {
        Error::new(
            ErrorKind::Manifest,
            format!("Cargo.toml is not valid TOML: {}", e.message()),
        )
    })
}

/// `package.metadata.dvc.deps`, created as implicit tables when missing.
fn deps_table(doc: &mut DocumentMut) -> Result<&mut Table> {
    let mut table = doc.as_table_mut();
    for key in ["package", "metadata", "dvc", "deps"] {
        let item = table.entry(key).or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        table = item.as_table_mut().ok_or_else(|| {
            Error::new(
                ErrorKind::Manifest,
                format!("`{key}` in Cargo.toml is not a table; cannot add a dependency under it"),
            )
            .with_help("write `[package.metadata.dvc.deps.NAME]` tables by hand")
        })?;
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_after_existing_deps_and_keeps_comments() {
        let text = "# top\n[package]\nname = \"a\"\n\n[package.metadata.dvc.deps.one]\nurl = \"u\"\npath = \"p\" # keep me\n\n[dependencies]\nx = \"1\"\n";
        let out = add_dependency(
            text,
            &NewDependency {
                name: "two",
                url: "u2",
                path: "d/p2",
                rev: None,
                out: Some("assets/p2"),
                remote: None,
                config: None,
            },
        )
        .unwrap();
        assert!(out.contains("# keep me"), "{out}");
        assert!(out.ends_with("[package.metadata.dvc.deps.two]\nurl = \"u2\"\npath = \"d/p2\"\nout = \"assets/p2\"\n"), "{out}");
        let m = crate::manifest::Manifest::parse(&out).unwrap();
        assert_eq!(m.deps.len(), 2);
    }

    #[test]
    fn set_rev_adds_or_replaces() {
        let text = "[package.metadata.dvc.deps.m]\nurl = \"r\"\npath = \"m.bin\"\n";
        let out = set_rev(text, "m", "v2").unwrap();
        let m = crate::manifest::Manifest::parse(&out).unwrap();
        let crate::manifest::Import::Registry(r) = &m.deps[0].import else {
            panic!("{m:?}")
        };
        assert_eq!(r.rev.as_deref(), Some("v2"));
        assert!(set_rev(text, "nope", "v2").is_err());
    }
}
