//! JWS signing and verification keys (RFC 7515, RFC 7518 §3, RFC 8037).

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{self, KeySize};
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED,
    ED25519, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaPublicKeyComponents,
    UnparsedPublicKey, VerificationAlgorithm,
};
use x509_cert::der::Decode;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::spki::SubjectPublicKeyInfoRef;
use zeroize::Zeroizing;

use crate::jwk::{EcCurve, bit_length, strip_leading_zeros};
use crate::tee_key::private_key_pem;
use crate::{Error, Jwk, b64};

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// Smaller RSA keys are refused for signatures, as aws-lc and upstream do.
const MIN_RSA_BITS: usize = 2048;

/// A JWS signature algorithm this crate verifies (`none` is deliberately absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsAlgorithm {
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// ECDSA P-384 with SHA-384.
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// Ed25519.
    EdDsa,
}

impl JwsAlgorithm {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Parses a JOSE name; `none` and anything unknown are refused.
    pub fn from_name(alg: &str) -> Result<Self, Error> {
        Ok(match alg {
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "EdDSA" => Self::EdDsa,
            other => {
                return Err(Error::UnsupportedSignatureAlgorithm {
                    alg: other.to_owned(),
                });
            }
        })
    }
}

/// A private key that signs JWTs: ES256 (P-256), EdDSA (Ed25519) or RS256 (RSA).
#[derive(Debug)]
pub struct SigningKey {
    key: SigningKeyInner,
}

#[derive(Debug)]
enum SigningKeyInner {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(rsa::KeyPair),
}

impl SigningKey {
    /// A fresh ES256 (P-256) key, as the AS uses when no signer is configured.
    pub fn generate_es256() -> Result<Self, Error> {
        let key =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| Error::Crypto)?;
        Ok(Self::wrap(SigningKeyInner::Es256(key)))
    }

    /// A fresh Ed25519 key (admin tokens).
    pub fn generate_ed25519() -> Result<Self, Error> {
        let key = Ed25519KeyPair::generate().map_err(|_| Error::Crypto)?;
        Ok(Self::wrap(SigningKeyInner::EdDsa(key)))
    }

    /// A fresh RS256 key of 2048, 3072 or 4096 bits.
    pub fn generate_rs256(bits: usize) -> Result<Self, Error> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => {
                return Err(Error::NotSupported {
                    what: "rsa key size other than 2048, 3072 or 4096",
                });
            }
        };
        let key = rsa::KeyPair::generate(size).map_err(|_| Error::Crypto)?;
        Ok(Self::wrap(SigningKeyInner::Rs256(key)))
    }

    /// Reads a PEM private key: PKCS#8 `PRIVATE KEY` (P-256, Ed25519 or RSA), SEC1
    /// `EC PRIVATE KEY` (P-256) or PKCS#1 `RSA PRIVATE KEY`. Other curves are refused, since
    /// the AS must sign with P-256 (attestation-service §5.4).
    pub fn from_pem(pem_text: &str) -> Result<Self, Error> {
        let (label, der) = crate::pem_key::private_key_der(pem_text)?;
        let key = match label.as_str() {
            "PRIVATE KEY" => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                .map(SigningKeyInner::Es256)
                .or_else(|_| {
                    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map(SigningKeyInner::EdDsa)
                })
                .or_else(|_| rsa::KeyPair::from_pkcs8(&der).map(SigningKeyInner::Rs256))
                .map_err(|_| Error::InvalidKey {
                    kind: "p-256, ed25519 or rsa",
                })?,
            "EC PRIVATE KEY" => {
                EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map(SigningKeyInner::Es256)
                    .map_err(|_| Error::InvalidKey { kind: "ec p-256" })?
            }
            "RSA PRIVATE KEY" => rsa::KeyPair::from_der(&der)
                .map(SigningKeyInner::Rs256)
                .map_err(|_| Error::InvalidKey { kind: "rsa" })?,
            _ => return Err(Error::Pem { label }),
        };
        Ok(Self::wrap(key))
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> JwsAlgorithm {
        match &self.key {
            SigningKeyInner::Es256(_) => JwsAlgorithm::Es256,
            SigningKeyInner::EdDsa(_) => JwsAlgorithm::EdDsa,
            SigningKeyInner::Rs256(_) => JwsAlgorithm::Rs256,
        }
    }

    /// The private key as a PKCS#8 PEM document.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, Error> {
        let der: Zeroizing<Vec<u8>> = match &self.key {
            SigningKeyInner::Es256(key) => Zeroizing::new(
                key.to_pkcs8v1()
                    .map_err(|_| Error::Crypto)?
                    .as_ref()
                    .to_vec(),
            ),
            SigningKeyInner::EdDsa(key) => {
                let der: Pkcs8V1Der<'static> = key.as_der().map_err(|_| Error::Crypto)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
            SigningKeyInner::Rs256(key) => {
                let der: Pkcs8V1Der<'static> = key.as_der().map_err(|_| Error::Crypto)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
        };
        Ok(private_key_pem(&der))
    }

    /// The public key as an SPKI `PUBLIC KEY` PEM document.
    pub fn public_key_pem(&self) -> Result<String, Error> {
        let spki = match &self.key {
            SigningKeyInner::Es256(key) => key.public_key().as_der(),
            SigningKeyInner::EdDsa(key) => key.public_key().as_der(),
            SigningKeyInner::Rs256(key) => key.public_key().as_der(),
        }
        .map_err(|_| Error::Crypto)?;
        Ok(pem::encode(&pem::Pem::new(
            "PUBLIC KEY",
            spki.as_ref().to_vec(),
        )))
    }

    /// The public key as a JWK carrying `alg`.
    pub fn public_jwk(&self) -> Result<Jwk, Error> {
        self.verifying_key().to_jwk()
    }

    /// The matching verifying key, fixed to this key's algorithm.
    pub fn verifying_key(&self) -> VerifyingKey {
        let material = match &self.key {
            SigningKeyInner::Es256(key) => PublicKeyMaterial::Ec {
                curve: EcCurve::P256,
                point: key.public_key().as_ref().to_vec(),
            },
            SigningKeyInner::EdDsa(key) => {
                PublicKeyMaterial::Ed25519(key.public_key().as_ref().to_vec())
            }
            SigningKeyInner::Rs256(key) => PublicKeyMaterial::Rsa {
                n: key
                    .public_key()
                    .modulus()
                    .big_endian_without_leading_zero()
                    .to_vec(),
                e: key
                    .public_key()
                    .exponent()
                    .big_endian_without_leading_zero()
                    .to_vec(),
            },
        };
        VerifyingKey {
            material,
            alg: Some(self.algorithm()),
        }
    }

    /// Signs `message`; ES256 signatures are the raw `r‖s` JWS form.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.key {
            SigningKeyInner::Es256(key) => Ok(key
                .sign(&SystemRandom::new(), message)
                .map_err(|_| Error::Crypto)?
                .as_ref()
                .to_vec()),
            SigningKeyInner::EdDsa(key) => Ok(key.sign(message).as_ref().to_vec()),
            SigningKeyInner::Rs256(key) => {
                let mut signature = vec![0u8; key.public_modulus_len()];
                key.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| Error::Crypto)?;
                Ok(signature)
            }
        }
    }

    fn wrap(key: SigningKeyInner) -> Self {
        Self { key }
    }
}

