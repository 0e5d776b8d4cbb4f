//! Attestation policies: read, list and delete through the policy-management extension
//! (`GetAttestationPolicy`, `ListAttestationPolicies`, `DeleteAttestationPolicy`), against a
//! real `grpc-as`, an upstream-like AS without them, a fork-like AS with odd answers, and no AS.

use protos::attestation::attestation_service_server::{
    AttestationService, AttestationServiceServer,
};
use protos::attestation::list_policies_response::PolicyInfo;
use protos::attestation::{
    AttestationResponse, ChallengeResponse, DeletePolicyRequest, DeletePolicyResponse,
    GetPolicyRequest, GetPolicyResponse, ListPoliciesRequest, ListPoliciesResponse,
    SetPolicyResponse,
};

use super::*;

const POLICY_URI: &str = "/kbs/v0/attestation-policy";

/// `package policy\ndefault allow := true\n`, base64url without padding.
fn allow_b64() -> String {
    URL_SAFE_NO_PAD.encode("package policy\ndefault allow := true\n")
}

/// One admin call to the attestation-policy endpoint: `GET`/`DELETE` of `id` (the list when
/// empty), or `POST` of `body`.
async fn policy_call(
    state: &crate::app::AppState,
    method: &str,
    id: &str,
    body: String,
) -> (StatusCode, Value) {
    let uri = if id.is_empty() {
        POLICY_URI.to_owned()
    } else {
        format!("{POLICY_URI}/{id}")
    };
    let (status, body, _) = send(state, method, &uri, None, body).await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_read_listed_and_deleted_through_grpc_as_as_with_the_builtin_as() {
    let (_provider, rvps, through_grpc_as) = kbs_over_grpc_as_over_rvps().await;
    let builtin = kbs_builtin_over_rvps(rvps.addr).await;
    let set = |id: &str| json!({"policy_id": id, "policy": allow_b64()}).to_string();
    let mut answers: Vec<Vec<(StatusCode, Value)>> = Vec::new();
    for (backend, state) in [
        ("coco_as_grpc", &through_grpc_as),
        ("coco_as_builtin", &builtin),
    ] {
        let mut seen = Vec::new();
        let mut call = async |method: &str, id: &str, body: String| {
            let answer = policy_call(state, method, id, body).await;
            seen.push(answer.clone());
            answer
        };
        let (status, shipped_ids) = call("GET", "", String::new()).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {shipped_ids}");
        assert!(
            shipped_ids
                .as_array()
                .unwrap()
                .contains(&json!("default_cpu")),
            "{backend}: {shipped_ids}"
        );
        assert_eq!(call("POST", "", set("p1")).await.0, StatusCode::OK);
        let (_, ids) = call("GET", "", String::new()).await;
        assert!(ids.as_array().unwrap().contains(&json!("p1")), "{backend}");
        let (status, policy) = call("GET", "p1", String::new()).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {policy}");
        assert_eq!(policy, json!({"policy_id": "p1", "policy": allow_b64()}));

        assert_eq!(call("DELETE", "p1", String::new()).await.0, StatusCode::OK);
        for method in ["GET", "DELETE"] {
            let (status, problem) = call(method, "p1", String::new()).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{backend} {method}: {problem}"
            );
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .contains("attestation policy \"p1\" not found"),
                "{backend} {method}: {problem}"
            );
        }
        assert_eq!(call("GET", "", String::new()).await.1, shipped_ids);

        // deleting a shipped default restores its shipped text
        let (_, shipped) = call("GET", "default_cpu", String::new()).await;
        assert_eq!(call("POST", "", set("default_cpu")).await.0, StatusCode::OK);
        assert_eq!(
            call("DELETE", "default_cpu", String::new()).await.0,
            StatusCode::OK
        );
        assert_eq!(call("GET", "default_cpu", String::new()).await.1, shipped);

        // an id that can never name a policy is the admin's bad request
        for method in ["GET", "DELETE"] {
            let (status, problem) = call(method, "a:b", String::new()).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{backend} {method}: {problem}"
            );
        }
        answers.push(seen);
    }
    // the same statuses, and the same bodies wherever they are not problem details
    let [grpc, builtin] = &answers[..] else {
        panic!("two backends");
    };
    assert_eq!(grpc.len(), builtin.len());
    for (i, (g, b)) in grpc.iter().zip(builtin).enumerate() {
        assert_eq!(g.0, b.0, "call {i}: {} vs {}", g.1, b.1);
        if g.0 == StatusCode::OK {
            assert_eq!(g.1, b.1, "call {i}");
        } else {
            assert_eq!(g.1["type"], b.1["type"], "call {i}");
        }
    }
    rvps.stop().await;
}

