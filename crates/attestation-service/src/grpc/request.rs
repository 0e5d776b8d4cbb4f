//! Decoding of the wire form of an attestation request (gRPC §2.1 and REST §3 share it): TEE
//! names checked against each API's whitelist, base64url-no-pad evidence JSON, runtime data
//! raw or structured, init data digest or TOML, and the runtime-data hash algorithm.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kbs_types::{HashAlgorithm, Tee};
use serde_json::Value;

use crate::{InitData, RuntimeData};

/// The TEE names `grpc-as` accepts (spec §2.4): `sampledevice` and `nvidia-dpu` are refused.
pub const GRPC_TEES: &[&str] = &[
    "sgx",
    "snp",
    "tdx",
    "csv",
    "sample",
    "az-snp-vtpm",
    "cca",
    "az-tdx-vtpm",
    "se",
    "hygondcu",
    "nvidia",
    "tpm",
];

/// The TEE names `restful-as` accepts (spec §3): unlike gRPC, `sampledevice` but not `nvidia`
/// or `tpm`.
pub const REST_TEES: &[&str] = &[
    "az-snp-vtpm",
    "sgx",
    "snp",
    "tdx",
    "cca",
    "csv",
    "sample",
    "sampledevice",
    "az-tdx-vtpm",
    "se",
    "hygondcu",
];

/// A request field that could not be decoded. Messages name the field; they never echo the
/// evidence itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The TEE name is not in this API's whitelist.
    #[error("Unsupported TEE type: {0}")]
    UnsupportedTee(String),
    /// The request carried no evidence at all.
    #[error("No verification requests provided.")]
    NoVerificationRequests,
    /// A field that must be base64url without padding is not.
    #[error("{field} is not base64url without padding")]
    Base64 {
        /// The request field.
        field: &'static str,
    },
    /// A field that must be JSON is not.
    #[error("{field} is not valid JSON: {reason}")]
    Json {
        /// The request field.
        field: &'static str,
        /// What the parser said (position and kind, no content).
        reason: String,
    },
    /// `runtime_data_hash_algorithm` names no supported hash.
    #[error("unsupported runtime_data_hash_algorithm `{0}`")]
    HashAlgorithm(String),
    /// A `tee` / `tee_params` key is missing from a challenge request.
    #[error("challenge request is missing `{0}`")]
    MissingChallengeKey(&'static str),
}

/// The [`Tee`] named `name`, if `name` is exactly one of `allowed`.
pub fn parse_tee(name: &str, allowed: &[&str]) -> Result<Tee, RequestError> {
    let unsupported = || RequestError::UnsupportedTee(truncated(name));
    if !allowed.contains(&name) {
        return Err(unsupported());
    }
    Tee::from_str(name).map_err(|_| unsupported())
}

/// The evidence JSON from its base64url-no-pad transport encoding.
pub fn decode_evidence(evidence: &str) -> Result<Value, RequestError> {
    let bytes = decode_b64url(evidence, "evidence")?;
    serde_json::from_slice(&bytes).map_err(|err| json_error("evidence", &err))
}

/// Raw runtime data from base64url-no-pad.
pub fn raw_runtime_data(encoded: &str) -> Result<RuntimeData, RequestError> {
    Ok(RuntimeData::Raw(decode_b64url(
        encoded,
        "raw_runtime_data",
    )?))
}

/// Structured runtime data from its JSON text.
pub fn structured_runtime_data(text: &str) -> Result<RuntimeData, RequestError> {
    serde_json::from_str(text)
        .map(RuntimeData::Structured)
        .map_err(|err| json_error("structured_runtime_data", &err))
}

/// An init-data digest from base64url-no-pad.
pub fn init_data_digest(encoded: &str) -> Result<InitData, RequestError> {
    Ok(InitData::Digest(decode_b64url(
        encoded,
        "init_data_digest",
    )?))
}

/// The runtime-data hash algorithm; empty means sha384 (spec §15 item 3).
pub fn hash_algorithm(name: &str) -> Result<HashAlgorithm, RequestError> {
    if name.is_empty() {
        return Ok(HashAlgorithm::Sha384);
    }
    HashAlgorithm::from_str(name).map_err(|_| RequestError::HashAlgorithm(truncated(name)))
}

fn decode_b64url(encoded: &str, field: &'static str) -> Result<Vec<u8>, RequestError> {
    URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| RequestError::Base64 { field })
}

fn json_error(field: &'static str, err: &serde_json::Error) -> RequestError {
    // serde_json's messages name a position and the kind of error, never the input.
    RequestError::Json {
        field,
        reason: err.to_string(),
    }
}

