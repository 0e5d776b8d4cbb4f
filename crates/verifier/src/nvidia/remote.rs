//! Remote mode: NVIDIA's Remote Attestation Service (NRAS) verifies the device evidence and
//! answers with signed tokens, which this module checks before their claims are used.
//!
//! Exchange (one request per device, as upstream):
//! - `POST {verifier_url}/{gpu|switch}` with
//!   `{"nonce": hex(expected nonce), "arch": "HOPPER"|"BLACKWELL"|"LS10",
//!   "evidence_list": [{"evidence": base64(report), "certificate": <as sent>}],
//!   "claims_version": "3.0"}`.
//! - The answer is a detached EAT: `[["JWT", <overall token>], {"GPU-0": <device token>}]`.
//!   The overall token carries `x-nvidia-overall-att-result`, `eat_nonce` and
//!   `submods: {"GPU-0": ["DIGEST", ["SHA-256", hex(sha256(device token text))]]}`; the device
//!   token carries the per-device claims (`x-nvidia-gpu-*`, `measres`, `secboot`, ...).
//!
//! Checks, each failing with its own [`NvidiaError`] variant:
//! 1. HTTP status success, body at most [`MAX_NRAS_RESPONSE`] bytes, the shape above with
//!    exactly one device token.
//! 2. Both tokens: ES384 compact JWS whose `kid` is in NRAS's JWKS (fetched once per JWKS
//!    URL and cached process-wide; fetched again when a token names a `kid` the cache lacks,
//!    since NVIDIA rotates keys), signature valid, `exp` not passed and `nbf` reached at the
//!    verification time (60 s leeway).
//! 3. The overall token's `submods` names exactly the device token and its SHA-256 digest
//!    equals the digest of the device token's text, so the two tokens belong together.
//! 4. Nonce: the overall token's `eat_nonce` (and the device token's, when present) equals the
//!    nonce sent, and the device token's `x-nvidia-{gpu|switch}-attestation-report-nonce-match`
//!    is `true`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jose::jwt::Header;
use jose::{Jwk, JwkSet, JwsAlgorithm, VerifyingKey};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::NvidiaError;
use crate::Error;

/// NRAS's attestation base URL; the device kind (`gpu`, `switch`) is appended (upstream's
/// `NRAS_URL`).
pub const DEFAULT_NRAS_URL: &str = "https://nras.attestation.nvidia.com/v4/attest";
/// Path of the JWKS on the NRAS host (as NVIDIA's SDK derives it from the verifier URL).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Claims version asked for: the one whose names upstream's `default_gpu` reads.
pub const CLAIMS_VERSION: &str = "3.0";
/// Largest NRAS attestation response accepted (one device: a few KiB of tokens).
pub const MAX_NRAS_RESPONSE: usize = 256 * 1024;
/// Largest JWKS accepted.
pub const MAX_JWKS_RESPONSE: usize = 64 * 1024;
/// Time for one attestation request: NRAS fetches RIMs and OCSP answers before it replies,
/// so this is longer than a document download (upstream uses 60 s).
pub const NRAS_TIMEOUT: Duration = Duration::from_secs(60);
/// Time for one JWKS download.
pub const JWKS_TIMEOUT: Duration = Duration::from_secs(20);
/// Clock skew tolerated on the tokens' `exp` and `nbf`.
pub const TOKEN_LEEWAY_SECS: u64 = 60;
/// Most characters of an NRAS error body quoted in an error (it explains a refusal).
const MAX_ERROR_BODY_CHARS: usize = 256;

/// `verifier_config.nvidia_verifier`: `{"type":"Local"}` (default) or
/// `{"type":"Remote","verifier_url"?,"jwks_url"?}`; lowercase type names are accepted too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(tag = "type")]
pub enum NvidiaVerifierConfig {
    /// Verify Hopper evidence locally (no network).
    #[default]
    #[serde(alias = "local")]
    Local,
    /// Send the evidence to NRAS and use its signed answer.
    #[serde(alias = "remote")]
    Remote(RemoteConfig),
}

