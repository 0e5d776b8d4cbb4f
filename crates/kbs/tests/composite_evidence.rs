//! Composite evidence end to end (issue 7 acceptance): a guest whose primary evidence is
//! `sample` and whose additional evidence is a real NVIDIA Hopper GPU report
//! (`shared/testdata/wrapped/nvidia/hopper_case1.json`), through the KBS router and its builtin
//! attestation service at the manifest's verification time.
//!
//! **What cannot be done, and why.** The KBS binds each additional device to
//! `H(JCS({"nonce": <KBS nonce>, "tee-pubkey": <guest key>}))` truncated to the 32-byte SPDM
//! nonce (kbs-protocol §3.3). The recorded GPU report's nonce was fixed when the hardware
//! signed it, and a hash cannot be inverted, so no KBS nonce — random or fixed — and no guest
//! key makes that report bind to a real `/attest`. Making the KBS nonce injectable would
//! therefore prove nothing, and this test adds no such hook: the production KBS is unchanged.
//!
//! **What is tested instead, honestly split in two:**
//! 1. The real flow: `/auth` + `/attest` with the real GPU report as additional evidence, the
//!    primary `sample` evidence correctly bound (its report data is software). The KBS
//!    decomposes the additional evidence, the attestation service verifies the GPU with its
//!    own device binding, and attestation fails *only* at that binding: the nvidia verifier
//!    checks the nonce last, after the SPDM parsing, the certificate chain to the NVIDIA root,
//!    the report signature and the FWID, so an error naming the nonce means all of those
//!    passed. A tampered report fails earlier, at the signature.
//! 2. The appraisal and the resource policy: the same router, whose attestation backend is the
//!    builtin one except that the GPU request's runtime data is replaced by the report data the
//!    recorded report carries ([`GpuBoundToItsReport`], test code only). Everything else — the
//!    sample binding, the verification of both devices, one EAR submodule per device (`cpu0`,
//!    `gpu0`) each appraised by the policy of its class (`default_cpu`, `default_gpu`), the
//!    session, the resource policy and the encrypted answer — runs as in production. A
//!    resource policy that requires `gpu0` to be affirming refuses the secret under the
//!    shipped `default_gpu` (which evaluates NRAS claims, so a locally verified GPU stays
//!    `contraindicated`) and releases it once an attestation policy affirming this GPU's
//!    locally verified claims is uploaded.
//!
//! In part 1 the clock is pinned at the manifest's time by giving the KBS a backend over an
//! `AttestationService` made with `with_clock`, as in `hardware_evidence.rs`; no configuration
//! key pins it. Part 2 needs tokens the KBS accepts at its real clock, so its AS runs at the
//! real clock too (the GPU's certificates are valid from 2022 to 9999); the KBS trusts that
//! AS's token key as it trusts its own builtin AS's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod in_process;
mod rego;

use std::sync::Arc;

use async_trait::async_trait;
use attestation_service::{AttestationService, RuntimeData};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kbs::app::AppState;
use kbs::attestation::{
    AttestationBackend, BuiltinBackend, Error as BackendError, POLICY_IDS, verification_requests,
};
use kbs::config::KbsConfig;
use kbs_types::{Attestation, HashAlgorithm, Tee};
use serde_json::{Value, json};

use in_process::*;
use rego::{allow_only_if, trust_vector_policy};

/// The manifest's verification time, 2025-06-01T00:00:00Z.
const VERIFICATION_TIME: i64 = 1_748_736_000;
/// The SPDM request nonce of `hopper_case1` (its manifest report data).
const GPU_NONCE: &str = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb";

const PATH: &str = "default/test/gpu-secret";
const SECRET: &[u8] = b"released only to an affirmed gpu";

/// Releases only to a token whose `gpu0` appraisal is affirming (and that has a `cpu0`).
fn gpu_affirming_policy() -> String {
    allow_only_if(&[
        "input.submods.cpu0",
        r#"input.submods.gpu0["ear.status"] == "affirming""#,
    ])
}

