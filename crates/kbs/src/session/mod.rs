//! RCAR sessions (spec §3.5): created by `/auth`, consumed by `/attest`, then used as the
//! source of the attestation token for cookie clients.
//!
//! A session moves `Authed` → `Consumed` → `Attested`. The nonce of an `Authed` session is taken
//! exactly once ([`SessionStore::begin_attest`]); whatever the outcome of that attestation, a
//! second `/attest` on the same session is refused, so a nonce can never be replayed against a
//! second piece of evidence. Upstream returns the cached token instead; its clients never send
//! `/attest` twice on one session, so the stricter rule is invisible to them.
//!
//! Expired sessions are invisible: every lookup checks the expiry against the `now` it is given
//! and deletes what has expired; [`spawn_sweeper`] removes the ones nobody asks for.

#[cfg(test)]
mod conformance;
mod kv;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use kbs_types::Request;
use time::OffsetDateTime;

pub use kv::{KvSessionStore, SESSION_NAMESPACE};

/// How often [`spawn_sweeper`] scans for expired sessions.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Name of the session cookie (spec §0).
pub const COOKIE_NAME: &str = "kbs-session-id";

/// A session id: a UUIDv4 in "simple" form, 32 lowercase hex characters (spec §0).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The id as sent in the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SessionId {
    type Err = InvalidSessionId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let well_formed =
            s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if well_formed {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidSessionId)
        }
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

/// A cookie value that is not 32 lowercase hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("session id is not 32 lowercase hex characters")]
pub struct InvalidSessionId;

/// A session as stored.
#[derive(Clone)]
pub enum Session {
    /// `/auth` answered; waiting for `/attest`.
    Authed {
        /// The client's `/auth` request (its `tee` decides how evidence is verified).
        request: Request,
        /// The challenge nonce the evidence must be bound to.
        nonce: String,
        /// When the session stops existing.
        expiry: OffsetDateTime,
    },
    /// `/attest` took the nonce and either is still verifying or failed.
    Consumed {
        /// When the session stops existing.
        expiry: OffsetDateTime,
    },
    /// Attestation succeeded; the token serves later resource requests.
    Attested {
        /// The attestation token issued for this session.
        token: String,
        /// When the session stops existing (not extended by `/attest`, spec §3.5).
        expiry: OffsetDateTime,
    },
}

impl Session {
    /// When the session stops existing.
    pub fn expiry(&self) -> OffsetDateTime {
        match self {
            Self::Authed { expiry, .. }
            | Self::Consumed { expiry }
            | Self::Attested { expiry, .. } => *expiry,
        }
    }

    fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.expiry()
    }
}

// Tokens and nonces stay out of logs even when a session is debug-printed.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Authed {
                request, expiry, ..
            } => f
                .debug_struct("Authed")
                .field("tee", &request.tee)
                .field("expiry", expiry)
                .finish_non_exhaustive(),
            Self::Consumed { expiry } => {
                f.debug_struct("Consumed").field("expiry", expiry).finish()
            }
            Self::Attested { expiry, .. } => f
                .debug_struct("Attested")
                .field("expiry", expiry)
                .finish_non_exhaustive(),
        }
    }
}

/// What `/attest` needs from an `Authed` session whose nonce it has just taken.
#[derive(Clone)]
pub struct AuthedSession {
    /// The client's `/auth` request.
    pub request: Request,
    /// The challenge nonce.
    pub nonce: String,
    /// When the session stops existing.
    pub expiry: OffsetDateTime,
}

impl fmt::Debug for AuthedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthedSession")
            .field("tee", &self.request.tee)
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

/// Why a session could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// No live session with this id (never created, expired or deleted).
    #[error("session not found or expired")]
    NotFound,
    /// `/attest` was already called on this session.
    #[error("the session's nonce was already used; start again with /kbs/v0/auth")]
    NonceAlreadyUsed,
    /// The session is not in the state the operation needs.
    #[error("session is not awaiting attestation")]
    NotAuthed,
    /// A shared backend failed.
    #[error("session store failed: {reason}")]
    Backend {
        /// What went wrong, without session contents.
        reason: String,
    },
}

