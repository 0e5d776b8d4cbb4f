//! DCAP quote layout: SGX quote v3 and v4, TDX quote v4 and v5 (verifiers spec §3.1; Intel
//! "SGX ECDSA Quote Library API" and "TDX DCAP Quoting Library API", quote format appendix).
//!
//! ```text
//! v3/v4: header (48) | body (384 SGX / 584 TDX 1.0)                | sig_len u32 | signature data
//! v5:    header (48) | body_type u16 | body_size u32 | body (384/584/648) | sig_len u32 | ...
//! signature data: quote sig (64) | attestation key (64) | certification data
//! ```
//! The certification data is either type 6 (TDX, and SGX v4+): QE report (384), its signature
//! (64), QE auth data (u16 length), then a nested certification data of type 5; or, in v3, the
//! QE report fields inline followed directly by type 5. Type 5 is the PEM PCK chain (PCK leaf,
//! PCK Platform/Processor CA, Intel SGX Root CA).
//!
//! Every length is checked against the bytes left before it is used; nothing here panics on
//! malformed input.

use super::error::DcapError;

/// The largest quote accepted. Real quotes are ~5 KiB (most of it the PEM chain).
pub const MAX_QUOTE_LEN: usize = 64 * 1024;

/// Header length (all versions).
pub const HEADER_LEN: usize = 48;
/// SGX enclave report length (quote body of SGX quotes, and the QE report).
pub const ENCLAVE_REPORT_LEN: usize = 384;
/// TDX 1.0 TD report body length.
pub const TD_REPORT10_LEN: usize = 584;
/// TDX 1.5 TD report body length.
pub const TD_REPORT15_LEN: usize = 648;

/// Attestation key type 2: ECDSA-256-with-P-256.
pub const ATT_KEY_TYPE_ECDSA_P256: u16 = 2;
/// Header TEE type of SGX quotes.
pub const TEE_TYPE_SGX: u32 = 0x00;
/// Header TEE type of TDX quotes.
pub const TEE_TYPE_TDX: u32 = 0x81;

/// Certification data type 5: PEM chain of PCK leaf, PCK CA, Root CA.
const CERT_DATA_PCK_CHAIN: u16 = 5;
/// Certification data type 6: QE report certification data (QE report, signature, auth data,
/// nested certification data).
const CERT_DATA_QE_REPORT: u16 = 6;

/// A parsed DCAP quote. [`Quote::parse`] only checks the layout; nothing in it is trusted
/// until [`super::verify`] returns a [`super::VerifiedQuote`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The 48-byte header.
    pub header: QuoteHeader,
    /// v5 only: the body descriptor (type and size) preceding the body.
    pub body_descriptor: Option<BodyDescriptor>,
    /// The report the quote signs: an SGX enclave report or a TD report.
    pub body: QuoteBody,
    /// ECDSA P-256 signature (r || s, big-endian) by the attestation key over
    /// [`Quote::signed_bytes`].
    pub signature: [u8; 64],
    /// The attestation public key (x || y, big-endian; P-256).
    pub attestation_key: [u8; 64],
    /// The Quoting Enclave's report (its report_data binds the attestation key).
    pub qe_report: EnclaveReport,
    /// ECDSA P-256 signature (r || s) by the PCK leaf key over the raw QE report.
    pub qe_report_signature: [u8; 64],
    /// QE authentication data (hashed with the attestation key into the QE report_data).
    pub qe_auth_data: Vec<u8>,
    /// The PCK certificate chain from the certification data, DER, leaf first:
    /// PCK leaf, PCK Platform/Processor CA, Intel SGX Root CA.
    pub pck_chain: Vec<Vec<u8>>,
    /// Header || (v5 body descriptor) || body, exactly as signed.
    signed: Vec<u8>,
    /// The raw QE report, exactly as signed by the PCK leaf.
    qe_report_raw: [u8; ENCLAVE_REPORT_LEN],
}

