//! The HTTP API: [`router`] lists every route; the `/kbs/v0/…` dispatcher follows spec §1.3.
//!
//! Cross-cutting concerns are tower layers: body limit, request timeout, a tracing span per
//! request (with the session id, never tokens), `/kbs` metrics, and logging of failed requests
//! (internal errors at ERROR, client errors at DEBUG) from the error the response carries.

pub mod admin_api;
pub mod extract;
pub mod path;
pub mod plugin;
pub mod rcar;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::app::AppState;
use crate::error::{ApiError, LoggedError};
use extract::{BodyLimit, authorization_header, read_body, session_cookie};
use path::{KbsPath, parse_kbs_path, parse_query};

/// Longest a request may take, verification included, before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Every route of the KBS.
pub fn router(kbs: AppState) -> Router {
    let limit = kbs.payload_limit;
    let timeout = kbs.request_timeout;
    Router::new()
        .route("/kbs/v0/", any(dispatch))
        .route("/kbs/v0/{*path}", any(dispatch))
        .route("/metrics", get(metrics).fallback(method_not_allowed))
        .route("/healthz", get(healthz).fallback(method_not_allowed))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(
            move |mut req: Request, next: Next| async move {
                req.extensions_mut().insert(BodyLimit(limit));
                next.run(req).await
            },
        ))
        .layer(middleware::from_fn_with_state(kbs.clone(), track_metrics))
        .layer(middleware::map_response(log_failures))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::map_response(
            move |response: Response| async move { timeout_problem(response, timeout) },
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                // Failures are logged once, with their cause, by `log_failures`.
                .on_failure(()),
        )
        .with_state(kbs)
}

/// The `/kbs/v0/…` dispatcher (spec §1.3).
async fn dispatch(State(kbs): State<AppState>, req: Request) -> Result<Response, ApiError> {
    // The raw path is split and decoded here, before anything else looks at it.
    let path = parse_kbs_path(req.uri().path())?;
    let query = parse_query(req.uri().query())?;
    let method = req.method().clone();
    if ![Method::GET, Method::POST, Method::PUT, Method::DELETE].contains(&method) {
        return Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
        });
    }
    let headers = req.headers().clone();
    let uri_with_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
    let body = read_body(req).await?;

    let admin = admin_api::AdminRequest {
        method: &method,
        authorization: authorization_header(&headers),
        uri_with_query: &uri_with_query,
        rest: &path.resource_path,
        body: &body,
    };
    match (path.plugin.as_str(), &method) {
        ("auth", &Method::POST) => rcar::auth(&kbs, &body).await,
        ("attest", &Method::POST) => rcar::attest(&kbs, &headers, &body).await,
        ("attestation-policy", &Method::POST | &Method::GET | &Method::DELETE) => {
            admin_api::attestation_policy(&kbs, admin).await
        }
        ("reference-value", &Method::POST | &Method::GET | &Method::DELETE) => {
            admin_api::reference_value(&kbs, admin).await
        }
        ("resource-policy", &Method::POST | &Method::GET) => {
            admin_api::resource_policy(&kbs, admin).await
        }
        _ => {
            let call = plugin::PluginCall {
                method,
                headers: &headers,
                uri_with_query: &uri_with_query,
                path: KbsPath {
                    plugin: path.plugin,
                    resource_path: path.resource_path,
                },
                query,
                body: body.to_vec(),
            };
            plugin::handle(&kbs, call).await
        }
    }
}

/// `GET /metrics`: Prometheus text exposition.
async fn metrics(State(kbs): State<AppState>) -> Result<Response, ApiError> {
    let text = kbs
        .metrics
        .encode()
        .map_err(|_| ApiError::PrometheusError)?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}

/// `GET /healthz`: 200 with an empty body.
async fn healthz() -> StatusCode {
    StatusCode::OK
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
    }
}

/// Counts `/kbs…` requests (spec §14: other paths are not counted).
async fn track_metrics(State(kbs): State<AppState>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/kbs") {
        return next.run(req).await;
    }
    let content_length = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let _guard = kbs.metrics.http_request_started(content_length);
    next.run(req).await
}

/// Logs the error a failed response carries: internal failures loudly, client errors quietly.
async fn log_failures(response: Response) -> Response {
    if let Some(LoggedError(error)) = response.extensions().get::<LoggedError>() {
        let status = response.status();
        if status.is_server_error() {
            tracing::error!(%status, problem = error.type_name(), error = ?error, "request failed");
        } else {
            tracing::debug!(%status, problem = error.type_name(), detail = %error, "request refused");
        }
    }
    response
}

/// The timeout layer answers with an empty 408; give it a problem document like every other
/// failure.
fn timeout_problem(response: Response, timeout: Duration) -> Response {
    if response.status() != StatusCode::REQUEST_TIMEOUT
        || response.headers().contains_key(CONTENT_TYPE)
    {
        return response;
    }
    tracing::warn!(timeout_secs = timeout.as_secs_f64(), "request timed out");
    ApiError::RequestTimeout {
        timeout_ms: timeout.as_millis(),
    }
    .into_response()
}

/// One span per request: method, path (no query) and the session id if a cookie names one.
fn request_span(req: &Request) -> tracing::Span {
    // Only a well-formed id is recorded, so arbitrary cookie text never reaches the logs.
    let session = session_cookie(req.headers())
        .and_then(|c| c.parse::<crate::session::SessionId>().ok())
        .map(|id| id.to_string())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        session = %session,
    )
}

#[cfg(test)]
mod tests;
