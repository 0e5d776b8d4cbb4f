//! The attestation key from `ak_public` (DER SubjectPublicKeyInfo) and the quote signature
//! check with it.

use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA384_ASN1, ECDSA_P256_SHA512_ASN1,
    ECDSA_P384_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ECDSA_P384_SHA512_ASN1, ECDSA_P521_SHA256_ASN1,
    ECDSA_P521_SHA384_ASN1, ECDSA_P521_SHA512_ASN1, UnparsedPublicKey, VerificationAlgorithm,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use x509_cert::der::asn1::UintRef;
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, Reader, SliceReader};
use x509_cert::spki::SubjectPublicKeyInfoRef;

use super::TpmError;
use super::signature::{TPM_ALG_RSAPSS, TPM_ALG_RSASSA, TpmSignature, ecdsa_der};
use crate::vtpm::TPM_ALG_SHA256;

/// `TPM_ALG_SHA384`.
pub const TPM_ALG_SHA384: u16 = 0x000c;
/// `TPM_ALG_SHA512`.
pub const TPM_ALG_SHA512: u16 = 0x000d;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// The NIST curves a TPM ECC AK may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EccCurve {
    /// `TPM_ECC_NIST_P256`.
    P256,
    /// `TPM_ECC_NIST_P384`.
    P384,
    /// `TPM_ECC_NIST_P521`.
    P521,
}

/// An AK public key as `ak_public` gives it; not trusted by itself (that is for the policy,
/// e.g. against a list of known AK hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AkPublic {
    /// RSA: the PKCS#1 `RSAPublicKey` DER, and its modulus and exponent (big-endian).
    Rsa {
        /// `RSAPublicKey` DER, as aws-lc-rs verifies with it.
        der: Vec<u8>,
        /// The modulus.
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
    /// ECC: the curve and the uncompressed point.
    Ecc(EccCurve, Vec<u8>),
}

