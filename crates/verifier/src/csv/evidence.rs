//! The CSV evidence JSON as guest-components sends it (csv-rs serde, verifiers spec §8.1),
//! re-encoded into Hygon's binary layouts so signatures are checked over exactly those bytes.

use std::fmt;

use kbs_types::Tee;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::CsvError;
use super::cert::{CaCertificate, CsvCertificate};
use super::chain::HskCek;
use super::error::CertRole;
use super::report::{AttestationReport, REPORT_PAGE_LEN};
use crate::Error;

/// Parsed CSV evidence: the report, the certificates it brought and the chip serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvEvidence {
    /// The attestation report (unverified).
    pub report: AttestationReport,
    /// HSK and CEK, when the attester included them.
    pub hsk_cek: Option<HskCek>,
    /// The PEK certificate (unverified).
    pub pek: CsvCertificate,
    /// The chip serial that selects the HSK/CEK when the evidence has none.
    pub serial_number: ChipSerial,
    /// The `cc_eventlog` member, kept as sent (standard base64).
    pub cc_eventlog: Option<String>,
}

impl CsvEvidence {
    /// Parses the evidence JSON. Unknown members are ignored, as upstream's serde does.
    pub fn from_json(evidence: &Value) -> Result<Self, Error> {
        let wire = WireEvidence::deserialize(evidence).map_err(|err| Error::MalformedEvidence {
            tee: Tee::Csv,
            reason: err.to_string(),
        })?;
        let report = AttestationReport::parse(
            &wire.attestation_report.magic.0,
            wire.attestation_report.flags,
            &wire.attestation_report.data.0,
        )?;
        let hsk_cek = match wire.cert_chain.hsk_cek {
            Some(pair) => Some(HskCek {
                hsk: CaCertificate::parse(&pair.hsk.encode(), CertRole::Hsk)?,
                cek: CsvCertificate::parse(&pair.cek.encode(), CertRole::Cek)?,
            }),
            None => None,
        };
        let pek = CsvCertificate::parse(&wire.cert_chain.pek.encode(), CertRole::Pek)?;
        let serial_number = ChipSerial::from_padded(&wire.serial_number.0)?;
        Ok(Self {
            report,
            hsk_cek,
            pek,
            serial_number,
            cc_eventlog: wire.cc_eventlog,
        })
    }
}

/// A Hygon chip serial number, e.g. `NZA9T14052605`.
///
/// Only ASCII letters and digits are accepted: the serial names a directory of the offline
/// store and a KDS query parameter, so it must not be able to carry `/`, `..` or `&`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ChipSerial(String);

impl ChipSerial {
    /// Longest serial: the size of the evidence's `serial_number` field.
    pub const MAX_LEN: usize = 64;

    /// Validates a serial given as text.
    pub fn new(serial: &str) -> Result<Self, CsvError> {
        if serial.is_empty()
            || serial.len() > Self::MAX_LEN
            || !serial.bytes().all(|byte| byte.is_ascii_alphanumeric())
        {
            return Err(CsvError::InvalidSerialNumber);
        }
        Ok(Self(serial.to_owned()))
    }

    /// Parses the NUL-padded `serial_number` bytes: text up to the first NUL, then only NULs.
    pub fn from_padded(bytes: &[u8]) -> Result<Self, CsvError> {
        let end = bytes
            .iter()
            .position(|&byte| byte == 0)
            .unwrap_or(bytes.len());
        let (serial, padding) = bytes.split_at(end);
        if padding.iter().any(|&byte| byte != 0) {
            return Err(CsvError::InvalidSerialNumber);
        }
        let serial = std::str::from_utf8(serial).map_err(|_| CsvError::InvalidSerialNumber)?;
        Self::new(serial)
    }

