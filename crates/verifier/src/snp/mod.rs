//! `snp`: AMD SEV-SNP attestation reports (verifiers spec §1).
//!
//! [`verify`] is the whole check as a pure function: VEK chain to the pinned AMD roots at
//! `now`, VEK hardware id and TCB against the report, report signature, VMPL, report-data and
//! init-data (HOST_DATA) bindings. [`Snp`] is the [`Verifier`] around it: it parses the
//! guest's evidence JSON, takes the VEK from the evidence's certificate table or from the
//! configured [`VcekSource`]s, reads its clock once and runs the checks of [`verify`], with the
//! VEK chain answered from its [`VerifiedVekCache`] for a VEK it verified before (validity
//! periods are still checked at each verification time). Another verifier holding an SNP
//! report (e.g. inside an Azure HCL report) parses it with [`AttestationReport::from_bytes`]
//! and calls [`verify`] with the bindings it wants checked.
//!
//! Decisions where upstream differs or is silent (spec §14):
//! - report versions 2 to 5 are accepted (upstream refuses v2); a v2 report's generation is
//!   taken from its VEK's issuer;
//! - the VCEK hardware id is compared with `chip_id` (upstream's comparison never runs),
//!   except for VLEKs and for an all-zero (MASK_CHIP_ID) `chip_id`; see [`check_hwid`];
//! - every certificate's validity period is checked at the verification time (upstream checks
//!   none); an expired VLEK is refused;
//! - ASK/ARK entries of the evidence's certificate table are ignored: the chain always ends in
//!   the compiled-in roots;
//! - report data is compared after zero-padding the expected value to 64 bytes, HOST_DATA
//!   after padding or cutting the init-data digest to 32 bytes, as upstream does.

mod chain;
mod claims;
mod error;
mod report;
mod vek_cache;

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use kbs_types::Tee;
use serde::Deserialize;
use serde_json::{Map, Value};

pub use chain::{AmdRoots, ProductRoots, VerifiedVek, verify_vek_chain};
pub use claims::SnpClaims;
pub use error::{CertRole, SnpError};
pub use report::{
    AttestationReport, Cpuid, FirmwareVersion, GuestPolicy, KeyInfo, PlatformInfo, Product,
    REPORT_LEN, SIGNED_LEN, SigningKey, TcbVersion,
};
pub use vek_cache::{DEFAULT_VEK_CACHE_ENTRIES, VerifiedVekCache};

use crate::clock::{Clock, SystemClock};
use crate::collateral::CollateralError;
use crate::collateral::amd::{VcekSource, VcekSourceConfig, vcek_source_from_config};
use crate::{Error, InitDataHash, ReportData, TeeClass, TeeEvidenceClaims, Verifier, binding};

/// The values a report must be bound to.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// Compared with `report_data` after zero-padding to 64 bytes (spec §0.2).
    pub report_data: &'a ReportData,
    /// Compared with HOST_DATA after zero-padding or truncating to 32 bytes (spec §1.2 step 9).
    pub init_data_hash: &'a InitDataHash,
}

/// Verifies `report` with the VEK `vek_der` against `roots` at `now` (Unix seconds) and returns
/// its claims.
///
/// The generation comes from the report's CPUID fields (v3+) or, for v2, from the VEK's
/// issuer. Checks, in order: VEK chain and validity; VCEK hardware id and VEK TCB against the
/// report (before the signature, so a certificate for another chip or TCB is named as such);
/// report signature; VMPL 0; report data; HOST_DATA.
pub fn verify(
    report: &AttestationReport,
    vek_der: &[u8],
    expected: &Expected<'_>,
    roots: &AmdRoots,
    now: u64,
) -> Result<SnpClaims, Error> {
    let product = report_product(report, vek_der, roots)?;
    let vek = verify_vek_chain(roots.product(product), vek_der, now)?;
    verify_with_vek(report, &vek, expected)
}

/// The generation whose roots `report`'s VEK must chain to: from the report's CPUID fields
/// (v3+) or, for v2, from the VEK's issuer.
pub fn report_product(
    report: &AttestationReport,
    vek_der: &[u8],
    roots: &AmdRoots,
) -> Result<Product, SnpError> {
    match report.product()? {
        Some(product) => Ok(product),
        None => roots.product_for_vek(vek_der),
    }
}

