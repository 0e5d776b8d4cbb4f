#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Robustness: no register message makes the RVPS extractors panic or hang.
//!
//! The `sample`, `corim` and `swid` extractors are driven through [`BuiltinRvps::register`]
//! with deterministic, seeded mutations of real payloads (the ACME/RoadRunner CoRIM vector, a
//! CoRIM built here with every construct the extractor reads, signed and wrapped forms, the
//! trimmed NVIDIA GH100 VBIOS RIM, a sample JSON object):
//!
//! - payload bytes truncated at every length, 256 bytes XOR-ed at seeded positions, CBOR
//!   length heads set to 0 / 1 / 0x7f.. / 0xff.., 48 seeded `0xff`/`0` runs, garbage
//!   appended, and format tokens (XML markup, entities, DTDs, CDATA, JSON and CBOR heads of
//!   huge or indefinite items) inserted at 192 seeded positions;
//! - 256 stacked "havoc" mutations per payload (2-6 flips, token insertions, copied ranges,
//!   random writes at once; `ROBUSTNESS_HAVOC=N` for a longer local hunt: 300k per payload
//!   found nothing either);
//! - deep nesting (100k levels) and huge payloads (8 MiB);
//! - the message envelope: every member removed or given another type, unknown types and
//!   versions, and the whole message truncated at every length and byte-flipped (256 flips).
//!
//! Each call must return `Ok` or `Err` within [`PER_CALL`]; a panic is caught and reported
//! with the exact mutation (payload, operation, offsets, case seed), and a watchdog fails the
//! test naming the mutation when a call does not return within [`HANG`]. About 21k calls; ~5 s
//! in a debug build on two cores.

mod common;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ciborium::value::Value as Cbor;
use rvps::{BuiltinRvps, ReferenceValueProvider};
use serde_json::{Value, json};
use storage::memory::MemoryStore;
use time::macros::datetime;

use common::{cbor, int, map, message, tag, text};

/// The longest one call may take (debug build, shared machine).
const PER_CALL: Duration = Duration::from_secs(10);
/// A call still running after this is reported as a hang by the watchdog.
const HANG: Duration = Duration::from_secs(30);
/// The seed every payload derives its own from (with its name), printed with each failure.
const SEED: u64 = 0x7276_7073_2121_2121;

const NVIDIA_RIM: &str = include_str!("data/nvidia-gh100-vbios-rim-trimmed.xml");

/// The ACME/RoadRunner CoRIM of `corim.rs` (draft-ietf-rats-corim example shape).
const ACME_ROADRUNNER: &str = concat!(
    "d901f5a20067636f72696d2d310181d901fa5887a201a10066636f6d69643104a1008182a100a201",
    "6441434d45026a526f616452756e6e657281a200d8255031fb5abf023e4992aa4e95f9c1503bfa01",
    "a10282820158",
    "20ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad82015820e3b0c4",
    "4298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
);

// ---------------------------------------------------------------------------------------
// PRNG

/// xorshift64*: tiny, deterministic, good enough to spread positions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------------------
// Payloads

