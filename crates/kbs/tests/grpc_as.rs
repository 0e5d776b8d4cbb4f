//! Issue 6 acceptance: `rvps`, `grpc-as` and `kbs` as three processes on loopback. Reference
//! values are registered with `rvps-tool`, the attestation policy that requires them is set
//! through the KBS admin API (forwarded to the AS), and `kbs-client` fetches the secret; a
//! reference value deleted with `rvps-tool delete` (`DeleteReferenceValue`, our extension
//! beyond upstream's protocol) or expired takes it away; killing `grpc-as` gives clients a 503
//! problem naming the AS and changes no stored data; restarting it on the same port restores
//! service without restarting `kbs`.
//!
//! The AS signs tokens with the attestation-service crate's test signer (leaf + root in
//! `x5c`); the KBS trusts that root through `[attestation_token] trusted_certs_paths`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::services::{Rvps, Service, as_signer_root, as_token_broker, grpc_as_sections};
use common::{
    Kbs, KbsEnv, assert_policy_denies, run_cli, store_svn_gated_secret, text, workspace_bins,
};
use kbs_client::{ClientError, KbsClient};
use serde_json::{Value, json};

const PATH: &str = "default/test/secret";
const SECRET: &[u8] = b"secret released by a remote AS";
/// The problem type of an unreachable AS.
const UNAVAILABLE: &str = "AttestationServiceUnavailable";

/// The binaries of the other packages, built by `common::workspace_bins`.
struct Bins {
    rvps: PathBuf,
    rvps_tool: PathBuf,
    grpc_as: PathBuf,
    kbs_client: PathBuf,
}

fn build_bins() -> Bins {
    let [rvps, rvps_tool, grpc_as, kbs_client] = workspace_bins(
        &["rvps", "attestation-service", "kbs-client"],
        &["rvps", "rvps-tool", "grpc-as", "kbs-client"],
    )
    .try_into()
    .unwrap();
    Bins {
        rvps,
        rvps_tool,
        grpc_as,
        kbs_client,
    }
}

