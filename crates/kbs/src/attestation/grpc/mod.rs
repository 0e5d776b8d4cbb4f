//! `type = "coco_as_grpc"`: a remote CoCo attestation service over gRPC (spec §6.2).
//!
//! Requests are encoded exactly as upstream's KBS encodes them (attestation-service.md §2.4),
//! so this KBS works with an upstream `grpc-as` and an upstream KBS with ours: `tee` is the
//! serde name of the TEE, `evidence` the base64url (no padding) of the compact evidence JSON,
//! the runtime data always `structured_runtime_data` (JSON text), `init_data_toml` only for TOML
//! init data, `runtime_data_hash_algorithm` `sha384` (`sha512` for SE), and
//! `policy_ids = ["default"]`. Additional device evidence travels as further requests in the
//! same `AttestationRequest`. Reference values are registered, queried and deleted through the
//! same address (`reference.ReferenceValueProviderService`, which `grpc-as` serves too; delete
//! is our `DeleteReferenceValue` extension, which an upstream AS answers `UNIMPLEMENTED`: 501).
//! Attestation policies are read, listed and deleted with the policy-management extension of
//! `attestation.AttestationService` (`GetAttestationPolicy`, `ListAttestationPolicies`,
//! `DeleteAttestationPolicy`, as the openanolis/trustee fork and our `grpc-as` serve them): an
//! upstream AS answers those `UNIMPLEMENTED`, which is [`Error::RemoteUnsupported`] (501).
//!
//! Connections: `pool_size` tonic channels, used round-robin. A channel is one HTTP/2
//! connection that multiplexes any number of concurrent calls, so `pool_size` bounds the TCP
//! connections to the AS, not the calls in flight. Channels connect lazily: the KBS starts
//! while the AS is down, and a channel whose connection failed or was lost reconnects on its
//! next call, so service resumes by itself when the AS returns.
//!
//! TLS (our extension beyond upstream): with `as_addr = "https://host:port"` every channel
//! connects over rustls (ALPN `h2`) and verifies the AS certificate for `host` against the CA
//! certificates of `as_ca_cert`, or the platform's roots when that key is absent (see the
//! private `tls` module). A certificate that does not verify is [`Error::Unavailable`] naming
//! the TLS failure; `http://` channels are plaintext as upstream's.
//!
//! Failures: no connection, a lost connection or no answer within the request timeout is
//! [`Error::Unavailable`] (HTTP 503, problem type `AttestationServiceUnavailable`); an error
//! status sent by the AS (the CoCo AS always uses `ABORTED`) is [`Error::Remote`], reported
//! like the builtin AS's refusal of the same operation. Our `grpc-as` answers an evaluation
//! whose reference value provider could not be reached with `UNAVAILABLE` marked in its
//! trailers, and so does a reference-value register, query or delete its RVPS did not answer;
//! that is [`Error::RemoteRvpsUnavailable`] (HTTP 503, problem type
//! `ReferenceValueProviderUnavailable`) for every call, as with the builtin AS.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use attestation_service::grpc::{UNAVAILABLE_COMPONENT_KEY, UNAVAILABLE_RVPS};
use attestation_service::{InitData, RuntimeData, VerificationRequest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kbs_types::{Attestation, Challenge, HashAlgorithm, Tee};
use protos::attestation::attestation_service_client::AttestationServiceClient;
use protos::attestation::individual_attestation_request::{
    InitData as WireInitData, RuntimeData as WireRuntimeData,
};
use protos::attestation::{
    AttestationRequest, ChallengeRequest, DeletePolicyRequest, GetPolicyRequest,
    IndividualAttestationRequest, ListPoliciesRequest, SetPolicyRequest,
};
use protos::reference::reference_value_provider_service_client::ReferenceValueProviderServiceClient;
use protos::reference::{
    ReferenceValueDeleteRequest, ReferenceValueQueryRequest, ReferenceValueRegisterRequest,
};
use serde_json::Value;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::{
    AttestationBackend, Error, ErrorKind, POLICY_IDS, default_challenge, verification_requests,
};

#[cfg(test)]
mod tests;
mod tls;

/// Default `as_addr` (upstream's).
pub const DEFAULT_AS_ADDR: &str = "http://127.0.0.1:50004";
/// Default `pool_size` (upstream's).
pub const DEFAULT_POOL_SIZE: usize = 100;
/// Largest accepted `pool_size`: each channel is a connection and a background task.
pub const MAX_POOL_SIZE: usize = 4096;
/// Default per-call timeout (upstream's 300 s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest a TCP connect to the AS may take (a blackholed address must not use up the whole
/// request timeout before the client hears that the AS is unreachable).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 pings on connections with calls in flight, so a vanished AS host is noticed.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a ping may go unanswered before the connection is dropped.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest AS message copied into a problem `detail`.
const MAX_MESSAGE_CHARS: usize = 2048;

/// How to reach the remote attestation service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcSettings {
    /// `http://host:port` (or `https://host:port`) of `grpc-as`; `http://` is prepended
    /// when no scheme is given.
    pub as_addr: String,
    /// `as_ca_cert`: PEM CA certificates the AS certificate must chain to (https:// only);
    /// the platform's roots when `None`.
    pub ca_cert: Option<PathBuf>,
    /// Number of channels (HTTP/2 connections), used round-robin; 1..=[`MAX_POOL_SIZE`].
    pub pool_size: usize,
    /// Longest one call may take, connecting included.
    pub request_timeout: Duration,
}

