#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::value::Value as Cbor;
use coset::{CborSerializable, CoseKeyBuilder, CoseSign1, TaggedCborSerializable, iana};
use serde_json::json;

use super::*;
use crate::test_support::{shared, shared_path};

const EXPECTED_REPORT_DATA: &str = "57e979ae2618de0c1ab73144c440d741cf9236dc9d52ed190053382a4d190252f9f0370403c35dcb155fb4362d73c66d5b0494bf939315d3dc52b8cdc8b85a96";

fn sample_token() -> Vec<u8> {
    shared("evidence/cca/cca-example-token.cbor")
}

fn json_file(rel: &str) -> serde_json::Value {
    serde_json::from_slice(&shared(rel)).unwrap()
}

fn trust_anchors() -> Vec<TrustAnchor> {
    parse_trust_anchors(json_file("evidence/cca/conf/tastore.json")).unwrap()
}

fn anchors_only() -> CcaConfig {
    CcaConfig {
        trust_anchors: trust_anchors(),
        reference_values: None,
    }
}

fn with_reference_values() -> CcaConfig {
    CcaConfig {
        trust_anchors: trust_anchors(),
        reference_values: Some(
            parse_reference_values(json_file("evidence/cca/conf/rvstore.json")).unwrap(),
        ),
    }
}

fn report_data() -> ReportData {
    ReportData::Value(hex::decode(EXPECTED_REPORT_DATA).unwrap())
}

fn verify_token(token: &[u8], config: &CcaConfig) -> Result<CcaClaims, CcaError> {
    verify(token, &report_data(), &InitDataHash::NotProvided, config)
}

/// A published test private key (`evidence/cca/misc/*-priv.json`, P-384 JWK).
fn test_key(rel: &str) -> EcdsaKeyPair {
    let jwk = json_file(rel);
    let field = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    let mut point = vec![4u8];
    point.extend(field("x"));
    point.extend(field("y"));
    EcdsaKeyPair::from_private_key_and_public_key(
        &ECDSA_P384_SHA384_FIXED_SIGNING,
        &field("d"),
        &point,
    )
    .unwrap()
}

fn cpak() -> EcdsaKeyPair {
    test_key("evidence/cca/misc/cpak-priv.json")
}

fn rak() -> EcdsaKeyPair {
    test_key("evidence/cca/misc/rak-priv.json")
}

/// The decoded parts of a token, to re-sign after changing a claim.
struct Parts {
    tag: u64,
    platform: CoseSign1,
    realm: CoseSign1,
    realm_tagged: bool,
}

impl Parts {
    fn of(token: &[u8]) -> Self {
        let Cbor::Tag(tag, inner) = ciborium::de::from_reader::<Cbor, _>(token).unwrap() else {
            panic!("untagged");
        };
        let Cbor::Map(entries) = *inner else {
            panic!("not a map")
        };
        let mut platform = None;
        let mut realm = None;
        for (key, value) in entries {
            let bytes = value.into_bytes().unwrap();
            if key == Cbor::Integer(44234.into()) {
                platform = Some(bytes);
            } else {
                realm = Some(bytes);
            }
        }
        let (platform, realm) = (platform.unwrap(), realm.unwrap());
        Self {
            tag,
            platform: CoseSign1::from_tagged_slice(&platform).unwrap(),
            realm_tagged: realm[0] == 0xd2,
            realm: if realm[0] == 0xd2 {
                CoseSign1::from_tagged_slice(&realm).unwrap()
            } else {
                CoseSign1::from_slice(&realm).unwrap()
            },
        }
    }

    fn sample() -> Self {
        Self::of(&sample_token())
    }

    fn encode(&self) -> Vec<u8> {
        let realm = if self.realm_tagged {
            self.realm.clone().to_tagged_vec().unwrap()
        } else {
            self.realm.clone().to_vec().unwrap()
        };
        let collection = Cbor::Tag(
            self.tag,
            Box::new(Cbor::Map(vec![
                (
                    Cbor::Integer(44234.into()),
                    Cbor::Bytes(self.platform.clone().to_tagged_vec().unwrap()),
                ),
                (Cbor::Integer(44241.into()), Cbor::Bytes(realm)),
            ])),
        );
        let mut out = Vec::new();
        ciborium::ser::into_writer(&collection, &mut out).unwrap();
        out
    }

