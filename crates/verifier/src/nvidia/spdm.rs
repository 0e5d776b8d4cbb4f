//! The SPDM 1.1 GET_MEASUREMENTS request and response a Hopper GPU reports (DMTF DSP0274
//! 1.1, verifiers spec §11), and NVIDIA's opaque-data fields inside the response.
//!
//! Layout (all integers little-endian):
//! - request (37 bytes): version `0x11`, code `0xE0`, param1 (bit 0: signature requested),
//!   param2 (`0xFF`: all measurements), 32-byte nonce, slot id;
//! - response: version `0x11`, code `0x60`, param1, param2, number of blocks (1), record
//!   length (3), measurement record, responder nonce (32), opaque length (2), opaque data,
//!   signature (96: raw ECDSA P-384 `r || s`).
//!
//! The signature covers `request || response up to the signature`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::NvidiaError;

/// SPDM version 1.1, the only one Hopper GPUs speak in this flow.
const SPDM_VERSION: u8 = 0x11;
/// `GET_MEASUREMENTS` request code.
const GET_MEASUREMENTS: u8 = 0xE0;
/// `MEASUREMENTS` response code.
const MEASUREMENTS: u8 = 0x60;
/// Request param1 bit asking the responder to sign.
const SIGNATURE_REQUESTED: u8 = 0x01;
/// Measurement specification bit of the DMTF measurement layout.
const DMTF_MEASUREMENT_SPECIFICATION: u8 = 0x01;

/// Size of the SPDM nonces.
pub const NONCE_LEN: usize = 32;
/// Size of the raw ECDSA P-384 signature of a Hopper response.
pub const SIGNATURE_LEN: usize = 96;
/// Size of a SHA-384 FWID.
pub const FWID_LEN: usize = 48;
/// Bytes tolerated after the signature: trustee's `hopper_coco_report1` sample carries one
/// (spec §11); they are not signed, so they are ignored.
const TOLERATED_TRAILING: usize = 1;

/// A parsed request||response whose signature is not checked yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpdmReport {
    raw: Vec<u8>,
    signed_len: usize,
    /// The requester's nonce: the value bound to the expected report data.
    pub(crate) request_nonce: [u8; NONCE_LEN],
    /// Measurement blocks by index.
    pub(crate) measurements: BTreeMap<u8, Vec<u8>>,
    /// NVIDIA's opaque data, decoded to claims (trustee's names and encodings).
    pub(crate) opaque: Map<String, Value>,
    /// The FWID from the opaque data.
    pub(crate) fwid: [u8; FWID_LEN],
    pub(crate) signature: [u8; SIGNATURE_LEN],
}

impl SpdmReport {
    /// Parses `request || response || (at most one ignored byte)` of device `device`.
    pub fn parse(raw: Vec<u8>, device: usize) -> Result<Self, NvidiaError> {
        let mut reader = Reader::new(&raw, device, "get_measurements request");
        let request_nonce = parse_request(&mut reader)?;

        reader.structure = "measurements response";
        header(&mut reader, "response", MEASUREMENTS)?;
        let [_param1, _param2, block_count] = reader.array()?;
        let [l0, l1, l2] = reader.array()?;
        let record_len = usize::from(l0) | usize::from(l1) << 8 | usize::from(l2) << 16;
        reader.structure = "measurement record";
        let record = reader.take(record_len)?;
        let measurements = parse_record(record, block_count, device)?;

        reader.structure = "measurements response";
        let _responder_nonce: [u8; NONCE_LEN] = reader.array()?;
        let opaque_len = usize::from(reader.u16()?);
        reader.structure = "opaque data";
        let opaque_bytes = reader.take(opaque_len)?;
        let (opaque, fwid) = parse_opaque(opaque_bytes, device)?;

        let signed_len = raw.len() - reader.rest.len();
        reader.structure = "measurements response signature";
        let signature = reader.array()?;
        if reader.rest.len() > TOLERATED_TRAILING {
            return Err(NvidiaError::TrailingBytes {
                device,
                count: reader.rest.len(),
            });
        }
        Ok(Self {
            raw,
            signed_len,
            request_nonce,
            measurements,
            opaque,
            fwid,
            signature,
        })
    }