impl Default for GrpcSettings {
    fn default() -> Self {
        Self {
            as_addr: DEFAULT_AS_ADDR.to_owned(),
            ca_cert: None,
            pool_size: DEFAULT_POOL_SIZE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl GrpcSettings {
    /// The address with a scheme: `http://` is prepended when none is given, as upstream does
    /// for its RVPS address.
    pub fn uri(&self) -> String {
        let addr = self.as_addr.trim();
        if addr.contains("://") {
            addr.to_owned()
        } else {
            format!("http://{addr}")
        }
    }

    /// How long connecting (TCP, TLS and the HTTP/2 handshake) may take.
    pub fn connect_timeout(&self) -> Duration {
        CONNECT_TIMEOUT.min(self.request_timeout)
    }

    /// Whether `as_addr` is `https://`.
    pub fn is_tls(&self) -> bool {
        self.uri()
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }

    /// Checks the address, the CA setting and the pool size and builds the endpoint every
    /// channel connects to (the CA file itself is read by [`GrpcBackend::new`]). For
    /// `https://` the TLS connector bounds the connect time, not the endpoint.
    pub fn endpoint(&self) -> Result<Endpoint, Error> {
        let uri = self.uri();
        let invalid = |reason: &str| Error::InvalidSetting {
            key: "as_addr",
            value: self.as_addr.clone(),
            reason: reason.to_owned(),
        };
        let endpoint = Endpoint::from_shared(uri)
            .map_err(|_| invalid("not a URI of the form http://host:port or https://host:port"))?;
        let tls = match endpoint.uri().scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(invalid("the scheme must be http:// or https://")),
        };
        if let (false, Some(ca)) = (tls, &self.ca_cert) {
            // a CA bundle with a plaintext address would look like TLS and be none
            return Err(Error::InvalidSetting {
                key: tls::CA_CERT_KEY,
                value: ca.display().to_string(),
                reason: format!(
                    "only used with an https:// as_addr, but as_addr is {}",
                    endpoint.uri()
                ),
            });
        }
        if endpoint.uri().host().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if !(1..=MAX_POOL_SIZE).contains(&self.pool_size) {
            return Err(Error::InvalidSetting {
                key: "pool_size",
                value: self.pool_size.to_string(),
                reason: format!("must be between 1 and {MAX_POOL_SIZE}"),
            });
        }
        if self.request_timeout.is_zero() {
            return Err(Error::InvalidSetting {
                key: "request_timeout_secs",
                value: "0".to_owned(),
                reason: "must be at least 1".to_owned(),
            });
        }
        let endpoint = if tls {
            endpoint
        } else {
            endpoint.connect_timeout(self.connect_timeout())
        };
        Ok(endpoint
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .keep_alive_while_idle(false))
    }
}

/// The RPCs this backend makes, named as in the proto files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteOperation {
    /// `attestation.AttestationService/AttestationEvaluate`.
    AttestationEvaluate,
    /// `attestation.AttestationService/SetAttestationPolicy`.
    SetAttestationPolicy,
    /// `attestation.AttestationService/GetAttestationChallenge`.
    GetAttestationChallenge,
    /// `attestation.AttestationService/GetAttestationPolicy` (extension beyond upstream, as
    /// openanolis/trustee defines it; upstream servers answer `UNIMPLEMENTED`).
    GetAttestationPolicy,
    /// `attestation.AttestationService/ListAttestationPolicies` (extension beyond upstream).
    ListAttestationPolicies,
    /// `attestation.AttestationService/DeleteAttestationPolicy` (extension beyond upstream).
    DeleteAttestationPolicy,
    /// `reference.ReferenceValueProviderService/RegisterReferenceValue`.
    RegisterReferenceValue,
    /// `reference.ReferenceValueProviderService/QueryReferenceValue`.
    QueryReferenceValue,
    /// `reference.ReferenceValueProviderService/DeleteReferenceValue` (our extension beyond
    /// upstream; upstream servers answer `UNIMPLEMENTED`).
    DeleteReferenceValue,
}

impl std::fmt::Display for RemoteOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::AttestationEvaluate => "AttestationEvaluate",
            Self::SetAttestationPolicy => "SetAttestationPolicy",
            Self::GetAttestationChallenge => "GetAttestationChallenge",
            Self::GetAttestationPolicy => "GetAttestationPolicy",
            Self::ListAttestationPolicies => "ListAttestationPolicies",
            Self::DeleteAttestationPolicy => "DeleteAttestationPolicy",
            Self::RegisterReferenceValue => "RegisterReferenceValue",
            Self::QueryReferenceValue => "QueryReferenceValue",
            Self::DeleteReferenceValue => "DeleteReferenceValue",
        })
    }
}

