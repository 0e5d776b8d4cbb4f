//! The `resource` plugin (`kbs-protocol.md` §9.2): secrets stored under
//! `<repository>/<type>/<tag>` in the storage namespace `repository`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::Method;
use serde::Deserialize;
use storage::{KeyValueStore, SetMode};

use super::{AuthClass, Error, Plugin, PluginRequest};

/// The storage namespace holding resources; upstream's LocalFs layout puts it at
/// `<dir_path>/repository/`, so pre-seeded data keeps working.
pub const RESOURCE_NAMESPACE: &str = "repository";

/// The URL segment of this plugin.
pub const RESOURCE_PLUGIN_NAME: &str = "resource";

/// A validated resource path: exactly three segments `<repository>/<type>/<tag>`, each matching
/// `[A-Za-z0-9_-][A-Za-z0-9_.-]*` (§9.2). No segment may start with a dot, so `.` and `..`
/// can never reach a storage backend that maps keys to files.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourcePath {
    joined: String,
}

impl ResourcePath {
    /// Validates the path segments that follow the plugin name in the URL.
    pub fn from_segments(segments: &[String]) -> Result<Self, Error> {
        let valid = segments.len() == 3 && segments.iter().all(|s| is_valid_segment(s));
        if !valid {
            return Err(Error::InvalidResourcePath {
                path: segments.join("/"),
            });
        }
        Ok(Self {
            joined: segments.join("/"),
        })
    }

    /// The storage key and metrics label: `<repository>/<type>/<tag>`.
    pub fn as_str(&self) -> &str {
        &self.joined
    }
}

impl FromStr for ResourcePath {
    type Err = Error;

    fn from_str(path: &str) -> Result<Self, Error> {
        let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
        Self::from_segments(&segments)
    }
}

impl fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.joined)
    }
}

fn is_valid_segment(segment: &str) -> bool {
    let mut chars = segment.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    allowed(first) && chars.all(|c| allowed(c) || c == '.')
}

/// A successful operation on a resource, reported to a [`ResourceObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceOp {
    /// A resource was read (attested `GET`).
    Read,
    /// A resource was written (admin `POST`).
    Write,
    /// A resource was deleted (admin `DELETE`).
    Delete,
}

/// Receives every successful resource operation with its path, so the KBS can count
/// reads/writes/deletes per `resource_path` label without this module knowing about metrics.
pub trait ResourceObserver: Send + Sync {
    /// Called once after each successful operation.
    fn observe(&self, op: ResourceOp, path: &str);
}

impl<F> ResourceObserver for F
where
    F: Fn(ResourceOp, &str) + Send + Sync,
{
    fn observe(&self, op: ResourceOp, path: &str) {
        self(op, path)
    }
}

/// `[[plugins]] name = "resource"` settings: the storage backend for resources (§9.2).
/// `storage_backend_type` is required, as upstream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "storage_backend_type", deny_unknown_fields)]
pub enum ResourceBackendConfig {
    /// The KBS's global key-value storage, namespace `repository`.
    #[serde(rename = "kvstorage", alias = "KvStorage")]
    KvStorage {},
    /// HashiCorp Vault / OpenBao KV v1; parses so upstream configs give a clear error.
    #[serde(rename = "Vault", alias = "vault")]
    Vault(serde::de::IgnoredAny),
    /// Aliyun KMS; parses so upstream configs give a clear error.
    #[serde(rename = "Aliyun", alias = "aliyun")]
    Aliyun(serde::de::IgnoredAny),
    /// AWS Secrets Manager; parses so upstream configs give a clear error.
    #[serde(rename = "Aws", alias = "aws")]
    Aws(serde::de::IgnoredAny),
    /// GCP Secret Manager; parses so upstream configs give a clear error.
    #[serde(rename = "Gcp", alias = "gcp")]
    Gcp(serde::de::IgnoredAny),
}

impl ResourceBackendConfig {
    /// The backend's configuration name, for startup errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::KvStorage {} => "kvstorage",
            Self::Vault(_) => "Vault",
            Self::Aliyun(_) => "Aliyun",
            Self::Aws(_) => "Aws",
            Self::Gcp(_) => "Gcp",
        }
    }
}

/// The `resource` plugin over a key-value store.
pub struct ResourcePlugin {
    store: Arc<dyn KeyValueStore>,
    observer: Option<Arc<dyn ResourceObserver>>,
}

impl ResourcePlugin {
    /// A plugin reading and writing resources in `store` (the `repository` namespace).
    pub fn new(store: Arc<dyn KeyValueStore>, observer: Option<Arc<dyn ResourceObserver>>) -> Self {
        Self { store, observer }
    }

    fn notify(&self, op: ResourceOp, path: &ResourcePath) {
        if let Some(observer) = &self.observer {
            observer.observe(op, path.as_str());
        }
    }
}

#[async_trait]
impl Plugin for ResourcePlugin {
    fn name(&self) -> &str {
        RESOURCE_PLUGIN_NAME
    }

    fn validate_auth(
        &self,
        method: &Method,
        _path: &[String],
        _query: &std::collections::BTreeMap<String, String>,
    ) -> Result<AuthClass, Error> {
        // Writes are admin operations; every other method (including PUT, which `handle`
        // refuses) goes through attestation, as upstream does.
        if *method == Method::POST || *method == Method::DELETE {
            Ok(AuthClass::Admin)
        } else {
            Ok(AuthClass::Attested)
        }
    }

    async fn handle(&self, request: PluginRequest) -> Result<Vec<u8>, Error> {
        // Validate before touching storage so a malformed path never becomes a backend key.
        let path = ResourcePath::from_segments(&request.path)?;
        match request.method {
            Method::GET => {
                let value = self.store.get(path.as_str()).await?.ok_or_else(|| {
                    Error::ResourceNotFound {
                        path: path.to_string(),
                    }
                })?;
                self.notify(ResourceOp::Read, &path);
                Ok(value)
            }
            Method::POST => {
                self.store
                    .set(path.as_str(), &request.body, SetMode::Overwrite)
                    .await?;
                self.notify(ResourceOp::Write, &path);
                Ok(Vec::new())
            }
            Method::DELETE => {
                self.store
                    .delete(path.as_str())
                    .await?
                    .ok_or_else(|| Error::ResourceNotFound {
                        path: path.to_string(),
                    })?;
                self.notify(ResourceOp::Delete, &path);
                Ok(Vec::new())
            }
            other => Err(Error::MethodNotSupported {
                plugin: RESOURCE_PLUGIN_NAME,
                method: other.to_string(),
            }),
        }
    }

    fn encrypted(&self, _request: &PluginRequest) -> bool {
        // Consulted only on the attested path, where the only successful answer is a secret:
        // never let one leave unencrypted.
        true
    }
}
