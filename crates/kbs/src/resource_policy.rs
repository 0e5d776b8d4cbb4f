//! The resource policy (Rego): stored, compiled once, evaluated per attested request.
//!
//! `kbs-protocol.md` §7. The policy lives in storage namespace `kbs` under
//! `resource-policy.rego`; the shipped default is written only when none is stored, so an
//! administrator's policy survives restarts. Each evaluation sees the verified token claims as
//! `input` and the request as `data` (`plugin`, `resource-path`, `query`), and asks for
//! `data.policy.allow`; only boolean `true` allows.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use policy::{PolicyInput, PolicyStore, RuleValue};
use serde::Serialize;
use serde_json::Value;
use storage::KeyValueStore;

/// The storage namespace holding the resource policy.
pub const POLICY_NAMESPACE: &str = "kbs";

/// The id of the resource policy (stored as `resource-policy.rego`).
pub const POLICY_ID: &str = "resource-policy";

/// The rule every resource policy must define.
pub const ALLOW_RULE: &str = "data.policy.allow";

/// The policy written when none is stored. Same decision as upstream's default: any plugin
/// other than `resource` is refused, and so is the sample TEE, whose evidence is produced in
/// software and proves nothing; every other attested TEE may read every resource.
pub const DEFAULT_POLICY: &str = r#"package policy

default allow := false

allow if {
	data.plugin == "resource"
	not input.submods.cpu0["ear.veraison.annotated-evidence"].sample
}
"#;

/// Why a resource-policy upload body was refused (before any Rego is compiled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is not JSON.
    #[error("body is not json")]
    NotJson,
    /// The body has no `policy` member.
    #[error("body has no policy member")]
    MissingPolicy,
    /// The `policy` member is not a string.
    #[error("policy member is not a string")]
    NotString,
    /// The `policy` member is not base64url without padding (standard base64 is refused).
    #[error("policy is not base64url without padding")]
    NotBase64Url,
    /// The decoded policy is not UTF-8 text.
    #[error("decoded policy is not utf-8")]
    NotUtf8,
}

/// Resource-policy failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The upload body is malformed (upstream's `ParsePolicyError`).
    #[error("failed to parse policy: {0}")]
    Parse(ParseError),
    /// The uploaded Rego does not compile; `message` is the compiler's diagnostic.
    #[error("policy does not compile: {message}")]
    Compile {
        /// The Rego compiler's diagnostic.
        message: String,
    },
    /// Evaluating the policy failed (conflicting outputs, builtin error, ...).
    #[error("policy evaluation failed: {message}")]
    Evaluation {
        /// The engine's diagnostic.
        message: String,
    },
    /// Storing, loading or compiling the stored policy failed.
    #[error("policy store failed")]
    Store(#[source] policy::Error),
}

/// The outcome of one evaluation. Only [`Decision::Allow`] releases anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// `data.policy.allow` is `true`.
    Allow,
    /// `data.policy.allow` is `false` or not a boolean.
    Deny,
    /// `data.policy.allow` is undefined or not a rule of the policy: a deny that points at a
    /// broken policy, counted separately (`kbs_policy_errors_total`).
    DenyUndefined,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allow(self) -> bool {
        self == Self::Allow
    }
}

/// The `data` document of an evaluation (§7), with upstream's member names.
#[derive(Serialize)]
struct RequestData<'a> {
    plugin: &'a str,
    #[serde(rename = "resource-path")]
    resource_path: &'a [String],
    query: &'a BTreeMap<String, String>,
}

/// The resource policy over its store.
pub struct ResourcePolicy {
    store: PolicyStore,
}

impl std::fmt::Debug for ResourcePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourcePolicy")
            .field("id", &POLICY_ID)
            .finish_non_exhaustive()
    }
}

impl ResourcePolicy {
    /// Opens the policy store on `store` (the `kbs` namespace) and writes the default policy
    /// if no policy is stored yet.
    pub async fn new(store: Arc<dyn KeyValueStore>) -> Result<Self, Error> {
        let store = PolicyStore::new(store, Vec::new());
        if store
            .seed(POLICY_ID, DEFAULT_POLICY)
            .await
            .map_err(Error::Store)?
        {
            tracing::info!("stored the default resource policy");
        }
        Ok(Self { store })
    }