impl AkPublic {
    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, TpmError> {
        let malformed = |reason: String| TpmError::MalformedAkPublic { reason };
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|err| malformed(format!("not a der subjectpublickeyinfo: {err}")))?;
        let key = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| malformed("public key bit string has unused bits".into()))?
            .to_vec();
        if spki.algorithm.oid == RSA_ENCRYPTION {
            let (n, e) = rsa_components(&key)
                .map_err(|err| malformed(format!("not a pkcs#1 rsa public key: {err}")))?;
            return Ok(Self::Rsa { der: key, n, e });
        }
        if spki.algorithm.oid != EC_PUBLIC_KEY {
            return Err(malformed(format!(
                "algorithm {} is neither rsa nor ec",
                spki.algorithm.oid
            )));
        }
        let curve = match spki.algorithm.parameters_oid() {
            Ok(SECP256R1) => EccCurve::P256,
            Ok(SECP384R1) => EccCurve::P384,
            Ok(SECP521R1) => EccCurve::P521,
            _ => return Err(malformed("ec key is not on p-256, p-384 or p-521".into())),
        };
        Ok(Self::Ecc(curve, key))
    }

    /// `rsa`, `ecc-nist-p256`, ... for messages and claims.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rsa { .. } => "rsa",
            Self::Ecc(EccCurve::P256, _) => "ecc-nist-p256",
            Self::Ecc(EccCurve::P384, _) => "ecc-nist-p384",
            Self::Ecc(EccCurve::P521, _) => "ecc-nist-p521",
        }
    }

    /// The key as a JWK (RFC 7518 §6): `{"kty": "RSA", "n", "e"}` or `{"kty": "EC", "crv",
    /// "x", "y"}`, base64url without padding.
    pub fn jwk(&self) -> Value {
        match self {
            Self::Rsa { n, e, .. } => json!({
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(n),
                "e": URL_SAFE_NO_PAD.encode(e),
            }),
            Self::Ecc(curve, point) => {
                let (crv, size) = match curve {
                    EccCurve::P256 => ("P-256", 32),
                    EccCurve::P384 => ("P-384", 48),
                    EccCurve::P521 => ("P-521", 66),
                };
                // Checked uncompressed points have exactly 1 + 2 × size bytes; anything else
                // (compressed, hybrid) has no coordinates to give.
                let coordinates = point
                    .split_first()
                    .filter(|(tag, rest)| **tag == 4 && rest.len() == 2 * size)
                    .map(|(_, rest)| rest.split_at(size));
                match coordinates {
                    Some((x, y)) => json!({
                        "kty": "EC",
                        "crv": crv,
                        "x": URL_SAFE_NO_PAD.encode(x),
                        "y": URL_SAFE_NO_PAD.encode(y),
                    }),
                    None => json!({"kty": "EC", "crv": crv}),
                }
            }
        }
    }

    /// Verifies `signature` over `message` (the TPMS_ATTEST bytes). The scheme must fit the
    /// key: RSASSA or RSAPSS with RSA (2048-8192 bits), ECDSA with ECC; SHA-256/384/512 only.
    pub fn verify(&self, message: &[u8], signature: &TpmSignature) -> Result<(), TpmError> {
        let hash = signature.hash();
        let unsupported_hash = TpmError::Unsupported {
            field: "signature hash algorithm",
            value: hash,
        };
        let mismatch = TpmError::SchemeMismatch {
            scheme: signature.scheme(),
            key: self.kind(),
        };
        let (algorithm, key, sig): (&'static dyn VerificationAlgorithm, &[u8], Vec<u8>) =
            match (self, signature) {
                (
                    Self::Rsa { der: key, .. },
                    TpmSignature::Rsa {
                        scheme, signature, ..
                    },
                ) => {
                    let algorithm: &'static dyn VerificationAlgorithm = match (*scheme, hash) {
                        (TPM_ALG_RSASSA, TPM_ALG_SHA256) => &signature::RSA_PKCS1_2048_8192_SHA256,
                        (TPM_ALG_RSASSA, TPM_ALG_SHA384) => &signature::RSA_PKCS1_2048_8192_SHA384,
                        (TPM_ALG_RSASSA, TPM_ALG_SHA512) => &signature::RSA_PKCS1_2048_8192_SHA512,
                        (TPM_ALG_RSAPSS, TPM_ALG_SHA256) => &signature::RSA_PSS_2048_8192_SHA256,
                        (TPM_ALG_RSAPSS, TPM_ALG_SHA384) => &signature::RSA_PSS_2048_8192_SHA384,
                        (TPM_ALG_RSAPSS, TPM_ALG_SHA512) => &signature::RSA_PSS_2048_8192_SHA512,
                        _ => return Err(unsupported_hash),
                    };
                    (algorithm, key, signature.clone())
                }
                (Self::Ecc(curve, point), TpmSignature::Ecdsa { r, s, .. }) => {
                    let algorithm: &'static dyn VerificationAlgorithm = match (curve, hash) {
                        (EccCurve::P256, TPM_ALG_SHA256) => &ECDSA_P256_SHA256_ASN1,
                        (EccCurve::P256, TPM_ALG_SHA384) => &ECDSA_P256_SHA384_ASN1,
                        (EccCurve::P256, TPM_ALG_SHA512) => &ECDSA_P256_SHA512_ASN1,
                        (EccCurve::P384, TPM_ALG_SHA256) => &ECDSA_P384_SHA256_ASN1,
                        (EccCurve::P384, TPM_ALG_SHA384) => &ECDSA_P384_SHA384_ASN1,
                        (EccCurve::P384, TPM_ALG_SHA512) => &ECDSA_P384_SHA512_ASN1,
                        (EccCurve::P521, TPM_ALG_SHA256) => &ECDSA_P521_SHA256_ASN1,
                        (EccCurve::P521, TPM_ALG_SHA384) => &ECDSA_P521_SHA384_ASN1,
                        (EccCurve::P521, TPM_ALG_SHA512) => &ECDSA_P521_SHA512_ASN1,
                        _ => return Err(unsupported_hash),
                    };
                    (algorithm, point, ecdsa_der(r, s))
                }
                _ => return Err(mismatch),
            };
        UnparsedPublicKey::new(algorithm, key)
            .verify(message, &sig)
            .map_err(|_| TpmError::QuoteSignature)
    }
}

/// The modulus and exponent of a DER `RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER }`.
fn rsa_components(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), x509_cert::der::Error> {
    let mut reader = SliceReader::new(der)?;
    let (n, e) = reader.sequence(|seq| {
        let n = UintRef::decode(seq)?;
        let e = UintRef::decode(seq)?;
        Ok((n.as_bytes().to_vec(), e.as_bytes().to_vec()))
    })?;
    reader.finish((n, e))
}
