#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Robustness: no evidence an attester can send makes a verifier panic or hang.
//!
//! Every TEE with a real sample in `shared/testdata` is driven through the public
//! [`Verifier::evaluate`] with deterministic, seeded mutations of that sample:
//!
//! - binary fields (byte arrays, hex, base64, PEM certificates, the PEM chain inside base64)
//!   are truncated at every length (small blobs) or at a stride (large ones), get single
//!   bytes XOR-ed at seeded positions, length fields (quote headers, TPMS_ATTEST, HCL runtime
//!   data, SPDM records, CBOR and DER length headers) set to 0 / 1 / 0x7f.. / 0xff.., two- and
//!   four-byte `0xff`/`0` runs written at seeded positions, garbage appended, and stacked
//!   "havoc" mutations (2-6 flips, length-field writes, deletions, duplications at once);
//! - the JSON envelope gets every member removed, every value replaced by values of other
//!   types (and out-of-range numbers, and the edges of every unsigned width for numbers),
//!   every array replaced by 256 copies of its first element, the whole evidence replaced,
//!   and each binary field replaced by a huge value (1 MiB of base64 / hex text,
//!   2^17-element arrays: far above every parser's cap, which are 64 KiB or less except the
//!   16 MiB event log);
//! - the unmodified sample is checked against expected report data and init-data digests of
//!   0, 1, 20, 31, 32, 33, 48, 63, 64, 65 and 1024 bytes.
//!
//! Each call runs with the manifest's report data, a fixed clock at the manifest's
//! verification time and only offline collateral (`with_offline_collateral_dir`: VCEKs, DCAP
//! bundles and Hygon HSK/CEK come from `shared/testdata/collateral`; CCA stores from files;
//! NVIDIA in local mode), so no mutation can reach the network. A call must return `Ok` or
//! `Err` within [`PER_CALL`]; a panic is caught (`catch_unwind`) and reported with the exact
//! mutation (field, operation, offsets, values, and the case seed), and a watchdog fails the
//! test naming the mutation when one call does not return within [`HANG`].
//!
//! Iteration counts (per binary field): every truncation up to 640 bytes, else ~190
//! truncations; 48 byte flips; 4 values per known length field; 48 seeded `0xff`/`0` runs;
//! 3 extensions; 16 havoc mutations (`ROBUSTNESS_HAVOC=N` for a longer local hunt: 5000
//! per field, ~480k calls, found nothing either); mutations leaving the bytes unchanged are
//! skipped. Per JSON member 14 values (+5 for numbers, +1 for arrays) and a removal (only the
//! first two and last elements of an array). The event-log parser also runs alone with 512
//! more flips/runs per capture; the re-signed CCA test adds ~1.6k calls. About 54k calls in
//! all; the whole file runs in 30-50 s on two cores in a debug build (`--nocapture` prints
//! the calls and the slowest one per case), most calls failing in a parser before any
//! signature check. Set `ROBUSTNESS_SHOW_OK=1` to list the mutations a verifier accepted.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use kbs_types::Tee;
use serde_json::{Value, json};
use verifier::eventlog::EventLog;
use verifier::{
    FixedClock, InitDataHash, ReportData, Verifier, VerifierConfig, VerifierContext,
    verifier_for_with,
};

/// The longest one call may take (debug build, shared machine): far above any real one.
const PER_CALL: Duration = Duration::from_secs(10);
/// A call still running after this is reported as a hang by the watchdog.
const HANG: Duration = Duration::from_secs(30);
/// The seed every case derives its own from (with its name), printed with each failure.
const SEED: u64 = 0x7275_7374_6565_2121;

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");

// ---------------------------------------------------------------------------------------
// PRNG

/// xorshift64*: tiny, deterministic, good enough to spread positions.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

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

/// FNV-1a, to give each case its own seed.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------------------
// Binary fields inside the evidence JSON

/// How a binary field is written in the JSON.
#[derive(Clone, Copy, Debug)]
enum Encoding {
    /// An array of numbers.
    Bytes,
    /// Lower-case hex text.
    Hex,
    /// Base64 text; the alphabet and padding are detected from the sample.
    Base64,
    /// The DER of the n-th block of a PEM text.
    PemBlock(usize),
    /// The DER of the n-th block of a PEM text that is itself standard base64 (NVIDIA).
    Base64PemBlock(usize),
}

/// The binary format, for the offsets of its length fields.
#[derive(Clone, Copy, Debug)]
enum Format {
    Raw,
    DcapQuote,
    TpmsAttest,
    TpmtSignature,
    HclReport,
    Spdm,
    Cbor,
    Der,
    EventLog,
}

/// A binary field of a case: where it is, how it is written, what it holds.
#[derive(Clone, Copy, Debug)]
struct Field {
    pointer: &'static str,
    encoding: Encoding,
    format: Format,
}

const fn field(pointer: &'static str, encoding: Encoding, format: Format) -> Field {
    Field {
        pointer,
        encoding,
        format,
    }
}

/// A decoded binary field, with what is needed to write it back.
struct Decoded {
    bytes: Vec<u8>,
    engine: Option<&'static GeneralPurpose>,
    /// The other PEM blocks, for the PEM encodings.
    pems: Vec<pem::Pem>,
}

fn base64_engine(text: &str) -> (&'static GeneralPurpose, Vec<u8>) {
    for engine in [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        if let Ok(bytes) = engine.decode(text) {
            if engine.encode(&bytes) == text {
                return (engine, bytes);
            }
        }
    }
    panic!(
        "not base64 in any alphabet: {}",
        &text[..text.len().min(40)]
    );
}

fn decode(field: &Field, value: &Value) -> Decoded {
    let text = || {
        value
            .as_str()
            .unwrap_or_else(|| panic!("{}", field.pointer))
    };
    let plain = |bytes| Decoded {
        bytes,
        engine: None,
        pems: Vec::new(),
    };
    match field.encoding {
        Encoding::Bytes => plain(
            value
                .as_array()
                .unwrap()
                .iter()
                .map(|n| u8::try_from(n.as_u64().unwrap()).unwrap())
                .collect(),
        ),
        Encoding::Hex => plain(hex::decode(text()).unwrap()),
        Encoding::Base64 => {
            let (engine, bytes) = base64_engine(text());
            Decoded {
                bytes,
                engine: Some(engine),
                pems: Vec::new(),
            }
        }
        Encoding::PemBlock(n) => {
            let pems = pem::parse_many(text()).unwrap();
            Decoded {
                bytes: pems[n].contents().to_vec(),
                engine: None,
                pems,
            }
        }
        Encoding::Base64PemBlock(n) => {
            let (engine, outer) = base64_engine(text());
            let pems = pem::parse_many(outer).unwrap();
            Decoded {
                bytes: pems[n].contents().to_vec(),
                engine: Some(engine),
                pems,
            }
        }
    }
}

