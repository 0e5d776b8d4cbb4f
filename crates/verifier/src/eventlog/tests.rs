//! The shared CCEL captures against upstream's parsed output and replayed RTMRs
//! (`shared/testdata/evidence/tdx/eventlog/`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

use super::*;
use crate::test_support::shared;

fn log(name: &str) -> EventLog {
    EventLog::parse(&shared(&format!("evidence/tdx/eventlog/{name}"))).unwrap()
}

fn expected(name: &str) -> Value {
    serde_json::from_slice(&shared(&format!("evidence/tdx/eventlog/{name}_out.json"))).unwrap()
}

const ZERO: &str = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

/// RTMR0..3 that upstream's eventlog tests replay these logs to.
const REPLAYED: [(&str, [&str; 4]); 5] = [
    (
        "CCEL_data",
        [
            "2dc712306a963eadb894ad47dbaa17df44814151555aee11cbb843becca88950ffd079664902e6f22c66f7c8213543f4",
            "0fa3be56af61208bbd179dc7b124988eb929319154663c539d6f46445ecac2fec287075047ff7bd1922829fec28cd3cf",
            ZERO,
            ZERO,
        ],
    ),
    (
        "CCEL_data_ovmf",
        [
            "8566f998798db09443b244c62de9a3041fb02e2e6936c4396d784bba2e90177329ec5aba3bb484404f2ab9cc90abe193",
            "775b9f6bfe99f8a31396f0d0218e67ffa796d3b96ccf961cbb0deba48c79c00f082cda1a5567c1c16305f1fc210c13c6",
            "94eaf7a7bf398ed8d888c91057ae0261802e4f3df084213a76ca7f0b5055ac9d2241de43cd58d9e8b49c503bbf25f34a",
            ZERO,
        ],
    ),
    (
        "CCEL_data_grub",
        [
            "cec0a104f691f60da2387fea3c2de00c4ac035e2bb479ff02edcce69039d9e9907f0b3e55031da3dc7038f423adebd79",
            "6c289e0c62182d41ebe97bdbc9872d10998a08eaa86adcdc684001a363207ee72942c7522cdf00a4bbc3d784bed7b670",
            "08919d017ba0e52cd6d966351c7de16fe76c1d3d3d3da4554239e4c7d16cb8b82a94e7eaea3a0e6e18eb690b999fd31e",
            ZERO,
        ],
    ),
    (
        "CCEL_data_gcp",
        [
            "3300980705adf09d28b707b79699d9874892164280832be2c386a715b6e204e0897fb564a064f810659207ba862b304f",
            "204d49f78d29918fe7b2f694e76653861a0c2a018987d2c3a54266eff737232524cf0af68c4d180e2f8c2c0937f21967",
            ZERO,
            ZERO,
        ],
    ),
    (
        "CCEL_data_grub_gke",
        [
            "bc9945139042cf2cc75caf920aa57f14884ecfd7e893bccc51250c8ce90eb53ce72741e6adaa18183eb1331a87d4544a",
            "c17cb288a4dee302bb9ed8d27257a168f3264ad68cab53757f37eeaa7039657fa887cad65cf910e0fdc435ff110f8a7b",
            "334aeba2c985f8886cea97d1ecffbd512769d528b9a94009583db667ad7d2faa7d37fa145d75b192ceee2d2f10b2eb6d",
            ZERO,
        ],
    ),
];

fn registers(hex_values: &[&str; 4]) -> [Sha384Register; RTMR_COUNT] {
    hex_values.map(|value| hex::decode(value).unwrap().try_into().unwrap())
}

