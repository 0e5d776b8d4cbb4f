//! A [`SessionStore`] over a storage namespace (`kbs_protocol_session`), used when
//! `session_storage_type` is set: sessions then live in the configured backend (e.g. LocalFs)
//! and survive a restart.
//!
//! Values are JSON in upstream's externally tagged shape
//! (`{"Authed":{"request","challenge","id","timeout"}}`, `{"Attested":{"token","id","timeout"}}`)
//! plus our `{"Consumed":{"id","timeout"}}`. The nonce is taken with the store's `delete`, which
//! returns the old value atomically: of two concurrent `/attest` calls only one gets it.

use std::sync::Arc;

use async_trait::async_trait;
use kbs_types::{Challenge, Request};
use serde::{Deserialize, Serialize};
use storage::{KeyValueStore, SetMode, SetOutcome};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{AuthedSession, Session, SessionError, SessionId, SessionStore};

/// The storage namespace holding sessions (upstream's name).
pub const SESSION_NAMESPACE: &str = "kbs_protocol_session";

/// Sessions in a key-value namespace, keyed by session id.
pub struct KvSessionStore {
    store: Arc<dyn KeyValueStore>,
}

impl KvSessionStore {
    /// Uses `store` (normally the `kbs_protocol_session` namespace).
    pub fn new(store: Arc<dyn KeyValueStore>) -> Self {
        Self { store }
    }

    async fn load(&self, id: &SessionId) -> Result<Option<Session>, SessionError> {
        let Some(bytes) = self.store.get(id.as_str()).await.map_err(backend)? else {
            return Ok(None);
        };
        decode(&bytes).map(Some)
    }

    async fn save(
        &self,
        id: &SessionId,
        session: &Session,
        mode: SetMode,
    ) -> Result<SetOutcome, SessionError> {
        let bytes = encode(id, session)?;
        self.store
            .set(id.as_str(), &bytes, mode)
            .await
            .map_err(backend)
    }
}

#[async_trait]
impl SessionStore for KvSessionStore {
    async fn create(
        &self,
        request: Request,
        nonce: String,
        expiry: OffsetDateTime,
    ) -> Result<SessionId, SessionError> {
        let id = SessionId::random();
        let session = Session::Authed {
            request,
            nonce,
            expiry,
        };
        match self.save(&id, &session, SetMode::IfAbsent).await? {
            SetOutcome::Inserted => Ok(id),
            // 122 random bits collided: refuse rather than overwrite someone's session.
            SetOutcome::AlreadyExists => Err(SessionError::Backend {
                reason: "session id collision".into(),
            }),
        }
    }

