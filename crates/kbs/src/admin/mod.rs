//! Admin API authentication (bearer JWT) and authorization (regex ACL by role).
//!
//! `kbs-protocol.md` §8. [`AdminAuth`] is built once from [`AdminConfig`] at startup — every
//! key is loaded and every regex compiled then — and [`AdminAuth::check`] is a pure function
//! of the `Authorization` header, the request URI and the current time.

mod config;

use jose::{Jwk, VerifyingKey};
use regex::Regex;
use serde_json::Value;

pub use config::{
    AclEntryConfig, AdminConfig, AuthenticationConfig, AuthorizationConfig, BearerJwtConfig,
    IdentityProviderConfig, RegexAclConfig,
};

use crate::token::SourceError;
use crate::token::header::TokenHeader;
use crate::token::keys::{self, VerifyFailure};
use crate::token::source;

/// Admin authentication/authorization failures, at startup and per request.
///
/// Per-request texts keep the phrases upstream's integration tests look for
/// (`Cannot verify token with any of the issuers`, `DenyAll authorization_mode is enabled`,
/// `Role <role> not allowed`), so they are not lowercase. No variant carries the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `AuthenticatedAuthorization` without any identity provider.
    #[error("[admin] needs at least one entry in authentication.bearer_jwt.identity_providers")]
    NoIdentityProviders,
    /// An identity provider has neither `public_key_uri` nor `jwk_set_uri`.
    #[error("[admin] identity provider #{index} needs public_key_uri or jwk_set_uri")]
    NoKeySource {
        /// Position of the provider in `identity_providers` (from 0).
        index: usize,
    },
    /// A key source of an identity provider could not be loaded.
    #[error("[admin] identity provider #{index}: cannot load keys")]
    KeySource {
        /// Position of the provider in `identity_providers` (from 0).
        index: usize,
        /// The loading failure.
        #[source]
        source: SourceError,
    },
    /// `public_key_uri` does not hold a supported PEM public key.
    #[error(
        "[admin] identity provider #{index}: {uri} is not a PEM EC (P-256/P-384), RSA or Ed25519 public key"
    )]
    InvalidPublicKey {
        /// Position of the provider in `identity_providers` (from 0).
        index: usize,
        /// The configured `public_key_uri`.
        uri: String,
    },
    /// `AuthenticatedAuthorization` with an empty ACL would refuse every request.
    #[error("[admin] needs at least one entry in authorization.regex_acl.acls")]
    EmptyAcl,
    /// An ACL regex does not have the required `^/kbs ... $` anchoring.
    #[error("[admin] ACL regex {regex:?} must start with ^/kbs and end with $")]
    AclRegexNotAnchored {
        /// The configured regex.
        regex: String,
    },
    /// An ACL regex does not compile.
    #[error("[admin] ACL regex {regex:?} does not compile")]
    AclRegexInvalid {
        /// The configured regex.
        regex: String,
        /// The compiler's complaint.
        #[source]
        source: regex::Error,
    },

    /// The `Authorization` header is missing or not `Bearer <token>`.
    #[error("Failed to parse HTTP Auth Bearer header")]
    MissingBearer,
    /// `authorization_mode = "DenyAll"`.
    #[error("Admin access denied as DenyAll authorization_mode is enabled")]
    DenyAll,
    /// The bearer value is not a JWS compact token, or is unsigned (`alg: none`).
    #[error("Cannot verify token with any of the issuers: token is malformed or unsigned")]
    MalformedToken,
    /// No identity provider's keys verify the signature.
    #[error(
        "Cannot verify token with any of the issuers: signature not valid for any configured key"
    )]
    NoMatchingKey,
    /// A provider's key verifies the signature but `exp` has passed (60 s leeway).
    #[error("Cannot verify token with any of the issuers: token expired")]
    Expired,
    /// A provider's key verifies the signature but the token has no numeric `exp`.
    #[error("Cannot verify token with any of the issuers: token has no exp claim")]
    MissingExp,
    /// A provider's key verifies the signature but `nbf` is in the future.
    #[error("Cannot verify token with any of the issuers: token not yet valid")]
    NotYetValid,
    /// The signature verifies but `iss` is not the provider's `issuer`.
    #[error("Cannot verify token with any of the issuers: issuer {issuer:?} not accepted")]
    IssuerNotAccepted {
        /// The token's `iss`, when it is a string.
        issuer: Option<String>,
    },
    /// The signature verifies but `aud` does not contain the provider's `audience`.
    #[error(
        "Cannot verify token with any of the issuers: audience not accepted (expected {expected:?})"
    )]
    AudienceNotAccepted {
        /// The configured audience the token lacks.
        expected: String,
    },
    /// The verified token has no string `role` claim.
    #[error("Failed to parse claims from token: missing string claim role")]
    MissingRole,
    /// The token is valid but no ACL entry for its role matches the URI.
    #[error("Role {role} not allowed for path {uri}")]
    RoleNotAllowed {
        /// The token's `role`.
        role: String,
        /// The request URI (path plus `?query`).
        uri: String,
    },
}

