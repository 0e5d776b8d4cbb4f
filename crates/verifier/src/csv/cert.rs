//! Hygon's two certificate formats (verifiers spec §8.1) and SM2 signature checks on them.
//!
//! - CA certificates (HRK, HSK): 832 bytes, one signature over the 576-byte body.
//! - CSV certificates (CEK, PEK): 2084 bytes, a 1044-byte body and two 520-byte signature
//!   slots, each naming the usage of the key that made it.
//!
//! All integers are little-endian. Keys and signatures are SM2 (GM/T 0003) with SM3; a
//! coordinate or scalar is a 72-byte little-endian field of which only the low 32 bytes may be
//! non-zero. Hygon's certificates carry no validity period, so no check here depends on time.

use sm2::dsa::signature::Verifier as _;
use sm2::dsa::{Signature, VerifyingKey};

use super::CsvError;
use super::error::CertRole;
use super::reader::Reader;

/// Curve id of SM2 in a Hygon public key (`g`).
pub(crate) const CURVE_SM2: u32 = 3;
/// Algorithm id of SM2 signatures with SM3 (`algo`).
pub(crate) const ALGO_SM2_SA: u32 = 4;

/// Key usage of the HRK.
pub(crate) const USAGE_HRK: u32 = 0x0000;
/// Key usage of the HSK.
pub(crate) const USAGE_HSK: u32 = 0x0013;
/// Key usage of the CEK.
pub(crate) const USAGE_CEK: u32 = 0x1004;
/// Key usage of the PEK.
pub(crate) const USAGE_PEK: u32 = 0x1002;

/// Size of one little-endian SM2 coordinate or scalar field.
const FIELD_LEN: usize = 72;
/// Bytes of an SM2 coordinate or scalar that may be non-zero.
const SCALAR_LEN: usize = 32;
/// Size of the `user_id` buffer.
const USER_ID_LEN: usize = 254;
/// Public key: curve id, x, y.
const PUBKEY_LEN: usize = 4 + FIELD_LEN + FIELD_LEN;
/// Signature: r, s.
pub(crate) const SIGNATURE_LEN: usize = FIELD_LEN + FIELD_LEN;

/// CA body: ver, kid, sid, usage, reserved, pubkey, uid_size, user_id, reserved.
const CA_BODY_LEN: usize = 4 + 16 + 16 + 4 + 24 + PUBKEY_LEN + 2 + USER_ID_LEN + 108;
/// CA certificate: body, signature, reserved.
pub(crate) const CA_CERT_LEN: usize = CA_BODY_LEN + SIGNATURE_LEN + 112;
/// CSV body: ver, firmware major/minor, reserved1, usage, algo, key, uid_size, user_id, sid,
/// reserved2.
const CSV_BODY_LEN: usize = 4 + 1 + 1 + 2 + 4 + 4 + PUBKEY_LEN + 2 + USER_ID_LEN + 16 + 608;
/// CSV signature slot: usage, algo, signature, reserved.
const CSV_SLOT_LEN: usize = 4 + 4 + SIGNATURE_LEN + 368;
/// CSV certificate: body and two signature slots.
pub(crate) const CSV_CERT_LEN: usize = CSV_BODY_LEN + 2 * CSV_SLOT_LEN;

const _: () = assert!(CA_BODY_LEN == 576);
const _: () = assert!(CA_CERT_LEN == 832);
const _: () = assert!(CSV_BODY_LEN == 1044);
const _: () = assert!(CSV_SLOT_LEN == 520);
const _: () = assert!(CSV_CERT_LEN == 2084);

/// An SM2 public key as it appears in a certificate, with its owner's user id (which enters
/// SM2's `Z` hash, so it is part of what a signature commits to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sm2Identity {
    /// Uncompressed SEC1 point: `04 || x || y`, big-endian.
    sec1: [u8; 1 + 2 * SCALAR_LEN],
    /// `user_id[..uid_size]`, e.g. `HYGON-SSD-PEK`.
    user_id: String,
}

impl Sm2Identity {
    /// Reads `g, x, y` then (later in the layout) `uid_size, user_id`.
    fn parse_key(reader: &mut Reader<'_>, cert: CertRole) -> Result<[u8; 65], CsvError> {
        let curve = reader.u32()?;
        if curve != CURVE_SM2 {
            return Err(CsvError::NotSm2 {
                cert,
                field: "curve",
                found: curve,
                expected: CURVE_SM2,
            });
        }
        let x = big_endian_scalar(reader.array()?).ok_or(CsvError::MalformedCertificate {
            cert,
            field: "public key x exceeds 256 bits",
        })?;
        let y = big_endian_scalar(reader.array()?).ok_or(CsvError::MalformedCertificate {
            cert,
            field: "public key y exceeds 256 bits",
        })?;
        let mut sec1 = [0u8; 65];
        let (tag, coordinates) = sec1.split_at_mut(1);
        let (x_out, y_out) = coordinates.split_at_mut(SCALAR_LEN);
        tag.copy_from_slice(&[0x04]);
        x_out.copy_from_slice(&x);
        y_out.copy_from_slice(&y);
        Ok(sec1)
    }

