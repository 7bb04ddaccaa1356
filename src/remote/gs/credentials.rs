//! Where a GCS remote's credentials come from, in DVC's order (dvc-gs hands
//! its options to gcsfs, which asks google-auth); see [`chain`] and the
//! module docs of [`crate::remote::gs`].
//!
//! Every credential but anonymous access is an OAuth 2.0 access token from
//! a token exchange ([`TokenSource`]):
//!
//! * a **service-account key** signs a JWT with its RSA key (RS256) and
//!   trades it at the key's `token_uri` (`grant_type=urn:ietf:params:oauth:
//!   grant-type:jwt-bearer`);
//! * an **authorized-user** file (`gcloud auth application-default login`)
//!   trades its refresh token (`grant_type=refresh_token`);
//! * the **metadata server** of a Google Cloud VM hands out the attached
//!   service account's tokens (`Metadata-Flavor: Google`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};

use crate::error::{Error, ErrorKind, Result};
use crate::remote::FetchError;
use crate::remote::credentials::{
    Chain, Context, Provider, Secret, Token, TokenCache, TokenSource, oauth, parse_bool,
};

/// Google's token endpoint: the default `token_uri`, and always the JWT's
/// audience (as google-auth sends it, whatever the key's `token_uri`).
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The scope asked for: reading objects is all a DVC import does.
pub const READ_ONLY_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";

/// Where a [`GcsRemote`](super::GcsRemote)'s credentials came from (see the
/// module docs for the order). Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `allow_anonymous_login = true`: requests carry no credentials.
    Anonymous,
    /// No source had credentials: requests carry none (as in gcsfs, whose
    /// chain ends with anonymous access).
    NotFound,
    /// A service-account key file.
    ServiceAccount {
        /// The account (`client_email`).
        email: String,
        /// The key file.
        file: PathBuf,
        /// How the file was named: `credentialpath`,
        /// `GOOGLE_APPLICATION_CREDENTIALS` or the gcloud default file.
        via: &'static str,
    },
    /// An authorized-user file (a refresh token).
    AuthorizedUser {
        /// The file.
        file: PathBuf,
        /// How the file was named (as for `ServiceAccount`).
        via: &'static str,
    },
    /// The metadata server of a Google Cloud machine.
    MetadataServer {
        /// Its host (and port).
        host: String,
    },
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Anonymous => f.write_str("anonymous (allow_anonymous_login)"),
            CredentialSource::NotFound => f.write_str("no credentials (anonymous)"),
            CredentialSource::ServiceAccount { email, file, via } => write!(
                f,
                "service account `{email}` from {via} (`{}`)",
                file.display()
            ),
            CredentialSource::AuthorizedUser { file, via } => {
                write!(f, "the refresh token from {via} (`{}`)", file.display())
            }
            CredentialSource::MetadataServer { host } => {
                write!(f, "the metadata server at `{host}`")
            }
        }
    }
}

/// How requests are authorized.
pub(super) enum Auth {
    /// No `Authorization` header.
    Anonymous,
    /// `Authorization: Bearer <token>`, the token kept fresh.
    Token(TokenCache),
}

/// What a provider found.
pub(super) struct Found {
    pub auth: Auth,
    pub source: CredentialSource,
}

/// The help line for missing or refused credentials.
pub(super) const CREDENTIALS_HELP: &str = "name a service-account key with the remote's \
     `credentialpath` (`dvc remote modify --local <remote> credentialpath key.json`) or \
     GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`";

/// The credential order, first to last. [`resolve`] runs it.
pub(super) fn chain(agent: &ureq::Agent) -> Chain<'_, Found> {
    Chain::first_try(Anonymous)
        .or_else(KeyFile {
            agent,
            via: Via::CredentialPath,
        })
        .or_else(KeyFile {
            agent,
            via: Via::Environment,
        })
        .or_else(KeyFile {
            agent,
            via: Via::GcloudDefault,
        })
        .or_else(MetadataServer { agent })
}

/// Runs [`chain`]; when nothing answers, requests go without credentials
/// (gcsfs ends its chain with anonymous access too), and a refusal then
/// says what was looked for.
pub(super) fn resolve(cx: &Context<'_>, agent: &ureq::Agent) -> Result<Found> {
    Ok(match chain(agent).load(cx)? {
        Some(answer) => answer.credential,
        None => Found {
            auth: Auth::Anonymous,
            source: CredentialSource::NotFound,
        },
    })
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
                    source: CredentialSource::Anonymous,
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

/// How a key file is named.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    /// 2. The remote's `credentialpath`: that file only.
    CredentialPath,
    /// 3. `GOOGLE_APPLICATION_CREDENTIALS`.
    Environment,
    /// 4. gcloud's application-default file:
    ///    `$CLOUDSDK_CONFIG/application_default_credentials.json`, by default
    ///    under `~/.config/gcloud` (`%APPDATA%\gcloud` on Windows). Skipped
    ///    when it does not exist.
    GcloudDefault,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::CredentialPath => "credentialpath",
            Via::Environment => "GOOGLE_APPLICATION_CREDENTIALS",
            Via::GcloudDefault => "the gcloud application-default credentials",
        }
    }
}

