//! JOSE for the KBS and its clients: JWK, JWE (kbs-protocol §5), JWT/JWS signing and
//! verification, `x5c` certificate chains and RFC 8785 runtime-data hashing.
//!
//! Everything here is a pure function over bytes and structs: the crate does no I/O, reads no
//! clock (callers pass `now` as Unix seconds) and has one crypto backend, aws-lc-rs.
//!
//! ```
//! let tee_key = jose::TeeKeyPair::generate_ec_p256()?;
//! let response = jose::jwe::encrypt(&tee_key.public_key()?, b"secret")?;
//! assert_eq!(tee_key.decrypt(&response)?.as_slice(), b"secret");
//! # Ok::<(), jose::Error>(())
//! ```

pub mod b64;
mod error;
pub mod jcs;
pub mod jwe;
pub mod jwk;
pub mod jws;
pub mod jwt;
mod pem_key;
mod tee_key;
pub mod x5c;

pub use error::Error;
pub use jwk::{EcCurve, Jwk, JwkSet};
pub use jws::{JwsAlgorithm, SigningKey, VerifyingKey};
pub use tee_key::{RsaAlg, TeeKeyPair};
