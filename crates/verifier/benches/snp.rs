//! Micro-benchmarks of SEV-SNP verification on the shared Milan sample
//! (`wrapped/snp/test-report.json`, VCEK from its certificate table) at the manifest's
//! verification time: one full `snp::verify`, its two expensive pieces (the VCEK → ASK → ARK
//! chain and the report signature), the same verification with the chain answered by a
//! `VerifiedVekCache`, and the whole `Snp` verifier on the evidence JSON.
//!
//! `cargo bench -p verifier --bench snp`; results in `docs/benchmarks.md`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::Value;
use verifier::snp::{
    AmdRoots, AttestationReport, Expected, Product, Snp, VerifiedVekCache, verify,
    verify_report_signature, verify_vek_chain, verify_with_vek,
};
use verifier::{FixedClock, InitDataHash, ReportData, Verifier};

const EVIDENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/wrapped/snp/test-report.json"
);
/// 2025-06-01T00:00:00Z, the manifest's verification time.
const NOW: u64 = 1_748_736_000;

fn benches(c: &mut Criterion) {
    let evidence: Value = serde_json::from_slice(&std::fs::read(EVIDENCE).unwrap()).unwrap();
    let report = AttestationReport::from_json(&evidence["attestation_report"]).unwrap();
    let vcek: Vec<u8> = serde_json::from_value(evidence["cert_chain"][0]["data"].clone()).unwrap();
    let report_data = ReportData::Value(report.report_data.to_vec());
    let expected = Expected {
        report_data: &report_data,
        init_data_hash: &InitDataHash::NotProvided,
    };
    let roots = AmdRoots::embedded().unwrap();
    let milan = roots.product(Product::Milan);
    // The sample must verify, or the numbers below would time an early failure.
    verify(&report, &vcek, &expected, roots, NOW).unwrap();

    c.bench_function("snp/verify (full: chain + report)", |b| {
        b.iter(|| verify(black_box(&report), black_box(&vcek), &expected, roots, NOW).unwrap())
    });
    c.bench_function("snp/verify_vek_chain (vcek -> ask -> ark)", |b| {
        b.iter(|| verify_vek_chain(milan, black_box(&vcek), NOW).unwrap())
    });
    let vek = verify_vek_chain(milan, &vcek, NOW).unwrap();
    c.bench_function("snp/verify_report_signature (ecdsa p-384)", |b| {
        b.iter(|| verify_report_signature(black_box(&report), &vek).unwrap())
    });

    let cache = VerifiedVekCache::default();
    c.bench_function("snp/verify with a cached vek chain", |b| {
        b.iter(|| {
            let vek = cache
                .verify_vek_chain(milan, black_box(&vcek), NOW)
                .unwrap();
            verify_with_vek(black_box(&report), &vek, &expected).unwrap()
        })
    });

    c.bench_function("snp/parse report json", |b| {
        b.iter(|| AttestationReport::from_json(black_box(&evidence["attestation_report"])).unwrap())
    });

    // What the attestation service calls per request: JSON evidence in, claims out, with the
    // verifier (and so its VEK cache) reused across requests.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let snp = Snp::new(Vec::new(), Arc::new(FixedClock(NOW)));
    c.bench_function("snp/Snp::evaluate (evidence json, cached vek chain)", |b| {
        b.iter(|| {
            runtime
                .block_on(snp.evaluate(
                    black_box(&evidence),
                    &report_data,
                    &InitDataHash::NotProvided,
                ))
                .unwrap()
        })
    });
}

criterion_group!(snp, benches);
criterion_main!(snp);
