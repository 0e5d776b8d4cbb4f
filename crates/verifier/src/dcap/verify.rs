//! DCAP quote verification against collateral (verifiers spec §3.1/§3.2, with QVL's
//! semantics: collateral past its `nextUpdate` is reported, not fatal).
//!
//! The work is split so a caller can cache the quote-independent half:
//! [`VerifiedCollateral::verify`] checks everything that depends only on the collateral
//! (TCB Signing chain, TCB Info and QE Identity signatures, PCK and Root CA CRL signatures and
//! issuers) and parses it; [`verify_with_collateral`] then checks one quote against it at a
//! given time. Validity windows are always checked at that time, never at caching time.

use aws_lc_rs::digest::{SHA256, SHA384, digest};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
use time::OffsetDateTime;

use super::error::{CertRole, CrlKind, DcapError, SignedCollateral};
use super::pck::{PckExtension, SGX_EXTENSION};
use super::quote::Quote;
use super::status::{CurrentTcb, evaluate};
use super::tcb::{QeIdentity, TcbInfo, TcbStatus};
use super::x509::{DcapCert, VerifiedCrl, check_pinned_root_der, check_window, intel_root};
use crate::collateral::intel::{CollateralRequest, DcapCollateral, DcapTee, PckCa};

/// What verification established about a quote (the TEE verifiers turn it into claims).
#[derive(Debug, Clone)]
pub struct VerifiedQuote {
    /// The quote that verified.
    pub quote: Quote,
    /// The converged TCB status (platform, TDX module, QE; then TD relaunch for TD 1.5
    /// bodies), Intel's strings via `Display`.
    pub tcb_status: TcbStatus,
    /// Advisory ids of the matched levels (platform first, then module and QE, no repeats).
    pub advisory_ids: Vec<String>,
    /// The platform's FMSPC (from the PCK certificate).
    pub fmspc: [u8; 6],
    /// Which PCK CA issued the PCK certificate.
    pub pck_ca: PckCa,
    /// Whether any collateral (TCB Info, QE Identity, a CRL) was past its `nextUpdate` at the
    /// verification time. Reported (claim `collateral_expiration_status`), not fatal.
    pub collateral_expired: bool,
    /// `tcbDate` of the matched levels (the earliest of platform, TDX module and QE), RFC 3339.
    pub tcb_date: Option<String>,
    /// The TCB the TD runs now (QVL supplemental 3.5 `*_current`): for a TD 1.5 body the
    /// evaluation with `tee_tcb_svn2`, otherwise the same as `tcb_status`, `advisory_ids` and
    /// `tcb_date` above.
    pub current: CurrentTcb,
    /// The platform TCB level's own status (before convergence).
    pub platform_tcb_status: TcbStatus,
    /// The TDX module identity level's status (TDX 1.5+ modules, `tee_tcb_svn[1] > 0`).
    pub tdx_module_tcb_status: Option<TcbStatus>,
    /// The QE Identity level's status.
    pub qe_tcb_status: TcbStatus,
    /// The PCK certificate's SGX extension (PPID, TCB, SGX type, platform instance id, ...).
    pub pck: PckExtension,
    /// Earliest issue date / notBefore over the PCK chain and all collateral.
    pub earliest_issue_date: OffsetDateTime,
    /// Latest issue date / notBefore over the PCK chain and all collateral.
    pub latest_issue_date: OffsetDateTime,
    /// Earliest expiration (notAfter / nextUpdate) over the PCK chain and all collateral.
    pub earliest_expiration_date: OffsetDateTime,
    /// CRL number of the PCK CRL.
    pub pck_crl_num: Option<u64>,
    /// CRL number of the Root CA CRL.
    pub root_ca_crl_num: Option<u64>,
    /// The lower `tcbEvaluationDataNumber` of TCB Info and QE Identity.
    pub tcb_eval_num: u32,
    /// SHA-384 of the Intel SGX Root CA's public key (uncompressed point), QVL's `root_key_id`.
    pub root_key_id: [u8; 48],
}

