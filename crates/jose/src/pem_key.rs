//! Reading one PEM block that holds private key material.

use zeroize::Zeroizing;

use crate::Error;

/// Parses `pem_text` as a single PEM block and returns its label and DER contents, the latter
/// zeroized on drop since it is a private key.
pub(crate) fn private_key_der(pem_text: &str) -> Result<(String, Zeroizing<Vec<u8>>), Error> {
    let parsed = pem::parse(pem_text).map_err(|_| Error::Pem {
        label: "none".to_owned(),
    })?;
    let label = parsed.tag().to_owned();
    Ok((label, Zeroizing::new(parsed.into_contents())))
}
