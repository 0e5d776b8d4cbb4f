//! A minimal in-process KBS stand-in that records what the client sends, so SDK and CLI tests
//! can check the client's side of the protocol without the real server.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kbs_client::jose::{self, VerifyingKey};
use kbs_client::kbs_types::{Attestation, HashAlgorithm, Request, TeePubKey};
use serde_json::{Value, json};

/// What the mock answers and what it saw.
#[derive(Default)]
pub struct MockState {
    /// Whether resource reads pass the "policy".
    pub allow: bool,
    /// Resources by path.
    pub resources: HashMap<String, Vec<u8>>,
    /// `extra-params` of the challenge (default `""`).
    pub challenge_extra_params: Option<Value>,
    /// The hash the mock expects the report data to use.
    pub expected_hash: Option<HashAlgorithm>,
    /// Refuse every `/attest`.
    pub refuse_attest: bool,
    /// Key admin tokens must verify with; `None` accepts any bearer.
    pub admin_key: Option<VerifyingKey>,
    pub(crate) sessions: HashMap<String, Session>,
    pub(crate) next_session: u64,
    /// Number of `/auth` calls.
    pub auth_calls: usize,
    /// Number of `/attest` calls.
    pub attest_calls: usize,
    /// `Cookie` header (if any) of each resource GET.
    pub get_cookies: Vec<Option<String>>,
    /// `Authorization` header (if any) of each resource GET.
    pub get_authorizations: Vec<Option<String>>,
    /// The `/auth` bodies.
    pub auth_bodies: Vec<Value>,
    /// Every admin request: method + path, bearer token, claims when verified, body.
    pub admin_requests: Vec<AdminRequest>,
}

/// One recorded admin request.
#[derive(Debug, Clone)]
pub struct AdminRequest {
    /// `METHOD /path`.
    pub route: String,
    /// The bearer token.
    pub token: Option<String>,
    /// The token's claims, when `admin_key` is set and it verified.
    pub claims: Option<Value>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

pub(crate) struct Session {
    nonce: String,
    attested: Option<TeePubKey>,
}

/// Shared mock state.
pub type Shared = Arc<Mutex<MockState>>;

/// Starts the mock on a free loopback port; returns its URL and state.
pub async fn start(state: MockState) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(state));
    let app = Router::new()
        .route("/kbs/v0/auth", post(auth))
        .route("/kbs/v0/attest", post(attest))
        .route(
            "/kbs/v0/resource/{*path}",
            get(get_resource).post(admin).delete(admin),
        )
        .route("/kbs/v0/resource-policy", post(admin).get(list_policies))
        .route("/kbs/v0/attestation-policy", post(admin))
        .route("/kbs/v0/reference-value", post(admin))
        .route(
            "/kbs/v0/reference-value/{*id}",
            get(query_reference_value).delete(admin),
        )
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), shared)
}

fn problem(status: StatusCode, variant: &str, detail: &str) -> Response {
    let body = json!({
        "type": format!("https://github.com/confidential-containers/kbs/errors/{variant}"),
        "detail": detail,
    });
    (status, body.to_string()).into_response()
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    let cookie = headers.get(header::COOKIE)?.to_str().ok()?;
    cookie
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "kbs-session-id")
        .map(|(_, v)| v.to_owned())
}

async fn auth(State(state): State<Shared>, body: Bytes) -> Response {
    let raw: Value = serde_json::from_slice(&body).unwrap();
    let request: Request = serde_json::from_value(raw.clone()).unwrap();
    let mut s = state.lock().unwrap();
    s.auth_calls += 1;
    s.auth_bodies.push(raw);
    if request.version != "0.4.0" {
        return problem(StatusCode::UNAUTHORIZED, "AttestationError", "version");
    }
    s.next_session += 1;
    let id = format!("{:032x}", s.next_session);
    let nonce = STANDARD.encode(format!("nonce-{id}"));
    s.sessions.insert(
        id.clone(),
        Session {
            nonce: nonce.clone(),
            attested: None,
        },
    );
    let extra = s.challenge_extra_params.clone().unwrap_or(json!(""));
    let mut response = json!({"nonce": nonce, "extra-params": extra})
        .to_string()
        .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        format!("kbs-session-id={id}; Expires=Fri, 21 Aug 2099 09:16:50 GMT")
            .parse()
            .unwrap(),
    );
    response
}

