//! Hygon's key distribution service as an [`HskCekSource`] (verifiers spec §8.2 step 1).
//!
//! `GET <base_url>/hsk_cek?snumber=<chip serial>` answers the chip's HSK certificate followed
//! by its CEK certificate (2916 bytes). Responses are cached through a [`Fetcher`] under the
//! Hygon offline-store layout (`hsk_cek/<serial>/hsk_cek.cert`), so a cache directory filled
//! online can serve later as a `csv` offline store. Nothing here is trusted: the csv verifier
//! checks the pair against the embedded HRK and the evidence's PEK.

use async_trait::async_trait;

use crate::collateral::CollateralError;
use crate::collateral::cache::CacheKey;
use crate::collateral::fetch::{BodyCheck, FetchError, Fetcher};
use crate::collateral::hygon::HskCekSource;
use crate::csv::{ChipSerial, HSK_CEK_LEN};

/// Hygon's public KDS.
pub const DEFAULT_HYGON_KDS_BASE_URL: &str = "https://cert.hygon.cn";

/// An HSK/CEK pair is two fixed-size certificates; any other length (an error page) is
/// refused before it is cached.
const HSK_CEK_SHAPE: BodyCheck = BodyCheck {
    expected: "an hsk and cek certificate pair",
    accepts: |body| body.len() == HSK_CEK_LEN,
};

/// Fetches chips' HSK/CEK pairs from Hygon's KDS (or a mirror at another base URL).
#[derive(Debug, Clone)]
pub struct HygonKdsSource {
    base_url: String,
    fetcher: Fetcher,
}

impl HygonKdsSource {
    /// A source asking the KDS at `base_url` (e.g. [`DEFAULT_HYGON_KDS_BASE_URL`]) through
    /// `fetcher`.
    pub fn new(base_url: impl Into<String>, fetcher: Fetcher) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self { base_url, fetcher }
    }

    /// The URL of chip `serial`'s pair. The serial is alphanumeric ([`ChipSerial`]), so it
    /// needs no escaping and cannot add query parameters.
    pub fn hsk_cek_url(&self, serial: &ChipSerial) -> String {
        format!("{}/hsk_cek?snumber={}", self.base_url, serial.as_str())
    }
}

#[async_trait]
impl HskCekSource for HygonKdsSource {
    async fn hsk_cek(&self, serial: &ChipSerial) -> Result<Vec<u8>, CollateralError> {
        let key = CacheKey::new(format!("hsk_cek/{}/hsk_cek.cert", serial.as_str()))
            .map_err(FetchError::from)?;
        let url = self.hsk_cek_url(serial);
        let pair = self
            .fetcher
            .fetch_checked(&key, &url, HSK_CEK_SHAPE)
            .await?;
        Ok(pair.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::Request;
    use tokio::net::TcpListener;

    use super::*;
    use crate::collateral::cache::CollateralCache;
    use crate::collateral::fetch::FetchPolicy;

    const COLLATERAL: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/collateral/csv"
    );

    fn serial() -> ChipSerial {
        ChipSerial::new("NZA9T14052605").unwrap()
    }

    fn pair() -> Vec<u8> {
        std::fs::read(format!("{COLLATERAL}/hsk_cek/NZA9T14052605/hsk_cek.cert")).unwrap()
    }

    fn source(base_url: &str, cache: CollateralCache) -> HygonKdsSource {
        let fetcher = Fetcher::new(Arc::new(cache), FetchPolicy::default()).unwrap();
        HygonKdsSource::new(base_url, fetcher)
    }

    /// A Hygon KDS stand-in answering `body` with 200, recording request URIs.
    async fn kds(body: Vec<u8>) -> (String, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let app = Router::new().fallback(move |request: Request| {
            let (record, body) = (record.clone(), body.clone());
            async move {
                record.lock().unwrap().push(request.uri().to_string());
                body
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, seen)
    }

    #[test]
    fn url_names_the_serial_as_upstream_does() {
        let kds = source(DEFAULT_HYGON_KDS_BASE_URL, CollateralCache::in_memory());
        assert_eq!(
            kds.hsk_cek_url(&serial()),
            "https://cert.hygon.cn/hsk_cek?snumber=NZA9T14052605"
        );
        let mirror = source("http://mirror/", CollateralCache::in_memory());
        assert_eq!(
            mirror.hsk_cek_url(&serial()),
            "http://mirror/hsk_cek?snumber=NZA9T14052605"
        );
    }

    #[tokio::test]
    async fn fetched_pair_is_cached_in_the_offline_store_layout() {
        let (base, seen) = kds(pair()).await;
        let dir = tempfile::tempdir().unwrap();
        let got = source(&base, CollateralCache::persistent(dir.path()))
            .hsk_cek(&serial())
            .await
            .unwrap();
        assert_eq!(got, pair());
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["/hsk_cek?snumber=NZA9T14052605"]
        );
        let stored = dir.path().join("hsk_cek/NZA9T14052605/hsk_cek.cert");
        assert_eq!(std::fs::read(stored).unwrap(), pair());

        // The cache directory now works as the csv verifier's offline store.
        let store = crate::collateral::hygon::OfflineStore::new(dir.path());
        assert_eq!(store.hsk_cek(&serial()).await.unwrap(), pair());
        let again = source(&base, CollateralCache::persistent(dir.path()))
            .hsk_cek(&serial())
            .await
            .unwrap();
        assert_eq!(again, pair());
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn body_of_the_wrong_length_is_refused_and_not_cached() {
        let (base, _) = kds(b"<html>maintenance</html>".to_vec()).await;
        let dir = tempfile::tempdir().unwrap();
        let kds = source(&base, CollateralCache::persistent(dir.path()));
        let err = kds.hsk_cek(&serial()).await.unwrap_err();
        assert_eq!(
            err,
            CollateralError::Fetch(FetchError::Unexpected {
                url: kds.hsk_cek_url(&serial()),
                expected: "an hsk and cek certificate pair"
            })
        );
        assert!(!dir.path().join("hsk_cek").exists());
    }
}
