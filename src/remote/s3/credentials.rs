//! Where an S3 remote's credentials come from, in DVC's order (DVC hands the
//! options to `s3fs`, which hands them to botocore); see [`chain`] and the
//! module docs of [`crate::remote::s3`].

use std::cell::OnceCell;
use std::fmt;
use std::path::{Path, PathBuf};

use rusty_s3::Credentials;

use crate::error::{Error, ErrorKind, Result};
use crate::remote::credentials::{Chain, Context, Ini, Provider, Section, parse_bool};

/// The help line for missing or refused credentials.
pub(super) const CREDENTIALS_HELP: &str = "set `access_key_id`/`secret_access_key` in the remote's options \
     (`dvc remote modify --local <remote> access_key_id ...`), \
     AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials \
     (`profile`/AWS_PROFILE)";

/// Where an [`S3Remote`](super::S3Remote)'s credentials came from (see the
/// module docs for the order). Never holds the credentials themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `allow_anonymous_login = true`: requests are unsigned.
    Anonymous,
    /// The remote's `access_key_id`/`secret_access_key` options.
    Options,
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`.
    Environment,
    /// A profile's section of an AWS credentials or config file.
    Profile {
        /// The profile name.
        name: String,
        /// The file it was read from.
        file: PathBuf,
    },
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Anonymous => f.write_str("anonymous (allow_anonymous_login)"),
            CredentialSource::Options => {
                f.write_str("the remote's access_key_id/secret_access_key")
            }
            CredentialSource::Environment => f.write_str("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"),
            CredentialSource::Profile { name, file } => {
                write!(f, "profile `{name}` in `{}`", file.display())
            }
        }
    }
}

/// What a provider found: the keys (`None`: anonymous) and where from.
pub(super) type Found = (Option<Credentials>, CredentialSource);

/// The AWS profile in use and its two files, read once for the providers
/// (and for the region and endpoint, which the config file may set).
pub(super) struct AwsFiles {
    /// The profile: the remote's `profile`, else `AWS_DEFAULT_PROFILE`, else
    /// `AWS_PROFILE`, else `default`.
    pub profile: String,
    /// `true` when the remote's options name the profile.
    pub explicit_profile: bool,
    pub credentials_file: Option<PathBuf>,
    /// Read on first use: only when no earlier source answered.
    credentials: OnceCell<Option<Ini>>,
    pub config_file: Option<PathBuf>,
    pub config: Option<Ini>,
}

impl AwsFiles {
    /// Finds the profile and reads both files (a missing file is no error).
    pub fn read(cx: &Context<'_>) -> Result<AwsFiles> {
        let explicit = cx.option("profile").map(str::to_string);
        let profile = explicit
            .clone()
            .or_else(|| cx.env("AWS_DEFAULT_PROFILE"))
            .or_else(|| cx.env("AWS_PROFILE"))
            .unwrap_or_else(|| "default".to_string());
        // DVC only sets AWS_SHARED_CREDENTIALS_FILE from `credentialpath`
        // when it is unset: the variable wins.
        let credentials_file = cx
            .env("AWS_SHARED_CREDENTIALS_FILE")
            .or_else(|| cx.option("credentialpath").map(str::to_string))
            .map(|p| cx.expand_home(&p))
            .or_else(|| cx.home().map(|h| h.join(".aws").join("credentials")));
        let config_file = cx
            .env("AWS_CONFIG_FILE")
            .or_else(|| cx.option("configpath").map(str::to_string))
            .map(|p| cx.expand_home(&p))
            .or_else(|| cx.home().map(|h| h.join(".aws").join("config")));
        let load = |path: &Option<PathBuf>| match path {
            Some(path) => Ini::load(path),
            None => Ok(None),
        };
        Ok(AwsFiles {
            profile,
            explicit_profile: explicit.is_some(),
            credentials: OnceCell::new(),
            credentials_file,
            config: load(&config_file)?,
            config_file,
        })
    }

    /// The profile's section of the credentials file: `[NAME]` (the file is
    /// read on the first call).
    fn credentials_section(&self) -> Result<Option<Section<'_>>> {
        if self.credentials.get().is_none() {
            let ini = match &self.credentials_file {
                Some(path) => Ini::load(path)?,
                None => None,
            };
            let _ = self.credentials.set(ini);
        }
        Ok(self
            .credentials
            .get()
            .and_then(Option::as_ref)
            .and_then(|ini| ini.section(&self.profile)))
    }

    /// The profile's section of the config file: `[profile NAME]`, and
    /// `[default]` (or `[profile default]`) for the default profile.
    pub fn config_section(&self) -> Option<Section<'_>> {
        let ini = self.config.as_ref()?;
        if self.profile == "default" {
            ini.section("default")
                .or_else(|| ini.section("profile default"))
        } else {
            ini.section(&format!("profile {}", self.profile))
        }
    }
}

/// The credential order, first to last. [`resolve`] runs it.
pub(super) fn chain(files: &AwsFiles) -> Chain<'_, Found> {
    Chain::first_try(Anonymous)
        .or_else(RemoteOptions)
        .or_else(Environment { files })
        .or_else(ProfileFile {
            files,
            which: WhichFile::Credentials,
        })
        .or_else(ProfileFile {
            files,
            which: WhichFile::Config,
        })
}

/// Runs [`chain`]; when nothing answers, the error says what to set.
pub(super) fn resolve(cx: &Context<'_>, files: &AwsFiles, bucket: &str) -> Result<Found> {
    if let Some(answer) = chain(files).load(cx)? {
        return Ok(answer.credential);
    }
    let profile = &files.profile;
    let unsupported = files.config_section().and_then(|s| {
        [
            "role_arn",
            "sso_session",
            "sso_start_url",
            "credential_process",
            "web_identity_token_file",
        ]
        .into_iter()
        .find(|k| s.get(k).is_some())
    });
    let mut err = Error::new(
        ErrorKind::Auth,
        format!(
            "no AWS credentials for S3 remote `{}` (bucket `{bucket}`)",
            crate::redact::url(cx.url())
        ),
    );
    if let Some(key) = unsupported {
        err = err.with_help(format!(
            "profile `{profile}` uses `{key}`, which dvc-build cannot resolve; \
             export the credentials instead \
             (`eval \"$(aws configure export-credentials --profile {profile} --format env)\"`)"
        ));
    }
    Err(err.with_help(format!(
        "{CREDENTIALS_HELP}; for a public bucket set `allow_anonymous_login = true`"
    )))
}

