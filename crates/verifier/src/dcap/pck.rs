//! The PCK leaf certificate's Intel SGX extension (`1.2.840.113741.1.13.1`): what the
//! platform's TCB is and which collateral it needs (Intel "SGX PCK Certificate and CRL
//! Profile").
//!
//! ```text
//! SGXExtensions ::= SEQUENCE OF SEQUENCE { oid, value }
//!   .1 PPID OCTET STRING (16)          .2 TCB SEQUENCE OF { .2.1-.2.16 INTEGER (comp SVNs),
//!   .3 PCE-ID OCTET STRING (2)             .2.17 pcesvn INTEGER, .2.18 cpusvn OCTET STRING (16) }
//!   .4 FMSPC OCTET STRING (6)          .5 SGX type ENUMERATED
//!   .6 platform instance id (16)       .7 configuration { .7.1 dynamic, .7.2 cached keys, .7.3 SMT }
//! ```

use std::fmt;

use x509_cert::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use x509_cert::der::{Decode, Reader, SliceReader, Tag, Tagged};

use super::error::DcapError;

/// The SGX extension of PCK certificates.
pub(crate) const SGX_EXTENSION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1");

/// The arc every sub-field of the extension lives under.
const SGX_ARC: &[u32] = &[1, 2, 840, 113741, 1, 13, 1];

/// The most entries a well-formed extension (or its TCB / configuration sequences) has;
/// bounds the loops over attacker-supplied sequences.
const MAX_ENTRIES: usize = 32;

/// What the PCK leaf's SGX extension says about the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PckExtension {
    /// Platform provisioning id.
    pub ppid: [u8; 16],
    /// CPUSVN components 1..=16 (the TCB levels compare these).
    pub tcb_components: [u8; 16],
    /// PCE SVN.
    pub pce_svn: u16,
    /// Raw CPUSVN.
    pub cpu_svn: [u8; 16],
    /// PCE id.
    pub pce_id: [u8; 2],
    /// Family-Model-Stepping-Platform-CustomSKU: selects the TCB Info.
    pub fmspc: [u8; 6],
    /// SGX type of the platform.
    pub sgx_type: SgxType,
    /// Platform instance id (Platform CA certificates only).
    pub platform_instance_id: Option<[u8; 16]>,
    /// Platform configuration (Platform CA certificates only).
    pub configuration: Option<PlatformConfiguration>,
}

/// SGX type (extension `.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SgxType {
    /// 0: Standard.
    Standard,
    /// 1: Scalable.
    Scalable,
    /// 2: Scalable with integrity.
    ScalableWithIntegrity,
}

impl fmt::Display for SgxType {
    /// QVL's supplemental strings (trustee's `sgx_type` claim).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Standard => "Standard",
            Self::Scalable => "Scalable",
            Self::ScalableWithIntegrity => "Scalable with Integrity",
        })
    }
}

/// Platform configuration (extension `.7`); each flag is optional in the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlatformConfiguration {
    /// `.7.1` dynamic platform.
    pub dynamic_platform: Option<bool>,
    /// `.7.2` cached keys.
    pub cached_keys: Option<bool>,
    /// `.7.3` SMT enabled.
    pub smt_enabled: Option<bool>,
}

impl PckExtension {
    /// Parses the DER value of the SGX extension.
    pub fn parse(der: &[u8]) -> Result<Self, DcapError> {
        let mut ppid = None;
        let mut tcb = None;
        let mut pce_id = None;
        let mut fmspc = None;
        let mut sgx_type = None;
        let mut platform_instance_id = None;
        let mut configuration = None;
        for (arc, value) in entries(der, "extension")? {
            match arc.as_slice() {
                [1] => ppid = Some(octets::<16>(value, "ppid")?),
                [2] => tcb = Some(parse_tcb(value)?),
                [3] => pce_id = Some(octets::<2>(value, "pce id")?),
                [4] => fmspc = Some(octets::<6>(value, "fmspc")?),
                [5] => sgx_type = Some(parse_sgx_type(value)?),
                [6] => platform_instance_id = Some(octets::<16>(value, "platform instance id")?),
                [7] => configuration = Some(parse_configuration(value)?),
                // Later extension versions may add fields; unknown ones are ignored.
                _ => {}
            }
        }
        let (tcb_components, pce_svn, cpu_svn) = tcb.ok_or(missing("tcb"))?;
        Ok(Self {
            ppid: ppid.ok_or(missing("ppid"))?,
            tcb_components,
            pce_svn,
            cpu_svn,
            pce_id: pce_id.ok_or(missing("pce id"))?,
            fmspc: fmspc.ok_or(missing("fmspc"))?,
            sgx_type: sgx_type.ok_or(missing("sgx type"))?,
            platform_instance_id,
            configuration,
        })
    }
}

fn missing(field: &'static str) -> DcapError {
    DcapError::PckExtensionMalformed { field }
}