fn encode(field: &Field, decoded: &Decoded, bytes: &[u8]) -> Value {
    let pem_text = |n: usize| {
        let mut pems = decoded.pems.clone();
        pems[n] = pem::Pem::new(pems[n].tag().to_owned(), bytes.to_vec());
        pem::encode_many(&pems)
    };
    match field.encoding {
        Encoding::Bytes => Value::from(bytes.to_vec()),
        Encoding::Hex => Value::from(hex::encode(bytes)),
        Encoding::Base64 => Value::from(decoded.engine.unwrap().encode(bytes)),
        Encoding::PemBlock(n) => Value::from(pem_text(n)),
        Encoding::Base64PemBlock(n) => Value::from(decoded.engine.unwrap().encode(pem_text(n))),
    }
}

// ---------------------------------------------------------------------------------------
// Length fields of the binary formats: (offset, width)

fn le16(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?).into())
}

fn le32(b: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?)).ok()
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?).into())
}

fn be32(b: &[u8], at: usize) -> Option<usize> {
    usize::try_from(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?)).ok()
}

/// DCAP quote v3/v4/v5: header fields, the v5 body size, the signature-data length, the
/// certification-data type and size, the QE authentication-data length and the inner
/// certification data (PCK chain) type and size.
fn dcap_fields(q: &[u8], out: &mut Vec<(usize, usize)>) -> Option<()> {
    out.extend([(0, 2), (2, 2), (4, 4), (8, 2), (10, 2)]);
    let version = le16(q, 0)?;
    let body_end = match version {
        3 => 48 + 384,
        4 => 48 + 584,
        _ => {
            out.extend([(48, 2), (50, 4)]);
            54 + le32(q, 50)?
        }
    };
    out.push((body_end, 4));
    let sig = body_end + 4;
    if version == 3 {
        let auth = sig + 128 + 384 + 64;
        out.push((auth, 2));
        let cert = auth + 2 + le16(q, auth)?;
        out.extend([(cert, 2), (cert + 2, 4)]);
    } else {
        let cert = sig + 128;
        out.extend([(cert, 2), (cert + 2, 4)]);
        let auth = cert + 6 + 384 + 64;
        out.push((auth, 2));
        let inner = auth + 2 + le16(q, auth)?;
        out.extend([(inner, 2), (inner + 2, 4)]);
    }
    Some(())
}

/// TPMS_ATTEST (big-endian): magic, type, qualifiedSigner and extraData sizes, the PCR
/// selection count, first selection's hash and select size, the PCR digest size.
fn tpms_attest_fields(m: &[u8], out: &mut Vec<(usize, usize)>) -> Option<()> {
    out.extend([(0, 4), (4, 2), (6, 2)]);
    let extra = 8 + be16(m, 6)?;
    out.push((extra, 2));
    let selection = extra + 2 + be16(m, extra)? + 17 + 8;
    out.extend([(selection, 4), (selection + 4, 2), (selection + 6, 1)]);
    let mut at = selection + 4;
    for _ in 0..be32(m, selection)?.min(8) {
        at += 3 + usize::from(*m.get(at + 2)?);
    }
    out.push((at, 2));
    Some(())
}

/// Azure HCL report: header, and the runtime-data header after an SNP report (1184 bytes)
/// or a TDREPORT (1024 bytes).
fn hcl_fields(out: &mut Vec<(usize, usize)>) {
    out.extend([(0, 4), (4, 4), (8, 4), (12, 4), (16, 4)]);
    for runtime in [32 + 1184, 32 + 1024] {
        out.extend((0..5).map(|i| (runtime + 4 * i, 4)));
    }
}

/// SPDM GET_MEASUREMENTS request (37 bytes) ‖ response: block count, record length, each
/// block's size and DMTF value size, the opaque-data length.
fn spdm_fields(e: &[u8], out: &mut Vec<(usize, usize)>) -> Option<()> {
    let r = 37;
    out.extend([(r, 1), (r + 1, 1), (r + 4, 1), (r + 5, 3)]);
    let record = usize::from(*e.get(r + 5)?)
        | usize::from(*e.get(r + 6)?) << 8
        | usize::from(*e.get(r + 7)?) << 16;
    let end = r + 8 + record;
    let mut at = r + 8;
    while at + 4 <= end {
        out.extend([(at + 2, 2), (at + 5, 2)]);
        at += 4 + le16(e, at + 2)?;
    }
    out.push((end + 32, 2));
    Some(())
}

/// CBOR heads with a 1/2/4/8-byte argument of a byte string, text, array or map.
fn cbor_fields(b: &[u8], out: &mut Vec<(usize, usize)>) {
    for (i, &head) in b.iter().enumerate() {
        if (0x40..0xc0).contains(&head) {
            if let Some(width) = [1, 2, 4, 8].get(usize::from(head & 0x1f).wrapping_sub(24)) {
                out.push((i + 1, *width));
            }
        }
    }
}

/// DER long-form lengths after common tags.
fn der_fields(b: &[u8], out: &mut Vec<(usize, usize)>) {
    for i in 1..b.len() {
        let tag = b[i - 1];
        if matches!(
            tag,
            0x02 | 0x03 | 0x04 | 0x06 | 0x0c | 0x13 | 0x30 | 0x31 | 0xa0..=0xa3
        ) {
            match b[i] {
                0x81 => out.push((i + 1, 1)),
                0x82 => out.push((i + 1, 2)),
                len if len < 0x80 => out.push((i, 1)),
                _ => {}
            }
        }
    }
}

