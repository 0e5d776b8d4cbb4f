//! The KBS configuration file (spec §12), with upstream's section and key names so that files
//! written for the upstream KBS load unchanged.
//!
//! Differences from upstream, all deliberate: unknown keys are errors at every level (naming
//! the key); the obsolete `[policy_engine]` section is accepted with a warning; a backend that
//! this build does not have (`intel_ta`) parses but is refused by [`KbsConfig::validate`] with
//! a clear message. Every check happens at load time, so the
//! running server only ever sees valid values.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use storage::{StorageConfig, StorageType};

use crate::admin::AdminConfig;
use crate::attestation::GrpcSettings;
use crate::attestation::grpc;
use crate::plugins::PluginConfig;
use crate::tls::{TlsError, TlsKnobs, TlsProfile, TlsSettings, TlsVersion};
use crate::token::AttestationTokenConfig;

/// Default listening socket.
pub const DEFAULT_SOCKET: &str = "127.0.0.1:8080";
/// Default `payload_request_size` in MiB.
pub const DEFAULT_PAYLOAD_REQUEST_SIZE_MIB: u32 = 2;
/// Default session lifetime (`[attestation_service].timeout`) in minutes.
pub const DEFAULT_SESSION_TIMEOUT_MIN: i64 = 5;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KbsConfig {
    /// `[http_server]`: required (it may be empty).
    pub http_server: HttpServerConfig,
    /// `[admin]`: required.
    pub admin: AdminConfig,
    /// `[attestation_token]`: how attestation tokens are verified.
    #[serde(default)]
    pub attestation_token: AttestationTokenConfig,
    /// `[attestation_service]`: defaults to the builtin AS.
    #[serde(default)]
    pub attestation_service: AttestationServiceConfig,
    /// `[storage_backend]`: defaults to `Memory`.
    #[serde(default)]
    pub storage_backend: StorageConfig,
    /// Storage type for sessions (namespace `kbs_protocol_session`); in memory when unset.
    #[serde(default)]
    pub session_storage_type: Option<StorageType>,
    /// `[[plugins]]`: none enabled by default.
    #[serde(default)]
    pub plugins: Vec<PluginConfig>,
    /// Obsolete upstream section; accepted so old files load, otherwise ignored.
    #[serde(default)]
    policy_engine: Option<serde::de::IgnoredAny>,
}

/// `[http_server]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpServerConfig {
    /// Every address is bound.
    pub sockets: Vec<SocketAddr>,
    /// Plain HTTP instead of HTTPS.
    pub insecure_http: bool,
    /// PEM private key for HTTPS.
    pub private_key: Option<PathBuf>,
    /// PEM certificate chain for HTTPS, leaf first.
    pub certificate: Option<PathBuf>,
    /// Request body limit in MiB.
    pub payload_request_size: u32,
    /// Runtime worker threads; defaults to the number of logical CPUs.
    pub worker_count: Option<usize>,
    /// `old` / `intermediate` / `modern` / `custom`.
    pub tls_profile: TlsProfile,
    /// `"1.2"` or `"1.3"`.
    pub tls_min_version: Option<TlsVersion>,
    /// `"1.2"` or `"1.3"`.
    pub tls_max_version: Option<TlsVersion>,
    /// Colon-separated cipher suite names (OpenSSL or IANA spelling).
    pub tls_ciphers: Option<String>,
    /// Colon-separated key-exchange group names.
    pub tls_groups: Option<String>,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        Self {
            sockets: vec![SocketAddr::from(([127, 0, 0, 1], 8080))],
            insecure_http: false,
            private_key: None,
            certificate: None,
            payload_request_size: DEFAULT_PAYLOAD_REQUEST_SIZE_MIB,
            worker_count: None,
            tls_profile: TlsProfile::default(),
            tls_min_version: None,
            tls_max_version: None,
            tls_ciphers: None,
            tls_groups: None,
        }
    }
}

impl HttpServerConfig {
    /// The request body limit in bytes.
    pub fn payload_limit_bytes(&self) -> usize {
        // u32 MiB fits in usize on every 64-bit target; saturate elsewhere.
        usize::try_from(u64::from(self.payload_request_size) * 1024 * 1024).unwrap_or(usize::MAX)
    }

    /// The TLS knobs as given.
    pub fn tls_knobs(&self) -> TlsKnobs {
        TlsKnobs {
            profile: self.tls_profile,
            min_version: self.tls_min_version,
            max_version: self.tls_max_version,
            ciphers: self.tls_ciphers.clone(),
            groups: self.tls_groups.clone(),
        }
    }
}

