//! Key-value storage traits and backends (memory, local files) for the KBS, AS and RVPS.
//!
//! A [`StorageProvider`] built from the upstream `storage_backend` configuration hands out one
//! [`KeyValueStore`] per namespace (`kbs`, `repository`, `reference_value`, ...). The file
//! backends use the upstream on-disk layouts, so data seeded for an upstream deployment works
//! unchanged. This crate knows nothing of HTTP, TEEs or policies.
//!
//! Keys are checked on every operation by every backend ([`validate_key`]): a key can never name
//! a file outside its namespace. Upstream only checks the character set on `set`.
//!
//! ```
//! use storage::{SetMode, SetOutcome, StorageConfig, StorageProvider};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), storage::Error> {
//! let provider = StorageProvider::new(&StorageConfig::default())?;
//! let repository = provider.namespace("repository", None)?;
//! repository.set("default/key/1", b"secret", SetMode::Overwrite).await?;
//! assert_eq!(
//!     repository.set("default/key/1", b"other", SetMode::IfAbsent).await?,
//!     SetOutcome::AlreadyExists
//! );
//! assert_eq!(repository.get("default/key/1").await?.as_deref(), Some(&b"secret"[..]));
//! # Ok(())
//! # }
//! ```

mod atomic;
mod config;
mod error;
mod key;
pub mod local_fs;
pub mod local_json;
pub mod memory;
mod provider;
mod store;

pub use config::{
    BackendsConfig, DEFAULT_LOCAL_FS_DIR, DEFAULT_LOCAL_JSON_DIR, LocalFsConfig, LocalJsonConfig,
    PostgresConfig, RedisConfig, StorageConfig, StorageType,
};
pub use error::{Error, KeyRule, Result};
pub use key::{validate_key, validate_namespace};
pub use provider::StorageProvider;
pub use store::{KeyValueStore, SetMode, SetOutcome};
