//! The open connections of every connected peer, the dials waiting for theirs, and the
//! addresses this peer listens on.

use std::collections::HashMap;

use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::oneshot;

use super::behaviour::Behaviour;
use super::gate::Gate;
use super::{is_relayed, peer_id_of};
use crate::error::{Error, Result};

/// Commands about connections.
pub(crate) enum Command {
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<(PeerId, Multiaddr)>>,
    },
}

/// One open connection to a peer.
#[derive(Debug, Clone)]
pub(super) struct Link {
    pub(super) id: ConnectionId,
    /// The remote address, or for a relayed connection the circuit it came through.
    pub(super) addr: Multiaddr,
    pub(super) relayed: bool,
    /// This peer dialed it (so `addr` is an address the remote can be reached at).
    pub(super) dialed: bool,
}

/// Connections, dials and listen addresses.
#[derive(Default)]
pub(super) struct Links {
    by_peer: HashMap<PeerId, Vec<Link>>,
    dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId>>>,
    /// The addresses this peer listens on.
    pub(super) listen_addrs: Vec<Multiaddr>,
}

impl Links {
    pub(super) fn with_listen_addrs(listen_addrs: Vec<Multiaddr>) -> Self {
        Self {
            listen_addrs,
            ..Self::default()
        }
    }

    pub(super) fn on_command(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        gate: &Gate,
        command: Command,
    ) {
        match command {
            Command::ListenAddrs { reply } => {
                let own = *swarm.local_peer_id();
                let addrs = self
                    .listen_addrs
                    .iter()
                    .map(|a| a.clone().with_p2p(own).unwrap_or_else(|a| a))
                    .collect();
                let _ = reply.send(addrs);
            }
            Command::Dial { addr, reply } => self.dial(swarm, gate, addr, reply),
            Command::Peers { reply } => {
                let _ = reply.send(self.peers());
            }
        }
    }

    fn dial(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        gate: &Gate,
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId>>,
    ) {
        let opts = match peer_id_of(&addr) {
            Some(peer) => {
                if let Some(answer) = self.dial_shortcut(gate, *swarm.local_peer_id(), peer, &addr)
                {
                    let _ = reply.send(answer);
                    return;
                }
                // Always: a dial the DHT or gossip already started for this peer must not make
                // the user's connect fail; a second connection is harmless.
                DialOpts::peer_id(peer)
                    .condition(PeerCondition::Always)
                    .addresses(vec![addr])
                    .build()
            }
            None => DialOpts::unknown_peer_id().address(addr).build(),
        };
        let id = opts.connection_id();
        match swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(id, reply);
            }
            Err(e) => {
                let _ = reply.send(Err(Error::Dial(Box::new(e))));
            }
        }
    }

    /// The answer to a dial of `peer` at `addr` that needs no new connection: refused (banned,
    /// cut off, this peer itself) or done already. `None`: dial.
    fn dial_shortcut(
        &self,
        gate: &Gate,
        own: PeerId,
        peer: PeerId,
        addr: &Multiaddr,
    ) -> Option<Result<PeerId>> {
        if gate.is_banned(&peer) || gate.is_gated(&peer) {
            return Some(Err(Error::ShutOut(peer)));
        }
        if peer == own {
            return Some(Err(Error::Network("cannot dial myself".into())));
        }
        // Already connected: done, unless this asks for a direct connection and the only ones
        // open are relayed.
        let links = self.by_peer.get(&peer)?;
        (is_relayed(addr) || links.iter().any(|l| !l.relayed)).then_some(Ok(peer))
    }

    /// Connected peers with one address each: a direct connection's when there is one.
    pub(super) fn peers(&self) -> Vec<(PeerId, Multiaddr)> {
        self.by_peer
            .iter()
            .filter_map(|(p, links)| {
                let link = links.iter().find(|l| !l.relayed).or(links.first())?;
                Some((*p, link.addr.clone()))
            })
            .collect()
    }

    pub(super) fn is_connected(&self, peer: &PeerId) -> bool {
        self.by_peer.contains_key(peer)
    }

    pub(super) fn connected(&self) -> impl Iterator<Item = &PeerId> {
        self.by_peer.keys()
    }

    /// The connection `id` of `peer`, if open.
    pub(super) fn get(&self, peer: &PeerId, id: ConnectionId) -> Option<&Link> {
        self.by_peer.get(peer)?.iter().find(|l| l.id == id)
    }

    /// The relayed connections of `peer`.
    pub(super) fn relayed(&self, peer: &PeerId) -> Vec<ConnectionId> {
        self.by_peer
            .get(peer)
            .into_iter()
            .flatten()
            .filter(|l| l.relayed)
            .map(|l| l.id)
            .collect()
    }

    /// A connection came up: answers the dial that made it and records it. Returns whether it
    /// answered a dial asked for ([`Command::Dial`]).
    pub(super) fn opened(&mut self, peer: PeerId, link: Link) -> bool {
        let asked = self.dials.remove(&link.id);
        let answered = asked.is_some();
        if let Some(reply) = asked {
            let _ = reply.send(Ok(peer));
        }
        self.by_peer.entry(peer).or_default().push(link);
        answered
    }

    /// Peers with a relayed connection.
    pub(super) fn relayed_peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        (self.by_peer.iter())
            .filter(|(_, links)| links.iter().any(|l| l.relayed))
            .map(|(p, _)| *p)
    }

    /// A dial failed, or its connection was refused.
    pub(super) fn dial_failed(&mut self, id: ConnectionId, error: Error) {
        if let Some(reply) = self.dials.remove(&id) {
            let _ = reply.send(Err(error));
        }
    }

    /// Connection `id` of `peer` closed, `remaining` still open. Returns whether the peer is
    /// left without a direct connection, and whether it is gone altogether.
    pub(super) fn closed(&mut self, peer: &PeerId, id: ConnectionId, remaining: u32) -> Closed {
        let mut closed = Closed::default();
        if let Some(links) = self.by_peer.get_mut(peer) {
            links.retain(|l| l.id != id);
            closed.no_direct = !links.iter().any(|l| !l.relayed);
        }
        closed.gone = remaining == 0 && self.by_peer.remove(peer).is_some();
        closed
    }

    /// Peers mDNS found on the LAN: dialed unless connected (or shut out).
    pub(super) fn dial_lan_peers(
        &self,
        swarm: &mut Swarm<Behaviour>,
        gate: &Gate,
        found: Vec<(PeerId, Multiaddr)>,
    ) {
        let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
        for (peer, addr) in found {
            if !self.is_connected(&peer) && !gate.shut_out(&peer) {
                by_peer.entry(peer).or_default().push(addr);
            }
        }
        for (peer, addrs) in by_peer {
            for addr in &addrs {
                swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            }
            let opts = DialOpts::peer_id(peer)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .addresses(addrs)
                .build();
            if let Err(e) = swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "cannot dial a LAN peer");
            }
        }
    }
}