impl Error {
    /// True only when the caller authenticated but its role may not use this endpoint
    /// (HTTP 403); every other failure means "not authenticated" (HTTP 401).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, Self::RoleNotAllowed { .. })
    }
}

/// Who an allowed admin request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminIdentity {
    /// Nobody checked: `authorization_mode = "InsecureAllowAll"`.
    Unauthenticated,
    /// A verified bearer token.
    Authenticated {
        /// The token's `role` claim.
        role: String,
        /// The `issuer` of the identity provider that accepted the token, if configured.
        issuer: Option<String>,
    },
}

/// Admin authentication and authorization, ready to check requests.
pub struct AdminAuth {
    mode: Mode,
}

enum Mode {
    InsecureAllowAll,
    DenyAll,
    Authenticated {
        providers: Vec<IdentityProvider>,
        acl: Vec<AclEntry>,
    },
}

struct IdentityProvider {
    issuer: Option<String>,
    audience: Option<String>,
    jwks: Vec<(Jwk, VerifyingKey)>,
    pem_keys: Vec<VerifyingKey>,
}

struct AclEntry {
    role: String,
    allowed: Regex,
}

// Keys stay out of debug output; the mode and counts are enough to diagnose a setup.
impl std::fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("AdminAuth");
        match &self.mode {
            Mode::InsecureAllowAll => out.field("mode", &"InsecureAllowAll"),
            Mode::DenyAll => out.field("mode", &"DenyAll"),
            Mode::Authenticated { providers, acl } => out
                .field("mode", &"AuthenticatedAuthorization")
                .field("identity_providers", &providers.len())
                .field("acl_entries", &acl.len()),
        };
        out.finish_non_exhaustive()
    }
}

impl AdminAuth {
    /// Validates the configuration and loads every identity provider's keys.
    pub async fn new(config: &AdminConfig) -> Result<Self, Error> {
        let mode = match config {
            AdminConfig::InsecureAllowAll {} => Mode::InsecureAllowAll,
            AdminConfig::DenyAll {} => Mode::DenyAll,
            AdminConfig::AuthenticatedAuthorization {
                authentication,
                authorization,
            } => {
                let configs = &authentication.bearer_jwt.identity_providers;
                if configs.is_empty() {
                    return Err(Error::NoIdentityProviders);
                }
                let acl = compile_acl(&authorization.regex_acl.acls)?;
                let mut providers = Vec::with_capacity(configs.len());
                for (index, provider) in configs.iter().enumerate() {
                    providers.push(IdentityProvider::load(index, provider).await?);
                }
                Mode::Authenticated { providers, acl }
            }
        };
        Ok(Self { mode })
    }

    /// True for `InsecureAllowAll`: the binary must warn loudly at startup.
    pub fn is_insecure(&self) -> bool {
        matches!(self.mode, Mode::InsecureAllowAll)
    }

    /// Checks one admin request: `authorization` is the `Authorization` header value,
    /// `uri_with_query` the request URI as received (path plus `?query`, if any).
    pub fn check(
        &self,
        authorization: Option<&str>,
        uri_with_query: &str,
        now_unix: u64,
    ) -> Result<AdminIdentity, Error> {
        let (providers, acl) = match &self.mode {
            Mode::InsecureAllowAll => return Ok(AdminIdentity::Unauthenticated),
            Mode::DenyAll => return Err(Error::DenyAll),
            Mode::Authenticated { providers, acl } => (providers, acl),
        };
        let token = bearer_token(authorization).ok_or(Error::MissingBearer)?;
        let (provider, claims) = authenticate(providers, token, now_unix)?;
        let role = claims
            .get("role")
            .and_then(Value::as_str)
            .ok_or(Error::MissingRole)?;
        let allowed = acl
            .iter()
            .any(|entry| entry.role == role && entry.allowed.is_match(uri_with_query));
        if !allowed {
            return Err(Error::RoleNotAllowed {
                role: role.to_owned(),
                uri: uri_with_query.to_owned(),
            });
        }
        Ok(AdminIdentity::Authenticated {
            role: role.to_owned(),
            issuer: provider.issuer.clone(),
        })
    }
}

