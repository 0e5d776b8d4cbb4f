//! The `reference.ReferenceValueProviderService` gRPC server (AS spec §2.2) over any
//! [`ReferenceValueProvider`], plus `grpc.health.v1.Health`.
//!
//! Query answers the stored value as JSON text, or leaves `reference_value_results` absent for
//! an unknown or expired id. Provider failures are `ABORTED` with a readable message carrying
//! the whole cause chain (AS spec §2.4).
//!
//! `DeleteReferenceValue` is our extension beyond upstream (the openanolis/trustee fork's RPC,
//! same names and field numbers; upstream servers answer `UNIMPLEMENTED`): an empty response
//! once the value is removed, `NOT_FOUND` naming the id when nothing is stored under it,
//! `INVALID_ARGUMENT` naming the storage key rule when the id cannot be a key at all, and
//! `UNIMPLEMENTED` when the provider is itself a remote upstream RVPS.

use std::future::Future;
use std::sync::Arc;

use protos::reference::reference_value_provider_service_server::{
    ReferenceValueProviderService, ReferenceValueProviderServiceServer,
};
use protos::reference::{
    ReferenceValueDeleteRequest, ReferenceValueDeleteResponse, ReferenceValueQueryRequest,
    ReferenceValueQueryResponse, ReferenceValueRegisterRequest, ReferenceValueRegisterResponse,
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
    status: StatusFn,
}

/// The RPC that failed, as told to a [`StatusFn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `QueryReferenceValue`.
    Query,
    /// `RegisterReferenceValue`.
    Register,
    /// `DeleteReferenceValue` (extension beyond upstream).
    Delete,
}

/// Turns a provider failure into the status the client gets. The default is `ABORTED` with
/// `"<operation> reference value failed: <error>: <cause>: ..."`; a front end with its own
/// message style (the AS's `grpc-as`) sets another with [`RvpsService::with_status`].
pub type StatusFn = fn(Operation, Error) -> Status;

impl std::fmt::Debug for RvpsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RvpsService").finish_non_exhaustive()
    }
}

impl RvpsService {
    /// A service answering from `provider`.
    pub fn new(provider: Arc<dyn ReferenceValueProvider>) -> Self {
        Self {
            provider,
            status: aborted_status,
        }
    }

    /// The same service reporting failures with `status` instead of the default.
    pub fn with_status(mut self, status: StatusFn) -> Self {
        self.status = status;
        self
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
            .map_err(|e| (self.status)(Operation::Query, e))?;
        let reference_value_results = match value {
            Some(value) => Some(serde_json::to_string(&value).map_err(|e| {
                (self.status)(
                    Operation::Query,
                    Error::MalformedRecord {
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
            .map_err(|e| (self.status)(Operation::Register, e))?;
        tracing::info!(?names, "reference values registered");
        Ok(Response::new(ReferenceValueRegisterResponse {}))
    }

    async fn delete_reference_value(
        &self,
        request: Request<ReferenceValueDeleteRequest>,
    ) -> Result<Response<ReferenceValueDeleteResponse>, Status> {
        let name = request.into_inner().name;
        // The provider treats an id that cannot be a key as unknown; the client asked to
        // delete something that can never exist, so tell it which rule the id breaks.
        if let Err(storage::Error::InvalidKey { rule, .. }) = storage::validate_key(&name) {
            let error = Error::InvalidName {
                name: shown(&name),
                rule,
            };
            return Err(Status::invalid_argument(format!(
                "delete reference value failed: {error}"
            )));
        }
        match self.provider.delete(&name).await {
            Ok(true) => {
                tracing::info!(%name, "reference value deleted");
                Ok(Response::new(ReferenceValueDeleteResponse {}))
            }
            Ok(false) => Err(Status::not_found(format!(
                "reference value {:?} not found",
                shown(&name)
            ))),
            // A provider that is itself a remote upstream RVPS: pass its answer on.
            Err(error @ Error::UnsupportedRemoteOperation { .. }) => {
                Err(Status::unimplemented(error.to_string()))
            }
            Err(error) => Err((self.status)(Operation::Delete, error)),
        }
    }
}

/// Longest id echoed back in a status message, in characters: the request may carry up to
/// tonic's 4 MiB, and the message travels in a header.
const MAX_SHOWN_ID_CHARS: usize = 256;

/// `id`, cut to [`MAX_SHOWN_ID_CHARS`] with a trailing `...` when longer.
fn shown(id: &str) -> String {
    match id.char_indices().nth(MAX_SHOWN_ID_CHARS) {
        Some((end, _)) => format!("{}...", &id[..end]),
        None => id.to_owned(),
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

/// The default [`StatusFn`].
fn aborted_status(operation: Operation, error: Error) -> Status {
    let action = match operation {
        Operation::Query => "query reference value failed",
        Operation::Register => "register reference value failed",
        Operation::Delete => "delete reference value failed",
    };
    aborted(action, &error)
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

    #[test]
    fn long_ids_are_cut_in_status_messages() {
        assert_eq!(shown("svn"), "svn");
        let exact = "a".repeat(MAX_SHOWN_ID_CHARS);
        assert_eq!(shown(&exact), exact);
        let long = "é".repeat(MAX_SHOWN_ID_CHARS + 1);
        assert_eq!(
            shown(&long),
            format!("{}...", "é".repeat(MAX_SHOWN_ID_CHARS))
        );
    }

    #[tokio::test]
    async fn a_front_end_can_set_its_own_status() {
        fn unavailable(operation: Operation, error: Error) -> Status {
            Status::unavailable(format!("{operation:?}: {error}"))
        }
        let provider = Arc::new(crate::BuiltinRvps::new(Arc::new(
            storage::memory::MemoryStore::new(),
        )));
        let message = r#"{"version":"0.1.0","type":"in-toto","payload":""}"#;
        let register = |service: RvpsService| async move {
            service
                .register_reference_value(Request::new(ReferenceValueRegisterRequest {
                    message: message.into(),
                }))
                .await
                .unwrap_err()
        };
        let default = register(RvpsService::new(provider.clone())).await;
        assert_eq!(default.code(), tonic::Code::Aborted);
        let custom = register(RvpsService::new(provider).with_status(unavailable)).await;
        assert_eq!(custom.code(), tonic::Code::Unavailable);
        assert_eq!(
            custom.message(),
            "Register: could not find extractor for in-toto"
        );
    }
}
