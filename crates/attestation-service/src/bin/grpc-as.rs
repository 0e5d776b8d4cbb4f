//! `grpc-as`: the attestation service over gRPC (spec §1, §2).
//!
//! Serves `attestation.AttestationService`, `reference.ReferenceValueProviderService`,
//! `grpc.health.v1.Health` and HTTP/1.1 `GET /.well-known/jwks.json` on one socket. Prints
//! `grpc-as listening on <ip:port>` once bound (the real port when `-s` asks for port 0).

use std::net::SocketAddr;

use attestation_service::grpc::listen::{ServerArgs, init_logging, run};
use clap::Parser;

/// Attestation service, gRPC front end.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    /// Address to listen on.
    #[arg(short = 's', long = "socket", default_value = "127.0.0.1:3000")]
    socket: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging();
    let cli = Cli::parse();
    let started = cli.server.start().await?;
    let router = attestation_service::grpc::router(started.service).await;
    run("grpc-as", cli.socket, router, started.tls).await?;
    Ok(())
}
