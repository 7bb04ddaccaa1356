//! Where an Azure remote's credentials come from, in DVC's order (dvc-azure
//! fills its options from the environment and the Azure CLI's config, then
//! adlfs picks the credential); see [`chain`] and the module docs of
//! [`crate::remote::azure`].

use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;

use crate::error::{Error, ErrorKind, Result};
use crate::remote::FetchError;
use crate::remote::credentials::{
    Chain, Context, Ini, Provider, Secret, Token, TokenCache, TokenSource, oauth, parse_bool,
};

/// The OAuth 2.0 scope of Azure Storage.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// Microsoft Entra ID's default authority (`AZURE_AUTHORITY_HOST` moves it).
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// The Azure Storage emulator's well-known account and key
/// (`UseDevelopmentStorage=true`); public, documented by Microsoft.
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Where an [`AzureRemote`](super::AzureRemote)'s credentials came from (see
/// the module docs for the order). Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// No credentials: `allow_anonymous_login = true`, or a connection
    /// string without a key or SAS (`via` says which).
    Anonymous {
        /// Why.
        via: &'static str,
    },
    /// The account key (SharedKey signatures).
    AccountKey {
        /// Where the key came from.
        via: &'static str,
    },
    /// A shared access signature.
    Sas {
        /// Where it came from.
        via: &'static str,
    },
    /// A Microsoft Entra ID application (client id and secret).
    ServicePrincipal {
        /// The tenant.
        tenant: String,
        /// The application (client) id.
        client_id: String,
        /// Where they came from.
        via: &'static str,
    },
    /// Workload identity: a federated token file traded for a token.
    WorkloadIdentity {
        /// The tenant.
        tenant: String,
        /// The application (client) id.
        client_id: String,
        /// The token file (`AZURE_FEDERATED_TOKEN_FILE`).
        file: PathBuf,
    },
    /// The machine's managed identity.
    ManagedIdentity {
        /// The identity endpoint asked.
        endpoint: String,
    },
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Anonymous { via } => write!(f, "no credentials ({via})"),
            CredentialSource::AccountKey { via } => write!(f, "the account key from {via}"),
            CredentialSource::Sas { via } => write!(f, "the SAS token from {via}"),
            CredentialSource::ServicePrincipal {
                tenant,
                client_id,
                via,
            } => write!(
                f,
                "service principal `{client_id}` of tenant `{tenant}` from {via}"
            ),
            CredentialSource::WorkloadIdentity {
                tenant,
                client_id,
                file,
            } => write!(
                f,
                "workload identity `{client_id}` of tenant `{tenant}` (`{}`)",
                file.display()
            ),
            CredentialSource::ManagedIdentity { endpoint } => {
                write!(f, "the managed identity at `{endpoint}`")
            }
        }
    }
}

/// How requests are authorized.
pub(super) enum Auth {
    /// No `Authorization` header.
    Anonymous,
    /// `Authorization: SharedKey <account>:<signature>`.
    SharedKey(Secret),
    /// The SAS query string, appended to every URL.
    Sas(Secret),
    /// `Authorization: Bearer <token>`, the token kept fresh.
    Token(TokenCache),
}

/// What a provider found.
pub(super) struct Found {
    pub auth: Auth,
    pub source: CredentialSource,
}

/// The help line for missing or refused credentials.
pub(super) const CREDENTIALS_HELP: &str = "set the remote's `connection_string`, or \
     `account_name` with `account_key`, `sas_token` or a service principal \
     (`tenant_id`, `client_id`, `client_secret`), with `dvc remote modify --local`, \
     or the AZURE_STORAGE_CONNECTION_STRING / AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY \
     environment variables";

