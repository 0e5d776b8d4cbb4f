//! The `corim` extractor (AS spec §10.2): reference values from the reference triples of the
//! CoMID tags carried by a CoRIM.
//!
//! Each reference triple `[environment, [measurement, ...]]` gives a base path
//! `[class.vendor][/class.model]`; each measurement appends its key (`mkey`: text as is, uint as
//! `claim<N>`, UUID as hyphenated text), then `mval.name` and `mval.serial-number` when present.
//! Its digests become `<path>/digests` = `["<lowercase hex>", ...]` and its tagged raw bytes
//! `<path>/raw_bytes` = `"<lowercase hex>"`.
//!
//! Map keys and CBOR tags are those of the draft-ietf-rats-corim CDDL (`corim-map`,
//! `concise-mid-tag`, `triples-map`, `environment-map`, `class-map`, `measurement-map`,
//! `measurement-values-map`) as collected in veraison/corim-rs `corim.cddl` (2025, the draft's
//! -07/-08 numbering); veraison/corim's CoMID encoding example uses the same numbers, and our
//! tests decode its bytes.
//!
//! A signed CoRIM (COSE_Sign1, tag 18) is unwrapped and its payload read **without checking the
//! signature**, as upstream ("signed CoRIMs are not verified"): registering is already an
//! authenticated admin operation, and a signature nobody checks must not be mistaken for one
//! that was.

use ciborium::value::Value;
use serde_json::Value as Json;

use crate::error::CorimError;

/// Deepest nesting of arrays, maps and tags decoded. A CoMID's deepest path we read
/// (measurement → mval → digests → digest) is about 10 levels; anything far deeper is refused
/// before it can exhaust the stack.
pub(crate) const MAX_DEPTH: usize = 32;

/// Most reference values one CoRIM may yield (each is one store write).
pub(crate) const MAX_VALUES: usize = 4096;

/// Longest reference value name produced; with [`MAX_VALUES`] it bounds what a small payload
/// can expand to (one long vendor string repeated in every name).
pub(crate) const MAX_NAME_BYTES: usize = 1024;

// CBOR tags.
/// Stripped when leading: `d9 01f4`, an outer CoRIM wrapper of older drafts.
const TAG_CORIM_WRAPPER: [u8; 3] = [0xd9, 0x01, 0xf4];
/// Stripped when leading: `d9 01f6`, the signed-CoRIM wrapper of older drafts.
const TAG_SIGNED_WRAPPER: [u8; 3] = [0xd9, 0x01, 0xf6];
/// `tagged-unsigned-corim-map`.
const TAG_UNSIGNED_CORIM: u64 = 501;
/// `signed-corim` = COSE_Sign1.
const TAG_COSE_SIGN1: u64 = 18;
/// `tagged-concise-mid-tag` = `#6.506(bytes .cbor concise-mid-tag)`.
const TAG_COMID: u64 = 506;
/// `tagged-uuid-type`.
const TAG_UUID: u64 = 37;
/// `tagged-bytes`, one of `$raw-value-type-choice`.
const TAG_BYTES: u64 = 560;

// Map keys (draft-ietf-rats-corim CDDL).
/// `corim-map`: `&(tags: 1) => [ + $concise-tag-type-choice ]`.
const CORIM_TAGS: u64 = 1;
/// `concise-mid-tag`: `&(tag-identity: 1)`.
const COMID_TAG_IDENTITY: u64 = 1;
/// `concise-mid-tag`: `&(triples: 4) => triples-map`.
const COMID_TRIPLES: u64 = 4;
/// `triples-map`: `&(reference-triples: 0) => [ + reference-triple-record ]`.
const TRIPLES_REFERENCE: u64 = 0;
/// `environment-map`: `&(class: 0) => class-map`.
const ENV_CLASS: u64 = 0;
/// `class-map`: `&(vendor: 1) => tstr`.
const CLASS_VENDOR: u64 = 1;
/// `class-map`: `&(model: 2) => tstr`.
const CLASS_MODEL: u64 = 2;
/// `measurement-map`: `&(mkey: 0) => $measured-element-type-choice`.
const MEAS_MKEY: u64 = 0;
/// `measurement-map`: `&(mval: 1) => measurement-values-map`.
const MEAS_MVAL: u64 = 1;
/// `measurement-values-map`: `&(digests: 2) => [ + [alg, val] ]`.
const MVAL_DIGESTS: u64 = 2;
/// `measurement-values-map`: `&(raw-value: 4) => $raw-value-type-choice`.
const MVAL_RAW_VALUE: u64 = 4;
/// `measurement-values-map`: `&(serial-number: 8) => text`.
const MVAL_SERIAL_NUMBER: u64 = 8;
/// `measurement-values-map`: `&(name: 11) => text`.
const MVAL_NAME: u64 = 11;

