//! What a user decides about an artist key. Blocking: its releases stay in the store (a block
//! can be lifted) but are hidden from the list, search, new releases and recommendations, and
//! the release gossip is not relayed for it (see [`crate::catalog::releases_topic`]).
//! Following: its releases come first among new releases (Discover, and the candidates the
//! recommender promotes).

use std::collections::HashSet;

use super::Library;
use crate::error::{Error, Result};
use crate::model::{ArtistKey, Manifest};

/// The artist keys blocked here, read once for a whole listing.
#[derive(Debug, Default)]
pub(crate) struct Blocked(HashSet<ArtistKey>);

impl Blocked {
    /// Whether `manifest` is hidden: its artist key is blocked.
    pub(crate) fn hides(&self, manifest: &Manifest) -> bool {
        self.0.contains(&manifest.artist_key())
    }
}

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

    /// Follows `key` (`true`) or stops following it.
    pub fn follow(&self, key: &ArtistKey, followed: bool) -> Result<()> {
        self.store.set_followed(key, followed)
    }

    /// Whether `key` is followed here (an unreadable store counts as not followed).
    pub fn is_followed(&self, key: &ArtistKey) -> bool {
        self.store.is_followed(key).unwrap_or(false)
    }

    /// The blocked keys, to filter a listing with.
    pub(crate) fn blocked(&self) -> Result<Blocked> {
        Ok(Blocked(self.store.blocked_keys()?))
    }
}
