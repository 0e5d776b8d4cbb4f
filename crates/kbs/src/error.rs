//! The one place where KBS failures become HTTP responses: RFC 7807 problem documents
//! `{"type":"https://github.com/confidential-containers/kbs/errors/<Variant>","detail":"…"}`
//! (spec §2), with `Content-Type: application/problem+json`.
//!
//! The `type` suffixes are upstream's variant names. Statuses follow upstream where its clients
//! depend on them (401 makes the guest client re-run RCAR, so attestation, token and policy
//! failures stay 401) and are more precise elsewhere: 400 for malformed bodies, 403 for an
//! authenticated admin whose role is not allowed, 404 for missing resources, 413 for oversized
//! bodies. `detail` never contains tokens, nonces, keys or resource contents.
//!
//! Internal failures are not logged here: the response carries the error in an extension and
//! [`crate::http`]'s logging layer reports it.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::attestation;
use crate::http::path::PathError;
use crate::{admin, plugins, resource_policy, token};

/// Prefix of every problem `type`.
pub const PROBLEM_TYPE_PREFIX: &str = "https://github.com/confidential-containers/kbs/errors/";

/// Media type of problem documents.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Problem `type` suffix when a remote attestation service cannot be reached (503): distinct
/// from `AttestationError`, which means the evidence or the request was refused.
pub const AS_UNAVAILABLE_TYPE: &str = "AttestationServiceUnavailable";

/// Problem `type` suffix (503) when the builtin attestation service's remote RVPS
/// (`rvps_config.type = "GrpcRemote"`) cannot be reached, on the reference-value endpoints or
/// during an appraisal (`/attest`), or when a `coco_as_grpc` AS answers that its RVPS cannot be
/// reached: the KBS and its AS are up.
pub const RVPS_UNAVAILABLE_TYPE: &str = "ReferenceValueProviderUnavailable";

/// `Retry-After` (seconds) sent with a 503 for an unreachable attestation service or RVPS.
pub const AS_UNAVAILABLE_RETRY_AFTER_SECS: u32 = 5;

