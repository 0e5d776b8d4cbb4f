//! The X.509 pieces of DCAP: certificates and CRLs of the Intel SGX PKI, all ECDSA P-256 /
//! SHA-256, and the pinned Intel SGX Root CA.
//!
//! Signatures are checked over the exact TBS bytes of the input (never a re-encoding), and
//! the issuer of every certificate and CRL must both be named by and verify with the key of
//! the certificate above it.

use std::sync::OnceLock;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::der::asn1::UintRef;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::Extension;
use x509_cert::time::Time;

use super::error::{CertRole, CrlKind, DcapError};
use crate::x509::tbs_range;

/// The Intel SGX Root CA (public; see `roots/intel/README.md`).
const INTEL_SGX_ROOT_CA_PEM: &str = include_str!("../../roots/intel/intel_sgx_root_ca.pem");

/// `ecdsa-with-SHA256`: the signature algorithm of every Intel SGX certificate and CRL.
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `id-ecPublicKey`.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `prime256v1`.
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `commonName`.
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// `cRLNumber`.
const CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");

/// The largest certificate or CRL accepted (Intel's PCK CRLs are a few KiB; a large
/// platform CRL stays far below this).
const MAX_DER_LEN: usize = 512 * 1024;

/// A parsed certificate with what DCAP needs of it.
#[derive(Debug)]
pub(crate) struct DcapCert {
    pub(crate) role: CertRole,
    pub(crate) cert: Certificate,
    der: Vec<u8>,
    /// The exact `tbsCertificate` bytes that were signed.
    tbs: std::ops::Range<usize>,
    /// DER of the issuer and subject names, compared byte for byte.
    issuer: Vec<u8>,
    subject: Vec<u8>,
    /// Uncompressed P-256 point.
    public_key: Vec<u8>,
    key: ParsedPublicKey,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

impl DcapCert {
    /// Parses a certificate that must carry an ECDSA P-256 key and an ECDSA-SHA256 signature.
    pub(crate) fn parse(der: &[u8], role: CertRole) -> Result<Self, DcapError> {
        let malformed = |reason| DcapError::CertificateMalformed { cert: role, reason };
        if der.len() > MAX_DER_LEN {
            return Err(malformed("too large"));
        }
        let cert = Certificate::from_der(der).map_err(|_| malformed("not a der certificate"))?;
        let tbs = tbs_range(der).ok_or(malformed("no tbs certificate"))?;
        if cert.signature_algorithm.oid != ECDSA_WITH_SHA256
            || cert.tbs_certificate.signature.oid != ECDSA_WITH_SHA256
        {
            return Err(malformed("signature algorithm is not ecdsa-with-sha256"));
        }
        let spki = &cert.tbs_certificate.subject_public_key_info;
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(PRIME256V1) {
            return Err(malformed("public key is not ecdsa p-256"));
        }
        let public_key = spki
            .subject_public_key
            .as_bytes()
            .ok_or(malformed("public key bit string"))?
            .to_vec();
        let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &public_key)
            .map_err(|_| malformed("invalid p-256 public key"))?;
        let issuer = cert
            .tbs_certificate
            .issuer
            .to_der()
            .map_err(|_| malformed("issuer name"))?;
        let subject = cert
            .tbs_certificate
            .subject
            .to_der()
            .map_err(|_| malformed("subject name"))?;
        let validity = &cert.tbs_certificate.validity;
        Ok(Self {
            role,
            not_before: unix(validity.not_before),
            not_after: unix(validity.not_after),
            cert,
            der: der.to_vec(),
            tbs,
            issuer,
            subject,
            public_key,
            key,
        })
    }

    /// The certificate's DER.
    pub(crate) fn der(&self) -> &[u8] {
        &self.der
    }

    /// The public key as an uncompressed P-256 point.
    pub(crate) fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The parsed public key, for verifying what this certificate's key signed.
    pub(crate) fn key(&self) -> &ParsedPublicKey {
        &self.key
    }

    /// The serial number's bytes (as encoded).
    pub(crate) fn serial(&self) -> &[u8] {
        self.cert.tbs_certificate.serial_number.as_bytes()
    }

    /// The DER of the subject name.
    pub(crate) fn subject_der(&self) -> &[u8] {
        &self.subject
    }

