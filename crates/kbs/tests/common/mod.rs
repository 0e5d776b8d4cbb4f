//! End-to-end harness: writes a temporary upstream-format config with keys the test holds,
//! starts the real `kbs` binary on a free loopback port, waits for its `KBS listening on` line
//! and kills it on drop. Also: a raw HTTP/1.1 client (so paths reach the server byte-exact),
//! store snapshots, and tokens signed with keys the KBS does or does not trust. The other
//! workspace services (`rvps`, `grpc-as`) as processes are in [`services`].

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../rego/mod.rs"]
pub mod rego;
pub mod services;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kbs_client::jose::{self, SigningKey, TeeKeyPair};
use kbs_client::{ClientError, KbsClient};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a KBS may take to print its listening line (debug builds, loaded CI machine).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// `iss` the configured identity provider accepts.
pub const ADMIN_ISSUER: &str = "e2e-issuer";
/// `aud` the configured identity provider accepts.
pub const ADMIN_AUDIENCE: &str = "e2e-kbs";
/// `kid` of the test's token-signing key in the trusted JWK set.
pub const TOKEN_KID: &str = "e2e-token-key";
/// Problem type prefix of every KBS error.
pub const PROBLEM_PREFIX: &str = "https://github.com/confidential-containers/kbs/errors/";

/// The `[attestation_service]` section of the default configuration: the builtin AS.
pub const BUILTIN_AS: &str = "[attestation_service]\ntype = \"coco_as_builtin\"\n";

/// How admin requests are authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminMode {
    /// Bearer JWTs from the test's Ed25519 key, with issuer and audience checks; ACL: role
    /// `admin` → `^/kbs/.+$`, role `rv-reader` → reference-value reads only.
    Authenticated,
    /// Every admin request refused.
    DenyAll,
}

/// One KBS configuration and its working directory, reusable across restarts.
pub struct KbsEnv {
    /// Holds config, keys, JWKS and the storage directory.
    pub dir: TempDir,
    /// The Ed25519 key the KBS trusts for admin tokens.
    pub admin_key: SigningKey,
    /// The ES256 key the KBS trusts (via `trusted_jwk_sets`) for attestation tokens.
    pub token_key: SigningKey,
    /// The config file.
    pub config_path: PathBuf,
    mode: AdminMode,
    https: bool,
    starts: std::cell::Cell<u32>,
}

impl KbsEnv {
    /// Authenticated admin, 2 MiB body limit.
    pub fn new() -> Self {
        Self::with_admin(AdminMode::Authenticated)
    }

    /// A configuration with the given admin mode.
    pub fn with_admin(mode: AdminMode) -> Self {
        Self::build(mode, false)
    }

    /// Authenticated admin over HTTPS with the `testdata/tls` server certificate (issued by
    /// `testdata/tls/ca.crt` for `127.0.0.1`).
    pub fn https() -> Self {
        Self::build(AdminMode::Authenticated, true)
    }

    fn build(mode: AdminMode, https: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let admin_key = SigningKey::generate_ed25519().unwrap();
        let token_key = SigningKey::generate_es256().unwrap();
        let admin_pub = dir.path().join("admin.pub.pem");
        std::fs::write(&admin_pub, admin_key.public_key_pem().unwrap()).unwrap();
        let mut jwk = serde_json::to_value(token_key.public_jwk().unwrap()).unwrap();
        jwk["kid"] = json!(TOKEN_KID);
        jwk["alg"] = json!("ES256");
        let jwks_path = dir.path().join("token-jwks.json");
        std::fs::write(&jwks_path, json!({"keys": [jwk]}).to_string()).unwrap();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();

        let env = Self {
            config_path: dir.path().join("kbs.toml"),
            dir,
            admin_key,
            token_key,
            mode,
            https,
            starts: std::cell::Cell::new(0),
        };
        env.write_config(&env.trusted_jwks_section(), BUILTIN_AS);
        env
    }

