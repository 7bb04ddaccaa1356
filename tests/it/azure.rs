//! The Azure remote against Azurite (HTTPS, `--oauth basic`: it checks
//! SharedKey signatures, SAS signatures and permissions, and the audience,
//! issuer and lifetime of Entra ID tokens), holding objects pushed there by
//! the real `dvc push` (dvc-azure). Tokens come from a token service of our
//! own that checks every exchange (client id and secret, scope, grant; the
//! managed-identity header). Containers and SAS tokens are made with the
//! real `azure-storage-blob` SDK from DVC's venv.
//!
//! One Azurite and one pushed registry serve every test of the run (see
//! [`fixture`]); each test opens its own [`AzureRemote`] with an explicit
//! environment, or runs the real tools in child processes with one.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dvc_build::__private::cache::Cache;
use dvc_build::__private::hash::Md5;
use dvc_build::__private::remote::azure::{AzureRemote, CredentialSource};
use dvc_build::__private::remote::{FetchError, Layout, ObjectKey, Remote};
use dvc_build::__private::transfer::{Options, Ranges, fetch_file_with};
use dvc_build::ErrorKind;

use crate::gs::{CONSUMER_MAIN, assert_no_secret, consumer_output};
use crate::support::cloud::{Guarded, TokenServer, server_root, unique};
use crate::support::{self, Registry, run, run_stdout};

const ACCOUNT: &str = "dvcbuildacct";
const CONTAINER: &str = "dvc-container";
const PUBLIC: &str = "public-container";
const PREFIX: &str = "team/registry";
const TENANT: &str = "0a1b2c3d-tenant";
const CLIENT: &str = "5e6f7a8b-client";

struct Fixture {
    /// Azurite, under its watchdog.
    _server: Guarded,
    /// `https://127.0.0.1:PORT/ACCOUNT`.
    endpoint: String,
    /// The CA that signed Azurite's TLS certificate.
    cert: PathBuf,
    /// The account key (base64), distinctive.
    key: String,
    /// A client secret of the service principal, a federated token, and
    /// the managed-identity endpoint's header.
    client_secret: String,
    federated: String,
    identity_header: String,
    /// Container SAS tokens: read+list, and list only.
    sas_read: String,
    sas_list: String,
    tokens: TokenServer,
    model: Vec<u8>,
    model_md5: Md5,
    dir_md5: Md5,
    dir_files: BTreeMap<String, Vec<u8>>,
    /// The registry's git work tree; its committed `.dvc/config` makes the
    /// Azure remote the default, with no credentials.
    registry: PathBuf,
}

fn url() -> String {
    format!("azure://{CONTAINER}/{PREFIX}")
}

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
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

/// Removes every Azure variable from `cmd`'s environment and points `HOME`
/// and the Azure CLI's config at `home`.
fn isolate_azure_env(cmd: &mut Command, home: &Path) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("AZURE_") || name.starts_with("IDENTITY_") || name == "SSL_CERT_FILE" {
            cmd.env_remove(&name);
        }
    }
    cmd.env("HOME", home)
        .env("AZURE_CONFIG_DIR", home.join(".azure"))
        .env_remove("DVC_BUILD_CACHE_DIR")
        .env_remove("DVC_BUILD_LOCKED")
        .env_remove("CARGO_NET_OFFLINE");
}

/// The containers and SAS tokens, made with azure-storage-blob.
const SETUP_PY: &str = r#"
import datetime, json, sys
from azure.storage.blob import (BlobServiceClient, ContainerSasPermissions,
                                PublicAccess, generate_container_sas)
conn, account, key = sys.argv[1:4]
service = BlobServiceClient.from_connection_string(conn)
service.create_container("dvc-container")
service.create_container("public-container", public_access=PublicAccess.Container)
now = datetime.datetime.now(datetime.timezone.utc)
def sas(**perms):
    return generate_container_sas(account, "dvc-container", account_key=key,
        permission=ContainerSasPermissions(**perms),
        start=now - datetime.timedelta(minutes=5), expiry=now + datetime.timedelta(days=1))
print(json.dumps({"read": sas(read=True, list=True), "list": sas(list=True)}))
"#;

