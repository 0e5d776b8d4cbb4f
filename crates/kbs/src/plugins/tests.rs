use std::sync::Mutex;

use storage::memory::MemoryStore;
use storage::{KeyValueStore, SetMode, StorageConfig};

use super::*;

fn segments(path: &str) -> Vec<String> {
    path.split('/').map(str::to_owned).collect()
}

fn request(method: Method, path: &str, body: &[u8]) -> PluginRequest {
    PluginRequest {
        method,
        path: segments(path),
        query: BTreeMap::new(),
        body: body.to_vec(),
        init_data_claims: None,
    }
}

/// Records every operation, and every key the plugin asked the store for.
#[derive(Default)]
struct Recorder {
    ops: Mutex<Vec<(ResourceOp, String)>>,
}

impl ResourceObserver for Recorder {
    fn observe(&self, op: ResourceOp, path: &str) {
        self.ops.lock().unwrap().push((op, path.to_owned()));
    }
}

/// A store that fails the test if it is touched.
struct Untouchable;

#[async_trait]
impl KeyValueStore for Untouchable {
    async fn get(&self, key: &str) -> storage::Result<Option<Vec<u8>>> {
        panic!("storage read with key {key:?}")
    }
    async fn set(&self, key: &str, _: &[u8], _: SetMode) -> storage::Result<storage::SetOutcome> {
        panic!("storage write with key {key:?}")
    }
    async fn delete(&self, key: &str) -> storage::Result<Option<Vec<u8>>> {
        panic!("storage delete with key {key:?}")
    }
    async fn list(&self) -> storage::Result<Vec<String>> {
        panic!("storage list")
    }
}

fn plugin() -> (ResourcePlugin, Arc<dyn KeyValueStore>, Arc<Recorder>) {
    let store: Arc<dyn KeyValueStore> = Arc::new(MemoryStore::new());
    let recorder = Arc::new(Recorder::default());
    let observer: Arc<dyn ResourceObserver> = recorder.clone();
    (
        ResourcePlugin::new(Arc::clone(&store), Some(observer)),
        store,
        recorder,
    )
}

const ACCEPTED: [&str; 4] = [
    "default/1/2",
    "repo/type/tag",
    "123--_default/1Abff-_/___-afds44BC",
    "1.ok/2ok./3...",
];

const REJECTED: [&str; 16] = [
    "/1/2",
    "/repo/type/tag",
    "1/2",
    ".1.ok/2ok./3...",
    "1.ok/.2ok./3...",
    "1.ok/2ok./.3...",
    "a/../b",
    "../a/b",
    "a/b/..",
    "a/b/.hidden",
    "a/b/c/d",
    "a//c",
    "a/b/",
    "",
    "a/b/c d",
    "a/b/caf\u{e9}",
];

#[test]
fn resource_path_accepts_upstream_valid_paths() {
    for path in ACCEPTED {
        let parsed: ResourcePath = path.parse().unwrap();
        assert_eq!(parsed.as_str(), path);
        assert_eq!(
            ResourcePath::from_segments(&segments(path)).unwrap(),
            parsed
        );
    }
}

#[test]
fn resource_path_rejects_upstream_invalid_paths() {
    for path in REJECTED {
        let error = path.parse::<ResourcePath>().unwrap_err();
        assert!(matches!(error, Error::InvalidResourcePath { .. }), "{path}");
    }
    assert!(ResourcePath::from_segments(&[]).is_err());
}

#[tokio::test]
async fn invalid_paths_never_reach_storage() {
    let plugin = ResourcePlugin::new(Arc::new(Untouchable), None);
    for path in REJECTED {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let result = plugin.handle(request(method.clone(), path, b"x")).await;
            assert!(
                matches!(result, Err(Error::InvalidResourcePath { .. })),
                "{method} {path}: {result:?}"
            );
        }
    }
}

