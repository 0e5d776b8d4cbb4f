//! What `grpc-as` and `restful-as` share around the router: the `-c` configuration file (the
//! upstream AS JSON keys, spec §11), the optional TLS of `-t/-k`, the start-up from those
//! options ([`ServerArgs::start`]), the `<name> listening on <addr>` announcement
//! ([`run`]), and the accept loop that serves HTTP/1.1 and HTTP/2 (gRPC) on one socket, with
//! or without TLS.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Map, Value};
use storage::{StorageConfig, StorageProvider};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::{AsConfig, AttestationService};

/// Configuration files larger than this are refused before parsing.
const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Top-level keys of old upstream configs that no longer mean anything (spec §11): accepted
/// with a warning so those files still load; every other unknown key is an error.
const OBSOLETE_KEYS: &[&str] = &["work_dir", "policy_engine"];
/// A slow or silent client gets this long to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests may run after shutdown was requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Failures loading the configuration or the TLS material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The configuration file exceeds 1 MiB.
    #[error("{path} is larger than {MAX_CONFIG_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The configuration file is not valid JSON or TOML.
    #[error("{path} is not a valid configuration: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// The configuration document is not an object.
    #[error("the configuration is not an object")]
    NotAnObject,
    /// A section does not match the expected keys and types.
    #[error("invalid `{section}` configuration")]
    Section {
        /// `storage_backend`, or `attestation service` for the rest.
        section: &'static str,
        /// The decoder's message (names the offending key).
        #[source]
        source: serde_json::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{path} contains no pem certificate")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no PEM private key.
    #[error("{path} contains no pem private key")]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the certificate and key.
    #[error("invalid tls certificate or key")]
    Tls(#[from] rustls::Error),
}

/// Why a front-end binary could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration file or the TLS material is unusable.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The `storage_backend` section names a store that cannot be opened.
    #[error("storage_backend")]
    Storage(#[source] storage::Error),
    /// The attestation service refused its configuration (or its remote RVPS is unreachable).
    #[error("cannot start the attestation service")]
    Service(#[source] crate::Error),
    /// The socket cannot be bound.
    #[error("cannot bind {addr}")]
    Bind {
        /// The `-s` address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The bound socket's address cannot be read.
    #[error("cannot read the bound address")]
    LocalAddr(#[source] io::Error),
    /// The `listening on` line cannot be written to stdout.
    #[error("cannot write to stdout")]
    Stdout(#[source] io::Error),
    /// The server stopped with an error.
    #[error("serving failed")]
    Serve(#[source] io::Error),
}

/// The options `grpc-as` and `restful-as` both take (`-c`, `-t`, `-k`); each binary adds its
/// own `-s` (their defaults differ) and anything else it needs.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerArgs {
    /// AS configuration file (JSON; TOML when it ends in `.toml`). All defaults when absent.
    #[arg(short = 'c', long = "config-file")]
    pub config_file: Option<PathBuf>,
    /// PEM certificate chain for TLS (requires `--https-prikey`).
    #[arg(short = 't', long = "https-pubkey-cert", requires = "https_prikey")]
    pub https_pubkey_cert: Option<PathBuf>,
    /// PEM private key for TLS (requires `--https-pubkey-cert`).
    #[arg(short = 'k', long = "https-prikey", requires = "https_pubkey_cert")]
    pub https_prikey: Option<PathBuf>,
}

/// What a front end serves from: the attestation service and, with `-t/-k`, the TLS
/// configuration.
#[derive(Debug)]
pub struct Started {
    /// The service built from the `-c` file (or all defaults).
    pub service: Arc<AttestationService>,
    /// `Some` when `-t` and `-k` were given.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl ServerArgs {
    /// Loads the configuration file and the TLS material, opens the storage and starts the
    /// attestation service.
    pub async fn start(&self) -> Result<Started, StartError> {
        let config = match &self.config_file {
            Some(path) => ServerConfig::from_file(path)?,
            None => ServerConfig::default(),
        };
        let tls = match (&self.https_pubkey_cert, &self.https_prikey) {
            (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
            _ => None,
        };
        let storage = StorageProvider::new(&config.storage).map_err(StartError::Storage)?;
        let service = AttestationService::new(config.attestation, &storage)
            .await
            .map_err(StartError::Service)?;
        Ok(Started {
            service: Arc::new(service),
            tls,
        })
    }
}

/// Logging for the front-end binaries: `RUST_LOG` (default `info`) to stderr, which keeps
/// stdout for the `listening on` line.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(io::stderr)
        .init();
}

/// Binds `socket`, prints `<name> listening on <addr>` on stdout once bound (the real port
/// when port 0 was asked for), then serves `router` until SIGINT or SIGTERM.
pub async fn run(
    name: &str,
    socket: SocketAddr,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<(), StartError> {
    let listener = TcpListener::bind(socket)
        .await
        .map_err(|source| StartError::Bind {
            addr: socket,
            source,
        })?;
    let addr = listener.local_addr().map_err(StartError::LocalAddr)?;
    announce(name, addr, tls.is_some(), &mut io::stdout()).map_err(StartError::Stdout)?;
    serve(listener, router, tls, shutdown_signal())
        .await
        .map_err(StartError::Serve)
}

/// The `<name> listening on <addr>` line that scripts and tests wait for, flushed at once.
fn announce(name: &str, addr: SocketAddr, tls: bool, out: &mut impl io::Write) -> io::Result<()> {
    let scheme = if tls { "https" } else { "http" };
    tracing::info!(%addr, scheme, "{name} started");
    writeln!(out, "{name} listening on {addr}")?;
    out.flush()
}

/// The contents of an AS configuration file: the storage shared by policies and the built-in
/// RVPS (`storage_backend`), and the [`AsConfig`] keys beside it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerConfig {
    /// `storage_backend`; in-memory when absent.
    pub storage: StorageConfig,
    /// `rvps_config`, `attestation_token_broker`, `verifier_config`, ...
    pub attestation: AsConfig,
}

impl ServerConfig {
    /// Reads `path`: TOML when it ends in `.toml`, JSON otherwise (upstream's format).
    pub fn from_file(path: &Path) -> Result<Self, ListenError> {
        let read = |source| ListenError::Read {
            path: path.to_owned(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read)?.len();
        if size > MAX_CONFIG_BYTES {
            return Err(ListenError::TooLarge {
                path: path.to_owned(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        let syntax = |reason: String| ListenError::Syntax {
            path: path.to_owned(),
            reason,
        };
        let value = if path.extension().is_some_and(|ext| ext == "toml") {
            let table: toml::Table = toml::from_str(&text).map_err(|e| syntax(e.to_string()))?;
            serde_json::to_value(table).map_err(|e| syntax(e.to_string()))?
        } else {
            serde_json::from_str(&text).map_err(|e| syntax(e.to_string()))?
        };
        Self::from_value(value)
    }

    /// Splits a parsed configuration document into its storage and AS parts.
    pub fn from_value(value: Value) -> Result<Self, ListenError> {
        let Value::Object(mut map) = value else {
            return Err(ListenError::NotAnObject);
        };
        for key in OBSOLETE_KEYS {
            if map.remove(*key).is_some() {
                tracing::warn!(key, "obsolete configuration key ignored");
            }
        }
        let storage = match map.remove("storage_backend") {
            Some(section) => {
                serde_json::from_value(section).map_err(|source| ListenError::Section {
                    section: "storage_backend",
                    source,
                })?
            }
            None => StorageConfig::default(),
        };
        let attestation =
            serde_json::from_value(Value::Object(Map::from_iter(map))).map_err(|source| {
                ListenError::Section {
                    section: "attestation service",
                    source,
                }
            })?;
        Ok(Self {
            storage,
            attestation,
        })
    }
}

/// A rustls server configuration from a PEM certificate chain (leaf first) and a PEM private
/// key, offering HTTP/2 (gRPC) and HTTP/1.1 by ALPN.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ListenError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| ListenError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(ListenError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let key_der =
        PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|_| ListenError::NoPrivateKey {
            path: key.to_owned(),
        })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` on `listener` (HTTP/1.1 and HTTP/2, TLS when `tls` is set) until
/// `shutdown` resolves, then lets in-flight requests finish for up to 30 s.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let builder = Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let result = match acceptor {
                None => {
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(err)) => {
                            tracing::debug!(%peer, error = %err, "tls handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "tls handshake timed out");
                            return;
                        }
                    };
                    let connection = builder.serve_connection(TokioIo::new(tls), service);
                    watcher.watch(connection.into_owned()).await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish in time");
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (a signal that cannot be listened for never resolves).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;
    use storage::StorageType;

    use super::*;

    #[test]
    fn upstream_config_splits_into_storage_and_as_parts() {
        let config = ServerConfig::from_value(json!({
            "work_dir": "/var/lib/attestation-service",
            "storage_backend": {"storage_type": "LocalFs", "backends": {"local_fs": {"dir_path": "/tmp/as"}}},
            "rvps_config": {"type": "BuiltIn"},
            "attestation_token_broker": {"type": "Ear", "duration_min": 7}
        }))
        .unwrap();
        assert_eq!(config.storage.storage_type, StorageType::LocalFs);
        assert_eq!(config.attestation.attestation_token_broker.duration_min, 7);
    }

    #[test]
    fn empty_config_takes_defaults_and_unknown_keys_are_named() {
        assert_eq!(
            ServerConfig::from_value(json!({})).unwrap(),
            ServerConfig::default()
        );
        let err = ServerConfig::from_value(json!({"rvps": {}})).unwrap_err();
        assert!(matches!(
            err,
            ListenError::Section {
                section: "attestation service",
                ..
            }
        ));
        assert!(
            std::error::Error::source(&err)
                .unwrap()
                .to_string()
                .contains("rvps")
        );
        let err = ServerConfig::from_value(json!({"storage_backend": {"kind": 1}})).unwrap_err();
        assert!(matches!(
            err,
            ListenError::Section {
                section: "storage_backend",
                ..
            }
        ));
        assert!(matches!(
            ServerConfig::from_value(json!([])),
            Err(ListenError::NotAnObject)
        ));
    }

    #[test]
    fn config_file_is_json_or_toml_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let json_path = dir.path().join("as.json");
        std::fs::write(
            &json_path,
            r#"{"attestation_token_broker": {"duration_min": 9}}"#,
        )
        .unwrap();
        let config = ServerConfig::from_file(&json_path).unwrap();
        assert_eq!(config.attestation.attestation_token_broker.duration_min, 9);

        let toml_path = dir.path().join("as.toml");
        std::fs::write(
            &toml_path,
            "[storage_backend]\nstorage_type = \"LocalJson\"\n[attestation_token_broker]\nduration_min = 8\n",
        )
        .unwrap();
        let config = ServerConfig::from_file(&toml_path).unwrap();
        assert_eq!(config.storage.storage_type, StorageType::LocalJson);
        assert_eq!(config.attestation.attestation_token_broker.duration_min, 8);

        // TOML text in a .json file is a JSON syntax error naming the file.
        let wrong = dir.path().join("as-toml.json");
        std::fs::write(&wrong, "duration_min = 8\n").unwrap();
        assert!(matches!(
            ServerConfig::from_file(&wrong),
            Err(ListenError::Syntax { path, .. }) if path == wrong
        ));
        assert!(matches!(
            ServerConfig::from_file(&dir.path().join("missing.json")),
            Err(ListenError::Read { .. })
        ));
    }

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    #[test]
    fn server_args_take_the_upstream_flags_and_tls_needs_both_files() {
        use clap::Parser as _;
        let cli = Cli::try_parse_from(["as", "-c", "as.json", "-t", "cert.pem", "-k", "key.pem"])
            .unwrap();
        assert_eq!(cli.server.config_file, Some(PathBuf::from("as.json")));
        assert_eq!(
            cli.server.https_pubkey_cert,
            Some(PathBuf::from("cert.pem"))
        );
        assert_eq!(cli.server.https_prikey, Some(PathBuf::from("key.pem")));
        let long = Cli::try_parse_from(["as", "--config-file", "as.toml"]).unwrap();
        assert_eq!(long.server.config_file, Some(PathBuf::from("as.toml")));
        for half in [["-t", "cert.pem"], ["-k", "key.pem"]] {
            let err = Cli::try_parse_from(std::iter::once("as").chain(half)).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::MissingRequiredArgument,
                "{half:?}"
            );
        }
    }

    #[tokio::test]
    async fn start_names_what_kept_the_service_from_starting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = ServerArgs {
            config_file: Some(dir.path().join("missing.json")),
            ..ServerArgs::default()
        };
        assert!(matches!(
            missing.start().await,
            Err(StartError::Listen(ListenError::Read { .. }))
        ));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let no_cert = ServerArgs {
            https_pubkey_cert: Some(empty.clone()),
            https_prikey: Some(empty),
            ..ServerArgs::default()
        };
        assert!(matches!(
            no_cert.start().await,
            Err(StartError::Listen(ListenError::NoCertificate { .. }))
        ));
        let started = ServerArgs::default().start().await.unwrap();
        assert!(started.tls.is_none());
    }

    #[test]
    fn the_announcement_is_one_flushed_line() {
        let mut out = Vec::new();
        announce(
            "grpc-as",
            "127.0.0.1:50004".parse().unwrap(),
            false,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"grpc-as listening on 127.0.0.1:50004\n");
    }

    #[tokio::test]
    async fn run_names_an_address_it_cannot_bind() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = run("grpc-as", addr, Router::new(), None).await.unwrap_err();
        assert!(matches!(err, StartError::Bind { addr: a, .. } if a == addr));
        assert_eq!(err.to_string(), format!("cannot bind {addr}"));
    }

    #[test]
    fn tls_config_needs_a_certificate_and_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        assert!(matches!(
            tls_config(&empty, &empty),
            Err(ListenError::NoCertificate { .. })
        ));
    }
}
