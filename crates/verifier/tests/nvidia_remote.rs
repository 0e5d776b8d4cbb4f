#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `nvidia` in remote mode (`{"type":"Remote"}`) against a mock NRAS on loopback: the request
//! the verifier sends, the checks on NRAS's signed answer (one failing test per check), and
//! the shipped `default_gpu` policy affirming the claims the verifier emits.
//!
//! The mock answers like NRAS v4 (claims version 3.0): a detached EAT
//! `[["JWT", overall], {"GPU-0": device}]`, both tokens ES384 with a `kid` from the JWKS it
//! serves at `/.well-known/jwks.json`, the overall token's `submods` holding the device
//! token's SHA-256.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kbs_types::Tee;
use policy::{CompiledPolicy, PolicyExtension, RuleValue};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use verifier::nvidia::{MAX_NRAS_RESPONSE, NvidiaError};
use verifier::{
    Error, FixedClock, InitDataHash, ReportData, TeeClass, VerifierConfig, VerifierContext,
    verifier_for, verifier_for_with,
};

/// The verification time (2025-06-01T00:00:00Z); the mock's tokens are issued at it.
const NOW: u64 = 1_748_736_000;
/// hopper_case1's nonce, used as the expected report data.
const NONCE: &str = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb";
const DRIVER: &str = "550.90.07";
const VBIOS: &str = "96.00.9F.00.01";

fn evidence() -> Value {
    let path = format!(
        "{}/../../../shared/testdata/wrapped/nvidia/hopper_case1.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn report_data() -> ReportData {
    ReportData::Value(hex::decode(NONCE).unwrap())
}

/// An NRAS signing key and its id.
struct NrasKey {
    pair: EcdsaKeyPair,
    kid: String,
}

impl NrasKey {
    fn new(label: &str) -> Self {
        // A random kid per key, so no two tests (or a reused port) share a cached key.
        let mut random = [0u8; 8];
        SystemRandom::new().fill(&mut random).unwrap();
        Self {
            pair: EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap(),
            kid: format!("nv-eat-kid-test-{label}-{}", hex::encode(random)),
        }
    }

    /// The public JWK as NRAS publishes it (EC P-384 `x`/`y`; no `alg`, which is optional).
    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC",
            "crv": "P-384",
            "use": "sig",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..49]),
            "y": URL_SAFE_NO_PAD.encode(&point[49..97]),
        })
    }

    /// A compact ES384 JWS of `claims` with header `{"kid", "alg"}` (NRAS's header order).
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let header = json!({"kid": kid, "alg": "ES384"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }
}

fn cert_chain_claim() -> Value {
    json!({
        "x-nvidia-cert-status": "valid",
        "x-nvidia-cert-ocsp-status": "good",
        "x-nvidia-cert-expiration-date": "9999-12-31T23:59:59",
    })
}

/// NRAS's claims-3.0 device token for a GPU that passes every check.
fn gpu_claims(nonce: &str) -> Map<String, Value> {
    let mut claims = json!({
        "iss": "https://nras.attestation.nvidia.com",
        "iat": NOW, "nbf": NOW, "exp": NOW + 3600,
        "jti": "2c9cbd35-0000-4000-8000-000000000000",
        "eat_nonce": nonce,
        "hwmodel": "GH100 A01 GSP BROM",
        "ueid": "642960189298007511250958030500749152730221142468",
        "oemid": "5703",
        "x-nvidia-device-type": "gpu",
        "secboot": true,
        "dbgstat": "disabled",
        "measres": "success",
        "x-nvidia-gpu-driver-version": DRIVER,
        "x-nvidia-gpu-vbios-version": VBIOS,
        "x-nvidia-gpu-arch-check": true,
        "x-nvidia-gpu-attestation-report-cert-chain": cert_chain_claim(),
        "x-nvidia-gpu-attestation-report-cert-chain-fwid-match": true,
        "x-nvidia-gpu-attestation-report-parsed": true,
        "x-nvidia-gpu-attestation-report-nonce-match": true,
        "x-nvidia-gpu-attestation-report-signature-verified": true,
        "x-nvidia-gpu-driver-rim-cert-chain": cert_chain_claim(),
        "x-nvidia-gpu-driver-rim-fetched": true,
        "x-nvidia-gpu-driver-rim-measurements-available": true,
        "x-nvidia-gpu-driver-rim-schema-validated": true,
        "x-nvidia-gpu-driver-rim-signature-verified": true,
        "x-nvidia-gpu-driver-rim-version-match": true,
        "x-nvidia-gpu-vbios-rim-cert-chain": cert_chain_claim(),
        "x-nvidia-gpu-vbios-rim-fetched": true,
        "x-nvidia-gpu-vbios-rim-measurements-available": true,
        "x-nvidia-gpu-vbios-rim-schema-validated": true,
        "x-nvidia-gpu-vbios-rim-signature-verified": true,
        "x-nvidia-gpu-vbios-rim-version-match": true,
        "x-nvidia-gpu-vbios-index-no-conflict": true,
    });
    claims.as_object_mut().unwrap().clone()
}