fn connection_string(endpoint: &str, key: &str) -> String {
    format!(
        "DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={key};BlobEndpoint={endpoint};"
    )
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root = server_root("dvc-build-azurite-");
        // A CA, and a certificate for 127.0.0.1 signed by it (Azurite takes
        // Entra ID tokens over HTTPS only).
        let cert = root.join("ca.pem");
        let openssl = |args: &[&str]| {
            run(Command::new("openssl")
                .args(args)
                .current_dir(&root)
                .stderr(std::process::Stdio::null()));
        };
        std::fs::write(root.join("leaf.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=dvc-build test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ]);
        // A distinctive account key (64 bytes, base64).
        let key = {
            let raw = format!(
                "{}{}{}{}",
                unique("k"),
                unique("k"),
                unique("k"),
                unique("k")
            );
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&raw.as_bytes()[..64])
        };
        let port = support::free_port();
        let args: Vec<String> = [
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
            "--oauth",
            "basic",
            "--cert",
            root.join("cert.pem").to_str().unwrap(),
            "--key",
            root.join("key.pem").to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let accounts = format!("{ACCOUNT}:{key}");
        let server = Guarded::start(
            &root,
            &support::tool("azurite-blob"),
            &args,
            &[("AZURITE_ACCOUNTS", &accounts)],
        );
        server.wait_until("Azurite", Duration::from_secs(120), || {
            server.log_text().contains("successfully listens")
        });
        let endpoint = format!("https://127.0.0.1:{port}/{ACCOUNT}");
        let conn = connection_string(&endpoint, &key);

        let home = root.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut setup = Command::new(support::dvc3_python());
        isolate_azure_env(&mut setup, &home);
        let out = run_stdout(
            setup
                .args(["-c", SETUP_PY, &conn, ACCOUNT, &key])
                .env("REQUESTS_CA_BUNDLE", &cert),
        );
        let sas: serde_json::Value = serde_json::from_str(&out).unwrap();

        let tokens = TokenServer::start();
        let client_secret = unique("AzClientSecret");
        let federated = unique("FederatedToken");
        tokens.add_entra_client(TENANT, CLIENT, &client_secret);
        tokens.add_entra_client(TENANT, CLIENT, &federated);
        let identity_header = unique("IdentityHeader");
        tokens.set_identity_header(&identity_header);

        let reg = Registry::new(&root);
        let model = support::pseudo_random(300_000, 21);
        reg.write("model.bin", &model);
        let mut dir_files = BTreeMap::new();
        for (rel, data) in [
            ("a.csv", b"x,y\n1,2\n".to_vec()),
            ("sub/b.bin", support::pseudo_random(70_000, 22)),
            ("sub/deeper/c.txt", b"hello\n".to_vec()),
        ] {
            reg.write(&format!("data/{rel}"), &data);
            dir_files.insert(rel.to_string(), data);
        }
        reg.add(&["model.bin", "data"]);
        run(reg.dvc().args(["remote", "add", "-d", "az", &url()]));
        run(reg.dvc().args([
            "remote",
            "add",
            "public",
            &format!("azure://{PUBLIC}/{PREFIX}"),
        ]));
        reg.commit("data on Azure");
        // The credentials only in the uncommitted config.local.
        for remote in ["az", "public"] {
            run(reg.dvc().args([
                "remote",
                "modify",
                "--local",
                remote,
                "connection_string",
                &conn,
            ]));
        }
        for remote in ["az", "public"] {
            let mut push = reg.dvc();
            isolate_azure_env(&mut push, &home);
            run(push
                .args(["push", "-q", "-r", remote])
                .env("SSL_CERT_FILE", &cert));
        }
        std::fs::remove_file(reg.repo.join(".dvc/config.local")).unwrap();
        std::fs::remove_dir_all(reg.repo.join(".dvc/cache")).unwrap();
        let config = std::fs::read_to_string(reg.repo.join(".dvc/config")).unwrap();
        assert!(!config.contains(&key), "{config}");
        let out_md5 = |f: &str| {
            support::out_md5_and_size(&std::fs::read_to_string(reg.repo.join(f)).unwrap()).0
        };
        let model_md5 = out_md5("model.bin.dvc").parse().unwrap();
        assert_eq!(model_md5, Md5::of(&model));
        let dir_md5 = out_md5("data.dvc")
            .strip_suffix(".dir")
            .expect("a .dir hash")
            .parse()
            .unwrap();
        Fixture {
            _server: server,
            endpoint,
            cert,
            key,
            client_secret,
            federated,
            identity_header,
            sas_read: sas["read"].as_str().unwrap().to_string(),
            sas_list: sas["list"].as_str().unwrap().to_string(),
            tokens,
            model,
            model_md5,
            dir_md5,
            dir_files,
            registry: reg.repo.clone(),
        }
    })
}

impl Fixture {
    /// The connection string with the account key.
    fn conn(&self) -> String {
        connection_string(&self.endpoint, &self.key)
    }

    /// A connection string that only names the endpoint and account.
    fn endpoint_only(&self) -> String {
        format!("AccountName={ACCOUNT};BlobEndpoint={};", self.endpoint)
    }