impl RemoteOperation {
    /// Whether this is one of the policy-management RPCs beyond upstream's AS API.
    pub fn is_policy_extension(self) -> bool {
        matches!(
            self,
            Self::GetAttestationPolicy
                | Self::ListAttestationPolicies
                | Self::DeleteAttestationPolicy
        )
    }
}

/// How an error status sent by the AS is reported. The CoCo AS answers every failure with
/// `ABORTED`, so the operation decides: a refused evaluation or challenge is a refused
/// attestation (401, as with the builtin AS), a refused policy or reference-value message is
/// the admin's bad request, a failed query is the AS's own failure. Codes that mean this KBS
/// talks to the wrong server or lacks credentials for it are internal (a misconfiguration),
/// except `UNIMPLEMENTED` for `DeleteReferenceValue` and the policy RPCs: an upstream AS (or
/// its upstream RVPS) without the extension, so unsupported. `DeleteReferenceValue`'s
/// `NOT_FOUND` and `INVALID_ARGUMENT` (an id that can never be stored) both mean nothing is
/// stored under the id. The policy RPCs' `NOT_FOUND` is an unknown policy and their
/// `INVALID_ARGUMENT` an id that can never name one, the admin's bad request, as the builtin
/// AS reports an invalid policy id.
pub(super) fn remote_error_kind(operation: RemoteOperation, code: Code) -> ErrorKind {
    match code {
        Code::Unavailable | Code::DeadlineExceeded => ErrorKind::Unavailable,
        Code::Unimplemented
            if operation == RemoteOperation::DeleteReferenceValue
                || operation.is_policy_extension() =>
        {
            ErrorKind::Unsupported
        }
        Code::NotFound | Code::InvalidArgument
            if operation == RemoteOperation::DeleteReferenceValue =>
        {
            ErrorKind::NotFound
        }
        Code::NotFound if operation.is_policy_extension() => ErrorKind::NotFound,
        Code::InvalidArgument if operation.is_policy_extension() => ErrorKind::BadRequest,
        Code::Unimplemented | Code::Unauthenticated | Code::PermissionDenied => ErrorKind::Internal,
        _ => match operation {
            RemoteOperation::AttestationEvaluate | RemoteOperation::GetAttestationChallenge => {
                ErrorKind::Refused
            }
            RemoteOperation::SetAttestationPolicy | RemoteOperation::RegisterReferenceValue => {
                ErrorKind::BadRequest
            }
            RemoteOperation::QueryReferenceValue
            | RemoteOperation::DeleteReferenceValue
            | RemoteOperation::GetAttestationPolicy
            | RemoteOperation::ListAttestationPolicies
            | RemoteOperation::DeleteAttestationPolicy => ErrorKind::Internal,
        },
    }
}

