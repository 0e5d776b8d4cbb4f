//! The SEV-SNP attestation report (SEV-SNP Firmware ABI specification, table
//! "ATTESTATION_REPORT Structure"), parsed from the 1184-byte ABI layout or from the guest's
//! JSON (the `sev` 7.x serde form, verifiers spec §1.1).
//!
//! The JSON form carries no reserved bytes, so it is re-encoded once into the ABI layout
//! (reserved bytes zero): the signature covers the ABI bytes, never the JSON. Every typed field
//! is then decoded from those bytes, so the two entry points cannot disagree.

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::SnpError;

/// Size of an attestation report in the ABI layout.
pub const REPORT_LEN: usize = 0x4A0;

/// End of the signed part: the signature covers bytes `0x000..0x2A0`.
pub const SIGNED_LEN: usize = 0x2A0;

/// Report versions this verifier accepts. Version 2 has no CPUID fields; it is still
/// accepted (upstream refuses it, spec §14.3) because the generation can be taken from the
/// VEK's issuer, and v2 reports are common (e.g. inside Azure HCL reports).
const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u32> = 2..=5;

/// `SIG_ALGO` value for ECDSA P-384 with SHA-384, the only algorithm defined by the ABI.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// Byte offsets of the ABI layout (ATTESTATION_REPORT table). Each field's end is checked
/// against the next field's start at compile time, so a typo in an offset does not build.
mod layout {
    pub const VERSION: usize = 0x000;
    pub const GUEST_SVN: usize = 0x004;
    pub const POLICY: usize = 0x008;
    pub const FAMILY_ID: usize = 0x010;
    pub const IMAGE_ID: usize = 0x020;
    pub const VMPL: usize = 0x030;
    pub const SIG_ALGO: usize = 0x034;
    pub const CURRENT_TCB: usize = 0x038;
    pub const PLAT_INFO: usize = 0x040;
    pub const KEY_INFO: usize = 0x048;
    pub const REPORT_DATA: usize = 0x050;
    pub const MEASUREMENT: usize = 0x090;
    pub const HOST_DATA: usize = 0x0C0;
    pub const ID_KEY_DIGEST: usize = 0x0E0;
    pub const AUTHOR_KEY_DIGEST: usize = 0x110;
    pub const REPORT_ID: usize = 0x140;
    pub const REPORT_ID_MA: usize = 0x160;
    pub const REPORTED_TCB: usize = 0x180;
    pub const CPUID_FAM_ID: usize = 0x188;
    pub const CPUID_MOD_ID: usize = 0x189;
    pub const CPUID_STEP: usize = 0x18A;
    pub const CHIP_ID: usize = 0x1A0;
    pub const COMMITTED_TCB: usize = 0x1E0;
    pub const CURRENT_VERSION: usize = 0x1E8;
    pub const COMMITTED_VERSION: usize = 0x1EC;
    pub const LAUNCH_TCB: usize = 0x1F0;
    pub const LAUNCH_MIT_VECTOR: usize = 0x1F8;
    pub const CURRENT_MIT_VECTOR: usize = 0x200;
    pub const SIGNATURE_R: usize = 0x2A0;
    pub const SIGNATURE_S: usize = 0x2E8;