/// `[attestation_service]`, tagged by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub enum AttestationServiceConfig {
    /// The attestation service linked into this process.
    #[serde(rename = "coco_as_builtin", alias = "CoCoASBuiltIn")]
    Builtin(Box<BuiltinAsConfig>),
    /// A remote CoCo AS over gRPC (`grpc-as`).
    #[serde(rename = "coco_as_grpc", alias = "CoCoASGrpc")]
    Grpc(GrpcAsConfig),
    /// Intel Trust Authority: parses, refused at startup (not available yet).
    #[serde(rename = "intel_ta", alias = "IntelTA")]
    IntelTa(IntelTaConfig),
}

impl Default for AttestationServiceConfig {
    fn default() -> Self {
        Self::Builtin(Box::default())
    }
}

impl AttestationServiceConfig {
    /// Session lifetime in minutes (`timeout`).
    pub fn timeout_minutes(&self) -> i64 {
        match self {
            Self::Builtin(c) => c.timeout,
            Self::Grpc(c) => c.timeout,
            Self::IntelTa(c) => c.timeout,
        }
    }

    /// The configured backend's `type` value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Builtin(_) => "coco_as_builtin",
            Self::Grpc(_) => "coco_as_grpc",
            Self::IntelTa(_) => "intel_ta",
        }
    }
}

/// `type = "coco_as_builtin"`: the AS keys of `attestation_service::AsConfig` plus `timeout`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltinAsConfig {
    /// Session lifetime in minutes.
    #[serde(default = "default_timeout")]
    pub timeout: i64,
    /// Storage type override for AS data.
    #[serde(default)]
    pub storage_type: Option<StorageType>,
    /// `[attestation_service.rvps_config]`.
    #[serde(default)]
    pub rvps_config: attestation_service::RvpsConfig,
    /// `[attestation_service.attestation_token_broker]`.
    #[serde(default)]
    pub attestation_token_broker: attestation_service::TokenBrokerConfig,
    /// `[attestation_service.verifier_config]`.
    #[serde(default)]
    pub verifier_config: verifier::VerifierConfig,
    /// `collateral_cache_dir` (our addition): where downloaded collateral is kept.
    #[serde(default)]
    pub collateral_cache_dir: Option<std::path::PathBuf>,
}

impl Default for BuiltinAsConfig {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_SESSION_TIMEOUT_MIN,
            storage_type: None,
            rvps_config: Default::default(),
            attestation_token_broker: Default::default(),
            verifier_config: Default::default(),
            collateral_cache_dir: None,
        }
    }
}

impl BuiltinAsConfig {
    /// The attestation service's own configuration.
    pub fn as_config(&self) -> attestation_service::AsConfig {
        attestation_service::AsConfig {
            storage_type: self.storage_type,
            rvps_config: self.rvps_config.clone(),
            attestation_token_broker: self.attestation_token_broker.clone(),
            verifier_config: self.verifier_config.clone(),
            collateral_cache_dir: self.collateral_cache_dir.clone(),
        }
    }
}

/// `type = "coco_as_grpc"`: upstream's keys `as_addr` and `pool_size`, plus
/// `request_timeout_secs` (our addition; upstream's timeout is a fixed 300 s) and
/// `as_ca_cert` (our addition, for an `https://` `as_addr`; upstream has no TLS there).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcAsConfig {
    /// Session lifetime in minutes.
    #[serde(default = "default_timeout")]
    pub timeout: i64,
    /// Address of `grpc-as`, `http://host:port` (`http://` is added when no scheme is given),
    /// or `https://host:port` for TLS (our extension).
    #[serde(default = "default_as_addr")]
    pub as_addr: String,
    /// PEM file of the CA certificates an `https://` AS's certificate must chain to; the
    /// platform's roots when absent. Refused with an `http://` address.
    #[serde(default)]
    pub as_ca_cert: Option<PathBuf>,
    /// Number of connections (HTTP/2 channels, each multiplexing any number of calls) to the
    /// AS, used round-robin.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Longest one call to the AS may take, in seconds (default 300). The KBS answers every
    /// request within [`crate::http::REQUEST_TIMEOUT`], so a longer value is cut to just under
    /// it: a client then hears that the AS did not answer rather than a bare 408.
    #[serde(default)]
    pub request_timeout_secs: Option<u64>,
}

