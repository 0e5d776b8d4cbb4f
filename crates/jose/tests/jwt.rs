#![allow(clippy::unwrap_used, clippy::expect_used)]
//! JWT signing and verification.

use jose::jwt::{self, Header, HeaderExtras};
use jose::{Error, JwsAlgorithm, SigningKey, VerifyingKey, b64};
use serde_json::{Value, json};

const NOW: u64 = 1_800_000_000;

fn claims() -> Value {
    json!({"iss": "issuer", "role": "admin", "exp": NOW + 300})
}

fn keys() -> Vec<SigningKey> {
    vec![
        SigningKey::generate_es256().unwrap(),
        SigningKey::generate_ed25519().unwrap(),
        SigningKey::generate_rs256(2048).unwrap(),
    ]
}

/// Signs arbitrary header and payload JSON, for tokens `jwt::sign` would never produce.
fn forge(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64::encode_url(header.to_string().as_bytes()),
        b64::encode_url(claims.to_string().as_bytes())
    );
    let signature = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64::encode_url(&signature))
}

#[test]
fn sign_then_verify_for_every_key_type() {
    for key in keys() {
        let token = jwt::sign(&key, &HeaderExtras::default(), &claims()).unwrap();
        let verifying = VerifyingKey::from_jwk(&key.public_jwk().unwrap()).unwrap();
        assert_eq!(jwt::verify(&token, &verifying, NOW).unwrap(), claims());
        let from_pem = VerifyingKey::from_public_key_pem(&key.public_key_pem().unwrap()).unwrap();
        assert_eq!(jwt::verify(&token, &from_pem, NOW).unwrap(), claims());
    }
}

