//! Admin API authentication and authorization matrix against the real `kbs` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    ADMIN_AUDIENCE, ADMIN_ISSUER, AdminMode, Kbs, KbsEnv, assert_policy_denies,
    assert_secret_intact, now, seed, set_svn, store_secret, store_svn_gated_secret,
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

/// [`client`] with the accepted issuer and audience.
fn client_with_role(kbs: &Kbs, key: SigningKey, role: &str) -> KbsClient {
    client(kbs, key, role, ADMIN_ISSUER, ADMIN_AUDIENCE)
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

/// [`refused_everywhere`], checking that the detail names `reason`; the detail.
async fn refused_naming(client: &KbsClient, status: u16, reason: &str) -> String {
    let detail = refused_everywhere(client, status).await;
    assert!(detail.contains(reason), "{detail}");
    detail
}

#[tokio::test]
async fn right_key_issuer_audience_and_role_are_allowed() {
    let env = KbsEnv::new();
    let kbs = env.start();
    let admin = env.admin_client(&kbs);
    store_secret(&admin, PATH, SECRET, policies::ALLOW_ALL)
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
    set_svn(&admin, &["1"]).await;
    assert_eq!(
        admin.query_reference_value("svn").await.unwrap(),
        json!(["1"])
    );
    assert_secret_intact(&kbs, PATH, SECRET).await;
    admin.delete_resource(PATH).await.unwrap();
    let err = kbs.guest().get_resource(PATH).await.unwrap_err();
    assert!(matches!(err, ClientError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn a_deleted_reference_value_is_gone_for_reads_and_appraisals() {
    let env = KbsEnv::new();
    let kbs = env.start();
    let admin = env.admin_client(&kbs);
    // the sample TEE is affirming, so the secret released, only while `svn` lists its svn
    store_svn_gated_secret(&admin, PATH, SECRET).await.unwrap();
    set_svn(&admin, &["1"]).await;
    assert_secret_intact(&kbs, PATH, SECRET).await;

    // refused without admin credentials, and nothing is deleted
    let unauthenticated =
        common::raw(kbs.addr, "DELETE", "/kbs/v0/reference-value/svn", &[], b"").await;
    assert_eq!(unauthenticated.status, 401, "{}", unauthenticated.text());
    assert_eq!(
        unauthenticated.variant().as_deref(),
        Some("AdminAuthAccess")
    );
    let other_key = client_with_role(&kbs, SigningKey::generate_ed25519().unwrap(), "admin");
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
    assert_policy_denies(&kbs.guest(), PATH).await;

    // deleting it again, or an id never stored, is a 404 naming the id
    for id in ["svn", "never/stored"] {
        let err = admin.delete_reference_value(id).await.unwrap_err();
        assert!(matches!(err, ClientError::NotFound(_)), "{id}: {err:?}");
        let detail = &err.problem().unwrap().detail;
        assert!(detail.contains(&format!("given id: {id}")), "{detail}");
    }

    // registered again, the secret is released again
    set_svn(&admin, &["1"]).await;
    assert_secret_intact(&kbs, PATH, SECRET).await;
}

#[tokio::test]
async fn every_wrong_credential_is_refused_with_its_own_detail() {
    let env = KbsEnv::new();
    let kbs = env.start();
    seed(&env, &kbs, PATH, SECRET).await;
    set_svn(&env.admin_client(&kbs), &["1"]).await;
    let before = env.snapshot();
    let mut details = Vec::new();

    let other_key = client_with_role(&kbs, SigningKey::generate_ed25519().unwrap(), "admin");
    details.push(
        refused_naming(
            &other_key,
            401,
            "Cannot verify token with any of the issuers",
        )
        .await,
    );

    let wrong_issuer = client(
        &kbs,
        env.admin_key_copy(),
        "admin",
        "mallory",
        ADMIN_AUDIENCE,
    );
    details.push(refused_naming(&wrong_issuer, 401, "issuer").await);

    let wrong_audience = client(
        &kbs,
        env.admin_key_copy(),
        "admin",
        ADMIN_ISSUER,
        "other-kbs",
    );
    details.push(refused_naming(&wrong_audience, 401, "audience").await);

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
    details.push(refused_naming(&with_token(&kbs, expired), 401, "expired").await);

    let no_role = json!({"iss": ADMIN_ISSUER, "aud": [ADMIN_AUDIENCE], "exp": now() + 300});
    let no_role = jwt::sign(&env.admin_key, &jwt::HeaderExtras::default(), &no_role).unwrap();
    details.push(refused_naming(&with_token(&kbs, no_role), 401, "role").await);

    let unknown_role = client_with_role(&kbs, env.admin_key_copy(), "tester");
    details.push(refused_naming(&unknown_role, 403, "Role tester not allowed").await);

    // a role whose ACL covers reference-value reads only
    let reader = client_with_role(&kbs, env.admin_key_copy(), "rv-reader");
    details.push(
        refused_naming(
            &reader,
            403,
            "Role rv-reader not allowed for path /kbs/v0/resource/",
        )
        .await,
    );
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
    common::raw_post_json(kbs.addr, target, &[], br#"{"policy":""}"#).await
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