    const _: () = {
        assert!(GUEST_SVN == VERSION + 4);
        assert!(POLICY == GUEST_SVN + 4);
        assert!(FAMILY_ID == POLICY + 8);
        assert!(IMAGE_ID == FAMILY_ID + 16);
        assert!(VMPL == IMAGE_ID + 16);
        assert!(SIG_ALGO == VMPL + 4);
        assert!(CURRENT_TCB == SIG_ALGO + 4);
        assert!(PLAT_INFO == CURRENT_TCB + 8);
        assert!(KEY_INFO == PLAT_INFO + 8);
        // 4 reserved bytes after KEY_INFO.
        assert!(REPORT_DATA == KEY_INFO + 8);
        assert!(MEASUREMENT == REPORT_DATA + 64);
        assert!(HOST_DATA == MEASUREMENT + 48);
        assert!(ID_KEY_DIGEST == HOST_DATA + 32);
        assert!(AUTHOR_KEY_DIGEST == ID_KEY_DIGEST + 48);
        assert!(REPORT_ID == AUTHOR_KEY_DIGEST + 48);
        assert!(REPORT_ID_MA == REPORT_ID + 32);
        assert!(REPORTED_TCB == REPORT_ID_MA + 32);
        assert!(CPUID_FAM_ID == REPORTED_TCB + 8);
        // 0x18B..0x1A0 reserved.
        assert!(CHIP_ID == 0x1A0);
        assert!(COMMITTED_TCB == CHIP_ID + 64);
        assert!(CURRENT_VERSION == COMMITTED_TCB + 8);
        assert!(COMMITTED_VERSION == CURRENT_VERSION + 4);
        assert!(LAUNCH_TCB == COMMITTED_VERSION + 4);
        assert!(LAUNCH_MIT_VECTOR == LAUNCH_TCB + 8);
        assert!(CURRENT_MIT_VECTOR == LAUNCH_MIT_VECTOR + 8);
        // 0x208..0x2A0 reserved.
        assert!(SIGNATURE_R == super::SIGNED_LEN);
        assert!(SIGNATURE_S == SIGNATURE_R + 72);
        // 0x330..0x4A0: the rest of the 512-byte signature area, reserved.
        assert!(SIGNATURE_S + 72 <= super::REPORT_LEN);
    };
}

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
    /// Every product this crate has roots for.
    pub const ALL: [Product; 3] = [Product::Milan, Product::Genoa, Product::Turin];

    /// The name AMD's KDS uses in its URLs and certificate names (`Milan`, `Genoa`, `Turin`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Milan => "Milan",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }

    /// The generation of a CPU by its CPUID family and model (spec §1.2 step 2).
    pub fn from_cpuid(family: u8, model: u8) -> Option<Self> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Self::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Self::Genoa),
            (0x1A, 0x00..=0x11) => Some(Self::Turin),
            _ => None,
        }
    }

    /// How many leading bytes of `chip_id` identify the chip: Turin VCEKs and KDS URLs use
    /// an 8-byte hardware id, earlier generations all 64 bytes.
    pub fn hwid_len(self) -> usize {
        match self {
            Self::Turin => 8,
            Self::Milan | Self::Genoa => 64,
        }
    }
}

impl std::fmt::Display for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A TCB version: the security patch levels (SPLs) of the firmware components.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
pub struct TcbVersion {
    /// FMC SPL (Turin and later only; `None` before).
    #[serde(default)]
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

impl TcbVersion {
    /// Decodes a TCB_VERSION: Milan/Genoa `[bl, tee, 0,0,0,0, snp, ucode]`, Turin
    /// `[fmc, bl, tee, snp, 0,0,0, ucode]`.
    fn decode(raw: [u8; 8], turin: bool) -> Self {
        let [b0, b1, b2, b3, _, _, b6, b7] = raw;
        if turin {
            Self {
                fmc: Some(b0),
                bootloader: b1,
                tee: b2,
                snp: b3,
                microcode: b7,
            }
        } else {
            Self {
                fmc: None,
                bootloader: b0,
                tee: b1,
                snp: b6,
                microcode: b7,
            }
        }
    }

    /// Encodes into the layout of the generation; an FMC value only exists on Turin.
    fn encode(&self, turin: bool, field: &'static str) -> Result<[u8; 8], SnpError> {
        match (turin, self.fmc) {
            (true, Some(fmc)) => Ok([
                fmc,
                self.bootloader,
                self.tee,
                self.snp,
                0,
                0,
                0,
                self.microcode,
            ]),
            (false, None) => Ok([
                self.bootloader,
                self.tee,
                0,
                0,
                0,
                0,
                self.snp,
                self.microcode,
            ]),
            _ => Err(SnpError::ReportField { field }),
        }
    }
}

/// A firmware version as the report packs it: build, minor, major.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
pub struct FirmwareVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Build number.
    pub build: u8,
}

/// The guest policy (ABI table "Guest Policy Structure").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuestPolicy(pub u64);

