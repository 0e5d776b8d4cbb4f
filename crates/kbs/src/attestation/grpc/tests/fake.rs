//! An in-process fake `grpc-as`: what it saw and how it answers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use base64::engine::general_purpose::STANDARD;
use protos::attestation::attestation_service_server::{
    AttestationService, AttestationServiceServer,
};
use protos::attestation::{AttestationResponse, ChallengeResponse, SetPolicyResponse};
use protos::reference::reference_value_provider_service_server::{
    ReferenceValueProviderService, ReferenceValueProviderServiceServer,
};
use protos::reference::{
    ReferenceValueDeleteResponse, ReferenceValueQueryResponse, ReferenceValueRegisterResponse,
};

use super::*;

/// What the fake AS saw and how it answers.
#[derive(Default)]
pub(super) struct FakeState {
    pub(super) evaluations: Mutex<Vec<AttestationRequest>>,
    /// Client address of every evaluation: one per connection.
    pub(super) peers: Mutex<Vec<Option<SocketAddr>>>,
    pub(super) policies: Mutex<Vec<SetPolicyRequest>>,
    pub(super) challenges: Mutex<Vec<ChallengeRequest>>,
    pub(super) values: Mutex<HashMap<String, String>>,
    pub(super) refuse: AtomicBool,
    /// Answer evaluations `UNAVAILABLE` as `grpc-as` does when its RVPS is down (marked).
    pub(super) rvps_down: AtomicBool,
    /// Answer evaluations `UNAVAILABLE` without the marker (as a proxy in front of a down AS).
    pub(super) unmarked_unavailable: AtomicBool,
    /// Answer reference-value calls `UNAVAILABLE` as `grpc-as` does when its RVPS is down.
    pub(super) reference_rvps_down: AtomicBool,
    /// Answer `DeleteReferenceValue` `UNIMPLEMENTED`, as an upstream AS does.
    pub(super) no_delete: AtomicBool,
    pub(super) delay: Mutex<Duration>,
}

/// A fake `grpc-as`: issues ES256 tokens (key in the header `jwk`) carrying the TEE key from
/// the structured runtime data, where an EAR token has it.
#[derive(Clone)]
pub(super) struct FakeAs {
    pub(super) state: Arc<FakeState>,
    signer: Arc<jose::SigningKey>,
}

impl FakeAs {
    pub(super) fn new() -> Self {
        Self {
            state: Arc::default(),
            signer: Arc::new(jose::SigningKey::generate_es256().unwrap()),
        }
    }

    fn token(&self, request: &AttestationRequest) -> Result<String, Status> {
        let first = request
            .verification_requests
            .first()
            .ok_or_else(|| Status::aborted("No verification requests provided."))?;
        let Some(WireRuntimeData::StructuredRuntimeData(rd)) = &first.runtime_data else {
            return Err(Status::aborted("structured runtime data expected"));
        };
        let rd: Value = serde_json::from_str(rd).map_err(|e| Status::aborted(e.to_string()))?;
        let claims = json!({
            "exp": time::OffsetDateTime::now_utc().unix_timestamp() + 300,
            "submods": {"cpu0": {"ear.status": "affirming", "ear.veraison.annotated-evidence": {
                "runtime_data_claims": rd,
            }}},
        });
        let extras = jose::jwt::HeaderExtras {
            kid: None,
            jwk: Some(self.signer.public_jwk().unwrap()),
        };
        Ok(jose::jwt::sign(&self.signer, &extras, &claims).unwrap())
    }

    /// Serves plaintext gRPC on an ephemeral loopback port.
    pub(super) async fn serve(&self) -> Served<tonic::transport::Error> {
        self.serve_on(loopback()).await
    }

    /// Serves plaintext gRPC on `addr`; stopping it closes every connection (GOAWAY), as a
    /// stopped `grpc-as` does.
    pub(super) async fn serve_on(&self, addr: SocketAddr) -> Served<tonic::transport::Error> {
        let fake = self.clone();
        Served::spawn(addr, |listener, shutdown| {
            tonic::transport::Server::builder()
                .add_service(AttestationServiceServer::new(fake.clone()))
                .add_service(ReferenceValueProviderServiceServer::new(fake))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    shutdown,
                )
        })
        .await
    }
}

#[async_trait]
impl AttestationService for FakeAs {
    async fn attestation_evaluate(
        &self,
        request: tonic::Request<AttestationRequest>,
    ) -> Result<tonic::Response<AttestationResponse>, Status> {
        let delay = *self.state.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        self.state.peers.lock().unwrap().push(request.remote_addr());
        let request = request.into_inner();
        self.state.evaluations.lock().unwrap().push(request.clone());
        if self.state.refuse.load(Ordering::SeqCst) {
            return Err(Status::aborted(
                "Attestation evaluation failed: \n0: sample evidence report data mismatch",
            ));
        }
        if self.state.rvps_down.load(Ordering::SeqCst) {
            return Err(rvps_down_status());
        }
        if self.state.unmarked_unavailable.load(Ordering::SeqCst) {
            return Err(Status::unavailable("no healthy upstream"));
        }
        Ok(tonic::Response::new(AttestationResponse {
            attestation_token: self.token(&request)?,
        }))
    }

