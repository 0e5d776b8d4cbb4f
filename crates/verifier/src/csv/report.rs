//! The CSV attestation report: `TeeInfo` V1/V2 + signer block, padded to 4096 bytes
//! (verifiers spec §8.1), and its SM2 signature by the PEK.

use super::CsvError;
use super::cert::{ALGO_SM2_SA, CSV_CERT_LEN, RawSignature, SIGNATURE_LEN, USAGE_PEK};
use super::chain::VerifiedPek;
use super::reader::Reader;

/// Size of the `data` member: the firmware's report page.
pub const REPORT_PAGE_LEN: usize = 4096;

/// `magic` of an extension-aware report request.
pub const ATTESTATION_EXT_MAGIC: [u8; 16] = *b"ATTESTATION_EXT\0";

/// `flags` value selecting the extended (V2, RTMR) report.
const FLAG_EXT_U32: u32 = 1;

/// V1 `TeeInfo`: digest, vm id/version, report data, mnonce, measure, policy, sig usage/algo,
/// anonce, signature.
const TEE_INFO_V1_LEN: usize = 32 + 16 + 16 + 64 + 16 + 32 + 4 + 4 + 4 + 4 + SIGNATURE_LEN;
/// V1 signs `user_pubkey_digest ..= policy`, as stored (masked).
const TEE_INFO_V1_SIGNED_LEN: usize = 180;
/// V1 fields masked with `anonce`: everything before `anonce`.
const TEE_INFO_V1_MASKED_LEN: usize = 188;
/// V2 `TeeInfo`: V1's fields up to sig algo, build, rtmr version, reserved0, 5 RTMRs,
/// reserved1, signature.
const TEE_INFO_V2_SIGNED_LEN: usize =
    32 + 16 + 16 + 64 + 16 + 32 + 4 + 4 + 4 + 4 + 2 + 14 + 5 * RTMR_LEN + 656;
const TEE_INFO_V2_LEN: usize = TEE_INFO_V2_SIGNED_LEN + SIGNATURE_LEN;
/// Signer block: PEK certificate, chip serial, reserved, MAC.
const SIGNER_LEN: usize = CSV_CERT_LEN + 64 + 32 + 32;
/// Size of one RTMR (SM3 digest).
const RTMR_LEN: usize = 32;

const _: () = assert!(TEE_INFO_V1_LEN == 0x150);
const _: () = assert!(TEE_INFO_V2_SIGNED_LEN == 1024);
const _: () = assert!(TEE_INFO_V2_LEN == 0x490);
const _: () = assert!(TEE_INFO_V2_LEN + SIGNER_LEN <= REPORT_PAGE_LEN);

/// The report format, chosen by the wrapper's `magic` and `flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportVersion {
    /// Legacy report: fields masked with `anonce`.
    V1,
    /// Extended report (firmware API 1.4+): RTMRs, no masking.
    V2,
}

/// The guest policy bits (csv-rs `GuestPolicy`), claims `policy.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestPolicy(pub u32);

impl GuestPolicy {
    /// Bits `low..=high` of the policy.
    pub fn bits(self, low: u32, high: u32) -> u32 {
        let width = high.saturating_sub(low).saturating_add(1);
        let mask = 1u32.checked_shl(width).map_or(u32::MAX, |bit| bit - 1);
        self.0.checked_shr(low).unwrap_or(0) & mask
    }
}

/// Fields only an extended (V2) report carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedTeeInfo {
    /// Firmware build.
    pub build: u32,
    /// RTMR layout version.
    pub rtmr_version: u16,
    /// Reserved, reported as a claim as upstream does.
    pub reserved0: [u8; 14],
    /// RTMR0..RTMR4; RTMR0 equals `measure`.
    pub rtmrs: [[u8; RTMR_LEN]; 5],
    /// Reserved, reported as a claim as upstream does.
    pub reserved1: Vec<u8>,
}

