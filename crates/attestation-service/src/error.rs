//! The crate's one error type.

use std::path::PathBuf;
use std::time::Duration;

use kbs_types::Tee;

/// Everything that can make the attestation service refuse to start or refuse a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- configuration and start-up
    /// `rvps_config = {"type": "GrpcRemote"}` names an address that is unusable or where no
    /// RVPS answers at start-up.
    #[error("cannot use the remote rvps (`GrpcRemote` at {address})")]
    RemoteRvps {
        /// The configured address.
        address: String,
        /// Why (invalid address, unreachable).
        #[source]
        source: rvps::Error,
    },

    /// `attestation_token_broker.duration_min` is zero, which would issue expired tokens.
    #[error("attestation_token_broker.duration_min must be at least 1")]
    ZeroTokenDuration,

    /// A token broker name that the token format requires to be non-empty is empty.
    #[error("attestation_token_broker.{field} must not be empty")]
    EmptyBrokerField {
        /// The config key.
        field: &'static str,
    },

    /// A signer file could not be read.
    #[error("cannot read {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The signing key is not an EC P-256 key (tokens are ES256 only).
    #[error("the token signing key must be an ec p-256 key, found {alg}")]
    SignerNotP256 {
        /// The algorithm the key signs with.
        alg: &'static str,
    },

    /// The first certificate of the signer's chain is not for the signing key.
    #[error("the leaf certificate of the token signer chain does not hold the signing key")]
    CertificateKeyMismatch,

    /// The collateral fetcher over `collateral_cache_dir` could not be built.
    #[error("cannot set up collateral downloads into {dir}")]
    CollateralFetcher {
        /// The configured cache directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: verifier::collateral::fetch::FetchError,
    },

    /// `signer.cert_path` holds no PEM certificate.
    #[error("{path} contains no pem certificate")]
    NoCertificates {
        /// The file.
        path: PathBuf,
    },

    // ---- evaluation
    /// `evaluate` was called without a policy id.
    #[error("at least one policy id is required")]
    NoPolicyId,

    /// `evaluate` was called without evidence, or the verifiers returned no claims.
    #[error("no evidence was appraised: at least one verification request with claims is required")]
    NoEvidence,

    /// No verifier for the TEE a supplemental challenge was asked for.
    #[error("cannot make a supplemental challenge for {tee}")]
    SupplementalChallenge {
        /// The TEE asked about.
        tee: Tee,
        /// The verifier registry's error.
        #[source]
        source: verifier::Error,
    },

    /// Init data TOML did not parse into `{version, algorithm, data}`.
    #[error("init data is not a valid init-data toml document")]
    InitData(#[source] toml::de::Error),

    /// A verifier rejected the evidence.
    #[error("{tee} evidence verification failed")]
    Verifier {
        /// The TEE whose evidence failed.
        tee: Tee,
        /// The verifier's error.
        #[source]
        source: verifier::Error,
    },

    /// A verifier emitted `init_data` or `report_data` as something other than a string.
    #[error("verifier claim `{claim}` is not a string")]
    ClaimNotString {
        /// The claim.
        claim: &'static str,
    },

    /// The policy's `trust_claims` rule exists but produced no value.
    #[error("policy `{policy_id}` left trust_claims undefined")]
    TrustClaimsUndefined {
        /// The evaluated policy (`<id>_<class>`).
        policy_id: String,
    },

    /// The policy's `trust_claims` value is not an object.
    #[error("trust_claims of policy `{policy_id}` is not an object")]
    TrustClaimsNotObject {
        /// The evaluated policy.
        policy_id: String,
    },

    /// `trust_claims` names a claim AR4SI does not define.
    #[error("policy `{policy_id}` sets unknown trust claim `{claim}`")]
    UnknownTrustClaim {
        /// The evaluated policy.
        policy_id: String,
        /// The unknown name.
        claim: String,
    },

    /// A trust claim value is not an integer in -128..=127.
    #[error(
        "policy `{policy_id}` sets trust claim `{claim}` to a value that is not an integer in -128..=127"
    )]
    TrustClaimValue {
        /// The evaluated policy.
        policy_id: String,
        /// The claim.
        claim: String,
    },

    /// `trust_claims` is an empty object.
    #[error("at least one policy claim must be set (policy `{policy_id}`)")]
    NoTrustClaimSet {
        /// The evaluated policy.
        policy_id: String,
    },

    /// The policy's `extensions` value is not an array.
    #[error("extensions of policy `{policy_id}` is not an array")]
    ExtensionsNotArray {
        /// The evaluated policy.
        policy_id: String,
    },

    /// An extension entry is not `{"name": string, "key": i32, "value": any}`.
    #[error("extension {index} of policy `{policy_id}` is not {{name, key, value}}")]
    MalformedExtension {
        /// The evaluated policy.
        policy_id: String,
        /// Position in the array.
        index: usize,
    },

    /// Two extensions share a name or a key.
    #[error("policy `{policy_id}` sets extension `{name}` (or its key) twice")]
    DuplicateExtension {
        /// The evaluated policy.
        policy_id: String,
        /// The second extension's name.
        name: String,
    },

    /// An extension would replace a member the token format defines.
    #[error("policy `{policy_id}` uses reserved member `{name}` as an extension")]
    ReservedExtension {
        /// The evaluated policy.
        policy_id: String,
        /// The reserved name.
        name: String,
    },

    /// A `query_reference_value` call of the policy could not get an answer from the
    /// reference value provider (unreachable, or no answer in time), so nothing was decided
    /// about the evidence: retrying once the provider is back may succeed. Distinct from
    /// [`Error::Policy`], which is the policy itself failing (including an RVPS that answered
    /// with an error, e.g. a malformed stored record).
    #[error(
        "policy `{policy_id}` could not query reference value {id:?}: the reference value provider is unavailable"
    )]
    ReferenceValueProviderUnavailable {
        /// The evaluated policy (`<id>_<class>`).
        policy_id: String,
        /// The first reference value id whose query failed this way.
        id: String,
        /// Why the provider counts as unavailable (boxed: keeps the error small).
        #[source]
        source: Box<RvpsUnavailable>,
    },

    /// A policy evaluation task panicked or was cancelled.
    #[error("policy evaluation task did not complete")]
    PolicyTask,

    // ---- policy administration
    /// A policy sent for upload is not base64url without padding.
    #[error("policy is not base64url without padding")]
    PolicyEncoding,

    /// A policy sent for upload is not UTF-8 text.
    #[error("policy is not utf-8 text")]
    PolicyNotUtf8,

    // ---- lower layers
    /// Policy storage, compilation or evaluation failed.
    #[error("policy engine")]
    Policy(#[from] policy::Error),

    /// The reference value provider failed.
    #[error("reference value provider")]
    Rvps(#[from] rvps::Error),

    /// The key-value store failed.
    #[error("storage")]
    Storage(#[from] storage::Error),

    /// Canonicalisation, key handling or token signing failed.
    #[error("jose")]
    Jose(#[from] jose::Error),
}

/// Why a `query_reference_value` call found the reference value provider unavailable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RvpsUnavailable {
    /// The provider reported that it cannot be reached or did not answer in time
    /// ([`rvps::Error::Unreachable`], [`rvps::Error::TimedOut`]; a `GrpcRemote` RVPS).
    #[error(transparent)]
    Provider(rvps::Error),
    /// The provider did not answer within the AS's own limit for one query.
    #[error("the reference value provider did not answer within {timeout:?}")]
    NoAnswer {
        /// The limit.
        timeout: Duration,
    },
}

impl RvpsUnavailable {
    /// `Ok` when `error` means the provider could not be reached or did not answer, as
    /// opposed to an answer that was an error (a refused request, a malformed stored record),
    /// which is given back.
    pub fn classify(error: rvps::Error) -> Result<Self, rvps::Error> {
        match error {
            rvps::Error::Unreachable { .. } | rvps::Error::TimedOut { .. } => {
                Ok(Self::Provider(error))
            }
            other => Err(other),
        }
    }
}
