use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jose::SigningKey;
use jose::jwt::{self, HeaderExtras};
use serde_json::json;

use super::*;

/// Inside the validity window of every `shared/testdata/jwk` certificate (2026-04-15 ..
/// 2036-04-12): 2027-01-01T00:00:00Z.
const NOW: u64 = 1_798_761_600;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/jwk")
}

fn scenario_jwk(n: u8) -> Jwk {
    let text = std::fs::read_to_string(testdata().join(format!("scenario0{n}-jwk.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn scenario_anchors(n: u8) -> Vec<CertificateDer<'static>> {
    let pem = std::fs::read_to_string(testdata().join(format!("scenario0{n}-trust.pem"))).unwrap();
    jose::x5c::load_pem_certificates(&pem).unwrap()
}

fn claims() -> Value {
    json!({ "iss": "test-as", "exp": NOW + 300, "submods": {} })
}

fn sign(key: &SigningKey, extras: HeaderExtras, claims: &Value) -> String {
    jwt::sign(key, &extras, claims).unwrap()
}

fn with_jwk(key: &SigningKey) -> String {
    let extras = HeaderExtras {
        kid: None,
        jwk: Some(key.public_jwk().unwrap()),
    };
    sign(key, extras, &claims())
}

fn with_kid(key: &SigningKey, kid: &str) -> String {
    let extras = HeaderExtras {
        kid: Some(kid.to_owned()),
        jwk: None,
    };
    sign(key, extras, &claims())
}

fn insecure() -> AttestationTokenConfig {
    AttestationTokenConfig {
        insecure_header_jwk: true,
        ..AttestationTokenConfig::default()
    }
}

/// Replaces the header of `token` by `header`, keeping payload and signature.
fn with_header(token: &str, header: &Value) -> String {
    let (_, rest) = token.split_once('.').unwrap();
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

#[test]
fn x5c_scenarios_accept_and_refuse_as_upstream() {
    let expected = [
        (1, true),
        (2, false),
        (3, false),
        (4, false),
        (5, true),
        (6, true),
        (7, true),
    ];
    for (n, accept) in expected {
        let result = endorse_header_jwk(&scenario_jwk(n), &scenario_anchors(n), NOW);
        assert_eq!(result.is_ok(), accept, "scenario {n}: {result:?}");
    }
}

#[test]
fn x5c_refusals_say_why() {
    assert!(matches!(
        endorse_header_jwk(&scenario_jwk(2), &scenario_anchors(2), NOW),
        Err(Error::LeafKeyMismatch)
    ));
    assert!(matches!(
        endorse_header_jwk(&scenario_jwk(3), &scenario_anchors(3), NOW),
        Err(Error::MissingX5c)
    ));
    assert!(matches!(
        endorse_header_jwk(&scenario_jwk(4), &scenario_anchors(4), NOW),
        Err(Error::UntrustedChain(_))
    ));
    assert!(matches!(
        endorse_header_jwk(&scenario_jwk(1), &[], NOW),
        Err(Error::NoTrustedCertificates)
    ));
}

#[test]
fn x5c_chain_is_checked_against_the_time() {
    // 2040, after every certificate expired.
    let result = endorse_header_jwk(&scenario_jwk(1), &scenario_anchors(1), 2_208_988_800);
    assert!(
        matches!(result, Err(Error::UntrustedChain(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn header_jwk_with_x5c_needs_a_trusted_certificate_file() {
    let config = AttestationTokenConfig {
        trusted_certs_paths: vec![testdata().join("scenario05-trust.pem")],
        ..AttestationTokenConfig::default()
    };
    let verifier = TokenVerifier::new(&config, None).await.unwrap();
    // A locally generated key has no endorsement: the verifier must not trust it.
    let key = SigningKey::generate_es256().unwrap();
    let result = verifier.verify(&with_jwk(&key), NOW);
    assert!(matches!(result, Err(Error::MissingX5c)), "{result:?}");
}

#[tokio::test]
async fn refuses_to_start_without_trust_material() {
    let error = TokenVerifier::new(&AttestationTokenConfig::default(), None)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, Error::NoTrustMaterial));
    assert!(error.to_string().contains("[attestation_token]"));
}

#[tokio::test]
async fn accepts_the_local_attestation_service_key() {
    let as_key = SigningKey::generate_es256().unwrap();
    let verifier = TokenVerifier::new(
        &AttestationTokenConfig::default(),
        Some(as_key.public_jwk().unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(
        verifier.verify(&with_jwk(&as_key), NOW).unwrap().claims(),
        Some(claims())
    );

    // Same key material with other metadata is still the local key.
    let mut jwk = as_key.public_jwk().unwrap();
    jwk.kid = Some("as".to_owned());
    let extras = HeaderExtras {
        kid: None,
        jwk: Some(jwk),
    };
    assert!(
        verifier
            .verify(&sign(&as_key, extras, &claims()), NOW)
            .is_ok()
    );

    let other = SigningKey::generate_es256().unwrap();
    let result = verifier.verify(&with_jwk(&other), NOW);
    assert!(
        matches!(result, Err(Error::NoTrustedCertificates)),
        "{result:?}"
    );
}

#[tokio::test]
async fn insecure_mode_trusts_any_header_key_but_still_checks_the_token() {
    let verifier = TokenVerifier::new(&insecure(), None).await.unwrap();
    let key = SigningKey::generate_es256().unwrap();
    let token = with_jwk(&key);
    assert_eq!(
        verifier.verify(&token, NOW).unwrap().claims(),
        Some(claims())
    );

    let (head, _) = token.rsplit_once('.').unwrap();
    let other_signature = with_jwk(&SigningKey::generate_es256().unwrap());
    let (_, foreign) = other_signature.rsplit_once('.').unwrap();
    let tampered = format!("{head}.{foreign}");
    assert!(matches!(
        verifier.verify(&tampered, NOW),
        Err(Error::BadSignature)
    ));

    assert!(matches!(
        verifier.verify(&token, NOW + 300 + 61),
        Err(Error::Expired)
    ));
    assert!(
        verifier.verify(&token, NOW + 300 + 59).is_ok(),
        "60 s leeway"
    );

    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    let extras = HeaderExtras {
        kid: None,
        jwk: Some(key.public_jwk().unwrap()),
    };
    assert!(matches!(
        verifier.verify(&sign(&key, extras, &no_exp), NOW),
        Err(Error::MissingExp)
    ));
}

#[tokio::test]
async fn refuses_unsigned_and_malformed_tokens() {
    let verifier = TokenVerifier::new(&insecure(), None).await.unwrap();
    let key = SigningKey::generate_es256().unwrap();
    let mut jwk = serde_json::to_value(key.public_jwk().unwrap()).unwrap();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "jwk": jwk}).to_string()),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    assert!(matches!(
        verifier.verify(&unsigned, NOW),
        Err(Error::Unsigned)
    ));
    for token in ["", "abc", "a.b", "a.b.c"] {
        assert!(
            matches!(verifier.verify(token, NOW), Err(Error::MalformedToken)),
            "{token}"
        );
    }
    jwk.as_object_mut().unwrap().remove("alg");
    let no_alg = with_header(&with_jwk(&key), &json!({"alg": "ES256", "jwk": jwk}));
    assert!(matches!(
        verifier.verify(&no_alg, NOW),
        Err(Error::KeyWithoutAlg)
    ));
}

#[tokio::test]
async fn errors_never_include_the_token() {
    let verifier = TokenVerifier::new(&insecure(), None).await.unwrap();
    let key = SigningKey::generate_es256().unwrap();
    let token = with_jwk(&key);
    let error = verifier.verify(&token, NOW + 10_000).unwrap_err();
    let text = format!("{error} {error:?}");
    for part in token.split('.') {
        assert!(!text.contains(part), "{text}");
    }
}

struct JwksFixture {
    _dir: tempfile::TempDir,
    verifier: TokenVerifier,
    key: SigningKey,
}

async fn jwks_fixture() -> JwksFixture {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate_es256().unwrap();
    let other = SigningKey::generate_ed25519().unwrap();
    let mut first = other.public_jwk().unwrap();
    first.kid = Some("other".to_owned());
    let mut second = key.public_jwk().unwrap();
    second.kid = Some("ita-1".to_owned());
    // Two files: the verifier searches the union of every configured set.
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    std::fs::write(&a, json!({"keys": [first]}).to_string()).unwrap();
    std::fs::write(
        &b,
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}, second]}).to_string(),
    )
    .unwrap();
    let config = AttestationTokenConfig {
        trusted_jwk_sets: vec![
            a.to_str().unwrap().to_owned(),
            format!("file://{}", b.to_str().unwrap()),
        ],
        ..AttestationTokenConfig::default()
    };
    let verifier = TokenVerifier::new(&config, None).await.unwrap();
    JwksFixture {
        _dir: dir,
        verifier,
        key,
    }
}

#[tokio::test]
async fn finds_the_key_by_kid_in_jwk_set_files() {
    let f = jwks_fixture().await;
    assert_eq!(
        f.verifier
            .verify(&with_kid(&f.key, "ita-1"), NOW)
            .unwrap()
            .claims(),
        Some(claims())
    );
    let result = f.verifier.verify(&with_kid(&f.key, "ita-2"), NOW);
    assert!(
        matches!(&result, Err(Error::UnknownKey { kid }) if kid == "ita-2"),
        "{result:?}"
    );
    let result = f.verifier.verify(&with_kid(&f.key, "other"), NOW);
    assert!(
        matches!(result, Err(Error::AlgMismatch { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn header_alg_must_equal_the_jwk_alg() {
    let f = jwks_fixture().await;
    let token = with_header(
        &with_kid(&f.key, "ita-1"),
        &json!({"alg": "ES384", "kid": "ita-1"}),
    );
    let result = f.verifier.verify(&token, NOW);
    assert!(
        matches!(&result, Err(Error::AlgMismatch { token_alg, key_alg }) if token_alg == "ES384" && key_alg == "ES256"),
        "{result:?}"
    );
}

#[tokio::test]
async fn tokens_without_jwk_need_a_kid_and_jwk_sets() {
    let f = jwks_fixture().await;
    let key = SigningKey::generate_es256().unwrap();
    let bare = sign(&key, HeaderExtras::default(), &claims());
    assert!(matches!(
        f.verifier.verify(&bare, NOW),
        Err(Error::MissingKid)
    ));
    let insecure = TokenVerifier::new(&insecure(), None).await.unwrap();
    assert!(matches!(
        insecure.verify(&with_kid(&key, "k"), NOW),
        Err(Error::NoTrustedJwkSets)
    ));
}

#[tokio::test]
async fn refuses_unreadable_trust_sources_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let missing = AttestationTokenConfig {
        trusted_certs_paths: vec![dir.path().join("missing.pem")],
        ..AttestationTokenConfig::default()
    };
    assert!(matches!(
        TokenVerifier::new(&missing, None).await,
        Err(Error::ReadCertificates { .. })
    ));
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let junk = AttestationTokenConfig {
        trusted_certs_paths: vec![junk],
        ..AttestationTokenConfig::default()
    };
    assert!(matches!(
        TokenVerifier::new(&junk, None).await,
        Err(Error::InvalidCertificates { .. })
    ));
    let bad_jwks = AttestationTokenConfig {
        trusted_jwk_sets: vec!["http://idp.example/jwks".to_owned()],
        ..AttestationTokenConfig::default()
    };
    assert!(matches!(
        TokenVerifier::new(&bad_jwks, None).await,
        Err(Error::JwkSet(SourceError::UnsupportedScheme { .. }))
    ));
    let bad_pointer = AttestationTokenConfig {
        extra_teekey_paths: vec!["tee-pubkey".to_owned()],
        ..insecure()
    };
    assert!(matches!(
        TokenVerifier::new(&bad_pointer, None).await,
        Err(Error::InvalidTeeKeyPointer { .. })
    ));
}

#[tokio::test]
async fn loads_every_certificate_of_a_pem_file() {
    // Scenario 6's trust file holds a decoy root and the real root; the real one must count.
    let config = AttestationTokenConfig {
        trusted_certs_paths: vec![testdata().join("scenario06-trust.pem")],
        ..AttestationTokenConfig::default()
    };
    let verifier = TokenVerifier::new(&config, None).await.unwrap();
    assert!(verifier.anchors.len() >= 2);
    assert!(endorse_header_jwk(&scenario_jwk(6), &verifier.anchors, NOW).is_ok());
}

#[test]
fn parses_upstream_attestation_token_sections() {
    #[derive(serde::Deserialize)]
    struct Section {
        attestation_token: AttestationTokenConfig,
    }
    let section: Section = toml::from_str(
        r#"
[attestation_token]
trusted_certs_paths = ["./work/ca-cert.pem"]
trusted_jwk_sets = ["https://portal.trustauthority.intel.com"]
extra_teekey_paths = ["/custom/key"]
"#,
    )
    .unwrap();
    assert_eq!(
        section.attestation_token,
        AttestationTokenConfig {
            trusted_certs_paths: vec![PathBuf::from("./work/ca-cert.pem")],
            trusted_jwk_sets: vec!["https://portal.trustauthority.intel.com".to_owned()],
            insecure_header_jwk: false,
            extra_teekey_paths: vec!["/custom/key".to_owned()],
        }
    );
    let unknown = toml::from_str::<Section>("[attestation_token]\ninsecure_jwk = true\n");
    assert!(unknown.is_err());
}

fn ec_tee_key() -> Value {
    json!({"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": "AAAA", "y": "BBBB"})
}

/// Builds a claims document with `value` at JSON pointer `pointer`.
fn claims_at(pointer: &str, value: Value) -> Value {
    let mut root = json!({});
    let mut node = &mut root;
    let segments: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let (last, parents) = segments.split_last().unwrap();
    for segment in parents {
        node = node
            .as_object_mut()
            .unwrap()
            .entry(segment.to_string())
            .or_insert_with(|| json!({}));
    }
    node[*last] = value;
    root
}

#[tokio::test]
async fn extracts_the_tee_key_at_each_known_pointer() {
    let verifier = TokenVerifier::new(&insecure(), None).await.unwrap();
    for pointer in TEE_PUBKEY_POINTERS {
        let claims = claims_at(pointer, ec_tee_key());
        let key = verifier.tee_public_key(&claims).unwrap();
        assert!(
            matches!(key, kbs_types::TeePubKey::EC { ref crv, .. } if crv == "P-256"),
            "{pointer}"
        );
    }
}

#[tokio::test]
async fn tries_tee_key_pointers_in_order() {
    let config = AttestationTokenConfig {
        extra_teekey_paths: vec!["/custom/key".to_owned()],
        ..insecure()
    };
    let verifier = TokenVerifier::new(&config, None).await.unwrap();
    let rsa = json!({"kty": "RSA", "alg": "RSA-OAEP-256", "n": "AQAB", "e": "AQAB"});

    let mut claims = claims_at(TEE_PUBKEY_POINTERS[3], ec_tee_key());
    claims["tee-pubkey"] = rsa.clone();
    assert!(matches!(
        verifier.tee_public_key(&claims).unwrap(),
        kbs_types::TeePubKey::EC { .. }
    ));

    claims["custom"] = json!({"key": rsa});
    assert!(
        matches!(
            verifier.tee_public_key(&claims).unwrap(),
            kbs_types::TeePubKey::RSA { .. }
        ),
        "extra_teekey_paths come first"
    );

    // The first pointer that exists decides, even when it is malformed.
    claims["custom"] = json!({"key": "not a key"});
    let result = verifier.tee_public_key(&claims);
    assert!(
        matches!(&result, Err(Error::InvalidTeePubKey { pointer }) if pointer == "/custom/key"),
        "{result:?}"
    );

    assert!(matches!(
        verifier.tee_public_key(&json!({"submods": {}})),
        Err(Error::NoTeePubKey)
    ));
}

#[test]
fn finds_init_data_claims_in_ear_tokens() {
    let claims = json!({
        "submods": {"cpu0": {"ear.veraison.annotated-evidence": {
            "init_data_claims": {"cdh.toml": {"image": {}}}
        }}}
    });
    assert_eq!(
        init_data_claims(&claims),
        Some(json!({"cdh.toml": {"image": {}}}))
    );
    assert_eq!(init_data_claims(&json!({"submods": {}})), None);
}

#[tokio::test]
async fn refuses_token_used_before_nbf() {
    let verifier = TokenVerifier::new(&insecure(), None).await.unwrap();
    let key = SigningKey::generate_es256().unwrap();
    let mut early = claims();
    early["nbf"] = json!(NOW + 3000);
    let extras = HeaderExtras {
        kid: None,
        jwk: Some(key.public_jwk().unwrap()),
    };
    assert!(matches!(
        verifier.verify(&sign(&key, extras, &early), NOW),
        Err(Error::NotYetValid)
    ));
}

#[tokio::test]
async fn refuses_header_keys_it_cannot_parse() {
    let verifier = TokenVerifier::new(&insecure(), None).await.unwrap();
    let key = SigningKey::generate_es256().unwrap();
    for jwk in [
        json!({"kty": 5}),
        json!("key"),
        json!({"kty": "EC", "alg": "ES256"}),
    ] {
        let token = with_header(&with_jwk(&key), &json!({"alg": "ES256", "jwk": jwk}));
        let result = verifier.verify(&token, NOW);
        assert!(
            matches!(result, Err(Error::MalformedHeaderJwk)),
            "{jwk}: {result:?}"
        );
    }
}

#[tokio::test]
async fn answers_a_repeated_token_from_the_cache_without_verifying_it() {
    let as_key = SigningKey::generate_es256().unwrap();
    let mut verifier = TokenVerifier::new(
        &AttestationTokenConfig::default(),
        Some(as_key.public_jwk().unwrap()),
    )
    .await
    .unwrap();
    let token = with_jwk(&as_key);
    let first = verifier.verify(&token, NOW).unwrap();
    // With the trust gone, only the cache can still accept the token.
    verifier.local_as = None;
    let second = verifier.verify(&token, NOW + 1).unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(second.claims(), Some(claims()));
    // Any other token, even from the same key, is verified in full (and now refused).
    let mut other_claims = claims();
    other_claims["iss"] = json!("other");
    let extras = HeaderExtras {
        kid: None,
        jwk: Some(as_key.public_jwk().unwrap()),
    };
    let result = verifier.verify(&sign(&as_key, extras, &other_claims), NOW + 1);
    assert!(
        matches!(result, Err(Error::NoTrustedCertificates)),
        "{result:?}"
    );
}

#[tokio::test]
async fn refuses_a_cached_token_once_it_expired() {
    let verifier = TokenVerifier::new(&insecure(), None).await.unwrap();
    let key = SigningKey::generate_es256().unwrap();
    let mut short = claims();
    short["exp"] = json!(NOW + 10);
    let extras = HeaderExtras {
        kid: None,
        jwk: Some(key.public_jwk().unwrap()),
    };
    let token = sign(&key, extras, &short);
    let first = verifier.verify(&token, NOW).unwrap();
    // Last second of exp + 60 s leeway: still the cached verification.
    let last = verifier.verify(&token, NOW + 70).unwrap();
    assert!(Arc::ptr_eq(&first, &last));
    let result = verifier.verify(&token, NOW + 71);
    assert!(matches!(result, Err(Error::Expired)), "{result:?}");
}

#[tokio::test]
async fn a_tampered_copy_of_a_cached_token_misses_and_fails() {
    let verifier = TokenVerifier::new(&insecure(), None).await.unwrap();
    let key = SigningKey::generate_es256().unwrap();
    let token = with_jwk(&key);
    verifier.verify(&token, NOW).unwrap();

    let (head, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = signature.as_bytes().to_vec();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{head}.{}", String::from_utf8(bytes).unwrap());
    let result = verifier.verify(&tampered, NOW);
    assert!(matches!(result, Err(Error::BadSignature)), "{result:?}");

    let mut forged = claims();
    forged["iss"] = json!("forged");
    let (header, _) = token.split_once('.').unwrap();
    let (_, signature) = token.rsplit_once('.').unwrap();
    let payload = URL_SAFE_NO_PAD.encode(forged.to_string());
    let result = verifier.verify(&format!("{header}.{payload}.{signature}"), NOW);
    assert!(matches!(result, Err(Error::BadSignature)), "{result:?}");
}

#[tokio::test]
async fn a_verified_token_carries_its_tee_key_and_the_key_errors() {
    let as_key = SigningKey::generate_es256().unwrap();
    let verifier = TokenVerifier::new(
        &AttestationTokenConfig::default(),
        Some(as_key.public_jwk().unwrap()),
    )
    .await
    .unwrap();
    let extras = || HeaderExtras {
        kid: None,
        jwk: Some(as_key.public_jwk().unwrap()),
    };
    let with = |key: Value| {
        let mut claims = claims_at(TEE_PUBKEY_POINTERS[3], key);
        claims["exp"] = json!(NOW + 300);
        claims
    };

    let good = with(ec_tee_key());
    let token = sign(&as_key, extras(), &good);
    let verified = verifier.verify(&token, NOW).unwrap();
    // `TeePubKey` has no `PartialEq`: compare the wire forms.
    assert_eq!(
        serde_json::to_value(verified.tee_public_key().unwrap()).unwrap(),
        serde_json::to_value(verifier.tee_public_key(&good).unwrap()).unwrap()
    );
    // The cached answer carries the same key.
    let again = verifier.verify(&token, NOW + 1).unwrap();
    assert!(Arc::ptr_eq(&verified, &again));
    assert!(again.tee_public_key().is_ok());

    let malformed = verifier
        .verify(&sign(&as_key, extras(), &with(json!("not a key"))), NOW)
        .unwrap();
    let result = malformed.tee_public_key();
    assert!(
        matches!(&result, Err(Error::InvalidTeePubKey { pointer }) if pointer == TEE_PUBKEY_POINTERS[3]),
        "{result:?}"
    );
    let missing = verifier
        .verify(&sign(&as_key, extras(), &claims()), NOW)
        .unwrap();
    assert!(matches!(missing.tee_public_key(), Err(Error::NoTeePubKey)));
    assert!(
        !format!("{missing:?}").contains("test-as"),
        "claims are not printed"
    );
    assert_eq!(missing.init_data_claims(), None);

    let init_data = json!({"cdh.toml": {"image": {}}});
    let mut with_init_data = claims_at(INIT_DATA_CLAIMS_POINTER, init_data.clone());
    with_init_data["exp"] = json!(NOW + 300);
    let verified = verifier
        .verify(&sign(&as_key, extras(), &with_init_data), NOW)
        .unwrap();
    assert_eq!(verified.init_data_claims(), Some(&init_data));
    assert_eq!(verified.claims(), Some(with_init_data));
}
