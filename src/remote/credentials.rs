//! Where a remote's credentials come from: one shape for every provider.
//!
//! Each object-store remote (`s3`, `gs`, `azure`) states its credential
//! order as one [`Chain`]: a named, ordered list of [`Provider`]s, written
//! out in one function of its `credentials` module, so a reader sees the whole
//! order in one place. Asked in turn, a provider answers
//!
//! * `Ok(None)`: *not configured here*: the chain asks the next one;
//! * `Err(_)`: *configured, but broken* (half a key pair, an unreadable or
//!   malformed key file): the chain stops. A broken source never falls
//!   through to a different identity;
//! * `Ok(Some(credential))`: the chain stops and reports which provider
//!   answered ([`Answer::provider`]) next to the credential.
//!
//! This is aws-config's rule (`CredentialsNotLoaded` means "try the next
//! one", any other error stops the chain). A provider only reads: options,
//! environment variables (through [`Context`], so tests inject them) and
//! files. Nothing here makes a network request.
//!
//! Credentials that come from a token exchange (a Google service account's
//! signed JWT, an OAuth refresh token, a metadata server, an Azure service
//! principal) expire: such a provider answers with a [`TokenSource`], and the
//! remote keeps it in a [`TokenCache`], which exchanges on first use, again
//! shortly before the token expires, and again when the service refused the
//! token ([`TokenCache::refused`]).
//!
//! Secrets are kept in [`Secret`], whose `Debug` shows no value; the name of
//! the provider that answered is what messages say, never the secret.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::remote::FetchError;

/// What a provider may read: the remote's URL and options, the environment
/// and the home folder.
pub struct Context<'a> {
    url: &'a str,
    options: &'a BTreeMap<String, String>,
    env: &'a dyn Fn(&str) -> Option<String>,
    home: Option<PathBuf>,
}

impl<'a> Context<'a> {
    /// The context for the remote at `url` with DVC's `options`, reading
    /// environment variables through `env` (the home folder is `HOME`, else
    /// `USERPROFILE`).
    pub fn new(
        url: &'a str,
        options: &'a BTreeMap<String, String>,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Context<'a> {
        let home = env("HOME")
            .or_else(|| env("USERPROFILE"))
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        Context {
            url,
            options,
            env,
            home,
        }
    }

    /// The remote's URL (it may hold user-info: redact before printing).
    pub fn url(&self) -> &'a str {
        self.url
    }

    /// A remote option, trimmed; `None` when unset or empty.
    pub fn option(&self, name: &str) -> Option<&'a str> {
        self.options
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// An environment variable; `None` when unset or empty.
    pub fn env(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.is_empty())
    }

    /// The user's home folder, if known.
    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }

    /// `path` with a leading `~` replaced by the home folder.
    pub fn expand_home(&self, path: &str) -> PathBuf {
        match (
            path.strip_prefix("~/").or_else(|| path.strip_prefix("~\\")),
            self.home(),
        ) {
            (Some(rest), Some(home)) => home.join(rest),
            _ if path == "~" => self
                .home()
                .map_or_else(|| PathBuf::from(path), Path::to_path_buf),
            _ => PathBuf::from(path),
        }
    }
}

/// One place credentials may come from.
pub trait Provider {
    /// What it yields.
    type Credential;

    /// A short name for messages, e.g. `"environment"`.
    fn name(&self) -> &'static str;

    /// `Ok(None)`: not configured, try the next provider; `Err`: configured
    /// but broken, stop; `Ok(Some(_))`: found.
    fn load(&self, cx: &Context<'_>) -> Result<Option<Self::Credential>>;
}

/// What a [`Chain`] found, and which provider answered.
#[derive(Debug)]
pub struct Answer<C> {
    /// The credential.
    pub credential: C,
    /// The [`Provider::name`] of the provider that answered.
    pub provider: &'static str,
}

/// An ordered list of providers; the first that answers wins.
pub struct Chain<'p, C> {
    links: Vec<Box<dyn Provider<Credential = C> + 'p>>,
}