    /// Sets claim `key` of the platform (`realm == false`) or realm payload.
    fn set_claim(&mut self, realm: bool, key: i64, value: Cbor) {
        let sign1 = if realm {
            &mut self.realm
        } else {
            &mut self.platform
        };
        let payload = sign1.payload.as_deref().unwrap();
        let Cbor::Map(mut entries) = ciborium::de::from_reader::<Cbor, _>(payload).unwrap() else {
            panic!("payload not a map")
        };
        let key = Cbor::Integer(key.into());
        entries.retain(|(k, _)| *k != key);
        entries.push((key, value));
        let mut out = Vec::new();
        ciborium::ser::into_writer(&Cbor::Map(entries), &mut out).unwrap();
        sign1.payload = Some(out);
    }

    fn claim(&self, realm: bool, key: i64) -> Cbor {
        let sign1 = if realm { &self.realm } else { &self.platform };
        let Cbor::Map(entries) =
            ciborium::de::from_reader::<Cbor, _>(sign1.payload.as_deref().unwrap()).unwrap()
        else {
            panic!("payload not a map")
        };
        let key = Cbor::Integer(key.into());
        entries.into_iter().find(|(k, _)| *k == key).unwrap().1
    }

    fn sign_platform(&mut self, key: &EcdsaKeyPair) {
        sign(&mut self.platform, key);
    }

    fn sign_realm(&mut self, key: &EcdsaKeyPair) {
        sign(&mut self.realm, key);
    }
}

fn sign(sign1: &mut CoseSign1, key: &EcdsaKeyPair) {
    let tbs = sign1.tbs_data(b"");
    sign1.signature = key
        .sign(&SystemRandom::new(), &tbs)
        .unwrap()
        .as_ref()
        .to_vec();
}

/// Points the platform challenge at a new RAK claim value, as the platform would.
fn bind_rak(parts: &mut Parts, rak_claim: &[u8]) {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, rak_claim);
    parts.set_claim(false, 10, Cbor::Bytes(digest.as_ref().to_vec()));
    parts.sign_platform(&cpak());
}

fn manifest_case() -> serde_json::Value {
    let cases = json_file("cases.json");
    cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|case| case["id"] == "cca/cca-example-token")
        .unwrap()
        .clone()
}

/// The claim at a dotted manifest path (`realm.cca-realm-challenge`).
fn claim_at<'a>(claims: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    match path.split_once('.') {
        Some((head, rest)) => &claims[head][rest],
        None => &claims[path],
    }
}

#[test]
fn sample_token_verifies_with_the_manifest_values() {
    let case = manifest_case();
    assert_eq!(case["expected_report_data"], EXPECTED_REPORT_DATA);
    let claims =
        serde_json::to_value(verify_token(&sample_token(), &with_reference_values()).unwrap())
            .unwrap();
    let expected = case["claims"].as_object().unwrap();
    assert!(!expected.is_empty());
    for (path, value) in expected {
        assert_eq!(claim_at(&claims, path), value, "{path}");
    }
    assert_eq!(
        claims["platform"]["cca-platform-profile"],
        PLATFORM_PROFILE_LEGACY
    );
    assert_eq!(
        claims["realm"]["cca-realm-public-key-hash-algo-id"],
        "sha-256"
    );
}

#[test]
fn sample_token_verifies_without_reference_values() {
    let claims = verify_token(&sample_token(), &anchors_only()).unwrap();
    assert_eq!(claims.report_data, EXPECTED_REPORT_DATA);
    assert_eq!(claims.platform.cca_platform_sw_components.len(), 13);
}

