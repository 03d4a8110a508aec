//! The catalog service: how peers learn which tracks exist and who holds them.
//!
//! - Releases are announced on the gossip topic [`RELEASES_TOPIC`] (a version byte and the
//!   signed manifest); every peer verifies them before they are delivered or forwarded (the
//!   topic's validator, registered with [`releases_topic`]).
//! - Anti-entropy: every new peer, and every connected peer now and then, is synced over the
//!   [`protocol`] `/busker/catalog/2`: its catalog is read page by page, the manifests missing
//!   here (and not evicted here lately, see [`Store::was_evicted`]) are fetched in bounded
//!   batches and verified, and the tracks it holds whole are noted as provided by it. So what
//!   gossip missed arrives anyway.
//! - Search: a search that finds too little here asks a few connected peers ([`search`]).
//!
//! A peer serves its store's catalog by registering [`offer`] with the network.

mod announce;
pub mod protocol;
pub mod search;

use libp2p::PeerId;

pub use announce::{
    ANNOUNCE_VERSION, IsBlocked, MAX_ANNOUNCE_BYTES, RELEASES_TOPIC, announce, decode_announcement,
    encode_announcement, releases_topic, releases_topic_with,
};
pub use protocol::{CatalogEntry, offer};

use crate::error::{Error, Result};
use crate::model::{Manifest, TrackId};
use crate::net::Client;
use crate::store::Store;
use crate::transfer::Providers;
use protocol::{MAX_MANIFESTS_PER_REQUEST, Request, Response};

/// Most catalog pages read from one peer in one sync (1024 ids each).
const MAX_SYNC_PAGES: usize = 64;

/// Anti-entropy with `peer`: reads its catalog, notes in `providers` what it holds whole, and
/// fetches the manifests missing from `store` in batches of [`MAX_MANIFESTS_PER_REQUEST`]. The
/// verified manifests of each batch go to `accept` (which stores and indexes them and returns
/// how many were new) as soon as they arrive. Returns how many manifests were new.
pub(crate) async fn sync<F>(
    client: &Client,
    peer: PeerId,
    store: &Store,
    providers: &Providers,
    mut accept: impl FnMut(Vec<Manifest>) -> F,
) -> Result<usize>
where
    F: Future<Output = Result<usize>>,
{
    let mut after = None;
    let mut missing = Vec::new();
    for _ in 0..MAX_SYNC_PAGES {
        let Response::Catalog { entries, more } =
            protocol::request(client, peer, Request::Catalog { after }).await?
        else {
            return Err(Error::Network(format!("{peer} sent no catalog")));
        };
        let store = store.clone();
        let ids: Vec<TrackId> = entries.iter().map(|e| e.id).collect();
        let unknown = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for id in ids {
                if !store.has_manifest(&id)? && !store.was_evicted(&id)? {
                    out.push(id);
                }
            }
            Ok::<_, Error>(out)
        })
        .await
        .map_err(Error::task("a store worker"))??;
        missing.extend(unknown);
        for e in &entries {
            if e.local {
                providers.add(e.id, peer);
            }
        }
        match entries.last() {
            Some(last) if more => after = Some(last.id),
            _ => break,
        }
    }
    let mut new = 0;
    for batch in missing.chunks(MAX_MANIFESTS_PER_REQUEST) {
        let request = Request::Manifests(batch.to_vec());
        let Response::Manifests(list) = protocol::request(client, peer, request).await? else {
            return Err(Error::Network(format!("{peer} sent no manifests")));
        };
        let mut good = Vec::new();
        for bytes in list {
            match Manifest::decode(&bytes) {
                Ok(m) if batch.contains(&m.id()) => good.push(m),
                Ok(_) => tracing::info!(%peer, "peer sent a manifest that was not asked for"),
                Err(e) => tracing::info!(%peer, error = %e, "peer sent an invalid manifest"),
            }
        }
        new += accept(good).await?;
    }
    Ok(new)
}
