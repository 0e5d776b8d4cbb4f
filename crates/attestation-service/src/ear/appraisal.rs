//! One submodule of the EAR token, built from a policy's outputs (spec §5.1).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

use super::trust::{TrustClaim, TrustTier, TrustVector};
use crate::Error;
use crate::claims::AnnotatedEvidence;

/// What evaluating one policy rule produced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RuleOutcome {
    /// The policy has no such rule.
    Missing,
    /// The rule exists but no definition applied.
    Undefined,
    /// The rule's value.
    Value(Value),
}

/// Submodule members the token format defines; an extension may not take their place.
const RESERVED_MEMBERS: [&str; 5] = [
    "ear.status",
    "ear.trustworthiness-vector",
    "ear.appraisal-policy-id",
    "ear.veraison.annotated-evidence",
    "ear.veraison.policy-claims",
];

/// The appraisal of one verifier entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Appraisal {
    pub(crate) status: TrustTier,
    pub(crate) trust_vector: TrustVector,
    pub(crate) policy_id: String,
    pub(crate) annotated_evidence: AnnotatedEvidence,
    /// Extension members by name; sorted, as the token lists them.
    pub(crate) extensions: BTreeMap<String, Value>,
}

impl Appraisal {
    /// Builds the appraisal from the `trust_claims` and `extensions` rule outcomes of the policy
    /// named `evaluated_policy` (`<policy id>_<class>`). The token reports `policy_id`, the id the
    /// caller asked for, without the class suffix.
    pub(crate) fn from_policy(
        evaluated_policy: &str,
        policy_id: &str,
        trust_claims: RuleOutcome,
        extensions: RuleOutcome,
        annotated_evidence: AnnotatedEvidence,
    ) -> Result<Self, Error> {
        let trust_vector = trust_vector(evaluated_policy, trust_claims)?;
        let status = trust_vector
            .status()
            .ok_or_else(|| Error::NoTrustClaimSet {
                policy_id: evaluated_policy.to_owned(),
            })?;
        Ok(Self {
            status,
            trust_vector,
            policy_id: policy_id.to_owned(),
            annotated_evidence,
            extensions: extension_members(evaluated_policy, extensions)?,
        })
    }
}

fn trust_vector(policy_id: &str, outcome: RuleOutcome) -> Result<TrustVector, Error> {
    let claims = match outcome {
        // Upstream tolerates a policy without `trust_claims` and reports "no claim" everywhere,
        // which appraises as `none`: never affirming, but not an attestation failure either.
        RuleOutcome::Missing => {
            tracing::warn!(
                policy_id,
                "policy has no trust_claims rule; every claim is 0"
            );
            return Ok(TrustVector::all_no_claim());
        }
        RuleOutcome::Undefined => {
            return Err(Error::TrustClaimsUndefined {
                policy_id: policy_id.to_owned(),
            });
        }
        RuleOutcome::Value(Value::Object(claims)) => claims,
        RuleOutcome::Value(_) => {
            return Err(Error::TrustClaimsNotObject {
                policy_id: policy_id.to_owned(),
            });
        }
    };
    let mut vector = TrustVector::default();
    for (name, value) in claims {
        let Some(claim) = TrustClaim::from_name(&name) else {
            return Err(Error::UnknownTrustClaim {
                policy_id: policy_id.to_owned(),
                claim: name,
            });
        };
        // Upstream wraps larger values into i8; a policy returning 200 surely did not mean -56.
        let value = value
            .as_i64()
            .and_then(|v| i8::try_from(v).ok())
            .ok_or_else(|| Error::TrustClaimValue {
                policy_id: policy_id.to_owned(),
                claim: name.clone(),
            })?;
        vector.set(claim, value);
    }
    Ok(vector)
}

