#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Provider behaviour and the on-disk layouts of the file backends.

use std::sync::Arc;

use base64::Engine as _;
use storage::{
    BackendsConfig, Error, LocalFsConfig, LocalJsonConfig, SetMode, StorageConfig, StorageProvider,
    StorageType,
};

fn config(storage_type: StorageType, dir: &std::path::Path) -> StorageConfig {
    StorageConfig {
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
    }
}

#[tokio::test]
async fn namespace_is_idempotent_per_name_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let provider = StorageProvider::new(&config(StorageType::Memory, dir.path())).unwrap();
    let a = provider.namespace("kbs", None).unwrap();
    let b = provider
        .namespace("kbs", Some(StorageType::Memory))
        .unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    a.set("k", b"v", SetMode::Overwrite).await.unwrap();
    assert_eq!(b.get("k").await.unwrap(), Some(b"v".to_vec()));

    let other = provider.namespace("repository", None).unwrap();
    assert!(!Arc::ptr_eq(&a, &other));
    assert_eq!(
        other.get("k").await.unwrap(),
        None,
        "namespaces are separate"
    );

    let fs = provider
        .namespace("kbs", Some(StorageType::LocalFs))
        .unwrap();
    assert!(!Arc::ptr_eq(&a, &fs));
    assert!(
        dir.path().join("fs/kbs").is_dir(),
        "override picks the backend"
    );
}

#[test]
fn rejects_invalid_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let provider = StorageProvider::new(&config(StorageType::LocalFs, dir.path())).unwrap();
    for ns in ["", "/abs", "trailing/", "a//b", "a/../b", ".", ".."] {
        assert!(
            matches!(
                provider.namespace(ns, None),
                Err(Error::InvalidNamespace { .. })
            ),
            "{ns:?}"
        );
    }
    assert!(
        !dir.path().join("fs").exists(),
        "nothing created for bad namespaces"
    );
}

#[test]
fn postgres_and_redis_are_not_available_yet() {
    let dir = tempfile::tempdir().unwrap();
    for storage_type in [StorageType::Postgres, StorageType::Redis] {
        let err = StorageProvider::new(&config(storage_type, dir.path())).unwrap_err();
        assert!(matches!(err, Error::BackendUnavailable { storage_type: t } if t == storage_type));
        assert!(err.to_string().contains("not available in this build yet"));
    }
    let provider = StorageProvider::new(&config(StorageType::Memory, dir.path())).unwrap();
    assert!(matches!(
        provider.namespace("kbs", Some(StorageType::Redis)),
        Err(Error::BackendUnavailable { .. })
    ));
}

#[tokio::test]
async fn local_fs_reads_upstream_seeded_files() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("fs/repository");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("one\\x2Ftwo\\x2Fthree"), b"seeded").unwrap();

    let provider = StorageProvider::new(&config(StorageType::LocalFs, dir.path())).unwrap();
    let store = provider.namespace("repository", None).unwrap();
    assert_eq!(
        store.get("one/two/three").await.unwrap(),
        Some(b"seeded".to_vec())
    );
    assert_eq!(store.list().await.unwrap(), ["one/two/three"]);

    store
        .set("a/b/c", b"new", SetMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(std::fs::read(repo.join("a\\x2Fb\\x2Fc")).unwrap(), b"new");
}

#[tokio::test]
async fn local_fs_persists_across_providers() {
    let dir = tempfile::tempdir().unwrap();
    {
        let provider = StorageProvider::new(&config(StorageType::LocalFs, dir.path())).unwrap();
        let store = provider.namespace("kbs", None).unwrap();
        store
            .set(
                "resource-policy.rego",
                b"package policy",
                SetMode::Overwrite,
            )
            .await
            .unwrap();
    }
    assert!(dir.path().join("fs/kbs/resource-policy.rego").is_file());
    let provider = StorageProvider::new(&config(StorageType::LocalFs, dir.path())).unwrap();
    let store = provider.namespace("kbs", None).unwrap();
    assert_eq!(
        store.get("resource-policy.rego").await.unwrap(),
        Some(b"package policy".to_vec())
    );
}

