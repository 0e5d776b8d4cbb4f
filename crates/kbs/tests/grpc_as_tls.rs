//! `coco_as_grpc` over TLS (our extension beyond upstream): `grpc-as` started with `-t/-k`
//! (`testdata/tls/server.crt`, issued by `testdata/tls/ca.crt` for `127.0.0.1`/`localhost`) and
//! `kbs` with `as_addr = "https://localhost:<port>"` as two processes.
//!
//! - with `as_ca_cert` = the test CA, `kbs-client` attests through the AS and gets the secret;
//! - with `as_ca_cert` = another CA, the KBS answers 503 `AttestationServiceUnavailable` naming
//!   the certificate failure (the AS is up, so only TLS can have failed);
//! - without `as_ca_cert`, the platform's roots: the test CA made the platform's only root
//!   through `SSL_CERT_FILE` (read by the platform verifier on Linux) works too;
//! - a missing `as_ca_cert` file stops the KBS at startup, naming the key and the path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::services::{Service, as_signer_root, as_token_broker, grpc_as_sections};
use common::{Kbs, KbsEnv, store_secret, workspace_bins};
use kbs_client::policies;
use serde_json::json;

const PATH: &str = "default/test/tls-as-secret";
const SECRET: &[u8] = b"released through an AS reached over TLS";

fn tls_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/tls")
        .join(name)
}

/// A CA that did not issue `testdata/tls/server.crt`.
fn other_ca() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../verifier/roots/intel/intel_sgx_root_ca.pem")
}

/// The KBS configuration: `https://localhost:<port>`, with `as_ca_cert` when given.
fn kbs_config(env: &KbsEnv, port: u16, ca: Option<&Path>, trusted_root: &Path) -> String {
    let ca = ca.map_or(String::new(), |ca| format!("as_ca_cert = {ca:?}\n"));
    let (token, service) = grpc_as_sections(
        &format!("https://localhost:{port}"),
        &format!("{ca}pool_size = 2\nrequest_timeout_secs = 20\n"),
        trusted_root,
    );
    env.config_with(&token, &service)
}

/// `kbs -c <config>` with extra environment; its URL once it listens, or why it did not.
fn spawn_kbs(config: &Path, envs: &[(&str, &Path)], log: &Path) -> Result<Kbs, String> {
    Kbs::try_spawn(common::config_args(config), envs, log, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kbs_attests_through_grpc_as_serving_tls() {
    let [grpc_as_bin] = workspace_bins(&["attestation-service"], &["grpc-as"])
        .try_into()
        .unwrap();
    let env = KbsEnv::new();
    let dir = env.dir.path().to_owned();

    // grpc-as with TLS; builtin RVPS, tokens signed with an x5c chain
    let as_config = dir.join("as-config.json");
    std::fs::write(
        &as_config,
        json!({"attestation_token_broker": as_token_broker()}).to_string(),
    )
    .unwrap();
    let (cert, key) = (tls_file("server.crt"), tls_file("server.key"));
    let grpc_as = Service::start(
        &grpc_as_bin,
        &[
            "-c",
            as_config.to_str().unwrap(),
            "-s",
            "127.0.0.1:0",
            "-t",
            cert.to_str().unwrap(),
            "-k",
            key.to_str().unwrap(),
        ],
        "grpc-as",
        dir.join("grpc-as.stderr.log"),
    );
    let port = grpc_as.addr.port();
    let root = as_signer_root(&dir);

    // as_ca_cert = the CA that issued the AS certificate
    let ca = tls_file("ca.crt");
    std::fs::write(&env.config_path, kbs_config(&env, port, Some(&ca), &root)).unwrap();
    let kbs = env.start();
    let admin = env.admin_client(&kbs);
    store_secret(&admin, PATH, SECRET, policies::ALLOW_ALL)
        .await
        .unwrap();
    // forwarded to the AS over TLS (SetAttestationPolicy)
    admin
        .set_attestation_policy("default_cpu", "package policy\n")
        .await
        .unwrap_or_else(|e| panic!("{e}\nkbs:\n{}\nas:\n{}", kbs.stderr(), grpc_as.log()));
    let got = kbs
        .guest()
        .get_resource(PATH)
        .await
        .unwrap_or_else(|e| panic!("{e}\nkbs:\n{}\nas:\n{}", kbs.stderr(), grpc_as.log()));
    assert_eq!(got.as_slice(), SECRET);
    kbs.stop();

    // as_ca_cert = a CA that did not issue it: 503 naming the certificate failure
    let other = other_ca();
    std::fs::write(
        &env.config_path,
        kbs_config(&env, port, Some(&other), &root),
    )
    .unwrap();
    let kbs = env.start();
    let err = kbs.guest().get_resource(PATH).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    let problem = err.problem().unwrap();
    assert_eq!(
        problem.variant(),
        Some("AttestationServiceUnavailable"),
        "{err}"
    );
    assert!(
        problem.detail.contains(
            "TLS handshake with localhost failed: invalid peer certificate: UnknownIssuer"
        ),
        "{err}"
    );
    assert!(
        problem
            .detail
            .contains(&format!("checked against as_ca_cert {}", other.display())),
        "{err}"
    );
    kbs.stop();

    // no as_ca_cert: the platform's roots, here only the test CA (SSL_CERT_FILE)
    let platform = dir.join("kbs-platform-roots.toml");
    std::fs::write(&platform, kbs_config(&env, port, None, &root)).unwrap();
    let empty_dir = dir.join("no-cert-dir");
    std::fs::create_dir(&empty_dir).unwrap();
    let platform_kbs = spawn_kbs(
        &platform,
        &[("SSL_CERT_FILE", &ca), ("SSL_CERT_DIR", &empty_dir)],
        &dir.join("kbs-platform.stderr.log"),
    )
    .unwrap_or_else(|stderr| panic!("kbs did not start:\n{stderr}"));
    let got = platform_kbs.guest().get_resource(PATH).await.unwrap();
    assert_eq!(got.as_slice(), SECRET);

    // a CA file that is not there: no KBS, and the reason names the key and the path
    let missing = dir.join("missing-ca.pem");
    let broken = dir.join("kbs-missing-ca.toml");
    std::fs::write(&broken, kbs_config(&env, port, Some(&missing), &root)).unwrap();
    let Err(stderr) = spawn_kbs(&broken, &[], &dir.join("kbs-missing-ca.stderr.log")) else {
        panic!("kbs started with a missing as_ca_cert");
    };
    assert!(
        stderr.contains(&format!("as_ca_cert = {:?}", missing.display().to_string())),
        "{stderr}"
    );
}
