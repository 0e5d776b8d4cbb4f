//! End-to-end tests of the `snp` verifier on the shared test data (`shared/testdata`, manifest
//! `cases.json`), at the manifest's verification time, and negatives made by mutating the good
//! inputs.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;
use crate::FixedClock;
use crate::collateral::amd::OfflineStore;

use crate::test_support::cpu_claims;
use crate::test_support::shared_path as testdata;

fn read_json(rel: &str) -> Value {
    let text = std::fs::read_to_string(testdata(rel)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read_bytes(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(rel)).unwrap()
}

/// 2025-06-01T00:00:00Z, the manifest's verification time for every snp case.
const MANIFEST_TIME: u64 = 1_748_736_000;

const TEST_REPORT: &str = "wrapped/snp/test-report.json";
const VLEK_REPORT: &str = "wrapped/snp/test-vlek-report.json";
const E2E: &str = "evidence/snp/e2e/evidence.json";
const E2E_NO_CHAIN: &str = "wrapped/snp/e2e-evidence.no-cert-chain.json";
const MILAN_VCEK: &str = "evidence/snp/test-vcek.der";
const GENOA_VCEK: &str = "collateral/amd/kds-store/vcek/371c55d6d15cb50f16dc31d39a24e300caaabff4431e841111429b73ec45ad67ea6e687ffae7bf84b54a5d0e6d79b3ef6ff0bd8b4cff94c2163af5c5de8718e8/bl10_tee00_snp23_ucode25_vcek.der";

fn case(id: &str) -> Value {
    let cases = read_json("cases.json");
    cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|case| case["id"] == id)
        .unwrap_or_else(|| panic!("case {id}"))
        .clone()
}

fn expected_report_data(case: &Value) -> ReportData {
    match case["expected_report_data"].as_str() {
        Some(hex) => ReportData::Value(hex::decode(hex).unwrap()),
        None => ReportData::NotProvided,
    }
}

fn offline_verifier(now: u64) -> Snp {
    let store: Arc<dyn VcekSource> =
        Arc::new(OfflineStore::new(testdata("collateral/amd/kds-store")));
    Snp::new(vec![store], Arc::new(FixedClock(now)))
}

async fn evaluate(
    verifier: &Snp,
    evidence: &Value,
    report_data: &ReportData,
) -> Result<Value, Error> {
    let claims = cpu_claims(verifier, evidence, report_data, &InitDataHash::NotProvided).await?;
    Ok(Value::Object(claims))
}

/// Runs a manifest case as the manifest describes it.
async fn run_case(id: &str) -> Result<Value, Error> {
    let case = case(id);
    let evidence = read_json(case["evidence"].as_str().unwrap());
    evaluate(
        &offline_verifier(MANIFEST_TIME),
        &evidence,
        &expected_report_data(&case),
    )
    .await
}

fn report_of(evidence_rel: &str) -> AttestationReport {
    AttestationReport::from_json(&read_json(evidence_rel)["attestation_report"]).unwrap()
}

fn vek_of(evidence: &Value) -> Vec<u8> {
    serde_json::from_value(evidence["cert_chain"][0]["data"].clone()).unwrap()
}

fn verify_at(
    report: &AttestationReport,
    vek_der: &[u8],
    report_data: &ReportData,
    init_data_hash: &InitDataHash,
    now: u64,
) -> Result<SnpClaims, Error> {
    let expected = Expected {
        report_data,
        init_data_hash,
    };
    verify(
        report,
        vek_der,
        &expected,
        AmdRoots::embedded().unwrap(),
        now,
    )
}

// ---- every manifest case ----

#[tokio::test]
async fn every_passing_manifest_case_verifies_with_the_manifest_claims() {
    let cases = read_json("cases.json");
    let mut ran = 0;
    for case in cases["cases"].as_array().unwrap() {
        if case["tee"] != "snp" || case["expect"] != "pass" {
            continue;
        }
        let id = case["id"].as_str().unwrap();
        assert_eq!(case["verification_time"], "2025-06-01T00:00:00Z", "{id}");
        let claims = run_case(id)
            .await
            .unwrap_or_else(|err| panic!("{id}: {err}"));
        assert_eq!(claims, case["claims"], "{id}");
        ran += 1;
    }
    assert_eq!(
        ran, 3,
        "test-report, e2e-evidence, e2e-evidence.no-cert-chain"
    );
}

