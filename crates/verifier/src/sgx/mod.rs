//! `sgx`: Intel SGX enclaves attested by a DCAP ECDSA quote v3 (verifiers spec §5).
//!
//! Evidence: `{"quote": "<base64 SGX quote v3>"}`. [`verify`] checks, in trust order:
//!
//! 1. the quote is an SGX quote v3 (upstream accepts no other version for SGX);
//! 2. the DCAP chain of [`crate::dcap::verify`] with the SGX collateral (TCB info `SGX`, QE
//!    identity `QE`) for the quote's FMSPC and PCK CA, at `now`;
//! 3. `report_data` = the expected report data padded or truncated to 64 bytes;
//! 4. `config_id` = the init-data digest padded or truncated to 64 bytes.
//!
//! Debug enclaves are reported (`body.attributes.flags`), not rejected, as upstream.
//!
//! Claims keep upstream's names, including the dotted keys `attributes.flags` and
//! `attributes.xfrm` inside `body`; every value is lower-case hex of the quote's bytes
//! (integers therefore little-endian: `isv_svn` 1 is `"0100"`).

use kbs_types::Tee;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::collateral::intel::DcapCollateralSource;
use crate::dcap::{EnclaveReport, Quote, QuoteHeader};
use crate::tdx::common;
use crate::tdx::common::QuoteCheck;
use crate::{Error, InitDataHash, ReportData, binding};

/// The only quote version upstream accepts for SGX evidence.
const SGX_QUOTE_VERSION: u16 = 3;

#[derive(Deserialize)]
struct Wire {
    quote: String,
}

/// Parses the evidence JSON into an SGX quote v3.
pub fn parse_evidence(evidence: &Value) -> Result<Quote, Error> {
    let wire = Wire::deserialize(evidence).map_err(|err| malformed(err.to_string()))?;
    let quote = common::decode_quote(&wire.quote, Tee::Sgx)?;
    if quote.header.version != SGX_QUOTE_VERSION || quote.body.enclave_report().is_none() {
        return Err(malformed(format!(
            "not an SGX quote v3 (version {})",
            quote.header.version
        )));
    }
    Ok(quote)
}

/// Verifies an SGX quote with `collateral` at `now` (Unix seconds) against the expected
/// bindings; returns the claims.
pub async fn verify(
    quote: Quote,
    expected_report_data: &ReportData,
    expected_init_data_hash: &InitDataHash,
    collateral: &dyn DcapCollateralSource,
    now: u64,
) -> Result<Map<String, Value>, Error> {
    let check = QuoteCheck::uncached(collateral, now);
    verify_with(quote, expected_report_data, expected_init_data_hash, check).await
}

/// [`verify`] with the quote checked by `check`.
pub(crate) async fn verify_with(
    quote: Quote,
    expected_report_data: &ReportData,
    expected_init_data_hash: &InitDataHash,
    check: QuoteCheck<'_>,
) -> Result<Map<String, Value>, Error> {
    let verified = check.verify(quote).await?;
    let report = verified
        .quote
        .body
        .enclave_report()
        .ok_or_else(|| malformed("not an SGX quote"))?;
    binding::check_report_data(&report.report_data, expected_report_data)?;
    binding::check_init_data(&report.config_id, expected_init_data_hash, "config_id")?;
    let mut claims = quote_claims(&verified.quote.header, report);
    common::insert_dcap_claims(&verified, &mut claims);
    Ok(claims)
}

/// Upstream's SGX claims of a quote (no DCAP results).
pub fn quote_claims(header: &QuoteHeader, report: &EnclaveReport) -> Map<String, Value> {
    let header = json!({
        "version": hex::encode(header.version.to_le_bytes()),
        "att_key_type": hex::encode(header.att_key_type.to_le_bytes()),
        "att_key_data_0": hex::encode(header.tee_type.to_le_bytes()),
        "qe_svn": hex::encode(header.qe_svn.to_le_bytes()),
        "pce_svn": hex::encode(header.pce_svn.to_le_bytes()),
        "vendor_id": hex::encode(header.qe_vendor_id),
        "user_data": hex::encode(header.user_data),
    });
    let body = json!({
        "cpu_svn": hex::encode(report.cpu_svn),
        "misc_select": hex::encode(report.misc_select.to_le_bytes()),
        "reserved1": hex::encode(report.reserved1),
        "isv_ext_prod_id": hex::encode(report.isv_ext_prod_id),
        "attributes.flags": hex::encode(report.attributes_flags()),
        "attributes.xfrm": hex::encode(report.attributes_xfrm()),
        "mr_enclave": hex::encode(report.mr_enclave),
        "reserved2": hex::encode(report.reserved2),
        "mr_signer": hex::encode(report.mr_signer),
        "reserved3": hex::encode(report.reserved3),
        "config_id": hex::encode(report.config_id),
        "isv_prod_id": hex::encode(report.isv_prod_id.to_le_bytes()),
        "isv_svn": hex::encode(report.isv_svn.to_le_bytes()),
        "config_svn": hex::encode(report.config_svn.to_le_bytes()),
        "reserved4": hex::encode(report.reserved4),
        "isv_family_id": hex::encode(report.isv_family_id),
        "report_data": hex::encode(report.report_data),
    });
    let mut claims = Map::new();
    claims.insert("header".into(), header);
    claims.insert("body".into(), body);
    claims.insert("report_data".into(), hex::encode(report.report_data).into());
    claims.insert("init_data".into(), hex::encode(report.config_id).into());
    claims
}

common::dcap_verifier! {
    /// The `sgx` [`crate::Verifier`]: DCAP collateral from `collateral`, verification
    /// time from `clock`.
    Sgx,
    parse_evidence
}

fn malformed(reason: impl ToString) -> Error {
    Error::MalformedEvidence {
        tee: Tee::Sgx,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests;
