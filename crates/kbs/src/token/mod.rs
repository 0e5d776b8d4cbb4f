//! Attestation-token verification (`[attestation_token]`) and TEE public key extraction.
//!
//! `kbs-protocol.md` §4.2–§4.3. [`TokenVerifier::new`] loads every trust source once at
//! startup; [`TokenVerifier::verify`] is then a pure function of the token and the time (its
//! cache of successful verifications only saves repeating one, see the `cache` module).
//! The KBS checks nothing in the claims beyond signature and expiry: the resource policy
//! judges them.

mod cache;
mod endorse;
pub(crate) mod header;
pub(crate) mod keys;
pub(crate) mod source;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jose::{Jwk, VerifyingKey};
use kbs_types::TeePubKey;
use policy::PolicyInput;
use rustls_pki_types::CertificateDer;
use serde::Deserialize;
use serde_json::Value;

pub use endorse::endorse_header_jwk;
pub use source::SourceError;

use cache::VerifiedTokenCache;
use header::TokenHeader;
use keys::VerifyFailure;

/// JSON pointers tried, after `extra_teekey_paths`, for the TEE public key (§4.3), in order.
pub const TEE_PUBKEY_POINTERS: [&str; 5] = [
    "/tdx/attester_runtime_data/tee-pubkey",
    "/tdx/attester_user_data/tee-pubkey",
    "/customized_claims/runtime_data/tee-pubkey",
    "/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey",
    "/tee-pubkey",
];

/// Where an EAR token carries the init-data claims handed to plugins (§4.1 step 3d).
pub const INIT_DATA_CLAIMS_POINTER: &str =
    "/submods/cpu0/ear.veraison.annotated-evidence/init_data_claims";

/// `[attestation_token]`, with upstream's key names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttestationTokenConfig {
    /// PEM files of trusted certificates (each may hold several) for header-`jwk` tokens with
    /// an `x5c` chain.
    pub trusted_certs_paths: Vec<PathBuf>,
    /// JWK sets for `kid` tokens: local paths, `file://` or `https://` URLs.
    pub trusted_jwk_sets: Vec<String>,
    /// Trust any key a token carries in its header. Only for development.
    pub insecure_header_jwk: bool,
    /// JSON pointers tried first when looking for the TEE public key in the claims.
    pub extra_teekey_paths: Vec<String>,
}

