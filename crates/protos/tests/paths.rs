//! The generated clients call the RPC paths upstream (and, for the extensions, the
//! openanolis/trustee fork) serve: a renamed service or method in `proto/` would still talk to
//! our own servers, generated from the same file, but not to theirs, so the paths are pinned
//! here by recording what the clients send.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use protos::attestation::attestation_service_client::AttestationServiceClient;
use protos::attestation::{
    AttestationRequest, ChallengeRequest, DeletePolicyRequest, GetPolicyRequest,
    ListPoliciesRequest, SetPolicyRequest,
};
use protos::reference::reference_value_provider_service_client::ReferenceValueProviderServiceClient;
use protos::reference::{
    ReferenceValueDeleteRequest, ReferenceValueQueryRequest, ReferenceValueRegisterRequest,
};
use tonic::body::Body;
use tonic::codegen::http;

/// A channel that records each request path and answers `UNIMPLEMENTED` (trailers only).
fn recording_channel() -> (
    Arc<Mutex<Vec<String>>>,
    impl tonic::client::GrpcService<
        Body,
        ResponseBody = Body,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone,
) {
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&paths);
    let channel = tower::service_fn(move |request: http::Request<Body>| {
        seen.lock().unwrap().push(request.uri().path().to_owned());
        async {
            Ok(http::Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "12")
                .body(Body::empty())
                .unwrap())
        }
    });
    (paths, channel)
}

/// Asserts the call reached the recording channel and got its `UNIMPLEMENTED`.
fn unimplemented<T: std::fmt::Debug>(result: Result<T, tonic::Status>) {
    assert_eq!(result.unwrap_err().code(), tonic::Code::Unimplemented);
}

#[tokio::test]
async fn attestation_service_paths() {
    let (paths, channel) = recording_channel();
    let mut client = AttestationServiceClient::new(channel);
    unimplemented(
        client
            .attestation_evaluate(AttestationRequest::default())
            .await,
    );
    unimplemented(
        client
            .set_attestation_policy(SetPolicyRequest::default())
            .await,
    );
    unimplemented(
        client
            .get_attestation_challenge(ChallengeRequest::default())
            .await,
    );
    unimplemented(
        client
            .get_attestation_policy(GetPolicyRequest::default())
            .await,
    );
    unimplemented(
        client
            .list_attestation_policies(ListPoliciesRequest::default())
            .await,
    );
    unimplemented(
        client
            .delete_attestation_policy(DeletePolicyRequest::default())
            .await,
    );
    assert_eq!(
        *paths.lock().unwrap(),
        [
            "/attestation.AttestationService/AttestationEvaluate",
            "/attestation.AttestationService/SetAttestationPolicy",
            "/attestation.AttestationService/GetAttestationChallenge",
            // the openanolis/trustee fork's extension
            "/attestation.AttestationService/GetAttestationPolicy",
            "/attestation.AttestationService/ListAttestationPolicies",
            "/attestation.AttestationService/DeleteAttestationPolicy",
        ]
    );
}

#[tokio::test]
async fn reference_value_provider_service_paths() {
    let (paths, channel) = recording_channel();
    let mut client = ReferenceValueProviderServiceClient::new(channel);
    unimplemented(
        client
            .query_reference_value(ReferenceValueQueryRequest::default())
            .await,
    );
    unimplemented(
        client
            .register_reference_value(ReferenceValueRegisterRequest::default())
            .await,
    );
    unimplemented(
        client
            .delete_reference_value(ReferenceValueDeleteRequest::default())
            .await,
    );
    assert_eq!(
        *paths.lock().unwrap(),
        [
            "/reference.ReferenceValueProviderService/QueryReferenceValue",
            "/reference.ReferenceValueProviderService/RegisterReferenceValue",
            "/reference.ReferenceValueProviderService/DeleteReferenceValue",
        ]
    );
}