    /// The DER of the issuer name.
    pub(crate) fn issuer_der(&self) -> &[u8] {
        &self.issuer
    }

    /// The issuer's common name, if it has one.
    pub(crate) fn issuer_common_name(&self) -> Option<String> {
        self.cert
            .tbs_certificate
            .issuer
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find(|atv| atv.oid == COMMON_NAME)
            .and_then(|atv| {
                atv.value
                    .decode_as::<x509_cert::der::asn1::Utf8StringRef<'_>>()
                    .map(|s| s.as_str().to_owned())
                    .or_else(|_| {
                        atv.value
                            .decode_as::<x509_cert::der::asn1::PrintableStringRef<'_>>()
                            .map(|s| s.as_str().to_owned())
                    })
                    .ok()
            })
    }

    /// The value of the extension `oid`, if present.
    pub(crate) fn extension(&self, oid: ObjectIdentifier) -> Option<&Extension> {
        self.cert
            .tbs_certificate
            .extensions
            .as_ref()?
            .iter()
            .find(|ext| ext.extn_id == oid)
    }

    /// Checks that `issuer` names and signed this certificate.
    pub(crate) fn check_issued_by(&self, issuer: &DcapCert) -> Result<(), DcapError> {
        self.check_issued_by_key(issuer.subject_der(), issuer.key())
    }

    /// Checks the issuer name and the signature with `key`.
    pub(crate) fn check_issued_by_key(
        &self,
        issuer_subject: &[u8],
        key: &ParsedPublicKey,
    ) -> Result<(), DcapError> {
        if self.issuer != issuer_subject {
            return Err(DcapError::IssuerMismatch { cert: self.role });
        }
        let signature = self
            .cert
            .signature
            .as_bytes()
            .ok_or(DcapError::CertificateSignature { cert: self.role })?;
        let tbs = self
            .der
            .get(self.tbs.clone())
            .ok_or(DcapError::CertificateSignature { cert: self.role })?;
        key.verify_sig(tbs, signature)
            .map_err(|_| DcapError::CertificateSignature { cert: self.role })
    }

    /// Checks the validity period at `now` (Unix seconds, bounds inclusive).
    pub(crate) fn check_valid_at(&self, now: i64) -> Result<(), DcapError> {
        check_window(self.role, self.not_before, self.not_after, now)
    }
}

/// Checks a validity window recorded earlier.
pub(crate) fn check_window(
    cert: CertRole,
    not_before: i64,
    not_after: i64,
    now: i64,
) -> Result<(), DcapError> {
    if now < not_before || now > not_after {
        return Err(DcapError::CertificateNotValid {
            cert,
            now,
            not_before,
            not_after,
        });
    }
    Ok(())
}

/// The embedded Intel SGX Root CA, parsed once (a constant: parsing it per verification
/// would change no result). Its validity is still checked at every verification time.
pub(crate) fn intel_root() -> Result<&'static DcapCert, DcapError> {
    static ROOT: OnceLock<Result<DcapCert, DcapError>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let malformed = DcapError::CertificateMalformed {
            cert: CertRole::Root,
            reason: "embedded root does not parse",
        };
        let block = pem::parse(INTEL_SGX_ROOT_CA_PEM).map_err(|_| malformed.clone())?;
        let root = DcapCert::parse(block.contents(), CertRole::Root)?;
        root.check_issued_by(&root)?;
        Ok(root)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Checks that a chain's last certificate is the Intel SGX Root CA: same public key as the
/// embedded one, and self-signed with it.
pub(crate) fn check_pinned_root(root: &DcapCert, chain: &'static str) -> Result<(), DcapError> {
    let pinned = intel_root()?;
    if root.public_key() != pinned.public_key() || root.subject_der() != pinned.subject_der() {
        return Err(DcapError::UntrustedRoot { chain });
    }
    root.check_issued_by(pinned)
        .map_err(|_| DcapError::UntrustedRoot { chain })
}

