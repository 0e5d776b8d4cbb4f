//! The crate's one error type.

/// Everything that can go wrong compiling, evaluating or storing a policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Rego text did not parse or analyse; `message` is regorus' diagnostic, which quotes
    /// policy text only.
    #[error("policy {id:?} does not compile: {message}")]
    Compile {
        /// The policy id.
        id: String,
        /// The engine's diagnostic.
        message: String,
    },

    /// The queried rule path does not exist in the policy. Callers such as the AS treat this as
    /// "absent", unlike [`Error::Evaluation`].
    #[error("rule {rule:?} does not exist in the policy")]
    RuleNotFound {
        /// The queried path, e.g. `data.policy.allow`.
        rule: String,
    },

    /// Evaluation failed (conflicting rule outputs, a builtin or extension error, ...).
    #[error("evaluating {rule:?} failed: {message}")]
    Evaluation {
        /// The queried path.
        rule: String,
        /// The engine's diagnostic.
        message: String,
    },

    /// The `data` document passed to an evaluation is not a JSON object.
    #[error("the data document must be a json object")]
    DataNotObject,

    /// An extension could not be registered (duplicate name, bad arity).
    #[error("cannot register extension {name:?}: {message}")]
    Extension {
        /// The extension name.
        name: String,
        /// The engine's diagnostic.
        message: String,
    },

    /// A policy id outside `[A-Za-z0-9._-]+`.
    #[error("invalid policy id {id:?}: only [A-Za-z0-9._-] are allowed")]
    InvalidPolicyId {
        /// The rejected id.
        id: String,
    },

    /// No policy is stored under this id.
    #[error("policy {id:?} not found")]
    PolicyNotFound {
        /// The missing id.
        id: String,
    },

    /// A stored policy is not UTF-8 text.
    #[error("stored policy {id:?} is not utf-8")]
    NotUtf8 {
        /// The policy id.
        id: String,
    },

    /// The underlying store failed.
    #[error("policy storage failed")]
    Storage(#[from] storage::Error),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
