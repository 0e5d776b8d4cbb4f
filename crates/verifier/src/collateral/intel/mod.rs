//! Intel DCAP collateral: what a TDX or SGX quote is verified against besides its own PCK
//! chain (TCB info, QE identity, PCK CRL, Root CA CRL), and the sources that provide it.
//!
//! Nothing here is trusted. A source only finds the collateral for a quote's FMSPC, TEE and
//! PCK CA; `dcap::verify` checks every signature, chain, CRL and validity window itself. The
//! one thing a source must preserve is the exact text Intel signed: TCB info and QE identity
//! signatures cover the raw bytes of the inner JSON object, so they are carried as text and
//! never re-serialised (see [`bundle`]).
//!
//! Sources: [`pcs::PcsSource`] (Intel PCS or a PCCS, through the shared fetcher and its cache),
//! [`offline::FileSource`] (one collateral file), [`offline::DirSource`] (a directory of them)
//! and [`SourceList`] (several, tried in order). [`DcapVerifierConfig`] builds them from
//! `verifier_config.dcap_verifier`; verifiers get theirs from
//! [`crate::VerifierContext::dcap_collateral`], which also honours an offline collateral
//! directory (`<dir>/intel/bundles/`).

pub mod bundle;
pub mod config;
pub mod offline;
pub mod pcs;

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use crate::collateral::CollateralError;

pub use bundle::load_bundle;
pub use config::DcapVerifierConfig;

/// Which TCB info / QE identity family is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DcapTee {
    /// SGX enclaves: TCB info `id` "SGX", QE identity `id` "QE".
    Sgx,
    /// TDX guests: TCB info `id` "TDX", QE identity `id` "TD_QE".
    Tdx,
}

impl DcapTee {
    /// The path segment Intel PCS uses (`sgx`, `tdx`).
    pub fn path_segment(self) -> &'static str {
        match self {
            Self::Sgx => "sgx",
            Self::Tdx => "tdx",
        }
    }

    /// The `id` of this TEE's TCB info.
    pub fn tcb_info_id(self) -> &'static str {
        match self {
            Self::Sgx => "SGX",
            Self::Tdx => "TDX",
        }
    }

    /// The `id` of this TEE's quoting-enclave identity.
    pub fn qe_identity_id(self) -> &'static str {
        match self {
            Self::Sgx => "QE",
            Self::Tdx => "TD_QE",
        }
    }
}

impl fmt::Display for DcapTee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path_segment())
    }
}

/// Which PCK CA issued the PCK leaf (from its issuer CN: "Intel SGX PCK Processor CA" /
/// "Intel SGX PCK Platform CA").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PckCa {
    /// "Intel SGX PCK Processor CA" (single-socket platforms).
    Processor,
    /// "Intel SGX PCK Platform CA" (multi-package platforms, all TDX hosts so far).
    Platform,
}

impl PckCa {
    /// The `ca` query value of PCS's `pckcrl` endpoint (`processor`, `platform`).
    pub fn query_value(self) -> &'static str {
        match self {
            Self::Processor => "processor",
            Self::Platform => "platform",
        }
    }

    /// The CA an issuer common name names, if it is one of the two PCK CAs.
    pub fn from_issuer_cn(common_name: &str) -> Option<Self> {
        match common_name {
            "Intel SGX PCK Processor CA" => Some(Self::Processor),
            "Intel SGX PCK Platform CA" => Some(Self::Platform),
            _ => None,
        }
    }

    /// The CA's certificate common name.
    pub fn common_name(self) -> &'static str {
        match self {
            Self::Processor => "Intel SGX PCK Processor CA",
            Self::Platform => "Intel SGX PCK Platform CA",
        }
    }
}

impl fmt::Display for PckCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.query_value())
    }
}

/// What one quote needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollateralRequest {
    /// TCB info / QE identity family.
    pub tee: DcapTee,
    /// The platform's FMSPC, from the PCK leaf's SGX extension.
    pub fmspc: [u8; 6],
    /// The CA that issued the PCK leaf (selects the PCK CRL).
    pub ca: PckCa,
}