#[tokio::test]
async fn policy_calls_to_an_upstream_as_are_501_naming_the_rpc() {
    // the fake implements upstream's methods only: the extension answers UNIMPLEMENTED
    let (fake, server, state) = kbs_over_fake().await;
    for (method, id, rpc) in [
        ("GET", "", "ListAttestationPolicies"),
        ("GET", "default_cpu", "GetAttestationPolicy"),
        ("DELETE", "default_cpu", "DeleteAttestationPolicy"),
    ] {
        let uri = format!("{POLICY_URI}/{id}");
        let answer = send(
            &state,
            method,
            uri.trim_end_matches('/'),
            None,
            String::new(),
        )
        .await;
        assert_problem(
            &format!("{method} {uri}"),
            &answer,
            StatusCode::NOT_IMPLEMENTED,
            "AttestationError",
            &[
                &format!(
                    "attestation service at http://{} does not support {rpc}",
                    server.addr
                ),
                "UNIMPLEMENTED",
                "beyond upstream",
            ],
        );
    }
    // setting a policy is upstream's and still works
    let set = json!({"policy_id": "p1", "policy": allow_b64()}).to_string();
    assert_eq!(policy_call(&state, "POST", "", set).await.0, StatusCode::OK);
    assert_eq!(fake.state.policies.lock().unwrap().len(), 1);

    let client = backend(server.addr, 1, Duration::from_secs(30));
    let err = client.delete_policy("p1").await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::RemoteUnsupported {
                operation: RemoteOperation::DeleteAttestationPolicy,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    server.stop().await;
}

#[tokio::test]
async fn policy_calls_to_an_unreachable_as_are_503() {
    let addr = dead_addr().await;
    let state = kbs_for(addr).await;
    for (method, id) in [
        ("GET", ""),
        ("GET", "default_cpu"),
        ("DELETE", "default_cpu"),
    ] {
        let uri = format!("{POLICY_URI}/{id}");
        let uri = uri.trim_end_matches('/');
        let answer = send(&state, method, uri, None, String::new()).await;
        assert_unavailable(
            &format!("{method} {uri}"),
            &answer,
            AS_UNAVAILABLE_TYPE,
            &[&as_unavailable(addr)],
        );
    }
}

/// An AS with the extension that answers what it is told to.
#[derive(Clone, Default)]
struct ForkLike {
    policy: String,
    policies: Vec<PolicyInfo>,
    status: Option<(Code, &'static str)>,
}

#[async_trait]
impl AttestationService for ForkLike {
    async fn attestation_evaluate(
        &self,
        _request: tonic::Request<AttestationRequest>,
    ) -> Result<tonic::Response<AttestationResponse>, Status> {
        Err(Status::aborted("not used"))
    }

    async fn set_attestation_policy(
        &self,
        _request: tonic::Request<SetPolicyRequest>,
    ) -> Result<tonic::Response<SetPolicyResponse>, Status> {
        Err(Status::aborted("not used"))
    }

    async fn get_attestation_challenge(
        &self,
        _request: tonic::Request<ChallengeRequest>,
    ) -> Result<tonic::Response<ChallengeResponse>, Status> {
        Err(Status::aborted("not used"))
    }

    async fn get_attestation_policy(
        &self,
        _request: tonic::Request<GetPolicyRequest>,
    ) -> Result<tonic::Response<GetPolicyResponse>, Status> {
        self.fail()?;
        Ok(tonic::Response::new(GetPolicyResponse {
            policy: self.policy.clone(),
        }))
    }

    async fn list_attestation_policies(
        &self,
        _request: tonic::Request<ListPoliciesRequest>,
    ) -> Result<tonic::Response<ListPoliciesResponse>, Status> {
        self.fail()?;
        Ok(tonic::Response::new(ListPoliciesResponse {
            policies: self.policies.clone(),
        }))
    }

    async fn delete_attestation_policy(
        &self,
        _request: tonic::Request<DeletePolicyRequest>,
    ) -> Result<tonic::Response<DeletePolicyResponse>, Status> {
        self.fail()?;
        Ok(tonic::Response::new(DeletePolicyResponse {}))
    }
}

impl ForkLike {
    fn fail(&self) -> Result<(), Status> {
        match self.status {
            Some((code, message)) => Err(Status::new(code, message)),
            None => Ok(()),
        }
    }

    async fn serve(self) -> Served<tonic::transport::Error> {
        Served::spawn(loopback(), |listener, shutdown| {
            tonic::transport::Server::builder()
                .add_service(AttestationServiceServer::new(self))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    shutdown,
                )
        })
        .await
    }
}

fn info(policy_id: &str) -> PolicyInfo {
    PolicyInfo {
        policy_id: policy_id.into(),
        policy_hash: "h".into(),
    }
}

#[tokio::test]
async fn fork_like_answers_are_sorted_checked_and_mapped() {
    // any order, duplicates: the KBS lists sorted ids, as with the builtin AS
    let server = ForkLike {
        policy: allow_b64(),
        policies: vec![info("b"), info("a"), info("b")],
        status: None,
    }
    .serve()
    .await;
    let client = backend(server.addr, 1, Duration::from_secs(30));
    assert_eq!(client.list_policies().await.unwrap(), ["a", "b"]);
    assert_eq!(
        client.get_policy("p").await.unwrap(),
        "package policy\ndefault allow := true\n"
    );
    client.delete_policy("p").await.unwrap();
    server.stop().await;

    // unusable answers name what is wrong and are the AS's fault (500)
    for (fork, operation, needle) in [
        (
            ForkLike {
                policy: "cGFja2FnZQ==".into(),
                ..ForkLike::default()
            },
            RemoteOperation::GetAttestationPolicy,
            "policy is not base64url without padding",
        ),
        (
            ForkLike {
                // 0xff 0xfe
                policy: "__4".into(),
                ..ForkLike::default()
            },
            RemoteOperation::GetAttestationPolicy,
            "policy is not utf-8 text",
        ),
        (
            ForkLike {
                policies: vec![info("a"), info("")],
                ..ForkLike::default()
            },
            RemoteOperation::ListAttestationPolicies,
            "empty policy_id",
        ),
    ] {
        let server = fork.serve().await;
        let client = backend(server.addr, 1, Duration::from_secs(30));
        let err = match operation {
            RemoteOperation::GetAttestationPolicy => client.get_policy("p").await.unwrap_err(),
            _ => client.list_policies().await.unwrap_err(),
        };
        assert!(
            matches!(&err, Error::InvalidResponse { operation: op, reason, .. }
                if *op == operation && reason.contains(needle)),
            "{err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Internal);
        server.stop().await;
    }

    // NOT_FOUND is the builtin AS's unknown policy; other refusals keep the AS's message
    for (code, kind) in [
        (Code::NotFound, ErrorKind::NotFound),
        (Code::InvalidArgument, ErrorKind::BadRequest),
        (Code::Aborted, ErrorKind::Internal),
    ] {
        let server = ForkLike {
            status: Some((code, "policy store said no")),
            ..ForkLike::default()
        }
        .serve()
        .await;
        let client = backend(server.addr, 1, Duration::from_secs(30));
        let errors = [
            client.get_policy("p").await.unwrap_err(),
            client.delete_policy("p").await.unwrap_err(),
        ];
        for err in errors {
            assert_eq!(err.kind(), kind, "{code:?}: {err:?}");
            if code == Code::NotFound {
                assert!(
                    matches!(&err, Error::PolicyNotFound { id } if id == "p"),
                    "{err:?}"
                );
            } else {
                assert!(err.to_string().contains("policy store said no"), "{err}");
            }
        }
        let err = client.list_policies().await.unwrap_err();
        assert!(
            matches!(&err, Error::Remote { operation: RemoteOperation::ListAttestationPolicies, code: c, .. } if *c == code),
            "{err:?}"
        );
        server.stop().await;
    }
}
