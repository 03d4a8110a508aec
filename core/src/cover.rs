//! Cover art: which images may be covers, where publish finds them, and how a peer fetches one.
//!
//! A cover is a JPEG or PNG of at most [`MAX_COVER_BYTES`] and [`MAX_COVER_SIDE`] pixels a side.
//! Publish takes the picture embedded in the audio file (the front cover first), else a
//! `cover.*` or `folder.*` (jpg, jpeg, png) beside it ([`beside`]); [`check`] decodes it whole
//! with `image` under [`image::Limits`] (a header that lies about its size, or a decoder that
//! would allocate more than a 4096 x 4096 RGBA image, is refused before it allocates), and the
//! [`CoverRef`] it returns (hash of the bytes, size, dimensions, format) goes into the signed
//! manifest. An image that fails is refused with a [`CoverError`]; the audio is published without
//! a cover.
//!
//! The bytes are content-addressed files in the store ([`crate::Store::put_cover`]). A peer that
//! fetches a track asks the peers that hold it for its cover over `/busker/cover/1`
//! ([`protocol`]) and keeps the answer only when [`verify`] says it is the image the manifest
//! names: the same hash and size, and a decode to the same format and dimensions. Anything else
//! is a lie by the sender (the hash was signed by the artist), which bans it.
//!
//! ```
//! use busker_core::cover;
//!
//! assert!(matches!(cover::check(b"not an image"), Err(cover::CoverError::Format)));
//! ```

use std::io::Cursor;
use std::path::{Path, PathBuf};

pub use crate::model::CoverError;
use crate::model::{CoverRef, ImageFormat, ImageHash, MAX_COVER_BYTES, MAX_COVER_SIDE};

pub mod protocol;

/// The names a cover beside an audio file may have, in the order they are preferred.
pub const COVER_NAMES: &[&str] = &["cover", "folder"];
/// The extensions a cover beside an audio file may have.
pub const COVER_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

/// Checks that `bytes` are a usable cover and describes them: JPEG or PNG, at most
/// [`MAX_COVER_BYTES`], at most [`MAX_COVER_SIDE`] a side, and decoding whole.
pub fn check(bytes: &[u8]) -> Result<CoverRef, CoverError> {
    if bytes.len() > MAX_COVER_BYTES as usize {
        return Err(CoverError::TooLarge(bytes.len() as u64));
    }
    let format = ImageFormat::sniff(bytes).ok_or(CoverError::Format)?;
    if format == ImageFormat::Jpeg && !jpeg_is_whole(bytes) {
        // The JPEG decoder fills a cut scan with grey rather than failing.
        return Err(CoverError::Broken(
            "the JPEG ends before its end marker".to_owned(),
        ));
    }
    let image = decode(bytes, format)?;
    let side = |v: u32| u16::try_from(v).ok().filter(|&v| v > 0);
    let (Some(width), Some(height)) = (side(image.width()), side(image.height())) else {
        return Err(CoverError::Broken("an image without pixels".to_owned()));
    };
    Ok(CoverRef {
        hash: ImageHash::of(bytes),
        bytes: bytes.len() as u32,
        width,
        height,
        format,
    })
}

/// Checks fetched bytes against the cover a signed manifest names: the same hash and size, and
/// an image that decodes to the same format and dimensions.
pub fn verify(cover: &CoverRef, bytes: &[u8]) -> Result<(), CoverError> {
    if !cover.matches(bytes) {
        return Err(CoverError::Mismatch);
    }
    match check(bytes)? {
        found if found == *cover => Ok(()),
        _ => Err(CoverError::Mismatch),
    }
}

/// A decoded cover, for display: RGBA8 rows, `width * height * 4` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgba {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels, row by row, four bytes each.
    pub pixels: Vec<u8>,
}

/// Decodes a cover for display, scaled down (aspect kept) to at most `max_side` pixels a side.
pub fn decode_rgba(bytes: &[u8], max_side: u32) -> Result<Rgba, CoverError> {
    if bytes.len() > MAX_COVER_BYTES as usize {
        return Err(CoverError::TooLarge(bytes.len() as u64));
    }
    let format = ImageFormat::sniff(bytes).ok_or(CoverError::Format)?;
    let mut image = decode(bytes, format)?;
    if image.width() > max_side || image.height() > max_side {
        image = image.thumbnail(max_side, max_side);
    }
    let rgba = image.into_rgba8();
    Ok(Rgba {
        width: rgba.width(),
        height: rgba.height(),
        pixels: rgba.into_raw(),
    })
}

fn decode(bytes: &[u8], format: ImageFormat) -> Result<image::DynamicImage, CoverError> {
    let side = u32::from(MAX_COVER_SIDE);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    // The decoded image at 4 bytes a pixel and the decoder's own buffers.
    limits.max_alloc = Some(u64::from(side) * u64::from(side) * 4 + 16 * 1024 * 1024);
    let kind = match format {
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Png => image::ImageFormat::Png,
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), kind);
    reader.limits(limits);
    // symphonia-style defence: a decoder panic on hostile bytes must not take the peer down.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.decode()))
        .map_err(|_| CoverError::Broken("the decoder gave up on damaged data".to_owned()))?;
    decoded.map_err(|e| match e {
        image::ImageError::Limits(_) => {
            let (width, height) = declared_size(bytes, kind).unwrap_or((0, 0));
            CoverError::TooManyPixels { width, height }
        }
        other => CoverError::Broken(other.to_string()),
    })
}

/// Whether a JPEG's last scan (`FF DA`) is followed by the end-of-image marker (`FF D9`). The
/// entropy-coded data escapes every `FF` byte, so these pairs are markers wherever they appear.
fn jpeg_is_whole(bytes: &[u8]) -> bool {
    let last = |marker: u8| bytes.windows(2).rposition(|w| w == [0xFF, marker]);
    matches!((last(0xDA), last(0xD9)), (Some(scan), Some(end)) if end > scan)
}

/// The size an image's header declares, read without decoding the pixels.
fn declared_size(bytes: &[u8], kind: image::ImageFormat) -> Option<(u32, u32)> {
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), kind);
    reader.no_limits();
    reader.into_dimensions().ok()
}

/// The cover file beside an audio file: `cover.*`, then `folder.*` (jpg, jpeg, png, any case)
/// in the same folder. Hidden files and anything that is not a regular file are passed over.
pub fn beside(audio: &Path) -> Option<PathBuf> {
    let dir = audio.parent().filter(|d| !d.as_os_str().is_empty())?;
    let mut found: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|path| {
            let stem = path.file_stem()?.to_str()?.to_ascii_lowercase();
            let ext = path.extension()?.to_str()?.to_ascii_lowercase();
            let rank = COVER_NAMES.iter().position(|n| *n == stem)?;
            COVER_EXTENSIONS
                .contains(&ext.as_str())
                .then_some((rank, path))
        })
        .filter(|(_, path)| path.is_file())
        .collect();
    found.sort();
    found.into_iter().next().map(|(_, path)| path)
}

/// Reads a cover file, refusing one larger than a cover may be before reading it.
pub fn read_file(path: &Path) -> Result<Vec<u8>, CoverError> {
    let len = std::fs::metadata(path)
        .map_err(|e| CoverError::Read(e.to_string()))?
        .len();
    if len > u64::from(MAX_COVER_BYTES) {
        return Err(CoverError::TooLarge(len));
    }
    std::fs::read(path).map_err(|e| CoverError::Read(e.to_string()))
}

#[cfg(test)]
mod tests;
