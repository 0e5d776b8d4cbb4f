//! The key pair a TEE (or a test client) holds to receive JWE-wrapped resources.

use aws_lc_rs::agreement;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{
    self, KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, Pkcs1PrivateDecryptingKey,
    PrivateDecryptingKey,
};
use kbs_types::{Response, TeePubKey};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::jwe::{self, ALG_ECDH_ES_A256KW, ALG_RSA_OAEP_256, ALG_RSA1_5, CEK_LEN, ENC_A256GCM};
use crate::jwk::EcCurve;
use crate::{Error, b64};

/// Which RSA key-management algorithm an RSA [`TeeKeyPair`] advertises in its public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RsaAlg {
    /// `RSA-OAEP-256`, what `kbs-client` exports for RSA keys.
    #[default]
    RsaOaep256,
    /// `RSA1_5`, deprecated; for compatibility tests with old guests.
    Rsa1_5,
}

impl RsaAlg {
    fn name(self) -> &'static str {
        match self {
            Self::RsaOaep256 => ALG_RSA_OAEP_256,
            Self::Rsa1_5 => ALG_RSA1_5,
        }
    }
}

/// A TEE key pair: EC P-256, EC P-521 or RSA (2048 bits or more).
///
/// The private key lives inside aws-lc, which cleanses it when the key is dropped; PEM and
/// DER copies made here are wrapped in [`Zeroizing`].
#[derive(Debug)]
pub struct TeeKeyPair {
    key: PrivateKey,
    rsa_alg: RsaAlg,
}

#[derive(Debug)]
enum PrivateKey {
    Ec {
        curve: EcCurve,
        key: agreement::PrivateKey,
    },
    Rsa(PrivateDecryptingKey),
}

impl TeeKeyPair {
    /// A fresh EC P-256 key (the default guest key type).
    pub fn generate_ec_p256() -> Result<Self, Error> {
        Self::generate_ec(EcCurve::P256)
    }

    /// A fresh EC P-521 key.
    pub fn generate_ec_p521() -> Result<Self, Error> {
        Self::generate_ec(EcCurve::P521)
    }

    /// A fresh RSA key of 2048, 3072 or 4096 bits.
    pub fn generate_rsa(bits: usize) -> Result<Self, Error> {
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
        let key = PrivateDecryptingKey::generate(size).map_err(|_| Error::Crypto)?;
        Ok(Self::from_private(PrivateKey::Rsa(key)))
    }

    /// Reads a PEM private key: PKCS#8 `PRIVATE KEY` (EC P-256/P-521 or RSA), PKCS#1
    /// `RSA PRIVATE KEY` (what `openssl genrsa -traditional` writes) or SEC1
    /// `EC PRIVATE KEY`.
    pub fn from_pem(pem_text: &str) -> Result<Self, Error> {
        let (label, der) = crate::pem_key::private_key_der(pem_text)?;
        let key = match label.as_str() {
            "PRIVATE KEY" => ec_from_der(&der).or_else(|_| rsa_from_pkcs8(&der))?,
            "EC PRIVATE KEY" => ec_from_der(&der)?,
            "RSA PRIVATE KEY" => {
                let pair =
                    rsa::KeyPair::from_der(&der).map_err(|_| Error::InvalidKey { kind: "rsa" })?;
                let pkcs8: Pkcs8V1Der<'static> = pair
                    .as_der()
                    .map_err(|_| Error::InvalidKey { kind: "rsa" })?;
                rsa_from_pkcs8(pkcs8.as_ref())?
            }
            _ => return Err(Error::Pem { label }),
        };
        Ok(Self::from_private(key))
    }

    /// Chooses the RSA algorithm advertised by [`public_key`](Self::public_key); ignored for EC
    /// keys.
    #[must_use]
    pub fn with_rsa_alg(mut self, alg: RsaAlg) -> Self {
        self.rsa_alg = alg;
        self
    }

