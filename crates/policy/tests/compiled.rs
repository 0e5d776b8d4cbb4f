#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Compiling and evaluating policies.

use std::sync::{Arc, Mutex};

use policy::{CompiledPolicy, Error, PolicyExtension, PolicyInput, RuleValue};
use serde_json::{Value, json};

fn compile(rego: &str) -> CompiledPolicy {
    CompiledPolicy::compile("test", rego, &[]).unwrap()
}

fn eval(policy: &CompiledPolicy, rule: &str, input: Value, data: Option<Value>) -> RuleValue {
    policy.eval_rule(rule, &input, data.as_ref()).unwrap()
}

// The shape of `kbs/sample_policies/default.rego` upstream.
const RESOURCE_POLICY: &str = r#"
package policy

default allow = false

allow if {
    data.plugin == "resource"
    not input.submods.cpu0["ear.veraison.annotated-evidence"].sample
}
"#;

fn resource_data() -> Value {
    json!({"plugin": "resource", "resource-path": ["a", "b", "c"], "query": {}})
}

fn ear_input(evidence: Value) -> Value {
    json!({
        "eat_profile": "tag:github.com,2024:confidential-containers/Trustee",
        "submods": {"cpu0": {
            "ear.status": "affirming",
            "ear.veraison.annotated-evidence": evidence
        }}
    })
}

