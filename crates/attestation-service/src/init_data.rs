//! Init-data TOML: its digest and the claims policies see (spec §4 step 4, kbs-protocol §3.3).

use std::collections::BTreeMap;

use kbs_types::HashAlgorithm;
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use crate::Error;

/// The `data` entries whose values are TOML documents, exposed to policies as JSON.
const TOML_ENTRIES: [&str; 2] = ["cdh.toml", "aa.toml"];
/// The `data` entry holding the kata agent policy.
const AGENT_POLICY_ENTRY: &str = "policy.rego";
/// The assignment whose object literal carries the agent policy's data.
const AGENT_POLICY_DATA: &str = "policy_data := {";

/// A parsed init-data document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InitDataToml {
    /// `algorithm(text)`, over the document's exact bytes.
    pub(crate) digest: Vec<u8>,
    /// The `data` table after the claim transforms.
    pub(crate) claims: Map<String, Value>,
}

/// The init-data document shape. `version` is required but not checked; unknown top-level keys
/// are ignored, as upstream does.
#[derive(Debug, Deserialize)]
struct Document {
    #[allow(dead_code)]
    version: String,
    algorithm: HashAlgorithm,
    data: BTreeMap<String, String>,
}

impl InitDataToml {
    /// Parses `text` and hashes it with the algorithm it names.
    pub(crate) fn parse(text: &str) -> Result<Self, Error> {
        let document: Document = toml::from_str(text).map_err(Error::InitData)?;
        // The whole text is hashed, `algorithm` line included: this is what the host measured
        // into the TEE, so no re-serialisation may come between.
        let digest = document.algorithm.digest(text.as_bytes());
        Ok(Self {
            digest,
            claims: data_claims(document.data),
        })
    }
}

/// Turns the `data` table into claims: embedded TOML documents become JSON objects, and the agent
/// policy is replaced by its `policy_data` object. Entries that do not parse stay as strings, so
/// odd init data still attests and the policy decides.
fn data_claims(data: BTreeMap<String, String>) -> Map<String, Value> {
    let mut claims = Map::new();
    let mut agent_policy_claims = None;
    for (key, text) in data {
        let value = if TOML_ENTRIES.contains(&key.as_str()) {
            match toml::from_str::<toml::Table>(&text) {
                Ok(table) => toml_table_to_json(table),
                Err(_) => Value::String(text),
            }
        } else if key == AGENT_POLICY_ENTRY {
            match agent_policy_data(&text) {
                Some(policy_data) => {
                    agent_policy_claims = Some(policy_data);
                    continue;
                }
                None => Value::String(text),
            }
        } else {
            Value::String(text)
        };
        claims.insert(key, value);
    }
    if let Some(policy_data) = agent_policy_claims {
        claims.insert("agent_policy_claims".into(), policy_data);
    }
    claims
}

/// The JSON object assigned to `policy_data` at the end of an agent policy.
fn agent_policy_data(policy: &str) -> Option<Value> {
    let start = policy.find(AGENT_POLICY_DATA)? + AGENT_POLICY_DATA.len() - 1;
    // serde_json accepts trailing whitespace and rejects anything else after the value.
    serde_json::from_str(policy.get(start..)?).ok()
}

fn toml_table_to_json(table: toml::Table) -> Value {
    Value::Object(
        table
            .into_iter()
            .map(|(key, value)| (key, toml_to_json(value)))
            .collect(),
    )
}

