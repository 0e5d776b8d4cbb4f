//! What an event's data says, decoded per event type into upstream's `details` object.
//!
//! Decoding is informational: the digests, not the data, are what was measured, so a data
//! field that cannot be decoded yields empty details instead of rejecting the log (upstream
//! fails the whole log on some of these; a policy must not depend on a cosmetic decoder).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;

use super::Reader;
use super::device_path;

/// The decoded event data; absent members are left out of the claim.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventDetails {
    /// A textual description (most event types).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// UEFI variable name, or the tag name of a tagged event (`AAEL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unicode_name: Option<String>,
    /// Length of the UEFI variable name in UTF-16 code units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unicode_name_length: Option<u64>,
    /// The UEFI variable data, base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable_data: Option<String>,
    /// Length of the UEFI variable data in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable_data_length: Option<u64>,
    /// The UEFI variable's vendor GUID, as upstream prints it: its 16 bytes in hex, in
    /// storage order, grouped 8-4-4-4-12.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable_name: Option<String>,
    /// The loaded image's device path, one text node per element.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_paths: Option<Vec<String>>,
    /// Structured data (an `AAEL` tagged event: domain, operation, content).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl EventDetails {
    fn string(text: String) -> Self {
        Self {
            string: Some(text),
            ..Self::default()
        }
    }
}

/// Decodes `data` of an event of `event_type`.
pub(super) fn decode(event_type: u32, data: &[u8]) -> EventDetails {
    let decoded = match event_type {
        // EV_POST_CODE, EV_ACTION, EV_COMPACT_HASH, EV_OMIT_BOOT_DEVICE_EVENTS, EV_EFI_ACTION
        0x1 | 0x5 | 0xc | 0x12 | 0x8000_0007 => Some(plain_text(data)),
        0x6 => tagged_event(data),
        0xa => Some(platform_config_flags(data)),
        0xd => ipl(data),
        // EV_EFI_VARIABLE_DRIVER_CONFIG, _BOOT, _BOOT2, _AUTHORITY
        0x8000_0001 | 0x8000_0002 | 0x8000_000c | 0x8000_00e0 => efi_variable(data),
        0x8000_0003 => image_load(data),
        // EV_EFI_PLATFORM_FIRMWARE_BLOB2, EV_EFI_HANDOFF_TABLES2: a length-prefixed description
        0x8000_000a | 0x8000_000b => length_prefixed_description(data),
        _ => None,
    };
    decoded.unwrap_or_default()
}

/// The data as text, NULs dropped.
fn plain_text(data: &[u8]) -> EventDetails {
    EventDetails::string(String::from_utf8_lossy(data).replace('\0', ""))
}

/// Vendor-specific text; upstream keeps only valid UTF-8 (else ""), turns 0x10 into a space
/// and drops control characters.
fn platform_config_flags(data: &[u8]) -> EventDetails {
    let text = std::str::from_utf8(data).unwrap_or_default();
    let cleaned = text
        .replace('\u{10}', " ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    EventDetails::string(cleaned)
}

/// EV_IPL: text up to the first NUL (hex of the whole data if that is not UTF-8); Google's
/// systemd-stub writes `2e 00` and then a NUL-terminated UTF-16LE name instead.
fn ipl(data: &[u8]) -> Option<EventDetails> {
    if let Some(rest) = data.strip_prefix(&[0x2e, 0x00]) {
        // The last code unit is the terminator.
        let body = rest.get(..rest.len().checked_sub(2)?)?;
        if body.is_empty() || body.len() % 2 != 0 {
            return None;
        }
        return Some(EventDetails::string(utf16_lossy(body)));
    }
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let head = data.get(..end)?;
    let text = match std::str::from_utf8(head) {
        Ok(text) => text.to_owned(),
        Err(_) => hex::encode(data),
    };
    Some(EventDetails::string(text))
}

/// `TCG_PCClientTaggedEvent`: tag id u32, size u32, data. The confidential-containers
/// attestation agent's tag `AAEL` carries `"<domain> <operation> <content>"`.
fn tagged_event(data: &[u8]) -> Option<EventDetails> {
    let mut r = Reader::new(data);
    let tag = r.take(4, "tag id").ok()?;
    let size = usize::try_from(r.u32("tag size").ok()?).ok()?;
    let body = r.take(size, "tag data").ok()?;
    let text = std::str::from_utf8(body).ok()?.replace('\0', "");
    if tag != b"LEAA" {
        return Some(EventDetails::string(text));
    }
    let mut parts = text.splitn(3, ' ');
    let (Some(domain), Some(operation), Some(content)) = (parts.next(), parts.next(), parts.next())
    else {
        return Some(EventDetails::string(text));
    };
    let content =
        serde_json::from_str(content).unwrap_or_else(|_| Value::String(content.to_owned()));
    let data = serde_json::json!({
        "domain": domain,
        "operation": operation,
        "content": content,
    });
    Some(EventDetails {
        string: Some(text.clone()),
        unicode_name: Some("AAEL".to_owned()),
        data: Some(data),
        ..EventDetails::default()
    })
}

/// `UEFI_VARIABLE_DATA`: vendor GUID (16), name length u64 (UTF-16 units), data length u64,
/// name (UTF-16LE), data.
fn efi_variable(data: &[u8]) -> Option<EventDetails> {
    let mut r = Reader::new(data);
    let guid = r.take(16, "variable guid").ok()?;
    let name_length = r.u64("variable name length").ok()?;
    let data_length = r.u64("variable data length").ok()?;
    let name_bytes = usize::try_from(name_length).ok()?.checked_mul(2)?;
    let name = r.take(name_bytes, "variable name").ok()?;
    let value = r
        .take(usize::try_from(data_length).ok()?, "variable data")
        .ok()?;
    Some(EventDetails {
        unicode_name: Some(utf16_lossy(name)),
        unicode_name_length: Some(name_length),
        variable_data: Some(STANDARD.encode(value)),
        variable_data_length: Some(data_length),
        variable_name: Some(storage_order_guid(guid)),
        ..EventDetails::default()
    })
}

/// `UEFI_IMAGE_LOAD_EVENT`: location u64, length u64, link-time address u64, device-path
/// length u64, device path.
fn image_load(data: &[u8]) -> Option<EventDetails> {
    let mut r = Reader::new(data);
    r.take(24, "image location, length, link address").ok()?;
    let length = usize::try_from(r.u64("device path length").ok()?).ok()?;
    let path = r.take(length, "device path").ok()?;
    let nodes = device_path::to_text(path);
    if nodes.is_empty() {
        return None;
    }
    Some(EventDetails {
        device_paths: Some(nodes),
        ..EventDetails::default()
    })
}

/// `UEFI_PLATFORM_FIRMWARE_BLOB2` / `UEFI_HANDOFF_TABLE_POINTERS2`: description size u8, then
/// the description (NULs dropped).
fn length_prefixed_description(data: &[u8]) -> Option<EventDetails> {
    let (&size, rest) = data.split_first()?;
    let text = rest.get(..usize::from(size))?;
    Some(EventDetails::string(
        String::from_utf8_lossy(text).replace('\0', ""),
    ))
}

/// UTF-16LE text without its terminating NULs.
pub(super) fn utf16_lossy(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    String::from_utf16_lossy(&units)
        .trim_end_matches('\0')
        .to_owned()
}

/// 16 bytes as hex in storage order, grouped 8-4-4-4-12 (upstream's `variable_name`).
fn storage_order_guid(bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    let group = |range: std::ops::Range<usize>| hex.get(range).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        group(0..8),
        group(8..12),
        group(12..16),
        group(16..20),
        group(20..32)
    )
}