impl GuestPolicy {
    /// Minimum ABI minor version required for this guest (bits 7:0).
    pub fn abi_minor(self) -> u8 {
        self.0.to_le_bytes()[0]
    }
    /// Minimum ABI major version required for this guest (bits 15:8).
    pub fn abi_major(self) -> u8 {
        self.0.to_le_bytes()[1]
    }
    /// SMT is allowed (bit 16).
    pub fn smt_allowed(self) -> bool {
        self.bit(16)
    }
    /// Association with a migration agent is allowed (bit 18).
    pub fn migrate_ma_allowed(self) -> bool {
        self.bit(18)
    }
    /// Debugging is allowed (bit 19): the hypervisor can read guest memory.
    pub fn debug_allowed(self) -> bool {
        self.bit(19)
    }
    /// The guest may run on one socket only (bit 20).
    pub fn single_socket_required(self) -> bool {
        self.bit(20)
    }
    fn bit(self, n: u32) -> bool {
        self.0 >> n & 1 == 1
    }
}

/// Platform information (ABI table "PLATFORM_INFO Field").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlatformInfo(pub u64);

impl PlatformInfo {
    /// SMT is enabled in the system (bit 0).
    pub fn smt_enabled(self) -> bool {
        self.0 & 1 == 1
    }
    /// Transparent SME is enabled (bit 1).
    pub fn tsme_enabled(self) -> bool {
        self.0 >> 1 & 1 == 1
    }
}

/// Which key signed the report (`KEY_INFO.SIGNING_KEY`, bits 4:2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningKey {
    /// The chip-unique VCEK.
    Vcek,
    /// A cloud provider's VLEK.
    Vlek,
    /// No key: the report is unsigned.
    None,
    /// A reserved value.
    Reserved(u8),
}

/// Key information (ABI table "KEY_INFO Field").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyInfo(pub u32);

impl KeyInfo {
    /// The key that signed the report.
    pub fn signing_key(self) -> SigningKey {
        let value = self.0.to_le_bytes()[0] >> 2 & 0b111;
        match value {
            0 => SigningKey::Vcek,
            1 => SigningKey::Vlek,
            7 => SigningKey::None,
            other => SigningKey::Reserved(other),
        }
    }
    /// The chip key was masked: the signature is all zero (bit 1).
    pub fn mask_chip_key(self) -> bool {
        self.0 >> 1 & 1 == 1
    }
}

/// CPUID family, model and stepping of the chip (report version 3 and newer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cpuid {
    /// Combined family (base + extended), e.g. 0x19.
    pub family: u8,
    /// Combined model, e.g. 0xA0.
    pub model: u8,
    /// Stepping.
    pub stepping: u8,
}

/// A parsed attestation report, with the ABI bytes its signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationReport {
    raw: Box<[u8; REPORT_LEN]>,
    /// Report format version (2..=5 accepted).
    pub version: u32,
    /// Guest SVN.
    pub guest_svn: u32,
    /// The guest policy.
    pub policy: GuestPolicy,
    /// Family ID supplied at launch.
    pub family_id: [u8; 16],
    /// Image ID supplied at launch.
    pub image_id: [u8; 16],
    /// The VMPL the report was requested from.
    pub vmpl: u32,
    /// Signature algorithm (1 = ECDSA P-384 / SHA-384).
    pub sig_algo: u32,
    /// The current TCB.
    pub current_tcb: TcbVersion,
    /// Platform information.
    pub plat_info: PlatformInfo,
    /// Key information.
    pub key_info: KeyInfo,
    /// Guest-supplied report data.
    pub report_data: [u8; 64],
    /// The launch measurement.
    pub measurement: [u8; 48],
    /// Host-supplied data (init-data binding).
    pub host_data: [u8; 32],
    /// SHA-384 of the ID public key.
    pub id_key_digest: [u8; 48],
    /// SHA-384 of the author public key.
    pub author_key_digest: [u8; 48],
    /// Report ID of this guest.
    pub report_id: [u8; 32],
    /// Report ID of the migration agent.
    pub report_id_ma: [u8; 32],
    /// The TCB the VEK was derived from.
    pub reported_tcb: TcbVersion,
    /// CPUID family/model/stepping (version 3 and newer).
    pub cpuid: Option<Cpuid>,
    /// The chip identifier (all zero when masked by the platform's MASK_CHIP_ID).
    pub chip_id: [u8; 64],
    /// The committed TCB.
    pub committed_tcb: TcbVersion,
    /// Current firmware version.
    pub current: FirmwareVersion,
    /// Committed firmware version.
    pub committed: FirmwareVersion,
    /// TCB at launch.
    pub launch_tcb: TcbVersion,
    /// Mitigation vector at launch (version 5 and newer).
    pub launch_mit_vector: Option<u64>,
    /// Current mitigation vector (version 5 and newer).
    pub current_mit_vector: Option<u64>,
}

