//! `restful-as`: the attestation service over REST (spec §1, §3).
//!
//! Prints `restful-as listening on <ip:port>` once bound (the real port when `-s` asks for
//! port 0).

use std::net::SocketAddr;

use attestation_service::grpc::listen::{ServerArgs, init_logging, run};
use clap::Parser;

/// Attestation service, REST front end.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Address to listen on.
    #[arg(short = 's', long = "socket")]
    socket: SocketAddr,
    /// Origins allowed by CORS (repeat the flag or separate with commas); each must start with
    /// `http://` or `https://`.
    #[arg(short = 'r', long = "allowed_origin", value_delimiter = ',', num_args = 1..)]
    allowed_origin: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let cli = Cli::parse();
    let started = cli.server.start().await?;
    let router = attestation_service::rest::router(started.service, &cli.allowed_origin);
    run("restful-as", cli.socket, router, started.tls).await?;
    Ok(())
}
