//! Step-wise tests of the vTPM layer on the shared Azure samples, plus a synthetic quote for
//! the init-data binding (no sample has a non-zero PCR8 whose preimage is known).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use serde_json::Value;

use super::*;
use crate::{InitDataHash, ReportData};

/// Offset of `report_data` in the SNP attestation report.
const SNP_REPORT_DATA: std::ops::Range<usize> = 0x50..0x90;

use crate::test_support::shared;

fn json(path: &str) -> Value {
    serde_json::from_slice(&shared(path)).unwrap()
}

/// Applies `mutate` to the decoded HCL report of a v1/v2 evidence JSON (shared with the
/// `az-snp-vtpm` and `az-tdx-vtpm` tests).
pub(crate) fn with_hcl(mut evidence: Value, mutate: impl FnOnce(&mut Vec<u8>)) -> Value {
    let mut hcl = URL_SAFE
        .decode(evidence["hcl_report"].as_str().unwrap())
        .unwrap();
    mutate(&mut hcl);
    evidence["hcl_report"] = Value::String(URL_SAFE.encode(hcl));
    evidence
}

/// `(quote, hcl report)` of a v1/v2 evidence file.
fn evidence_v1(path: &str) -> (TpmQuote, HclReport) {
    let evidence = json(path);
    let quote: TpmQuoteHex = serde_json::from_value(evidence["tpm_quote"].clone()).unwrap();
    let hcl = URL_SAFE
        .decode(evidence["hcl_report"].as_str().unwrap())
        .unwrap();
    (quote.decode().unwrap(), HclReport::parse(&hcl).unwrap())
}

/// `(quote, hcl report)` of a v0 evidence file.
fn evidence_v0(path: &str) -> (TpmQuote, HclReport) {
    let evidence = json(path);
    let quote: TpmQuoteBytes = serde_json::from_value(evidence["quote"].clone()).unwrap();
    let hcl: Vec<u8> = serde_json::from_value(evidence["report"].clone()).unwrap();
    (quote.decode().unwrap(), HclReport::parse(&hcl).unwrap())
}

fn v2() -> (TpmQuote, HclReport) {
    evidence_v1("evidence/az-snp-vtpm/evidence-v2.json")
}

const V2_REPORT_DATA: &str = "982f5c6e45df0ed3f10b6f60b02f0c8390e281300f3805e2279c16168cd6ae9aa398f647caa2338748cd0fd9f5f819ef";

fn v2_report_data() -> ReportData {
    ReportData::Value(hex::decode(V2_REPORT_DATA).unwrap())
}

fn verify(quote: &TpmQuote, hcl: &HclReport) -> Result<VerifiedQuote, VtpmError> {
    let runtime = hcl.runtime_data()?;
    quote.verify(runtime.attestation_key())
}

#[test]
fn every_sample_verifies_step_by_step() {
    let samples = [
        (
            evidence_v0("evidence/az-snp-vtpm/evidence-v0.json"),
            "6368616c6c656e6765",
            "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced",
        ),
        (
            evidence_v1("evidence/az-snp-vtpm/evidence-v1.json"),
            "6368616c6c656e6765",
            "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced",
        ),
        (
            v2(),
            V2_REPORT_DATA,
            "84275b2f4312cd4fc6cbe6b152ad3c3683e513d9f1e23c34fca160c8cca7a6a7",
        ),
        (
            evidence_v0("evidence/az-snp-vtpm/evidence-genoa.json"),
            "0218488bae25d2509232bf676f1a66a30d7372add909109b36016ef136f2938ca05475f8b46094de6b64270ea35d950f",
            "afd689d0bb1c5f36f023fbaf574135f555a28a10c1f6b938d2a25e70c7783338",
        ),
    ];
    for ((quote, hcl), report_data, pcr00) in samples {
        assert_eq!(hcl.report_type(), HclReportType::Snp);
        let snp_report_data = &hcl.hardware_report()[SNP_REPORT_DATA];
        hcl.check_runtime_data_binding(snp_report_data).unwrap();
        let verified = verify(&quote, &hcl).unwrap();
        let expected = ReportData::Value(hex::decode(report_data).unwrap());
        verified.check_nonce(&expected).unwrap();
        assert_eq!(hex::encode(verified.nonce()), report_data);
        let claims = verified.pcr_claims();
        assert_eq!(claims.len(), 24);
        assert_eq!(claims["pcr00"], pcr00);
        assert_eq!(claims["pcr08"], hex::encode(verified.init_data_pcr()));
    }
}

