//! One piece of evidence to verify, and the data it must be bound to (spec §4).

use kbs_types::{HashAlgorithm, Tee};
use serde_json::Value;

/// A verification request: the evidence of one TEE plus the runtime and init data it must be
/// bound to.
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationRequest {
    /// The TEE that produced the evidence.
    pub tee: Tee,
    /// The TEE-specific evidence JSON, already decoded from its transport encoding.
    pub evidence: Value,
    /// What the evidence's report data must commit to; `None` skips that check.
    pub runtime_data: Option<RuntimeData>,
    /// Hash for structured runtime data (upstream default `sha384`, `sha512` for SE).
    pub runtime_data_hash_algorithm: HashAlgorithm,
    /// What the evidence's init-data field must commit to; `None` skips that check.
    pub init_data: Option<InitData>,
}

/// Runtime data supplied with the evidence.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeData {
    /// JSON (the KBS sends `{nonce, tee-pubkey, additional-evidence}`): canonicalised with
    /// RFC 8785, hashed, and exposed to policies as `runtime_data_claims`.
    Structured(Value),
    /// Bytes used as the expected report data as they are (not hashed); no claims.
    Raw(Vec<u8>),
}

/// Init data supplied with the evidence.
#[derive(Debug, Clone, PartialEq)]
pub enum InitData {
    /// An init-data TOML document: hashed with its own `algorithm`, and its `data` table exposed
    /// to policies as `init_data_claims`.
    Toml(String),
    /// A digest used as the expected init-data hash as it is; no claims.
    Digest(Vec<u8>),
}