/// The quote header (48 bytes). Field meanings differ slightly per version: in v3 bytes 4..8
/// are reserved (`att_key_data_0`) and bytes 8..12 are the QE and PCE SVNs; in v4/v5 bytes
/// 4..8 are the TEE type and bytes 8..12 are reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteHeader {
    /// Quote version (3, 4 or 5).
    pub version: u16,
    /// Attestation key type (2 = ECDSA-256-with-P-256).
    pub att_key_type: u16,
    /// TEE type (0x00 SGX, 0x81 TDX); v3: reserved bytes 4..8 (`att_key_data_0`), zero.
    pub tee_type: u32,
    /// v3: QE SVN; v4/v5: first reserved u16.
    pub qe_svn: u16,
    /// v3: PCE SVN; v4/v5: second reserved u16.
    pub pce_svn: u16,
    /// QE vendor id (Intel: 939a7233f79c4ca9940a0db3957f0607).
    pub qe_vendor_id: [u8; 16],
    /// User data: the first 16 bytes are the platform's QE id.
    pub user_data: [u8; 20],
}

impl QuoteHeader {
    /// Bytes 8..12 as they appear in the quote (trustee's TDX `reserved` claim).
    pub fn reserved(&self) -> [u8; 4] {
        let [a, b] = self.qe_svn.to_le_bytes();
        let [c, d] = self.pce_svn.to_le_bytes();
        [a, b, c, d]
    }

    /// Whether this is a TDX quote (v4/v5 with TEE type 0x81).
    pub fn is_tdx(&self) -> bool {
        self.version >= 4 && self.tee_type == TEE_TYPE_TDX
    }
}

/// The v5 body descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyDescriptor {
    /// 1 = SGX enclave report, 2 = TD report 1.0, 3 = TD report 1.5.
    pub body_type: u16,
    /// The body's size in bytes.
    pub size: u32,
}

/// The report a quote signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuoteBody {
    /// SGX enclave report (quote v3, v4/v5 with SGX TEE type).
    Sgx(EnclaveReport),
    /// TDX 1.0 TD report (quote v4, v5 body type 2).
    Td10(TdReport10),
    /// TDX 1.5 TD report (quote v5 body type 3).
    Td15(TdReport15),
}

impl QuoteBody {
    /// The TD report (the TDX 1.0 part of a TDX 1.5 report), or `None` for SGX.
    pub fn td_report(&self) -> Option<&TdReport10> {
        match self {
            Self::Sgx(_) => None,
            Self::Td10(report) => Some(report),
            Self::Td15(report) => Some(&report.td10),
        }
    }

    /// The enclave report of an SGX quote.
    pub fn enclave_report(&self) -> Option<&EnclaveReport> {
        match self {
            Self::Sgx(report) => Some(report),
            Self::Td10(_) | Self::Td15(_) => None,
        }
    }

    /// The 64 bytes of report data the TEE bound into the report.
    pub fn report_data(&self) -> &[u8; 64] {
        match self {
            Self::Sgx(report) => &report.report_data,
            Self::Td10(report) => &report.report_data,
            Self::Td15(report) => &report.td10.report_data,
        }
    }
}

/// SGX enclave report (384 bytes; `sgx_report_body_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnclaveReport {
    /// CPU security version (offset 0).
    pub cpu_svn: [u8; 16],
    /// MISCSELECT (offset 16).
    pub misc_select: u32,
    /// Reserved (offset 20).
    pub reserved1: [u8; 12],
    /// ISV extended product id (offset 32).
    pub isv_ext_prod_id: [u8; 16],
    /// ATTRIBUTES (offset 48): flags (u64 LE) then XFRM (u64 LE), as raw bytes.
    pub attributes: [u8; 16],
    /// MRENCLAVE (offset 64).
    pub mr_enclave: [u8; 32],
    /// Reserved (offset 96).
    pub reserved2: [u8; 32],
    /// MRSIGNER (offset 128).
    pub mr_signer: [u8; 32],
    /// Reserved (offset 160).
    pub reserved3: [u8; 32],
    /// CONFIGID (offset 192).
    pub config_id: [u8; 64],
    /// ISV product id (offset 256).
    pub isv_prod_id: u16,
    /// ISV SVN (offset 258).
    pub isv_svn: u16,
    /// CONFIGSVN (offset 260).
    pub config_svn: u16,
    /// Reserved (offset 262).
    pub reserved4: [u8; 42],
    /// ISV family id (offset 304).
    pub isv_family_id: [u8; 16],
    /// Report data (offset 320).
    pub report_data: [u8; 64],
}

