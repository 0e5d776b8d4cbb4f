//! Attestation Service: evidence → verifier → claims → policy → EAR token.
//!
//! Wire-compatible with the Confidential Containers trustee AS: the same configuration keys,
//! the same Rego policy input (so upstream policies work unchanged) and the same EAR token
//! layout, signed ES256.
//!
//! For each [`VerificationRequest`] the service derives the expected report data (RFC 8785 +
//! hash of structured runtime data) and init-data hash, has the TEE's verifier check the
//! evidence, and arranges the claims as the policy input (`input.<tee>`, `report_data`,
//! `runtime_data_claims`, `init_data`, `init_data_claims`). Each entry is appraised by the
//! policy `<policy id>_<class>`, whose `trust_claims` become an AR4SI trustworthiness vector,
//! and the token carries one submodule per entry.
//!
//! This crate never speaks HTTP or gRPC; front ends and the KBS call [`AttestationService`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), attestation_service::Error> {
//! use attestation_service::{AsConfig, AttestationService, VerificationRequest};
//! use kbs_types::{HashAlgorithm, Tee};
//! use storage::{StorageConfig, StorageProvider};
//!
//! let storage = StorageProvider::new(&StorageConfig::default())?;
//! let service = AttestationService::new(AsConfig::default(), &storage).await?;
//! let request = VerificationRequest {
//!     tee: Tee::Sample,
//!     evidence: serde_json::json!({"svn": "1"}),
//!     runtime_data: None,
//!     runtime_data_hash_algorithm: HashAlgorithm::Sha384,
//!     init_data: None,
//! };
//! let token = service.evaluate(vec![request], &["default".to_owned()]).await?;
//! let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
//! let claims = jose::jwt::verify(&token, &service.token_verifying_key(), now)?;
//! // Without reference values the default policy does not trust the sample TEE.
//! assert_eq!(claims["submods"]["cpu0"]["ear.status"], "contraindicated");
//! # Ok(())
//! # }
//! ```

mod binding;
mod claims;
mod config;
mod default_policies;
mod ear;
mod error;
pub mod grpc;
mod init_data;
mod reference_value;
mod request;
pub mod rest;
mod service;
mod signer;

pub use config::{AsConfig, RvpsConfig, SignerConfig, TokenBrokerConfig, TokenType};
pub use error::{Error, RvpsUnavailable};
pub use request::{InitData, RuntimeData, VerificationRequest};
pub use service::{AttestationService, Clock, policy_evaluation_slots};
pub use signer::TokenSigner;
/// Re-exported because [`AsConfig::verifier_config`] holds it.
pub use verifier::VerifierConfig;
