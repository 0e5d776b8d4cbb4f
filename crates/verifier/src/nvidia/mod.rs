//! `nvidia`: verification of NVIDIA GPU evidence (verifiers spec §11), the device class `gpu`
//! that a guest sends as additional evidence beside its CPU TEE.
//!
//! Two modes, chosen by `verifier_config.nvidia_verifier` ([`NvidiaVerifierConfig`]):
//! - **Local** (the default, described below): Hopper evidence checked here, no network.
//! - **Remote** (`{"type":"Remote","verifier_url"?}`): each device's evidence is sent to
//!   NVIDIA's Remote Attestation Service and its signed answer is checked (`remote.rs`); the
//!   `gpu` (or `switch`) entry then carries NRAS's claims (`x-nvidia-gpu-*`, `measres`,
//!   `secboot`, `dbgstat`, ...), the names upstream's `default_gpu` policy reads, plus
//!   `x-nvidia-overall-att-result` and `report_data`.
//!
//! Local mode, per device of `device_evidence_list`, in list order (one `(claims, gpu)` entry each):
//! 1. [`SpdmReport::parse`]: the SPDM 1.1 GET_MEASUREMENTS request (37 bytes) and response
//!    (measurement blocks, responder nonce, NVIDIA opaque data with the FWID, 96-byte raw
//!    ECDSA P-384 signature), every length bounded by the input.
//! 2. The certificate chain (leaf first) to the embedded NVIDIA device identity root
//!    (`chain.rs`): names, ECDSA P-384 / SHA-384 signatures, validity at the verification time
//!    (the context clock), CA constraints; the last certificate must be the root itself.
//! 3. The response signature: SHA-384 over `request || response before the signature`, by the
//!    leaf's key.
//! 4. FWID: the leaf's TCG DICE TcbInfo FWID (`2.23.133.5.4.1`, last 48 bytes) must equal the
//!    opaque data's `fwid`, so the leaf belongs to the firmware that made the report.
//! 5. Nonce: the request's nonce must equal the expected report data right-padded with zeros
//!    or truncated to 32 bytes (SHA-384 digests are truncated, as trustee does).
//!
//! Claims are trustee's local-verifier claims (`hopperAttestationReport-claims.txt`):
//! `arch` (`"Hopper"`), `uuid` (when the evidence has one), `measurements` (block index →
//! hex value) and `config` (the opaque-data fields, trustee's names and encodings), plus the
//! top-level `report_data` (hex of the request nonce) that the attestation service lifts out
//! of the `nvidia` namespace.
//!
//! Decisions:
//! - **Local mode needs no network**: no RIM (reference integrity manifest) fetch, no OCSP.
//!   Only `HOPPER` devices verify locally; Blackwell and NVSwitch (`LS10`) evidence fails as
//!   unsupported rather than being passed through unchecked (the remote mode attests them).
//! - **Remote mode** sends one request per device, as upstream; it needs the expected report
//!   data (the NRAS nonce) and fails without it. The PPCIE topology entry is not produced.
//! - **Check order** is chain → signature → FWID → nonce. The chain check includes the
//!   leaf's key usage, so trustee's `hopper_cert_chain_case4` (whose "leaf" is the BROM CA,
//!   `keyCertSign` only) fails there; a signing leaf of another GPU fails at the signature.
//! - **Trailing byte.** One byte after the signature is tolerated (trustee's coco sample has
//!   one); it is not signed and is ignored. More fails.
//! - **Init data**: a GPU cannot bind it; it is not checked and no `init_data` claim is emitted.
//! - **Certificate validity** is checked at the verification time (trustee checks it at the
//!   wall clock through OpenSSL); NVIDIA's device certificates run to 9999.

mod chain;
mod error;
mod remote;
mod spdm;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Map, Value};

pub use chain::{MAX_CHAIN_LEN, NVIDIA_DEVICE_ROOT_PEM, VerifiedLeaf};
pub use error::NvidiaError;
pub use remote::{
    CLAIMS_VERSION, DEFAULT_NRAS_URL, JWKS_PATH, MAX_JWKS_RESPONSE, MAX_NRAS_RESPONSE,
    NRAS_TIMEOUT, NrasClient, NvidiaVerifierConfig, RemoteConfig, TOKEN_LEEWAY_SECS,
};
pub use spdm::{NONCE_LEN, SpdmReport};

use crate::clock::{Clock, SystemClock};
use crate::{Error, InitDataHash, ReportData, TeeClass, TeeEvidenceClaims, Verifier, binding};
use chain::{DeviceCert, embedded_root, verify_chain};
use remote::{DeviceKind, DeviceRequest};

/// Most devices in one evidence (a full PPCIE system has 8 GPUs and 4 switches).
pub const MAX_DEVICES: usize = 16;
/// Largest accepted `evidence` text (a Hopper report is about 8 KiB of hex).
pub const MAX_EVIDENCE_TEXT: usize = 256 * 1024;
/// Largest accepted `certificate` text (a Hopper chain is about 5 KiB of base64).
pub const MAX_CERTIFICATE_TEXT: usize = 64 * 1024;

