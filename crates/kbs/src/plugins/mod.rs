//! Resource plugins (`/kbs/v0/<plugin>/...`): the plugin trait, registry and `resource` plugin.
//!
//! A plugin decides per request whether it is admin-gated or attestation-gated
//! ([`Plugin::validate_auth`]), answers it ([`Plugin::handle`]) and says whether the answer must
//! be JWE-wrapped ([`Plugin::encrypted`]) — `kbs-protocol.md` §4.1 and §9.1. The HTTP layer
//! runs the admin check or token verification and the resource policy in between; nothing here
//! knows about HTTP beyond the method.

mod resource;
mod sample;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::Method;
use serde::Deserialize;
use storage::StorageProvider;

pub use resource::{
    RESOURCE_NAMESPACE, RESOURCE_PLUGIN_NAME, ResourceBackendConfig, ResourceObserver, ResourceOp,
    ResourcePath, ResourcePlugin,
};
pub use sample::{SAMPLE_PLUGIN_NAME, SamplePlugin, SamplePluginConfig};

/// Errors from plugin construction and plugin requests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The resource path is not `<repository>/<type>/<tag>` with valid segments (§9.2).
    #[error(
        "invalid resource path {path:?}: expected three segments matching [A-Za-z0-9_-][A-Za-z0-9_.-]*"
    )]
    InvalidResourcePath {
        /// The path as requested, segments joined with `/`.
        path: String,
    },
    /// No resource is stored at this path.
    #[error("resource {path} not found")]
    ResourceNotFound {
        /// The validated resource path.
        path: String,
    },
    /// The plugin does not serve this HTTP method.
    #[error("plugin {plugin} does not support method {method}")]
    MethodNotSupported {
        /// The plugin's URL name.
        plugin: &'static str,
        /// The HTTP method of the request.
        method: String,
    },
    /// A `[[plugins]]` entry names a plugin this build does not include.
    #[error("plugin {name} is not available in this build")]
    PluginNotAvailable {
        /// The plugin's canonical name.
        name: &'static str,
    },
    /// The resource plugin's `storage_backend_type` is not available in this build.
    #[error(
        "resource storage backend {backend} is not available in this build; use storage_backend_type = \"kvstorage\""
    )]
    BackendNotAvailable {
        /// The `storage_backend_type` value from the configuration.
        backend: &'static str,
    },
    /// The storage backend failed.
    #[error("storage backend failed")]
    Storage(#[from] storage::Error),
}

/// Which check the KBS runs before [`Plugin::handle`] (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthClass {
    /// Admin authentication and authorization (§8); the answer is never encrypted.
    Admin,
    /// A verified attestation token and the resource policy (§4.1 step 3).
    Attested,
}

/// One request as a plugin sees it.
#[derive(Debug, Clone)]
pub struct PluginRequest {
    /// The HTTP method.
    pub method: Method,
    /// Path segments after the plugin name, e.g. `["one", "two", "three"]`.
    pub path: Vec<String>,
    /// The decoded query string.
    pub query: BTreeMap<String, String>,
    /// The raw request body.
    pub body: Vec<u8>,
    /// On the attested path, the token claim at
    /// `/submods/cpu0/ear.veraison.annotated-evidence/init_data_claims`, if present.
    pub init_data_claims: Option<serde_json::Value>,
}

/// A plugin served under `/kbs/v0/<name>/...`.
#[async_trait]
pub trait Plugin: Send + Sync {
    /// The URL segment this plugin answers to.
    fn name(&self) -> &str;

    /// Decides whether the request is admin-gated or attestation-gated.
    fn validate_auth(
        &self,
        method: &Method,
        path: &[String],
        query: &BTreeMap<String, String>,
    ) -> Result<AuthClass, Error>;

    /// Answers the request once the KBS has authorized it.
    async fn handle(&self, request: PluginRequest) -> Result<Vec<u8>, Error>;

    /// Whether the answer must be JWE-wrapped to the TEE key (consulted on the attested path).
    fn encrypted(&self, request: &PluginRequest) -> bool;
}

