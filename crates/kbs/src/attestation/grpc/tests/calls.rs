//! The backend against the fake AS: every call, the connection pool, refusals, an AS that is
//! down, slow, or whose RVPS is down, and recovery on the same port.

use super::*;

/// A loopback address nothing listens on.
pub(super) async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind(loopback()).await.unwrap();
    listener.local_addr().unwrap()
}

/// Settings for the AS at `as_addr`, checked against `ca_cert` when it is `https://`.
pub(super) fn settings(as_addr: String, ca_cert: Option<PathBuf>) -> GrpcSettings {
    GrpcSettings {
        as_addr,
        ca_cert,
        pool_size: 2,
        request_timeout: Duration::from_secs(30),
    }
}

/// A backend for the plaintext AS at `addr`.
pub(super) fn backend(addr: SocketAddr, pool_size: usize, timeout: Duration) -> GrpcBackend {
    GrpcBackend::new(&GrpcSettings {
        pool_size,
        request_timeout: timeout,
        ..settings(format!("http://{addr}"), None)
    })
    .unwrap()
}

/// One evaluation of the sample evidence through `backend`.
pub(super) async fn verify_sample(backend: &GrpcBackend) -> Result<String, Error> {
    backend
        .verify(Tee::Sample, &attestation("", None), "n")
        .await
}

/// The error of one evaluation through `backend`, which must be a 503-kind unavailability.
pub(super) async fn unavailable(backend: &GrpcBackend) -> String {
    let err = verify_sample(backend).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    err.to_string()
}

/// Asserts that `backend`, whose AS is down, serves once `start` brings the AS up on its
/// address (every pooled channel connects), is unavailable once it stops after connections were
/// made, and serves again once it is back.
pub(super) async fn assert_serves_whenever_the_as_is_up<E, F>(
    backend: &GrpcBackend,
    start: impl Fn() -> F,
) where
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
pub(super) async fn assert_register_then_query(backend: &GrpcBackend) {
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
pub(super) async fn se_challenge(backend: &GrpcBackend) -> (Challenge, Value) {
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