/// The `Remote` mode's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// NRAS base URL, without the `/gpu` or `/switch` suffix; default [`DEFAULT_NRAS_URL`].
    #[serde(default)]
    pub verifier_url: Option<String>,
    /// Where NRAS's signing keys are published; default: [`JWKS_PATH`] on the verifier URL's
    /// host. Not an upstream key (upstream always uses NVIDIA's production JWKS).
    #[serde(default)]
    pub jwks_url: Option<String>,
}

impl NvidiaVerifierConfig {
    /// Reads `verifier_config.nvidia_verifier`; local mode when the table is absent.
    pub fn from_table(table: Option<&Map<String, Value>>) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidConfig {
            section: "nvidia_verifier",
            reason,
        };
        let Some(table) = table else {
            return Ok(Self::Local);
        };
        let config = Self::deserialize(table).map_err(|err| invalid(err.to_string()))?;
        if let Self::Remote(remote) = &config {
            remote.endpoints().map_err(invalid)?;
        }
        Ok(config)
    }
}

impl RemoteConfig {
    /// The attestation base URL and the JWKS URL, both parsed and `http(s)`.
    fn endpoints(&self) -> Result<(reqwest::Url, reqwest::Url), String> {
        let base = parse_url(
            "verifier_url",
            self.verifier_url.as_deref().unwrap_or(DEFAULT_NRAS_URL),
        )?;
        let jwks = match &self.jwks_url {
            Some(url) => parse_url("jwks_url", url)?,
            None => {
                let mut url = base.clone();
                url.set_path(JWKS_PATH);
                url.set_query(None);
                url.set_fragment(None);
                url
            }
        };
        Ok((base, jwks))
    }
}

fn parse_url(key: &str, text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|err| format!("{key} `{text}`: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{key} `{text}` is not an http(s) url"));
    }
    Ok(url)
}

/// The device kinds NRAS attests, by evidence `arch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceKind {
    /// Hopper and Blackwell GPUs (`/gpu`, claims `x-nvidia-gpu-*`).
    Gpu,
    /// NVSwitch LS10 (`/switch`, claims `x-nvidia-switch-*`).
    Switch,
}

impl DeviceKind {
    /// The kind and NRAS's arch name for an evidence `arch` (case-insensitive).
    pub(crate) fn from_arch(arch: &str) -> Option<(Self, &'static str)> {
        match arch.to_ascii_uppercase().as_str() {
            "HOPPER" => Some((Self::Gpu, "HOPPER")),
            "BLACKWELL" => Some((Self::Gpu, "BLACKWELL")),
            "LS10" => Some((Self::Switch, "LS10")),
            _ => None,
        }
    }

    fn endpoint(self) -> &'static str {
        match self {
            Self::Gpu => "gpu",
            Self::Switch => "switch",
        }
    }
}

/// An NRAS endpoint with the JWKS that signs its answers.
#[derive(Debug, Clone)]
pub struct NrasClient {
    base_url: reqwest::Url,
    jwks: Arc<JwksCache>,
}

impl NrasClient {
    /// The client for `config`; the JWKS cache is shared with every client of the same JWKS URL.
    pub fn new(config: &RemoteConfig) -> Result<Self, Error> {
        let (base_url, jwks_url) = config.endpoints().map_err(|reason| Error::InvalidConfig {
            section: "nvidia_verifier",
            reason,
        })?;
        Ok(Self {
            base_url,
            jwks: JwksCache::shared(jwks_url.as_str()),
        })
    }

    /// Attests one device at NRAS and returns the verified device claims (NRAS's names) plus
    /// `x-nvidia-overall-att-result` from the overall token.
    pub(crate) async fn attest(
        &self,
        request: &DeviceRequest<'_>,
        device: usize,
        now: u64,
    ) -> Result<Map<String, Value>, NvidiaError> {
        let url = self.attest_url(request.kind);
        let body = json!({
            "nonce": hex::encode(request.nonce),
            "arch": request.arch,
            "evidence_list": [{
                "evidence": STANDARD.encode(request.evidence),
                "certificate": request.certificate,
            }],
            "claims_version": CLAIMS_VERSION,
        });
        let response = post_json(&url, &body, device).await?;
        let response = NrasResponse::parse(&response, device)?;
        self.check(&response, request, device, now).await
    }

