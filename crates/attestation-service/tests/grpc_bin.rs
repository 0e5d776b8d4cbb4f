#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real `grpc-as` binary: started on port 0 with a config file, it prints the bound
//! address, serves gRPC and the JWKS on it, and optionally TLS.

mod common;

use std::path::Path;
use std::process::Command;

use attestation_service::grpc::listen::ServerConfig;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::process::Running;
use protos::attestation::attestation_service_client::AttestationServiceClient;
use protos::attestation::individual_attestation_request::RuntimeData;
use protos::attestation::{AttestationRequest, IndividualAttestationRequest};
use protos::reference::reference_value_provider_service_client::ReferenceValueProviderServiceClient;
use protos::reference::{ReferenceValueQueryRequest, ReferenceValueRegisterRequest};
use serde_json::{Value, json};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const SIGNER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/signer");

/// Starts `grpc-as` with `args` and waits for its `grpc-as listening on <addr>` line.
fn start(args: &[&str]) -> Running {
    Running::start(env!("CARGO_BIN_EXE_grpc-as"), "grpc-as", args)
}

fn write_config(dir: &Path) -> String {
    let path = dir.join("as-config.json");
    std::fs::write(
        &path,
        json!({
            "work_dir": "/ignored",
            "storage_backend": {
                "storage_type": "LocalFs",
                "backends": {"local_fs": {"dir_path": dir.join("storage")}}
            },
            "rvps_config": {"type": "BuiltIn"},
            "attestation_token_broker": {"duration_min": 7, "issuer_name": "bin-test"}
        })
        .to_string(),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn sample_request(runtime_data: &Value) -> IndividualAttestationRequest {
    let digest =
        jose::jcs::runtime_data_digest(runtime_data, kbs_types::HashAlgorithm::Sha384).unwrap();
    let evidence = json!({"svn": "1", "report_data": STANDARD.encode(digest)});
    IndividualAttestationRequest {
        tee: "sample".into(),
        evidence: URL_SAFE_NO_PAD.encode(evidence.to_string()),
        runtime_data: Some(RuntimeData::StructuredRuntimeData(runtime_data.to_string())),
        init_data: None,
        runtime_data_hash_algorithm: String::new(),
    }
}

#[tokio::test]
async fn binary_serves_grpc_and_jwks_on_the_printed_port() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let server = start(&["-c", &config, "-s", "127.0.0.1:0"]);
    assert_ne!(server.addr.port(), 0);
    let url = format!("http://{}", server.addr);

    let channel = tonic::transport::Channel::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let status = health
        .check(HealthCheckRequest {
            service: "attestation.AttestationService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.status(), ServingStatus::Serving);

    let mut rvps = ReferenceValueProviderServiceClient::connect(url.clone())
        .await
        .unwrap();
    let message = json!({
        "version": "0.1.0",
        "type": "sample",
        "payload": STANDARD.encode(json!({"svn": ["1"]}).to_string())
    });
    rvps.register_reference_value(ReferenceValueRegisterRequest {
        message: message.to_string(),
    })
    .await
    .unwrap();
    // The reference value went to the configured LocalFs storage.
    assert!(dir.path().join("storage/reference_value/svn").exists());
    let svn = rvps
        .query_reference_value(ReferenceValueQueryRequest {
            reference_value_id: "svn".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .reference_value_results;
    assert_eq!(svn.as_deref(), Some(r#"["1"]"#));

    let runtime_data = json!({"nonce": "bm9uY2U", "tee-pubkey": {"kty": "EC"}});
    let token = AttestationServiceClient::connect(url.clone())
        .await
        .unwrap()
        .attestation_evaluate(AttestationRequest {
            verification_requests: vec![sample_request(&runtime_data)],
            policy_ids: vec![],
        })
        .await
        .unwrap()
        .into_inner()
        .attestation_token;

    let jwks: Value = reqwest::get(format!("{url}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk: jose::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let key = jose::VerifyingKey::from_jwk(&jwk).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let claims = jose::jwt::verify(&token, &key, now).unwrap();
    // The config file's broker settings are in force.
    assert_eq!(claims["iss"], "bin-test");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        7 * 60
    );
}

#[tokio::test]
async fn binary_serves_tls_with_the_given_certificate() {
    let cert = format!("{SIGNER}/token-chain.pem");
    let key = format!("{SIGNER}/token-key-pkcs8.pem");
    let server = start(&["-s", "127.0.0.1:0", "-t", &cert, "-k", &key]);
    // The test chain is not a server certificate for 127.0.0.1; what matters here is that
    // the port speaks TLS with it.
    let client = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let response = client
        .get(format!("https://{}/.well-known/jwks.json", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let jwks: Value = response.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert!(
        reqwest::get(format!("http://{}/.well-known/jwks.json", server.addr))
            .await
            .is_err()
    );
}

#[test]
fn tls_options_come_in_pairs() {
    for args in [
        &["-t", "/cert.pem"][..],
        &["-k", "/key.pem"][..],
        &["--https-pubkey-cert", "/cert.pem"][..],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_grpc-as"))
            .args(["-s", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--https-"), "{stderr}");
    }
}

#[test]
fn a_bad_config_file_fails_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("as.json");
    std::fs::write(&path, r#"{"attestation_token_broker": {"duration": 5}}"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_grpc-as"))
        .args(["-c", path.to_str().unwrap(), "-s", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("duration"), "{stderr}");
}

#[test]
fn shipped_example_config_loads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/as-config.json");
    let config = ServerConfig::from_file(Path::new(path)).unwrap();
    assert_eq!(config.storage.storage_type, storage::StorageType::LocalFs);
    assert_eq!(config.attestation.attestation_token_broker.duration_min, 5);
}

#[tokio::test]
async fn a_grpc_as_can_use_another_grpc_as_as_its_remote_rvps() {
    // The backing AS serves the reference-value service on its port; the front AS is
    // configured with `rvps_config = GrpcRemote` pointing at it.
    let backing = start(&["-s", "127.0.0.1:0"]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("front.json");
    std::fs::write(
        &config,
        json!({"rvps_config": {"type": "GrpcRemote", "address": backing.addr.to_string()}})
            .to_string(),
    )
    .unwrap();
    let front = start(&["-c", config.to_str().unwrap(), "-s", "127.0.0.1:0"]);

    let message = json!({
        "version": "0.1.0",
        "type": "sample",
        "payload": STANDARD.encode(json!({"launch_digest": ["abcde"]}).to_string())
    });
    ReferenceValueProviderServiceClient::connect(format!("http://{}", front.addr))
        .await
        .unwrap()
        .register_reference_value(ReferenceValueRegisterRequest {
            message: message.to_string(),
        })
        .await
        .unwrap();
    let stored = ReferenceValueProviderServiceClient::connect(format!("http://{}", backing.addr))
        .await
        .unwrap()
        .query_reference_value(ReferenceValueQueryRequest {
            reference_value_id: "launch_digest".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .reference_value_results;
    assert_eq!(stored.as_deref(), Some(r#"["abcde"]"#));
}
