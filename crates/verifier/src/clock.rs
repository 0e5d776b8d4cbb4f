//! Where a verifier reads the verification time: injected, so tests and offline checks pin it.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in Unix seconds. Read once per verification, at the trait
/// impl; everything below takes the value as a plain `now` argument.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        // A clock before 1970 is a broken host; treating it as the epoch makes every
        // certificate "not yet valid", which fails closed.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }
}

/// A clock stopped at one instant (tests, `verify-evidence --at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0
    }
}