impl Default for GrpcAsConfig {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_SESSION_TIMEOUT_MIN,
            as_addr: default_as_addr(),
            as_ca_cert: None,
            pool_size: default_pool_size(),
            request_timeout_secs: None,
        }
    }
}

/// How much earlier than the HTTP request limit a call to a remote AS gives up, so its 503
/// reaches the client before the HTTP layer's 408.
pub const AS_TIMEOUT_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

impl GrpcAsConfig {
    /// The request timeout as configured (300 s by default).
    pub fn configured_request_timeout(&self) -> std::time::Duration {
        self.request_timeout_secs.map_or(
            grpc::DEFAULT_REQUEST_TIMEOUT,
            std::time::Duration::from_secs,
        )
    }

    /// The backend settings, with the request timeout cut to `http_limit` minus
    /// [`AS_TIMEOUT_MARGIN`] when it is longer.
    pub fn settings(&self, http_limit: std::time::Duration) -> GrpcSettings {
        let cap = http_limit
            .saturating_sub(AS_TIMEOUT_MARGIN)
            .max(std::time::Duration::from_secs(1));
        GrpcSettings {
            as_addr: self.as_addr.clone(),
            ca_cert: self.as_ca_cert.clone(),
            pool_size: self.pool_size,
            request_timeout: self.configured_request_timeout().min(cap),
        }
    }
}

fn default_as_addr() -> String {
    grpc::DEFAULT_AS_ADDR.to_owned()
}

fn default_pool_size() -> usize {
    grpc::DEFAULT_POOL_SIZE
}

/// `type = "intel_ta"` (upstream keys; not available in this build).
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct IntelTaConfig {
    /// Session lifetime in minutes.
    #[serde(default = "default_timeout")]
    pub timeout: i64,
    /// ITA base URL.
    pub base_url: String,
    /// ITA API key (never logged).
    pub api_key: String,
    /// JWKS source for ITA's tokens.
    pub certs_file: String,
    /// ITA policy ids.
    #[serde(default)]
    pub policy_ids: Vec<String>,
    /// Accept tokens whose policies did not match.
    #[serde(default)]
    pub allow_unmatched_policy: Option<bool>,
}

// Hand-written so the API key never reaches logs.
impl std::fmt::Debug for IntelTaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntelTaConfig")
            .field("timeout", &self.timeout)
            .field("base_url", &self.base_url)
            .field("certs_file", &self.certs_file)
            .field("policy_ids", &self.policy_ids)
            .finish_non_exhaustive()
    }
}

fn default_timeout() -> i64 {
    DEFAULT_SESSION_TIMEOUT_MIN
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax or schema error (the message names the offending key or section).
    #[error("invalid configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A section that must be present is missing.
    #[error(
        "configuration file {path} has no [{section}] section (it is required; see docs/configuration.md)"
    )]
    MissingSection {
        /// The file.
        path: PathBuf,
        /// The missing section.
        section: &'static str,
    },
    /// No socket to listen on.
    #[error("[http_server] sockets is empty")]
    NoSockets,
    /// `payload_request_size = 0` would refuse every body.
    #[error("[http_server] payload_request_size must be at least 1 (MiB)")]
    ZeroPayloadSize,
    /// `worker_count = 0`.
    #[error("[http_server] worker_count must be at least 1")]
    ZeroWorkers,
    /// HTTPS without key or certificate.
    #[error("[http_server] HTTPS needs both private_key and certificate (or insecure_http = true)")]
    MissingTlsFiles,
    /// A TLS knob rustls cannot honour.
    #[error("[http_server] {0}")]
    Tls(#[from] TlsError),
    /// The session lifetime is not positive.
    #[error("[attestation_service] timeout must be a positive number of minutes, got {0}")]
    InvalidTimeout(i64),
    /// `[attestation_service]` settings of the gRPC backend that cannot be used.
    #[error("{0}")]
    GrpcAs(#[source] crate::attestation::Error),
    /// An attestation backend this build does not have.
    #[error(
        "[attestation_service] type = \"{backend}\" is not available yet; use type = \"coco_as_builtin\""
    )]
    BackendNotAvailable {
        /// The configured `type`.
        backend: &'static str,
    },
}

