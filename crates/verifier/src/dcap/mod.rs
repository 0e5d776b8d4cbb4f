//! Intel DCAP quote verification, shared by the `tdx`, `sgx` and `az-tdx-vtpm` verifiers
//! (verifiers spec §3).
//!
//! - [`Quote::parse`] reads SGX quote v3 and TDX quote v4/v5 (TD 1.0 and TD 1.5 bodies) with
//!   bounded reads.
//! - [`collateral_request`] says which collateral a quote needs (from its PCK certificate).
//! - [`verify`] checks a quote against [`DcapCollateral`] at an injected time, with QVL's
//!   semantics: quote signature by the attestation key, QE report signature by the PCK key and
//!   its binding to the attestation key, PCK chain to the embedded Intel SGX Root CA
//!   (`roots/intel/`), PCK and Root CA CRLs, TCB Info and QE Identity signatures over their
//!   exact text, FMSPC / PCE-ID, TCB level (platform, TDX module, QE) and status, including
//!   QVL's `TDRelaunchAdvised*` for TD 1.5 bodies (see `status.rs`). Certificates
//!   outside their validity fail; collateral past `nextUpdate` is reported in
//!   [`VerifiedQuote::collateral_expired`], not fatal. Debug TDs/enclaves and a non-zero
//!   `mr_servicetd` are not rejected: they are claims for policy, as upstream.
//! - [`VerifiedCollateral`] is the quote-independent half of [`verify`], for callers that
//!   cache checked collateral per FMSPC ([`verify_with_collateral`]).
//!
//! Everything here is pure: no I/O, no clock.
//!
//! [`DcapCollateral`]: crate::collateral::intel::DcapCollateral

mod error;
pub mod pck;
pub mod quote;
mod status;
pub mod tcb;
mod verify;
mod x509;

pub use error::{CertRole, CrlKind, DcapError, SignedCollateral};
pub use pck::{PckExtension, PlatformConfiguration, SgxType};
pub use quote::{
    BodyDescriptor, EnclaveReport, Quote, QuoteBody, QuoteHeader, TdReport10, TdReport15,
};
pub use status::CurrentTcb;
pub use tcb::{QeIdentity, TcbInfo, TcbStatus};
pub use verify::{
    VerifiedCollateral, VerifiedQuote, collateral_request, verify, verify_with_collateral,
};

#[cfg(test)]
mod tests;
