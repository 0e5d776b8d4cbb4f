//! End-to-end tests over the shared CSV samples (`shared/testdata`, csv rows of its README)
//! and negatives made by mutating them at test time.

use std::sync::Arc;

use kbs_types::Tee;
use serde_json::{Value, json};
use sm2::dsa::SigningKey;
use sm2::dsa::signature::Signer;
use sm2::elliptic_curve::sec1::ToSec1Point;

use super::*;
use crate::collateral::hygon::OfflineStore;

use crate::test_support::{cpu_claims, shared};

fn shared_json(path: &str) -> Value {
    serde_json::from_slice(&shared(path)).unwrap()
}

const CSV_RS_REPORT: &str = "wrapped/csv/csv-rs-report.json";
const CSV_RS_REPORT_NO_HSK_CEK: &str = "wrapped/csv/csv-rs-report.no-hsk-cek.json";
const TRUSTEE_EVIDENCE: &str = "evidence/csv/csv_evidence.json";

/// `expected_report_data` of the csv-rs report ("user data", zero padded).
fn csv_rs_report_data() -> ReportData {
    ReportData::Value(
        hex::decode(
            "7573657220646174610000000000000000000000000000000000000000000000\
             0000000000000000000000000000000000000000000000000000000000000000",
        )
        .unwrap(),
    )
}

fn offline_store() -> Arc<OfflineStore> {
    Arc::new(OfflineStore::new(format!(
        "{}/../../../shared/testdata/collateral/csv",
        env!("CARGO_MANIFEST_DIR")
    )))
}

async fn evaluate(csv: &Csv, evidence: &Value, report_data: &ReportData) -> Result<Value, Error> {
    let claims = cpu_claims(csv, evidence, report_data, &InitDataHash::NotProvided).await?;
    Ok(Value::Object(claims))
}

/// Verifies `evidence` (which carries HSK/CEK) against the csv-rs report data.
async fn evaluate_csv_rs(evidence: &Value) -> Result<Value, Error> {
    evaluate(&Csv::new(), evidence, &csv_rs_report_data()).await
}

/// Flips bit 0 of the byte at `pointer` (a JSON pointer to a number).
fn flip(evidence: &mut Value, pointer: &str) {
    let byte = evidence.pointer_mut(pointer).unwrap();
    *byte = json!(byte.as_u64().unwrap() ^ 1);
}

/// A deterministic SM2 key that Hygon never certified.
fn foreign_key(user_id: &str) -> SigningKey {
    SigningKey::from_slice(user_id, &[0x5a; 32]).unwrap()
}

/// Signs `message` and returns `(r, s)` in Hygon's 72-byte little-endian form.
fn sign_le(key: &SigningKey, message: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let signature: sm2::dsa::Signature = key.sign(message);
    (le72(&signature.r_bytes()), le72(&signature.s_bytes()))
}

/// The public key `(x, y)` in Hygon's 72-byte little-endian form.
fn public_le(key: &SigningKey) -> (Vec<u8>, Vec<u8>) {
    let point = key.verifying_key().as_affine().to_sec1_point(false);
    (le72(point.x().unwrap()), le72(point.y().unwrap()))
}

fn le72(big_endian: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = big_endian.iter().rev().copied().collect();
    out.resize(72, 0);
    out
}

fn claims_of_cases_json(claims: &Value, report_data: &str, anonce: &str) {
    assert_eq!(claims["version"], "1");
    assert_eq!(claims["report_data"], report_data);
    assert_eq!(claims["anonce"], anonce);
    assert_eq!(claims["sig_usage"], "02100000");
    assert_eq!(claims["sig_algo"], "04000000");
    assert_eq!(claims["vm_id"], "00000000000000000000000000000000");
    assert_eq!(claims["vm_version"], "00000000000000000000000000000000");
    assert_eq!(
        claims["user_pubkey_digest"],
        "0000000000000000000000000000000000000000000000000000000000000000"
    );
    assert!(claims.get("init_data").is_none());
}