impl AttestationReport {
    /// Parses the 1184-byte ABI layout. The length must be exact.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SnpError> {
        let raw: [u8; REPORT_LEN] = bytes
            .try_into()
            .map_err(|_| SnpError::ReportLength { len: bytes.len() })?;
        Self::decode(Box::new(raw))
    }

    /// Parses the guest's JSON form (`attestation_report` of the evidence) and re-encodes it to
    /// the ABI layout.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, SnpError> {
        let json = ReportJson::deserialize(value).map_err(|err| SnpError::ReportJson {
            reason: err.to_string(),
        })?;
        Self::decode(json.encode()?)
    }

    /// The ABI bytes (what the signature covers, plus the signature).
    pub fn as_bytes(&self) -> &[u8; REPORT_LEN] {
        &self.raw
    }

    /// The signed part of the report, bytes `0x000..0x2A0`.
    pub fn signed_bytes(&self) -> &[u8] {
        let (signed, _) = self.raw.split_at(SIGNED_LEN);
        signed
    }

    /// The signature as big-endian `r || s` (48 bytes each), or `None` when the little-endian
    /// 72-byte fields carry a value wider than 384 bits.
    pub fn signature_fixed(&self) -> Option<[u8; 96]> {
        let r: [u8; 72] = array::<{ layout::SIGNATURE_R }, 72>(&self.raw);
        let s: [u8; 72] = array::<{ layout::SIGNATURE_S }, 72>(&self.raw);
        let mut out = [0u8; 96];
        let (out_r, out_s) = out.split_at_mut(48);
        for (component, dest) in [(&r, out_r), (&s, out_s)] {
            let (value, high) = component.split_at(48);
            if high.iter().any(|&b| b != 0) {
                return None;
            }
            for (d, v) in dest.iter_mut().zip(value.iter().rev()) {
                *d = *v;
            }
        }
        Some(out)
    }

    /// The generation named by the CPUID fields (version 3 and newer), if any.
    pub fn product(&self) -> Result<Option<Product>, SnpError> {
        match self.cpuid {
            None => Ok(None),
            Some(cpuid) => Product::from_cpuid(cpuid.family, cpuid.model)
                .map(Some)
                .ok_or(SnpError::UnknownProduct {
                    family: cpuid.family,
                    model: cpuid.model,
                }),
        }
    }

    /// Decodes the typed fields from the ABI bytes.
    fn decode(raw: Box<[u8; REPORT_LEN]>) -> Result<Self, SnpError> {
        let version = u32::from_le_bytes(array::<{ layout::VERSION }, 4>(&raw));
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(SnpError::UnsupportedVersion { version });
        }
        let cpuid = (version >= 3).then(|| Cpuid {
            family: byte::<{ layout::CPUID_FAM_ID }>(&raw),
            model: byte::<{ layout::CPUID_MOD_ID }>(&raw),
            stepping: byte::<{ layout::CPUID_STEP }>(&raw),
        });
        // Only the CPUID fields can say "Turin"; a v2 report predates Turin.
        let turin =
            cpuid.and_then(|c| Product::from_cpuid(c.family, c.model)) == Some(Product::Turin);
        let firmware = |[build, minor, major, _]: [u8; 4]| FirmwareVersion {
            major,
            minor,
            build,
        };
        let mit = |value: u64| (version >= 5).then_some(value);
        Ok(Self {
            version,
            guest_svn: u32::from_le_bytes(array::<{ layout::GUEST_SVN }, 4>(&raw)),
            policy: GuestPolicy(u64::from_le_bytes(array::<{ layout::POLICY }, 8>(&raw))),
            family_id: array::<{ layout::FAMILY_ID }, 16>(&raw),
            image_id: array::<{ layout::IMAGE_ID }, 16>(&raw),
            vmpl: u32::from_le_bytes(array::<{ layout::VMPL }, 4>(&raw)),
            sig_algo: u32::from_le_bytes(array::<{ layout::SIG_ALGO }, 4>(&raw)),
            current_tcb: TcbVersion::decode(array::<{ layout::CURRENT_TCB }, 8>(&raw), turin),
            plat_info: PlatformInfo(u64::from_le_bytes(array::<{ layout::PLAT_INFO }, 8>(&raw))),
            key_info: KeyInfo(u32::from_le_bytes(array::<{ layout::KEY_INFO }, 4>(&raw))),
            report_data: array::<{ layout::REPORT_DATA }, 64>(&raw),
            measurement: array::<{ layout::MEASUREMENT }, 48>(&raw),
            host_data: array::<{ layout::HOST_DATA }, 32>(&raw),
            id_key_digest: array::<{ layout::ID_KEY_DIGEST }, 48>(&raw),
            author_key_digest: array::<{ layout::AUTHOR_KEY_DIGEST }, 48>(&raw),
            report_id: array::<{ layout::REPORT_ID }, 32>(&raw),
            report_id_ma: array::<{ layout::REPORT_ID_MA }, 32>(&raw),
            reported_tcb: TcbVersion::decode(array::<{ layout::REPORTED_TCB }, 8>(&raw), turin),
            cpuid,
            chip_id: array::<{ layout::CHIP_ID }, 64>(&raw),
            committed_tcb: TcbVersion::decode(array::<{ layout::COMMITTED_TCB }, 8>(&raw), turin),
            current: firmware(array::<{ layout::CURRENT_VERSION }, 4>(&raw)),
            committed: firmware(array::<{ layout::COMMITTED_VERSION }, 4>(&raw)),
            launch_tcb: TcbVersion::decode(array::<{ layout::LAUNCH_TCB }, 8>(&raw), turin),
            launch_mit_vector: mit(u64::from_le_bytes(
                array::<{ layout::LAUNCH_MIT_VECTOR }, 8>(&raw),
            )),
            current_mit_vector: mit(u64::from_le_bytes(
                array::<{ layout::CURRENT_MIT_VECTOR }, 8>(&raw),
            )),
            raw,
        })
    }
}

