//! `verify-evidence`: verifies one TEE evidence file, as the attestation service would, and
//! prints the claims.
//!
//! ```text
//! verify-evidence --tee snp --evidence report.json \
//!     --report-data ec6c52d7... --collateral-dir /srv/collateral --at 2025-06-01T00:00:00Z
//! ```
//!
//! On success the claims go to stdout as pretty JSON, one member per attested device named
//! as in the attestation token's submodules (`cpu0`, `gpu0`, ...), and the exit status is 0.
//! Otherwise stderr gets one line saying what failed and the exit status is
//! [`Failure::exit_code`]: 1 when the evidence was checked and rejected, 2 when it could not
//! be checked (bad arguments, unreadable file, TEE without a verifier in this build).
//! A reader that stops early (`verify-evidence ... | head -1`) is not a failure: the claims
//! were produced, so the exit status stays 0 and nothing is printed about the closed pipe.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use kbs_types::Tee;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use verifier::{
    FixedClock, InitDataHash, ReportData, VerifierConfig, VerifierContext, verifier_for_with,
};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "verify-evidence",
    version,
    about = "Verify TEE evidence and print its claims"
)]
struct Args {
    /// The TEE, by its wire name: snp, az-snp-vtpm, tdx, sgx, az-tdx-vtpm, csv, sample, ...
    #[arg(long, value_parser = parse_tee)]
    tee: Tee,

    /// The evidence JSON file, as the attester sends it (the TEE-specific `primary_evidence`).
    #[arg(long)]
    evidence: PathBuf,

    /// Hex of the report data the evidence must be bound to; unchecked when absent.
    #[arg(long, value_parser = parse_hex)]
    report_data: Option<Hex>,

    /// Hex of the init-data digest the evidence must be bound to; unchecked when absent.
    #[arg(long, value_parser = parse_hex)]
    init_data_digest: Option<Hex>,

    /// Offline collateral directory (`amd/kds-store/`, `csv/hsk_cek/`, `intel/bundles/`);
    /// without it, collateral missing from the evidence is fetched from the vendor's service.
    #[arg(long)]
    collateral_dir: Option<PathBuf>,

    /// Verification time (RFC 3339, e.g. 2025-06-01T00:00:00Z); now when absent.
    #[arg(long, value_parser = parse_time)]
    at: Option<u64>,

    /// Arm CCA: trust-anchor store (upstream's `tastore.json`: CPAKs by instance id).
    #[arg(long)]
    cca_ta_store: Option<PathBuf>,

    /// Arm CCA: reference-value store (upstream's `rvstore.json`); without it the platform
    /// and realm measurements are only reported.
    #[arg(long)]
    cca_rv_store: Option<PathBuf>,
}

/// Bytes given in hex on the command line (a newtype: clap reads `Vec<u8>` as a list).
#[derive(Debug, Clone)]
struct Hex(Vec<u8>);

/// Why a run did not print claims.
#[derive(Debug)]
enum Failure {
    /// The verifier checked the evidence and rejected it.
    Rejected(verifier::Error),
    /// The verification could not be run.
    Invocation(anyhow::Error),
}

impl Failure {
    /// The exit status when the claims were produced but could not be written (not a broken
    /// pipe): like a failure to check, the caller did not get them.
    const WRITE_FAILED: u8 = 2;

    /// The exit status: 1 rejected evidence, 2 anything that kept it from being checked (as
    /// clap's usage errors).
    fn exit_code(&self) -> u8 {
        match self {
            Self::Rejected(_) => 1,
            Self::Invocation(_) => 2,
        }
    }

    /// One line for stderr: the check that failed, or why none could run.
    fn message(&self) -> String {
        let text = match self {
            Self::Rejected(err) => err.to_string(),
            Self::Invocation(err) => format!("{err:#}"),
        };
        one_line(&text)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(claims) => match write_line(&mut std::io::stdout().lock(), &claims) {
            // The reader went away (`verify-evidence ... | head -1`): it has what it wanted and
            // the verification did succeed, so exit quietly with success, as `cat` would.
            Ok(()) => ExitCode::SUCCESS,
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(err) => {
                report(&format!("cannot write the claims to stdout: {err}"));
                ExitCode::from(Failure::WRITE_FAILED)
            }
        },
        Err(failure) => {
            report(&failure.message());
            ExitCode::from(failure.exit_code())
        }
    }
}

/// Writes `text` and a newline, then flushes (`println!` would panic on a closed pipe).
fn write_line(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    writeln!(out, "{text}")?;
    out.flush()
}

/// One line on stderr; if even that cannot be written there is nobody left to tell.
fn report(message: &str) {
    let _ = write_line(&mut std::io::stderr().lock(), message);
}