/// The report's fields, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeeInfo {
    /// Report format.
    pub version: ReportVersion,
    /// Digest of the session key between guest owner and firmware.
    pub user_pubkey_digest: [u8; 32],
    /// Guest owner's VM id.
    pub vm_id: [u8; 16],
    /// Guest owner's VM version.
    pub vm_version: [u8; 16],
    /// Data the guest asked to be signed (the runtime-data hash, zero padded).
    pub report_data: [u8; 64],
    /// The guest's nonce for the report request (keys the signer block's MAC).
    pub mnonce: [u8; 16],
    /// Launch digest of the VM.
    pub measure: [u8; 32],
    /// Guest policy.
    pub policy: GuestPolicy,
    /// Usage of the signing key (the PEK's, 0x1002).
    pub sig_usage: u32,
    /// Signature algorithm (SM2, 4).
    pub sig_algo: u32,
    /// V1: the firmware's per-report mask; V2 has none.
    pub anonce: Option<u32>,
    /// V2 only.
    pub extended: Option<ExtendedTeeInfo>,
}

/// A parsed, not yet verified attestation report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationReport {
    tee_info: TeeInfo,
    /// The signed bytes exactly as the firmware wrote them (masked, for V1).
    signed: Vec<u8>,
    signature: RawSignature,
}

impl AttestationReport {
    /// Parses the wrapper members `magic`, `flags` and the 4096-byte `data` page.
    ///
    /// Accepted: zero magic with zero flags, or `ATTESTATION_EXT\0` with flags 0 (V1) or 1
    /// (V2). Anything else (e.g. V3 with host data) is refused rather than guessed at.
    pub fn parse(magic: &[u8; 16], flags: u32, data: &[u8]) -> Result<Self, CsvError> {
        let zero_magic = magic.iter().all(|&byte| byte == 0);
        let ext_magic = *magic == ATTESTATION_EXT_MAGIC;
        let version = match (zero_magic, ext_magic, flags) {
            (true, _, 0) | (_, true, 0) => ReportVersion::V1,
            (_, true, FLAG_EXT_U32) => ReportVersion::V2,
            _ => {
                return Err(CsvError::UnsupportedReport {
                    magic: hex::encode(magic),
                    flags,
                });
            }
        };
        if data.len() != REPORT_PAGE_LEN {
            return Err(if data.len() < REPORT_PAGE_LEN {
                CsvError::Truncated {
                    structure: "attestation report",
                }
            } else {
                CsvError::TrailingBytes {
                    structure: "attestation report",
                }
            });
        }
        let (tee_info_len, signed_len) = match version {
            ReportVersion::V1 => (TEE_INFO_V1_LEN, TEE_INFO_V1_SIGNED_LEN),
            ReportVersion::V2 => (TEE_INFO_V2_LEN, TEE_INFO_V2_SIGNED_LEN),
        };

        let mut page = Reader::new(data, "attestation report");
        let tee_info = page.take(tee_info_len)?;
        // The signer block (a copy of the PEK, the chip serial and a MAC keyed with `mnonce`)
        // is not covered by the signature; the attester already checked the MAC and restored
        // the block, so it carries nothing a remote verifier can check (see the module docs).
        page.take(SIGNER_LEN)?;
        page.take(REPORT_PAGE_LEN - tee_info_len - SIGNER_LEN)?;
        page.finish()?;

        let mut signed_reader = Reader::new(tee_info, "tee info");
        let signed = signed_reader.take(signed_len)?.to_vec();
        let tee_info = match version {
            ReportVersion::V1 => parse_v1(tee_info)?,
            ReportVersion::V2 => parse_v2(tee_info)?,
        };
        let signature = match version {
            ReportVersion::V1 => {
                // sig_usage, sig_algo and anonce lie between the signed part and the signature.
                signed_reader.take(TEE_INFO_V1_LEN - SIGNATURE_LEN - TEE_INFO_V1_SIGNED_LEN)?;
                RawSignature::parse(&mut signed_reader)?
            }
            ReportVersion::V2 => RawSignature::parse(&mut signed_reader)?,
        };
        signed_reader.finish()?;
        Ok(Self {
            tee_info,
            signed,
            signature,
        })
    }

    /// The report's fields, unmasked but unverified.
    pub fn tee_info(&self) -> &TeeInfo {
        &self.tee_info
    }
}

/// A report whose signature by a chain-verified PEK was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReport {
    tee_info: TeeInfo,
}

