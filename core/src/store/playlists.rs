//! Playlists (`playlists`: playlist id -> the signed record, see [`crate::playlist`]): this
//! peer's own and those it opened from other peers' links. Journaled, so a rebuilt database
//! keeps them.

use super::Store;
use crate::error::Result;
use crate::model::PlaylistId;
use crate::playlist::Playlist;

const PLAYLISTS: &str = "playlists";

impl Store {
    /// Keeps `list`, replacing an older copy of it; written through before it returns.
    pub fn put_playlist(&self, list: &Playlist) -> Result<()> {
        let record = list.encode();
        self.put_playlist_record(list.id, &record)?;
        self.journal_playlist(&record);
        Ok(())
    }

    pub(super) fn put_playlist_record(&self, id: PlaylistId, record: &[u8]) -> Result<()> {
        let tree = self.db.open_tree(PLAYLISTS)?;
        tree.insert(id.as_bytes(), record)?;
        tree.flush()?;
        Ok(())
    }

    /// Forgets a playlist (`false` when it was not here).
    pub fn remove_playlist(&self, id: &PlaylistId) -> Result<bool> {
        let removed = self.drop_playlist(id)?;
        self.journal_playlist_removed(id);
        Ok(removed)
    }

    pub(super) fn drop_playlist(&self, id: &PlaylistId) -> Result<bool> {
        let tree = self.db.open_tree(PLAYLISTS)?;
        let removed = tree.remove(id.as_bytes())?.is_some();
        tree.flush()?;
        Ok(removed)
    }

    /// One playlist, if kept here.
    pub fn playlist(&self, id: &PlaylistId) -> Result<Option<Playlist>> {
        let tree = self.db.open_tree(PLAYLISTS)?;
        Ok(match tree.get(id.as_bytes())? {
            Some(bytes) => Some(Playlist::decode(&bytes)?),
            None => None,
        })
    }

    /// Every playlist kept here, in id order (a record that no longer decodes is skipped with
    /// a warning: the database holds only records that verified).
    pub fn playlists(&self) -> Result<Vec<Playlist>> {
        let mut out = Vec::new();
        for entry in self.db.open_tree(PLAYLISTS)?.iter() {
            let (_, bytes) = entry?;
            match Playlist::decode(&bytes) {
                Ok(list) => out.push(list),
                Err(e) => tracing::warn!(error = %e, "a stored playlist does not decode"),
            }
        }
        Ok(out)
    }
}

const SHARED: &str = "shared_playlists";

impl Store {
    /// Marks one of this peer's playlists as shared: its record goes into the DHT at every
    /// start and after every edit (see `Node::share_playlist`).
    pub fn set_playlist_shared(&self, id: &PlaylistId) -> Result<()> {
        let tree = self.db.open_tree(SHARED)?;
        tree.insert(id.as_bytes(), &[])?;
        tree.flush()?;
        Ok(())
    }

    /// Whether a playlist was shared from here.
    pub fn is_playlist_shared(&self, id: &PlaylistId) -> Result<bool> {
        Ok(self.db.open_tree(SHARED)?.contains_key(id.as_bytes())?)
    }

    /// The playlists shared from here that are still kept.
    pub fn shared_playlists(&self) -> Result<Vec<Playlist>> {
        let mut out = Vec::new();
        for key in self.db.open_tree(SHARED)?.iter().keys() {
            if let Ok(id) = <[u8; 32]>::try_from(key?.as_ref())
                && let Some(list) = self.playlist(&PlaylistId(id))?
            {
                out.push(list);
            }
        }
        Ok(out)
    }
}
