//! The scheduler task of one [`Transfer`](super::Transfer): asks providers for ranges of
//! missing chunks, verifies and stores what arrives, and drops, retries or bans peers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::PeerId;
use tokio::sync::mpsc;

use super::protocol::{self, MAX_CHUNK_DATA, MAX_CHUNKS_PER_REQUEST, Request, Response};
use super::{FetchReport, ProviderSource, Shared, TransferOptions, lock};
use crate::error::{Error, Result};
use crate::model::{ChunkHash, Manifest};
use crate::net::Client;
use crate::store::Store;

#[derive(Default)]
struct PeerState {
    inflight: usize,
    /// Failures in a row; an answer with chunks clears them.
    failures: u32,
    /// Chunks the peer said it lacks, and when it last said so: a peer that is downloading the
    /// track itself may have them later, so the list is forgotten when the transfer is stuck.
    lacks: HashSet<usize>,
    lacks_at: Option<Instant>,
    dropped: bool,
    /// When the peer was dropped for failing; it gets another chance after [`RETRY_DROPPED`]
    /// when no other holder is left (a peer that was only slow, say under load).
    dropped_at: Option<Instant>,
    /// Known to hold the track, or has sent some of it.
    holder: bool,
    /// Place in the provider source's order (lower is better).
    rank: usize,
    /// Chunks asked of this peer in one request: one at first, so that the chunk under the
    /// playhead comes back as soon as possible, doubled after every full answer up to the
    /// transfer's request size, halved after a failure (like TCP's slow start).
    window: usize,
}

impl PeerState {
    /// Leaves the peer out of this transfer for now (not a ban: see [`PeerState::retry_if_rested`]).
    fn drop_for_now(&mut self) {
        self.dropped = true;
        self.dropped_at = Some(Instant::now());
    }

    /// Gives a peer dropped for failing (not banned) another chance once it has rested for
    /// [`RETRY_DROPPED`].
    fn retry_if_rested(&mut self) {
        if self.failures != u32::MAX
            && self
                .dropped_at
                .is_some_and(|t| t.elapsed() >= RETRY_DROPPED)
        {
            self.dropped = false;
            self.dropped_at = None;
            self.failures = 0;
        }
    }

    /// Forgets which chunks the peer said it lacked: it may have them now.
    fn forget_lacks(&mut self) {
        self.lacks.clear();
        self.lacks_at = None;
    }
}

/// How long a peer dropped for failing (not banned) waits before it is tried again, when no
/// usable holder is left.
const RETRY_DROPPED: Duration = Duration::from_secs(2);

/// How long a transfer goes without a new chunk before it asks the DHT for providers again, and
/// before it asks again peers that lacked chunks this long ago.
const DHT_REQUERY: Duration = Duration::from_secs(3);

type Reply = (PeerId, u32, u16, Result<Response>);

/// A checked answer: the peer, the first chunk's index, and for each chunk whether it matched
/// (and was stored).
type Verdict = (PeerId, usize, Result<Vec<bool>>);

pub(super) struct Scheduler {
    manifest: Manifest,
    store: Store,
    client: Client,
    providers: Arc<dyn ProviderSource>,
    options: TransferOptions,
    shared: Arc<Shared>,
    peers: HashMap<PeerId, PeerState>,
    inflight: HashSet<usize>,
    used: HashSet<PeerId>,
    banned: Vec<PeerId>,
    fetched: usize,
}