/// One `[[plugins]]` entry, tagged by `name` (§9.1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "name")]
pub enum PluginConfig {
    /// The `resource` plugin.
    #[serde(rename = "resource", alias = "ResourceStorage")]
    Resource(ResourceBackendConfig),
    /// The `sample` plugin.
    #[serde(rename = "sample", alias = "Sample")]
    Sample(SamplePluginConfig),
    /// Upstream's `nebula-ca` plugin: not built here; parses so startup can say so clearly.
    #[serde(rename = "nebula-ca", alias = "NebulaCaPlugin")]
    NebulaCa(serde::de::IgnoredAny),
    /// Upstream's `pkcs11` plugin: not built here.
    #[serde(rename = "pkcs11", alias = "Pkcs11")]
    Pkcs11(serde::de::IgnoredAny),
    /// Upstream's `provisioner` plugin: not built here.
    #[serde(rename = "provisioner", alias = "Provisioner")]
    Provisioner(serde::de::IgnoredAny),
    /// Upstream's `external` plugin gateway: not built here.
    #[serde(rename = "external", alias = "ExternalPlugin")]
    External(serde::de::IgnoredAny),
}

impl PluginConfig {
    /// The plugin's canonical URL name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Resource(_) => RESOURCE_PLUGIN_NAME,
            Self::Sample(_) => SAMPLE_PLUGIN_NAME,
            Self::NebulaCa(_) => "nebula-ca",
            Self::Pkcs11(_) => "pkcs11",
            Self::Provisioner(_) => "provisioner",
            Self::External(_) => "external",
        }
    }
}

/// The enabled plugins by URL name. None are enabled by default.
#[derive(Clone, Default)]
pub struct PluginRegistry {
    plugins: HashMap<String, Arc<dyn Plugin>>,
}

impl std::fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRegistry")
            .field("plugins", &self.names())
            .finish()
    }
}

impl PluginRegistry {
    /// Builds the plugins named in `configs`; a later entry for the same plugin wins.
    pub fn new(configs: &[PluginConfig], storage: &StorageProvider) -> Result<Self, Error> {
        Self::with_observer(configs, storage, None)
    }

    /// As [`PluginRegistry::new`], reporting resource operations to `observer` (metrics).
    pub fn with_observer(
        configs: &[PluginConfig],
        storage: &StorageProvider,
        observer: Option<Arc<dyn ResourceObserver>>,
    ) -> Result<Self, Error> {
        let mut plugins: HashMap<String, Arc<dyn Plugin>> = HashMap::new();
        for config in configs {
            let plugin: Arc<dyn Plugin> = match config {
                PluginConfig::Resource(ResourceBackendConfig::KvStorage {}) => {
                    let store = storage.namespace(RESOURCE_NAMESPACE, None)?;
                    Arc::new(ResourcePlugin::new(store, observer.clone()))
                }
                PluginConfig::Resource(other) => {
                    return Err(Error::BackendNotAvailable {
                        backend: other.name(),
                    });
                }
                PluginConfig::Sample(config) => Arc::new(SamplePlugin::new(config.clone())),
                PluginConfig::NebulaCa(_)
                | PluginConfig::Pkcs11(_)
                | PluginConfig::Provisioner(_)
                | PluginConfig::External(_) => {
                    return Err(Error::PluginNotAvailable {
                        name: config.name(),
                    });
                }
            };
            plugins.insert(plugin.name().to_owned(), plugin);
        }
        Ok(Self { plugins })
    }

    /// A registry holding exactly these plugins (tests, embedding).
    pub fn from_plugins(plugins: impl IntoIterator<Item = Arc<dyn Plugin>>) -> Self {
        Self {
            plugins: plugins
                .into_iter()
                .map(|p| (p.name().to_owned(), p))
                .collect(),
        }
    }

    /// The plugin registered under the URL segment `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Plugin>> {
        self.plugins.get(name).cloned()
    }

    /// The URL names of the enabled plugins, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.plugins.keys().cloned().collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests;
