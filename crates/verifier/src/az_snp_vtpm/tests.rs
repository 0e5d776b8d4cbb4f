//! The shared Azure SEV-SNP samples through the whole verifier, and their negatives made by
//! mutating a good sample at test time (testdata README §3, verification time 2025-06-01).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::FixedClock;
use crate::snp::{CertRole, Product, SnpError};
use crate::vtpm::tests::with_hcl;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata/");
/// 2025-06-01T00:00:00Z, the manifest's verification time.
const NOW: u64 = 1_748_736_000;

struct Case {
    file: &'static str,
    report_data: &'static str,
    measurement: &'static str,
    pcr00: &'static str,
    init_data: &'static str,
    tcb: [&'static str; 4],
    chip_id_prefix: &'static str,
    product: Product,
    version: EvidenceVersion,
}

const ZERO_PCR: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const CASES: [Case; 4] = [
    Case {
        file: "evidence-v0.json",
        report_data: "6368616c6c656e6765",
        measurement: "agY76d159jcchC5ID43DtccllhNE5XEw6Ixa30no9/bHm3Wl63f8dplZ9K6y+UAe",
        pcr00: "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced",
        init_data: ZERO_PCR,
        tcb: ["4", "0", "24", "219"],
        chip_id_prefix: "66a5a7b4403a3006",
        product: Product::Milan,
        version: EvidenceVersion::V0,
    },
    Case {
        file: "evidence-v1.json",
        report_data: "6368616c6c656e6765",
        measurement: "agY76d159jcchC5ID43DtccllhNE5XEw6Ixa30no9/bHm3Wl63f8dplZ9K6y+UAe",
        pcr00: "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced",
        init_data: ZERO_PCR,
        tcb: ["4", "0", "24", "219"],
        chip_id_prefix: "66a5a7b4403a3006",
        product: Product::Milan,
        version: EvidenceVersion::V1,
    },
    Case {
        file: "evidence-v2.json",
        report_data: "982f5c6e45df0ed3f10b6f60b02f0c8390e281300f3805e2279c16168cd6ae9aa398f647caa2338748cd0fd9f5f819ef",
        measurement: "WwzmStHB9jddvaX3YLmFJsobz5G4GVCRr8KOewJCUdaP4y4FrzQEjWYHZ4zSMoP/",
        pcr00: "84275b2f4312cd4fc6cbe6b152ad3c3683e513d9f1e23c34fca160c8cca7a6a7",
        init_data: ZERO_PCR,
        tcb: ["4", "0", "24", "219"],
        chip_id_prefix: "2e0e62a0e6f39bc4",
        product: Product::Milan,
        version: EvidenceVersion::V2,
    },
    Case {
        file: "evidence-genoa.json",
        report_data: "0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f",
        measurement: "9X3AmlB8bs2CNpv/tgDwADeS9Nmbwm6YXsDCZvw0+vNwb6+BTJ5hBldopv+RfImu",
        pcr00: "afd689d0bb1c5f36f023fbaf574135f555a28a10c1f6b938d2a25e70c7783338",
        init_data: "16f09f1e315b0b9bc69e654df58927aad7eaffeebd92f458f1b079b44e97207f",
        tcb: ["10", "0", "23", "84"],
        chip_id_prefix: "0506ffba875e939c",
        product: Product::Genoa,
        version: EvidenceVersion::V0,
    },
];

fn evidence_json(file: &str) -> Value {
    let bytes = std::fs::read(format!("{SHARED}evidence/az-snp-vtpm/{file}")).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn report_data(hex_text: &str) -> ReportData {
    ReportData::Value(hex::decode(hex_text).unwrap())
}

fn verify_json(
    evidence: &Value,
    expected: &ReportData,
    init_data: &InitDataHash,
    now: u64,
) -> Result<AzSnpVtpmClaims, Error> {
    let evidence = AzSnpVtpmEvidence::from_json(evidence)?;
    verify(
        &evidence,
        expected,
        init_data,
        AmdRoots::embedded().unwrap(),
        now,
    )
}

fn verify_v2(evidence: &Value) -> Result<AzSnpVtpmClaims, Error> {
    verify_json(
        evidence,
        &report_data(CASES[2].report_data),
        &InitDataHash::NotProvided,
        NOW,
    )
}

/// Where `needle` starts in the HCL runtime data.
fn runtime_offset(hcl: &[u8], needle: &[u8]) -> usize {
    1236 + hcl[1236..]
        .windows(needle.len())
        .position(|window| window == needle)
        .unwrap()
}

#[tokio::test]
async fn every_sample_verifies_and_yields_the_manifest_claims() {
    let verifier = AzSnpVtpm::new(Arc::new(FixedClock(NOW)));
    for case in &CASES {
        let evidence = evidence_json(case.file);
        let entries = verifier
            .evaluate(
                &evidence,
                &report_data(case.report_data),
                &InitDataHash::NotProvided,
            )
            .await
            .unwrap_or_else(|err| panic!("{}: {err}", case.file));
        let [(claims, class)] = entries.as_slice() else {
            panic!("{}: one entry expected", case.file);
        };
        assert_eq!(*class, TeeClass::Cpu);
        let claims = claims.as_map();
        assert_eq!(claims["report_data"], case.report_data, "{}", case.file);
        assert_eq!(claims["init_data"], case.init_data, "{}", case.file);
        assert_eq!(claims["measurement"], case.measurement, "{}", case.file);
        assert_eq!(claims["tpm"]["pcr00"], case.pcr00, "{}", case.file);
        assert_eq!(claims["tpm"]["pcr08"], case.init_data, "{}", case.file);
        assert_eq!(claims["tpm"].as_object().unwrap().len(), 24);
        let tcb = [
            "reported_tcb_bootloader",
            "reported_tcb_tee",
            "reported_tcb_snp",
            "reported_tcb_microcode",
        ]
        .map(|name| claims[name].as_str().unwrap());
        assert_eq!(tcb, case.tcb, "{}", case.file);
        // Upstream encodes every SNP claim as a string (spec §2.3, §14.5).
        for name in [
            "policy_abi_major",
            "policy_abi_minor",
            "policy_smt_allowed",
            "policy_migrate_ma",
            "policy_debug_allowed",
            "policy_single_socket",
            "platform_tsme_enabled",
            "platform_smt_enabled",
        ] {
            assert!(claims[name].is_string(), "{}: {name}", case.file);
        }
        assert_eq!(claims["policy_debug_allowed"], "false");
        assert!(!claims.contains_key("chip_id"));

        // Values the manifest lists that are not claims upstream.
        let parsed = AzSnpVtpmEvidence::from_json(&evidence).unwrap();
        assert_eq!(parsed.version, case.version);
        let report = AttestationReport::from_bytes(parsed.hcl_report.hardware_report()).unwrap();
        assert_eq!(report.version, 3);
        assert_eq!(report.product().unwrap(), Some(case.product));
        assert!(hex::encode(report.chip_id).starts_with(case.chip_id_prefix));
    }
}

/// The first PEM certificate of a shared test file, as DER.
fn first_pem_cert(file: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(format!("{SHARED}evidence/az-snp-vtpm/{file}")).unwrap();
    pem::parse_many(text).unwrap()[0].contents().to_vec()
}

#[test]
fn component_hcl_report_verifies_with_its_vcek_step_by_step() {
    // hcl-report.bin carries a version 2 SNP report (no CPUID fields: the generation comes
    // from the VCEK issuer); vcek.pem is VCEK, ASK, ARK and the VCEK comes first.
    let bytes = std::fs::read(format!("{SHARED}evidence/az-snp-vtpm/hcl-report.bin")).unwrap();
    let hcl = crate::vtpm::HclReport::parse(&bytes).unwrap();
    let report = AttestationReport::from_bytes(hcl.hardware_report()).unwrap();
    assert_eq!(report.version, 2);
    let expected = snp::Expected {
        report_data: &ReportData::NotProvided,
        init_data_hash: &InitDataHash::NotProvided,
    };
    let roots = AmdRoots::embedded().unwrap();
    let vcek = first_pem_cert("vcek.pem");
    snp::verify(&report, &vcek, &expected, roots, NOW).unwrap();
    hcl.check_runtime_data_binding(&report.report_data).unwrap();
    assert_eq!(
        hex::encode(report.measurement),
        "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315"
    );
    // A VCEK of another chip and generation does not verify this report.
    let genoa = first_pem_cert("vcek-genoa.pem");
    assert!(snp::verify(&report, &genoa, &expected, roots, NOW).is_err());
}

#[test]
fn vcek_genoa_pem_is_the_vcek_of_the_genoa_evidence() {
    let evidence = AzSnpVtpmEvidence::from_json(&evidence_json("evidence-genoa.json")).unwrap();
    assert_eq!(evidence.vcek_der, first_pem_cert("vcek-genoa.pem"));
}

#[test]
fn v0_and_v1_of_the_same_capture_give_the_same_claims() {
    let claims = |file: &str| {
        verify_json(
            &evidence_json(file),
            &report_data(CASES[0].report_data),
            &InitDataHash::NotProvided,
            NOW,
        )
        .unwrap()
    };
    assert_eq!(claims("evidence-v0.json"), claims("evidence-v1.json"));
}

#[test]
fn claims_have_upstreams_shape() {
    let claims = verify_v2(&evidence_json("evidence-v2.json")).unwrap();
    let value = serde_json::to_value(&claims).unwrap();
    let mut names: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "init_data",
            "measurement",
            "platform_smt_enabled",
            "platform_tsme_enabled",
            "policy_abi_major",
            "policy_abi_minor",
            "policy_debug_allowed",
            "policy_migrate_ma",
            "policy_single_socket",
            "policy_smt_allowed",
            "report_data",
            "reported_tcb_bootloader",
            "reported_tcb_microcode",
            "reported_tcb_snp",
            "reported_tcb_tee",
            "tpm",
        ]
    );
    assert_eq!(value["tpm"]["pcr23"].as_str().unwrap().len(), 64);
}

