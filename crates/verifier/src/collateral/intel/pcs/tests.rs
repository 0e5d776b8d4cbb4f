//! The PCS/PCCS source against a stand-in PCCS on 127.0.0.1 serving the shared test data's
//! collateral with PCS's headers (no network).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::*;
use crate::FixedClock;
use crate::collateral::cache::CollateralCache;
use crate::collateral::fetch::FetchPolicy;
use crate::collateral::intel::IntelCollateralError;
use crate::collateral::intel::tests::{qvl, request_for, url_encoded_chain};

/// A stand-in PCCS serving one bundle's collateral.
struct Pccs {
    base: String,
    seen: Arc<StdMutex<Vec<String>>>,
    release: watch::Sender<bool>,
    /// The status answered from now on.
    status: Arc<AtomicU16>,
}

#[derive(Clone)]
struct Serving {
    collateral: DcapCollateral,
    /// Status for every request (200 serves the collateral).
    status: u16,
    /// Whether the issuer-chain headers are sent.
    headers: bool,
}

impl Pccs {
    async fn start(serving: Serving, held: bool) -> Self {
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let (release, released) = watch::channel(!held);
        let record = seen.clone();
        let status = Arc::new(AtomicU16::new(serving.status));
        let current = status.clone();
        let app = Router::new().fallback(move |request: Request| {
            let (record, mut serving, mut released) =
                (record.clone(), serving.clone(), released.clone());
            serving.status = current.load(Ordering::SeqCst);
            async move {
                let uri = request.uri().to_string();
                record.lock().unwrap().push(uri.clone());
                let _ = released.wait_for(|open| *open).await;
                respond(&serving, &uri)
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base,
            seen,
            release,
            status,
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

fn respond(serving: &Serving, uri: &str) -> Response {
    let c = &serving.collateral;
    let mut builder = Response::builder().status(StatusCode::from_u16(serving.status).unwrap());
    if serving.status != 200 {
        return builder.body(Body::empty()).unwrap();
    }
    let (header, chain, body): (&str, &[Vec<u8>], Vec<u8>) = if uri.contains("/tcb?") {
        let body = format!(
            r#"{{"tcbInfo":{},"signature":"{}"}}"#,
            c.tcb_info,
            hex::encode(&c.tcb_info_signature)
        );
        (
            "TCB-Info-Issuer-Chain",
            &c.tcb_info_issuer_chain,
            body.into(),
        )
    } else if uri.contains("/qe/identity") {
        let body = format!(
            r#"{{"enclaveIdentity":{},"signature":"{}"}}"#,
            c.qe_identity,
            hex::encode(&c.qe_identity_signature)
        );
        (
            "SGX-Enclave-Identity-Issuer-Chain",
            &c.qe_identity_issuer_chain,
            body.into(),
        )
    } else if uri.contains("/pckcrl?") {
        (
            "SGX-PCK-CRL-Issuer-Chain",
            &c.pck_crl_issuer_chain,
            c.pck_crl.clone(),
        )
    } else if uri.ends_with("/rootcacrl") {
        // PCCS answers the Root CA CRL as hex text.
        ("", &[], hex::encode(&c.root_ca_crl).into_bytes())
    } else {
        return builder
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap();
    };
    if serving.headers && !header.is_empty() {
        builder = builder.header(header, url_encoded_chain(chain));
    }
    builder.body(Body::from(body)).unwrap()
}

fn serving(name: &str) -> Serving {
    Serving {
        collateral: qvl(name),
        status: 200,
        headers: true,
    }
}

fn unix(rfc3339: &str) -> u64 {
    let at = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap();
    u64::try_from(at.unix_timestamp()).unwrap()
}

fn quick_policy() -> FetchPolicy {
    FetchPolicy {
        max_attempts: 1,
        not_found_ttl: Duration::ZERO,
        ..FetchPolicy::default()
    }
}

fn fetcher(cache: CollateralCache) -> Fetcher {
    Fetcher::new(Arc::new(cache), quick_policy()).unwrap()
}

fn pccs_source(base: &str, fetcher: Fetcher, at: &str) -> PcsSource {
    PcsSource::new(
        base,
        ServiceKind::Pccs,
        TcbUpdateType::Early,
        fetcher,
        Arc::new(FixedClock(unix(at))),
    )
}

#[tokio::test]
async fn a_pccs_serves_the_test_data_collateral() {
    for (name, at) in [
        ("tdx_quote_4", "2023-06-28T00:00:00Z"),
        ("occlum_quote", "2025-09-01T00:00:00Z"),
    ] {
        let pccs = Pccs::start(serving(name), false).await;
        let source = pccs_source(&pccs.base, fetcher(CollateralCache::in_memory()), at);
        let request = request_for(name);
        let got = source.collateral(&request).await.unwrap();
        assert_eq!(*got, qvl(name), "{name}");

        let tee = request.tee.path_segment();
        let mut seen = pccs.seen();
        seen.sort();
        let mut expected = vec![
            format!(
                "/{tee}/certification/v4/tcb?fmspc={}&update=early",
                request.fmspc_hex()
            ),
            format!("/{tee}/certification/v4/qe/identity?update=early"),
            "/sgx/certification/v4/pckcrl?ca=platform&encoding=der".to_owned(),
            "/sgx/certification/v4/rootcacrl".to_owned(),
        ];
        expected.sort();
        assert_eq!(seen, expected, "{name}");
    }
}

#[tokio::test]
async fn two_concurrent_misses_make_one_request_per_item() {
    let pccs = Pccs::start(serving("tdx_quote_6"), true).await;
    let source = Arc::new(pccs_source(
        &pccs.base,
        fetcher(CollateralCache::in_memory()),
        "2025-11-05T00:00:00Z",
    ));
    let request = request_for("tdx_quote_6");
    let first = tokio::spawn({
        let source = source.clone();
        async move { source.collateral(&request).await }
    });
    let second = tokio::spawn({
        let source = source.clone();
        async move { source.collateral(&request).await }
    });
    // Both callers are waiting once the three first downloads reached the server and a
    // moment has passed; a second download of any item would show up as a fourth hit.
    while pccs.hits() < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pccs.hits(), 3);
    pccs.release.send(true).unwrap();
    let (first, second) = (
        first.await.unwrap().unwrap(),
        second.await.unwrap().unwrap(),
    );
    assert_eq!(*first, qvl("tdx_quote_6"));
    assert_eq!(first, second);
    assert_eq!(
        pccs.hits(),
        4,
        "tcb info, qe identity, pck crl, root ca crl"
    );
}

#[tokio::test]
async fn a_500_from_the_first_service_falls_through_to_the_second() {
    let broken = Pccs::start(
        Serving {
            status: 500,
            ..serving("tdx_quote_4")
        },
        false,
    )
    .await;
    let working = Pccs::start(serving("tdx_quote_4"), false).await;
    let config = crate::collateral::intel::DcapVerifierConfig::from_table(
        serde_json::json!({"collateral_service": [broken.base, working.base]}).as_object(),
    )
    .unwrap();
    let cache = CollateralCache::in_memory();
    let fetcher = fetcher(cache);
    let source = config
        .sources(
            || Ok(fetcher.clone()),
            Arc::new(FixedClock(unix("2023-06-28T00:00:00Z"))),
        )
        .unwrap();
    let got = source
        .collateral(&request_for("tdx_quote_4"))
        .await
        .unwrap();
    assert_eq!(*got, qvl("tdx_quote_4"));
    assert!(broken.hits() >= 1);
    assert_eq!(working.hits(), 4);
}

#[tokio::test]
async fn when_every_service_fails_the_error_lists_each() {
    let broken = Pccs::start(
        Serving {
            status: 500,
            ..serving("tdx_quote_4")
        },
        false,
    )
    .await;
    let config = crate::collateral::intel::DcapVerifierConfig::from_table(
        serde_json::json!({"collateral_service": [broken.base, "file:///nonexistent/c.json"]})
            .as_object(),
    )
    .unwrap();
    let fetcher = fetcher(CollateralCache::in_memory());
    let source = config
        .sources(|| Ok(fetcher.clone()), Arc::new(FixedClock(0)))
        .unwrap();
    let err = source
        .collateral(&request_for("tdx_quote_4"))
        .await
        .unwrap_err();
    let CollateralError::Intel(IntelCollateralError::AllSourcesFailed { failures, .. }) = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(failures[0].contains("http 500"), "{}", failures[0]);
    assert!(
        failures[1].contains("/nonexistent/c.json"),
        "{}",
        failures[1]
    );
}

#[tokio::test]
async fn cached_items_are_reused_until_their_next_update() {
    let pccs = Pccs::start(serving("tdx_quote_4"), false).await;
    let dir = tempfile::tempdir().unwrap();
    let request = request_for("tdx_quote_4");
    let source = pccs_source(
        &pccs.base,
        fetcher(CollateralCache::persistent(dir.path())),
        "2023-06-28T00:00:00Z",
    );
    source.collateral(&request).await.unwrap();
    assert_eq!(pccs.hits(), 4);

    // A restarted verifier (new fetcher, same cache directory) asks nothing.
    let restarted = pccs_source(
        &pccs.base,
        fetcher(CollateralCache::persistent(dir.path())),
        "2023-06-28T00:00:00Z",
    );
    assert_eq!(
        *restarted.collateral(&request).await.unwrap(),
        qvl("tdx_quote_4")
    );
    assert_eq!(pccs.hits(), 4);

    // Past the QE identity's (07-08T07:24:59Z) and the PCK CRL's (07:27:52Z) nextUpdate, but
    // not the TCB info's (07-18) or the Root CA CRL's (2024): only those two are fetched again.
    let later = pccs_source(
        &pccs.base,
        fetcher(CollateralCache::persistent(dir.path())),
        "2023-07-08T08:00:00Z",
    );
    later.collateral(&request).await.unwrap();
    let seen = pccs.seen();
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(seen[4..].iter().any(|uri| uri.contains("/qe/identity")));
    assert!(seen[4..].iter().any(|uri| uri.contains("/pckcrl")));
}

#[tokio::test]
async fn the_decoded_collateral_is_kept_in_memory() {
    let pccs = Pccs::start(serving("tdx_quote_4"), false).await;
    let cache = Arc::new(CollateralCache::in_memory());
    let fetcher = Fetcher::new(cache.clone(), quick_policy()).unwrap();
    let source = pccs_source(&pccs.base, fetcher, "2023-06-28T00:00:00Z");
    let request = request_for("tdx_quote_4");
    let first = source.collateral(&request).await.unwrap();
    let second = source.collateral(&request).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(pccs.hits(), 4);
}

#[tokio::test]
async fn a_response_without_its_issuer_chain_is_refused_and_not_cached() {
    let pccs = Pccs::start(
        Serving {
            headers: false,
            ..serving("tdx_quote_4")
        },
        false,
    )
    .await;
    let cache = Arc::new(CollateralCache::in_memory());
    let fetcher = Fetcher::new(cache.clone(), quick_policy()).unwrap();
    let source = pccs_source(&pccs.base, fetcher, "2023-06-28T00:00:00Z");
    let err = source
        .collateral(&request_for("tdx_quote_4"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            CollateralError::Fetch(FetchError::Unexpected { expected, .. })
                if expected.ends_with("with its issuer chain")
        ),
        "{err:?}"
    );
    let keys = cache.keys().await.unwrap();
    assert!(
        keys.iter().all(|key| !key.as_str().contains("/tcb/")),
        "{keys:?}"
    );
}

#[tokio::test]
async fn stale_cached_collateral_is_the_last_resort() {
    let pccs = Pccs::start(serving("tdx_quote_4"), false).await;
    let cache = Arc::new(CollateralCache::in_memory());
    let fetcher = Fetcher::new(cache, quick_policy()).unwrap();
    let request = request_for("tdx_quote_4");
    pccs_source(&pccs.base, fetcher.clone(), "2023-06-28T00:00:00Z")
        .collateral(&request)
        .await
        .unwrap();

    // A year later the service is down: the list answers with what the cache holds.
    pccs.status.store(503, Ordering::SeqCst);
    let config = crate::collateral::intel::DcapVerifierConfig::from_table(
        serde_json::json!({"collateral_service": pccs.base}).as_object(),
    )
    .unwrap();
    let source = config
        .sources(
            || Ok(fetcher.clone()),
            Arc::new(FixedClock(unix("2024-07-01T00:00:00Z"))),
        )
        .unwrap();
    assert_eq!(
        *source.collateral(&request).await.unwrap(),
        qvl("tdx_quote_4")
    );
    assert!(pccs.hits() > 4, "the service was asked first");
}

#[test]
fn urls_follow_the_pcs_api() {
    let fetcher = fetcher(CollateralCache::in_memory());
    let source = PcsSource::new(
        "https://api.trustedservices.intel.com/sgx/certification/v4/",
        ServiceKind::IntelPcs,
        TcbUpdateType::Standard,
        fetcher,
        Arc::new(FixedClock(0)),
    );
    assert_eq!(source.base_url(), "https://api.trustedservices.intel.com");
    let request = CollateralRequest {
        tee: DcapTee::Tdx,
        fmspc: [0x90, 0xc0, 0x6f, 0, 0, 0],
        ca: PckCa::Processor,
    };
    assert_eq!(
        source.tcb_info_url(&request),
        "https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=90C06F000000&update=standard"
    );
    assert_eq!(
        source.qe_identity_url(DcapTee::Sgx),
        "https://api.trustedservices.intel.com/sgx/certification/v4/qe/identity?update=standard"
    );
    assert_eq!(
        source.pck_crl_url(PckCa::Processor),
        "https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=processor&encoding=der"
    );
    assert_eq!(normalise_base_url("http://pccs:8081/"), "http://pccs:8081");
    assert_eq!(
        normalise_base_url("http://pccs:8081/tdx/certification/v4"),
        "http://pccs:8081"
    );
}

#[test]
fn each_service_has_its_own_cache_directory() {
    assert_eq!(
        cache_dir_name("https://api.trustedservices.intel.com"),
        "api.trustedservices.intel.com"
    );
    assert_eq!(
        cache_dir_name("http://127.0.0.1:8081/pccs"),
        "127.0.0.1_8081_pccs"
    );
    let request = request_for("tdx_quote_4");
    let fetcher = fetcher(CollateralCache::in_memory());
    let source = pccs_source("http://[::1]:8081/", fetcher, "2023-06-28T00:00:00Z");
    assert_eq!(
        source.key(Item::TcbInfo, &request).unwrap().as_str(),
        "intel/___1__8081/tcb/tdx/50806F000000-early.json"
    );
}

#[test]
fn the_intel_root_names_its_crl_distribution_point() {
    let root = qvl("tdx_quote_4").pck_crl_issuer_chain.pop().unwrap();
    assert_eq!(
        crl_distribution_point(&root).as_deref(),
        Some("https://certificates.trustedservices.intel.com/IntelSGXRootCA.der")
    );
    assert_eq!(crl_distribution_point(b"not a certificate"), None);
}

#[test]
fn the_root_ca_crl_comes_from_the_cdp_on_intel_pcs_and_the_endpoint_on_a_pccs() {
    let chain = qvl("tdx_quote_4").pck_crl_issuer_chain;
    let source = |kind| {
        PcsSource::new(
            "https://pcs.example/sgx/certification/v4/",
            kind,
            TcbUpdateType::Early,
            fetcher(CollateralCache::in_memory()),
            Arc::new(FixedClock(0)),
        )
    };
    assert_eq!(
        source(ServiceKind::IntelPcs)
            .root_ca_crl_url(&chain, "u")
            .unwrap(),
        "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
    );
    assert_eq!(
        source(ServiceKind::Pccs)
            .root_ca_crl_url(&chain, "u")
            .unwrap(),
        "https://pcs.example/sgx/certification/v4/rootcacrl"
    );
    // Without a root certificate naming a distribution point there is no Root CA CRL URL.
    let err = source(ServiceKind::IntelPcs)
        .root_ca_crl_url(&[b"not a certificate".to_vec()], "u")
        .unwrap_err();
    assert!(
        matches!(
            &err,
            CollateralError::Intel(IntelCollateralError::Malformed {
                what: "pck crl issuer chain",
                ..
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_tcb_info_without_next_update_is_refused_and_not_cached() {
    let mut serving = serving("tdx_quote_4");
    serving.collateral.tcb_info = serving
        .collateral
        .tcb_info
        .replace("\"nextUpdate\"", "\"nextUpdat\"");
    let pccs = Pccs::start(serving, false).await;
    let cache = Arc::new(CollateralCache::in_memory());
    let fetcher = Fetcher::new(cache.clone(), quick_policy()).unwrap();
    let source = pccs_source(&pccs.base, fetcher, "2023-06-28T00:00:00Z");
    let err = source
        .collateral(&request_for("tdx_quote_4"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            CollateralError::Fetch(FetchError::Unexpected { url, expected: "a TCB info with its issuer chain" })
                if url.contains("/tcb?")
        ),
        "{err:?}"
    );
    let keys = cache.keys().await.unwrap();
    assert!(
        keys.iter().all(|key| !key.as_str().contains("/tcb/")),
        "{keys:?}"
    );
}
