//! Real SEV-SNP (and Azure SEV-SNP vTPM) evidence through the KBS router and its builtin AS, with the verification time
//! pinned to the time the shared test data's collateral is valid at (issue 4 acceptance).
//!
//! The sample report's `report_data` was fixed by the hardware that produced it, so it cannot
//! carry the digest of a fresh KBS nonce: through `/attest` the best possible outcome is a
//! verification that passes the VCEK chain, hardware id, TCB and report signature and fails at
//! the report-data binding. The same evidence bound to its own report data then goes through
//! `AttestationService::evaluate` and is appraised by `default_cpu`. The Azure SEV-SNP vTPM
//! sample is checked the same way: its quote nonce (`challenge`) is fixed too.
//!
//! The clock is pinned by giving the KBS a builtin backend over an `AttestationService` made
//! with `with_clock`, so no configuration key can pin a production KBS's time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod in_process;

use attestation_service::AttestationService;
use kbs::app::AppState;
use kbs_types::Tee;
use serde_json::{Value, json};

use in_process::*;

/// The manifest's verification time, 2025-06-01T00:00:00Z.
const VERIFICATION_TIME: i64 = 1_748_736_000;
/// 2031-01-01T00:00:00Z: after the sample VCEK's `notAfter` (2030-01-24), inside the ARK's.
const AFTER_VCEK_EXPIRY: i64 = 1_924_992_000;

/// `test-report.json`'s launch measurement and report data (testdata README, snp rows).
const MEASUREMENT: &str = "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c\
                           23500644e0e692e6be917f9050d3d38c";
const REPORT_DATA: &str = "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2\
                           0000000000000000000000000000000000000000000000000000000000000000";

fn snp_evidence() -> Value {
    read_json("wrapped/snp/test-report.json")
}

/// Azure SEV-SNP vTPM evidence (wire version 1): its quote nonce is `challenge`.
fn az_snp_vtpm_evidence() -> Value {
    read_json("evidence/az-snp-vtpm/evidence-v1.json")
}

/// The KBS of [`BUILTIN_AS_CONFIG`] whose builtin AS verifies at `unix`.
async fn kbs_at(unix: i64) -> AppState {
    pinned_kbs(&builtin_config(""), unix).await
}

/// `/auth` for `snp`, then `/attest` with the sample report as primary evidence, which must
/// be refused (401); returns the problem document.
async fn attest_snp_sample(state: &AppState) -> Value {
    attest_refused(state, "snp", snp_evidence()).await
}

#[tokio::test]
async fn snp_sample_through_attest_passes_chain_tcb_and_signature_and_fails_at_report_data() {
    let state = kbs_at(VERIFICATION_TIME).await;
    let problem = attest_snp_sample(&state).await;
    assert_eq!(problem["type"], ATTESTATION_ERROR);
    // docs/api.md: detail is the error followed by its causes. The report-data check runs
    // after the VCEK chain and validity, hardware id, TCB, signature and VMPL checks
    // (`snp::verify`), so failing there means all of those passed.
    assert_detail_ends_with(
        &problem,
        "snp evidence verification failed: evidence `report_data` does not match the \
         expected value",
    );
}

#[tokio::test]
async fn snp_sample_through_attest_after_the_vcek_expired_fails_at_its_validity() {
    let state = kbs_at(AFTER_VCEK_EXPIRY).await;
    let problem = attest_snp_sample(&state).await;
    assert_eq!(problem["type"], ATTESTATION_ERROR);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "vcek certificate is not valid at {AFTER_VCEK_EXPIRY} (valid from 1674583106 to \
             1895507906, unix seconds)"
        )),
        "{detail}"
    );
}

/// The sample bound to its own report data, as a raw-runtime-data client would send it.
/// The SNP sample bound to its own report data, evaluated at the manifest's time.
async fn evaluate(service: &AttestationService) -> Value {
    let request = bound_request(Tee::Snp, snp_evidence(), hex::decode(REPORT_DATA).unwrap());
    evaluate_claims(service, vec![request], VERIFICATION_TIME).await
}

