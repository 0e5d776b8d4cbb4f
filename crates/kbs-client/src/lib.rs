//! Client SDK for a Key Broker Service speaking the Confidential Containers KBS protocol
//! (`/kbs/v0/`, protocol version 0.4.0), and the `kbs-client` command-line tool built on it.
//!
//! - Guest side: the RCAR handshake ([`KbsClient::attest`]) with evidence from an
//!   [`Attester`] (only the software [`SampleAttester`] is included), and resource reads that
//!   decrypt the JWE answer with the client's TEE key ([`KbsClient::get_resource`],
//!   [`KbsClient::get_resource_with_token`]).
//! - Owner side: admin requests authenticated with a bearer JWT, either given or minted per
//!   request from an admin signing key ([`KbsClient::set_resource`],
//!   [`KbsClient::set_resource_policy`], [`KbsClient::set_attestation_policy`],
//!   [`KbsClient::set_sample_reference_value`], ...).
//!
//! Errors keep the server's problem document ([`ClientError::problem`]). The client never logs
//! secrets, tokens or keys; resource bytes are returned in a [`zeroize::Zeroizing`] buffer.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kbs_client::ClientError> {
//! let client = kbs_client::KbsClient::builder("http://127.0.0.1:8080").build()?;
//! let secret = client.get_resource("default/demo/secret").await?;
//! # drop(secret); Ok(()) }
//! ```

mod admin;
mod attester;
mod client;
mod error;
pub mod policies;

pub use admin::{
    ADMIN_TOKEN_LIFETIME_SECS, DEFAULT_ADMIN_ROLE, admin_claims, sample_reference_value_message,
};
pub use attester::{Attester, SampleAttester};
pub use client::{
    KbsClient, KbsClientBuilder, PROTOCOL_VERSION, SESSION_COOKIE, selected_hash_algorithm,
    session_cookie,
};
pub use error::{ClientError, Problem};

/// The JOSE types callers need to configure a client (TEE keys, admin signing keys).
pub use jose;
/// The protocol wire types (`Tee`, `Challenge`, `Attestation`, `Response`, ...).
pub use kbs_types;
