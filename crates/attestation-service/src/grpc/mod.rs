//! The `grpc-as` front end (spec §1, §2): `attestation.AttestationService`,
//! `reference.ReferenceValueProviderService` (delegating to the AS's reference value provider,
//! built in or remote), `grpc.health.v1.Health`, and HTTP/1.1 `GET /.well-known/jwks.json`, all
//! on one port over one [`AttestationService`].
//!
//! Every error is `ABORTED` with a readable message, as upstream; evaluation failures carry the
//! whole cause chain, one `<i>: <cause>` line each. One deviation: an evaluation that failed
//! because the reference value provider could not be reached
//! ([`crate::Error::ReferenceValueProviderUnavailable`]) is `UNAVAILABLE`, marked with the
//! [`UNAVAILABLE_COMPONENT_KEY`] trailer, so a KBS can tell it from the AS being unreachable;
//! so is a reference-value register, query or delete that the AS's remote RVPS did not answer.
//! The policy-management extension beyond upstream (`GetAttestationPolicy`,
//! `ListAttestationPolicies`, `DeleteAttestationPolicy`) answers an unknown id `NOT_FOUND` and
//! an id that can never name a policy `INVALID_ARGUMENT`.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use protos::attestation::attestation_service_server::AttestationServiceServer;
use protos::reference::reference_value_provider_service_server::ReferenceValueProviderServiceServer;
use tonic::service::Routes;
use tonic_health::ServingStatus;

use crate::AttestationService;

mod attestation;
pub mod listen;
mod reference;
pub mod request;

pub use attestation::AttestationGrpc;
pub use reference::reference_value_service;

/// Metadata key (in the trailers of an `UNAVAILABLE` status) naming the component this AS
/// could not reach; an `UNAVAILABLE` without it comes from the transport (or a proxy), not
/// from this AS.
pub const UNAVAILABLE_COMPONENT_KEY: &str = "x-coco-as-unavailable";
/// The [`UNAVAILABLE_COMPONENT_KEY`] value for the reference value provider.
pub const UNAVAILABLE_RVPS: &str = "reference-value-provider";

/// `UNAVAILABLE` marked with [`UNAVAILABLE_COMPONENT_KEY`] = [`UNAVAILABLE_RVPS`]: `header`,
/// then the numbered cause `chain`, as the AS's other failures.
fn rvps_unavailable(header: &str, chain: &str) -> tonic::Status {
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert(
        UNAVAILABLE_COMPONENT_KEY,
        tonic::metadata::MetadataValue::from_static(UNAVAILABLE_RVPS),
    );
    tonic::Status::with_metadata(
        tonic::Code::Unavailable,
        format!("{header}: the reference value provider is unavailable: \n{chain}"),
        metadata,
    )
}

/// Path of the JWK set that verifies this AS's tokens, served on every front end's port.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Everything `grpc-as` serves, as one router: the two gRPC services and health over HTTP/2,
/// and the JWKS over HTTP/1.1 (or HTTP/2).
pub async fn router(service: Arc<AttestationService>) -> Router {
    let (health, health_service) = tonic_health::server::health_reporter();
    for name in [
        <AttestationServiceServer<AttestationGrpc> as tonic::server::NamedService>::NAME,
        <ReferenceValueProviderServiceServer<rvps::grpc::RvpsService> as tonic::server::NamedService>::NAME,
    ] {
        health
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    // The overall status ("") is SERVING from the start.
    Routes::new(AttestationServiceServer::new(AttestationGrpc::new(
        Arc::clone(&service),
    )))
    .add_service(reference_value_service(&service))
    .add_service(health_service)
    .into_axum_router()
    .route(JWKS_PATH, get(move || jwks(Arc::clone(&service))))
}

/// `GET /.well-known/jwks.json`: `{"keys": [<the token header jwk>]}` (spec §5.6).
pub(crate) async fn jwks(service: Arc<AttestationService>) -> axum::Json<jose::JwkSet> {
    axum::Json(service.jwks())
}