/// 2.–4. A JSON key file: a service-account key or an authorized user.
struct KeyFile<'a> {
    agent: &'a ureq::Agent,
    via: Via,
}

impl Provider for KeyFile<'_> {
    type Credential = Found;
    fn name(&self) -> &'static str {
        self.via.name()
    }
    fn load(&self, cx: &Context<'_>) -> Result<Option<Found>> {
        let path = match self.via {
            Via::CredentialPath => cx.option("credentialpath").map(|p| cx.expand_home(p)),
            Via::Environment => cx
                .env("GOOGLE_APPLICATION_CREDENTIALS")
                .map(|p| cx.expand_home(&p)),
            Via::GcloudDefault => {
                let Some(path) = gcloud_default_file(cx) else {
                    return Ok(None);
                };
                if !path.is_file() {
                    return Ok(None);
                }
                Some(path)
            }
        };
        let Some(path) = path else {
            return Ok(None);
        };
        key_file(cx, &path, self.via.name(), self.agent).map(Some)
    }
}

/// gcloud's application-default credentials file.
fn gcloud_default_file(cx: &Context<'_>) -> Option<PathBuf> {
    let config = match cx.env("CLOUDSDK_CONFIG") {
        Some(dir) => cx.expand_home(&dir),
        None if cfg!(windows) => PathBuf::from(cx.env("APPDATA")?).join("gcloud"),
        None => cx.home()?.join(".config").join("gcloud"),
    };
    Some(config.join("application_default_credentials.json"))
}

/// Reads the key file at `path` (named by `via`) and makes its token source.
fn key_file(
    cx: &Context<'_>,
    path: &Path,
    via: &'static str,
    agent: &ureq::Agent,
) -> Result<Found> {
    let broken = |what: String| {
        Error::new(
            ErrorKind::Auth,
            format!(
                "GCS remote `{}`: the key file `{}` (from {via}) {what}",
                crate::redact::url(cx.url()),
                path.display()
            ),
        )
        .with_help(CREDENTIALS_HELP)
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(broken("does not exist".to_string()));
        }
        Err(e) => return Err(Error::io("read the GCS key file", path, e)),
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| broken(format!("is not JSON ({e})")))?;
    let field = |name: &str| {
        json.get(name)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let token_uri = field("token_uri").unwrap_or(GOOGLE_TOKEN_URI).to_string();
    match field("type") {
        Some("service_account") => {
            let email = field("client_email")
                .ok_or_else(|| broken("has no `client_email`".to_string()))?
                .to_string();
            let pem = field("private_key")
                .ok_or_else(|| broken("has no `private_key`".to_string()))?;
            let key = rsa::PrivateKey::from_pkcs8_pem(pem)
                .or_else(|_| rsa::PrivateKey::from_pkcs1_pem(pem))
                .map_err(|_| {
                    broken("holds a `private_key` that is not a PEM RSA private key".to_string())
                })?;
            let source = CredentialSource::ServiceAccount {
                email: email.clone(),
                file: path.to_path_buf(),
                via,
            };
            Ok(Found {
                auth: Auth::Token(TokenCache::new(Box::new(ServiceAccount {
                    who: source.to_string(),
                    email,
                    key_id: field("private_key_id").map(str::to_string),
                    key: rsa::pkcs1v15::SigningKey::new(key),
                    token_uri,
                    agent: agent.clone(),
                }))),
                source,
            })
        }
        Some("authorized_user") => {
            let get = |name: &str| {
                field(name)
                    .map(str::to_string)
                    .ok_or_else(|| broken(format!("has no `{name}`")))
            };
            let source = CredentialSource::AuthorizedUser {
                file: path.to_path_buf(),
                via,
            };
            Ok(Found {
                auth: Auth::Token(TokenCache::new(Box::new(AuthorizedUser {
                    who: source.to_string(),
                    client_id: get("client_id")?,
                    client_secret: Secret::new(get("client_secret")?),
                    refresh_token: Secret::new(get("refresh_token")?),
                    token_uri,
                    agent: agent.clone(),
                }))),
                source,
            })
        }
        Some(other) => Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "GCS remote `{}`: the key file `{}` (from {via}) is of type `{other}`, which dvc-build cannot use",
                crate::redact::url(cx.url()),
                path.display()
            ),
        )
        .with_help(
            "use a service-account key or `gcloud auth application-default login` credentials, \
             or export a token source's result as a service-account key",
        )),
        None => Err(broken("has no `type`".to_string())),
    }
}

/// 5. The metadata server of a Google Cloud machine: `GCE_METADATA_HOST`
///    (or `GCE_METADATA_IP`), else `metadata.google.internal` when the
///    machine says it is Google's (its DMI product name). Never asked when
///    `NO_GCE_CHECK` is true. (google-auth probes the network for it; we
///    only ask where it is known to be, so no request leaves a machine off
///    Google Cloud.)
struct MetadataServer<'a> {
    agent: &'a ureq::Agent,
}