/// What a closed connection left (see [`Links::closed`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Closed {
    pub(super) no_direct: bool,
    pub(super) gone: bool,
}

/// The address that describes a connection: the remote address, or for a connection that came
/// in through a relay, the circuit (`<relay>/p2p/<relay id>/p2p-circuit/p2p/<peer>`).
pub(super) fn link_addr(endpoint: &ConnectedPoint, peer: PeerId) -> Multiaddr {
    match endpoint {
        ConnectedPoint::Dialer { address, .. } => address.clone(),
        ConnectedPoint::Listener { local_addr, .. } if is_relayed(local_addr) => {
            local_addr.clone().with(Protocol::P2p(peer))
        }
        ConnectedPoint::Listener { send_back_addr, .. } => send_back_addr.clone(),
    }
}

/// `addr` without a trailing `/p2p/<id>` (a relay's own id inside a circuit address stays).
pub(super) fn without_peer(addr: &Multiaddr) -> Multiaddr {
    let mut addr = addr.clone();
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}

/// Whether an address names the unspecified IP (`0.0.0.0`, `::`), which nobody can dial.
pub(super) fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::PeerLimits;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    fn link(addr_s: &str, relayed: bool) -> Link {
        Link {
            id: ConnectionId::new_unchecked(rand::random()),
            addr: addr(addr_s),
            relayed,
            dialed: true,
        }
    }

    #[test]
    fn a_peer_is_listed_at_its_direct_address_when_it_has_one() {
        let mut links = Links::default();
        let peer = PeerId::random();
        let circuit = link("/ip4/10.0.0.1/tcp/1/p2p-circuit", true);
        links.opened(peer, circuit.clone());
        assert_eq!(links.peers(), vec![(peer, circuit.addr.clone())]);
        let direct = link("/ip4/10.0.0.2/tcp/2", false);
        links.opened(peer, direct.clone());
        assert_eq!(links.peers(), vec![(peer, direct.addr.clone())]);
        assert_eq!(links.relayed(&peer), vec![circuit.id]);
        assert!(links.get(&peer, direct.id).is_some());

        // The direct one closes: only the circuit is left; then that closes too.
        let closed = links.closed(&peer, direct.id, 1);
        assert_eq!(
            closed,
            Closed {
                no_direct: true,
                gone: false
            }
        );
        assert!(links.closed(&peer, circuit.id, 0).gone);
        assert!(!links.is_connected(&peer) && links.peers().is_empty());
    }

    #[test]
    fn dials_of_banned_connected_or_own_peers_need_no_connection() {
        let mut links = Links::default();
        let gate = Gate::new(PeerLimits::default());
        let (own, peer) = (PeerId::random(), PeerId::random());
        let direct = addr("/ip4/10.0.0.2/tcp/2");
        assert!(links.dial_shortcut(&gate, own, peer, &direct).is_none());
        assert!(matches!(
            links.dial_shortcut(&gate, own, own, &direct),
            Some(Err(_))
        ));
        links.opened(peer, link("/ip4/10.0.0.1/tcp/1/p2p-circuit", true));
        // Connected through a relay only: a direct address is still dialed, a circuit is not.
        assert!(links.dial_shortcut(&gate, own, peer, &direct).is_none());
        let circuit = addr("/ip4/10.0.0.1/tcp/1/p2p-circuit");
        assert!(matches!(
            links.dial_shortcut(&gate, own, peer, &circuit),
            Some(Ok(p)) if p == peer
        ));
    }

    #[test]
    fn addresses_lose_their_trailing_peer_id_only() {
        let relay = PeerId::random();
        let peer = PeerId::random();
        let circuit = addr("/ip4/10.0.0.1/tcp/1")
            .with(Protocol::P2p(relay))
            .with(Protocol::P2pCircuit);
        assert_eq!(
            without_peer(&circuit.clone().with(Protocol::P2p(peer))),
            circuit
        );
        assert_eq!(without_peer(&circuit), circuit);
        assert!(is_unspecified(&addr("/ip4/0.0.0.0/tcp/1")));
        assert!(!is_unspecified(&addr("/ip4/127.0.0.1/tcp/1")));
    }
}
