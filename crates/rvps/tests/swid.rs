#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Registering SWID/TCG RIM documents (`"type": "swid"`, AS spec §10.2) through
//! [`BuiltinRvps`] and querying the values back: a real NVIDIA GH100 VBIOS RIM (trimmed, see
//! `data/nvidia-gh100-vbios-rim-trimmed.xml`) and RIM-shaped documents written here with the
//! real namespaces and attribute names.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use common::{assert_payloads_not_base64_refused, assert_stored, rvps};
use rvps::{BuiltinRvps, Error, SwidError};
use serde_json::json;
use storage::KeyRule;

const NVIDIA_RIM: &str = include_str!("data/nvidia-gh100-vbios-rim-trimmed.xml");

const SWID_NS: &str = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd";
const RIMIM_NS: &str = "https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/";
const SHA384_NS: &str = "http://www.w3.org/2001/04/xmlenc#sha384";

/// sha-384("abc"), sha-384("") and sha-384("abcd").
const H_ABC: &str = "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7";
const H_EMPTY: &str = "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b";
const H_ABCD: &str = "1165b3406ff0b52a3d24721f785462ca2276c9f454a116c2b2ba20171a7905ea5a026682eb659c4d5f115c363aa3c79b";
/// The all-zero hash NVIDIA RIMs write where nothing is measured.
const ZERO: &str = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

/// A RIM-shaped SWID tag: default SWID namespace, the TCG RIM namespace on `Meta` (as NVIDIA's
/// RIMs declare it) and `ns2` for the SHA-384 hash attributes.
fn rim(manufacturer: &str, edition: &str, resources: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<SoftwareIdentity xmlns="{SWID_NS}" xmlns:ns2="{SHA384_NS}" corpus="false" name="GH100" patch="false" supplemental="false" tagId="t-1" version="1.0" tagVersion="0">
    <Entity name="{manufacturer}" role="softwareCreator tagCreator"/>
    <Meta xmlns:ns1="{RIMIM_NS}" colloquialVersion="1.0" edition="{edition}" product="GH100" revision="r1" ns1:BindingSpec="RIMIM" ns1:PlatformManufacturerStr="{manufacturer}" ns1:PlatformModel="GH100"/>
    <Payload>
{resources}
    </Payload>
</SoftwareIdentity>
"#
    )
}

