//! Router tests: the whole HTTP surface against in-memory state and a mock attestation backend
//! that issues real ES256 tokens, so the resource path runs the real token verifier, policy,
//! plugin and JWE code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kbs_types::{Attestation, Tee};
use serde_json::{Value, json};
use storage::{StorageConfig, StorageProvider};
use time::OffsetDateTime;
use tower::ServiceExt as _;

use super::router;
use crate::admin::{AdminAuth, AdminConfig};
use crate::app::{AppState, Kbs, resource_observer};
use crate::attestation::{self, AttestationBackend};
use crate::metrics::Metrics;
use crate::plugins::{PluginConfig, PluginRegistry};
use crate::resource_policy::ResourcePolicy;
use crate::session::{MemorySessionStore, Session, SessionId, SessionStore};
use crate::token::{AttestationTokenConfig, TokenVerifier};

/// Issues ES256 tokens whose claims carry the TEE key where an EAR token has it.
struct MockBackend {
    signer: jose::SigningKey,
    refuse: bool,
    /// Verification takes this long (timeout tests).
    delay: std::time::Duration,
    policies: Mutex<HashMap<String, String>>,
    /// Reference values by id: `svn` and `a/b` until deleted.
    reference_values: Mutex<HashMap<String, Value>>,
}

/// Reference value ids the mock answers deletes of as a backend that cannot delete, and as
/// one whose RVPS cannot be reached.
const UNDELETABLE_ID: &str = "upstream";
const RVPS_DOWN_ID: &str = "rvps-down";

#[async_trait]
impl AttestationBackend for MockBackend {
    async fn verify(
        &self,
        _tee: Tee,
        attestation: &Attestation,
        nonce: &str,
    ) -> Result<String, attestation::Error> {
        tokio::time::sleep(self.delay).await;
        if self.refuse {
            return Err(attestation::Error::InvalidAdditionalEvidence {
                reason: "refused by mock".into(),
            });
        }
        let exp = OffsetDateTime::now_utc().unix_timestamp() + 300;
        let claims = json!({
            "exp": exp,
            "submods": {"cpu0": {"ear.status": "affirming", "ear.veraison.annotated-evidence": {
                "runtime_data_claims": {"nonce": nonce, "tee-pubkey": attestation.runtime_data.tee_pubkey},
            }}},
        });
        let extras = jose::jwt::HeaderExtras {
            kid: None,
            jwk: Some(self.signer.public_jwk().unwrap()),
        };
        Ok(jose::jwt::sign(&self.signer, &extras, &claims).unwrap())
    }

    async fn set_policy(&self, id: &str, policy: &str) -> Result<(), attestation::Error> {
        self.policies
            .lock()
            .unwrap()
            .insert(id.into(), policy.into());
        Ok(())
    }

    async fn get_policy(&self, id: &str) -> Result<String, attestation::Error> {
        self.policies
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| attestation::Error::PolicyNotFound { id: id.into() })
    }

    async fn list_policies(&self) -> Result<Vec<String>, attestation::Error> {
        Ok(self.policies.lock().unwrap().keys().cloned().collect())
    }

    async fn delete_policy(&self, id: &str) -> Result<(), attestation::Error> {
        self.policies.lock().unwrap().remove(id);
        Ok(())
    }

    async fn register_reference_value(&self, _message: &str) -> Result<(), attestation::Error> {
        Ok(())
    }

    async fn query_reference_value(&self, id: &str) -> Result<Option<Value>, attestation::Error> {
        Ok(self.reference_values.lock().unwrap().get(id).cloned())
    }

    async fn delete_reference_value(&self, id: &str) -> Result<(), attestation::Error> {
        match id {
            UNDELETABLE_ID => Err(attestation::Error::ReferenceValueDeleteUnsupported),
            RVPS_DOWN_ID => Err(attestation::Error::RemoteRvpsUnavailable {
                addr: "http://127.0.0.1:50004".into(),
                message:
                    "Delete reference value failed: the reference value provider is unavailable"
                        .into(),
            }),
            _ => match self.reference_values.lock().unwrap().remove(id) {
                Some(_) => Ok(()),
                None => Err(attestation::Error::ReferenceValueNotFound { id: id.into() }),
            },
        }
    }
}

struct Harness {
    state: AppState,
    sessions: Arc<MemorySessionStore>,
}

