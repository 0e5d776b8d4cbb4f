//! The KBS router driven in process (tower `oneshot`) with its builtin AS's clock pinned, for
//! tests of recorded hardware evidence whose collateral was valid only at a past time. The clock
//! is pinned through the library (`AttestationService::with_clock`), so no configuration key
//! can pin a production KBS's time.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use attestation_service::{AttestationService, RuntimeData, VerificationRequest};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kbs::app::{AppState, Kbs};
use kbs::attestation::{AttestationBackend, BuiltinBackend};
use kbs::config::{AttestationServiceConfig, KbsConfig};
use kbs::token::TokenVerifier;
use kbs_types::{HashAlgorithm, Tee};
use serde_json::{Value, json};
use storage::StorageProvider;
use time::OffsetDateTime;
use tower::ServiceExt as _;

/// The shared test data, beside this repository.
pub const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");

/// The problem type of a refused attestation.
pub const ATTESTATION_ERROR: &str =
    "https://github.com/confidential-containers/kbs/errors/AttestationError";

/// A JSON file of the shared test data.
pub fn read_json(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(format!("{TESTDATA}/{rel}")).unwrap()).unwrap()
}

/// A clock stopped at `unix`.
pub fn clock_at(unix: i64) -> attestation_service::Clock {
    let at = OffsetDateTime::from_unix_timestamp(unix).unwrap();
    Arc::new(move || at)
}

/// A KBS on insecure HTTP whose admin API allows everything, with the builtin AS.
pub const BUILTIN_AS_CONFIG: &str = r#"
[http_server]
insecure_http = true
[admin]
authorization_mode = "InsecureAllowAll"
[attestation_service]
type = "coco_as_builtin"
"#;

/// The `resource` plugin over the KBS's KV storage (for [`builtin_config`]).
pub const RESOURCE_PLUGIN: &str = r#"[[plugins]]
name = "resource"
storage_backend_type = "kvstorage"
"#;

/// [`BUILTIN_AS_CONFIG`] followed by `tables` (TOML text: plugins, verifier tables).
pub fn builtin_config(tables: &str) -> KbsConfig {
    KbsConfig::from_toml(&format!("{BUILTIN_AS_CONFIG}{tables}")).unwrap()
}

/// The builtin AS the configuration describes, with its clock pinned at `pinned_at` when
/// given (else the real clock).
pub async fn builtin_service(
    config: &KbsConfig,
    pinned_at: Option<i64>,
) -> Arc<AttestationService> {
    let AttestationServiceConfig::Builtin(builtin) = &config.attestation_service else {
        panic!("builtin AS expected");
    };
    let storage = StorageProvider::new(&config.storage_backend).unwrap();
    let mut service = AttestationService::new(builtin.as_config(), &storage)
        .await
        .unwrap();
    if let Some(unix) = pinned_at {
        service = service.with_clock(clock_at(unix));
    }
    Arc::new(service)
}

/// The builtin AS the configuration describes, with its clock pinned at `unix`.
pub async fn pinned_service(config: &KbsConfig, unix: i64) -> Arc<AttestationService> {
    builtin_service(config, Some(unix)).await
}

/// The KBS of `config` whose builtin AS verifies at `unix`.
pub async fn pinned_kbs(config: &KbsConfig, unix: i64) -> AppState {
    let kbs = Kbs::from_config(config).await.unwrap();
    let service = pinned_service(config, unix).await;
    Arc::new(Kbs {
        attestation: Arc::new(BuiltinBackend::new(service)),
        ..kbs
    })
}

/// Sends `request` through the router: status, body (JSON, or the text as a JSON string) and
/// the session cookie it sets, if any.
pub async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, Value, Option<String>) {
    let response = kbs::http::router(state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    (status, body, cookie)
}

/// A POST of `body` as `content_type`, with the session cookie if given.
pub fn post(uri: &str, cookie: Option<&str>, body: Vec<u8>, content_type: &str) -> Request<Body> {
    let mut builder = Request::post(uri).header(header::CONTENT_TYPE, content_type);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Body::from(body)).unwrap()
}

/// A POST of a JSON body.
pub fn post_json(uri: &str, cookie: Option<&str>, body: &Value) -> Request<Body> {
    post(
        uri,
        cookie,
        body.to_string().into_bytes(),
        "application/json",
    )
}

/// `/auth` for `tee`, then `/attest` with `evidence` as primary evidence; the `/attest` status
/// and problem document.
pub async fn attest(state: &AppState, tee: &str, evidence: Value) -> (StatusCode, Value) {
    let auth = json!({"version": "0.4.0", "tee": tee, "extra-params": ""});
    let (status, challenge, cookie) = send(state, post_json("/kbs/v0/auth", None, &auth)).await;
    assert_eq!(status, StatusCode::OK, "{challenge}");
    let nonce = challenge["nonce"].as_str().unwrap().to_owned();
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    let attestation = json!({
        "runtime-data": {"nonce": nonce, "tee-pubkey": key.public_key().unwrap()},
        "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""},
    });
    let (status, problem, _) = send(
        state,
        post_json("/kbs/v0/attest", cookie.as_deref(), &attestation),
    )
    .await;
    (status, problem)
}