/// Name → value pairs in CoRIM order (a later duplicate name replaces an earlier one).
pub(crate) type Values = Vec<(String, Json)>;

/// Collects values up to [`MAX_VALUES`]; past that it records the overflow and refuses more.
struct Collector {
    values: Values,
    room: usize,
    overflowed: bool,
}

impl Collector {
    fn new(room: usize) -> Self {
        Self {
            values: Values::new(),
            room,
            overflowed: false,
        }
    }

    fn push(&mut self, path: &[String], last: &str, value: Json) -> Result<(), String> {
        if self.values.len() >= self.room {
            self.overflowed = true;
            return Err(format!("more than {MAX_VALUES} reference values"));
        }
        let name = joined(path, last);
        if name.len() > MAX_NAME_BYTES {
            return Err(format!(
                "a reference value name of {} bytes, more than {MAX_NAME_BYTES}",
                name.len()
            ));
        }
        self.values.push((name, value));
        Ok(())
    }
}

/// Reads the reference values of a decoded `corim` payload.
pub(crate) fn extract(payload: &[u8]) -> Result<Values, CorimError> {
    let top = decode(strip_outer_tags(payload))?;
    let map = unsigned_corim_map(top)?;
    let tags = match get(&map, CORIM_TAGS) {
        Ok(Some(Value::Array(tags))) => tags,
        Ok(Some(other)) => {
            return Err(CorimError::MalformedCorim {
                reason: format!("tags (key 1) is {}, expected an array", kind(other)),
            });
        }
        Ok(None) => {
            return Err(CorimError::MalformedCorim {
                reason: "no tags (key 1)".to_owned(),
            });
        }
        Err(reason) => return Err(CorimError::MalformedCorim { reason }),
    };

    let mut values = Collector::new(MAX_VALUES);
    for (index, tag) in tags.iter().enumerate() {
        match tag {
            Value::Tag(TAG_COMID, inner) => {
                let decoded;
                let comid = match inner.as_ref() {
                    Value::Bytes(bytes) => {
                        decoded = decode(bytes).map_err(|e| CorimError::Comid {
                            index,
                            reason: e.to_string(),
                        })?;
                        &decoded
                    }
                    // Some encoders put the map itself under the tag; the meaning is the same.
                    map @ Value::Map(_) => map,
                    other => {
                        return Err(CorimError::Comid {
                            index,
                            reason: format!("tag 506 holds {}, expected bytes", kind(other)),
                        });
                    }
                };
                let walked = comid_values(comid, &mut values);
                if values.overflowed {
                    return Err(CorimError::TooManyValues { limit: MAX_VALUES });
                }
                walked.map_err(|reason| CorimError::Comid { index, reason })?;
            }
            // Untagged bytes are an extension; like upstream we read them as a CoMID when they
            // are one and otherwise leave them alone.
            Value::Bytes(bytes) => {
                let mut found = Collector::new(MAX_VALUES - values.values.len());
                let walked = decode(bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|comid| comid_values(&comid, &mut found));
                if found.overflowed {
                    return Err(CorimError::TooManyValues { limit: MAX_VALUES });
                }
                match walked {
                    Ok(()) => values.values.extend(found.values),
                    Err(reason) => {
                        tracing::debug!(index, %reason, "corim: extension bytes are not a CoMID");
                    }
                }
            }
            // CoSWID (505), CoTL (508) and other tags carry no reference triples.
            _ => tracing::debug!(index, "corim: skipping a tag that is not a CoMID"),
        }
    }
    Ok(values.values)
}

/// Drops any leading `d9 01f4` / `d9 01f6` tag heads (AS spec §10.2).
fn strip_outer_tags(mut bytes: &[u8]) -> &[u8] {
    while let Some(rest) = bytes
        .strip_prefix(&TAG_CORIM_WRAPPER)
        .or_else(|| bytes.strip_prefix(&TAG_SIGNED_WRAPPER))
    {
        bytes = rest;
    }
    bytes
}

/// Why bytes did not decode as one CBOR item; said of the payload or of a nested CoMID.
#[derive(Debug)]
enum DecodeFailure {
    NotCbor(String),
    TooDeep,
    Trailing(usize),
}

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotCbor(reason) => write!(f, "is not CBOR: {reason}"),
            Self::TooDeep => write!(f, "nests deeper than {MAX_DEPTH} levels"),
            Self::Trailing(count) => write!(f, "has {count} trailing bytes after the CBOR item"),
        }
    }
}

