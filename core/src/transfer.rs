//! Transfers: downloading one track from several peers at once, and the protocol they speak.
//!
//! A [`Transfer`] is started with a verified [`Manifest`]. It looks at the store first, so a
//! download that was interrupted (the process died, the node was shut down) resumes where it
//! stopped: chunks are content-addressed and only verified chunks are ever stored, so a partial
//! download is simply "manifest stored + some chunks present".
//!
//! Its scheduler (`scheduler.rs`) then asks every known provider for ranges of missing chunks,
//! several requests per peer in flight, picking chunks in order from the playhead
//! ([`Transfer::prioritize`]) so that the chunk a player needs next comes first. Every chunk is
//! checked against its BLAKE3 hash in the manifest before it is stored (and so before it can be
//! played or served again). A peer that sends a chunk that does not match is banned through
//! [`Client::ban`](crate::net::Client::ban) and its chunks are asked from others; a peer that
//! fails several times in a row, or that cannot be reached at all (a failed dial, a closed
//! connection), is dropped from this transfer, and tried again after a pause when no other peer
//! is left (it may only have been slow). When every chunk is here the track is marked local with
//! [`Store::commit_local_track`] and announced as provided in the DHT.
//!
//! Providers come from a [`ProviderSource`] (peers known to hold the track from announcements and
//! catalog sync, plus every connected peer as a fallback: a node's [`Providers`]) and from DHT
//! provider queries (keyed by the track id's bytes): one at the start, and again whenever no
//! known holder is left or nothing arrived for a few seconds.
//!
//! The [`protocol`] (`/busker/transfer/2`) asks for a manifest by id and for chunk ranges; a peer
//! serves its store by registering [`offer`] with the network.

pub mod protocol;
mod providers;
mod scheduler;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::{Notify, watch};

pub use protocol::offer;
pub(crate) use providers::Providers;
use scheduler::Scheduler;

use crate::error::{Error, Result};
use crate::model::{Manifest, TrackId};
use crate::net::Client;
use crate::store::Store;

/// Tuning of a transfer.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Requests in flight per peer.
    pub requests_per_peer: usize,
    /// Bytes asked for in one request at most (rounded to whole chunks, at least one); a peer's
    /// requests start at one chunk and grow to this while it answers in full.
    pub request_bytes: usize,
    /// Failures (timeouts, refusals, disconnects) after which a peer is dropped from a transfer.
    pub max_failures: u32,
    /// Give up when no chunk arrived for this long.
    pub stall_timeout: Duration,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            requests_per_peer: 4,
            // 1 MiB: 256 KiB took 1.5x as long over loopback (one stream and one noise and
            // yamux round per request); 4 MiB only 8 % less than 1 MiB, for four times the
            // memory per request in flight (BENCHMARKS.md, "Network").
            request_bytes: 1024 * 1024,
            max_failures: 3,
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// Who may hold a track. Called repeatedly while a transfer runs; it must not block.
pub trait ProviderSource: Send + Sync + 'static {
    /// Peers to ask for chunks of `id`.
    fn candidates(&self, id: &TrackId) -> Candidates;
}

/// The peers a transfer may ask, each list best first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Peers known to hold the track (announcements, catalog sync, provider records).
    pub holders: Vec<PeerId>,
    /// Other peers that might: they are asked for one chunk at a time until one sends some, so
    /// that a network of peers without the track cannot hold the download up.
    pub others: Vec<PeerId>,
}

/// What a finished transfer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// The track.
    pub id: TrackId,
    /// File size in bytes.
    pub bytes: u64,
    /// Peers that delivered at least one verified chunk.
    pub peers_used: usize,
    /// Wall time of this transfer, in milliseconds.
    pub millis: u64,
    /// Chunks fetched over the network by this transfer (the rest were here already).
    pub chunks_fetched: usize,
    /// Peers banned during this transfer for sending bad chunks.
    pub banned: Vec<PeerId>,
}

/// Progress of a transfer, published on a `watch` channel.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Chunks present and verified.
    pub have: usize,
    /// Chunks in the track.
    pub total: usize,
    /// Set once the transfer ended: the report, or the error (shared by every waiter).
    pub done: Option<std::result::Result<FetchReport, Arc<Error>>>,
}

