//! What a verifier hands back: claims and the device class they describe.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::Error;

/// Claims a verifier derived from checked evidence: always a JSON object.
///
/// A verifier that checked (or can report) the report data or init data puts them as the
/// top-level **string** claims `report_data` / `init_data`; the attestation service lifts
/// them out of the TEE namespace (attestation-service spec §4.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct TeeEvidenceClaims(Map<String, Value>);

impl TeeEvidenceClaims {
    /// Wraps an already built JSON object.
    pub fn new(claims: Map<String, Value>) -> Self {
        Self(claims)
    }

    /// Accepts a JSON value only if it is an object.
    pub fn from_value(value: Value) -> Result<Self, Error> {
        match value {
            Value::Object(map) => Ok(Self(map)),
            _ => Err(Error::ClaimsNotObject),
        }
    }

    /// Claims built as a serialisable value (a verifier's claims struct), which must
    /// serialise to a JSON object.
    pub(crate) fn from_serialize(claims: &impl Serialize) -> Result<Self, Error> {
        let value = serde_json::to_value(claims).map_err(|_| Error::ClaimsNotObject)?;
        Self::from_value(value)
    }

    /// The claims as a JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Takes the JSON object out.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// Takes the claims out as a JSON value (always an object).
    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

impl From<Map<String, Value>> for TeeEvidenceClaims {
    fn from(claims: Map<String, Value>) -> Self {
        Self(claims)
    }
}

/// The class of device a set of claims describes; it picks the policy (`<id>_<class>`) and
/// names the token submodule (`<class><n>`, e.g. `cpu0`, `gpu1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TeeClass {
    /// The primary CPU TEE (every confidential VM or enclave).
    Cpu,
    /// A GPU (NVIDIA, sample device).
    Gpu,
    /// An NVSwitch.
    Switch,
    /// NVIDIA protected PCIe topology.
    Ppcie,
    /// A Hygon DCU.
    Dcu,
    /// Any other class a future verifier reports (e.g. `nvidia-dpu`), kept verbatim.
    Other(String),
}

impl TeeClass {
    /// The class name as used in policy ids and submodule names.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
            Self::Switch => "switch",
            Self::Ppcie => "ppcie",
            Self::Dcu => "dcu",
            Self::Other(name) => name,
        }
    }
}

impl fmt::Display for TeeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn class_display_is_the_submod_prefix() {
        let names: Vec<String> = [
            TeeClass::Cpu,
            TeeClass::Gpu,
            TeeClass::Switch,
            TeeClass::Ppcie,
            TeeClass::Dcu,
            TeeClass::Other("nvidia-dpu".into()),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            names,
            ["cpu", "gpu", "switch", "ppcie", "dcu", "nvidia-dpu"]
        );
    }

    #[test]
    fn claims_reject_non_objects() {
        assert_eq!(
            TeeEvidenceClaims::from_value(json!(["svn"])),
            Err(Error::ClaimsNotObject)
        );
        let claims = TeeEvidenceClaims::from_value(json!({"svn": "1"})).unwrap();
        assert_eq!(claims.into_value(), json!({"svn": "1"}));
    }

    #[test]
    fn serialised_claims_must_be_objects() {
        #[derive(Serialize)]
        struct Claims {
            svn: &'static str,
        }
        let claims = TeeEvidenceClaims::from_serialize(&Claims { svn: "1" }).unwrap();
        assert_eq!(claims.into_value(), json!({"svn": "1"}));
        assert_eq!(
            TeeEvidenceClaims::from_serialize(&["svn"]),
            Err(Error::ClaimsNotObject)
        );
    }
}