    /// `{verifier_url}/{gpu|switch}`, appended to the path (a query string stays last).
    fn attest_url(&self, kind: DeviceKind) -> String {
        let mut url = self.base_url.clone();
        let path = format!("{}/{}", url.path().trim_end_matches('/'), kind.endpoint());
        url.set_path(&path);
        url.into()
    }

    /// Steps 2 to 4 of the module docs on a parsed response.
    async fn check(
        &self,
        response: &NrasResponse,
        request: &DeviceRequest<'_>,
        device: usize,
        now: u64,
    ) -> Result<Map<String, Value>, NvidiaError> {
        let overall = self
            .verify_token(&response.overall, "overall", device, now)
            .await?;
        let mut claims = self
            .verify_token(&response.device_token, &response.device_name, device, now)
            .await?;
        check_submods(&overall, response, device)?;

        let nonce = hex::encode(request.nonce);
        let echoed = |claims: &Map<String, Value>| {
            claims
                .get("eat_nonce")
                .and_then(Value::as_str)
                .map(|text| text.eq_ignore_ascii_case(&nonce))
        };
        if echoed(&overall) != Some(true) {
            return Err(NvidiaError::NrasNonceMismatch {
                device,
                token: "overall".into(),
            });
        }
        if echoed(&claims) == Some(false) {
            return Err(NvidiaError::NrasNonceMismatch {
                device,
                token: response.device_name.clone(),
            });
        }
        let flag = format!(
            "x-nvidia-{}-attestation-report-nonce-match",
            request.kind.endpoint()
        );
        if claims.get(&flag) != Some(&Value::Bool(true)) {
            return Err(NvidiaError::NrasNonceNotMatched {
                device,
                claim: flag,
            });
        }

        if let Some(result) = overall.get("x-nvidia-overall-att-result") {
            claims.insert("x-nvidia-overall-att-result".into(), result.clone());
        }
        Ok(claims)
    }

    /// Signature (by a JWKS key named by `kid`), `exp` and `nbf` of one token; its claims.
    async fn verify_token(
        &self,
        token: &str,
        name: &str,
        device: usize,
        now: u64,
    ) -> Result<Map<String, Value>, NvidiaError> {
        let invalid = |reason: String| NvidiaError::NrasToken {
            device,
            token: name.into(),
            reason,
        };
        let header = Header::decode(token).map_err(|err| invalid(err.to_string()))?;
        if header.alg != JwsAlgorithm::Es384.name() {
            return Err(invalid(format!("alg is `{}`, expected ES384", header.alg)));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("header has no kid".into()))?;
        let key = self.jwks.key(&kid, device, name).await?;
        match jose::jwt::verify_with_leeway(token, &key, now, TOKEN_LEEWAY_SECS) {
            Ok(Value::Object(claims)) => Ok(claims),
            Ok(_) => Err(invalid("payload is not a json object".into())),
            Err(jose::Error::BadSignature) => Err(NvidiaError::NrasTokenSignature {
                device,
                token: name.into(),
            }),
            Err(err) => Err(invalid(err.to_string())),
        }
    }
}

/// What NRAS is asked about one device.
#[derive(Debug)]
pub(crate) struct DeviceRequest<'a> {
    /// Gpu or switch.
    pub(crate) kind: DeviceKind,
    /// NRAS's arch name.
    pub(crate) arch: &'static str,
    /// The SPDM request and response bytes.
    pub(crate) evidence: &'a [u8],
    /// The `certificate` text as the attester sent it (base64 of the PEM chain).
    pub(crate) certificate: &'a str,
    /// The expected nonce (report data regularised to 32 bytes).
    pub(crate) nonce: &'a [u8],
}

/// The detached EAT NRAS answers with (module docs).
#[derive(Debug)]
struct NrasResponse {
    overall: String,
    device_name: String,
    device_token: String,
}

