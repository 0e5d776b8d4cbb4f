//! Collateral: the endorsements a verifier needs besides the evidence (AMD VCEKs, ...), and
//! the sources that provide them.
//!
//! This is the only place in the crate that may touch files or the network; everything a
//! source returns is checked by the verifier that asked for it, so a source is never trusted.

pub mod amd;
pub mod cache;
pub mod fetch;
pub mod hygon;
pub mod hygon_kds;
pub mod intel;

use std::io;
use std::path::PathBuf;

/// Why a collateral source could not provide what was asked for.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CollateralError {
    /// The source has no such item (no file in an offline store, HTTP 404 from a server).
    #[error("{what} not found in {source_name}")]
    NotFound {
        /// What was looked up, e.g. `vcek`.
        what: &'static str,
        /// The source that was asked, e.g. `offline store`.
        source_name: &'static str,
    },

    /// A file of a local store could not be read.
    #[error("cannot read {path}: {kind}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system reported.
        kind: io::ErrorKind,
    },

    /// The item is refused before it is fetched (e.g. an all-zero hardware id).
    #[error("cannot look up {what}: {reason}")]
    BadRequest {
        /// What was to be looked up.
        what: &'static str,
        /// Why it cannot be looked up.
        reason: &'static str,
    },

    /// A configured source is not available in this build.
    #[error("collateral source `{source_name}` is not available yet")]
    SourceUnavailable {
        /// The configured source type.
        source_name: &'static str,
    },

    /// A download from a collateral server failed (status, timeout, size cap, cache).
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),

    /// Intel DCAP collateral could not be provided (the variant names which part and why).
    #[error(transparent)]
    Intel(#[from] intel::IntelCollateralError),

    /// No source is configured, or every configured source failed.
    #[error("no collateral source could provide {what}")]
    Exhausted {
        /// What was looked up.
        what: &'static str,
    },
}
