//! Endorsement of a token-header JWK by an `x5c` chain to a trusted certificate (§4.2 step 2).

use jose::Jwk;
use rustls_pki_types::CertificateDer;

use super::Error;

/// Accepts `jwk` only when it carries a non-empty `x5c` whose leaf certificate holds the same
/// public key and whose chain (later entries as untrusted intermediates) leads to one of
/// `anchors`, all certificates being valid at `now_unix`.
///
/// This is the whole trust decision for header keys that are neither the local AS key nor
/// trusted by `insecure_header_jwk`; it is public so it can be tested with fixed vectors.
pub fn endorse_header_jwk(
    jwk: &Jwk,
    anchors: &[CertificateDer<'static>],
    now_unix: u64,
) -> Result<(), Error> {
    if anchors.is_empty() {
        return Err(Error::NoTrustedCertificates);
    }
    let x5c = jwk
        .x5c
        .as_deref()
        .filter(|chain| !chain.is_empty())
        .ok_or(Error::MissingX5c)?;
    // Checking the key first means a valid chain for some other key never counts.
    if !jose::x5c::leaf_matches_jwk(x5c, jwk).map_err(|_| Error::LeafKeyMismatch)? {
        return Err(Error::LeafKeyMismatch);
    }
    jose::x5c::verify_chain(x5c, anchors, now_unix).map_err(Error::UntrustedChain)?;
    Ok(())
}
