//! `attestation.AttestationService` over [`AttestationService`] (spec §2.4).
//!
//! Besides upstream's three methods it serves the policy-management extension
//! (`GetAttestationPolicy`, `ListAttestationPolicies`, `DeleteAttestationPolicy`, as the
//! openanolis/trustee fork defines them; upstream servers answer `UNIMPLEMENTED`). Those say
//! what went wrong in the status code, so a KBS can report it precisely: an unknown id is
//! `NOT_FOUND`, an id that can never name a policy `INVALID_ARGUMENT`, anything else `ABORTED`
//! as the other methods.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kbs_types::HashAlgorithm;
use protos::attestation::attestation_service_server::AttestationService as AttestationApi;
use protos::attestation::individual_attestation_request::{InitData, RuntimeData};
use protos::attestation::list_policies_response::PolicyInfo;
use protos::attestation::{
    AttestationRequest, AttestationResponse, ChallengeRequest, ChallengeResponse,
    DeletePolicyRequest, DeletePolicyResponse, GetPolicyRequest, GetPolicyResponse,
    IndividualAttestationRequest, ListPoliciesRequest, ListPoliciesResponse, SetPolicyRequest,
    SetPolicyResponse,
};
use tonic::{Request, Response, Status};

use super::request::{
    GRPC_TEES, RequestError, cause_chain, decode_evidence, hash_algorithm, init_data_digest,
    parse_tee, raw_runtime_data, structured_runtime_data,
};
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

    async fn get_attestation_policy(
        &self,
        request: Request<GetPolicyRequest>,
    ) -> Result<Response<GetPolicyResponse>, Status> {
        let GetPolicyRequest { policy_id } = request.into_inner();
        let text = self
            .service
            .get_policy(&policy_id)
            .await
            .map_err(|err| policy_failed("Get Attestation Policy Failed", &err))?;
        // the encoding SetAttestationPolicy takes, so a policy read can be stored back as is
        Ok(Response::new(GetPolicyResponse {
            policy: URL_SAFE_NO_PAD.encode(text),
        }))
    }

    async fn list_attestation_policies(
        &self,
        _request: Request<ListPoliciesRequest>,
    ) -> Result<Response<ListPoliciesResponse>, Status> {
        let policies = list_policies(&self.service)
            .await
            .map_err(|err| policy_failed("List Attestation Policies Failed", &err))?;
        Ok(Response::new(ListPoliciesResponse { policies }))
    }

    async fn delete_attestation_policy(
        &self,
        request: Request<DeletePolicyRequest>,
    ) -> Result<Response<DeletePolicyResponse>, Status> {
        let DeletePolicyRequest { policy_id } = request.into_inner();
        // A shipped default is restored rather than removed (AttestationService::delete_policy).
        let existed = self
            .service
            .delete_policy(&policy_id)
            .await
            .map_err(|err| policy_failed("Delete Attestation Policy Failed", &err))?;
        if !existed {
            return Err(Status::not_found(format!(
                "Delete Attestation Policy Failed: policy {policy_id:?} not found"
            )));
        }
        tracing::info!(%policy_id, "attestation policy deleted over grpc");
        Ok(Response::new(DeletePolicyResponse {}))
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
    super::rvps_unavailable("Attestation evaluation failed", &chain)
}

/// Every stored policy with the base64url (no padding) SHA-384 of its text, sorted by id (the
/// fork's `policy_hash`). A policy deleted between the listing and its read is left out: it is
/// gone.
async fn list_policies(service: &AttestationService) -> Result<Vec<PolicyInfo>, Error> {
    let mut policies = Vec::new();
    for policy_id in service.list_policies().await? {
        let text = match service.get_policy(&policy_id).await {
            Ok(text) => text,
            Err(Error::Policy(policy::Error::PolicyNotFound { .. })) => continue,
            Err(err) => return Err(err),
        };
        let policy_hash = URL_SAFE_NO_PAD.encode(HashAlgorithm::Sha384.digest(text.as_bytes()));
        policies.push(PolicyInfo {
            policy_id,
            policy_hash,
        });
    }
    Ok(policies)
}

/// A failed policy read, listing or delete: `NOT_FOUND` for an unknown id, `INVALID_ARGUMENT`
/// for an id that can never name a policy, otherwise `ABORTED` with the cause chain, as the
/// other methods.
fn policy_failed(header: &str, err: &Error) -> Status {
    match err {
        Error::Policy(cause @ policy::Error::PolicyNotFound { .. }) => {
            Status::not_found(format!("{header}: {cause}"))
        }
        Error::Policy(cause @ policy::Error::InvalidPolicyId { .. }) => {
            Status::invalid_argument(format!("{header}: {cause}"))
        }
        _ => Status::aborted(format!("{header}: \n{}", cause_chain(err))),
    }
}

