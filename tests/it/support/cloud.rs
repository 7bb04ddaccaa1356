//! Helpers for the cloud-store tests (`gs`, `azure`): real servers run under
//! a watchdog, a token service of our own that really checks what it is
//! sent, and an authorizing gate in front of fake-gcs-server (which checks
//! no credentials itself).
//!
//! [`TokenServer`] speaks the three token exchanges the remotes make:
//!
//! * `POST /google/token`, Google's OAuth 2.0 endpoint: a service account's
//!   JWT (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`), whose
//!   RS256 signature is verified with the account's public key and whose
//!   claims (`iss`, `aud`, `scope`, `iat`, `exp`) are checked; or an
//!   authorized user's refresh token (`grant_type=refresh_token`, client id,
//!   secret and token compared);
//! * `GET /computeMetadata/v1/instance/service-accounts/default/token`, the
//!   GCE metadata server (only with `Metadata-Flavor: Google`);
//! * `POST /<tenant>/oauth2/v2.0/token`, Microsoft Entra ID's client
//!   credentials grant (tenant, client id, secret, scope, grant type
//!   compared). Its tokens are JWTs with the claims Azurite checks in
//!   `--oauth basic` mode (`aud`, `iss`, `nbf`, `exp`).
//!
//! Tokens live for [`TokenServer::set_lifetime`] (an hour by default) and
//! can be revoked ([`TokenServer::revoke_all`]); [`GcsGate`] lets a request
//! through to fake-gcs-server only with a live Google token.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A server process that cannot outlive the test run: it runs under a small
/// `sh` watchdog that polls the test process's pid and, once it is gone (or
/// the server died), kills the server and removes `root`.
pub struct Guarded {
    /// The folder removed when the server stops (its data and log).
    pub root: PathBuf,
    /// The server's log (stdout and stderr).
    pub log: PathBuf,
    watchdog: Child,
}

