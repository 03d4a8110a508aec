//! [`NetworkChunks`]: the player's [`ChunkProvider`] on a node: a chunk the playhead needs
//! starts (or joins) the track's download and moves its playhead.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::{Node, lock};
use crate::model::{Manifest, TrackId};
use crate::stream::ChunkProvider;

/// Connects the player to the network. Made by [`Node::chunk_provider`]; calls return at once.
pub(super) struct NetworkChunks {
    node: Node,
    runtime: tokio::runtime::Handle,
    /// Tracks whose download is being started: the player asks again every second while it
    /// waits, and one start at a time is enough.
    starting: Arc<Mutex<HashSet<TrackId>>>,
}

impl NetworkChunks {
    /// A provider for `node`'s player, on the current tokio runtime.
    pub(super) fn new(node: Node) -> Self {
        Self {
            node,
            runtime: tokio::runtime::Handle::current(),
            starting: Arc::default(),
        }
    }
}

impl ChunkProvider for NetworkChunks {
    fn need(&self, manifest: &Manifest, index: usize) {
        let id = manifest.id();
        if let Some(t) = self.node.running_transfer(&id) {
            t.prioritize(index);
            return;
        }
        if !lock(&self.starting).insert(id) {
            return;
        }
        let node = self.node.clone();
        let starting = self.starting.clone();
        self.runtime.spawn(async move {
            match node.fetch(id).await {
                Ok(t) => t.prioritize(index),
                // The player asks again while it waits, so a later attempt may find a peer.
                Err(e) => tracing::info!(track = %id, error = %e, "cannot fetch for playback"),
            }
            lock(&starting).remove(&id);
        });
    }

    fn playhead(&self, track: &TrackId, index: usize) {
        if let Some(t) = self.node.running_transfer(track) {
            t.prioritize(index);
        }
    }
}
