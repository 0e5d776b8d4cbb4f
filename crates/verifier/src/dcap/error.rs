//! Why a DCAP quote was rejected: one variant per check (verifiers spec §3).

use std::fmt;

/// A certificate's place in the Intel DCAP PKI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertRole {
    /// The PCK certificate of the platform (leaf of the chain in the quote).
    PckLeaf,
    /// The Intel SGX PCK Platform or Processor CA (issuer of the PCK leaf).
    PckCa,
    /// The Intel SGX Root CA (self-signed; pinned).
    Root,
    /// The Intel SGX TCB Signing certificate (signs TCB Info and QE Identity).
    TcbSigning,
    /// The issuer of the PCK CRL (must be the PCK leaf's issuer).
    PckCrlIssuer,
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PckLeaf => "pck leaf certificate",
            Self::PckCa => "pck ca certificate",
            Self::Root => "intel sgx root ca certificate",
            Self::TcbSigning => "tcb signing certificate",
            Self::PckCrlIssuer => "pck crl issuer certificate",
        })
    }
}

/// Which CRL a check was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrlKind {
    /// The PCK CRL (issued by the PCK Platform or Processor CA).
    Pck,
    /// The Intel SGX Root CA CRL.
    RootCa,
}

impl fmt::Display for CrlKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pck => "pck crl",
            Self::RootCa => "root ca crl",
        })
    }
}

/// Which signed collateral document a check was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignedCollateral {
    /// TCB Info (per FMSPC).
    TcbInfo,
    /// QE Identity (`QE` or `TD_QE`).
    QeIdentity,
}

impl fmt::Display for SignedCollateral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TcbInfo => "tcb info",
            Self::QeIdentity => "qe identity",
        })
    }
}