/// Collateral whose signatures, chains and CRL issuers have been checked (everything that does
/// not depend on a quote or on the time). Cheap to keep per FMSPC and reuse: validity
/// windows are still checked at each [`verify_with_collateral`] call.
#[derive(Debug)]
pub struct VerifiedCollateral {
    tcb_info: TcbInfo,
    qe_identity: QeIdentity,
    pck_crl: VerifiedCrl,
    /// The PCK CRL's issuer (a PCK Platform or Processor CA), checked against the root.
    pck_crl_issuer: DcapCert,
    root_ca_crl: VerifiedCrl,
    /// Validity windows of the certificates the collateral was checked with.
    windows: Vec<(CertRole, i64, i64)>,
}

impl VerifiedCollateral {
    /// Checks the collateral's own signatures and chains (to the pinned Intel SGX Root CA) and
    /// parses TCB Info and QE Identity from the exact signed text.
    pub fn verify(collateral: &DcapCollateral) -> Result<Self, DcapError> {
        let root = intel_root()?;
        let root_ca_crl = VerifiedCrl::verify(&collateral.root_ca_crl, CrlKind::RootCa, root)?;

        let mut windows = Vec::with_capacity(3);
        let tcb_signing = issued_by_root(
            &collateral.tcb_info_issuer_chain,
            CertRole::TcbSigning,
            "tcb signing",
            &root_ca_crl,
            &mut windows,
        )?;
        let tcb_info_key = raw_signature_key(&tcb_signing)?;
        verify_raw_signature(
            &tcb_info_key,
            collateral.tcb_info.as_bytes(),
            &collateral.tcb_info_signature,
            SignedCollateral::TcbInfo,
        )?;
        // Intel signs both with the same TCB Signing certificate; check a different chain
        // on its own.
        let qe_identity_key =
            if collateral.qe_identity_issuer_chain == collateral.tcb_info_issuer_chain {
                tcb_info_key
            } else {
                raw_signature_key(&issued_by_root(
                    &collateral.qe_identity_issuer_chain,
                    CertRole::TcbSigning,
                    "tcb signing",
                    &root_ca_crl,
                    &mut windows,
                )?)?
            };
        verify_raw_signature(
            &qe_identity_key,
            collateral.qe_identity.as_bytes(),
            &collateral.qe_identity_signature,
            SignedCollateral::QeIdentity,
        )?;

        let crl_issuer = issued_by_root(
            &collateral.pck_crl_issuer_chain,
            CertRole::PckCrlIssuer,
            "pck crl issuer",
            &root_ca_crl,
            &mut windows,
        )?;
        let pck_crl = VerifiedCrl::verify(&collateral.pck_crl, CrlKind::Pck, &crl_issuer)?;

        Ok(Self {
            tcb_info: TcbInfo::parse(&collateral.tcb_info)?,
            qe_identity: QeIdentity::parse(&collateral.qe_identity)?,
            pck_crl,
            pck_crl_issuer: crl_issuer,
            root_ca_crl,
            windows,
        })
    }

    /// The parsed TCB Info.
    pub fn tcb_info(&self) -> &TcbInfo {
        &self.tcb_info
    }

    /// The parsed QE Identity.
    pub fn qe_identity(&self) -> &QeIdentity {
        &self.qe_identity
    }

    /// Whether any part is past its `nextUpdate` at `now` (Unix seconds).
    pub fn expired_at(&self, now: i64) -> bool {
        now > self.tcb_info.next_update
            || now > self.qe_identity.next_update
            || self.pck_crl.expired_at(now)
            || self.root_ca_crl.expired_at(now)
    }
}

