//! The confidential-computing event log (CCEL): parsing and measurement-register replay.
//!
//! The firmware of a confidential VM records every measurement it extends into the TEE's
//! runtime measurement registers in an event log (UEFI 2.10 §38.4, ACPI CCEL table). The log
//! is in the TCG PC Client "crypto agile" format (TCG PC Client Platform Firmware Profile
//! §10.2):
//!
//! 1. a header event in the legacy SHA-1 layout (`TCG_PCR_EVENT`: index u32, type u32,
//!    20-byte digest, size u32, data) of type `EV_NO_ACTION`, whose data is the
//!    `TCG_EfiSpecIdEvent` listing the digest algorithms and their sizes;
//! 2. then `TCG_PCR_EVENT2` records: index u32, type u32, digest count u32, per digest an
//!    algorithm id u16 and a digest of the size the header declared, event size u32, data;
//! 3. the rest of the log area is unused: all-`0xff` (erased) or all-zero.
//!
//! All integers are little-endian. [`EventLog::parse`] bounds every count and size by what
//! the input can hold; [`EventLog::replay`] extends the SHA-384 digests per register, and
//! [`EventLog::check_rtmrs`] compares the result with a TD quote's RTMRs.
//!
//! The parsed events serialise as upstream's `uefi_event_logs` claim (verifiers spec §4.3):
//! `{details, digest_matches_event, digests: [{alg, digest}], event (base64), index,
//! type_name}`, with the per-type `details` built in the `details` module.

mod details;
mod device_path;
mod error;

use aws_lc_rs::digest::{self, Algorithm, SHA1_FOR_LEGACY_USE_ONLY, SHA256, SHA384, SHA512};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Serialize, Serializer};

pub use details::EventDetails;
pub use error::EventLogError;

/// The largest event log accepted (the CCEL area of the samples is 1 MiB; firmware reserves
/// at most a few MiB).
pub const MAX_LOG_SIZE: usize = 16 << 20;
/// The most events accepted in one log.
pub const MAX_EVENTS: usize = 1 << 16;
/// The most digest algorithms a header may declare (TPM 2.0 defines fewer than ten).
const MAX_ALGORITHMS: u32 = 16;
/// The largest digest size a header may declare (SHA-512).
const MAX_DIGEST_SIZE: u16 = 64;
/// The size of a legacy SHA-1 digest in the header event.
const SHA1_DIGEST_SIZE: usize = 20;
/// `EV_NO_ACTION`: informational, never extended into a register.
pub const EV_NO_ACTION: u32 = 0x3;
/// The signature at the start of the spec-id header event's data.
const SPEC_ID_SIGNATURE: &[u8; 16] = b"Spec ID Event03\0";

/// `TPM_ALG_SHA1`.
pub const TPM_ALG_SHA1: u16 = 0x0004;
/// `TPM_ALG_SHA256`.
pub const TPM_ALG_SHA256: u16 = 0x000b;
/// `TPM_ALG_SHA384`: the digest TDX extends into its RTMRs.
pub const TPM_ALG_SHA384: u16 = 0x000c;
/// `TPM_ALG_SHA512`.
pub const TPM_ALG_SHA512: u16 = 0x000d;

/// Number of TDX runtime measurement registers.
pub const RTMR_COUNT: usize = 4;
/// A SHA-384 register value.
pub type Sha384Register = [u8; 48];

/// One digest of an event, with its TCG algorithm id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventDigest {
    /// The algorithm (`TPM_ALG_*`), serialised by name as upstream does (`"SHA-384"`).
    #[serde(rename = "alg", serialize_with = "serialize_alg")]
    pub algorithm: u16,
    /// The digest bytes (hex in claims).
    #[serde(serialize_with = "serialize_hex")]
    pub digest: Vec<u8>,
}

/// One `TCG_PCR_EVENT2` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// What the event data says, decoded per event type (informational only: nothing is
    /// decided on it).
    pub details: EventDetails,
    /// Whether every digest is the hash of the event data itself (true for events that
    /// measure their own description, false for those that measure something else, e.g. a
    /// firmware volume).
    pub digest_matches_event: bool,
    /// The digests extended, one per algorithm.
    pub digests: Vec<EventDigest>,
    /// The event data (base64 in claims).
    #[serde(rename = "event", serialize_with = "serialize_base64")]
    pub data: Vec<u8>,
    /// The CC measurement-register index (TDX: 0 = MRTD, 1..4 = RTMR0..3).
    pub index: u32,
    /// The event type (`EV_*`), serialised by name.
    #[serde(rename = "type_name", serialize_with = "serialize_event_type")]
    pub event_type: u32,
}

