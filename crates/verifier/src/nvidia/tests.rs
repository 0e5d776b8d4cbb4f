//! NVIDIA verifier tests on trustee's Hopper samples (shared test data, manifest rows
//! `nvidia/*`), at the manifest's verification time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::FixedClock;
use crate::test_support::shared;

/// The manifest's verification time, 2025-06-01T00:00:00Z.
const VERIFICATION_TIME: u64 = 1_748_736_000;
/// hopper_case1's nonce (its expected report data).
const CASE1_NONCE: &str = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb";

fn wrapped(name: &str) -> Value {
    serde_json::from_slice(&shared(&format!("wrapped/nvidia/{name}.json"))).unwrap()
}

fn report_data(hex_text: &str) -> ReportData {
    ReportData::Value(hex::decode(hex_text).unwrap())
}

fn nvidia() -> Nvidia {
    Nvidia::new(Arc::new(FixedClock(VERIFICATION_TIME)))
}

async fn evaluate(
    evidence: &Value,
    expected: &ReportData,
) -> Result<Vec<(TeeEvidenceClaims, TeeClass)>, Error> {
    nvidia()
        .evaluate(evidence, expected, &InitDataHash::NotProvided)
        .await
}

async fn evaluate_err(evidence: &Value, expected: &ReportData) -> NvidiaError {
    match evaluate(evidence, expected).await {
        Err(Error::Nvidia(err)) => err,
        other => panic!("expected an nvidia error, got {other:?}"),
    }
}

/// The first device's field `field` (a string) of `evidence`, for mutation.
fn field_mut<'a>(evidence: &'a mut Value, field: &str) -> &'a mut Value {
    &mut evidence["device_evidence_list"][0][field]
}

/// `evidence` with its first device's report bytes changed by `edit`.
fn with_report(evidence: &Value, edit: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut evidence = evidence.clone();
    let slot = field_mut(&mut evidence, "evidence");
    let mut bytes = hex::decode(slot.as_str().unwrap()).unwrap();
    edit(&mut bytes);
    *slot = Value::String(hex::encode(bytes));
    evidence
}

/// `evidence` with its first device's chain replaced by the PEM file `rel`.
fn with_chain(evidence: &Value, pem_text: &[u8]) -> Value {
    let mut evidence = evidence.clone();
    *field_mut(&mut evidence, "certificate") = Value::String(STANDARD.encode(pem_text));
    evidence
}

/// Byte offsets inside hopper_case1's report (request 37 bytes, response header 8, 64
/// blocks of 55 bytes).
const FIRST_MEASUREMENT_VALUE: usize = 37 + 8 + 7;

/// Every manifest row for nvidia: passes verify with its claims, failures fail.
#[tokio::test]
async fn manifest_cases_verify_at_the_manifest_time() {
    let manifest: Value = serde_json::from_slice(&shared("cases.json")).unwrap();
    let cases: Vec<&Value> = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| case["tee"] == "nvidia")
        .collect();
    assert_eq!(cases.len(), 5);
    for case in cases {
        assert_eq!(case["verification_time"], "2025-06-01T00:00:00Z");
        let evidence: Value =
            serde_json::from_slice(&shared(case["evidence"].as_str().unwrap())).unwrap();
        let expected = report_data(case["expected_report_data"].as_str().unwrap());
        let result = evaluate(&evidence, &expected).await;
        let id = case["id"].as_str().unwrap();
        if case["expect"] == "fail" {
            assert!(result.is_err(), "{id} must fail");
            continue;
        }
        let entries = result.unwrap_or_else(|err| panic!("{id}: {err}"));
        assert_eq!(entries.len(), 1, "{id}");
        let (claims, class) = &entries[0];
        assert_eq!(*class, TeeClass::Gpu);
        let claims = claims.as_map();
        for (path, value) in case["claims"].as_object().unwrap() {
            let found = match path.as_str() {
                "nonce" => claims["report_data"].clone(),
                "measurements.count" => json!(claims["measurements"].as_object().unwrap().len()),
                path => {
                    let (outer, inner) = path.split_once('.').unwrap_or((path, ""));
                    if inner.is_empty() {
                        claims[outer].clone()
                    } else {
                        claims[outer][inner].clone()
                    }
                }
            };
            assert_eq!(&found, value, "{id}: claim {path}");
        }
    }
}

