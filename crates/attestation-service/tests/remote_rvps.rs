#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `rvps_config = {"type": "GrpcRemote"}`: the AS reading reference values from a live RVPS
//! served in process over gRPC on 127.0.0.1:0.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use attestation_service::{AsConfig, AttestationService, RvpsConfig};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use rvps::{BuiltinRvps, ReferenceValueProvider};
use serde_json::json;
use storage::memory::MemoryStore;
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Hardware is trusted only when the sample SVN is among the registered `svn` values.
const POLICY: &str = r#"package policy

import rego.v1

default hardware := 97

hardware := 2 if input.sample.svn in query_reference_value("svn")

trust_claims := {"hardware": hardware}
"#;

/// An RVPS served in process.
struct Rvps {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Rvps {
    async fn start_on(addr: &str, provider: Arc<dyn ReferenceValueProvider>) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            rvps::grpc::serve(listener, provider, async {
                let _ = stopped.await;
            })
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

async fn remote_service(address: String) -> AttestationService {
    let service = service(AsConfig {
        rvps_config: RvpsConfig::GrpcRemote { address },
        ..AsConfig::default()
    })
    .await;
    service
        .set_policy("default_cpu", &URL_SAFE_NO_PAD.encode(POLICY))
        .await
        .unwrap();
    service
}

async fn hardware_claim(service: &AttestationService) -> serde_json::Value {
    let token = service
        .evaluate(vec![sample_request(runtime_data(""))], &default_policy())
        .await
        .unwrap();
    payload(&token)["submods"]["cpu0"]["ear.trustworthiness-vector"]["hardware"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_read_reference_values_from_the_remote_rvps() {
    let store: Arc<dyn ReferenceValueProvider> =
        Arc::new(BuiltinRvps::new(Arc::new(MemoryStore::new())));
    let rvps = Rvps::start_on("127.0.0.1:0", Arc::clone(&store)).await;
    let service = remote_service(rvps.addr.to_string()).await;
    assert_eq!(hardware_claim(&service).await, json!(97));

    // Registered on the RVPS side only: the AS sees it through gRPC.
    store
        .register(&sample_message(json!({"svn": ["1"]})))
        .await
        .unwrap();
    assert_eq!(hardware_claim(&service).await, json!(2));
    assert_eq!(
        service.query_reference_value("svn").await.unwrap(),
        Some(json!(["1"]))
    );
    assert_eq!(service.query_reference_value("other").await.unwrap(), None);

    // Registered through the AS: it lands in the remote RVPS.
    service
        .register_reference_value(&sample_message(json!({"svn": ["2"]})))
        .await
        .unwrap();
    assert_eq!(store.query("svn").await.unwrap(), Some(json!(["2"])));
    assert_eq!(hardware_claim(&service).await, json!(97));

    // The remote's refusal reaches the AS caller with the cause.
    let err = service
        .register_reference_value(r#"{"type":"in-toto","payload":"oA=="}"#)
        .await
        .unwrap_err();
    let chain = error_chain(&err);
    assert!(
        chain.contains("could not find extractor for in-toto"),
        "{chain}"
    );
    rvps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_values_in_the_remote_rvps_read_as_null() {
    let now = Arc::new(Mutex::new(datetime!(2026-11-28 12:00 UTC)));
    let clock = Arc::clone(&now);
    let store = Arc::new(
        BuiltinRvps::new(Arc::new(MemoryStore::new())).with_clock(Arc::new(
            move || -> OffsetDateTime { *clock.lock().unwrap() },
        )),
    );
    let rvps = Rvps::start_on("127.0.0.1:0", store.clone()).await;
    let service = remote_service(rvps.addr.to_string()).await;
    store
        .register(&sample_message(json!({"svn": ["1"]})))
        .await
        .unwrap();
    assert_eq!(hardware_claim(&service).await, json!(2));
    *now.lock().unwrap() = datetime!(2027-11-29 12:00 UTC);
    assert_eq!(hardware_claim(&service).await, json!(97));
    rvps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_fails_clearly_while_the_remote_rvps_is_down_and_recovers() {
    let store: Arc<dyn ReferenceValueProvider> =
        Arc::new(BuiltinRvps::new(Arc::new(MemoryStore::new())));
    store
        .register(&sample_message(json!({"svn": ["1"]})))
        .await
        .unwrap();
    let rvps = Rvps::start_on("127.0.0.1:0", Arc::clone(&store)).await;
    let addr = rvps.addr;
    let service = remote_service(addr.to_string()).await;
    assert_eq!(hardware_claim(&service).await, json!(2));
    rvps.stop().await;

    // A failed query fails the evaluation (never reads as "no reference value").
    let err = service
        .evaluate(vec![sample_request(runtime_data(""))], &default_policy())
        .await
        .unwrap_err();
    let chain = error_chain(&err);
    assert!(
        chain.contains(&format!("rvps at http://{addr} is unreachable")),
        "{chain}"
    );
    let err = service.query_reference_value("svn").await.unwrap_err();
    assert!(
        matches!(
            err,
            attestation_service::Error::Rvps(rvps::Error::Unreachable { .. })
        ),
        "{err}"
    );

    // Back on the same port: the AS recovers without a restart.
    let rvps = Rvps::start_on(&addr.to_string(), store).await;
    assert_eq!(hardware_claim(&service).await, json!(2));
    rvps.stop().await;
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