/// A CoRIM with two CoMIDs using every construct the extractor reads: class vendor/model,
/// uint, text and UUID measurement keys, name and serial number, digests and tagged raw bytes.
fn rich_corim() -> Vec<u8> {
    let digests = |seed: u8| {
        (
            2,
            Cbor::Array(vec![
                Cbor::Array(vec![int(1), Cbor::Bytes(vec![seed; 32])]),
                Cbor::Array(vec![int(7), Cbor::Bytes(vec![seed ^ 0xff; 48])]),
            ]),
        )
    };
    let class = map(vec![(1, text("ACME")), (2, text("Road-Runner"))]);
    let measurements = vec![
        map(vec![(0, int(3)), (1, map(vec![digests(1)]))]),
        map(vec![
            (0, text("firmware")),
            (
                1,
                map(vec![
                    digests(2),
                    (11, text("fw")),
                    (8, text("SN-1")),
                    (4, tag(560, Cbor::Bytes(vec![0xab; 16]))),
                ]),
            ),
        ]),
        map(vec![
            (0, tag(37, Cbor::Bytes((0u8..16).collect()))),
            (1, map(vec![digests(3)])),
        ]),
    ];
    let comid = |triples: Vec<Cbor>| {
        cbor(&map(vec![
            (0, text("en-GB")),
            (1, map(vec![(0, text("comid")), (1, int(0))])),
            (4, map(vec![(0, Cbor::Array(triples))])),
        ]))
    };
    let first = comid(vec![Cbor::Array(vec![
        map(vec![(0, class)]),
        Cbor::Array(measurements),
    ])]);
    let second = comid(vec![Cbor::Array(vec![
        map(vec![(0, map(vec![(1, text("Other"))]))]),
        Cbor::Array(vec![map(vec![(0, int(0)), (1, map(vec![digests(4)]))])]),
    ])]);
    cbor(&tag(
        501,
        map(vec![
            (0, text("corim-1")),
            (
                1,
                Cbor::Array(vec![
                    tag(506, Cbor::Bytes(first)),
                    tag(506, Cbor::Bytes(second)),
                ]),
            ),
        ]),
    ))
}

/// The CoRIM inside an (unchecked) COSE_Sign1, behind the older drafts' `d9 01f6` wrapper.
fn signed_corim(corim: &[u8]) -> Vec<u8> {
    let sign1 = tag(
        18,
        Cbor::Array(vec![
            Cbor::Bytes(cbor(&map(vec![(1, int(-7))]))),
            Cbor::Map(vec![]),
            Cbor::Bytes(corim.to_vec()),
            Cbor::Bytes(vec![0x5a; 64]),
        ]),
    );
    [&[0xd9, 0x01, 0xf6][..], &cbor(&sign1)].concat()
}

fn sample_payload() -> Vec<u8> {
    json!({
        "svn": ["1"],
        "launch_digest": ["abc", "def"],
        "n": 3,
        "nested": {"a": [1, 2.5, {"b": null, "c": true}], "d": "\u{e9}\u{1f600}"},
    })
    .to_string()
    .into_bytes()
}

/// Tokens worth inserting into each format.
fn tokens(kind: &str) -> Vec<Vec<u8>> {
    let list: &[&[u8]] = match kind {
        "swid" => &[
            b"<",
            b">",
            b"&",
            b"&amp;",
            b"&#0;",
            b"&#xFFFFFFFF;",
            b"&undefined;",
            b"<!DOCTYPE a [<!ENTITY e \"eeeeeeee\">]>",
            b"<![CDATA[",
            b"]]>",
            b"<!--",
            b"<?pi x?>",
            b"\"",
            b" xmlns:ns2=\"urn:x\"",
            b" ns2:Hash0=\"zz\"",
            b" index=\"\"",
            b"</Payload>",
            b"<Resource type=\"Measurement\"/>",
            b"\0",
            b"\xef\xbb\xbf",
            b"\xf0\x9f",
        ],
        "sample" => &[
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"",
            b",",
            b":",
            b"\\",
            b"\\ud800",
            b"1e999999",
            b"-",
            b"\0",
            b"\xf0\x9f",
        ],
        // CBOR heads: huge definite lengths, indefinite items, break, tags, simple values.
        _ => &[
            b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x7b\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x9b\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\xbb\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x9a\xff\xff\xff\xff",
            b"\x5f",
            b"\x9f",
            b"\xbf",
            b"\xff",
            b"\xdb\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\xd9\x01\xfa",
            b"\xd8\x25",
            b"\xf7",
            b"\x1c",
        ],
    };
    list.iter().map(|t| t.to_vec()).collect()
}