#[tokio::test]
async fn csv_rs_report_verifies_with_its_report_data() {
    let claims = evaluate_csv_rs(&shared_json(CSV_RS_REPORT)).await.unwrap();
    claims_of_cases_json(
        &claims,
        "75736572206461746100000000000000000000000000000000000000000000000000000000000000\
         000000000000000000000000000000000000000000000000",
        "9b429112",
    );
    assert_eq!(
        claims["measure"],
        "1178dadbf826ec7a07444ba358376d81c312cb53d703f9da83b26c1eee2ea052"
    );
    assert_eq!(claims["mnonce"], "67c6697351ff4aec29cdbaabf2fbe346");
    assert_eq!(claims["serial_number"], "NZA9T14052605");
    // policy 0x40000001 (cases.json "policy(raw u32)": 1073741825)
    assert_eq!(
        claims["policy"],
        json!({"nodbg": 1, "noks": 0, "es": 0, "nosend": 0, "domain": 0, "csv": 0, "csv3": 0,
               "asid_reuse": 0, "hsk_version": 0, "cek_version": 0, "api_major": 0,
               "api_minor": 64})
    );
}

#[tokio::test]
async fn short_expected_report_data_is_zero_padded() {
    let claims = evaluate(
        &Csv::new(),
        &shared_json(CSV_RS_REPORT),
        &ReportData::Value(b"user data".to_vec()),
    )
    .await;
    assert!(claims.is_ok(), "{claims:?}");
}

#[tokio::test]
async fn report_data_is_not_checked_when_not_provided() {
    let claims = evaluate(
        &Csv::new(),
        &shared_json(CSV_RS_REPORT),
        &ReportData::NotProvided,
    )
    .await;
    assert!(claims.is_ok(), "{claims:?}");
}

#[tokio::test]
async fn fails_on_wrong_report_data() {
    let err = evaluate(
        &Csv::new(),
        &shared_json(CSV_RS_REPORT),
        &ReportData::Value(b"user datb".to_vec()),
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
async fn report_without_hsk_cek_verifies_with_the_offline_store() {
    let csv = Csv::new().with_hsk_cek_source(offline_store());
    let claims = evaluate(
        &csv,
        &shared_json(CSV_RS_REPORT_NO_HSK_CEK),
        &csv_rs_report_data(),
    )
    .await
    .unwrap();
    assert_eq!(claims["serial_number"], "NZA9T14052605");
    assert_eq!(
        claims["measure"],
        "1178dadbf826ec7a07444ba358376d81c312cb53d703f9da83b26c1eee2ea052"
    );
}

#[tokio::test]
async fn report_without_hsk_cek_fails_clearly_without_a_source() {
    let err = evaluate(
        &Csv::new(),
        &shared_json(CSV_RS_REPORT_NO_HSK_CEK),
        &csv_rs_report_data(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        Error::Csv(CsvError::HskCekUnavailable {
            serial: "NZA9T14052605".into(),
            source: CollateralError::Exhausted { what: "hsk/cek" },
        })
    );
    assert_eq!(
        err.to_string(),
        "hsk/cek of csv chip `NZA9T14052605` unavailable"
    );
}

#[tokio::test]
async fn sources_are_tried_in_order() {
    let empty = Arc::new(OfflineStore::new("/nonexistent/hygon"));
    let csv = Csv::new()
        .with_hsk_cek_source(empty)
        .with_hsk_cek_source(offline_store());
    let claims = evaluate(
        &csv,
        &shared_json(CSV_RS_REPORT_NO_HSK_CEK),
        &csv_rs_report_data(),
    )
    .await;
    assert!(claims.is_ok(), "{claims:?}");
}

#[test]
fn trustee_evidence_parses_and_its_report_signature_verifies() {
    let evidence = CsvEvidence::from_json(&shared_json(TRUSTEE_EVIDENCE)).unwrap();
    assert!(evidence.hsk_cek.is_none());
    assert_eq!(evidence.serial_number.as_str(), "KPA64911240507");
    assert!(evidence.cc_eventlog.is_some());

    // The chip's CEK is not public, so the PEK cannot be chained offline: check the PEK →
    // report signature alone, as the manifest says.
    let pek = VerifiedPek::danger_unchained_for_tests(&evidence.pek);
    let report = verify_report_signature(&evidence.report, &pek).unwrap();
    let claims = CsvClaims::new(report, evidence.serial_number.clone())
        .to_claims()
        .into_value();
    claims_of_cases_json(&claims, &"00".repeat(64), "26d7c75d");
    assert_eq!(
        claims["measure"],
        "ae2a2cf1f41a485fa37bf9ae92f678783c59fbc79de7b5d237743d58f5538034"
    );
    assert_eq!(claims["mnonce"], "ad998a845c45cf30944d1c285629e768");
    assert_eq!(claims["policy"]["nodbg"], 1);
    assert_eq!(claims["policy"]["es"], 1);
    assert_eq!(claims["policy"]["csv3"], 1);
    assert_eq!(claims["serial_number"], "KPA64911240507");

    // The PEK is in the format the chain expects.
    assert_eq!(evidence.pek.check_key(cert::USAGE_PEK), Ok(()));
}

#[tokio::test]
async fn trustee_evidence_fails_because_its_hsk_cek_is_unavailable() {
    let csv = Csv::new().with_hsk_cek_source(offline_store());
    let err = evaluate(
        &csv,
        &shared_json(TRUSTEE_EVIDENCE),
        &ReportData::NotProvided,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        Error::Csv(CsvError::HskCekUnavailable {
            serial: "KPA64911240507".into(),
            source: CollateralError::NotFound {
                what: "hsk/cek",
                source_name: "hygon offline store"
            },
        })
    );
}

#[tokio::test]
async fn fails_on_a_flipped_report_byte() {
    let mut evidence = shared_json(CSV_RS_REPORT);
    flip(&mut evidence, "/attestation_report/data/150"); // inside `measure`
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::BadReportSignature)
    );
}

#[tokio::test]
async fn fails_on_a_flipped_report_signature() {
    let mut evidence = shared_json(CSV_RS_REPORT);
    flip(&mut evidence, "/attestation_report/data/200"); // inside `sig.r`
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::BadReportSignature)
    );
}

