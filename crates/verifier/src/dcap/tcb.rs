//! TCB Info and QE Identity: their JSON (Intel PCS API v4, TCB Info version 3, enclave
//! identity version 2) and the matching rules of Intel's QVL (testdata README §4, verifiers
//! spec §3.1).
//!
//! - Platform TCB level: the first level (Intel lists them newest first) whose 16 SGX
//!   components and PCESVN are all at or below the PCK certificate's; for TDX also the 16
//!   `tdxtcbcomponents` at or below the quote's `tee_tcb_svn`, skipping bytes 0-1 when the
//!   TDX module major version (`tee_tcb_svn[1]`) is non-zero, because the module identity
//!   `TDX_<major>` then decides the module's status.
//! - QE: MRSIGNER, ISVPRODID, masked MISCSELECT and ATTRIBUTES must match; the QE level is the
//!   first whose ISVSVN is at or below the QE's.
//! - Statuses converge as in QVL: an out-of-date QE or TDX module turns an up-to-date platform
//!   `OutOfDate` (a configuration-needed one `OutOfDateConfigurationNeeded`); advisory ids are
//!   merged. A TD 1.5 quote whose launch TCB is out of date while its current TCB
//!   (`tee_tcb_svn2`) is not is `TDRelaunchAdvised` (`status.rs`).

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{DcapError, SignedCollateral};
use crate::collateral::intel::DcapTee;

/// A TCB status as Intel writes it in TCB Info / QE Identity and QVL reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcbStatus {
    /// `UpToDate`.
    UpToDate,
    /// `SWHardeningNeeded`.
    SwHardeningNeeded,
    /// `ConfigurationNeeded`.
    ConfigurationNeeded,
    /// `ConfigurationAndSWHardeningNeeded`.
    ConfigurationAndSwHardeningNeeded,
    /// `OutOfDate`.
    OutOfDate,
    /// `OutOfDateConfigurationNeeded`.
    OutOfDateConfigurationNeeded,
    /// `TDRelaunchAdvised`.
    TdRelaunchAdvised,
    /// `TDRelaunchAdvisedConfigurationNeeded`.
    TdRelaunchAdvisedConfigurationNeeded,
    /// `Revoked` (never accepted).
    Revoked,
}

impl TcbStatus {
    /// Intel's string for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpToDate => "UpToDate",
            Self::SwHardeningNeeded => "SWHardeningNeeded",
            Self::ConfigurationNeeded => "ConfigurationNeeded",
            Self::ConfigurationAndSwHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            Self::OutOfDate => "OutOfDate",
            Self::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            Self::TdRelaunchAdvised => "TDRelaunchAdvised",
            Self::TdRelaunchAdvisedConfigurationNeeded => "TDRelaunchAdvisedConfigurationNeeded",
            Self::Revoked => "Revoked",
        }
    }

    /// Whether upstream (trustee over QVL) accepts a quote with this status.
    pub fn is_accepted(self) -> bool {
        !matches!(self, Self::Revoked)
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TcbStatus {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "UpToDate" => Self::UpToDate,
            "SWHardeningNeeded" => Self::SwHardeningNeeded,
            "ConfigurationNeeded" => Self::ConfigurationNeeded,
            "ConfigurationAndSWHardeningNeeded" => Self::ConfigurationAndSwHardeningNeeded,
            "OutOfDate" => Self::OutOfDate,
            "OutOfDateConfigurationNeeded" => Self::OutOfDateConfigurationNeeded,
            "TDRelaunchAdvised" => Self::TdRelaunchAdvised,
            "TDRelaunchAdvisedConfigurationNeeded" => Self::TdRelaunchAdvisedConfigurationNeeded,
            "Revoked" => Self::Revoked,
            _ => return Err(()),
        })
    }
}

/// A parsed TCB Info (version 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbInfo {
    /// SGX or TDX.
    pub tee: DcapTee,
    /// `issueDate` (Unix seconds).
    pub issue_date: i64,
    /// `nextUpdate` (Unix seconds).
    pub next_update: i64,
    /// FMSPC.
    pub fmspc: [u8; 6],
    /// PCE id.
    pub pce_id: [u8; 2],
    /// `tcbEvaluationDataNumber`.
    pub tcb_evaluation_data_number: u32,
    /// `tdxModule` (TDX 1.0 module identity).
    pub tdx_module: Option<TdxModule>,
    /// `tdxModuleIdentities` (TDX 1.5+, by module major version).
    pub tdx_module_identities: Vec<TdxModuleIdentity>,
    /// `tcbLevels`, in Intel's order (newest first).
    pub levels: Vec<TcbLevel>,
}

