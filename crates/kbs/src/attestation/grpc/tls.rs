//! TLS to the attestation service: `as_addr = "https://host:port"` (our extension; upstream's
//! KBS only speaks plaintext gRPC to its AS).
//!
//! Each pooled channel connects through [`TlsConnect`]: TCP, then a rustls (aws-lc-rs) client
//! handshake offering ALPN `h2` for the URL's host, verifying the AS certificate against the
//! CA certificates of `as_ca_cert` or, when that key is absent, the platform's roots (the
//! `rustls-platform-verifier` that `reqwest` already uses for every other https:// fetch of
//! the KBS). Connection failures keep the shape of tonic's own connector
//! (`tcp connect error: …`), and a failed handshake says so, so a 503 names the TLS failure.

use std::io::{self, Read as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::RootCertStore;
use rustls::client::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::transport::Uri;

use super::Error;

/// The config key naming the CA bundle.
pub(super) const CA_CERT_KEY: &str = "as_ca_cert";
/// CA bundles larger than this are refused before parsing.
const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// Why a TLS connection to the AS could not be made; the `source` of the transport status, so
/// its text ends up in the 503's detail.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    /// No TCP connection (refused, unreachable, name not resolved).
    #[error("tcp connect error")]
    Tcp(#[source] io::Error),
    /// The TLS handshake failed: the certificate did not verify, the server does not speak
    /// TLS, …
    #[error("TLS handshake with {server_name} failed: {reason}")]
    Tls {
        /// The name the certificate was checked against.
        server_name: String,
        /// What rustls reported, and which roots were used when it is the certificate.
        reason: String,
    },
    /// TCP connect and handshake together took longer than the connect timeout.
    #[error("no connection within {secs} s (TCP connect or TLS handshake timed out)")]
    Timeout {
        /// The connect timeout.
        secs: f64,
    },
}

/// Everything a channel needs to open a TLS connection to the AS; cheap to clone.
#[derive(Clone)]
pub(super) struct TlsConnect {
    config: Arc<ClientConfig>,
    host: Arc<str>,
    port: u16,
    server_name: ServerName<'static>,
    connect_timeout: Duration,
    /// Which roots verify the AS, for error messages.
    trust: Arc<str>,
}

impl std::fmt::Debug for TlsConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnect")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

impl TlsConnect {
    /// Prepares connections to the `https://` `uri` (already checked to have a host),
    /// trusting the CA certificates in `ca_cert`, or the platform's when `None`.
    pub(super) fn new(
        uri: &Uri,
        ca_cert: Option<&Path>,
        connect_timeout: Duration,
    ) -> Result<Self, Error> {
        let invalid_addr = |reason: String| Error::InvalidSetting {
            key: "as_addr",
            value: uri.to_string(),
            reason,
        };
        let host = uri.host().unwrap_or_default();
        // IPv6 literals come bracketed in URIs, not in server names or socket addresses.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(bare.to_owned()).map_err(|_| {
            invalid_addr(format!("{bare:?} is neither a DNS name nor an IP address"))
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid_addr(format!("no usable TLS version: {e}")))?;
        let (builder, trust) = match ca_cert {
            Some(path) => (
                builder.with_root_certificates(load_roots(path)?),
                format!("{CA_CERT_KEY} {}", path.display()),
            ),
            None => {
                let verifier = rustls_platform_verifier::Verifier::new(provider).map_err(|e| {
                    invalid_addr(format!(
                        "https:// without {CA_CERT_KEY} verifies the attestation service \
                         against the platform's CA certificates, which cannot be used ({e}); \
                         set {CA_CERT_KEY}"
                    ))
                })?;
                (
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(verifier)),
                    "the platform's CA certificates".to_owned(),
                )
            }
        };
        let mut config = builder.with_no_client_auth();
        // gRPC is HTTP/2 only.
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            host: Arc::from(bare),
            port: uri.port_u16().unwrap_or(443),
            server_name,
            connect_timeout,
            trust: Arc::from(trust),
        })
    }

    /// Connects and completes the handshake within the connect timeout.
    pub(super) async fn connect(&self) -> Result<TokioIo<TlsStream<TcpStream>>, ConnectError> {
        tokio::time::timeout(self.connect_timeout, self.handshake())
            .await
            .unwrap_or(Err(ConnectError::Timeout {
                secs: self.connect_timeout.as_secs_f64(),
            }))
    }

    async fn handshake(&self) -> Result<TokioIo<TlsStream<TcpStream>>, ConnectError> {
        let tcp = TcpStream::connect((&*self.host, self.port))
            .await
            .map_err(ConnectError::Tcp)?;
        // as for plaintext channels: small gRPC frames go out at once
        tcp.set_nodelay(true).map_err(ConnectError::Tcp)?;
        let tls = TlsConnector::from(Arc::clone(&self.config))
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| self.handshake_error(&e))?;
        Ok(TokioIo::new(tls))
    }

    fn handshake_error(&self, error: &io::Error) -> ConnectError {
        let rustls_error = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let reason = match rustls_error {
            Some(e @ rustls::Error::InvalidCertificate(_)) => {
                format!(
                    "{e} (the attestation service's certificate, checked against {})",
                    self.trust
                )
            }
            Some(e) => e.to_string(),
            None => match error.kind() {
                io::ErrorKind::UnexpectedEof => {
                    "the server closed the connection during the handshake (is it serving TLS?)"
                        .to_owned()
                }
                _ => error.to_string(),
            },
        };
        ConnectError::Tls {
            server_name: self.server_name.to_str().into_owned(),
            reason,
        }
    }
}

/// The CA certificates of a PEM bundle; every failure names the key and the path.
fn load_roots(path: &Path) -> Result<RootCertStore, Error> {
    let invalid = |reason: String| Error::InvalidSetting {
        key: CA_CERT_KEY,
        value: path.display().to_string(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| invalid(format!("cannot read it: {e}")))?;
    let mut pem = Vec::new();
    file.take(MAX_CA_FILE_BYTES + 1)
        .read_to_end(&mut pem)
        .map_err(|e| invalid(format!("cannot read it: {e}")))?;
    if pem.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(invalid(format!("larger than {MAX_CA_FILE_BYTES} bytes")));
    }
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("not a PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("contains no PEM certificate".to_owned()));
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots
            .add(cert)
            .map_err(|e| invalid(format!("certificate {} is not usable as a CA: {e}", i + 1)))?;
    }
    Ok(roots)
}