#[tokio::test]
async fn stores_reads_and_deletes_a_resource() {
    let (plugin, store, recorder) = plugin();
    let written = plugin
        .handle(request(Method::POST, "default/test/secret", b"shhhhhhh"))
        .await
        .unwrap();
    assert!(written.is_empty());
    assert_eq!(
        store.get("default/test/secret").await.unwrap().as_deref(),
        Some(&b"shhhhhhh"[..]),
        "stored under <repo>/<type>/<tag>"
    );
    let read = plugin
        .handle(request(Method::GET, "default/test/secret", b""))
        .await
        .unwrap();
    assert_eq!(read, b"shhhhhhh");

    plugin
        .handle(request(Method::POST, "default/test/secret", b"new"))
        .await
        .unwrap();
    let read = plugin
        .handle(request(Method::GET, "default/test/secret", b""))
        .await
        .unwrap();
    assert_eq!(read, b"new", "POST overwrites");

    plugin
        .handle(request(Method::DELETE, "default/test/secret", b""))
        .await
        .unwrap();
    assert_eq!(store.get("default/test/secret").await.unwrap(), None);

    let ops = recorder.ops.lock().unwrap().clone();
    let path = "default/test/secret".to_owned();
    assert_eq!(
        ops,
        vec![
            (ResourceOp::Write, path.clone()),
            (ResourceOp::Read, path.clone()),
            (ResourceOp::Write, path.clone()),
            (ResourceOp::Read, path.clone()),
            (ResourceOp::Delete, path),
        ]
    );
}

#[tokio::test]
async fn missing_resources_are_not_found() {
    let (plugin, _store, recorder) = plugin();
    for method in [Method::GET, Method::DELETE] {
        let result = plugin.handle(request(method, "a/b/c", b"")).await;
        assert!(
            matches!(&result, Err(Error::ResourceNotFound { path }) if path == "a/b/c"),
            "{result:?}"
        );
    }
    assert!(
        recorder.ops.lock().unwrap().is_empty(),
        "failures are not counted"
    );
}

#[tokio::test]
async fn put_is_attested_then_refused() {
    let (plugin, _store, _) = plugin();
    let query = BTreeMap::new();
    let class = plugin
        .validate_auth(&Method::PUT, &segments("a/b/c"), &query)
        .unwrap();
    assert_eq!(class, AuthClass::Attested);
    let result = plugin.handle(request(Method::PUT, "a/b/c", b"x")).await;
    assert!(
        matches!(result, Err(Error::MethodNotSupported { .. })),
        "{result:?}"
    );
}

#[test]
fn writes_are_admin_and_reads_are_attested() {
    let (plugin, _store, _) = plugin();
    let query = BTreeMap::new();
    let path = segments("a/b/c");
    let class = |m: Method| plugin.validate_auth(&m, &path, &query).unwrap();
    assert_eq!(class(Method::GET), AuthClass::Attested);
    assert_eq!(class(Method::POST), AuthClass::Admin);
    assert_eq!(class(Method::DELETE), AuthClass::Admin);
    assert!(plugin.encrypted(&request(Method::GET, "a/b/c", b"")));
}

fn parse_plugins(text: &str) -> Result<Vec<PluginConfig>, toml::de::Error> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(default)]
        plugins: Vec<PluginConfig>,
    }
    toml::from_str::<Config>(text).map(|c| c.plugins)
}

#[test]
fn parses_upstream_plugin_entries() {
    for text in [
        "[[plugins]]\nname = \"resource\"\nstorage_backend_type = \"kvstorage\"\n",
        "[[plugins]]\nname = \"ResourceStorage\"\nstorage_backend_type = \"KvStorage\"\n",
    ] {
        assert_eq!(
            parse_plugins(text).unwrap(),
            vec![PluginConfig::Resource(ResourceBackendConfig::KvStorage {})],
            "{text}"
        );
    }
    assert_eq!(
        parse_plugins("[[plugins]]\nname = \"sample\"\nitem = \"x\"\n").unwrap(),
        vec![PluginConfig::Sample(SamplePluginConfig {
            item: "x".to_owned()
        })]
    );
}

#[test]
fn refuses_resource_entries_without_backend_type_or_with_unknown_keys() {
    for text in [
        "[[plugins]]\nname = \"resource\"\n",
        "[[plugins]]\nname = \"resource\"\nstorage_backend_type = \"kvstorage\"\ndir_path = \"x\"\n",
        "[[plugins]]\nname = \"resource\"\nstorage_backend_type = \"Nope\"\n",
        "[[plugins]]\nname = \"nope\"\n",
    ] {
        assert!(parse_plugins(text).is_err(), "{text}");
    }
}

