//! One-JSON-file-per-namespace backend with the upstream layout (`attestation-service.md` §12).
//!
//! Namespace `kbs` is the file `<file_dir_path>/kbs` (no extension) holding
//! `{"<key>": "<base64url with padding of the value>", ...}`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use tokio::sync::Mutex;

use crate::atomic::{io_error, write_atomically};
use crate::error::{Error, Result};
use crate::key::validate_key;
use crate::store::{KeyValueStore, SetMode, SetOutcome};

type Document = BTreeMap<String, String>;

/// One namespace file.
///
/// The file is re-read on every operation, so edits made while the service runs are seen, and
/// rewritten atomically on every change.
#[derive(Debug)]
pub struct LocalJsonStore {
    path: Arc<PathBuf>,
    // Serialises read-modify-write cycles on the file.
    lock: Mutex<()>,
}

impl LocalJsonStore {
    /// Opens the file `<file_dir_path>/<namespace>`, creating it as `{}` if missing. The
    /// namespace must already be validated.
    pub fn open(file_dir_path: &Path, namespace: &str) -> Result<Self> {
        let path = file_dir_path.join(namespace);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        // Only-if-absent so a file created concurrently (or already populated) is kept.
        write_atomically(&path, b"{}", true)?;
        Ok(Self {
            path: Arc::new(path),
            lock: Mutex::new(()),
        })
    }

    async fn read(&self) -> Result<Document> {
        let path = Arc::clone(&self.path);
        blocking(move || read_document(&path)).await
    }

    async fn write(&self, document: Document) -> Result<()> {
        let path = Arc::clone(&self.path);
        blocking(move || {
            let bytes =
                serde_json::to_vec(&document).map_err(|source| Error::MalformedJsonStore {
                    path: path.to_path_buf(),
                    source,
                })?;
            write_atomically(&path, &bytes, false).map(|_| ())
        })
        .await
    }

    fn decode(&self, key: &str, encoded: &str) -> Result<Vec<u8>> {
        URL_SAFE
            .decode(encoded)
            .map_err(|_| Error::MalformedJsonValue {
                path: self.path.to_path_buf(),
                key: key.to_owned(),
            })
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(Error::Task)?
}

fn read_document(path: &Path) -> Result<Document> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    serde_json::from_slice(&bytes).map_err(|source| Error::MalformedJsonStore {
        path: path.to_path_buf(),
        source,
    })
}

#[async_trait]
impl KeyValueStore for LocalJsonStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate_key(key)?;
        let _guard = self.lock.lock().await;
        let document = self.read().await?;
        document
            .get(key)
            .map(|encoded| self.decode(key, encoded))
            .transpose()
    }

    async fn set(&self, key: &str, value: &[u8], mode: SetMode) -> Result<SetOutcome> {
        validate_key(key)?;
        let _guard = self.lock.lock().await;
        let mut document = self.read().await?;
        if mode == SetMode::IfAbsent && document.contains_key(key) {
            return Ok(SetOutcome::AlreadyExists);
        }
        document.insert(key.to_owned(), URL_SAFE.encode(value));
        self.write(document).await?;
        Ok(SetOutcome::Inserted)
    }

    async fn delete(&self, key: &str) -> Result<Option<Vec<u8>>> {
        validate_key(key)?;
        let _guard = self.lock.lock().await;
        let mut document = self.read().await?;
        let Some(encoded) = document.remove(key) else {
            return Ok(None);
        };
        let old = self.decode(key, &encoded)?;
        self.write(document).await?;
        Ok(Some(old))
    }

    async fn list(&self) -> Result<Vec<String>> {
        let _guard = self.lock.lock().await;
        // Keys written by other tools that we could never read back are left out, as in LocalFs.
        Ok(self
            .read()
            .await?
            .into_keys()
            .filter(|key| validate_key(key).is_ok())
            .collect())
    }
}
