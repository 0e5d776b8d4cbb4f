//! Validation of keys, namespace names and resource paths.

use std::fmt;

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

/// A resource path `<repository>/<type>/<tag>` as used by the KBS `resource` plugin.
///
/// Matches `^([A-Za-z0-9_-][A-Za-z0-9_.-]*)/([A-Za-z0-9_-][A-Za-z0-9_.-]*)/([A-Za-z0-9_-][A-Za-z0-9_.-]*)$`
/// (`kbs-protocol.md` §9.2): exactly three segments, none starting with a dot, so every
/// resource path is also a valid storage key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourcePath(String);

impl ResourcePath {
    /// Parses and validates a joined resource path.
    pub fn parse(path: &str) -> Result<Self> {
        let invalid = || Error::InvalidResourcePath {
            path: path.to_owned(),
        };
        let segments: Vec<&str> = path.split('/').collect();
        if segments.len() != 3 {
            return Err(invalid());
        }
        for segment in segments {
            let mut chars = segment.chars();
            let first_ok = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
            let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !first_ok || !rest_ok {
                return Err(invalid());
            }
        }
        Ok(Self(path.to_owned()))
    }

    /// The joined path, which is also the storage key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn segment(&self, index: usize) -> &str {
        // Parsing guarantees exactly three segments.
        self.0.split('/').nth(index).unwrap_or_default()
    }

    /// The first segment.
    pub fn repository(&self) -> &str {
        self.segment(0)
    }

    /// The second segment.
    pub fn resource_type(&self) -> &str {
        self.segment(1)
    }

    /// The third segment.
    pub fn tag(&self) -> &str {
        self.segment(2)
    }
}

impl fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ResourcePath {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
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

    #[test]
    fn parses_resource_paths() {
        let path = ResourcePath::parse("default/key/one.pem").unwrap();
        assert_eq!(path.repository(), "default");
        assert_eq!(path.resource_type(), "key");
        assert_eq!(path.tag(), "one.pem");
        assert_eq!(path.to_string(), "default/key/one.pem");
        assert!(validate_key(path.as_str()).is_ok());
    }

    #[test]
    fn rejects_malformed_resource_paths() {
        for bad in [
            "a/b", "a/b/c/d", ".a/b/c", "a/../c", "a//c", "a/b/c/", "a/b/c:d", "",
        ] {
            assert!(ResourcePath::parse(bad).is_err(), "{bad}");
        }
    }
}