/// hopper_case1 yields trustee's golden claims exactly (with the upstream test's uuid), plus
/// the `report_data` the attestation service lifts out.
#[tokio::test]
async fn case1_claims_are_trustees_golden_claims() {
    let mut evidence = wrapped("hopper_case1");
    *field_mut(&mut evidence, "uuid") = json!("1111-2222-33333-444444-555555");
    let entries = evaluate(&evidence, &report_data(CASE1_NONCE))
        .await
        .unwrap();
    let mut claims = entries[0].0.clone().into_map();
    assert_eq!(claims.remove("report_data"), Some(json!(CASE1_NONCE)));
    let golden: Value = serde_json::from_slice(&shared(
        "evidence/nvidia/hopperAttestationReport-claims.txt",
    ))
    .unwrap();
    assert_eq!(Value::Object(claims), golden);
}

/// The coco sample's report data is a 48-byte SHA-384 digest: its first 32 bytes are the nonce.
#[tokio::test]
async fn coco1_binds_the_truncated_digest_and_ignores_one_trailing_byte() {
    let evidence = wrapped("hopper_coco1");
    let digest = "87d8e24ab336adafe228d49e83d745f6dba4ae505372b6a5704820856b343fec\
                  e279b616efefc2aae21da80cf5581250";
    let entries = evaluate(&evidence, &report_data(digest)).await.unwrap();
    let claims = entries[0].0.as_map();
    assert_eq!(claims["config"]["driver_version"], "580.95.05");
    assert_eq!(claims["config"]["opaque_data_version"], 1);
    assert_eq!(claims["config"]["feature_flag"], "SPT");

    // A second trailing byte is refused.
    let longer = with_report(&evidence, |bytes| bytes.push(0));
    assert_eq!(
        evaluate_err(&longer, &report_data(digest)).await,
        NvidiaError::TrailingBytes {
            device: 0,
            count: 2
        }
    );
}

#[tokio::test]
async fn report_data_not_provided_skips_only_the_nonce_check() {
    let evidence = wrapped("hopper_case1");
    let entries = evaluate(&evidence, &ReportData::NotProvided).await.unwrap();
    assert_eq!(entries[0].0.as_map()["report_data"], CASE1_NONCE);
    // A short expected value is zero-padded to 32 bytes, so it does not match.
    let short = ReportData::Value(hex::decode(&CASE1_NONCE[..62]).unwrap());
    assert_eq!(
        evaluate_err(&evidence, &short).await,
        NvidiaError::NonceMismatch { device: 0 }
    );
}

#[tokio::test]
async fn wrong_nonce_fails_the_nonce_check() {
    let mut nonce = hex::decode(CASE1_NONCE).unwrap();
    nonce[31] ^= 1;
    assert_eq!(
        evaluate_err(&wrapped("hopper_case1"), &ReportData::Value(nonce)).await,
        NvidiaError::NonceMismatch { device: 0 }
    );
}

#[tokio::test]
async fn flipped_signature_byte_fails_the_report_signature() {
    let evidence = with_report(&wrapped("hopper_case1"), |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
    });
    assert_eq!(
        evaluate_err(&evidence, &report_data(CASE1_NONCE)).await,
        NvidiaError::ReportSignature { device: 0 }
    );
}

#[tokio::test]
async fn flipped_measurement_byte_fails_the_report_signature() {
    let evidence = with_report(&wrapped("hopper_case1"), |bytes| {
        bytes[FIRST_MEASUREMENT_VALUE] ^= 1;
    });
    assert_eq!(
        evaluate_err(&evidence, &report_data(CASE1_NONCE)).await,
        NvidiaError::ReportSignature { device: 0 }
    );
}

