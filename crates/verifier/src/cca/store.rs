//! The verifier's configuration: CPAK trust anchors and optional reference values, in the
//! JSON formats of upstream's local CCA verifier (`tastore.json`, `rvstore.json`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::CcaError;
use super::cose::EcKey;
use super::token::{PlatformClaims, RealmClaims, SwComponent};

/// Largest store file read.
const MAX_STORE_FILE: u64 = 4 * 1024 * 1024;

/// `verifier_config.cca_verifier`: upstream's `cca-verifier` object (from `CCA_CONFIG_FILE`),
/// local mode only, plus inline alternatives to the two store files.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CcaVerifierConfig {
    /// `local` (the only mode here; `remote` is Veraison's service).
    #[serde(rename = "type", default)]
    kind: Option<String>,
    /// Path of a trust-anchor store (`tastore.json`).
    #[serde(rename = "ta-store", default)]
    ta_store: Option<PathBuf>,
    /// Path of a reference-value store (`rvstore.json`).
    #[serde(rename = "rv-store", default)]
    rv_store: Option<PathBuf>,
    /// Inline trust anchors, same format as the `ta-store` file.
    #[serde(rename = "trust-anchors", default)]
    trust_anchors: Option<Value>,
    /// Inline reference values, same format as the `rv-store` file.
    #[serde(rename = "reference-values", default)]
    reference_values: Option<Value>,
}

/// One CPAK: the key that signs a platform's tokens, and the platform it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    /// The CPAK.
    pub key: EcKey,
    /// The platform's implementation id (32 bytes).
    pub implementation_id: Vec<u8>,
    /// The platform's instance id (33 bytes), the lookup key.
    pub instance_id: Vec<u8>,
}

#[derive(Deserialize)]
struct TrustAnchorJson {
    pkey: Value,
    #[serde(rename = "implementation-id", deserialize_with = "hex_bytes")]
    implementation_id: Vec<u8>,
    #[serde(rename = "instance-id", deserialize_with = "hex_bytes")]
    instance_id: Vec<u8>,
}

/// A measured component as a reference value: hex measurement and signer, and optionally
/// the version and type that must also match.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SwComponentRv {
    /// Expected `measurement-value`.
    #[serde(rename = "measurement-value", deserialize_with = "hex_bytes")]
    pub measurement_value: Vec<u8>,
    /// Expected `signer-id`.
    #[serde(rename = "signer-id", deserialize_with = "hex_bytes")]
    pub signer_id: Vec<u8>,
    /// Expected `version`, if given.
    #[serde(default)]
    pub version: Option<String>,
    /// Expected `measurement-type`, if given.
    #[serde(rename = "component-type", default)]
    pub component_type: Option<String>,
}

impl SwComponentRv {
    fn matches(&self, component: &SwComponent) -> bool {
        self.measurement_value == component.measurement_value
            && self.signer_id == component.signer_id
            && self
                .version
                .as_ref()
                .is_none_or(|v| component.version.as_ref() == Some(v))
            && self
                .component_type
                .as_ref()
                .is_none_or(|t| component.measurement_type.as_ref() == Some(t))
    }
}

/// One acceptable platform state.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PlatformRv {
    /// The platform's implementation id.
    #[serde(rename = "implementation-id", deserialize_with = "hex_bytes")]
    pub implementation_id: Vec<u8>,
    /// Every software component, in token order.
    #[serde(rename = "sw-components")]
    pub sw_components: Vec<SwComponentRv>,
    /// The platform configuration.
    #[serde(rename = "platform-configuration", deserialize_with = "hex_bytes")]
    pub config: Vec<u8>,
}

/// One acceptable realm.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RealmRv {
    /// The realm initial measurement.
    #[serde(rename = "initial-measurement", deserialize_with = "hex_bytes")]
    pub initial_measurement: Vec<u8>,
    /// The four REMs, when they must match too.
    #[serde(rename = "extensible-measurements", default)]
    pub extensible_measurements: Vec<HexBytes>,
}

/// A hex-encoded byte string in a store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HexBytes(#[serde(deserialize_with = "hex_bytes")] pub Vec<u8>);

/// Reference values: platform states and realms (`rvstore.json`). Other members of realm
/// entries (`personalization-value`, `rak-hash-algorithm`) are ignored: the RPV is the
/// init-data binding, checked against the caller's init data instead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ReferenceValues {
    /// Acceptable platform states.
    #[serde(default)]
    pub platform: Vec<PlatformRv>,
    /// Acceptable realms.
    #[serde(default)]
    pub realm: Vec<RealmRv>,
}

