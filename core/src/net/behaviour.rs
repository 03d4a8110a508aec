//! The one composed libp2p [`Behaviour`] of a Busker peer and its configuration.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::identity::Keypair;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{
    PeerId, StreamProtocol, autonat, connection_limits, dcutr, gossipsub, identify, kad, mdns,
    ping, relay, request_response,
};

use super::NetworkConfig;

/// Inbound connections still in their handshake at once; more are denied.
const MAX_PENDING_INCOMING: u32 = 64;
use super::router::{Router, Spec};

/// The Kademlia protocol name (a private DHT: Busker peers only).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/busker/kad/1");
/// The identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/busker/id/1";

/// Everything a Busker peer speaks.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Caps on connections (all peers, one peer, half-open inbound). First, so that a
    /// connection over a cap is denied before any other behaviour sets up for it.
    pub connection_limits: connection_limits::Behaviour,
    /// The services' gossip topics (release announcements, radio channels).
    pub gossipsub: gossipsub::Behaviour,
    /// Provider records and peer routing.
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    /// The services' request-response protocols.
    pub services: Router,
    /// Learns listen addresses and protocols of peers.
    pub identify: identify::Behaviour,
    /// Keeps connections alive and measures round trips.
    pub ping: ping::Behaviour,
    /// The relay service for peers that cannot be reached directly (circuit relay v2, hop).
    pub relay: relay::Behaviour,
    /// Reserves slots on relays and dials through them (the client half of the relay).
    pub relay_client: relay::client::Behaviour,
    /// Upgrades relayed connections to direct ones by hole punching, when enabled.
    pub dcutr: Toggle<dcutr::Behaviour>,
    /// Asks peers to dial this one back, to learn whether it is reachable (AutoNAT v1; also
    /// answers such requests).
    pub autonat: autonat::Behaviour,
    /// LAN discovery, only when `NetworkConfig::mdns` is on (and not loopback-only).
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// Addresses known to be reachable, announced to the other behaviours.
    pub known_external: KnownExternal,
}

/// Addresses this peer is known to be reachable at without anyone having observed them
/// (configured ones; on loopback, the listen addresses). [`KnownExternal::confirm`] reports
/// each first as a candidate, then as confirmed: the swarm only passes on candidates that are
/// not confirmed yet, and DCUtR takes its hole-punching addresses from candidates alone, so an
/// address confirmed straight away would never be offered for a direct connection.
#[derive(Default)]
pub struct KnownExternal {
    pending: VecDeque<Multiaddr>,
    /// The address whose candidate event went out and whose confirmation is next.
    confirming: Option<Multiaddr>,
    waker: Option<Waker>,
}

