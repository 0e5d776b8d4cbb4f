//! The crate's one error type: failures that stop a benchmark before or instead of measuring.
//! Failures of individual requests are not errors here; they are counted ([`crate::Failure`]).

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// An option is missing or inconsistent.
    #[error("invalid options: {0}")]
    Options(String),
    /// A file named by an option could not be read.
    #[error("cannot read {path}")]
    ReadFile {
        /// The path as given.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The SDK refused a configuration (URL, key, certificate) or an admin request failed.
    #[error("kbs-client")]
    Client(#[from] kbs_client::ClientError),
    /// The HTTP client could not be built.
    #[error("HTTP client")]
    Http(#[from] reqwest::Error),
    /// A guest could not be prepared (the attestation every fetch scenario starts with
    /// failed), so nothing can be measured.
    #[error("preparing guest failed: {0}")]
    Prepare(crate::Failure),
    /// A worker task panicked or was cancelled.
    #[error("worker task failed")]
    Worker(#[from] tokio::task::JoinError),
}