/// What a quote needs from a collateral source, read from its PCK certificate.
pub fn collateral_request(quote: &Quote) -> Result<CollateralRequest, DcapError> {
    let leaf = DcapCert::parse(quote.pck_leaf_der()?, CertRole::PckLeaf)?;
    let pck = pck_extension(&leaf)?;
    Ok(CollateralRequest {
        tee: quote_tee(quote),
        fmspc: pck.fmspc,
        ca: pck_ca(&leaf)?,
    })
}

/// Verifies `quote` against `collateral` at `now`: see [`VerifiedCollateral::verify`] and
/// [`verify_with_collateral`].
pub fn verify(
    quote: Quote,
    collateral: &DcapCollateral,
    now: OffsetDateTime,
) -> Result<VerifiedQuote, DcapError> {
    let collateral = VerifiedCollateral::verify(collateral)?;
    verify_with_collateral(quote, &collateral, now)
}

/// Verifies `quote` against already-checked collateral at `now`: PCK chain to the pinned
/// root and its validity, CRLs, QE report signature and binding, quote signature, FMSPC and
/// PCE-ID, TCB levels (platform, TDX module, QE) and their status.
///
/// Debug TDs/enclaves and a non-zero `mr_servicetd` are not rejected here (left to policy,
/// as upstream); collateral past `nextUpdate` sets [`VerifiedQuote::collateral_expired`].
pub fn verify_with_collateral(
    quote: Quote,
    collateral: &VerifiedCollateral,
    now: OffsetDateTime,
) -> Result<VerifiedQuote, DcapError> {
    let now_unix = now.unix_timestamp();
    let root = intel_root()?;

    // PCK chain: leaf <- PCK CA <- pinned root, all valid now, none revoked.
    let [leaf_der, ca_der, root_der] = quote.pck_chain_der() else {
        return Err(DcapError::PckChainMalformed {
            reason: "expected 3 certificates (pck leaf, pck ca, root ca)",
        });
    };
    check_pinned_root_der(root_der, "pck")?;
    let parsed_ca;
    let pck_ca_cert = if ca_der.as_slice() == collateral.pck_crl_issuer.der() {
        // The PCK CRL's issuer: already checked against the root and the Root CA CRL.
        &collateral.pck_crl_issuer
    } else {
        parsed_ca = DcapCert::parse(ca_der, CertRole::PckCa)?;
        parsed_ca.check_issued_by(root)?;
        collateral
            .root_ca_crl
            .check_serial_not_revoked(&parsed_ca)?;
        &parsed_ca
    };
    let leaf = &DcapCert::parse(leaf_der, CertRole::PckLeaf)?;
    leaf.check_issued_by(pck_ca_cert)?;
    for cert in [leaf, pck_ca_cert, root] {
        cert.check_valid_at(now_unix)?;
    }
    for &(role, not_before, not_after) in &collateral.windows {
        check_window(role, not_before, not_after, now_unix)?;
    }
    collateral.pck_crl.check_not_revoked(leaf, pck_ca_cert)?;
    let pck = pck_extension(leaf)?;
    let pck_ca = pck_ca(leaf)?;

    // QE report: signed by the PCK key, and binding the attestation key.
    let leaf_key =
        ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, leaf.public_key()).map_err(|_| {
            DcapError::CertificateMalformed {
                cert: CertRole::PckLeaf,
                reason: "invalid p-256 public key",
            }
        })?;
    leaf_key
        .verify_sig(quote.qe_report_bytes(), &quote.qe_report_signature)
        .map_err(|_| DcapError::QeReportSignature)?;
    check_qe_report_binding(&quote)?;

    // Quote: signed by the attestation key.
    let mut attestation_key = [0u8; 65];
    attestation_key[0] = 0x04;
    attestation_key[1..].copy_from_slice(&quote.attestation_key);
    let attestation_key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, attestation_key)
        .map_err(|_| DcapError::AttestationKeyInvalid)?;
    attestation_key
        .verify_sig(quote.signed_bytes(), &quote.signature)
        .map_err(|_| DcapError::QuoteSignature)?;

    // Collateral fits this quote.
    let tee = quote_tee(&quote);
    let tcb_info = &collateral.tcb_info;
    let qe_identity = &collateral.qe_identity;
    if tcb_info.tee != tee {
        return Err(DcapError::CollateralWrongKind {
            document: SignedCollateral::TcbInfo,
            expected: tee.tcb_info_id(),
            found: tcb_info.tee.tcb_info_id().to_owned(),
        });
    }
    if qe_identity.tee != tee {
        return Err(DcapError::CollateralWrongKind {
            document: SignedCollateral::QeIdentity,
            expected: tee.qe_identity_id(),
            found: qe_identity.tee.qe_identity_id().to_owned(),
        });
    }
    if tcb_info.fmspc != pck.fmspc {
        return Err(DcapError::FmspcMismatch {
            pck: hex::encode_upper(pck.fmspc),
            tcb_info: hex::encode_upper(tcb_info.fmspc),
        });
    }
    if tcb_info.pce_id != pck.pce_id {
        return Err(DcapError::PceIdMismatch {
            pck: hex::encode_upper(pck.pce_id),
            tcb_info: hex::encode_upper(tcb_info.pce_id),
        });
    }

    // Platform TCB level, TDX module and QE; the current TCB and TD relaunch for TD 1.5.
    let evaluation = evaluate(
        tcb_info,
        qe_identity,
        &pck.tcb_components,
        pck.pce_svn,
        &quote.body,
        &quote.qe_report,
    )?;

    let (earliest_issue, latest_issue, earliest_expiration) =
        supplemental_dates(&[leaf, pck_ca_cert, root], collateral);
    let root_key_id = digest(&SHA384, root.public_key())
        .as_ref()
        .try_into()
        .unwrap_or([0; 48]);

    Ok(VerifiedQuote {
        tcb_status: evaluation.status,
        advisory_ids: evaluation.advisory_ids,
        fmspc: pck.fmspc,
        pck_ca,
        collateral_expired: collateral.expired_at(now_unix),
        tcb_date: evaluation.tcb_date,
        current: evaluation.current,
        platform_tcb_status: evaluation.platform.status,
        tdx_module_tcb_status: evaluation.module.map(|level| level.status),
        qe_tcb_status: evaluation.qe.status,
        earliest_issue_date: datetime(earliest_issue),
        latest_issue_date: datetime(latest_issue),
        earliest_expiration_date: datetime(earliest_expiration),
        pck_crl_num: collateral.pck_crl.number,
        root_ca_crl_num: collateral.root_ca_crl.number,
        tcb_eval_num: tcb_info
            .tcb_evaluation_data_number
            .min(qe_identity.tcb_evaluation_data_number),
        root_key_id,
        pck,
        quote,
    })
}

