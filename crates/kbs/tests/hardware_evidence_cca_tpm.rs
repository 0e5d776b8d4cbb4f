//! Real Arm CCA and TPM 2.0 evidence (shared test data: `cca/cca-example-token`,
//! `tpm/tpm_evidence`) through the KBS router and its builtin AS.
//!
//! Neither verifier reads a clock (the CCA trust anchor is a bare CPAK, the TPM AK is
//! self-declared), so `/attest` goes to the KBS exactly as `Kbs::from_config` builds it,
//! builtin AS included: for CCA that proves `[attestation_service.verifier_config.cca_verifier]` (`ta-store`,
//! `rv-store`) reaches the verifier through the KBS's own start-up.
//!
//! As for the other hardware TEEs, a recorded token or quote cannot carry the digest of a fresh
//! KBS nonce, so through `/auth` + `/attest` the best outcome is a verification that passes
//! every check but the binding: the CCA verifier checks the realm challenge after the CPAK, the
//! platform and realm signatures and the RAK binding; the TPM verifier checks the quote nonce
//! after the quote signature and the PCR digest. A flipped signature byte fails earlier, naming
//! the signature. The same evidence bound to its own report data (`bound_request`) then yields
//! a token with the manifest's claims (`cases.json`).
//!
//! Policy decisions on claims of the real evidence: for TPM, the shipped `default_cpu`
//! recognises the executables only once the quoted PCR11 and the AK are reference values. For
//! both, the KBS's resource policy, set through its admin API, decides on the token of the
//! bound evidence as the KBS verifies it (`TokenVerifier::verify`, `ResourcePolicy::evaluate`,
//! the two steps of a resource read) — on the realm initial measurement, on a PCR and the AK.
//! The read itself cannot complete: a recorded token or quote binds no key of this session, so
//! the token has no `tee-pubkey` to encrypt the secret to (asserted).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod in_process;
mod rego;

use std::collections::BTreeMap;
use std::sync::Arc;

use attestation_service::AttestationService;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kbs::app::{AppState, Kbs};
use kbs::config::KbsConfig;
use kbs::resource_policy::Decision;
use kbs_types::Tee;
use serde_json::{Value, json};
use verifier::cca::CcaError;
use verifier::tpm::TpmError;

use in_process::*;
use rego::allow_only_if;

/// Any instant: neither sample has time-dependent checks (manifest: "any").
const EVALUATION_TIME: i64 = 1_748_736_000;

const CCA_CASE: &str = "cca/cca-example-token";
const TPM_CASE: &str = "tpm/tpm_evidence";
const CCA_EVIDENCE: &str = "wrapped/cca/cca-example-token.json";
const TPM_EVIDENCE: &str = "evidence/tpm/tpm_evidence.json";

/// The resource a policy decision is asked about.
const PATH: &str = "default/test/hw-secret";

/// A builtin-AS KBS with the resource plugin and, when `cca` is given, this
/// `[attestation_service.verifier_config.cca_verifier]` table body.
fn config(cca: Option<&str>) -> KbsConfig {
    let cca = cca.map_or(String::new(), |cca| {
        format!("[attestation_service.verifier_config.cca_verifier]\n{cca}")
    });
    builtin_config(&format!("{RESOURCE_PLUGIN}{cca}"))
}

/// The CCA verifier table: upstream's local mode with the shared CPAK store and `rv_store`.
fn cca_table(rv_store: &str) -> String {
    format!(
        "type = \"local\"\nta-store = \"{TESTDATA}/evidence/cca/conf/tastore.json\"\n\
         rv-store = \"{rv_store}\"\n"
    )
}

/// A KBS whose CCA verifier has the shared trust anchors and reference values.
fn cca_config() -> KbsConfig {
    config(Some(&cca_table(&format!(
        "{TESTDATA}/evidence/cca/conf/rvstore.json"
    ))))
}

