//! [`Node`]: the one handle the GUI, the CLI and the control API use.
//!
//! A node owns the [`Library`] (store, index, keys) and the network actor's [`Client`], and runs
//! the glue between them:
//! - verified announcements are stored and indexed, and their publisher noted as a provider;
//! - every new peer gets an anti-entropy catalog sync ([`crate::catalog`]): its catalog is read
//!   page by page, the manifests missing here are fetched in bounded batches, verified, stored
//!   and indexed, and the tracks it holds are noted as provided by it (so what gossip missed
//!   arrives anyway);
//! - every local track is provided in the DHT; publishing announces and provides;
//! - downloads run as [`Transfer`]s, one per track;
//! - taste profiles are exchanged (see [`crate::taste`]): with every peer that connects, then
//!   with a partner the exchange rules choose every [`NodeOptions::taste_interval`].
//!
//! The network offers, the services own: at start the node registers each service's protocol,
//! topics and record check with the network (see [`net::Services`]), each answering out of this
//! node's store, taste exchange and radio hub.
//!
//! Events for a UI come out of [`Node::subscribe`] (a bounded broadcast: a slow receiver skips
//! events rather than blocking the node).
//!
//! ```no_run
//! # async fn demo() -> busker_core::Result<()> {
//! use std::sync::Arc;
//! use busker_core::{Library, LibraryOptions, Node, NodeOptions};
//! let library = Arc::new(Library::open(LibraryOptions::new("/tmp/busker-demo"))?);
//! let node = Node::start(library, NodeOptions::loopback()).await?;
//! for track in node.search("spring", 10).await? {
//!     println!("{} ({} providers)", track.info.title, track.providers);
//! }
//! node.shutdown().await;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::error::{Error, PublishError, Result};
use crate::library::{Library, PublishOptions, TrackSummary};
use crate::model::{Manifest, TrackId};
use crate::net::{self, Client, NetEvent, NetworkConfig};
use crate::radio::{ChannelId, RadioHub};
use crate::transfer::{FetchReport, Providers, Transfer, TransferOptions};

mod artist;
mod catalog;
mod chunks;
mod covers;
mod exchange;
mod links;
mod playlists;
mod radio;
mod services;

/// Catalog syncs running at once.
const MAX_CONCURRENT_SYNCS: usize = 4;
/// Taste exchanges running at once.
const MAX_CONCURRENT_EXCHANGES: usize = 2;

/// How to start a [`Node`].
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Network settings.
    pub network: NetworkConfig,
    /// Transfer tuning.
    pub transfer: TransferOptions,
    /// How often the catalog is synced again with every connected peer (besides the sync when a
    /// peer connects), so that a lost announcement arrives even over a long-lived connection.
    pub resync_interval: Duration,
    /// How often a taste exchange runs with the partner the rules choose (besides one with
    /// every peer that connects).
    pub taste_interval: Duration,
}

impl NodeOptions {
    /// Listen on a free loopback port, loopback only (tests, demos).
    pub fn loopback() -> Self {
        Self {
            network: NetworkConfig::loopback(),
            transfer: TransferOptions::default(),
            resync_interval: Duration::from_secs(120),
            taste_interval: Duration::from_secs(20),
        }
    }
}

/// Something a UI may want to redraw for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// A peer connected.
    PeerConnected(PeerId),
    /// A peer disconnected.
    PeerDisconnected(PeerId),
    /// A manifest not known before was stored and indexed.
    TrackDiscovered(TrackId),
    /// A download finished: the track is local.
    TrackLocal(TrackId),
    /// A taste exchange kept new or newer neighbour profiles: recommendations may change.
    TasteChanged,
    /// This many releases were evicted from the catalog, over its budget.
    TracksEvicted(usize),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Fits the taste neighbourhood for the next recommendation ([`crate::taste::Taste::warm`]) on
/// the blocking pool, when called on a runtime.
fn warm_taste(library: &Arc<Library>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let library = library.clone();
        runtime.spawn_blocking(move || library.taste().warm());
    }
}

struct Inner {
    library: Arc<Library>,
    client: Client,
    providers: Arc<Providers>,
    transfers: Mutex<HashMap<TrackId, Transfer>>,
    events: broadcast::Sender<NodeEvent>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    transfer_options: TransferOptions,
    resync_interval: Duration,
    radio: Arc<RadioHub>,
    broadcasts: Mutex<HashMap<ChannelId, JoinHandle<()>>>,
    /// The inputs of the live channels among them.
    live: Mutex<HashMap<ChannelId, crate::radio::LiveInput>>,
    taste_interval: Duration,
    /// Bounds the taste exchanges running at once.
    exchanges: Arc<Semaphore>,
    reach: links::Reach,
    eviction: catalog::EvictionTask,
}

