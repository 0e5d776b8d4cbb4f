//! The register message and the extractors that turn its payload into named values.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::record::VERSION;

/// `{"version": "0.1.0", "type": "sample", "payload": "<base64>"}` (AS spec §10.1). Unknown
/// keys are ignored, as upstream.
#[derive(Debug, Deserialize)]
struct RegisterMessage {
    #[serde(default = "default_version")]
    version: String,
    #[serde(rename = "type")]
    kind: String,
    payload: String,
}

fn default_version() -> String {
    VERSION.to_owned()
}

/// Parses a register message and runs its extractor: the named values it carries.
pub(crate) fn extract(message: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    let message: RegisterMessage =
        serde_json::from_str(message).map_err(Error::MalformedMessage)?;
    if message.version != VERSION {
        return Err(Error::VersionUnmatched {
            expected: VERSION,
            given: message.version,
        });
    }
    match message.kind.as_str() {
        "sample" => extract_sample(&message.payload),
        "corim" => extract_corim(&message.payload),
        "swid" => extract_swid(&message.payload),
        _ => Err(Error::UnknownType { kind: message.kind }),
    }
}

/// `corim`: the payload is a CBOR CoRIM (`crate::corim`); a signature, if any, is not checked.
fn extract_corim(payload: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    let bytes = STANDARD
        .decode(payload)
        .map_err(|_| Error::PayloadNotBase64)?;
    // Registering stores one value per name, so a later duplicate name wins, as upstream.
    Ok(crate::corim::extract(&bytes)?.into_iter().collect())
}

/// `swid`: the payload is a SWID/TCG RIM XML document (`crate::swid`); its XML signature, if
/// any, is not checked.
fn extract_swid(payload: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    let bytes = STANDARD
        .decode(payload)
        .map_err(|_| Error::PayloadNotBase64)?;
    // A later duplicate name wins, as upstream (which stores the values in order).
    Ok(crate::swid::extract(&bytes)?.into_iter().collect())
}

/// `sample`: the payload is a JSON object name → value, with no signature to check.
fn extract_sample(payload: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    // STANDARD requires the `+/` alphabet and canonical padding, as upstream's decoder does.
    let bytes = STANDARD
        .decode(payload)
        .map_err(|_| Error::PayloadNotBase64)?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(values)) => Ok(values),
        _ => Err(Error::PayloadNotObject),
    }
}
