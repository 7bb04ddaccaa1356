//! `.dvc/config`: the configobj INI file that names a project's remotes.
//!
//! Sections (`[core]`, `['remote "name"']`) hold `key = value` options, kept
//! as strings. Remote names compare case-insensitively. A relative local
//! remote `url` is resolved against the folder holding the config file, as
//! DVC does. [`Config::merge_from`] is DVC's config merge (later wins, option
//! by option).

use crate::error::{Error, ErrorKind, Result};

/// One `[section]` with its options in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// The section name without brackets or quotes: `core`, `remote "store"`.
    pub name: String,
    /// `key = value` pairs, values unquoted.
    pub options: Vec<(String, String)>,
}

impl Section {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` (in place when present).
    pub fn set(&mut self, key: &str, value: &str) {
        match self.options.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.options.push((key.to_string(), value.to_string())),
        }
    }
}

/// A parsed DVC config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// Every section in order.
    pub sections: Vec<Section>,
}

/// A remote: its name (as written) and options (`url`, `endpointurl`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remote<'a> {
    /// The name as written in the config.
    pub name: &'a str,
    /// The section holding its options.
    pub section: &'a Section,
}

impl Remote<'_> {
    /// The remote's `url`.
    pub fn url(&self) -> Option<&str> {
        self.section.get("url")
    }
}

fn err(line: usize, msg: &str) -> Error {
    Error::new(
        ErrorKind::Format,
        format!(".dvc/config: line {line}: {msg}"),
    )
}

fn remote_section_name(name: &str) -> String {
    format!("remote \"{name}\"")
}

/// The remote name of a `remote "name"` section.
fn remote_name(section: &str) -> Option<&str> {
    let rest = section.strip_prefix("remote")?.trim_start();
    rest.strip_prefix('"')?.strip_suffix('"')
}

impl Config {
    /// Parses config text. `config_dir` is the folder holding the file
    /// (`<project>/.dvc`, `/`-separated); relative local remote URLs are
    /// resolved against it.
    pub fn parse(text: &str, config_dir: &str) -> Result<Config> {
        let mut config = Config::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                let name =
                    parse_header(line).ok_or_else(|| err(i + 1, "malformed section header"))?;
                config.section_mut(&name);
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| err(i + 1, "expected `key = value`"))?;
            let key = unquote(key.trim()).ok_or_else(|| err(i + 1, "malformed key"))?;
            let value = parse_value(value.trim()).ok_or_else(|| err(i + 1, "malformed value"))?;
            let section = config
                .sections
                .last_mut()
                .ok_or_else(|| err(i + 1, "option outside a section"))?;
            section.set(&key, &value);
        }
        config.resolve_urls(config_dir);
        Ok(config)
    }

    fn resolve_urls(&mut self, config_dir: &str) {
        for section in &mut self.sections {
            if remote_name(&section.name).is_none() {
                continue;
            }
            if let Some((_, url)) = section.options.iter_mut().find(|(k, _)| k == "url") {
                *url = resolve_local(config_dir, url);
            }
        }
    }

    /// The section called `name` (exact match).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The section called `name`, created when missing.
    pub fn section_mut(&mut self, name: &str) -> &mut Section {
        let pos = match self.sections.iter().position(|s| s.name == name) {
            Some(pos) => pos,
            None => {
                self.sections.push(Section {
                    name: name.to_string(),
                    options: Vec::new(),
                });
                self.sections.len() - 1
            }
        };
        &mut self.sections[pos]
    }

    /// `core.remote`: the default remote's name.
    pub fn default_remote(&self) -> Option<&str> {
        self.section("core")?.get("remote")
    }

    /// Every remote, in file order.
    pub fn remotes(&self) -> impl Iterator<Item = Remote<'_>> {
        self.sections
            .iter()
            .filter_map(|s| remote_name(&s.name).map(|name| Remote { name, section: s }))
    }

    /// The remote called `name`, compared case-insensitively.
    pub fn remote(&self, name: &str) -> Option<Remote<'_>> {
        self.remotes().find(|r| r.name.eq_ignore_ascii_case(name))
    }

    /// Sets options of remote `name` (created when missing), as a
    /// `repo.remote` mapping or a Cargo.toml `remote` table does.
    pub fn set_remote<'a>(
        &mut self,
        name: &str,
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        let section_name = match self.remote(name) {
            Some(r) => r.section.name.clone(),
            None => remote_section_name(name),
        };
        let section = self.section_mut(&section_name);
        for (k, v) in options {
            section.set(k, v);
        }
    }

    /// Merges `other` over `self`, option by option (DVC's `Config.merge`).
    /// Remote sections match case-insensitively.
    pub fn merge_from(&mut self, other: &Config) {
        for section in &other.sections {
            let target = match remote_name(&section.name).and_then(|n| self.remote(n)) {
                Some(r) => r.section.name.clone(),
                None => section.name.clone(),
            };
            let mine = self.section_mut(&target);
            for (k, v) in &section.options {
                mine.set(k, v);
            }
        }
    }
}

/// `[core]`, `['remote "x"']`, `["remote \"x\""]` -> the inner name.
fn parse_header(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?;
    let close = inner.rfind(']')?;
    let after = inner[close + 1..].trim();
    if !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    let name = inner[..close].trim();
    if name.starts_with('[') {
        return None; // configobj subsections: DVC never writes them
    }
    unquote(name).filter(|n| !n.is_empty())
}

/// Strips one pair of matching quotes (configobj quotes have no escapes).
fn unquote(s: &str) -> Option<String> {
    for q in ['\'', '"'] {
        if let Some(rest) = s.strip_prefix(q) {
            return rest.strip_suffix(q).map(str::to_string);
        }
    }
    Some(s.to_string())
}

/// A value: quoted (then an optional comment), or unquoted up to ` #`.
fn parse_value(s: &str) -> Option<String> {
    for q in ['\'', '"'] {
        if let Some(rest) = s.strip_prefix(q) {
            let end = rest.find(q)?;
            let after = rest[end + 1..].trim();
            if after.is_empty() || after.starts_with('#') {
                return Some(rest[..end].to_string());
            }
            return None;
        }
    }
    let value = match s.find('#') {
        Some(pos) => &s[..pos],
        None => s,
    };
    Some(value.trim().to_string())
}

/// DVC's `Config._resolve`: URLs and absolute paths stay; a relative path
/// is joined to `config_dir` and normalised (`..` and `.` folded).
pub fn resolve_local(config_dir: &str, path: &str) -> String {
    let has_scheme = path
        .split_once("://")
        .is_some_and(|(s, _)| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_'));
    let b = path.as_bytes();
    let is_abs = path.starts_with('/')
        || path.starts_with('~')
        || path.starts_with('\\')
        || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':');
    if has_scheme || is_abs || path.is_empty() {
        return path.to_string();
    }
    normalize(&format!("{}/{path}", config_dir.trim_end_matches('/')))
}

fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[core]\n    remote = Store\n    autostage = true  # c\n['remote \"store\"']\n    url = ../../remote-x\n    endpointurl = 'http://127.0.0.1:8333'\n[\"remote \\\"s3\\\"\"]\n";

