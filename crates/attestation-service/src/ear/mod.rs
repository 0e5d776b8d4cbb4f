//! The EAR (EAT Attestation Result) token: trust claims, appraisals and the claims set.
//!
//! Written against the JSON form of the `ear` 0.5 crate rather than using it, because `ear` 0.6
//! renamed every member and upstream policies and KBS code depend on the 0.5 names.

pub(crate) mod appraisal;
pub(crate) mod token;
pub(crate) mod trust;
