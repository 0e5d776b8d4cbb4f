//! One virtual guest's protocol steps, each one HTTP request, timed and classified.
//!
//! The SDK's `KbsClient` builds the `/attest` body ([`kbs_client::KbsClient::attestation_for`])
//! and decrypts answers with its TEE key; the HTTP requests are made here on one shared
//! connection pool so that each step can be timed alone and no SDK retry hides a 401.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kbs_client::kbs_types::{Challenge, Request, Response, Tee};
use kbs_client::{KbsClient, PROTOCOL_VERSION, Problem, session_cookie};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderValue};
use reqwest::{StatusCode, Url};

use crate::BenchError;
use crate::report::Op;

/// Per-request timeout: long enough for a saturated server, short enough that a hung one
/// ends the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Why one step failed. Counted, never fatal during the measured phase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Failure {
    /// The KBS answered with an error status; `problem` is the last segment of the problem
    /// document's `type` (`PolicyDeny`), when the body was one.
    Status {
        /// HTTP status.
        status: u16,
        /// Problem type variant.
        problem: Option<String>,
    },
    /// The request could not be sent or its answer not read (`connect`, `timeout`, ...).
    Transport(&'static str),
    /// A 200 answer whose body is not what the protocol says (no cookie, not a JWE, ...).
    Malformed(&'static str),
    /// The JWE could not be decrypted with the guest's TEE key.
    Decrypt,
    /// The JWE decrypted to something other than the expected secret.
    SecretMismatch,
}

impl Failure {
    /// HTTP status, for error answers.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error class: `http`, `transport`, `malformed`, `decrypt`, `secret-mismatch`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Status { .. } => "http",
            Self::Transport(_) => "transport",
            Self::Malformed(_) => "malformed",
            Self::Decrypt => "decrypt",
            Self::SecretMismatch => "secret-mismatch",
        }
    }

    /// Problem type or transport/malformed detail.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Status { problem, .. } => problem.as_deref(),
            Self::Transport(what) | Self::Malformed(what) => Some(what),
            Self::Decrypt | Self::SecretMismatch => None,
        }
    }

    fn transport(e: &reqwest::Error) -> Self {
        Self::Transport(if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connect"
        } else if e.is_body() || e.is_decode() {
            "body"
        } else {
            "request"
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { status, problem } => match problem {
                Some(p) => write!(f, "HTTP {status} {p}"),
                None => write!(f, "HTTP {status}"),
            },
            Self::Transport(what) => write!(f, "transport: {what}"),
            Self::Malformed(what) => write!(f, "malformed answer: {what}"),
            Self::Decrypt => f.write_str("JWE decryption failed"),
            Self::SecretMismatch => f.write_str("secret mismatch"),
        }
    }
}

/// The KBS under test: its URL and one HTTP connection pool shared by all guests (keep-alive,
/// so a steady-state run measures requests, not TCP/TLS handshakes).
#[derive(Clone)]
pub struct Target {
    http: reqwest::Client,
    base: String,
    auth_body: Arc<Vec<u8>>,
}

impl Target {
    /// A target at `url`, trusting only `cacert_pem` for HTTPS when given.
    pub fn new(url: &str, cacert_pem: Option<&str>) -> Result<Self, BenchError> {
        let base = Url::parse(url)
            .map_err(|e| BenchError::Options(format!("url {url:?}: {e}")))?
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let mut http = reqwest::Client::builder()
            .user_agent(concat!("kbs-bench/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT)
            .tcp_nodelay(true)
            // a load test goes straight to the server it names
            .no_proxy();
        if let Some(pem) = cacert_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())?;
            if certs.is_empty() {
                return Err(BenchError::Options(
                    "--cacert holds no certificate".to_owned(),
                ));
            }
            http = http.tls_certs_only(certs);
        }
        // The /auth body is the same for every guest: serialise it once.
        let request = Request {
            version: PROTOCOL_VERSION.to_owned(),
            tee: Tee::Sample,
            extra_params: serde_json::json!({"supported-hash-algorithms": ["sha384"]}),
        };
        let auth_body = serde_json::to_vec(&request)
            .map_err(|e| BenchError::Options(format!("/auth body: {e}")))?;
        Ok(Self {
            http: http.build()?,
            base,
            auth_body: Arc::new(auth_body),
        })
    }

    /// `<base>/kbs/v0/<suffix>`.
    pub fn endpoint(&self, suffix: &str) -> String {
        format!("{}/kbs/v0/{suffix}", self.base)
    }
}

/// A virtual guest: a TEE key (inside an SDK client) and its current session cookie and token.
pub struct Guest {
    sdk: Arc<KbsClient>,
    cookie: Option<HeaderValue>,
    bearer: Option<HeaderValue>,
}

/// The outcome of one timed step.
pub type Step<T> = Result<T, Failure>;

impl Guest {
    /// A guest with no session, using `sdk`'s TEE key and attester.
    pub fn new(sdk: Arc<KbsClient>) -> Self {
        Self {
            sdk,
            cookie: None,
            bearer: None,
        }
    }

    /// Whether the guest holds an attestation token.
    pub fn has_token(&self) -> bool {
        self.bearer.is_some()
    }

    /// `POST /kbs/v0/auth`: a new session; keeps its cookie. Calls `timed` with the step's
    /// round-trip time.
    pub async fn auth(
        &mut self,
        target: &Target,
        timed: &mut impl FnMut(Op, Duration),
    ) -> Step<Challenge> {
        self.cookie = None;
        let start = Instant::now();
        let response = target
            .http
            .post(target.endpoint("auth"))
            .header(CONTENT_TYPE, "application/json")
            .body(target.auth_body.as_ref().clone())
            .send()
            .await;
        let (headers, body) = finish(response).await;
        timed(Op::Auth, start.elapsed());
        let (headers, body) = (headers?, body?);
        self.cookie =
            Some(session_cookie(&headers).ok_or(Failure::Malformed("no session cookie"))?);
        serde_json::from_slice(&body).map_err(|_| Failure::Malformed("challenge"))
    }

