//! The GPU's device certificate chain: leaf (GSP FMC, signs the SPDM response) → BROM →
//! provisioner ICA → GH100 identity → the embedded NVIDIA device identity root.
//!
//! Checked here rather than with rustls-webpki: the chain is a fixed, ordered list (no path
//! building), every link is ECDSA P-384 / SHA-384, and what must hold is exactly RFC 5280's
//! basic path checks — name chaining, each signature with the next certificate's key, each
//! validity period at the verification time, CA basic constraints, `keyCertSign` and path
//! length on issuers, no unknown critical extension — plus the root pin. The leaf is not a
//! TLS end-entity, so webpki's server/client profile does not describe it.

use std::ops::Range;
use std::sync::OnceLock;

use aws_lc_rs::signature::{ECDSA_P384_SHA384_ASN1, ECDSA_P384_SHA384_FIXED, ParsedPublicKey};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::oid::{AssociatedOid, ObjectIdentifier};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

use super::error::NvidiaError;
use super::spdm::FWID_LEN;
use crate::x509::{is_p384, tbs_range};

/// NVIDIA's device identity root (`roots/nvidia/README.md` gives its source).
pub const NVIDIA_DEVICE_ROOT_PEM: &str = include_str!("../../roots/nvidia/nvidia_device_root.pem");

/// `ecdsa-with-SHA384`.
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// TCG DICE TcbInfo: carries the FWID of the firmware that holds the leaf key.
const TCG_DICE_TCB_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.5.4.1");

/// Most certificates accepted in one chain (Hopper chains have five).
pub const MAX_CHAIN_LEN: usize = 8;

/// A certificate of the chain, parsed, with the bytes its signature covers.
#[derive(Debug)]
pub(crate) struct DeviceCert {
    der: Vec<u8>,
    tbs: Range<usize>,
    cert: Certificate,
    not_before: u64,
    not_after: u64,
}

impl DeviceCert {
    /// Parses one DER certificate at position `index` of device `device`'s chain.
    pub(crate) fn parse(der: Vec<u8>, device: usize, index: usize) -> Result<Self, NvidiaError> {
        let malformed = NvidiaError::CertificateMalformed {
            device,
            cert: index,
        };
        // `from_der` refuses trailing bytes.
        let cert = Certificate::from_der(&der).map_err(|_| malformed.clone())?;
        let tbs = tbs_range(&der).ok_or(malformed)?;
        let validity = &cert.tbs_certificate.validity;
        Ok(Self {
            not_before: validity.not_before.to_unix_duration().as_secs(),
            not_after: validity.not_after.to_unix_duration().as_secs(),
            der,
            tbs,
            cert,
        })
    }

    /// The certificate's P-384 key, for `algorithm` (ASN.1 signatures on certificates, fixed
    /// `r || s` on the SPDM response).
    fn p384_key(
        &self,
        algorithm: &'static aws_lc_rs::signature::EcdsaVerificationAlgorithm,
        device: usize,
        index: usize,
    ) -> Result<ParsedPublicKey, NvidiaError> {
        let bad = NvidiaError::CertificateAlgorithm {
            device,
            cert: index,
        };
        let spki = &self.cert.tbs_certificate.subject_public_key_info;
        if !is_p384(spki) {
            return Err(bad);
        }
        let key = spki.subject_public_key.as_bytes().ok_or(bad.clone())?;
        ParsedPublicKey::new(algorithm, key).map_err(|_| bad)
    }

    /// Checks that `issuer` (position `index + 1`) signed this certificate (position `index`).
    fn check_signed_by(
        &self,
        issuer: &DeviceCert,
        device: usize,
        index: usize,
    ) -> Result<(), NvidiaError> {
        if self.cert.tbs_certificate.issuer != issuer.cert.tbs_certificate.subject {
            return Err(NvidiaError::CertificateIssuer {
                device,
                cert: index,
            });
        }
        let algorithm = &self.cert.signature_algorithm;
        // RFC 5280 §4.1.1.2: the signed copy of the algorithm must match the outer one.
        if algorithm.oid != ECDSA_WITH_SHA384
            || algorithm.parameters.is_some()
            || self.cert.tbs_certificate.signature != *algorithm
        {
            return Err(NvidiaError::CertificateAlgorithm {
                device,
                cert: index,
            });
        }
        let malformed = NvidiaError::CertificateMalformed {
            device,
            cert: index,
        };
        let signature = self.cert.signature.as_bytes().ok_or(malformed.clone())?;
        let tbs = self.der.get(self.tbs.clone()).ok_or(malformed)?;
        issuer
            .p384_key(&ECDSA_P384_SHA384_ASN1, device, index + 1)?
            .verify_sig(tbs, signature)
            .map_err(|_| NvidiaError::CertificateSignature {
                device,
                cert: index,
            })
    }

    fn check_valid_at(&self, now: u64, device: usize, index: usize) -> Result<(), NvidiaError> {
        if now < self.not_before || now > self.not_after {
            return Err(NvidiaError::CertificateValidity {
                device,
                cert: index,
                now,
                not_before: self.not_before,
                not_after: self.not_after,
            });
        }
        Ok(())
    }

