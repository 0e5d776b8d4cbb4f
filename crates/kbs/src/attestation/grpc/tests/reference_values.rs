//! Reference values: delete (our extension), and an AS whose RVPS is down.

use super::*;

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

#[tokio::test]
async fn reference_value_endpoints_map_what_the_as_answers() {
    let (fake, server, state) = kbs_over_fake().await;
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
    let (provider, rvps, state) = kbs_over_grpc_as_over_rvps().await;
    let rvps_addr = rvps.addr;
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