    /// The private key as a PKCS#8 PEM document.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, Error> {
        let der: Pkcs8V1Der<'static> = match &self.key {
            PrivateKey::Ec { key, .. } => key.as_der(),
            PrivateKey::Rsa(key) => key.as_der(),
        }
        .map_err(|_| Error::Crypto)?;
        Ok(private_key_pem(der.as_ref()))
    }

    /// The public key in the `tee-pubkey` form the KBS encrypts to (attestation-service §5.5).
    pub fn public_key(&self) -> Result<TeePubKey, Error> {
        match &self.key {
            PrivateKey::Ec { curve, key } => {
                let point = key.compute_public_key().map_err(|_| Error::Crypto)?;
                let (x, y) = curve.encode_point(point.as_ref())?;
                Ok(TeePubKey::EC {
                    crv: curve.name().to_owned(),
                    alg: ALG_ECDH_ES_A256KW.to_owned(),
                    x,
                    y,
                })
            }
            PrivateKey::Rsa(key) => {
                let spki = key.public_key().as_der().map_err(|_| Error::Crypto)?;
                let public = rsa::PublicKey::from_der(spki.as_ref())
                    .map_err(|_| Error::InvalidKey { kind: "rsa" })?;
                Ok(TeePubKey::RSA {
                    alg: self.rsa_alg.name().to_owned(),
                    k_mod: b64::encode_url(public.modulus().big_endian_without_leading_zero()),
                    k_exp: b64::encode_url(public.exponent().big_endian_without_leading_zero()),
                })
            }
        }
    }

    /// Decrypts a JWE produced for this key, as the guest client does: the algorithm is taken
    /// from `protected.alg`, `enc` must be `A256GCM`, and the AAD is recomputed from the parsed
    /// protected header.
    pub fn decrypt(&self, response: &Response) -> Result<Zeroizing<Vec<u8>>, Error> {
        let header = &response.protected;
        if header.enc != ENC_A256GCM {
            return Err(Error::UnsupportedContentEncryption {
                enc: header.enc.clone(),
            });
        }
        if response.aad.is_some() {
            // KBS never sends one, and ignoring it would leave it unauthenticated.
            return Err(Error::NotSupported {
                what: "jwe aad member",
            });
        }
        let cek = match (header.alg.as_str(), &self.key) {
            (ALG_ECDH_ES_A256KW, PrivateKey::Ec { curve, key }) => {
                let epk = header
                    .other_fields
                    .get("epk")
                    .ok_or(Error::MissingMember { member: "epk" })?;
                let peer = jwe::parsed_point(*curve, &epk_point(epk, *curve)?)?;
                let kek =
                    agreement::agree(key, peer, Error::Decryption, |z| Ok(jwe::concat_kdf(z)))?;
                jwe::aes_key_unwrap(&kek, &response.encrypted_key)?
            }
            (ALG_RSA_OAEP_256, PrivateKey::Rsa(key)) => {
                let key = OaepPrivateDecryptingKey::new(key.clone())
                    .map_err(|_| Error::InvalidKey { kind: "rsa" })?;
                let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
                let cek = key
                    .decrypt(
                        &OAEP_SHA256_MGF1SHA256,
                        &response.encrypted_key,
                        &mut out,
                        None,
                    )
                    .map_err(|_| Error::Decryption)?;
                cek_from_slice(cek)?
            }
            (ALG_RSA1_5, PrivateKey::Rsa(key)) => rsa1_5_cek(key, &response.encrypted_key)?,
            (ALG_ECDH_ES_A256KW | ALG_RSA_OAEP_256 | ALG_RSA1_5, _) => {
                return Err(Error::KeyMismatch {
                    field: "jwe alg does not fit the key type",
                });
            }
            (other, _) => {
                return Err(Error::UnsupportedJweAlgorithm {
                    alg: other.to_owned(),
                });
            }
        };
        let aad = header.generate_aad().map_err(|_| Error::Json {
            field: "protected header",
        })?;
        jwe::open(
            &cek,
            &aad,
            &response.iv,
            &response.ciphertext,
            &response.tag,
        )
    }

    fn generate_ec(curve: EcCurve) -> Result<Self, Error> {
        let key = agreement::PrivateKey::generate(curve.agreement()?).map_err(|_| Error::Crypto)?;
        Ok(Self::from_private(PrivateKey::Ec { curve, key }))
    }

    fn from_private(key: PrivateKey) -> Self {
        Self {
            key,
            rsa_alg: RsaAlg::default(),
        }
    }
}

