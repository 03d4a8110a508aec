//! Asking neighbours for segments: repairs of missing ones, and tune-in asks for the latest.
//!
//! A segment missing past its expected arrival plus [`super::TuneOptions::repair_after`] (at
//! once when a later one is here) is asked from a neighbour on the topic, another one every
//! [`REPAIR_RETRY`], the broadcaster at try [`BROADCASTER_REPAIR_ATTEMPT`], until its play time;
//! at most [`MAX_REPAIRS`] at once. Until playback starts, [`RECENT_FANOUT`] neighbours at a
//! time (and the broadcaster, [`BROADCASTER_ASKS`] times) are asked for their latest segments,
//! every [`RECENT_RETRY`]. Every answer is verified like gossip before it is kept.

use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::mpsc;

use super::Listener;
use crate::radio::protocol::{self, Request, Response};
use crate::radio::segment::RadioMessage;

/// How often a repair request for a still-missing segment is retried (with another peer).
pub const REPAIR_RETRY: Duration = Duration::from_millis(250);
/// How often a listener that has not started yet asks its neighbours for their latest segments
/// (a neighbour is asked again only once its previous answer is in).
pub(super) const RECENT_RETRY: Duration = Duration::from_millis(300);
/// Neighbours asked for their latest segments at once while the listener has not started.
const RECENT_FANOUT: usize = 3;
/// Tune-in requests a listener sends the broadcaster at most (its neighbours are asked until
/// playback starts): the broadcaster holds the live point when no neighbour does yet.
const BROADCASTER_ASKS: u32 = 2;
/// The repair try of a segment that goes to the broadcaster (counting from 0); the others go to
/// neighbours in turn.
const BROADCASTER_REPAIR_ATTEMPT: usize = 2;
/// Repair requests in flight at most.
const MAX_REPAIRS: usize = 8;

