#![allow(clippy::unwrap_used, clippy::expect_used)]
//! An appraisal whose `query_reference_value` gets no answer from the RVPS is reported as
//! `Error::ReferenceValueProviderUnavailable` (gRPC `UNAVAILABLE`, REST 503), not as a failed
//! policy; an RVPS that answers with an error still fails the policy.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use attestation_service::grpc::listen::serve;
use attestation_service::grpc::{UNAVAILABLE_COMPONENT_KEY, UNAVAILABLE_RVPS};
use attestation_service::{AsConfig, AttestationService, Error, RvpsConfig, RvpsUnavailable};
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use protos::attestation::attestation_service_client::AttestationServiceClient;
use protos::attestation::individual_attestation_request::RuntimeData;
use protos::attestation::{AttestationRequest, IndividualAttestationRequest};
use rvps::grpc::{Operation, RvpsService};
use rvps::{BuiltinRvps, ReferenceValueProvider};
use serde_json::{Value, json};
use storage::memory::MemoryStore;
use storage::{KeyValueStore, SetMode, StorageConfig, StorageProvider};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::{Code, Status};
use tower::ServiceExt;

/// An RVPS gRPC server in process, answering failures with `status`.
struct Rvps {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Rvps {
    async fn start(
        addr: &str,
        provider: Arc<dyn ReferenceValueProvider>,
        status: fn(Operation, rvps::Error) -> Status,
    ) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = RvpsService::new(provider).with_status(status).into_server();
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(server)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await
                .unwrap();
        });
        Self { addr, stop, task }
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap();
    }
}

fn aborted(_: Operation, error: rvps::Error) -> Status {
    Status::aborted(error.to_string())
}

fn unavailable(_: Operation, error: rvps::Error) -> Status {
    Status::unavailable(error.to_string())
}

/// A store holding `svn = ["1"]` and a record `broken` that is not a stored reference value.
async fn store() -> Arc<dyn ReferenceValueProvider> {
    let kv = Arc::new(MemoryStore::new());
    let store = BuiltinRvps::new(kv.clone());
    store
        .register(&sample_message(json!({"svn": ["1"]})))
        .await
        .unwrap();
    kv.set("broken", b"{", SetMode::Overwrite).await.unwrap();
    Arc::new(store)
}

/// Trusted hardware when the sample SVN is among the `svn` values.
const POLICY: &str = r#"package policy

import rego.v1

default hardware := 97

hardware := 2 if input.sample.svn in query_reference_value("svn")

trust_claims := {"hardware": hardware}
"#;

/// Evaluated as `broken`: reads the record `broken`.
const BROKEN_POLICY: &str = r#"package policy

import rego.v1

default hardware := 97

hardware := 3 if query_reference_value("broken")

trust_claims := {"hardware": hardware}
"#;

async fn with_policy(service: AttestationService) -> AttestationService {
    for (id, rego) in [("default_cpu", POLICY), ("broken_cpu", BROKEN_POLICY)] {
        service
            .set_policy(id, &URL_SAFE_NO_PAD.encode(rego))
            .await
            .unwrap();
    }
    service
}

async fn over_remote(addr: SocketAddr) -> AttestationService {
    with_policy(
        service(AsConfig {
            rvps_config: RvpsConfig::GrpcRemote {
                address: addr.to_string(),
            },
            ..AsConfig::default()
        })
        .await,
    )
    .await
}

/// Evaluates sample evidence with `default_cpu`, or `broken_cpu` when `broken`; returns the
/// hardware claim.
async fn evaluate(service: &AttestationService, broken: bool) -> Result<Value, Error> {
    let request = sample_request(runtime_data(""));
    let policy = if broken { "broken" } else { "default" };
    let token = service
        .evaluate(vec![request], &[policy.to_owned()])
        .await?;
    Ok(payload(&token)["submods"]["cpu0"]["ear.trustworthiness-vector"]["hardware"].clone())
}

