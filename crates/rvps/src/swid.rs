//! The `swid` extractor (AS spec §10.2): reference values from the measurement resources of a
//! SWID tag carrying a TCG RIM (e.g. an NVIDIA GPU VBIOS or driver RIM).
//!
//! The document's first `Meta` element (SWID namespace) names the source: its
//! `PlatformManufacturerStr` attribute (TCG RIM information model namespace, spaces → `_`) and
//! its `edition` attribute (no namespace) give the prefix `<manufacturer>.<edition>`. Every
//! `Resource` with `type="Measurement"` under the first `Payload` element, in document order,
//! gives `<prefix>.measurement_<index>` (its `index` attribute; every `-` of the whole name
//! becomes `_`) = the array of its attributes `Hash0`, `Hash1`, ... (namespace
//! `http://www.w3.org/2001/04/xmlenc#sha384`), read until the first missing number, leaving out
//! the all-`0` ones (an all-zero hash marks "nothing measured here"); a resource left with no
//! hash is skipped. The hash text is kept as written, as upstream does.
//!
//! In an NVIDIA RIM, `edition` is an attribute of `Meta` (`edition="GPU"`), and every
//! measurement resource carries its own `index` attribute, which names the value rather than
//! the resource's position (e.g. `NVIDIA_Corporation.GPU.measurement_12`).
//!
//! The XML signature of the RIM (`ds:Signature`) is **not verified**, as upstream: registering
//! is already an authenticated admin operation, and the RIM's authenticity must be established
//! before it is registered.
//!
//! The document is parsed by `roxmltree` with document type declarations refused (so no
//! entity can be declared, let alone expanded), at most [`MAX_DOCUMENT_BYTES`] bytes and
//! [`MAX_NODES`] nodes.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::error::SwidError;

/// Largest document read. A real H100 VBIOS RIM is about 20 KiB (64 measurements plus the
/// signature and its certificate chain).
pub(crate) const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Most XML nodes (elements, text, comments, ...) in the document.
pub(crate) const MAX_NODES: u32 = 100_000;

/// Most reference values one document may yield (each is one store write).
pub(crate) const MAX_VALUES: usize = 4096;

/// Longest reference value name produced.
pub(crate) const MAX_NAME_BYTES: usize = 1024;

/// ISO/IEC 19770-2:2015 SWID tag namespace (`Meta`, `Payload`, `Resource`).
pub(crate) const SWID_NS: &str = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd";
/// TCG RIM information model namespace (`PlatformManufacturerStr`).
pub(crate) const RIMIM_NS: &str = "https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/";
/// The namespace of the `HashN` attributes (the SHA-384 algorithm identifier of XML Encryption).
pub(crate) const HASH_NS: &str = "http://www.w3.org/2001/04/xmlenc#sha384";

/// Name → value pairs in document order (a later duplicate name replaces an earlier one).
pub(crate) type Values = Vec<(String, Json)>;

/// Reads the reference values of a decoded `swid` payload.
pub(crate) fn extract(payload: &[u8]) -> Result<Values, SwidError> {
    if payload.len() > MAX_DOCUMENT_BYTES {
        return Err(SwidError::TooLarge {
            size: payload.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let text = std::str::from_utf8(payload).map_err(|e| SwidError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let options = roxmltree::ParsingOptions {
        // Refused: no entity can then be declared, so none is expanded.
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let document = roxmltree::Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => SwidError::Dtd,
        roxmltree::Error::NodesLimitReached => SwidError::TooManyNodes { limit: MAX_NODES },
        other => SwidError::NotXml {
            reason: other.to_string(),
        },
    })?;

    let meta = document
        .descendants()
        .find(|n| n.has_tag_name((SWID_NS, "Meta")))
        .ok_or(SwidError::NoMeta)?;
    let manufacturer = meta
        .attribute((RIMIM_NS, "PlatformManufacturerStr"))
        .ok_or(SwidError::NoManufacturer)?
        .replace(' ', "_");
    let edition = meta.attribute("edition").ok_or(SwidError::NoEdition)?;

    let payload = document
        .descendants()
        .find(|n| n.has_tag_name((SWID_NS, "Payload")))
        .ok_or(SwidError::NoPayload)?;

    let mut values = Values::new();
    let measurements = payload
        .descendants()
        .filter(|n| n.has_tag_name((SWID_NS, "Resource")))
        .filter(|n| n.attribute("type") == Some("Measurement"));
    for (position, resource) in measurements.enumerate() {
        let index = resource
            .attribute("index")
            .ok_or(SwidError::NoIndex { position })?;
        let hashes = hashes(&resource);
        if hashes.is_empty() {
            // Nothing measured at this index; registering it would only clash with another
            // RIM describing the same measurement.
            continue;
        }
        let name = format!("{manufacturer}.{edition}.measurement_{index}").replace('-', "_");
        if name.len() > MAX_NAME_BYTES {
            return Err(SwidError::NameTooLong {
                position,
                length: name.len(),
                limit: MAX_NAME_BYTES,
            });
        }
        if values.len() >= MAX_VALUES {
            return Err(SwidError::TooManyValues { limit: MAX_VALUES });
        }
        values.push((name, Json::Array(hashes)));
    }
    Ok(values)
}

/// The non-all-zero `Hash0`, `Hash1`, ... attributes of a resource, up to the first missing
/// number.
fn hashes(resource: &roxmltree::Node<'_, '_>) -> Vec<Json> {
    // One pass over the attributes (looking each `HashN` up in turn would be quadratic in a
    // resource with many of them).
    let numbered: HashMap<usize, &str> = resource
        .attributes()
        .filter(|a| a.namespace() == Some(HASH_NS))
        .filter_map(|a| Some((hash_number(a.name())?, a.value())))
        .collect();
    (0..)
        .map_while(|n| numbered.get(&n))
        // An empty value counts as all-zero, as upstream.
        .filter(|hash| !hash.chars().all(|c| c == '0'))
        .map(|hash| Json::String((*hash).to_owned()))
        .collect()
}

/// `N` of an attribute named `HashN`, `N` written in decimal without leading zeros (the only
/// spelling the `Hash0, Hash1, ...` sequence uses).
fn hash_number(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("Hash")?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if canonical { digits.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn hash_numbers_are_canonical_decimal() {
        assert_eq!(hash_number("Hash0"), Some(0));
        assert_eq!(hash_number("Hash12"), Some(12));
        assert_eq!(hash_number("Hash01"), None);
        assert_eq!(hash_number("Hash"), None);
        assert_eq!(hash_number("Hash+1"), None);
        assert_eq!(hash_number("Hash1a"), None);
        assert_eq!(hash_number("hash1"), None);
        assert_eq!(hash_number("Hash99999999999999999999999"), None);
    }
}