impl From<DecodeFailure> for CorimError {
    fn from(failure: DecodeFailure) -> Self {
        match failure {
            DecodeFailure::NotCbor(reason) => Self::NotCbor { reason },
            DecodeFailure::TooDeep => Self::TooDeep { limit: MAX_DEPTH },
            DecodeFailure::Trailing(count) => Self::TrailingBytes { count },
        }
    }
}

/// Decodes exactly one CBOR item, nested at most [`MAX_DEPTH`] deep.
fn decode(bytes: &[u8]) -> Result<Value, DecodeFailure> {
    let mut reader = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, MAX_DEPTH)
        .map_err(|e| match e {
            ciborium::de::Error::RecursionLimitExceeded => DecodeFailure::TooDeep,
            ciborium::de::Error::Io(_) => {
                DecodeFailure::NotCbor("input ends inside an item".to_owned())
            }
            ciborium::de::Error::Syntax(offset) => {
                DecodeFailure::NotCbor(format!("syntax error at byte {offset}"))
            }
            ciborium::de::Error::Semantic(_, message) => DecodeFailure::NotCbor(message),
        })?;
    if !reader.is_empty() {
        return Err(DecodeFailure::Trailing(reader.len()));
    }
    Ok(value)
}

/// The unsigned CoRIM map: `501(map)`, an untagged map, or the payload of a `18(COSE_Sign1)`.
fn unsigned_corim_map(top: Value) -> Result<Vec<(Value, Value)>, CorimError> {
    match top {
        Value::Tag(TAG_UNSIGNED_CORIM, inner) => match *inner {
            Value::Map(map) => Ok(map),
            other => Err(CorimError::NotCorim {
                found: format!("tag 501 around {}", kind(&other)),
            }),
        },
        Value::Map(map) => Ok(map),
        Value::Tag(TAG_COSE_SIGN1, inner) => signed_payload(*inner),
        other => Err(CorimError::NotCorim {
            found: kind(&other),
        }),
    }
}

/// The CoRIM map inside a COSE_Sign1 `[protected, unprotected, payload, signature]`; the
/// signature is not checked.
fn signed_payload(cose: Value) -> Result<Vec<(Value, Value)>, CorimError> {
    let malformed = |reason: String| CorimError::MalformedSigned { reason };
    let Value::Array(mut parts) = cose else {
        return Err(malformed(format!(
            "COSE_Sign1 is {}, expected an array of 4",
            kind(&cose)
        )));
    };
    if parts.len() != 4 {
        return Err(malformed(format!(
            "COSE_Sign1 has {} elements, expected 4",
            parts.len()
        )));
    }
    let payload = match parts.swap_remove(2) {
        Value::Bytes(bytes) => bytes,
        Value::Null => return Err(malformed("detached payload (nil) is not supported".into())),
        other => {
            return Err(malformed(format!(
                "payload is {}, expected bytes",
                kind(&other)
            )));
        }
    };
    let inner = decode(&payload).map_err(|e| malformed(format!("its payload {e}")))?;
    match inner {
        Value::Tag(TAG_UNSIGNED_CORIM, map) => match *map {
            Value::Map(map) => Ok(map),
            other => Err(malformed(format!(
                "payload is tag 501 around {}, expected a map",
                kind(&other)
            ))),
        },
        Value::Map(map) => Ok(map),
        other => Err(malformed(format!(
            "payload is {}, expected an unsigned CoRIM map",
            kind(&other)
        ))),
    }
}

/// Appends the values of one `concise-mid-tag`'s reference triples; errors say where and what.
fn comid_values(comid: &Value, values: &mut Collector) -> Result<(), String> {
    let Value::Map(comid) = comid else {
        return Err(format!("it is {}, expected a map", kind(comid)));
    };
    if get(comid, COMID_TAG_IDENTITY)?.is_none() {
        return Err("no tag-identity (key 1)".to_owned());
    }
    let triples = match get(comid, COMID_TRIPLES)? {
        Some(Value::Map(triples)) => triples,
        Some(other) => {
            return Err(format!(
                "triples (key 4) is {}, expected a map",
                kind(other)
            ));
        }
        None => return Err("no triples (key 4)".to_owned()),
    };
    let Some(references) = get(triples, TRIPLES_REFERENCE)? else {
        return Ok(());
    };
    let references = array(references, "triples.reference-triples")?;
    for (i, record) in references.iter().enumerate() {
        let at = format!("triples.reference-triples[{i}]");
        let (environment, claims) = match record {
            Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
            other => {
                return Err(format!(
                    "{at} is {}, expected [environment-map, [+ measurement-map]]",
                    kind(other)
                ));
            }
        };
        let base = environment_path(environment).map_err(|e| format!("{at}.environment: {e}"))?;
        for (j, claim) in array(claims, &format!("{at}.measurements"))?
            .iter()
            .enumerate()
        {
            measurement_values(claim, &base, values)
                .map_err(|e| format!("{at}.measurements[{j}]: {e}"))?;
        }
    }
    Ok(())
}

