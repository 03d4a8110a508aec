//! The canonical binary encoding every Busker record and message uses.
//!
//! Fields are written in a fixed order, integers big-endian with a fixed width, strings and byte
//! strings behind a length prefix. There is exactly one encoding for every value, so the bytes that
//! are signed are the bytes that are sent and stored. A [`Reader`] checks every length against the
//! bytes that are left and against the caller's limit before it allocates, so hostile input costs
//! at most its own size and never panics.

use std::fmt;

/// Why a byte string is not a valid record. Returned by every decoder; never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended in the middle of a field.
    #[error("input ends early while reading {0}")]
    Truncated(&'static str),
    /// Bytes were left over after the last field.
    #[error("{0} unexpected bytes after the end of the record")]
    TrailingBytes(usize),
    /// The record starts with the wrong magic bytes.
    #[error("not a {0} record")]
    BadMagic(&'static str),
    /// The record has a version this build does not read.
    #[error("unsupported {what} version {found} (this build reads {supported})")]
    UnsupportedVersion {
        /// Which record.
        what: &'static str,
        /// The version in the input.
        found: u8,
        /// The version this build reads.
        supported: u8,
    },
    /// A field or the whole record is larger than its limit.
    #[error("{what} is too large: {len} > {max}")]
    TooLarge {
        /// Which field.
        what: &'static str,
        /// Its length in the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A text field is not UTF-8.
    #[error("{0} is not valid UTF-8")]
    BadUtf8(&'static str),
    /// A field has a value that is out of its range or contradicts another field.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The signature does not verify against the claimed key.
    #[error("signature does not verify")]
    BadSignature,
}

/// Writes fields in canonical form.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// Appends raw bytes (fixed-width fields such as ids and magic).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends one byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Appends a big-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends a big-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends a big-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Appends a string behind a u16 length. Callers keep strings under their field limit, which
    /// is always far below `u16::MAX`; a longer string is cut at a character boundary.
    pub fn str(&mut self, s: &str) {
        let s = truncate_utf8(s, u16::MAX as usize);
        self.u16(s.len() as u16);
        self.raw(s.as_bytes());
    }

    /// Appends a byte string behind a u32 length.
    pub fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.raw(b);
    }

    /// The bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// The finished encoding.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads fields written by [`Writer`], checking every length before use.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("len", &self.buf.len())
            .field("pos", &self.pos)
            .finish()
    }
}

impl<'a> Reader<'a> {
    /// Reads from `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// How many bytes have been read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes exactly `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated(what));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Reads a string of at most `max` bytes.
    pub fn str(&mut self, what: &'static str, max: usize) -> Result<String, DecodeError> {
        let len = self.u16(what)? as usize;
        if len > max {
            return Err(DecodeError::TooLarge { what, len, max });
        }
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::BadUtf8(what))
    }

    /// Reads a byte string of at most `max` bytes.
    pub fn bytes(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)? as usize;
        if len > max {
            return Err(DecodeError::TooLarge { what, len, max });
        }
        self.take(len, what)
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a character boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field_kind() {
        let mut w = Writer::default();
        w.u8(7);
        w.u16(513);
        w.u32(70_000);
        w.u64(u64::MAX - 1);
        w.str("Spring of love");
        w.bytes(&[1, 2, 3]);
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u16("b").unwrap(), 513);
        assert_eq!(r.u32("c").unwrap(), 70_000);
        assert_eq!(r.u64("d").unwrap(), u64::MAX - 1);
        assert_eq!(r.str("e", 64).unwrap(), "Spring of love");
        assert_eq!(r.bytes("f", 3).unwrap(), &[1, 2, 3]);
        r.finish().unwrap();
    }

    #[test]
    fn rejects_lengths_beyond_the_input_or_the_limit() {
        let mut w = Writer::default();
        w.str("abcdef");
        let bytes = w.into_bytes();
        assert_eq!(
            Reader::new(&bytes).str("title", 3),
            Err(DecodeError::TooLarge {
                what: "title",
                len: 6,
                max: 3
            })
        );
        assert_eq!(
            Reader::new(&bytes[..4]).str("title", 64),
            Err(DecodeError::Truncated("title"))
        );
        let mut r = Reader::new(&bytes);
        r.u8("x").unwrap();
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes(7)));
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("héllo", 3), "hé");
        assert_eq!(truncate_utf8("abc", 10), "abc");
    }
}
