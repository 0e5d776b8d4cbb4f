//! The crate's one error type.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong registering, querying or deleting reference values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The register message is not the JSON `{"version", "type", "payload"}` shape.
    #[error("malformed register message")]
    MalformedMessage(#[source] serde_json::Error),

    /// The message version is not the one supported (AS spec §10.1).
    #[error("version unmatched: need {expected}, given {given}")]
    VersionUnmatched {
        /// The only accepted version.
        expected: &'static str,
        /// The version in the message.
        given: String,
    },

    /// No extractor handles this `type`.
    #[error("could not find extractor for {kind}")]
    UnknownType {
        /// The requested type.
        kind: String,
    },

    /// The payload is not standard base64 with padding.
    #[error("payload is not standard base64 with padding")]
    PayloadNotBase64,

    /// The `sample` payload is not a JSON object of name → value.
    #[error("sample payload is not a json object")]
    PayloadNotObject,

    /// The `corim` payload is not a CoRIM the extractor can read (AS spec §10.2).
    #[error(transparent)]
    Corim(#[from] CorimError),

    /// The `swid` payload is not a SWID/RIM document the extractor can read (AS spec §10.2).
    #[error(transparent)]
    Swid(#[from] SwidError),

    /// A reference value name cannot be a storage key.
    #[error("reference value name {name:?} is not storable: {rule}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// The storage rule it breaks.
        rule: storage::KeyRule,
    },

    /// A stored record does not parse.
    #[error("stored reference value {name:?} is malformed")]
    MalformedRecord {
        /// The record's key.
        name: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// The expiration date cannot be computed or formatted (far outside the supported years).
    #[error("cannot compute the expiration date")]
    Expiration,

    /// The underlying store failed.
    #[error("reference value storage failed")]
    Storage(#[from] storage::Error),

    // ---- the `rvps` service configuration (AS spec §10.4)
    /// The configuration file cannot be read.
    #[error("cannot read rvps config {path}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// The configuration file does not parse.
    #[error("malformed rvps config {path}: {reason}")]
    ParseConfig {
        /// The file.
        path: PathBuf,
        /// The parser's message (line and key).
        reason: String,
    },

    /// The configuration file's extension names no supported format.
    #[error("rvps config {path} must end in .json or .toml")]
    UnsupportedConfigFormat {
        /// The file.
        path: PathBuf,
    },

    // ---- a remote RVPS over gRPC (AS spec §2.2, §10.5)
    /// The remote RVPS address is not a usable URI.
    #[error("invalid rvps address {address:?}")]
    InvalidAddress {
        /// The configured address.
        address: String,
        /// Why it was rejected.
        #[source]
        source: BoxError,
    },

    /// The remote RVPS cannot be reached: not listening, connection refused or lost.
    #[error("rvps at {address} is unreachable")]
    Unreachable {
        /// The address tried.
        address: String,
        /// The transport error.
        #[source]
        source: BoxError,
    },

    /// The remote RVPS did not answer in time.
    #[error("rvps at {address} did not answer within {timeout:?}")]
    TimedOut {
        /// The address tried.
        address: String,
        /// The per-call limit.
        timeout: Duration,
    },

    /// The remote RVPS answered the call with an error.
    #[error("rvps at {address} refused the request ({code}): {message}")]
    Rejected {
        /// The address called.
        address: String,
        /// The gRPC status code name.
        code: String,
        /// The server's message.
        message: String,
    },

    /// The remote RVPS returned a value that is not JSON text.
    #[error("rvps at {address} returned a value for {id:?} that is not json")]
    RemoteValueNotJson {
        /// The address called.
        address: String,
        /// The queried id.
        id: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// The remote RVPS answered `UNIMPLEMENTED`: it speaks upstream's reference-value protocol,
    /// which has only register and query (delete is our extension, shared with the
    /// openanolis/trustee fork).
    #[error(
        "the rvps does not support {operation}: upstream's reference-value protocol has no \
         such call (the server answered UNIMPLEMENTED)"
    )]
    UnsupportedRemoteOperation {
        /// The operation asked for.
        operation: &'static str,
    },
}

/// What is wrong with a `corim` payload; each names the structure that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorimError {
    /// The decoded bytes are not one well-formed CBOR item.
    #[error("corim payload is not CBOR: {reason}")]
    NotCbor {
        /// What the decoder found.
        reason: String,
    },

    /// The CBOR nests arrays, maps and tags deeper than the extractor follows.
    #[error("corim payload nests deeper than {limit} levels")]
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },

    /// Bytes follow the CBOR item.
    #[error("corim payload has {count} trailing bytes after the CBOR item")]
    TrailingBytes {
        /// How many.
        count: usize,
    },

    /// The top-level item is neither an unsigned CoRIM map nor a signed CoRIM.
    #[error(
        "corim payload is not a CoRIM: found {found}, expected an unsigned CoRIM map (tag 501) or a \
         COSE_Sign1 signed CoRIM (tag 18)"
    )]
    NotCorim {
        /// What the top level is.
        found: String,
    },

    /// The COSE_Sign1 envelope of a signed CoRIM is malformed (its signature is never checked).
    #[error("corim payload is a malformed signed CoRIM: {reason}")]
    MalformedSigned {
        /// The failed check.
        reason: String,
    },

    /// The CoRIM map is malformed.
    #[error("corim payload is a malformed CoRIM map: {reason}")]
    MalformedCorim {
        /// The failed check.
        reason: String,
    },

    /// A CoMID tag (tag 506) does not decode or breaks the CoMID structure.
    #[error("corim payload has a CoMID at tags[{index}] that does not decode: {reason}")]
    Comid {
        /// Its position in the CoRIM's `tags` array.
        index: usize,
        /// Where in the CoMID and what was wrong.
        reason: String,
    },

    /// The CoRIM yields more reference values than one register accepts.
    #[error("corim payload yields more than {limit} reference values")]
    TooManyValues {
        /// The limit.
        limit: usize,
    },
}