    /// The bytes the signature covers: the request and the response before its signature.
    pub fn signed_message(&self) -> &[u8] {
        self.raw.get(..self.signed_len).unwrap_or_default()
    }
}

/// Reads the request and returns its nonce.
fn parse_request(reader: &mut Reader<'_>) -> Result<[u8; NONCE_LEN], NvidiaError> {
    header(reader, "request", GET_MEASUREMENTS)?;
    let [param1, _param2] = reader.array()?;
    if param1 & SIGNATURE_REQUESTED == 0 {
        return Err(NvidiaError::UnsignedRequest {
            device: reader.device,
        });
    }
    let nonce = reader.array()?;
    let [_slot_id] = reader.array()?;
    Ok(nonce)
}

/// Checks an SPDM message's version and code.
fn header(reader: &mut Reader<'_>, message: &'static str, code: u8) -> Result<(), NvidiaError> {
    let [version, found] = reader.array()?;
    let device = reader.device;
    if version != SPDM_VERSION {
        return Err(NvidiaError::SpdmHeader {
            device,
            message,
            field: "version",
            found: version,
            expected: SPDM_VERSION,
        });
    }
    if found != code {
        return Err(NvidiaError::SpdmHeader {
            device,
            message,
            field: "code",
            found,
            expected: code,
        });
    }
    Ok(())
}

/// Reads `count` measurement blocks (index, specification, size, DMTF measurement: type,
/// value size, value); the record must hold exactly these blocks.
fn parse_record(
    record: &[u8],
    count: u8,
    device: usize,
) -> Result<BTreeMap<u8, Vec<u8>>, NvidiaError> {
    let invalid = |reason: String| NvidiaError::MeasurementRecord { device, reason };
    let mut reader = Reader::new(record, device, "measurement block");
    let mut blocks = BTreeMap::new();
    for _ in 0..count {
        let [index, specification] = reader.array()?;
        if specification != DMTF_MEASUREMENT_SPECIFICATION {
            return Err(invalid(format!(
                "block {index} uses measurement specification {specification:#04x}, not dmtf"
            )));
        }
        let size = usize::from(reader.u16()?);
        let block = reader.take(size)?;
        let mut inner = Reader::new(block, device, "dmtf measurement");
        let [_value_type] = inner.array()?;
        let value_len = usize::from(inner.u16()?);
        let value = inner.take(value_len)?;
        if !inner.rest.is_empty() {
            return Err(invalid(format!(
                "block {index} is {size} bytes but its value is {value_len}"
            )));
        }
        if blocks.insert(index, value.to_vec()).is_some() {
            return Err(invalid(format!("block {index} appears twice")));
        }
    }
    if !reader.rest.is_empty() {
        return Err(invalid(format!(
            "{} bytes follow the {count} declared blocks",
            reader.rest.len()
        )));
    }
    Ok(blocks)
}

/// Decodes NVIDIA's opaque data: a sequence of `type (2) || size (2) || value` items, each
/// type at most once; `driver_version`, `vbios_version` and `fwid` are required.
fn parse_opaque(
    bytes: &[u8],
    device: usize,
) -> Result<(Map<String, Value>, [u8; FWID_LEN]), NvidiaError> {
    let invalid = |reason: String| NvidiaError::OpaqueData { device, reason };
    let mut reader = Reader::new(bytes, device, "opaque data item");
    let mut fields = Map::new();
    let mut fwid = None;
    while !reader.rest.is_empty() {
        let data_type = reader.u16()?;
        let size = usize::from(reader.u16()?);
        let data = reader.take(size)?;
        let field = OpaqueField::from_type(data_type)
            .ok_or_else(|| invalid(format!("unknown field type {data_type}")))?;
        let value = field
            .decode(data)
            .map_err(|reason| invalid(format!("`{}`: {reason}", field.name())))?;
        if field == OpaqueField::Fwid {
            fwid =
                Some(<[u8; FWID_LEN]>::try_from(data).map_err(|_| {
                    invalid(format!("`fwid` is {size} bytes, expected {FWID_LEN}"))
                })?);
        }
        if fields.insert(field.name().to_owned(), value).is_some() {
            return Err(invalid(format!("`{}` appears twice", field.name())));
        }
    }
    for required in ["driver_version", "vbios_version"] {
        if !fields.contains_key(required) {
            return Err(NvidiaError::OpaqueFieldMissing {
                device,
                field: required,
            });
        }
    }
    let fwid = fwid.ok_or(NvidiaError::OpaqueFieldMissing {
        device,
        field: "fwid",
    })?;
    Ok((fields, fwid))
}