fn extension_members(
    policy_id: &str,
    outcome: RuleOutcome,
) -> Result<BTreeMap<String, Value>, Error> {
    let entries = match outcome {
        // An undefined rule is treated like a missing one: upstream would fail the attestation
        // here, but a conditional `extensions` rule that did not fire means "no extensions".
        RuleOutcome::Missing | RuleOutcome::Undefined => return Ok(BTreeMap::new()),
        RuleOutcome::Value(Value::Array(entries)) => entries,
        RuleOutcome::Value(_) => {
            return Err(Error::ExtensionsNotArray {
                policy_id: policy_id.to_owned(),
            });
        }
    };
    let mut members = BTreeMap::new();
    let mut names = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let malformed = || Error::MalformedExtension {
            policy_id: policy_id.to_owned(),
            index,
        };
        let Value::Object(mut entry) = entry else {
            return Err(malformed());
        };
        let Some(Value::String(name)) = entry.remove("name") else {
            return Err(malformed());
        };
        // The key is the member's CBOR label; it is not in the JSON token but must be unique.
        let key = entry
            .get("key")
            .and_then(Value::as_i64)
            .and_then(|key| i32::try_from(key).ok())
            .ok_or_else(malformed)?;
        let value = entry.remove("value").unwrap_or(Value::Null);
        if RESERVED_MEMBERS.contains(&name.as_str()) {
            return Err(Error::ReservedExtension {
                policy_id: policy_id.to_owned(),
                name,
            });
        }
        if !names.insert(name.clone()) || !keys.insert(key) {
            return Err(Error::DuplicateExtension {
                policy_id: policy_id.to_owned(),
                name,
            });
        }
        // A null extension is registered but not serialised.
        if !value.is_null() {
            members.insert(name, value);
        }
    }
    Ok(members)
}

impl Serialize for Appraisal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Member order of the `ear` 0.5 JSON form, which upstream consumers may compare textually.
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("ear.status", &self.status)?;
        map.serialize_entry("ear.trustworthiness-vector", &self.trust_vector)?;
        map.serialize_entry("ear.appraisal-policy-id", &self.policy_id)?;
        if !self.annotated_evidence.is_empty() {
            let evidence: BTreeMap<&String, SortedJson<'_>> = self
                .annotated_evidence
                .iter()
                .map(|(key, value)| (key, SortedJson(value)))
                .collect();
            map.serialize_entry("ear.veraison.annotated-evidence", &evidence)?;
        }
        for (name, value) in &self.extensions {
            map.serialize_entry(name, &SortedJson(value))?;
        }
        map.end()
    }
}

/// Serialises JSON with object members sorted at every level, so token bytes do not depend on
/// whether `serde_json`'s `preserve_order` feature happens to be enabled in a build.
struct SortedJson<'a>(&'a Value);

