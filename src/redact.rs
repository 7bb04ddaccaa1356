//! Keeping secrets out of everything we print or write.
//!
//! URLs reach messages, logs and locks; any user-info in them
//! (`https://user:token@host/...`) is replaced before they do.

/// `url` with any `user:password@` part replaced by `***@`.
///
/// ```
/// assert_eq!(
///     dvc_build::__private::redact::url("https://me:s3cr3t@example.com/r.git"),
///     "https://***@example.com/r.git"
/// );
/// assert_eq!(dvc_build::__private::redact::url("/srv/registry"), "/srv/registry");
/// ```
pub fn url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        // An ssh user name (`ssh://git@host`) is no secret; a password is.
        Some(at) if url.starts_with("ssh://") && !authority[..at].contains(':') => url.to_string(),
        Some(at) => format!("{}***{}", &url[..scheme_end + 3], &rest[at..]),
        None => url.to_string(),
    }
}

/// `url` with any `user:password@` part removed: what a committed file may
/// record. An ssh user name without a password is kept (it is no secret, and
/// `ssh://git@host` needs it).
///
/// ```
/// assert_eq!(
///     dvc_build::__private::redact::strip_userinfo("https://me:s3cr3t@example.com/r.git"),
///     "https://example.com/r.git"
/// );
/// assert_eq!(dvc_build::__private::redact::strip_userinfo("ssh://git@h/x"), "ssh://git@h/x");
/// ```
pub fn strip_userinfo(url: &str) -> String {
    let redacted = self::url(url);
    match redacted.split_once("://") {
        Some((scheme, rest)) if rest.starts_with("***@") => format!("{scheme}://{}", &rest[4..]),
        _ => redacted,
    }
}

/// Remote and config options that hold secrets (compared case-insensitively):
/// never written to a lock, never printed.
pub const SECRET_OPTIONS: &[&str] = &[
    "password",
    "passphrase",
    "token",
    "secret_access_key",
    "session_token",
    "aws_secret_access_key",
    "aws_session_token",
    "sse_customer_key",
    "account_key",
    "sas_token",
    "client_secret",
    "connection_string",
    "oss_key_secret",
];

/// `true` when the option `name` holds a secret (see [`SECRET_OPTIONS`]).
pub fn is_secret_option(name: &str) -> bool {
    SECRET_OPTIONS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_only_userinfo() {
        assert_eq!(super::url("s3://bucket/a@b"), "s3://bucket/a@b");
        assert_eq!(super::url("https://tok@h/x"), "https://***@h/x");
        assert_eq!(super::url("ssh://git@h:22/x"), "ssh://git@h:22/x");
        assert_eq!(super::url("ssh://git:pw@h/x"), "ssh://***@h/x");
        assert_eq!(super::url("git@github.com:a/b"), "git@github.com:a/b");
    }

    #[test]
    fn strips_userinfo() {
        assert_eq!(super::strip_userinfo("https://tok@h/x"), "https://h/x");
        assert_eq!(
            super::strip_userinfo("http://u:p@h:8/x?a@b"),
            "http://h:8/x?a@b"
        );
        assert_eq!(super::strip_userinfo("/srv/r"), "/srv/r");
        assert!(super::is_secret_option("Password"));
        assert!(!super::is_secret_option("user"));
    }
}
