//! The SDK's side of the protocol, against an in-process mock KBS that records requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mock;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kbs_client::jose::{SigningKey, TeeKeyPair};
use kbs_client::kbs_types::HashAlgorithm;
use kbs_client::{ClientError, KbsClient, SampleAttester};
use mock::MockState;
use serde_json::{Value, json};

fn state_with_secret(allow: bool) -> MockState {
    let mut state = MockState {
        allow,
        ..MockState::default()
    };
    state
        .resources
        .insert("one/two/three".to_owned(), b"shhhhhhh".to_vec());
    state
}

#[tokio::test]
async fn get_resource_attests_after_the_first_401_and_decrypts() {
    let (url, state) = mock::start(state_with_secret(true)).await;
    let client = KbsClient::builder(&url).no_proxy().build().unwrap();
    let secret = client.get_resource("one/two/three").await.unwrap();
    assert_eq!(secret.as_slice(), b"shhhhhhh");

    let s = state.lock().unwrap();
    assert_eq!((s.auth_calls, s.attest_calls), (1, 1));
    assert_eq!(s.get_cookies.len(), 2);
    assert_eq!(
        s.get_cookies[0], None,
        "first GET must go out without a session"
    );
    assert!(
        s.get_cookies[1]
            .as_deref()
            .unwrap()
            .starts_with("kbs-session-id=")
    );
    assert_eq!(
        s.auth_bodies[0],
        json!({
            "version": "0.4.0",
            "tee": "sample",
            "extra-params": {"supported-hash-algorithms": ["sha256", "sha384", "sha512", "sm3"]}
        })
    );
}

#[tokio::test]
async fn an_attested_session_is_reused_for_the_next_read() {
    let (url, state) = mock::start(state_with_secret(true)).await;
    let client = KbsClient::builder(&url).no_proxy().build().unwrap();
    client.get_resource("one/two/three").await.unwrap();
    client.get_resource("one/two/three").await.unwrap();
    let s = state.lock().unwrap();
    assert_eq!(s.auth_calls, 1);
    assert_eq!(s.get_cookies.len(), 3);
}

#[tokio::test]
async fn policy_denial_gives_up_after_three_requests_with_the_servers_problem() {
    let (url, state) = mock::start(state_with_secret(false)).await;
    let client = KbsClient::builder(&url).no_proxy().build().unwrap();
    let err = client.get_resource("one/two/three").await.unwrap_err();
    let ClientError::Unauthorized(problem) = &err else {
        panic!("expected Unauthorized, got {err:?}");
    };
    assert_eq!(problem.variant(), Some("PolicyDeny"));
    assert_eq!(problem.detail, "Access denied by policy");
    assert_eq!(problem.status, 401);
    assert!(err.to_string().starts_with("request unauthorized: "));
    let s = state.lock().unwrap();
    assert_eq!(s.get_cookies.len(), 3, "max three resource requests");
    assert_eq!(
        s.auth_calls, 2,
        "re-attests between attempts, not after the last"
    );
}

#[tokio::test]
async fn missing_resource_is_not_found_with_the_problem_and_no_more_retries() {
    let (url, state) = mock::start(state_with_secret(true)).await;
    let client = KbsClient::builder(&url).no_proxy().build().unwrap();
    let err = client.get_resource("one/two/missing").await.unwrap_err();
    assert!(matches!(err, ClientError::NotFound(_)), "{err:?}");
    assert_eq!(err.status(), Some(404));
    assert_eq!(
        err.problem().unwrap().variant(),
        Some("PluginInternalError")
    );
    assert_eq!(state.lock().unwrap().get_cookies.len(), 2);
}