struct Shared {
    playhead: AtomicUsize,
    cancelled: AtomicBool,
    wake: Notify,
    have: Mutex<Vec<bool>>,
    progress: watch::Sender<Progress>,
}

/// A running (or finished) download of one track. Cheap to clone; every clone sees the same
/// transfer. Dropping the handles does not stop it: call [`Transfer::cancel`].
#[derive(Clone)]
pub struct Transfer {
    id: TrackId,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("id", &self.id)
            .field("progress", &*self.shared.progress.borrow())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Transfer {
    /// Starts downloading `manifest` on the current tokio runtime.
    pub fn start(
        manifest: Manifest,
        store: Store,
        client: Client,
        providers: Arc<dyn ProviderSource>,
        options: TransferOptions,
    ) -> Self {
        let total = manifest.chunks().len();
        let (progress, _) = watch::channel(Progress {
            have: 0,
            total,
            done: None,
        });
        let shared = Arc::new(Shared {
            playhead: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
            wake: Notify::new(),
            have: Mutex::new(vec![false; total]),
            progress,
        });
        let transfer = Self {
            id: manifest.id(),
            shared: shared.clone(),
        };
        let id = manifest.id();
        tokio::spawn(async move {
            let started = Instant::now();
            let scheduler =
                Scheduler::new(manifest, store, client, providers, options, shared.clone());
            // Run the scheduler as its own task so that even a panic in it ends the transfer
            // with an error instead of leaving waiters hanging.
            let result = match tokio::spawn(scheduler.run(started)).await {
                Ok(result) => result,
                Err(e) => Err(Error::task("the transfer")(e)),
            };
            if let Err(e) = &result {
                tracing::info!(track = %id, error = %e, "transfer ended without the whole track");
            }
            shared.progress.send_modify(|p| {
                p.done = Some(result.map_err(Arc::new));
            });
        });
        transfer
    }

    /// The track.
    pub fn id(&self) -> TrackId {
        self.id
    }

    /// Asks for chunk `index` (the playhead) and the chunks after it before any other. Takes
    /// effect with the next requests; chunks already in flight still arrive.
    pub fn prioritize(&self, index: usize) {
        self.shared.playhead.store(index, Ordering::Relaxed);
        self.shared.wake.notify_one();
    }

    /// Whether chunk `index` is here and verified.
    pub fn has_chunk(&self, index: usize) -> bool {
        lock(&self.shared.have).get(index).copied().unwrap_or(false)
    }

    /// Waits until chunk `index` is here (moving the playhead to it), or the transfer ended
    /// without it. Cancel-safe.
    pub async fn wait_chunk(&self, index: usize) -> Result<()> {
        if !self.has_chunk(index) {
            self.prioritize(index);
        }
        let mut rx = self.shared.progress.subscribe();
        loop {
            if self.has_chunk(index) {
                return Ok(());
            }
            if let Some(Err(e)) = &rx.borrow_and_update().done {
                return Err(Error::Transfer(e.clone()));
            }
            if rx.changed().await.is_err() {
                return Err(Error::NetworkStopped);
            }
        }
    }

    /// The current progress; subscribe with [`Transfer::watch`] to follow it.
    pub fn progress(&self) -> Progress {
        self.shared.progress.borrow().clone()
    }

    /// A receiver that sees every progress change.
    pub fn watch(&self) -> watch::Receiver<Progress> {
        self.shared.progress.subscribe()
    }

    /// Stops the transfer; verified chunks stay in the store for a later resume.
    pub fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::Relaxed);
        self.shared.wake.notify_one();
    }

    /// Waits for the end of the transfer. Cancel-safe.
    pub async fn finished(&self) -> Result<FetchReport> {
        let mut rx = self.shared.progress.subscribe();
        loop {
            if let Some(done) = &rx.borrow_and_update().done {
                return done.clone().map_err(Error::Transfer);
            }
            if rx.changed().await.is_err() {
                return Err(Error::NetworkStopped);
            }
        }
    }
}