/// Copies `N` bytes at `OFFSET`; the bounds are proven when the function is instantiated, so
/// the slice below can never be out of range.
fn array<const OFFSET: usize, const N: usize>(raw: &[u8; REPORT_LEN]) -> [u8; N] {
    const { assert!(OFFSET + N <= REPORT_LEN) };
    let mut out = [0u8; N];
    out.copy_from_slice(&raw[OFFSET..OFFSET + N]);
    out
}

/// The byte at `OFFSET`, bounds proven at compile time.
fn byte<const OFFSET: usize>(raw: &[u8; REPORT_LEN]) -> u8 {
    let [b] = array::<OFFSET, 1>(raw);
    b
}

/// Writes `value` at `OFFSET`, bounds proven at compile time.
fn put<const OFFSET: usize, const N: usize>(raw: &mut [u8; REPORT_LEN], value: &[u8; N]) {
    const { assert!(OFFSET + N <= REPORT_LEN) };
    raw[OFFSET..OFFSET + N].copy_from_slice(value);
}

/// The `sev` 7.x serde form of the report, field for field (spec §1.1). Unknown members are
/// ignored, as upstream's serde does; anything they could change is covered by the signature.
#[derive(Debug, Deserialize)]
struct ReportJson {
    version: u32,
    guest_svn: u32,
    policy: u64,
    family_id: [u8; 16],
    image_id: [u8; 16],
    vmpl: u32,
    sig_algo: u32,
    current_tcb: TcbVersion,
    plat_info: u64,
    key_info: u32,
    #[serde(deserialize_with = "byte_array")]
    report_data: [u8; 64],
    #[serde(deserialize_with = "byte_array")]
    measurement: [u8; 48],
    host_data: [u8; 32],
    #[serde(deserialize_with = "byte_array")]
    id_key_digest: [u8; 48],
    #[serde(deserialize_with = "byte_array")]
    author_key_digest: [u8; 48],
    report_id: [u8; 32],
    report_id_ma: [u8; 32],
    reported_tcb: TcbVersion,
    #[serde(default)]
    cpuid_fam_id: Option<u8>,
    #[serde(default)]
    cpuid_mod_id: Option<u8>,
    #[serde(default)]
    cpuid_step: Option<u8>,
    #[serde(deserialize_with = "byte_array")]
    chip_id: [u8; 64],
    committed_tcb: TcbVersion,
    current: FirmwareVersion,
    committed: FirmwareVersion,
    launch_tcb: TcbVersion,
    // Older `sev` versions omit the v5 members entirely (trustee's e2e evidence).
    #[serde(default)]
    launch_mit_vector: Option<u64>,
    #[serde(default)]
    current_mit_vector: Option<u64>,
    signature: SignatureJson,
}