fn toml_to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::Number(i.into()),
        // NaN and infinities have no JSON form.
        toml::Value::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        // Serde would turn a datetime into a private marker object; policies want the text.
        toml::Value::Datetime(dt) => Value::String(dt.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => toml_table_to_json(table),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CDH_TOML: &str = r#"
socket = 'unix:///run/confidential-containers/cdh.sock'
[kbc]
name = 'cc_kbc'
url = 'http://1.2.3.4:8080'
[image]
extra_root_certificates = ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"]
max_concurrent_layer_downloads_per_image = 3
timeout = 1979-05-27T07:32:00Z
"#;

    const AGENT_POLICY: &str = r#"package agent_policy

import rego.v1

default CreateContainerRequest := false

CreateContainerRequest if {
    input.OCI.Version == policy_data.containers[0].OCI.Version
}

policy_data := {
  "containers": [
    {"OCI": {"Annotations": {"io.kubernetes.cri.image-name": "pause"}, "Process": {"User": {"UID": 65535}, "Args": ["/pause"]}}},
    {"OCI": {"Annotations": {"io.kubernetes.cri.image-name": "bitnami/nginx:latest"}, "Process": {"User": {"UID": 1001}, "Args": ["/opt/bitnami/scripts/nginx/run.sh"]}}}
  ]
}
"#;

    fn document(algorithm: &str, data: &[(&str, &str)]) -> String {
        let mut text = format!("version = \"0.1.0\"\nalgorithm = \"{algorithm}\"\n\n[data]\n");
        for (key, value) in data {
            text.push_str(&format!("\"{key}\" = '''{value}'''\n"));
        }
        text
    }

    #[test]
    fn digest_is_over_the_exact_text_with_the_named_algorithm() {
        for (name, algorithm) in [
            ("sha256", HashAlgorithm::Sha256),
            ("sha384", HashAlgorithm::Sha384),
            ("sha512", HashAlgorithm::Sha512),
            ("sm3", HashAlgorithm::Sm3),
        ] {
            let text = document(name, &[("a", "b")]);
            let parsed = InitDataToml::parse(&text).unwrap();
            assert_eq!(parsed.digest, algorithm.digest(text.as_bytes()), "{name}");
            // Whitespace is part of what was measured.
            let spaced = format!("{text}\n");
            assert_ne!(InitDataToml::parse(&spaced).unwrap().digest, parsed.digest);
        }
    }

    #[test]
    fn sha256_digest_matches_an_independent_vector() {
        // sha256 of the 54-byte document below, computed with coreutils sha256sum.
        let text = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\nk = \"v\"\n";
        assert_eq!(
            hex::encode(InitDataToml::parse(text).unwrap().digest),
            "485bedce55c36689bd103cb88c8e43ddde6d8d4b22e2fd83f3eac84653f42e68"
        );
    }

    #[test]
    fn unknown_algorithm_is_rejected() {
        assert!(matches!(
            InitDataToml::parse(&document("md5", &[])),
            Err(Error::InitData(_))
        ));
        assert!(matches!(
            InitDataToml::parse(&document("SHA256", &[])),
            Err(Error::InitData(_))
        ));
    }

    #[test]
    fn required_keys_and_string_values_are_enforced() {
        for text in [
            "algorithm = \"sha256\"\n[data]\n",
            "version = \"0.1.0\"\n[data]\n",
            "version = \"0.1.0\"\nalgorithm = \"sha256\"\n",
            "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\nk = 1\n",
            "not toml",
        ] {
            assert!(
                matches!(InitDataToml::parse(text), Err(Error::InitData(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn unknown_top_level_keys_are_ignored() {
        let text = "version = \"0.1.0\"\nalgorithm = \"sha384\"\nextra = 1\n[data]\n";
        assert_eq!(InitDataToml::parse(text).unwrap().claims, Map::new());
    }

    #[test]
    fn embedded_toml_documents_become_json() {
        let text = document(
            "sha256",
            &[("cdh.toml", CDH_TOML), ("aa.toml", "[token_configs]\n")],
        );
        let claims = InitDataToml::parse(&text).unwrap().claims;
        assert_eq!(
            claims["cdh.toml"],
            json!({
                "socket": "unix:///run/confidential-containers/cdh.sock",
                "kbc": {"name": "cc_kbc", "url": "http://1.2.3.4:8080"},
                "image": {
                    "extra_root_certificates": [
                        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
                    ],
                    "max_concurrent_layer_downloads_per_image": 3,
                    "timeout": "1979-05-27T07:32:00Z"
                }
            })
        );
        assert_eq!(claims["aa.toml"], json!({"token_configs": {}}));
    }

    #[test]
    fn embedded_toml_that_does_not_parse_stays_a_string() {
        let text = document(
            "sha256",
            &[("cdh.toml", "[[ broken"), ("other.toml", "a = 1")],
        );
        let claims = InitDataToml::parse(&text).unwrap().claims;
        assert_eq!(claims["cdh.toml"], json!("[[ broken"));
        // Only the two known documents are converted.
        assert_eq!(claims["other.toml"], json!("a = 1"));
    }

    #[test]
    fn agent_policy_is_replaced_by_its_policy_data() {
        let text = document("sha256", &[("policy.rego", AGENT_POLICY)]);
        let claims = InitDataToml::parse(&text).unwrap().claims;
        assert!(!claims.contains_key("policy.rego"));
        let containers = &claims["agent_policy_claims"]["containers"];
        assert_eq!(
            containers[1]["OCI"]["Process"]["Args"][0],
            json!("/opt/bitnami/scripts/nginx/run.sh")
        );
        assert_eq!(containers[0]["OCI"]["Process"]["User"]["UID"], json!(65535));
    }

    #[test]
    fn agent_policy_with_trailing_rules_is_kept_verbatim() {
        let policy = format!("{AGENT_POLICY}\nallow if true\n");
        let text = document("sha256", &[("policy.rego", &policy)]);
        let claims = InitDataToml::parse(&text).unwrap().claims;
        assert_eq!(claims["policy.rego"], json!(policy));
        assert!(!claims.contains_key("agent_policy_claims"));
    }

    #[test]
    fn agent_policy_without_policy_data_is_kept_verbatim() {
        let text = document("sha256", &[("policy.rego", "package agent_policy\n")]);
        let claims = InitDataToml::parse(&text).unwrap().claims;
        assert_eq!(claims["policy.rego"], json!("package agent_policy\n"));
    }
}
