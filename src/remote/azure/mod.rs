//! Azure Blob Storage remotes (`azure://container/prefix`).
//!
//! Objects are read with `GET <endpoint>/<container>/<blob>` and an
//! `x-ms-range` header, so the transfer layer can resume downloads and split
//! large objects into parallel ranged requests. A request is signed with the
//! account key (SharedKey, HMAC-SHA256: `sign.rs`), carries a shared access
//! signature (SAS) in its query string, or carries a Microsoft Entra ID
//! access token (`Authorization: Bearer`, fetched on first use, renewed
//! before it expires, and once more when the service refuses it early).
//!
//! # Remote options
//!
//! DVC's own (dvc-azure), from the remote's section of `.dvc/config` (or a
//! dependency's `remote` table; the secret ones belong in
//! `.dvc/config.local`):
//!
//! | option | meaning |
//! | --- | --- |
//! | `connection_string` | `AccountName=...;AccountKey=...` (or `SharedAccessSignature=...`); `BlobEndpoint=...` points at another endpoint (Azurite, a private endpoint); `UseDevelopmentStorage=true` is Azurite's default |
//! | `account_name` | the storage account: `https://<account_name>.blob.core.windows.net` |
//! | `account_key` | the account key (SharedKey) |
//! | `sas_token` | a shared access signature (with or without the leading `?`) |
//! | `tenant_id`, `client_id`, `client_secret` | a service principal (Entra ID application) |
//! | `allow_anonymous_login` | `true`: send no credentials (a public container) |
//!
//! Each value is the remote's option, else its environment variable
//! (`AZURE_STORAGE_CONNECTION_STRING`, `AZURE_STORAGE_ACCOUNT`,
//! `AZURE_STORAGE_KEY`, `AZURE_STORAGE_SAS_TOKEN`, `AZURE_STORAGE_TENANT_ID`,
//! `AZURE_STORAGE_CLIENT_ID`, `AZURE_STORAGE_CLIENT_SECRET`), else the Azure
//! CLI config's `[storage]` section (`$AZURE_CONFIG_DIR/config`, by default
//! `~/.azure/config`: `connection_string`, `account`, `key`, `sas_token`),
//! as dvc-azure gathers them; `AZURE_STORAGE_ACCOUNT_NAME` and
//! `AZURE_STORAGE_ACCOUNT_KEY` come last (adlfs). As in DVC, a remote needs
//! `account_name` or `connection_string`. A URL without a container
//! (`azure:///prefix`) takes `AZURE_STORAGE_CONTAINER_NAME`, else the
//! config's `container_name`. `SSL_CERT_FILE`, when set, names the only CA
//! certificates trusted (as OpenSSL, and so DVC, reads it).
//!
//! # Where credentials come from
//!
//! adlfs' order, written out as one chain in `credentials.rs`; the first
//! source that is set wins, and one that is set but broken (a key that is
//! not base64, half a service principal) is an error:
//!
//! 1. `allow_anonymous_login = true`: no credentials at all.
//! 2. The connection string's `AccountKey` or `SharedAccessSignature` (it
//!    beats every other option).
//! 3. `account_key`: SharedKey.
//! 4. `sas_token`.
//! 5. A service principal: `tenant_id`, `client_id`, `client_secret`, traded
//!    at Entra ID (`AZURE_AUTHORITY_HOST`, else
//!    `https://login.microsoftonline.com`) for a storage token.
//! 6. DefaultAzureCredential's sources that need no program: the
//!    environment (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//!    `AZURE_CLIENT_SECRET`), workload identity (`AZURE_FEDERATED_TOKEN_FILE`),
//!    a managed identity (App Service's `IDENTITY_ENDPOINT`, or the instance
//!    metadata service on an Azure VM, or at
//!    `AZURE_POD_IDENTITY_AUTHORITY_HOST`). The Azure CLI, PowerShell and
//!    VS Code sources are not asked.
//! 7. A connection string without a key or SAS: no credentials (adlfs).
//!
//! Nothing found is an error before any request. Two differences from
//! adlfs: `allow_anonymous_login` sends no credentials (adlfs would still
//! look for some unless `AZURE_STORAGE_ANON` is set), and a connection
//! string without a key names only the endpoint, so that `account_key`,
//! `sas_token` or a service principal can sign for it (adlfs ignores them).
//! A SAS whose `se` (expiry) has passed is an error before any request.
//!
//! # Errors and secrets
//!
//! `BlobNotFound` is [`FetchError::NotFound`]; a missing container or
//! account is a permanent error saying so; refused credentials are
//! [`ErrorKind::Auth`] errors naming where they came from; 429 and 5xx are
//! transient (throttled with `Retry-After`). Keys, SAS tokens, client
//! secrets and tokens are never printed; query strings (where a SAS lives)
//! are removed from every message.

