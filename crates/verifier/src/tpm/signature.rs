//! TPMT_SIGNATURE (TPM 2.0 Library, Part 2, §11.3.4), as the guest attester marshals it:
//! `sigAlg` u16, then per scheme: RSASSA/RSAPSS `hash` u16 + TPM2B signature; ECDSA `hash`
//! u16 + TPM2B r + TPM2B s. Big-endian throughout.

use crate::vtpm::ParseError;
use crate::vtpm::reader::Reader;

/// `TPM_ALG_RSASSA` (PKCS#1 v1.5).
pub const TPM_ALG_RSASSA: u16 = 0x0014;
/// `TPM_ALG_RSAPSS`.
pub const TPM_ALG_RSAPSS: u16 = 0x0016;
/// `TPM_ALG_ECDSA`.
pub const TPM_ALG_ECDSA: u16 = 0x0018;

/// Largest RSA signature accepted (RSA-8192, beyond any TPM).
const MAX_RSA_SIGNATURE: usize = 1024;
/// Largest ECC parameter (`MAX_ECC_KEY_BYTES`, P-521).
const MAX_ECC_PARAMETER: usize = 66;

/// A parsed TPMT_SIGNATURE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmSignature {
    /// RSASSA-PKCS1-v1_5 or RSASSA-PSS.
    Rsa {
        /// `TPM_ALG_RSASSA` or `TPM_ALG_RSAPSS`.
        scheme: u16,
        /// The hash the TPM signed with (`TPM_ALG_SHA*`).
        hash: u16,
        /// The signature.
        signature: Vec<u8>,
    },
    /// ECDSA.
    Ecdsa {
        /// The hash the TPM signed with (`TPM_ALG_SHA*`).
        hash: u16,
        /// `r`, big-endian.
        r: Vec<u8>,
        /// `s`, big-endian.
        s: Vec<u8>,
    },
}

/// Why a TPMT_SIGNATURE could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureParseError {
    /// The bytes do not form the structure.
    Parse(ParseError),
    /// A signature scheme other than RSASSA, RSAPSS and ECDSA.
    Scheme(u16),
}

impl From<ParseError> for SignatureParseError {
    fn from(err: ParseError) -> Self {
        Self::Parse(err)
    }
}

impl TpmSignature {
    /// Parses a marshalled TPMT_SIGNATURE, rejecting trailing bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, SignatureParseError> {
        let mut r = Reader::new(bytes);
        let scheme = r.u16_be("sigAlg")?;
        let signature = match scheme {
            TPM_ALG_RSASSA | TPM_ALG_RSAPSS => Self::Rsa {
                scheme,
                hash: r.u16_be("signature.hash")?,
                signature: r.tpm2b("signature.sig", MAX_RSA_SIGNATURE)?.to_vec(),
            },
            TPM_ALG_ECDSA => Self::Ecdsa {
                hash: r.u16_be("signature.hash")?,
                r: r.tpm2b("signature.signatureR", MAX_ECC_PARAMETER)?.to_vec(),
                s: r.tpm2b("signature.signatureS", MAX_ECC_PARAMETER)?.to_vec(),
            },
            other => return Err(SignatureParseError::Scheme(other)),
        };
        r.finish()?;
        Ok(signature)
    }

    /// The scheme's TPM_ALG_ID.
    pub fn scheme(&self) -> u16 {
        match self {
            Self::Rsa { scheme, .. } => *scheme,
            Self::Ecdsa { .. } => TPM_ALG_ECDSA,
        }
    }

    /// The hash the TPM signed with; TPM2_Quote also uses it for `pcrDigest`.
    pub fn hash(&self) -> u16 {
        match self {
            Self::Rsa { hash, .. } | Self::Ecdsa { hash, .. } => *hash,
        }
    }
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` of big-endian `r` and `s` (X9.62 / RFC 3279),
/// the form aws-lc-rs's ASN.1 ECDSA verifiers take.
pub fn ecdsa_der(r: &[u8], s: &[u8]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, value: &[u8]) {
        let start = value.iter().position(|&b| b != 0).unwrap_or(value.len());
        let trimmed = &value[start..];
        let pad = trimmed.first().is_none_or(|&b| b & 0x80 != 0);
        out.push(0x02);
        push_len(out, trimmed.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(trimmed);
    }
    fn push_len(out: &mut Vec<u8>, len: usize) {
        // Contents here are at most 2 × (2 + 67) bytes, so one length byte suffices.
        if len < 0x80 {
            out.push(len as u8);
        } else {
            out.push(0x81);
            out.push(u8::try_from(len).unwrap_or(u8::MAX));
        }
    }
    let mut body = Vec::with_capacity(2 * (3 + MAX_ECC_PARAMETER));
    integer(&mut body, r);
    integer(&mut body, s);
    let mut out = Vec::with_capacity(body.len() + 3);
    out.push(0x30);
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_rsassa() {
        let mut bytes = vec![0x00, 0x14, 0x00, 0x0b, 0x00, 0x03];
        bytes.extend([1, 2, 3]);
        assert_eq!(
            TpmSignature::parse(&bytes).unwrap(),
            TpmSignature::Rsa {
                scheme: TPM_ALG_RSASSA,
                hash: 0x000b,
                signature: vec![1, 2, 3]
            }
        );
        bytes.push(0);
        assert_eq!(
            TpmSignature::parse(&bytes),
            Err(SignatureParseError::Parse(ParseError::TrailingBytes {
                len: 1
            }))
        );
    }

    #[test]
    fn parses_ecdsa_and_rejects_other_schemes() {
        let bytes = [0x00, 0x18, 0x00, 0x0c, 0x00, 0x01, 7, 0x00, 0x02, 8, 9];
        assert_eq!(
            TpmSignature::parse(&bytes).unwrap(),
            TpmSignature::Ecdsa {
                hash: 0x000c,
                r: vec![7],
                s: vec![8, 9]
            }
        );
        // TPM_ALG_HMAC
        assert_eq!(
            TpmSignature::parse(&[0x00, 0x05, 0x00, 0x0b]),
            Err(SignatureParseError::Scheme(0x0005))
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = [0x00, 0x18, 0x00, 0x0c, 0x00, 0x01, 7, 0x00, 0x02, 8, 9];
        for len in 0..bytes.len() {
            assert!(TpmSignature::parse(&bytes[..len]).is_err(), "length {len}");
        }
    }

    #[test]
    fn der_integers_are_minimal_and_positive() {
        assert_eq!(
            ecdsa_der(&[0, 0x01], &[0x80]),
            vec![0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x80]
        );
        assert_eq!(
            ecdsa_der(&[0], &[]),
            vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]
        );
        let long = ecdsa_der(&[0xff; 66], &[0xff; 66]);
        assert_eq!(&long[..3], &[0x30, 0x81, 0x8a]);
    }
}