impl<'p, C> Chain<'p, C> {
    /// A chain that asks `first` first.
    pub fn first_try(first: impl Provider<Credential = C> + 'p) -> Chain<'p, C> {
        Chain {
            links: vec![Box::new(first)],
        }
    }

    /// Asks `next` when every provider before it said "not configured".
    pub fn or_else(mut self, next: impl Provider<Credential = C> + 'p) -> Chain<'p, C> {
        self.links.push(Box::new(next));
        self
    }

    /// The providers' names, in order (for "tried: ..." messages).
    pub fn names(&self) -> Vec<&'static str> {
        self.links.iter().map(|p| p.name()).collect()
    }

    /// Asks each provider in turn; `Ok(None)` when none is configured.
    ///
    /// # Errors
    ///
    /// The first provider's error: a configured source that is broken.
    pub fn load(&self, cx: &Context<'_>) -> Result<Option<Answer<C>>> {
        for link in &self.links {
            if let Some(credential) = link.load(cx)? {
                return Ok(Some(Answer {
                    credential,
                    provider: link.name(),
                }));
            }
        }
        Ok(None)
    }
}

/// A secret string: its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, to put in a request; never into a message.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// An access token and when it stops working.
#[derive(Debug)]
pub struct Token {
    /// The token (sent as `Authorization: Bearer ...`).
    pub secret: Secret,
    /// When the service stops accepting it, if it said.
    pub expires_at: Option<Instant>,
    /// When it was received.
    received: Instant,
}

impl Token {
    /// A token valid for `lifetime` from now (`None`: no stated end).
    pub fn new(secret: Secret, lifetime: Option<Duration>) -> Token {
        let received = Instant::now();
        Token {
            secret,
            expires_at: lifetime.map(|l| received + l),
            received,
        }
    }

    /// `true` when it expires within the refresh margin: 5 minutes, or a
    /// quarter of its lifetime when that is shorter.
    fn stale(&self, now: Instant) -> bool {
        match self.expires_at {
            None => false,
            Some(end) => {
                let lifetime = end.saturating_duration_since(self.received);
                let margin = (lifetime / 4).min(Duration::from_secs(300));
                now + margin >= end
            }
        }
    }
}

/// A token exchange: asks a token service for a new access token.
pub trait TokenSource: Send + Sync {
    /// Where the tokens come from, for messages (never a secret), e.g.
    /// "service account `x@p.iam.gserviceaccount.com` (`/path/key.json`)".
    fn describe(&self) -> String;

    /// One exchange (one network request).
    ///
    /// # Errors
    ///
    /// [`FetchError::Transient`] when the token service could not be reached
    /// or failed (5xx); [`FetchError::Permanent`] when it refused.
    fn fetch(&self) -> Result<Token, FetchError>;
}

/// Keeps the current token of a [`TokenSource`]; exchanges only when there is
/// none, when it is about to expire, or when the service refused it. One
/// exchange at a time: concurrent downloads wait for it and share the result.
pub struct TokenCache {
    source: Box<dyn TokenSource>,
    current: Mutex<Option<Arc<Token>>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("source", &self.source.describe())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache over `source`; no exchange happens until [`TokenCache::token`].
    pub fn new(source: Box<dyn TokenSource>) -> TokenCache {
        TokenCache {
            source,
            current: Mutex::new(None),
        }
    }

    /// Where the tokens come from (see [`TokenSource::describe`]).
    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// A token that is not about to expire, exchanging for a new one when
    /// needed.
    ///
    /// # Errors
    ///
    /// The exchange's error (see [`TokenSource::fetch`]).
    pub fn token(&self) -> Result<Arc<Token>, FetchError> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(token) = current.as_ref()
            && !token.stale(Instant::now())
        {
            return Ok(token.clone());
        }
        let fresh = Arc::new(self.source.fetch()?);
        *current = Some(fresh.clone());
        Ok(fresh)
    }

    /// The service refused `token` (expired or revoked early): forget it, so
    /// the next [`TokenCache::token`] exchanges again (once, however many
    /// downloads saw the refusal).
    pub fn refused(&self, token: &Arc<Token>) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, token)) {
            *current = None;
        }
    }
}

/// The token services' side of an exchange, shared by the Google and Azure
/// sources: the request, and the OAuth 2.0 answer (`access_token`,
/// `expires_in`; `error`, `error_description`) turned into a [`Token`] or a
/// [`FetchError`].
pub mod oauth {
    use std::time::Duration;

    use super::{Secret, Token};
    use crate::error::{Error, ErrorKind};
    use crate::remote::{FetchError, rest};

    /// `POST`s `form` (`application/x-www-form-urlencoded`) to the token
    /// endpoint `url` for `who` (a description of the credential, for
    /// messages).
    ///
    /// # Errors
    ///
    /// See [`answer`].
    pub fn post_form(
        agent: &ureq::Agent,
        url: &str,
        form: &[(&str, &str)],
        who: &str,
    ) -> Result<Token, FetchError> {
        let response = agent
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .send(super::form_encode(form))
            .map_err(|e| transport(url, who, e))?;
        answer(response, url, who)
    }

