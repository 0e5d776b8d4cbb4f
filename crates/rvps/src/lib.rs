//! Reference Value Provider Service: register, store and query reference values.
//!
//! [`BuiltinRvps`] implements the upstream built-in RVPS (AS spec §10): a register message
//! `{"version":"0.1.0","type":"sample","payload":"<base64>"}` is decoded by its extractor into
//! named values, each stored in a [`storage::KeyValueStore`] namespace (`reference_value`) as a
//! [`ReferenceValue`] record; policies read them back through `query_reference_value(id)`.
//!
//! Deliberate difference from upstream: records carry an expiration 12 months after
//! registration and upstream never checks it, but we do: an expired value is not returned by
//! [`ReferenceValueProvider::query`] (re-register to refresh it). Ids that cannot be storage
//! keys (e.g. `rvps:///...:tag` URIs) cannot be registered and query as unknown.
//!
//! Extractors: `sample` (a JSON object of name → value), `corim` (the reference triples of a
//! CBOR CoRIM's CoMIDs) and `swid` (the measurements of a SWID tag carrying a TCG RIM, e.g. an
//! NVIDIA GPU RIM); signatures are not verified; see `docs/rvps.md`.
//!
//! Besides the library, the crate has the service edges: [`grpc`] serves
//! `reference.ReferenceValueProviderService` over any provider (the `rvps` binary serves a
//! [`BuiltinRvps`] on the storage chosen by a [`ServiceConfig`]), and [`RemoteRvps`] is the
//! gRPC client behind the same [`ReferenceValueProvider`] trait, used by the AS for
//! `rvps_config = {"type": "GrpcRemote"}` and by the `rvps-tool` CLI.
//!
//! ```
//! use std::sync::Arc;
//!
//! use rvps::{BuiltinRvps, ReferenceValueProvider};
//! use storage::memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rvps::Error> {
//! let rvps = BuiltinRvps::new(Arc::new(MemoryStore::new()));
//! // payload = base64 of {"svn": ["1"]}
//! let names = rvps
//!     .register(r#"{"version":"0.1.0","type":"sample","payload":"eyJzdm4iOiBbIjEiXX0="}"#)
//!     .await?;
//! assert_eq!(names, ["svn"]);
//! assert_eq!(rvps.query("svn").await?, Some(serde_json::json!(["1"])));
//! # Ok(())
//! # }
//! ```

mod builtin;
mod config;
mod corim;
mod error;
pub mod grpc;
mod message;
mod record;
pub mod remote;
mod swid;

pub use builtin::{BuiltinRvps, Clock, ReferenceValueProvider};
pub use config::{REFERENCE_VALUE_NAMESPACE, ServiceConfig};
pub use error::{BoxError, CorimError, Error, Result, SwidError};
pub use record::{ReferenceValue, VERSION};
pub use remote::RemoteRvps;
