//! The token signer: an ES256 key and the JWK every token header carries (spec §5.4, §5.6).

use std::path::Path;

use jose::{Jwk, JwsAlgorithm, SigningKey, jwt};
use serde::Serialize;

use crate::Error;
use crate::config::SignerConfig;

/// Signs EAR tokens with an EC P-256 key.
///
/// The header JWK is computed once: `alg`, then `x5u` and `x5c` when configured, then the key
/// (`kty`, `crv`, `x`, `y`), the member order upstream tokens and JWK sets have.
pub struct TokenSigner {
    key: SigningKey,
    jwk: Jwk,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("jwk", &self.jwk)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer over `key`, which must be EC P-256. `cert_chain` (DER, leaf first) becomes the
    /// header's `x5c` and `cert_url` its `x5u`; both are omitted when empty / `None`.
    ///
    /// The leaf certificate must hold `key`'s public key: a relying party that trusts `x5c`
    /// would refuse every token otherwise, so the mistake is reported at start-up instead.
    pub fn new(
        key: SigningKey,
        cert_chain: &[Vec<u8>],
        cert_url: Option<String>,
    ) -> Result<Self, Error> {
        let alg = key.algorithm();
        if alg != JwsAlgorithm::Es256 {
            return Err(Error::SignerNotP256 { alg: alg.name() });
        }
        let mut jwk = key.public_jwk()?;
        jwk.x5u = cert_url;
        if !cert_chain.is_empty() {
            let x5c: Vec<String> = cert_chain
                .iter()
                .map(|der| jose::b64::encode_std(der))
                .collect();
            if !jose::x5c::leaf_matches_jwk(&x5c, &jwk)? {
                return Err(Error::CertificateKeyMismatch);
            }
            jwk.x5c = Some(x5c);
        }
        Ok(Self { key, jwk })
    }

    /// A fresh P-256 key with no certificates. Only a relying party that trusts the header key
    /// itself (KBS `insecure_header_jwk`) or is handed [`TokenSigner::jwk`] can verify its
    /// tokens.
    pub fn ephemeral() -> Result<Self, Error> {
        Self::new(SigningKey::generate_es256()?, &[], None)
    }

    /// Loads `attestation_token_broker.signer`: a PEM P-256 key (PKCS#8 or SEC1) and, optionally,
    /// a PEM certificate chain whose certificates go into `x5c` in file order.
    pub fn from_config(config: &SignerConfig) -> Result<Self, Error> {
        let key = SigningKey::from_pem(&read_to_string(&config.key_path)?)?;
        let chain = match &config.cert_path {
            Some(path) => {
                let chain: Vec<Vec<u8>> = jose::x5c::load_pem_certificates(&read_to_string(path)?)?
                    .iter()
                    .map(|der| der.to_vec())
                    .collect();
                if chain.is_empty() {
                    return Err(Error::NoCertificates { path: path.clone() });
                }
                chain
            }
            None => Vec::new(),
        };
        Self::new(key, &chain, config.cert_url.clone())
    }

    /// The signing key, e.g. for a caller that persists a generated key.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// The public JWK carried in every token header.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// Signs `claims` into a compact JWT with header `{"typ":"JWT","alg":"ES256","jwk":{..}}`.
    pub(crate) fn sign(&self, claims: &impl Serialize) -> Result<String, Error> {
        let extras = jwt::HeaderExtras {
            kid: None,
            jwk: Some(self.jwk.clone()),
        };
        Ok(jwt::sign(&self.key, &extras, claims)?)
    }
}