/// Every claim name is one of upstream's (trustee `cca-claims.json`), and every upstream
/// name is produced (the realm profile exists only in the 2023 format).
#[test]
fn claim_names_are_upstreams() {
    let golden = json_file("evidence/cca/cca-claims.json");
    let claims =
        serde_json::to_value(verify_token(&sample_token(), &anchors_only()).unwrap()).unwrap();
    let keys = |value: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&claims), keys(&golden));
    assert_eq!(keys(&claims["platform"]), keys(&golden["platform"]));
    assert_eq!(keys(&claims["realm"]), keys(&golden["realm"]));
    // Components carry upstream's keys; `version` is optional (absent in the sample) and
    // `measurement-description` is upstream's name for claim 6 (trustee's cca docs).
    let mut allowed = keys(&golden["platform"]["cca-platform-sw-components"][0]);
    allowed.push("measurement-description".into());
    for component in claims["platform"]["cca-platform-sw-components"]
        .as_array()
        .unwrap()
    {
        let component = keys(component);
        for key in &component {
            assert!(allowed.contains(key), "{key}");
        }
        for key in ["measurement-type", "measurement-value", "signer-id"] {
            assert!(component.iter().any(|k| k == key), "{key}");
        }
    }
}

#[tokio::test]
async fn verifier_reads_the_store_files_from_config() {
    let table = json!({
        "type": "local",
        "ta-store": shared_path("evidence/cca/conf/tastore.json"),
        "rv-store": shared_path("evidence/cca/conf/rvstore.json"),
    });
    let config = crate::VerifierConfig {
        cca_verifier: Some(table.as_object().unwrap().clone()),
        ..Default::default()
    };
    let verifier = crate::verifier_for(Tee::Cca, &config).unwrap();
    let evidence = json_file("wrapped/cca/cca-example-token.json");
    let entries = verifier
        .evaluate(&evidence, &report_data(), &InitDataHash::NotProvided)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].1, TeeClass::Cpu);
    assert_eq!(
        entries[0].0.as_map()["report_data"],
        json!(EXPECTED_REPORT_DATA)
    );
}

#[test]
fn config_rejects_remote_mode_and_unknown_keys() {
    let remote = json!({"type": "remote", "address": "https://veraison.example"});
    assert!(matches!(
        CcaConfig::from_table(remote.as_object()),
        Err(CcaError::Config { .. })
    ));
    let remote = json!({"type": "remote"});
    let err = CcaConfig::from_table(remote.as_object()).unwrap_err();
    assert!(err.to_string().contains("only local"), "{err}");
    let typo = json!({"ta_store": "/x"});
    let err = CcaConfig::from_table(typo.as_object()).unwrap_err();
    assert!(err.to_string().contains("ta_store"), "{err}");
    let missing = json!({"ta-store": "/nonexistent/tastore.json"});
    assert!(matches!(
        CcaConfig::from_table(missing.as_object()),
        Err(CcaError::Config { .. })
    ));
}

#[test]
fn inline_trust_anchors_equal_the_store_file() {
    let table = json!({"trust-anchors": json_file("evidence/cca/conf/tastore.json")});
    let config = CcaConfig::from_table(table.as_object()).unwrap();
    assert_eq!(config.trust_anchors, trust_anchors());
    assert_eq!(config.reference_values, None);
}

#[tokio::test]
async fn without_trust_anchors_the_instance_is_unknown() {
    let verifier = crate::verifier_for(Tee::Cca, &crate::VerifierConfig::default()).unwrap();
    let evidence = json_file("wrapped/cca/cca-example-token.json");
    let err = verifier
        .evaluate(&evidence, &report_data(), &InitDataHash::NotProvided)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Cca(CcaError::UnknownInstance { .. })),
        "{err}"
    );
}

#[test]
fn resigning_unchanged_parts_still_verifies() {
    // Guards the helpers below: a negative test must fail for its own reason.
    let mut parts = Parts::sample();
    parts.sign_platform(&cpak());
    parts.sign_realm(&rak());
    verify_token(&parts.encode(), &with_reference_values()).unwrap();
}