    /// Extension checks: no unknown critical extension; an issuer (`ca_below` = how many CA
    /// certificates it issues down the chain, `Some` for issuers) must be a CA allowed to sign
    /// certificates with a path length that admits the chain below it; the leaf's key usage,
    /// if present, must allow signatures.
    fn check_extensions(
        &self,
        ca_below: Option<usize>,
        device: usize,
        index: usize,
    ) -> Result<(), NvidiaError> {
        let fail = |constraint| NvidiaError::CertificateConstraint {
            device,
            cert: index,
            constraint,
        };
        let mut basic = None;
        let mut usage = None;
        for ext in self.cert.tbs_certificate.extensions.iter().flatten() {
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == BasicConstraints::OID {
                basic =
                    Some(BasicConstraints::from_der(value).map_err(|_| fail("basic_constraints"))?);
            } else if ext.extn_id == KeyUsage::OID {
                usage = Some(KeyUsage::from_der(value).map_err(|_| fail("key_usage"))?);
            } else if ext.critical {
                return Err(fail("critical_extension"));
            }
        }
        match ca_below {
            Some(ca_below) => {
                let basic = basic
                    .filter(|basic| basic.ca)
                    .ok_or(fail("basic_constraints"))?;
                if usage.is_some_and(|usage| !usage.key_cert_sign()) {
                    return Err(fail("key_usage"));
                }
                if basic
                    .path_len_constraint
                    .is_some_and(|max| ca_below > usize::from(max))
                {
                    return Err(fail("path_length"));
                }
            }
            None => {
                if usage.is_some_and(|usage| !usage.digital_signature()) {
                    return Err(fail("key_usage"));
                }
            }
        }
        Ok(())
    }

    /// The last 48 bytes of the TCG DICE TcbInfo extension, where NVIDIA puts the SHA-384
    /// FWID (its final element, an OCTET STRING of 48 bytes: `04 30 || fwid`).
    fn fwid(&self) -> Option<[u8; FWID_LEN]> {
        let ext = self
            .cert
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .find(|ext| ext.extn_id == TCG_DICE_TCB_INFO)?;
        let value = ext.extn_value.as_bytes();
        let tail = value.get(value.len().checked_sub(FWID_LEN + 2)?..)?;
        let (header, fwid) = tail.split_at(2);
        if header != [0x04, 0x30] {
            return None;
        }
        fwid.try_into().ok()
    }
}

/// The embedded root, parsed and checked to be self-signed once per process.
pub(crate) fn embedded_root() -> Result<&'static DeviceCert, NvidiaError> {
    static ROOT: OnceLock<Result<DeviceCert, NvidiaError>> = OnceLock::new();
    ROOT.get_or_init(|| {
        // Position 0 of device 0: the root is its own one-certificate chain.
        let malformed = NvidiaError::CertificateMalformed { device: 0, cert: 0 };
        let block = pem::parse(NVIDIA_DEVICE_ROOT_PEM).map_err(|_| malformed)?;
        let root = DeviceCert::parse(block.into_contents(), 0, 0)?;
        root.check_signed_by(&root, 0, 0)?;
        Ok(root)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// A leaf whose chain to the root verified at the verification time: its key checks the
/// SPDM response signature, its FWID the report's.
#[derive(Debug)]
pub struct VerifiedLeaf {
    pub(super) key: ParsedPublicKey,
    pub(super) fwid: Option<[u8; FWID_LEN]>,
}

impl VerifiedLeaf {
    /// Whether `signature` (raw `r || s`) over `message` verifies with the leaf key.
    pub(crate) fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }

    /// The FWID the leaf certifies, if it has the extension.
    pub(crate) fn fwid(&self) -> Option<&[u8; FWID_LEN]> {
        self.fwid.as_ref()
    }
}

/// Verifies device `device`'s `chain` (leaf first) up to `root` at `now` (Unix seconds).
pub(crate) fn verify_chain(
    chain: &[DeviceCert],
    root: &DeviceCert,
    now: u64,
    device: usize,
) -> Result<VerifiedLeaf, NvidiaError> {
    let (Some(leaf), Some(last), 2..=MAX_CHAIN_LEN) = (chain.first(), chain.last(), chain.len())
    else {
        return Err(NvidiaError::ChainLength {
            device,
            len: chain.len(),
            max: MAX_CHAIN_LEN,
        });
    };
    if last.der != root.der {
        return Err(NvidiaError::UntrustedRoot { device });
    }
    for (index, pair) in chain.windows(2).enumerate() {
        if let [cert, issuer] = pair {
            cert.check_signed_by(issuer, device, index)?;
        }
    }
    let root_index = chain.len() - 1;
    last.check_signed_by(last, device, root_index)?;
    for (index, cert) in chain.iter().enumerate() {
        cert.check_valid_at(now, device, index)?;
        // CA certificates strictly between `index` and the leaf.
        let ca_below = (index > 0).then(|| index - 1);
        cert.check_extensions(ca_below, device, index)?;
    }
    Ok(VerifiedLeaf {
        key: leaf.p384_key(&ECDSA_P384_SHA384_FIXED, device, 0)?,
        fwid: leaf.fwid(),
    })
}
