//! `csv`: Hygon China Secure Virtualization attestation reports (verifiers spec §8).
//!
//! Parse → check → claims:
//! 1. [`CsvEvidence::from_json`] reads the evidence JSON and re-encodes the certificates into
//!    Hygon's binary layouts, so every signature is checked over the bytes Hygon signed.
//! 2. [`verify_pek_chain`]: embedded HRK (self-signed) → HSK → CEK → PEK, all SM2 with SM3.
//!    The HSK/CEK come from the evidence or, when it has none, from an [`HskCekSource`]
//!    looked up by the chip serial (offline store now, Hygon's KDS later).
//! 3. [`verify_report_signature`]: the PEK's signature over the report, then the report-data
//!    binding.
//! 4. [`CsvClaims`] with upstream's names and encodings.
//!
//! Decisions, recorded here because they differ from a first reading of the spec or from
//! upstream:
//! - **SM2 user id.** Every signature is checked with the signer's own Hygon user id
//!   (`user_id[..uid_size]` of the signer's certificate: `HYGON-SSD-HRK`, `-HSK`, `-CEK`,
//!   `-PEK`), not SM2's default `1234567812345678`; this is what Hygon's firmware signs with
//!   (spec §8.2 step 2) and what the public samples verify with.
//! - **No clock.** Hygon's CA and CSV certificates carry no validity period, so nothing here
//!   depends on the verification time and [`Csv`] takes no clock.
//! - **Report data** is compared as upstream does: the expected value zero-padded (or
//!   truncated) to the report's 64 bytes, then compared exactly (attestation-service spec
//!   step 5). The guest attester pads the same way before asking the firmware.
//! - **Init data**: CSV has no field to bind it to. As upstream, an expected init-data hash is
//!   not checked; unlike a verifier that can bind it, no `init_data` claim is emitted, so the
//!   attestation service never presents unbound init data to a policy as if it were attested.
//! - **Anti-replay fields.** `anonce` is the firmware's per-report mask: in V1 every field
//!   before it is XORed with it and the signature covers the masked bytes, so the signature is
//!   checked over the bytes as stored and the claims are unmasked. `mnonce` is the guest's
//!   nonce; it keys a MAC over the signer block (PEK copy, serial) that the guest attester
//!   checks and then strips (it restores the block and zeroes its reserved bytes), so a remote
//!   verifier cannot recompute it. The signer block is not signed, so it is not used: the PEK
//!   comes from `cert_chain.pek` and is trusted only through its chain. Freshness comes from
//!   the report-data binding to the KBS nonce.
//! - **Event log (spec §14.10).** A V1 report has no RTMRs, so its `cc_eventlog` binds to
//!   nothing and is ignored, as upstream does. For V2 the RTMRs are claims (`rtmr0..rtmr4`);
//!   the event log is not replayed yet, so no `uefi_event_logs` claim is emitted (a policy that
//!   needs it fails closed). When replay lands it keeps upstream's mapping — CC event-log MR
//!   index *i* extends `rtmr`*i* for *i* in 1..=4 (RTMR0 is the launch `measure`) — which is
//!   Hygon's definition, unlike TDX where index 1 is RTMR0.
//! - **Report versions.** V1 (zero or `ATTESTATION_EXT` magic with flags 0) and V2 (`flags`
//!   1) are accepted; V3 (host data) and anything else is refused as unsupported.

mod cert;
mod chain;
mod claims;
mod error;
mod evidence;
mod reader;
mod report;
#[cfg(test)]
pub(crate) mod tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value};

pub use cert::{CaCertificate, CsvCertificate};
pub use chain::{HRK_CERT, HSK_CEK_LEN, HskCek, VerifiedPek, verify_pek_chain};
pub use claims::CsvClaims;
pub use error::{CertRole, CsvError};
pub use evidence::{ChipSerial, CsvEvidence};
pub use report::{
    AttestationReport, ExtendedTeeInfo, GuestPolicy, ReportVersion, TeeInfo, VerifiedReport,
    verify_report_signature,
};

use crate::collateral::CollateralError;
use crate::collateral::hygon::{HskCekSource, OfflineStore};
use crate::{Error, InitDataHash, ReportData, TeeClass, TeeEvidenceClaims, Verifier, binding};

/// Verifier for Hygon CSV evidence.
///
/// HSK/CEK sources are tried in order when the evidence carries no HSK/CEK; with none
/// configured (or none that has the chip), such evidence fails with
/// [`CsvError::HskCekUnavailable`].
#[derive(Clone, Default)]
pub struct Csv {
    hsk_cek_sources: Vec<Arc<dyn HskCekSource>>,
}