#[tokio::test]
async fn vlek_case_fails_on_vmpl_after_chain_and_signature_verify() {
    let err = run_case("snp/test-vlek-report").await.unwrap_err();
    assert_eq!(err, Error::Snp(SnpError::Vmpl { vmpl: 1 }));

    // What the manifest says still verifies: VLEK -> ASVK -> ARK, TCB, signature.
    let evidence = read_json(VLEK_REPORT);
    let report = AttestationReport::from_json(&evidence["attestation_report"]).unwrap();
    let roots = AmdRoots::embedded().unwrap().product(Product::Milan);
    let vek = verify_vek_chain(roots, &vek_of(&evidence), MANIFEST_TIME).unwrap();
    assert_eq!(vek.kind(), CertRole::Vlek);
    assert_eq!(vek.hwid(), None);
    check_hwid(&report, &vek).unwrap();
    check_tcb(&report, &vek).unwrap();
    verify_report_signature(&report, &vek).unwrap();
    assert_eq!(
        serde_json::to_value(SnpClaims::from_report(&report)).unwrap(),
        case("snp/test-vlek-report")["claims"]
    );
}

#[tokio::test]
async fn vlek_is_refused_after_it_expired() {
    // 2025-12-10T22:14:22Z, one second after the VLEK's notAfter.
    let evidence = read_json(VLEK_REPORT);
    let roots = AmdRoots::embedded().unwrap().product(Product::Milan);
    let err = verify_vek_chain(roots, &vek_of(&evidence), 1_765_404_862).unwrap_err();
    assert_eq!(
        err,
        SnpError::CertificateValidity {
            cert: CertRole::Vlek,
            now: 1_765_404_862,
            not_before: 1_733_868_861,
            not_after: 1_765_404_861,
        }
    );
    assert!(verify_vek_chain(roots, &vek_of(&evidence), 1_765_404_861).is_ok());
}

// ---- parsing ----

#[test]
fn json_reports_reencode_to_the_abi_bytes() {
    for (json, bin) in [
        (TEST_REPORT, "evidence/snp/test-report.bin"),
        (VLEK_REPORT, "evidence/snp/test-vlek-report.bin"),
    ] {
        let from_json = report_of(json);
        let from_bytes = AttestationReport::from_bytes(&read_bytes(bin)).unwrap();
        assert_eq!(from_json.as_bytes()[..], read_bytes(bin)[..], "{json}");
        assert_eq!(from_json, from_bytes, "{json}");
    }
}

#[test]
fn parses_report_fields() {
    let report = report_of(E2E);
    assert_eq!(report.version, 3);
    assert_eq!(
        report.cpuid,
        Some(Cpuid {
            family: 0x19,
            model: 0xA0,
            stepping: 2
        })
    );
    assert_eq!(report.product(), Ok(Some(Product::Genoa)));
    assert_eq!(
        report.current,
        FirmwareVersion {
            major: 1,
            minor: 55,
            build: 40
        }
    );
    assert_eq!(report.launch_mit_vector, None);
    assert_eq!(report.key_info.signing_key(), SigningKey::Vcek);
    assert_eq!(
        report_of(VLEK_REPORT).key_info.signing_key(),
        SigningKey::Vlek
    );
    let v2 = report_of(TEST_REPORT);
    assert_eq!(v2.cpuid, None);
    assert_eq!(v2.product(), Ok(None));
}

#[test]
fn rejects_abi_report_of_wrong_length() {
    let mut bytes = read_bytes("evidence/snp/test-report.bin");
    bytes.push(0);
    assert_eq!(
        AttestationReport::from_bytes(&bytes),
        Err(SnpError::ReportLength { len: 1185 })
    );
    assert_eq!(
        AttestationReport::from_bytes(&bytes[..1183]),
        Err(SnpError::ReportLength { len: 1183 })
    );
}