/// One platform TCB level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbLevel {
    /// `sgxtcbcomponents[*].svn`.
    pub sgx_components: [u8; 16],
    /// `pcesvn`.
    pub pce_svn: u16,
    /// `tdxtcbcomponents[*].svn` (TDX only).
    pub tdx_components: Option<[u8; 16]>,
    /// `tcbDate` (RFC 3339, as Intel wrote it).
    pub tcb_date: String,
    /// `tcbStatus`.
    pub status: TcbStatus,
    /// `advisoryIDs`.
    pub advisory_ids: Vec<String>,
}

/// The TDX 1.0 module identity (`tdxModule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxModule {
    /// Expected `mrsigner_seam`.
    pub mrsigner: [u8; 48],
    /// Expected `seam_attributes` (under the mask).
    pub attributes: [u8; 8],
    /// Mask applied to `seam_attributes`.
    pub attributes_mask: [u8; 8],
}

/// A TDX module identity (`tdxModuleIdentities[*]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxModuleIdentity {
    /// `TDX_<major version, 2 hex digits>`.
    pub id: String,
    /// The module's signer, attributes and mask.
    pub module: TdxModule,
    /// Levels by module ISVSVN (`tee_tcb_svn[0]`), newest first.
    pub levels: Vec<SvnLevel>,
}

/// A level keyed by one ISVSVN (TDX module identity, QE identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvnLevel {
    /// `tcb.isvsvn`.
    pub isv_svn: u16,
    /// `tcbDate`.
    pub tcb_date: String,
    /// `tcbStatus`.
    pub status: TcbStatus,
    /// `advisoryIDs`.
    pub advisory_ids: Vec<String>,
}

/// A parsed QE Identity (enclave identity version 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QeIdentity {
    /// SGX (`QE`) or TDX (`TD_QE`).
    pub tee: DcapTee,
    /// `issueDate` (Unix seconds).
    pub issue_date: i64,
    /// `nextUpdate` (Unix seconds).
    pub next_update: i64,
    /// `tcbEvaluationDataNumber`.
    pub tcb_evaluation_data_number: u32,
    /// `miscselect` (read as a big-endian hex u32).
    pub miscselect: u32,
    /// `miscselectMask`.
    pub miscselect_mask: u32,
    /// `attributes` (raw 16 bytes, report byte order).
    pub attributes: [u8; 16],
    /// `attributesMask`.
    pub attributes_mask: [u8; 16],
    /// `mrsigner`.
    pub mrsigner: [u8; 32],
    /// `isvprodid`.
    pub isv_prod_id: u16,
    /// Levels by QE ISVSVN, newest first.
    pub levels: Vec<SvnLevel>,
}

impl TcbInfo {
    /// Parses the signed `tcbInfo` JSON text.
    pub fn parse(text: &str) -> Result<Self, DcapError> {
        let doc = SignedCollateral::TcbInfo;
        let json: TcbInfoJson = serde_json::from_str(text).map_err(|err| malformed(doc, err))?;
        let tee = match json.id.as_str() {
            "SGX" => DcapTee::Sgx,
            "TDX" => DcapTee::Tdx,
            other => {
                return Err(DcapError::CollateralWrongKind {
                    document: doc,
                    expected: "SGX or TDX",
                    found: other.to_owned(),
                });
            }
        };
        if json.version != 3 {
            return Err(DcapError::CollateralWrongKind {
                document: doc,
                expected: "version 3",
                found: format!("version {}", json.version),
            });
        }
        if json.tcb_levels.len() > MAX_LEVELS {
            return Err(malformed(doc, "too many tcb levels"));
        }
        let levels = json
            .tcb_levels
            .into_iter()
            .map(|level| {
                let tdx_components = match (tee, level.tcb.tdxtcbcomponents) {
                    (DcapTee::Tdx, Some(components)) => Some(svns(&components, doc)?),
                    (DcapTee::Tdx, None) => {
                        return Err(malformed(doc, "tdx level without tdxtcbcomponents"));
                    }
                    (DcapTee::Sgx, _) => None,
                };
                Ok(TcbLevel {
                    sgx_components: svns(&level.tcb.sgxtcbcomponents, doc)?,
                    pce_svn: level.tcb.pcesvn,
                    tdx_components,
                    tcb_date: checked_date(level.tcb_date, doc)?,
                    status: status(&level.tcb_status, doc)?,
                    advisory_ids: level.advisory_ids,
                })
            })
            .collect::<Result<Vec<_>, DcapError>>()?;
        let tdx_module = json
            .tdx_module
            .map(|module| module.parse(doc))
            .transpose()?;
        let identities = json.tdx_module_identities.unwrap_or_default();
        if identities.len() > MAX_LEVELS {
            return Err(malformed(doc, "too many tdx module identities"));
        }
        let tdx_module_identities = identities
            .into_iter()
            .map(|identity| {
                Ok(TdxModuleIdentity {
                    module: TdxModuleJson {
                        mrsigner: identity.mrsigner,
                        attributes: identity.attributes,
                        attributes_mask: identity.attributes_mask,
                    }
                    .parse(doc)?,
                    id: identity.id,
                    levels: svn_levels(identity.tcb_levels, doc)?,
                })
            })
            .collect::<Result<Vec<_>, DcapError>>()?;
        Ok(Self {
            tee,
            issue_date: timestamp(&json.issue_date, doc)?,
            next_update: timestamp(&json.next_update, doc)?,
            fmspc: hex_array(&json.fmspc, doc, "fmspc")?,
            pce_id: hex_array(&json.pce_id, doc, "pceId")?,
            tcb_evaluation_data_number: json.tcb_evaluation_data_number,
            tdx_module,
            tdx_module_identities,
            levels,
        })
    }