/// The payload nested `depth` levels deep, in the format's own syntax.
fn deep(kind: &str, depth: usize) -> Vec<u8> {
    match kind {
        "swid" => format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth)).into_bytes(),
        "sample" => format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
        // tag 501 around nested one-element arrays, and nested tags.
        _ => [
            vec![0xd9, 0x01, 0xf5],
            vec![0x81; depth],
            vec![0x00],
            [0xd8, 0x25].repeat(depth),
            vec![0x00],
        ]
        .concat(),
    }
}

// ---------------------------------------------------------------------------------------
// Mutations

#[derive(Debug)]
enum Op {
    Truncate(usize),
    Xor {
        at: usize,
        mask: u8,
    },
    Write {
        at: usize,
        bytes: Vec<u8>,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
    Append(Vec<u8>),
    /// Several of the above, in order (positions refer to the bytes as changed so far).
    Stack(Vec<Op>),
}

fn apply(bytes: &[u8], op: &Op) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let len = out.len();
    match op {
        Op::Truncate(n) => out.truncate(*n),
        Op::Xor { at, mask } => {
            if let Some(byte) = out.get_mut(*at) {
                *byte ^= mask;
            }
        }
        Op::Write { at, bytes } => {
            let at = (*at).min(len);
            let end = (at + bytes.len()).min(len);
            out[at..end].copy_from_slice(&bytes[..end - at]);
        }
        Op::Insert { at, bytes } => {
            let at = (*at).min(len);
            out.splice(at..at, bytes.iter().copied());
        }
        Op::Append(tail) => out.extend_from_slice(tail),
        Op::Stack(ops) => {
            for op in ops {
                out = apply(&out, op);
            }
        }
    }
    out
}

/// How many stacked ("havoc") mutations each payload gets: 256, or `ROBUSTNESS_HAVOC` for a
/// longer local hunt.
fn havoc_rounds() -> usize {
    std::env::var("ROBUSTNESS_HAVOC")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

/// 2 to 6 random operations on top of each other: flips, token insertions, random writes
/// and copies of a range elsewhere.
fn havoc(bytes: &[u8], tokens: &[Vec<u8>], rng: &mut Rng) -> Op {
    let mut len = bytes.len();
    let mut ops = Vec::new();
    for _ in 0..2 + rng.below(5) {
        let at = rng.below(len + 1);
        let op = match rng.below(4) {
            0 => Op::Xor {
                at,
                mask: (rng.next() as u8).max(1),
            },
            1 => {
                let token = tokens[rng.below(tokens.len())].clone();
                len += token.len();
                Op::Insert { at, bytes: token }
            }
            2 => {
                let from = rng.below(len);
                let n = (1 + rng.below(64)).min(len - from.min(len));
                let copy = bytes.get(from..from + n).unwrap_or_default().to_vec();
                len += copy.len();
                Op::Insert { at, bytes: copy }
            }
            _ => Op::Write {
                at,
                bytes: rng.next().to_le_bytes()[..1 + rng.below(8)].to_vec(),
            },
        };
        ops.push(op);
    }
    Op::Stack(ops)
}

/// CBOR heads of byte/text strings, arrays and maps with a 1/2/4/8-byte argument.
fn cbor_lengths(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, &head) in b.iter().enumerate() {
        if (0x40..0xc0).contains(&head) {
            if let Some(width) = [1, 2, 4, 8].get(usize::from(head & 0x1f).wrapping_sub(24)) {
                if i + 1 + width <= b.len() {
                    out.push((i + 1, *width));
                }
            }
        }
    }
    out
}

