//! `verify-evidence` as a process: exit status, stdout claims, one-line failures.

// Test helpers outside `#[test]` functions panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_verify-evidence"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr_line(output: &Output) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.ends_with('\n'));
    stderr.trim_end().to_owned()
}

fn write_json(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path
}

/// `sample` evidence bound to report data 01 02 03 ("AQID" in base64).
fn sample_evidence(dir: &Path) -> String {
    let path = write_json(
        dir,
        "sample.json",
        &json!({"svn": "7", "report_data": "AQID"}),
    );
    path.to_str().unwrap().to_owned()
}

#[test]
fn sample_evidence_with_matching_report_data_prints_claims_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = sample_evidence(dir.path());
    let output = run(&[
        "--tee",
        "sample",
        "--evidence",
        &evidence,
        "--report-data",
        "010203",
    ]);
    assert!(output.status.success(), "{output:?}");
    assert!(output.stderr.is_empty());
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claims["cpu0"]["svn"], "7");
    assert_eq!(claims["cpu0"]["report_data"], "AQID");
    // Pretty-printed for people, still one JSON document for scripts.
    assert!(
        String::from_utf8(output.stdout)
            .unwrap()
            .contains("\n  \"cpu0\": {")
    );
}

#[test]
fn init_data_digest_reaches_the_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = sample_evidence(dir.path());
    let output = run(&[
        "--tee",
        "sample",
        "--evidence",
        &evidence,
        "--init-data-digest",
        "0102",
    ]);
    assert!(output.status.success(), "{output:?}");
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    // The sample verifier reports the init-data digest in standard base64.
    assert_eq!(claims["cpu0"]["init_data"], "AQI=");
}

#[test]
fn wrong_report_data_exits_1_with_one_line_naming_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = sample_evidence(dir.path());
    let output = run(&[
        "--tee",
        "sample",
        "--evidence",
        &evidence,
        "--report-data",
        "010204",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr_line(&output),
        "evidence `report_data` does not match the expected value"
    );
}

#[test]
fn malformed_evidence_is_rejected_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = write_json(dir.path(), "bad.json", &json!({"report_data": "AQID"}));
    let output = run(&["--tee", "sample", "--evidence", evidence.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_line(&output).starts_with("malformed sample evidence"));
}

#[test]
fn unreadable_evidence_file_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let output = run(&["--tee", "sample", "--evidence", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let line = stderr_line(&output);
    assert!(
        line.starts_with(&format!(
            "cannot read evidence file {}: ",
            missing.display()
        )),
        "{line}"
    );
}

#[test]
fn evidence_that_is_not_json_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evidence.json");
    std::fs::write(&path, "{not json\n").unwrap();
    let output = run(&["--tee", "sample", "--evidence", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_line(&output).contains("is not JSON"));
}

#[test]
fn tee_without_a_verifier_exits_2_with_the_registry_error() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = sample_evidence(dir.path());
    let output = run(&["--tee", "se", "--evidence", &evidence]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr_line(&output),
        "no verifier for tee `se` is available in this build"
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = sample_evidence(dir.path());
    for args in [
        vec!["--tee", "nope", "--evidence", &evidence],
        vec![
            "--tee",
            "sample",
            "--evidence",
            &evidence,
            "--report-data",
            "xyz",
        ],
        vec![
            "--tee",
            "sample",
            "--evidence",
            &evidence,
            "--at",
            "yesterday",
        ],
        vec!["--tee", "sample"],
    ] {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty());
    }
}

