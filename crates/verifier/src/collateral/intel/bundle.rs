//! The two collateral file formats: a dcap-qvl `QuoteCollateralV3` JSON (one quote's
//! collateral) and the `file://` JSON Intel's PCS client tool writes (`{"collaterals": ...}`,
//! many FMSPCs), which trustee reads for `collateral_service = "file:///..."`.
//!
//! Signed text is kept as text. A dcap-qvl bundle carries it as a JSON string, exactly. A PCS
//! client file embeds the signed objects as JSON (and is often pretty-printed): their raw text
//! is taken from the file as written ([`serde_json::value::RawValue`]) and only the whitespace
//! between tokens is removed, which restores Intel's compact text while keeping key order,
//! number spelling and hex case. Parsing and re-serialising would not: trustee does that, and
//! the upper-cased `fmspc` of a TCB info signed with a lower-case one no longer verifies.

use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;
use x509_cert::crl::CertificateList;
use x509_cert::der::Decode;

use super::{CollateralRequest, DcapCollateral, DcapTee, IntelCollateralError, PckCa};
use super::{TcbUpdateType, read_bounded};
use crate::collateral::CollateralError;

/// Largest collateral file read (a PCS client file holds every FMSPC of a fleet).
pub const MAX_BUNDLE_BYTES: usize = 16 * 1024 * 1024;

/// Most certificates accepted in one issuer chain (Intel's have two).
const MAX_CHAIN_CERTS: usize = 8;

/// A parsed collateral file, ready to answer requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bundle {
    /// One quote's collateral (dcap-qvl format), with what it is for.
    Single {
        /// The collateral.
        collateral: DcapCollateral,
        /// The TEE its TCB info is for (from the TCB info `id`).
        tee: DcapTee,
        /// The FMSPC of its TCB info.
        fmspc: [u8; 6],
        /// The CA that issued its PCK CRL (from the CRL issuer).
        ca: PckCa,
    },
    /// A PCS client tool file.
    Pcs(PcsCollaterals),
}

/// Reads and parses the collateral file at `path` (either format; see [`Bundle::parse`]).
pub fn load_bundle(path: &Path) -> Result<Bundle, CollateralError> {
    let bytes = read_bounded(path, MAX_BUNDLE_BYTES)?;
    let source = path.display().to_string();
    let text = std::str::from_utf8(&bytes).map_err(|_| malformed(&source, "file", "not UTF-8"))?;
    Bundle::parse(text, &source)
}

impl Bundle {
    /// Parses either format: a top-level `collaterals` object is a PCS client file, anything
    /// else must be a dcap-qvl bundle. `source` names the file in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self, CollateralError> {
        #[derive(Deserialize)]
        struct Probe<'a> {
            #[serde(borrow, default)]
            collaterals: Option<&'a RawValue>,
        }
        let probe: Probe<'_> = serde_json::from_str(text)
            .map_err(|err| malformed(source, "collateral file", err.to_string()))?;
        if probe.collaterals.is_some() {
            return Ok(Self::Pcs(PcsCollaterals::parse(text, source)?));
        }
        let collateral = DcapCollateral::parse_dcap_qvl_json(text, source)?;
        let (tee, fmspc) = tcb_info_subject(&collateral.tcb_info, source)?;
        let ca = crl_ca(&collateral.pck_crl, source)?;
        Ok(Self::Single {
            collateral,
            tee,
            fmspc,
            ca,
        })
    }

    /// The collateral for `request` with TCB info and QE identity of `update` (see
    /// [`PcsCollaterals::select`] for the fallback). A dcap-qvl bundle answers only the one
    /// request it was made for, whatever `update`. `source` names the file in errors.
    pub fn select(
        &self,
        request: &CollateralRequest,
        update: TcbUpdateType,
        source: &str,
    ) -> Result<DcapCollateral, CollateralError> {
        match self {
            Self::Single {
                collateral,
                tee,
                fmspc,
                ca,
            } => {
                let what = if *tee != request.tee {
                    "tcb info for this tee"
                } else if *fmspc != request.fmspc {
                    "tcb info for this fmspc"
                } else if *ca != request.ca {
                    "pck crl for this ca"
                } else {
                    return Ok(collateral.clone());
                };
                Err(not_found(what, request, source))
            }
            Self::Pcs(pcs) => pcs.select(request, update, source),
        }
    }
}

