//! Blocking an artist key: its releases stay in the store (a block can be lifted) but are
//! hidden from the list, search, new releases and recommendations, and the release gossip is
//! not relayed for it (see [`crate::catalog::releases_topic`]).

use super::Library;
use crate::error::{Error, Result};
use crate::model::{ArtistKey, Manifest};

impl Library {
    /// Blocks `key` (`true`) or lifts its block. This peer's own key cannot be blocked.
    pub fn block(&self, key: &ArtistKey, blocked: bool) -> Result<()> {
        if *key == self.artist_key() {
            return Err(Error::OwnArtistKey);
        }
        self.store.set_blocked(key, blocked)
    }

    /// Whether `key` is blocked here (an unreadable store counts as not blocked).
    pub fn is_blocked(&self, key: &ArtistKey) -> bool {
        self.store.is_blocked(key).unwrap_or(false)
    }

    /// Whether `manifest` is hidden here: its artist key is blocked.
    pub(crate) fn hides(&self, manifest: &Manifest) -> bool {
        self.is_blocked(&manifest.artist_key())
    }
}