    /// The default `[attestation_token]` section: trust the JWK set of [`KbsEnv::token_key`].
    pub fn trusted_jwks_section(&self) -> String {
        let jwks_path = self.dir.path().join("token-jwks.json");
        format!("[attestation_token]\ntrusted_jwk_sets = [{jwks_path:?}]\n")
    }

    /// The configuration of this environment with the given `[attestation_token]` and
    /// `[attestation_service]` sections (TOML text with their headers): the listener, the
    /// admin authentication and ACL, the LocalFs storage and the `resource` plugin stay as
    /// [`KbsEnv::new`] writes them.
    pub fn config_with(&self, attestation_token: &str, attestation_service: &str) -> String {
        let admin_pub = self.dir.path().join("admin.pub.pem");
        let storage = self.storage_dir();
        let admin = match self.mode {
            AdminMode::Authenticated => format!(
                r#"[admin]
authorization_mode = "AuthenticatedAuthorization"

[admin.authentication.bearer_jwt]
identity_providers = [{{ issuer = "{ADMIN_ISSUER}", audience = "{ADMIN_AUDIENCE}", public_key_uri = {admin_pub:?} }}]

[admin.authorization.regex_acl]
acls = [
    {{ role = "admin", allowed_endpoints = "^/kbs/.+$" }},
    {{ role = "rv-reader", allowed_endpoints = "^/kbs/v0/reference-value/[a-z]+$" }},
]
"#
            ),
            AdminMode::DenyAll => "[admin]\nauthorization_mode = \"DenyAll\"\n".to_owned(),
        };
        let tls = if self.https {
            let tls_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tls");
            format!(
                "insecure_http = false\nprivate_key = {:?}\ncertificate = {:?}\n",
                tls_dir.join("server.key"),
                tls_dir.join("server.crt")
            )
        } else {
            "insecure_http = true\n".to_owned()
        };
        format!(
            r#"[http_server]
sockets = ["127.0.0.1:0"]
{tls}payload_request_size = 2

{attestation_token}
{attestation_service}
{admin}
[storage_backend]
storage_type = "LocalFs"

[storage_backend.backends.local_fs]
dir_path = {storage:?}

[[plugins]]
name = "resource"
storage_backend_type = "kvstorage"
"#
        )
    }

    /// Replaces the config file with [`KbsEnv::config_with`] these sections.
    pub fn write_config(&self, attestation_token: &str, attestation_service: &str) {
        let config = self.config_with(attestation_token, attestation_service);
        std::fs::write(&self.config_path, config).unwrap();
    }

    /// The LocalFs storage directory.
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Starts `kbs -c <config> --socket 127.0.0.1:0` and waits until it listens.
    pub fn start(&self) -> Kbs {
        let n = self.starts.get() + 1;
        self.starts.set(n);
        let log = self.dir.path().join(format!("kbs-{n}.stderr.log"));
        Kbs::spawn(config_args(&self.config_path), &log, false)
    }

    /// A fresh copy of the trusted admin key (keys are not `Clone`).
    pub fn admin_key_copy(&self) -> SigningKey {
        SigningKey::from_pem(&self.admin_key.to_pem().unwrap()).unwrap()
    }

    /// An admin client with the trusted key and the accepted issuer and audience.
    pub fn admin_client(&self, kbs: &Kbs) -> KbsClient {
        kbs.client_builder()
            .admin_signing_key(self.admin_key_copy())
            .admin_issuer(ADMIN_ISSUER)
            .admin_audience(ADMIN_AUDIENCE)
            .build()
            .unwrap()
    }

    /// Every file under the working directory except logs and sessions, with contents: what
    /// must not change when the KBS refuses a request.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        collect(self.dir.path(), self.dir.path(), &mut files);
        files
    }
}

impl Default for KbsEnv {
    fn default() -> Self {
        Self::new()
    }
}

fn collect(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".stderr.log") || name.contains("kbs_protocol_session") {
            continue;
        }
        if path.is_dir() {
            files.insert(format!("{name}/"), Vec::new());
            collect(root, &path, files);
        } else {
            files.insert(name, std::fs::read(&path).unwrap());
        }
    }
}

