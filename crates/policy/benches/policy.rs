//! Micro-benchmarks of resource-policy evaluation as the KBS does it on every resource GET:
//! a policy compiled once, evaluated on a clone with the token claims as `input` and the
//! request as `data`.
//!
//! `cargo bench -p policy --bench policy`; see `docs/benchmarks.md`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use policy::{CompiledPolicy, PolicyInput, RuleValue};
use serde_json::{Value, json};

/// The KBS's shipped default resource policy (crates/kbs/src/resource_policy.rs).
const DEFAULT_POLICY: &str = r#"package policy

default allow := false

allow if {
	data.plugin == "resource"
	not input.submods.cpu0["ear.veraison.annotated-evidence"].sample
}
"#;

/// The policy kbs-bench installs so that the sample TEE may read (README quickstart).
const ALLOW_SAMPLE_POLICY: &str = r#"package policy
import rego.v1
default allow := false
allow if {
    data.plugin == "resource"
    input.submods.cpu0["ear.veraison.annotated-evidence"].sample
}
"#;

/// Verified EAR claims for one `sample` CPU submodule, as the KBS passes them as `input`.
fn ear_input() -> Value {
    json!({
        "eat_profile": "tag:github.com,2024:confidential-containers/Trustee",
        "iat": 1_800_000_000u64,
        "exp": 1_800_000_300u64,
        "ear.verifier-id": {"developer": "https://confidentialcontainers.org", "build": "0.1.0"},
        "submods": {"cpu0": {
            "ear.status": "affirming",
            "ear.trustworthiness-vector": {
                "instance-identity": 2, "configuration": 2, "executables": 3,
                "file-system": 0, "hardware": 2, "runtime-opaque": 0,
                "storage-opaque": 0, "sourced-data": 0
            },
            "ear.appraisal-policy-id": "default_cpu",
            "ear.veraison.annotated-evidence": {"sample": {
                "svn": "1",
                "report_data": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQ",
                "init_data": "",
                "launch_digest": "abcde"
            }},
            "ear.veraison.policy-claims": {"executables": 3, "hardware": 2}
        }},
        "customized_claims": {"runtime_data": {"tee-pubkey": {
            "kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
            "x": "lkG0MJ3_wvZMHaa3zzXJmCKE6XMbTBrnPBjJz5vnZ2I",
            "y": "Cq3fqbgnr4LAgexUzLrFgNq8xGZGnTT0VTtG0ESb6Bs"
        }}, "init_data": null}
    })
}

/// The request as the KBS passes it as `data`.
fn request_data() -> Value {
    json!({"plugin": "resource", "resource-path": ["default", "bench", "secret"], "query": {}})
}

fn resource_policy(c: &mut Criterion) {
    let input = ear_input();
    let data = request_data();
    let mut group = c.benchmark_group("resource_policy");
    group.bench_function("compile default", |b| {
        b.iter(|| {
            CompiledPolicy::compile("resource-policy", black_box(DEFAULT_POLICY), &[]).unwrap()
        })
    });
    for (name, text, expected) in [
        ("default", DEFAULT_POLICY, false),
        ("allow-sample", ALLOW_SAMPLE_POLICY, true),
    ] {
        let policy = CompiledPolicy::compile("resource-policy", text, &[]).unwrap();
        assert_eq!(
            policy
                .eval_rule("data.policy.allow", &input, Some(&data))
                .unwrap(),
            RuleValue::Value(json!(expected))
        );
        group.bench_function(format!("eval {name} (input + data)"), |b| {
            b.iter(|| {
                policy
                    .eval_rule(
                        "data.policy.allow",
                        black_box(&input),
                        Some(black_box(&data)),
                    )
                    .unwrap()
            })
        });
        // What the KBS does per resource request: the claims were converted when the token
        // was verified (and cached with it), only the request data is converted here.
        let converted = PolicyInput::new(&input);
        group.bench_function(format!("eval {name} (converted input + data)"), |b| {
            b.iter(|| {
                policy
                    .eval_rule_with(
                        "data.policy.allow",
                        black_box(&converted),
                        Some(black_box(&data)),
                    )
                    .unwrap()
            })
        });
        // Without a data document the clone keeps the compile-time analysis: the difference
        // to the line above is what passing the request as `data` costs.
        group.bench_function(format!("eval {name} (input only)"), |b| {
            b.iter(|| {
                policy
                    .eval_rule("data.policy.allow", black_box(&input), None)
                    .unwrap()
            })
        });
    }
    group.bench_function("clone compiled policy", |b| {
        let policy = CompiledPolicy::compile("resource-policy", DEFAULT_POLICY, &[]).unwrap();
        b.iter(|| black_box(policy.clone()))
    });
    group.finish();
}

criterion_group!(benches, resource_policy);
criterion_main!(benches);
