//! Micro-benchmarks of DCAP quote verification on the shared TDX sample
//! (`evidence/tdx/tdx_quote_6.dat`, v4, with `collateral/intel/bundles/tdx_quote_6.dcap-qvl.json`)
//! at the manifest's verification time: one full TDX quote verification with the collateral
//! already loaded and checked (`VerifiedCollateral`, what a caller caches per FMSPC), the
//! same in thread CPU time (independent of the machine's load), the collateral check itself, a
//! full `dcap::verify` doing both, and the quote parse.
//!
//! `cargo bench -p verifier --bench dcap`; results in `docs/benchmarks.md`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use time::OffsetDateTime;
use verifier::collateral::intel::DcapCollateral;
use verifier::dcap::{Quote, VerifiedCollateral, verify, verify_with_collateral};

const QUOTE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/evidence/tdx/tdx_quote_6.dat"
);
const BUNDLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/collateral/intel/bundles/tdx_quote_6.dcap-qvl.json"
);
/// 2025-11-05T00:00:00Z, the manifest's verification time.
const NOW: i64 = 1_762_300_800;

fn benches(c: &mut Criterion) {
    let bytes = std::fs::read(QUOTE).unwrap();
    let collateral =
        DcapCollateral::from_dcap_qvl_json(&std::fs::read_to_string(BUNDLE).unwrap()).unwrap();
    let now = OffsetDateTime::from_unix_timestamp(NOW).unwrap();
    let checked = VerifiedCollateral::verify(&collateral).unwrap();
    // The sample must verify, or the numbers below would time an early failure.
    verify_with_collateral(Quote::parse(&bytes).unwrap(), &checked, now).unwrap();

    c.bench_function("dcap/verify tdx quote (checked collateral)", |b| {
        b.iter(|| {
            let quote = Quote::parse(black_box(&bytes)).unwrap();
            verify_with_collateral(quote, &checked, now).unwrap()
        })
    });
    // The same, timed in this thread's CPU time (Linux schedstat), so the figure does not
    // depend on how loaded the machine is.
    if thread_cpu_time().is_some() {
        c.bench_function(
            "dcap/verify tdx quote (checked collateral), cpu time",
            |b| {
                b.iter_custom(|iters| {
                    let start = thread_cpu_time().unwrap();
                    for _ in 0..iters {
                        let quote = Quote::parse(black_box(&bytes)).unwrap();
                        black_box(verify_with_collateral(quote, &checked, now).unwrap());
                    }
                    thread_cpu_time().unwrap().saturating_sub(start)
                })
            },
        );
    }
    c.bench_function("dcap/VerifiedCollateral::verify (collateral only)", |b| {
        b.iter(|| VerifiedCollateral::verify(black_box(&collateral)).unwrap())
    });
    c.bench_function("dcap/verify (quote + collateral checks)", |b| {
        b.iter(|| {
            let quote = Quote::parse(black_box(&bytes)).unwrap();
            verify(quote, black_box(&collateral), now).unwrap()
        })
    });
    c.bench_function("dcap/Quote::parse", |b| {
        b.iter(|| Quote::parse(black_box(&bytes)).unwrap())
    });
}

/// CPU time of the calling thread: first field of `/proc/thread-self/schedstat` (ns). The
/// kernel brings it up to date when the thread leaves the CPU, so sleep briefly first (costs
/// a few µs of CPU time, against samples of milliseconds).
fn thread_cpu_time() -> Option<Duration> {
    std::thread::sleep(Duration::from_micros(1));
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    (ns > 0).then(|| Duration::from_nanos(ns))
}

criterion_group!(dcap, benches);
criterion_main!(dcap);