mod credentials;
mod sign;
mod source;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;

pub use self::credentials::CredentialSource;
use self::credentials::{Auth, CREDENTIALS_HELP, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::remote::credentials::{Context, Ini, Token};
use crate::remote::{Body, FetchError, ObjectInfo, Remote, rest};

/// The Blob service version requests ask for (any from 2017-11-09 takes
/// Entra ID tokens).
pub const API_VERSION: &str = "2021-08-06";

/// A DVC remote in an Azure Blob Storage container (or an emulator).
///
/// `Debug` shows where the credentials came from, never the credentials.
pub struct AzureRemote {
    container: String,
    /// The blob-name prefix, without leading or trailing `/`; may be empty.
    prefix: String,
    /// `scheme://host[:port][/account]`, no trailing `/`.
    endpoint: String,
    /// The storage account (SharedKey signs for it).
    account: String,
    auth: Auth,
    source: CredentialSource,
    agent: ureq::Agent,
}

impl fmt::Debug for AzureRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureRemote")
            .field("url", &self.display_url())
            .field("endpoint", &self.endpoint_url())
            .field("account", &self.account)
            .field("credentials", &self.source.to_string())
            .finish_non_exhaustive()
    }
}

/// Opens the Azure remote at `url` (`azure://container/prefix`) with DVC's
/// remote `options`, reading the process environment and the Azure CLI's
/// config. Makes no request (tokens are fetched on first use).
///
/// # Errors
///
/// A malformed URL or option ([`ErrorKind::Remote`]); credentials missing,
/// malformed or expired ([`ErrorKind::Auth`]); an unsupported credential
/// ([`ErrorKind::Unsupported`]).
pub fn open(url: &str, options: &BTreeMap<String, String>) -> Result<AzureRemote> {
    AzureRemote::open_with_env(url, options, &|name| std::env::var(name).ok())
}

