//! X.509 helpers shared by the certificate chains the verifiers check themselves (`snp`,
//! `nvidia`).

use std::ops::Range;

use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, Header, Reader, SliceReader, Tag};
use x509_cert::spki::SubjectPublicKeyInfoOwned;

/// `id-ecPublicKey`.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `secp384r1`.
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// The byte range of `tbsCertificate` inside a certificate's DER: the signature covers these
/// exact bytes, so they are sliced out rather than re-encoded from the parsed form.
pub(crate) fn tbs_range(der: &[u8]) -> Option<Range<usize>> {
    let mut reader = SliceReader::new(der).ok()?;
    let outer = Header::decode(&mut reader).ok()?;
    if outer.tag != Tag::Sequence {
        return None;
    }
    let start = usize::try_from(reader.position()).ok()?;
    let tbs_len = reader.tlv_bytes().ok()?.len();
    let end = start.checked_add(tbs_len)?;
    (end <= der.len()).then_some(start..end)
}

/// Whether `spki` holds an EC key on P-384: `id-ecPublicKey` with the `secp384r1` parameter.
pub(crate) fn is_p384(spki: &SubjectPublicKeyInfoOwned) -> bool {
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|params| params.decode_as::<ObjectIdentifier>().ok());
    spki.algorithm.oid == EC_PUBLIC_KEY && curve == Some(SECP384R1)
}
