//! The `tpm_quote` member of Azure vTPM evidence, in both encodings the guest attester has
//! used (verifiers spec §2.1, §6.1).

use serde::Deserialize;

use super::{TpmQuote, VtpmError};

/// Evidence v1/v2: `{"signature": hex, "message": hex, "pcrs": [hex, …]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct TpmQuoteHex {
    signature: String,
    message: String,
    pcrs: Vec<String>,
}

impl TpmQuoteHex {
    /// Decodes the hex members into a [`TpmQuote`].
    pub fn decode(&self) -> Result<TpmQuote, VtpmError> {
        let hex_field = |field: &'static str, text: &str| {
            hex::decode(text).map_err(|_| VtpmError::Hex { field })
        };
        let pcrs = self
            .pcrs
            .iter()
            .map(|pcr| hex_field("tpm_quote.pcrs", pcr))
            .collect::<Result<Vec<_>, _>>()?;
        TpmQuote::new(
            hex_field("tpm_quote.signature", &self.signature)?,
            hex_field("tpm_quote.message", &self.message)?,
            &pcrs,
        )
    }
}

/// Evidence v0: the same members as JSON arrays of byte values.
#[derive(Debug, Clone, Deserialize)]
pub struct TpmQuoteBytes {
    signature: Vec<u8>,
    message: Vec<u8>,
    pcrs: Vec<Vec<u8>>,
}

impl TpmQuoteBytes {
    /// Builds a [`TpmQuote`] (checks the PCR list's shape).
    pub fn decode(&self) -> Result<TpmQuote, VtpmError> {
        TpmQuote::new(self.signature.clone(), self.message.clone(), &self.pcrs)
    }
}
