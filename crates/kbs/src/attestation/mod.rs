//! Attestation backends (spec §6): what `/auth`, `/attest` and the AS admin endpoints call.
//!
//! The KBS never looks inside evidence: it builds the verification requests (runtime data,
//! hash algorithm, init data) exactly as upstream does, so report-data bindings computed by
//! upstream guests match, and hands them to a backend that returns a token.

mod builtin;
pub mod grpc;

use async_trait::async_trait;
use attestation_service::{InitData, RuntimeData, VerificationRequest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kbs_types::{Attestation, Challenge, HashAlgorithm, Tee};
use serde_json::{Value, json};

pub use builtin::BuiltinBackend;
pub use grpc::{GrpcBackend, GrpcSettings, RemoteOperation};

/// The attestation-policy ids the KBS asks the AS to appraise with (spec §6.1).
pub const POLICY_IDS: [&str; 1] = ["default"];

/// Bytes of randomness in a challenge nonce (44 base64 characters).
const NONCE_LEN: usize = 32;

/// Attestation-backend failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `init-data.format` is not `toml`, the only format the CoCo AS understands.
    #[error("unsupported init-data format {format:?}: only \"toml\" is accepted")]
    UnsupportedInitDataFormat {
        /// The format sent.
        format: String,
    },
    /// `additional_evidence` is not a JSON object of TEE name → evidence.
    #[error("additional_evidence is not a JSON object mapping TEE names to evidence: {reason}")]
    InvalidAdditionalEvidence {
        /// What is wrong.
        reason: String,
    },
    /// The client's `extra-params` rule out every hash this TEE can use.
    #[error("extra-params: {reason}")]
    HashNegotiation {
        /// What is wrong.
        reason: &'static str,
    },
    /// The system random generator failed.
    #[error("random number generator failed")]
    Rng,
    /// No attestation policy with this id.
    #[error("attestation policy {id:?} not found")]
    PolicyNotFound {
        /// The requested id.
        id: String,
    },
    /// No reference value with this id.
    #[error("no reference value found for the given id: {id}")]
    ReferenceValueNotFound {
        /// The requested id.
        id: String,
    },
    /// The attestation service refused or failed.
    #[error("{0}")]
    Service(#[from] attestation_service::Error),
    /// The remote attestation service could not be reached or did not answer in time.
    #[error("attestation service at {addr} is unavailable: {reason}")]
    Unavailable {
        /// The configured `as_addr`.
        addr: String,
        /// What went wrong (connection refused, timeout, connection lost, …).
        reason: String,
    },
    /// The remote attestation service is up but could not reach its reference value provider
    /// (`UNAVAILABLE` marked as such by the AS): nothing was decided, a retry may succeed.
    #[error(
        "attestation service at {addr} could not reach its reference value provider: {message}"
    )]
    RemoteRvpsUnavailable {
        /// The configured `as_addr`.
        addr: String,
        /// The service's message, truncated.
        message: String,
    },
    /// The remote attestation service answered with an error status.
    #[error("attestation service at {addr} refused {operation} ({code:?}): {message}")]
    Remote {
        /// The configured `as_addr`.
        addr: String,
        /// The RPC.
        operation: RemoteOperation,
        /// The gRPC status code (the CoCo AS answers every failure with `Aborted`).
        code: tonic::Code,
        /// The service's message, truncated.
        message: String,
    },
    /// The remote attestation service answered something this KBS cannot use.
    #[error(
        "attestation service at {addr} answered {operation} with an unusable response: {reason}"
    )]
    InvalidResponse {
        /// The configured `as_addr`.
        addr: String,
        /// The RPC.
        operation: RemoteOperation,
        /// What is wrong with the answer.
        reason: String,
    },
    /// The remote attestation service lacks an RPC beyond upstream's AS API that this KBS needs
    /// for the request (it answered `UNIMPLEMENTED`, as an upstream AS does).
    #[error(
        "attestation service at {addr} does not support {operation}: it answered UNIMPLEMENTED \
         (the call is an extension beyond upstream's attestation service API, which an upstream \
         AS lacks)"
    )]
    RemoteUnsupported {
        /// The configured `as_addr`.
        addr: String,
        /// The RPC.
        operation: RemoteOperation,
    },
    /// The configured backend has no way to do this.
    #[error("{operation} is not supported with [attestation_service] type = \"{backend}\"")]
    Unsupported {
        /// What was asked.
        operation: &'static str,
        /// The configured backend type.
        backend: &'static str,
    },
    /// This attestation backend has no way to delete reference values.
    #[error("deleting a reference value is not supported by this attestation backend")]
    ReferenceValueDeleteUnsupported,
    /// A `[attestation_service]` setting of the gRPC backend cannot be used.
    #[error("[attestation_service] {key} = {value:?} is invalid: {reason}")]
    InvalidSetting {
        /// The key.
        key: &'static str,
        /// The configured value.
        value: String,
        /// Why.
        reason: String,
    },
}

