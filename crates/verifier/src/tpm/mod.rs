//! `tpm`: a plain TPM 2.0 quote, for confidential VMs whose firmware exposes a vTPM
//! (verifiers spec §10).
//!
//! Evidence: `{"ak_public": base64 DER SubjectPublicKeyInfo, "tpm_quote": {"signature":
//! base64 marshalled TPMT_SIGNATURE, "message": base64 TPMS_ATTEST, "pcrs": [hex, …]}}`,
//! `pcrs` being the values of PCR 0, 1, … of one bank. [`verify`] checks:
//!
//! 1. the signature over the TPMS_ATTEST with `ak_public`: RSASSA-PKCS1-v1_5 or RSASSA-PSS
//!    with an RSA AK, ECDSA with a P-256/384/521 AK, SHA-256/384/512 (upstream takes RSASSA
//!    only); the message is parsed only after its signature verified;
//! 2. the quote's PCR selection: one bank, whose digest size is that of the reported values,
//!    selecting only reported PCRs; the hash (the signing scheme's, as TPM2_Quote computes
//!    it) over the selected values in selection order equals the signed `pcrDigest`;
//! 3. the nonce (`extraData`) is the expected report data zero-padded, or truncated, to
//!    **64 bytes** — the one length rule, see below; skipped when no report data is given;
//! 4. init data: PCR8 = H(zeros ‖ digest), one extend from reset in the reported bank.
//!
//! The AK is self-declared: nothing here says the key lives in a TPM. Trust in it is the
//! policy's (claims `ak_public`, `ak_public_sha256`), as upstream.
//!
//! Nonce length (spec §14.8, testdata finding §8.5): the guest attester pads the report data
//! to 64 bytes before quoting (the shared `tpm_evidence.json` carries a 48-byte digest plus 16
//! zeros), and upstream's verifier at the time the spec was written resized the expected value
//! to 32 bytes, so no real evidence could bind. Current upstream pads to 64, as here; a quote
//! made with a 32-byte (truncated) nonce does not verify.
//!
//! Claims: upstream's `report_data` (hex nonce), `init_data` (hex PCR8) and `pcr00`…`pcr23`
//! at the top level (only PCRs the quote covers), plus `ak_public`, `ak_public_sha256`,
//! `ak_type`, `ak_jwk` and the quote's `quote` fields.

mod error;
mod key;
mod signature;

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_lc_rs::digest::{self, SHA256, SHA384, SHA512, digest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kbs_types::Tee;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use error::TpmError;
pub use key::{AkPublic, EccCurve, TPM_ALG_SHA384, TPM_ALG_SHA512};
pub use signature::{
    SignatureParseError, TPM_ALG_ECDSA, TPM_ALG_RSAPSS, TPM_ALG_RSASSA, TpmSignature,
};

use crate::vtpm::{QuoteAttest, TPM_ALG_SHA256};
use crate::{Error, InitDataHash, ReportData, TeeClass, TeeEvidenceClaims, Verifier};

/// The quote nonce's length: the report data is zero-padded or truncated to it.
pub const NONCE_SIZE: usize = 64;
/// The PCR the guest extends once with the init-data digest.
const INIT_DATA_PCR: u8 = 8;
/// PCRs per bank on a PC-client TPM.
const MAX_PCRS: usize = 24;
/// Size caps on the decoded evidence fields (real ones: SPKI ≤ 600, signature ≤ 520,
/// TPMS_ATTEST ≤ 300 bytes).
const MAX_AK_PUBLIC: usize = 4096;
const MAX_SIGNATURE: usize = 2048;
const MAX_MESSAGE: usize = 2048;

/// TPM evidence as the guest attester sends it.
#[derive(Debug, Clone, Deserialize)]
pub struct TpmEvidence {
    /// Base64 DER SubjectPublicKeyInfo of the AK.
    pub ak_public: String,
    /// The quote.
    pub tpm_quote: TpmQuoteJson,
}

/// The `tpm_quote` member.
#[derive(Debug, Clone, Deserialize)]
pub struct TpmQuoteJson {
    /// Base64 marshalled TPMT_SIGNATURE.
    pub signature: String,
    /// Base64 TPMS_ATTEST.
    pub message: String,
    /// Hex values of PCR 0, 1, …
    pub pcrs: Vec<String>,
}

/// The quote fields reported as claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuoteClaims {
    /// `qualifiedSigner` (hex): the AK's name.
    pub qualified_signer: String,
    /// `clockInfo.clock` (ms the TPM has been powered).
    pub clock: u64,
    /// `clockInfo.resetCount`.
    pub reset_count: u32,
    /// `clockInfo.restartCount`.
    pub restart_count: u32,
    /// `clockInfo.safe`.
    pub safe: bool,
    /// `firmwareVersion` (hex).
    pub firmware_version: String,
    /// The PCR bank (`sha256`, ...).
    pub pcr_bank: String,
    /// `pcrDigest` (hex).
    pub pcr_digest: String,
    /// The signature scheme (`rsassa`, `rsapss`, `ecdsa`).
    pub signature_scheme: String,
    /// The signature hash (`sha256`, ...).
    pub signature_hash: String,
}

