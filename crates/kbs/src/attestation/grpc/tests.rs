//! The gRPC backend: request bytes against hand-built encodings (spec field numbers), and the
//! backend and the whole router against an in-process fake AS (down, timeout, refusals,
//! recovery on the same port).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use prost::Message as _;
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
use serde_json::json;
use tokio::net::TcpListener;

use super::*;
use crate::attestation::ErrorKind;
use crate::attestation::tests::{
    Served, assert_problem, assert_reference_value_calls_rvps_unavailable, assert_unavailable,
    attest_ok, attestation, auth_attest, get_secret, kbs_builtin_over_rvps, kbs_from_toml,
    kbs_toml, loopback, memory_rvps, sample_message, send, serve_rvps, store_secret,
};
use crate::error::{AS_UNAVAILABLE_TYPE, RVPS_UNAVAILABLE_TYPE};

// ---------------------------------------------------------------------------------------------
// Encoding

/// A length-delimited field (wire type 2) with a one-byte tag and a one-byte length.
fn ld(field: u8, payload: &[u8]) -> Vec<u8> {
    assert!(field < 16 && payload.len() < 128);
    let mut out = vec![(field << 3) | 2, payload.len() as u8];
    out.extend_from_slice(payload);
    out
}

#[test]
fn individual_request_encodes_to_the_spec_field_numbers() {
    let request = VerificationRequest {
        tee: Tee::Sample,
        evidence: json!({"svn": "1"}),
        runtime_data: Some(RuntimeData::Structured(json!({"nonce": "n"}))),
        runtime_data_hash_algorithm: HashAlgorithm::Sha384,
        init_data: Some(InitData::Toml("a = 1".into())),
    };
    // in field order: tee = 1, evidence = 3 (base64url, no padding, of `{"svn":"1"}`),
    // structured_runtime_data = 5, init_data_toml = 7, runtime_data_hash_algorithm = 8
    let mut expected = ld(1, b"sample");
    expected.extend(ld(3, b"eyJzdm4iOiIxIn0"));
    expected.extend(ld(5, br#"{"nonce":"n"}"#));
    expected.extend(ld(7, b"a = 1"));
    expected.extend(ld(8, b"sha384"));
    let encoded = individual_request(&request).encode_to_vec();
    assert_eq!(hex::encode(&encoded), hex::encode(&expected));

    // the whole request: verification_requests = 1 (embedded), policy_ids = 2
    let whole = AttestationRequest {
        verification_requests: vec![individual_request(&request)],
        policy_ids: vec!["default".into()],
    };
    let mut expected_whole = ld(1, &expected);
    expected_whole.extend(ld(2, b"default"));
    assert_eq!(
        hex::encode(whole.encode_to_vec()),
        hex::encode(expected_whole)
    );
}

#[test]
fn raw_runtime_data_and_init_data_digest_use_fields_4_and_6() {
    let request = VerificationRequest {
        tee: Tee::Snp,
        evidence: json!("e"),
        runtime_data: Some(RuntimeData::Raw(vec![0xfb, 0xff])),
        runtime_data_hash_algorithm: HashAlgorithm::Sha512,
        init_data: Some(InitData::Digest(vec![0xff])),
    };
    let mut expected = ld(1, b"snp");
    expected.extend(ld(3, b"ImUi"));
    expected.extend(ld(4, b"-_8"));
    expected.extend(ld(6, b"_w"));
    expected.extend(ld(8, b"sha512"));
    assert_eq!(
        hex::encode(individual_request(&request).encode_to_vec()),
        hex::encode(expected)
    );
}

#[test]
fn evaluate_request_is_encoded_as_upstream_kbs_does() {
    let bytes = attestation_request(Tee::Sample, &attestation("", None), "n")
        .unwrap()
        .encode_to_vec();
    let decoded = AttestationRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded.policy_ids, vec!["default"]);
    assert_eq!(decoded.verification_requests.len(), 1);
    let r = &decoded.verification_requests[0];
    assert_eq!(r.tee, "sample");
    assert_eq!(r.runtime_data_hash_algorithm, "sha384");
    assert_eq!(r.init_data, None);
    // evidence: base64url without padding of the compact JSON text
    assert!(!r.evidence.contains(['=', '+', '/']), "{}", r.evidence);
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(&r.evidence).unwrap()).unwrap();
    assert!(!text.contains(' '), "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"svn": "1", "report_data": "AQID"})
    );
    let Some(WireRuntimeData::StructuredRuntimeData(rd)) = &r.runtime_data else {
        panic!("structured_runtime_data expected: {:?}", r.runtime_data);
    };
    assert_eq!(
        serde_json::from_str::<Value>(rd).unwrap(),
        json!({
            "tee-pubkey": {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": "x", "y": "y"},
            "nonce": "n",
            "additional-evidence": "",
        })
    );
}

#[test]
fn se_uses_sha512_and_toml_init_data_travels_as_field_7() {
    let request =
        attestation_request(Tee::Se, &attestation("", Some(("toml", "k = 'v'"))), "n").unwrap();
    let r = &request.verification_requests[0];
    assert_eq!(r.tee, "se");
    assert_eq!(r.runtime_data_hash_algorithm, "sha512");
    assert_eq!(
        r.init_data,
        Some(WireInitData::InitDataToml("k = 'v'".into()))
    );
    // any other init-data format fails the whole attestation before the AS is called
    let err =
        attestation_request(Tee::Se, &attestation("", Some(("json", "{}"))), "n").unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedInitDataFormat { .. }),
        "{err}"
    );
}

