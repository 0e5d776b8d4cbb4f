//! Micro-benchmarks of the in-memory session store on the request path: `/auth` creates a
//! session, `/attest` takes its nonce and stores the token, every cookie GET looks the token
//! up.
//!
//! `cargo bench -p kbs --bench session`; see `docs/benchmarks.md`.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kbs::session::{MemorySessionStore, SessionStore};
use kbs_types::{Request, Tee};
use time::{Duration, OffsetDateTime};

fn request() -> Request {
    Request {
        version: "0.4.0".to_owned(),
        tee: Tee::Sample,
        extra_params: serde_json::json!({}),
    }
}

/// An EAR token of the usual size (~1.5 KB), as stored in an attested session.
fn token() -> String {
    "e".repeat(1500)
}

fn sessions(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let expiry = now + Duration::minutes(5);
    let nonce = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=".to_owned();

    let mut group = c.benchmark_group("session");
    // A store already holding 10,000 attested sessions, as in the memory measurement.
    let store = MemorySessionStore::new();
    let mut ids = Vec::new();
    runtime.block_on(async {
        for _ in 0..10_000 {
            let id = store
                .create(request(), nonce.clone(), expiry)
                .await
                .unwrap();
            store.begin_attest(&id, now).await.unwrap();
            store.complete_attest(&id, token(), now).await.unwrap();
            ids.push(id);
        }
    });
    group.bench_function("create (auth)", |b| {
        b.iter(|| {
            runtime
                .block_on(store.create(request(), black_box(nonce.clone()), expiry))
                .unwrap()
        })
    });
    group.bench_function("begin + complete attest", |b| {
        b.iter_batched(
            || {
                runtime
                    .block_on(store.create(request(), nonce.clone(), expiry))
                    .unwrap()
            },
            |id| {
                runtime.block_on(async {
                    store.begin_attest(&id, now).await.unwrap();
                    store.complete_attest(&id, token(), now).await.unwrap();
                })
            },
            criterion::BatchSize::SmallInput,
        )
    });
    let mut i = 0;
    group.bench_function("attested_token lookup (cookie GET)", |b| {
        b.iter(|| {
            i = (i + 1) % ids.len();
            runtime
                .block_on(store.attested_token(black_box(&ids[i]), now))
                .unwrap()
        })
    });
    group.bench_function("parse session id", |b| {
        let text = ids[0].to_string();
        b.iter(|| black_box(&text).parse::<kbs::session::SessionId>().unwrap())
    });
    group.finish();
}

criterion_group!(benches, sessions);
criterion_main!(benches);