#[test]
fn fails_when_a_quote_message_byte_is_flipped() {
    let mut evidence = evidence_json("evidence-v2.json");
    let mut message = hex::decode(evidence["tpm_quote"]["message"].as_str().unwrap()).unwrap();
    // A byte of clockInfo: neither the nonce nor the PCR digest, so only the signature notices.
    message[60] ^= 0x01;
    evidence["tpm_quote"]["message"] = json!(hex::encode(message));
    assert_eq!(
        verify_v2(&evidence),
        Err(Error::Vtpm(VtpmError::QuoteSignature))
    );
}

#[test]
fn fails_when_the_hcl_runtime_data_is_changed() {
    // One character of `vmUniqueId`: valid JSON, same AK, but no longer what the SNP report
    // vouches for.
    let evidence = with_hcl(evidence_json("evidence-v2.json"), |hcl| {
        let at = runtime_offset(hcl, b"vmUniqueId") + 14;
        hcl[at] ^= 0x01;
    });
    assert_eq!(
        verify_v2(&evidence),
        Err(Error::Vtpm(VtpmError::RuntimeDataBinding))
    );

    // The AK itself: caught by the same binding, before the key is used.
    let evidence = with_hcl(evidence_json("evidence-v2.json"), |hcl| {
        let at = runtime_offset(hcl, b"\"n\":\"") + 10;
        hcl[at] = if hcl[at] == b'A' { b'B' } else { b'A' };
    });
    assert_eq!(
        verify_v2(&evidence),
        Err(Error::Vtpm(VtpmError::RuntimeDataBinding))
    );
}