impl DcapCollateral {
    /// Parses a dcap-qvl `QuoteCollateralV3` JSON (`tcb_info`, `qe_identity` as the signed
    /// text; signatures and CRLs as hex; issuer chains as PEM), as in
    /// `shared/testdata/collateral/intel/bundles/*.dcap-qvl.json`.
    pub fn from_dcap_qvl_json(text: &str) -> Result<Self, CollateralError> {
        Self::parse_dcap_qvl_json(text, "dcap-qvl collateral")
    }

    fn parse_dcap_qvl_json(text: &str, source: &str) -> Result<Self, CollateralError> {
        /// Bytes as dcap-qvl writes them: hex (current releases) or a number array.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Bytes {
            Hex(String),
            Array(Vec<u8>),
        }
        #[derive(Deserialize)]
        struct Qvl {
            tcb_info_issuer_chain: String,
            tcb_info: String,
            tcb_info_signature: Bytes,
            qe_identity_issuer_chain: String,
            qe_identity: String,
            qe_identity_signature: Bytes,
            pck_crl_issuer_chain: String,
            root_ca_crl: Bytes,
            pck_crl: Bytes,
        }
        let bytes = |value: Bytes, what: &'static str| match value {
            Bytes::Hex(text) => decode_hex(&text, what, source),
            Bytes::Array(bytes) => Ok(bytes),
        };
        let qvl: Qvl = serde_json::from_str(text)
            .map_err(|err| malformed(source, "dcap-qvl collateral", err.to_string()))?;
        Ok(Self {
            tcb_info_issuer_chain: pem_chain(
                &qvl.tcb_info_issuer_chain,
                "tcb info issuer chain",
                source,
            )?,
            tcb_info: qvl.tcb_info,
            tcb_info_signature: bytes(qvl.tcb_info_signature, "tcb info signature")?,
            qe_identity_issuer_chain: pem_chain(
                &qvl.qe_identity_issuer_chain,
                "qe identity issuer chain",
                source,
            )?,
            qe_identity: qvl.qe_identity,
            qe_identity_signature: bytes(qvl.qe_identity_signature, "qe identity signature")?,
            pck_crl_issuer_chain: pem_chain(
                &qvl.pck_crl_issuer_chain,
                "pck crl issuer chain",
                source,
            )?,
            pck_crl: crl_der(bytes(qvl.pck_crl, "pck crl")?, "pck crl", source)?,
            root_ca_crl: crl_der(
                bytes(qvl.root_ca_crl, "root ca crl")?,
                "root ca crl",
                source,
            )?,
        })
    }

    /// The earliest `nextUpdate` of the TCB info, the QE identity and the two CRLs, in Unix
    /// seconds: until then the collateral is current (a source re-fetches after it).
    pub fn next_update(&self) -> Result<i64, CollateralError> {
        let source = "collateral";
        let tcb_info = json_next_update(&self.tcb_info, "tcb info", source)?;
        let qe_identity = json_next_update(&self.qe_identity, "qe identity", source)?;
        let pck_crl = crl_next_update(&self.pck_crl, "pck crl", source)?;
        let root_ca_crl = crl_next_update(&self.root_ca_crl, "root ca crl", source)?;
        Ok(tcb_info.min(qe_identity).min(pck_crl).min(root_ca_crl))
    }
}

/// A PCS client tool file, decoded: every signed object kept as its compact signed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcsCollaterals {
    tcb_infos: Vec<PcsTcbInfos>,
    qe_identity: Option<Signed>,
    qe_identity_early: Option<Signed>,
    td_qe_identity: Option<Signed>,
    td_qe_identity_early: Option<Signed>,
    processor_crl: Option<Vec<u8>>,
    platform_crl: Option<Vec<u8>>,
    tcb_info_issuer_chain: Option<Vec<Vec<u8>>>,
    qe_identity_issuer_chain: Option<Vec<Vec<u8>>>,
    processor_chain: Option<Vec<Vec<u8>>>,
    platform_chain: Option<Vec<Vec<u8>>>,
    root_ca_crl: Option<Vec<u8>>,
}