impl Scheduler {
    pub(super) fn new(
        manifest: Manifest,
        store: Store,
        client: Client,
        providers: Arc<dyn ProviderSource>,
        options: TransferOptions,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            manifest,
            store,
            client,
            providers,
            options,
            shared,
            peers: HashMap::new(),
            inflight: HashSet::new(),
            used: HashSet::new(),
            banned: Vec::new(),
            fetched: 0,
        }
    }

    pub(super) async fn run(mut self, started: Instant) -> Result<FetchReport> {
        let id = self.manifest.id();
        // Resume: whatever verified chunks are already stored count as done.
        let present = {
            let store = self.store.clone();
            let manifest = self.manifest.clone();
            tokio::task::spawn_blocking(move || {
                (0..manifest.chunks().len())
                    .map(|i| store.has_chunk(&manifest, i).unwrap_or(false))
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(Error::task("the chunk check"))?
        };
        let missing_bytes: u64 = present
            .iter()
            .enumerate()
            .filter(|(_, here)| !**here)
            .map(|(i, _)| self.manifest.chunk_len(i) as u64)
            .sum();
        *lock(&self.shared.have) = present;
        self.publish_progress();
        // A download the disk cannot take fails now, before the database meets ENOSPC.
        self.store.ensure_space(missing_bytes)?;

        let per_request = (self.options.request_bytes / self.manifest.chunk_size() as usize)
            .clamp(
                1,
                (MAX_CHUNK_DATA / self.manifest.chunk_size() as usize).max(1),
            )
            .min(MAX_CHUNKS_PER_REQUEST as usize);
        let mut requests: FuturesUnordered<BoxFuture<'static, Reply>> = FuturesUnordered::new();
        // Answers being hashed and written on the blocking pool while the next ones arrive: at
        // most one per request in flight, so bounded by the per-peer windows.
        let mut verifying: FuturesUnordered<BoxFuture<'static, Verdict>> = FuturesUnordered::new();
        let (found_tx, mut found_rx) = mpsc::channel::<Vec<PeerId>>(4);
        let mut last_progress = Instant::now();
        let mut last_refresh: Option<Instant> = None;
        let mut dht_query_running = false;
        let mut last_query: Option<Instant> = None;

        while self.missing() > 0 {
            if self.shared.cancelled.load(Ordering::Relaxed) {
                return Err(Error::Network("transfer cancelled".into()));
            }
            if last_progress.elapsed() > self.options.stall_timeout {
                tracing::info!(
                    track = %id,
                    missing = self.missing(),
                    peers = self.peers.len(),
                    usable = self.usable_peers(),
                    inflight = self.inflight.len(),
                    "download stalled: giving up"
                );
                return Err(Error::NoProviders(id));
            }
            // Refresh the candidates now and then: new peers connect, announcements arrive.
            if last_refresh.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                last_refresh = Some(Instant::now());
                let own = self.client.peer_id();
                let candidates = self.providers.candidates(&id);
                let holders = candidates.holders.iter().map(|p| (p, true));
                let others = candidates.others.iter().map(|p| (p, false));
                for (rank, (&peer, holder)) in holders.chain(others).enumerate() {
                    if peer != own {
                        let state = self.peers.entry(peer).or_default();
                        state.holder |= holder;
                        state.rank = rank;
                    }
                }
                if last_progress.elapsed() > DHT_REQUERY {
                    for state in self.peers.values_mut() {
                        if state.lacks_at.is_some_and(|t| t.elapsed() > DHT_REQUERY) {
                            state.forget_lacks();
                        }
                    }
                }
                if self.usable_holders() == 0 {
                    self.peers.values_mut().for_each(PeerState::retry_if_rested);
                }
                // Ask the DHT who provides the track: at the start, when no known holder is
                // left, and again while nothing arrives (holders heard of by gossip and
                // catalog sync are not all of them: copies are only in provider records).
                let stalled = last_progress.elapsed() > DHT_REQUERY
                    && last_query.is_none_or(|t| t.elapsed() > DHT_REQUERY);
                if !dht_query_running
                    && (last_query.is_none() || self.usable_holders() == 0 || stalled)
                {
                    last_query = Some(Instant::now());
                    dht_query_running = true;
                    let client = self.client.clone();
                    let tx = found_tx.clone();
                    tokio::spawn(async move {
                        let found = client.providers(id.as_bytes()).await.unwrap_or_default();
                        let _ = tx.send(found.into_iter().collect()).await;
                    });
                }
            }
            self.assign(per_request, &mut requests);

            tokio::select! {
                Some((peer, start, count, result)) = requests.next() => {
                    if let Some(check) = self.on_reply(peer, start, count, result).await {
                        verifying.push(check);
                    }
                }
                Some((peer, first, verdict)) = verifying.next() => {
                    if self.on_verified(peer, first, verdict?).await {
                        last_progress = Instant::now();
                    }
                }
                Some(found) = found_rx.recv() => {
                    dht_query_running = false;
                    let own = self.client.peer_id();
                    for peer in found {
                        if peer != own && !self.banned.contains(&peer) {
                            let state = self.peers.entry(peer).or_default();
                            state.holder = true;
                            // A DHT provider record is a fresh claim: whatever the peer lacked
                            // before, and if it was dropped for failing, it may try again.
                            state.forget_lacks();
                            state.retry_if_rested();
                        }
                    }
                }
                () = self.shared.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }

        let manifest = self.manifest.clone();
        let store = self.store.clone();
        // Durable before it is reported: a download the user was told finished survives a crash
        // right after (the database would otherwise write it back up to half a second later).
        let committed = tokio::task::spawn_blocking(move || {
            store.commit_local_track(&manifest)?;
            store.flush()
        })
        .await
        .map_err(Error::task("the track commit"))?;
        match committed {
            Ok(()) | Err(Error::Duplicate(_)) => {}
            Err(e) => return Err(e),
        }
        if let Err(e) = self.client.provide(id.as_bytes()).await {
            tracing::debug!(error = %e, "could not announce the provider record");
        }
        Ok(FetchReport {
            id,
            bytes: self.manifest.file_size(),
            peers_used: self.used.len(),
            millis: started.elapsed().as_millis() as u64,
            chunks_fetched: self.fetched,
            banned: self.banned.clone(),
        })
    }

    fn missing(&self) -> usize {
        lock(&self.shared.have).iter().filter(|h| !**h).count()
    }

    fn usable_peers(&self) -> usize {
        self.peers.values().filter(|p| !p.dropped).count()
    }

    fn usable_holders(&self) -> usize {
        self.peers
            .values()
            .filter(|p| !p.dropped && p.holder)
            .count()
    }

    fn publish_progress(&self) {
        let have = lock(&self.shared.have).iter().filter(|h| **h).count();
        self.shared.progress.send_if_modified(|p| {
            let changed = p.have != have;
            p.have = have;
            changed
        });
    }

    /// Gives every peer with a free slot the next range of wanted chunks it has not refused.
    fn assign(
        &mut self,
        per_request: usize,
        requests: &mut FuturesUnordered<BoxFuture<'static, Reply>>,
    ) {
        let total = self.manifest.chunks().len();
        let playhead = self
            .shared
            .playhead
            .load(Ordering::Relaxed)
            .min(total.saturating_sub(1));
        let have = lock(&self.shared.have).clone();
        // Holders first, least busy first among them so that load spreads, then in the
        // provider source's order; other peers after them, one probing request each.
        let mut order: Vec<(bool, usize, usize, PeerId)> = self
            .peers
            .iter()
            .filter(|(_, s)| !s.dropped && s.inflight < self.options.requests_per_peer)
            .map(|(p, s)| (!s.holder, s.inflight, s.rank, *p))
            .collect();
        order.sort_unstable();
        for (_, _, _, peer) in order {
            while let Some(state) = self.peers.get(&peer) {
                let slots = if state.holder {
                    self.options.requests_per_peer
                } else {
                    1
                };
                if state.inflight >= slots {
                    break;
                }
                let per_request = if state.holder {
                    state.window.clamp(1, per_request)
                } else {
                    1
                };
                let wanted =
                    |i: usize| !have[i] && !self.inflight.contains(&i) && !state.lacks.contains(&i);
                let Some(start) = (playhead..total).chain(0..playhead).find(|&i| wanted(i)) else {
                    break;
                };
                let mut count = 1;
                while count < per_request && start + count < total && wanted(start + count) {
                    count += 1;
                }
                for i in start..start + count {
                    self.inflight.insert(i);
                }
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.inflight += 1;
                }
                let client = self.client.clone();
                let track = self.manifest.id();
                let (start, count) = (start as u32, count as u16);
                tracing::trace!(%track, %peer, start, count, "asking for chunks");
                requests.push(Box::pin(async move {
                    let request = Request::Chunks {
                        track,
                        start,
                        count,
                    };
                    let result = protocol::request(&client, peer, request).await;
                    (peer, start, count, result)
                }));
            }
        }
    }

    /// Handles one answer: the peer's bookkeeping now, and the chunks it sent, if any, as a
    /// check to run (hash and store on the blocking pool) beside the next answers. The chunks
    /// stay in flight until their check ends.
    async fn on_reply(
        &mut self,
        peer: PeerId,
        start: u32,
        count: u16,
        result: Result<Response>,
    ) -> Option<BoxFuture<'static, Verdict>> {
        let range = start as usize..start as usize + count as usize;
        for i in range.clone() {
            self.inflight.remove(&i);
        }
        let max_failures = self.options.max_failures;
        tracing::trace!(
            track = %self.manifest.id(),
            %peer,
            start,
            count,
            answer = ?result.as_ref().map(|r| match r {
                Response::Chunks { chunks, .. } => chunks.len() as i64,
                _ => -1,
            }),
            "chunk answer"
        );
        if self.banned.contains(&peer) {
            // Whatever a banned peer still sends is ignored, good or bad.
            return None;
        }
        let state = self.peers.get_mut(&peer)?;
        state.inflight = state.inflight.saturating_sub(1);
        let chunks = match result {
            Ok(Response::Chunks { start: s, chunks })
                if s == start && chunks.len() <= count as usize =>
            {
                chunks
            }
            Err(e @ (Error::Unreachable { .. } | Error::ShutOut(_))) => {
                // A failed dial or a closed connection: the peer is likely gone, and every
                // further try would hold chunks up for a dial timeout. Drop it now; it gets
                // another chance after the pause like any dropped peer.
                if !state.dropped {
                    tracing::debug!(%peer, error = %e, "dropping an unreachable peer from the transfer");
                    state.drop_for_now();
                    state.failures = max_failures;
                }
                return None;
            }
            Ok(Response::Refused) | Err(_) => {
                state.window = (state.window / 2).max(1);
                state.failures = state.failures.saturating_add(1);
                if state.failures >= max_failures && !state.dropped {
                    tracing::debug!(%peer, "dropping an unresponsive peer from the transfer");
                    state.drop_for_now();
                }
                return None;
            }
            Ok(_) => {
                tracing::info!(%peer, "peer answered a chunk request with something else");
                self.ban(peer).await;
                return None;
            }
        };
        // The peer lacks whatever it did not send; a peer not known to hold the track that
        // sends nothing is taken to have none of it, so the probing moves on to others.
        if chunks.len() < count as usize {
            state.lacks_at = Some(Instant::now());
        }
        if chunks.is_empty() && !state.holder {
            state.lacks.extend(0..self.manifest.chunks().len());
            return None;
        }
        for i in range.clone().skip(chunks.len()) {
            state.lacks.insert(i);
        }
        if chunks.is_empty() {
            return None;
        }
        state.failures = 0;
        state.holder = true;
        if chunks.len() == count as usize {
            state.window = (state.window.max(1) * 2).min(MAX_CHUNKS_PER_REQUEST as usize);
        }

        // Verify and store on the blocking pool: hashing and writes are CPU and disk work. The
        // chunks count as in flight until then, so that nobody else is asked for them.
        self.inflight
            .extend(range.start..range.start + chunks.len());
        let store = self.store.clone();
        let manifest = self.manifest.clone();
        let first = range.start;
        let check = tokio::task::spawn_blocking(move || -> Result<Vec<bool>> {
            let mut ok = Vec::with_capacity(chunks.len());
            for (k, bytes) in chunks.iter().enumerate() {
                if manifest.chunks().get(first + k) == Some(&ChunkHash::of(bytes)) {
                    store.put_verified_chunk(&manifest, first + k, bytes)?;
                    ok.push(true);
                } else {
                    ok.push(false);
                }
            }
            Ok(ok)
        });
        Some(Box::pin(async move {
            let verdict = check
                .await
                .map_err(Error::task("the chunk store"))
                .and_then(|v| v);
            (peer, first, verdict)
        }))
    }

    /// Takes the checked chunks of one answer: marks them had, bans a peer that sent one that
    /// does not match. Returns whether new verified chunks arrived.
    async fn on_verified(&mut self, peer: PeerId, first: usize, verdict: Vec<bool>) -> bool {
        for i in first..first + verdict.len() {
            self.inflight.remove(&i);
        }
        let mut new = 0;
        {
            let mut have = lock(&self.shared.have);
            for (k, ok) in verdict.iter().enumerate() {
                if *ok && !have[first + k] {
                    have[first + k] = true;
                    new += 1;
                }
            }
        }
        if verdict.iter().any(|ok| !ok) {
            tracing::warn!(%peer, track = %self.manifest.id(), "peer sent a chunk that does not match the manifest");
            self.ban(peer).await;
        }
        if new > 0 {
            self.used.insert(peer);
            self.fetched += new;
            self.publish_progress();
        }
        new > 0
    }

    async fn ban(&mut self, peer: PeerId) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.dropped = true;
            state.failures = u32::MAX;
        }
        if !self.banned.contains(&peer) {
            self.banned.push(peer);
        }
        if let Err(e) = self.client.ban(peer).await {
            tracing::debug!(error = %e, "could not ban peer");
        }
    }
}
