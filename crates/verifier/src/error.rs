//! The crate's one error type.

use kbs_types::Tee;

/// Why a verifier could not be created or why evidence was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The TEE is a known wire name, but this build has no verifier for it.
    #[error("no verifier for tee `{tee}` is available in this build")]
    Unsupported {
        /// The TEE that was asked for.
        tee: Tee,
    },

    /// The evidence JSON does not have the shape the TEE's verifier expects.
    #[error("malformed {tee} evidence: {reason}")]
    MalformedEvidence {
        /// The TEE whose evidence was being parsed.
        tee: Tee,
        /// What the parser objected to.
        reason: String,
    },

    /// An evidence field that must be standard base64 is not.
    #[error("evidence field `{field}` is not valid standard base64")]
    Base64 {
        /// The evidence field.
        field: &'static str,
    },

    /// A binding was requested but the evidence carries no value to bind against.
    #[error("evidence has no `{field}` to check against the expected value")]
    Missing {
        /// The evidence field that should have been present.
        field: &'static str,
    },

    /// A bound value in the evidence differs from the expected one.
    #[error("evidence `{field}` does not match the expected value")]
    Mismatch {
        /// The evidence field that differs.
        field: &'static str,
    },

    /// Claims produced by a verifier were not a JSON object.
    #[error("verifier claims must be a JSON object")]
    ClaimsNotObject,

    /// Hygon CSV evidence failed a check (the variant names which).
    #[error(transparent)]
    Csv(#[from] crate::csv::CsvError),

    /// A verifier's section of `verifier_config` is invalid.
    #[error("invalid verifier_config.{section}: {reason}")]
    InvalidConfig {
        /// The section, e.g. `snp_verifier`.
        section: &'static str,
        /// What the parser objected to.
        reason: String,
    },

    /// AMD SEV-SNP evidence failed a check.
    #[error(transparent)]
    Snp(#[from] crate::snp::SnpError),

    /// Collateral (a VCEK, ...) could not be obtained.
    #[error(transparent)]
    Collateral(#[from] crate::collateral::CollateralError),

    /// Azure vTPM evidence (TPM quote, HCL report) failed a check (the variant names which).
    #[error(transparent)]
    Vtpm(#[from] crate::vtpm::VtpmError),

    /// A confidential-computing event log is malformed or does not replay to the quoted
    /// measurement registers.
    #[error(transparent)]
    EventLog(#[from] crate::eventlog::EventLogError),

    /// An Intel DCAP quote (TDX, SGX) failed a check (the variant names which).
    #[error(transparent)]
    Dcap(#[from] crate::dcap::DcapError),

    /// Arm CCA evidence failed a check (the variant names which).
    #[error(transparent)]
    Cca(#[from] crate::cca::CcaError),

    /// TPM evidence failed a check (the variant names which).
    #[error(transparent)]
    Tpm(#[from] crate::tpm::TpmError),

    /// NVIDIA GPU evidence failed a check (the variant names which).
    #[error(transparent)]
    Nvidia(#[from] crate::nvidia::NvidiaError),
}
