#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real `restful-as` binary on port 0: prints its address, serves the REST API and CORS.

mod common;

use std::process::Command;

use common::process::Running;
use serde_json::Value;

fn start(args: &[&str]) -> Running {
    Running::start(env!("CARGO_BIN_EXE_restful-as"), "restful-as", args)
}

#[tokio::test]
async fn binary_serves_the_rest_api_with_cors() {
    let server = start(&[
        "-s",
        "127.0.0.1:0",
        "-r",
        "https://a.example,https://b.example",
    ]);
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();

    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let policies: Value = client
        .get(format!("{base}/policy"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(policies[0]["policy-id"], "default_cpu");

    for origin in ["https://a.example", "https://b.example"] {
        let response = client
            .request(reqwest::Method::OPTIONS, format!("{base}/attestation"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            origin,
            "{origin}"
        );
    }
}

#[test]
fn socket_is_required() {
    let output = Command::new(env!("CARGO_BIN_EXE_restful-as"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--socket"));
}
