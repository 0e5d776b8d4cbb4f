//! Key Broker Service: the RCAR attestation protocol, resource release under a Rego policy,
//! and the admin API, served over HTTP(S) under `/kbs/v0/`, wire-compatible with the
//! Confidential Containers KBS.
//!
//! Handlers are thin; each concern lives in its own module. Nothing here knows about TEE
//! hardware: evidence goes to an attestation backend ([`attestation`]), which returns a token.
//!
//! - [`config`]: the upstream-compatible configuration file; [`defaults`]: the embedded
//!   development configuration used when there is none.
//! - [`app`]: every component, built once from a configuration ([`app::Kbs`]).
//! - [`http`]: the router, the `/kbs/v0/…` dispatcher and its handlers; [`error`]: the one
//!   mapping from failures to problem documents.
//! - [`session`]: RCAR sessions; [`attestation`]: attestation backends; [`token`]: token
//!   verification; [`resource_policy`]: the Rego resource policy; [`plugins`]: `resource` and
//!   friends; [`admin`]: admin authentication and authorization.
//! - [`server`] and [`tls`]: listeners, rustls configuration; [`metrics`]: Prometheus metrics.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//!
//! let config = kbs::config::KbsConfig::from_file("kbs.toml".as_ref())?;
//! let kbs = kbs::app::Kbs::from_config(&config).await?;
//! let router = kbs::http::router(Arc::new(kbs));
//! let listeners = kbs::server::BoundListeners::bind(&config.http_server.sockets, None).await?;
//! listeners.serve(router, kbs::server::shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```

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