/// The TCB infos of one FMSPC.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PcsTcbInfos {
    fmspc: [u8; 6],
    sgx: Option<Signed>,
    sgx_early: Option<Signed>,
    tdx: Option<Signed>,
    tdx_early: Option<Signed>,
}

/// A signed object: its compact signed text and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signed {
    pub(crate) text: String,
    pub(crate) signature: Vec<u8>,
}

/// A PCS `tcb` response body, as served and as embedded in a PCS client file.
#[derive(Deserialize)]
pub(crate) struct SignedTcbInfoJson<'a> {
    #[serde(rename = "tcbInfo", borrow)]
    tcb_info: &'a RawValue,
    signature: String,
}

/// A PCS `qe/identity` response body, as served and as embedded in a PCS client file.
#[derive(Deserialize)]
pub(crate) struct SignedIdentityJson<'a> {
    #[serde(rename = "enclaveIdentity", borrow)]
    enclave_identity: &'a RawValue,
    signature: String,
}

impl SignedTcbInfoJson<'_> {
    pub(crate) fn decode(&self, source: &str) -> Result<Signed, CollateralError> {
        Ok(Signed {
            text: compact(self.tcb_info.get()),
            signature: decode_hex(&self.signature, "tcb info signature", source)?,
        })
    }
}

impl SignedIdentityJson<'_> {
    pub(crate) fn decode(&self, source: &str) -> Result<Signed, CollateralError> {
        Ok(Signed {
            text: compact(self.enclave_identity.get()),
            signature: decode_hex(&self.signature, "qe identity signature", source)?,
        })
    }
}

