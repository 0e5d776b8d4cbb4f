//! The shared Azure TDX samples through the whole verifier at the manifest's time with the TD
//! quote's bundle (testdata README §3, §4), and negatives made by mutating a good sample.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use serde_json::json;

use super::*;
use crate::FixedClock;
use crate::tdx::tests::Fixed;
use crate::test_support::{cpu_claims, shared};
use crate::vtpm::tests::with_hcl;

/// 2025-11-05T00:00:00Z: inside the TD quote's collateral window.
const NOW: u64 = 1_762_300_800;
/// The TPM quote nonce of the capture.
const NONCE: &[u8] = b"challenge";

fn evidence(file: &str) -> Value {
    serde_json::from_slice(&shared(&format!("evidence/az-tdx-vtpm/{file}"))).unwrap()
}

async fn evaluate(
    evidence: &Value,
    expected: &ReportData,
    init_data: &InitDataHash,
) -> Result<Map<String, Value>, Error> {
    let verifier = AzTdxVtpm::new(
        Arc::new(Fixed::bundle("az-tdx-vtpm_td-quote")),
        Arc::new(FixedClock(NOW)),
    );
    cpu_claims(&verifier, evidence, expected, init_data).await
}

async fn evaluate_v1(evidence: &Value) -> Result<Map<String, Value>, Error> {
    evaluate(
        evidence,
        &ReportData::Value(NONCE.to_vec()),
        &InitDataHash::NotProvided,
    )
    .await
}

#[tokio::test]
async fn both_samples_verify_and_yield_the_manifest_claims() {
    for file in ["evidence-v0.json", "evidence-v1.json"] {
        let claims = evaluate_v1(&evidence(file))
            .await
            .unwrap_or_else(|err| panic!("{file}: {err}"));
        assert_eq!(claims["report_data"], "6368616c6c656e6765", "{file}");
        assert_eq!(claims["init_data"], "0".repeat(64), "{file}");
        assert_eq!(
            claims["tpm"]["pcr00"],
            "782b20b10f55cc46e2142cc2145d548698073e5beb82752c8d7f9279f0d8a273"
        );
        let body = &claims["quote"]["body"];
        assert_eq!(
            body["mr_td"],
            "024a32b070383331181619fa387cb4d55d1e38879f989933055ccad5bc2db795d1737b66205949d15469dc8c1ba7ab7b"
        );
        assert_eq!(
            body["report_data"],
            "9734504f161d104c74e3165c15f779b06a9bb40dfa71937817d7eee68e5938390000000000000000000000000000000000000000000000000000000000000000"
        );
        assert_eq!(body["rtmr_0"], "0".repeat(96));
        assert_eq!(body["td_attributes"], "0000000000000000");
        assert_eq!(claims["td_attributes"]["septve_disable"], false);
        assert_eq!(claims["td_attributes"]["debug"], false);
        assert_eq!(claims["tcb_status"], "OutOfDate");
        assert_eq!(
            claims["advisory_ids"],
            json!(["INTEL-SA-00960", "INTEL-SA-00982", "INTEL-SA-00986"])
        );
        // A TD 1.0 body: the current TCB (QVL supplemental 3.5) is the launch TCB.
        assert_eq!(claims["tcb_status_current"], "OutOfDate");
        assert_eq!(
            claims["advisory_ids_current"],
            json!(["INTEL-SA-00960", "INTEL-SA-00982", "INTEL-SA-00986"])
        );
        assert_eq!(claims["tcb_date_current"], "2023-08-09T00:00:00Z");
        assert_eq!(claims["tcb_date_current"], claims["tcb_date"]);
        assert!(claims.get("uefi_event_logs").is_none());
    }
}

#[tokio::test]
async fn a_wrong_nonce_is_refused_by_name() {
    let err = evaluate(
        &evidence("evidence-v1.json"),
        &ReportData::Value(b"challengf".to_vec()),
        &InitDataHash::NotProvided,
    )
    .await
    .unwrap_err();
    assert_eq!(err, Error::Vtpm(VtpmError::Nonce));
    let err = evaluate(
        &evidence("evidence-v1.json"),
        &ReportData::NotProvided,
        &InitDataHash::NotProvided,
    )
    .await
    .unwrap_err();
    assert_eq!(err, Error::Vtpm(VtpmError::ReportDataRequired));
}

