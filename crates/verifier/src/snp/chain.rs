//! The AMD certificate chain: ARK (self-signed) → ASK → VCEK, or ARK → ASVK → VLEK
//! (verifiers spec §1.2 steps 3-4 and 6).
//!
//! The ARK, ASK and ASVK of each generation are compiled in; a certificate chain sent with the
//! evidence is never trusted for them. ARK, ASK/ASVK and the VEK's certificate are signed with
//! RSASSA-PSS / SHA-384 (salt 48) by their issuer; the VEK's own key is ECDSA P-384, and that
//! key signs the attestation report. Every certificate's validity period is checked at the
//! verification time (upstream checks none, spec §14.2).

use std::ops::Range;
use std::sync::OnceLock;

use aws_lc_rs::digest::{Context, SHA256};
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED, ParsedPublicKey, RSA_PSS_2048_8192_SHA384};
use x509_cert::Certificate;
use x509_cert::der::asn1::OctetStringRef;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};

use super::error::{CertRole, SnpError};
use super::report::{Product, TcbVersion};
use crate::x509::{is_p384, tbs_range};

/// `rsaEncryption`: the key algorithm of ARK, ASK and ASVK.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-RSASSA-PSS`: the signature algorithm of every AMD certificate.
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// RSASSA-PSS-params {SHA-384, MGF1(SHA-384), salt 48, trailer 1}, as AMD encodes them: with
/// the default trailer field spelled out (ARK, ASK, most VCEKs) ...
const PSS_SHA384_PARAMS_WITH_TRAILER: &[u8] = &[
    0x30, 0x39, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
    0x02, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
    0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0xa2, 0x03, 0x02, 0x01, 0x30, 0xa3, 0x03, 0x02, 0x01, 0x01,
];
/// ... and without it (newer VCEKs, VLEKs). Both mean exactly what aws-lc-rs's
/// `RSA_PSS_2048_8192_SHA384` verifies; any other parameters are refused.
const PSS_SHA384_PARAMS: &[u8] = &[
    0x30, 0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
    0x02, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
    0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0xa2, 0x03, 0x02, 0x01, 0x30,
];

/// VCEK extension: the chip's hardware id (`1.3.6.1.4.1.3704.1.4`).
const OID_HWID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");
/// VEK TCB extensions (`1.3.6.1.4.1.3704.1.3.x`), by the component they carry.
const OID_BOOTLOADER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
const OID_TEE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
const OID_SNP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
const OID_MICROCODE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
const OID_FMC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");

/// AMD's public ASK, ARK and ASVK per generation (in that order), from AMD KDS
/// (`/vcek/v1/<product>/cert_chain` and `/vlek/v1/<product>/cert_chain`); see `roots/amd/README.md`.
const MILAN_PEM: &str = include_str!("../../roots/amd/milan_ask_ark_asvk.pem");
const GENOA_PEM: &str = include_str!("../../roots/amd/genoa_ask_ark_asvk.pem");
const TURIN_PEM: &str = include_str!("../../roots/amd/turin_ask_ark_asvk.pem");

/// The trust anchors of every generation.
#[derive(Debug)]
pub struct AmdRoots {
    milan: ProductRoots,
    genoa: ProductRoots,
    turin: ProductRoots,
}