impl NrasResponse {
    fn parse(body: &[u8], device: usize) -> Result<Self, NvidiaError> {
        let format = |reason: &str| NvidiaError::NrasResponseFormat {
            device,
            reason: reason.into(),
        };
        let (overall, devices): ((String, String), HashMap<String, String>) =
            serde_json::from_slice(body)
                .map_err(|_| format("not [[\"JWT\", <token>], {<device>: <token>}] json"))?;
        if overall.0 != "JWT" {
            return Err(format("the overall token is not tagged \"JWT\""));
        }
        let mut devices = devices.into_iter();
        let (Some((device_name, device_token)), None) = (devices.next(), devices.next()) else {
            return Err(format("expected exactly one device token"));
        };
        Ok(Self {
            overall: overall.1,
            device_name,
            device_token,
        })
    }
}

/// The overall token's `submods` must name exactly the device token, with its SHA-256.
fn check_submods(
    overall: &Map<String, Value>,
    response: &NrasResponse,
    device: usize,
) -> Result<(), NvidiaError> {
    let submods_error = |reason: &str| NvidiaError::NrasSubmods {
        device,
        token: response.device_name.clone(),
        reason: reason.into(),
    };
    let submods = overall
        .get("submods")
        .and_then(Value::as_object)
        .ok_or_else(|| submods_error("the overall token has no submods object"))?;
    if submods.len() != 1 {
        return Err(submods_error(
            "the overall token's submods do not name exactly the device token",
        ));
    }
    let entry = submods
        .get(&response.device_name)
        .ok_or_else(|| submods_error("the overall token's submods do not name the device token"))?;
    // ["DIGEST", ["SHA-256", "<hex>"]]
    let digest = match entry.as_array().map(Vec::as_slice) {
        Some([Value::String(tag), Value::Array(pair)]) if tag == "DIGEST" => pair.as_slice(),
        _ => {
            return Err(submods_error(
                "the submod is not a [\"DIGEST\", [alg, hex]] entry",
            ));
        }
    };
    let [Value::String(alg), Value::String(value)] = digest else {
        return Err(submods_error("the submod digest is not [alg, hex]"));
    };
    // NRAS writes "SHA-256"; "SHA256" is accepted as the same algorithm.
    if !matches!(alg.as_str(), "SHA-256" | "SHA256") {
        return Err(submods_error("the submod digest algorithm is not SHA-256"));
    }
    let actual = hex::encode(digest_of(&response.device_token));
    if !value.eq_ignore_ascii_case(&actual) {
        return Err(submods_error(
            "the device token's sha-256 differs from the overall token's submod digest",
        ));
    }
    Ok(())
}

fn digest_of(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}

/// NRAS's signing keys by `kid`, as last fetched from one JWKS URL.
#[derive(Debug)]
pub(crate) struct JwksCache {
    url: String,
    /// The keys of the last fetch (empty before the first). Lookups hold the lock only to
    /// clone the `Arc`, so verifications with a cached key never wait for a download.
    keys: Mutex<Arc<HashMap<String, KeyEntry>>>,
    /// Held across a download, so concurrent verifications that miss a key wait for one
    /// download instead of each starting one.
    refresh: tokio::sync::Mutex<()>,
}

/// One JWKS member: a usable ES384 key, or why it cannot verify NRAS tokens.
#[derive(Debug, Clone)]
enum KeyEntry {
    Usable(Arc<VerifyingKey>),
    Unusable(String),
}

impl JwksCache {
    /// The process-wide cache for `url` (verifiers are created per request; the keys are not).
    fn shared(url: &str) -> Arc<Self> {
        static CACHES: OnceLock<Mutex<HashMap<String, Arc<JwksCache>>>> = OnceLock::new();
        let mut caches = lock(CACHES.get_or_init(Default::default));
        Arc::clone(caches.entry(url.to_owned()).or_insert_with(|| {
            Arc::new(Self {
                url: url.to_owned(),
                keys: Mutex::default(),
                refresh: tokio::sync::Mutex::new(()),
            })
        }))
    }

