//! [`GitRemote`]: which repository a URL names, and a stable identity for it.
//!
//! Two spellings of one repository (`https://Host/a/b.git/` and
//! `https://host/a/b`) share one canonical form, so they share one cached
//! database; [`GitRemote::ident`] turns that form into a directory name.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::hash::Md5;
use crate::redact;

/// A git repository URL: a local path, `file://`, `http(s)://`, `ssh://`,
/// `git://` or scp-like `user@host:path`.
///
/// The URL is kept as given (it is what `git` is asked to fetch from) beside
/// a canonical form used only for identity. Credentials in the URL are never
/// shown: [`fmt::Display`] prints the [redacted](crate::redact::url) URL.
///
/// ```
/// use dvc_build::__private::git::GitRemote;
/// let a = GitRemote::new("https://GitHub.com/acme/registry.git/").unwrap();
/// let b = GitRemote::new("https://github.com/acme/registry").unwrap();
/// assert_eq!(a.canonical(), "https://github.com/acme/registry");
/// assert_eq!(a.ident(), b.ident());
/// assert!(a.ident().starts_with("registry-"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GitRemote {
    url: String,
    canonical: String,
    local: bool,
}

impl GitRemote {
    /// A remote for `url`. A local path must be absolute: resolve a relative
    /// one first with [`GitRemote::with_base`].
    ///
    /// ```
    /// use dvc_build::__private::git::GitRemote;
    /// assert!(GitRemote::new("git@github.com:acme/registry.git").is_ok());
    /// assert!(GitRemote::new("../registry").is_err());
    /// ```
    pub fn new(url: &str) -> Result<GitRemote> {
        let url = url.trim();
        if url.is_empty() {
            return Err(Error::new(ErrorKind::Git, "the git URL is empty")
                .with_help("set `url` to a git URL or a path to a git repository"));
        }
        if url.starts_with('-') {
            // git would read it as an option.
            return Err(
                Error::new(ErrorKind::Git, format!("`{url}` is not a git URL"))
                    .with_help("set `url` to a git URL or a path to a git repository"),
            );
        }
        if let Some(helper) = remote_helper(url) {
            return Err(Error::new(
                ErrorKind::Git,
                format!(
                    "`{}` asks git for the remote helper `{helper}` (`<transport>::<address>`), which dvc-build does not allow",
                    redact::url(url)
                ),
            )
            .with_help(ALLOWED_HELP));
        }
        match classify(url) {
            Kind::Url { scheme, .. }
                if !ALLOWED_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) =>
            {
                Err(Error::new(
                    ErrorKind::Git,
                    format!(
                        "`{}` uses the git transport `{scheme}`, which dvc-build does not allow",
                        redact::url(url)
                    ),
                )
                .with_help(ALLOWED_HELP))
            }
            Kind::Url { scheme, rest } => {
                let local = scheme.eq_ignore_ascii_case("file");
                let canonical = if local {
                    canonical_path(Path::new(rest))
                } else {
                    canonical_network(&scheme.to_ascii_lowercase(), rest)
                };
                Ok(GitRemote {
                    url: url.to_string(),
                    canonical,
                    local,
                })
            }
            Kind::Scp { host, path } => {
                let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
                Ok(GitRemote {
                    url: url.to_string(),
                    canonical: format!(
                        "{}:{}",
                        host.to_ascii_lowercase(),
                        strip_git_suffix(path.trim_end_matches('/'))
                    ),
                    local: false,
                })
            }
            Kind::Path => {
                let path = Path::new(url);
                if !path.is_absolute() {
                    return Err(Error::new(
                        ErrorKind::Git,
                        format!("the git repository path `{url}` is relative"),
                    )
                    .with_help("a relative path must be resolved against a base folder first"));
                }
                Ok(GitRemote {
                    url: url.to_string(),
                    canonical: canonical_path(path),
                    local: true,
                })
            }
        }
    }

    /// A remote for `url`, where a relative local path is taken relative to
    /// `base` (for a dependency, the folder of the `Cargo.toml` declaring it).
    ///
    /// ```
    /// use std::path::Path;
    /// use dvc_build::__private::git::GitRemote;
    /// let base = if cfg!(windows) { Path::new(r"C:\work\app") } else { Path::new("/work/app") };
    /// let r = GitRemote::with_base("../registry", base).unwrap();
    /// assert!(r.is_local());
    /// assert!(r.canonical().ends_with("registry"));
    /// let r = GitRemote::with_base("https://example.com/r.git", base).unwrap();
    /// assert_eq!(r.url(), "https://example.com/r.git");
    /// ```
    pub fn with_base(url: &str, base: &Path) -> Result<GitRemote> {
        let trimmed = url.trim();
        if matches!(classify(trimmed), Kind::Path) && !Path::new(trimmed).is_absolute() {
            let joined = normalize(&base.join(trimmed));
            return GitRemote::new(&joined.to_string_lossy());
        }
        GitRemote::new(trimmed)
    }

    /// The URL as given; what `git` fetches from. May hold credentials:
    /// print [`GitRemote::redacted`] instead.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL with any credentials replaced, fit for messages.
    pub fn redacted(&self) -> String {
        redact::url(&self.url)
    }

    /// The canonical form: credentials dropped, host lower-cased, trailing `/`
    /// and `.git` removed (for a local path only a trailing `/.git` folder,
    /// since `x` and `x.git` can be two different local repositories).
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// `true` for a local path or `file://` URL.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// The folder of a repository given as a plain local path (not a
    /// `file://` URL): what `dvc` opens in place, work tree included.
    pub fn local_path(&self) -> Option<PathBuf> {
        (self.local && !self.url.contains("://")).then(|| PathBuf::from(&self.url))
    }

    /// A readable, file-system-safe name for this repository: the last path
    /// component and a short hash of [`GitRemote::canonical`], like Cargo's
    /// `git/db/<name>-<hash>`.
    pub fn ident(&self) -> String {
        let last = self
            .canonical
            .rsplit(['/', ':', '\\'])
            .find(|s| !s.is_empty())
            .unwrap_or("");
        let mut name: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        if name.trim_matches(['.', '_']).is_empty() {
            name = "repo".to_string();
        }
        let hash = Md5::of(self.canonical.as_bytes()).to_hex();
        format!("{name}-{}", &hash[..16])
    }
}