/// Every way a KBS request can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Admin authentication or authorization failed on an admin endpoint or admin plugin path.
    #[error("admin access denied for endpoint {endpoint}: {source}")]
    AdminAuthAccess {
        /// The built-in endpoint or plugin name.
        endpoint: String,
        /// Why.
        source: admin::Error,
    },
    /// RCAR (`/auth`, `/attest`) or attestation-policy failure.
    #[error("attestation error: {0}")]
    AttestationError(#[from] RcarError),
    /// An attestation-service admin operation (policy, reference value) failed.
    #[error("attestation service error: {0}")]
    AttestationServiceError(#[source] attestation::Error),
    /// A path segment or query that is refused before anything else runs.
    #[error("{0}")]
    InvalidRequestPath(#[from] PathError),
    /// The response could not be encrypted to the TEE key.
    #[error("JWE failed: {0}")]
    JweError(#[from] jose::Error),
    /// No plugin is registered under the first path segment.
    #[error("plugin {name:?} not found")]
    PluginNotFound {
        /// The first path segment.
        name: String,
    },
    /// The plugin failed (unknown resource, bad resource path, storage failure, …).
    #[error("{0}")]
    PluginInternalError(#[from] plugins::Error),
    /// The resource policy did not allow the request.
    #[error("access denied by resource policy `{policy_id}`")]
    PolicyDeny {
        /// The policy that denied.
        policy_id: &'static str,
    },
    /// The resource policy could not be set or evaluated.
    #[error("{0}")]
    PolicyEngineError(#[from] resource_policy::Error),
    /// The request body does not deserialize.
    #[error("request body is invalid: {reason}")]
    SerdeError {
        /// The parser's complaint.
        reason: String,
    },
    /// No token: neither an attested session cookie nor an `Authorization: Bearer` header.
    #[error("attestation token not found: attest first (cookie) or send Authorization: Bearer")]
    TokenNotFound,
    /// The attestation token was refused.
    #[error("token verifier error: {0}")]
    TokenVerifierError(#[from] token::Error),
    /// The request body is larger than `payload_request_size`.
    #[error("request body exceeds the limit of {limit_bytes} bytes")]
    PayloadTooLarge {
        /// The configured limit.
        limit_bytes: usize,
    },
    /// The route exists but not for this method.
    #[error("method {method} is not allowed on this endpoint")]
    MethodNotAllowed {
        /// The request's method.
        method: String,
    },
    /// `/metrics` could not be rendered.
    #[error("prometheus error")]
    PrometheusError,
    /// The request took longer than the server allows.
    #[error("request did not complete within {timeout_ms} ms")]
    RequestTimeout {
        /// The limit.
        timeout_ms: u128,
    },
}

/// Why `/auth` or `/attest` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RcarError {
    /// `version` is not semver.
    #[error("RCAR handshake Auth failed: failed to parse KBS version {version:?}")]
    UnparsableVersion {
        /// The version sent.
        version: String,
    },
    /// `version` is semver but not `0.4.0` (upstream clients test for this exact phrase).
    #[error(
        "RCAR handshake Auth failed: KBS Client Protocol Version Mismatch: expect =0.4.0 while the request is {version}"
    )]
    VersionMismatch {
        /// The version sent.
        version: String,
    },
    /// The backend could not make a challenge.
    #[error("RCAR handshake Auth failed: {0}")]
    Challenge(#[source] attestation::Error),
    /// No `kbs-session-id` cookie.
    #[error("RCAR handshake Attest failed: no kbs-session-id cookie; call /kbs/v0/auth first")]
    MissingCookie,
    /// The cookie names no live session.
    #[error(
        "RCAR handshake Attest failed: session not found or expired; start again with /kbs/v0/auth"
    )]
    SessionNotFound,
    /// The session's nonce was already used by an earlier `/attest`.
    #[error(
        "RCAR handshake Attest failed: this session already attempted attestation; start again with /kbs/v0/auth"
    )]
    SessionAlreadyUsed,
    /// `runtime-data.nonce` differs from the session's challenge.
    #[error(
        "RCAR handshake Attest failed: runtime-data nonce does not match the session's challenge"
    )]
    NonceMismatch,
    /// The evidence was refused.
    #[error("RCAR handshake Attest failed: {0}")]
    Verification(#[source] attestation::Error),
    /// The session store failed.
    #[error("RCAR handshake failed: session store unavailable")]
    SessionStore,
}

/// The wire form of a problem document; member order `type`, `detail` (spec §2).
#[derive(Debug, Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    problem_type: String,
    detail: &'a str,
}

/// The error that produced a response, for the logging layer.
#[derive(Debug, Clone)]
pub struct LoggedError(pub Arc<ApiError>);