impl Guarded {
    /// Starts `program args` with `envs`, logging to `root/server.log`.
    pub fn start(root: &Path, program: &Path, args: &[String], envs: &[(&str, &str)]) -> Guarded {
        let log = root.join("server.log");
        let script = r#"
            PROG="$1"; shift
            "$PROG" "$@" >"$LOG" 2>&1 &
            S=$!
            cleanup() {
                kill "$S" 2>/dev/null
                n=0; while kill -0 "$S" 2>/dev/null && [ $n -lt 10 ]; do sleep 0.2; n=$((n+1)); done
                kill -9 "$S" 2>/dev/null; wait "$S" 2>/dev/null
                rm -rf "$ROOT"; exit 0
            }
            trap cleanup INT TERM HUP
            while kill -0 "$PARENT" 2>/dev/null && kill -0 "$S" 2>/dev/null; do sleep 0.3; done
            cleanup
        "#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg("server-watchdog")
            .arg(program)
            .args(args)
            .env("LOG", &log)
            .env("ROOT", root)
            .env("PARENT", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let watchdog = cmd.spawn().expect("start the server watchdog");
        Guarded {
            root: root.to_path_buf(),
            log,
            watchdog,
        }
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `ready` (polled every 100 ms) or panics with the log after
    /// `timeout`.
    pub fn wait_until(&self, what: &str, timeout: Duration, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + timeout;
        while !ready() {
            assert!(
                Instant::now() < deadline,
                "{what} did not become ready in {timeout:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A folder that [`Guarded`] removes when its server stops (not on drop:
/// the servers of a test run live as long as the run).
pub fn server_root(prefix: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
        .keep()
}

/// A random-looking hex string (for tokens and keys), from the clock and a
/// counter: tests need distinct values, not unpredictable ones.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let digest = dvc_build::__private::hash::Md5::of(
        format!("{tag}/{n}/{t}/{}", std::process::id()).as_bytes(),
    );
    format!("{tag}{}", &digest.to_hex()[..20])
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token the server handed out.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The access token.
    pub token: String,
    /// Which exchange: `service-account:<email>`, `refresh-token:<client>`,
    /// `metadata`, `entra:<client>`.
    pub grant: String,
    /// When it stops being valid.
    pub expires: Instant,
    /// Revoked before its time.
    pub revoked: bool,
}

/// One request to the token server and how it was answered.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// `METHOD path`.
    pub request: String,
    /// `ok <grant>` or `refused: <why>`.
    pub outcome: String,
}

#[derive(Default)]
struct TokenState {
    /// client_email -> (public key, private_key_id).
    service_accounts: HashMap<String, (rsa::PublicKey, String)>,
    /// (client_id, client_secret, refresh_token).
    users: Vec<(String, String, String)>,
    /// (tenant, client_id, client_secret or federated token).
    entra_clients: Vec<(String, String, String)>,
    /// The `X-IDENTITY-HEADER` value of the managed-identity endpoint.
    identity_header: Option<String>,
    lifetime: Option<Duration>,
    /// The lifetime the answers claim (`expires_in`), when not the real one.
    claimed: Option<Duration>,
    /// Answer the next N requests with 503 (a token service outage).
    fail_next: usize,
    issued: Vec<Issued>,
    log: Vec<Exchange>,
}

/// The token service on 127.0.0.1 (see the module docs); stopped on drop.
pub struct TokenServer {
    addr: SocketAddr,
    state: Arc<Mutex<TokenState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Starts it on a free loopback port.
    pub fn start() -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(TokenState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || {
                        let _ = serve_tokens(conn, &state);
                    });
                }
            })
        };
        TokenServer {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT` (for `GCE_METADATA_HOST`).
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Google's token endpoint here (a key file's `token_uri`).
    pub fn google_token_uri(&self) -> String {
        format!("{}/google/token", self.url())
    }

    /// Accepts JWTs signed by `public_key` for `email` with key id `key_id`.
    pub fn add_service_account(&self, email: &str, public_key: rsa::PublicKey, key_id: &str) {
        self.state
            .lock()
            .unwrap()
            .service_accounts
            .insert(email.to_string(), (public_key, key_id.to_string()));
    }

    /// Accepts this refresh token for this OAuth client.
    pub fn add_user(&self, client_id: &str, client_secret: &str, refresh_token: &str) {
        self.state.lock().unwrap().users.push((
            client_id.to_string(),
            client_secret.to_string(),
            refresh_token.to_string(),
        ));
    }

    /// Accepts this Entra ID application (service principal) with this
    /// client secret, or this federated token as its client assertion.
    pub fn add_entra_client(&self, tenant: &str, client_id: &str, client_secret: &str) {
        self.state.lock().unwrap().entra_clients.push((
            tenant.to_string(),
            client_id.to_string(),
            client_secret.to_string(),
        ));
    }

    /// Accepts `X-IDENTITY-HEADER: header` at the managed-identity endpoint
    /// (`/msi/token`, App Service's `IDENTITY_ENDPOINT`); the IMDS path
    /// (`/metadata/identity/oauth2/token`) needs `Metadata: true`.
    pub fn set_identity_header(&self, header: &str) {
        self.state.lock().unwrap().identity_header = Some(header.to_string());
    }

    /// The lifetime of the tokens handed out from now on (and what the
    /// answers say it is).
    pub fn set_lifetime(&self, lifetime: Duration) {
        let mut st = self.state.lock().unwrap();
        st.lifetime = Some(lifetime);
        st.claimed = None;
    }

    /// Answers claim `claimed` (`expires_in`) while the tokens really live
    /// as long as [`TokenServer::set_lifetime`] says: the service then
    /// refuses a token its holder believes fresh.
    pub fn set_claimed_lifetime(&self, claimed: Duration) {
        self.state.lock().unwrap().claimed = Some(claimed);
    }

    /// Answers the next `n` requests with `503`.
    pub fn fail_next(&self, n: usize) {
        self.state.lock().unwrap().fail_next = n;
    }

    /// Revokes every token handed out so far.
    pub fn revoke_all(&self) {
        for t in &mut self.state.lock().unwrap().issued {
            t.revoked = true;
        }
    }

    /// Every token handed out.
    pub fn issued(&self) -> Vec<Issued> {
        self.state.lock().unwrap().issued.clone()
    }

    /// Every request and its outcome.
    pub fn log(&self) -> Vec<Exchange> {
        self.state.lock().unwrap().log.clone()
    }

    /// The grant of `token`, when it is live (issued here, not expired, not
    /// revoked).
    pub fn live(&self, token: &str) -> Option<String> {
        live_grant(&self.state, token)
    }
}

fn live_grant(state: &Mutex<TokenState>, token: &str) -> Option<String> {
    let st = state.lock().unwrap();
    st.issued
        .iter()
        .find(|t| t.token == token)
        .filter(|t| !t.revoked && Instant::now() < t.expires)
        .map(|t| t.grant.clone())
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One parsed HTTP/1.1 request (bodies by `Content-Length` only).
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request; `None` at the end of the connection.
pub fn read_request(reader: &mut impl BufRead) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(HttpRequest {
        method,
        target,
        headers,
        body,
    })
}

/// Writes a response with a body.
pub fn respond(
    out: &mut impl Write,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

/// Decodes an `application/x-www-form-urlencoded` body.
pub fn form(body: &[u8]) -> HashMap<String, String> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let v = std::str::from_utf8(&bytes[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match v {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn serve_tokens(conn: TcpStream, state: &Mutex<TokenState>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    while let Some(req) = read_request(&mut reader) {
        let path = req.target.split('?').next().unwrap_or("").to_string();
        let outcome = {
            let mut st = state.lock().unwrap();
            if st.fail_next > 0 {
                st.fail_next -= 1;
                Err((503, "unavailable", "the token service is down".to_string()))
            } else {
                answer_token_request(&mut st, &req, &path)
            }
        };
        let mut st = state.lock().unwrap();
        let request = format!("{} {path}", req.method);
        match outcome {
            Ok((body, grant)) => {
                st.log.push(Exchange {
                    request,
                    outcome: format!("ok {grant}"),
                });
                drop(st);
                respond(&mut out, "200 OK", "application/json", &body)?;
            }
            Err((status, error, why)) => {
                st.log.push(Exchange {
                    request,
                    outcome: format!("refused: {why}"),
                });
                drop(st);
                let body =
                    serde_json::json!({"error": error, "error_description": why}).to_string();
                let status = match status {
                    400 => "400 Bad Request",
                    401 => "401 Unauthorized",
                    403 => "403 Forbidden",
                    404 => "404 Not Found",
                    _ => "503 Service Unavailable",
                };
                respond(&mut out, status, "application/json", &body)?;
            }
        }
    }
    Ok(())
}

type Refusal = (u16, &'static str, String);

/// `Ok((json body, grant))` or `Err((status, error, description))`.
fn answer_token_request(
    st: &mut TokenState,
    req: &HttpRequest,
    path: &str,
) -> Result<(String, String), Refusal> {
    let refuse = |why: &str| Err((400, "invalid_grant", why.to_string()));
    let lifetime = st.lifetime.unwrap_or(Duration::from_secs(3600));
    if req.method == "GET" && (path == "/msi/token" || path == "/metadata/identity/oauth2/token") {
        let query = form(req.target.split_once('?').map_or("", |(_, q)| q).as_bytes());
        let allowed = if path == "/msi/token" {
            st.identity_header.is_some()
                && req.header("x-identity-header") == st.identity_header.as_deref()
        } else {
            req.header("metadata") == Some("true")
        };
        if !allowed {
            return Err((
                400,
                "bad_request",
                "missing or wrong identity header".into(),
            ));
        }
        if query.get("resource").map(String::as_str) != Some("https://storage.azure.com/") {
            return Err((
                400,
                "invalid_resource",
                format!("resource {:?}", query.get("resource")),
            ));
        }
        let (token, grant) = entra_token(st, "managed-identity", "managed", lifetime);
        // IMDS and App Service write `expires_in` as a string.
        let claimed = st.claimed.unwrap_or(lifetime).as_secs().to_string();
        let body = serde_json::json!({
            "access_token": token,
            "expires_in": claimed,
            "token_type": "Bearer",
            "resource": "https://storage.azure.com/",
        });
        return Ok((body.to_string(), grant));
    }
    if req.method == "GET" && path == "/computeMetadata/v1/instance/service-accounts/default/token"
    {
        if req.header("metadata-flavor") != Some("Google") {
            return Err((403, "forbidden", "missing Metadata-Flavor: Google".into()));
        }
        return Ok(issue_google(st, "metadata".into(), lifetime));
    }
    if req.method != "POST" {
        return Err((404, "not_found", format!("no {} {path}", req.method)));
    }
    if req.header("content-type") != Some("application/x-www-form-urlencoded") {
        return refuse("the body is not application/x-www-form-urlencoded");
    }
    let f = form(&req.body);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if path == "/google/token" {
        match get("grant_type") {
            "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
                let email =
                    check_jwt(st, get("assertion")).map_err(|why| (400, "invalid_grant", why))?;
                Ok(issue_google(
                    st,
                    format!("service-account:{email}"),
                    lifetime,
                ))
            }
            "refresh_token" => {
                let known = st.users.iter().any(|(id, secret, token)| {
                    id == get("client_id")
                        && secret == get("client_secret")
                        && token == get("refresh_token")
                });
                if !known {
                    return refuse("Bad Request: unknown client or refresh token");
                }
                let grant = format!("refresh-token:{}", get("client_id"));
                Ok(issue_google(st, grant, lifetime))
            }
            other => refuse(&format!("unsupported grant_type `{other}`")),
        }
    } else if let Some(tenant) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix("/oauth2/v2.0/token"))
    {
        if get("grant_type") != "client_credentials" {
            return refuse("AADSTS70003: unsupported grant_type");
        }
        if get("scope") != "https://storage.azure.com/.default" {
            return Err((
                400,
                "invalid_scope",
                format!("AADSTS70011: scope `{}`", get("scope")),
            ));
        }
        let proof = match get("client_assertion_type") {
            "" => get("client_secret"),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" => get("client_assertion"),
            other => return refuse(&format!("AADSTS50027: client_assertion_type `{other}`")),
        };
        let known = st
            .entra_clients
            .iter()
            .any(|(t, id, secret)| t == tenant && id == get("client_id") && secret == proof);
        if !known {
            return Err((
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.".into(),
            ));
        }
        let (token, grant) = entra_token(st, tenant, get("client_id"), lifetime);
        let claimed = st.claimed.unwrap_or(lifetime).as_secs();
        let body = serde_json::json!({
            "token_type": "Bearer",
            "expires_in": claimed,
            "ext_expires_in": claimed,
            "access_token": token,
        });
        Ok((body.to_string(), grant))
    } else {
        Err((404, "not_found", format!("no POST {path}")))
    }
}

/// A storage token as Entra ID makes them: a JWT with the claims Azurite
/// checks (`aud`, `iss`, `iat`, `nbf`, `exp`); its signature is not
/// checked by Azurite's basic OAuth mode. Returns it and its grant name.
fn entra_token(
    st: &mut TokenState,
    tenant: &str,
    client_id: &str,
    lifetime: Duration,
) -> (String, String) {
    use base64::Engine as _;
    let now = now_secs();
    let claims = serde_json::json!({
        "aud": "https://storage.azure.com",
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "iat": now,
        "nbf": now - 5,
        "exp": now + lifetime.as_secs().max(1),
        "appid": client_id,
        "tid": tenant,
        "jti": unique("jti"),
    });
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let token = format!(
        "{}.{}.{}",
        b64.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64.encode(claims.to_string()),
        b64.encode(unique("sig"))
    );
    let grant = format!("entra:{client_id}");
    st.issued.push(Issued {
        token: token.clone(),
        grant: grant.clone(),
        expires: Instant::now() + lifetime,
        revoked: false,
    });
    (token, grant)
}

fn issue_google(st: &mut TokenState, grant: String, lifetime: Duration) -> (String, String) {
    let token = unique("ya29.test-");
    st.issued.push(Issued {
        token: token.clone(),
        grant: grant.clone(),
        expires: Instant::now() + lifetime,
        revoked: false,
    });
    let body = serde_json::json!({
        "access_token": token,
        "expires_in": st.claimed.unwrap_or(lifetime).as_secs(),
        "token_type": "Bearer",
    });
    (body.to_string(), grant)
}

/// Verifies a service account's JWT: RS256 signature with the account's
/// public key, header `kid`, and the claims Google checks. Returns the email.
fn check_jwt(st: &TokenState, jwt: &str) -> Result<String, String> {
    use base64::Engine as _;
    use rsa::signature::Verifier as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, s] = parts[..] else {
        return Err("Invalid JWT: not three parts".into());
    };
    let json = |part: &str| -> Result<serde_json::Value, String> {
        let bytes = b64.decode(part).map_err(|e| format!("Invalid JWT: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("Invalid JWT: {e}"))
    };
    let (header, claims) = (json(h)?, json(c)?);
    if header["alg"] != "RS256" || header["typ"] != "JWT" {
        return Err(format!("Invalid JWT header {header}"));
    }
    let email = claims["iss"].as_str().unwrap_or("").to_string();
    let Some((public, kid)) = st.service_accounts.get(&email) else {
        return Err(format!("Invalid JWT: unknown issuer `{email}`"));
    };
    if header["kid"] != kid.as_str() {
        return Err("Invalid JWT: wrong kid".into());
    }
    let signature = b64
        .decode(s)
        .ok()
        .and_then(|b| rsa::pkcs1v15::Signature::try_from(b.as_slice()).ok())
        .ok_or("Invalid JWT Signature.")?;
    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public.clone())
        .verify(format!("{h}.{c}").as_bytes(), &signature)
        .map_err(|_| "Invalid JWT Signature.".to_string())?;
    if claims["aud"] != "https://oauth2.googleapis.com/token" {
        return Err(format!("Invalid JWT: aud {}", claims["aud"]));
    }
    if !claims["scope"].as_str().is_some_and(|s| {
        s.split(' ')
            .any(|s| s.starts_with("https://www.googleapis.com/auth/devstorage."))
    }) {
        return Err(format!("Invalid JWT: scope {}", claims["scope"]));
    }
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap_or(0),
        claims["exp"].as_u64().unwrap_or(0),
    );
    let now = now_secs();
    if iat > now + 60 || now > exp || exp - iat > 3600 {
        return Err(format!("Invalid JWT: iat {iat}, exp {exp}, now {now}"));
    }
    Ok(email)
}

/// An authorizing gate in front of fake-gcs-server: a request passes only
/// with `Authorization: Bearer <a live token of the TokenServer>`, else it
/// is answered `401` the way GCS answers; `GET`s are forwarded and their
/// answers sent back (one request per connection upstream). Counts what it
/// let through and what it refused.
pub struct GcsGate {
    addr: SocketAddr,
    /// Requests let through.
    pub passed: Arc<AtomicUsize>,
    /// Requests refused (no, unknown, expired or revoked token).
    pub refused: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl GcsGate {
    /// Starts the gate for `upstream` (`127.0.0.1:PORT` of fake-gcs-server).
    pub fn start(upstream: SocketAddr, tokens: &TokenServer) -> GcsGate {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let passed = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let state = tokens.state.clone();
        let thread = {
            let (stop, passed, refused) = (stop.clone(), passed.clone(), refused.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (state, passed, refused) = (state.clone(), passed.clone(), refused.clone());
                    std::thread::spawn(move || {
                        let _ = gate(conn, upstream, &state, &passed, &refused);
                    });
                }
            })
        };
        GcsGate {
            addr,
            passed,
            refused,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for GcsGate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn gate(
    conn: TcpStream,
    upstream: SocketAddr,
    state: &Mutex<TokenState>,
    passed: &AtomicUsize,
    refused: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    while let Some(req) = read_request(&mut reader) {
        let token = req
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if live_grant(state, token).is_none() {
            refused.fetch_add(1, Ordering::SeqCst);
            let body = r#"{"error":{"code":401,"message":"Invalid Credentials","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError","locationType":"header","location":"Authorization"}]}}"#;
            respond(&mut out, "401 Unauthorized", "application/json", body)?;
            continue;
        }
        passed.fetch_add(1, Ordering::SeqCst);
        let mut up = TcpStream::connect(upstream)?;
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {upstream}\r\nConnection: close\r\n",
            req.method, req.target
        );
        if let Some(range) = req.header("range") {
            head.push_str(&format!("Range: {range}\r\n"));
        }
        head.push_str("\r\n");
        up.write_all(head.as_bytes())?;
        let mut up_reader = BufReader::new(up);
        // The answer's head, with `Connection: close` (we close after it),
        // then the body as it comes.
        let mut status = String::new();
        up_reader.read_line(&mut status)?;
        let mut head = status;
        loop {
            let mut h = String::new();
            if up_reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                break;
            }
            if !h.to_ascii_lowercase().starts_with("connection:") {
                head.push_str(&h);
            }
        }
        head.push_str("Connection: close\r\n\r\n");
        out.write_all(head.as_bytes())?;
        std::io::copy(&mut up_reader, &mut out)?;
        out.flush()?;
        return Ok(());
    }
    Ok(())
}
