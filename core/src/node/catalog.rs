//! The node's side of the catalog: manifests from peers stored and indexed, the budget kept
//! (an eviction after accepts that leave the catalog over it), anti-entropy sync, manifests
//! found by id, and search that asks peers when the catalog here finds too little.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use libp2p::PeerId;

use super::{Node, NodeEvent, blocking};
use crate::catalog;
use crate::error::{Error, Result};
use crate::library::TrackSummary;
use crate::model::{Manifest, TrackId};
use crate::transfer::protocol::{Request, Response};
use crate::transfer::{self, Candidates, ProviderSource};

/// Set while an eviction task is spawned, so that a burst of accepts spawns one.
#[derive(Debug, Default)]
pub(super) struct EvictionTask(Arc<AtomicBool>);

impl Node {
    /// Stores and indexes verified manifests not known yet; returns how many were new.
    pub(super) async fn accept_manifests(&self, manifests: Vec<Manifest>) -> Result<usize> {
        let library = self.inner.library.clone();
        let new = blocking(move || library.accept(manifests)).await?;
        self.discovered(&new);
        Ok(new.len())
    }

    /// Stores and indexes manifests the user asked for (a release evicted lately included).
    async fn accept_wanted(&self, manifests: Vec<Manifest>) -> Result<()> {
        let library = self.inner.library.clone();
        let new = blocking(move || library.accept_wanted(manifests)).await?;
        self.discovered(&new);
        Ok(())
    }

    fn discovered(&self, new: &[TrackId]) {
        for id in new {
            let _ = self.inner.events.send(NodeEvent::TrackDiscovered(*id));
        }
        if !new.is_empty() {
            self.evict_over_budget();
        }
    }

    /// Runs an eviction on the blocking pool when the catalog is over its budget (one at a
    /// time; see [`crate::Library::evict_over_budget`]).
    pub(super) fn evict_over_budget(&self) {
        let library = &self.inner.library;
        if !library.over_budget() || self.inner.eviction.0.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.inner.eviction.0.store(false, Ordering::Release);
            return;
        };
        let (library, flag) = (library.clone(), self.inner.eviction.0.clone());
        let events = self.inner.events.clone();
        runtime.spawn_blocking(move || {
            match library.evict_over_budget() {
                Ok(report) if report.evicted > 0 => {
                    let _ = events.send(NodeEvent::TracksEvicted(report.evicted));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "eviction over the catalog budget failed"),
            }
            flag.store(false, Ordering::Release);
        });
    }

    /// Anti-entropy with one peer: reads its catalog, notes what it provides, fetches the
    /// manifests missing here (and not evicted lately) in bounded batches. Returns how many
    /// manifests were new.
    pub async fn sync_catalog(&self, peer: PeerId) -> Result<usize> {
        let store = self.inner.library.store();
        let accept = move |manifests| self.accept_manifests(manifests);
        catalog::sync(
            &self.inner.client,
            peer,
            store,
            &self.inner.providers,
            accept,
        )
        .await
    }

    /// The manifest of `id`: from the store, else asked from the peers known to hold it and the
    /// connected ones (verified, stored and indexed; a release evicted here is taken back).
    pub async fn find_manifest(&self, id: TrackId) -> Result<Manifest> {
        let store = self.inner.library.store().clone();
        if let Some(m) = blocking(move || store.manifest(&id)).await? {
            return Ok(m);
        }
        let Candidates { holders, others } = self.inner.providers.candidates(&id);
        for peer in holders.into_iter().chain(others) {
            let answer =
                transfer::protocol::request(&self.inner.client, peer, Request::Manifest(id)).await;
            if let Ok(Response::Manifest(Some(bytes))) = answer
                && let Ok(m) = Manifest::decode(&bytes)
                && m.id() == id
            {
                self.accept_wanted(vec![m.clone()]).await?;
                return Ok(m);
            }
        }
        Err(Error::UnknownTrack(id))
    }

    /// [`Node::find_manifest`], then, when no known or connected peer has it, asked from the
    /// DHT's providers of `id` (a release evicted here, or never heard of, that a peer not
    /// connected holds).
    pub async fn find_manifest_anywhere(&self, id: TrackId) -> Result<Manifest> {
        match self.find_manifest(id).await {
            Err(Error::UnknownTrack(_)) if self.is_online() => {
                let own = self.peer_id();
                let found = self.inner.client.providers(id.as_bytes()).await?;
                for peer in found.into_iter().filter(|p| *p != own) {
                    self.inner.providers.add(id, peer);
                }
                self.find_manifest(id).await
            }
            other => other,
        }
    }

    /// Local full-text search, best first, with provider counts. No peer is asked (see
    /// [`Node::search_everywhere`]).
    pub async fn search(&self, query: &str, limit: usize) -> Result<Vec<TrackSummary>> {
        let library = self.inner.library.clone();
        let query = query.to_owned();
        let list = blocking(move || library.search(&query, limit)).await?;
        Ok(self.with_providers(list))
    }

    /// Search here, then, when that finds fewer than `limit`, up to
    /// [`catalog::search::SEARCH_FANOUT`] connected peers asked at once for the rest: their
    /// answers verified, matched against the query here, kept in the catalog (evictable) and
    /// listed after the local results, marked [`TrackSummary::remote`]. Offline, or with no
    /// peer connected, the local results alone.
    pub async fn search_everywhere(&self, query: &str, limit: usize) -> Result<Vec<TrackSummary>> {
        let mut list = self.search(query, limit).await?;
        if list.len() < limit {
            let more = self.search_peers(query, limit - list.len()).await?;
            list.extend(more);
        }
        Ok(list)
    }

    /// Asks connected peers for `limit` tracks matching `query` that this peer's catalog does
    /// not hold (see [`Node::search_everywhere`]); answers marked remote, best first.
    pub async fn search_peers(&self, query: &str, limit: usize) -> Result<Vec<TrackSummary>> {
        if !self.is_online() || limit == 0 || query.trim().is_empty() {
            return Ok(Vec::new());
        }
        let start = Instant::now();
        let peers = self
            .inner
            .providers
            .connected(catalog::search::SEARCH_FANOUT);
        let found = catalog::search::ask_peers(&self.inner.client, &peers, query, limit).await;
        let (library, query) = (self.inner.library.clone(), query.to_owned());
        let manifests = found.into_iter().map(|(_, m)| m).collect();
        let list = blocking(move || library.rank_remote(&query, manifests, limit)).await?;
        tracing::debug!(
            peers = peers.len(),
            found = list.len(),
            ms = start.elapsed().as_millis() as u64,
            "searched peers"
        );
        self.discovered(&list.iter().map(|t| t.id).collect::<Vec<_>>());
        Ok(self.with_providers(list))
    }
}
