//! The demo library a new data dir is seeded with: five pieces of music under free licences from
//! `assets/audio/` (a 1903 cylinder, a jazz loop, a game soundtrack's rock and orchestral
//! pieces), embedded in the binary so that a fresh install has something to find and play.
//!
//! Demo tracks are signed by a fixed, publicly known key and carry a fixed publication time, so
//! every peer derives byte-identical manifests for them: they are labelled demo, not owned.

use crate::model::ArtistKeypair;

/// One embedded file.
pub(crate) struct DemoTrack {
    /// The original file name (extension hint and title fallback).
    pub file_name: &'static str,
    /// The file's bytes.
    pub bytes: &'static [u8],
    /// Its cover (JPEG), when the file embeds none.
    pub cover: Option<&'static [u8]>,
}

macro_rules! demo {
    ($($name:literal with $cover:literal),* $(,)?) => {
        &[$(DemoTrack {
            file_name: $name,
            bytes: include_bytes!(concat!("../../assets/audio/", $name)),
            cover: Some(include_bytes!(concat!("../../assets/covers/", $cover))),
        }),*]
    };
}

/// The bundled tracks (credits in `assets/CREDITS.md`), each with a cover drawn for it (the
/// files embed none; `core/examples/demo-covers.rs` drew them).
pub(crate) const TRACKS: &[DemoTrack] = demo!(
    "pg10284_spring_of_love_1903.id3v2_3.mp3" with "spring_of_love.jpg",
    "opsound_manolo_camp-morning_coffee.tagged.ogg" with "morning_coffee.jpg",
    "asc_kievernagel_time_to_strike.mp3" with "time_to_strike.jpg",
    "hyperrogue_parrotte_graveyard.ogg" with "graveyard.jpg",
    "hyperrogue_domina_mountain.ogg" with "mountain.jpg",
);

/// The artist name used when a demo file has no artist tag.
pub(crate) const FALLBACK_ARTIST: &str = "Busker demo library";

/// The public demo key (its secret is derived from a published constant on purpose).
pub(crate) fn artist_key() -> ArtistKeypair {
    ArtistKeypair::from_seed(*blake3::hash(b"busker demo library v1").as_bytes())
}
