//! The `reference.ReferenceValueProviderService` gRPC server (AS spec §2.2) over any
//! [`ReferenceValueProvider`], plus `grpc.health.v1.Health`.
//!
//! Query answers the stored value as JSON text, or leaves `reference_value_results` absent for
//! an unknown or expired id. Every failure is `ABORTED` with a readable message carrying the
//! whole cause chain (AS spec §2.4).

use std::future::Future;
use std::sync::Arc;

use protos::reference::reference_value_provider_service_server::{
    ReferenceValueProviderService, ReferenceValueProviderServiceServer,
};
use protos::reference::{
    ReferenceValueQueryRequest, ReferenceValueQueryResponse, ReferenceValueRegisterRequest,
    ReferenceValueRegisterResponse,
};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::builtin::ReferenceValueProvider;
use crate::error::Error;

/// The RVPS gRPC service: decodes requests, calls the provider, encodes the answer.
#[derive(Clone)]
pub struct RvpsService {
    provider: Arc<dyn ReferenceValueProvider>,
}

impl std::fmt::Debug for RvpsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RvpsService").finish_non_exhaustive()
    }
}

impl RvpsService {
    /// A service answering from `provider`.
    pub fn new(provider: Arc<dyn ReferenceValueProvider>) -> Self {
        Self { provider }
    }

    /// The tonic server wrapper, ready for `Server::add_service`.
    pub fn into_server(self) -> ReferenceValueProviderServiceServer<Self> {
        ReferenceValueProviderServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl ReferenceValueProviderService for RvpsService {
    async fn query_reference_value(
        &self,
        request: Request<ReferenceValueQueryRequest>,
    ) -> Result<Response<ReferenceValueQueryResponse>, Status> {
        let id = request.into_inner().reference_value_id;
        let value = self
            .provider
            .query(&id)
            .await
            .map_err(|e| aborted("query reference value failed", &e))?;
        let reference_value_results = match value {
            Some(value) => Some(serde_json::to_string(&value).map_err(|e| {
                aborted(
                    "query reference value failed",
                    &Error::MalformedRecord {
                        name: id.clone(),
                        source: e,
                    },
                )
            })?),
            None => None,
        };
        Ok(Response::new(ReferenceValueQueryResponse {
            reference_value_results,
        }))
    }

    async fn register_reference_value(
        &self,
        request: Request<ReferenceValueRegisterRequest>,
    ) -> Result<Response<ReferenceValueRegisterResponse>, Status> {
        let message = request.into_inner().message;
        let names = self
            .provider
            .register(&message)
            .await
            .map_err(|e| aborted("register reference value failed", &e))?;
        tracing::info!(?names, "reference values registered");
        Ok(Response::new(ReferenceValueRegisterResponse {}))
    }
}

/// Serves the RVPS service and `grpc.health.v1.Health` (the RVPS service reported SERVING) on
/// `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    provider: Arc<dyn ReferenceValueProvider>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<ReferenceValueProviderServiceServer<RvpsService>>()
        .await;
    Server::builder()
        .add_service(health)
        .add_service(RvpsService::new(provider).into_server())
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}

/// The one mapping from crate errors to gRPC statuses: `ABORTED` (as upstream) with
/// `"<action>: <error>: <cause>: ..."`, so the client sees which check failed.
fn aborted(action: &str, error: &Error) -> Status {
    let mut message = format!("{action}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::warn!(%message, "rvps request failed");
    Status::aborted(message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn statuses_are_aborted_with_the_cause_chain() {
        let parse = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let status = aborted(
            "register reference value failed",
            &Error::MalformedMessage(parse),
        );
        assert_eq!(status.code(), tonic::Code::Aborted);
        assert!(
            status
                .message()
                .starts_with("register reference value failed: malformed register message: EOF"),
            "{}",
            status.message()
        );

        let status = aborted(
            "register reference value failed",
            &Error::UnknownType {
                kind: "corim".into(),
            },
        );
        assert_eq!(
            status.message(),
            "register reference value failed: could not find extractor for corim"
        );
    }
}
