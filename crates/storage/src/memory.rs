//! In-process backend: one map per namespace, each behind its own lock.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;

use crate::error::Result;
use crate::key::validate_key;
use crate::store::{KeyValueStore, SetMode, SetOutcome};

/// A namespace held in memory; lost on restart.
///
/// The lock is per namespace and never held across an `.await`, so namespaces never contend.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: RwLock<HashMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty namespace.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl KeyValueStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate_key(key)?;
        // A panic elsewhere cannot leave a half-written Vec in the map, so poisoning is harmless.
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        Ok(map.get(key).cloned())
    }

    async fn set(&self, key: &str, value: &[u8], mode: SetMode) -> Result<SetOutcome> {
        validate_key(key)?;
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        match (map.entry(key.to_owned()), mode) {
            (Entry::Occupied(_), SetMode::IfAbsent) => Ok(SetOutcome::AlreadyExists),
            (Entry::Occupied(mut entry), SetMode::Overwrite) => {
                entry.insert(value.to_vec());
                Ok(SetOutcome::Inserted)
            }
            (Entry::Vacant(entry), _) => {
                entry.insert(value.to_vec());
                Ok(SetOutcome::Inserted)
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate_key(key)?;
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        Ok(map.remove(key))
    }

    async fn list(&self) -> Result<Vec<String>> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        Ok(map.keys().cloned().collect())
    }
}
