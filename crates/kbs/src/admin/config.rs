//! The `[admin]` section (`kbs-protocol.md` §8, §12), with upstream's key names.

use serde::Deserialize;

/// `[admin]`: how admin requests are authenticated and authorized. Tagged by
/// `authorization_mode`; unknown keys (such as the historical `type`) are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "authorization_mode", deny_unknown_fields)]
pub enum AdminConfig {
    /// Every admin request is allowed without credentials. For development only.
    InsecureAllowAll {},
    /// Every admin request is refused.
    DenyAll {},
    /// Bearer JWTs from the configured identity providers, authorized by a regex ACL on roles.
    AuthenticatedAuthorization {
        /// `[admin.authentication]`.
        authentication: AuthenticationConfig,
        /// `[admin.authorization]`.
        authorization: AuthorizationConfig,
    },
}

/// `[admin.authentication]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationConfig {
    /// `[admin.authentication.bearer_jwt]`.
    pub bearer_jwt: BearerJwtConfig,
}

/// `[admin.authentication.bearer_jwt]`. An empty table parses (as upstream) and is refused
/// when the KBS starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BearerJwtConfig {
    /// Tried in order for every admin request.
    #[serde(default)]
    pub identity_providers: Vec<IdentityProviderConfig>,
}

/// One trusted token issuer. At least one of `public_key_uri` and `jwk_set_uri` is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// When set, the token's `iss` must equal it.
    #[serde(default)]
    pub issuer: Option<String>,
    /// When set, the token's `aud` (string or array) must contain it.
    #[serde(default)]
    pub audience: Option<String>,
    /// A PEM public key (EC P-256/P-384, RSA or Ed25519): local path, `file://` or `https://`.
    #[serde(default)]
    pub public_key_uri: Option<String>,
    /// A JWK set: local path, `file://` or `https://` (with the OpenID-configuration fallback).
    #[serde(default)]
    pub jwk_set_uri: Option<String>,
}

/// `[admin.authorization]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// `[admin.authorization.regex_acl]`.
    pub regex_acl: RegexAclConfig,
}

/// `[admin.authorization.regex_acl]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexAclConfig {
    /// Walked in order; the first entry for the token's role whose regex matches allows.
    #[serde(default)]
    pub acls: Vec<AclEntryConfig>,
}

/// One ACL entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclEntryConfig {
    /// The JWT `role` claim this entry applies to.
    pub role: String,
    /// A regex over the request URI (path plus `?query`); must start with `^/kbs` and end
    /// with `$`.
    pub allowed_endpoints: String,
}
