#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `x5c` endorsement vectors from /work/shared/testdata/jwk (upstream trustee scenarios).

use std::path::PathBuf;

use jose::{Error, Jwk, x5c};
use rustls_pki_types::CertificateDer;

/// 2026-06-01, inside every scenario certificate's validity (2026-04-15 .. 2036-04-12).
const NOW: u64 = 1_780_272_000;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/jwk")
}

fn jwk(n: u8) -> Jwk {
    let text = std::fs::read_to_string(testdata().join(format!("scenario0{n}-jwk.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn anchors(n: u8) -> Vec<CertificateDer<'static>> {
    let text = std::fs::read_to_string(testdata().join(format!("scenario0{n}-trust.pem"))).unwrap();
    x5c::load_pem_certificates(&text).unwrap()
}

/// The whole endorsement decision as KBS makes it: x5c present, leaf = JWK, chain trusted.
fn endorsed(n: u8, now: u64) -> Result<(), String> {
    let jwk = jwk(n);
    let chain = jwk.x5c.clone().filter(|c| !c.is_empty()).ok_or("no x5c")?;
    if !x5c::leaf_matches_jwk(&chain, &jwk).map_err(|e| e.to_string())? {
        return Err("leaf mismatch".into());
    }
    x5c::verify_chain(&chain, &anchors(n), now).map_err(|e| e.to_string())?;
    Ok(())
}

#[test]
fn scenario01_self_signed_root_accepted() {
    endorsed(1, NOW).unwrap();
}

#[test]
fn scenario02_leaf_jwk_mismatch_refused() {
    assert_eq!(endorsed(2, NOW), Err("leaf mismatch".into()));
}

#[test]
fn scenario03_missing_x5c_refused() {
    assert_eq!(endorsed(3, NOW), Err("no x5c".into()));
}

#[test]
fn scenario04_untrusted_root_refused() {
    let jwk = jwk(4);
    let chain = jwk.x5c.clone().unwrap();
    assert!(x5c::leaf_matches_jwk(&chain, &jwk).unwrap());
    assert!(matches!(
        x5c::verify_chain(&chain, &anchors(4), NOW),
        Err(Error::Chain(_))
    ));
}

#[test]
fn scenario05_leaf_and_intermediate_accepted() {
    endorsed(5, NOW).unwrap();
}

#[test]
fn scenario06_shuffled_intermediates_accepted() {
    endorsed(6, NOW).unwrap();
}

#[test]
fn scenario07_trust_file_with_intermediate_accepted() {
    endorsed(7, NOW).unwrap();
}

#[test]
fn verify_chain_returns_the_leaf_key() {
    let jwk = jwk(1);
    let key = x5c::verify_chain(jwk.x5c.as_ref().unwrap(), &anchors(1), NOW).unwrap();
    assert!(key.same_public_key_as(&jwk));
    assert_eq!(key.to_jwk().unwrap().n, jwk.n);
}

#[test]
fn chain_refused_before_validity() {
    // 2026-01-01, before the scenario certificates' notBefore.
    assert!(matches!(
        x5c::verify_chain(jwk(1).x5c.as_ref().unwrap(), &anchors(1), 1_767_225_600),
        Err(Error::Chain(_))
    ));
}

#[test]
fn chain_refused_after_validity() {
    // 2037-01-01.
    assert!(matches!(
        x5c::verify_chain(jwk(5).x5c.as_ref().unwrap(), &anchors(5), 2_114_380_800),
        Err(Error::Chain(_))
    ));
}

#[test]
fn chain_refused_without_anchors() {
    assert_eq!(
        x5c::verify_chain(jwk(1).x5c.as_ref().unwrap(), &[], NOW).unwrap_err(),
        Error::NoTrustAnchors
    );
}

#[test]
fn empty_chain_refused() {
    assert_eq!(
        x5c::verify_chain(&[], &anchors(1), NOW).unwrap_err(),
        Error::EmptyChain
    );
    assert_eq!(
        x5c::leaf_matches_jwk(&[], &jwk(1)).unwrap_err(),
        Error::EmptyChain
    );
}

#[test]
fn undecodable_entry_refused() {
    let mut chain = jwk(5).x5c.unwrap();
    chain[1] = "not base64!".into();
    assert_eq!(
        x5c::verify_chain(&chain, &anchors(5), NOW).unwrap_err(),
        Error::Certificate { index: 1 }
    );
}

#[test]
fn url_safe_and_wrapped_entries_accepted() {
    use base64::Engine;
    let chain = jwk(5).x5c.unwrap();
    let rewritten: Vec<String> = chain
        .iter()
        .map(|entry| {
            let der = base64::engine::general_purpose::STANDARD
                .decode(entry)
                .unwrap();
            let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(der);
            let (head, tail) = url.split_at(64);
            format!("{head}\n{tail}")
        })
        .collect();
    x5c::verify_chain(&rewritten, &anchors(5), NOW).unwrap();
}

#[test]
fn ec_p256_leaf_compared_by_coordinates() {
    let rsa_jwk = jwk(1);
    let mut ec_jwk = jose::SigningKey::generate_es256()
        .unwrap()
        .public_jwk()
        .unwrap();
    ec_jwk.x5c = rsa_jwk.x5c.clone();
    assert!(!x5c::leaf_matches_jwk(rsa_jwk.x5c.as_ref().unwrap(), &ec_jwk).unwrap());
}

/// 2027-06-01, inside the validity of the crate's own `testdata/x5c` certificates.
const EKU_NOW: u64 = 1_811_808_000;

fn own_testdata(name: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/x5c")
            .join(name),
    )
    .unwrap()
}

#[test]
fn leaf_with_any_extended_key_usage_is_accepted() {
    let jwk: Jwk = serde_json::from_str(&own_testdata("eku-code-signing-leaf-jwk.json")).unwrap();
    let anchors = x5c::load_pem_certificates(&own_testdata("eku-root.pem")).unwrap();
    let chain = jwk.x5c.clone().unwrap();
    let key = x5c::verify_chain(&chain, &anchors, EKU_NOW).unwrap();
    assert!(key.same_public_key_as(&jwk));
}

#[test]
fn ec_p256_leaf_matches_its_jwk_by_coordinates() {
    let jwk: Jwk = serde_json::from_str(&own_testdata("eku-code-signing-leaf-jwk.json")).unwrap();
    let chain = jwk.x5c.clone().unwrap();
    assert!(x5c::leaf_matches_jwk(&chain, &jwk).unwrap());
    let mut other = jwk.clone();
    other.y = jose::SigningKey::generate_es256()
        .unwrap()
        .public_jwk()
        .unwrap()
        .y;
    assert!(!x5c::leaf_matches_jwk(&chain, &other).unwrap());
}

#[test]
fn leaf_is_not_its_own_anchor_unless_trusted() {
    let jwk: Jwk = serde_json::from_str(&own_testdata("eku-code-signing-leaf-jwk.json")).unwrap();
    let chain = jwk.x5c.clone().unwrap();
    assert!(matches!(
        x5c::verify_chain(&chain, &anchors(1), EKU_NOW),
        Err(Error::Chain(_))
    ));
}

#[test]
fn earliest_not_after_is_the_last_second_the_chain_verifies() {
    for n in [1, 5, 6] {
        let chain = jwk(n).x5c.unwrap();
        let not_after = x5c::earliest_not_after(&chain).unwrap();
        assert!(not_after > NOW);
        x5c::verify_chain(&chain, &anchors(n), not_after).unwrap();
        assert!(matches!(
            x5c::verify_chain(&chain, &anchors(n), not_after + 1),
            Err(Error::Chain(_))
        ));
    }
}

#[test]
fn earliest_not_after_refuses_an_empty_or_undecodable_chain() {
    assert!(matches!(
        x5c::earliest_not_after(&[]),
        Err(Error::EmptyChain)
    ));
    assert!(matches!(
        x5c::earliest_not_after(&["AAEC".to_owned()]),
        Err(Error::Certificate { index: 0 })
    ));
}