/// The checks of [`verify`] after the VEK chain, with a VEK whose chain was verified at the
/// verification time (e.g. by [`VerifiedVekCache::verify_vek_chain`]).
pub fn verify_with_vek(
    report: &AttestationReport,
    vek: &VerifiedVek,
    expected: &Expected<'_>,
) -> Result<SnpClaims, Error> {
    // A VEK of another generation would not have chained to this report's roots in `verify`;
    // refuse it the same way here.
    if report
        .product()?
        .is_some_and(|product| product != vek.product())
    {
        return Err(SnpError::CertificateIssuer {
            cert: CertRole::Vek,
        }
        .into());
    }
    check_hwid(report, vek)?;
    check_tcb(report, vek)?;
    verify_report_signature(report, vek)?;
    check_vmpl(report)?;
    check_report_data(report, expected.report_data)?;
    check_host_data(report, expected.init_data_hash)?;
    Ok(SnpClaims::from_report(report))
}

/// Verifies the report's ECDSA P-384 / SHA-384 signature over bytes `0x000..0x2A0` with the
/// VEK, after checking that the report names that kind of key as its signer.
pub fn verify_report_signature(
    report: &AttestationReport,
    vek: &VerifiedVek,
) -> Result<(), SnpError> {
    if report.sig_algo != report::SIG_ALGO_ECDSA_P384_SHA384 {
        return Err(SnpError::SignatureAlgorithm {
            sig_algo: report.sig_algo,
        });
    }
    let signing_key = report.key_info.signing_key();
    let matches = matches!(
        (signing_key, vek.kind()),
        (SigningKey::Vcek, CertRole::Vcek) | (SigningKey::Vlek, CertRole::Vlek)
    );
    if !matches {
        return Err(SnpError::SigningKeyMismatch {
            report: signing_key,
            vek: vek.kind(),
        });
    }
    let signature = report.signature_fixed().ok_or(SnpError::ReportSignature)?;
    if !vek.verify_p384(report.signed_bytes(), &signature) {
        return Err(SnpError::ReportSignature);
    }
    Ok(())
}

/// Checks that a VCEK was issued for the report's chip (extension `1.3.6.1.4.1.3704.1.4`
/// against `chip_id`; 8 bytes on Turin). Upstream's version of this check never runs
/// (spec §14.1); ours does.
///
/// Skipped in two cases, both safe because the report signature (checked next) can only
/// verify with the key of the chip or cloud provider that holds the VEK: a VLEK, which
/// belongs to a cloud provider and has no hardware id; and an all-zero `chip_id`, which is
/// how a platform with MASK_CHIP_ID set reports every chip (the report carries no separate
/// flag for it, so the all-zero value is the signal).
pub fn check_hwid(report: &AttestationReport, vek: &VerifiedVek) -> Result<(), SnpError> {
    if vek.kind() == CertRole::Vlek || report.chip_id.iter().all(|&b| b == 0) {
        return Ok(());
    }
    let hwid = vek
        .hwid()
        .ok_or(SnpError::VekExtension { extension: "hwid" })?;
    let chip_id = report
        .chip_id
        .get(..hwid.len())
        .ok_or(SnpError::HwidMismatch)?;
    if hwid != chip_id {
        return Err(SnpError::HwidMismatch);
    }
    Ok(())
}

/// Checks that the VEK was derived for the report's `reported_tcb` (extensions
/// `1.3.6.1.4.1.3704.1.3.1/.2/.3/.8`, and `.9` FMC on Turin).
pub fn check_tcb(report: &AttestationReport, vek: &VerifiedVek) -> Result<(), SnpError> {
    let reported = &report.reported_tcb;
    let certified = vek.tcb();
    let components = [
        ("bootloader", reported.bootloader, certified.bootloader),
        ("tee", reported.tee, certified.tee),
        ("snp", reported.snp, certified.snp),
        ("microcode", reported.microcode, certified.microcode),
    ];
    for (component, report, vek) in components {
        if report != vek {
            return Err(SnpError::TcbMismatch {
                component,
                report,
                vek,
            });
        }
    }
    if let Some(vek_fmc) = certified.fmc {
        let report_fmc = reported.fmc.unwrap_or(0);
        if report_fmc != vek_fmc {
            return Err(SnpError::TcbMismatch {
                component: "fmc",
                report: report_fmc,
                vek: vek_fmc,
            });
        }
    }
    Ok(())
}