#[tokio::test]
async fn init_data_binds_pcr8() {
    let evidence = evidence("evidence-v1.json");
    let report_data = ReportData::Value(NONCE.to_vec());
    let err = evaluate(&evidence, &report_data, &InitDataHash::Value(vec![0; 32]))
        .await
        .unwrap_err();
    assert_eq!(err, Error::Vtpm(VtpmError::InitData));
    let err = evaluate(&evidence, &report_data, &InitDataHash::Value(vec![0; 48]))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Vtpm(VtpmError::InitDataDigestLength { len: 48 })
    );
}

#[tokio::test]
async fn runtime_data_not_bound_to_the_td_quote_is_refused() {
    // Change a byte of the runtime-data JSON outside the AK (`"sign"` -> `"sigm"`).
    let evidence = with_hcl(evidence("evidence-v1.json"), |hcl| {
        let at = 1236
            + hcl[1236..]
                .windows(6)
                .position(|w| w == b"\"sign\"")
                .unwrap();
        hcl[at + 4] = b'm';
    });
    let err = evaluate_v1(&evidence).await.unwrap_err();
    assert_eq!(err, Error::Vtpm(VtpmError::RuntimeDataBinding));
}

#[tokio::test]
async fn a_flipped_tpm_signature_byte_is_refused() {
    let mut evidence = evidence("evidence-v1.json");
    let mut signature = hex::decode(evidence["tpm_quote"]["signature"].as_str().unwrap()).unwrap();
    signature[10] ^= 1;
    evidence["tpm_quote"]["signature"] = json!(hex::encode(signature));
    let err = evaluate_v1(&evidence).await.unwrap_err();
    assert_eq!(err, Error::Vtpm(VtpmError::QuoteSignature));
}

#[tokio::test]
async fn a_flipped_byte_in_the_td_quote_fails_its_dcap_signature() {
    let mut evidence = evidence("evidence-v1.json");
    let mut quote = URL_SAFE
        .decode(evidence["td_quote"].as_str().unwrap())
        .unwrap();
    quote[48 + 136] ^= 1;
    evidence["td_quote"] = json!(URL_SAFE.encode(quote));
    let err = evaluate_v1(&evidence).await.unwrap_err();
    assert!(matches!(err, Error::Dcap(_)), "{err:?}");
}

#[tokio::test]
async fn an_snp_hcl_report_is_refused() {
    let evidence = with_hcl(evidence("evidence-v1.json"), |hcl| {
        hcl[1224..1228].copy_from_slice(&2u32.to_le_bytes());
    });
    let err = evaluate_v1(&evidence).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Vtpm(VtpmError::Unsupported {
                field: "hcl report type for az-tdx-vtpm",
                value: 2
            })
        ),
        "{err:?}"
    );
}

#[test]
fn malformed_evidence_names_the_field() {
    let mut bad = evidence("evidence-v1.json");
    bad["td_quote"] = json!("***");
    let err = AzTdxVtpmEvidence::from_json(&bad).unwrap_err();
    assert!(
        matches!(&err, Error::MalformedEvidence { reason, .. } if reason.contains("td_quote")),
        "{err:?}"
    );
    let mut bad = evidence("evidence-v1.json");
    bad["version"] = json!(7);
    assert!(AzTdxVtpmEvidence::from_json(&bad).is_err());
}

#[tokio::test]
async fn version_2_also_binds_the_hcl_user_data() {
    // The capture is v1: its HCL runtime data carries no user-data equal to the nonce, so
    // read as v2 it must fail at exactly that check (after DCAP, binding and quote passed).
    let mut evidence = evidence("evidence-v1.json");
    evidence["version"] = json!(2);
    let err = evaluate_v1(&evidence).await.unwrap_err();
    assert_eq!(err, Error::Vtpm(VtpmError::UserData));
}
