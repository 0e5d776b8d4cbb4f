#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Registering and querying reference values through the public API.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
use rvps::{BuiltinRvps, Error, ReferenceValue, ReferenceValueProvider};
use serde_json::{Value, json};
use storage::memory::MemoryStore;
use storage::{KeyValueStore, SetMode};
use time::OffsetDateTime;
use time::macros::datetime;

struct Fixture {
    rvps: BuiltinRvps,
    store: Arc<dyn KeyValueStore>,
    now: Arc<Mutex<OffsetDateTime>>,
}

fn fixture() -> Fixture {
    let store: Arc<dyn KeyValueStore> = Arc::new(MemoryStore::new());
    let now = Arc::new(Mutex::new(datetime!(2026-11-28 14:30:05.5 UTC)));
    let clock = Arc::clone(&now);
    let rvps =
        BuiltinRvps::new(Arc::clone(&store)).with_clock(Arc::new(move || *clock.lock().unwrap()));
    Fixture { rvps, store, now }
}

fn sample_message(values: &Value) -> String {
    json!({"version": "0.1.0", "type": "sample", "payload": STANDARD.encode(values.to_string())})
        .to_string()
}

#[tokio::test]
async fn registers_and_queries_sample_values() {
    let f = fixture();
    let mut names = f
        .rvps
        .register(&sample_message(
            &json!({"svn": ["1"], "launch_digest": ["abc", "def"], "n": 3}),
        ))
        .await
        .unwrap();
    names.sort();
    assert_eq!(names, ["launch_digest", "n", "svn"]);
    assert_eq!(f.rvps.query("svn").await.unwrap(), Some(json!(["1"])));
    assert_eq!(f.rvps.query("n").await.unwrap(), Some(json!(3)));
    assert_eq!(f.rvps.query("unknown").await.unwrap(), None);
}

#[tokio::test]
async fn stores_upstream_records() {
    let f = fixture();
    f.rvps
        .register(&sample_message(&json!({"svn": ["1"]})))
        .await
        .unwrap();
    let stored: Value =
        serde_json::from_slice(&f.store.get("svn").await.unwrap().unwrap()).unwrap();
    assert_eq!(
        stored,
        json!({"version": "0.1.0", "name": "svn", "expiration": "2027-11-28T14:30:05Z", "value": ["1"]})
    );
}

#[tokio::test]
async fn registering_again_replaces_the_value() {
    let f = fixture();
    f.rvps
        .register(&sample_message(&json!({"svn": ["1"]})))
        .await
        .unwrap();
    f.rvps
        .register(&sample_message(&json!({"svn": ["2", "3"]})))
        .await
        .unwrap();
    assert_eq!(f.rvps.query("svn").await.unwrap(), Some(json!(["2", "3"])));
}