/// `[class.vendor][, class.model]`.
fn environment_path(environment: &Value) -> Result<Vec<String>, String> {
    let Value::Map(environment) = environment else {
        return Err(format!("it is {}, expected a map", kind(environment)));
    };
    let mut path = Vec::new();
    let Some(class) = get(environment, ENV_CLASS)? else {
        return Ok(path);
    };
    let Value::Map(class) = class else {
        return Err(format!("class (key 0) is {}, expected a map", kind(class)));
    };
    for (key, field) in [(CLASS_VENDOR, "class.vendor"), (CLASS_MODEL, "class.model")] {
        if let Some(value) = get(class, key)? {
            path.push(text(value, field)?.to_owned());
        }
    }
    // Refuse an oversized base before every measurement copies it.
    let length: usize = path.iter().map(|segment| segment.len() + 1).sum();
    if length > MAX_NAME_BYTES {
        return Err(format!(
            "class vendor and model are {length} bytes, more than a name may be ({MAX_NAME_BYTES})"
        ));
    }
    Ok(path)
}

/// Appends `<path>/digests` and `<path>/raw_bytes` for one `measurement-map`.
fn measurement_values(
    claim: &Value,
    base: &[String],
    values: &mut Collector,
) -> Result<(), String> {
    let Value::Map(claim) = claim else {
        return Err(format!("it is {}, expected a map", kind(claim)));
    };
    let mut path = base.to_vec();
    if let Some(mkey) = get(claim, MEAS_MKEY)? {
        match mkey {
            Value::Text(key) => path.push(key.clone()),
            Value::Integer(key) => {
                let key = u64::try_from(*key).map_err(|_| "mkey is a negative integer")?;
                path.push(format!("claim{key}"));
            }
            Value::Tag(TAG_UUID, uuid) => path.push(uuid_text(uuid)?),
            // Other measured-element types (e.g. an OID, tag 111) add no segment, as upstream.
            _ => {}
        }
    }
    let mval = match get(claim, MEAS_MVAL)? {
        Some(Value::Map(mval)) => mval,
        Some(other) => return Err(format!("mval (key 1) is {}, expected a map", kind(other))),
        None => return Err("no mval (key 1)".to_owned()),
    };
    for (key, field) in [
        (MVAL_NAME, "mval.name"),
        (MVAL_SERIAL_NUMBER, "mval.serial-number"),
    ] {
        if let Some(value) = get(mval, key)? {
            path.push(text(value, field)?.to_owned());
        }
    }

    if let Some(digests) = get(mval, MVAL_DIGESTS)? {
        let digests = array(digests, "mval.digests")?;
        if digests.is_empty() {
            return Err("mval.digests is empty".to_owned());
        }
        let mut hexes = Vec::with_capacity(digests.len());
        for (k, digest) in digests.iter().enumerate() {
            hexes.push(Json::String(hex::encode(
                digest_value(digest).map_err(|e| format!("mval.digests[{k}]: {e}"))?,
            )));
        }
        values.push(&path, "digests", Json::Array(hexes))?;
    }
    if let Some(raw) = get(mval, MVAL_RAW_VALUE)? {
        match raw {
            Value::Tag(TAG_BYTES, bytes) => match bytes.as_ref() {
                Value::Bytes(bytes) => {
                    values.push(&path, "raw_bytes", Json::String(hex::encode(bytes)))?;
                }
                other => {
                    return Err(format!(
                        "mval.raw-value (tag 560) holds {}, expected bytes",
                        kind(other)
                    ));
                }
            },
            // A masked raw value (tag 563) or another choice has no upstream name; skipped.
            _ => tracing::debug!("corim: skipping a raw value that is not tagged bytes"),
        }
    }
    Ok(())
}