    /// Replaces the policy from an upload body `{"policy": "<base64url, no padding, Rego>"}`.
    /// The text is stored only if it compiles.
    pub async fn set_from_request_body(&self, body: &[u8]) -> Result<(), Error> {
        let text = decode_request_body(body).map_err(Error::Parse)?;
        self.set_text(&text).await
    }

    /// Replaces the policy with `text`, stored only if it compiles.
    pub async fn set_text(&self, text: &str) -> Result<(), Error> {
        match self.store.set(POLICY_ID, text).await {
            Ok(_) => Ok(()),
            Err(policy::Error::Compile { message, .. }) => Err(Error::Compile { message }),
            Err(other) => Err(Error::Store(other)),
        }
    }

    /// The ids of the stored policies, as upstream's `GET /kbs/v0/resource-policy` returns
    /// them (`["resource-policy"]`).
    pub async fn list_ids(&self) -> Result<Vec<String>, Error> {
        self.store.list().await.map_err(Error::Store)
    }

    /// The stored Rego text of the resource policy.
    pub async fn text(&self) -> Result<String, Error> {
        self.store.get_text(POLICY_ID).await.map_err(Error::Store)
    }

    /// Evaluates `data.policy.allow` with the verified token's claims as `input` and the
    /// request (plugin name, path segments after it, query) as `data`.
    pub async fn evaluate(
        &self,
        claims: &PolicyInput,
        plugin: &str,
        resource_path: &[String],
        query: &BTreeMap<String, String>,
    ) -> Result<Decision, Error> {
        let compiled = self.store.compiled(POLICY_ID).await.map_err(Error::Store)?;
        let data = serde_json::to_value(RequestData {
            plugin,
            resource_path,
            query,
        })
        .map_err(|e| Error::Evaluation {
            message: e.to_string(),
        })?;
        match compiled.eval_rule_with(ALLOW_RULE, claims, Some(&data)) {
            Ok(RuleValue::Value(Value::Bool(true))) => Ok(Decision::Allow),
            Ok(RuleValue::Value(other)) => {
                if !other.is_boolean() {
                    tracing::warn!("resource policy allow rule is not a boolean; denying");
                }
                Ok(Decision::Deny)
            }
            Ok(RuleValue::Undefined) | Err(policy::Error::RuleNotFound { .. }) => {
                tracing::warn!("resource policy does not define data.policy.allow; denying");
                Ok(Decision::DenyUndefined)
            }
            Err(policy::Error::Evaluation { message, .. }) => Err(Error::Evaluation { message }),
            Err(other) => Err(Error::Store(other)),
        }
    }
}

