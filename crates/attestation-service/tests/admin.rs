#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Start-up, policy administration and reference values through the public API.

mod common;

use attestation_service::{AsConfig, AttestationService, Error, RvpsConfig, TokenSigner};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use common::*;
use serde_json::json;
use storage::{StorageConfig, StorageProvider, StorageType};

const POLICY: &str = "package policy\n\nimport rego.v1\n\ntrust_claims := {\"hardware\": 2}\n";

fn local_fs_storage(dir: &std::path::Path) -> StorageProvider {
    let config: StorageConfig = serde_json::from_value(json!({
        "storage_type": "LocalFs",
        "backends": {"local_fs": {"dir_path": dir}}
    }))
    .unwrap();
    StorageProvider::new(&config).unwrap()
}

#[tokio::test]
async fn defaults_are_seeded_at_start_up() {
    let service = service(AsConfig::default()).await;
    assert_eq!(
        service.list_policies().await.unwrap(),
        [
            "default_cpu",
            "default_gpu",
            "default_ppcie",
            "default_switch"
        ]
    );
    let cpu = service.get_policy("default_cpu").await.unwrap();
    assert!(cpu.contains("package policy"));
    assert!(cpu.contains("query_reference_value(\"launch_digest\")"));
}

#[tokio::test]
async fn customised_default_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let storage = local_fs_storage(dir.path());
    let service = AttestationService::new(AsConfig::default(), &storage)
        .await
        .unwrap();
    service
        .set_policy("default_cpu", &URL_SAFE_NO_PAD.encode(POLICY))
        .await
        .unwrap();
    drop(service);

    let storage = local_fs_storage(dir.path());
    let service = AttestationService::new(AsConfig::default(), &storage)
        .await
        .unwrap();
    assert_eq!(service.get_policy("default_cpu").await.unwrap(), POLICY);
    // Keys follow the upstream layout: `<id>.rego` in `attestation_service_policy`.
    assert!(
        dir.path()
            .join("attestation_service_policy/default_cpu.rego")
            .exists()
    );
}

#[tokio::test]
async fn set_get_list_and_delete_a_policy() {
    let service = service(AsConfig::default()).await;
    service
        .set_policy("mine_cpu", &URL_SAFE_NO_PAD.encode(POLICY))
        .await
        .unwrap();
    assert_eq!(service.get_policy("mine_cpu").await.unwrap(), POLICY);
    assert!(
        service
            .list_policies()
            .await
            .unwrap()
            .contains(&"mine_cpu".to_owned())
    );

    let replacement = POLICY.replace('2', "3");
    service
        .set_policy("mine_cpu", &URL_SAFE_NO_PAD.encode(&replacement))
        .await
        .unwrap();
    assert_eq!(service.get_policy("mine_cpu").await.unwrap(), replacement);

    assert!(service.delete_policy("mine_cpu").await.unwrap());
    assert!(!service.delete_policy("mine_cpu").await.unwrap());
    assert!(matches!(
        service.get_policy("mine_cpu").await,
        Err(Error::Policy(policy::Error::PolicyNotFound { .. }))
    ));
}

#[tokio::test]
async fn deleting_a_default_restores_the_shipped_text() {
    let service = service(AsConfig::default()).await;
    let shipped = service.get_policy("default_cpu").await.unwrap();
    service
        .set_policy("default_cpu", &URL_SAFE_NO_PAD.encode(POLICY))
        .await
        .unwrap();
    assert!(service.delete_policy("default_cpu").await.unwrap());
    assert_eq!(service.get_policy("default_cpu").await.unwrap(), shipped);
    // The restored policy is the one evaluated, not a stale compiled copy.
    let token = service
        .evaluate(vec![sample_request(runtime_data(""))], &default_policy())
        .await
        .unwrap();
    assert_eq!(
        payload(&token)["submods"]["cpu0"]["ear.status"],
        "contraindicated"
    );
}

#[tokio::test]
async fn policy_upload_must_be_unpadded_base64url() {
    let service = service(AsConfig::default()).await;
    // A text whose encoding needs padding and whose standard encoding has `+` or `/`.
    let text = (0..)
        .map(|n| format!("{POLICY}# {}\n", "?".repeat(n)))
        .find(|text| {
            let standard = STANDARD_NO_PAD.encode(text);
            text.len() % 3 != 0 && (standard.contains('/') || standard.contains('+'))
        })
        .unwrap();
    for encoded in [
        URL_SAFE.encode(&text),
        STANDARD.encode(&text),
        STANDARD_NO_PAD.encode(&text),
        "not base64!".into(),
    ] {
        let err = service.set_policy("p_cpu", &encoded).await.unwrap_err();
        assert!(matches!(err, Error::PolicyEncoding), "{encoded}: {err}");
    }
    service
        .set_policy("p_cpu", &URL_SAFE_NO_PAD.encode(&text))
        .await
        .unwrap();
    assert_eq!(service.get_policy("p_cpu").await.unwrap(), text);
}