impl EnclaveReport {
    /// ATTRIBUTES.FLAGS as raw bytes (little-endian u64).
    pub fn attributes_flags(&self) -> [u8; 8] {
        let mut out = [0; 8];
        out.copy_from_slice(&self.attributes[..8]);
        out
    }

    /// ATTRIBUTES.XFRM as raw bytes (little-endian u64).
    pub fn attributes_xfrm(&self) -> [u8; 8] {
        let mut out = [0; 8];
        out.copy_from_slice(&self.attributes[8..]);
        out
    }

    /// Whether the enclave runs in debug mode (ATTRIBUTES.FLAGS bit 1).
    pub fn is_debug(&self) -> bool {
        self.attributes[0] & 0x02 != 0
    }

    /// Parses exactly [`ENCLAVE_REPORT_LEN`] bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, DcapError> {
        let mut r = Reader::new(bytes);
        let report = Self {
            cpu_svn: r.array("enclave report cpu_svn")?,
            misc_select: r.u32("enclave report misc_select")?,
            reserved1: r.array("enclave report reserved1")?,
            isv_ext_prod_id: r.array("enclave report isv_ext_prod_id")?,
            attributes: r.array("enclave report attributes")?,
            mr_enclave: r.array("enclave report mr_enclave")?,
            reserved2: r.array("enclave report reserved2")?,
            mr_signer: r.array("enclave report mr_signer")?,
            reserved3: r.array("enclave report reserved3")?,
            config_id: r.array("enclave report config_id")?,
            isv_prod_id: r.u16("enclave report isv_prod_id")?,
            isv_svn: r.u16("enclave report isv_svn")?,
            config_svn: r.u16("enclave report config_svn")?,
            reserved4: r.array("enclave report reserved4")?,
            isv_family_id: r.array("enclave report isv_family_id")?,
            report_data: r.array("enclave report report_data")?,
        };
        r.expect_end("enclave report")?;
        Ok(report)
    }
}

/// TDX 1.0 TD report body (584 bytes; offsets per verifiers spec §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TdReport10 {
    /// TEE TCB SVN (offset 0): byte 0 is the TDX module's minor SVN, byte 1 its major SVN
    /// (non-zero selects a TDX module identity in the TCB Info), the rest further components.
    pub tee_tcb_svn: [u8; 16],
    /// Measurement of the TDX module (offset 16).
    pub mr_seam: [u8; 48],
    /// Signer of the TDX module (offset 64; zero for Intel's module).
    pub mrsigner_seam: [u8; 48],
    /// TDX module attributes (offset 112).
    pub seam_attributes: [u8; 8],
    /// TD attributes (offset 120; bit 0 = debug).
    pub td_attributes: [u8; 8],
    /// XFAM (offset 128).
    pub xfam: [u8; 8],
    /// Build-time measurement of the TD (offset 136).
    pub mr_td: [u8; 48],
    /// MRCONFIGID (offset 184).
    pub mr_config_id: [u8; 48],
    /// MROWNER (offset 232).
    pub mr_owner: [u8; 48],
    /// MROWNERCONFIG (offset 280).
    pub mr_owner_config: [u8; 48],
    /// RTMR0..3 (offsets 328, 376, 424, 472).
    pub rtmr: [[u8; 48]; 4],
    /// Report data (offset 520).
    pub report_data: [u8; 64],
}

