//! Compact JWS / JWT (RFC 7519) signing and verification.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jws::{JwsAlgorithm, SigningKey, VerifyingKey};
use crate::{Error, Jwk, b64};

/// Clock skew tolerated on `exp` and `nbf`, as upstream KBS (jsonwebtoken's default).
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// A JOSE header, serialised as `{"typ":..,"alg":..,"kid"?:..,"jwk"?:{..}}` (the order the
/// upstream AS emits, attestation-service §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Token type, `JWT` on tokens this crate signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Signature algorithm.
    pub alg: String,
    /// Key id, to pick a key from a JWK set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The signer's public key, as the AS embeds it in EAR tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwk: Option<Jwk>,
}

impl Header {
    /// Decodes the header of a compact token without verifying anything, so the caller can
    /// choose the key (`jwk`, `kid`) first.
    pub fn decode(token: &str) -> Result<Self, Error> {
        let (header, _, _) = split(token)?;
        let bytes = b64::decode_url("jwt header", header).map_err(|_| Error::MalformedToken {
            reason: "header is not base64url",
        })?;
        serde_json::from_slice(&bytes).map_err(|_| Error::MalformedToken {
            reason: "header is not a jose header",
        })
    }
}

/// Optional header members added to `typ` and `alg` when signing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderExtras {
    /// `kid` member.
    pub kid: Option<String>,
    /// `jwk` member.
    pub jwk: Option<Jwk>,
}

/// Signs `claims` into a compact JWT with header `{"typ":"JWT","alg":<key alg>, ..extras}`.
pub fn sign(
    key: &SigningKey,
    extras: &HeaderExtras,
    claims: &impl Serialize,
) -> Result<String, Error> {
    let header = Header {
        typ: Some("JWT".to_owned()),
        alg: key.algorithm().name().to_owned(),
        kid: extras.kid.clone(),
        jwk: extras.jwk.clone(),
    };
    let header = serde_json::to_vec(&header).map_err(|_| Error::Json {
        field: "jwt header",
    })?;
    let claims = serde_json::to_vec(claims).map_err(|_| Error::Json {
        field: "jwt claims",
    })?;
    let signing_input = format!("{}.{}", b64::encode_url(&header), b64::encode_url(&claims));
    let signature = key.sign(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", b64::encode_url(&signature)))
}

/// Verifies a compact JWT with [`DEFAULT_LEEWAY_SECS`] and returns its claims.
///
/// See [`verify_with_leeway`].
pub fn verify(token: &str, key: &VerifyingKey, now: u64) -> Result<Value, Error> {
    verify_with_leeway(token, key, now, DEFAULT_LEEWAY_SECS)
}

/// Verifies a compact JWT and returns its claims (a JSON object).
///
/// The header `alg` must be supported (never `none`) and fit `key`; the signature is checked
/// over the ASCII `header.payload`; `exp` is required and the token is accepted until
/// `exp + leeway`; `nbf`, when present, must be at most `now + leeway`. `iss`, `aud` and `iat`
/// are left to the caller.
pub fn verify_with_leeway(
    token: &str,
    key: &VerifyingKey,
    now: u64,
    leeway: u64,
) -> Result<Value, Error> {
    let (header_segment, payload, signature) = split(token)?;
    let header = Header::decode(token)?;
    let alg = JwsAlgorithm::from_name(&header.alg)?;
    key.check_algorithm(alg)?;
    let signature =
        b64::decode_url("jwt signature", signature).map_err(|_| Error::MalformedToken {
            reason: "signature is not base64url",
        })?;
    // The token is `header.payload.signature`, so the signing input is its prefix.
    let signing_input = &token.as_bytes()[..header_segment.len() + 1 + payload.len()];
    key.verify(alg, signing_input, &signature)?;

    let payload = b64::decode_url("jwt payload", payload).map_err(|_| Error::MalformedToken {
        reason: "payload is not base64url",
    })?;
    let claims: Value = serde_json::from_slice(&payload).map_err(|_| Error::MalformedToken {
        reason: "payload is not json",
    })?;
    if !claims.is_object() {
        return Err(Error::MalformedToken {
            reason: "payload is not a json object",
        });
    }
    check_times(&claims, now, leeway)?;
    Ok(claims)
}

fn check_times(claims: &Value, now: u64, leeway: u64) -> Result<(), Error> {
    let exp = claims
        .get("exp")
        .and_then(numeric_date)
        .ok_or(Error::MissingExpiry)?;
    if exp.saturating_add(leeway) < now {
        return Err(Error::Expired { exp, now });
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = numeric_date(nbf).ok_or(Error::MalformedToken {
            reason: "nbf is not a number",
        })?;
        if nbf > now.saturating_add(leeway) {
            return Err(Error::NotYetValid { nbf, now });
        }
    }
    Ok(())
}

/// The `exp` of verified claims as [`verify_with_leeway`] reads it (RFC 7519 NumericDate,
/// fractions dropped), so a caller caching a verification expires it at the same second.
pub fn expiry(claims: &Value) -> Option<u64> {
    claims.get("exp").and_then(numeric_date)
}

/// RFC 7519 NumericDate: seconds, possibly fractional; negative dates are treated as 0.
fn numeric_date(value: &Value) -> Option<u64> {
    let number = value.as_number()?;
    number
        .as_u64()
        .or_else(|| number.as_i64().map(|_| 0))
        .or_else(|| number.as_f64().map(|f| if f <= 0.0 { 0 } else { f as u64 }))
}

fn split(token: &str) -> Result<(&str, &str, &str), Error> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => Ok((h, p, s)),
        _ => Err(Error::MalformedToken {
            reason: "not three dot-separated segments",
        }),
    }
}
