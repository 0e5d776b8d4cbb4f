//! Negative variants: each mutation fails naming the check.

use super::verify_samples::{AZ, OCCLUM, TDX4, TDX5, TDX6, at};
use crate::dcap::quote::HEADER_LEN;
use crate::dcap::tcb::TcbStatus;
use crate::dcap::x509::{DcapCert, VerifiedCrl, intel_root};
use crate::dcap::{
    CertRole, CrlKind, DcapError, Quote, SignedCollateral, VerifiedCollateral, verify,
    verify_with_collateral,
};
use crate::test_support::shared;

/// Flips one bit of the raw quote and re-parses it.
fn flipped_quote(path: &str, offset: usize) -> Quote {
    let mut bytes = shared(path);
    bytes[offset] ^= 0x01;
    Quote::parse(&bytes).unwrap()
}

/// Offset of the signature data (after the u32 length) in a v4 TDX quote.
const V4_SIG_DATA: usize = HEADER_LEN + 584 + 4;
/// Offset of the QE report in a v4 quote: quote sig, attestation key, cert data type+size.
const V4_QE_REPORT: usize = V4_SIG_DATA + 64 + 64 + 6;

#[test]
fn flipped_byte_in_quote_body_fails_the_quote_signature() {
    // mr_td, in the signed body.
    let quote = flipped_quote(TDX4.quote, HEADER_LEN + 136);
    assert_eq!(
        verify(quote, &TDX4.collateral(), TDX4.now()).unwrap_err(),
        DcapError::QuoteSignature
    );
}

#[test]
fn flipped_byte_in_quote_header_fails_the_quote_signature() {
    let quote = flipped_quote(TDX6.quote, 30);
    assert_eq!(
        verify(quote, &TDX6.collateral(), TDX6.now()).unwrap_err(),
        DcapError::QuoteSignature
    );
}

#[test]
fn flipped_byte_in_sgx_report_data_fails_the_quote_signature() {
    let quote = flipped_quote(OCCLUM.quote, HEADER_LEN + 320);
    assert_eq!(
        verify(quote, &OCCLUM.collateral(), OCCLUM.now()).unwrap_err(),
        DcapError::QuoteSignature
    );
}

#[test]
fn flipped_byte_in_quote_signature_fails_the_quote_signature() {
    let quote = flipped_quote(TDX4.quote, V4_SIG_DATA + 10);
    assert_eq!(
        verify(quote, &TDX4.collateral(), TDX4.now()).unwrap_err(),
        DcapError::QuoteSignature
    );
}

#[test]
fn flipped_byte_in_qe_report_fails_the_qe_report_signature() {
    // The QE's mr_enclave.
    let quote = flipped_quote(TDX4.quote, V4_QE_REPORT + 64);
    assert_eq!(
        verify(quote, &TDX4.collateral(), TDX4.now()).unwrap_err(),
        DcapError::QeReportSignature
    );
}

#[test]
fn flipped_byte_in_qe_report_signature_fails_the_qe_report_signature() {
    let quote = flipped_quote(TDX4.quote, V4_QE_REPORT + 384 + 5);
    assert_eq!(
        verify(quote, &TDX4.collateral(), TDX4.now()).unwrap_err(),
        DcapError::QeReportSignature
    );
}

#[test]
fn flipped_byte_in_qe_auth_data_fails_the_qe_report_binding() {
    let quote = flipped_quote(TDX4.quote, V4_QE_REPORT + 384 + 64 + 2 + 3);
    assert_eq!(
        verify(quote, &TDX4.collateral(), TDX4.now()).unwrap_err(),
        DcapError::QeReportBinding
    );
}

#[test]
fn replaced_attestation_key_fails_the_qe_report_binding() {
    // A different attestation key (with its own valid quote signature it would still not be
    // the key the QE vouched for).
    let mut quote = TDX4.quote();
    quote.attestation_key = AZ.quote().attestation_key;
    assert_eq!(
        verify(quote, &TDX4.collateral(), TDX4.now()).unwrap_err(),
        DcapError::QeReportBinding
    );
}

