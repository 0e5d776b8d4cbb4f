//! `POST /kbs/v0/auth` and `POST /kbs/v0/attest` (spec §3).

use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use kbs_types::{Attestation, Request};
use serde::Serialize;
use time::OffsetDateTime;

use crate::app::Kbs;
use crate::error::{ApiError, RcarError};
use crate::http::extract::{ApiJson, session_cookie};
use crate::session::{COOKIE_NAME, SessionError, SessionId};

/// The only protocol version accepted (semver requirement `=0.4.0`).
pub const PROTOCOL_VERSION: (u64, u64, u64) = (0, 4, 0);

/// `{"token": …}`.
#[derive(Serialize)]
struct TokenResponse {
    token: String,
}

/// Handles `/auth`: checks the version, makes a challenge, opens a session.
pub async fn auth(kbs: &Kbs, body: &[u8]) -> Result<Response, ApiError> {
    kbs.metrics.auth_requested();
    let result = auth_inner(kbs, body).await;
    kbs.metrics.auth_finished(result.is_ok());
    result
}

async fn auth_inner(kbs: &Kbs, body: &[u8]) -> Result<Response, ApiError> {
    let ApiJson(request) = ApiJson::<Request>::from_bytes(body)?;
    check_protocol_version(&request.version)?;
    let challenge = kbs
        .attestation
        .generate_challenge(request.tee, &request.extra_params)
        .await
        .map_err(RcarError::Challenge)?;
    let expiry = OffsetDateTime::now_utc() + kbs.session_timeout;
    let id = kbs
        .sessions
        .create(request, challenge.nonce.clone(), expiry)
        .await
        .map_err(|_| RcarError::SessionStore)?;
    tracing::debug!(session = %id, "session created");
    Ok(with_cookie(ApiJson(challenge).into_response(), &id, expiry))
}

/// Handles `/attest`: takes the session's nonce (once), verifies, stores the token.
pub async fn attest(kbs: &Kbs, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    kbs.metrics.attestation_requested();
    let now = OffsetDateTime::now_utc();
    let prepared = async {
        let cookie = session_cookie(headers).ok_or(RcarError::MissingCookie)?;
        // A malformed id can name no session.
        let id: SessionId = cookie.parse().map_err(|_| RcarError::SessionNotFound)?;
        let ApiJson(attestation) = ApiJson::<Attestation>::from_bytes(body)?;
        let session = kbs
            .sessions
            .begin_attest(&id, now)
            .await
            .map_err(|e| match e {
                SessionError::NotFound => RcarError::SessionNotFound,
                SessionError::NonceAlreadyUsed | SessionError::NotAuthed => {
                    RcarError::SessionAlreadyUsed
                }
                _ => RcarError::SessionStore,
            })?;
        let same_nonce = aws_lc_rs::constant_time::verify_slices_are_equal(
            attestation.runtime_data.nonce.as_bytes(),
            session.nonce.as_bytes(),
        )
        .is_ok();
        if !same_nonce {
            return Err(ApiError::from(RcarError::NonceMismatch));
        }
        Ok((id, attestation, session))
    }
    .await;
    let (id, attestation, session) = prepared.inspect_err(|_| kbs.metrics.attestation_refused())?;

    let tee = session.request.tee;
    let verdict = kbs
        .attestation
        .verify(tee, &attestation, &session.nonce)
        .await;
    kbs.metrics
        .attestation_verdict(tee.as_ref(), verdict.is_ok());
    let token = verdict.map_err(RcarError::Verification)?;
    kbs.sessions
        .complete_attest(&id, token.clone(), OffsetDateTime::now_utc())
        .await
        .map_err(|e| match e {
            // Expired while the AS was verifying: the client must start again.
            SessionError::NotFound => RcarError::SessionNotFound,
            _ => RcarError::SessionStore,
        })?;
    tracing::info!(session = %id, tee = tee.as_ref(), "attestation succeeded");
    Ok(with_cookie(
        ApiJson(TokenResponse { token }).into_response(),
        &id,
        session.expiry,
    ))
}

/// Accepts exactly semver `0.4.0`: build metadata is ignored, pre-releases are refused
/// (as the semver requirement `=0.4.0` upstream uses).
pub fn check_protocol_version(version: &str) -> Result<(), RcarError> {
    let unparsable = || RcarError::UnparsableVersion {
        version: version.to_owned(),
    };
    let without_build = match version.split_once('+') {
        Some((core, build)) if is_dot_separated_identifiers(build) => core,
        Some(_) => return Err(unparsable()),
        None => version,
    };
    let (core, pre_release) = match without_build.split_once('-') {
        Some((core, pre)) if is_dot_separated_identifiers(pre) => (core, Some(pre)),
        Some(_) => return Err(unparsable()),
        None => (without_build, None),
    };
    let numbers: Vec<u64> = core
        .split('.')
        .map(parse_semver_number)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(unparsable)?;
    let [major, minor, patch] = numbers[..] else {
        return Err(unparsable());
    };
    if pre_release.is_some() || (major, minor, patch) != PROTOCOL_VERSION {
        return Err(RcarError::VersionMismatch {
            version: version.to_owned(),
        });
    }
    Ok(())
}

fn parse_semver_number(s: &str) -> Option<u64> {
    let leading_zero = s.len() > 1 && s.starts_with('0');
    if s.is_empty() || leading_zero || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_dot_separated_identifiers(s: &str) -> bool {
    s.split('.')
        .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// `Set-Cookie: kbs-session-id=<id>; Expires=<HTTP-date>` and nothing else (spec §0).
fn with_cookie(mut response: Response, id: &SessionId, expiry: OffsetDateTime) -> Response {
    let cookie = format!(
        "{COOKIE_NAME}={id}; Expires={}",
        httpdate::fmt_http_date(expiry.into())
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_0_4_0_is_accepted() {
        assert!(check_protocol_version("0.4.0").is_ok());
        assert!(check_protocol_version("0.4.0+build.7").is_ok());
        for v in ["0.3.0", "0.4.0-rc1", "0.4.1", "1.0.0", "0.4.0-alpha+b"] {
            assert!(
                matches!(
                    check_protocol_version(v),
                    Err(RcarError::VersionMismatch { .. })
                ),
                "{v}"
            );
        }
        for v in [
            "0.4", "v0.4.0", "", "0.4.0.0", "00.4.0", "0.4.x", "0.4.0+", "0.4.0-",
        ] {
            assert!(
                matches!(
                    check_protocol_version(v),
                    Err(RcarError::UnparsableVersion { .. })
                ),
                "{v}"
            );
        }
    }

    #[test]
    fn mismatch_text_keeps_the_upstream_phrase() {
        let err = check_protocol_version("0.3.0").unwrap_err();
        assert!(
            err.to_string()
                .contains("KBS Client Protocol Version Mismatch")
        );
    }
}