/// The overall token's claims binding `device_token` under `name`.
fn overall_claims(nonce: &str, name: &str, device_token: &str) -> Value {
    json!({
        "sub": "NVIDIA-PLATFORM-ATTESTATION",
        "iss": "https://nras.attestation.nvidia.com",
        "x-nvidia-ver": "3.0",
        "iat": NOW, "nbf": NOW, "exp": NOW + 3600,
        "jti": "5d0b1ab6-0000-4000-8000-000000000000",
        "x-nvidia-overall-att-result": true,
        "eat_nonce": nonce,
        "submods": {name: ["DIGEST", ["SHA-256", sha256_hex(device_token)]]},
    })
}

fn sha256_hex(text: &str) -> String {
    hex::encode(digest(&SHA256, text.as_bytes()).as_ref())
}

/// How the mock answers one attestation request.
type Responder = dyn Fn(&Value, &str, &NrasKey) -> (StatusCode, Vec<u8>) + Send + Sync;

/// What an honest NRAS answers: tokens for the request's nonce, signed by `key`.
fn honest(request: &Value, kind: &str, key: &NrasKey) -> (StatusCode, Vec<u8>) {
    let nonce = request["nonce"].as_str().unwrap();
    let claims = if kind == "switch" {
        switch_claims(nonce)
    } else {
        gpu_claims(nonce)
    };
    let name = if kind == "switch" {
        "SWITCH-0"
    } else {
        "GPU-0"
    };
    detached_eat(key, name, &Value::Object(claims), |overall| overall)
}

/// `[["JWT", overall], {name: device}]` with the overall claims passed through `edit`.
fn detached_eat(
    key: &NrasKey,
    name: &str,
    device_claims: &Value,
    edit: impl FnOnce(Value) -> Value,
) -> (StatusCode, Vec<u8>) {
    let device = key.sign(device_claims);
    let nonce = device_claims["eat_nonce"].as_str().unwrap_or_default();
    let overall = key.sign(&edit(overall_claims(nonce, name, &device)));
    eat_response(&overall, name, &device)
}

/// A 200 answer carrying `[["JWT", overall], {name: device}]`.
fn eat_response(overall: &str, name: &str, device: &str) -> (StatusCode, Vec<u8>) {
    let body = json!([["JWT", overall], {name: device}]);
    (StatusCode::OK, body.to_string().into_bytes())
}

/// [`detached_eat`] for one GPU (`GPU-0`) with `claims`, the overall claims unedited.
fn gpu_eat(key: &NrasKey, claims: Map<String, Value>) -> (StatusCode, Vec<u8>) {
    detached_eat(key, "GPU-0", &Value::Object(claims), |overall| overall)
}

/// The [`honest`] answer with its overall token replaced by `edit(token)`.
fn honest_with_overall_token(
    request: &Value,
    kind: &str,
    key: &NrasKey,
    edit: impl FnOnce(&str) -> String,
) -> (StatusCode, Vec<u8>) {
    let (status, body) = honest(request, kind, key);
    let mut response: Value = serde_json::from_slice(&body).unwrap();
    let token = response[0][1].as_str().unwrap().to_owned();
    response[0][1] = json!(edit(&token));
    (status, response.to_string().into_bytes())
}

