//! `grpc-as`: the attestation service over gRPC (spec §1, §2).
//!
//! Serves `attestation.AttestationService`, `reference.ReferenceValueProviderService`,
//! `grpc.health.v1.Health` and HTTP/1.1 `GET /.well-known/jwks.json` on one socket. Prints
//! `grpc-as listening on <ip:port>` once bound (the real port when `-s` asks for port 0).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use attestation_service::AttestationService;
use attestation_service::grpc::listen::{ServerConfig, serve, shutdown_signal, tls_config};
use clap::Parser;
use storage::StorageProvider;
use tokio::net::TcpListener;

/// Attestation service, gRPC front end.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// AS configuration file (JSON; TOML when it ends in `.toml`). All defaults when absent.
    #[arg(short = 'c', long = "config-file")]
    config_file: Option<PathBuf>,
    /// Address to listen on.
    #[arg(short = 's', long = "socket", default_value = "127.0.0.1:3000")]
    socket: SocketAddr,
    /// PEM certificate chain for TLS (requires `--https-prikey`).
    #[arg(short = 't', long = "https-pubkey-cert", requires = "https_prikey")]
    https_pubkey_cert: Option<PathBuf>,
    /// PEM private key for TLS (requires `--https-pubkey-cert`).
    #[arg(short = 'k', long = "https-prikey", requires = "https_pubkey_cert")]
    https_prikey: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();

    let config = match &cli.config_file {
        Some(path) => ServerConfig::from_file(path)?,
        None => ServerConfig::default(),
    };
    let tls = match (&cli.https_pubkey_cert, &cli.https_prikey) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
        _ => None,
    };
    let storage = StorageProvider::new(&config.storage).context("storage_backend")?;
    let service = Arc::new(
        AttestationService::new(config.attestation, &storage)
            .await
            .context("cannot start the attestation service")?,
    );
    let router = attestation_service::grpc::router(service).await;

    let listener = TcpListener::bind(cli.socket)
        .await
        .with_context(|| format!("cannot bind {}", cli.socket))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(%addr, scheme, "grpc-as started");
    let mut stdout = std::io::stdout();
    writeln!(stdout, "grpc-as listening on {addr}")?;
    stdout.flush()?;

    serve(listener, router, tls, shutdown_signal()).await?;
    Ok(())
}