impl PcsCollaterals {
    /// Parses a PCS client tool file (testdata README §4, verifiers spec §3.2). Empty strings
    /// (the tool writes `""` for a CA it has no CRL for) count as absent.
    pub fn parse(text: &str, source: &str) -> Result<Self, CollateralError> {
        #[derive(Deserialize)]
        struct File<'a> {
            #[serde(borrow)]
            collaterals: Collaterals<'a>,
        }
        #[derive(Deserialize)]
        struct Collaterals<'a> {
            #[serde(borrow, default)]
            tcbinfos: Vec<TcbInfos<'a>>,
            #[serde(default)]
            pckcacrl: Option<PckCaCrl>,
            #[serde(borrow, default)]
            qeidentity: Option<SignedIdentityJson<'a>>,
            #[serde(borrow, default)]
            qeidentity_early: Option<SignedIdentityJson<'a>>,
            #[serde(borrow, default)]
            tdqeidentity: Option<SignedIdentityJson<'a>>,
            #[serde(borrow, default)]
            tdqeidentity_early: Option<SignedIdentityJson<'a>>,
            #[serde(default)]
            certificates: Certificates,
            #[serde(default)]
            rootcacrl: Option<String>,
        }
        #[derive(Deserialize)]
        struct TcbInfos<'a> {
            fmspc: String,
            #[serde(borrow, default)]
            sgx_tcbinfo: Option<SignedTcbInfoJson<'a>>,
            #[serde(borrow, default)]
            sgx_tcbinfo_early: Option<SignedTcbInfoJson<'a>>,
            #[serde(borrow, default)]
            tdx_tcbinfo: Option<SignedTcbInfoJson<'a>>,
            #[serde(borrow, default)]
            tdx_tcbinfo_early: Option<SignedTcbInfoJson<'a>>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct PckCaCrl {
            #[serde(default)]
            processor_crl: Option<String>,
            #[serde(default)]
            platform_crl: Option<String>,
        }
        #[derive(Deserialize, Default)]
        struct Certificates {
            #[serde(rename = "TCB-Info-Issuer-Chain", default)]
            tcb_info: Option<String>,
            #[serde(rename = "SGX-Enclave-Identity-Issuer-Chain", default)]
            enclave_identity: Option<String>,
            #[serde(rename = "SGX-PCK-Certificate-Issuer-Chain", default)]
            pck: Option<PckChains>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "UPPERCASE")]
        struct PckChains {
            #[serde(default)]
            processor: Option<String>,
            #[serde(default)]
            platform: Option<String>,
        }

        let file: File<'_> = serde_json::from_str(text)
            .map_err(|err| malformed(source, "pcs collateral file", err.to_string()))?;
        let c = file.collaterals;
        let present = |value: Option<String>| value.filter(|text| !text.trim().is_empty());
        let tcb =
            |value: Option<SignedTcbInfoJson<'_>>| value.map(|v| v.decode(source)).transpose();
        let identity =
            |value: Option<SignedIdentityJson<'_>>| value.map(|v| v.decode(source)).transpose();
        let crl = |value: Option<String>, what: &'static str| {
            present(value)
                .map(|hex| crl_der(decode_hex(&hex, what, source)?, what, source))
                .transpose()
        };
        let chain = |value: Option<String>, what: &'static str| {
            present(value)
                .map(|encoded| url_encoded_pem_chain(&encoded, what, source))
                .transpose()
        };

        let mut tcb_infos = Vec::with_capacity(c.tcbinfos.len());
        for entry in c.tcbinfos {
            tcb_infos.push(PcsTcbInfos {
                fmspc: decode_fmspc(&entry.fmspc, source)?,
                sgx: tcb(entry.sgx_tcbinfo)?,
                sgx_early: tcb(entry.sgx_tcbinfo_early)?,
                tdx: tcb(entry.tdx_tcbinfo)?,
                tdx_early: tcb(entry.tdx_tcbinfo_early)?,
            });
        }
        let (processor_crl, platform_crl) = match c.pckcacrl {
            Some(crls) => (
                crl(crls.processor_crl, "processor pck crl")?,
                crl(crls.platform_crl, "platform pck crl")?,
            ),
            None => (None, None),
        };
        let (processor_chain, platform_chain) = match c.certificates.pck {
            Some(chains) => (
                chain(chains.processor, "processor pck crl issuer chain")?,
                chain(chains.platform, "platform pck crl issuer chain")?,
            ),
            None => (None, None),
        };
        Ok(Self {
            tcb_infos,
            qe_identity: identity(c.qeidentity)?,
            qe_identity_early: identity(c.qeidentity_early)?,
            td_qe_identity: identity(c.tdqeidentity)?,
            td_qe_identity_early: identity(c.tdqeidentity_early)?,
            processor_crl,
            platform_crl,
            tcb_info_issuer_chain: chain(c.certificates.tcb_info, "tcb info issuer chain")?,
            qe_identity_issuer_chain: chain(
                c.certificates.enclave_identity,
                "qe identity issuer chain",
            )?,
            processor_chain,
            platform_chain,
            root_ca_crl: crl(c.rootcacrl, "root ca crl")?,
        })
    }

    /// The collateral for `request`: the TCB info of its FMSPC and TEE (`sgx_tcbinfo` /
    /// `tdx_tcbinfo`), the QE identity of its TEE (`qeidentity` / `tdqeidentity`), the CRL of
    /// its PCK CA and the chains.
    ///
    /// With [`TcbUpdateType::Early`] the `_early` entries are preferred and the standard ones
    /// used when the file has none: the PCS client tool writes `_early` entries only when run
    /// for both update types, and the early TCB info is never more lenient than the standard
    /// one. [`TcbUpdateType::Standard`] uses only the standard entries.
    pub fn select(
        &self,
        request: &CollateralRequest,
        update: TcbUpdateType,
        source: &str,
    ) -> Result<DcapCollateral, CollateralError> {
        let missing = |what| not_found(what, request, source);
        let pick = |early: &Option<Signed>, standard: &Option<Signed>| match update {
            TcbUpdateType::Early => early.clone().or_else(|| standard.clone()),
            TcbUpdateType::Standard => standard.clone(),
        };
        let entry = self
            .tcb_infos
            .iter()
            .find(|entry| entry.fmspc == request.fmspc)
            .ok_or_else(|| missing("tcb info for this fmspc"))?;
        let tcb_info = match request.tee {
            DcapTee::Sgx => pick(&entry.sgx_early, &entry.sgx),
            DcapTee::Tdx => pick(&entry.tdx_early, &entry.tdx),
        }
        .ok_or_else(|| missing("tcb info for this tee"))?;
        let qe_identity = match request.tee {
            DcapTee::Sgx => pick(&self.qe_identity_early, &self.qe_identity),
            DcapTee::Tdx => pick(&self.td_qe_identity_early, &self.td_qe_identity),
        }
        .ok_or_else(|| missing("qe identity"))?;
        let (pck_crl, pck_crl_issuer_chain) = match request.ca {
            PckCa::Processor => (&self.processor_crl, &self.processor_chain),
            PckCa::Platform => (&self.platform_crl, &self.platform_chain),
        };
        Ok(DcapCollateral {
            tcb_info: tcb_info.text,
            tcb_info_signature: tcb_info.signature,
            tcb_info_issuer_chain: self
                .tcb_info_issuer_chain
                .clone()
                .ok_or_else(|| missing("tcb info issuer chain"))?,
            qe_identity: qe_identity.text,
            qe_identity_signature: qe_identity.signature,
            qe_identity_issuer_chain: self
                .qe_identity_issuer_chain
                .clone()
                .ok_or_else(|| missing("qe identity issuer chain"))?,
            pck_crl: pck_crl.clone().ok_or_else(|| missing("pck crl"))?,
            pck_crl_issuer_chain: pck_crl_issuer_chain
                .clone()
                .ok_or_else(|| missing("pck crl issuer chain"))?,
            root_ca_crl: self
                .root_ca_crl
                .clone()
                .ok_or_else(|| missing("root ca crl"))?,
        })
    }
}