    async fn set_attestation_policy(
        &self,
        request: tonic::Request<SetPolicyRequest>,
    ) -> Result<tonic::Response<SetPolicyResponse>, Status> {
        let request = request.into_inner();
        if URL_SAFE_NO_PAD.decode(&request.policy).is_err() {
            return Err(Status::aborted(
                "Set Attestation Policy Failed: not base64url",
            ));
        }
        self.state.policies.lock().unwrap().push(request);
        Ok(tonic::Response::new(SetPolicyResponse {}))
    }

    async fn get_attestation_challenge(
        &self,
        request: tonic::Request<ChallengeRequest>,
    ) -> Result<tonic::Response<ChallengeResponse>, Status> {
        self.state
            .challenges
            .lock()
            .unwrap()
            .push(request.into_inner());
        Ok(tonic::Response::new(ChallengeResponse {
            attestation_challenge: r#"{"se":"challenge"}"#.into(),
        }))
    }
}

#[async_trait]
impl ReferenceValueProviderService for FakeAs {
    async fn query_reference_value(
        &self,
        request: tonic::Request<ReferenceValueQueryRequest>,
    ) -> Result<tonic::Response<ReferenceValueQueryResponse>, Status> {
        self.reference_rvps_down("Query")?;
        let id = request.into_inner().reference_value_id;
        Ok(tonic::Response::new(ReferenceValueQueryResponse {
            reference_value_results: self.state.values.lock().unwrap().get(&id).cloned(),
        }))
    }

    async fn register_reference_value(
        &self,
        request: tonic::Request<ReferenceValueRegisterRequest>,
    ) -> Result<tonic::Response<ReferenceValueRegisterResponse>, Status> {
        self.reference_rvps_down("Register")?;
        let message: Value = serde_json::from_str(&request.into_inner().message)
            .map_err(|_| Status::aborted("message is not JSON"))?;
        let payload = STANDARD
            .decode(message["payload"].as_str().unwrap_or_default())
            .map_err(|_| Status::aborted("payload is not base64"))?;
        let values: serde_json::Map<String, Value> =
            serde_json::from_slice(&payload).map_err(|_| Status::aborted("bad payload"))?;
        let mut stored = self.state.values.lock().unwrap();
        for (name, value) in values {
            stored.insert(name, value.to_string());
        }
        Ok(tonic::Response::new(ReferenceValueRegisterResponse {}))
    }

    async fn delete_reference_value(
        &self,
        request: tonic::Request<ReferenceValueDeleteRequest>,
    ) -> Result<tonic::Response<ReferenceValueDeleteResponse>, Status> {
        if self.state.no_delete.load(Ordering::SeqCst) {
            return Err(Status::unimplemented(""));
        }
        self.reference_rvps_down("Delete")?;
        let name = request.into_inner().name;
        match self.state.values.lock().unwrap().remove(&name) {
            Some(_) => Ok(tonic::Response::new(ReferenceValueDeleteResponse {})),
            None => Err(Status::not_found(format!(
                "reference value {name:?} not found"
            ))),
        }
    }
}

impl FakeAs {
    /// What `grpc-as` answers a reference-value call its RVPS did not answer, when so set.
    fn reference_rvps_down(&self, operation: &str) -> Result<(), Status> {
        if !self.state.reference_rvps_down.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut metadata = tonic::metadata::MetadataMap::new();
        metadata.insert(
            UNAVAILABLE_COMPONENT_KEY,
            tonic::metadata::MetadataValue::from_static(UNAVAILABLE_RVPS),
        );
        Err(Status::with_metadata(
            Code::Unavailable,
            format!(
                "{operation} reference value failed: the reference value provider is unavailable: \n0: rvps at http://127.0.0.1:50003 is unreachable"
            ),
            metadata,
        ))
    }
}

/// What `grpc-as` answers when its RVPS cannot be reached.
pub(super) fn rvps_down_status() -> Status {
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert(
        UNAVAILABLE_COMPONENT_KEY,
        tonic::metadata::MetadataValue::from_static(UNAVAILABLE_RVPS),
    );
    Status::with_metadata(
        Code::Unavailable,
        "Attestation evaluation failed: the reference value provider is unavailable: \n0: policy `default_cpu` could not query reference value \"svn\": the reference value provider is unavailable\n1: rvps at http://127.0.0.1:50003 is unreachable",
        metadata,
    )
}