/// A value and where it came from.
pub(super) type Sourced = Option<(String, &'static str)>;

/// The settings dvc-azure gathers before choosing a credential: each value
/// is the remote's option, else its `AZURE_STORAGE_*` variable, else the
/// Azure CLI config's `[storage]` key (`$AZURE_CONFIG_DIR/config`, by
/// default `~/.azure/config`), else adlfs' fallback variable.
pub(super) struct Settings {
    pub connection_string: Option<(ConnectionString, &'static str)>,
    pub account_name: Sourced,
    pub account_key: Sourced,
    pub sas_token: Sourced,
    pub tenant_id: Sourced,
    pub client_id: Sourced,
    pub client_secret: Sourced,
    /// The blob endpoint, no trailing `/`.
    pub endpoint: String,
    /// The account name signatures use.
    pub account: String,
}

impl Settings {
    /// Gathers the values. `url` names the remote for messages.
    pub fn read(cx: &Context<'_>) -> Result<Settings> {
        let config_dir = cx
            .env("AZURE_CONFIG_DIR")
            .map(|d| cx.expand_home(&d))
            .or_else(|| cx.home().map(|h| h.join(".azure")));
        let config = match &config_dir {
            Some(dir) => Ini::load(&dir.join("config"))?,
            None => None,
        };
        let storage = config.as_ref().and_then(|c| c.section("storage"));
        let pick = |option: &str, var: &'static str, key: &str, fallback: Option<&'static str>| {
            cx.option(option)
                .map(|v| (v.to_string(), remote_option(option)))
                .or_else(|| cx.env(var).map(|v| (v, var)))
                .or_else(|| {
                    storage
                        .and_then(|s| s.get(key))
                        .map(|v| (v.to_string(), "the Azure CLI config (`[storage]`)"))
                })
                .or_else(|| fallback.and_then(|f| cx.env(f).map(|v| (v, f))))
        };
        let connection_string = match pick(
            "connection_string",
            "AZURE_STORAGE_CONNECTION_STRING",
            "connection_string",
            None,
        ) {
            Some((text, via)) => Some((ConnectionString::parse(&text, via, cx.url())?, via)),
            None => None,
        };
        let account_name = pick(
            "account_name",
            "AZURE_STORAGE_ACCOUNT",
            "account",
            Some("AZURE_STORAGE_ACCOUNT_NAME"),
        );
        let from_env = |option: &str, var: &'static str| {
            cx.option(option)
                .map(|v| (v.to_string(), remote_option(option)))
                .or_else(|| cx.env(var).map(|v| (v, var)))
        };
        let mut settings = Settings {
            account_key: pick(
                "account_key",
                "AZURE_STORAGE_KEY",
                "key",
                Some("AZURE_STORAGE_ACCOUNT_KEY"),
            ),
            sas_token: pick("sas_token", "AZURE_STORAGE_SAS_TOKEN", "sas_token", None),
            tenant_id: from_env("tenant_id", "AZURE_STORAGE_TENANT_ID"),
            client_id: from_env("client_id", "AZURE_STORAGE_CLIENT_ID"),
            client_secret: from_env("client_secret", "AZURE_STORAGE_CLIENT_SECRET"),
            endpoint: String::new(),
            account: String::new(),
            connection_string,
            account_name,
        };
        // The endpoint and account: the connection string's, else the
        // account name's public endpoint (as adlfs, which DVC cannot point
        // elsewhere).
        match (&settings.connection_string, &settings.account_name) {
            (Some((cs, _)), _) => {
                settings.endpoint = cs.endpoint.clone();
                settings.account = cs
                    .account
                    .clone()
                    .or_else(|| settings.account_name.as_ref().map(|(a, _)| a.clone()))
                    .or_else(|| account_of_endpoint(&cs.endpoint))
                    .unwrap_or_default();
            }
            (None, Some((account, _))) => {
                settings.endpoint = format!("https://{account}.blob.core.windows.net");
                settings.account = account.clone();
            }
            (None, None) => {
                return Err(Error::new(
                    ErrorKind::Auth,
                    format!(
                        "Azure remote `{}`: authentication to Azure Blob Storage requires \
                         either `account_name` or `connection_string`",
                        crate::redact::url(cx.url())
                    ),
                )
                .with_help(CREDENTIALS_HELP));
            }
        }
        Ok(settings)
    }
}

/// How an option is named in messages.
fn remote_option(option: &str) -> &'static str {
    match option {
        "connection_string" => "the remote's `connection_string`",
        "account_name" => "the remote's `account_name`",
        "account_key" => "the remote's `account_key`",
        "sas_token" => "the remote's `sas_token`",
        "tenant_id" => "the remote's `tenant_id`",
        "client_id" => "the remote's `client_id`",
        "client_secret" => "the remote's `client_secret`",
        _ => "the remote's options",
    }
}

