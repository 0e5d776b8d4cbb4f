//! The environment a verifier is created in: its clock and where its collateral comes from.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::Error;
use crate::clock::{Clock, SystemClock};
use crate::collateral::amd::kds::{DEFAULT_KDS_BASE_URL, KdsVcekSource};
use crate::collateral::amd::{self, VcekSource, VcekSourceConfig};
use crate::collateral::fetch::{FetchError, Fetcher, shared_fetcher};
use crate::collateral::hygon;
use crate::collateral::hygon_kds::{DEFAULT_HYGON_KDS_BASE_URL, HygonKdsSource};
use crate::collateral::intel::offline::DirSource;
use crate::collateral::intel::{DcapCollateralSource, DcapSourceCache, DcapVerifierConfig};
use crate::csv::Csv;
use crate::snp::SnpVerifierConfig;

/// What [`crate::verifier_for_with`] hands to the verifiers it creates, beside their config.
///
/// The default is what [`crate::verifier_for`] uses: the system clock, and collateral from the
/// network (as configured) through the process-wide [`shared_fetcher`].
#[derive(Clone, Default)]
pub struct VerifierContext {
    clock: Option<Arc<dyn Clock>>,
    offline_collateral_dir: Option<PathBuf>,
    fetcher: Option<Fetcher>,
    /// DCAP sources built so far; every `with_*` starts a fresh map, since a source captures
    /// the clock, the directory and the fetcher it was built with.
    dcap_sources: DcapSourceCache,
}

impl VerifierContext {
    /// The default context (module docs).
    pub fn new() -> Self {
        Self::default()
    }

    /// Verification time from `clock` (e.g. a [`crate::FixedClock`] to verify old evidence at
    /// the time it was produced).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock: Some(clock),
            dcap_sources: DcapSourceCache::default(),
            ..self
        }
    }

    /// Collateral only from `dir`, never from the network. The directory is laid out like the
    /// shared test data's `collateral/`: `amd/kds-store/` (an AMD KDS offline store),
    /// `csv/hsk_cek/<serial>/hsk_cek.cert` (Hygon) and `intel/bundles/*.json` (Intel DCAP
    /// collateral bundles, PCS-client or dcap-qvl format; see
    /// [`crate::collateral::intel::offline`]).
    pub fn with_offline_collateral_dir(self, dir: impl Into<PathBuf>) -> Self {
        Self {
            offline_collateral_dir: Some(dir.into()),
            dcap_sources: DcapSourceCache::default(),
            ..self
        }
    }

    /// Downloads through `fetcher` (its cache, limits and coalescing) instead of the
    /// process-wide one; e.g. one with a persistent cache directory.
    pub fn with_fetcher(self, fetcher: Fetcher) -> Self {
        Self {
            fetcher: Some(fetcher),
            dcap_sources: DcapSourceCache::default(),
            ..self
        }
    }

    /// The clock verifiers read the verification time from.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock))
    }

    /// The offline collateral directory, when the verifiers must not use the network.
    pub fn offline_collateral_dir(&self) -> Option<&Path> {
        self.offline_collateral_dir.as_deref()
    }

    /// The fetcher for network collateral: the configured one, or the process-wide one.
    pub fn fetcher(&self) -> Result<Fetcher, FetchError> {
        match &self.fetcher {
            Some(fetcher) => Ok(fetcher.clone()),
            None => shared_fetcher(),
        }
    }
}

impl VerifierContext {
    /// The VCEK sources of an snp verifier configured by `snp_verifier` (spec §11): only the
    /// offline directory's `amd/kds-store` when there is one, else the configured sources,
    /// with KDS downloads going through [`VerifierContext::fetcher`].
    pub fn vcek_sources(
        &self,
        snp_verifier: Option<&Map<String, Value>>,
    ) -> Result<Vec<Arc<dyn VcekSource>>, Error> {
        if let Some(dir) = self.offline_collateral_dir() {
            let store = amd::OfflineStore::new(dir.join("amd").join("kds-store"));
            return Ok(vec![Arc::new(store)]);
        }
        let config = SnpVerifierConfig::from_table(snp_verifier)?;
        config
            .vcek_sources
            .iter()
            .map(|source| -> Result<Arc<dyn VcekSource>, Error> {
                match source {
                    VcekSourceConfig::Kds { base_url } => {
                        let fetcher = self
                            .fetcher()
                            .map_err(crate::collateral::CollateralError::from)?;
                        let base_url = base_url.as_deref().unwrap_or(DEFAULT_KDS_BASE_URL);
                        Ok(Arc::new(KdsVcekSource::new(base_url, fetcher)))
                    }
                    other => Ok(amd::vcek_source_from_config(other)),
                }
            })
            .collect()
    }
}

