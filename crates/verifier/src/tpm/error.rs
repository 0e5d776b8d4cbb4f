//! Why TPM evidence was rejected.

use crate::vtpm::ParseError;

/// A failed TPM check; each variant names the check that failed (verifiers spec §10).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TpmError {
    /// An evidence field is not valid standard base64 (or, for PCRs, hex).
    #[error("evidence field `{field}` is not valid {encoding}")]
    Encoding {
        /// The evidence field.
        field: &'static str,
        /// `base64` or `hex`.
        encoding: &'static str,
    },

    /// An evidence field is larger than any real TPM produces.
    #[error("evidence field `{field}` is {len} bytes long, at most {max} accepted")]
    TooLarge {
        /// The evidence field.
        field: &'static str,
        /// Its size.
        len: usize,
        /// The largest size accepted.
        max: usize,
    },

    /// `ak_public` is not a DER SubjectPublicKeyInfo of an RSA or NIST-curve EC key.
    #[error("malformed ak_public: {reason}")]
    MalformedAkPublic {
        /// What was wrong with it.
        reason: String,
    },

    /// The marshalled TPMT_SIGNATURE could not be parsed.
    #[error("malformed tpm quote signature: {0}")]
    MalformedSignature(ParseError),

    /// The TPMS_ATTEST message could not be parsed as a quote.
    #[error("malformed tpm quote message: {0}")]
    MalformedQuote(ParseError),

    /// The PCR values are not all of one bank's digest size, or too many.
    #[error("malformed tpm quote pcr list: {reason}")]
    MalformedPcrs {
        /// What was wrong with the list.
        reason: String,
    },

    /// An algorithm this verifier does not accept.
    #[error("unsupported {field} {value:#06x}")]
    Unsupported {
        /// The field (signature scheme, hash algorithm, pcr bank).
        field: &'static str,
        /// The TPM_ALG_ID found.
        value: u16,
    },

    /// The signature scheme does not fit the AK (an ECDSA signature with an RSA key, ...).
    #[error("tpm quote signature scheme {scheme:#06x} does not fit the {key} attestation key")]
    SchemeMismatch {
        /// The TPM_ALG_ID of the signature scheme.
        scheme: u16,
        /// The AK's type.
        key: &'static str,
    },

    /// The quote signature does not verify with `ak_public`.
    #[error("tpm quote signature does not verify with ak_public")]
    QuoteSignature,

    /// The quote's PCR selection cannot be matched with the reported values.
    #[error("tpm quote pcr selection does not fit the reported pcrs: {reason}")]
    PcrSelection {
        /// What does not fit.
        reason: String,
    },

    /// The digest of the selected reported PCRs differs from the signed `pcrDigest`.
    #[error("tpm quote pcr digest does not match the reported pcr values")]
    PcrDigest,

    /// The quote's nonce is not the expected report data zero-padded to 64 bytes.
    #[error("tpm quote nonce does not match the expected report data")]
    Nonce,

    /// The init-data digest does not have the PCR bank's digest size.
    #[error("init-data digest of {len} bytes cannot be extended into a {bank_size}-byte pcr8")]
    InitDataDigestLength {
        /// The length of the digest the caller gave.
        len: usize,
        /// The PCR bank's digest size.
        bank_size: usize,
    },

    /// Init data was given but PCR8 is not among the quoted PCRs.
    #[error("init data cannot be checked: pcr8 is not in the quote")]
    InitDataPcrNotQuoted,

    /// PCR8 is not H(zeros ‖ init-data digest).
    #[error("pcr8 does not match the expected init-data digest")]
    InitData,
}
