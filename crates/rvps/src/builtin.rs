//! The in-process RVPS over a key-value namespace.

use std::sync::Arc;

use async_trait::async_trait;
use storage::{KeyValueStore, SetMode, validate_key};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::message::extract;
use crate::record::ReferenceValue;

/// Registers, queries and deletes reference values.
#[async_trait]
pub trait ReferenceValueProvider: Send + Sync {
    /// Registers every value carried by a register message (AS spec §10.1), replacing values of
    /// the same name; returns the names stored (empty for a [`crate::RemoteRvps`], whose
    /// protocol does not report them).
    async fn register(&self, message: &str) -> Result<Vec<String>>;

    /// The value stored under `id`; `None` if unknown or expired.
    async fn query(&self, id: &str) -> Result<Option<serde_json::Value>>;

    /// Removes a value; returns whether it existed (an id that cannot be a storage key never
    /// does). A [`crate::RemoteRvps`] calls `DeleteReferenceValue`, our extension beyond
    /// upstream's protocol; an upstream RVPS lacks it and the call fails with
    /// [`Error::UnsupportedRemoteOperation`].
    async fn delete(&self, id: &str) -> Result<bool>;
}

/// A clock returning the current time; injected so tests can pin it.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// The built-in RVPS: records kept as JSON in one namespace (`reference_value` upstream).
pub struct BuiltinRvps {
    store: Arc<dyn KeyValueStore>,
    clock: Clock,
}

impl std::fmt::Debug for BuiltinRvps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinRvps").finish_non_exhaustive()
    }
}

impl BuiltinRvps {
    /// An RVPS over `store`, reading the system clock.
    pub fn new(store: Arc<dyn KeyValueStore>) -> Self {
        Self {
            store,
            clock: Arc::new(OffsetDateTime::now_utc),
        }
    }

    /// Replaces the clock used for expiration stamps and expiry checks.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

#[async_trait]
impl ReferenceValueProvider for BuiltinRvps {
    async fn register(&self, message: &str) -> Result<Vec<String>> {
        let values = extract(message)?;
        // Check every name before storing any, so a bad message changes nothing.
        for name in values.keys() {
            validate_key(name).map_err(|e| match e {
                storage::Error::InvalidKey { rule, .. } => Error::InvalidName {
                    name: name.clone(),
                    rule,
                },
                other => Error::Storage(other),
            })?;
        }
        let now = (self.clock)();
        let mut names = Vec::with_capacity(values.len());
        for (name, value) in values {
            let record = ReferenceValue::new(name.clone(), value, now)?;
            let bytes = serde_json::to_vec(&record).map_err(|source| Error::MalformedRecord {
                name: name.clone(),
                source,
            })?;
            self.store.set(&name, &bytes, SetMode::Overwrite).await?;
            tracing::debug!(%name, "reference value registered");
            names.push(name);
        }
        Ok(names)
    }

    async fn query(&self, id: &str) -> Result<Option<serde_json::Value>> {
        // An id no backend can store (e.g. an `rvps:///...:tag` URI) is simply unknown; failing
        // would fail every policy that merely asks for it.
        if validate_key(id).is_err() {
            return Ok(None);
        }
        let Some(bytes) = self.store.get(id).await? else {
            return Ok(None);
        };
        let record: ReferenceValue =
            serde_json::from_slice(&bytes).map_err(|source| Error::MalformedRecord {
                name: id.to_owned(),
                source,
            })?;
        // Deliberate difference from upstream, which stores expirations but never checks them.
        if record.is_expired((self.clock)()) {
            tracing::debug!(name = %id, "reference value expired");
            return Ok(None);
        }
        Ok(Some(record.value))
    }

    async fn delete(&self, id: &str) -> Result<bool> {
        if validate_key(id).is_err() {
            return Ok(false);
        }
        Ok(self.store.delete(id).await?.is_some())
    }
}
