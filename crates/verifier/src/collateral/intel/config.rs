//! `verifier_config.dcap_verifier`: where DCAP collateral comes from.
//!
//! Upstream's table is `{collateral_service, tcb_update_type?, use_secure_cert?}` with one
//! service. Here `collateral_service` may also be a list, tried in order: a failing service
//! (unreachable, an error status, garbage, nothing for the platform) falls through to the
//! next. Each entry is `https://` / `http://` (Intel PCS or a PCCS) or `file://` (a collateral
//! file, or with a trailing `/` or naming a directory, a directory of bundles).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::offline::{DirSource, FileSource};
use super::pcs::{PcsSource, ServiceKind};
use super::{DcapCollateralSource, SourceList, TcbUpdateType};
use crate::collateral::CollateralError;
use crate::collateral::fetch::{FetchError, Fetcher};
use crate::{Clock, Error};

/// Upstream's default `collateral_service`.
pub const DEFAULT_COLLATERAL_SERVICE: &str =
    "https://api.trustedservices.intel.com/sgx/certification/v4/";

/// The parsed `dcap_verifier` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcapVerifierConfig {
    /// The services, in the order they are tried (at least one).
    pub collateral_services: Vec<CollateralService>,
    /// `early` (default) or `standard` TCB infos and QE identities.
    pub tcb_update_type: TcbUpdateType,
    /// Upstream's switch to accept a PCCS's self-signed TLS certificate. Accepted for
    /// compatibility, but TLS certificates are always verified here (the collateral is signed
    /// by Intel either way; give the PCCS a certificate the host trusts, or use `http://`).
    pub use_secure_cert: bool,
}

/// One configured collateral service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollateralService {
    /// Intel PCS or a PCCS at this base URL.
    Http {
        /// The URL as configured.
        url: String,
        /// Intel PCS (by host) or a PCCS.
        kind: ServiceKind,
    },
    /// A collateral file (`file:///path.json`).
    File(PathBuf),
    /// A directory of bundle files (`file:///dir/`).
    Dir(PathBuf),
}

impl Default for DcapVerifierConfig {
    fn default() -> Self {
        Self {
            collateral_services: vec![CollateralService::Http {
                url: DEFAULT_COLLATERAL_SERVICE.to_owned(),
                kind: ServiceKind::IntelPcs,
            }],
            tcb_update_type: TcbUpdateType::Early,
            use_secure_cert: true,
        }
    }
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        section: "dcap_verifier",
        reason: reason.into(),
    }
}

impl CollateralService {
    /// Parses one `collateral_service` entry.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if let Some(path) = text.strip_prefix("file://") {
            if path.is_empty() {
                return Err(invalid(format!(
                    "collateral_service `{text}` names no file"
                )));
            }
            let is_dir = path.ends_with('/') || Path::new(path).is_dir();
            let path = PathBuf::from(path);
            return Ok(if is_dir {
                Self::Dir(path)
            } else {
                Self::File(path)
            });
        }
        let url = reqwest::Url::parse(text)
            .map_err(|err| invalid(format!("collateral_service `{text}`: {err}")))?;
        match url.scheme() {
            "https" | "http" if url.host_str().is_some() => Ok(Self::Http {
                url: text.to_owned(),
                kind: ServiceKind::for_base_url(text),
            }),
            _ => Err(invalid(format!(
                "collateral_service `{text}` is not an https://, http:// or file:// URL"
            ))),
        }
    }
}