impl KnownExternal {
    /// Reports `addr` as reachable.
    pub fn confirm(&mut self, addr: Multiaddr) {
        self.pending.push_back(addr);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

impl NetworkBehaviour for KnownExternal {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _: FromSwarm<'_>) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        if let Some(addr) = self.confirming.take() {
            return Poll::Ready(ToSwarm::ExternalAddrConfirmed(addr));
        }
        if let Some(addr) = self.pending.pop_front() {
            self.confirming = Some(addr.clone());
            return Poll::Ready(ToSwarm::NewExternalAddrCandidate(addr));
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Behaviour {
    /// Builds the behaviour for `key` with `config`'s relay limits and switches, the services'
    /// request-response `protocols` and gossip messages up to `max_message` bytes;
    /// `relay_client` comes from the transport (`SwarmBuilder::with_relay_client`).
    pub(super) fn new(
        key: &Keypair,
        config: &NetworkConfig,
        relay_client: relay::client::Behaviour,
        protocols: Vec<Spec>,
        max_message: usize,
    ) -> Result<Self, String> {
        let peer_id = key.public().to_peer_id();

        // Small swarms: a small mesh, a fast first heartbeat, messages big enough for the
        // largest a service sends (a manifest, a radio segment), and explicit validation so
        // that nothing unchecked is forwarded.
        let gossip_config = gossipsub::ConfigBuilder::default()
            .mesh_n(4)
            .mesh_n_low(2)
            .mesh_n_high(8)
            .mesh_outbound_min(1)
            .heartbeat_initial_delay(Duration::from_millis(100))
            .heartbeat_interval(Duration::from_millis(700))
            .max_transmit_size(max_message + 4096)
            // Publish to the mesh only: a radio broadcaster then uploads each segment to a
            // handful of peers however many listen, and listeners relay it.
            .flood_publish(false)
            .validation_mode(gossipsub::ValidationMode::Strict)
            .validate_messages()
            .message_id_fn(|m: &gossipsub::Message| {
                gossipsub::MessageId::from(blake3::hash(&m.data).as_bytes().to_vec())
            })
            .build()
            .map_err(|e| e.to_string())?;
        let mut gossipsub = gossipsub::Behaviour::new(
            gossipsub::MessageAuthenticity::Signed(key.clone()),
            gossip_config,
        )?;
        gossipsub.with_peer_score(score_params(), score_thresholds())?;

        let mut kad_config = kad::Config::new(KAD_PROTOCOL);
        kad_config
            .set_query_timeout(Duration::from_secs(20))
            .set_provider_publication_interval(Some(Duration::from_secs(30 * 60)))
            .set_provider_record_ttl(Some(Duration::from_secs(2 * 60 * 60)))
            .set_periodic_bootstrap_interval(Some(Duration::from_secs(5 * 60)));
        let store = kad::store::MemoryStore::with_config(
            peer_id,
            kad::store::MemoryStoreConfig {
                max_provided_keys: 100_000,
                max_providers_per_key: 64,
                ..Default::default()
            },
        );
        // Records other peers put here are checked before they are stored (see
        // `EventLoop::on_inbound_record`): a forger must not overwrite an artist's profile.
        kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
        // Peers enter the routing table through `dht::add_address` only (connected peers, at
        // the addresses they listen on), never on hold for a full bucket (see there).
        kad_config.set_kbucket_inserts(kad::BucketInserts::Manual);
        let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
        // Every Busker peer answers DHT queries; without this a peer on loopback (no confirmed
        // external address) would stay a client and the DHT would be empty.
        kad.set_mode(Some(kad::Mode::Server));

        let services = Router::new(
            protocols,
            &request_response::Config::default()
                .with_request_timeout(Duration::from_secs(20))
                .with_max_concurrent_streams(64),
        );
        // Listen address changes (a new relayed address above all) are pushed to connected
        // peers at once, so they can pass them on before the next periodic identify.
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                .with_agent_version(format!("busker/{}", env!("CARGO_PKG_VERSION")))
                .with_push_listen_addr_updates(true),
        );
        let ping = ping::Behaviour::new(ping::Config::new());

        let limits = &config.relay;
        let relay = relay::Behaviour::new(
            peer_id,
            relay::Config {
                max_reservations: limits.max_reservations,
                max_reservations_per_peer: limits.max_reservations_per_peer,
                max_circuits: limits.max_circuits,
                max_circuits_per_peer: limits.max_circuits_per_peer,
                max_circuit_duration: limits.max_circuit_duration,
                max_circuit_bytes: limits.max_circuit_bytes,
                // libp2p's rate limits on new reservations and circuits (per peer and per IP)
                // stay as they are.
                ..relay::Config::default()
            },
        );
        let dcutr = Toggle::from(limits.hole_punching.then(|| dcutr::Behaviour::new(peer_id)));
        // Only global addresses count (the default): a peer is not "public" because a
        // neighbour on the same LAN or machine reached it. On loopback AutoNAT stays idle.
        let autonat = autonat::Behaviour::new(
            peer_id,
            autonat::Config {
                only_global_ips: true,
                ..autonat::Config::default()
            },
        );
        // A machine where mDNS cannot start (no multicast) still gets a network, without it.
        let mdns = if config.mdns && !config.loopback_only {
            mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                .inspect_err(|e| tracing::warn!(error = %e, "LAN discovery (mDNS) did not start"))
                .ok()
        } else {
            None
        };
        let caps = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(config.max_connections))
            .with_max_established_per_peer(Some(config.max_connections_per_peer))
            .with_max_pending_incoming(Some(MAX_PENDING_INCOMING));
        Ok(Self {
            connection_limits: connection_limits::Behaviour::new(caps),
            gossipsub,
            kad,
            services,
            identify,
            ping,
            relay,
            relay_client,
            dcutr,
            autonat,
            mdns: Toggle::from(mdns),
            known_external: KnownExternal::default(),
        })
    }
}

/// The score parameters of a strict topic (see [`super::Topic::strict`]), set when it is
/// subscribed.
pub(super) fn strict_topic_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        // Invalid messages (forged manifests) cost a lot and are remembered for a while.
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        // Small swarms do not deliver enough to meet mesh delivery targets; do not punish that.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..Default::default()
    }
}

fn score_params() -> gossipsub::PeerScoreParams {
    gossipsub::PeerScoreParams {
        // The transfer layer reports peers that served bad chunks through the application score.
        app_specific_weight: 1.0,
        // Many test peers share 127.0.0.1: do not treat that as a Sybil attack.
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    }
}

fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        ..Default::default()
    }
}

/// A swarm that listens nowhere, for the unit tests of the actor's parts (call on a runtime).
#[cfg(test)]
pub(super) fn test_swarm() -> libp2p::Swarm<Behaviour> {
    let config = NetworkConfig::loopback();
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_quic()
        .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)
        .unwrap()
        .with_behaviour(|key, relay_client| {
            Behaviour::new(key, &config, relay_client, Vec::new(), 1024).unwrap()
        })
        .unwrap()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(config: &NetworkConfig) -> Behaviour {
        let key = Keypair::generate_ed25519();
        let (_transport, relay_client) = relay::client::new(key.public().to_peer_id());
        Behaviour::new(&key, config, relay_client, Vec::new(), 1024).unwrap()
    }

    #[test]
    fn mdns_is_off_by_default_and_never_on_loopback() {
        assert!(!NetworkConfig::loopback().mdns);
        assert!(!crate::Config::default().lan_discovery);
        assert!(!build(&NetworkConfig::loopback()).mdns.is_enabled());
        // Asked for, but the peer keeps to loopback (tests, demos): still off.
        let asked = NetworkConfig {
            mdns: true,
            ..NetworkConfig::loopback()
        };
        assert!(!build(&asked).mdns.is_enabled());
    }

    #[test]
    fn hole_punching_follows_the_setting() {
        assert!(build(&NetworkConfig::loopback()).dcutr.is_enabled());
        let mut config = NetworkConfig::loopback();
        config.relay.hole_punching = false;
        assert!(!build(&config).dcutr.is_enabled());
    }
}
