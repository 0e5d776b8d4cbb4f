//! `reference.ReferenceValueProviderService` on the AS port: the RVPS crate's server
//! ([`rvps::grpc::RvpsService`]) over the AS's reference value provider (spec §2.2: an upstream
//! KBS in `coco_as_grpc` mode sends its reference-value calls to the AS address), with failures
//! in the AS's message style.
//!
//! A provider failure is `ABORTED`, as upstream, except when the provider is a remote RVPS that
//! could not be reached or did not answer in time ([`RvpsUnavailable::classify`], the same
//! classification the appraisal uses): that is `UNAVAILABLE` marked with the
//! [`UNAVAILABLE_COMPONENT_KEY`] trailer, so a KBS can tell "the AS is up, its RVPS is not"
//! from the AS being unreachable.

use protos::reference::reference_value_provider_service_server::ReferenceValueProviderServiceServer;
use rvps::grpc::{Operation, RvpsService};
use tonic::Status;

use super::request::cause_chain;
use crate::{AttestationService, Error, RvpsUnavailable};

/// The `ReferenceValueProviderService` gRPC service over the reference values of `service`.
pub fn reference_value_service(
    service: &AttestationService,
) -> ReferenceValueProviderServiceServer<RvpsService> {
    RvpsService::new(service.reference_value_provider())
        .with_status(provider_failed)
        .into_server()
}

/// `ABORTED` with a header line and the numbered cause chain, like the AS's other RPCs; a
/// provider that could not be reached is `UNAVAILABLE` marked as the RVPS instead.
fn provider_failed(operation: Operation, error: rvps::Error) -> Status {
    let header = match operation {
        Operation::Query => "Query reference value failed",
        Operation::Register => "Register reference value failed",
        Operation::Delete => "Delete reference value failed",
        _ => "Reference value request failed",
    };
    match RvpsUnavailable::classify(error) {
        Ok(cause) => super::rvps_unavailable(header, &cause_chain(&cause)),
        Err(error) => Status::aborted(format!("{header}: \n{}", cause_chain(&Error::Rvps(error)))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::grpc::{UNAVAILABLE_COMPONENT_KEY, UNAVAILABLE_RVPS};

    #[test]
    fn failures_carry_the_header_and_the_numbered_cause_chain() {
        let status = provider_failed(
            Operation::Query,
            rvps::Error::UnknownType {
                kind: "in-toto".into(),
            },
        );
        assert_eq!(status.code(), tonic::Code::Aborted);
        assert!(status.metadata().get(UNAVAILABLE_COMPONENT_KEY).is_none());
        assert_eq!(
            status.message(),
            "Query reference value failed: \n0: reference value provider\n1: could not find extractor for in-toto"
        );
    }

    #[test]
    fn delete_failures_name_the_delete() {
        let status = provider_failed(
            Operation::Delete,
            rvps::Error::Rejected {
                address: "http://127.0.0.1:50003".into(),
                code: "Internal".into(),
                message: "store failed".into(),
            },
        );
        assert_eq!(status.code(), tonic::Code::Aborted);
        assert!(
            status
                .message()
                .starts_with("Delete reference value failed: \n0: reference value provider\n1: rvps at http://127.0.0.1:50003 refused"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn an_unreachable_or_silent_remote_rvps_is_unavailable_and_marked() {
        let unreachable = rvps::Error::Unreachable {
            address: "http://127.0.0.1:50003".into(),
            source: "connection refused".into(),
        };
        let timed_out = rvps::Error::TimedOut {
            address: "http://127.0.0.1:50003".into(),
            timeout: std::time::Duration::from_secs(10),
        };
        for (operation, error, header, cause) in [
            (
                Operation::Register,
                unreachable,
                "Register reference value failed",
                "rvps at http://127.0.0.1:50003 is unreachable",
            ),
            (
                Operation::Query,
                timed_out,
                "Query reference value failed",
                "rvps at http://127.0.0.1:50003 did not answer within",
            ),
        ] {
            let status = provider_failed(operation, error);
            assert_eq!(status.code(), tonic::Code::Unavailable, "{operation:?}");
            assert_eq!(
                status.metadata().get(UNAVAILABLE_COMPONENT_KEY).unwrap(),
                UNAVAILABLE_RVPS
            );
            let message = status.message();
            assert!(
                message.starts_with(&format!(
                    "{header}: the reference value provider is unavailable: \n0: "
                )),
                "{message}"
            );
            assert!(message.contains(cause), "{message}");
        }
    }
}
