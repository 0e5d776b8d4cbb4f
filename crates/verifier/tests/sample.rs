#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The sample TEEs through the public registry.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kbs_types::Tee;
use serde_json::json;
use verifier::{Error, InitDataHash, ReportData, TeeClass, VerifierConfig, verifier_for};

fn digest() -> Vec<u8> {
    (0u8..48).collect()
}

#[tokio::test]
async fn sample_reports_its_fixed_claims_and_binds_report_data() {
    let verifier = verifier_for(Tee::Sample, &VerifierConfig::default()).unwrap();
    let report_data = STANDARD.encode(digest());
    let evidence = json!({"svn": "1", "report_data": report_data});
    let entries = verifier
        .evaluate(
            &evidence,
            &ReportData::Value(digest()),
            &InitDataHash::NotProvided,
        )
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    let (claims, class) = &entries[0];
    assert_eq!(*class, TeeClass::Cpu);
    assert_eq!(
        claims.clone().into_value(),
        json!({
            "svn": "1",
            "report_data": report_data,
            "launch_digest": "abcde",
            "platform_version": {"major": 1, "minor": 4},
            "debug": false
        })
    );
}

#[tokio::test]
async fn sample_reports_init_data_hash_as_standard_base64() {
    let verifier = verifier_for(Tee::Sample, &VerifierConfig::default()).unwrap();
    let hash = vec![0xfb; 32];
    let entries = verifier
        .evaluate(
            &json!({"svn": "3"}),
            &ReportData::NotProvided,
            &InitDataHash::Value(hash.clone()),
        )
        .await
        .unwrap();
    let claims = entries[0].0.as_map();
    assert_eq!(claims["init_data"], json!(STANDARD.encode(&hash)));
    assert!(!claims.contains_key("report_data"));
}

#[tokio::test]
async fn sample_rejects_tampered_report_data() {
    let verifier = verifier_for(Tee::Sample, &VerifierConfig::default()).unwrap();
    let mut tampered = digest();
    tampered[0] ^= 1;
    let evidence = json!({"svn": "1", "report_data": STANDARD.encode(tampered)});
    let err = verifier
        .evaluate(
            &evidence,
            &ReportData::Value(digest()),
            &InitDataHash::NotProvided,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Mismatch {
            field: "report_data"
        }
    );
}

#[tokio::test]
async fn sample_requires_report_data_when_a_binding_is_expected() {
    let verifier = verifier_for(Tee::Sample, &VerifierConfig::default()).unwrap();
    let err = verifier
        .evaluate(
            &json!({"svn": "1"}),
            &ReportData::Value(digest()),
            &InitDataHash::NotProvided,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Missing {
            field: "report_data"
        }
    );
}

#[tokio::test]
async fn sample_rejects_non_string_svn() {
    let verifier = verifier_for(Tee::Sample, &VerifierConfig::default()).unwrap();
    let err = verifier
        .evaluate(
            &json!({"svn": 1}),
            &ReportData::NotProvided,
            &InitDataHash::NotProvided,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MalformedEvidence {
                tee: Tee::Sample,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn sample_device_is_a_gpu_with_svn_and_report_data() {
    let verifier = verifier_for(Tee::SampleDevice, &VerifierConfig::default()).unwrap();
    let report_data = STANDARD.encode(digest());
    let entries = verifier
        .evaluate(
            &json!({"svn": "2", "report_data": report_data}),
            &ReportData::Value(digest()),
            &InitDataHash::Value(vec![1; 32]),
        )
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].1, TeeClass::Gpu);
    assert_eq!(
        entries[0].0.clone().into_value(),
        json!({"svn": "2", "report_data": report_data})
    );
}

#[tokio::test]
async fn sample_device_rejects_tampered_report_data() {
    let verifier = verifier_for(Tee::SampleDevice, &VerifierConfig::default()).unwrap();
    let evidence = json!({"svn": "2", "report_data": STANDARD.encode(&digest()[..47])});
    let err = verifier
        .evaluate(
            &evidence,
            &ReportData::Value(digest()),
            &InitDataHash::NotProvided,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Mismatch {
            field: "report_data"
        }
    );
}
