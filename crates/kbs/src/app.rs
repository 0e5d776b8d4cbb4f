//! The running KBS: every component the handlers use, built once from a validated
//! [`KbsConfig`] in upstream's startup order (spec §1.1).

use std::sync::Arc;

use storage::StorageProvider;

use crate::admin::{self, AdminAuth};
use crate::attestation::{self, AttestationBackend, BuiltinBackend, GrpcBackend};
use crate::config::{AttestationServiceConfig, ConfigError, KbsConfig};
use crate::metrics::Metrics;
use crate::plugins::{self, PluginRegistry, ResourceObserver, ResourceOp};
use crate::resource_policy::{self, POLICY_NAMESPACE, ResourcePolicy};
use crate::session::{KvSessionStore, MemorySessionStore, SESSION_NAMESPACE, SessionStore};
use crate::token::{self, TokenVerifier};

/// Shared state of the HTTP handlers.
pub type AppState = Arc<Kbs>;

/// Every component a request may need.
pub struct Kbs {
    /// RCAR sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Verifies evidence, makes challenges, manages AS policies and reference values.
    pub attestation: Arc<dyn AttestationBackend>,
    /// Session lifetime (`[attestation_service].timeout`).
    pub session_timeout: time::Duration,
    /// Admin authentication and authorization.
    pub admin: AdminAuth,
    /// Attestation-token verification.
    pub tokens: TokenVerifier,
    /// The Rego resource policy.
    pub resource_policy: ResourcePolicy,
    /// Enabled plugins.
    pub plugins: PluginRegistry,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Request body limit in bytes.
    pub payload_limit: usize,
    /// Longest a request may take before it is answered with 408.
    pub request_timeout: std::time::Duration,
}