    fn parse_user_id(reader: &mut Reader<'_>, cert: CertRole) -> Result<String, CsvError> {
        let size = usize::from(reader.u16()?);
        let buffer: [u8; USER_ID_LEN] = reader.array()?;
        let user_id = buffer.get(..size).ok_or(CsvError::MalformedCertificate {
            cert,
            field: "uid_size exceeds the user_id buffer",
        })?;
        // The `sm2` crate takes the distinguishing id as text; Hygon's ids are ASCII.
        String::from_utf8(user_id.to_vec()).map_err(|_| CsvError::MalformedCertificate {
            cert,
            field: "user_id is not text",
        })
    }

    /// The verifying key, or `None` when the point is not on the curve.
    fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_sec1_bytes(&self.user_id, &self.sec1).ok()
    }

    /// Checks an SM2-with-SM3 signature over `message` by this key.
    pub(crate) fn verify(&self, message: &[u8], signature: &RawSignature) -> bool {
        let Some(key) = self.verifying_key() else {
            return false;
        };
        let Some(signature) = signature.to_sm2() else {
            return false;
        };
        key.verify(message, &signature).is_ok()
    }
}

/// An SM2 signature as stored: `r` and `s`, 72 bytes little-endian each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawSignature {
    r: [u8; FIELD_LEN],
    s: [u8; FIELD_LEN],
}

impl RawSignature {
    /// Reads `r, s`.
    pub(crate) fn parse(reader: &mut Reader<'_>) -> Result<Self, CsvError> {
        Ok(Self {
            r: reader.array()?,
            s: reader.array()?,
        })
    }

    /// The signature, or `None` when a scalar is out of range (which can never verify).
    fn to_sm2(&self) -> Option<Signature> {
        let r = big_endian_scalar(self.r)?;
        let s = big_endian_scalar(self.s)?;
        Signature::from_scalars(r, s).ok()
    }
}

/// A CA certificate (HRK or HSK), 832 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCertificate {
    role: CertRole,
    body: Vec<u8>,
    key_id: [u8; 16],
    signer_id: [u8; 16],
    usage: u32,
    identity: Sm2Identity,
    signature: RawSignature,
}

impl CaCertificate {
    /// Parses the 832-byte layout of a `role` certificate (HRK or HSK).
    pub fn parse(bytes: &[u8], role: CertRole) -> Result<Self, CsvError> {
        let mut reader = Reader::new(bytes, "ca certificate");
        let body = reader.take(CA_BODY_LEN)?;
        let signature = RawSignature::parse(&mut reader)?;
        reader.take(112)?;
        reader.finish()?;

        let mut fields = Reader::new(body, "ca certificate body");
        let version = fields.u32()?;
        // Hygon has published only version 1 CA certificates.
        if version != 1 {
            return Err(CsvError::UnsupportedCertificateVersion {
                cert: role,
                version,
            });
        }
        let key_id = fields.array()?;
        let signer_id = fields.array()?;
        let usage = fields.u32()?;
        fields.take(24)?;
        let sec1 = Sm2Identity::parse_key(&mut fields, role)?;
        let user_id = Sm2Identity::parse_user_id(&mut fields, role)?;
        fields.take(108)?;
        fields.finish()?;

        Ok(Self {
            role,
            body: body.to_vec(),
            key_id,
            signer_id,
            usage,
            identity: Sm2Identity { sec1, user_id },
            signature,
        })
    }

    /// Checks the key usage, that `issuer` is named as the signer, and the signature by
    /// `issuer` (which is `self` for the self-signed HRK).
    pub(crate) fn verify_issued_by(
        &self,
        issuer: &CaCertificate,
        expected_usage: u32,
    ) -> Result<(), CsvError> {
        if self.usage != expected_usage {
            return Err(CsvError::WrongKeyUsage {
                cert: self.role,
                found: self.usage,
                expected: expected_usage,
            });
        }
        if self.signer_id != issuer.key_id {
            return Err(CsvError::IssuerMismatch {
                cert: self.role,
                issuer: issuer.role,
            });
        }
        if !issuer.identity.verify(&self.body, &self.signature) {
            return Err(CsvError::BadCertificateSignature {
                cert: self.role,
                issuer: issuer.role,
            });
        }
        Ok(())
    }

