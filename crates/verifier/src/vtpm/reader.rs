//! A bounded reader over untrusted bytes: every read can fail, none can panic.

use super::ParseError;

/// Reads fields front to back; `finish` rejects trailing bytes.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Takes the next `n` bytes of `field`.
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ParseError> {
        if n > self.rest.len() {
            return Err(ParseError::Truncated { field });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Takes a fixed-size array.
    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], ParseError> {
        let bytes = self.take(N, field)?;
        <[u8; N]>::try_from(bytes).map_err(|_| ParseError::Truncated { field })
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, ParseError> {
        let [byte] = self.array::<1>(field)?;
        Ok(byte)
    }

    pub(crate) fn u16_be(&mut self, field: &'static str) -> Result<u16, ParseError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32_be(&mut self, field: &'static str) -> Result<u32, ParseError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64_be(&mut self, field: &'static str) -> Result<u64, ParseError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32_le(&mut self, field: &'static str) -> Result<u32, ParseError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// Reads a TPM2B: a big-endian u16 size, capped at `max` before anything is taken, then
    /// that many bytes.
    pub(crate) fn tpm2b(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<&'a [u8], ParseError> {
        let len = usize::from(self.u16_be(field)?);
        if len > max {
            return Err(ParseError::TooLong { field, len, max });
        }
        self.take(len, field)
    }

    /// Succeeds only if every byte was read.
    pub(crate) fn finish(self) -> Result<(), ParseError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(ParseError::TrailingBytes {
                len: self.rest.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_past_the_end_fails_without_panicking() {
        let mut reader = Reader::new(&[1, 2]);
        assert_eq!(
            reader.take(3, "x"),
            Err(ParseError::Truncated { field: "x" })
        );
        assert_eq!(reader.u16_be("y"), Ok(0x0102));
        assert_eq!(reader.u8("z"), Err(ParseError::Truncated { field: "z" }));
        assert_eq!(reader.finish(), Ok(()));
    }

    #[test]
    fn tpm2b_length_is_capped_before_reading() {
        let mut reader = Reader::new(&[0x00, 0x05, 1, 2, 3, 4, 5]);
        assert_eq!(
            reader.tpm2b("d", 4),
            Err(ParseError::TooLong {
                field: "d",
                len: 5,
                max: 4
            })
        );
    }

    #[test]
    fn finish_rejects_trailing_bytes() {
        let mut reader = Reader::new(&[0, 1, 2]);
        assert_eq!(reader.u8("a"), Ok(0));
        assert_eq!(reader.finish(), Err(ParseError::TrailingBytes { len: 2 }));
    }
}
