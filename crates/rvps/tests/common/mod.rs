//! Set-up and assertions shared by the `rvps` integration tests: an in-memory RVPS, register
//! messages of any payload type, and the CBOR builders the CoRIM tests use.
//!
//! Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ciborium::value::Value as Cbor;
use rvps::{BuiltinRvps, Error, ReferenceValueProvider};
use serde_json::{Value, json};
use storage::memory::MemoryStore;

/// A register message (AS spec §10.2) of the given payload `type`, payload base64-encoded.
pub fn message(kind: &str, payload: &[u8]) -> String {
    json!({"version": "0.1.0", "type": kind, "payload": STANDARD.encode(payload)}).to_string()
}

/// A [`BuiltinRvps`] over an empty in-memory store.
pub fn rvps() -> BuiltinRvps {
    BuiltinRvps::new(Arc::new(MemoryStore::new()))
}

/// Registers a `kind` payload that must be accepted; returns the names, sorted.
pub async fn register(rvps: &BuiltinRvps, kind: &str, payload: &[u8]) -> Vec<String> {
    let mut names = rvps.register(&message(kind, payload)).await.unwrap();
    names.sort();
    names
}

/// Registers a `kind` payload that must be refused; returns the error.
pub async fn refused_by(rvps: &BuiltinRvps, kind: &str, payload: &[u8]) -> Error {
    rvps.register(&message(kind, payload)).await.unwrap_err()
}

/// Registers a `kind` payload that a fresh RVPS must refuse; returns the error.
pub async fn refused(kind: &str, payload: &[u8]) -> Error {
    refused_by(&rvps(), kind, payload).await
}

/// Asserts what `rvps` holds under `id` (`None`: nothing).
pub async fn assert_stored(rvps: &BuiltinRvps, id: &str, expected: Option<Value>) {
    assert_eq!(rvps.query(id).await.unwrap(), expected, "{id}");
}

/// Asserts that each payload text (not standard padded base64) in a `kind` message is
/// refused as [`Error::PayloadNotBase64`].
pub async fn assert_payloads_not_base64_refused(kind: &str, payloads: &[&str]) {
    let rvps = rvps();
    for payload in payloads {
        let text = json!({"type": kind, "payload": payload}).to_string();
        assert!(
            matches!(
                rvps.register(&text).await.unwrap_err(),
                Error::PayloadNotBase64
            ),
            "{payload}"
        );
    }
}

// CBOR builders (draft-ietf-rats-corim shapes use integer map keys).

/// A CBOR integer.
pub fn int(n: i64) -> Cbor {
    Cbor::Integer(n.into())
}

/// A CBOR text string.
pub fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_owned())
}

/// A CBOR map with integer keys, in the given order.
pub fn map(entries: Vec<(i64, Cbor)>) -> Cbor {
    Cbor::Map(entries.into_iter().map(|(k, v)| (int(k), v)).collect())
}

/// CBOR tag `n` around `inner`.
pub fn tag(n: u64, inner: Cbor) -> Cbor {
    Cbor::Tag(n, Box::new(inner))
}

/// The CBOR encoding of `value`.
pub fn cbor(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}
