//! Hostile requests against the real `kbs` binary. Each test checks the status and problem type
//! of the refusal, and that the store is unchanged afterwards (a byte-for-byte snapshot of the
//! working directory, plus a legitimate read of the seeded secret).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Kbs, KbsEnv, RawResponse, assert_secret_intact, raw, raw_post_json, seed};
use kbs_client::kbs_types::Challenge;
use serde_json::{Value, json};

const PATH: &str = "default/test/secret";
const SECRET: &[u8] = b"adversarial secret";

async fn seeded() -> (KbsEnv, Kbs) {
    let env = KbsEnv::new();
    let kbs = env.start();
    seed(&env, &kbs, PATH, SECRET).await;
    (env, kbs)
}

/// `/auth` as the sample TEE: the session cookie (`kbs-session-id=<id>`) and the challenge.
async fn auth(kbs: &Kbs) -> (String, Challenge) {
    auth_with(
        kbs,
        &json!({"version": "0.4.0", "tee": "sample", "extra-params": ""}),
    )
    .await
}

/// `/auth` with `body`, which must be accepted: the session cookie and the challenge.
async fn auth_with(kbs: &Kbs, body: &Value) -> (String, Challenge) {
    let answer = raw_post_json(kbs.addr, "/kbs/v0/auth", &[], body.to_string().as_bytes()).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let cookie = answer
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (cookie, serde_json::from_slice(&answer.body).unwrap())
}

/// A well-formed `/attest` body for `challenge`, from a client with a fresh key.
fn attestation_for(kbs: &Kbs, challenge: &Challenge) -> Value {
    serde_json::to_value(kbs.guest().attestation_for(challenge).unwrap()).unwrap()
}

async fn attest(kbs: &Kbs, cookie: Option<&str>, body: &Value) -> RawResponse {
    attest_raw(kbs, cookie, body.to_string().as_bytes()).await
}

/// `POST /kbs/v0/attest` of `body` as JSON, with the session cookie if given.
async fn attest_raw(kbs: &Kbs, cookie: Option<&str>, body: &[u8]) -> RawResponse {
    let cookie: Vec<_> = cookie
        .map(|cookie| ("Cookie", cookie))
        .into_iter()
        .collect();
    raw_post_json(kbs.addr, "/kbs/v0/attest", &cookie, body).await
}

fn assert_problem(answer: &RawResponse, status: u16, variant: &str) {
    assert_eq!(answer.status, status, "{}", answer.text());
    assert_eq!(
        answer.variant().as_deref(),
        Some(variant),
        "{}",
        answer.text()
    );
}

async fn assert_unchanged(
    env: &KbsEnv,
    kbs: &Kbs,
    before: &std::collections::BTreeMap<String, Vec<u8>>,
) {
    assert_eq!(&env.snapshot(), before, "the store changed");
    assert_secret_intact(kbs, PATH, SECRET).await;
}

/// A GET of the secret with only this session cookie: must not release anything.
async fn read_with_cookie(kbs: &Kbs, cookie: &str) -> RawResponse {
    raw(
        kbs.addr,
        "GET",
        &format!("/kbs/v0/resource/{PATH}"),
        &[("Cookie", cookie)],
        b"",
    )
    .await
}

#[tokio::test]
async fn attest_without_auth_is_refused() {
    let (env, kbs) = seeded().await;
    let before = env.snapshot();
    let challenge = Challenge {
        nonce: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned(),
        extra_params: json!(""),
    };
    let body = attestation_for(&kbs, &challenge);
    assert_problem(&attest(&kbs, None, &body).await, 401, "AttestationError");
    let forged = "kbs-session-id=0123456789abcdef0123456789abcdef";
    assert_problem(
        &attest(&kbs, Some(forged), &body).await,
        401,
        "AttestationError",
    );
    assert_problem(&read_with_cookie(&kbs, forged).await, 401, "TokenNotFound");
    assert_unchanged(&env, &kbs, &before).await;
}