#[test]
fn rejects_unsupported_versions() {
    for version in [0, 1, 6, u32::MAX] {
        let mut evidence = read_json(E2E);
        evidence["attestation_report"]["version"] = json!(version);
        assert_eq!(
            AttestationReport::from_json(&evidence["attestation_report"]),
            Err(SnpError::UnsupportedVersion { version })
        );
        let mut bytes = read_bytes("evidence/snp/test-report.bin");
        bytes[..4].copy_from_slice(&version.to_le_bytes());
        assert_eq!(
            AttestationReport::from_bytes(&bytes),
            Err(SnpError::UnsupportedVersion { version })
        );
    }
}

#[test]
fn rejects_json_byte_arrays_of_wrong_length() {
    for (field, len) in [
        ("measurement", 47),
        ("measurement", 49),
        ("chip_id", 63),
        ("host_data", 33),
    ] {
        let mut evidence = read_json(E2E);
        evidence["attestation_report"][field] = json!(vec![0u8; len]);
        let err = AttestationReport::from_json(&evidence["attestation_report"]).unwrap_err();
        assert!(
            matches!(err, SnpError::ReportJson { .. }),
            "{field}/{len}: {err}"
        );
    }
    let mut evidence = read_json(E2E);
    evidence["attestation_report"]["signature"]["r"][0] = json!(256);
    assert!(matches!(
        AttestationReport::from_json(&evidence["attestation_report"]),
        Err(SnpError::ReportJson { .. })
    ));
}

#[test]
fn rejects_fields_the_version_cannot_carry() {
    let mut v2 = read_json(TEST_REPORT);
    v2["attestation_report"]["cpuid_fam_id"] = json!(0x19);
    v2["attestation_report"]["cpuid_mod_id"] = json!(0x01);
    v2["attestation_report"]["cpuid_step"] = json!(1);
    assert_eq!(
        AttestationReport::from_json(&v2["attestation_report"]),
        Err(SnpError::ReportField { field: "cpuid" })
    );
    let mut v3 = read_json(E2E);
    v3["attestation_report"]["cpuid_step"] = Value::Null;
    assert_eq!(
        AttestationReport::from_json(&v3["attestation_report"]),
        Err(SnpError::ReportField { field: "cpuid" })
    );
    let mut fmc = read_json(E2E);
    fmc["attestation_report"]["reported_tcb"]["fmc"] = json!(1);
    assert_eq!(
        AttestationReport::from_json(&fmc["attestation_report"]),
        Err(SnpError::ReportField {
            field: "reported_tcb"
        })
    );
    let mut mit = read_json(E2E);
    mit["attestation_report"]["launch_mit_vector"] = json!(5);
    assert_eq!(
        AttestationReport::from_json(&mit["attestation_report"]),
        Err(SnpError::ReportField {
            field: "mit_vector"
        })
    );
}

#[test]
fn unknown_cpu_is_refused() {
    let mut evidence = read_json(E2E);
    evidence["attestation_report"]["cpuid_mod_id"] = json!(0x50);
    let report = AttestationReport::from_json(&evidence["attestation_report"]).unwrap();
    assert_eq!(
        verify_at(
            &report,
            &vek_of(&read_json(E2E)),
            &ReportData::NotProvided,
            &InitDataHash::NotProvided,
            MANIFEST_TIME
        ),
        Err(Error::Snp(SnpError::UnknownProduct {
            family: 0x19,
            model: 0x50
        }))
    );
}

// ---- negatives on the full path ----

async fn e2e_with(mutate: impl FnOnce(&mut Value)) -> Result<Value, Error> {
    let case = case("snp/e2e-evidence");
    let mut evidence = read_json(E2E);
    mutate(&mut evidence);
    evaluate(
        &offline_verifier(MANIFEST_TIME),
        &evidence,
        &expected_report_data(&case),
    )
    .await
}

#[tokio::test]
async fn one_flipped_byte_in_the_signed_body_fails_the_signature() {
    for field in ["measurement", "report_id", "family_id", "host_data"] {
        let err = e2e_with(|evidence| {
            let byte = &mut evidence["attestation_report"][field][3];
            *byte = json!(byte.as_u64().unwrap() ^ 1);
        })
        .await
        .unwrap_err();
        assert_eq!(err, Error::Snp(SnpError::ReportSignature), "{field}");
    }
    let err = e2e_with(|evidence| evidence["attestation_report"]["guest_svn"] = json!(1))
        .await
        .unwrap_err();
    assert_eq!(err, Error::Snp(SnpError::ReportSignature));
}

