//! The `[http_server]` TLS knobs (spec §1.2) mapped onto rustls with the aws-lc-rs provider.
//!
//! Upstream configures OpenSSL. The knobs keep their names and OpenSSL spellings; what rustls
//! can honour is mapped, and what it cannot (TLS 1.0/1.1, CBC or RSA-key-exchange suites,
//! X448, finite-field groups, cipher keywords like `HIGH`) is refused with an error naming it,
//! instead of silently serving something weaker or different.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::{CryptoProvider, SupportedKxGroup, aws_lc_rs};
use rustls::{CipherSuite, NamedGroup, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// `tls_profile`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsProfile {
    /// Upstream: TLS 1.2+ with legacy suites. rustls has no legacy suites, so this serves the
    /// same as `intermediate` (a warning says so).
    Old,
    /// TLS 1.2 and 1.3 with AEAD suites only.
    #[default]
    Intermediate,
    /// TLS 1.3 only.
    Modern,
    /// Intermediate, adjusted by `tls_min_version`/`tls_max_version`/`tls_ciphers`/`tls_groups`.
    Custom,
}

/// `tls_min_version` / `tls_max_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.trim_start_matches("TLSv").trim_start_matches("tlsv") {
            "1.2" => Ok(Self::Tls12),
            "1.3" => Ok(Self::Tls13),
            "1" | "1.0" | "1.1" => Err(serde::de::Error::custom(format!(
                "TLS version {text} is not supported (rustls serves TLS 1.2 and 1.3 only)"
            ))),
            _ => Err(serde::de::Error::custom(format!(
                "unknown TLS version {text:?}, expected \"1.2\" or \"1.3\""
            ))),
        }
    }
}

/// What the TLS knobs asked for, as plain values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsKnobs {
    /// `tls_profile`.
    pub profile: TlsProfile,
    /// `tls_min_version`.
    pub min_version: Option<TlsVersion>,
    /// `tls_max_version`.
    pub max_version: Option<TlsVersion>,
    /// `tls_ciphers`: colon-separated OpenSSL or IANA suite names.
    pub ciphers: Option<String>,
    /// `tls_groups`: colon-separated group names.
    pub groups: Option<String>,
}

/// A TLS knob rustls cannot honour, or files that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// `tls_min_version` is above `tls_max_version`.
    #[error("tls_min_version {min:?} is above tls_max_version {max:?}")]
    MinAboveMax {
        /// The minimum asked for.
        min: TlsVersion,
        /// The maximum asked for.
        max: TlsVersion,
    },
    /// A `tls_ciphers` entry rustls does not implement.
    #[error("tls_ciphers entry `{name}` is not supported; rustls offers {supported}")]
    UnsupportedCipher {
        /// The entry as written.
        name: String,
        /// The names that are accepted.
        supported: &'static str,
    },
    /// A `tls_groups` entry rustls does not implement.
    #[error("tls_groups entry `{name}` is not supported; rustls offers {supported}")]
    UnsupportedGroup {
        /// The entry as written.
        name: String,
        /// The names that are accepted.
        supported: &'static str,
    },
    /// The cipher list leaves no suite for an enabled protocol version.
    #[error("tls_ciphers leaves no cipher suite for the enabled TLS versions")]
    NoCipherSuites,
    /// A PEM file could not be read or holds nothing usable.
    #[error("cannot load {what} from {path}: {reason}")]
    Pem {
        /// `private key` or `certificate`.
        what: &'static str,
        /// The configured path.
        path: String,
        /// Why (never key material).
        reason: String,
    },
    /// rustls refused the combination (e.g. key does not match the certificate).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
}

const SUPPORTED_CIPHERS: &str = "TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, \
    TLS_CHACHA20_POLY1305_SHA256, ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-ECDSA-AES256-GCM-SHA384, \
    ECDHE-ECDSA-CHACHA20-POLY1305, ECDHE-RSA-AES128-GCM-SHA256, ECDHE-RSA-AES256-GCM-SHA384, \
    ECDHE-RSA-CHACHA20-POLY1305 (or their IANA names)";