#[test]
fn flipped_platform_signature_byte_fails_the_platform_signature() {
    let mut parts = Parts::sample();
    parts.platform.signature[10] ^= 1;
    assert_eq!(
        verify_token(&parts.encode(), &anchors_only()).unwrap_err(),
        CcaError::PlatformSignature
    );
}

#[test]
fn flipped_realm_signature_byte_fails_the_realm_signature() {
    let mut parts = Parts::sample();
    parts.realm.signature[10] ^= 1;
    assert_eq!(
        verify_token(&parts.encode(), &anchors_only()).unwrap_err(),
        CcaError::RealmSignature
    );
}

#[test]
fn changed_platform_claim_fails_the_platform_signature() {
    let mut parts = Parts::sample();
    parts.set_claim(false, 2395, Cbor::Integer(0x3001.into()));
    assert_eq!(
        verify_token(&parts.encode(), &anchors_only()).unwrap_err(),
        CcaError::PlatformSignature
    );
}

#[test]
fn wrong_cpak_anchor_fails_the_platform_signature() {
    let other = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let mut config = anchors_only();
    config.trust_anchors[0].key = EcKey::from_raw_point(other.public_key().as_ref()).unwrap();
    assert_eq!(
        verify_token(&sample_token(), &config).unwrap_err(),
        CcaError::PlatformSignature
    );
}

#[test]
fn cpak_on_another_curve_is_an_algorithm_mismatch() {
    let other =
        EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let mut config = anchors_only();
    config.trust_anchors[0].key = EcKey::from_raw_point(other.public_key().as_ref()).unwrap();
    assert!(matches!(
        verify_token(&sample_token(), &config).unwrap_err(),
        CcaError::Unsupported {
            what: "platform token algorithm for the cpak",
            ..
        }
    ));
}

#[test]
fn unknown_instance_id_has_no_anchor() {
    let mut config = anchors_only();
    config.trust_anchors[0].instance_id[1] ^= 1;
    assert!(matches!(
        verify_token(&sample_token(), &config).unwrap_err(),
        CcaError::UnknownInstance { .. }
    ));
}

#[test]
fn anchor_for_another_implementation_is_rejected() {
    let mut config = anchors_only();
    config.trust_anchors[0].implementation_id[0] ^= 1;
    assert_eq!(
        verify_token(&sample_token(), &config).unwrap_err(),
        CcaError::ImplementationIdMismatch
    );
}

#[test]
fn platform_challenge_not_the_rak_hash_fails_the_rak_binding() {
    let mut parts = Parts::sample();
    bind_rak(&mut parts, b"some other key");
    assert_eq!(
        verify_token(&parts.encode(), &anchors_only()).unwrap_err(),
        CcaError::RakBinding
    );
}

#[test]
fn realm_signed_by_a_key_the_platform_did_not_attest_fails_the_rak_binding() {
    // A realm token re-signed by an attacker's key that it carries as its RAK: the signature
    // verifies, but the platform vouched for another key.
    let attacker = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let mut parts = Parts::sample();
    parts.set_claim(
        true,
        44237,
        Cbor::Bytes(attacker.public_key().as_ref().to_vec()),
    );
    parts.sign_realm(&attacker);
    assert_eq!(
        verify_token(&parts.encode(), &anchors_only()).unwrap_err(),
        CcaError::RakBinding
    );
}

#[test]
fn wrong_report_data_fails_the_realm_challenge() {
    let mut wrong = hex::decode(EXPECTED_REPORT_DATA).unwrap();
    wrong[0] ^= 1;
    assert_eq!(
        verify(
            &sample_token(),
            &ReportData::Value(wrong),
            &InitDataHash::NotProvided,
            &anchors_only()
        )
        .unwrap_err(),
        CcaError::RealmChallenge
    );
    assert_eq!(
        verify(
            &sample_token(),
            &ReportData::NotProvided,
            &InitDataHash::NotProvided,
            &anchors_only()
        )
        .unwrap_err(),
        CcaError::ReportDataRequired
    );
}

