//! The libp2p network actor. It offers; the services own.
//!
//! One `Behaviour` (TCP + Noise + Yamux, QUIC and relay circuits; identify, ping, Kademlia,
//! gossipsub and the services' request-response protocols; circuit relay v2, DCUtR, AutoNAT,
//! and mDNS only when [`NetworkConfig::mdns`] asks for it) is driven by one `EventLoop` task
//! that alone owns the `Swarm`. A peer that cannot be reached directly listens through a relay
//! (see [`RelayConfig`]), and requests to a peer that is not connected also try the circuit
//! through every connected relay. Everything else talks to it through a cloneable [`Client`]:
//! each call sends a command on a bounded channel together with a `oneshot` for the answer.
//! Network events the rest of the peer cares about (peers coming and going, gossip messages the
//! validators accepted) come out of a bounded [`NetEvent`] receiver.
//!
//! The network knows no service. Each one registers what it offers in [`Services`] when the
//! actor starts: request-response [`Protocol`]s with their size limits and a [`Handler`] (run
//! on the blocking pool, so that a slow disk never stalls the swarm, within per-peer limits and
//! a cap on requests served at once), gossip [`Topic`]s with their validators, and a check on
//! the DHT records others store here. The services' own modules hold their messages, limits
//! and validators, and typed wrappers over [`Client::request`]; DHT keys are plain bytes.
//!
//! Once [`Client::shutdown`] returned, or the task ended any other way, every call fails with
//! [`Error::NetworkStopped`](crate::Error::NetworkStopped).
//!
//! ```no_run
//! # async fn demo() -> busker_core::Result<()> {
//! use busker_core::net::{self, NetworkConfig, Services};
//! let key = libp2p::identity::Keypair::generate_ed25519();
//! let (client, mut events) = net::spawn(key, NetworkConfig::loopback(), Services::default()).await?;
//! println!("listening on {:?}", client.listen_addrs().await?);
//! client.shutdown().await;
//! # Ok(()) }
//! ```

mod behaviour;
mod client;
mod conns;
mod dht;
mod event_loop;
mod gate;
mod gossip;
mod limits;
mod links;
mod relay;
mod requests;
mod router;
mod service;
mod serving;
mod traffic;

use std::sync::Arc;
use std::time::Duration;

use libp2p::multiaddr::Protocol as Part;

pub use client::Client;
pub use libp2p::identity::Keypair;
pub use libp2p::{Multiaddr, PeerId, StreamProtocol};
pub use service::{BanBook, Handler, Protocol, RecordFilter, Reply, Services, Topic};
pub use traffic::{Traffic, TrafficCount};

use crate::error::{Error, Result};

/// How a network actor binds and whom it meets.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Addresses to listen on (for example `/ip4/127.0.0.1/tcp/0`).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start.
    pub bootstrap: Vec<Multiaddr>,
    /// Keep to loopback: addresses learned from identify or the DHT that are not loopback are
    /// ignored (tests, benches and demos).
    pub loopback_only: bool,
    /// How long an idle connection stays open.
    pub idle_timeout: Duration,
    /// Most inbound requests served at once (over every protocol); more are refused.
    pub max_inbound_requests: usize,
    /// Cap on the bulk bytes per second this peer serves (chunk data: all peers together, see
    /// [`Reply::Paced`]); `None`: no cap. Used to simulate slow seeds in tests and benches.
    pub serve_rate: Option<u64>,
    /// Per-peer limits on inbound requests and what gets a peer banned.
    pub limits: PeerLimits,
    /// Most connections open at once, all peers together (inbound and outbound); more are
    /// denied as they are made.
    pub max_connections: u32,
    /// Most connections open at once to one peer (TCP, QUIC and relayed ones together).
    pub max_connections_per_peer: u32,
    /// Addresses other peers are known to reach this one at (a public address, a port
    /// forward). They are announced and make this peer a relay for peers that cannot be
    /// reached directly. AutoNAT adds the addresses it confirms.
    pub external: Vec<Multiaddr>,
    /// Relaying: the relay service this peer gives others, and whether it reserves a relay
    /// slot itself when it cannot be reached directly.
    pub relay: RelayConfig,
    /// LAN discovery (mDNS): finds peers on the local network and dials them. Off by default:
    /// it sends multicast traffic beyond this machine. Never runs when `loopback_only` is set.
    pub mdns: bool,
    /// Also speak libp2p's in-process memory transport (`/memory/N` addresses), with the same
    /// Noise + Yamux upgrade as TCP. Off in every real peer: it only reaches peers of the same
    /// process. The scale harness (`benches/benches/scale.rs`) runs a thousand peers in one
    /// process on it, where TCP on loopback would need more file descriptors than the process
    /// may open.
    pub memory_transport: bool,
    /// How many peers to stay connected to (see [`ConnectionTargets`]).
    pub connections: ConnectionTargets,
}