fn aborted(err: &RequestError) -> Status {
    Status::aborted(err.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use kbs_types::{HashAlgorithm, Tee};
    use serde_json::json;
    use tonic::Code;

    use super::*;
    use crate::grpc::{UNAVAILABLE_COMPONENT_KEY, UNAVAILABLE_RVPS};

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

    /// `package policy\ndefault allow := true\n`, base64url without padding.
    const ALLOW_B64: &str = "cGFja2FnZSBwb2xpY3kKZGVmYXVsdCBhbGxvdyA6PSB0cnVlCg";

    async fn grpc() -> AttestationGrpc {
        let storage = storage::StorageProvider::new(&storage::StorageConfig::default()).unwrap();
        let service = AttestationService::new(crate::AsConfig::default(), &storage)
            .await
            .unwrap();
        AttestationGrpc::new(Arc::new(service))
    }

    async fn set(grpc: &AttestationGrpc, policy_id: &str, policy: &str) {
        grpc.set_attestation_policy(Request::new(SetPolicyRequest {
            policy_id: policy_id.into(),
            policy: policy.into(),
        }))
        .await
        .unwrap();
    }

    async fn get(grpc: &AttestationGrpc, policy_id: &str) -> Result<String, Status> {
        grpc.get_attestation_policy(Request::new(GetPolicyRequest {
            policy_id: policy_id.into(),
        }))
        .await
        .map(|response| response.into_inner().policy)
    }

    async fn delete(grpc: &AttestationGrpc, policy_id: &str) -> Result<(), Status> {
        grpc.delete_attestation_policy(Request::new(DeletePolicyRequest {
            policy_id: policy_id.into(),
        }))
        .await
        .map(|_| ())
    }

    async fn list(grpc: &AttestationGrpc) -> Vec<PolicyInfo> {
        grpc.list_attestation_policies(Request::new(ListPoliciesRequest {}))
            .await
            .unwrap()
            .into_inner()
            .policies
    }

    #[tokio::test]
    async fn a_policy_is_read_listed_with_its_hash_and_deleted() {
        let grpc = grpc().await;
        set(&grpc, "p1", ALLOW_B64).await;
        // returned in the encoding it was set in
        assert_eq!(get(&grpc, "p1").await.unwrap(), ALLOW_B64);

        let listed = list(&grpc).await;
        let ids: Vec<&str> = listed.iter().map(|p| p.policy_id.as_str()).collect();
        assert_eq!(ids, grpc.service.list_policies().await.unwrap());
        assert!(ids.contains(&"default_cpu"), "{ids:?}");
        let p1 = listed.iter().find(|p| p.policy_id == "p1").unwrap();
        // base64url SHA-384 of the Rego text, computed with Python's hashlib
        assert_eq!(
            p1.policy_hash,
            "xagJzKEQjxAWuobPXVXSUjQd-is8dj_5KY4B2X_LhFu6YxFIdINDBIKlqXg7lW4A"
        );

        delete(&grpc, "p1").await.unwrap();
        let status = get(&grpc, "p1").await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(
            status.message(),
            "Get Attestation Policy Failed: policy \"p1\" not found"
        );
        let status = delete(&grpc, "p1").await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{}", status.message());
        assert!(
            status.message().contains("\"p1\" not found"),
            "{}",
            status.message()
        );
        assert!(list(&grpc).await.iter().all(|p| p.policy_id != "p1"));
    }

    #[tokio::test]
    async fn ids_that_can_never_name_a_policy_are_invalid_arguments() {
        let grpc = grpc().await;
        for id in ["", "../default_cpu", "a/b"] {
            let status = get(&grpc, id).await.unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument, "get {id:?}");
            assert!(
                status.message().contains("invalid policy id"),
                "{}",
                status.message()
            );
            let status = delete(&grpc, id).await.unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument, "delete {id:?}");
        }
    }

    #[tokio::test]
    async fn deleting_a_shipped_default_restores_its_shipped_text() {
        let grpc = grpc().await;
        let shipped = get(&grpc, "default_cpu").await.unwrap();
        set(&grpc, "default_cpu", ALLOW_B64).await;
        assert_eq!(get(&grpc, "default_cpu").await.unwrap(), ALLOW_B64);
        delete(&grpc, "default_cpu").await.unwrap();
        assert_eq!(get(&grpc, "default_cpu").await.unwrap(), shipped);
        assert!(
            list(&grpc)
                .await
                .iter()
                .any(|p| p.policy_id == "default_cpu")
        );
    }

    #[test]
    fn other_policy_failures_are_aborted_with_the_cause_chain() {
        let status = policy_failed(
            "Get Attestation Policy Failed",
            &Error::Policy(policy::Error::NotUtf8 { id: "p".into() }),
        );
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(
            status.message(),
            "Get Attestation Policy Failed: \n0: policy engine\n1: stored policy \"p\" is not utf-8"
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