/// SGX or TDX, from the quote header.
fn quote_tee(quote: &Quote) -> DcapTee {
    if quote.is_tdx() {
        DcapTee::Tdx
    } else {
        DcapTee::Sgx
    }
}

/// A collateral chain `[cert, root]`: the root is the pinned Intel SGX Root CA, the cert is
/// issued by it and not on the Root CA CRL. Records the cert's validity window for checking at
/// each verification time.
fn issued_by_root(
    ders: &[Vec<u8>],
    role: CertRole,
    chain: &'static str,
    root_ca_crl: &VerifiedCrl,
    windows: &mut Vec<(CertRole, i64, i64)>,
) -> Result<DcapCert, DcapError> {
    let [cert, root] = ders else {
        return Err(DcapError::UntrustedRoot { chain });
    };
    check_pinned_root_der(root, chain)?;
    let cert = DcapCert::parse(cert, role)?;
    cert.check_issued_by(intel_root()?)?;
    root_ca_crl.check_serial_not_revoked(&cert)?;
    windows.push((role, cert.not_before, cert.not_after));
    Ok(cert)
}

/// The key of `cert` for raw r||s signatures (TCB Info, QE Identity).
fn raw_signature_key(cert: &DcapCert) -> Result<ParsedPublicKey, DcapError> {
    ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, cert.public_key()).map_err(|_| {
        DcapError::CertificateMalformed {
            cert: CertRole::TcbSigning,
            reason: "invalid p-256 public key",
        }
    })
}

