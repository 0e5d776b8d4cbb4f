//! Evidence verifiers: the [`Verifier`] trait and one module per TEE.
//!
//! A verifier takes a TEE's evidence (JSON, as the attester sent it) plus the values the
//! evidence must be bound to, checks it, and returns claims about the TEE. It does not
//! appraise: whether the claims are *good* is for the attestation service's policy.
//!
//! Only [`collateral`] touches files or the network (AMD and Hygon KDS downloads, offline
//! stores, the collateral cache), and nothing reads the wall clock below a verifier's trait
//! impl: [`VerifierContext`] injects the clock and the collateral sources.
//!
//! ```
//! # async fn demo() -> Result<(), verifier::Error> {
//! use kbs_types::Tee;
//! use verifier::{InitDataHash, ReportData, TeeClass, VerifierConfig, verifier_for};
//!
//! let verifier = verifier_for(Tee::Sample, &VerifierConfig::default())?;
//! let evidence = serde_json::json!({"svn": "1", "report_data": "AQID"});
//! let entries = verifier
//!     .evaluate(&evidence, &ReportData::Value(vec![1, 2, 3]), &InitDataHash::NotProvided)
//!     .await?;
//! assert_eq!(entries[0].1, TeeClass::Cpu);
//! # Ok(())
//! # }
//! ```

pub mod az_snp_vtpm;
pub mod az_tdx_vtpm;
mod binding;
pub mod cca;
mod claims;
mod clock;
pub mod collateral;
mod config;
mod context;
pub mod csv;
pub mod dcap;
mod error;
pub mod eventlog;
pub mod nvidia;
mod registry;
pub mod sample;
pub mod sgx;
pub mod snp;
pub mod tdx;
#[cfg(test)]
mod test_support;
pub mod tpm;
pub mod vtpm;
mod x509;

use async_trait::async_trait;
use serde_json::Value;

pub use claims::{TeeClass, TeeEvidenceClaims};
pub use clock::{Clock, FixedClock, SystemClock};
pub use config::VerifierConfig;
pub use context::VerifierContext;
pub use error::Error;
pub use registry::{verifier_for, verifier_for_with};

/// The report data the evidence must be bound to (normally a hash of the runtime data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportData {
    /// Check the evidence against these bytes, with the TEE's own padding rule.
    Value(Vec<u8>),
    /// The caller supplied no runtime data: skip the check.
    NotProvided,
}

/// The init-data digest the evidence must be bound to (host data, MRCONFIGID, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitDataHash {
    /// Check the evidence against this digest, where the TEE can bind init data.
    Value(Vec<u8>),
    /// The caller supplied no init data: skip the check.
    NotProvided,
}

/// A TEE evidence verifier. One implementation per TEE; every hardware verifier implements
/// this same trait.
#[async_trait]
pub trait Verifier: Send + Sync {
    /// Verifies `evidence` and returns one `(claims, class)` entry per attested device.
    ///
    /// Most TEEs return a single `cpu` entry; a verifier for a multi-device platform (e.g.
    /// several GPUs and a switch) returns one entry per device, in a stable order, because the
    /// entry order numbers the token's submodules. When a binding was checked, or when the
    /// TEE reports the value, the claims carry it as the top-level string `report_data` /
    /// `init_data`.
    async fn evaluate(
        &self,
        evidence: &Value,
        expected_report_data: &ReportData,
        expected_init_data_hash: &InitDataHash,
    ) -> Result<Vec<(TeeEvidenceClaims, TeeClass)>, Error>;
}