async fn attest(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut s = state.lock().unwrap();
    s.attest_calls += 1;
    if s.refuse_attest {
        return problem(
            StatusCode::UNAUTHORIZED,
            "AttestationError",
            "RCAR handshake Attest failed",
        );
    }
    let Some(id) = session_id(&headers) else {
        return problem(StatusCode::UNAUTHORIZED, "AttestationError", "no cookie");
    };
    let hash = s.expected_hash.unwrap_or(HashAlgorithm::Sha384);
    let attestation: Attestation = serde_json::from_slice(&body).unwrap();
    let Some(session) = s.sessions.get_mut(&id) else {
        return problem(StatusCode::UNAUTHORIZED, "AttestationError", "no session");
    };
    assert_eq!(attestation.runtime_data.nonce, session.nonce);
    let pk = serde_json::to_value(&attestation.runtime_data.tee_pubkey).unwrap();
    let runtime_data = json!({
        "additional-evidence": attestation.tee_evidence.additional_evidence,
        "nonce": session.nonce,
        "tee-pubkey": pk,
    });
    let digest = jose::jcs::runtime_data_digest(&runtime_data, hash).unwrap();
    assert_eq!(
        attestation.tee_evidence.primary_evidence["report_data"],
        STANDARD.encode(digest),
        "report data does not bind the runtime data"
    );
    session.attested = Some(attestation.runtime_data.tee_pubkey);
    json!({"token": format!("mock-token-{id}")})
        .to_string()
        .into_response()
}

async fn get_resource(
    State(state): State<Shared>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().unwrap();
    let cookie = headers
        .get(header::COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned());
    s.get_cookies.push(cookie);
    s.get_authorizations.push(authorization.clone());
    let from_cookie = session_id(&headers);
    let from_token = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer mock-token-"))
        .map(str::to_owned);
    let pubkey = from_cookie
        .or(from_token)
        .and_then(|id| s.sessions.get(&id))
        .and_then(|session| session.attested.clone());
    let Some(pubkey) = pubkey else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "TokenNotFound",
            "Attestation Token not found",
        );
    };
    if !s.allow {
        return problem(
            StatusCode::UNAUTHORIZED,
            "PolicyDeny",
            "Access denied by policy",
        );
    }
    let Some(bytes) = s.resources.get(&path) else {
        return problem(
            StatusCode::NOT_FOUND,
            "PluginInternalError",
            "resource not found",
        );
    };
    let jwe = jose::jwe::encrypt(&pubkey, bytes).unwrap();
    serde_json::to_string(&jwe).unwrap().into_response()
}

async fn admin(
    State(state): State<Shared>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let claims = match (&s.admin_key, &token) {
        (Some(key), Some(token)) => {
            let now = time_now();
            match jose::jwt::verify(token, key, now) {
                Ok(claims) => Some(claims),
                Err(_) => {
                    return problem(
                        StatusCode::UNAUTHORIZED,
                        "AdminAuthAccess",
                        "Cannot verify token with any of the issuers",
                    );
                }
            }
        }
        _ => None,
    };
    let route = format!("{method} {}", uri.path());
    if method == axum::http::Method::POST && uri.path().starts_with("/kbs/v0/resource/") {
        let path = uri
            .path()
            .trim_start_matches("/kbs/v0/resource/")
            .to_owned();
        s.resources.insert(path, body.to_vec());
    }
    if method == axum::http::Method::DELETE && uri.path().starts_with("/kbs/v0/resource/") {
        let path = uri.path().trim_start_matches("/kbs/v0/resource/");
        if s.resources.remove(path).is_none() {
            return problem(StatusCode::NOT_FOUND, "PluginInternalError", "not found");
        }
    }
    // only `svn` is stored, as for reads
    if method == axum::http::Method::DELETE
        && uri.path().starts_with("/kbs/v0/reference-value/")
        && uri.path() != "/kbs/v0/reference-value/svn"
    {
        return problem(
            StatusCode::NOT_FOUND,
            "AttestationError",
            "attestation service error: no reference value found for the given id",
        );
    }
    s.admin_requests.push(AdminRequest {
        route,
        token,
        claims,
        content_type: headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned()),
        body: body.to_vec(),
    });
    StatusCode::OK.into_response()
}

async fn list_policies() -> Response {
    json!(["resource-policy"]).to_string().into_response()
}

async fn query_reference_value(Path(id): Path<String>) -> Response {
    if id == "svn" {
        json!(["1"]).to_string().into_response()
    } else {
        problem(
            StatusCode::UNAUTHORIZED,
            "RvpsError",
            "RVPS configuration failed: No reference value found for the given id",
        )
    }
}

/// Unix seconds now.
pub fn time_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
