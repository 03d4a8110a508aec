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

    /// Makes room for `additional` more bytes (a large body written field by field).
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
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

    /// Appends a list of byte strings behind a u16 count (callers keep it under their limit).
    pub fn byte_list(&mut self, list: &[Vec<u8>]) {
        self.u16(list.len() as u16);
        for b in list {
            self.bytes(b);
        }
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

    /// Reads a u16 count of items and checks it against `max` before anything is allocated for
    /// them.
    pub fn count(&mut self, what: &'static str, max: usize) -> Result<usize, DecodeError> {
        let len = self.u16(what)? as usize;
        if len > max {
            return Err(DecodeError::TooLarge { what, len, max });
        }
        Ok(len)
    }

    /// Reads a list written by [`Writer::byte_list`]: at most `max_count` byte strings (`what`
    /// names the list), each at most `max_len` bytes.
    pub fn byte_list(
        &mut self,
        what: &'static str,
        max_count: usize,
        max_len: usize,
    ) -> Result<Vec<Vec<u8>>, DecodeError> {
        let n = self.count(what, max_count)?;
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            list.push(self.bytes(what, max_len)?.to_vec());
        }
        Ok(list)
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// The frame every request and response body of a service protocol shares: a version byte, a
/// tag byte naming the message, then the message's fields; the whole body at most `max_len`
/// bytes.
///
/// ```
/// use busker_core::wire::{DecodeError, Envelope};
///
/// const BODY: Envelope = Envelope { version: 1, max_len: 64 };
/// let mut w = BODY.writer(7);
/// w.u32(42);
/// let bytes = w.into_bytes();
/// let n = BODY.decode("ping", &bytes, |tag, r| match tag {
///     7 => r.u32("n"),
///     _ => Err(DecodeError::Invalid("ping tag")),
/// });
/// assert_eq!(n, Ok(42));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// The version byte this build writes and reads.
    pub version: u8,
    /// The largest whole body.
    pub max_len: usize,
}

impl Envelope {
    /// The envelope of bodies at version `version` and at most `max_len` bytes.
    pub const fn new(version: u8, max_len: usize) -> Self {
        Self { version, max_len }
    }

    /// A writer holding the version byte and `tag`, ready for the message's fields.
    pub fn writer(self, tag: u8) -> Writer {
        let mut w = Writer::with_capacity(64);
        w.u8(self.version);
        w.u8(tag);
        w
    }

    /// Decodes one body named `what` in errors ("request", "response"): checks its length and
    /// version, lets `fields` read the message the tag names, then fails if bytes are left.
    pub fn decode<'a, T>(
        self,
        what: &'static str,
        bytes: &'a [u8],
        fields: impl FnOnce(u8, &mut Reader<'a>) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        if bytes.len() > self.max_len {
            return Err(DecodeError::TooLarge {
                what,
                len: bytes.len(),
                max: self.max_len,
            });
        }
        let mut r = Reader::new(bytes);
        let version = r.u8("version")?;
        if version != self.version {
            return Err(DecodeError::UnsupportedVersion {
                what,
                found: version,
                supported: self.version,
            });
        }
        let tag = r.u8("tag")?;
        let out = fields(tag, &mut r)?;
        r.finish()?;
        Ok(out)
    }
}

/// The two property tests every service protocol's codec gets, for its `Request` and `Response`
/// types: random bytes never panic and whatever decodes is canonical (it encodes back to the
/// same bytes); valid encodings (`$samples`, a `Vec<Vec<u8>>`) with a byte changed and cut short
/// never panic.
#[cfg(test)]
macro_rules! codec_proptests {
    ($request:ty, $response:ty, $samples:expr) => {
        proptest::proptest! {
            #[test]
            fn random_bytes_never_panic(
                bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
            ) {
                if let Ok(r) = <$request>::decode(&bytes) {
                    proptest::prop_assert_eq!(r.encode(), bytes.clone());
                }
                if let Ok(r) = <$response>::decode(&bytes) {
                    proptest::prop_assert_eq!(r.encode(), bytes.clone());
                }
            }

            #[test]
            fn mutated_messages_never_panic(
                which in proptest::prelude::any::<proptest::sample::Index>(),
                pos in proptest::prelude::any::<usize>(),
                byte in proptest::prelude::any::<u8>(),
                cut in proptest::prelude::any::<usize>(),
            ) {
                let samples: Vec<Vec<u8>> = $samples;
                let mut bytes = which.get(&samples).clone();
                if !bytes.is_empty() {
                    let i = pos % bytes.len();
                    bytes[i] = byte;
                }
                bytes.truncate(cut % (bytes.len() + 1));
                let _ = <$request>::decode(&bytes);
                let _ = <$response>::decode(&bytes);
            }
        }
    };
}
#[cfg(test)]
pub(crate) use codec_proptests;

/// A signed record opened for reading: at most `max` bytes, a body that starts with `magic` and
/// the version byte `version`, then a 64-byte signature. The reader stands after the version;
/// the body (what was signed) and the signature are for the caller to verify.
pub fn open_signed<'a>(
    bytes: &'a [u8],
    max: usize,
    magic: &[u8; 3],
    version: u8,
    what: &'static str,
) -> Result<(Reader<'a>, &'a [u8], [u8; 64]), DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    let body_len = bytes
        .len()
        .checked_sub(64)
        .ok_or(DecodeError::Truncated(what))?;
    let (body, sig) = bytes.split_at(body_len);
    let signature: [u8; 64] = sig
        .try_into()
        .map_err(|_| DecodeError::Truncated("signature"))?;
    let mut r = Reader::new(body);
    if &r.array::<3>("magic")? != magic {
        return Err(DecodeError::BadMagic(what));
    }
    let found = r.u8("version")?;
    if found != version {
        return Err(DecodeError::UnsupportedVersion {
            what,
            found,
            supported: version,
        });
    }
    Ok((r, body, signature))
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
    fn an_envelope_checks_length_version_and_leftovers() {
        let body = Envelope {
            version: 2,
            max_len: 8,
        };
        let read = |bytes: &[u8]| body.decode("body", bytes, |tag, r| Ok((tag, r.u8("x")?)));
        let mut w = body.writer(9);
        w.u8(4);
        assert_eq!(read(&w.into_bytes()), Ok((9, 4)));
        assert!(matches!(
            read(&[1, 9, 4]),
            Err(DecodeError::UnsupportedVersion { found: 1, .. })
        ));
        assert_eq!(read(&[2, 9, 4, 0]), Err(DecodeError::TrailingBytes(1)));
        assert!(matches!(
            read(&[2; 9]),
            Err(DecodeError::TooLarge { len: 9, max: 8, .. })
        ));
        let mut r = Reader::new(&[0, 3]);
        assert!(matches!(
            r.count("items", 2),
            Err(DecodeError::TooLarge { len: 3, .. })
        ));
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate_utf8("héllo", 2), "h");
        assert_eq!(truncate_utf8("héllo", 3), "hé");
        assert_eq!(truncate_utf8("abc", 10), "abc");
    }
}
