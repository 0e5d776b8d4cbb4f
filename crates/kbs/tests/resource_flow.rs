//! The background-check flow end to end: the real `kbs` binary, driven by the `kbs-client` SDK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Kbs, KbsEnv, assert_policy_denies, assert_secret_intact, secret_bytes, seed};
use kbs_client::jose::TeeKeyPair;
use kbs_client::kbs_types::Response;
use kbs_client::{ClientError, policies};

const PATH: &str = "default/test/secret";

/// `GET` of [`PATH`] with `Authorization: Bearer <token>` and no session.
async fn get_with_bearer(kbs: &Kbs, token: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/kbs/v0/resource/{PATH}", kbs.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn allow_all_policy_returns_the_secret_byte_exact() {
    let env = KbsEnv::new();
    let kbs = env.start();
    // every byte value, including NUL and non-UTF-8, must survive storage and JWE
    let secret = secret_bytes(1000);
    seed(&env, &kbs, PATH, &secret).await;
    let got = kbs.guest().get_resource(PATH).await.unwrap();
    assert_eq!(got.as_slice(), secret.as_slice());
}

#[tokio::test]
async fn default_policy_refuses_the_sample_tee() {
    let env = KbsEnv::new();
    let kbs = env.start();
    env.admin_client(&kbs)
        .set_resource(PATH, b"shhhhhhh")
        .await
        .unwrap();
    let err = kbs.guest().get_resource(PATH).await.unwrap_err();
    let ClientError::Unauthorized(problem) = &err else {
        panic!("expected 401, got {err:?}");
    };
    assert_eq!(problem.status, 401);
    assert_eq!(problem.variant(), Some("PolicyDeny"), "{problem}");
}

#[tokio::test]
async fn deny_all_policy_refuses() {
    let env = KbsEnv::new();
    let kbs = env.start();
    seed(&env, &kbs, PATH, b"shhhhhhh").await;
    // allowed first, so the refusal below is the policy's doing
    assert_secret_intact(&kbs, PATH, b"shhhhhhh").await;
    env.admin_client(&kbs)
        .set_resource_policy(policies::DENY_ALL)
        .await
        .unwrap();
    assert_policy_denies(&kbs.guest(), PATH).await;
}

#[tokio::test]
async fn missing_resource_is_404() {
    let env = KbsEnv::new();
    let kbs = env.start();
    seed(&env, &kbs, PATH, b"x").await;
    let err = kbs
        .guest()
        .get_resource("default/test/absent")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn bearer_token_flow_with_an_rsa_key_uses_rsa_oaep_256() {
    let env = KbsEnv::new();
    let kbs = env.start();
    seed(&env, &kbs, PATH, b"token flow secret").await;
    let key = TeeKeyPair::generate_rsa(2048).unwrap();
    let pem = key.to_pem().unwrap();
    let token = kbs.guest_with_key(key).attest().await.unwrap();

    // a different client (no session) holding the same key reads with the token alone
    let reader = kbs.guest_with_key(TeeKeyPair::from_pem(&pem).unwrap());
    let got = reader.get_resource_with_token(PATH, &token).await.unwrap();
    assert_eq!(got.as_slice(), b"token flow secret");

    let answer = get_with_bearer(&kbs, &token).await;
    assert_eq!(answer.status(), 200);
    let jwe: Response = answer.json().await.unwrap();
    assert_eq!(jwe.protected.alg, "RSA-OAEP-256");
    assert_eq!(jwe.protected.enc, "A256GCM");
    let plain = TeeKeyPair::from_pem(&pem).unwrap().decrypt(&jwe).unwrap();
    assert_eq!(plain.as_slice(), b"token flow secret");
}

#[tokio::test]
async fn ec_p521_key_works() {
    let env = KbsEnv::new();
    let kbs = env.start();
    seed(&env, &kbs, PATH, b"p521 secret").await;
    let key = TeeKeyPair::generate_ec_p521().unwrap();
    let pem = key.to_pem().unwrap();
    let client = kbs.guest_with_key(key);
    assert_eq!(
        client.get_resource(PATH).await.unwrap().as_slice(),
        b"p521 secret"
    );
    let token = client.attest().await.unwrap();
    let answer = get_with_bearer(&kbs, &token).await;
    let jwe: Response = answer.json().await.unwrap();
    assert_eq!(jwe.protected.alg, "ECDH-ES+A256KW");
    assert_eq!(jwe.protected.other_fields["epk"]["crv"], "P-521");
    let plain = TeeKeyPair::from_pem(&pem).unwrap().decrypt(&jwe).unwrap();
    assert_eq!(plain.as_slice(), b"p521 secret");
}

#[tokio::test]
async fn a_token_bound_to_another_key_cannot_be_decrypted_by_the_reader() {
    let env = KbsEnv::new();
    let kbs = env.start();
    seed(&env, &kbs, PATH, b"bound").await;
    let token = kbs.guest().attest().await.unwrap();
    // the KBS encrypts to the key in the token, not to whoever presents it
    let thief = kbs.guest();
    let err = thief
        .get_resource_with_token(PATH, &token)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Jose(_)), "{err:?}");
}
