#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    RSA_PKCS1_SHA256, RSA_PSS_SHA384, RsaEncoding, RsaKeyPair,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::*;
use crate::test_support::shared;
use crate::vtpm::ParseError;

const SAMPLE_NONCE: &str = "a04182b506878d4f29b91ee606a71a0d3361ccf1b22db20c98adcaa537bea393ef0e41a18b3569ab678f1497fbc5c12000000000000000000000000000000000";

fn sample_json() -> Value {
    serde_json::from_slice(&shared("evidence/tpm/tpm_evidence.json")).unwrap()
}

fn evidence_of(json: &Value) -> TpmEvidence {
    TpmEvidence::deserialize(json).unwrap()
}

fn sample() -> TpmEvidence {
    evidence_of(&sample_json())
}

/// The error of verifying `json` with no report data or init data expected.
fn unbound_error(json: &Value) -> TpmError {
    verify(
        &evidence_of(json),
        &ReportData::NotProvided,
        &InitDataHash::NotProvided,
    )
    .unwrap_err()
}

fn b64_mutate(text: &str, at: usize, mask: u8) -> String {
    let mut bytes = STANDARD.decode(text).unwrap();
    bytes[at] ^= mask;
    STANDARD.encode(bytes)
}

fn manifest_case() -> Value {
    let cases: Value = serde_json::from_slice(&shared("cases.json")).unwrap();
    cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|case| case["id"] == "tpm/tpm_evidence")
        .unwrap()
        .clone()
}

#[test]
fn sample_verifies_without_report_data_with_the_manifest_values() {
    let case = manifest_case();
    assert_eq!(case["expect"], "pass (with ReportData::NotProvided)");
    let claims = serde_json::to_value(
        verify(
            &sample(),
            &ReportData::NotProvided,
            &InitDataHash::NotProvided,
        )
        .unwrap(),
    )
    .unwrap();
    let expected = case["claims"].as_object().unwrap();
    assert!(!expected.is_empty());
    for (name, value) in expected {
        assert_eq!(&claims[name], value, "{name}");
    }
    assert_eq!(claims["pcr17"], "f".repeat(64));
    assert_eq!(claims["pcr23"], "0".repeat(64));
    assert!(claims.get("pcr24").is_none());
    assert_eq!(claims["ak_type"], "rsa");
    assert_eq!(claims["ak_jwk"]["kty"], "RSA");
    assert_eq!(claims["ak_jwk"]["e"], "AQAB");
    // 2048-bit modulus: 256 bytes, 342 base64url characters.
    assert_eq!(claims["ak_jwk"]["n"].as_str().unwrap().len(), 342);
    assert_eq!(
        claims["ak_public_sha256"],
        hex::encode(digest(
            &SHA256,
            &STANDARD
                .decode(sample_json()["ak_public"].as_str().unwrap())
                .unwrap()
        ))
    );
    assert_eq!(claims["quote"]["signature_scheme"], "rsassa");
    assert_eq!(claims["quote"]["pcr_bank"], "sha256");
}

#[test]
fn sample_binds_its_48_byte_digest_under_the_64_byte_rule() {
    // The nonce is a 48-byte SHA-384 digest and 16 zero bytes: the attester padded to 64.
    let digest = hex::decode(&SAMPLE_NONCE[..96]).unwrap();
    verify(
        &sample(),
        &ReportData::Value(digest.clone()),
        &InitDataHash::NotProvided,
    )
    .unwrap();
    // Upstream's old rule (truncate to 32 bytes) would compare only this: it must not pass.
    assert_eq!(
        verify(
            &sample(),
            &ReportData::Value(digest[..32].to_vec()),
            &InitDataHash::NotProvided
        )
        .unwrap_err(),
        TpmError::Nonce
    );
}

#[test]
fn sample_init_data_is_pcr8() {
    // PCR8 is all zero in the sample: no init-data digest extends to that.
    assert_eq!(
        verify(
            &sample(),
            &ReportData::NotProvided,
            &InitDataHash::Value(vec![0; 32])
        )
        .unwrap_err(),
        TpmError::InitData
    );
    assert_eq!(
        verify(
            &sample(),
            &ReportData::NotProvided,
            &InitDataHash::Value(vec![0; 48])
        )
        .unwrap_err(),
        TpmError::InitDataDigestLength {
            len: 48,
            bank_size: 32
        }
    );
}

