//! The built-in admin endpoints (spec §6.3, §7): attestation policies, reference values and the
//! resource policy. Every one runs the admin check first.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::app::Kbs;
use crate::attestation;
use crate::error::ApiError;
use crate::http::extract::ApiJson;

/// The parts of an admin request the built-ins need.
pub struct AdminRequest<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// Path plus `?query` as received, for the ACL.
    pub uri_with_query: &'a str,
    /// Path segments after the endpoint name.
    pub rest: &'a [String],
    /// The request body.
    pub body: &'a [u8],
}

/// `POST /kbs/v0/attestation-policy` body; `type` (sent by kbs-client) is accepted and ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetAttestationPolicy {
    policy_id: String,
    policy: String,
    #[serde(rename = "type", default)]
    _policy_type: Option<String>,
}

/// `GET /kbs/v0/attestation-policy/<id>` answer.
#[derive(Debug, Serialize)]
struct AttestationPolicy {
    policy_id: String,
    /// Rego text, base64url without padding (the same encoding as uploads).
    policy: String,
}

/// Runs the admin check for a built-in endpoint.
pub fn authorize(kbs: &Kbs, endpoint: &str, req: &AdminRequest<'_>) -> Result<(), ApiError> {
    let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
    kbs.admin
        .check(req.authorization, req.uri_with_query, now)
        .map(|_| ())
        .map_err(|source| ApiError::AdminAuthAccess {
            endpoint: endpoint.to_owned(),
            source,
        })
}

/// `attestation-policy`: POST sets, GET lists (no id) or reads (with id), DELETE deletes.
pub async fn attestation_policy(kbs: &Kbs, req: AdminRequest<'_>) -> Result<Response, ApiError> {
    authorize(kbs, "attestation-policy", &req)?;
    let id = req.rest.join("/");
    let service = |e| ApiError::AttestationServiceError(e);
    match (req.method, id.is_empty()) {
        (&Method::POST, true) => {
            let ApiJson(body) = ApiJson::<SetAttestationPolicy>::from_bytes(req.body)?;
            kbs.attestation
                .set_policy(&body.policy_id, &body.policy)
                .await
                .map_err(service)?;
            tracing::info!(policy_id = %body.policy_id, "attestation policy set");
            Ok(StatusCode::OK.into_response())
        }
        (&Method::GET, true) => {
            let ids = kbs.attestation.list_policies().await.map_err(service)?;
            Ok(ApiJson(ids).into_response())
        }
        (&Method::GET, false) => {
            use base64::Engine as _;
            let text = kbs.attestation.get_policy(&id).await.map_err(service)?;
            let policy = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
            Ok(ApiJson(AttestationPolicy {
                policy_id: id,
                policy,
            })
            .into_response())
        }
        (&Method::DELETE, false) => {
            kbs.attestation.delete_policy(&id).await.map_err(service)?;
            tracing::info!(policy_id = %id, "attestation policy deleted");
            Ok(StatusCode::OK.into_response())
        }
        _ => Err(ApiError::MethodNotAllowed {
            method: req.method.to_string(),
        }),
    }
}

/// `reference-value`: POST registers an RVPS message, GET `<id…>` queries, DELETE `<id…>`
/// deletes (an extension beyond upstream, whose KBS has no such endpoint).
pub async fn reference_value(kbs: &Kbs, req: AdminRequest<'_>) -> Result<Response, ApiError> {
    authorize(kbs, "reference-value", &req)?;
    let service = |e| ApiError::AttestationServiceError(e);
    match *req.method {
        Method::POST => {
            let message = std::str::from_utf8(req.body).map_err(|_| ApiError::SerdeError {
                reason: "body is not UTF-8".to_owned(),
            })?;
            kbs.attestation
                .register_reference_value(message)
                .await
                .map_err(service)?;
            Ok(json_content_type(StatusCode::OK.into_response()))
        }
        Method::GET => {
            let id = req.rest.join("/");
            match kbs
                .attestation
                .query_reference_value(&id)
                .await
                .map_err(service)?
            {
                Some(value) => Ok(ApiJson(value).into_response()),
                None => Err(ApiError::AttestationServiceError(
                    attestation::Error::ReferenceValueNotFound { id },
                )),
            }
        }
        // An id is required: there is no "delete every reference value".
        Method::DELETE if req.rest.iter().any(|segment| !segment.is_empty()) => {
            let id = req.rest.join("/");
            kbs.attestation
                .delete_reference_value(&id)
                .await
                .map_err(service)?;
            tracing::info!(reference_value_id = %id, "reference value deleted");
            Ok(StatusCode::OK.into_response())
        }
        _ => Err(ApiError::MethodNotAllowed {
            method: req.method.to_string(),
        }),
    }
}

/// `resource-policy`: POST sets `{"policy": "<b64url Rego>"}`, GET lists the stored ids.
pub async fn resource_policy(kbs: &Kbs, req: AdminRequest<'_>) -> Result<Response, ApiError> {
    authorize(kbs, "resource-policy", &req)?;
    match *req.method {
        Method::POST => {
            kbs.resource_policy.set_from_request_body(req.body).await?;
            tracing::info!("resource policy set");
            Ok(StatusCode::OK.into_response())
        }
        Method::GET => Ok(ApiJson(kbs.resource_policy.list_ids().await?).into_response()),
        _ => Err(ApiError::MethodNotAllowed {
            method: req.method.to_string(),
        }),
    }
}

fn json_content_type(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