#[tokio::test]
async fn fails_when_the_report_names_another_signer() {
    let mut evidence = shared_json(CSV_RS_REPORT);
    flip(&mut evidence, "/attestation_report/data/180"); // `sig_usage`, masked
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::WrongReportSigner {
            field: "sig_usage",
            found: 0x1003,
            expected: 0x1002
        })
    );
}

#[tokio::test]
async fn fails_on_a_flipped_pek_signature() {
    let mut evidence = shared_json(CSV_RS_REPORT);
    flip(&mut evidence, "/cert_chain/pek/sigs/0/signature/r/0");
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::BadCertificateSignature {
            cert: CertRole::Pek,
            issuer: CertRole::Cek
        })
    );
}

#[tokio::test]
async fn fails_on_a_flipped_pek_body_byte() {
    let mut evidence = shared_json(CSV_RS_REPORT);
    flip(&mut evidence, "/cert_chain/pek/body/data/reserved2/7");
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::BadCertificateSignature {
            cert: CertRole::Pek,
            issuer: CertRole::Cek
        })
    );
}

#[tokio::test]
async fn the_owner_signature_slot_does_not_stand_in_for_the_cek() {
    // Relabel the CEK's slot as a second OCA slot: no CEK signature is left.
    let mut evidence = shared_json(CSV_RS_REPORT);
    *evidence
        .pointer_mut("/cert_chain/pek/sigs/0/usage")
        .unwrap() = json!(0x1001);
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::MissingSignature {
            cert: CertRole::Pek,
            issuer: CertRole::Cek
        })
    );
}

#[tokio::test]
async fn fails_when_the_pek_has_another_key_usage() {
    let mut evidence = shared_json(CSV_RS_REPORT);
    *evidence
        .pointer_mut("/cert_chain/pek/body/data/pubkey/usage")
        .unwrap() = json!(0x1004);
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::WrongKeyUsage {
            cert: CertRole::Pek,
            found: 0x1004,
            expected: 0x1002
        })
    );
}

#[tokio::test]
async fn fails_on_a_pek_of_another_chip() {
    // The trustee sample's PEK (chip KPA64911240507) with the csv-rs chip's HSK/CEK.
    let mut evidence = shared_json(CSV_RS_REPORT);
    let other = shared_json(TRUSTEE_EVIDENCE);
    evidence["cert_chain"]["pek"] = other["cert_chain"]["pek"].clone();
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::BadCertificateSignature {
            cert: CertRole::Pek,
            issuer: CertRole::Cek
        })
    );
}

