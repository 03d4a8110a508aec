//! The playlist part of [`Node`]: sharing one of this peer's playlists (its signed record into
//! the DHT, and a link) and opening another peer's from its link.

use super::{Node, blocking};
use crate::error::{Error, Result};
use crate::library::TrackSummary;
use crate::link::{Link, PlaylistLink};
use crate::model::PlaylistId;
use crate::playlist::{self, Playlist};

/// A playlist opened from a link: the verified record and the tracks found for it.
#[derive(Debug, Clone)]
pub struct OpenedPlaylist {
    /// The newest valid record found.
    pub playlist: Playlist,
    /// Each track of the playlist, in order, as lists show it; `None` when no reachable peer
    /// could describe it.
    pub tracks: Vec<(crate::model::TrackId, Option<TrackSummary>)>,
}

impl Node {
    /// A link to playlist `id` (this peer's, or one it opened): its record goes into the DHT
    /// now, at every start, and after every edit made through the node
    /// ([`Node::playlist_changed`]).
    pub async fn share_playlist(&self, id: PlaylistId) -> Result<Link> {
        let store = self.inner.library.store().clone();
        let list = blocking(move || {
            let list = store
                .playlist(&id)?
                .ok_or_else(|| Error::BadPlaylistRef(format!("no playlist {id} here")))?;
            store.set_playlist_shared(&id)?;
            Ok(list)
        })
        .await?;
        if self.is_online() {
            self.put_playlist(&list).await?;
        }
        let hints = self.hints(&[]).await?;
        Ok(Link::Playlist(PlaylistLink { id, hints }))
    }

    /// After an edit of playlist `id`: a shared one's new record goes into the DHT.
    pub async fn playlist_changed(&self, id: PlaylistId) -> Result<()> {
        let store = self.inner.library.store().clone();
        let list =
            blocking(move || Ok(store.is_playlist_shared(&id)?.then(|| store.playlist(&id))))
                .await?;
        if let Some(Ok(Some(list))) = list
            && self.is_online()
        {
            self.put_playlist(&list).await?;
        }
        Ok(())
    }

    /// Puts every shared playlist's record into the DHT again (at start).
    pub(super) async fn put_shared_playlists(&self) -> Result<()> {
        let store = self.inner.library.store().clone();
        for list in blocking(move || store.shared_playlists()).await? {
            self.put_playlist(&list).await?;
        }
        Ok(())
    }

    async fn put_playlist(&self, list: &Playlist) -> Result<()> {
        self.inner
            .client
            .put_record(playlist::record_key(&list.id), list.encode())
            .await
    }

    /// Opens a playlist link: dials its hints, reads the newest valid record from the DHT (a
    /// record that does not verify, or names another id, is ignored), keeps it here, and asks
    /// peers for the manifests of its tracks, so they can be played and fetched.
    pub async fn open_playlist(&self, link: &PlaylistLink) -> Result<OpenedPlaylist> {
        let unreachable = self.dial_hints(&link.hints).await?;
        let records = self
            .inner
            .client
            .get_record(playlist::record_key(&link.id))
            .await
            .unwrap_or_default();
        let list = Playlist::newest(&link.id, &records).ok_or_else(|| {
            Error::Network(format!(
                "no peer holds a valid copy of playlist {} ({unreachable} of the link's {} \
                 peers could not be reached)",
                &link.id.to_hex()[..12],
                link.hints.len()
            ))
        })?;
        let library = self.inner.library.clone();
        let kept = list.clone();
        blocking(move || library.keep_playlist(&kept)).await?;
        let mut tracks = Vec::with_capacity(list.tracks.len());
        for &id in &list.tracks {
            tracks.push((id, self.describe_release(id).await?));
        }
        Ok(OpenedPlaylist {
            playlist: list,
            tracks,
        })
    }
}