#[test]
fn every_signed_abi_byte_is_covered_including_reserved_ones() {
    let bytes = read_bytes("evidence/snp/test-report.bin");
    let vek = read_bytes(MILAN_VCEK);
    let good = AttestationReport::from_bytes(&bytes).unwrap();
    assert!(
        verify_at(
            &good,
            &vek,
            &ReportData::NotProvided,
            &InitDataHash::NotProvided,
            MANIFEST_TIME
        )
        .is_ok()
    );
    // policy, a reserved byte after key_info, measurement, a reserved byte before the
    // signature; a byte of the signature itself.
    for offset in [0x08, 0x4C, 0x90, 0x29F, 0x2A0] {
        let mut mutated = bytes.clone();
        mutated[offset] ^= 0x01;
        let report = AttestationReport::from_bytes(&mutated).unwrap();
        assert_eq!(
            verify_at(
                &report,
                &vek,
                &ReportData::NotProvided,
                &InitDataHash::NotProvided,
                MANIFEST_TIME
            ),
            Err(Error::Snp(SnpError::ReportSignature)),
            "offset {offset:#x}"
        );
    }
}

#[tokio::test]
async fn signature_wider_than_384_bits_is_refused() {
    let err = e2e_with(|evidence| evidence["attestation_report"]["signature"]["r"][50] = json!(1))
        .await
        .unwrap_err();
    assert_eq!(err, Error::Snp(SnpError::ReportSignature));
}