    /// `GET`s a token from `url` (a metadata or managed-identity endpoint)
    /// with `headers`.
    ///
    /// # Errors
    ///
    /// See [`answer`].
    pub fn get(
        agent: &ureq::Agent,
        url: &str,
        headers: &[(&str, &str)],
        who: &str,
    ) -> Result<Token, FetchError> {
        let mut req = agent.get(url).header("Accept", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = req.call().map_err(|e| transport(url, who, e))?;
        answer(response, url, who)
    }

    fn transport(url: &str, who: &str, e: ureq::Error) -> FetchError {
        rest::transport_error(
            e,
            &|msg| {
                Error::new(
                    ErrorKind::Auth,
                    format!(
                        "{who}: cannot reach the token service at `{}`: {msg}",
                        crate::redact::url(url)
                    ),
                )
            },
            "check the token service's certificate (`SSL_CERT_FILE` names the trusted CA bundle)",
        )
    }

    /// A token service's answer: a token, or why not. 429 and 5xx are
    /// transient; any other refusal is a permanent [`ErrorKind::Auth`] error
    /// quoting the service's `error` and `error_description`.
    ///
    /// # Errors
    ///
    /// As said.
    pub fn answer(
        response: ureq::http::Response<ureq::Body>,
        url: &str,
        who: &str,
    ) -> Result<Token, FetchError> {
        let status = response.status().as_u16();
        let shown = crate::redact::url(url);
        let retry_after = rest::retry_after(&response);
        let text = rest::error_text(response);
        let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        let field = |name: &str| {
            json.as_ref()
                .and_then(|j| j.get(name))
                .and_then(|v| match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
        };
        if status == 200 {
            let Some(token) = field("access_token") else {
                return Err(FetchError::Permanent(Error::new(
                    ErrorKind::Auth,
                    format!(
                        "{who}: the token service at `{shown}` answered without an access token"
                    ),
                )));
            };
            let lifetime = field("expires_in")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Ok(Token::new(Secret::new(token), lifetime));
        }
        let mut detail = [field("error"), field("error_description")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        if detail.is_empty() {
            detail = text.trim().chars().take(200).collect();
        }
        let detail: String = detail.chars().take(300).collect();
        let err = Error::new(
            ErrorKind::Auth,
            format!("{who}: the token service at `{shown}` answered HTTP {status}: {detail}"),
        );
        Err(rest::status_failure(status, err, retry_after))
    }
}

/// DVC's booleans (configobj): `true/false`, `yes/no`, `on/off`, `1/0`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// A small INI reader, for the AWS credentials and config files and the
/// Azure CLI's config (as botocore and configparser read them: `[section]`,
/// `key = value` or `key: value`, `#`/`;` comment lines, and indented
/// sub-keys such as `s3 =\n  addressing_style = path`, kept as
/// `s3.addressing_style`).
pub struct Ini {
    sections: Vec<(String, Vec<(String, String)>)>,
}

/// One section of an [`Ini`].
#[derive(Clone, Copy)]
pub struct Section<'a>(&'a [(String, String)]);

impl<'a> Section<'a> {
    /// The last value of `key` (lower case), if set and not empty.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

impl Ini {
    /// Reads `path`; `None` when it does not exist.
    ///
    /// # Errors
    ///
    /// Any other read failure.
    pub fn load(path: &Path) -> Result<Option<Ini>> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(Ini::parse(&text))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Parses INI text (never fails: lines it cannot read are skipped).
    pub fn parse(text: &str) -> Ini {
        let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
        let mut parent: Option<String> = None;
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
                sections.push((name, Vec::new()));
                parent = None;
                continue;
            }
            let Some((_, entries)) = sections.last_mut() else {
                continue;
            };
            let Some((key, value)) = trimmed.split_once(['=', ':']) else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim().to_string();
            let indented = line.starts_with([' ', '\t']);
            match (&parent, indented) {
                (Some(p), true) => entries.push((format!("{p}.{key}"), value)),
                _ => {
                    parent = value.is_empty().then(|| key.clone());
                    entries.push((key, value));
                }
            }
        }
        Ini { sections }
    }

    /// The last section called `name`.
    pub fn section(&self, name: &str) -> Option<Section<'_>> {
        self.sections
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, entries)| Section(entries))
    }
}

/// `application/x-www-form-urlencoded` encoding of `pairs`, for token
/// requests.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        form_encode_into(&mut out, k);
        out.push('=');
        form_encode_into(&mut out, v);
    }
    out
}

