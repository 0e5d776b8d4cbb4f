//! CSV claims with trustee's names and encodings (verifiers spec §8.2 step 5), so policies
//! written for upstream read `input.csv.*` unchanged.

use serde_json::{Map, Value, json};

use super::evidence::ChipSerial;
use super::report::{GuestPolicy, ReportVersion, VerifiedReport};
use crate::TeeEvidenceClaims;

/// Claims from a verified report.
///
/// Encodings follow upstream exactly, quirks included: byte fields are lower-case hex;
/// `sig_usage`, `sig_algo` and `anonce` are hex of their **little-endian** bytes (so usage
/// 0x1002 is `"02100000"`); policy bits and V2's `build`/`rtmr_version` are JSON numbers.
/// `report_data` is the top-level string the attestation service lifts out.
///
/// `serial_number` comes from the evidence. It is authenticated only when the HSK/CEK was
/// looked up by that serial (offline store, KDS): with HSK/CEK inside the evidence, any
/// genuine chip's chain verifies whatever serial the evidence names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvClaims {
    report: VerifiedReport,
    serial_number: ChipSerial,
}

impl CsvClaims {
    /// Claims of `report`, which came from the chip `serial_number`.
    pub fn new(report: VerifiedReport, serial_number: ChipSerial) -> Self {
        Self {
            report,
            serial_number,
        }
    }

    /// The verified report.
    pub fn report(&self) -> &VerifiedReport {
        &self.report
    }

    /// The claims object (`input.csv` in policies).
    pub fn to_claims(&self) -> TeeEvidenceClaims {
        let tee_info = self.report.tee_info();
        let mut claims = Map::new();
        let version = match tee_info.version {
            ReportVersion::V1 => "1",
            ReportVersion::V2 => "2",
        };
        claims.insert("version".into(), json!(version));
        claims.insert("policy".into(), policy_claims(tee_info.policy));
        let hex_fields: [(&str, &[u8]); 6] = [
            ("user_pubkey_digest", &tee_info.user_pubkey_digest),
            ("vm_id", &tee_info.vm_id),
            ("vm_version", &tee_info.vm_version),
            ("report_data", &tee_info.report_data),
            ("mnonce", &tee_info.mnonce),
            ("measure", &tee_info.measure),
        ];
        for (name, bytes) in hex_fields {
            claims.insert(name.into(), Value::String(hex::encode(bytes)));
        }
        claims.insert(
            "sig_usage".into(),
            json!(hex::encode(tee_info.sig_usage.to_le_bytes())),
        );
        claims.insert(
            "sig_algo".into(),
            json!(hex::encode(tee_info.sig_algo.to_le_bytes())),
        );
        if let Some(anonce) = tee_info.anonce {
            claims.insert("anonce".into(), json!(hex::encode(anonce.to_le_bytes())));
        }
        if let Some(extended) = &tee_info.extended {
            claims.insert("build".into(), json!(extended.build));
            claims.insert("rtmr_version".into(), json!(extended.rtmr_version));
            claims.insert("reserved0".into(), json!(hex::encode(extended.reserved0)));
            for (index, rtmr) in extended.rtmrs.iter().enumerate() {
                claims.insert(format!("rtmr{index}"), json!(hex::encode(rtmr)));
            }
            claims.insert("reserved1".into(), json!(hex::encode(&extended.reserved1)));
        }
        claims.insert("serial_number".into(), json!(self.serial_number.as_str()));
        TeeEvidenceClaims::new(claims)
    }
}

/// `policy.*`: csv-rs `GuestPolicy` bitfields, as numbers.
fn policy_claims(policy: GuestPolicy) -> Value {
    json!({
        "nodbg": policy.bits(0, 0),
        "noks": policy.bits(1, 1),
        "es": policy.bits(2, 2),
        "nosend": policy.bits(3, 3),
        "domain": policy.bits(4, 4),
        "csv": policy.bits(5, 5),
        "csv3": policy.bits(6, 6),
        "asid_reuse": policy.bits(7, 7),
        "hsk_version": policy.bits(8, 11),
        "cek_version": policy.bits(12, 15),
        "api_major": policy.bits(16, 23),
        "api_minor": policy.bits(24, 31),
    })
}