/// The opaque-data field types NVIDIA defines (nvtrust names, as trustee uses them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpaqueField {
    CertIssuerName,
    CertAuthorityKeyIdentifier,
    DriverVersion,
    GpuInfo,
    IdSku,
    VbiosVersion,
    ManufacturerId,
    TamperDetection,
    Smc,
    Vpr,
    Nvdec0Status,
    MeasurementCount,
    CprInfo,
    BoardId,
    ChipSku,
    ChipSkuMod,
    Project,
    ProjectSku,
    ProjectSkuMod,
    Fwid,
    ProtectedPcieStatus,
    SwitchPdi,
    FloorsweptPorts,
    PositionId,
    LockSwitchStatus,
    GpuLinkConn,
    SysEnableStatus,
    OpaqueDataVersion,
    ChipInfo,
    FeatureFlag,
}

impl OpaqueField {
    fn from_type(data_type: u16) -> Option<Self> {
        Some(match data_type {
            1 => Self::CertIssuerName,
            2 => Self::CertAuthorityKeyIdentifier,
            3 => Self::DriverVersion,
            4 => Self::GpuInfo,
            5 => Self::IdSku,
            6 => Self::VbiosVersion,
            7 => Self::ManufacturerId,
            8 => Self::TamperDetection,
            9 => Self::Smc,
            10 => Self::Vpr,
            11 => Self::Nvdec0Status,
            12 => Self::MeasurementCount,
            13 => Self::CprInfo,
            14 => Self::BoardId,
            15 => Self::ChipSku,
            16 => Self::ChipSkuMod,
            17 => Self::Project,
            18 => Self::ProjectSku,
            19 => Self::ProjectSkuMod,
            20 => Self::Fwid,
            21 => Self::ProtectedPcieStatus,
            22 => Self::SwitchPdi,
            23 => Self::FloorsweptPorts,
            24 => Self::PositionId,
            25 => Self::LockSwitchStatus,
            32 => Self::GpuLinkConn,
            33 => Self::SysEnableStatus,
            34 => Self::OpaqueDataVersion,
            35 => Self::ChipInfo,
            36 => Self::FeatureFlag,
            _ => return None,
        })
    }

