//! Request bytes against hand-built encodings (spec field numbers).

use std::collections::HashMap;

use prost::Message as _;

use super::*;

/// A length-delimited field (wire type 2) with a one-byte tag and a one-byte length.
fn ld(field: u8, payload: &[u8]) -> Vec<u8> {
    assert!(field < 16 && payload.len() < 128);
    let mut out = vec![(field << 3) | 2, payload.len() as u8];
    out.extend_from_slice(payload);
    out
}

#[test]
fn individual_request_encodes_to_the_spec_field_numbers() {
    let request = VerificationRequest {
        tee: Tee::Sample,
        evidence: json!({"svn": "1"}),
        runtime_data: Some(RuntimeData::Structured(json!({"nonce": "n"}))),
        runtime_data_hash_algorithm: HashAlgorithm::Sha384,
        init_data: Some(InitData::Toml("a = 1".into())),
    };
    // in field order: tee = 1, evidence = 3 (base64url, no padding, of `{"svn":"1"}`),
    // structured_runtime_data = 5, init_data_toml = 7, runtime_data_hash_algorithm = 8
    let mut expected = ld(1, b"sample");
    expected.extend(ld(3, b"eyJzdm4iOiIxIn0"));
    expected.extend(ld(5, br#"{"nonce":"n"}"#));
    expected.extend(ld(7, b"a = 1"));
    expected.extend(ld(8, b"sha384"));
    let encoded = individual_request(&request).encode_to_vec();
    assert_eq!(hex::encode(&encoded), hex::encode(&expected));

    // the whole request: verification_requests = 1 (embedded), policy_ids = 2
    let whole = AttestationRequest {
        verification_requests: vec![individual_request(&request)],
        policy_ids: vec!["default".into()],
    };
    let mut expected_whole = ld(1, &expected);
    expected_whole.extend(ld(2, b"default"));
    assert_eq!(
        hex::encode(whole.encode_to_vec()),
        hex::encode(expected_whole)
    );
}

#[test]
fn raw_runtime_data_and_init_data_digest_use_fields_4_and_6() {
    let request = VerificationRequest {
        tee: Tee::Snp,
        evidence: json!("e"),
        runtime_data: Some(RuntimeData::Raw(vec![0xfb, 0xff])),
        runtime_data_hash_algorithm: HashAlgorithm::Sha512,
        init_data: Some(InitData::Digest(vec![0xff])),
    };
    let mut expected = ld(1, b"snp");
    expected.extend(ld(3, b"ImUi"));
    expected.extend(ld(4, b"-_8"));
    expected.extend(ld(6, b"_w"));
    expected.extend(ld(8, b"sha512"));
    assert_eq!(
        hex::encode(individual_request(&request).encode_to_vec()),
        hex::encode(expected)
    );
}

#[test]
fn evaluate_request_is_encoded_as_upstream_kbs_does() {
    let bytes = attestation_request(Tee::Sample, &attestation("", None), "n")
        .unwrap()
        .encode_to_vec();
    let decoded = AttestationRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded.policy_ids, vec!["default"]);
    assert_eq!(decoded.verification_requests.len(), 1);
    let r = &decoded.verification_requests[0];
    assert_eq!(r.tee, "sample");
    assert_eq!(r.runtime_data_hash_algorithm, "sha384");
    assert_eq!(r.init_data, None);
    // evidence: base64url without padding of the compact JSON text
    assert!(!r.evidence.contains(['=', '+', '/']), "{}", r.evidence);
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(&r.evidence).unwrap()).unwrap();
    assert!(!text.contains(' '), "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"svn": "1", "report_data": "AQID"})
    );
    let Some(WireRuntimeData::StructuredRuntimeData(rd)) = &r.runtime_data else {
        panic!("structured_runtime_data expected: {:?}", r.runtime_data);
    };
    assert_eq!(
        serde_json::from_str::<Value>(rd).unwrap(),
        json!({
            "tee-pubkey": {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": "x", "y": "y"},
            "nonce": "n",
            "additional-evidence": "",
        })
    );
}

#[test]
fn se_uses_sha512_and_toml_init_data_travels_as_field_7() {
    let request =
        attestation_request(Tee::Se, &attestation("", Some(("toml", "k = 'v'"))), "n").unwrap();
    let r = &request.verification_requests[0];
    assert_eq!(r.tee, "se");
    assert_eq!(r.runtime_data_hash_algorithm, "sha512");
    assert_eq!(
        r.init_data,
        Some(WireInitData::InitDataToml("k = 'v'".into()))
    );
    // any other init-data format fails the whole attestation before the AS is called
    let err =
        attestation_request(Tee::Se, &attestation("", Some(("json", "{}"))), "n").unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedInitDataFormat { .. }),
        "{err}"
    );
}