fn switch_claims(nonce: &str) -> Map<String, Value> {
    let mut claims = json!({
        "iss": "https://nras.attestation.nvidia.com",
        "iat": NOW, "nbf": NOW, "exp": NOW + 3600,
        "eat_nonce": nonce,
        "x-nvidia-device-type": "nvswitch",
        "x-nvidia-switch-bios-version": "96.10.6D.00.01",
        "x-nvidia-switch-attestation-report-nonce-match": true,
        "x-nvidia-switch-attestation-report-signature-verified": true,
    });
    claims.as_object_mut().unwrap().clone()
}

/// What a verifier's `evaluate` returns.
type Claims = Vec<(verifier::TeeEvidenceClaims, TeeClass)>;

/// The `nvidia` verifier built from `config` at [`NOW`] evaluating `evidence` (no init data).
async fn evaluate_with(
    config: &VerifierConfig,
    evidence: &Value,
    report_data: &ReportData,
) -> Result<Claims, Error> {
    let context = VerifierContext::new().with_clock(Arc::new(FixedClock(NOW)));
    let verifier = verifier_for_with(Tee::Nvidia, config, &context).unwrap();
    verifier
        .evaluate(evidence, report_data, &InitDataHash::NotProvided)
        .await
}

/// The mock NRAS: its state is swapped by the tests between requests.
struct MockState {
    /// The key NRAS signs with now.
    signer: Mutex<Arc<NrasKey>>,
    /// The JWKS served.
    jwks: Mutex<Value>,
    jwks_hits: AtomicUsize,
    responder: Mutex<Arc<Responder>>,
    /// Each attestation request: (kind, body).
    requests: Mutex<Vec<(String, Value)>>,
}

struct MockNras {
    base: String,
    state: Arc<MockState>,
}

