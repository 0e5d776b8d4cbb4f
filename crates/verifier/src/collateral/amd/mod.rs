//! AMD collateral: where a VCEK comes from when the evidence does not carry one.

pub mod kds;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

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

/// One entry of `snp_verifier.vcek_sources` (upstream's `VCEKSource` config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum VcekSourceConfig {
    /// A directory in the KDS offline-store layout.
    OfflineStore {
        /// The store directory; upstream's default when absent.
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// AMD's Key Distribution Service.
    #[serde(rename = "KDS")]
    Kds {
        /// The KDS base URL; `https://kdsintf.amd.com` when absent.
        #[serde(default)]
        base_url: Option<String>,
    },
}

/// Creates the source a config entry describes.
pub fn vcek_source_from_config(config: &VcekSourceConfig) -> Arc<dyn VcekSource> {
    match config {
        VcekSourceConfig::OfflineStore { path } => Arc::new(OfflineStore::new(
            path.clone()
                .unwrap_or_else(|| PathBuf::from(OfflineStore::DEFAULT_PATH)),
        )),
        VcekSourceConfig::Kds { base_url } => kds::shared_kds_source(base_url.as_deref()),
    }
}

/// The upstream KDS offline store: a directory of VCEKs laid out as
/// `<path>/vcek/<hwid hex>/bl<NN>_tee<NN>_snp<NN>_ucode<NN>[_fmc<NN>]_vcek.der` (SPLs in
/// decimal, at least two digits; `_fmc` on Turin only), with `<path>/vcek/<hwid hex>/vcek.der`
/// as a TCB-less fallback (spec §1.2 step 4). `<hwid hex>` is the lower-case hex of the
/// 64-byte chip id, or of its first 8 bytes on Turin, as in KDS URLs.
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

    /// The files tried for a chip and TCB, most specific first.
    pub fn candidate_paths(
        &self,
        product: Product,
        hwid: &[u8; 64],
        tcb: &TcbVersion,
    ) -> [PathBuf; 2] {
        let hwid = hwid.get(..product.hwid_len()).unwrap_or(hwid);
        let dir = self.path.join("vcek").join(hex::encode(hwid));
        let fmc = match (product, tcb.fmc) {
            (Product::Turin, Some(fmc)) => format!("_fmc{fmc:02}"),
            _ => String::new(),
        };
        let name = format!(
            "bl{:02}_tee{:02}_snp{:02}_ucode{:02}{fmc}_vcek.der",
            tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode
        );
        [dir.join(name), dir.join("vcek.der")]
    }
}

#[async_trait]
impl VcekSource for OfflineStore {
    async fn vek(
        &self,
        product: Product,
        hwid: &[u8; 64],
        tcb: &TcbVersion,
    ) -> Result<Vec<u8>, CollateralError> {
        for path in self.candidate_paths(product, hwid, tcb) {
            // A VCEK is ~1.4 KiB on a local disk: a blocking read is shorter than handing it
            // to a thread pool.
            match std::fs::read(&path) {
                Ok(der) => return Ok(der),
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => {
                    return Err(CollateralError::Io {
                        path,
                        kind: err.kind(),
                    });
                }
            }
        }
        Err(CollateralError::NotFound {
            what: "vcek",
            source_name: "offline store",
        })
    }
}
