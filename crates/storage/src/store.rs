//! The key-value trait every backend implements.

use async_trait::async_trait;

use crate::error::Result;

/// How [`KeyValueStore::set`] treats an existing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetMode {
    /// Replace any existing value.
    Overwrite,
    /// Store only if the key is absent; an existing value is kept.
    IfAbsent,
}

/// What [`KeyValueStore::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The value was stored.
    Inserted,
    /// The key existed and the mode was [`SetMode::IfAbsent`]; nothing changed.
    AlreadyExists,
}

/// A key-value store bound to one namespace.
///
/// Every operation validates its key with [`crate::validate_key`] first.
#[async_trait]
pub trait KeyValueStore: Send + Sync {
    /// Reads a value; `None` when the key is absent.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Writes a value according to `mode`.
    async fn set(&self, key: &str, value: &[u8], mode: SetMode) -> Result<SetOutcome>;

    /// Removes a key and returns its old value; `None` when it was absent.
    async fn delete(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Lists every key in the namespace, in no particular order.
    async fn list(&self) -> Result<Vec<String>>;
}