#[test]
fn v2_user_data_is_bound_to_the_report_data() {
    let (_, hcl) = v2();
    let runtime = hcl.runtime_data().unwrap();
    runtime.check_user_data(&v2_report_data()).unwrap();

    let mut wrong = hex::decode(V2_REPORT_DATA).unwrap();
    wrong[47] ^= 1;
    assert_eq!(
        runtime.check_user_data(&ReportData::Value(wrong)),
        Err(VtpmError::UserData)
    );
    // The zero padding is part of the field: a longer expected value (the padded 64 bytes)
    // matches, a non-zero tail in the expectation does not.
    let mut padded = hex::decode(V2_REPORT_DATA).unwrap();
    padded.resize(64, 0);
    runtime
        .check_user_data(&ReportData::Value(padded.clone()))
        .unwrap();
    padded.push(0);
    assert_eq!(
        runtime.check_user_data(&ReportData::Value(padded)),
        Err(VtpmError::UserData)
    );
}

#[test]
fn v1_user_data_does_not_hold_the_report_data() {
    // v1 evidence predates user-data binding: its user-data is zero, so the v2 check fails
    // on it; the verifier only applies the check to v2 evidence.
    let (_, hcl) = evidence_v1("evidence/az-snp-vtpm/evidence-v1.json");
    let runtime = hcl.runtime_data().unwrap();
    assert_eq!(
        runtime.check_user_data(&ReportData::Value(b"challenge".to_vec())),
        Err(VtpmError::UserData)
    );
}

#[test]
fn component_files_verify_step_by_step() {
    let hcl = HclReport::parse(&shared("evidence/az-snp-vtpm/hcl-report.bin")).unwrap();
    assert_eq!(hcl.report_type(), HclReportType::Snp);
    assert_eq!(hcl.version(), 1);
    // The embedded SNP report is version 2.
    assert_eq!(hcl.hardware_report()[..4], [2, 0, 0, 0]);
    assert_eq!(
        hex::encode(&hcl.hardware_report()[0x90..0xc0]),
        "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315"
    );
    hcl.check_runtime_data_binding(&hcl.hardware_report()[SNP_REPORT_DATA])
        .unwrap();

    let quote: TpmQuoteHex =
        serde_json::from_value(json("evidence/az-snp-vtpm/tpm-quote-v1.json")).unwrap();
    let verified = verify(&quote.decode().unwrap(), &hcl).unwrap();
    verified
        .check_nonce(&ReportData::Value(b"challenge".to_vec()))
        .unwrap();

    // quote.bin: the same quote, bincode-encoded (u64 LE lengths).
    let quote = bincode_quote(&shared("evidence/az-snp-vtpm/quote.bin"));
    let from_bin = verify(&quote, &hcl).unwrap();
    assert_eq!(from_bin, verified);
}

#[test]
fn raw_quote_pair_from_another_ak_fails_the_signature_check() {
    let hcl = HclReport::parse(&shared("evidence/az-snp-vtpm/hcl-report.bin")).unwrap();
    let message = shared("evidence/az-snp-vtpm/tpm-quote.msg");
    let signature = shared("evidence/az-snp-vtpm/tpm-quote.sig");
    let attest = QuoteAttest::parse(&message).unwrap();
    assert_eq!(attest.extra_data, b"challenge");
    let quote = TpmQuote::new(signature, message, &vec![vec![0; 32]; 24]).unwrap();
    assert_eq!(verify(&quote, &hcl), Err(VtpmError::QuoteSignature));
}

#[test]
fn fails_when_a_quote_message_byte_is_flipped() {
    let (quote, hcl) = v2();
    let runtime = hcl.runtime_data().unwrap();
    for at in [0, 40, quote.message().len() - 1] {
        let mut message = quote.message().to_vec();
        message[at] ^= 0x01;
        let tampered =
            TpmQuote::new(quote.signature().to_vec(), message, &pcr_vecs(&quote)).unwrap();
        assert_eq!(
            tampered.verify(runtime.attestation_key()),
            Err(VtpmError::QuoteSignature),
            "byte {at}"
        );
    }
}

#[test]
fn fails_when_a_signature_byte_is_flipped() {
    let (quote, hcl) = v2();
    let mut signature = quote.signature().to_vec();
    signature[10] ^= 0x80;
    let tampered = TpmQuote::new(signature, quote.message().to_vec(), &pcr_vecs(&quote)).unwrap();
    assert_eq!(verify(&tampered, &hcl), Err(VtpmError::QuoteSignature));
}

