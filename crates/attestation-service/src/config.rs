//! `AsConfig`: the attestation service's configuration (spec §10.5, §11).
//!
//! The same four keys sit in the KBS `[attestation_service]` section when the AS is built in.
//! Unlike upstream, unknown keys are errors, so a misspelt key fails at start-up instead of
//! silently taking a default.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use storage::StorageType;
use verifier::VerifierConfig;

/// Attestation service configuration. Every field has a default, so `{}` is a valid config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AsConfig {
    /// Storage type for the AS namespaces (`attestation_service_policy`, and `reference_value`
    /// unless `rvps_config.storage_type` says otherwise); `None` uses the provider's default.
    /// Backend parameters always come from the provider's configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<StorageType>,
    /// Where reference values come from.
    pub rvps_config: RvpsConfig,
    /// How tokens are built and signed.
    pub attestation_token_broker: TokenBrokerConfig,
    /// Per-verifier settings.
    pub verifier_config: VerifierConfig,
    /// Our addition (not an upstream key): a directory where collateral downloaded by the
    /// verifiers (AMD VCEKs, Hygon HSK/CEK pairs) is kept, so it survives restarts and a
    /// restarted service does not ask the vendor's KDS again. `None` keeps downloads in
    /// memory only. The directory is created on the first download.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collateral_cache_dir: Option<PathBuf>,
}

/// `rvps_config`, internally tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum RvpsConfig {
    /// An in-process RVPS over the `reference_value` namespace.
    BuiltIn {
        /// Storage type for `reference_value`; falls back to the AS storage type.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        storage_type: Option<StorageType>,
        /// Extractor settings (`swid_extractor = {}`); every extractor is always registered,
        /// so this is accepted for compatibility and has no effect yet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        extractors: Option<Map<String, Value>>,
    },
    /// A separate RVPS (`rvps`, or a `grpc-as`) reached over gRPC with [`rvps::RemoteRvps`];
    /// it must answer when the AS starts.
    GrpcRemote {
        /// `host:port` (`http://` is prepended) or a URL.
        address: String,
    },
}

impl Default for RvpsConfig {
    fn default() -> Self {
        Self::BuiltIn {
            storage_type: None,
            extractors: None,
        }
    }
}

/// `attestation_token_broker`: the EAR token's fixed claims, lifetime and signer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenBrokerConfig {
    /// Legacy token type selector. Only `Ear` exists; it is accepted so older files load, and
    /// `Simple` is refused rather than silently producing a different token.
    #[serde(
        rename = "type",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_token_type"
    )]
    pub token_type: Option<TokenType>,
    /// Token lifetime in minutes: `exp = iat + duration_min * 60`. Must be positive.
    pub duration_min: u32,
    /// `iss` claim.
    pub issuer_name: String,
    /// `ear.verifier-id.developer`.
    pub developer_name: String,
    /// `ear.verifier-id.build`.
    pub build_name: String,
    /// `eat_profile`.
    pub profile_name: String,
    /// When false, `runtime_data_claims.additional-evidence` is dropped from tokens.
    pub verbose_token: bool,
    /// Signing key and certificates; `None` generates an ephemeral P-256 key at start-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignerConfig>,
}

impl Default for TokenBrokerConfig {
    fn default() -> Self {
        Self {
            token_type: None,
            duration_min: 5,
            issuer_name: "CoCo-Attestation-Service".into(),
            developer_name: "https://confidentialcontainers.org".into(),
            build_name: concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION")).into(),
            profile_name: "tag:github.com,2024:confidential-containers/Trustee".into(),
            verbose_token: true,
            signer: None,
        }
    }
}

/// The token formats a config may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TokenType {
    /// EAR (the only token type).
    Ear,
}

fn deserialize_token_type<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TokenType>, D::Error> {
    let name = String::deserialize(deserializer)?;
    match name.as_str() {
        "Ear" | "EAR" => Ok(Some(TokenType::Ear)),
        "Simple" => Err(serde::de::Error::custom(
            "the `Simple` token type was removed upstream; only `Ear` tokens are issued",
        )),
        other => Err(serde::de::Error::custom(format!(
            "unknown token type `{other}`; only `Ear` is supported"
        ))),
    }
}