/// A public key that verifies JWS signatures.
///
/// Built from a JWK it is fixed to the JWK's `alg`; built from PEM or SPKI it accepts any
/// algorithm that fits the key type, since a PEM key carries no algorithm (kbs-protocol §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    material: PublicKeyMaterial,
    alg: Option<JwsAlgorithm>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicKeyMaterial {
    Ec { curve: EcCurve, point: Vec<u8> },
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ed25519(Vec<u8>),
}

impl VerifyingKey {
    /// A key from a JWK, which must carry `alg` (kbs-protocol §4.2 step 3). EC P-256/P-384,
    /// RSA and OKP Ed25519 are accepted.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, Error> {
        let alg = JwsAlgorithm::from_name(
            jwk.alg
                .as_deref()
                .ok_or(Error::MissingMember { member: "alg" })?,
        )?;
        let material = match jwk.kty.as_str() {
            "EC" => {
                let (curve, point) = jwk.ec_point()?;
                if curve == EcCurve::P521 {
                    return Err(Error::UnsupportedCurve {
                        crv: curve.name().to_owned(),
                    });
                }
                PublicKeyMaterial::Ec { curve, point }
            }
            "RSA" => {
                let (n, e) = jwk.rsa_components()?;
                PublicKeyMaterial::Rsa { n, e }
            }
            "OKP" => {
                let crv = jwk
                    .crv
                    .as_deref()
                    .ok_or(Error::MissingMember { member: "crv" })?;
                if crv != "Ed25519" {
                    return Err(Error::UnsupportedCurve {
                        crv: crv.to_owned(),
                    });
                }
                let x = b64::decode_url(
                    "x",
                    jwk.x
                        .as_deref()
                        .ok_or(Error::MissingMember { member: "x" })?,
                )?;
                if x.len() != 32 {
                    return Err(Error::BadLength {
                        field: "x",
                        expected: 32,
                        actual: x.len(),
                    });
                }
                PublicKeyMaterial::Ed25519(x)
            }
            other => {
                return Err(Error::UnsupportedKeyType {
                    kty: other.to_owned(),
                });
            }
        };
        let key = Self::new(material)?;
        key.check_algorithm(alg)?;
        Ok(Self {
            alg: Some(alg),
            ..key
        })
    }

    /// A key from a PEM `PUBLIC KEY` (SPKI: EC P-256/P-384, RSA, Ed25519) or PKCS#1
    /// `RSA PUBLIC KEY`.
    pub fn from_public_key_pem(pem_text: &str) -> Result<Self, Error> {
        let parsed = pem::parse(pem_text).map_err(|_| Error::Pem {
            label: "none".to_owned(),
        })?;
        match parsed.tag() {
            "PUBLIC KEY" => Self::from_spki_der(parsed.contents()),
            "RSA PUBLIC KEY" => Self::from_rsa_public_key_der(parsed.contents()),
            other => Err(Error::Pem {
                label: other.to_owned(),
            }),
        }
    }

    /// A key from DER `SubjectPublicKeyInfo` (RFC 5280), e.g. a certificate's key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|_| Error::InvalidKey {
            kind: "subject public key info",
        })?;
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or(Error::InvalidKey {
                kind: "subject public key info",
            })?;
        let oid = spki.algorithm.oid;
        let material = if oid == OID_RSA_ENCRYPTION {
            return Self::from_rsa_public_key_der(key_bytes);
        } else if oid == OID_EC_PUBLIC_KEY {
            let curve_oid = spki
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or(Error::InvalidKey { kind: "ec" })?;
            let curve = if curve_oid == OID_P256 {
                EcCurve::P256
            } else if curve_oid == OID_P384 {
                EcCurve::P384
            } else {
                return Err(Error::UnsupportedCurve {
                    crv: curve_oid.to_string(),
                });
            };
            if key_bytes.len() != 1 + 2 * curve.coordinate_len() || key_bytes.first() != Some(&4) {
                return Err(Error::InvalidKey { kind: "ec" });
            }
            PublicKeyMaterial::Ec {
                curve,
                point: key_bytes.to_vec(),
            }
        } else if oid == OID_ED25519 {
            if key_bytes.len() != 32 {
                return Err(Error::InvalidKey { kind: "ed25519" });
            }
            PublicKeyMaterial::Ed25519(key_bytes.to_vec())
        } else {
            return Err(Error::UnsupportedKeyType {
                kty: oid.to_string(),
            });
        };
        Self::new(material)
    }

    /// The algorithm this key is fixed to, if it came from a JWK or a [`SigningKey`].
    pub fn algorithm(&self) -> Option<JwsAlgorithm> {
        self.alg
    }

    /// The key as a JWK (with `alg` when the key has a fixed algorithm).
    pub fn to_jwk(&self) -> Result<Jwk, Error> {
        let alg = self.alg.map(JwsAlgorithm::name);
        Ok(match &self.material {
            PublicKeyMaterial::Ec { curve, point } => Jwk::from_ec_point(*curve, point, alg)?,
            PublicKeyMaterial::Rsa { n, e } => Jwk::from_rsa_components(n, e, alg),
            PublicKeyMaterial::Ed25519(x) => Jwk {
                alg: alg.map(str::to_owned),
                kty: "OKP".to_owned(),
                crv: Some("Ed25519".to_owned()),
                x: Some(b64::encode_url(x)),
                ..Jwk::default()
            },
        })
    }

    /// Whether this key and `jwk` hold the same public key (RSA `n`/`e`, or EC P-256 `x`/`y`,
    /// the comparisons upstream KBS makes for `x5c` endorsement, kbs-protocol §4.2).
    pub fn same_public_key_as(&self, jwk: &Jwk) -> bool {
        match &self.material {
            PublicKeyMaterial::Rsa { n, e } => jwk
                .rsa_components()
                .is_ok_and(|(jn, je)| &jn == n && &je == e),
            PublicKeyMaterial::Ec {
                curve: EcCurve::P256,
                point,
            } => jwk
                .ec_point()
                .is_ok_and(|(curve, jp)| curve == EcCurve::P256 && &jp == point),
            _ => false,
        }
    }

    /// Checks that `alg` fits this key (and equals its fixed algorithm, if any).
    pub fn check_algorithm(&self, alg: JwsAlgorithm) -> Result<(), Error> {
        let fits = match (&self.material, alg) {
            (PublicKeyMaterial::Ec { curve, .. }, JwsAlgorithm::Es256) => *curve == EcCurve::P256,
            (PublicKeyMaterial::Ec { curve, .. }, JwsAlgorithm::Es384) => *curve == EcCurve::P384,
            (
                PublicKeyMaterial::Rsa { .. },
                JwsAlgorithm::Rs256
                | JwsAlgorithm::Rs384
                | JwsAlgorithm::Rs512
                | JwsAlgorithm::Ps256
                | JwsAlgorithm::Ps384
                | JwsAlgorithm::Ps512,
            ) => true,
            (PublicKeyMaterial::Ed25519(_), JwsAlgorithm::EdDsa) => true,
            _ => false,
        };
        let fixed_ok = self.alg.is_none_or(|fixed| fixed == alg);
        if fits && fixed_ok {
            Ok(())
        } else {
            Err(Error::AlgorithmMismatch {
                token_alg: alg.name().to_owned(),
                key: self.describe(),
            })
        }
    }

    /// Verifies `signature` over `message` with `alg`, after [`check_algorithm`](Self::check_algorithm).
    pub fn verify(&self, alg: JwsAlgorithm, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        self.check_algorithm(alg)?;
        let result = match &self.material {
            PublicKeyMaterial::Ec { point, .. } => {
                let algorithm: &'static dyn VerificationAlgorithm = match alg {
                    JwsAlgorithm::Es384 => &ECDSA_P384_SHA384_FIXED,
                    _ => &ECDSA_P256_SHA256_FIXED,
                };
                UnparsedPublicKey::new(algorithm, point).verify(message, signature)
            }
            PublicKeyMaterial::Ed25519(key) => {
                UnparsedPublicKey::new(&ED25519, key).verify(message, signature)
            }
            PublicKeyMaterial::Rsa { n, e } => {
                let params = match alg {
                    JwsAlgorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    JwsAlgorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    JwsAlgorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    JwsAlgorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                    JwsAlgorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => &signature::RSA_PKCS1_2048_8192_SHA256,
                };
                RsaPublicKeyComponents { n, e }.verify(params, message, signature)
            }
        };
        result.map_err(|_| Error::BadSignature)
    }

    fn from_rsa_public_key_der(der: &[u8]) -> Result<Self, Error> {
        let key = rsa::PublicKey::from_der(der).map_err(|_| Error::InvalidKey { kind: "rsa" })?;
        Self::new(PublicKeyMaterial::Rsa {
            n: strip_leading_zeros(key.modulus().big_endian_without_leading_zero()).to_vec(),
            e: key.exponent().big_endian_without_leading_zero().to_vec(),
        })
    }

    /// Validates the key up front, so a bad key is reported as such instead of surfacing later
    /// as a bad signature.
    fn new(material: PublicKeyMaterial) -> Result<Self, Error> {
        match &material {
            PublicKeyMaterial::Ec { curve, point } => {
                let algorithm: &'static dyn VerificationAlgorithm = match curve {
                    EcCurve::P384 => &ECDSA_P384_SHA384_FIXED,
                    _ => &ECDSA_P256_SHA256_FIXED,
                };
                ParsedPublicKey::new(algorithm, point)
                    .map_err(|_| Error::PointNotOnCurve { crv: curve.name() })?;
            }
            PublicKeyMaterial::Ed25519(key) => {
                ParsedPublicKey::new(&ED25519, key)
                    .map_err(|_| Error::InvalidKey { kind: "ed25519" })?;
            }
            PublicKeyMaterial::Rsa { n, e } => {
                let bits = bit_length(n);
                if bits < MIN_RSA_BITS {
                    return Err(Error::RsaKeyTooSmall { bits });
                }
                RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
                    .map_err(|_| Error::InvalidKey { kind: "rsa" })?;
            }
        }
        Ok(Self {
            material,
            alg: None,
        })
    }

    fn describe(&self) -> String {
        let kind = match &self.material {
            PublicKeyMaterial::Ec { curve, .. } => curve.name(),
            PublicKeyMaterial::Rsa { .. } => "RSA",
            PublicKeyMaterial::Ed25519(_) => "Ed25519",
        };
        match self.alg {
            Some(alg) => format!("{kind} {}", alg.name()),
            None => kind.to_owned(),
        }
    }
}
