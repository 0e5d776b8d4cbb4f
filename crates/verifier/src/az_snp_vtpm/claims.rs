//! The claims of verified `az-snp-vtpm` evidence, with upstream's names and encodings
//! (verifiers spec §2.3): unlike `snp`, every value is a string (`"true"`, `"24"`), and
//! `measurement` is standard base64. The default CPU policy's `az-snp-vtpm` rules compare
//! these strings with reference values, so a changed encoding silently breaks appraisal.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use crate::snp::AttestationReport;
use crate::vtpm::VerifiedQuote;

/// Claims about a verified Azure SEV-SNP CVM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AzSnpVtpmClaims {
    /// Guest policy: minimum ABI major version.
    pub policy_abi_major: String,
    /// Guest policy: minimum ABI minor version.
    pub policy_abi_minor: String,
    /// Guest policy: SMT allowed (`"true"`/`"false"`).
    pub policy_smt_allowed: String,
    /// Guest policy: migration agent allowed.
    pub policy_migrate_ma: String,
    /// Guest policy: debugging allowed.
    pub policy_debug_allowed: String,
    /// Guest policy: single socket required.
    pub policy_single_socket: String,
    /// `reported_tcb` bootloader SPL.
    pub reported_tcb_bootloader: String,
    /// `reported_tcb` PSP OS (TEE) SPL.
    pub reported_tcb_tee: String,
    /// `reported_tcb` SNP firmware SPL.
    pub reported_tcb_snp: String,
    /// `reported_tcb` microcode SPL.
    pub reported_tcb_microcode: String,
    /// Platform: transparent SME enabled.
    pub platform_tsme_enabled: String,
    /// Platform: SMT enabled.
    pub platform_smt_enabled: String,
    /// Launch measurement, standard base64.
    pub measurement: String,
    /// The TPM quote's nonce (hex): the report data the evidence is bound to.
    pub report_data: String,
    /// PCR8 (hex), which carries the init-data digest.
    pub init_data: String,
    /// `pcr00` .. `pcr23` of the SHA-256 bank (hex).
    pub tpm: BTreeMap<String, String>,
}

impl AzSnpVtpmClaims {
    /// The claims of a verified SNP report and quote. Call only after every check passed.
    pub fn new(report: &AttestationReport, quote: &VerifiedQuote) -> Self {
        let policy = report.policy;
        let tcb = &report.reported_tcb;
        Self {
            policy_abi_major: policy.abi_major().to_string(),
            policy_abi_minor: policy.abi_minor().to_string(),
            policy_smt_allowed: policy.smt_allowed().to_string(),
            policy_migrate_ma: policy.migrate_ma_allowed().to_string(),
            policy_debug_allowed: policy.debug_allowed().to_string(),
            policy_single_socket: policy.single_socket_required().to_string(),
            reported_tcb_bootloader: tcb.bootloader.to_string(),
            reported_tcb_tee: tcb.tee.to_string(),
            reported_tcb_snp: tcb.snp.to_string(),
            reported_tcb_microcode: tcb.microcode.to_string(),
            platform_tsme_enabled: report.plat_info.tsme_enabled().to_string(),
            platform_smt_enabled: report.plat_info.smt_enabled().to_string(),
            measurement: STANDARD.encode(report.measurement),
            report_data: hex::encode(quote.nonce()),
            init_data: hex::encode(quote.init_data_pcr()),
            tpm: quote.pcr_claims(),
        }
    }
}