/// The KBS exactly as `Kbs::from_config` builds it, builtin AS included.
async fn real_kbs(config: &KbsConfig) -> AppState {
    Arc::new(Kbs::from_config(config).await.unwrap())
}

/// The manifest entry `id` of `cases.json`.
fn manifest_case(id: &str) -> Value {
    read_json("cases.json")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|case| case["id"] == id)
        .unwrap_or_else(|| panic!("no case {id} in cases.json"))
        .clone()
}

/// The manifest's report data of `id`, which the evidence carries.
fn manifest_report_data(id: &str) -> Vec<u8> {
    let case = manifest_case(id);
    // The TPM case lists none (upstream's verifier could not bind it); its nonce claim is it.
    let hex = case["expected_report_data"]
        .as_str()
        .or_else(|| case["claims"]["report_data"].as_str())
        .unwrap();
    hex::decode(hex).unwrap()
}

/// Asserts that every claim the manifest lists for `id` is in `evidence` (a submodule's
/// annotated evidence): `report_data` and `init_data` lifted to the top level, the others
/// (`a.b` = member `b` of `a`) under the TEE's name.
fn assert_manifest_claims(id: &str, tee: &str, evidence: &Value) {
    let case = manifest_case(id);
    let claims = case["claims"].as_object().unwrap();
    assert!(!claims.is_empty());
    for (name, expected) in claims {
        let actual = match name.as_str() {
            "report_data" | "init_data" => &evidence[name],
            path => path
                .split('.')
                .fold(&evidence[tee], |value, member| &value[member]),
        };
        assert_eq!(actual, expected, "claim {name}: {evidence:#}");
    }
}

/// `evidence` with the byte at `index` of its token flipped (a negative index counts from
/// the end).
fn flip_cca_token_byte(mut evidence: Value, index: isize) -> Value {
    let token = evidence["token"].as_array_mut().unwrap();
    let at = usize::try_from(index).unwrap_or_else(|_| token.len() - index.unsigned_abs());
    let byte = token[at].as_u64().unwrap();
    token[at] = json!(byte ^ 1);
    evidence
}

/// The offset of the last byte of the platform token's signature in the CCA sample: the
/// collection is tag 399, a map whose first member (key 44234) is the platform COSE_Sign1 as a
/// byte string with a two-byte length, ending with its 96-byte ES384 signature.
fn cca_platform_signature_end(evidence: &Value) -> isize {
    let token: Vec<u8> = serde_json::from_value(evidence["token"].clone()).unwrap();
    assert_eq!(
        token[..8],
        [0xd9, 0x01, 0x8f, 0xa2, 0x19, 0xac, 0xca, 0x59],
        "layout of the sample token"
    );
    let len = usize::from(u16::from_be_bytes([token[8], token[9]]));
    isize::try_from(10 + len - 1).unwrap()
}

/// The KBS of `config` over its builtin AS at [`EVALUATION_TIME`], trusting that AS's tokens.
async fn kbs_and_service(config: &KbsConfig) -> (AppState, Arc<AttestationService>) {
    let service = pinned_service(config, EVALUATION_TIME).await;
    (kbs_over(config, Arc::clone(&service)).await, service)
}

/// A token for `evidence` bound to its recorded report data, verified by the KBS as a
/// resource request's token is, then the KBS's resource policy's decision on a read of
/// [`PATH`] with it. The token binds no TEE key (the recorded evidence does not carry this
/// session's key), so the KBS could not encrypt a secret to it: the decision is what is tested.
async fn resource_decision(
    state: &AppState,
    service: &AttestationService,
    tee: Tee,
    evidence: Value,
    report_data: Vec<u8>,
) -> Decision {
    let token = service
        .evaluate(
            vec![bound_request(tee, evidence, report_data)],
            &["default".to_owned()],
        )
        .await
        .unwrap();
    let now = u64::try_from(EVALUATION_TIME).unwrap();
    let verified = state.tokens.verify(&token, now).unwrap();
    assert!(verified.tee_public_key().is_err());
    let path: Vec<String> = PATH.split('/').map(str::to_owned).collect();
    state
        .resource_policy
        .evaluate(verified.policy_input(), "resource", &path, &BTreeMap::new())
        .await
        .unwrap()
}