/// The account of an endpoint: the first label of `<account>.blob...`, or
/// the first path segment of an emulator's `http://host:port/<account>`.
fn account_of_endpoint(endpoint: &str) -> Option<String> {
    let rest = endpoint.split_once("://")?.1;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.split(':').next().unwrap_or(host);
    let first_path = path.split('/').next().filter(|s| !s.is_empty());
    let is_ip = host.parse::<std::net::IpAddr>().is_ok() || host == "localhost";
    if is_ip {
        first_path.map(str::to_string)
    } else {
        host.split('.').next().map(str::to_string)
    }
}

/// A parsed storage connection string (`Key=Value;...`).
pub(super) struct ConnectionString {
    pub account: Option<String>,
    pub key: Option<Secret>,
    pub sas: Option<Secret>,
    /// The blob endpoint, no trailing `/`.
    pub endpoint: String,
}

impl ConnectionString {
    /// Parses `text` (named by `via`).
    fn parse(text: &str, via: &'static str, url: &str) -> Result<ConnectionString> {
        let broken = |what: &str| {
            Error::new(
                ErrorKind::Auth,
                format!(
                    "Azure remote `{}`: the connection string from {via} {what}",
                    crate::redact::url(url)
                ),
            )
            .with_help(
                "a connection string is `AccountName=...;AccountKey=...` (or `SharedAccessSignature=...`), \
                 with `BlobEndpoint=...` for another endpoint than Azure's",
            )
        };
        let mut fields: Vec<(String, String)> = Vec::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(broken("has a part that is not `Key=Value`"));
            };
            fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let get = |k: &str| {
            fields
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        if get("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(ConnectionString {
                account: Some(DEV_ACCOUNT.to_string()),
                key: Some(Secret::new(DEV_KEY)),
                sas: None,
                endpoint: format!("http://127.0.0.1:10000/{DEV_ACCOUNT}"),
            });
        }
        let account = get("accountname");
        let endpoint = match get("blobendpoint") {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => {
                let Some(account) = &account else {
                    return Err(broken("names neither `AccountName` nor `BlobEndpoint`"));
                };
                let protocol = get("defaultendpointsprotocol").unwrap_or_else(|| "https".into());
                let suffix = get("endpointsuffix").unwrap_or_else(|| "core.windows.net".into());
                format!("{protocol}://{account}.blob.{suffix}")
            }
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(broken("has a `BlobEndpoint` that is not an http(s) URL"));
        }
        Ok(ConnectionString {
            account,
            key: get("accountkey").map(Secret::new),
            sas: get("sharedaccesssignature").map(Secret::new),
            endpoint,
        })
    }
}

/// The credential order, first to last. [`resolve`] runs it.
pub(super) fn chain<'a>(settings: &'a Settings, agent: &'a ureq::Agent) -> Chain<'a, Found> {
    Chain::first_try(Anonymous)
        .or_else(ConnectionStringKey { settings })
        .or_else(AccountKey { settings })
        .or_else(SasToken { settings })
        .or_else(ServicePrincipal { settings, agent })
        .or_else(EnvironmentCredential { agent })
        .or_else(WorkloadIdentity { agent })
        .or_else(ManagedIdentity { agent })
        .or_else(KeylessConnectionString { settings })
}

/// Runs [`chain`]; nothing found is an error before any request (as in
/// DVC, whose DefaultAzureCredential then fails).
pub(super) fn resolve(cx: &Context<'_>, settings: &Settings, agent: &ureq::Agent) -> Result<Found> {
    let chain = chain(settings, agent);
    match chain.load(cx)? {
        Some(answer) => Ok(answer.credential),
        None => Err(Error::new(
            ErrorKind::Auth,
            format!(
                "no Azure credentials for remote `{}` (account `{}`): looked for {}",
                crate::redact::url(cx.url()),
                settings.account,
                chain.names().join(", ")
            ),
        )
        .with_help(format!(
            "{CREDENTIALS_HELP}; for a public container set `allow_anonymous_login = true`"
        ))),
    }
}

/// 1. `allow_anonymous_login = true`: no credentials, even if some exist.
struct Anonymous;