/// Why the KBS cannot start from a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `[storage_backend]` cannot be used.
    #[error("storage backend initialization failed: {0}")]
    Storage(#[from] storage::Error),
    /// A `[[plugins]]` entry cannot be used.
    #[error("plugin initialization failed: {0}")]
    Plugins(#[from] plugins::Error),
    /// The builtin attestation service cannot start.
    #[error("attestation service initialization failed: {0}")]
    AttestationService(#[from] attestation_service::Error),
    /// `[attestation_token]` cannot be used.
    #[error("attestation token verifier initialization failed: {0}")]
    TokenVerifier(#[from] token::Error),
    /// The resource policy store cannot be opened.
    #[error("resource policy initialization failed: {0}")]
    ResourcePolicy(#[from] resource_policy::Error),
    /// `[admin]` cannot be used.
    #[error("failed to initialize [admin] configuration: {0}")]
    Admin(#[from] admin::Error),
    /// The remote attestation service client cannot be set up.
    #[error("attestation service client initialization failed: {0}")]
    AttestationBackend(#[from] attestation::Error),
}

impl Kbs {
    /// Builds every component. Key files, JWK sets and storage are opened here, so a KBS that
    /// starts can serve.
    pub async fn from_config(config: &KbsConfig) -> Result<Self, StartupError> {
        config.validate()?;
        let storage = StorageProvider::new(&config.storage_backend)?;
        let metrics = Metrics::new();
        let plugins = PluginRegistry::with_observer(
            &config.plugins,
            &storage,
            Some(resource_observer(metrics.clone())),
        )?;

        let (attestation, local_as_jwk): (Arc<dyn AttestationBackend>, _) =
            match &config.attestation_service {
                AttestationServiceConfig::Builtin(builtin) => {
                    let service =
                        attestation_service::AttestationService::new(builtin.as_config(), &storage)
                            .await?;
                    // The KBS trusts its own in-process AS without x5c or insecure_header_jwk.
                    let jwk = service.token_verifying_jwk();
                    (Arc::new(BuiltinBackend::new(Arc::new(service))), Some(jwk))
                }
                AttestationServiceConfig::Grpc(grpc) => {
                    // Nothing is connected here: the KBS starts while the AS is down. Its
                    // tokens are trusted through [attestation_token] like any other issuer's.
                    let settings = grpc.settings(crate::http::REQUEST_TIMEOUT);
                    let backend = GrpcBackend::new(&settings)?;
                    tracing::info!(
                        as_addr = backend.addr(),
                        pool_size = settings.pool_size,
                        request_timeout_secs = settings.request_timeout.as_secs_f64(),
                        "remote attestation service over gRPC (connects on first use)"
                    );
                    (Arc::new(backend), None)
                }
                other => {
                    // validate() refuses every other backend.
                    return Err(ConfigError::BackendNotAvailable {
                        backend: other.type_name(),
                    }
                    .into());
                }
            };

        let tokens = TokenVerifier::new(&config.attestation_token, local_as_jwk).await?;
        let resource_policy =
            ResourcePolicy::new(storage.namespace(POLICY_NAMESPACE, None)?).await?;
        let admin = AdminAuth::new(&config.admin).await?;
        // In memory unless asked for explicitly: a session lives minutes, and the default
        // store needs no I/O per request.
        let sessions: Arc<dyn SessionStore> = match config.session_storage_type {
            None | Some(storage::StorageType::Memory) => Arc::new(MemorySessionStore::new()),
            Some(kind) => Arc::new(KvSessionStore::new(
                storage.namespace(SESSION_NAMESPACE, Some(kind))?,
            )),
        };

        Ok(Self {
            sessions,
            attestation,
            session_timeout: time::Duration::minutes(config.attestation_service.timeout_minutes()),
            admin,
            tokens,
            resource_policy,
            plugins,
            metrics,
            payload_limit: config.http_server.payload_limit_bytes(),
            request_timeout: crate::http::REQUEST_TIMEOUT,
        })
    }
}

/// Feeds the `kbs_resource_*_total{resource_path}` counters from the resource plugin.
pub fn resource_observer(metrics: Arc<Metrics>) -> Arc<dyn ResourceObserver> {
    Arc::new(move |op: ResourceOp, path: &str| match op {
        ResourceOp::Read => metrics.resource_read(path),
        ResourceOp::Write => metrics.resource_written(path),
        ResourceOp::Delete => metrics.resource_deleted(path),
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use serde_json::{Value, json};
    use tower::ServiceExt as _;

    use super::*;

    const CONFIG: &str = r#"
[http_server]
insecure_http = true
[admin]
authorization_mode = "InsecureAllowAll"
[attestation_service]
type = "coco_as_builtin"
[[plugins]]
name = "resource"
storage_backend_type = "kvstorage"
"#;

    async fn send(
        state: &AppState,
        request: Request<Body>,
    ) -> (StatusCode, Vec<u8>, Option<String>) {
        let response = crate::http::router(state.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        (status, body, cookie)
    }

    fn post(uri: &str, cookie: Option<&str>, body: impl Into<Body>) -> Request<Body> {
        let mut builder = Request::post(uri);
        if let Some(cookie) = cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        builder.body(body.into()).unwrap()
    }

    /// The whole sample flow through the real AS, token verifier, policy, plugin and JWE.
    #[tokio::test]
    async fn sample_tee_flow_releases_the_secret_with_the_builtin_as() {
        let config = KbsConfig::from_toml(CONFIG).unwrap();
        let state: AppState = Arc::new(Kbs::from_config(&config).await.unwrap());

        let allow = URL_SAFE_NO_PAD.encode("package policy\ndefault allow := true\n");
        let body = json!({"policy": allow}).to_string();
        let (status, _, _) = send(&state, post("/kbs/v0/resource-policy", None, body)).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = send(
            &state,
            post("/kbs/v0/resource/default/test/secret", None, "shhhhhhh"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);

        let request = json!({"version": "0.4.0", "tee": "sample", "extra-params": ""}).to_string();
        let (status, body, cookie) = send(&state, post("/kbs/v0/auth", None, request)).await;
        assert_eq!(status, StatusCode::OK);
        let cookie = cookie.unwrap();
        let nonce = serde_json::from_slice::<Value>(&body).unwrap()["nonce"]
            .as_str()
            .unwrap()
            .to_owned();

        let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
        let tee_pubkey = serde_json::to_value(key.public_key().unwrap()).unwrap();
        let runtime_data =
            json!({"tee-pubkey": tee_pubkey, "nonce": nonce, "additional-evidence": ""});
        let digest =
            jose::jcs::runtime_data_digest(&runtime_data, kbs_types::HashAlgorithm::Sha384)
                .unwrap();
        let attestation = json!({
            "runtime-data": {"nonce": nonce, "tee-pubkey": tee_pubkey},
            "tee-evidence": {
                "primary_evidence": {"svn": "1", "report_data": STANDARD.encode(digest)},
                "additional_evidence": "",
            },
        });
        let (status, body, _) = send(
            &state,
            post("/kbs/v0/attest", Some(&cookie), attestation.to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));

        let get = Request::get("/kbs/v0/resource/default/test/secret")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap();
        let (status, body, _) = send(&state, get).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let jwe: kbs_types::Response = serde_json::from_slice(&body).unwrap();
        assert_eq!(&key.decrypt(&jwe).unwrap()[..], b"shhhhhhh");
    }

    #[tokio::test]
    async fn evidence_bound_to_another_nonce_is_refused() {
        let config = KbsConfig::from_toml(CONFIG).unwrap();
        let state: AppState = Arc::new(Kbs::from_config(&config).await.unwrap());
        let request = json!({"version": "0.4.0", "tee": "sample", "extra-params": ""}).to_string();
        let (_, body, cookie) = send(&state, post("/kbs/v0/auth", None, request)).await;
        let nonce = serde_json::from_slice::<Value>(&body).unwrap()["nonce"]
            .as_str()
            .unwrap()
            .to_owned();
        let key = jose::TeeKeyPair::generate_ec_p256().unwrap();
        let attestation = json!({
            "runtime-data": {"nonce": nonce, "tee-pubkey": key.public_key().unwrap()},
            "tee-evidence": {
                "primary_evidence": {"svn": "1", "report_data": STANDARD.encode([0u8; 48])},
                "additional_evidence": "",
            },
        });
        let (status, _, _) = send(
            &state,
            post("/kbs/v0/attest", cookie.as_deref(), attestation.to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn session_storage_type_puts_sessions_in_that_backend() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "session_storage_type = \"LocalFs\"\n{CONFIG}\n[storage_backend.backends.local_fs]\n\
             dir_path = {:?}\n",
            dir.path().to_str().unwrap()
        );
        let config = KbsConfig::from_toml(&text).unwrap();
        let state: AppState = Arc::new(Kbs::from_config(&config).await.unwrap());
        let request = json!({"version": "0.4.0", "tee": "sample", "extra-params": ""}).to_string();
        let (status, _, cookie) = send(&state, post("/kbs/v0/auth", None, request)).await;
        assert_eq!(status, StatusCode::OK);
        let id = cookie
            .unwrap()
            .trim_start_matches("kbs-session-id=")
            .to_owned();
        assert!(dir.path().join("kbs_protocol_session").join(id).is_file());
    }

    #[tokio::test]
    async fn unavailable_backend_is_refused_at_startup() {
        let text = "[http_server]\ninsecure_http = true\n[admin]\nauthorization_mode = \"DenyAll\"\n\
                    [attestation_service]\ntype = \"intel_ta\"\nbase_url = \"https://x\"\n\
                    api_key = \"k\"\ncerts_file = \"c\"\n";
        let config = KbsConfig::from_toml(text).unwrap();
        let err = Kbs::from_config(&config).await.err().unwrap();
        assert!(err.to_string().contains("not available yet"), "{err}");
    }
}
