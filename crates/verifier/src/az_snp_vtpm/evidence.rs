//! The evidence JSON of the Azure SEV-SNP vTPM attester, in every version it has sent
//! (verifiers spec §2.1, testdata README §2).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use kbs_types::Tee;
use serde::Deserialize;
use serde_json::Value;

use crate::Error;
use crate::vtpm::{HclReport, TpmQuote, TpmQuoteBytes, TpmQuoteHex};

/// The wire version of the evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceVersion {
    /// Legacy: `{"quote": {byte arrays}, "report": [u8; 2600], "vcek": "<PEM>"}`.
    V0,
    /// `{"version": 1, "tpm_quote": {hex}, "hcl_report": base64url, "vcek": base64url DER}`.
    V1,
    /// As v1; the HCL `user-data` also carries the report data.
    V2,
}

/// Parsed, not yet verified, `az-snp-vtpm` evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzSnpVtpmEvidence {
    /// The wire version, which decides whether HCL user-data is bound.
    pub version: EvidenceVersion,
    /// The vTPM quote.
    pub quote: TpmQuote,
    /// The HCL report (SNP report + runtime data with the AK).
    pub hcl_report: HclReport,
    /// The VCEK (DER) that signed the SNP report.
    pub vcek_der: Vec<u8>,
}

#[derive(Deserialize)]
struct WireV1 {
    version: u32,
    tpm_quote: TpmQuoteHex,
    hcl_report: String,
    vcek: String,
}

#[derive(Deserialize)]
struct WireV0 {
    quote: TpmQuoteBytes,
    report: Vec<u8>,
    vcek: String,
}

impl AzSnpVtpmEvidence {
    /// Parses the evidence. A `version` member selects v1/v2 (any other number is refused);
    /// without it the evidence is v0, as upstream's untagged decoding concludes.
    pub fn from_json(evidence: &Value) -> Result<Self, Error> {
        if evidence.get("version").is_some() {
            let wire = WireV1::deserialize(evidence).map_err(malformed)?;
            let version = match wire.version {
                1 => EvidenceVersion::V1,
                2 => EvidenceVersion::V2,
                other => return Err(malformed(format!("unsupported evidence version {other}"))),
            };
            let hcl = URL_SAFE
                .decode(&wire.hcl_report)
                .map_err(|_| malformed("`hcl_report` is not valid base64url"))?;
            let vcek_der = URL_SAFE
                .decode(&wire.vcek)
                .map_err(|_| malformed("`vcek` is not valid base64url"))?;
            Ok(Self {
                version,
                quote: wire.tpm_quote.decode()?,
                hcl_report: HclReport::parse(&hcl)?,
                vcek_der,
            })
        } else {
            let wire = WireV0::deserialize(evidence).map_err(malformed)?;
            Ok(Self {
                version: EvidenceVersion::V0,
                quote: wire.quote.decode()?,
                hcl_report: HclReport::parse(&wire.report)?,
                vcek_der: vcek_from_pem(&wire.vcek)?,
            })
        }
    }
}

/// v0 sends the VCEK as PEM: exactly one `CERTIFICATE` block.
fn vcek_from_pem(text: &str) -> Result<Vec<u8>, Error> {
    let blocks = pem::parse_many(text).map_err(|_| malformed("`vcek` is not valid PEM"))?;
    match blocks.as_slice() {
        [block] if block.tag() == "CERTIFICATE" => Ok(block.contents().to_vec()),
        _ => Err(malformed("`vcek` must hold exactly one PEM certificate")),
    }
}

fn malformed(reason: impl ToString) -> Error {
    Error::MalformedEvidence {
        tee: Tee::AzSnpVtpm,
        reason: reason.to_string(),
    }
}
