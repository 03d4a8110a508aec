//! The connection manager: keeps the number of connected peers between a low and a high
//! watermark ([`ConnectionTargets`]).
//!
//! Connections do not close by themselves. Gossipsub holds a long-lived stream open on every
//! connection to a peer that speaks it and libp2p counts an open stream as use (rust-libp2p
//! issue #5190), so the swarm's idle timeout never fires, and every peer a Kademlia query ever
//! reached stays connected for good. So this module closes them: when a peer is connected to
//! more than `high` others, the least recently used ones that nothing needs are closed until
//! `low` are left. Kept whatever the count:
//! - the gossip mesh peers (of any topic): gossip reaches everyone through them;
//! - peers used within the idle timeout: a request sent to, received from or answered for
//!   them (transfers, catalog sync, the radio tree's pushes). The request timeout is shorter
//!   than the idle timeout, so this covers every request in flight;
//! - peers this peer dialed on purpose (bootstrap peers, `Client::dial`);
//! - relays this peer listens through, peers with a relayed connection, and peers holding a
//!   reservation or a circuit on this relay;
//! - peers connected for less than the grace period (a Kademlia query, a sync just started).
//!
//! Kademlia keeps peers it is no longer connected to in its routing table and dials them again
//! when a query needs them. It counts a peer disconnected in the middle of a query as failed
//! (the query goes on with others); its requests are not seen here, so a trim may do that. What is decided here is pure: time is passed in, and the event loop
//! hands over the peers the behaviours need ([`Conns::to_close`]).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::swarm::ConnectionId;
use libp2p::{PeerId, relay};

use super::ConnectionTargets;

/// How often the connection count is checked against the watermarks.
pub(super) const TRIM_EVERY: Duration = Duration::from_secs(2);

/// What is known of one connected peer.
#[derive(Debug, Clone, Copy)]
struct Use {
    /// When its first connection (of those open now) opened.
    opened: Instant,
    /// Its latest request either way, if any.
    used: Option<Instant>,
}

impl Use {
    /// The latest sign of life: its last use, or its opening.
    fn last(&self) -> Instant {
        self.used.map_or(self.opened, |u| u.max(self.opened))
    }
}

/// Connected peers and what keeps each of them.
pub(super) struct Conns {
    targets: ConnectionTargets,
    /// A peer used within this is in use.
    idle: Duration,
    peers: HashMap<PeerId, Use>,
    /// Peers dialed on purpose.
    pinned: HashSet<PeerId>,
    /// Dials made on purpose whose connection is not up yet.
    pinned_dials: HashSet<ConnectionId>,
    /// Reservations and circuits peers hold on this relay, by peer.
    held: HashMap<PeerId, usize>,
}

impl Conns {
    pub(super) fn new(targets: ConnectionTargets, idle: Duration) -> Self {
        Self {
            targets,
            idle,
            peers: HashMap::new(),
            pinned: HashSet::new(),
            pinned_dials: HashSet::new(),
            held: HashMap::new(),
        }
    }

    /// Connection `id` to `peer` opened (its first, or one more); `asked`: it answered a dial
    /// asked for on purpose ([`Client::dial`](super::Client::dial)).
    pub(super) fn opened(&mut self, peer: PeerId, id: ConnectionId, asked: bool, now: Instant) {
        if asked || self.pinned_dials.remove(&id) {
            self.pinned.insert(peer);
        }
        self.peers.entry(peer).or_insert(Use {
            opened: now,
            used: None,
        });
    }

    /// `peer` was dialed on purpose (by its address): its connections are kept.
    pub(super) fn pin(&mut self, peer: PeerId) {
        self.pinned.insert(peer);
    }

    /// Dial `id` (to a bootstrap peer) was made on purpose: the peer it reaches is kept.
    pub(super) fn pin_dial(&mut self, id: ConnectionId) {
        self.pinned_dials.insert(id);
    }

    /// The last connection to `peer` closed (its reservations and circuits here with it).
    pub(super) fn gone(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
        self.held.remove(peer);
    }

    /// A request to or from `peer` was sent, received or answered.
    pub(super) fn used(&mut self, peer: &PeerId, now: Instant) {
        if let Some(u) = self.peers.get_mut(peer) {
            u.used = Some(now);
        }
    }

    /// `peer` took a reservation or a circuit on this relay (`true`) or one ended (`false`).
    fn hold(&mut self, peer: PeerId, taken: bool) {
        let count = self.held.entry(peer).or_default();
        if taken {
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
        }
        if *count == 0 {
            self.held.remove(&peer);
        }
    }