/// `evidence` for `tee` bound to its recorded report data, through `evaluate`.
async fn evaluate_bound(
    service: &AttestationService,
    tee: Tee,
    evidence: Value,
    id: &str,
) -> Value {
    let request = bound_request(tee, evidence, manifest_report_data(id));
    evaluate_claims(service, vec![request], EVALUATION_TIME).await
}

/// The error of `evidence` for `tee` bound to its recorded report data.
async fn evaluate_bound_err(
    service: &AttestationService,
    tee: Tee,
    evidence: Value,
    id: &str,
) -> attestation_service::Error {
    let request = bound_request(tee, evidence, manifest_report_data(id));
    evaluate_err(service, vec![request]).await
}

// ---------------------------------------------------------------------------------------------
// Arm CCA

#[tokio::test]
async fn cca_sample_through_attest_passes_the_cpak_and_signatures_and_fails_at_the_challenge() {
    let state = real_kbs(&cca_config()).await;
    let problem = attest_refused(&state, "cca", read_json(CCA_EVIDENCE)).await;
    assert_eq!(problem["type"], ATTESTATION_ERROR);
    // The challenge is checked after the CPAK lookup (which needs the configured ta-store),
    // the platform and realm signatures and the RAK binding.
    assert_detail_ends_with(
        &problem,
        "cca evidence verification failed: cca realm challenge does not match the \
         expected report data",
    );
}

#[tokio::test]
async fn cca_sample_without_cca_verifier_config_has_no_trust_anchor() {
    let state = real_kbs(&config(None)).await;
    let problem = attest_refused(&state, "cca", read_json(CCA_EVIDENCE)).await;
    assert_detail_ends_with(
        &problem,
        "cca evidence verification failed: no cpak trust anchor is configured for cca \
         platform instance id 0107060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918",
    );
}

#[tokio::test]
async fn cca_sample_with_flipped_signature_bytes_is_refused_at_the_signature() {
    let state = real_kbs(&cca_config()).await;
    let evidence = read_json(CCA_EVIDENCE);
    let platform_end = cca_platform_signature_end(&evidence);
    let cases = [
        (
            flip_cca_token_byte(evidence.clone(), platform_end),
            "cca platform token signature does not verify with the configured cpak",
        ),
        // The realm token is the collection's last member: its signature ends the token.
        (
            flip_cca_token_byte(evidence, -1),
            "cca realm token signature does not verify with the realm attestation key",
        ),
    ];
    for (tampered, check) in cases {
        let problem = attest_refused(&state, "cca", tampered).await;
        assert_detail_ends_with(
            &problem,
            &format!("cca evidence verification failed: {check}"),
        );
    }
}

#[tokio::test]
async fn cca_sample_bound_to_its_report_data_yields_the_manifest_claims() {
    let service = pinned_service(&cca_config(), EVALUATION_TIME).await;
    let claims = evaluate_bound(&service, Tee::Cca, read_json(CCA_EVIDENCE), CCA_CASE).await;
    let cpu0 = &claims["submods"]["cpu0"];
    let evidence = &cpu0["ear.veraison.annotated-evidence"];
    // Realm initial measurement, platform implementation and instance ids, challenge, RPV.
    assert_manifest_claims(CCA_CASE, "cca", evidence);
    assert_eq!(
        evidence["cca"]["platform"]["cca-platform-sw-components"]
            .as_array()
            .unwrap()
            .len(),
        13
    );
    assert_eq!(cpu0["ear.appraisal-policy-id"], "default");

    // Bound to other report data, the same token fails at the challenge.
    let mut other = manifest_report_data(CCA_CASE);
    other[0] ^= 1;
    let request = bound_request(Tee::Cca, read_json(CCA_EVIDENCE), other);
    let err = evaluate_err(&service, vec![request]).await;
    crate::assert_verifier_error!(
        err,
        Tee::Cca,
        verifier::Error::Cca(CcaError::RealmChallenge)
    );
}