fn form_encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Fixed(&'static str, Option<&'static str>);
    impl Provider for Fixed {
        type Credential = &'static str;
        fn name(&self) -> &'static str {
            self.0
        }
        fn load(&self, _: &Context<'_>) -> Result<Option<&'static str>> {
            Ok(self.1)
        }
    }
    struct Broken;
    impl Provider for Broken {
        type Credential = &'static str;
        fn name(&self) -> &'static str {
            "broken"
        }
        fn load(&self, _: &Context<'_>) -> Result<Option<&'static str>> {
            Err(Error::new(ErrorKind::Auth, "half a key"))
        }
    }

    #[test]
    fn chain_asks_in_order_and_stops_at_the_first_answer_or_error() {
        let options = BTreeMap::new();
        let env = |_: &str| None;
        let cx = Context::new("s3://b", &options, &env);
        let chain = Chain::first_try(Fixed("a", None))
            .or_else(Fixed("b", Some("B")))
            .or_else(Broken);
        assert_eq!(chain.names(), ["a", "b", "broken"]);
        let answer = chain.load(&cx).unwrap().unwrap();
        assert_eq!((answer.credential, answer.provider), ("B", "b"));
        let chain = Chain::first_try(Fixed("a", None)).or_else(Broken);
        assert!(chain.load(&cx).is_err());
        let chain = Chain::first_try(Fixed("a", None));
        assert!(chain.load(&cx).unwrap().is_none());
    }

    struct Counting(AtomicUsize, Duration);
    impl TokenSource for Counting {
        fn describe(&self) -> String {
            "counting".into()
        }
        fn fetch(&self) -> Result<Token, FetchError> {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Token::new(Secret::new(format!("t{n}")), Some(self.1)))
        }
    }

    #[test]
    fn token_cache_exchanges_once_then_when_stale_or_refused() {
        let cache = TokenCache::new(Box::new(Counting(
            AtomicUsize::new(0),
            Duration::from_secs(3600),
        )));
        let t = cache.token().unwrap();
        assert_eq!(t.secret.expose(), "t0");
        assert_eq!(cache.token().unwrap().secret.expose(), "t0");
        // Refused: forgotten, and exchanged again once.
        cache.refused(&t);
        let t1 = cache.token().unwrap();
        assert_eq!(t1.secret.expose(), "t1");
        cache.refused(&t);
        assert_eq!(cache.token().unwrap().secret.expose(), "t1");
        assert!(format!("{cache:?}").contains("counting"));
        // A short-lived token is renewed once a quarter of its life is left.
        let cache = TokenCache::new(Box::new(Counting(
            AtomicUsize::new(0),
            Duration::from_millis(40),
        )));
        assert_eq!(cache.token().unwrap().secret.expose(), "t0");
        std::thread::sleep(Duration::from_millis(35));
        assert_eq!(cache.token().unwrap().secret.expose(), "t1");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn ini_reads_sections_keys_and_subkeys() {
        let ini = Ini::parse(
            "# c\n[default]\naws_access_key_id = A\nAWS_Secret_Access_Key=B\n\n[profile  dev]\n\
             region = eu-west-1\ns3 =\n  addressing_style = path\nendpoint_url = http://x\n; c\n",
        );
        let d = ini.section("default").unwrap();
        assert_eq!(d.get("aws_access_key_id"), Some("A"));
        assert_eq!(d.get("aws_secret_access_key"), Some("B"));
        let dev = ini.section("profile dev").unwrap();
        assert_eq!(dev.get("region"), Some("eu-west-1"));
        assert_eq!(dev.get("s3.addressing_style"), Some("path"));
        assert_eq!(dev.get("endpoint_url"), Some("http://x"));
        assert!(ini.section("dev").is_none());
    }

    #[test]
    fn context_reads_options_env_and_home() {
        let mut options = BTreeMap::new();
        options.insert("a".to_string(), "  x ".to_string());
        options.insert("empty".to_string(), " ".to_string());
        let env = |name: &str| match name {
            "HOME" => Some("/home/u".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let cx = Context::new("gs://b", &options, &env);
        assert_eq!(cx.option("a"), Some("x"));
        assert_eq!(cx.option("empty"), None);
        assert_eq!(cx.env("EMPTY"), None);
        assert_eq!(cx.expand_home("~/k.json"), PathBuf::from("/home/u/k.json"));
        assert_eq!(cx.expand_home("/k.json"), PathBuf::from("/k.json"));
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode(&[("grant_type", "a:b c"), ("x", "é&=")]),
            "grant_type=a%3Ab+c&x=%C3%A9%26%3D"
        );
    }
}
