//! Hands out one store per namespace from a [`StorageConfig`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::{StorageConfig, StorageType};
use crate::error::{Error, Result};
use crate::key::validate_namespace;
use crate::local_fs::LocalFsStore;
use crate::local_json::LocalJsonStore;
use crate::memory::MemoryStore;
use crate::store::KeyValueStore;

/// The process-wide source of namespaced stores.
///
/// Asking twice for the same namespace and type returns the same instance, so two components
/// sharing a Memory namespace see each other's writes.
pub struct StorageProvider {
    config: StorageConfig,
    namespaces: Mutex<HashMap<(String, StorageType), Arc<dyn KeyValueStore>>>,
}

impl std::fmt::Debug for StorageProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl StorageProvider {
    /// Checks the configured default backend is available and builds the provider.
    pub fn new(config: &StorageConfig) -> Result<Self> {
        check_available(config.storage_type)?;
        Ok(Self {
            config: config.clone(),
            namespaces: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration this provider was built from.
    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    /// The store for `name`, using `storage_type` if given, else the configured default.
    ///
    /// File backends create their directory or file here, so call this at start-up.
    pub fn namespace(
        &self,
        name: &str,
        storage_type: Option<StorageType>,
    ) -> Result<Arc<dyn KeyValueStore>> {
        validate_namespace(name)?;
        let storage_type = storage_type.unwrap_or(self.config.storage_type);
        check_available(storage_type)?;
        // Held while creating the store so two callers never build two instances.
        let mut namespaces = self
            .namespaces
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = namespaces.get(&(name.to_owned(), storage_type)) {
            return Ok(Arc::clone(store));
        }
        let backends = &self.config.backends;
        let store: Arc<dyn KeyValueStore> = match storage_type {
            StorageType::Memory => Arc::new(MemoryStore::new()),
            StorageType::LocalFs => {
                Arc::new(LocalFsStore::open(&backends.local_fs.dir_path, name)?)
            }
            StorageType::LocalJson => Arc::new(LocalJsonStore::open(
                &backends.local_json.file_dir_path,
                name,
            )?),
            StorageType::Postgres | StorageType::Redis => {
                return Err(Error::BackendUnavailable { storage_type });
            }
        };
        namespaces.insert((name.to_owned(), storage_type), Arc::clone(&store));
        Ok(store)
    }
}

fn check_available(storage_type: StorageType) -> Result<()> {
    match storage_type {
        StorageType::Memory | StorageType::LocalFs | StorageType::LocalJson => Ok(()),
        // TODO(postgres/redis backends): remove once those modules land.
        StorageType::Postgres | StorageType::Redis => {
            Err(Error::BackendUnavailable { storage_type })
        }
    }
}