impl TdReport10 {
    /// Whether the TD is a debug TD (TDATTRIBUTES bit 0).
    pub fn is_debug(&self) -> bool {
        self.td_attributes[0] & 0x01 != 0
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DcapError> {
        Ok(Self {
            tee_tcb_svn: r.array("td report tee_tcb_svn")?,
            mr_seam: r.array("td report mr_seam")?,
            mrsigner_seam: r.array("td report mrsigner_seam")?,
            seam_attributes: r.array("td report seam_attributes")?,
            td_attributes: r.array("td report td_attributes")?,
            xfam: r.array("td report xfam")?,
            mr_td: r.array("td report mr_td")?,
            mr_config_id: r.array("td report mr_config_id")?,
            mr_owner: r.array("td report mr_owner")?,
            mr_owner_config: r.array("td report mr_owner_config")?,
            rtmr: [
                r.array("td report rtmr0")?,
                r.array("td report rtmr1")?,
                r.array("td report rtmr2")?,
                r.array("td report rtmr3")?,
            ],
            report_data: r.array("td report report_data")?,
        })
    }
}

/// TDX 1.5 TD report body (648 bytes): the TDX 1.0 fields, then `tee_tcb_svn2` and
/// `mr_servicetd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TdReport15 {
    /// The TDX 1.0 fields (offsets 0..584).
    pub td10: TdReport10,
    /// TEE TCB SVN of the TDX module after a TD-preserving update (offset 584).
    pub tee_tcb_svn2: [u8; 16],
    /// Hash of the service TDs' TDINFO (offset 600; zero when no service TD is bound).
    pub mr_servicetd: [u8; 48],
}