#[tokio::test]
async fn nonce_from_another_session_is_refused() {
    let (env, kbs) = seeded().await;
    let before = env.snapshot();
    let (cookie_a, challenge_a) = auth(&kbs).await;
    let (cookie_b, _challenge_b) = auth(&kbs).await;
    let body_a = attestation_for(&kbs, &challenge_a);
    let answer = attest(&kbs, Some(&cookie_b), &body_a).await;
    assert_problem(&answer, 401, "AttestationError");
    assert!(answer.detail().contains("nonce"), "{}", answer.detail());
    assert_problem(
        &read_with_cookie(&kbs, &cookie_b).await,
        401,
        "TokenNotFound",
    );
    // the same body is good on its own session: the refusal above was the nonce's doing
    let answer = attest(&kbs, Some(&cookie_a), &body_a).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_unchanged(&env, &kbs, &before).await;
}

#[tokio::test]
async fn evidence_replayed_on_a_second_session_is_refused() {
    let (env, kbs) = seeded().await;
    let before = env.snapshot();
    let (cookie_a, challenge_a) = auth(&kbs).await;
    let body_a = attestation_for(&kbs, &challenge_a);
    assert_eq!(attest(&kbs, Some(&cookie_a), &body_a).await.status, 200);
    let (cookie_b, _) = auth(&kbs).await;
    assert_problem(
        &attest(&kbs, Some(&cookie_b), &body_a).await,
        401,
        "AttestationError",
    );
    assert_problem(
        &read_with_cookie(&kbs, &cookie_b).await,
        401,
        "TokenNotFound",
    );
    assert_unchanged(&env, &kbs, &before).await;
}

#[tokio::test]
async fn the_same_nonce_cannot_be_used_twice() {
    let (env, kbs) = seeded().await;
    let before = env.snapshot();
    // a failed attempt consumes the nonce: no guessing several evidences against one nonce
    let (cookie, challenge) = auth(&kbs).await;
    let good = attestation_for(&kbs, &challenge);
    let mut bad = good.clone();
    bad["tee-evidence"]["primary_evidence"]["svn"] = json!("0");
    bad["tee-evidence"]["primary_evidence"]["report_data"] = json!("AAAA");
    assert_problem(
        &attest(&kbs, Some(&cookie), &bad).await,
        401,
        "AttestationError",
    );
    let answer = attest(&kbs, Some(&cookie), &good).await;
    assert_problem(&answer, 401, "AttestationError");
    assert!(answer.detail().contains("already"), "{}", answer.detail());

    // a successful attestation cannot be repeated either, and keeps its token
    let (cookie, challenge) = auth(&kbs).await;
    let body = attestation_for(&kbs, &challenge);
    assert_eq!(attest(&kbs, Some(&cookie), &body).await.status, 200);
    assert_problem(
        &attest(&kbs, Some(&cookie), &body).await,
        401,
        "AttestationError",
    );
    assert_eq!(read_with_cookie(&kbs, &cookie).await.status, 200);
    assert_unchanged(&env, &kbs, &before).await;
}

#[tokio::test]
async fn tampered_report_data_is_refused() {
    let (env, kbs) = seeded().await;
    let before = env.snapshot();
    let (cookie, challenge) = auth(&kbs).await;
    let mut body = attestation_for(&kbs, &challenge);
    let report_data = body["tee-evidence"]["primary_evidence"]["report_data"]
        .as_str()
        .unwrap()
        .to_owned();
    // flip one base64 character: a different digest of the same length
    let mut chars: Vec<char> = report_data.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    body["tee-evidence"]["primary_evidence"]["report_data"] =
        json!(chars.into_iter().collect::<String>());
    assert_problem(
        &attest(&kbs, Some(&cookie), &body).await,
        401,
        "AttestationError",
    );
    assert_problem(&read_with_cookie(&kbs, &cookie).await, 401, "TokenNotFound");

    // a key swapped after hashing breaks the binding just the same
    let (cookie, challenge) = auth(&kbs).await;
    let mut body = attestation_for(&kbs, &challenge);
    body["runtime-data"]["tee-pubkey"] =
        attestation_for(&kbs, &challenge)["runtime-data"]["tee-pubkey"].clone();
    assert_problem(
        &attest(&kbs, Some(&cookie), &body).await,
        401,
        "AttestationError",
    );
    assert_unchanged(&env, &kbs, &before).await;
}

