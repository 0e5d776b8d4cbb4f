//! A bounded cache of successful token verifications, so that a guest re-sending the same
//! token (bearer, or the token stored in its cookie session) is not ES256-verified on every
//! resource request (44 % of a GET, docs/benchmarks.md).
//!
//! Keyed by the SHA-256 of the whole token text: a token differing in any byte misses. An
//! entry only answers inside the window in which a full verification with the same (immutable)
//! trust material would succeed: from the second it was verified up to the earliest of `exp` +
//! leeway, the `notAfter` of any endorsing certificate and a fixed cap. Outside that window the
//! entry is dropped and the caller verifies in full, so every refusal (expired token, expired
//! certificate) comes from the verifier itself with its usual error. Failures are never cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use aws_lc_rs::digest::{SHA256, digest};

/// Shards, each with its own lock: concurrent requests for different tokens rarely contend,
/// and no lock is held while a token is verified.
const SHARDS: usize = 16;

/// Default number of cached verifications. A guest re-presents its token within seconds of
/// attesting, so the most recent few thousand verifications answer nearly every request, while
/// each entry (≈ 5 KiB of converted claims) costs memory for every live guest beyond them.
pub(crate) const DEFAULT_CAPACITY: usize = 4096;

/// The longest an entry is trusted without a full verification, whatever `exp` says.
pub(crate) const MAX_ENTRY_LIFETIME_SECS: u64 = 300;

/// The SHA-256 of a token: the only form in which token bytes are kept as a key.
type TokenDigest = [u8; 32];

/// Successful verifications (what each one yielded: a `T`), bounded in number.
pub(crate) struct VerifiedTokenCache<T> {
    shards: Vec<Mutex<HashMap<TokenDigest, Entry<T>>>>,
    per_shard: usize,
}

struct Entry<T> {
    verified: Arc<T>,
    /// The `now` of the verification: an earlier `now` (clock stepped back) is not answered.
    verified_at: u64,
    /// Last second (inclusive) at which the verification still holds.
    valid_until: u64,
}

impl<T> VerifiedTokenCache<T> {
    /// A cache holding at most `capacity` verifications (rounded up to a multiple of the
    /// shard count; at least one per shard).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    /// What the verification of `token` yielded, if it was verified and the verification still
    /// holds at `now`. An entry that no longer holds is removed.
    pub(crate) fn get(&self, token: &str, now: u64) -> Option<Arc<T>> {
        let key = token_digest(token);
        let mut shard = self.shard(&key);
        let entry = shard.get(&key)?;
        if entry.verified_at <= now && now <= entry.valid_until {
            return Some(Arc::clone(&entry.verified));
        }
        shard.remove(&key);
        None
    }

    /// Records a successful verification of `token` at `verified_at`, trusted until
    /// `valid_until` (inclusive; capped at [`MAX_ENTRY_LIFETIME_SECS`] after `verified_at`).
    pub(crate) fn insert(&self, token: &str, verified: Arc<T>, verified_at: u64, valid_until: u64) {
        let valid_until = valid_until.min(verified_at.saturating_add(MAX_ENTRY_LIFETIME_SECS));
        if valid_until < verified_at {
            return;
        }
        let key = token_digest(token);
        let mut shard = self.shard(&key);
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            make_room(&mut shard, verified_at);
        }
        shard.insert(
            key,
            Entry {
                verified,
                verified_at,
                valid_until,
            },
        );
    }

    /// Entries held, over all shards.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    fn shard(&self, key: &TokenDigest) -> MutexGuard<'_, HashMap<TokenDigest, Entry<T>>> {
        // The digest is uniformly distributed, so its first byte spreads tokens evenly.
        let shard = &self.shards[usize::from(key[0]) % SHARDS];
        // A panic under the lock cannot leave a half-written entry (every update is one
        // `insert` or `remove`), so a poisoned shard is still consistent.
        shard.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Frees one slot in a full shard: drops every entry expired at `now`, and if none was, the
/// entry verified longest ago.
fn make_room<T>(shard: &mut HashMap<TokenDigest, Entry<T>>, now: u64) {
    let before = shard.len();
    shard.retain(|_, entry| entry.valid_until >= now);
    if shard.len() < before {
        return;
    }
    let oldest = shard
        .iter()
        .min_by_key(|(_, entry)| entry.verified_at)
        .map(|(key, _)| *key);
    if let Some(key) = oldest {
        shard.remove(&key);
    }
}

fn token_digest(token: &str) -> TokenDigest {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    key
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn claims(n: u64) -> Arc<Value> {
        Arc::new(serde_json::json!({ "n": n }))
    }

    #[test]
    fn answers_inside_the_window_only() {
        let cache = VerifiedTokenCache::new(16);
        cache.insert("a.b.c", claims(1), 100, 200);
        assert_eq!(cache.get("a.b.c", 100).as_deref(), Some(&*claims(1)));
        assert_eq!(cache.get("a.b.c", 200).as_deref(), Some(&*claims(1)));
        assert!(cache.get("a.b.c", 99).is_none(), "clock stepped back");
        assert_eq!(cache.len(), 0, "an entry outside its window is dropped");
        cache.insert("a.b.c", claims(1), 100, 200);
        assert!(cache.get("a.b.c", 201).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn caps_the_lifetime_of_an_entry() {
        let cache = VerifiedTokenCache::new(16);
        cache.insert("t", claims(1), 1000, u64::MAX);
        assert!(cache.get("t", 1000 + MAX_ENTRY_LIFETIME_SECS).is_some());
        assert!(cache.get("t", 1001 + MAX_ENTRY_LIFETIME_SECS).is_none());
    }

    #[test]
    fn a_token_differing_in_one_byte_misses() {
        let cache = VerifiedTokenCache::new(16);
        cache.insert("header.payload.sig", claims(1), 0, 10);
        assert!(cache.get("header.payload.sih", 5).is_none());
        assert!(cache.get("header.payload.sig", 5).is_some());
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        let cache = VerifiedTokenCache::new(64);
        for n in 0..10_000u64 {
            cache.insert(&format!("token-{n}"), claims(n), 1000 + n, u64::MAX);
        }
        assert!(cache.len() <= 64, "{} entries", cache.len());
        // The most recent verification is kept.
        assert!(cache.get("token-9999", 10_999).is_some());
    }

    #[test]
    fn evicts_expired_entries_before_live_ones() {
        let cache = VerifiedTokenCache::new(2 * SHARDS); // two entries per shard
        let shard_of = |t: &str| usize::from(token_digest(t)[0]) % SHARDS;
        let same_shard: Vec<String> = (0..10_000)
            .map(|n| format!("token-{n}"))
            .filter(|t| shard_of(t) == shard_of("token-0"))
            .take(3)
            .collect();
        let [oldest, expired, new] = same_shard.as_slice() else {
            panic!("fewer than three tokens in one shard");
        };
        cache.insert(oldest, claims(0), 100, 400);
        cache.insert(expired, claims(1), 150, 160);
        cache.insert(new, claims(2), 200, 400);
        assert!(cache.get(oldest, 200).is_some(), "live entry kept");
        assert!(cache.get(new, 200).is_some());
        assert!(cache.get(expired, 155).is_none(), "expired entry evicted");
    }
}
