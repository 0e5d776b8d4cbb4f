//! Micro-benchmarks of the Attestation Service work in every `/attest`: the shipped
//! `default_cpu` appraisal policy against `sample` claims, and a whole
//! `AttestationService::evaluate` (verifier, runtime-data binding, policy, EAR signing).
//!
//! `cargo bench -p attestation-service --bench attestation`; see `docs/benchmarks.md`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use attestation_service::{AsConfig, AttestationService, RuntimeData, VerificationRequest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use kbs_types::{HashAlgorithm, Tee};
use policy::{CompiledPolicy, PolicyExtension, RuleValue};
use serde_json::{Value, json};
use storage::{StorageConfig, StorageProvider};

const DEFAULT_CPU: &str = include_str!("../policies/default_cpu.rego");

/// The runtime data the KBS builds for a guest's primary evidence.
fn runtime_data() -> Value {
    json!({
        "tee-pubkey": {
            "kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
            "x": "gHvKeMq6_vOOomNvX5K4D1RaJ79IdxTh7UAIwy4fBYI",
            "y": "AJ6cSJ0T4pKnJzbTrURIt2hn2y0UFhGUdwO7qIlP4Ds"
        },
        "nonce": "bm9uY2U=",
        "additional-evidence": ""
    })
}

fn report_data(runtime_data: &Value) -> String {
    STANDARD.encode(jose::jcs::runtime_data_digest(runtime_data, HashAlgorithm::Sha384).unwrap())
}

/// The policy input the AS builds for one `sample` CPU entry (its annotated evidence).
fn sample_policy_input() -> Value {
    let runtime = runtime_data();
    json!({
        "report_data": report_data(&runtime),
        "runtime_data_claims": runtime,
        "sample": {
            "svn": "1", "launch_digest": "abcde",
            "platform_version": {"major": 1, "minor": 4}, "debug": false
        }
    })
}

/// `query_reference_value` answering the sample reference values, so the policy walks its
/// affirming path (the longest one).
fn reference_values() -> PolicyExtension {
    let values = json!({
        "svn": ["1"], "launch_digest": ["abcde"],
        "major_version": 1, "minimum_minor_version": 1
    });
    PolicyExtension {
        name: "query_reference_value".into(),
        nargs: 1,
        func: Arc::new(move |args: Vec<Value>| {
            let id = args
                .first()
                .and_then(Value::as_str)
                .ok_or("id must be a string")?;
            Ok(values.get(id).cloned().unwrap_or(Value::Null))
        }),
    }
}

fn default_cpu_policy(c: &mut Criterion) {
    let policy =
        CompiledPolicy::compile("default_cpu", DEFAULT_CPU, &[reference_values()]).unwrap();
    let input = sample_policy_input();
    assert!(matches!(
        policy
            .eval_rule("data.policy.trust_claims", &input, None)
            .unwrap(),
        RuleValue::Value(_)
    ));
    let mut group = c.benchmark_group("attestation_policy");
    group.bench_function("compile default_cpu", |b| {
        b.iter(|| {
            CompiledPolicy::compile("default_cpu", black_box(DEFAULT_CPU), &[reference_values()])
                .unwrap()
        })
    });
    group.bench_function("default_cpu trust_claims (sample)", |b| {
        b.iter(|| {
            policy
                .eval_rule("data.policy.trust_claims", black_box(&input), None)
                .unwrap()
        })
    });
    // How the AS evaluated both rules per entry until `eval_rules`: one engine clone each.
    group.bench_function("default_cpu trust_claims + extensions (sample)", |b| {
        b.iter(|| {
            policy
                .eval_rule("data.policy.trust_claims", black_box(&input), None)
                .unwrap();
            policy
                .eval_rule("data.policy.extensions", black_box(&input), None)
                .unwrap()
        })
    });
    // What the AS does now (service.rs): both rules on one clone, the input converted once.
    group.bench_function(
        "default_cpu eval_rules trust_claims, extensions (sample)",
        |b| {
            b.iter(|| {
                let [trust_claims, extensions] = policy
                    .eval_rules(
                        ["data.policy.trust_claims", "data.policy.extensions"],
                        black_box(&input),
                        None,
                    )
                    .unwrap();
                (trust_claims.unwrap(), extensions.unwrap())
            })
        },
    );
    group.finish();
}

fn evaluate(c: &mut Criterion) {
    // One worker thread plus the blocking pool the policy runs on, as in the KBS.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let service = runtime.block_on(async {
        let storage = StorageProvider::new(&StorageConfig::default()).unwrap();
        AttestationService::new(AsConfig::default(), &storage)
            .await
            .unwrap()
    });
    let runtime_data = runtime_data();
    let request = VerificationRequest {
        tee: Tee::Sample,
        evidence: json!({"svn": "1", "report_data": report_data(&runtime_data)}),
        runtime_data: Some(RuntimeData::Structured(runtime_data)),
        runtime_data_hash_algorithm: HashAlgorithm::Sha384,
        init_data: None,
    };
    let policies = ["default".to_owned()];
    // Checks the request is good before timing it.
    runtime
        .block_on(service.evaluate(vec![request.clone()], &policies))
        .unwrap();
    let mut group = c.benchmark_group("attestation_service");
    group.bench_function("evaluate sample (default policy, EAR ES256)", |b| {
        b.iter(|| {
            runtime
                .block_on(service.evaluate(vec![black_box(request.clone())], &policies))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, default_cpu_policy, evaluate);
criterion_main!(benches);
