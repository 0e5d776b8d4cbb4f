//! `attestation.AttestationService` over [`AttestationService`] (spec §2.4).

use std::sync::Arc;

use protos::attestation::attestation_service_server::AttestationService as AttestationApi;
use protos::attestation::individual_attestation_request::{InitData, RuntimeData};
use protos::attestation::{
    AttestationRequest, AttestationResponse, ChallengeRequest, ChallengeResponse,
    IndividualAttestationRequest, SetPolicyRequest, SetPolicyResponse,
};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status};

use super::request::{
    GRPC_TEES, RequestError, cause_chain, decode_evidence, hash_algorithm, init_data_digest,
    parse_tee, raw_runtime_data, structured_runtime_data,
};
use super::{UNAVAILABLE_COMPONENT_KEY, UNAVAILABLE_RVPS};
use crate::{AttestationService, Error, VerificationRequest};

/// The policy evaluated when a request names none.
const DEFAULT_POLICY_ID: &str = "default";

/// The `AttestationService` gRPC service.
#[derive(Debug, Clone)]
pub struct AttestationGrpc {
    service: Arc<AttestationService>,
}

impl AttestationGrpc {
    /// Serves `service`.
    pub fn new(service: Arc<AttestationService>) -> Self {
        Self { service }
    }
}

#[tonic::async_trait]
impl AttestationApi for AttestationGrpc {
    async fn attestation_evaluate(
        &self,
        request: Request<AttestationRequest>,
    ) -> Result<Response<AttestationResponse>, Status> {
        let AttestationRequest {
            verification_requests,
            mut policy_ids,
        } = request.into_inner();
        if verification_requests.is_empty() {
            return Err(aborted(&RequestError::NoVerificationRequests));
        }
        let requests = verification_requests
            .into_iter()
            .map(verification_request)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| aborted(&err))?;
        if policy_ids.is_empty() {
            policy_ids.push(DEFAULT_POLICY_ID.to_owned());
        }
        let attestation_token = self
            .service
            .evaluate(requests, &policy_ids)
            .await
            .map_err(|err| evaluation_failed(&err))?;
        Ok(Response::new(AttestationResponse { attestation_token }))
    }

    async fn set_attestation_policy(
        &self,
        request: Request<SetPolicyRequest>,
    ) -> Result<Response<SetPolicyResponse>, Status> {
        let SetPolicyRequest { policy_id, policy } = request.into_inner();
        self.service
            .set_policy(&policy_id, &policy)
            .await
            .map_err(|err| {
                Status::aborted(format!(
                    "Set Attestation Policy Failed: \n{}",
                    cause_chain(&err)
                ))
            })?;
        Ok(Response::new(SetPolicyResponse {}))
    }

    async fn get_attestation_challenge(
        &self,
        request: Request<ChallengeRequest>,
    ) -> Result<Response<ChallengeResponse>, Status> {
        let inner = request.into_inner().inner;
        let tee = inner
            .get("tee")
            .ok_or(RequestError::MissingChallengeKey("tee"))
            .and_then(|tee| parse_tee(tee, GRPC_TEES))
            .map_err(|err| aborted(&err))?;
        let tee_params = inner
            .get("tee_params")
            .ok_or_else(|| aborted(&RequestError::MissingChallengeKey("tee_params")))?;
        let attestation_challenge = self
            .service
            .generate_supplemental_challenge(tee, tee_params)
            .await
            .map_err(|err| {
                Status::aborted(format!(
                    "Get Attestation Challenge Failed: \n{}",
                    cause_chain(&err)
                ))
            })?;
        Ok(Response::new(ChallengeResponse {
            attestation_challenge,
        }))
    }
}

/// One wire request as the core's [`VerificationRequest`].
fn verification_request(
    request: IndividualAttestationRequest,
) -> Result<VerificationRequest, RequestError> {
    let tee = parse_tee(&request.tee, GRPC_TEES)?;
    let evidence = decode_evidence(&request.evidence)?;
    let runtime_data = match &request.runtime_data {
        None => None,
        Some(RuntimeData::RawRuntimeData(encoded)) => Some(raw_runtime_data(encoded)?),
        Some(RuntimeData::StructuredRuntimeData(text)) => Some(structured_runtime_data(text)?),
    };
    let init_data = match request.init_data {
        None => None,
        Some(InitData::InitDataDigest(encoded)) => Some(init_data_digest(&encoded)?),
        Some(InitData::InitDataToml(text)) => Some(crate::InitData::Toml(text)),
    };
    Ok(VerificationRequest {
        tee,
        evidence,
        runtime_data,
        runtime_data_hash_algorithm: hash_algorithm(&request.runtime_data_hash_algorithm)?,
        init_data,
    })
}

