//! The Azure vTPM layer shared by `az-snp-vtpm` and `az-tdx-vtpm` (verifiers spec §2, §6):
//! the TPM quote signed by the paravisor's attestation key (AK), and the HCL report that
//! carries the hardware report and binds the AK to it.
//!
//! Chain of trust, each link checked by a function here or by the hardware verifier:
//! hardware report (verified by `snp`/`tdx`) → its report data = SHA-256(HCL runtime data)
//! ([`HclReport::check_runtime_data_binding`]) → runtime data holds the AK
//! ([`RuntimeData::attestation_key`]) → the AK signs the quote ([`TpmQuote::verify`]) → the
//! quote carries the nonce and the PCRs ([`VerifiedQuote::check_nonce`],
//! [`VerifiedQuote::check_init_data`]).
//!
//! Everything here is pure: bytes in, checked values or a [`VtpmError`] out.

mod attest;
mod error;
mod hcl;
mod quote;
pub(crate) mod reader;
mod wire;

pub use attest::{
    PcrSelection, QuoteAttest, TPM_ALG_SHA256, TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE,
};
pub use error::{ParseError, VtpmError};
pub use hcl::{HARDWARE_REPORT_SIZE, HCL_REPORT_SIZE, HclReport, HclReportType, RuntimeData};
pub use quote::{AttestationKey, PCR_COUNT, Sha256Pcr, TpmQuote, VerifiedQuote};
pub use wire::{TpmQuoteBytes, TpmQuoteHex};

#[cfg(test)]
pub(crate) mod tests;
