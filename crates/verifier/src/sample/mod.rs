//! `sample` and `sampledevice`: test-only TEEs with no hardware and no signature
//! (verifiers spec §12, attestation-service spec §13 notes).
//!
//! They exist so the whole attestation path can run without a TEE. Only the report-data binding
//! is checked; anything else in the evidence is taken on trust, so a deployment that accepts
//! them accepts anyone. The default CPU policy marks them `contraindicated` unless reference
//! values were registered for them.

mod device;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kbs_types::Tee;
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub use device::SampleDevice;

use crate::{Error, InitDataHash, ReportData, TeeClass, TeeEvidenceClaims, Verifier};

/// Verifier for `sample` evidence `{"svn": "<string>", "report_data"?: "<standard base64>"}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample;

#[async_trait]
impl Verifier for Sample {
    async fn evaluate(
        &self,
        evidence: &Value,
        expected_report_data: &ReportData,
        expected_init_data_hash: &InitDataHash,
    ) -> Result<Vec<(TeeEvidenceClaims, TeeClass)>, Error> {
        let evidence = SampleEvidence::parse(Tee::Sample, evidence)?;
        check_report_data(evidence.report_data.as_deref(), expected_report_data)?;

        let mut claims = Map::new();
        claims.insert("svn".into(), Value::String(evidence.svn));
        if let Some(report_data) = evidence.report_data {
            claims.insert("report_data".into(), Value::String(report_data));
        }
        // Fixed values the upstream sample verifier reports, which its default policy and
        // integration tests match against reference values.
        claims.insert("launch_digest".into(), json!("abcde"));
        claims.insert("platform_version".into(), json!({"major": 1, "minor": 4}));
        claims.insert("debug".into(), Value::Bool(false));
        // The sample TEE cannot bind init data, but it reports the hash so policies and tests
        // can see what the host claimed.
        if let InitDataHash::Value(hash) = expected_init_data_hash {
            claims.insert("init_data".into(), Value::String(STANDARD.encode(hash)));
        }
        Ok(vec![(TeeEvidenceClaims::new(claims), TeeClass::Cpu)])
    }
}

/// Evidence shared by both sample TEEs. Unknown members are ignored, as upstream does.
#[derive(Debug, Deserialize)]
struct SampleEvidence {
    svn: String,
    #[serde(default)]
    report_data: Option<String>,
}

impl SampleEvidence {
    fn parse(tee: Tee, evidence: &Value) -> Result<Self, Error> {
        Self::deserialize(evidence).map_err(|err| Error::MalformedEvidence {
            tee,
            reason: err.to_string(),
        })
    }
}

/// Checks the evidence's report data against the expected value, byte for byte.
///
/// No padding or truncation: a sample attester hashes the runtime data and sends the digest
/// as is, so any length difference means the evidence was made for other runtime data.
fn check_report_data(report_data: Option<&str>, expected: &ReportData) -> Result<(), Error> {
    let ReportData::Value(expected) = expected else {
        return Ok(());
    };
    let report_data = report_data.ok_or(Error::Missing {
        field: "report_data",
    })?;
    let report_data = STANDARD.decode(report_data).map_err(|_| Error::Base64 {
        field: "report_data",
    })?;
    if report_data != *expected {
        return Err(Error::Mismatch {
            field: "report_data",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected() -> ReportData {
        ReportData::Value(vec![1, 2, 3, 4])
    }

    #[test]
    fn matching_report_data_passes() {
        let b64 = STANDARD.encode([1, 2, 3, 4]);
        assert_eq!(check_report_data(Some(&b64), &expected()), Ok(()));
    }

    #[test]
    fn unrequested_binding_is_not_checked() {
        assert_eq!(check_report_data(None, &ReportData::NotProvided), Ok(()));
        assert_eq!(
            check_report_data(Some("not base64!"), &ReportData::NotProvided),
            Ok(())
        );
    }

    #[test]
    fn missing_report_data_fails_when_expected() {
        assert_eq!(
            check_report_data(None, &expected()),
            Err(Error::Missing {
                field: "report_data"
            })
        );
    }

    #[test]
    fn tampered_report_data_fails() {
        let b64 = STANDARD.encode([1, 2, 3, 5]);
        assert_eq!(
            check_report_data(Some(&b64), &expected()),
            Err(Error::Mismatch {
                field: "report_data"
            })
        );
    }

    #[test]
    fn zero_padded_report_data_is_a_mismatch() {
        let b64 = STANDARD.encode([1, 2, 3, 4, 0, 0]);
        assert_eq!(
            check_report_data(Some(&b64), &expected()),
            Err(Error::Mismatch {
                field: "report_data"
            })
        );
    }

    #[test]
    fn truncated_report_data_is_a_mismatch() {
        let b64 = STANDARD.encode([1, 2, 3]);
        assert_eq!(
            check_report_data(Some(&b64), &expected()),
            Err(Error::Mismatch {
                field: "report_data"
            })
        );
    }

    #[test]
    fn url_safe_report_data_is_rejected() {
        // 0xfb 0xff encodes to "+/8=" in standard base64 and "-_8=" in the URL-safe alphabet.
        let expected = ReportData::Value(vec![0xfb, 0xff]);
        assert_eq!(check_report_data(Some("+/8="), &expected), Ok(()));
        assert_eq!(
            check_report_data(Some("-_8="), &expected),
            Err(Error::Base64 {
                field: "report_data"
            })
        );
    }

    #[test]
    fn evidence_without_svn_is_malformed() {
        let err = SampleEvidence::parse(Tee::Sample, &json!({"report_data": ""})).unwrap_err();
        assert!(
            matches!(
                err,
                Error::MalformedEvidence {
                    tee: Tee::Sample,
                    ..
                }
            ),
            "{err}"
        );
    }
}