#[tokio::test]
async fn fails_when_the_cek_is_signed_by_another_hsk() {
    // Same CEK body, but the signature is made by a key that is not this HSK.
    let mut evidence = shared_json(CSV_RS_REPORT);
    let cek = CsvEvidence::from_json(&evidence)
        .unwrap()
        .hsk_cek
        .unwrap()
        .cek;
    let (r, s) = sign_le(&foreign_key("HYGON-SSD-HSK"), cek.body());
    let signature = evidence
        .pointer_mut("/cert_chain/hsk_cek/cek/sigs/0/signature")
        .unwrap();
    *signature = json!({"r": r, "s": s});
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::BadCertificateSignature {
            cert: CertRole::Cek,
            issuer: CertRole::Hsk
        })
    );
}

#[tokio::test]
async fn fails_when_the_cek_names_another_hsk() {
    let mut evidence = shared_json(CSV_RS_REPORT);
    flip(&mut evidence, "/cert_chain/hsk_cek/cek/body/data/sid/0");
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::IssuerMismatch {
            cert: CertRole::Cek,
            issuer: CertRole::Hsk
        })
    );
}

#[tokio::test]
async fn fails_when_the_hsk_is_not_signed_by_the_hrk() {
    // An HSK with a foreign key, claiming the HRK as issuer.
    let mut evidence = shared_json(CSV_RS_REPORT);
    let (x, y) = public_le(&foreign_key("HYGON-SSD-HSK"));
    let pubkey = evidence
        .pointer_mut("/cert_chain/hsk_cek/hsk/body/pubkey")
        .unwrap();
    pubkey["x"] = json!(x);
    pubkey["y"] = json!(y);
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::BadCertificateSignature {
            cert: CertRole::Hsk,
            issuer: CertRole::Hrk
        })
    );
}

#[tokio::test]
async fn fails_when_the_hsk_has_another_usage() {
    let mut evidence = shared_json(CSV_RS_REPORT);
    *evidence
        .pointer_mut("/cert_chain/hsk_cek/hsk/body/preamble/data/usage")
        .unwrap() = json!(0);
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::WrongKeyUsage {
            cert: CertRole::Hsk,
            found: 0,
            expected: 0x13
        })
    );
}

#[test]
fn a_chain_to_another_root_fails() {
    // A self-signed "HRK" with a foreign key and Hygon's key id: the real HSK does not verify.
    let key = foreign_key("HYGON-SSD-HRK");
    let (x, y) = public_le(&key);
    let mut root = HRK_CERT.to_vec();
    root[68..140].copy_from_slice(&x);
    root[140..212].copy_from_slice(&y);
    let (r, s) = sign_le(&key, &root[..576]);
    root[576..648].copy_from_slice(&r);
    root[648..720].copy_from_slice(&s);
    let root = CaCertificate::parse(&root, CertRole::Hrk).unwrap();
    assert_eq!(root.verify_issued_by(&root, cert::USAGE_HRK), Ok(()));

    let evidence = CsvEvidence::from_json(&shared_json(CSV_RS_REPORT)).unwrap();
    let hsk_cek = evidence.hsk_cek.unwrap();
    assert_eq!(
        chain::verify_pek_chain_to(&root, &hsk_cek, &evidence.pek),
        Err(CsvError::BadCertificateSignature {
            cert: CertRole::Hsk,
            issuer: CertRole::Hrk
        })
    );
    assert!(verify_pek_chain(&hsk_cek, &evidence.pek).is_ok());
}

