//! [`KbsClient`]: the RCAR handshake and resource retrieval (`kbs-protocol.md` §3, §4, §15.1).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jose::TeeKeyPair;
use kbs_types::{
    Attestation, Challenge, CompositeEvidence, HashAlgorithm, InitData, Request, Response,
    RuntimeData,
};
use reqwest::header::{AUTHORIZATION, COOKIE, HeaderValue, SET_COOKIE};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::admin::AdminCredentials;
use crate::{Attester, ClientError, SampleAttester};

/// The protocol version this client speaks; the KBS accepts exactly `0.4.0` (§3.1).
pub const PROTOCOL_VERSION: &str = "0.4.0";

/// Name of the session cookie set by `/auth` and re-sent on `/attest` and resource reads.
pub const SESSION_COOKIE: &str = "kbs-session-id";

/// Hash algorithms offered in `/auth`, as upstream's guest client offers them.
const SUPPORTED_HASH_ALGORITHMS: [&str; 4] = ["sha256", "sha384", "sha512", "sm3"];

/// How many resource requests the cookie flow makes before giving up on 401, as upstream's
/// guest client does (§15.1).
const MAX_RESOURCE_ATTEMPTS: usize = 3;

/// Per-request timeout: a KBS that hangs must not hang the caller forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds a [`KbsClient`].
pub struct KbsClientBuilder {
    url: String,
    root_certs_pem: Vec<String>,
    tee_key: Option<TeeKeyPair>,
    attester: Option<Arc<dyn Attester>>,
    init_data_toml: Option<String>,
    admin: Option<AdminCredentials>,
    admin_role: String,
    admin_issuer: Option<String>,
    admin_audience: Option<String>,
    no_proxy: bool,
}