impl Quote {
    /// Parses a quote, checking its layout and every length. Accepts quote v3 (SGX), v4 (SGX or
    /// TDX 1.0) and v5 (SGX, TDX 1.0, TDX 1.5) with ECDSA-P256 attestation keys. Zero bytes
    /// after the signature data are accepted (quote buffers are often padded); anything
    /// else there is rejected.
    pub fn parse(bytes: &[u8]) -> Result<Self, DcapError> {
        if bytes.len() > MAX_QUOTE_LEN {
            return Err(DcapError::QuoteTooLarge {
                len: bytes.len(),
                max: MAX_QUOTE_LEN,
            });
        }
        let mut r = Reader::new(bytes);
        let header = QuoteHeader {
            version: r.u16("header version")?,
            att_key_type: r.u16("header att_key_type")?,
            tee_type: r.u32("header tee_type")?,
            qe_svn: r.u16("header qe_svn")?,
            pce_svn: r.u16("header pce_svn")?,
            qe_vendor_id: r.array("header qe_vendor_id")?,
            user_data: r.array("header user_data")?,
        };
        if !matches!(header.version, 3..=5) {
            return Err(DcapError::UnsupportedVersion {
                version: header.version,
            });
        }
        if header.att_key_type != ATT_KEY_TYPE_ECDSA_P256 {
            return Err(DcapError::UnsupportedAttestationKeyType {
                att_key_type: header.att_key_type,
            });
        }
        let tee_ok = match header.version {
            3 => header.tee_type == TEE_TYPE_SGX,
            _ => matches!(header.tee_type, TEE_TYPE_SGX | TEE_TYPE_TDX),
        };
        if !tee_ok {
            return Err(DcapError::UnsupportedTeeType {
                version: header.version,
                tee_type: header.tee_type,
            });
        }

        let (body_descriptor, body_kind) = if header.version == 5 {
            let body_type = r.u16("body descriptor type")?;
            let size = r.u32("body descriptor size")?;
            let (kind, expected) = match (body_type, header.tee_type) {
                (1, TEE_TYPE_SGX) => (BodyKind::Sgx, ENCLAVE_REPORT_LEN),
                (2, TEE_TYPE_TDX) => (BodyKind::Td10, TD_REPORT10_LEN),
                (3, TEE_TYPE_TDX) => (BodyKind::Td15, TD_REPORT15_LEN),
                _ => return Err(DcapError::UnsupportedBodyType { body_type }),
            };
            if usize::try_from(size).ok() != Some(expected) {
                return Err(DcapError::BodySizeMismatch {
                    body_type,
                    size,
                    expected,
                });
            }
            (Some(BodyDescriptor { body_type, size }), kind)
        } else if header.tee_type == TEE_TYPE_TDX {
            (None, BodyKind::Td10)
        } else {
            (None, BodyKind::Sgx)
        };

        let body = match body_kind {
            BodyKind::Sgx => QuoteBody::Sgx(EnclaveReport::parse(
                r.take(ENCLAVE_REPORT_LEN, "quote body")?,
            )?),
            BodyKind::Td10 => QuoteBody::Td10(TdReport10::read(&mut r)?),
            BodyKind::Td15 => QuoteBody::Td15(TdReport15 {
                td10: TdReport10::read(&mut r)?,
                tee_tcb_svn2: r.array("td report tee_tcb_svn2")?,
                mr_servicetd: r.array("td report mr_servicetd")?,
            }),
        };
        let signed = bytes.get(..r.pos).unwrap_or_default().to_vec();

        let sig_len = r.u32("signature data length")?;
        let sig_len = usize::try_from(sig_len).unwrap_or(usize::MAX);
        let sig_data = r.take(sig_len, "signature data")?;
        check_zero_padding(bytes, r.pos, "signature data")?;

        let mut s = Reader::with_base(sig_data, r.pos.saturating_sub(sig_len));
        let signature = s.array("quote signature")?;
        let attestation_key = s.array("attestation key")?;
        let parts = if header.version == 3 {
            // v3: the QE report certification data is inline, then type 5 directly.
            let parts = read_qe_report_cert_data(&mut s)?;
            s.expect_end("signature data")?;
            parts
        } else {
            let (cert_type, cert_data, base) = read_cert_data(&mut s, "certification data")?;
            s.expect_end("signature data")?;
            if cert_type != CERT_DATA_QE_REPORT {
                return Err(DcapError::UnsupportedCertificationDataType {
                    cert_data_type: cert_type,
                    place: "outer",
                });
            }
            let mut c = Reader::with_base(cert_data, base);
            let parts = read_qe_report_cert_data(&mut c)?;
            c.expect_end("qe report certification data")?;
            parts
        };

        Ok(Self {
            header,
            body_descriptor,
            body,
            signature,
            attestation_key,
            qe_report: EnclaveReport::parse(&parts.qe_report_raw)?,
            qe_report_signature: parts.qe_report_signature,
            qe_auth_data: parts.qe_auth_data,
            pck_chain: parts.pck_chain,
            signed,
            qe_report_raw: parts.qe_report_raw,
        })
    }

    /// The bytes the attestation key signed: header || (v5 body descriptor) || body.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.signed
    }

    /// The QE report exactly as the PCK leaf key signed it.
    pub fn qe_report_bytes(&self) -> &[u8; ENCLAVE_REPORT_LEN] {
        &self.qe_report_raw
    }

    /// The PCK chain (DER, leaf first) carried in the quote's certification data.
    pub fn pck_chain_der(&self) -> &[Vec<u8>] {
        &self.pck_chain
    }

    /// The PCK leaf certificate (DER).
    pub fn pck_leaf_der(&self) -> Result<&[u8], DcapError> {
        self.pck_chain
            .first()
            .map(Vec::as_slice)
            .ok_or(DcapError::PckChainMalformed {
                reason: "empty chain",
            })
    }

    /// Whether the quote is a TDX quote.
    pub fn is_tdx(&self) -> bool {
        self.header.is_tdx()
    }
}

/// Which body layout the header selects.
enum BodyKind {
    Sgx,
    Td10,
    Td15,
}

