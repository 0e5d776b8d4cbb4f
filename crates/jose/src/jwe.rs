//! JWE encryption of a resource to a TEE public key (kbs-protocol §5).
//!
//! Output is the flattened JSON serialisation held in `kbs_types::Response`: `enc` is always
//! `A256GCM`, key management is `RSA1_5`, `RSA-OAEP-256` or `ECDH-ES+A256KW` (P-256, P-521),
//! and the GCM AAD is the base64url of the very protected header placed in the response.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ParsedPublicKey, UnparsedPublicKey};
use aws_lc_rs::digest;
use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrap};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{
    OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey, PublicEncryptingKey,
    PublicKeyComponents,
};
use kbs_types::{ProtectedHeader, Response, TeePubKey};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::jwk::{EcCurve, bit_length, strip_leading_zeros};
use crate::{Error, b64};

/// `alg` for RSAES-PKCS1-v1_5 key encryption (deprecated, kept for old guests).
pub const ALG_RSA1_5: &str = "RSA1_5";
/// `alg` for RSAES-OAEP with SHA-256 and MGF1-SHA-256.
pub const ALG_RSA_OAEP_256: &str = "RSA-OAEP-256";
/// `alg` for ephemeral-static ECDH with Concat KDF and AES-256 key wrap.
pub const ALG_ECDH_ES_A256KW: &str = "ECDH-ES+A256KW";
/// The only content encryption used.
pub const ENC_A256GCM: &str = "A256GCM";

pub(crate) const CEK_LEN: usize = 32;
pub(crate) const IV_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;
pub(crate) const WRAPPED_CEK_LEN: usize = CEK_LEN + 8;
const MIN_RSA_BITS: usize = 2048;

/// Encrypts `plaintext` to `tee_key` as kbs-protocol §5 prescribes.
///
/// Refuses, with a typed error, every key the KBS does not support: RSA algorithms other than
/// `RSA1_5`/`RSA-OAEP-256`, RSA moduli below 2048 bits, curves other than P-256/P-521,
/// `ECDH-ES` direct agreement, points off the curve or with short coordinates, and `AKP`.
pub fn encrypt(tee_key: &TeePubKey, plaintext: &[u8]) -> Result<Response, Error> {
    let rng = SystemRandom::new();
    let mut cek = Zeroizing::new([0u8; CEK_LEN]);
    rng.fill(cek.as_mut()).map_err(|_| Error::Crypto)?;

    let (protected, encrypted_key) = match tee_key {
        TeePubKey::RSA { alg, k_mod, k_exp } => {
            let key = rsa_public_key(k_mod, k_exp)?;
            let encrypted_key = match alg.as_str() {
                ALG_RSA1_5 => rsa1_5_encrypt(key, cek.as_ref())?,
                ALG_RSA_OAEP_256 => rsa_oaep_256_encrypt(key, cek.as_ref())?,
                other => return Err(unsupported_alg(other)),
            };
            (header(alg, Map::new()), encrypted_key)
        }
        TeePubKey::EC { crv, alg, x, y } => {
            if alg != ALG_ECDH_ES_A256KW {
                return Err(unsupported_alg(alg));
            }
            let curve = EcCurve::from_name(crv)?;
            let agreement_alg = curve.agreement()?;
            let peer = parsed_point(curve, &curve.decode_point(x, y)?)?;
            let ephemeral =
                agreement::PrivateKey::generate(agreement_alg).map_err(|_| Error::Crypto)?;
            let ephemeral_public = ephemeral.compute_public_key().map_err(|_| Error::Crypto)?;
            let kek = agreement::agree(&ephemeral, peer, Error::Crypto, |z| Ok(concat_kdf(z)))?;
            let encrypted_key = aes_key_wrap(&kek, cek.as_ref())?;
            let (epk_x, epk_y) = curve.encode_point(ephemeral_public.as_ref())?;
            (header(alg, epk_members(curve, epk_x, epk_y)), encrypted_key)
        }
        TeePubKey::AKP { .. } => {
            return Err(Error::NotSupported {
                what: "AKP (ML-KEM) key encryption",
            });
        }
    };

    let aad = protected.generate_aad().map_err(|_| Error::Json {
        field: "protected header",
    })?;
    let (iv, ciphertext, tag) = seal(&cek, &aad, plaintext)?;
    Ok(Response {
        protected,
        encrypted_key,
        aad: None,
        iv,
        ciphertext,
        tag,
    })
}