impl VerifiedReport {
    /// The verified fields.
    pub fn tee_info(&self) -> &TeeInfo {
        &self.tee_info
    }
}

/// Checks that the report names the PEK as its signer and that the PEK's SM2 signature (with
/// SM3 and the PEK's user id `HYGON-SSD-PEK`, spec §8.2) covers the report.
pub fn verify_report_signature(
    report: &AttestationReport,
    pek: &VerifiedPek,
) -> Result<VerifiedReport, CsvError> {
    let tee_info = &report.tee_info;
    if tee_info.sig_usage != USAGE_PEK {
        return Err(CsvError::WrongReportSigner {
            field: "sig_usage",
            found: tee_info.sig_usage,
            expected: USAGE_PEK,
        });
    }
    if tee_info.sig_algo != ALGO_SM2_SA {
        return Err(CsvError::WrongReportSigner {
            field: "sig_algo",
            found: tee_info.sig_algo,
            expected: ALGO_SM2_SA,
        });
    }
    if !pek.identity().verify(&report.signed, &report.signature) {
        return Err(CsvError::BadReportSignature);
    }
    Ok(VerifiedReport {
        tee_info: tee_info.clone(),
    })
}

/// V1: every field before `anonce` is XORed with `anonce` (little-endian, repeating every 4
/// bytes from the start of the report); the signature covers the masked bytes.
fn parse_v1(tee_info: &[u8]) -> Result<TeeInfo, CsvError> {
    let mut reader = Reader::new(tee_info, "tee info v1");
    let masked = reader.take(TEE_INFO_V1_MASKED_LEN)?;
    let anonce_bytes: [u8; 4] = reader.array()?;
    let unmasked: Vec<u8> = masked
        .iter()
        .zip(anonce_bytes.iter().cycle())
        .map(|(byte, mask)| byte ^ mask)
        .collect();

    let mut fields = Reader::new(&unmasked, "tee info v1");
    let common = CommonFields::parse(&mut fields)?;
    let sig_usage = fields.u32()?;
    let sig_algo = fields.u32()?;
    fields.finish()?;
    Ok(common.into_tee_info(
        ReportVersion::V1,
        sig_usage,
        sig_algo,
        Some(u32::from_le_bytes(anonce_bytes)),
        None,
    ))
}

fn parse_v2(tee_info: &[u8]) -> Result<TeeInfo, CsvError> {
    let mut fields = Reader::new(tee_info, "tee info v2");
    let common = CommonFields::parse(&mut fields)?;
    let sig_usage = fields.u32()?;
    let sig_algo = fields.u32()?;
    let build = fields.u32()?;
    let rtmr_version = fields.u16()?;
    let reserved0 = fields.array()?;
    let rtmrs = [
        fields.array()?,
        fields.array()?,
        fields.array()?,
        fields.array()?,
        fields.array()?,
    ];
    let reserved1 = fields.take(656)?.to_vec();
    let extended = ExtendedTeeInfo {
        build,
        rtmr_version,
        reserved0,
        rtmrs,
        reserved1,
    };
    Ok(common.into_tee_info(ReportVersion::V2, sig_usage, sig_algo, None, Some(extended)))
}

/// The fields V1 and V2 share, in order, up to `policy`.
struct CommonFields {
    user_pubkey_digest: [u8; 32],
    vm_id: [u8; 16],
    vm_version: [u8; 16],
    report_data: [u8; 64],
    mnonce: [u8; 16],
    measure: [u8; 32],
    policy: u32,
}

impl CommonFields {
    fn parse(reader: &mut Reader<'_>) -> Result<Self, CsvError> {
        Ok(Self {
            user_pubkey_digest: reader.array()?,
            vm_id: reader.array()?,
            vm_version: reader.array()?,
            report_data: reader.array()?,
            mnonce: reader.array()?,
            measure: reader.array()?,
            policy: reader.u32()?,
        })
    }