    /// The serial as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChipSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Top level (`CsvEvidence` in trustee's `csv/mod.rs`).
#[derive(Deserialize)]
struct WireEvidence {
    attestation_report: WireReport,
    cert_chain: WireCertChain,
    serial_number: Bytes<64>,
    #[serde(default)]
    cc_eventlog: Option<String>,
}

/// csv-rs `AttestationReportWrapper`.
#[derive(Deserialize)]
struct WireReport {
    magic: Bytes<16>,
    flags: u32,
    data: Bytes<REPORT_PAGE_LEN>,
}

#[derive(Deserialize)]
struct WireCertChain {
    #[serde(default)]
    hsk_cek: Option<WireHskCek>,
    pek: WireCsvCert,
}

#[derive(Deserialize)]
struct WireHskCek {
    hsk: WireCaCert,
    cek: WireCsvCert,
}

/// csv-rs `ca::Certificate`.
#[derive(Deserialize)]
struct WireCaCert {
    body: WireCaBody,
    signature: WireSignature,
    #[serde(rename = "_reserved")]
    reserved: Bytes<112>,
}

#[derive(Deserialize)]
struct WireCaBody {
    preamble: WireCaPreamble,
    pubkey: WirePublicKey,
    uid_size: u16,
    user_id: Bytes<254>,
    reserved: Bytes<108>,
}

#[derive(Deserialize)]
struct WireCaPreamble {
    ver: u32,
    data: WireCaPreambleData,
}

#[derive(Deserialize)]
struct WireCaPreambleData {
    kid: Bytes<16>,
    sid: Bytes<16>,
    usage: u32,
    reserved: Bytes<24>,
}

/// csv-rs `csv::Certificate`.
#[derive(Deserialize)]
struct WireCsvCert {
    body: WireCsvBody,
    sigs: [WireCsvSignature; 2],
}

#[derive(Deserialize)]
struct WireCsvBody {
    ver: u32,
    data: WireCsvBodyData,
}

#[derive(Deserialize)]
struct WireCsvBodyData {
    firmware: WireFirmware,
    reserved1: u16,
    pubkey: WireCsvPublicKey,
    uid_size: u16,
    user_id: Bytes<254>,
    sid: Bytes<16>,
    reserved2: Bytes<608>,
}

#[derive(Deserialize)]
struct WireFirmware {
    major: u8,
    minor: u8,
}

#[derive(Deserialize)]
struct WireCsvPublicKey {
    usage: u32,
    algo: u32,
    key: WirePublicKey,
}

#[derive(Deserialize)]
struct WirePublicKey {
    g: u32,
    x: Bytes<72>,
    y: Bytes<72>,
}

#[derive(Deserialize)]
struct WireCsvSignature {
    usage: u32,
    algo: u32,
    signature: WireSignature,
    #[serde(rename = "_reserved")]
    reserved: Bytes<368>,
}

#[derive(Deserialize)]
struct WireSignature {
    r: Bytes<72>,
    s: Bytes<72>,
}

impl WireCaCert {
    /// The 832-byte memory image.
    fn encode(&self) -> Vec<u8> {
        let body = &self.body;
        let mut out = Vec::with_capacity(super::cert::CA_CERT_LEN);
        out.extend_from_slice(&body.preamble.ver.to_le_bytes());
        out.extend_from_slice(&body.preamble.data.kid.0);
        out.extend_from_slice(&body.preamble.data.sid.0);
        out.extend_from_slice(&body.preamble.data.usage.to_le_bytes());
        out.extend_from_slice(&body.preamble.data.reserved.0);
        body.pubkey.encode(&mut out);
        out.extend_from_slice(&body.uid_size.to_le_bytes());
        out.extend_from_slice(&body.user_id.0);
        out.extend_from_slice(&body.reserved.0);
        self.signature.encode(&mut out);
        out.extend_from_slice(&self.reserved.0);
        out
    }
}

impl WireCsvCert {
    /// The 2084-byte memory image.
    fn encode(&self) -> Vec<u8> {
        let data = &self.body.data;
        let mut out = Vec::with_capacity(super::cert::CSV_CERT_LEN);
        out.extend_from_slice(&self.body.ver.to_le_bytes());
        out.extend_from_slice(&[data.firmware.major, data.firmware.minor]);
        out.extend_from_slice(&data.reserved1.to_le_bytes());
        out.extend_from_slice(&data.pubkey.usage.to_le_bytes());
        out.extend_from_slice(&data.pubkey.algo.to_le_bytes());
        data.pubkey.key.encode(&mut out);
        out.extend_from_slice(&data.uid_size.to_le_bytes());
        out.extend_from_slice(&data.user_id.0);
        out.extend_from_slice(&data.sid.0);
        out.extend_from_slice(&data.reserved2.0);
        for slot in &self.sigs {
            out.extend_from_slice(&slot.usage.to_le_bytes());
            out.extend_from_slice(&slot.algo.to_le_bytes());
            slot.signature.encode(&mut out);
            out.extend_from_slice(&slot.reserved.0);
        }
        out
    }
}

impl WirePublicKey {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.g.to_le_bytes());
        out.extend_from_slice(&self.x.0);
        out.extend_from_slice(&self.y.0);
    }
}

impl WireSignature {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.r.0);
        out.extend_from_slice(&self.s.0);
    }
}

/// A JSON array of exactly `N` numbers 0..=255 (serde's own arrays stop at 32 elements).
struct Bytes<const N: usize>([u8; N]);

impl<'de, const N: usize> Deserialize<'de> for Bytes<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArrayVisitor<const N: usize>;

        impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
            type Value = Bytes<N>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an array of {N} bytes")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes<N>, A::Error> {
                let mut bytes = [0u8; N];
                for (index, slot) in bytes.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(index, &self))?;
                }
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(N.saturating_add(1), &self));
                }
                Ok(Bytes(bytes))
            }
        }

        deserializer.deserialize_seq(ArrayVisitor::<N>)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn byte_arrays_must_have_the_exact_length() {
        assert!(serde_json::from_value::<Bytes<3>>(json!([1, 2, 3])).is_ok());
        for bad in [
            json!([1, 2]),
            json!([1, 2, 3, 4]),
            json!([1, 2, 256]),
            json!("AQID"),
        ] {
            assert!(
                serde_json::from_value::<Bytes<3>>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn serial_is_alphanumeric_and_nul_padded() {
        let mut padded = [0u8; 64];
        padded[..13].copy_from_slice(b"NZA9T14052605");
        assert_eq!(
            ChipSerial::from_padded(&padded).unwrap().as_str(),
            "NZA9T14052605"
        );

        padded[20] = b'X';
        assert_eq!(
            ChipSerial::from_padded(&padded),
            Err(CsvError::InvalidSerialNumber)
        );
        for bad in ["", "../etc", "NZA9/T1", "a&b=c", &"A".repeat(65)] {
            assert_eq!(
                ChipSerial::new(bad),
                Err(CsvError::InvalidSerialNumber),
                "{bad}"
            );
        }
        assert_eq!(
            ChipSerial::from_padded(&[0; 64]),
            Err(CsvError::InvalidSerialNumber)
        );
    }

    #[test]
    fn evidence_without_report_is_malformed() {
        let err = CsvEvidence::from_json(&json!({"cert_chain": {}})).unwrap_err();
        assert!(
            matches!(err, Error::MalformedEvidence { tee: Tee::Csv, .. }),
            "{err}"
        );
    }
}
