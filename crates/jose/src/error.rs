//! The crate's one error type.

/// Everything that can go wrong in JOSE processing.
///
/// Messages never carry key material, plaintext or token contents; context is kept in typed
/// fields so callers and tests can match on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A member that must be base64 (url-safe without padding, or standard) did not decode.
    #[error("malformed base64 in {field}")]
    Base64 {
        /// The member or input that failed to decode.
        field: &'static str,
    },
    /// A JSON document could not be parsed or produced.
    #[error("malformed json in {field}")]
    Json {
        /// The document that failed.
        field: &'static str,
    },
    /// RFC 8785 canonicalisation failed (for example a non-finite number).
    #[error("json canonicalization failed")]
    Canonicalization,
    /// A PEM document could not be parsed, or holds a label this crate does not read.
    #[error("malformed or unsupported pem ({label})")]
    Pem {
        /// The PEM label found, or `"none"` when the text is not PEM at all.
        label: String,
    },
    /// A private or public key was rejected by the crypto backend or its DER was malformed.
    #[error("invalid {kind} key")]
    InvalidKey {
        /// Which kind of key was expected (`"rsa"`, `"ec p-256"`, `"ed25519"`, ...).
        kind: &'static str,
    },
    /// The JWK key type (`kty`) is not supported for this use.
    #[error("unsupported key type {kty}")]
    UnsupportedKeyType {
        /// The `kty` found.
        kty: String,
    },
    /// The elliptic curve is not supported for this use.
    #[error("unsupported curve {crv}")]
    UnsupportedCurve {
        /// The `crv` found.
        crv: String,
    },
    /// A feature exists in the protocol but is deliberately not implemented here.
    #[error("{what} is not supported")]
    NotSupported {
        /// What was asked for.
        what: &'static str,
    },
    /// The JWE key-management algorithm is not one of `RSA1_5`, `RSA-OAEP-256`,
    /// `ECDH-ES+A256KW`.
    #[error("unsupported jwe algorithm {alg}")]
    UnsupportedJweAlgorithm {
        /// The `alg` found.
        alg: String,
    },
    /// The JWE content encryption is not `A256GCM`.
    #[error("unsupported jwe content encryption {enc}")]
    UnsupportedContentEncryption {
        /// The `enc` found.
        enc: String,
    },
    /// A JWK or header member required for this operation is absent.
    #[error("missing member {member}")]
    MissingMember {
        /// The member name.
        member: &'static str,
    },
    /// A decoded value has the wrong length (EC coordinates, IV, tag, wrapped key).
    #[error("{field} is {actual} bytes, expected {expected}")]
    BadLength {
        /// The member.
        field: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Length found.
        actual: usize,
    },
    /// The EC point is not on the named curve.
    #[error("ec point is not on curve {crv}")]
    PointNotOnCurve {
        /// The curve name.
        crv: &'static str,
    },
    /// The RSA modulus is shorter than 2048 bits.
    #[error("rsa modulus of {bits} bits is below the 2048-bit minimum")]
    RsaKeyTooSmall {
        /// Modulus size found.
        bits: usize,
    },
    /// The key does not fit the algorithm or the other party's key (for example an
    /// `ECDH-ES+A256KW` JWE whose `epk` is on another curve than the receiving key).
    #[error("key mismatch: {field}")]
    KeyMismatch {
        /// What did not match.
        field: &'static str,
    },
    /// AES key unwrap, RSA decryption or AES-GCM authentication failed.
    #[error("jwe decryption failed")]
    Decryption,
    /// The crypto backend failed to generate randomness, a key or a signature.
    #[error("cryptographic operation failed")]
    Crypto,
    /// A compact JWS/JWT is not three base64url segments with a JSON header and object payload.
    #[error("malformed token: {reason}")]
    MalformedToken {
        /// Which part is malformed.
        reason: &'static str,
    },
    /// The JWS `alg` is unknown, unsupported or `none`.
    #[error("unsupported signature algorithm {alg}")]
    UnsupportedSignatureAlgorithm {
        /// The `alg` found.
        alg: String,
    },
    /// The token's `alg` does not fit the verifying key.
    #[error("token alg {token_alg} does not match the key ({key})")]
    AlgorithmMismatch {
        /// The header `alg`.
        token_alg: String,
        /// The key's algorithm or type.
        key: String,
    },
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The claims carry no numeric `exp`.
    #[error("token has no numeric exp claim")]
    MissingExpiry,
    /// `exp` (plus leeway) is in the past.
    #[error("token expired at {exp} (now {now})")]
    Expired {
        /// The `exp` claim.
        exp: u64,
        /// The time checked against.
        now: u64,
    },
    /// `nbf` (minus leeway) is in the future.
    #[error("token not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The `nbf` claim.
        nbf: u64,
        /// The time checked against.
        now: u64,
    },
    /// An `x5c` entry is not a parseable X.509 certificate.
    #[error("x5c entry {index} is not a valid certificate")]
    Certificate {
        /// Position in the `x5c` array.
        index: usize,
    },
    /// The certificate path was not accepted.
    #[error("certificate chain rejected")]
    Chain(#[source] webpki::Error),
    /// The `x5c` array is empty.
    #[error("x5c is empty")]
    EmptyChain,
    /// No trust anchors were given, so no chain can be accepted.
    #[error("no trust anchors")]
    NoTrustAnchors,
}