fn run(bin: &Path, args: &[&str]) -> Output {
    run_cli(bin, args, &[("NO_PROXY", Some("*"))])
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `kbs-client get-resource`: the secret, or the CLI's stderr.
fn cli_get(bins: &Bins, kbs: &Kbs) -> Result<Vec<u8>, String> {
    let out = run(
        &bins.kbs_client,
        &["--url", &kbs.url, "get-resource", "--path", PATH],
    );
    if out.status.success() {
        Ok(STANDARD.decode(text(&out.stdout).trim()).unwrap())
    } else {
        Err(text(&out.stderr))
    }
}

/// `kbs-client get-resource` releases the secret (else panics with both services' logs).
fn assert_cli_gets_secret(bins: &Bins, kbs: &Kbs, grpc_as: &Service) {
    let got = cli_get(bins, kbs)
        .unwrap_or_else(|e| panic!("{e}\nkbs:\n{}\nas:\n{}", kbs.stderr(), grpc_as.log()));
    assert_eq!(got, SECRET);
}

/// Reference value `svn` is gone for everyone: `kbs-client` is refused by the policy, the
/// admin API answers 404 and `rvps-tool query` exits 3.
async fn assert_svn_unknown(bins: &Bins, kbs: &Kbs, admin: &KbsClient, rvps: &Rvps) {
    let err = cli_get(bins, kbs).unwrap_err();
    assert!(err.contains("PolicyDeny"), "{err}");
    let err = admin.query_reference_value("svn").await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    let out = run(&bins.rvps_tool, &["query", "-r", "svn", "-a", &rvps.url()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}

fn register_svn(bins: &Bins, dir: &Path, rvps: &Rvps, svn: &[&str]) {
    let payload = STANDARD.encode(json!({ "svn": svn }).to_string());
    let message = json!({"version": "0.1.0", "type": "sample", "payload": payload});
    let file = write(&dir.join("svn-message.json"), &message.to_string());
    let out = run(
        &bins.rvps_tool,
        &["register", "-p", &file, "-a", &rvps.url()],
    );
    assert!(
        out.status.success(),
        "rvps-tool register: {}",
        text(&out.stderr)
    );
}

fn assert_unavailable(err: &ClientError, as_addr: SocketAddr) {
    assert_eq!(err.status(), Some(503), "{err}");
    let problem = err.problem().unwrap();
    assert_eq!(problem.variant(), Some(UNAVAILABLE), "{err}");
    assert!(
        problem.detail.contains(&format!(
            "attestation service at http://{as_addr} is unavailable"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kbs_rvps_and_grpc_as_as_three_processes() {
    let bins = build_bins();
    let env = KbsEnv::new();
    let dir = env.dir.path().to_owned();

    // rvps on LocalFs storage
    let rvps = Rvps::start(&bins.rvps, &dir);

    // grpc-as: remote RVPS, LocalFs storage for its policies, token signer with an x5c chain
    let as_storage = dir.join("as-storage");
    let as_config = write(
        &dir.join("as-config.json"),
        &json!({
            "storage_backend": {"storage_type": "LocalFs",
                "backends": {"local_fs": {"dir_path": as_storage}}},
            "rvps_config": {"type": "GrpcRemote", "address": rvps.url()},
            "attestation_token_broker": as_token_broker(),
        })
        .to_string(),
    );
    let start_as = |socket: &str, n: u32| {
        Service::start(
            &bins.grpc_as,
            &["-c", &as_config, "-s", socket],
            "grpc-as",
            dir.join(format!("grpc-as-{n}.stderr.log")),
        )
    };
    let grpc_as = start_as("127.0.0.1:0", 1);
    let as_addr = grpc_as.addr;

    // kbs, as a gRPC client of that AS
    let (token, service) = grpc_as_sections(
        &format!("http://{as_addr}"),
        "pool_size = 4\nrequest_timeout_secs = 5\n",
        &as_signer_root(&dir),
    );
    env.write_config(&token, &service);
    let kbs = env.start();
    let admin = env.admin_client(&kbs);
    // the attestation policy is forwarded to the AS as SetAttestationPolicy
    store_svn_gated_secret(&admin, PATH, SECRET)
        .await
        .unwrap_or_else(|e| panic!("{e}\nkbs:\n{}\nas:\n{}", kbs.stderr(), grpc_as.log()));

    // no reference value yet: the AS does not affirm the sample TEE, the secret is refused
    assert_policy_denies(&kbs.guest(), PATH).await;
    let err = cli_get(&bins, &kbs).unwrap_err();
    assert!(err.contains("PolicyDeny"), "{err}");

    // rvps-tool registers it in rvps; the KBS sees it through the AS, and releases the secret
    register_svn(&bins, &dir, &rvps, &["1"]);
    assert_eq!(
        admin.query_reference_value("svn").await.unwrap(),
        json!(["1"])
    );
    assert_cli_gets_secret(&bins, &kbs, &grpc_as);

    // the reference value is removed with rvps-tool delete: refused again, and unknown for
    // everyone
    let out = run(&bins.rvps_tool, &["delete", "-r", "svn", "-a", &rvps.url()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_svn_unknown(&bins, &kbs, &admin, &rvps).await;
    // grpc-as serves the same RVPS API over its remote RVPS: deleting again there reaches
    // rvps, which finds nothing (exit 3, as for an unknown query)
    let out = run(
        &bins.rvps_tool,
        &["delete", "-r", "svn", "-a", &grpc_as.url()],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(r#"reference value "svn" not found"#),
        "{}",
        text(&out.stderr)
    );
    // registered again: released again
    register_svn(&bins, &dir, &rvps, &["1"]);
    assert_cli_gets_secret(&bins, &kbs, &grpc_as);

    // the reference value expires: the register message carries no expiration, so the
    // stored record is aged by giving it a past one; refused again, and gone for everyone
    let record_path = rvps.storage_dir().join("reference_value").join("svn");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    record["expiration"] = json!("2020-01-01T00:00:00Z");
    std::fs::write(&record_path, record.to_string()).unwrap();
    assert_svn_unknown(&bins, &kbs, &admin, &rvps).await;
    // a wrong value is refused too
    register_svn(&bins, &dir, &rvps, &["9"]);
    assert_policy_denies(&kbs.guest(), PATH).await;

    // registered again: released again; this guest keeps an attested session
    register_svn(&bins, &dir, &rvps, &["1"]);
    let attested = kbs.guest();
    assert_eq!(
        attested.get_resource(PATH).await.unwrap().as_slice(),
        SECRET
    );

    // grpc-as is killed mid-test
    let kbs_before = env.snapshot();
    grpc_as.kill();
    let err = kbs.guest().get_resource(PATH).await.unwrap_err();
    assert_unavailable(&err, as_addr);
    let err = admin
        .set_attestation_policy("default_cpu", "package policy\n")
        .await
        .unwrap_err();
    assert_unavailable(&err, as_addr);
    let err = admin.query_reference_value("svn").await.unwrap_err();
    assert_unavailable(&err, as_addr);
    let err = cli_get(&bins, &kbs).unwrap_err();
    assert!(err.contains(UNAVAILABLE), "{err}");
    assert!(err.contains("503"), "{err}");
    // a session attested before keeps working: resources are the KBS's own
    assert_eq!(
        attested.get_resource(PATH).await.unwrap().as_slice(),
        SECRET
    );
    // nothing was written: the KBS's store is as it was
    assert_eq!(env.snapshot(), kbs_before);

    // grpc-as restarts on the same port: the same kbs process serves again
    let grpc_as = start_as(&as_addr.to_string(), 2);
    assert_eq!(grpc_as.addr, as_addr);
    assert_cli_gets_secret(&bins, &kbs, &grpc_as);
    // the policy set through the KBS before the crash is still the AS's: it follows `svn`
    // (the shipped default_cpu would also want launch_digest and the platform version)
    register_svn(&bins, &dir, &rvps, &["9"]);
    assert_policy_denies(&kbs.guest(), PATH).await;
    register_svn(&bins, &dir, &rvps, &["1"]);
    assert_eq!(
        kbs.guest().get_resource(PATH).await.unwrap().as_slice(),
        SECRET
    );

    // an AS that stops answering (SIGSTOP) is unavailable after request_timeout_secs = 5
    grpc_as.signal("-STOP");
    let started = Instant::now();
    let err = kbs.guest().get_resource(PATH).await.unwrap_err();
    let waited = started.elapsed();
    grpc_as.signal("-CONT");
    assert_unavailable(&err, as_addr);
    // "no answer to AttestationEvaluate within 5 s" on a connected channel, "no connection
    // within 5 s" on one that connects now
    assert!(
        err.problem().unwrap().detail.contains("within 5 s"),
        "{err}"
    );
    // it waited for the timeout (a stopped process still accepts connections), not longer
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(30),
        "{waited:?}"
    );
    assert_eq!(
        kbs.guest().get_resource(PATH).await.unwrap().as_slice(),
        SECRET
    );
}
