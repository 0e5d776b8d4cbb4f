//! The `restful-as` front end (spec §3): the same [`AttestationService`] as `grpc-as` behind
//! the upstream REST paths and JSON, with CORS per spec §1.
//!
//! Statuses as upstream: a body that is not the expected JSON is a 400, every failure inside a
//! handler a 500 whose text is `An internal error occured: ` followed by the cause chain (the
//! typo is upstream's, kept for clients that match on it). One deviation: an attestation that
//! failed because the reference value provider could not be reached is a 503 whose text is
//! `Reference value provider unavailable: ` followed by the cause chain (nothing was decided;
//! a retry may succeed).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::grpc::request::{
    REST_TEES, RequestError, cause_chain, decode_evidence, hash_algorithm, init_data_digest,
    parse_tee, raw_runtime_data,
};
use crate::grpc::{JWKS_PATH, jwks};
use crate::{AttestationService, InitData, RuntimeData, VerificationRequest};

/// Request bodies above this are refused with 413 (the gRPC front end's 4 MiB message limit).
pub const MAX_BODY_BYTES: usize = 4 << 20;
/// How long browsers may cache a CORS preflight answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(86_400);
/// The policy evaluated when a request names none.
const DEFAULT_POLICY_ID: &str = "default";

/// The REST API over `service`. `allowed_origins` enables CORS for those origins; entries that
/// do not start with `http://` or `https://` are logged and ignored (spec §1).
pub fn router(service: Arc<AttestationService>, allowed_origins: &[String]) -> Router {
    let router = Router::new()
        .route("/attestation", post(attestation))
        .route("/policy", post(set_policy).get(list_policies))
        .route("/challenge", post(challenge))
        .route(JWKS_PATH, get(|State(service)| jwks(service)))
        .route("/healthz", get(|| async { StatusCode::OK }))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(service);
    match cors(allowed_origins) {
        Some(layer) => router.layer(layer),
        None => router,
    }
}

/// The CORS layer for the usable `origins`, if any.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| {
            let usable = origin.starts_with("http://") || origin.starts_with("https://");
            match HeaderValue::from_str(origin) {
                Ok(value) if usable => Some(value),
                _ => {
                    tracing::warn!(origin, "ignoring CORS origin: not an http(s) origin");
                    None
                }
            }
        })
        .collect();
    if allowed.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::POST, Method::GET, Method::OPTIONS])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(CORS_MAX_AGE),
    )
}

/// Why a request failed, and how it is answered.
#[derive(Debug)]
enum RestError {
    /// The body is not the expected JSON: 400.
    Body(serde_json::Error),
    /// Anything the handler could not do: 500 with the cause chain.
    Internal(Box<dyn std::error::Error + Send + Sync>),
    /// The reference value provider could not be reached: 503 with the cause chain.
    Unavailable(crate::Error),
}

impl RestError {
    /// An error of the attestation service: [`RestError::Unavailable`] when its reference value
    /// provider could not be reached, else [`RestError::Internal`].
    fn service(err: crate::Error) -> Self {
        match err {
            crate::Error::ReferenceValueProviderUnavailable { .. } => Self::Unavailable(err),
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for RestError {
    fn from(err: E) -> Self {
        Self::Internal(Box::new(err))
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        match self {
            Self::Body(err) => (
                StatusCode::BAD_REQUEST,
                format!("Json deserialize error: {err}"),
            )
                .into_response(),
            Self::Internal(err) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("An internal error occured: \n{}", cause_chain(&*err)),
            )
                .into_response(),
            Self::Unavailable(err) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "Reference value provider unavailable: \n{}",
                    cause_chain(&err)
                ),
            )
                .into_response(),
        }
    }
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, RestError> {
    serde_json::from_slice(body).map_err(RestError::Body)
}

/// `POST /attestation` body. Unknown keys (e.g. `init_data_hash_algorithm`) are ignored.
#[derive(Debug, Deserialize)]
struct AttestationBody {
    verification_requests: Vec<IndividualBody>,
    // Required, unlike in gRPC; an empty list means `["default"]`.
    policy_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct IndividualBody {
    tee: String,
    evidence: String,
    #[serde(default)]
    runtime_data: Option<RuntimeDataBody>,
    #[serde(default)]
    init_data: Option<InitDataBody>,
    #[serde(default)]
    runtime_data_hash_algorithm: Option<String>,
}

/// Externally tagged: `{"raw": "<b64url>"}` or `{"structured": <any JSON>}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RuntimeDataBody {
    Raw(String),
    Structured(Value),
}

/// Externally tagged: `{"init_data_digest": "<b64url>"}` or `{"init_data_toml": "<toml>"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum InitDataBody {
    InitDataDigest(String),
    InitDataToml(String),
}