impl VerifierContext {
    /// The csv verifier for `csv_verifier`: with an offline directory, only its
    /// `csv/hsk_cek/<serial>/hsk_cek.cert` files; otherwise the configured stores, and when
    /// the table is absent upstream's order: the default store, then Hygon's KDS through
    /// [`VerifierContext::fetcher`]. An explicit `hsk_cek_sources` list is used as written, so
    /// `[]` still means "no lookups".
    pub fn csv(&self, csv_verifier: Option<&Map<String, Value>>) -> Result<Csv, Error> {
        if let Some(dir) = self.offline_collateral_dir() {
            let store = hygon::OfflineStore::new(dir.join("csv"));
            return Ok(Csv::new().with_hsk_cek_source(Arc::new(store)));
        }
        let csv = Csv::from_config(csv_verifier)?;
        if csv_verifier.is_some() {
            return Ok(csv);
        }
        let fetcher = self
            .fetcher()
            .map_err(crate::collateral::CollateralError::from)?;
        let kds = HygonKdsSource::new(DEFAULT_HYGON_KDS_BASE_URL, fetcher);
        Ok(csv.with_hsk_cek_source(Arc::new(kds)))
    }
}

impl VerifierContext {
    /// The DCAP collateral source of the `tdx`, `sgx` and `az-tdx-vtpm` verifiers, configured
    /// by `dcap_verifier` (spec §3.2; unknown keys are refused): with an offline directory,
    /// only its `intel/bundles/` (the table's `tcb_update_type` still applies); otherwise the
    /// configured services in order (Intel PCS by default), HTTP ones through
    /// [`VerifierContext::fetcher`].
    ///
    /// The source is built once per context and table, so verifiers created per request
    /// share its parsed files and the collateral it keeps in memory.
    pub fn dcap_collateral(
        &self,
        dcap_verifier: Option<&Map<String, Value>>,
    ) -> Result<Arc<dyn DcapCollateralSource>, Error> {
        let config = DcapVerifierConfig::from_table(dcap_verifier)?;
        // Serialising a JSON object cannot fail.
        let key = serde_json::to_string(&dcap_verifier).unwrap_or_default();
        self.dcap_sources.get_or_build(key, || {
            if let Some(dir) = self.offline_collateral_dir() {
                let bundles = dir.join("intel").join("bundles");
                let source = DirSource::new(bundles, config.tcb_update_type, self.clock());
                return Ok(Arc::new(source));
            }
            config.sources(|| self.fetcher(), self.clock())
        })
    }
}