#[tokio::test]
async fn wrong_report_data_fails_the_binding() {
    let evidence = read_json(E2E);
    let mut report_data = hex::decode(
        case("snp/e2e-evidence")["expected_report_data"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    report_data[10] ^= 0x80;
    let err = evaluate(
        &offline_verifier(MANIFEST_TIME),
        &evidence,
        &ReportData::Value(report_data),
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

#[test]
fn report_data_is_compared_after_zero_padding_to_64_bytes() {
    // test-report's report data is 32 digest bytes followed by zeros.
    let report = report_of(TEST_REPORT);
    let vek = read_bytes(MILAN_VCEK);
    let full = report.report_data.to_vec();
    for len in [32, 48, 64] {
        let expected = ReportData::Value(full[..len].to_vec());
        assert!(
            verify_at(
                &report,
                &vek,
                &expected,
                &InitDataHash::NotProvided,
                MANIFEST_TIME
            )
            .is_ok(),
            "{len}"
        );
    }
    let short = ReportData::Value(full[..31].to_vec());
    assert_eq!(
        verify_at(
            &report,
            &vek,
            &short,
            &InitDataHash::NotProvided,
            MANIFEST_TIME
        ),
        Err(Error::Mismatch {
            field: "report_data"
        })
    );
}

#[test]
fn init_data_is_bound_to_host_data() {
    let report = report_of(E2E);
    let vek = vek_of(&read_json(E2E));
    let check = |hash: Vec<u8>| {
        verify_at(
            &report,
            &vek,
            &ReportData::NotProvided,
            &InitDataHash::Value(hash),
            MANIFEST_TIME,
        )
    };
    // HOST_DATA is all zero in the sample: a zero SHA-256 or SHA-384 digest matches.
    assert!(check(vec![0; 32]).is_ok());
    assert!(check(vec![0; 48]).is_ok());
    let mut wrong = vec![0; 32];
    wrong[31] = 1;
    assert_eq!(check(wrong), Err(Error::Mismatch { field: "host_data" }));
}

#[tokio::test]
async fn certificate_outside_its_validity_is_refused() {
    // The e2e VCEK is valid from 2025-05-27T17:57:03Z; one second earlier it is not.
    let evidence = read_json(E2E);
    let case = case("snp/e2e-evidence");
    let early = 1_748_368_622;
    let err = evaluate(
        &offline_verifier(early),
        &evidence,
        &expected_report_data(&case),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Snp(SnpError::CertificateValidity {
                cert: CertRole::Vcek,
                now: 1_748_368_622,
                ..
            })
        ),
        "{err}"
    );
    // test-vcek expires 2030-01-24T17:58:26Z.
    let report = report_of(TEST_REPORT);
    assert!(matches!(
        verify_at(
            &report,
            &read_bytes(MILAN_VCEK),
            &ReportData::NotProvided,
            &InitDataHash::NotProvided,
            1_895_507_907
        ),
        Err(Error::Snp(SnpError::CertificateValidity {
            cert: CertRole::Vcek,
            ..
        }))
    ));
}

#[test]
fn roots_outside_their_validity_are_refused() {
    // 2050: the VCEK has expired too, but the chain checks ARK/ASK as well; 2019 predates all.
    let roots = AmdRoots::embedded().unwrap().product(Product::Milan);
    let vek = read_bytes(MILAN_VCEK);
    assert!(matches!(
        verify_vek_chain(roots, &vek, 1_500_000_000),
        Err(SnpError::CertificateValidity { .. })
    ));
}

#[tokio::test]
async fn vcek_chained_to_another_products_root_is_refused() {
    // The Genoa report with the Milan VCEK in its certificate table.
    let milan_vcek = read_bytes(MILAN_VCEK);
    let err = e2e_with(|evidence| evidence["cert_chain"][0]["data"] = json!(milan_vcek))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Snp(SnpError::CertificateIssuer {
            cert: CertRole::Vek
        })
    );
    // And directly: Milan VCEK against Genoa roots.
    let genoa = AmdRoots::embedded().unwrap().product(Product::Genoa);
    assert_eq!(
        verify_vek_chain(genoa, &read_bytes(MILAN_VCEK), MANIFEST_TIME).unwrap_err(),
        SnpError::CertificateIssuer {
            cert: CertRole::Vek
        }
    );
}

#[test]
fn vcek_not_signed_by_the_ask_is_refused() {
    // Issuer name says SEV-Milan, but the signature is not the Milan ASK's.
    let milan = AmdRoots::embedded().unwrap().product(Product::Milan);
    for file in [
        "evidence/snp/test-vcek-invalid-legacy.der",
        "evidence/snp/test-vcek-invalid-new.der",
    ] {
        assert_eq!(
            verify_vek_chain(milan, &read_bytes(file), MANIFEST_TIME).unwrap_err(),
            SnpError::CertificateSignature {
                cert: CertRole::Vcek
            },
            "{file}"
        );
    }
}

#[test]
fn vcek_of_another_chip_is_refused_by_hwid() {
    // The v2 Milan report with the (valid) Genoa VCEK of another chip: the generation comes
    // from the VCEK issuer, the chain verifies, the hardware id does not match.
    let report = report_of(TEST_REPORT);
    let err = verify_at(
        &report,
        &read_bytes(GENOA_VCEK),
        &ReportData::NotProvided,
        &InitDataHash::NotProvided,
        MANIFEST_TIME,
    )
    .unwrap_err();
    assert_eq!(err, Error::Snp(SnpError::HwidMismatch));

    // Directly, against the report's own generation as well.
    let genoa = AmdRoots::embedded().unwrap().product(Product::Genoa);
    let other_chip = verify_vek_chain(genoa, &read_bytes(GENOA_VCEK), MANIFEST_TIME).unwrap();
    assert_eq!(
        check_hwid(&report, &other_chip),
        Err(SnpError::HwidMismatch)
    );
}

#[test]
fn hwid_check_is_skipped_for_masked_chip_id_only() {
    let genoa = AmdRoots::embedded().unwrap().product(Product::Genoa);
    let other_chip = verify_vek_chain(genoa, &read_bytes(GENOA_VCEK), MANIFEST_TIME).unwrap();
    let mut report = report_of(TEST_REPORT);
    report.chip_id = [0; 64];
    assert_eq!(check_hwid(&report, &other_chip), Ok(()));
    report.chip_id[63] = 1;
    assert_eq!(
        check_hwid(&report, &other_chip),
        Err(SnpError::HwidMismatch)
    );
}

#[tokio::test]
async fn vcek_for_another_tcb_is_refused() {
    let err = e2e_with(|evidence| {
        evidence["attestation_report"]["reported_tcb"]["microcode"] = json!(26);
    })
    .await
    .unwrap_err();
    assert_eq!(
        err,
        Error::Snp(SnpError::TcbMismatch {
            component: "microcode",
            report: 26,
            vek: 25
        })
    );
    for (component, value) in [("bootloader", 9), ("tee", 1), ("snp", 22)] {
        let err = e2e_with(|evidence| {
            evidence["attestation_report"]["reported_tcb"][component] = json!(value);
        })
        .await
        .unwrap_err();
        assert!(
            matches!(err, Error::Snp(SnpError::TcbMismatch { component: c, .. }) if c == component),
            "{component}: {err}"
        );
    }
}

#[tokio::test]
async fn report_naming_another_signing_key_is_refused() {
    // KEY_INFO.SIGNING_KEY = 1 (VLEK) while the certificate is a VCEK.
    let err = e2e_with(|evidence| evidence["attestation_report"]["key_info"] = json!(4))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Snp(SnpError::SigningKeyMismatch {
            report: SigningKey::Vlek,
            vek: CertRole::Vcek
        })
    );
}

#[tokio::test]
async fn unknown_signature_algorithm_is_refused() {
    let err = e2e_with(|evidence| evidence["attestation_report"]["sig_algo"] = json!(2))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Snp(SnpError::SignatureAlgorithm { sig_algo: 2 })
    );
}