    /// The remote with `options` and `vars` (plus HOME and SSL_CERT_FILE).
    fn remote(&self, url: &str, options: &[(&str, &str)], vars: &[(&str, &str)]) -> AzureRemote {
        self.try_remote(url, options, vars)
            .expect("open the Azure remote")
    }

    fn try_remote(
        &self,
        url: &str,
        options: &[(&str, &str)],
        vars: &[(&str, &str)],
    ) -> dvc_build::Result<AzureRemote> {
        let cert = self.cert.to_str().unwrap().to_string();
        let mut all = vec![("HOME", "/nonexistent"), ("SSL_CERT_FILE", cert.as_str())];
        all.extend_from_slice(vars);
        AzureRemote::open_with_env(url, &opts(options), &env(&all))
    }

    fn secrets(&self) -> Vec<String> {
        let sig = |sas: &str| {
            sas.split('&')
                .find_map(|p| p.strip_prefix("sig="))
                .unwrap_or("no-sig")
                .to_string()
        };
        vec![
            self.key.clone(),
            self.client_secret.clone(),
            self.federated.clone(),
            self.identity_header.clone(),
            sig(&self.sas_read),
            sig(&self.sas_list),
            "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9".to_string(),
        ]
    }
}

fn key(md5: Md5, is_dir: bool) -> String {
    ObjectKey {
        md5,
        is_dir,
        layout: Layout::V3,
    }
    .rel_path()
}

fn read_all(remote: &dyn Remote, rel: &str, offset: u64, end: Option<u64>) -> Vec<u8> {
    let body = remote
        .open(rel, offset, end)
        .unwrap_or_else(|e| panic!("open {rel} {offset}..{end:?}: {}", e.into_error()));
    let mut out = Vec::new();
    body.reader.take(u64::MAX).read_to_end(&mut out).unwrap();
    if let Some(len) = body.len {
        assert_eq!(len, out.len() as u64, "announced length of {rel}");
    }
    out
}

#[test]
fn azure_reads_file_and_dir_objects_pushed_by_dvc() {
    let fx = fixture();
    let conn = fx.conn();
    let remote = fx.remote(&url(), &[("connection_string", &conn)], &[]);
    assert_eq!(remote.display_url(), url());
    assert_eq!(remote.account(), ACCOUNT);
    assert_eq!(
        read_all(&remote, &key(fx.model_md5, false), 0, None),
        fx.model
    );
    let manifest = read_all(&remote, &key(fx.dir_md5, true), 0, None);
    assert_eq!(Md5::of(&manifest), fx.dir_md5);
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(entries.len(), fx.dir_files.len());
    for entry in entries {
        let rel = entry["relpath"].as_str().unwrap();
        let md5: Md5 = entry["md5"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            &read_all(&remote, &key(md5, false), 0, None),
            &fx.dir_files[rel],
            "{rel}"
        );
    }
}

#[test]
fn azure_ranged_reads_and_a_parallel_ranged_download() {
    let fx = fixture();
    let conn = fx.conn();
    let remote = fx.remote(&url(), &[("connection_string", &conn)], &[]);
    let rel = key(fx.model_md5, false);
    let size = fx.model.len() as u64;
    for (offset, end) in [
        (0, Some(1)),
        (10, Some(20)),
        (1000, None),
        (size - 5, None),
        (100_000, Some(200_000)),
        (size - 10, Some(size + 100)),
        (size, None),
        (5, Some(5)),
    ] {
        let got = read_all(&remote, &rel, offset, end);
        let stop = end.unwrap_or(size).min(size) as usize;
        assert_eq!(
            got,
            &fx.model[(offset as usize).min(stop)..stop],
            "{offset}..{end:?}"
        );
    }
    let cache_dir = support::tempdir();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let object = ObjectKey {
        md5: fx.model_md5,
        is_dir: false,
        layout: Layout::V3,
    };
    let options = Options {
        parallel: Some(4),
        ranged_min: Some(64 << 10),
        range_size: Some(64 << 10),
        ranges: Ranges::Always,
        ..Options::default()
    };
    let file = fetch_file_with(&remote, &cache, object, Some(size), &options).unwrap();
    assert_eq!(std::fs::read(&file.path).unwrap(), fx.model);
}

