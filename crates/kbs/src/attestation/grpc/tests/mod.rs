//! The gRPC backend: request bytes against hand-built encodings (spec field numbers), and the
//! backend and the whole router against an in-process fake AS (down, timeout, refusals,
//! recovery on the same port), over plaintext and TLS.
//!
//! A module a topic: `encoding`, `errors` (settings and error mapping), `fake` (the fake AS),
//! `calls` (the backend against it), `router` (the whole KBS), `reference_values`, `policies`
//! (the policy-management extension) and `tls`.
//! What more than one topic uses is imported here; what every attestation backend's tests use
//! lives in `crate::attestation::tests`.

mod calls;
mod encoding;
mod errors;
mod fake;
mod policies;
mod reference_values;
mod router;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use tokio::net::TcpListener;

use super::*;
use crate::attestation::ErrorKind;
use crate::attestation::tests::{
    Served, assert_problem, assert_reference_value_calls_rvps_unavailable, assert_unavailable,
    attest_ok, attestation, auth_attest, get_secret, kbs_builtin_over_rvps, kbs_from_toml,
    kbs_toml, loopback, memory_rvps, sample_message, send, serve_rvps, store_secret,
};
use crate::error::{AS_UNAVAILABLE_TYPE, RVPS_UNAVAILABLE_TYPE};

// shared between the topics
use calls::{
    assert_register_then_query, assert_serves_whenever_the_as_is_up, backend, dead_addr,
    se_challenge, settings, unavailable, verify_sample,
};
use fake::{FakeAs, rvps_down_status};
use router::{
    as_unavailable, as_without_rvps, grpc_as_router, grpc_as_table, kbs_for, kbs_over_fake,
    kbs_over_grpc_as_over_rvps, serve_grpc_as,
};
