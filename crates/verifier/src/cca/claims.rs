//! The claims of a verified CCA token, with upstream's names (`cca-platform-*`,
//! `cca-realm-*`, as in trustee's `cca-claims.json`) and encodings: byte strings standard
//! base64, `report_data` and `init_data` hex.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use super::token::{PlatformClaims, RealmClaims, SwComponent};

/// Claims about a verified CCA realm and the platform it runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CcaClaims {
    /// The platform token's claims.
    pub platform: PlatformClaimsOut,
    /// The realm token's claims.
    pub realm: RealmClaimsOut,
    /// The realm challenge (hex): the report data the token is bound to.
    pub report_data: String,
    /// The realm personalization value (hex): where init data is bound.
    pub init_data: String,
}

/// `platform` claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PlatformClaimsOut {
    /// Profile URI.
    pub cca_platform_profile: String,
    /// Implementation id (base64).
    pub cca_platform_implementation_id: String,
    /// Instance id (base64).
    pub cca_platform_instance_id: String,
    /// Challenge: the hash of the RAK (base64).
    pub cca_platform_challenge: String,
    /// Configuration (base64).
    pub cca_platform_config: String,
    /// Security lifecycle state.
    pub cca_platform_lifecycle: u64,
    /// Measured firmware components.
    pub cca_platform_sw_components: Vec<SwComponentOut>,
    /// Verification service indicator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_platform_service_indicator: Option<String>,
    /// Hash algorithm of the platform measurements.
    pub cca_platform_hash_algo_id: String,
}

/// One entry of `cca-platform-sw-components`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SwComponentOut {
    /// Component type (e.g. `RMM`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurement_type: Option<String>,
    /// Measurement (base64).
    pub measurement_value: String,
    /// Version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Signer id (base64).
    pub signer_id: String,
    /// Measurement description (hash algorithm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measurement_description: Option<String>,
}

/// `realm` claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RealmClaimsOut {
    /// Profile (2023 format only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_realm_profile: Option<String>,
    /// Challenge (base64).
    pub cca_realm_challenge: String,
    /// Personalization value (base64).
    pub cca_realm_personalization_value: String,
    /// Realm initial measurement (base64).
    pub cca_realm_initial_measurement: String,
    /// The four realm extensible measurements (base64).
    pub cca_realm_extensible_measurements: Vec<String>,
    /// Hash algorithm of the measurements.
    pub cca_realm_hash_algo_id: String,
    /// The RAK as carried in the token (base64).
    pub cca_realm_public_key: String,
    /// Hash algorithm of the RAK binding.
    pub cca_realm_public_key_hash_algo_id: String,
}

impl CcaClaims {
    /// Claims of a token whose every check passed.
    pub fn new(platform: &PlatformClaims, realm: &RealmClaims) -> Self {
        Self {
            platform: PlatformClaimsOut {
                cca_platform_profile: platform.profile.clone(),
                cca_platform_implementation_id: STANDARD.encode(&platform.implementation_id),
                cca_platform_instance_id: STANDARD.encode(&platform.instance_id),
                cca_platform_challenge: STANDARD.encode(&platform.challenge),
                cca_platform_config: STANDARD.encode(&platform.config),
                cca_platform_lifecycle: platform.lifecycle,
                cca_platform_sw_components: platform
                    .sw_components
                    .iter()
                    .map(SwComponentOut::new)
                    .collect(),
                cca_platform_service_indicator: platform.service_indicator.clone(),
                cca_platform_hash_algo_id: platform.hash_algo_id.clone(),
            },
            realm: RealmClaimsOut {
                cca_realm_profile: realm.profile.clone(),
                cca_realm_challenge: STANDARD.encode(&realm.challenge),
                cca_realm_personalization_value: STANDARD.encode(&realm.personalization_value),
                cca_realm_initial_measurement: STANDARD.encode(&realm.initial_measurement),
                cca_realm_extensible_measurements: realm
                    .extensible_measurements
                    .iter()
                    .map(|rem| STANDARD.encode(rem))
                    .collect(),
                cca_realm_hash_algo_id: realm.hash_algo_id.clone(),
                cca_realm_public_key: STANDARD.encode(&realm.public_key),
                cca_realm_public_key_hash_algo_id: realm.public_key_hash_algo_id.clone(),
            },
            report_data: hex::encode(&realm.challenge),
            init_data: hex::encode(&realm.personalization_value),
        }
    }
}

impl SwComponentOut {
    fn new(component: &SwComponent) -> Self {
        Self {
            measurement_type: component.measurement_type.clone(),
            measurement_value: STANDARD.encode(&component.measurement_value),
            version: component.version.clone(),
            signer_id: STANDARD.encode(&component.signer_id),
            measurement_description: component.measurement_description.clone(),
        }
    }
}
