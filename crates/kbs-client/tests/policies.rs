//! The built-in resource policies the CLI uploads compile and decide as their names say.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kbs_client::policies;
use policy::{CompiledPolicy, RuleValue};
use serde_json::{Value, json};

fn allows(rego: &str, claims: &Value, plugin: &str) -> bool {
    let compiled = CompiledPolicy::compile("resource-policy", rego, &[]).unwrap();
    let data = json!({"plugin": plugin, "resource-path": ["a", "b", "c"], "query": {}});
    match compiled
        .eval_rule("data.policy.allow", claims, Some(&data))
        .unwrap()
    {
        RuleValue::Value(v) => v == Value::Bool(true),
        RuleValue::Undefined => false,
    }
}

fn ear(tee: &str, status: &str) -> Value {
    json!({"submods": {"cpu0": {
        "ear.status": status,
        "ear.veraison.annotated-evidence": {tee: {"svn": "1"}}
    }}})
}

#[test]
fn allow_all_allows_resource_reads_only() {
    assert!(allows(
        policies::ALLOW_ALL,
        &ear("sample", "contraindicated"),
        "resource"
    ));
    assert!(!allows(
        policies::ALLOW_ALL,
        &ear("sample", "affirming"),
        "sample"
    ));
}

#[test]
fn deny_all_denies_everything() {
    assert!(!allows(
        policies::DENY_ALL,
        &ear("tdx", "affirming"),
        "resource"
    ));
}

#[test]
fn default_refuses_the_sample_tee_and_allows_others() {
    assert!(!allows(
        policies::DEFAULT,
        &ear("sample", "affirming"),
        "resource"
    ));
    assert!(allows(
        policies::DEFAULT,
        &ear("tdx", "contraindicated"),
        "resource"
    ));
}

#[test]
fn affirming_needs_every_submod_affirming() {
    assert!(allows(
        policies::AFFIRMING,
        &ear("tdx", "affirming"),
        "resource"
    ));
    assert!(!allows(
        policies::AFFIRMING,
        &ear("tdx", "warning"),
        "resource"
    ));
    let mixed = json!({"submods": {
        "cpu0": {"ear.status": "affirming"},
        "gpu0": {"ear.status": "contraindicated"}
    }});
    assert!(!allows(policies::AFFIRMING, &mixed, "resource"));
    assert!(!allows(
        policies::AFFIRMING,
        &json!({"submods": {}}),
        "resource"
    ));
}
