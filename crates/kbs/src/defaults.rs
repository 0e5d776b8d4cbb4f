//! Embedded defaults: with no configuration file the KBS starts as a development server with
//! everything kept in one data directory, and a second start reuses it.
//!
//! - plain HTTP on `127.0.0.1:8080` only (loopback, so no TLS is needed to keep it private);
//! - builtin AS whose token signer (P-256) is `<data-dir>/as-token-signer.key`, created on
//!   first start and trusted by the KBS as its in-process AS;
//! - LocalFs storage in `<data-dir>/storage`, with the `resource` plugin enabled;
//! - collateral the verifiers download (AMD VCEKs, ...) kept in `<data-dir>/collateral`, so
//!   a restart does not ask the vendor's KDS again;
//! - admin `AuthenticatedAuthorization`: an Ed25519 key pair `<data-dir>/admin.key` (mode 0600)
//!   and `admin.pub` made on first start; tokens signed with it and carrying `"role":"admin"`
//!   may use every `/kbs/…` admin endpoint. Only the private key's *path* is ever printed.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::config::{ConfigError, DEFAULT_SOCKET, KbsConfig};

/// File name of the admin private key in the data directory.
pub const ADMIN_KEY_FILE: &str = "admin.key";
/// File name of the admin public key in the data directory.
pub const ADMIN_PUBLIC_KEY_FILE: &str = "admin.pub";
/// File name of the AS token signing key in the data directory.
pub const AS_SIGNER_KEY_FILE: &str = "as-token-signer.key";
/// Storage directory inside the data directory.
pub const STORAGE_DIR: &str = "storage";
/// Collateral cache directory inside the data directory.
pub const COLLATERAL_DIR: &str = "collateral";
/// The admin role the default ACL allows on every admin endpoint.
pub const ADMIN_ROLE: &str = "admin";

/// The embedded configuration and where its admin key lives.
#[derive(Debug)]
pub struct EmbeddedDefaults {
    /// The configuration to run with.
    pub config: KbsConfig,
    /// Path of the admin private key (to print, never to read aloud).
    pub admin_private_key: PathBuf,
}

/// Why the embedded defaults cannot be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DefaultsError {
    /// Neither `--data-dir`, `KBS_DATA_DIR`, `XDG_DATA_HOME` nor `HOME` is set.
    #[error("no data directory: pass --data-dir or set KBS_DATA_DIR, XDG_DATA_HOME or HOME")]
    NoDataDir,
    /// A file or directory could not be created or read.
    #[error("cannot prepare {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A key could not be generated or parsed.
    #[error("key {path} cannot be used: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// The crypto failure.
        source: jose::Error,
    },
    /// A path is not UTF-8 and cannot be written into the configuration.
    #[error("path {path} is not valid UTF-8")]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
    /// The generated configuration does not load (a bug).
    #[error("embedded configuration is invalid: {0}")]
    Config(#[from] ConfigError),
}