#[test]
fn header_serialises_in_order() {
    let key = SigningKey::generate_es256().unwrap();
    let jwk = key.public_jwk().unwrap();
    let extras = HeaderExtras {
        kid: Some("k1".into()),
        jwk: Some(jwk.clone()),
    };
    let token = jwt::sign(&key, &extras, &claims()).unwrap();
    let header_segment = token.split('.').next().unwrap();
    let header = String::from_utf8(b64::decode_url("h", header_segment).unwrap()).unwrap();
    let jwk_json = serde_json::to_string(&jwk).unwrap();
    assert_eq!(
        header,
        format!(r#"{{"typ":"JWT","alg":"ES256","kid":"k1","jwk":{jwk_json}}}"#)
    );
    assert!(jwk_json.starts_with(r#"{"alg":"ES256","kty":"EC","crv":"P-256","x":""#));
    let decoded = Header::decode(&token).unwrap();
    assert_eq!(decoded.jwk, Some(jwk));
    assert_eq!(decoded.kid.as_deref(), Some("k1"));
}

#[test]
fn es256_signature_is_raw_r_s() {
    let key = SigningKey::generate_es256().unwrap();
    let token = jwt::sign(&key, &HeaderExtras::default(), &claims()).unwrap();
    let signature = token.rsplit('.').next().unwrap();
    assert_eq!(b64::decode_url("s", signature).unwrap().len(), 64);
}

#[test]
fn refuses_alg_none() {
    let key = SigningKey::generate_es256().unwrap();
    let verifying = key.verifying_key();
    let header = b64::encode_url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64::encode_url(claims().to_string().as_bytes());
    let token = format!("{header}.{payload}.");
    assert_eq!(
        jwt::verify(&token, &verifying, NOW).unwrap_err(),
        Error::UnsupportedSignatureAlgorithm { alg: "none".into() }
    );
    let pem_key = VerifyingKey::from_public_key_pem(&key.public_key_pem().unwrap()).unwrap();
    assert!(matches!(
        jwt::verify(&token, &pem_key, NOW),
        Err(Error::UnsupportedSignatureAlgorithm { .. })
    ));
}

#[test]
fn refuses_tampered_signature_and_payload() {
    for key in keys() {
        let token = jwt::sign(&key, &HeaderExtras::default(), &claims()).unwrap();
        let verifying = key.verifying_key();
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut signature = b64::decode_url("s", signature).unwrap();
        signature[0] ^= 1;
        let tampered = format!("{input}.{}", b64::encode_url(&signature));
        assert_eq!(
            jwt::verify(&tampered, &verifying, NOW),
            Err(Error::BadSignature)
        );

        let mut parts: Vec<&str> = token.split('.').collect();
        let other_claims = b64::encode_url(br#"{"role":"admin","exp":9999999999}"#);
        parts[1] = &other_claims;
        assert_eq!(
            jwt::verify(&parts.join("."), &verifying, NOW),
            Err(Error::BadSignature)
        );
    }
}

#[test]
fn refuses_wrong_key() {
    let signer = SigningKey::generate_es256().unwrap();
    let other = SigningKey::generate_es256().unwrap();
    let token = jwt::sign(&signer, &HeaderExtras::default(), &claims()).unwrap();
    assert_eq!(
        jwt::verify(&token, &other.verifying_key(), NOW),
        Err(Error::BadSignature)
    );
}

#[test]
fn refuses_alg_that_does_not_fit_the_key() {
    let ec = SigningKey::generate_es256().unwrap();
    let ed = SigningKey::generate_ed25519().unwrap();
    let token = jwt::sign(&ed, &HeaderExtras::default(), &claims()).unwrap();
    let pem_key = VerifyingKey::from_public_key_pem(&ec.public_key_pem().unwrap()).unwrap();
    assert!(matches!(
        jwt::verify(&token, &pem_key, NOW),
        Err(Error::AlgorithmMismatch { .. })
    ));
}

#[test]
fn refuses_header_alg_different_from_jwk_alg() {
    let rsa = SigningKey::generate_rs256(2048).unwrap();
    let mut jwk = rsa.public_jwk().unwrap();
    jwk.alg = Some("PS256".into());
    let verifying = VerifyingKey::from_jwk(&jwk).unwrap();
    let token = jwt::sign(&rsa, &HeaderExtras::default(), &claims()).unwrap();
    assert_eq!(
        jwt::verify(&token, &verifying, NOW).unwrap_err(),
        Error::AlgorithmMismatch {
            token_alg: "RS256".into(),
            key: "RSA PS256".into()
        }
    );
}

#[test]
fn pem_key_accepts_any_fitting_rsa_alg() {
    let rsa = SigningKey::generate_rs256(2048).unwrap();
    let pem_key = VerifyingKey::from_public_key_pem(&rsa.public_key_pem().unwrap()).unwrap();
    assert_eq!(pem_key.algorithm(), None);
    assert!(pem_key.check_algorithm(JwsAlgorithm::Ps512).is_ok());
    assert!(pem_key.check_algorithm(JwsAlgorithm::Es256).is_err());
}

#[test]
fn expiry_has_sixty_seconds_leeway() {
    let key = SigningKey::generate_es256().unwrap();
    let token = jwt::sign(&key, &HeaderExtras::default(), &json!({"exp": NOW})).unwrap();
    let verifying = key.verifying_key();
    assert!(jwt::verify(&token, &verifying, NOW + 60).is_ok());
    assert_eq!(
        jwt::verify(&token, &verifying, NOW + 61),
        Err(Error::Expired {
            exp: NOW,
            now: NOW + 61
        })
    );
    assert!(jwt::verify_with_leeway(&token, &verifying, NOW + 1, 0).is_err());
}

#[test]
fn refuses_missing_or_non_numeric_exp() {
    let key = SigningKey::generate_es256().unwrap();
    let verifying = key.verifying_key();
    for claims in [json!({"role": "admin"}), json!({"exp": "soon"})] {
        let token = jwt::sign(&key, &HeaderExtras::default(), &claims).unwrap();
        assert_eq!(
            jwt::verify(&token, &verifying, NOW),
            Err(Error::MissingExpiry)
        );
    }
}

#[test]
fn refuses_token_not_yet_valid() {
    let key = SigningKey::generate_es256().unwrap();
    let verifying = key.verifying_key();
    let claims = json!({"exp": NOW + 1000, "nbf": NOW + 61});
    let token = jwt::sign(&key, &HeaderExtras::default(), &claims).unwrap();
    assert_eq!(
        jwt::verify(&token, &verifying, NOW),
        Err(Error::NotYetValid {
            nbf: NOW + 61,
            now: NOW
        })
    );
    let claims = json!({"exp": NOW + 1000, "nbf": NOW + 60});
    let token = jwt::sign(&key, &HeaderExtras::default(), &claims).unwrap();
    assert!(jwt::verify(&token, &verifying, NOW).is_ok());
}

#[test]
fn refuses_malformed_tokens() {
    let key = SigningKey::generate_es256().unwrap();
    let verifying = key.verifying_key();
    for token in ["", "a.b", "a.b.c.d", "!!.e30.sig", ".e30.sig"] {
        assert!(
            matches!(
                jwt::verify(token, &verifying, NOW),
                Err(Error::MalformedToken { .. })
            ),
            "{token}"
        );
    }
    let array_payload = forge(&key, &json!({"alg": "ES256"}), &json!([1, 2]));
    assert!(matches!(
        jwt::verify(&array_payload, &verifying, NOW),
        Err(Error::MalformedToken { .. })
    ));
}

#[test]
fn verifies_tokens_without_typ() {
    let key = SigningKey::generate_ed25519().unwrap();
    let token = forge(&key, &json!({"alg": "EdDSA"}), &claims());
    assert_eq!(
        jwt::verify(&token, &key.verifying_key(), NOW).unwrap(),
        claims()
    );
}

#[test]
fn verifying_key_from_jwk_requires_alg() {
    let mut jwk = SigningKey::generate_es256().unwrap().public_jwk().unwrap();
    jwk.alg = None;
    assert_eq!(
        VerifyingKey::from_jwk(&jwk).unwrap_err(),
        Error::MissingMember { member: "alg" }
    );
}

#[test]
fn verifying_key_from_jwk_rejects_alg_for_other_key_type() {
    let mut jwk = SigningKey::generate_es256().unwrap().public_jwk().unwrap();
    jwk.alg = Some("RS256".into());
    assert!(matches!(
        VerifyingKey::from_jwk(&jwk),
        Err(Error::AlgorithmMismatch { .. })
    ));
}

#[test]
fn signing_key_pem_round_trips() {
    for key in keys() {
        let pem = key.to_pem().unwrap();
        let reloaded = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(reloaded.algorithm(), key.algorithm());
        assert_eq!(reloaded.public_jwk().unwrap(), key.public_jwk().unwrap());
    }
}

#[test]
fn ed25519_jwk_shape() {
    let jwk = SigningKey::generate_ed25519()
        .unwrap()
        .public_jwk()
        .unwrap();
    assert_eq!(jwk.kty, "OKP");
    assert_eq!(jwk.crv.as_deref(), Some("Ed25519"));
    assert_eq!(jwk.alg.as_deref(), Some("EdDSA"));
}

#[test]
fn verifying_key_rejects_point_off_curve() {
    let mut jwk = SigningKey::generate_es256().unwrap().public_jwk().unwrap();
    let mut y = b64::decode_url("y", jwk.y.as_deref().unwrap()).unwrap();
    y[31] ^= 1;
    jwk.y = Some(b64::encode_url(&y));
    assert_eq!(
        VerifyingKey::from_jwk(&jwk).unwrap_err(),
        Error::PointNotOnCurve { crv: "P-256" }
    );
}

#[test]
fn verifying_key_rejects_small_rsa_modulus() {
    let jwk = jose::Jwk::from_rsa_components(&[0xc5; 128], &[1, 0, 1], Some("RS256"));
    assert_eq!(
        VerifyingKey::from_jwk(&jwk).unwrap_err(),
        Error::RsaKeyTooSmall { bits: 1024 }
    );
}

#[test]
fn verifying_key_rejects_unsupported_key_types() {
    let mut jwk = SigningKey::generate_es256().unwrap().public_jwk().unwrap();
    jwk.kty = "oct".into();
    assert!(matches!(
        VerifyingKey::from_jwk(&jwk),
        Err(Error::UnsupportedKeyType { .. })
    ));
    let mut jwk = SigningKey::generate_ed25519()
        .unwrap()
        .public_jwk()
        .unwrap();
    jwk.crv = Some("X25519".into());
    assert!(matches!(
        VerifyingKey::from_jwk(&jwk),
        Err(Error::UnsupportedCurve { .. })
    ));
}

#[test]
fn exp_may_be_fractional_or_negative() {
    let key = SigningKey::generate_es256().unwrap();
    let verifying = key.verifying_key();
    let token = jwt::sign(
        &key,
        &HeaderExtras::default(),
        &json!({"exp": 1_800_000_000.5}),
    )
    .unwrap();
    assert!(jwt::verify(&token, &verifying, NOW + 60).is_ok());
    assert!(jwt::verify(&token, &verifying, NOW + 61).is_err());
    let token = jwt::sign(&key, &HeaderExtras::default(), &json!({"exp": -5})).unwrap();
    assert_eq!(
        jwt::verify(&token, &verifying, NOW),
        Err(Error::Expired { exp: 0, now: NOW })
    );
}
