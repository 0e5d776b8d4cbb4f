//! The `rvps` service configuration (AS spec §10.4), with the upstream key names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use storage::{StorageConfig, StorageProvider};

use crate::builtin::BuiltinRvps;
use crate::error::{Error, Result};

/// The single namespace the RVPS stores records in, as upstream.
pub const REFERENCE_VALUE_NAMESPACE: &str = "reference_value";

/// Largest configuration file read; real ones are a few hundred bytes.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// `{"storage": {...}, "extractors": {...}}`; both keys optional, storage defaults to Memory.
///
/// Unlike upstream, unknown keys are errors, so a misspelt key fails at start-up instead of
/// silently falling back to in-memory storage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Where records are kept (the shared `storage` crate's upstream config).
    pub storage: StorageConfig,
    /// Extractor settings (`{"swid_extractor": {}}` upstream). Every extractor is always
    /// available, so this is accepted for compatibility and has no effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extractors: Option<Map<String, Value>>,
}

impl ServiceConfig {
    /// Loads a configuration file: TOML for `.toml`, JSON for `.json`.
    ///
    /// [`Error::ReadConfig`] means the file could not be read at all (the `rvps` binary then
    /// warns and runs with defaults, as upstream); any other error means the file is there but
    /// wrong, which is fatal.
    pub fn from_file(path: &Path) -> Result<Self> {
        // Read first, so an absent file is always a read error whatever its name.
        let text = read_bounded(path)?;
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            Some(ext) if ext.eq_ignore_ascii_case("toml") => Format::Toml,
            _ => {
                return Err(Error::UnsupportedConfigFormat {
                    path: path.to_owned(),
                });
            }
        };
        let parsed = match format {
            Format::Json => serde_json::from_str(&text).map_err(|e| e.to_string()),
            Format::Toml => toml::from_str(&text).map_err(|e| e.to_string()),
        };
        parsed.map_err(|reason| Error::ParseConfig {
            path: path.to_owned(),
            reason,
        })
    }

    /// Opens the `reference_value` namespace on the configured storage and builds the RVPS
    /// over it (file backends create their directory here).
    pub fn build(&self) -> Result<BuiltinRvps> {
        let provider = StorageProvider::new(&self.storage)?;
        let store = provider.namespace(REFERENCE_VALUE_NAMESPACE, None)?;
        Ok(BuiltinRvps::new(Arc::clone(&store)))
    }
}

enum Format {
    Json,
    Toml,
}

fn read_bounded(path: &Path) -> Result<String> {
    use std::io::Read as _;

    let read_error = |source| Error::ReadConfig {
        path: PathBuf::from(path),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::ParseConfig {
            path: path.to_owned(),
            reason: format!("larger than {MAX_CONFIG_BYTES} bytes"),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use storage::StorageType;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn empty_config_is_memory_storage() {
        let config: ServiceConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, ServiceConfig::default());
        assert_eq!(config.storage.storage_type, StorageType::Memory);
    }

    #[test]
    fn parses_the_upstream_json_example() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "rvps.json",
            r#"{"storage": {"storage_type": "LocalFs",
                 "backends": {"local_fs": {"dir_path": "/opt/x"}}},
                "extractors": {"swid_extractor": {}}}"#,
        );
        let config = ServiceConfig::from_file(&path).unwrap();
        assert_eq!(config.storage.storage_type, StorageType::LocalFs);
        assert_eq!(
            config.storage.backends.local_fs.dir_path,
            PathBuf::from("/opt/x")
        );
        assert!(config.extractors.unwrap().contains_key("swid_extractor"));
    }

    #[test]
    fn the_shipped_example_config_parses() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../config/rvps.json"
        ));
        let config = ServiceConfig::from_file(path).unwrap();
        assert_eq!(config.storage.storage_type, StorageType::LocalFs);
        assert_eq!(
            config.storage.backends.local_fs.dir_path,
            PathBuf::from(storage::DEFAULT_LOCAL_FS_DIR)
        );
    }

    #[test]
    fn parses_toml_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "rvps.toml",
            "[storage]\nstorage_type = \"local_json\"\n\
             [storage.backends.local_json]\nfile_dir_path = \"/tmp/j\"\n",
        );
        let config = ServiceConfig::from_file(&path).unwrap();
        assert_eq!(config.storage.storage_type, StorageType::LocalJson);
    }

    #[test]
    fn missing_file_is_a_read_error_whatever_its_extension() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["absent.json", "absent.yaml", "absent"] {
            let err = ServiceConfig::from_file(&dir.path().join(name)).unwrap_err();
            assert!(matches!(err, Error::ReadConfig { .. }), "{name}: {err}");
        }
    }

    #[test]
    fn malformed_or_misspelt_files_are_parse_errors_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "bad.json",
            r#"{"storage": {"storage": "LocalFs"}}"#,
        );
        let err = ServiceConfig::from_file(&path).unwrap_err();
        assert!(matches!(err, Error::ParseConfig { .. }), "{err}");
        assert!(err.to_string().contains("storage"), "{err}");

        let path = write(dir.path(), "typo.toml", "storages = 1\n");
        let err = ServiceConfig::from_file(&path).unwrap_err();
        assert!(err.to_string().contains("storages"), "{err}");

        let path = write(dir.path(), "broken.json", "{");
        let err = ServiceConfig::from_file(&path).unwrap_err();
        assert!(matches!(err, Error::ParseConfig { .. }), "{err}");
    }

    #[test]
    fn other_extensions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "rvps.yaml", "storage: {}\n");
        let err = ServiceConfig::from_file(&path).unwrap_err();
        assert!(
            matches!(err, Error::UnsupportedConfigFormat { .. }),
            "{err}"
        );
    }

    #[test]
    fn oversized_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{{\"extractors\": {{\"x\": \"{}\"}}}}", "a".repeat(1 << 20));
        let path = write(dir.path(), "big.json", &text);
        let err = ServiceConfig::from_file(&path).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn builds_an_rvps_on_the_configured_backend() {
        let dir = tempfile::tempdir().unwrap();
        let config: ServiceConfig = serde_json::from_value(serde_json::json!({
            "storage": {"storage_type": "LocalFs",
                        "backends": {"local_fs": {"dir_path": dir.path()}}}
        }))
        .unwrap();
        config.build().unwrap();
        assert!(dir.path().join(REFERENCE_VALUE_NAMESPACE).is_dir());

        let unavailable: ServiceConfig =
            serde_json::from_str(r#"{"storage": {"storage_type": "Redis"}}"#).unwrap();
        assert!(matches!(
            unavailable.build().unwrap_err(),
            Error::Storage(storage::Error::BackendUnavailable { .. })
        ));
    }
}