/// A `default_gpu` for locally verified Hopper GPUs: affirms the recorded GPU's firmware and
/// driver (test values from the manifest; a deployment would use reference values).
fn local_hopper_gpu_policy() -> String {
    trust_vector_policy(
        r#"hardware := 2 if {
	input.nvidia.arch == "Hopper"
	input.nvidia.config.fwid == "f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f7275494ba94bb5cdfdb3055ee051762b1f75d"
}

executables := 2 if input.nvidia.config.vbios_version == "96.00.9f.00.01"

configuration := 2 if input.nvidia.config.driver_version == "550.90.07"
"#,
    )
}

const POLICY_DENY: &str = "https://github.com/confidential-containers/kbs/errors/PolicyDeny";

fn gpu_evidence() -> Value {
    read_json("wrapped/nvidia/hopper_case1.json")
}

/// The builtin backend, except that each `nvidia` device request is bound to the report data
/// the recorded GPU report carries instead of the (unsatisfiable) digest of this session's
/// runtime data. Test code only: see the module docs.
struct GpuBoundToItsReport {
    builtin: BuiltinBackend,
    service: Arc<AttestationService>,
}

#[async_trait]
impl AttestationBackend for GpuBoundToItsReport {
    async fn verify(
        &self,
        tee: Tee,
        attestation: &Attestation,
        nonce: &str,
    ) -> Result<String, BackendError> {
        let mut requests = verification_requests(tee, attestation, nonce)?;
        // The primary request (index 0) keeps its real binding.
        for request in requests.iter_mut().skip(1) {
            if request.tee == Tee::Nvidia {
                request.runtime_data = Some(RuntimeData::Raw(hex::decode(GPU_NONCE).unwrap()));
            }
        }
        let policy_ids: Vec<String> = POLICY_IDS.iter().map(|id| (*id).to_owned()).collect();
        Ok(self.service.evaluate(requests, &policy_ids).await?)
    }

    async fn set_policy(&self, id: &str, policy_b64url: &str) -> Result<(), BackendError> {
        self.builtin.set_policy(id, policy_b64url).await
    }

    async fn get_policy(&self, id: &str) -> Result<String, BackendError> {
        self.builtin.get_policy(id).await
    }

    async fn list_policies(&self) -> Result<Vec<String>, BackendError> {
        self.builtin.list_policies().await
    }

    async fn delete_policy(&self, id: &str) -> Result<(), BackendError> {
        self.builtin.delete_policy(id).await
    }

    async fn register_reference_value(&self, message: &str) -> Result<(), BackendError> {
        self.builtin.register_reference_value(message).await
    }

    async fn query_reference_value(&self, id: &str) -> Result<Option<Value>, BackendError> {
        self.builtin.query_reference_value(id).await
    }
}

/// A builtin-AS KBS with the resource plugin.
fn config() -> KbsConfig {
    builtin_config(RESOURCE_PLUGIN)
}

/// The KBS of [`config`] with `backend` over its own AS (clock pinned at `pinned_at` when
/// given), whose tokens it trusts as it trusts its builtin AS's.
async fn kbs_with(
    pinned_at: Option<i64>,
    backend: impl FnOnce(Arc<AttestationService>) -> Arc<dyn AttestationBackend>,
) -> AppState {
    let config = config();
    let service = builtin_service(&config, pinned_at).await;
    kbs_over_backend(&config, service, backend).await
}

/// The KBS whose builtin AS verifies at the manifest's time, unchanged.
async fn real_kbs() -> AppState {
    kbs_with(Some(VERIFICATION_TIME), |service| {
        Arc::new(BuiltinBackend::new(service))
    })
    .await
}

/// The KBS whose GPU requests are bound to the recorded report's nonce. Its AS runs at the
/// real clock: the KBS checks token expiry at the real clock, and the GPU's certificates are
/// valid from 2022 to 9999, so the verification holds at any time after the manifest's.
async fn gpu_bound_kbs() -> AppState {
    kbs_with(None, |service| {
        Arc::new(GpuBoundToItsReport {
            builtin: BuiltinBackend::new(Arc::clone(&service)),
            service,
        })
    })
    .await
}

/// Stores the secret and the gpu0-affirming resource policy through the admin API.
async fn provision(state: &AppState) {
    admin_set_resource(state, PATH, SECRET).await;
    admin_set_resource_policy(state, &gpu_affirming_policy()).await;
}