fn assert_unavailable(err: &Error, addr: SocketAddr) {
    let Error::ReferenceValueProviderUnavailable {
        policy_id,
        id,
        source,
    } = err
    else {
        panic!("unavailability expected, got {err:?}");
    };
    assert_eq!(policy_id, "default_cpu");
    assert_eq!(id, "svn");
    let RvpsUnavailable::Provider(rvps::Error::Unreachable { address, .. }) = &**source else {
        panic!("an unreachable rvps expected, got {source:?}");
    };
    assert_eq!(address, &format!("http://{addr}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_rvps_that_is_down_is_unavailability_until_it_returns() {
    let store = store().await;
    let rvps = Rvps::start("127.0.0.1:0", Arc::clone(&store), aborted).await;
    let addr = rvps.addr;
    let service = over_remote(addr).await;
    assert_eq!(evaluate(&service, false).await.unwrap(), json!(2));
    rvps.stop().await;

    let err = evaluate(&service, false).await.unwrap_err();
    assert_unavailable(&err, addr);
    assert!(
        err.to_string()
            .contains("could not query reference value \"svn\""),
        "{err}"
    );

    let rvps = Rvps::start(&addr.to_string(), store, aborted).await;
    assert_eq!(evaluate(&service, false).await.unwrap(), json!(2));
    rvps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rvps_that_answers_unavailable_is_unavailability() {
    // The RVPS is up but reports every failure as UNAVAILABLE (e.g. its own store is down).
    let rvps = Rvps::start("127.0.0.1:0", store().await, unavailable).await;
    let service = over_remote(rvps.addr).await;
    assert_eq!(evaluate(&service, false).await.unwrap(), json!(2));
    let err = evaluate(&service, true).await.unwrap_err();
    let Error::ReferenceValueProviderUnavailable { id, .. } = &err else {
        panic!("unavailability expected, got {err:?}");
    };
    assert_eq!(id, "broken");
    rvps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_record_stays_a_policy_failure() {
    // Remote: the RVPS answers the query with its error (ABORTED).
    let rvps = Rvps::start("127.0.0.1:0", store().await, aborted).await;
    let service = over_remote(rvps.addr).await;
    let err = evaluate(&service, true).await.unwrap_err();
    let Error::Policy(policy::Error::Evaluation { message, .. }) = &err else {
        panic!("a policy failure expected, got {err:?}");
    };
    assert!(
        message.contains("stored reference value \"broken\" is malformed"),
        "{message}"
    );
    rvps.stop().await;

    // Built in: the record is read from the AS's own storage.
    let storage = StorageProvider::new(&StorageConfig::default()).unwrap();
    storage
        .namespace("reference_value", None)
        .unwrap()
        .set("broken", b"{", SetMode::Overwrite)
        .await
        .unwrap();
    let service = with_policy(
        AttestationService::new(AsConfig::default(), &storage)
            .await
            .unwrap()
            .with_clock(pinned_clock()),
    )
    .await;
    service
        .register_reference_value(&sample_message(json!({"svn": ["1"]})))
        .await
        .unwrap();
    assert_eq!(evaluate(&service, false).await.unwrap(), json!(2));
    let err = evaluate(&service, true).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Policy(policy::Error::Evaluation { message, .. })
                if message.contains("stored reference value \"broken\" is malformed")
        ),
        "{err:?}"
    );
}

/// A service whose remote RVPS has gone away; returns it with the RVPS address.
async fn service_with_rvps_down() -> (Arc<AttestationService>, SocketAddr) {
    let rvps = Rvps::start("127.0.0.1:0", store().await, aborted).await;
    let addr = rvps.addr;
    let service = over_remote(addr).await;
    rvps.stop().await;
    (Arc::new(service), addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_as_answers_unavailable_naming_the_rvps() {
    let (service, rvps_addr) = service_with_rvps_down().await;
    let router = attestation_service::grpc::router(service).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, router, None, async {
        let _ = stopped.await;
    }));
    let mut client = AttestationServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let rd = runtime_data("");
    let evidence = json!({"svn": "1", "report_data": sample_report_data(&rd)});
    let request = AttestationRequest {
        verification_requests: vec![IndividualAttestationRequest {
            tee: "sample".into(),
            evidence: URL_SAFE_NO_PAD.encode(evidence.to_string()),
            runtime_data: Some(RuntimeData::StructuredRuntimeData(rd.to_string())),
            init_data: None,
            runtime_data_hash_algorithm: "sha384".into(),
        }],
        policy_ids: vec!["default".into()],
    };
    let status = client.attestation_evaluate(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        status.metadata().get(UNAVAILABLE_COMPONENT_KEY).unwrap(),
        UNAVAILABLE_RVPS
    );
    let message = status.message();
    assert!(
        message.starts_with(
            "Attestation evaluation failed: the reference value provider is unavailable: \n0: "
        ),
        "{message}"
    );
    assert!(
        message.contains(&format!("rvps at http://{rvps_addr} is unreachable")),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restful_as_answers_503_naming_the_rvps() {
    let (service, rvps_addr) = service_with_rvps_down().await;
    let router = attestation_service::rest::router(service, &[]);
    let rd = runtime_data("");
    let evidence = json!({"svn": "1", "report_data": sample_report_data(&rd)});
    let body = json!({
        "verification_requests": [{
            "tee": "sample",
            "evidence": URL_SAFE_NO_PAD.encode(evidence.to_string()),
            "runtime_data": {"structured": rd},
            "runtime_data_hash_algorithm": "sha384"
        }],
        "policy_ids": []
    });
    let request = Request::post("/attestation")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert!(
        text.starts_with("Reference value provider unavailable: \n0: policy `default_cpu`"),
        "{text}"
    );
    assert!(
        text.contains(&format!("rvps at http://{rvps_addr} is unreachable")),
        "{text}"
    );
}