/// A parsed event log: the events after the spec-id header, in log order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventLog {
    /// The events (the claim `uefi_event_logs`).
    #[serde(rename = "uefi_event_logs")]
    pub events: Vec<Event>,
}

impl EventLog {
    /// Parses a CCEL log area. Parsing stops at the first all-`0xff` or all-zero 8 bytes
    /// (the unused rest of the area) or at the end of the input.
    pub fn parse(bytes: &[u8]) -> Result<Self, EventLogError> {
        if bytes.len() > MAX_LOG_SIZE {
            return Err(EventLogError::TooLarge {
                len: bytes.len(),
                max: MAX_LOG_SIZE,
            });
        }
        let mut r = Reader::new(bytes);
        let sizes = parse_header(&mut r)?;
        let mut events = Vec::new();
        while !r.at_end_of_log() {
            if events.len() == MAX_EVENTS {
                return Err(EventLogError::TooManyEvents { max: MAX_EVENTS });
            }
            events.push(parse_event(&mut r, &sizes)?);
        }
        Ok(Self { events })
    }

    /// Replays the SHA-384 digests into the four RTMRs: an event at CC measurement-register
    /// index `i` (1..=4) extends RTMR `i - 1` (UEFI 2.10 §38.4.1 for TDX), starting from zero:
    /// `rtmr = SHA-384(rtmr || digest)`. `EV_NO_ACTION` events are not extended (TCG PFP
    /// §10.4.1); index 0 is MRTD, which the TDX module builds, so it is not replayed.
    pub fn replay(&self) -> Result<[Sha384Register; RTMR_COUNT], EventLogError> {
        let mut rtmrs = [[0u8; 48]; RTMR_COUNT];
        for (position, event) in self.events.iter().enumerate() {
            if event.event_type == EV_NO_ACTION {
                continue;
            }
            let Some(slot) = rtmr_slot(event.index) else {
                continue;
            };
            let Some(register) = rtmrs.get_mut(slot) else {
                continue;
            };
            let sha384 = event
                .digests
                .iter()
                .find(|d| d.algorithm == TPM_ALG_SHA384)
                .ok_or(EventLogError::MissingSha384 { event: position })?;
            let mut context = digest::Context::new(&SHA384);
            context.update(register.as_slice());
            context.update(&sha384.digest);
            register.copy_from_slice(context.finish().as_ref());
        }
        Ok(rtmrs)
    }

    /// The replayed registers must equal `rtmrs` (a verified quote's RTMR0..3): only then do
    /// the events describe what was measured into this TD.
    pub fn check_rtmrs(&self, rtmrs: &[Sha384Register; RTMR_COUNT]) -> Result<(), EventLogError> {
        let replayed = self.replay()?;
        for (index, (computed, quoted)) in replayed.iter().zip(rtmrs).enumerate() {
            if computed != quoted {
                return Err(EventLogError::ReplayMismatch {
                    rtmr: index,
                    replayed: hex::encode(computed),
                    quoted: hex::encode(quoted),
                });
            }
        }
        Ok(())
    }
}

/// The RTMR an event at CC measurement-register `index` extends, if any.
fn rtmr_slot(index: u32) -> Option<usize> {
    let slot = usize::try_from(index.checked_sub(1)?).ok()?;
    (slot < RTMR_COUNT).then_some(slot)
}

/// Digest sizes per algorithm, as the spec-id header declared them.
struct DigestSizes(Vec<(u16, u16)>);

impl DigestSizes {
    fn size_of(&self, algorithm: u16) -> Option<usize> {
        self.0
            .iter()
            .find(|(alg, _)| *alg == algorithm)
            .map(|(_, size)| usize::from(*size))
    }
}

