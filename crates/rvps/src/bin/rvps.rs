//! The `rvps` binary: the Reference Value Provider Service over gRPC (AS spec §1, §10.4).
//!
//! `rvps [-c /etc/rvps.json] [-a 127.0.0.1:50003]` serves `reference.ReferenceValueProviderService`
//! and `grpc.health.v1.Health` until SIGINT/SIGTERM. stdout carries one machine-readable line,
//! `rvps listening on <ip:port>` (the real port when asked for port 0); logs go to stderr.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use rvps::{Error, ServiceConfig};
use tracing_subscriber::EnvFilter;

/// Reference Value Provider Service: registers reference values and serves them to the AS.
#[derive(Debug, Parser)]
#[command(name = "rvps", version)]
struct Cli {
    /// Configuration file (JSON, or TOML with a .toml extension). If it cannot be read, a warning
    /// is logged and the defaults (in-memory storage) are used, as upstream.
    #[arg(short = 'c', long = "config", default_value = "/etc/rvps.json")]
    config: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(short = 'a', long = "address", default_value = "127.0.0.1:50003")]
    address: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let config = match ServiceConfig::from_file(&cli.config) {
        Ok(config) => config,
        // Upstream runs with defaults when the file is missing; a file that is there but
        // wrong is refused, so a typo never silently means "in-memory storage".
        Err(Error::ReadConfig { path, source }) => {
            tracing::warn!(
                "cannot read {}: {source}; using the default rvps config (in-memory storage)",
                path.display()
            );
            ServiceConfig::default()
        }
        Err(err) => return Err(err.into()),
    };
    tracing::info!(storage_type = %config.storage.storage_type, "rvps starting");
    let rvps = config
        .build()
        .context("cannot open the reference value storage")?;

    let listener = tokio::net::TcpListener::bind(cli.address)
        .await
        .with_context(|| format!("cannot listen on {}", cli.address))?;
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let shutdown = shutdown_signal();
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "rvps listening on {local}")?;
        stdout.flush()?;
    }
    tracing::info!(address = %local, "rvps listening");

    rvps::grpc::serve(listener, Arc::new(rvps), shutdown)
        .await
        .context("rvps server failed")?;
    tracing::info!("rvps stopped");
    Ok(())
}

/// Completes on SIGINT or SIGTERM. The handlers are installed by this call, not when the
/// future is first polled: `main` calls it before printing `listening on`, so a SIGTERM sent
/// as soon as that line is read stops the server cleanly (status 0) instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &'static str| {
            signal(kind)
                .map_err(|err| tracing::warn!(%err, "cannot listen for {name}"))
                .ok()
        };
        (
            listen(SignalKind::interrupt(), "SIGINT"),
            listen(SignalKind::terminate(), "SIGTERM"),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    }
}
