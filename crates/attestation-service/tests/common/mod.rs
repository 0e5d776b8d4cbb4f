//! Shared helpers: a service on in-memory storage with a pinned clock, and KBS-shaped requests.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

pub mod process;

use std::sync::Arc;

use attestation_service::{AsConfig, AttestationService, RuntimeData, VerificationRequest};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kbs_types::{HashAlgorithm, Tee};
use serde_json::{Value, json};
use storage::{StorageConfig, StorageProvider};
use time::OffsetDateTime;

/// The `iat` every token in these tests carries (the upstream example token's).
pub const IAT: i64 = 1_760_426_134;

/// A service over fresh in-memory storage, stamping tokens with [`IAT`].
pub async fn service(config: AsConfig) -> AttestationService {
    let storage = StorageProvider::new(&StorageConfig::default()).unwrap();
    AttestationService::new(config, &storage)
        .await
        .unwrap()
        .with_clock(pinned_clock())
}

/// A clock stuck at [`IAT`].
pub fn pinned_clock() -> attestation_service::Clock {
    Arc::new(|| OffsetDateTime::from_unix_timestamp(IAT).unwrap())
}

/// The runtime data the KBS builds for the primary evidence.
pub fn runtime_data(additional_evidence: &str) -> Value {
    json!({
        "tee-pubkey": {
            "kty": "EC",
            "crv": "P-256",
            "alg": "ECDH-ES+A256KW",
            "x": "gHvKeMq6_vOOomNvX5K4D1RaJ79IdxTh7UAIwy4fBYI",
            "y": "AJ6cSJ0T4pKnJzbTrURIt2hn2y0UFhGUdwO7qIlP4Ds"
        },
        "nonce": "bm9uY2U=",
        "additional-evidence": additional_evidence
    })
}

/// What a sample attester reports for `runtime_data`: std base64 of SHA-384(JCS(runtime data)).
pub fn sample_report_data(runtime_data: &Value) -> String {
    STANDARD.encode(jose::jcs::runtime_data_digest(runtime_data, HashAlgorithm::Sha384).unwrap())
}

/// A primary `sample` request bound to `runtime_data`.
pub fn sample_request(runtime_data: Value) -> VerificationRequest {
    VerificationRequest {
        tee: Tee::Sample,
        evidence: json!({"svn": "1", "report_data": sample_report_data(&runtime_data)}),
        runtime_data: Some(RuntimeData::Structured(runtime_data)),
        runtime_data_hash_algorithm: HashAlgorithm::Sha384,
        init_data: None,
    }
}

/// The policy ids the KBS sends.
pub fn default_policy() -> Vec<String> {
    vec!["default".to_owned()]
}

/// The payload of a compact JWT as text, unverified.
pub fn payload_text(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The payload of a compact JWT, unverified.
pub fn payload(token: &str) -> Value {
    serde_json::from_str(&payload_text(token)).unwrap()
}

/// The header of a compact JWT.
pub fn header(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// An RVPS `sample` register message for `values`.
pub fn sample_message(values: Value) -> String {
    json!({
        "version": "0.1.0",
        "type": "sample",
        "payload": STANDARD.encode(values.to_string())
    })
    .to_string()
}

/// The reference values that make the default CPU policy affirm the sample TEE.
pub async fn register_sample_reference_values(service: &AttestationService) {
    service
        .register_reference_value(&sample_message(json!({
            "svn": ["1"],
            "launch_digest": ["abcde"],
            "major_version": 1,
            "minimum_minor_version": 1
        })))
        .await
        .unwrap();
}