impl AzureRemote {
    /// As [`open`], reading environment variables (including `HOME`) through
    /// `env` instead of the process environment.
    ///
    /// # Errors
    ///
    /// As [`open`].
    pub fn open_with_env(
        url: &str,
        options: &BTreeMap<String, String>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<AzureRemote> {
        let cx = Context::new(url, options, env);
        let (container, prefix) =
            rest::split_url(url, "azure").map_err(|e| config_error(url, e))?;
        let container = match container {
            "" => default_container(&cx)?.ok_or_else(|| {
                config_error(url, "the URL names no container").with_help(
                    "write the remote's `url` as `azure://container/prefix` \
                     (or set AZURE_STORAGE_CONTAINER_NAME)",
                )
            })?,
            c => c.to_string(),
        };
        let settings = Settings::read(&cx)?;
        let tls = rest::tls_from_env(cx.env("SSL_CERT_FILE"), &|e| config_error(url, e))?;
        let agent = rest::agent(rest::DEFAULT_TIMEOUT, rest::DEFAULT_TIMEOUT, tls);
        let found = credentials::resolve(&cx, &settings, &agent)?;
        if let Auth::Sas(sas) = &found.auth
            && let Some(expiry) = credentials::sas_expiry(sas.expose())
            && expiry <= SystemTime::now()
        {
            return Err(Error::new(
                ErrorKind::Auth,
                format!(
                    "Azure remote `{}`: {} expired at {}",
                    crate::redact::url(url),
                    found.source,
                    rest::http_date(expiry)
                ),
            )
            .with_help("make a new SAS token (`az storage container generate-sas`) and set it"));
        }
        Ok(AzureRemote {
            container,
            prefix: prefix.to_string(),
            endpoint: settings.endpoint,
            account: settings.account,
            auth: found.auth,
            source: found.source,
            agent,
        })
    }

    /// The container's name.
    pub fn container(&self) -> &str {
        &self.container
    }

    /// The blob-name prefix of the remote inside the container.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The storage account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The blob endpoint, e.g. `https://acct.blob.core.windows.net`.
    pub fn endpoint_url(&self) -> String {
        crate::redact::url(&self.endpoint)
    }

    /// Where the credentials came from.
    pub fn credential_source(&self) -> &CredentialSource {
        &self.source
    }

    fn fail(&self, kind: ErrorKind, rel_path: &str, what: impl fmt::Display) -> Error {
        Error::new(
            kind,
            format!(
                "Azure remote `{}` (account `{}`): `{rel_path}`: {what}",
                self.display_url(),
                self.account
            ),
        )
    }

    /// One signed `GET` of `path` (`/<container>/<blob>`, encoded).
    fn get(
        &self,
        path: &str,
        range: Option<&str>,
        token: Option<&Token>,
        rel_path: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
        self.request("GET", path, &[], range, token, rel_path)
    }

    /// One signed request (`GET` or `HEAD`) of `path` (`/<container>[/<blob>]`,
    /// encoded) with the query parameters `query` (decoded).
    fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        range: Option<&str>,
        token: Option<&Token>,
        rel_path: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
        let date = rest::http_date(SystemTime::now());
        let mut url = format!("{}{path}", self.endpoint);
        let mut params: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", rest::encode(v, false)))
            .collect();
        let mut ms_headers = vec![("x-ms-date", date.as_str()), ("x-ms-version", API_VERSION)];
        if let Some(range) = range {
            ms_headers.push(("x-ms-range", range));
        }
        let authorization = match &self.auth {
            Auth::Anonymous => None,
            Auth::Sas(sas) => {
                params.push(sas.expose().to_string());
                None
            }
            Auth::SharedKey(key) => {
                let key = base64::engine::general_purpose::STANDARD
                    .decode(key.expose())
                    .unwrap_or_default();
                // The signed path is the URL's: the endpoint's own path (an
                // emulator's `/<account>`) and then the blob's.
                let endpoint_path = self
                    .endpoint
                    .split_once("://")
                    .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                    .unwrap_or("");
                Some(sign::shared_key(
                    &self.account,
                    &key,
                    method,
                    &format!("{endpoint_path}{path}"),
                    query,
                    &ms_headers,
                ))
            }
            Auth::Token(_) => token.map(|t| format!("Bearer {}", t.secret.expose())),
        };
        if !params.is_empty() {
            url.push('?');
            url.push_str(&params.join("&"));
        }
        let mut req = match method {
            "HEAD" => self.agent.head(&url),
            _ => self.agent.get(&url),
        };
        for (k, v) in &ms_headers {
            req = req.header(*k, *v);
        }
        if let Some(auth) = authorization {
            req = req.header("Authorization", auth);
        }
        req.call().map_err(|e| {
            rest::transport_error(
                e,
                &|msg| self.fail(ErrorKind::Remote, rel_path, msg),
                "check the endpoint's certificate (`SSL_CERT_FILE` names the trusted CA bundle)",
            )
        })
    }

    /// A fresh token, when the remote uses tokens.
    fn token(&self, rel_path: &str) -> Result<Option<Arc<Token>>, FetchError> {
        match &self.auth {
            Auth::Token(cache) => cache.token().map(Some).map_err(|e| match e {
                FetchError::Permanent(err) => FetchError::Permanent(
                    err.context(format_args!(
                        "Azure remote `{}`: `{rel_path}`",
                        self.display_url()
                    ))
                    .with_help(format!("check the credentials; {CREDENTIALS_HELP}")),
                ),
                other => other,
            }),
            _ => Ok(None),
        }
    }

