//! Storage configuration with the upstream section and key names (`attestation-service.md` §12).

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Default directory of the LocalFs backend, as upstream.
pub const DEFAULT_LOCAL_FS_DIR: &str = "/opt/confidential-containers/storage/local_fs";
/// Default directory of the LocalJson backend, as upstream.
pub const DEFAULT_LOCAL_JSON_DIR: &str = "/opt/confidential-containers/storage/local_json";

/// The `storage_backend` section shared by the KBS, AS and RVPS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Which backend serves namespaces that have no override.
    #[serde(default)]
    pub storage_type: StorageType,
    /// Per-backend settings. Upstream requires the selected backend's table to be present; we
    /// default it, so `storage_type = "LocalFs"` alone works (AS spec §11 pitfall).
    #[serde(default)]
    pub backends: BackendsConfig,
}

/// A storage backend. Also usable as a per-namespace override.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StorageType {
    /// In-process maps, lost on restart.
    #[default]
    #[serde(alias = "memory")]
    Memory,
    /// One file per key under `<dir_path>/<namespace>/`.
    #[serde(alias = "local_fs")]
    LocalFs,
    /// One JSON file per namespace under `file_dir_path`.
    #[serde(alias = "local_json")]
    LocalJson,
    /// PostgreSQL; accepted in configuration, not yet available.
    #[serde(alias = "postgres")]
    Postgres,
    /// Redis; accepted in configuration, not yet available.
    #[serde(alias = "redis")]
    Redis,
}

impl fmt::Display for StorageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Memory => "Memory",
            Self::LocalFs => "LocalFs",
            Self::LocalJson => "LocalJson",
            Self::Postgres => "Postgres",
            Self::Redis => "Redis",
        })
    }
}

/// The `backends` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendsConfig {
    /// LocalFs settings.
    #[serde(default)]
    pub local_fs: LocalFsConfig,
    /// LocalJson settings.
    #[serde(default)]
    pub local_json: LocalJsonConfig,
    /// PostgreSQL settings, parsed so that upstream files load; unused until that backend exists.
    #[serde(default)]
    pub postgres: PostgresConfig,
    /// Redis settings, parsed so that upstream files load; unused until that backend exists.
    #[serde(default)]
    pub redis: RedisConfig,
}

/// `backends.local_fs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalFsConfig {
    /// Root directory; each namespace is a subdirectory.
    #[serde(default = "default_local_fs_dir")]
    pub dir_path: PathBuf,
}

impl Default for LocalFsConfig {
    fn default() -> Self {
        Self {
            dir_path: default_local_fs_dir(),
        }
    }
}

/// `backends.local_json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalJsonConfig {
    /// Directory holding one file per namespace.
    #[serde(default = "default_local_json_dir")]
    pub file_dir_path: PathBuf,
}

impl Default for LocalJsonConfig {
    fn default() -> Self {
        Self {
            file_dir_path: default_local_json_dir(),
        }
    }
}

/// `backends.postgres` (upstream names and defaults).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Database name.
    pub db: String,
    /// User name.
    pub username: String,
    /// Password, if any.
    pub password: Option<String>,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            host: "localhost".to_owned(),
            port: 5432,
            db: "postgres".to_owned(),
            username: "postgres".to_owned(),
            password: None,
        }
    }
}

// Hand-written so the password never reaches logs.
impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("db", &self.db)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `backends.redis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Server URL.
    pub url: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".to_owned(),
        }
    }
}

fn default_local_fs_dir() -> PathBuf {
    PathBuf::from(DEFAULT_LOCAL_FS_DIR)
}

fn default_local_json_dir() -> PathBuf {
    PathBuf::from(DEFAULT_LOCAL_JSON_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_memory() {
        let config: StorageConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config.storage_type, StorageType::Memory);
        assert_eq!(
            config.backends.local_fs.dir_path,
            PathBuf::from(DEFAULT_LOCAL_FS_DIR)
        );
        assert_eq!(
            config.backends.local_json.file_dir_path,
            PathBuf::from(DEFAULT_LOCAL_JSON_DIR)
        );
    }

    #[test]
    fn accepts_upstream_names_and_aliases() {
        for (text, expected) in [
            ("Memory", StorageType::Memory),
            ("memory", StorageType::Memory),
            ("LocalFs", StorageType::LocalFs),
            ("local_fs", StorageType::LocalFs),
            ("LocalJson", StorageType::LocalJson),
            ("local_json", StorageType::LocalJson),
            ("Postgres", StorageType::Postgres),
            ("postgres", StorageType::Postgres),
            ("Redis", StorageType::Redis),
            ("redis", StorageType::Redis),
        ] {
            let json = format!(r#"{{"storage_type":"{text}"}}"#);
            let config: StorageConfig = serde_json::from_str(&json).unwrap();
            assert_eq!(config.storage_type, expected, "{text}");
        }
    }

    #[test]
    fn parses_upstream_json_with_backends() {
        let config: StorageConfig = serde_json::from_str(
            r#"{"storage_type":"LocalFs","backends":{"local_fs":{"dir_path":"/tmp/x"},
                "local_json":{"file_dir_path":"/tmp/y"},
                "postgres":{"host":"db","port":5433,"db":"d","username":"u","password":null},
                "redis":{"url":"redis://r:1"}}}"#,
        )
        .unwrap();
        assert_eq!(config.backends.local_fs.dir_path, PathBuf::from("/tmp/x"));
        assert_eq!(
            config.backends.local_json.file_dir_path,
            PathBuf::from("/tmp/y")
        );
        assert_eq!(config.backends.postgres.port, 5433);
        assert_eq!(config.backends.redis.url, "redis://r:1");
    }

    #[test]
    fn rejects_unknown_keys() {
        assert!(serde_json::from_str::<StorageConfig>(r#"{"storage":"Memory"}"#).is_err());
        assert!(
            serde_json::from_str::<StorageConfig>(r#"{"backends":{"local_fs":{"dir":"/tmp"}}}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<StorageConfig>(r#"{"storage_type":"Sled"}"#).is_err());
    }

    #[test]
    fn debug_never_shows_the_postgres_password() {
        let config = PostgresConfig {
            password: Some("hunter2".to_owned()),
            ..PostgresConfig::default()
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
