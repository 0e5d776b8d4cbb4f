//! `az-tdx-vtpm`: Intel TDX confidential VMs on Azure, attested through the paravisor's vTPM
//! (verifiers spec §6).
//!
//! As on Azure SEV-SNP, the guest cannot choose the hardware report data: the paravisor (HCL)
//! asks for a TDREPORT whose report data starts with SHA-256 of its runtime data (which holds
//! the vTPM attestation key), and a TD quote is made from that TDREPORT. Freshness and the
//! guest's measurements come from a TPM quote signed by that AK. [`verify`] checks, in trust
//! order:
//!
//! 1. the HCL report carries a TDX report (type 4);
//! 2. the TD quote through the DCAP chain of [`crate::dcap::verify`] (TDX collateral for its
//!    FMSPC and PCK CA, at `now`);
//! 3. TD quote `report_data[0..32]` = SHA-256(HCL runtime data): the AK is the paravisor's;
//! 4. the TPM quote signature with that AK, and the PCRs against the signed digest;
//! 5. the TPM quote nonce = the expected report data, exactly (spec §0.2);
//! 6. v2 only: HCL `user-data` = the expected report data (zero-padded);
//! 7. init data: PCR8 = SHA-256(0^32 ‖ digest), a wrong-length digest being an error.
//!
//! The TD quote's own report-data and MRCONFIGID bindings do not apply: the paravisor owns
//! both. Claims: the `tdx` quote claims (no event log), `tpm.pcr00`..`pcr23`, `report_data`
//! (the nonce) and `init_data` (PCR8) from the TPM quote, and the DCAP results.
//!
//! Decisions as for `az-snp-vtpm` (report data is required; v2 `user-data` must be the
//! report data followed only by zero bytes; a non-32-byte init-data digest is an error, not a
//! panic), and as for `tdx` (a TD without SEPT_VE_DISABLE or a debug TD is reported, not
//! refused: the sample Azure TD has SEPT_VE_DISABLE 0).

mod evidence;

use kbs_types::Tee;
use serde_json::{Map, Value};

pub use evidence::{AzTdxVtpmEvidence, EvidenceVersion};

use crate::collateral::intel::DcapCollateralSource;
use crate::tdx::common::QuoteCheck;
use crate::tdx::{common, quote_claims};
use crate::vtpm::{HclReportType, VtpmError};
use crate::{Error, InitDataHash, ReportData};

/// Verifies `evidence` with `collateral` at `now` (Unix seconds) against the expected report
/// data and init-data digest; returns the claims on success, otherwise the failed check.
pub async fn verify(
    evidence: AzTdxVtpmEvidence,
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
    evidence: AzTdxVtpmEvidence,
    expected_report_data: &ReportData,
    expected_init_data_hash: &InitDataHash,
    check: QuoteCheck<'_>,
) -> Result<Map<String, Value>, Error> {
    let AzTdxVtpmEvidence {
        version,
        quote: tpm_quote,
        hcl_report: hcl,
        td_quote,
    } = evidence;
    if hcl.report_type() != HclReportType::Tdx {
        return Err(VtpmError::Unsupported {
            field: "hcl report type for az-tdx-vtpm",
            value: hcl.report_type().code(),
        }
        .into());
    }
    let verified = check.verify(td_quote).await?;
    let report = verified
        .quote
        .body
        .td_report()
        .ok_or(Error::MalformedEvidence {
            tee: Tee::AzTdxVtpm,
            reason: "`td_quote` is not a TD quote".to_owned(),
        })?;
    hcl.check_runtime_data_binding(&report.report_data)?;

    let runtime = hcl.runtime_data()?;
    let quote = tpm_quote.verify(runtime.attestation_key())?;
    quote.check_nonce(expected_report_data)?;
    if version == EvidenceVersion::V2 {
        runtime.check_user_data(expected_report_data)?;
    }
    quote.check_init_data(expected_init_data_hash)?;

    let mut claims = quote_claims(&verified.quote, None).ok_or(Error::MalformedEvidence {
        tee: Tee::AzTdxVtpm,
        reason: "`td_quote` is not a TD quote".to_owned(),
    })?;
    common::insert_dcap_claims(&verified, &mut claims);
    let pcrs = quote
        .pcr_claims()
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    claims.insert("tpm".into(), Value::Object(pcrs));
    claims.insert("report_data".into(), hex::encode(quote.nonce()).into());
    claims.insert(
        "init_data".into(),
        hex::encode(quote.init_data_pcr()).into(),
    );
    Ok(claims)
}

common::dcap_verifier! {
    /// The `az-tdx-vtpm` [`crate::Verifier`]: DCAP collateral from `collateral`, verification
    /// time from `clock`.
    AzTdxVtpm,
    AzTdxVtpmEvidence::from_json
}

#[cfg(test)]
mod tests;
