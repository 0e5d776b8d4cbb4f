//! kbs-bench against a minimal in-process KBS double on 127.0.0.1: a correct answer counts as
//! ok, a wrong secret or a refused request counts as an error of the right kind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kbs_bench::{BenchOptions, ErrorCount, Op, Scenario, Stop};
use kbs_client::jose::jwe;
use kbs_client::kbs_types::{Attestation, TeePubKey};
use serde_json::json;

/// What the double serves.
#[derive(Clone, Copy)]
enum Behaviour {
    /// The secret given to the double, encrypted to the attested TEE key.
    Serve,
    /// 401 PolicyDeny on every resource read.
    Deny,
}

#[derive(Clone)]
struct Double {
    secret: Vec<u8>,
    behaviour: Behaviour,
    /// TEE key per session id, learnt at `/attest`; the token is the session id.
    keys: Arc<Mutex<HashMap<String, TeePubKey>>>,
    next: Arc<Mutex<u64>>,
}

async fn auth(State(d): State<Double>) -> Response {
    let id = {
        let mut next = d.next.lock().unwrap();
        *next += 1;
        format!("{:032x}", *next)
    };
    (
        [(header::SET_COOKIE, format!("kbs-session-id={id}; Path=/"))],
        axum::Json(json!({"nonce": "bm9uY2U=", "extra-params": ""})),
    )
        .into_response()
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    let cookie = headers.get(header::COOKIE)?.to_str().ok()?;
    cookie.strip_prefix("kbs-session-id=").map(str::to_owned)
}

async fn attest(
    State(d): State<Double>,
    headers: HeaderMap,
    axum::Json(attestation): axum::Json<Attestation>,
) -> Response {
    let Some(id) = session_of(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    d.keys
        .lock()
        .unwrap()
        .insert(id.clone(), attestation.runtime_data.tee_pubkey);
    axum::Json(json!({"token": id})).into_response()
}

async fn resource(State(d): State<Double>, headers: HeaderMap) -> Response {
    if let Behaviour::Deny = d.behaviour {
        let problem = json!({
            "type": "https://github.com/confidential-containers/kbs/errors/PolicyDeny",
            "detail": "denied"
        });
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/problem+json")],
            problem.to_string(),
        )
            .into_response();
    }
    let id = session_of(&headers).or_else(|| {
        let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        auth.strip_prefix("Bearer ").map(str::to_owned)
    });
    let key = id.and_then(|id| d.keys.lock().unwrap().get(&id).cloned());
    match key {
        Some(key) => axum::Json(jwe::encrypt(&key, &d.secret).unwrap()).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// Starts the double on a free loopback port; returns its URL.
async fn start(secret: &[u8], behaviour: Behaviour) -> String {
    let double = Double {
        secret: secret.to_vec(),
        behaviour,
        keys: Arc::default(),
        next: Arc::default(),
    };
    let app = Router::new()
        .route("/kbs/v0/auth", post(auth))
        .route("/kbs/v0/attest", post(attest))
        .route("/kbs/v0/resource/{repo}/{kind}/{tag}", get(resource))
        .with_state(double);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn options(url: String, scenario: Scenario, expected: &[u8]) -> BenchOptions {
    BenchOptions {
        concurrency: 2,
        stop: Stop::Iterations(20),
        warmup: Duration::ZERO,
        expected_secret: Some(expected.to_vec()),
        ..BenchOptions::new(url, scenario)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correct_secrets_count_as_ok_for_every_fetch_scenario() {
    let url = start(b"right", Behaviour::Serve).await;
    for scenario in [Scenario::FetchCookie, Scenario::FetchBearer] {
        let report = kbs_bench::run(&options(url.clone(), scenario, b"right"))
            .await
            .unwrap();
        assert_eq!((report.ok, report.errors), (20, 0), "{scenario:?}");
        assert_eq!(report.iteration_latency.count, 20);
    }
    let report = kbs_bench::run(&options(url.clone(), Scenario::Attest, b"right"))
        .await
        .unwrap();
    assert_eq!((report.ok, report.errors), (20, 0));
    assert_eq!(report.op_latency[&Op::Auth].count, 20);
    assert_eq!(report.op_latency[&Op::Attest].count, 20);

    let storm = BenchOptions {
        concurrency: 5,
        ..options(url, Scenario::BootStorm, b"right")
    };
    let report = kbs_bench::run(&storm).await.unwrap();
    assert_eq!((report.ok, report.errors), (5, 0));
    assert_eq!(report.op_latency[&Op::GetCookie].count, 15);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_counts_as_an_error_not_as_throughput() {
    let url = start(b"wrong", Behaviour::Serve).await;
    let report = kbs_bench::run(&options(url, Scenario::FetchBearer, b"right"))
        .await
        .unwrap();
    assert_eq!(report.ok, 0);
    assert_eq!(report.throughput_per_s, 0.0);
    assert_eq!(
        report.error_counts,
        vec![ErrorCount {
            kind: "secret-mismatch",
            status: None,
            problem: None,
            count: 20
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_counted_by_status_and_problem_type() {
    let url = start(b"right", Behaviour::Deny).await;
    let report = kbs_bench::run(&options(url, Scenario::FetchCookie, b"right"))
        .await
        .unwrap();
    assert_eq!(report.ok, 0);
    assert_eq!(
        report.error_counts,
        vec![ErrorCount {
            kind: "http",
            status: Some(401),
            problem: Some("PolicyDeny".to_owned()),
            count: 20
        }]
    );
}

#[tokio::test]
async fn a_server_that_is_not_there_fails_preparation() {
    // Bind and drop to get a port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = kbs_bench::run(&options(url, Scenario::FetchBearer, b"s"))
        .await
        .unwrap_err();
    assert!(matches!(err, kbs_bench::BenchError::Prepare(_)), "{err:?}");
}
