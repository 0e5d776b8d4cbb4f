//! A bounded little-endian reader for Hygon's fixed binary layouts.

use super::CsvError;

/// Reads fields front to back; every read fails instead of panicking when the input is short,
/// and [`Reader::finish`] rejects trailing bytes.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    structure: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`, which hold one `structure` (named in errors).
    pub(crate) fn new(bytes: &'a [u8], structure: &'static str) -> Self {
        Self { bytes, structure }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], CsvError> {
        let (head, tail) = self.bytes.split_at_checked(n).ok_or(CsvError::Truncated {
            structure: self.structure,
        })?;
        self.bytes = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], CsvError> {
        let structure = self.structure;
        self.take(N)?
            .try_into()
            .map_err(|_| CsvError::Truncated { structure })
    }

    /// The next little-endian `u16`.
    pub(crate) fn u16(&mut self) -> Result<u16, CsvError> {
        self.array().map(u16::from_le_bytes)
    }

    /// The next little-endian `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32, CsvError> {
        self.array().map(u32::from_le_bytes)
    }

    /// Ends the read; fails if bytes are left over.
    pub(crate) fn finish(self) -> Result<(), CsvError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(CsvError::TrailingBytes {
                structure: self.structure,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_fields_in_order() {
        let mut reader = Reader::new(&[1, 0, 2, 0, 0, 0, 9], "test");
        assert_eq!(reader.u16(), Ok(1));
        assert_eq!(reader.u32(), Ok(2));
        assert_eq!(reader.array::<1>(), Ok([9]));
        assert_eq!(reader.finish(), Ok(()));
    }

    #[test]
    fn short_input_is_truncated_not_a_panic() {
        let mut reader = Reader::new(&[1, 2, 3], "test");
        assert_eq!(reader.u32(), Err(CsvError::Truncated { structure: "test" }));
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut reader = Reader::new(&[1, 2, 3], "test");
        assert!(reader.take(2).is_ok());
        assert_eq!(
            reader.finish(),
            Err(CsvError::TrailingBytes { structure: "test" })
        );
    }
}
