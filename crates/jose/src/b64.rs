//! Base64 codecs with the strictness the protocol needs.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::Error;

/// Decodes base64url without padding; padded input, the standard alphabet and non-canonical
/// trailing bits are rejected (kbs-protocol §5: JWK and JWE members are b64url-no-pad).
pub fn decode_url(field: &'static str, text: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Error::Base64 { field })
}

/// Encodes base64url without padding.
pub fn encode_url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes standard base64 with canonical padding (the `x5c` encoding of RFC 7515 §4.1.6).
pub fn decode_std(field: &'static str, text: &str) -> Result<Vec<u8>, Error> {
    STANDARD.decode(text).map_err(|_| Error::Base64 { field })
}

/// Encodes standard base64 with padding.
pub fn encode_std(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_decode_rejects_padding() {
        assert_eq!(decode_url("x", "YQ").unwrap(), b"a");
        assert_eq!(decode_url("x", "YQ=="), Err(Error::Base64 { field: "x" }));
    }

    #[test]
    fn url_decode_rejects_standard_alphabet() {
        assert!(decode_url("x", "-_8").is_ok());
        assert!(decode_url("x", "+/8").is_err());
    }

    #[test]
    fn url_decode_rejects_noncanonical_trailing_bits() {
        assert!(decode_url("x", "YR").is_err());
    }

    #[test]
    fn std_decode_round_trips() {
        let bytes = [0xfb, 0xff, 0x00];
        assert_eq!(decode_std("x", &encode_std(&bytes)).unwrap(), bytes);
        assert!(decode_std("x", "-_8A").is_err());
    }
}
