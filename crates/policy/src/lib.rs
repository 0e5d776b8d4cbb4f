//! Rego policy engine (regorus) with a compile-once cache and a policy store.
//!
//! A [`CompiledPolicy`] is parsed and analysed once; each evaluation runs on a clone of that
//! prepared engine with its own `input` and optional `data`. A [`PolicyStore`] keeps policy
//! text in a [`storage::KeyValueStore`] namespace as `<id>.rego` (the upstream layout) and
//! serves compiled policies from a cache refreshed when a policy is set or deleted.
//!
//! Policies use Rego v1 syntax (rule bodies need `if`), as upstream's regorus does; `import
//! rego.v1` is accepted. This crate does no I/O besides its store and never reads the clock.
//!
//! ```
//! use policy::{CompiledPolicy, RuleValue};
//! use serde_json::json;
//!
//! let policy = CompiledPolicy::compile(
//!     "resource-policy",
//!     r#"package policy
//!        default allow := false
//!        allow if { data.plugin == "resource" }"#,
//!     &[],
//! )?;
//! let data = json!({"plugin": "resource", "resource-path": ["a", "b", "c"], "query": {}});
//! let allowed = policy.eval_rule("data.policy.allow", &json!({}), Some(&data))?;
//! assert_eq!(allowed, RuleValue::Value(json!(true)));
//! # Ok::<(), policy::Error>(())
//! ```

mod compiled;
mod error;
mod store;

pub use compiled::{CompiledPolicy, ExtensionFn, PolicyExtension, PolicyInput, RuleValue};
pub use error::{Error, Result};
pub use store::PolicyStore;
