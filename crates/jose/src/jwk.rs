//! Public keys in JWK form (RFC 7517), as they appear in token headers and JWK sets.

use aws_lc_rs::agreement;
use serde::{Deserialize, Serialize};

use crate::{Error, b64};

/// A public JWK.
///
/// Members serialise in the order `use`, `alg`, `kid`, `x5u`, `x5c`, `kty`, `crv`, `x`, `y`,
/// `n`, `e`, which is the order the upstream AS emits in the EAR token header and JWKS
/// (attestation-service §5.2, §5.6). Absent members are skipped; unknown members are ignored
/// on input because identity providers add their own (`key_ops`, `x5t`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Intended use (`sig`, `enc`).
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Algorithm the key is meant for, e.g. `ES256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// URL of the certificate chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5u: Option<String>,
    /// Certificate chain, leaf first, each entry standard base64 (padded) DER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
    /// Key type: `EC`, `RSA`, `OKP`.
    pub kty: String,
    /// Curve (`P-256`, `P-384`, `P-521`, `Ed25519`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate or OKP public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A JWK set (RFC 7517 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// The first key whose `kid` equals `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }
}

/// The NIST curves this crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcCurve {
    /// P-256 (secp256r1).
    P256,
    /// P-384 (secp384r1).
    P384,
    /// P-521 (secp521r1).
    P521,
}

impl EcCurve {
    /// The JOSE `crv` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    /// Parses a JOSE `crv` name.
    pub fn from_name(crv: &str) -> Result<Self, Error> {
        match crv {
            "P-256" => Ok(Self::P256),
            "P-384" => Ok(Self::P384),
            "P-521" => Ok(Self::P521),
            other => Err(Error::UnsupportedCurve {
                crv: other.to_owned(),
            }),
        }
    }

    /// Length of one affine coordinate in bytes (RFC 7518 §6.2.1.2: always the full length).
    pub fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    /// The ECDH algorithm of the curve, for the curves JWE uses.
    pub(crate) fn agreement(self) -> Result<&'static agreement::Algorithm, Error> {
        match self {
            Self::P256 => Ok(&agreement::ECDH_P256),
            Self::P521 => Ok(&agreement::ECDH_P521),
            Self::P384 => Err(Error::UnsupportedCurve {
                crv: self.name().to_owned(),
            }),
        }
    }

    /// Splits an uncompressed SEC1 point into base64url `x` and `y`.
    pub(crate) fn encode_point(self, point: &[u8]) -> Result<(String, String), Error> {
        let len = self.coordinate_len();
        match point.split_first() {
            Some((0x04, xy)) if xy.len() == 2 * len => {
                let (x, y) = xy.split_at(len);
                Ok((b64::encode_url(x), b64::encode_url(y)))
            }
            _ => Err(Error::BadLength {
                field: "ec point",
                expected: 1 + 2 * len,
                actual: point.len(),
            }),
        }
    }

    /// Joins base64url `x` and `y` into an uncompressed SEC1 point, insisting on the exact
    /// coordinate length so a stripped leading zero cannot slip through.
    pub(crate) fn decode_point(self, x: &str, y: &str) -> Result<Vec<u8>, Error> {
        let len = self.coordinate_len();
        let x = b64::decode_url("x", x)?;
        let y = b64::decode_url("y", y)?;
        for (field, value) in [("x", &x), ("y", &y)] {
            if value.len() != len {
                return Err(Error::BadLength {
                    field,
                    expected: len,
                    actual: value.len(),
                });
            }
        }
        let mut point = Vec::with_capacity(1 + 2 * len);
        point.push(0x04);
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        Ok(point)
    }
}

impl Jwk {
    /// An EC public JWK from an uncompressed SEC1 point.
    pub fn from_ec_point(curve: EcCurve, point: &[u8], alg: Option<&str>) -> Result<Self, Error> {
        let (x, y) = curve.encode_point(point)?;
        Ok(Self {
            alg: alg.map(str::to_owned),
            kty: "EC".to_owned(),
            crv: Some(curve.name().to_owned()),
            x: Some(x),
            y: Some(y),
            ..Self::default()
        })
    }

    /// An RSA public JWK from big-endian modulus and exponent.
    pub fn from_rsa_components(n: &[u8], e: &[u8], alg: Option<&str>) -> Self {
        Self {
            alg: alg.map(str::to_owned),
            kty: "RSA".to_owned(),
            n: Some(b64::encode_url(strip_leading_zeros(n))),
            e: Some(b64::encode_url(strip_leading_zeros(e))),
            ..Self::default()
        }
    }