impl DcapVerifierConfig {
    /// Parses the table; `None` is the default (Intel PCS, early). Unknown keys are refused by
    /// name, and `collateral_service` is required when the table is present (as upstream).
    pub fn from_table(table: Option<&Map<String, Value>>) -> Result<Self, Error> {
        let Some(table) = table else {
            return Ok(Self::default());
        };
        if let Some(key) = table.keys().find(|key| {
            !matches!(
                key.as_str(),
                "collateral_service" | "tcb_update_type" | "use_secure_cert"
            )
        }) {
            return Err(invalid(format!(
                "unknown key `{key}` (expected collateral_service, tcb_update_type, use_secure_cert)"
            )));
        }
        let services = match table.get("collateral_service") {
            None => return Err(invalid("`collateral_service` is required")),
            Some(Value::String(one)) => vec![CollateralService::parse(one)?],
            Some(Value::Array(many)) if !many.is_empty() => many
                .iter()
                .map(|entry| match entry {
                    Value::String(text) => CollateralService::parse(text),
                    _ => Err(invalid("`collateral_service` entries must be strings")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(invalid(
                    "`collateral_service` must be a URL or a non-empty list of URLs",
                ));
            }
        };
        let tcb_update_type = match table.get("tcb_update_type") {
            None => TcbUpdateType::Early,
            Some(Value::String(text)) if text == "early" => TcbUpdateType::Early,
            Some(Value::String(text)) if text == "standard" => TcbUpdateType::Standard,
            Some(other) => {
                return Err(invalid(format!(
                    "`tcb_update_type` must be \"early\" or \"standard\", not {other}"
                )));
            }
        };
        let use_secure_cert = match table.get("use_secure_cert") {
            None => true,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => return Err(invalid("`use_secure_cert` must be a boolean")),
        };
        Ok(Self {
            collateral_services: services,
            tcb_update_type,
            use_secure_cert,
        })
    }

    /// The sources the services describe, as one source trying them in order. `fetcher` is
    /// asked for only when an HTTP service is configured.
    pub fn sources(
        &self,
        fetcher: impl Fn() -> Result<Fetcher, FetchError>,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<dyn DcapCollateralSource>, Error> {
        let update = self.tcb_update_type;
        let mut list = SourceList::new();
        for service in &self.collateral_services {
            match service {
                CollateralService::Http { url, kind } => {
                    let fetcher = fetcher().map_err(CollateralError::from)?;
                    let source = PcsSource::new(url, *kind, update, fetcher, clock.clone());
                    list = list.with_pcs(url.clone(), Arc::new(source));
                }
                CollateralService::File(path) => {
                    let name = format!("file://{}", path.display());
                    list = list.with(name, Arc::new(FileSource::new(path, update)));
                }
                CollateralService::Dir(dir) => {
                    let name = format!("file://{}", dir.display());
                    let source = DirSource::new(dir, update, clock.clone());
                    list = list.with(name, Arc::new(source));
                }
            }
        }
        Ok(Arc::new(list))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;
    use crate::collateral::intel::pcs::INTEL_PCS_BASE_URL;

    fn parse(value: Value) -> Result<DcapVerifierConfig, Error> {
        DcapVerifierConfig::from_table(value.as_object())
    }

    fn reason(err: Error) -> String {
        match err {
            Error::InvalidConfig {
                section: "dcap_verifier",
                reason,
            } => reason,
            other => panic!("expected a dcap_verifier config error, got {other:?}"),
        }
    }

    #[test]
    fn absent_table_is_intel_pcs_early() {
        let config = DcapVerifierConfig::from_table(None).unwrap();
        assert_eq!(config, DcapVerifierConfig::default());
        assert_eq!(
            config.collateral_services,
            vec![CollateralService::Http {
                url: DEFAULT_COLLATERAL_SERVICE.into(),
                kind: ServiceKind::IntelPcs
            }]
        );
        assert_eq!(config.tcb_update_type, TcbUpdateType::Early);
    }

    #[test]
    fn upstream_table_parses() {
        let config = parse(json!({
            "collateral_service": "https://pccs.example:8081/sgx/certification/v4/",
            "tcb_update_type": "standard",
            "use_secure_cert": false
        }))
        .unwrap();
        assert_eq!(
            config.collateral_services,
            vec![CollateralService::Http {
                url: "https://pccs.example:8081/sgx/certification/v4/".into(),
                kind: ServiceKind::Pccs
            }]
        );
        assert_eq!(config.tcb_update_type, TcbUpdateType::Standard);
        assert!(!config.use_secure_cert);
    }

    #[test]
    fn a_list_of_services_keeps_its_order() {
        let dir = tempfile::tempdir().unwrap();
        let dir_url = format!("file://{}", dir.path().display());
        let config = parse(json!({"collateral_service": [
            "file:///etc/kbs/collateral.json",
            "http://pccs.local:8081",
            dir_url,
            "file:///srv/bundles/",
        ]}))
        .unwrap();
        assert_eq!(
            config.collateral_services,
            vec![
                CollateralService::File("/etc/kbs/collateral.json".into()),
                CollateralService::Http {
                    url: "http://pccs.local:8081".into(),
                    kind: ServiceKind::Pccs
                },
                CollateralService::Dir(dir.path().into()),
                CollateralService::Dir("/srv/bundles/".into()),
            ]
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_by_name() {
        let err = parse(json!({"collateral_service": "file:///x", "tcb_update": "early"}));
        assert!(reason(err.unwrap_err()).contains("`tcb_update`"));
        let err = parse(json!({"tcb_update_type": "early"}));
        assert!(reason(err.unwrap_err()).contains("`collateral_service` is required"));
        let err = parse(json!({"collateral_service": []}));
        assert!(reason(err.unwrap_err()).contains("non-empty list"));
        let err = parse(json!({"collateral_service": "file:///x", "tcb_update_type": "late"}));
        assert!(reason(err.unwrap_err()).contains("tcb_update_type"));
        let err = parse(json!({"collateral_service": "ftp://intel.com/x"}));
        assert!(reason(err.unwrap_err()).contains("ftp://intel.com/x"));
        let err = parse(json!({"collateral_service": [1]}));
        assert!(reason(err.unwrap_err()).contains("strings"));
        let err = parse(json!({"collateral_service": "file:///x", "use_secure_cert": "no"}));
        assert!(reason(err.unwrap_err()).contains("use_secure_cert"));
    }

    #[test]
    fn intel_pcs_is_recognised_by_host() {
        assert_eq!(
            ServiceKind::for_base_url(INTEL_PCS_BASE_URL),
            ServiceKind::IntelPcs
        );
        assert_eq!(
            ServiceKind::for_base_url("https://API.trustedservices.intel.com/tdx/certification/v4"),
            ServiceKind::IntelPcs
        );
        assert_eq!(
            ServiceKind::for_base_url("https://pccs.intel.com.example"),
            ServiceKind::Pccs
        );
    }
}