/// How an [`Error`] should be reported to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The client sent something unusable.
    BadRequest,
    /// The thing asked for does not exist.
    NotFound,
    /// Evidence or credentials were refused.
    Refused,
    /// The service itself failed.
    Internal,
    /// The (remote) attestation service cannot be reached now; retrying later may succeed.
    Unavailable,
    /// The configured backend cannot do this at all.
    Unsupported,
}

impl Error {
    /// How this error should be reported.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnsupportedInitDataFormat { .. }
            | Self::InvalidAdditionalEvidence { .. }
            | Self::HashNegotiation { .. } => ErrorKind::BadRequest,
            Self::PolicyNotFound { .. } | Self::ReferenceValueNotFound { .. } => {
                ErrorKind::NotFound
            }
            Self::Rng | Self::InvalidResponse { .. } | Self::InvalidSetting { .. } => {
                ErrorKind::Internal
            }
            Self::Service(e) => builtin::service_error_kind(e),
            Self::Unavailable { .. } | Self::RemoteRvpsUnavailable { .. } => ErrorKind::Unavailable,
            Self::Remote {
                operation, code, ..
            } => grpc::remote_error_kind(*operation, *code),
            Self::Unsupported { .. }
            | Self::RemoteUnsupported { .. }
            | Self::ReferenceValueDeleteUnsupported => ErrorKind::Unsupported,
        }
    }

    /// Whether this is the AS's reference value provider being unreachable (the builtin AS's
    /// `GrpcRemote` RVPS, or the one a remote AS reported it cannot reach): an
    /// [`ErrorKind::Unavailable`] that names the RVPS rather than the AS.
    pub fn rvps_unavailable(&self) -> bool {
        match self {
            Self::Service(e) => builtin::rvps_unavailable(e),
            Self::RemoteRvpsUnavailable { .. } => true,
            _ => false,
        }
    }
}

/// An attestation backend: the in-process AS ([`BuiltinBackend`]) or a remote one over gRPC
/// ([`GrpcBackend`]).
#[async_trait]
pub trait AttestationBackend: Send + Sync {
    /// The `/auth` challenge for `tee` given the client's `extra-params`.
    async fn generate_challenge(&self, tee: Tee, extra_params: &Value) -> Result<Challenge, Error> {
        default_challenge(tee, extra_params)
    }

    /// Verifies `attestation` (evidence of `tee`, bound to `nonce`) and returns the token.
    async fn verify(
        &self,
        tee: Tee,
        attestation: &Attestation,
        nonce: &str,
    ) -> Result<String, Error>;

    /// Stores an attestation policy given as base64url (no padding) Rego text.
    async fn set_policy(&self, id: &str, policy_b64url: &str) -> Result<(), Error>;

    /// The Rego text of an attestation policy.
    async fn get_policy(&self, id: &str) -> Result<String, Error>;

    /// The ids of the stored attestation policies.
    async fn list_policies(&self) -> Result<Vec<String>, Error>;

    /// Deletes an attestation policy.
    async fn delete_policy(&self, id: &str) -> Result<(), Error>;

    /// Registers reference values from an RVPS message (JSON text).
    async fn register_reference_value(&self, message: &str) -> Result<(), Error>;

    /// The reference value stored under `id`, if any.
    async fn query_reference_value(&self, id: &str) -> Result<Option<Value>, Error>;

    /// Deletes the reference value stored under `id` ([`Error::ReferenceValueNotFound`] when
    /// there is none). An extension beyond upstream, whose KBS cannot delete reference values:
    /// a backend without a way to do it keeps this default, [`ErrorKind::Unsupported`].
    async fn delete_reference_value(&self, id: &str) -> Result<(), Error> {
        let _ = id;
        Err(Error::ReferenceValueDeleteUnsupported)
    }
}

