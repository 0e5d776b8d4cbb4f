//! Real Intel DCAP evidence (TDX, SGX) through the KBS router and its builtin AS, with the
//! verification time pinned inside the shared test data's collateral windows and the
//! collateral read offline from the shared bundles (`dcap_verifier.collateral_service =
//! "file://..."`), never from Intel (issue 5 acceptance).
//!
//! The samples' report data was fixed by the hardware that produced them, so through
//! `/attest` (which binds a fresh KBS nonce) the best outcome is a verification that passes the
//! whole DCAP chain and fails exactly at the report-data binding. The same evidence bound to
//! its own report data then goes through `AttestationService::evaluate` and yields a token
//! whose TEE claims carry the expected values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod in_process;

use attestation_service::AttestationService;
use kbs::config::KbsConfig;
use kbs_types::Tee;
use serde_json::{Value, json};

use in_process::*;

/// 2023-06-28T00:00:00Z: inside `tdx_quote_4`'s collateral window.
const TDX_TIME: i64 = 1_687_910_400;
/// 2023-07-09T00:00:00Z: after `tdx_quote_4`'s TCB info and CRLs expired.
const AFTER_TDX_COLLATERAL: i64 = 1_688_860_800;
/// 2027-01-15: after the 2018-2025 TCB signing certificate (signer of its TCB info) expired.
const AFTER_TCB_SIGNING_CERT: i64 = 1_800_000_000;
/// 2025-09-01T00:00:00Z: inside `occlum_quote`'s collateral window.
const SGX_TIME: i64 = 1_756_684_800;

const TDX_REPORT_DATA: &str = "7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656ae\
                               b755da3d44d098c0c87382f3a5f85b45c8a28fee1d3bdb38342bf96671501429";
const TDX_MR_TD: &str = "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b6\
                         89cac1599ccea1b7d420483a9ce5f031";

/// A builtin-AS KBS whose DCAP collateral is only the shared bundle `bundle`.
fn config(bundle: &str) -> KbsConfig {
    builtin_config(&format!(
        "[attestation_service.verifier_config.dcap_verifier]\n\
         collateral_service = \"file://{TESTDATA}/collateral/intel/bundles/{bundle}\"\n"
    ))
}

#[tokio::test]
async fn tdx_sample_through_attest_passes_dcap_and_fails_at_report_data() {
    let state = pinned_kbs(&config("tdx_quote_4.pcs.json"), TDX_TIME).await;
    let problem = attest_refused(&state, "tdx", read_json("wrapped/tdx/tdx_quote_4.json")).await;
    assert_eq!(problem["type"], ATTESTATION_ERROR);
    // The binding is checked after the whole DCAP chain (quote and QE signatures, PCK chain,
    // CRLs, TCB info, QE identity, TCB level): failing there means all of those passed.
    assert_detail_ends_with(
        &problem,
        "tdx evidence verification failed: evidence `report_data` does not match the \
         expected value",
    );
}

#[tokio::test]
async fn tdx_sample_through_attest_after_the_tcb_signing_certificate_expired_fails_in_dcap() {
    let state = pinned_kbs(&config("tdx_quote_4.pcs.json"), AFTER_TCB_SIGNING_CERT).await;
    let problem = attest_refused(&state, "tdx", read_json("wrapped/tdx/tdx_quote_4.json")).await;
    assert!(
        detail(&problem).ends_with(&format!(
            "tdx evidence verification failed: tcb signing certificate is not valid at \
             {AFTER_TCB_SIGNING_CERT} (valid 1526899810 to 1747824610)"
        )),
        "{problem}"
    );
}

#[tokio::test]
async fn tdx_sample_after_its_collateral_expired_reports_the_expiry_as_a_claim() {
    // QVL semantics (upstream): TCB info and CRLs past nextUpdate do not fail the quote.
    let service = pinned_service(&config("tdx_quote_4.pcs.json"), AFTER_TDX_COLLATERAL).await;
    let claims = evaluate_tdx(&service, AFTER_TDX_COLLATERAL).await;
    let tdx = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["tdx"];
    assert_eq!(tdx["collateral_expiration_status"], "1");
}

#[tokio::test]
async fn tdx_sample_with_an_unrelated_event_log_fails_at_the_replay() {
    let service = pinned_service(&config("tdx_quote_4.pcs.json"), TDX_TIME).await;
    let request = bound_request(
        Tee::Tdx,
        read_json("wrapped/tdx/tdx_quote_4.with-unrelated-ccel.json"),
        hex::decode(TDX_REPORT_DATA).unwrap(),
    );
    let err = evaluate_err(&service, vec![request]).await;
    crate::assert_verifier_error!(err, Tee::Tdx, verifier::Error::EventLog(_));
}

/// `tdx_quote_4` bound to its own report data through `AttestationService::evaluate`; the
/// verified token's claims.
async fn evaluate_tdx(service: &AttestationService, unix: i64) -> Value {
    let request = bound_request(
        Tee::Tdx,
        read_json("wrapped/tdx/tdx_quote_4.json"),
        hex::decode(TDX_REPORT_DATA).unwrap(),
    );
    evaluate_claims(service, vec![request], unix).await
}