#[tokio::test]
async fn corrupt_offline_pair_is_rejected_by_name() {
    struct Truncating;
    #[async_trait]
    impl HskCekSource for Truncating {
        async fn hsk_cek(&self, _: &ChipSerial) -> Result<Vec<u8>, CollateralError> {
            Ok(vec![0; 900])
        }
    }
    let csv = Csv::new().with_hsk_cek_source(Arc::new(Truncating));
    let err = evaluate(
        &csv,
        &shared_json(CSV_RS_REPORT_NO_HSK_CEK),
        &csv_rs_report_data(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        Error::Csv(CsvError::UnsupportedCertificateVersion {
            cert: CertRole::Hsk,
            version: 0
        })
    );
}

#[tokio::test]
async fn evidence_with_a_path_in_its_serial_is_rejected() {
    let mut evidence = shared_json(CSV_RS_REPORT_NO_HSK_CEK);
    let mut serial = vec![0u8; 64];
    serial[..6].copy_from_slice(b"../etc");
    evidence["serial_number"] = json!(serial);
    let csv = Csv::new().with_hsk_cek_source(offline_store());
    assert_eq!(
        evaluate(&csv, &evidence, &csv_rs_report_data())
            .await
            .unwrap_err(),
        Error::Csv(CsvError::InvalidSerialNumber)
    );
}

#[tokio::test]
async fn evidence_with_a_short_report_page_is_malformed() {
    let mut evidence = shared_json(CSV_RS_REPORT);
    evidence["attestation_report"]["data"]
        .as_array_mut()
        .unwrap()
        .pop();
    assert!(matches!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::MalformedEvidence { tee: Tee::Csv, .. }
    ));
}

#[test]
fn config_selects_the_offline_store() {
    let table = json!({"hsk_cek_sources": [{"type": "OfflineStore", "path": "/srv/hygon"}]});
    let csv = Csv::from_config(table.as_object()).unwrap();
    assert_eq!(csv.hsk_cek_sources.len(), 1);
    assert_eq!(Csv::from_config(None).unwrap().hsk_cek_sources.len(), 1);
    let none = json!({"hsk_cek_sources": []});
    assert!(
        Csv::from_config(none.as_object())
            .unwrap()
            .hsk_cek_sources
            .is_empty()
    );

    for bad in [
        json!({"hsk_cek_source": []}),
        json!({"hsk_cek_sources": [{"type": "Kds"}]}),
        json!({"hsk_cek_sources": [{"type": "OfflineStore", "dir": "/x"}]}),
    ] {
        assert!(
            matches!(
                Csv::from_config(bad.as_object()),
                Err(Error::Csv(CsvError::Config { .. }))
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn registry_builds_csv_from_verifier_config() {
    let config: crate::VerifierConfig = serde_json::from_value(json!({
        "csv_verifier": {"hsk_cek_sources": [{
            "type": "OfflineStore",
            "path": format!("{}/../../../shared/testdata/collateral/csv", env!("CARGO_MANIFEST_DIR"))
        }]}
    }))
    .unwrap();
    let verifier = crate::verifier_for(Tee::Csv, &config).unwrap();
    let entries = verifier
        .evaluate(
            &shared_json(CSV_RS_REPORT_NO_HSK_CEK),
            &csv_rs_report_data(),
            &InitDataHash::NotProvided,
        )
        .await
        .unwrap();
    assert_eq!(entries[0].1, TeeClass::Cpu);
}

#[test]
fn v2_report_signature_covers_the_rtmrs() {
    // Firmware with extended reports is not in any public sample: sign one with a test PEK.
    let key = foreign_key("HYGON-SSD-PEK");
    let (x, y) = public_le(&key);
    let mut evidence = shared_json(CSV_RS_REPORT);
    evidence["cert_chain"]["pek"]["body"]["data"]["pubkey"]["key"]["x"] = json!(x);
    evidence["cert_chain"]["pek"]["body"]["data"]["pubkey"]["key"]["y"] = json!(y);
    let mut data = vec![0u8; 4096];
    data[64..73].copy_from_slice(b"user data");
    data[176..180].copy_from_slice(&0x45u32.to_le_bytes());
    data[180..184].copy_from_slice(&cert::USAGE_PEK.to_le_bytes());
    data[184..188].copy_from_slice(&cert::ALGO_SM2_SA.to_le_bytes());
    data[188..192].copy_from_slice(&3u32.to_le_bytes());
    data[192..194].copy_from_slice(&1u16.to_le_bytes());
    data[208 + 32..208 + 64].fill(0x11); // rtmr1
    let (r, s) = sign_le(&key, &data[..1024]);
    data[1024..1096].copy_from_slice(&r);
    data[1096..1168].copy_from_slice(&s);
    evidence["attestation_report"] = json!({
        "magic": report::ATTESTATION_EXT_MAGIC,
        "flags": 1,
        "data": data,
    });

    let parsed = CsvEvidence::from_json(&evidence).unwrap();
    let pek = VerifiedPek::danger_unchained_for_tests(&parsed.pek);
    let verified = verify_report_signature(&parsed.report, &pek).unwrap();
    let claims = CsvClaims::new(verified, parsed.serial_number.clone())
        .to_claims()
        .into_value();
    assert_eq!(claims["version"], "2");
    assert_eq!(claims["build"], 3);
    assert_eq!(claims["rtmr_version"], 1);
    assert_eq!(claims["rtmr1"], "11".repeat(32));
    assert_eq!(claims["rtmr0"], "00".repeat(32));
    assert!(claims.get("anonce").is_none());
    assert_eq!(claims["policy"]["nodbg"], 1);

    // Flip one RTMR byte: the signature must fail.
    flip(
        &mut evidence,
        &format!("/attestation_report/data/{}", 208 + 40),
    );
    let parsed = CsvEvidence::from_json(&evidence).unwrap();
    assert_eq!(
        verify_report_signature(&parsed.report, &pek),
        Err(CsvError::BadReportSignature)
    );
}

#[tokio::test]
async fn fails_when_the_hsk_names_another_root() {
    let mut evidence = shared_json(CSV_RS_REPORT);
    flip(
        &mut evidence,
        "/cert_chain/hsk_cek/hsk/body/preamble/data/sid/3",
    );
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::IssuerMismatch {
            cert: CertRole::Hsk,
            issuer: CertRole::Hrk
        })
    );
}

#[tokio::test]
async fn fails_when_the_cek_has_another_key_usage() {
    let mut evidence = shared_json(CSV_RS_REPORT);
    *evidence
        .pointer_mut("/cert_chain/hsk_cek/cek/body/data/pubkey/usage")
        .unwrap() = json!(0x1002);
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::WrongKeyUsage {
            cert: CertRole::Cek,
            found: 0x1002,
            expected: 0x1004
        })
    );
}

