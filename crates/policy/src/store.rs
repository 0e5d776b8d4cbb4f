//! Policies kept as `<id>.rego` in a key-value namespace, with a cache of compiled policies.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use storage::{KeyValueStore, SetMode, SetOutcome};
use tokio::sync::Mutex;

use crate::compiled::{CompiledPolicy, PolicyExtension};
use crate::error::{Error, Result};

const SUFFIX: &str = ".rego";

/// Stores Rego policies (raw text under `<id>.rego`, as upstream) and serves them compiled.
///
/// A policy is compiled when it is set, or on first use after a restart; never per request.
pub struct PolicyStore {
    store: Arc<dyn KeyValueStore>,
    extensions: Vec<PolicyExtension>,
    // Read on every evaluation; only ever held long enough to clone an Arc out.
    cache: RwLock<HashMap<String, Arc<CompiledPolicy>>>,
    // Orders writers and cache fills so a slow fill can never put back a policy that a
    // concurrent `set` or `delete` has just replaced.
    update: Mutex<()>,
}

impl std::fmt::Debug for PolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyStore")
            .field("extensions", &self.extensions)
            .finish_non_exhaustive()
    }
}

impl PolicyStore {
    /// A store over one namespace (`attestation_service_policy` for the AS, `kbs` for the KBS
    /// resource policy); every compiled policy gets `extensions`.
    pub fn new(store: Arc<dyn KeyValueStore>, extensions: Vec<PolicyExtension>) -> Self {
        Self {
            store,
            extensions,
            cache: RwLock::new(HashMap::new()),
            update: Mutex::new(()),
        }
    }

    /// Compiles `text` and, only if it compiles, stores it (overwriting) and caches it.
    pub async fn set(&self, id: &str, text: &str) -> Result<Arc<CompiledPolicy>> {
        let key = key_of(id)?;
        let compiled = Arc::new(CompiledPolicy::compile(id, text, &self.extensions)?);
        let _update = self.update.lock().await;
        self.store
            .set(&key, text.as_bytes(), SetMode::Overwrite)
            .await?;
        self.cache_insert(id, Arc::clone(&compiled));
        Ok(compiled)
    }

    /// Stores a shipped default only if no policy with this id exists, so a policy an
    /// administrator changed survives restarts. Returns whether it was stored. The text must
    /// compile either way.
    pub async fn seed(&self, id: &str, text: &str) -> Result<bool> {
        let key = key_of(id)?;
        let compiled = Arc::new(CompiledPolicy::compile(id, text, &self.extensions)?);
        let _update = self.update.lock().await;
        match self
            .store
            .set(&key, text.as_bytes(), SetMode::IfAbsent)
            .await?
        {
            SetOutcome::Inserted => {
                self.cache_insert(id, compiled);
                Ok(true)
            }
            SetOutcome::AlreadyExists => Ok(false),
        }
    }

    /// The stored Rego text.
    pub async fn get_text(&self, id: &str) -> Result<String> {
        let key = key_of(id)?;
        let bytes = self
            .store
            .get(&key)
            .await?
            .ok_or_else(|| Error::PolicyNotFound { id: id.to_owned() })?;
        String::from_utf8(bytes).map_err(|_| Error::NotUtf8 { id: id.to_owned() })
    }

    /// The ids of all stored policies, sorted. Keys without the `.rego` suffix belong to
    /// something else sharing the namespace and are skipped (upstream fails the whole listing).
    pub async fn list(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = self
            .store
            .list()
            .await?
            .into_iter()
            .filter_map(|key| key.strip_suffix(SUFFIX).map(str::to_owned))
            .filter(|id| valid_id(id))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Removes a policy; returns whether it existed.
    pub async fn delete(&self, id: &str) -> Result<bool> {
        let key = key_of(id)?;
        let _update = self.update.lock().await;
        let existed = self.store.delete(&key).await?.is_some();
        self.cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        Ok(existed)
    }

    /// The compiled policy: from the cache, or loaded from the store and compiled once (so
    /// pre-seeded and persisted policies work).
    pub async fn compiled(&self, id: &str) -> Result<Arc<CompiledPolicy>> {
        let key = key_of(id)?;
        if let Some(hit) = self.cache_get(id) {
            return Ok(hit);
        }
        let _update = self.update.lock().await;
        // Another caller may have filled the cache while we waited.
        if let Some(hit) = self.cache_get(id) {
            return Ok(hit);
        }
        let bytes = self
            .store
            .get(&key)
            .await?
            .ok_or_else(|| Error::PolicyNotFound { id: id.to_owned() })?;
        let text = String::from_utf8(bytes).map_err(|_| Error::NotUtf8 { id: id.to_owned() })?;
        let compiled = Arc::new(CompiledPolicy::compile(id, &text, &self.extensions)?);
        self.cache_insert(id, Arc::clone(&compiled));
        Ok(compiled)
    }

    fn cache_get(&self, id: &str) -> Option<Arc<CompiledPolicy>> {
        // The map only ever holds complete entries, so a poisoned lock is still consistent.
        self.cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn cache_insert(&self, id: &str, compiled: Arc<CompiledPolicy>) {
        self.cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), compiled);
    }
}

/// Checks a policy id (`[A-Za-z0-9._-]+`) and returns its storage key. Ids never contain `/`, so
/// one policy cannot shadow another through the key layout.
fn key_of(id: &str) -> Result<String> {
    if !valid_id(id) {
        return Err(Error::InvalidPolicyId { id: id.to_owned() });
    }
    Ok(format!("{id}{SUFFIX}"))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_ids_are_checked() {
        assert_eq!(key_of("default_cpu").unwrap(), "default_cpu.rego");
        assert_eq!(key_of("resource-policy").unwrap(), "resource-policy.rego");
        for bad in ["", "a/b", "../x", "a b", "a:b"] {
            assert!(
                matches!(key_of(bad), Err(Error::InvalidPolicyId { .. })),
                "{bad:?}"
            );
        }
    }
}