async fn harness_with(admin: AdminConfig, refuse: bool) -> Harness {
    harness_full(
        admin,
        refuse,
        std::time::Duration::ZERO,
        std::time::Duration::from_secs(30),
    )
    .await
}

async fn harness_full(
    admin: AdminConfig,
    refuse: bool,
    delay: std::time::Duration,
    request_timeout: std::time::Duration,
) -> Harness {
    let signer = jose::SigningKey::generate_es256().unwrap();
    let local_jwk = signer.public_jwk().unwrap();
    let storage = StorageProvider::new(&StorageConfig::default()).unwrap();
    let metrics = Metrics::new();
    let resource: PluginConfig =
        serde_json::from_value(json!({"name": "resource", "storage_backend_type": "kvstorage"}))
            .unwrap();
    let plugins = PluginRegistry::with_observer(
        &[resource],
        &storage,
        Some(resource_observer(metrics.clone())),
    )
    .unwrap();
    let sessions = Arc::new(MemorySessionStore::new());
    let kbs = Kbs {
        sessions: sessions.clone(),
        attestation: Arc::new(MockBackend {
            signer,
            refuse,
            delay,
            policies: Mutex::default(),
            reference_values: Mutex::new(HashMap::from([
                ("svn".to_owned(), json!(["1"])),
                ("a/b".to_owned(), json!(["2"])),
            ])),
        }),
        session_timeout: time::Duration::minutes(5),
        admin: AdminAuth::new(&admin).await.unwrap(),
        tokens: TokenVerifier::new(&AttestationTokenConfig::default(), Some(local_jwk))
            .await
            .unwrap(),
        resource_policy: ResourcePolicy::new(storage.namespace("kbs", None).unwrap())
            .await
            .unwrap(),
        plugins,
        metrics,
        payload_limit: 4096,
        request_timeout,
    };
    Harness {
        state: Arc::new(kbs),
        sessions,
    }
}

async fn harness() -> Harness {
    harness_with(AdminConfig::InsecureAllowAll {}, false).await
}

impl Harness {
    async fn send(&self, request: Request<Body>) -> Response {
        router(self.state.clone()).oneshot(request).await.unwrap()
    }

