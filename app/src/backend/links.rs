//! Links in the app: the control API it serves (so that `busker` commands and a second
//! `busker open --app LINK` reach it), opening `busker://` links, artist pages, invites, shares
//! and the desktop's link handler. Whatever waits on the network runs on the node's runtime and
//! answers with an event.

use std::sync::Arc;

use busker_core::link::{INVITE_LIFETIME, Link};
use busker_core::model::{ArtistKey, PlaylistId, TrackId};
use busker_core::{Library, Node, TrackSummary};

use super::net::Net;
use super::{ArtistPage, Event, Post, Worker};
use crate::http::{LinkSink, NodeHttp};

/// Serves the control API on the node's runtime and writes `api.json`; links opened there with
/// `show` come to the UI as [`Event::LinkHanded`]. `None` (logged) when it cannot.
pub(super) fn serve_api(library: &Arc<Library>, net: &Net, post: &Post) -> Option<NodeHttp> {
    let hand = post.clone();
    let sink = LinkSink::new(move |link| hand.offer(Event::LinkHanded(link)));
    let started = net
        .runtime
        .block_on(NodeHttp::start(net.node.clone(), library.data_dir(), sink));
    started
        .inspect_err(|e| tracing::warn!(error = %e, "the control API did not start"))
        .ok()
}

/// The page of `key`: its signed profile from the DHT with the releases peers describe, or,
/// when the DHT has none (offline, or nobody reachable holds it), its tracks known here.
async fn artist_page(node: &Node, key: ArtistKey) -> Result<ArtistPage, String> {
    match node.artist_catalog(key).await {
        Ok(catalog) => {
            let missing = catalog.releases.iter().filter(|(_, t)| t.is_none()).count();
            // In the profile's order.
            let releases = catalog
                .releases
                .into_iter()
                .filter_map(|(_, t)| t)
                .collect();
            Ok(ArtistPage {
                key,
                name: catalog.profile.name,
                releases,
                missing,
                note: None,
            })
        }
        Err(e) => {
            let mut releases = node.known_releases(key).await.map_err(|e| e.to_string())?;
            if releases.is_empty() {
                return Err(format!(
                    "nothing is known of artist {}: {e}",
                    &key.to_hex()[..12]
                ));
            }
            releases.sort_by(|a, b| {
                (&a.info.album, &a.info.title).cmp(&(&b.info.album, &b.info.title))
            });
            let name = TrackSummary::key_name(&releases)
                .unwrap_or_default()
                .to_owned();
            Ok(ArtistPage {
                key,
                name,
                releases,
                missing: 0,
                note: Some(format!(
                    "Its signed profile was not found ({e}): these are its tracks known here."
                )),
            })
        }
    }
}

impl Worker {
    /// Opens a link on the runtime: see [`super::Request::OpenLink`].
    pub(super) fn open_link(&self, text: String) {
        let link = match Link::parse(&text) {
            Ok(link) => link,
            Err(e) => {
                self.post
                    .send(Event::Error(format!("cannot open the link: {e}")));
                return;
            }
        };
        let (node, post) = (self.net.node.clone(), self.post.clone());
        self.net.runtime.spawn(async move {
            let event = match link {
                Link::Join(invite) => match node.join(&invite).await {
                    Ok(peer) => Event::Notice(format!(
                        "Joined peer {peer} through its invite; it is dialled again at every start."
                    )),
                    Err(e) => Event::Error(format!("could not join through the invite: {e}")),
                },
                Link::Track(track) => match node.open_track(&track).await {
                    Ok(t) => Event::OpenedTrack(Box::new(t)),
                    Err(e) => Event::Error(format!("could not open the track link: {e}")),
                },
                Link::Artist(key) => match artist_page(&node, key).await {
                    Ok(page) => Event::Artist(page),
                    Err(e) => Event::Error(format!("could not open the artist link: {e}")),
                },
                Link::Playlist(list) => match node.open_playlist(&list).await {
                    Ok(opened) => {
                        post.offer(super::library::playlists(node.library()));
                        Event::OpenedPlaylist(opened.playlist.id)
                    }
                    Err(e) => Event::Error(format!("could not open the playlist link: {e}")),
                },
            };
            post.offer(event);
        });
    }

    /// Shows an artist's page (on the runtime).
    pub(super) fn open_artist(&self, key: ArtistKey) {
        let (node, post) = (self.net.node.clone(), self.post.clone());
        self.net.runtime.spawn(async move {
            post.offer(match artist_page(&node, key).await {
                Ok(page) => Event::Artist(page),
                Err(e) => Event::Error(e),
            });
        });
    }

    /// Makes an invite link (on the runtime).
    pub(super) fn invite(&self) {
        let (node, post) = (self.net.node.clone(), self.post.clone());
        self.net.runtime.spawn(async move {
            let result = node.invite(INVITE_LIFETIME).await;
            post.offer(Event::Invite(
                result.map(|l| l.to_string()).map_err(|e| e.to_string()),
            ));
        });
    }

    /// Makes a link to a track (on the runtime).
    pub(super) fn share(&self, id: TrackId) {
        let (node, post) = (self.net.node.clone(), self.post.clone());
        self.net.runtime.spawn(async move {
            post.offer(match node.share_track(id).await {
                Ok(link) => Event::Shared(link.to_string()),
                Err(e) => Event::Error(format!("could not make a link: {e}")),
            });
        });
    }
}

impl Worker {
    /// Makes a link to a playlist (on the runtime).
    pub(super) fn share_playlist(&self, id: PlaylistId) {
        let (node, post) = (self.net.node.clone(), self.post.clone());
        self.net.runtime.spawn(async move {
            post.offer(match node.share_playlist(id).await {
                Ok(link) => Event::Shared(link.to_string()),
                Err(e) => Event::Error(format!("could not make a link: {e}")),
            });
        });
    }
}

/// Installs the desktop's `busker://` handler for this binary (on this data dir when it is
/// not the default one); a notice says where, or why not.
pub(super) fn install_desktop(library: &Library) -> Event {
    match crate::desktop::install_this(Some(library.data_dir())) {
        Ok(installed) => Event::Notice(format!(
            "busker:// links now open in Busker ({}).",
            installed.desktop_file.display()
        )),
        Err(e) => Event::Error(format!(
            "could not register Busker for busker:// links: {e:#}"
        )),
    }
}