impl IndividualBody {
    fn into_request(self) -> Result<VerificationRequest, RequestError> {
        Ok(VerificationRequest {
            tee: parse_tee(&self.tee, REST_TEES)?,
            evidence: decode_evidence(&self.evidence)?,
            runtime_data: match self.runtime_data {
                None => None,
                Some(RuntimeDataBody::Raw(encoded)) => Some(raw_runtime_data(&encoded)?),
                Some(RuntimeDataBody::Structured(value)) => Some(RuntimeData::Structured(value)),
            },
            runtime_data_hash_algorithm: hash_algorithm(
                self.runtime_data_hash_algorithm.as_deref().unwrap_or(""),
            )?,
            init_data: match self.init_data {
                None => None,
                Some(InitDataBody::InitDataDigest(encoded)) => Some(init_data_digest(&encoded)?),
                Some(InitDataBody::InitDataToml(text)) => Some(InitData::Toml(text)),
            },
        })
    }
}

/// `POST /attestation`: the EAR token as the response text.
async fn attestation(
    State(service): State<Arc<AttestationService>>,
    body: Bytes,
) -> Result<String, RestError> {
    let AttestationBody {
        verification_requests,
        mut policy_ids,
    } = parse_body(&body)?;
    let requests = verification_requests
        .into_iter()
        .map(IndividualBody::into_request)
        .collect::<Result<Vec<_>, _>>()?;
    if policy_ids.is_empty() {
        policy_ids.push(DEFAULT_POLICY_ID.to_owned());
    }
    service
        .evaluate(requests, &policy_ids)
        .await
        .map_err(RestError::service)
}

/// `POST /policy` body; other keys (`"type": "rego"`) are ignored.
#[derive(Debug, Deserialize)]
struct SetPolicyBody {
    policy_id: String,
    policy: String,
}

/// `POST /policy`: 200 with an empty body.
async fn set_policy(
    State(service): State<Arc<AttestationService>>,
    body: Bytes,
) -> Result<StatusCode, RestError> {
    let SetPolicyBody { policy_id, policy } = parse_body(&body)?;
    service.set_policy(&policy_id, &policy).await?;
    Ok(StatusCode::OK)
}

#[derive(Debug, Serialize)]
struct PolicyListEntry {
    #[serde(rename = "policy-id")]
    policy_id: String,
}

/// `GET /policy`: `[{"policy-id": "<id>"}, ...]`.
async fn list_policies(
    State(service): State<Arc<AttestationService>>,
) -> Result<axum::Json<Vec<PolicyListEntry>>, RestError> {
    let ids = service.list_policies().await?;
    Ok(axum::Json(
        ids.into_iter()
            .map(|policy_id| PolicyListEntry { policy_id })
            .collect(),
    ))
}