/// Verifies as `args` say and returns the claims as pretty JSON.
async fn run(args: Args) -> Result<String, Failure> {
    let text = std::fs::read_to_string(&args.evidence)
        .with_context(|| format!("cannot read evidence file {}", args.evidence.display()))
        .map_err(Failure::Invocation)?;
    let evidence: Value = serde_json::from_str(&text)
        .with_context(|| format!("evidence file {} is not JSON", args.evidence.display()))
        .map_err(Failure::Invocation)?;

    let mut context = VerifierContext::new();
    if let Some(at) = args.at {
        context = context.with_clock(Arc::new(FixedClock(at)));
    }
    if let Some(dir) = &args.collateral_dir {
        // A mistyped path would otherwise only show up as "vcek not found", which reads as a
        // problem with the evidence.
        if !dir.is_dir() {
            return Err(Failure::Invocation(anyhow::anyhow!(
                "collateral directory {} does not exist",
                dir.display()
            )));
        }
        context = context.with_offline_collateral_dir(dir);
    }
    let verifier = verifier_for_with(args.tee, &verifier_config(&args), &context)
        .map_err(|err| Failure::Invocation(err.into()))?;

    let report_data = args
        .report_data
        .map_or(ReportData::NotProvided, |hex| ReportData::Value(hex.0));
    let init_data = args
        .init_data_digest
        .map_or(InitDataHash::NotProvided, |hex| InitDataHash::Value(hex.0));
    let entries = verifier
        .evaluate(&evidence, &report_data, &init_data)
        .await
        .map_err(Failure::Rejected)?;

    // Name entries as the attestation token names its submodules: class, then a counter
    // per class in entry order.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Map::new();
    for (claims, class) in entries {
        let counter = seen.entry(class.to_string()).or_default();
        out.insert(format!("{class}{counter}"), claims.into_value());
        *counter += 1;
    }
    serde_json::to_string_pretty(&Value::Object(out)).map_err(|err| Failure::Invocation(err.into()))
}

/// The `verifier_config` the options describe.
fn verifier_config(args: &Args) -> VerifierConfig {
    let mut config = VerifierConfig::default();
    if args.cca_ta_store.is_some() || args.cca_rv_store.is_some() {
        let mut cca = Map::new();
        cca.insert("type".into(), Value::from("local"));
        for (key, path) in [
            ("ta-store", &args.cca_ta_store),
            ("rv-store", &args.cca_rv_store),
        ] {
            if let Some(path) = path {
                cca.insert(key.into(), Value::from(path.to_string_lossy().into_owned()));
            }
        }
        config.cca_verifier = Some(cca);
    }
    config
}

fn parse_tee(text: &str) -> Result<Tee, String> {
    Tee::from_str(text).map_err(|_| {
        format!(
            "unknown tee `{text}` (known: sample, sampledevice, snp, az-snp-vtpm, tdx, \
             az-tdx-vtpm, sgx, cca, csv, se, tpm, nvidia, nvidia-dpu, hygondcu)"
        )
    })
}

fn parse_hex(text: &str) -> Result<Hex, String> {
    hex::decode(text.trim())
        .map(Hex)
        .map_err(|err| format!("not hex: {err}"))
}

fn parse_time(text: &str) -> Result<u64, String> {
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|err| format!("not an RFC 3339 time: {err}"))?;
    u64::try_from(at.unix_timestamp()).map_err(|_| "time is before 1970".to_owned())
}

/// Replaces line breaks and other control characters, so a failure is always one line even
/// when an error message quotes input.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_per_failure() {
        let table = [
            (
                Failure::Rejected(verifier::Error::Mismatch {
                    field: "report_data",
                }),
                1,
                "evidence `report_data` does not match the expected value",
            ),
            (
                Failure::Rejected(verifier::Error::Missing {
                    field: "report_data",
                }),
                1,
                "evidence has no `report_data` to check against the expected value",
            ),
            (
                Failure::Invocation(
                    anyhow::anyhow!("no such file").context("cannot read evidence file x"),
                ),
                2,
                "cannot read evidence file x: no such file",
            ),
            (
                Failure::Invocation(anyhow::anyhow!("two\nlines")),
                2,
                "two lines",
            ),
        ];
        for (failure, code, message) in table {
            assert_eq!(failure.exit_code(), code, "{failure:?}");
            assert_eq!(failure.message(), message);
        }
    }

    #[test]
    fn times_are_rfc_3339_after_1970() {
        assert_eq!(parse_time("2025-06-01T00:00:00Z"), Ok(1_748_736_000));
        assert_eq!(parse_time("2025-06-01T02:00:00+02:00"), Ok(1_748_736_000));
        assert!(parse_time("2025-06-01").is_err());
        assert_eq!(
            parse_time("1969-12-31T23:59:59Z"),
            Err("time is before 1970".to_owned())
        );
    }

    #[test]
    fn tees_by_wire_name() {
        assert_eq!(parse_tee("az-snp-vtpm"), Ok(Tee::AzSnpVtpm));
        assert_eq!(parse_tee("snp"), Ok(Tee::Snp));
        assert!(
            parse_tee("SNP2")
                .unwrap_err()
                .starts_with("unknown tee `SNP2`")
        );
    }

    #[test]
    fn hex_arguments() {
        assert_eq!(parse_hex("0aFF").unwrap().0, vec![0x0a, 0xff]);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
    }
}
