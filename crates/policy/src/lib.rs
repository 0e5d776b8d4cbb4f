//! Rego policy engine (regorus) with compile-once cache and policy store
