//! UEFI device paths (UEFI 2.10 §10.3) as short text, one string per node, the way upstream
//! renders them in `details.device_paths`.
//!
//! A node is type u8, sub-type u8, length u16 (including these 4 bytes), data. The nodes
//! seen in CC boot logs get their usual names; any other node is `Path(type,sub-type,hex)`.

/// At most this many nodes are rendered (real paths have fewer than ten).
const MAX_NODES: usize = 64;

/// Renders the nodes of `path` up to its end node; a malformed node ends the rendering.
pub(super) fn to_text(path: &[u8]) -> Vec<String> {
    let mut nodes = Vec::new();
    let mut rest = path;
    while nodes.len() < MAX_NODES {
        let Some((&kind, after_kind)) = rest.split_first() else {
            break;
        };
        let Some((&sub_type, after_sub)) = after_kind.split_first() else {
            break;
        };
        let Some(length) = after_sub.get(..2) else {
            break;
        };
        let length = usize::from(u16::from_le_bytes([length[0], length[1]]));
        if length < 4 {
            break;
        }
        let Some(node) = rest.get(4..length) else {
            break;
        };
        // End of the whole path (0x7f/0xff) or of one instance (0x7f/0x01).
        if kind == 0x7f {
            break;
        }
        nodes.push(node_text(kind, sub_type, node));
        rest = rest.get(length..).unwrap_or_default();
    }
    nodes
}

fn node_text(kind: u8, sub_type: u8, data: &[u8]) -> String {
    let text = match (kind, sub_type) {
        (1, 1) => pci(data),
        (2, 1) => acpi(data),
        (4, 1) => hard_drive(data),
        (4, 3) => vendor_media(data),
        (4, 4) => Some(format!("File({})", super::details::utf16_lossy(data))),
        _ => None,
    };
    text.unwrap_or_else(|| format!("Path({kind},{sub_type},{})", hex::encode(data)))
}

/// PCI: function u8, device u8 (printed in that order, as upstream).
fn pci(data: &[u8]) -> Option<String> {
    let [function, device] = data else {
        return None;
    };
    Some(format!("Pci({function},{device})"))
}

/// ACPI: `_HID` u32 (EISA id), `_UID` u32.
fn acpi(data: &[u8]) -> Option<String> {
    let hid = u32::from_le_bytes(data.get(..4)?.try_into().ok()?);
    let uid = u32::from_le_bytes(data.get(4..8)?.try_into().ok()?);
    // A compressed EISA id with the `PNP` vendor prefix.
    let hid = if hid & 0xffff == 0x41d0 {
        format!("PNP{:04X}", hid >> 16)
    } else {
        format!("{hid:#x}")
    };
    Some(format!("ACPI({hid},{uid})"))
}

/// Hard drive: partition u32, start u64, size u64, signature [16], MBR type u8, signature
/// type u8.
fn hard_drive(data: &[u8]) -> Option<String> {
    let number = u32::from_le_bytes(data.get(..4)?.try_into().ok()?);
    let start = u64::from_le_bytes(data.get(4..12)?.try_into().ok()?);
    let size = u64::from_le_bytes(data.get(12..20)?.try_into().ok()?);
    let signature = data.get(20..36)?;
    let signature_type = *data.get(37)?;
    let signature = match signature_type {
        2 => format!("GPT,{}", guid(signature)?),
        1 => format!(
            "MBR,{:#010x}",
            u32::from_le_bytes(signature.get(..4)?.try_into().ok()?)
        ),
        _ => return None,
    };
    Some(format!("HD({number},{signature},{start:#x},{size:#x})"))
}

/// Vendor-defined media: GUID, then vendor data (hex).
fn vendor_media(data: &[u8]) -> Option<String> {
    let vendor = guid(data.get(..16)?)?;
    let rest = data.get(16..)?;
    Some(format!("VenMedia({vendor},{})", hex::encode_upper(rest)))
}

/// An `EFI_GUID` in registry format: the first three fields are little-endian.
pub(super) fn guid(bytes: &[u8]) -> Option<String> {
    let d1 = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let d2 = u16::from_le_bytes(bytes.get(4..6)?.try_into().ok()?);
    let d3 = u16::from_le_bytes(bytes.get(6..8)?.try_into().ok()?);
    let d4 = bytes.get(8..10)?;
    let d5 = bytes.get(10..16)?;
    Some(format!(
        "{d1:08X}-{d2:04X}-{d3:04X}-{}-{}",
        hex::encode_upper(d4),
        hex::encode_upper(d5)
    ))
}