    /// The certified key and its user id.
    pub(crate) fn identity(&self) -> &Sm2Identity {
        &self.identity
    }

    /// The key id (`kid`) children name as their signer.
    pub(crate) fn key_id(&self) -> &[u8; 16] {
        &self.key_id
    }

    /// Which key this certificate was parsed as.
    pub(crate) fn role(&self) -> CertRole {
        self.role
    }
}

/// One signature slot of a CSV certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SignatureSlot {
    usage: u32,
    algo: u32,
    signature: RawSignature,
}

/// A CSV certificate (CEK or PEK), 2084 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvCertificate {
    role: CertRole,
    body: Vec<u8>,
    firmware: (u8, u8),
    usage: u32,
    algo: u32,
    signer_id: [u8; 16],
    identity: Sm2Identity,
    slots: [SignatureSlot; 2],
}

impl CsvCertificate {
    /// Parses the 2084-byte layout of a `role` certificate (CEK or PEK).
    pub fn parse(bytes: &[u8], role: CertRole) -> Result<Self, CsvError> {
        let mut reader = Reader::new(bytes, "csv certificate");
        let body = reader.take(CSV_BODY_LEN)?;
        let slots = [
            SignatureSlot::parse(&mut reader)?,
            SignatureSlot::parse(&mut reader)?,
        ];
        reader.finish()?;

        let mut fields = Reader::new(body, "csv certificate body");
        let version = fields.u32()?;
        // CEKs are version 2 and PEKs version 1 in every certificate seen from Hygon.
        if !matches!(version, 1 | 2) {
            return Err(CsvError::UnsupportedCertificateVersion {
                cert: role,
                version,
            });
        }
        let [major, minor] = fields.array()?;
        fields.take(2)?;
        let usage = fields.u32()?;
        let algo = fields.u32()?;
        let sec1 = Sm2Identity::parse_key(&mut fields, role)?;
        let user_id = Sm2Identity::parse_user_id(&mut fields, role)?;
        let signer_id = fields.array()?;
        fields.take(608)?;
        fields.finish()?;

        Ok(Self {
            role,
            body: body.to_vec(),
            firmware: (major, minor),
            usage,
            algo,
            signer_id,
            identity: Sm2Identity { sec1, user_id },
            slots,
        })
    }

    /// Checks this certificate's own key usage and algorithm.
    pub(crate) fn check_key(&self, expected_usage: u32) -> Result<(), CsvError> {
        if self.usage != expected_usage {
            return Err(CsvError::WrongKeyUsage {
                cert: self.role,
                found: self.usage,
                expected: expected_usage,
            });
        }
        if self.algo != ALGO_SM2_SA {
            return Err(CsvError::NotSm2 {
                cert: self.role,
                field: "algorithm",
                found: self.algo,
                expected: ALGO_SM2_SA,
            });
        }
        Ok(())
    }

    /// Checks the signature slot made by a key of `issuer_usage` with `issuer`'s key.
    ///
    /// Only the slot whose usage names the issuer's role counts: a PEK's second slot is the
    /// platform owner's (OCA) signature, which says nothing about the chip.
    pub(crate) fn verify_signed_by(
        &self,
        issuer_role: CertRole,
        issuer_usage: u32,
        issuer: &Sm2Identity,
    ) -> Result<(), CsvError> {
        let slot = self
            .slots
            .iter()
            .find(|slot| slot.usage == issuer_usage)
            .ok_or(CsvError::MissingSignature {
                cert: self.role,
                issuer: issuer_role,
            })?;
        if slot.algo != ALGO_SM2_SA {
            return Err(CsvError::NotSm2 {
                cert: self.role,
                field: "signature algorithm",
                found: slot.algo,
                expected: ALGO_SM2_SA,
            });
        }
        if !issuer.verify(&self.body, &slot.signature) {
            return Err(CsvError::BadCertificateSignature {
                cert: self.role,
                issuer: issuer_role,
            });
        }
        Ok(())
    }

    /// The signer id (`sid`): the issuing CA's key id on a CEK, zero on a PEK.
    pub(crate) fn signer_id(&self) -> &[u8; 16] {
        &self.signer_id
    }

    /// The certified key and its user id.
    pub(crate) fn identity(&self) -> &Sm2Identity {
        &self.identity
    }

    /// The signed body (test only: to re-sign it with another key).
    #[cfg(test)]
    pub(crate) fn body(&self) -> &[u8] {
        &self.body
    }

