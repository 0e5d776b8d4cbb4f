#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Published JWS vectors (RFC 7515 A.3, RFC 8037 A.4) and fixed-length EC coordinates.

use jose::{Error, Jwk, JwsAlgorithm, SigningKey, TeeKeyPair, VerifyingKey, b64, jwt};
use kbs_types::TeePubKey;
use serde_json::json;

/// RFC 7515 A.3: ES256 over `{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}`.
const RFC7515_A3_TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
const RFC7515_A3_EXP: u64 = 1_300_819_380;

/// RFC 8037 A.4: EdDSA over the non-JSON payload "Example of Ed25519 signing".
const RFC8037_A4_SIGNING_INPUT: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
const RFC8037_A4_SIGNATURE: &str =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
const RFC8037_A4_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const RFC8037_A4_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

fn rfc7515_a3_key() -> VerifyingKey {
    VerifyingKey::from_jwk(&Jwk {
        alg: Some("ES256".into()),
        kty: "EC".into(),
        crv: Some("P-256".into()),
        x: Some("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU".into()),
        y: Some("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0".into()),
        ..Jwk::default()
    })
    .unwrap()
}

fn rfc8037_a4_key() -> VerifyingKey {
    VerifyingKey::from_jwk(&Jwk {
        alg: Some("EdDSA".into()),
        kty: "OKP".into(),
        crv: Some("Ed25519".into()),
        x: Some(RFC8037_A4_X.into()),
        ..Jwk::default()
    })
    .unwrap()
}

#[test]
fn verifies_rfc7515_a3_es256_token() {
    let claims = jwt::verify(RFC7515_A3_TOKEN, &rfc7515_a3_key(), RFC7515_A3_EXP).unwrap();
    assert_eq!(
        claims,
        json!({"iss": "joe", "exp": RFC7515_A3_EXP, "http://example.com/is_root": true})
    );
}

#[test]
fn rfc7515_a3_token_expires_after_leeway() {
    assert!(jwt::verify(RFC7515_A3_TOKEN, &rfc7515_a3_key(), RFC7515_A3_EXP + 60).is_ok());
    assert_eq!(
        jwt::verify(RFC7515_A3_TOKEN, &rfc7515_a3_key(), RFC7515_A3_EXP + 61),
        Err(Error::Expired {
            exp: RFC7515_A3_EXP,
            now: RFC7515_A3_EXP + 61
        })
    );
}

#[test]
fn rfc7515_a3_token_with_flipped_signature_bit_is_refused() {
    let (input, signature) = RFC7515_A3_TOKEN.rsplit_once('.').unwrap();
    let mut signature = b64::decode_url("s", signature).unwrap();
    signature[10] ^= 0x80;
    let token = format!("{input}.{}", b64::encode_url(&signature));
    assert_eq!(
        jwt::verify(&token, &rfc7515_a3_key(), RFC7515_A3_EXP),
        Err(Error::BadSignature)
    );
}

#[test]
fn verifies_rfc8037_a4_ed25519_signature() {
    let signature = b64::decode_url("s", RFC8037_A4_SIGNATURE).unwrap();
    rfc8037_a4_key()
        .verify(
            JwsAlgorithm::EdDsa,
            RFC8037_A4_SIGNING_INPUT.as_bytes(),
            &signature,
        )
        .unwrap();
    assert_eq!(
        rfc8037_a4_key().verify(JwsAlgorithm::EdDsa, b"other input", &signature),
        Err(Error::BadSignature)
    );
}

#[test]
fn rfc8037_a4_token_is_not_a_jwt() {
    // The signature is good, but the payload is text, not a claims object.
    let token = format!("{RFC8037_A4_SIGNING_INPUT}.{RFC8037_A4_SIGNATURE}");
    assert!(matches!(
        jwt::verify(&token, &rfc8037_a4_key(), 0),
        Err(Error::MalformedToken { .. })
    ));
}

#[test]
fn ed25519_signing_reproduces_rfc8037_a4() {
    // PKCS#8 v1 wrapping of the 32-byte seed (RFC 8410 §7).
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&b64::decode_url("d", RFC8037_A4_D).unwrap());
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        b64::encode_std(&der)
    );
    let key = SigningKey::from_pem(&pem).unwrap();
    assert_eq!(key.public_jwk().unwrap().x.as_deref(), Some(RFC8037_A4_X));
    let signature = key.sign(RFC8037_A4_SIGNING_INPUT.as_bytes()).unwrap();
    assert_eq!(b64::encode_url(&signature), RFC8037_A4_SIGNATURE);
}

/// Generates keys until one has an x coordinate starting with 0x00 (1 in 256).
fn find_leading_zero<T>(generate: impl Fn() -> T, x_of: impl Fn(&T) -> String) -> T {
    for _ in 0..20_000 {
        let key = generate();
        if b64::decode_url("x", &x_of(&key)).unwrap()[0] == 0 {
            return key;
        }
    }
    panic!("no key with a leading zero x coordinate found");
}

#[test]
fn signing_jwk_keeps_leading_zero_in_x() {
    let key = find_leading_zero(
        || SigningKey::generate_es256().unwrap(),
        |k| k.public_jwk().unwrap().x.unwrap(),
    );
    let jwk = key.public_jwk().unwrap();
    assert_eq!(jwk.x.as_ref().unwrap().len(), 43);
    assert_eq!(
        b64::decode_url("x", jwk.x.as_ref().unwrap()).unwrap().len(),
        32
    );
    // The padded JWK still verifies tokens signed by the key.
    let token = jwt::sign(&key, &Default::default(), &json!({"exp": 10})).unwrap();
    assert!(jwt::verify(&token, &VerifyingKey::from_jwk(&jwk).unwrap(), 0).is_ok());
}

#[test]
fn tee_public_key_keeps_leading_zero_in_x() {
    let key = find_leading_zero(
        || TeeKeyPair::generate_ec_p256().unwrap(),
        |k| match k.public_key().unwrap() {
            TeePubKey::EC { x, .. } => x,
            _ => unreachable!(),
        },
    );
    let TeePubKey::EC { x, .. } = key.public_key().unwrap() else {
        unreachable!()
    };
    assert_eq!(b64::decode_url("x", &x).unwrap().len(), 32);
    let response = jose::jwe::encrypt(&key.public_key().unwrap(), b"zero").unwrap();
    assert_eq!(key.decrypt(&response).unwrap().as_slice(), b"zero");
}
