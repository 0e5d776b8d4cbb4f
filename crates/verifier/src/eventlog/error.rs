//! Why an event log was rejected.

/// A malformed event log, or one that does not replay to the quoted registers.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventLogError {
    /// The log is larger than [`super::MAX_LOG_SIZE`].
    #[error("event log is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// The log's size.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The log holds more than [`super::MAX_EVENTS`] events.
    #[error("event log holds more than {max} events")]
    TooManyEvents {
        /// The limit.
        max: usize,
    },

    /// A field runs past the end of the log.
    #[error("event log truncated in {field} at byte {offset}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it started.
        offset: usize,
    },

    /// The first event is not a crypto-agile spec-id header.
    #[error("event log header (spec id event) is invalid: {reason}")]
    BadHeader {
        /// What was wrong.
        reason: &'static str,
    },

    /// An event record is malformed.
    #[error("malformed event log record: {reason}")]
    BadEvent {
        /// What was wrong.
        reason: &'static str,
    },

    /// An event carries a digest of an algorithm the header did not declare, so its size is
    /// unknown.
    #[error("event log digest algorithm {algorithm:#06x} is not declared in the header")]
    UndeclaredAlgorithm {
        /// The TCG algorithm id.
        algorithm: u16,
    },

    /// An event that extends an RTMR has no SHA-384 digest, so it cannot be replayed.
    #[error("event log event {event} has no sha-384 digest to replay")]
    MissingSha384 {
        /// The event's position in the log (0-based, after the header).
        event: usize,
    },

    /// Replaying the log does not give the quote's RTMR value.
    #[error(
        "event log replay does not match the quote: rtmr{rtmr} replays to {replayed}, the quote \
         has {quoted}"
    )]
    ReplayMismatch {
        /// Which RTMR (0..3).
        rtmr: usize,
        /// The replayed value (hex).
        replayed: String,
        /// The quoted value (hex).
        quoted: String,
    },
}