#[tokio::test]
async fn broken_chains_fail_naming_the_check() {
    let evidence = wrapped("hopper_case1");
    let expected = report_data(CASE1_NONCE);
    let chain = |n: u8| shared(&format!("evidence/nvidia/hopper_cert_chain_case{n}.txt"));
    // Root only.
    assert_eq!(
        evaluate_err(&with_chain(&evidence, &chain(2)), &expected).await,
        NvidiaError::ChainLength {
            device: 0,
            len: 1,
            max: MAX_CHAIN_LEN
        }
    );
    // The provisioner ICA is missing: BROM's issuer is not the next certificate.
    assert_eq!(
        evaluate_err(&with_chain(&evidence, &chain(3)), &expected).await,
        NvidiaError::CertificateIssuer { device: 0, cert: 1 }
    );
    // A chain that is valid up to the root but whose "leaf" is the BROM CA, which did not
    // sign the report: its key usage (keyCertSign only) already refuses it as a signer,
    // before the report signature (which it does not verify) is tried.
    assert_eq!(
        evaluate_err(&with_chain(&evidence, &chain(4)), &expected).await,
        NvidiaError::CertificateConstraint {
            device: 0,
            cert: 0,
            constraint: "key_usage"
        }
    );
    // A valid chain of another GPU: its leaf did not sign this report.
    let other_gpu = shared("evidence/nvidia/hopper_coco_certs1.txt");
    assert_eq!(
        evaluate_err(&with_chain(&evidence, &other_gpu), &expected).await,
        NvidiaError::ReportSignature { device: 0 }
    );
    // The manifest's wrapped failure cases fail the same way.
    assert_eq!(
        evaluate_err(&wrapped("hopper_case3"), &expected).await,
        NvidiaError::CertificateIssuer { device: 0, cert: 1 }
    );
}

#[tokio::test]
async fn flipped_certificate_signature_byte_fails_that_certificate() {
    let text = String::from_utf8(shared("evidence/nvidia/hopper_cert_chain_case1.txt")).unwrap();
    let mut blocks = pem::parse_many(&text).unwrap();
    let der = blocks[2].contents().to_vec();
    let mut flipped = der.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    blocks[2] = pem::Pem::new("CERTIFICATE", flipped);
    let evidence = with_chain(
        &wrapped("hopper_case1"),
        pem::encode_many(&blocks).as_bytes(),
    );
    assert_eq!(
        evaluate_err(&evidence, &report_data(CASE1_NONCE)).await,
        NvidiaError::CertificateSignature { device: 0, cert: 2 }
    );
}

#[tokio::test]
async fn chain_not_ending_in_the_embedded_root_is_untrusted() {
    let evidence = wrapped("hopper_case1");
    let expected = report_data(CASE1_NONCE);
    // The chain without its root ends in the GH100 identity CA.
    let text = String::from_utf8(shared("evidence/nvidia/hopper_cert_chain_case1.txt")).unwrap();
    let mut blocks = pem::parse_many(&text).unwrap();
    blocks.pop();
    let cut = with_chain(&evidence, pem::encode_many(&blocks).as_bytes());
    assert_eq!(
        evaluate_err(&cut, &expected).await,
        NvidiaError::UntrustedRoot { device: 0 }
    );

    // The full chain against another pinned root (here NVIDIA's own intermediate).
    let other_root = DeviceCert::parse(blocks[3].contents().to_vec(), 0, 0).unwrap();
    assert_eq!(
        verify(&evidence, &expected, &other_root, VERIFICATION_TIME).err(),
        Some(NvidiaError::UntrustedRoot { device: 0 })
    );
}