    #[test]
    fn parses_what_configobj_writes() {
        let c = Config::parse(TEXT, "/work/proj/.dvc").unwrap();
        assert_eq!(c.default_remote(), Some("Store"));
        let r = c.remote("STORE").unwrap();
        assert_eq!(r.name, "store");
        assert_eq!(r.url(), Some("/work/remote-x"));
        assert_eq!(r.section.get("endpointurl"), Some("http://127.0.0.1:8333"));
        assert_eq!(c.section("core").unwrap().get("autostage"), Some("true"));
    }

    #[test]
    fn merge_and_set_remote() {
        let mut c = Config::parse(TEXT, "/p/.dvc").unwrap();
        let other = Config::parse(
            "[core]\nremote = b\n['remote \"STORE\"']\nregion = eu\n",
            "/q/.dvc",
        )
        .unwrap();
        c.merge_from(&other);
        assert_eq!(c.default_remote(), Some("b"));
        assert_eq!(c.remote("store").unwrap().section.get("region"), Some("eu"));
        c.set_remote("b", [("url", "s3://x")]);
        assert_eq!(c.remote("B").unwrap().url(), Some("s3://x"));
    }

    #[test]
    fn resolves_like_dvc() {
        assert_eq!(resolve_local("/a/.dvc", "s3://b/k"), "s3://b/k");
        assert_eq!(resolve_local("/a/.dvc", "/abs"), "/abs");
        assert_eq!(resolve_local("/a/.dvc", "../../r"), "/r");
        assert_eq!(resolve_local("/a/.dvc", "./r/./s"), "/a/.dvc/r/s");
    }

    #[test]
    fn malformed_is_an_error() {
        for bad in ["key = v", "[core\n", "[core]\nnovalue", "[core]\na = 'x' y"] {
            assert!(Config::parse(bad, "/").is_err(), "{bad}");
        }
    }
}
