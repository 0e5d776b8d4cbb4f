#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `grpc-as` in process: the generated clients against the router on 127.0.0.1:0, the token
//! checked with the JWK set fetched over HTTP/1.1 from the same port.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use attestation_service::AsConfig;
use attestation_service::grpc::listen::serve;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use protos::attestation::attestation_service_client::AttestationServiceClient;
use protos::attestation::individual_attestation_request::{InitData, RuntimeData};
use protos::attestation::{
    AttestationRequest, ChallengeRequest, IndividualAttestationRequest, SetPolicyRequest,
};
use protos::reference::reference_value_provider_service_client::ReferenceValueProviderServiceClient;
use protos::reference::{ReferenceValueQueryRequest, ReferenceValueRegisterRequest};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A running in-process `grpc-as`; stops when dropped.
struct Server {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Server {
    async fn start() -> Self {
        let service = Arc::new(service(AsConfig::default()).await);
        let router = attestation_service::grpc::router(service).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, router, None, async {
            let _ = stopped.await;
        }));
        Self { addr, _stop: stop }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    async fn attestation(&self) -> AttestationServiceClient<Channel> {
        AttestationServiceClient::new(self.channel().await)
    }

    async fn jwks(&self) -> Value {
        let response = reqwest::get(format!("http://{}/.well-known/jwks.json", self.addr))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), reqwest::Version::HTTP_11);
        response.json().await.unwrap()
    }
}

/// The gRPC form of `common::sample_request`: what an upstream KBS sends.
fn wire_sample_request(runtime_data: &Value) -> IndividualAttestationRequest {
    let evidence = json!({"svn": "1", "report_data": sample_report_data(runtime_data)});
    IndividualAttestationRequest {
        tee: "sample".into(),
        evidence: URL_SAFE_NO_PAD.encode(evidence.to_string()),
        runtime_data: Some(RuntimeData::StructuredRuntimeData(runtime_data.to_string())),
        init_data: None,
        runtime_data_hash_algorithm: "sha384".into(),
    }
}

fn evaluate_request(
    requests: Vec<IndividualAttestationRequest>,
    policy_ids: &[&str],
) -> AttestationRequest {
    AttestationRequest {
        verification_requests: requests,
        policy_ids: policy_ids.iter().map(|id| id.to_string()).collect(),
    }
}

/// Verifies `token` with the first key of `jwks` at the pinned time and returns its claims.
fn verify_with_jwks(token: &str, jwks: &Value) -> Value {
    let jwk: jose::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let key = jose::VerifyingKey::from_jwk(&jwk).unwrap();
    jose::jwt::verify(token, &key, IAT as u64).unwrap()
}

#[tokio::test]
async fn sample_evidence_yields_a_token_that_the_served_jwks_verifies() {
    let server = Server::start().await;
    let mut client = server.attestation().await;
    let runtime_data = runtime_data("");
    let token = client
        .attestation_evaluate(evaluate_request(
            vec![wire_sample_request(&runtime_data)],
            &[],
        ))
        .await
        .unwrap()
        .into_inner()
        .attestation_token;

    let jwks = server.jwks().await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let claims = verify_with_jwks(&token, &jwks);
    // Empty policy_ids means "default"; no reference values yet, so not trusted.
    let cpu0 = &claims["submods"]["cpu0"];
    assert_eq!(cpu0["ear.appraisal-policy-id"], "default");
    assert_eq!(cpu0["ear.status"], "contraindicated");
    assert_eq!(
        cpu0["ear.veraison.annotated-evidence"]["runtime_data_claims"],
        runtime_data
    );

    // A token signed by another key does not verify with this JWKS.
    let other = Server::start().await;
    let other_jwks = other.jwks().await;
    let jwk: jose::Jwk = serde_json::from_value(other_jwks["keys"][0].clone()).unwrap();
    let key = jose::VerifyingKey::from_jwk(&jwk).unwrap();
    assert!(jose::jwt::verify(&token, &key, IAT as u64).is_err());
}