#[test]
fn azure_missing_object_container_and_account() {
    let fx = fixture();
    let conn = fx.conn();
    let remote = fx.remote(&url(), &[("connection_string", &conn)], &[]);
    let rel = key(Md5::of(b"never pushed"), false);
    match remote.open(&rel, 0, None) {
        Err(FetchError::NotFound(e)) => {
            assert!(e.to_string().contains(&rel), "{e}");
            assert!(e.to_string().contains("dvc push"), "{e}");
        }
        other => panic!("expected NotFound, got {:?}", other.err()),
    }
    let remote = fx.remote(
        "azure://no-such-container/x",
        &[("connection_string", &conn)],
        &[],
    );
    match remote.open(&key(fx.model_md5, false), 0, None) {
        Err(FetchError::Permanent(e)) => {
            let text = e.to_string();
            assert!(
                text.contains("container `no-such-container` does not exist"),
                "{text}"
            );
        }
        other => panic!("expected a permanent error, got {:?}", other.err()),
    }
}

/// Every route to credentials Azurite can check.
#[test]
fn azure_credentials_by_every_route() {
    let fx = fixture();
    let conn = fx.conn();
    let keyless = fx.endpoint_only();
    let home = support::tempdir();
    let azure_dir = home.path().join(".azure");
    std::fs::create_dir_all(&azure_dir).unwrap();
    std::fs::write(
        azure_dir.join("config"),
        format!("[storage]\nconnection_string = {conn}\n"),
    )
    .unwrap();
    let config_dir = azure_dir.to_str().unwrap();
    let token_file = home.path().join("federated-token");
    std::fs::write(&token_file, &fx.federated).unwrap();
    let authority = fx.tokens.url();
    let sas_sig_in_conn = format!(
        "BlobEndpoint={};SharedAccessSignature={}",
        fx.endpoint, fx.sas_read
    );
    let msi = format!("{}/msi/token", fx.tokens.url());
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        Vec<(&'a str, &'a str)>,
        &'a dyn Fn(&CredentialSource) -> bool,
    );
    let cases: Vec<Case> = vec![
        (
            "connection_string (AccountKey)",
            vec![("connection_string", &conn)],
            vec![],
            &|s| {
                matches!(
                    s,
                    CredentialSource::AccountKey {
                        via: "the remote's `connection_string`"
                    }
                )
            },
        ),
        (
            "AZURE_STORAGE_CONNECTION_STRING",
            vec![],
            vec![("AZURE_STORAGE_CONNECTION_STRING", &conn)],
            &|s| {
                matches!(
                    s,
                    CredentialSource::AccountKey {
                        via: "AZURE_STORAGE_CONNECTION_STRING"
                    }
                )
            },
        ),
        (
            "the Azure CLI config",
            vec![],
            vec![("AZURE_CONFIG_DIR", config_dir)],
            &|s| {
                matches!(
                    s,
                    CredentialSource::AccountKey {
                        via: "the Azure CLI config (`[storage]`)"
                    }
                )
            },
        ),
        (
            "account_key",
            vec![("connection_string", &keyless), ("account_key", &fx.key)],
            vec![],
            &|s| {
                matches!(
                    s,
                    CredentialSource::AccountKey {
                        via: "the remote's `account_key`"
                    }
                )
            },
        ),
        (
            "AZURE_STORAGE_KEY",
            vec![("connection_string", &keyless)],
            vec![("AZURE_STORAGE_KEY", &fx.key)],
            &|s| {
                matches!(
                    s,
                    CredentialSource::AccountKey {
                        via: "AZURE_STORAGE_KEY"
                    }
                )
            },
        ),
        (
            "SharedAccessSignature in the connection string",
            vec![("connection_string", &sas_sig_in_conn)],
            vec![],
            &|s| {
                matches!(
                    s,
                    CredentialSource::Sas {
                        via: "the remote's `connection_string`"
                    }
                )
            },
        ),
        (
            "sas_token",
            vec![("connection_string", &keyless), ("sas_token", &fx.sas_read)],
            vec![],
            &|s| {
                matches!(
                    s,
                    CredentialSource::Sas {
                        via: "the remote's `sas_token`"
                    }
                )
            },
        ),
        (
            "AZURE_STORAGE_SAS_TOKEN",
            vec![("connection_string", &keyless)],
            vec![("AZURE_STORAGE_SAS_TOKEN", &fx.sas_read)],
            &|s| {
                matches!(
                    s,
                    CredentialSource::Sas {
                        via: "AZURE_STORAGE_SAS_TOKEN"
                    }
                )
            },
        ),
        (
            "service principal options",
            vec![
                ("connection_string", &keyless),
                ("tenant_id", TENANT),
                ("client_id", CLIENT),
                ("client_secret", &fx.client_secret),
            ],
            vec![("AZURE_AUTHORITY_HOST", &authority)],
            &|s| {
                matches!(
                    s,
                    CredentialSource::ServicePrincipal {
                        via: "the remote's `tenant_id`/`client_id`/`client_secret`",
                        ..
                    }
                )
            },
        ),
        (
            "AZURE_STORAGE_TENANT_ID/CLIENT_ID/CLIENT_SECRET",
            vec![("connection_string", &keyless)],
            vec![
                ("AZURE_AUTHORITY_HOST", &authority),
                ("AZURE_STORAGE_TENANT_ID", TENANT),
                ("AZURE_STORAGE_CLIENT_ID", CLIENT),
                ("AZURE_STORAGE_CLIENT_SECRET", &fx.client_secret),
            ],
            &|s| {
                matches!(
                    s,
                    CredentialSource::ServicePrincipal {
                        via: "AZURE_STORAGE_TENANT_ID/AZURE_STORAGE_CLIENT_ID/AZURE_STORAGE_CLIENT_SECRET",
                        ..
                    }
                )
            },
        ),
        (
            "AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET",
            vec![("connection_string", &keyless)],
            vec![
                ("AZURE_AUTHORITY_HOST", &authority),
                ("AZURE_TENANT_ID", TENANT),
                ("AZURE_CLIENT_ID", CLIENT),
                ("AZURE_CLIENT_SECRET", &fx.client_secret),
            ],
            &|s| {
                matches!(
                    s,
                    CredentialSource::ServicePrincipal {
                        via: "AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET",
                        ..
                    }
                )
            },
        ),
        (
            "workload identity",
            vec![("connection_string", &keyless)],
            vec![
                ("AZURE_AUTHORITY_HOST", &authority),
                ("AZURE_TENANT_ID", TENANT),
                ("AZURE_CLIENT_ID", CLIENT),
                ("AZURE_FEDERATED_TOKEN_FILE", token_file.to_str().unwrap()),
            ],
            &|s| matches!(s, CredentialSource::WorkloadIdentity { .. }),
        ),
        (
            "managed identity (App Service)",
            vec![("connection_string", &keyless)],
            vec![
                ("IDENTITY_ENDPOINT", &msi),
                ("IDENTITY_HEADER", &fx.identity_header),
            ],
            &|s| matches!(s, CredentialSource::ManagedIdentity { .. }),
        ),
        (
            "managed identity (IMDS)",
            vec![("connection_string", &keyless)],
            vec![("AZURE_POD_IDENTITY_AUTHORITY_HOST", &authority)],
            &|s| matches!(s, CredentialSource::ManagedIdentity { .. }),
        ),
    ];
    let rel = key(fx.model_md5, false);
    for (what, options, vars, expect) in cases {
        let remote = fx.remote(&url(), &options, &vars);
        assert!(
            expect(remote.credential_source()),
            "{what}: {:?}",
            remote.credential_source()
        );
        assert_eq!(read_all(&remote, &rel, 0, None), fx.model, "{what}");
        assert_eq!(
            read_all(&remote, &rel, 7, Some(70)),
            &fx.model[7..70],
            "{what}"
        );
        let dbg = format!("{remote:?}");
        for secret in fx.secrets() {
            assert!(!dbg.contains(&secret), "{what}: {dbg}");
        }
    }
}