/// The wire name of a TEE: its serde name (`az-snp-vtpm`, `sampledevice`, …), as upstream's
/// KBS sends it.
pub fn tee_wire_name(tee: Tee) -> String {
    match serde_json::to_value(tee) {
        Ok(Value::String(name)) => name,
        // unit variants always serialise to strings; keep a sane fallback anyway
        _ => tee.as_ref().to_owned(),
    }
}

fn hash_wire_name(hash: HashAlgorithm) -> &'static str {
    match hash {
        HashAlgorithm::Sha256 => "sha256",
        HashAlgorithm::Sha384 => "sha384",
        HashAlgorithm::Sha512 => "sha512",
        HashAlgorithm::Sm3 => "sm3",
    }
}

/// One verification request as upstream's KBS encodes it.
pub fn individual_request(request: &VerificationRequest) -> IndividualAttestationRequest {
    IndividualAttestationRequest {
        tee: tee_wire_name(request.tee),
        // `Value`'s Display is compact JSON text
        evidence: URL_SAFE_NO_PAD.encode(request.evidence.to_string()),
        runtime_data: request.runtime_data.as_ref().map(|rd| match rd {
            RuntimeData::Structured(v) => WireRuntimeData::StructuredRuntimeData(v.to_string()),
            RuntimeData::Raw(bytes) => {
                WireRuntimeData::RawRuntimeData(URL_SAFE_NO_PAD.encode(bytes))
            }
        }),
        init_data: request.init_data.as_ref().map(|init| match init {
            InitData::Toml(text) => WireInitData::InitDataToml(text.clone()),
            InitData::Digest(bytes) => WireInitData::InitDataDigest(URL_SAFE_NO_PAD.encode(bytes)),
        }),
        runtime_data_hash_algorithm: hash_wire_name(request.runtime_data_hash_algorithm).to_owned(),
    }
}

/// The `AttestationEvaluate` request for one `/attest` body (primary evidence first, then one
/// request per additional device), appraised with `policy_ids = ["default"]`.
pub fn attestation_request(
    tee: Tee,
    attestation: &Attestation,
    nonce: &str,
) -> Result<AttestationRequest, Error> {
    let requests = verification_requests(tee, attestation, nonce)?;
    Ok(AttestationRequest {
        verification_requests: requests.iter().map(individual_request).collect(),
        policy_ids: POLICY_IDS.iter().map(|s| (*s).to_owned()).collect(),
    })
}

/// The `GetAttestationChallenge` request for IBM SE: `{"tee":"se","tee_params":<JSON text>}`.
pub fn se_challenge_request(extra_params: &Value) -> ChallengeRequest {
    ChallengeRequest {
        inner: HashMap::from([
            ("tee".to_owned(), "se".to_owned()),
            ("tee_params".to_owned(), extra_params.to_string()),
        ]),
    }
}

/// A remote CoCo attestation service reached over gRPC.
pub struct GrpcBackend {
    addr: String,
    channels: Vec<Channel>,
    next: AtomicUsize,
    request_timeout: Duration,
    connect_timeout: Duration,
}