#[test]
fn pck_chain_to_another_root_is_untrusted() {
    // A root certificate with another public key (one byte of the point changed).
    let mut quote = TDX4.quote();
    let root = &mut quote.pck_chain[2];
    let point = find(root, &[0x03, 0x42, 0x00, 0x04]).unwrap() + 10;
    root[point] ^= 0x01;
    let err = verify(quote, &TDX4.collateral(), TDX4.now()).unwrap_err();
    assert!(
        matches!(
            err,
            DcapError::UntrustedRoot { chain: "pck" }
                | DcapError::CertificateMalformed {
                    cert: CertRole::Root,
                    ..
                }
        ),
        "{err}"
    );
}

#[test]
fn pck_chain_with_the_tcb_signing_cert_as_root_is_untrusted() {
    let mut quote = TDX4.quote();
    quote.pck_chain[2] = TDX4.collateral().tcb_info_issuer_chain[0].clone();
    assert_eq!(
        verify(quote, &TDX4.collateral(), TDX4.now()).unwrap_err(),
        DcapError::UntrustedRoot { chain: "pck" }
    );
}

#[test]
fn pck_leaf_with_a_flipped_signature_fails_the_chain() {
    let mut quote = TDX6.quote();
    let leaf = &mut quote.pck_chain[0];
    let last = leaf.len() - 3;
    leaf[last] ^= 0x01;
    assert_eq!(
        verify(quote, &TDX6.collateral(), TDX6.now()).unwrap_err(),
        DcapError::CertificateSignature {
            cert: CertRole::PckLeaf
        }
    );
}

#[test]
fn pck_leaf_from_another_platform_fails_the_qe_report_signature() {
    // A genuine, chained PCK certificate of another platform did not sign this QE report.
    let mut quote = TDX6.quote();
    quote.pck_chain[0] = AZ.quote().pck_chain[0].clone();
    assert_eq!(
        verify(quote, &TDX6.collateral(), TDX6.now()).unwrap_err(),
        DcapError::QeReportSignature
    );
}

#[test]
fn revoked_pck_leaf_is_rejected_by_the_pck_crl() {
    // No Intel-signed CRL revokes a sample's PCK, so give the leaf the serial of an entry of
    // the real PCK CRL (same length) and run the CRL check on it.
    let quote = TDX4.quote();
    let collateral = TDX4.collateral();
    let ca = DcapCert::parse(&quote.pck_chain[1], CertRole::PckCa).unwrap();
    let crl = VerifiedCrl::verify(&collateral.pck_crl, CrlKind::Pck, &ca).unwrap();
    let leaf_der = &quote.pck_chain[0];
    let serial = hex::decode("0099c1712024a45e82ef4f19be96bf52ea98e95b19").unwrap();
    let revoked = hex::decode("00efae6e9715fca13b87e333e8261ed6d990a926ad").unwrap();
    let at = find(leaf_der, &serial).unwrap();
    let mut mutated = leaf_der.clone();
    mutated[at..at + serial.len()].copy_from_slice(&revoked);

    let genuine = DcapCert::parse(leaf_der, CertRole::PckLeaf).unwrap();
    crl.check_not_revoked(&genuine, &ca).unwrap();
    let revoked_leaf = DcapCert::parse(&mutated, CertRole::PckLeaf).unwrap();
    assert_eq!(
        crl.check_not_revoked(&revoked_leaf, &ca).unwrap_err(),
        DcapError::CertificateRevoked {
            cert: CertRole::PckLeaf,
            crl: CrlKind::Pck
        }
    );
}

#[test]
fn pck_crl_from_another_issuer_is_rejected() {
    // The Root CA CRL in place of the PCK CRL: not issued by the PCK Platform CA.
    let mut collateral = TDX6.collateral();
    collateral.pck_crl = collateral.root_ca_crl.clone();
    assert_eq!(
        verify(TDX6.quote(), &collateral, TDX6.now()).unwrap_err(),
        DcapError::CrlIssuerMismatch { crl: CrlKind::Pck }
    );
}

#[test]
fn pck_crl_with_a_flipped_signature_is_rejected() {
    let mut collateral = TDX6.collateral();
    let last = collateral.pck_crl.len() - 3;
    collateral.pck_crl[last] ^= 0x01;
    assert_eq!(
        verify(TDX6.quote(), &collateral, TDX6.now()).unwrap_err(),
        DcapError::CrlSignature { crl: CrlKind::Pck }
    );
}