impl KbsConfig {
    /// Reads and validates a configuration file: JSON when the extension is `.json`, TOML
    /// otherwise.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let config = if is_json {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        };
        let config = config.map_err(|e| e.with_path(path))?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text (no validation beyond the schema).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let value: toml::Table = toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        for section in ["http_server", "admin"] {
            if !value.contains_key(section) {
                return Err(ConfigError::MissingSection {
                    path: PathBuf::new(),
                    section,
                });
            }
        }
        toml::from_str(text).map_err(|e| parse_error(e.to_string()))
    }

    /// Parses JSON text (no validation beyond the schema).
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        for section in ["http_server", "admin"] {
            if value.get(section).is_none() {
                return Err(ConfigError::MissingSection {
                    path: PathBuf::new(),
                    section,
                });
            }
        }
        serde_json::from_value(value).map_err(|e| parse_error(e.to_string()))
    }

    /// Every semantic check that does not need the network or key files.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let http = &self.http_server;
        if http.sockets.is_empty() {
            return Err(ConfigError::NoSockets);
        }
        if http.payload_request_size == 0 {
            return Err(ConfigError::ZeroPayloadSize);
        }
        if http.worker_count == Some(0) {
            return Err(ConfigError::ZeroWorkers);
        }
        if !http.insecure_http && (http.private_key.is_none() || http.certificate.is_none()) {
            return Err(ConfigError::MissingTlsFiles);
        }
        TlsSettings::resolve(&http.tls_knobs())?;
        let timeout = self.attestation_service.timeout_minutes();
        if timeout <= 0 {
            return Err(ConfigError::InvalidTimeout(timeout));
        }
        match &self.attestation_service {
            AttestationServiceConfig::Builtin(_) => Ok(()),
            AttestationServiceConfig::Grpc(grpc) => {
                if grpc.request_timeout_secs == Some(0) {
                    return Err(ConfigError::GrpcAs(
                        crate::attestation::Error::InvalidSetting {
                            key: "request_timeout_secs",
                            value: "0".to_owned(),
                            reason: "must be at least 1".to_owned(),
                        },
                    ));
                }
                grpc.settings(crate::http::REQUEST_TIMEOUT)
                    .endpoint()
                    .map(drop)
                    .map_err(ConfigError::GrpcAs)
            }
            other => Err(ConfigError::BackendNotAvailable {
                backend: other.type_name(),
            }),
        }
    }

    /// Warnings about accepted-but-ignored settings, for the startup log.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.policy_engine.is_some() {
            warnings.push(
                "[policy_engine] is obsolete and ignored: the resource policy is always Rego, \
                 stored in the `kbs` storage namespace"
                    .to_owned(),
            );
        }
        if let AttestationServiceConfig::Grpc(grpc) = &self.attestation_service {
            let configured = grpc.configured_request_timeout();
            let effective = grpc.settings(crate::http::REQUEST_TIMEOUT).request_timeout;
            if grpc.request_timeout_secs.is_some() && effective < configured {
                warnings.push(format!(
                    "[attestation_service] request_timeout_secs = {} is longer than the KBS's own \
                     request limit; calls to the attestation service give up after {} s",
                    configured.as_secs(),
                    effective.as_secs()
                ));
            }
        }
        if let Ok(tls) = TlsSettings::resolve(&self.http_server.tls_knobs()) {
            if !self.http_server.insecure_http {
                warnings.extend(tls.warnings);
            }
        }
        warnings
    }
}

fn parse_error(message: String) -> ConfigError {
    ConfigError::Parse {
        path: PathBuf::new(),
        message,
    }
}