impl std::fmt::Debug for GrpcBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcBackend")
            .field("addr", &self.addr)
            .field("pool_size", &self.channels.len())
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl GrpcBackend {
    /// Prepares `pool_size` channels to the AS without connecting any (the KBS must start while
    /// the AS is down). For `https://` this reads `as_ca_cert` (or the platform's roots), so
    /// an unusable CA bundle is a startup error naming the key and the path. Must be called
    /// inside a Tokio runtime.
    pub fn new(settings: &GrpcSettings) -> Result<Self, Error> {
        let endpoint = settings.endpoint()?;
        let channels = if settings.is_tls() {
            let connect = tls::TlsConnect::new(
                endpoint.uri(),
                settings.ca_cert.as_deref(),
                settings.connect_timeout(),
            )?;
            (0..settings.pool_size)
                .map(|_| {
                    let connect = connect.clone();
                    endpoint.connect_with_connector_lazy(tower::service_fn(
                        move |_: tonic::transport::Uri| {
                            let connect = connect.clone();
                            async move { connect.connect().await }
                        },
                    ))
                })
                .collect()
        } else {
            (0..settings.pool_size)
                .map(|_| endpoint.connect_lazy())
                .collect()
        };
        Ok(Self {
            addr: settings.uri(),
            channels,
            next: AtomicUsize::new(0),
            request_timeout: settings.request_timeout,
            connect_timeout: settings.connect_timeout(),
        })
    }

    /// The AS address calls go to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn channel(&self) -> Channel {
        // `new` makes 1..=MAX_POOL_SIZE channels, so the index is always in range.
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        self.channels[i].clone()
    }

    /// A request carrying `grpc-timeout`, so the AS too gives up on a call nobody waits for.
    fn request<M>(&self, message: M) -> tonic::Request<M> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.request_timeout);
        request
    }

    /// Runs one RPC on the next channel, bounded by the request timeout.
    async fn call<T, F, Fut>(&self, operation: RemoteOperation, rpc: F) -> Result<T, Error>
    where
        F: FnOnce(Channel) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        match tokio::time::timeout(self.request_timeout, rpc(self.channel())).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(self.status_error(operation, &status)),
            Err(_) => Err(Error::Unavailable {
                addr: self.addr.clone(),
                reason: format!(
                    "no answer to {operation} within {} s",
                    self.request_timeout.as_secs_f64()
                ),
            }),
        }
    }

    fn status_error(&self, operation: RemoteOperation, status: &Status) -> Error {
        if is_rvps_unavailable(status) {
            tracing::warn!(as_addr = %self.addr, %operation, "attestation service cannot reach its reference value provider");
            return Error::RemoteRvpsUnavailable {
                addr: self.addr.clone(),
                message: truncate(status.message()),
            };
        }
        if status.code() == Code::Unimplemented
            && operation.is_policy_extension()
            && std::error::Error::source(status).is_none()
        {
            tracing::warn!(as_addr = %self.addr, %operation, "attestation service lacks the policy-management extension");
            return Error::RemoteUnsupported {
                addr: self.addr.clone(),
                operation,
            };
        }
        if is_transport_failure(status) {
            tracing::warn!(as_addr = %self.addr, %operation, code = ?status.code(), "attestation service unreachable");
            Error::Unavailable {
                addr: self.addr.clone(),
                reason: transport_reason(status, self.connect_timeout),
            }
        } else {
            Error::Remote {
                addr: self.addr.clone(),
                operation,
                code: status.code(),
                message: truncate(status.message()),
            }
        }
    }

    fn invalid_response(&self, operation: RemoteOperation, reason: &str) -> Error {
        Error::InvalidResponse {
            addr: self.addr.clone(),
            operation,
            reason: reason.to_owned(),
        }
    }
}

/// Whether the AS answered that it could not reach its reference value provider: `UNAVAILABLE`
/// with the marker our `grpc-as` puts in the trailers. An `UNAVAILABLE` without it (from the
/// transport, or a proxy in front of a down AS) is the AS being unavailable.
fn is_rvps_unavailable(status: &Status) -> bool {
    status.code() == Code::Unavailable
        && status
            .metadata()
            .get(UNAVAILABLE_COMPONENT_KEY)
            .is_some_and(|value| value == UNAVAILABLE_RVPS)
}

