//! Why Hygon CSV evidence was rejected: one variant per failed check.

use std::fmt;

use crate::collateral::CollateralError;

/// A key in Hygon's certificate chain (verifiers spec §8.2): HRK → HSK → CEK → PEK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertRole {
    /// Hygon Root Key: self-signed, embedded in this crate.
    Hrk,
    /// Hygon Signing Key: signed by the HRK.
    Hsk,
    /// Chip Endorsement Key: one per chip, signed by the HSK.
    Cek,
    /// Platform Endorsement Key: signed by the CEK; signs attestation reports.
    Pek,
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hrk => "hrk",
            Self::Hsk => "hsk",
            Self::Cek => "cek",
            Self::Pek => "pek",
        })
    }
}

/// Why Hygon CSV evidence failed verification; each variant names the check.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsvError {
    /// A binary structure is shorter than its fixed layout.
    #[error("csv {structure} is truncated")]
    Truncated {
        /// The structure being parsed.
        structure: &'static str,
    },

    /// A binary structure is longer than its fixed layout.
    #[error("csv {structure} has trailing bytes")]
    TrailingBytes {
        /// The structure being parsed.
        structure: &'static str,
    },

    /// A certificate field holds a value its layout does not allow.
    #[error("malformed {cert} certificate: {field}")]
    MalformedCertificate {
        /// The certificate.
        cert: CertRole,
        /// The offending field and what is wrong with it.
        field: &'static str,
    },

    /// A certificate version this verifier does not know.
    #[error("unsupported {cert} certificate version {version}")]
    UnsupportedCertificateVersion {
        /// The certificate.
        cert: CertRole,
        /// The version it carries.
        version: u32,
    },

    /// A certificate key or signature is not SM2 (curve or algorithm id).
    #[error("{cert} certificate {field} is {found}, expected {expected} (sm2)")]
    NotSm2 {
        /// The certificate.
        cert: CertRole,
        /// `curve` or `algorithm`.
        field: &'static str,
        /// The id found.
        found: u32,
        /// The SM2 id.
        expected: u32,
    },

    /// A certificate's key usage is not the one its place in the chain requires.
    #[error("{cert} certificate has key usage {found:#06x}, expected {expected:#06x}")]
    WrongKeyUsage {
        /// The certificate.
        cert: CertRole,
        /// The usage found.
        found: u32,
        /// The usage its role requires.
        expected: u32,
    },

    /// A certificate's signer id (`sid`) is not its issuer's key id (`kid`).
    #[error("{cert} certificate names another issuer than this {issuer}")]
    IssuerMismatch {
        /// The certificate.
        cert: CertRole,
        /// The issuer it was checked against.
        issuer: CertRole,
    },

    /// A CEK/PEK certificate has no signature slot for its issuer.
    #[error("{cert} certificate carries no signature by a {issuer}")]
    MissingSignature {
        /// The certificate.
        cert: CertRole,
        /// The issuer whose signature slot is missing.
        issuer: CertRole,
    },

    /// A certificate's SM2 signature by its issuer does not verify.
    #[error("{cert} certificate signature by the {issuer} is invalid")]
    BadCertificateSignature {
        /// The certificate.
        cert: CertRole,
        /// The issuer whose key was used.
        issuer: CertRole,
    },

    /// The attestation report's `magic`/`flags` select no report version this verifier knows.
    #[error("unsupported csv attestation report (magic {magic}, flags {flags:#x})")]
    UnsupportedReport {
        /// The `magic` member, hex.
        magic: String,
        /// The `flags` member.
        flags: u32,
    },

    /// The report says it is signed with another key usage or algorithm than the PEK's SM2.
    #[error("csv attestation report {field} is {found:#x}, expected {expected:#x}")]
    WrongReportSigner {
        /// `sig_usage` or `sig_algo`.
        field: &'static str,
        /// The value in the report (unmasked).
        found: u32,
        /// The PEK's value.
        expected: u32,
    },

    /// The attestation report's SM2 signature by the PEK does not verify.
    #[error("csv attestation report signature by the pek is invalid")]
    BadReportSignature,

    /// The evidence's `serial_number` is not a NUL-padded alphanumeric chip serial.
    #[error("csv serial_number is not a valid chip serial")]
    InvalidSerialNumber,

    /// The evidence carries no HSK/CEK and no configured source could provide them.
    #[error("hsk/cek of csv chip `{serial}` unavailable")]
    HskCekUnavailable {
        /// The chip serial that was looked up.
        serial: String,
        /// Why the last source failed.
        #[source]
        source: CollateralError,
    },

    /// The `csv_verifier` table of `verifier_config` is invalid.
    #[error("invalid csv_verifier config: {reason}")]
    Config {
        /// What the config parser objected to.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_failed_check() {
        let cases = [
            (
                CsvError::BadCertificateSignature {
                    cert: CertRole::Cek,
                    issuer: CertRole::Hsk,
                },
                "cek certificate signature by the hsk is invalid",
            ),
            (
                CsvError::IssuerMismatch {
                    cert: CertRole::Hsk,
                    issuer: CertRole::Hrk,
                },
                "hsk certificate names another issuer than this hrk",
            ),
            (
                CsvError::WrongKeyUsage {
                    cert: CertRole::Pek,
                    found: 0x1004,
                    expected: 0x1002,
                },
                "pek certificate has key usage 0x1004, expected 0x1002",
            ),
            (
                CsvError::BadReportSignature,
                "csv attestation report signature by the pek is invalid",
            ),
            (
                CsvError::UnsupportedReport {
                    magic: "00".repeat(16),
                    flags: 2,
                },
                "unsupported csv attestation report (magic 00000000000000000000000000000000, \
                 flags 0x2)",
            ),
            (
                CsvError::HskCekUnavailable {
                    serial: "KPA64911240507".into(),
                    source: CollateralError::Exhausted { what: "hsk/cek" },
                },
                "hsk/cek of csv chip `KPA64911240507` unavailable",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }
}
