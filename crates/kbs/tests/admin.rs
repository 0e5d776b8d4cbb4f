//! Admin API authentication and authorization matrix against the real `kbs` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    ADMIN_AUDIENCE, ADMIN_ISSUER, AdminMode, Kbs, KbsEnv, assert_secret_intact, now, seed,
};
use kbs_client::jose::{SigningKey, jwt};
use kbs_client::{ClientError, KbsClient, admin_claims, policies};
use serde_json::json;

const PATH: &str = "default/test/secret";
const SECRET: &[u8] = b"admin secret";

fn client(kbs: &Kbs, key: SigningKey, role: &str, issuer: &str, audience: &str) -> KbsClient {
    KbsClient::builder(&kbs.url)
        .no_proxy()
        .admin_signing_key(key)
        .admin_role(role)
        .admin_issuer(issuer)
        .admin_audience(audience)
        .build()
        .unwrap()
}

fn with_token(kbs: &Kbs, token: String) -> KbsClient {
    KbsClient::builder(&kbs.url)
        .no_proxy()
        .admin_token(token)
        .build()
        .unwrap()
}

/// Tries the three kinds of admin write (plugin path, built-in endpoints) and returns the
/// problem detail of the first, after checking all three fail with `status`.
async fn refused_everywhere(client: &KbsClient, status: u16) -> String {
    let e1 = client.set_resource(PATH, b"overwritten").await.unwrap_err();
    let e2 = client
        .set_resource_policy(policies::DENY_ALL)
        .await
        .unwrap_err();
    let e3 = client
        .set_sample_reference_value("svn", json!(["9"]))
        .await
        .unwrap_err();
    for e in [&e1, &e2, &e3] {
        assert_eq!(e.status(), Some(status), "{e}");
        assert_eq!(
            e.problem().unwrap().variant(),
            Some("AdminAuthAccess"),
            "{e}"
        );
    }
    e1.problem().unwrap().detail.clone()
}

#[tokio::test]
async fn right_key_issuer_audience_and_role_are_allowed() {
    let env = KbsEnv::new();
    let kbs = env.start();
    let admin = env.admin_client(&kbs);
    admin.set_resource(PATH, SECRET).await.unwrap();
    admin
        .set_resource_policy(policies::ALLOW_ALL)
        .await
        .unwrap();
    assert_eq!(
        admin.list_resource_policies().await.unwrap(),
        vec!["resource-policy"]
    );
    admin
        .set_attestation_policy(
            "fake_policy_id",
            "package policy\nimport rego.v1\ndefault allow := true\n",
        )
        .await
        .unwrap();
    admin
        .set_sample_reference_value("svn", json!(["1"]))
        .await
        .unwrap();
    assert_eq!(
        admin.query_reference_value("svn").await.unwrap(),
        json!(["1"])
    );
    assert_secret_intact(&kbs, PATH, SECRET).await;
    admin.delete_resource(PATH).await.unwrap();
    let err = kbs.guest().get_resource(PATH).await.unwrap_err();
    assert!(matches!(err, ClientError::NotFound(_)), "{err:?}");
}

/// The sample TEE's `executables` claim is affirming (3) only while reference value `svn`
/// lists its svn, so with the affirming resource policy the secret is released only then.
const SVN_POLICY: &str = r#"package policy
import rego.v1

default executables := 33

executables := 3 if {
	input.sample
	input.sample.svn in query_reference_value("svn")
}

trust_claims := {"executables": executables}
"#;

#[tokio::test]
async fn a_deleted_reference_value_is_gone_for_reads_and_appraisals() {
    let env = KbsEnv::new();
    let kbs = env.start();
    let admin = env.admin_client(&kbs);
    admin
        .set_attestation_policy("default_cpu", SVN_POLICY)
        .await
        .unwrap();
    admin
        .set_sample_reference_value("svn", json!(["1"]))
        .await
        .unwrap();
    admin
        .set_resource_policy(policies::AFFIRMING)
        .await
        .unwrap();
    admin.set_resource(PATH, SECRET).await.unwrap();
    assert_secret_intact(&kbs, PATH, SECRET).await;

    // refused without admin credentials, and nothing is deleted
    let unauthenticated =
        common::raw(kbs.addr, "DELETE", "/kbs/v0/reference-value/svn", &[], b"").await;
    assert_eq!(unauthenticated.status, 401, "{}", unauthenticated.text());
    assert_eq!(
        unauthenticated.variant().as_deref(),
        Some("AdminAuthAccess")
    );
    let other_key = client(
        &kbs,
        SigningKey::generate_ed25519().unwrap(),
        "admin",
        ADMIN_ISSUER,
        ADMIN_AUDIENCE,
    );
    let err = other_key.delete_reference_value("svn").await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert_eq!(
        admin.query_reference_value("svn").await.unwrap(),
        json!(["1"])
    );

    admin.delete_reference_value("svn").await.unwrap();
    let err = admin.query_reference_value("svn").await.unwrap_err();
    assert!(matches!(err, ClientError::NotFound(_)), "{err:?}");
    // the appraisal no longer finds it: not affirming, so the affirming policy refuses
    let err = kbs.guest().get_resource(PATH).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert_eq!(
        err.problem().unwrap().variant(),
        Some("PolicyDeny"),
        "{err}"
    );

    // deleting it again, or an id never stored, is a 404 naming the id
    for id in ["svn", "never/stored"] {
        let err = admin.delete_reference_value(id).await.unwrap_err();
        assert!(matches!(err, ClientError::NotFound(_)), "{id}: {err:?}");
        let detail = &err.problem().unwrap().detail;
        assert!(detail.contains(&format!("given id: {id}")), "{detail}");
    }

    // registered again, the secret is released again
    admin
        .set_sample_reference_value("svn", json!(["1"]))
        .await
        .unwrap();
    assert_secret_intact(&kbs, PATH, SECRET).await;
}

