//! Verifier claims → policy input → annotated evidence (spec §4.1).

use std::collections::BTreeMap;

use kbs_types::Tee;
use serde_json::Value;
use verifier::TeeEvidenceClaims;

use crate::Error;

/// The policy input for one verifier entry, which the token also carries as
/// `ear.veraison.annotated-evidence`. Keys sort, as upstream's `BTreeMap` does.
pub(crate) type AnnotatedEvidence = BTreeMap<String, Value>;

/// Lifts the bound `init_data` / `report_data` strings to the top level beside the claims the
/// requester supplied for them, and nests everything else under the TEE's wire name.
///
/// The `*_claims` siblings appear only when the verifier emitted the matching value, so a policy
/// that reads `input.runtime_data_claims` knows the verifier vouched for that data.
pub(crate) fn annotate(
    tee: Tee,
    claims: TeeEvidenceClaims,
    runtime_data_claims: &Value,
    init_data_claims: &Value,
    verbose_token: bool,
) -> Result<AnnotatedEvidence, Error> {
    let mut claims = claims.into_map();
    let mut annotated = AnnotatedEvidence::new();

    if let Some(init_data) = claims.remove("init_data") {
        let Value::String(init_data) = init_data else {
            return Err(Error::ClaimNotString { claim: "init_data" });
        };
        annotated.insert("init_data".into(), Value::String(init_data));
        annotated.insert("init_data_claims".into(), init_data_claims.clone());
    }

    if let Some(report_data) = claims.remove("report_data") {
        let Value::String(report_data) = report_data else {
            return Err(Error::ClaimNotString {
                claim: "report_data",
            });
        };
        let mut runtime_data_claims = runtime_data_claims.clone();
        if !verbose_token {
            if let Value::Object(runtime) = &mut runtime_data_claims {
                runtime.remove("additional-evidence");
            }
        }
        annotated.insert("report_data".into(), Value::String(report_data));
        annotated.insert("runtime_data_claims".into(), runtime_data_claims);
    }

    annotated.insert(tee_wire_name(tee), Value::Object(claims));
    Ok(annotated)
}

/// The serde name of a TEE (`az-snp-vtpm`, `sampledevice`, ...), as policies address it.
pub(crate) fn tee_wire_name(tee: Tee) -> String {
    match serde_json::to_value(tee) {
        Ok(Value::String(name)) => name,
        // Unit variants always serialise to strings; strum's name is the same text.
        _ => tee.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> TeeEvidenceClaims {
        TeeEvidenceClaims::from_value(value).unwrap()
    }

    #[test]
    fn bound_values_move_to_the_top_level_and_the_rest_nests_under_the_tee() {
        let annotated = annotate(
            Tee::Tdx,
            claims(json!({
                "quote": {"body": {"mr_td": "00"}},
                "report_data": "abcd",
                "init_data": "ef01"
            })),
            &json!({"nonce": "n", "additional-evidence": ""}),
            &json!({"cdh.toml": {}}),
            true,
        )
        .unwrap();
        assert_eq!(
            Value::Object(annotated.clone().into_iter().collect()),
            json!({
                "init_data": "ef01",
                "init_data_claims": {"cdh.toml": {}},
                "report_data": "abcd",
                "runtime_data_claims": {"nonce": "n", "additional-evidence": ""},
                "tdx": {"quote": {"body": {"mr_td": "00"}}}
            })
        );
        let keys: Vec<&str> = annotated.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "init_data",
                "init_data_claims",
                "report_data",
                "runtime_data_claims",
                "tdx"
            ]
        );
    }

    #[test]
    fn claims_siblings_appear_only_with_bound_values() {
        let annotated = annotate(
            Tee::Sample,
            claims(json!({"svn": "1"})),
            &json!({"nonce": "n"}),
            &json!({"a": "b"}),
            true,
        )
        .unwrap();
        assert_eq!(annotated.len(), 1);
        assert_eq!(annotated["sample"], json!({"svn": "1"}));
    }

    #[test]
    fn missing_requester_claims_are_null() {
        let annotated = annotate(
            Tee::Sample,
            claims(json!({"report_data": "x", "init_data": "y"})),
            &Value::Null,
            &Value::Null,
            true,
        )
        .unwrap();
        assert_eq!(annotated["runtime_data_claims"], Value::Null);
        assert_eq!(annotated["init_data_claims"], Value::Null);
        assert_eq!(annotated["sample"], json!({}));
    }

    #[test]
    fn terse_tokens_drop_additional_evidence() {
        let runtime = json!({"nonce": "n", "additional-evidence": "{\"big\":1}"});
        let annotated = annotate(
            Tee::Sample,
            claims(json!({"report_data": "x"})),
            &runtime,
            &Value::Null,
            false,
        )
        .unwrap();
        assert_eq!(annotated["runtime_data_claims"], json!({"nonce": "n"}));
    }

    #[test]
    fn non_string_bound_values_are_errors() {
        for (claim, value) in [
            ("report_data", json!({"report_data": 1})),
            ("init_data", json!({"init_data": ["a"]})),
        ] {
            let err =
                annotate(Tee::Sample, claims(value), &Value::Null, &Value::Null, true).unwrap_err();
            assert!(
                matches!(err, Error::ClaimNotString { claim: c } if c == claim),
                "{err}"
            );
        }
    }

    #[test]
    fn tee_names_are_the_wire_names() {
        assert_eq!(tee_wire_name(Tee::AzSnpVtpm), "az-snp-vtpm");
        assert_eq!(tee_wire_name(Tee::NvidiaDpu), "nvidia-dpu");
        assert_eq!(tee_wire_name(Tee::SampleDevice), "sampledevice");
        assert_eq!(tee_wire_name(Tee::HygonDcu), "hygondcu");
    }
}