#[test]
fn fails_when_the_snp_report_is_changed() {
    let evidence = with_hcl(evidence_json("evidence-v2.json"), |hcl| {
        // A byte of the SNP report's measurement.
        hcl[32 + 0x90] ^= 0x01;
    });
    assert_eq!(
        verify_v2(&evidence),
        Err(Error::Snp(SnpError::ReportSignature))
    );
}

#[test]
fn refuses_an_hcl_report_that_carries_a_tdx_report() {
    let evidence = with_hcl(evidence_json("evidence-v2.json"), |hcl| hcl[1224] = 4);
    assert_eq!(
        verify_v2(&evidence),
        Err(Error::Vtpm(VtpmError::Unsupported {
            field: "hcl report type for az-snp-vtpm",
            value: 4
        }))
    );
}

#[test]
fn fails_on_a_wrong_nonce() {
    let evidence = evidence_json("evidence-v2.json");
    let mut wrong = hex::decode(CASES[2].report_data).unwrap();
    wrong[20] ^= 0x01;
    assert_eq!(
        verify_json(
            &evidence,
            &ReportData::Value(wrong),
            &InitDataHash::NotProvided,
            NOW
        ),
        Err(Error::Vtpm(VtpmError::Nonce))
    );
    // The SNP-style zero-padded report data is not the nonce either.
    let mut padded = hex::decode(CASES[2].report_data).unwrap();
    padded.resize(64, 0);
    assert_eq!(
        verify_json(
            &evidence,
            &ReportData::Value(padded),
            &InitDataHash::NotProvided,
            NOW
        ),
        Err(Error::Vtpm(VtpmError::Nonce))
    );
}