/// Removes the whitespace between JSON tokens of valid JSON `text`, leaving strings (and so
/// every escape) untouched. On Intel's compact signed text this is the identity.
pub(crate) fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\r' | '\n') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// DER certificates from a PEM chain (signing certificate first, as Intel sends it).
pub(crate) fn pem_chain(
    text: &str,
    what: &'static str,
    source: &str,
) -> Result<Vec<Vec<u8>>, CollateralError> {
    let blocks = pem::parse_many(text).map_err(|err| malformed(source, what, err.to_string()))?;
    if blocks.is_empty() {
        return Err(malformed(source, what, "no PEM certificate"));
    }
    if blocks.len() > MAX_CHAIN_CERTS {
        return Err(malformed(
            source,
            what,
            format!("more than {MAX_CHAIN_CERTS} certificates"),
        ));
    }
    blocks
        .into_iter()
        .map(|block| {
            if block.tag() == "CERTIFICATE" {
                Ok(block.into_contents())
            } else {
                Err(malformed(
                    source,
                    what,
                    format!("a `{}` PEM block, not a CERTIFICATE", block.tag()),
                ))
            }
        })
        .collect()
}

/// DER certificates from a URL-encoded PEM chain (PCS issuer-chain headers and the PCS client
/// file's `certificates`).
pub(crate) fn url_encoded_pem_chain(
    encoded: &str,
    what: &'static str,
    source: &str,
) -> Result<Vec<Vec<u8>>, CollateralError> {
    let text = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| malformed(source, what, "url-decodes to invalid UTF-8"))?;
    pem_chain(&text, what, source)
}

/// A CRL as DER: DER as is, a PEM `X509 CRL` block converted, and hex of either decoded (PCS
/// answers DER with `encoding=der`; PCCS versions differ).
pub(crate) fn crl_der(
    bytes: Vec<u8>,
    what: &'static str,
    source: &str,
) -> Result<Vec<u8>, CollateralError> {
    let trimmed = bytes.trim_ascii();
    if trimmed.starts_with(b"-----BEGIN") {
        let block = pem::parse(trimmed).map_err(|err| malformed(source, what, err.to_string()))?;
        if block.tag() != "X509 CRL" {
            return Err(malformed(
                source,
                what,
                format!("a `{}` PEM block, not an X509 CRL", block.tag()),
            ));
        }
        return Ok(block.into_contents());
    }
    if trimmed.first() == Some(&0x30) {
        return Ok(bytes);
    }
    if !trimmed.is_empty() && trimmed.iter().all(u8::is_ascii_hexdigit) {
        let decoded =
            hex::decode(trimmed).map_err(|err| malformed(source, what, err.to_string()))?;
        return crl_der(decoded, what, source);
    }
    Err(malformed(source, what, "neither DER, PEM nor hex"))
}

