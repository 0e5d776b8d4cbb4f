//! The crate's one error type.

use std::path::PathBuf;

use crate::StorageType;

/// Everything that can go wrong while configuring or using a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key broke one of the key rules (see [`crate::validate_key`]).
    #[error("invalid key {key:?}: {rule}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// The rule it broke.
        rule: KeyRule,
    },

    /// A namespace name broke one of the namespace rules.
    #[error("invalid namespace {namespace:?}: {rule}")]
    InvalidNamespace {
        /// The rejected namespace.
        namespace: String,
        /// The rule it broke.
        rule: KeyRule,
    },

    /// The configured backend exists upstream but is not compiled into this build.
    #[error("storage type {storage_type} is not available in this build yet")]
    BackendUnavailable {
        /// The requested backend.
        storage_type: StorageType,
    },

    /// A file-system operation failed.
    #[error("i/o error on {path}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A LocalJson namespace file is not a JSON object of strings.
    #[error("malformed local json store {path}")]
    MalformedJsonStore {
        /// The namespace file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// A LocalJson value is not base64url with padding.
    #[error("malformed value for key {key:?} in local json store {path}")]
    MalformedJsonValue {
        /// The namespace file.
        path: PathBuf,
        /// The key whose value does not decode.
        key: String,
    },

    /// A blocking storage task was cancelled or panicked.
    #[error("storage task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// The rule a key or namespace name broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRule {
    /// The name is empty.
    Empty,
    /// The name contains a character outside `[A-Za-z0-9._/-]`.
    ForbiddenCharacter(char),
    /// The name starts with `/`.
    LeadingSlash,
    /// The name ends with `/` (namespaces only; for keys this is an empty segment).
    TrailingSlash,
    /// The name contains an empty segment (`a//b`, `a/`).
    EmptySegment,
    /// The name contains a `.` or `..` segment.
    DotSegment,
}

impl std::fmt::Display for KeyRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str("must not be empty"),
            Self::ForbiddenCharacter(c) => {
                write!(f, "character {c:?} is not allowed (only [A-Za-z0-9._/-])")
            }
            Self::LeadingSlash => f.write_str("must not start with '/'"),
            Self::TrailingSlash => f.write_str("must not end with '/'"),
            Self::EmptySegment => f.write_str("must not contain an empty segment"),
            Self::DotSegment => f.write_str("must not contain a '.' or '..' segment"),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