#[tokio::test]
async fn registry_verifies_the_sample() {
    let verifier = crate::verifier_for(Tee::Tpm, &crate::VerifierConfig::default()).unwrap();
    let entries = verifier
        .evaluate(
            &sample_json(),
            &ReportData::NotProvided,
            &InitDataHash::NotProvided,
        )
        .await
        .unwrap();
    assert_eq!(entries[0].1, TeeClass::Cpu);
    assert_eq!(entries[0].0.as_map()["report_data"], json!(SAMPLE_NONCE));
}

#[test]
fn flipped_signature_byte_fails_the_signature() {
    let mut json = sample_json();
    let sig = json["tpm_quote"]["signature"].as_str().unwrap().to_owned();
    json["tpm_quote"]["signature"] = json!(b64_mutate(&sig, 100, 1));
    assert_eq!(unbound_error(&json), TpmError::QuoteSignature);
}

#[test]
fn flipped_message_byte_fails_the_signature() {
    let mut json = sample_json();
    let message = json["tpm_quote"]["message"].as_str().unwrap().to_owned();
    json["tpm_quote"]["message"] = json!(b64_mutate(&message, 60, 1));
    assert_eq!(unbound_error(&json), TpmError::QuoteSignature);
}

#[test]
fn tampered_pcr_fails_the_pcr_digest() {
    let mut json = sample_json();
    json["tpm_quote"]["pcrs"][11] = json!("01".repeat(32));
    assert_eq!(unbound_error(&json), TpmError::PcrDigest);
}

#[test]
fn missing_or_missized_pcrs_are_rejected() {
    let mut json = sample_json();
    json["tpm_quote"]["pcrs"].as_array_mut().unwrap().pop();
    assert!(matches!(
        unbound_error(&json),
        TpmError::PcrSelection { .. }
    ));
    let mut json = sample_json();
    json["tpm_quote"]["pcrs"][0] = json!("00".repeat(48));
    assert!(matches!(
        unbound_error(&json),
        TpmError::MalformedPcrs { .. }
    ));
    let mut json = sample_json();
    json["tpm_quote"]["pcrs"][0] = json!("zz");
    assert_eq!(
        unbound_error(&json),
        TpmError::Encoding {
            field: "tpm_quote.pcrs",
            encoding: "hex"
        }
    );
}

#[test]
fn wrong_nonce_fails_the_nonce_check() {
    let mut digest = hex::decode(&SAMPLE_NONCE[..96]).unwrap();
    digest[0] ^= 1;
    assert_eq!(
        verify(
            &sample(),
            &ReportData::Value(digest),
            &InitDataHash::NotProvided
        )
        .unwrap_err(),
        TpmError::Nonce
    );
}

#[test]
fn every_truncation_is_an_error_without_panicking() {
    let json = sample_json();
    for field in ["signature", "message"] {
        let bytes = STANDARD
            .decode(json["tpm_quote"][field].as_str().unwrap())
            .unwrap();
        for len in 0..bytes.len() {
            let mut cut = json.clone();
            cut["tpm_quote"][field] = json!(STANDARD.encode(&bytes[..len]));
            assert!(
                verify(
                    &evidence_of(&cut),
                    &ReportData::NotProvided,
                    &InitDataHash::NotProvided
                )
                .is_err(),
                "{field} cut to {len}"
            );
        }
    }
    let ak = STANDARD
        .decode(json["ak_public"].as_str().unwrap())
        .unwrap();
    for len in 0..ak.len() {
        let mut cut = json.clone();
        cut["ak_public"] = json!(STANDARD.encode(&ak[..len]));
        assert!(
            matches!(
                verify(
                    &evidence_of(&cut),
                    &ReportData::NotProvided,
                    &InitDataHash::NotProvided
                ),
                Err(TpmError::MalformedAkPublic { .. })
            ),
            "ak_public cut to {len}"
        );
    }
}

#[test]
fn truncated_signature_names_the_structure() {
    let json = sample_json();
    let bytes = STANDARD
        .decode(json["tpm_quote"]["signature"].as_str().unwrap())
        .unwrap();
    let mut cut = json.clone();
    cut["tpm_quote"]["signature"] = json!(STANDARD.encode(&bytes[..100]));
    assert!(matches!(
        verify(
            &evidence_of(&cut),
            &ReportData::NotProvided,
            &InitDataHash::NotProvided
        )
        .unwrap_err(),
        TpmError::MalformedSignature(ParseError::Truncated { .. })
    ));
}

