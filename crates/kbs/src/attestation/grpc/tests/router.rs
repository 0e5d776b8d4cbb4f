//! The whole KBS router over the gRPC backend, against the fake AS and a real `grpc-as`.

use super::*;

/// The `[attestation_service]` table of a KBS over the AS at `as_addr`.
pub(super) fn grpc_as_table(as_addr: &str) -> String {
    format!("type = \"coco_as_grpc\"\nas_addr = \"{as_addr}\"\npool_size = 2")
}

/// A KBS over the plaintext AS at `addr`.
pub(super) async fn kbs_for(addr: SocketAddr) -> crate::app::AppState {
    kbs_from_toml(&kbs_toml(&grpc_as_table(&format!("http://{addr}")))).await
}

/// `grpc-as` (the real service) with `config`, as a router.
pub(super) async fn grpc_as_router(config: attestation_service::AsConfig) -> axum::Router {
    let storage = storage::StorageProvider::new(&storage::StorageConfig::default()).unwrap();
    let service = attestation_service::AttestationService::new(config, &storage)
        .await
        .unwrap();
    attestation_service::grpc::router(Arc::new(service)).await
}

/// `grpc-as` in process over the RVPS at `rvps` (`GrpcRemote`); returns its address.
pub(super) async fn serve_grpc_as(rvps: SocketAddr) -> SocketAddr {
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

/// A fake AS on an ephemeral loopback port and a KBS over it.
pub(super) async fn kbs_over_fake() -> (
    FakeAs,
    Served<tonic::transport::Error>,
    crate::app::AppState,
) {
    let fake = FakeAs::new();
    let server = fake.serve().await;
    let state = kbs_for(server.addr).await;
    (fake, server, state)
}

/// rvps <- grpc-as (in process, `GrpcRemote`) <- KBS (`coco_as_grpc`): the RVPS's store, the
/// running RVPS and the KBS.
pub(super) async fn kbs_over_grpc_as_over_rvps() -> (
    Arc<dyn rvps::ReferenceValueProvider>,
    Served<tonic::transport::Error>,
    crate::app::AppState,
) {
    let provider = memory_rvps();
    let rvps = serve_rvps(loopback(), Arc::clone(&provider)).await;
    let state = kbs_for(serve_grpc_as(rvps.addr).await).await;
    (provider, rvps, state)
}

/// The detail of an `AttestationServiceUnavailable` problem for the plaintext AS at `addr`.
pub(super) fn as_unavailable(addr: SocketAddr) -> String {
    format!("attestation service at http://{addr} is unavailable")
}

/// The detail of a `ReferenceValueProviderUnavailable` problem the plaintext AS at `addr`
/// answered.
pub(super) fn as_without_rvps(addr: SocketAddr) -> String {
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
async fn attest_through_an_as_whose_rvps_is_down_is_a_503_naming_the_rvps() {
    let (fake, server, state) = kbs_over_fake().await;
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
    let (provider, rvps, state) = kbs_over_grpc_as_over_rvps().await;
    let rvps_addr = rvps.addr;
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