/// Claims of verified TPM evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TpmClaims {
    /// The quote nonce (hex).
    pub report_data: String,
    /// PCR8 (hex), when quoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_data: Option<String>,
    /// `ak_public` as received, standard base64 of the DER SPKI.
    pub ak_public: String,
    /// SHA-256 of the DER SPKI (hex), to compare with a list of trusted AKs.
    pub ak_public_sha256: String,
    /// `rsa`, `ecc-nist-p256`, ...
    pub ak_type: String,
    /// The AK as a JWK.
    pub ak_jwk: Value,
    /// Quote fields.
    pub quote: QuoteClaims,
    /// `pcr00`…`pcr23` (hex) of the quoted PCRs.
    #[serde(flatten)]
    pub pcrs: BTreeMap<String, String>,
}

/// The decoded evidence, nothing checked yet.
#[derive(Debug, Clone)]
struct Decoded {
    ak_der: Vec<u8>,
    signature: Vec<u8>,
    message: Vec<u8>,
    pcrs: Vec<Vec<u8>>,
}

fn base64_field(field: &'static str, text: &str, max: usize) -> Result<Vec<u8>, TpmError> {
    // Four base64 characters per three bytes: reject before decoding anything huge.
    if text.len() / 4 * 3 > max + 3 {
        return Err(TpmError::TooLarge {
            field,
            len: text.len() / 4 * 3,
            max,
        });
    }
    let bytes = STANDARD.decode(text).map_err(|_| TpmError::Encoding {
        field,
        encoding: "base64",
    })?;
    if bytes.len() > max {
        return Err(TpmError::TooLarge {
            field,
            len: bytes.len(),
            max,
        });
    }
    Ok(bytes)
}