#[test]
fn oversized_fields_are_rejected_before_decoding() {
    let mut json = sample_json();
    json["tpm_quote"]["message"] = json!("A".repeat(8000));
    assert!(matches!(
        unbound_error(&json),
        TpmError::TooLarge {
            field: "tpm_quote.message",
            ..
        }
    ));
    let mut json = sample_json();
    json["tpm_quote"]["pcrs"]
        .as_array_mut()
        .unwrap()
        .push(json!("00".repeat(32)));
    assert!(matches!(
        unbound_error(&json),
        TpmError::MalformedPcrs { .. }
    ));
}

// ---- quotes made in the test, with AKs generated here ----

/// A SHA-256 bank quote over PCR 0-23 with `nonce`, in TPMS_ATTEST form; `digest_alg` hashes
/// the PCR values as the signing scheme's hash.
fn attest(nonce: &[u8], pcrs: &[Vec<u8>], digest_alg: &'static digest::Algorithm) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xff54_4347u32.to_be_bytes());
    out.extend(0x8018u16.to_be_bytes());
    out.extend(34u16.to_be_bytes());
    out.extend(0x000bu16.to_be_bytes());
    out.extend([0x11; 32]);
    out.extend(u16::try_from(nonce.len()).unwrap().to_be_bytes());
    out.extend(nonce);
    out.extend(1234u64.to_be_bytes());
    out.extend(5u32.to_be_bytes());
    out.extend(0u32.to_be_bytes());
    out.push(1);
    out.extend(0x2020_0312_0012_0003u64.to_be_bytes());
    out.extend(1u32.to_be_bytes());
    out.extend(0x000bu16.to_be_bytes());
    out.extend([3, 0xff, 0xff, 0xff]);
    let mut context = digest::Context::new(digest_alg);
    for pcr in pcrs {
        context.update(pcr);
    }
    let pcr_digest = context.finish();
    out.extend(
        u16::try_from(pcr_digest.as_ref().len())
            .unwrap()
            .to_be_bytes(),
    );
    out.extend(pcr_digest.as_ref());
    out
}

fn pcrs_with_init_data(init_data: &[u8]) -> Vec<Vec<u8>> {
    let mut pcrs: Vec<Vec<u8>> = (0u8..24).map(|i| vec![i; 32]).collect();
    let mut extend = vec![0u8; 32];
    extend.extend_from_slice(init_data);
    pcrs[8] = digest(&SHA256, &extend).as_ref().to_vec();
    pcrs
}

fn padded(report_data: &[u8]) -> Vec<u8> {
    let mut nonce = report_data.to_vec();
    nonce.resize(64, 0);
    nonce
}

fn tpm2b(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend(u16::try_from(bytes.len()).unwrap().to_be_bytes());
    out.extend(bytes);
}

fn evidence_json(ak_spki: &[u8], signature: &[u8], message: &[u8], pcrs: &[Vec<u8>]) -> Value {
    json!({
        "ak_public": STANDARD.encode(ak_spki),
        "tpm_quote": {
            "signature": STANDARD.encode(signature),
            "message": STANDARD.encode(message),
            "pcrs": pcrs.iter().map(hex::encode).collect::<Vec<_>>(),
        }
    })
}

fn rsa_evidence(
    scheme: u16,
    hash: u16,
    encoding: &'static dyn RsaEncoding,
    digest_alg: &'static digest::Algorithm,
    nonce: &[u8],
    pcrs: &[Vec<u8>],
) -> Value {
    let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let message = attest(nonce, pcrs, digest_alg);
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(encoding, &SystemRandom::new(), &message, &mut sig)
        .unwrap();
    let mut signature = Vec::new();
    signature.extend(scheme.to_be_bytes());
    signature.extend(hash.to_be_bytes());
    tpm2b(&mut signature, &sig);
    let spki = key.public_key().as_der().unwrap();
    evidence_json(spki.as_ref(), &signature, &message, pcrs)
}

fn ecdsa_evidence(
    alg: &'static aws_lc_rs::signature::EcdsaSigningAlgorithm,
    hash: u16,
    digest_alg: &'static digest::Algorithm,
    nonce: &[u8],
    pcrs: &[Vec<u8>],
) -> Value {
    let key = EcdsaKeyPair::generate(alg).unwrap();
    let message = attest(nonce, pcrs, digest_alg);
    let sig = key.sign(&SystemRandom::new(), &message).unwrap();
    let (r, s) = sig.as_ref().split_at(sig.as_ref().len() / 2);
    let mut signature = Vec::new();
    signature.extend(TPM_ALG_ECDSA.to_be_bytes());
    signature.extend(hash.to_be_bytes());
    tpm2b(&mut signature, r);
    tpm2b(&mut signature, s);
    let spki = key.public_key().as_der().unwrap();
    evidence_json(spki.as_ref(), &signature, &message, pcrs)
}