impl Listener {
    async fn refresh_peers(&mut self) {
        let stale = self
            .peers_at
            .is_none_or(|t| t.elapsed() > Duration::from_secs(2));
        if stale || self.peers.is_empty() {
            let mut peers = self
                .client
                .topic_peers(self.descriptor.id().topic())
                .await
                .unwrap_or_default();
            if peers.is_empty() {
                peers = self
                    .client
                    .peers()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(p, _)| p)
                    .collect();
            }
            self.peers = peers;
            self.peers_at = Some(tokio::time::Instant::now());
        }
    }

    /// Notes how far ahead of its play time segment `seq`, just pushed, came. A repair is asked
    /// for when a segment is that much late (and [`super::TuneOptions::repair_after`] more):
    /// taken as the latency and [`crate::radio::SEND_AHEAD`], a live channel's segments (with
    /// 0.2-0.7 s of lead, not a second) were asked for before they could arrive, and came twice.
    pub(super) fn note_arrival(&mut self, seq: u64) {
        if self.next.is_none() || !self.buffer.contains_key(&seq) {
            return;
        }
        let ahead = self
            .play_time(seq)
            .saturating_duration_since(tokio::time::Instant::now());
        self.ahead = Some(self.ahead.map_or(ahead, |a| (a * 7 + ahead) / 8));
    }

    /// Asks neighbours for segments that are overdue; returns when to look again.
    pub(super) async fn repair(
        &mut self,
        repairs: &mpsc::Sender<(u64, Vec<Vec<u8>>)>,
    ) -> Option<tokio::time::Instant> {
        let next = self.next?;
        let now = tokio::time::Instant::now();
        let mut wake: Option<tokio::time::Instant> = None;
        let newest = self.buffer.keys().next_back().copied().unwrap_or(next);
        let mut due = self.play_time(next);
        for seq in next..=newest.max(next).min(next + 8) {
            if seq > next {
                due = match self.buffer.get(&seq) {
                    Some(_) => self.play_time(seq),
                    None => due + self.last_duration,
                };
            }
            if self.buffer.contains_key(&seq) {
                continue;
            }
            let arrival = due
                .checked_sub(
                    self.ahead
                        .unwrap_or(self.latency + crate::radio::SEND_AHEAD),
                )
                .unwrap_or(now);
            // A later segment is here already: this one was lost, ask now.
            let ask_at = if seq < newest {
                now
            } else {
                arrival + self.options.repair_after
            };
            let retry_at = self
                .requested
                .get(&seq)
                .map_or(ask_at, |(at, _)| (*at + REPAIR_RETRY).max(ask_at));
            if retry_at > now {
                wake = Some(wake.map_or(retry_at, |w| w.min(retry_at)));
                continue;
            }
            if due <= now || self.repairs_in_flight >= MAX_REPAIRS {
                continue;
            }
            self.refresh_peers().await;
            let attempt = self.requested.get(&seq).map_or(0, |(_, n)| n + 1);
            // Neighbours first; the third try goes to the broadcaster, which holds every
            // segment, so a segment no neighbour got in time still plays (one segment's upload
            // for the broadcaster, and only when the mesh failed).
            let peer = match self.broadcaster {
                Some(b) if attempt == BROADCASTER_REPAIR_ATTEMPT => b,
                _ => match self.peers.get(attempt % self.peers.len().max(1)) {
                    Some(&p) => p,
                    None => continue,
                },
            };
            self.requested.insert(seq, (now, attempt));
            self.repairs_in_flight += 1;
            let client = self.client.clone();
            let channel = self.descriptor.id();
            let tx = repairs.clone();
            tokio::spawn(async move {
                let answer = tokio::time::timeout(
                    Duration::from_secs(2),
                    protocol::request(&client, peer, Request::Segment { channel, seq }),
                )
                .await;
                let list = match answer {
                    Ok(Ok(Response::Segments(list))) => list,
                    _ => Vec::new(),
                };
                let _ = tx.send((seq, list)).await;
            });
            let again = now + REPAIR_RETRY;
            wake = Some(wake.map_or(again, |w| w.min(again)));
        }
        wake
    }

    /// Asks a few neighbours on the channel (and the broadcaster, at most [`BROADCASTER_ASKS`]
    /// times) for their latest segments; a peer whose answer is still out is not asked again.
    pub(super) async fn ask_recent(&mut self, answers: &mpsc::Sender<(PeerId, Vec<Vec<u8>>)>) {
        self.peers_at = None;
        self.refresh_peers().await;
        // Every answer costs about two segments of audio that gossip then brings again, so the
        // first round asks one neighbour (the broadcaster only when no neighbour is on the
        // topic); later rounds, when that was not enough, ask more at once.
        let first = self.recent_rounds == 0;
        let fanout = if first { 1 } else { RECENT_FANOUT };
        // Other neighbours each round: the ones asked last time may have had nothing yet.
        let skip = self.recent_rounds.saturating_sub(1) * RECENT_FANOUT + usize::from(!first);
        let skip = skip % self.peers.len().max(1);
        self.recent_rounds += 1;
        let mut ask: Vec<PeerId> = self
            .peers
            .iter()
            .cycle()
            .skip(skip)
            .take(self.peers.len())
            .filter(|p| !self.asking.contains(p) && Some(**p) != self.broadcaster)
            .take(fanout)
            .copied()
            .collect();
        if let Some(b) = self.broadcaster
            && (!first || ask.is_empty())
            && self.broadcaster_asks < BROADCASTER_ASKS
            && !self.asking.contains(&b)
        {
            self.broadcaster_asks += 1;
            ask.push(b);
        }
        let channel = self.descriptor.id();
        tracing::debug!(
            asked = ask.len(),
            peers = self.peers.len(),
            "asking for the latest segments"
        );
        for peer in ask {
            self.asking.insert(peer);
            let client = self.client.clone();
            let tx = answers.clone();
            tokio::spawn(async move {
                let asked = Instant::now();
                let list = match tokio::time::timeout(
                    Duration::from_secs(3),
                    protocol::request(&client, peer, Request::Recent { channel }),
                )
                .await
                {
                    Ok(Ok(Response::Segments(list))) => list,
                    _ => Vec::new(),
                };
                tracing::debug!(
                    %peer,
                    segments = list.len(),
                    ms = asked.elapsed().as_millis() as u64,
                    "tune-in answer"
                );
                let _ = tx.send((peer, list)).await;
            });
        }
    }

    pub(super) fn accept_answer(&mut self, list: Vec<Vec<u8>>, repaired: bool) {
        for bytes in list {
            self.report.bytes += bytes.len() as u64;
            // Everything from a neighbour is verified like gossip: signature, channel.
            match RadioMessage::decode(&bytes, &self.descriptor) {
                Ok(RadioMessage::Segment(segment)) => {
                    let seq = segment.seq();
                    let new = !self.buffer.contains_key(&seq) && self.next.is_none_or(|n| seq >= n);
                    self.hub.keep(&segment);
                    self.insert(segment);
                    if repaired && new && self.buffer.contains_key(&seq) {
                        self.report.repaired += 1;
                    }
                }
                Ok(RadioMessage::Heartbeat { .. }) => {}
                Err(e) => tracing::info!(error = %e, "dropped a bad segment from a neighbour"),
            }
        }
    }
}