impl Provider for MetadataServer<'_> {
    type Credential = Found;
    fn name(&self) -> &'static str {
        "the metadata server"
    }
    fn load(&self, cx: &Context<'_>) -> Result<Option<Found>> {
        if cx.env("NO_GCE_CHECK").as_deref().and_then(parse_bool) == Some(true) {
            return Ok(None);
        }
        let host = match cx
            .env("GCE_METADATA_HOST")
            .or_else(|| cx.env("GCE_METADATA_IP"))
        {
            Some(host) => host,
            None if on_google_cloud() => "metadata.google.internal".to_string(),
            None => return Ok(None),
        };
        let source = CredentialSource::MetadataServer { host: host.clone() };
        Ok(Some(Found {
            auth: Auth::Token(TokenCache::new(Box::new(Metadata {
                who: source.to_string(),
                url: format!(
                    "http://{host}/computeMetadata/v1/instance/service-accounts/default/token"
                ),
                agent: self.agent.clone(),
            }))),
            source,
        }))
    }
}

/// `true` on a Google Cloud VM (its DMI product name, as google-auth checks
/// on Linux).
fn on_google_cloud() -> bool {
    std::fs::read_to_string("/sys/class/dmi/id/product_name")
        .is_ok_and(|name| name.trim().starts_with("Google"))
}

/// A service account's key: a JWT signed with it, traded for a token.
struct ServiceAccount {
    who: String,
    email: String,
    key_id: Option<String>,
    key: rsa::pkcs1v15::SigningKey<sha2::Sha256>,
    token_uri: String,
    agent: ureq::Agent,
}

impl ServiceAccount {
    /// The signed JWT assertion, valid for an hour from now.
    fn assertion(&self) -> std::result::Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = serde_json::Value::String(kid.clone());
        }
        let claims = serde_json::json!({
            "iss": self.email,
            "scope": READ_ONLY_SCOPE,
            "aud": GOOGLE_TOKEN_URI,
            "iat": now,
            "exp": now + 3600,
        });
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signing_input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let signature = self
            .key
            .try_sign(signing_input.as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(format!(
            "{signing_input}.{}",
            b64.encode(signature.to_vec())
        ))
    }
}

impl TokenSource for ServiceAccount {
    fn describe(&self) -> String {
        self.who.clone()
    }
    fn fetch(&self) -> Result<Token, FetchError> {
        let assertion = self.assertion().map_err(|e| {
            FetchError::Permanent(Error::new(
                ErrorKind::Auth,
                format!("{}: cannot sign the token request: {e}", self.who),
            ))
        })?;
        oauth::post_form(
            &self.agent,
            &self.token_uri,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &assertion),
            ],
            &self.who,
        )
    }
}

/// An authorized user's refresh token, traded for a token.
struct AuthorizedUser {
    who: String,
    client_id: String,
    client_secret: Secret,
    refresh_token: Secret,
    token_uri: String,
    agent: ureq::Agent,
}

impl TokenSource for AuthorizedUser {
    fn describe(&self) -> String {
        self.who.clone()
    }
    fn fetch(&self) -> Result<Token, FetchError> {
        oauth::post_form(
            &self.agent,
            &self.token_uri,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &self.client_id),
                ("client_secret", self.client_secret.expose()),
                ("refresh_token", self.refresh_token.expose()),
            ],
            &self.who,
        )
    }
}

/// The metadata server's token for the machine's service account.
struct Metadata {
    who: String,
    url: String,
    agent: ureq::Agent,
}

impl TokenSource for Metadata {
    fn describe(&self) -> String {
        self.who.clone()
    }
    fn fetch(&self) -> Result<Token, FetchError> {
        oauth::get(
            &self.agent,
            &self.url,
            &[("Metadata-Flavor", "Google")],
            &self.who,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::signature::Verifier as _;

    #[test]
    fn the_jwt_is_signed_rs256_with_the_key_and_claims_what_google_expects() {
        let key = rsa::PrivateKey::from_pkcs8_pem(super::super::tests::TEST_KEY).unwrap();
        let public = key.to_public_key();
        let agent = ureq::Agent::new_with_defaults();
        let sa = ServiceAccount {
            who: "test".into(),
            email: "s@p.iam.gserviceaccount.com".into(),
            key_id: Some("k1".into()),
            key: rsa::pkcs1v15::SigningKey::new(key),
            token_uri: "http://127.0.0.1:1/token".into(),
            agent,
        };
        let jwt = sa.assertion().unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "k1"})
        );
        let claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "s@p.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], GOOGLE_TOKEN_URI);
        assert_eq!(claims["scope"], READ_ONLY_SCOPE);
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            3600
        );
        let signature =
            rsa::pkcs1v15::Signature::try_from(b64.decode(parts[2]).unwrap().as_slice()).unwrap();
        let verifier = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public);
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifier.verify(signed.as_bytes(), &signature).unwrap();
        assert!(verifier.verify(b"tampered", &signature).is_err());
    }
}
