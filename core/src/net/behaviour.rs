//! The one composed libp2p [`Behaviour`] of a Busker peer and its configuration.

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{StreamProtocol, gossipsub, identify, kad, ping, request_response};

use super::codec::{MAX_ANNOUNCE_BYTES, PROTOCOL, TransferCodec};
use crate::radio::MAX_SEGMENT_BYTES;

/// The gossipsub topic release announcements travel on.
pub const RELEASES_TOPIC: &str = "busker/releases/1";
/// The gossipsub topic radio channels are announced on.
pub const CHANNELS_TOPIC: &str = "busker/channels/1";
/// The Kademlia protocol name (a private DHT: Busker peers only).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/busker/kad/1");
/// The identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/busker/id/1";

/// Everything a Busker peer speaks.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Release announcements.
    pub gossipsub: gossipsub::Behaviour,
    /// Provider records and peer routing.
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Manifests, chunk ranges and catalog pages.
    pub transfer: request_response::Behaviour<TransferCodec>,
    /// Learns listen addresses and protocols of peers.
    pub identify: identify::Behaviour,
    /// Keeps connections alive and measures round trips.
    pub ping: ping::Behaviour,
}

impl Behaviour {
    /// Builds the behaviour for `key`.
    pub fn new(key: &Keypair) -> Result<Self, String> {
        let peer_id = key.public().to_peer_id();

        // Small swarms: a small mesh, a fast first heartbeat, messages big enough for the
        // largest manifest or radio segment, and explicit validation so that nothing unchecked is forwarded.
        let gossip_config = gossipsub::ConfigBuilder::default()
            .mesh_n(4)
            .mesh_n_low(2)
            .mesh_n_high(8)
            .mesh_outbound_min(1)
            .heartbeat_initial_delay(Duration::from_millis(100))
            .heartbeat_interval(Duration::from_millis(700))
            .max_transmit_size(MAX_ANNOUNCE_BYTES.max(MAX_SEGMENT_BYTES) + 4096)
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
        let mut kad = kad::Behaviour::with_config(peer_id, store, kad_config);
        // Every Busker peer answers DHT queries; without this a peer on loopback (no confirmed
        // external address) would stay a client and the DHT would be empty.
        kad.set_mode(Some(kad::Mode::Server));

        let transfer = request_response::Behaviour::with_codec(
            TransferCodec,
            [(PROTOCOL, request_response::ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(20))
                .with_max_concurrent_streams(64),
        );
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), key.public())
                .with_agent_version(format!("busker/{}", env!("CARGO_PKG_VERSION"))),
        );
        let ping = ping::Behaviour::new(ping::Config::new());
        Ok(Self {
            gossipsub,
            kad,
            transfer,
            identify,
            ping,
        })
    }
}

fn score_params() -> gossipsub::PeerScoreParams {
    let mut params = gossipsub::PeerScoreParams::default();
    let topic = gossipsub::IdentTopic::new(RELEASES_TOPIC).hash();
    let topic_params = gossipsub::TopicScoreParams {
        // Invalid messages (forged manifests) cost a lot and are remembered for a while.
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        // Small swarms do not deliver enough to meet mesh delivery targets; do not punish that.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..Default::default()
    };
    params.topics.insert(topic, topic_params);
    // The transfer layer reports peers that served bad chunks through the application score.
    params.app_specific_weight = 1.0;
    // Many test peers share 127.0.0.1: do not treat that as a Sybil attack.
    params.ip_colocation_factor_weight = 0.0;
    params
}

fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        ..Default::default()
    }
}