impl fmt::Display for GitRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for GitRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitRemote")
            .field("url", &self.redacted())
            .field("canonical", &self.canonical)
            .finish()
    }
}

enum Kind<'a> {
    Url { scheme: &'a str, rest: &'a str },
    Scp { host: &'a str, path: &'a str },
    Path,
}

/// The URL schemes a registry may use (see `cmd::ALLOWED_PROTOCOLS`, which
/// git itself enforces).
const ALLOWED_SCHEMES: &[&str] = &["file", "git", "http", "https", "ssh", "git+ssh", "ssh+git"];

const ALLOWED_HELP: &str = "a registry is a local path, or a `file://`, `https://`, `http://`, `ssh://` or `git://` URL, or `user@host:path`";

/// The remote helper `<transport>::<address>` names, as git reads it: the
/// transport is what comes before `::` when that is all letters, digits,
/// `+`, `-` and `.` (git runs `git-remote-<transport>`; `ext::` runs any
/// command).
fn remote_helper(url: &str) -> Option<&str> {
    let end = url
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .unwrap_or(url.len());
    (end > 0 && url[end..].starts_with("::")).then(|| &url[..end])
}

/// Tells URL, scp-like address and local path apart, as git does.
fn classify(url: &str) -> Kind<'_> {
    if let Some((scheme, rest)) = url.split_once("://")
        && !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return Kind::Url { scheme, rest };
    }
    // git: "host:path" is scp-like when the colon comes before any slash;
    // a one-letter "host" is a DOS drive (`C:\x`).
    if let Some(colon) = url.find(':') {
        let before = &url[..colon];
        let is_drive = before.len() == 1 && before.chars().all(|c| c.is_ascii_alphabetic());
        if !before.is_empty() && !before.contains(['/', '\\']) && !is_drive {
            return Kind::Scp {
                host: before,
                path: &url[colon + 1..],
            };
        }
    }
    Kind::Path
}