    /// Notes the reservations and circuits the relay service grants and ends.
    pub(super) fn on_relay_event(&mut self, event: &relay::Event) {
        match event {
            relay::Event::ReservationReqAccepted {
                src_peer_id,
                renewed: false,
            } => self.hold(*src_peer_id, true),
            relay::Event::ReservationClosed { src_peer_id }
            | relay::Event::ReservationTimedOut { src_peer_id } => self.hold(*src_peer_id, false),
            relay::Event::CircuitReqAccepted {
                src_peer_id,
                dst_peer_id,
            } => {
                self.hold(*src_peer_id, true);
                self.hold(*dst_peer_id, true);
            }
            relay::Event::CircuitClosed {
                src_peer_id,
                dst_peer_id,
                ..
            } => {
                self.hold(*src_peer_id, false);
                self.hold(*dst_peer_id, false);
            }
            _ => {}
        }
    }

    /// Connected peers (as far as this manager knows).
    pub(super) fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether more peers are connected than the high watermark allows.
    pub(super) fn over(&self) -> bool {
        self.peers.len() > self.targets.high
    }

    /// The peers to disconnect now: none while at most `high` are connected; otherwise the
    /// least recently used of those nothing keeps (see the module docs; `needed` are the peers
    /// the behaviours need: gossip mesh, relays, relayed connections), until `low` are left or
    /// none may go.
    pub(super) fn to_close(&self, now: Instant, needed: &HashSet<PeerId>) -> Vec<PeerId> {
        if !self.over() {
            return Vec::new();
        }
        let excess = self.peers.len() - self.targets.low;
        let recent = |t: Instant, within: Duration| now.saturating_duration_since(t) < within;
        let mut free: Vec<(Instant, PeerId)> = self
            .peers
            .iter()
            .filter(|(p, u)| {
                !needed.contains(p)
                    && !self.pinned.contains(p)
                    && !self.held.contains_key(p)
                    && !recent(u.opened, self.targets.grace)
                    && !u.used.is_some_and(|t| recent(t, self.idle))
            })
            .map(|(p, u)| (u.last(), *p))
            .collect();
        free.sort_unstable();
        free.into_iter().take(excess).map(|(_, p)| p).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(60);

    fn id() -> ConnectionId {
        ConnectionId::new_unchecked(rand::random())
    }

    fn targets(low: usize, high: usize) -> ConnectionTargets {
        ConnectionTargets {
            low,
            high,
            grace: Duration::from_secs(30),
        }
    }

    /// `n` peers connected at `t0`, one second apart, the manager two minutes later.
    fn connected(low: usize, high: usize, n: usize) -> (Conns, Vec<PeerId>, Instant) {
        let mut conns = Conns::new(targets(low, high), IDLE);
        let t0 = Instant::now();
        let peers: Vec<PeerId> = (0..n).map(|_| PeerId::random()).collect();
        for (i, p) in peers.iter().enumerate() {
            conns.opened(*p, id(), false, t0 + Duration::from_secs(i as u64));
        }
        (conns, peers, t0 + Duration::from_secs(120))
    }

    #[test]
    fn nothing_closes_up_to_the_high_watermark() {
        let (conns, _, now) = connected(2, 5, 5);
        assert!(conns.to_close(now, &HashSet::new()).is_empty());
    }

    #[test]
    fn above_the_high_watermark_the_least_recently_used_close_down_to_the_low() {
        let (mut conns, peers, now) = connected(3, 5, 8);
        // Peer 0 opened first but was used a minute and a half ago (outside the idle time):
        // its last sign of life is later than peers 1-4's opening, so they go first.
        conns.used(&peers[0], now - Duration::from_secs(90));
        let closed = conns.to_close(now, &HashSet::new());
        assert_eq!(closed, peers[1..6].to_vec());
        for p in &closed {
            conns.gone(p);
        }
        assert_eq!(conns.len(), 3);
        assert!(conns.to_close(now, &HashSet::new()).is_empty());
    }

    #[test]
    fn mesh_in_use_pinned_held_and_new_peers_are_kept() {
        let (mut conns, peers, now) = connected(0, 1, 8);
        let mesh: HashSet<PeerId> = peers[0..2].iter().copied().collect();
        conns.used(&peers[2], now - Duration::from_secs(59));
        // Peer 3 answered a dial asked for; the bootstrap dial reaches a peer not met yet.
        conns.opened(peers[3], id(), true, now);
        let bootstrap = (PeerId::random(), id());
        conns.pin_dial(bootstrap.1);
        conns.opened(bootstrap.0, bootstrap.1, false, now - IDLE);
        conns.hold(peers[4], true);
        conns.hold(peers[4], true);
        conns.hold(peers[4], false);
        let newcomer = PeerId::random();
        conns.opened(newcomer, id(), false, now - Duration::from_secs(29));
        let closed: HashSet<PeerId> = conns.to_close(now, &mesh).into_iter().collect();
        assert_eq!(closed, peers[5..8].iter().copied().collect());

        // The last reservation ends, the use gets old, the newcomer's grace runs out: they go.
        conns.hold(peers[4], false);
        let later = now + Duration::from_secs(31);
        let closed: HashSet<PeerId> = conns.to_close(later, &mesh).into_iter().collect();
        let expected = [peers[2], peers[4], newcomer, peers[5], peers[6], peers[7]];
        assert_eq!(closed, expected.into_iter().collect());
    }

    #[test]
    fn a_peer_not_connected_is_never_closed_and_use_of_it_is_not_kept() {
        let (mut conns, peers, now) = connected(0, 0, 1);
        let stranger = PeerId::random();
        conns.used(&stranger, now);
        assert_eq!(conns.to_close(now, &HashSet::new()), vec![peers[0]]);
        // It connects later: its earlier use does not count, its grace does.
        conns.opened(stranger, id(), false, now);
        assert_eq!(conns.to_close(now, &HashSet::new()), vec![peers[0]]);
    }

    mod live {
        use std::sync::Arc;

        use super::super::super::{
            self as net, Client, NetEvent, NetworkConfig, Services, Validation,
        };
        use super::*;

        const TOPIC: &str = "/test/mesh/1";
        const ECHO: libp2p::StreamProtocol = libp2p::StreamProtocol::new("/test/echo/1");

        fn services() -> Services {
            Services::default()
                .protocol(net::Protocol {
                    name: ECHO,
                    max_request: 64,
                    max_response: 64,
                    refused: Vec::new(),
                    handler: Arc::new(|_, r: &[u8]| net::Reply::Answer(r.to_vec())),
                })
                .topic(net::Topic {
                    name: TOPIC.to_owned(),
                    validator: Arc::new(|_: &[u8], _: Option<&PeerId>| Validation::Accept),
                    strict: false,
                })
        }

        async fn peer(
            connections: ConnectionTargets,
        ) -> (Client, tokio::sync::mpsc::Receiver<NetEvent>) {
            let config = NetworkConfig {
                listen: vec![net::memory_any_port()],
                memory_transport: true,
                connections,
                ..NetworkConfig::loopback()
            };
            let key = libp2p::identity::Keypair::generate_ed25519();
            net::spawn(key, config, services()).await.unwrap()
        }

        async fn addr(client: &Client) -> libp2p::Multiaddr {
            client.listen_addrs().await.unwrap()[0].clone()
        }

        /// A hub that 16 peers dialed, with watermarks 0 and 2: everything nothing needs goes.
        /// What stays is exactly the gossip mesh, the peer it dialed itself and the peer that
        /// keeps asking it things.
        #[tokio::test]
        async fn a_hub_over_its_high_watermark_keeps_only_its_mesh_and_the_peers_it_uses() {
            let hub_targets = ConnectionTargets {
                low: 0,
                high: 2,
                grace: Duration::from_secs(1),
            };
            let (hub, mut hub_events) = peer(hub_targets).await;
            let hub_addr = addr(&hub).await;
            let mut others = Vec::new();
            for _ in 0..16 {
                let (leaf, events) = peer(ConnectionTargets::default()).await;
                leaf.dial(hub_addr.clone()).await.unwrap();
                others.push((leaf, events));
            }
            // One peer the hub dials itself, one that keeps asking the hub.
            let (pinned, _pinned_events) = peer(ConnectionTargets::default()).await;
            hub.dial(addr(&pinned).await).await.unwrap();
            let (user, _user_events) = peer(ConnectionTargets::default()).await;
            user.dial(hub_addr.clone()).await.unwrap();
            let asking = {
                let (user, hub) = (user.clone(), hub.peer_id());
                tokio::spawn(async move {
                    let mut every = tokio::time::interval(Duration::from_millis(200));
                    loop {
                        every.tick().await;
                        user.request(hub, ECHO, b"still here".to_vec())
                            .await
                            .unwrap();
                    }
                })
            };

            // Until every peer left is the mesh, the dialed or the asking one (each
            // disconnection is a chance to look).
            let kept = [pinned.peer_id(), user.peer_id()];
            let mut closed = HashSet::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            let (connected, mesh) = loop {
                let connected: HashSet<PeerId> = hub
                    .peers()
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(p, _)| p)
                    .collect();
                let mesh: HashSet<PeerId> = hub
                    .mesh_peers(TOPIC.to_owned())
                    .await
                    .unwrap()
                    .into_iter()
                    .collect();
                if connected
                    .iter()
                    .all(|p| mesh.contains(p) || kept.contains(p))
                    && closed.len() >= 8
                {
                    break (connected, mesh);
                }
                match tokio::time::timeout_at(deadline, hub_events.recv()).await {
                    Ok(Some(NetEvent::PeerDisconnected { peer })) => {
                        closed.insert(peer);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        panic!("not trimmed: {} connected, mesh {mesh:?}", connected.len())
                    }
                }
            };
            asking.abort();
            // The mesh was kept (gossipsub's graft limit holds it at 8 at most, so at least 8
            // of the 18 went), and so were the dialed and the asking peer, never dropped.
            assert!(!mesh.is_empty() && mesh.iter().all(|p| connected.contains(p)));
            assert!(
                kept.iter()
                    .all(|p| connected.contains(p) && !closed.contains(p))
            );
            assert!(closed.iter().all(|p| !mesh.contains(p)));
            assert!(connected.len() < 18, "{}", connected.len());
        }
    }
}