/// A CCEL/TCG2 log: the header event's size, the spec-id event's algorithm count, algorithm
/// ids, digest sizes and vendor-info size; then per event its digest count, each digest's
/// algorithm, and the event size (first 64 events).
fn event_log_fields(b: &[u8], out: &mut Vec<(usize, usize)>) -> Option<()> {
    out.extend([(0, 4), (4, 4), (28, 4), (56, 4)]);
    let algorithms = le32(b, 56)?.min(8);
    let mut sizes = Vec::new();
    for i in 0..algorithms {
        out.extend([(60 + 4 * i, 2), (62 + 4 * i, 2)]);
        sizes.push((le16(b, 60 + 4 * i)?, le16(b, 62 + 4 * i)?));
    }
    out.push((60 + 4 * algorithms, 1));
    let mut at = 32 + le32(b, 28)?;
    for _ in 0..64 {
        out.extend([(at, 4), (at + 4, 4), (at + 8, 4)]);
        let count = le32(b, at + 8)?.min(8);
        at += 12;
        for _ in 0..count {
            out.push((at, 2));
            let algorithm = le16(b, at)?;
            let (_, size) = sizes.iter().find(|(id, _)| *id == algorithm)?;
            at += 2 + size;
        }
        out.push((at, 4));
        at += 4 + le32(b, at)?;
    }
    Some(())
}

/// The length fields of `bytes` in `format`, within the blob, at most 160 of them.
fn length_fields(format: Format, bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    match format {
        Format::Raw => {}
        Format::DcapQuote => {
            dcap_fields(bytes, &mut out);
        }
        Format::TpmsAttest => {
            tpms_attest_fields(bytes, &mut out);
        }
        Format::TpmtSignature => out.extend([(0, 2), (2, 2), (4, 2)]),
        Format::HclReport => hcl_fields(&mut out),
        Format::Spdm => {
            spdm_fields(bytes, &mut out);
        }
        Format::Cbor => cbor_fields(bytes, &mut out),
        Format::Der => der_fields(bytes, &mut out),
        Format::EventLog => {
            event_log_fields(bytes, &mut out);
        }
    }
    out.retain(|&(at, width)| at + width <= bytes.len());
    let set: BTreeSet<_> = out.into_iter().collect();
    // Spread over the blob when there are many (DER, CBOR).
    let step = set.len().div_ceil(160).max(1);
    set.into_iter().step_by(step).collect()
}

// ---------------------------------------------------------------------------------------
// Mutations

#[derive(Clone, Debug)]
enum BlobOp {
    Truncate(usize),
    Xor {
        at: usize,
        mask: u8,
    },
    Write {
        at: usize,
        bytes: Vec<u8>,
    },
    Append(Vec<u8>),
    /// Removes `len` bytes at `at`.
    Delete {
        at: usize,
        len: usize,
    },
    /// Copies `len` bytes from `from` to be inserted again at `at`.
    Duplicate {
        from: usize,
        len: usize,
        at: usize,
    },
    /// Several of the above, in order (positions refer to the bytes as changed so far).
    Stack(Vec<BlobOp>),
}

#[derive(Clone, Debug)]
enum Mutation {
    /// The unmodified sample (must give the manifest's outcome).
    None,
    Replace {
        pointer: String,
        value: Value,
    },
    Remove {
        pointer: String,
    },
    Blob {
        field: usize,
        op: BlobOp,
    },
    /// The unmodified sample with expected values of other lengths: report data of `report`
    /// bytes (`None`: not provided), an init-data digest of `init` bytes.
    Expected {
        report: Option<usize>,
        init: Option<usize>,
    },
    /// The field replaced by a huge value of its type.
    Huge {
        field: usize,
    },
}

fn blob_ops(bytes: &[u8], format: Format, rng: &mut Rng) -> Vec<BlobOp> {
    let len = bytes.len();
    let fields = length_fields(format, bytes);
    let mut cuts: BTreeSet<usize> = BTreeSet::new();
    if len <= 640 {
        cuts.extend(0..len);
    } else {
        cuts.extend(0..=64);
        cuts.extend((0..len).step_by(len / 128));
        cuts.insert(len - 1);
        // Cut inside and right after the first length fields.
        for &(at, width) in fields.iter().take(24) {
            cuts.extend([at, at + 1, at + width]);
        }
    }
    cuts.retain(|&n| n < len);
    let mut ops: Vec<BlobOp> = cuts.into_iter().map(BlobOp::Truncate).collect();
    for _ in 0..48 {
        let at = rng.below(len);
        let mask = (rng.next() as u8).max(1);
        ops.push(BlobOp::Xor { at, mask });
    }
    for &(at, width) in &fields {
        let mut max_positive = vec![0xff; width];
        max_positive[0] = 0x7f;
        let mut one = vec![0; width];
        one[width - 1] = 1;
        for bytes in [vec![0; width], vec![0xff; width], max_positive, one] {
            ops.push(BlobOp::Write { at, bytes });
        }
    }
    for _ in 0..16 {
        let at = rng.below(len);
        for bytes in [vec![0xff; 2], vec![0xff; 4], vec![0; 4]] {
            ops.push(BlobOp::Write { at, bytes });
        }
    }
    ops.push(BlobOp::Append(vec![0]));
    ops.push(BlobOp::Append(vec![0xff; 4096]));
    ops.push(BlobOp::Append(bytes.to_vec()));
    for _ in 0..havoc_rounds() {
        ops.push(havoc(bytes, &fields, rng));
    }
    ops
}

fn apply_blob(bytes: &[u8], op: &BlobOp) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let len = out.len();
    match op {
        BlobOp::Truncate(n) => out.truncate(*n),
        BlobOp::Xor { at, mask } => {
            if let Some(byte) = out.get_mut(*at) {
                *byte ^= mask;
            }
        }
        BlobOp::Write { at, bytes } => {
            let at = (*at).min(len);
            let end = (at + bytes.len()).min(len);
            out[at..end].copy_from_slice(&bytes[..end - at]);
        }
        BlobOp::Append(tail) => out.extend_from_slice(tail),
        BlobOp::Delete { at, len: n } => {
            let at = (*at).min(len);
            out.drain(at..(at + n).min(len));
        }
        BlobOp::Duplicate { from, len: n, at } => {
            let from = (*from).min(len);
            let copy = out[from..(from + n).min(len)].to_vec();
            let at = (*at).min(len);
            out.splice(at..at, copy);
        }
        BlobOp::Stack(ops) => {
            for op in ops {
                out = apply_blob(&out, op);
            }
        }
    }
    out
}