/// A failed DCAP check. The variant names the check; fields carry the values compared.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DcapError {
    // ---- quote parsing -------------------------------------------------------------------
    /// The quote is larger than any real quote ([`super::quote::MAX_QUOTE_LEN`]).
    #[error("dcap quote is {len} bytes, more than the {max} accepted")]
    QuoteTooLarge {
        /// The length received.
        len: usize,
        /// The cap.
        max: usize,
    },

    /// The quote ends inside a field.
    #[error(
        "dcap quote truncated in {field} (needs {needed} bytes at offset {offset}, has {available})"
    )]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// Its length.
        needed: usize,
        /// Bytes left at that offset.
        available: usize,
    },

    /// Only quote versions 3 (SGX), 4 and 5 are known.
    #[error("unsupported dcap quote version {version}")]
    UnsupportedVersion {
        /// The header's version.
        version: u16,
    },

    /// Only ECDSA-256-with-P-256 attestation keys (type 2) are known.
    #[error("unsupported dcap attestation key type {att_key_type}")]
    UnsupportedAttestationKeyType {
        /// The header's attestation key type.
        att_key_type: u16,
    },

    /// The header's TEE type is neither SGX (0x00) nor TDX (0x81), or does not fit the version.
    #[error("unsupported tee type {tee_type:#x} in a version {version} dcap quote")]
    UnsupportedTeeType {
        /// The header's version.
        version: u16,
        /// The header's TEE type.
        tee_type: u32,
    },

    /// A v5 quote's body type is not 1 (SGX), 2 (TDX 1.0) or 3 (TDX 1.5), or does not fit
    /// the header's TEE type.
    #[error("unsupported dcap quote v5 body type {body_type}")]
    UnsupportedBodyType {
        /// The body descriptor's type.
        body_type: u16,
    },

    /// A v5 body descriptor's size does not match its type's fixed size.
    #[error("dcap quote v5 body type {body_type} has size {size}, expected {expected}")]
    BodySizeMismatch {
        /// The body descriptor's type.
        body_type: u16,
        /// The declared size.
        size: u32,
        /// The size the type has.
        expected: usize,
    },

    /// The certification data type is not one this verifier handles (5 = PCK chain, 6 = QE
    /// report certification data wrapping a PCK chain).
    #[error("unsupported dcap certification data type {cert_data_type} ({place})")]
    UnsupportedCertificationDataType {
        /// The type found.
        cert_data_type: u16,
        /// Where: "outer" or "inner" certification data.
        place: &'static str,
    },

    /// Bytes other than zero padding follow a declared length.
    #[error("dcap quote has unexpected bytes after {field} at offset {offset}")]
    TrailingBytes {
        /// The field the extra bytes follow.
        field: &'static str,
        /// Where they start.
        offset: usize,
    },

    /// The PCK certificate chain in the certification data is not three PEM certificates.
    #[error("malformed pck certificate chain in the quote: {reason}")]
    PckChainMalformed {
        /// What was wrong.
        reason: &'static str,
    },

    // ---- signatures over the quote -------------------------------------------------------
    /// The attestation key is not a valid P-256 point.
    #[error("dcap attestation key is not a valid p-256 public key")]
    AttestationKeyInvalid,

    /// The quote signature (attestation key over header || body) does not verify.
    #[error("dcap quote signature does not verify with the attestation key")]
    QuoteSignature,

    /// The QE report signature (PCK leaf key over the QE report) does not verify.
    #[error("qe report signature does not verify with the pck leaf key")]
    QeReportSignature,

    /// QE report_data[0..32] != SHA-256(attestation key || QE authentication data).
    #[error("qe report data does not bind the attestation key and qe authentication data")]
    QeReportBinding,

    // ---- certificates and CRLs -----------------------------------------------------------
    /// A certificate cannot be parsed, or lacks what DCAP requires of it.
    #[error("malformed {cert}: {reason}")]
    CertificateMalformed {
        /// Which certificate.
        cert: CertRole,
        /// What was wrong.
        reason: &'static str,
    },

    /// A certificate is not signed by the certificate above it in its chain.
    #[error("{cert} is not signed by its issuer")]
    CertificateSignature {
        /// Which certificate.
        cert: CertRole,
    },

    /// A certificate's issuer name is not its issuer's subject name.
    #[error("{cert} names an issuer that is not the next certificate in its chain")]
    IssuerMismatch {
        /// Which certificate.
        cert: CertRole,
    },

    /// A chain's root is not the embedded Intel SGX Root CA.
    #[error("the root of the {chain} chain is not the pinned intel sgx root ca")]
    UntrustedRoot {
        /// Which chain: "pck", "tcb signing", "pck crl issuer".
        chain: &'static str,
    },

    /// A certificate is outside its validity period at the verification time.
    #[error("{cert} is not valid at {now} (valid {not_before} to {not_after})")]
    CertificateNotValid {
        /// Which certificate.
        cert: CertRole,
        /// The verification time (Unix seconds).
        now: i64,
        /// Its notBefore (Unix seconds).
        not_before: i64,
        /// Its notAfter (Unix seconds).
        not_after: i64,
    },

    /// A certificate's serial number is on a CRL.
    #[error("{cert} is revoked by the {crl}")]
    CertificateRevoked {
        /// Which certificate.
        cert: CertRole,
        /// Which CRL lists it.
        crl: CrlKind,
    },

    /// The PCK leaf's SGX extension (`1.2.840.113741.1.13.1`) is missing or malformed.
    #[error("malformed pck sgx extension: {field}")]
    PckExtensionMalformed {
        /// The sub-field that was missing or malformed.
        field: &'static str,
    },

    /// The PCK leaf's issuer is neither "Intel SGX PCK Platform CA" nor "... Processor CA".
    #[error("pck leaf issuer is neither the intel sgx pck platform nor processor ca")]
    UnknownPckCa,

    /// A CRL cannot be parsed.
    #[error("malformed {crl}: {reason}")]
    CrlMalformed {
        /// Which CRL.
        crl: CrlKind,
        /// What was wrong.
        reason: &'static str,
    },

    /// A CRL is not issued (named and signed) by the CA it must come from.
    #[error("{crl} is not issued by the expected ca")]
    CrlIssuerMismatch {
        /// Which CRL.
        crl: CrlKind,
    },

    /// A CRL's signature does not verify with its issuer's key.
    #[error("{crl} signature does not verify")]
    CrlSignature {
        /// Which CRL.
        crl: CrlKind,
    },

    // ---- TCB Info / QE Identity ----------------------------------------------------------
    /// The signature over the raw TCB Info / QE Identity JSON does not verify.
    #[error("{document} signature does not verify with the tcb signing key")]
    CollateralSignature {
        /// Which document.
        document: SignedCollateral,
    },

    /// A TCB Info / QE Identity document cannot be parsed or has unexpected content.
    #[error("malformed {document}: {reason}")]
    CollateralMalformed {
        /// Which document.
        document: SignedCollateral,
        /// What was wrong.
        reason: String,
    },

    /// The TCB Info / QE Identity is for another TEE (e.g. SGX TCB Info for a TDX quote) or an
    /// unsupported version.
    #[error("{document} is for {found}, expected {expected}")]
    CollateralWrongKind {
        /// Which document.
        document: SignedCollateral,
        /// What was needed ("TDX", "SGX", "QE", "TD_QE", "version 3", ...).
        expected: &'static str,
        /// What the document says.
        found: String,
    },

    /// The TCB Info's FMSPC is not the PCK certificate's.
    #[error("fmspc mismatch: pck certificate has {pck}, tcb info has {tcb_info}")]
    FmspcMismatch {
        /// FMSPC from the PCK leaf (hex).
        pck: String,
        /// FMSPC of the TCB Info (hex).
        tcb_info: String,
    },

    /// The TCB Info's PCE-ID is not the PCK certificate's.
    #[error("pce id mismatch: pck certificate has {pck}, tcb info has {tcb_info}")]
    PceIdMismatch {
        /// PCE-ID from the PCK leaf (hex).
        pck: String,
        /// PCE-ID of the TCB Info (hex).
        tcb_info: String,
    },

    /// No TCB level of the TCB Info is at or below the platform's TCB (QVL
    /// `TCB_NOT_SUPPORTED`).
    #[error("no tcb level of the tcb info matches the platform tcb (tcb not supported)")]
    TcbLevelNotFound,

    /// No TCB level of the TCB Info is at or below the TCB a TD 1.5 report says the TD runs
    /// now (`tee_tcb_svn2`); QVL fails such a quote as `TCB_NOT_SUPPORTED`.
    #[error(
        "no tcb level of the tcb info matches the current tdx tcb (tee_tcb_svn2; tcb not supported)"
    )]
    CurrentTcbLevelNotFound,

    /// The quote's TDX module (from `tee_tcb_svn`/`mr_seam`) matches no module identity
    /// of the TCB Info.
    #[error("tdx module identity {id} not found or does not match the tcb info: {reason}")]
    TdxModuleMismatch {
        /// The module identity id looked up (e.g. "TDX_01").
        id: String,
        /// What did not match.
        reason: &'static str,
    },

    /// The QE report does not match the QE Identity.
    #[error("qe identity mismatch: {field}")]
    QeIdentityMismatch {
        /// The field compared (mrsigner, isvprodid, miscselect, attributes).
        field: &'static str,
    },

    /// The QE's ISVSVN is below every QE Identity TCB level.
    #[error("qe isvsvn {isv_svn} is below every qe identity tcb level")]
    QeTcbLevelNotFound {
        /// The QE report's ISVSVN.
        isv_svn: u16,
    },

    /// The resulting TCB status is not one of the accepted ones (e.g. `Revoked`).
    #[error("{component} tcb status {status} is not acceptable")]
    TcbStatusRejected {
        /// "platform", "tdx module" or "qe".
        component: &'static str,
        /// Intel's status string.
        status: String,
    },
}