fn read_to_string(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/signer")
            .join(name)
    }

    fn config(key: &str, chain: Option<&str>, url: Option<&str>) -> SignerConfig {
        SignerConfig {
            key_path: fixture(key),
            cert_path: chain.map(fixture),
            cert_url: url.map(str::to_owned),
        }
    }

    #[test]
    fn sec1_and_pkcs8_keys_load_to_the_same_jwk() {
        let sec1 = TokenSigner::from_config(&config("token-key-sec1.pem", None, None)).unwrap();
        let pkcs8 = TokenSigner::from_config(&config("token-key-pkcs8.pem", None, None)).unwrap();
        assert_eq!(sec1.jwk(), pkcs8.jwk());
        assert_eq!(sec1.jwk().x5c, None);
        assert_eq!(sec1.jwk().x5u, None);
    }

    #[test]
    fn chain_becomes_x5c_in_file_order_and_url_becomes_x5u() {
        let signer = TokenSigner::from_config(&config(
            "token-key-sec1.pem",
            Some("token-chain.pem"),
            Some("https://certs.example/chain.pem"),
        ))
        .unwrap();
        let text = std::fs::read_to_string(fixture("token-chain.pem")).unwrap();
        let expected: Vec<String> = pem::parse_many(&text)
            .unwrap()
            .iter()
            .map(|block| jose::b64::encode_std(block.contents()))
            .collect();
        assert_eq!(expected.len(), 2);
        assert_eq!(signer.jwk().x5c.as_ref(), Some(&expected));
        // Standard alphabet with padding, as RFC 7515 requires for x5c.
        assert!(expected[0].ends_with('=') || expected[0].len() % 4 == 0);
        assert_eq!(
            signer.jwk().x5u.as_deref(),
            Some("https://certs.example/chain.pem")
        );
        let json = serde_json::to_string(signer.jwk()).unwrap();
        let order: Vec<usize> = [
            "\"alg\"", "\"x5u\"", "\"x5c\"", "\"kty\"", "\"crv\"", "\"x\"", "\"y\"",
        ]
        .iter()
        .map(|member| json.find(member).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{json}");
    }

    #[test]
    fn chain_for_another_key_is_refused() {
        let text = std::fs::read_to_string(fixture("token-chain.pem")).unwrap();
        let chain: Vec<Vec<u8>> = pem::parse_many(&text)
            .unwrap()
            .into_iter()
            .map(pem::Pem::into_contents)
            .collect();
        let err =
            TokenSigner::new(SigningKey::generate_es256().unwrap(), &chain, None).unwrap_err();
        assert!(matches!(err, Error::CertificateKeyMismatch), "{err}");
    }

    #[test]
    fn p384_key_is_refused() {
        let err = TokenSigner::from_config(&config("p384-key.pem", None, None)).unwrap_err();
        assert!(
            matches!(err, Error::Jose(_) | Error::SignerNotP256 { .. }),
            "{err}"
        );
    }

    #[test]
    fn non_ec_keys_are_refused() {
        let err = TokenSigner::new(SigningKey::generate_ed25519().unwrap(), &[], None).unwrap_err();
        assert!(
            matches!(err, Error::SignerNotP256 { alg: "EdDSA" }),
            "{err}"
        );
    }

    #[test]
    fn chain_file_without_certificates_is_refused() {
        let err = TokenSigner::from_config(&config(
            "token-key-sec1.pem",
            Some("token-key-pkcs8.pem"),
            None,
        ))
        .unwrap_err();
        assert!(matches!(err, Error::NoCertificates { .. }), "{err}");
    }

    #[test]
    fn missing_key_file_names_the_path() {
        let err = TokenSigner::from_config(&config("absent.pem", None, None)).unwrap_err();
        assert!(err.to_string().contains("absent.pem"), "{err}");
    }

    #[test]
    fn ephemeral_key_is_p256_with_32_byte_coordinates() {
        let signer = TokenSigner::ephemeral().unwrap();
        let jwk = signer.jwk();
        assert_eq!(jwk.alg.as_deref(), Some("ES256"));
        assert_eq!(jwk.kty, "EC");
        assert_eq!(jwk.crv.as_deref(), Some("P-256"));
        for coordinate in [&jwk.x, &jwk.y] {
            let bytes = jose::b64::decode_url("x", coordinate.as_deref().unwrap()).unwrap();
            assert_eq!(bytes.len(), 32);
        }
    }
}
