#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Registering CoRIMs (`"type": "corim"`, AS spec §10.2) through [`BuiltinRvps`] and querying
//! the values back. CoRIMs are built here from ciborium values following the
//! draft-ietf-rats-corim CDDL, plus one fixed vector written out as bytes.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use ciborium::value::Value;
use common::{assert_payloads_not_base64_refused, assert_stored, cbor, int, map, rvps, tag, text};
use rvps::{BuiltinRvps, CorimError, Error};
use serde_json::json;
use storage::KeyRule;

const UUID: &str = "31fb5abf-023e-4992-aa4e-95f9c1503bfa";
const UUID_BYTES: [u8; 16] = [
    0x31, 0xfb, 0x5a, 0xbf, 0x02, 0x3e, 0x49, 0x92, 0xaa, 0x4e, 0x95, 0xf9, 0xc1, 0x50, 0x3b, 0xfa,
];
/// sha-256("abc") and sha-256("").
const SHA256_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const SHA256_EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The ACME/RoadRunner CoRIM written out by hand (CBOR diagnostic notation alongside):
const ACME_ROADRUNNER: &str = concat!(
    "d901f5", // 501(
    "a2",     //   {
    "00",
    "67636f72696d2d31", //     0: "corim-1",
    "0181",             //     1: [
    "d901fa",
    "5887", //       506(h'<135 bytes>' = <<
    "a2",   //         {
    "01a100",
    "66636f6d696431", //          1: {0: "comid1"},
    "04a1",
    "0081",
    "82", //           4: {0: [[
    "a1",
    "00a2", //             {0: {
    "01",
    "6441434d45", //               1: "ACME",
    "02",
    "6a526f616452756e6e6572", //          2: "RoadRunner"}},
    "81",
    "a2", //             [{
    "00",
    "d825",
    "50",
    "31fb5abf023e4992aa4e95f9c1503bfa", // 0: 37(h'31fb…'),
    "01",
    "a1",
    "02",
    "82", //               1: {2: [
    "82",
    "01",
    "5820",
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    "82",
    "01",
    "5820",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    //                                   [1, h'…'], [1, h'…']]}}]]]}}>>)]})
);

/// `class-map` with the given vendor and model.
fn class(vendor: Option<&str>, model: Option<&str>) -> Value {
    let mut entries = vec![];
    if let Some(vendor) = vendor {
        entries.push((1, text(vendor)));
    }
    if let Some(model) = model {
        entries.push((2, text(model)));
    }
    map(entries)
}

/// `reference-triple-record` = `[environment-map, [+ measurement-map]]`.
fn reference_triple(class: Option<Value>, measurements: Vec<Value>) -> Value {
    let environment = match class {
        Some(class) => map(vec![(0, class)]),
        // an environment with only an instance (ignored by the extractor)
        None => map(vec![(1, tag(550, Value::Bytes(vec![1; 33])))]),
    };
    Value::Array(vec![environment, Value::Array(measurements)])
}

/// `concise-mid-tag` bytes with the given reference triples.
fn comid(triples: Vec<Value>) -> Vec<u8> {
    cbor(&map(vec![
        (0, text("en-GB")),
        (1, map(vec![(0, text("comid")), (1, int(0))])),
        (4, map(vec![(0, Value::Array(triples))])),
    ]))
}

/// `measurement-map` = `{? 0: mkey, 1: mval}`.
fn measurement(mkey: Option<Value>, mval: Vec<(i64, Value)>) -> Value {
    let mut entries = vec![];
    if let Some(mkey) = mkey {
        entries.push((0, mkey));
    }
    entries.push((1, map(mval)));
    map(entries)
}

fn digests(hexes: &[&str]) -> (i64, Value) {
    let list = hexes
        .iter()
        .map(|h| Value::Array(vec![int(1), Value::Bytes(hex::decode(h).unwrap())]))
        .collect();
    (2, Value::Array(list))
}

fn uuid_key() -> Value {
    tag(37, Value::Bytes(UUID_BYTES.to_vec()))
}

