//! The claims of a verified SEV-SNP report, with upstream's names and encodings (verifiers
//! spec §1.3): integers and booleans as JSON numbers and booleans, byte fields as lower-case
//! hex. The default CPU policy reads `input.snp.<name>`, so a renamed field breaks appraisal.

use serde::Serialize;

use super::report::AttestationReport;

/// Claims about a verified SEV-SNP guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnpClaims {
    /// Guest policy: minimum ABI major version.
    pub policy_abi_major: u8,
    /// Guest policy: minimum ABI minor version.
    pub policy_abi_minor: u8,
    /// Guest policy: SMT allowed.
    pub policy_smt_allowed: bool,
    /// Guest policy: association with a migration agent allowed.
    pub policy_migrate_ma: bool,
    /// Guest policy: debugging allowed (the host can read guest memory).
    pub policy_debug_allowed: bool,
    /// Guest policy: single socket required.
    pub policy_single_socket: bool,
    /// `reported_tcb` bootloader SPL.
    pub reported_tcb_bootloader: u8,
    /// `reported_tcb` PSP OS (TEE) SPL.
    pub reported_tcb_tee: u8,
    /// `reported_tcb` SNP firmware SPL.
    pub reported_tcb_snp: u8,
    /// `reported_tcb` microcode SPL.
    pub reported_tcb_microcode: u8,
    /// Platform: transparent SME enabled.
    pub platform_tsme_enabled: bool,
    /// Platform: SMT enabled.
    pub platform_smt_enabled: bool,
    /// Launch measurement (hex).
    pub measurement: String,
    /// Report data, all 64 bytes (hex).
    pub report_data: String,
    /// HOST_DATA, where the host places the init-data digest (hex).
    pub init_data: String,
    /// Chip id (hex; all zero when the platform masks it).
    pub chip_id: String,
}

impl SnpClaims {
    /// The claims of `report`. Call only on a report whose checks passed.
    pub fn from_report(report: &AttestationReport) -> Self {
        let policy = report.policy;
        let tcb = &report.reported_tcb;
        Self {
            policy_abi_major: policy.abi_major(),
            policy_abi_minor: policy.abi_minor(),
            policy_smt_allowed: policy.smt_allowed(),
            policy_migrate_ma: policy.migrate_ma_allowed(),
            policy_debug_allowed: policy.debug_allowed(),
            policy_single_socket: policy.single_socket_required(),
            reported_tcb_bootloader: tcb.bootloader,
            reported_tcb_tee: tcb.tee,
            reported_tcb_snp: tcb.snp,
            reported_tcb_microcode: tcb.microcode,
            platform_tsme_enabled: report.plat_info.tsme_enabled(),
            platform_smt_enabled: report.plat_info.smt_enabled(),
            measurement: hex::encode(report.measurement),
            report_data: hex::encode(report.report_data),
            init_data: hex::encode(report.host_data),
            chip_id: hex::encode(report.chip_id),
        }
    }
}
