//! A persistent collateral cache: files in a directory, with an in-memory layer in front.
//!
//! Collateral (VCEKs, HSK/CEK pairs, ...) is immutable once issued for a given key, so entries
//! never expire here; a verifier still checks every certificate's validity at its own
//! verification time. Writes are atomic (temporary file, `fsync`, `rename`, directory `fsync`),
//! so a crash or a concurrent reader never sees a half-written certificate, and a process
//! restart finds everything fetched before.
//!
//! Keys are relative paths (`vcek/<hwid>/<tcb>_vcek.der`), so a cache directory filled online
//! has the same layout as the offline stores and can be copied to an air-gapped verifier.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Default number of entries kept in memory; collateral is a few KiB per chip and TCB.
pub const DEFAULT_MEMORY_ENTRIES: usize = 1024;

/// Default cap on one entry: real VCEKs are ~1.4 KiB and an HSK+CEK pair ~3 KiB.
pub const DEFAULT_MAX_ENTRY_BYTES: usize = 64 * 1024;

/// Prefix of temporary files; names starting with `.` are never keys, so readers and
/// [`CollateralCache::keys`] can never see a write in progress.
const TEMP_PREFIX: &str = ".tmp-";

/// A cache key: a relative path of one or more `/`-separated segments of `[A-Za-z0-9._-]`,
/// none empty, `.` or `..`, and none starting with `.`.
///
/// The rules keep every key inside the cache directory (no traversal from a hostile hardware
/// ID or serial number) and keep keys apart from temporary files.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    /// Validates `key`.
    pub fn new(key: impl Into<String>) -> Result<Self, CacheError> {
        let key = key.into();
        let valid = !key.is_empty()
            && key.split('/').all(|segment| {
                !segment.is_empty()
                    && !segment.starts_with('.')
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            });
        if valid {
            Ok(Self(key))
        } else {
            Err(CacheError::InvalidKey { key })
        }
    }

    /// The key as a relative path string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why the cache could not read or write an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The key is not a safe relative path.
    #[error("invalid collateral cache key `{key}`")]
    InvalidKey {
        /// The rejected key.
        key: String,
    },
    /// A file-system operation failed.
    #[error("collateral cache could not {op} `{path}`: {kind}")]
    Io {
        /// What was being done (`read`, `write`, `rename`, ...).
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The I/O error kind (the full error is not `Clone`).
        kind: io::ErrorKind,
    },
    /// An entry is larger than the cache accepts.
    #[error("collateral cache entry `{key}` exceeds {limit} bytes")]
    TooLarge {
        /// The entry's key.
        key: CacheKey,
        /// The configured cap.
        limit: usize,
    },
}

/// A collateral cache: an optional directory on disk behind a bounded in-memory map.
///
/// Cheap to share behind an [`Arc`]; all methods take `&self`. Disk I/O runs on tokio's
/// blocking pool so a slow disk never stalls the verifier's async workers.
#[derive(Debug)]
pub struct CollateralCache {
    dir: Option<PathBuf>,
    max_entry_bytes: usize,
    memory: Mutex<MemoryLayer>,
}

impl CollateralCache {
    /// A cache that persists under `dir` (created on first write).
    pub fn persistent(dir: impl Into<PathBuf>) -> Self {
        Self::build(Some(dir.into()))
    }

    /// A cache that lives only in memory (no directory configured).
    pub fn in_memory() -> Self {
        Self::build(None)
    }

    fn build(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            max_entry_bytes: DEFAULT_MAX_ENTRY_BYTES,
            memory: Mutex::new(MemoryLayer::new(DEFAULT_MEMORY_ENTRIES)),
        }
    }

    /// Sets the number of entries kept in memory (at least one).
    pub fn with_memory_entries(self, entries: usize) -> Self {
        Self {
            memory: Mutex::new(MemoryLayer::new(entries.max(1))),
            ..self
        }
    }

    /// Sets the largest entry accepted on write or read back from disk.
    pub fn with_max_entry_bytes(self, max_entry_bytes: usize) -> Self {
        Self {
            max_entry_bytes,
            ..self
        }
    }

    /// The directory entries persist under, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The entry for `key`: from memory, else from disk (then kept in memory), else `None`.
    pub async fn get(&self, key: &CacheKey) -> Result<Option<Arc<[u8]>>, CacheError> {
        if let Some(value) = self.memory().get(key) {
            return Ok(Some(value));
        }
        let Some(dir) = self.dir.clone() else {
            return Ok(None);
        };
        let (key_owned, limit) = (key.clone(), self.max_entry_bytes);
        let value = blocking(move || read_entry(&dir, &key_owned, limit)).await?;
        if let Some(value) = &value {
            self.memory().insert(key.clone(), value.clone());
        }
        Ok(value)
    }

    /// Stores `value` under `key`, atomically replacing any previous entry.
    pub async fn put(&self, key: &CacheKey, value: Arc<[u8]>) -> Result<(), CacheError> {
        if value.len() > self.max_entry_bytes {
            return Err(CacheError::TooLarge {
                key: key.clone(),
                limit: self.max_entry_bytes,
            });
        }
        if let Some(dir) = self.dir.clone() {
            let (key_owned, bytes) = (key.clone(), value.clone());
            blocking(move || write_entry_atomically(&dir, &key_owned, &bytes)).await?;
        }
        self.memory().insert(key.clone(), value);
        Ok(())
    }

    /// Every key stored on disk (or in memory for an in-memory cache), sorted. Temporary files
    /// of writes in progress are never listed.
    pub async fn keys(&self) -> Result<Vec<CacheKey>, CacheError> {
        let Some(dir) = self.dir.clone() else {
            let mut keys: Vec<CacheKey> = self.memory().map.keys().cloned().collect();
            keys.sort();
            return Ok(keys);
        };
        blocking(move || {
            let mut keys = Vec::new();
            list_dir(&dir, "", &mut keys)?;
            keys.sort();
            Ok(keys)
        })
        .await
    }

    fn memory(&self) -> MutexGuard<'_, MemoryLayer> {
        // A panic while holding this lock cannot leave the map half-updated (each operation is
        // one insert or remove), so a poisoned lock is still safe to use.
        self.memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The in-memory layer: a map bounded by entry count, evicting the oldest insertion first.
