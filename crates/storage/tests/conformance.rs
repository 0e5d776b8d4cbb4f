#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One behaviour suite run against every backend.

use std::sync::Arc;

use storage::{
    BackendsConfig, Error, KeyValueStore, LocalFsConfig, LocalJsonConfig, SetMode, SetOutcome,
    StorageConfig, StorageProvider, StorageType,
};

async fn conformance(store: Arc<dyn KeyValueStore>) {
    round_trips(&*store).await;
    keeps_keys_with_slashes(&*store).await;
    overwrite_replaces_and_if_absent_keeps(&*store).await;
    delete_returns_old_value(&*store).await;
    lists_every_key(&*store).await;
    rejects_invalid_keys(&*store).await;
    concurrent_sets_all_land(Arc::clone(&store)).await;
}

async fn round_trips(store: &dyn KeyValueStore) {
    assert_eq!(store.get("missing").await.unwrap(), None);
    let value = [0u8, 1, 2, 255, b'\n'];
    assert_eq!(
        store
            .set("bytes", &value, SetMode::Overwrite)
            .await
            .unwrap(),
        SetOutcome::Inserted
    );
    assert_eq!(
        store.get("bytes").await.unwrap().as_deref(),
        Some(&value[..])
    );
    store.set("empty", b"", SetMode::Overwrite).await.unwrap();
    assert_eq!(store.get("empty").await.unwrap(), Some(vec![]));
}

async fn keeps_keys_with_slashes(store: &dyn KeyValueStore) {
    store
        .set("one/two/three", b"deep", SetMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(
        store.get("one/two/three").await.unwrap(),
        Some(b"deep".to_vec())
    );
    assert_eq!(store.get("one/two").await.unwrap(), None);
    assert!(
        store
            .list()
            .await
            .unwrap()
            .contains(&"one/two/three".to_owned())
    );
}

async fn overwrite_replaces_and_if_absent_keeps(store: &dyn KeyValueStore) {
    store
        .set("mode", b"first", SetMode::IfAbsent)
        .await
        .unwrap();
    assert_eq!(
        store
            .set("mode", b"second", SetMode::IfAbsent)
            .await
            .unwrap(),
        SetOutcome::AlreadyExists
    );
    assert_eq!(store.get("mode").await.unwrap(), Some(b"first".to_vec()));
    assert_eq!(
        store
            .set("mode", b"third", SetMode::Overwrite)
            .await
            .unwrap(),
        SetOutcome::Inserted
    );
    assert_eq!(store.get("mode").await.unwrap(), Some(b"third".to_vec()));
}

async fn delete_returns_old_value(store: &dyn KeyValueStore) {
    store.set("gone", b"old", SetMode::Overwrite).await.unwrap();
    assert_eq!(store.delete("gone").await.unwrap(), Some(b"old".to_vec()));
    assert_eq!(store.get("gone").await.unwrap(), None);
    assert_eq!(store.delete("gone").await.unwrap(), None);
    assert!(!store.list().await.unwrap().contains(&"gone".to_owned()));
}

async fn lists_every_key(store: &dyn KeyValueStore) {
    let mut keys = store.list().await.unwrap();
    keys.sort();
    assert_eq!(keys, ["bytes", "empty", "mode", "one/two/three"]);
}

async fn rejects_invalid_keys(store: &dyn KeyValueStore) {
    for key in [
        "../x", "a/../b", "/abs", "a//b", "a\\x2Fb", "", "a/", ".", "a:b",
    ] {
        assert!(
            matches!(store.get(key).await, Err(Error::InvalidKey { .. })),
            "get {key:?}"
        );
        assert!(
            matches!(
                store.set(key, b"v", SetMode::Overwrite).await,
                Err(Error::InvalidKey { .. })
            ),
            "set {key:?}"
        );
        assert!(
            matches!(store.delete(key).await, Err(Error::InvalidKey { .. })),
            "delete {key:?}"
        );
    }
    assert_eq!(
        store.list().await.unwrap().len(),
        4,
        "nothing stored by bad keys"
    );
}

async fn concurrent_sets_all_land(store: Arc<dyn KeyValueStore>) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .set(
                        &format!("concurrent/{i}"),
                        format!("v{i}").as_bytes(),
                        SetMode::Overwrite,
                    )
                    .await
                    .unwrap();
                store
                    .set("race", format!("v{i}").as_bytes(), SetMode::IfAbsent)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut inserted = 0;
    for task in tasks {
        if task.await.unwrap() == SetOutcome::Inserted {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 1, "exactly one IfAbsent wins");
    for i in 0..16 {
        assert_eq!(
            store.get(&format!("concurrent/{i}")).await.unwrap(),
            Some(format!("v{i}").into_bytes())
        );
    }
    assert_eq!(store.list().await.unwrap().len(), 4 + 16 + 1);
}

fn provider(storage_type: StorageType, dir: &std::path::Path) -> StorageProvider {
    StorageProvider::new(&StorageConfig {
        storage_type,
        backends: BackendsConfig {
            local_fs: LocalFsConfig {
                dir_path: dir.join("fs"),
            },
            local_json: LocalJsonConfig {
                file_dir_path: dir.join("json"),
            },
            ..BackendsConfig::default()
        },
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance(
        provider(StorageType::Memory, dir.path())
            .namespace("ns", None)
            .unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_fs_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance(
        provider(StorageType::LocalFs, dir.path())
            .namespace("ns", None)
            .unwrap(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_json_conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance(
        provider(StorageType::LocalJson, dir.path())
            .namespace("ns", None)
            .unwrap(),
    )
    .await;
}
