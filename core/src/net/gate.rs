//! Who may talk to this peer: bans, per-peer request limits and strikes (see [`super::limits`]),
//! and the test-only partition switch.
//!
//! A banned peer is disconnected, blacklisted in gossipsub, removed from the DHT routing table
//! and refused until its ban ends ([`PeerLimits::ban_duration`]); with a [`BanBook`] the ban
//! also outlives a restart. Strikes outlive a reconnect: a peer's limiter is forgotten only once
//! its strikes have faded. A peer behind a simulated partition is cut off like a banned one,
//! until the partition is lifted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use libp2p::{PeerId, Swarm};
use tokio::sync::oneshot;

use super::behaviour::Behaviour;
use super::limits::{PeerLimiter, Verdict};
use super::{BanBook, PeerLimits};
use crate::release::unix_now;

/// Strikes an invalid gossip message on a strict topic costs its sender (see [`PeerLimits`]).
const INVALID_GOSSIP_STRIKES: f64 = 40.0;
/// Strikes a request that does not decode costs its sender: the fifth in a row bans it.
pub(super) const MALFORMED_REQUEST_STRIKES: f64 = 20.0;
/// Limiters of disconnected peers with strikes left kept at most; beyond it the ones whose
/// strikes have faded are dropped.
const REMEMBERED_PEERS: usize = 4096;