/// Decodes an upload body to Rego text (upstream's `ParsePolicyError` cases).
fn decode_request_body(body: &[u8]) -> Result<String, ParseError> {
    let document: Value = serde_json::from_slice(body).map_err(|_| ParseError::NotJson)?;
    let encoded = document
        .get("policy")
        .ok_or(ParseError::MissingPolicy)?
        .as_str()
        .ok_or(ParseError::NotString)?;
    // Upstream clients send base64url without padding; refusing padding and the standard
    // alphabet keeps policies uploaded here loadable by upstream tooling and vice versa.
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| ParseError::NotBase64Url)?;
    String::from_utf8(bytes).map_err(|_| ParseError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use storage::memory::MemoryStore;

    use super::*;

    fn memory() -> Arc<dyn KeyValueStore> {
        Arc::new(MemoryStore::new())
    }

    fn body(rego: &str) -> Vec<u8> {
        json!({ "policy": URL_SAFE_NO_PAD.encode(rego) })
            .to_string()
            .into_bytes()
    }

    fn path(p: &str) -> Vec<String> {
        p.split('/').map(str::to_owned).collect()
    }

    fn no_query() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    fn ear(tee: &str, status: &str) -> Value {
        json!({
            "submods": {
                "cpu0": {
                    "ear.status": status,
                    "ear.veraison.annotated-evidence": { tee: { "svn": "1" } }
                }
            }
        })
    }

    async fn policy_with(rego: &str) -> ResourcePolicy {
        let policy = ResourcePolicy::new(memory()).await.unwrap();
        policy.set_from_request_body(&body(rego)).await.unwrap();
        policy
    }

    async fn decide(policy: &ResourcePolicy, claims: &Value, plugin: &str, p: &str) -> Decision {
        policy
            .evaluate(&PolicyInput::new(claims), plugin, &path(p), &no_query())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn default_policy_refuses_sample_tee_and_allows_real_tees() {
        let policy = ResourcePolicy::new(memory()).await.unwrap();
        let sample = ear("sample", "affirming");
        let tdx = ear("tdx", "affirming");
        assert_eq!(
            decide(&policy, &sample, "resource", "a/b/c").await,
            Decision::Deny
        );
        assert_eq!(
            decide(&policy, &tdx, "resource", "a/b/c").await,
            Decision::Allow
        );
        // Non-EAR tokens (e.g. Intel Trust Authority) carry no submods at all.
        assert_eq!(
            decide(&policy, &json!({"tdx": {}}), "resource", "a/b/c").await,
            Decision::Allow
        );
        assert_eq!(decide(&policy, &tdx, "sample", "x").await, Decision::Deny);
    }

    #[tokio::test]
    async fn default_policy_is_written_only_when_absent() {
        let store = memory();
        let first = ResourcePolicy::new(Arc::clone(&store)).await.unwrap();
        assert_eq!(first.text().await.unwrap(), DEFAULT_POLICY);
        first
            .set_text("package policy\ndefault allow := true\n")
            .await
            .unwrap();
        let restarted = ResourcePolicy::new(store).await.unwrap();
        assert_eq!(
            restarted.text().await.unwrap(),
            "package policy\ndefault allow := true\n"
        );
    }

    #[tokio::test]
    async fn lists_the_policy_id_like_upstream() {
        let policy = ResourcePolicy::new(memory()).await.unwrap();
        assert_eq!(policy.list_ids().await.unwrap(), vec![POLICY_ID.to_owned()]);
    }

    #[tokio::test]
    async fn allow_all_sample_allows_only_the_resource_plugin() {
        let policy = policy_with(
            "package policy\ndefault allow := false\nallow if data.plugin == \"resource\"\n",
        )
        .await;
        let sample = ear("sample", "contraindicated");
        assert_eq!(
            decide(&policy, &sample, "resource", "a/b/c").await,
            Decision::Allow
        );
        assert_eq!(decide(&policy, &sample, "other", "a").await, Decision::Deny);
    }

    #[tokio::test]
    async fn deny_all_sample_denies() {
        let policy = policy_with("package policy\ndefault allow = false\n").await;
        let tdx = ear("tdx", "affirming");
        assert_eq!(
            decide(&policy, &tdx, "resource", "a/b/c").await,
            Decision::Deny
        );
    }

    #[tokio::test]
    async fn affirming_sample_requires_every_submod_affirming() {
        let policy = policy_with(
            r#"package policy
default allow := false
allow if {
	count(input.submods) > 0
	every _, submod in input.submods {
		submod["ear.status"] == "affirming"
	}
}
"#,
        )
        .await;
        let good = ear("tdx", "affirming");
        assert_eq!(
            decide(&policy, &good, "resource", "a/b/c").await,
            Decision::Allow
        );
        let mut mixed = good.clone();
        mixed["submods"]["gpu0"] = json!({"ear.status": "warning"});
        assert_eq!(
            decide(&policy, &mixed, "resource", "a/b/c").await,
            Decision::Deny
        );
        assert_eq!(
            decide(&policy, &json!({"submods": {}}), "resource", "a/b/c").await,
            Decision::Deny
        );
    }

    #[tokio::test]
    async fn path_and_query_reach_the_policy_as_data() {
        let policy = policy_with(
            r#"package policy
default allow := false
allow if {
	data.plugin == "resource"
	count(data["resource-path"]) == 3
	data["resource-path"][0] == "one"
	data["resource-path"][1] == input.submods.cpu0["ear.veraison.annotated-evidence"].tdx.svn
	data.query.version == "2"
}
"#,
        )
        .await;
        let claims = PolicyInput::new(&ear("tdx", "affirming"));
        let query: BTreeMap<String, String> = [("version".to_owned(), "2".to_owned())].into();
        let allowed = policy
            .evaluate(&claims, "resource", &path("one/1/three"), &query)
            .await
            .unwrap();
        assert_eq!(allowed, Decision::Allow);
        let wrong_path = policy
            .evaluate(&claims, "resource", &path("one/2/three"), &query)
            .await
            .unwrap();
        assert_eq!(wrong_path, Decision::Deny);
        assert_eq!(
            decide(&policy, &ear("tdx", "affirming"), "resource", "one/1/three").await,
            Decision::Deny,
            "the query is part of the decision"
        );
    }

    #[tokio::test]
    async fn undefined_allow_is_a_distinct_deny() {
        let policy = policy_with("package policy\nallow if input.never\n").await;
        assert_eq!(
            decide(&policy, &json!({}), "resource", "a/b/c").await,
            Decision::DenyUndefined
        );
        let other_package = policy_with("package other\ndefault allow := true\n").await;
        assert_eq!(
            decide(&other_package, &json!({}), "resource", "a/b/c").await,
            Decision::DenyUndefined
        );
    }

    #[tokio::test]
    async fn non_boolean_allow_denies() {
        let policy = policy_with("package policy\ndefault allow := \"yes\"\n").await;
        assert_eq!(
            decide(&policy, &json!({}), "resource", "a/b/c").await,
            Decision::Deny
        );
    }

    #[tokio::test]
    async fn evaluation_errors_are_errors_not_denials() {
        let policy =
            policy_with("package policy\nallow := true if input.a\nallow := false if input.b\n")
                .await;
        let result = policy
            .evaluate(
                &PolicyInput::new(&json!({"a": 1, "b": 1})),
                "resource",
                &path("a/b/c"),
                &no_query(),
            )
            .await;
        assert!(
            matches!(result, Err(Error::Evaluation { .. })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn refuses_malformed_upload_bodies() {
        let policy = ResourcePolicy::new(memory()).await.unwrap();
        let rego = "package policy\ndefault allow := true\n";
        let standard = base64::engine::general_purpose::STANDARD.encode(rego);
        assert!(standard.ends_with('='), "the vector must need padding");
        let cases: [(Vec<u8>, ParseError); 6] = [
            (b"not json".to_vec(), ParseError::NotJson),
            (br#"{"other": "x"}"#.to_vec(), ParseError::MissingPolicy),
            (br#"{"policy": 1}"#.to_vec(), ParseError::NotString),
            (
                json!({ "policy": standard }).to_string().into_bytes(),
                ParseError::NotBase64Url,
            ),
            (br#"{"policy": "a+b/"}"#.to_vec(), ParseError::NotBase64Url),
            (
                json!({ "policy": URL_SAFE_NO_PAD.encode([0xff, 0xfe]) })
                    .to_string()
                    .into_bytes(),
                ParseError::NotUtf8,
            ),
        ];
        for (body, expected) in cases {
            let result = policy.set_from_request_body(&body).await;
            assert!(
                matches!(result, Err(Error::Parse(kind)) if kind == expected),
                "{expected:?}: {result:?}"
            );
        }
        assert_eq!(
            policy.text().await.unwrap(),
            DEFAULT_POLICY,
            "nothing stored"
        );
    }

    #[tokio::test]
    async fn rego_that_does_not_compile_is_refused_with_the_diagnostic() {
        let policy = ResourcePolicy::new(memory()).await.unwrap();
        let result = policy
            .set_from_request_body(&body("package policy\nallow if {"))
            .await;
        match result {
            Err(Error::Compile { message }) => assert!(!message.is_empty()),
            other => panic!("expected a compile error, got {other:?}"),
        }
        assert_eq!(
            policy.text().await.unwrap(),
            DEFAULT_POLICY,
            "nothing stored"
        );
    }
}
