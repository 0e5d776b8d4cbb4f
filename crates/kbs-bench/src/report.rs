//! Latency histograms and error counts per worker, merged into one [`Report`] printed as text
//! or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::{Failure, Scenario, Stop, TeeKeyType};

/// Latencies are kept in microseconds, 1 µs to 10 min, three significant digits (HDR).
const HIGHEST_MICROS: u64 = 600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// A timed protocol step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// `POST /kbs/v0/auth`.
    Auth,
    /// `POST /kbs/v0/attest`.
    Attest,
    /// `GET /kbs/v0/resource/...` with the session cookie.
    GetCookie,
    /// `GET /kbs/v0/resource/...` with a bearer token.
    GetBearer,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Self::Auth => "POST /auth",
            Self::Attest => "POST /attest",
            Self::GetCookie => "GET resource (cookie)",
            Self::GetBearer => "GET resource (bearer)",
        }
    }
}

#[allow(clippy::expect_used)] // constant bounds, checked by the tests: not input
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_MICROS, SIGNIFICANT_DIGITS)
        .expect("1 µs..10 min at 3 digits are valid HDR bounds")
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    h.saturating_record(micros.clamp(1, HIGHEST_MICROS));
}

/// One worker's measurements.
#[derive(Debug)]
pub struct Recorder {
    iterations: Histogram<u64>,
    ops: BTreeMap<Op, Histogram<u64>>,
    ok: u64,
    errors: BTreeMap<Failure, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            iterations: histogram(),
            ops: BTreeMap::new(),
            ok: 0,
            errors: BTreeMap::new(),
        }
    }
}

impl Recorder {
    /// Records one HTTP request's round trip.
    pub fn op(&mut self, op: Op, latency: Duration) {
        record(self.ops.entry(op).or_insert_with(histogram), latency);
    }

    /// Records one iteration: its whole latency (client work included) and its outcome.
    pub fn iteration(&mut self, latency: Duration, outcome: Result<(), Failure>) {
        match outcome {
            Ok(()) => {
                self.ok += 1;
                record(&mut self.iterations, latency);
            }
            Err(failure) => *self.errors.entry(failure).or_insert(0) += 1,
        }
    }