#[tokio::test]
async fn cca_rv_store_from_the_kbs_config_appraises_platform_and_realm() {
    let rvstore = read_json("evidence/cca/conf/rvstore.json");
    let dir = tempfile::tempdir().unwrap();
    let with_rvstore = |rvstore: &Value, name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, rvstore.to_string()).unwrap();
        config(Some(&cca_table(path.to_str().unwrap())))
    };

    // Another realm initial measurement (first byte flipped) in the store.
    let mut other_realm = rvstore.clone();
    let rim = other_realm["realm"][0]["initial-measurement"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = format!(
        "{}{}",
        if rim.starts_with('0') { "1" } else { "0" },
        &rim[1..]
    );
    other_realm["realm"][0]["initial-measurement"] = json!(flipped);
    let service = pinned_service(
        &with_rvstore(&other_realm, "other-realm.json"),
        EVALUATION_TIME,
    )
    .await;
    let err = evaluate_bound_err(&service, Tee::Cca, read_json(CCA_EVIDENCE), CCA_CASE).await;
    crate::assert_verifier_error!(
        err,
        Tee::Cca,
        verifier::Error::Cca(CcaError::RealmReferenceValues)
    );

    // Another RMM measurement.
    let mut other_rmm = rvstore.clone();
    let components = other_rmm["platform"][0]["sw-components"]
        .as_array_mut()
        .unwrap();
    let rmm = components
        .iter_mut()
        .find(|component| component["component-type"] == "RMM")
        .unwrap();
    rmm["measurement-value"] = json!("00".repeat(32));
    let service =
        pinned_service(&with_rvstore(&other_rmm, "other-rmm.json"), EVALUATION_TIME).await;
    let err = evaluate_bound_err(&service, Tee::Cca, read_json(CCA_EVIDENCE), CCA_CASE).await;
    crate::assert_verifier_error!(
        err,
        Tee::Cca,
        verifier::Error::Cca(CcaError::PlatformReferenceValues)
    );

    // The store as shipped: both match.
    let service = pinned_service(&with_rvstore(&rvstore, "rvstore.json"), EVALUATION_TIME).await;
    let claims = evaluate_bound(&service, Tee::Cca, read_json(CCA_EVIDENCE), CCA_CASE).await;
    assert_manifest_claims(
        CCA_CASE,
        "cca",
        &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"],
    );
}