    /// The first level whose components are all at or below the platform's.
    pub fn match_platform_level(
        &self,
        cpu_components: &[u8; 16],
        pce_svn: u16,
        tee_tcb_svn: Option<&[u8; 16]>,
    ) -> Option<&TcbLevel> {
        // With a module major version, bytes 0-1 are judged by the module identity instead.
        let skip = match tee_tcb_svn {
            Some(svn) if svn[1] > 0 => 2,
            _ => 0,
        };
        self.levels.iter().find(|level| {
            let sgx_ok = cpu_components
                .iter()
                .zip(&level.sgx_components)
                .all(|(have, need)| have >= need)
                && pce_svn >= level.pce_svn;
            let tdx_ok = match (tee_tcb_svn, &level.tdx_components) {
                (Some(have), Some(need)) => have
                    .iter()
                    .zip(need)
                    .skip(skip)
                    .all(|(have, need)| have >= need),
                (None, _) => true,
                (Some(_), None) => false,
            };
            sgx_ok && tdx_ok
        })
    }
}

impl QeIdentity {
    /// Parses the signed `enclaveIdentity` JSON text.
    pub fn parse(text: &str) -> Result<Self, DcapError> {
        let doc = SignedCollateral::QeIdentity;
        let json: QeIdentityJson = serde_json::from_str(text).map_err(|err| malformed(doc, err))?;
        let tee = match json.id.as_str() {
            "QE" => DcapTee::Sgx,
            "TD_QE" => DcapTee::Tdx,
            other => {
                return Err(DcapError::CollateralWrongKind {
                    document: doc,
                    expected: "QE or TD_QE",
                    found: other.to_owned(),
                });
            }
        };
        if json.version != 2 {
            return Err(DcapError::CollateralWrongKind {
                document: doc,
                expected: "version 2",
                found: format!("version {}", json.version),
            });
        }
        Ok(Self {
            tee,
            issue_date: timestamp(&json.issue_date, doc)?,
            next_update: timestamp(&json.next_update, doc)?,
            tcb_evaluation_data_number: json.tcb_evaluation_data_number,
            miscselect: u32::from_be_bytes(hex_array(&json.miscselect, doc, "miscselect")?),
            miscselect_mask: u32::from_be_bytes(hex_array(
                &json.miscselect_mask,
                doc,
                "miscselectMask",
            )?),
            attributes: hex_array(&json.attributes, doc, "attributes")?,
            attributes_mask: hex_array(&json.attributes_mask, doc, "attributesMask")?,
            mrsigner: hex_array(&json.mrsigner, doc, "mrsigner")?,
            isv_prod_id: json.isvprodid,
            levels: svn_levels(json.tcb_levels, doc)?,
        })
    }
}

/// The first level whose ISVSVN is at or below `isv_svn`.
pub(crate) fn match_svn_level(levels: &[SvnLevel], isv_svn: u16) -> Option<&SvnLevel> {
    levels.iter().find(|level| isv_svn >= level.isv_svn)
}