/// `POST /challenge`: flat `{"tee": ..., "tee_params": ...}`; the challenge as the response text.
async fn challenge(
    State(service): State<Arc<AttestationService>>,
    body: Bytes,
) -> Result<String, RestError> {
    let map: HashMap<String, String> = parse_body(&body)?;
    let tee = map
        .get("tee")
        .ok_or(RequestError::MissingChallengeKey("tee"))?;
    let tee = parse_tee(tee, REST_TEES)?;
    let tee_params = map
        .get("tee_params")
        .ok_or(RequestError::MissingChallengeKey("tee_params"))?;
    Ok(service
        .generate_supplemental_challenge(tee, tee_params)
        .await?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use kbs_types::{HashAlgorithm, Tee};
    use serde_json::json;

    use super::*;

    #[test]
    fn attestation_body_takes_tagged_runtime_and_init_data() {
        let body: AttestationBody = serde_json::from_value(json!({
            "verification_requests": [{
                "tee": "sampledevice",
                "evidence": "eyJzdm4iOiIxIn0",
                "runtime_data": {"structured": {"nonce": "n"}},
                "init_data": {"init_data_digest": "q83v"},
                "runtime_data_hash_algorithm": "sha256",
                "init_data_hash_algorithm": "sha384"
            }],
            "policy_ids": []
        }))
        .unwrap();
        let request = body
            .verification_requests
            .into_iter()
            .next()
            .unwrap()
            .into_request()
            .unwrap();
        assert_eq!(
            request,
            VerificationRequest {
                tee: Tee::SampleDevice,
                evidence: json!({"svn": "1"}),
                runtime_data: Some(RuntimeData::Structured(json!({"nonce": "n"}))),
                runtime_data_hash_algorithm: HashAlgorithm::Sha256,
                init_data: Some(InitData::Digest(vec![0xab, 0xcd, 0xef])),
            }
        );
    }

    #[test]
    fn raw_runtime_data_and_toml_init_data() {
        let body: IndividualBody = serde_json::from_value(json!({
            "tee": "snp",
            "evidence": "e30",
            "runtime_data": {"raw": "AAEC"},
            "init_data": {"init_data_toml": "version = \"0.1.0\""}
        }))
        .unwrap();
        let request = body.into_request().unwrap();
        assert_eq!(request.runtime_data, Some(RuntimeData::Raw(vec![0, 1, 2])));
        assert_eq!(
            request.init_data,
            Some(InitData::Toml("version = \"0.1.0\"".into()))
        );
        assert_eq!(request.runtime_data_hash_algorithm, HashAlgorithm::Sha384);
    }

    #[test]
    fn policy_ids_key_is_required() {
        let err = serde_json::from_value::<AttestationBody>(json!({
            "verification_requests": []
        }))
        .unwrap_err();
        assert!(err.to_string().contains("policy_ids"), "{err}");
    }

    #[test]
    fn nvidia_and_tpm_are_not_accepted_over_rest() {
        for tee in ["nvidia", "tpm"] {
            let body: IndividualBody =
                serde_json::from_value(json!({"tee": tee, "evidence": "e30"})).unwrap();
            assert_eq!(
                body.into_request(),
                Err(RequestError::UnsupportedTee(tee.into()))
            );
        }
    }

    async fn answer(err: RestError) -> (StatusCode, String) {
        let response = err.into_response();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn an_unavailable_rvps_is_a_503_naming_it_other_failures_500() {
        let err = crate::Error::ReferenceValueProviderUnavailable {
            policy_id: "default_cpu".into(),
            id: "svn".into(),
            source: Box::new(crate::RvpsUnavailable::NoAnswer {
                timeout: Duration::from_secs(10),
            }),
        };
        let (status, body) = answer(RestError::service(err)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            body.starts_with("Reference value provider unavailable: \n0: policy `default_cpu`"),
            "{body}"
        );
        assert!(
            body.contains("1: the reference value provider did not answer within 10s"),
            "{body}"
        );
        let (status, body) = answer(RestError::service(crate::Error::NoEvidence)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.starts_with("An internal error occured: "), "{body}");
    }

    #[test]
    fn cors_keeps_only_http_origins() {
        assert!(cors(&[]).is_none());
        assert!(cors(&["ftp://x".into(), "example.com".into()]).is_none());
        assert!(cors(&["https://a.example".into(), "bad".into()]).is_some());
    }
}