#[test]
fn azure_anonymous_access_to_a_public_and_a_private_container() {
    let fx = fixture();
    let keyless = fx.endpoint_only();
    let public = format!("azure://{PUBLIC}/{PREFIX}");
    // A public container: no credentials needed, whether asked for with
    // `allow_anonymous_login` or by a connection string without a key.
    for options in [
        vec![
            ("connection_string", keyless.as_str()),
            ("allow_anonymous_login", "true"),
        ],
        vec![("connection_string", keyless.as_str())],
    ] {
        let remote = fx.remote(&public, &options, &[]);
        assert!(matches!(
            remote.credential_source(),
            CredentialSource::Anonymous { .. }
        ));
        assert_eq!(
            read_all(&remote, &key(fx.model_md5, false), 0, None),
            fx.model
        );
    }
    // The private one refuses, clearly.
    let remote = fx.remote(&url(), &[("connection_string", &keyless)], &[]);
    match remote.open(&key(fx.model_md5, false), 0, None) {
        Err(FetchError::Permanent(e)) => {
            assert_eq!(e.kind(), ErrorKind::Auth);
            let text = e.to_string();
            assert!(text.contains("anonymous access refused"), "{text}");
            assert!(text.contains(CONTAINER), "{text}");
            assert!(text.contains("account_key"), "{text}");
        }
        other => panic!("expected a permanent error, got {:?}", other.err()),
    }
}

