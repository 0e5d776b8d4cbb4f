#![allow(clippy::unwrap_used, clippy::expect_used)]
//! JWE encryption to TEE keys and decryption by `TeeKeyPair` (kbs-protocol §5).

use jose::{Error, RsaAlg, TeeKeyPair, b64, jwe};
use kbs_types::{ProtectedHeader, Response, TeePubKey};
use serde_json::{Map, Value};

fn all_keys() -> Vec<(&'static str, TeeKeyPair)> {
    vec![
        ("ec p-256", TeeKeyPair::generate_ec_p256().unwrap()),
        ("ec p-521", TeeKeyPair::generate_ec_p521().unwrap()),
        ("rsa-oaep-256", TeeKeyPair::generate_rsa(2048).unwrap()),
        (
            "rsa1_5",
            TeeKeyPair::generate_rsa(2048)
                .unwrap()
                .with_rsa_alg(RsaAlg::Rsa1_5),
        ),
    ]
}

fn protected_json(response: &Response) -> String {
    let wire = serde_json::to_value(response).unwrap();
    let protected = wire["protected"].as_str().unwrap();
    String::from_utf8(b64::decode_url("protected", protected).unwrap()).unwrap()
}

#[test]
fn round_trips_every_algorithm() {
    for (name, key) in all_keys() {
        let response = jwe::encrypt(&key.public_key().unwrap(), b"resource bytes").unwrap();
        assert_eq!(
            key.decrypt(&response).unwrap().as_slice(),
            b"resource bytes",
            "{name}"
        );
    }
}

#[test]
fn round_trips_through_the_wire_form() {
    for (name, key) in all_keys() {
        let response = jwe::encrypt(&key.public_key().unwrap(), b"").unwrap();
        let wire = serde_json::to_string(&response).unwrap();
        let parsed: Response = serde_json::from_str(&wire).unwrap();
        assert_eq!(key.decrypt(&parsed).unwrap().as_slice(), b"", "{name}");
    }
}

#[test]
fn wire_form_has_exactly_the_flattened_members_in_order() {
    let key = TeeKeyPair::generate_ec_p256().unwrap();
    let response = jwe::encrypt(&key.public_key().unwrap(), b"x").unwrap();
    let wire = serde_json::to_string(&response).unwrap();
    let value: Map<String, Value> = serde_json::from_str(&wire).unwrap();
    // serde_json may or may not preserve order here, so compare the member set.
    let mut keys: Vec<&str> = value.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut sorted = vec!["protected", "encrypted_key", "iv", "ciphertext", "tag"];
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    let positions: Vec<usize> = [
        "\"protected\"",
        "\"encrypted_key\"",
        "\"iv\"",
        "\"ciphertext\"",
        "\"tag\"",
    ]
    .iter()
    .map(|k| wire.find(k).unwrap())
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{wire}");
    assert!(!wire.contains('='), "no padding: {wire}");
    assert_eq!(response.iv.len(), 12);
    assert_eq!(response.tag.len(), 16);
}

#[test]
fn rsa_protected_headers_are_exact() {
    let oaep = TeeKeyPair::generate_rsa(2048).unwrap();
    let response = jwe::encrypt(&oaep.public_key().unwrap(), b"x").unwrap();
    assert_eq!(
        protected_json(&response),
        r#"{"alg":"RSA-OAEP-256","enc":"A256GCM"}"#
    );
    assert_eq!(response.encrypted_key.len(), 256);

    let pkcs1 = oaep.with_rsa_alg(RsaAlg::Rsa1_5);
    let response = jwe::encrypt(&pkcs1.public_key().unwrap(), b"x").unwrap();
    assert_eq!(
        protected_json(&response),
        r#"{"alg":"RSA1_5","enc":"A256GCM"}"#
    );
}

#[test]
fn ecdh_protected_headers_are_exact() {
    for (key, crv, coordinate_chars) in [
        (TeeKeyPair::generate_ec_p256().unwrap(), "P-256", 43),
        (TeeKeyPair::generate_ec_p521().unwrap(), "P-521", 88),
    ] {
        let response = jwe::encrypt(&key.public_key().unwrap(), b"x").unwrap();
        let epk = &response.protected.other_fields["epk"];
        let x = epk["x"].as_str().unwrap();
        let y = epk["y"].as_str().unwrap();
        assert_eq!(x.len(), coordinate_chars);
        assert_eq!(y.len(), coordinate_chars);
        assert_eq!(
            protected_json(&response),
            format!(
                r#"{{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}}}"#
            )
        );
        assert_eq!(response.encrypted_key.len(), 40);
        assert!(response.aad.is_none());
    }
}

