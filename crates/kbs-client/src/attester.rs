//! Attesters: where the evidence sent to `/kbs/v0/attest` comes from.
//!
//! The client computes the report data (the hash of the canonical runtime data,
//! `kbs-protocol.md` §3.3) and asks the attester for evidence binding it. Only the software
//! `sample` attester lives here: it proves nothing and exists to test a KBS end to end.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kbs_types::Tee;
use serde_json::{Value, json};

use crate::ClientError;

/// A source of TEE evidence.
pub trait Attester: Send + Sync {
    /// The TEE this attester speaks for; sent in the `/auth` request.
    fn tee(&self) -> Tee;

    /// Primary evidence binding `report_data` (the digest of the canonical primary runtime
    /// data, `{"additional-evidence","nonce","tee-pubkey"}`).
    fn evidence(&self, report_data: &[u8]) -> Result<Value, ClientError>;

    /// Evidence of additional devices, as the JSON text of an object mapping TEE name to
    /// evidence, each binding `device_report_data` (the digest of the canonical
    /// `{"nonce","tee-pubkey"}`). `None` (the default) sends `""`.
    fn additional_evidence(
        &self,
        device_report_data: &[u8],
    ) -> Result<Option<String>, ClientError> {
        let _ = device_report_data;
        Ok(None)
    }
}

/// The software `sample` TEE: evidence `{"svn":"1","report_data":"<b64 digest>"}`
/// (`verifiers.md` §12). Never use it to protect a real secret.
#[derive(Debug, Clone, Default)]
pub struct SampleAttester {
    with_sample_device: bool,
}

impl SampleAttester {
    /// A sample attester with no additional device.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also attach `sampledevice` evidence (svn `"2"`) as additional evidence, as upstream's
    /// client does with `ENABLE_SAMPLE_DEVICE` set.
    pub fn with_sample_device(mut self, enabled: bool) -> Self {
        self.with_sample_device = enabled;
        self
    }
}

impl Attester for SampleAttester {
    fn tee(&self) -> Tee {
        Tee::Sample
    }

    fn evidence(&self, report_data: &[u8]) -> Result<Value, ClientError> {
        Ok(json!({"svn": "1", "report_data": STANDARD.encode(report_data)}))
    }

    fn additional_evidence(
        &self,
        device_report_data: &[u8],
    ) -> Result<Option<String>, ClientError> {
        if !self.with_sample_device {
            return Ok(None);
        }
        let devices = json!({
            "sampledevice": {"svn": "2", "report_data": STANDARD.encode(device_report_data)}
        });
        Ok(Some(devices.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_evidence_carries_standard_base64_report_data() {
        let ev = SampleAttester::new().evidence(&[0xfb, 0xff, 0x01]).unwrap();
        assert_eq!(ev, json!({"svn": "1", "report_data": "+/8B"}));
    }

    #[test]
    fn sample_device_evidence_is_a_json_text_keyed_by_tee_name() {
        assert_eq!(
            SampleAttester::new().additional_evidence(b"d").unwrap(),
            None
        );
        let text = SampleAttester::new()
            .with_sample_device(true)
            .additional_evidence(&[1, 2, 3])
            .unwrap()
            .unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            json!({"sampledevice": {"svn": "2", "report_data": "AQID"}})
        );
    }
}