/// Targets that try to leave `<repository>/<type>/<tag>`, sent byte-exact, and the problem
/// each must get: segments that decode to `.`/`..` or hide a separator are refused by the
/// router before any plugin runs; the rest by the resource plugin's path check.
const TRAVERSALS: [(&str, &str); 13] = [
    ("/kbs/v0/resource/../../e2e-escape", "InvalidRequestPath"),
    ("/kbs/v0/resource/../../../e2e-escape", "InvalidRequestPath"),
    (
        "/kbs/v0/resource/%2e%2e/%2e%2e/e2e-escape",
        "InvalidRequestPath",
    ),
    (
        "/kbs/v0/resource/%2E%2E/%2E%2E/%2E%2E/e2e-escape",
        "InvalidRequestPath",
    ),
    (
        "/kbs/v0/resource/default/test/..%2F..%2Fe2e-escape",
        "InvalidRequestPath",
    ),
    (
        "/kbs/v0/resource/default%2Ftest%2Fsecret",
        "InvalidRequestPath",
    ),
    (
        "/kbs/v0/resource/%2Ftmp%2Fe2e-escape/a/b",
        "InvalidRequestPath",
    ),
    ("/kbs/v0/resource/default/test/..", "InvalidRequestPath"),
    (
        "/kbs/v0/resource/default/test/..%5C..%5Ce2e-escape",
        "InvalidRequestPath",
    ),
    ("/kbs/v0/resource//tmp/e2e-escape", "PluginInternalError"),
    (
        "/kbs/v0/resource/default/test/.hidden",
        "PluginInternalError",
    ),
    (
        "/kbs/v0/resource/default/test/secret/extra",
        "PluginInternalError",
    ),
    ("/kbs/v0/resource/default/test", "PluginInternalError"),
];

fn assert_traversal_refused(target: &str, variant: &str, answer: &RawResponse) {
    assert_eq!(answer.status, 404, "{target}: {}", answer.text());
    assert_eq!(
        answer.variant().as_deref(),
        Some(variant),
        "{target}: {}",
        answer.text()
    );
    assert!(
        !answer.body.windows(SECRET.len()).any(|w| w == SECRET),
        "{target} leaked the secret"
    );
}

#[tokio::test]
async fn path_traversal_on_resource_get_is_refused() {
    let (env, kbs) = seeded().await;
    let before = env.snapshot();
    // a valid token, so refusals come from path checks, not from missing credentials
    let token = kbs.guest().attest().await.unwrap();
    let bearer = format!("Bearer {token}");
    for (target, variant) in TRAVERSALS {
        let answer = raw(kbs.addr, "GET", target, &[("Authorization", &bearer)], b"").await;
        assert_traversal_refused(target, variant, &answer);
    }
    assert_unchanged(&env, &kbs, &before).await;
}

#[tokio::test]
async fn path_traversal_on_resource_post_writes_nothing() {
    let (env, kbs) = seeded().await;
    let before = env.snapshot();
    let outside = env.dir.path().parent().unwrap().join("e2e-escape");
    let existed_before = outside.exists();
    let admin_token = kbs_client_admin_token(&env);
    let bearer = format!("Bearer {admin_token}");
    for (target, variant) in TRAVERSALS {
        let answer = raw(
            kbs.addr,
            "POST",
            target,
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/octet-stream"),
            ],
            b"pwned",
        )
        .await;
        assert_traversal_refused(target, variant, &answer);
    }
    assert_eq!(
        outside.exists(),
        existed_before,
        "a file escaped the data dir"
    );
    assert!(!std::path::Path::new("/tmp/e2e-escape").exists());
    assert_unchanged(&env, &kbs, &before).await;
}