/// Whether a failed call never got an answer from the AS. Statuses the transport makes up
/// locally (connect refused, connection reset, keep-alive timeout, …) carry their cause as
/// `source`; statuses the AS sends in its trailers never do. `UNAVAILABLE` and
/// `DEADLINE_EXCEEDED` mean the same whoever says them.
fn is_transport_failure(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded)
        || std::error::Error::source(status).is_some()
}

/// The status message followed by every cause not already in it ("tcp connect error:
/// Connection refused (os error 111)"), or what timed out.
fn transport_reason(status: &Status, connect_timeout: Duration) -> String {
    let mut chain = std::error::Error::source(status);
    while let Some(cause) = chain {
        // the only tonic-side timeout configured is the connect timeout
        if cause.is::<tonic::TimeoutExpired>() {
            return format!(
                "no connection within {} s (TCP connect or HTTP/2 handshake timed out)",
                connect_timeout.as_secs_f64()
            );
        }
        chain = cause.source();
    }
    let mut reason = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        let text = cause.to_string();
        // tonic's wrapper around every channel failure says nothing the causes do not
        if text != "transport error" && !reason.contains(&text) {
            if !reason.is_empty() {
                reason.push_str(": ");
            }
            reason.push_str(&text);
        }
        source = cause.source();
    }
    if reason.is_empty() {
        reason = format!("{:?}", status.code());
    }
    truncate(&reason)
}