/// Verifier for NVIDIA GPU evidence.
#[derive(Clone)]
pub struct Nvidia {
    clock: Arc<dyn Clock>,
    /// The NRAS endpoint in remote mode; `None` verifies locally.
    remote: Option<NrasClient>,
}

impl Default for Nvidia {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl fmt::Debug for Nvidia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nvidia")
            .field("clock", &self.clock)
            .field("remote", &self.remote)
            .finish()
    }
}

impl Nvidia {
    /// A local-mode verifier that checks certificate validity at `clock`'s time.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            remote: None,
        }
    }

    /// A remote-mode verifier asking `nras`, checking token validity at `clock`'s time.
    pub fn remote(nras: NrasClient, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            remote: Some(nras),
        }
    }

    /// The verifier `verifier_config.nvidia_verifier` asks for (local when absent).
    pub fn from_config(
        table: Option<&Map<String, Value>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        match NvidiaVerifierConfig::from_table(table)? {
            NvidiaVerifierConfig::Local => Ok(Self::new(clock)),
            NvidiaVerifierConfig::Remote(config) => {
                Ok(Self::remote(NrasClient::new(&config)?, clock))
            }
        }
    }
}

#[async_trait]
impl Verifier for Nvidia {
    async fn evaluate(
        &self,
        evidence: &Value,
        expected_report_data: &ReportData,
        expected_init_data_hash: &InitDataHash,
    ) -> Result<Vec<(TeeEvidenceClaims, TeeClass)>, Error> {
        // A GPU cannot bind init data (module docs).
        let _ = expected_init_data_hash;
        let now = self.clock.now();
        if let Some(nras) = &self.remote {
            return Ok(verify_remote(evidence, expected_report_data, nras, now).await?);
        }
        let root = embedded_root()?;
        Ok(verify(evidence, expected_report_data, root, now)?)
    }
}

/// The evidence JSON with its device count checked.
fn parse_evidence(evidence: &Value) -> Result<NvidiaEvidence, NvidiaError> {
    let evidence =
        NvidiaEvidence::deserialize(evidence).map_err(|err| NvidiaError::EvidenceJson {
            reason: err.to_string(),
        })?;
    let count = evidence.device_evidence_list.len();
    if count == 0 || count > MAX_DEVICES {
        return Err(NvidiaError::DeviceCount {
            count,
            max: MAX_DEVICES,
        });
    }
    Ok(evidence)
}

/// Remote mode: every device attested by NRAS in list order; one `gpu`/`switch` entry each.
async fn verify_remote(
    evidence: &Value,
    expected_report_data: &ReportData,
    nras: &NrasClient,
    now: u64,
) -> Result<Vec<(TeeEvidenceClaims, TeeClass)>, NvidiaError> {
    let evidence = parse_evidence(evidence)?;
    let ReportData::Value(expected) = expected_report_data else {
        return Err(NvidiaError::RemoteReportDataMissing { device: 0 });
    };
    let nonce = binding::regularize::<NONCE_LEN>(expected);
    let mut entries = Vec::with_capacity(evidence.device_evidence_list.len());
    for (device, entry) in evidence.device_evidence_list.iter().enumerate() {
        let (kind, arch) = DeviceKind::from_arch(&entry.arch).ok_or_else(|| {
            NvidiaError::RemoteUnsupportedArch {
                device,
                arch: entry.arch.clone(),
            }
        })?;
        let report = decode_evidence(&entry.evidence, device)?;
        if entry.certificate.len() > MAX_CERTIFICATE_TEXT {
            return Err(NvidiaError::TooLarge {
                device,
                field: "certificate",
                len: entry.certificate.len(),
                max: MAX_CERTIFICATE_TEXT,
            });
        }
        let request = DeviceRequest {
            kind,
            arch,
            evidence: &report,
            certificate: entry.certificate.trim(),
            nonce: &nonce,
        };
        let mut claims = nras.attest(&request, device, now).await?;
        // NRAS confirmed the evidence carries this nonce; named as in local mode.
        claims.insert("report_data".into(), Value::String(hex::encode(nonce)));
        let class = match kind {
            DeviceKind::Gpu => TeeClass::Gpu,
            DeviceKind::Switch => TeeClass::Switch,
        };
        entries.push((TeeEvidenceClaims::new(claims), class));
    }
    Ok(entries)
}

/// Verifies every device of `evidence` against `root` at `now`; one `gpu` entry per device.
fn verify(
    evidence: &Value,
    expected_report_data: &ReportData,
    root: &DeviceCert,
    now: u64,
) -> Result<Vec<(TeeEvidenceClaims, TeeClass)>, NvidiaError> {
    let evidence = parse_evidence(evidence)?;
    evidence
        .device_evidence_list
        .iter()
        .enumerate()
        .map(|(device, entry)| {
            let claims = verify_device(entry, device, expected_report_data, root, now)?;
            Ok((TeeEvidenceClaims::new(claims), TeeClass::Gpu))
        })
        .collect()
}

