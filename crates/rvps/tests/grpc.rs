#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The RVPS gRPC service in process on 127.0.0.1:0, driven by the generated client and by
//! [`RemoteRvps`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use protos::reference::reference_value_provider_service_client::ReferenceValueProviderServiceClient;
use protos::reference::reference_value_provider_service_server::{
    self, ReferenceValueProviderServiceServer,
};
use protos::reference::{
    ReferenceValueDeleteRequest, ReferenceValueQueryRequest, ReferenceValueRegisterRequest,
};
use rvps::grpc::RvpsService;
use rvps::{BuiltinRvps, Error, ReferenceValueProvider, RemoteRvps, ServiceConfig};
use serde_json::{Value, json};
use storage::memory::MemoryStore;
use time::macros::datetime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::codegen::Service;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A running in-process server; dropping it without `stop` leaves the task to the runtime.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Server {
    async fn start(provider: Arc<dyn ReferenceValueProvider>) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), provider).await
    }

    async fn start_on(addr: SocketAddr, provider: Arc<dyn ReferenceValueProvider>) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(rvps::grpc::serve(listener, provider, async {
            let _ = stopped.await;
        }));
        Self { addr, stop, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn client(&self) -> ReferenceValueProviderServiceClient<Channel> {
        ReferenceValueProviderServiceClient::connect(self.url())
            .await
            .unwrap()
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

fn sample_message(values: &Value) -> String {
    json!({"version": "0.1.0", "type": "sample", "payload": STANDARD.encode(values.to_string())})
        .to_string()
}

async fn register(
    client: &mut ReferenceValueProviderServiceClient<Channel>,
    message: String,
) -> Result<(), tonic::Status> {
    client
        .register_reference_value(ReferenceValueRegisterRequest { message })
        .await
        .map(drop)
}

async fn query(
    client: &mut ReferenceValueProviderServiceClient<Channel>,
    id: &str,
) -> Option<String> {
    client
        .query_reference_value(ReferenceValueQueryRequest {
            reference_value_id: id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .reference_value_results
}

async fn delete(
    client: &mut ReferenceValueProviderServiceClient<Channel>,
    name: &str,
) -> Result<(), tonic::Status> {
    client
        .delete_reference_value(ReferenceValueDeleteRequest {
            name: name.to_owned(),
        })
        .await
        .map(drop)
}

/// Registers `{"svn": [svn]}` and asserts that a query answers it back as JSON text.
async fn register_svn_and_query_it_back(
    client: &mut ReferenceValueProviderServiceClient<Channel>,
    svn: &str,
) {
    register(client, sample_message(&json!({"svn": [svn]})))
        .await
        .unwrap();
    assert_eq!(
        query(client, "svn").await,
        Some(json!([svn]).to_string()),
        "svn"
    );
}

fn memory_rvps() -> Arc<dyn ReferenceValueProvider> {
    Arc::new(BuiltinRvps::new(Arc::new(MemoryStore::new())))
}

#[tokio::test]
async fn registered_values_are_queried_back_as_json_text() {
    let server = Server::start(memory_rvps()).await;
    let mut client = server.client().await;
    register(
        &mut client,
        sample_message(&json!({"svn": ["1"], "launch_digest": ["abc", "def"], "major": 1})),
    )
    .await
    .unwrap();
    assert_eq!(query(&mut client, "svn").await.as_deref(), Some(r#"["1"]"#));
    assert_eq!(
        query(&mut client, "launch_digest").await.as_deref(),
        Some(r#"["abc","def"]"#)
    );
    assert_eq!(query(&mut client, "major").await.as_deref(), Some("1"));

    // Registering again replaces, as upstream.
    register_svn_and_query_it_back(&mut client, "2").await;
    server.stop().await;
}

#[tokio::test]
async fn corim_values_are_registered_and_queried_over_grpc() {
    // 501({0: "corim-1", 1: [506(<<{1: {0: "comid1"}, 4: {0: [[{0: {1: "ACME", 2: "RoadRunner"}},
    //   [{0: 37(h'31fb5abf…'), 1: {2: [[1, sha-256("abc")], [1, sha-256("")]]}}]]]}}>>)]})
    const CORIM: &str = "d901f5a20067636f72696d2d310181d901fa5887a201a10066636f6d69643104a1008182\
        a100a2016441434d45026a526f616452756e6e657281a200d8255031fb5abf023e4992aa4e95f9c1503bfa01a10282\
        82015820ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\
        82015820e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let corim = hex::decode(CORIM).unwrap();
    let server = Server::start(memory_rvps()).await;
    let mut client = server.client().await;
    let message = json!({"version": "0.1.0", "type": "corim", "payload": STANDARD.encode(&corim)});
    register(&mut client, message.to_string()).await.unwrap();
    assert_eq!(
        query(
            &mut client,
            "ACME/RoadRunner/31fb5abf-023e-4992-aa4e-95f9c1503bfa/digests"
        )
        .await
        .as_deref(),
        Some(
            r#"["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]"#
        )
    );

    // A truncated CoRIM is aborted naming what is wrong.
    let message = json!({"type": "corim", "payload": STANDARD.encode(&corim[..40])});
    let status = register(&mut client, message.to_string())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert!(
        status
            .message()
            .starts_with("register reference value failed: corim payload is not CBOR"),
        "{}",
        status.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn swid_values_are_registered_and_queried_over_grpc() {
    // A real NVIDIA GH100 VBIOS RIM, trimmed (see data/).
    let rim = include_str!("data/nvidia-gh100-vbios-rim-trimmed.xml");
    let server = Server::start(memory_rvps()).await;
    let mut client = server.client().await;
    let message = json!({"version": "0.1.0", "type": "swid", "payload": STANDARD.encode(rim)});
    register(&mut client, message.to_string()).await.unwrap();
    assert_eq!(
        query(&mut client, "NVIDIA_Corporation.GPU.measurement_9")
            .await
            .as_deref(),
        Some(
            r#"["059b32e712a153f490dbfb7976a9e275d789e28bd4803c357def2b6123327c430526bfaecc200f496d4e149fc5eade03"]"#
        )
    );
    // All-zero measurements are not registered.
    assert_eq!(
        query(&mut client, "NVIDIA_Corporation.GPU.measurement_0").await,
        None
    );

    // A RIM with a DTD is aborted naming what is wrong.
    let with_dtd = rim.replacen(
        "<SoftwareIdentity ",
        "<!DOCTYPE SoftwareIdentity [<!ENTITY e \"x\">]>\n<SoftwareIdentity ",
        1,
    );
    let message = json!({"type": "swid", "payload": STANDARD.encode(with_dtd)});
    let status = register(&mut client, message.to_string())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(
        status.message(),
        "register reference value failed: swid payload has a DTD: document type declarations \
         and entities are refused"
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_ids_leave_the_result_absent() {
    let server = Server::start(memory_rvps()).await;
    let mut client = server.client().await;
    assert_eq!(query(&mut client, "svn").await, None);
    // Ids no backend can store (rvps:/// URIs with a tag) are unknown, not errors.
    assert_eq!(query(&mut client, "rvps:///a/b:latest").await, None);
    // A stored empty string is present, not absent: presence is what carries "known".
    register(&mut client, sample_message(&json!({"empty": ""})))
        .await
        .unwrap();
    assert_eq!(query(&mut client, "empty").await.as_deref(), Some(r#""""#));
    server.stop().await;
}

#[tokio::test]
async fn expired_values_leave_the_result_absent() {
    let now = Arc::new(Mutex::new(datetime!(2026-11-28 14:30:05 UTC)));
    let clock = Arc::clone(&now);
    let rvps = BuiltinRvps::new(Arc::new(MemoryStore::new()))
        .with_clock(Arc::new(move || *clock.lock().unwrap()));
    let server = Server::start(Arc::new(rvps)).await;
    let mut client = server.client().await;
    register(&mut client, sample_message(&json!({"svn": ["1"]})))
        .await
        .unwrap();

    // Valid up to and including its expiration second (12 months later) ...
    *now.lock().unwrap() = datetime!(2027-11-28 14:30:05 UTC);
    assert_eq!(query(&mut client, "svn").await.as_deref(), Some(r#"["1"]"#));
    // ... and gone one second after, where upstream would still serve it.
    *now.lock().unwrap() = datetime!(2027-11-28 14:30:06 UTC);
    assert_eq!(query(&mut client, "svn").await, None);
    server.stop().await;
}

#[tokio::test]
async fn malformed_messages_are_aborted_naming_the_cause() {
    let server = Server::start(memory_rvps()).await;
    let mut client = server.client().await;
    for (message, cause) in [
        (
            "not json".to_owned(),
            "malformed register message: expected ident",
        ),
        (
            r#"{"version":"0.1.0","type":"sample"}"#.to_owned(),
            "malformed register message: missing field `payload`",
        ),
        (
            r#"{"version":"0.2.0","type":"sample","payload":"e30="}"#.to_owned(),
            "version unmatched: need 0.1.0, given 0.2.0",
        ),
        (
            r#"{"type":"in-toto","payload":"e30="}"#.to_owned(),
            "could not find extractor for in-toto",
        ),
        (
            r#"{"type":"sample","payload":"e30"}"#.to_owned(),
            "payload is not standard base64 with padding",
        ),
        (
            r#"{"type":"sample","payload":"WzFd"}"#.to_owned(),
            "sample payload is not a json object",
        ),
        (
            sample_message(&json!({"a:b": 1})),
            r#"reference value name "a:b" is not storable"#,
        ),
    ] {
        let status = register(&mut client, message.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::Aborted, "{message}");
        assert!(
            status
                .message()
                .starts_with(&format!("register reference value failed: {cause}")),
            "{message}: {}",
            status.message()
        );
    }
    server.stop().await;
}

// ---- DeleteReferenceValue, the extension beyond upstream

#[tokio::test]
async fn deleted_values_are_gone_and_unknown_ids_are_not_found() {
    let server = Server::start(memory_rvps()).await;
    let mut client = server.client().await;
    register(
        &mut client,
        sample_message(&json!({"svn": ["1"], "launch_digest": ["abc"]})),
    )
    .await
    .unwrap();

    delete(&mut client, "svn").await.unwrap();
    assert_eq!(query(&mut client, "svn").await, None);
    // only that one
    assert_eq!(
        query(&mut client, "launch_digest").await.as_deref(),
        Some(r#"["abc"]"#)
    );

    // a second delete finds nothing, and says which id
    let status = delete(&mut client, "svn").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), r#"reference value "svn" not found"#);
    let status = delete(&mut client, "never-registered").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("never-registered"), "{status:?}");

    // registering again brings it back
    register_svn_and_query_it_back(&mut client, "2").await;
    server.stop().await;
}

#[tokio::test]
async fn deleting_an_id_that_cannot_be_a_key_is_an_invalid_argument_naming_the_rule() {
    let server = Server::start(memory_rvps()).await;
    let mut client = server.client().await;
    for (name, rule) in [
        ("", "must not be empty"),
        ("rvps:///a/b:latest", "character ':' is not allowed"),
        ("/svn", "must not start with '/'"),
        ("a/../svn", "must not contain a '.' or '..' segment"),
    ] {
        let status = delete(&mut client, name).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{name:?}");
        assert!(
            status.message().starts_with(&format!(
                "delete reference value failed: reference value name {name:?} is not storable: {rule}"
            )),
            "{name:?}: {}",
            status.message()
        );
    }
    // a long id is cut in the message, not echoed whole
    let long = "a".repeat(100_000);
    let status = delete(&mut client, &format!("{long}:")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().len() < 1_000, "{}", status.message().len());
    assert!(
        status.message().contains("...\" is not storable"),
        "{}",
        &status.message()[..300]
    );
    server.stop().await;
}

/// A provider that registers and knows nothing, and misbehaves in one way.
enum Misbehaving {
    /// Every delete fails in its store.
    BrokenStore,
    /// Never answers a query.
    Stuck,
}

#[async_trait]
impl ReferenceValueProvider for Misbehaving {
    async fn register(&self, _message: &str) -> rvps::Result<Vec<String>> {
        Ok(Vec::new())
    }
    async fn query(&self, _id: &str) -> rvps::Result<Option<Value>> {
        match self {
            Self::BrokenStore => Ok(None),
            Self::Stuck => std::future::pending().await,
        }
    }
    async fn delete(&self, _id: &str) -> rvps::Result<bool> {
        match self {
            Self::BrokenStore => Err(Error::Storage(storage::Error::Io {
                path: "/rvps/reference_value/svn".into(),
                source: std::io::Error::other("read-only file system"),
            })),
            Self::Stuck => Ok(false),
        }
    }
}

#[tokio::test]
async fn a_failing_delete_is_aborted_with_the_cause_chain() {
    let server = Server::start(Arc::new(Misbehaving::BrokenStore)).await;
    let mut client = server.client().await;
    let status = delete(&mut client, "svn").await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(
        status.message(),
        "delete reference value failed: reference value storage failed: \
         i/o error on /rvps/reference_value/svn: read-only file system"
    );
    server.stop().await;
}

/// An upstream trustee RVPS: our service with the `DeleteReferenceValue` route taken away, so
/// that call gets what a tonic server generated from upstream's proto answers for a method it
/// does not have (`grpc-status: 12`, no message); every other call goes through.
#[derive(Clone)]
struct Upstream(ReferenceValueProviderServiceServer<RvpsService>);

type HttpRequest = tonic::codegen::http::Request<tonic::body::Body>;
type HttpResponse = tonic::codegen::http::Response<tonic::body::Body>;

impl tonic::server::NamedService for Upstream {
    const NAME: &'static str = reference_value_provider_service_server::SERVICE_NAME;
}

impl Service<HttpRequest> for Upstream {
    type Response = HttpResponse;
    type Error = std::convert::Infallible;
    type Future = tonic::codegen::BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        Service::<HttpRequest>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        if request.uri().path() == "/reference.ReferenceValueProviderService/DeleteReferenceValue" {
            let mut response = HttpResponse::new(tonic::body::Body::default());
            let headers = response.headers_mut();
            headers.insert(
                tonic::Status::GRPC_STATUS,
                (Code::Unimplemented as i32).into(),
            );
            headers.insert(
                tonic::codegen::http::header::CONTENT_TYPE,
                tonic::metadata::GRPC_CONTENT_TYPE,
            );
            return Box::pin(std::future::ready(Ok(response)));
        }
        self.0.call(request)
    }
}

/// Serves `router` on 127.0.0.1:0; abort the task to stop it.
async fn serve_router(
    router: tonic::transport::server::Router,
) -> (SocketAddr, JoinHandle<Result<(), tonic::transport::Error>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(
        router.serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (addr, task)
}

/// Serves an [`Upstream`] RVPS on 127.0.0.1:0; abort the task to stop it.
async fn start_upstream(
    provider: Arc<dyn ReferenceValueProvider>,
) -> (SocketAddr, JoinHandle<Result<(), tonic::transport::Error>>) {
    serve_router(tonic::transport::Server::builder().add_service(Upstream(
        rvps::grpc::RvpsService::new(provider).into_server(),
    )))
    .await
}

#[tokio::test]
async fn remote_rvps_deletes_and_reports_unknown_ids_as_not_deleted() {
    let rvps = memory_rvps();
    let server = Server::start(Arc::clone(&rvps)).await;
    let remote = RemoteRvps::connect(&server.addr.to_string()).await.unwrap();
    remote
        .register(&sample_message(&json!({"svn": ["1"]})))
        .await
        .unwrap();
    assert!(remote.delete("svn").await.unwrap());
    assert_eq!(remote.query("svn").await.unwrap(), None);
    // gone from the server's own store, not just hidden
    assert_eq!(rvps.query("svn").await.unwrap(), None);
    assert!(!remote.delete("svn").await.unwrap());

    let err = remote.delete("").await.unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { code, message, .. }
            if code == "InvalidArgument" && message.contains("must not be empty")),
        "{err}"
    );
    server.stop().await;

    let err = remote.delete("svn").await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn an_upstream_rvps_without_delete_is_reported_as_not_supporting_it() {
    let (addr, task) = start_upstream(memory_rvps()).await;
    let remote = RemoteRvps::connect(&addr.to_string()).await.unwrap();
    // the upstream calls still work over the same client
    remote
        .register(&sample_message(&json!({"svn": ["1"]})))
        .await
        .unwrap();
    let err = remote.delete("svn").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedRemoteOperation {
                operation: "delete"
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the rvps does not support delete: upstream's reference-value protocol has no such \
         call (the server answered UNIMPLEMENTED)"
    );
    // nothing was deleted
    assert_eq!(remote.query("svn").await.unwrap(), Some(json!(["1"])));

    // Our service in front of that upstream RVPS (as `grpc-as` with a GrpcRemote RVPS) passes
    // UNIMPLEMENTED on rather than calling it a failure.
    let front = Server::start(Arc::new(remote)).await;
    let mut client = front.client().await;
    let status = delete(&mut client, "svn").await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().contains("does not support delete"),
        "{}",
        status.message()
    );
    front.stop().await;
    task.abort();
}

#[tokio::test]
async fn health_reports_the_rvps_service_serving() {
    let server = Server::start(memory_rvps()).await;
    let channel = Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    for service in ["", "reference.ReferenceValueProviderService"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "attestation.AttestationService".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    server.stop().await;
}

async fn persists_across_restart(config: ServiceConfig) {
    let server = Server::start(Arc::new(config.build().unwrap())).await;
    let mut client = server.client().await;
    register(&mut client, sample_message(&json!({"svn": ["1"]})))
        .await
        .unwrap();
    server.stop().await;

    let server = Server::start(Arc::new(config.build().unwrap())).await;
    let mut client = server.client().await;
    assert_eq!(query(&mut client, "svn").await.as_deref(), Some(r#"["1"]"#));
    server.stop().await;
}

#[tokio::test]
async fn local_fs_storage_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config: ServiceConfig = serde_json::from_value(json!({
        "storage": {"storage_type": "LocalFs", "backends": {"local_fs": {"dir_path": dir.path()}}}
    }))
    .unwrap();
    persists_across_restart(config).await;
    assert!(dir.path().join("reference_value/svn").is_file());
}

#[tokio::test]
async fn local_json_storage_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config: ServiceConfig = serde_json::from_value(json!({
        "storage": {"storage_type": "LocalJson",
                    "backends": {"local_json": {"file_dir_path": dir.path()}}}
    }))
    .unwrap();
    persists_across_restart(config).await;
    assert!(dir.path().join("reference_value").is_file());
}

// ---- RemoteRvps, the client behind the ReferenceValueProvider trait

#[tokio::test]
async fn remote_rvps_registers_and_queries() {
    let server = Server::start(memory_rvps()).await;
    // No scheme: `http://` is prepended, as upstream.
    let remote = RemoteRvps::connect(&server.addr.to_string()).await.unwrap();
    assert_eq!(remote.address(), server.url());
    let names = remote
        .register(&sample_message(
            &json!({"svn": ["1"], "obj": {"a": [1, 2]}}),
        ))
        .await
        .unwrap();
    assert!(names.is_empty(), "the register response carries no names");
    assert_eq!(remote.query("svn").await.unwrap(), Some(json!(["1"])));
    assert_eq!(
        remote.query("obj").await.unwrap(),
        Some(json!({"a": [1, 2]}))
    );
    assert_eq!(remote.query("unknown").await.unwrap(), None);
    assert_eq!(
        remote.query_text("svn").await.unwrap().as_deref(),
        Some(r#"["1"]"#)
    );

    let err = remote.register(r#"{"type":"x","payload":""}"#).await;
    let err = err.unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { code, message, .. }
            if code == "Aborted" && message.contains("could not find extractor for x")),
        "{err}"
    );
    server.stop().await;
}

#[tokio::test]
async fn remote_rvps_reports_a_server_that_is_not_there() {
    // Bind then drop, so nothing listens on the port.
    let addr = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let err = RemoteRvps::connect(&addr.to_string()).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");

    let lazy = RemoteRvps::connect_lazy(&addr.to_string()).unwrap();
    let err = lazy.query("svn").await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
}

#[tokio::test]
async fn remote_rvps_fails_clearly_while_the_server_is_down_and_recovers() {
    let rvps = memory_rvps();
    let server = Server::start(Arc::clone(&rvps)).await;
    let addr = server.addr;
    let remote = RemoteRvps::connect(&addr.to_string()).await.unwrap();
    remote
        .register(&sample_message(&json!({"svn": ["1"]})))
        .await
        .unwrap();
    server.stop().await;

    let err = remote.query("svn").await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");

    // Same port, same data: the existing client reconnects by itself.
    let server = Server::start_on(addr, rvps).await;
    assert_eq!(remote.query("svn").await.unwrap(), Some(json!(["1"])));
    server.stop().await;
}

#[tokio::test]
async fn remote_rvps_times_out_a_call_that_never_answers() {
    let server = Server::start(Arc::new(Misbehaving::Stuck)).await;
    let remote = RemoteRvps::connect(&server.addr.to_string())
        .await
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    let err = remote.query("svn").await.unwrap_err();
    assert!(
        matches!(err, Error::TimedOut { timeout, .. } if timeout == Duration::from_millis(200)),
        "{err}"
    );
    // Still usable for calls that do answer.
    remote.register("{}").await.unwrap();
    // The server task has an open stuck request; abort rather than wait for it.
    server.task.abort();
}

#[tokio::test]
async fn remote_rvps_rejects_values_that_are_not_json() {
    // The in-process server always encodes JSON, so speak the wire directly: a raw tonic
    // server whose query returns `not json`.
    use protos::reference::reference_value_provider_service_server::{
        ReferenceValueProviderService, ReferenceValueProviderServiceServer,
    };
    use protos::reference::{ReferenceValueQueryResponse, ReferenceValueRegisterResponse};
    struct Raw;
    #[tonic::async_trait]
    impl ReferenceValueProviderService for Raw {
        async fn query_reference_value(
            &self,
            _request: tonic::Request<ReferenceValueQueryRequest>,
        ) -> Result<tonic::Response<ReferenceValueQueryResponse>, tonic::Status> {
            Ok(tonic::Response::new(ReferenceValueQueryResponse {
                reference_value_results: Some("not json".to_owned()),
            }))
        }
        async fn register_reference_value(
            &self,
            _request: tonic::Request<ReferenceValueRegisterRequest>,
        ) -> Result<tonic::Response<ReferenceValueRegisterResponse>, tonic::Status> {
            Ok(tonic::Response::new(ReferenceValueRegisterResponse {}))
        }
    }
    let (addr, task) = serve_router(
        tonic::transport::Server::builder()
            .add_service(ReferenceValueProviderServiceServer::new(Raw)),
    )
    .await;
    let remote = RemoteRvps::connect(&addr.to_string()).await.unwrap();
    let err = remote.query("svn").await.unwrap_err();
    assert!(
        matches!(&err, Error::RemoteValueNotJson { id, .. } if id == "svn"),
        "{err}"
    );
    assert_eq!(
        remote.query_text("svn").await.unwrap().as_deref(),
        Some("not json")
    );
    // Written against upstream's two methods only: the generated default answers delete
    // UNIMPLEMENTED, as an upstream server does.
    let err = remote.delete("svn").await.unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedRemoteOperation { .. }),
        "{err}"
    );
    task.abort();
}

#[tokio::test]
async fn the_wall_clock_rvps_serves_fresh_registrations() {
    // The binary's configuration: BuiltinRvps on the system clock.
    let server = Server::start(Arc::new(ServiceConfig::default().build().unwrap())).await;
    let mut client = server.client().await;
    register_svn_and_query_it_back(&mut client, "1").await;
    server.stop().await;
}

#[tokio::test]
async fn remote_rvps_reuses_one_connection_for_every_call_and_clone() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tonic::codegen::tokio_stream::StreamExt as _;
    use tonic::codegen::tokio_stream::wrappers::TcpListenerStream;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let incoming = TcpListenerStream::new(listener).map(move |connection| {
        counter.fetch_add(1, Ordering::SeqCst);
        connection
    });
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(rvps::grpc::RvpsService::new(memory_rvps()).into_server())
            .serve_with_incoming(incoming),
    );

    let remote = RemoteRvps::connect_lazy(&addr.to_string()).unwrap();
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "lazy: no connection yet"
    );
    remote
        .register(&sample_message(&json!({"svn": ["1"]})))
        .await
        .unwrap();
    let clone = remote.clone();
    let (a, b) = tokio::join!(remote.query("svn"), clone.query("svn"));
    assert_eq!(a.unwrap(), Some(json!(["1"])));
    assert_eq!(b.unwrap(), Some(json!(["1"])));
    for _ in 0..5 {
        remote.query("svn").await.unwrap();
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    task.abort();
}
