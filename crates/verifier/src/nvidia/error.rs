//! Why NVIDIA GPU evidence was rejected: one variant per check (verifiers spec §11).

/// A failed NVIDIA check. The variant names the check; `device` is the position of the
/// device in `device_evidence_list` (0-based) and `cert` a certificate's position in its chain
/// (0 = the leaf that signs the report).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NvidiaError {
    /// The evidence JSON does not have the `device_evidence_list` shape.
    #[error("malformed nvidia evidence json: {reason}")]
    EvidenceJson {
        /// What the parser objected to.
        reason: String,
    },

    /// `device_evidence_list` is empty or longer than the verifier accepts.
    #[error("nvidia evidence lists {count} devices, expected 1 to {max}")]
    DeviceCount {
        /// Devices in the list.
        count: usize,
        /// The most the verifier accepts.
        max: usize,
    },

    /// Only Hopper GPUs can be verified locally (other architectures need the remote mode).
    #[error("device {device}: architecture `{arch}` cannot be verified locally (only HOPPER)")]
    UnsupportedArch {
        /// The device.
        device: usize,
        /// The architecture named in the evidence.
        arch: String,
    },

    /// A field is larger than the verifier accepts (bounded parsing).
    #[error("device {device}: `{field}` is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// The device.
        device: usize,
        /// The evidence field.
        field: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// `evidence` is neither hex nor standard base64.
    #[error("device {device}: `evidence` is neither hex nor standard base64")]
    EvidenceEncoding {
        /// The device.
        device: usize,
    },

    /// `certificate` is not standard base64 of PEM text with only CERTIFICATE blocks.
    #[error("device {device}: `certificate` is not base64 of a pem certificate chain")]
    CertificateEncoding {
        /// The device.
        device: usize,
    },

    /// An SPDM structure ends before one of its fields.
    #[error("device {device}: spdm {structure} is truncated")]
    Truncated {
        /// The device.
        device: usize,
        /// The structure (`get_measurements request`, `measurement block`, ...).
        structure: &'static str,
    },

    /// Bytes follow the response's signature (one trailing byte is tolerated, spec §11).
    #[error("device {device}: {count} bytes follow the spdm response signature")]
    TrailingBytes {
        /// The device.
        device: usize,
        /// How many bytes follow.
        count: usize,
    },

    /// A message is not SPDM 1.1, or not the expected request/response code.
    #[error("device {device}: spdm {message} has {field} {found:#04x}, expected {expected:#04x}")]
    SpdmHeader {
        /// The device.
        device: usize,
        /// `request` or `response`.
        message: &'static str,
        /// `version` or `code`.
        field: &'static str,
        /// The value found.
        found: u8,
        /// The value required.
        expected: u8,
    },

    /// The request did not ask for a signed response, so the response cannot be trusted.
    #[error("device {device}: spdm request does not ask for a signature")]
    UnsignedRequest {
        /// The device.
        device: usize,
    },

    /// The measurement record is inconsistent (block layout, specification, sizes, duplicates).
    #[error("device {device}: spdm measurement record: {reason}")]
    MeasurementRecord {
        /// The device.
        device: usize,
        /// What is wrong.
        reason: String,
    },

    /// NVIDIA's opaque data is malformed (unknown or duplicate field, bad value).
    #[error("device {device}: spdm opaque data: {reason}")]
    OpaqueData {
        /// The device.
        device: usize,
        /// What is wrong.
        reason: String,
    },

    /// A field the verification needs is absent from the opaque data.
    #[error("device {device}: spdm opaque data has no `{field}`")]
    OpaqueFieldMissing {
        /// The device.
        device: usize,
        /// The missing field (`fwid`, `driver_version`, `vbios_version`).
        field: &'static str,
    },

    /// The chain must hold the signing leaf and at least the root.
    #[error("device {device}: certificate chain has {len} certificates, expected 2 to {max}")]
    ChainLength {
        /// The device.
        device: usize,
        /// Certificates received.
        len: usize,
        /// The most accepted.
        max: usize,
    },

    /// A certificate is not valid DER X.509.
    #[error("device {device}: certificate {cert} is malformed")]
    CertificateMalformed {
        /// The device.
        device: usize,
        /// Position in the chain.
        cert: usize,
    },

    /// The chain does not end in the embedded NVIDIA device identity root.
    #[error("device {device}: certificate chain does not end in the nvidia device identity root")]
    UntrustedRoot {
        /// The device.
        device: usize,
    },

    /// A certificate's issuer is not the subject of the next certificate in the chain.
    #[error("device {device}: certificate {cert} is not issued by certificate {}", cert + 1)]
    CertificateIssuer {
        /// The device.
        device: usize,
        /// Position in the chain.
        cert: usize,
    },

    /// A certificate is not ECDSA P-384 with SHA-384, as every NVIDIA device certificate is.
    #[error("device {device}: certificate {cert} has an unexpected signature or key algorithm")]
    CertificateAlgorithm {
        /// The device.
        device: usize,
        /// Position in the chain.
        cert: usize,
    },

    /// A certificate's signature does not verify with its issuer's key.
    #[error("device {device}: signature on certificate {cert} does not verify")]
    CertificateSignature {
        /// The device.
        device: usize,
        /// Position in the chain.
        cert: usize,
    },

    /// A certificate is expired or not yet valid at the verification time.
    #[error(
        "device {device}: certificate {cert} is not valid at {now} (valid from {not_before} to {not_after}, unix seconds)"
    )]
    CertificateValidity {
        /// The device.
        device: usize,
        /// Position in the chain.
        cert: usize,
        /// The verification time.
        now: u64,
        /// Start of validity.
        not_before: u64,
        /// End of validity.
        not_after: u64,
    },

    /// An issuing certificate is not a CA (basic constraints, key usage, path length), or a
    /// certificate has a critical extension the verifier does not know.
    #[error("device {device}: certificate {cert} fails the `{constraint}` constraint")]
    CertificateConstraint {
        /// The device.
        device: usize,
        /// Position in the chain.
        cert: usize,
        /// The constraint (`basic_constraints`, `key_usage`, `path_length`, `critical_extension`).
        constraint: &'static str,
    },

    /// The response's signature does not verify with the leaf certificate's key.
    #[error("device {device}: spdm response signature does not verify with the leaf certificate")]
    ReportSignature {
        /// The device.
        device: usize,
    },

    /// The leaf certificate carries no usable FWID extension (`2.23.133.5.4.1`).
    #[error("device {device}: leaf certificate has no fwid extension")]
    FwidExtension {
        /// The device.
        device: usize,
    },

    /// The leaf certificate's FWID differs from the one in the report's opaque data.
    #[error("device {device}: leaf certificate fwid does not match the report's fwid")]
    FwidMismatch {
        /// The device.
        device: usize,
    },

    /// The request's nonce is not the expected report data (regularised to 32 bytes).
    #[error("device {device}: spdm request nonce does not match the expected report data")]
    NonceMismatch {
        /// The device.
        device: usize,
    },

    /// Remote mode sends the expected report data to NRAS as the nonce, so it must be given.
    #[error("device {device}: remote (nras) verification needs the expected report data")]
    RemoteReportDataMissing {
        /// The device.
        device: usize,
    },

    /// NRAS attests only HOPPER, BLACKWELL and LS10 devices.
    #[error("device {device}: architecture `{arch}` is not one nras attests")]
    RemoteUnsupportedArch {
        /// The device.
        device: usize,
        /// The architecture named in the evidence.
        arch: String,
    },

    /// The NRAS request did not complete (connection, TLS, timeout).
    #[error("device {device}: nras request to {url} failed: {reason}")]
    NrasRequest {
        /// The device.
        device: usize,
        /// The attestation URL.
        url: String,
        /// What failed.
        reason: String,
    },

    /// NRAS answered with an error status.
    #[error("device {device}: nras at {url} answered http status {status}: {detail}")]
    NrasStatus {
        /// The device.
        device: usize,
        /// The attestation URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of NRAS's error body.
        detail: String,
    },

    /// The NRAS response is larger than the verifier reads.
    #[error("device {device}: nras response from {url} is larger than {max} bytes")]
    NrasResponseTooLarge {
        /// The device.
        device: usize,
        /// The attestation URL.
        url: String,
        /// The limit.
        max: usize,
    },

    /// The NRAS response is not the detached EAT `[["JWT", token], {device: token}]`.
    #[error("device {device}: malformed nras response: {reason}")]
    NrasResponseFormat {
        /// The device.
        device: usize,
        /// What is wrong.
        reason: String,
    },

    /// NRAS's JWKS could not be fetched or parsed.
    #[error("device {device}: nras jwks {url}: {reason}")]
    NrasJwks {
        /// The device.
        device: usize,
        /// The JWKS URL.
        url: String,
        /// What failed.
        reason: String,
    },

    /// A token names a `kid` that NRAS's JWKS does not hold, even after fetching it again.
    #[error(
        "device {device}: nras {token} token is signed with key `{kid}`, which is not in the nras jwks"
    )]
    NrasUnknownKid {
        /// The device.
        device: usize,
        /// `overall` or the device token's name (`GPU-0`).
        token: String,
        /// The key id.
        kid: String,
    },

    /// The JWKS member a token names is not an ES384 (EC P-384) key.
    #[error("device {device}: nras {token} token key `{kid}` is unusable: {reason}")]
    NrasKey {
        /// The device.
        device: usize,
        /// `overall` or the device token's name.
        token: String,
        /// The key id.
        kid: String,
        /// Why.
        reason: String,
    },

    /// A token's signature does not verify with the JWKS key it names.
    #[error("device {device}: nras {token} token signature does not verify")]
    NrasTokenSignature {
        /// The device.
        device: usize,
        /// `overall` or the device token's name.
        token: String,
    },

    /// A token is malformed, not ES384, has no `kid`, is expired or not yet valid.
    #[error("device {device}: nras {token} token rejected: {reason}")]
    NrasToken {
        /// The device.
        device: usize,
        /// `overall` or the device token's name.
        token: String,
        /// What is wrong.
        reason: String,
    },

    /// The overall token's `submods` do not bind the device token (missing, other names, or
    /// a digest other than the device token's SHA-256).
    #[error("device {device}: nras submods do not bind the {token} token: {reason}")]
    NrasSubmods {
        /// The device.
        device: usize,
        /// The device token's name.
        token: String,
        /// What is wrong.
        reason: String,
    },

    /// A token's `eat_nonce` is not the nonce sent (or the overall token has none).
    #[error(
        "device {device}: nras {token} token eat_nonce does not match the expected report data"
    )]
    NrasNonceMismatch {
        /// The device.
        device: usize,
        /// `overall` or the device token's name.
        token: String,
    },

    /// NRAS did not confirm that the evidence carries the nonce sent.
    #[error("device {device}: nras claim `{claim}` is not true")]
    NrasNonceNotMatched {
        /// The device.
        device: usize,
        /// The claim (`x-nvidia-gpu-attestation-report-nonce-match`).
        claim: String,
    },
}
