//! The crate's one error type.

/// Everything that can go wrong registering or querying reference values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The register message is not the JSON `{"version", "type", "payload"}` shape.
    #[error("malformed register message")]
    MalformedMessage(#[source] serde_json::Error),

    /// The message version is not the one supported (AS spec §10.1).
    #[error("version unmatched: need {expected}, given {given}")]
    VersionUnmatched {
        /// The only accepted version.
        expected: &'static str,
        /// The version in the message.
        given: String,
    },

    /// No extractor handles this `type`.
    #[error("could not find extractor for {kind}")]
    UnknownType {
        /// The requested type.
        kind: String,
    },

    /// The payload is not standard base64 with padding.
    #[error("payload is not standard base64 with padding")]
    PayloadNotBase64,

    /// The `sample` payload is not a JSON object of name → value.
    #[error("sample payload is not a json object")]
    PayloadNotObject,

    /// A reference value name cannot be a storage key.
    #[error("reference value name {name:?} is not storable: {rule}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// The storage rule it breaks.
        rule: storage::KeyRule,
    },

    /// A stored record does not parse.
    #[error("stored reference value {name:?} is malformed")]
    MalformedRecord {
        /// The record's key.
        name: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// The expiration date cannot be computed or formatted (far outside the supported years).
    #[error("cannot compute the expiration date")]
    Expiration,

    /// The underlying store failed.
    #[error("reference value storage failed")]
    Storage(#[from] storage::Error),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
