//! Behaviour every [`SessionStore`] must have, run against each implementation.

use std::sync::Arc;

use kbs_types::{Request, Tee};
use time::{Duration, OffsetDateTime};

use super::{Session, SessionError, SessionStore};

pub(super) fn request() -> Request {
    Request {
        version: "0.4.0".into(),
        tee: Tee::Sample,
        extra_params: serde_json::Value::Null,
    }
}

pub(super) fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

/// Runs every check below on fresh stores made by `new_store`.
pub(super) async fn run<S: SessionStore + 'static>(new_store: impl Fn() -> S) {
    create_then_get_round_trips(&new_store()).await;
    nonce_is_taken_exactly_once(&new_store()).await;
    concurrent_attests_get_the_nonce_once(Arc::new(new_store())).await;
    attested_keeps_the_auth_expiry(&new_store()).await;
    expired_sessions_are_invisible(&new_store()).await;
}

async fn create_then_get_round_trips(store: &dyn SessionStore) {
    let id = store
        .create(request(), "n".into(), t0() + Duration::minutes(5))
        .await
        .unwrap();
    let got = store.get(&id, t0()).await.unwrap();
    assert!(matches!(got, Some(Session::Authed { ref nonce, .. }) if nonce == "n"));
}

async fn nonce_is_taken_exactly_once(store: &dyn SessionStore) {
    let id = store
        .create(request(), "n".into(), t0() + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(store.begin_attest(&id, t0()).await.unwrap().nonce, "n");
    assert_eq!(
        store.begin_attest(&id, t0()).await.unwrap_err(),
        SessionError::NonceAlreadyUsed
    );
    store
        .complete_attest(&id, "tok".into(), t0())
        .await
        .unwrap();
    assert_eq!(
        store.begin_attest(&id, t0()).await.unwrap_err(),
        SessionError::NonceAlreadyUsed
    );
    // The refused second attempt leaves the earned token in place.
    assert_eq!(
        store.attested_token(&id, t0()).await.unwrap().as_deref(),
        Some("tok")
    );
}

async fn concurrent_attests_get_the_nonce_once<S: SessionStore + 'static>(store: Arc<S>) {
    let id = store
        .create(request(), "n".into(), t0() + Duration::minutes(5))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, id) = (store.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            store.begin_attest(&id, t0()).await.is_ok()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1);
}

async fn attested_keeps_the_auth_expiry(store: &dyn SessionStore) {
    let expiry = t0() + Duration::minutes(5);
    let id = store.create(request(), "n".into(), expiry).await.unwrap();
    store.begin_attest(&id, t0()).await.unwrap();
    store
        .complete_attest(&id, "tok".into(), t0() + Duration::minutes(1))
        .await
        .unwrap();
    let session = store.get(&id, t0()).await.unwrap().unwrap();
    assert_eq!(session.expiry(), expiry);
    assert!(store.attested_token(&id, expiry).await.unwrap().is_none());
}

async fn expired_sessions_are_invisible(store: &dyn SessionStore) {
    let id = store.create(request(), "n".into(), t0()).await.unwrap();
    assert!(store.get(&id, t0()).await.unwrap().is_none());
    assert_eq!(
        store.begin_attest(&id, t0()).await.unwrap_err(),
        SessionError::NotFound
    );
}