#[test]
fn root_ca_crl_with_a_flipped_signature_is_rejected() {
    let mut collateral = TDX6.collateral();
    let last = collateral.root_ca_crl.len() - 3;
    collateral.root_ca_crl[last] ^= 0x01;
    assert_eq!(
        verify(TDX6.quote(), &collateral, TDX6.now()).unwrap_err(),
        DcapError::CrlSignature {
            crl: CrlKind::RootCa
        }
    );
}

#[test]
fn expired_tcb_signing_certificate_is_rejected() {
    // tdx_quote_4's collateral is signed by the 2018-2025 TCB Signing certificate; its PCK
    // certificate is valid until 2030.
    let err = verify(TDX4.quote(), &TDX4.collateral(), at("2025-06-01T00:00:00Z")).unwrap_err();
    assert!(
        matches!(
            err,
            DcapError::CertificateNotValid {
                cert: CertRole::TcbSigning,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn pck_certificate_before_its_validity_is_rejected() {
    let err = verify(TDX6.quote(), &TDX6.collateral(), at("2025-04-01T00:00:00Z")).unwrap_err();
    assert!(
        matches!(
            err,
            DcapError::CertificateNotValid {
                cert: CertRole::PckLeaf,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn collateral_past_next_update_is_reported_not_fatal() {
    // After the PCK CRL's and TCB Info's nextUpdate, before any certificate expires.
    let verified = verify(TDX6.quote(), &TDX6.collateral(), at("2025-12-01T00:00:00Z")).unwrap();
    assert!(verified.collateral_expired);
    assert_eq!(verified.tcb_status, TcbStatus::OutOfDate);
    let fresh = verify(TDX6.quote(), &TDX6.collateral(), TDX6.now()).unwrap();
    assert!(!fresh.collateral_expired);
}

#[test]
fn collateral_of_another_platform_fails_the_fmspc_match() {
    let err = verify(TDX6.quote(), &AZ.collateral(), TDX6.now()).unwrap_err();
    assert_eq!(
        err,
        DcapError::FmspcMismatch {
            pck: "00A06D080000".into(),
            tcb_info: "00806F050000".into()
        }
    );
}

#[test]
fn sgx_collateral_for_a_tdx_quote_is_the_wrong_kind() {
    let err = verify(
        TDX6.quote(),
        &OCCLUM.collateral(),
        at("2025-09-01T00:00:00Z"),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            DcapError::CollateralWrongKind {
                document: SignedCollateral::TcbInfo,
                expected: "TDX",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn flipped_tcb_info_signature_is_rejected() {
    let mut collateral = TDX6.collateral();
    collateral.tcb_info_signature[7] ^= 0x01;
    assert_eq!(
        verify(TDX6.quote(), &collateral, TDX6.now()).unwrap_err(),
        DcapError::CollateralSignature {
            document: SignedCollateral::TcbInfo
        }
    );
}

#[test]
fn edited_tcb_info_text_fails_its_signature() {
    // Raising a level's status in the signed text must not go unnoticed.
    let mut collateral = TDX6.collateral();
    collateral.tcb_info = collateral.tcb_info.replacen("OutOfDate", "UpToDate", 1);
    assert_eq!(
        verify(TDX6.quote(), &collateral, TDX6.now()).unwrap_err(),
        DcapError::CollateralSignature {
            document: SignedCollateral::TcbInfo
        }
    );
}

#[test]
fn flipped_qe_identity_signature_is_rejected() {
    let mut collateral = OCCLUM.collateral();
    collateral.qe_identity_signature[40] ^= 0x01;
    assert_eq!(
        verify(OCCLUM.quote(), &collateral, OCCLUM.now()).unwrap_err(),
        DcapError::CollateralSignature {
            document: SignedCollateral::QeIdentity
        }
    );
}

#[test]
fn tcb_info_signed_by_a_chain_to_another_root_is_untrusted() {
    let mut collateral = TDX6.collateral();
    // The PCK Platform CA as "root" of the TCB Info chain.
    collateral.tcb_info_issuer_chain[1] = TDX6.quote().pck_chain[1].clone();
    assert_eq!(
        verify(TDX6.quote(), &collateral, TDX6.now()).unwrap_err(),
        DcapError::UntrustedRoot {
            chain: "tcb signing"
        }
    );
}

fn verified_collateral(sample: &super::verify_samples::Sample) -> VerifiedCollateral {
    VerifiedCollateral::verify(&sample.collateral()).unwrap()
}

#[test]
fn revoked_platform_tcb_level_is_rejected() {
    let mut collateral = verified_collateral(&TDX4);
    for level in &mut collateral.tcb_info_mut().levels {
        level.status = TcbStatus::Revoked;
    }
    assert_eq!(
        verify_with_collateral(TDX4.quote(), &collateral, TDX4.now()).unwrap_err(),
        DcapError::TcbStatusRejected {
            component: "platform",
            status: "Revoked".into()
        }
    );
}

#[test]
fn out_of_date_qe_converges_the_platform_status() {
    let mut collateral = verified_collateral(&TDX4);
    let level = &mut collateral.qe_identity_mut().levels[0];
    level.status = TcbStatus::OutOfDate;
    level.advisory_ids = vec!["INTEL-SA-99999".into()];
    let verified = verify_with_collateral(TDX4.quote(), &collateral, TDX4.now()).unwrap();
    assert_eq!(verified.platform_tcb_status, TcbStatus::UpToDate);
    assert_eq!(verified.qe_tcb_status, TcbStatus::OutOfDate);
    assert_eq!(verified.tcb_status, TcbStatus::OutOfDate);
    assert_eq!(verified.advisory_ids, vec!["INTEL-SA-99999".to_owned()]);
}

#[test]
fn qe_identity_mismatch_names_the_field() {
    let mut collateral = verified_collateral(&TDX4);
    collateral.qe_identity_mut().mrsigner[0] ^= 0x01;
    assert_eq!(
        verify_with_collateral(TDX4.quote(), &collateral, TDX4.now()).unwrap_err(),
        DcapError::QeIdentityMismatch { field: "mrsigner" }
    );
    let mut collateral = verified_collateral(&TDX4);
    collateral.qe_identity_mut().isv_prod_id = 1;
    assert_eq!(
        verify_with_collateral(TDX4.quote(), &collateral, TDX4.now()).unwrap_err(),
        DcapError::QeIdentityMismatch { field: "isvprodid" }
    );
    let mut collateral = verified_collateral(&TDX4);
    collateral.qe_identity_mut().attributes[0] ^= 0x01;
    assert_eq!(
        verify_with_collateral(TDX4.quote(), &collateral, TDX4.now()).unwrap_err(),
        DcapError::QeIdentityMismatch {
            field: "attributes"
        }
    );
}

#[test]
fn qe_below_every_qe_level_is_rejected() {
    let mut collateral = verified_collateral(&TDX4);
    for level in &mut collateral.qe_identity_mut().levels {
        level.isv_svn = 100;
    }
    assert_eq!(
        verify_with_collateral(TDX4.quote(), &collateral, TDX4.now()).unwrap_err(),
        DcapError::QeTcbLevelNotFound { isv_svn: 4 }
    );
}

#[test]
fn missing_tdx_module_identity_is_rejected() {
    let mut collateral = verified_collateral(&TDX6);
    collateral.tcb_info_mut().tdx_module_identities.clear();
    let err = verify_with_collateral(TDX6.quote(), &collateral, TDX6.now()).unwrap_err();
    assert!(
        matches!(&err, DcapError::TdxModuleMismatch { id, .. } if id == "TDX_03"),
        "{err}"
    );
}

#[test]
fn out_of_date_tdx_module_converges_the_platform_status() {
    // The Azure TD runs module TDX_01 minor SVN 2: that identity's level is OutOfDate.
    let verified = verify(AZ.quote(), &AZ.collateral(), AZ.now()).unwrap();
    assert_eq!(verified.tdx_module_tcb_status, Some(TcbStatus::OutOfDate));
    let mut collateral = verified_collateral(&TDX6);
    for identity in &mut collateral.tcb_info_mut().tdx_module_identities {
        for level in &mut identity.levels {
            level.status = TcbStatus::OutOfDate;
        }
    }
    let mut platform_up_to_date = collateral;
    for level in &mut platform_up_to_date.tcb_info_mut().levels {
        level.status = TcbStatus::UpToDate;
    }
    let verified = verify_with_collateral(TDX6.quote(), &platform_up_to_date, TDX6.now()).unwrap();
    assert_eq!(verified.platform_tcb_status, TcbStatus::UpToDate);
    assert_eq!(verified.tcb_status, TcbStatus::OutOfDate);
}

#[test]
fn tdx_module_signer_mismatch_is_rejected() {
    let mut collateral = verified_collateral(&TDX4);
    if let Some(module) = collateral.tcb_info_mut().tdx_module.as_mut() {
        module.mrsigner[0] = 1;
    }
    let err = verify_with_collateral(TDX4.quote(), &collateral, TDX4.now()).unwrap_err();
    assert_eq!(
        err,
        DcapError::TdxModuleMismatch {
            id: "TDX_00".into(),
            reason: "mrsigner_seam"
        }
    );
}

#[test]
fn verified_collateral_is_reusable_across_quotes_and_times() {
    let collateral = verified_collateral(&TDX5);
    for _ in 0..2 {
        assert_eq!(
            verify_with_collateral(TDX5.quote(), &collateral, TDX5.now()).unwrap_err(),
            DcapError::TcbLevelNotFound
        );
    }
    // Validity is checked at each call's time, not when the collateral was verified.
    let err =
        verify_with_collateral(TDX5.quote(), &collateral, at("2040-01-01T00:00:00Z")).unwrap_err();
    assert!(
        matches!(err, DcapError::CertificateNotValid { .. }),
        "{err}"
    );
}

#[test]
fn embedded_root_is_intels() {
    let root = intel_root().unwrap();
    assert_eq!(
        root.public_key(),
        DcapCert::parse(&TDX4.quote().pck_chain[2], CertRole::Root)
            .unwrap()
            .public_key()
    );
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[test]
fn pck_ca_replaced_by_another_root_signed_cert_fails_the_leaf_issuer() {
    // The TCB Signing certificate is also issued by the Intel root, but it did not issue
    // the PCK leaf.
    let mut quote = TDX6.quote();
    quote.pck_chain[1] = TDX6.collateral().tcb_info_issuer_chain[0].clone();
    assert_eq!(
        verify(quote, &TDX6.collateral(), TDX6.now()).unwrap_err(),
        DcapError::IssuerMismatch {
            cert: CertRole::PckLeaf
        }
    );
}

#[test]
fn qe_identity_with_another_signing_chain_fails_its_signature() {
    // A genuine root-issued chain, but not the one whose key signed the QE Identity.
    let mut collateral = TDX6.collateral();
    collateral.qe_identity_issuer_chain = collateral.pck_crl_issuer_chain.clone();
    assert_eq!(
        verify(TDX6.quote(), &collateral, TDX6.now()).unwrap_err(),
        DcapError::CollateralSignature {
            document: SignedCollateral::QeIdentity
        }
    );
}

#[test]
fn collateral_chain_without_its_root_is_untrusted() {
    let mut collateral = TDX6.collateral();
    collateral.tcb_info_issuer_chain.truncate(1);
    assert_eq!(
        verify(TDX6.quote(), &collateral, TDX6.now()).unwrap_err(),
        DcapError::UntrustedRoot {
            chain: "tcb signing"
        }
    );
}

#[test]
fn no_byte_of_the_signed_quote_or_qe_report_can_change() {
    // Every byte of header, body, quote signature, attestation key, QE report, its signature
    // and the QE auth data is covered by a check: flipping any one fails parsing or
    // verification, never passes.
    let collateral = verified_collateral(&TDX6);
    let bytes = shared(TDX6.quote);
    let qe_auth_end = V4_QE_REPORT + 384 + 64 + 2 + 32;
    for i in (0..V4_SIG_DATA - 4)
        .chain(V4_SIG_DATA..V4_SIG_DATA + 128)
        .chain(V4_QE_REPORT..qe_auth_end)
    {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x01;
        if let Ok(quote) = Quote::parse(&flipped) {
            assert!(
                verify_with_collateral(quote, &collateral, TDX6.now()).is_err(),
                "flipping byte {i} went unnoticed"
            );
        }
    }
}