impl Inner {
    fn new(
        library: Arc<Library>,
        client: Client,
        radio: Arc<RadioHub>,
        options: &NodeOptions,
    ) -> Self {
        let (events, _) = broadcast::channel(256);
        Self {
            library,
            client,
            providers: Arc::new(Providers::default()),
            transfers: Mutex::new(HashMap::new()),
            events,
            tasks: Mutex::new(Vec::new()),
            transfer_options: options.transfer.clone(),
            resync_interval: options.resync_interval,
            radio,
            broadcasts: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            taste_interval: options.taste_interval,
            exchanges: Arc::new(Semaphore::new(MAX_CONCURRENT_EXCHANGES)),
            reach: links::Reach {
                loopback_only: options.network.loopback_only,
                external: options.network.external.clone(),
            },
            eviction: Default::default(),
        }
    }
}

/// A peer: library + network (or none, see [`Node::offline`]). Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("peer_id", &self.inner.client.peer_id())
            .finish_non_exhaustive()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(Error::task("a store worker"))?
}

impl Node {
    /// Starts the network on `library` (peer key from its data dir), provides every local track
    /// and dials the bootstrap peers.
    pub async fn start(library: Arc<Library>, options: NodeOptions) -> Result<Self> {
        let seed = library.dir().key_seed("peer")?;
        let key = net::keypair_from_seed(seed)?;
        let radio = Arc::new(RadioHub::default());
        let services = services::services(&library, &radio);
        let (client, net_events) = net::spawn(key, options.network.clone(), services).await?;
        let inner = Inner::new(library, client, radio, &options);
        let node = Self {
            inner: Arc::new(inner),
        };
        let glue = tokio::spawn(node.clone().run(net_events));
        lock(&node.inner.tasks).push(glue);

        let store = node.inner.library.store().clone();
        let local = blocking(move || store.local_ids()).await?;
        for id in local {
            node.inner.client.provide(id.as_bytes()).await?;
        }
        node.publish_artist_profile().await?;
        // A playlist record that cannot be put now goes in at the next edit or start.
        if let Err(e) = node.put_shared_playlists().await {
            tracing::warn!(error = %e, "shared playlists were not put into the DHT");
        }
        node.dial_known_peers().await?;
        // A budget lowered since the last start is kept from now on.
        node.evict_over_budget();
        Ok(node)
    }

    /// A node without a network, for when the network cannot start or is not wanted. The
    /// library's flows work as on a started node: publish (the announcement is skipped; peers
    /// learn of the track by catalog sync once this peer runs online), search, rate, recommend
    /// out of the profiles already kept, play and save what is held here. Whatever needs a peer
    /// fails with [`Error::Offline`].
    pub fn offline(library: Arc<Library>) -> Result<Self> {
        let seed = library.dir().key_seed("peer")?;
        let peer_id = net::keypair_from_seed(seed)?.public().to_peer_id();
        let client = Client::offline(peer_id);
        let radio = Arc::new(RadioHub::default());
        let inner = Inner::new(library, client, radio, &NodeOptions::loopback());
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Whether the network runs (false for an [offline](Node::offline) node, or once the
    /// network actor stopped).
    pub fn is_online(&self) -> bool {
        !self.inner.client.is_stopped()
    }

    fn spawn_sync(&self, peer: PeerId, syncs: &Arc<Semaphore>) {
        let node = self.clone();
        let syncs = syncs.clone();
        tokio::spawn(async move {
            let Ok(_permit) = syncs.acquire_owned().await else {
                return;
            };
            match node.sync_catalog(peer).await {
                Ok(n) => tracing::debug!(%peer, new = n, "catalog sync done"),
                Err(e) => tracing::debug!(%peer, error = %e, "catalog sync failed"),
            }
        });
    }

    async fn run(self, mut net_events: mpsc::Receiver<NetEvent>) {
        let syncs = Arc::new(Semaphore::new(MAX_CONCURRENT_SYNCS));
        let mut resync = tokio::time::interval(self.inner.resync_interval);
        // The first tick is immediate; new peers are synced when they connect anyway.
        resync.tick().await;
        let mut taste = tokio::time::interval(self.inner.taste_interval);
        taste.tick().await;
        loop {
            let event = tokio::select! {
                event = net_events.recv() => event,
                _ = taste.tick() => {
                    if let Some(peer) = self.inner.library.taste().next_partner() {
                        self.spawn_exchange(peer);
                    }
                    // The round's fit now, off the runtime, rather than in the next request.
                    warm_taste(&self.inner.library);
                    continue;
                }
                _ = resync.tick() => {
                    for peer in self.inner.providers.connected(usize::MAX) {
                        self.spawn_sync(peer, &syncs);
                    }
                    continue;
                }
            };
            let Some(event) = event else { break };
            match event {
                NetEvent::PeerConnected { peer, .. } => {
                    self.inner.providers.connect(peer);
                    let _ = self.inner.events.send(NodeEvent::PeerConnected(peer));
                    self.spawn_sync(peer, &syncs);
                    self.inner.library.taste().learn_peer(&peer);
                    self.spawn_exchange(peer);
                }
                NetEvent::PeerDisconnected { peer } => {
                    self.inner.providers.disconnect(&peer);
                    let _ = self.inner.events.send(NodeEvent::PeerDisconnected(peer));
                }
                NetEvent::TopicMessage {
                    topic,
                    data,
                    source,
                } if topic == crate::catalog::RELEASES_TOPIC => {
                    // Verified by the topic's validator before it got here.
                    let Ok(manifest) = crate::catalog::decode_announcement(&data) else {
                        continue;
                    };
                    if let Some(origin) = source
                        && origin != self.peer_id()
                    {
                        self.inner.providers.add(manifest.id(), origin);
                    }
                    if let Err(e) = self.accept_manifests(vec![manifest]).await {
                        tracing::warn!(error = %e, "cannot store an announced manifest");
                    }
                }
                NetEvent::TopicMessage {
                    topic,
                    data,
                    source,
                } => self.inner.radio.on_message(&topic, &data, source),
            }
        }
    }

    /// This peer's id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.client.peer_id()
    }

    /// The library (store, index, keys).
    pub fn library(&self) -> &Arc<Library> {
        &self.inner.library
    }

    /// The network client, for lower-level calls.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Events for a UI. Receivers that fall behind skip events (`RecvError::Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.inner.events.subscribe()
    }

