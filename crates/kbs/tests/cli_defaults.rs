//! The embedded defaults (no config file) driven by the real `kbs-client` binary: the admin key
//! the KBS generates on first start is all the owner needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Output;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Kbs, kbs_client_bin, run_cli, secret_bytes, stdout_ok};
use kbs_client::jose::TeeKeyPair;

/// `kbs-client args`, without the test's `RUST_LOG` (so stderr holds only the CLI's message).
fn run(bin: &Path, args: &[&str]) -> Output {
    run_cli(bin, args, &[("RUST_LOG", None)])
}

/// `kbs-client --url <url> config --auth-private-key <key> <rest>`.
fn cli_admin(bin: &Path, url: &str, key: &str, rest: &[&str]) -> Output {
    let mut args = vec!["--url", url, "config", "--auth-private-key", key];
    args.extend_from_slice(rest);
    run(bin, &args)
}

/// `kbs-client --url <url> get-resource --path <path> <rest>`.
fn get_resource(bin: &Path, url: &str, path: &str, rest: &[&str]) -> Output {
    let mut args = vec!["--url", url, "get-resource", "--path", path];
    args.extend_from_slice(rest);
    run(bin, &args)
}

fn start_defaults(data_dir: &Path, log: &Path) -> Kbs {
    Kbs::spawn(
        vec![
            "--data-dir".into(),
            data_dir.into(),
            "--socket".into(),
            "127.0.0.1:0".into(),
        ],
        log,
        true,
    )
}

