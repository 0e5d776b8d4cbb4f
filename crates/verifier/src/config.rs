//! `verifier_config`: per-verifier settings, as in the upstream AS configuration (spec §11).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The upstream `verifier_config` table.
///
/// Each known key is kept as a raw table until the verifier that reads it exists; that verifier
/// validates its own table when it is created. Unknown keys are rejected at load time, naming
/// the key, so a typo does not silently fall back to a default collateral source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierConfig {
    /// AMD SEV-SNP: `vcek_sources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snp_verifier: Option<Map<String, Value>>,
    /// Intel DCAP (TDX, SGX, Azure TDX): `collateral_service`, `tcb_update_type`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dcap_verifier: Option<Map<String, Value>>,
    /// NVIDIA GPU/switch: local or remote (NRAS) verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvidia_verifier: Option<Map<String, Value>>,
    /// TPM: upstream's struct is empty; kept so existing files load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm_verifier: Option<Map<String, Value>>,
    /// NVIDIA DPU: `root_ca_cert_path`, `max_cert_age_secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvidia_dpu_verifier: Option<Map<String, Value>>,
    /// Arm CCA: upstream's `cca-verifier` object (`type`, `ta-store`, `rv-store`; see
    /// `cca::Cca::from_config`); upstream reads it from `CCA_CONFIG_FILE` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cca_verifier: Option<Map<String, Value>>,
    /// Hygon CSV: `hsk_cek_sources` (see `csv::Csv::from_config`); not an upstream key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv_verifier: Option<Map<String, Value>>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn known_tables_are_kept_raw() {
        let config: VerifierConfig = serde_json::from_value(json!({
            "snp_verifier": {"vcek_sources": [{"type": "KDS"}]},
            "tpm_verifier": {}
        }))
        .unwrap();
        assert_eq!(
            config.snp_verifier.unwrap()["vcek_sources"],
            json!([{"type": "KDS"}])
        );
        assert_eq!(config.tpm_verifier, Some(Map::new()));
        assert_eq!(config.dcap_verifier, None);
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let err = serde_json::from_value::<VerifierConfig>(json!({"snp_verifer": {}})).unwrap_err();
        assert!(err.to_string().contains("snp_verifer"), "{err}");
    }

    #[test]
    fn empty_config_is_default() {
        let config: VerifierConfig = serde_json::from_value(json!({})).unwrap();
        assert_eq!(config, VerifierConfig::default());
    }
}