    async fn post_json(&self, uri: &str, cookie: Option<&str>, body: Value) -> Response {
        let mut builder = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
        if let Some(cookie) = cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        self.send(builder.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn get(&self, uri: &str, headers: &[(&str, &str)]) -> Response {
        let mut builder = Request::get(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        self.send(builder.body(Body::empty()).unwrap()).await
    }

    /// `/auth` with a good request; returns the cookie pair and the nonce.
    async fn auth(&self) -> (String, String) {
        let response = self
            .post_json("/kbs/v0/auth", None, auth_body("0.4.0"))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = set_cookie(&response);
        let challenge = json_body(response).await;
        let pair = cookie.split(';').next().unwrap().to_owned();
        (pair, challenge["nonce"].as_str().unwrap().to_owned())
    }

    /// Full RCAR; returns the cookie pair, the token and the TEE key.
    async fn attest(&self) -> (String, String, jose::TeeKeyPair) {
        let (cookie, nonce) = self.auth().await;
        let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
        let response = self
            .post_json(
                "/kbs/v0/attest",
                Some(&cookie),
                attestation_body(&nonce, &key),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let token = json_body(response).await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        (cookie, token, key)
    }

    async fn put_secret(&self, path: &str, secret: &[u8]) {
        let response = self
            .send(
                Request::post(format!("/kbs/v0/resource/{path}"))
                    .body(Body::from(secret.to_vec()))
                    .unwrap(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

fn auth_body(version: &str) -> Value {
    json!({"version": version, "tee": "sample", "extra-params": {"supported-hash-algorithms": ["sha384"]}})
}

fn attestation_body(nonce: &str, key: &jose::TeeKeyPair) -> Value {
    json!({
        "runtime-data": {"nonce": nonce, "tee-pubkey": key.public_key().unwrap()},
        "tee-evidence": {"primary_evidence": {"svn": "1"}, "additional_evidence": ""},
    })
}

fn set_cookie(response: &Response) -> String {
    response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn body_bytes(response: Response) -> Vec<u8> {
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec()
}

async fn json_body(response: Response) -> Value {
    serde_json::from_slice(&body_bytes(response).await).unwrap()
}

/// Asserts a problem document of `variant` with `status`; returns its detail.
async fn problem(response: Response, status: StatusCode, variant: &str) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let text = String::from_utf8(body_bytes(response).await).unwrap();
    let expected_prefix = format!(
        "{{\"type\":\"https://github.com/confidential-containers/kbs/errors/{variant}\",\"detail\":\""
    );
    assert!(text.starts_with(&expected_prefix), "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn auth_returns_challenge_and_session_cookie() {
    let h = harness().await;
    let response = h.post_json("/kbs/v0/auth", None, auth_body("0.4.0")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let cookie = set_cookie(&response);
    let re = regex::Regex::new(
        r"^kbs-session-id=[0-9a-f]{32}; Expires=[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$",
    )
    .unwrap();
    assert!(re.is_match(&cookie), "{cookie}");
    let text = String::from_utf8(body_bytes(response).await).unwrap();
    assert!(text.starts_with("{\"nonce\":\""), "{text}");
    let challenge: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(challenge["nonce"].as_str().unwrap().len(), 44);
    assert_eq!(challenge["extra-params"], json!(""));
    assert_eq!(h.sessions.len(), 1);
}

#[tokio::test]
async fn auth_refuses_other_protocol_versions() {
    let h = harness().await;
    for version in ["0.3.0", "0.4.0-rc1", "1.0.0"] {
        let response = h.post_json("/kbs/v0/auth", None, auth_body(version)).await;
        let detail = problem(response, StatusCode::UNAUTHORIZED, "AttestationError").await;
        assert!(
            detail.contains("KBS Client Protocol Version Mismatch"),
            "{detail}"
        );
    }
    let response = h.post_json("/kbs/v0/auth", None, auth_body("0.4")).await;
    problem(response, StatusCode::UNAUTHORIZED, "AttestationError").await;
    assert!(h.sessions.is_empty());
}

#[tokio::test]
async fn auth_requires_extra_params() {
    let h = harness().await;
    let response = h
        .post_json(
            "/kbs/v0/auth",
            None,
            json!({"version": "0.4.0", "tee": "sample"}),
        )
        .await;
    let detail = problem(response, StatusCode::BAD_REQUEST, "SerdeError").await;
    assert!(detail.contains("extra-params"), "{detail}");
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let h = harness().await;
    let response = h
        .send(
            Request::post("/kbs/v0/auth")
                .body(Body::from("{\"version\":"))
                .unwrap(),
        )
        .await;
    problem(response, StatusCode::BAD_REQUEST, "SerdeError").await;
    let response = h
        .post_json(
            "/kbs/v0/attestation-policy",
            None,
            json!({"policy_id": "x", "policy": "", "extra": 1}),
        )
        .await;
    let detail = problem(response, StatusCode::BAD_REQUEST, "SerdeError").await;
    assert!(detail.contains("unknown field `extra`"), "{detail}");
}

#[tokio::test]
async fn attest_issues_a_token_and_resends_the_cookie() {
    let h = harness().await;
    let (cookie, nonce) = h.auth().await;
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    let response = h
        .post_json(
            "/kbs/v0/attest",
            Some(&cookie),
            attestation_body(&nonce, &key),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert!(set_cookie(&response).starts_with(&cookie));
    let body = json_body(response).await;
    assert_eq!(body.as_object().unwrap().len(), 1);
    assert!(body["token"].as_str().unwrap().starts_with("eyJ"));
}

#[tokio::test]
async fn attest_without_cookie_is_refused() {
    let h = harness().await;
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    let response = h
        .post_json("/kbs/v0/attest", None, attestation_body("n", &key))
        .await;
    let detail = problem(response, StatusCode::UNAUTHORIZED, "AttestationError").await;
    assert!(detail.contains("cookie"), "{detail}");
}

#[tokio::test]
async fn attest_with_unknown_session_is_refused() {
    let h = harness().await;
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    let cookie = format!("kbs-session-id={}", SessionId::random());
    let response = h
        .post_json("/kbs/v0/attest", Some(&cookie), attestation_body("n", &key))
        .await;
    let detail = problem(response, StatusCode::UNAUTHORIZED, "AttestationError").await;
    assert!(detail.contains("not found or expired"), "{detail}");
    let response = h
        .post_json(
            "/kbs/v0/attest",
            Some("kbs-session-id=garbage"),
            attestation_body("n", &key),
        )
        .await;
    problem(response, StatusCode::UNAUTHORIZED, "AttestationError").await;
}

#[tokio::test]
async fn attest_with_expired_session_is_refused_and_the_session_deleted() {
    let h = harness().await;
    let id = SessionId::random();
    let request: kbs_types::Request = serde_json::from_value(auth_body("0.4.0")).unwrap();
    let expired = Session::Authed {
        request,
        nonce: "n".into(),
        expiry: OffsetDateTime::now_utc() - time::Duration::seconds(1),
    };
    h.sessions.insert(id.clone(), expired).await.unwrap();
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    let response = h
        .post_json(
            "/kbs/v0/attest",
            Some(&format!("kbs-session-id={id}")),
            attestation_body("n", &key),
        )
        .await;
    problem(response, StatusCode::UNAUTHORIZED, "AttestationError").await;
    assert!(h.sessions.is_empty());
}

#[tokio::test]
async fn attest_with_wrong_nonce_is_refused() {
    let h = harness().await;
    let (cookie, _nonce) = h.auth().await;
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    let wrong = URL_SAFE_NO_PAD.encode([0u8; 32]);
    let response = h
        .post_json(
            "/kbs/v0/attest",
            Some(&cookie),
            attestation_body(&wrong, &key),
        )
        .await;
    let detail = problem(response, StatusCode::UNAUTHORIZED, "AttestationError").await;
    assert!(detail.contains("nonce"), "{detail}");
}

#[tokio::test]
async fn second_attest_on_a_session_is_refused() {
    let h = harness().await;
    let (cookie, nonce) = h.auth().await;
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    let first = h
        .post_json(
            "/kbs/v0/attest",
            Some(&cookie),
            attestation_body(&nonce, &key),
        )
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = h
        .post_json(
            "/kbs/v0/attest",
            Some(&cookie),
            attestation_body(&nonce, &key),
        )
        .await;
    let detail = problem(second, StatusCode::UNAUTHORIZED, "AttestationError").await;
    assert!(detail.contains("start again with /kbs/v0/auth"), "{detail}");
}

#[tokio::test]
async fn failed_verification_consumes_the_nonce() {
    let h = harness_with(AdminConfig::InsecureAllowAll {}, true).await;
    let (cookie, nonce) = h.auth().await;
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    let first = h
        .post_json(
            "/kbs/v0/attest",
            Some(&cookie),
            attestation_body(&nonce, &key),
        )
        .await;
    let detail = problem(first, StatusCode::UNAUTHORIZED, "AttestationError").await;
    assert!(detail.contains("refused by mock"), "{detail}");
    let second = h
        .post_json(
            "/kbs/v0/attest",
            Some(&cookie),
            attestation_body(&nonce, &key),
        )
        .await;
    let detail = problem(second, StatusCode::UNAUTHORIZED, "AttestationError").await;
    assert!(detail.contains("start again"), "{detail}");
}

#[tokio::test]
async fn resource_is_released_as_jwe_to_an_attested_cookie_session() {
    let h = harness().await;
    h.put_secret("one/two/three", b"shhhhhhh").await;
    let (cookie, _token, key) = h.attest().await;
    let response = h
        .get("/kbs/v0/resource/one/two/three", &[("cookie", &cookie)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    let jwe: kbs_types::Response = serde_json::from_slice(&body_bytes(response).await).unwrap();
    assert_eq!(&key.decrypt(&jwe).unwrap()[..], b"shhhhhhh");
    let metrics = h.get("/metrics", &[]).await;
    let text = String::from_utf8(body_bytes(metrics).await).unwrap();
    assert!(
        text.contains("kbs_resource_reads_total{resource_path=\"one/two/three\"} 1"),
        "{text}"
    );
    assert!(text.contains("kbs_policy_approvals_total 1"), "{text}");
    assert!(
        text.contains("kbs_attestation_successes_total{tee_type=\"sample\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn bearer_token_works_and_a_stale_cookie_falls_back_to_it() {
    let h = harness().await;
    h.put_secret("a/b/c", b"x").await;
    let (_cookie, token, key) = h.attest().await;
    let bearer = format!("Bearer {token}");
    let response = h
        .get("/kbs/v0/resource/a/b/c", &[("authorization", &bearer)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let stale = format!("kbs-session-id={}", SessionId::random());
    let response = h
        .get(
            "/kbs/v0/resource/a/b/c",
            &[("authorization", &bearer), ("cookie", &stale)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let jwe: kbs_types::Response = serde_json::from_slice(&body_bytes(response).await).unwrap();
    assert_eq!(&key.decrypt(&jwe).unwrap()[..], b"x");
}

#[tokio::test]
async fn resource_without_any_token_is_401_token_not_found() {
    let h = harness().await;
    let response = h.get("/kbs/v0/resource/a/b/c", &[]).await;
    problem(response, StatusCode::UNAUTHORIZED, "TokenNotFound").await;
    // An authed-but-not-attested session gives no token either.
    let (cookie, _) = h.auth().await;
    let response = h
        .get("/kbs/v0/resource/a/b/c", &[("cookie", &cookie)])
        .await;
    problem(response, StatusCode::UNAUTHORIZED, "TokenNotFound").await;
}

#[tokio::test]
async fn forged_bearer_token_is_refused() {
    let h = harness().await;
    let other = jose::SigningKey::generate_es256().unwrap();
    let extras = jose::jwt::HeaderExtras {
        kid: None,
        jwk: Some(other.public_jwk().unwrap()),
    };
    let forged = jose::jwt::sign(&other, &extras, &json!({"exp": 4_000_000_000u64})).unwrap();
    let response = h
        .get(
            "/kbs/v0/resource/a/b/c",
            &[("authorization", &format!("Bearer {forged}"))],
        )
        .await;
    let detail = problem(response, StatusCode::UNAUTHORIZED, "TokenVerifierError").await;
    assert!(!detail.contains(&forged));
}

#[tokio::test]
async fn policy_denial_is_401_naming_the_policy() {
    let h = harness().await;
    h.put_secret("a/b/c", b"x").await;
    let deny_all = URL_SAFE_NO_PAD.encode("package policy\ndefault allow := false\n");
    let response = h
        .post_json("/kbs/v0/resource-policy", None, json!({"policy": deny_all}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (cookie, _, _) = h.attest().await;
    let response = h
        .get("/kbs/v0/resource/a/b/c", &[("cookie", &cookie)])
        .await;
    let detail = problem(response, StatusCode::UNAUTHORIZED, "PolicyDeny").await;
    assert_eq!(detail, "access denied by resource policy `resource-policy`");
}

#[tokio::test]
async fn missing_resource_is_404_naming_the_path() {
    let h = harness().await;
    let (cookie, _, _) = h.attest().await;
    let response = h
        .get("/kbs/v0/resource/no/such/thing", &[("cookie", &cookie)])
        .await;
    let detail = problem(response, StatusCode::NOT_FOUND, "PluginInternalError").await;
    assert!(detail.contains("no/such/thing"), "{detail}");
}

#[tokio::test]
async fn unknown_plugins_and_wrong_methods_on_builtins_are_404() {
    let h = harness().await;
    for uri in [
        "/kbs/v0/nope/x",
        "/kbs/v0/auth",
        "/kbs/v0/",
        "/kbs/v0/attest",
    ] {
        let response = h.get(uri, &[]).await;
        problem(response, StatusCode::NOT_FOUND, "PluginNotFound").await;
    }
}

#[tokio::test]
async fn encoded_slashes_and_dot_segments_are_refused_before_storage() {
    let h = harness().await;
    for (uri, segment) in [
        ("/kbs/v0/resource/a%2Fb/c/d", "a%2Fb"),
        ("/kbs/v0/resource/%2e%2e/b/c", "%2e%2e"),
        ("/kbs/v0/resource/../b/c", ".."),
    ] {
        let response = h
            .send(Request::post(uri).body(Body::from("x")).unwrap())
            .await;
        let detail = problem(response, StatusCode::NOT_FOUND, "InvalidRequestPath").await;
        assert!(detail.contains(&format!("`{segment}`")), "{detail}");
    }
}

#[tokio::test]
async fn oversized_body_is_413_problem() {
    let h = harness().await;
    let response = h
        .send(
            Request::post("/kbs/v0/resource/a/b/c")
                .body(Body::from(vec![b'x'; 5000]))
                .unwrap(),
        )
        .await;
    let detail = problem(response, StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge").await;
    assert!(detail.contains("4096"), "{detail}");
}

#[tokio::test]
async fn other_methods_are_405() {
    let h = harness().await;
    let response = h
        .send(
            Request::patch("/kbs/v0/resource/a/b/c")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    problem(response, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed").await;
    let response = h
        .send(Request::post("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let response = h
        .send(Request::delete("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn healthz_is_200_empty_and_unknown_paths_404() {
    let h = harness().await;
    let response = h.get("/healthz", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_bytes(response).await.is_empty());
    assert_eq!(h.get("/nothing", &[]).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_expose_the_upstream_names() {
    let h = harness().await;
    h.auth().await;
    let response = h.get("/metrics", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(body_bytes(response).await).unwrap();
    for name in [
        "kbs_build_info",
        "kbs_http_requests_total 1",
        "kbs_http_request_duration_seconds",
        "kbs_http_request_size_bytes",
        "kbs_http_active_connections",
        "kbs_auth_requests_total 1",
        "kbs_auth_successes_total 1",
        "kbs_policy_evaluations_total",
        "kbs_attestation_requests_total",
    ] {
        assert!(text.contains(name), "missing {name}");
    }
}

#[tokio::test]
async fn admin_builtins_round_trip() {
    let h = harness().await;
    let rego = URL_SAFE_NO_PAD.encode("package policy\ndefault allow := true\n");
    let response = h
        .post_json(
            "/kbs/v0/attestation-policy",
            None,
            json!({"policy_id": "default_cpu", "policy": rego, "type": "rego"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let got = json_body(h.get("/kbs/v0/attestation-policy/default_cpu", &[]).await).await;
    assert_eq!(
        got,
        json!({"policy_id": "default_cpu", "policy": URL_SAFE_NO_PAD.encode(&rego)})
    );
    let listed = json_body(h.get("/kbs/v0/attestation-policy", &[]).await).await;
    assert_eq!(listed, json!(["default_cpu"]));
    let response = h
        .send(
            Request::delete("/kbs/v0/attestation-policy/default_cpu")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = h.get("/kbs/v0/attestation-policy/default_cpu", &[]).await;
    problem(response, StatusCode::NOT_FOUND, "AttestationError").await;

    let response = h.get("/kbs/v0/reference-value/svn", &[]).await;
    assert_eq!(json_body(response).await, json!(["1"]));
    let response = h.get("/kbs/v0/reference-value/other", &[]).await;
    problem(response, StatusCode::NOT_FOUND, "AttestationError").await;
    let ids = json_body(h.get("/kbs/v0/resource-policy", &[]).await).await;
    assert_eq!(ids, json!(["resource-policy"]));
}

impl Harness {
    async fn delete(&self, uri: &str, headers: &[(&str, &str)]) -> Response {
        let mut builder = Request::delete(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        self.send(builder.body(Body::empty()).unwrap()).await
    }
}

#[tokio::test]
async fn reference_values_are_deleted_by_id_and_then_unknown() {
    let h = harness().await;
    let response = h.delete("/kbs/v0/reference-value/svn", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_bytes(response).await.is_empty());
    let response = h.get("/kbs/v0/reference-value/svn", &[]).await;
    problem(response, StatusCode::NOT_FOUND, "AttestationError").await;
    // deleting it again, or any unknown id, is a 404 naming the id
    let response = h.delete("/kbs/v0/reference-value/svn", &[]).await;
    let detail = problem(response, StatusCode::NOT_FOUND, "AttestationError").await;
    assert!(
        detail.contains("no reference value found for the given id: svn"),
        "{detail}"
    );
    // the id is the remaining segments joined with `/`, as for GET
    let response = h.get("/kbs/v0/reference-value/a/b", &[]).await;
    assert_eq!(json_body(response).await, json!(["2"]));
    let response = h.delete("/kbs/v0/reference-value/a/b", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = h.get("/kbs/v0/reference-value/a/b", &[]).await;
    problem(response, StatusCode::NOT_FOUND, "AttestationError").await;
    // there is no "delete them all"
    for uri in ["/kbs/v0/reference-value", "/kbs/v0/reference-value/"] {
        let response = h.delete(uri, &[]).await;
        problem(response, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed").await;
    }
}

#[tokio::test]
async fn a_backend_that_cannot_delete_is_501_and_an_unreachable_rvps_503() {
    let h = harness().await;
    let response = h
        .delete(&format!("/kbs/v0/reference-value/{UNDELETABLE_ID}"), &[])
        .await;
    let detail = problem(response, StatusCode::NOT_IMPLEMENTED, "AttestationError").await;
    assert!(detail.contains("deleting a reference value"), "{detail}");
    let response = h
        .delete(&format!("/kbs/v0/reference-value/{RVPS_DOWN_ID}"), &[])
        .await;
    assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    let detail = problem(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "ReferenceValueProviderUnavailable",
    )
    .await;
    assert!(
        detail.contains("could not reach its reference value provider"),
        "{detail}"
    );
}

#[tokio::test]
async fn bad_resource_policy_upload_is_400() {
    let h = harness().await;
    let response = h
        .post_json("/kbs/v0/resource-policy", None, json!({"policy": "a+b/"}))
        .await;
    problem(response, StatusCode::BAD_REQUEST, "ParsePolicyError").await;
}

#[tokio::test]
async fn deny_all_admin_is_401() {
    let h = harness_with(AdminConfig::DenyAll {}, false).await;
    let response = h
        .post_json("/kbs/v0/resource-policy", None, json!({"policy": ""}))
        .await;
    let detail = problem(response, StatusCode::UNAUTHORIZED, "AdminAuthAccess").await;
    assert!(
        detail.contains("DenyAll authorization_mode is enabled"),
        "{detail}"
    );
    let response = h
        .send(
            Request::post("/kbs/v0/resource/a/b/c")
                .body(Body::from("x"))
                .unwrap(),
        )
        .await;
    problem(response, StatusCode::UNAUTHORIZED, "AdminAuthAccess").await;
    let response = h.delete("/kbs/v0/reference-value/svn", &[]).await;
    problem(response, StatusCode::UNAUTHORIZED, "AdminAuthAccess").await;
}

#[tokio::test]
async fn authenticated_admin_without_the_role_is_403() {
    let dir = tempfile::tempdir().unwrap();
    let admin_key = jose::SigningKey::generate_ed25519().unwrap();
    let pub_path = dir.path().join("admin.pub");
    std::fs::write(&pub_path, admin_key.public_key_pem().unwrap()).unwrap();
    let config: AdminConfig = serde_json::from_value(json!({
        "authorization_mode": "AuthenticatedAuthorization",
        "authentication": {"bearer_jwt": {"identity_providers": [{"public_key_uri": pub_path.to_str().unwrap()}]}},
        "authorization": {"regex_acl": {"acls": [{"role": "reader", "allowed_endpoints": "^/kbs/v0/resource-policy$"}]}},
    }))
    .unwrap();
    let h = harness_with(config, false).await;
    let exp = OffsetDateTime::now_utc().unix_timestamp() + 300;
    let token = jose::jwt::sign(
        &admin_key,
        &Default::default(),
        &json!({"role": "reader", "exp": exp}),
    )
    .unwrap();
    let bearer = format!("Bearer {token}");

    let response = h
        .get("/kbs/v0/resource-policy", &[("authorization", &bearer)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // The ACL sees the query string too.
    let response = h
        .get("/kbs/v0/resource-policy?x=1", &[("authorization", &bearer)])
        .await;
    problem(response, StatusCode::FORBIDDEN, "AdminAuthAccess").await;
    let response = h
        .get("/kbs/v0/attestation-policy", &[("authorization", &bearer)])
        .await;
    let detail = problem(response, StatusCode::FORBIDDEN, "AdminAuthAccess").await;
    assert!(detail.contains("Role reader not allowed"), "{detail}");
    assert!(!detail.contains(&token));
    let response = h.get("/kbs/v0/attestation-policy", &[]).await;
    problem(response, StatusCode::UNAUTHORIZED, "AdminAuthAccess").await;
    // deleting a reference value is admin-only like reading one
    let response = h
        .delete("/kbs/v0/reference-value/svn", &[("authorization", &bearer)])
        .await;
    problem(response, StatusCode::FORBIDDEN, "AdminAuthAccess").await;
    let response = h.delete("/kbs/v0/reference-value/svn", &[]).await;
    problem(response, StatusCode::UNAUTHORIZED, "AdminAuthAccess").await;
    let response = h.get("/kbs/v0/reference-value/svn", &[]).await;
    problem(response, StatusCode::UNAUTHORIZED, "AdminAuthAccess").await;
}

#[tokio::test(start_paused = true)]
async fn slow_requests_get_a_408_problem() {
    let h = harness_full(
        AdminConfig::InsecureAllowAll {},
        false,
        std::time::Duration::from_secs(5),
        std::time::Duration::from_millis(50),
    )
    .await;
    let (cookie, nonce) = h.auth().await;
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    let response = h
        .post_json(
            "/kbs/v0/attest",
            Some(&cookie),
            attestation_body(&nonce, &key),
        )
        .await;
    problem(response, StatusCode::REQUEST_TIMEOUT, "RequestTimeout").await;
}