    /// The key named `kid`, fetching the JWKS when it is not cached (first use, or rotation).
    async fn key(
        &self,
        kid: &str,
        device: usize,
        token: &str,
    ) -> Result<Arc<VerifyingKey>, NvidiaError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let _refresh = self.refresh.lock().await;
        // Another verification may have downloaded the keys while this one waited.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let fetched = Arc::new(self.fetch(device).await?);
        *lock(&self.keys) = Arc::clone(&fetched);
        match fetched.get(kid).cloned() {
            Some(KeyEntry::Usable(key)) => Ok(key),
            Some(KeyEntry::Unusable(reason)) => Err(NvidiaError::NrasKey {
                device,
                token: token.into(),
                kid: kid.into(),
                reason,
            }),
            None => Err(NvidiaError::NrasUnknownKid {
                device,
                token: token.into(),
                kid: kid.into(),
            }),
        }
    }

    /// The usable key `kid` of the last download, if any.
    fn cached(&self, kid: &str) -> Option<Arc<VerifyingKey>> {
        let keys = Arc::clone(&lock(&self.keys));
        match keys.get(kid) {
            Some(KeyEntry::Usable(key)) => Some(Arc::clone(key)),
            _ => None,
        }
    }

    async fn fetch(&self, device: usize) -> Result<HashMap<String, KeyEntry>, NvidiaError> {
        let jwks_error = |reason: String| NvidiaError::NrasJwks {
            device,
            url: self.url.clone(),
            reason,
        };
        let request = client()
            .map_err(|reason| jwks_error(reason.clone()))?
            .get(&self.url)
            .timeout(JWKS_TIMEOUT);
        let (status, body) = send(request, MAX_JWKS_RESPONSE)
            .await
            .map_err(|err| jwks_error(err.describe()))?;
        if !(200..300).contains(&status) {
            return Err(jwks_error(format!("http status {status}")));
        }
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|_| jwks_error("not a jwk set".into()))?;
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.kid.clone()?;
                let entry = match es384_key(jwk) {
                    Ok(key) => KeyEntry::Usable(Arc::new(key)),
                    Err(reason) => KeyEntry::Unusable(reason),
                };
                Some((kid, entry))
            })
            .collect())
    }
}

/// Locks one of the caches. Each critical section is one lookup, clone or replacement, so a
/// value behind a poisoned lock is still intact.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An ES384 verifying key from a JWKS member: EC P-384 `x`/`y`, else the key of `x5c[0]`.
/// The certificate is not path-validated: the JWKS is trusted as NRAS's (fetched over TLS).
fn es384_key(jwk: &Jwk) -> Result<VerifyingKey, String> {
    match jwk.alg.as_deref() {
        Some(alg) if alg != JwsAlgorithm::Es384.name() => {
            return Err(format!("key alg is `{alg}`, expected ES384"));
        }
        _ => {}
    }
    let key = if jwk.x.is_some() || jwk.y.is_some() || jwk.x5c.is_none() {
        let jwk = Jwk {
            alg: Some(JwsAlgorithm::Es384.name().into()),
            ..jwk.clone()
        };
        VerifyingKey::from_jwk(&jwk).map_err(|err| err.to_string())?
    } else {
        let x5c = jwk.x5c.as_deref().unwrap_or_default();
        jose::x5c::leaf_key(x5c).map_err(|err| err.to_string())?
    };
    key.check_algorithm(JwsAlgorithm::Es384)
        .map_err(|err| err.to_string())?;
    Ok(key)
}

/// POSTs `body` as JSON; the response body on a success status.
async fn post_json(url: &str, body: &Value, device: usize) -> Result<Vec<u8>, NvidiaError> {
    let request_error = |reason: String| NvidiaError::NrasRequest {
        device,
        url: url.into(),
        reason,
    };
    let request = client()
        .map_err(|reason| request_error(reason.clone()))?
        .post(url)
        .timeout(NRAS_TIMEOUT)
        .json(body);
    let (status, response) = match send(request, MAX_NRAS_RESPONSE).await {
        Ok(answer) => answer,
        Err(SendError::TooLarge) => {
            return Err(NvidiaError::NrasResponseTooLarge {
                device,
                url: url.into(),
                max: MAX_NRAS_RESPONSE,
            });
        }
        Err(err) => return Err(request_error(err.describe())),
    };
    if !(200..300).contains(&status) {
        return Err(NvidiaError::NrasStatus {
            device,
            url: url.into(),
            status,
            detail: excerpt(&response),
        });
    }
    Ok(response)
}