/// The PEM of the CA that issued the HTTPS test certificate.
pub fn test_ca_pem() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/tls/ca.crt"))
        .unwrap()
}

/// The `kbs-client` binary of this build (see [`workspace_bins`]).
pub fn kbs_client_bin() -> PathBuf {
    workspace_bins(&["kbs-client"], &["kbs-client"]).remove(0)
}

/// Runs the CLI `bin` with `args` (stdin closed, output captured). `envs` adjusts the
/// environment it inherits: `(name, Some(value))` sets a variable, `(name, None)` removes it.
pub fn run_cli(bin: &Path, args: &[&str], envs: &[(&str, Option<&str>)]) -> Output {
    let mut command = Command::new(bin);
    command.args(args).stdin(Stdio::null());
    for (name, value) in envs {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    command.output().unwrap()
}

/// The stdout of a CLI run that must have succeeded; panics with its stderr otherwise.
pub fn stdout_ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "cli failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Process output as text (for messages and `contains` checks).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Binaries `bins` of the workspace `packages`, in the order of `bins`. They are not
/// dependency artifacts of the `kbs` package, so build them (offline: their dependencies are
/// already compiled) next to the `kbs` binary, in its profile.
pub fn workspace_bins(packages: &[&str], bins: &[&str]) -> Vec<PathBuf> {
    let kbs = PathBuf::from(env!("CARGO_BIN_EXE_kbs"));
    let dir = kbs.parent().unwrap().to_owned();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let mut build = Command::new(cargo);
    build.args(["build", "--offline", "--quiet"]);
    for package in packages {
        build.args(["-p", package]);
    }
    for bin in bins {
        build.args(["--bin", bin]);
    }
    if dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().unwrap();
    assert!(status.success(), "building {bins:?} failed");
    bins.iter()
        .map(|name| {
            let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
            assert!(path.exists(), "{} missing", path.display());
            path
        })
        .collect()
}

/// Reads `child`'s stdout lines (trimmed) into `ready` until it returns `true`. A thread keeps
/// draining stdout afterwards, so the child never blocks on a full pipe. When the child closes
/// stdout or [`STARTUP_TIMEOUT`] passes first, the child is killed and the lines seen are
/// returned.
pub fn wait_for_stdout(
    child: &mut Child,
    mut ready: impl FnMut(&str) -> bool,
) -> Result<(), Vec<String>> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // once nobody listens the send fails; keep draining
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = ready(line.trim());
                seen.push(line);
                if done {
                    return Ok(());
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(seen);
            }
        }
    }
}

/// `kbs` arguments: `-c <config> --socket 127.0.0.1:0`.
pub fn config_args(config: &Path) -> Vec<OsString> {
    vec![
        "-c".into(),
        config.into(),
        "--socket".into(),
        "127.0.0.1:0".into(),
    ]
}

/// A started process, killed (SIGKILL, as a crash) and reaped on drop.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// SIGKILL, then waits for it; a process that already exited is left as it is.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `kbs` process; killed on drop.
pub struct Kbs {
    child: KillOnDrop,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The listening address.
    pub addr: SocketAddr,
    /// `admin private key: <path>` when the KBS printed one.
    pub admin_key_path: Option<PathBuf>,
    stderr_log: PathBuf,
}

impl Kbs {
    /// Starts `kbs` with `args`, stderr to `stderr_log`; waits for the listening line and, if
    /// `expect_admin_key`, the `admin private key:` line.
    pub fn spawn(args: Vec<OsString>, stderr_log: &Path, expect_admin_key: bool) -> Self {
        Self::try_spawn(args, &[], stderr_log, expect_admin_key)
            .unwrap_or_else(|reason| panic!("{reason}"))
    }