/// QVL's convergence of the platform status with an out-of-date QE or TDX module.
pub(crate) fn converge(platform: TcbStatus, other: TcbStatus) -> TcbStatus {
    use TcbStatus::*;
    match other {
        Revoked => Revoked,
        OutOfDate | OutOfDateConfigurationNeeded => match platform {
            UpToDate | SwHardeningNeeded => OutOfDate,
            ConfigurationNeeded | ConfigurationAndSwHardeningNeeded => OutOfDateConfigurationNeeded,
            other => other,
        },
        _ => platform,
    }
}

/// Bounds the levels read from a document (real ones have a few dozen at most).
const MAX_LEVELS: usize = 256;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbInfoJson {
    id: String,
    version: u32,
    issue_date: String,
    next_update: String,
    fmspc: String,
    pce_id: String,
    tcb_evaluation_data_number: u32,
    tdx_module: Option<TdxModuleJson>,
    tdx_module_identities: Option<Vec<TdxModuleIdentityJson>>,
    tcb_levels: Vec<TcbLevelJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TdxModuleJson {
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
}

impl TdxModuleJson {
    fn parse(self, doc: SignedCollateral) -> Result<TdxModule, DcapError> {
        Ok(TdxModule {
            mrsigner: hex_array(&self.mrsigner, doc, "tdx module mrsigner")?,
            attributes: hex_array(&self.attributes, doc, "tdx module attributes")?,
            attributes_mask: hex_array(&self.attributes_mask, doc, "tdx module attributesMask")?,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TdxModuleIdentityJson {
    id: String,
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
    tcb_levels: Vec<SvnLevelJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbLevelJson {
    tcb: TcbJson,
    tcb_date: String,
    tcb_status: String,
    #[serde(rename = "advisoryIDs", default)]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
struct TcbJson {
    sgxtcbcomponents: Vec<ComponentJson>,
    pcesvn: u16,
    tdxtcbcomponents: Option<Vec<ComponentJson>>,
}

#[derive(Deserialize)]
struct ComponentJson {
    svn: u8,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SvnLevelJson {
    tcb: IsvSvnJson,
    tcb_date: String,
    tcb_status: String,
    #[serde(rename = "advisoryIDs", default)]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
struct IsvSvnJson {
    isvsvn: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QeIdentityJson {
    id: String,
    version: u32,
    issue_date: String,
    next_update: String,
    tcb_evaluation_data_number: u32,
    miscselect: String,
    miscselect_mask: String,
    attributes: String,
    attributes_mask: String,
    mrsigner: String,
    isvprodid: u16,
    tcb_levels: Vec<SvnLevelJson>,
}

fn malformed(document: SignedCollateral, reason: impl fmt::Display) -> DcapError {
    DcapError::CollateralMalformed {
        document,
        reason: reason.to_string(),
    }
}

fn svns(components: &[ComponentJson], doc: SignedCollateral) -> Result<[u8; 16], DcapError> {
    if components.len() != 16 {
        return Err(malformed(doc, "a tcb level does not have 16 components"));
    }
    let mut out = [0u8; 16];
    for (slot, component) in out.iter_mut().zip(components) {
        *slot = component.svn;
    }
    Ok(out)
}

fn svn_levels(
    levels: Vec<SvnLevelJson>,
    doc: SignedCollateral,
) -> Result<Vec<SvnLevel>, DcapError> {
    if levels.len() > MAX_LEVELS {
        return Err(malformed(doc, "too many tcb levels"));
    }
    levels
        .into_iter()
        .map(|level| {
            Ok(SvnLevel {
                isv_svn: level.tcb.isvsvn,
                tcb_date: checked_date(level.tcb_date, doc)?,
                status: status(&level.tcb_status, doc)?,
                advisory_ids: level.advisory_ids,
            })
        })
        .collect()
}

fn status(text: &str, doc: SignedCollateral) -> Result<TcbStatus, DcapError> {
    text.parse()
        .map_err(|()| malformed(doc, format_args!("unknown tcb status {text:?}")))
}

fn timestamp(text: &str, doc: SignedCollateral) -> Result<i64, DcapError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| malformed(doc, format_args!("invalid date {text:?}")))
}

/// Keeps a tcbDate as Intel wrote it, after checking it is RFC 3339.
fn checked_date(text: String, doc: SignedCollateral) -> Result<String, DcapError> {
    timestamp(&text, doc)?;
    Ok(text)
}

fn hex_array<const N: usize>(
    text: &str,
    doc: SignedCollateral,
    field: &'static str,
) -> Result<[u8; N], DcapError> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| malformed(doc, format_args!("{field} is not {N} hex bytes")))?;
    Ok(out)
}