#[test]
fn aad_is_the_protected_member_text() {
    let key = TeeKeyPair::generate_ec_p256().unwrap();
    let response = jwe::encrypt(&key.public_key().unwrap(), b"x").unwrap();
    let wire = serde_json::to_value(&response).unwrap();
    assert_eq!(
        response.protected.generate_aad().unwrap(),
        wire["protected"].as_str().unwrap().as_bytes()
    );
}

#[test]
fn kbs_types_aad_vector() {
    let header = ProtectedHeader {
        alg: "fakealg".into(),
        enc: "fakeenc".into(),
        other_fields: Map::new(),
    };
    assert_eq!(
        header.generate_aad().unwrap(),
        b"eyJhbGciOiJmYWtlYWxnIiwiZW5jIjoiZmFrZWVuYyJ9"
    );
}

#[test]
fn fresh_cek_and_iv_per_message() {
    let key = TeeKeyPair::generate_ec_p256().unwrap();
    let public = key.public_key().unwrap();
    let a = jwe::encrypt(&public, b"same").unwrap();
    let b = jwe::encrypt(&public, b"same").unwrap();
    assert_ne!(a.iv, b.iv);
    assert_ne!(a.encrypted_key, b.encrypted_key);
    assert_ne!(a.ciphertext, b.ciphertext);
}

#[test]
fn tampering_fails_decryption() {
    for (name, key) in all_keys() {
        let good = jwe::encrypt(&key.public_key().unwrap(), b"secret").unwrap();

        let mut bad = good.clone();
        bad.ciphertext[0] ^= 1;
        assert_eq!(
            key.decrypt(&bad),
            Err(Error::Decryption),
            "{name} ciphertext"
        );

        let mut bad = good.clone();
        bad.tag[15] ^= 1;
        assert_eq!(key.decrypt(&bad), Err(Error::Decryption), "{name} tag");

        let mut bad = good.clone();
        bad.iv[0] ^= 1;
        assert_eq!(key.decrypt(&bad), Err(Error::Decryption), "{name} iv");

        let mut bad = good.clone();
        bad.protected
            .other_fields
            .insert("kid".into(), Value::String("x".into()));
        assert_eq!(key.decrypt(&bad), Err(Error::Decryption), "{name} header");

        let mut bad = good.clone();
        let last = bad.encrypted_key.len() - 1;
        bad.encrypted_key[last] ^= 1;
        assert_eq!(key.decrypt(&bad), Err(Error::Decryption), "{name} key");
    }
}

#[test]
fn decrypt_rejects_other_content_encryption() {
    let key = TeeKeyPair::generate_ec_p256().unwrap();
    let mut response = jwe::encrypt(&key.public_key().unwrap(), b"x").unwrap();
    response.protected.enc = "A128GCM".into();
    assert_eq!(
        key.decrypt(&response),
        Err(Error::UnsupportedContentEncryption {
            enc: "A128GCM".into()
        })
    );
}

#[test]
fn decrypt_rejects_epk_on_another_curve() {
    let p256 = TeeKeyPair::generate_ec_p256().unwrap();
    let p521 = TeeKeyPair::generate_ec_p521().unwrap();
    let response = jwe::encrypt(&p521.public_key().unwrap(), b"x").unwrap();
    assert!(matches!(
        p256.decrypt(&response),
        Err(Error::KeyMismatch { .. })
    ));
}

#[test]
fn decrypt_rejects_alg_for_other_key_type() {
    let ec = TeeKeyPair::generate_ec_p256().unwrap();
    let rsa = TeeKeyPair::generate_rsa(2048).unwrap();
    let response = jwe::encrypt(&rsa.public_key().unwrap(), b"x").unwrap();
    assert!(matches!(
        ec.decrypt(&response),
        Err(Error::KeyMismatch { .. })
    ));
}

#[test]
fn decrypt_rejects_aad_member() {
    let key = TeeKeyPair::generate_ec_p256().unwrap();
    let mut response = jwe::encrypt(&key.public_key().unwrap(), b"x").unwrap();
    response.aad = Some(b"extra".to_vec());
    assert!(matches!(
        key.decrypt(&response),
        Err(Error::NotSupported { .. })
    ));
}

fn rsa_public(alg: &str) -> TeePubKey {
    match TeeKeyPair::generate_rsa(2048)
        .unwrap()
        .public_key()
        .unwrap()
    {
        TeePubKey::RSA { k_mod, k_exp, .. } => TeePubKey::RSA {
            alg: alg.into(),
            k_mod,
            k_exp,
        },
        other => panic!("{other:?}"),
    }
}

