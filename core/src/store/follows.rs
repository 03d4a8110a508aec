//! The artist keys this peer follows (`followed`: artist key -> empty). Their new releases come
//! first in Discover. Journaled like blocks, so a rebuilt database keeps them. Also the tracks
//! starred through the Subsonic API (`starred`: track id -> empty), journaled the same way.

use super::Store;
use crate::error::Result;
use crate::model::ArtistKey;

const FOLLOWED: &str = "followed";

impl Store {
    /// Follows an artist key (`true`) or stops; written through before it returns.
    pub fn set_followed(&self, key: &ArtistKey, followed: bool) -> Result<()> {
        self.put_followed(key, followed)?;
        self.journal_follow(key, followed);
        Ok(())
    }

    pub(super) fn put_followed(&self, key: &ArtistKey, followed: bool) -> Result<()> {
        let tree = self.db.open_tree(FOLLOWED)?;
        if followed {
            tree.insert(key.as_bytes(), &[])?;
        } else {
            tree.remove(key.as_bytes())?;
        }
        tree.flush()?;
        Ok(())
    }

    /// Whether an artist key is followed here.
    pub fn is_followed(&self, key: &ArtistKey) -> Result<bool> {
        Ok(self.db.open_tree(FOLLOWED)?.contains_key(key.as_bytes())?)
    }

    /// Every followed artist key.
    pub fn followed_keys(&self) -> Result<std::collections::HashSet<ArtistKey>> {
        let mut out = std::collections::HashSet::new();
        for key in self.db.open_tree(FOLLOWED)?.iter().keys() {
            if let Ok(k) = <[u8; 32]>::try_from(key?.as_ref()) {
                out.insert(ArtistKey(k));
            }
        }
        Ok(out)
    }
}

const STARRED: &str = "starred";

impl Store {
    /// Stars a track (`true`) or takes the star off (Subsonic's favourites); written through
    /// and journaled like follows.
    pub fn set_starred(&self, id: &crate::model::TrackId, starred: bool) -> Result<()> {
        self.put_starred(id, starred)?;
        self.journal_star(id, starred);
        Ok(())
    }

    pub(super) fn put_starred(&self, id: &crate::model::TrackId, starred: bool) -> Result<()> {
        let tree = self.db.open_tree(STARRED)?;
        if starred {
            tree.insert(id.as_bytes(), &[])?;
        } else {
            tree.remove(id.as_bytes())?;
        }
        tree.flush()?;
        Ok(())
    }

    /// Whether a track is starred.
    pub fn is_starred(&self, id: &crate::model::TrackId) -> Result<bool> {
        Ok(self.db.open_tree(STARRED)?.contains_key(id.as_bytes())?)
    }
}
