//! The generated messages encode to bytes built by hand from the field
//! numbers and wire types of shared/spec/attestation-service.md §2.1/§2.2,
//! so a renumbered or retyped field in `proto/` fails here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost::Message;
use protos::attestation::{
    AttestationRequest, AttestationResponse, ChallengeRequest, ChallengeResponse,
    DeletePolicyRequest, DeletePolicyResponse, GetPolicyRequest, GetPolicyResponse,
    IndividualAttestationRequest, ListPoliciesRequest, ListPoliciesResponse, SetPolicyRequest,
    SetPolicyResponse,
    individual_attestation_request::{InitData, RuntimeData},
    list_policies_response::PolicyInfo,
};
use protos::reference::{
    ReferenceValueDeleteRequest, ReferenceValueDeleteResponse, ReferenceValueQueryRequest,
    ReferenceValueQueryResponse, ReferenceValueRegisterRequest, ReferenceValueRegisterResponse,
};

/// Tag byte of a length-delimited field (wire type 2); all our field numbers are < 16.
fn tag(field: u8) -> u8 {
    assert!(field < 16);
    (field << 3) | 2
}

/// One length-delimited field with a one-byte length.
fn ld(field: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 128);
    let mut out = vec![tag(field), payload.len() as u8];
    out.extend_from_slice(payload);
    out
}

fn roundtrip<M: Message + Default + PartialEq + std::fmt::Debug>(msg: &M, expected: &[u8]) {
    assert_eq!(hex::encode(msg.encode_to_vec()), hex::encode(expected));
    assert_eq!(&M::decode(expected).unwrap(), msg);
}

#[test]
fn individual_request_structured_runtime_data() {
    let msg = IndividualAttestationRequest {
        tee: "snp".into(),
        evidence: "eyJ9".into(),
        runtime_data: Some(RuntimeData::StructuredRuntimeData("{}".into())),
        init_data: None,
        runtime_data_hash_algorithm: "sha384".into(),
    };
    // tee = 1, evidence = 3, structured_runtime_data = 5, hash algorithm = 8.
    let expected: Vec<u8> = [
        ld(1, b"snp"),
        ld(3, b"eyJ9"),
        ld(5, b"{}"),
        ld(8, b"sha384"),
    ]
    .concat();
    assert_eq!(
        expected,
        b"\x0a\x03snp\x1a\x04eyJ9\x2a\x02{}\x42\x06sha384".to_vec()
    );
    roundtrip(&msg, &expected);
}

#[test]
fn individual_request_raw_runtime_data_and_init_data() {
    let digest = IndividualAttestationRequest {
        tee: "tdx".into(),
        evidence: "e".into(),
        runtime_data: Some(RuntimeData::RawRuntimeData("AAEC".into())),
        init_data: Some(InitData::InitDataDigest("q83v".into())),
        runtime_data_hash_algorithm: String::new(),
    };
    // raw_runtime_data = 4, init_data_digest = 6; the empty string is not encoded.
    let expected = [ld(1, b"tdx"), ld(3, b"e"), ld(4, b"AAEC"), ld(6, b"q83v")].concat();
    roundtrip(&digest, &expected);

    let toml = IndividualAttestationRequest {
        init_data: Some(InitData::InitDataToml("version = \"0.1.0\"".into())),
        runtime_data: None,
        ..digest
    };
    // init_data_toml = 7.
    let expected = [ld(1, b"tdx"), ld(3, b"e"), ld(7, b"version = \"0.1.0\"")].concat();
    roundtrip(&toml, &expected);
}

#[test]
fn retired_fields_2_and_9_are_skipped_on_decode() {
    // An old flat client's `evidence = 2` and `init_data_hash_algorithm = 9`
    // are unknown fields now: skipped, never mistaken for current ones.
    let bytes = [ld(1, b"sample"), ld(2, b"old"), ld(9, b"sha256")].concat();
    let msg = IndividualAttestationRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(msg.tee, "sample");
    assert!(msg.evidence.is_empty());
    assert!(msg.runtime_data_hash_algorithm.is_empty());
}

#[test]
fn attestation_request_with_policy_ids() {
    let inner = IndividualAttestationRequest {
        tee: "snp".into(),
        evidence: "eyJ9".into(),
        runtime_data: Some(RuntimeData::StructuredRuntimeData("{}".into())),
        init_data: None,
        runtime_data_hash_algorithm: "sha384".into(),
    };
    let msg = AttestationRequest {
        verification_requests: vec![inner],
        policy_ids: vec!["default".into(), "p2".into()],
    };
    let inner_bytes = [
        ld(1, b"snp"),
        ld(3, b"eyJ9"),
        ld(5, b"{}"),
        ld(8, b"sha384"),
    ]
    .concat();
    // verification_requests = 1 (embedded message), policy_ids = 2 (repeated string).
    let expected = [ld(1, &inner_bytes), ld(2, b"default"), ld(2, b"p2")].concat();
    // 5 + 6 + 4 + 8 = 23 bytes of embedded message.
    assert_eq!(expected[..2], [0x0a, 23]);
    roundtrip(&msg, &expected);
}

#[test]
fn attestation_response_set_policy_and_challenge() {
    roundtrip(
        &AttestationResponse {
            attestation_token: "a.b.c".into(),
        },
        &ld(1, b"a.b.c"),
    );
    roundtrip(
        &SetPolicyRequest {
            policy_id: "default".into(),
            policy: "cGFja2FnZQ".into(),
        },
        &[ld(1, b"default"), ld(2, b"cGFja2FnZQ")].concat(),
    );
    roundtrip(&SetPolicyResponse {}, &[]);
    roundtrip(
        &ChallengeResponse {
            attestation_challenge: "ch".into(),
        },
        &ld(1, b"ch"),
    );
}

