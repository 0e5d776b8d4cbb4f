//! KDS URL scheme and caching, against a KDS stand-in on 127.0.0.1 (no network).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use tokio::net::TcpListener;

use super::*;
use crate::collateral::cache::CollateralCache;
use crate::collateral::fetch::{FetchError, FetchPolicy};

const MILAN_CHIP: &str = "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f\
                          8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e";

/// The real VCEK of that chip at [`milan_tcb`], from the shared test data's offline store.
const VCEK: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/collateral/amd/kds-store/vcek/",
    "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f",
    "8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e",
    "/bl03_tee00_snp08_ucode115_vcek.der"
));

fn chip() -> [u8; 64] {
    hex::decode(MILAN_CHIP).unwrap().try_into().unwrap()
}

fn milan_tcb() -> TcbVersion {
    TcbVersion {
        fmc: None,
        bootloader: 3,
        tee: 0,
        snp: 8,
        microcode: 115,
    }
}

fn source(base_url: &str, cache: CollateralCache) -> KdsVcekSource {
    KdsVcekSource::new(
        base_url,
        Fetcher::new(Arc::new(cache), FetchPolicy::default()).unwrap(),
    )
}

/// A KDS stand-in answering every request with `status` and `body`, recording request URIs.
async fn kds(status: StatusCode, body: &'static [u8]) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = Router::new().fallback(move |request: Request| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push(request.uri().to_string());
            (status, body).into_response()
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

#[test]
fn milan_url_carries_the_whole_chip_id_and_four_spls() {
    let kds = source(DEFAULT_KDS_BASE_URL, CollateralCache::in_memory());
    assert_eq!(
        kds.vcek_url(Product::Milan, &chip(), &milan_tcb()),
        format!(
            "https://kdsintf.amd.com/vcek/v1/Milan/{MILAN_CHIP}\
             ?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115"
        )
    );
}

#[test]
fn turin_url_truncates_the_chip_id_to_8_bytes_and_adds_fmc_first() {
    let kds = source("https://kds.example/", CollateralCache::in_memory());
    let tcb = TcbVersion {
        fmc: Some(1),
        bootloader: 2,
        tee: 3,
        snp: 4,
        microcode: 5,
    };
    assert_eq!(
        kds.vcek_url(Product::Turin, &chip(), &tcb),
        "https://kds.example/vcek/v1/Turin/c38427a30d4c7af9\
         ?fmcSPL=01&blSPL=02&teeSPL=03&snpSPL=04&ucodeSPL=05"
    );
    assert_eq!(kds.base_url(), "https://kds.example");
}

#[test]
fn genoa_url_names_genoa() {
    let kds = source("http://mirror", CollateralCache::in_memory());
    let url = kds.vcek_url(Product::Genoa, &chip(), &milan_tcb());
    assert!(
        url.starts_with(&format!(
            "http://mirror/vcek/v1/Genoa/{MILAN_CHIP}?blSPL=03"
        )),
        "{url}"
    );
}

#[tokio::test]
async fn fetched_vcek_is_cached_in_the_offline_store_layout() {
    let (base, seen) = kds(StatusCode::OK, VCEK).await;
    let dir = tempfile::tempdir().unwrap();
    let der = source(&base, CollateralCache::persistent(dir.path()))
        .vek(Product::Milan, &chip(), &milan_tcb())
        .await
        .unwrap();
    assert_eq!(der, VCEK);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![format!(
            "/vcek/v1/Milan/{MILAN_CHIP}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115"
        )]
    );
    // The same file name the shared test data's offline store uses for this VCEK.
    let stored = dir.path().join(format!(
        "vcek/{MILAN_CHIP}/bl03_tee00_snp08_ucode115_vcek.der"
    ));
    assert_eq!(std::fs::read(stored).unwrap(), VCEK);

    // A restarted verifier finds it without asking the KDS again.
    let again = source(&base, CollateralCache::persistent(dir.path()))
        .vek(Product::Milan, &chip(), &milan_tcb())
        .await
        .unwrap();
    assert_eq!(again, VCEK);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn turin_cache_key_includes_fmc() {
    let (base, _) = kds(StatusCode::OK, VCEK).await;
    let dir = tempfile::tempdir().unwrap();
    let tcb = TcbVersion {
        fmc: Some(1),
        ..milan_tcb()
    };
    source(&base, CollateralCache::persistent(dir.path()))
        .vek(Product::Turin, &chip(), &tcb)
        .await
        .unwrap();
    assert!(
        dir.path()
            .join("vcek/c38427a30d4c7af9/bl03_tee00_snp08_ucode115_fmc01_vcek.der")
            .is_file()
    );
}

#[tokio::test]
async fn masked_chip_id_is_refused_without_a_request() {
    let (base, seen) = kds(StatusCode::OK, b"x").await;
    let err = source(&base, CollateralCache::in_memory())
        .vek(Product::Milan, &[0; 64], &milan_tcb())
        .await
        .unwrap_err();
    assert!(
        matches!(err, CollateralError::BadRequest { what: "vcek", .. }),
        "{err:?}"
    );
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_chip_is_a_fetch_error_naming_the_status_and_url() {
    let (base, _) = kds(StatusCode::NOT_FOUND, b"").await;
    let kds = source(&base, CollateralCache::in_memory());
    let err = kds
        .vek(Product::Milan, &chip(), &milan_tcb())
        .await
        .unwrap_err();
    let url = kds.vcek_url(Product::Milan, &chip(), &milan_tcb());
    assert_eq!(
        err,
        CollateralError::Fetch(FetchError::Status {
            url: url.clone(),
            status: 404
        })
    );
    assert_eq!(
        err.to_string(),
        format!("collateral server answered http 404 for {url}")
    );
}

#[tokio::test]
async fn configured_kds_source_asks_the_configured_base_url() {
    let (base, seen) = kds(StatusCode::OK, VCEK).await;
    let source = super::super::vcek_source_from_config(&super::super::VcekSourceConfig::Kds {
        base_url: Some(format!("{base}/")),
    });
    let der = source
        .vek(Product::Milan, &chip(), &milan_tcb())
        .await
        .unwrap();
    assert_eq!(der, VCEK);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn unavailable_client_reports_why_on_every_lookup() {
    let source = KdsUnavailable(FetchError::Client {
        reason: "no tls roots".into(),
    });
    let err = source
        .vek(Product::Milan, &chip(), &milan_tcb())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not build the collateral http client: no tls roots"
    );
}

#[tokio::test]
async fn error_page_answered_with_200_is_refused_and_not_cached() {
    let (base, seen) = kds(StatusCode::OK, b"<html>try again later</html>").await;
    let dir = tempfile::tempdir().unwrap();
    let kds = source(&base, CollateralCache::persistent(dir.path()));
    let err = kds
        .vek(Product::Milan, &chip(), &milan_tcb())
        .await
        .unwrap_err();
    let url = kds.vcek_url(Product::Milan, &chip(), &milan_tcb());
    assert_eq!(
        err,
        CollateralError::Fetch(FetchError::Unexpected {
            url,
            expected: "a DER certificate"
        })
    );
    // Not cached: the next lookup asks again.
    let _ = kds.vek(Product::Milan, &chip(), &milan_tcb()).await;
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn vcek_shape_is_one_whole_der_sequence() {
    assert!((VCEK_SHAPE.accepts)(VCEK));
    assert!(!(VCEK_SHAPE.accepts)(&VCEK[..VCEK.len() - 1]));
    assert!(!(VCEK_SHAPE.accepts)(b"-----BEGIN CERTIFICATE-----"));
    assert!(!(VCEK_SHAPE.accepts)(&[0x30, 0x82]));
    assert!(!(VCEK_SHAPE.accepts)(b""));
}