/// `501({0: "corim-1", 1: [506(comid), ...]})`.
fn corim(comids: Vec<Vec<u8>>) -> Vec<u8> {
    let tags = comids
        .into_iter()
        .map(|c| tag(506, Value::Bytes(c)))
        .collect();
    cbor(&tag(
        501,
        map(vec![(0, text("corim-1")), (1, Value::Array(tags))]),
    ))
}

fn acme(measurements: Vec<Value>) -> Vec<u8> {
    corim(vec![comid(vec![reference_triple(
        Some(class(Some("ACME"), Some("RoadRunner"))),
        measurements,
    )])])
}

async fn register(rvps: &BuiltinRvps, payload: &[u8]) -> Vec<String> {
    common::register(rvps, "corim", payload).await
}

async fn refused(payload: &[u8]) -> Error {
    common::refused("corim", payload).await
}

#[tokio::test]
async fn the_fixed_vector_registers_the_uuid_keyed_digests() {
    let rvps = rvps();
    let names = register(&rvps, &hex::decode(ACME_ROADRUNNER).unwrap()).await;
    let name = format!("ACME/RoadRunner/{UUID}/digests");
    assert_eq!(names, [name.as_str()]);
    assert_stored(&rvps, &name, Some(json!([SHA256_ABC, SHA256_EMPTY]))).await;
}

#[test]
fn the_builders_encode_the_fixed_vector() {
    // `comid()` adds fields the vector lacks (language, tag version), so build it field by field.
    let trimmed = cbor(&tag(
        501,
        map(vec![
            (0, text("corim-1")),
            (
                1,
                Value::Array(vec![tag(
                    506,
                    Value::Bytes(cbor(&map(vec![
                        (1, map(vec![(0, text("comid1"))])),
                        (
                            4,
                            map(vec![(
                                0,
                                Value::Array(vec![reference_triple(
                                    Some(class(Some("ACME"), Some("RoadRunner"))),
                                    vec![measurement(
                                        Some(uuid_key()),
                                        vec![digests(&[SHA256_ABC, SHA256_EMPTY])],
                                    )],
                                )]),
                            )]),
                        ),
                    ]))),
                )]),
            ),
        ]),
    ));
    assert_eq!(hex::encode(trimmed), ACME_ROADRUNNER);
}

#[tokio::test]
async fn uint_and_text_keys_name_the_measurement() {
    let rvps = rvps();
    let names = register(
        &rvps,
        &acme(vec![
            measurement(Some(int(7)), vec![digests(&[SHA256_ABC])]),
            measurement(Some(text("kernel")), vec![digests(&[SHA256_EMPTY])]),
        ]),
    )
    .await;
    assert_eq!(
        names,
        [
            "ACME/RoadRunner/claim7/digests",
            "ACME/RoadRunner/kernel/digests"
        ]
    );
    assert_stored(
        &rvps,
        "ACME/RoadRunner/claim7/digests",
        Some(json!([SHA256_ABC])),
    )
    .await;
    assert_stored(
        &rvps,
        "ACME/RoadRunner/kernel/digests",
        Some(json!([SHA256_EMPTY])),
    )
    .await;
}

#[tokio::test]
async fn name_and_serial_number_are_appended_after_the_key() {
    let rvps = rvps();
    let names = register(
        &rvps,
        &corim(vec![comid(vec![
            reference_triple(
                Some(class(Some("ACME"), None)),
                vec![measurement(
                    Some(text("fw")),
                    vec![
                        (11, text("bootloader")),
                        (8, text("SN-42")),
                        digests(&[SHA256_ABC]),
                    ],
                )],
            ),
            reference_triple(
                Some(class(None, Some("RoadRunner"))),
                vec![measurement(
                    None,
                    vec![(8, text("SN-7")), digests(&[SHA256_ABC])],
                )],
            ),
            reference_triple(None, vec![measurement(None, vec![digests(&[SHA256_ABC])])]),
        ])]),
    )
    .await;
    assert_eq!(
        names,
        [
            "ACME/fw/bootloader/SN-42/digests",
            "RoadRunner/SN-7/digests",
            "digests"
        ]
    );
    assert_stored(
        &rvps,
        "ACME/fw/bootloader/SN-42/digests",
        Some(json!([SHA256_ABC])),
    )
    .await;
}

