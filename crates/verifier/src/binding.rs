//! The report-data and init-data binding rule most verifiers share (verifiers spec §0.2):
//! the expected value is right-padded with zeros to the length of the evidence field that
//! carries it, or truncated to that length (upstream's `regularize_data`), and must then equal
//! the field.
//!
//! Used by `tdx`, `sgx`, `snp`, `csv` (report data, MRCONFIGID / CONFIGID / HOST_DATA) and, for
//! the padding alone, `cca` and `nvidia`, whose errors are their own. Rules that differ stay
//! with their verifier: `cca` refuses an init-data digest longer than the RPV, the vTPM
//! verifiers compare the TPM nonce exactly and bind init data through PCR8.

use crate::{Error, InitDataHash, ReportData};

/// `data` right-padded with zeros to `N` bytes, or its first `N` bytes.
pub(crate) fn regularize<const N: usize>(data: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let len = data.len().min(N);
    out[..len].copy_from_slice(&data[..len]);
    out
}

/// Whether `field` equals `expected` padded with zeros or truncated to `field`'s length.
pub(crate) fn matches_regularized(field: &[u8], expected: &[u8]) -> bool {
    let (head, tail) = field.split_at(expected.len().min(field.len()));
    let expected = expected.get(..head.len()).unwrap_or(expected);
    head == expected && tail.iter().all(|&byte| byte == 0)
}

/// The evidence's `report_data` field must be the expected report data regularised to its
/// length; with no expected value there is nothing to check.
pub(crate) fn check_report_data(field: &[u8], expected: &ReportData) -> Result<(), Error> {
    match expected {
        ReportData::Value(expected) if !matches_regularized(field, expected) => {
            Err(Error::Mismatch {
                field: "report_data",
            })
        }
        _ => Ok(()),
    }
}

/// The evidence field `name` that carries the init-data digest must be the expected digest
/// regularised to its length; with no expected digest there is nothing to check.
pub(crate) fn check_init_data(
    field: &[u8],
    expected: &InitDataHash,
    name: &'static str,
) -> Result<(), Error> {
    match expected {
        InitDataHash::Value(expected) if !matches_regularized(field, expected) => {
            Err(Error::Mismatch { field: name })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regularize_pads_with_zeros_or_truncates() {
        assert_eq!(regularize::<4>(b"ab"), *b"ab\0\0");
        assert_eq!(regularize::<4>(b"abcd"), *b"abcd");
        assert_eq!(regularize::<4>(b"abcdef"), *b"abcd");
        assert_eq!(regularize::<4>(b""), [0; 4]);
    }

    #[test]
    fn a_field_matches_the_padded_or_truncated_value_only() {
        assert!(matches_regularized(b"ab\0\0", b"ab"));
        assert!(matches_regularized(b"abcd", b"abcdef"));
        assert!(matches_regularized(b"\0\0", b""));
        // A non-zero byte where the padding should be, or a differing byte, does not match.
        assert!(!matches_regularized(b"ab\0x", b"ab"));
        assert!(!matches_regularized(b"abce", b"abcdef"));
        assert!(!matches_regularized(b"ab\0\0", b"ac"));
        // Explicit zeros in the expected value are the same as padding.
        assert!(matches_regularized(b"ab\0\0", b"ab\0"));
    }

    #[test]
    fn checks_name_the_field_and_skip_without_an_expected_value() {
        let field = [1u8, 2, 0, 0];
        assert_eq!(
            check_report_data(&field, &ReportData::Value(vec![1, 2])),
            Ok(())
        );
        assert_eq!(
            check_report_data(&field, &ReportData::Value(vec![1, 3])),
            Err(Error::Mismatch {
                field: "report_data"
            })
        );
        assert_eq!(check_report_data(&field, &ReportData::NotProvided), Ok(()));
        assert_eq!(
            check_init_data(&field, &InitDataHash::Value(vec![1, 2, 0, 0, 9]), "x"),
            Ok(())
        );
        assert_eq!(
            check_init_data(&field, &InitDataHash::Value(vec![2]), "mr_config_id"),
            Err(Error::Mismatch {
                field: "mr_config_id"
            })
        );
        assert_eq!(
            check_init_data(&field, &InitDataHash::NotProvided, "x"),
            Ok(())
        );
    }
}
