#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Appraisals that read reference values from file-backed storage, far more of them at once
//! than the runtime has blocking threads: each evaluation holds a blocking thread while its
//! `query_reference_value` waits for a storage read that needs one too.

mod common;

use std::sync::Arc;
use std::time::Duration;

use attestation_service::{AsConfig, AttestationService, policy_evaluation_slots};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use serde_json::json;
use storage::{StorageConfig, StorageProvider};

const POLICY: &str = r#"package policy

import rego.v1

default hardware := 97

hardware := 2 if input.sample.svn in query_reference_value("svn")

trust_claims := {"hardware": hardware}
"#;

#[test]
fn a_burst_of_appraisals_reading_reference_values_cannot_starve_the_reads() {
    let slots = policy_evaluation_slots();
    // As the KBS sizes its pool: every evaluation slot, plus room for the reads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(slots + 1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let storage: StorageConfig = serde_json::from_value(json!({
            "storage_type": "LocalFs",
            "backends": {"local_fs": {"dir_path": dir.path()}}
        }))
        .unwrap();
        let storage = StorageProvider::new(&storage).unwrap();
        let service = AttestationService::new(AsConfig::default(), &storage)
            .await
            .unwrap()
            .with_clock(pinned_clock());
        service
            .set_policy("default_cpu", &URL_SAFE_NO_PAD.encode(POLICY))
            .await
            .unwrap();
        service
            .register_reference_value(&sample_message(json!({"svn": ["1"]})))
            .await
            .unwrap();
        let service = Arc::new(service);

        let appraisals: Vec<_> = (0..slots * 16)
            .map(|_| {
                let service = Arc::clone(&service);
                tokio::spawn(async move {
                    service
                        .evaluate(vec![sample_request(runtime_data(""))], &default_policy())
                        .await
                })
            })
            .collect();
        // Starved reads would each wait for the RVPS query timeout (10 s) and then fail.
        let all = tokio::time::timeout(Duration::from_secs(8), async {
            let mut tokens = Vec::new();
            for appraisal in appraisals {
                tokens.push(appraisal.await.unwrap().unwrap());
            }
            tokens
        })
        .await
        .expect("appraisals stalled waiting for blocking threads");
        for token in all {
            let cpu0 = &payload(&token)["submods"]["cpu0"];
            assert_eq!(cpu0["ear.trustworthiness-vector"], json!({"hardware": 2}));
        }
    });
}
