//! File-per-key backend with the upstream on-disk layout (`kbs-protocol.md` §11).
//!
//! Key `one/two/three` in namespace `repository` is the file
//! `<dir_path>/repository/one\x2Ftwo\x2Fthree` (the four literal characters `\x2F` stand for each
//! `/`) holding the raw value, so data seeded for an upstream KBS is read unchanged.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Mutex;

use crate::atomic::{Placed, io_error, sync_dir, write_atomically};
use crate::error::{Error, Result};
use crate::key::validate_key;
use crate::store::{KeyValueStore, SetMode, SetOutcome};

const ENCODED_SLASH: &str = "\\x2F";

/// One namespace directory.
#[derive(Debug)]
pub struct LocalFsStore {
    dir: Arc<PathBuf>,
    // Serialises set/delete so `delete` returns the value it actually removed. Reads need no
    // lock because every write is an atomic rename.
    write_lock: Mutex<()>,
}

impl LocalFsStore {
    /// Opens (creating if needed) the directory `<dir_path>/<namespace>`. The namespace must
    /// already be validated.
    pub fn open(dir_path: &Path, namespace: &str) -> Result<Self> {
        let dir = dir_path.join(namespace);
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        Ok(Self {
            dir: Arc::new(dir),
            write_lock: Mutex::new(()),
        })
    }

    fn path_of(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.dir.join(key.replace('/', ENCODED_SLASH)))
    }
}

/// Maps a file name back to its key; `None` for names that no valid key produces (temp files,
/// stray files), which are therefore never listed.
fn key_of(file_name: &str) -> Option<String> {
    let key = file_name.replace(ENCODED_SLASH, "/");
    validate_key(&key).ok().map(|()| key)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(Error::Task)?
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

#[async_trait]
impl KeyValueStore for LocalFsStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path_of(key)?;
        blocking(move || read_optional(&path)).await
    }

    async fn set(&self, key: &str, value: &[u8], mode: SetMode) -> Result<SetOutcome> {
        let path = self.path_of(key)?;
        let value = value.to_vec();
        let _guard = self.write_lock.lock().await;
        let placed =
            blocking(move || write_atomically(&path, &value, mode == SetMode::IfAbsent)).await?;
        Ok(match placed {
            Placed::Written => SetOutcome::Inserted,
            Placed::Existed => SetOutcome::AlreadyExists,
        })
    }

    async fn delete(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path_of(key)?;
        let dir = Arc::clone(&self.dir);
        let _guard = self.write_lock.lock().await;
        blocking(move || {
            let Some(old) = read_optional(&path)? else {
                return Ok(None);
            };
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_error(&path)(e)),
            }
            sync_dir(&dir)?;
            Ok(Some(old))
        })
        .await
    }

    async fn list(&self) -> Result<Vec<String>> {
        let dir = Arc::clone(&self.dir);
        blocking(move || {
            let mut keys = Vec::new();
            for entry in fs::read_dir(&*dir).map_err(io_error(&dir))? {
                let entry = entry.map_err(io_error(&dir))?;
                let is_file = entry
                    .file_type()
                    .map_err(io_error(&entry.path()))?
                    .is_file();
                // Subdirectories hold nested namespaces (`a` and `a/b`), not keys.
                if !is_file {
                    continue;
                }
                if let Some(key) = entry.file_name().to_str().and_then(key_of) {
                    keys.push(key);
                }
            }
            Ok(keys)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_map_back_to_keys() {
        assert_eq!(
            key_of("one\\x2Ftwo\\x2Fthree").as_deref(),
            Some("one/two/three")
        );
        assert_eq!(
            key_of("resource-policy.rego").as_deref(),
            Some("resource-policy.rego")
        );
        assert_eq!(key_of(".tmp~12-3"), None);
        assert_eq!(key_of("\\x2Fabs"), None);
        assert_eq!(key_of("a\\x2F..\\x2Fb"), None);
    }
}