#[test]
fn fails_without_expected_report_data() {
    assert_eq!(
        verify_json(
            &evidence_json("evidence-v2.json"),
            &ReportData::NotProvided,
            &InitDataHash::NotProvided,
            NOW
        ),
        Err(Error::Vtpm(VtpmError::ReportDataRequired))
    );
}

#[test]
fn fails_when_a_pcr_value_is_changed() {
    let mut evidence = evidence_json("evidence-v2.json");
    evidence["tpm_quote"]["pcrs"][11] =
        json!("1111111111111111111111111111111111111111111111111111111111111111");
    assert_eq!(verify_v2(&evidence), Err(Error::Vtpm(VtpmError::PcrDigest)));
}

#[test]
fn v2_evidence_binds_the_report_data_in_the_hcl_user_data() {
    // The v1 capture's user-data is zero. Labelled v2, it must fail the user-data check even
    // though the quote nonce matches.
    let mut evidence = evidence_json("evidence-v1.json");
    evidence["version"] = json!(2);
    assert_eq!(
        verify_json(
            &evidence,
            &report_data(CASES[1].report_data),
            &InitDataHash::NotProvided,
            NOW
        ),
        Err(Error::Vtpm(VtpmError::UserData))
    );
}

#[test]
fn wrong_length_init_data_digest_is_an_error_not_a_panic() {
    let evidence = evidence_json("evidence-genoa.json");
    for len in [0, 20, 48, 64] {
        assert_eq!(
            verify_json(
                &evidence,
                &report_data(CASES[3].report_data),
                &InitDataHash::Value(vec![0x16; len]),
                NOW
            ),
            Err(Error::Vtpm(VtpmError::InitDataDigestLength { len }))
        );
    }
}

#[test]
fn fails_when_init_data_is_not_the_one_extended_into_pcr8() {
    assert_eq!(
        verify_json(
            &evidence_json("evidence-genoa.json"),
            &report_data(CASES[3].report_data),
            &InitDataHash::Value(vec![0; 32]),
            NOW
        ),
        Err(Error::Vtpm(VtpmError::InitData))
    );
}

