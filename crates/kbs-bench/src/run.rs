//! Scenario drivers: workers that loop until the budget or the clock runs out, and the one-shot
//! boot storm.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kbs_client::KbsClient;
use kbs_client::jose::TeeKeyPair;

use crate::report::Measured;
use crate::{BenchError, BenchOptions, Failure, Guest, Op, Recorder, Report, Scenario, Stop};
use crate::{Target, TeeKeyType};

/// Most distinct TEE keys made for one run. Guests beyond this share keys round-robin: the
/// server's work per request does not depend on whether two guests share a key, and RSA key
/// generation would otherwise dominate the start of a large run.
const MAX_KEYS: usize = 16;

/// Resource GETs each guest of a boot storm makes after attesting.
const BOOT_STORM_FETCHES: usize = 3;

/// Runs the measuring scenario of `options` (not `setup`) and reports what it measured.
pub async fn run(options: &BenchOptions) -> Result<Report, BenchError> {
    options.validate()?;
    if options.scenario == Scenario::Setup {
        return Err(BenchError::Options(
            "setup is not a measuring scenario".to_owned(),
        ));
    }
    let target = Target::new(&options.url, options.cacert_pem.as_deref())?;
    let sdks = guest_clients(options)?;
    let rss_before = server_rss(options.server_pid).0;
    let (recorder, elapsed, cpu) = match options.scenario {
        Scenario::BootStorm => boot_storm(options, &target, &sdks).await?,
        _ => steady(options, &target, &sdks).await?,
    };
    let (rss_after, rss_peak) = server_rss(options.server_pid);
    Ok(Report::new(
        options,
        Measured {
            recorder: &recorder,
            elapsed,
            rss: (rss_before, rss_after, rss_peak),
            server_cpu_s: cpu.server,
            client_cpu_s: cpu.client,
        },
    ))
}

/// One SDK client per distinct TEE key; it builds attestations and decrypts answers.
fn guest_clients(options: &BenchOptions) -> Result<Vec<Arc<KbsClient>>, BenchError> {
    let count = options.concurrency.min(MAX_KEYS);
    (0..count)
        .map(|_| {
            let key = match options.tee_key {
                TeeKeyType::EcP256 => TeeKeyPair::generate_ec_p256(),
                TeeKeyType::Rsa => TeeKeyPair::generate_rsa(2048),
            }
            .map_err(kbs_client::ClientError::from)?;
            let client = KbsClient::builder(&options.url)
                .tee_key(key)
                .no_proxy()
                .build()?;
            Ok(Arc::new(client))
        })
        .collect()
}

/// Shared between the driver and its workers.
struct Control {
    /// Iterations started while set are recorded (cleared during warm-up).
    recording: AtomicBool,
    /// Workers stop before their next iteration once set.
    stop: AtomicBool,
    /// Iterations still to start in the measured phase.
    budget: AtomicU64,
}