fn header(alg: &str, other_fields: Map<String, Value>) -> ProtectedHeader {
    ProtectedHeader {
        alg: alg.to_owned(),
        enc: ENC_A256GCM.to_owned(),
        other_fields,
    }
}

/// `epk` with members `crv`, `kty`, `x`, `y`: the order guest clients re-serialise in to
/// recompute the AAD. It is also alphabetical, so it holds whether or not serde_json keeps
/// insertion order.
fn epk_members(curve: EcCurve, x: String, y: String) -> Map<String, Value> {
    let mut epk = Map::new();
    epk.insert("crv".into(), Value::String(curve.name().to_owned()));
    epk.insert("kty".into(), Value::String("EC".to_owned()));
    epk.insert("x".into(), Value::String(x));
    epk.insert("y".into(), Value::String(y));
    let mut fields = Map::new();
    fields.insert("epk".into(), Value::Object(epk));
    fields
}

fn unsupported_alg(alg: &str) -> Error {
    Error::UnsupportedJweAlgorithm {
        alg: alg.to_owned(),
    }
}

fn rsa_public_key(n: &str, e: &str) -> Result<PublicEncryptingKey, Error> {
    let n = b64::decode_url("n", n)?;
    let e = b64::decode_url("e", e)?;
    let bits = bit_length(&n);
    if bits < MIN_RSA_BITS {
        return Err(Error::RsaKeyTooSmall { bits });
    }
    PublicKeyComponents {
        n: strip_leading_zeros(&n),
        e: strip_leading_zeros(&e),
    }
    .try_into()
    .map_err(|_| Error::InvalidKey { kind: "rsa" })
}

fn rsa1_5_encrypt(key: PublicEncryptingKey, cek: &[u8]) -> Result<Vec<u8>, Error> {
    let key = Pkcs1PublicEncryptingKey::new(key).map_err(|_| Error::InvalidKey { kind: "rsa" })?;
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key.encrypt(cek, &mut out).map_err(|_| Error::Crypto)?.len();
    out.truncate(len);
    Ok(out)
}

fn rsa_oaep_256_encrypt(key: PublicEncryptingKey, cek: &[u8]) -> Result<Vec<u8>, Error> {
    let key = OaepPublicEncryptingKey::new(key).map_err(|_| Error::InvalidKey { kind: "rsa" })?;
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key
        .encrypt(&OAEP_SHA256_MGF1SHA256, cek, &mut out, None)
        .map_err(|_| Error::Crypto)?
        .len();
    out.truncate(len);
    Ok(out)
}

/// Parses the peer point now, so an off-curve point is reported as such rather than as a
/// generic agreement failure (and never reaches the ECDH computation).
pub(crate) fn parsed_point(curve: EcCurve, point: &[u8]) -> Result<ParsedPublicKey, Error> {
    ParsedPublicKey::try_from(UnparsedPublicKey::new(curve.agreement()?, point))
        .map_err(|_| Error::PointNotOnCurve { crv: curve.name() })
}

/// Concat KDF (NIST SP 800-56A, RFC 7518 §4.6.2) for `ECDH-ES+A256KW`: one SHA-256 round over
/// `be32(1) ‖ Z ‖ be32(len) ‖ "ECDH-ES+A256KW" ‖ be32(0) ‖ be32(0) ‖ be32(256)`. No apu/apv,
/// matching upstream KBS and guest clients.
pub(crate) fn concat_kdf(z: &[u8]) -> Zeroizing<[u8; CEK_LEN]> {
    let alg = ALG_ECDH_ES_A256KW.as_bytes();
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&1u32.to_be_bytes());
    ctx.update(z);
    ctx.update(&(alg.len() as u32).to_be_bytes());
    ctx.update(alg);
    ctx.update(&0u32.to_be_bytes());
    ctx.update(&0u32.to_be_bytes());
    ctx.update(&256u32.to_be_bytes());
    let mut kek = Zeroizing::new([0u8; CEK_LEN]);
    kek.copy_from_slice(ctx.finish().as_ref());
    kek
}

fn aes_key_wrap(kek: &[u8; CEK_LEN], cek: &[u8]) -> Result<Vec<u8>, Error> {
    let kek = AesKek::new(&AES_256, kek).map_err(|_| Error::Crypto)?;
    let mut out = vec![0u8; WRAPPED_CEK_LEN];
    let len = kek.wrap(cek, &mut out).map_err(|_| Error::Crypto)?.len();
    out.truncate(len);
    Ok(out)
}

