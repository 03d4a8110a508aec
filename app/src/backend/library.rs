//! The worker's calls into the [`Library`]: the catalog the views list, search, ratings and
//! settings. Each blocks on disk I/O (sled, tantivy), which is why they run on the worker. With
//! the network up, the catalog and search go through the node for provider counts; that asks
//! the node's own tables. A search that finds less than a page asks peers afterwards, on the
//! runtime ([`search_peers`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use busker_core::model::TrackId;
use busker_core::release::{Candidate, followed_first};
use busker_core::{Config, Library, TrackSummary};

use super::net::Net;
use super::{Event, PlaylistView, Post};

/// How many new releases the Discover view shows.
const NEW_RELEASES: usize = 20;
/// How many recommendations the Discover view shows.
const RECOMMENDATIONS: usize = 20;

/// The whole catalog with ratings, new releases and recommendations.
pub(super) fn catalog(library: &Library, net: &Net) -> Event {
    let tracks = match net.runtime.block_on(net.node.list()) {
        Ok(t) => t,
        Err(e) => return Event::Error(format!("could not list the library: {e}")),
    };
    let ratings = library
        .store()
        .ratings()
        .inspect_err(|e| tracing::warn!(error = %e, "unreadable ratings"))
        .unwrap_or_default()
        .into_iter()
        .collect();
    let by_id: HashMap<TrackId, &TrackSummary> = tracks.iter().map(|t| (t.id, t)).collect();
    // Followed keys first, then newest first in rounds over artist keys, so that no key fills
    // the list; a re-signed copy of another key's audio is never among them. From the list
    // just read: reading every manifest again would double the catalog's cost.
    let recent = tracks
        .iter()
        .filter(|t| t.published_at > 0 && t.same_audio_as.is_none())
        .map(|t| Candidate {
            id: t.id,
            artist: t.artist_key,
            published_at: t.published_at,
        });
    let followed_keys = library
        .store()
        .followed_keys()
        .inspect_err(|e| tracing::warn!(error = %e, "unreadable followed keys"))
        .unwrap_or_default();
    let new_releases = followed_first(recent, &followed_keys, NEW_RELEASES)
        .iter()
        .filter_map(|id| by_id.get(id).map(|t| (*t).clone()))
        .collect();
    // From the kept neighbours only: the node's exchanges keep them fresh, and a
    // `TasteChanged` event brings the worker back here.
    let recommendations = library
        .recommend(RECOMMENDATIONS)
        .inspect_err(|e| tracing::warn!(error = %e, "no recommendations"))
        .unwrap_or_default();
    let mut blocked: Vec<_> = library
        .store()
        .blocked_keys()
        .inspect_err(|e| tracing::warn!(error = %e, "unreadable blocked keys"))
        .unwrap_or_default()
        .into_iter()
        .collect();
    blocked.sort();
    let mut followed: Vec<_> = followed_keys.into_iter().collect();
    followed.sort();
    Event::Library {
        tracks,
        ratings,
        new_releases,
        recommendations,
        blocked,
        followed,
    }
}

/// Every playlist with the tracks of it known here.
pub(super) fn playlists(library: &Library) -> Event {
    let lists = match library.playlists() {
        Ok(lists) => lists,
        Err(e) => return Event::Error(format!("could not read the playlists: {e}")),
    };
    let own = library.artist_key();
    let views = lists
        .into_iter()
        .map(|list| {
            let tracks = library
                .playlist_tracks(&list)
                .inspect_err(|e| tracing::warn!(error = %e, "unreadable playlist tracks"))
                .unwrap_or_default();
            PlaylistView {
                id: list.id,
                own: list.owner == own,
                missing: list.tracks.len().saturating_sub(tracks.len()),
                name: list.name,
                tracks,
            }
        })
        .collect();
    Event::Playlists(views)
}

/// A local search, answered with [`Event::SearchResults`].
pub(super) fn search(net: &Net, seq: u64, query: &str, limit: usize) -> Event {
    let start = Instant::now();
    let hits = if query.trim().is_empty() {
        Ok(Vec::new())
    } else {
        net.runtime.block_on(net.node.search(query, limit))
    };
    match hits {
        Ok(hits) => Event::SearchResults {
            seq,
            hits,
            took: start.elapsed(),
        },
        Err(e) => Event::Error(format!("search failed: {e}")),
    }
}

/// A search the Search view sent.
pub(super) struct Asked {
    pub(super) seq: u64,
    pub(super) query: String,
    pub(super) limit: usize,
}

/// How long the user must stop typing before peers are asked: a search of peers per key
/// pressed would spend their search rate on words half typed.
const PEER_SEARCH_PAUSE: std::time::Duration = std::time::Duration::from_millis(400);

/// Asks peers for what the local search did not find (`Node::search_peers`), on the runtime,
/// once the user stopped typing; answers `local` followed by the peers' tracks, marked remote,
/// as another [`Event::SearchResults`] of the same `seq`. Nothing is sent when a newer search
/// came meanwhile, when the node is offline or when peers found nothing.
pub(super) fn search_peers(
    net: &Net,
    post: Post,
    newest: Arc<AtomicU64>,
    asked: Asked,
    local: Vec<TrackSummary>,
) {
    if !net.node.is_online() || asked.query.trim().chars().count() < 3 {
        return;
    }
    let node = net.node.clone();
    net.runtime.spawn(async move {
        tokio::time::sleep(PEER_SEARCH_PAUSE).await;
        if newest.load(Ordering::Relaxed) != asked.seq {
            return;
        }
        let start = Instant::now();
        let wanted = asked.limit.saturating_sub(local.len());
        let found = match node.search_peers(&asked.query, wanted).await {
            Ok(found) if !found.is_empty() => found,
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(error = %e, "search of peers failed");
                return;
            }
        };
        let mut hits = local;
        hits.extend(found);
        post.offer(Event::SearchResults {
            seq: asked.seq,
            hits,
            took: start.elapsed(),
        });
    });
}

/// Rates a track (0 clears, more than 5 is 5).
pub(super) fn rate(library: &Library, id: TrackId, stars: u8) -> Event {
    let stars = stars.min(5);
    match library.rate(&id, stars) {
        Ok(()) => Event::Rated(id, stars),
        Err(e) => Event::Error(format!("could not save the rating: {e}")),
    }
}

/// Changes and saves the settings; `false` when the UI is gone.
pub(super) fn settings(library: &Library, post: &Post, change: impl FnOnce(&mut Config)) -> bool {
    match library.update_config(change) {
        Ok(c) => post.send(Event::Settings(c)),
        Err(e) => post.send(Event::Error(format!("could not save settings: {e}"))),
    }
}

/// Imports an artist key backup (see [`super::Request::ImportKey`]), as a notice to show.
pub(super) fn import_key(library: &Library, path: &std::path::Path, replace: bool) -> Event {
    let imported = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|text| busker_core::artist::backup::parse(&text).map_err(|e| e.to_string()))
        .and_then(|key| {
            library
                .import_artist_key(&key, replace)
                .map(|_| key.public())
                .map_err(|e| e.to_string())
        });
    match imported {
        Ok(key) => Event::Notice(format!(
            "Artist key {} imported: restart Busker to publish with it",
            &key.to_hex()[..16]
        )),
        Err(e) => Event::Error(format!("could not import the artist key: {e}")),
    }
}