fn canonical_network(scheme: &str, rest: &str) -> String {
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = strip_git_suffix(path.trim_end_matches('/'));
    format!("{scheme}://{}{path}", host.to_ascii_lowercase())
}

fn strip_git_suffix(path: &str) -> &str {
    path.strip_suffix(".git")
        .map_or(path, |p| p.trim_end_matches('/'))
}

fn canonical_path(path: &Path) -> String {
    let mut path = normalize(path);
    if path.file_name().is_some_and(|n| n == ".git") {
        path.pop();
    }
    let s = path.to_string_lossy();
    let trimmed = s.trim_end_matches(['/', '\\']);
    if trimmed.is_empty() {
        s.into_owned()
    } else {
        trimmed.to_string()
    }
}

/// Removes `.` and resolves `..` lexically (the path need not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(url: &str) -> String {
        GitRemote::new(url).unwrap().canonical().to_string()
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(
            canon("https://user:tok@GitHub.com/Acme/Reg.git/"),
            "https://github.com/Acme/Reg"
        );
        assert_eq!(canon("ssh://git@Host:2222/x/y.git"), "ssh://host:2222/x/y");
        assert_eq!(canon("git@GitHub.com:acme/reg.git"), "github.com:acme/reg");
        assert_eq!(canon("file:///srv/reg/"), "/srv/reg");
        assert_eq!(
            canon("git://127.0.0.1:9418/reg.git"),
            "git://127.0.0.1:9418/reg"
        );
        #[cfg(unix)]
        {
            assert_eq!(canon("/srv/reg/.git"), "/srv/reg");
            assert_eq!(canon("/srv/./x/../reg/"), "/srv/reg");
            assert_eq!(canon("/srv/reg.git"), "/srv/reg.git");
        }
    }

    #[test]
    fn ident_is_safe_and_stable() {
        let r = GitRemote::new("https://h/a/b%20c.git").unwrap();
        let id = r.ident();
        assert!(id.starts_with("b_20c-"), "{id}");
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert_eq!(id, GitRemote::new("https://H/a/b%20c/").unwrap().ident());
        assert_ne!(id, GitRemote::new("https://h/z/b%20c").unwrap().ident());
        assert!(
            GitRemote::new("https://h/")
                .unwrap()
                .ident()
                .starts_with("h-")
        );
    }

    #[test]
    fn option_like_urls_are_refused() {
        assert!(GitRemote::new("-oProxyCommand=x:y").is_err());
        assert!(GitRemote::new("--upload-pack=x").is_err());
    }

    #[test]
    fn remote_helpers_and_other_transports_are_refused() {
        for bad in [
            "ext::sh -c touch% /tmp/x",
            "fd::3",
            "foo::bar",
            "EXT::sh",
            "testgit::/x",
            "ftp://h/x",
            "foo+bar://h/x",
        ] {
            let err = GitRemote::new(bad).unwrap_err();
            assert!(err.to_string().contains("does not allow"), "{bad}: {err}");
        }
        for ok in [
            "https://h/x",
            "HTTP://h/x",
            "ssh://git@h/x",
            "git+ssh://h/x",
            "git://h/x",
            "file:///srv/x",
            "git@h:x",
            "git@[::1]:x",
            "/srv/a::b",
        ] {
            assert!(GitRemote::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn credentials_never_in_display_or_ident_name() {
        let r = GitRemote::new("https://me:s3cret@h/x").unwrap();
        assert!(!r.to_string().contains("s3cret"));
        assert!(!format!("{r:?}").contains("s3cret"));
        assert!(!r.canonical().contains("s3cret"));
    }

    #[cfg(unix)]
    #[test]
    fn relative_paths_resolve_against_base() {
        let r = GitRemote::with_base("../reg", Path::new("/w/app")).unwrap();
        assert_eq!(r.url(), "/w/reg");
        assert!(r.is_local());
        assert!(GitRemote::with_base("git@h:x", Path::new("/w")).is_ok_and(|r| !r.is_local()));
    }
}