#[test]
fn report_data_is_zero_padded_to_64_bytes() {
    // The KBS passes a 48-byte SHA-384 digest; the guest pads it to the 64-byte challenge.
    let digest = [0x5au8; 48];
    let mut challenge = digest.to_vec();
    challenge.resize(64, 0);
    let mut parts = Parts::sample();
    parts.set_claim(true, 10, Cbor::Bytes(challenge));
    parts.sign_realm(&rak());
    let token = parts.encode();
    let check = |data: &[u8]| {
        verify(
            &token,
            &ReportData::Value(data.to_vec()),
            &InitDataHash::NotProvided,
            &anchors_only(),
        )
    };
    check(&digest).unwrap();
    let mut longer = digest.to_vec();
    longer.resize(80, 0);
    check(&longer).unwrap();
    assert_eq!(check(&digest[..47]).unwrap_err(), CcaError::RealmChallenge);
}

#[test]
fn init_data_is_bound_to_the_zero_padded_personalization_value() {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, b"init data toml");
    let mut rpv = digest.as_ref().to_vec();
    rpv.resize(64, 0);
    let mut parts = Parts::sample();
    parts.set_claim(true, 44235, Cbor::Bytes(rpv));
    parts.sign_realm(&rak());
    let token = parts.encode();
    let check = |hash: Vec<u8>| {
        verify(
            &token,
            &report_data(),
            &InitDataHash::Value(hash),
            &anchors_only(),
        )
    };
    check(digest.as_ref().to_vec()).unwrap();
    let mut wrong = digest.as_ref().to_vec();
    wrong[0] ^= 1;
    assert_eq!(check(wrong).unwrap_err(), CcaError::InitData);
    assert_eq!(
        check(vec![0; 65]).unwrap_err(),
        CcaError::InitDataDigestLength { len: 65 }
    );
}

#[test]
fn wrong_init_data_fails_on_the_sample() {
    // The sample's RPV is all zero: a zero SHA-256 digest matches, anything else fails.
    let check = |hash: Vec<u8>| {
        verify(
            &sample_token(),
            &report_data(),
            &InitDataHash::Value(hash),
            &anchors_only(),
        )
    };
    check(vec![0; 32]).unwrap();
    assert_eq!(check(vec![1; 32]).unwrap_err(), CcaError::InitData);
}

#[test]
fn platform_reference_values_must_match() {
    let mut config = with_reference_values();
    let rvs = config.reference_values.as_mut().unwrap();
    rvs.platform[0].sw_components[3].measurement_value[0] ^= 1;
    assert_eq!(
        verify_token(&sample_token(), &config).unwrap_err(),
        CcaError::PlatformReferenceValues
    );

    let mut config = with_reference_values();
    let rvs = config.reference_values.as_mut().unwrap();
    rvs.platform[0].config.push(0);
    assert_eq!(
        verify_token(&sample_token(), &config).unwrap_err(),
        CcaError::PlatformReferenceValues
    );

    let mut config = with_reference_values();
    let rvs = config.reference_values.as_mut().unwrap();
    rvs.platform[0].sw_components[0].component_type = Some("BL2".into());
    assert_eq!(
        verify_token(&sample_token(), &config).unwrap_err(),
        CcaError::PlatformReferenceValues
    );

    let mut config = with_reference_values();
    let rvs = config.reference_values.as_mut().unwrap();
    rvs.platform[0].implementation_id[0] ^= 1;
    assert!(matches!(
        verify_token(&sample_token(), &config).unwrap_err(),
        CcaError::UnknownPlatform { .. }
    ));
}