fn ec_from_der(der: &[u8]) -> Result<PrivateKey, Error> {
    for curve in [EcCurve::P256, EcCurve::P521] {
        if let Ok(key) = agreement::PrivateKey::from_private_key_der(curve.agreement()?, der) {
            return Ok(PrivateKey::Ec { curve, key });
        }
    }
    Err(Error::InvalidKey {
        kind: "ec p-256 or p-521",
    })
}

fn rsa_from_pkcs8(der: &[u8]) -> Result<PrivateKey, Error> {
    PrivateDecryptingKey::from_pkcs8(der)
        .map(PrivateKey::Rsa)
        .map_err(|_| Error::InvalidKey { kind: "rsa" })
}

/// PEM-encodes PKCS#8 DER without leaving unzeroized copies behind (the `pem` crate's encoder
/// keeps its own buffers).
pub(crate) fn private_key_pem(der: &[u8]) -> Zeroizing<String> {
    let body = Zeroizing::new(b64::encode_std(der));
    let mut text = Zeroizing::new(String::with_capacity(body.len() + body.len() / 64 + 64));
    text.push_str("-----BEGIN PRIVATE KEY-----\n");
    for (i, c) in body.chars().enumerate() {
        if i > 0 && i % 64 == 0 {
            text.push('\n');
        }
        text.push(c);
    }
    text.push_str("\n-----END PRIVATE KEY-----\n");
    text
}

fn epk_point(epk: &Value, curve: EcCurve) -> Result<Vec<u8>, Error> {
    let member = |name: &'static str| {
        epk.get(name)
            .and_then(Value::as_str)
            .ok_or(Error::MissingMember { member: name })
    };
    if member("kty")? != "EC" {
        return Err(Error::UnsupportedKeyType {
            kty: member("kty")?.to_owned(),
        });
    }
    let crv = member("crv")?;
    if crv != curve.name() {
        return Err(Error::KeyMismatch {
            field: "epk curve differs from the key's curve",
        });
    }
    curve.decode_point(member("x")?, member("y")?)
}

fn cek_from_slice(bytes: &[u8]) -> Result<Zeroizing<[u8; CEK_LEN]>, Error> {
    let mut cek = Zeroizing::new([0u8; CEK_LEN]);
    if bytes.len() != CEK_LEN {
        return Err(Error::Decryption);
    }
    cek.copy_from_slice(bytes);
    Ok(cek)
}

/// RSAES-PKCS1-v1_5 CEK recovery with the RFC 7516 §11.5 countermeasure: on a padding error or
/// a wrong-length CEK, continue with a random CEK so the failure surfaces only as a GCM tag
/// mismatch and the padding oracle (Bleichenbacher) is not exposed.
fn rsa1_5_cek(
    key: &PrivateDecryptingKey,
    encrypted_key: &[u8],
) -> Result<Zeroizing<[u8; CEK_LEN]>, Error> {
    let mut random_cek = Zeroizing::new([0u8; CEK_LEN]);
    SystemRandom::new()
        .fill(random_cek.as_mut())
        .map_err(|_| Error::Crypto)?;
    let key = Pkcs1PrivateDecryptingKey::new(key.clone())
        .map_err(|_| Error::InvalidKey { kind: "rsa" })?;
    let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
    match key.decrypt(encrypted_key, &mut out) {
        Ok(cek) if cek.len() == CEK_LEN => cek_from_slice(cek),
        _ => Ok(random_cek),
    }
}