/// The connection manager's watermarks: above `high` connected peers, the least recently used
/// that nothing needs are disconnected until `low` are left. Kept whatever the count: the
/// gossip mesh peers, peers with a request either way within the idle timeout (transfers,
/// catalog sync, the radio tree), peers dialed on purpose (bootstrap, [`Client::dial`]),
/// relays in use, and peers connected for less than `grace`. Gossipsub keeps every connection
/// open (its streams count as use), so without this a peer ends connected to every peer its
/// DHT queries ever reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionTargets {
    /// Peers left connected after a trim.
    pub low: usize,
    /// Peers connected above which a trim starts.
    pub high: usize,
    /// How long a new connection is left alone.
    pub grace: Duration,
}

impl Default for ConnectionTargets {
    /// 25-50 peers: several times the gossip mesh (4-8 per topic), few enough that upkeep
    /// stays small (about 108 KiB of memory and 560 bytes a minute per connection, SCALING.md).
    fn default() -> Self {
        Self {
            low: 25,
            high: 50,
            grace: Duration::from_secs(30),
        }
    }
}

/// Relaying through a third peer (circuit relay v2) and the direct upgrade after it (DCUtR).
///
/// Every peer runs the relay service; it is offered (the hop protocol advertised) while the
/// peer has a confirmed external address, since a relay nobody can reach is of no use. A peer
/// with no direct external address (or that AutoNAT found private) listens through up to two
/// connected relays, so that others reach it at `<relay>/p2p/<relay id>/p2p-circuit/p2p/<id>`.
#[derive(Debug, Clone, PartialEq)]
pub struct RelayConfig {
    /// Reserve a slot on connected relays when this peer cannot be reached directly.
    pub use_relays: bool,
    /// Try a direct connection (hole punching, DCUtR) over every relayed connection.
    pub hole_punching: bool,
    /// Reservations this peer holds for others at once.
    pub max_reservations: usize,
    /// Reservations one peer may hold here.
    pub max_reservations_per_peer: usize,
    /// Relayed connections (circuits) open through this peer at once.
    pub max_circuits: usize,
    /// Circuits one peer may have open through this peer.
    pub max_circuits_per_peer: usize,
    /// How long one circuit may stay open.
    pub max_circuit_duration: Duration,
    /// Bytes one circuit may carry (both ways together).
    pub max_circuit_bytes: u64,
}

impl Default for RelayConfig {
    /// Bounded, but with circuits large and long enough to stream whole tracks (libp2p's own
    /// defaults, 128 KiB and 2 minutes, would cut a download short).
    fn default() -> Self {
        Self {
            use_relays: true,
            hole_punching: true,
            max_reservations: 64,
            max_reservations_per_peer: 2,
            max_circuits: 16,
            max_circuits_per_peer: 4,
            max_circuit_duration: Duration::from_secs(60 * 60),
            max_circuit_bytes: 1 << 30,
        }
    }
}

/// How much one peer may ask of this one. Each peer has a token bucket of requests: a request
/// without a token is refused and counts as a strike, as does every invalid gossip message it
/// sends; strikes fade with time, and a peer whose strikes reach `max_strikes` is banned
/// (disconnected, refused from then on, its gossip score lowered).
#[derive(Debug, Clone, PartialEq)]
pub struct PeerLimits {
    /// Requests per second a peer may send, on average.
    pub requests_per_sec: f64,
    /// Requests a peer may send at once after a quiet time (the bucket size).
    pub request_burst: f64,
    /// Requests of one peer served at the same time; more are refused (without a strike: an
    /// honest peer downloading several tracks may get there).
    pub max_inflight_per_peer: usize,
    /// Strikes that get a peer banned.
    pub max_strikes: f64,
    /// Strikes forgiven per second.
    pub strike_decay_per_sec: f64,
    /// How long a ban lasts. Bans outlive the connection and, with a
    /// [`BanBook`](service::BanBook), a restart.
    pub ban_duration: Duration,
    /// A gossip score under which a peer that sent an invalid message is banned. Gossipsub
    /// weighs recent invalid messages at -100 x 0.5 x their (fading) count squared, so the
    /// default bans a peer whose second invalid message follows the first within about 2 s;
    /// each invalid message also costs 40 strikes, which bans a slower offender at its third.
    pub ban_gossip_score: f64,
}

impl Default for PeerLimits {
    fn default() -> Self {
        Self {
            requests_per_sec: 200.0,
            request_burst: 400.0,
            max_inflight_per_peer: 32,
            max_strikes: 100.0,
            strike_decay_per_sec: 1.0,
            ban_duration: Duration::from_secs(24 * 3600),
            ban_gossip_score: -150.0,
        }
    }
}

