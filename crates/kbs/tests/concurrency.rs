//! Many guests at once: 200 concurrent auth → attest → get flows, each with its own key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{KbsEnv, seed};

const FLOWS: usize = 200;
const PATH: &str = "default/test/secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_flows_all_succeed() {
    let env = KbsEnv::new();
    let kbs = env.start();
    seed(&env, &kbs, PATH, b"concurrent secret").await;

    let mut tasks = Vec::with_capacity(FLOWS);
    for _ in 0..FLOWS {
        // one client (own TEE key, own session) per guest
        let guest = kbs.guest();
        tasks.push(tokio::spawn(async move {
            guest.get_resource(PATH).await.map(|s| s.to_vec())
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(secret) => assert_eq!(secret, b"concurrent secret"),
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {FLOWS} flows failed, first: {:?}\nkbs stderr tail:\n{}",
        failures.len(),
        failures.first(),
        kbs.stderr()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
