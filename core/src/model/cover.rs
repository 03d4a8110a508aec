//! The cover reference a version 3 manifest carries: which image, by the hash of its bytes, and
//! what a peer may expect of those bytes before it fetches them (size, dimensions, format).

use super::ImageHash;
use crate::wire::{DecodeError, Reader, Writer};

/// The largest cover image in bytes. A front cover at 1000 x 1000 px is 100 to 400 KB as a JPEG;
/// 1 MiB leaves room for a PNG while keeping a cover one small request.
pub const MAX_COVER_BYTES: u32 = 1024 * 1024;
/// The longest side of a cover in pixels (a decoded 4096 x 4096 RGBA image is 64 MiB, the most a
/// peer will spend on one).
pub const MAX_COVER_SIDE: u16 = 4096;

/// A cover's image format: what a peer decodes (and a Subsonic client is told as content type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// JPEG (JFIF or Exif), baseline or progressive.
    Jpeg,
    /// PNG.
    Png,
}

impl ImageFormat {
    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }

    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }

    /// The format the bytes start with, by their signature.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else {
            None
        }
    }

    fn code(self) -> u8 {
        match self {
            Self::Jpeg => 1,
            Self::Png => 2,
        }
    }

    fn from_code(code: u8) -> Result<Self, DecodeError> {
        match code {
            1 => Ok(Self::Jpeg),
            2 => Ok(Self::Png),
            _ => Err(DecodeError::Invalid("cover format")),
        }
    }
}

/// A cover image as a signed manifest names it. The bytes are fetched and checked against
/// `hash` and `bytes` before anything uses them; `width` and `height` are what the publisher's
/// decoder found, and a fetched image that decodes to other dimensions is refused too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CoverRef {
    /// BLAKE3 of the image bytes.
    pub hash: ImageHash,
    /// Size of the image in bytes (1 to [`MAX_COVER_BYTES`]).
    pub bytes: u32,
    /// Width in pixels (1 to [`MAX_COVER_SIDE`]).
    pub width: u16,
    /// Height in pixels (1 to [`MAX_COVER_SIDE`]).
    pub height: u16,
    /// JPEG or PNG.
    pub format: ImageFormat,
}

impl CoverRef {
    /// Whether `bytes` are exactly the image this reference names (length and hash).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() == self.bytes as usize && ImageHash::of(bytes) == self.hash
    }

    pub(super) fn write(&self, w: &mut Writer) {
        w.raw(&self.hash.0);
        w.u32(self.bytes);
        w.u16(self.width);
        w.u16(self.height);
        w.u8(self.format.code());
    }

    pub(super) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let cover = Self {
            hash: ImageHash(r.array("cover hash")?),
            bytes: r.u32("cover size")?,
            width: r.u16("cover width")?,
            height: r.u16("cover height")?,
            format: ImageFormat::from_code(r.u8("cover format")?)?,
        };
        if !(1..=MAX_COVER_BYTES).contains(&cover.bytes) {
            return Err(DecodeError::Invalid("cover size"));
        }
        let side = 1..=MAX_COVER_SIDE;
        if !side.contains(&cover.width) || !side.contains(&cover.height) {
            return Err(DecodeError::Invalid("cover dimensions"));
        }
        Ok(cover)
    }
}

/// Why an image is not a cover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoverError {
    /// More bytes than [`MAX_COVER_BYTES`].
    #[error("the image is {0} bytes, more than the {MAX_COVER_BYTES} a cover may have")]
    TooLarge(u64),
    /// Neither JPEG nor PNG.
    #[error("not a JPEG or PNG image")]
    Format,
    /// Wider or taller than [`MAX_COVER_SIDE`].
    #[error("the image is {width} x {height} px, more than {MAX_COVER_SIDE} px on a side")]
    TooManyPixels {
        /// Width the image declares.
        width: u32,
        /// Height the image declares.
        height: u32,
    },
    /// The bytes do not decode (cut short, damaged, not what the header says).
    #[error("the image does not decode: {0}")]
    Broken(String),
    /// The bytes are not the image a manifest names (another hash, size, format or size in
    /// pixels).
    #[error("the image is not the one the manifest names")]
    Mismatch,
    /// The image file could not be read.
    #[error("could not read the image: {0}")]
    Read(String),
}