    /// The claim name under `config`.
    fn name(self) -> &'static str {
        match self {
            Self::CertIssuerName => "cert_issuer_name",
            Self::CertAuthorityKeyIdentifier => "cert_authority_key_identifier",
            Self::DriverVersion => "driver_version",
            Self::GpuInfo => "gpu_info",
            Self::IdSku => "id_sku",
            Self::VbiosVersion => "vbios_version",
            Self::ManufacturerId => "manufacturer_id",
            Self::TamperDetection => "tamper_detection",
            Self::Smc => "smc",
            Self::Vpr => "vpr",
            Self::Nvdec0Status => "nvdec0_status",
            Self::MeasurementCount => "measurement_count",
            Self::CprInfo => "cpr_info",
            Self::BoardId => "board_id",
            Self::ChipSku => "chip_sku",
            Self::ChipSkuMod => "chip_sku_mod",
            Self::Project => "project",
            Self::ProjectSku => "project_sku",
            Self::ProjectSkuMod => "project_sku_mod",
            Self::Fwid => "fwid",
            Self::ProtectedPcieStatus => "protected_pcie_status",
            Self::SwitchPdi => "switch_pdi",
            Self::FloorsweptPorts => "floorswept_ports",
            Self::PositionId => "position_id",
            Self::LockSwitchStatus => "lock_switch_status",
            Self::GpuLinkConn => "gpu_link_conn",
            Self::SysEnableStatus => "sys_enable_status",
            Self::OpaqueDataVersion => "opaque_data_version",
            Self::ChipInfo => "chip_info",
            Self::FeatureFlag => "feature_flag",
        }
    }

    /// The claim value, encoded as trustee @ 78962cd4 does (its golden claims): text fields
    /// as text without trailing NULs (the one-byte status fields included, so `0x55` reads
    /// `"U"`), the vbios version dotted, counts and versions as numbers, the rest as hex.
    fn decode(self, data: &[u8]) -> Result<Value, String> {
        Ok(match self {
            Self::DriverVersion
            | Self::ChipSku
            | Self::ChipSkuMod
            | Self::Nvdec0Status
            | Self::Project
            | Self::ProjectSku
            | Self::ProtectedPcieStatus
            | Self::ChipInfo => Value::String(
                String::from_utf8_lossy(data)
                    .trim_end_matches('\0')
                    .to_owned(),
            ),
            Self::VbiosVersion => Value::String(vbios_version(data)?),
            Self::MeasurementCount => {
                if data.len() % 4 != 0 {
                    return Err(format!("{} bytes is not a list of u32", data.len()));
                }
                let counts = (1u32..)
                    .zip(data.chunks_exact(4))
                    .map(|(index, chunk)| {
                        let count = chunk.try_into().map(u32::from_le_bytes).unwrap_or_default();
                        (index.to_string(), Value::from(count))
                    })
                    .collect();
                Value::Object(counts)
            }
            Self::SwitchPdi => {
                if data.len() % 8 != 0 {
                    return Err(format!("{} bytes is not a list of 8-byte ids", data.len()));
                }
                Value::Array(
                    data.chunks_exact(8)
                        .map(|chunk| Value::String(hex::encode(chunk)))
                        .collect(),
                )
            }
            Self::OpaqueDataVersion => Value::from(le_u64(data)?),
            Self::FeatureFlag => Value::String(
                match le_u64(data)? {
                    0 => "SPT",
                    1 => "MPT",
                    2 => "PPCIE",
                    _ => "unknown",
                }
                .to_owned(),
            ),
            _ => Value::String(hex::encode(data)),
        })
    }
}

/// `96.00.9f.00.01` from `00 9f 00 96 01 00 00 00`: the first half reversed, then the first
/// byte of the second half, each as two hex digits.
fn vbios_version(data: &[u8]) -> Result<String, String> {
    let (low, high) = data.split_at(data.len() / 2);
    let Some(oem) = high.first().filter(|_| !low.is_empty()) else {
        return Err(format!("{} bytes is too short", data.len()));
    };
    let mut parts: Vec<String> = low.iter().rev().map(|b| format!("{b:02x}")).collect();
    parts.push(format!("{oem:02x}"));
    Ok(parts.join("."))
}

/// A little-endian integer of at most 8 bytes.
fn le_u64(data: &[u8]) -> Result<u64, String> {
    if data.len() > 8 {
        return Err(format!("{} bytes is more than a u64", data.len()));
    }
    let mut padded = [0u8; 8];
    padded
        .iter_mut()
        .zip(data)
        .for_each(|(slot, byte)| *slot = *byte);
    Ok(u64::from_le_bytes(padded))
}

/// A bounded little-endian reader: every read fails instead of panicking on short input.
struct Reader<'a> {
    rest: &'a [u8],
    device: usize,
    structure: &'static str,
}