/// Commands of the gate.
pub(crate) enum Command {
    Ban {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    Banned {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    #[cfg(feature = "test-utils")]
    Partition {
        peers: HashSet<PeerId>,
        reply: oneshot::Sender<()>,
    },
}

/// Bans, limits and the partition switch.
pub(super) struct Gate {
    limits: PeerLimits,
    /// Banned peers, each with when its ban ends (seconds since the Unix epoch).
    banned: HashMap<PeerId, u64>,
    book: Option<Arc<dyn BanBook>>,
    /// Request buckets and strikes of connected peers.
    limiters: HashMap<PeerId, PeerLimiter>,
    /// Peers on the other side of a simulated network partition (tests only): no connection to
    /// them is kept, none is made, nothing is sent or served. Unlike a ban it can be lifted.
    gated: HashSet<PeerId>,
}

impl Gate {
    pub(super) fn new(limits: PeerLimits) -> Self {
        Self {
            limits,
            banned: HashMap::new(),
            book: None,
            limiters: HashMap::new(),
            gated: HashSet::new(),
        }
    }

    /// Keeps bans in `book` from now on, and takes up those in force there (the swarm learns
    /// of them in [`Gate::enforce_loaded`]).
    pub(super) fn with_book(mut self, book: Option<Arc<dyn BanBook>>) -> Self {
        if let Some(book) = &book {
            let now = unix_now();
            self.banned
                .extend(book.load().into_iter().filter(|(_, until)| *until > now));
        }
        self.book = book;
        self
    }

    /// Tells gossipsub and the DHT about the bans loaded from the book.
    pub(super) fn enforce_loaded(&self, swarm: &mut Swarm<Behaviour>) {
        for peer in self.banned.keys() {
            shut_out_of(swarm, *peer);
        }
        if !self.banned.is_empty() {
            tracing::info!(
                peers = self.banned.len(),
                "bans from before the restart in force"
            );
        }
    }

    pub(super) fn on_command(&mut self, swarm: &mut Swarm<Behaviour>, command: Command) {
        match command {
            Command::Ban { peer, reply } => {
                self.ban(swarm, peer);
                let _ = reply.send(());
            }
            Command::Banned { reply } => {
                let now = unix_now();
                let peers = self.banned.iter().filter(|(_, until)| **until > now);
                let _ = reply.send(peers.map(|(peer, _)| *peer).collect());
            }
            #[cfg(feature = "test-utils")]
            Command::Partition { peers, reply } => {
                for peer in &peers {
                    if swarm.is_connected(peer) {
                        let _ = swarm.disconnect_peer_id(*peer);
                    }
                }
                self.gated = peers;
                let _ = reply.send(());
            }
        }
    }

    pub(super) fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned
            .get(peer)
            .is_some_and(|until| *until > unix_now())
    }

    pub(super) fn is_gated(&self, peer: &PeerId) -> bool {
        self.gated.contains(peer)
    }

    /// Whether nothing may be exchanged with `peer` (banned, or behind a partition).
    pub(super) fn shut_out(&self, peer: &PeerId) -> bool {
        self.is_banned(peer) || self.is_gated(peer)
    }

    /// Penalises a misbehaving peer: disconnects it, refuses it from now on and lowers its
    /// gossip score.
    pub(super) fn ban(&mut self, swarm: &mut Swarm<Behaviour>, peer: PeerId) {
        tracing::info!(%peer, "banning peer");
        self.note_ban(peer);
        shut_out_of(swarm, peer);
    }

    fn note_ban(&mut self, peer: PeerId) {
        let until = unix_now().saturating_add(self.limits.ban_duration.as_secs());
        self.banned.insert(peer, until);
        self.limiters.remove(&peer);
        if let Some(book) = &self.book {
            book.save(&peer, until);
        }
    }

    /// Adds strikes to `peer`, banning it when it runs out.
    pub(super) fn strike(&mut self, swarm: &mut Swarm<Behaviour>, peer: PeerId, weight: f64) {
        if self.add_strikes(peer, weight, Instant::now()) {
            tracing::info!(%peer, "peer ran out of strikes");
            self.ban(swarm, peer);
        }
    }

    /// Adds strikes; returns whether the peer is now over its limit.
    fn add_strikes(&mut self, peer: PeerId, weight: f64, now: Instant) -> bool {
        let limits = &self.limits;
        self.limiters
            .entry(peer)
            .or_insert_with(|| PeerLimiter::new(limits, now))
            .strike(limits, now, weight)
    }

    /// A peer sent an invalid message on a strict topic: gossipsub has scored it down; ban it
    /// once its score shows it keeps doing so, or when it runs out of strikes.
    pub(super) fn on_invalid_gossip(&mut self, swarm: &mut Swarm<Behaviour>, peer: PeerId) {
        let score = swarm.behaviour().gossipsub.peer_score(&peer);
        if score.is_some_and(|s| s < self.limits.ban_gossip_score) {
            tracing::info!(%peer, ?score, "gossip score too low");
            self.ban(swarm, peer);
            return;
        }
        self.strike(swarm, peer, INVALID_GOSSIP_STRIKES);
    }

    /// Decides whether to serve an inbound request from `peer`; a request served counts as in
    /// flight until [`Gate::served`].
    pub(super) fn admit(&mut self, peer: PeerId, now: Instant) -> Verdict {
        let limits = &self.limits;
        let limiter = self
            .limiters
            .entry(peer)
            .or_insert_with(|| PeerLimiter::new(limits, now));
        if limiter.inflight >= limits.max_inflight_per_peer {
            return Verdict::Refuse;
        }
        let verdict = limiter.request(limits, now);
        if verdict == Verdict::Serve {
            limiter.inflight += 1;
        }
        verdict
    }

    /// A request of `peer` admitted by [`Gate::admit`] is over (answered or dropped).
    pub(super) fn served(&mut self, peer: &PeerId) {
        if let Some(limiter) = self.limiters.get_mut(peer) {
            limiter.inflight = limiter.inflight.saturating_sub(1);
        }
    }

    /// A request of `peer` did not decode: it costs strikes.
    pub(super) fn malformed(&mut self, swarm: &mut Swarm<Behaviour>, peer: PeerId) {
        self.strike(swarm, peer, MALFORMED_REQUEST_STRIKES);
    }

    /// `peer`'s last connection closed. Its limiter is kept while it has strikes left, so a
    /// peer cannot reconnect to start afresh; otherwise it is forgotten.
    pub(super) fn forget(&mut self, peer: &PeerId) {
        let now = Instant::now();
        let limits = &self.limits;
        if let Some(limiter) = self.limiters.get_mut(peer) {
            limiter.inflight = 0;
            if !limiter.has_strikes(limits, now) {
                self.limiters.remove(peer);
            }
        }
        if self.limiters.len() > REMEMBERED_PEERS {
            self.limiters
                .retain(|_, l| l.inflight > 0 || l.has_strikes(limits, now));
        }
    }
}

/// Cuts a banned peer off: disconnected, blacklisted and scored down in gossipsub, out of the
/// DHT routing table.
fn shut_out_of(swarm: &mut Swarm<Behaviour>, peer: PeerId) {
    let behaviour = swarm.behaviour_mut();
    behaviour.gossipsub.set_application_score(&peer, -1000.0);
    behaviour.gossipsub.blacklist_peer(&peer);
    behaviour.kad.remove_peer(&peer);
    let _ = swarm.disconnect_peer_id(peer);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits() -> PeerLimits {
        PeerLimits {
            requests_per_sec: 10.0,
            request_burst: 4.0,
            max_inflight_per_peer: 2,
            max_strikes: 3.0,
            ..PeerLimits::default()
        }
    }

    #[test]
    fn requests_in_flight_are_capped_per_peer_without_strikes() {
        let mut gate = Gate::new(limits());
        let (a, b) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        assert_eq!(gate.admit(a, now), Verdict::Serve);
        assert_eq!(gate.admit(a, now), Verdict::Serve);
        // Two in flight: the third waits for one of them, and costs nothing.
        assert_eq!(gate.admit(a, now), Verdict::Refuse);
        assert_eq!(
            gate.admit(b, now),
            Verdict::Serve,
            "other peers are not held up"
        );
        gate.served(&a);
        assert_eq!(gate.admit(a, now), Verdict::Serve);
        assert!(!gate.add_strikes(a, 0.0, now), "the cap cost no strikes");
    }

    #[test]
    fn a_peer_over_its_rate_is_refused_then_banned() {
        let mut gate = Gate::new(limits());
        let peer = PeerId::random();
        let now = Instant::now();
        let mut verdicts = Vec::new();
        for _ in 0..8 {
            let v = gate.admit(peer, now);
            gate.served(&peer);
            verdicts.push(v);
        }
        // A burst of 4 served, then refusals costing a strike each; the third strike bans.
        assert_eq!(verdicts[..4], [Verdict::Serve; 4]);
        assert_eq!(verdicts[4..6], [Verdict::Refuse; 2]);
        assert_eq!(verdicts[6], Verdict::Ban);
    }

    #[test]
    fn strikes_fade_and_a_ban_forgets_the_bucket() {
        let mut gate = Gate::new(limits());
        let peer = PeerId::random();
        let t0 = Instant::now();
        assert!(!gate.add_strikes(peer, 2.0, t0));
        // 2 s later two strikes have faded: two more are still under the limit of 3.
        assert!(!gate.add_strikes(peer, 2.0, t0 + Duration::from_secs(2)));
        assert!(gate.add_strikes(peer, 2.0, t0 + Duration::from_secs(2)));
        gate.note_ban(peer);
        assert!(gate.is_banned(&peer) && gate.shut_out(&peer));
        assert!(!gate.limiters.contains_key(&peer));
    }

    #[test]
    fn strikes_outlive_a_reconnect_until_they_fade() {
        let mut gate = Gate::new(limits());
        let (striker, honest) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        assert!(!gate.add_strikes(striker, 2.0, now));
        assert_eq!(gate.admit(honest, now), Verdict::Serve);
        gate.served(&honest);
        gate.forget(&striker);
        gate.forget(&honest);
        assert!(
            gate.limiters.contains_key(&striker),
            "reconnecting does not wipe strikes"
        );
        assert!(!gate.limiters.contains_key(&honest));
        // Two strikes (less what faded since) and 1.5 more reach the limit of 3.
        assert!(
            gate.add_strikes(striker, 1.5, now),
            "the strikes kept count"
        );
    }

    #[derive(Default)]
    struct Book(std::sync::Mutex<Vec<(PeerId, u64)>>);

    impl BanBook for Book {
        fn load(&self) -> Vec<(PeerId, u64)> {
            self.0.lock().unwrap().clone()
        }
        fn save(&self, peer: &PeerId, until: u64) {
            self.0.lock().unwrap().push((*peer, until));
        }
    }

    #[test]
    fn bans_are_kept_in_the_book_and_end_when_they_expire() {
        let book = Arc::new(Book::default());
        let (flooder, old) = (PeerId::random(), PeerId::random());
        book.save(&old, unix_now() - 1);
        let mut gate = Gate::new(limits()).with_book(Some(book.clone()));
        assert!(!gate.is_banned(&old), "an expired ban is over");
        gate.note_ban(flooder);
        let until = book.load().iter().find(|(p, _)| *p == flooder).unwrap().1;
        assert!(until >= unix_now() + limits().ban_duration.as_secs() - 1);
        // A restart: a new gate on the same book.
        let gate = Gate::new(limits()).with_book(Some(book));
        assert!(gate.is_banned(&flooder) && !gate.is_banned(&old));
    }

    #[test]
    fn a_partition_shuts_peers_out_until_it_is_lifted() {
        let mut gate = Gate::new(limits());
        let peer = PeerId::random();
        gate.gated.insert(peer);
        assert!(gate.shut_out(&peer) && gate.is_gated(&peer) && !gate.is_banned(&peer));
        gate.gated.clear();
        assert!(!gate.shut_out(&peer));
    }
}