#[test]
fn additional_devices_are_further_requests_bound_to_nonce_and_key_only() {
    let additional = r#"{"sampledevice":{"svn":"2"}}"#;
    let request = attestation_request(
        Tee::Sample,
        &attestation(additional, Some(("toml", "x = 1"))),
        "n",
    )
    .unwrap();
    assert_eq!(request.verification_requests.len(), 2);
    let device = &request.verification_requests[1];
    assert_eq!(device.tee, "sampledevice");
    assert_eq!(device.evidence, URL_SAFE_NO_PAD.encode(r#"{"svn":"2"}"#));
    assert_eq!(device.init_data, None);
    assert_eq!(device.runtime_data_hash_algorithm, "sha384");
    let Some(WireRuntimeData::StructuredRuntimeData(rd)) = &device.runtime_data else {
        panic!("structured_runtime_data expected");
    };
    let rd: Value = serde_json::from_str(rd).unwrap();
    assert_eq!(rd["nonce"], "n");
    assert!(rd.get("additional-evidence").is_none(), "{rd}");
    let Some(WireRuntimeData::StructuredRuntimeData(primary)) =
        &request.verification_requests[0].runtime_data
    else {
        panic!("structured_runtime_data expected");
    };
    let primary: Value = serde_json::from_str(primary).unwrap();
    assert_eq!(primary["additional-evidence"], additional);
}

#[test]
fn tee_names_are_the_serde_names() {
    for (tee, name) in [
        (Tee::AzSnpVtpm, "az-snp-vtpm"),
        (Tee::AzTdxVtpm, "az-tdx-vtpm"),
        (Tee::NvidiaDpu, "nvidia-dpu"),
        (Tee::HygonDcu, "hygondcu"),
        (Tee::SampleDevice, "sampledevice"),
        (Tee::Tdx, "tdx"),
    ] {
        assert_eq!(tee_wire_name(tee), name);
    }
}

#[test]
fn se_challenge_request_carries_tee_and_params_text() {
    let bytes =
        se_challenge_request(&json!({"supported-hash-algorithms": ["sha512"]})).encode_to_vec();
    let decoded = ChallengeRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded.inner.len(), 2);
    assert_eq!(decoded.inner["tee"], "se");
    assert_eq!(
        decoded.inner["tee_params"],
        r#"{"supported-hash-algorithms":["sha512"]}"#
    );
    // one map entry as the spec encodes it: field 1, entry = {key = 1, value = 2}
    let single = ChallengeRequest {
        inner: HashMap::from([("tee".to_owned(), "se".to_owned())]),
    };
    let mut entry = ld(1, b"tee");
    entry.extend(ld(2, b"se"));
    assert_eq!(single.encode_to_vec(), ld(1, &entry));
}

#[test]
fn reference_value_messages_use_field_1() {
    let register = ReferenceValueRegisterRequest {
        message: "{}".into(),
    };
    assert_eq!(register.encode_to_vec(), ld(1, b"{}"));
    let query = ReferenceValueQueryRequest {
        reference_value_id: "svn".into(),
    };
    assert_eq!(query.encode_to_vec(), ld(1, b"svn"));
    let delete = ReferenceValueDeleteRequest { name: "svn".into() };
    assert_eq!(delete.encode_to_vec(), ld(1, b"svn"));
    let set = SetPolicyRequest {
        policy_id: "p".into(),
        policy: "cA".into(),
    };
    let mut expected = ld(1, b"p");
    expected.extend(ld(2, b"cA"));
    assert_eq!(set.encode_to_vec(), expected);
}