impl ApiError {
    /// The `type` suffix (upstream variant name).
    pub fn type_name(&self) -> &'static str {
        if self.attestation_service_unavailable() {
            let rvps = self
                .backend_error()
                .map(attestation::Error::rvps_unavailable);
            return if rvps == Some(true) {
                RVPS_UNAVAILABLE_TYPE
            } else {
                AS_UNAVAILABLE_TYPE
            };
        }
        match self {
            Self::AdminAuthAccess { .. } => "AdminAuthAccess",
            Self::AttestationError(_) => "AttestationError",
            Self::AttestationServiceError(_) => "AttestationError",
            Self::InvalidRequestPath(_) => "InvalidRequestPath",
            Self::JweError(_) => "JweError",
            Self::PluginNotFound { .. } => "PluginNotFound",
            Self::PluginInternalError(_) => "PluginInternalError",
            Self::PolicyDeny { .. } => "PolicyDeny",
            Self::PolicyEngineError(e) if resource_policy_is_parse_error(e) => "ParsePolicyError",
            Self::PolicyEngineError(_) => "PolicyEngineError",
            Self::SerdeError { .. } => "SerdeError",
            Self::TokenNotFound => "TokenNotFound",
            Self::TokenVerifierError(_) => "TokenVerifierError",
            Self::PayloadTooLarge { .. } => "PayloadTooLarge",
            Self::MethodNotAllowed { .. } => "MethodNotAllowed",
            Self::PrometheusError => "PrometheusError",
            Self::RequestTimeout { .. } => "RequestTimeout",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        if self.attestation_service_unavailable() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        match self {
            Self::AdminAuthAccess { source, .. } if source.is_forbidden() => StatusCode::FORBIDDEN,
            Self::AdminAuthAccess { .. } => StatusCode::UNAUTHORIZED,
            Self::AttestationError(RcarError::SessionStore) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::AttestationError(_) => StatusCode::UNAUTHORIZED,
            Self::AttestationServiceError(e) => attestation_service_status(e),
            Self::InvalidRequestPath(_) => StatusCode::NOT_FOUND,
            Self::JweError(_) => StatusCode::UNAUTHORIZED,
            Self::PluginNotFound { .. } => StatusCode::NOT_FOUND,
            Self::PluginInternalError(e) => plugin_status(e),
            Self::PolicyDeny { .. } => StatusCode::UNAUTHORIZED,
            Self::PolicyEngineError(e) => resource_policy_status(e),
            Self::SerdeError { .. } => StatusCode::BAD_REQUEST,
            Self::TokenNotFound | Self::TokenVerifierError(_) => StatusCode::UNAUTHORIZED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PrometheusError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// Whether a remote attestation service could not be reached (or did not answer in time)
    /// while serving this request: nothing was decided about the client, who may retry.
    /// The builtin AS's remote RVPS counts as part of the attestation service here.
    pub fn attestation_service_unavailable(&self) -> bool {
        self.backend_error()
            .is_some_and(|e| e.kind() == attestation::ErrorKind::Unavailable)
    }

    /// The attestation-backend failure behind this error, if any.
    fn backend_error(&self) -> Option<&attestation::Error> {
        match self {
            Self::AttestationError(RcarError::Challenge(e) | RcarError::Verification(e))
            | Self::AttestationServiceError(e) => Some(e),
            _ => None,
        }
    }

    /// The `detail` text: this error's message followed by every cause not already in it.
    /// No error type in the chain carries tokens, nonces or key material.
    pub fn detail(&self) -> String {
        let mut detail = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !detail.contains(&text) {
                detail.push_str(": ");
                detail.push_str(&text);
            }
            source = cause.source();
        }
        detail
    }

    /// The problem document as JSON text.
    pub fn problem_json(&self) -> String {
        let detail = self.detail();
        let problem = Problem {
            problem_type: format!("{PROBLEM_TYPE_PREFIX}{}", self.type_name()),
            detail: &detail,
        };
        // Serialising two strings cannot fail; fall back to a fixed body rather than panic.
        serde_json::to_string(&problem).unwrap_or_else(|_| {
            format!(
                r#"{{"type":"{PROBLEM_TYPE_PREFIX}SerdeError","detail":"serialization failed"}}"#
            )
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = self.problem_json();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if self.attestation_service_unavailable() {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(AS_UNAVAILABLE_RETRY_AFTER_SECS),
            );
        }
        response
            .extensions_mut()
            .insert(LoggedError(Arc::new(self)));
        response
    }
}

fn plugin_status(e: &plugins::Error) -> StatusCode {
    match e {
        plugins::Error::ResourceNotFound { .. } => StatusCode::NOT_FOUND,
        plugins::Error::InvalidResourcePath { .. } => StatusCode::NOT_FOUND,
        plugins::Error::MethodNotSupported { .. } => StatusCode::METHOD_NOT_ALLOWED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn resource_policy_is_parse_error(e: &resource_policy::Error) -> bool {
    matches!(e, resource_policy::Error::Parse(_))
}

fn resource_policy_status(e: &resource_policy::Error) -> StatusCode {
    match e {
        resource_policy::Error::Parse(_) | resource_policy::Error::Compile { .. } => {
            StatusCode::BAD_REQUEST
        }
        // A stored policy that cannot be evaluated is the operator's problem, not the client's.
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn attestation_service_status(e: &attestation::Error) -> StatusCode {
    match e.kind() {
        attestation::ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        attestation::ErrorKind::NotFound => StatusCode::NOT_FOUND,
        attestation::ErrorKind::Refused => StatusCode::UNAUTHORIZED,
        attestation::ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        attestation::ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        attestation::ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(e: &ApiError) -> serde_json::Value {
        serde_json::from_str(&e.problem_json()).unwrap()
    }

    #[test]
    fn every_variant_maps_to_its_status_and_type() {
        use crate::plugins::Error as PluginError;
        use crate::resource_policy::{Error as PolicyError, ParseError};
        let cases: Vec<(ApiError, StatusCode, &str)> = vec![
            (
                ApiError::AdminAuthAccess {
                    endpoint: "resource-policy".into(),
                    source: admin::Error::MissingBearer,
                },
                StatusCode::UNAUTHORIZED,
                "AdminAuthAccess",
            ),
            (
                ApiError::AdminAuthAccess {
                    endpoint: "resource-policy".into(),
                    source: admin::Error::RoleNotAllowed {
                        role: "r".into(),
                        uri: "/kbs/v0/x".into(),
                    },
                },
                StatusCode::FORBIDDEN,
                "AdminAuthAccess",
            ),
            (
                ApiError::AdminAuthAccess {
                    endpoint: "x".into(),
                    source: admin::Error::DenyAll,
                },
                StatusCode::UNAUTHORIZED,
                "AdminAuthAccess",
            ),
            (
                RcarError::MissingCookie.into(),
                StatusCode::UNAUTHORIZED,
                "AttestationError",
            ),
            (
                RcarError::SessionNotFound.into(),
                StatusCode::UNAUTHORIZED,
                "AttestationError",
            ),
            (
                RcarError::SessionAlreadyUsed.into(),
                StatusCode::UNAUTHORIZED,
                "AttestationError",
            ),
            (
                RcarError::NonceMismatch.into(),
                StatusCode::UNAUTHORIZED,
                "AttestationError",
            ),
            (
                RcarError::VersionMismatch {
                    version: "0.3.0".into(),
                }
                .into(),
                StatusCode::UNAUTHORIZED,
                "AttestationError",
            ),
            (
                RcarError::SessionStore.into(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "AttestationError",
            ),
            (
                ApiError::AttestationServiceError(attestation::Error::PolicyNotFound {
                    id: "p".into(),
                }),
                StatusCode::NOT_FOUND,
                "AttestationError",
            ),
            (
                ApiError::AttestationServiceError(attestation::Error::UnsupportedInitDataFormat {
                    format: "json".into(),
                }),
                StatusCode::BAD_REQUEST,
                "AttestationError",
            ),
            (
                PathError::InvalidSegment {
                    segment: "%2e%2e".into(),
                    reason: "is a relative path component",
                }
                .into(),
                StatusCode::NOT_FOUND,
                "InvalidRequestPath",
            ),
            (
                ApiError::PluginNotFound {
                    name: "nope".into(),
                },
                StatusCode::NOT_FOUND,
                "PluginNotFound",
            ),
            (
                PluginError::ResourceNotFound {
                    path: "a/b/c".into(),
                }
                .into(),
                StatusCode::NOT_FOUND,
                "PluginInternalError",
            ),
            (
                PluginError::InvalidResourcePath { path: "a/b".into() }.into(),
                StatusCode::NOT_FOUND,
                "PluginInternalError",
            ),
            (
                PluginError::MethodNotSupported {
                    plugin: "resource",
                    method: "PUT".into(),
                }
                .into(),
                StatusCode::METHOD_NOT_ALLOWED,
                "PluginInternalError",
            ),
            (
                ApiError::PolicyDeny {
                    policy_id: "resource-policy",
                },
                StatusCode::UNAUTHORIZED,
                "PolicyDeny",
            ),
            (
                PolicyError::Parse(ParseError::NotBase64Url).into(),
                StatusCode::BAD_REQUEST,
                "ParsePolicyError",
            ),
            (
                PolicyError::Compile {
                    message: "m".into(),
                }
                .into(),
                StatusCode::BAD_REQUEST,
                "PolicyEngineError",
            ),
            (
                PolicyError::Evaluation {
                    message: "m".into(),
                }
                .into(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "PolicyEngineError",
            ),
            (
                ApiError::SerdeError { reason: "r".into() },
                StatusCode::BAD_REQUEST,
                "SerdeError",
            ),
            (
                ApiError::TokenNotFound,
                StatusCode::UNAUTHORIZED,
                "TokenNotFound",
            ),
            (
                token::Error::Expired.into(),
                StatusCode::UNAUTHORIZED,
                "TokenVerifierError",
            ),
            (
                ApiError::PayloadTooLarge { limit_bytes: 10 },
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLarge",
            ),
            (
                ApiError::MethodNotAllowed {
                    method: "PATCH".into(),
                },
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
            ),
            (
                ApiError::PrometheusError,
                StatusCode::INTERNAL_SERVER_ERROR,
                "PrometheusError",
            ),
        ];
        for (error, status, variant) in cases {
            assert_eq!(error.status(), status, "{error:?}");
            let p = problem(&error);
            assert_eq!(
                p["type"],
                format!("{PROBLEM_TYPE_PREFIX}{variant}"),
                "{error:?}"
            );
            assert_eq!(p["detail"], error.detail());
            assert!(error.detail().starts_with(&error.to_string()));
        }
    }

    #[test]
    fn problem_document_has_type_then_detail_and_problem_content_type() {
        let response = ApiError::PolicyDeny {
            policy_id: "resource-policy",
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            PROBLEM_CONTENT_TYPE
        );
        assert!(response.extensions().get::<LoggedError>().is_some());
        let json = ApiError::PolicyDeny {
            policy_id: "resource-policy",
        }
        .problem_json();
        assert_eq!(
            json,
            r#"{"type":"https://github.com/confidential-containers/kbs/errors/PolicyDeny","detail":"access denied by resource policy `resource-policy`"}"#
        );
    }

    #[test]
    fn detail_includes_causes_once() {
        let e = ApiError::AttestationServiceError(attestation::Error::Service(
            attestation_service::Error::Policy(policy::Error::Compile {
                id: "p".into(),
                message: "rego_parse_error".into(),
            }),
        ));
        let detail = e.detail();
        assert!(detail.contains("rego_parse_error"), "{detail}");
        assert_eq!(detail.matches("rego_parse_error").count(), 1, "{detail}");
    }

    #[test]
    fn an_unreachable_attestation_service_is_a_503_of_its_own_type() {
        let down = || attestation::Error::Unavailable {
            addr: "http://127.0.0.1:50004".into(),
            reason: "tcp connect error: Connection refused".into(),
        };
        for error in [
            ApiError::from(RcarError::Verification(down())),
            ApiError::from(RcarError::Challenge(down())),
            ApiError::AttestationServiceError(down()),
        ] {
            assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE, "{error:?}");
            assert_eq!(error.type_name(), AS_UNAVAILABLE_TYPE);
            assert!(
                error
                    .detail()
                    .contains("attestation service at http://127.0.0.1:50004 is unavailable"),
                "{}",
                error.detail()
            );
            let response = error.into_response();
            assert_eq!(response.headers()[header::RETRY_AFTER], "5");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                PROBLEM_CONTENT_TYPE
            );
        }
        // an answer of the AS refusing the evidence stays a 401 AttestationError, no Retry-After
        let refused = ApiError::from(RcarError::Verification(attestation::Error::Remote {
            addr: "http://127.0.0.1:50004".into(),
            operation: attestation::RemoteOperation::AttestationEvaluate,
            code: tonic::Code::Aborted,
            message: "Attestation evaluation failed".into(),
        }));
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(refused.type_name(), "AttestationError");
        assert!(
            refused
                .into_response()
                .headers()
                .get(header::RETRY_AFTER)
                .is_none()
        );
        let unsupported = ApiError::AttestationServiceError(attestation::Error::Unsupported {
            operation: "listing attestation policies",
            backend: "coco_as_grpc",
        });
        assert_eq!(unsupported.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(unsupported.type_name(), "AttestationError");
    }

    #[test]
    fn version_mismatch_detail_keeps_the_upstream_phrase() {
        let e: ApiError = RcarError::VersionMismatch {
            version: "0.3.0".into(),
        }
        .into();
        assert!(
            e.to_string()
                .contains("KBS Client Protocol Version Mismatch")
        );
    }
}
