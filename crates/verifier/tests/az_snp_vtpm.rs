#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `az-snp-vtpm` through the public API: the verifier with a fixed clock, and the claims the
//! attestation service and the default CPU policy read.

use std::sync::Arc;

use serde_json::{Value, json};
use verifier::az_snp_vtpm::AzSnpVtpm;
use verifier::vtpm::VtpmError;
use verifier::{Error, FixedClock, InitDataHash, ReportData, TeeClass, Verifier};

/// 2025-06-01T00:00:00Z, the manifest's verification time.
const NOW: u64 = 1_748_736_000;
const V2_REPORT_DATA: &str = "982f5c6e45df0ed3f10b6f60b02f0c8390e281300f3805e2279c16168cd6ae9aa398f647caa2338748cd0fd9f5f819ef";

fn evidence(file: &str) -> Value {
    let path = format!(
        "{}/../../../shared/testdata/evidence/az-snp-vtpm/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn verifier() -> AzSnpVtpm {
    AzSnpVtpm::new(Arc::new(FixedClock(NOW)))
}

#[tokio::test]
async fn v2_evidence_yields_the_claims_the_default_policy_reads() {
    let entries = verifier()
        .evaluate(
            &evidence("evidence-v2.json"),
            &ReportData::Value(hex::decode(V2_REPORT_DATA).unwrap()),
            &InitDataHash::NotProvided,
        )
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    let (claims, class) = &entries[0];
    assert_eq!(*class, TeeClass::Cpu);
    let mut claims = claims.clone().into_value();
    let pcrs = claims.as_object_mut().unwrap().remove("tpm").unwrap();
    assert_eq!(
        claims,
        json!({
            "policy_abi_major": "0",
            "policy_abi_minor": "31",
            "policy_smt_allowed": "true",
            "policy_migrate_ma": "false",
            "policy_debug_allowed": "false",
            "policy_single_socket": "false",
            "reported_tcb_bootloader": "4",
            "reported_tcb_tee": "0",
            "reported_tcb_snp": "24",
            "reported_tcb_microcode": "219",
            "platform_tsme_enabled": "false",
            "platform_smt_enabled": "true",
            "measurement": "WwzmStHB9jddvaX3YLmFJsobz5G4GVCRr8KOewJCUdaP4y4FrzQEjWYHZ4zSMoP/",
            "report_data": V2_REPORT_DATA,
            "init_data": "0000000000000000000000000000000000000000000000000000000000000000",
        })
    );
    let pcrs = pcrs.as_object().unwrap();
    assert_eq!(pcrs.len(), 24);
    assert_eq!(
        pcrs["pcr00"],
        "84275b2f4312cd4fc6cbe6b152ad3c3683e513d9f1e23c34fca160c8cca7a6a7"
    );
    assert!(pcrs.contains_key("pcr11"));
}

#[tokio::test]
async fn a_replayed_quote_fails_the_nonce_check() {
    let err = verifier()
        .evaluate(
            &evidence("evidence-v2.json"),
            &ReportData::Value(vec![0x42; 48]),
            &InitDataHash::NotProvided,
        )
        .await
        .unwrap_err();
    assert_eq!(err, Error::Vtpm(VtpmError::Nonce));
    assert_eq!(
        err.to_string(),
        "tpm quote nonce does not match the expected report data"
    );
}

#[tokio::test]
async fn a_sha384_init_data_digest_is_refused_without_panicking() {
    let err = verifier()
        .evaluate(
            &evidence("evidence-v2.json"),
            &ReportData::Value(hex::decode(V2_REPORT_DATA).unwrap()),
            &InitDataHash::Value(vec![0; 48]),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Vtpm(VtpmError::InitDataDigestLength { len: 48 })
    );
}
