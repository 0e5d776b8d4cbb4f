//! AMD's Key Distribution Service (KDS) as a [`VcekSource`] (verifiers spec §1.2 step 4).
//!
//! `GET <base_url>/vcek/v1/<Milan|Genoa|Turin>/<hwid hex>?[fmcSPL=..&]blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..`
//! answers the DER VCEK of one chip at one TCB. Responses are cached through a [`Fetcher`]
//! under the KDS offline-store layout (`vcek/<hwid hex>/<tcb>_vcek.der`), so a cache directory
//! filled online can serve later as an `OfflineStore`. The certificate is not trusted here:
//! the snp verifier checks it against the embedded AMD roots and the report.

use std::sync::Arc;

use async_trait::async_trait;

use super::VcekSource;
use crate::collateral::CollateralError;
use crate::collateral::cache::CacheKey;
use crate::collateral::fetch::{BodyCheck, FetchError, Fetcher, shared_fetcher};
use crate::snp::{Product, TcbVersion};

/// AMD's public KDS.
pub const DEFAULT_KDS_BASE_URL: &str = "https://kdsintf.amd.com";

/// A VCEK is one DER certificate: a SEQUENCE with a two-byte long-form length (~1.3-1.4 KiB),
/// exactly filling the body. Anything else (an HTML error page, a PEM) is refused before it is
/// cached.
const VCEK_SHAPE: BodyCheck = BodyCheck {
    expected: "a DER certificate",
    accepts: |body| match body {
        [0x30, 0x82, high, low, rest @ ..] => {
            usize::from(*high) << 8 | usize::from(*low) == rest.len()
        }
        _ => false,
    },
};

/// Fetches VCEKs from an AMD KDS (or a mirror at another base URL).
#[derive(Debug, Clone)]
pub struct KdsVcekSource {
    base_url: String,
    fetcher: Fetcher,
}

impl KdsVcekSource {
    /// A source asking the KDS at `base_url` (e.g. [`DEFAULT_KDS_BASE_URL`]) through `fetcher`.
    pub fn new(base_url: impl Into<String>, fetcher: Fetcher) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self { base_url, fetcher }
    }

    /// The KDS base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The VCEK URL for `hwid` at `tcb`.
    pub fn vcek_url(&self, product: Product, hwid: &[u8; 64], tcb: &TcbVersion) -> String {
        let hwid = kds_hwid(product, hwid);
        // SPLs are zero-padded decimals, as AMD documents them and upstream sends them.
        let fmc = match (product, tcb.fmc) {
            (Product::Turin, Some(fmc)) => format!("fmcSPL={fmc:02}&"),
            _ => String::new(),
        };
        format!(
            "{}/vcek/v1/{}/{hwid}?{fmc}blSPL={:02}&teeSPL={:02}&snpSPL={:02}&ucodeSPL={:02}",
            self.base_url,
            product.name(),
            tcb.bootloader,
            tcb.tee,
            tcb.snp,
            tcb.microcode
        )
    }
}

#[async_trait]
impl VcekSource for KdsVcekSource {
    async fn vek(
        &self,
        product: Product,
        hwid: &[u8; 64],
        tcb: &TcbVersion,
    ) -> Result<Vec<u8>, CollateralError> {
        // A chip_id masked by the guest policy (MASK_CHIP_ID) is all zeros: asking the KDS for
        // it only costs a request and a 404.
        if hwid.iter().all(|&b| b == 0) {
            return Err(CollateralError::BadRequest {
                what: "vcek",
                reason: "the report's chip_id is all zeros (masked)",
            });
        }
        let key = cache_key(product, hwid, tcb)?;
        let url = self.vcek_url(product, hwid, tcb);
        let der = self.fetcher.fetch_checked(&key, &url, VCEK_SHAPE).await?;
        Ok(der.to_vec())
    }
}

/// A KDS source at `base_url` (AMD's when `None`) on the process-wide [`shared_fetcher`]: what
/// `vcek_sources = [{type = "KDS"}]` means when no [`crate::VerifierContext`] supplies a
/// fetcher. Verifiers are created per request, and the shared fetcher keeps their downloads
/// cached and coalesced across requests.
pub fn shared_kds_source(base_url: Option<&str>) -> Arc<dyn VcekSource> {
    let base_url = base_url.unwrap_or(DEFAULT_KDS_BASE_URL);
    match shared_fetcher() {
        Ok(fetcher) => Arc::new(KdsVcekSource::new(base_url, fetcher)),
        Err(err) => Arc::new(KdsUnavailable(err)),
    }
}

/// A KDS source whose HTTP client could not be built: every lookup reports why.
#[derive(Debug)]
struct KdsUnavailable(FetchError);

#[async_trait]
impl VcekSource for KdsUnavailable {
    async fn vek(
        &self,
        _product: Product,
        _hwid: &[u8; 64],
        _tcb: &TcbVersion,
    ) -> Result<Vec<u8>, CollateralError> {
        Err(self.0.clone().into())
    }
}

/// The hardware ID as the KDS keys it: lower-case hex of the 64-byte chip_id, but only its
/// first 8 bytes on Turin, whose chip IDs are 8 bytes long (spec §1.2 step 4).
fn kds_hwid(product: Product, hwid: &[u8; 64]) -> String {
    match product {
        Product::Turin => hex::encode(&hwid[..8]),
        Product::Milan | Product::Genoa => hex::encode(hwid),
    }
}

/// `vcek/<hwid>/bl<NN>_tee<NN>_snp<NN>_ucode<NN>[_fmc<NN>]_vcek.der`: upstream's offline-store
/// file name for the VCEK.
fn cache_key(
    product: Product,
    hwid: &[u8; 64],
    tcb: &TcbVersion,
) -> Result<CacheKey, CollateralError> {
    let fmc = match (product, tcb.fmc) {
        (Product::Turin, Some(fmc)) => format!("_fmc{fmc:02}"),
        _ => String::new(),
    };
    let key = format!(
        "vcek/{}/bl{:02}_tee{:02}_snp{:02}_ucode{:02}{fmc}_vcek.der",
        kds_hwid(product, hwid),
        tcb.bootloader,
        tcb.tee,
        tcb.snp,
        tcb.microcode
    );
    Ok(CacheKey::new(key).map_err(crate::collateral::fetch::FetchError::from)?)
}

#[cfg(test)]
mod tests;