    /// The firmware version `(major, minor)` that made this key.
    pub fn firmware(&self) -> (u8, u8) {
        self.firmware
    }
}

impl SignatureSlot {
    fn parse(reader: &mut Reader<'_>) -> Result<Self, CsvError> {
        let usage = reader.u32()?;
        let algo = reader.u32()?;
        let signature = RawSignature::parse(reader)?;
        reader.take(368)?;
        Ok(Self {
            usage,
            algo,
            signature,
        })
    }
}

/// Converts a 72-byte little-endian field to a 32-byte big-endian scalar; `None` if any of the
/// high 40 bytes is set (a value Hygon's firmware never writes, so never accepted).
fn big_endian_scalar(field: [u8; FIELD_LEN]) -> Option<[u8; SCALAR_LEN]> {
    let (low, high) = field.split_at(SCALAR_LEN);
    if high.iter().any(|&byte| byte != 0) {
        return None;
    }
    let mut scalar = [0u8; SCALAR_LEN];
    scalar.copy_from_slice(low);
    scalar.reverse();
    Some(scalar)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The embedded HRK, for layout tests.
    pub(crate) const HRK: &[u8] = include_bytes!("../../roots/hygon/hrk.cert");

    #[test]
    fn hrk_parses_with_hygon_user_id() {
        let hrk = CaCertificate::parse(HRK, CertRole::Hrk).unwrap();
        assert_eq!(hrk.identity.user_id, "HYGON-SSD-HRK");
        assert_eq!(hrk.usage, USAGE_HRK);
        assert_eq!(hrk.key_id, hrk.signer_id);
    }

    #[test]
    fn rejects_ca_certificate_of_wrong_length() {
        assert_eq!(
            CaCertificate::parse(&HRK[..831], CertRole::Hrk),
            Err(CsvError::Truncated {
                structure: "ca certificate"
            })
        );
        let mut long = HRK.to_vec();
        long.push(0);
        assert_eq!(
            CaCertificate::parse(&long, CertRole::Hrk),
            Err(CsvError::TrailingBytes {
                structure: "ca certificate"
            })
        );
    }

    #[test]
    fn rejects_unknown_ca_version() {
        let mut hrk = HRK.to_vec();
        hrk[0] = 2;
        assert_eq!(
            CaCertificate::parse(&hrk, CertRole::Hrk),
            Err(CsvError::UnsupportedCertificateVersion {
                cert: CertRole::Hrk,
                version: 2
            })
        );
    }

    #[test]
    fn rejects_non_sm2_curve() {
        let mut hrk = HRK.to_vec();
        hrk[64] = 2;
        assert!(matches!(
            CaCertificate::parse(&hrk, CertRole::Hrk),
            Err(CsvError::NotSm2 { field: "curve", .. })
        ));
    }

    #[test]
    fn rejects_oversized_coordinates_and_user_ids() {
        let mut hrk = HRK.to_vec();
        hrk[68 + 40] = 1;
        assert!(matches!(
            CaCertificate::parse(&hrk, CertRole::Hrk),
            Err(CsvError::MalformedCertificate { .. })
        ));
        let mut hrk = HRK.to_vec();
        hrk[212..214].copy_from_slice(&255u16.to_le_bytes());
        assert_eq!(
            CaCertificate::parse(&hrk, CertRole::Hrk),
            Err(CsvError::MalformedCertificate {
                cert: CertRole::Hrk,
                field: "uid_size exceeds the user_id buffer"
            })
        );
    }

    #[test]
    fn hrk_self_signature_verifies_and_fails_when_flipped() {
        let hrk = CaCertificate::parse(HRK, CertRole::Hrk).unwrap();
        assert_eq!(hrk.verify_issued_by(&hrk, USAGE_HRK), Ok(()));

        let mut tampered = HRK.to_vec();
        tampered[300] ^= 1; // inside the reserved part of the signed body
        let tampered = CaCertificate::parse(&tampered, CertRole::Hrk).unwrap();
        assert_eq!(
            tampered.verify_issued_by(&tampered, USAGE_HRK),
            Err(CsvError::BadCertificateSignature {
                cert: CertRole::Hrk,
                issuer: CertRole::Hrk
            })
        );
    }

    #[test]
    fn big_endian_scalar_reverses_the_low_bytes() {
        let mut field = [0u8; FIELD_LEN];
        field[0] = 1;
        field[31] = 2;
        let scalar = big_endian_scalar(field).unwrap();
        assert_eq!((scalar[0], scalar[31]), (2, 1));
        field[32] = 1;
        assert_eq!(big_endian_scalar(field), None);
    }
}