/// The entries `SEQUENCE OF SEQUENCE { OID under the SGX arc, value }`, each returned as the
/// OID's arcs after the SGX arc and the raw value.
fn entries<'a>(
    der: &'a [u8],
    field: &'static str,
) -> Result<Vec<(Vec<u32>, AnyRef<'a>)>, DcapError> {
    let malformed = || DcapError::PckExtensionMalformed { field };
    let outer = AnyRef::from_der(der).map_err(|_| malformed())?;
    if outer.tag() != Tag::Sequence {
        return Err(malformed());
    }
    let mut reader = SliceReader::new(outer.value()).map_err(|_| malformed())?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        if out.len() >= MAX_ENTRIES {
            return Err(malformed());
        }
        let entry: AnyRef<'a> = reader.decode().map_err(|_| malformed())?;
        if entry.tag() != Tag::Sequence {
            return Err(malformed());
        }
        let mut inner = SliceReader::new(entry.value()).map_err(|_| malformed())?;
        let oid: ObjectIdentifier = inner.decode().map_err(|_| malformed())?;
        let value: AnyRef<'a> = inner.decode().map_err(|_| malformed())?;
        if !inner.is_finished() {
            return Err(malformed());
        }
        let arcs: Vec<u32> = oid.arcs().collect();
        let Some(rest) = arcs.strip_prefix(SGX_ARC) else {
            return Err(malformed());
        };
        out.push((rest.to_vec(), value));
    }
    Ok(out)
}

fn octets<const N: usize>(value: AnyRef<'_>, field: &'static str) -> Result<[u8; N], DcapError> {
    value
        .decode_as::<OctetStringRef<'_>>()
        .ok()
        .and_then(|octets| octets.as_bytes().try_into().ok())
        .ok_or(DcapError::PckExtensionMalformed { field })
}

/// The TCB sequence: component SVNs 1..=16, PCESVN, CPUSVN.
fn parse_tcb(value: AnyRef<'_>) -> Result<([u8; 16], u16, [u8; 16]), DcapError> {
    let der = value_der(value, "tcb")?;
    let mut components = [None; 16];
    let mut pce_svn = None;
    let mut cpu_svn = None;
    for (arc, item) in entries(&der, "tcb")? {
        match arc.as_slice() {
            [2, n @ 1..=16] => {
                let svn = item
                    .decode_as::<u8>()
                    .map_err(|_| missing("tcb component svn"))?;
                if let Some(slot) = usize::try_from(*n - 1)
                    .ok()
                    .and_then(|i| components.get_mut(i))
                {
                    *slot = Some(svn);
                }
            }
            [2, 17] => {
                pce_svn = Some(item.decode_as::<u16>().map_err(|_| missing("pcesvn"))?);
            }
            [2, 18] => cpu_svn = Some(octets::<16>(item, "cpusvn")?),
            _ => {}
        }
    }
    let mut tcb = [0u8; 16];
    for (slot, component) in tcb.iter_mut().zip(components) {
        *slot = component.ok_or(missing("tcb component svn"))?;
    }
    Ok((
        tcb,
        pce_svn.ok_or(missing("pcesvn"))?,
        cpu_svn.ok_or(missing("cpusvn"))?,
    ))
}

fn parse_sgx_type(value: AnyRef<'_>) -> Result<SgxType, DcapError> {
    if value.tag() != Tag::Enumerated {
        return Err(missing("sgx type"));
    }
    match value.value() {
        [0] => Ok(SgxType::Standard),
        [1] => Ok(SgxType::Scalable),
        [2] => Ok(SgxType::ScalableWithIntegrity),
        _ => Err(missing("sgx type")),
    }
}

fn parse_configuration(value: AnyRef<'_>) -> Result<PlatformConfiguration, DcapError> {
    let der = value_der(value, "configuration")?;
    let mut configuration = PlatformConfiguration::default();
    for (arc, item) in entries(&der, "configuration")? {
        let flag = || {
            item.decode_as::<bool>()
                .map_err(|_| missing("configuration flag"))
        };
        match arc.as_slice() {
            [7, 1] => configuration.dynamic_platform = Some(flag()?),
            [7, 2] => configuration.cached_keys = Some(flag()?),
            [7, 3] => configuration.smt_enabled = Some(flag()?),
            _ => {}
        }
    }
    Ok(configuration)
}

/// Re-wraps a nested SEQUENCE value as DER so [`entries`] can read it.
fn value_der(value: AnyRef<'_>, field: &'static str) -> Result<Vec<u8>, DcapError> {
    use x509_cert::der::Encode;
    if value.tag() != Tag::Sequence {
        return Err(DcapError::PckExtensionMalformed { field });
    }
    value
        .to_der()
        .map_err(|_| DcapError::PckExtensionMalformed { field })
}