/// A `Resource type="Measurement"` with the given index and `(n, value)` hash attributes.
fn measurement(index: &str, hashes: &[(usize, &str)]) -> String {
    let hashes: String = hashes
        .iter()
        .map(|(n, value)| format!(r#" ns2:Hash{n}="{value}""#))
        .collect();
    format!(
        r#"        <Resource type="Measurement" index="{index}" active="True" alternatives="1"{hashes} name="Measurement_{index}" size="48"/>"#
    )
}

/// [`rim`] for the manufacturer and edition NVIDIA's GPU RIMs use.
fn nvidia_rim(resources: &str) -> String {
    rim("NVIDIA Corporation", "GPU", resources)
}

async fn register(rvps: &BuiltinRvps, document: &str) -> Vec<String> {
    common::register(rvps, "swid", document.as_bytes()).await
}

async fn refused(document: &[u8]) -> Error {
    common::refused("swid", document).await
}

async fn refused_swid(document: &[u8]) -> SwidError {
    match refused(document).await {
        Error::Swid(e) => e,
        other => panic!("expected a swid error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_nvidia_vbios_rim_registers_its_non_zero_measurements() {
    let rvps = rvps();
    let names = register(&rvps, NVIDIA_RIM).await;
    // Resources 0, 7, 8, 10 and 13 carry only the all-zero hash and are skipped.
    let expected: Vec<String> = [1, 2, 3, 4, 5, 6, 9, 11, 12]
        .iter()
        .map(|i| format!("NVIDIA_Corporation.GPU.measurement_{i}"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, expected);
    // Index 12 has four alternatives; Hash0 is all zero, the other three are kept in order.
    assert_stored(&rvps, "NVIDIA_Corporation.GPU.measurement_12", Some(json!([
            "758af96044c700f98a85347be27124d51c05b8784ba216b629b9aaab6d538c759aed9922a133e4ac473564d359b271d5",
            "7df046f26d0536f3a0b06d288ce6e5c659cad7a9c45cbd3a82c5df248755e4ddeff5871045acc6366ccab178b0d6568e",
            "cb09606fa5c052f0bc4cfa86dbeb4e3e70500bfbeeb7193256ac24ed4464a607366df16a3547b7c17ebd741eb43f1adf"
        ]))).await;
    assert_stored(&rvps, "NVIDIA_Corporation.GPU.measurement_1", Some(json!([
            "b558fdac9af53b91ff3bdb06ff589859d6fbc1050d875c88329347f24ff7b3d11ac53688ba56db03cf8751913107e0db"
        ]))).await;
    for skipped in [0, 7, 8, 10, 13] {
        let id = format!("NVIDIA_Corporation.GPU.measurement_{skipped}");
        assert_stored(&rvps, &id, None).await;
    }
}

#[tokio::test]
async fn all_zero_hashes_are_left_out_and_resources_without_others_are_skipped() {
    let rvps = rvps();
    let resources = [
        measurement(
            "0",
            &[(0, ZERO), (1, H_ABC), (2, "0"), (3, H_EMPTY), (4, "")],
        ),
        measurement("1", &[(0, ZERO), (1, "00")]),
        measurement("2", &[(0, "")]),
        measurement("3", &[(0, H_ABCD)]),
    ]
    .join("\n");
    let names = register(&rvps, &nvidia_rim(&resources)).await;
    assert_eq!(
        names,
        [
            "NVIDIA_Corporation.GPU.measurement_0",
            "NVIDIA_Corporation.GPU.measurement_3"
        ]
    );
    assert_stored(
        &rvps,
        "NVIDIA_Corporation.GPU.measurement_0",
        Some(json!([H_ABC, H_EMPTY])),
    )
    .await;
    assert_stored(&rvps, "NVIDIA_Corporation.GPU.measurement_1", None).await;
}

#[tokio::test]
async fn hashes_are_read_until_the_first_missing_number() {
    let rvps = rvps();
    let resources = [
        // Hash2 is missing: Hash3 is not read.
        measurement("0", &[(0, H_ABC), (1, H_EMPTY), (3, H_ABCD)]),
        // No Hash0: nothing is read, so the resource is skipped.
        measurement("1", &[(1, H_ABC), (2, H_EMPTY)]),
        // Written out of order: the numbers, not the attribute order, decide.
        measurement("2", &[(1, H_EMPTY), (0, H_ABC)]),
    ]
    .join("\n");
    let names = register(&rvps, &nvidia_rim(&resources)).await;
    assert_eq!(
        names,
        [
            "NVIDIA_Corporation.GPU.measurement_0",
            "NVIDIA_Corporation.GPU.measurement_2"
        ]
    );
    assert_stored(
        &rvps,
        "NVIDIA_Corporation.GPU.measurement_0",
        Some(json!([H_ABC, H_EMPTY])),
    )
    .await;
    assert_stored(
        &rvps,
        "NVIDIA_Corporation.GPU.measurement_2",
        Some(json!([H_ABC, H_EMPTY])),
    )
    .await;
}

#[tokio::test]
async fn hash_attributes_count_only_in_the_sha384_namespace_and_canonical_numbers() {
    let rvps = rvps();
    let resources = format!(
        r#"        <Resource xmlns:sha256="http://www.w3.org/2001/04/xmlenc#sha256" type="Measurement" index="0" sha256:Hash0="{H_ABC}" Hash0="{H_ABC}"/>
        <Resource type="Measurement" index="1" ns2:Hash00="{H_ABC}" ns2:Hash01="{H_EMPTY}"/>
        <Resource xmlns:other="{SHA384_NS}" type="Measurement" index="2" other:Hash0="{H_ABCD}"/>"#
    );
    // Only index 2 has a Hash0 in the SHA-384 namespace (whatever its prefix).
    let names = register(&rvps, &nvidia_rim(&resources)).await;
    assert_eq!(names, ["NVIDIA_Corporation.GPU.measurement_2"]);
    assert_stored(
        &rvps,
        "NVIDIA_Corporation.GPU.measurement_2",
        Some(json!([H_ABCD])),
    )
    .await;
}

#[tokio::test]
async fn spaces_in_the_manufacturer_and_dashes_anywhere_become_underscores() {
    let rvps = rvps();
    let resources = measurement("3-a", &[(0, H_ABC)]);
    let names = register(
        &rvps,
        &rim("Acme Widget-Works  Inc", "GPU-Driver", &resources),
    )
    .await;
    assert_eq!(names, ["Acme_Widget_Works__Inc.GPU_Driver.measurement_3_a"]);
    assert_stored(
        &rvps,
        "Acme_Widget_Works__Inc.GPU_Driver.measurement_3_a",
        Some(json!([H_ABC])),
    )
    .await;
}

#[tokio::test]
async fn every_measurement_is_named_by_its_index_attribute() {
    let rvps = rvps();
    // Not positions: the index attribute names each value.
    let resources = [
        measurement("7", &[(0, H_ABC)]),
        measurement("2", &[(0, H_EMPTY), (1, H_ABCD)]),
        measurement("40", &[(0, H_ABCD)]),
    ]
    .join("\n");
    let names = register(&rvps, &nvidia_rim(&resources)).await;
    assert_eq!(
        names,
        [
            "NVIDIA_Corporation.GPU.measurement_2",
            "NVIDIA_Corporation.GPU.measurement_40",
            "NVIDIA_Corporation.GPU.measurement_7"
        ]
    );
    for (id, value) in [
        ("NVIDIA_Corporation.GPU.measurement_7", json!([H_ABC])),
        (
            "NVIDIA_Corporation.GPU.measurement_2",
            json!([H_EMPTY, H_ABCD]),
        ),
        ("NVIDIA_Corporation.GPU.measurement_40", json!([H_ABCD])),
    ] {
        assert_stored(&rvps, id, Some(value)).await;
    }
}

#[tokio::test]
async fn only_measurement_resources_under_the_payload_are_read() {
    let rvps = rvps();
    let document = format!(
        r#"<swid:SoftwareIdentity xmlns:swid="{SWID_NS}" xmlns:h="{SHA384_NS}" xmlns:rim="{RIMIM_NS}" name="x" tagId="t">
  <swid:Evidence>
    <swid:Resource type="Measurement" index="90" h:Hash0="{H_ABC}"/>
  </swid:Evidence>
  <swid:Meta edition="GPU" rim:PlatformManufacturerStr="NVIDIA Corporation"/>
  <swid:Payload>
    <swid:Resource type="File" index="91" h:Hash0="{H_ABC}"/>
    <swid:Resource index="92" h:Hash0="{H_ABC}"/>
    <Resource type="Measurement" index="93" h:Hash0="{H_ABC}"/>
    <swid:Directory name="nested">
      <swid:Resource type="Measurement" index="5" h:Hash0="{H_EMPTY}"/>
    </swid:Directory>
    <swid:Resource type="Measurement" index="6" h:Hash0="{H_ABCD}"/>
  </swid:Payload>
</swid:SoftwareIdentity>"#
    );
    // Outside the Payload, another type, no type, no namespace: not read. Nested deeper in
    // the Payload (Payload//Resource): read, in document order.
    let names = register(&rvps, &document).await;
    assert_eq!(
        names,
        [
            "NVIDIA_Corporation.GPU.measurement_5",
            "NVIDIA_Corporation.GPU.measurement_6"
        ]
    );
}

#[tokio::test]
async fn a_later_duplicate_index_replaces_an_earlier_one() {
    let rvps = rvps();
    let resources = [
        measurement("4", &[(0, H_ABC)]),
        measurement("4", &[(0, H_EMPTY)]),
    ]
    .join("\n");
    let names = register(&rvps, &nvidia_rim(&resources)).await;
    assert_eq!(names, ["NVIDIA_Corporation.GPU.measurement_4"]);
    assert_stored(
        &rvps,
        "NVIDIA_Corporation.GPU.measurement_4",
        Some(json!([H_EMPTY])),
    )
    .await;
}

#[tokio::test]
async fn a_document_without_measurements_registers_nothing() {
    let rvps = rvps();
    let names = register(&rvps, &nvidia_rim("")).await;
    assert!(names.is_empty(), "{names:?}");
}

#[tokio::test]
async fn payloads_that_are_not_base64_are_refused() {
    let unpadded = STANDARD_NO_PAD.encode(&NVIDIA_RIM.as_bytes()[..100]);
    assert_payloads_not_base64_refused("swid", &[&unpadded, "<SoftwareIdentity/>"]).await;
}

#[tokio::test]
async fn payloads_that_are_not_utf8_are_refused() {
    let mut document = NVIDIA_RIM.as_bytes().to_vec();
    document[300] = 0xff;
    let err = refused_swid(&document).await;
    assert!(matches!(err, SwidError::NotUtf8 { offset: 300 }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "swid payload is not UTF-8 (invalid byte sequence at offset 300)"
    );
}

#[tokio::test]
async fn payloads_that_are_not_xml_are_refused() {
    let cut = &NVIDIA_RIM.as_bytes()[..NVIDIA_RIM.len() / 2];
    let mismatched = NVIDIA_RIM.replace("</ns0:Payload>", "</ns0:Payloads>");
    let unbound_prefix = rim(
        "NVIDIA Corporation",
        "GPU",
        &format!(r#"<Resource type="Measurement" index="0" sha:Hash0="{H_ABC}"/>"#),
    );
    for (what, document) in [
        ("truncated", cut.to_vec()),
        ("mismatched close tag", mismatched.into_bytes()),
        ("unbound prefix", unbound_prefix.into_bytes()),
        ("json", br#"{"svn": ["1"]}"#.to_vec()),
        ("empty", Vec::new()),
        (
            "undefined entity",
            b"<SoftwareIdentity>&lol;</SoftwareIdentity>".to_vec(),
        ),
    ] {
        let err = refused_swid(&document).await;
        assert!(matches!(err, SwidError::NotXml { .. }), "{what}: {err:?}");
        assert!(
            err.to_string().starts_with("swid payload is not XML: "),
            "{what}: {err}"
        );
    }
}

#[tokio::test]
async fn documents_with_a_dtd_are_refused_so_no_entity_is_expanded() {
    // "Billion laughs": each level expands to ten of the previous one.
    let mut laughs = String::from("<!DOCTYPE SoftwareIdentity [\n<!ENTITY lol0 \"lol\">\n");
    for level in 1..10 {
        let previous = format!("&lol{};", level - 1).repeat(10);
        laughs.push_str(&format!("<!ENTITY lol{level} \"{previous}\">\n"));
    }
    laughs.push_str("]>\n");
    let billion_laughs = NVIDIA_RIM.replacen(
        "<SoftwareIdentity ",
        &format!("{laughs}<SoftwareIdentity "),
        1,
    );
    let billion_laughs = billion_laughs.replacen(
        "colloquialVersion=\"96.00.74.00.1C\"",
        "colloquialVersion=\"&lol9;\"",
        1,
    );
    // An external entity (would read a local file if it were resolved).
    let external = NVIDIA_RIM
        .replacen(
            "<SoftwareIdentity ",
            "<!DOCTYPE SoftwareIdentity [<!ENTITY ext SYSTEM \"file:///etc/passwd\">]>\n<SoftwareIdentity ",
            1,
        )
        .replacen("edition=\"GPU\"", "edition=\"&ext;\"", 1);
    // A DTD without entities is refused too.
    let plain = NVIDIA_RIM.replacen(
        "<SoftwareIdentity ",
        "<!DOCTYPE SoftwareIdentity>\n<SoftwareIdentity ",
        1,
    );
    for (what, document) in [
        ("billion laughs", billion_laughs),
        ("external entity", external),
        ("plain doctype", plain),
    ] {
        let err = refused_swid(document.as_bytes()).await;
        assert!(matches!(err, SwidError::Dtd), "{what}: {err:?}");
        assert_eq!(
            err.to_string(),
            "swid payload has a DTD: document type declarations and entities are refused",
            "{what}"
        );
    }
}

#[tokio::test]
async fn documents_larger_than_the_limit_are_refused() {
    // Padding in a comment keeps the document well formed: only its size is wrong.
    let padding = " ".repeat(1024 * 1024);
    let document = NVIDIA_RIM.replacen(
        "<SoftwareIdentity ",
        &format!("<!--{padding}-->\n<SoftwareIdentity "),
        1,
    );
    let err = refused_swid(document.as_bytes()).await;
    assert!(
        matches!(
            err,
            SwidError::TooLarge {
                limit: 1_048_576,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().ends_with("bytes, more than 1048576"),
        "{err}"
    );
}

#[tokio::test]
async fn documents_with_too_many_nodes_are_refused() {
    let many = "<Link/>".repeat(100_001);
    let document = nvidia_rim(&many);
    let err = refused_swid(document.as_bytes()).await;
    assert!(
        matches!(err, SwidError::TooManyNodes { limit: 100_000 }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "swid payload has more than 100000 XML nodes"
    );
}

#[tokio::test]
async fn deeply_nested_documents_do_not_exhaust_the_stack() {
    // 90 000 nested elements fit the size and node limits; reading them must neither recurse
    // nor panic. The document lacks a Meta, so it is refused for that.
    let depth = 90_000;
    let document = format!(
        "<a xmlns=\"{SWID_NS}\">{}{}</a>",
        "<b>".repeat(depth),
        "</b>".repeat(depth)
    );
    let err = refused_swid(document.as_bytes()).await;
    assert!(matches!(err, SwidError::NoMeta), "{err:?}");
}

#[tokio::test]
async fn documents_missing_what_names_the_values_are_refused() {
    let resources = measurement("0", &[(0, H_ABC)]);
    let good = nvidia_rim(&resources);

    // Meta in another namespace (or none) is not the SWID Meta.
    let no_meta = good.replace("<Meta ", "<Meta xmlns=\"http://example.com/not-swid\" ");
    let err = refused_swid(no_meta.as_bytes()).await;
    assert!(matches!(err, SwidError::NoMeta), "{err:?}");
    assert_eq!(
        err.to_string(),
        "swid payload has no Meta element in namespace http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
    );

    // PlatformManufacturerStr without the TCG RIM namespace does not count.
    let no_manufacturer = good.replace("ns1:PlatformManufacturerStr=", "PlatformManufacturerStr=");
    let err = refused_swid(no_manufacturer.as_bytes()).await;
    assert!(matches!(err, SwidError::NoManufacturer), "{err:?}");
    assert!(
        err.to_string().starts_with(
            "swid payload's Meta element has no PlatformManufacturerStr attribute in namespace https://trustedcomputinggroup.org/"
        ),
        "{err}"
    );

    let no_edition = good.replace("edition=\"GPU\" ", "");
    let err = refused_swid(no_edition.as_bytes()).await;
    assert!(matches!(err, SwidError::NoEdition), "{err:?}");
    assert_eq!(
        err.to_string(),
        "swid payload's Meta element has no edition attribute"
    );

    let no_payload = good
        .replace("<Payload>", "<Evidence>")
        .replace("</Payload>", "</Evidence>");
    let err = refused_swid(no_payload.as_bytes()).await;
    assert!(matches!(err, SwidError::NoPayload), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("swid payload has no Payload element"),
        "{err}"
    );
}

#[tokio::test]
async fn a_measurement_without_an_index_refuses_the_whole_document() {
    let rvps = rvps();
    let resources = [
        measurement("0", &[(0, H_ABC)]),
        // Even an all-zero one: the index is read first, as upstream.
        format!(r#"        <Resource type="Measurement" ns2:Hash0="{ZERO}"/>"#),
    ]
    .join("\n");
    let err = common::refused_by(&rvps, "swid", nvidia_rim(&resources).as_bytes()).await;
    assert!(
        matches!(err, Error::Swid(SwidError::NoIndex { position: 1 })),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "swid payload has a Measurement Resource (measurements[1]) with no index attribute"
    );
    // Nothing was stored, not even the good first value.
    assert_stored(&rvps, "NVIDIA_Corporation.GPU.measurement_0", None).await;
}

#[tokio::test]
async fn names_the_store_refuses_fail_the_register_naming_them() {
    let rvps = rvps();
    let resources = [
        measurement("0", &[(0, H_ABC)]),
        measurement("1:a", &[(0, H_EMPTY)]),
    ]
    .join("\n");
    let err = common::refused_by(&rvps, "swid", nvidia_rim(&resources).as_bytes()).await;
    match &err {
        Error::InvalidName { name, rule } => {
            assert_eq!(name, "NVIDIA_Corporation.GPU.measurement_1:a");
            assert_eq!(*rule, KeyRule::ForbiddenCharacter(':'));
        }
        other => panic!("{other:?}"),
    }
    assert_stored(&rvps, "NVIDIA_Corporation.GPU.measurement_0", None).await;

    // A manufacturer with characters other than spaces that keys cannot hold (here a comma).
    let err =
        refused(rim("NVIDIA, Corp", "GPU", &measurement("0", &[(0, H_ABC)])).as_bytes()).await;
    assert!(
        matches!(&err, Error::InvalidName { name, rule: KeyRule::ForbiddenCharacter(',') } if name == "NVIDIA,_Corp.GPU.measurement_0"),
        "{err:?}"
    );
}

#[tokio::test]
async fn names_longer_than_the_limit_are_refused() {
    let edition = "E".repeat(1000);
    let document = rim(
        "NVIDIA Corporation",
        &edition,
        &measurement("0", &[(0, H_ABC)]),
    );
    let err = refused_swid(document.as_bytes()).await;
    assert!(
        matches!(
            err,
            SwidError::NameTooLong {
                position: 0,
                length: 1033,
                limit: 1024
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn documents_yielding_too_many_values_are_refused() {
    let resources: String = (0..4097)
        .map(|i| format!(r#"<Resource type="Measurement" index="{i}" ns2:Hash0="1"/>"#))
        .collect();
    let err = refused_swid(nvidia_rim(&resources).as_bytes()).await;
    assert!(
        matches!(err, SwidError::TooManyValues { limit: 4096 }),
        "{err:?}"
    );

    // 4096 are fine.
    let resources: String = (0..4096)
        .map(|i| format!(r#"<Resource type="Measurement" index="{i}" ns2:Hash0="1"/>"#))
        .collect();
    let names = register(&rvps(), &nvidia_rim(&resources)).await;
    assert_eq!(names.len(), 4096);
}