#[derive(Debug)]
struct MemoryLayer {
    capacity: usize,
    map: HashMap<CacheKey, Arc<[u8]>>,
    order: VecDeque<CacheKey>,
}

impl MemoryLayer {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn get(&self, key: &CacheKey) -> Option<Arc<[u8]>> {
        self.map.get(key).cloned()
    }

    fn insert(&mut self, key: CacheKey, value: Arc<[u8]>) {
        if self.map.insert(key.clone(), value).is_some() {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.map.remove(&oldest);
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, CacheError> + Send + 'static,
) -> Result<T, CacheError> {
    tokio::task::spawn_blocking(job).await.unwrap_or_else(|_| {
        // The job panicked or the runtime is shutting down; report it as an I/O failure
        // rather than propagating the panic into the verifier.
        Err(CacheError::Io {
            op: "run a file operation on",
            path: PathBuf::new(),
            kind: io::ErrorKind::Interrupted,
        })
    })
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CacheError + 'a {
    move |err| CacheError::Io {
        op,
        path: path.to_path_buf(),
        kind: err.kind(),
    }
}

fn read_entry(dir: &Path, key: &CacheKey, limit: usize) -> Result<Option<Arc<[u8]>>, CacheError> {
    let path = dir.join(key.as_str());
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_error("open", &path)(err)),
    };
    // Read one byte past the cap so an oversized (tampered or corrupt) file is refused
    // without reading it whole.
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error("read", &path))?;
    if bytes.len() > limit {
        return Err(CacheError::TooLarge {
            key: key.clone(),
            limit,
        });
    }
    Ok(Some(bytes.into()))
}

fn write_entry_atomically(dir: &Path, key: &CacheKey, bytes: &[u8]) -> Result<(), CacheError> {
    static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

    let path = dir.join(key.as_str());
    let parent = path.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(io_error("create directory", parent))?;
    let temp = parent.join(format!(
        "{TEMP_PREFIX}{}-{}",
        std::process::id(),
        NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(io_error("create", &temp))?;
        file.write_all(bytes).map_err(io_error("write", &temp))?;
        // The data must be durable before the rename makes it visible, or a crash could
        // leave a complete-looking but empty file under the final name.
        file.sync_all().map_err(io_error("sync", &temp))?;
        std::fs::rename(&temp, &path).map_err(io_error("rename", &path))
    })();
    if result.is_err() {
        // Best effort: the temporary name is never read, so a leftover only costs space.
        let _ = std::fs::remove_file(&temp);
        return result;
    }
    sync_dir(parent);
    Ok(())
}

