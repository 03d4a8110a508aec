//! Relays: which connected peers offer the relay service, the reservations this peer holds on
//! them while it cannot be reached directly, the circuits tried towards peers that are not
//! connected, and the closing of relayed connections once a direct one is up.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::core::transport::ListenerId;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, relay};

use super::behaviour::Behaviour;
use super::gate::Gate;
use super::links::{Links, is_unspecified, without_peer};
use super::{circuit_through, is_relayed};

/// Most relays this peer listens through at once.
const MAX_RELAYS: usize = 2;
/// Most relays a request to an unconnected peer is tried through.
const MAX_RELAY_ROUTES: usize = 3;
/// How long a relay that refused a reservation is left alone.
const RELAY_RETRY: Duration = Duration::from_secs(30);
/// How often the relay listeners are checked again (for relays whose pause ended).
pub(super) const RELAY_CHECK: Duration = Duration::from_secs(5);

/// The relays this peer knows and the reservations it holds.
pub(super) struct Relays {
    /// Reserve slots on relays when this peer cannot be reached directly.
    use_relays: bool,
    /// Connected peers (directly) that offer the relay service, each with an address to name
    /// it by in a circuit address.
    offered: HashMap<PeerId, Multiaddr>,
    /// Listeners on relay circuits (reservations, pending or accepted), by relay.
    listeners: HashMap<ListenerId, PeerId>,
    /// Relays whose reservation failed lately, left alone for `RELAY_RETRY`.
    paused: HashMap<PeerId, Instant>,
    /// AutoNAT's latest verdict was "private".
    nat_private: bool,
}

impl Relays {
    pub(super) fn new(use_relays: bool) -> Self {
        Self {
            use_relays,
            offered: HashMap::new(),
            listeners: HashMap::new(),
            paused: HashMap::new(),
            nat_private: false,
        }
    }

    /// Remembers whether `peer` offers the relay service (after identify on `connection`).
    /// Returns whether it became a relay this peer may reserve on (then call
    /// [`Relays::ensure`]).
    pub(super) fn note(
        &mut self,
        links: &Links,
        peer: PeerId,
        connection: ConnectionId,
        protocols: &[StreamProtocol],
        listen: &[Multiaddr],
    ) -> bool {
        if !protocols.contains(&relay::HOP_PROTOCOL_NAME) {
            self.offered.remove(&peer);
            return false;
        }
        let Some(link) = links.get(&peer, connection) else {
            return false;
        };
        if link.relayed {
            return false;
        }
        // Name the relay by an address it can be reached at: the one dialed, else one it
        // listens on.
        let named = if link.dialed {
            Some(without_peer(&link.addr))
        } else {
            listen
                .iter()
                .find(|a| !is_relayed(a) && !is_unspecified(a))
                .cloned()
        };
        match named {
            Some(addr) => {
                self.offered.insert(peer, addr);
                true
            }
            None => false,
        }
    }

    /// `peer` has no direct connection left: it can no longer be named as a relay.
    pub(super) fn lost(&mut self, peer: &PeerId) {
        self.offered.remove(peer);
    }

    /// AutoNAT's verdict changed.
    pub(super) fn on_nat_status(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        gate: &Gate,
        private: bool,
    ) {
        self.nat_private = private;
        self.ensure(swarm, gate);
    }

    /// A new listen address; says so when it is a relay's.
    pub(super) fn on_listen_addr(&self, listener: ListenerId, address: &Multiaddr) -> bool {
        match self.listeners.get(&listener) {
            Some(relay) => {
                tracing::info!(%relay, %address, "listening through a relay");
                true
            }
            None => false,
        }
    }

    /// A listener closed: if it was a relay's, a failed reservation pauses that relay, and
    /// another is looked for.
    pub(super) fn on_listener_closed(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        gate: &Gate,
        listener: ListenerId,
        reason: Result<(), &std::io::Error>,
    ) {
        let Some(relay) = self.listeners.remove(&listener) else {
            return;
        };
        match reason {
            Ok(()) => tracing::debug!(%relay, "relay listener closed"),
            Err(e) => {
                tracing::info!(%relay, error = %e, "relay reservation failed");
                self.paused.insert(relay, Instant::now());
            }
        }
        self.ensure(swarm, gate);
    }

    /// Whether this peer should listen through relays: it may use them and has no direct
    /// external address, or AutoNAT found it private.
    fn wants_relay(&self, swarm: &Swarm<Behaviour>) -> bool {
        self.use_relays && (self.nat_private || !swarm.external_addresses().any(|a| !is_relayed(a)))
    }

    /// The relays this peer listens through (reservations pending or accepted).
    pub(super) fn reserved_on(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.listeners.values().copied()
    }

    /// Keeps up to `MAX_RELAYS` relay listeners while this peer wants them, none otherwise.
    pub(super) fn ensure(&mut self, swarm: &mut Swarm<Behaviour>, gate: &Gate) {
        if !self.wants_relay(swarm) {
            for (id, relay) in self.listeners.drain() {
                tracing::info!(%relay, "reachable directly: leaving the relay");
                swarm.remove_listener(id);
            }
            return;
        }
        let now = Instant::now();
        self.paused
            .retain(|_, at| now.saturating_duration_since(*at) < RELAY_RETRY);
        while self.listeners.len() < MAX_RELAYS {
            let Some((relay, addr)) = self.next_relay(gate) else {
                break;
            };
            let circuit = circuit_through(&addr, relay);
            match swarm.listen_on(circuit.clone()) {
                Ok(id) => {
                    tracing::info!(%relay, %circuit, "reserving a slot on a relay");
                    self.listeners.insert(id, relay);
                }
                Err(e) => {
                    tracing::info!(%relay, error = %e, "cannot listen through a relay");
                    self.paused.insert(relay, now);
                }
            }
        }
    }