#[test]
fn additional_devices_are_further_requests_bound_to_nonce_and_key_only() {
    let additional = r#"{"sampledevice":{"svn":"2"}}"#;
    let request = attestation_request(
        Tee::Sample,
        &attestation(additional, Some(("toml", "x = 1"))),
        "n",
    )
    .unwrap();
    assert_eq!(request.verification_requests.len(), 2);
    let device = &request.verification_requests[1];
    assert_eq!(device.tee, "sampledevice");
    assert_eq!(device.evidence, URL_SAFE_NO_PAD.encode(r#"{"svn":"2"}"#));
    assert_eq!(device.init_data, None);
    assert_eq!(device.runtime_data_hash_algorithm, "sha384");
    let Some(WireRuntimeData::StructuredRuntimeData(rd)) = &device.runtime_data else {
        panic!("structured_runtime_data expected");
    };
    let rd: Value = serde_json::from_str(rd).unwrap();
    assert_eq!(rd["nonce"], "n");
    assert!(rd.get("additional-evidence").is_none(), "{rd}");
    let Some(WireRuntimeData::StructuredRuntimeData(primary)) =
        &request.verification_requests[0].runtime_data
    else {
        panic!("structured_runtime_data expected");
    };
    let primary: Value = serde_json::from_str(primary).unwrap();
    assert_eq!(primary["additional-evidence"], additional);
}

#[test]
fn tee_names_are_the_serde_names() {
    for (tee, name) in [
        (Tee::AzSnpVtpm, "az-snp-vtpm"),
        (Tee::AzTdxVtpm, "az-tdx-vtpm"),
        (Tee::NvidiaDpu, "nvidia-dpu"),
        (Tee::HygonDcu, "hygondcu"),
        (Tee::SampleDevice, "sampledevice"),
        (Tee::Tdx, "tdx"),
    ] {
        assert_eq!(tee_wire_name(tee), name);
    }
}

#[test]
fn se_challenge_request_carries_tee_and_params_text() {
    let bytes =
        se_challenge_request(&json!({"supported-hash-algorithms": ["sha512"]})).encode_to_vec();
    let decoded = ChallengeRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded.inner.len(), 2);
    assert_eq!(decoded.inner["tee"], "se");
    assert_eq!(
        decoded.inner["tee_params"],
        r#"{"supported-hash-algorithms":["sha512"]}"#
    );
    // one map entry as the spec encodes it: field 1, entry = {key = 1, value = 2}
    let single = ChallengeRequest {
        inner: HashMap::from([("tee".to_owned(), "se".to_owned())]),
    };
    let mut entry = ld(1, b"tee");
    entry.extend(ld(2, b"se"));
    assert_eq!(single.encode_to_vec(), ld(1, &entry));
}

#[test]
fn reference_value_messages_use_field_1() {
    let register = ReferenceValueRegisterRequest {
        message: "{}".into(),
    };
    assert_eq!(register.encode_to_vec(), ld(1, b"{}"));
    let query = ReferenceValueQueryRequest {
        reference_value_id: "svn".into(),
    };
    assert_eq!(query.encode_to_vec(), ld(1, b"svn"));
    let delete = ReferenceValueDeleteRequest { name: "svn".into() };
    assert_eq!(delete.encode_to_vec(), ld(1, b"svn"));
    let set = SetPolicyRequest {
        policy_id: "p".into(),
        policy: "cA".into(),
    };
    let mut expected = ld(1, b"p");
    expected.extend(ld(2, b"cA"));
    assert_eq!(set.encode_to_vec(), expected);
}

// ---------------------------------------------------------------------------------------------
// Settings and error mapping

#[test]
fn settings_defaults_scheme_and_limits() {
    let d = GrpcSettings::default();
    assert_eq!(d.as_addr, "http://127.0.0.1:50004");
    assert_eq!(d.pool_size, 100);
    assert_eq!(d.request_timeout, Duration::from_secs(300));
    let bare = GrpcSettings {
        as_addr: "127.0.0.1:50004".into(),
        ..GrpcSettings::default()
    };
    assert_eq!(bare.uri(), "http://127.0.0.1:50004");
    assert!(bare.endpoint().is_ok());
    // TLS (our extension): https:// is accepted, with or without a CA bundle
    for ca_cert in [None, Some(PathBuf::from("/etc/kbs/as-ca.pem"))] {
        let tls = GrpcSettings {
            as_addr: "https://as.example:50004".into(),
            ca_cert,
            ..GrpcSettings::default()
        };
        assert!(tls.is_tls());
        assert!(tls.endpoint().is_ok());
    }
    assert!(!bare.is_tls());
    // a CA bundle with a plaintext address is refused by its key
    let plain_with_ca = GrpcSettings {
        ca_cert: Some(PathBuf::from("/etc/kbs/as-ca.pem")),
        ..GrpcSettings::default()
    };
    let err = plain_with_ca.endpoint().unwrap_err();
    assert!(
        err.to_string()
            .contains("as_ca_cert = \"/etc/kbs/as-ca.pem\"")
            && err.to_string().contains("https://"),
        "{err}"
    );
    for (addr, pool, needle) in [
        ("ftp://as:1", 1, "scheme"),
        ("http://", 1, "as_addr"),
        ("http://as:50004", 0, "pool_size"),
        ("http://as:50004", MAX_POOL_SIZE + 1, "pool_size"),
    ] {
        let settings = GrpcSettings {
            as_addr: addr.into(),
            pool_size: pool,
            ..GrpcSettings::default()
        };
        let err = settings.endpoint().unwrap_err();
        assert!(err.to_string().contains(needle), "{addr}: {err}");
        assert_eq!(err.kind(), ErrorKind::Internal);
    }
}

#[test]
fn remote_statuses_map_by_operation() {
    use RemoteOperation as Op;
    for (op, code, kind) in [
        (Op::AttestationEvaluate, Code::Aborted, ErrorKind::Refused),
        (
            Op::GetAttestationChallenge,
            Code::Aborted,
            ErrorKind::Refused,
        ),
        (
            Op::SetAttestationPolicy,
            Code::Aborted,
            ErrorKind::BadRequest,
        ),
        (
            Op::RegisterReferenceValue,
            Code::Aborted,
            ErrorKind::BadRequest,
        ),
        (Op::QueryReferenceValue, Code::Aborted, ErrorKind::Internal),
        (Op::DeleteReferenceValue, Code::Aborted, ErrorKind::Internal),
        // an upstream AS (or RVPS) without the extension
        (
            Op::DeleteReferenceValue,
            Code::Unimplemented,
            ErrorKind::Unsupported,
        ),
        (
            Op::DeleteReferenceValue,
            Code::NotFound,
            ErrorKind::NotFound,
        ),
        // an id that can never be stored: nothing is stored under it
        (
            Op::DeleteReferenceValue,
            Code::InvalidArgument,
            ErrorKind::NotFound,
        ),
        (
            Op::DeleteReferenceValue,
            Code::Unavailable,
            ErrorKind::Unavailable,
        ),
        (
            Op::QueryReferenceValue,
            Code::Unimplemented,
            ErrorKind::Internal,
        ),
        (
            Op::AttestationEvaluate,
            Code::Unimplemented,
            ErrorKind::Internal,
        ),
        (
            Op::AttestationEvaluate,
            Code::Unavailable,
            ErrorKind::Unavailable,
        ),
        (
            Op::SetAttestationPolicy,
            Code::DeadlineExceeded,
            ErrorKind::Unavailable,
        ),
    ] {
        assert_eq!(remote_error_kind(op, code), kind, "{op} {code:?}");
    }
}

#[test]
fn only_a_marked_unavailable_is_the_rvps() {
    assert!(is_rvps_unavailable(&rvps_down_status()));
    // unmarked, or marked on another code, or naming something else
    assert!(!is_rvps_unavailable(&Status::unavailable("x")));
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert(
        UNAVAILABLE_COMPONENT_KEY,
        tonic::metadata::MetadataValue::from_static(UNAVAILABLE_RVPS),
    );
    assert!(!is_rvps_unavailable(&Status::with_metadata(
        Code::Aborted,
        "x",
        metadata
    )));
    let mut metadata = tonic::metadata::MetadataMap::new();
    metadata.insert(
        UNAVAILABLE_COMPONENT_KEY,
        tonic::metadata::MetadataValue::from_static("storage"),
    );
    assert!(!is_rvps_unavailable(&Status::with_metadata(
        Code::Unavailable,
        "x",
        metadata
    )));
}

#[test]
fn transport_failures_are_told_from_answers_of_the_as() {
    assert!(is_transport_failure(&Status::unavailable("x")));
    assert!(is_transport_failure(&Status::deadline_exceeded("x")));
    assert!(!is_transport_failure(&Status::aborted("x")));
    assert!(!is_transport_failure(&Status::internal("x")));
    // a locally made status carries its cause
    let local = Status::from_error(Box::new(std::io::Error::other("connection reset")));
    assert_eq!(local.code(), Code::Unknown);
    assert!(is_transport_failure(&local));
    assert!(transport_reason(&local, Duration::from_secs(1)).contains("connection reset"));
    let timed_out = Status::from_error(Box::new(tonic::TimeoutExpired(())));
    assert!(is_transport_failure(&timed_out));
    assert!(
        transport_reason(&timed_out, Duration::from_secs(3))
            .starts_with("no connection within 3 s"),
        "{}",
        transport_reason(&timed_out, Duration::from_secs(3))
    );
    assert_eq!(
        truncate(&"é".repeat(5000)).chars().count(),
        MAX_MESSAGE_CHARS + 1
    );
}

// ---------------------------------------------------------------------------------------------
// Against an in-process fake AS

/// What the fake AS saw and how it answers.
#[derive(Default)]
struct FakeState {
    evaluations: Mutex<Vec<AttestationRequest>>,
    /// Client address of every evaluation: one per connection.
    peers: Mutex<Vec<Option<SocketAddr>>>,
    policies: Mutex<Vec<SetPolicyRequest>>,
    challenges: Mutex<Vec<ChallengeRequest>>,
    values: Mutex<HashMap<String, String>>,
    refuse: AtomicBool,
    /// Answer evaluations `UNAVAILABLE` as `grpc-as` does when its RVPS is down (marked).
    rvps_down: AtomicBool,
    /// Answer evaluations `UNAVAILABLE` without the marker (as a proxy in front of a down AS).
    unmarked_unavailable: AtomicBool,
    /// Answer reference-value calls `UNAVAILABLE` as `grpc-as` does when its RVPS is down.
    reference_rvps_down: AtomicBool,
    /// Answer `DeleteReferenceValue` `UNIMPLEMENTED`, as an upstream AS does.
    no_delete: AtomicBool,
    delay: Mutex<Duration>,
}

/// A fake `grpc-as`: issues ES256 tokens (key in the header `jwk`) carrying the TEE key from
/// the structured runtime data, where an EAR token has it.
#[derive(Clone)]
struct FakeAs {
    state: Arc<FakeState>,
    signer: Arc<jose::SigningKey>,
}

impl FakeAs {
    fn new() -> Self {
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
    async fn serve(&self) -> Served<tonic::transport::Error> {
        self.serve_on(loopback()).await
    }

    /// Serves plaintext gRPC on `addr`; stopping it closes every connection (GOAWAY), as a
    /// stopped `grpc-as` does.
    async fn serve_on(&self, addr: SocketAddr) -> Served<tonic::transport::Error> {
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

    /// Serves gRPC over TLS with `testdata/tls/server.crt` on `addr`.
    async fn serve_tls_on(&self, addr: SocketAddr) -> Served<std::io::Error> {
        let router = tonic::service::Routes::new(AttestationServiceServer::new(self.clone()))
            .add_service(ReferenceValueProviderServiceServer::new(self.clone()))
            .into_axum_router();
        serve_tls(addr, router).await
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
fn rvps_down_status() -> Status {
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

/// A loopback address nothing listens on.
async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind(loopback()).await.unwrap();
    listener.local_addr().unwrap()
}

/// Settings for the AS at `as_addr`, checked against `ca_cert` when it is `https://`.
fn settings(as_addr: String, ca_cert: Option<PathBuf>) -> GrpcSettings {
    GrpcSettings {
        as_addr,
        ca_cert,
        pool_size: 2,
        request_timeout: Duration::from_secs(30),
    }
}

/// A backend for the plaintext AS at `addr`.
fn backend(addr: SocketAddr, pool_size: usize, timeout: Duration) -> GrpcBackend {
    GrpcBackend::new(&GrpcSettings {
        pool_size,
        request_timeout: timeout,
        ..settings(format!("http://{addr}"), None)
    })
    .unwrap()
}

/// One evaluation of the sample evidence through `backend`.
async fn verify_sample(backend: &GrpcBackend) -> Result<String, Error> {
    backend
        .verify(Tee::Sample, &attestation("", None), "n")
        .await
}

/// The error of one evaluation through `backend`, which must be a 503-kind unavailability.
async fn unavailable(backend: &GrpcBackend) -> String {
    let err = verify_sample(backend).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    err.to_string()
}

/// Asserts that `backend`, whose AS is down, serves once `start` brings the AS up on its
/// address (every pooled channel connects), is unavailable once it stops after connections were
/// made, and serves again once it is back.
async fn assert_serves_whenever_the_as_is_up<E, F>(backend: &GrpcBackend, start: impl Fn() -> F)
where
    E: std::fmt::Debug + Send + 'static,
    F: std::future::Future<Output = Served<E>>,
{
    let server = start().await;
    for _ in 0..4 {
        verify_sample(backend).await.unwrap();
    }
    server.stop().await;
    unavailable(backend).await;
    let server = start().await;
    verify_sample(backend).await.unwrap();
    server.stop().await;
}

/// Registers reference value `svn` through `backend` and reads it back.
async fn assert_register_then_query(backend: &GrpcBackend) {
    backend
        .register_reference_value(&sample_message("svn", &json!(["1"])))
        .await
        .unwrap();
    assert_eq!(
        backend.query_reference_value("svn").await.unwrap(),
        Some(json!(["1"]))
    );
}

/// Asks `backend` for an SE challenge, whose nonce comes from the AS; returns it and what was
/// offered.
async fn se_challenge(backend: &GrpcBackend) -> (Challenge, Value) {
    let offered = json!({"supported-hash-algorithms": ["sha512"]});
    let c = backend.generate_challenge(Tee::Se, &offered).await.unwrap();
    assert_eq!(c.nonce, r#"{"se":"challenge"}"#);
    (c, offered)
}

#[tokio::test]
async fn every_call_reaches_the_fake_as_as_specified() {
    let fake = FakeAs::new();
    let server = fake.serve().await;
    let backend = backend(server.addr, 3, Duration::from_secs(30));
    let attestation = attestation("", Some(("toml", "a = 1")));

    let token = backend
        .verify(Tee::Sample, &attestation, "n")
        .await
        .unwrap();
    assert_eq!(token.split('.').count(), 3);
    let sent = fake.state.evaluations.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![attestation_request(Tee::Sample, &attestation, "n").unwrap()]
    );

    // the admin body's policy goes through unchanged
    backend
        .set_policy("default_cpu", "cGFja2FnZSBwb2xpY3k")
        .await
        .unwrap();
    let policies = fake.state.policies.lock().unwrap().clone();
    assert_eq!(policies[0].policy_id, "default_cpu");
    assert_eq!(policies[0].policy, "cGFja2FnZSBwb2xpY3k");

    assert_register_then_query(&backend).await;
    // absent field = unknown id
    assert_eq!(backend.query_reference_value("nope").await.unwrap(), None);

    // challenges: local for every TEE but SE, whose nonce comes from the AS
    let c = backend
        .generate_challenge(Tee::Sample, &json!({}))
        .await
        .unwrap();
    assert_eq!(c.nonce.len(), 44);
    assert_eq!(c.extra_params, json!(""));
    assert!(fake.state.challenges.lock().unwrap().is_empty());
    let (c, offered) = se_challenge(&backend).await;
    assert_eq!(c.extra_params, json!({"selected-hash-algorithm": "sha512"}));
    let challenges = fake.state.challenges.lock().unwrap().clone();
    assert_eq!(challenges, vec![se_challenge_request(&offered)]);

    // the AS has no way to read, list or delete policies
    for err in [
        backend.get_policy("default_cpu").await.unwrap_err(),
        backend.list_policies().await.map(drop).unwrap_err(),
        backend.delete_policy("default_cpu").await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    }
    server.stop().await;
}

fn distinct_peers(fake: &FakeAs) -> usize {
    let peers = fake.state.peers.lock().unwrap();
    assert!(peers.iter().all(Option::is_some));
    peers.iter().collect::<std::collections::HashSet<_>>().len()
}

#[tokio::test]
async fn pool_size_is_the_number_of_connections_used_round_robin() {
    let fake = FakeAs::new();
    let server = fake.serve().await;
    let pooled = backend(server.addr, 3, Duration::from_secs(30));
    for _ in 0..9 {
        verify_sample(&pooled).await.unwrap();
    }
    assert_eq!(distinct_peers(&fake), 3);

    // one channel carries concurrent calls side by side on one connection
    fake.state.peers.lock().unwrap().clear();
    *fake.state.delay.lock().unwrap() = Duration::from_millis(400);
    let single = Arc::new(backend(server.addr, 1, Duration::from_secs(30)));
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let single = single.clone();
            tokio::spawn(async move { verify_sample(&single).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // eight 400 ms calls one after the other would take 3.2 s
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(distinct_peers(&fake), 1);
    server.stop().await;
}

#[tokio::test]
async fn refusals_of_the_as_are_not_unavailability() {
    let fake = FakeAs::new();
    fake.state.refuse.store(true, Ordering::SeqCst);
    let server = fake.serve().await;
    let backend = backend(server.addr, 1, Duration::from_secs(30));
    let err = verify_sample(&backend).await.unwrap_err();
    assert!(
        matches!(&err, Error::Remote { code: Code::Aborted, operation: RemoteOperation::AttestationEvaluate, message, .. } if message.contains("report data mismatch")),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Refused);
    let err = backend.set_policy("p", "not base64url!").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadRequest, "{err}");
    assert!(
        err.to_string().contains("Set Attestation Policy Failed"),
        "{err}"
    );
    server.stop().await;
}

#[tokio::test]
async fn as_down_is_unavailable_and_service_resumes_when_it_returns() {
    let addr = dead_addr().await;
    let backend = backend(addr, 2, Duration::from_secs(30));
    for _ in 0..3 {
        let text = unavailable(&backend).await;
        assert!(
            text.contains(&format!("attestation service at http://{addr}")),
            "{text}"
        );
        assert!(text.contains("unavailable"), "{text}");
    }
    let err = backend.query_reference_value("svn").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");

    // the AS comes up on the same port: the same backend (both channels) works again
    let fake = FakeAs::new();
    assert_serves_whenever_the_as_is_up(&backend, || fake.serve_on(addr)).await;
}

#[tokio::test]
async fn an_as_that_does_not_answer_in_time_is_unavailable() {
    let fake = FakeAs::new();
    *fake.state.delay.lock().unwrap() = Duration::from_secs(20);
    let server = fake.serve().await;
    let backend = backend(server.addr, 1, Duration::from_millis(300));
    let started = std::time::Instant::now();
    let text = unavailable(&backend).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(text.contains("unavailable"), "{text}");
    server.abort();
}

#[tokio::test]
async fn a_reachable_as_whose_rvps_is_down_is_rvps_unavailability() {
    let fake = FakeAs::new();
    let server = fake.serve().await;
    let backend = backend(server.addr, 1, Duration::from_secs(30));
    fake.state.rvps_down.store(true, Ordering::SeqCst);
    let err = verify_sample(&backend).await.unwrap_err();
    assert!(
        matches!(&err, Error::RemoteRvpsUnavailable { addr, message }
            if *addr == format!("http://{}", server.addr)
                && message.contains("rvps at http://127.0.0.1:50003 is unreachable")),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.rvps_unavailable());

    // UNAVAILABLE without the marker is the AS (or what stands in front of it) unavailable
    fake.state.rvps_down.store(false, Ordering::SeqCst);
    fake.state
        .unmarked_unavailable
        .store(true, Ordering::SeqCst);
    let err = verify_sample(&backend).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(!err.rvps_unavailable());
    server.stop().await;
}

#[tokio::test]
async fn reference_value_deletes_reach_the_as_and_map_its_answers() {
    let fake = FakeAs::new();
    fake.state
        .values
        .lock()
        .unwrap()
        .insert("svn".into(), r#"["1"]"#.into());
    let server = fake.serve().await;
    let backend = backend(server.addr, 1, Duration::from_secs(30));
    backend.delete_reference_value("svn").await.unwrap();
    assert!(fake.state.values.lock().unwrap().is_empty());
    assert_eq!(backend.query_reference_value("svn").await.unwrap(), None);
    // NOT_FOUND is the builtin AS's "no such reference value"
    let err = backend.delete_reference_value("svn").await.unwrap_err();
    assert!(
        matches!(&err, Error::ReferenceValueNotFound { id } if id == "svn"),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);

    // an upstream AS has no DeleteReferenceValue
    fake.state.no_delete.store(true, Ordering::SeqCst);
    let err = backend.delete_reference_value("svn").await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Remote {
                operation: RemoteOperation::DeleteReferenceValue,
                code: Code::Unimplemented,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    fake.state.no_delete.store(false, Ordering::SeqCst);

    // the AS answers that its RVPS cannot be reached: the RVPS, not the AS, is unavailable
    fake.state.reference_rvps_down.store(true, Ordering::SeqCst);
    let errors = [
        backend
            .register_reference_value(&sample_message("svn", &json!(["1"])))
            .await
            .unwrap_err(),
        backend.query_reference_value("svn").await.unwrap_err(),
        backend.delete_reference_value("svn").await.unwrap_err(),
    ];
    for err in errors {
        assert!(
            matches!(&err, Error::RemoteRvpsUnavailable { message, .. }
                if message.contains("rvps at http://127.0.0.1:50003 is unreachable")),
            "{err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.rvps_unavailable());
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The whole KBS router over the gRPC backend

/// The `[attestation_service]` table of a KBS over the AS at `as_addr`.
fn grpc_as_table(as_addr: &str) -> String {
    format!("type = \"coco_as_grpc\"\nas_addr = \"{as_addr}\"\npool_size = 2")
}

/// A KBS over the plaintext AS at `addr`.
async fn kbs_for(addr: SocketAddr) -> crate::app::AppState {
    kbs_from_toml(&kbs_toml(&grpc_as_table(&format!("http://{addr}")))).await
}

/// `grpc-as` (the real service) with `config`, as a router.
async fn grpc_as_router(config: attestation_service::AsConfig) -> axum::Router {
    let storage = storage::StorageProvider::new(&storage::StorageConfig::default()).unwrap();
    let service = attestation_service::AttestationService::new(config, &storage)
        .await
        .unwrap();
    attestation_service::grpc::router(Arc::new(service)).await
}

/// `grpc-as` in process over the RVPS at `rvps` (`GrpcRemote`); returns its address.
async fn serve_grpc_as(rvps: SocketAddr) -> SocketAddr {
    let router = grpc_as_router(attestation_service::AsConfig {
        rvps_config: attestation_service::RvpsConfig::GrpcRemote {
            address: rvps.to_string(),
        },
        ..attestation_service::AsConfig::default()
    })
    .await;
    let listener = TcpListener::bind(loopback()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    // runs until the test's runtime ends
    tokio::spawn(attestation_service::grpc::listen::serve(
        listener,
        router,
        None,
        std::future::pending(),
    ));
    addr
}

/// The detail of an `AttestationServiceUnavailable` problem for the plaintext AS at `addr`.
fn as_unavailable(addr: SocketAddr) -> String {
    format!("attestation service at http://{addr} is unavailable")
}

/// The detail of a `ReferenceValueProviderUnavailable` problem the plaintext AS at `addr`
/// answered.
fn as_without_rvps(addr: SocketAddr) -> String {
    format!("attestation service at http://{addr} could not reach its reference value provider")
}

#[tokio::test]
async fn kbs_starts_with_the_as_down_answers_503_and_recovers_without_restart() {
    let addr = dead_addr().await;
    let state = kbs_for(addr).await;
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();

    // the resource store is local: it works while the AS is down
    store_secret(&state).await;

    // /auth needs no AS for the sample TEE; /attest answers 503 naming the AS
    let (answer, cookie) = auth_attest(&state, &key).await;
    assert_unavailable(
        "/attest",
        &answer,
        AS_UNAVAILABLE_TYPE,
        &[&as_unavailable(addr)],
    );
    // the failed session released nothing
    let (status, _) = get_secret(&state, &cookie).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // the admin endpoints forwarded to the AS answer the same way
    let allow = URL_SAFE_NO_PAD.encode("package policy\ndefault allow := true\n");
    let policy = json!({"policy_id": "default_cpu", "policy": allow}).to_string();
    let uri = "/kbs/v0/attestation-policy";
    let answer = send(&state, "POST", uri, None, policy.clone()).await;
    assert_eq!(answer.0, StatusCode::SERVICE_UNAVAILABLE, "{}", answer.1);
    let uri = "/kbs/v0/reference-value/svn";
    let answer = send(&state, "GET", uri, None, String::new()).await;
    assert_unavailable(uri, &answer, AS_UNAVAILABLE_TYPE, &[]);

    // the AS starts on its address: the same KBS serves again; the client re-runs /auth
    let fake = FakeAs::new();
    let server = fake.serve_on(addr).await;
    let (_, cookie) = attest_ok(&state, &key).await;
    let (status, jwe) = get_secret(&state, &cookie).await;
    assert_eq!(status, StatusCode::OK, "{jwe}");
    let jwe: kbs_types::Response = serde_json::from_value(jwe).unwrap();
    assert_eq!(&key.decrypt(&jwe).unwrap()[..], b"s3cret");
    let (status, _, _) = send(&state, "POST", "/kbs/v0/attestation-policy", None, policy).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fake.state.policies.lock().unwrap().len(), 1);

    // a refused evaluation is a 401 AttestationError, as with the builtin AS
    fake.state.refuse.store(true, Ordering::SeqCst);
    let (answer, _) = auth_attest(&state, &key).await;
    assert_problem(
        "/attest",
        &answer,
        StatusCode::UNAUTHORIZED,
        "AttestationError",
        &["report data mismatch"],
    );

    // the AS goes away again: 503, and the attested session keeps its secret access
    fake.state.refuse.store(false, Ordering::SeqCst);
    server.stop().await;
    let ((status, _, _), _) = auth_attest(&state, &key).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = get_secret(&state, &cookie).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn policy_reads_are_501_with_the_grpc_backend() {
    let fake = FakeAs::new();
    let server = fake.serve().await;
    let state = kbs_for(server.addr).await;
    for (method, uri) in [
        ("GET", "/kbs/v0/attestation-policy"),
        ("GET", "/kbs/v0/attestation-policy/default_cpu"),
        ("DELETE", "/kbs/v0/attestation-policy/default_cpu"),
    ] {
        let (status, problem, _) = send(&state, method, uri, None, String::new()).await;
        assert_eq!(
            status,
            StatusCode::NOT_IMPLEMENTED,
            "{method} {uri}: {problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains("coco_as_grpc"),
            "{problem}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn attest_through_an_as_whose_rvps_is_down_is_a_503_naming_the_rvps() {
    let fake = FakeAs::new();
    let server = fake.serve().await;
    let state = kbs_for(server.addr).await;
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    fake.state.rvps_down.store(true, Ordering::SeqCst);
    let (answer, _) = auth_attest(&state, &key).await;
    assert_unavailable(
        "/attest",
        &answer,
        RVPS_UNAVAILABLE_TYPE,
        &[
            &as_without_rvps(server.addr),
            "rvps at http://127.0.0.1:50003",
        ],
    );

    fake.state.rvps_down.store(false, Ordering::SeqCst);
    attest_ok(&state, &key).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kbs_maps_what_a_real_grpc_as_answers_when_its_rvps_is_down() {
    // rvps <- grpc-as (in process, GrpcRemote) <- KBS (coco_as_grpc)
    let provider = memory_rvps();
    let rvps = serve_rvps(loopback(), Arc::clone(&provider)).await;
    let rvps_addr = rvps.addr;
    let state = kbs_for(serve_grpc_as(rvps_addr).await).await;
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    attest_ok(&state, &key).await;

    rvps.stop().await;
    let (answer, _) = auth_attest(&state, &key).await;
    let needle = format!("rvps at http://{rvps_addr} is unreachable");
    assert_unavailable("/attest", &answer, RVPS_UNAVAILABLE_TYPE, &[&needle]);

    let rvps = serve_rvps(rvps_addr, provider).await;
    attest_ok(&state, &key).await;
    rvps.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Reference values: delete (our extension), and an AS whose RVPS is down

#[tokio::test]
async fn reference_value_endpoints_map_what_the_as_answers() {
    let fake = FakeAs::new();
    let server = fake.serve().await;
    let state = kbs_for(server.addr).await;
    let register = sample_message("svn", &json!(["1"]));
    let (status, _, _) = send(&state, "POST", "/kbs/v0/reference-value", None, register).await;
    assert_eq!(status, StatusCode::OK);
    let uri = "/kbs/v0/reference-value/svn";
    let (status, body, _) = send(&state, "DELETE", uri, None, String::new()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, Value::Null, "empty body");
    for method in ["GET", "DELETE"] {
        let (status, problem, _) = send(&state, method, uri, None, String::new()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {problem}");
    }

    // an upstream AS: 501 naming the RPC
    fake.state.no_delete.store(true, Ordering::SeqCst);
    let (status, problem, _) = send(&state, "DELETE", uri, None, String::new()).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("refused DeleteReferenceValue (Unimplemented)"),
        "{problem}"
    );
    fake.state.no_delete.store(false, Ordering::SeqCst);

    // an AS whose RVPS is down: 503 naming the RVPS, for every reference-value call
    fake.state.reference_rvps_down.store(true, Ordering::SeqCst);
    assert_reference_value_calls_rvps_unavailable(&state, &as_without_rvps(server.addr)).await;
    server.stop().await;
}

/// The sample TEE's `executables` claim is affirming (3) only while reference value `svn`
/// lists its svn.
const SVN_POLICY: &str = r#"package policy
import rego.v1

default executables := 33

executables := 3 if {
	input.sample
	input.sample.svn in query_reference_value("svn")
}

trust_claims := {"executables": executables}
"#;

/// The `executables` claim of the `cpu0` appraisal in the EAR token of an `/attest` body.
fn executables(body: &Value) -> Value {
    let token = body["token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["submods"]["cpu0"]["ear.trustworthiness-vector"]["executables"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_grpc_as_deletes_through_its_rvps_and_names_the_rvps_while_it_is_down() {
    // rvps <- grpc-as (in process, GrpcRemote) <- KBS (coco_as_grpc)
    let provider = memory_rvps();
    let rvps = serve_rvps(loopback(), Arc::clone(&provider)).await;
    let rvps_addr = rvps.addr;
    let state = kbs_for(serve_grpc_as(rvps_addr).await).await;
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    let policy = json!({"policy_id": "default_cpu", "policy": URL_SAFE_NO_PAD.encode(SVN_POLICY)});
    let register = sample_message("svn", &json!(["1"]));
    for (uri, body) in [
        ("/kbs/v0/attestation-policy", policy.to_string()),
        ("/kbs/v0/reference-value", register.clone()),
    ] {
        let (status, problem, _) = send(&state, "POST", uri, None, body).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {problem}");
    }
    let (body, _) = attest_ok(&state, &key).await;
    assert_eq!(executables(&body), json!(3));

    // deleted through the KBS, the AS and its RVPS: gone, and the appraisal no longer sees it
    let uri = "/kbs/v0/reference-value/svn";
    let (status, problem, _) = send(&state, "DELETE", uri, None, String::new()).await;
    assert_eq!(status, StatusCode::OK, "{problem}");
    assert_eq!(provider.query("svn").await.unwrap(), None);
    for method in ["GET", "DELETE"] {
        let (status, problem, _) = send(&state, method, uri, None, String::new()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}: {problem}");
    }
    let (body, _) = attest_ok(&state, &key).await;
    assert_eq!(executables(&body), json!(33));

    // the RVPS goes away: every reference-value call is a 503 naming it, not a 400/500
    rvps.stop().await;
    let needle = format!("rvps at http://{rvps_addr} is unreachable");
    assert_reference_value_calls_rvps_unavailable(&state, &needle).await;

    // back on its port: served again
    let rvps = serve_rvps(rvps_addr, provider).await;
    let (status, problem, _) =
        send(&state, "POST", "/kbs/v0/reference-value", None, register).await;
    assert_eq!(status, StatusCode::OK, "{problem}");
    let (status, problem, _) = send(&state, "DELETE", uri, None, String::new()).await;
    assert_eq!(status, StatusCode::OK, "{problem}");
    rvps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_rvps_without_delete_is_501_through_either_backend() {
    // an upstream RVPS: registers and queries, answers DeleteReferenceValue UNIMPLEMENTED
    let upstream = FakeAs::new();
    upstream.state.no_delete.store(true, Ordering::SeqCst);
    let server = upstream.serve().await;
    let through_grpc_as = kbs_for(serve_grpc_as(server.addr).await).await;
    let builtin = kbs_builtin_over_rvps(server.addr).await;
    let uri = "/kbs/v0/reference-value/svn";
    for (backend, state) in [
        ("coco_as_grpc", &through_grpc_as),
        ("coco_as_builtin", &builtin),
    ] {
        let register = sample_message("svn", &json!(["1"]));
        let (status, problem, _) =
            send(state, "POST", "/kbs/v0/reference-value", None, register).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {problem}");
        let (status, problem, _) = send(state, "DELETE", uri, None, String::new()).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{backend}: {problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("delete"), "{backend}: {detail}");
        // still there
        let (status, value, _) = send(state, "GET", uri, None, String::new()).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {value}");
        assert_eq!(value, json!(["1"]));
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// TLS to the AS (`https://` as_addr, our extension)

/// `testdata/tls`: a CA and a server certificate for `127.0.0.1` and `localhost`.
fn tls_testdata(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/tls")
        .join(file)
}

/// A CA that did not issue `testdata/tls/server.crt`.
fn other_ca() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../verifier/roots/intel/intel_sgx_root_ca.pem")
}

/// `router` served over TLS with `testdata/tls/server.crt` on `addr`.
async fn serve_tls(addr: SocketAddr, router: axum::Router) -> Served<std::io::Error> {
    let tls = attestation_service::grpc::listen::tls_config(
        &tls_testdata("server.crt"),
        &tls_testdata("server.key"),
    )
    .unwrap();
    Served::spawn(addr, |listener, shutdown| {
        attestation_service::grpc::listen::serve(listener, router, Some(tls), shutdown)
    })
    .await
}

fn tls_backend(as_addr: String, ca_cert: Option<PathBuf>) -> Result<GrpcBackend, Error> {
    GrpcBackend::new(&settings(as_addr, ca_cert))
}

/// A backend for the AS at `https://{addr}` checked against the test CA.
fn test_ca_backend(addr: SocketAddr) -> GrpcBackend {
    tls_backend(format!("https://{addr}"), Some(tls_testdata("ca.crt"))).unwrap()
}

#[tokio::test]
async fn every_call_goes_over_tls_to_an_as_whose_certificate_chains_to_as_ca_cert() {
    let fake = FakeAs::new();
    let server = fake.serve_tls_on(loopback()).await;
    // the server name comes from the URL: an IP address and a DNS name, both in the SANs
    for host in ["127.0.0.1".to_owned(), "localhost".to_owned()] {
        let backend = tls_backend(
            format!("https://{host}:{}", server.addr.port()),
            Some(tls_testdata("ca.crt")),
        )
        .unwrap();
        let token = verify_sample(&backend).await.unwrap();
        assert_eq!(token.split('.').count(), 3);
        backend.set_policy("default_cpu", "cGFjaw").await.unwrap();
        assert_register_then_query(&backend).await;
        se_challenge(&backend).await;
    }
    assert_eq!(fake.state.evaluations.lock().unwrap().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_certificate_that_does_not_verify_is_unavailability_naming_the_tls_failure() {
    let fake = FakeAs::new();
    let server = fake.serve_tls_on(loopback()).await;
    let addr = server.addr;

    // issued by another CA than as_ca_cert's
    let other = other_ca();
    let backend = tls_backend(format!("https://{addr}"), Some(other.clone())).unwrap();
    let text = unavailable(&backend).await;
    assert!(
        text.contains(&format!("attestation service at https://{addr}")),
        "{text}"
    );
    assert!(
        text.contains(
            "TLS handshake with 127.0.0.1 failed: invalid peer certificate: UnknownIssuer"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("checked against as_ca_cert {}", other.display())),
        "{text}"
    );
    assert!(!text.contains("transport error"), "{text}");

    // without as_ca_cert the platform's roots are used, and the test CA is not one of them
    match tls_backend(format!("https://{addr}"), None) {
        Ok(backend) => {
            let text = unavailable(&backend).await;
            assert!(text.contains("UnknownIssuer"), "{text}");
            assert!(text.contains("the platform's CA certificates"), "{text}");
        }
        // a platform without any CA certificate: said at startup, pointing at the key
        Err(err) => {
            assert!(err.to_string().contains("set as_ca_cert"), "{err}");
        }
    }
    assert!(fake.state.evaluations.lock().unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_certificate_for_another_name_or_a_plaintext_as_is_a_tls_failure() {
    // a name the certificate does not list (127.0.0.2 is loopback too)
    let fake = FakeAs::new();
    let server = fake.serve_tls_on("127.0.0.2:0".parse().unwrap()).await;
    let text = unavailable(&test_ca_backend(server.addr)).await;
    assert!(
        text.contains("TLS handshake with 127.0.0.2 failed: invalid peer certificate")
            && text.contains("not valid for name \"127.0.0.2\""),
        "{text}"
    );
    server.stop().await;

    // https:// to an AS serving plaintext gRPC
    let server = fake.serve().await;
    let text = unavailable(&test_ca_backend(server.addr)).await;
    assert!(
        text.contains("TLS handshake with 127.0.0.1 failed"),
        "{text}"
    );
    assert!(text.contains("received corrupt message"), "{text}");
    assert!(fake.state.evaluations.lock().unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_tls_as_that_is_down_is_unavailable_and_service_resumes_when_it_returns() {
    let addr = dead_addr().await;
    let backend = test_ca_backend(addr);
    let text = unavailable(&backend).await;
    // the OS's reason follows, not tonic's generic wrapper text
    assert!(
        text.contains("is unavailable: tcp connect error: "),
        "{text}"
    );
    assert!(!text.contains("transport error"), "{text}");
    assert!(!text.contains("TLS handshake"), "{text}");

    // the AS comes up on that port: both lazy channels connect over TLS
    let fake = FakeAs::new();
    assert_serves_whenever_the_as_is_up(&backend, || fake.serve_tls_on(addr)).await;
}

// Paused clock: it jumps to the connect timeout (10 s) as soon as everything waits.
#[tokio::test(start_paused = true)]
async fn the_tls_connect_is_bounded_by_the_connect_timeout() {
    // accepts TCP but never answers the ClientHello
    let listener = TcpListener::bind(loopback()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let backend = GrpcBackend::new(&GrpcSettings {
        pool_size: 1,
        // the connect timeout is min(10 s, request timeout)
        request_timeout: Duration::from_secs(30),
        ..settings(format!("https://{addr}"), Some(tls_testdata("ca.crt")))
    })
    .unwrap();
    let text = unavailable(&backend).await;
    assert!(
        text.contains("no connection within 10 s (TCP connect or TLS handshake timed out)"),
        "{text}"
    );
    silent.abort();
}

#[tokio::test]
async fn an_unusable_as_ca_cert_is_a_startup_error_naming_the_key_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let not_pem = dir.path().join("garbage.pem");
    std::fs::write(&not_pem, "-----BEGIN CERTIFICATE-----\n%%%\n").unwrap();
    let key_only = tls_testdata("server.key");
    for (path, needle) in [
        (&missing, "cannot read it"),
        (&empty, "contains no PEM certificate"),
        (&key_only, "contains no PEM certificate"),
        (&not_pem, "not a PEM file"),
    ] {
        let err = tls_backend("https://as.example:50004".into(), Some(path.clone())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        let text = err.to_string();
        assert!(
            text.contains(&format!("as_ca_cert = {:?}", path.display().to_string())),
            "{text}"
        );
        assert!(text.contains(needle), "{}: {text}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kbs_attests_through_a_real_grpc_as_over_tls_and_names_a_certificate_failure() {
    let router = grpc_as_router(attestation_service::AsConfig::default()).await;
    let server = serve_tls(loopback(), router).await;
    let kbs = |ca: &Path| {
        let url = format!("https://localhost:{}", server.addr.port());
        kbs_toml(&format!(
            "{}\nas_ca_cert = \"{}\"",
            grpc_as_table(&url),
            ca.display()
        ))
    };
    let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
    let state = kbs_from_toml(&kbs(&tls_testdata("ca.crt"))).await;
    attest_ok(&state, &key).await;

    let state = kbs_from_toml(&kbs(&other_ca())).await;
    let (answer, _) = auth_attest(&state, &key).await;
    assert_unavailable(
        "/attest",
        &answer,
        AS_UNAVAILABLE_TYPE,
        &["TLS handshake with localhost failed: invalid peer certificate: UnknownIssuer"],
    );

    // a CA file that is not there stops the KBS at startup, naming key and path
    let missing = Path::new("/nonexistent/as-ca.pem");
    let config = crate::config::KbsConfig::from_toml(&kbs(missing)).unwrap();
    let err = crate::app::Kbs::from_config(&config)
        .await
        .map(drop)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("as_ca_cert = \"/nonexistent/as-ca.pem\""),
        "{text}"
    );
    server.stop().await;
}