/// `attestation_token_broker.signer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerConfig {
    /// PEM EC P-256 private key, PKCS#8 or SEC1.
    pub key_path: PathBuf,
    /// PEM certificate chain, leaf first; becomes the header `jwk.x5c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<PathBuf>,
    /// Becomes the header `jwk.x5u`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn empty_config_takes_upstream_defaults() {
        let config: AsConfig = serde_json::from_value(json!({})).unwrap();
        assert_eq!(config, AsConfig::default());
        let broker = &config.attestation_token_broker;
        assert_eq!(broker.duration_min, 5);
        assert_eq!(broker.issuer_name, "CoCo-Attestation-Service");
        assert_eq!(broker.developer_name, "https://confidentialcontainers.org");
        assert_eq!(broker.build_name, "attestation-service 0.1.0");
        assert_eq!(
            broker.profile_name,
            "tag:github.com,2024:confidential-containers/Trustee"
        );
        assert!(broker.verbose_token);
        assert_eq!(broker.signer, None);
        assert_eq!(
            config.rvps_config,
            RvpsConfig::BuiltIn {
                storage_type: None,
                extractors: None
            }
        );
    }

    #[test]
    fn partial_broker_section_keeps_other_defaults() {
        let config: AsConfig = serde_json::from_value(json!({
            "attestation_token_broker": {"duration_min": 10, "verbose_token": false}
        }))
        .unwrap();
        let broker = config.attestation_token_broker;
        assert_eq!(broker.duration_min, 10);
        assert!(!broker.verbose_token);
        assert_eq!(broker.issuer_name, "CoCo-Attestation-Service");
    }

    #[test]
    fn full_config_parses_from_toml() {
        let config: AsConfig = toml::from_str(
            r#"
            storage_type = "LocalFs"

            [rvps_config]
            type = "BuiltIn"
            storage_type = "memory"
            extractors = { swid_extractor = {} }

            [attestation_token_broker]
            type = "Ear"
            duration_min = 3
            issuer_name = "me"
            signer = { key_path = "/k.pem", cert_path = "/c.pem", cert_url = "https://x/c.pem" }

            [verifier_config.snp_verifier]
            vcek_sources = [{ type = "KDS" }]
            "#,
        )
        .unwrap();
        assert_eq!(config.storage_type, Some(StorageType::LocalFs));
        assert!(matches!(
            config.rvps_config,
            RvpsConfig::BuiltIn {
                storage_type: Some(StorageType::Memory),
                extractors: Some(_)
            }
        ));
        let broker = config.attestation_token_broker;
        assert_eq!(broker.token_type, Some(TokenType::Ear));
        assert_eq!(broker.duration_min, 3);
        assert_eq!(
            broker.signer,
            Some(SignerConfig {
                key_path: "/k.pem".into(),
                cert_path: Some("/c.pem".into()),
                cert_url: Some("https://x/c.pem".into()),
            })
        );
        assert!(config.verifier_config.snp_verifier.is_some());
        assert_eq!(config.collateral_cache_dir, None);
    }

    #[test]
    fn collateral_cache_dir_is_an_optional_path() {
        let config: AsConfig =
            toml::from_str(r#"collateral_cache_dir = "/var/cache/kbs/collateral""#).unwrap();
        assert_eq!(
            config.collateral_cache_dir,
            Some(PathBuf::from("/var/cache/kbs/collateral"))
        );
        assert!(toml::from_str::<AsConfig>("collateral_cache_dir = 3").is_err());
    }

    #[test]
    fn remote_rvps_parses() {
        let config: AsConfig = serde_json::from_value(json!({
            "rvps_config": {"type": "GrpcRemote", "address": "127.0.0.1:50003"}
        }))
        .unwrap();
        assert_eq!(
            config.rvps_config,
            RvpsConfig::GrpcRemote {
                address: "127.0.0.1:50003".into()
            }
        );
    }

    #[test]
    fn legacy_ear_type_is_accepted_in_both_spellings() {
        for name in ["Ear", "EAR"] {
            let config: AsConfig = serde_json::from_value(json!({
                "attestation_token_broker": {"type": name}
            }))
            .unwrap();
            assert_eq!(
                config.attestation_token_broker.token_type,
                Some(TokenType::Ear)
            );
        }
    }

    #[test]
    fn simple_token_type_is_refused() {
        let err = serde_json::from_value::<AsConfig>(json!({
            "attestation_token_broker": {"type": "Simple"}
        }))
        .unwrap_err();
        assert!(
            err.to_string().contains("`Simple` token type was removed"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        for (config, key) in [
            (json!({"work_dir": "/tmp"}), "work_dir"),
            (
                json!({"attestation_token_broker": {"duration": 5}}),
                "duration",
            ),
            (
                json!({"rvps_config": {"type": "BuiltIn", "store": "x"}}),
                "store",
            ),
            (
                json!({"attestation_token_broker": {"signer": {"key": "/k"}}}),
                "key",
            ),
            (
                json!({"verifier_config": {"sev_verifier": {}}}),
                "sev_verifier",
            ),
        ] {
            let err = serde_json::from_value::<AsConfig>(config).unwrap_err();
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn negative_duration_is_rejected() {
        assert!(
            serde_json::from_value::<AsConfig>(json!({
                "attestation_token_broker": {"duration_min": -1}
            }))
            .is_err()
        );
    }
}
