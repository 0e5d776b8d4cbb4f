//! The KBS router driven in process (tower `oneshot`) with its builtin AS's clock pinned, for
//! tests of recorded hardware evidence whose collateral was valid only at a past time. The clock
//! is pinned through the library (`AttestationService::with_clock`), so no configuration key
//! can pin a production KBS's time.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use attestation_service::{AttestationService, RuntimeData, VerificationRequest};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use kbs::app::{AppState, Kbs};
use kbs::attestation::BuiltinBackend;
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

/// The builtin AS the configuration describes, with its clock pinned at `unix`.
pub async fn pinned_service(config: &KbsConfig, unix: i64) -> Arc<AttestationService> {
    let AttestationServiceConfig::Builtin(builtin) = &config.attestation_service else {
        panic!("builtin AS expected");
    };
    let storage = StorageProvider::new(&config.storage_backend).unwrap();
    let service = AttestationService::new(builtin.as_config(), &storage)
        .await
        .unwrap()
        .with_clock(clock_at(unix));
    Arc::new(service)
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

/// The KBS of `config` whose builtin backend is `service` and whose token verifier trusts
/// `service`'s tokens, as a KBS trusts its own builtin AS's.
pub async fn kbs_over(config: &KbsConfig, service: Arc<AttestationService>) -> AppState {
    let kbs = Kbs::from_config(config).await.unwrap();
    let tokens = TokenVerifier::new(
        &config.attestation_token,
        Some(service.token_verifying_jwk()),
    )
    .await
    .unwrap();
    Arc::new(Kbs {
        attestation: Arc::new(BuiltinBackend::new(service)),
        tokens,
        ..kbs
    })
}