    async fn get(
        &self,
        id: &SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, SessionError> {
        match self.load(id).await? {
            Some(session) if session.is_live(now) => Ok(Some(session)),
            Some(_) => {
                self.store.delete(id.as_str()).await.map_err(backend)?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn begin_attest(
        &self,
        id: &SessionId,
        now: OffsetDateTime,
    ) -> Result<AuthedSession, SessionError> {
        let taken = self.store.delete(id.as_str()).await.map_err(backend)?;
        let session = match taken {
            Some(bytes) => decode(&bytes)?,
            None => return Err(SessionError::NotFound),
        };
        if !session.is_live(now) {
            return Err(SessionError::NotFound);
        }
        match session {
            Session::Authed {
                request,
                nonce,
                expiry,
            } => {
                self.save(id, &Session::Consumed { expiry }, SetMode::Overwrite)
                    .await?;
                Ok(AuthedSession {
                    request,
                    nonce,
                    expiry,
                })
            }
            other => {
                // Put a used session back as it was (an earned token stays usable).
                self.save(id, &other, SetMode::IfAbsent).await?;
                Err(SessionError::NonceAlreadyUsed)
            }
        }
    }

    async fn complete_attest(
        &self,
        id: &SessionId,
        token: String,
        now: OffsetDateTime,
    ) -> Result<(), SessionError> {
        match self.get(id, now).await? {
            Some(Session::Consumed { expiry }) => {
                self.save(id, &Session::Attested { token, expiry }, SetMode::Overwrite)
                    .await?;
                Ok(())
            }
            Some(_) => Err(SessionError::NotAuthed),
            None => Err(SessionError::NotFound),
        }
    }

    async fn insert(&self, id: SessionId, session: Session) -> Result<(), SessionError> {
        self.save(&id, &session, SetMode::Overwrite)
            .await
            .map(|_| ())
    }

    async fn sweep(&self, now: OffsetDateTime) -> Result<usize, SessionError> {
        let mut removed = 0;
        for key in self.store.list().await.map_err(backend)? {
            let Ok(id) = key.parse::<SessionId>() else {
                continue;
            };
            let expired = match self.load(&id).await {
                Ok(Some(session)) => !session.is_live(now),
                Ok(None) => false,
                // An unreadable record can never be used; clear it.
                Err(_) => true,
            };
            if expired && self.store.delete(&key).await.map_err(backend)?.is_some() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn backend(e: storage::Error) -> SessionError {
    SessionError::Backend {
        reason: e.to_string(),
    }
}

/// The stored form.
#[derive(Serialize, Deserialize)]
enum Record {
    Authed {
        request: Request,
        challenge: Challenge,
        id: String,
        timeout: String,
    },
    Consumed {
        id: String,
        timeout: String,
    },
    Attested {
        token: String,
        id: String,
        timeout: String,
    },
}

fn encode(id: &SessionId, session: &Session) -> Result<Vec<u8>, SessionError> {
    let timeout = session
        .expiry()
        .format(&Rfc3339)
        .map_err(|e| SessionError::Backend {
            reason: e.to_string(),
        })?;
    let id = id.to_string();
    let record = match session.clone() {
        Session::Authed { request, nonce, .. } => Record::Authed {
            request,
            challenge: Challenge {
                nonce,
                extra_params: serde_json::Value::String(String::new()),
            },
            id,
            timeout,
        },
        Session::Consumed { .. } => Record::Consumed { id, timeout },
        Session::Attested { token, .. } => Record::Attested { token, id, timeout },
    };
    serde_json::to_vec(&record).map_err(|e| SessionError::Backend {
        reason: e.to_string(),
    })
}

fn decode(bytes: &[u8]) -> Result<Session, SessionError> {
    let malformed = |reason: String| SessionError::Backend {
        reason: format!("stored session is malformed: {reason}"),
    };
    let record: Record = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    let parse = |t: &str| OffsetDateTime::parse(t, &Rfc3339).map_err(|e| malformed(e.to_string()));
    Ok(match record {
        Record::Authed {
            request,
            challenge,
            timeout,
            ..
        } => Session::Authed {
            request,
            nonce: challenge.nonce,
            expiry: parse(&timeout)?,
        },
        Record::Consumed { timeout, .. } => Session::Consumed {
            expiry: parse(&timeout)?,
        },
        Record::Attested { token, timeout, .. } => Session::Attested {
            token,
            expiry: parse(&timeout)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use storage::memory::MemoryStore;
    use time::Duration as TimeDuration;

    use super::*;

    use crate::session::conformance::{request, t0};

    fn store() -> (Arc<MemoryStore>, KvSessionStore) {
        let raw = Arc::new(MemoryStore::new());
        (raw.clone(), KvSessionStore::new(raw))
    }

    #[tokio::test]
    async fn kv_store_meets_the_session_store_contract() {
        crate::session::conformance::run(|| store().1).await;
    }

    #[tokio::test]
    async fn records_use_the_upstream_shape() {
        let (raw, store) = store();
        let id = store
            .create(request(), "n".into(), t0() + TimeDuration::minutes(5))
            .await
            .unwrap();
        let value: serde_json::Value =
            serde_json::from_slice(&raw.get(id.as_str()).await.unwrap().unwrap()).unwrap();
        assert_eq!(
            value["Authed"]["challenge"],
            json!({"nonce": "n", "extra-params": ""})
        );
        assert_eq!(value["Authed"]["id"], json!(id.to_string()));
        assert_eq!(value["Authed"]["request"]["tee"], json!("sample"));
        assert_eq!(value["Authed"]["timeout"], json!("2027-01-15T08:05:00Z"));
    }

    #[tokio::test]
    async fn expired_sessions_are_invisible_and_swept() {
        let (raw, store) = store();
        let old = store.create(request(), "a".into(), t0()).await.unwrap();
        let live = store
            .create(request(), "b".into(), t0() + TimeDuration::minutes(5))
            .await
            .unwrap();
        assert!(store.get(&old, t0()).await.unwrap().is_none());
        assert!(raw.get(old.as_str()).await.unwrap().is_none());
        store.create(request(), "c".into(), t0()).await.unwrap();
        raw.set(
            "0123456789abcdef0123456789abcdef",
            b"garbage",
            SetMode::Overwrite,
        )
        .await
        .unwrap();
        assert_eq!(store.sweep(t0()).await.unwrap(), 2);
        assert!(store.get(&live, t0()).await.unwrap().is_some());
        assert_eq!(
            store.begin_attest(&old, t0()).await.unwrap_err(),
            SessionError::NotFound
        );
    }

    #[tokio::test]
    async fn sessions_survive_a_new_store_over_the_same_namespace() {
        let (raw, store) = store();
        let id = store
            .create(request(), "n".into(), t0() + TimeDuration::minutes(5))
            .await
            .unwrap();
        let reopened = KvSessionStore::new(raw);
        assert!(matches!(
            reopened.get(&id, t0()).await.unwrap(),
            Some(Session::Authed { .. })
        ));
    }
}
