//! The `kbs` binary: loads the configuration (or the embedded defaults), builds the KBS, binds
//! every socket and serves until SIGINT/SIGTERM.
//!
//! stdout carries only machine-readable lines (`admin private key: <path>`, then one
//! `KBS listening on <url>` per socket); logs go to stderr.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use kbs::app::Kbs;
use kbs::config::KbsConfig;
use kbs::server::{BoundListeners, shutdown_signal};
use kbs::tls::TlsSettings;
use tracing_subscriber::EnvFilter;

/// Key Broker Service for confidential computing (RCAR attestation, resource release).
#[derive(Debug, Parser)]
#[command(name = "kbs", version)]
struct Cli {
    /// Configuration file (TOML, or JSON with a .json extension). Without one, the embedded
    /// development defaults are used.
    #[arg(short = 'c', long = "config-file", env = "KBS_CONFIG_FILE")]
    config_file: Option<PathBuf>,
    /// Data directory of the embedded defaults [default: $XDG_DATA_HOME/kbs or
    /// $HOME/.local/share/kbs].
    #[arg(long, env = "KBS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Listen on this address instead of [http_server].sockets (repeatable; port 0 picks one).
    #[arg(long = "socket", value_name = "IP:PORT")]
    sockets: Vec<SocketAddr>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let (mut config, admin_private_key) = match &cli.config_file {
        Some(path) => (KbsConfig::from_file(path)?, None),
        None => {
            let dir = kbs::defaults::data_dir(
                cli.data_dir.clone(),
                std::env::var_os("XDG_DATA_HOME").map(PathBuf::from),
                std::env::var_os("HOME").map(PathBuf::from),
            )?;
            let defaults = kbs::defaults::prepare(&dir)?;
            tracing::info!(data_dir = %dir.display(), "no configuration file: using embedded defaults");
            (defaults.config, Some(defaults.admin_private_key))
        }
    };
    if !cli.sockets.is_empty() {
        config.http_server.sockets = cli.sockets;
    }

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    let workers = config
        .http_server
        .worker_count
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    runtime
        .worker_threads(workers)
        .max_blocking_threads(kbs::server::blocking_threads(
            workers,
            attestation_service::policy_evaluation_slots(),
        ));
    runtime
        .build()
        .context("cannot start the async runtime")?
        .block_on(run(config, admin_private_key))
}

async fn run(config: KbsConfig, admin_private_key: Option<PathBuf>) -> anyhow::Result<()> {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        git_hash = option_env!("KBS_GIT_HASH").unwrap_or("unknown"),
        build_date = option_env!("KBS_BUILD_DATE").unwrap_or("unknown"),
        "Key Broker Service starting"
    );
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let http = &config.http_server;
    let tls = match (&http.insecure_http, &http.private_key, &http.certificate) {
        (true, _, _) => None,
        (false, Some(key), Some(cert)) => {
            Some(TlsSettings::resolve(&http.tls_knobs())?.server_config(key, cert)?)
        }
        // validate() already refused this combination.
        (false, _, _) => anyhow::bail!("HTTPS needs both private_key and certificate"),
    };

    let kbs = Kbs::from_config(&config).await?;
    if kbs.admin.is_insecure() {
        tracing::warn!("**************************************************************");
        tracing::warn!("* [admin] authorization_mode = \"InsecureAllowAll\":            *");
        tracing::warn!("* ANYONE who can reach this KBS can read and change secrets  *");
        tracing::warn!("* and policies. Never use this outside local development.    *");
        tracing::warn!("**************************************************************");
    }
    let sweeper = kbs::session::spawn_sweeper(kbs.sessions.clone());

    let listeners = BoundListeners::bind(&http.sockets, tls).await?;
    let mut stdout = std::io::stdout().lock();
    if let Some(path) = &admin_private_key {
        writeln!(stdout, "admin private key: {}", path.display())?;
    }
    for url in listeners.urls() {
        writeln!(stdout, "KBS listening on {url}")?;
    }
    stdout.flush()?;
    drop(stdout);

    listeners
        .serve(kbs::http::router(Arc::new(kbs)), shutdown_signal())
        .await?;
    sweeper.abort();
    tracing::info!("stopped");
    Ok(())
}
