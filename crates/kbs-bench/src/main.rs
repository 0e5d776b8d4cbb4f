//! `kbs-bench`: load generator for a KBS with the `sample` TEE. Parses arguments and calls the
//! library; see `docs/benchmarks.md`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine;
use clap::Parser;
use kbs_bench::{BenchOptions, Scenario, Stop, TeeKeyType, parse_duration};

/// Benchmarks a Key Broker Service with virtual `sample` TEE guests.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// What to run.
    #[arg(value_enum)]
    scenario: Scenario,
    /// KBS root URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// PEM CA certificate to trust for HTTPS (only this one is trusted).
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Concurrent virtual guests; for boot-storm the number of guests started at once.
    #[arg(long, short = 'c', default_value_t = 8)]
    concurrency: usize,
    /// Length of the measured phase (e.g. 10s, 500ms, 2m). Default 10s.
    #[arg(long, conflicts_with = "requests")]
    duration: Option<String>,
    /// Number of measured iterations in total, instead of a duration.
    #[arg(long, short = 'n')]
    requests: Option<u64>,
    /// Unrecorded warm-up before measuring.
    #[arg(long, default_value = "2s")]
    warmup: String,
    /// TEE key type of the guests.
    #[arg(long, value_enum, default_value_t = TeeKeyType::EcP256)]
    tee_key: TeeKeyType,
    /// Resource to read, <repository>/<type>/<tag>.
    #[arg(long, default_value = "default/bench/secret")]
    resource: String,
    /// File holding the expected secret.
    #[arg(long, conflicts_with = "expect_b64")]
    expect_file: Option<PathBuf>,
    /// The expected secret, standard base64.
    #[arg(long)]
    expect_b64: Option<String>,
    /// sessions: also attest each session.
    #[arg(long)]
    attested: bool,
    /// Admin private key (PEM): store the secret and an allow-sample resource policy first.
    #[arg(long)]
    admin_key: Option<PathBuf>,
    /// Read this server process's resident memory before and after (Linux).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Client runtime worker threads (default: logical CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options = options(&args)?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = args.threads {
        if threads == 0 {
            bail!("--threads must be at least 1");
        }
        runtime.worker_threads(threads);
    }
    let runtime = runtime.build().context("starting the async runtime")?;
    runtime.block_on(async {
        if options.admin_key.is_some() {
            kbs_bench::setup(&options)
                .await
                .context("setup through the admin API")?;
            eprintln!(
                "setup: stored {} and the allow-sample resource policy",
                options.resource
            );
        }
        if options.scenario == Scenario::Setup {
            return Ok(());
        }
        let report = kbs_bench::run(&options).await?;
        if args.json {
            println!("{}", report.to_json());
        } else {
            print!("{}", report.to_text());
        }
        Ok(())
    })
}

fn options(args: &Args) -> anyhow::Result<BenchOptions> {
    let stop = match (args.requests, &args.duration) {
        (Some(n), _) => Stop::Iterations(n),
        (None, Some(d)) => Stop::Duration(parse_duration(d)?),
        (None, None) => Stop::Duration(std::time::Duration::from_secs(10)),
    };
    let expected_secret = match (&args.expect_file, &args.expect_b64) {
        (Some(path), _) => {
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
        }
        (None, Some(b64)) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .context("--expect-b64 is not standard base64")?,
        ),
        (None, None) => None,
    };
    let cacert_pem = match &args.cacert {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let options = BenchOptions {
        cacert_pem,
        concurrency: args.concurrency,
        stop,
        warmup: parse_duration(&args.warmup)?,
        tee_key: args.tee_key,
        resource: args.resource.clone(),
        expected_secret,
        attested_sessions: args.attested,
        admin_key: args.admin_key.clone(),
        server_pid: args.server_pid,
        ..BenchOptions::new(args.url.clone(), args.scenario)
    };
    options.validate()?;
    Ok(options)
}