#[tokio::test]
async fn attestation_failure_surfaces_at_once() {
    let mut state = state_with_secret(true);
    state.refuse_attest = true;
    let (url, state) = mock::start(state).await;
    let client = KbsClient::builder(&url).no_proxy().build().unwrap();
    let err = client.get_resource("one/two/three").await.unwrap_err();
    assert_eq!(
        err.problem().unwrap().variant(),
        Some("AttestationError"),
        "{err:?}"
    );
    let s = state.lock().unwrap();
    assert_eq!(
        (s.auth_calls, s.attest_calls, s.get_cookies.len()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn bearer_token_read_sends_the_token_and_no_cookie() {
    let (url, state) = mock::start(state_with_secret(true)).await;
    let key = TeeKeyPair::generate_rsa(2048).unwrap();
    let pem = key.to_pem().unwrap();
    let attesting = KbsClient::builder(&url)
        .no_proxy()
        .tee_key(key)
        .build()
        .unwrap();
    let token = attesting.attest().await.unwrap();

    let reader = KbsClient::builder(&url)
        .no_proxy()
        .tee_key(TeeKeyPair::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let secret = reader
        .get_resource_with_token("one/two/three", &token)
        .await
        .unwrap();
    assert_eq!(secret.as_slice(), b"shhhhhhh");
    // the attesting client holds a session cookie; the token read must not use one even then
    let secret = attesting
        .get_resource_with_token("one/two/three", &token)
        .await
        .unwrap();
    assert_eq!(secret.as_slice(), b"shhhhhhh");
    let s = state.lock().unwrap();
    assert_eq!(s.get_cookies, vec![None, None]);
    assert_eq!(
        s.get_authorizations,
        vec![
            Some(format!("Bearer {token}")),
            Some(format!("Bearer {token}"))
        ]
    );
}

#[tokio::test]
async fn p521_and_rsa_tee_keys_decrypt_their_resources() {
    let (url, _state) = mock::start(state_with_secret(true)).await;
    for key in [
        TeeKeyPair::generate_ec_p521().unwrap(),
        TeeKeyPair::generate_rsa(2048).unwrap(),
    ] {
        let client = KbsClient::builder(&url)
            .no_proxy()
            .tee_key(key)
            .build()
            .unwrap();
        let secret = client.get_resource("one/two/three").await.unwrap();
        assert_eq!(secret.as_slice(), b"shhhhhhh");
    }
}

#[tokio::test]
async fn selected_hash_algorithm_is_used_for_the_binding() {
    let mut state = state_with_secret(true);
    state.challenge_extra_params = Some(json!({"selected-hash-algorithm": "sha512"}));
    state.expected_hash = Some(HashAlgorithm::Sha512);
    let (url, _state) = mock::start(state).await;
    let client = KbsClient::builder(&url).no_proxy().build().unwrap();
    // the mock asserts the report data is SHA-512 of the runtime data
    client.attest().await.unwrap();
}

#[tokio::test]
async fn sample_device_evidence_is_sent_as_additional_evidence() {
    let (url, _state) = mock::start(state_with_secret(true)).await;
    let client = KbsClient::builder(&url)
        .no_proxy()
        .attester(Arc::new(SampleAttester::new().with_sample_device(true)))
        .build()
        .unwrap();
    // the mock asserts the primary report data covers the additional-evidence text
    let secret = client.get_resource("one/two/three").await.unwrap();
    assert_eq!(secret.as_slice(), b"shhhhhhh");
}

#[tokio::test]
async fn admin_requests_carry_a_fresh_eddsa_token_with_the_configured_claims() {
    let admin_key = SigningKey::generate_ed25519().unwrap();
    let state = MockState {
        admin_key: Some(admin_key.verifying_key()),
        ..MockState::default()
    };
    let (url, state) = mock::start(state).await;
    let client = KbsClient::builder(&url)
        .no_proxy()
        .admin_signing_key(SigningKey::from_pem(&admin_key.to_pem().unwrap()).unwrap())
        .admin_role("tester")
        .admin_issuer("issuer")
        .admin_audience("kbs")
        .build()
        .unwrap();

    client
        .set_resource("a/b/c", b"\x00bytes\xff")
        .await
        .unwrap();
    client
        .set_resource_policy("package policy\n")
        .await
        .unwrap();
    client
        .set_attestation_policy("default_cpu", "package policy\n")
        .await
        .unwrap();
    client
        .set_sample_reference_value("svn", json!(["1"]))
        .await
        .unwrap();
    client.delete_resource("a/b/c").await.unwrap();
    assert_eq!(
        client.list_resource_policies().await.unwrap(),
        vec!["resource-policy"]
    );
    assert_eq!(
        client.query_reference_value("svn").await.unwrap(),
        json!(["1"])
    );

    let s = state.lock().unwrap();
    let routes: Vec<_> = s.admin_requests.iter().map(|r| r.route.as_str()).collect();
    assert_eq!(
        routes,
        [
            "POST /kbs/v0/resource/a/b/c",
            "POST /kbs/v0/resource-policy",
            "POST /kbs/v0/attestation-policy",
            "POST /kbs/v0/reference-value",
            "DELETE /kbs/v0/resource/a/b/c",
        ]
    );
    let now = mock::time_now() as i64;
    for request in &s.admin_requests {
        let claims = request.claims.as_ref().expect("token verified");
        assert_eq!(claims["role"], "tester");
        assert_eq!(claims["iss"], "issuer");
        assert_eq!(claims["aud"], json!(["kbs"]));
        let exp = claims["exp"].as_i64().unwrap();
        assert!(
            exp > now && exp <= now + 301,
            "short-lived token, exp {exp}"
        );
        let header =
            kbs_client::jose::jwt::Header::decode(request.token.as_deref().unwrap()).unwrap();
        assert_eq!(header.alg, "EdDSA");
    }
    let set_resource = &s.admin_requests[0];
    assert_eq!(set_resource.body, b"\x00bytes\xff");
    assert_eq!(
        set_resource.content_type.as_deref(),
        Some("application/octet-stream")
    );
    let policy: Value = serde_json::from_slice(&s.admin_requests[1].body).unwrap();
    assert_eq!(
        policy,
        json!({"policy": URL_SAFE_NO_PAD.encode("package policy\n")})
    );
    let as_policy: Value = serde_json::from_slice(&s.admin_requests[2].body).unwrap();
    assert_eq!(
        as_policy,
        json!({
            "type": "rego",
            "policy_id": "default_cpu",
            "policy": URL_SAFE_NO_PAD.encode("package policy\n"),
        })
    );
    let rv: Value = serde_json::from_slice(&s.admin_requests[3].body).unwrap();
    assert_eq!(
        rv,
        json!({"version": "0.1.0", "type": "sample", "payload": STANDARD.encode(r#"{"svn":["1"]}"#)})
    );
    assert_eq!(
        s.admin_requests[3].content_type.as_deref(),
        Some("application/json")
    );
}

#[tokio::test]
async fn a_given_admin_token_is_sent_verbatim() {
    let (url, state) = mock::start(MockState::default()).await;
    let client = KbsClient::builder(&url)
        .no_proxy()
        .admin_token("header.payload.signature")
        .build()
        .unwrap();
    client.set_resource("a/b/c", b"x").await.unwrap();
    let s = state.lock().unwrap();
    assert_eq!(
        s.admin_requests[0].token.as_deref(),
        Some("header.payload.signature")
    );
}

#[tokio::test]
async fn admin_errors_keep_the_servers_problem() {
    let admin_key = SigningKey::generate_ed25519().unwrap();
    let state = MockState {
        admin_key: Some(admin_key.verifying_key()),
        ..MockState::default()
    };
    let (url, _state) = mock::start(state).await;
    let other = SigningKey::generate_ed25519().unwrap();
    let client = KbsClient::builder(&url)
        .no_proxy()
        .admin_signing_key(other)
        .build()
        .unwrap();
    let err = client.set_resource("a/b/c", b"x").await.unwrap_err();
    let problem = err.problem().unwrap();
    assert_eq!(problem.variant(), Some("AdminAuthAccess"));
    assert!(problem.detail.contains("Cannot verify token"));

    let err = client.query_reference_value("nope").await.unwrap_err();
    assert_eq!(err.problem().unwrap().variant(), Some("RvpsError"));
}

#[tokio::test]
async fn unreachable_kbs_is_a_transport_error() {
    // port 1 on loopback: nothing listens there
    let client = KbsClient::builder("http://127.0.0.1:1")
        .no_proxy()
        .build()
        .unwrap();
    let err = client.attest().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
}