#[tokio::test]
async fn version_defaults_and_unknown_keys_are_ignored() {
    let f = fixture();
    let payload = STANDARD.encode(r#"{"a": true}"#);
    let message = json!({"type": "sample", "payload": payload, "provenance": "ignored"});
    assert_eq!(f.rvps.register(&message.to_string()).await.unwrap(), ["a"]);
}

#[tokio::test]
async fn rejects_other_versions() {
    let f = fixture();
    let message = json!({"version": "0.2.0", "type": "sample", "payload": STANDARD.encode("{}")});
    let err = f.rvps.register(&message.to_string()).await.unwrap_err();
    assert!(matches!(&err, Error::VersionUnmatched { given, .. } if given == "0.2.0"));
    assert_eq!(
        err.to_string(),
        "version unmatched: need 0.1.0, given 0.2.0"
    );
}

#[tokio::test]
async fn rejects_payloads_that_are_not_padded_standard_base64() {
    let f = fixture();
    // `{"s":"??>"}` encodes with `+`/`/` in STANDARD and `-`/`_` in URL_SAFE, and needs padding.
    let json_text = r#"{"s":"??>"}"#;
    assert!(STANDARD.encode(json_text).contains(['/', '+']));
    assert!(
        f.rvps
            .register(&sample_message(&serde_json::from_str(json_text).unwrap()))
            .await
            .is_ok()
    );
    for payload in [
        STANDARD_NO_PAD.encode(json_text),
        URL_SAFE.encode(json_text),
        "!!".to_owned(),
    ] {
        let message = json!({"type": "sample", "payload": payload});
        assert!(
            matches!(
                f.rvps.register(&message.to_string()).await,
                Err(Error::PayloadNotBase64)
            ),
            "{payload}"
        );
    }
}

#[tokio::test]
async fn rejects_payloads_that_are_not_json_objects() {
    let f = fixture();
    for payload in [
        STANDARD.encode("[1,2]"),
        STANDARD.encode("\"x\""),
        STANDARD.encode("not json"),
    ] {
        let message = json!({"type": "sample", "payload": payload});
        assert!(matches!(
            f.rvps.register(&message.to_string()).await,
            Err(Error::PayloadNotObject)
        ));
    }
}

#[tokio::test]
async fn rejects_unknown_types_by_name() {
    let f = fixture();
    let message = json!({"type": "in-toto", "payload": STANDARD.encode("{}")});
    let err = f.rvps.register(&message.to_string()).await.unwrap_err();
    assert!(matches!(&err, Error::UnknownType { kind } if kind == "in-toto"));
    assert_eq!(err.to_string(), "could not find extractor for in-toto");
}

#[tokio::test]
async fn rejects_malformed_messages() {
    let f = fixture();
    for message in ["not json", r#"{"type":"sample"}"#, r#"{"payload":"e30="}"#] {
        assert!(
            matches!(
                f.rvps.register(message).await,
                Err(Error::MalformedMessage(_))
            ),
            "{message}"
        );
    }
}

#[tokio::test]
async fn rejects_names_that_cannot_be_stored_and_stores_nothing() {
    let f = fixture();
    let values = json!({"good": 1, "rvps:///github.com/x:latest": 2});
    let err = f.rvps.register(&sample_message(&values)).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidName { name, .. } if name == "rvps:///github.com/x:latest")
    );
    assert!(err.to_string().contains("not storable"));
    assert!(f.store.list().await.unwrap().is_empty());
    assert_eq!(
        f.rvps.query("rvps:///github.com/x:latest").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn expired_values_are_not_returned() {
    let f = fixture();
    f.rvps
        .register(&sample_message(&json!({"svn": ["1"]})))
        .await
        .unwrap();
    *f.now.lock().unwrap() = datetime!(2027-11-28 14:30:05 UTC);
    assert_eq!(
        f.rvps.query("svn").await.unwrap(),
        Some(json!(["1"])),
        "valid at expiration"
    );
    *f.now.lock().unwrap() = datetime!(2027-11-28 14:30:06 UTC);
    assert_eq!(f.rvps.query("svn").await.unwrap(), None);
}

#[tokio::test]
async fn records_seeded_with_a_past_expiration_are_not_returned() {
    let f = fixture();
    let record =
        r#"{"version":"0.1.0","name":"old","expiration":"1970-01-01T00:00:00Z","value":["x"]}"#;
    f.store
        .set("old", record.as_bytes(), SetMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(f.rvps.query("old").await.unwrap(), None);
    let parsed: ReferenceValue = serde_json::from_str(record).unwrap();
    assert_eq!(parsed.expiration, OffsetDateTime::UNIX_EPOCH);
    assert_eq!(serde_json::to_string(&parsed).unwrap(), record);
}

#[tokio::test]
async fn reports_malformed_records() {
    let f = fixture();
    f.store
        .set("bad", b"{\"value\":1}", SetMode::Overwrite)
        .await
        .unwrap();
    assert!(matches!(
        f.rvps.query("bad").await,
        Err(Error::MalformedRecord { .. })
    ));
}

#[tokio::test]
async fn delete_reports_whether_the_value_existed() {
    let f = fixture();
    f.rvps
        .register(&sample_message(&json!({"svn": ["1"]})))
        .await
        .unwrap();
    assert!(f.rvps.delete("svn").await.unwrap());
    assert!(!f.rvps.delete("svn").await.unwrap());
    assert_eq!(f.rvps.query("svn").await.unwrap(), None);
    assert!(!f.rvps.delete("a:b").await.unwrap());
}

#[tokio::test]
async fn values_persist_in_local_fs() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = storage::StorageConfig {
        storage_type: storage::StorageType::LocalFs,
        ..Default::default()
    };
    config.backends.local_fs.dir_path = dir.path().to_path_buf();
    {
        let provider = storage::StorageProvider::new(&config).unwrap();
        let rvps = BuiltinRvps::new(provider.namespace("reference_value", None).unwrap());
        rvps.register(&sample_message(&json!({"svn": ["1"]})))
            .await
            .unwrap();
    }
    assert!(dir.path().join("reference_value/svn").is_file());
    let provider = storage::StorageProvider::new(&config).unwrap();
    let rvps = BuiltinRvps::new(provider.namespace("reference_value", None).unwrap());
    assert_eq!(rvps.query("svn").await.unwrap(), Some(json!(["1"])));
}