impl MockNras {
    async fn start() -> Self {
        let key = Arc::new(NrasKey::new("a"));
        let state = Arc::new(MockState {
            jwks: Mutex::new(json!({"keys": [key.jwk()]})),
            signer: Mutex::new(key),
            jwks_hits: AtomicUsize::new(0),
            responder: Mutex::new(Arc::new(honest)),
            requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/v4/attest/{kind}", post(attest))
            .route("/.well-known/jwks.json", get(jwks))
            .with_state(Arc::clone(&state));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, state }
    }

    fn respond(
        &self,
        responder: impl Fn(&Value, &str, &NrasKey) -> (StatusCode, Vec<u8>) + Send + Sync + 'static,
    ) {
        *self.state.responder.lock().unwrap() = Arc::new(responder);
    }

    fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    fn config(&self) -> VerifierConfig {
        serde_json::from_value(json!({
            "nvidia_verifier": {"type": "Remote", "verifier_url": format!("{}/v4/attest", self.base)}
        }))
        .unwrap()
    }

    async fn evaluate(&self, evidence: &Value) -> Result<Claims, Error> {
        evaluate_with(&self.config(), evidence, &report_data()).await
    }

    async fn evaluate_err(&self, evidence: &Value) -> NvidiaError {
        match self.evaluate(evidence).await {
            Err(Error::Nvidia(err)) => err,
            other => panic!("expected an nvidia error, got {other:?}"),
        }
    }
}

async fn attest(
    State(state): State<Arc<MockState>>,
    Path(kind): Path<String>,
    body: String,
) -> (StatusCode, Vec<u8>) {
    let request: Value = serde_json::from_str(&body).unwrap();
    state
        .requests
        .lock()
        .unwrap()
        .push((kind.clone(), request.clone()));
    let responder = Arc::clone(&state.responder.lock().unwrap());
    let signer = Arc::clone(&state.signer.lock().unwrap());
    responder(&request, &kind, &signer)
}

async fn jwks(State(state): State<Arc<MockState>>) -> String {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    state.jwks.lock().unwrap().to_string()
}

/// The shipped `default_gpu` policy with `query_reference_value` answering from `values`.
fn default_gpu(values: Value) -> CompiledPolicy {
    let rego = include_str!("../../attestation-service/policies/default_gpu.rego");
    let extension = PolicyExtension {
        name: "query_reference_value".into(),
        nargs: 1,
        func: Arc::new(move |args: Vec<Value>| {
            let id = args[0].as_str().unwrap_or_default();
            Ok(values.get(id).cloned().unwrap_or(Value::Null))
        }),
    };
    CompiledPolicy::compile("default_gpu", rego, &[extension]).unwrap()
}

fn trust_vector(policy: &CompiledPolicy, claims: &Value) -> [i64; 3] {
    let input = json!({"nvidia": claims});
    ["hardware", "configuration", "executables"].map(|rule| {
        match policy
            .eval_rule(&format!("data.policy.{rule}"), &input, None)
            .unwrap()
        {
            RuleValue::Value(value) => value.as_i64().unwrap(),
            RuleValue::Undefined => panic!("{rule} undefined"),
        }
    })
}

#[tokio::test]
async fn remote_mode_emits_nras_claims_that_default_gpu_affirms() {
    let nras = MockNras::start().await;
    let evidence = evidence();
    let entries = nras.evaluate(&evidence).await.unwrap();

    // The request: upstream's body, one device, the evidence re-encoded from hex to base64.
    let requests = nras.state.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (kind, body) = &requests[0];
    assert_eq!(kind, "gpu");
    let device = &evidence["device_evidence_list"][0];
    let report = hex::decode(device["evidence"].as_str().unwrap()).unwrap();
    assert_eq!(
        *body,
        json!({
            "nonce": NONCE,
            "arch": "HOPPER",
            "evidence_list": [{"evidence": STANDARD.encode(report), "certificate": device["certificate"]}],
            "claims_version": "3.0",
        })
    );

    assert_eq!(entries.len(), 1);
    let (claims, class) = &entries[0];
    assert_eq!(*class, TeeClass::Gpu);
    let claims = claims.clone().into_value();
    let mut expected = gpu_claims(NONCE);
    expected.insert("x-nvidia-overall-att-result".into(), json!(true));
    expected.insert("report_data".into(), json!(NONCE));
    assert_eq!(claims, Value::Object(expected));

    // The shipped policy: hardware 2, configuration 2 with the versions registered (3 without),
    // executables 3.
    let with_rv = default_gpu(json!({
        "allowed_vbios_versions": [VBIOS],
        "allowed_driver_versions": [DRIVER],
    }));
    assert_eq!(trust_vector(&with_rv, &claims), [2, 2, 3]);
    assert_eq!(trust_vector(&default_gpu(json!({})), &claims), [2, 3, 3]);
}

#[tokio::test]
async fn default_gpu_does_not_affirm_a_failed_nras_check() {
    let nras = MockNras::start().await;
    nras.respond(|request, _, key| {
        let mut claims = gpu_claims(request["nonce"].as_str().unwrap());
        claims.insert(
            "x-nvidia-gpu-attestation-report-signature-verified".into(),
            json!(false),
        );
        claims.insert("measres".into(), json!("fail"));
        claims.insert("dbgstat".into(), json!("enabled"));
        gpu_eat(key, claims)
    });
    let entries = nras.evaluate(&evidence()).await.unwrap();
    let claims = entries[0].0.clone().into_value();
    let policy = default_gpu(
        json!({"allowed_vbios_versions": [VBIOS], "allowed_driver_versions": [DRIVER]}),
    );
    assert_eq!(trust_vector(&policy, &claims), [97, 36, 33]);
}

#[tokio::test]
async fn switch_evidence_goes_to_the_switch_endpoint_as_a_switch_entry() {
    let nras = MockNras::start().await;
    let mut evidence = evidence();
    evidence["device_evidence_list"][0]["arch"] = json!("LS10");
    let entries = nras.evaluate(&evidence).await.unwrap();
    let requests = nras.state.requests.lock().unwrap().clone();
    assert_eq!(requests[0].0, "switch");
    assert_eq!(requests[0].1["arch"], "LS10");
    assert_eq!(entries[0].1, TeeClass::Switch);
    assert_eq!(
        entries[0].0.clone().into_value()["x-nvidia-switch-bios-version"],
        "96.10.6D.00.01"
    );
}

#[tokio::test]
async fn jwks_is_fetched_once_and_again_when_nras_rotates_its_key() {
    let nras = MockNras::start().await;
    nras.evaluate(&evidence()).await.unwrap();
    nras.evaluate(&evidence()).await.unwrap();
    assert_eq!(
        nras.jwks_hits(),
        1,
        "the second verification uses the cached key"
    );

    // NVIDIA rotates: a new key signs, and the JWKS publishes it.
    let rotated = Arc::new(NrasKey::new("b"));
    *nras.state.jwks.lock().unwrap() = json!({"keys": [rotated.jwk()]});
    *nras.state.signer.lock().unwrap() = rotated;
    nras.evaluate(&evidence()).await.unwrap();
    assert_eq!(nras.jwks_hits(), 2, "an unknown kid fetches the jwks again");
}

#[tokio::test]
async fn a_kid_missing_from_the_jwks_fails_after_fetching_it_again() {
    let nras = MockNras::start().await;
    nras.evaluate(&evidence()).await.unwrap();
    nras.respond(|request, _, key| {
        let claims = Value::Object(gpu_claims(request["nonce"].as_str().unwrap()));
        let device = key.sign(&claims);
        let overall = key.sign_as(
            "nv-eat-kid-unpublished",
            &overall_claims(request["nonce"].as_str().unwrap(), "GPU-0", &device),
        );
        eat_response(&overall, "GPU-0", &device)
    });
    let err = nras.evaluate_err(&evidence()).await;
    assert_eq!(
        err,
        NvidiaError::NrasUnknownKid {
            device: 0,
            token: "overall".into(),
            kid: "nv-eat-kid-unpublished".into()
        }
    );
    assert_eq!(nras.jwks_hits(), 2);
}

#[tokio::test]
async fn a_token_signed_by_another_key_fails_the_signature_check() {
    let nras = MockNras::start().await;
    let forger = Arc::new(NrasKey::new("forger"));
    // The forger's device token, under the published kid, bound by an honest overall token.
    nras.respond(move |request, _, key| {
        let nonce = request["nonce"].as_str().unwrap();
        let device = forger.sign_as(&key.kid, &Value::Object(gpu_claims(nonce)));
        let overall = key.sign(&overall_claims(nonce, "GPU-0", &device));
        eat_response(&overall, "GPU-0", &device)
    });
    assert_eq!(
        nras.evaluate_err(&evidence()).await,
        NvidiaError::NrasTokenSignature {
            device: 0,
            token: "GPU-0".into()
        }
    );

    // A flipped signature character of the overall token.
    nras.respond(|request, kind, key| {
        honest_with_overall_token(request, kind, key, |token| {
            let (head, signature) = token.rsplit_once('.').unwrap();
            let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
            signature[10] ^= 1;
            format!("{head}.{}", URL_SAFE_NO_PAD.encode(signature))
        })
    });
    assert_eq!(
        nras.evaluate_err(&evidence()).await,
        NvidiaError::NrasTokenSignature {
            device: 0,
            token: "overall".into()
        }
    );
}

#[tokio::test]
async fn tokens_must_be_es384_and_current() {
    let nras = MockNras::start().await;
    nras.respond(|request, _, key| {
        let mut claims = gpu_claims(request["nonce"].as_str().unwrap());
        claims.insert("exp".into(), json!(NOW - 3600));
        gpu_eat(key, claims)
    });
    let err = nras.evaluate_err(&evidence()).await;
    assert!(
        matches!(&err, NvidiaError::NrasToken { token, reason, .. } if token == "GPU-0" && reason.contains("expired")),
        "{err}"
    );

    nras.respond(|request, kind, key| {
        honest_with_overall_token(request, kind, key, |token| {
            let rest = token.split_once('.').unwrap().1;
            let header = URL_SAFE_NO_PAD.encode(json!({"kid": key.kid, "alg": "none"}).to_string());
            format!("{header}.{rest}")
        })
    });
    let err = nras.evaluate_err(&evidence()).await;
    assert!(
        matches!(&err, NvidiaError::NrasToken { token, reason, .. } if token == "overall" && reason.contains("ES384")),
        "{err}"
    );
}

#[tokio::test]
async fn nonce_mismatches_fail_naming_the_token_or_claim() {
    let nras = MockNras::start().await;
    // NRAS attested another nonce (a replayed answer).
    let other = "00".repeat(32);
    nras.respond(move |_, _, key| gpu_eat(key, gpu_claims(&other)));
    assert_eq!(
        nras.evaluate_err(&evidence()).await,
        NvidiaError::NrasNonceMismatch {
            device: 0,
            token: "overall".into()
        }
    );

    // The right nonce, but NRAS found another one in the evidence.
    nras.respond(|request, _, key| {
        let mut claims = gpu_claims(request["nonce"].as_str().unwrap());
        claims.insert(
            "x-nvidia-gpu-attestation-report-nonce-match".into(),
            json!(false),
        );
        gpu_eat(key, claims)
    });
    assert_eq!(
        nras.evaluate_err(&evidence()).await,
        NvidiaError::NrasNonceNotMatched {
            device: 0,
            claim: "x-nvidia-gpu-attestation-report-nonce-match".into()
        }
    );

    // A device token from another exchange under an overall token with the right nonce.
    let other = "11".repeat(32);
    nras.respond(move |request, _, key| {
        let mut claims = gpu_claims(request["nonce"].as_str().unwrap());
        claims.insert("eat_nonce".into(), json!(other));
        let device = key.sign(&Value::Object(claims));
        let overall = key.sign(&overall_claims(
            request["nonce"].as_str().unwrap(),
            "GPU-0",
            &device,
        ));
        eat_response(&overall, "GPU-0", &device)
    });
    assert_eq!(
        nras.evaluate_err(&evidence()).await,
        NvidiaError::NrasNonceMismatch {
            device: 0,
            token: "GPU-0".into()
        }
    );
}

#[tokio::test]
async fn a_device_token_not_bound_by_the_overall_submods_fails() {
    let nras = MockNras::start().await;
    // Both tokens validly signed, but the overall token commits to another device token.
    nras.respond(|request, _, key| {
        let nonce = request["nonce"].as_str().unwrap();
        let device = key.sign(&Value::Object(gpu_claims(nonce)));
        let mut other = gpu_claims(nonce);
        other.insert("measres".into(), json!("fail"));
        let committed = key.sign(&Value::Object(other));
        let overall = key.sign(&overall_claims(nonce, "GPU-0", &committed));
        eat_response(&overall, "GPU-0", &device)
    });
    let err = nras.evaluate_err(&evidence()).await;
    assert!(
        matches!(&err, NvidiaError::NrasSubmods { token, reason, .. } if token == "GPU-0" && reason.contains("sha-256 differs")),
        "{err}"
    );

    // The submod names another device.
    nras.respond(|request, _, key| {
        let nonce = request["nonce"].as_str().unwrap();
        let device = key.sign(&Value::Object(gpu_claims(nonce)));
        let overall = key.sign(&overall_claims(nonce, "GPU-1", &device));
        eat_response(&overall, "GPU-0", &device)
    });
    let err = nras.evaluate_err(&evidence()).await;
    assert!(matches!(&err, NvidiaError::NrasSubmods { .. }), "{err}");

    // No submods at all.
    nras.respond(|request, _, key| {
        let nonce = request["nonce"].as_str().unwrap().to_owned();
        detached_eat(
            key,
            "GPU-0",
            &Value::Object(gpu_claims(&nonce)),
            |mut overall| {
                overall.as_object_mut().unwrap().remove("submods");
                overall
            },
        )
    });
    let err = nras.evaluate_err(&evidence()).await;
    assert!(matches!(&err, NvidiaError::NrasSubmods { .. }), "{err}");
}

#[tokio::test]
async fn nras_error_status_fails_with_its_detail() {
    let nras = MockNras::start().await;
    nras.respond(|_, _, _| {
        (
            StatusCode::BAD_REQUEST,
            br#"{"errorCode":400,"message":"invalid evidence"}"#.to_vec(),
        )
    });
    let err = nras.evaluate_err(&evidence()).await;
    assert!(
        matches!(&err, NvidiaError::NrasStatus { status: 400, detail, .. } if detail.contains("invalid evidence")),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_or_malformed_responses_fail() {
    let nras = MockNras::start().await;
    nras.respond(|_, _, _| (StatusCode::OK, vec![b' '; MAX_NRAS_RESPONSE + 1]));
    let err = nras.evaluate_err(&evidence()).await;
    assert!(
        matches!(&err, NvidiaError::NrasResponseTooLarge { max, .. } if *max == MAX_NRAS_RESPONSE),
        "{err}"
    );

    for body in [
        json!({"JWT": "x"}),
        json!([["JWE", "a.b.c"], {"GPU-0": "a.b.c"}]),
        json!([["JWT", "a.b.c"], {}]),
        json!([["JWT", "a.b.c"], {"GPU-0": "a.b.c", "GPU-1": "a.b.c"}]),
    ] {
        nras.respond(move |_, _, _| (StatusCode::OK, body.to_string().into_bytes()));
        let err = nras.evaluate_err(&evidence()).await;
        assert!(
            matches!(&err, NvidiaError::NrasResponseFormat { .. }),
            "{err}"
        );
    }
}

#[tokio::test]
async fn unreachable_nras_and_jwks_fail_naming_the_endpoint() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let config: VerifierConfig = serde_json::from_value(json!({
        "nvidia_verifier": {"type": "remote", "verifier_url": format!("{closed}/v4/attest")}
    }))
    .unwrap();
    let err = evaluate_with(&config, &evidence(), &report_data())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Nvidia(NvidiaError::NrasRequest { url, .. }) if url.ends_with("/v4/attest/gpu")),
        "{err}"
    );