/// Token-verifier failures, at startup and per token. No variant carries the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing configured could ever verify a token.
    #[error(
        "no trust material for attestation tokens: set trusted_certs_paths, trusted_jwk_sets or insecure_header_jwk in [attestation_token]"
    )]
    NoTrustMaterial,
    /// A `trusted_certs_paths` file could not be read.
    #[error("[attestation_token] cannot read trusted certificates {path}")]
    ReadCertificates {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A `trusted_certs_paths` file holds no parseable PEM certificate.
    #[error("[attestation_token] {path} holds no valid PEM certificate")]
    InvalidCertificates {
        /// The file.
        path: PathBuf,
    },
    /// A `trusted_jwk_sets` source could not be loaded.
    #[error("[attestation_token] cannot load trusted JWK set")]
    JwkSet(#[from] SourceError),
    /// An `extra_teekey_paths` entry is not a JSON pointer.
    #[error("[attestation_token] extra_teekey_paths entry {pointer:?} is not a JSON pointer")]
    InvalidTeeKeyPointer {
        /// The configured entry.
        pointer: String,
    },

    /// The token is not a JWS compact token with a JSON header.
    #[error("token is not a well-formed JWT")]
    MalformedToken,
    /// The token says `alg: none`.
    #[error("unsigned tokens (alg none) are refused")]
    Unsigned,
    /// The header `jwk` is not a JWK this KBS can use.
    #[error("token header jwk is malformed or unsupported")]
    MalformedHeaderJwk,
    /// The header `jwk` is neither the local AS key nor endorsed, and no certificates are
    /// trusted.
    #[error("token header jwk is not trusted: no trusted_certs_paths configured")]
    NoTrustedCertificates,
    /// The header `jwk` has no `x5c` chain to check.
    #[error("token header jwk carries no x5c certificate chain")]
    MissingX5c,
    /// The `x5c` leaf certificate holds another key than the header `jwk`.
    #[error("x5c leaf certificate key differs from the header jwk")]
    LeafKeyMismatch,
    /// The `x5c` chain does not lead to a trusted certificate.
    #[error("x5c certificate chain is not trusted")]
    UntrustedChain(#[source] jose::Error),
    /// The header has neither `jwk` nor `kid`.
    #[error("token header has neither jwk nor kid")]
    MissingKid,
    /// The header names a `kid` but no JWK sets are trusted.
    #[error("token names a kid but no trusted_jwk_sets are configured")]
    NoTrustedJwkSets,
    /// No trusted JWK has this `kid`.
    #[error("no trusted key with kid {kid:?}")]
    UnknownKey {
        /// The header `kid`.
        kid: String,
    },
    /// The verification key has no `alg` member, so the algorithm cannot be pinned.
    #[error("verification key has no alg member")]
    KeyWithoutAlg,
    /// The header `alg` is not the key's `alg`.
    #[error("token alg {token_alg:?} differs from the key's alg {key_alg:?}")]
    AlgMismatch {
        /// The header `alg`.
        token_alg: String,
        /// The key's `alg`.
        key_alg: String,
    },
    /// The signature does not verify.
    #[error("token signature is not valid")]
    BadSignature,
    /// `exp` (plus 60 s leeway) has passed.
    #[error("token expired")]
    Expired,
    /// The claims have no numeric `exp`.
    #[error("token has no exp claim")]
    MissingExp,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// The claims hold no TEE public key at any known pointer.
    #[error("token claims hold no tee-pubkey")]
    NoTeePubKey,
    /// The claim at `pointer` is not a TEE public key.
    #[error("tee-pubkey at {pointer} is malformed")]
    InvalidTeePubKey {
        /// The JSON pointer that matched.
        pointer: String,
    },
}

/// What every resource request needs from a verified token, derived once from its claims: the
/// resource policy's `input`, the TEE public key and the init-data claims. Cached with the
/// verification, so a guest re-presenting its token costs none of it again. The claims are
/// kept only in the policy's form, so a cached token costs its memory once.
pub struct VerifiedToken {
    policy_input: PolicyInput,
    tee_key: Result<TeePubKey, TeeKeyProblem>,
    init_data_claims: Option<Value>,
}

/// Why the claims yield no TEE key; turned into an [`Error`] when the key is asked for.
enum TeeKeyProblem {
    Missing,
    Malformed { pointer: String },
}

impl VerifiedToken {
    /// The verified claims as JSON, converted back from the policy input; `None` only if they
    /// cannot be (they always can, since they were JSON). Not meant for the request path.
    pub fn claims(&self) -> Option<Value> {
        self.policy_input.to_json().ok()
    }

    /// The claims converted for policy evaluation.
    pub fn policy_input(&self) -> &PolicyInput {
        &self.policy_input
    }

    /// The init-data claims handed to plugins (see [`init_data_claims`]).
    pub fn init_data_claims(&self) -> Option<&Value> {
        self.init_data_claims.as_ref()
    }

    /// The TEE public key the claims carry, as [`TokenVerifier::tee_public_key`] finds it.
    pub fn tee_public_key(&self) -> Result<&TeePubKey, Error> {
        match &self.tee_key {
            Ok(key) => Ok(key),
            Err(TeeKeyProblem::Missing) => Err(Error::NoTeePubKey),
            Err(TeeKeyProblem::Malformed { pointer }) => Err(Error::InvalidTeePubKey {
                pointer: pointer.clone(),
            }),
        }
    }
}

impl std::fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedToken").finish_non_exhaustive()
    }
}

/// Verifies attestation tokens with the trust material loaded at startup.
pub struct TokenVerifier {
    insecure_header_jwk: bool,
    anchors: Vec<CertificateDer<'static>>,
    jwks: Vec<(Jwk, VerifyingKey)>,
    local_as: Option<(Jwk, VerifyingKey)>,
    extra_teekey_paths: Vec<String>,
    /// Successful verifications; valid only with the trust material above, which never changes
    /// for the life of the verifier.
    verified: VerifiedTokenCache<VerifiedToken>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("insecure_header_jwk", &self.insecure_header_jwk)
            .field("trusted_certificates", &self.anchors.len())
            .field("trusted_jwks", &self.jwks.len())
            .field("local_as_key", &self.local_as.is_some())
            .field("extra_teekey_paths", &self.extra_teekey_paths)
            .finish()
    }
}

