//! The ids the Subsonic API hands out: artists (`ar-<key>`), albums (`al-` and a hash of key and
//! album tag), covers (`co-<hash of the image>`); songs are their release ids.

use busker_core::TrackSummary;
use busker_core::model::{ArtistKey, ImageHash};

pub(super) fn artist_id(key: &ArtistKey) -> String {
    format!("ar-{}", key.to_hex())
}

pub(super) fn album_id(key: &ArtistKey, album: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(key.as_bytes());
    hasher.update(album.as_bytes());
    format!("al-{}", &hasher.finalize().to_hex()[..16])
}

/// The album tag, or what stands for a missing one.
pub(super) fn album_name(t: &TrackSummary) -> &str {
    if t.info.album.is_empty() {
        "[no album]"
    } else {
        &t.info.album
    }
}

/// The `coverArt` id of a cover: its hash, marked so that it is told from song ids.
pub(super) fn cover_id(hash: &ImageHash) -> String {
    format!("co-{}", hash.to_hex())
}

/// A song's cover, when the image is held here (a client may ask for it at once).
pub(super) fn local_cover(t: &TrackSummary) -> Option<ImageHash> {
    t.info.cover.filter(|_| t.cover_local).map(|c| c.hash)
}