/// Makes the rename durable. Directories cannot be opened for syncing on every platform, and
/// the entry is already visible and complete, so failure here is not an error.
fn sync_dir(dir: &Path) {
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

fn list_dir(dir: &Path, prefix: &str, keys: &mut Vec<CacheKey>) -> Result<(), CacheError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound && prefix.is_empty() => return Ok(()),
        Err(err) => return Err(io_error("list", dir)(err)),
    };
    for entry in entries {
        let entry = entry.map_err(io_error("list", dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        // Names that are not valid keys (temporary files, foreign files) are not entries.
        let Ok(key) = CacheKey::new(relative.clone()) else {
            continue;
        };
        let file_type = entry.file_type().map_err(io_error("list", dir))?;
        if file_type.is_dir() {
            list_dir(&entry.path(), &relative, keys)?;
        } else if file_type.is_file() {
            keys.push(key);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> CacheKey {
        CacheKey::new(text).unwrap()
    }

    fn bytes(text: &str) -> Arc<[u8]> {
        Arc::from(text.as_bytes())
    }

    #[test]
    fn keys_that_could_leave_the_directory_are_rejected() {
        for bad in [
            "", "/abs", "a//b", "../x", "a/../b", "./a", "a/.", ".hidden", "a/.tmp-1", "a\\b",
            "a b", "a/", "é",
        ] {
            assert_eq!(
                CacheKey::new(bad),
                Err(CacheError::InvalidKey { key: bad.into() }),
                "{bad:?}"
            );
        }
        assert_eq!(
            key("vcek/ab01/bl03_tee00_vcek.der").as_str(),
            "vcek/ab01/bl03_tee00_vcek.der"
        );
    }

    #[tokio::test]
    async fn entries_persist_across_re_creation() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CollateralCache::persistent(dir.path());
        cache
            .put(&key("vcek/chip/tcb.der"), bytes("cert"))
            .await
            .unwrap();
        drop(cache);

        let reopened = CollateralCache::persistent(dir.path());
        assert_eq!(
            reopened.get(&key("vcek/chip/tcb.der")).await.unwrap(),
            Some(bytes("cert"))
        );
        assert_eq!(
            std::fs::read(dir.path().join("vcek/chip/tcb.der")).unwrap(),
            b"cert"
        );
    }

    #[tokio::test]
    async fn in_memory_cache_forgets_on_re_creation() {
        let cache = CollateralCache::in_memory();
        cache.put(&key("a"), bytes("1")).await.unwrap();
        assert_eq!(cache.get(&key("a")).await.unwrap(), Some(bytes("1")));
        assert_eq!(cache.keys().await.unwrap(), vec![key("a")]);
        assert_eq!(
            CollateralCache::in_memory().get(&key("a")).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn memory_layer_answers_without_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CollateralCache::persistent(dir.path());
        cache.put(&key("x"), bytes("v")).await.unwrap();
        std::fs::remove_file(dir.path().join("x")).unwrap();
        assert_eq!(cache.get(&key("x")).await.unwrap(), Some(bytes("v")));
    }

    #[tokio::test]
    async fn disk_entries_are_loaded_into_memory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), b"v").unwrap();
        let cache = CollateralCache::persistent(dir.path());
        assert_eq!(cache.get(&key("x")).await.unwrap(), Some(bytes("v")));
        std::fs::remove_file(dir.path().join("x")).unwrap();
        assert_eq!(cache.get(&key("x")).await.unwrap(), Some(bytes("v")));
    }

    #[tokio::test]
    async fn memory_layer_is_bounded() {
        let cache = CollateralCache::in_memory().with_memory_entries(2);
        for name in ["a", "b", "c"] {
            cache.put(&key(name), bytes(name)).await.unwrap();
        }
        assert_eq!(cache.get(&key("a")).await.unwrap(), None);
        assert_eq!(cache.keys().await.unwrap(), vec![key("b"), key("c")]);
    }

    #[tokio::test]
    async fn writes_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CollateralCache::persistent(dir.path());
        for round in 0..3 {
            cache
                .put(&key("d/e"), bytes(&round.to_string()))
                .await
                .unwrap();
        }
        let names: Vec<_> = std::fs::read_dir(dir.path().join("d"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["e"]);
        assert_eq!(std::fs::read(dir.path().join("d/e")).unwrap(), b"2");
    }

    #[tokio::test]
    async fn temporary_and_foreign_files_are_not_listed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CollateralCache::persistent(dir.path());
        cache
            .put(&key("vcek/chip/a.der"), bytes("a"))
            .await
            .unwrap();
        // What a crash between create and rename leaves behind.
        std::fs::write(dir.path().join("vcek/chip/.tmp-1-0"), b"partial").unwrap();
        std::fs::write(dir.path().join("vcek/chip/bad name"), b"x").unwrap();
        assert_eq!(cache.keys().await.unwrap(), vec![key("vcek/chip/a.der")]);
    }

    #[tokio::test]
    async fn missing_directory_lists_nothing_and_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CollateralCache::persistent(dir.path().join("not-yet"));
        assert_eq!(cache.keys().await.unwrap(), vec![]);
        assert_eq!(cache.get(&key("x")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn oversized_entries_are_refused_on_write_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CollateralCache::persistent(dir.path()).with_max_entry_bytes(4);
        let err = cache.put(&key("big"), bytes("12345")).await.unwrap_err();
        assert_eq!(
            err,
            CacheError::TooLarge {
                key: key("big"),
                limit: 4
            }
        );
        assert!(!dir.path().join("big").exists());

        std::fs::write(dir.path().join("planted"), b"12345").unwrap();
        let err = cache.get(&key("planted")).await.unwrap_err();
        assert_eq!(
            err,
            CacheError::TooLarge {
                key: key("planted"),
                limit: 4
            }
        );
        cache.put(&key("ok"), bytes("1234")).await.unwrap();
    }

    #[tokio::test]
    async fn unreadable_entry_is_an_io_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where a file is expected.
        std::fs::create_dir_all(dir.path().join("x/y")).unwrap();
        let cache = CollateralCache::persistent(dir.path());
        let err = cache.put(&key("x/y"), bytes("v")).await.unwrap_err();
        assert!(
            matches!(&err, CacheError::Io { op: "rename", path, .. } if path.ends_with("x/y")),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("collateral cache could not rename"),
            "{err}"
        );
    }
}