    /// Turns a non-success answer into the right [`FetchError`].
    fn status_error(
        &self,
        rel_path: &str,
        status: u16,
        response: ureq::http::Response<ureq::Body>,
    ) -> FetchError {
        let code = rest::header(&response, "x-ms-error-code");
        let retry_after = rest::retry_after(&response);
        let text = rest::error_text(response);
        let code = code.or_else(|| rest::xml_tag(&text, "Code"));
        let message = rest::xml_tag(&text, "Message")
            .map(|m| m.lines().next().unwrap_or("").trim().to_string());
        let detail = rest::xml_tag(&text, "AuthenticationErrorDetail");
        let said = [code.clone(), message, detail]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        let said = if said.is_empty() {
            String::new()
        } else {
            format!(" ({said})")
        };
        match (status, code.as_deref()) {
            (404, Some("ContainerNotFound")) => FetchError::Permanent(
                self.fail(
                    ErrorKind::Remote,
                    rel_path,
                    format!("container `{}` does not exist{said}", self.container),
                )
                .with_help(
                    "check the remote's `url` and account in the source project's `.dvc/config`",
                ),
            ),
            (404, Some("ResourceNotFound" | "AccountNotFound")) => FetchError::Permanent(
                self.fail(
                    ErrorKind::Remote,
                    rel_path,
                    format!("storage account `{}` was not found{said}", self.account),
                )
                .with_help("check the remote's account name or connection string"),
            ),
            (404, _) => FetchError::NotFound(
                self.fail(
                    ErrorKind::Remote,
                    rel_path,
                    format!("object not found{said}"),
                )
                .with_help("the object was never pushed: run `dvc push` in the source project"),
            ),
            (401 | 403 | 409, _) | (400, Some("InvalidAuthenticationInfo")) => {
                FetchError::Permanent(match &self.source {
                    CredentialSource::Anonymous { .. } => self
                        .fail(
                            ErrorKind::Auth,
                            rel_path,
                            format!("anonymous access refused (HTTP {status}){said}"),
                        )
                        .with_help(format!(
                            "container `{}` is not public: {CREDENTIALS_HELP}",
                            self.container
                        )),
                    source => self
                        .fail(
                            ErrorKind::Auth,
                            rel_path,
                            format!("access denied (HTTP {status}){said} with {source}"),
                        )
                        .with_help(format!(
                            "check that these credentials are current and may read container `{}`; \
                         to use others, {CREDENTIALS_HELP}",
                            self.container
                        )),
                })
            }
            _ => rest::status_failure(
                status,
                self.fail(ErrorKind::Remote, rel_path, format!("HTTP {status}{said}")),
                retry_after,
            ),
        }
    }
}

impl Remote for AzureRemote {
    fn display_url(&self) -> String {
        rest::store_url("azure", &self.container, &self.prefix)
    }

    fn open(&self, rel_path: &str, offset: u64, end: Option<u64>) -> Result<Body, FetchError> {
        let Some(name) = rest::object_name(&self.prefix, rel_path) else {
            return Err(FetchError::Permanent(self.fail(
                ErrorKind::Remote,
                rel_path,
                "invalid object path",
            )));
        };
        if end.is_some_and(|end| end <= offset) {
            return Ok(rest::empty());
        }
        let path = format!(
            "/{}/{}",
            rest::encode(&self.container, false),
            rest::encode(&name, true)
        );
        let range = rest::range(offset, end);
        let mut token = self.token(rel_path)?;
        let mut response = self.get(&path, range.as_deref(), token.as_deref(), rel_path)?;
        // A token refused before its time (expired early, revoked): exchange
        // again, once. Azure answers 401, or 403 `AuthenticationFailed`.
        let status = response.status().as_u16();
        let refused = status == 401
            || (status == 403
                && rest::header(&response, "x-ms-error-code").as_deref()
                    == Some("AuthenticationFailed"));
        if refused && let (Auth::Token(cache), Some(used)) = (&self.auth, &token) {
            cache.refused(used);
            token = self.token(rel_path)?;
            response = self.get(&path, range.as_deref(), token.as_deref(), rel_path)?;
        }
        let status = response.status().as_u16();
        if rest::is_body(status) {
            rest::body(response, offset, end, &|msg| {
                self.fail(ErrorKind::Remote, rel_path, msg)
            })
        } else {
            Err(self.status_error(rel_path, status, response))
        }
    }
    /// A blob's size and ETag (its properties), for a URL import.
    fn info(&self, rel_path: &str) -> Result<Option<ObjectInfo>, FetchError> {
        self.blob_info(rel_path)
    }