#[test]
fn azure_wrong_credentials_are_clear_permanent_errors() {
    let fx = fixture();
    let keyless = fx.endpoint_only();
    let rel = key(fx.model_md5, false);
    let wrong_key = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(unique("WrongKey").repeat(3))
    };
    let tampered = fx.sas_read.replace("sig=", "sig=AAAA");
    let authority = fx.tokens.url();
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        Vec<(&'a str, &'a str)>,
        &'a [&'a str],
    );
    let cases: Vec<Case> = vec![
        (
            "a wrong account key",
            vec![("connection_string", &keyless), ("account_key", &wrong_key)],
            vec![],
            &[
                "access denied",
                "account key from the remote's `account_key`",
            ],
        ),
        (
            "a tampered SAS",
            vec![("connection_string", &keyless), ("sas_token", &tampered)],
            vec![],
            &["access denied", "SAS token from the remote's `sas_token`"],
        ),
        (
            "a SAS that may only list",
            vec![("connection_string", &keyless), ("sas_token", &fx.sas_list)],
            vec![],
            &["access denied", "AuthorizationPermissionMismatch"],
        ),
        (
            "a wrong client secret",
            vec![
                ("connection_string", &keyless),
                ("tenant_id", TENANT),
                ("client_id", CLIENT),
                ("client_secret", "wrong-client-secret"),
            ],
            vec![("AZURE_AUTHORITY_HOST", &authority)],
            &[
                "service principal `5e6f7a8b-client`",
                "invalid_client",
                "AADSTS7000215",
            ],
        ),
    ];
    for (what, options, vars, wants) in cases {
        let remote = fx.remote(&url(), &options, &vars);
        let started = Instant::now();
        let err = match remote.open(&rel, 0, None) {
            Err(FetchError::Permanent(e)) => e,
            Err(other) => panic!("{what}: expected a permanent error, got {other:?}"),
            Ok(_) => panic!("{what}: accepted"),
        };
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
        assert_eq!(err.kind(), ErrorKind::Auth, "{what}: {err}");
        let text = format!("{err}\n{err:?}");
        for want in wants {
            assert!(text.contains(want), "{what}: `{want}` missing: {text}");
        }
        assert!(text.contains("help: "), "{what}: {text}");
        for secret in fx.secrets().iter().chain([&wrong_key]) {
            assert!(
                !text.contains(secret.as_str()),
                "{what}: `{secret}` leaked: {text}"
            );
        }
        assert!(!text.contains("sig="), "{what}: {text}");
    }
    // No credentials at all: an error before any request, listing the sources.
    let err = fx
        .try_remote(&url(), &[("account_name", ACCOUNT)], &[])
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.to_string().contains("no Azure credentials"), "{err}");
    assert!(err.to_string().contains("account key"), "{err}");
}

#[test]
fn azure_tokens_are_renewed_when_expired() {
    let fx = fixture();
    let keyless = fx.endpoint_only();
    let tokens = TokenServer::start();
    let secret = unique("AzClientSecret");
    tokens.add_entra_client(TENANT, CLIENT, &secret);
    let authority = tokens.url();
    let remote = fx.remote(
        &url(),
        &[
            ("connection_string", &keyless),
            ("tenant_id", TENANT),
            ("client_id", CLIENT),
            ("client_secret", &secret),
        ],
        &[("AZURE_AUTHORITY_HOST", &authority)],
    );
    let rel = key(fx.model_md5, false);
    // Tokens that really live 2 s but claim an hour: Azurite refuses the
    // first one once it has expired, and the remote exchanges again at once.
    tokens.set_lifetime(Duration::from_secs(2));
    tokens.set_claimed_lifetime(Duration::from_secs(3600));
    assert_eq!(read_all(&remote, &rel, 0, Some(10)), &fx.model[..10]);
    assert_eq!(tokens.issued().len(), 1);
    std::thread::sleep(Duration::from_millis(3100));
    assert_eq!(read_all(&remote, &rel, 0, Some(10)), &fx.model[..10]);
    assert_eq!(tokens.issued().len(), 2, "{:?}", tokens.log());
    // Tokens that say they live 3 s are renewed before they expire.
    tokens.set_lifetime(Duration::from_secs(3));
    let remote = fx.remote(
        &url(),
        &[
            ("connection_string", &keyless),
            ("tenant_id", TENANT),
            ("client_id", CLIENT),
            ("client_secret", &secret),
        ],
        &[("AZURE_AUTHORITY_HOST", &authority)],
    );
    assert_eq!(read_all(&remote, &rel, 0, Some(10)), &fx.model[..10]);
    std::thread::sleep(Duration::from_millis(2400));
    assert_eq!(read_all(&remote, &rel, 0, Some(10)), &fx.model[..10]);
    assert_eq!(tokens.issued().len(), 4, "{:?}", tokens.log());
}

