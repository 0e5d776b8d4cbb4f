#![allow(clippy::unwrap_used, clippy::expect_used)]
// RSA1_5 is deprecated in josekit, but upstream KBS still serves it, so it must interoperate.
#![allow(deprecated)]
//! Differential tests against josekit, an independent JOSE implementation on OpenSSL.

use jose::jwt::{self, HeaderExtras};
use jose::{Jwk, RsaAlg, SigningKey, TeeKeyPair, VerifyingKey, jwe};
use josekit::jwe::{self as jk_jwe, JweHeaderSet};
use josekit::jwk::{self as jk_jwk, KeyPair as _};
use josekit::jws::{self as jk_jws, JwsHeader};
use josekit::jwt::{self as jk_jwt, JwtPayload};
use kbs_types::Response;
use serde_json::{Map, Value, json};

const NOW: u64 = 1_800_000_000;

fn flattened(response: &Response) -> String {
    serde_json::to_string(response).unwrap()
}

fn compact(response: &Response) -> String {
    let wire = serde_json::to_value(response).unwrap();
    ["protected", "encrypted_key", "iv", "ciphertext", "tag"]
        .iter()
        .map(|member| wire[member].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(".")
}

fn josekit_jwk(value: &impl serde::Serialize) -> jk_jwk::Jwk {
    let Value::Object(map) = serde_json::to_value(value).unwrap() else {
        panic!("not an object")
    };
    jk_jwk::Jwk::from_map(map).unwrap()
}

/// Encrypts with josekit, protected header members in the order alg, enc (as KBS emits them,
/// and as the guest's AAD recomputation needs).
fn josekit_encrypt(encrypter: &dyn jk_jwe::JweEncrypter, payload: &[u8]) -> Response {
    let mut header = JweHeaderSet::new();
    header.set_algorithm(encrypter.algorithm().name(), true);
    header.set_content_encryption("A256GCM", true);
    let json =
        jk_jwe::serialize_flattened_json(payload, Some(&header), None, None, encrypter).unwrap();
    serde_json::from_str(&json).unwrap()
}

#[test]
fn josekit_decrypts_ecdh_es_a256kw_p256_and_p521() {
    for key in [
        TeeKeyPair::generate_ec_p256().unwrap(),
        TeeKeyPair::generate_ec_p521().unwrap(),
    ] {
        let response = jwe::encrypt(&key.public_key().unwrap(), b"ec secret").unwrap();
        let decrypter = jk_jwe::ECDH_ES_A256KW
            .decrypter_from_pem(key.to_pem().unwrap().as_bytes())
            .unwrap();
        let (plain, header) = jk_jwe::deserialize_json(&flattened(&response), &decrypter).unwrap();
        assert_eq!(plain, b"ec secret");
        assert_eq!(header.content_encryption(), Some("A256GCM"));
        let (plain, _) = jk_jwe::deserialize_compact(&compact(&response), &decrypter).unwrap();
        assert_eq!(plain, b"ec secret");
    }
}

#[test]
fn josekit_decrypts_rsa_oaep_256_and_rsa1_5() {
    let key = TeeKeyPair::generate_rsa(2048).unwrap();
    let pem = key.to_pem().unwrap();

    let response = jwe::encrypt(&key.public_key().unwrap(), b"oaep secret").unwrap();
    let decrypter = jk_jwe::RSA_OAEP_256
        .decrypter_from_pem(pem.as_bytes())
        .unwrap();
    let (plain, _) = jk_jwe::deserialize_json(&flattened(&response), &decrypter).unwrap();
    assert_eq!(plain, b"oaep secret");

    let key = key.with_rsa_alg(RsaAlg::Rsa1_5);
    let response = jwe::encrypt(&key.public_key().unwrap(), b"pkcs1 secret").unwrap();
    let decrypter = jk_jwe::RSA1_5.decrypter_from_pem(pem.as_bytes()).unwrap();
    let (plain, _) = jk_jwe::deserialize_compact(&compact(&response), &decrypter).unwrap();
    assert_eq!(plain, b"pkcs1 secret");
}

#[test]
fn josekit_decrypts_with_jwk_private_key() {
    // Same check through josekit's JWK import, which rebuilds the key from d/x/y.
    let josekit_key = jk_jwe::ECDH_ES_A256KW
        .generate_ec_key_pair(jk_jwk::P_256)
        .unwrap();
    let key = TeeKeyPair::from_pem(std::str::from_utf8(&josekit_key.to_pem_private_key()).unwrap())
        .unwrap();
    let response = jwe::encrypt(&key.public_key().unwrap(), b"x").unwrap();
    let decrypter = jk_jwe::ECDH_ES_A256KW
        .decrypter_from_jwk(&josekit_key.to_jwk_private_key())
        .unwrap();
    assert_eq!(
        jk_jwe::deserialize_json(&flattened(&response), &decrypter)
            .unwrap()
            .0,
        b"x"
    );
}

#[test]
fn decrypts_josekit_ecdh_es_a256kw_p256_and_p521() {
    for key in [
        TeeKeyPair::generate_ec_p256().unwrap(),
        TeeKeyPair::generate_ec_p521().unwrap(),
    ] {
        let encrypter = jk_jwe::ECDH_ES_A256KW
            .encrypter_from_jwk(&josekit_jwk(&key.public_key().unwrap()))
            .unwrap();
        let response = josekit_encrypt(&encrypter, b"from josekit");
        assert_eq!(response.encrypted_key.len(), 40);
        assert_eq!(key.decrypt(&response).unwrap().as_slice(), b"from josekit");
    }
}

#[test]
fn decrypts_josekit_rsa_oaep_256_and_rsa1_5() {
    let key = TeeKeyPair::generate_rsa(2048).unwrap();
    let public = josekit_jwk(&key.public_key().unwrap());
    let encrypter = jk_jwe::RSA_OAEP_256.encrypter_from_jwk(&public).unwrap();
    let response = josekit_encrypt(&encrypter, b"oaep from josekit");
    assert_eq!(
        key.decrypt(&response).unwrap().as_slice(),
        b"oaep from josekit"
    );

    let key = key.with_rsa_alg(RsaAlg::Rsa1_5);
    let public = josekit_jwk(&key.public_key().unwrap());
    let encrypter = jk_jwe::RSA1_5.encrypter_from_jwk(&public).unwrap();
    let response = josekit_encrypt(&encrypter, b"pkcs1 from josekit");
    assert_eq!(
        key.decrypt(&response).unwrap().as_slice(),
        b"pkcs1 from josekit"
    );
}

#[test]
fn reads_traditional_pkcs1_and_sec1_private_keys() {
    let rsa = jk_jwk::alg::rsa::RsaKeyPair::generate(2048).unwrap();
    let pkcs1 = String::from_utf8(rsa.to_traditional_pem_private_key()).unwrap();
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let key = TeeKeyPair::from_pem(&pkcs1).unwrap();
    let response = jwe::encrypt(&key.public_key().unwrap(), b"pkcs1 pem").unwrap();
    let decrypter = jk_jwe::RSA_OAEP_256
        .decrypter_from_pem(pkcs1.as_bytes())
        .unwrap();
    assert_eq!(
        jk_jwe::deserialize_json(&flattened(&response), &decrypter)
            .unwrap()
            .0,
        b"pkcs1 pem"
    );
    assert_eq!(
        SigningKey::from_pem(&pkcs1).unwrap().algorithm().name(),
        "RS256"
    );

    let ec = jk_jwk::alg::ec::EcKeyPair::generate(jk_jwk::P_256).unwrap();
    let sec1 = String::from_utf8(ec.to_traditional_pem_private_key()).unwrap();
    assert!(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let key = TeeKeyPair::from_pem(&sec1).unwrap();
    let response = jwe::encrypt(&key.public_key().unwrap(), b"sec1 pem").unwrap();
    assert_eq!(key.decrypt(&response).unwrap().as_slice(), b"sec1 pem");
    assert_eq!(
        SigningKey::from_pem(&sec1).unwrap().algorithm().name(),
        "ES256"
    );

    let p521 = jk_jwk::alg::ec::EcKeyPair::generate(jk_jwk::P_521).unwrap();
    let sec1 = String::from_utf8(p521.to_traditional_pem_private_key()).unwrap();
    let key = TeeKeyPair::from_pem(&sec1).unwrap();
    assert!(matches!(
        key.public_key().unwrap(),
        kbs_types::TeePubKey::EC { ref crv, .. } if crv == "P-521"
    ));
}

#[test]
fn signing_key_refuses_p384() {
    let p384 = jk_jwk::alg::ec::EcKeyPair::generate(jk_jwk::P_384).unwrap();
    let pkcs8 = String::from_utf8(p384.to_pem_private_key()).unwrap();
    assert!(SigningKey::from_pem(&pkcs8).is_err());
}

fn josekit_token(signer: &dyn jk_jws::JwsSigner, claims: &Value) -> String {
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    let Value::Object(map) = claims.clone() else {
        panic!()
    };
    let payload = JwtPayload::from_map(map).unwrap();
    jk_jwt::encode_with_signer(&payload, &header, signer).unwrap()
}

/// josekit tags generated keys with their algorithm; PSS signing needs the bare RSA key.
fn rsa_private_jwk_without_alg(rsa: &jk_jwk::alg::rsa::RsaKeyPair) -> jk_jwk::Jwk {
    let mut map = rsa.to_jwk_private_key().as_ref().clone();
    map.remove("alg");
    jk_jwk::Jwk::from_map(map).unwrap()
}

#[test]
fn verifies_josekit_tokens_for_every_algorithm() {
    let claims = json!({"sub": "x", "exp": NOW + 100});
    let ec256 = jk_jws::ES256.generate_key_pair().unwrap();
    let ec384 = jk_jws::ES384.generate_key_pair().unwrap();
    let ed = jk_jws::EdDSA
        .generate_key_pair(jk_jwk::alg::ed::EdCurve::Ed25519)
        .unwrap();
    let rsa = jk_jws::RS256.generate_key_pair(2048).unwrap();
    let cases: Vec<(Box<dyn jk_jws::JwsSigner>, Vec<u8>, jk_jwk::Jwk)> = vec![
        (
            Box::new(
                jk_jws::ES256
                    .signer_from_pem(ec256.to_pem_private_key())
                    .unwrap(),
            ),
            ec256.to_pem_public_key(),
            ec256.to_jwk_public_key(),
        ),
        (
            Box::new(
                jk_jws::ES384
                    .signer_from_pem(ec384.to_pem_private_key())
                    .unwrap(),
            ),
            ec384.to_pem_public_key(),
            ec384.to_jwk_public_key(),
        ),
        (
            Box::new(
                jk_jws::EdDSA
                    .signer_from_pem(ed.to_pem_private_key())
                    .unwrap(),
            ),
            ed.to_pem_public_key(),
            ed.to_jwk_public_key(),
        ),
        (
            Box::new(
                jk_jws::RS256
                    .signer_from_pem(rsa.to_pem_private_key())
                    .unwrap(),
            ),
            rsa.to_pem_public_key(),
            rsa.to_jwk_public_key(),
        ),
        (
            Box::new(
                jk_jws::RS384
                    .signer_from_pem(rsa.to_pem_private_key())
                    .unwrap(),
            ),
            rsa.to_pem_public_key(),
            rsa.to_jwk_public_key(),
        ),
        (
            Box::new(
                jk_jws::RS512
                    .signer_from_pem(rsa.to_pem_private_key())
                    .unwrap(),
            ),
            rsa.to_pem_public_key(),
            rsa.to_jwk_public_key(),
        ),
        (
            Box::new(
                jk_jws::PS256
                    .signer_from_jwk(&rsa_private_jwk_without_alg(&rsa))
                    .unwrap(),
            ),
            rsa.to_pem_public_key(),
            rsa.to_jwk_public_key(),
        ),
        (
            Box::new(
                jk_jws::PS384
                    .signer_from_jwk(&rsa_private_jwk_without_alg(&rsa))
                    .unwrap(),
            ),
            rsa.to_pem_public_key(),
            rsa.to_jwk_public_key(),
        ),
        (
            Box::new(
                jk_jws::PS512
                    .signer_from_jwk(&rsa_private_jwk_without_alg(&rsa))
                    .unwrap(),
            ),
            rsa.to_pem_public_key(),
            rsa.to_jwk_public_key(),
        ),
    ];
    for (signer, public_pem, public_jwk) in cases {
        let alg = signer.algorithm().name().to_owned();
        let token = josekit_token(signer.as_ref(), &claims);

        let pem_key =
            VerifyingKey::from_public_key_pem(std::str::from_utf8(&public_pem).unwrap()).unwrap();
        assert_eq!(
            jwt::verify(&token, &pem_key, NOW).unwrap(),
            claims,
            "{alg} pem"
        );

        let mut jwk: Jwk =
            serde_json::from_value(Value::Object(public_jwk.as_ref().clone())).unwrap();
        jwk.alg = Some(alg.clone());
        let jwk_key = VerifyingKey::from_jwk(&jwk).unwrap();
        assert_eq!(
            jwt::verify(&token, &jwk_key, NOW).unwrap(),
            claims,
            "{alg} jwk"
        );
    }
}

#[test]
fn josekit_verifies_our_tokens() {
    let claims = json!({"role": "admin", "exp": NOW + 100});
    for key in [
        SigningKey::generate_es256().unwrap(),
        SigningKey::generate_ed25519().unwrap(),
        SigningKey::generate_rs256(2048).unwrap(),
    ] {
        let token = jwt::sign(&key, &HeaderExtras::default(), &claims).unwrap();
        let public = key.public_key_pem().unwrap();
        let verifier: Box<dyn jk_jws::JwsVerifier> = match key.algorithm().name() {
            "ES256" => Box::new(jk_jws::ES256.verifier_from_pem(&public).unwrap()),
            "EdDSA" => Box::new(jk_jws::EdDSA.verifier_from_pem(&public).unwrap()),
            _ => Box::new(jk_jws::RS256.verifier_from_pem(&public).unwrap()),
        };
        let (payload, header) = jk_jwt::decode_with_verifier(&token, verifier.as_ref()).unwrap();
        assert_eq!(Value::Object(payload.claims_set().clone()), claims);
        assert_eq!(header.token_type(), Some("JWT"));

        // The JWK we publish must be usable by josekit too.
        let jwk = josekit_jwk(&key.public_jwk().unwrap());
        let verifier: Box<dyn jk_jws::JwsVerifier> = match key.algorithm().name() {
            "ES256" => Box::new(jk_jws::ES256.verifier_from_jwk(&jwk).unwrap()),
            "EdDSA" => Box::new(jk_jws::EdDSA.verifier_from_jwk(&jwk).unwrap()),
            _ => Box::new(jk_jws::RS256.verifier_from_jwk(&jwk).unwrap()),
        };
        assert!(jk_jwt::decode_with_verifier(&token, verifier.as_ref()).is_ok());
    }
}

#[test]
fn reads_pkcs1_rsa_public_key_pem() {
    let rsa = jk_jws::RS256.generate_key_pair(2048).unwrap();
    let pkcs1 = String::from_utf8(rsa.to_traditional_pem_public_key()).unwrap();
    assert!(pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    let key = VerifyingKey::from_public_key_pem(&pkcs1).unwrap();
    let signer = jk_jws::RS256
        .signer_from_pem(rsa.to_pem_private_key())
        .unwrap();
    let token = josekit_token(&signer, &json!({"exp": NOW}));
    assert!(jwt::verify(&token, &key, NOW).is_ok());
}

#[test]
fn ec_jwk_matches_josekit_coordinates() {
    // josekit always writes fixed-length coordinates; ours must agree byte for byte.
    let ec = jk_jws::ES256.generate_key_pair().unwrap();
    let pem = String::from_utf8(ec.to_pem_private_key()).unwrap();
    let ours = SigningKey::from_pem(&pem).unwrap().public_jwk().unwrap();
    let theirs: Map<String, Value> = ec.to_jwk_public_key().as_ref().clone();
    assert_eq!(ours.x.as_deref(), theirs["x"].as_str());
    assert_eq!(ours.y.as_deref(), theirs["y"].as_str());
}