    fn into_tee_info(
        self,
        version: ReportVersion,
        sig_usage: u32,
        sig_algo: u32,
        anonce: Option<u32>,
        extended: Option<ExtendedTeeInfo>,
    ) -> TeeInfo {
        TeeInfo {
            version,
            user_pubkey_digest: self.user_pubkey_digest,
            vm_id: self.vm_id,
            vm_version: self.vm_version,
            report_data: self.report_data,
            mnonce: self.mnonce,
            measure: self.measure,
            policy: GuestPolicy(self.policy),
            sig_usage,
            sig_algo,
            anonce,
            extended,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_bits_follow_the_csv_rs_bitfield() {
        let policy = GuestPolicy(0x4000_0045);
        assert_eq!(policy.bits(0, 0), 1);
        assert_eq!(policy.bits(1, 1), 0);
        assert_eq!(policy.bits(2, 2), 1);
        assert_eq!(policy.bits(6, 6), 1);
        assert_eq!(policy.bits(24, 31), 0x40);
        assert_eq!(GuestPolicy(u32::MAX).bits(0, 31), u32::MAX);
    }

    #[test]
    fn rejects_unknown_magic_and_flags() {
        let data = vec![0u8; REPORT_PAGE_LEN];
        assert!(matches!(
            AttestationReport::parse(&ATTESTATION_EXT_MAGIC, 3, &data),
            Err(CsvError::UnsupportedReport { flags: 3, .. })
        ));
        assert!(matches!(
            AttestationReport::parse(&[0; 16], 1, &data),
            Err(CsvError::UnsupportedReport { flags: 1, .. })
        ));
        let mut magic = ATTESTATION_EXT_MAGIC;
        magic[0] = b'X';
        assert!(matches!(
            AttestationReport::parse(&magic, 0, &data),
            Err(CsvError::UnsupportedReport { .. })
        ));
    }

    #[test]
    fn rejects_pages_of_wrong_size() {
        assert_eq!(
            AttestationReport::parse(&[0; 16], 0, &[0; REPORT_PAGE_LEN - 1]),
            Err(CsvError::Truncated {
                structure: "attestation report"
            })
        );
        assert_eq!(
            AttestationReport::parse(&[0; 16], 0, &[0; REPORT_PAGE_LEN + 1]),
            Err(CsvError::TrailingBytes {
                structure: "attestation report"
            })
        );
    }

    #[test]
    fn v1_fields_are_unmasked_with_anonce() {
        let mut data = vec![0u8; REPORT_PAGE_LEN];
        let anonce = [0x11, 0x22, 0x33, 0x44];
        for (index, byte) in data.iter_mut().take(TEE_INFO_V1_MASKED_LEN).enumerate() {
            *byte = anonce[index % 4];
        }
        data[64] ^= b'u';
        data[176..180].copy_from_slice(&[0x45 ^ 0x11, 0x22, 0x33, 0x44]);
        data[188..192].copy_from_slice(&anonce);
        let report = AttestationReport::parse(&[0; 16], 0, &data).unwrap();
        let tee_info = report.tee_info();
        assert_eq!(tee_info.version, ReportVersion::V1);
        assert_eq!(tee_info.report_data[0], b'u');
        assert_eq!(tee_info.report_data[1..], [0; 63]);
        assert_eq!(tee_info.policy, GuestPolicy(0x45));
        assert_eq!(tee_info.anonce, Some(0x4433_2211));
        // The signature covers the masked bytes as stored.
        assert_eq!(report.signed, data[..TEE_INFO_V1_SIGNED_LEN]);
    }

    #[test]
    fn v2_fields_are_read_in_place() {
        let mut data = vec![0u8; REPORT_PAGE_LEN];
        data[64] = b'u';
        data[188..192].copy_from_slice(&7u32.to_le_bytes());
        data[192..194].copy_from_slice(&2u16.to_le_bytes());
        data[208 + 32] = 0xaa; // rtmr1
        let report = AttestationReport::parse(&ATTESTATION_EXT_MAGIC, 1, &data).unwrap();
        let tee_info = report.tee_info();
        assert_eq!(tee_info.version, ReportVersion::V2);
        assert_eq!(tee_info.report_data[0], b'u');
        assert_eq!(tee_info.anonce, None);
        let extended = tee_info.extended.as_ref().unwrap();
        assert_eq!((extended.build, extended.rtmr_version), (7, 2));
        assert_eq!(extended.rtmrs[1][0], 0xaa);
        assert_eq!(report.signed.len(), 1024);
    }
}