/// 1. `allow_anonymous_login = true`: no credentials at all, even if some
///    exist elsewhere (as in DVC).
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
                Some(true) => Ok(Some((None, CredentialSource::Anonymous))),
                Some(false) => Ok(None),
                None => Err(super::config_error(
                    cx.url(),
                    format!("`allow_anonymous_login = {v}` is not a boolean"),
                )),
            },
        }
    }
}

/// 2. The remote's `access_key_id` + `secret_access_key` (+ `session_token`).
struct RemoteOptions;

impl Provider for RemoteOptions {
    type Credential = Found;
    fn name(&self) -> &'static str {
        "remote options"
    }
    fn load(&self, cx: &Context<'_>) -> Result<Option<Found>> {
        Ok(pair(
            cx.option("access_key_id"),
            cx.option("secret_access_key"),
            cx.option("session_token"),
            "the remote's `access_key_id` and `secret_access_key` options",
            cx.url(),
        )?
        .map(|c| (Some(c), CredentialSource::Options)))
    }
}

/// 3. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN` or
///    the older `AWS_SECURITY_TOKEN`), skipped when the remote names a
///    `profile`: an explicit profile wins over the environment, as in
///    botocore.
struct Environment<'a> {
    files: &'a AwsFiles,
}

impl Provider for Environment<'_> {
    type Credential = Found;
    fn name(&self) -> &'static str {
        "environment"
    }
    fn load(&self, cx: &Context<'_>) -> Result<Option<Found>> {
        if self.files.explicit_profile {
            return Ok(None);
        }
        let token = cx
            .env("AWS_SESSION_TOKEN")
            .or_else(|| cx.env("AWS_SECURITY_TOKEN"));
        Ok(pair(
            cx.env("AWS_ACCESS_KEY_ID").as_deref(),
            cx.env("AWS_SECRET_ACCESS_KEY").as_deref(),
            token.as_deref(),
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            cx.url(),
        )?
        .map(|c| (Some(c), CredentialSource::Environment)))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WhichFile {
    Credentials,
    Config,
}

/// 4. The profile's section of the shared credentials file, then
/// 5. the profile's section of the config file.
struct ProfileFile<'a> {
    files: &'a AwsFiles,
    which: WhichFile,
}

impl Provider for ProfileFile<'_> {
    type Credential = Found;
    fn name(&self) -> &'static str {
        match self.which {
            WhichFile::Credentials => "shared credentials file",
            WhichFile::Config => "config file",
        }
    }
    fn load(&self, cx: &Context<'_>) -> Result<Option<Found>> {
        let files = self.files;
        let profile = &files.profile;
        if self.which == WhichFile::Credentials
            && files.explicit_profile
            && files.credentials_section()?.is_none()
            && files.config_section().is_none()
        {
            return Err(Error::new(
                ErrorKind::Auth,
                format!(
                    "S3 remote `{}`: profile `{profile}` is in neither `{}` nor `{}`",
                    crate::redact::url(cx.url()),
                    display_opt_path(files.credentials_file.as_deref()),
                    display_opt_path(files.config_file.as_deref()),
                ),
            )
            .with_help(
                "fix the remote's `profile` option, or add the profile to the AWS credentials file",
            ));
        }
        let (section, file) = match self.which {
            WhichFile::Credentials => (files.credentials_section()?, &files.credentials_file),
            WhichFile::Config => (files.config_section(), &files.config_file),
        };
        let Some(section) = section else {
            return Ok(None);
        };
        let token = section
            .get("aws_session_token")
            .or_else(|| section.get("aws_security_token"));
        let what = format!("profile `{profile}`'s aws_access_key_id and aws_secret_access_key");
        Ok(pair(
            section.get("aws_access_key_id"),
            section.get("aws_secret_access_key"),
            token,
            &what,
            cx.url(),
        )?
        .map(|c| {
            (
                Some(c),
                CredentialSource::Profile {
                    name: profile.clone(),
                    file: file.clone().unwrap_or_default(),
                },
            )
        }))
    }
}

/// Credentials from a key id and a secret; exactly one of the two is an error.
fn pair(
    key: Option<&str>,
    secret: Option<&str>,
    token: Option<&str>,
    what: &str,
    url: &str,
) -> Result<Option<Credentials>> {
    match (key, secret) {
        (Some(key), Some(secret)) => Ok(Some(match token {
            Some(token) => Credentials::new_with_token(key, secret, token),
            None => Credentials::new(key, secret),
        })),
        (None, None) => Ok(None),
        _ => Err(Error::new(
            ErrorKind::Auth,
            format!(
                "S3 remote `{}`: only one of {what} is set",
                crate::redact::url(url)
            ),
        )
        .with_help("set both the access key id and the secret access key, or neither")),
    }
}

fn display_opt_path(path: Option<&Path>) -> String {
    path.map_or_else(
        || "(no home directory)".to_string(),
        |p| p.display().to_string(),
    )
}