#[tokio::test]
async fn snp_sample_bound_to_its_report_data_is_appraised_by_default_cpu() {
    let config = builtin_config("");
    let service = pinned_service(&config, VERIFICATION_TIME).await;

    let claims = evaluate(&service).await;
    assert_eq!(claims["iat"], VERIFICATION_TIME);
    let cpu0 = &claims["submods"]["cpu0"];
    let snp = &cpu0["ear.veraison.annotated-evidence"]["snp"];
    assert_eq!(snp["measurement"], MEASUREMENT);
    // annotate() lifts the bound value out of the TEE claims, as upstream does.
    assert_eq!(
        cpu0["ear.veraison.annotated-evidence"]["report_data"],
        REPORT_DATA
    );
    assert_eq!(snp["reported_tcb_bootloader"], 3);
    assert_eq!(snp["reported_tcb_microcode"], 115);
    assert_eq!(snp["policy_debug_allowed"], false);
    // Without reference values the default policy recognises neither the executables nor
    // the hardware.
    assert_eq!(cpu0["ear.appraisal-policy-id"], "default");
    assert_eq!(cpu0["ear.status"], "contraindicated", "{cpu0}");
    assert_eq!(cpu0["ear.trustworthiness-vector"]["executables"], 33);
    assert_eq!(cpu0["ear.trustworthiness-vector"]["hardware"], 97);

    let reference_values = json!({
        "snp_launch_measurement": [MEASUREMENT],
        "snp_bootloader": [3],
        "snp_tee_svn": [0],
        "snp_snp_svn": [8],
        "snp_microcode": [115],
    });
    register_sample_reference_values(&service, &reference_values).await;
    let claims = evaluate(&service).await;
    let cpu0 = &claims["submods"]["cpu0"];
    assert_eq!(cpu0["ear.status"], "affirming", "{cpu0}");
    let vector = &cpu0["ear.trustworthiness-vector"];
    assert_eq!(vector["executables"], 3);
    assert_eq!(vector["hardware"], 2);
    // Debug and migration agent off; the finer platform settings have no reference values.
    assert_eq!(vector["configuration"], 3);
}

#[tokio::test]
async fn az_snp_vtpm_sample_through_attest_fails_only_at_the_quote_nonce() {
    let state = kbs_at(VERIFICATION_TIME).await;
    let problem = attest_refused(&state, "az-snp-vtpm", az_snp_vtpm_evidence()).await;
    assert_eq!(problem["type"], ATTESTATION_ERROR);
    // The nonce is checked after the SNP report (chain, signature), the HCL runtime-data
    // binding and the quote signature by the HCL attestation key.
    assert_detail_ends_with(
        &problem,
        "az-snp-vtpm evidence verification failed: tpm quote nonce does not match the \
         expected report data",
    );
}

#[tokio::test]
async fn az_snp_vtpm_sample_bound_to_its_nonce_verifies_at_the_pinned_time() {
    let config = builtin_config("");
    let request = |unix| {
        let service = pinned_service(&config, unix);
        async move {
            let request = bound_request(
                Tee::AzSnpVtpm,
                az_snp_vtpm_evidence(),
                b"challenge".to_vec(),
            );
            let service = service.await;
            let token = service
                .evaluate(vec![request], &["default".to_owned()])
                .await;
            (service, token)
        }
    };
    let (service, token) = request(VERIFICATION_TIME).await;
    let now = u64::try_from(VERIFICATION_TIME).unwrap();
    let claims = jose::jwt::verify(&token.unwrap(), &service.token_verifying_key(), now).unwrap();
    let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    assert_eq!(
        evidence["az-snp-vtpm"]["measurement"],
        "agY76d159jcchC5ID43DtccllhNE5XEw6Ixa30no9/bHm3Wl63f8dplZ9K6y+UAe"
    );
    assert_eq!(
        evidence["az-snp-vtpm"]["tpm"]["pcr00"],
        "e15c44796beabf46abcec7c57e590942041e47497e4ec27571c8b7664f48dced"
    );

    // The same evidence before its VCEK was issued (2025-01-28): 2025-01-01.
    let (_, token) = request(1_735_689_600).await;
    let err = token.unwrap_err();
    assert!(
        matches!(
            &err,
            attestation_service::Error::Verifier {
                tee: Tee::AzSnpVtpm,
                source: verifier::Error::Snp(verifier::snp::SnpError::CertificateValidity {
                    cert: verifier::snp::CertRole::Vcek,
                    now: 1_735_689_600,
                    ..
                }),
            }
        ),
        "{err:?}"
    );
}