#[tokio::test]
async fn tagged_raw_bytes_are_registered_as_hex() {
    let rvps = rvps();
    let names = register(
        &rvps,
        &acme(vec![measurement(
            Some(uuid_key()),
            vec![
                digests(&[SHA256_ABC]),
                (4, tag(560, Value::Bytes(vec![0xde, 0xad, 0xbe, 0xef]))),
            ],
        )]),
    )
    .await;
    assert_eq!(
        names,
        [
            format!("ACME/RoadRunner/{UUID}/digests"),
            format!("ACME/RoadRunner/{UUID}/raw_bytes")
        ]
    );
    assert_stored(
        &rvps,
        &format!("ACME/RoadRunner/{UUID}/raw_bytes"),
        Some(json!("deadbeef")),
    )
    .await;
}

#[tokio::test]
async fn leading_tags_500_and_502_are_stripped() {
    let unsigned = hex::decode(ACME_ROADRUNNER).unwrap();
    for prefix in [
        &[0xd9, 0x01, 0xf4][..],
        &[0xd9, 0x01, 0xf6],
        &[0xd9, 0x01, 0xf4, 0xd9, 0x01, 0xf6],
    ] {
        let rvps = rvps();
        let payload = [prefix, &unsigned].concat();
        assert_eq!(
            register(&rvps, &payload).await,
            [format!("ACME/RoadRunner/{UUID}/digests")],
            "{prefix:02x?}"
        );
    }
    // Only 500 and 502 are stripped: another tag around the CoRIM is refused.
    let wrapped = cbor(&tag(
        503,
        ciborium::from_reader::<Value, _>(&unsigned[..]).unwrap(),
    ));
    assert!(
        matches!(refused(&wrapped).await, Error::Corim(CorimError::NotCorim { found }) if found == "tag 503"),
    );
}

#[tokio::test]
async fn every_comid_of_the_corim_is_read() {
    let rvps = rvps();
    let names = register(
        &rvps,
        &corim(vec![
            comid(vec![reference_triple(
                Some(class(Some("ACME"), Some("RoadRunner"))),
                vec![measurement(Some(int(0)), vec![digests(&[SHA256_ABC])])],
            )]),
            comid(vec![reference_triple(
                Some(class(Some("EMCA"), Some("WileE"))),
                vec![measurement(Some(int(1)), vec![digests(&[SHA256_EMPTY])])],
            )]),
        ]),
    )
    .await;
    assert_eq!(
        names,
        [
            "ACME/RoadRunner/claim0/digests",
            "EMCA/WileE/claim1/digests"
        ]
    );
    assert_stored(
        &rvps,
        "EMCA/WileE/claim1/digests",
        Some(json!([SHA256_EMPTY])),
    )
    .await;
}

#[tokio::test]
async fn payloads_that_are_not_base64_are_refused() {
    let unpadded = STANDARD_NO_PAD.encode([0xa0]);
    assert_payloads_not_base64_refused("corim", &["not base64!", &unpadded]).await;
}

