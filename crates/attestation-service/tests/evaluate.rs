#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Evidence to token through the public API, with the sample TEEs.

mod common;

use attestation_service::{
    AsConfig, Error, InitData, RuntimeData, SignerConfig, VerificationRequest,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use jose::VerifyingKey;
use kbs_types::{HashAlgorithm, Tee};
use serde_json::{Value, json};

#[tokio::test]
async fn sample_token_has_the_exact_upstream_layout() {
    let service = service(AsConfig::default()).await;
    let runtime = runtime_data("");
    let report_data = sample_report_data(&runtime);
    let token = service
        .evaluate(vec![sample_request(runtime)], &default_policy())
        .await
        .unwrap();

    let expected = [
        r#"{"eat_profile":"tag:github.com,2024:confidential-containers/Trustee","#,
        r#""iat":1760426134,"#,
        r#""ear.verifier-id":{"developer":"https://confidentialcontainers.org","#,
        r#""build":"attestation-service 0.1.0"},"#,
        r#""submods":{"cpu0":{"#,
        r#""ear.status":"contraindicated","#,
        r#""ear.trustworthiness-vector":{"instance-identity":0,"configuration":2,"#,
        r#""executables":33,"file-system":0,"hardware":97,"runtime-opaque":0,"#,
        r#""storage-opaque":0,"sourced-data":0},"#,
        r#""ear.appraisal-policy-id":"default","#,
        r#""ear.veraison.annotated-evidence":{"#,
        &format!(r#""report_data":"{report_data}","#),
        r#""runtime_data_claims":{"additional-evidence":"","nonce":"bm9uY2U=","#,
        r#""tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256","kty":"EC","#,
        r#""x":"gHvKeMq6_vOOomNvX5K4D1RaJ79IdxTh7UAIwy4fBYI","#,
        r#""y":"AJ6cSJ0T4pKnJzbTrURIt2hn2y0UFhGUdwO7qIlP4Ds"}},"#,
        r#""sample":{"debug":false,"launch_digest":"abcde","#,
        r#""platform_version":{"major":1,"minor":4},"svn":"1"}},"#,
        r#""ear.trustee.identifiers":{"validated":{}}}},"#,
        r#""exp":1760426434,"iss":"CoCo-Attestation-Service"}"#,
    ]
    .concat();
    assert_eq!(payload_text(&token), expected);

    let claims = payload(&token);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(
        claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["runtime_data_claims"]["tee-pubkey"]
            ["kty"],
        "EC"
    );
}

#[tokio::test]
async fn header_carries_the_signer_jwk_and_nothing_else() {
    let service = service(AsConfig::default()).await;
    let token = service
        .evaluate(vec![sample_request(runtime_data(""))], &default_policy())
        .await
        .unwrap();
    let header_text = String::from_utf8(
        URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let jwk = service.token_verifying_jwk();
    assert_eq!(
        header_text,
        format!(
            r#"{{"typ":"JWT","alg":"ES256","jwk":{{"alg":"ES256","kty":"EC","crv":"P-256","x":"{}","y":"{}"}}}}"#,
            jwk.x.unwrap(),
            jwk.y.unwrap()
        )
    );
}

#[tokio::test]
async fn token_verifies_with_the_service_jwk() {
    let service = service(AsConfig::default()).await;
    let token = service
        .evaluate(vec![sample_request(runtime_data(""))], &default_policy())
        .await
        .unwrap();
    let key = VerifyingKey::from_jwk(&service.token_verifying_jwk()).unwrap();
    let now = u64::try_from(IAT).unwrap() + 10;
    let claims = jose::jwt::verify(&token, &key, now).unwrap();
    assert_eq!(claims["iss"], "CoCo-Attestation-Service");
    // The convenience key is the same key.
    jose::jwt::verify(&token, &service.token_verifying_key(), now).unwrap();
    // And the token expires after duration_min (plus the verifier's leeway).
    assert!(jose::jwt::verify(&token, &key, now + 300 + 120).is_err());
    // Another service's key does not verify it.
    let other = common::service(AsConfig::default()).await;
    assert!(jose::jwt::verify(&token, &other.token_verifying_key(), now).is_err());
}

#[tokio::test]
async fn jwks_holds_the_header_key() {
    let service = service(AsConfig::default()).await;
    let jwks = serde_json::to_value(service.jwks()).unwrap();
    assert_eq!(
        jwks,
        json!({"keys": [serde_json::to_value(service.token_verifying_jwk()).unwrap()]})
    );
}

#[tokio::test]
async fn sample_is_affirming_with_its_reference_values() {
    let service = service(AsConfig::default()).await;
    register_sample_reference_values(&service).await;
    let token = service
        .evaluate(vec![sample_request(runtime_data(""))], &default_policy())
        .await
        .unwrap();
    let cpu0 = &payload(&token)["submods"]["cpu0"];
    assert_eq!(cpu0["ear.status"], "affirming");
    assert_eq!(
        cpu0["ear.trustworthiness-vector"],
        json!({"instance-identity":0,"configuration":2,"executables":3,"file-system":0,
               "hardware":2,"runtime-opaque":0,"storage-opaque":0,"sourced-data":0})
    );
}

#[tokio::test]
async fn custom_default_cpu_can_query_reference_values() {
    let service = service(AsConfig::default()).await;
    let policy = r#"package policy

import rego.v1

default hardware := 97

hardware := 2 if input.sample.svn in query_reference_value("svn")

trust_claims := {"hardware": hardware}
"#;
    service
        .set_policy("default_cpu", &URL_SAFE_NO_PAD.encode(policy))
        .await
        .unwrap();
    let token = service
        .evaluate(vec![sample_request(runtime_data(""))], &default_policy())
        .await
        .unwrap();
    let cpu0 = &payload(&token)["submods"]["cpu0"];
    assert_eq!(cpu0["ear.status"], "contraindicated");
    assert_eq!(cpu0["ear.trustworthiness-vector"], json!({"hardware": 97}));
    // A policy without an `extensions` rule adds no extension member.
    assert!(cpu0.get("ear.trustee.identifiers").is_none());

    service
        .register_reference_value(&sample_message(json!({"svn": ["1"]})))
        .await
        .unwrap();
    let token = service
        .evaluate(vec![sample_request(runtime_data(""))], &default_policy())
        .await
        .unwrap();
    let cpu0 = &payload(&token)["submods"]["cpu0"];
    assert_eq!(cpu0["ear.status"], "affirming");
    assert_eq!(cpu0["ear.trustworthiness-vector"], json!({"hardware": 2}));
}

#[tokio::test]
async fn policy_without_trust_claims_appraises_as_none() {
    let service = service(AsConfig::default()).await;
    let policy = "package policy\n\nimport rego.v1\n\nallow := true\n";
    service
        .set_policy("empty_cpu", &URL_SAFE_NO_PAD.encode(policy))
        .await
        .unwrap();
    let token = service
        .evaluate(
            vec![sample_request(runtime_data(""))],
            &["empty".to_owned()],
        )
        .await
        .unwrap();
    let cpu0 = &payload(&token)["submods"]["cpu0"];
    assert_eq!(cpu0["ear.status"], "none");
    assert_eq!(cpu0["ear.appraisal-policy-id"], "empty");
    assert_eq!(
        cpu0["ear.trustworthiness-vector"],
        json!({"instance-identity":0,"configuration":0,"executables":0,"file-system":0,
               "hardware":0,"runtime-opaque":0,"storage-opaque":0,"sourced-data":0})
    );
}

#[tokio::test]
async fn policy_that_leaves_trust_claims_undefined_fails() {
    let service = service(AsConfig::default()).await;
    let policy =
        "package policy\n\nimport rego.v1\n\ntrust_claims := {\"hardware\": 2} if input.tdx\n";
    service
        .set_policy("undefined_cpu", &URL_SAFE_NO_PAD.encode(policy))
        .await
        .unwrap();
    let err = service
        .evaluate(
            vec![sample_request(runtime_data(""))],
            &["undefined".to_owned()],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TrustClaimsUndefined { .. }), "{err}");
}

#[tokio::test]
async fn wrong_report_data_fails() {
    let service = service(AsConfig::default()).await;
    let mut request = sample_request(runtime_data(""));
    // The evidence was made for other runtime data (another nonce).
    request.runtime_data = Some(RuntimeData::Structured(json!({"nonce": "other"})));
    let err = service
        .evaluate(vec![request], &default_policy())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verifier {
                tee: Tee::Sample,
                source: verifier::Error::Mismatch {
                    field: "report_data"
                }
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn raw_runtime_data_is_compared_unhashed() {
    let service = service(AsConfig::default()).await;
    let request = VerificationRequest {
        tee: Tee::Sample,
        evidence: json!({"svn": "1", "report_data": STANDARD.encode(b"raw bytes")}),
        runtime_data: Some(RuntimeData::Raw(b"raw bytes".to_vec())),
        runtime_data_hash_algorithm: HashAlgorithm::Sha384,
        init_data: None,
    };
    let token = service
        .evaluate(vec![request], &default_policy())
        .await
        .unwrap();
    let evidence = &payload(&token)["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(evidence["runtime_data_claims"], Value::Null);
    assert_eq!(evidence["report_data"], STANDARD.encode(b"raw bytes"));
}

#[tokio::test]
async fn sample_device_is_appraised_as_gpu0_by_default_gpu() {
    let service = service(AsConfig::default()).await;
    register_sample_reference_values(&service).await;
    let device_evidence = json!({"sampledevice": {"svn": "2"}});
    let device_runtime = json!({"tee-pubkey": runtime_data("")["tee-pubkey"], "nonce": "bm9uY2U="});
    let primary = sample_request(runtime_data(&device_evidence.to_string()));
    let device = VerificationRequest {
        tee: Tee::SampleDevice,
        evidence: json!({"svn": "2", "report_data": sample_report_data(&device_runtime)}),
        runtime_data: Some(RuntimeData::Structured(device_runtime)),
        runtime_data_hash_algorithm: HashAlgorithm::Sha384,
        init_data: None,
    };
    let token = service
        .evaluate(vec![primary, device], &default_policy())
        .await
        .unwrap();
    let submods = &payload(&token)["submods"];
    assert_eq!(submods["cpu0"]["ear.status"], "affirming");
    let gpu0 = &submods["gpu0"];
    assert_eq!(gpu0["ear.status"], "contraindicated");
    assert_eq!(gpu0["ear.appraisal-policy-id"], "default");
    assert_eq!(
        gpu0["ear.trustworthiness-vector"],
        json!({"instance-identity":0,"configuration":36,"executables":33,"file-system":0,
               "hardware":97,"runtime-opaque":0,"storage-opaque":0,"sourced-data":0})
    );
    let evidence = &gpu0["ear.veraison.annotated-evidence"];
    assert_eq!(evidence["sampledevice"], json!({"svn": "2"}));
    assert_eq!(evidence["runtime_data_claims"]["nonce"], "bm9uY2U=");
    assert!(gpu0.get("ear.trustee.identifiers").is_none());
}

#[tokio::test]
async fn devices_are_numbered_per_class() {
    let service = service(AsConfig::default()).await;
    let device = |svn: &str| VerificationRequest {
        tee: Tee::SampleDevice,
        evidence: json!({"svn": svn}),
        runtime_data: None,
        runtime_data_hash_algorithm: HashAlgorithm::Sha384,
        init_data: None,
    };
    let token = service
        .evaluate(
            vec![sample_request(runtime_data("")), device("2"), device("3")],
            &default_policy(),
        )
        .await
        .unwrap();
    let submods = payload(&token)["submods"].clone();
    let names: Vec<&String> = submods.as_object().unwrap().keys().collect();
    assert_eq!(names, ["cpu0", "gpu0", "gpu1"]);
    assert_eq!(
        submods["gpu1"]["ear.veraison.annotated-evidence"]["sampledevice"]["svn"],
        "3"
    );
}

const INIT_DATA: &str = r#"version = "0.1.0"
algorithm = "sha256"

[data]
"aa.toml" = '''
[token_configs.kbs]
url = "http://127.0.0.1:8080"
'''
"cdh.toml" = '''
[kbc]
name = "cc_kbc"
url = "http://127.0.0.1:8080"

[image]
extra_root_certificates = ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"]
'''
"policy.rego" = '''
package agent_policy

import rego.v1

default AllowRequestsFailingPolicy := false

policy_data := {
  "containers": [
    {"OCI": {"Annotations": {"io.kubernetes.cri.container-type": "sandbox"},
             "Process": {"User": {"UID": 65535}, "Args": ["/pause"]}}},
    {"OCI": {"Annotations": {"io.kubernetes.cri.image-name": "bitnami/nginx:latest"},
             "Process": {"User": {"UID": 1001}, "Args": ["/opt/bitnami/scripts/nginx/run.sh"]}}}
  ]
}
'''
"#;

#[tokio::test]
async fn init_data_flows_into_claims_and_identifiers() {
    let service = service(AsConfig::default()).await;
    let mut request = sample_request(runtime_data(""));
    request.init_data = Some(InitData::Toml(INIT_DATA.to_owned()));
    let token = service
        .evaluate(vec![request], &default_policy())
        .await
        .unwrap();
    let cpu0 = &payload(&token)["submods"]["cpu0"];
    let evidence = &cpu0["ear.veraison.annotated-evidence"];
    assert_eq!(
        evidence["init_data"],
        STANDARD.encode(HashAlgorithm::Sha256.digest(INIT_DATA.as_bytes()))
    );
    let init_claims = &evidence["init_data_claims"];
    assert_eq!(
        init_claims["cdh.toml"]["image"]["extra_root_certificates"][0],
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    );
    assert_eq!(
        init_claims["aa.toml"]["token_configs"]["kbs"]["url"],
        "http://127.0.0.1:8080"
    );
    assert_eq!(
        init_claims["agent_policy_claims"]["containers"][1]["OCI"]["Process"]["Args"][0],
        "/opt/bitnami/scripts/nginx/run.sh"
    );
    assert!(init_claims.get("policy.rego").is_none());
    assert_eq!(
        cpu0["ear.trustee.identifiers"],
        json!({"validated": {
            "container_images": ["bitnami/nginx:latest"],
            "container_uids": [65535, 1001]
        }})
    );
}

#[tokio::test]
async fn init_data_digest_is_reported_but_gives_no_claims() {
    let service = service(AsConfig::default()).await;
    let mut request = sample_request(runtime_data(""));
    request.init_data = Some(InitData::Digest(vec![7; 48]));
    let token = service
        .evaluate(vec![request], &default_policy())
        .await
        .unwrap();
    let evidence = &payload(&token)["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(evidence["init_data"], STANDARD.encode([7; 48]));
    assert_eq!(evidence["init_data_claims"], Value::Null);
}

#[tokio::test]
async fn malformed_init_data_fails() {
    let service = service(AsConfig::default()).await;
    let mut request = sample_request(runtime_data(""));
    request.init_data = Some(InitData::Toml(
        "version = \"0.1.0\"\nalgorithm = \"md5\"\n[data]\n".into(),
    ));
    let err = service
        .evaluate(vec![request], &default_policy())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InitData(_)), "{err}");
}

#[tokio::test]
async fn terse_tokens_drop_additional_evidence() {
    let mut config = AsConfig::default();
    config.attestation_token_broker.verbose_token = false;
    let service = service(config).await;
    let token = service
        .evaluate(
            vec![sample_request(runtime_data("{\"sampledevice\":{}}"))],
            &default_policy(),
        )
        .await
        .unwrap();
    let runtime = &payload(&token)["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["runtime_data_claims"];
    assert!(runtime.get("additional-evidence").is_none());
    assert_eq!(runtime["nonce"], "bm9uY2U=");
}

#[tokio::test]
async fn broker_settings_shape_the_token() {
    let mut config = AsConfig::default();
    let broker = &mut config.attestation_token_broker;
    broker.duration_min = 2;
    broker.issuer_name = "my-as".into();
    broker.developer_name = "me".into();
    broker.build_name = "b 1".into();
    broker.profile_name = "tag:example.org,2026:p".into();
    let service = service(config).await;
    let token = service
        .evaluate(vec![sample_request(runtime_data(""))], &default_policy())
        .await
        .unwrap();
    let claims = payload(&token);
    assert_eq!(claims["exp"], IAT + 120);
    assert_eq!(claims["iss"], "my-as");
    assert_eq!(claims["eat_profile"], "tag:example.org,2026:p");
    assert_eq!(
        claims["ear.verifier-id"],
        json!({"developer": "me", "build": "b 1"})
    );
}

#[tokio::test]
async fn policy_ids_must_not_be_empty_and_extras_are_ignored() {
    let service = service(AsConfig::default()).await;
    let err = service
        .evaluate(vec![sample_request(runtime_data(""))], &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoPolicyId), "{err}");

    let token = service
        .evaluate(
            vec![sample_request(runtime_data(""))],
            &["default".to_owned(), "missing".to_owned()],
        )
        .await
        .unwrap();
    assert_eq!(
        payload(&token)["submods"]["cpu0"]["ear.appraisal-policy-id"],
        "default"
    );
}

#[tokio::test]
async fn no_requests_is_an_error() {
    let service = service(AsConfig::default()).await;
    let err = service
        .evaluate(Vec::new(), &default_policy())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoEvidence), "{err}");
}

#[tokio::test]
async fn missing_class_policy_fails() {
    let service = service(AsConfig::default()).await;
    let err = service
        .evaluate(vec![sample_request(runtime_data(""))], &["mine".to_owned()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Policy(policy::Error::PolicyNotFound { id }) if id == "mine_cpu"),
        "{err}"
    );
}

#[tokio::test]
async fn unsupported_tee_fails_clearly() {
    let service = service(AsConfig::default()).await;
    let request = VerificationRequest {
        tee: Tee::Se,
        evidence: json!({}),
        runtime_data: None,
        runtime_data_hash_algorithm: HashAlgorithm::Sha384,
        init_data: None,
    };
    let err = service
        .evaluate(vec![request], &default_policy())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Verifier {
                tee: Tee::Se,
                source: verifier::Error::Unsupported { tee: Tee::Se }
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn file_signer_puts_its_chain_in_the_header() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/signer");
    let mut config = AsConfig::default();
    config.attestation_token_broker.signer = Some(SignerConfig {
        key_path: dir.join("token-key-pkcs8.pem"),
        cert_path: Some(dir.join("token-chain.pem")),
        cert_url: Some("https://example.org/chain.pem".into()),
    });
    let service = service(config).await;
    let token = service
        .evaluate(vec![sample_request(runtime_data(""))], &default_policy())
        .await
        .unwrap();
    let jwk = &header(&token)["jwk"];
    assert_eq!(jwk["x5u"], "https://example.org/chain.pem");
    let x5c = jwk["x5c"].as_array().unwrap();
    assert_eq!(x5c.len(), 2);
    let x5c: Vec<String> = x5c.iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    // The leaf holds the token key, so an x5c-trusting relying party accepts it.
    assert!(jose::x5c::leaf_matches_jwk(&x5c, &service.token_verifying_jwk()).unwrap());
    assert_eq!(
        serde_json::to_value(service.token_verifying_jwk()).unwrap(),
        *jwk
    );
    let key = VerifyingKey::from_jwk(&service.token_verifying_jwk()).unwrap();
    jose::jwt::verify(&token, &key, u64::try_from(IAT).unwrap()).unwrap();
}