const SUPPORTED_GROUPS: &str =
    "X25519MLKEM768, SecP256r1MLKEM768, X25519, P-256 (prime256v1, secp256r1), P-384 (secp384r1)";

/// The resolved protocol versions, suites and groups.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    versions: Vec<&'static SupportedProtocolVersion>,
    cipher_suites: Vec<SupportedCipherSuite>,
    kx_groups: Vec<&'static dyn SupportedKxGroup>,
    /// Notes for the operator (e.g. `old` served as `intermediate`), logged at startup.
    pub warnings: Vec<String>,
}

impl TlsSettings {
    /// Resolves the knobs; every refusal happens here, at configuration load time.
    pub fn resolve(knobs: &TlsKnobs) -> Result<Self, TlsError> {
        let mut warnings = Vec::new();
        let (mut min, mut max) = match knobs.profile {
            TlsProfile::Modern => (TlsVersion::Tls13, TlsVersion::Tls13),
            TlsProfile::Old => {
                warnings.push(
                    "tls_profile \"old\" is served as \"intermediate\": rustls has no TLS < 1.2 \
                     and no legacy cipher suites"
                        .to_owned(),
                );
                (TlsVersion::Tls12, TlsVersion::Tls13)
            }
            TlsProfile::Intermediate | TlsProfile::Custom => (TlsVersion::Tls12, TlsVersion::Tls13),
        };
        let has_custom_knobs = knobs.min_version.is_some()
            || knobs.max_version.is_some()
            || knobs.ciphers.is_some()
            || knobs.groups.is_some();
        if has_custom_knobs && knobs.profile != TlsProfile::Custom {
            // Upstream applies the overrides too and only warns.
            warnings.push(format!(
                "tls_min_version/tls_max_version/tls_ciphers/tls_groups are meant for \
                 tls_profile = \"custom\"; applying them on top of {:?}",
                knobs.profile
            ));
        }
        if let Some(v) = knobs.min_version {
            min = v;
        }
        if let Some(v) = knobs.max_version {
            max = v;
        }
        if min > max {
            return Err(TlsError::MinAboveMax { min, max });
        }
        let versions: Vec<&'static SupportedProtocolVersion> = [
            (TlsVersion::Tls13, &rustls::version::TLS13),
            (TlsVersion::Tls12, &rustls::version::TLS12),
        ]
        .into_iter()
        .filter(|(v, _)| (min..=max).contains(v))
        .map(|(_, version)| version)
        .collect();

        let cipher_suites = resolve_cipher_suites(knobs.ciphers.as_deref(), min, max)?;
        let kx_groups = match knobs.groups.as_deref() {
            None => aws_lc_rs::DEFAULT_KX_GROUPS.to_vec(),
            Some(list) => resolve_groups(list)?,
        };
        Ok(Self {
            versions,
            cipher_suites,
            kx_groups,
            warnings,
        })
    }

    /// Builds the rustls server configuration from PEM files (ALPN `h2`, `http/1.1`).
    pub fn server_config(
        &self,
        private_key: &Path,
        certificate: &Path,
    ) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let chain = CertificateDer::pem_file_iter(certificate)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| pem_error("certificate", certificate, e.to_string()))?;
        if chain.is_empty() {
            return Err(pem_error(
                "certificate",
                certificate,
                "no certificate in file".to_owned(),
            ));
        }
        // The error text of the PEM reader never includes key bytes.
        let key = PrivateKeyDer::from_pem_file(private_key)
            .map_err(|e| pem_error("private key", private_key, e.to_string()))?;
        let provider = CryptoProvider {
            cipher_suites: self.cipher_suites.clone(),
            kx_groups: self.kx_groups.clone(),
            ..aws_lc_rs::default_provider()
        };
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&self.versions)?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn pem_error(what: &'static str, path: &Path, reason: String) -> TlsError {
    TlsError::Pem {
        what,
        path: path.display().to_string(),
        reason,
    }
}