impl TokenVerifier {
    /// Loads every certificate file and JWK set named in `config`. `trusted_local_as_jwk` is
    /// the public key of an attestation service in this process, trusted without `x5c`.
    pub async fn new(
        config: &AttestationTokenConfig,
        trusted_local_as_jwk: Option<Jwk>,
    ) -> Result<Self, Error> {
        for pointer in &config.extra_teekey_paths {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(Error::InvalidTeeKeyPointer {
                    pointer: pointer.clone(),
                });
            }
        }
        let mut anchors = Vec::new();
        for path in &config.trusted_certs_paths {
            anchors.extend(load_certificates(path).await?);
        }
        let mut jwks = Vec::new();
        for uri in &config.trusted_jwk_sets {
            for jwk in source::load_jwk_set(uri).await? {
                match VerifyingKey::from_jwk(&jwk) {
                    Ok(key) => jwks.push((jwk, key)),
                    Err(e) => {
                        tracing::warn!(%uri, kid = ?jwk.kid, error = %e, "skipping token JWK")
                    }
                }
            }
        }
        let local_as = match trusted_local_as_jwk {
            Some(jwk) => {
                let key = VerifyingKey::from_jwk(&jwk).map_err(|_| Error::MalformedHeaderJwk)?;
                Some((jwk, key))
            }
            None => None,
        };
        if anchors.is_empty()
            && jwks.is_empty()
            && local_as.is_none()
            && !config.insecure_header_jwk
        {
            return Err(Error::NoTrustMaterial);
        }
        if config.insecure_header_jwk {
            tracing::warn!(
                "[attestation_token] insecure_header_jwk = true: any key in a token header is trusted"
            );
        }
        Ok(Self {
            insecure_header_jwk: config.insecure_header_jwk,
            anchors,
            jwks,
            local_as,
            extra_teekey_paths: config.extra_teekey_paths.clone(),
            verified: VerifiedTokenCache::new(cache::DEFAULT_CAPACITY),
        })
    }

    /// Verifies signature and expiry (§4.2) and returns the claims.
    ///
    /// A token verified before is answered from a cache while that verification still holds at
    /// `now_unix` (token `exp` + leeway, endorsing certificates' `notAfter`, at most 300 s);
    /// otherwise it is verified in full, so every refusal is that of a full verification.
    pub fn verify(&self, token: &str, now_unix: u64) -> Result<Arc<VerifiedToken>, Error> {
        if let Some(verified) = self.verified.get(token, now_unix) {
            return Ok(verified);
        }
        let (claims, endorsed_until) = self.verify_uncached(token, now_unix)?;
        let expiry = jose::jwt::expiry(&claims);
        let verified = Arc::new(self.prepare(claims));
        // `verify_uncached` succeeded, so `exp` is there; without it nothing is cached.
        if let (Some(exp), Some(endorsed_until)) = (expiry, endorsed_until) {
            let valid_until = exp
                .saturating_add(jose::jwt::DEFAULT_LEEWAY_SECS)
                .min(endorsed_until);
            self.verified
                .insert(token, Arc::clone(&verified), now_unix, valid_until);
        }
        Ok(verified)
    }

    /// What resource requests need from verified `claims`, derived once.
    fn prepare(&self, claims: Value) -> VerifiedToken {
        let tee_key = self.tee_public_key(&claims).map_err(|e| match e {
            Error::InvalidTeePubKey { pointer } => TeeKeyProblem::Malformed { pointer },
            _ => TeeKeyProblem::Missing,
        });
        VerifiedToken {
            policy_input: PolicyInput::new(&claims),
            tee_key,
            init_data_claims: init_data_claims(&claims),
        }
    }

    /// The full verification: claims, and the last second the key's endorsement holds
    /// (`u64::MAX` when no certificate endorses it; `None` when that cannot be told, which
    /// keeps the result out of the cache).
    fn verify_uncached(&self, token: &str, now_unix: u64) -> Result<(Value, Option<u64>), Error> {
        let mut endorsed_until = Some(u64::MAX);
        let header = TokenHeader::decode(token).ok_or(Error::MalformedToken)?;
        if header.is_unsigned() {
            return Err(Error::Unsigned);
        }
        let header_key;
        let (jwk, key) = match &header.jwk {
            Some(value) => {
                let jwk: Jwk =
                    serde_json::from_value(value.clone()).map_err(|_| Error::MalformedHeaderJwk)?;
                match &self.local_as {
                    Some((local, local_key)) if keys::same_key_material(local, &jwk) => {
                        (local, local_key)
                    }
                    _ => {
                        if !self.insecure_header_jwk {
                            endorse_header_jwk(&jwk, &self.anchors, now_unix)?;
                            endorsed_until = jwk
                                .x5c
                                .as_deref()
                                .and_then(|x5c| jose::x5c::earliest_not_after(x5c).ok());
                        }
                        // Before building the key, so a JWK without `alg` is reported as such.
                        check_alg(&jwk, &header)?;
                        let key =
                            VerifyingKey::from_jwk(&jwk).map_err(|_| Error::MalformedHeaderJwk)?;
                        header_key = (jwk, key);
                        (&header_key.0, &header_key.1)
                    }
                }
            }
            None => {
                let kid = header.kid.as_deref().ok_or(Error::MissingKid)?;
                if self.jwks.is_empty() {
                    return Err(Error::NoTrustedJwkSets);
                }
                let (jwk, key) = self
                    .jwks
                    .iter()
                    .find(|(jwk, _)| jwk.kid.as_deref() == Some(kid))
                    .ok_or_else(|| Error::UnknownKey {
                        kid: kid.to_owned(),
                    })?;
                (jwk, key)
            }
        };
        check_alg(jwk, &header)?;
        let claims = keys::verify_jwt(token, key, now_unix).map_err(|failure| match failure {
            VerifyFailure::BadSignature => Error::BadSignature,
            VerifyFailure::Expired => Error::Expired,
            VerifyFailure::MissingExp => Error::MissingExp,
            VerifyFailure::NotYetValid => Error::NotYetValid,
            VerifyFailure::Malformed => Error::MalformedToken,
        })?;
        Ok((claims, endorsed_until))
    }

    /// The TEE public key from verified claims: the first of `extra_teekey_paths`, then
    /// [`TEE_PUBKEY_POINTERS`], that exists; it must parse as a `TeePubKey` (§4.3).
    pub fn tee_public_key(&self, claims: &Value) -> Result<kbs_types::TeePubKey, Error> {
        let pointers = self
            .extra_teekey_paths
            .iter()
            .map(String::as_str)
            .chain(TEE_PUBKEY_POINTERS);
        for pointer in pointers {
            if let Some(value) = claims.pointer(pointer) {
                return serde_json::from_value(value.clone()).map_err(|_| {
                    Error::InvalidTeePubKey {
                        pointer: pointer.to_owned(),
                    }
                });
            }
        }
        Err(Error::NoTeePubKey)
    }
}

/// The key's own `alg` pins the algorithm, so a token cannot pick another one for the key.
fn check_alg(jwk: &Jwk, header: &TokenHeader) -> Result<(), Error> {
    let key_alg = jwk.alg.as_deref().ok_or(Error::KeyWithoutAlg)?;
    if key_alg != header.alg {
        return Err(Error::AlgMismatch {
            token_alg: header.alg.clone(),
            key_alg: key_alg.to_owned(),
        });
    }
    Ok(())
}

/// The init-data claims of an EAR token, handed to plugins on the attested path.
pub fn init_data_claims(claims: &Value) -> Option<Value> {
    claims.pointer(INIT_DATA_CLAIMS_POINTER).cloned()
}

async fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = tokio::fs::read_to_string(path)
        .await
        .map_err(|source| Error::ReadCertificates {
            path: path.to_owned(),
            source,
        })?;
    let certificates =
        jose::x5c::load_pem_certificates(&pem).map_err(|_| Error::InvalidCertificates {
            path: path.to_owned(),
        })?;
    if certificates.is_empty() {
        return Err(Error::InvalidCertificates {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests;
