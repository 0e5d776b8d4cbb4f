#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real `restful-as` binary on port 0: prints its address, serves the REST API and CORS.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_restful-as"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("restful-as listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    Running { child, addr }
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
