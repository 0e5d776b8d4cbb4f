//! RFC 8785 JSON canonicalisation and the runtime-data digest built on it
//! (attestation-service §4 step 3).

use kbs_types::HashAlgorithm;
use serde_json::Value;

use crate::Error;

/// Serialises `value` in the RFC 8785 canonical form (sorted keys, no whitespace, ECMAScript
/// number formatting).
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, Error> {
    serde_json_canonicalizer::to_vec(value).map_err(|_| Error::Canonicalization)
}

/// Hashes the canonical form of structured runtime data; the digest is what a TEE must have
/// bound into its report data.
pub fn runtime_data_digest(value: &Value, algorithm: HashAlgorithm) -> Result<Vec<u8>, Error> {
    Ok(algorithm.digest(&canonicalize(value)?))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn canonicalizes_spec_vector() {
        let value = json!({"b":1,"a":"test","c":{"d":"e"}});
        assert_eq!(
            canonicalize(&value).unwrap(),
            br#"{"a":"test","b":1,"c":{"d":"e"}}"#
        );
    }

    #[test]
    fn runtime_data_digest_matches_spec_vector() {
        let value: Value = serde_json::from_str(r#"{"b":1,"a":"test","c":{"d":"e"}}"#).unwrap();
        let digest = runtime_data_digest(&value, HashAlgorithm::Sha384).unwrap();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c4597480a186427c813ca941da78870c3"
        );
    }

    #[test]
    fn canonical_numbers_use_ecmascript_form() {
        let value: Value = serde_json::from_str(r#"{"n":1.0e2,"m":0.5}"#).unwrap();
        assert_eq!(canonicalize(&value).unwrap(), br#"{"m":0.5,"n":100}"#);
    }

    #[test]
    fn digest_length_follows_algorithm() {
        let value = json!({});
        assert_eq!(
            runtime_data_digest(&value, HashAlgorithm::Sha256)
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            runtime_data_digest(&value, HashAlgorithm::Sha512)
                .unwrap()
                .len(),
            64
        );
    }
}