#[tokio::test]
async fn policy_upload_must_be_utf8_rego_that_compiles() {
    let service = service(AsConfig::default()).await;
    let err = service
        .set_policy("p_cpu", &URL_SAFE_NO_PAD.encode([0xff, 0xfe]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PolicyNotUtf8), "{err}");

    let err = service
        .set_policy(
            "p_cpu",
            &URL_SAFE_NO_PAD.encode("package policy\n\nallow if {"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Policy(policy::Error::Compile { .. })),
        "{err}"
    );
    assert!(
        !service
            .list_policies()
            .await
            .unwrap()
            .contains(&"p_cpu".to_owned())
    );
}

#[tokio::test]
async fn reference_values_register_and_query() {
    let service = service(AsConfig::default()).await;
    let names = service
        .register_reference_value(&sample_message(json!({"svn": ["1"], "major_version": 1})))
        .await
        .unwrap();
    assert_eq!(names.len(), 2);
    assert_eq!(
        service.query_reference_value("svn").await.unwrap(),
        Some(json!(["1"]))
    );
    assert_eq!(
        service
            .query_reference_value("major_version")
            .await
            .unwrap(),
        Some(json!(1))
    );
    assert_eq!(service.query_reference_value("nope").await.unwrap(), None);
    let err = service
        .register_reference_value(r#"{"version":"0.1.0","type":"nope","payload":""}"#)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Rvps(_)), "{err}");
}

#[tokio::test]
async fn rvps_storage_type_overrides_the_as_storage_type() {
    let dir = tempfile::tempdir().unwrap();
    let storage = local_fs_storage(dir.path());
    let config = AsConfig {
        rvps_config: RvpsConfig::BuiltIn {
            storage_type: Some(StorageType::Memory),
            extractors: None,
        },
        ..AsConfig::default()
    };
    let service = AttestationService::new(config, &storage).await.unwrap();
    service
        .register_reference_value(&sample_message(json!({"svn": ["1"]})))
        .await
        .unwrap();
    assert!(dir.path().join("attestation_service_policy").exists());
    assert!(!dir.path().join("reference_value/svn").exists());

    let service = AttestationService::new(AsConfig::default(), &storage)
        .await
        .unwrap();
    service
        .register_reference_value(&sample_message(json!({"svn": ["1"]})))
        .await
        .unwrap();
    assert!(dir.path().join("reference_value/svn").exists());
}

#[tokio::test]
async fn remote_rvps_that_does_not_answer_is_refused_at_start_up() {
    // Bind then drop, so nothing listens on the port.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let storage = StorageProvider::new(&StorageConfig::default()).unwrap();
    let config = AsConfig {
        rvps_config: RvpsConfig::GrpcRemote {
            address: address.clone(),
        },
        ..AsConfig::default()
    };
    let err = AttestationService::new(config, &storage).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::RemoteRvps {
                source: rvps::Error::Unreachable { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&address), "{err}");
}

#[tokio::test]
async fn invalid_broker_settings_are_refused_at_start_up() {
    let storage = StorageProvider::new(&StorageConfig::default()).unwrap();
    let mut config = AsConfig::default();
    config.attestation_token_broker.duration_min = 0;
    let err = AttestationService::new(config, &storage).await.unwrap_err();
    assert!(matches!(err, Error::ZeroTokenDuration), "{err}");

    let mut config = AsConfig::default();
    config.attestation_token_broker.build_name = String::new();
    let err = AttestationService::new(config, &storage).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::EmptyBrokerField {
                field: "build_name"
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn explicit_signer_is_used_and_config_signer_ignored() {
    let storage = StorageProvider::new(&StorageConfig::default()).unwrap();
    let key = jose::SigningKey::generate_es256().unwrap();
    let expected = key.public_jwk().unwrap();
    let mut config = AsConfig::default();
    config.attestation_token_broker.signer = Some(attestation_service::SignerConfig {
        key_path: "/nonexistent/key.pem".into(),
        cert_path: None,
        cert_url: None,
    });
    let service = AttestationService::with_signer(
        config,
        &storage,
        TokenSigner::new(key, &[], None).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(service.token_verifying_jwk(), expected);
}