#[test]
fn every_capture_parses_to_upstreams_output() {
    for name in [
        "CCEL_data",
        "CCEL_data_ovmf",
        "CCEL_data_grub",
        "CCEL_data_grub_gke",
        "CCEL_AAEL_alibabacloud",
    ] {
        let parsed = serde_json::to_value(log(name)).unwrap();
        let expected = expected(name);
        let (got, want) = (
            parsed["uefi_event_logs"].as_array().unwrap(),
            expected["uefi_event_logs"].as_array().unwrap(),
        );
        assert_eq!(got.len(), want.len(), "{name}: event count");
        for (position, (got, want)) in got.iter().zip(want).enumerate() {
            assert_eq!(got, want, "{name}: event {position}");
        }
    }
}

#[test]
fn every_capture_replays_to_upstreams_rtmrs() {
    for (name, rtmrs) in &REPLAYED {
        let log = log(name);
        assert_eq!(log.replay().unwrap(), registers(rtmrs), "{name}");
        log.check_rtmrs(&registers(rtmrs)).unwrap();
    }
}

#[test]
fn a_changed_register_names_the_rtmr_that_does_not_replay() {
    let (name, rtmrs) = &REPLAYED[1];
    let mut quoted = registers(rtmrs);
    quoted[2][47] ^= 1;
    let err = log(name).check_rtmrs(&quoted).unwrap_err();
    assert!(
        matches!(&err, EventLogError::ReplayMismatch { rtmr: 2, replayed, .. } if replayed == rtmrs[2]),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("event log replay does not match the quote: rtmr2"),
        "{err}"
    );
}

#[test]
fn a_changed_event_digest_changes_the_replay() {
    let mut log = log("CCEL_data");
    log.events[0].digests[0].digest[0] ^= 1;
    let (_, rtmrs) = &REPLAYED[0];
    assert!(matches!(
        log.check_rtmrs(&registers(rtmrs)),
        Err(EventLogError::ReplayMismatch { rtmr: 0, .. })
    ));
}

#[test]
fn no_action_events_are_not_replayed() {
    let mut log = log("CCEL_data_ovmf");
    let before = log.replay().unwrap();
    let mut extra = log.events[0].clone();
    extra.event_type = EV_NO_ACTION;
    log.events.push(extra.clone());
    assert_eq!(log.replay().unwrap(), before);
    extra.event_type = 0x8000_0007;
    log.events.push(extra);
    assert_ne!(log.replay().unwrap(), before);
}

#[test]
fn an_extending_event_without_sha384_cannot_be_replayed() {
    let mut log = log("CCEL_data");
    log.events[3].digests[0].algorithm = TPM_ALG_SHA256;
    assert_eq!(log.replay(), Err(EventLogError::MissingSha384 { event: 3 }));
}

#[test]
fn every_truncation_is_an_error_or_a_shorter_log() {
    // Cut inside the first records of a capture: no panic, and either a truncation error or
    // (when the cut lands on a record boundary) fewer events.
    let bytes = shared("evidence/tdx/eventlog/CCEL_data_ovmf");
    let full = EventLog::parse(&bytes).unwrap().events.len();
    for len in (0..1200).chain([bytes.len() - 1]) {
        match EventLog::parse(&bytes[..len]) {
            Ok(parsed) => assert!(parsed.events.len() <= full, "length {len}"),
            Err(err) => assert!(
                matches!(err, EventLogError::Truncated { .. }),
                "length {len}: {err:?}"
            ),
        }
    }
}

#[test]
fn the_header_must_be_a_crypto_agile_spec_id_event() {
    let mut bytes = shared("evidence/tdx/eventlog/CCEL_data_ovmf");
    // type of the header event
    bytes[4] = 0x04;
    assert!(matches!(
        EventLog::parse(&bytes),
        Err(EventLogError::BadHeader { .. })
    ));
    let mut bytes = shared("evidence/tdx/eventlog/CCEL_data_ovmf");
    // the signature starts after index, type, sha-1 digest and size
    bytes[32] = b'X';
    assert!(matches!(
        EventLog::parse(&bytes),
        Err(EventLogError::BadHeader { .. })
    ));
}

