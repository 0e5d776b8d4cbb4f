//! The vTPM quote: signature by the AK, PCR digest, nonce and init-data (PCR8) bindings.

use std::collections::BTreeMap;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};

use super::VtpmError;
use super::attest::{QuoteAttest, TPM_ALG_SHA256};
use crate::{InitDataHash, ReportData};

/// PCRs per bank that the guest attester reports (PCR 0-23 of the SHA-256 bank).
pub const PCR_COUNT: usize = 24;
/// A SHA-256 PCR value.
pub type Sha256Pcr = [u8; 32];
/// The PCR the guest extends once with the init-data digest.
const INIT_DATA_PCR: usize = 8;

/// A TPM2_Quote as the guest sends it: the raw RSA signature, the signed TPMS_ATTEST and the
/// SHA-256 values of PCR 0-23, none of it checked yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmQuote {
    signature: Vec<u8>,
    message: Vec<u8>,
    pcrs: [Sha256Pcr; PCR_COUNT],
}

impl TpmQuote {
    /// Builds a quote from its wire parts; `pcrs` must be exactly 24 values of 32 bytes.
    pub fn new(signature: Vec<u8>, message: Vec<u8>, pcrs: &[Vec<u8>]) -> Result<Self, VtpmError> {
        if pcrs.len() != PCR_COUNT {
            return Err(VtpmError::MalformedPcrs {
                reason: "expected 24 values (pcr 0-23)",
            });
        }
        let mut values = [[0u8; 32]; PCR_COUNT];
        for (slot, pcr) in values.iter_mut().zip(pcrs) {
            *slot = Sha256Pcr::try_from(pcr.as_slice()).map_err(|_| VtpmError::MalformedPcrs {
                reason: "every value must be 32 bytes (sha-256 bank)",
            })?;
        }
        Ok(Self {
            signature,
            message,
            pcrs: values,
        })
    }

    /// The signed TPMS_ATTEST bytes.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The RSA signature over [`Self::message`].
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The reported (not yet checked) values of PCR 0-23.
    pub fn pcrs(&self) -> &[Sha256Pcr; PCR_COUNT] {
        &self.pcrs
    }

    /// Verifies the quote: the signature with `ak` over the TPMS_ATTEST (checked before the
    /// message is parsed, so the parser only sees TPM-signed bytes), then that the reported
    /// PCR values hash to the signed `pcrDigest`.
    pub fn verify(&self, ak: &AttestationKey) -> Result<VerifiedQuote, VtpmError> {
        ak.verify_pkcs1_sha256(&self.message, &self.signature)?;
        let attest = QuoteAttest::parse(&self.message)?;
        check_pcr_digest(&attest, &self.pcrs)?;
        Ok(VerifiedQuote {
            attest,
            pcrs: self.pcrs,
        })
    }
}

/// The HCL attestation key (`HCLAkPub`): an RSA public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl AttestationKey {
    /// An RSA key from its big-endian modulus and public exponent.
    pub fn rsa(n: Vec<u8>, e: Vec<u8>) -> Self {
        Self { n, e }
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256, the scheme of the Azure vTPM AK (modulus 2048-8192).
    fn verify_pkcs1_sha256(&self, message: &[u8], signature: &[u8]) -> Result<(), VtpmError> {
        RsaPublicKeyComponents {
            n: self.n.as_slice(),
            e: self.e.as_slice(),
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
        .map_err(|_| VtpmError::QuoteSignature)
    }
}

/// A quote whose signature and PCR digest were checked: its nonce and PCR values are what
/// the TPM signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedQuote {
    attest: QuoteAttest,
    pcrs: [Sha256Pcr; PCR_COUNT],
}

impl VerifiedQuote {
    /// The signed TPMS_ATTEST.
    pub fn attest(&self) -> &QuoteAttest {
        &self.attest
    }

    /// The quote's nonce (`extraData`).
    pub fn nonce(&self) -> &[u8] {
        &self.attest.extra_data
    }

    /// PCR 0-23 of the SHA-256 bank.
    pub fn pcrs(&self) -> &[Sha256Pcr; PCR_COUNT] {
        &self.pcrs
    }

    /// PCR8, which carries the init-data binding.
    pub fn init_data_pcr(&self) -> &Sha256Pcr {
        &self.pcrs[INIT_DATA_PCR]
    }

    /// The nonce must be exactly the expected report data: the Azure attester passes the raw
    /// runtime-data digest as the TPM nonce, so no padding or truncation (verifiers spec §0.2).
    ///
    /// Report data is required: the quote's nonce is the only freshness this evidence has,
    /// so skipping it would accept a replayed quote (upstream refuses too, §2.2 step 1).
    pub fn check_nonce(&self, expected: &ReportData) -> Result<(), VtpmError> {
        let ReportData::Value(expected) = expected else {
            return Err(VtpmError::ReportDataRequired);
        };
        if self.attest.extra_data != *expected {
            return Err(VtpmError::Nonce);
        }
        Ok(())
    }

    /// PCR8 must be SHA-256(32 zero bytes ‖ digest): one extend of the init-data digest from
    /// the reset value. The digest must be 32 bytes; upstream copies it into a 32-byte slot and
    /// panics otherwise (spec §14.4), here it is an error.
    pub fn check_init_data(&self, expected: &InitDataHash) -> Result<(), VtpmError> {
        let InitDataHash::Value(hash) = expected else {
            return Ok(());
        };
        if hash.len() != 32 {
            return Err(VtpmError::InitDataDigestLength { len: hash.len() });
        }
        let mut extend = [0u8; 64];
        extend[32..].copy_from_slice(hash);
        if digest(&SHA256, &extend).as_ref() != self.init_data_pcr().as_slice() {
            return Err(VtpmError::InitData);
        }
        Ok(())
    }

    /// The `tpm` claims: `{"pcr00": hex, …, "pcr23": hex}` (verifiers spec §2.3).
    pub fn pcr_claims(&self) -> BTreeMap<String, String> {
        (0usize..)
            .zip(&self.pcrs)
            .map(|(index, pcr)| (format!("pcr{index:02}"), hex::encode(pcr)))
            .collect()
    }
}

/// SHA-256 over the selected PCR values, in selection order, must equal the signed
/// `pcrDigest`; otherwise the reported values are not the ones the TPM quoted.
///
/// The guest reports only the SHA-256 bank, so the quote must select exactly that bank and
/// every one of PCR 0-23: a reported value outside the selection would be unauthenticated.
fn check_pcr_digest(attest: &QuoteAttest, pcrs: &[Sha256Pcr; PCR_COUNT]) -> Result<(), VtpmError> {
    let [selection] = attest.pcr_selections.as_slice() else {
        return Err(VtpmError::Unsupported {
            field: "pcr bank count",
            value: u32::try_from(attest.pcr_selections.len()).unwrap_or(u32::MAX),
        });
    };
    if selection.hash != TPM_ALG_SHA256 {
        return Err(VtpmError::Unsupported {
            field: "pcr bank hash algorithm",
            value: u32::from(selection.hash),
        });
    }
    if !selection.pcrs.iter().copied().eq(0..24u8) {
        return Err(VtpmError::MalformedPcrs {
            reason: "the quote must select exactly pcr 0-23",
        });
    }
    let concatenated = pcrs.concat();
    if digest(&SHA256, &concatenated).as_ref() != attest.pcr_digest.as_slice() {
        return Err(VtpmError::PcrDigest);
    }
    Ok(())
}