    // NRAS answers, but the configured JWKS URL does not.
    let nras = MockNras::start().await;
    let config: VerifierConfig = serde_json::from_value(json!({
        "nvidia_verifier": {
            "type": "Remote",
            "verifier_url": format!("{}/v4/attest", nras.base),
            "jwks_url": format!("{}/missing/jwks.json", nras.base),
        }
    }))
    .unwrap();
    let err = evaluate_with(&config, &evidence(), &report_data())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Nvidia(NvidiaError::NrasJwks { url, reason, .. }) if url.ends_with("/missing/jwks.json") && reason.contains("404")),
        "{err}"
    );
}

#[tokio::test]
async fn remote_mode_needs_report_data_and_a_known_arch() {
    let nras = MockNras::start().await;
    let err = evaluate_with(&nras.config(), &evidence(), &ReportData::NotProvided)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Nvidia(NvidiaError::RemoteReportDataMissing { device: 0 })
        ),
        "{err}"
    );

    let mut evidence = evidence();
    evidence["device_evidence_list"][0]["arch"] = json!("AMPERE");
    assert_eq!(
        nras.evaluate_err(&evidence).await,
        NvidiaError::RemoteUnsupportedArch {
            device: 0,
            arch: "AMPERE".into()
        }
    );
    assert!(
        nras.state.requests.lock().unwrap().is_empty(),
        "nothing was sent"
    );
}

