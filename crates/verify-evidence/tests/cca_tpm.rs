//! `verify-evidence` with the Arm CCA and TPM verifiers on the shared samples.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const CCA_REPORT_DATA: &str = "57e979ae2618de0c1ab73144c440d741cf9236dc9d52ed190053382a4d190252f9f0370403c35dcb155fb4362d73c66d5b0494bf939315d3dc52b8cdc8b85a96";

fn testdata(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata")
        .join(path);
    path.to_str().unwrap().to_owned()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verify-evidence"))
        .args(args)
        .output()
        .unwrap()
}

fn cca(extra: &[&str]) -> Output {
    let evidence = testdata("wrapped/cca/cca-example-token.json");
    let ta = testdata("evidence/cca/conf/tastore.json");
    let mut args = vec![
        "--tee",
        "cca",
        "--evidence",
        &evidence,
        "--cca-ta-store",
        &ta,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn cca_sample_verifies_with_the_trust_anchor_and_reference_values() {
    let rv = testdata("evidence/cca/conf/rvstore.json");
    let output = cca(&["--report-data", CCA_REPORT_DATA, "--cca-rv-store", &rv]);
    assert!(output.status.success(), "{output:?}");
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claims["cpu0"]["report_data"], CCA_REPORT_DATA);
    assert_eq!(
        claims["cpu0"]["platform"]["cca-platform-implementation-id"],
        "f0VMRgIBAQAAAAAAAAAAAAMAPgABAAAAUFgAAAAAAAA="
    );
}

#[test]
fn cca_wrong_report_data_exits_1_naming_the_challenge() {
    let mut wrong = CCA_REPORT_DATA.to_owned();
    wrong.replace_range(0..2, "00");
    let output = cca(&["--report-data", &wrong]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("realm challenge"), "{stderr}");
}

#[test]
fn cca_without_a_trust_anchor_exits_1() {
    let evidence = testdata("wrapped/cca/cca-example-token.json");
    let output = run(&[
        "--tee",
        "cca",
        "--evidence",
        &evidence,
        "--report-data",
        CCA_REPORT_DATA,
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no cpak trust anchor"), "{stderr}");
}

#[test]
fn cca_unreadable_store_exits_2() {
    let output = cca(&["--cca-rv-store", "/nonexistent/rvstore.json"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

#[test]
fn tpm_sample_verifies_and_binds_its_padded_nonce() {
    let evidence = testdata("evidence/tpm/tpm_evidence.json");
    let output = run(&["--tee", "tpm", "--evidence", &evidence]);
    assert!(output.status.success(), "{output:?}");
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claims["cpu0"]["pcr17"], "f".repeat(64));
    let digest = &claims["cpu0"]["report_data"].as_str().unwrap()[..96];
    let output = run(&[
        "--tee",
        "tpm",
        "--evidence",
        &evidence,
        "--report-data",
        digest,
    ]);
    assert!(output.status.success(), "{output:?}");
    let output = run(&[
        "--tee",
        "tpm",
        "--evidence",
        &evidence,
        "--report-data",
        &digest[..64],
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
}
