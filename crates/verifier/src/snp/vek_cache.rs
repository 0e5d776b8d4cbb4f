//! Verified VEK chains, kept so repeated attestations from the same chip skip the chain's RSA
//! signature checks.
//!
//! An entry is the proof [`verify_vek_chain`] returned, keyed by the SHA-256 of the VEK's DER
//! and the fingerprint of the roots it was verified against; so only the exact certificate
//! bytes, checked against the same roots, find it. What depends on the time is never cached:
//! every hit re-checks the validity periods of the VEK, its issuer and the ARK at the new
//! verification time ([`VerifiedVek::check_valid_at`]). Failed chains are not cached.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::digest::{SHA256, digest};

use super::chain::{ProductRoots, VerifiedVek, verify_vek_chain};
use super::error::SnpError;

/// Default number of verified chains kept: one per chip (and TCB, as a TCB update brings a
/// new VCEK) that attests to this service, at about 1 KiB each.
pub const DEFAULT_VEK_CACHE_ENTRIES: usize = 1024;

/// `(roots fingerprint, SHA-256 of the VEK DER)`.
type Key = ([u8; 32], [u8; 32]);

/// A bounded cache of [`VerifiedVek`]s; when full, the oldest entry goes first.
#[derive(Debug)]
pub struct VerifiedVekCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<Key, Arc<VerifiedVek>>,
    /// Insertion order, for eviction.
    order: VecDeque<Key>,
}

impl Default for VerifiedVekCache {
    fn default() -> Self {
        Self::new(DEFAULT_VEK_CACHE_ENTRIES)
    }
}

impl VerifiedVekCache {
    /// A cache holding at most `capacity` chains (`0` caches nothing).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// [`verify_vek_chain`]`(roots, vek_der, now)`, answered from the cache when this VEK was
    /// verified against these roots before: then only the validity periods are checked, at
    /// `now`.
    pub fn verify_vek_chain(
        &self,
        roots: &ProductRoots,
        vek_der: &[u8],
        now: u64,
    ) -> Result<Arc<VerifiedVek>, SnpError> {
        let mut vek_hash = [0u8; 32];
        vek_hash.copy_from_slice(digest(&SHA256, vek_der).as_ref());
        let key = (*roots.fingerprint(), vek_hash);
        if let Some(vek) = self.lock().by_key.get(&key).cloned() {
            vek.check_valid_at(now)?;
            return Ok(vek);
        }
        // Verified outside the lock: concurrent misses for the same VEK both verify, and the
        // second insert replaces an identical proof.
        let vek = Arc::new(verify_vek_chain(roots, vek_der, now)?);
        self.insert(key, Arc::clone(&vek));
        Ok(vek)
    }

    /// Number of chains held.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether no chain is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, key: Key, vek: Arc<VerifiedVek>) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.by_key.insert(key, vek).is_some() {
            return;
        }
        entries.order.push_back(key);
        while entries.order.len() > self.capacity {
            if let Some(oldest) = entries.order.pop_front() {
                entries.by_key.remove(&oldest);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // The map is consistent after every statement, so a panic elsewhere cannot corrupt it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snp::{AmdRoots, CertRole, Product};

    use crate::test_support::shared as testdata;

    /// 2025-06-01, inside the sample VCEK's validity (2023-01-24 .. 2030-01-24).
    const NOW: u64 = 1_748_736_000;
    const MILAN_VCEK: &str = "evidence/snp/test-vcek.der";
    const GENOA_VCEK: &str = "collateral/amd/kds-store/vcek/371c55d6d15cb50f16dc31d39a24e300caaabff4431e841111429b73ec45ad67ea6e687ffae7bf84b54a5d0e6d79b3ef6ff0bd8b4cff94c2163af5c5de8718e8/bl10_tee00_snp23_ucode25_vcek.der";

    fn roots(product: Product) -> &'static ProductRoots {
        AmdRoots::embedded().unwrap().product(product)
    }

    #[test]
    fn a_verified_chain_is_reused() {
        let cache = VerifiedVekCache::default();
        let der = testdata(MILAN_VCEK);
        let first = cache
            .verify_vek_chain(roots(Product::Milan), &der, NOW)
            .unwrap();
        let again = cache
            .verify_vek_chain(roots(Product::Milan), &der, NOW + 1)
            .unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_cached_chain_is_checked_against_each_new_time() {
        let cache = VerifiedVekCache::default();
        let der = testdata(MILAN_VCEK);
        cache
            .verify_vek_chain(roots(Product::Milan), &der, NOW)
            .unwrap();
        // 2031-01-01, after the VCEK's notAfter: the same error as an uncached check.
        let later = 1_924_992_000;
        let expected = verify_vek_chain(roots(Product::Milan), &der, later).unwrap_err();
        assert!(matches!(
            expected,
            SnpError::CertificateValidity {
                cert: CertRole::Vcek,
                ..
            }
        ));
        assert_eq!(
            cache
                .verify_vek_chain(roots(Product::Milan), &der, later)
                .unwrap_err(),
            expected
        );
        // 2020-01-01, before it was issued.
        assert!(matches!(
            cache.verify_vek_chain(roots(Product::Milan), &der, 1_577_836_800),
            Err(SnpError::CertificateValidity {
                cert: CertRole::Vcek,
                ..
            })
        ));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_chain_verified_against_other_roots_is_not_reused() {
        let cache = VerifiedVekCache::default();
        let der = testdata(MILAN_VCEK);
        cache
            .verify_vek_chain(roots(Product::Milan), &der, NOW)
            .unwrap();
        assert_eq!(
            cache
                .verify_vek_chain(roots(Product::Genoa), &der, NOW)
                .unwrap_err(),
            SnpError::CertificateIssuer {
                cert: CertRole::Vek
            }
        );
    }

    #[test]
    fn failed_chains_are_not_cached() {
        let cache = VerifiedVekCache::default();
        let mut der = testdata(MILAN_VCEK);
        let last = der.len() - 1;
        der[last] ^= 1;
        assert!(
            cache
                .verify_vek_chain(roots(Product::Milan), &der, NOW)
                .is_err()
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn the_oldest_chain_is_dropped_when_full() {
        let cache = VerifiedVekCache::new(1);
        let milan = testdata(MILAN_VCEK);
        let genoa = testdata(GENOA_VCEK);
        let first = cache
            .verify_vek_chain(roots(Product::Milan), &milan, NOW)
            .unwrap();
        cache
            .verify_vek_chain(roots(Product::Genoa), &genoa, NOW)
            .unwrap();
        assert_eq!(cache.len(), 1);
        let again = cache
            .verify_vek_chain(roots(Product::Milan), &milan, NOW)
            .unwrap();
        assert!(!Arc::ptr_eq(&first, &again), "verified afresh");

        let none = VerifiedVekCache::new(0);
        none.verify_vek_chain(roots(Product::Milan), &milan, NOW)
            .unwrap();
        assert!(none.is_empty());
    }
}