// ---- collateral ----

#[tokio::test]
async fn without_a_vcek_source_evidence_without_cert_chain_fails() {
    let evidence = read_json(E2E_NO_CHAIN);
    let report_data = expected_report_data(&case("snp/e2e-evidence.no-cert-chain"));
    let none = Snp::new(Vec::new(), Arc::new(FixedClock(MANIFEST_TIME)));
    assert_eq!(
        evaluate(&none, &evidence, &report_data).await.unwrap_err(),
        Error::Collateral(CollateralError::Exhausted { what: "vcek" })
    );

    let empty_dir = std::env::temp_dir().join("snp-offline-store-that-does-not-exist");
    let store: Arc<dyn VcekSource> = Arc::new(OfflineStore::new(empty_dir));
    let missing = Snp::new(vec![store], Arc::new(FixedClock(MANIFEST_TIME)));
    assert_eq!(
        evaluate(&missing, &evidence, &report_data)
            .await
            .unwrap_err(),
        Error::Collateral(CollateralError::NotFound {
            what: "vcek",
            source_name: "offline store"
        })
    );
}

#[tokio::test]
async fn sources_are_tried_in_order() {
    let evidence = read_json(E2E_NO_CHAIN);
    let report_data = expected_report_data(&case("snp/e2e-evidence.no-cert-chain"));
    let empty: Arc<dyn VcekSource> = Arc::new(OfflineStore::new("/nonexistent/kds-store"));
    let good: Arc<dyn VcekSource> =
        Arc::new(OfflineStore::new(testdata("collateral/amd/kds-store")));
    let verifier = Snp::new(vec![empty, good], Arc::new(FixedClock(MANIFEST_TIME)));
    assert!(evaluate(&verifier, &evidence, &report_data).await.is_ok());
}

#[tokio::test]
async fn masked_chip_id_cannot_be_looked_up() {
    let mut evidence = read_json(E2E_NO_CHAIN);
    evidence["attestation_report"]["chip_id"] = json!(vec![0u8; 64]);
    let err = evaluate(
        &offline_verifier(MANIFEST_TIME),
        &evidence,
        &ReportData::NotProvided,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Collateral(CollateralError::BadRequest { .. })),
        "{err}"
    );
}

#[test]
fn offline_store_names_files_like_upstream() {
    let store = OfflineStore::new("/store");
    let hwid = report_of(TEST_REPORT).chip_id;
    let tcb = TcbVersion {
        fmc: None,
        bootloader: 3,
        tee: 0,
        snp: 8,
        microcode: 115,
    };
    let [specific, fallback] = store.candidate_paths(Product::Milan, &hwid, &tcb);
    let dir = format!("/store/vcek/{}", hex::encode(hwid));
    assert_eq!(
        specific,
        PathBuf::from(format!("{dir}/bl03_tee00_snp08_ucode115_vcek.der"))
    );
    assert_eq!(fallback, PathBuf::from(format!("{dir}/vcek.der")));

    let turin = TcbVersion {
        fmc: Some(1),
        ..tcb
    };
    let [specific, _] = store.candidate_paths(Product::Turin, &hwid, &turin);
    assert_eq!(
        specific,
        PathBuf::from(format!(
            "/store/vcek/{}/bl03_tee00_snp08_ucode115_fmc01_vcek.der",
            hex::encode(&hwid[..8])
        ))
    );
}

