//! The narrow seam between token/admin verification and the `jose` crate: key construction,
//! JWK member access and signature/expiry verification with a failure we can classify.

use jose::{Jwk, VerifyingKey};

/// Why `jose` refused a token with a given key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerifyFailure {
    /// The signature does not verify with this key (or the key cannot do the header's alg).
    BadSignature,
    /// The signature verifies but `exp` (60 s leeway) has passed.
    Expired,
    /// The claims have no numeric `exp`.
    MissingExp,
    /// The signature verifies but `nbf` is in the future.
    NotYetValid,
    /// The token or its claims are not well formed.
    Malformed,
}

/// Verifies signature and `exp` of `token` with `key`, returning the claims.
pub(crate) fn verify_jwt(
    token: &str,
    key: &VerifyingKey,
    now_unix: u64,
) -> Result<serde_json::Value, VerifyFailure> {
    jose::jwt::verify(token, key, now_unix).map_err(classify)
}

fn classify(error: jose::Error) -> VerifyFailure {
    match error {
        jose::Error::Expired { .. } => VerifyFailure::Expired,
        jose::Error::MissingExpiry => VerifyFailure::MissingExp,
        jose::Error::NotYetValid { .. } => VerifyFailure::NotYetValid,
        jose::Error::MalformedToken { .. } => VerifyFailure::Malformed,
        _ => VerifyFailure::BadSignature,
    }
}

/// The JWK's `kid`, if any.
pub(crate) fn jwk_kid(jwk: &Jwk) -> Option<&str> {
    jwk.kid.as_deref()
}

/// The JWK's `alg`, if any.
pub(crate) fn jwk_alg(jwk: &Jwk) -> Option<&str> {
    jwk.alg.as_deref()
}

/// Whether two JWKs hold the same public key (key type and key material only: `kid`, `alg`,
/// `x5c` and other metadata are ignored).
pub(crate) fn same_key_material(a: &Jwk, b: &Jwk) -> bool {
    const MATERIAL: [&str; 6] = ["kty", "crv", "x", "y", "n", "e"];
    let (Ok(a), Ok(b)) = (serde_json::to_value(a), serde_json::to_value(b)) else {
        return false;
    };
    let has_material = a.get("kty").is_some() && (a.get("x").is_some() || a.get("n").is_some());
    has_material && MATERIAL.iter().all(|member| a.get(member) == b.get(member))
}