#[tokio::test]
async fn tdx_sample_bound_to_its_report_data_yields_a_token_with_its_claims() {
    let service = pinned_service(&config("tdx_quote_4.pcs.json"), TDX_TIME).await;
    let claims = evaluate_tdx(&service, TDX_TIME).await;
    assert_eq!(claims["iat"], TDX_TIME);
    let evidence = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"];
    let tdx = &evidence["tdx"];
    assert_eq!(tdx["quote"]["body"]["mr_td"], TDX_MR_TD);
    assert_eq!(tdx["quote"]["header"]["version"], "0400");
    assert_eq!(tdx["td_attributes"]["debug"], true);
    assert_eq!(tdx["tcb_status"], "UpToDate");
    assert_eq!(tdx["collateral_expiration_status"], "0");
    // annotate() lifts the bound value out of the TEE claims.
    assert_eq!(evidence["report_data"], TDX_REPORT_DATA);
}

#[tokio::test]
async fn tdx_claims_are_appraised_by_the_default_cpu_policy() {
    let service = pinned_service(&config("tdx_quote_4.pcs.json"), TDX_TIME).await;
    let cpu0 = |claims: &Value| claims["submods"]["cpu0"].clone();
    // Without reference values nothing is recognised.
    let before = cpu0(&evaluate_tdx(&service, TDX_TIME).await);
    assert_eq!(
        before["ear.trustworthiness-vector"]["hardware"], 97,
        "{before}"
    );

    let body = &evaluate_tdx(&service, TDX_TIME).await["submods"]["cpu0"]["ear.veraison.annotated-evidence"]
        ["tdx"]["quote"]["body"];
    let reference_values = json!({
        "mr_td": [TDX_MR_TD],
        "rtmr_1": [body["rtmr_1"]],
        "rtmr_2": [body["rtmr_2"]],
        "xfam": [body["xfam"]],
    });
    register_sample_reference_values(&service, &reference_values).await;
    let after = cpu0(&evaluate_tdx(&service, TDX_TIME).await);
    let vector = &after["ear.trustworthiness-vector"];
    // tee_type, vendor_id, mr_td, tcb_status UpToDate, collateral not expired.
    assert_eq!(vector["hardware"], 2, "{after}");
    // RTMR1/2 match; no event log, so not the direct-kernel-boot value.
    assert_eq!(vector["executables"], 4, "{after}");
    // A debug TD is not the recognised configuration.
    assert_eq!(vector["configuration"], 36, "{after}");
}

#[tokio::test]
async fn sgx_sample_through_attest_fails_at_report_data_and_verifies_bound_to_its_own() {
    let config = config("occlum_quote.pcs.json");
    let state = pinned_kbs(&config, SGX_TIME).await;
    let evidence = read_json("wrapped/sgx/occlum_quote.json");
    let problem = attest_refused(&state, "sgx", evidence.clone()).await;
    assert_detail_ends_with(
        &problem,
        "sgx evidence verification failed: evidence `report_data` does not match the \
         expected value",
    );

    let service = pinned_service(&config, SGX_TIME).await;
    let request = bound_request(Tee::Sgx, evidence, b"test".to_vec());
    let claims = evaluate_claims(&service, vec![request], SGX_TIME).await;
    let sgx = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["sgx"];
    assert_eq!(
        sgx["body"]["mr_enclave"],
        "8f173e4613ff05c52aaf04162d234edae8c9977eae47eb2299ae16a553011c68"
    );
    assert_eq!(sgx["tcb_status"], "OutOfDate");
}

#[tokio::test]
async fn az_tdx_vtpm_sample_fails_at_the_quote_nonce_and_verifies_bound_to_it() {
    // 2025-11-05T00:00:00Z: inside the TD quote's collateral window.
    const AZ_TIME: i64 = 1_762_300_800;
    let config = config("az-tdx-vtpm_td-quote.pcs.json");
    let state = pinned_kbs(&config, AZ_TIME).await;
    let evidence = read_json("evidence/az-tdx-vtpm/evidence-v1.json");
    let problem = attest_refused(&state, "az-tdx-vtpm", evidence.clone()).await;
    // The nonce is checked after the TD quote (DCAP), the HCL runtime-data binding and the
    // TPM quote signature by the HCL attestation key.
    assert_detail_ends_with(
        &problem,
        "az-tdx-vtpm evidence verification failed: tpm quote nonce does not match the \
         expected report data",
    );

    let service = pinned_service(&config, AZ_TIME).await;
    let request = bound_request(Tee::AzTdxVtpm, evidence, b"challenge".to_vec());
    let claims = evaluate_claims(&service, vec![request], AZ_TIME).await;
    let az = &claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]["az-tdx-vtpm"];
    assert_eq!(
        az["tpm"]["pcr00"],
        "782b20b10f55cc46e2142cc2145d548698073e5beb82752c8d7f9279f0d8a273"
    );
    assert_eq!(az["tcb_status"], "OutOfDate");
}