#[test]
fn fails_when_the_vcek_is_outside_its_validity() {
    let evidence = evidence_json("evidence-v2.json");
    // The VCEK is valid from 2025-01-28T16:33:43Z to 2032-01-28T16:33:43Z.
    for now in [
        1_735_689_600, /* 2025-01-01 */
        1_988_150_400, /* 2033-01-01 */
    ] {
        let err = verify_json(
            &evidence,
            &report_data(CASES[2].report_data),
            &InitDataHash::NotProvided,
            now,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Snp(SnpError::CertificateValidity {
                    cert: CertRole::Vcek,
                    ..
                })
            ),
            "{now}: {err}"
        );
    }
}

#[test]
fn fails_with_the_vcek_of_another_chip() {
    // v1 and v2 come from two Milan chips with the same TCB: v2's VCEK chains to the same AMD
    // roots and carries the same SPLs, so only the hardware id tells them apart.
    let mut evidence = evidence_json("evidence-v1.json");
    evidence["vcek"] = evidence_json("evidence-v2.json")["vcek"].clone();
    assert_eq!(
        verify_json(
            &evidence,
            &report_data(CASES[1].report_data),
            &InitDataHash::NotProvided,
            NOW
        ),
        Err(Error::Snp(SnpError::HwidMismatch))
    );
}

#[test]
fn fails_with_a_vcek_of_another_generation() {
    // The Genoa VCEK under the Milan report: the chain to the Milan roots breaks.
    let mut evidence = evidence_json("evidence-v0.json");
    evidence["vcek"] = evidence_json("evidence-genoa.json")["vcek"].clone();
    let err = verify_json(
        &evidence,
        &report_data(CASES[0].report_data),
        &InitDataHash::NotProvided,
        NOW,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Snp(_)), "{err}");
}

#[test]
fn evidence_versions_and_encodings_are_checked() {
    let malformed = |evidence: &Value| {
        matches!(
            AzSnpVtpmEvidence::from_json(evidence),
            Err(Error::MalformedEvidence {
                tee: kbs_types::Tee::AzSnpVtpm,
                ..
            })
        )
    };
    let mut v3 = evidence_json("evidence-v2.json");
    v3["version"] = json!(3);
    assert!(malformed(&v3));

    let mut bad_base64 = evidence_json("evidence-v2.json");
    bad_base64["vcek"] = json!("not base64url!");
    assert!(malformed(&bad_base64));

    let mut standard_base64 = evidence_json("evidence-v2.json");
    standard_base64["hcl_report"] = json!("+/+/");
    assert!(malformed(&standard_base64));

    let mut two_pems = evidence_json("evidence-v0.json");
    let pem_text = two_pems["vcek"].as_str().unwrap().to_owned();
    two_pems["vcek"] = json!(format!("{pem_text}\n{pem_text}"));
    assert!(malformed(&two_pems));

    assert!(malformed(&json!({"quote": {}})));

    let mut bad_hex = evidence_json("evidence-v1.json");
    bad_hex["tpm_quote"]["pcrs"][0] = json!("xyz");
    assert_eq!(
        AzSnpVtpmEvidence::from_json(&bad_hex),
        Err(Error::Vtpm(VtpmError::Hex {
            field: "tpm_quote.pcrs"
        }))
    );
}

#[tokio::test]
async fn registry_serves_this_verifier() {
    let verifier =
        crate::verifier_for(kbs_types::Tee::AzSnpVtpm, &crate::VerifierConfig::default()).unwrap();
    // Refused while parsing, before the clock is read: the routing is all this test checks.
    let mut evidence = evidence_json("evidence-v2.json");
    evidence["version"] = json!(3);
    let result = verifier
        .evaluate(
            &evidence,
            &ReportData::Value(vec![0; 48]),
            &InitDataHash::NotProvided,
        )
        .await;
    assert!(
        matches!(
            result,
            Err(Error::MalformedEvidence {
                tee: kbs_types::Tee::AzSnpVtpm,
                ..
            })
        ),
        "{result:?}"
    );
}