#[derive(Debug, Deserialize)]
struct SignatureJson {
    #[serde(deserialize_with = "byte_array")]
    r: [u8; 72],
    #[serde(deserialize_with = "byte_array")]
    s: [u8; 72],
}

impl ReportJson {
    /// Re-encodes into the ABI layout, reserved bytes zero.
    fn encode(&self) -> Result<Box<[u8; REPORT_LEN]>, SnpError> {
        if !SUPPORTED_VERSIONS.contains(&self.version) {
            return Err(SnpError::UnsupportedVersion {
                version: self.version,
            });
        }
        let mut raw = Box::new([0u8; REPORT_LEN]);
        let cpuid = match (self.cpuid_fam_id, self.cpuid_mod_id, self.cpuid_step) {
            (Some(family), Some(model), Some(stepping)) if self.version >= 3 => {
                Some((family, model, stepping))
            }
            (None, None, None) if self.version < 3 => None,
            _ => return Err(SnpError::ReportField { field: "cpuid" }),
        };
        let turin = cpuid.and_then(|(f, m, _)| Product::from_cpuid(f, m)) == Some(Product::Turin);
        let mit = match (
            self.version >= 5,
            self.launch_mit_vector,
            self.current_mit_vector,
        ) {
            (true, Some(launch), Some(current)) => Some((launch, current)),
            // Before v5 the bytes are reserved: a value other than zero cannot be encoded.
            (false, None | Some(0), None | Some(0)) => None,
            _ => {
                return Err(SnpError::ReportField {
                    field: "mit_vector",
                });
            }
        };

        put::<{ layout::VERSION }, 4>(&mut raw, &self.version.to_le_bytes());
        put::<{ layout::GUEST_SVN }, 4>(&mut raw, &self.guest_svn.to_le_bytes());
        put::<{ layout::POLICY }, 8>(&mut raw, &self.policy.to_le_bytes());
        put::<{ layout::FAMILY_ID }, 16>(&mut raw, &self.family_id);
        put::<{ layout::IMAGE_ID }, 16>(&mut raw, &self.image_id);
        put::<{ layout::VMPL }, 4>(&mut raw, &self.vmpl.to_le_bytes());
        put::<{ layout::SIG_ALGO }, 4>(&mut raw, &self.sig_algo.to_le_bytes());
        put::<{ layout::CURRENT_TCB }, 8>(
            &mut raw,
            &self.current_tcb.encode(turin, "current_tcb")?,
        );
        put::<{ layout::PLAT_INFO }, 8>(&mut raw, &self.plat_info.to_le_bytes());
        put::<{ layout::KEY_INFO }, 4>(&mut raw, &self.key_info.to_le_bytes());
        put::<{ layout::REPORT_DATA }, 64>(&mut raw, &self.report_data);
        put::<{ layout::MEASUREMENT }, 48>(&mut raw, &self.measurement);
        put::<{ layout::HOST_DATA }, 32>(&mut raw, &self.host_data);
        put::<{ layout::ID_KEY_DIGEST }, 48>(&mut raw, &self.id_key_digest);
        put::<{ layout::AUTHOR_KEY_DIGEST }, 48>(&mut raw, &self.author_key_digest);
        put::<{ layout::REPORT_ID }, 32>(&mut raw, &self.report_id);
        put::<{ layout::REPORT_ID_MA }, 32>(&mut raw, &self.report_id_ma);
        put::<{ layout::REPORTED_TCB }, 8>(
            &mut raw,
            &self.reported_tcb.encode(turin, "reported_tcb")?,
        );
        if let Some((family, model, stepping)) = cpuid {
            put::<{ layout::CPUID_FAM_ID }, 3>(&mut raw, &[family, model, stepping]);
        }
        put::<{ layout::CHIP_ID }, 64>(&mut raw, &self.chip_id);
        put::<{ layout::COMMITTED_TCB }, 8>(
            &mut raw,
            &self.committed_tcb.encode(turin, "committed_tcb")?,
        );
        let firmware = |v: &FirmwareVersion| [v.build, v.minor, v.major, 0];
        put::<{ layout::CURRENT_VERSION }, 4>(&mut raw, &firmware(&self.current));
        put::<{ layout::COMMITTED_VERSION }, 4>(&mut raw, &firmware(&self.committed));
        put::<{ layout::LAUNCH_TCB }, 8>(&mut raw, &self.launch_tcb.encode(turin, "launch_tcb")?);
        if let Some((launch, current)) = mit {
            put::<{ layout::LAUNCH_MIT_VECTOR }, 8>(&mut raw, &launch.to_le_bytes());
            put::<{ layout::CURRENT_MIT_VECTOR }, 8>(&mut raw, &current.to_le_bytes());
        }
        put::<{ layout::SIGNATURE_R }, 72>(&mut raw, &self.signature.r);
        put::<{ layout::SIGNATURE_S }, 72>(&mut raw, &self.signature.s);
        Ok(raw)
    }
}