/// The AS's `NOT_FOUND` for a policy id, reported as the builtin AS reports an unknown policy.
fn policy_not_found(err: Error, id: &str) -> Error {
    match err {
        Error::Remote {
            code: Code::NotFound,
            ..
        } => Error::PolicyNotFound { id: id.to_owned() },
        other => other,
    }
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[async_trait]
impl AttestationBackend for GrpcBackend {
    async fn generate_challenge(&self, tee: Tee, extra_params: &Value) -> Result<Challenge, Error> {
        // Hash negotiation is checked before the AS is asked anything.
        let mut challenge = default_challenge(tee, extra_params)?;
        if tee == Tee::Se {
            let request = self.request(se_challenge_request(extra_params));
            let response = self
                .call(RemoteOperation::GetAttestationChallenge, |ch| async move {
                    AttestationServiceClient::new(ch)
                        .get_attestation_challenge(request)
                        .await
                })
                .await?;
            if response.attestation_challenge.is_empty() {
                return Err(self.invalid_response(
                    RemoteOperation::GetAttestationChallenge,
                    "empty attestation_challenge for se",
                ));
            }
            challenge.nonce = response.attestation_challenge;
        }
        Ok(challenge)
    }

    async fn verify(
        &self,
        tee: Tee,
        attestation: &Attestation,
        nonce: &str,
    ) -> Result<String, Error> {
        let request = self.request(attestation_request(tee, attestation, nonce)?);
        let response = self
            .call(RemoteOperation::AttestationEvaluate, |ch| async move {
                AttestationServiceClient::new(ch)
                    .attestation_evaluate(request)
                    .await
            })
            .await?;
        if response.attestation_token.is_empty() {
            return Err(self.invalid_response(
                RemoteOperation::AttestationEvaluate,
                "empty attestation_token",
            ));
        }
        Ok(response.attestation_token)
    }

    async fn set_policy(&self, id: &str, policy_b64url: &str) -> Result<(), Error> {
        // Forwarded unchanged: the AS decodes and compiles it.
        let request = self.request(SetPolicyRequest {
            policy_id: id.to_owned(),
            policy: policy_b64url.to_owned(),
        });
        self.call(RemoteOperation::SetAttestationPolicy, |ch| async move {
            AttestationServiceClient::new(ch)
                .set_attestation_policy(request)
                .await
        })
        .await?;
        Ok(())
    }

    async fn get_policy(&self, id: &str) -> Result<String, Error> {
        let operation = RemoteOperation::GetAttestationPolicy;
        let request = self.request(GetPolicyRequest {
            policy_id: id.to_owned(),
        });
        let response = self
            .call(operation, |ch| async move {
                AttestationServiceClient::new(ch)
                    .get_attestation_policy(request)
                    .await
            })
            .await
            .map_err(|err| policy_not_found(err, id))?;
        // Sent as SetAttestationPolicy takes it: base64url without padding of the Rego text.
        let bytes = URL_SAFE_NO_PAD.decode(&response.policy).map_err(|_| {
            self.invalid_response(operation, "policy is not base64url without padding")
        })?;
        String::from_utf8(bytes)
            .map_err(|_| self.invalid_response(operation, "policy is not utf-8 text"))
    }

    async fn list_policies(&self) -> Result<Vec<String>, Error> {
        let request = self.request(ListPoliciesRequest {});
        let response = self
            .call(RemoteOperation::ListAttestationPolicies, |ch| async move {
                AttestationServiceClient::new(ch)
                    .list_attestation_policies(request)
                    .await
            })
            .await?;
        // The KBS lists ids only (as with the builtin AS); sorted, whatever order the AS used.
        let mut ids: Vec<String> = response
            .policies
            .into_iter()
            .map(|info| info.policy_id)
            .collect();
        if ids.iter().any(String::is_empty) {
            return Err(self.invalid_response(
                RemoteOperation::ListAttestationPolicies,
                "a listed policy has an empty policy_id",
            ));
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    async fn delete_policy(&self, id: &str) -> Result<(), Error> {
        let request = self.request(DeletePolicyRequest {
            policy_id: id.to_owned(),
        });
        self.call(RemoteOperation::DeleteAttestationPolicy, |ch| async move {
            AttestationServiceClient::new(ch)
                .delete_attestation_policy(request)
                .await
        })
        .await
        .map_err(|err| policy_not_found(err, id))?;
        tracing::info!(as_addr = %self.addr, %id, "attestation policy deleted through the attestation service");
        Ok(())
    }

    async fn register_reference_value(&self, message: &str) -> Result<(), Error> {
        let request = self.request(ReferenceValueRegisterRequest {
            message: message.to_owned(),
        });
        self.call(RemoteOperation::RegisterReferenceValue, |ch| async move {
            ReferenceValueProviderServiceClient::new(ch)
                .register_reference_value(request)
                .await
        })
        .await?;
        tracing::info!(as_addr = %self.addr, "reference values registered with the attestation service");
        Ok(())
    }

    async fn query_reference_value(&self, id: &str) -> Result<Option<Value>, Error> {
        let request = self.request(ReferenceValueQueryRequest {
            reference_value_id: id.to_owned(),
        });
        let response = self
            .call(RemoteOperation::QueryReferenceValue, |ch| async move {
                ReferenceValueProviderServiceClient::new(ch)
                    .query_reference_value(request)
                    .await
            })
            .await?;
        // An absent field means "no such id"; present text is the stored JSON value.
        response
            .reference_value_results
            .map(|text| {
                serde_json::from_str(&text).map_err(|_| {
                    self.invalid_response(
                        RemoteOperation::QueryReferenceValue,
                        "reference_value_results is not JSON",
                    )
                })
            })
            .transpose()
    }

    async fn delete_reference_value(&self, id: &str) -> Result<(), Error> {
        let request = self.request(ReferenceValueDeleteRequest {
            name: id.to_owned(),
        });
        let deleted = self
            .call(RemoteOperation::DeleteReferenceValue, |ch| async move {
                ReferenceValueProviderServiceClient::new(ch)
                    .delete_reference_value(request)
                    .await
            })
            .await;
        match deleted {
            Ok(_) => {
                tracing::info!(as_addr = %self.addr, %id, "reference value deleted through the attestation service");
                Ok(())
            }
            // The AS's "no such id": reported as the builtin AS reports it.
            Err(Error::Remote {
                code: Code::NotFound,
                ..
            }) => Err(Error::ReferenceValueNotFound { id: id.to_owned() }),
            Err(other) => Err(other),
        }
    }
}
