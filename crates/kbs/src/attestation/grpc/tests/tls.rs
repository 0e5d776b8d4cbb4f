//! TLS to the AS (`https://` as_addr, our extension).

use std::path::Path;

use protos::attestation::attestation_service_server::AttestationServiceServer;
use protos::reference::reference_value_provider_service_server::ReferenceValueProviderServiceServer;

use super::*;

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

impl FakeAs {
    /// Serves gRPC over TLS with `testdata/tls/server.crt` on `addr`.
    async fn serve_tls_on(&self, addr: SocketAddr) -> Served<std::io::Error> {
        let router = tonic::service::Routes::new(AttestationServiceServer::new(self.clone()))
            .add_service(ReferenceValueProviderServiceServer::new(self.clone()))
            .into_axum_router();
        serve_tls(addr, router).await
    }
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