#[test]
fn fails_when_a_pcr_value_differs_from_the_quoted_digest() {
    let (quote, hcl) = v2();
    let mut pcrs = pcr_vecs(&quote);
    pcrs[11][0] ^= 0x01;
    let tampered =
        TpmQuote::new(quote.signature().to_vec(), quote.message().to_vec(), &pcrs).unwrap();
    assert_eq!(verify(&tampered, &hcl), Err(VtpmError::PcrDigest));
}

#[test]
fn fails_on_a_wrong_nonce() {
    let (quote, hcl) = v2();
    let verified = verify(&quote, &hcl).unwrap();
    let mut wrong = hex::decode(V2_REPORT_DATA).unwrap();
    wrong[0] ^= 1;
    assert_eq!(
        verified.check_nonce(&ReportData::Value(wrong)),
        Err(VtpmError::Nonce)
    );
    // Exact comparison: the zero-padded form the SNP verifier would accept is not the nonce.
    let mut padded = hex::decode(V2_REPORT_DATA).unwrap();
    padded.resize(64, 0);
    assert_eq!(
        verified.check_nonce(&ReportData::Value(padded)),
        Err(VtpmError::Nonce)
    );
    assert_eq!(
        verified.check_nonce(&ReportData::NotProvided),
        Err(VtpmError::ReportDataRequired)
    );
}

#[test]
fn fails_when_the_runtime_data_is_not_bound_to_the_hardware_report() {
    let evidence = json("evidence/az-snp-vtpm/evidence-v2.json");
    let mut bytes = URL_SAFE
        .decode(evidence["hcl_report"].as_str().unwrap())
        .unwrap();
    // Change one character of `vmUniqueId`: the JSON and the AK stay valid, the hash breaks.
    let var = 1236;
    let at = var
        + bytes[var..]
            .windows(10)
            .position(|window| window == b"vmUniqueId")
            .unwrap()
        + 14;
    bytes[at] ^= 0x01;
    let hcl = HclReport::parse(&bytes).unwrap();
    hcl.runtime_data().unwrap();
    assert_eq!(
        hcl.check_runtime_data_binding(&hcl.hardware_report()[SNP_REPORT_DATA]),
        Err(VtpmError::RuntimeDataBinding)
    );
    // A report data that is too short to hold the digest is a mismatch, not a panic.
    assert_eq!(
        hcl.check_runtime_data_binding(&[0; 16]),
        Err(VtpmError::RuntimeDataBinding)
    );
}

#[test]
fn hcl_report_framing_is_checked() {
    let good = shared("evidence/az-snp-vtpm/hcl-report.bin");
    let truncated = &good[..good.len() - 1];
    assert_eq!(
        HclReport::parse(truncated),
        Err(VtpmError::MalformedHclReport(ParseError::WrongSize {
            len: 2599,
            expected: 2600
        }))
    );

    let mut bad_magic = good.clone();
    bad_magic[0] = b'X';
    assert!(matches!(
        HclReport::parse(&bad_magic),
        Err(VtpmError::MalformedHclReport(ParseError::BadMagic { .. }))
    ));

    let mut tdx = good.clone();
    tdx[1224] = 4;
    assert_eq!(
        HclReport::parse(&tdx).unwrap().report_type(),
        HclReportType::Tdx
    );

    let mut header_v3 = good.clone();
    header_v3[4] = 3;
    assert_eq!(
        HclReport::parse(&header_v3),
        Err(VtpmError::Unsupported {
            field: "hcl report version",
            value: 3
        })
    );

    let mut request_v2 = good.clone();
    request_v2[1220] = 2;
    assert_eq!(
        HclReport::parse(&request_v2),
        Err(VtpmError::Unsupported {
            field: "hcl request data version",
            value: 2
        })
    );

    let mut other_type = good.clone();
    other_type[1224] = 3;
    assert_eq!(
        HclReport::parse(&other_type),
        Err(VtpmError::Unsupported {
            field: "hcl report type",
            value: 3
        })
    );

    let mut sha384 = good.clone();
    sha384[1228] = 2;
    assert_eq!(
        HclReport::parse(&sha384),
        Err(VtpmError::Unsupported {
            field: "hcl report data hash type",
            value: 2
        })
    );

    let mut huge = good;
    huge[1232..1236].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        HclReport::parse(&huge),
        Err(VtpmError::MalformedHclReport(ParseError::TooLong {
            field: "variable_data_size",
            ..
        }))
    ));
}