/// The shared test data (`shared/testdata` beside the repository).
fn testdata(path: &str) -> String {
    format!(
        "{}/../../../shared/testdata/{path}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Manifest values for `wrapped/snp/test-report.json` (testdata README §3).
const SNP_AT: &str = "2025-06-01T00:00:00Z";
const SNP_REPORT_DATA: &str = "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2\
                               0000000000000000000000000000000000000000000000000000000000000000";

fn verify_snp_report(evidence: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--tee", "snp", "--evidence", evidence];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn snp_test_report_verifies_at_the_manifest_time() {
    let output = verify_snp_report(
        &testdata("wrapped/snp/test-report.json"),
        &["--report-data", SNP_REPORT_DATA, "--at", SNP_AT],
    );
    assert!(output.status.success(), "{output:?}");
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    let cpu = &claims["cpu0"];
    assert_eq!(
        cpu["measurement"],
        "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c\
         23500644e0e692e6be917f9050d3d38c"
    );
    assert_eq!(cpu["report_data"], SNP_REPORT_DATA);
    assert_eq!(cpu["reported_tcb_microcode"], 115);
    assert_eq!(cpu["policy_debug_allowed"], false);
}

#[test]
fn snp_init_data_digest_is_checked_against_host_data() {
    let evidence = testdata("wrapped/snp/test-report.json");
    let zeros = "00".repeat(32);
    let output = verify_snp_report(&evidence, &["--init-data-digest", &zeros, "--at", SNP_AT]);
    assert!(output.status.success(), "{output:?}");

    let output = verify_snp_report(&evidence, &["--init-data-digest", "01", "--at", SNP_AT]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_line(&output).contains("host_data"));
}

#[test]
fn tampered_snp_report_exits_1_naming_the_signature_check() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(testdata("wrapped/snp/test-report.json")).unwrap();
    let mut evidence: Value = serde_json::from_str(&text).unwrap();
    // One flipped bit in the signed body.
    let byte = &mut evidence["attestation_report"]["measurement"][0];
    *byte = json!(byte.as_u64().unwrap() ^ 1);
    let tampered = write_json(dir.path(), "tampered.json", &evidence);

    let output = verify_snp_report(
        tampered.to_str().unwrap(),
        &["--report-data", SNP_REPORT_DATA, "--at", SNP_AT],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let line = stderr_line(&output);
    assert!(line.contains("signature"), "{line}");
}

#[test]
fn snp_wrong_report_data_exits_1() {
    let mut wrong = SNP_REPORT_DATA.to_owned();
    wrong.replace_range(0..2, "ed");
    let output = verify_snp_report(
        &testdata("wrapped/snp/test-report.json"),
        &["--report-data", &wrong, "--at", SNP_AT],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr_line(&output),
        "evidence `report_data` does not match the expected value"
    );
}

#[test]
fn verification_time_comes_from_at() {
    // The VCEK is valid 2023-01-24 .. 2030-01-24: the same evidence fails after that.
    let output = verify_snp_report(
        &testdata("wrapped/snp/test-report.json"),
        &["--at", "2035-06-01T00:00:00Z"],
    );
    assert_eq!(output.status.code(), Some(1));
    let line = stderr_line(&output);
    assert!(line.contains("not valid at 2064268800"), "{line}");
}

#[test]
fn snp_vcek_comes_from_the_offline_collateral_dir() {
    let output = verify_snp_report(
        &testdata("wrapped/snp/e2e-evidence.no-cert-chain.json"),
        &[
            "--collateral-dir",
            &testdata("collateral"),
            "--at",
            SNP_AT,
            "--report-data",
            "7e7320889600c7ac133aea7b896c51f41026002982292a7369559796999c1bf9\
             29eef3ff23c46e858f0b1982f9a92b17c51b578d958cde6b0c92978f150cf9b0",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        claims["cpu0"]["chip_id"]
            .as_str()
            .unwrap()
            .starts_with("371c55d6d15cb50f")
    );
}

#[test]
fn snp_without_the_vcek_offline_fails_without_touching_the_network() {
    // An offline directory that lacks the chip: the KDS is never asked.
    let dir = tempfile::tempdir().unwrap();
    let output = verify_snp_report(
        &testdata("wrapped/snp/e2e-evidence.no-cert-chain.json"),
        &[
            "--collateral-dir",
            dir.path().to_str().unwrap(),
            "--at",
            SNP_AT,
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr_line(&output), "vcek not found in offline store");
}

const CSV_REPORT_DATA: &str = "7573657220646174610000000000000000000000000000000000000000000000\
                               0000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn csv_hsk_cek_comes_from_the_offline_collateral_dir() {
    let output = run(&[
        "--tee",
        "csv",
        "--evidence",
        &testdata("wrapped/csv/csv-rs-report.no-hsk-cek.json"),
        "--collateral-dir",
        &testdata("collateral"),
        "--report-data",
        CSV_REPORT_DATA,
    ]);
    assert!(output.status.success(), "{output:?}");
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claims["cpu0"]["serial_number"], "NZA9T14052605");
    assert_eq!(
        claims["cpu0"]["measure"],
        "1178dadbf826ec7a07444ba358376d81c312cb53d703f9da83b26c1eee2ea052"
    );
}

#[test]
fn csv_without_the_chip_offline_exits_1_naming_the_missing_hsk_cek() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&[
        "--tee",
        "csv",
        "--evidence",
        &testdata("wrapped/csv/csv-rs-report.no-hsk-cek.json"),
        "--collateral-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let line = stderr_line(&output);
    assert!(line.contains("hsk"), "{line}");
}

#[test]
fn az_snp_vtpm_evidence_verifies_at_the_manifest_time() {
    let output = run(&[
        "--tee",
        "az-snp-vtpm",
        "--evidence",
        &testdata("evidence/az-snp-vtpm/evidence-v2.json"),
        "--report-data",
        "982f5c6e45df0ed3f10b6f60b02f0c8390e281300f3805e2279c16168cd6ae9a\
         a398f647caa2338748cd0fd9f5f819ef",
        "--at",
        SNP_AT,
    ]);
    assert!(output.status.success(), "{output:?}");
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(claims["cpu0"].is_object());
}

#[test]
fn az_snp_vtpm_reads_the_clock_from_at() {
    // The VCEK in this evidence is valid from 2025-01-28.
    let output = run(&[
        "--tee",
        "az-snp-vtpm",
        "--evidence",
        &testdata("evidence/az-snp-vtpm/evidence-v2.json"),
        "--at",
        "2024-06-01T00:00:00Z",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let line = stderr_line(&output);
    assert!(line.contains("not valid at"), "{line}");
}

#[test]
fn missing_collateral_dir_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let output = verify_snp_report(
        &testdata("wrapped/snp/e2e-evidence.no-cert-chain.json"),
        &[
            "--collateral-dir",
            missing.to_str().unwrap(),
            "--at",
            SNP_AT,
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr_line(&output),
        format!("collateral directory {} does not exist", missing.display())
    );
}

/// hopper_case1's SPDM request nonce (its manifest report data).
const NVIDIA_NONCE: &str = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb";

#[test]
fn nvidia_gpu_evidence_verifies_at_the_manifest_time_as_gpu0() {
    let evidence = testdata("wrapped/nvidia/hopper_case1.json");
    let output = run(&[
        "--tee",
        "nvidia",
        "--evidence",
        &evidence,
        "--report-data",
        NVIDIA_NONCE,
        "--at",
        SNP_AT,
    ]);
    assert!(output.status.success(), "{output:?}");
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    let gpu = &claims["gpu0"];
    assert_eq!(gpu["arch"], "Hopper");
    assert_eq!(gpu["config"]["driver_version"], "550.90.07");
    assert_eq!(gpu["report_data"], NVIDIA_NONCE);

    // Another nonce: exit 1, one line naming the nonce check.
    let wrong = format!("00{}", &NVIDIA_NONCE[2..]);
    let output = run(&[
        "--tee",
        "nvidia",
        "--evidence",
        &evidence,
        "--report-data",
        &wrong,
        "--at",
        SNP_AT,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let line = stderr_line(&output);
    assert!(line.contains("nonce does not match"), "{line}");
}

/// `tdx_quote_4`'s manifest time and report data (testdata README §3, §4).
const TDX_AT: &str = "2023-06-28T00:00:00Z";
const TDX_REPORT_DATA: &str = "7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656ae\
                               b755da3d44d098c0c87382f3a5f85b45c8a28fee1d3bdb38342bf96671501429";

fn verify_dcap(tee: &str, evidence: &str, at: &str, report_data: &str) -> Output {
    run(&[
        "--tee",
        tee,
        "--evidence",
        &testdata(evidence),
        "--collateral-dir",
        &testdata("collateral"),
        "--at",
        at,
        "--report-data",
        report_data,
    ])
}

#[test]
fn tdx_quote_verifies_with_intel_collateral_from_the_offline_dir() {
    let output = verify_dcap(
        "tdx",
        "wrapped/tdx/tdx_quote_4.json",
        TDX_AT,
        TDX_REPORT_DATA,
    );
    assert!(output.status.success(), "{output:?}");
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claims["cpu0"]["tcb_status"], "UpToDate");
    assert_eq!(
        claims["cpu0"]["quote"]["body"]["mr_td"],
        "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b6\
         89cac1599ccea1b7d420483a9ce5f031"
    );
}

#[test]
fn tdx_event_log_that_does_not_replay_exits_1_naming_the_replay() {
    let output = verify_dcap(
        "tdx",
        "wrapped/tdx/tdx_quote_4.with-unrelated-ccel.json",
        TDX_AT,
        TDX_REPORT_DATA,
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let line = stderr_line(&output);
    assert!(
        line.starts_with("event log replay does not match the quote: rtmr0"),
        "{line}"
    );
}

#[test]
fn sgx_and_az_tdx_vtpm_verify_with_the_offline_dir() {
    let output = verify_dcap(
        "sgx",
        "wrapped/sgx/occlum_quote.json",
        "2025-09-01T00:00:00Z",
        "74657374",
    );
    assert!(output.status.success(), "{output:?}");
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claims["cpu0"]["tcb_status"], "OutOfDate");

    let output = verify_dcap(
        "az-tdx-vtpm",
        "evidence/az-tdx-vtpm/evidence-v1.json",
        "2025-11-05T00:00:00Z",
        "6368616c6c656e6765",
    );
    assert!(output.status.success(), "{output:?}");
    let claims: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claims["cpu0"]["report_data"], "6368616c6c656e6765");
}

/// `verify-evidence ... | head -1` where the reader is gone before the claims are written: no
/// panic ("failed printing to stdout"), nothing on stderr, and the success status of a
/// verification that succeeded. The evidence comes through a FIFO so that the child cannot
/// write before the pipe's read end is closed.
#[test]
fn a_closed_stdout_pipe_is_a_quiet_success() {
    use std::io::Write as _;
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("evidence.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_verify-evidence"))
        .args(["--tee", "sample", "--report-data", "010203", "--evidence"])
        .arg(&fifo)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // close the only read end of the child's stdout, then let it read its evidence
    drop(child.stdout.take());
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    writer
        .write_all(&serde_json::to_vec(&json!({"svn": "7", "report_data": "AQID"})).unwrap())
        .unwrap();
    drop(writer);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "",
        "{:?}",
        output.status
    );
    assert!(output.status.success(), "{output:?}");
}