#[test]
fn realm_reference_values_must_match_when_listed() {
    let mut config = with_reference_values();
    let rvs = config.reference_values.as_mut().unwrap();
    rvs.realm[0].initial_measurement[0] ^= 1;
    assert_eq!(
        verify_token(&sample_token(), &config).unwrap_err(),
        CcaError::RealmReferenceValues
    );

    let mut config = with_reference_values();
    let rvs = config.reference_values.as_mut().unwrap();
    rvs.realm[0].extensible_measurements[2].0[0] = 1;
    assert_eq!(
        verify_token(&sample_token(), &config).unwrap_err(),
        CcaError::RealmReferenceValues
    );

    // No realm entries: the realm is left to the policy.
    let mut config = with_reference_values();
    config.reference_values.as_mut().unwrap().realm.clear();
    verify_token(&sample_token(), &config).unwrap();
}

#[test]
fn every_truncation_of_the_token_is_an_error() {
    let token = sample_token();
    for len in 0..token.len() {
        assert!(
            verify_token(&token[..len], &anchors_only()).is_err(),
            "length {len}"
        );
    }
}

#[test]
fn every_seventh_byte_flipped_is_rejected() {
    // No flip may panic, and every sampled position lies in a checked part.
    let token = sample_token();
    let config = with_reference_values();
    for at in (0..token.len()).step_by(7) {
        let mut flipped = token.clone();
        flipped[at] ^= 0x40;
        assert!(verify_token(&flipped, &config).is_err(), "byte {at}");
    }
}

#[test]
fn oversized_token_is_rejected_before_decoding() {
    let big = vec![0u8; MAX_TOKEN_SIZE + 1];
    assert!(matches!(
        Collection::decode(&big).unwrap_err(),
        CcaError::MalformedCollection { .. }
    ));
}

#[test]
fn other_tags_and_missing_members_are_malformed() {
    let mut parts = Parts::sample();
    parts.tag = 400;
    assert!(matches!(
        verify_token(&parts.encode(), &anchors_only()).unwrap_err(),
        CcaError::MalformedCollection { .. }
    ));
    let collection = Cbor::Tag(
        399,
        Box::new(Cbor::Map(vec![(
            Cbor::Integer(44234.into()),
            Cbor::Bytes(Parts::sample().platform.to_tagged_vec().unwrap()),
        )])),
    );
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(&collection, &mut bytes).unwrap();
    let err = verify_token(&bytes, &anchors_only()).unwrap_err();
    assert!(err.to_string().contains("no realm token"), "{err}");
}

#[test]
fn missing_or_missized_claims_name_the_claim() {
    let mut parts = Parts::sample();
    parts.set_claim(true, 44235, Cbor::Bytes(vec![0; 32]));
    parts.sign_realm(&rak());
    assert!(matches!(
        verify_token(&parts.encode(), &anchors_only()).unwrap_err(),
        CcaError::MalformedClaim {
            token: "realm",
            claim: "cca-realm-personalization-value",
            ..
        }
    ));
    let mut parts = Parts::sample();
    parts.set_claim(false, 256, Cbor::Text("id".into()));
    assert!(matches!(
        verify_token(&parts.encode(), &anchors_only()).unwrap_err(),
        CcaError::MalformedClaim {
            token: "platform",
            claim: "cca-platform-instance-id",
            ..
        }
    ));
}

#[test]
fn unknown_rak_hash_algorithm_is_unsupported() {
    let mut parts = Parts::sample();
    parts.set_claim(true, 44240, Cbor::Text("md5".into()));
    parts.sign_realm(&rak());
    assert!(matches!(
        verify_token(&parts.encode(), &anchors_only()).unwrap_err(),
        CcaError::Unsupported {
            what: "rak hash algorithm",
            ..
        }
    ));
}