/// Reads the legacy-format header event and its `TCG_EfiSpecIdEvent`.
fn parse_header(r: &mut Reader<'_>) -> Result<DigestSizes, EventLogError> {
    let _index = r.u32("header index")?;
    let event_type = r.u32("header event type")?;
    if event_type != EV_NO_ACTION {
        return Err(EventLogError::BadHeader {
            reason: "the first event is not EV_NO_ACTION",
        });
    }
    r.take(SHA1_DIGEST_SIZE, "header digest")?;
    let size = r.len_u32("header event size")?;
    let data = r.take(size, "header event data")?;

    let mut spec = Reader::new(data);
    let signature = spec.take(SPEC_ID_SIGNATURE.len(), "spec id signature")?;
    if signature != SPEC_ID_SIGNATURE {
        return Err(EventLogError::BadHeader {
            reason: "no `Spec ID Event03` signature (not a crypto-agile log)",
        });
    }
    // platformClass u32, specVersionMinor u8, specVersionMajor u8, specErrata u8, uintnSize u8
    spec.take(8, "spec id versions")?;
    let count = spec.u32("spec id algorithm count")?;
    if count == 0 || count > MAX_ALGORITHMS {
        return Err(EventLogError::BadHeader {
            reason: "the digest algorithm count must be 1..=16",
        });
    }
    let mut sizes = Vec::new();
    for _ in 0..count {
        let algorithm = spec.u16("spec id algorithm id")?;
        let size = spec.u16("spec id digest size")?;
        if size == 0 || size > MAX_DIGEST_SIZE {
            return Err(EventLogError::BadHeader {
                reason: "a digest size must be 1..=64 bytes",
            });
        }
        if known_digest_size(algorithm).is_some_and(|expected| expected != usize::from(size)) {
            return Err(EventLogError::BadHeader {
                reason: "a declared digest size differs from its algorithm's",
            });
        }
        sizes.push((algorithm, size));
    }
    let vendor_size = usize::from(spec.u8("spec id vendor info size")?);
    spec.take(vendor_size, "spec id vendor info")?;
    Ok(DigestSizes(sizes))
}

/// Reads one `TCG_PCR_EVENT2`.
fn parse_event(r: &mut Reader<'_>, sizes: &DigestSizes) -> Result<Event, EventLogError> {
    let index = r.u32("event index")?;
    let event_type = r.u32("event type")?;
    let count = r.u32("digest count")?;
    // Each algorithm at most once: more digests than declared algorithms is malformed.
    if usize::try_from(count).map_or(true, |count| count > sizes.0.len()) {
        return Err(EventLogError::BadEvent {
            reason: "more digests than the header declared algorithms",
        });
    }
    let mut digests = Vec::new();
    for _ in 0..count {
        let algorithm = r.u16("digest algorithm")?;
        let size = sizes
            .size_of(algorithm)
            .ok_or(EventLogError::UndeclaredAlgorithm { algorithm })?;
        let digest = r.take(size, "digest")?.to_vec();
        digests.push(EventDigest { algorithm, digest });
    }
    let size = r.len_u32("event size")?;
    let data = r.take(size, "event data")?.to_vec();
    let digest_matches_event = !digests.is_empty()
        && digests.iter().all(|d| {
            hash_algorithm(d.algorithm)
                .is_some_and(|alg| digest::digest(alg, &data).as_ref() == d.digest.as_slice())
        });
    Ok(Event {
        details: details::decode(event_type, &data),
        digest_matches_event,
        digests,
        data,
        index,
        event_type,
    })
}

/// The digest size of an algorithm this module can hash.
fn known_digest_size(algorithm: u16) -> Option<usize> {
    hash_algorithm(algorithm).map(|alg| alg.output_len())
}

fn hash_algorithm(algorithm: u16) -> Option<&'static Algorithm> {
    match algorithm {
        TPM_ALG_SHA1 => Some(&SHA1_FOR_LEGACY_USE_ONLY),
        TPM_ALG_SHA256 => Some(&SHA256),
        TPM_ALG_SHA384 => Some(&SHA384),
        TPM_ALG_SHA512 => Some(&SHA512),
        _ => None,
    }
}

/// Upstream's name of a TCG algorithm id.
pub fn algorithm_name(algorithm: u16) -> String {
    match algorithm {
        0x0001 => "RSA".to_owned(),
        0x0003 => "TDES".to_owned(),
        TPM_ALG_SHA1 => "SHA-1".to_owned(),
        TPM_ALG_SHA256 => "SHA-256".to_owned(),
        TPM_ALG_SHA384 => "SHA-384".to_owned(),
        TPM_ALG_SHA512 => "SHA-512".to_owned(),
        0x0012 => "SM3_256".to_owned(),
        other => format!("{other:#06x}"),
    }
}