    /// Listen addresses, each ending in `/p2p/<peer id>`.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>> {
        self.inner.client.listen_addrs().await
    }

    /// Dials a peer and waits for the connection.
    pub async fn connect(&self, addr: Multiaddr) -> Result<PeerId> {
        self.inner.client.dial(addr).await
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<(PeerId, Multiaddr)>> {
        self.inner.client.peers().await
    }

    /// Publishes files and folders, then announces and provides each new track.
    pub async fn publish(
        &self,
        paths: Vec<PathBuf>,
        options: PublishOptions,
    ) -> Result<Vec<std::result::Result<Manifest, PublishError>>> {
        Ok(self.publish_noting(paths, options).await?.0)
    }

    /// Announces and provides a local track (after a publish made elsewhere). Offline, nothing
    /// is announced.
    pub async fn announce(&self, manifest: &Manifest) -> Result<()> {
        if !self.is_online() {
            return Ok(());
        }
        self.announce_track(manifest).await?;
        if manifest.artist_key() == self.inner.library.artist_key() {
            self.publish_artist_profile().await?;
        }
        Ok(())
    }

    async fn announce_track(&self, manifest: &Manifest) -> Result<()> {
        crate::catalog::announce(&self.inner.client, manifest).await?;
        self.inner.client.provide(manifest.id().as_bytes()).await
    }

    pub(crate) fn count_providers(&self, t: &mut TrackSummary) {
        t.providers = usize::from(t.local) + self.inner.providers.count(&t.id);
    }

    pub(crate) fn with_providers(&self, mut list: Vec<TrackSummary>) -> Vec<TrackSummary> {
        list.iter_mut().for_each(|t| self.count_providers(t));
        list
    }

    /// Every known track, with provider counts (this peer included when local).
    pub async fn list(&self) -> Result<Vec<TrackSummary>> {
        let library = self.inner.library.clone();
        let list = blocking(move || library.list()).await?;
        Ok(self.with_providers(list))
    }

    /// Starts (or joins) the download of `id`. A local track gives a transfer that is already
    /// finished. Use [`Transfer::prioritize`] to move the playhead.
    pub async fn fetch(&self, id: TrackId) -> Result<Transfer> {
        if let Some(t) = lock(&self.inner.transfers).get(&id)
            && !matches!(t.progress().done, Some(Err(_)))
        {
            return Ok(t.clone());
        }
        let manifest = self.find_manifest_anywhere(id).await?;
        let cover = (self.clone(), manifest.clone());
        let transfer = {
            // Another fetch of the same track may have started while the manifest was looked up.
            let mut transfers = lock(&self.inner.transfers);
            if let Some(t) = transfers.get(&id)
                && !matches!(t.progress().done, Some(Err(_)))
            {
                return Ok(t.clone());
            }
            let transfer = Transfer::start(
                manifest,
                self.inner.library.store().clone(),
                self.inner.client.clone(),
                self.inner.providers.clone(),
                self.inner.transfer_options.clone(),
            );
            transfers.insert(id, transfer.clone());
            transfer
        };
        let events = self.inner.events.clone();
        let watcher = transfer.clone();
        tokio::spawn(async move {
            // The cover first, so that the track is shown with it once it is local.
            let (node, manifest) = cover;
            if let Err(e) = node.fetch_cover(&manifest).await {
                tracing::debug!(error = %e, "cover not fetched");
            }
            if watcher.finished().await.is_ok() {
                let _ = events.send(NodeEvent::TrackLocal(id));
            }
        });
        Ok(transfer)
    }

    /// The download of `id` if one is running (not finished, not failed).
    pub fn running_transfer(&self, id: &TrackId) -> Option<Transfer> {
        lock(&self.inner.transfers)
            .get(id)
            .filter(|t| t.progress().done.is_none())
            .cloned()
    }

    /// Every download started since the node started (running, finished or failed), for a
    /// UI's transfer list; at most one per track.
    pub fn transfers(&self) -> Vec<Transfer> {
        lock(&self.inner.transfers).values().cloned().collect()
    }

    /// A [`ChunkProvider`](crate::stream::ChunkProvider) for the player: a missing chunk under the
    /// playhead starts the track's download (or moves its playhead). Call from within the node's
    /// tokio runtime.
    pub fn chunk_provider(&self) -> Arc<dyn crate::stream::ChunkProvider> {
        Arc::new(chunks::NetworkChunks::new(self.clone()))
    }

    /// Downloads `id` to the end and, with `out`, writes the original file there.
    pub async fn fetch_to(&self, id: TrackId, out: Option<&Path>) -> Result<FetchReport> {
        let report = self.fetch(id).await?.finished().await?;
        let store = self.inner.library.store().clone();
        if let Some(manifest) = blocking(move || store.manifest(&id)).await? {
            self.fetch_cover(&manifest).await?;
        }
        if let Some(out) = out {
            let store = self.inner.library.store().clone();
            let out = out.to_owned();
            blocking(move || {
                let manifest = store.manifest(&id)?.ok_or(Error::UnknownTrack(id))?;
                store.export_audio(&manifest, &out)
            })
            .await?;
        }
        Ok(report)
    }

    /// The whole file of a local track, every chunk verified again on the way out.
    pub async fn read_track(&self, id: TrackId) -> Result<Vec<u8>> {
        let store = self.inner.library.store().clone();
        blocking(move || {
            let manifest = store.manifest(&id)?.ok_or(Error::UnknownTrack(id))?;
            let mut out = Vec::with_capacity(manifest.file_size() as usize);
            for index in 0..manifest.chunks().len() {
                let chunk = store
                    .chunk(&manifest, index)?
                    .ok_or(Error::UnknownTrack(id))?;
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        })
        .await
    }

    /// Stops the node the way a killed process stops (tests only): the network drops every
    /// connection at once without closing it, the node's tasks and downloads stop where they
    /// are, and nothing is flushed.
    #[cfg(feature = "test-utils")]
    pub async fn crash(&self) {
        self.inner.client.crash().await;
        for (_, task) in lock(&self.inner.broadcasts).drain() {
            task.abort();
        }
        for task in lock(&self.inner.tasks).drain(..) {
            task.abort();
        }
        for t in lock(&self.inner.transfers).values() {
            t.cancel();
        }
    }

    /// Stops publishes in progress (what is done stays, the file in progress leaves nothing),
    /// transfers (verified chunks stay for a resume), the glue tasks and the network, and
    /// flushes the store. Idempotent.
    pub async fn shutdown(&self) {
        self.inner.library.stop_publishing();
        for t in lock(&self.inner.transfers).values() {
            t.cancel();
        }
        for (_, task) in lock(&self.inner.broadcasts).drain() {
            task.abort();
        }
        self.inner.client.shutdown().await;
        for task in lock(&self.inner.tasks).drain(..) {
            task.abort();
        }
        let store = self.inner.library.store().clone();
        if let Err(e) = blocking(move || store.flush()).await {
            tracing::warn!(error = %e, "flush at shutdown failed");
        }
    }
}

#[cfg(test)]
mod tests;