/// The QE report certification data (type 6 payload, or the v3 inline fields).
struct QeReportCertData {
    qe_report_raw: [u8; ENCLAVE_REPORT_LEN],
    qe_report_signature: [u8; 64],
    qe_auth_data: Vec<u8>,
    pck_chain: Vec<Vec<u8>>,
}

fn read_qe_report_cert_data(r: &mut Reader<'_>) -> Result<QeReportCertData, DcapError> {
    let qe_report_raw = r.array("qe report")?;
    let qe_report_signature = r.array("qe report signature")?;
    let auth_len = usize::from(r.u16("qe authentication data length")?);
    let qe_auth_data = r.take(auth_len, "qe authentication data")?.to_vec();
    let (cert_type, cert_data, _) = read_cert_data(r, "pck certification data")?;
    if cert_type != CERT_DATA_PCK_CHAIN {
        return Err(DcapError::UnsupportedCertificationDataType {
            cert_data_type: cert_type,
            place: "inner",
        });
    }
    Ok(QeReportCertData {
        qe_report_raw,
        qe_report_signature,
        qe_auth_data,
        pck_chain: parse_pem_chain(cert_data)?,
    })
}

/// Reads `type u16 | size u32 | data`; returns the data and its absolute offset.
fn read_cert_data<'a>(
    r: &mut Reader<'a>,
    field: &'static str,
) -> Result<(u16, &'a [u8], usize), DcapError> {
    let cert_type = r.u16(field)?;
    let size = usize::try_from(r.u32(field)?).unwrap_or(usize::MAX);
    let base = r.absolute();
    Ok((cert_type, r.take(size, field)?, base))
}

/// The PEM PCK chain: three certificates, leaf first. Quote generators append a NUL byte
/// after the text; trailing NULs and whitespace are ignored, anything else is not.
fn parse_pem_chain(data: &[u8]) -> Result<Vec<Vec<u8>>, DcapError> {
    let end = data
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    let text = std::str::from_utf8(data.get(..end).unwrap_or_default()).map_err(|_| {
        DcapError::PckChainMalformed {
            reason: "pem chain is not utf-8",
        }
    })?;
    if text.contains('\0') {
        return Err(DcapError::PckChainMalformed {
            reason: "nul byte inside the pem chain",
        });
    }
    let blocks = pem::parse_many(text).map_err(|_| DcapError::PckChainMalformed {
        reason: "pem chain does not parse",
    })?;
    if blocks.iter().any(|block| block.tag() != "CERTIFICATE") {
        return Err(DcapError::PckChainMalformed {
            reason: "pem block is not a certificate",
        });
    }
    if blocks.len() != 3 {
        return Err(DcapError::PckChainMalformed {
            reason: "expected 3 certificates (pck leaf, pck ca, root ca)",
        });
    }
    Ok(blocks.into_iter().map(pem::Pem::into_contents).collect())
}

/// Quote buffers are sometimes padded with zeros after the signature data; accept that,
/// refuse any other trailing byte.
fn check_zero_padding(bytes: &[u8], from: usize, field: &'static str) -> Result<(), DcapError> {
    match bytes.get(from..) {
        Some(rest) if rest.iter().any(|&b| b != 0) => Err(DcapError::TrailingBytes {
            field,
            offset: from,
        }),
        _ => Ok(()),
    }
}

/// A bounded little-endian reader: every read checks the bytes left and fails with the field
/// name instead of panicking.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the whole quote, for error messages.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self::with_base(buf, 0)
    }

    fn with_base(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    fn absolute(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DcapError> {
        let available = self.buf.len().saturating_sub(self.pos);
        let out = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
            .ok_or(DcapError::Truncated {
                field,
                offset: self.absolute(),
                needed: n,
                available,
            })?;
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DcapError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DcapError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DcapError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn expect_end(&self, field: &'static str) -> Result<(), DcapError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(DcapError::TrailingBytes {
                field,
                offset: self.absolute(),
            })
        }
    }
}