/// [`attest`], which must be refused with 401: the problem document.
pub async fn attest_refused(state: &AppState, tee: &str, evidence: Value) -> Value {
    let (status, problem) = attest(state, tee, evidence).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    problem
}

/// Asserts that the `detail` of `problem` ends with `ending` (the error's innermost cause).
pub fn assert_detail_ends_with(problem: &Value, ending: &str) {
    assert!(detail(problem).ends_with(ending), "{problem}");
}

/// The `detail` of a problem document.
pub fn detail(problem: &Value) -> &str {
    problem["detail"].as_str().unwrap()
}

/// A request for `tee` bound to `report_data` as the evidence carries it (raw runtime data:
/// recorded evidence cannot carry the digest of a fresh session's runtime data).
pub fn bound_request(tee: Tee, evidence: Value, report_data: Vec<u8>) -> VerificationRequest {
    VerificationRequest {
        tee,
        evidence,
        runtime_data: Some(RuntimeData::Raw(report_data)),
        runtime_data_hash_algorithm: HashAlgorithm::Sha384,
        init_data: None,
    }
}

/// `requests` evaluated with the `default` policy; the token's claims, verified at `unix`.
pub async fn evaluate_claims(
    service: &AttestationService,
    requests: Vec<VerificationRequest>,
    unix: i64,
) -> Value {
    let token = service
        .evaluate(requests, &["default".to_owned()])
        .await
        .unwrap();
    let now = u64::try_from(unix).unwrap();
    jose::jwt::verify(&token, &service.token_verifying_key(), now).unwrap()
}

/// Registers `values` (reference value name → list of values) with `service` as a `sample`
/// provenance message, as the RVPS API receives it.
pub async fn register_sample_reference_values(service: &AttestationService, values: &Value) {
    let message = json!({
        "version": "0.1.0",
        "type": "sample",
        "payload": STANDARD.encode(values.to_string()),
    });
    service
        .register_reference_value(&message.to_string())
        .await
        .unwrap();
}

/// The error of `requests` evaluated with the `default` policy (they must be refused).
pub async fn evaluate_err(
    service: &AttestationService,
    requests: Vec<VerificationRequest>,
) -> attestation_service::Error {
    service
        .evaluate(requests, &["default".to_owned()])
        .await
        .unwrap_err()
}

/// The KBS of `config` whose builtin backend is `service` and whose token verifier trusts
/// `service`'s tokens, as a KBS trusts its own builtin AS's.
pub async fn kbs_over(config: &KbsConfig, service: Arc<AttestationService>) -> AppState {
    kbs_over_backend(config, service, |service| {
        Arc::new(BuiltinBackend::new(service))
    })
    .await
}

/// The KBS of `config` whose attestation backend is `backend` over `service` and whose token
/// verifier trusts `service`'s tokens, as a KBS trusts its own builtin AS's.
pub async fn kbs_over_backend(
    config: &KbsConfig,
    service: Arc<AttestationService>,
    backend: impl FnOnce(Arc<AttestationService>) -> Arc<dyn AttestationBackend>,
) -> AppState {
    let kbs = Kbs::from_config(config).await.unwrap();
    let tokens = TokenVerifier::new(
        &config.attestation_token,
        Some(service.token_verifying_jwk()),
    )
    .await
    .unwrap();
    Arc::new(Kbs {
        attestation: backend(service),
        tokens,
        ..kbs
    })
}

/// Stores `bytes` at resource `path` through the admin API (`InsecureAllowAll`).
pub async fn admin_set_resource(state: &AppState, path: &str, bytes: &[u8]) {
    let request = post(
        &format!("/kbs/v0/resource/{path}"),
        None,
        bytes.to_vec(),
        "application/octet-stream",
    );
    let (status, body, _) = send(state, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Sets `policy` as the resource policy through the admin API (`InsecureAllowAll`).
pub async fn admin_set_resource_policy(state: &AppState, policy: &str) {
    let policy = json!({"policy": URL_SAFE_NO_PAD.encode(policy)});
    let (status, body, _) = send(state, post_json("/kbs/v0/resource-policy", None, &policy)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Sets `policy` as attestation policy `id` through the admin API (`InsecureAllowAll`).
pub async fn admin_set_attestation_policy(state: &AppState, id: &str, policy: &str) {
    let upload = json!({"policy_id": id, "policy": URL_SAFE_NO_PAD.encode(policy)});
    let (status, body, _) = send(
        state,
        post_json("/kbs/v0/attestation-policy", None, &upload),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The claims of `token`, read without verifying it (a token just issued by the in-process
/// AS; its signature is not what the caller tests).
pub fn token_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Asserts that `$err` (an `attestation_service::Error`) is the verifier error of `$tee`
/// matching `$source` (a `verifier::Error` pattern).
#[macro_export]
macro_rules! assert_verifier_error {
    ($err:expr, $tee:pat, $source:pat $(,)?) => {
        let err = &$err;
        assert!(
            matches!(
                err,
                attestation_service::Error::Verifier {
                    tee: $tee,
                    source: $source,
                }
            ),
            "{err:?}"
        );
    };
}