fn ops(kind: &str, bytes: &[u8], rng: &mut Rng) -> Vec<Op> {
    let len = bytes.len();
    let mut cuts: BTreeSet<usize> = BTreeSet::new();
    if len <= 8192 {
        cuts.extend(0..len);
    } else {
        cuts.extend(0..=64);
        cuts.extend((0..len).step_by(len / 128));
        cuts.insert(len - 1);
    }
    let mut out: Vec<Op> = cuts.into_iter().map(Op::Truncate).collect();
    for _ in 0..256 {
        let at = rng.below(len);
        let mask = (rng.next() as u8).max(1);
        out.push(Op::Xor { at, mask });
    }
    if kind == "corim" {
        for (at, width) in cbor_lengths(bytes) {
            let mut max_positive = vec![0xff; width];
            max_positive[0] = 0x7f;
            let mut one = vec![0; width];
            one[width - 1] = 1;
            for value in [vec![0; width], vec![0xff; width], max_positive, one] {
                out.push(Op::Write { at, bytes: value });
            }
        }
    }
    for _ in 0..16 {
        let at = rng.below(len);
        for value in [vec![0xff; 2], vec![0xff; 4], vec![0; 4]] {
            out.push(Op::Write { at, bytes: value });
        }
    }
    let tokens = tokens(kind);
    for _ in 0..192 {
        let at = rng.below(len + 1);
        let token = tokens[rng.below(tokens.len())].clone();
        out.push(Op::Insert { at, bytes: token });
    }
    out.push(Op::Append(vec![0]));
    out.push(Op::Append(vec![0xff; 4096]));
    out.push(Op::Append(bytes.to_vec()));
    if kind != "message" {
        for _ in 0..havoc_rounds() {
            out.push(havoc(bytes, &tokens, rng));
        }
    }
    out.retain(|op| apply(bytes, op) != bytes);
    out
}

/// Envelope mutations: each member removed or given another type, unknown values.
fn envelope_mutations(kind: &str, payload: &[u8]) -> Vec<(String, String)> {
    let base = json!({"version": "0.1.0", "type": kind, "payload": STANDARD.encode(payload)});
    let others = [
        Value::Null,
        json!(true),
        json!(-1),
        json!(u64::MAX),
        json!(1e300),
        json!(""),
        json!("x"),
        json!([]),
        json!({}),
        json!(["0.1.0"]),
    ];
    let mut out = Vec::new();
    for key in ["version", "type", "payload"] {
        let mut removed = base.clone();
        removed.as_object_mut().unwrap().remove(key);
        out.push((format!("remove `{key}`"), removed.to_string()));
        for other in &others {
            let mut replaced = base.clone();
            replaced[key] = other.clone();
            out.push((format!("`{key}` = {other}"), replaced.to_string()));
        }
    }
    for (label, value) in [
        ("payload of 8 MiB", json!("A".repeat(8 << 20))),
        ("payload not base64", json!("%%%%")),
        ("payload url-safe base64", json!("-_-_")),
        ("type `SAMPLE`", json!(null)),
    ] {
        let mut replaced = base.clone();
        if label.starts_with("type") {
            replaced["type"] = json!(kind.to_uppercase());
        } else {
            replaced["payload"] = value;
        }
        out.push((label.to_owned(), replaced.to_string()));
    }
    let mut extra = base.clone();
    extra["unexpected"] = json!([1]);
    out.push(("unknown member".into(), extra.to_string()));
    for root in ["null", "[]", "\"x\"", "1", "{", ""] {
        out.push((format!("message `{root}`"), root.to_owned()));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Harness

struct Failure {
    label: String,
    what: String,
}

type Current = Arc<Mutex<Option<(String, Instant)>>>;

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn rvps() -> BuiltinRvps {
    BuiltinRvps::new(Arc::new(MemoryStore::new()))
        .with_clock(Arc::new(|| datetime!(2026-11-28 12:00 UTC)))
}

/// Registers every `(label, message)`; returns the failures and the number accepted.
fn register_all(
    messages: impl Iterator<Item = (String, String)>,
    current: &Current,
) -> (Vec<Failure>, usize, usize) {
    let mut rt = runtime();
    let (mut failures, mut calls, mut accepted) = (Vec::new(), 0, 0);
    for (label, message) in messages {
        *current.lock().unwrap() = Some((label.clone(), Instant::now()));
        let rvps = rvps();
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async { tokio::time::timeout(PER_CALL, rvps.register(&message)).await })
        }));
        let elapsed = start.elapsed();
        calls += 1;
        let what = match outcome {
            Err(payload) => {
                rt = runtime();
                Some(format!("panicked: {}", panic_message(payload.as_ref())))
            }
            Ok(Err(_)) => Some(format!("did not return within {PER_CALL:?}")),
            Ok(Ok(result)) => {
                accepted += usize::from(result.is_ok());
                (elapsed > PER_CALL).then(|| format!("took {elapsed:?}"))
            }
        };
        if let Some(what) = what {
            failures.push(Failure { label, what });
        }
    }
    *current.lock().unwrap() = None;
    (failures, calls, accepted)
}