/// Only a report requested from VMPL 0 speaks for the whole guest: a lower-privileged layer
/// (VMPL 1-3) could otherwise present a report with report data of its choosing.
fn check_vmpl(report: &AttestationReport) -> Result<(), SnpError> {
    if report.vmpl != 0 {
        return Err(SnpError::Vmpl { vmpl: report.vmpl });
    }
    Ok(())
}

/// The guest attester zero-pads the runtime-data digest to 64 bytes before asking for the
/// report (spec §0.2), so the expected value is padded the same way. A longer value is
/// truncated as upstream does; the KBS digests (SHA-384, SHA-512) are never longer.
fn check_report_data(report: &AttestationReport, expected: &ReportData) -> Result<(), Error> {
    binding::check_report_data(&report.report_data, expected)
}

/// HOST_DATA is 32 bytes: the host places the init-data digest there, zero-padded, or cut to
/// 32 bytes for SHA-384/512 digests (upstream's rule; a 256-bit prefix of the digest still
/// binds the init data).
fn check_host_data(report: &AttestationReport, expected: &InitDataHash) -> Result<(), Error> {
    binding::check_init_data(&report.host_data, expected, "host_data")
}

/// `snp_verifier` of the AS configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpVerifierConfig {
    /// Where VCEKs come from when the evidence has none, tried in order.
    #[serde(default = "default_vcek_sources")]
    pub vcek_sources: Vec<VcekSourceConfig>,
}

impl SnpVerifierConfig {
    /// Reads `verifier_config.snp_verifier`; upstream's defaults when the table is absent.
    pub fn from_table(table: Option<&Map<String, Value>>) -> Result<Self, Error> {
        match table {
            None => Ok(Self::default()),
            Some(table) => Self::deserialize(table).map_err(|err| Error::InvalidConfig {
                section: "snp_verifier",
                reason: err.to_string(),
            }),
        }
    }

    /// The configured sources, in order.
    pub fn sources(&self) -> Vec<Arc<dyn VcekSource>> {
        self.vcek_sources
            .iter()
            .map(vcek_source_from_config)
            .collect()
    }
}

impl Default for SnpVerifierConfig {
    fn default() -> Self {
        Self {
            vcek_sources: default_vcek_sources(),
        }
    }
}

/// Upstream's default: AMD's KDS at its public URL.
fn default_vcek_sources() -> Vec<VcekSourceConfig> {
    vec![VcekSourceConfig::Kds { base_url: None }]
}

/// The SEV-SNP [`Verifier`]. Clones share one [`VerifiedVekCache`].
#[derive(Clone)]
pub struct Snp {
    sources: Vec<Arc<dyn VcekSource>>,
    clock: Arc<dyn Clock>,
    vek_cache: Arc<VerifiedVekCache>,
}

impl std::fmt::Debug for Snp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snp")
            .field("sources", &self.sources.len())
            .field("clock", &self.clock)
            .field("cached_veks", &self.vek_cache.len())
            .finish()
    }
}

impl Snp {
    /// A verifier that fetches missing VCEKs from `sources` (in order) and reads the
    /// verification time from `clock`.
    pub fn new(sources: Vec<Arc<dyn VcekSource>>, clock: Arc<dyn Clock>) -> Self {
        Self {
            sources,
            clock,
            vek_cache: Arc::default(),
        }
    }

    /// The verified VEK chains this verifier reuses (see [`VerifiedVekCache`]).
    pub fn vek_cache(&self) -> &VerifiedVekCache {
        &self.vek_cache
    }

    /// A verifier configured from `verifier_config.snp_verifier`, on the system clock.
    pub fn from_config(config: Option<&Map<String, Value>>) -> Result<Self, Error> {
        let config = SnpVerifierConfig::from_table(config)?;
        Ok(Self::new(config.sources(), Arc::new(SystemClock)))
    }