/// The data directory: `explicit` (from `--data-dir` or `KBS_DATA_DIR`), else
/// `$XDG_DATA_HOME/kbs`, else `$HOME/.local/share/kbs`.
pub fn data_dir(
    explicit: Option<PathBuf>,
    xdg_data_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Result<PathBuf, DefaultsError> {
    let non_empty = |p: &PathBuf| !p.as_os_str().is_empty();
    if let Some(dir) = explicit.filter(non_empty) {
        return Ok(dir);
    }
    if let Some(xdg) = xdg_data_home.filter(non_empty) {
        return Ok(xdg.join("kbs"));
    }
    home.filter(non_empty)
        .map(|h| h.join(".local/share/kbs"))
        .ok_or(DefaultsError::NoDataDir)
}

/// Creates (first start) or reuses (later starts) the keys and directories in `data_dir`
/// and returns the configuration that uses them.
pub fn prepare(data_dir: &Path) -> Result<EmbeddedDefaults, DefaultsError> {
    create_private_dir(data_dir)?;
    let storage_dir = data_dir.join(STORAGE_DIR);
    create_private_dir(&storage_dir)?;

    let signer_path = data_dir.join(AS_SIGNER_KEY_FILE);
    if !signer_path.exists() {
        let key = jose::SigningKey::generate_es256().map_err(|source| DefaultsError::Key {
            path: signer_path.clone(),
            source,
        })?;
        let pem = key.to_pem().map_err(|source| DefaultsError::Key {
            path: signer_path.clone(),
            source,
        })?;
        write_new(&signer_path, pem.as_bytes(), 0o600)?;
    }

    let admin_key_path = data_dir.join(ADMIN_KEY_FILE);
    let admin_pub_path = data_dir.join(ADMIN_PUBLIC_KEY_FILE);
    let key_error = |source| DefaultsError::Key {
        path: admin_key_path.clone(),
        source,
    };
    let admin_key = if admin_key_path.exists() {
        let pem = std::fs::read_to_string(&admin_key_path).map_err(|source| DefaultsError::Io {
            path: admin_key_path.clone(),
            source,
        })?;
        jose::SigningKey::from_pem(&pem).map_err(key_error)?
    } else {
        let key = jose::SigningKey::generate_ed25519().map_err(key_error)?;
        write_new(
            &admin_key_path,
            key.to_pem().map_err(key_error)?.as_bytes(),
            0o600,
        )?;
        key
    };
    // Rewritten every start: it is derived from the private key, so it can never drift.
    let public_pem = admin_key.public_key_pem().map_err(key_error)?;
    std::fs::write(&admin_pub_path, public_pem).map_err(|source| DefaultsError::Io {
        path: admin_pub_path.clone(),
        source,
    })?;

    let document = json!({
        "http_server": { "sockets": [DEFAULT_SOCKET], "insecure_http": true },
        "admin": {
            "authorization_mode": "AuthenticatedAuthorization",
            "authentication": { "bearer_jwt": { "identity_providers": [
                { "public_key_uri": utf8(&admin_pub_path)? }
            ] } },
            "authorization": { "regex_acl": { "acls": [
                { "role": ADMIN_ROLE, "allowed_endpoints": "^/kbs/.+$" }
            ] } },
        },
        "attestation_service": {
            "type": "coco_as_builtin",
            "attestation_token_broker": { "signer": { "key_path": utf8(&signer_path)? } },
            "collateral_cache_dir": utf8(&data_dir.join(COLLATERAL_DIR))?,
        },
        "storage_backend": {
            "storage_type": "LocalFs",
            "backends": { "local_fs": { "dir_path": utf8(&storage_dir)? } },
        },
        "plugins": [{ "name": "resource", "storage_backend_type": "kvstorage" }],
    });
    let config = KbsConfig::from_json(&document.to_string())?;
    config.validate()?;
    Ok(EmbeddedDefaults {
        config,
        admin_private_key: admin_key_path,
    })
}

fn utf8(path: &Path) -> Result<&str, DefaultsError> {
    path.to_str().ok_or_else(|| DefaultsError::NonUtf8Path {
        path: path.to_owned(),
    })
}

fn create_private_dir(dir: &Path) -> Result<(), DefaultsError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| DefaultsError::Io {
            path: dir.to_owned(),
            source,
        })
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), DefaultsError> {
    let io = |source| DefaultsError::Io {
        path: path.to_owned(),
        source,
    };
    // create_new: never follow or overwrite something another process put there.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::admin::AdminConfig;
    use crate::config::AttestationServiceConfig;

    #[test]
    fn data_dir_precedence() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            data_dir(p("/d"), p("/x"), p("/h")).unwrap(),
            PathBuf::from("/d")
        );
        assert_eq!(
            data_dir(None, p("/x"), p("/h")).unwrap(),
            PathBuf::from("/x/kbs")
        );
        assert_eq!(
            data_dir(None, p(""), p("/h")).unwrap(),
            PathBuf::from("/h/.local/share/kbs")
        );
        assert!(matches!(
            data_dir(None, None, None),
            Err(DefaultsError::NoDataDir)
        ));
    }

    #[test]
    fn first_start_creates_keys_and_second_start_reuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let first = prepare(dir.path()).unwrap();
        let key_path = dir.path().join(ADMIN_KEY_FILE);
        assert_eq!(first.admin_private_key, key_path);
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let signer = dir.path().join(AS_SIGNER_KEY_FILE);
        let mode = std::fs::metadata(&signer).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let admin_key = std::fs::read(&key_path).unwrap();
        let signer_key = std::fs::read(&signer).unwrap();
        let admin_pub = std::fs::read(dir.path().join(ADMIN_PUBLIC_KEY_FILE)).unwrap();

        prepare(dir.path()).unwrap();
        assert_eq!(std::fs::read(&key_path).unwrap(), admin_key);
        assert_eq!(std::fs::read(&signer).unwrap(), signer_key);
        assert_eq!(
            std::fs::read(dir.path().join(ADMIN_PUBLIC_KEY_FILE)).unwrap(),
            admin_pub
        );
    }

    #[test]
    fn embedded_config_is_loopback_http_builtin_as_localfs_and_admin_key() {
        let dir = tempfile::tempdir().unwrap();
        let c = prepare(dir.path()).unwrap().config;
        assert_eq!(c.http_server.sockets, vec![DEFAULT_SOCKET.parse().unwrap()]);
        assert!(c.http_server.insecure_http);
        assert_eq!(
            c.storage_backend.storage_type,
            storage::StorageType::LocalFs
        );
        assert_eq!(
            c.storage_backend.backends.local_fs.dir_path,
            dir.path().join(STORAGE_DIR)
        );
        assert_eq!(c.plugins.len(), 1);
        let AttestationServiceConfig::Builtin(b) = &c.attestation_service else {
            panic!("builtin AS expected");
        };
        let signer = b.attestation_token_broker.signer.as_ref().unwrap();
        assert_eq!(signer.key_path, dir.path().join(AS_SIGNER_KEY_FILE));
        assert_eq!(
            b.collateral_cache_dir,
            Some(dir.path().join(COLLATERAL_DIR))
        );
        let AdminConfig::AuthenticatedAuthorization {
            authentication,
            authorization,
        } = &c.admin
        else {
            panic!("authenticated admin expected");
        };
        let idp = &authentication.bearer_jwt.identity_providers[0];
        assert_eq!(
            idp.public_key_uri.as_deref(),
            dir.path().join(ADMIN_PUBLIC_KEY_FILE).to_str()
        );
        assert_eq!(authorization.regex_acl.acls[0].role, "admin");
        assert_eq!(
            authorization.regex_acl.acls[0].allowed_endpoints,
            "^/kbs/.+$"
        );
    }
}