impl ReferenceValues {
    /// The platform must match an entry for its implementation id: same configuration and
    /// the same software components in the same order (upstream's appraisal).
    pub fn appraise_platform(&self, platform: &PlatformClaims) -> Result<(), CcaError> {
        let mut candidates = self
            .platform
            .iter()
            .filter(|rv| rv.implementation_id == platform.implementation_id)
            .peekable();
        if candidates.peek().is_none() {
            return Err(CcaError::UnknownPlatform {
                implementation_id: hex::encode(&platform.implementation_id),
            });
        }
        let matched = candidates.any(|rv| {
            rv.config == platform.config
                && rv.sw_components.len() == platform.sw_components.len()
                && rv
                    .sw_components
                    .iter()
                    .zip(&platform.sw_components)
                    .all(|(rv, component)| rv.matches(component))
        });
        if matched {
            Ok(())
        } else {
            Err(CcaError::PlatformReferenceValues)
        }
    }

    /// When realms are listed, the realm's RIM must be one of them, with the REMs too where
    /// the entry lists them.
    pub fn appraise_realm(&self, realm: &RealmClaims) -> Result<(), CcaError> {
        if self.realm.is_empty() {
            return Ok(());
        }
        let matched = self.realm.iter().any(|rv| {
            rv.initial_measurement == realm.initial_measurement
                && (rv.extensible_measurements.is_empty()
                    || rv
                        .extensible_measurements
                        .iter()
                        .map(|rem| &rem.0)
                        .eq(realm.extensible_measurements.iter()))
        });
        if matched {
            Ok(())
        } else {
            Err(CcaError::RealmReferenceValues)
        }
    }
}

/// What the verifier was configured with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CcaConfig {
    /// CPAKs by platform instance id.
    pub trust_anchors: Vec<TrustAnchor>,
    /// Reference values; `None` leaves all appraisal to the policy.
    pub reference_values: Option<ReferenceValues>,
}

fn config_error(reason: impl Into<String>) -> CcaError {
    CcaError::Config {
        reason: reason.into(),
    }
}

impl CcaConfig {
    /// Reads `verifier_config.cca_verifier`, loading the store files it names.
    pub fn from_table(table: Option<&Map<String, Value>>) -> Result<Self, CcaError> {
        let Some(table) = table else {
            return Ok(Self::default());
        };
        let config = CcaVerifierConfig::deserialize(Value::Object(table.clone()))
            .map_err(|err| config_error(err.to_string()))?;
        match config.kind.as_deref() {
            None | Some("local") => {}
            Some(other) => {
                return Err(config_error(format!(
                    "type `{other}` is not supported: only local verification is implemented"
                )));
            }
        }
        let mut trust_anchors = Vec::new();
        if let Some(path) = &config.ta_store {
            trust_anchors.extend(parse_trust_anchors(read_store(path)?)?);
        }
        if let Some(inline) = config.trust_anchors {
            trust_anchors.extend(parse_trust_anchors(inline)?);
        }
        let reference_values = match (&config.rv_store, config.reference_values) {
            (Some(_), Some(_)) => {
                return Err(config_error(
                    "give either `rv-store` or `reference-values`, not both",
                ));
            }
            (Some(path), None) => Some(parse_reference_values(read_store(path)?)?),
            (None, Some(inline)) => Some(parse_reference_values(inline)?),
            (None, None) => None,
        };
        Ok(Self {
            trust_anchors,
            reference_values,
        })
    }

    /// The CPAK configured for `instance_id`.
    pub fn trust_anchor(&self, instance_id: &[u8]) -> Option<&TrustAnchor> {
        self.trust_anchors
            .iter()
            .find(|anchor| anchor.instance_id == instance_id)
    }
}

/// Parses a trust-anchor store: `[{"pkey": JWK, "implementation-id": hex, "instance-id": hex}]`.
pub fn parse_trust_anchors(json: Value) -> Result<Vec<TrustAnchor>, CcaError> {
    let entries = Vec::<TrustAnchorJson>::deserialize(json)
        .map_err(|err| config_error(format!("trust anchors: {err}")))?;
    entries
        .into_iter()
        .map(|entry| {
            Ok(TrustAnchor {
                key: EcKey::from_jwk(&entry.pkey)
                    .map_err(|err| config_error(format!("trust anchor pkey: {err}")))?,
                implementation_id: entry.implementation_id,
                instance_id: entry.instance_id,
            })
        })
        .collect()
}

/// Parses a reference-value store (`{"platform": [...], "realm": [...]}`).
pub fn parse_reference_values(json: Value) -> Result<ReferenceValues, CcaError> {
    ReferenceValues::deserialize(json)
        .map_err(|err| config_error(format!("reference values: {err}")))
}

fn read_store(path: &Path) -> Result<Value, CcaError> {
    let unreadable = |err: std::io::Error| config_error(format!("{}: {err}", path.display()));
    let len = std::fs::metadata(path).map_err(unreadable)?.len();
    if len > MAX_STORE_FILE {
        return Err(config_error(format!(
            "{}: {len} bytes, at most {MAX_STORE_FILE} accepted",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    serde_json::from_slice(&bytes)
        .map_err(|err| config_error(format!("{}: not JSON: {err}", path.display())))
}

/// Deserialises a hex string (either case) into bytes.
fn hex_bytes<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    hex::decode(text).map_err(serde::de::Error::custom)
}
