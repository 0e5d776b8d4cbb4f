//! Splitting `/kbs/v0/<plugin>/<resource path…>?<query>` (spec §1.3) from the raw request URI.
//!
//! Segments are percent-decoded one by one, after splitting, so `%2F` can never create a
//! segment boundary; a decoded segment that contains `/` or is `.`/`..` is refused before any
//! handler or storage sees it, so no backend has to defend against traversal on its own.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

/// Prefix of every protocol route.
pub const API_PREFIX: &str = "/kbs/v0/";

/// The parts of a `/kbs/v0/…` request the dispatcher and plugins work with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbsPath {
    /// First segment after `/kbs/v0/`: a built-in endpoint or a plugin name (may be empty).
    pub plugin: String,
    /// The remaining segments, decoded; a trailing `/` yields a trailing `""`.
    pub resource_path: Vec<String>,
}

/// A request path segment or query that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// A segment decodes to something that could escape its place in a storage key.
    #[error("request path segment `{segment}` is invalid: {reason}")]
    InvalidSegment {
        /// The segment as received (still percent-encoded).
        segment: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The path does not start with `/kbs/v0/`.
    #[error("request path does not start with {API_PREFIX}")]
    NotUnderPrefix,
    /// The query string does not decode to UTF-8 `key=value` pairs.
    #[error("query string is malformed: {reason}")]
    InvalidQuery {
        /// Why it was refused.
        reason: &'static str,
    },
}

/// Parses the raw (still percent-encoded) URI path of a `/kbs/v0/…` request.
pub fn parse_kbs_path(raw_path: &str) -> Result<KbsPath, PathError> {
    let rest = raw_path
        .strip_prefix(API_PREFIX)
        .ok_or(PathError::NotUnderPrefix)?;
    let mut segments = rest.split('/').map(decode_segment);
    // `split` always yields at least one item, possibly "" (`GET /kbs/v0/` → plugin "").
    let plugin = segments.next().transpose()?.unwrap_or_default();
    let resource_path = segments.collect::<Result<Vec<_>, _>>()?;
    Ok(KbsPath {
        plugin,
        resource_path,
    })
}

/// Parses a raw query string (`a=1&b=x%2Fy`) into a map; the last of repeated keys wins.
pub fn parse_query(raw_query: Option<&str>) -> Result<BTreeMap<String, String>, PathError> {
    let mut map = BTreeMap::new();
    for pair in raw_query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        map.insert(decode_form_component(key)?, decode_form_component(value)?);
    }
    Ok(map)
}

fn decode_segment(raw: &str) -> Result<String, PathError> {
    let invalid = |reason| PathError::InvalidSegment {
        segment: raw.to_owned(),
        reason,
    };
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| invalid("not UTF-8 after percent-decoding"))?;
    if decoded.contains('/') || decoded.contains('\\') {
        return Err(invalid("contains an encoded path separator"));
    }
    if decoded == "." || decoded == ".." {
        return Err(invalid("is a relative path component"));
    }
    if decoded.chars().any(char::is_control) {
        return Err(invalid("contains a control character"));
    }
    Ok(decoded.into_owned())
}

fn decode_form_component(raw: &str) -> Result<String, PathError> {
    // application/x-www-form-urlencoded: `+` is a space, then percent-decoding.
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| PathError::InvalidQuery {
            reason: "not UTF-8 after percent-decoding",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(plugin: &str, rest: &[&str]) -> KbsPath {
        KbsPath {
            plugin: plugin.into(),
            resource_path: rest.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn splits_plugin_and_resource_path() {
        assert_eq!(
            parse_kbs_path("/kbs/v0/resource/a/b/c").unwrap(),
            path("resource", &["a", "b", "c"])
        );
        assert_eq!(parse_kbs_path("/kbs/v0/auth").unwrap(), path("auth", &[]));
        assert_eq!(parse_kbs_path("/kbs/v0/").unwrap(), path("", &[]));
        assert_eq!(
            parse_kbs_path("/kbs/v0/resource/a/").unwrap(),
            path("resource", &["a", ""])
        );
    }

    #[test]
    fn decodes_each_segment_after_splitting() {
        assert_eq!(
            parse_kbs_path("/kbs/v0/resource/a%20b/c").unwrap(),
            path("resource", &["a b", "c"])
        );
    }

    #[test]
    fn refuses_encoded_separators_and_dot_segments() {
        for bad in [
            "/kbs/v0/resource/a%2Fb/c/d",
            "/kbs/v0/resource/a%2fb",
            "/kbs/v0/resource/a%5Cb",
            "/kbs/v0/resource/%2e%2e/b/c",
            "/kbs/v0/resource/../b/c",
            "/kbs/v0/resource/./b/c",
            "/kbs/v0/resource/%2E/b/c",
            "/kbs/v0/%2e%2e",
            "/kbs/v0/resource/a%00/b/c",
            "/kbs/v0/resource/%ff/b/c",
        ] {
            let err = parse_kbs_path(bad).unwrap_err();
            assert!(
                matches!(err, PathError::InvalidSegment { .. }),
                "{bad}: {err:?}"
            );
        }
        let err = parse_kbs_path("/kbs/v0/resource/%2e%2e/b").unwrap_err();
        assert!(err.to_string().contains("`%2e%2e`"), "{err}");
    }

    #[test]
    fn parses_query_into_a_map() {
        let q = parse_query(Some("name=a&ip=1.2.3.4%2F21&flag&x=a+b")).unwrap();
        assert_eq!(q["name"], "a");
        assert_eq!(q["ip"], "1.2.3.4/21");
        assert_eq!(q["flag"], "");
        assert_eq!(q["x"], "a b");
        assert!(parse_query(None).unwrap().is_empty());
        assert!(parse_query(Some("a=%ff")).is_err());
    }
}
