//! Key sources named in the configuration: local paths, `file://` URIs and `https://` URLs
//! (`kbs-protocol.md` §4.2, §8). Read once at startup, never per request.

use std::path::PathBuf;
use std::time::Duration;

use jose::Jwk;

/// How long one HTTPS fetch of a key source may take before startup fails.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a configured key source could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Only local paths, `file://` and `https://` are accepted.
    #[error("unsupported key source {uri}: use a local path, file:// or https://")]
    UnsupportedScheme {
        /// The configured source.
        uri: String,
    },
    /// A local file could not be read.
    #[error("cannot read key source {path}")]
    Read {
        /// The file path.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A local file is not UTF-8 text.
    #[error("key source {path} is not UTF-8 text")]
    NotText {
        /// The file path.
        path: PathBuf,
    },
    /// An HTTPS source could not be fetched.
    #[error("cannot fetch key source {url}")]
    Fetch {
        /// The URL.
        url: String,
        /// The HTTP failure.
        #[source]
        source: reqwest::Error,
    },
    /// The document is not a JWK set (`{"keys": [...]}`).
    #[error("key source {uri} is not a JWK set")]
    NotJwkSet {
        /// The source.
        uri: String,
    },
    /// The JWK set holds no key this KBS can use.
    #[error("key source {uri} holds no usable keys")]
    NoUsableKeys {
        /// The source.
        uri: String,
    },
    /// The OpenID configuration has no `jwks_uri` string.
    #[error("openid configuration at {url} has no jwks_uri")]
    NoJwksUri {
        /// The OpenID configuration URL.
        url: String,
    },
}

/// A parsed key source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// A local file (plain path or `file://`).
    File(PathBuf),
    /// An `https://` URL.
    Https(String),
}

impl KeySource {
    /// Parses a configured source; plain paths are taken as local files, as upstream does.
    pub(crate) fn parse(uri: &str) -> Result<Self, SourceError> {
        if let Some(path) = uri.strip_prefix("file://") {
            return Ok(Self::File(PathBuf::from(path)));
        }
        if uri.starts_with("https://") {
            return Ok(Self::Https(uri.to_owned()));
        }
        if uri.contains("://") || uri.is_empty() {
            return Err(SourceError::UnsupportedScheme {
                uri: uri.to_owned(),
            });
        }
        Ok(Self::File(PathBuf::from(uri)))
    }
}

/// Reads a source as text (a PEM public key).
pub(crate) async fn read_text(uri: &str) -> Result<String, SourceError> {
    match KeySource::parse(uri)? {
        KeySource::File(path) => read_file_text(path).await,
        KeySource::Https(url) => {
            let client = http_client(&url)?;
            fetch(&client, &url)
                .await?
                .text()
                .await
                .map_err(|source| SourceError::Fetch { url, source })
        }
    }
}

/// Loads a JWK set. For `https://` sources, when the URL does not yield a JWK set with keys,
/// falls back to `<url>/.well-known/openid-configuration` and its `jwks_uri` (§4.2).
pub(crate) async fn load_jwk_set(uri: &str) -> Result<Vec<Jwk>, SourceError> {
    match KeySource::parse(uri)? {
        KeySource::File(path) => {
            let text = read_file_text(path).await?;
            parse_jwk_set(uri, &text)
        }
        KeySource::Https(url) => {
            let client = http_client(&url)?;
            let direct = match fetch_text(&client, &url).await {
                Ok(text) => parse_jwk_set(uri, &text),
                Err(e) => Err(e),
            };
            match direct {
                Ok(keys) => Ok(keys),
                Err(direct_error) => {
                    tracing::debug!(%url, error = %direct_error, "trying openid configuration");
                    let config_url = openid_configuration_url(&url);
                    let config: serde_json::Value = serde_json::from_str(
                        &fetch_text(&client, &config_url).await?,
                    )
                    .map_err(|_| SourceError::NoJwksUri {
                        url: config_url.clone(),
                    })?;
                    let jwks_uri = config
                        .get("jwks_uri")
                        .and_then(serde_json::Value::as_str)
                        .ok_or(SourceError::NoJwksUri { url: config_url })?
                        .to_owned();
                    let text = fetch_text(&client, &jwks_uri).await?;
                    parse_jwk_set(&jwks_uri, &text)
                }
            }
        }
    }
}