impl KbsClientBuilder {
    fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            root_certs_pem: Vec::new(),
            tee_key: None,
            attester: None,
            init_data_toml: None,
            admin: None,
            admin_role: crate::admin::DEFAULT_ADMIN_ROLE.to_owned(),
            admin_issuer: None,
            admin_audience: None,
            no_proxy: false,
        }
    }

    /// Trusts the certificate(s) in this PEM text for HTTPS (a self-signed KBS, `--cert-file`).
    /// When any is given, only these roots are trusted.
    pub fn root_certificate_pem(mut self, pem: impl Into<String>) -> Self {
        self.root_certs_pem.push(pem.into());
        self
    }

    /// The TEE key pair whose public half goes into the token and to which resources are
    /// encrypted. Default: a fresh EC P-256 key.
    pub fn tee_key(mut self, key: TeeKeyPair) -> Self {
        self.tee_key = Some(key);
        self
    }

    /// Where evidence comes from. Default: [`SampleAttester`].
    pub fn attester(mut self, attester: Arc<dyn Attester>) -> Self {
        self.attester = Some(attester);
        self
    }

    /// Init-data (TOML text) sent with `/attest` as `{"format":"toml","body":...}` (§3.3).
    pub fn init_data_toml(mut self, toml_text: impl Into<String>) -> Self {
        self.init_data_toml = Some(toml_text.into());
        self
    }

    /// Signs a short-lived admin token with this key for every admin request.
    pub fn admin_signing_key(mut self, key: jose::SigningKey) -> Self {
        self.admin = Some(AdminCredentials::SigningKey(Box::new(key)));
        self
    }

    /// Sends this ready-made admin token (JWT) with every admin request.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin = Some(AdminCredentials::Token(Zeroizing::new(token.into())));
        self
    }

    /// The `role` claim of minted admin tokens. Default `admin`.
    pub fn admin_role(mut self, role: impl Into<String>) -> Self {
        self.admin_role = role.into();
        self
    }

    /// The `iss` claim of minted admin tokens. Default: none.
    pub fn admin_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.admin_issuer = Some(issuer.into());
        self
    }

    /// The `aud` claim of minted admin tokens. Default: none.
    pub fn admin_audience(mut self, audience: impl Into<String>) -> Self {
        self.admin_audience = Some(audience.into());
        self
    }

    /// Ignores `HTTP(S)_PROXY` environment settings (useful against a local KBS).
    pub fn no_proxy(mut self) -> Self {
        self.no_proxy = true;
        self
    }

    /// Builds the client: parses the URL, builds the one HTTP client, generates the default
    /// TEE key if none was given.
    pub fn build(self) -> Result<KbsClient, ClientError> {
        let base = parse_base_url(&self.url)?;
        let mut http = reqwest::Client::builder()
            .user_agent(concat!("kbs-client/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT);
        if !self.root_certs_pem.is_empty() {
            let mut certs = Vec::new();
            for pem in &self.root_certs_pem {
                let bundle = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                    .map_err(|e| ClientError::InvalidInput(format!("root certificate: {e}")))?;
                if bundle.is_empty() {
                    return Err(ClientError::InvalidInput(
                        "root certificate: no certificate in PEM".to_owned(),
                    ));
                }
                certs.extend(bundle);
            }
            http = http.tls_certs_only(certs);
        }
        if self.no_proxy {
            http = http.no_proxy();
        }
        let http = http.build()?;
        let tee_key = match self.tee_key {
            Some(key) => key,
            None => TeeKeyPair::generate_ec_p256()?,
        };
        let attester = self
            .attester
            .unwrap_or_else(|| Arc::new(SampleAttester::new()));
        let admin = self.admin.map(|credentials| crate::admin::Admin {
            credentials,
            role: self.admin_role,
            issuer: self.admin_issuer,
            audience: self.admin_audience,
        });
        Ok(KbsClient {
            base,
            http,
            tee_key,
            attester,
            init_data_toml: self.init_data_toml,
            admin,
            session: Mutex::new(None),
        })
    }
}

/// A client of one KBS. Build it once and reuse it: it holds one HTTP connection pool, the TEE
/// key and the RCAR session cookie.
///
/// The session cookie is handled here rather than by a generic cookie jar so that
/// [`KbsClient::get_resource_with_token`] can send the token alone: the KBS prefers a cookie
/// over a Bearer token, and a stale jar cookie would silently change which credential is used.
/// Concurrent cookie-flow calls on one client share one session; use one client per guest.
pub struct KbsClient {
    pub(crate) base: Url,
    pub(crate) http: reqwest::Client,
    tee_key: TeeKeyPair,
    attester: Arc<dyn Attester>,
    init_data_toml: Option<String>,
    pub(crate) admin: Option<crate::admin::Admin>,
    session: Mutex<Option<HeaderValue>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: String,
}

impl KbsClient {
    /// Starts building a client for the KBS at `url` (e.g. `http://127.0.0.1:8080`).
    pub fn builder(url: impl Into<String>) -> KbsClientBuilder {
        KbsClientBuilder::new(url)
    }

    /// The KBS root URL this client talks to.
    pub fn url(&self) -> &Url {
        &self.base
    }

    /// The TEE key pair whose public half is sent for attestation.
    pub fn tee_key(&self) -> &TeeKeyPair {
        &self.tee_key
    }

    /// Runs the RCAR handshake (`/auth` then `/attest`) and returns the attestation token. The
    /// session cookie is kept, so later resource reads use the attested session.
    pub async fn attest(&self) -> Result<String, ClientError> {
        let request = Request {
            version: PROTOCOL_VERSION.to_owned(),
            tee: self.attester.tee(),
            extra_params: json!({"supported-hash-algorithms": SUPPORTED_HASH_ALGORITHMS}),
        };
        // A new handshake always starts a new session (§3.1), so the old cookie is dropped
        // first: it must not leak into the new session's requests if /auth fails.
        self.set_session(None);
        let response = self
            .http
            .post(self.endpoint("auth")?)
            .json(&request)
            .send()
            .await?;
        let response = check_status(response).await?;
        let cookie = session_cookie(response.headers());
        let challenge: Challenge = read_json(response).await?;
        let cookie = cookie.ok_or_else(|| {
            ClientError::UnexpectedResponse(format!(
                "/auth answer carries no {SESSION_COOKIE} cookie"
            ))
        })?;

        let attestation = self.attestation_for(&challenge)?;
        let response = self
            .http
            .post(self.endpoint("attest")?)
            .header(COOKIE, cookie.clone())
            .json(&attestation)
            .send()
            .await?;
        let response = check_status(response).await?;
        let token: TokenResponse = read_json(response).await?;
        // only an attested session is worth re-sending: an unattested one is refused anyway
        self.set_session(Some(cookie));
        Ok(token.token)
    }

    /// Builds the `/attest` body for a challenge: runtime data, its canonical hash bound into
    /// the evidence, and the init-data (§3.2, §3.3).
    pub fn attestation_for(&self, challenge: &Challenge) -> Result<Attestation, ClientError> {
        let hash = selected_hash_algorithm(&challenge.extra_params)?;
        let tee_pubkey = self.tee_key.public_key()?;
        let tee_pubkey_json = serde_json::to_value(&tee_pubkey)
            .map_err(|e| ClientError::InvalidInput(format!("TEE public key: {e}")))?;
        let device_runtime_data = json!({"nonce": challenge.nonce, "tee-pubkey": tee_pubkey_json});
        let device_report_data = jose::jcs::runtime_data_digest(&device_runtime_data, hash)?;
        let additional_evidence = self
            .attester
            .additional_evidence(&device_report_data)?
            .unwrap_or_default();
        let runtime_data = json!({
            "additional-evidence": additional_evidence,
            "nonce": challenge.nonce,
            "tee-pubkey": tee_pubkey_json,
        });
        let report_data = jose::jcs::runtime_data_digest(&runtime_data, hash)?;
        let primary_evidence = self.attester.evidence(&report_data)?;
        Ok(Attestation {
            init_data: self.init_data_toml.as_ref().map(|body| InitData {
                format: "toml".to_owned(),
                body: body.clone(),
            }),
            runtime_data: RuntimeData {
                nonce: challenge.nonce.clone(),
                tee_pubkey,
            },
            tee_evidence: CompositeEvidence {
                primary_evidence,
                additional_evidence,
            },
        })
    }

    /// Reads a resource (`<repository>/<type>/<tag>`) the way the guest client does: the first
    /// request goes out with whatever session the client holds (none at first); each 401 runs a
    /// new RCAR handshake and retries, at most three requests in all; 401 on the last one is
    /// [`ClientError::Unauthorized`] with the server's problem. The answer is decrypted with
    /// the TEE key.
    pub async fn get_resource(&self, path: &str) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        self.get_plugin(&format!("resource/{}", checked_path(path)?))
            .await
    }

    /// Like [`KbsClient::get_resource`] for any plugin path below `/kbs/v0/` (e.g.
    /// `resource/a/b/c`), for plugins whose answer is JWE-encrypted.
    pub async fn get_plugin(&self, plugin_path: &str) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        let url = self.endpoint(plugin_path)?;
        let mut last_problem = None;
        for attempt in 1..=MAX_RESOURCE_ATTEMPTS {
            let mut request = self.http.get(url.clone());
            if let Some(cookie) = self.session() {
                request = request.header(COOKIE, cookie);
            }
            let response = request.send().await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                let body = response.bytes().await?;
                last_problem = Some(crate::Problem::from_response(401, &body));
                if attempt < MAX_RESOURCE_ATTEMPTS {
                    self.attest().await?;
                }
                continue;
            }
            let response = check_status(response).await?;
            return self.decrypt_answer(response).await;
        }
        Err(ClientError::Unauthorized(
            last_problem.unwrap_or_else(|| crate::Problem::from_response(401, b"")),
        ))
    }

    /// Reads a resource with an attestation token (`Authorization: Bearer`) and no cookie, as
    /// the token client does (§15.1). The token's `tee-pubkey` must be this client's TEE key.
    pub async fn get_resource_with_token(
        &self,
        path: &str,
        token: &str,
    ) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        let url = self.endpoint(&format!("resource/{}", checked_path(path)?))?;
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
                ClientError::InvalidInput("token is not a valid header value".to_owned())
            })?;
        auth.set_sensitive(true);
        let response = self
            .http
            .get(url)
            .header(AUTHORIZATION, auth)
            .send()
            .await?;
        let response = check_status(response).await?;
        self.decrypt_answer(response).await
    }

    /// Forgets the RCAR session, so the next cookie-flow read starts unauthenticated.
    pub fn clear_session(&self) {
        self.set_session(None);
    }

    async fn decrypt_answer(
        &self,
        response: reqwest::Response,
    ) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        let jwe: Response = read_json(response).await?;
        Ok(self.tee_key.decrypt(&jwe)?)
    }

    /// `<base>/kbs/v0/<suffix>`.
    pub(crate) fn endpoint(&self, suffix: &str) -> Result<Url, ClientError> {
        let text = format!(
            "{}/kbs/v0/{suffix}",
            self.base.as_str().trim_end_matches('/')
        );
        Url::parse(&text).map_err(|e| ClientError::InvalidInput(format!("request URL: {e}")))
    }

    fn session(&self) -> Option<HeaderValue> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_session(&self, cookie: Option<HeaderValue>) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = cookie;
    }
}

