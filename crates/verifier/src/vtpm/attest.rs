//! TPMS_ATTEST of a TPM2_Quote (TPM 2.0 Library, Part 2, §10.12.12 and §10.12.8).
//!
//! All integers are big-endian. Layout of a quote's attestation structure:
//!
//! | field | type | size |
//! |---|---|---|
//! | magic | TPM_GENERATED (`0xff544347`) | 4 |
//! | type | TPMI_ST_ATTEST (`TPM_ST_ATTEST_QUOTE` = `0x8018`) | 2 |
//! | qualifiedSigner | TPM2B_NAME | 2 + ≤ 66 |
//! | extraData | TPM2B_DATA (the caller's nonce) | 2 + ≤ 66 |
//! | clockInfo | TPMS_CLOCK_INFO (clock u64, resetCount u32, restartCount u32, safe u8) | 17 |
//! | firmwareVersion | u64 | 8 |
//! | attested.pcrSelect | TPML_PCR_SELECTION (count u32, count × {hash u16, sizeofSelect u8, bitmap}) | 4 + … |
//! | attested.pcrDigest | TPM2B_DIGEST | 2 + ≤ 64 |

use super::reader::Reader;
use super::{ParseError, VtpmError};

/// `TPM_GENERATED_VALUE`: marks structures the TPM itself produced.
pub const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
/// `TPM_ST_ATTEST_QUOTE`.
pub const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;
/// `TPM_ALG_SHA256`.
pub const TPM_ALG_SHA256: u16 = 0x000b;

/// `sizeof(TPMU_NAME)`: a TPMT_HA of the largest digest (2 + 64).
const MAX_NAME: usize = 66;
/// `sizeof(TPMT_HA)`, the buffer of a TPM2B_DATA.
const MAX_DATA: usize = 66;
/// `sizeof(TPMU_HA)`: the largest digest (SHA-512).
const MAX_DIGEST: usize = 64;
/// `HASH_COUNT` cap: no TPM has more PCR banks than this.
const MAX_PCR_BANKS: u32 = 16;
/// Bitmap bytes accepted per bank (64 PCRs); real TPMs use 3.
const MAX_PCR_SELECT: usize = 8;
/// TPMS_CLOCK_INFO: clock u64, resetCount u32, restartCount u32, safe u8.
const CLOCK_INFO_SIZE: usize = 8 + 4 + 4 + 1;
const _: () = assert!(CLOCK_INFO_SIZE == 17);

/// One TPMS_PCR_SELECTION: a bank and the PCRs selected in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrSelection {
    /// The bank's hash algorithm (`TPM_ALG_*`).
    pub hash: u16,
    /// The PCR indexes selected, ascending (bit `j` of byte `i` selects PCR `8 i + j`).
    pub pcrs: Vec<u8>,
}

/// The parsed TPMS_ATTEST of a quote. Only built from a message whose signature was checked
/// (see [`super::TpmQuote::verify`]), or in parser tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteAttest {
    /// `qualifiedSigner`: the name of the signing key.
    pub qualified_signer: Vec<u8>,
    /// `extraData`: the nonce the verifier asked the TPM to include.
    pub extra_data: Vec<u8>,
    /// `clockInfo.clock`.
    pub clock: u64,
    /// `clockInfo.resetCount`.
    pub reset_count: u32,
    /// `clockInfo.restartCount`.
    pub restart_count: u32,
    /// `clockInfo.safe`.
    pub safe: bool,
    /// `firmwareVersion`.
    pub firmware_version: u64,
    /// `attested.quote.pcrSelect`.
    pub pcr_selections: Vec<PcrSelection>,
    /// `attested.quote.pcrDigest`.
    pub pcr_digest: Vec<u8>,
}

impl QuoteAttest {
    /// Parses a TPMS_ATTEST that must be a quote, rejecting trailing bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, VtpmError> {
        parse(bytes).map_err(VtpmError::MalformedQuote)
    }

    /// Like [`Self::parse`], with the parser's own error (for verifiers with their own
    /// error type, e.g. `tpm`).
    pub fn parse_raw(bytes: &[u8]) -> Result<Self, ParseError> {
        parse(bytes)
    }
}