/// What is wrong with a `swid` payload (a SWID tag carrying a TCG RIM); each names the check
/// that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwidError {
    /// The decoded document is larger than the extractor reads.
    #[error("swid payload is {size} bytes, more than {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },

    /// The decoded bytes are not UTF-8 text.
    #[error("swid payload is not UTF-8 (invalid byte sequence at offset {offset})")]
    NotUtf8 {
        /// Where the first invalid sequence starts.
        offset: usize,
    },

    /// The document has a document type declaration (DTD), refused so that no entity can be
    /// declared or expanded.
    #[error("swid payload has a DTD: document type declarations and entities are refused")]
    Dtd,

    /// The document has more XML nodes than the extractor reads.
    #[error("swid payload has more than {limit} XML nodes")]
    TooManyNodes {
        /// The limit.
        limit: u32,
    },

    /// The text is not well-formed, namespace-correct XML.
    #[error("swid payload is not XML: {reason}")]
    NotXml {
        /// The parser's message, with the position.
        reason: String,
    },

    /// No `Meta` element in the SWID namespace.
    #[error(
        "swid payload has no Meta element in namespace \
         http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
    )]
    NoMeta,

    /// `Meta` has no `PlatformManufacturerStr` attribute in the TCG RIM namespace.
    #[error(
        "swid payload's Meta element has no PlatformManufacturerStr attribute in namespace \
         https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/"
    )]
    NoManufacturer,

    /// `Meta` has no `edition` attribute.
    #[error("swid payload's Meta element has no edition attribute")]
    NoEdition,

    /// No `Payload` element in the SWID namespace.
    #[error(
        "swid payload has no Payload element in namespace \
         http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
    )]
    NoPayload,

    /// A `Resource` of type `Measurement` has no `index` attribute to name it by.
    #[error(
        "swid payload has a Measurement Resource (measurements[{position}]) with no index attribute"
    )]
    NoIndex {
        /// Its position among the Payload's Measurement resources, from 0.
        position: usize,
    },

    /// A reference value name would be longer than allowed.
    #[error(
        "swid payload's Measurement Resource measurements[{position}] gives a reference value \
         name of {length} bytes, more than {limit}"
    )]
    NameTooLong {
        /// Its position among the Payload's Measurement resources, from 0.
        position: usize,
        /// The name's length.
        length: usize,
        /// The limit.
        limit: usize,
    },

    /// The document yields more reference values than one register accepts.
    #[error("swid payload yields more than {limit} reference values")]
    TooManyValues {
        /// The limit.
        limit: usize,
    },
}

/// A boxed error kept as the source of transport failures.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