#[test]
fn runtime_data_must_hold_exactly_one_rsa_ak() {
    let parse = |json: &str| RuntimeData::parse(json.as_bytes());
    assert!(matches!(
        parse(r#"{"keys":[{"kid":"HCLEkPub","kty":"RSA","n":"AQAB","e":"AQAB"}]}"#),
        Err(VtpmError::AttestationKey { .. })
    ));
    assert!(matches!(
        parse(
            r#"{"keys":[{"kid":"HCLAkPub","kty":"RSA","n":"AQAB","e":"AQAB"},
                        {"kid":"HCLAkPub","kty":"RSA","n":"AQAB","e":"AQAB"}]}"#
        ),
        Err(VtpmError::AttestationKey { .. })
    ));
    assert!(matches!(
        parse(r#"{"keys":[{"kid":"HCLAkPub","kty":"EC","n":"AQAB","e":"AQAB"}]}"#),
        Err(VtpmError::AttestationKey { .. })
    ));
    assert!(matches!(
        parse(r#"{"keys":[{"kid":"HCLAkPub","kty":"RSA","n":"AQ+B","e":"AQAB"}]}"#),
        Err(VtpmError::AttestationKey { .. })
    ));
    assert!(matches!(
        parse(r#"{"keys":"none"}"#),
        Err(VtpmError::MalformedRuntimeData { .. })
    ));
    assert!(matches!(
        parse(r#"{"keys":[{"kid":"HCLAkPub","kty":"RSA","n":"","e":"AQAB"}]}"#),
        Err(VtpmError::AttestationKey { .. })
    ));
    assert!(matches!(
        parse(r#"{"keys":[{"kid":"HCLAkPub","kty":"RSA","n":"AQAB"}]}"#),
        Err(VtpmError::AttestationKey { .. })
    ));
    assert!(parse(r#"{"keys":[{"kid":"HCLAkPub","kty":"RSA","n":"AQAB","e":"AQAB"}]}"#).is_ok());
}

#[test]
fn pcr_list_must_be_24_sha256_values() {
    assert!(matches!(
        TpmQuote::new(vec![], vec![], &vec![vec![0; 32]; 23]),
        Err(VtpmError::MalformedPcrs { .. })
    ));
    let mut pcrs = vec![vec![0; 32]; 24];
    pcrs[5] = vec![0; 48];
    assert!(matches!(
        TpmQuote::new(vec![], vec![], &pcrs),
        Err(VtpmError::MalformedPcrs { .. })
    ));
}

#[test]
fn hex_members_must_be_hex() {
    let quote: TpmQuoteHex = serde_json::from_value(serde_json::json!({
        "signature": "zz", "message": "", "pcrs": []
    }))
    .unwrap();
    assert_eq!(
        quote.decode(),
        Err(VtpmError::Hex {
            field: "tpm_quote.signature"
        })
    );
}

#[test]
fn init_data_is_bound_through_pcr8() {
    let init_data = digest(&SHA256, b"algorithm = \"sha256\"\nversion = \"0.1.0\"\n");
    let init_data = init_data.as_ref().to_vec();
    let mut extend = [0u8; 64];
    extend[32..].copy_from_slice(&init_data);
    let mut pcrs = [[0u8; 32]; PCR_COUNT];
    pcrs[8].copy_from_slice(digest(&SHA256, &extend).as_ref());
    let (quote, ak) = synthetic_quote(b"nonce", &pcrs, 0x00ff_ffff);
    let verified = quote.verify(&ak).unwrap();

    verified
        .check_init_data(&InitDataHash::Value(init_data.clone()))
        .unwrap();
    verified
        .check_init_data(&InitDataHash::NotProvided)
        .unwrap();

    let mut other = init_data.clone();
    other[31] ^= 1;
    assert_eq!(
        verified.check_init_data(&InitDataHash::Value(other)),
        Err(VtpmError::InitData)
    );
}

#[test]
fn wrong_length_init_data_digest_is_an_error_not_a_panic() {
    let (quote, hcl) = v2();
    let verified = verify(&quote, &hcl).unwrap();
    for len in [0, 31, 33, 48, 64] {
        assert_eq!(
            verified.check_init_data(&InitDataHash::Value(vec![0; len])),
            Err(VtpmError::InitDataDigestLength { len })
        );
    }
    // The samples' PCR8 is zero: never the extend of any digest.
    assert_eq!(
        verified.check_init_data(&InitDataHash::Value(vec![0; 32])),
        Err(VtpmError::InitData)
    );
}

#[test]
fn quote_must_select_exactly_pcr_0_to_23_of_the_sha256_bank() {
    let pcrs = [[7u8; 32]; PCR_COUNT];
    // PCR 0-22 only: PCR23 would be reported but not quoted.
    let (quote, ak) = synthetic_quote(b"n", &pcrs, 0x007f_ffff);
    assert!(matches!(
        quote.verify(&ak),
        Err(VtpmError::MalformedPcrs { .. })
    ));
    let (quote, ak) = synthetic_quote_with_bank(b"n", &pcrs, 0x00ff_ffff, 0x000c, 1);
    assert_eq!(
        quote.verify(&ak),
        Err(VtpmError::Unsupported {
            field: "pcr bank hash algorithm",
            value: 0x000c
        })
    ); // Two SHA-256 selections: the reported list could not say which values are which.
    let (quote, ak) = synthetic_quote_with_bank(b"n", &pcrs, 0x00ff_ffff, TPM_ALG_SHA256, 2);
    assert_eq!(
        quote.verify(&ak),
        Err(VtpmError::Unsupported {
            field: "pcr bank count",
            value: 2
        })
    );
}

fn pcr_vecs(quote: &TpmQuote) -> Vec<Vec<u8>> {
    quote.pcrs().iter().map(|pcr| pcr.to_vec()).collect()
}

/// Decodes trustee's bincode `Quote { signature: Vec<u8>, message: Vec<u8>, pcrs: Vec<[u8; 32]> }`.
fn bincode_quote(bytes: &[u8]) -> TpmQuote {
    let mut rest = bytes;
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at(n);
        rest = tail;
        head.to_vec()
    };
    let len =
        |bytes: Vec<u8>| usize::try_from(u64::from_le_bytes(bytes.try_into().unwrap())).unwrap();
    let n = len(take(8));
    let signature = take(n);
    let n = len(take(8));
    let message = take(n);
    let n = len(take(8));
    let pcrs: Vec<Vec<u8>> = (0..n).map(|_| take(32)).collect();
    TpmQuote::new(signature, message, &pcrs).unwrap()
}

fn synthetic_quote(
    nonce: &[u8],
    pcrs: &[Sha256Pcr; PCR_COUNT],
    bitmap: u32,
) -> (TpmQuote, AttestationKey) {
    synthetic_quote_with_bank(nonce, pcrs, bitmap, TPM_ALG_SHA256, 1)
}

/// A TPMS_ATTEST quote over `pcrs` signed by a fresh RSA-2048 key.
fn synthetic_quote_with_bank(
    nonce: &[u8],
    pcrs: &[Sha256Pcr; PCR_COUNT],
    bitmap: u32,
    bank: u16,
    banks: u32,
) -> (TpmQuote, AttestationKey) {
    let mut message = Vec::new();
    message.extend_from_slice(&TPM_GENERATED_VALUE.to_be_bytes());
    message.extend_from_slice(&TPM_ST_ATTEST_QUOTE.to_be_bytes());
    message.extend_from_slice(&[0, 2, 0x40, 0x00]);
    message.extend_from_slice(&u16::try_from(nonce.len()).unwrap().to_be_bytes());
    message.extend_from_slice(nonce);
    message.extend_from_slice(&[0; 17]);
    message.extend_from_slice(&[0; 8]);
    message.extend_from_slice(&banks.to_be_bytes());
    for _ in 0..banks {
        message.extend_from_slice(&bank.to_be_bytes());
        message.push(3);
        message.extend_from_slice(&bitmap.to_le_bytes()[..3]);
    }
    message.extend_from_slice(&32u16.to_be_bytes());
    message.extend_from_slice(digest(&SHA256, &pcrs.concat()).as_ref());

    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        &message,
        &mut signature,
    )
    .unwrap();
    let public = PublicKeyComponents::<Vec<u8>>::from(key.public_key());
    let pcrs: Vec<Vec<u8>> = pcrs.iter().map(|pcr| pcr.to_vec()).collect();
    (
        TpmQuote::new(signature, message, &pcrs).unwrap(),
        AttestationKey::rsa(public.n, public.e),
    )
}