impl Serialize for SortedJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(members) => {
                let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
                sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
                let mut map = serializer.serialize_map(Some(sorted.len()))?;
                for (key, value) in sorted {
                    map.serialize_entry(key, &SortedJson(value))?;
                }
                map.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(SortedJson)),
            other => other.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn appraise(trust_claims: RuleOutcome, extensions: RuleOutcome) -> Result<Appraisal, Error> {
        let evidence = AnnotatedEvidence::from([("sample".to_owned(), json!({"svn": "1"}))]);
        Appraisal::from_policy("default_cpu", "default", trust_claims, extensions, evidence)
    }

    #[test]
    fn trust_claims_set_the_vector_and_status() {
        let appraisal = appraise(
            RuleOutcome::Value(json!({"hardware": 2, "executables": 3, "configuration": 2})),
            RuleOutcome::Missing,
        )
        .unwrap();
        assert_eq!(appraisal.status, TrustTier::Affirming);
        assert_eq!(appraisal.trust_vector.get(TrustClaim::Hardware), Some(2));
        assert_eq!(appraisal.trust_vector.get(TrustClaim::FileSystem), None);
        assert_eq!(appraisal.policy_id, "default");
    }

    #[test]
    fn missing_trust_claims_rule_sets_every_claim_to_zero() {
        let appraisal = appraise(RuleOutcome::Missing, RuleOutcome::Missing).unwrap();
        assert_eq!(appraisal.status, TrustTier::None);
        assert_eq!(appraisal.trust_vector, TrustVector::all_no_claim());
    }

    #[test]
    fn undefined_trust_claims_is_an_error() {
        assert!(matches!(
            appraise(RuleOutcome::Undefined, RuleOutcome::Missing),
            Err(Error::TrustClaimsUndefined { .. })
        ));
    }

    #[test]
    fn trust_claims_must_be_an_object() {
        assert!(matches!(
            appraise(RuleOutcome::Value(json!([2])), RuleOutcome::Missing),
            Err(Error::TrustClaimsNotObject { .. })
        ));
    }

    #[test]
    fn unknown_claim_name_is_an_error() {
        let err = appraise(
            RuleOutcome::Value(json!({"file_system": 2})),
            RuleOutcome::Missing,
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::UnknownTrustClaim { claim, .. } if claim == "file_system"),
            "{err}"
        );
    }

    #[test]
    fn claim_values_must_be_integers_in_i8_range() {
        for value in [json!(128), json!(-129), json!(2.5), json!("2"), json!(null)] {
            let result = appraise(
                RuleOutcome::Value(json!({"hardware": value})),
                RuleOutcome::Missing,
            );
            assert!(
                matches!(&result, Err(Error::TrustClaimValue { claim, .. }) if claim == "hardware"),
                "{value}: {result:?}"
            );
        }
        for value in [-128, 127] {
            let appraisal = appraise(
                RuleOutcome::Value(json!({"hardware": value})),
                RuleOutcome::Missing,
            )
            .unwrap();
            assert_eq!(appraisal.status, TrustTier::Contraindicated);
        }
    }

    #[test]
    fn empty_trust_claims_is_an_error() {
        let err = appraise(RuleOutcome::Value(json!({})), RuleOutcome::Missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at least one policy claim must be set (policy `default_cpu`)"
        );
    }

    #[test]
    fn extensions_become_members_and_null_values_are_dropped() {
        let appraisal = appraise(
            RuleOutcome::Value(json!({"hardware": 2})),
            RuleOutcome::Value(json!([
                {"name": "ear.trustee.identifiers", "key": -18, "value": {"validated": {}}},
                {"name": "ear.a", "key": 5, "value": null}
            ])),
        )
        .unwrap();
        assert_eq!(
            appraisal.extensions,
            BTreeMap::from([(
                "ear.trustee.identifiers".to_owned(),
                json!({"validated": {}})
            )])
        );
    }

    #[test]
    fn extensions_must_be_well_formed_and_unique() {
        let cases = [
            json!({"name": "x"}),
            json!([{"name": "x", "value": 1}]),
            json!([{"name": 1, "key": 1, "value": 1}]),
            json!([{"name": "x", "key": 4294967296i64, "value": 1}]),
            json!([{"name": "x", "key": 1, "value": 1}, {"name": "x", "key": 2, "value": 1}]),
            json!([{"name": "x", "key": 1, "value": 1}, {"name": "y", "key": 1, "value": 1}]),
            json!([{"name": "ear.status", "key": 1, "value": 1}]),
        ];
        for extensions in cases {
            assert!(
                appraise(
                    RuleOutcome::Value(json!({"hardware": 2})),
                    RuleOutcome::Value(extensions.clone())
                )
                .is_err(),
                "{extensions}"
            );
        }
    }

    #[test]
    fn undefined_extensions_mean_none() {
        let appraisal = appraise(
            RuleOutcome::Value(json!({"hardware": 2})),
            RuleOutcome::Undefined,
        )
        .unwrap();
        assert!(appraisal.extensions.is_empty());
    }

    #[test]
    fn nested_members_serialise_sorted() {
        let mut object = serde_json::Map::new();
        object.insert("z".into(), json!(1));
        object.insert("a".into(), json!([{"y": 1, "b": 2}]));
        let text = serde_json::to_string(&SortedJson(&Value::Object(object))).unwrap();
        assert_eq!(text, r#"{"a":[{"b":2,"y":1}],"z":1}"#);
    }

    #[test]
    fn appraisal_serialises_members_in_ear_order() {
        let appraisal = appraise(
            RuleOutcome::Value(json!({"hardware": 97, "configuration": 2})),
            RuleOutcome::Value(json!([
                {"name": "ear.z", "key": 1, "value": 1},
                {"name": "ear.trustee.identifiers", "key": -18, "value": {"validated": {}}}
            ])),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&appraisal).unwrap(),
            concat!(
                r#"{"ear.status":"contraindicated","#,
                r#""ear.trustworthiness-vector":{"configuration":2,"hardware":97},"#,
                r#""ear.appraisal-policy-id":"default","#,
                r#""ear.veraison.annotated-evidence":{"sample":{"svn":"1"}},"#,
                r#""ear.trustee.identifiers":{"validated":{}},"ear.z":1}"#
            )
        );
    }
}