#[tokio::test]
async fn reference_values_registered_on_the_as_port_are_used_by_the_default_policy() {
    let server = Server::start().await;
    let mut rvps = ReferenceValueProviderServiceClient::new(server.channel().await);

    let unknown = rvps
        .query_reference_value(ReferenceValueQueryRequest {
            reference_value_id: "svn".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unknown.reference_value_results, None);

    rvps.register_reference_value(ReferenceValueRegisterRequest {
        message: sample_message(json!({
            "svn": ["1"],
            "launch_digest": ["abcde"],
            "major_version": 1,
            "minimum_minor_version": 1
        })),
    })
    .await
    .unwrap();
    let svn = rvps
        .query_reference_value(ReferenceValueQueryRequest {
            reference_value_id: "svn".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let svn: Value = serde_json::from_str(&svn.reference_value_results.unwrap()).unwrap();
    assert_eq!(svn, json!(["1"]));

    let token = server
        .attestation()
        .await
        .attestation_evaluate(evaluate_request(
            vec![wire_sample_request(&runtime_data(""))],
            &["default"],
        ))
        .await
        .unwrap()
        .into_inner()
        .attestation_token;
    let claims = verify_with_jwks(&token, &server.jwks().await);
    assert_eq!(claims["submods"]["cpu0"]["ear.status"], "affirming");

    let status = rvps
        .register_reference_value(ReferenceValueRegisterRequest {
            message: r#"{"version":"0.1.0","type":"nope","payload":""}"#.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert!(
        status
            .message()
            .starts_with("Register reference value failed: \n0: "),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn unsupported_tees_are_aborted_with_their_name() {
    let server = Server::start().await;
    let mut client = server.attestation().await;
    for tee in ["sampledevice", "nvidia-dpu", "SNP", "sev"] {
        let request = IndividualAttestationRequest {
            tee: tee.into(),
            ..wire_sample_request(&runtime_data(""))
        };
        let status = client
            .attestation_evaluate(evaluate_request(vec![request], &[]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(status.message(), format!("Unsupported TEE type: {tee}"));
    }
}

#[tokio::test]
async fn empty_and_malformed_requests_are_aborted() {
    let server = Server::start().await;
    let mut client = server.attestation().await;

    let status = client
        .attestation_evaluate(evaluate_request(vec![], &["default"]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.message(), "No verification requests provided.");

    let padded = IndividualAttestationRequest {
        evidence: format!("{}==", wire_sample_request(&runtime_data("")).evidence),
        ..wire_sample_request(&runtime_data(""))
    };
    let status = client
        .attestation_evaluate(evaluate_request(vec![padded], &[]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(
        status.message(),
        "evidence is not base64url without padding"
    );
}

#[tokio::test]
async fn evaluation_failures_carry_the_cause_chain() {
    let server = Server::start().await;
    let mut client = server.attestation().await;
    // Evidence bound to other runtime data than the request carries.
    let request = IndividualAttestationRequest {
        runtime_data: Some(RuntimeData::StructuredRuntimeData(
            runtime_data("other").to_string(),
        )),
        ..wire_sample_request(&runtime_data(""))
    };
    let status = client
        .attestation_evaluate(evaluate_request(vec![request], &[]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    let message = status.message();
    assert!(
        message.starts_with(
            "Attestation evaluation failed: \n0: sample evidence verification failed\n1: "
        ),
        "{message}"
    );

    // A policy id that names no stored policy.
    let status = client
        .attestation_evaluate(evaluate_request(
            vec![wire_sample_request(&runtime_data(""))],
            &["nothing"],
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert!(
        status.message().contains("nothing_cpu"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_policy_set_over_grpc_is_used_by_evaluate() {
    let server = Server::start().await;
    let mut client = server.attestation().await;
    let policy = "package policy\n\nimport rego.v1\n\ntrust_claims := {\"hardware\": 2, \"executables\": 2}\n";
    client
        .set_attestation_policy(SetPolicyRequest {
            policy_id: "mine_cpu".into(),
            policy: URL_SAFE_NO_PAD.encode(policy),
        })
        .await
        .unwrap();
    let token = client
        .attestation_evaluate(evaluate_request(
            vec![wire_sample_request(&runtime_data(""))],
            &["mine"],
        ))
        .await
        .unwrap()
        .into_inner()
        .attestation_token;
    let cpu0 = &verify_with_jwks(&token, &server.jwks().await)["submods"]["cpu0"];
    assert_eq!(cpu0["ear.appraisal-policy-id"], "mine");
    assert_eq!(cpu0["ear.status"], "affirming");
    assert_eq!(cpu0["ear.trustworthiness-vector"]["hardware"], 2);

    for (policy, cause) in [
        (
            format!("{}=", URL_SAFE_NO_PAD.encode(policy)),
            "policy is not base64url without padding",
        ),
        (
            URL_SAFE_NO_PAD.encode("package policy\ntrust_claims := {"),
            "policy engine",
        ),
    ] {
        let status = client
            .set_attestation_policy(SetPolicyRequest {
                policy_id: "mine_cpu".into(),
                policy,
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Aborted);
        assert!(
            status
                .message()
                .starts_with(&format!("Set Attestation Policy Failed: \n0: {cause}")),
            "{}",
            status.message()
        );
    }
}

#[tokio::test]
async fn challenge_needs_tee_and_tee_params() {
    let server = Server::start().await;
    let mut client = server.attestation().await;
    let challenge = |pairs: &[(&str, &str)]| ChallengeRequest {
        inner: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };

    let response = client
        .get_attestation_challenge(challenge(&[("tee", "sample"), ("tee_params", "{}")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.attestation_challenge, "");

    for (request, message) in [
        (
            challenge(&[("tee_params", "{}")]),
            "challenge request is missing `tee`",
        ),
        (
            challenge(&[("tee", "sample")]),
            "challenge request is missing `tee_params`",
        ),
        (
            challenge(&[("tee", "sampledevice"), ("tee_params", "{}")]),
            "Unsupported TEE type: sampledevice",
        ),
    ] {
        let status = client.get_attestation_challenge(request).await.unwrap_err();
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(status.message(), message);
    }

    // `se` is a gRPC TEE name, but this AS has no SE verifier.
    let status = client
        .get_attestation_challenge(challenge(&[("tee", "se"), ("tee_params", "{}")]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert!(
        status.message().starts_with(
            "Get Attestation Challenge Failed: \n0: cannot make a supplemental challenge for se"
        ),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn health_reports_serving() {
    let server = Server::start().await;
    let mut health = HealthClient::new(server.channel().await);
    for service in [
        "",
        "attestation.AttestationService",
        "reference.ReferenceValueProviderService",
    ] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
    let status = health
        .check(HealthCheckRequest {
            service: "kbs.Nothing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn messages_over_4_mib_are_refused() {
    let server = Server::start().await;
    let mut client = server.attestation().await;
    let request = IndividualAttestationRequest {
        evidence: "A".repeat(4 << 20),
        ..wire_sample_request(&runtime_data(""))
    };
    let status = client
        .attestation_evaluate(evaluate_request(vec![request], &[]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
}

#[tokio::test]
async fn init_data_toml_and_digest_reach_the_token() {
    let server = Server::start().await;
    let mut client = server.attestation().await;
    let toml = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n\"key\" = \"value\"\n";
    let request = IndividualAttestationRequest {
        init_data: Some(InitData::InitDataToml(toml.into())),
        ..wire_sample_request(&runtime_data(""))
    };
    let token = client
        .attestation_evaluate(evaluate_request(vec![request], &[]))
        .await
        .unwrap()
        .into_inner()
        .attestation_token;
    let claims = verify_with_jwks(&token, &server.jwks().await);
    let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(evidence["init_data_claims"], json!({"key": "value"}));

    // A digest is passed as it is (not hashed again) and gives no claims.
    let request = IndividualAttestationRequest {
        init_data: Some(InitData::InitDataDigest(URL_SAFE_NO_PAD.encode([7u8; 32]))),
        ..wire_sample_request(&runtime_data(""))
    };
    let token = client
        .attestation_evaluate(evaluate_request(vec![request], &[]))
        .await
        .unwrap()
        .into_inner()
        .attestation_token;
    let claims = verify_with_jwks(&token, &server.jwks().await);
    let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(
        evidence["init_data"],
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    );
    assert_eq!(evidence["init_data_claims"], Value::Null);
}

#[tokio::test]
async fn raw_runtime_data_is_the_report_data_as_is() {
    let server = Server::start().await;
    let mut client = server.attestation().await;
    let report_data = [9u8; 64];
    let evidence = json!({
        "svn": "1",
        "report_data": base64::engine::general_purpose::STANDARD.encode(report_data)
    });
    let request = IndividualAttestationRequest {
        tee: "sample".into(),
        evidence: URL_SAFE_NO_PAD.encode(evidence.to_string()),
        runtime_data: Some(RuntimeData::RawRuntimeData(
            URL_SAFE_NO_PAD.encode(report_data),
        )),
        init_data: None,
        runtime_data_hash_algorithm: String::new(),
    };
    client
        .attestation_evaluate(evaluate_request(vec![request.clone()], &[]))
        .await
        .unwrap();

    // One byte off: the binding check fails.
    let mut other = report_data;
    other[0] ^= 1;
    let request = IndividualAttestationRequest {
        runtime_data: Some(RuntimeData::RawRuntimeData(URL_SAFE_NO_PAD.encode(other))),
        ..request
    };
    let status = client
        .attestation_evaluate(evaluate_request(vec![request], &[]))
        .await
        .unwrap_err();
    assert!(
        status
            .message()
            .starts_with("Attestation evaluation failed: \n0: sample evidence verification failed"),
        "{}",
        status.message()
    );
}
