//! `reference.ReferenceValueProviderService` on the AS port: the RVPS crate's server
//! ([`rvps::grpc::RvpsService`]) over the AS's reference value provider (spec §2.2: an upstream
//! KBS in `coco_as_grpc` mode sends its reference-value calls to the AS address), with failures
//! in the AS's message style.

use protos::reference::reference_value_provider_service_server::ReferenceValueProviderServiceServer;
use rvps::grpc::{Operation, RvpsService};
use tonic::Status;

use super::request::cause_chain;
use crate::{AttestationService, Error};

/// The `ReferenceValueProviderService` gRPC service over the reference values of `service`.
pub fn reference_value_service(
    service: &AttestationService,
) -> ReferenceValueProviderServiceServer<RvpsService> {
    RvpsService::new(service.reference_value_provider())
        .with_status(aborted)
        .into_server()
}

/// `ABORTED` with a header line and the numbered cause chain, like the AS's other RPCs.
fn aborted(operation: Operation, error: rvps::Error) -> Status {
    let header = match operation {
        Operation::Query => "Query reference value failed",
        Operation::Register => "Register reference value failed",
        _ => "Reference value request failed",
    };
    Status::aborted(format!("{header}: \n{}", cause_chain(&Error::Rvps(error))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_the_header_and_the_numbered_cause_chain() {
        let status = aborted(
            Operation::Query,
            rvps::Error::UnknownType {
                kind: "corim".into(),
            },
        );
        assert_eq!(status.code(), tonic::Code::Aborted);
        assert_eq!(
            status.message(),
            "Query reference value failed: \n0: reference value provider\n1: could not find extractor for corim"
        );
    }
}