impl Provider for Anonymous {
    type Credential = Found;
    fn name(&self) -> &'static str {
        "allow_anonymous_login"
    }
    fn load(&self, cx: &Context<'_>) -> Result<Option<Found>> {
        match cx.option("allow_anonymous_login") {
            None => Ok(None),
            Some(v) => match parse_bool(v) {
                Some(true) => Ok(Some(Found {
                    auth: Auth::Anonymous,
                    source: CredentialSource::Anonymous {
                        via: "allow_anonymous_login",
                    },
                })),
                Some(false) => Ok(None),
                None => Err(super::config_error(
                    cx.url(),
                    format!("`allow_anonymous_login = {v}` is not a boolean"),
                )),
            },
        }
    }
}

/// 2. The connection string's `AccountKey` or `SharedAccessSignature`: it
///    beats every other option, as in adlfs.
struct ConnectionStringKey<'a> {
    settings: &'a Settings,
}

impl Provider for ConnectionStringKey<'_> {
    type Credential = Found;
    fn name(&self) -> &'static str {
        "connection string"
    }
    fn load(&self, cx: &Context<'_>) -> Result<Option<Found>> {
        let Some((cs, via)) = &self.settings.connection_string else {
            return Ok(None);
        };
        if let Some(key) = &cs.key {
            return Ok(Some(Found {
                auth: Auth::SharedKey(decode_key(key, via, cx.url())?),
                source: CredentialSource::AccountKey { via },
            }));
        }
        Ok(cs.sas.as_ref().map(|sas| Found {
            auth: Auth::Sas(Secret::new(sas.expose().trim_start_matches('?'))),
            source: CredentialSource::Sas { via },
        }))
    }
}

/// 3. `account_key` (`AZURE_STORAGE_KEY`, ...): SharedKey.
struct AccountKey<'a> {
    settings: &'a Settings,
}

impl Provider for AccountKey<'_> {
    type Credential = Found;
    fn name(&self) -> &'static str {
        "account key"
    }
    fn load(&self, cx: &Context<'_>) -> Result<Option<Found>> {
        let Some((key, via)) = &self.settings.account_key else {
            return Ok(None);
        };
        Ok(Some(Found {
            auth: Auth::SharedKey(decode_key(&Secret::new(key.clone()), via, cx.url())?),
            source: CredentialSource::AccountKey { via },
        }))
    }
}

/// The account key, base64-decoded.
fn decode_key(key: &Secret, via: &str, url: &str) -> Result<Secret> {
    base64::engine::general_purpose::STANDARD
        .decode(key.expose().trim())
        .ok()
        .filter(|k| !k.is_empty())
        // The decoded key is bytes; keep it as base64 text in a `Secret`.
        .map(|k| Secret::new(base64::engine::general_purpose::STANDARD.encode(k)))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Auth,
                format!(
                    "Azure remote `{}`: the account key from {via} is not base64",
                    crate::redact::url(url)
                ),
            )
            .with_help("copy the key again from the storage account's \"Access keys\"")
        })
}

/// 4. `sas_token` (`AZURE_STORAGE_SAS_TOKEN`, ...).
struct SasToken<'a> {
    settings: &'a Settings,
}

impl Provider for SasToken<'_> {
    type Credential = Found;
    fn name(&self) -> &'static str {
        "SAS token"
    }
    fn load(&self, _cx: &Context<'_>) -> Result<Option<Found>> {
        Ok(self.settings.sas_token.as_ref().map(|(sas, via)| Found {
            auth: Auth::Sas(Secret::new(sas.trim_start_matches('?'))),
            source: CredentialSource::Sas { via },
        }))
    }
}

/// 5. A service principal: `tenant_id` + `client_id` + `client_secret`
///    (`AZURE_STORAGE_TENANT_ID`, ...). Some but not all is an error.
struct ServicePrincipal<'a> {
    settings: &'a Settings,
    agent: &'a ureq::Agent,
}

