//! The HCL report: what Azure's paravisor (HCL) stores in the vTPM NV index `0x01400001`.
//!
//! Fixed 2600-byte area, integers little-endian (verifiers spec §2.1):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | signature `HCLA` |
//! | 4 | 4 | header version |
//! | 8 | 4 | report size |
//! | 12 | 4 | request type |
//! | 16 | 4 | status |
//! | 20 | 12 | reserved |
//! | 32 | 1184 | hardware report (SNP attestation report, or TDREPORT + padding) |
//! | 1216 | 4 | IGVM request data: `data_size` |
//! | 1220 | 4 | `version` |
//! | 1224 | 4 | `report_type` (2 = SNP, 4 = TDX) |
//! | 1228 | 4 | `report_data_hash_type` (1 = SHA-256) |
//! | 1232 | 4 | `variable_data_size` |
//! | 1236 | n | variable data: the runtime-data JSON (`keys`, `vm-configuration`, `user-data`) |
//!
//! The paravisor asks the hardware for a report whose report data starts with
//! SHA-256(variable data); that is what binds the AK in the runtime data to the hardware.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::reader::Reader;
use super::{AttestationKey, ParseError, VtpmError};
use crate::ReportData;

/// Size of the whole HCL report area.
pub const HCL_REPORT_SIZE: usize = 2600;
/// Size of the hardware-report area.
pub const HARDWARE_REPORT_SIZE: usize = 1184;
/// The header before the hardware report.
const HEADER_SIZE: usize = 32;
/// `data_size`, `version`, `report_type`, `report_data_hash_type`, `variable_data_size`.
const REQUEST_DATA_HEADER_SIZE: usize = 20;
/// Where the variable data starts, and how much of the area is left for it.
const VARIABLE_DATA_OFFSET: usize = HEADER_SIZE + HARDWARE_REPORT_SIZE + REQUEST_DATA_HEADER_SIZE;
const MAX_VARIABLE_DATA: usize = HCL_REPORT_SIZE - VARIABLE_DATA_OFFSET;
const _: () = assert!(VARIABLE_DATA_OFFSET == 1236);
const _: () = assert!(MAX_VARIABLE_DATA == 1364);

/// The header signature.
const HCL_SIGNATURE: [u8; 4] = *b"HCLA";
/// Header versions seen in Azure CVMs (1 on older hosts, 2 on newer ones).
const HEADER_VERSIONS: [u32; 2] = [1, 2];
/// The IGVM request-data version.
const REQUEST_DATA_VERSION: u32 = 1;
/// `report_data_hash_type` SHA-256: the only one upstream checks.
const HASH_TYPE_SHA256: u32 = 1;
/// The `kid` of the attestation key in the runtime data.
const AK_KID: &str = "HCLAkPub";

/// Which hardware report the HCL report carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HclReportType {
    /// An AMD SEV-SNP attestation report (`report_type` 2).
    Snp,
    /// An Intel TDX TDREPORT (`report_type` 4).
    Tdx,
}

impl HclReportType {
    /// The IGVM `report_type` value.
    pub fn code(self) -> u32 {
        match self {
            Self::Snp => 2,
            Self::Tdx => 4,
        }
    }
}

/// A parsed HCL report; nothing in it is trusted until the hardware report verifies and
/// [`HclReport::check_runtime_data_binding`] passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HclReport {
    version: u32,
    report_type: HclReportType,
    hardware_report: Vec<u8>,
    variable_data: Vec<u8>,
}

impl HclReport {
    /// Parses the 2600-byte HCL report.
    ///
    /// The bytes after the variable data are the unused rest of the fixed NV area; they are
    /// neither signed nor hashed, so they are not read.
    pub fn parse(bytes: &[u8]) -> Result<Self, VtpmError> {
        if bytes.len() != HCL_REPORT_SIZE {
            return Err(VtpmError::MalformedHclReport(ParseError::WrongSize {
                len: bytes.len(),
                expected: HCL_REPORT_SIZE,
            }));
        }
        let mut r = Reader::new(bytes);
        let malformed = VtpmError::MalformedHclReport;
        let signature: [u8; 4] = r.array("signature").map_err(malformed)?;
        if signature != HCL_SIGNATURE {
            return Err(malformed(ParseError::BadMagic {
                field: "signature",
                found: u32::from_le_bytes(signature),
            }));
        }
        let version = r.u32_le("version").map_err(malformed)?;
        if !HEADER_VERSIONS.contains(&version) {
            return Err(VtpmError::Unsupported {
                field: "hcl report version",
                value: version,
            });
        }
        // report size, request type, status, reserved: framing the paravisor fills in, not
        // covered by any signature or hash, so nothing is decided on them.
        r.take(HEADER_SIZE - 8, "header").map_err(malformed)?;
        let hardware_report = r
            .take(HARDWARE_REPORT_SIZE, "hardware report")
            .map_err(malformed)?
            .to_vec();
        let _data_size = r.u32_le("data_size").map_err(malformed)?;
        let request_version = r.u32_le("request data version").map_err(malformed)?;
        if request_version != REQUEST_DATA_VERSION {
            return Err(VtpmError::Unsupported {
                field: "hcl request data version",
                value: request_version,
            });
        }
        let report_type = match r.u32_le("report_type").map_err(malformed)? {
            2 => HclReportType::Snp,
            4 => HclReportType::Tdx,
            other => {
                return Err(VtpmError::Unsupported {
                    field: "hcl report type",
                    value: other,
                });
            }
        };
        let hash_type = r.u32_le("report_data_hash_type").map_err(malformed)?;
        if hash_type != HASH_TYPE_SHA256 {
            return Err(VtpmError::Unsupported {
                field: "hcl report data hash type",
                value: hash_type,
            });
        }
        let size = r.u32_le("variable_data_size").map_err(malformed)?;
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > MAX_VARIABLE_DATA {
            return Err(malformed(ParseError::TooLong {
                field: "variable_data_size",
                len: size,
                max: MAX_VARIABLE_DATA,
            }));
        }
        let variable_data = r.take(size, "variable data").map_err(malformed)?.to_vec();
        Ok(Self {
            version,
            report_type,
            hardware_report,
            variable_data,
        })
    }