impl CollateralRequest {
    /// The FMSPC as PCS writes it in URLs: upper-case hex.
    pub fn fmspc_hex(&self) -> String {
        hex::encode_upper(self.fmspc)
    }
}

impl fmt::Display for CollateralRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} fmspc {} ({} ca)",
            self.tee,
            self.fmspc_hex(),
            self.ca
        )
    }
}

/// Collateral for one quote, as Intel signed it (QuoteCollateralV3-like). Nothing here is
/// trusted: `dcap::verify` checks every signature, chain, CRL and validity window itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcapCollateral {
    /// Exact signed JSON text of the inner `tcbInfo` object.
    pub tcb_info: String,
    /// 64 bytes raw r||s (ECDSA P-256 / SHA-256) over [`DcapCollateral::tcb_info`].
    pub tcb_info_signature: Vec<u8>,
    /// DER certificates, signing certificate first, root last.
    pub tcb_info_issuer_chain: Vec<Vec<u8>>,
    /// Exact signed JSON text of the inner `enclaveIdentity` object.
    pub qe_identity: String,
    /// 64 bytes raw r||s over [`DcapCollateral::qe_identity`].
    pub qe_identity_signature: Vec<u8>,
    /// DER certificates, signing certificate first, root last.
    pub qe_identity_issuer_chain: Vec<Vec<u8>>,
    /// The PCK CA's CRL (DER).
    pub pck_crl: Vec<u8>,
    /// DER certificates, the PCK CA first, root last.
    pub pck_crl_issuer_chain: Vec<Vec<u8>>,
    /// The Intel SGX Root CA's CRL (DER).
    pub root_ca_crl: Vec<u8>,
}

/// A source of DCAP collateral (offline file, bundle directory, PCS/PCCS with cache, a list
/// tried in order).
///
/// A source that has nothing for the request returns [`CollateralError::NotFound`]; one that
/// cannot be reached or answers garbage returns the error naming why.
#[async_trait]
pub trait DcapCollateralSource: Send + Sync {
    /// The collateral for `request`.
    async fn collateral(
        &self,
        request: &CollateralRequest,
    ) -> Result<Arc<DcapCollateral>, CollateralError>;
}

/// Sources tried in order: the first that provides the collateral answers, a failing one falls
/// through to the next. When all fail, collateral an HTTP service provided earlier is used even
/// past its `nextUpdate` (the verifier reports the expiry as a claim instead of failing the
/// attestation because Intel PCS is unreachable).
#[derive(Default)]
pub struct SourceList {
    sources: Vec<(String, Arc<dyn DcapCollateralSource>)>,
    pcs: Vec<Arc<pcs::PcsSource>>,
}

impl SourceList {
    /// An empty list (it answers nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `source`, named `name` in errors.
    pub fn with(mut self, name: impl Into<String>, source: Arc<dyn DcapCollateralSource>) -> Self {
        self.sources.push((name.into(), source));
        self
    }

    /// Appends an HTTP source, whose cache is also the last resort.
    pub fn with_pcs(mut self, name: impl Into<String>, source: Arc<pcs::PcsSource>) -> Self {
        self.pcs.push(source.clone());
        self.with(name, source)
    }
}

impl fmt::Debug for SourceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.sources.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("SourceList")
            .field("sources", &names)
            .finish()
    }
}