fn parse(bytes: &[u8]) -> Result<QuoteAttest, ParseError> {
    let mut r = Reader::new(bytes);
    let magic = r.u32_be("magic")?;
    if magic != TPM_GENERATED_VALUE {
        return Err(ParseError::BadMagic {
            field: "magic",
            found: magic,
        });
    }
    let kind = r.u16_be("type")?;
    if kind != TPM_ST_ATTEST_QUOTE {
        // Any other attestation (certify, time, ...) signed by the same AK must not pass as a
        // quote: its layout after clockInfo differs.
        return Err(ParseError::BadMagic {
            field: "type",
            found: u32::from(kind),
        });
    }
    let qualified_signer = r.tpm2b("qualifiedSigner", MAX_NAME)?.to_vec();
    let extra_data = r.tpm2b("extraData", MAX_DATA)?.to_vec();
    let clock = r.u64_be("clockInfo.clock")?;
    let reset_count = r.u32_be("clockInfo.resetCount")?;
    let restart_count = r.u32_be("clockInfo.restartCount")?;
    let safe = r.u8("clockInfo.safe")? != 0;
    let firmware_version = r.u64_be("firmwareVersion")?;

    let count = r.u32_be("pcrSelect.count")?;
    if count > MAX_PCR_BANKS {
        return Err(ParseError::TooLong {
            field: "pcrSelect.count",
            len: usize::try_from(count).unwrap_or(usize::MAX),
            max: MAX_PCR_BANKS as usize,
        });
    }
    let mut pcr_selections = Vec::new();
    for _ in 0..count {
        let hash = r.u16_be("pcrSelections.hash")?;
        let size = usize::from(r.u8("pcrSelections.sizeofSelect")?);
        if size > MAX_PCR_SELECT {
            return Err(ParseError::TooLong {
                field: "pcrSelections.sizeofSelect",
                len: size,
                max: MAX_PCR_SELECT,
            });
        }
        let bitmap = r.take(size, "pcrSelections.pcrSelect")?;
        pcr_selections.push(PcrSelection {
            hash,
            pcrs: selected_indexes(bitmap),
        });
    }
    let pcr_digest = r.tpm2b("pcrDigest", MAX_DIGEST)?.to_vec();
    r.finish()?;
    Ok(QuoteAttest {
        qualified_signer,
        extra_data,
        clock,
        reset_count,
        restart_count,
        safe,
        firmware_version,
        pcr_selections,
        pcr_digest,
    })
}

/// PCR indexes selected by a bitmap, ascending: the order the TPM hashes them in.
fn selected_indexes(bitmap: &[u8]) -> Vec<u8> {
    let mut indexes = Vec::new();
    // At most MAX_PCR_SELECT (8) bytes, so `8 * i + bit` stays below 64 and fits a u8.
    for (byte_index, byte) in (0u8..).zip(bitmap) {
        for bit in 0u8..8 {
            if byte & (1 << bit) != 0 {
                indexes.push(byte_index.saturating_mul(8).saturating_add(bit));
            }
        }
    }
    indexes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TPMS_ATTEST of `evidence-v1.json` (nonce "challenge").
    const V1_MESSAGE: &str = "ff54434780180022000bbf15d1053b33c81c80e3f9892b1f359474102661abfabf2889dbbca9ab2b445900096368616c6c656e67650000000000359bae000000020000000001202003120012000300000001000b03ffffff0020cfa3a9112493e8c8741c1d895ced6d05a9ea19a24a02a44a8b02eaf22a1b143f";

    fn message() -> Vec<u8> {
        hex::decode(V1_MESSAGE).unwrap_or_default()
    }

    #[test]
    fn parses_a_quote() {
        let attest = QuoteAttest::parse(&message()).unwrap();
        assert_eq!(attest.extra_data, b"challenge");
        assert_eq!(attest.qualified_signer.len(), 34);
        assert_eq!(attest.reset_count, 2);
        assert_eq!(attest.restart_count, 0);
        assert!(attest.safe);
        assert_eq!(attest.firmware_version, 0x2020_0312_0012_0003);
        assert_eq!(
            attest.pcr_selections,
            vec![PcrSelection {
                hash: TPM_ALG_SHA256,
                pcrs: (0..24).collect()
            }]
        );
        assert_eq!(
            hex::encode(&attest.pcr_digest),
            "cfa3a9112493e8c8741c1d895ced6d05a9ea19a24a02a44a8b02eaf22a1b143f"
        );
    }

    #[test]
    fn rejects_wrong_magic() {
        let mut bytes = message();
        bytes[0] = 0xfe;
        assert!(matches!(
            QuoteAttest::parse(&bytes),
            Err(VtpmError::MalformedQuote(ParseError::BadMagic {
                field: "magic",
                ..
            }))
        ));
    }

    #[test]
    fn rejects_attestations_other_than_quotes() {
        let mut bytes = message();
        // TPM_ST_ATTEST_CERTIFY
        bytes[5] = 0x17;
        assert_eq!(
            QuoteAttest::parse(&bytes),
            Err(VtpmError::MalformedQuote(ParseError::BadMagic {
                field: "type",
                found: 0x8017
            }))
        );
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = message();
        bytes.push(0);
        assert_eq!(
            QuoteAttest::parse(&bytes),
            Err(VtpmError::MalformedQuote(ParseError::TrailingBytes {
                len: 1
            }))
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = message();
        for len in 0..bytes.len() {
            assert!(
                matches!(
                    QuoteAttest::parse(&bytes[..len]),
                    Err(VtpmError::MalformedQuote(ParseError::Truncated { .. }))
                ),
                "length {len}"
            );
        }
    }

    #[test]
    fn caps_the_bank_count_before_reading() {
        let mut bytes = message();
        // pcrSelect.count sits after magic, type, 2+34, 2+9, 17 and 8 bytes.
        let at = 4 + 2 + 36 + 11 + 17 + 8;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            QuoteAttest::parse(&bytes),
            Err(VtpmError::MalformedQuote(ParseError::TooLong {
                field: "pcrSelect.count",
                ..
            }))
        ));
    }

    #[test]
    fn bitmap_bits_map_to_pcr_indexes() {
        assert_eq!(selected_indexes(&[0b0000_0101, 0, 0x80]), vec![0, 2, 23]);
        assert_eq!(selected_indexes(&[]), Vec::<u8>::new());
    }
}