#[tokio::test]
async fn every_wrong_credential_is_refused_with_its_own_detail() {
    let env = KbsEnv::new();
    let kbs = env.start();
    seed(&env, &kbs, PATH, SECRET).await;
    env.admin_client(&kbs)
        .set_sample_reference_value("svn", json!(["1"]))
        .await
        .unwrap();
    let before = env.snapshot();
    let mut details = Vec::new();

    let other_key = client(
        &kbs,
        SigningKey::generate_ed25519().unwrap(),
        "admin",
        ADMIN_ISSUER,
        ADMIN_AUDIENCE,
    );
    let d = refused_everywhere(&other_key, 401).await;
    assert!(
        d.contains("Cannot verify token with any of the issuers"),
        "{d}"
    );
    details.push(d);

    let wrong_issuer = client(
        &kbs,
        env.admin_key_copy(),
        "admin",
        "mallory",
        ADMIN_AUDIENCE,
    );
    let d = refused_everywhere(&wrong_issuer, 401).await;
    assert!(d.contains("issuer"), "{d}");
    details.push(d);

    let wrong_audience = client(
        &kbs,
        env.admin_key_copy(),
        "admin",
        ADMIN_ISSUER,
        "other-kbs",
    );
    let d = refused_everywhere(&wrong_audience, 401).await;
    assert!(d.contains("audience"), "{d}");
    details.push(d);

    let expired_claims = admin_claims(
        "admin",
        Some(ADMIN_ISSUER),
        Some(ADMIN_AUDIENCE),
        now() - 3600,
    );
    let expired = jwt::sign(
        &env.admin_key,
        &jwt::HeaderExtras::default(),
        &expired_claims,
    )
    .unwrap();
    let d = refused_everywhere(&with_token(&kbs, expired), 401).await;
    assert!(d.contains("expired"), "{d}");
    details.push(d);

    let no_role = json!({"iss": ADMIN_ISSUER, "aud": [ADMIN_AUDIENCE], "exp": now() + 300});
    let no_role = jwt::sign(&env.admin_key, &jwt::HeaderExtras::default(), &no_role).unwrap();
    let d = refused_everywhere(&with_token(&kbs, no_role), 401).await;
    assert!(d.contains("role"), "{d}");
    details.push(d);

    let unknown_role = client(
        &kbs,
        env.admin_key_copy(),
        "tester",
        ADMIN_ISSUER,
        ADMIN_AUDIENCE,
    );
    let d = refused_everywhere(&unknown_role, 403).await;
    assert!(d.contains("Role tester not allowed"), "{d}");
    details.push(d);

    // a role whose ACL covers reference-value reads only
    let reader = client(
        &kbs,
        env.admin_key_copy(),
        "rv-reader",
        ADMIN_ISSUER,
        ADMIN_AUDIENCE,
    );
    let d = refused_everywhere(&reader, 403).await;
    assert!(
        d.contains("Role rv-reader not allowed for path /kbs/v0/resource/"),
        "{d}"
    );
    details.push(d);
    assert_eq!(
        reader.query_reference_value("svn").await.unwrap(),
        json!(["1"])
    );

    let no_header = raw_post(&kbs, "/kbs/v0/resource-policy").await;
    assert_eq!(no_header.status, 401, "{}", no_header.text());
    assert!(
        no_header.detail().contains("Bearer"),
        "{}",
        no_header.detail()
    );
    details.push(no_header.detail());

    let mut unique = details.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        details.len(),
        "details must differ: {details:#?}"
    );
    assert_eq!(
        env.snapshot(),
        before,
        "a refused admin request changed the store"
    );
    assert_secret_intact(&kbs, PATH, SECRET).await;
}

async fn raw_post(kbs: &Kbs, target: &str) -> common::RawResponse {
    common::raw(
        kbs.addr,
        "POST",
        target,
        &[("Content-Type", "application/json")],
        br#"{"policy":""}"#,
    )
    .await
}

#[tokio::test]
async fn deny_all_refuses_even_the_right_key() {
    let env = KbsEnv::with_admin(AdminMode::DenyAll);
    let kbs = env.start();
    let before = env.snapshot();
    let d = refused_everywhere(&env.admin_client(&kbs), 401).await;
    assert!(d.contains("DenyAll authorization_mode is enabled"), "{d}");
    assert_eq!(env.snapshot(), before);
}