fn resolve_cipher_suites(
    list: Option<&str>,
    min: TlsVersion,
    max: TlsVersion,
) -> Result<Vec<SupportedCipherSuite>, TlsError> {
    let enabled = |suite: &SupportedCipherSuite| {
        let version = match suite {
            SupportedCipherSuite::Tls13(_) => TlsVersion::Tls13,
            SupportedCipherSuite::Tls12(_) => TlsVersion::Tls12,
        };
        (min..=max).contains(&version)
    };
    let defaults = aws_lc_rs::DEFAULT_CIPHER_SUITES.iter().copied();
    let Some(list) = list else {
        return Ok(defaults.filter(enabled).collect());
    };
    let mut named = Vec::new();
    for name in list
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let unsupported = || TlsError::UnsupportedCipher {
            name: name.to_owned(),
            supported: SUPPORTED_CIPHERS,
        };
        let id = cipher_suite_by_name(name).ok_or_else(unsupported)?;
        let suite = aws_lc_rs::ALL_CIPHER_SUITES
            .iter()
            .copied()
            .find(|s| s.suite() == id)
            .ok_or_else(unsupported)?;
        if !named.iter().any(|s: &SupportedCipherSuite| s.suite() == id) {
            named.push(suite);
        }
    }
    // As with OpenSSL's separate TLS 1.3 list, naming only TLS 1.2 suites leaves the TLS 1.3
    // suites at their defaults (and vice versa).
    let names_tls13 = named
        .iter()
        .any(|s| matches!(s, SupportedCipherSuite::Tls13(_)));
    let names_tls12 = named
        .iter()
        .any(|s| matches!(s, SupportedCipherSuite::Tls12(_)));
    let mut suites: Vec<SupportedCipherSuite> = named;
    for default in aws_lc_rs::DEFAULT_CIPHER_SUITES.iter().copied() {
        let keep = match default {
            SupportedCipherSuite::Tls13(_) => !names_tls13,
            SupportedCipherSuite::Tls12(_) => !names_tls12,
        };
        if keep {
            suites.push(default);
        }
    }
    let suites: Vec<_> = suites.into_iter().filter(enabled).collect();
    if suites.is_empty() {
        return Err(TlsError::NoCipherSuites);
    }
    Ok(suites)
}