    /// [`Kbs::spawn`] with `envs` added to its environment; when it exits or stays silent
    /// instead of becoming ready, the stdout lines it printed and its stderr.
    pub fn try_spawn(
        args: Vec<OsString>,
        envs: &[(&str, &Path)],
        stderr_log: &Path,
        expect_admin_key: bool,
    ) -> Result<Self, String> {
        let stderr = std::fs::File::create(stderr_log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_kbs"));
        command
            .args(&args)
            .env_remove("KBS_CONFIG_FILE")
            .env_remove("KBS_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let mut url = None;
        let mut admin_key_path = None;
        let ready = wait_for_stdout(&mut child, |line| {
            if let Some(u) = line.strip_prefix("KBS listening on ") {
                url = url.take().or_else(|| Some(u.trim().to_owned()));
            }
            if let Some(p) = line.strip_prefix("admin private key: ") {
                admin_key_path = Some(PathBuf::from(p.trim()));
            }
            url.is_some() && (!expect_admin_key || admin_key_path.is_some())
        });
        if let Err(seen) = ready {
            return Err(format!(
                "kbs did not become ready; stdout: {seen:?}\nstderr:\n{}",
                std::fs::read_to_string(stderr_log).unwrap_or_default()
            ));
        }
        let url = url.unwrap();
        let addr = url
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .parse()
            .unwrap();
        Ok(Self {
            child: KillOnDrop(child),
            url,
            addr,
            admin_key_path,
            stderr_log: stderr_log.to_owned(),
        })
    }

    /// The KBS's stderr so far (for assertion messages).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// A guest client with a fresh EC P-256 key and the sample attester.
    pub fn guest(&self) -> KbsClient {
        self.client_builder().build().unwrap()
    }

    /// A client builder for this KBS: no proxy, and the test CA trusted when it serves HTTPS.
    pub fn client_builder(&self) -> kbs_client::KbsClientBuilder {
        let builder = KbsClient::builder(&self.url).no_proxy();
        if self.url.starts_with("https://") {
            builder.root_certificate_pem(test_ca_pem())
        } else {
            builder
        }
    }

    /// A guest client with the given TEE key.
    pub fn guest_with_key(&self, key: TeeKeyPair) -> KbsClient {
        self.client_builder().tee_key(key).build().unwrap()
    }

    /// Stops the process (SIGKILL) and waits for it.
    pub fn stop(mut self) {
        self.child.kill();
    }
}

/// An answer read by [`raw`].
#[derive(Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The problem `type` suffix, if the body is a problem document.
    pub fn variant(&self) -> Option<String> {
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        v["type"]
            .as_str()?
            .strip_prefix(PROBLEM_PREFIX)
            .map(str::to_owned)
    }

    /// The problem `detail`.
    pub fn detail(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// First value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Body as text (for messages).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one HTTP/1.1 request with `target` exactly as given (no URL normalisation, so `..`
/// and `%2e%2e` reach the server) and reads the answer. The body is written concurrently with
/// reading, so a server that answers early (413) is still heard.
pub async fn raw(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let body = body.to_vec();
    let write = tokio::spawn(async move {
        // a server that refuses early may close before the body is sent: not an error here
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&body).await;
        }
        writer
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            // a reset after the answer was read still leaves a complete answer
            Err(_) => break,
        }
        if complete(&answer) {
            break;
        }
    }
    write.abort();
    parse_response(&answer)
}

/// [`raw`] `POST target` of a JSON `body`: `Content-Type: application/json`, then `headers`.
pub async fn raw_post_json(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    raw(addr, "POST", target, &all, body).await
}

fn header_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

fn complete(bytes: &[u8]) -> bool {
    let Some(end) = header_end(bytes) else {
        return false;
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
    if let Some(len) = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        return bytes.len() >= end + len;
    }
    if head.contains("transfer-encoding: chunked") {
        return bytes.ends_with(b"0\r\n\r\n");
    }
    false
}

fn parse_response(bytes: &[u8]) -> RawResponse {
    let end = header_end(bytes)
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[end..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    RawResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// Claims of an EAR-shaped token for a sample TEE holding `tee_pubkey`, expiring at `exp`.
pub fn ear_claims(tee_pubkey: &Value, exp: i64) -> Value {
    let now = now();
    json!({
        "eat_profile": "tag:github.com,2024:confidential-containers/Trustee",
        "iat": now,
        "exp": exp,
        "iss": "e2e-test-issuer",
        "ear.verifier-id": {"developer": "e2e", "build": "e2e"},
        "submods": {"cpu0": {
            "ear.status": "affirming",
            "ear.appraisal-policy-id": "default",
            "ear.veraison.annotated-evidence": {
                "sample": {"svn": "1"},
                "runtime_data_claims": {"nonce": "e2e", "tee-pubkey": tee_pubkey}
            }
        }}
    })
}

/// Signs `claims` with `key` and header `kid` = [`TOKEN_KID`].
pub fn sign_with_kid(key: &SigningKey, claims: &Value) -> String {
    let extras = jose::jwt::HeaderExtras {
        kid: Some(TOKEN_KID.to_owned()),
        jwk: None,
    };
    jose::jwt::sign(key, &extras, claims).unwrap()
}

/// An unsigned token (`alg: none`) carrying `claims`.
pub fn unsigned_token(claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": TOKEN_KID});
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Random-looking but deterministic secret bytes covering all byte values.
pub fn secret_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

/// Sets `path` to `bytes` and the allow-all resource policy.
pub async fn seed(env: &KbsEnv, kbs: &Kbs, path: &str, bytes: &[u8]) {
    store_secret(
        &env.admin_client(kbs),
        path,
        bytes,
        kbs_client::policies::ALLOW_ALL,
    )
    .await
    .unwrap();
}

/// Through the admin API: sets `path` to `bytes` and `resource_policy` as the resource policy.
pub async fn store_secret(
    admin: &KbsClient,
    path: &str,
    bytes: &[u8],
    resource_policy: &str,
) -> Result<(), ClientError> {
    admin.set_resource(path, bytes).await?;
    admin.set_resource_policy(resource_policy).await
}

/// An attestation policy (for `default_cpu`) under which the sample TEE is affirming only
/// while reference value `svn` lists its svn.
pub fn svn_policy() -> String {
    rego::trust_vector_policy(
        r#"executables := 3 if {
	input.sample
	input.sample.svn in query_reference_value("svn")
}

hardware := 2 if {
	input.sample
	input.sample.svn in query_reference_value("svn")
}

configuration := 2 if input.sample
"#,
    )
}

/// Through the admin API: `path` = `bytes`, released to affirming TEEs only
/// (`policies::AFFIRMING`), and [`svn_policy`] as `default_cpu`, so the secret is released
/// only while reference value `svn` lists the sample TEE's svn.
pub async fn store_svn_gated_secret(
    admin: &KbsClient,
    path: &str,
    bytes: &[u8],
) -> Result<(), ClientError> {
    store_secret(admin, path, bytes, kbs_client::policies::AFFIRMING).await?;
    admin
        .set_attestation_policy("default_cpu", &svn_policy())
        .await
}

/// Sets the sample reference value `svn` to `svns` through the admin API.
pub async fn set_svn(admin: &KbsClient, svns: &[&str]) {
    admin
        .set_sample_reference_value("svn", json!(svns))
        .await
        .unwrap();
}

/// Reads `path` as `guest` and checks the resource policy refuses it (401 `PolicyDeny`).
pub async fn assert_policy_denies(guest: &KbsClient, path: &str) {
    let err = guest.get_resource(path).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert_eq!(
        err.problem().and_then(|p| p.variant()),
        Some("PolicyDeny"),
        "{err}"
    );
}

/// Reads `path` as a fresh legitimate guest and checks it equals `expected`.
pub async fn assert_secret_intact(kbs: &Kbs, path: &str, expected: &[u8]) {
    let got =
        kbs.guest().get_resource(path).await.unwrap_or_else(|e| {
            panic!("legitimate read failed: {e}\nkbs stderr:\n{}", kbs.stderr())
        });
    assert_eq!(got.as_slice(), expected, "stored secret changed");
}
