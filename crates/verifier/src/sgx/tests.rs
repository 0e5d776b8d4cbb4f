//! The shared SGX sample (`occlum_quote`) through the verifier at the manifest's time with
//! its bundle, and negatives.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::*;
use crate::FixedClock;
use crate::tdx::tests::Fixed;
use crate::test_support::{cpu_claims, shared};

/// 2025-09-01T00:00:00Z: inside the occlum quote's collateral window.
pub(crate) const OCCLUM_TIME: u64 = 1_756_684_800;
/// "test" padded with zeros to 64 bytes.
pub(crate) const OCCLUM_REPORT_DATA: &str = "74657374000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

fn evidence() -> Value {
    serde_json::from_slice(&shared("wrapped/sgx/occlum_quote.json")).unwrap()
}

async fn evaluate(
    evidence: &Value,
    expected: &ReportData,
    init_data: &InitDataHash,
) -> Result<Map<String, Value>, Error> {
    let verifier = Sgx::new(
        Arc::new(Fixed::bundle("occlum_quote")),
        Arc::new(FixedClock(OCCLUM_TIME)),
    );
    cpu_claims(&verifier, evidence, expected, init_data).await
}

fn report_data(text: &[u8]) -> ReportData {
    ReportData::Value(text.to_vec())
}

#[test]
fn quote_claims_are_upstreams() {
    let quote = parse_evidence(&evidence()).unwrap();
    let claims = quote_claims(&quote.header, quote.body.enclave_report().unwrap());
    // trustee sgx/claims.rs `parse_sgx_claims` (without platform_instance_id, which the DCAP
    // verification reads from the PCK certificate).
    let expected = json!({
        "header": {
            "version": "0300",
            "att_key_type": "0200",
            "att_key_data_0": "00000000",
            "qe_svn": "0800",
            "pce_svn": "0d00",
            "vendor_id": "939a7233f79c4ca9940a0db3957f0607",
            "user_data": "dccde9b31ce8860548173bb4a2a57a1600000000"
        },
        "body": {
            "cpu_svn": "06060c0cffff00000000000000000000",
            "misc_select": "01000000",
            "reserved1": "000000000000000000000000",
            "isv_ext_prod_id": "00000000000000000000000000000000",
            "attributes.flags": "0700000000000000",
            "attributes.xfrm": "e700000000000000",
            "mr_enclave": "8f173e4613ff05c52aaf04162d234edae8c9977eae47eb2299ae16a553011c68",
            "reserved2": "0".repeat(64),
            "mr_signer": "83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e",
            "reserved3": "0".repeat(64),
            "config_id": "0".repeat(128),
            "isv_prod_id": "0000",
            "isv_svn": "0000",
            "config_svn": "0000",
            "reserved4": "0".repeat(84),
            "isv_family_id": "00000000000000000000000000000000",
            "report_data": OCCLUM_REPORT_DATA
        },
        "report_data": OCCLUM_REPORT_DATA,
        "init_data": "0".repeat(128)
    });
    assert_eq!(Value::Object(claims), expected);
}

#[tokio::test]
async fn occlum_quote_verifies_with_its_bundle_and_yields_the_manifest_claims() {
    // The guest bound "test": padded to 64 bytes it is the quote's report data.
    let claims = evaluate(
        &evidence(),
        &report_data(b"test"),
        &InitDataHash::NotProvided,
    )
    .await
    .unwrap();
    assert_eq!(
        claims["body"]["mr_enclave"],
        "8f173e4613ff05c52aaf04162d234edae8c9977eae47eb2299ae16a553011c68"
    );
    assert_eq!(claims["body"]["attributes.flags"], "0700000000000000");
    assert_eq!(claims["report_data"], OCCLUM_REPORT_DATA);
    assert_eq!(claims["tcb_status"], "OutOfDate");
    assert_eq!(
        claims["advisory_ids"],
        json!([
            "INTEL-SA-00586",
            "INTEL-SA-00614",
            "INTEL-SA-00615",
            "INTEL-SA-00657",
            "INTEL-SA-00730",
            "INTEL-SA-00738",
            "INTEL-SA-00767",
            "INTEL-SA-00828",
            "INTEL-SA-00837",
            "INTEL-SA-00960"
        ])
    );
    assert_eq!(claims["tcb_date"], "2021-11-10T00:00:00Z");
    // SGX: the current TCB (QVL supplemental 3.5) is the launch TCB.
    assert_eq!(claims["tcb_status_current"], "OutOfDate");
    assert_eq!(claims["advisory_ids_current"], claims["advisory_ids"]);
    assert_eq!(claims["tcb_date_current"], "2021-11-10T00:00:00Z");
    assert_eq!(claims["collateral_expiration_status"], "0");
    // Upstream's byte order, as in its sgx claims test.
    assert_eq!(
        claims["platform_instance_id"],
        "7a3a6941065cd5060bd93d3db2cfc0c8"
    );
}

#[tokio::test]
async fn wrong_report_data_is_refused_by_name() {
    let err = evaluate(
        &evidence(),
        &report_data(b"tesu"),
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
async fn init_data_binds_config_id() {
    // CONFIGID is all zero: a zero digest (padded to 64) binds, any other does not.
    evaluate(
        &evidence(),
        &report_data(b"test"),
        &InitDataHash::Value(vec![0; 48]),
    )
    .await
    .unwrap();
    let err = evaluate(
        &evidence(),
        &report_data(b"test"),
        &InitDataHash::Value(vec![1; 48]),
    )
    .await
    .unwrap_err();
    assert_eq!(err, Error::Mismatch { field: "config_id" });
}

#[tokio::test]
async fn a_flipped_byte_in_the_enclave_report_fails_the_quote_signature() {
    let mut evidence = evidence();
    let mut quote = STANDARD
        .decode(evidence["quote"].as_str().unwrap())
        .unwrap();
    // mr_enclave at body offset 64, after the 48-byte header.
    quote[48 + 64] ^= 1;
    evidence["quote"] = json!(STANDARD.encode(quote));
    let err = evaluate(&evidence, &report_data(b"test"), &InitDataHash::NotProvided)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Dcap(_)), "{err:?}");
    assert!(err.to_string().contains("signature"), "{err}");
}

#[test]
fn a_td_quote_is_not_sgx_evidence() {
    let tdx = crate::tdx::tests::wrapped("tdx_quote_4");
    let err = parse_evidence(&json!({"quote": tdx["quote"]})).unwrap_err();
    assert!(
        matches!(&err, Error::MalformedEvidence { tee: Tee::Sgx, reason } if reason.contains("not an SGX quote v3")),
        "{err:?}"
    );
    assert_eq!(
        parse_evidence(&json!({"quote": "???"})).unwrap_err(),
        Error::Base64 { field: "quote" }
    );
}