// ---------------------------------------------------------------------------
// End to end: `cargo dvc import` next to `dvc import`, and a consumer crate's
// `cargo build` with a service principal.

#[cfg(feature = "cli")]
#[test]
fn azure_cargo_dvc_import_writes_the_locks_dvc_import_writes() {
    let fx = fixture();
    let tmp = support::tempdir();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let url = fx.registry.to_str().unwrap();
    let app = tmp.path().join("app");
    support::consumer(&app);
    support::write(
        &app,
        "Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    let reference = tmp.path().join("reference");
    support::consumer(&reference);
    let cache = tmp.path().join("cache");
    let conn = fx.conn();
    let vars = [
        ("AZURE_STORAGE_CONNECTION_STRING", conn.as_str()),
        ("SSL_CERT_FILE", fx.cert.to_str().unwrap()),
    ];
    let mut outputs = String::new();
    for (path, out) in [("model.bin", "model.bin"), ("data", "data")] {
        let mut ours = support::cargo_dvc(&app, &cache);
        isolate_azure_env(&mut ours, &home);
        let o = run(ours
            .args(["dvc", "import", url, path, "-o", out])
            .envs(vars));
        outputs.push_str(&String::from_utf8_lossy(&o.stderr));
        let mut theirs = support::dvc(&reference);
        isolate_azure_env(&mut theirs, &home);
        run(theirs
            .args(["import", "-q", url, path, "-o", out])
            .envs(vars));
        assert_eq!(
            std::fs::read_to_string(app.join(format!("{out}.dvc"))).unwrap(),
            std::fs::read_to_string(reference.join(format!("{out}.dvc"))).unwrap(),
            "lock of {path}"
        );
    }
    let mut pull = support::cargo_dvc(&app, &cache);
    isolate_azure_env(&mut pull, &home);
    run(pull.args(["dvc", "pull", "-q"]));
    assert_eq!(std::fs::read(app.join("model.bin")).unwrap(), fx.model);
    for (rel, data) in &fx.dir_files {
        assert_eq!(
            &std::fs::read(app.join("data").join(rel)).unwrap(),
            data,
            "{rel}"
        );
    }
    assert_no_secret(&fx.secrets(), &[&outputs], &[&app, &cache]);
}

#[test]
fn azure_consumer_crate_builds_with_a_service_principal() {
    let fx = fixture();
    let tmp = support::tempdir();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let krate = tmp.path().join("consumer");
    let url = fx.registry.to_str().unwrap();
    let metadata = format!(
        "[package.metadata.dvc.deps.model]\nurl = {url:?}\npath = \"model.bin\"\n\n\
         [package.metadata.dvc.deps.data]\nurl = {url:?}\npath = \"data\"\n"
    );
    support::write_crate(&krate, "e2e-azure", &metadata, CONSUMER_MAIN, false);
    support::set_dvc_build_features(&krate, &["gs", "azure"]);
    let cache = tmp.path().join("cache");
    let exchanges = fx.tokens.log().len();
    let keyless = fx.endpoint_only();
    let mut build = support::cargo(&krate, &cache);
    isolate_azure_env(&mut build, &home);
    let out = run(build.args(["build", "-q"]).envs([
        ("AZURE_STORAGE_CONNECTION_STRING", keyless.as_str()),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
        ("AZURE_CLIENT_SECRET", fx.client_secret.as_str()),
        ("AZURE_AUTHORITY_HOST", fx.tokens.url().as_str()),
        ("SSL_CERT_FILE", fx.cert.to_str().unwrap()),
    ]));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let got = run_stdout(&mut Command::new(support::consumer_bin("e2e-azure")));
    assert_eq!(
        format!("{got}\n"),
        consumer_output(&fx.model, &fx.dir_files)
    );
    let log = fx.tokens.log();
    assert!(
        log[exchanges..]
            .iter()
            .any(|e| e.outcome == format!("ok entra:{CLIENT}")),
        "{log:?}"
    );
    assert_no_secret(&fx.secrets(), &[&output], &[&krate, &cache]);
}

#[test]
fn azure_consumer_build_with_a_wrong_secret_fails_naming_the_dependency() {
    let fx = fixture();
    let tmp = support::tempdir();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let krate = tmp.path().join("consumer");
    let url = fx.registry.to_str().unwrap();
    let metadata = format!(
        "[package.metadata.dvc.deps.model]\nurl = {url:?}\npath = \"model.bin\"\n\n\
         [package.metadata.dvc.deps.data]\nurl = {url:?}\npath = \"data\"\n"
    );
    support::write_crate(&krate, "e2e-azure-wrong", &metadata, CONSUMER_MAIN, false);
    support::set_dvc_build_features(&krate, &["gs", "azure"]);
    let cache = tmp.path().join("cache");
    let keyless = fx.endpoint_only();
    let wrong = unique("WrongClientSecret");
    let mut build = support::cargo(&krate, &cache);
    isolate_azure_env(&mut build, &home);
    let out = support::run_fail(build.args(["build", "-q"]).envs([
        ("AZURE_STORAGE_CONNECTION_STRING", keyless.as_str()),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
        ("AZURE_CLIENT_SECRET", wrong.as_str()),
        ("AZURE_AUTHORITY_HOST", fx.tokens.url().as_str()),
        ("SSL_CERT_FILE", fx.cert.to_str().unwrap()),
    ]));
    assert!(out.contains("dependency `data`: "), "{out}");
    assert!(out.contains("invalid_client"), "{out}");
    assert!(out.contains("AZURE_CLIENT_SECRET"), "{out}");
    assert!(out.contains("help: "), "{out}");
    assert!(!krate.join("data.dvc").exists() && !krate.join("model.bin.dvc").exists());
    let mut secrets = fx.secrets();
    secrets.push(wrong);
    assert_no_secret(&secrets, &[&out], &[&krate, &cache]);
}

// ---------------------------------------------------------------------------
// Azure blobs and prefixes as URL dependencies (`dvc import-url azure://...`).

/// Uploads `blobs` (name, bytes) into the main container.
fn put_blobs(fx: &Fixture, blobs: &[(&str, &[u8])]) {
    let dir = support::tempdir();
    let mut script = format!(
        "import sys\nfrom azure.storage.blob import BlobServiceClient\n\
         c = BlobServiceClient.from_connection_string(sys.argv[1]).get_container_client({CONTAINER:?})\n"
    );
    for (i, (name, bytes)) in blobs.iter().enumerate() {
        let file = dir.path().join(format!("blob{i}"));
        std::fs::write(&file, bytes).unwrap();
        script.push_str(&format!(
            "c.upload_blob({name:?}, open({:?}, 'rb').read(), overwrite=True)\n",
            file.to_str().unwrap()
        ));
    }
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(support::dvc3_python());
    isolate_azure_env(&mut cmd, &home);
    run(cmd
        .args(["-c", &script, &fx.conn()])
        .env("REQUESTS_CA_BUNDLE", &fx.cert));
}

#[cfg(feature = "cli")]
#[test]
fn azure_url_imports_of_a_blob_and_a_prefix_lock_as_dvc_import_url() {
    let fx = fixture();
    // An empty home for both tools, removed when the test ends.
    let home_dir = support::tempdir();
    let home = home_dir.path();
    let twins = crate::url::Twins::new()
        .with_env("HOME", home.to_str().unwrap())
        .with_env("AZURE_CONFIG_DIR", home.join(".azure").to_str().unwrap())
        .with_env("AZURE_STORAGE_CONNECTION_STRING", &fx.conn())
        .with_env("SSL_CERT_FILE", fx.cert.to_str().unwrap());
    let prefix = unique("urls");
    let model = support::pseudo_random(150_000, 31);
    put_blobs(
        fx,
        &[
            (&format!("{prefix}/model.bin"), &model),
            (&format!("{prefix}/dir/a.txt"), b"a\n"),
            (&format!("{prefix}/dir/sub/b.txt"), b"bb\n"),
        ],
    );
    for (key, out) in [("model.bin", "model.bin"), ("dir", "dir")] {
        let url = format!("azure://{CONTAINER}/{prefix}/{key}");
        twins.dvc_import(&url, out, &[]);
        twins.import(&url, out, &[]);
        twins.assert_same(&format!("{out}.dvc"));
    }
    let lock = twins.lock("model.bin.dvc");
    assert!(lock.contains("- etag: '\"0x"), "{lock}");
    assert!(!lock.contains(&fx.key), "{lock}");
    put_blobs(
        fx,
        &[
            (&format!("{prefix}/model.bin"), b"v2"),
            (&format!("{prefix}/dir/sub/c.txt"), b"new\n"),
        ],
    );
    let status = run(twins.cargo_dvc().args(["status", "--json"]));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    for dep in json["dependencies"].as_array().unwrap() {
        assert_eq!(dep["update"], "source_changed", "{json}");
    }
    run(twins
        .dvc()
        .args(["update", "-q", "model.bin.dvc", "dir.dvc"]));
    run(twins.cargo_dvc().args(["update"]));
    twins.assert_same("model.bin.dvc");
    twins.assert_same("dir.dvc");
}
