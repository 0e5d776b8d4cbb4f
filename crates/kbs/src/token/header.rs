//! The parts of a JWS compact token's protected header that select the verification key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// The header members the key-selection rules of §4.2 and §8 look at.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TokenHeader {
    /// The signature algorithm named by the token.
    pub(crate) alg: String,
    /// Key id for JWK-set lookups.
    #[serde(default)]
    pub(crate) kid: Option<String>,
    /// An embedded public key (CoCo AS tokens).
    #[serde(default)]
    pub(crate) jwk: Option<serde_json::Value>,
}

impl TokenHeader {
    /// Decodes the header of a three-part compact token; `None` when it is not one.
    pub(crate) fn decode(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        let header = parts.next()?;
        let (_payload, _signature) = (parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// `alg: none` (any case) means "unsigned" and is refused everywhere.
    pub(crate) fn is_unsigned(&self) -> bool {
        self.alg.eq_ignore_ascii_case("none")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn decodes_alg_kid_and_jwk() {
        let token = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"ES256","kid":"k1","jwk":{"kty":"EC"}}"#),
            b64("{}")
        );
        let header = TokenHeader::decode(&token).unwrap();
        assert_eq!(header.alg, "ES256");
        assert_eq!(header.kid.as_deref(), Some("k1"));
        assert!(header.jwk.is_some());
    }

    #[test]
    fn refuses_tokens_that_are_not_three_parts() {
        let header = b64(r#"{"alg":"ES256"}"#);
        assert!(TokenHeader::decode(&format!("{header}.e30")).is_none());
        assert!(TokenHeader::decode(&format!("{header}.e30.s.x")).is_none());
        assert!(TokenHeader::decode("not a token").is_none());
    }

    #[test]
    fn recognises_unsigned_tokens() {
        let token = format!("{}.e30.", b64(r#"{"alg":"none"}"#));
        assert!(TokenHeader::decode(&token).unwrap().is_unsigned());
    }
}
