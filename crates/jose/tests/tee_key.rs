#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `TeeKeyPair` generation, PEM round trips and public key shapes.

use jose::{Error, RsaAlg, TeeKeyPair, b64, jwe};
use kbs_types::TeePubKey;

#[test]
fn ec_public_keys_have_fixed_length_coordinates() {
    for (key, crv, len) in [
        (TeeKeyPair::generate_ec_p256().unwrap(), "P-256", 32),
        (TeeKeyPair::generate_ec_p521().unwrap(), "P-521", 66),
    ] {
        let TeePubKey::EC { crv: c, alg, x, y } = key.public_key().unwrap() else {
            panic!("not ec")
        };
        assert_eq!(c, crv);
        assert_eq!(alg, "ECDH-ES+A256KW");
        assert_eq!(b64::decode_url("x", &x).unwrap().len(), len);
        assert_eq!(b64::decode_url("y", &y).unwrap().len(), len);
    }
}

#[test]
fn ec_public_key_serialises_as_tee_pubkey() {
    let key = TeeKeyPair::generate_ec_p256().unwrap();
    let json = serde_json::to_value(key.public_key().unwrap()).unwrap();
    assert_eq!(json["kty"], "EC");
    assert_eq!(json["crv"], "P-256");
    assert_eq!(json["alg"], "ECDH-ES+A256KW");
}

#[test]
fn rsa_public_key_alg_is_selectable() {
    let key = TeeKeyPair::generate_rsa(2048).unwrap();
    let TeePubKey::RSA { alg, k_exp, k_mod } = key.public_key().unwrap() else {
        panic!("not rsa")
    };
    assert_eq!(alg, "RSA-OAEP-256");
    assert_eq!(k_exp, "AQAB");
    assert_eq!(b64::decode_url("n", &k_mod).unwrap().len(), 256);
    let key = key.with_rsa_alg(RsaAlg::Rsa1_5);
    let TeePubKey::RSA { alg, .. } = key.public_key().unwrap() else {
        panic!("not rsa")
    };
    assert_eq!(alg, "RSA1_5");
}

#[test]
fn rejects_unsupported_rsa_size() {
    assert!(matches!(
        TeeKeyPair::generate_rsa(1024),
        Err(Error::NotSupported { .. })
    ));
}

#[test]
fn pkcs8_pem_round_trips_for_every_key_type() {
    for key in [
        TeeKeyPair::generate_ec_p256().unwrap(),
        TeeKeyPair::generate_ec_p521().unwrap(),
        TeeKeyPair::generate_rsa(2048).unwrap(),
    ] {
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let reloaded = TeeKeyPair::from_pem(&pem).unwrap();
        let response = jwe::encrypt(&key.public_key().unwrap(), b"pem").unwrap();
        assert_eq!(reloaded.decrypt(&response).unwrap().as_slice(), b"pem");
    }
}

#[test]
fn rejects_non_key_pem() {
    let pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    assert_eq!(
        TeeKeyPair::from_pem(pem).unwrap_err(),
        Error::Pem {
            label: "CERTIFICATE".into()
        }
    );
    assert!(matches!(
        TeeKeyPair::from_pem("not pem"),
        Err(Error::Pem { .. })
    ));
}

#[test]
fn rejects_garbage_private_key() {
    let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert!(matches!(
        TeeKeyPair::from_pem(pem),
        Err(Error::InvalidKey { .. })
    ));
}
