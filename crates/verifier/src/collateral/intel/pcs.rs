//! Intel PCS or a PCCS as a [`DcapCollateralSource`], through the shared [`Fetcher`].
//!
//! Per quote platform four downloads (verifiers spec §3.2), each cached in the fetcher's
//! cache until the item's own `nextUpdate` and shared by every request needing it:
//!
//! - `GET {base}/{sgx|tdx}/certification/v4/tcb?fmspc=<HEX>&update=<early|standard>`, issuer
//!   chain in the URL-encoded PEM header `TCB-Info-Issuer-Chain`;
//! - `GET {base}/{sgx|tdx}/certification/v4/qe/identity?update=..`, header
//!   `SGX-Enclave-Identity-Issuer-Chain`;
//! - `GET {base}/sgx/certification/v4/pckcrl?ca=<processor|platform>&encoding=der`, header
//!   `SGX-PCK-CRL-Issuer-Chain`;
//! - the Root CA CRL: from Intel PCS, at the CRL distribution point of the Intel SGX Root CA
//!   certificate that ends the PCK CRL issuer chain; from a PCCS,
//!   `GET {base}/sgx/certification/v4/rootcacrl`.
//!
//! A cache entry is a small JSON object (`issuer_chain` as PEM, `body` as served, CRLs as hex)
//! under `intel/<service>/{tcb/<sgx|tdx>/<FMSPC>-<update>.json, qe-identity/<sgx|tdx>-<update>.json,
//! pckcrl/<ca>.json, rootcacrl.json}`, so a persistent cache survives restarts. Concurrent misses share one
//! download per item (the fetcher coalesces them). Decoded collateral is also kept in memory
//! per request until its earliest `nextUpdate`, so a verification with cached collateral does
//! no parsing here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;
use x509_cert::der::Decode;
use x509_cert::der::oid::AssociatedOid;
use x509_cert::ext::pkix::CrlDistributionPoints;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};

use super::bundle::{
    SignedIdentityJson, SignedTcbInfoJson, crl_der, crl_next_update, json_next_update, malformed,
    pem_chain,
};
use super::{
    CollateralRequest, DcapCollateral, DcapCollateralSource, DcapTee, PckCa, TcbUpdateType,
};
use crate::Clock;
use crate::collateral::CollateralError;
use crate::collateral::cache::CacheKey;
use crate::collateral::fetch::{FetchError, Fetcher, Freshness, ResponseShape};

/// Intel's public Provisioning Certification Service (upstream's default
/// `collateral_service`, without its `/sgx/certification/v4/` suffix).
pub const INTEL_PCS_BASE_URL: &str = "https://api.trustedservices.intel.com";

/// Requests whose decoded collateral is kept in memory; past this the map is cleared (real
/// fleets have a handful of FMSPCs).
const MAX_MEMO_ENTRIES: usize = 256;

/// How long collateral that was already stale when served is used before asking again.
const STALE_RETRY_SECS: i64 = 300;

/// Which kind of service answers, which decides where the Root CA CRL comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// Intel PCS: the Root CA CRL is at the root certificate's CRL distribution point.
    IntelPcs,
    /// A PCCS (Intel's caching service or a compatible one): `{base}/sgx/certification/v4/rootcacrl`.
    Pccs,
}

impl ServiceKind {
    /// Intel PCS for its host, a PCCS for any other.
    pub fn for_base_url(base_url: &str) -> Self {
        let host = reqwest::Url::parse(base_url)
            .ok()
            .and_then(|url| url.host_str().map(str::to_ascii_lowercase));
        match host.as_deref() {
            Some("api.trustedservices.intel.com") => Self::IntelPcs,
            _ => Self::Pccs,
        }
    }
}

/// Collateral from Intel PCS or a PCCS (module docs).
#[derive(Debug)]
pub struct PcsSource {
    base_url: String,
    /// The first segment of this service's cache keys.
    cache_dir: String,
    kind: ServiceKind,
    update: TcbUpdateType,
    fetcher: Fetcher,
    clock: Arc<dyn Clock>,
    memo: Mutex<HashMap<CollateralRequest, (i64, Arc<DcapCollateral>)>>,
}

/// A cache entry: what a response carried that the collateral needs.
#[derive(Serialize, Deserialize)]
struct Entry {
    /// The issuer chain from the response header, as PEM (absent for the Root CA CRL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issuer_chain: Option<String>,
    /// The body: the signed JSON as served, or a CRL as hex DER.
    body: String,
}

/// The four items of one request's collateral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    TcbInfo,
    QeIdentity,
    PckCrl,
    RootCaCrl,
}