/// Mutates `payload` of `kind` and registers each result, watched for hangs; the unmodified
/// payload must register.
fn fuzz(name: &str, kind: &'static str, payload: Vec<u8>) {
    let seed = SEED ^ fnv(name);
    let mut rng = Rng(seed);
    let name = name.to_owned();
    let base = message(kind, &payload);
    let registered = runtime().block_on(rvps().register(&base));
    assert!(
        registered.is_ok(),
        "{name}: the unmodified payload must register: {registered:?}"
    );
    let mut messages: Vec<(String, String)> = Vec::new();
    for op in ops(kind, &payload, &mut rng) {
        let shown = format!("{op:?}");
        let label = format!(
            "{name} (seed {seed:#x}): payload {}",
            &shown[..shown.len().min(120)]
        );
        messages.push((label, message(kind, &apply(&payload, &op))));
    }
    messages.push((
        format!("{name}: deep nesting"),
        message(kind, &deep(kind, 100_000)),
    ));
    messages.push((
        format!("{name}: 8 MiB payload"),
        message(kind, &vec![b'<'; 8 << 20]),
    ));
    for (label, text) in envelope_mutations(kind, &payload) {
        messages.push((format!("{name}: {label}"), text));
    }
    // The message text itself: every truncation and 256 flips, lossily re-read as UTF-8.
    let bytes = base.as_bytes();
    for op in ops("message", bytes, &mut rng) {
        if matches!(op, Op::Truncate(_) | Op::Xor { .. }) {
            let text = String::from_utf8_lossy(&apply(bytes, &op)).into_owned();
            messages.push((format!("{name} (seed {seed:#x}): message {op:?}"), text));
        }
    }

    let current: Current = Arc::default();
    let worker_current = Arc::clone(&current);
    let started = Instant::now();
    let worker = std::thread::spawn(move || register_all(messages.into_iter(), &worker_current));
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        if let Some((label, since)) = current.lock().unwrap().clone() {
            assert!(
                since.elapsed() < HANG,
                "hang: no result after {HANG:?} for {label}"
            );
        }
    }
    let (failures, calls, accepted) = worker.join().unwrap();
    println!(
        "{name}: {calls} calls, {accepted} accepted, {:?}",
        started.elapsed()
    );
    let report: Vec<String> = failures
        .iter()
        .map(|f| format!("{}: {}", f.label, f.what))
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}

// ---------------------------------------------------------------------------------------
// The extractors

#[test]
fn corim_extractor_survives_mutated_payloads() {
    fuzz(
        "corim/acme-roadrunner",
        "corim",
        hex::decode(ACME_ROADRUNNER).unwrap(),
    );
    fuzz("corim/rich", "corim", rich_corim());
    fuzz("corim/signed", "corim", signed_corim(&rich_corim()));
}

#[test]
fn swid_extractor_survives_mutated_payloads() {
    fuzz(
        "swid/nvidia-gh100-vbios",
        "swid",
        NVIDIA_RIM.as_bytes().to_vec(),
    );
}

#[test]
fn sample_extractor_survives_mutated_payloads() {
    fuzz("sample", "sample", sample_payload());
}
