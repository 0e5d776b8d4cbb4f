//! Key Broker Service: the RCAR attestation protocol, resource release under a Rego policy,
//! and the admin API, served over HTTP(S) under `/kbs/v0/`.
//!
//! Handlers are thin; each concern lives in its own module. Nothing here knows about TEE
//! hardware: evidence goes to an attestation backend (`attestation`), which returns a token.

pub mod admin;
pub mod app;
pub mod attestation;
pub mod config;
pub mod defaults;
pub mod error;
pub mod http;
pub mod metrics;
pub mod plugins;
pub mod resource_policy;
pub mod server;
pub mod session;
pub mod tls;
pub mod token;