fn ec_public() -> (String, String) {
    match TeeKeyPair::generate_ec_p256()
        .unwrap()
        .public_key()
        .unwrap()
    {
        TeePubKey::EC { x, y, .. } => (x, y),
        other => panic!("{other:?}"),
    }
}

fn ec_key(crv: &str, alg: &str, x: &str, y: &str) -> TeePubKey {
    TeePubKey::EC {
        crv: crv.into(),
        alg: alg.into(),
        x: x.into(),
        y: y.into(),
    }
}

#[test]
fn rejects_rsa_oaep_with_sha1() {
    assert_eq!(
        jwe::encrypt(&rsa_public("RSA-OAEP"), b"x").unwrap_err(),
        Error::UnsupportedJweAlgorithm {
            alg: "RSA-OAEP".into()
        }
    );
}

#[test]
fn rejects_small_rsa_modulus() {
    let key = TeePubKey::RSA {
        alg: "RSA-OAEP-256".into(),
        k_mod: b64::encode_url(&[0xc5; 128]),
        k_exp: "AQAB".into(),
    };
    assert_eq!(
        jwe::encrypt(&key, b"x").unwrap_err(),
        Error::RsaKeyTooSmall { bits: 1024 }
    );
}

#[test]
fn rejects_padded_rsa_modulus() {
    let TeePubKey::RSA { k_mod, .. } = rsa_public("RSA-OAEP-256") else {
        unreachable!()
    };
    let key = TeePubKey::RSA {
        alg: "RSA-OAEP-256".into(),
        k_mod: format!("{k_mod}=="),
        k_exp: "AQAB".into(),
    };
    assert_eq!(
        jwe::encrypt(&key, b"x").unwrap_err(),
        Error::Base64 { field: "n" }
    );
}

#[test]
fn rejects_p384() {
    let (x, y) = ec_public();
    assert_eq!(
        jwe::encrypt(&ec_key("P-384", "ECDH-ES+A256KW", &x, &y), b"x").unwrap_err(),
        Error::UnsupportedCurve {
            crv: "P-384".into()
        }
    );
}

#[test]
fn rejects_direct_ecdh_es() {
    let (x, y) = ec_public();
    assert_eq!(
        jwe::encrypt(&ec_key("P-256", "ECDH-ES", &x, &y), b"x").unwrap_err(),
        Error::UnsupportedJweAlgorithm {
            alg: "ECDH-ES".into()
        }
    );
}

#[test]
fn rejects_akp_ml_kem() {
    let key = TeePubKey::AKP {
        alg: "ML-KEM-768+A192KW".into(),
        public_key: b64::encode_url(&[0; 1184]),
    };
    assert!(matches!(
        jwe::encrypt(&key, b"x"),
        Err(Error::NotSupported { .. })
    ));
}

#[test]
fn rejects_padded_ec_coordinate() {
    let (x, y) = ec_public();
    assert_eq!(
        jwe::encrypt(
            &ec_key("P-256", "ECDH-ES+A256KW", &format!("{x}="), &y),
            b"x"
        )
        .unwrap_err(),
        Error::Base64 { field: "x" }
    );
}

#[test]
fn rejects_short_ec_coordinate() {
    let (_, y) = ec_public();
    let x = b64::encode_url(&[1; 31]);
    assert_eq!(
        jwe::encrypt(&ec_key("P-256", "ECDH-ES+A256KW", &x, &y), b"x").unwrap_err(),
        Error::BadLength {
            field: "x",
            expected: 32,
            actual: 31
        }
    );
}

#[test]
fn rejects_point_not_on_curve() {
    let (x, y) = ec_public();
    let mut y = b64::decode_url("y", &y).unwrap();
    y[31] ^= 1;
    assert_eq!(
        jwe::encrypt(
            &ec_key("P-256", "ECDH-ES+A256KW", &x, &b64::encode_url(&y)),
            b"x"
        )
        .unwrap_err(),
        Error::PointNotOnCurve { crv: "P-256" }
    );
}

#[test]
fn rejects_unknown_kty_alg_combination_on_decrypt() {
    let key = TeeKeyPair::generate_ec_p256().unwrap();
    let mut response = jwe::encrypt(&key.public_key().unwrap(), b"x").unwrap();
    response.protected.alg = "A256KW".into();
    assert_eq!(
        key.decrypt(&response),
        Err(Error::UnsupportedJweAlgorithm {
            alg: "A256KW".into()
        })
    );
}