/// A guest: its TEE key, and the session cookie and token once attested.
struct Guest {
    key: jose::TeeKeyPair,
    cookie: Option<String>,
}

impl Guest {
    fn new() -> Self {
        Self {
            key: jose::TeeKeyPair::generate_ec_p256().unwrap(),
            cookie: None,
        }
    }

    /// `/auth` for `sample`, then `/attest` with `sample` evidence bound to the runtime data
    /// (as the guest client computes it) and `gpu` as additional evidence.
    async fn attest(&mut self, state: &AppState, gpu: Value) -> (StatusCode, Value) {
        let auth = json!({"version": "0.4.0", "tee": "sample", "extra-params": ""});
        let (status, challenge, cookie) = send(state, post_json("/kbs/v0/auth", None, &auth)).await;
        assert_eq!(status, StatusCode::OK, "{challenge}");
        let nonce = challenge["nonce"].as_str().unwrap().to_owned();
        let tee_pubkey = serde_json::to_value(self.key.public_key().unwrap()).unwrap();
        let additional = json!({ "nvidia": gpu }).to_string();
        let runtime_data = json!({
            "additional-evidence": additional,
            "nonce": nonce,
            "tee-pubkey": tee_pubkey,
        });
        let report_data =
            jose::jcs::runtime_data_digest(&runtime_data, HashAlgorithm::Sha384).unwrap();
        let attestation = json!({
            "runtime-data": {"nonce": nonce, "tee-pubkey": tee_pubkey},
            "tee-evidence": {
                "primary_evidence": {"svn": "1", "report_data": STANDARD.encode(report_data)},
                "additional_evidence": additional,
            },
        });
        let (status, body, _) = send(
            state,
            post_json("/kbs/v0/attest", cookie.as_deref(), &attestation),
        )
        .await;
        self.cookie = cookie;
        (status, body)
    }

    /// [`Guest::attest`] with the recorded GPU report, which must be accepted: the token's
    /// claims.
    async fn attest_accepted(&mut self, state: &AppState) -> Value {
        let (status, body) = self.attest(state, gpu_evidence()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        token_claims(body["token"].as_str().unwrap())
    }

    /// The resource policy refuses this guest's read of the secret (401 `PolicyDeny`).
    async fn assert_policy_denies(&self, state: &AppState) {
        let (status, problem) = self.get_secret(state).await.unwrap_err();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
        assert_eq!(problem["type"], POLICY_DENY, "{problem}");
    }

    /// `GET` the secret with the attested session; the decrypted secret or the problem.
    async fn get_secret(&self, state: &AppState) -> Result<Vec<u8>, (StatusCode, Value)> {
        let mut builder = Request::get(format!("/kbs/v0/resource/{PATH}"));
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        let (status, body, _) = send(state, builder.body(Body::empty()).unwrap()).await;
        if status != StatusCode::OK {
            return Err((status, body));
        }
        let jwe: kbs_types::Response = serde_json::from_value(body).unwrap();
        Ok(self.key.decrypt(&jwe).unwrap().to_vec())
    }
}

#[tokio::test]
async fn real_gpu_report_through_attest_passes_every_device_check_but_its_binding() {
    let state = real_kbs().await;
    let (status, problem) = Guest::new().attest(&state, gpu_evidence()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert_eq!(problem["type"], ATTESTATION_ERROR);
    // The primary `sample` evidence is bound correctly, so the failure is the GPU's; the
    // nvidia verifier checks the nonce after the chain, the signature and the FWID.
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.ends_with(
            "nvidia evidence verification failed: device 0: spdm request nonce does not match \
             the expected report data"
        ),
        "{detail}"
    );
}

#[tokio::test]
async fn tampered_gpu_report_fails_at_its_signature() {
    let mut gpu = gpu_evidence();
    let report = &mut gpu["device_evidence_list"][0]["evidence"];
    let mut bytes = hex::decode(report.as_str().unwrap()).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    *report = Value::String(hex::encode(bytes));

    // Even with the binding satisfied, a flipped signature byte is refused.
    let state = gpu_bound_kbs().await;
    let (status, problem) = Guest::new().attest(&state, gpu).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.ends_with(
            "nvidia evidence verification failed: device 0: spdm response signature does not \
             verify with the leaf certificate"
        ),
        "{detail}"
    );
}