fn cipher_suite_by_name(name: &str) -> Option<CipherSuite> {
    Some(match name {
        "TLS_AES_128_GCM_SHA256" | "TLS13_AES_128_GCM_SHA256" => {
            CipherSuite::TLS13_AES_128_GCM_SHA256
        }
        "TLS_AES_256_GCM_SHA384" | "TLS13_AES_256_GCM_SHA384" => {
            CipherSuite::TLS13_AES_256_GCM_SHA384
        }
        "TLS_CHACHA20_POLY1305_SHA256" | "TLS13_CHACHA20_POLY1305_SHA256" => {
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
        }
        "ECDHE-ECDSA-AES128-GCM-SHA256" | "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        }
        "ECDHE-ECDSA-AES256-GCM-SHA384" | "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        }
        "ECDHE-ECDSA-CHACHA20-POLY1305" | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "ECDHE-RSA-AES128-GCM-SHA256" | "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => {
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        }
        "ECDHE-RSA-AES256-GCM-SHA384" | "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => {
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        }
        "ECDHE-RSA-CHACHA20-POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

fn resolve_groups(list: &str) -> Result<Vec<&'static dyn SupportedKxGroup>, TlsError> {
    let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    for name in list
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let unsupported = || TlsError::UnsupportedGroup {
            name: name.to_owned(),
            supported: SUPPORTED_GROUPS,
        };
        let wanted = match name.to_ascii_lowercase().as_str() {
            "x25519mlkem768" => NamedGroup::X25519MLKEM768,
            "secp256r1mlkem768" => NamedGroup::secp256r1MLKEM768,
            "x25519" => NamedGroup::X25519,
            "p-256" | "prime256v1" | "secp256r1" => NamedGroup::secp256r1,
            "p-384" | "secp384r1" => NamedGroup::secp384r1,
            _ => return Err(unsupported()),
        };
        let group = aws_lc_rs::ALL_KX_GROUPS
            .iter()
            .copied()
            .find(|g| g.name() == wanted)
            .ok_or_else(unsupported)?;
        if !groups.iter().any(|g| g.name() == wanted) {
            groups.push(group);
        }
    }
    if groups.is_empty() {
        return Err(TlsError::UnsupportedGroup {
            name: list.to_owned(),
            supported: SUPPORTED_GROUPS,
        });
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs(profile: TlsProfile) -> TlsKnobs {
        TlsKnobs {
            profile,
            ..TlsKnobs::default()
        }
    }

    #[test]
    fn intermediate_serves_tls12_and_tls13() {
        let s = TlsSettings::resolve(&knobs(TlsProfile::Intermediate)).unwrap();
        assert_eq!(s.versions.len(), 2);
        assert!(
            s.cipher_suites
                .iter()
                .any(|c| matches!(c, SupportedCipherSuite::Tls12(_)))
        );
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn modern_serves_tls13_only() {
        let s = TlsSettings::resolve(&knobs(TlsProfile::Modern)).unwrap();
        assert_eq!(s.versions, vec![&rustls::version::TLS13]);
        assert!(
            s.cipher_suites
                .iter()
                .all(|c| matches!(c, SupportedCipherSuite::Tls13(_)))
        );
    }

    #[test]
    fn old_profile_warns() {
        let s = TlsSettings::resolve(&knobs(TlsProfile::Old)).unwrap();
        assert_eq!(s.warnings.len(), 1);
    }

    #[test]
    fn min_above_max_is_refused() {
        let k = TlsKnobs {
            profile: TlsProfile::Custom,
            min_version: Some(TlsVersion::Tls13),
            max_version: Some(TlsVersion::Tls12),
            ..TlsKnobs::default()
        };
        assert!(matches!(
            TlsSettings::resolve(&k),
            Err(TlsError::MinAboveMax { .. })
        ));
    }

    #[test]
    fn custom_ciphers_and_groups_are_mapped() {
        let k = TlsKnobs {
            profile: TlsProfile::Custom,
            ciphers: Some("ECDHE-RSA-AES256-GCM-SHA384:TLS_AES_128_GCM_SHA256".into()),
            groups: Some("X25519:prime256v1".into()),
            ..TlsKnobs::default()
        };
        let s = TlsSettings::resolve(&k).unwrap();
        let ids: Vec<_> = s.cipher_suites.iter().map(|c| c.suite()).collect();
        assert_eq!(
            ids,
            vec![
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                CipherSuite::TLS13_AES_128_GCM_SHA256
            ]
        );
        let groups: Vec<_> = s.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(groups, vec![NamedGroup::X25519, NamedGroup::secp256r1]);
    }

    #[test]
    fn unsupported_names_are_refused_by_name() {
        let k = TlsKnobs {
            ciphers: Some("AES128-SHA".into()),
            ..TlsKnobs::default()
        };
        let err = TlsSettings::resolve(&k).unwrap_err();
        assert!(err.to_string().contains("`AES128-SHA`"), "{err}");
        let k = TlsKnobs {
            groups: Some("X448".into()),
            ..TlsKnobs::default()
        };
        let err = TlsSettings::resolve(&k).unwrap_err();
        assert!(err.to_string().contains("`X448`"), "{err}");
    }

    #[test]
    fn tls12_only_ciphers_with_modern_profile_leave_nothing() {
        let k = TlsKnobs {
            profile: TlsProfile::Modern,
            ciphers: Some("ECDHE-RSA-AES256-GCM-SHA384".into()),
            ..TlsKnobs::default()
        };
        // TLS 1.3 defaults still apply, as with OpenSSL's separate TLS 1.3 list.
        let s = TlsSettings::resolve(&k).unwrap();
        assert!(
            s.cipher_suites
                .iter()
                .all(|c| matches!(c, SupportedCipherSuite::Tls13(_)))
        );
    }

    #[test]
    fn tls_versions_parse_from_config_strings() {
        #[derive(Deserialize)]
        struct V {
            v: TlsVersion,
        }
        assert_eq!(
            toml::from_str::<V>("v = \"1.2\"").unwrap().v,
            TlsVersion::Tls12
        );
        assert_eq!(
            toml::from_str::<V>("v = \"TLSv1.3\"").unwrap().v,
            TlsVersion::Tls13
        );
        let err = toml::from_str::<V>("v = \"1.1\"")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not supported"), "{err}");
    }
}
