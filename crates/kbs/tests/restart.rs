//! Secrets and policies live in the LocalFs store and survive a restart of `kbs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{KbsEnv, assert_policy_denies, secret_bytes, set_svn, store_secret};
use kbs_client::{ClientError, policies};
use serde_json::json;

const PATH: &str = "default/test/secret";
const AS_POLICY: &str = "package policy\nimport rego.v1\n\ndefault allow := true\n";

#[tokio::test]
async fn secrets_and_policies_survive_a_restart() {
    let env = KbsEnv::new();
    let secret = secret_bytes(300);
    {
        let kbs = env.start();
        let admin = env.admin_client(&kbs);
        store_secret(&admin, PATH, &secret, policies::ALLOW_ALL)
            .await
            .unwrap();
        admin
            .set_resource("default/test/deleted", b"gone")
            .await
            .unwrap();
        admin.delete_resource("default/test/deleted").await.unwrap();
        admin
            .set_attestation_policy("e2e_policy", AS_POLICY)
            .await
            .unwrap();
        set_svn(&admin, &["1"]).await;
        assert_eq!(
            kbs.guest().get_resource(PATH).await.unwrap().as_slice(),
            secret.as_slice()
        );
        kbs.stop();
    }

    let kbs = env.start();
    // the allow-all policy persisted: the sample TEE is not refused by the default policy
    let got = kbs
        .guest()
        .get_resource(PATH)
        .await
        .unwrap_or_else(|e| panic!("read after restart failed: {e}\n{}", kbs.stderr()));
    assert_eq!(got.as_slice(), secret.as_slice());
    let err = kbs
        .guest()
        .get_resource("default/test/deleted")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::NotFound(_)), "{err:?}");

    let admin = env.admin_client(&kbs);
    assert_eq!(
        admin.get_attestation_policy("e2e_policy").await.unwrap(),
        AS_POLICY
    );
    assert!(
        admin
            .list_attestation_policies()
            .await
            .unwrap()
            .contains(&"e2e_policy".to_owned())
    );
    assert_eq!(
        admin.query_reference_value("svn").await.unwrap(),
        json!(["1"])
    );

    // and the deny-all that replaces it persists too
    admin.set_resource_policy(policies::DENY_ALL).await.unwrap();
    kbs.stop();
    let kbs = env.start();
    assert_policy_denies(&kbs.guest(), PATH).await;
}