#[async_trait]
impl DcapCollateralSource for SourceList {
    async fn collateral(
        &self,
        request: &CollateralRequest,
    ) -> Result<Arc<DcapCollateral>, CollateralError> {
        let mut errors = Vec::with_capacity(self.sources.len());
        for (name, source) in &self.sources {
            match source.collateral(request).await {
                Ok(collateral) => return Ok(collateral),
                Err(err) => errors.push((name, err)),
            }
        }
        for pcs in &self.pcs {
            if let Some(collateral) = pcs.cached_even_if_stale(request).await {
                return Ok(collateral);
            }
        }
        if errors.len() == 1 {
            if let Some((_, err)) = errors.pop() {
                return Err(err);
            }
        }
        Err(IntelCollateralError::AllSourcesFailed {
            request: *request,
            failures: errors
                .into_iter()
                .map(|(name, err)| format!("{name}: {err}"))
                .collect(),
        }
        .into())
    }
}

/// The DCAP collateral sources a [`crate::VerifierContext`] has built, by configuration, so
/// that verifiers created per request share one source (its parsed files and its collateral
/// memoised in memory) instead of rebuilding it every time. Clones share the map.
#[derive(Clone, Default)]
pub struct DcapSourceCache {
    sources: Arc<std::sync::Mutex<HashMap<String, Arc<dyn DcapCollateralSource>>>>,
}

/// Configurations remembered at most; a process has one or two.
const MAX_CACHED_SOURCES: usize = 16;

impl DcapSourceCache {
    /// The source built for `key`, else the one `build` makes (then remembered).
    pub fn get_or_build<E>(
        &self,
        key: String,
        build: impl FnOnce() -> Result<Arc<dyn DcapCollateralSource>, E>,
    ) -> Result<Arc<dyn DcapCollateralSource>, E> {
        let lock = || {
            // One lookup or insert per critical section: a poisoned map is intact.
            self.sources
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        };
        if let Some(source) = lock().get(&key) {
            return Ok(source.clone());
        }
        // Built outside the lock; two racing builds only cost one discarded source.
        let source = build()?;
        let mut sources = lock();
        if sources.len() >= MAX_CACHED_SOURCES {
            sources.clear();
        }
        Ok(sources.entry(key).or_insert(source).clone())
    }
}

impl fmt::Debug for DcapSourceCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DcapSourceCache")
    }
}

/// Which TCB info and QE identity PCS serves (`update=early|standard`): early ones enforce a
/// TCB recovery as soon as Intel publishes it, standard ones after the grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TcbUpdateType {
    /// `update=early` (upstream's default).
    #[default]
    Early,
    /// `update=standard`.
    Standard,
}

impl TcbUpdateType {
    /// The `update` query value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Early => "early",
            Self::Standard => "standard",
        }
    }
}

/// Why Intel collateral could not be provided (wrapped in [`CollateralError::Intel`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntelCollateralError {
    /// The source has nothing for the request.
    #[error("no {what} for {request} in {source_name}")]
    NotFound {
        /// What is missing, e.g. `tcb info for this fmspc`.
        what: &'static str,
        /// What was asked for.
        request: CollateralRequest,
        /// The file, directory or service asked.
        source_name: String,
    },
    /// A file or a response is not collateral of the expected shape.
    #[error("malformed {what} in {source_name}: {reason}")]
    Malformed {
        /// The part that is wrong, e.g. `tcb info issuer chain`.
        what: &'static str,
        /// The file or URL it came from.
        source_name: String,
        /// What the parser objected to.
        reason: String,
    },
    /// A collateral file is larger than accepted.
    #[error("collateral file {path} exceeds {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap.
        limit: usize,
    },
    /// Every source of a list failed; each failure in order.
    #[error("no collateral source could provide {request}: {}", failures.join("; "))]
    AllSourcesFailed {
        /// What was asked for.
        request: CollateralRequest,
        /// Each source's error message, in the order tried.
        failures: Vec<String>,
    },
}

/// Reads at most `limit` bytes of `path`, refusing a larger file without reading it whole.
pub(crate) fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>, CollateralError> {
    let io_error = |err: io::Error| CollateralError::Io {
        path: path.to_path_buf(),
        kind: err.kind(),
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() > limit {
        return Err(IntelCollateralError::TooLarge {
            path: path.to_path_buf(),
            limit,
        }
        .into());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