impl Item {
    fn what(self) -> &'static str {
        match self {
            Self::TcbInfo => "tcb info",
            Self::QeIdentity => "qe identity",
            Self::PckCrl => "pck crl",
            Self::RootCaCrl => "root ca crl",
        }
    }

    fn shape(self) -> ResponseShape {
        match self {
            Self::TcbInfo => ResponseShape {
                expected: "a TCB info with its issuer chain",
                build: |body, headers| {
                    let chain = header_chain(
                        headers,
                        &["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"],
                    )?;
                    let text = std::str::from_utf8(body).ok()?;
                    let signed: SignedTcbInfoJson<'_> = serde_json::from_str(text).ok()?;
                    // Without a readable nextUpdate the entry could never be judged fresh.
                    json_next_update(&signed.decode("").ok()?.text, "tcb info", "").ok()?;
                    entry_bytes(Some(chain), text.to_owned())
                },
            },
            Self::QeIdentity => ResponseShape {
                expected: "a QE identity with its issuer chain",
                build: |body, headers| {
                    let chain = header_chain(headers, &["SGX-Enclave-Identity-Issuer-Chain"])?;
                    let text = std::str::from_utf8(body).ok()?;
                    let signed: SignedIdentityJson<'_> = serde_json::from_str(text).ok()?;
                    json_next_update(&signed.decode("").ok()?.text, "qe identity", "").ok()?;
                    entry_bytes(Some(chain), text.to_owned())
                },
            },
            Self::PckCrl => ResponseShape {
                expected: "a PCK CRL with its issuer chain",
                build: |body, headers| {
                    let chain = header_chain(headers, &["SGX-PCK-CRL-Issuer-Chain"])?;
                    let der = crl_der(body.to_vec(), "pck crl", "").ok()?;
                    crl_next_update(&der, "pck crl", "").ok()?;
                    entry_bytes(Some(chain), hex::encode(der))
                },
            },
            Self::RootCaCrl => ResponseShape {
                expected: "a CRL",
                build: |body, _| {
                    let der = crl_der(body.to_vec(), "root ca crl", "").ok()?;
                    crl_next_update(&der, "root ca crl", "").ok()?;
                    entry_bytes(None, hex::encode(der))
                },
            },
        }
    }
}

/// The PEM chain of the first of `names` present, if it URL-decodes to certificates.
fn header_chain(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    let value = names.iter().find_map(|name| headers.get(*name))?;
    let decoded = percent_encoding::percent_decode(value.as_bytes())
        .decode_utf8()
        .ok()?;
    pem_chain(&decoded, "issuer chain", "").ok()?;
    Some(decoded.into_owned())
}

fn entry_bytes(issuer_chain: Option<String>, body: String) -> Option<Vec<u8>> {
    serde_json::to_vec(&Entry { issuer_chain, body }).ok()
}

/// A decoded cache entry.
struct Decoded {
    /// The issuer chain, DER (empty for the Root CA CRL).
    chain: Vec<Vec<u8>>,
    /// The signed text of a TCB info or QE identity (empty for CRLs).
    text: String,
    /// The signature over `text`, or the CRL's DER.
    data: Vec<u8>,
    /// When the item stops being current (Unix seconds).
    next_update: i64,
}

fn decode_entry(item: Item, bytes: &[u8], source: &str) -> Result<Decoded, CollateralError> {
    let what = item.what();
    let entry: Entry =
        serde_json::from_slice(bytes).map_err(|err| malformed(source, what, err.to_string()))?;
    let chain = match &entry.issuer_chain {
        Some(pem) => pem_chain(pem, what, source)?,
        None => Vec::new(),
    };
    let (text, data, next_update) = match item {
        Item::TcbInfo => {
            let signed: SignedTcbInfoJson<'_> = serde_json::from_str(&entry.body)
                .map_err(|err| malformed(source, what, err.to_string()))?;
            let signed = signed.decode(source)?;
            let next_update = json_next_update(&signed.text, what, source)?;
            (signed.text, signed.signature, next_update)
        }
        Item::QeIdentity => {
            let signed: SignedIdentityJson<'_> = serde_json::from_str(&entry.body)
                .map_err(|err| malformed(source, what, err.to_string()))?;
            let signed = signed.decode(source)?;
            let next_update = json_next_update(&signed.text, what, source)?;
            (signed.text, signed.signature, next_update)
        }
        Item::PckCrl | Item::RootCaCrl => {
            let der = hex::decode(&entry.body)
                .map_err(|err| malformed(source, what, format!("bad hex: {err}")))?;
            let next_update = crl_next_update(&der, what, source)?;
            (String::new(), der, next_update)
        }
    };
    Ok(Decoded {
        chain,
        text,
        data,
        next_update,
    })
}

