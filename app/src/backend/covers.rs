//! Covers for the UI: read from the store (checked against their hash) and decoded, scaled
//! down, on the worker or the runtime's blocking pool, never on the UI thread.

use busker_core::Library;
use busker_core::model::ImageHash;

use super::Event;

/// A cover read from the store (checked against its hash) and decoded for display.
pub(super) fn cover(library: &Library, hash: ImageHash) -> Event {
    let store = library.store();
    let image = match store.cover(&hash) {
        Ok(Some(bytes)) => busker_core::cover::decode_rgba(&bytes, crate::covers::TEXTURE_SIDE)
            .map_err(|e| tracing::warn!(cover = %hash, error = %e, "a kept cover does not decode"))
            .ok()
            .zip(store.cover_path(&hash)),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(cover = %hash, error = %e, "a cover could not be read");
            None
        }
    };
    Event::Cover(hash, image)
}