/// Challenge for the CoCo AS backends (spec §3.1): a fresh 32-byte nonce, standard base64, and
/// `extra-params` `""` — except for IBM SE, whose binding uses SHA-512 and must say so.
pub fn default_challenge(tee: Tee, extra_params: &Value) -> Result<Challenge, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::Rng)?;
    let extra_params = if tee == Tee::Se {
        se_extra_params(extra_params)?
    } else {
        json!("")
    };
    Ok(Challenge {
        nonce: STANDARD.encode(nonce),
        extra_params,
    })
}

fn se_extra_params(client: &Value) -> Result<Value, Error> {
    let Some(offered) = client.get("supported-hash-algorithms") else {
        return Ok(json!(""));
    };
    let offered = offered.as_array().ok_or(Error::HashNegotiation {
        reason: "supported-hash-algorithms is not an array",
    })?;
    let has_sha512 = offered
        .iter()
        .filter_map(Value::as_str)
        .any(|a| a.eq_ignore_ascii_case("sha512"));
    if !has_sha512 {
        return Err(Error::HashNegotiation {
            reason: "IBM SE needs sha512, which the client does not offer",
        });
    }
    Ok(json!({"selected-hash-algorithm": "sha512"}))
}

/// The hash the AS applies to the canonical runtime data (spec §3.3).
pub fn runtime_data_hash_algorithm(tee: Tee) -> HashAlgorithm {
    if tee == Tee::Se {
        HashAlgorithm::Sha512
    } else {
        HashAlgorithm::Sha384
    }
}

