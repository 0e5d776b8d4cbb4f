//! X.509 helpers shared by the certificate chains the verifiers check themselves (`snp`,
//! `nvidia`).

use std::ops::Range;

use x509_cert::der::{Decode, Header, Reader, SliceReader, Tag};

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