impl Provider for ServicePrincipal<'_> {
    type Credential = Found;
    fn name(&self) -> &'static str {
        "service principal"
    }
    fn load(&self, cx: &Context<'_>) -> Result<Option<Found>> {
        let s = self.settings;
        match (&s.tenant_id, &s.client_id, &s.client_secret) {
            (None, None, None) => Ok(None),
            (Some((tenant, via)), Some((client_id, _)), Some((secret, _))) => {
                let via = if via.starts_with("AZURE_") {
                    "AZURE_STORAGE_TENANT_ID/AZURE_STORAGE_CLIENT_ID/AZURE_STORAGE_CLIENT_SECRET"
                } else {
                    "the remote's `tenant_id`/`client_id`/`client_secret`"
                };
                Ok(Some(client_secret_credential(
                    cx,
                    self.agent,
                    tenant,
                    client_id,
                    secret,
                    via,
                )))
            }
            _ => Err(Error::new(
                ErrorKind::Auth,
                format!(
                    "Azure remote `{}`: only some of `tenant_id`, `client_id` and `client_secret` are set",
                    crate::redact::url(cx.url())
                ),
            )
            .with_help("a service principal needs all three (`dvc remote modify --local <remote> client_secret ...`)")),
        }
    }
}

/// 6. DefaultAzureCredential's environment credential:
///    `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET`.
struct EnvironmentCredential<'a> {
    agent: &'a ureq::Agent,
}

impl Provider for EnvironmentCredential<'_> {
    type Credential = Found;
    fn name(&self) -> &'static str {
        "AZURE_CLIENT_SECRET"
    }
    fn load(&self, cx: &Context<'_>) -> Result<Option<Found>> {
        let (Some(tenant), Some(client_id)) =
            (cx.env("AZURE_TENANT_ID"), cx.env("AZURE_CLIENT_ID"))
        else {
            return Ok(None);
        };
        if let Some(secret) = cx.env("AZURE_CLIENT_SECRET") {
            return Ok(Some(client_secret_credential(
                cx,
                self.agent,
                &tenant,
                &client_id,
                &secret,
                "AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET",
            )));
        }
        if cx.env("AZURE_CLIENT_CERTIFICATE_PATH").is_some() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "Azure remote `{}`: AZURE_CLIENT_CERTIFICATE_PATH (a certificate credential) is not supported",
                    crate::redact::url(cx.url())
                ),
            )
            .with_help("use a client secret (AZURE_CLIENT_SECRET), an account key or a SAS token"));
        }
        Ok(None)
    }
}

/// A client-secret token source and where it came from.
fn client_secret_credential(
    cx: &Context<'_>,
    agent: &ureq::Agent,
    tenant: &str,
    client_id: &str,
    secret: &str,
    via: &'static str,
) -> Found {
    let source = CredentialSource::ServicePrincipal {
        tenant: tenant.to_string(),
        client_id: client_id.to_string(),
        via,
    };
    Found {
        auth: Auth::Token(TokenCache::new(Box::new(EntraToken {
            who: source.to_string(),
            url: token_url(cx, tenant),
            client_id: client_id.to_string(),
            grant: EntraGrant::Secret(Secret::new(secret)),
            agent: agent.clone(),
        }))),
        source,
    }
}

/// Entra ID's token endpoint for `tenant`: `AZURE_AUTHORITY_HOST` (as
/// azure-identity reads it), else the public cloud's.
fn token_url(cx: &Context<'_>, tenant: &str) -> String {
    let authority = cx
        .env("AZURE_AUTHORITY_HOST")
        .map(|a| {
            if a.contains("://") {
                a
            } else {
                format!("https://{a}")
            }
        })
        .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
    format!(
        "{}/{}/oauth2/v2.0/token",
        authority.trim_end_matches('/'),
        crate::remote::rest::encode(tenant, false)
    )
}

/// 7. DefaultAzureCredential's workload identity: `AZURE_FEDERATED_TOKEN_FILE`,
///    `AZURE_CLIENT_ID` and `AZURE_TENANT_ID` (Kubernetes); the file's token
///    is traded for a storage token.
struct WorkloadIdentity<'a> {
    agent: &'a ureq::Agent,
}