    /// Asks the sources in order for the report's VCEK; the last error when all fail.
    async fn fetch_vcek(&self, report: &AttestationReport) -> Result<Vec<u8>, Error> {
        // MASK_CHIP_ID zeroes chip_id: there is nothing to look a VCEK up by.
        if report.chip_id.iter().all(|&b| b == 0) {
            return Err(CollateralError::BadRequest {
                what: "vcek",
                reason: "chip_id is masked (all zero)",
            }
            .into());
        }
        // A v2 report does not name its generation; it predates Turin, so try the others.
        let single;
        let products: &[Product] = match report.product()? {
            Some(product) => {
                single = [product];
                &single
            }
            None => &[Product::Milan, Product::Genoa],
        };
        let mut last = CollateralError::Exhausted { what: "vcek" };
        for source in &self.sources {
            for &product in products {
                match source
                    .vek(product, &report.chip_id, &report.reported_tcb)
                    .await
                {
                    Ok(der) => return Ok(der),
                    Err(err) => last = err,
                }
            }
        }
        Err(last.into())
    }
}

#[async_trait]
impl Verifier for Snp {
    async fn evaluate(
        &self,
        evidence: &Value,
        expected_report_data: &ReportData,
        expected_init_data_hash: &InitDataHash,
    ) -> Result<Vec<(TeeEvidenceClaims, TeeClass)>, Error> {
        let evidence = SnpEvidence::parse(evidence)?;
        let report = AttestationReport::from_json(evidence.attestation_report)?;
        let vek_der = match evidence.vek() {
            Some(der) => Cow::Borrowed(der),
            None => Cow::Owned(self.fetch_vcek(&report).await?),
        };
        let roots = AmdRoots::embedded()?;
        let now = self.clock.now();
        let expected = Expected {
            report_data: expected_report_data,
            init_data_hash: expected_init_data_hash,
        };
        // As `verify`, with the chain answered from the cache for a VEK seen before.
        let product = report_product(&report, &vek_der, roots)?;
        let vek = self
            .vek_cache
            .verify_vek_chain(roots.product(product), &vek_der, now)?;
        let claims = verify_with_vek(&report, &vek, &expected)?;
        Ok(vec![(
            TeeEvidenceClaims::from_serialize(&claims)?,
            TeeClass::Cpu,
        )])
    }
}

/// The guest's evidence (spec §1.1): the report in `sev` serde form and the extended-report
/// certificate table, if the host provided one.
struct SnpEvidence<'a> {
    attestation_report: &'a Value,
    cert_chain: Vec<CertTableEntry>,
}

/// One entry of the certificate table.
#[derive(Debug, Deserialize)]
struct CertTableEntry {
    cert_type: CertType,
    data: Vec<u8>,
}

/// The `sev` crate's certificate type names.
#[derive(Debug, PartialEq, Eq, Deserialize)]
enum CertType {
    #[serde(rename = "ARK")]
    Ark,
    #[serde(rename = "ASK")]
    Ask,
    #[serde(rename = "VCEK")]
    Vcek,
    #[serde(rename = "VLEK")]
    Vlek,
    #[serde(rename = "CRL")]
    Crl,
    #[serde(rename = "Empty")]
    Empty,
    #[serde(rename = "OTHER")]
    Other(#[allow(dead_code)] String),
}

impl<'a> SnpEvidence<'a> {
    fn parse(evidence: &'a Value) -> Result<Self, Error> {
        let malformed = |reason: String| Error::MalformedEvidence {
            tee: Tee::Snp,
            reason,
        };
        let attestation_report = evidence
            .get("attestation_report")
            .ok_or_else(|| malformed("missing field `attestation_report`".into()))?;
        let cert_chain = match evidence.get("cert_chain") {
            None | Some(Value::Null) => Vec::new(),
            Some(table) => Vec::<CertTableEntry>::deserialize(table)
                .map_err(|err| malformed(format!("cert_chain: {err}")))?,
        };
        Ok(Self {
            attestation_report,
            cert_chain,
        })
    }

    /// The first VCEK or VLEK of the certificate table. Any ASK/ARK in the table is ignored:
    /// the chain is always checked against the compiled-in roots.
    fn vek(&self) -> Option<&[u8]> {
        self.cert_chain
            .iter()
            .find(|entry| matches!(entry.cert_type, CertType::Vcek | CertType::Vlek))
            .map(|entry| entry.data.as_slice())
    }
}

#[cfg(test)]
mod tests;