impl fmt::Debug for VerifierContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierContext")
            .field("clock", &self.clock)
            .field("offline_collateral_dir", &self.offline_collateral_dir)
            .field("fetcher", &self.fetcher.as_ref().map(|_| "custom"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedClock;
    use crate::collateral::cache::CollateralCache;
    use crate::collateral::fetch::FetchPolicy;

    #[test]
    fn default_reads_the_system_clock() {
        let now = SystemClock.now();
        let context_now = VerifierContext::new().clock().now();
        assert!(context_now >= now && context_now - now < 60);
        assert_eq!(VerifierContext::new().offline_collateral_dir(), None);
    }

    #[test]
    fn fixed_clock_and_offline_dir_are_kept() {
        let context = VerifierContext::new()
            .with_clock(Arc::new(FixedClock(1_748_736_000)))
            .with_offline_collateral_dir("/srv/collateral");
        assert_eq!(context.clock().now(), 1_748_736_000);
        assert_eq!(
            context.offline_collateral_dir(),
            Some(Path::new("/srv/collateral"))
        );
    }

    const MILAN_CHIP: &str = "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f\
                              8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e";

    fn milan() -> ([u8; 64], crate::snp::TcbVersion) {
        let chip = hex::decode(MILAN_CHIP).unwrap().try_into().unwrap();
        let tcb = crate::snp::TcbVersion {
            fmc: None,
            bootloader: 3,
            tee: 0,
            snp: 8,
            microcode: 115,
        };
        (chip, tcb)
    }

    #[tokio::test]
    async fn offline_dir_replaces_every_configured_vcek_source() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/testdata/collateral"
        );
        let context = VerifierContext::new().with_offline_collateral_dir(dir);
        // Even an explicit KDS entry is not used offline.
        let table = serde_json::json!({"vcek_sources": [{"type": "KDS", "base_url": "http://127.0.0.1:9"}]});
        let sources = context.vcek_sources(table.as_object()).unwrap();
        assert_eq!(sources.len(), 1);
        let (chip, tcb) = milan();
        let der = sources[0]
            .vek(crate::snp::Product::Milan, &chip, &tcb)
            .await
            .unwrap();
        assert_eq!(der.first(), Some(&0x30), "a DER certificate");
    }

    #[tokio::test]
    async fn kds_sources_download_through_the_context_fetcher() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = Fetcher::new(
            Arc::new(CollateralCache::persistent(dir.path())),
            FetchPolicy::default(),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let vcek = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/testdata/collateral/amd/kds-store/vcek/",
            "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f",
            "8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e",
            "/bl03_tee00_snp08_ucode115_vcek.der"
        ))
        .unwrap();
        let served = vcek.clone();
        let app = axum::Router::new().fallback(move || {
            let body = served.clone();
            async move { body }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let context = VerifierContext::new().with_fetcher(fetcher);
        let table = serde_json::json!({"vcek_sources": [{"type": "KDS", "base_url": base}]});
        let sources = context.vcek_sources(table.as_object()).unwrap();
        let (chip, tcb) = milan();
        let der = sources[0]
            .vek(crate::snp::Product::Milan, &chip, &tcb)
            .await
            .unwrap();
        assert_eq!(der, vcek);
        let cached = format!("vcek/{MILAN_CHIP}/bl03_tee00_snp08_ucode115_vcek.der");
        assert!(dir.path().join(cached).is_file());
    }

    #[test]
    fn invalid_snp_verifier_table_is_a_config_error() {
        let table = serde_json::json!({"vcek_source": []});
        let err = VerifierContext::new()
            .vcek_sources(table.as_object())
            .err()
            .unwrap();
        assert!(
            matches!(&err, Error::InvalidConfig { section: "snp_verifier", reason } if reason.contains("vcek_source")),
            "{err:?}"
        );
    }

    #[test]
    fn default_snp_sources_are_the_kds() {
        assert_eq!(VerifierContext::new().vcek_sources(None).unwrap().len(), 1);
    }

    const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");

    /// Hygon evidence without HSK/CEK, and report data it carries ("user data", padded).
    fn csv_case() -> (Value, crate::ReportData) {
        let path = format!("{TESTDATA}/wrapped/csv/csv-rs-report.no-hsk-cek.json");
        let evidence = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        (evidence, crate::ReportData::Value(b"user data".to_vec()))
    }

    /// A fetcher whose cache already holds chip NZA9T14052605's HSK/CEK, as if Hygon's KDS had
    /// been asked before: lookups through it never reach the network.
    async fn fetcher_with_cached_hsk_cek() -> Fetcher {
        let cache = CollateralCache::in_memory();
        let pair = std::fs::read(format!(
            "{TESTDATA}/collateral/csv/hsk_cek/NZA9T14052605/hsk_cek.cert"
        ))
        .unwrap();
        let key =
            crate::collateral::cache::CacheKey::new("hsk_cek/NZA9T14052605/hsk_cek.cert").unwrap();
        cache.put(&key, pair.into()).await.unwrap();
        Fetcher::new(Arc::new(cache), FetchPolicy::default()).unwrap()
    }

    #[tokio::test]
    async fn csv_reads_hsk_cek_from_the_offline_dir() {
        let context =
            VerifierContext::new().with_offline_collateral_dir(format!("{TESTDATA}/collateral"));
        let (evidence, report_data) = csv_case();
        let csv = context.csv(None).unwrap();
        let entries = crate::Verifier::evaluate(
            &csv,
            &evidence,
            &report_data,
            &crate::InitDataHash::NotProvided,
        )
        .await
        .unwrap();
        assert_eq!(entries[0].0.as_map()["serial_number"], "NZA9T14052605");
    }

    #[tokio::test]
    async fn csv_without_a_table_falls_back_to_hygon_kds_through_the_context_fetcher() {
        let context = VerifierContext::new().with_fetcher(fetcher_with_cached_hsk_cek().await);
        let (evidence, report_data) = csv_case();
        let csv = context.csv(None).unwrap();
        let entries = crate::Verifier::evaluate(
            &csv,
            &evidence,
            &report_data,
            &crate::InitDataHash::NotProvided,
        )
        .await
        .unwrap();
        assert_eq!(entries.len(), 1);
    }

    #[tokio::test]
    async fn csv_with_an_explicit_empty_source_list_does_no_lookups() {
        let context = VerifierContext::new().with_fetcher(fetcher_with_cached_hsk_cek().await);
        let (evidence, report_data) = csv_case();
        let table = serde_json::json!({"hsk_cek_sources": []});
        let csv = context.csv(table.as_object()).unwrap();
        let result = crate::Verifier::evaluate(
            &csv,
            &evidence,
            &report_data,
            &crate::InitDataHash::NotProvided,
        )
        .await;
        assert!(result.is_err());
    }

    fn tdx_quote_6() -> (
        crate::collateral::intel::CollateralRequest,
        crate::collateral::intel::DcapCollateral,
    ) {
        use crate::collateral::intel::{CollateralRequest, DcapCollateral, DcapTee, PckCa};
        let request = CollateralRequest {
            tee: DcapTee::Tdx,
            fmspc: [0x00, 0xa0, 0x6d, 0x08, 0x00, 0x00],
            ca: PckCa::Platform,
        };
        let text = std::fs::read_to_string(format!(
            "{TESTDATA}/collateral/intel/bundles/tdx_quote_6.dcap-qvl.json"
        ))
        .unwrap();
        (request, DcapCollateral::from_dcap_qvl_json(&text).unwrap())
    }

    #[tokio::test]
    async fn dcap_collateral_comes_from_the_offline_dirs_intel_bundles() {
        let context = VerifierContext::new()
            .with_clock(Arc::new(FixedClock(1_762_300_800)))
            .with_offline_collateral_dir(format!("{TESTDATA}/collateral"));
        // Even an explicit service is not used offline.
        let table = serde_json::json!({"collateral_service": "http://127.0.0.1:9"});
        let source = context.dcap_collateral(table.as_object()).unwrap();
        let (request, expected) = tdx_quote_6();
        assert_eq!(*source.collateral(&request).await.unwrap(), expected);
    }

    #[tokio::test]
    async fn dcap_collateral_from_a_file_service() {
        let table = serde_json::json!({"collateral_service": format!(
            "file://{TESTDATA}/collateral/intel/bundles/tdx_quote_6.pcs.json"
        )});
        let source = VerifierContext::new()
            .dcap_collateral(table.as_object())
            .unwrap();
        let (request, expected) = tdx_quote_6();
        assert_eq!(*source.collateral(&request).await.unwrap(), expected);
    }

    #[test]
    fn dcap_sources_are_built_once_per_context_and_table() {
        let context = VerifierContext::new();
        let table = serde_json::json!({"collateral_service": "file:///etc/c.json"});
        let other = serde_json::json!({"collateral_service": "file:///etc/d.json"});
        let first = context.dcap_collateral(table.as_object()).unwrap();
        let again = context.clone().dcap_collateral(table.as_object()).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let different = context.dcap_collateral(other.as_object()).unwrap();
        assert!(!Arc::ptr_eq(&first, &different));
        // A source captures the clock: a context with another clock builds its own.
        let reclocked = context.with_clock(Arc::new(FixedClock(0)));
        let rebuilt = reclocked.dcap_collateral(table.as_object()).unwrap();
        assert!(!Arc::ptr_eq(&first, &rebuilt));
    }

    #[test]
    fn invalid_dcap_verifier_table_is_a_config_error() {
        let table = serde_json::json!({"collateral_service": "file:///x", "tcb_updates": "early"});
        let err = VerifierContext::new()
            .dcap_collateral(table.as_object())
            .err()
            .unwrap();
        assert!(
            matches!(&err, Error::InvalidConfig { section: "dcap_verifier", reason } if reason.contains("tcb_updates")),
            "{err:?}"
        );
        // Offline, the table is still checked.
        let err = VerifierContext::new()
            .with_offline_collateral_dir("/srv/collateral")
            .dcap_collateral(table.as_object())
            .err();
        assert!(err.is_some());
    }

    #[test]
    fn custom_fetcher_replaces_the_shared_one() {
        let dir = PathBuf::from("/var/cache/kbs-collateral");
        let fetcher = Fetcher::new(
            Arc::new(CollateralCache::persistent(&dir)),
            FetchPolicy::default(),
        )
        .unwrap();
        let context = VerifierContext::new().with_fetcher(fetcher);
        assert_eq!(
            context.fetcher().unwrap().cache().dir(),
            Some(dir.as_path())
        );
        assert_eq!(
            VerifierContext::new().fetcher().unwrap().cache().dir(),
            None
        );
    }
}
