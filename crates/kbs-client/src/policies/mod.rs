//! Resource policies (Rego, `package policy`, rule `allow`) the CLI can upload by name, as
//! upstream's `set-resource-policy --allow-all|--deny-all|--affirming|--default` do.

/// Allows every `resource` plugin read by any attested client (`--allow-all`).
pub const ALLOW_ALL: &str = include_str!("allow_all.rego");

/// Allows nothing (`--deny-all`).
pub const DENY_ALL: &str = include_str!("deny_all.rego");

/// Allows reads only when every submodule of the token is `affirming` (`--affirming`).
pub const AFFIRMING: &str = include_str!("affirming.rego");

/// The KBS default policy: any attested TEE except the `sample` TEE (`--default`). Upstream's
/// client uploads deny-all for this flag although its help text promises this policy; we
/// upload what the help text promises.
pub const DEFAULT: &str = include_str!("default.rego");