/// Deserialises a JSON array of exactly `N` numbers into `[u8; N]` without allocating (serde
/// derives arrays only up to 32 elements).
fn byte_array<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
) -> Result<[u8; N], D::Error> {
    struct ArrayVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "an array of {N} bytes")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            if seq.next_element::<de::IgnoredAny>()?.is_some() {
                return Err(de::Error::invalid_length(N + 1, &self));
            }
            Ok(out)
        }
    }

    deserializer.deserialize_seq(ArrayVisitor::<N>)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn e2e_report_json() -> serde_json::Value {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/testdata/evidence/snp/e2e/evidence.json");
        let evidence: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        evidence["attestation_report"].clone()
    }

    #[test]
    fn product_from_cpuid_follows_amd_model_ranges() {
        let cases = [
            (0x19, 0x00, Some(Product::Milan)),
            (0x19, 0x0F, Some(Product::Milan)),
            (0x19, 0x10, Some(Product::Genoa)),
            (0x19, 0x1F, Some(Product::Genoa)),
            (0x19, 0xA0, Some(Product::Genoa)),
            (0x19, 0xAF, Some(Product::Genoa)),
            (0x19, 0x20, None),
            (0x19, 0xB0, None),
            (0x1A, 0x00, Some(Product::Turin)),
            (0x1A, 0x11, Some(Product::Turin)),
            (0x1A, 0x12, None),
            (0x17, 0x31, None),
        ];
        for (family, model, product) in cases {
            assert_eq!(
                Product::from_cpuid(family, model),
                product,
                "{family:#x}/{model:#x}"
            );
        }
    }

    #[test]
    fn tcb_layouts_differ_between_generations() {
        let tcb = TcbVersion {
            fmc: None,
            bootloader: 1,
            tee: 2,
            snp: 3,
            microcode: 4,
        };
        let milan = tcb.encode(false, "t").unwrap();
        assert_eq!(milan, [1, 2, 0, 0, 0, 0, 3, 4]);
        assert_eq!(TcbVersion::decode(milan, false), tcb);
        let turin_tcb = TcbVersion {
            fmc: Some(9),
            ..tcb
        };
        let turin = turin_tcb.encode(true, "t").unwrap();
        assert_eq!(turin, [9, 1, 2, 3, 0, 0, 0, 4]);
        assert_eq!(TcbVersion::decode(turin, true), turin_tcb);
        assert!(tcb.encode(true, "t").is_err());
        assert!(turin_tcb.encode(false, "t").is_err());
    }

    #[test]
    fn turin_v5_report_round_trips_through_the_abi_layout() {
        let mut json = e2e_report_json();
        json["version"] = json!(5);
        json["cpuid_fam_id"] = json!(0x1A);
        json["cpuid_mod_id"] = json!(0x02);
        for field in ["current_tcb", "reported_tcb", "committed_tcb", "launch_tcb"] {
            json[field]["fmc"] = json!(7);
        }
        json["launch_mit_vector"] = json!(0x0102);
        json["current_mit_vector"] = json!(0x0304);
        let report = AttestationReport::from_json(&json).unwrap();
        assert_eq!(report.product(), Ok(Some(Product::Turin)));
        assert_eq!(report.reported_tcb.fmc, Some(7));
        assert_eq!(report.reported_tcb.snp, 23);
        let raw = report.as_bytes();
        assert_eq!(raw[0x180..0x188], [7, 10, 0, 23, 0, 0, 0, 25]);
        assert_eq!(raw[0x1F8..0x200], 0x0102u64.to_le_bytes());
        assert_eq!(report.launch_mit_vector, Some(0x0102));
        assert_eq!(report.current_mit_vector, Some(0x0304));
        assert_eq!(AttestationReport::from_bytes(raw).unwrap(), report);

        json["launch_mit_vector"] = serde_json::Value::Null;
        assert_eq!(
            AttestationReport::from_json(&json),
            Err(SnpError::ReportField {
                field: "mit_vector"
            })
        );
    }

    #[test]
    fn guest_policy_and_platform_bits() {
        // ABI 0.31, SMT allowed, reserved bit 17 set (test-report's policy).
        let policy = GuestPolicy(0x3001F);
        assert_eq!((policy.abi_major(), policy.abi_minor()), (0, 31));
        assert!(policy.smt_allowed());
        assert!(!policy.migrate_ma_allowed());
        assert!(!policy.debug_allowed());
        assert!(!policy.single_socket_required());
        let all = GuestPolicy(1 << 18 | 1 << 19 | 1 << 20 | 0x0102);
        assert_eq!((all.abi_major(), all.abi_minor()), (1, 2));
        assert!(!all.smt_allowed());
        assert!(all.migrate_ma_allowed());
        assert!(all.debug_allowed());
        assert!(all.single_socket_required());

        assert!(PlatformInfo(0b01).smt_enabled());
        assert!(!PlatformInfo(0b01).tsme_enabled());
        assert!(PlatformInfo(0b10).tsme_enabled());

        assert_eq!(KeyInfo(0).signing_key(), SigningKey::Vcek);
        assert_eq!(KeyInfo(0b100).signing_key(), SigningKey::Vlek);
        assert_eq!(KeyInfo(0b11100).signing_key(), SigningKey::None);
        assert_eq!(KeyInfo(0b01000).signing_key(), SigningKey::Reserved(2));
        assert!(KeyInfo(0b10).mask_chip_key());
    }

    #[test]
    fn signature_is_converted_from_little_endian() {
        let mut json = e2e_report_json();
        let mut r = vec![0u8; 72];
        r[0] = 0x01; // least significant
        r[47] = 0xAA; // most significant
        json["signature"]["r"] = json!(r);
        let report = AttestationReport::from_json(&json).unwrap();
        let fixed = report.signature_fixed().unwrap();
        assert_eq!(fixed[0], 0xAA);
        assert_eq!(fixed[47], 0x01);
    }
}