#[test]
fn nvidia_verifier_config_is_checked_when_the_verifier_is_created() {
    let create = |table: Value| {
        let config: VerifierConfig =
            serde_json::from_value(json!({ "nvidia_verifier": table })).unwrap();
        verifier_for(Tee::Nvidia, &config).map(|_| ())
    };
    create(json!({"type": "Local"})).unwrap();
    create(json!({"type": "local"})).unwrap();
    create(json!({"type": "Remote"})).unwrap();
    create(json!({"type": "remote", "verifier_url": "https://nras.example/v4/attest"})).unwrap();
    for (table, needle) in [
        (json!({"type": "NvRemote"}), "NvRemote"),
        (
            json!({"type": "Remote", "verifer_url": "https://x"}),
            "verifer_url",
        ),
        (
            json!({"type": "Remote", "verifier_url": "ftp://nras.example"}),
            "verifier_url",
        ),
        (
            json!({"type": "Remote", "jwks_url": "not a url"}),
            "jwks_url",
        ),
    ] {
        let err = create(table).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig { section: "nvidia_verifier", reason } if reason.contains(needle)),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_jwks_member_that_is_not_an_es384_key_is_unusable() {
    let nras = MockNras::start().await;
    let key = Arc::clone(&nras.state.signer.lock().unwrap());
    let mut jwk = key.jwk();
    jwk["alg"] = json!("ES256");
    *nras.state.jwks.lock().unwrap() = json!({"keys": [jwk]});
    let err = nras.evaluate_err(&evidence()).await;
    assert!(
        matches!(&err, NvidiaError::NrasKey { token, kid, reason, .. } if token == "overall" && *kid == key.kid && reason.contains("ES256")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_verifications_share_one_jwks_download() {
    let nras = Arc::new(MockNras::start().await);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let nras = Arc::clone(&nras);
        tasks.spawn(async move { nras.evaluate(&evidence()).await.map(|_| ()) });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(nras.jwks_hits(), 1);
}