/// `<url>/.well-known/openid-configuration`, inserting a `/` unless the URL ends with one.
pub(crate) fn openid_configuration_url(url: &str) -> String {
    if url.ends_with('/') {
        format!("{url}.well-known/openid-configuration")
    } else {
        format!("{url}/.well-known/openid-configuration")
    }
}

/// Parses `{"keys": [...]}`, keeping the keys this KBS can represent. Identity providers
/// publish encryption keys and key types we do not verify with; one such key must not make
/// the whole set unusable.
pub(crate) fn parse_jwk_set(uri: &str, text: &str) -> Result<Vec<Jwk>, SourceError> {
    let not_a_set = || SourceError::NotJwkSet {
        uri: uri.to_owned(),
    };
    let document: serde_json::Value = serde_json::from_str(text).map_err(|_| not_a_set())?;
    let entries = document
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(not_a_set)?;
    let mut keys = Vec::with_capacity(entries.len());
    for entry in entries {
        match serde_json::from_value::<Jwk>(entry.clone()) {
            Ok(jwk) => keys.push(jwk),
            Err(e) => {
                let kid = entry.get("kid").and_then(serde_json::Value::as_str);
                tracing::warn!(%uri, ?kid, error = %e, "skipping unusable JWK");
            }
        }
    }
    if keys.is_empty() {
        return Err(SourceError::NoUsableKeys {
            uri: uri.to_owned(),
        });
    }
    Ok(keys)
}

async fn read_file_text(path: PathBuf) -> Result<String, SourceError> {
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(source) => return Err(SourceError::Read { path, source }),
    };
    String::from_utf8(bytes).map_err(|_| SourceError::NotText { path })
}

fn http_client(url: &str) -> Result<reqwest::Client, SourceError> {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .https_only(true)
        .build()
        .map_err(|source| SourceError::Fetch {
            url: url.to_owned(),
            source,
        })
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, SourceError> {
    client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|source| SourceError::Fetch {
            url: url.to_owned(),
            source,
        })
}

async fn fetch_text(client: &reqwest::Client, url: &str) -> Result<String, SourceError> {
    fetch(client, url)
        .await?
        .text()
        .await
        .map_err(|source| SourceError::Fetch {
            url: url.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_file_and_https_sources() {
        assert_eq!(
            KeySource::parse("./work/kbs.pem").unwrap(),
            KeySource::File(PathBuf::from("./work/kbs.pem"))
        );
        assert_eq!(
            KeySource::parse("file:///etc/kbs/jwks.json").unwrap(),
            KeySource::File(PathBuf::from("/etc/kbs/jwks.json"))
        );
        assert_eq!(
            KeySource::parse("https://idp.example/realms/x").unwrap(),
            KeySource::Https("https://idp.example/realms/x".to_owned())
        );
    }

    #[test]
    fn rejects_other_schemes() {
        for uri in ["http://idp.example/jwks", "ftp://x/y", ""] {
            assert!(
                matches!(
                    KeySource::parse(uri),
                    Err(SourceError::UnsupportedScheme { .. })
                ),
                "{uri}"
            );
        }
    }

    #[test]
    fn builds_openid_configuration_url_with_one_slash() {
        assert_eq!(
            openid_configuration_url("https://idp.example/realms/x"),
            "https://idp.example/realms/x/.well-known/openid-configuration"
        );
        assert_eq!(
            openid_configuration_url("https://idp.example/realms/x/"),
            "https://idp.example/realms/x/.well-known/openid-configuration"
        );
    }

    #[test]
    fn rejects_documents_that_are_not_jwk_sets() {
        for text in ["not json", "{}", r#"{"keys": "x"}"#] {
            assert!(
                matches!(parse_jwk_set("t", text), Err(SourceError::NotJwkSet { .. })),
                "{text}"
            );
        }
        assert!(matches!(
            parse_jwk_set("t", r#"{"keys": []}"#),
            Err(SourceError::NoUsableKeys { .. })
        ));
    }
}