/// Verifies one device and returns its claims.
fn verify_device(
    entry: &DeviceEvidence,
    device: usize,
    expected_report_data: &ReportData,
    root: &DeviceCert,
    now: u64,
) -> Result<Map<String, Value>, NvidiaError> {
    if entry.arch != "HOPPER" {
        return Err(NvidiaError::UnsupportedArch {
            device,
            arch: entry.arch.clone(),
        });
    }
    let report = SpdmReport::parse(decode_evidence(&entry.evidence, device)?, device)?;
    let chain = decode_chain(&entry.certificate, device)?;
    let leaf = verify_chain(&chain, root, now, device)?;
    check_report(&report, &leaf, device)?;
    check_nonce(&report, expected_report_data, device)?;
    Ok(claims(&report, entry.uuid.as_deref()))
}

/// The signature and FWID checks of a parsed report against its verified leaf.
fn check_report(
    report: &SpdmReport,
    leaf: &VerifiedLeaf,
    device: usize,
) -> Result<(), NvidiaError> {
    if !leaf.verify_signature(report.signed_message(), &report.signature) {
        return Err(NvidiaError::ReportSignature { device });
    }
    let fwid = leaf.fwid().ok_or(NvidiaError::FwidExtension { device })?;
    if *fwid != report.fwid {
        return Err(NvidiaError::FwidMismatch { device });
    }
    Ok(())
}

/// The request nonce against the expected report data regularised to 32 bytes.
fn check_nonce(
    report: &SpdmReport,
    expected: &ReportData,
    device: usize,
) -> Result<(), NvidiaError> {
    let ReportData::Value(expected) = expected else {
        return Ok(());
    };
    if binding::regularize::<NONCE_LEN>(expected) != report.request_nonce {
        return Err(NvidiaError::NonceMismatch { device });
    }
    Ok(())
}

/// trustee's local claims for one device, plus `report_data`.
fn claims(report: &SpdmReport, uuid: Option<&str>) -> Map<String, Value> {
    let measurements = report
        .measurements
        .iter()
        .map(|(index, value)| (index.to_string(), Value::String(hex::encode(value))))
        .collect();
    let mut claims = Map::new();
    claims.insert("arch".into(), Value::String("Hopper".into()));
    if let Some(uuid) = uuid {
        claims.insert("uuid".into(), Value::String(uuid.into()));
    }
    claims.insert("measurements".into(), Value::Object(measurements));
    claims.insert("config".into(), Value::Object(report.opaque.clone()));
    claims.insert(
        "report_data".into(),
        Value::String(hex::encode(report.request_nonce)),
    );
    claims
}

/// `evidence` as hex (trustee's and the attester's form) or standard base64.
fn decode_evidence(text: &str, device: usize) -> Result<Vec<u8>, NvidiaError> {
    let text = text.trim();
    if text.len() > MAX_EVIDENCE_TEXT {
        return Err(NvidiaError::TooLarge {
            device,
            field: "evidence",
            len: text.len(),
            max: MAX_EVIDENCE_TEXT,
        });
    }
    hex::decode(text)
        .or_else(|_| STANDARD.decode(text))
        .map_err(|_| NvidiaError::EvidenceEncoding { device })
}

/// `certificate`: standard base64 of the PEM chain text, leaf first.
fn decode_chain(text: &str, device: usize) -> Result<Vec<DeviceCert>, NvidiaError> {
    if text.len() > MAX_CERTIFICATE_TEXT {
        return Err(NvidiaError::TooLarge {
            device,
            field: "certificate",
            len: text.len(),
            max: MAX_CERTIFICATE_TEXT,
        });
    }
    let encoding = NvidiaError::CertificateEncoding { device };
    let pem_text = STANDARD.decode(text.trim()).map_err(|_| encoding.clone())?;
    let blocks = pem::parse_many(pem_text).map_err(|_| encoding.clone())?;
    if blocks.len() > MAX_CHAIN_LEN {
        return Err(NvidiaError::ChainLength {
            device,
            len: blocks.len(),
            max: MAX_CHAIN_LEN,
        });
    }
    blocks
        .into_iter()
        .enumerate()
        .map(|(index, block)| {
            if block.tag() != "CERTIFICATE" {
                return Err(encoding.clone());
            }
            DeviceCert::parse(block.into_contents(), device, index)
        })
        .collect()
}

/// The evidence JSON (guest-components `attester/src/nvidia`).
#[derive(Debug, Deserialize)]
struct NvidiaEvidence {
    device_evidence_list: Vec<DeviceEvidence>,
}

/// One device's evidence.
#[derive(Debug, Deserialize)]
struct DeviceEvidence {
    arch: String,
    #[serde(default)]
    uuid: Option<String>,
    evidence: String,
    certificate: String,
}
