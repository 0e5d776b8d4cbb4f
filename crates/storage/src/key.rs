//! Validation of keys and namespace names.

use crate::error::{Error, KeyRule, Result};

/// Checks a storage key.
///
/// Keys are limited to `[A-Za-z0-9._/-]`, must be non-empty, must not start with `/` and must not
/// contain empty, `.` or `..` segments. Upstream only checks the character set, and only on `set`
/// in the file backends; we check every operation in every backend so that a key can never name
/// a file outside its namespace and so that a key valid in one backend is valid in all.
pub fn validate_key(key: &str) -> Result<()> {
    check_name(key, false).map_err(|rule| Error::InvalidKey {
        key: key.to_owned(),
        rule,
    })
}

/// Checks a namespace name (`attestation-service.md` §12): non-empty, no leading or trailing
/// `/`, no empty, `.` or `..` segments, and the key character set.
pub fn validate_namespace(namespace: &str) -> Result<()> {
    check_name(namespace, true).map_err(|rule| Error::InvalidNamespace {
        namespace: namespace.to_owned(),
        rule,
    })
}

fn check_name(name: &str, is_namespace: bool) -> std::result::Result<(), KeyRule> {
    if name.is_empty() {
        return Err(KeyRule::Empty);
    }
    if let Some(c) = name.chars().find(|c| !is_key_char(*c)) {
        return Err(KeyRule::ForbiddenCharacter(c));
    }
    if name.starts_with('/') {
        return Err(KeyRule::LeadingSlash);
    }
    if is_namespace && name.ends_with('/') {
        return Err(KeyRule::TrailingSlash);
    }
    for segment in name.split('/') {
        match segment {
            "" => return Err(KeyRule::EmptySegment),
            "." | ".." => return Err(KeyRule::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_rule(key: &str) -> Option<KeyRule> {
        match validate_key(key) {
            Ok(()) => None,
            Err(Error::InvalidKey { rule, .. }) => Some(rule),
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn accepts_ordinary_keys() {
        for key in [
            "a",
            "one/two/three",
            "default_cpu.rego",
            ".hidden",
            "a-b/c.d_e",
            "a..b",
        ] {
            assert_eq!(key_rule(key), None, "{key}");
        }
    }

    #[test]
    fn names_the_rule_each_bad_key_breaks() {
        assert_eq!(key_rule(""), Some(KeyRule::Empty));
        assert_eq!(key_rule("/abs"), Some(KeyRule::LeadingSlash));
        assert_eq!(key_rule("a//b"), Some(KeyRule::EmptySegment));
        assert_eq!(key_rule("a/"), Some(KeyRule::EmptySegment));
        assert_eq!(key_rule("../x"), Some(KeyRule::DotSegment));
        assert_eq!(key_rule("a/../b"), Some(KeyRule::DotSegment));
        assert_eq!(key_rule("."), Some(KeyRule::DotSegment));
        assert_eq!(key_rule("a\\x2Fb"), Some(KeyRule::ForbiddenCharacter('\\')));
        assert_eq!(key_rule("a:b"), Some(KeyRule::ForbiddenCharacter(':')));
        assert_eq!(key_rule("a b"), Some(KeyRule::ForbiddenCharacter(' ')));
    }

    #[test]
    fn rejects_bad_namespaces() {
        for ns in ["", "/abs", "trailing/", "a//b", "a/../b", ".", "..", "a:b"] {
            assert!(
                matches!(validate_namespace(ns), Err(Error::InvalidNamespace { .. })),
                "{ns}"
            );
        }
        assert!(matches!(
            validate_namespace("trailing/"),
            Err(Error::InvalidNamespace {
                rule: KeyRule::TrailingSlash,
                ..
            })
        ));
        for ns in ["kbs", "reference_value", "a/b"] {
            assert!(validate_namespace(ns).is_ok(), "{ns}");
        }
    }
}
