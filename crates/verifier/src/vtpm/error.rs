//! Why vTPM evidence (TPM quote + HCL report) was rejected.

use std::fmt;

/// A failed vTPM check; each variant names the check that failed (verifiers spec §2.2, §6.2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VtpmError {
    /// The TPMS_ATTEST message could not be parsed.
    #[error("malformed tpm quote message: {0}")]
    MalformedQuote(ParseError),

    /// A hex member of the `tpm_quote` JSON is not valid hex.
    #[error("evidence field `{field}` is not valid hex")]
    Hex {
        /// The evidence field.
        field: &'static str,
    },

    /// The quote's PCR values are not 32-byte SHA-256 values or not one per PCR 0-23.
    #[error("malformed tpm quote pcr list: {reason}")]
    MalformedPcrs {
        /// What was wrong with the list.
        reason: &'static str,
    },

    /// The HCL report could not be parsed.
    #[error("malformed hcl report: {0}")]
    MalformedHclReport(ParseError),

    /// The HCL runtime data (variable data) is not the JSON document the paravisor writes.
    #[error("malformed hcl runtime data: {reason}")]
    MalformedRuntimeData {
        /// What the parser objected to.
        reason: String,
    },

    /// The HCL runtime data has no usable `HCLAkPub` RSA key.
    #[error("hcl runtime data has no usable `HCLAkPub` attestation key: {reason}")]
    AttestationKey {
        /// What was wrong with the key.
        reason: &'static str,
    },

    /// A field uses a value this verifier does not accept (e.g. a non-SHA-256 PCR bank).
    #[error("unsupported {field} {value:#x}")]
    Unsupported {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u32,
    },

    /// The quote signature does not verify with the AK from the HCL runtime data.
    #[error("tpm quote signature does not verify with the hcl attestation key")]
    QuoteSignature,

    /// SHA-256 over the reported PCR values differs from the signed `pcrDigest`.
    #[error("tpm quote pcr digest does not match the reported pcr values")]
    PcrDigest,

    /// The caller gave no report data, but vTPM evidence is only fresh through its nonce.
    #[error("vtpm evidence needs the expected report data to check the quote nonce")]
    ReportDataRequired,

    /// The quote's `extraData` (nonce) is not exactly the expected report data.
    #[error("tpm quote nonce does not match the expected report data")]
    Nonce,

    /// SHA-256 of the HCL runtime data differs from the hardware report's report data, so the
    /// AK is not the one the hardware vouched for.
    #[error("hcl runtime data (attestation key) is not bound to the hardware report data")]
    RuntimeDataBinding,

    /// HCL `user-data` is missing or differs from the expected report data (evidence v2).
    #[error("hcl user-data does not match the expected report data")]
    UserData,

    /// The init-data digest is not 32 bytes, so it cannot have been extended into PCR8.
    #[error("init-data digest must be 32 bytes (sha-256) for the vtpm pcr8 binding, got {len}")]
    InitDataDigestLength {
        /// The length of the digest the caller gave.
        len: usize,
    },

    /// PCR8 is not SHA-256(32 zero bytes ‖ init-data digest).
    #[error("pcr8 does not match the expected init-data digest")]
    InitData,
}

/// Why a binary structure could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The input ended inside `field`.
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// Bytes follow the last field.
    TrailingBytes {
        /// How many.
        len: usize,
    },
    /// A length field exceeds what the structure allows.
    TooLong {
        /// The field.
        field: &'static str,
        /// Its declared length.
        len: usize,
        /// The largest length accepted.
        max: usize,
    },
    /// The input is not exactly the structure's fixed size.
    WrongSize {
        /// The size received.
        len: usize,
        /// The only size accepted.
        expected: usize,
    },
    /// A magic value or signature is wrong.
    BadMagic {
        /// The field.
        field: &'static str,
        /// The value found.
        found: u32,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { field } => write!(f, "input ends inside `{field}`"),
            Self::TrailingBytes { len } => write!(f, "{len} trailing bytes"),
            Self::TooLong { field, len, max } => {
                write!(f, "`{field}` is {len} bytes long, at most {max} allowed")
            }
            Self::WrongSize { len, expected } => {
                write!(f, "{len} bytes, expected exactly {expected}")
            }
            Self::BadMagic { field, found } => write!(f, "`{field}` is {found:#010x}"),
        }
    }
}
