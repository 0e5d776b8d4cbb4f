//! Wire types, clients and servers of the two gRPC APIs the attestation
//! service and RVPS speak, generated at build time from `proto/` at the
//! workspace root (shared/spec/attestation-service.md §2.1, §2.2).
//!
//! - [`attestation`]: package `attestation`, `AttestationService`
//!   (evaluate, set policy, supplemental challenge; get, list and delete policy are
//!   extensions beyond upstream, see `proto/attestation.proto`).
//! - [`reference`](mod@reference): package `reference`, `ReferenceValueProviderService`
//!   (register and query reference values; delete is an extension beyond upstream, see
//!   `proto/reference.proto`).
//!
//! Each module holds the prost messages plus `*_client` (tonic client over any
//! channel, `connect` for `tonic::transport::Channel`) and `*_server` (the
//! service trait and its tower `Service` adapter). Field numbers are fixed by
//! the upstream protocol; `tests/encoding.rs` pins them with hand-built bytes, and
//! `tests/paths.rs` pins the RPC paths the clients call.

/// Package `attestation`: `AttestationService` and its messages.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod attestation {
    tonic::include_proto!("attestation");
}

/// Package `reference`: `ReferenceValueProviderService` and its messages.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod reference {
    tonic::include_proto!("reference");
}