    /// The curve and uncompressed SEC1 point of an EC JWK.
    pub fn ec_point(&self) -> Result<(EcCurve, Vec<u8>), Error> {
        if self.kty != "EC" {
            return Err(Error::UnsupportedKeyType {
                kty: self.kty.clone(),
            });
        }
        let curve = EcCurve::from_name(required(&self.crv, "crv")?)?;
        let point = curve.decode_point(required(&self.x, "x")?, required(&self.y, "y")?)?;
        Ok((curve, point))
    }

    /// The big-endian modulus and exponent of an RSA JWK, without leading zeros.
    pub fn rsa_components(&self) -> Result<(Vec<u8>, Vec<u8>), Error> {
        if self.kty != "RSA" {
            return Err(Error::UnsupportedKeyType {
                kty: self.kty.clone(),
            });
        }
        let n = b64::decode_url("n", required(&self.n, "n")?)?;
        let e = b64::decode_url("e", required(&self.e, "e")?)?;
        Ok((
            strip_leading_zeros(&n).to_vec(),
            strip_leading_zeros(&e).to_vec(),
        ))
    }
}

fn required<'a>(member: &'a Option<String>, name: &'static str) -> Result<&'a str, Error> {
    member
        .as_deref()
        .ok_or(Error::MissingMember { member: name })
}

/// Big integers in JWKs carry no leading zero octets (RFC 7518 §6.3.1.1), but some emitters add
/// one; the key is the same either way.
pub(crate) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// Number of significant bits of a big-endian unsigned integer.
pub(crate) fn bit_length(bytes: &[u8]) -> usize {
    let bytes = strip_leading_zeros(bytes);
    match bytes.first() {
        Some(first) => (bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_members_in_header_order() {
        let jwk = Jwk {
            key_use: Some("sig".into()),
            alg: Some("ES256".into()),
            kid: Some("k".into()),
            x5u: Some("https://x".into()),
            x5c: Some(vec!["AAAA".into()]),
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some("X".into()),
            y: Some("Y".into()),
            n: None,
            e: None,
        };
        assert_eq!(
            serde_json::to_string(&jwk).unwrap(),
            r#"{"use":"sig","alg":"ES256","kid":"k","x5u":"https://x","x5c":["AAAA"],"kty":"EC","crv":"P-256","x":"X","y":"Y"}"#
        );
    }

    #[test]
    fn skips_absent_members_and_orders_rsa() {
        let jwk = Jwk::from_rsa_components(&[0, 0xc1, 0x02], &[1, 0, 1], Some("RS256"));
        assert_eq!(
            serde_json::to_string(&jwk).unwrap(),
            r#"{"alg":"RS256","kty":"RSA","n":"wQI","e":"AQAB"}"#
        );
    }

    #[test]
    fn ec_coordinates_keep_leading_zero() {
        let mut point = vec![0x04];
        point.extend_from_slice(&[0u8; 1]);
        point.extend_from_slice(&[0xab; 31]);
        point.extend_from_slice(&[0xcd; 32]);
        let jwk = Jwk::from_ec_point(EcCurve::P256, &point, Some("ES256")).unwrap();
        let x = b64::decode_url("x", jwk.x.as_deref().unwrap()).unwrap();
        assert_eq!(x.len(), 32);
        assert_eq!(x[0], 0);
        assert_eq!(jwk.ec_point().unwrap(), (EcCurve::P256, point));
    }

    #[test]
    fn ec_point_rejects_short_coordinate() {
        let jwk = Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(b64::encode_url(&[1u8; 31])),
            y: Some(b64::encode_url(&[1u8; 32])),
            ..Jwk::default()
        };
        assert_eq!(
            jwk.ec_point(),
            Err(Error::BadLength {
                field: "x",
                expected: 32,
                actual: 31
            })
        );
    }

    #[test]
    fn ignores_unknown_members_on_input() {
        let jwk: Jwk =
            serde_json::from_str(r#"{"kty":"RSA","n":"AQAB","e":"AQAB","key_ops":["verify"]}"#)
                .unwrap();
        assert_eq!(jwk.kty, "RSA");
    }

    #[test]
    fn jwk_set_finds_by_kid() {
        let set: JwkSet =
            serde_json::from_str(r#"{"keys":[{"kty":"RSA","kid":"a"},{"kty":"EC","kid":"b"}]}"#)
                .unwrap();
        assert_eq!(set.find("b").unwrap().kty, "EC");
        assert!(set.find("c").is_none());
    }

    #[test]
    fn bit_length_counts_significant_bits() {
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[]), 0);
    }
}