/// Releases only to a realm with `rim` on a platform with `implementation_id` (base64, as
/// the CCA claims carry them).
fn cca_resource_policy(rim: &str, implementation_id: &str) -> String {
    allow_only_if(&[
        r#"cca := input.submods.cpu0["ear.veraison.annotated-evidence"].cca"#,
        &format!(r#"cca.realm["cca-realm-initial-measurement"] == "{rim}""#),
        &format!(r#"cca.platform["cca-platform-implementation-id"] == "{implementation_id}""#),
    ])
}

#[tokio::test]
async fn cca_resource_policy_on_the_realm_initial_measurement_decides() {
    let claims = &manifest_case(CCA_CASE)["claims"];
    let rim = claims["realm.cca-realm-initial-measurement"]
        .as_str()
        .unwrap();
    let implementation_id = claims["platform.cca-platform-implementation-id"]
        .as_str()
        .unwrap();
    let (state, service) = kbs_and_service(&cca_config()).await;
    let decide = || {
        resource_decision(
            &state,
            &service,
            Tee::Cca,
            read_json(CCA_EVIDENCE),
            manifest_report_data(CCA_CASE),
        )
    };

    admin_set_resource_policy(&state, &cca_resource_policy(rim, implementation_id)).await;
    assert_eq!(decide().await, Decision::Allow);

    // A policy for another realm (one measurement byte different) refuses the same realm.
    let mut other = STANDARD.decode(rim).unwrap();
    other[0] ^= 1;
    admin_set_resource_policy(
        &state,
        &cca_resource_policy(&STANDARD.encode(other), implementation_id),
    )
    .await;
    assert_eq!(decide().await, Decision::Deny);
}

// ---------------------------------------------------------------------------------------------
// TPM

fn tpm_evidence() -> Value {
    read_json(TPM_EVIDENCE)
}

/// SHA-256 of the sample's AK (DER SPKI), hex: what a policy pins a trusted AK by.
fn tpm_ak_sha256() -> String {
    let der = STANDARD
        .decode(tpm_evidence()["ak_public"].as_str().unwrap())
        .unwrap();
    hex::encode(digest(&SHA256, &der))
}

/// The sample with the byte at `index` of its decoded quote signature flipped.
fn tpm_with_flipped_signature_byte(index: usize) -> Value {
    let mut evidence = tpm_evidence();
    let signature = &mut evidence["tpm_quote"]["signature"];
    let mut bytes = STANDARD.decode(signature.as_str().unwrap()).unwrap();
    bytes[index] ^= 1;
    *signature = json!(STANDARD.encode(bytes));
    evidence
}

#[tokio::test]
async fn tpm_sample_through_attest_passes_signature_and_pcr_digest_and_fails_at_the_nonce() {
    let state = real_kbs(&config(None)).await;
    let problem = attest_refused(&state, "tpm", tpm_evidence()).await;
    assert_eq!(problem["type"], ATTESTATION_ERROR);
    // The nonce is checked after the quote signature (with ak_public) and the PCR digest.
    assert_detail_ends_with(
        &problem,
        "tpm evidence verification failed: tpm quote nonce does not match the expected \
         report data",
    );
}

#[tokio::test]
async fn tpm_sample_with_a_flipped_signature_byte_or_pcr_is_refused_naming_the_check() {
    let state = real_kbs(&config(None)).await;
    // The last byte of the RSA signature.
    let length = STANDARD
        .decode(tpm_evidence()["tpm_quote"]["signature"].as_str().unwrap())
        .unwrap()
        .len();
    let problem = attest_refused(&state, "tpm", tpm_with_flipped_signature_byte(length - 1)).await;
    assert_detail_ends_with(
        &problem,
        "tpm evidence verification failed: tpm quote signature does not verify with \
         ak_public",
    );

    // Bound to its own nonce, so only the tampering can fail it.
    let service = pinned_service(&config(None), EVALUATION_TIME).await;
    let err = evaluate_bound_err(
        &service,
        Tee::Tpm,
        tpm_with_flipped_signature_byte(length - 1),
        TPM_CASE,
    )
    .await;
    crate::assert_verifier_error!(
        err,
        Tee::Tpm,
        verifier::Error::Tpm(TpmError::QuoteSignature)
    );
    // A reported PCR that is not what the TPM signed.
    let mut evidence = tpm_evidence();
    evidence["tpm_quote"]["pcrs"][17] = json!("00".repeat(32));
    let err = evaluate_bound_err(&service, Tee::Tpm, evidence, TPM_CASE).await;
    crate::assert_verifier_error!(err, Tee::Tpm, verifier::Error::Tpm(TpmError::PcrDigest));
}

#[tokio::test]
async fn tpm_sample_bound_to_its_nonce_yields_its_pcrs_and_ak() {
    let service = pinned_service(&config(None), EVALUATION_TIME).await;
    // The KBS binds a 48-byte SHA-384 digest; the verifier pads it to the 64-byte nonce.
    let nonce = manifest_report_data(TPM_CASE);
    assert!(nonce[48..].iter().all(|byte| *byte == 0));
    let request = bound_request(Tee::Tpm, tpm_evidence(), nonce[..48].to_vec());
    let claims = evaluate_claims(&service, vec![request], EVALUATION_TIME).await;
    let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    // report_data (the nonce), init_data (PCR8), pcr00, ak_public.
    assert_manifest_claims(TPM_CASE, "tpm", evidence);
    let tpm = &evidence["tpm"];
    let pcrs = tpm_evidence()["tpm_quote"]["pcrs"].clone();
    for (index, value) in pcrs.as_array().unwrap().iter().enumerate() {
        assert_eq!(tpm[format!("pcr{index:02}")], *value, "pcr{index:02}");
    }
    assert_eq!(tpm["ak_public_sha256"], tpm_ak_sha256());
    assert_eq!(tpm["ak_type"], "rsa");
    assert_eq!(tpm["quote"]["pcr_bank"], "sha256");
}

#[tokio::test]
async fn tpm_default_cpu_affirms_executables_only_with_the_quoted_pcr11_and_a_trusted_ak() {
    let service = pinned_service(&config(None), EVALUATION_TIME).await;
    let evaluate = || evaluate_bound(&service, Tee::Tpm, tpm_evidence(), TPM_CASE);
    let cpu0 = evaluate().await["submods"]["cpu0"].clone();
    assert_eq!(cpu0["ear.appraisal-policy-id"], "default");
    assert_eq!(
        cpu0["ear.trustworthiness-vector"]["executables"], 33,
        "{cpu0}"
    );

    let pcr11 = tpm_evidence()["tpm_quote"]["pcrs"][11].clone();
    let ak = tpm_evidence()["ak_public"].clone();
    // The AK trusted, but another PCR11: not recognised.
    let values = json!({"tpm_pcr11": ["11".repeat(32)], "trusted_aks": [ak]});
    register_sample_reference_values(&service, &values).await;
    let cpu0 = evaluate().await["submods"]["cpu0"].clone();
    assert_eq!(
        cpu0["ear.trustworthiness-vector"]["executables"], 33,
        "{cpu0}"
    );

    // The quoted PCR11 and the AK: recognised.
    let values = json!({"tpm_pcr11": [pcr11], "trusted_aks": [ak]});
    register_sample_reference_values(&service, &values).await;
    let cpu0 = evaluate().await["submods"]["cpu0"].clone();
    let vector = &cpu0["ear.trustworthiness-vector"];
    assert_eq!(vector["executables"], 3, "{cpu0}");
    assert_eq!(vector["hardware"], 2, "{cpu0}");
}

/// Releases only to a quote whose PCR17 is `pcr17`, signed by the AK with SHA-256 `ak`.
fn tpm_resource_policy(pcr17: &str, ak: &str) -> String {
    allow_only_if(&[
        r#"tpm := input.submods.cpu0["ear.veraison.annotated-evidence"].tpm"#,
        &format!(r#"tpm.pcr17 == "{pcr17}""#),
        &format!(r#"tpm.ak_public_sha256 == "{ak}""#),
    ])
}

#[tokio::test]
async fn tpm_resource_policy_on_a_quoted_pcr_and_the_ak_decides() {
    let pcr17 = tpm_evidence()["tpm_quote"]["pcrs"][17]
        .as_str()
        .unwrap()
        .to_owned();
    let nonce = manifest_report_data(TPM_CASE);
    let (state, service) = kbs_and_service(&config(None)).await;
    let decide = || {
        resource_decision(
            &state,
            &service,
            Tee::Tpm,
            tpm_evidence(),
            nonce[..48].to_vec(),
        )
    };

    admin_set_resource_policy(&state, &tpm_resource_policy(&pcr17, &tpm_ak_sha256())).await;
    assert_eq!(decide().await, Decision::Allow);

    // The same quote against a policy expecting PCR17 reset (all zero): refused.
    admin_set_resource_policy(
        &state,
        &tpm_resource_policy(&"00".repeat(32), &tpm_ak_sha256()),
    )
    .await;
    assert_eq!(decide().await, Decision::Deny);

    // Or trusting another AK: refused.
    admin_set_resource_policy(&state, &tpm_resource_policy(&pcr17, &"ab".repeat(32))).await;
    assert_eq!(decide().await, Decision::Deny);
}