/// Names echoed in errors are cut, so a huge bogus field cannot blow up a log line.
fn truncated(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Every cause of `err`, one per line as `<i>: <cause>`, outermost first (the format of the
/// upstream error texts, spec §2.4 and §3).
pub fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut lines = Vec::new();
    let mut next = Some(err);
    while let Some(cause) = next {
        lines.push(format!("{}: {cause}", lines.len()));
        next = cause.source();
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn whitelists_differ_between_grpc_and_rest() {
        for (name, grpc, rest) in [
            ("sample", true, true),
            ("snp", true, true),
            ("az-snp-vtpm", true, true),
            ("hygondcu", true, true),
            ("sampledevice", false, true),
            ("nvidia", true, false),
            ("tpm", true, false),
            ("nvidia-dpu", false, false),
            ("SNP", false, false),
            ("", false, false),
        ] {
            assert_eq!(parse_tee(name, GRPC_TEES).is_ok(), grpc, "grpc {name}");
            assert_eq!(parse_tee(name, REST_TEES).is_ok(), rest, "rest {name}");
        }
        assert_eq!(parse_tee("az-tdx-vtpm", GRPC_TEES), Ok(Tee::AzTdxVtpm));
        assert_eq!(parse_tee("sampledevice", REST_TEES), Ok(Tee::SampleDevice));
    }

    #[test]
    fn every_whitelisted_name_is_a_tee() {
        for name in GRPC_TEES.iter().chain(REST_TEES) {
            assert!(Tee::from_str(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn unsupported_tee_message_names_it_cut_to_64_characters() {
        assert_eq!(
            parse_tee("sev", GRPC_TEES).unwrap_err().to_string(),
            "Unsupported TEE type: sev"
        );
        let long = "x".repeat(1000);
        let message = parse_tee(&long, GRPC_TEES).unwrap_err().to_string();
        assert_eq!(
            message,
            format!("Unsupported TEE type: {}...", "x".repeat(64))
        );
    }

    #[test]
    fn evidence_is_base64url_without_padding_of_json() {
        assert_eq!(
            decode_evidence("eyJhIjoxfQ").unwrap(),
            serde_json::json!({"a": 1})
        );
        // Padded, standard-alphabet and non-JSON encodings are refused by field.
        assert_eq!(
            decode_evidence("eyJhIjoxfQ=="),
            Err(RequestError::Base64 { field: "evidence" })
        );
        assert_eq!(
            decode_evidence("+/8"),
            Err(RequestError::Base64 { field: "evidence" })
        );
        assert!(matches!(
            decode_evidence("bm90IGpzb24"),
            Err(RequestError::Json {
                field: "evidence",
                ..
            })
        ));
    }

    #[test]
    fn runtime_and_init_data_decode() {
        assert_eq!(
            raw_runtime_data("AAEC").unwrap(),
            RuntimeData::Raw(vec![0, 1, 2])
        );
        assert_eq!(
            raw_runtime_data("AAEC=="),
            Err(RequestError::Base64 {
                field: "raw_runtime_data"
            })
        );
        assert_eq!(
            structured_runtime_data(r#"{"nonce":"n"}"#).unwrap(),
            RuntimeData::Structured(serde_json::json!({"nonce": "n"}))
        );
        assert!(matches!(
            structured_runtime_data("{"),
            Err(RequestError::Json {
                field: "structured_runtime_data",
                ..
            })
        ));
        assert_eq!(
            init_data_digest("q83v").unwrap(),
            InitData::Digest(vec![0xab, 0xcd, 0xef])
        );
        assert_eq!(
            init_data_digest("q83v!"),
            Err(RequestError::Base64 {
                field: "init_data_digest"
            })
        );
    }

    #[test]
    fn hash_algorithm_defaults_to_sha384() {
        assert_eq!(hash_algorithm("").unwrap(), HashAlgorithm::Sha384);
        assert_eq!(hash_algorithm("sha256").unwrap(), HashAlgorithm::Sha256);
        assert_eq!(hash_algorithm("SHA512").unwrap(), HashAlgorithm::Sha512);
        assert_eq!(hash_algorithm("sm3").unwrap(), HashAlgorithm::Sm3);
        assert_eq!(
            hash_algorithm("md5"),
            Err(RequestError::HashAlgorithm("md5".into()))
        );
    }

    #[test]
    fn cause_chain_numbers_each_source() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("inner")]
        struct Inner;
        assert_eq!(cause_chain(&Outer(Inner)), "0: outer\n1: inner");
        assert_eq!(cause_chain(&Inner), "0: inner");
    }
}