impl Csv {
    /// A verifier with no HSK/CEK source: the evidence must carry the chip's HSK and CEK.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a source to ask, after those already added, for a chip's HSK and CEK.
    pub fn with_hsk_cek_source(mut self, source: Arc<dyn HskCekSource>) -> Self {
        self.hsk_cek_sources.push(source);
        self
    }

    /// Builds the verifier from the `csv_verifier` table of `verifier_config`:
    ///
    /// ```toml
    /// [verifier_config.csv_verifier]
    /// hsk_cek_sources = [{ type = "OfflineStore", path = "/opt/hygon/csv" }]
    /// ```
    ///
    /// `path` holds `hsk_cek/<serial>/hsk_cek.cert` and defaults to upstream's
    /// `/opt/hygon/csv`. Without the table the verifier uses that default store, as upstream
    /// does; `hsk_cek_sources = []` disables lookups.
    pub fn from_config(table: Option<&Map<String, Value>>) -> Result<Self, Error> {
        let config =
            match table {
                Some(table) => CsvVerifierConfig::deserialize(Value::Object(table.clone()))
                    .map_err(|err| CsvError::Config {
                        reason: err.to_string(),
                    })?,
                None => CsvVerifierConfig::default(),
            };
        let mut csv = Self::new();
        for source in config.hsk_cek_sources {
            csv = match source {
                HskCekSourceConfig::OfflineStore { path } => {
                    let path = path.unwrap_or_else(|| PathBuf::from(OfflineStore::DEFAULT_PATH));
                    csv.with_hsk_cek_source(Arc::new(OfflineStore::new(path)))
                }
            };
        }
        Ok(csv)
    }

    /// Asks each source in turn for the chip's HSK/CEK.
    async fn fetch_hsk_cek(&self, serial: &ChipSerial) -> Result<HskCek, Error> {
        let mut last_error = CollateralError::Exhausted { what: "hsk/cek" };
        for source in &self.hsk_cek_sources {
            match source.hsk_cek(serial).await {
                Ok(bytes) => return Ok(HskCek::parse(&bytes)?),
                Err(err) => last_error = err,
            }
        }
        Err(CsvError::HskCekUnavailable {
            serial: serial.to_string(),
            source: last_error,
        }
        .into())
    }
}

impl fmt::Debug for Csv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Csv")
            .field("hsk_cek_sources", &self.hsk_cek_sources.len())
            .finish()
    }
}

#[async_trait]
impl Verifier for Csv {
    async fn evaluate(
        &self,
        evidence: &Value,
        expected_report_data: &ReportData,
        expected_init_data_hash: &InitDataHash,
    ) -> Result<Vec<(TeeEvidenceClaims, TeeClass)>, Error> {
        let evidence = CsvEvidence::from_json(evidence)?;
        let fetched;
        let hsk_cek = match &evidence.hsk_cek {
            Some(hsk_cek) => hsk_cek,
            None => {
                fetched = self.fetch_hsk_cek(&evidence.serial_number).await?;
                &fetched
            }
        };
        let claims = verify(&evidence, hsk_cek, expected_report_data)?;
        // CSV cannot bind init data (see the module docs): nothing to check, nothing to claim.
        let _ = expected_init_data_hash;
        Ok(vec![(claims.to_claims(), TeeClass::Cpu)])
    }
}

/// Verifies CSV evidence with the chip's `hsk_cek`: the chain to the embedded HRK, the
/// report signature and the report-data binding. Pure: no I/O, no clock.
pub fn verify(
    evidence: &CsvEvidence,
    hsk_cek: &HskCek,
    expected_report_data: &ReportData,
) -> Result<CsvClaims, Error> {
    let pek = verify_pek_chain(hsk_cek, &evidence.pek)?;
    let report = verify_report_signature(&evidence.report, &pek)?;
    // The expected value zero-padded (or truncated) to 64 bytes, as upstream's
    // `regularize_data` does.
    binding::check_report_data(&report.tee_info().report_data, expected_report_data)?;
    Ok(CsvClaims::new(report, evidence.serial_number.clone()))
}

/// `verifier_config.csv_verifier`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvVerifierConfig {
    #[serde(default = "default_hsk_cek_sources")]
    hsk_cek_sources: Vec<HskCekSourceConfig>,
}

impl Default for CsvVerifierConfig {
    fn default() -> Self {
        Self {
            hsk_cek_sources: default_hsk_cek_sources(),
        }
    }
}

fn default_hsk_cek_sources() -> Vec<HskCekSourceConfig> {
    vec![HskCekSourceConfig::OfflineStore { path: None }]
}

/// One entry of `hsk_cek_sources`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum HskCekSourceConfig {
    /// `<path>/hsk_cek/<serial>/hsk_cek.cert`.
    OfflineStore {
        #[serde(default)]
        path: Option<PathBuf>,
    },
}
