//! `tdx`: Intel TDX guests attested by a DCAP TD quote (verifiers spec §4).
//!
//! Evidence: `{"cc_eventlog": "<base64 CCEL log area>" | null, "quote": "<base64 TD quote>"}`.
//! [`verify`] checks, in trust order:
//!
//! 1. the quote is a TD quote (v4, or v5 with a TDX 1.0 or 1.5 body); SGX quotes are refused;
//! 2. the DCAP chain of [`crate::dcap::verify`] with the collateral for the quote's FMSPC and
//!    PCK CA: quote and QE report signatures, QE binding, PCK chain to the Intel SGX Root CA,
//!    CRLs, TCB info and QE identity, TCB level and status, all at `now`;
//! 3. `report_data` = the expected report data right-padded with zeros (or truncated) to 64
//!    bytes;
//! 4. `mr_config_id` = the init-data digest padded or truncated to 48 bytes;
//! 5. with an event log: the CCEL parses and replays (SHA-384, MR index 1..4 → RTMR0..3) to
//!    exactly the quote's RTMRs. A missing log is accepted (upstream only warns): the RTMRs
//!    are claims either way, the log only explains them.
//!
//! Debug TDs and a non-zero `mr_servicetd` are reported (`td_attributes.debug`,
//! `quote.body.mr_servicetd`), not rejected, as upstream (spec §14.6); policy decides.

mod claims;
pub(crate) mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kbs_types::Tee;
use serde::Deserialize;
use serde_json::{Map, Value};

pub use claims::quote_claims;

use crate::collateral::intel::DcapCollateralSource;
use crate::dcap::Quote;
use crate::eventlog::{EventLog, MAX_LOG_SIZE};
use crate::{Error, InitDataHash, ReportData, binding};
use common::QuoteCheck;

/// Parsed, not yet verified, `tdx` evidence.
#[derive(Debug, Clone)]
pub struct TdxEvidence {
    /// The TD quote.
    pub quote: Quote,
    /// The CCEL event log, when the guest sent one.
    pub event_log: Option<EventLog>,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    cc_eventlog: Option<String>,
    quote: String,
}

impl TdxEvidence {
    /// Parses the evidence JSON: standard base64 quote and event log.
    pub fn from_json(evidence: &Value) -> Result<Self, Error> {
        let wire = Wire::deserialize(evidence).map_err(|err| malformed(err.to_string()))?;
        let quote = common::decode_quote(&wire.quote, Tee::Tdx)?;
        if !quote.header.is_tdx() || quote.body.td_report().is_none() {
            return Err(malformed(format!(
                "not a TD quote (version {}, tee type {:#x})",
                quote.header.version, quote.header.tee_type
            )));
        }
        let event_log = match wire.cc_eventlog.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                // base64 of a log larger than the cap is refused before decoding it.
                if text.len() / 4 * 3 > MAX_LOG_SIZE + 3 {
                    return Err(malformed("`cc_eventlog` is larger than accepted"));
                }
                let bytes = STANDARD.decode(text).map_err(|_| Error::Base64 {
                    field: "cc_eventlog",
                })?;
                Some(EventLog::parse(&bytes)?)
            }
        };
        Ok(Self { quote, event_log })
    }
}

/// Verifies `evidence` with `collateral` at `now` (Unix seconds) against the expected
/// bindings; returns the claims (quote, event log, DCAP results) on success.
pub async fn verify(
    evidence: TdxEvidence,
    expected_report_data: &ReportData,
    expected_init_data_hash: &InitDataHash,
    collateral: &dyn DcapCollateralSource,
    now: u64,
) -> Result<Map<String, Value>, Error> {
    let check = QuoteCheck::uncached(collateral, now);
    verify_with(
        evidence,
        expected_report_data,
        expected_init_data_hash,
        check,
    )
    .await
}

/// [`verify`] with the quote checked by `check`.
pub(crate) async fn verify_with(
    evidence: TdxEvidence,
    expected_report_data: &ReportData,
    expected_init_data_hash: &InitDataHash,
    check: QuoteCheck<'_>,
) -> Result<Map<String, Value>, Error> {
    let TdxEvidence { quote, event_log } = evidence;
    let verified = check.verify(quote).await?;
    let report = verified
        .quote
        .body
        .td_report()
        .ok_or_else(|| malformed("not a TD quote"))?;
    binding::check_report_data(&report.report_data, expected_report_data)?;
    binding::check_init_data(
        &report.mr_config_id,
        expected_init_data_hash,
        "mr_config_id",
    )?;
    if let Some(log) = &event_log {
        log.check_rtmrs(&report.rtmr)?;
    }
    let mut claims = quote_claims(&verified.quote, event_log.as_ref())
        .ok_or_else(|| malformed("not a TD quote"))?;
    common::insert_dcap_claims(&verified, &mut claims);
    Ok(claims)
}

common::dcap_verifier! {
    /// The `tdx` [`crate::Verifier`]: DCAP collateral from `collateral`, verification
    /// time from `clock`.
    Tdx,
    TdxEvidence::from_json
}

fn malformed(reason: impl ToString) -> Error {
    Error::MalformedEvidence {
        tee: Tee::Tdx,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests;
