//! What the Network and Radio views show: peers, transfers with progress and speed, radio
//! channels, this peer's traffic. Two tasks on the node's runtime feed the UI: [`forward_node_events`] marks the
//! catalog dirty when the network changed it, and [`post_status`] posts the [`NetStatus`]
//! when it changed, checked every [`STATUS_INTERVAL`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use busker_core::model::TrackId;
use busker_core::net::PeerId;
use busker_core::{Node, NodeEvent};

use super::{ChannelRow, Event, NetStatus, PeerRow, Post, TrafficRow, TransferRow, TransferState};

/// How often the network status is looked at (it is posted only when it changed).
pub const STATUS_INTERVAL: Duration = Duration::from_secs(1);
/// Most transfers the Network view lists (running ones first).
const MAX_TRANSFER_ROWS: usize = 50;

/// Marks the catalog dirty when the network changed what it shows (new tracks, tracks that
/// became local, provider counts that moved with peers).
pub(super) async fn forward_node_events(
    mut events: tokio::sync::broadcast::Receiver<NodeEvent>,
    dirty: Arc<AtomicBool>,
) {
    use tokio::sync::broadcast::error::RecvError;
    while let Ok(_) | Err(RecvError::Lagged(_)) = events.recv().await {
        dirty.store(true, Ordering::Relaxed);
    }
}

/// Looks at peers and transfers every [`STATUS_INTERVAL`] and posts them when they changed.
pub(super) async fn post_status(node: Node, post: Post) {
    let mut last = None;
    let mut since: HashMap<PeerId, Instant> = HashMap::new();
    let mut previous: HashMap<TrackId, (usize, Instant)> = HashMap::new();
    let mut titles: HashMap<TrackId, (String, u64)> = HashMap::new();
    let mut tick = tokio::time::interval(STATUS_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut counted = (node.client().traffic(), Instant::now());
    loop {
        tick.tick().await;
        let traffic = {
            let (now, at) = (node.client().traffic(), Instant::now());
            let (then, then_at) = std::mem::replace(&mut counted, (now, at));
            let secs = at.duration_since(then_at).as_secs_f64().max(0.001);
            let kbps = |bytes: u64| bytes as f64 * 8.0 / 1000.0 / secs;
            TrafficRow {
                sent: now.sent,
                received: now.received,
                up_kbps: kbps(now.sent.saturating_sub(then.sent)),
                down_kbps: kbps(now.received.saturating_sub(then.received)),
            }
        };
        let Ok(peers) = node.peers().await else {
            break; // the network stopped
        };
        since.retain(|p, _| peers.iter().any(|(q, _)| q == p));
        let mut peer_rows: Vec<PeerRow> = peers
            .iter()
            .map(|(p, a)| PeerRow {
                peer_id: p.to_string(),
                addr: a.to_string(),
                since: *since.entry(*p).or_insert_with(Instant::now),
            })
            .collect();
        peer_rows.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));

        let mut transfers = Vec::new();
        for t in node.transfers() {
            let id = t.id();
            if let std::collections::hash_map::Entry::Vacant(slot) = titles.entry(id) {
                let store = node.library().store().clone();
                let found = tokio::task::spawn_blocking(move || store.manifest(&id))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten();
                slot.insert(found.map_or_else(
                    || (id.to_hex()[..12].to_owned(), 0),
                    |m| (m.info().title.clone(), m.file_size()),
                ));
            }
            let (title, file_size) = titles.get(&id).cloned().unwrap_or_default();
            let p = t.progress();
            let now = Instant::now();
            let (before, at) = previous.insert(id, (p.have, now)).unwrap_or((p.have, now));
            let chunk = file_size / p.total.max(1) as u64;
            let secs = now.duration_since(at).as_secs_f64();
            let bytes_per_sec = if secs > 0.0 {
                (p.have.saturating_sub(before) as f64 * chunk as f64 / secs) as u64
            } else {
                0
            };
            let state = match p.done {
                None => TransferState::Running,
                Some(Ok(r)) => TransferState::Done {
                    peers_used: r.peers_used,
                    bytes_per_sec: r.bytes * 1000 / r.millis.max(1),
                },
                Some(Err(e)) => TransferState::Failed(e.to_string()),
            };
            let running = state == TransferState::Running;
            transfers.push(TransferRow {
                id,
                title,
                have: p.have,
                total: p.total,
                bytes_per_sec: if running { bytes_per_sec } else { 0 },
                state,
            });
        }
        transfers.sort_by(|a, b| {
            let rank = |t: &TransferRow| t.state != TransferState::Running;
            (rank(a), &a.title).cmp(&(rank(b), &b.title))
        });
        transfers.truncate(MAX_TRANSFER_ROWS);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let channels = node
            .radio_channels()
            .into_iter()
            .map(|c| ChannelRow {
                id: c.id.to_hex(),
                name: c.name,
                listeners: c.listeners,
                broadcasting: c.broadcasting,
                tuned: c.tuned,
                now_playing: c.now_playing,
                live: c.live,
                stalled: c
                    .last_air_ms
                    .filter(|_| c.tuned)
                    .map(|at| Duration::from_millis(now_ms.saturating_sub(at)))
                    .filter(|behind| *behind >= super::protocol::STALLED_AFTER),
            })
            .collect();
        let status = NetStatus {
            peers: peer_rows,
            transfers,
            channels,
            traffic,
        };
        if last.as_ref() != Some(&status) {
            post.offer(Event::Network(status.clone()));
            last = Some(status);
        }
    }
}