/// Where sessions live. Every call takes `now` so that expiry is decided by the caller's clock;
/// a shared backend (several KBS replicas) can implement this trait later.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new `Authed` session under a fresh id.
    async fn create(
        &self,
        request: Request,
        nonce: String,
        expiry: OffsetDateTime,
    ) -> Result<SessionId, SessionError>;

    /// The live session with this id, if any.
    async fn get(
        &self,
        id: &SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, SessionError>;

    /// Atomically takes the nonce of an `Authed` session, leaving it `Consumed`.
    async fn begin_attest(
        &self,
        id: &SessionId,
        now: OffsetDateTime,
    ) -> Result<AuthedSession, SessionError>;

    /// Marks a `Consumed` session `Attested` with `token`, keeping its expiry.
    async fn complete_attest(
        &self,
        id: &SessionId,
        token: String,
        now: OffsetDateTime,
    ) -> Result<(), SessionError>;

    /// The token of a live `Attested` session, if any.
    async fn attested_token(
        &self,
        id: &SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<String>, SessionError> {
        Ok(match self.get(id, now).await? {
            Some(Session::Attested { token, .. }) => Some(token),
            _ => None,
        })
    }

    /// Test-and-operations hook: stores `session` under `id` as is.
    async fn insert(&self, id: SessionId, session: Session) -> Result<(), SessionError>;

    /// Deletes every expired session; returns how many were removed.
    async fn sweep(&self, now: OffsetDateTime) -> Result<usize, SessionError>;
}

const SHARDS: usize = 16;

/// In-memory [`SessionStore`]: sessions are split over independently locked shards so that
/// concurrent clients rarely wait on each other.
pub struct MemorySessionStore {
    shards: Vec<Mutex<HashMap<SessionId, Session>>>,
    hasher: RandomState,
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, id: &SessionId) -> MutexGuard<'_, HashMap<SessionId, Session>> {
        // usize -> u64 is lossless on every supported target; the modulo keeps it in range.
        let index = (self.hasher.hash_one(id) % SHARDS as u64) as usize;
        let shard = &self.shards[index];
        // A panic while holding a shard lock cannot leave a half-written session (every
        // mutation is a single map operation), so a poisoned lock is safe to keep using.
        shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Number of stored sessions, live or not yet swept.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    /// Whether no session is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Looks `id` up in a locked shard, deleting it when it has expired.
fn live_entry<'a>(
    shard: &'a mut HashMap<SessionId, Session>,
    id: &SessionId,
    now: OffsetDateTime,
) -> Option<std::collections::hash_map::OccupiedEntry<'a, SessionId, Session>> {
    match shard.entry(id.clone()) {
        Entry::Occupied(entry) if entry.get().is_live(now) => Some(entry),
        Entry::Occupied(entry) => {
            entry.remove();
            None
        }
        Entry::Vacant(_) => None,
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn create(
        &self,
        request: Request,
        nonce: String,
        expiry: OffsetDateTime,
    ) -> Result<SessionId, SessionError> {
        let id = SessionId::random();
        self.shard(&id).insert(
            id.clone(),
            Session::Authed {
                request,
                nonce,
                expiry,
            },
        );
        Ok(id)
    }

    async fn get(
        &self,
        id: &SessionId,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, SessionError> {
        let mut shard = self.shard(id);
        Ok(live_entry(&mut shard, id, now).map(|entry| entry.get().clone()))
    }

    async fn begin_attest(
        &self,
        id: &SessionId,
        now: OffsetDateTime,
    ) -> Result<AuthedSession, SessionError> {
        let mut shard = self.shard(id);
        let mut entry = live_entry(&mut shard, id, now).ok_or(SessionError::NotFound)?;
        let expiry = entry.get().expiry();
        match std::mem::replace(entry.get_mut(), Session::Consumed { expiry }) {
            Session::Authed {
                request,
                nonce,
                expiry,
            } => Ok(AuthedSession {
                request,
                nonce,
                expiry,
            }),
            previous => {
                // Put an `Attested` session back: a refused second `/attest` must not destroy
                // the token the first one earned.
                *entry.get_mut() = previous;
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
        let mut shard = self.shard(id);
        let mut entry = live_entry(&mut shard, id, now).ok_or(SessionError::NotFound)?;
        match entry.get() {
            Session::Consumed { expiry } => {
                let expiry = *expiry;
                *entry.get_mut() = Session::Attested { token, expiry };
                Ok(())
            }
            _ => Err(SessionError::NotAuthed),
        }
    }

    async fn insert(&self, id: SessionId, session: Session) -> Result<(), SessionError> {
        self.shard(&id).insert(id, session);
        Ok(())
    }

    async fn sweep(&self, now: OffsetDateTime) -> Result<usize, SessionError> {
        let mut removed = 0;
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            let before = shard.len();
            shard.retain(|_, session| session.is_live(now));
            removed += before - shard.len();
        }
        Ok(removed)
    }
}

/// Starts the background task that deletes expired sessions every [`SWEEP_INTERVAL`].
pub fn spawn_sweeper(store: Arc<dyn SessionStore>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(SWEEP_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match store.sweep(OffsetDateTime::now_utc()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(removed = n, "expired sessions swept"),
                Err(e) => tracing::warn!(error = %e, "session sweep failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration as TimeDuration;

    use super::conformance::{request, t0};

    #[tokio::test]
    async fn memory_store_meets_the_session_store_contract() {
        super::conformance::run(MemorySessionStore::new).await;
    }

    #[test]
    fn session_ids_are_32_lowercase_hex() {
        let id = SessionId::random();
        assert_eq!(id.as_str().len(), 32);
        assert!(id.as_str().parse::<SessionId>().is_ok());
        assert_ne!(SessionId::random(), id);
        assert!(
            "ABCDEF0123456789abcdef0123456789"
                .parse::<SessionId>()
                .is_err()
        );
        assert!("abc".parse::<SessionId>().is_err());
        assert!(
            "4f0c-0000-0000-0000-00000000000000"
                .parse::<SessionId>()
                .is_err()
        );
    }

    #[tokio::test]
    async fn expired_session_is_invisible_and_deleted_on_access() {
        let store = MemorySessionStore::new();
        let id = store.create(request(), "n".into(), t0()).await.unwrap();
        assert!(store.get(&id, t0()).await.unwrap().is_none());
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn sweep_removes_only_expired_sessions() {
        let store = MemorySessionStore::new();
        store.create(request(), "a".into(), t0()).await.unwrap();
        let live = store
            .create(request(), "b".into(), t0() + TimeDuration::minutes(5))
            .await
            .unwrap();
        assert_eq!(store.sweep(t0()).await.unwrap(), 1);
        assert!(store.get(&live, t0()).await.unwrap().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn sweeper_removes_expired_sessions_every_minute() {
        let store = Arc::new(MemorySessionStore::new());
        let expired = OffsetDateTime::now_utc() - TimeDuration::seconds(1);
        let task = spawn_sweeper(store.clone());
        // The first tick fires at once; let it pass with nothing to sweep.
        tokio::task::yield_now().await;
        store.create(request(), "a".into(), expired).await.unwrap();
        tokio::time::sleep(SWEEP_INTERVAL - Duration::from_secs(1)).await;
        assert_eq!(store.len(), 1);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(store.is_empty());
        task.abort();
    }

    #[test]
    fn debug_output_hides_nonce_and_token() {
        let s = Session::Attested {
            token: "secret-token".into(),
            expiry: t0(),
        };
        assert!(!format!("{s:?}").contains("secret-token"));
        let s = Session::Authed {
            request: request(),
            nonce: "secret-nonce".into(),
            expiry: t0(),
        };
        assert!(!format!("{s:?}").contains("secret-nonce"));
    }
}