/// Turns a non-2xx answer into the matching error, keeping the problem document.
pub(crate) async fn check_status(
    response: reqwest::Response,
) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.bytes().await?;
    Err(ClientError::from_status(status.as_u16(), &body))
}

async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, ClientError> {
    let body = response.bytes().await?;
    serde_json::from_slice(&body).map_err(|e| {
        ClientError::UnexpectedResponse(format!(
            "expected {}: {e}",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("JSON")
        ))
    })
}

/// The `kbs-session-id=<id>` pair from an answer's `Set-Cookie` headers, ready to send as
/// `Cookie` (marked sensitive); `None` when there is none or its value is empty.
pub fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<HeaderValue> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::trim)
        .find(|pair| {
            pair.split_once('=')
                .is_some_and(|(name, value)| name.trim() == SESSION_COOKIE && !value.is_empty())
        })
        .and_then(|pair| {
            let mut value = HeaderValue::from_str(pair).ok()?;
            // the session id is a bearer credential for the attested session
            value.set_sensitive(true);
            Some(value)
        })
}

/// The hash algorithm the challenge selected: `extra-params.selected-hash-algorithm`
/// (case-insensitive), SHA-384 when absent (§3.4, §15.1).
pub fn selected_hash_algorithm(extra_params: &Value) -> Result<HashAlgorithm, ClientError> {
    let Some(selected) = extra_params.get("selected-hash-algorithm") else {
        return Ok(HashAlgorithm::Sha384);
    };
    let name = selected
        .as_str()
        .ok_or_else(|| ClientError::UnsupportedHashAlgorithm(selected.to_string()))?;
    name.parse::<HashAlgorithm>()
        .map_err(|_| ClientError::UnsupportedHashAlgorithm(name.to_owned()))
}