#[test]
fn a_digest_of_an_undeclared_algorithm_is_refused() {
    let bytes = shared("evidence/tdx/eventlog/CCEL_data_ovmf");
    let header = header_len(&bytes);
    let mut bytes = bytes;
    // first record: index, type, count, then the algorithm id
    bytes[header + 12] = 0x0b;
    assert_eq!(
        EventLog::parse(&bytes),
        Err(EventLogError::UndeclaredAlgorithm { algorithm: 0x000b })
    );
}

#[test]
fn an_oversized_event_is_a_truncation() {
    let bytes = shared("evidence/tdx/eventlog/CCEL_data_ovmf");
    let header = header_len(&bytes);
    let mut bytes = bytes;
    // first record's event size, after index, type, count, alg and a 48-byte digest
    let at = header + 14 + 48;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        EventLog::parse(&bytes),
        Err(EventLogError::Truncated {
            field: "event data",
            ..
        })
    ));
}

#[test]
fn oversized_logs_are_refused_before_parsing() {
    let bytes = vec![0u8; MAX_LOG_SIZE + 1];
    assert!(matches!(
        EventLog::parse(&bytes),
        Err(EventLogError::TooLarge { .. })
    ));
}

#[test]
fn device_paths_render_their_nodes() {
    // ACPI(PNP0A03,0) / Pci(0,1) / HD(MBR) / unknown node / end
    let mut path = vec![0x02, 0x01, 0x0c, 0x00];
    path.extend_from_slice(&0x0a03_41d0u32.to_le_bytes());
    path.extend_from_slice(&0u32.to_le_bytes());
    path.extend_from_slice(&[0x01, 0x01, 0x06, 0x00, 0x00, 0x01]);
    let mut hd = vec![0x04, 0x01, 42, 0x00];
    hd.extend_from_slice(&1u32.to_le_bytes());
    hd.extend_from_slice(&0x800u64.to_le_bytes());
    hd.extend_from_slice(&0x1000u64.to_le_bytes());
    hd.extend_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
    hd.extend_from_slice(&[0; 12]);
    hd.extend_from_slice(&[0x01, 0x01]);
    path.extend_from_slice(&hd);
    path.extend_from_slice(&[0x03, 0x05, 0x06, 0x00, 0x12, 0x34]);
    path.extend_from_slice(&[0x7f, 0xff, 0x04, 0x00]);
    path.extend_from_slice(&[0x04, 0x04, 0x06, 0x00, b'x', 0]);
    assert_eq!(
        device_path::to_text(&path),
        [
            "ACPI(PNP0A03,0)",
            "Pci(0,1)",
            "HD(1,MBR,0xddccbbaa,0x800,0x1000)",
            "Path(3,5,1234)"
        ]
    );
    // A node whose length runs past the data ends the rendering.
    assert_eq!(
        device_path::to_text(&[0x04, 0x04, 0xff, 0x00, b'x', 0]),
        Vec::<String>::new()
    );
}

#[test]
fn aael_tags_are_split_into_domain_operation_and_content() {
    let text = b"domain.example op {\"k\": 1}";
    let mut data = b"LEAA".to_vec();
    data.extend_from_slice(&u32::try_from(text.len()).unwrap().to_le_bytes());
    data.extend_from_slice(text);
    let details = details::decode(0x6, &data);
    assert_eq!(details.unicode_name.as_deref(), Some("AAEL"));
    assert_eq!(
        details.data,
        Some(
            serde_json::json!({"domain": "domain.example", "operation": "op", "content": {"k": 1}})
        )
    );
    // A truncated tag decodes to nothing rather than failing the log.
    assert_eq!(details::decode(0x6, &data[..10]), EventDetails::default());
}

/// Size of the spec-id header event of a capture.
fn header_len(bytes: &[u8]) -> usize {
    let size = u32::from_le_bytes(bytes[28..32].try_into().unwrap());
    32 + usize::try_from(size).unwrap()
}
