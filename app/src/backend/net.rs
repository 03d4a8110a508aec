//! The network side of the worker: the [`Node`] and the tokio runtime it runs on. Work that
//! waits on the network is spawned on the runtime and answers with events, so the worker's
//! request loop never waits for a peer.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use busker_core::model::{ImageHash, Manifest, TrackId};
use busker_core::net::{Multiaddr, NetworkConfig, is_loopback};
use busker_core::{Library, Node, NodeOptions};

use super::status::{forward_node_events, post_status};
use super::{Event, Post};

/// How long a dial may take before it is reported as failed.
const DIAL_TIMEOUT: Duration = Duration::from_secs(20);

/// The network side: the node and the runtime it runs on.
pub(super) struct Net {
    pub(super) runtime: tokio::runtime::Runtime,
    pub(super) node: Node,
}

impl Net {
    /// Starts the node on `listen` (loopback only when every address is loopback), and the
    /// tasks that feed the UI.
    pub(super) fn start(
        library: &Arc<Library>,
        listen: &[String],
        post: &Post,
        dirty: &Arc<AtomicBool>,
    ) -> Result<Self, String> {
        let listen: Vec<Multiaddr> = listen
            .iter()
            .map(|a| {
                a.parse::<Multiaddr>()
                    .map_err(|e| format!("listen address {a:?} is not a multiaddr: {e}"))
            })
            .collect::<Result<_, _>>()?;
        if listen.is_empty() {
            return Err("no listen address is set (Settings)".to_owned());
        }
        let runtime = runtime()?;
        let loopback_only = listen.iter().all(is_loopback);
        let options = NodeOptions {
            network: NetworkConfig {
                listen,
                loopback_only,
                // The Settings toggle, read at start (core keeps it off on loopback).
                mdns: library.config().lan_discovery,
                ..NetworkConfig::loopback()
            },
            ..NodeOptions::loopback()
        };
        let node = runtime
            .block_on(Node::start(library.clone(), options))
            .map_err(|e| format!("cannot start the network: {e}"))?;
        runtime.spawn(forward_node_events(node.subscribe(), dirty.clone()));
        runtime.spawn(post_status(node.clone(), post.clone()));
        Ok(Self { runtime, node })
    }

    /// A node without a network (see [`Node::offline`]) when the network cannot start: the
    /// library's flows still run through the node, and what needs a peer says the network is
    /// not running.
    pub(super) fn offline(library: &Arc<Library>, dirty: &Arc<AtomicBool>) -> Result<Self, String> {
        let runtime = runtime()?;
        let node =
            Node::offline(library.clone()).map_err(|e| format!("cannot open the peer key: {e}"))?;
        // No status to post: it reports peers and transfers, and there are none.
        runtime.spawn(forward_node_events(node.subscribe(), dirty.clone()));
        Ok(Self { runtime, node })
    }

    /// Stops the node (transfers keep their verified chunks) and the runtime.
    pub(super) fn shutdown(self) {
        self.runtime.block_on(self.node.shutdown());
        self.runtime.shutdown_timeout(Duration::from_secs(5));
    }

    /// Announces and provides a track published here, on the runtime; a failure is logged
    /// (peers still learn of the track by catalog sync).
    pub(super) fn announce(&self, manifest: Manifest) {
        let node = self.node.clone();
        self.runtime.spawn(async move {
            if let Err(e) = node.announce(&manifest).await {
                tracing::warn!(error = %e, "cannot announce a published track");
            }
        });
    }

    /// Dials `addr` on the runtime; the answer comes back as [`Event::Dialled`] (`text` is the
    /// address as the user gave it).
    pub(super) fn connect(&self, post: &Post, text: String, addr: Multiaddr) {
        let node = self.node.clone();
        let post = post.clone();
        self.runtime.spawn(async move {
            let result = match tokio::time::timeout(DIAL_TIMEOUT, node.connect(addr)).await {
                Ok(Ok(peer)) => Ok(peer.to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {} s", DIAL_TIMEOUT.as_secs())),
            };
            post.offer(Event::Dialled { addr: text, result });
        });
    }

    /// After a playlist edit: a shared playlist's new record goes into the DHT.
    pub(super) fn playlist_changed(&self, id: busker_core::model::PlaylistId) {
        let node = self.node.clone();
        self.runtime.spawn(async move {
            if let Err(e) = node.playlist_changed(id).await {
                tracing::debug!(error = %e, "a shared playlist's record was not put");
            }
        });
    }

    /// Downloads a track into the library on the runtime; it shows among the transfers, then
    /// as local. A failure comes back as [`Event::Error`].
    pub(super) fn save(&self, post: &Post, id: TrackId) {
        let node = self.node.clone();
        let post = post.clone();
        self.runtime.spawn(async move {
            if let Err(e) = node.fetch_to(id, None).await {
                post.offer(Event::Error(format!("cannot save the track: {e}")));
            }
        });
    }
}

impl Net {
    /// Fetches the cover `hash` of `track` from the peers that hold the track (verified against
    /// its signed manifest), then posts it decoded for display, or `None` when no peer had it.
    pub(super) fn fetch_cover(&self, post: &Post, hash: ImageHash, track: TrackId) {
        let node = self.node.clone();
        let post = post.clone();
        self.runtime.spawn(async move {
            let fetched = match node.find_manifest(track).await {
                Ok(m) if m.cover().is_some_and(|c| c.hash == hash) => {
                    node.fetch_cover(&m).await.unwrap_or(false)
                }
                _ => false,
            };
            let library = node.library().clone();
            let event = match fetched {
                true => tokio::task::spawn_blocking(move || super::covers::cover(&library, hash))
                    .await
                    .unwrap_or(Event::Cover(hash, None)),
                false => Event::Cover(hash, None),
            };
            post.offer(event);
        });
    }
}

/// The runtime the node runs on.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("busker-net")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
