//! `kbs-bench`: a load generator for a Key Broker Service speaking the Confidential Containers
//! protocol (`/kbs/v0/`, version 0.4.0) with the software `sample` TEE, built on the
//! `kbs-client` SDK.
//!
//! The SDK builds the attestation (runtime data, canonical hash, sample evidence) and holds the
//! TEE keys that decrypt the answers; this crate drives the HTTP steps itself so that every
//! request is timed on its own, its error is classified by status and problem type, and no
//! retry hides a failure (the SDK's `get_resource` re-attests on 401, which a benchmark must
//! see as an error).
//!
//! Scenarios ([`Scenario`]): `attest`, `fetch-cookie`, `fetch-bearer`, `boot-storm`,
//! `sessions`, and `setup` (stores the secret and an allow policy through the admin API).
//! Every received secret is decrypted and compared with the expected bytes: a fast wrong
//! answer counts as an error.
//!
//! What it never does: talk to anything but the one KBS URL it is given, or retry silently.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kbs_bench::BenchError> {
//! let options = kbs_bench::BenchOptions {
//!     expected_secret: Some(b"secret".to_vec()),
//!     ..kbs_bench::BenchOptions::new("http://127.0.0.1:8080", kbs_bench::Scenario::FetchBearer)
//! };
//! let report = kbs_bench::run(&options).await?;
//! println!("{}", report.to_text());
//! # Ok(()) }
//! ```

mod error;
mod guest;
mod options;
mod report;
mod run;
mod setup;

pub use error::BenchError;
pub use guest::{Failure, Guest, Target};
pub use options::{BenchOptions, Scenario, Stop, TeeKeyType, parse_duration};
pub use report::{ErrorCount, LatencySummary, Op, Recorder, Report};
pub use run::run;
pub use setup::{ALLOW_SAMPLE_POLICY, setup};