/// The TCG name of an event type (TCG PFP §10.4.1, UEFI additions); unknown types by number.
pub fn event_type_name(event_type: u32) -> String {
    let name = match event_type {
        0x0 => "EV_PREBOOT_CERT",
        0x1 => "EV_POST_CODE",
        0x2 => "EV_UNUSED",
        0x3 => "EV_NO_ACTION",
        0x4 => "EV_SEPARATOR",
        0x5 => "EV_ACTION",
        0x6 => "EV_EVENT_TAG",
        0x7 => "EV_S_CRTM_CONTENTS",
        0x8 => "EV_S_CRTM_VERSION",
        0x9 => "EV_CPU_MICROCODE",
        0xa => "EV_PLATFORM_CONFIG_FLAGS",
        0xb => "EV_TABLE_OF_DEVICES",
        0xc => "EV_COMPACT_HASH",
        0xd => "EV_IPL",
        0xe => "EV_IPL_PARTITION_DATA",
        0xf => "EV_NONHOST_CODE",
        0x10 => "EV_NONHOST_CONFIG",
        0x11 => "EV_NONHOST_INFO",
        0x12 => "EV_OMIT_BOOT_DEVICE_EVENTS",
        0x8000_0000 => "EV_EFI_EVENT_BASE",
        0x8000_0001 => "EV_EFI_VARIABLE_DRIVER_CONFIG",
        0x8000_0002 => "EV_EFI_VARIABLE_BOOT",
        0x8000_0003 => "EV_EFI_BOOT_SERVICES_APPLICATION",
        0x8000_0004 => "EV_EFI_BOOT_SERVICES_DRIVER",
        0x8000_0005 => "EV_EFI_RUNTIME_SERVICES_DRIVER",
        0x8000_0006 => "EV_EFI_GPT_EVENT",
        0x8000_0007 => "EV_EFI_ACTION",
        0x8000_0008 => "EV_EFI_PLATFORM_FIRMWARE_BLOB",
        0x8000_0009 => "EV_EFI_HANDOFF_TABLES",
        0x8000_000a => "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
        0x8000_000b => "EV_EFI_HANDOFF_TABLES2",
        0x8000_000c => "EV_EFI_VARIABLE_BOOT2",
        0x8000_0010 => "EV_EFI_HCRTM_EVENT",
        0x8000_00e0 => "EV_EFI_VARIABLE_AUTHORITY",
        0x8000_00e1 => "EV_EFI_SPDM_FIRMWARE_BLOB",
        0x8000_00e2 => "EV_EFI_SPDM_FIRMWARE_CONFIG",
        other => return format!("{other:#010x}"),
    };
    name.to_owned()
}

fn serialize_alg<S: Serializer>(algorithm: &u16, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&algorithm_name(*algorithm))
}

fn serialize_event_type<S: Serializer>(event_type: &u32, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&event_type_name(*event_type))
}

fn serialize_hex<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

fn serialize_base64<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&STANDARD.encode(bytes))
}

/// A little-endian reader over untrusted bytes; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, offset: 0 }
    }

    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.bytes.get(self.offset..).unwrap_or_default()
    }

    /// The log ends at the end of the input or where the unused area (all `0xff`, or all
    /// zero) starts: an event never starts with eight such bytes (index 0xffffffff does not
    /// exist; index 0 with type 0 would be an `EV_PREBOOT_CERT` for MRTD, which no CC
    /// firmware logs).
    fn at_end_of_log(&self) -> bool {
        let rest = self.remaining();
        let head = rest.get(..8).unwrap_or(rest);
        head.is_empty() || head.iter().all(|&b| b == 0xff) || head.iter().all(|&b| b == 0)
    }

    pub(crate) fn take(
        &mut self,
        n: usize,
        field: &'static str,
    ) -> Result<&'a [u8], EventLogError> {
        let truncated = EventLogError::Truncated {
            field,
            offset: self.offset,
        };
        let end = self.offset.checked_add(n).ok_or(truncated.clone())?;
        let bytes = self.bytes.get(self.offset..end).ok_or(truncated)?;
        self.offset = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], EventLogError> {
        let offset = self.offset;
        let bytes = self.take(N, field)?;
        <[u8; N]>::try_from(bytes).map_err(|_| EventLogError::Truncated { field, offset })
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, EventLogError> {
        let [byte] = self.array::<1>(field)?;
        Ok(byte)
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, EventLogError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, EventLogError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, EventLogError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A u32 length; the caller's `take` then checks it against the remaining input.
    fn len_u32(&mut self, field: &'static str) -> Result<usize, EventLogError> {
        Ok(usize::try_from(self.u32(field)?).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
mod tests;
