//! The evidence JSON of the Azure TDX vTPM attester, in every version it has sent
//! (verifiers spec §6.1, testdata README §2).

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use kbs_types::Tee;
use serde::Deserialize;
use serde_json::Value;

use crate::Error;
use crate::dcap::Quote;
use crate::vtpm::{HclReport, TpmQuote, TpmQuoteBytes, TpmQuoteHex};

/// The wire version of the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceVersion {
    /// Legacy: `{"tpm_quote": {byte arrays}, "hcl_report": [u8], "td_quote": [u8]}`.
    V0,
    /// `{"version": 1, "tpm_quote": {hex}, "hcl_report": base64url, "td_quote": base64url}`.
    V1,
    /// As v1; the HCL `user-data` also carries the report data.
    V2,
}

/// Parsed, not yet verified, `az-tdx-vtpm` evidence.
#[derive(Debug, Clone)]
pub struct AzTdxVtpmEvidence {
    /// The wire version, which decides whether HCL user-data is bound.
    pub version: EvidenceVersion,
    /// The vTPM quote.
    pub quote: TpmQuote,
    /// The HCL report (TDREPORT + runtime data with the AK).
    pub hcl_report: HclReport,
    /// The TD quote made from the HCL's TDREPORT.
    pub td_quote: Quote,
}

#[derive(Deserialize)]
struct WireV1 {
    version: u32,
    tpm_quote: TpmQuoteHex,
    hcl_report: String,
    td_quote: String,
}

#[derive(Deserialize)]
struct WireV0 {
    tpm_quote: TpmQuoteBytes,
    hcl_report: Vec<u8>,
    td_quote: Vec<u8>,
}

impl AzTdxVtpmEvidence {
    /// Parses the evidence. A `version` member selects v1/v2 (any other number is refused);
    /// without it the evidence is v0.
    pub fn from_json(evidence: &Value) -> Result<Self, Error> {
        let (version, quote, hcl, td_quote) = if evidence.get("version").is_some() {
            let wire = WireV1::deserialize(evidence).map_err(malformed)?;
            let version = match wire.version {
                1 => EvidenceVersion::V1,
                2 => EvidenceVersion::V2,
                other => return Err(malformed(format!("unsupported evidence version {other}"))),
            };
            let hcl = base64url(&wire.hcl_report, "hcl_report")?;
            let td_quote = base64url(&wire.td_quote, "td_quote")?;
            (version, wire.tpm_quote.decode()?, hcl, td_quote)
        } else {
            let wire = WireV0::deserialize(evidence).map_err(malformed)?;
            (
                EvidenceVersion::V0,
                wire.tpm_quote.decode()?,
                wire.hcl_report,
                wire.td_quote,
            )
        };
        let td_quote = Quote::parse(&td_quote)?;
        if !td_quote.header.is_tdx() {
            return Err(malformed("`td_quote` is not a TD quote"));
        }
        Ok(Self {
            version,
            quote,
            hcl_report: HclReport::parse(&hcl)?,
            td_quote,
        })
    }
}

/// base64url, with or without padding (the attester pads; other encoders do not).
fn base64url(text: &str, field: &str) -> Result<Vec<u8>, Error> {
    let text = text.trim();
    URL_SAFE
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .map_err(|_| malformed(format!("`{field}` is not valid base64url")))
}

fn malformed(reason: impl ToString) -> Error {
    Error::MalformedEvidence {
        tee: Tee::AzTdxVtpm,
        reason: reason.to_string(),
    }
}