impl AmdRoots {
    /// The AMD roots compiled into this crate, parsed and cross-checked on first use.
    ///
    /// They are constants, so parsing them once per process (not per verification) changes no
    /// result; their validity periods are still checked at each verification time.
    pub fn embedded() -> Result<&'static AmdRoots, SnpError> {
        static ROOTS: OnceLock<Result<AmdRoots, SnpError>> = OnceLock::new();
        ROOTS
            .get_or_init(|| {
                Ok(AmdRoots {
                    milan: ProductRoots::from_pem(Product::Milan, MILAN_PEM)?,
                    genoa: ProductRoots::from_pem(Product::Genoa, GENOA_PEM)?,
                    turin: ProductRoots::from_pem(Product::Turin, TURIN_PEM)?,
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The roots of one generation.
    pub fn product(&self, product: Product) -> &ProductRoots {
        match product {
            Product::Milan => &self.milan,
            Product::Genoa => &self.genoa,
            Product::Turin => &self.turin,
        }
    }

    /// The generation whose ASK or ASVK issued `vek_der`, for reports without CPUID fields
    /// (version 2). This only picks the roots; [`verify_vek_chain`] still checks the chain.
    pub fn product_for_vek(&self, vek_der: &[u8]) -> Result<Product, SnpError> {
        let vek = AmdCert::parse(vek_der, CertRole::Vek)?;
        Product::ALL
            .into_iter()
            .find(|&product| {
                let roots = self.product(product);
                vek.issuer_is(&roots.ask) || vek.issuer_is(&roots.asvk)
            })
            .ok_or(SnpError::ProductUndetermined)
    }
}

/// The ARK, ASK and ASVK of one generation, with the ASK and ASVK checked to be signed by the
/// ARK and the ARK by itself.
#[derive(Debug)]
pub struct ProductRoots {
    product: Product,
    /// SHA-256 over the ARK, ASK and ASVK DER: tells apart two sets of roots for the same
    /// product, so a chain verified against one is never taken as verified against the other.
    fingerprint: [u8; 32],
    ark: AmdCert,
    ask: AmdCert,
    asvk: AmdCert,
    ask_key: ParsedPublicKey,
    asvk_key: ParsedPublicKey,
}

impl ProductRoots {
    /// Loads a bundle of PEM certificates in trustee's order (ASK, ARK, ASVK) and checks the
    /// signatures between them. Validity periods are checked per verification, at its time.
    pub fn from_pem(product: Product, pem_text: &str) -> Result<Self, SnpError> {
        let blocks = pem::parse_many(pem_text).map_err(|_| SnpError::CertificateMalformed {
            cert: CertRole::Ark,
        })?;
        let [ask, ark, asvk] = blocks.as_slice() else {
            return Err(SnpError::CertificateMalformed {
                cert: CertRole::Ark,
            });
        };
        let ark = AmdCert::parse(ark.contents(), CertRole::Ark)?;
        let ask = AmdCert::parse(ask.contents(), CertRole::Ask)?;
        let asvk = AmdCert::parse(asvk.contents(), CertRole::Asvk)?;

        let ark_key = ark.rsa_key()?;
        ark.check_signed_by(&ark, &ark_key)?;
        ask.check_signed_by(&ark, &ark_key)?;
        asvk.check_signed_by(&ark, &ark_key)?;
        let mut fingerprint = Context::new(&SHA256);
        for cert in [&ark, &ask, &asvk] {
            fingerprint.update(&cert.der);
        }
        let fingerprint = fingerprint.finish().as_ref().try_into().map_err(|_| {
            SnpError::CertificateMalformed {
                cert: CertRole::Ark,
            }
        })?;
        Ok(Self {
            product,
            fingerprint,
            ask_key: ask.rsa_key()?,
            asvk_key: asvk.rsa_key()?,
            ark,
            ask,
            asvk,
        })
    }

    /// The generation these roots belong to.
    pub fn product(&self) -> Product {
        self.product
    }

    /// SHA-256 over the ARK, ASK and ASVK DER (identifies these roots).
    pub fn fingerprint(&self) -> &[u8; 32] {
        &self.fingerprint
    }
}

/// A VCEK or VLEK whose chain to the pinned ARK verified at the verification time. Only
/// [`verify_vek_chain`] makes one, so a report check can only use a checked key.
#[derive(Debug)]
pub struct VerifiedVek {
    kind: CertRole,
    product: Product,
    key: ParsedPublicKey,
    tcb: TcbVersion,
    hwid: Option<[u8; 64]>,
    /// The validity periods of the VEK, its issuer and the ARK, in the order
    /// [`verify_vek_chain`] checks them, so a reused proof is checked at each new time.
    validity: [Validity; 3],
}

/// One certificate's validity period (Unix seconds, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Validity {
    cert: CertRole,
    not_before: u64,
    not_after: u64,
}

impl Validity {
    fn of(cert: &AmdCert) -> Self {
        Self {
            cert: cert.role,
            not_before: cert.not_before,
            not_after: cert.not_after,
        }
    }

    fn check_at(&self, now: u64) -> Result<(), SnpError> {
        if now < self.not_before || now > self.not_after {
            return Err(SnpError::CertificateValidity {
                cert: self.cert,
                now,
                not_before: self.not_before,
                not_after: self.not_after,
            });
        }
        Ok(())
    }
}

impl VerifiedVek {
    /// [`CertRole::Vcek`] or [`CertRole::Vlek`], from the key that issued it.
    pub fn kind(&self) -> CertRole {
        self.kind
    }

    /// The generation whose roots the chain ends in.
    pub fn product(&self) -> Product {
        self.product
    }

    /// The TCB the VEK was issued for (its `1.3.6.1.4.1.3704.1.3.x` extensions; `fmc` on
    /// Turin only).
    pub fn tcb(&self) -> &TcbVersion {
        &self.tcb
    }

    /// The chip's hardware id (VCEK only): 64 bytes, or on Turin 8 bytes followed by zeros.
    pub fn hwid(&self) -> Option<&[u8]> {
        let len = self.product.hwid_len();
        self.hwid.as_ref().and_then(|hwid| hwid.get(..len))
    }

    /// Checks that every certificate of the verified chain (VEK, ASK or ASVK, ARK) is valid at
    /// `now`, with the same error [`verify_vek_chain`] gives. A proof reused at a later time
    /// (see [`super::VerifiedVekCache`]) must pass this at that time.
    pub fn check_valid_at(&self, now: u64) -> Result<(), SnpError> {
        self.validity
            .iter()
            .try_for_each(|validity| validity.check_at(now))
    }

    /// Verifies an ECDSA P-384 / SHA-384 signature (big-endian `r || s`) with the VEK.
    pub(super) fn verify_p384(&self, message: &[u8], signature: &[u8; 96]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

/// Verifies `vek_der` → ASK (VCEK) or ASVK (VLEK) → ARK at `now` (Unix seconds) and reads the
/// VEK's TCB and hardware-id extensions.
pub fn verify_vek_chain(
    roots: &ProductRoots,
    vek_der: &[u8],
    now: u64,
) -> Result<VerifiedVek, SnpError> {
    let vek = AmdCert::parse(vek_der, CertRole::Vek)?;
    // The issuer name picks the branch; the signature below proves it.
    let (kind, parent, parent_key) = if vek.issuer_is(&roots.ask) {
        (CertRole::Vcek, &roots.ask, &roots.ask_key)
    } else if vek.issuer_is(&roots.asvk) {
        (CertRole::Vlek, &roots.asvk, &roots.asvk_key)
    } else {
        return Err(SnpError::CertificateIssuer {
            cert: CertRole::Vek,
        });
    };
    let vek = AmdCert { role: kind, ..vek };
    vek.check_signed_by(parent, parent_key)?;
    let validity = [
        Validity::of(&vek),
        Validity::of(parent),
        Validity::of(&roots.ark),
    ];
    for period in &validity {
        period.check_at(now)?;
    }
    let key = vek.p384_key()?;
    let extensions = VekExtensions::read(&vek.cert)?;
    let turin = roots.product == Product::Turin;
    let tcb = TcbVersion {
        fmc: if turin {
            Some(extensions.required(extensions.fmc, "fmc")?)
        } else {
            None
        },
        bootloader: extensions.required(extensions.bootloader, "bootloader")?,
        tee: extensions.required(extensions.tee, "tee")?,
        snp: extensions.required(extensions.snp, "snp")?,
        microcode: extensions.required(extensions.microcode, "microcode")?,
    };
    let hwid = match kind {
        // A VLEK belongs to a cloud provider, not to a chip: it has no hardware id.
        CertRole::Vlek => None,
        _ => Some(hwid_value(
            extensions
                .hwid
                .ok_or(SnpError::VekExtension { extension: "hwid" })?,
            roots.product.hwid_len(),
        )?),
    };
    Ok(VerifiedVek {
        kind,
        product: roots.product,
        key,
        tcb,
        hwid,
        validity,
    })
}

/// Reads the hardware-id extension value: the raw id (older VCEKs) or a DER OCTET STRING
/// holding it (newer VCEKs, see `test-vcek-invalid-new.der`). The two are told apart by length
/// alone, never by guessing at the content, because a raw id can start with any bytes.
fn hwid_value(value: &[u8], len: usize) -> Result<[u8; 64], SnpError> {
    let malformed = SnpError::VekExtension { extension: "hwid" };
    let id = if value.len() == len {
        value
    } else if value.len() == len + 2 {
        let inner = OctetStringRef::from_der(value).map_err(|_| malformed.clone())?;
        if inner.as_bytes().len() != len {
            return Err(malformed);
        }
        inner.as_bytes()
    } else {
        return Err(malformed);
    };
    let mut out = [0u8; 64];
    out.iter_mut().zip(id).for_each(|(d, s)| *d = *s);
    Ok(out)
}

/// The AMD extensions of a VEK, each at most once.
#[derive(Default)]
struct VekExtensions<'a> {
    hwid: Option<&'a [u8]>,
    bootloader: Option<&'a [u8]>,
    tee: Option<&'a [u8]>,
    snp: Option<&'a [u8]>,
    microcode: Option<&'a [u8]>,
    fmc: Option<&'a [u8]>,
}

impl<'a> VekExtensions<'a> {
    fn read(cert: &'a Certificate) -> Result<Self, SnpError> {
        let mut found = Self::default();
        for ext in cert.tbs_certificate.extensions.iter().flatten() {
            let (slot, name) = match ext.extn_id {
                OID_HWID => (&mut found.hwid, "hwid"),
                OID_BOOTLOADER => (&mut found.bootloader, "bootloader"),
                OID_TEE => (&mut found.tee, "tee"),
                OID_SNP => (&mut found.snp, "snp"),
                OID_MICROCODE => (&mut found.microcode, "microcode"),
                OID_FMC => (&mut found.fmc, "fmc"),
                _ => continue,
            };
            // A second value for the same extension would let a certificate say two things.
            if slot.replace(ext.extn_value.as_bytes()).is_some() {
                return Err(SnpError::VekExtension { extension: name });
            }
        }
        Ok(found)
    }

    /// An SPL extension: a DER INTEGER that fits in a byte.
    fn required(&self, value: Option<&[u8]>, extension: &'static str) -> Result<u8, SnpError> {
        value
            .and_then(|der| u8::from_der(der).ok())
            .ok_or(SnpError::VekExtension { extension })
    }
}

/// A parsed AMD certificate with the byte range of its signed part.
#[derive(Debug)]
struct AmdCert {
    role: CertRole,
    der: Vec<u8>,
    tbs: Range<usize>,
    cert: Certificate,
    not_before: u64,
    not_after: u64,
}

impl AmdCert {
    fn parse(der: &[u8], role: CertRole) -> Result<Self, SnpError> {
        let malformed = SnpError::CertificateMalformed { cert: role };
        // `from_der` refuses trailing bytes.
        let cert = Certificate::from_der(der).map_err(|_| malformed.clone())?;
        let tbs = tbs_range(der).ok_or(malformed)?;
        let validity = &cert.tbs_certificate.validity;
        Ok(Self {
            role,
            der: der.to_vec(),
            tbs,
            not_before: validity.not_before.to_unix_duration().as_secs(),
            not_after: validity.not_after.to_unix_duration().as_secs(),
            cert,
        })
    }

    /// Whether `issuer` is named as this certificate's issuer.
    fn issuer_is(&self, issuer: &AmdCert) -> bool {
        self.cert.tbs_certificate.issuer == issuer.cert.tbs_certificate.subject
    }

    /// Checks that `issuer` (with its already extracted `issuer_key`) signed this certificate
    /// with RSASSA-PSS / SHA-384.
    fn check_signed_by(
        &self,
        issuer: &AmdCert,
        issuer_key: &ParsedPublicKey,
    ) -> Result<(), SnpError> {
        if !self.issuer_is(issuer) {
            return Err(SnpError::CertificateIssuer { cert: self.role });
        }
        let algorithm = &self.cert.signature_algorithm;
        let params = algorithm
            .parameters
            .as_ref()
            .and_then(|params| params.to_der().ok());
        let pss_sha384 = algorithm.oid == RSASSA_PSS
            && matches!(params.as_deref(), Some(PSS_SHA384_PARAMS | PSS_SHA384_PARAMS_WITH_TRAILER))
            // RFC 5280 §4.1.1.2: the signed copy of the algorithm must match the outer one.
            && self.cert.tbs_certificate.signature == *algorithm;
        if !pss_sha384 {
            return Err(SnpError::CertificateAlgorithm { cert: self.role });
        }
        let signature = self
            .cert
            .signature
            .as_bytes()
            .ok_or(SnpError::CertificateMalformed { cert: self.role })?;
        let tbs = self
            .der
            .get(self.tbs.clone())
            .ok_or(SnpError::CertificateMalformed { cert: self.role })?;
        issuer_key
            .verify_sig(tbs, signature)
            .map_err(|_| SnpError::CertificateSignature { cert: self.role })
    }

    /// The RSA key of an ARK, ASK or ASVK, for RSASSA-PSS / SHA-384 verification.
    fn rsa_key(&self) -> Result<ParsedPublicKey, SnpError> {
        let spki = &self.cert.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(SnpError::CertificateAlgorithm { cert: self.role });
        }
        let key = spki
            .subject_public_key
            .as_bytes()
            .ok_or(SnpError::CertificateMalformed { cert: self.role })?;
        ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, key)
            .map_err(|_| SnpError::CertificateAlgorithm { cert: self.role })
    }

    /// The P-384 key of a VCEK or VLEK.
    fn p384_key(&self) -> Result<ParsedPublicKey, SnpError> {
        let spki = &self.cert.tbs_certificate.subject_public_key_info;
        if !is_p384(spki) {
            return Err(SnpError::CertificateAlgorithm { cert: self.role });
        }
        let key = spki
            .subject_public_key
            .as_bytes()
            .ok_or(SnpError::CertificateMalformed { cert: self.role })?;
        ParsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, key)
            .map_err(|_| SnpError::CertificateAlgorithm { cert: self.role })
    }
}

#[cfg(test)]
impl VerifiedVek {
    /// The same key with other certified values, to test report checks for products and
    /// TCBs the shared test data has no certificates for (Turin).
    pub(super) fn with_values_for_test(
        self,
        product: Product,
        tcb: TcbVersion,
        hwid: Option<[u8; 64]>,
    ) -> Self {
        Self {
            product,
            tcb,
            hwid,
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::shared as testdata;

    fn tcb_of(cert: &AmdCert) -> [u8; 4] {
        let ext = VekExtensions::read(&cert.cert).unwrap();
        [
            ext.required(ext.bootloader, "bootloader").unwrap(),
            ext.required(ext.tee, "tee").unwrap(),
            ext.required(ext.snp, "snp").unwrap(),
            ext.required(ext.microcode, "microcode").unwrap(),
        ]
    }

    #[test]
    fn reads_legacy_raw_and_der_wrapped_hwid_extensions() {
        // cases.json: parse-only certificates; both carry hwid 00 01 02 ... 3f.
        let expected: Vec<u8> = (0..64).collect();
        for (file, raw_len, tcb) in [
            (
                "evidence/snp/test-vcek-invalid-legacy.der",
                64,
                [3, 0, 10, 169],
            ),
            ("evidence/snp/test-vcek-invalid-new.der", 66, [0, 0, 0, 30]),
        ] {
            let cert = AmdCert::parse(&testdata(file), CertRole::Vek).unwrap();
            let ext = VekExtensions::read(&cert.cert).unwrap();
            let value = ext.hwid.unwrap();
            assert_eq!(value.len(), raw_len, "{file}");
            assert_eq!(hwid_value(value, 64).unwrap()[..], expected[..], "{file}");
            assert_eq!(tcb_of(&cert), tcb, "{file}");
            assert_eq!(ext.fmc, None);
        }
    }

    #[test]
    fn spl_extensions_are_der_integers_up_to_255() {
        // The VLEK's microcode SPL 217 needs a leading zero byte: 02 02 00 d9.
        let vlek = AmdCert::parse(&testdata("evidence/snp/test-vlek.der"), CertRole::Vek).unwrap();
        assert_eq!(tcb_of(&vlek), [4, 0, 24, 217]);
        let ext = VekExtensions::default();
        for bad in [
            &[0x02, 0x02, 0x01, 0x00][..],
            &[0x04, 0x01, 0x05],
            &[0x02, 0x01, 0xff],
            &[],
        ] {
            assert_eq!(
                ext.required(Some(bad), "snp"),
                Err(SnpError::VekExtension { extension: "snp" }),
                "{bad:02x?}"
            );
        }
        assert_eq!(
            ext.required(None, "tee"),
            Err(SnpError::VekExtension { extension: "tee" })
        );
    }

    #[test]
    fn hwid_encoding_is_told_apart_by_length_only() {
        // A raw id that happens to look like a DER OCTET STRING header stays raw.
        let mut raw = [7u8; 64];
        raw[0] = 0x04;
        raw[1] = 62;
        assert_eq!(hwid_value(&raw, 64).unwrap(), raw);
        // Turin: 8 bytes, raw or wrapped.
        let turin = [1, 2, 3, 4, 5, 6, 7, 8];
        let wrapped = [0x04, 0x08, 1, 2, 3, 4, 5, 6, 7, 8];
        let mut expected = [0u8; 64];
        expected[..8].copy_from_slice(&turin);
        assert_eq!(hwid_value(&turin, 8).unwrap(), expected);
        assert_eq!(hwid_value(&wrapped, 8).unwrap(), expected);
        let bad = SnpError::VekExtension { extension: "hwid" };
        assert_eq!(hwid_value(&raw[..63], 64), Err(bad.clone()));
        assert_eq!(
            hwid_value(&[0x04, 0x07, 1, 2, 3, 4, 5, 6, 7, 8], 8),
            Err(bad.clone())
        );
        assert_eq!(
            hwid_value(&[0x05, 0x08, 1, 2, 3, 4, 5, 6, 7, 8], 8),
            Err(bad)
        );
    }

    #[test]
    fn embedded_roots_load_for_every_product() {
        let roots = AmdRoots::embedded().unwrap();
        for product in Product::ALL {
            let product_roots = roots.product(product);
            assert_eq!(product_roots.product(), product);
            // ARK self-issued, ASK and ASVK issued by it (signatures checked at load).
            assert!(product_roots.ark.issuer_is(&product_roots.ark));
            assert!(product_roots.ask.issuer_is(&product_roots.ark));
            assert!(product_roots.asvk.issuer_is(&product_roots.ark));
        }
    }

    #[test]
    fn root_bundle_with_a_foreign_ask_is_refused() {
        // Milan's ASK with Genoa's ARK: the ASK's issuer is not that ARK.
        let milan = pem::parse_many(MILAN_PEM).unwrap();
        let genoa = pem::parse_many(GENOA_PEM).unwrap();
        let mixed = pem::encode_many(&[milan[0].clone(), genoa[1].clone(), genoa[2].clone()]);
        assert_eq!(
            ProductRoots::from_pem(Product::Genoa, &mixed).unwrap_err(),
            SnpError::CertificateIssuer {
                cert: CertRole::Ask
            }
        );
        assert!(ProductRoots::from_pem(Product::Milan, "").is_err());
    }

    #[test]
    fn certificate_with_a_tampered_signed_part_is_refused() {
        // Flip a bit inside the VCEK's validity dates (inside tbsCertificate, still valid DER).
        let roots = AmdRoots::embedded().unwrap().product(Product::Milan);
        let mut der = testdata("evidence/snp/test-vcek.der");
        let tbs = tbs_range(&der).unwrap();
        let needle = b"230124175826Z";
        let at = der.windows(needle.len()).position(|w| w == needle).unwrap();
        assert!(tbs.contains(&at));
        der[at + 11] = b'7';
        assert_eq!(
            verify_vek_chain(roots, &der, 1_748_736_000).unwrap_err(),
            SnpError::CertificateSignature {
                cert: CertRole::Vcek
            }
        );
    }

    #[test]
    fn malformed_certificates_are_refused() {
        let roots = AmdRoots::embedded().unwrap().product(Product::Milan);
        let der = testdata("evidence/snp/test-vcek.der");
        let mut trailing = der.clone();
        trailing.push(0);
        for bad in [&der[..der.len() - 1], &trailing[..], &[][..]] {
            assert_eq!(
                verify_vek_chain(roots, bad, 1_748_736_000).unwrap_err(),
                SnpError::CertificateMalformed {
                    cert: CertRole::Vek
                }
            );
        }
    }
}