impl ConfigError {
    fn with_path(self, file: &Path) -> Self {
        match self {
            Self::Parse { message, .. } => Self::Parse {
                path: file.to_owned(),
                message,
            },
            Self::MissingSection { section, .. } => Self::MissingSection {
                path: file.to_owned(),
                section,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BGCHECK_DEV: &str = r#"
[http_server]
insecure_http = true
[attestation_token]
insecure_header_jwk = true
[attestation_service]
type = "coco_as_builtin"
[admin]
authorization_mode = "InsecureAllowAll"
[storage_backend]
storage_type = "LocalFs"
[storage_backend.backends.local_fs]
dir_path = "/opt/confidential-containers/storage"
[[plugins]]
name = "resource"
storage_backend_type = "kvstorage"
"#;

    const PASSPORT_RESOURCE: &str = r#"
[http_server]
sockets = ["127.0.0.1:50002"]
insecure_http = true
[attestation_token]
trusted_certs_paths = ["./work/ca-cert.pem"]
[admin]
authorization_mode = "AuthenticatedAuthorization"
[admin.authentication.bearer_jwt]
identity_providers = [{ issuer = "issuer", audience = "kbs", public_key_uri = "./work/kbs.pem" }]
[admin.authorization.regex_acl]
acls = [{ role = "admin", allowed_endpoints = "^/kbs/.+$" }]
[storage_backend]
storage_type = "LocalFs"
[storage_backend.backends.local_fs]
dir_path = "./work/storage"
[[plugins]]
name = "resource"
storage_backend_type = "kvstorage"
"#;

    // Shaped like upstream's kbs/test/config/kbs.toml.
    const UPSTREAM_E2E: &str = r#"
[http_server]
sockets = ["127.0.0.1:8080"]
private_key = "./work/https.key"
certificate = "./work/https.crt"
insecure_http = false

[attestation_token]
trusted_certs_paths = ["./work/ca-cert.pem"]

[attestation_service]
type = "coco_as_builtin"

[attestation_service.attestation_token_broker]
type = "Ear"
duration_min = 5
signer = { key_path = "./work/token.key", cert_path = "./work/token-cert-chain.pem" }

[attestation_service.rvps_config]
type = "BuiltIn"

[admin]
authorization_mode = "AuthenticatedAuthorization"

[admin.authentication.bearer_jwt]
identity_providers = [{ issuer = "issuer", audience = "kbs", public_key_uri = "./work/kbs.pem" }]

[admin.authorization.regex_acl]
acls = [{ role = "admin", allowed_endpoints = "^/kbs/.+$" }]

[storage_backend]
storage_type = "LocalFs"

[storage_backend.backends.local_fs]
dir_path = "./work/storage"

[[plugins]]
name = "resource"
storage_backend_type = "kvstorage"
"#;

    fn load(text: &str) -> Result<KbsConfig, ConfigError> {
        let config = KbsConfig::from_toml(text)?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn spec_minimal_examples_load() {
        let c = load(BGCHECK_DEV).unwrap();
        assert_eq!(c.http_server.sockets, vec![DEFAULT_SOCKET.parse().unwrap()]);
        assert_eq!(c.storage_backend.storage_type, StorageType::LocalFs);
        assert_eq!(c.plugins.len(), 1);
        assert!(matches!(c.admin, AdminConfig::InsecureAllowAll {}));
        let c = load(PASSPORT_RESOURCE).unwrap();
        assert_eq!(
            c.http_server.sockets,
            vec!["127.0.0.1:50002".parse().unwrap()]
        );
        assert_eq!(c.attestation_service.timeout_minutes(), 5);
    }

    #[test]
    fn upstream_e2e_config_loads() {
        let c = load(UPSTREAM_E2E).unwrap();
        assert!(!c.http_server.insecure_http);
        assert_eq!(
            c.http_server.certificate.as_deref(),
            Some(Path::new("./work/https.crt"))
        );
        let AttestationServiceConfig::Builtin(b) = &c.attestation_service else {
            panic!("builtin expected");
        };
        let signer = b.attestation_token_broker.signer.as_ref().unwrap();
        assert_eq!(signer.key_path, Path::new("./work/token.key"));
        assert!(matches!(
            c.admin,
            AdminConfig::AuthenticatedAuthorization { .. }
        ));
    }

    #[test]
    fn defaults_match_upstream() {
        let c = load(
            "[http_server]\ninsecure_http = true\n[admin]\nauthorization_mode = \"DenyAll\"\n",
        )
        .unwrap();
        assert_eq!(c.http_server.payload_request_size, 2);
        assert_eq!(c.http_server.payload_limit_bytes(), 2 * 1024 * 1024);
        assert_eq!(c.storage_backend.storage_type, StorageType::Memory);
        assert!(c.plugins.is_empty());
        assert!(matches!(
            c.attestation_service,
            AttestationServiceConfig::Builtin(_)
        ));
        assert_eq!(c.attestation_service.timeout_minutes(), 5);
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        for (text, key) in [
            (
                "bogus = 1\n[http_server]\n[admin]\nauthorization_mode = \"DenyAll\"\n",
                "bogus",
            ),
            (
                "[http_server]\nsocket = []\n[admin]\nauthorization_mode = \"DenyAll\"\n",
                "socket",
            ),
            (
                "[http_server]\n[admin]\nauthorization_mode = \"DenyAll\"\n[extra]\n",
                "extra",
            ),
            (
                "[http_server]\n[admin]\nauthorization_mode = \"DenyAll\"\n\
                 [attestation_service]\ntype = \"coco_as_builtin\"\nwork_dir = \"/x\"\n",
                "work_dir",
            ),
            (
                "[http_server]\n[admin]\nauthorization_mode = \"DenyAll\"\ntype = \"Simple\"\n",
                "type",
            ),
        ] {
            let err = KbsConfig::from_toml(text).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn missing_required_sections_are_named() {
        let err = KbsConfig::from_toml("[admin]\nauthorization_mode = \"DenyAll\"\n").unwrap_err();
        assert!(matches!(
            err,
            ConfigError::MissingSection {
                section: "http_server",
                ..
            }
        ));
        let err = KbsConfig::from_toml("[http_server]\n").unwrap_err();
        assert!(matches!(
            err,
            ConfigError::MissingSection {
                section: "admin",
                ..
            }
        ));
        assert!(err.to_string().contains("[admin]"));
        let err = KbsConfig::from_json(r#"{"http_server":{}}"#).unwrap_err();
        assert!(matches!(
            err,
            ConfigError::MissingSection {
                section: "admin",
                ..
            }
        ));
    }

    #[test]
    fn json_config_loads_from_a_json_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kbs.json");
        std::fs::write(
            &path,
            r#"{"http_server":{"insecure_http":true,"sockets":["0.0.0.0:9000"]},
                "admin":{"authorization_mode":"DenyAll"},
                "attestation_service":{"type":"CoCoASBuiltIn","timeout":7}}"#,
        )
        .unwrap();
        let c = KbsConfig::from_file(&path).unwrap();
        assert_eq!(c.attestation_service.timeout_minutes(), 7);
        assert_eq!(c.http_server.sockets, vec!["0.0.0.0:9000".parse().unwrap()]);
    }

    #[test]
    fn obsolete_policy_engine_section_is_accepted_with_a_warning() {
        let c = load(
            "[http_server]\ninsecure_http = true\n[admin]\nauthorization_mode = \"DenyAll\"\n\
             [policy_engine]\npolicy_path = \"/x.rego\"\n",
        )
        .unwrap();
        assert!(c.warnings().iter().any(|w| w.contains("[policy_engine]")));
    }

    #[test]
    fn https_without_key_and_certificate_is_refused() {
        let err = load("[http_server]\n[admin]\nauthorization_mode = \"DenyAll\"\n").unwrap_err();
        assert!(matches!(err, ConfigError::MissingTlsFiles));
    }

    #[test]
    fn unavailable_attestation_backends_parse_but_are_refused() {
        for (section, backend) in [
            (
                "type = \"intel_ta\"\nbase_url = \"https://x\"\napi_key = \"k\"\ncerts_file = \"c\"",
                "intel_ta",
            ),
            (
                "type = \"IntelTA\"\nbase_url = \"https://x\"\napi_key = \"k\"\ncerts_file = \"c\"",
                "intel_ta",
            ),
        ] {
            let text = format!(
                "[http_server]\ninsecure_http = true\n[admin]\nauthorization_mode = \"DenyAll\"\n\
                 [attestation_service]\n{section}\n"
            );
            let c = KbsConfig::from_toml(&text).unwrap();
            let err = c.validate().unwrap_err();
            assert!(matches!(err, ConfigError::BackendNotAvailable { backend: b } if b == backend));
            assert!(err.to_string().contains("not available yet"));
        }
    }

    fn grpc_config(section: &str) -> Result<KbsConfig, ConfigError> {
        load(&format!(
            "[http_server]\ninsecure_http = true\n[admin]\nauthorization_mode = \"DenyAll\"\n\
             [attestation_service]\n{section}\n"
        ))
    }

    #[test]
    fn grpc_as_takes_upstream_keys_spellings_and_defaults() {
        for spelling in ["coco_as_grpc", "CoCoASGrpc"] {
            let c = grpc_config(&format!("type = \"{spelling}\"")).unwrap();
            assert_eq!(c.attestation_service.type_name(), "coco_as_grpc");
            let AttestationServiceConfig::Grpc(g) = &c.attestation_service else {
                panic!("grpc expected");
            };
            let s = g.settings(std::time::Duration::from_secs(3600));
            assert_eq!(s.as_addr, "http://127.0.0.1:50004");
            assert_eq!(s.pool_size, 100);
            assert_eq!(s.request_timeout, std::time::Duration::from_secs(300));
            assert_eq!(c.attestation_service.timeout_minutes(), 5);
        }
        let c = grpc_config(
            "type = \"coco_as_grpc\"\nas_addr = \"http://10.0.0.5:50004\"\npool_size = 8\n\
             timeout = 10\nrequest_timeout_secs = 30",
        )
        .unwrap();
        let AttestationServiceConfig::Grpc(g) = &c.attestation_service else {
            panic!("grpc expected");
        };
        let s = g.settings(crate::http::REQUEST_TIMEOUT);
        assert_eq!(
            (s.as_addr.as_str(), s.pool_size, s.request_timeout.as_secs()),
            ("http://10.0.0.5:50004", 8, 30)
        );
        assert_eq!(c.attestation_service.timeout_minutes(), 10);
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    }

    #[test]
    fn grpc_as_takes_an_https_address_and_as_ca_cert() {
        // upstream's keys alone: no CA bundle
        let c = grpc_config("type = \"coco_as_grpc\"\nas_addr = \"http://as:50004\"").unwrap();
        let AttestationServiceConfig::Grpc(g) = &c.attestation_service else {
            panic!("grpc expected");
        };
        assert_eq!(g.as_ca_cert, None);
        assert_eq!(g.settings(crate::http::REQUEST_TIMEOUT).ca_cert, None);
        // https:// with our as_ca_cert, which the backend settings carry
        let c = grpc_config(
            "type = \"coco_as_grpc\"\nas_addr = \"https://as.example:50004\"\n\
             as_ca_cert = \"/etc/kbs/as-ca.pem\"",
        )
        .unwrap();
        let AttestationServiceConfig::Grpc(g) = &c.attestation_service else {
            panic!("grpc expected");
        };
        let s = g.settings(crate::http::REQUEST_TIMEOUT);
        assert_eq!(s.as_addr, "https://as.example:50004");
        assert_eq!(s.ca_cert, Some(PathBuf::from("/etc/kbs/as-ca.pem")));
        assert!(s.is_tls());
        // https:// alone: the platform's roots
        let c =
            grpc_config("type = \"coco_as_grpc\"\nas_addr = \"https://as.example:50004\"").unwrap();
        let AttestationServiceConfig::Grpc(g) = &c.attestation_service else {
            panic!("grpc expected");
        };
        assert_eq!(g.as_ca_cert, None);
        // JSON spelling too
        let c = KbsConfig::from_json(
            r#"{"http_server": {"insecure_http": true}, "admin": {"authorization_mode": "DenyAll"},
                "attestation_service": {"type": "coco_as_grpc", "as_addr": "https://as:1",
                "as_ca_cert": "ca.pem"}}"#,
        )
        .unwrap();
        c.validate().unwrap();
        let AttestationServiceConfig::Grpc(g) = &c.attestation_service else {
            panic!("grpc expected");
        };
        assert_eq!(g.as_ca_cert, Some(PathBuf::from("ca.pem")));
        // a misspelt key is refused, not ignored
        let err = grpc_config("type = \"coco_as_grpc\"\nas_ca_certs = \"/ca.pem\"").unwrap_err();
        assert!(err.to_string().contains("as_ca_certs"), "{err}");
    }

    #[test]
    fn grpc_as_request_timeout_stays_under_the_http_limit() {
        let c = grpc_config("type = \"coco_as_grpc\"").unwrap();
        let AttestationServiceConfig::Grpc(g) = &c.attestation_service else {
            panic!("grpc expected");
        };
        // the default 300 s is cut to just under the KBS's 120 s request limit, silently
        let s = g.settings(std::time::Duration::from_secs(120));
        assert_eq!(s.request_timeout, std::time::Duration::from_secs(115));
        assert!(c.warnings().is_empty());
        // an explicit longer value is cut too, with a warning
        let c = grpc_config("type = \"coco_as_grpc\"\nrequest_timeout_secs = 600").unwrap();
        let warnings = c.warnings();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("request_timeout_secs = 600")),
            "{warnings:?}"
        );
    }

    #[test]
    fn shipped_grpc_as_example_config_loads() {
        let c = load(include_str!("../../../config/kbs-grpc-as.toml")).unwrap();
        let AttestationServiceConfig::Grpc(g) = &c.attestation_service else {
            panic!("grpc expected");
        };
        assert_eq!(g.as_addr, "http://127.0.0.1:50004");
        assert_eq!(g.pool_size, 100);
        assert_eq!(c.attestation_token.trusted_certs_paths.len(), 1);
    }

    #[test]
    fn unusable_grpc_as_settings_are_refused_by_key() {
        for (section, key) in [
            ("as_addr = \"ftp://as:50004\"", "as_addr"),
            ("as_addr = \"not a uri\"", "as_addr"),
            // a CA bundle is only for https://
            ("as_ca_cert = \"/etc/kbs/as-ca.pem\"", "as_ca_cert"),
            ("pool_size = 0", "pool_size"),
            ("pool_size = 100000", "pool_size"),
            ("request_timeout_secs = 0", "request_timeout_secs"),
        ] {
            let err = grpc_config(&format!("type = \"coco_as_grpc\"\n{section}")).unwrap_err();
            assert!(matches!(err, ConfigError::GrpcAs(_)), "{section}: {err}");
            assert!(err.to_string().contains(key), "{section}: {err}");
        }
        let err = KbsConfig::from_toml(
            "[http_server]\n[admin]\nauthorization_mode = \"DenyAll\"\n\
             [attestation_service]\ntype = \"coco_as_grpc\"\nas_address = \"x\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("as_address"), "{err}");
    }

    #[test]
    fn tls_knobs_are_checked_at_load_time() {
        let base = "[admin]\nauthorization_mode = \"DenyAll\"\n[http_server]\n\
                    private_key = \"k\"\ncertificate = \"c\"\n";
        let c = load(&format!(
            "{base}tls_profile = \"custom\"\ntls_min_version = \"1.3\"\n"
        ))
        .unwrap();
        assert_eq!(c.http_server.tls_min_version, Some(TlsVersion::Tls13));
        let err = load(&format!("{base}tls_ciphers = \"RC4-MD5\"\n")).unwrap_err();
        assert!(err.to_string().contains("RC4-MD5"), "{err}");
        let err = KbsConfig::from_toml(&format!("{base}tls_profile = \"paranoid\"\n")).unwrap_err();
        assert!(err.to_string().contains("paranoid"), "{err}");
    }

    #[test]
    fn non_positive_timeout_is_refused() {
        let err = load(
            "[http_server]\ninsecure_http = true\n[admin]\nauthorization_mode = \"DenyAll\"\n\
             [attestation_service]\ntype = \"coco_as_builtin\"\ntimeout = 0\n",
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::InvalidTimeout(0)));
    }

    /// Upstream's `kbs/test_data/configs/tls-profile-*.toml` (the TLS lines; the rest of each
    /// file is the same gRPC-AS / DenyAll / memory block).
    const UPSTREAM_TLS_PROFILES: [&str; 5] = [
        "tls_profile = \"old\"",
        "tls_profile = \"intermediate\"",
        "tls_profile = \"modern\"",
        "tls_profile = \"custom\"\ntls_min_version = \"1.3\"\n\
         tls_ciphers = \"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\"\n\
         tls_groups = \"X25519:secp384r1\"",
        "tls_profile = \"custom\"\ntls_min_version = \"1.3\"\ntls_max_version = \"1.3\"\n\
         tls_ciphers = \"TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256\"\n\
         tls_groups = \"X25519MLKEM768:X25519:secp256r1\"",
    ];

    #[test]
    fn upstream_tls_profile_configs_load() {
        for tls in UPSTREAM_TLS_PROFILES {
            let text = format!(
                "[http_server]\nsockets = [\"0.0.0.0:8080\"]\nprivate_key = \"/etc/kbs-private.key\"\n\
                 certificate = \"/etc/kbs-cert.pem\"\n{tls}\n\
                 [attestation_service]\ntype = \"coco_as_grpc\"\nas_addr = \"http://127.0.0.1:50001\"\n\
                 [admin]\nauthorization_mode = \"DenyAll\"\n\
                 [storage_backend]\nstorage_type = \"memory\"\n"
            );
            let c = KbsConfig::from_toml(&text).unwrap();
            TlsSettings::resolve(&c.http_server.tls_knobs()).unwrap();
            c.validate().unwrap_or_else(|e| panic!("{tls}: {e}"));
        }
    }

    #[test]
    fn session_storage_type_is_a_top_level_key() {
        let c = load(
            "session_storage_type = \"LocalFs\"\n[http_server]\ninsecure_http = true\n\
             [admin]\nauthorization_mode = \"DenyAll\"\n",
        )
        .unwrap();
        assert_eq!(c.session_storage_type, Some(StorageType::LocalFs));
    }
}
