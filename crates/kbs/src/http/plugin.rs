//! Requests for `/kbs/v0/<plugin>/…` (spec §4.1): admin check or token + resource policy, then
//! the plugin, then JWE encryption to the TEE key when the plugin asks for it.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use crate::app::Kbs;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, authorization_header, bearer_token, session_cookie};
use crate::http::path::KbsPath;
use crate::metrics::PolicyOutcome;
use crate::plugins::{AuthClass, PluginRequest};
use crate::resource_policy::{Decision, POLICY_ID};
use crate::session::SessionId;

/// One plugin request as received.
pub struct PluginCall<'a> {
    /// The request method.
    pub method: Method,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// Path plus `?query` as received, for the admin ACL.
    pub uri_with_query: &'a str,
    /// Plugin name and resource path.
    pub path: KbsPath,
    /// The decoded query.
    pub query: std::collections::BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Serves a plugin request.
pub async fn handle(kbs: &Kbs, call: PluginCall<'_>) -> Result<Response, ApiError> {
    let name = call.path.plugin;
    let plugin = kbs
        .plugins
        .get(&name)
        .ok_or_else(|| ApiError::PluginNotFound { name: name.clone() })?;
    let class = plugin.validate_auth(&call.method, &call.path.resource_path, &call.query)?;
    let now = OffsetDateTime::now_utc();
    let now_unix = u64::try_from(now.unix_timestamp()).unwrap_or(0);
    let mut request = PluginRequest {
        method: call.method,
        path: call.path.resource_path,
        query: call.query,
        body: call.body,
        init_data_claims: None,
    };
    match class {
        AuthClass::Admin => {
            kbs.admin
                .check(
                    authorization_header(call.headers),
                    call.uri_with_query,
                    now_unix,
                )
                .map_err(|source| ApiError::AdminAuthAccess {
                    endpoint: name.clone(),
                    source,
                })?;
            let output = plugin.handle(request).await?;
            Ok(raw_response(output))
        }
        AuthClass::Attested => {
            let token = attestation_token(kbs, call.headers, now).await?;
            let verified = kbs.tokens.verify(&token, now_unix)?;
            let decision = kbs
                .resource_policy
                .evaluate(
                    verified.policy_input(),
                    &name,
                    &request.path,
                    &request.query,
                )
                .await
                .inspect_err(|_| kbs.metrics.policy_evaluated(PolicyOutcome::Error))?;
            kbs.metrics.policy_evaluated(match decision {
                Decision::Allow => PolicyOutcome::Allowed,
                Decision::Deny => PolicyOutcome::Denied,
                Decision::DenyUndefined => PolicyOutcome::Error,
            });
            if !decision.is_allow() {
                return Err(ApiError::PolicyDeny {
                    policy_id: POLICY_ID,
                });
            }
            request.init_data_claims = verified.init_data_claims().cloned();
            let encrypted = plugin.encrypted(&request);
            let output = plugin.handle(request).await?;
            if !encrypted {
                return Ok(raw_response(output));
            }
            let jwe = jose::jwe::encrypt(verified.tee_public_key()?, &output)?;
            Ok(ApiJson(jwe).into_response())
        }
    }
}

/// The token of an attested cookie session, else the bearer token (spec §4.1 step 3a): the
/// cookie wins; an unknown, expired or unattested cookie silently falls back to the header.
async fn attestation_token(
    kbs: &Kbs,
    headers: &HeaderMap,
    now: OffsetDateTime,
) -> Result<String, ApiError> {
    if let Some(id) = session_cookie(headers).and_then(|c| c.parse::<SessionId>().ok()) {
        match kbs.sessions.attested_token(&id, now).await {
            Ok(Some(token)) => return Ok(token),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "session lookup failed; trying bearer token"),
        }
    }
    bearer_token(headers)
        .map(str::to_owned)
        .ok_or(ApiError::TokenNotFound)
}

/// Plugin output that is not encrypted: raw bytes; no content type when empty.
fn raw_response(output: Vec<u8>) -> Response {
    if output.is_empty() {
        return StatusCode::OK.into_response();
    }
    let mut response = output.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}