/// RSASSA / SHA-256 evidence quoting `nonce` and `pcrs` (the most common case below).
fn rsassa_sha256_evidence(nonce: &[u8], pcrs: &[Vec<u8>]) -> Value {
    rsa_evidence(
        TPM_ALG_RSASSA,
        TPM_ALG_SHA256,
        &RSA_PKCS1_SHA256,
        &SHA256,
        nonce,
        pcrs,
    )
}

/// ECDSA P-256 / SHA-256 evidence quoting the padded [`REPORT_DATA`] and `pcrs`.
fn p256_evidence(pcrs: &[Vec<u8>]) -> Value {
    ecdsa_evidence(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        TPM_ALG_SHA256,
        &SHA256,
        &padded(&REPORT_DATA),
        pcrs,
    )
}

const REPORT_DATA: [u8; 48] = [0x42; 48];
const INIT_DATA: [u8; 32] = [0x17; 32];

fn check(json: &Value, report_data: &[u8], init_data: &[u8]) -> Result<TpmClaims, TpmError> {
    verify(
        &evidence_of(json),
        &ReportData::Value(report_data.to_vec()),
        &InitDataHash::Value(init_data.to_vec()),
    )
}

#[test]
fn rsassa_quote_binds_report_data_and_init_data() {
    let pcrs = pcrs_with_init_data(&INIT_DATA);
    let json = rsassa_sha256_evidence(&padded(&REPORT_DATA), &pcrs);
    let claims = check(&json, &REPORT_DATA, &INIT_DATA).unwrap();
    assert_eq!(claims.report_data, hex::encode(padded(&REPORT_DATA)));
    assert_eq!(claims.init_data, Some(hex::encode(&pcrs[8])));
    assert_eq!(claims.pcrs["pcr03"], hex::encode([3u8; 32]));
    assert_eq!(claims.quote.reset_count, 5);

    let mut wrong = REPORT_DATA;
    wrong[47] ^= 1;
    assert_eq!(
        check(&json, &wrong, &INIT_DATA).unwrap_err(),
        TpmError::Nonce
    );
    let mut wrong = INIT_DATA;
    wrong[0] ^= 1;
    assert_eq!(
        check(&json, &REPORT_DATA, &wrong).unwrap_err(),
        TpmError::InitData
    );
}

#[test]
fn report_data_longer_than_64_bytes_is_truncated() {
    let long = [0x42u8; 80];
    let pcrs = pcrs_with_init_data(&INIT_DATA);
    let json = rsassa_sha256_evidence(&long[..64], &pcrs);
    check(&json, &long, &INIT_DATA).unwrap();
}

#[test]
fn quote_with_a_32_byte_nonce_does_not_bind() {
    // The one rule is 64 bytes: a quote over the 32-byte truncation never matches.
    let pcrs = pcrs_with_init_data(&INIT_DATA);
    let json = rsassa_sha256_evidence(&REPORT_DATA[..32], &pcrs);
    assert_eq!(
        check(&json, &REPORT_DATA, &INIT_DATA).unwrap_err(),
        TpmError::Nonce
    );
}

#[test]
fn rsapss_sha384_quote_verifies() {
    let pcrs = pcrs_with_init_data(&INIT_DATA);
    let json = rsa_evidence(
        TPM_ALG_RSAPSS,
        TPM_ALG_SHA384,
        &RSA_PSS_SHA384,
        &SHA384,
        &padded(&REPORT_DATA),
        &pcrs,
    );
    let claims = check(&json, &REPORT_DATA, &INIT_DATA).unwrap();
    assert_eq!(claims.quote.signature_scheme, "rsapss");
    assert_eq!(claims.quote.signature_hash, "sha384");
}

#[test]
fn scheme_claiming_another_hash_fails() {
    // Signed with PSS/SHA-384 but labelled SHA-256: the signature check fails.
    let pcrs = pcrs_with_init_data(&INIT_DATA);
    let json = rsa_evidence(
        TPM_ALG_RSAPSS,
        TPM_ALG_SHA256,
        &RSA_PSS_SHA384,
        &SHA256,
        &padded(&REPORT_DATA),
        &pcrs,
    );
    assert_eq!(
        check(&json, &REPORT_DATA, &INIT_DATA).unwrap_err(),
        TpmError::QuoteSignature
    );
}