#[test]
fn unavailable_backends_and_plugins_fail_at_startup_with_a_clear_error() {
    let provider = StorageProvider::new(&StorageConfig::default()).unwrap();
    let vault = parse_plugins(
        "[[plugins]]\nname = \"resource\"\nstorage_backend_type = \"Vault\"\nvault_url = \"https://v\"\ntoken = \"t\"\n",
    )
    .unwrap();
    let error = PluginRegistry::new(&vault, &provider).err().unwrap();
    assert!(
        matches!(error, Error::BackendNotAvailable { backend: "Vault" }),
        "{error:?}"
    );
    assert!(error.to_string().contains("not available in this build"));
    assert!(!error.to_string().contains("https://v"));

    let aws = parse_plugins("[[plugins]]\nname = \"resource\"\nstorage_backend_type = \"aws\"\n")
        .unwrap();
    assert!(matches!(
        PluginRegistry::new(&aws, &provider),
        Err(Error::BackendNotAvailable { backend: "Aws" })
    ));

    let nebula = parse_plugins("[[plugins]]\nname = \"nebula-ca\"\nwork_dir = \"/x\"\n").unwrap();
    assert!(matches!(
        PluginRegistry::new(&nebula, &provider),
        Err(Error::PluginNotAvailable { name: "nebula-ca" })
    ));
}

#[tokio::test]
async fn registry_enables_only_configured_plugins() {
    let provider = StorageProvider::new(&StorageConfig::default()).unwrap();
    let empty = PluginRegistry::new(&[], &provider).unwrap();
    assert!(empty.get(RESOURCE_PLUGIN_NAME).is_none(), "none by default");

    let configs = parse_plugins(
        "[[plugins]]\nname = \"resource\"\nstorage_backend_type = \"kvstorage\"\n\n[[plugins]]\nname = \"ResourceStorage\"\nstorage_backend_type = \"KvStorage\"\n",
    )
    .unwrap();
    let registry = PluginRegistry::new(&configs, &provider).unwrap();
    assert_eq!(registry.names(), vec!["resource".to_owned()]);
    let resource = registry.get("resource").unwrap();
    resource
        .handle(request(Method::POST, "a/b/c", b"v"))
        .await
        .unwrap();
    let repository = provider.namespace(RESOURCE_NAMESPACE, None).unwrap();
    assert_eq!(
        repository.get("a/b/c").await.unwrap().as_deref(),
        Some(&b"v"[..]),
        "resources live in the repository namespace"
    );
}

#[tokio::test]
async fn registry_passes_the_observer_to_the_resource_plugin() {
    let provider = StorageProvider::new(&StorageConfig::default()).unwrap();
    let configs = vec![PluginConfig::Resource(ResourceBackendConfig::KvStorage {})];
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let observer: Arc<dyn ResourceObserver> = Arc::new(move |op: ResourceOp, path: &str| {
        sink.lock().unwrap().push((op, path.to_owned()))
    });
    let registry = PluginRegistry::with_observer(&configs, &provider, Some(observer)).unwrap();
    let resource = registry.get("resource").unwrap();
    resource
        .handle(request(Method::POST, "a/b/c", b"v"))
        .await
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().clone(),
        vec![(ResourceOp::Write, "a/b/c".to_owned())]
    );
}

#[tokio::test]
async fn sample_plugin_is_admin_gated_and_answers_a_fixed_text() {
    let plugin = SamplePlugin::new(SamplePluginConfig {
        item: "x".to_owned(),
    });
    let class = plugin
        .validate_auth(&Method::GET, &segments("any"), &BTreeMap::new())
        .unwrap();
    assert_eq!(class, AuthClass::Admin);
    let answer = plugin
        .handle(request(Method::GET, "any", b""))
        .await
        .unwrap();
    assert_eq!(answer, b"sample plugin response");
    assert!(!plugin.encrypted(&request(Method::GET, "any", b"")));
}

#[test]
fn registry_from_plugins_serves_them_by_name() {
    let sample: Arc<dyn Plugin> = Arc::new(SamplePlugin::new(SamplePluginConfig {
        item: "x".to_owned(),
    }));
    let registry = PluginRegistry::from_plugins([sample]);
    assert!(registry.get(SAMPLE_PLUGIN_NAME).is_some());
    assert!(registry.get(RESOURCE_PLUGIN_NAME).is_none());
    assert_eq!(
        format!("{registry:?}"),
        r#"PluginRegistry { plugins: ["sample"] }"#
    );
}