impl TpmEvidence {
    fn decode(&self) -> Result<Decoded, TpmError> {
        let quote = &self.tpm_quote;
        if quote.pcrs.len() > MAX_PCRS {
            return Err(TpmError::MalformedPcrs {
                reason: format!("{} values, at most {MAX_PCRS}", quote.pcrs.len()),
            });
        }
        let pcrs = quote
            .pcrs
            .iter()
            .map(|pcr| {
                hex::decode(pcr).map_err(|_| TpmError::Encoding {
                    field: "tpm_quote.pcrs",
                    encoding: "hex",
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Decoded {
            ak_der: base64_field("ak_public", &self.ak_public, MAX_AK_PUBLIC)?,
            signature: base64_field("tpm_quote.signature", &quote.signature, MAX_SIGNATURE)?,
            message: base64_field("tpm_quote.message", &quote.message, MAX_MESSAGE)?,
            pcrs,
        })
    }
}

fn hash_algorithm(alg: u16) -> Option<(&'static digest::Algorithm, &'static str)> {
    match alg {
        TPM_ALG_SHA256 => Some((&SHA256, "sha256")),
        TPM_ALG_SHA384 => Some((&SHA384, "sha384")),
        TPM_ALG_SHA512 => Some((&SHA512, "sha512")),
        _ => None,
    }
}

/// Verifies TPM evidence against the expected report data and init-data digest; returns the
/// claims on success, otherwise the failed check.
pub fn verify(
    evidence: &TpmEvidence,
    expected_report_data: &ReportData,
    expected_init_data_hash: &InitDataHash,
) -> Result<TpmClaims, TpmError> {
    let decoded = evidence.decode()?;
    let ak = AkPublic::from_spki_der(&decoded.ak_der)?;
    let signature = TpmSignature::parse(&decoded.signature).map_err(|err| match err {
        SignatureParseError::Parse(err) => TpmError::MalformedSignature(err),
        SignatureParseError::Scheme(value) => TpmError::Unsupported {
            field: "signature scheme",
            value,
        },
    })?;
    ak.verify(&decoded.message, &signature)?;
    let attest = QuoteAttest::parse_raw(&decoded.message).map_err(TpmError::MalformedQuote)?;

    let (bank, selected) = check_pcr_digest(&attest, &decoded.pcrs, signature.hash())?;
    check_nonce(&attest.extra_data, expected_report_data)?;
    let pcr8 = selected
        .iter()
        .find(|(index, _)| *index == INIT_DATA_PCR)
        .map(|(_, value)| *value);
    check_init_data(pcr8, bank, expected_init_data_hash)?;

    let (_, bank_name) = hash_algorithm(bank).unwrap_or((&SHA256, "unknown"));
    let (_, signature_hash) = hash_algorithm(signature.hash()).unwrap_or((&SHA256, "unknown"));
    Ok(TpmClaims {
        report_data: hex::encode(&attest.extra_data),
        init_data: pcr8.map(hex::encode),
        ak_public: STANDARD.encode(&decoded.ak_der),
        ak_public_sha256: hex::encode(digest(&SHA256, &decoded.ak_der)),
        ak_type: ak.kind().into(),
        ak_jwk: ak.jwk(),
        quote: QuoteClaims {
            qualified_signer: hex::encode(&attest.qualified_signer),
            clock: attest.clock,
            reset_count: attest.reset_count,
            restart_count: attest.restart_count,
            safe: attest.safe,
            firmware_version: format!("{:016x}", attest.firmware_version),
            pcr_bank: bank_name.into(),
            pcr_digest: hex::encode(&attest.pcr_digest),
            signature_scheme: match signature.scheme() {
                TPM_ALG_RSASSA => "rsassa",
                TPM_ALG_RSAPSS => "rsapss",
                _ => "ecdsa",
            }
            .into(),
            signature_hash: signature_hash.into(),
        },
        pcrs: selected
            .iter()
            .map(|(index, value)| (format!("pcr{index:02}"), hex::encode(value)))
            .collect(),
    })
}

/// A quoted PCR: its index and reported value.
type QuotedPcr<'a> = (u8, &'a [u8]);

/// Checks the PCR selection against the reported values and the signed digest; returns the
/// bank and the selected `(index, value)` pairs in selection order.
fn check_pcr_digest<'a>(
    attest: &QuoteAttest,
    pcrs: &'a [Vec<u8>],
    signature_hash: u16,
) -> Result<(u16, Vec<QuotedPcr<'a>>), TpmError> {
    let selection_error = |reason: &str| TpmError::PcrSelection {
        reason: reason.into(),
    };
    // The guest reports one bank; values of a second selected bank would be missing.
    let [selection] = attest.pcr_selections.as_slice() else {
        return Err(selection_error(
            "the quote must select exactly one pcr bank",
        ));
    };
    let (bank_algorithm, _) = hash_algorithm(selection.hash).ok_or(TpmError::Unsupported {
        field: "pcr bank",
        value: selection.hash,
    })?;
    let bank_size = bank_algorithm.output_len();
    if let Some(bad) = pcrs.iter().find(|pcr| pcr.len() != bank_size) {
        return Err(TpmError::MalformedPcrs {
            reason: format!("a value of {} bytes in a {bank_size}-byte bank", bad.len()),
        });
    }
    if selection.pcrs.is_empty() {
        return Err(selection_error("no pcr is selected"));
    }
    let selected = selection
        .pcrs
        .iter()
        .map(|&index| {
            pcrs.get(usize::from(index))
                .map(|value| (index, value.as_slice()))
                .ok_or_else(|| selection_error("a selected pcr was not reported"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (digest_algorithm, _) = hash_algorithm(signature_hash).ok_or(TpmError::Unsupported {
        field: "signature hash algorithm",
        value: signature_hash,
    })?;
    let mut context = digest::Context::new(digest_algorithm);
    for (_, value) in &selected {
        context.update(value);
    }
    if context.finish().as_ref() != attest.pcr_digest.as_slice() {
        return Err(TpmError::PcrDigest);
    }
    Ok((selection.hash, selected))
}

/// The nonce must be the report data zero-padded (or truncated) to [`NONCE_SIZE`].
fn check_nonce(nonce: &[u8], expected: &ReportData) -> Result<(), TpmError> {
    let ReportData::Value(expected) = expected else {
        return Ok(());
    };
    let mut padded = [0u8; NONCE_SIZE];
    let len = expected.len().min(NONCE_SIZE);
    padded[..len].copy_from_slice(&expected[..len]);
    if nonce != padded {
        return Err(TpmError::Nonce);
    }
    Ok(())
}

/// PCR8 must be H(zeros ‖ digest) in the bank's hash: one extend from the reset value.
fn check_init_data(
    pcr8: Option<&[u8]>,
    bank: u16,
    expected: &InitDataHash,
) -> Result<(), TpmError> {
    let InitDataHash::Value(hash) = expected else {
        return Ok(());
    };
    let pcr8 = pcr8.ok_or(TpmError::InitDataPcrNotQuoted)?;
    let (algorithm, _) = hash_algorithm(bank).ok_or(TpmError::Unsupported {
        field: "pcr bank",
        value: bank,
    })?;
    let bank_size = algorithm.output_len();
    if hash.len() != bank_size {
        return Err(TpmError::InitDataDigestLength {
            len: hash.len(),
            bank_size,
        });
    }
    let mut extend = vec![0u8; bank_size];
    extend.extend_from_slice(hash);
    if digest(algorithm, &extend).as_ref() != pcr8 {
        return Err(TpmError::InitData);
    }
    Ok(())
}

/// The `tpm` [`Verifier`]. Needs no configuration (upstream's `tpm_verifier` is empty).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tpm;

#[async_trait]
impl Verifier for Tpm {
    async fn evaluate(
        &self,
        evidence: &Value,
        expected_report_data: &ReportData,
        expected_init_data_hash: &InitDataHash,
    ) -> Result<Vec<(TeeEvidenceClaims, TeeClass)>, Error> {
        let evidence =
            TpmEvidence::deserialize(evidence).map_err(|err| Error::MalformedEvidence {
                tee: Tee::Tpm,
                reason: err.to_string(),
            })?;
        let claims = verify(&evidence, expected_report_data, expected_init_data_hash)?;
        Ok(vec![(
            TeeEvidenceClaims::from_serialize(&claims)?,
            TeeClass::Cpu,
        )])
    }
}

#[cfg(test)]
mod tests;