#[test]
fn ecdsa_p256_and_p384_quotes_verify() {
    let pcrs = pcrs_with_init_data(&INIT_DATA);
    let json = p256_evidence(&pcrs);
    let claims = check(&json, &REPORT_DATA, &INIT_DATA).unwrap();
    assert_eq!(claims.ak_type, "ecc-nist-p256");
    let spki = STANDARD
        .decode(json["ak_public"].as_str().unwrap())
        .unwrap();
    let point = &spki[spki.len() - 65..];
    assert_eq!(claims.ak_jwk["crv"], "P-256");
    assert_eq!(claims.ak_jwk["x"], URL_SAFE_NO_PAD.encode(&point[1..33]));
    assert_eq!(claims.ak_jwk["y"], URL_SAFE_NO_PAD.encode(&point[33..]));
    assert_eq!(claims.quote.signature_scheme, "ecdsa");

    let json = ecdsa_evidence(
        &ECDSA_P384_SHA384_FIXED_SIGNING,
        TPM_ALG_SHA384,
        &SHA384,
        &padded(&REPORT_DATA),
        &pcrs,
    );
    assert_eq!(
        check(&json, &REPORT_DATA, &INIT_DATA).unwrap().ak_type,
        "ecc-nist-p384"
    );
}

#[test]
fn ecdsa_flipped_signature_and_tampered_pcr_fail() {
    let pcrs = pcrs_with_init_data(&INIT_DATA);
    let json = p256_evidence(&pcrs);
    let mut flipped = json.clone();
    let sig = json["tpm_quote"]["signature"].as_str().unwrap();
    flipped["tpm_quote"]["signature"] = json!(b64_mutate(sig, 10, 1));
    assert_eq!(
        check(&flipped, &REPORT_DATA, &INIT_DATA).unwrap_err(),
        TpmError::QuoteSignature
    );
    let mut tampered = json.clone();
    tampered["tpm_quote"]["pcrs"][5] = json!("ab".repeat(32));
    assert_eq!(
        check(&tampered, &REPORT_DATA, &INIT_DATA).unwrap_err(),
        TpmError::PcrDigest
    );
}

#[test]
fn rsa_signature_with_an_ecc_key_is_a_scheme_mismatch() {
    let pcrs = pcrs_with_init_data(&INIT_DATA);
    let rsa = rsassa_sha256_evidence(&padded(&REPORT_DATA), &pcrs);
    let ecc = p256_evidence(&pcrs);
    let mut mixed = rsa.clone();
    mixed["ak_public"] = ecc["ak_public"].clone();
    assert_eq!(
        check(&mixed, &REPORT_DATA, &INIT_DATA).unwrap_err(),
        TpmError::SchemeMismatch {
            scheme: TPM_ALG_RSASSA,
            key: "ecc-nist-p256"
        }
    );
}

#[test]
fn sha1_and_unknown_schemes_are_unsupported() {
    let mut json = sample_json();
    let mut sig = STANDARD
        .decode(json["tpm_quote"]["signature"].as_str().unwrap())
        .unwrap();
    sig[3] = 0x04; // TPM_ALG_SHA1
    json["tpm_quote"]["signature"] = json!(STANDARD.encode(&sig));
    assert_eq!(
        unbound_error(&json),
        TpmError::Unsupported {
            field: "signature hash algorithm",
            value: 0x0004
        }
    );
    sig[1] = 0x05; // TPM_ALG_HMAC
    json["tpm_quote"]["signature"] = json!(STANDARD.encode(&sig));
    assert_eq!(
        unbound_error(&json),
        TpmError::Unsupported {
            field: "signature scheme",
            value: 0x0005
        }
    );
}

#[test]
fn malformed_evidence_json_is_reported_as_such() {
    let err = serde_json::from_value::<TpmEvidence>(json!({"ak_public": "x"})).unwrap_err();
    assert!(err.to_string().contains("tpm_quote"), "{err}");
}

#[test]
fn rsa_spki_whose_key_is_not_pkcs1_is_malformed() {
    // rsaEncryption SPKI wrapping a bit string that is not an RSAPublicKey.
    let spki = [
        0x30, 0x16, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
        0x05, 0x00, 0x03, 0x05, 0x00, 0x02, 0x01, 0x05, 0x00,
    ];
    assert!(matches!(
        AkPublic::from_spki_der(&spki),
        Err(TpmError::MalformedAkPublic { .. })
    ));
}
