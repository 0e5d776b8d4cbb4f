//! The SEV-SNP attestation report (SEV-SNP ABI spec, table "ATTESTATION_REPORT structure").

/// An AMD EPYC processor generation, which picks the trust anchors and the TCB encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// 3rd generation EPYC (family 0x19, models 0x00-0x0F).
    Milan,
    /// 4th generation EPYC (family 0x19, models 0x10-0x1F and 0xA0-0xAF).
    Genoa,
    /// 5th generation EPYC (family 0x1A, models 0x00-0x11).
    Turin,
}

impl Product {
    /// The name AMD's KDS uses in its URLs (`Milan`, `Genoa`, `Turin`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Milan => "Milan",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }
}

/// A TCB version: the security patch levels of the firmware components.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcbVersion {
    /// FMC (Turin and later only).
    pub fmc: Option<u8>,
    /// The PSP bootloader SPL.
    pub bootloader: u8,
    /// The PSP OS (TEE) SPL.
    pub tee: u8,
    /// The SNP firmware SPL.
    pub snp: u8,
    /// The CPU microcode SPL.
    pub microcode: u8,
}