/// The bytes of one `digest = [alg: int / text, val: bytes]`.
fn digest_value(digest: &Value) -> Result<&[u8], String> {
    match digest {
        Value::Array(pair) if pair.len() == 2 => {
            if !matches!(pair[0], Value::Integer(_) | Value::Text(_)) {
                return Err(format!("alg is {}, expected int or text", kind(&pair[0])));
            }
            match &pair[1] {
                Value::Bytes(bytes) => Ok(bytes),
                other => Err(format!("val is {}, expected bytes", kind(other))),
            }
        }
        other => Err(format!("it is {}, expected [alg, val]", kind(other))),
    }
}

/// A 16-byte `uuid-type` as lowercase hyphenated text.
fn uuid_text(uuid: &Value) -> Result<String, String> {
    match uuid {
        Value::Bytes(bytes) if bytes.len() == 16 => Ok(format!(
            "{}-{}-{}-{}-{}",
            hex::encode(&bytes[..4]),
            hex::encode(&bytes[4..6]),
            hex::encode(&bytes[6..8]),
            hex::encode(&bytes[8..10]),
            hex::encode(&bytes[10..])
        )),
        Value::Bytes(bytes) => Err(format!(
            "mkey UUID (tag 37) has {} bytes, expected 16",
            bytes.len()
        )),
        other => Err(format!(
            "mkey UUID (tag 37) holds {}, expected bytes",
            kind(other)
        )),
    }
}

fn joined(path: &[String], last: &str) -> String {
    let mut name = path.join("/");
    if !name.is_empty() {
        name.push('/');
    }
    name.push_str(last);
    name
}

/// The value under an unsigned-integer map key; a key present twice is malformed CBOR for a
/// CoRIM and refused rather than guessed at.
fn get(map: &[(Value, Value)], key: u64) -> Result<Option<&Value>, String> {
    let mut found = None;
    for (k, v) in map {
        if matches!(k, Value::Integer(i) if u64::try_from(*i) == Ok(key)) {
            if found.is_some() {
                return Err(format!("key {key} appears twice in a map"));
            }
            found = Some(v);
        }
    }
    Ok(found)
}

fn array<'a>(value: &'a Value, field: &str) -> Result<&'a [Value], String> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(format!("{field} is {}, expected an array", kind(other))),
    }
}

fn text<'a>(value: &'a Value, field: &str) -> Result<&'a str, String> {
    match value {
        Value::Text(text) => Ok(text),
        other => Err(format!("{field} is {}, expected text", kind(other))),
    }
}