    /// `POST /kbs/v0/attest` on the current session with sample evidence for `challenge`;
    /// keeps the token for bearer requests.
    pub async fn attest(
        &mut self,
        target: &Target,
        challenge: &Challenge,
        timed: &mut impl FnMut(Op, Duration),
    ) -> Step<()> {
        let cookie = self
            .cookie
            .clone()
            .ok_or(Failure::Malformed("no session"))?;
        let attestation = self
            .sdk
            .attestation_for(challenge)
            .map_err(|_| Failure::Malformed("challenge cannot be attested"))?;
        let body =
            serde_json::to_vec(&attestation).map_err(|_| Failure::Malformed("attestation"))?;
        let start = Instant::now();
        let response = target
            .http
            .post(target.endpoint("attest"))
            .header(COOKIE, cookie)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let (_, body) = finish(response).await;
        timed(Op::Attest, start.elapsed());
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: String,
        }
        let token: TokenResponse =
            serde_json::from_slice(&body?).map_err(|_| Failure::Malformed("token answer"))?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", token.token))
            .map_err(|_| Failure::Malformed("token is not a header value"))?;
        bearer.set_sensitive(true);
        self.bearer = Some(bearer);
        Ok(())
    }

    /// `/auth` then `/attest`.
    pub async fn handshake(
        &mut self,
        target: &Target,
        timed: &mut impl FnMut(Op, Duration),
    ) -> Step<()> {
        let challenge = self.auth(target, timed).await?;
        self.attest(target, &challenge, timed).await
    }

    /// `GET /kbs/v0/resource/<path>` with the session cookie (`bearer = false`) or the token
    /// (`bearer = true`, no cookie); decrypts the answer and compares it with `expected`.
    pub async fn fetch(
        &self,
        target: &Target,
        url: &str,
        bearer: bool,
        expected: &[u8],
        timed: &mut impl FnMut(Op, Duration),
    ) -> Step<()> {
        let request = target.http.get(url);
        let request = if bearer {
            let token = self.bearer.clone().ok_or(Failure::Malformed("no token"))?;
            request.header(AUTHORIZATION, token)
        } else {
            let cookie = self
                .cookie
                .clone()
                .ok_or(Failure::Malformed("no session"))?;
            request.header(COOKIE, cookie)
        };
        let start = Instant::now();
        let response = request.send().await;
        let (_, body) = finish(response).await;
        timed(
            if bearer { Op::GetBearer } else { Op::GetCookie },
            start.elapsed(),
        );
        check_secret(self.sdk.tee_key(), &body?, expected)
    }
}

/// Decrypts a JWE answer body with `key` and compares it with `expected`.
pub fn check_secret(key: &kbs_client::jose::TeeKeyPair, body: &[u8], expected: &[u8]) -> Step<()> {
    let jwe: Response = serde_json::from_slice(body).map_err(|_| Failure::Malformed("JWE"))?;
    let secret = key.decrypt(&jwe).map_err(|_| Failure::Decrypt)?;
    if secret.as_slice() == expected {
        Ok(())
    } else {
        Err(Failure::SecretMismatch)
    }
}

/// Reads a whole answer: its headers, and its body or the failure its status means.
async fn finish(
    response: Result<reqwest::Response, reqwest::Error>,
) -> (Step<reqwest::header::HeaderMap>, Step<Vec<u8>>) {
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            let failure = Failure::transport(&e);
            return (Err(failure.clone()), Err(failure));
        }
    };
    let status = response.status();
    let headers = response.headers().clone();
    let body = match response.bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) => {
            let failure = Failure::transport(&e);
            return (Err(failure.clone()), Err(failure));
        }
    };
    if status != StatusCode::OK {
        let problem = Problem::from_response(status.as_u16(), &body);
        let failure = Failure::Status {
            status: status.as_u16(),
            problem: problem.variant().map(str::to_owned),
        };
        return (Err(failure.clone()), Err(failure));
    }
    (Ok(headers), Ok(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kbs_client::jose::{TeeKeyPair, jwe};

    #[test]
    fn a_wrong_secret_is_a_mismatch_and_the_right_one_passes() {
        let key = TeeKeyPair::generate_ec_p256().unwrap();
        let jwe = jwe::encrypt(&key.public_key().unwrap(), b"right").unwrap();
        let body = serde_json::to_vec(&jwe).unwrap();
        assert_eq!(check_secret(&key, &body, b"right"), Ok(()));
        assert_eq!(
            check_secret(&key, &body, b"wrong"),
            Err(Failure::SecretMismatch)
        );
        // a prefix of the secret is still wrong
        assert_eq!(
            check_secret(&key, &body, b"righ"),
            Err(Failure::SecretMismatch)
        );
    }

    #[test]
    fn an_answer_for_another_key_or_not_a_jwe_is_an_error() {
        let key = TeeKeyPair::generate_ec_p256().unwrap();
        let other = TeeKeyPair::generate_ec_p256().unwrap();
        let jwe = jwe::encrypt(&other.public_key().unwrap(), b"s").unwrap();
        let body = serde_json::to_vec(&jwe).unwrap();
        assert_eq!(check_secret(&key, &body, b"s"), Err(Failure::Decrypt));
        assert_eq!(
            check_secret(&key, b"{\"not\":\"jwe\"}", b"s"),
            Err(Failure::Malformed("JWE"))
        );
    }
}