    /// Every blob under a prefix (the container's listing), for a URL import.
    fn list(&self, rel_path: &str) -> Result<Vec<(String, ObjectInfo)>, FetchError> {
        self.list_folder(rel_path)
    }
}

/// `AZURE_STORAGE_CONTAINER_NAME`, else the Azure CLI config's
/// `container_name`.
fn default_container(cx: &Context<'_>) -> Result<Option<String>> {
    if let Some(name) = cx.env("AZURE_STORAGE_CONTAINER_NAME") {
        return Ok(Some(name));
    }
    let dir = cx
        .env("AZURE_CONFIG_DIR")
        .map(|d| cx.expand_home(&d))
        .or_else(|| cx.home().map(|h| h.join(".azure")));
    let Some(dir) = dir else { return Ok(None) };
    Ok(Ini::load(&dir.join("config"))?.and_then(|ini| {
        ini.section("storage")
            .and_then(|s| s.get("container_name"))
            .map(str::to_string)
    }))
}

fn config_error(url: &str, what: impl fmt::Display) -> Error {
    rest::config_error("Azure", url, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const KEY: &str = "c2VjcmV0LWtleS1ieXRlcw==";

    fn source(o: &[(&str, &str)], e: &[(&str, &str)]) -> Result<CredentialSource> {
        let mut env = vec![("HOME", "/nonexistent")];
        env.extend_from_slice(e);
        AzureRemote::open_with_env("azure://cont/pre", &opts(o), &env_of(&env))
            .map(|r| r.credential_source().clone())
    }

    #[test]
    fn order_connection_string_then_key_then_sas_then_principal() {
        let cs = format!("AccountName=acct;AccountKey={KEY}");
        let sp = [
            ("tenant_id", "t"),
            ("client_id", "c"),
            ("client_secret", "s"),
        ];
        // The connection string's key beats everything.
        let mut all = vec![
            ("connection_string", cs.as_str()),
            ("account_name", "other"),
            ("account_key", KEY),
            ("sas_token", "sv=1&sig=x"),
        ];
        all.extend_from_slice(&sp);
        assert_eq!(
            source(&all, &[]).unwrap(),
            CredentialSource::AccountKey {
                via: "the remote's `connection_string`"
            }
        );
        let mut anon = all.clone();
        anon.push(("allow_anonymous_login", "true"));
        assert!(matches!(
            source(&anon, &[]).unwrap(),
            CredentialSource::Anonymous {
                via: "allow_anonymous_login"
            }
        ));
        let mut rest = vec![
            ("account_name", "acct"),
            ("account_key", KEY),
            ("sas_token", "?sv=1"),
        ];
        rest.extend_from_slice(&sp);
        assert!(matches!(
            source(&rest, &[]).unwrap(),
            CredentialSource::AccountKey { .. }
        ));
        let mut rest = vec![("account_name", "acct"), ("sas_token", "?sv=1")];
        rest.extend_from_slice(&sp);
        assert!(matches!(
            source(&rest, &[]).unwrap(),
            CredentialSource::Sas { .. }
        ));
        let mut rest = vec![("account_name", "acct")];
        rest.extend_from_slice(&sp);
        assert!(matches!(
            source(&rest, &[]).unwrap(),
            CredentialSource::ServicePrincipal {
                via: "the remote's `tenant_id`/`client_id`/`client_secret`",
                ..
            }
        ));
        // DefaultAzureCredential's environment and workload identity.
        let env = [
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ];
        assert!(matches!(
            source(&[("account_name", "acct")], &env).unwrap(),
            CredentialSource::ServicePrincipal {
                via: "AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET",
                ..
            }
        ));
        let env = [
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
        ];
        assert!(matches!(
            source(&[("account_name", "acct")], &env).unwrap(),
            CredentialSource::WorkloadIdentity { .. }
        ));
        let env = [
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi"),
            ("IDENTITY_HEADER", "h"),
        ];
        assert_eq!(
            source(&[("account_name", "acct")], &env).unwrap(),
            CredentialSource::ManagedIdentity {
                endpoint: "http://127.0.0.1:1/msi".into()
            }
        );
        // A keyless connection string: anonymous, unless something signs.
        let keyless = "BlobEndpoint=http://127.0.0.1:1/acct";
        assert!(matches!(
            source(&[("connection_string", keyless)], &[]).unwrap(),
            CredentialSource::Anonymous { .. }
        ));
        assert!(matches!(
            source(&[("connection_string", keyless), ("account_key", KEY)], &[]).unwrap(),
            CredentialSource::AccountKey {
                via: "the remote's `account_key`"
            }
        ));
    }

    #[test]
    fn environment_and_cli_config() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap();
        std::fs::create_dir_all(home.path().join(".azure")).unwrap();
        std::fs::write(
            home.path().join(".azure/config"),
            format!("[storage]\naccount = fromfile\nkey = {KEY}\ncontainer_name = filecont\n"),
        )
        .unwrap();
        let r =
            AzureRemote::open_with_env("azure:///p", &opts(&[]), &env_of(&[("HOME", h)])).unwrap();
        assert_eq!((r.account(), r.container()), ("fromfile", "filecont"));
        assert_eq!(r.endpoint_url(), "https://fromfile.blob.core.windows.net");
        assert!(matches!(
            r.credential_source(),
            CredentialSource::AccountKey {
                via: "the Azure CLI config (`[storage]`)"
            }
        ));
        // The environment beats the file; the option beats both.
        let env = env_of(&[
            ("HOME", h),
            ("AZURE_STORAGE_ACCOUNT", "fromenv"),
            ("AZURE_STORAGE_KEY", KEY),
        ]);
        let r = AzureRemote::open_with_env("azure://c/p", &opts(&[]), &env).unwrap();
        assert_eq!(r.account(), "fromenv");
        assert!(matches!(
            r.credential_source(),
            CredentialSource::AccountKey {
                via: "AZURE_STORAGE_KEY"
            }
        ));
        let r = AzureRemote::open_with_env("azure://c/p", &opts(&[("account_name", "opt")]), &env)
            .unwrap();
        assert_eq!(r.account(), "opt");
        let dbg = format!("{r:?}");
        assert!(!dbg.contains(KEY), "{dbg}");
    }

    #[test]
    fn missing_broken_and_expired_credentials() {
        let err = source(&[], &[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert!(
            err.to_string()
                .contains("account_name` or `connection_string"),
            "{err}"
        );
        let err = source(&[("account_name", "acct")], &[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert!(err.to_string().contains("no Azure credentials"), "{err}");
        assert!(err.to_string().contains("allow_anonymous_login"), "{err}");
        let err = source(
            &[("account_name", "acct"), ("account_key", "not base64!")],
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
        assert!(!err.to_string().contains("not base64!"), "{err}");
        let err = source(&[("account_name", "acct"), ("client_id", "c")], &[]).unwrap_err();
        assert!(err.to_string().contains("only some of"), "{err}");
        let err = source(
            &[
                ("account_name", "acct"),
                (
                    "sas_token",
                    "sv=2021-08-06&se=2020-01-01T00%3A00%3A00Z&sig=SECRETSIG",
                ),
            ],
            &[],
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("expired at Wed, 01 Jan 2020"), "{text}");
        assert!(!text.contains("SECRETSIG"), "{text}");
        for (url, o) in [
            (
                "azure://c/../x",
                opts(&[("account_name", "a"), ("account_key", KEY)]),
            ),
            (
                "azure://c/p",
                opts(&[("account_name", "a"), ("allow_anonymous_login", "maybe")]),
            ),
            (
                "azure:///p",
                opts(&[("account_name", "a"), ("account_key", KEY)]),
            ),
        ] {
            assert!(
                AzureRemote::open_with_env(url, &o, &env_of(&[("HOME", "/nonexistent")])).is_err(),
                "{url}"
            );
        }
    }
}
