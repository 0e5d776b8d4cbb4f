#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `restful-as` routes driven in process with `tower::ServiceExt::oneshot`: paths, JSON and
//! statuses of spec §3, CORS of spec §1.

mod common;

use std::sync::Arc;

use attestation_service::AsConfig;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn router(origins: &[&str]) -> Router {
    let service = Arc::new(service(AsConfig::default()).await);
    let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
    attestation_service::rest::router(service, &origins)
}

/// Sends one request; returns status, headers and body text.
async fn send(
    router: &Router,
    method: Method,
    path: &str,
    body: Option<String>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(path);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

fn sample_body(runtime_data: &Value, policy_ids: Value) -> String {
    let evidence = json!({"svn": "1", "report_data": sample_report_data(runtime_data)});
    json!({
        "verification_requests": [{
            "tee": "sample",
            "evidence": URL_SAFE_NO_PAD.encode(evidence.to_string()),
            "runtime_data": {"structured": runtime_data},
            "runtime_data_hash_algorithm": "sha384",
            "init_data_hash_algorithm": "sha384"
        }],
        "policy_ids": policy_ids
    })
    .to_string()
}

async fn verify_with_served_jwks(router: &Router, token: &str) -> Value {
    let (status, headers, jwks) = send(router, Method::GET, "/.well-known/jwks.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let jwks: Value = serde_json::from_str(&jwks).unwrap();
    let jwk: jose::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let key = jose::VerifyingKey::from_jwk(&jwk).unwrap();
    jose::jwt::verify(token, &key, IAT as u64).unwrap()
}

#[tokio::test]
async fn attestation_returns_the_token_text() {
    let router = router(&[]).await;
    let (status, _, token) = send(
        &router,
        Method::POST,
        "/attestation",
        Some(sample_body(&runtime_data(""), json!([]))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token.split('.').count(), 3);
    let claims = verify_with_served_jwks(&router, &token).await;
    assert_eq!(
        claims["submods"]["cpu0"]["ear.appraisal-policy-id"],
        "default"
    );
}

#[tokio::test]
async fn attestation_errors_are_400_for_bad_json_and_500_with_the_cause_chain() {
    let router = router(&[]).await;
    // `policy_ids` is required over REST.
    let mut body: Value = serde_json::from_str(&sample_body(&runtime_data(""), json!([]))).unwrap();
    body.as_object_mut().unwrap().remove("policy_ids");
    let (status, _, text) = send(
        &router,
        Method::POST,
        "/attestation",
        Some(body.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("policy_ids"), "{text}");

    let (status, _, _) = send(&router, Method::POST, "/attestation", Some("{".into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // nvidia is a gRPC TEE name only.
    let body = sample_body(&runtime_data(""), json!([])).replace("\"sample\"", "\"nvidia\"");
    let (status, _, text) = send(&router, Method::POST, "/attestation", Some(body)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        text,
        "An internal error occured: \n0: Unsupported TEE type: nvidia"
    );

    // Evidence bound to other runtime data.
    let body = sample_body(&runtime_data(""), json!([])).replace(
        &serde_json::to_string(&runtime_data("")).unwrap(),
        &serde_json::to_string(&runtime_data("other")).unwrap(),
    );
    let (status, _, text) = send(&router, Method::POST, "/attestation", Some(body)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        text.starts_with(
            "An internal error occured: \n0: sample evidence verification failed\n1: "
        ),
        "{text}"
    );

    let (status, _, text) = send(
        &router,
        Method::POST,
        "/attestation",
        Some(json!({"verification_requests": [], "policy_ids": []}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(text.contains("no evidence was appraised"), "{text}");
}

#[tokio::test]
async fn policies_are_set_listed_and_used() {
    let router = router(&[]).await;
    let policy = "package policy\n\nimport rego.v1\n\ntrust_claims := {\"hardware\": 2, \"executables\": 2}\n";
    let (status, _, text) = send(
        &router,
        Method::POST,
        "/policy",
        Some(json!({"policy_id": "mine_cpu", "policy": URL_SAFE_NO_PAD.encode(policy), "type": "rego"}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "");

    let (status, _, list) = send(&router, Method::GET, "/policy", None).await;
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        list,
        json!([
            {"policy-id": "default_cpu"},
            {"policy-id": "default_gpu"},
            {"policy-id": "default_ppcie"},
            {"policy-id": "default_switch"},
            {"policy-id": "mine_cpu"}
        ])
    );

    let (status, _, token) = send(
        &router,
        Method::POST,
        "/attestation",
        Some(sample_body(&runtime_data(""), json!(["mine"]))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let claims = verify_with_served_jwks(&router, &token).await;
    assert_eq!(claims["submods"]["cpu0"]["ear.status"], "affirming");

    let (status, _, text) = send(
        &router,
        Method::POST,
        "/policy",
        Some(json!({"policy_id": "x", "policy": "not base64url!"}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        text,
        "An internal error occured: \n0: policy is not base64url without padding"
    );

    // GET /policy/{id} has no route upstream either.
    let (status, _, _) = send(&router, Method::GET, "/policy/mine_cpu", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn challenge_and_healthz() {
    let router = router(&[]).await;
    let (status, _, text) = send(
        &router,
        Method::POST,
        "/challenge",
        Some(json!({"tee": "sample", "tee_params": "{}"}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "");

    let (status, _, text) = send(
        &router,
        Method::POST,
        "/challenge",
        Some(json!({"tee": "sample"}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        text,
        "An internal error occured: \n0: challenge request is missing `tee_params`"
    );

    let (status, _, text) = send(&router, Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "");
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let router = router(&[]).await;
    let huge = format!(
        "{{\"policy_id\":\"x\",\"policy\":\"{}\"}}",
        "a".repeat(attestation_service::rest::MAX_BODY_BYTES)
    );
    let (status, _, _) = send(&router, Method::POST, "/policy", Some(huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let router = router(&["https://portal.example", "portal.example"]).await;
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/attestation")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
            .body(Body::empty())
            .unwrap()
    };
    let response = router
        .clone()
        .oneshot(preflight("https://portal.example"))
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://portal.example"
    );
    assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "86400");
    let methods = headers[header::ACCESS_CONTROL_ALLOW_METHODS]
        .to_str()
        .unwrap();
    for method in ["POST", "GET", "OPTIONS"] {
        assert!(methods.contains(method), "{methods}");
    }

    let response = router
        .clone()
        .oneshot(preflight("https://other.example"))
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}
