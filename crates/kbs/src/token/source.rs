//! Key sources named in the configuration: local paths, `file://` URIs and `https://` URLs
//! (`kbs-protocol.md` §4.2, §8). Read once at startup, never per request.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
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
        KeySource::Https(url) => HttpsFetcher::new(&url)?.fetch_text(&url).await,
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
        KeySource::Https(url) => load_remote_jwk_set(&HttpsFetcher::new(&url)?, &url).await,
    }
}

/// GETs a URL as text. A trait so the OpenID fallback can be tested without a network.
#[async_trait]
pub(crate) trait Fetch: Send + Sync {
    /// The body of a successful GET of `url`.
    async fn fetch_text(&self, url: &str) -> Result<String, SourceError>;
}

/// The JWK set at `url`, or else the one named by its OpenID configuration.
pub(crate) async fn load_remote_jwk_set(
    fetcher: &dyn Fetch,
    url: &str,
) -> Result<Vec<Jwk>, SourceError> {
    let direct = match fetcher.fetch_text(url).await {
        Ok(text) => parse_jwk_set(url, &text),
        Err(e) => Err(e),
    };
    let direct_error = match direct {
        Ok(keys) => return Ok(keys),
        Err(e) => e,
    };
    tracing::debug!(%url, error = %direct_error, "no JWK set at the URL, trying openid configuration");
    let config_url = openid_configuration_url(url);
    let no_jwks_uri = || SourceError::NoJwksUri {
        url: config_url.clone(),
    };
    let config: serde_json::Value =
        serde_json::from_str(&fetcher.fetch_text(&config_url).await?).map_err(|_| no_jwks_uri())?;
    let jwks_uri = config
        .get("jwks_uri")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(no_jwks_uri)?;
    // The configuration is remote input: never follow it to a non-HTTPS location.
    if !jwks_uri.starts_with("https://") {
        return Err(SourceError::UnsupportedScheme {
            uri: jwks_uri.to_owned(),
        });
    }
    let text = fetcher.fetch_text(jwks_uri).await?;
    parse_jwk_set(jwks_uri, &text)
}

struct HttpsFetcher {
    client: reqwest::Client,
}

impl HttpsFetcher {
    fn new(url: &str) -> Result<Self, SourceError> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .https_only(true)
            .build()
            .map_err(|source| SourceError::Fetch {
                url: url.to_owned(),
                source,
            })?;
        Ok(Self { client })
    }
}

#[async_trait]
impl Fetch for HttpsFetcher {
    async fn fetch_text(&self, url: &str) -> Result<String, SourceError> {
        let fetch_error = |source| SourceError::Fetch {
            url: url.to_owned(),
            source,
        };
        self.client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(fetch_error)?
            .text()
            .await
            .map_err(fetch_error)
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_json::json;

    use super::*;

    /// Serves fixed documents by URL; anything else is "not found".
    struct FakeWeb(HashMap<String, String>);

    impl FakeWeb {
        fn new(pages: &[(&str, String)]) -> Self {
            Self(
                pages
                    .iter()
                    .map(|(url, body)| ((*url).to_owned(), body.clone()))
                    .collect(),
            )
        }
    }

    #[async_trait]
    impl Fetch for FakeWeb {
        async fn fetch_text(&self, url: &str) -> Result<String, SourceError> {
            self.0.get(url).cloned().ok_or_else(|| SourceError::Read {
                path: PathBuf::from(url),
                source: std::io::ErrorKind::NotFound.into(),
            })
        }
    }

    fn jwks(kid: &str) -> String {
        let key = jose::SigningKey::generate_es256().unwrap();
        let mut jwk = key.public_jwk().unwrap();
        jwk.kid = Some(kid.to_owned());
        json!({ "keys": [jwk] }).to_string()
    }

    fn kids(keys: &[Jwk]) -> Vec<String> {
        keys.iter().filter_map(|k| k.kid.clone()).collect()
    }

    #[tokio::test]
    async fn uses_the_jwk_set_at_the_url_when_there_is_one() {
        let web = FakeWeb::new(&[("https://idp/jwks", jwks("direct"))]);
        let keys = load_remote_jwk_set(&web, "https://idp/jwks").await.unwrap();
        assert_eq!(kids(&keys), ["direct"]);
    }

    #[tokio::test]
    async fn falls_back_to_the_openid_configuration() {
        let config = json!({ "issuer": "https://idp/realms/x", "jwks_uri": "https://idp/certs" });
        for direct in [
            None,
            Some("<html>login</html>".to_owned()),
            Some(r#"{"keys": []}"#.to_owned()),
        ] {
            let mut pages = vec![
                (
                    "https://idp/realms/x/.well-known/openid-configuration",
                    config.to_string(),
                ),
                ("https://idp/certs", jwks("via-openid")),
            ];
            if let Some(body) = &direct {
                pages.push(("https://idp/realms/x", body.clone()));
            }
            let web = FakeWeb::new(&pages);
            let keys = load_remote_jwk_set(&web, "https://idp/realms/x")
                .await
                .unwrap();
            assert_eq!(kids(&keys), ["via-openid"], "{direct:?}");
        }
    }

    #[tokio::test]
    async fn refuses_openid_configurations_without_an_https_jwks_uri() {
        let base = "https://idp/realms/x";
        let config_url = "https://idp/realms/x/.well-known/openid-configuration";
        let web = FakeWeb::new(&[(config_url, json!({ "issuer": base }).to_string())]);
        assert!(matches!(
            load_remote_jwk_set(&web, base).await,
            Err(SourceError::NoJwksUri { .. })
        ));
        let web = FakeWeb::new(&[
            (
                config_url,
                json!({ "jwks_uri": "http://idp/certs" }).to_string(),
            ),
            ("http://idp/certs", jwks("plain")),
        ]);
        assert!(matches!(
            load_remote_jwk_set(&web, base).await,
            Err(SourceError::UnsupportedScheme { .. })
        ));
        let web = FakeWeb::new(&[]);
        assert!(load_remote_jwk_set(&web, base).await.is_err());
    }

    #[tokio::test]
    async fn reads_local_sources_by_path_and_file_uri() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, jwks("local")).unwrap();
        let plain = path.to_str().unwrap().to_owned();
        assert_eq!(kids(&load_jwk_set(&plain).await.unwrap()), ["local"]);
        let uri = format!("file://{plain}");
        assert_eq!(kids(&load_jwk_set(&uri).await.unwrap()), ["local"]);
        assert!(read_text(&uri).await.unwrap().contains("keys"));
        let missing = dir.path().join("missing.json");
        assert!(matches!(
            load_jwk_set(missing.to_str().unwrap()).await,
            Err(SourceError::Read { .. })
        ));
    }

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
