//! Offline file and directory sources on the shared test data's bundles.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::FixedClock;
use crate::collateral::intel::tests::{BUNDLES, bundle_text, qvl, request_for};
use crate::test_support::shared_path;

fn unix(rfc3339: &str) -> u64 {
    let at = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap();
    u64::try_from(at.unix_timestamp()).unwrap()
}

fn clock(at: &str) -> Arc<dyn Clock> {
    Arc::new(FixedClock(unix(at)))
}

/// Replaces `path` atomically with `text`, as an operator refreshing collateral would.
fn replace(path: &Path, text: &str) {
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

#[tokio::test]
async fn a_file_in_either_format_serves_its_quote() {
    for name in BUNDLES {
        for format in ["pcs", "dcap-qvl"] {
            let path = shared_path(&format!("collateral/intel/bundles/{name}.{format}.json"));
            let source = FileSource::new(path, TcbUpdateType::Early);
            let got = source.collateral(&request_for(name)).await.unwrap();
            assert_eq!(*got, qvl(name), "{name} {format}");
        }
    }
}

#[tokio::test]
async fn a_file_is_parsed_once_and_re_read_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collateral.json");
    replace(&path, &bundle_text("tdx_quote_4", "pcs"));
    let source = FileSource::new(&path, TcbUpdateType::Early);
    let first = source
        .collateral(&request_for("tdx_quote_4"))
        .await
        .unwrap();
    let again = source
        .collateral(&request_for("tdx_quote_4"))
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&first, &again), "answered from the parsed file");

    replace(&path, &bundle_text("tdx_quote_5", "pcs"));
    let got = source
        .collateral(&request_for("tdx_quote_5"))
        .await
        .unwrap();
    assert_eq!(*got, qvl("tdx_quote_5"));
    let err = source
        .collateral(&request_for("tdx_quote_4"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CollateralError::Intel(IntelCollateralError::NotFound { .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_or_broken_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collateral.json");
    let source = FileSource::new(&path, TcbUpdateType::Early);
    let err = source
        .collateral(&request_for("tdx_quote_4"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CollateralError::Io { path: p, kind: io::ErrorKind::NotFound } if *p == path),
        "{err:?}"
    );
    replace(&path, "{\"collaterals\": 5}");
    let err = source
        .collateral(&request_for("tdx_quote_4"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("collateral.json"),
        "names the file: {err}"
    );
}

#[tokio::test]
async fn the_test_data_bundle_directory_serves_every_quote() {
    let source = DirSource::new(
        shared_path("collateral/intel/bundles"),
        TcbUpdateType::Early,
        clock("2025-11-05T00:00:00Z"),
    );
    for name in BUNDLES {
        let got = source.collateral(&request_for(name)).await.unwrap();
        assert_eq!(*got, qvl(name), "{name}");
    }
}

/// A copy of tdx_quote_4's dcap-qvl bundle whose TCB info claims to be issued `issued`
/// (the signature no longer verifies; the directory does not care, the verifier would).
fn reissued_tdx_quote_4(issued: &str) -> String {
    bundle_text("tdx_quote_4", "dcap-qvl").replace("2023-06-18T08:42:58Z", issued)
}

#[tokio::test]
async fn the_bundle_current_at_the_verification_time_wins() {
    let dir = tempfile::tempdir().unwrap();
    replace(
        &dir.path().join("a.json"),
        &bundle_text("tdx_quote_4", "dcap-qvl"),
    );
    replace(
        &dir.path().join("b.json"),
        &reissued_tdx_quote_4("2024-06-18T08:42:58Z"),
    );
    let request = request_for("tdx_quote_4");

    // In 2023 the original is current and the reissued one not issued yet.
    let source = DirSource::new(
        dir.path(),
        TcbUpdateType::Early,
        clock("2023-06-28T00:00:00Z"),
    );
    let got = source.collateral(&request).await.unwrap();
    assert_eq!(*got, qvl("tdx_quote_4"));

    // In mid-2024 neither is current (the QE identity expired in 2023): the latest issued wins.
    let source = DirSource::new(
        dir.path(),
        TcbUpdateType::Early,
        clock("2024-07-01T00:00:00Z"),
    );
    let got = source.collateral(&request).await.unwrap();
    assert!(got.tcb_info.contains("2024-06-18T08:42:58Z"));

    // Before both were issued, the earliest is the best guess.
    let source = DirSource::new(
        dir.path(),
        TcbUpdateType::Early,
        clock("2020-01-01T00:00:00Z"),
    );
    let got = source.collateral(&request).await.unwrap();
    assert_eq!(*got, qvl("tdx_quote_4"));
}

/// A clock tests move.
#[derive(Debug)]
struct MovableClock(std::sync::atomic::AtomicU64);

impl Clock for MovableClock {
    fn now(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_choice_is_kept_until_the_time_passes_a_candidates_date() {
    let dir = tempfile::tempdir().unwrap();
    replace(
        &dir.path().join("a.json"),
        &bundle_text("tdx_quote_4", "dcap-qvl"),
    );
    replace(
        &dir.path().join("b.json"),
        &reissued_tdx_quote_4("2024-06-18T08:42:58Z"),
    );
    let clock = Arc::new(MovableClock(unix("2023-06-28T00:00:00Z").into()));
    let source = DirSource::new(dir.path(), TcbUpdateType::Early, clock.clone());
    let request = request_for("tdx_quote_4");
    let first = source.collateral(&request).await.unwrap();
    let again = source.collateral(&request).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "the choice is remembered");
    assert_eq!(*first, qvl("tdx_quote_4"));

    // Still before the first candidate's nextUpdate (2023-07-08T07:24:59Z): same answer.
    clock.0.store(
        unix("2023-07-08T07:00:00Z"),
        std::sync::atomic::Ordering::SeqCst,
    );
    assert!(Arc::ptr_eq(
        &first,
        &source.collateral(&request).await.unwrap()
    ));

    // Past the reissued bundle's issue date the choice is made again.
    clock.0.store(
        unix("2024-07-01T00:00:00Z"),
        std::sync::atomic::Ordering::SeqCst,
    );
    let later = source.collateral(&request).await.unwrap();
    assert!(later.tcb_info.contains("2024-06-18T08:42:58Z"));
}

#[tokio::test]
async fn files_added_or_removed_later_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let source = DirSource::new(
        dir.path(),
        TcbUpdateType::Early,
        clock("2025-11-05T00:00:00Z"),
    );
    let request = request_for("tdx_quote_6");
    let err = source.collateral(&request).await.unwrap_err();
    assert!(
        matches!(
            err,
            CollateralError::Intel(IntelCollateralError::NotFound {
                what: "collateral bundle",
                ..
            })
        ),
        "{err:?}"
    );
    let path = dir.path().join("fleet.pcs.json");
    replace(&path, &bundle_text("tdx_quote_6", "pcs"));
    // Files that are not *.json are ignored.
    std::fs::write(dir.path().join("notes.txt"), "not collateral").unwrap();
    assert_eq!(
        *source.collateral(&request).await.unwrap(),
        qvl("tdx_quote_6")
    );
    std::fs::remove_file(&path).unwrap();
    assert!(source.collateral(&request).await.is_err());
}

#[tokio::test]
async fn a_broken_bundle_is_reported_only_when_nothing_else_answers() {
    let dir = tempfile::tempdir().unwrap();
    replace(&dir.path().join("0-broken.json"), "{not json");
    let source = DirSource::new(
        dir.path(),
        TcbUpdateType::Early,
        clock("2025-11-05T00:00:00Z"),
    );
    let request = request_for("tdx_quote_6");
    let err = source.collateral(&request).await.unwrap_err();
    assert!(
        matches!(
            &err,
            CollateralError::Intel(IntelCollateralError::Malformed { what: "collateral bundle", source_name, .. })
                if source_name.ends_with("0-broken.json")
        ),
        "{err:?}"
    );
    replace(
        &dir.path().join("1-good.json"),
        &bundle_text("tdx_quote_6", "dcap-qvl"),
    );
    assert_eq!(
        *source.collateral(&request).await.unwrap(),
        qvl("tdx_quote_6")
    );
}

#[tokio::test]
async fn a_missing_directory_is_an_io_error() {
    let source = DirSource::new(
        "/nonexistent/intel/bundles",
        TcbUpdateType::Early,
        clock("2025-11-05T00:00:00Z"),
    );
    let err = source
        .collateral(&request_for("tdx_quote_6"))
        .await
        .unwrap_err();
    assert!(matches!(err, CollateralError::Io { .. }), "{err:?}");
}
