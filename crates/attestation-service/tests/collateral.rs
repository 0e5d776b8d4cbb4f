#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The verifiers run in the service's context: its clock is their verification time, and the
//! VCEKs they download are kept in `collateral_cache_dir` across restarts.

use std::sync::Arc;

use attestation_service::{AsConfig, AttestationService, Error, RuntimeData, VerificationRequest};
use kbs_types::{HashAlgorithm, Tee};
use serde_json::{Value, json};
use storage::{StorageConfig, StorageProvider};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");
/// The manifest's verification time, 2025-06-01T00:00:00Z.
const VERIFICATION_TIME: i64 = 1_748_736_000;
/// The Genoa chip of `e2e-evidence.no-cert-chain.json` and the VCEK's cache key below it.
const CHIP: &str = "371c55d6d15cb50f16dc31d39a24e300caaabff4431e841111429b73ec45ad67\
                    ea6e687ffae7bf84b54a5d0e6d79b3ef6ff0bd8b4cff94c2163af5c5de8718e8";
const VCEK_FILE: &str = "bl10_tee00_snp23_ucode25_vcek.der";
const REPORT_DATA: &str = "7e7320889600c7ac133aea7b896c51f41026002982292a7369559796999c1bf9\
                           29eef3ff23c46e858f0b1982f9a92b17c51b578d958cde6b0c92978f150cf9b0";

fn vcek() -> Vec<u8> {
    std::fs::read(format!(
        "{TESTDATA}/collateral/amd/kds-store/vcek/{CHIP}/{VCEK_FILE}"
    ))
    .unwrap()
}

/// Evidence without a certificate table: the VCEK must come from a VCEK source.
fn request() -> VerificationRequest {
    let path = format!("{TESTDATA}/wrapped/snp/e2e-evidence.no-cert-chain.json");
    let evidence: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    VerificationRequest {
        tee: Tee::Snp,
        evidence,
        runtime_data: Some(RuntimeData::Raw(hex::decode(REPORT_DATA).unwrap())),
        runtime_data_hash_algorithm: HashAlgorithm::Sha384,
        init_data: None,
    }
}

/// A service with `collateral_cache_dir = cache_dir` whose only VCEK source is a KDS at
/// `kds_url`, verifying at `unix`.
async fn service(cache_dir: &std::path::Path, kds_url: &str, unix: i64) -> AttestationService {
    let config: AsConfig = serde_json::from_value(json!({
        "collateral_cache_dir": cache_dir,
        "verifier_config": {"snp_verifier": {"vcek_sources": [{"type": "KDS", "base_url": kds_url}]}},
    }))
    .unwrap();
    let storage = StorageProvider::new(&StorageConfig::default()).unwrap();
    let at = OffsetDateTime::from_unix_timestamp(unix).unwrap();
    AttestationService::new(config, &storage)
        .await
        .unwrap()
        .with_clock(Arc::new(move || at))
}

/// A loopback "KDS" that answers every request with `body`, and counts the requests.
async fn fake_kds(body: Vec<u8>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&served);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.write_all(&body).await.unwrap();
        }
    });
    (url, served)
}

fn policy() -> Vec<String> {
    vec!["default".to_owned()]
}

#[tokio::test]
async fn downloaded_vceks_are_kept_in_the_cache_dir_and_reused_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (url, served) = fake_kds(vcek()).await;
    let first = service(dir.path(), &url, VERIFICATION_TIME).await;
    first.evaluate(vec![request()], &policy()).await.unwrap();
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
    let cached = dir.path().join("vcek").join(CHIP).join(VCEK_FILE);
    assert_eq!(std::fs::read(&cached).unwrap(), vcek());
    drop(first);

    // A restarted service whose KDS is gone still verifies, from the directory alone. (Port 9
    // on loopback is "discard"; nothing is asked there while the cache holds the VCEK.)
    let restarted = service(dir.path(), "http://127.0.0.1:9", VERIFICATION_TIME).await;
    restarted
        .evaluate(vec![request()], &policy())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_service_clock_is_the_verification_time() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("vcek").join(CHIP)).unwrap();
    std::fs::write(dir.path().join("vcek").join(CHIP).join(VCEK_FILE), vcek()).unwrap();
    // 2020-01-01: before the VCEK was issued.
    let early = service(dir.path(), "http://127.0.0.1:9", 1_577_836_800).await;
    let err = early
        .evaluate(vec![request()], &policy())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Verifier {
                tee: Tee::Snp,
                source: verifier::Error::Snp(verifier::snp::SnpError::CertificateValidity {
                    now: 1_577_836_800,
                    ..
                }),
            }
        ),
        "{err:?}"
    );
}