// ---- evidence shape and configuration ----

#[tokio::test]
async fn malformed_evidence_is_refused_by_name() {
    let verifier = offline_verifier(MANIFEST_TIME);
    for evidence in [
        json!({}),
        json!({"attestation_report": {}, "cert_chain": null}),
        json!({"attestation_report": read_json(E2E)["attestation_report"], "cert_chain": [{"cert_type": "VCEK"}]}),
    ] {
        let err = evaluate(&verifier, &evidence, &ReportData::NotProvided)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::MalformedEvidence { tee: Tee::Snp, .. }
                    | Error::Snp(SnpError::ReportJson { .. })
            ),
            "{err}"
        );
    }
}

#[tokio::test]
async fn cert_table_entries_other_than_the_vek_are_ignored() {
    let milan_ark = {
        let pem = include_str!("../../roots/amd/milan_ask_ark_asvk.pem");
        pem::parse_many(pem).unwrap()[1].contents().to_vec()
    };
    let claims = e2e_with(|evidence| {
        let vcek = evidence["cert_chain"][0].clone();
        evidence["cert_chain"] = json!([
            {"cert_type": "ARK", "data": milan_ark},
            {"cert_type": {"OTHER": "00000000-0000-0000-0000-000000000000"}, "data": [1, 2]},
            vcek,
        ]);
    })
    .await
    .unwrap();
    assert_eq!(claims, case("snp/e2e-evidence")["claims"]);
}