/// How many stacked ("havoc") mutations each binary field gets: 16, or
/// `ROBUSTNESS_HAVOC` for a longer local hunt.
fn havoc_rounds() -> usize {
    std::env::var("ROBUSTNESS_HAVOC")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(16)
}

/// 2 to 6 random operations on top of each other: flips, length-field and random writes,
/// deletions and duplications of short ranges.
fn havoc(bytes: &[u8], fields: &[(usize, usize)], rng: &mut Rng) -> BlobOp {
    let mut len = bytes.len();
    let mut ops = Vec::new();
    for _ in 0..2 + rng.below(5) {
        let at = rng.below(len);
        let op = match rng.below(6) {
            0 | 1 => BlobOp::Xor {
                at,
                mask: (rng.next() as u8).max(1),
            },
            2 if !fields.is_empty() => {
                let (at, width) = fields[rng.below(fields.len())];
                let fill = [0x00, 0xff, 0x7f, 0x80][rng.below(4)];
                BlobOp::Write {
                    at,
                    bytes: vec![fill; width],
                }
            }
            3 => {
                let n = 1 + rng.below(16);
                len -= n.min(len - at.min(len));
                BlobOp::Delete { at, len: n }
            }
            4 => {
                let n = 1 + rng.below(32);
                let from = rng.below(len);
                len += n.min(len - from);
                BlobOp::Duplicate { from, len: n, at }
            }
            _ => BlobOp::Write {
                at,
                bytes: rng.next().to_le_bytes()[..1 + rng.below(8)].to_vec(),
            },
        };
        ops.push(op);
        len = len.max(1);
    }
    BlobOp::Stack(ops)
}

/// Values of other types, and numbers out of every integer range.
fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(-1),
        json!(256),
        json!(u64::MAX),
        json!(1e300),
        json!(0.5),
        json!(""),
        json!("x"),
        json!([]),
        json!({}),
        json!([-1]),
        json!(["a"]),
        json!({"a": null}),
    ]
}

/// JSON pointers to every member and array element (only the first two and the last of a
/// long array: its elements are all alike).
fn pointers(value: &Value, at: String, out: &mut Vec<(String, bool)>, member: bool) {
    out.push((at.clone(), member));
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let key = key.replace('~', "~0").replace('/', "~1");
                pointers(child, format!("{at}/{key}"), out, true);
            }
        }
        Value::Array(items) => {
            let mut indices: BTreeSet<usize> = (0..items.len().min(2)).collect();
            if let Some(last) = items.len().checked_sub(1) {
                indices.insert(last);
            }
            for i in indices {
                pointers(&items[i], format!("{at}/{i}"), out, false);
            }
        }
        _ => {}
    }
}

fn json_mutations(base: &Value) -> Vec<Mutation> {
    let mut all = Vec::new();
    pointers(base, String::new(), &mut all, false);
    let mut out = Vec::new();
    for (pointer, member) in all {
        let current = base.pointer(&pointer).unwrap();
        let mut values = replacements();
        if current.is_number() {
            // The edges of every unsigned width, for numbers used as sizes or indices.
            values.extend([0u64, 255, 65_535, 4_294_967_295, 1 << 53].map(Value::from));
        }
        if let Some(first) = current.as_array().and_then(|items| items.first()) {
            // Many entries (devices, certificates, signatures, PCRs).
            values.push(Value::Array(vec![first.clone(); 256]));
        }
        for value in values {
            out.push(Mutation::Replace {
                pointer: pointer.clone(),
                value,
            });
        }
        if member {
            out.push(Mutation::Remove {
                pointer: pointer.clone(),
            });
        }
    }
    // The evidence as a JSON text, and an unknown member.
    out.push(Mutation::Replace {
        pointer: String::new(),
        value: Value::from(base.to_string()),
    });
    out.push(Mutation::Replace {
        pointer: String::new(),
        value: Value::from("{"),
    });
    if let Value::Object(map) = base {
        let mut extra = map.clone();
        extra.insert("unexpected".into(), json!({"a": [1, 2, 3]}));
        out.push(Mutation::Replace {
            pointer: String::new(),
            value: Value::Object(extra),
        });
    }
    out
}

fn huge(field: &Field) -> Value {
    match field.encoding {
        Encoding::Bytes => Value::from(vec![0u8; 1 << 17]),
        Encoding::Hex => Value::from("0".repeat(1 << 20)),
        _ => Value::from("A".repeat(1 << 20)),
    }
}