#[test]
fn challenge_request_map_entries() {
    // A map<string,string> is a repeated embedded message {key = 1, value = 2}.
    let msg = ChallengeRequest {
        inner: [("tee".to_string(), "se".to_string())]
            .into_iter()
            .collect(),
    };
    let entry = [ld(1, b"tee"), ld(2, b"se")].concat();
    let expected = ld(1, &entry);
    assert_eq!(expected, b"\x0a\x09\x0a\x03tee\x12\x02se".to_vec());
    roundtrip(&msg, &expected);

    // Two entries decode into two keys whatever their order on the wire.
    let two = [
        ld(1, &[ld(1, b"tee_params"), ld(2, b"{}")].concat()),
        ld(1, &entry),
    ]
    .concat();
    let decoded = ChallengeRequest::decode(two.as_slice()).unwrap();
    assert_eq!(decoded.inner.len(), 2);
    assert_eq!(decoded.inner["tee"], "se");
    assert_eq!(decoded.inner["tee_params"], "{}");
}

#[test]
fn reference_query_response_presence() {
    // proto3 `optional`: absent encodes to nothing, present-but-empty to an
    // explicit zero-length field 1, and the two decode differently.
    let absent = ReferenceValueQueryResponse {
        reference_value_results: None,
    };
    roundtrip(&absent, &[]);

    let empty = ReferenceValueQueryResponse {
        reference_value_results: Some(String::new()),
    };
    roundtrip(&empty, &[0x0a, 0x00]);

    let present = ReferenceValueQueryResponse {
        reference_value_results: Some("[\"abc\"]".into()),
    };
    roundtrip(&present, &ld(1, b"[\"abc\"]"));
}

#[test]
fn reference_requests() {
    roundtrip(
        &ReferenceValueQueryRequest {
            reference_value_id: "rv".into(),
        },
        &ld(1, b"rv"),
    );
    roundtrip(
        &ReferenceValueRegisterRequest {
            message: "{}".into(),
        },
        &ld(1, b"{}"),
    );
    roundtrip(&ReferenceValueRegisterResponse {}, &[]);
}

#[test]
fn reference_delete_extension() {
    // The openanolis/trustee extension: `string name = 1`, and an empty response.
    let request = ReferenceValueDeleteRequest { name: "svn".into() };
    let expected = ld(1, b"svn");
    assert_eq!(expected, b"\x0a\x03svn".to_vec());
    roundtrip(&request, &expected);
    // proto3: an empty name is the default and encodes to nothing.
    roundtrip(
        &ReferenceValueDeleteRequest {
            name: String::new(),
        },
        &[],
    );
    roundtrip(&ReferenceValueDeleteResponse {}, &[]);
    // A response from a newer server with fields we do not know still decodes.
    assert_eq!(
        ReferenceValueDeleteResponse::decode(ld(1, b"x").as_slice()).unwrap(),
        ReferenceValueDeleteResponse {}
    );
}

#[test]
fn policy_get_and_delete_extension() {
    // The openanolis/trustee extension: `policy_id = 1` in both requests, the
    // base64url policy text in `policy = 1`, an empty delete response.
    let get = GetPolicyRequest {
        policy_id: "default_cpu".into(),
    };
    let expected = ld(1, b"default_cpu");
    assert_eq!(expected, b"\x0a\x0bdefault_cpu".to_vec());
    roundtrip(&get, &expected);
    roundtrip(
        &GetPolicyResponse {
            policy: "cGFja2FnZQ".into(),
        },
        b"\x0a\x0acGFja2FnZQ",
    );
    roundtrip(
        &DeletePolicyRequest {
            policy_id: "p2".into(),
        },
        b"\x0a\x02p2",
    );
    roundtrip(&DeletePolicyRequest::default(), &[]);
    roundtrip(&DeletePolicyResponse {}, &[]);
    // A delete response from a newer server with fields we do not know still decodes.
    assert_eq!(
        DeletePolicyResponse::decode(ld(1, b"x").as_slice()).unwrap(),
        DeletePolicyResponse {}
    );
}

#[test]
fn policy_list_extension() {
    roundtrip(&ListPoliciesRequest {}, &[]);
    // policies = 1, each an embedded PolicyInfo {policy_id = 1, policy_hash = 2}, in order.
    let msg = ListPoliciesResponse {
        policies: vec![
            PolicyInfo {
                policy_id: "a".into(),
                policy_hash: "h1".into(),
            },
            PolicyInfo {
                policy_id: "b".into(),
                policy_hash: "h2".into(),
            },
        ],
    };
    let expected = [
        ld(1, &[ld(1, b"a"), ld(2, b"h1")].concat()),
        ld(1, &[ld(1, b"b"), ld(2, b"h2")].concat()),
    ]
    .concat();
    assert_eq!(
        expected,
        b"\x0a\x07\x0a\x01a\x12\x02h1\x0a\x07\x0a\x01b\x12\x02h2".to_vec()
    );
    roundtrip(&msg, &expected);
    roundtrip(&ListPoliciesResponse::default(), &[]);
}

#[test]
fn service_paths() {
    use protos::attestation::attestation_service_server::SERVICE_NAME as AS;
    use protos::reference::reference_value_provider_service_server::SERVICE_NAME as RVPS;
    assert_eq!(AS, "attestation.AttestationService");
    assert_eq!(RVPS, "reference.ReferenceValueProviderService");
}