#[tokio::test]
async fn fails_when_a_key_or_signature_is_not_sm2() {
    let cases = [
        (
            "/cert_chain/pek/body/data/pubkey/algo",
            CsvError::NotSm2 {
                cert: CertRole::Pek,
                field: "algorithm",
                found: 1,
                expected: 4,
            },
        ),
        (
            "/cert_chain/pek/sigs/0/algo",
            CsvError::NotSm2 {
                cert: CertRole::Pek,
                field: "signature algorithm",
                found: 1,
                expected: 4,
            },
        ),
        (
            "/cert_chain/hsk_cek/cek/sigs/0/algo",
            CsvError::NotSm2 {
                cert: CertRole::Cek,
                field: "signature algorithm",
                found: 1,
                expected: 4,
            },
        ),
    ];
    for (pointer, expected) in cases {
        let mut evidence = shared_json(CSV_RS_REPORT);
        *evidence.pointer_mut(pointer).unwrap() = json!(1);
        assert_eq!(
            evaluate_csv_rs(&evidence).await.unwrap_err(),
            Error::Csv(expected),
            "{pointer}"
        );
    }
}

#[tokio::test]
async fn fails_when_the_report_names_another_algorithm() {
    let mut evidence = shared_json(CSV_RS_REPORT);
    flip(&mut evidence, "/attestation_report/data/184"); // `sig_algo`, masked
    assert_eq!(
        evaluate_csv_rs(&evidence).await.unwrap_err(),
        Error::Csv(CsvError::WrongReportSigner {
            field: "sig_algo",
            found: 5,
            expected: 4
        })
    );
}

#[tokio::test]
async fn v1_claims_have_exactly_upstreams_keys() {
    let claims = evaluate_csv_rs(&shared_json(CSV_RS_REPORT)).await.unwrap();
    let mut keys: Vec<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "anonce",
            "measure",
            "mnonce",
            "policy",
            "report_data",
            "serial_number",
            "sig_algo",
            "sig_usage",
            "user_pubkey_digest",
            "version",
            "vm_id",
            "vm_version"
        ]
    );
    let mut policy: Vec<&str> = claims["policy"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    policy.sort_unstable();
    assert_eq!(
        policy,
        [
            "api_major",
            "api_minor",
            "asid_reuse",
            "cek_version",
            "csv",
            "csv3",
            "domain",
            "es",
            "hsk_version",
            "nodbg",
            "noks",
            "nosend"
        ]
    );
}