fn remove(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let key = key.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent).unwrap() {
        Value::Object(map) => {
            map.remove(&key);
        }
        Value::Array(items) => {
            items.remove(key.parse::<usize>().unwrap());
        }
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------------------------------
// Cases

struct Case {
    name: &'static str,
    tee: Tee,
    evidence: String,
    /// Unix seconds of the manifest's verification time (any fixed time when it has none).
    now: u64,
    report_data: ReportData,
    /// Whether the unmodified sample verifies (else it must fail).
    passes: bool,
    fields: Vec<Field>,
    config: VerifierConfig,
    /// The evidence itself, when it is not the manifest's file.
    base: Option<Value>,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDThh:mm:ssZ` as Unix seconds.
fn unix_seconds(text: &str) -> u64 {
    let n = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
    let days = days_from_civil(n(0..4), n(5..7), n(8..10));
    u64::try_from(days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)).unwrap()
}

/// The manifest entry `id` of `cases.json`, with the binary `fields` to mutate.
fn case(id: &'static str, fields: Vec<Field>) -> Case {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(format!("{TESTDATA}/cases.json")).unwrap()).unwrap();
    let entry = manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["id"] == id)
        .unwrap_or_else(|| panic!("no case {id} in cases.json"));
    let report_data = match entry["expected_report_data"].as_str() {
        Some(hex_text) => ReportData::Value(hex::decode(hex_text).unwrap()),
        None => ReportData::NotProvided,
    };
    Case {
        name: id,
        tee: serde_json::from_value(entry["tee"].clone()).unwrap(),
        evidence: entry["evidence"].as_str().unwrap().to_owned(),
        // 2025-06-01 for the samples without a verification time (no expiring collateral).
        now: entry["verification_time"]
            .as_str()
            .map_or(1_748_736_000, unix_seconds),
        report_data,
        passes: entry["expect"].as_str().unwrap().starts_with("pass"),
        fields,
        config: VerifierConfig::default(),
        base: None,
    }
}

struct Failure {
    label: String,
    what: String,
}

struct Stats {
    calls: usize,
    ok: usize,
    slowest: Duration,
    slowest_label: String,
    failures: Vec<Failure>,
}

/// The mutation being evaluated and since when, for the watchdog.
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

fn fuzz_case(case: &Case, current: &Current) -> Stats {
    let base: Value = match &case.base {
        Some(base) => base.clone(),
        None => {
            let path = PathBuf::from(TESTDATA).join(&case.evidence);
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
        }
    };
    let context = VerifierContext::new()
        .with_clock(Arc::new(FixedClock(case.now)))
        .with_offline_collateral_dir(PathBuf::from(TESTDATA).join("collateral"));
    let verifier: Arc<dyn Verifier> = verifier_for_with(case.tee, &case.config, &context).unwrap();
    let report_data = case.report_data.clone();
    let seed = SEED ^ fnv(case.name);
    let mut rng = Rng::new(seed);

    let decoded: Vec<Decoded> = case
        .fields
        .iter()
        .map(|field| decode(field, base.pointer(field.pointer).unwrap()))
        .collect();
    let mut mutations = vec![Mutation::None];
    for (index, (field, decoded)) in case.fields.iter().zip(&decoded).enumerate() {
        for op in blob_ops(&decoded.bytes, field.format, &mut rng) {
            // A write of the bytes already there is no mutation.
            if apply_blob(&decoded.bytes, &op) != decoded.bytes {
                mutations.push(Mutation::Blob { field: index, op });
            }
        }
        mutations.push(Mutation::Huge { field: index });
    }
    mutations.extend(json_mutations(&base));
    // Digest lengths of every hash the callers use, and the lengths around the TEEs' fields.
    let lengths = [0, 1, 20, 31, 32, 33, 48, 63, 64, 65, 1024];
    for report in lengths {
        mutations.push(Mutation::Expected {
            report: Some(report),
            init: None,
        });
    }
    for init in lengths {
        mutations.push(Mutation::Expected {
            report: None,
            init: Some(init),
        });
        mutations.push(Mutation::Expected {
            report: Some(64),
            init: Some(init),
        });
    }

    let mut evaluator = Evaluator::new(verifier, current);
    for mutation in &mutations {
        let mut evidence = base.clone();
        let (mut report_data, mut init_data) = (report_data.clone(), InitDataHash::NotProvided);
        let label = match mutation {
            Mutation::None => "unmodified".to_owned(),
            Mutation::Expected { report, init } => {
                // The sample's own report data, cut or zero-extended: the binding is reached.
                if let Some(len) = report {
                    let mut bytes = match &report_data {
                        ReportData::Value(bytes) => bytes.clone(),
                        ReportData::NotProvided => Vec::new(),
                    };
                    bytes.resize(*len, 0);
                    report_data = ReportData::Value(bytes);
                }
                if let Some(len) = init {
                    init_data = InitDataHash::Value(vec![0; *len]);
                }
                format!("report data of {report:?} bytes, init-data digest of {init:?} bytes")
            }
            Mutation::Replace { pointer, value } => {
                let shown = value.to_string();
                let shown = &shown[..shown.len().min(40)];
                *evidence.pointer_mut(pointer).unwrap() = value.clone();
                format!("replace `{pointer}` by {shown}")
            }
            Mutation::Remove { pointer } => {
                remove(&mut evidence, pointer);
                format!("remove `{pointer}`")
            }
            Mutation::Blob { field, op } => {
                let spec = &case.fields[*field];
                let bytes = apply_blob(&decoded[*field].bytes, op);
                *evidence.pointer_mut(spec.pointer).unwrap() =
                    encode(spec, &decoded[*field], &bytes);
                let op = match op {
                    BlobOp::Append(tail) if tail.len() > 8 => {
                        format!("Append({} bytes)", tail.len())
                    }
                    other => format!("{other:?}"),
                };
                format!(
                    "`{}` ({:?}, {:?}): {op}",
                    spec.pointer, spec.encoding, spec.format
                )
            }
            Mutation::Huge { field } => {
                let spec = &case.fields[*field];
                *evidence.pointer_mut(spec.pointer).unwrap() = huge(spec);
                format!("`{}` replaced by a huge value", spec.pointer)
            }
        };
        let label = format!("{} (seed {seed:#x}): {label}", case.name);
        let result = evaluator.call(&label, &evidence, &report_data, &init_data);
        if let Some(result) = result {
            if matches!(mutation, Mutation::None) && result.is_ok() != case.passes {
                evaluator.stats.failures.push(Failure {
                    label: label.clone(),
                    what: format!("the unmodified sample gave {result:?}"),
                });
            }
        }
    }
    evaluator.finish()
}

/// Calls a verifier, catching panics and timing each call.
struct Evaluator<'a> {
    verifier: Arc<dyn Verifier>,
    rt: tokio::runtime::Runtime,
    current: &'a Current,
    stats: Stats,
}

impl<'a> Evaluator<'a> {
    fn new(verifier: Arc<dyn Verifier>, current: &'a Current) -> Self {
        Self {
            verifier,
            rt: runtime(),
            current,
            stats: Stats {
                calls: 0,
                ok: 0,
                slowest: Duration::ZERO,
                slowest_label: String::new(),
                failures: Vec::new(),
            },
        }
    }

    /// Evaluates `evidence`; records a panic, a timeout or a slow call as a failure named by
    /// `label`, and returns the result when there was one.
    fn call(
        &mut self,
        label: &str,
        evidence: &Value,
        report_data: &ReportData,
        init_data: &InitDataHash,
    ) -> Option<Result<Vec<(verifier::TeeEvidenceClaims, verifier::TeeClass)>, verifier::Error>>
    {
        *self.current.lock().unwrap() = Some((label.to_owned(), Instant::now()));
        let start = Instant::now();
        let call = self.verifier.evaluate(evidence, report_data, init_data);
        let rt = &self.rt;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async { tokio::time::timeout(PER_CALL, call).await })
        }));
        let elapsed = start.elapsed();
        let stats = &mut self.stats;
        stats.calls += 1;
        if elapsed > stats.slowest {
            stats.slowest = elapsed;
            stats.slowest_label = label.to_owned();
        }
        let failure = |what| Failure {
            label: label.to_owned(),
            what,
        };
        match outcome {
            Err(payload) => {
                let what = format!("panicked: {}", panic_message(payload.as_ref()));
                stats.failures.push(failure(what));
                // Do not reuse a runtime a panic went through.
                self.rt = runtime();
                None
            }
            Ok(Err(_)) => {
                let what = format!("did not return within {PER_CALL:?}");
                stats.failures.push(failure(what));
                None
            }
            Ok(Ok(result)) => {
                if elapsed > PER_CALL {
                    stats.failures.push(failure(format!("took {elapsed:?}")));
                }
                stats.ok += usize::from(result.is_ok());
                if result.is_ok() && std::env::var_os("ROBUSTNESS_SHOW_OK").is_some() {
                    println!("ok: {label}");
                }
                Some(result)
            }
        }
    }

    fn finish(self) -> Stats {
        *self.current.lock().unwrap() = None;
        self.stats
    }
}

/// One named job of a test: it reports its mutation in progress through [`Current`].
type Job = Box<dyn FnOnce(&Current) -> (String, Stats) + Send>;

/// Runs `cases` on a worker thread, failing the test when one call hangs or any mutation
/// panics, was too slow, or the unmodified sample did not give its manifest outcome.
fn run(cases: Vec<Case>) {
    watch(
        cases
            .into_iter()
            .map(|case| -> Job {
                Box::new(move |current| (case.name.to_owned(), fuzz_case(&case, current)))
            })
            .collect(),
    );
}

/// Runs `jobs` on a worker thread while this one watches for a call that does not return.
fn watch(jobs: Vec<Job>) {
    let current: Current = Arc::default();
    let worker_current = Arc::clone(&current);
    let started = Instant::now();
    let worker = std::thread::spawn(move || {
        jobs.into_iter()
            .map(|job| job(&worker_current))
            .collect::<Vec<_>>()
    });
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        if let Some((label, since)) = current.lock().unwrap().clone() {
            assert!(
                since.elapsed() < HANG,
                "hang: no result after {HANG:?} for {label}"
            );
        }
    }
    let results = worker.join().unwrap();
    let mut failures = Vec::new();
    for (name, stats) in results {
        println!(
            "{name}: {} calls, {} ok, slowest {:?} ({})",
            stats.calls, stats.ok, stats.slowest, stats.slowest_label
        );
        failures.extend(stats.failures);
    }
    println!("total {:?}", started.elapsed());
    let report: Vec<String> = failures
        .iter()
        .map(|f| format!("{}: {}", f.label, f.what))
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}

// ---------------------------------------------------------------------------------------
// The TEEs

#[test]
fn snp_survives_mutated_evidence() {
    let report = [
        field(
            "/attestation_report/signature/r",
            Encoding::Bytes,
            Format::Raw,
        ),
        field(
            "/attestation_report/report_data",
            Encoding::Bytes,
            Format::Raw,
        ),
    ];
    let vcek = field("/cert_chain/0/data", Encoding::Bytes, Format::Der);
    let with_chain = [report.as_slice(), &[vcek]].concat();
    run(vec![
        case("snp/test-report", with_chain.clone()),
        case("snp/e2e-evidence", with_chain),
        case("snp/e2e-evidence.no-cert-chain", report.to_vec()),
    ]);
}

#[test]
fn az_snp_vtpm_survives_mutated_evidence() {
    let v0 = vec![
        field("/quote/signature", Encoding::Bytes, Format::Raw),
        field("/quote/message", Encoding::Bytes, Format::TpmsAttest),
        field("/quote/pcrs/0", Encoding::Bytes, Format::Raw),
        field("/report", Encoding::Bytes, Format::HclReport),
        field("/vcek", Encoding::PemBlock(0), Format::Der),
    ];
    let v1 = vec![
        field("/tpm_quote/signature", Encoding::Hex, Format::Raw),
        field("/tpm_quote/message", Encoding::Hex, Format::TpmsAttest),
        field("/tpm_quote/pcrs/0", Encoding::Hex, Format::Raw),
        field("/hcl_report", Encoding::Base64, Format::HclReport),
        field("/vcek", Encoding::Base64, Format::Der),
    ];
    run(vec![
        case("az-snp-vtpm/evidence-v0.json", v0.clone()),
        case("az-snp-vtpm/evidence-v1.json", v1.clone()),
        case("az-snp-vtpm/evidence-v2.json", v1),
        case("az-snp-vtpm/evidence-genoa.json", v0),
    ]);
}

#[test]
fn az_tdx_vtpm_survives_mutated_evidence() {
    let v0 = vec![
        field("/tpm_quote/signature", Encoding::Bytes, Format::Raw),
        field("/tpm_quote/message", Encoding::Bytes, Format::TpmsAttest),
        field("/hcl_report", Encoding::Bytes, Format::HclReport),
        field("/td_quote", Encoding::Bytes, Format::DcapQuote),
    ];
    let v1 = vec![
        field("/tpm_quote/signature", Encoding::Hex, Format::Raw),
        field("/tpm_quote/message", Encoding::Hex, Format::TpmsAttest),
        field("/tpm_quote/pcrs/0", Encoding::Hex, Format::Raw),
        field("/hcl_report", Encoding::Base64, Format::HclReport),
        field("/td_quote", Encoding::Base64, Format::DcapQuote),
    ];
    run(vec![
        case("az-tdx-vtpm/evidence-v0.json", v0),
        case("az-tdx-vtpm/evidence-v1.json", v1),
    ]);
}

#[test]
fn tdx_survives_mutated_evidence() {
    let quote = || vec![field("/quote", Encoding::Base64, Format::DcapQuote)];
    // tdx_quote_4 with the used part of another capture's CCEL (the log area is 1 MiB of
    // mostly padding): its events are parsed before the quote is checked.
    let mut with_log = case("tdx/tdx_quote_4.with-unrelated-ccel", quote());
    let ccel = std::fs::read(format!("{TESTDATA}/evidence/tdx/eventlog/CCEL_data")).unwrap();
    let quote_4: Value = serde_json::from_slice(
        &std::fs::read(format!("{TESTDATA}/wrapped/tdx/tdx_quote_4.json")).unwrap(),
    )
    .unwrap();
    with_log.base = Some(json!({
        "quote": quote_4["quote"],
        "cc_eventlog": STANDARD.encode(&ccel[..6144]),
    }));
    with_log
        .fields
        .push(field("/cc_eventlog", Encoding::Base64, Format::Raw));
    run(vec![
        case("tdx/tdx_quote_4", quote()),
        case("tdx/tdx_quote_5", quote()),
        case("tdx/tdx_quote_6", quote()),
        with_log,
    ]);
}

#[test]
fn sgx_survives_mutated_evidence() {
    run(vec![case(
        "sgx/occlum_quote",
        vec![field("/quote", Encoding::Base64, Format::DcapQuote)],
    )]);
}

#[test]
fn cca_survives_mutated_evidence() {
    let mut cca = case(
        "cca/cca-example-token",
        vec![field("/token", Encoding::Bytes, Format::Cbor)],
    );
    let table = json!({
        "type": "local",
        "ta-store": format!("{TESTDATA}/evidence/cca/conf/tastore.json"),
        "rv-store": format!("{TESTDATA}/evidence/cca/conf/rvstore.json"),
    });
    cca.config.cca_verifier = table.as_object().cloned();
    run(vec![cca]);
}

#[test]
fn csv_survives_mutated_evidence() {
    let report = field("/attestation_report/data", Encoding::Bytes, Format::Raw);
    run(vec![
        case(
            "csv/csv-rs-report",
            vec![
                report,
                field("/serial_number", Encoding::Bytes, Format::Raw),
                field(
                    "/cert_chain/pek/sigs/0/signature/r",
                    Encoding::Bytes,
                    Format::Raw,
                ),
                field(
                    "/cert_chain/hsk_cek/hsk/body/pubkey/x",
                    Encoding::Bytes,
                    Format::Raw,
                ),
            ],
        ),
        case("csv/csv-rs-report.no-hsk-cek", vec![report]),
        case(
            "csv/csv_evidence",
            vec![report, field("/cc_eventlog", Encoding::Base64, Format::Raw)],
        ),
    ]);
}

#[test]
fn nvidia_survives_mutated_evidence() {
    let device = |n| {
        vec![
            field(
                "/device_evidence_list/0/evidence",
                Encoding::Hex,
                Format::Spdm,
            ),
            field(
                "/device_evidence_list/0/certificate",
                Encoding::Base64,
                Format::Raw,
            ),
            field(
                "/device_evidence_list/0/certificate",
                Encoding::Base64PemBlock(0),
                Format::Der,
            ),
            field(
                "/device_evidence_list/0/certificate",
                Encoding::Base64PemBlock(n),
                Format::Der,
            ),
        ]
    };
    run(vec![
        case("nvidia/hopper_case1", device(2)),
        case("nvidia/hopper_coco1", device(3)),
        case("nvidia/hopper_case4", device(1)),
    ]);
}

#[test]
fn tpm_and_sample_survive_mutated_evidence() {
    let tpm = case(
        "tpm/tpm_evidence",
        vec![
            field("/ak_public", Encoding::Base64, Format::Der),
            field(
                "/tpm_quote/signature",
                Encoding::Base64,
                Format::TpmtSignature,
            ),
            field("/tpm_quote/message", Encoding::Base64, Format::TpmsAttest),
            field("/tpm_quote/pcrs/0", Encoding::Hex, Format::Raw),
        ],
    );
    // The sample TEEs have no manifest entry: evidence as in their docs.
    let sample = |name, tee| Case {
        name,
        tee,
        evidence: String::new(),
        now: 1_748_736_000,
        report_data: ReportData::Value((0u8..48).collect()),
        passes: true,
        fields: vec![field("/report_data", Encoding::Base64, Format::Raw)],
        config: VerifierConfig::default(),
        base: Some(
            json!({"svn": "1", "report_data": STANDARD.encode((0u8..48).collect::<Vec<_>>())}),
        ),
    };
    run(vec![
        tpm,
        sample("sample", Tee::Sample),
        sample("sampledevice", Tee::SampleDevice),
    ]);
}

/// The event-log parser and replay on their own, with every real CCEL capture (the used part
/// of the log area and a little of its padding): the same binary mutations as above.
#[test]
fn event_logs_survive_mutation() {
    let files = [
        "evidence/tdx/eventlog/CCEL_data",
        "evidence/tdx/eventlog/CCEL_data_ovmf",
        "evidence/tdx/eventlog/CCEL_data_grub",
        "evidence/tdx/eventlog/CCEL_data_gcp",
        "evidence/tdx/eventlog/CCEL_AAEL_alibabacloud",
        "evidence/csv/eventlog/CCEL_data_csv",
    ];
    watch(
        files
            .into_iter()
            .map(|file| -> Job {
                Box::new(move |current| (file.to_owned(), fuzz_event_log(file, current)))
            })
            .collect(),
    );
}

fn fuzz_event_log(file: &str, current: &Current) -> Stats {
    let bytes = std::fs::read(format!("{TESTDATA}/{file}")).unwrap();
    let used = bytes.len()
        - bytes
            .iter()
            .rev()
            .take_while(|&&b| b == 0 || b == 0xff)
            .count();
    let bytes = &bytes[..(used + 4096).min(bytes.len())];
    assert!(EventLog::parse(bytes).is_ok(), "{file}");
    let seed = SEED ^ fnv(file);
    let mut rng = Rng::new(seed);
    let mut stats = Stats {
        calls: 0,
        ok: 0,
        slowest: Duration::ZERO,
        slowest_label: String::new(),
        failures: Vec::new(),
    };
    let mut ops = blob_ops(bytes, Format::EventLog, &mut rng);
    // Parsing is cheap: 512 more flips and 4-byte runs.
    for _ in 0..256 {
        let at = rng.below(bytes.len());
        let mask = (rng.next() as u8).max(1);
        ops.push(BlobOp::Xor { at, mask });
        let at = rng.below(bytes.len());
        ops.push(BlobOp::Write {
            at,
            bytes: vec![0xff; 4],
        });
    }
    for op in ops {
        let mutated = apply_blob(bytes, &op);
        let label = format!("{file} (seed {seed:#x}): {op:?}");
        let label = &label[..label.len().min(200)];
        *current.lock().unwrap() = Some((label.to_owned(), Instant::now()));
        let start = Instant::now();
        let outcome = catch_unwind(|| EventLog::parse(&mutated).and_then(|log| log.replay()));
        let elapsed = start.elapsed();
        stats.calls += 1;
        if elapsed > stats.slowest {
            stats.slowest = elapsed;
            stats.slowest_label = label.to_owned();
        }
        match outcome {
            Err(payload) => stats.failures.push(Failure {
                label: label.to_owned(),
                what: format!("panicked: {}", panic_message(payload.as_ref())),
            }),
            Ok(result) => {
                stats.ok += usize::from(result.is_ok());
                if elapsed > PER_CALL {
                    stats.failures.push(Failure {
                        label: label.to_owned(),
                        what: format!("took {elapsed:?}"),
                    });
                }
            }
        }
    }
    *current.lock().unwrap() = None;
    stats
}

/// The CCA token's claims past a valid signature: the sample's platform and realm payloads
/// are mutated as CBOR and re-signed with the published test keys (the CPAK the trust-anchor
/// store pins, and the RAK whose public key the realm token carries), so the decoded claims
/// reach the RAK binding, report-data and init-data checks, the reference-value appraisal and
/// the claims output. Iterations: the binary mutations above plus 64 havoc rounds (or
/// `ROBUSTNESS_HAVOC`) per token.
#[test]
fn cca_claims_survive_mutation_after_a_valid_signature() {
    watch(vec![Box::new(|current| {
        ("cca/re-signed".to_owned(), fuzz_resigned_cca(current))
    })]);
}

/// The P-384 signing key of a JWK file in `evidence/cca/misc`.
fn cca_key(file: &str) -> aws_lc_rs::signature::EcdsaKeyPair {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwk: Value = serde_json::from_slice(
        &std::fs::read(format!("{TESTDATA}/evidence/cca/misc/{file}")).unwrap(),
    )
    .unwrap();
    let part = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    let point = [vec![0x04], part("x"), part("y")].concat();
    aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(
        &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        &part("d"),
        &point,
    )
    .unwrap()
}

/// `sign1` with `payload`, signed again by `key`, encoded as it was (tagged or not).
fn resign(
    sign1: &coset::CoseSign1,
    tagged: bool,
    payload: Vec<u8>,
    key: &aws_lc_rs::signature::EcdsaKeyPair,
) -> Vec<u8> {
    use coset::{CborSerializable as _, TaggedCborSerializable as _};
    let mut sign1 = sign1.clone();
    sign1.payload = Some(payload);
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signature = key.sign(&rng, &sign1.tbs_data(b"")).unwrap();
    sign1.signature = signature.as_ref().to_vec();
    if tagged {
        sign1.to_tagged_vec().unwrap()
    } else {
        sign1.to_vec().unwrap()
    }
}

fn fuzz_resigned_cca(current: &Current) -> Stats {
    use ciborium::value::Value as Cbor;
    use coset::{CborSerializable as _, TaggedCborSerializable as _};

    let mut case = case("cca/cca-example-token", Vec::new());
    let table = json!({
        "type": "local",
        "ta-store": format!("{TESTDATA}/evidence/cca/conf/tastore.json"),
        "rv-store": format!("{TESTDATA}/evidence/cca/conf/rvstore.json"),
    });
    case.config.cca_verifier = table.as_object().cloned();
    let context = VerifierContext::new().with_clock(Arc::new(FixedClock(case.now)));
    let verifier = verifier_for_with(case.tee, &case.config, &context).unwrap();
    let evidence: Value =
        serde_json::from_slice(&std::fs::read(format!("{TESTDATA}/{}", case.evidence)).unwrap())
            .unwrap();
    let token: Vec<u8> = serde_json::from_value(evidence["token"].clone()).unwrap();
    let Cbor::Tag(collection_tag, collection) = ciborium::from_reader(token.as_slice()).unwrap()
    else {
        panic!("the sample token is a tagged collection");
    };
    let Cbor::Map(entries) = *collection else {
        panic!("the collection is a map");
    };
    let keys = [cca_key("cpak-priv.json"), cca_key("rak-priv.json")];
    let seed = SEED ^ fnv("cca/re-signed");
    let mut rng = Rng::new(seed);
    let mut evaluator = Evaluator::new(verifier, current);

    // Which entry is which: platform first, realm second, as in the sample.
    for (index, key) in keys.iter().enumerate() {
        let Cbor::Bytes(envelope) = &entries[index].1 else {
            panic!("a COSE_Sign1 in a byte string");
        };
        let tagged = envelope.first() == Some(&0xd2);
        let sign1 = if tagged {
            coset::CoseSign1::from_tagged_slice(envelope).unwrap()
        } else {
            coset::CoseSign1::from_slice(envelope).unwrap()
        };
        let payload = sign1.payload.clone().unwrap();
        let name = ["platform", "realm"][index];
        let mut ops = blob_ops(&payload, Format::Cbor, &mut rng);
        ops.retain(|op| !matches!(op, BlobOp::Stack(_)));
        for _ in 0..havoc_rounds().max(64) {
            ops.push(havoc(
                &payload,
                &length_fields(Format::Cbor, &payload),
                &mut rng,
            ));
        }
        // The unmodified payload, re-signed, must still verify: the harness reaches the end.
        ops.insert(0, BlobOp::Append(Vec::new()));
        for (n, op) in ops.iter().enumerate() {
            let mutated = apply_blob(&payload, op);
            let mut entries = entries.clone();
            entries[index].1 = Cbor::Bytes(resign(&sign1, tagged, mutated, key));
            let mut bytes = Vec::new();
            ciborium::into_writer(
                &Cbor::Tag(collection_tag, Box::new(Cbor::Map(entries))),
                &mut bytes,
            )
            .unwrap();
            let label = format!("cca/re-signed (seed {seed:#x}): {name} payload {op:?}");
            let result = evaluator.call(
                &label,
                &json!({ "token": bytes }),
                &case.report_data,
                &InitDataHash::NotProvided,
            );
            if n == 0 && !matches!(result, Some(Ok(_))) {
                evaluator.stats.failures.push(Failure {
                    label,
                    what: format!("the re-signed sample gave {result:?}"),
                });
            }
        }
    }
    evaluator.finish()
}