    /// A relay to reserve on next: offered, not in use, not paused, not shut out.
    fn next_relay(&self, gate: &Gate) -> Option<(PeerId, Multiaddr)> {
        self.offered
            .iter()
            .find(|(relay, _)| {
                !self.listeners.values().any(|r| r == *relay)
                    && !self.paused.contains_key(relay)
                    && !gate.shut_out(relay)
            })
            .map(|(relay, addr)| (*relay, addr.clone()))
    }

    /// Circuit addresses of `peer` through the relays this peer is connected to.
    pub(super) fn routes(&self, peer: PeerId) -> Vec<Multiaddr> {
        self.offered
            .iter()
            .filter(|(relay, _)| **relay != peer)
            .take(MAX_RELAY_ROUTES)
            .map(|(relay, addr)| circuit_through(addr, *relay).with(Protocol::P2p(peer)))
            .collect()
    }
}

/// A direct connection to `peer` is up (dialed, or made by hole punching): its relayed
/// connections are closed, so that the relay carries nothing it does not have to.
pub(super) fn close_relayed(swarm: &mut Swarm<Behaviour>, links: &Links, peer: PeerId) {
    for id in links.relayed(&peer) {
        tracing::info!(%peer, "direct connection up: closing the relayed one");
        swarm.close_connection(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::PeerLimits;

    fn relays_offered(n: usize) -> (Relays, Vec<PeerId>) {
        let mut relays = Relays::new(true);
        let peers: Vec<PeerId> = (0..n).map(|_| PeerId::random()).collect();
        for (i, p) in peers.iter().enumerate() {
            let addr: Multiaddr = format!("/ip4/10.0.0.{}/tcp/4001", i + 1).parse().unwrap();
            relays.offered.insert(*p, addr);
        }
        (relays, peers)
    }

    #[test]
    fn routes_go_through_at_most_three_other_relays() {
        let (relays, peers) = relays_offered(5);
        let target = peers[0];
        let routes = relays.routes(target);
        assert_eq!(routes.len(), MAX_RELAY_ROUTES);
        for route in &routes {
            assert!(is_relayed(route));
            assert_eq!(crate::net::peer_id_of(route), Some(target));
            // Never through the target itself.
            assert!(!route.to_string().starts_with("/ip4/10.0.0.1/"), "{route}");
        }
    }

    #[test]
    fn the_next_relay_is_neither_in_use_nor_paused_nor_shut_out() {
        let (mut relays, peers) = relays_offered(3);
        let gate = Gate::new(PeerLimits::default());
        relays.listeners.insert(ListenerId::next(), peers[0]);
        relays.paused.insert(peers[1], Instant::now());
        assert_eq!(relays.next_relay(&gate).map(|(p, _)| p), Some(peers[2]));
        relays.paused.clear();
        let next = relays.next_relay(&gate).map(|(p, _)| p);
        assert!(next == Some(peers[1]) || next == Some(peers[2]));
        relays.lost(&peers[1]);
        relays.lost(&peers[2]);
        assert_eq!(relays.next_relay(&gate), None);
    }

    #[test]
    fn a_peer_becomes_a_relay_over_a_direct_connection_only() {
        let mut relays = Relays::new(true);
        let mut links = Links::default();
        let peer = PeerId::random();
        let hop = [relay::HOP_PROTOCOL_NAME];
        let listen: Vec<Multiaddr> = vec![
            "/ip4/0.0.0.0/tcp/1".parse().unwrap(),
            "/ip4/10.0.0.9/tcp/1".parse().unwrap(),
        ];
        let circuit = crate::net::links::Link {
            id: ConnectionId::new_unchecked(1),
            addr: "/ip4/10.0.0.1/tcp/1/p2p-circuit".parse().unwrap(),
            relayed: true,
            dialed: true,
        };
        let inbound = crate::net::links::Link {
            id: ConnectionId::new_unchecked(2),
            addr: "/ip4/10.0.0.2/tcp/5".parse().unwrap(),
            relayed: false,
            dialed: false,
        };
        links.opened(peer, circuit);
        links.opened(peer, inbound);
        assert!(!relays.note(&links, peer, ConnectionId::new_unchecked(1), &hop, &listen));
        assert!(relays.note(&links, peer, ConnectionId::new_unchecked(2), &hop, &listen));
        // Named by an address it listens on (it dialed this peer), not the unspecified one.
        assert_eq!(relays.offered[&peer], listen[1]);
        // It no longer offers the service.
        assert!(!relays.note(&links, peer, ConnectionId::new_unchecked(2), &[], &listen));
        assert!(relays.offered.is_empty());
    }

    #[test]
    fn only_relay_listeners_are_reported_as_such() {
        let (mut relays, peers) = relays_offered(1);
        let (ours, other) = (ListenerId::next(), ListenerId::next());
        relays.listeners.insert(ours, peers[0]);
        let addr: Multiaddr = "/ip4/10.0.0.1/tcp/4001".parse().unwrap();
        assert!(relays.on_listen_addr(ours, &addr));
        assert!(!relays.on_listen_addr(other, &addr));
    }
}