/// An admin token the KBS accepts, as the SDK mints it.
fn kbs_client_admin_token(env: &KbsEnv) -> String {
    let claims = kbs_client::admin_claims(
        "admin",
        Some(common::ADMIN_ISSUER),
        Some(common::ADMIN_AUDIENCE),
        common::now(),
    );
    kbs_client::jose::jwt::sign(
        &env.admin_key,
        &kbs_client::jose::jwt::HeaderExtras::default(),
        &claims,
    )
    .unwrap()
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let (env, kbs) = seeded().await;
    let before = env.snapshot();
    let big = vec![b'a'; 3 * 1024 * 1024];
    let answer = raw_post_json(kbs.addr, "/kbs/v0/auth", &[], &big).await;
    assert_problem(&answer, 413, "PayloadTooLarge");

    let bearer = format!("Bearer {}", kbs_client_admin_token(&env));
    let answer = raw(
        kbs.addr,
        "POST",
        &format!("/kbs/v0/resource/{PATH}"),
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/octet-stream"),
        ],
        &big,
    )
    .await;
    assert_problem(&answer, 413, "PayloadTooLarge");
    assert_unchanged(&env, &kbs, &before).await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (env, kbs) = seeded().await;
    let before = env.snapshot();
    let answer = raw_post_json(kbs.addr, "/kbs/v0/auth", &[], b"{\"version\":").await;
    assert_problem(&answer, 400, "SerdeError");

    let (cookie, _) = auth(&kbs).await;
    let answer = attest_raw(&kbs, Some(&cookie), b"[1,2").await;
    assert_problem(&answer, 400, "SerdeError");

    let bearer = format!("Bearer {}", kbs_client_admin_token(&env));
    let admin = [("Authorization", bearer.as_str())];
    let answer = raw_post_json(kbs.addr, "/kbs/v0/resource-policy", &admin, b"not json").await;
    assert_problem(&answer, 400, "ParsePolicyError");
    let answer = raw_post_json(
        kbs.addr,
        "/kbs/v0/resource-policy",
        &admin,
        br#"{"policy":"cGFja2FnZSBwb2xpY3k="}"#,
    )
    .await;
    assert_eq!(
        answer.status,
        400,
        "padded base64 must be refused: {}",
        answer.text()
    );
    assert_unchanged(&env, &kbs, &before).await;
}

#[tokio::test]
async fn unknown_fields_are_refused_in_our_schemas_and_tolerated_in_kbs_types() {
    let (env, kbs) = seeded().await;
    let before = env.snapshot();
    let bearer = format!("Bearer {}", kbs_client_admin_token(&env));
    let admin = [("Authorization", bearer.as_str())];
    let body = json!({"policy_id": "default_cpu", "policy": "cGFja2FnZSBwb2xpY3k", "extra": 1});
    let answer = raw_post_json(
        kbs.addr,
        "/kbs/v0/attestation-policy",
        &admin,
        body.to_string().as_bytes(),
    )
    .await;
    assert_problem(&answer, 400, "SerdeError");
    assert!(
        answer.detail().contains("unknown field"),
        "{}",
        answer.detail()
    );

    // protocol messages follow kbs-types, which ignores unknown members, as upstream does
    let body = json!({"version": "0.4.0", "tee": "sample", "extra-params": "", "extra": 1});
    auth_with(&kbs, &body).await;
    assert_unchanged(&env, &kbs, &before).await;
}

#[tokio::test]
async fn requests_without_any_credential_are_refused() {
    let (env, kbs) = seeded().await;
    let before = env.snapshot();
    let target = format!("/kbs/v0/resource/{PATH}");
    let answer = raw(kbs.addr, "GET", &target, &[], b"").await;
    assert_problem(&answer, 401, "TokenNotFound");
    let answer = raw(kbs.addr, "POST", &target, &[], b"overwrite").await;
    assert_eq!(answer.status, 401, "{}", answer.text());
    let answer = raw(kbs.addr, "DELETE", &target, &[], b"").await;
    assert_eq!(answer.status, 401, "{}", answer.text());
    let answer = raw(kbs.addr, "GET", "/kbs/v0/nosuchplugin/a/b", &[], b"").await;
    assert_problem(&answer, 404, "PluginNotFound");
    assert_unchanged(&env, &kbs, &before).await;
}