#[tokio::test]
async fn payloads_that_are_not_cbor_are_refused() {
    for payload in [&b""[..], b"hello", &[0xff], &[0x1c]] {
        let err = refused(payload).await;
        assert!(
            matches!(&err, Error::Corim(CorimError::NotCbor { .. })),
            "{payload:?}: {err}"
        );
        assert!(
            err.to_string().starts_with("corim payload is not CBOR"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn payloads_of_the_wrong_shape_are_refused() {
    for (top, found) in [
        (Value::Array(vec![]), "an array"),
        (text("corim"), "text"),
        (tag(506, Value::Bytes(comid(vec![]))), "tag 506"),
        (tag(501, Value::Array(vec![])), "tag 501 around an array"),
    ] {
        let err = refused(&cbor(&top)).await;
        assert!(
            matches!(&err, Error::Corim(CorimError::NotCorim { found: f }) if f == found),
            "{found}: {err}"
        );
        assert!(err.to_string().contains("is not a CoRIM"), "{err}");
    }
    for (corim, reason) in [
        (map(vec![(0, text("id"))]), "no tags (key 1)"),
        (
            map(vec![(0, text("id")), (1, text("x"))]),
            "tags (key 1) is text, expected an array",
        ),
    ] {
        let err = refused(&cbor(&tag(501, corim))).await;
        assert!(
            matches!(&err, Error::Corim(CorimError::MalformedCorim { reason: r }) if r == reason),
            "{reason}: {err}"
        );
    }
}

#[tokio::test]
async fn bad_comids_are_refused_naming_their_position_and_nothing_is_stored() {
    let good = comid(vec![reference_triple(
        Some(class(Some("ACME"), Some("RoadRunner"))),
        vec![measurement(Some(int(0)), vec![digests(&[SHA256_ABC])])],
    )]);
    let no_triples = cbor(&map(vec![(1, map(vec![(0, text("comid"))]))]));
    let bad_triple = comid(vec![Value::Array(vec![map(vec![])])]);
    let bad_vendor = comid(vec![reference_triple(
        Some(map(vec![(1, int(5))])),
        vec![measurement(None, vec![digests(&[SHA256_ABC])])],
    )]);
    for (bad, reason) in [
        (vec![0xff], "is not CBOR"),
        (no_triples, "no triples (key 4)"),
        (cbor(&text("comid")), "it is text, expected a map"),
        (
            bad_triple,
            "triples.reference-triples[0] is an array, expected [environment-map, [+ measurement-map]]",
        ),
        (
            bad_vendor,
            "triples.reference-triples[0].environment: class.vendor is an integer, expected text",
        ),
    ] {
        let rvps = rvps();
        let err = common::refused_by(&rvps, "corim", &corim(vec![good.clone(), bad])).await;
        assert!(
            matches!(&err, Error::Corim(CorimError::Comid { index: 1, reason: r }) if r.contains(reason)),
            "{reason}: {err}"
        );
        assert!(
            err.to_string()
                .starts_with("corim payload has a CoMID at tags[1] that does not decode: "),
            "{err}"
        );
        assert_stored(&rvps, "ACME/RoadRunner/claim0/digests", None).await;
    }
}

#[tokio::test]
async fn names_the_store_refuses_fail_the_register_naming_them() {
    let rvps = rvps();
    let payload = corim(vec![comid(vec![
        reference_triple(
            Some(class(Some("ACME"), Some("RoadRunner"))),
            vec![measurement(Some(int(0)), vec![digests(&[SHA256_ABC])])],
        ),
        reference_triple(
            Some(class(Some("ACME Ltd."), Some("RoadRunner"))),
            vec![measurement(Some(int(0)), vec![digests(&[SHA256_ABC])])],
        ),
    ])]);
    let err = common::refused_by(&rvps, "corim", &payload).await;
    assert!(
        matches!(&err, Error::InvalidName { name, rule: KeyRule::ForbiddenCharacter(' ') }
            if name == "ACME Ltd./RoadRunner/claim0/digests"),
        "{err}"
    );
    // Refused whole: the valid name was not stored either.
    assert_stored(&rvps, "ACME/RoadRunner/claim0/digests", None).await;
    // A `..` segment from a text key is refused the same way.
    let err = refused(&acme(vec![measurement(
        Some(text("..")),
        vec![digests(&[SHA256_ABC])],
    )]))
    .await;
    assert!(
        matches!(
            &err,
            Error::InvalidName {
                rule: KeyRule::DotSegment,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_later_duplicate_name_replaces_an_earlier_one() {
    let rvps = rvps();
    let names = register(
        &rvps,
        &acme(vec![
            measurement(Some(int(0)), vec![digests(&[SHA256_ABC])]),
            measurement(Some(int(0)), vec![digests(&[SHA256_EMPTY])]),
        ]),
    )
    .await;
    assert_eq!(names, ["ACME/RoadRunner/claim0/digests"]);
    assert_stored(
        &rvps,
        "ACME/RoadRunner/claim0/digests",
        Some(json!([SHA256_EMPTY])),
    )
    .await;
}