/// A token in the 2023 format: realm profile and a COSE_Key RAK (signed by a fresh RAK,
/// bound by the test CPAK), in the CMW collection (tag 907) when `cmw`.
fn token_2023(cmw: bool) -> Vec<u8> {
    let rak = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let point = rak.public_key().as_ref();
    let cose_key = CoseKeyBuilder::new_ec2_pub_key(
        iana::EllipticCurve::P_384,
        point[1..49].to_vec(),
        point[49..].to_vec(),
    )
    .build()
    .to_vec()
    .unwrap();
    let mut parts = Parts::sample();
    parts.set_claim(true, 265, Cbor::Text(REALM_PROFILE_2023.into()));
    parts.set_claim(true, 44237, Cbor::Bytes(cose_key.clone()));
    parts.sign_realm(&rak);
    parts.set_claim(false, 265, Cbor::Text(PLATFORM_PROFILE_2023.into()));
    bind_rak(&mut parts, &cose_key);
    if !cmw {
        return parts.encode();
    }
    let collection = Cbor::Tag(
        907,
        Box::new(Cbor::Map(vec![
            (
                Cbor::Integer(44234.into()),
                Cbor::Array(vec![
                    Cbor::Integer(263.into()),
                    Cbor::Bytes(parts.platform.clone().to_tagged_vec().unwrap()),
                ]),
            ),
            (
                Cbor::Integer(44241.into()),
                Cbor::Array(vec![
                    Cbor::Integer(263.into()),
                    Cbor::Bytes(parts.realm.clone().to_tagged_vec().unwrap()),
                ]),
            ),
        ])),
    );
    let mut out = Vec::new();
    ciborium::ser::into_writer(&collection, &mut out).unwrap();
    out
}

#[test]
fn profile_2023_token_with_cose_key_rak_verifies() {
    let claims = verify_token(&token_2023(false), &with_reference_values()).unwrap();
    assert_eq!(
        claims.realm.cca_realm_profile.as_deref(),
        Some(REALM_PROFILE_2023)
    );
    assert_eq!(claims.platform.cca_platform_profile, PLATFORM_PROFILE_2023);
    verify_token(&token_2023(true), &with_reference_values()).unwrap();
}

#[test]
fn raw_point_rak_under_the_2023_profile_is_malformed() {
    let mut parts = Parts::sample();
    parts.set_claim(true, 265, Cbor::Text(REALM_PROFILE_2023.into()));
    parts.sign_realm(&rak());
    assert!(matches!(
        verify_token(&parts.encode(), &anchors_only()).unwrap_err(),
        CcaError::MalformedClaim {
            claim: "cca-realm-public-key",
            ..
        }
    ));
}

#[test]
fn unknown_profiles_are_unsupported() {
    let mut parts = Parts::sample();
    parts.set_claim(false, 265, Cbor::Text("http://arm.com/psa/2.0.0".into()));
    assert!(matches!(
        verify_token(&parts.encode(), &anchors_only()).unwrap_err(),
        CcaError::Unsupported {
            what: "platform profile",
            ..
        }
    ));
}

#[test]
fn sample_claims_are_as_decoded() {
    let parts = Parts::sample();
    let Cbor::Bytes(rak_claim) = parts.claim(true, 44237) else {
        panic!("rak not bytes")
    };
    assert_eq!(rak_claim.len(), 97);
    assert!(!parts.realm_tagged || parts.realm.protected.header.alg.is_some());
}

#[tokio::test]
async fn evidence_serialised_into_a_json_string_is_accepted() {
    let verifier = Cca::new(anchors_only());
    let evidence = json_file("wrapped/cca/cca-example-token.json");
    let as_string = serde_json::Value::String(evidence.to_string());
    let entries = verifier
        .evaluate(&as_string, &report_data(), &InitDataHash::NotProvided)
        .await
        .unwrap();
    assert_eq!(
        entries[0].0.as_map()["report_data"],
        json!(EXPECTED_REPORT_DATA)
    );
    for bad in [json!("not json"), json!({"token": "AQID"}), json!([1, 2])] {
        let err = verifier
            .evaluate(&bad, &report_data(), &InitDataHash::NotProvided)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::MalformedEvidence { tee: Tee::Cca, .. }),
            "{err}"
        );
    }
    let huge = serde_json::Value::String(" ".repeat(MAX_EVIDENCE_STRING + 1));
    let err = verifier
        .evaluate(&huge, &report_data(), &InitDataHash::NotProvided)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most"), "{err}");
}
