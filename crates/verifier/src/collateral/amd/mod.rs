//! AMD collateral: where a VCEK comes from when the evidence does not carry one.

pub mod kds;

use std::path::PathBuf;

use async_trait::async_trait;

use crate::collateral::CollateralError;
use crate::snp::{Product, TcbVersion};

/// A source of VCEKs (versioned chip endorsement keys), keyed as AMD's KDS keys them.
///
/// Implementations only fetch: the caller verifies the returned certificate against the
/// embedded AMD roots and the report, so a source needs no trust of its own.
#[async_trait]
pub trait VcekSource: Send + Sync {
    /// The DER VCEK of the chip `hwid` (the report's `chip_id`) at TCB `tcb`.
    async fn vek(
        &self,
        product: Product,
        hwid: &[u8; 64],
        tcb: &TcbVersion,
    ) -> Result<Vec<u8>, CollateralError>;
}

/// The upstream KDS offline store: a directory of VCEKs laid out as
/// `<path>/vcek/<hwid hex>/<tcb>_vcek.der` (spec §1.2 step 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineStore {
    path: PathBuf,
}

impl OfflineStore {
    /// Upstream's default store directory.
    pub const DEFAULT_PATH: &'static str =
        "/opt/confidential-containers/attestation-service/kds-store";

    /// A store rooted at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}