#[tokio::test]
async fn gpu0_appraisal_decides_whether_the_secret_is_released() {
    let state = gpu_bound_kbs().await;
    provision(&state).await;

    // Shipped `default_gpu`: it evaluates NRAS claims, so the locally verified GPU is not
    // affirmed and the gpu0-affirming resource policy refuses.
    let mut guest = Guest::new();
    let token = guest.attest_accepted(&state).await;
    let submods = token["submods"].as_object().unwrap();
    assert_eq!(
        submods.keys().collect::<Vec<_>>(),
        ["cpu0", "gpu0"],
        "{token:#}"
    );
    let cpu0 = &submods["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(cpu0["sample"]["svn"], "1");
    let gpu0 = &submods["gpu0"];
    let nvidia = &gpu0["ear.veraison.annotated-evidence"]["nvidia"];
    assert_eq!(nvidia["arch"], "Hopper");
    assert_eq!(nvidia["config"]["driver_version"], "550.90.07");
    assert_eq!(nvidia["measurements"].as_object().unwrap().len(), 64);
    // The device's bound nonce is lifted out of the TEE claims, as for every verifier.
    assert_eq!(
        gpu0["ear.veraison.annotated-evidence"]["report_data"],
        GPU_NONCE
    );
    assert_eq!(gpu0["ear.appraisal-policy-id"], "default");
    assert_eq!(gpu0["ear.status"], "contraindicated", "{gpu0:#}");
    guest.assert_policy_denies(&state).await;

    // An attestation policy for locally verified Hopper GPUs, uploaded as `default_gpu`
    // through the admin API: gpu0 is affirmed and the same resource policy releases.
    admin_set_attestation_policy(&state, "default_gpu", &local_hopper_gpu_policy()).await;
    let mut guest = Guest::new();
    let token = guest.attest_accepted(&state).await;
    assert_eq!(
        token["submods"]["gpu0"]["ear.status"], "affirming",
        "{token:#}"
    );
    // The CPU is still appraised by `default_cpu`, which affirms nothing without reference
    // values: the resource policy only asks about the GPU.
    assert_ne!(token["submods"]["cpu0"]["ear.status"], "affirming");
    assert_eq!(guest.get_secret(&state).await.unwrap(), SECRET);

    // A GPU whose driver the policy does not know is not affirmed: refused again.
    let other_driver = local_hopper_gpu_policy().replace("550.90.07", "999.0.0");
    admin_set_attestation_policy(&state, "default_gpu", &other_driver).await;
    let mut guest = Guest::new();
    let token = guest.attest_accepted(&state).await;
    // configuration stays at its default 36: a warning, not an affirmation.
    assert_eq!(
        token["submods"]["gpu0"]["ear.status"], "warning",
        "{token:#}"
    );
    guest.assert_policy_denies(&state).await;
}

/// The attestation service alone at the manifest's time: a `sample` CPU and the GPU, each
/// bound to the report data it carries, give one token with `cpu0` and `gpu0`.
#[tokio::test]
async fn as_evaluate_at_the_manifest_time_gives_one_submodule_per_device() {
    let service = pinned_service(&config(), VERIFICATION_TIME).await;
    let requests = vec![
        bound_request(
            Tee::Sample,
            json!({"svn": "1", "report_data": STANDARD.encode(b"cpu")}),
            b"cpu".to_vec(),
        ),
        bound_request(Tee::Nvidia, gpu_evidence(), hex::decode(GPU_NONCE).unwrap()),
    ];
    let claims = evaluate_claims(&service, requests, VERIFICATION_TIME).await;
    assert_eq!(claims["iat"], VERIFICATION_TIME);
    let submods = claims["submods"].as_object().unwrap();
    assert_eq!(submods.keys().collect::<Vec<_>>(), ["cpu0", "gpu0"]);
    let nvidia = &submods["gpu0"]["ear.veraison.annotated-evidence"]["nvidia"];
    assert_eq!(
        nvidia["config"]["fwid"],
        "f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f7275494ba94bb5cdfdb3055ee051762b1f75d"
    );
    assert_eq!(submods["gpu0"]["ear.status"], "contraindicated");
}