    /// Adds another worker's measurements to these.
    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds on both sides, so adding cannot fail; a failure would only lose samples.
        let _ = self.iterations.add(&other.iterations);
        for (op, h) in &other.ops {
            let _ = self.ops.entry(*op).or_insert_with(histogram).add(h);
        }
        self.ok += other.ok;
        for (failure, count) in &other.errors {
            *self.errors.entry(failure.clone()).or_insert(0) += count;
        }
    }

    /// Successful iterations.
    pub fn ok(&self) -> u64 {
        self.ok
    }

    /// Failed iterations, by failure.
    pub fn errors(&self) -> &BTreeMap<Failure, u64> {
        &self.errors
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl LatencySummary {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Failed iterations of one kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorCount {
    /// `http`, `transport`, `malformed`, `decrypt` or `secret-mismatch`.
    pub kind: &'static str,
    /// HTTP status, for `http`.
    pub status: Option<u16>,
    /// Problem type variant (`PolicyDeny`) or transport/malformed detail.
    pub problem: Option<String>,
    /// How many iterations failed so.
    pub count: u64,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario run.
    pub scenario: Scenario,
    /// KBS URL.
    pub url: String,
    /// Concurrent workers (guests for `boot-storm`).
    pub concurrency: usize,
    /// How the measured phase was bounded.
    pub stop: Stop,
    /// Warm-up before measuring, seconds.
    pub warmup_s: f64,
    /// TEE key type.
    pub tee_key: TeeKeyType,
    /// Length of the measured phase, seconds.
    pub elapsed_s: f64,
    /// Successful iterations.
    pub ok: u64,
    /// Failed iterations.
    pub errors: u64,
    /// Successful iterations per second.
    pub throughput_per_s: f64,
    /// HTTP requests answered (any status) per second.
    pub http_requests_per_s: f64,
    /// Latency of whole successful iterations (client crypto included).
    pub iteration_latency: LatencySummary,
    /// Round-trip latency per protocol step (all answers, errors included).
    pub op_latency: BTreeMap<Op, LatencySummary>,
    /// Failed iterations by kind, status and problem type.
    pub error_counts: Vec<ErrorCount>,
    /// Server resident memory before the run, KiB (with `--server-pid`).
    pub server_rss_before_kib: Option<u64>,
    /// Server resident memory after the run, KiB (with `--server-pid`).
    pub server_rss_after_kib: Option<u64>,
    /// Server peak resident memory after the run, KiB (with `--server-pid`).
    pub server_rss_peak_kib: Option<u64>,
    /// Server CPU time per iteration (ok or not), ms (with `--server-pid`; 10 ms clock ticks,
    /// so only meaningful over many iterations).
    pub server_cpu_ms_per_iteration: Option<f64>,
    /// kbs-bench's own CPU time per iteration, ms.
    pub client_cpu_ms_per_iteration: Option<f64>,
}

fn errors_of(recorder: &Recorder) -> u64 {
    recorder.errors.values().sum()
}

/// What a run measured, for [`Report::new`].
pub struct Measured<'a> {
    /// The merged recorder.
    pub recorder: &'a Recorder,
    /// Length of the measured phase.
    pub elapsed: Duration,
    /// (before, after, peak) server RSS in KiB.
    pub rss: (Option<u64>, Option<u64>, Option<u64>),
    /// Server CPU seconds used during the measured phase.
    pub server_cpu_s: Option<f64>,
    /// This process's CPU seconds used during the measured phase.
    pub client_cpu_s: Option<f64>,
}

impl Report {
    /// Builds the report of a run.
    pub fn new(options: &crate::BenchOptions, measured: Measured<'_>) -> Self {
        let Measured {
            recorder,
            elapsed,
            rss,
            server_cpu_s,
            client_cpu_s,
        } = measured;
        let per_iteration = |cpu: Option<f64>| {
            cpu.filter(|_| recorder.ok + errors_of(recorder) > 0)
                .map(|s| s * 1000.0 / (recorder.ok + errors_of(recorder)) as f64)
        };
        let secs = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let errors: u64 = recorder.errors.values().sum();
        let http_requests: u64 = recorder.ops.values().map(Histogram::len).sum();
        Self {
            scenario: options.scenario,
            url: options.url.clone(),
            concurrency: options.concurrency,
            stop: options.stop,
            warmup_s: options.warmup.as_secs_f64(),
            tee_key: options.tee_key,
            elapsed_s: elapsed.as_secs_f64(),
            ok: recorder.ok,
            errors,
            throughput_per_s: recorder.ok as f64 / secs,
            http_requests_per_s: http_requests as f64 / secs,
            iteration_latency: LatencySummary::of(&recorder.iterations),
            op_latency: recorder
                .ops
                .iter()
                .map(|(op, h)| (*op, LatencySummary::of(h)))
                .collect(),
            error_counts: recorder
                .errors
                .iter()
                .map(|(failure, count)| ErrorCount {
                    kind: failure.kind(),
                    status: failure.status(),
                    problem: failure.detail().map(str::to_owned),
                    count: *count,
                })
                .collect(),
            server_rss_before_kib: rss.0,
            server_rss_after_kib: rss.1,
            server_rss_peak_kib: rss.2,
            server_cpu_ms_per_iteration: per_iteration(server_cpu_s),
            client_cpu_ms_per_iteration: per_iteration(client_cpu_s),
        }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as human-readable text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let stop = match self.stop {
            _ if self.scenario == Scenario::BootStorm => "one storm".to_owned(),
            Stop::Duration(d) => format!("{:.1} s", d.as_secs_f64()),
            Stop::Iterations(n) => format!("{n} iterations"),
        };
        let scenario = serde_json::to_value(self.scenario)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "scenario {scenario} against {}: concurrency {}, {stop}, warm-up {:.1} s, TEE key {:?}",
            self.url, self.concurrency, self.warmup_s, self.tee_key
        );
        let _ = writeln!(
            out,
            "{} ok, {} errors in {:.2} s: {:.1} iterations/s, {:.1} HTTP requests/s",
            self.ok, self.errors, self.elapsed_s, self.throughput_per_s, self.http_requests_per_s
        );
        let _ = writeln!(
            out,
            "{:<24} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "count", "mean", "p50", "p90", "p99", "max"
        );
        let mut line = |label: &str, s: &LatencySummary| {
            let _ = writeln!(
                out,
                "{label:<24} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                s.count, s.mean_ms, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
            );
        };
        line("iteration (ok)", &self.iteration_latency);
        for (op, s) in &self.op_latency {
            line(op.label(), s);
        }
        if !self.error_counts.is_empty() {
            let _ = writeln!(out, "errors:");
            for e in &self.error_counts {
                let status = e.status.map(|s| format!(" {s}")).unwrap_or_default();
                let problem = e
                    .problem
                    .as_deref()
                    .map(|p| format!(" {p}"))
                    .unwrap_or_default();
                let _ = writeln!(out, "  {:>8}  {}{status}{problem}", e.count, e.kind);
            }
        }
        if let Some(ms) = self.server_cpu_ms_per_iteration {
            let _ = writeln!(out, "server CPU: {ms:.3} ms per iteration");
        }
        if let Some(ms) = self.client_cpu_ms_per_iteration {
            let _ = writeln!(out, "kbs-bench CPU: {ms:.3} ms per iteration");
        }
        if let (Some(before), Some(after)) = (self.server_rss_before_kib, self.server_rss_after_kib)
        {
            let _ = writeln!(
                out,
                "server RSS: {:.1} MiB before, {:.1} MiB after (peak {:.1} MiB)",
                before as f64 / 1024.0,
                after as f64 / 1024.0,
                self.server_rss_peak_kib.unwrap_or(after) as f64 / 1024.0
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BenchOptions;

    #[test]
    fn errors_are_counted_by_kind_status_and_problem_and_not_as_latency() {
        let mut a = Recorder::default();
        a.iteration(Duration::from_millis(2), Ok(()));
        a.iteration(Duration::from_millis(1), Err(Failure::SecretMismatch));
        let mut b = Recorder::default();
        b.op(Op::GetBearer, Duration::from_millis(4));
        b.iteration(
            Duration::from_millis(9),
            Err(Failure::Status {
                status: 401,
                problem: Some("PolicyDeny".to_owned()),
            }),
        );
        b.iteration(Duration::from_millis(1), Err(Failure::SecretMismatch));
        a.merge(&b);
        let options = BenchOptions::new("http://127.0.0.1:1", Scenario::FetchBearer);
        let report = Report::new(
            &options,
            Measured {
                recorder: &a,
                elapsed: Duration::from_secs(1),
                rss: (None, None, None),
                server_cpu_s: Some(0.8),
                client_cpu_s: None,
            },
        );
        assert_eq!(report.ok, 1);
        assert_eq!(report.errors, 3);
        assert_eq!(report.iteration_latency.count, 1);
        assert_eq!(report.server_cpu_ms_per_iteration, Some(200.0));
        assert_eq!(report.client_cpu_ms_per_iteration, None);
        assert_eq!(report.op_latency[&Op::GetBearer].count, 1);
        assert_eq!(
            report.error_counts,
            vec![
                ErrorCount {
                    kind: "http",
                    status: Some(401),
                    problem: Some("PolicyDeny".to_owned()),
                    count: 1
                },
                ErrorCount {
                    kind: "secret-mismatch",
                    status: None,
                    problem: None,
                    count: 2
                },
            ]
        );
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["error_counts"][1]["kind"], "secret-mismatch");
        assert_eq!(json["scenario"], "fetch-bearer");
        assert!(report.to_text().contains("secret-mismatch"));
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut r = Recorder::default();
        for ms in 1..=100 {
            r.iteration(Duration::from_millis(ms), Ok(()));
        }
        let s = LatencySummary::of(&r.iterations);
        assert_eq!(s.count, 100);
        // three significant digits: within 0.1 %
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
    }
}