/// The start of an error body as printable text (NRAS explains refusals in it).
fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_ERROR_BODY_CHARS)
        .collect()
}

/// Why a request got no bounded answer.
#[derive(Debug)]
enum SendError {
    Timeout,
    Transport(String),
    TooLarge,
}

impl SendError {
    fn describe(&self) -> String {
        match self {
            Self::Timeout => "timed out".into(),
            Self::Transport(reason) => reason.clone(),
            Self::TooLarge => "response too large".into(),
        }
    }

    fn from_reqwest(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            return Self::Timeout;
        }
        // reqwest's own message repeats the URL; the innermost cause says what failed.
        let mut cause: &(dyn std::error::Error + 'static) = err;
        while let Some(source) = cause.source() {
            cause = source;
        }
        Self::Transport(cause.to_string())
    }
}

/// Sends `request` and reads at most `limit` body bytes; the status and the body.
async fn send(request: reqwest::RequestBuilder, limit: usize) -> Result<(u16, Vec<u8>), SendError> {
    let mut response = request
        .send()
        .await
        .map_err(|err| SendError::from_reqwest(&err))?;
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(SendError::TooLarge);
    }
    let status = response.status().as_u16();
    // A chunked body announces no size, so count while reading too.
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| SendError::from_reqwest(&err))?
    {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(SendError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

/// The process-wide HTTP client of the remote mode.
fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::limited(3))
                // Verifications may run on different runtimes over a process's life (one per
                // test, one per CLI run); a pooled connection is tied to the runtime that
                // opened it, so pooling would only add failure modes.
                .pool_max_idle_per_host(0)
                .build()
                .map_err(|err| format!("cannot build the http client: {err}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A published answer of NVIDIA's production NRAS (`testdata/README.md`).
    const PUBLISHED: &str = include_str!("testdata/nras_v3_published_response.json");

    /// A token's claims, decoded without checking its signature.
    fn unverified_claims(token: &str) -> Map<String, Value> {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&jose::b64::decode_url("payload", payload).unwrap()).unwrap()
    }

    #[test]
    fn a_published_nras_answer_has_the_shape_and_binding_checked() {
        let response = NrasResponse::parse(PUBLISHED.as_bytes(), 0).unwrap();
        assert_eq!(response.device_name, "GPU-0");
        for token in [&response.overall, &response.device_token] {
            let header = Header::decode(token).unwrap();
            assert_eq!(header.alg, "ES384");
            assert!(header.kid.unwrap().starts_with("nv-eat-kid-prod-"));
        }
        let overall = unverified_claims(&response.overall);
        check_submods(&overall, &response, 0).unwrap();
        let device = unverified_claims(&response.device_token);
        assert_eq!(overall["eat_nonce"], device["eat_nonce"]);
        assert_eq!(
            device["x-nvidia-gpu-attestation-report-nonce-match"],
            Value::Bool(true)
        );

        // Any change to the device token breaks the binding.
        let mut tampered = NrasResponse::parse(PUBLISHED.as_bytes(), 0).unwrap();
        tampered.device_token.push('A');
        assert!(matches!(
            check_submods(&overall, &tampered, 0),
            Err(NvidiaError::NrasSubmods { .. })
        ));
    }

    #[test]
    fn the_jwks_url_defaults_to_the_nras_host() {
        let (base, jwks) = RemoteConfig::default().endpoints().unwrap();
        assert_eq!(base.as_str(), DEFAULT_NRAS_URL);
        assert_eq!(
            jwks.as_str(),
            "https://nras.attestation.nvidia.com/.well-known/jwks.json"
        );
        let config = RemoteConfig {
            verifier_url: Some("http://127.0.0.1:8080/nras/v4/attest/?x=1".into()),
            jwks_url: None,
        };
        let (base, jwks) = config.endpoints().unwrap();
        assert_eq!(jwks.as_str(), "http://127.0.0.1:8080/.well-known/jwks.json");
        let client = NrasClient {
            base_url: base,
            jwks: JwksCache::shared(jwks.as_str()),
        };
        assert_eq!(
            client.attest_url(DeviceKind::Switch),
            "http://127.0.0.1:8080/nras/v4/attest/switch?x=1"
        );
    }
}
