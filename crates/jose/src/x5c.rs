//! `x5c` certificate chains (RFC 7515 §4.1.6) endorsing a token-header JWK (kbs-protocol §4.2).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use rustls_pki_types::{CertificateDer, UnixTime};
use std::time::Duration;
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter};
use x509_cert::der::Decode;

use crate::{Error, Jwk, VerifyingKey};

/// Verifies that `x5c[0]` chains, through the other entries as untrusted intermediates in any
/// order, to one of `trust_anchors`, with every certificate valid at `now` (Unix seconds).
/// Returns the leaf certificate's public key.
///
/// No host name is checked and no extended key usage is required, as with the OpenSSL store
/// verification upstream KBS performs. Any certificate may serve as an anchor, so a trust file
/// holding an intermediate works.
pub fn verify_chain(
    x5c: &[String],
    trust_anchors: &[CertificateDer<'static>],
    now: u64,
) -> Result<VerifyingKey, Error> {
    if trust_anchors.is_empty() {
        return Err(Error::NoTrustAnchors);
    }
    let chain = decode_chain(x5c)?;
    let (leaf_der, intermediates) = chain.split_first().ok_or(Error::EmptyChain)?;
    let anchors = trust_anchors
        .iter()
        .map(|cert| webpki::anchor_from_trusted_cert(cert).map_err(Error::Chain))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = EndEntityCert::try_from(leaf_der).map_err(|_| Error::Certificate { index: 0 })?;
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        intermediates,
        UnixTime::since_unix_epoch(Duration::from_secs(now)),
        AnyExtendedKeyUsage,
        None,
        None,
    )
    .map_err(Error::Chain)?;
    VerifyingKey::from_spki_der(leaf.subject_public_key_info().as_ref())
}

/// The public key of the leaf certificate `x5c[0]`, unverified.
pub fn leaf_key(x5c: &[String]) -> Result<VerifyingKey, Error> {
    let first = x5c.first().ok_or(Error::EmptyChain)?;
    let der =
        CertificateDer::from(decode_certificate(first).ok_or(Error::Certificate { index: 0 })?);
    let leaf = EndEntityCert::try_from(&der).map_err(|_| Error::Certificate { index: 0 })?;
    VerifyingKey::from_spki_der(leaf.subject_public_key_info().as_ref())
}

/// Whether the leaf certificate `x5c[0]` holds the same public key as `jwk`: RSA `n`/`e`, or
/// EC P-256 `x`/`y`. Other key types never match, as upstream.
pub fn leaf_matches_jwk(x5c: &[String], jwk: &Jwk) -> Result<bool, Error> {
    Ok(leaf_key(x5c)?.same_public_key_as(jwk))
}

/// The earliest `notAfter` (Unix seconds) of all certificates in `x5c`, so that a caller
/// caching a successful [`verify_chain`] never outlives any certificate it may have used.
pub fn earliest_not_after(x5c: &[String]) -> Result<u64, Error> {
    let mut earliest: Option<u64> = None;
    for (index, der) in decode_chain(x5c)?.iter().enumerate() {
        let certificate = x509_cert::Certificate::from_der(der.as_ref())
            .map_err(|_| Error::Certificate { index })?;
        let not_after = certificate
            .tbs_certificate
            .validity
            .not_after
            .to_unix_duration()
            .as_secs();
        earliest = Some(earliest.map_or(not_after, |e| e.min(not_after)));
    }
    earliest.ok_or(Error::EmptyChain)
}

/// Every `CERTIFICATE` block of a PEM text, in order; other blocks are skipped.
pub fn load_pem_certificates(pem_text: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let blocks = pem::parse_many(pem_text).map_err(|_| Error::Pem {
        label: "none".to_owned(),
    })?;
    Ok(blocks
        .into_iter()
        .filter(|block| block.tag() == "CERTIFICATE")
        .map(|block| CertificateDer::from(block.into_contents()))
        .collect())
}

fn decode_chain(x5c: &[String]) -> Result<Vec<CertificateDer<'static>>, Error> {
    x5c.iter()
        .enumerate()
        .map(|(index, entry)| {
            decode_certificate(entry)
                .map(CertificateDer::from)
                .ok_or(Error::Certificate { index })
        })
        .collect()
}

/// Decodes an `x5c` entry the way upstream KBS does: line breaks removed, standard alphabet
/// first, URL-safe (padded or not) as a fallback for issuers that get RFC 7515 wrong.
fn decode_certificate(entry: &str) -> Option<Vec<u8>> {
    let cleaned: String = entry.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    STANDARD
        .decode(&cleaned)
        .or_else(|_| URL_SAFE.decode(&cleaned))
        .or_else(|_| URL_SAFE_NO_PAD.decode(&cleaned))
        .ok()
}

/// Accepts any (well-formed) extended key usage, or none: token signing certificates carry no
/// standard EKU, and upstream's OpenSSL verification sets no purpose.
struct AnyExtendedKeyUsage;

impl ExtendedKeyUsageValidator for AnyExtendedKeyUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for purpose in iter {
            purpose?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_decode_accepts_newlines_and_urlsafe() {
        assert_eq!(decode_certificate("+/8A\n").unwrap(), [0xfb, 0xff, 0]);
        assert_eq!(decode_certificate("-_8A").unwrap(), [0xfb, 0xff, 0]);
        assert_eq!(decode_certificate("-_8").unwrap(), [0xfb, 0xff]);
        assert!(decode_certificate("!!").is_none());
    }

    #[test]
    fn load_pem_certificates_skips_other_blocks() {
        let text = "-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n\
                    -----BEGIN PUBLIC KEY-----\nAAEC\n-----END PUBLIC KEY-----\n\
                    -----BEGIN CERTIFICATE-----\nAwQF\n-----END CERTIFICATE-----\n";
        let certs = load_pem_certificates(text).unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[1].as_ref(), [3, 4, 5]);
    }
}
