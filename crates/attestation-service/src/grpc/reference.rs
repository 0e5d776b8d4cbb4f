//! `reference.ReferenceValueProviderService` on the AS port, delegating to the AS's reference
//! value provider (spec §2.2: an upstream KBS in `coco_as_grpc` mode sends its reference-value
//! calls to the AS address).

use std::sync::Arc;

use protos::reference::reference_value_provider_service_server::ReferenceValueProviderService;
use protos::reference::{
    ReferenceValueQueryRequest, ReferenceValueQueryResponse, ReferenceValueRegisterRequest,
    ReferenceValueRegisterResponse,
};
use tonic::{Request, Response, Status};

use super::request::cause_chain;
use crate::AttestationService;

/// The `ReferenceValueProviderService` gRPC service over an [`AttestationService`].
#[derive(Debug, Clone)]
pub struct ReferenceValueGrpc {
    service: Arc<AttestationService>,
}

impl ReferenceValueGrpc {
    /// Serves the reference values of `service`.
    pub fn new(service: Arc<AttestationService>) -> Self {
        Self { service }
    }
}

#[tonic::async_trait]
impl ReferenceValueProviderService for ReferenceValueGrpc {
    async fn query_reference_value(
        &self,
        request: Request<ReferenceValueQueryRequest>,
    ) -> Result<Response<ReferenceValueQueryResponse>, Status> {
        let id = request.into_inner().reference_value_id;
        let value = self
            .service
            .query_reference_value(&id)
            .await
            .map_err(|err| {
                Status::aborted(format!(
                    "Query reference value failed: \n{}",
                    cause_chain(&err)
                ))
            })?;
        // Unknown id: the optional field stays absent, not an empty string.
        Ok(Response::new(ReferenceValueQueryResponse {
            reference_value_results: value.map(|value| value.to_string()),
        }))
    }

    async fn register_reference_value(
        &self,
        request: Request<ReferenceValueRegisterRequest>,
    ) -> Result<Response<ReferenceValueRegisterResponse>, Status> {
        let message = request.into_inner().message;
        let names = self
            .service
            .register_reference_value(&message)
            .await
            .map_err(|err| {
                Status::aborted(format!(
                    "Register reference value failed: \n{}",
                    cause_chain(&err)
                ))
            })?;
        tracing::info!(?names, "reference values registered");
        Ok(Response::new(ReferenceValueRegisterResponse {}))
    }
}
