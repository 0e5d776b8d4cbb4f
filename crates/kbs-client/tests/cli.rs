//! The `kbs-client` binary against the in-process mock KBS: flags, output and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mock;

use std::path::Path;
use std::process::Output;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kbs_client::jose::{SigningKey, TeeKeyPair};
use mock::MockState;
use serde_json::{Value, json};

async fn kbs_client(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kbs-client"))
            .args(&args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn write(dir: &Path, name: &str, contents: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn secret_state(allow: bool) -> MockState {
    let mut state = MockState {
        allow,
        ..MockState::default()
    };
    state
        .resources
        .insert("one/two/three".to_owned(), vec![0, 1, 2, 255]);
    state
}

#[tokio::test]
async fn get_resource_prints_the_resource_as_standard_base64() {
    let (url, _state) = mock::start(secret_state(true)).await;
    let out = kbs_client(args(&[
        "--url",
        &url,
        "get-resource",
        "--path",
        "one/two/three",
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), STANDARD.encode([0u8, 1, 2, 255]));
}

#[tokio::test]
async fn refusal_exits_non_zero_with_one_line_naming_the_servers_detail() {
    let (url, _state) = mock::start(secret_state(false)).await;
    let out = kbs_client(args(&[
        "--url",
        &url,
        "get-resource",
        "--path",
        "one/two/three",
    ]))
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("Access denied by policy"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[tokio::test]
async fn attest_with_a_tee_key_file_then_read_with_the_token() {
    let (url, state) = mock::start(secret_state(true)).await;
    let dir = tempfile::tempdir().unwrap();
    let key = TeeKeyPair::generate_rsa(2048).unwrap();
    let key_file = write(dir.path(), "tee.key", key.to_pem().unwrap().as_bytes());
    let out = kbs_client(args(&[
        "--url",
        &url,
        "attest",
        "--tee-key-file",
        &key_file,
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_owned();
    assert!(token.starts_with("mock-token-"));
    let token_file = write(dir.path(), "token", format!("{token}\n").as_bytes());

    let out = kbs_client(args(&[
        "--url",
        &url,
        "get-resource",
        "--path",
        "one/two/three",
        "--attestation-token",
        &token_file,
        "--tee-key-file",
        &key_file,
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), STANDARD.encode([0u8, 1, 2, 255]));
    let s = state.lock().unwrap();
    assert_eq!(s.get_authorizations, vec![Some(format!("Bearer {token}"))]);
}

#[tokio::test]
async fn attestation_token_without_tee_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = write(dir.path(), "token", b"t");
    let out = kbs_client(args(&[
        "--url",
        "http://127.0.0.1:1",
        "get-resource",
        "--path",
        "a/b/c",
        "--attestation-token",
        &token_file,
    ]))
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--tee-key-file"));
}

#[tokio::test]
async fn config_commands_send_signed_admin_requests() {
    let admin = SigningKey::generate_ed25519().unwrap();
    let state = MockState {
        admin_key: Some(admin.verifying_key()),
        ..MockState::default()
    };
    let (url, state) = mock::start(state).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = write(dir.path(), "admin.key", admin.to_pem().unwrap().as_bytes());
    let secret_file = write(dir.path(), "secret", b"top secret bytes");
    let policy_file = write(dir.path(), "p.rego", b"package policy\n");
    let config = |rest: &[&str]| {
        let mut all = args(&["--url", &url, "config", "--auth-private-key", &key_file]);
        all.extend(args(rest));
        all
    };

    let out = kbs_client(config(&[
        "set-resource",
        "--path",
        "a/b/c",
        "--resource-file",
        &secret_file,
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stdout(&out).contains("top secret")
            && !stdout(&out).contains(&STANDARD.encode("top secret bytes")),
        "the secret must not be echoed"
    );
    for rest in [
        vec!["set-resource-policy", "--allow-all"],
        vec!["set-resource-policy", "--policy-file", &policy_file],
        vec!["set-attestation-policy", "--policy-file", &policy_file],
        vec!["set-sample-reference-value", "svn", "1"],
        vec![
            "set-sample-reference-value",
            "n",
            "7",
            "--as-integer",
            "--as-single-value",
        ],
        vec!["delete-resource", "--path", "a/b/c"],
    ] {
        let out = kbs_client(config(&rest)).await;
        assert!(out.status.success(), "{rest:?}: {}", stderr(&out));
    }
    let out = kbs_client(config(&["get-reference-value", "--id", "svn"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), r#"["1"]"#);

    let s = state.lock().unwrap();
    assert_eq!(s.admin_requests.len(), 7);
    for request in &s.admin_requests {
        assert_eq!(request.claims.as_ref().unwrap()["role"], "admin");
    }
    assert_eq!(s.admin_requests[0].body, b"top secret bytes");
    let body = |i: usize| -> Value { serde_json::from_slice(&s.admin_requests[i].body).unwrap() };
    assert_eq!(
        body(1),
        json!({"policy": URL_SAFE_NO_PAD.encode(kbs_client::policies::ALLOW_ALL)})
    );
    assert_eq!(
        body(2),
        json!({"policy": URL_SAFE_NO_PAD.encode("package policy\n")})
    );
    assert_eq!(body(3)["policy_id"], "default_cpu");
    assert_eq!(body(3)["type"], "rego");
    assert_eq!(body(4)["payload"], STANDARD.encode(r#"{"svn":["1"]}"#));
    assert_eq!(body(5)["payload"], STANDARD.encode(r#"{"n":7}"#));
    assert_eq!(s.admin_requests[6].route, "DELETE /kbs/v0/resource/a/b/c");
}

#[tokio::test]
async fn delete_reference_value_sends_a_signed_delete_and_reports_an_unknown_id() {
    let admin = SigningKey::generate_ed25519().unwrap();
    let state = MockState {
        admin_key: Some(admin.verifying_key()),
        ..MockState::default()
    };
    let (url, state) = mock::start(state).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = write(dir.path(), "admin.key", admin.to_pem().unwrap().as_bytes());
    let config = |id: &str| {
        args(&[
            "--url",
            &url,
            "config",
            "--auth-private-key",
            &key_file,
            "delete-reference-value",
            "--id",
            id,
        ])
    };
    let out = kbs_client(config("svn")).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "Delete reference value svn success");
    {
        let s = state.lock().unwrap();
        assert_eq!(s.admin_requests.len(), 1);
        assert_eq!(
            s.admin_requests[0].route,
            "DELETE /kbs/v0/reference-value/svn"
        );
        assert_eq!(
            s.admin_requests[0].claims.as_ref().unwrap()["role"],
            "admin"
        );
        assert!(s.admin_requests[0].body.is_empty());
    }

    let out = kbs_client(config("other")).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no reference value found"), "{err}");
    assert!(stdout(&out).is_empty());

    // an id that would leave the path is refused before anything is sent
    let out = kbs_client(config("../resource/a/b/c")).await;
    assert!(!out.status.success());
    assert_eq!(state.lock().unwrap().admin_requests.len(), 1);
}

#[tokio::test]
async fn admin_token_file_is_sent_as_is() {
    let (url, state) = mock::start(MockState::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = write(dir.path(), "admin.jwt", b"a.b.c\n");
    let policy_file = write(dir.path(), "p.rego", b"package policy\n");
    let out = kbs_client(args(&[
        "--url",
        &url,
        "config",
        "--admin-token-file",
        &token_file,
        "set-resource-policy",
        "--policy-file",
        &policy_file,
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        state.lock().unwrap().admin_requests[0].token.as_deref(),
        Some("a.b.c")
    );
}

#[tokio::test]
async fn config_needs_exactly_one_credential_and_one_policy_source() {
    let out = kbs_client(args(&["config", "set-resource-policy", "--allow-all"])).await;
    assert!(!out.status.success());
    let out = kbs_client(args(&[
        "config",
        "--auth-private-key",
        "k",
        "--admin-token-file",
        "t",
        "set-resource-policy",
        "--allow-all",
    ]))
    .await;
    assert!(!out.status.success());
    let out = kbs_client(args(&[
        "config",
        "--admin-token-file",
        "t",
        "set-resource-policy",
        "--allow-all",
        "--deny-all",
    ]))
    .await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn an_unreachable_kbs_is_one_error_line_with_the_cause() {
    // port 1 on loopback: nothing listens there
    let out = kbs_client(args(&[
        "--url",
        "http://127.0.0.1:1",
        "get-resource",
        "--path",
        "a/b/c",
    ]))
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("Error: HTTP transport error: "), "{err}");
    assert!(err.to_lowercase().contains("connect"), "{err}");
}

#[tokio::test]
async fn admin_claim_flags_combine_with_the_key() {
    let admin = SigningKey::generate_ed25519().unwrap();
    let state = MockState {
        admin_key: Some(admin.verifying_key()),
        ..MockState::default()
    };
    let (url, state) = mock::start(state).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = write(dir.path(), "admin.key", admin.to_pem().unwrap().as_bytes());
    let out = kbs_client(args(&[
        "--url",
        &url,
        "config",
        "--auth-private-key",
        &key_file,
        "--admin-role",
        "tester",
        "--admin-issuer",
        "issuer",
        "--admin-audience",
        "kbs",
        "set-resource-policy",
        "--deny-all",
    ]))
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let s = state.lock().unwrap();
    let claims = s.admin_requests[0].claims.clone().unwrap();
    assert_eq!(claims["role"], "tester");
    assert_eq!(claims["iss"], "issuer");
    assert_eq!(claims["aud"], json!(["kbs"]));
}
