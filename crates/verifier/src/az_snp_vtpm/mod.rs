//! `az-snp-vtpm`: AMD SEV-SNP confidential VMs on Azure, attested through the paravisor's vTPM
//! (verifiers spec §2).
//!
//! The guest cannot ask the SNP firmware for a report with its own report data: Azure's
//! paravisor (HCL) does that at boot, with report data = SHA-256 of its runtime data, which
//! holds the vTPM attestation key (AK). Freshness and the guest's measurements come from a
//! TPM quote signed by that AK. [`verify`] checks the whole chain, in trust order:
//!
//! 1. the SNP report inside the HCL report, with the VCEK from the evidence, by
//!    [`snp::verify`]: VCEK chain to the embedded AMD roots and validity at
//!    `now`, hardware id and TCB, signature, VMPL 0;
//! 2. SNP `report_data[0..32]` = SHA-256(HCL runtime data): the AK is the paravisor's;
//! 3. the quote signature with that AK, and the reported PCRs against the signed digest;
//! 4. the quote nonce = the expected report data, exactly (spec §0.2);
//! 5. v2 only: HCL `user-data` = the expected report data (zero-padded to 64 bytes);
//! 6. init data: PCR8 = SHA-256(0^32 ‖ digest), a wrong-length digest being an error.
//!
//! The SNP report's own report-data and HOST_DATA bindings do not apply here: the paravisor
//! owns both, so they are not compared with the caller's values.
//!
//! Decisions where upstream differs or is silent (spec §14):
//! - the VCEK hardware id is compared with `chip_id` and every certificate's validity is
//!   checked at `now` (§14.1, §14.2; both inside `snp::verify`);
//! - a version 2 SNP report inside the HCL report is accepted (§14.3);
//! - a non-32-byte init-data digest is [`VtpmError::InitDataDigestLength`], not a panic
//!   (§14.4);
//! - claims keep upstream's string values and base64 `measurement` (§14.5), and like upstream
//!   carry no `chip_id`;
//! - report data is required ([`VtpmError::ReportDataRequired`]), as upstream: the quote nonce
//!   is the evidence's only freshness;
//! - v2 `user-data` must be the report data followed only by zero bytes; upstream checks the
//!   prefix alone.

mod claims;
mod evidence;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

pub use claims::AzSnpVtpmClaims;
pub use evidence::{AzSnpVtpmEvidence, EvidenceVersion};

use crate::snp::{self, AmdRoots, AttestationReport};
use crate::vtpm::{HclReportType, VtpmError};
use crate::{
    Clock, Error, InitDataHash, ReportData, SystemClock, TeeClass, TeeEvidenceClaims, Verifier,
};

/// Verifies `evidence` against the expected report data and init-data digest with the AMD
/// `roots` at `now` (Unix seconds); returns the claims on success, otherwise the failed check.
pub fn verify(
    evidence: &AzSnpVtpmEvidence,
    expected_report_data: &ReportData,
    expected_init_data_hash: &InitDataHash,
    roots: &AmdRoots,
    now: u64,
) -> Result<AzSnpVtpmClaims, Error> {
    let hcl = &evidence.hcl_report;
    if hcl.report_type() != HclReportType::Snp {
        return Err(VtpmError::Unsupported {
            field: "hcl report type for az-snp-vtpm",
            value: hcl.report_type().code(),
        }
        .into());
    }
    let report = AttestationReport::from_bytes(hcl.hardware_report())?;
    // The paravisor, not the caller, chose this report's report data and HOST_DATA: the
    // caller's values are bound through the quote and PCR8 below instead.
    let paravisor_bindings = snp::Expected {
        report_data: &ReportData::NotProvided,
        init_data_hash: &InitDataHash::NotProvided,
    };
    snp::verify(&report, &evidence.vcek_der, &paravisor_bindings, roots, now)?;
    hcl.check_runtime_data_binding(&report.report_data)?;

    let runtime = hcl.runtime_data()?;
    let quote = evidence.quote.verify(runtime.attestation_key())?;
    quote.check_nonce(expected_report_data)?;
    if evidence.version == EvidenceVersion::V2 {
        runtime.check_user_data(expected_report_data)?;
    }
    quote.check_init_data(expected_init_data_hash)?;
    Ok(AzSnpVtpmClaims::new(&report, &quote))
}

/// The `az-snp-vtpm` [`Verifier`]. Needs no collateral: the VCEK travels in the evidence and
/// the AMD roots are compiled in.
#[derive(Debug, Clone)]
pub struct AzSnpVtpm {
    clock: Arc<dyn Clock>,
}

impl AzSnpVtpm {
    /// A verifier that reads the verification time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock }
    }
}

impl Default for AzSnpVtpm {
    /// Verifies at the system time.
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

#[async_trait]
impl Verifier for AzSnpVtpm {
    async fn evaluate(
        &self,
        evidence: &Value,
        expected_report_data: &ReportData,
        expected_init_data_hash: &InitDataHash,
    ) -> Result<Vec<(TeeEvidenceClaims, TeeClass)>, Error> {
        let evidence = AzSnpVtpmEvidence::from_json(evidence)?;
        let roots = AmdRoots::embedded()?;
        let now = self.clock.now();
        let claims = verify(
            &evidence,
            expected_report_data,
            expected_init_data_hash,
            roots,
            now,
        )?;
        Ok(vec![(
            TeeEvidenceClaims::from_serialize(&claims)?,
            TeeClass::Cpu,
        )])
    }
}

#[cfg(test)]
mod tests;