    /// The header version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Which hardware report the HCL report carries.
    pub fn report_type(&self) -> HclReportType {
        self.report_type
    }

    /// The 1184-byte hardware-report area.
    pub fn hardware_report(&self) -> &[u8] {
        &self.hardware_report
    }

    /// The variable data (runtime-data JSON), exactly as hashed into the hardware report.
    pub fn variable_data(&self) -> &[u8] {
        &self.variable_data
    }

    /// Parses the runtime-data JSON. Its content is only trustworthy once
    /// [`Self::check_runtime_data_binding`] passed against a verified hardware report.
    pub fn runtime_data(&self) -> Result<RuntimeData, VtpmError> {
        RuntimeData::parse(&self.variable_data)
    }

    /// The verified hardware report's report data must start with SHA-256 of the variable
    /// data: that proves the AK (and user-data) came from the paravisor inside this TEE and
    /// not from whoever sent the evidence. Only the first 32 bytes carry the digest (hash type
    /// SHA-256); upstream compares exactly those.
    pub fn check_runtime_data_binding(&self, hardware_report_data: &[u8]) -> Result<(), VtpmError> {
        let bound = hardware_report_data
            .get(..32)
            .ok_or(VtpmError::RuntimeDataBinding)?;
        if digest(&SHA256, &self.variable_data).as_ref() != bound {
            return Err(VtpmError::RuntimeDataBinding);
        }
        Ok(())
    }
}

/// The runtime data the paravisor put into the HCL report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeData {
    attestation_key: AttestationKey,
    user_data: Option<String>,
}

/// Wire form of the runtime data; other members (`vm-configuration`, ...) are ignored.
#[derive(Deserialize)]
struct RuntimeDataJson {
    keys: Vec<Jwk>,
    #[serde(rename = "user-data", default)]
    user_data: Option<String>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

impl RuntimeData {
    /// Parses the runtime-data JSON (the HCL report's variable data).
    pub fn parse(json: &[u8]) -> Result<Self, VtpmError> {
        let runtime: RuntimeDataJson =
            serde_json::from_slice(json).map_err(|err| VtpmError::MalformedRuntimeData {
                reason: err.to_string(),
            })?;
        let mut aks = runtime.keys.into_iter().filter(|key| key.kid == AK_KID);
        let ak = aks.next().ok_or(VtpmError::AttestationKey {
            reason: "no key with that kid",
        })?;
        // Two AKs would leave the choice to whoever reads first; refuse the ambiguity.
        if aks.next().is_some() {
            return Err(VtpmError::AttestationKey {
                reason: "more than one key with that kid",
            });
        }
        if ak.kty != "RSA" {
            return Err(VtpmError::AttestationKey {
                reason: "not an RSA key",
            });
        }
        let component = |value: Option<String>| {
            value
                .and_then(|value| URL_SAFE_NO_PAD.decode(value).ok())
                .filter(|bytes| !bytes.is_empty())
                .ok_or(VtpmError::AttestationKey {
                    reason: "`n` and `e` must be unpadded base64url",
                })
        };
        let n = component(ak.n)?;
        let e = component(ak.e)?;
        Ok(Self {
            attestation_key: AttestationKey::rsa(n, e),
            user_data: runtime.user_data,
        })
    }

    /// The AK that signs the TPM quotes.
    pub fn attestation_key(&self) -> &AttestationKey {
        &self.attestation_key
    }

    /// Evidence v2: the hex `user-data` must be the expected report data followed only by
    /// zero padding (the attester writes the 48-byte digest into the 64-byte field). This
    /// binds the report data to the hardware report too, not just to the TPM quote.
    pub fn check_user_data(&self, expected: &ReportData) -> Result<(), VtpmError> {
        let ReportData::Value(expected) = expected else {
            return Err(VtpmError::ReportDataRequired);
        };
        let user_data = self
            .user_data
            .as_deref()
            .and_then(|hex_text| hex::decode(hex_text).ok())
            .ok_or(VtpmError::UserData)?;
        let (head, padding) = user_data
            .split_at_checked(expected.len())
            .ok_or(VtpmError::UserData)?;
        if head != expected.as_slice() || padding.iter().any(|&byte| byte != 0) {
            return Err(VtpmError::UserData);
        }
        Ok(())
    }
}