fn parse_base_url(url: &str) -> Result<Url, ClientError> {
    let parsed = Url::parse(url).map_err(|e| ClientError::InvalidUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: "scheme must be http or https".to_owned(),
        });
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: "no query or fragment allowed".to_owned(),
        });
    }
    Ok(parsed)
}

/// Refuses paths the URL parser would silently rewrite (`.`/`..` segments, empty segments) or
/// that would leave the path (`?`, `#`), so the request goes where the caller asked.
pub(crate) fn checked_path(path: &str) -> Result<&str, ClientError> {
    let bad = path.is_empty()
        || path.contains(['?', '#', '\\'])
        || path
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..");
    if bad {
        return Err(ClientError::InvalidInput(format!(
            "resource path {path:?} must be <repository>/<type>/<tag> without empty, '.' or '..' segments"
        )));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.append(SET_COOKIE, HeaderValue::from_static("other=1; Path=/"));
        headers.append(
            SET_COOKIE,
            HeaderValue::from_static("kbs-session-id=abc; Expires=Sat, 28 Nov 2026 15:00:00 GMT"),
        );
        let cookie = session_cookie(&headers).unwrap();
        assert_eq!(cookie, HeaderValue::from_static("kbs-session-id=abc"));
        assert!(cookie.is_sensitive());
        let mut empty = reqwest::header::HeaderMap::new();
        empty.append(
            SET_COOKIE,
            HeaderValue::from_static("kbs-session-id=; Path=/"),
        );
        assert!(session_cookie(&empty).is_none());
    }

    #[test]
    fn hash_algorithm_defaults_to_sha384_and_is_case_insensitive() {
        assert_eq!(
            selected_hash_algorithm(&json!("")).unwrap(),
            HashAlgorithm::Sha384
        );
        assert_eq!(
            selected_hash_algorithm(&Value::Null).unwrap(),
            HashAlgorithm::Sha384
        );
        assert_eq!(
            selected_hash_algorithm(&json!({"selected-hash-algorithm": "SHA512"})).unwrap(),
            HashAlgorithm::Sha512
        );
        assert!(matches!(
            selected_hash_algorithm(&json!({"selected-hash-algorithm": "md5"})),
            Err(ClientError::UnsupportedHashAlgorithm(_))
        ));
        assert!(matches!(
            selected_hash_algorithm(&json!({"selected-hash-algorithm": 5})),
            Err(ClientError::UnsupportedHashAlgorithm(_))
        ));
    }

    #[test]
    fn refuses_paths_the_url_parser_would_rewrite() {
        for bad in [
            "", "a/../b", "./a/b", "a//b", "a/b/", "/a/b/c", "a/b?x", "a/b#c", "a\\b/c",
        ] {
            assert!(checked_path(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(checked_path("one/two/three").unwrap(), "one/two/three");
        assert_eq!(checked_path("1.ok/2ok./3...").unwrap(), "1.ok/2ok./3...");
    }

    #[test]
    fn refuses_non_http_urls() {
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("not a url").is_err());
        assert!(parse_base_url("http://h/?q=1").is_err());
        assert!(parse_base_url("https://kbs.example:8080").is_ok());
    }

    #[test]
    fn endpoint_joins_under_kbs_v0_with_or_without_trailing_slash() {
        for base in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://h/prefix/",
        ] {
            let client = KbsClient::builder(base).build().unwrap();
            let url = client.endpoint("resource/a/b/c").unwrap();
            assert!(url.as_str().ends_with("/kbs/v0/resource/a/b/c"), "{url}");
        }
        let client = KbsClient::builder("http://h/prefix").build().unwrap();
        assert_eq!(
            client.endpoint("auth").unwrap().as_str(),
            "http://h/prefix/kbs/v0/auth"
        );
    }

    #[test]
    fn attestation_binds_the_canonical_runtime_data_hash() {
        let client = KbsClient::builder("http://127.0.0.1:1").build().unwrap();
        let challenge = Challenge {
            nonce: "bm9uY2U=".to_owned(),
            extra_params: json!(""),
        };
        let attestation = client.attestation_for(&challenge).unwrap();
        let pk = serde_json::to_value(&attestation.runtime_data.tee_pubkey).unwrap();
        let expected = jose::jcs::runtime_data_digest(
            &json!({"additional-evidence": "", "nonce": "bm9uY2U=", "tee-pubkey": pk}),
            HashAlgorithm::Sha384,
        )
        .unwrap();
        assert_eq!(expected.len(), 48);
        use base64::Engine;
        let report_data = base64::engine::general_purpose::STANDARD.encode(&expected);
        assert_eq!(
            attestation.tee_evidence.primary_evidence,
            json!({"svn": "1", "report_data": report_data})
        );
        assert_eq!(attestation.tee_evidence.additional_evidence, "");
        assert!(attestation.init_data.is_none());
        assert_eq!(attestation.runtime_data.nonce, "bm9uY2U=");
    }

    #[test]
    fn sample_device_evidence_is_bound_and_hashed_into_the_primary_runtime_data() {
        let client = KbsClient::builder("http://127.0.0.1:1")
            .attester(Arc::new(SampleAttester::new().with_sample_device(true)))
            .init_data_toml("version = \"0.1.0\"\n")
            .build()
            .unwrap();
        let challenge = Challenge {
            nonce: "n".to_owned(),
            extra_params: json!({"selected-hash-algorithm": "sha512"}),
        };
        let attestation = client.attestation_for(&challenge).unwrap();
        let pk = serde_json::to_value(&attestation.runtime_data.tee_pubkey).unwrap();
        let device = jose::jcs::runtime_data_digest(
            &json!({"nonce": "n", "tee-pubkey": pk}),
            HashAlgorithm::Sha512,
        )
        .unwrap();
        let additional: Value =
            serde_json::from_str(&attestation.tee_evidence.additional_evidence).unwrap();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(
            additional["sampledevice"]["report_data"],
            b64.encode(&device)
        );
        let primary = jose::jcs::runtime_data_digest(
            &json!({
                "additional-evidence": attestation.tee_evidence.additional_evidence,
                "nonce": "n",
                "tee-pubkey": pk,
            }),
            HashAlgorithm::Sha512,
        )
        .unwrap();
        assert_eq!(
            attestation.tee_evidence.primary_evidence["report_data"],
            b64.encode(&primary)
        );
        let init = attestation.init_data.unwrap();
        assert_eq!(init.format, "toml");
        assert_eq!(init.body, "version = \"0.1.0\"\n");
    }
}