#[tokio::test]
async fn local_fs_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let provider = StorageProvider::new(&config(StorageType::LocalFs, dir.path())).unwrap();
    let store = provider.namespace("ns", None).unwrap();
    store.set("a", b"1", SetMode::Overwrite).await.unwrap();
    store.set("a", b"2", SetMode::Overwrite).await.unwrap();
    store.set("a", b"3", SetMode::IfAbsent).await.unwrap();
    store.set("b/c", b"4", SetMode::IfAbsent).await.unwrap();
    store.delete("b/c").await.unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("fs/ns"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a"]);
}

#[tokio::test]
async fn local_fs_list_skips_stray_temp_files_and_subdirectories() {
    let dir = tempfile::tempdir().unwrap();
    let provider = StorageProvider::new(&config(StorageType::LocalFs, dir.path())).unwrap();
    let store = provider.namespace("a", None).unwrap();
    store.set("k", b"v", SetMode::Overwrite).await.unwrap();
    std::fs::write(dir.path().join("fs/a/.tmp~999-0"), b"partial").unwrap();
    let nested = provider.namespace("a/b", None).unwrap();
    nested.set("inner", b"v", SetMode::Overwrite).await.unwrap();
    assert_eq!(store.list().await.unwrap(), ["k"]);
    assert_eq!(nested.list().await.unwrap(), ["inner"]);
}

#[tokio::test]
async fn local_json_uses_upstream_layout() {
    let dir = tempfile::tempdir().unwrap();
    let provider = StorageProvider::new(&config(StorageType::LocalJson, dir.path())).unwrap();
    let store = provider.namespace("reference_value", None).unwrap();
    let file = dir.path().join("json/reference_value");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}");

    // A value whose base64 needs padding and uses the URL-safe alphabet.
    store
        .set("svn", &[0xfb, 0xff], SetMode::Overwrite)
        .await
        .unwrap();
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(document, serde_json::json!({"svn": "-_8="}));
}

#[tokio::test]
async fn local_json_reads_seeded_file_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("json")).unwrap();
    let encoded = base64::engine::general_purpose::URL_SAFE.encode(b"seeded value");
    std::fs::write(
        dir.path().join("json/kbs"),
        format!(r#"{{"resource-policy.rego":"{encoded}"}}"#),
    )
    .unwrap();
    {
        let provider = StorageProvider::new(&config(StorageType::LocalJson, dir.path())).unwrap();
        let store = provider.namespace("kbs", None).unwrap();
        assert_eq!(
            store.get("resource-policy.rego").await.unwrap(),
            Some(b"seeded value".to_vec())
        );
        store.set("other", b"x", SetMode::Overwrite).await.unwrap();
    }
    let provider = StorageProvider::new(&config(StorageType::LocalJson, dir.path())).unwrap();
    let store = provider.namespace("kbs", None).unwrap();
    let mut keys = store.list().await.unwrap();
    keys.sort();
    assert_eq!(keys, ["other", "resource-policy.rego"]);
}

#[tokio::test]
async fn local_json_reports_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("json")).unwrap();
    std::fs::write(dir.path().join("json/bad"), b"[1,2]").unwrap();
    std::fs::write(dir.path().join("json/badvalue"), br#"{"k":"not base64!"}"#).unwrap();
    let provider = StorageProvider::new(&config(StorageType::LocalJson, dir.path())).unwrap();
    let bad = provider.namespace("bad", None).unwrap();
    assert!(matches!(
        bad.get("k").await,
        Err(Error::MalformedJsonStore { .. })
    ));
    let bad_value = provider.namespace("badvalue", None).unwrap();
    assert!(matches!(
        bad_value.get("k").await,
        Err(Error::MalformedJsonValue { .. })
    ));
}