impl Control {
    fn take_ticket(&self) -> bool {
        self.budget
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// What one worker needs to run its loop.
struct Worker {
    target: Target,
    guest: Guest,
    scenario: Scenario,
    attested_sessions: bool,
    resource_url: String,
    expected: Arc<Vec<u8>>,
    control: Arc<Control>,
}

/// Workers loop over the scenario's iteration: warm-up unrecorded, then measured until the
/// clock or the iteration budget runs out.
async fn steady(
    options: &BenchOptions,
    target: &Target,
    sdks: &[Arc<KbsClient>],
) -> Result<(Recorder, Duration, CpuUsed), BenchError> {
    let budget = match options.stop {
        Stop::Iterations(n) => n,
        Stop::Duration(_) => u64::MAX,
    };
    let control = Arc::new(Control {
        recording: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        budget: AtomicU64::new(budget),
    });
    let expected = Arc::new(options.expected_secret.clone().unwrap_or_default());
    let resource_url = target.endpoint(&format!("resource/{}", options.resource));
    let mut workers = Vec::with_capacity(options.concurrency);
    for i in 0..options.concurrency {
        let sdk = sdks
            .get(i % sdks.len().max(1))
            .cloned()
            .ok_or_else(|| BenchError::Options("no guest keys".to_owned()))?;
        let mut guest = Guest::new(sdk);
        if matches!(
            options.scenario,
            Scenario::FetchCookie | Scenario::FetchBearer
        ) {
            // The session (or token) every later GET uses; not part of the measurement.
            guest
                .handshake(target, &mut |_, _| {})
                .await
                .map_err(BenchError::Prepare)?;
        }
        workers.push(Worker {
            target: target.clone(),
            guest,
            scenario: options.scenario,
            attested_sessions: options.attested_sessions,
            resource_url: resource_url.clone(),
            expected: expected.clone(),
            control: control.clone(),
        });
    }
    let handles: Vec<_> = workers.into_iter().map(|w| tokio::spawn(w.run())).collect();
    tokio::time::sleep(options.warmup).await;
    control.recording.store(true, Ordering::Release);
    let cpu = CpuClock::start(options.server_pid);
    let start = Instant::now();
    if let Stop::Duration(d) = options.stop {
        tokio::time::sleep(d).await;
        control.stop.store(true, Ordering::Release);
    }
    let mut total = Recorder::default();
    for handle in handles {
        total.merge(&handle.await?);
    }
    Ok((total, start.elapsed(), cpu.stop()))
}

impl Worker {
    async fn run(mut self) -> Recorder {
        let mut recorder = Recorder::default();
        let mut ops: Vec<(Op, Duration)> = Vec::with_capacity(4);
        while !self.control.stop.load(Ordering::Acquire) {
            let recording = self.control.recording.load(Ordering::Acquire);
            if recording && !self.control.take_ticket() {
                break;
            }
            ops.clear();
            let start = Instant::now();
            let outcome = self.iteration(&mut |op, d| ops.push((op, d))).await;
            let latency = start.elapsed();
            let lost_session = matches!(outcome, Err(Failure::Status { status: 401, .. }));
            if recording {
                for (op, d) in &ops {
                    recorder.op(*op, *d);
                }
                recorder.iteration(latency, outcome);
            }
            if lost_session && self.scenario.fetches() {
                // Session or token expired (long runs): attest again, unrecorded, so the run
                // goes on; the 401 itself was counted above.
                let _ = self.guest.handshake(&self.target, &mut |_, _| {}).await;
            }
        }
        recorder
    }

    async fn iteration(&mut self, timed: &mut impl FnMut(Op, Duration)) -> Result<(), Failure> {
        let target = &self.target;
        match self.scenario {
            Scenario::Attest => self.guest.handshake(target, timed).await,
            Scenario::Sessions => {
                let challenge = self.guest.auth(target, timed).await?;
                if self.attested_sessions {
                    self.guest.attest(target, &challenge, timed).await?;
                }
                Ok(())
            }
            Scenario::FetchCookie | Scenario::FetchBearer => {
                let bearer = self.scenario == Scenario::FetchBearer;
                self.guest
                    .fetch(target, &self.resource_url, bearer, &self.expected, timed)
                    .await
            }
            // Driven by `boot_storm`, and `setup` never reaches here.
            Scenario::BootStorm | Scenario::Setup => Ok(()),
        }
    }
}

/// `concurrency` guests released at once, each booting: `/auth`, `/attest`, three GETs.
async fn boot_storm(
    options: &BenchOptions,
    target: &Target,
    sdks: &[Arc<KbsClient>],
) -> Result<(Recorder, Duration, CpuUsed), BenchError> {
    let expected = Arc::new(options.expected_secret.clone().unwrap_or_default());
    let resource_url = Arc::new(target.endpoint(&format!("resource/{}", options.resource)));
    if !options.warmup.is_zero() {
        // One unrecorded boot so the storm does not also measure first-use costs.
        if let Some(sdk) = sdks.first() {
            let mut recorder = Recorder::default();
            boot_one(
                target,
                Guest::new(sdk.clone()),
                &resource_url,
                &expected,
                &mut recorder,
            )
            .await;
        }
    }
    let gate = Arc::new(tokio::sync::Barrier::new(options.concurrency + 1));
    let mut handles = Vec::with_capacity(options.concurrency);
    for i in 0..options.concurrency {
        let sdk = sdks
            .get(i % sdks.len().max(1))
            .cloned()
            .ok_or_else(|| BenchError::Options("no guest keys".to_owned()))?;
        let (target, gate) = (target.clone(), gate.clone());
        let (resource_url, expected) = (resource_url.clone(), expected.clone());
        handles.push(tokio::spawn(async move {
            let mut recorder = Recorder::default();
            gate.wait().await;
            boot_one(
                &target,
                Guest::new(sdk),
                &resource_url,
                &expected,
                &mut recorder,
            )
            .await;
            recorder
        }));
    }
    gate.wait().await;
    let cpu = CpuClock::start(options.server_pid);
    let start = Instant::now();
    let mut total = Recorder::default();
    for handle in handles {
        total.merge(&handle.await?);
    }
    Ok((total, start.elapsed(), cpu.stop()))
}

async fn boot_one(
    target: &Target,
    mut guest: Guest,
    resource_url: &str,
    expected: &[u8],
    recorder: &mut Recorder,
) {
    let start = Instant::now();
    let mut ops = Vec::with_capacity(2 + BOOT_STORM_FETCHES);
    let mut timed = |op, d| ops.push((op, d));
    let mut outcome = guest.handshake(target, &mut timed).await;
    for _ in 0..BOOT_STORM_FETCHES {
        if outcome.is_err() {
            break;
        }
        outcome = guest
            .fetch(target, resource_url, false, expected, &mut timed)
            .await;
    }
    let latency = start.elapsed();
    for (op, d) in ops {
        recorder.op(op, d);
    }
    recorder.iteration(latency, outcome);
}

/// CPU seconds used during the measured phase by the server (with `--server-pid`) and by
/// this process, from `/proc`: on a machine shared by client and server, CPU time per
/// iteration is a steadier cost measure than wall-clock throughput.
#[derive(Debug, Clone, Copy, Default)]
struct CpuUsed {
    server: Option<f64>,
    client: Option<f64>,
}

struct CpuClock {
    pid: Option<u32>,
    at_start: CpuUsed,
}

impl CpuClock {
    fn start(pid: Option<u32>) -> Self {
        Self {
            pid,
            at_start: CpuUsed {
                server: pid.and_then(|p| cpu_seconds(&p.to_string())),
                client: cpu_seconds("self"),
            },
        }
    }

    fn stop(self) -> CpuUsed {
        let delta = |start: Option<f64>, end: Option<f64>| Some(end? - start?);
        CpuUsed {
            server: delta(
                self.at_start.server,
                self.pid.and_then(|p| cpu_seconds(&p.to_string())),
            ),
            client: delta(self.at_start.client, cpu_seconds("self")),
        }
    }
}

/// Linux reports `/proc/<pid>/stat` times in USER_HZ ticks, which the kernel ABI fixes at 100
/// per second for userspace.
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds of process `pid` (`self` for this one); `None` off Linux.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: fields after the last
    // `)` start at field 3 (state); utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// (current, peak) resident memory of `pid` in KiB, from `/proc/<pid>/status`; `None` where
/// that cannot be read (not Linux, no such process).
fn server_rss(pid: Option<u32>) -> (Option<u64>, Option<u64>) {
    let Some(pid) = pid else {
        return (None, None);
    };
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (None, None);
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_rss() {
        let (rss, peak) = server_rss(Some(std::process::id()));
        if cfg!(target_os = "linux") {
            let (rss, peak) = (rss.unwrap(), peak.unwrap());
            assert!(rss > 0 && peak >= rss);
        }
        assert_eq!(server_rss(None), (None, None));
    }

    #[test]
    fn reads_this_process_cpu_time() {
        if cfg!(target_os = "linux") {
            let before = cpu_seconds("self").unwrap();
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = std::hint::black_box(x.wrapping_add(i));
            }
            assert!(cpu_seconds("self").unwrap() >= before);
        }
        assert_eq!(cpu_seconds("no-such-pid"), None);
    }

    #[test]
    fn the_budget_hands_out_exactly_n_tickets() {
        let control = Control {
            recording: AtomicBool::new(true),
            stop: AtomicBool::new(false),
            budget: AtomicU64::new(3),
        };
        let taken = (0..10).filter(|_| control.take_ticket()).count();
        assert_eq!(taken, 3);
    }
}