#[tokio::test]
async fn embedded_defaults_with_the_cli() {
    let bin = kbs_client_bin();
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let kbs = start_defaults(&data_dir, &work.path().join("kbs-1.stderr.log"));
    let key_path = kbs.admin_key_path.clone().expect("admin private key line");
    assert!(key_path.starts_with(&data_dir), "{}", key_path.display());
    let key_pem = std::fs::read(&key_path).unwrap();
    let key = key_path.to_str().unwrap();
    let url = kbs.url.clone();

    let secret = secret_bytes(64);
    let secret_file = work.path().join("secret.bin");
    std::fs::write(&secret_file, &secret).unwrap();
    let out = stdout_ok(&cli_admin(
        &bin,
        &url,
        key,
        &[
            "set-resource",
            "--path",
            "default/demo/secret",
            "--resource-file",
            secret_file.to_str().unwrap(),
        ],
    ));
    assert!(!out.contains(&STANDARD.encode(&secret)), "secret echoed");

    // the embedded default policy refuses the sample TEE
    let refused = get_resource(&bin, &url, "default/demo/secret", &[]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("PolicyDeny"), "{err}");

    stdout_ok(&cli_admin(
        &bin,
        &url,
        key,
        &["set-resource-policy", "--allow-all"],
    ));
    let out = stdout_ok(&get_resource(&bin, &url, "default/demo/secret", &[]));
    assert_eq!(STANDARD.decode(out.trim()).unwrap(), secret);

    // passport style: attest with an RSA key, then read with the token and the same key
    let tee_key = work.path().join("tee.key");
    std::fs::write(
        &tee_key,
        TeeKeyPair::generate_rsa(2048)
            .unwrap()
            .to_pem()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let tee_key = tee_key.to_str().unwrap();
    let token = stdout_ok(&run(
        &bin,
        &["--url", &url, "attest", "--tee-key-file", tee_key],
    ));
    let token_file = work.path().join("token");
    std::fs::write(&token_file, token.trim()).unwrap();
    let out = stdout_ok(&get_resource(
        &bin,
        &url,
        "default/demo/secret",
        &[
            "--attestation-token",
            token_file.to_str().unwrap(),
            "--tee-key-file",
            tee_key,
        ],
    ));
    assert_eq!(STANDARD.decode(out.trim()).unwrap(), secret);

    // a restart keeps the admin key (not regenerated) and the data
    kbs.stop();
    let kbs = start_defaults(&data_dir, &work.path().join("kbs-2.stderr.log"));
    assert_eq!(kbs.admin_key_path.as_deref(), Some(key_path.as_path()));
    assert_eq!(std::fs::read(&key_path).unwrap(), key_pem);
    let out = stdout_ok(&get_resource(&bin, &kbs.url, "default/demo/secret", &[]));
    assert_eq!(STANDARD.decode(out.trim()).unwrap(), secret);

    // a key the KBS did not generate is refused
    let stranger = work.path().join("stranger.key");
    std::fs::write(
        &stranger,
        kbs_client::jose::SigningKey::generate_ed25519()
            .unwrap()
            .to_pem()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let refused = cli_admin(
        &bin,
        &kbs.url,
        stranger.to_str().unwrap(),
        &["set-resource-policy", "--deny-all"],
    );
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("Cannot verify token"), "{err}");
}

#[tokio::test]
async fn cli_admin_commands_against_a_configured_kbs() {
    let bin = kbs_client_bin();
    let env = common::KbsEnv::new();
    let kbs = env.start();
    let key = env.dir.path().join("admin.key");
    std::fs::write(&key, env.admin_key.to_pem().unwrap().as_bytes()).unwrap();
    let policy = env.dir.path().join("as.rego");
    std::fs::write(
        &policy,
        "package policy\nimport rego.v1\n\ndefault executables := 33\n",
    )
    .unwrap();
    let secret = env.dir.path().join("secret");
    std::fs::write(&secret, b"cli admin secret").unwrap();
    let key = key.to_str().unwrap();
    let admin = |rest: &[&str]| {
        let mut all = vec![
            "--admin-issuer",
            common::ADMIN_ISSUER,
            "--admin-audience",
            common::ADMIN_AUDIENCE,
        ];
        all.extend_from_slice(rest);
        cli_admin(&bin, &kbs.url, key, &all)
    };

    stdout_ok(&admin(&[
        "set-resource",
        "--path",
        "a/b/c",
        "--resource-file",
        secret.to_str().unwrap(),
    ]));
    stdout_ok(&admin(&["set-resource-policy", "--allow-all"]));
    assert_eq!(
        stdout_ok(&admin(&["get-resource-policy"])).trim(),
        r#"["resource-policy"]"#
    );
    let out = stdout_ok(&get_resource(&bin, &kbs.url, "a/b/c", &[]));
    assert_eq!(STANDARD.decode(out.trim()).unwrap(), b"cli admin secret");

    stdout_ok(&admin(&[
        "set-attestation-policy",
        "--id",
        "cli_policy",
        "--policy-file",
        policy.to_str().unwrap(),
    ]));
    assert!(stdout_ok(&admin(&["list-attestation-policies"])).contains("\"cli_policy\""));
    assert_eq!(
        stdout_ok(&admin(&["get-attestation-policy", "--id", "cli_policy"])),
        std::fs::read_to_string(&policy).unwrap()
    );
    stdout_ok(&admin(&["delete-attestation-policy", "--id", "cli_policy"]));
    assert!(
        !admin(&["get-attestation-policy", "--id", "cli_policy"])
            .status
            .success()
    );

    stdout_ok(&admin(&["set-sample-reference-value", "svn", "1"]));
    stdout_ok(&admin(&[
        "set-sample-reference-value",
        "major_version",
        "1",
        "--as-integer",
        "--as-single-value",
    ]));
    assert_eq!(
        stdout_ok(&admin(&["get-reference-value", "--id", "svn"])).trim(),
        r#"["1"]"#
    );
    assert_eq!(
        stdout_ok(&admin(&["get-reference-value", "--id", "major_version"])).trim(),
        "1"
    );

    stdout_ok(&admin(&["delete-resource", "--path", "a/b/c"]));
    let gone = get_resource(&bin, &kbs.url, "a/b/c", &[]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("HTTP 404"));

    // without issuer and audience flags the configured KBS refuses the minted token
    let refused = cli_admin(&bin, &kbs.url, key, &["set-resource-policy", "--deny-all"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("AdminAuthAccess"));
}