fn verify_raw_signature(
    key: &ParsedPublicKey,
    message: &[u8],
    signature: &[u8],
    document: SignedCollateral,
) -> Result<(), DcapError> {
    if signature.len() != 64 {
        return Err(DcapError::CollateralSignature { document });
    }
    key.verify_sig(message, signature)
        .map_err(|_| DcapError::CollateralSignature { document })
}

fn pck_extension(leaf: &DcapCert) -> Result<PckExtension, DcapError> {
    let ext = leaf
        .extension(SGX_EXTENSION)
        .ok_or(DcapError::PckExtensionMalformed {
            field: "sgx extension missing",
        })?;
    PckExtension::parse(ext.extn_value.as_bytes())
}

fn pck_ca(leaf: &DcapCert) -> Result<PckCa, DcapError> {
    leaf.issuer_common_name()
        .and_then(|cn| PckCa::from_issuer_cn(&cn))
        .ok_or(DcapError::UnknownPckCa)
}

/// QE report_data = SHA-256(attestation key || QE auth data) || 32 zero bytes.
fn check_qe_report_binding(quote: &Quote) -> Result<(), DcapError> {
    let mut hashed = Vec::with_capacity(64 + quote.qe_auth_data.len());
    hashed.extend_from_slice(&quote.attestation_key);
    hashed.extend_from_slice(&quote.qe_auth_data);
    let expected = digest(&SHA256, &hashed);
    let report_data = &quote.qe_report.report_data;
    if report_data.get(..32) != Some(expected.as_ref())
        || report_data
            .get(32..)
            .is_none_or(|rest| rest.iter().any(|&b| b != 0))
    {
        return Err(DcapError::QeReportBinding);
    }
    Ok(())
}

/// (earliest issue, latest issue, earliest expiration) over the PCK chain, the collateral's
/// certificates, CRLs, TCB Info and QE Identity (QVL's supplemental dates).
fn supplemental_dates(chain: &[&DcapCert], collateral: &VerifiedCollateral) -> (i64, i64, i64) {
    let mut issues = Vec::new();
    let mut expirations = Vec::new();
    for cert in chain {
        issues.push(cert.not_before);
        expirations.push(cert.not_after);
    }
    for &(_, not_before, not_after) in &collateral.windows {
        issues.push(not_before);
        expirations.push(not_after);
    }
    for crl in [&collateral.pck_crl, &collateral.root_ca_crl] {
        issues.push(crl.this_update);
        expirations.extend(crl.next_update);
    }
    issues.push(collateral.tcb_info.issue_date);
    issues.push(collateral.qe_identity.issue_date);
    expirations.push(collateral.tcb_info.next_update);
    expirations.push(collateral.qe_identity.next_update);
    (
        issues.iter().copied().min().unwrap_or(0),
        issues.iter().copied().max().unwrap_or(0),
        expirations.iter().copied().min().unwrap_or(0),
    )
}

fn datetime(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
impl VerifiedCollateral {
    /// Test access: edits the parsed TCB Info after its signature was checked, to reach TCB
    /// matching branches no Intel-signed sample exercises.
    pub(crate) fn tcb_info_mut(&mut self) -> &mut TcbInfo {
        &mut self.tcb_info
    }

    /// Test access: as [`VerifiedCollateral::tcb_info_mut`], for the QE Identity.
    pub(crate) fn qe_identity_mut(&mut self) -> &mut QeIdentity {
        &mut self.qe_identity
    }
}