/// The verification requests for one `/attest` body (spec §3.2 step 6): the primary evidence
/// bound to `{tee-pubkey, nonce, additional-evidence}`, then one request per additional device
/// bound to `{tee-pubkey, nonce}`.
pub fn verification_requests(
    tee: Tee,
    attestation: &Attestation,
    nonce: &str,
) -> Result<Vec<VerificationRequest>, Error> {
    let hash = runtime_data_hash_algorithm(tee);
    let tee_pubkey = serde_json::to_value(&attestation.runtime_data.tee_pubkey).map_err(|e| {
        // Serialising a parsed key cannot fail; report it as a bad request if it ever does.
        Error::InvalidAdditionalEvidence {
            reason: e.to_string(),
        }
    })?;
    let additional = &attestation.tee_evidence.additional_evidence;
    let init_data = match &attestation.init_data {
        None => None,
        Some(d) if d.format == "toml" => Some(InitData::Toml(d.body.clone())),
        Some(d) => {
            return Err(Error::UnsupportedInitDataFormat {
                format: d.format.clone(),
            });
        }
    };
    let mut requests = vec![VerificationRequest {
        tee,
        evidence: attestation.tee_evidence.primary_evidence.clone(),
        runtime_data: Some(RuntimeData::Structured(json!({
            "tee-pubkey": tee_pubkey,
            "nonce": nonce,
            "additional-evidence": additional,
        }))),
        runtime_data_hash_algorithm: hash,
        init_data,
    }];
    if !additional.is_empty() {
        let devices: serde_json::Map<String, Value> =
            serde_json::from_str(additional).map_err(|e| Error::InvalidAdditionalEvidence {
                reason: e.to_string(),
            })?;
        for (name, evidence) in devices {
            let device_tee: Tee =
                serde_json::from_value(Value::String(name.clone())).map_err(|_| {
                    Error::InvalidAdditionalEvidence {
                        reason: format!("unknown TEE {name:?}"),
                    }
                })?;
            requests.push(VerificationRequest {
                tee: device_tee,
                evidence,
                runtime_data: Some(RuntimeData::Structured(json!({
                    "tee-pubkey": tee_pubkey,
                    "nonce": nonce,
                }))),
                runtime_data_hash_algorithm: hash,
                init_data: None,
            });
        }
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use kbs_types::{
        CompositeEvidence, InitData as WireInitData, RuntimeData as WireRuntimeData, TeePubKey,
    };

    use std::future::Future;
    use std::net::SocketAddr;
    use std::pin::Pin;
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;
    use tower::ServiceExt as _;

    use super::*;

    /// A KBS (application state) from the TOML configuration `text`.
    pub(super) async fn kbs_from_toml(text: &str) -> crate::app::AppState {
        let config = crate::config::KbsConfig::from_toml(text).unwrap();
        std::sync::Arc::new(crate::app::Kbs::from_config(&config).await.unwrap())
    }

    /// One request through the whole KBS router: the status, the body as JSON (`null` when it
    /// is not JSON) and the headers.
    pub(super) async fn send(
        state: &crate::app::AppState,
        method: &str,
        uri: &str,
        cookie: Option<&str>,
        body: String,
    ) -> (StatusCode, Value, axum::http::HeaderMap) {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(cookie) = cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        let response = crate::http::router(state.clone())
            .oneshot(builder.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json, headers)
    }

    /// `/auth` then `/attest` with sample evidence bound to the session; returns the `/attest` answer and the cookie.
    pub(super) async fn auth_attest(
        state: &crate::app::AppState,
        key: &jose::TeeKeyPair,
    ) -> ((StatusCode, Value, axum::http::HeaderMap), String) {
        let auth = json!({"version": "0.4.0", "tee": "sample", "extra-params": ""}).to_string();
        let (status, challenge, headers) = send(state, "POST", "/kbs/v0/auth", None, auth).await;
        assert_eq!(status, StatusCode::OK, "{challenge}");
        let cookie = headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let nonce = challenge["nonce"].as_str().unwrap();
        let tee_pubkey = key.public_key().unwrap();
        // bound as the AS checks it: SHA-384 of the canonical runtime data (spec §3.3)
        let bound = json!({"tee-pubkey": tee_pubkey, "nonce": nonce, "additional-evidence": ""});
        let report_data =
            STANDARD.encode(jose::jcs::runtime_data_digest(&bound, HashAlgorithm::Sha384).unwrap());
        let attestation = json!({
            "runtime-data": {"nonce": nonce, "tee-pubkey": tee_pubkey},
            "tee-evidence": {
                "primary_evidence": {"svn": "1", "report_data": report_data},
                "additional_evidence": "",
            },
        });
        let answer = send(
            state,
            "POST",
            "/kbs/v0/attest",
            Some(&cookie),
            attestation.to_string(),
        )
        .await;
        (answer, cookie)
    }

    /// Sample evidence bound to report data 01 02 03, with `additional` as the
    /// `additional_evidence` text; shared with the gRPC backend's tests.
    pub(super) fn attestation(additional: &str, init_data: Option<(&str, &str)>) -> Attestation {
        Attestation {
            init_data: init_data.map(|(format, body)| WireInitData {
                format: format.into(),
                body: body.into(),
            }),
            runtime_data: WireRuntimeData {
                nonce: "n".into(),
                tee_pubkey: TeePubKey::EC {
                    crv: "P-256".into(),
                    alg: "ECDH-ES+A256KW".into(),
                    x: "x".into(),
                    y: "y".into(),
                },
            },
            tee_evidence: CompositeEvidence {
                primary_evidence: json!({"svn": "1", "report_data": "AQID"}),
                additional_evidence: additional.into(),
            },
        }
    }

    /// One answer of the KBS router: the status, the body as JSON and the headers.
    pub(super) type Answer = (StatusCode, Value, axum::http::HeaderMap);

    /// The TOML of a KBS on plain HTTP that accepts tokens with a header JWK, lets every admin
    /// call through and stores resources in memory, with `attestation_service` as the body of
    /// its `[attestation_service]` table.
    pub(super) fn kbs_toml(attestation_service: &str) -> String {
        format!(
            r#"
[http_server]
insecure_http = true
[attestation_token]
insecure_header_jwk = true
[attestation_service]
{attestation_service}
[admin]
authorization_mode = "InsecureAllowAll"
[[plugins]]
name = "resource"
storage_backend_type = "kvstorage"
"#
        )
    }

    /// A KBS with the builtin AS reading reference values from the RVPS at `rvps`.
    pub(super) async fn kbs_builtin_over_rvps(rvps: SocketAddr) -> crate::app::AppState {
        kbs_from_toml(&kbs_toml(&format!(
            r#"type = "coco_as_builtin"
[attestation_service.rvps_config]
type = "GrpcRemote"
address = "http://{rvps}""#
        )))
        .await
    }

    /// Where [`store_secret`] stores the secret.
    const SECRET_URI: &str = "/kbs/v0/resource/default/test/secret";

    /// Stores `s3cret` at [`SECRET_URI`] under a resource policy that allows every attested
    /// session; neither needs the AS.
    pub(super) async fn store_secret(state: &crate::app::AppState) {
        let allow = URL_SAFE_NO_PAD.encode("package policy\ndefault allow := true\n");
        for (uri, body) in [
            (
                "/kbs/v0/resource-policy",
                json!({ "policy": allow }).to_string(),
            ),
            (SECRET_URI, "s3cret".to_owned()),
        ] {
            let (status, problem, _) = send(state, "POST", uri, None, body).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {problem}");
        }
    }

    /// The secret [`store_secret`] stored, read with the session `cookie`: the status and the
    /// body (the JWE when it is released).
    pub(super) async fn get_secret(
        state: &crate::app::AppState,
        cookie: &str,
    ) -> (StatusCode, Value) {
        let (status, body, _) = send(state, "GET", SECRET_URI, Some(cookie), String::new()).await;
        (status, body)
    }

    /// [`auth_attest`] that must succeed; returns the `/attest` body (with the token) and the
    /// cookie.
    pub(super) async fn attest_ok(
        state: &crate::app::AppState,
        key: &jose::TeeKeyPair,
    ) -> (Value, String) {
        let ((status, body, _), cookie) = auth_attest(state, key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (body, cookie)
    }

    /// Asserts that `answer` is a problem with `status` and type `problem_type` (the name after
    /// [`crate::error::PROBLEM_TYPE_PREFIX`]) whose detail contains every one of `needles`;
    /// `what` names the call in failure messages.
    pub(super) fn assert_problem(
        what: &str,
        answer: &Answer,
        status: StatusCode,
        problem_type: &str,
        needles: &[&str],
    ) {
        let (actual, problem, _) = answer;
        assert_eq!(*actual, status, "{what}: {problem}");
        assert_eq!(
            problem["type"],
            format!("{}{problem_type}", crate::error::PROBLEM_TYPE_PREFIX),
            "{what}"
        );
        let detail = problem["detail"].as_str().unwrap();
        for needle in needles {
            assert!(detail.contains(needle), "{what}: {detail}");
        }
    }

    /// [`assert_problem`] for a 503 (`problem_type` is the AS's or the RVPS's unavailability),
    /// which tells the client when to retry.
    pub(super) fn assert_unavailable(
        what: &str,
        answer: &Answer,
        problem_type: &str,
        needles: &[&str],
    ) {
        assert_problem(
            what,
            answer,
            StatusCode::SERVICE_UNAVAILABLE,
            problem_type,
            needles,
        );
        assert_eq!(answer.2[header::RETRY_AFTER], "5", "{what}");
    }

    /// A `sample` register message setting reference value `name` to `values`.
    pub(super) fn sample_message(name: &str, values: &Value) -> String {
        let payload = STANDARD.encode(json!({ name: values }).to_string());
        json!({"version": "0.1.0", "type": "sample", "payload": payload}).to_string()
    }

    /// Asserts that registering, reading and deleting reference value `svn` are each a 503
    /// `ReferenceValueProviderUnavailable` whose detail contains `needle`.
    pub(super) async fn assert_reference_value_calls_rvps_unavailable(
        state: &crate::app::AppState,
        needle: &str,
    ) {
        let svn = "/kbs/v0/reference-value/svn";
        for (method, uri, body) in [
            (
                "POST",
                "/kbs/v0/reference-value",
                sample_message("svn", &json!(["1"])),
            ),
            ("GET", svn, String::new()),
            ("DELETE", svn, String::new()),
        ] {
            let answer = send(state, method, uri, None, body).await;
            assert_unavailable(
                &format!("{method} {uri}"),
                &answer,
                crate::error::RVPS_UNAVAILABLE_TYPE,
                &[needle],
            );
        }
    }

    /// An ephemeral loopback address to bind.
    pub(super) fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    /// What a server spawned by [`Served::spawn`] waits on to shut down.
    pub(super) type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

    /// A server running in process on a bound address until stopped.
    pub(super) struct Served<E> {
        /// Where it listens.
        pub(super) addr: SocketAddr,
        shutdown: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<Result<(), E>>,
    }

    impl<E: std::fmt::Debug + Send + 'static> Served<E> {
        /// Binds `addr` and spawns `serve` on the listener with the shutdown signal.
        pub(super) async fn spawn<F>(
            addr: SocketAddr,
            serve: impl FnOnce(TcpListener, Shutdown) -> F,
        ) -> Self
        where
            F: Future<Output = Result<(), E>> + Send + 'static,
        {
            let listener = TcpListener::bind(addr).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (shutdown, stop) = oneshot::channel::<()>();
            let task = tokio::spawn(serve(
                listener,
                Box::pin(async {
                    let _ = stop.await;
                }),
            ));
            Self {
                addr,
                shutdown,
                task,
            }
        }

        /// Stops accepting and closes every connection, as a stopped server does, and waits
        /// until it has stopped without an error.
        pub(super) async fn stop(self) {
            let _ = self.shutdown.send(());
            tokio::time::timeout(std::time::Duration::from_secs(10), self.task)
                .await
                .expect("server did not stop")
                .unwrap()
                .unwrap();
        }

        /// Ends the server at once, without a graceful shutdown.
        pub(super) fn abort(self) {
            self.task.abort();
        }
    }

    /// An RVPS keeping its reference values in memory.
    pub(super) fn memory_rvps() -> Arc<dyn rvps::ReferenceValueProvider> {
        Arc::new(rvps::BuiltinRvps::new(Arc::new(
            storage::memory::MemoryStore::new(),
        )))
    }

    /// `provider` served as an RVPS over gRPC on `addr`.
    pub(super) async fn serve_rvps(
        addr: SocketAddr,
        provider: Arc<dyn rvps::ReferenceValueProvider>,
    ) -> Served<tonic::transport::Error> {
        Served::spawn(addr, |listener, shutdown| {
            rvps::grpc::serve(listener, provider, shutdown)
        })
        .await
    }

    #[test]
    fn challenge_nonce_is_44_chars_and_extra_params_empty_string() {
        let c = default_challenge(Tee::Sample, &Value::Null).unwrap();
        assert_eq!(c.nonce.len(), 44);
        assert_eq!(STANDARD.decode(&c.nonce).unwrap().len(), 32);
        assert_eq!(c.extra_params, json!(""));
        assert_ne!(
            default_challenge(Tee::Sample, &Value::Null).unwrap().nonce,
            c.nonce
        );
    }

    #[test]
    fn se_challenge_selects_sha512() {
        let offered = json!({"supported-hash-algorithms": ["sha384", "SHA512"]});
        let c = default_challenge(Tee::Se, &offered).unwrap();
        assert_eq!(c.extra_params, json!({"selected-hash-algorithm": "sha512"}));
        assert_eq!(
            default_challenge(Tee::Se, &json!({})).unwrap().extra_params,
            json!("")
        );
        let bad = json!({"supported-hash-algorithms": ["sha384"]});
        assert!(default_challenge(Tee::Se, &bad).is_err());
        assert_eq!(runtime_data_hash_algorithm(Tee::Se), HashAlgorithm::Sha512);
        assert_eq!(runtime_data_hash_algorithm(Tee::Tdx), HashAlgorithm::Sha384);
    }

    #[test]
    fn primary_runtime_data_carries_additional_evidence() {
        let requests = verification_requests(Tee::Sample, &attestation("", None), "n").unwrap();
        assert_eq!(requests.len(), 1);
        let RuntimeData::Structured(rd) = requests[0].runtime_data.as_ref().unwrap() else {
            panic!("structured runtime data expected");
        };
        assert_eq!(rd["additional-evidence"], json!(""));
        assert_eq!(rd["nonce"], json!("n"));
        assert_eq!(rd["tee-pubkey"]["kty"], json!("EC"));
        assert_eq!(
            requests[0].runtime_data_hash_algorithm,
            HashAlgorithm::Sha384
        );
        assert!(requests[0].init_data.is_none());
    }

    #[test]
    fn additional_devices_get_their_own_requests() {
        let additional = r#"{"sampledevice":{"svn":"2"}}"#;
        let requests =
            verification_requests(Tee::Sample, &attestation(additional, None), "n").unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[1].tee, Tee::SampleDevice);
        assert_eq!(requests[1].evidence, json!({"svn": "2"}));
        let RuntimeData::Structured(rd) = requests[1].runtime_data.as_ref().unwrap() else {
            panic!("structured runtime data expected");
        };
        assert!(rd.get("additional-evidence").is_none());
        let RuntimeData::Structured(primary) = requests[0].runtime_data.as_ref().unwrap() else {
            panic!("structured runtime data expected");
        };
        assert_eq!(primary["additional-evidence"], json!(additional));
    }

    #[test]
    fn bad_additional_evidence_is_refused() {
        for bad in ["not json", r#"{"warp-drive":{}}"#, "[1]"] {
            let err = verification_requests(Tee::Sample, &attestation(bad, None), "n").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BadRequest, "{bad}");
        }
    }

    #[test]
    fn only_toml_init_data_is_accepted() {
        let ok =
            verification_requests(Tee::Sample, &attestation("", Some(("toml", "v"))), "n").unwrap();
        assert_eq!(ok[0].init_data, Some(InitData::Toml("v".into())));
        let err = verification_requests(Tee::Sample, &attestation("", Some(("json", "{}"))), "n")
            .unwrap_err();
        assert!(matches!(err, Error::UnsupportedInitDataFormat { ref format } if format == "json"));
    }
}