/// The Root CA CRL URL of a chain's root certificate (its CRL distribution point); only an
/// `https` URL is used, since the chain is not verified yet.
pub fn crl_distribution_point(root_der: &[u8]) -> Option<String> {
    let cert = Certificate::from_der(root_der).ok()?;
    let extensions = cert.tbs_certificate.extensions?;
    let extension = extensions
        .iter()
        .find(|ext| ext.extn_id == CrlDistributionPoints::OID)?;
    let points = CrlDistributionPoints::from_der(extension.extn_value.as_bytes()).ok()?;
    points.0.iter().find_map(|point| {
        let Some(DistributionPointName::FullName(names)) = &point.distribution_point else {
            return None;
        };
        names.iter().find_map(|name| match name {
            GeneralName::UniformResourceIdentifier(uri) => {
                let uri = uri.to_string();
                uri.starts_with("https://").then_some(uri)
            }
            _ => None,
        })
    })
}

impl PcsSource {
    /// A source asking the service at `base_url` (Intel PCS or a PCCS; a trailing
    /// `/sgx/certification/v4` or `/tdx/certification/v4`, as in upstream's default URL, is
    /// dropped) for `update` TCB infos, through `fetcher`, judging freshness at `clock`.
    pub fn new(
        base_url: &str,
        kind: ServiceKind,
        update: TcbUpdateType,
        fetcher: Fetcher,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let base_url = normalise_base_url(base_url);
        Self {
            cache_dir: cache_dir_name(&base_url),
            base_url,
            kind,
            update,
            fetcher,
            clock,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// The base URL, without a trailing slash or API path.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The TCB info URL for `request`.
    pub fn tcb_info_url(&self, request: &CollateralRequest) -> String {
        format!(
            "{}/{}/certification/v4/tcb?fmspc={}&update={}",
            self.base_url,
            request.tee.path_segment(),
            request.fmspc_hex(),
            self.update.as_str()
        )
    }

    /// The QE identity URL for `tee`.
    pub fn qe_identity_url(&self, tee: DcapTee) -> String {
        format!(
            "{}/{}/certification/v4/qe/identity?update={}",
            self.base_url,
            tee.path_segment(),
            self.update.as_str()
        )
    }

    /// The PCK CRL URL for `ca`.
    pub fn pck_crl_url(&self, ca: PckCa) -> String {
        format!(
            "{}/sgx/certification/v4/pckcrl?ca={}&encoding=der",
            self.base_url,
            ca.query_value()
        )
    }

    /// A PCCS's Root CA CRL URL.
    pub fn pccs_root_ca_crl_url(&self) -> String {
        format!("{}/sgx/certification/v4/rootcacrl", self.base_url)
    }

    /// Where the Root CA CRL comes from: a PCCS's `rootcacrl` endpoint, or for Intel PCS the
    /// CRL distribution point of the root certificate ending `pck_crl_chain` (served by
    /// `pck_crl_url`, named in the error).
    pub fn root_ca_crl_url(
        &self,
        pck_crl_chain: &[Vec<u8>],
        pck_crl_url: &str,
    ) -> Result<String, CollateralError> {
        match self.kind {
            ServiceKind::Pccs => Ok(self.pccs_root_ca_crl_url()),
            ServiceKind::IntelPcs => pck_crl_chain
                .last()
                .and_then(|root| crl_distribution_point(root))
                .ok_or_else(|| {
                    malformed(
                        pck_crl_url,
                        "pck crl issuer chain",
                        "its root certificate names no https CRL distribution point",
                    )
                }),
        }
    }

    fn key(&self, item: Item, request: &CollateralRequest) -> Result<CacheKey, CollateralError> {
        let update = self.update.as_str();
        let item_path = match item {
            Item::TcbInfo => format!(
                "tcb/{}/{}-{update}.json",
                request.tee.path_segment(),
                request.fmspc_hex()
            ),
            Item::QeIdentity => format!("qe-identity/{}-{update}.json", request.tee.path_segment()),
            Item::PckCrl => format!("pckcrl/{}.json", request.ca.query_value()),
            Item::RootCaCrl => "rootcacrl.json".to_owned(),
        };
        let key = format!("intel/{}/{item_path}", self.cache_dir);
        Ok(CacheKey::new(key).map_err(FetchError::from)?)
    }

    /// One item, from the cache while current, else downloaded.
    async fn item(
        &self,
        item: Item,
        request: &CollateralRequest,
        url: &str,
        now: i64,
    ) -> Result<Decoded, CollateralError> {
        let key = self.key(item, request)?;
        let fresh: Freshness = Arc::new(move |bytes: &[u8]| {
            decode_entry(item, bytes, "cache").is_ok_and(|entry| now < entry.next_update)
        });
        let bytes = self
            .fetcher
            .fetch_response(&key, url, item.shape(), fresh)
            .await?;
        decode_entry(item, &bytes, url)
    }

    fn memo(&self) -> MutexGuard<'_, HashMap<CollateralRequest, (i64, Arc<DcapCollateral>)>> {
        // Each critical section is one lookup or insert, so a poisoned map is intact.
        self.memo
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What the cache holds for `request`, however old: the last resort when every service
    /// fails (the verifier reports expired collateral as a claim rather than failing).
    pub async fn cached_even_if_stale(
        &self,
        request: &CollateralRequest,
    ) -> Option<Arc<DcapCollateral>> {
        let mut parts = Vec::with_capacity(4);
        for item in [
            Item::TcbInfo,
            Item::QeIdentity,
            Item::PckCrl,
            Item::RootCaCrl,
        ] {
            let key = self.key(item, request).ok()?;
            let bytes = self.fetcher.cache().get(&key).await.ok()??;
            parts.push(decode_entry(item, &bytes, "cache").ok()?);
        }
        let [tcb, qe, pck, root]: [Decoded; 4] = parts.try_into().ok()?;
        Some(Arc::new(assemble(tcb, qe, pck, root)))
    }
}

fn assemble(tcb: Decoded, qe: Decoded, pck: Decoded, root: Decoded) -> DcapCollateral {
    DcapCollateral {
        tcb_info: tcb.text,
        tcb_info_signature: tcb.data,
        tcb_info_issuer_chain: tcb.chain,
        qe_identity: qe.text,
        qe_identity_signature: qe.data,
        qe_identity_issuer_chain: qe.chain,
        pck_crl: pck.data,
        pck_crl_issuer_chain: pck.chain,
        root_ca_crl: root.data,
    }
}

/// The cache directory of a service: its host, port and path with every character a cache key
/// does not allow replaced by `_`. Each service has its own entries, so a service that failed
/// or is still downloading never answers for the next one in a list.
fn cache_dir_name(base_url: &str) -> String {
    let without_scheme = base_url
        .split_once("://")
        .map_or(base_url, |(_, rest)| rest);
    let name: String = without_scheme
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        format!("_{name}")
    } else {
        name
    }
}

/// Drops a trailing `/` and upstream's `/sgx/certification/v4` (or `tdx`) API path.
fn normalise_base_url(base_url: &str) -> String {
    let trimmed = base_url.trim_end_matches('/');
    ["/sgx/certification/v4", "/tdx/certification/v4"]
        .iter()
        .find_map(|suffix| trimmed.strip_suffix(suffix))
        .unwrap_or(trimmed)
        .trim_end_matches('/')
        .to_owned()
}

#[async_trait]
impl DcapCollateralSource for PcsSource {
    async fn collateral(
        &self,
        request: &CollateralRequest,
    ) -> Result<Arc<DcapCollateral>, CollateralError> {
        let now = i64::try_from(self.clock.now()).unwrap_or(i64::MAX);
        if let Some((next_update, collateral)) = self.memo().get(request) {
            if now < *next_update {
                return Ok(collateral.clone());
            }
        }
        let (tcb_url, qe_url, pck_url) = (
            self.tcb_info_url(request),
            self.qe_identity_url(request.tee),
            self.pck_crl_url(request.ca),
        );
        let (tcb, qe, pck) = tokio::try_join!(
            self.item(Item::TcbInfo, request, &tcb_url, now),
            self.item(Item::QeIdentity, request, &qe_url, now),
            self.item(Item::PckCrl, request, &pck_url, now),
        )?;
        let root_url = self.root_ca_crl_url(&pck.chain, &pck_url)?;
        let root = self.item(Item::RootCaCrl, request, &root_url, now).await?;
        // Collateral the service serves already stale is kept a few minutes anyway, so that
        // every verification does not ask again.
        let next_update = tcb
            .next_update
            .min(qe.next_update)
            .min(pck.next_update)
            .min(root.next_update)
            .max(now.saturating_add(STALE_RETRY_SECS));
        let collateral = Arc::new(assemble(tcb, qe, pck, root));
        let mut memo = self.memo();
        if memo.len() >= MAX_MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(*request, (next_update, collateral.clone()));
        Ok(collateral)
    }
}

#[cfg(test)]
mod tests;