pub(crate) fn aes_key_unwrap(
    kek: &[u8; CEK_LEN],
    wrapped: &[u8],
) -> Result<Zeroizing<[u8; CEK_LEN]>, Error> {
    if wrapped.len() != WRAPPED_CEK_LEN {
        return Err(Error::BadLength {
            field: "encrypted_key",
            expected: WRAPPED_CEK_LEN,
            actual: wrapped.len(),
        });
    }
    let kek = AesKek::new(&AES_256, kek).map_err(|_| Error::Crypto)?;
    let mut out = Zeroizing::new([0u8; WRAPPED_CEK_LEN]);
    let len = kek
        .unwrap(wrapped, out.as_mut())
        .map_err(|_| Error::Decryption)?
        .len();
    let mut cek = Zeroizing::new([0u8; CEK_LEN]);
    match out.get(..len) {
        Some(unwrapped) if len == CEK_LEN => cek.copy_from_slice(unwrapped),
        _ => return Err(Error::Decryption),
    }
    Ok(cek)
}

type Sealed = (Vec<u8>, Vec<u8>, Vec<u8>);

fn seal(cek: &[u8; CEK_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Sealed, Error> {
    let rng = SystemRandom::new();
    let mut iv = [0u8; IV_LEN];
    rng.fill(&mut iv).map_err(|_| Error::Crypto)?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, cek).map_err(|_| Error::Crypto)?);
    let mut ciphertext = plaintext.to_vec();
    // A fresh random CEK per message makes IV reuse under one key impossible.
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(aad),
            &mut ciphertext,
        )
        .map_err(|_| Error::Crypto)?;
    Ok((iv.to_vec(), ciphertext, tag.as_ref().to_vec()))
}

/// AES-256-GCM decryption of a JWE body with the CEK already recovered.
pub(crate) fn open(
    cek: &[u8; CEK_LEN],
    aad: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let iv: [u8; IV_LEN] = iv.try_into().map_err(|_| Error::BadLength {
        field: "iv",
        expected: IV_LEN,
        actual: iv.len(),
    })?;
    if tag.len() != TAG_LEN {
        return Err(Error::BadLength {
            field: "tag",
            expected: TAG_LEN,
            actual: tag.len(),
        });
    }
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, cek).map_err(|_| Error::Crypto)?);
    let mut buffer = Zeroizing::new(Vec::with_capacity(ciphertext.len() + TAG_LEN));
    buffer.extend_from_slice(ciphertext);
    buffer.extend_from_slice(tag);
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(iv),
            Aad::from(aad),
            &mut buffer,
        )
        .map_err(|_| Error::Decryption)?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_kdf_matches_rfc7518_structure() {
        // Recompute the SHA-256 input by hand for a fixed Z.
        let z = [7u8; 32];
        let mut input = vec![0, 0, 0, 1];
        input.extend_from_slice(&z);
        input.extend_from_slice(&[0, 0, 0, 14]);
        input.extend_from_slice(b"ECDH-ES+A256KW");
        input.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
        let expected = digest::digest(&digest::SHA256, &input);
        assert_eq!(concat_kdf(&z).as_ref(), expected.as_ref());
    }

    #[test]
    fn key_wrap_round_trips_and_detects_tampering() {
        let kek = [3u8; 32];
        let cek = [9u8; 32];
        let mut wrapped = aes_key_wrap(&kek, &cek).unwrap();
        assert_eq!(wrapped.len(), 40);
        assert_eq!(aes_key_unwrap(&kek, &wrapped).unwrap().as_ref(), &cek);
        wrapped[5] ^= 1;
        assert_eq!(aes_key_unwrap(&kek, &wrapped), Err(Error::Decryption));
    }

    #[test]
    fn rfc3394_vector_256_bit_kek() {
        // RFC 3394 §4.6: 256-bit key data with a 256-bit KEK.
        let kek: [u8; 32] = core::array::from_fn(|i| i as u8);
        let data: [u8; 32] = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
            0x0c, 0x0d, 0x0e, 0x0f,
        ];
        let expected =
            "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21";
        let wrapped = aes_key_wrap(&kek, &data).unwrap();
        let hex: String = wrapped.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn open_rejects_bad_iv_and_tag_lengths() {
        let cek = [1u8; 32];
        assert!(matches!(
            open(&cek, b"", &[0; 11], b"", &[0; 16]),
            Err(Error::BadLength { field: "iv", .. })
        ));
        assert!(matches!(
            open(&cek, b"", &[0; 12], b"", &[0; 15]),
            Err(Error::BadLength { field: "tag", .. })
        ));
    }
}