#[test]
fn reports_compile_errors_with_the_engine_message() {
    let err = CompiledPolicy::compile("broken", "package policy\nallow if {", &[]).unwrap_err();
    match err {
        Error::Compile { id, message } => {
            assert_eq!(id, "broken");
            assert!(!message.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn rejects_rego_v0_bodies_without_if() {
    assert!(matches!(
        CompiledPolicy::compile("v0", "package policy\nallow { true }", &[]),
        Err(Error::Compile { .. })
    ));
}

#[test]
fn accepts_policies_with_and_without_rego_v1_import() {
    compile("package policy\nallow if { true }");
    compile("package policy\nimport rego.v1\nallow if { true }");
    compile(
        "package policy\nimport future.keywords.if\nimport future.keywords.in\nallow if { 1 in [1] }",
    );
}

#[test]
fn resource_policy_refuses_sample_evidence_and_allows_real_tees() {
    let policy = compile(RESOURCE_POLICY);
    let sample = ear_input(json!({"sample": {"svn": "1"}}));
    let snp = ear_input(json!({"snp": {"measurement": "abc"}}));
    assert_eq!(
        eval(&policy, "data.policy.allow", sample, Some(resource_data())),
        RuleValue::Value(json!(false))
    );
    assert_eq!(
        eval(
            &policy,
            "data.policy.allow",
            snp.clone(),
            Some(resource_data())
        ),
        RuleValue::Value(json!(true))
    );
    let other_plugin = json!({"plugin": "sample", "resource-path": [], "query": {}});
    assert_eq!(
        eval(&policy, "data.policy.allow", snp, Some(other_plugin)),
        RuleValue::Value(json!(false))
    );
}

#[test]
fn policies_see_resource_path_and_ear_status() {
    let policy = compile(
        r#"package policy
        default allow := false
        allow if {
            count(data["resource-path"]) == 3
            data["resource-path"][1] == "b"
            every _, submod in input.submods { submod["ear.status"] == "affirming" }
        }"#,
    );
    let input = ear_input(json!({}));
    assert_eq!(
        eval(
            &policy,
            "data.policy.allow",
            input.clone(),
            Some(resource_data())
        ),
        RuleValue::Value(json!(true))
    );
    let mut contraindicated = input;
    contraindicated["submods"]["cpu0"]["ear.status"] = json!("contraindicated");
    assert_eq!(
        eval(
            &policy,
            "data.policy.allow",
            contraindicated,
            Some(resource_data())
        ),
        RuleValue::Value(json!(false))
    );
}

#[test]
fn each_evaluation_starts_from_the_compiled_state() {
    let policy = compile("package policy\nallow if { data.plugin == \"resource\" }");
    assert_eq!(
        eval(
            &policy,
            "data.policy.allow",
            json!({}),
            Some(resource_data())
        ),
        RuleValue::Value(json!(true))
    );
    // Data from the previous evaluation must not leak into this one.
    assert_eq!(
        eval(&policy, "data.policy.allow", json!({}), None),
        RuleValue::Undefined
    );
}

#[test]
fn membership_in_null_is_false_not_an_error() {
    let policy = compile(
        r#"package policy
        in_null := "x" in input.missing_is_null
        in_scalar := "x" in input.scalar
        in_array := "x" in input.array"#,
    );
    let input = json!({"missing_is_null": null, "scalar": 5, "array": ["x"]});
    assert_eq!(
        eval(&policy, "data.policy.in_null", input.clone(), None),
        RuleValue::Value(json!(false))
    );
    assert_eq!(
        eval(&policy, "data.policy.in_scalar", input.clone(), None),
        RuleValue::Value(json!(false))
    );
    assert_eq!(
        eval(&policy, "data.policy.in_array", input, None),
        RuleValue::Value(json!(true))
    );
}

#[test]
fn missing_rule_is_its_own_error() {
    let policy = compile("package policy\nallow if { true }");
    for rule in ["data.policy.nope", "data.other.allow", "data.policy"] {
        match policy.eval_rule(rule, &json!({}), None) {
            Err(Error::RuleNotFound { rule: r }) => assert_eq!(r, rule),
            other => panic!("{rule}: unexpected {other:?}"),
        }
    }
}

#[test]
fn rule_without_matching_body_is_undefined() {
    let policy = compile("package policy\nallow if { input.x == 1 }");
    assert_eq!(
        eval(&policy, "data.policy.allow", json!({"x": 2}), None),
        RuleValue::Undefined
    );
    assert_eq!(
        eval(&policy, "data.policy.allow", json!({"x": 1}), None),
        RuleValue::Value(json!(true))
    );
}

#[test]
fn conflicting_incremental_definitions_are_an_error() {
    let policy = compile(
        r#"package policy
        r := 1 if { input.a }
        r := 2 if { input.b }"#,
    );
    assert_eq!(
        eval(&policy, "data.policy.r", json!({"a": true}), None),
        RuleValue::Value(json!(1))
    );
    assert!(matches!(
        policy.eval_rule("data.policy.r", &json!({"a": true, "b": true}), None),
        Err(Error::Evaluation { .. })
    ));
}

#[test]
fn calls_extensions_with_their_argument() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&seen);
    let extension = PolicyExtension {
        name: "query_reference_value".to_owned(),
        nargs: 1,
        func: Arc::new(move |args: Vec<Value>| {
            recorder.lock().unwrap().push(args.clone());
            match args.first() {
                Some(Value::String(id)) if id == "svn" => Ok(json!(["1", "2"])),
                Some(Value::String(_)) => Ok(Value::Null),
                _ => Err("argument must be a string".to_owned()),
            }
        }),
    };
    let policy = CompiledPolicy::compile(
        "ext",
        r#"package policy
        svn_ok if { input.svn in query_reference_value("svn") }
        unknown := query_reference_value("nope")
        bad := query_reference_value(1)"#,
        &[extension],
    )
    .unwrap();
    assert_eq!(
        eval(&policy, "data.policy.svn_ok", json!({"svn": "2"}), None),
        RuleValue::Value(json!(true))
    );
    assert_eq!(seen.lock().unwrap().as_slice(), [vec![json!("svn")]]);
    assert_eq!(
        eval(&policy, "data.policy.unknown", json!({}), None),
        RuleValue::Value(Value::Null)
    );
    match policy.eval_rule("data.policy.bad", &json!({}), None) {
        Err(Error::Evaluation { message, .. }) => {
            assert!(message.contains("argument must be a string"), "{message}")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn rejects_a_non_object_data_document() {
    let policy = compile("package policy\nallow if { true }");
    assert!(matches!(
        policy.eval_rule("data.policy.allow", &json!({}), Some(&json!([1]))),
        Err(Error::DataNotObject)
    ));
}

#[test]
fn supports_language_features_of_the_shipped_policies() {
    let policy = compile(
        r#"package policy
        import rego.v1
        default executables := 33
        executables := 3 if { input.sample.launch_digest in ["abc", "def"] }
        hardware := 2 if { input.sample.svn >= 1 } else := 97
        claims := {"executables": executables, "hardware": hardware}
        ids := [k | input.tags[k]]
        merged := object.union_n([{"a": 1}, {"b": 2}])
        label := sprintf("%s-%d", ["x", 7])"#,
    );
    let input =
        json!({"sample": {"launch_digest": "abc", "svn": 0}, "tags": {"t1": true, "t2": false}});
    assert_eq!(
        eval(&policy, "data.policy.claims", input.clone(), None),
        RuleValue::Value(json!({"executables": 3, "hardware": 97}))
    );
    assert_eq!(
        eval(&policy, "data.policy.ids", input.clone(), None),
        RuleValue::Value(json!(["t1"]))
    );
    assert_eq!(
        eval(&policy, "data.policy.merged", input.clone(), None),
        RuleValue::Value(json!({"a": 1, "b": 2}))
    );
    assert_eq!(
        eval(&policy, "data.policy.label", input, None),
        RuleValue::Value(json!("x-7"))
    );
}

#[test]
fn reports_analysis_errors_at_compile_time() {
    // Parses fine, but scheduling finds a variable nothing binds.
    let err = CompiledPolicy::compile("unsafe", "package policy\nallow if { x == y }", &[]);
    assert!(matches!(err, Err(Error::Compile { .. })), "{err:?}");
}

#[test]
fn compiled_policies_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledPolicy>();
    assert_send_sync::<policy::PolicyStore>();
    assert_send_sync::<PolicyInput>();
}

#[test]
fn a_converted_input_gives_what_the_json_gives_and_can_be_reused() {
    let policy = compile(
        r#"package policy
        default allow := false
        allow if {
            data["resource-path"][2] == "c"
            input.submods.cpu0["ear.status"] == "affirming"
        }"#,
    );
    let affirming = ear_input(json!({}));
    let mut contraindicated = affirming.clone();
    contraindicated["submods"]["cpu0"]["ear.status"] = json!("contraindicated");
    let mut other_path = resource_data();
    other_path["resource-path"][2] = json!("d");
    for input in [affirming, contraindicated] {
        let converted = PolicyInput::new(&input);
        for data in [resource_data(), other_path.clone()] {
            // Twice on the same converted input: an evaluation must not alter it.
            for _ in 0..2 {
                assert_eq!(
                    policy
                        .eval_rule_with("data.policy.allow", &converted, Some(&data))
                        .unwrap(),
                    eval(
                        &policy,
                        "data.policy.allow",
                        input.clone(),
                        Some(data.clone())
                    ),
                );
            }
        }
    }
    let converted = PolicyInput::new(&ear_input(json!({})));
    assert_eq!(
        policy
            .eval_rule_with("data.policy.allow", &converted, Some(&resource_data()))
            .unwrap(),
        RuleValue::Value(json!(true))
    );
    assert_eq!(converted.to_json().unwrap(), ear_input(json!({})));
    assert!(format!("{converted:?}").contains("PolicyInput"));
    assert!(!format!("{converted:?}").contains("affirming"));
}

#[test]
fn eval_rules_reports_a_missing_rule_for_that_rule_only() {
    let policy = compile("package policy\ntrust_claims := {\"hardware\": 2}");
    let input = json!({});
    let results = policy
        .eval_rules(
            ["data.policy.trust_claims", "data.policy.extensions"],
            &input,
            None,
        )
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap(),
        &RuleValue::Value(json!({"hardware": 2}))
    );
    match &results[1] {
        Err(Error::RuleNotFound { rule }) => assert_eq!(rule, "data.policy.extensions"),
        other => panic!("unexpected {other:?}"),
    }
    // A missing first rule does not stop the second either.
    let results = policy
        .eval_rules(
            ["data.policy.nope", "data.policy.trust_claims"],
            &input,
            None,
        )
        .unwrap();
    assert!(matches!(&results[0], Err(Error::RuleNotFound { rule }) if rule == "data.policy.nope"));
    assert_eq!(
        results[1].as_ref().unwrap(),
        &RuleValue::Value(json!({"hardware": 2}))
    );
}

#[test]
fn eval_rules_gives_what_eval_rule_gives_for_each_rule() {
    let policy = compile(
        r#"package policy
        r := 1 if { input.a }
        r := 2 if { input.b }
        s := input.a
        u if { input.x == 1 }
        allow if { data.plugin == "resource" }"#,
    );
    let rules = [
        "data.policy.r",
        "data.policy.s",
        "data.policy.u",
        "data.policy.missing",
        "data.policy.allow",
    ];
    for input in [json!({"a": true, "b": true}), json!({"a": true}), json!({})] {
        for data in [None, Some(resource_data())] {
            let together = policy.eval_rules(rules, &input, data.as_ref()).unwrap();
            for (rule, result) in rules.iter().zip(together) {
                let alone = policy.eval_rule(rule, &input, data.as_ref());
                assert_eq!(
                    format!("{result:?}"),
                    format!("{alone:?}"),
                    "{rule} with {input} and {data:?}"
                );
            }
        }
    }
}

#[test]
fn eval_rules_refuses_a_non_object_data_document_and_accepts_no_rules() {
    let policy = compile("package policy\nallow if { true }");
    assert!(matches!(
        policy.eval_rules(["data.policy.allow"], &json!({}), Some(&json!([1]))),
        Err(Error::DataNotObject)
    ));
    assert!(policy.eval_rules([], &json!({}), None).unwrap().is_empty());
}