impl NetworkConfig {
    /// Listen on a free port of 127.0.0.1, keep to loopback.
    pub fn loopback() -> Self {
        Self {
            listen: vec![loopback_any_port(), loopback_quic_any_port()],
            bootstrap: Vec::new(),
            loopback_only: true,
            idle_timeout: Duration::from_secs(60),
            max_inbound_requests: 64,
            serve_rate: None,
            limits: PeerLimits::default(),
            max_connections: 512,
            max_connections_per_peer: 8,
            external: Vec::new(),
            relay: RelayConfig::default(),
            mdns: false,
            memory_transport: false,
            connections: ConnectionTargets::default(),
        }
    }
}

/// `/ip4/127.0.0.1/tcp/0`.
pub fn loopback_any_port() -> Multiaddr {
    Multiaddr::empty()
        .with(Part::Ip4(std::net::Ipv4Addr::LOCALHOST))
        .with(Part::Tcp(0))
}

/// `/ip4/127.0.0.1/udp/0/quic-v1`: QUIC on loopback, a free UDP port.
pub fn loopback_quic_any_port() -> Multiaddr {
    Multiaddr::empty()
        .with(Part::Ip4(std::net::Ipv4Addr::LOCALHOST))
        .with(Part::Udp(0))
        .with(Part::QuicV1)
}

/// `/memory/0`: a free port of the in-process memory transport (see
/// [`NetworkConfig::memory_transport`]).
pub fn memory_any_port() -> Multiaddr {
    Multiaddr::empty().with(Part::Memory(0))
}

/// Whether an address goes over QUIC.
pub fn is_quic(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Part::QuicV1))
}

/// Whether an address is a loopback address (or names no IP at all).
pub fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().all(|p| match p {
        Part::Ip4(ip) => ip.is_loopback(),
        Part::Ip6(ip) => ip.is_loopback(),
        Part::Dns(_) | Part::Dns4(_) | Part::Dns6(_) | Part::Dnsaddr(_) => false,
        _ => true,
    })
}

/// Whether an address goes through a relay (`.../p2p-circuit/...`).
pub fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Part::P2pCircuit))
}

/// The circuit address through `relay`, reached at `relay_addr`: what this peer listens on to
/// reserve a slot there, and, with `/p2p/<peer>` after it, the route to a peer listening there.
pub fn circuit_through(relay_addr: &Multiaddr, relay: PeerId) -> Multiaddr {
    relay_addr
        .clone()
        .with(Part::P2p(relay))
        .with(Part::P2pCircuit)
}

/// The peer id at the end of an address (`/p2p/...`), if any: for a relayed address the peer
/// behind the relay, not the relay.
pub fn peer_id_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().fold(None, |found, p| match p {
        Part::P2p(id) => Some(id),
        Part::P2pCircuit => None,
        _ => found,
    })
}

/// What a topic validator decides about one gossip message (see [`Client::subscribe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Valid: deliver it here and forward it.
    Accept,
    /// Invalid (forged, malformed): drop it and count it against the peer that sent it.
    Reject,
    /// Not useful (too old, a duplicate): drop it without penalty.
    Ignore,
}

/// Checks a message on a topic before it is delivered or forwarded: the data and the peer that
/// signed the gossip envelope. Runs on the network actor's task, so it must be quick.
pub type TopicValidator = Arc<dyn Fn(&[u8], Option<&PeerId>) -> Validation + Send + Sync>;

/// What the network tells the rest of the peer.
#[derive(Debug, Clone)]
pub enum NetEvent {
    /// The first connection to a peer opened.
    PeerConnected {
        /// The peer.
        peer: PeerId,
        /// The address of that connection.
        addr: Multiaddr,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
    },
    /// A message on a subscribed topic (see [`Client::subscribe`], [`Services::topic`]) that its
    /// validator accepted; it has been accepted for forwarding.
    TopicMessage {
        /// The topic.
        topic: String,
        /// The message (already checked by the validator).
        data: Vec<u8>,
        /// The peer that published it.
        source: Option<PeerId>,
    },
}

/// Starts a network actor with identity `key` offering `services`: subscribes to their topics,
/// listens on `config.listen` (waiting until every listener has an address), dials
/// `config.bootstrap` (without waiting), and returns its client and its event receiver.
/// Dropping every `Client` stops the actor, as does [`Client::shutdown`].
pub async fn spawn(
    key: Keypair,
    config: NetworkConfig,
    services: Services,
) -> Result<(Client, tokio::sync::mpsc::Receiver<NetEvent>)> {
    let peer_id = key.public().to_peer_id();
    let (commands, events, traffic) = event_loop::spawn(key, config, services).await?;
    Ok((Client::new(commands, peer_id, traffic), events))
}

/// The libp2p identity of a peer from its 32-byte ed25519 seed (`keys/peer.key`).
pub fn keypair_from_seed(seed: [u8; 32]) -> Result<Keypair> {
    let mut seed = seed;
    Keypair::ed25519_from_bytes(&mut seed).map_err(|e| Error::Network(format!("peer key: {e}")))
}
