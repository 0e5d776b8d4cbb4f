//! Why SEV-SNP evidence was rejected: one variant per check (verifiers spec §1.2).

use std::fmt;

use super::report::SigningKey;

/// A certificate's place in the AMD chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertRole {
    /// AMD Root Key (self-signed).
    Ark,
    /// AMD SEV Key, issuer of VCEKs.
    Ask,
    /// AMD SEV VLEK Key, issuer of VLEKs.
    Asvk,
    /// Versioned Chip Endorsement Key.
    Vcek,
    /// Versioned Loaded Endorsement Key.
    Vlek,
    /// A VCEK or VLEK whose kind is not known yet (its issuer was not recognised).
    Vek,
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ark => "ark",
            Self::Ask => "ask",
            Self::Asvk => "asvk",
            Self::Vcek => "vcek",
            Self::Vlek => "vlek",
            Self::Vek => "vek",
        })
    }
}

/// A failed SEV-SNP check. The variant names the check; fields carry the values compared.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnpError {
    /// The `attestation_report` JSON does not have the `sev` serde shape.
    #[error("malformed snp attestation report json: {reason}")]
    ReportJson {
        /// What the parser objected to.
        reason: String,
    },

    /// An ABI report must be exactly 1184 bytes.
    #[error("snp attestation report is {len} bytes, expected 1184")]
    ReportLength {
        /// The length received.
        len: usize,
    },

    /// Only report versions 2 to 5 are known.
    #[error("unsupported snp attestation report version {version}")]
    UnsupportedVersion {
        /// The report's version field.
        version: u32,
    },

    /// A JSON report field cannot be encoded in the ABI layout of its version and generation
    /// (CPUID fields on v2, FMC outside Turin, mitigation vectors before v5).
    #[error("snp attestation report field `{field}` does not fit the report's version")]
    ReportField {
        /// The field.
        field: &'static str,
    },

    /// The CPUID fields name no known EPYC generation.
    #[error("unknown amd processor: family {family:#04x} model {model:#04x}")]
    UnknownProduct {
        /// CPUID family.
        family: u8,
        /// CPUID model.
        model: u8,
    },

    /// A v2 report has no CPUID fields and the VEK's issuer is none of the AMD signing keys.
    #[error("cannot tell the processor generation of a v2 snp report from its vek issuer")]
    ProductUndetermined,

    /// A certificate is not valid DER X.509.
    #[error("malformed {cert} certificate")]
    CertificateMalformed {
        /// Which certificate.
        cert: CertRole,
    },

    /// A certificate uses a signature or key algorithm AMD does not use for it.
    #[error("{cert} certificate has an unexpected signature or key algorithm")]
    CertificateAlgorithm {
        /// Which certificate.
        cert: CertRole,
    },

    /// A certificate's issuer is not the subject of the certificate that must sign it.
    #[error("{cert} certificate is not issued by the expected amd key")]
    CertificateIssuer {
        /// Which certificate.
        cert: CertRole,
    },

    /// A certificate's signature does not verify with its issuer's key.
    #[error("signature on the {cert} certificate does not verify")]
    CertificateSignature {
        /// Which certificate.
        cert: CertRole,
    },

    /// A certificate is expired or not yet valid at the verification time.
    #[error(
        "{cert} certificate is not valid at {now} (valid from {not_before} to {not_after}, unix seconds)"
    )]
    CertificateValidity {
        /// Which certificate.
        cert: CertRole,
        /// The verification time.
        now: u64,
        /// Start of validity.
        not_before: u64,
        /// End of validity.
        not_after: u64,
    },

    /// A VEK lacks one of AMD's extensions, or its value is malformed.
    #[error("vek certificate lacks a valid `{extension}` extension")]
    VekExtension {
        /// The extension (`hwid`, `bootloader`, `tee`, `snp`, `microcode`, `fmc`).
        extension: &'static str,
    },

    /// The report's `sig_algo` is not ECDSA P-384 / SHA-384.
    #[error("unsupported snp report signature algorithm {sig_algo}")]
    SignatureAlgorithm {
        /// The report's `sig_algo`.
        sig_algo: u32,
    },

    /// The report says another kind of key signed it than the certificate presented.
    #[error("snp report names signing key {report:?} but the certificate is a {vek}")]
    SigningKeyMismatch {
        /// `KEY_INFO.SIGNING_KEY` of the report.
        report: SigningKey,
        /// The certificate's kind, from its chain.
        vek: CertRole,
    },

    /// The report's signature does not verify with the VEK.
    #[error("snp report signature does not verify with the vek")]
    ReportSignature,

    /// The VCEK was issued for another chip than the report's `chip_id`.
    #[error("vcek hardware id does not match the report's chip_id")]
    HwidMismatch,

    /// The VEK was issued for another TCB than the report's `reported_tcb`.
    #[error("vek {component} spl {vek} does not match the report's reported_tcb {report}")]
    TcbMismatch {
        /// The TCB component.
        component: &'static str,
        /// Value in the report.
        report: u8,
        /// Value in the certificate.
        vek: u8,
    },

    /// The report was not requested from VMPL 0, so a less privileged guest layer made it.
    #[error("snp report comes from vmpl {vmpl}, expected 0")]
    Vmpl {
        /// The report's VMPL.
        vmpl: u32,
    },
}
