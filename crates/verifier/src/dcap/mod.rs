//! Intel DCAP quote verification, shared by the `tdx`, `sgx` and `az-tdx-vtpm` verifiers
//! (verifiers spec §3).
//!
//! [`Quote::parse`] reads SGX quote v3 and TDX quote v4/v5 (TD 1.0 and TD 1.5 bodies) with
//! bounded reads.

mod error;
pub mod quote;

pub use error::{CertRole, CrlKind, DcapError, SignedCollateral};
pub use quote::{
    BodyDescriptor, EnclaveReport, Quote, QuoteBody, QuoteHeader, TdReport10, TdReport15,
};

#[cfg(test)]
mod tests;