impl<'a> Reader<'a> {
    fn new(rest: &'a [u8], device: usize, structure: &'static str) -> Self {
        Self {
            rest,
            device,
            structure,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], NvidiaError> {
        let (head, tail) = self
            .rest
            .split_at_checked(n)
            .ok_or(NvidiaError::Truncated {
                device: self.device,
                structure: self.structure,
            })?;
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], NvidiaError> {
        let (device, structure) = (self.device, self.structure);
        self.take(N)?
            .try_into()
            .map_err(|_| NvidiaError::Truncated { device, structure })
    }

    fn u16(&mut self) -> Result<u16, NvidiaError> {
        self.array().map(u16::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(data_type: u16, data: &[u8]) -> Vec<u8> {
        let mut item = data_type.to_le_bytes().to_vec();
        item.extend(u16::try_from(data.len()).unwrap().to_le_bytes());
        item.extend(data);
        item
    }

    fn required() -> Vec<u8> {
        let mut data = item(3, b"550.90.07\0");
        data.extend(item(6, &[0x00, 0x9f, 0x00, 0x96, 0x01, 0, 0, 0]));
        data.extend(item(20, &[7; FWID_LEN]));
        data
    }

    #[test]
    fn opaque_fields_decode_like_trustee() {
        let mut data = required();
        data.extend(item(11, &[0x55]));
        data.extend(item(12, &[1, 0, 0, 0, 130, 0, 0, 0]));
        data.extend(item(22, &[1; 16]));
        data.extend(item(34, &[1, 0]));
        data.extend(item(36, &[2, 0]));
        let (fields, fwid) = parse_opaque(&data, 0).unwrap();
        assert_eq!(fwid, [7; FWID_LEN]);
        assert_eq!(fields["driver_version"], "550.90.07");
        assert_eq!(fields["vbios_version"], "96.00.9f.00.01");
        assert_eq!(fields["nvdec0_status"], "U");
        assert_eq!(
            fields["measurement_count"],
            serde_json::json!({"1": 1, "2": 130})
        );
        assert_eq!(fields["switch_pdi"].as_array().unwrap().len(), 2);
        assert_eq!(fields["opaque_data_version"], 1);
        assert_eq!(fields["feature_flag"], "PPCIE");
        assert_eq!(fields["fwid"], hex::encode([7; FWID_LEN]));
    }

    #[test]
    fn opaque_data_rejects_unknown_duplicate_and_missing_fields() {
        let mut unknown = required();
        unknown.extend(item(37, &[]));
        assert!(matches!(
            parse_opaque(&unknown, 0),
            Err(NvidiaError::OpaqueData { reason, .. }) if reason.contains("unknown field type 37")
        ));
        let mut twice = required();
        twice.extend(item(3, b"1"));
        assert!(matches!(
            parse_opaque(&twice, 0),
            Err(NvidiaError::OpaqueData { reason, .. }) if reason.contains("twice")
        ));
        let no_fwid = [item(3, b"1"), item(6, &[1, 2])].concat();
        assert_eq!(
            parse_opaque(&no_fwid, 0),
            Err(NvidiaError::OpaqueFieldMissing {
                device: 0,
                field: "fwid"
            })
        );
        let no_driver = [item(6, &[1, 2]), item(20, &[0; FWID_LEN])].concat();
        assert_eq!(
            parse_opaque(&no_driver, 0),
            Err(NvidiaError::OpaqueFieldMissing {
                device: 0,
                field: "driver_version"
            })
        );
        let short_fwid = [required(), item(20, &[0; 47])].concat();
        assert!(matches!(
            parse_opaque(&short_fwid, 0),
            Err(NvidiaError::OpaqueData { .. })
        ));
    }

    #[test]
    fn opaque_values_are_bounded() {
        for (data_type, data) in [
            (6u16, &[1u8][..]),
            (12, &[1, 2, 3]),
            (22, &[1; 7]),
            (34, &[0; 9]),
        ] {
            let bad = [required(), item(data_type, data)].concat();
            assert!(
                matches!(parse_opaque(&bad, 0), Err(NvidiaError::OpaqueData { .. })),
                "type {data_type}"
            );
        }
        let mut cut = required();
        cut.extend([3, 0, 4]);
        assert!(matches!(
            parse_opaque(&cut, 0),
            Err(NvidiaError::Truncated {
                structure: "opaque data item",
                ..
            })
        ));
    }
}
