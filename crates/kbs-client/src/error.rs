//! The SDK's one error type, and the server's problem document it carries.

use std::fmt;

use serde::Deserialize;

/// Longest slice of a non-problem error body kept in a [`Problem`]: enough to read an error
/// message, never a whole page.
const MAX_BODY_TEXT: usize = 512;

/// An error answer from the KBS: the HTTP status and its RFC 7807 problem document
/// (`{"type": ".../errors/<Variant>", "detail": ...}`, `kbs-protocol.md` §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// HTTP status code of the answer.
    pub status: u16,
    /// The problem `type` URI, when the body was a problem document.
    pub problem_type: Option<String>,
    /// The problem `detail`, or the start of the body text when the body was not a problem
    /// document, or the status reason when the body was empty.
    pub detail: String,
}

#[derive(Deserialize)]
struct ProblemDocument {
    #[serde(rename = "type")]
    problem_type: String,
    #[serde(default)]
    detail: String,
}

impl Problem {
    /// Builds a problem from an error answer's status and body.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        if let Ok(doc) = serde_json::from_slice::<ProblemDocument>(body) {
            return Self {
                status,
                problem_type: Some(doc.problem_type),
                detail: doc.detail,
            };
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let detail = if text.is_empty() {
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("no detail")
                .to_owned()
        } else {
            text.chars().take(MAX_BODY_TEXT).collect()
        };
        Self {
            status,
            problem_type: None,
            detail,
        }
    }

    /// The last segment of the problem type (`PolicyDeny` for
    /// `https://github.com/confidential-containers/kbs/errors/PolicyDeny`), the error variant
    /// name tests and callers match on.
    pub fn variant(&self) -> Option<&str> {
        self.problem_type
            .as_deref()
            .map(|t| t.rsplit('/').next().unwrap_or(t))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The detail comes from the server: print it on one line, without control characters
        // a hostile server could use to forge terminal output.
        let detail: String = self
            .detail
            .split(char::is_control)
            .filter(|part| !part.trim().is_empty())
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        match self.variant() {
            Some(variant) => write!(f, "{detail} ({variant}, HTTP {})", self.status),
            None => write!(f, "{detail} (HTTP {})", self.status),
        }
    }
}

/// Everything that can go wrong in the SDK.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The KBS URL cannot be parsed or is not http(s).
    #[error("invalid KBS URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// A caller-supplied value is unusable (a resource path, a PEM file, a policy text).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The HTTP client could not be built or the request could not be sent or read. The cause
    /// (connection refused, TLS failure, ...) is the error's source.
    #[error("HTTP transport error")]
    Transport(#[source] reqwest::Error),
    /// The KBS refused the request with 401 (after re-attesting where the flow allows it), the
    /// answer upstream clients report as "request unauthorized".
    #[error("request unauthorized: {0}")]
    Unauthorized(Problem),
    /// The KBS answered 404: unknown plugin or missing resource.
    #[error("resource not found: {0}")]
    NotFound(Problem),
    /// The KBS answered any other error status.
    #[error("KBS error: {0}")]
    Server(Problem),
    /// The KBS answered 200 with a body this client cannot understand.
    #[error("unexpected response from KBS: {0}")]
    UnexpectedResponse(String),
    /// The challenge selected a hash algorithm this client does not know (`kbs-protocol.md`
    /// §15.1: non-string or unknown names are client errors).
    #[error("unsupported selected-hash-algorithm in challenge: {0}")]
    UnsupportedHashAlgorithm(String),
    /// The attester could not produce evidence.
    #[error("attester failed: {0}")]
    Attester(String),
    /// An admin operation was requested but neither a signing key nor a token was configured.
    #[error("no admin credentials: configure an admin signing key or an admin token")]
    NoAdminCredentials,
    /// A JOSE operation failed (key parsing, JWE decryption, JWT signing, JCS hashing); the
    /// cause is the error's source.
    #[error("JOSE operation failed")]
    Jose(#[from] jose::Error),
}

impl ClientError {
    /// The server's problem document, when the error is an error answer from the KBS.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Self::Unauthorized(p) | Self::NotFound(p) | Self::Server(p) => Some(p),
            _ => None,
        }
    }

    /// The HTTP status of the KBS's error answer, if any.
    pub fn status(&self) -> Option<u16> {
        self.problem().map(|p| p.status)
    }

    /// Maps an error answer to the variant its status calls for.
    pub(crate) fn from_status(status: u16, body: &[u8]) -> Self {
        let problem = Problem::from_response(status, body);
        match status {
            401 => Self::Unauthorized(problem),
            404 => Self::NotFound(problem),
            _ => Self::Server(problem),
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest errors can carry the request URL; ours never contain secrets (tokens travel
        // in headers), so keeping the URL helps the user find the wrong endpoint.
        Self::Transport(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_problem_document_and_variant() {
        let body = br#"{"type":"https://github.com/confidential-containers/kbs/errors/PolicyDeny","detail":"Access denied by policy"}"#;
        let p = Problem::from_response(401, body);
        assert_eq!(p.variant(), Some("PolicyDeny"));
        assert_eq!(p.detail, "Access denied by policy");
        assert_eq!(p.status, 401);
        assert_eq!(
            p.to_string(),
            "Access denied by policy (PolicyDeny, HTTP 401)"
        );
    }

    #[test]
    fn keeps_plain_text_bodies_and_empty_bodies_readable() {
        let p = Problem::from_response(413, b"length limit exceeded");
        assert_eq!(p.problem_type, None);
        assert_eq!(p.detail, "length limit exceeded");
        let p = Problem::from_response(413, b"");
        assert_eq!(p.detail, "Payload Too Large");
    }

    #[test]
    fn display_keeps_the_detail_on_one_line_without_control_characters() {
        let body = br#"{"type":"t/PolicyEngineError","detail":"does not compile:\n  line 2\u001b[31m red"}"#;
        let p = Problem::from_response(400, body);
        assert_eq!(
            p.to_string(),
            "does not compile: line 2 [31m red (PolicyEngineError, HTTP 400)"
        );
    }

    #[test]
    fn truncates_long_non_problem_bodies() {
        let body = vec![b'x'; 10_000];
        let p = Problem::from_response(500, &body);
        assert_eq!(p.detail.len(), MAX_BODY_TEXT);
    }

    #[test]
    fn maps_statuses_to_variants() {
        assert!(matches!(
            ClientError::from_status(401, b""),
            ClientError::Unauthorized(_)
        ));
        assert!(matches!(
            ClientError::from_status(404, b""),
            ClientError::NotFound(_)
        ));
        let e = ClientError::from_status(403, b"{\"type\":\"t/AdminAuthAccess\",\"detail\":\"d\"}");
        assert!(matches!(e, ClientError::Server(_)));
        assert_eq!(e.status(), Some(403));
        assert_eq!(
            e.problem().and_then(|p| p.variant()),
            Some("AdminAuthAccess")
        );
    }
}