impl Provider for WorkloadIdentity<'_> {
    type Credential = Found;
    fn name(&self) -> &'static str {
        "workload identity"
    }
    fn load(&self, cx: &Context<'_>) -> Result<Option<Found>> {
        let (Some(file), Some(tenant), Some(client_id)) = (
            cx.env("AZURE_FEDERATED_TOKEN_FILE"),
            cx.env("AZURE_TENANT_ID"),
            cx.env("AZURE_CLIENT_ID"),
        ) else {
            return Ok(None);
        };
        let file = cx.expand_home(&file);
        let source = CredentialSource::WorkloadIdentity {
            tenant: tenant.clone(),
            client_id: client_id.clone(),
            file: file.clone(),
        };
        Ok(Some(Found {
            auth: Auth::Token(TokenCache::new(Box::new(EntraToken {
                who: source.to_string(),
                url: token_url(cx, &tenant),
                client_id,
                grant: EntraGrant::FederatedTokenFile(file),
                agent: self.agent.clone(),
            }))),
            source,
        }))
    }
}

/// 8. The machine's managed identity: App Service's `IDENTITY_ENDPOINT` +
///    `IDENTITY_HEADER`, else the instance metadata service (IMDS) at
///    `AZURE_POD_IDENTITY_AUTHORITY_HOST`, or at `169.254.169.254` on an
///    Azure VM (its DMI chassis asset tag). Unlike azure-identity, we do not
///    probe the network for IMDS. `AZURE_CLIENT_ID` picks a user-assigned
///    identity.
struct ManagedIdentity<'a> {
    agent: &'a ureq::Agent,
}

impl Provider for ManagedIdentity<'_> {
    type Credential = Found;
    fn name(&self) -> &'static str {
        "managed identity"
    }
    fn load(&self, cx: &Context<'_>) -> Result<Option<Found>> {
        let client_id = cx.env("AZURE_CLIENT_ID");
        let resource = "https://storage.azure.com/";
        let (url, header) = match (cx.env("IDENTITY_ENDPOINT"), cx.env("IDENTITY_HEADER")) {
            (Some(endpoint), Some(header)) => (
                format!(
                    "{endpoint}?api-version=2019-08-01&resource={}",
                    crate::remote::rest::encode(resource, false)
                ),
                ("X-IDENTITY-HEADER", Secret::new(header)),
            ),
            _ => {
                let host = match cx.env("AZURE_POD_IDENTITY_AUTHORITY_HOST") {
                    Some(host) => host.trim_end_matches('/').to_string(),
                    None if on_azure_vm() => "http://169.254.169.254".to_string(),
                    None => return Ok(None),
                };
                (
                    format!(
                        "{host}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={}",
                        crate::remote::rest::encode(resource, false)
                    ),
                    ("Metadata", Secret::new("true")),
                )
            }
        };
        let url = match &client_id {
            Some(id) => format!("{url}&client_id={}", crate::remote::rest::encode(id, false)),
            None => url,
        };
        let endpoint = url.split('?').next().unwrap_or(&url).to_string();
        let source = CredentialSource::ManagedIdentity { endpoint };
        Ok(Some(Found {
            auth: Auth::Token(TokenCache::new(Box::new(ManagedIdentityToken {
                who: source.to_string(),
                url,
                header,
                agent: self.agent.clone(),
            }))),
            source,
        }))
    }
}

/// `true` on an Azure VM (the chassis asset tag Azure sets).
fn on_azure_vm() -> bool {
    std::fs::read_to_string("/sys/class/dmi/id/chassis_asset_tag")
        .is_ok_and(|tag| tag.trim() == "7783-7084-3265-9085-8269-3286-77")
}

/// 9. A connection string without a key or SAS: requests carry no
///    credentials (adlfs connects anonymously with it).
struct KeylessConnectionString<'a> {
    settings: &'a Settings,
}

impl Provider for KeylessConnectionString<'_> {
    type Credential = Found;
    fn name(&self) -> &'static str {
        "a connection string without a key"
    }
    fn load(&self, _cx: &Context<'_>) -> Result<Option<Found>> {
        Ok(self.settings.connection_string.as_ref().map(|_| Found {
            auth: Auth::Anonymous,
            source: CredentialSource::Anonymous {
                via: "a connection string without a key or SAS",
            },
        }))
    }
}

/// How an Entra ID token is asked for.
enum EntraGrant {
    /// `client_secret`.
    Secret(Secret),
    /// `client_assertion` read from this file at each exchange.
    FederatedTokenFile(PathBuf),
}

/// Microsoft Entra ID's client-credentials grant, for the storage scope.
struct EntraToken {
    who: String,
    url: String,
    client_id: String,
    grant: EntraGrant,
    agent: ureq::Agent,
}

