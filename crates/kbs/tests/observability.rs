//! `/healthz` and `/metrics` of the running binary reflect the flows it served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{KbsEnv, raw, seed};

const PATH: &str = "default/test/secret";

/// The value of the first sample line starting with `name` (e.g. `kbs_auth_requests_total`).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

#[tokio::test]
async fn health_and_metrics_reflect_the_served_flows() {
    let env = KbsEnv::new();
    let kbs = env.start();
    let health = raw(kbs.addr, "GET", "/healthz", &[], b"").await;
    assert_eq!(health.status, 200);
    assert!(health.body.is_empty());

    seed(&env, &kbs, PATH, b"metrics secret").await;
    kbs.guest().get_resource(PATH).await.unwrap();
    let err = kbs
        .guest()
        .get_resource("default/test/absent")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));

    let answer = raw(kbs.addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(answer.status, 200);
    let text = answer.text();
    assert!(metric(&text, "kbs_auth_requests_total") >= 2.0);
    assert!(metric(&text, "kbs_auth_successes_total") >= 2.0);
    assert!(metric(&text, "kbs_attestation_successes_total") >= 2.0);
    assert!(metric(&text, "kbs_policy_approvals_total") >= 1.0);
    assert!(metric(&text, "kbs_resource_reads_total") >= 1.0);
    assert!(metric(&text, "kbs_http_requests_total") >= 6.0);
    // metrics never carry secrets or tokens
    assert!(!text.contains("metrics secret"));

    let post = raw(kbs.addr, "POST", "/metrics", &[], b"").await;
    assert_eq!(post.status, 405);
}