fn decode_hex(text: &str, what: &'static str, source: &str) -> Result<Vec<u8>, CollateralError> {
    hex::decode(text.trim()).map_err(|err| malformed(source, what, format!("bad hex: {err}")))
}

fn decode_fmspc(text: &str, source: &str) -> Result<[u8; 6], CollateralError> {
    let mut fmspc = [0u8; 6];
    hex::decode_to_slice(text.trim(), &mut fmspc)
        .map_err(|_| malformed(source, "fmspc", format!("`{text}` is not 12 hex digits")))?;
    Ok(fmspc)
}

/// The TEE (`id`; a v2 SGX TCB info has none) and FMSPC a TCB info is for.
fn tcb_info_subject(tcb_info: &str, source: &str) -> Result<(DcapTee, [u8; 6]), CollateralError> {
    #[derive(Deserialize)]
    struct Subject {
        #[serde(default)]
        id: Option<String>,
        fmspc: String,
    }
    let subject: Subject = serde_json::from_str(tcb_info)
        .map_err(|err| malformed(source, "tcb info", err.to_string()))?;
    let tee = match subject.id.as_deref() {
        None | Some("SGX") => DcapTee::Sgx,
        Some("TDX") => DcapTee::Tdx,
        Some(other) => {
            return Err(malformed(
                source,
                "tcb info",
                format!("unknown id `{other}`"),
            ));
        }
    };
    Ok((tee, decode_fmspc(&subject.fmspc, source)?))
}

/// The PCK CA that issued a CRL, from its issuer common name.
fn crl_ca(der: &[u8], source: &str) -> Result<PckCa, CollateralError> {
    let crl = CertificateList::from_der(der)
        .map_err(|err| malformed(source, "pck crl", err.to_string()))?;
    let issuer = crl.tbs_cert_list.issuer.to_string();
    issuer
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("CN="))
        .find_map(PckCa::from_issuer_cn)
        .ok_or_else(|| {
            malformed(
                source,
                "pck crl",
                format!("issuer `{issuer}` is not an Intel SGX PCK CA"),
            )
        })
}

/// `nextUpdate` of a signed TCB info / QE identity text, in Unix seconds.
pub(crate) fn json_next_update(
    text: &str,
    what: &'static str,
    source: &str,
) -> Result<i64, CollateralError> {
    #[derive(Deserialize)]
    struct Dates {
        #[serde(rename = "nextUpdate")]
        next_update: String,
    }
    let dates: Dates =
        serde_json::from_str(text).map_err(|err| malformed(source, what, err.to_string()))?;
    let at = time::OffsetDateTime::parse(
        &dates.next_update,
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|err| malformed(source, what, format!("nextUpdate: {err}")))?;
    Ok(at.unix_timestamp())
}

/// `nextUpdate` of a DER CRL, in Unix seconds (a CRL without one never goes stale).
pub(crate) fn crl_next_update(
    der: &[u8],
    what: &'static str,
    source: &str,
) -> Result<i64, CollateralError> {
    let crl =
        CertificateList::from_der(der).map_err(|err| malformed(source, what, err.to_string()))?;
    Ok(crl.tbs_cert_list.next_update.map_or(i64::MAX, |at| {
        i64::try_from(at.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
    }))
}

pub(crate) fn malformed(
    source: &str,
    what: &'static str,
    reason: impl Into<String>,
) -> CollateralError {
    IntelCollateralError::Malformed {
        what,
        source_name: source.to_owned(),
        reason: reason.into(),
    }
    .into()
}

pub(crate) fn not_found(
    what: &'static str,
    request: &CollateralRequest,
    source: &str,
) -> CollateralError {
    IntelCollateralError::NotFound {
        what,
        request: *request,
        source_name: source.to_owned(),
    }
    .into()
}
