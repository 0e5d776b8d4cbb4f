//! `sampledevice`: the test-only GPU that rides along as additional evidence.

use async_trait::async_trait;
use kbs_types::Tee;
use serde_json::{Map, Value};

use super::{SampleEvidence, check_report_data};
use crate::{Error, InitDataHash, ReportData, TeeClass, TeeEvidenceClaims, Verifier};

/// Verifier for `sampledevice` evidence `{"svn": "<string>", "report_data"?: "<standard base64>"}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SampleDevice;

#[async_trait]
impl Verifier for SampleDevice {
    async fn evaluate(
        &self,
        evidence: &Value,
        expected_report_data: &ReportData,
        _expected_init_data_hash: &InitDataHash,
    ) -> Result<Vec<(TeeEvidenceClaims, TeeClass)>, Error> {
        let evidence = SampleEvidence::parse(Tee::SampleDevice, evidence)?;
        check_report_data(evidence.report_data.as_deref(), expected_report_data)?;

        let mut claims = Map::new();
        claims.insert("svn".into(), Value::String(evidence.svn));
        if let Some(report_data) = evidence.report_data {
            claims.insert("report_data".into(), Value::String(report_data));
        }
        Ok(vec![(TeeEvidenceClaims::new(claims), TeeClass::Gpu)])
    }
}
