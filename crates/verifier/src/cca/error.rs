//! Why a CCA attestation token was rejected.

/// A failed CCA check; each variant names the check that failed (verifiers spec §7.2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CcaError {
    /// `verifier_config.cca_verifier` or one of the stores it names is invalid.
    #[error("invalid cca verifier configuration: {reason}")]
    Config {
        /// What was wrong.
        reason: String,
    },

    /// The token is not a CBOR collection of a platform and a realm token.
    #[error("malformed cca token collection: {reason}")]
    MalformedCollection {
        /// What the decoder objected to.
        reason: String,
    },

    /// A COSE_Sign1 envelope (platform or realm) could not be decoded.
    #[error("malformed cca {token} token envelope: {reason}")]
    MalformedEnvelope {
        /// `platform` or `realm`.
        token: &'static str,
        /// What the decoder objected to.
        reason: String,
    },

    /// A claim is missing, has the wrong type or the wrong size.
    #[error("malformed cca {token} claim `{claim}`: {reason}")]
    MalformedClaim {
        /// `platform` or `realm`.
        token: &'static str,
        /// The claim's name.
        claim: &'static str,
        /// What was wrong with it.
        reason: String,
    },

    /// A profile, algorithm or key type this verifier does not implement.
    #[error("unsupported cca {what}: {value}")]
    Unsupported {
        /// What is unsupported (profile, COSE algorithm, hash algorithm, curve).
        what: &'static str,
        /// The value found.
        value: String,
    },

    /// No configured CPAK trust anchor for the platform's instance id.
    #[error("no cpak trust anchor is configured for cca platform instance id {instance_id}")]
    UnknownInstance {
        /// The platform's instance id (hex).
        instance_id: String,
    },

    /// The trust anchor for the instance id names a different implementation id.
    #[error("cpak trust anchor for this instance id is for another implementation id")]
    ImplementationIdMismatch,

    /// The platform token's signature does not verify with the configured CPAK.
    #[error("cca platform token signature does not verify with the configured cpak")]
    PlatformSignature,

    /// The realm token's signature does not verify with the RAK it carries.
    #[error("cca realm token signature does not verify with the realm attestation key")]
    RealmSignature,

    /// The platform challenge is not the hash of the realm attestation key, so the platform
    /// did not vouch for this realm token's key.
    #[error("cca platform challenge is not the hash of the realm attestation key")]
    RakBinding,

    /// The caller gave no report data, but a CCA token is only fresh through its challenge.
    #[error("cca evidence needs the expected report data to check the realm challenge")]
    ReportDataRequired,

    /// The realm challenge is not the expected report data padded to 64 bytes.
    #[error("cca realm challenge does not match the expected report data")]
    RealmChallenge,

    /// The init-data digest is longer than the 64-byte personalization value.
    #[error("init-data digest of {len} bytes does not fit the 64-byte realm personalization value")]
    InitDataDigestLength {
        /// The length of the digest the caller gave.
        len: usize,
    },

    /// The realm personalization value is not the init-data digest padded to 64 bytes.
    #[error("cca realm personalization value does not match the expected init-data digest")]
    InitData,

    /// The reference-value store has no entry for the platform's implementation id.
    #[error("no cca platform reference values for implementation id {implementation_id}")]
    UnknownPlatform {
        /// The platform's implementation id (hex).
        implementation_id: String,
    },

    /// No reference-value entry for the implementation id matches the platform's
    /// configuration and software components.
    #[error("cca platform software components or configuration match no reference value")]
    PlatformReferenceValues,

    /// The store lists realm reference values, and none matches the realm's initial and
    /// extensible measurements.
    #[error("cca realm initial/extensible measurements match no reference value")]
    RealmReferenceValues,
}
