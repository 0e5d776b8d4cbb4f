//! COSE_Sign1 signature checks with EC keys (ES256/ES384/ES512, RFC 9053 §2.1) and the key
//! encodings a CCA token's verifier meets: the CPAK as a JWK (trust-anchor store), the RAK as
//! a raw uncompressed point (legacy profile) or a COSE_Key (2023 profile).

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ECDSA_P521_SHA512_FIXED,
    EcdsaVerificationAlgorithm, UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coset::iana::{self, EnumI64};
use coset::{CborSerializable, CoseKey, CoseSign1, KeyType, Label, RegisteredLabelWithPrivate};

use super::CcaError;

/// The NIST curves COSE's ECDSA algorithms are defined on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// P-256 (ES256).
    P256,
    /// P-384 (ES384).
    P384,
    /// P-521 (ES512).
    P521,
}

impl Curve {
    /// Bytes of one coordinate.
    fn coordinate_size(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    /// The curve whose uncompressed point is `len` bytes long.
    fn from_point_len(len: usize) -> Option<Self> {
        [Self::P256, Self::P384, Self::P521]
            .into_iter()
            .find(|curve| 1 + 2 * curve.coordinate_size() == len)
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            _ => None,
        }
    }

    /// The COSE algorithm for this curve: each ESxxx fixes both curve and hash.
    fn algorithm(self) -> (iana::Algorithm, &'static EcdsaVerificationAlgorithm) {
        match self {
            Self::P256 => (iana::Algorithm::ES256, &ECDSA_P256_SHA256_FIXED),
            Self::P384 => (iana::Algorithm::ES384, &ECDSA_P384_SHA384_FIXED),
            Self::P521 => (iana::Algorithm::ES512, &ECDSA_P521_SHA512_FIXED),
        }
    }
}

/// An EC public key: its curve and uncompressed point (`04 ‖ x ‖ y`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcKey {
    curve: Curve,
    point: Vec<u8>,
}

impl EcKey {
    /// A key from its affine coordinates, each exactly the curve's size.
    fn from_coordinates(curve: Curve, x: &[u8], y: &[u8]) -> Option<Self> {
        let size = curve.coordinate_size();
        if x.len() != size || y.len() != size {
            return None;
        }
        let mut point = Vec::with_capacity(1 + 2 * size);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Some(Self { curve, point })
    }

    /// A JWK `{"kty": "EC", "crv", "x", "y"}` (base64url coordinates), as in upstream's
    /// trust-anchor store.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, String> {
        let field = |name: &str| {
            jwk.get(name)
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| format!("jwk has no string `{name}`"))
        };
        if field("kty")? != "EC" {
            return Err("jwk kty is not EC".into());
        }
        let crv = field("crv")?;
        let curve = Curve::from_name(crv).ok_or_else(|| format!("unsupported jwk curve {crv}"))?;
        let decode = |name: &str| {
            URL_SAFE_NO_PAD
                .decode(field(name)?)
                .map_err(|_| format!("jwk `{name}` is not base64url"))
        };
        Self::from_coordinates(curve, &decode("x")?, &decode("y")?)
            .ok_or_else(|| "jwk coordinates have the wrong size".into())
    }

    /// A raw uncompressed point; the curve follows from its length.
    pub fn from_raw_point(point: &[u8]) -> Option<Self> {
        let curve = Curve::from_point_len(point.len())?;
        (point.first() == Some(&0x04)).then(|| Self {
            curve,
            point: point.to_vec(),
        })
    }

    /// A CBOR-encoded COSE_Key of type EC2 with `crv`, `x` and `y` (RFC 9053 §7.1.1).
    pub fn from_cose_key(bytes: &[u8]) -> Option<Self> {
        let key = CoseKey::from_slice(bytes).ok()?;
        if key.kty != KeyType::Assigned(iana::KeyType::EC2) {
            return None;
        }
        let param = |label: iana::Ec2KeyParameter| {
            key.params
                .iter()
                .find(|(l, _)| *l == Label::Int(label.to_i64()))
                .map(|(_, value)| value)
        };
        let curve = match param(iana::Ec2KeyParameter::Crv)?
            .as_integer()?
            .try_into()
            .ok()?
        {
            1i64 => Curve::P256,
            2 => Curve::P384,
            3 => Curve::P521,
            _ => return None,
        };
        let x = param(iana::Ec2KeyParameter::X)?.as_bytes()?;
        let y = param(iana::Ec2KeyParameter::Y)?.as_bytes()?;
        Self::from_coordinates(curve, x, y)
    }

    /// The curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The uncompressed point.
    pub fn point(&self) -> &[u8] {
        &self.point
    }
}

/// Why a COSE_Sign1 did not verify.
#[derive(Debug, PartialEq, Eq)]
pub enum SignError {
    /// The protected header's `alg` is absent or not the ECDSA algorithm of the key's curve.
    Algorithm(String),
    /// The signature is wrong.
    Signature,
}

/// Verifies `sign1` with `key`: the protected `alg` must be the key's algorithm (no
/// downgrade to another curve or hash), then ECDSA over the Sig_structure, no external AAD.
pub fn verify_sign1(sign1: &CoseSign1, key: &EcKey) -> Result<(), SignError> {
    let (expected_alg, verification) = key.curve.algorithm();
    match &sign1.protected.header.alg {
        Some(RegisteredLabelWithPrivate::Assigned(alg)) if *alg == expected_alg => {}
        Some(other) => return Err(SignError::Algorithm(format!("{other:?}"))),
        None => return Err(SignError::Algorithm("none".into())),
    }
    sign1.verify_signature(b"", |signature, data| {
        UnparsedPublicKey::new(verification, key.point.as_slice())
            .verify(data, signature)
            .map_err(|_| SignError::Signature)
    })
}

/// Maps an algorithm failure to the error that names the token.
pub fn algorithm_error(token: &'static str, err: SignError, signature: CcaError) -> CcaError {
    match err {
        SignError::Algorithm(value) => CcaError::Unsupported {
            what: if token == "platform" {
                "platform token algorithm for the cpak"
            } else {
                "realm token algorithm for the rak"
            },
            value,
        },
        SignError::Signature => signature,
    }
}
