//! Request pieces the handlers need, read so that every rejection is one of our problem
//! documents: JSON bodies ([`ApiJson`]), the raw body under the size limit, the session
//! cookie and the bearer token.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::session::COOKIE_NAME;

/// A JSON request or response body. As an extractor it turns every rejection into a
/// `SerdeError` problem (400) naming what was wrong, or `PayloadTooLarge` (413).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> ApiJson<T> {
    /// Parses a body already read.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ApiError> {
        serde_json::from_slice(bytes)
            .map(Self)
            .map_err(|e| ApiError::SerdeError {
                reason: e.to_string(),
            })
    }
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req).await?;
        Self::from_bytes(&bytes)
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => (
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                body,
            )
                .into_response(),
            Err(e) => ApiError::SerdeError {
                reason: e.to_string(),
            }
            .into_response(),
        }
    }
}

/// The limit `DefaultBodyLimit` enforces, recorded by the router so 413 problems can state it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Reads the whole body, honouring the router's `DefaultBodyLimit`.
pub async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    let limit = req.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
    Bytes::from_request(req, &()).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit_bytes: limit }
        } else {
            ApiError::SerdeError {
                reason: rejection.body_text(),
            }
        }
    })
}

/// The value of the `kbs-session-id` cookie, if any `Cookie` header carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().trim_matches('"'))
}

/// The token of an `Authorization: Bearer <token>` header (scheme word exactly `Bearer`).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then_some(token)
}

/// The raw `Authorization` header, for the admin check.
pub fn authorization_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let h = headers(&[("cookie", "a=b; kbs-session-id=abc ; c=d")]);
        assert_eq!(session_cookie(&h), Some("abc"));
        let h = headers(&[("cookie", "a=b"), ("cookie", "kbs-session-id=\"xyz\"")]);
        assert_eq!(session_cookie(&h), Some("xyz"));
        assert_eq!(
            session_cookie(&headers(&[("cookie", "kbs-session=1")])),
            None
        );
    }

    #[test]
    fn bearer_needs_the_exact_scheme() {
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer t.o.k")])),
            Some("t.o.k")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "bearer t")])),
            None
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Basic dXNlcg==")])),
            None
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer ")])),
            None
        );
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn json_rejections_name_the_problem() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct Body {
            #[allow(dead_code)]
            a: u8,
        }
        let err = ApiJson::<Body>::from_bytes(b"{\"b\":1}").unwrap_err();
        assert!(err.to_string().contains("unknown field `b`"), "{err}");
        let err = ApiJson::<Body>::from_bytes(b"{").unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}
