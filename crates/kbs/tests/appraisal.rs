//! What the attestation service puts in the token decides what the resource policy releases:
//! reference values, attestation policies and init-data, end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::rego::{allow_only_if, trust_vector_policy};
use common::{Kbs, KbsEnv, assert_policy_denies, set_svn, store_secret};
use kbs_client::{KbsClient, policies};
use serde_json::{Value, json};

const PATH: &str = "default/test/secret";
const SECRET: &[u8] = b"appraised secret";

async fn setup(resource_policy: &str) -> (KbsEnv, Kbs, KbsClient) {
    let env = KbsEnv::new();
    let kbs = env.start();
    let admin = env.admin_client(&kbs);
    store_secret(&admin, PATH, SECRET, resource_policy)
        .await
        .unwrap();
    (env, kbs, admin)
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn cpu0_status(token: &str) -> String {
    claims(token)["submods"]["cpu0"]["ear.status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn reference_values_make_the_sample_tee_affirming() {
    let (_env, kbs, admin) = setup(policies::AFFIRMING).await;
    // no reference values: the default CPU policy cannot affirm anything
    let token = kbs.guest().attest().await.unwrap();
    assert_ne!(cpu0_status(&token), "affirming");
    assert_policy_denies(&kbs.guest(), PATH).await;

    // the sample verifier reports svn "1", launch_digest "abcde", platform_version 1.4
    set_svn(&admin, &["1"]).await;
    admin
        .set_sample_reference_value("launch_digest", json!(["abcde"]))
        .await
        .unwrap();
    admin
        .set_sample_reference_value("major_version", json!(1))
        .await
        .unwrap();
    admin
        .set_sample_reference_value("minimum_minor_version", json!(0))
        .await
        .unwrap();
    let token = kbs.guest().attest().await.unwrap();
    assert_eq!(cpu0_status(&token), "affirming", "{:#}", claims(&token));
    let got = kbs.guest().get_resource(PATH).await.unwrap();
    assert_eq!(got.as_slice(), SECRET);

    // a wrong reference value takes it away again
    set_svn(&admin, &["2"]).await;
    assert_policy_denies(&kbs.guest(), PATH).await;
}

#[tokio::test]
async fn a_custom_attestation_policy_changes_the_appraisal() {
    let (_env, kbs, admin) = setup(policies::AFFIRMING).await;
    // test only: affirm every sample TEE whatever its claims
    let lenient = trust_vector_policy(
        "executables := 3 if input.sample\nhardware := 2 if input.sample\n\
         configuration := 2 if input.sample\n",
    );
    let original = admin.get_attestation_policy("default_cpu").await.unwrap();
    admin
        .set_attestation_policy("default_cpu", &lenient)
        .await
        .unwrap();
    assert_eq!(
        admin.get_attestation_policy("default_cpu").await.unwrap(),
        lenient
    );
    let got = kbs
        .guest()
        .get_resource(PATH)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", kbs.stderr()));
    assert_eq!(got.as_slice(), SECRET);

    admin
        .set_attestation_policy("default_cpu", &original)
        .await
        .unwrap();
    assert_policy_denies(&kbs.guest(), PATH).await;
}

#[tokio::test]
async fn an_attestation_policy_that_does_not_compile_is_refused_and_changes_nothing() {
    let (env, _kbs, admin) = setup(policies::ALLOW_ALL).await;
    let before = env.snapshot();
    let err = admin
        .set_attestation_policy("default_cpu", "package policy\nthis is not rego {")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert_eq!(err.problem().unwrap().variant(), Some("AttestationError"));
    let err = admin
        .set_resource_policy("package policy\nallow if {")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    assert_eq!(err.problem().unwrap().variant(), Some("PolicyEngineError"));
    assert_eq!(env.snapshot(), before);
}

const INIT_DATA: &str = r#"version = "0.1.0"
algorithm = "sha256"

[data]
"note.txt" = "hello from init-data"
"#;

#[tokio::test]
async fn init_data_is_hashed_into_the_token_and_usable_by_the_resource_policy() {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, INIT_DATA.as_bytes());
    let expected = STANDARD.encode(digest.as_ref());
    let policy = allow_only_if(&[
        r#"evidence := input.submods.cpu0["ear.veraison.annotated-evidence"]"#,
        &format!(r#"evidence.init_data == "{expected}""#),
        r#"evidence.init_data_claims["note.txt"] == "hello from init-data""#,
    ]);
    let (_env, kbs, _admin) = setup(&policy).await;
    let with_init_data = kbs
        .client_builder()
        .init_data_toml(INIT_DATA)
        .build()
        .unwrap();
    let token = with_init_data.attest().await.unwrap();
    let evidence = &claims(&token)["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(evidence["init_data"], expected, "{evidence:#}");
    let got = with_init_data.get_resource(PATH).await.unwrap();
    assert_eq!(got.as_slice(), SECRET);

    // without init-data, or with different init-data, the same policy refuses
    assert_policy_denies(&kbs.guest(), PATH).await;
    let other = kbs
        .client_builder()
        .init_data_toml(INIT_DATA.replace("hello", "bye"))
        .build()
        .unwrap();
    assert_policy_denies(&other, PATH).await;
}

#[tokio::test]
async fn the_token_carries_the_runtime_data_and_tee_public_key() {
    let (_env, kbs, _admin) = setup(policies::ALLOW_ALL).await;
    let client = kbs.guest();
    let token = client.attest().await.unwrap();
    let header = kbs_client::jose::jwt::Header::decode(&token).unwrap();
    assert_eq!(header.alg, "ES256");
    let claims = claims(&token);
    let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(evidence["sample"]["svn"], "1", "{claims:#}");
    assert_eq!(
        evidence["runtime_data_claims"]["tee-pubkey"],
        serde_json::to_value(client.tee_key().public_key().unwrap()).unwrap()
    );
    assert!(claims["exp"].as_i64().unwrap() > common::now());
}

#[tokio::test]
async fn sample_device_evidence_becomes_its_own_submodule() {
    let policy = allow_only_if(&[
        r#"input.submods.gpu0["ear.veraison.annotated-evidence"].sampledevice.svn == "2""#,
    ]);
    let (_env, kbs, _admin) = setup(&policy).await;
    let with_device = kbs
        .client_builder()
        .attester(std::sync::Arc::new(
            kbs_client::SampleAttester::new().with_sample_device(true),
        ))
        .build()
        .unwrap();
    let token = with_device
        .attest()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", kbs.stderr()));
    let claims = claims(&token);
    assert!(claims["submods"]["gpu0"].is_object(), "{claims:#}");
    let got = with_device.get_resource(PATH).await.unwrap();
    assert_eq!(got.as_slice(), SECRET);
    assert_policy_denies(&kbs.guest(), PATH).await;
}

#[tokio::test]
async fn attestation_policies_can_be_listed_read_and_deleted() {
    let (_env, _kbs, admin) = setup(policies::ALLOW_ALL).await;
    let text = "package policy\nimport rego.v1\n\ndefault executables := 33\n";
    admin.set_attestation_policy("e2e_tmp", text).await.unwrap();
    let ids = admin.list_attestation_policies().await.unwrap();
    assert!(ids.contains(&"e2e_tmp".to_owned()), "{ids:?}");
    assert!(ids.contains(&"default_cpu".to_owned()), "{ids:?}");
    assert_eq!(admin.get_attestation_policy("e2e_tmp").await.unwrap(), text);
    admin.delete_attestation_policy("e2e_tmp").await.unwrap();
    let err = admin.get_attestation_policy("e2e_tmp").await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    assert!(
        !admin
            .list_attestation_policies()
            .await
            .unwrap()
            .contains(&"e2e_tmp".to_owned())
    );
}