/// As [`check_pinned_root`] for a DER certificate; the embedded root's own bytes (what every
/// real chain carries) need no parsing or signature check.
pub(crate) fn check_pinned_root_der(der: &[u8], chain: &'static str) -> Result<(), DcapError> {
    if der == intel_root()?.der() {
        return Ok(());
    }
    let root =
        DcapCert::parse(der, CertRole::Root).map_err(|_| DcapError::UntrustedRoot { chain })?;
    check_pinned_root(&root, chain)
}

/// A parsed CRL whose signature has been checked.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedCrl {
    kind: CrlKind,
    /// DER of the issuer name.
    issuer: Vec<u8>,
    /// The uncompressed P-256 key that signed it.
    issuer_key: Vec<u8>,
    revoked: Vec<Vec<u8>>,
    pub(crate) this_update: i64,
    pub(crate) next_update: Option<i64>,
    pub(crate) number: Option<u64>,
}

impl VerifiedCrl {
    /// Parses `der` and checks that `issuer` names and signed it.
    pub(crate) fn verify(der: &[u8], kind: CrlKind, issuer: &DcapCert) -> Result<Self, DcapError> {
        let malformed = |reason| DcapError::CrlMalformed { crl: kind, reason };
        if der.len() > MAX_DER_LEN {
            return Err(malformed("too large"));
        }
        let crl = CertificateList::from_der(der).map_err(|_| malformed("not a der crl"))?;
        if crl.signature_algorithm.oid != ECDSA_WITH_SHA256 {
            return Err(malformed("signature algorithm is not ecdsa-with-sha256"));
        }
        let tbs = tbs_range(der)
            .and_then(|range| der.get(range))
            .ok_or(malformed("no tbs cert list"))?;
        let issuer_name = crl
            .tbs_cert_list
            .issuer
            .to_der()
            .map_err(|_| malformed("issuer name"))?;
        if issuer_name != issuer.subject_der() {
            return Err(DcapError::CrlIssuerMismatch { crl: kind });
        }
        let signature = crl
            .signature
            .as_bytes()
            .ok_or(DcapError::CrlSignature { crl: kind })?;
        issuer
            .key()
            .verify_sig(tbs, signature)
            .map_err(|_| DcapError::CrlSignature { crl: kind })?;
        let number = crl
            .tbs_cert_list
            .crl_extensions
            .as_ref()
            .and_then(|exts| exts.iter().find(|ext| ext.extn_id == CRL_NUMBER))
            .map(|ext| {
                UintRef::from_der(ext.extn_value.as_bytes())
                    .ok()
                    .and_then(|n| uint_to_u64(n.as_bytes()))
                    .ok_or(malformed("crl number"))
            })
            .transpose()?;
        let revoked = crl
            .tbs_cert_list
            .revoked_certificates
            .as_ref()
            .map(|list| {
                list.iter()
                    .map(|entry| entry.serial_number.as_bytes().to_vec())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            kind,
            issuer: issuer_name,
            issuer_key: issuer.public_key().to_vec(),
            revoked,
            this_update: unix(crl.tbs_cert_list.this_update),
            next_update: crl.tbs_cert_list.next_update.map(unix),
            number,
        })
    }

    /// Checks that `cert` was issued by this CRL's issuer (same name and key) and is not
    /// listed as revoked.
    pub(crate) fn check_not_revoked(
        &self,
        cert: &DcapCert,
        issuer: &DcapCert,
    ) -> Result<(), DcapError> {
        if self.issuer != cert.issuer_der() || self.issuer_key != issuer.public_key() {
            return Err(DcapError::CrlIssuerMismatch { crl: self.kind });
        }
        self.check_serial_not_revoked(cert)
    }

    /// Checks only that `cert`'s serial number is not listed.
    pub(crate) fn check_serial_not_revoked(&self, cert: &DcapCert) -> Result<(), DcapError> {
        if self.revoked.iter().any(|serial| serial == cert.serial()) {
            return Err(DcapError::CertificateRevoked {
                cert: cert.role,
                crl: self.kind,
            });
        }
        Ok(())
    }

    /// Whether the CRL is past its nextUpdate at `now` (collateral expired, reported).
    pub(crate) fn expired_at(&self, now: i64) -> bool {
        self.next_update.is_some_and(|next| now > next)
    }
}

fn unix(time: Time) -> i64 {
    i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

fn uint_to_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.len() > 8 {
        return None;
    }
    Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}