impl IdentityProvider {
    async fn load(index: usize, config: &IdentityProviderConfig) -> Result<Self, Error> {
        if config.public_key_uri.is_none() && config.jwk_set_uri.is_none() {
            return Err(Error::NoKeySource { index });
        }
        let mut jwks = Vec::new();
        if let Some(uri) = &config.jwk_set_uri {
            let set = source::load_jwk_set(uri)
                .await
                .map_err(|source| Error::KeySource { index, source })?;
            for jwk in set {
                // Keys we cannot verify with (e.g. encryption keys) stay out of the set.
                match VerifyingKey::from_jwk(&jwk) {
                    Ok(key) => jwks.push((jwk, key)),
                    Err(e) => {
                        tracing::warn!(index, kid = ?keys::jwk_kid(&jwk), error = %e, "skipping admin JWK")
                    }
                }
            }
        }
        let mut pem_keys = Vec::new();
        if let Some(uri) = &config.public_key_uri {
            let pem = source::read_text(uri)
                .await
                .map_err(|source| Error::KeySource { index, source })?;
            let key =
                VerifyingKey::from_public_key_pem(&pem).map_err(|_| Error::InvalidPublicKey {
                    index,
                    uri: uri.clone(),
                })?;
            pem_keys.push(key);
        }
        Ok(Self {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            jwks,
            pem_keys,
        })
    }

    /// Verifies signature and expiry with this provider's keys: the JWK named by `kid` (whose
    /// `alg` must be the header's), then every PEM key (§4.2 step 4).
    fn verify(&self, token: &str, header: &TokenHeader, now_unix: u64) -> Result<Value, Error> {
        let by_kid = self.jwks.iter().filter(|(jwk, _)| {
            header.kid.is_some()
                && keys::jwk_kid(jwk) == header.kid.as_deref()
                && keys::jwk_alg(jwk) == Some(header.alg.as_str())
        });
        let candidates = by_kid.map(|(_, key)| key).chain(self.pem_keys.iter());
        let mut failure = Error::NoMatchingKey;
        for key in candidates {
            match keys::verify_jwt(token, key, now_unix) {
                Ok(claims) => return Ok(claims),
                Err(VerifyFailure::BadSignature) => {}
                Err(VerifyFailure::Expired) => failure = Error::Expired,
                Err(VerifyFailure::MissingExp) => failure = Error::MissingExp,
                Err(VerifyFailure::NotYetValid) => failure = Error::NotYetValid,
                Err(VerifyFailure::Malformed) => failure = Error::MalformedToken,
            }
        }
        Err(failure)
    }

    fn check_claims(&self, claims: &Value) -> Result<(), Error> {
        if let Some(issuer) = &self.issuer {
            let iss = claims.get("iss").and_then(Value::as_str);
            if iss != Some(issuer.as_str()) {
                return Err(Error::IssuerNotAccepted {
                    issuer: iss.map(str::to_owned),
                });
            }
        }
        if let Some(audience) = &self.audience {
            let accepted = match claims.get("aud") {
                Some(Value::String(aud)) => aud == audience,
                Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !accepted {
                return Err(Error::AudienceNotAccepted {
                    expected: audience.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Tries the providers in order; the first whose keys verify the token and whose issuer and
/// audience match accepts it. When none does, the most specific failure seen is reported.
fn authenticate<'a>(
    providers: &'a [IdentityProvider],
    token: &str,
    now_unix: u64,
) -> Result<(&'a IdentityProvider, Value), Error> {
    let header = TokenHeader::decode(token).ok_or(Error::MalformedToken)?;
    if header.is_unsigned() {
        return Err(Error::MalformedToken);
    }
    let mut failure = Error::NoMatchingKey;
    for provider in providers {
        match provider.verify(token, &header, now_unix) {
            Ok(claims) => match provider.check_claims(&claims) {
                Ok(()) => return Ok((provider, claims)),
                Err(mismatch) => failure = mismatch,
            },
            Err(Error::NoMatchingKey) => {}
            Err(other) => failure = other,
        }
    }
    Err(failure)
}

/// The token of an `Authorization: Bearer <token>` header; the scheme must be exactly `Bearer`.
fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    let (scheme, token) = authorization?.split_once(' ')?;
    let token = token.trim();
    (scheme == "Bearer" && !token.is_empty()).then_some(token)
}

fn compile_acl(entries: &[AclEntryConfig]) -> Result<Vec<AclEntry>, Error> {
    if entries.is_empty() {
        return Err(Error::EmptyAcl);
    }
    entries
        .iter()
        .map(|entry| {
            let regex = &entry.allowed_endpoints;
            // The anchors keep an ACL from matching a suffix or prefix of some other endpoint.
            if !regex.starts_with("^/kbs") || !regex.ends_with('$') {
                return Err(Error::AclRegexNotAnchored {
                    regex: regex.clone(),
                });
            }
            let allowed = Regex::new(regex).map_err(|source| Error::AclRegexInvalid {
                regex: regex.clone(),
                source,
            })?;
            Ok(AclEntry {
                role: entry.role.clone(),
                allowed,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
