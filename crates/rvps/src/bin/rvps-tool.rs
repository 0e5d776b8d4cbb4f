//! `rvps-tool`: registers, queries and deletes reference values on an `rvps` (or `grpc-as`)
//! over gRPC.
//!
//! - `rvps-tool register -p message.json [-a URL]` sends an RVPS register message
//!   (`{"version":"0.1.0","type":"sample","payload":"<base64>"}`, AS spec §10.1).
//! - `rvps-tool query -r <id> [-a URL]` prints the stored value's JSON text on stdout.
//! - `rvps-tool delete -r <id> [-a URL]` removes the value stored under an id, with
//!   `DeleteReferenceValue`, our extension beyond upstream's protocol: an upstream RVPS answers
//!   `UNIMPLEMENTED` and the tool says the RVPS does not support deletion (exit 1).
//!
//! Exit codes: 0 success, 1 failure (file unreadable or not JSON, server down, request refused,
//! delete unsupported), 2 bad command line, 3 the queried or deleted id is unknown (a query
//! also for an expired one).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use rvps::{ReferenceValueProvider as _, RemoteRvps};

/// The default RVPS address, as upstream's tool.
const DEFAULT_ADDRESS: &str = "http://127.0.0.1:50003";
/// Largest message file sent: tonic's default 4 MiB decode limit on the server side.
const MAX_MESSAGE_BYTES: u64 = 4 * 1024 * 1024;
/// Exit code of a query for an unknown or expired id, and of a delete for an unknown one.
const EXIT_NOT_FOUND: u8 = 3;

/// Register, query and delete reference values on an RVPS.
#[derive(Debug, Parser)]
#[command(name = "rvps-tool", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Register the reference values carried by a register message file.
    Register {
        /// The message file: `{"version":"0.1.0","type":"sample","payload":"<base64>"}`.
        #[arg(short = 'p', long = "path")]
        path: PathBuf,
        /// RVPS address.
        #[arg(short = 'a', long = "addr", default_value = DEFAULT_ADDRESS)]
        addr: String,
    },
    /// Print the value stored under an id.
    Query {
        /// The reference value id (name).
        #[arg(short = 'r', long = "reference-value-id")]
        reference_value_id: String,
        /// RVPS address.
        #[arg(short = 'a', long = "addr", default_value = DEFAULT_ADDRESS)]
        addr: String,
    },
    /// Delete the value stored under an id (an extension beyond upstream's RVPS protocol).
    Delete {
        /// The reference value id (name).
        #[arg(short = 'r', long = "reference-value-id")]
        reference_value_id: String,
        /// RVPS address.
        #[arg(short = 'a', long = "addr", default_value = DEFAULT_ADDRESS)]
        addr: String,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("rvps-tool: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Register { path, addr } => {
            let message = read_message(&path)?;
            let rvps = RemoteRvps::connect(&addr).await?;
            rvps.register(&message).await?;
            println!("reference values from {} registered", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Query {
            reference_value_id,
            addr,
        } => {
            let rvps = RemoteRvps::connect(&addr).await?;
            match rvps.query_text(&reference_value_id).await? {
                Some(value) => {
                    println!("{value}");
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("rvps-tool: reference value {reference_value_id:?} not found");
                    Ok(ExitCode::from(EXIT_NOT_FOUND))
                }
            }
        }
        Command::Delete {
            reference_value_id,
            addr,
        } => {
            let rvps = RemoteRvps::connect(&addr).await?;
            let deleted = rvps.delete(&reference_value_id).await.with_context(|| {
                format!(
                    "cannot delete reference value {reference_value_id:?} at {}",
                    rvps.address()
                )
            })?;
            if deleted {
                println!("reference value {reference_value_id:?} deleted");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("rvps-tool: reference value {reference_value_id:?} not found");
                Ok(ExitCode::from(EXIT_NOT_FOUND))
            }
        }
    }
}

/// Reads the message file and checks it is a JSON object, so a wrong file is reported by name
/// here rather than as a server-side parse error.
fn read_message(path: &Path) -> anyhow::Result<String> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read message file {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_MESSAGE_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read message file {}", path.display()))?;
    if text.len() as u64 > MAX_MESSAGE_BYTES {
        bail!(
            "message file {} is larger than {MAX_MESSAGE_BYTES} bytes",
            path.display()
        );
    }
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("message file {} is not JSON", path.display()))?;
    if !value.is_object() {
        bail!(
            "message file {} is not a JSON object ({{\"version\", \"type\", \"payload\"}})",
            path.display()
        );
    }
    Ok(text)
}