impl TokenSource for EntraToken {
    fn describe(&self) -> String {
        self.who.clone()
    }
    fn fetch(&self) -> Result<Token, FetchError> {
        match &self.grant {
            EntraGrant::Secret(secret) => oauth::post_form(
                &self.agent,
                &self.url,
                &[
                    ("client_id", &self.client_id),
                    ("client_secret", secret.expose()),
                    ("scope", STORAGE_SCOPE),
                    ("grant_type", "client_credentials"),
                ],
                &self.who,
            ),
            EntraGrant::FederatedTokenFile(file) => {
                let assertion = std::fs::read_to_string(file).map_err(|e| {
                    FetchError::Permanent(Error::new(
                        ErrorKind::Auth,
                        format!("{}: cannot read the token file: {e}", self.who),
                    ))
                })?;
                oauth::post_form(
                    &self.agent,
                    &self.url,
                    &[
                        ("client_id", &self.client_id),
                        (
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        ),
                        ("client_assertion", assertion.trim()),
                        ("scope", STORAGE_SCOPE),
                        ("grant_type", "client_credentials"),
                    ],
                    &self.who,
                )
            }
        }
    }
}

/// A managed identity's token.
struct ManagedIdentityToken {
    who: String,
    url: String,
    header: (&'static str, Secret),
    agent: ureq::Agent,
}

impl TokenSource for ManagedIdentityToken {
    fn describe(&self) -> String {
        self.who.clone()
    }
    fn fetch(&self) -> Result<Token, FetchError> {
        oauth::get(
            &self.agent,
            &self.url,
            &[(self.header.0, self.header.1.expose())],
            &self.who,
        )
    }
}

/// The expiry (`se=`) of a SAS query string, if it has one.
pub(super) fn sas_expiry(sas: &str) -> Option<std::time::SystemTime> {
    sas.split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("se"))
        .and_then(|(_, v)| crate::remote::rest::parse_iso8601(&percent_decode(v)))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings() {
        let cs = ConnectionString::parse(
            "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/acct/;",
            "test",
            "azure://c",
        )
        .unwrap();
        assert_eq!(cs.endpoint, "http://127.0.0.1:10000/acct");
        assert_eq!(cs.account.as_deref(), Some("acct"));
        assert_eq!(cs.key.as_ref().map(Secret::expose), Some("a2V5"));
        let cs = ConnectionString::parse(
            "AccountName=acct;SharedAccessSignature=sv=1&sig=x;EndpointSuffix=core.chinacloudapi.cn",
            "test",
            "azure://c",
        )
        .unwrap();
        assert_eq!(cs.endpoint, "https://acct.blob.core.chinacloudapi.cn");
        assert_eq!(cs.sas.as_ref().map(Secret::expose), Some("sv=1&sig=x"));
        let cs = ConnectionString::parse("UseDevelopmentStorage=true", "t", "azure://c").unwrap();
        assert_eq!(cs.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        for bad in [
            "AccountKey=abc",
            "garbage",
            "BlobEndpoint=ftp://x;AccountName=a",
        ] {
            let err = ConnectionString::parse(bad, "t", "azure://c")
                .err()
                .unwrap();
            assert_eq!(err.kind(), ErrorKind::Auth, "{bad}");
            assert!(!err.to_string().contains("abc"), "{err}");
        }
    }

    #[test]
    fn accounts_of_endpoints() {
        assert_eq!(
            account_of_endpoint("https://acct.blob.core.windows.net").as_deref(),
            Some("acct")
        );
        assert_eq!(
            account_of_endpoint("http://127.0.0.1:10000/dev1").as_deref(),
            Some("dev1")
        );
        assert_eq!(
            account_of_endpoint("http://localhost:10000/dev1/").as_deref(),
            Some("dev1")
        );
    }

    #[test]
    fn sas_expiries() {
        let t = sas_expiry("sv=2021-08-06&se=2026-11-30T13%3A20%3A01Z&sr=c&sig=abc").unwrap();
        assert_eq!(
            crate::remote::rest::http_date(t),
            "Mon, 30 Nov 2026 13:20:01 GMT"
        );
        assert_eq!(sas_expiry("sv=1&sig=x"), None);
    }
}