/// `ABORTED` with the cause chain, as upstream; `UNAVAILABLE` marked with
/// [`UNAVAILABLE_COMPONENT_KEY`] when the reference value provider could not be reached, as
/// nothing was decided about the evidence and a retry may succeed.
fn evaluation_failed(err: &Error) -> Status {
    let chain = cause_chain(err);
    if !matches!(err, Error::ReferenceValueProviderUnavailable { .. }) {
        return Status::aborted(format!("Attestation evaluation failed: \n{chain}"));
    }
    let mut metadata = MetadataMap::new();
    metadata.insert(
        UNAVAILABLE_COMPONENT_KEY,
        MetadataValue::from_static(UNAVAILABLE_RVPS),
    );
    Status::with_metadata(
        Code::Unavailable,
        format!(
            "Attestation evaluation failed: the reference value provider is unavailable: \n{chain}"
        ),
        metadata,
    )
}

fn aborted(err: &RequestError) -> Status {
    Status::aborted(err.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use kbs_types::{HashAlgorithm, Tee};
    use serde_json::json;

    use super::*;

    fn wire(tee: &str) -> IndividualAttestationRequest {
        IndividualAttestationRequest {
            tee: tee.into(),
            // {"svn":"1"}
            evidence: "eyJzdm4iOiIxIn0".into(),
            runtime_data: None,
            init_data: None,
            runtime_data_hash_algorithm: String::new(),
        }
    }

    #[test]
    fn wire_request_maps_to_the_core_request() {
        let request = IndividualAttestationRequest {
            runtime_data: Some(RuntimeData::StructuredRuntimeData(
                r#"{"nonce":"n"}"#.into(),
            )),
            init_data: Some(InitData::InitDataToml("version = \"0.1.0\"".into())),
            runtime_data_hash_algorithm: "sha512".into(),
            ..wire("sample")
        };
        assert_eq!(
            verification_request(request).unwrap(),
            VerificationRequest {
                tee: Tee::Sample,
                evidence: json!({"svn": "1"}),
                runtime_data: Some(crate::RuntimeData::Structured(json!({"nonce": "n"}))),
                runtime_data_hash_algorithm: HashAlgorithm::Sha512,
                init_data: Some(crate::InitData::Toml("version = \"0.1.0\"".into())),
            }
        );
    }

    #[test]
    fn raw_runtime_data_and_init_data_digest_are_decoded_not_hashed() {
        let request = IndividualAttestationRequest {
            runtime_data: Some(RuntimeData::RawRuntimeData("AAEC".into())),
            init_data: Some(InitData::InitDataDigest("q83v".into())),
            ..wire("snp")
        };
        let mapped = verification_request(request).unwrap();
        assert_eq!(
            mapped.runtime_data,
            Some(crate::RuntimeData::Raw(vec![0, 1, 2]))
        );
        assert_eq!(
            mapped.init_data,
            Some(crate::InitData::Digest(vec![0xab, 0xcd, 0xef]))
        );
        assert_eq!(mapped.runtime_data_hash_algorithm, HashAlgorithm::Sha384);
    }

    #[test]
    fn an_unavailable_rvps_is_unavailable_and_marked_other_failures_aborted() {
        let err = Error::ReferenceValueProviderUnavailable {
            policy_id: "default_cpu".into(),
            id: "svn".into(),
            source: Box::new(crate::RvpsUnavailable::Provider(rvps::Error::Unreachable {
                address: "http://127.0.0.1:50003".into(),
                source: "connection refused".into(),
            })),
        };
        let status = evaluation_failed(&err);
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            status.metadata().get(UNAVAILABLE_COMPONENT_KEY).unwrap(),
            UNAVAILABLE_RVPS
        );
        assert!(
            status
                .message()
                .contains("rvps at http://127.0.0.1:50003 is unreachable"),
            "{}",
            status.message()
        );
        assert!(
            status
                .message()
                .starts_with("Attestation evaluation failed: the reference value provider"),
            "{}",
            status.message()
        );
        let status = evaluation_failed(&Error::NoEvidence);
        assert_eq!(status.code(), Code::Aborted);
        assert!(status.metadata().get(UNAVAILABLE_COMPONENT_KEY).is_none());
        assert!(
            status
                .message()
                .starts_with("Attestation evaluation failed: \n0: no evidence"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            verification_request(wire("sampledevice")),
            Err(RequestError::UnsupportedTee("sampledevice".into()))
        );
        let bad_evidence = IndividualAttestationRequest {
            evidence: "eyJzdm4iOiIxIn0=".into(),
            ..wire("sample")
        };
        assert_eq!(
            verification_request(bad_evidence),
            Err(RequestError::Base64 { field: "evidence" })
        );
        let bad_hash = IndividualAttestationRequest {
            runtime_data_hash_algorithm: "sha1".into(),
            ..wire("sample")
        };
        assert_eq!(
            verification_request(bad_hash),
            Err(RequestError::HashAlgorithm("sha1".into()))
        );
    }
}