#[test]
fn config_reads_vcek_sources() {
    let config: SnpVerifierConfig = serde_json::from_value(json!({
        "vcek_sources": [{"type": "OfflineStore", "path": "/x"}, {"type": "KDS"}, {"type": "OfflineStore"}]
    }))
    .unwrap();
    assert_eq!(
        config.vcek_sources,
        [
            VcekSourceConfig::OfflineStore {
                path: Some("/x".into())
            },
            VcekSourceConfig::Kds { base_url: None },
            VcekSourceConfig::OfflineStore { path: None },
        ]
    );
    assert_eq!(
        SnpVerifierConfig::default().vcek_sources,
        [VcekSourceConfig::Kds { base_url: None }]
    );
    for bad in [
        json!({"vcek_source": []}),
        json!({"vcek_sources": [{"type": "OfflineStore", "pth": "/x"}]}),
        json!({"vcek_sources": [{"type": "Kds"}]}),
    ] {
        let table = bad.as_object().unwrap().clone();
        assert!(
            matches!(
                Snp::from_config(Some(&table)),
                Err(Error::InvalidConfig {
                    section: "snp_verifier",
                    ..
                })
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn registry_builds_an_snp_verifier_from_config() {
    let store = std::env::temp_dir().join("snp-registry-store-that-does-not-exist");
    let config: crate::VerifierConfig = serde_json::from_value(json!({
        "snp_verifier": {"vcek_sources": [{"type": "OfflineStore", "path": store}]}
    }))
    .unwrap();
    let verifier = crate::verifier_for(Tee::Snp, &config).unwrap();
    // The configured store is asked (and has nothing) before any time-dependent check.
    let err = verifier
        .evaluate(
            &read_json(E2E_NO_CHAIN),
            &ReportData::NotProvided,
            &InitDataHash::NotProvided,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Collateral(CollateralError::NotFound {
            what: "vcek",
            source_name: "offline store"
        })
    );
    let bad: crate::VerifierConfig =
        serde_json::from_value(json!({"snp_verifier": {"vcek_sources": 1}})).unwrap();
    assert!(matches!(
        crate::verifier_for(Tee::Snp, &bad),
        Err(Error::InvalidConfig { .. })
    ));
}

// ---- Turin (no public Turin VCEK in the test data: certified values are substituted) ----

fn turin_report_and_vek(
    fmc_report: u8,
    fmc_vek: u8,
    hwid8: [u8; 8],
) -> (AttestationReport, VerifiedVek) {
    let mut json = read_json(E2E)["attestation_report"].clone();
    json["cpuid_fam_id"] = json!(0x1A);
    json["cpuid_mod_id"] = json!(0x02);
    for field in ["current_tcb", "reported_tcb", "committed_tcb", "launch_tcb"] {
        json[field]["fmc"] = json!(fmc_report);
    }
    let report = AttestationReport::from_json(&json).unwrap();
    let genoa = AmdRoots::embedded().unwrap().product(Product::Genoa);
    let vek = verify_vek_chain(genoa, &read_bytes(GENOA_VCEK), MANIFEST_TIME).unwrap();
    let mut hwid = [0u8; 64];
    hwid[..8].copy_from_slice(&hwid8);
    let tcb = TcbVersion {
        fmc: Some(fmc_vek),
        ..report.reported_tcb
    };
    (
        report,
        vek.with_values_for_test(Product::Turin, tcb, Some(hwid)),
    )
}

#[test]
fn turin_hwid_is_the_first_8_bytes_of_chip_id() {
    let chip_id = report_of(E2E).chip_id;
    let prefix: [u8; 8] = chip_id[..8].try_into().unwrap();
    let (report, vek) = turin_report_and_vek(1, 1, prefix);
    assert_eq!(vek.hwid(), Some(&chip_id[..8]));
    assert_eq!(check_hwid(&report, &vek), Ok(()));
    let mut other = prefix;
    other[7] ^= 1;
    let (report, vek) = turin_report_and_vek(1, 1, other);
    assert_eq!(check_hwid(&report, &vek), Err(SnpError::HwidMismatch));
}

#[test]
fn turin_fmc_spl_must_match() {
    let prefix: [u8; 8] = report_of(E2E).chip_id[..8].try_into().unwrap();
    let (report, vek) = turin_report_and_vek(2, 2, prefix);
    assert_eq!(check_tcb(&report, &vek), Ok(()));
    let (report, vek) = turin_report_and_vek(2, 3, prefix);
    assert_eq!(
        check_tcb(&report, &vek),
        Err(SnpError::TcbMismatch {
            component: "fmc",
            report: 2,
            vek: 3
        })
    );
}

#[test]
fn claims_cover_every_snp_field_the_default_cpu_policy_reads() {
    let policy = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../attestation-service/policies/default_cpu.rego");
    let policy = std::fs::read_to_string(policy).unwrap();
    let claims = serde_json::to_value(SnpClaims::from_report(&report_of(E2E))).unwrap();
    let mut read = 0;
    for (at, _) in policy.match_indices("input.snp.") {
        let name: String = policy[at + "input.snp.".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(claims.get(&name).is_some(), "policy reads input.snp.{name}");
        read += 1;
    }
    assert!(read >= 10, "the policy reads {read} snp claims");
}

#[tokio::test]
async fn the_verifier_reuses_a_verified_vek_chain_and_rechecks_its_validity() {
    let evidence = read_json(TEST_REPORT);
    let report_data = expected_report_data(&case("snp/test-report"));
    let verifier = offline_verifier(MANIFEST_TIME);
    evaluate(&verifier, &evidence, &report_data).await.unwrap();
    evaluate(&verifier, &evidence, &report_data).await.unwrap();
    assert_eq!(verifier.vek_cache().len(), 1);

    // A clone (another request on the same verifier) after the VCEK expired: the cached chain
    // is refused at the new time.
    let expired = Snp {
        clock: Arc::new(FixedClock(1_924_992_000)),
        ..verifier.clone()
    };
    let err = evaluate(&expired, &evidence, &report_data)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Snp(SnpError::CertificateValidity {
                cert: CertRole::Vcek,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(expired.vek_cache().len(), 1, "the cache is shared");
}

#[test]
fn verify_with_vek_refuses_a_vek_of_another_generation() {
    // The Genoa e2e report with the Milan sample's (verified) VCEK.
    let report = report_of(E2E);
    let roots = AmdRoots::embedded().unwrap();
    let milan = verify_vek_chain(
        roots.product(Product::Milan),
        &read_bytes(MILAN_VCEK),
        MANIFEST_TIME,
    )
    .unwrap();
    let expected = Expected {
        report_data: &ReportData::NotProvided,
        init_data_hash: &InitDataHash::NotProvided,
    };
    assert_eq!(
        verify_with_vek(&report, &milan, &expected).unwrap_err(),
        Error::Snp(SnpError::CertificateIssuer {
            cert: CertRole::Vek
        })
    );
}
