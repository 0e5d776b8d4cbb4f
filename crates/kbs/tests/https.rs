//! The KBS over HTTPS (`testdata/tls`): the SDK and the CLI (`--cert-file`) trust the test CA;
//! without it the connection is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{KbsEnv, kbs_client_bin, run_cli, seed, stdout_ok};
use kbs_client::{ClientError, KbsClient};

const PATH: &str = "default/test/secret";

#[tokio::test]
async fn the_full_flow_works_over_https_with_the_ca_trusted() {
    let env = KbsEnv::https();
    let kbs = env.start();
    assert!(kbs.url.starts_with("https://127.0.0.1:"), "{}", kbs.url);
    seed(&env, &kbs, PATH, b"tls secret").await;
    let got = kbs.guest().get_resource(PATH).await.unwrap();
    assert_eq!(got.as_slice(), b"tls secret");
}

#[tokio::test]
async fn a_client_without_the_ca_is_refused_before_sending_anything() {
    let env = KbsEnv::https();
    let kbs = env.start();
    let untrusting = KbsClient::builder(&kbs.url).no_proxy().build().unwrap();
    let err = untrusting.attest().await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    // the plain-HTTP scheme against the TLS port does not work either
    let plain = KbsClient::builder(kbs.url.replace("https://", "http://"))
        .no_proxy()
        .build()
        .unwrap();
    assert!(plain.attest().await.is_err());
}

#[tokio::test]
async fn the_cli_trusts_the_cert_file() {
    let bin = kbs_client_bin();
    let env = KbsEnv::https();
    let kbs = env.start();
    seed(&env, &kbs, PATH, b"cli tls secret").await;
    let ca = env.dir.path().join("ca.crt");
    std::fs::write(&ca, common::test_ca_pem()).unwrap();
    let run = |with_cert: bool| {
        let mut args = vec!["--url", &kbs.url];
        if with_cert {
            args.extend(["--cert-file", ca.to_str().unwrap()]);
        }
        args.extend(["get-resource", "--path", PATH]);
        run_cli(&bin, &args, &[("RUST_LOG", None)])
    };
    let printed = stdout_ok(&run(true));
    assert_eq!(STANDARD.decode(printed.trim()).unwrap(), b"cli tls secret");
    let out = run(false);
    assert!(!out.status.success());
}