/// A short description of a CBOR item's type, for error messages (never its content).
fn kind(value: &Value) -> String {
    match value {
        Value::Integer(_) => "an integer".to_owned(),
        Value::Bytes(_) => "bytes".to_owned(),
        Value::Float(_) => "a float".to_owned(),
        Value::Text(_) => "text".to_owned(),
        Value::Bool(_) => "a bool".to_owned(),
        Value::Null => "null".to_owned(),
        Value::Tag(tag, _) => format!("tag {tag}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Map(_) => "a map".to_owned(),
        _ => "an unknown CBOR item".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    fn int(n: u64) -> Value {
        Value::Integer(n.into())
    }

    fn map(entries: Vec<(u64, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (int(k), v)).collect())
    }

    fn tag(n: u64, inner: Value) -> Value {
        Value::Tag(n, Box::new(inner))
    }

    fn cbor(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(value, &mut out).unwrap();
        out
    }

    fn unhex(text: &str) -> Vec<u8> {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(text).unwrap()
    }

    /// `501({0: "id", 1: [506(<comid bytes>), ...]})`.
    fn corim(comids: &[Vec<u8>]) -> Vec<u8> {
        let tags = comids
            .iter()
            .map(|c| tag(TAG_COMID, Value::Bytes(c.clone())))
            .collect();
        cbor(&tag(
            TAG_UNSIGNED_CORIM,
            map(vec![(0, Value::Text("id".into())), (1, Value::Array(tags))]),
        ))
    }

    /// A CoMID with one reference triple for ACME/RoadRunner holding `measurements`.
    fn comid(measurements: Vec<Value>) -> Vec<u8> {
        let class = map(vec![
            (1, Value::Text("ACME".into())),
            (2, Value::Text("RoadRunner".into())),
        ]);
        let record = Value::Array(vec![map(vec![(0, class)]), Value::Array(measurements)]);
        cbor(&map(vec![
            (1, map(vec![(0, Value::Text("comid".into()))])),
            (4, map(vec![(0, Value::Array(vec![record]))])),
        ]))
    }

    fn digest_measurement(mkey: Value) -> Value {
        let digest = Value::Array(vec![int(1), Value::Bytes(vec![0xab, 0xcd])]);
        map(vec![
            (0, mkey),
            (1, map(vec![(2, Value::Array(vec![digest]))])),
        ])
    }

    fn names(values: &Values) -> Vec<&str> {
        values.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// veraison/corim `comid` package, `Example_encode` output: a CoMID whose reference triple
    /// is class {OID, vendor "ACME Ltd.", model "RoadRunner", layer 0, index 1} with one
    /// measurement keyed by UUID 31fb5abf-…, digests [sha-256-32 abcdef00, sha-256-32
    /// ffffffff], raw value 560(h'01020304'), serial number "C02X70VHJHD5" (and more fields we
    /// ignore), followed by endorsed-value, key and conditional-endorsement triples.
    const VERAISON_COMID_HEX: &str = "a50065656e2d474201a10078206d792d6e733a61636d652d726f616472756e6e65722d737570706c656d656e740282a3006941434d45204c74642e01d8207468747470733a2f2f61636d652e6578616d706c6502820100a20069454d4341204c74642e0281020382a200781a6d792d6e733a61636d652d726f616472756e6e65722d626173650100a20078196d792d6e733a61636d652d726f616472756e6e65722d6f6c64010104a5008182a300a500d86f445502c000016941434d45204c74642e026a526f616452756e6e65720300040101d902264702deadbeefdead02d8255031fb5abf023e4992aa4e95f9c1503bfa81a200d8255031fb5abf023e4992aa4e95f9c1503bfa01aa01d90228020282820644abcdef00820644ffffffff03a201f403f504d9023044010203040544ffffffff064802005e1000000001075020010db8000000000000000000000068086c43303258373056484a484435094702deadbeefdead0a5031fb5abf023e4992aa4e95f9c1503bfa018182a300a500d8255031fb5abf023e4992aa4e95f9c1503bfa016941434d45204c74642e026a526f616452756e6e65720300040101d902264702deadbeefdead02d8255031fb5abf023e4992aa4e95f9c1503bfa81a200d8255031fb5abf023e4992aa4e95f9c1503bfa01aa01d90229020282820644abcdef00820644ffffffff03a300f401f403f504d9023044010203040544ffffffff064802005e1000000001075020010db8000000000000000000000068086c43303258373056484a484435094702deadbeefdead0a5031fb5abf023e4992aa4e95f9c1503bfa028182a101d902264702deadbeefdead81d9022a78b12d2d2d2d2d424547494e205055424c4943204b45592d2d2d2d2d0a4d466b77457759484b6f5a497a6a3043415159494b6f5a497a6a304441516344516741455731427671462b2f727938425761375a454d553178595948455138420a6c4c54344d46484f614f2b4943547449767245654570722f7366544150363648326843486462354845584b74524b6f6436514c634f4c504131513d3d0a2d2d2d2d2d454e44205055424c4943204b45592d2d2d2d2d038182a101d8255031fb5abf023e4992aa4e95f9c1503bfa81d9022a78b12d2d2d2d2d424547494e205055424c4943204b45592d2d2d2d2d0a4d466b77457759484b6f5a497a6a3043415159494b6f5a497a6a304441516344516741455731427671462b2f727938425761375a454d553178595948455138420a6c4c54344d46484f614f2b4943547449767245654570722f7366544150363648326843486462354845584b74524b6f6436514c634f4c504131513d3d0a2d2d2d2d2d454e44205055424c4943204b45592d2d2d2d2d08818282a300a500d86f445502c000016941434d45204c74642e026a526f616452756e6e65720300040101d902264702deadbeefdead02d8255031fb5abf023e4992aa4e95f9c1503bfa81a200d8255031fb5abf023e4992aa4e95f9c1503bfa01aa01d90228020282820644abcdef00820644ffffffff03a201f403f504d9023044010203040544ffffffff064802005e1000000001075020010db8000000000000000000000068086c43303258373056484a484435094702deadbeefdead0a5031fb5abf023e4992aa4e95f9c1503bfa818281a200d8255031fb5abf023e4992aa4e95f9c1503bfa01a501d90228020282820644abcdef00820644ffffffff03a201f403f504d9023044010203040544ffffffff81a200d8255031fb5abf023e4992aa4e95f9c1503bfa01a3064802005e1000000001075020010db8000000000000000000000068094702deadbeefdead";

    /// A public NVIDIA attestation test CoRIM (attest-v2 CLI, "MatchingCorimAffirms"):
    /// `501({0: "test-corim-blackwell", 1: [506(<<{1: {0: "test-comid-blackwell"}, 4: {0: [[
    /// {0: {0: 560(h'00'), 1: "NVIDIA", 2: "GB100 A01 GSP", 3: 0, 4: 0}},
    /// [{1: {2: [[7, h'<sha-384>']]}}] ]]}}>>)]})`.
    const NVIDIA_CORIM_HEX: &str = "d901f5a20074746573742d636f72696d2d626c61636b77656c6c0181d901fa587ca201a100\
        74746573742d636f6d69642d626c61636b77656c6c04a1008182a100a500d9023041000166\
        4e5649444941026d474231303020413031204753500300040081a101a1028182075830d090\
        cab1b6e6ffddca83d1781e25b3f040fa1f3c7608230cb5f41b1c1b99f5f748349e59d0ef8eb\
        830c9bc79ccf77502";

    #[test]
    fn reads_the_veraison_comid_vector() {
        let values = extract(&corim(&[unhex(VERAISON_COMID_HEX)])).unwrap();
        let path = "ACME Ltd./RoadRunner/31fb5abf-023e-4992-aa4e-95f9c1503bfa/C02X70VHJHD5";
        assert_eq!(
            values,
            vec![
                (format!("{path}/digests"), json!(["abcdef00", "ffffffff"])),
                (format!("{path}/raw_bytes"), json!("01020304")),
            ]
        );
    }

    #[test]
    fn reads_the_nvidia_corim_vector() {
        let values = extract(&unhex(NVIDIA_CORIM_HEX)).unwrap();
        assert_eq!(
            values,
            vec![(
                "NVIDIA/GB100 A01 GSP/digests".to_owned(),
                json!([
                    "d090cab1b6e6ffddca83d1781e25b3f040fa1f3c7608230cb5f41b1c1b99f5f748349e59d0ef8eb830c9bc79ccf77502"
                ])
            )]
        );
    }

    #[test]
    fn strips_leading_500_and_502_tag_heads_only() {
        assert_eq!(
            strip_outer_tags(&[0xd9, 0x01, 0xf4, 0xd9, 0x01, 0xf6, 0xa0]),
            [0xa0]
        );
        assert_eq!(
            strip_outer_tags(&[0xd9, 0x01, 0xf6, 0xd9, 0x01, 0xf4, 0xa0]),
            [0xa0]
        );
        // 501 is the CoRIM itself and stays.
        assert_eq!(
            strip_outer_tags(&[0xd9, 0x01, 0xf5, 0xa0]),
            [0xd9, 0x01, 0xf5, 0xa0]
        );
        assert_eq!(strip_outer_tags(&[0xd9, 0x01]), [0xd9, 0x01]);
    }

    #[test]
    fn extension_bytes_are_read_as_a_comid_or_skipped() {
        let comid = comid(vec![digest_measurement(Value::Text("fw".into()))]);
        let payload = cbor(&tag(
            TAG_UNSIGNED_CORIM,
            map(vec![
                (0, Value::Text("id".into())),
                (
                    1,
                    Value::Array(vec![
                        Value::Bytes(vec![0xff, 0x00]),
                        Value::Bytes(comid),
                        tag(505, Value::Bytes(vec![0xa0])),
                    ]),
                ),
            ]),
        ));
        let values = extract(&payload).unwrap();
        assert_eq!(names(&values), ["ACME/RoadRunner/fw/digests"]);
    }

    #[test]
    fn a_comid_map_directly_under_tag_506_is_read() {
        let comid: Value =
            ciborium::from_reader(&comid(vec![digest_measurement(Value::Text("fw".into()))])[..])
                .unwrap();
        let payload = cbor(&map(vec![
            (0, Value::Text("id".into())),
            (1, Value::Array(vec![tag(TAG_COMID, comid)])),
        ]));
        assert_eq!(
            names(&extract(&payload).unwrap()),
            ["ACME/RoadRunner/fw/digests"]
        );
    }

    #[test]
    fn signed_corims_are_unwrapped_without_checking_the_signature() {
        let unsigned = corim(&[comid(vec![digest_measurement(int(3))])]);
        let signed = |payload: Value| {
            cbor(&tag(
                TAG_COSE_SIGN1,
                Value::Array(vec![
                    Value::Bytes(vec![0xa1, 0x01, 0x26]),
                    Value::Map(vec![]),
                    payload,
                    Value::Bytes(vec![0; 64]),
                ]),
            ))
        };
        let mut wrapped = vec![0xd9, 0x01, 0xf6];
        wrapped.extend(signed(Value::Bytes(unsigned)));
        assert_eq!(
            names(&extract(&wrapped).unwrap()),
            ["ACME/RoadRunner/claim3/digests"]
        );

        let err = extract(&signed(Value::Null)).unwrap_err();
        assert!(
            matches!(&err, CorimError::MalformedSigned { reason } if reason.contains("detached")),
            "{err}"
        );
        let err = extract(&cbor(&tag(TAG_COSE_SIGN1, Value::Array(vec![])))).unwrap_err();
        assert!(err.to_string().contains("0 elements, expected 4"), "{err}");
    }

    #[test]
    fn refuses_deep_nesting_and_trailing_bytes() {
        let mut deep = vec![0x81; 200];
        deep.push(0x00);
        assert!(matches!(
            extract(&deep).unwrap_err(),
            CorimError::TooDeep { limit: MAX_DEPTH }
        ));
        let mut trailing = corim(&[]);
        trailing.push(0x00);
        assert!(matches!(
            extract(&trailing).unwrap_err(),
            CorimError::TrailingBytes { count: 1 }
        ));
        // A CoMID with trailing bytes is a bad CoMID.
        let mut comid_bytes = comid(vec![]);
        comid_bytes.push(0x00);
        let err = extract(&corim(&[comid_bytes])).unwrap_err();
        assert!(
            matches!(&err, CorimError::Comid { index: 0, reason } if reason.contains("trailing")),
            "{err}"
        );
    }

    #[test]
    fn bounds_the_number_and_length_of_names() {
        let many: Vec<Value> = (0..=MAX_VALUES as u64)
            .map(|n| digest_measurement(int(n)))
            .collect();
        assert!(matches!(
            extract(&corim(&[comid(many)])).unwrap_err(),
            CorimError::TooManyValues { limit: MAX_VALUES }
        ));
        let exactly: Vec<Value> = (0..MAX_VALUES as u64)
            .map(|n| digest_measurement(int(n)))
            .collect();
        assert_eq!(
            extract(&corim(&[comid(exactly)])).unwrap().len(),
            MAX_VALUES
        );

        let long = digest_measurement(Value::Text("k".repeat(MAX_NAME_BYTES)));
        let err = extract(&corim(&[comid(vec![long])])).unwrap_err();
        assert!(err.to_string().contains("more than 1024"), "{err}");
    }

    #[test]
    fn malformed_measurements_name_where_they_are() {
        let cases = [
            (
                digest_measurement(tag(TAG_UUID, Value::Bytes(vec![1; 15]))),
                "measurements[0]: mkey UUID (tag 37) has 15 bytes, expected 16",
            ),
            (
                digest_measurement(Value::Integer((-1).into())),
                "measurements[0]: mkey is a negative integer",
            ),
            (
                map(vec![(1, map(vec![(2, Value::Array(vec![]))]))]),
                "mval.digests is empty",
            ),
            (
                map(vec![(
                    1,
                    map(vec![(2, Value::Array(vec![Value::Array(vec![int(1)])]))]),
                )]),
                "mval.digests[0]: it is an array, expected [alg, val]",
            ),
            (
                map(vec![(1, map(vec![(11, int(5))]))]),
                "mval.name is an integer, expected text",
            ),
            (
                map(vec![(1, map(vec![(4, tag(TAG_BYTES, int(5)))]))]),
                "raw-value (tag 560) holds an integer",
            ),
            (map(vec![(0, int(1))]), "no mval (key 1)"),
            (
                Value::Map(vec![(int(1), map(vec![])), (int(1), map(vec![]))]),
                "key 1 appears twice",
            ),
        ];
        for (measurement, expected) in cases {
            let err = extract(&corim(&[comid(vec![measurement])])).unwrap_err();
            assert!(
                matches!(&err, CorimError::Comid { index: 0, reason }
                    if reason.starts_with("triples.reference-triples[0].measurements[0]")
                        && reason.contains(expected)),
                "{expected}: {err}"
            );
        }
    }

    #[test]
    fn other_measured_element_types_and_raw_values_add_nothing() {
        let oid_key = map(vec![
            (0, tag(111, Value::Bytes(vec![0x55]))),
            (
                1,
                map(vec![(
                    4,
                    tag(
                        563,
                        Value::Array(vec![Value::Bytes(vec![1]), Value::Bytes(vec![1])]),
                    ),
                )]),
            ),
        ]);
        assert_eq!(extract(&corim(&[comid(vec![oid_key])])).unwrap(), vec![]);
    }
}
