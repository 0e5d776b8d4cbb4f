#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The policy store over a key-value namespace.

use std::sync::Arc;

use policy::{Error, PolicyStore, RuleValue};
use serde_json::json;
use storage::{KeyValueStore, SetMode, StorageConfig, StorageProvider, StorageType};

const ALLOW: &str = "package policy\nallow := true";
const DENY: &str = "package policy\nallow := false";

fn memory() -> Arc<dyn KeyValueStore> {
    StorageProvider::new(&StorageConfig::default())
        .unwrap()
        .namespace("attestation_service_policy", None)
        .unwrap()
}

async fn allow_of(store: &PolicyStore, id: &str) -> RuleValue {
    store
        .compiled(id)
        .await
        .unwrap()
        .eval_rule("data.policy.allow", &json!({}), None)
        .unwrap()
}

#[tokio::test]
async fn round_trips_policy_text_under_rego_key() {
    let kv = memory();
    let store = PolicyStore::new(Arc::clone(&kv), vec![]);
    store.set("default_cpu", ALLOW).await.unwrap();
    assert_eq!(store.get_text("default_cpu").await.unwrap(), ALLOW);
    assert_eq!(
        kv.get("default_cpu.rego").await.unwrap(),
        Some(ALLOW.as_bytes().to_vec())
    );
    assert_eq!(
        allow_of(&store, "default_cpu").await,
        RuleValue::Value(json!(true))
    );
    store.set("other", DENY).await.unwrap();
    assert_eq!(store.list().await.unwrap(), ["default_cpu", "other"]);
}

#[tokio::test]
async fn invalid_rego_is_not_stored() {
    let kv = memory();
    let store = PolicyStore::new(Arc::clone(&kv), vec![]);
    store.set("p", ALLOW).await.unwrap();
    assert!(matches!(
        store.set("p", "package policy\nallow if {").await,
        Err(Error::Compile { .. })
    ));
    assert_eq!(store.get_text("p").await.unwrap(), ALLOW, "old text kept");
    assert!(matches!(
        store.set("q", "not rego").await,
        Err(Error::Compile { .. })
    ));
    assert_eq!(kv.get("q.rego").await.unwrap(), None);
}

#[tokio::test]
async fn seed_never_overwrites() {
    let store = PolicyStore::new(memory(), vec![]);
    assert!(store.seed("default", ALLOW).await.unwrap());
    store.set("default", DENY).await.unwrap();
    assert!(!store.seed("default", ALLOW).await.unwrap());
    assert_eq!(store.get_text("default").await.unwrap(), DENY);
    assert_eq!(
        allow_of(&store, "default").await,
        RuleValue::Value(json!(false))
    );
}

#[tokio::test]
async fn cache_follows_set_and_delete() {
    let store = PolicyStore::new(memory(), vec![]);
    store.set("p", ALLOW).await.unwrap();
    assert_eq!(allow_of(&store, "p").await, RuleValue::Value(json!(true)));
    store.set("p", DENY).await.unwrap();
    assert_eq!(allow_of(&store, "p").await, RuleValue::Value(json!(false)));
    assert!(store.delete("p").await.unwrap());
    assert!(matches!(store.compiled("p").await, Err(Error::PolicyNotFound { id }) if id == "p"));
    assert!(!store.delete("p").await.unwrap());
    assert!(matches!(
        store.get_text("p").await,
        Err(Error::PolicyNotFound { .. })
    ));
}

#[tokio::test]
async fn compiles_policies_seeded_directly_in_the_store() {
    let kv = memory();
    kv.set("seeded.rego", ALLOW.as_bytes(), SetMode::Overwrite)
        .await
        .unwrap();
    kv.set("not-a-policy", b"x", SetMode::Overwrite)
        .await
        .unwrap();
    let store = PolicyStore::new(Arc::clone(&kv), vec![]);
    assert_eq!(
        allow_of(&store, "seeded").await,
        RuleValue::Value(json!(true))
    );
    assert_eq!(store.list().await.unwrap(), ["seeded"]);

    kv.set("broken.rego", b"package", SetMode::Overwrite)
        .await
        .unwrap();
    assert!(matches!(
        store.compiled("broken").await,
        Err(Error::Compile { .. })
    ));
    kv.set("binary.rego", &[0xff, 0xfe], SetMode::Overwrite)
        .await
        .unwrap();
    assert!(matches!(
        store.compiled("binary").await,
        Err(Error::NotUtf8 { .. })
    ));
}

#[tokio::test]
async fn finds_persisted_policy_after_recreating_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StorageConfig {
        storage_type: StorageType::LocalFs,
        ..StorageConfig::default()
    };
    config.backends.local_fs.dir_path = dir.path().to_path_buf();
    {
        let provider = StorageProvider::new(&config).unwrap();
        let store = PolicyStore::new(provider.namespace("kbs", None).unwrap(), vec![]);
        store.set("resource-policy", DENY).await.unwrap();
    }
    assert!(dir.path().join("kbs/resource-policy.rego").is_file());
    let provider = StorageProvider::new(&config).unwrap();
    let store = PolicyStore::new(provider.namespace("kbs", None).unwrap(), vec![]);
    assert!(!store.seed("resource-policy", ALLOW).await.unwrap());
    assert_eq!(
        allow_of(&store, "resource-policy").await,
        RuleValue::Value(json!(false))
    );
}

#[tokio::test]
async fn rejects_ids_that_are_not_plain_names() {
    let store = PolicyStore::new(memory(), vec![]);
    for id in ["", "a/b", "../x", "a b"] {
        assert!(
            matches!(
                store.set(id, ALLOW).await,
                Err(Error::InvalidPolicyId { .. })
            ),
            "{id:?}"
        );
        assert!(
            matches!(store.compiled(id).await, Err(Error::InvalidPolicyId { .. })),
            "{id:?}"
        );
    }
}

#[tokio::test]
async fn compiled_policies_get_the_store_extensions() {
    let extension = policy::PolicyExtension {
        name: "query_reference_value".to_owned(),
        nargs: 1,
        func: Arc::new(|_| Ok(json!(["abc"]))),
    };
    let store = PolicyStore::new(memory(), vec![extension]);
    store
        .set(
            "p",
            "package policy\nallow if { \"abc\" in query_reference_value(\"x\") }",
        )
        .await
        .unwrap();
    assert_eq!(allow_of(&store, "p").await, RuleValue::Value(json!(true)));
}
