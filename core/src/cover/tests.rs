use super::*;
use crate::test_utils::{cover_jpeg, cover_png};

#[test]
fn jpeg_and_png_covers_are_described_by_what_they_decode_to() {
    let jpeg = cover_jpeg(64, 48, 1);
    let c = check(&jpeg).unwrap();
    assert_eq!(
        (c.width, c.height, c.format, c.bytes as usize),
        (64, 48, ImageFormat::Jpeg, jpeg.len())
    );
    assert_eq!(c.hash, ImageHash::of(&jpeg));
    let png = check(&cover_png(10, 20, 2)).unwrap();
    assert_eq!(
        (png.width, png.height, png.format),
        (10, 20, ImageFormat::Png)
    );
}

#[test]
fn oversized_broken_and_foreign_images_are_refused_with_the_reason() {
    // More pixels than a cover may have: refused by the decoder's limits, with the size named.
    let huge = cover_png(MAX_COVER_SIDE as u32 + 1, 8, 3);
    assert_eq!(
        check(&huge),
        Err(CoverError::TooManyPixels {
            width: MAX_COVER_SIDE as u32 + 1,
            height: 8
        })
    );
    // More bytes than a cover may have, whatever they are.
    let big = vec![0xFF; MAX_COVER_BYTES as usize + 1];
    assert_eq!(
        check(&big),
        Err(CoverError::TooLarge(MAX_COVER_BYTES as u64 + 1))
    );
    // A JPEG cut in half, and a PNG with its pixel data scrambled.
    let jpeg = cover_jpeg(200, 200, 4);
    assert!(matches!(
        check(&jpeg[..jpeg.len() / 2]),
        Err(CoverError::Broken(_))
    ));
    let mut png = cover_png(50, 50, 5);
    let n = png.len();
    for b in &mut png[60..n - 20] {
        *b = b.wrapping_mul(7).wrapping_add(1);
    }
    assert!(matches!(check(&png), Err(CoverError::Broken(_))));
    // GIF, BMP, text: not a cover format.
    assert_eq!(check(b"GIF89a\x01\x00\x01\x00"), Err(CoverError::Format));
    assert_eq!(check(b"hello"), Err(CoverError::Format));
}

#[test]
fn a_header_that_lies_about_its_size_is_refused_before_decoding() {
    // A PNG whose IHDR claims 60000 x 60000 px (the CRC fixed up, so only the size is wrong).
    let mut png = cover_png(4, 4, 6);
    png[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        check(&png),
        Err(CoverError::TooManyPixels { width: 60_000, .. })
    ));
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_fetched_image_must_be_the_one_the_manifest_names() {
    let good = cover_jpeg(32, 32, 7);
    let cover = check(&good).unwrap();
    assert_eq!(verify(&cover, &good), Ok(()));
    // Another valid image, a flipped byte, and a lie about the dimensions.
    assert_eq!(
        verify(&cover, &cover_jpeg(32, 32, 8)),
        Err(CoverError::Mismatch)
    );
    let mut tampered = good.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    assert_eq!(verify(&cover, &tampered), Err(CoverError::Mismatch));
    let lying = CoverRef { width: 64, ..cover };
    assert_eq!(verify(&lying, &good), Err(CoverError::Mismatch));
}

#[test]
fn display_images_are_scaled_down_to_the_size_asked() {
    let rgba = decode_rgba(&cover_png(400, 200, 9), 100).unwrap();
    assert_eq!((rgba.width, rgba.height), (100, 50));
    assert_eq!(rgba.pixels.len(), 100 * 50 * 4);
    let small = decode_rgba(&cover_png(30, 40, 9), 100).unwrap();
    assert_eq!((small.width, small.height), (30, 40));
}

#[test]
fn a_cover_beside_the_audio_is_found_by_name_cover_before_folder() {
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("song.flac");
    std::fs::write(&audio, b"x").unwrap();
    assert_eq!(beside(&audio), None);
    std::fs::write(dir.path().join("Folder.JPG"), b"x").unwrap();
    std::fs::write(dir.path().join("notes.png"), b"x").unwrap();
    assert_eq!(beside(&audio), Some(dir.path().join("Folder.JPG")));
    std::fs::write(dir.path().join("cover.png"), b"x").unwrap();
    assert_eq!(beside(&audio), Some(dir.path().join("cover.png")));
}