#[tokio::test]
async fn certificates_are_checked_at_the_clock_time() {
    // 2021-01-01: the leaf and BROM (from 2020-10-17) are valid, the provisioner ICA (from
    // 2022-03-01) is not yet.
    let early = Nvidia::new(Arc::new(FixedClock(1_609_459_200)));
    let err = early
        .evaluate(
            &wrapped("hopper_case1"),
            &report_data(CASE1_NONCE),
            &InitDataHash::NotProvided,
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            Error::Nvidia(NvidiaError::CertificateValidity {
                device: 0,
                cert: 2,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn fwid_mismatch_and_missing_fwid_extension_fail() {
    let evidence = wrapped("hopper_case1");
    let device = &evidence["device_evidence_list"][0];
    let raw = hex::decode(device["evidence"].as_str().unwrap()).unwrap();
    let mut report = SpdmReport::parse(raw, 0).unwrap();
    let chain = decode_chain(device["certificate"].as_str().unwrap(), 0).unwrap();
    let root = embedded_root().unwrap();
    let leaf = verify_chain(&chain, root, VERIFICATION_TIME, 0).unwrap();
    assert_eq!(check_report(&report, &leaf, 0), Ok(()));

    // A report whose opaque FWID is not the leaf's (the signature is checked first, so the
    // parsed value is changed after parsing).
    report.fwid[0] ^= 1;
    assert_eq!(
        check_report(&report, &leaf, 0),
        Err(NvidiaError::FwidMismatch { device: 0 })
    );
    report.fwid[0] ^= 1;

    // A signing leaf without the DICE extension.
    let leaf = VerifiedLeaf { fwid: None, ..leaf };
    assert_eq!(
        check_report(&report, &leaf, 0),
        Err(NvidiaError::FwidExtension { device: 0 })
    );
}

#[test]
fn every_truncation_fails_without_panicking() {
    let evidence = wrapped("hopper_case1");
    let raw = hex::decode(
        evidence["device_evidence_list"][0]["evidence"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    for len in 0..raw.len() {
        let err = SpdmReport::parse(raw[..len].to_vec(), 0).unwrap_err();
        assert!(
            matches!(err, NvidiaError::Truncated { .. }),
            "{len}: {err:?}"
        );
    }
    assert!(SpdmReport::parse(raw, 0).is_ok());
}

#[tokio::test]
async fn truncated_certificates_and_records_fail_naming_the_structure() {
    let evidence = wrapped("hopper_case1");
    let expected = report_data(CASE1_NONCE);
    // A DER certificate cut short.
    let text = String::from_utf8(shared("evidence/nvidia/hopper_cert_chain_case1.txt")).unwrap();
    let mut blocks = pem::parse_many(&text).unwrap();
    let der = blocks[0].contents()[..200].to_vec();
    blocks[0] = pem::Pem::new("CERTIFICATE", der);
    let cut = with_chain(&evidence, pem::encode_many(&blocks).as_bytes());
    assert_eq!(
        evaluate_err(&cut, &expected).await,
        NvidiaError::CertificateMalformed { device: 0, cert: 0 }
    );

    // One block fewer than declared: the record length is then one block short.
    let fewer = with_report(&evidence, |bytes| bytes[37 + 4] = 63);
    assert!(matches!(
        evaluate_err(&fewer, &expected).await,
        NvidiaError::MeasurementRecord { reason, .. } if reason.contains("follow the 63 declared blocks")
    ));
    // A record length past the end of the report.
    let long = with_report(&evidence, |bytes| bytes[37 + 7] = 0x10);
    assert_eq!(
        evaluate_err(&long, &expected).await,
        NvidiaError::Truncated {
            device: 0,
            structure: "measurement record"
        }
    );
}

#[tokio::test]
async fn spdm_headers_are_checked() {
    let evidence = wrapped("hopper_case1");
    let expected = report_data(CASE1_NONCE);
    let version = with_report(&evidence, |bytes| bytes[0] = 0x12);
    assert!(matches!(
        evaluate_err(&version, &expected).await,
        NvidiaError::SpdmHeader {
            message: "request",
            field: "version",
            found: 0x12,
            ..
        }
    ));
    let code = with_report(&evidence, |bytes| bytes[37 + 1] = 0x61);
    assert!(matches!(
        evaluate_err(&code, &expected).await,
        NvidiaError::SpdmHeader {
            message: "response",
            field: "code",
            ..
        }
    ));
    let unsigned = with_report(&evidence, |bytes| bytes[2] = 0);
    assert_eq!(
        evaluate_err(&unsigned, &expected).await,
        NvidiaError::UnsignedRequest { device: 0 }
    );
    let spec = with_report(&evidence, |bytes| bytes[37 + 8 + 1] = 0x02);
    assert!(matches!(
        evaluate_err(&spec, &expected).await,
        NvidiaError::MeasurementRecord { reason, .. } if reason.contains("not dmtf")
    ));
}

#[tokio::test]
async fn evidence_shape_and_encodings_are_checked() {
    let evidence = wrapped("hopper_case1");
    let expected = report_data(CASE1_NONCE);
    assert!(matches!(
        evaluate_err(&json!({"devices": []}), &expected).await,
        NvidiaError::EvidenceJson { .. }
    ));
    assert_eq!(
        evaluate_err(&json!({"device_evidence_list": []}), &expected).await,
        NvidiaError::DeviceCount {
            count: 0,
            max: MAX_DEVICES
        }
    );
    let many = json!({"device_evidence_list": vec![evidence["device_evidence_list"][0].clone(); MAX_DEVICES + 1]});
    assert!(matches!(
        evaluate_err(&many, &expected).await,
        NvidiaError::DeviceCount { .. }
    ));

    let mut blackwell = evidence.clone();
    *field_mut(&mut blackwell, "arch") = json!("BLACKWELL");
    assert_eq!(
        evaluate_err(&blackwell, &expected).await,
        NvidiaError::UnsupportedArch {
            device: 0,
            arch: "BLACKWELL".into()
        }
    );

    let mut garbage = evidence.clone();
    *field_mut(&mut garbage, "evidence") = json!("zz not hex");
    assert_eq!(
        evaluate_err(&garbage, &expected).await,
        NvidiaError::EvidenceEncoding { device: 0 }
    );
    let mut huge = evidence.clone();
    *field_mut(&mut huge, "evidence") = json!("0".repeat(MAX_EVIDENCE_TEXT + 2));
    assert!(matches!(
        evaluate_err(&huge, &expected).await,
        NvidiaError::TooLarge {
            field: "evidence",
            ..
        }
    ));
    let mut not_pem = evidence.clone();
    *field_mut(&mut not_pem, "certificate") = json!(STANDARD.encode("no certificates here"));
    assert!(matches!(
        evaluate_err(&not_pem, &expected).await,
        NvidiaError::ChainLength { len: 0, .. }
    ));
    let mut key_block = evidence.clone();
    *field_mut(&mut key_block, "certificate") =
        json!(STANDARD.encode(pem::encode(&pem::Pem::new("PRIVATE KEY", vec![1, 2, 3]))));
    assert_eq!(
        evaluate_err(&key_block, &expected).await,
        NvidiaError::CertificateEncoding { device: 0 }
    );
}

/// Base64 evidence verifies like hex; several devices yield one `gpu` entry each, in order;
/// a failing second device fails the whole evidence and is named.
#[tokio::test]
async fn devices_are_verified_in_list_order() {
    let evidence = wrapped("hopper_case1");
    let expected = report_data(CASE1_NONCE);
    let mut first = evidence["device_evidence_list"][0].clone();
    first["uuid"] = json!("GPU-first");
    let mut second = first.clone();
    second["uuid"] = json!("GPU-second");
    let raw = hex::decode(second["evidence"].as_str().unwrap()).unwrap();
    second["evidence"] = json!(STANDARD.encode(raw));
    let both = json!({"device_evidence_list": [first, second]});
    let entries = evaluate(&both, &expected).await.unwrap();
    let uuids: Vec<&Value> = entries
        .iter()
        .map(|(claims, _)| &claims.as_map()["uuid"])
        .collect();
    assert_eq!(uuids, ["GPU-first", "GPU-second"]);
    assert!(entries.iter().all(|(_, class)| *class == TeeClass::Gpu));

    let mut broken = both.clone();
    broken["device_evidence_list"][1]["arch"] = json!("LS10");
    assert!(matches!(
        evaluate_err(&broken, &expected).await,
        NvidiaError::UnsupportedArch { device: 1, .. }
    ));
}

#[test]
fn embedded_root_is_the_published_root() {
    assert_eq!(
        NVIDIA_DEVICE_ROOT_PEM.as_bytes(),
        shared("collateral/nvidia/nvidia_device_root.pem")
    );
    assert!(embedded_root().is_ok());
}

#[tokio::test]
async fn registry_creates_the_verifier_with_the_context_clock() {
    let context = crate::VerifierContext::new().with_clock(Arc::new(FixedClock(VERIFICATION_TIME)));
    let verifier = crate::verifier_for_with(
        kbs_types::Tee::Nvidia,
        &crate::VerifierConfig::default(),
        &context,
    )
    .unwrap();
    let entries = verifier
        .evaluate(
            &wrapped("hopper_case1"),
            &report_data(CASE1_NONCE),
            &InitDataHash::NotProvided,
        )
        .await
        .unwrap();
    assert_eq!(entries[0].1, TeeClass::Gpu);
}
