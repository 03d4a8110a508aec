//! The task that alone owns the `Swarm`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::core::transport::ListenerId;
use libp2p::kad::store::RecordStore as _;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, Swarm, autonat, dcutr, gossipsub, identify, kad, mdns, multiaddr::Protocol,
    relay,
};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::behaviour::{Behaviour, BehaviourEvent, RELEASES_TOPIC};
use super::codec::{Request, Response, decode_announcement};
use super::limits::{PeerLimiter, Verdict};
use super::{
    Client, ContentSource, NetEvent, NetworkConfig, TopicValidator, Validation, is_loopback,
    is_relayed,
};
use crate::error::{Error, Result};
use crate::model::TrackId;

const COMMAND_QUEUE: usize = 256;
const EVENT_QUEUE: usize = 1024;
const RESPONSE_QUEUE: usize = 256;
/// Strikes an invalid gossip message costs its sender (see [`super::PeerLimits`]).
const INVALID_GOSSIP_STRIKES: f64 = 40.0;

type Served = (PeerId, ResponseChannel<Response>, Response);

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
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response>>,
    },
    Announce {
        data: Vec<u8>,
        reply: oneshot::Sender<bool>,
    },
    Provide {
        id: TrackId,
        reply: oneshot::Sender<()>,
    },
    Providers {
        id: TrackId,
        reply: oneshot::Sender<HashSet<PeerId>>,
    },
    StoredProviders {
        id: TrackId,
        reply: oneshot::Sender<HashSet<PeerId>>,
    },
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
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    Subscribe {
        topic: String,
        validator: TopicValidator,
        reply: oneshot::Sender<Result<()>>,
    },
    Unsubscribe {
        topic: String,
        reply: oneshot::Sender<()>,
    },
    Publish {
        topic: String,
        data: Vec<u8>,
        reply: oneshot::Sender<bool>,
    },
    TopicPeers {
        topic: String,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    PutRecord {
        key: Vec<u8>,
        value: Vec<u8>,
        reply: oneshot::Sender<Result<()>>,
    },
    GetRecord {
        key: Vec<u8>,
        reply: oneshot::Sender<Vec<Vec<u8>>>,
    },
}

/// Records found so far by a DHT lookup, and where the answer goes.
type PendingRecords = (Vec<Vec<u8>>, oneshot::Sender<Vec<Vec<u8>>>);

struct EventLoop {
    swarm: Swarm<Behaviour>,
    config: NetworkConfig,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    source: Arc<dyn ContentSource>,
    responses_tx: mpsc::Sender<Served>,
    responses_rx: mpsc::Receiver<Served>,
    inbound_limit: Arc<Semaphore>,
    /// When the rate-limited server may send its next bytes.
    pacer: Arc<std::sync::Mutex<tokio::time::Instant>>,
    topic: gossipsub::IdentTopic,
    listen_addrs: Vec<Multiaddr>,
    /// Open connections of every connected peer.
    links: HashMap<PeerId, Vec<Link>>,
    /// Connected peers (directly) that offer the relay service, each with an address to name
    /// it by in a circuit address.
    relays: HashMap<PeerId, Multiaddr>,
    /// Listeners on relay circuits (reservations, pending or accepted), by relay.
    relay_listeners: HashMap<ListenerId, PeerId>,
    /// Relays whose reservation failed lately, left alone for `RELAY_RETRY`.
    relay_paused: HashMap<PeerId, Instant>,
    /// AutoNAT's latest verdict was "private".
    nat_private: bool,
    banned: HashSet<PeerId>,
    /// Request buckets and strikes of connected peers.
    limiters: HashMap<PeerId, PeerLimiter>,
    /// Peers on the other side of a simulated network partition (tests only): no connection to
    /// them is kept, none is made, nothing is sent or served. Unlike a ban it can be lifted.
    gated: HashSet<PeerId>,
    pending_dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId>>>,
    pending_requests: HashMap<OutboundRequestId, oneshot::Sender<Result<Response>>>,
    pending_providers: HashMap<kad::QueryId, PendingProviders>,
    /// Topics subscribed through `Client::subscribe`, with their names and validators.
    validators: HashMap<gossipsub::TopicHash, (String, TopicValidator)>,
    pending_records: HashMap<kad::QueryId, PendingRecords>,
    /// Provider records put while the routing table was small, with its size then: they went to
    /// the few peers known at the time, so they are put again as the table grows.
    provided_early: HashMap<kad::RecordKey, usize>,
}

/// One open connection to a peer.
struct Link {
    id: ConnectionId,
    /// The remote address, or for a relayed connection the circuit it came through.
    addr: Multiaddr,
    relayed: bool,
    /// This peer dialed it (so `addr` is an address the remote can be reached at).
    dialed: bool,
}

/// Most relays this peer listens through at once.
const MAX_RELAYS: usize = 2;
/// Most relays a request to an unconnected peer is tried through.
const MAX_RELAY_ROUTES: usize = 3;
/// How long a relay that refused a reservation is left alone.
const RELAY_RETRY: Duration = Duration::from_secs(30);
/// How often the relay listeners are checked again (for relays whose pause ended).
const RELAY_CHECK: Duration = Duration::from_secs(5);

/// A routing table this large is taken as a fair view of the network for provider records
/// (Kademlia's replication factor).
const WELL_CONNECTED: usize = 20;

/// Most records one DHT lookup collects.
const MAX_RECORDS_PER_LOOKUP: usize = 16;

pub(super) async fn spawn(
    key: libp2p::identity::Keypair,
    config: NetworkConfig,
    source: Arc<dyn ContentSource>,
) -> Result<(Client, mpsc::Receiver<NetEvent>)> {
    let peer_id = key.public().to_peer_id();
    let net_err = |e: &dyn std::fmt::Display| Error::Network(e.to_string());
    let idle = config.idle_timeout;
    let behaviour_config = config.clone();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .map_err(|e| net_err(&e))?
        .with_quic()
        // Relayed connections get Noise and Yamux on top of the circuit, like TCP.
        .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)
        .map_err(|e| net_err(&e))?
        .with_behaviour(|key, relay_client| {
            Behaviour::new(key, &behaviour_config, relay_client)
                .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
        })
        .map_err(|e| net_err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();

    let topic = gossipsub::IdentTopic::new(RELEASES_TOPIC);
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&topic)
        .map_err(|e| net_err(&e))?;

    // Listen, and wait until each listener reports an address so that callers can print them.
    let mut listeners = HashSet::new();
    for addr in &config.listen {
        listeners.insert(swarm.listen_on(addr.clone()).map_err(|e| net_err(&e))?);
    }
    let mut listen_addrs = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    let mut waiting = listeners.clone();
    while !waiting.is_empty() {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::NewListenAddr { listener_id, address } => {
                    waiting.remove(&listener_id);
                    listen_addrs.push(address);
                }
                SwarmEvent::ListenerClosed { reason: Err(e), .. } | SwarmEvent::ListenerError { error: e, .. } => {
                    return Err(Error::Network(format!("cannot listen: {e}")));
                }
                _ => {}
            },
            () = &mut deadline => return Err(Error::Network("listeners did not start within 10 s".into())),
        }
    }

    // TCP addresses first, whatever order the listeners came up in: callers that take one
    // address get the transport every peer has.
    listen_addrs.sort_by_key(super::is_quic);

    // Addresses known to be reachable. A peer kept to loopback is reached by every other peer
    // of its run (all on this machine) at its loopback listen addresses; elsewhere only
    // configured ones count until AutoNAT confirms more. Having one makes this peer a relay.
    let known = &mut swarm.behaviour_mut().known_external;
    for addr in &config.external {
        known.confirm(addr.clone());
    }
    if config.loopback_only {
        for addr in &listen_addrs {
            known.confirm(addr.clone());
        }
    }

    let (tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (responses_tx, responses_rx) = mpsc::channel(RESPONSE_QUEUE);
    let mut event_loop = EventLoop {
        swarm,
        inbound_limit: Arc::new(Semaphore::new(config.max_inbound_requests.max(1))),
        pacer: Arc::new(std::sync::Mutex::new(tokio::time::Instant::now())),
        config,
        commands,
        events,
        source,
        responses_tx,
        responses_rx,
        topic,
        listen_addrs,
        links: HashMap::new(),
        relays: HashMap::new(),
        relay_listeners: HashMap::new(),
        relay_paused: HashMap::new(),
        nat_private: false,
        banned: HashSet::new(),
        limiters: HashMap::new(),
        gated: HashSet::new(),
        pending_dials: HashMap::new(),
        pending_requests: HashMap::new(),
        pending_providers: HashMap::new(),
        validators: HashMap::new(),
        pending_records: HashMap::new(),
        provided_early: HashMap::new(),
    };
    for addr in event_loop.config.bootstrap.clone() {
        if let Err(e) = event_loop.swarm.dial(addr.clone()) {
            tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
        }
    }
    tokio::spawn(event_loop.run());
    Ok((Client::new(tx, peer_id), events_rx))
}

/// A provider query in flight: what it found so far, when it first found any, and who waits.
struct PendingProviders {
    found: HashSet<PeerId>,
    first_found: Option<Instant>,
    reply: oneshot::Sender<HashSet<PeerId>>,
}

/// How long a provider query goes on after its first providers were found. Peers near the key
/// answer within milliseconds and each knows the records put on it; after churn, waiting for the
/// whole query would wait out a timeout for every dead peer among the closest.
const PROVIDERS_GRACE: Duration = Duration::from_millis(750);

impl EventLoop {
    async fn run(mut self) {
        let mut housekeeping = tokio::time::interval(PROVIDERS_GRACE / 3);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut relay_check = tokio::time::interval(RELAY_CHECK);
        relay_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = housekeeping.tick() => self.answer_provider_queries_in_grace(),
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = relay_check.tick() => self.ensure_relays(),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.stop();
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.on_command(command),
                    None => {
                        self.stop();
                        return;
                    }
                },
                Some((peer, channel, response)) = self.responses_rx.recv() => {
                    if let Some(limiter) = self.limiters.get_mut(&peer) {
                        limiter.inflight = limiter.inflight.saturating_sub(1);
                    }
                    // The requester may have gone; nothing to do then.
                    let _ = self.swarm.behaviour_mut().transfer.send_response(channel, response);
                }
            }
        }
    }

    /// Answers the provider queries whose grace after the first providers is over, and ends
    /// them.
    fn answer_provider_queries_in_grace(&mut self) {
        let due: Vec<kad::QueryId> = self
            .pending_providers
            .iter()
            .filter(|(_, p)| {
                p.first_found
                    .is_some_and(|t| t.elapsed() >= PROVIDERS_GRACE)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.answer_providers(id);
        }
    }

    fn answer_providers(&mut self, id: kad::QueryId) {
        if let Some(pending) = self.pending_providers.remove(&id) {
            let _ = pending.reply.send(pending.found);
        }
        if let Some(mut query) = self.swarm.behaviour_mut().kad.query_mut(&id) {
            query.finish();
        }
    }

    fn routing_table_size(&mut self) -> usize {
        self.swarm
            .behaviour_mut()
            .kad
            .kbuckets()
            .map(|b| b.num_entries())
            .sum()
    }

    /// Puts provider records made while few peers were known again once the routing table has
    /// doubled since (or become well connected): a record stored only on the first few
    /// neighbours would be lost with them.
    fn provide_again_as_the_table_grows(&mut self) {
        let known = self.routing_table_size();
        let due: Vec<kad::RecordKey> = self
            .provided_early
            .iter()
            .filter(|&(_, &then)| known >= WELL_CONNECTED || known >= (2 * then).max(then + 1))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            tracing::debug!(known, "providing again: the routing table grew");
            if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key.clone()) {
                tracing::debug!(error = %e, "cannot store provider record again");
            }
            if known >= WELL_CONNECTED {
                self.provided_early.remove(&key);
            } else {
                self.provided_early.insert(key, known);
            }
        }
    }

    fn stop(&mut self) {
        let peers: Vec<_> = self.links.keys().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        tracing::debug!("network actor stopped");
    }

    fn with_p2p(&self, addr: &Multiaddr) -> Multiaddr {
        addr.clone()
            .with_p2p(*self.swarm.local_peer_id())
            .unwrap_or_else(|a| a)
    }

    /// Whether nothing may be exchanged with `peer` (banned, or behind a partition).
    fn shut_out(&self, peer: &PeerId) -> bool {
        self.banned.contains(peer) || self.gated.contains(peer)
    }

    /// Penalises a misbehaving peer: disconnects it, refuses it from now on and lowers its
    /// gossip score.
    fn ban(&mut self, peer: PeerId) {
        tracing::info!(%peer, "banning peer");
        self.banned.insert(peer);
        self.limiters.remove(&peer);
        let behaviour = self.swarm.behaviour_mut();
        behaviour.gossipsub.set_application_score(&peer, -1000.0);
        behaviour.gossipsub.blacklist_peer(&peer);
        behaviour.kad.remove_peer(&peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    /// Adds strikes to `peer`, banning it when it runs out.
    fn strike(&mut self, peer: PeerId, weight: f64) {
        let limits = &self.config.limits;
        let limiter = self
            .limiters
            .entry(peer)
            .or_insert_with(|| PeerLimiter::new(limits, Instant::now()));
        if limiter.strike(limits, Instant::now(), weight) {
            tracing::info!(%peer, "peer ran out of strikes");
            self.ban(peer);
        }
    }

    fn emit(&self, event: NetEvent) {
        if let Err(e) = self.events.try_send(event) {
            // Losing an announcement is harmless: anti-entropy fetches what gossip missed.
            tracing::debug!(error = %e, "network event dropped");
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs { reply } => {
                let addrs = self.listen_addrs.iter().map(|a| self.with_p2p(a)).collect();
                let _ = reply.send(addrs);
            }
            Command::Dial { addr, reply } => {
                if let Some(peer) = super::peer_id_of(&addr) {
                    if self.banned.contains(&peer) {
                        let _ = reply.send(Err(Error::Network(format!("peer {peer} is banned"))));
                        return;
                    }
                    if self.gated.contains(&peer) {
                        let _ = reply.send(Err(Error::Network(format!(
                            "peer {peer} is unreachable (partitioned)"
                        ))));
                        return;
                    }
                    if peer == *self.swarm.local_peer_id() {
                        let _ = reply.send(Err(Error::Network("cannot dial myself".into())));
                        return;
                    }
                    // Already connected: done, unless this asks for a direct connection and
                    // the only ones open are relayed.
                    if let Some(links) = self.links.get(&peer)
                        && (is_relayed(&addr) || links.iter().any(|l| !l.relayed))
                    {
                        let _ = reply.send(Ok(peer));
                        return;
                    }
                }
                let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
                let opts = match super::peer_id_of(&addr) {
                    // Always: a dial the DHT or gossip already started for this peer must not
                    // make the user's connect fail; a second connection is harmless.
                    Some(peer) => DialOpts::peer_id(peer)
                        .condition(PeerCondition::Always)
                        .addresses(vec![addr])
                        .build(),
                    None => opts,
                };
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.pending_dials.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Error::Network(format!("dial: {e}"))));
                    }
                }
            }
            Command::Peers { reply } => {
                let peers = self
                    .links
                    .iter()
                    .filter_map(|(p, links)| {
                        // A direct connection's address when there is one.
                        let link = links.iter().find(|l| !l.relayed).or(links.first())?;
                        Some((*p, link.addr.clone()))
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                if self.shut_out(&peer) {
                    let _ = reply.send(Err(Error::Unreachable(format!(
                        "peer {peer} is banned or cut off"
                    ))));
                    return;
                }
                // A peer not connected is dialed at the addresses the behaviours know and,
                // at the same time, through the relays this peer is connected to: if it
                // listens through one of them, that circuit reaches it.
                let routes = if self.links.contains_key(&peer) {
                    Vec::new()
                } else {
                    self.relay_routes(peer)
                };
                let id = self
                    .swarm
                    .behaviour_mut()
                    .transfer
                    .send_request_with_addresses(&peer, request, routes);
                self.pending_requests.insert(id, reply);
            }
            Command::Announce { data, reply } => {
                let topic = self.topic.clone();
                let sent = match self.swarm.behaviour_mut().gossipsub.publish(topic, data) {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::debug!(error = %e, "announcement not sent");
                        false
                    }
                };
                let _ = reply.send(sent);
            }
            Command::Provide { id, reply } => {
                let key = kad::RecordKey::new(id.as_bytes());
                if let Err(e) = self.swarm.behaviour_mut().kad.start_providing(key.clone()) {
                    tracing::warn!(track = %id, error = %e, "cannot store provider record");
                }
                let known = self.routing_table_size();
                tracing::debug!(track = %id, known, "providing");
                if known < WELL_CONNECTED {
                    self.provided_early.insert(key, known);
                }
                let _ = reply.send(());
            }
            Command::StoredProviders { id, reply } => {
                use libp2p::kad::store::RecordStore;
                let key = kad::RecordKey::new(id.as_bytes());
                let kad = &mut self.swarm.behaviour_mut().kad;
                let held = kad.store_mut().providers(&key);
                let _ = reply.send(held.into_iter().map(|r| r.provider).collect());
            }
            Command::Providers { id, reply } => {
                let query = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .get_providers(kad::RecordKey::new(id.as_bytes()));
                self.pending_providers.insert(
                    query,
                    PendingProviders {
                        found: HashSet::new(),
                        first_found: None,
                        reply,
                    },
                );
            }
            Command::Ban { peer, reply } => {
                self.ban(peer);
                let _ = reply.send(());
            }
            Command::Banned { reply } => {
                let _ = reply.send(self.banned.iter().copied().collect());
            }
            #[cfg(feature = "test-utils")]
            Command::Partition { peers, reply } => {
                for peer in &peers {
                    if self.links.contains_key(peer) {
                        let _ = self.swarm.disconnect_peer_id(*peer);
                    }
                }
                self.gated = peers;
                let _ = reply.send(());
            }
            Command::Shutdown { .. } => {}
            Command::Subscribe {
                topic,
                validator,
                reply,
            } => {
                let ident = gossipsub::IdentTopic::new(topic.clone());
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .subscribe(&ident)
                    .map(|_| ())
                    .map_err(|e| Error::Network(format!("subscribe {topic}: {e}")));
                if result.is_ok() {
                    self.validators.insert(ident.hash(), (topic, validator));
                }
                let _ = reply.send(result);
            }
            Command::Unsubscribe { topic, reply } => {
                let ident = gossipsub::IdentTopic::new(topic);
                self.validators.remove(&ident.hash());
                self.swarm.behaviour_mut().gossipsub.unsubscribe(&ident);
                let _ = reply.send(());
            }
            Command::Publish { topic, data, reply } => {
                let ident = gossipsub::IdentTopic::new(topic);
                let sent = match self.swarm.behaviour_mut().gossipsub.publish(ident, data) {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::debug!(error = %e, "message not published");
                        false
                    }
                };
                let _ = reply.send(sent);
            }
            Command::TopicPeers { topic, reply } => {
                let hash = gossipsub::IdentTopic::new(topic).hash();
                let peers = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&hash))
                    .map(|(p, _)| *p)
                    .filter(|p| !self.banned.contains(p))
                    .collect();
                let _ = reply.send(peers);
            }
            Command::PutRecord { key, value, reply } => {
                let record = kad::Record::new(key, value);
                let result = self
                    .swarm
                    .behaviour_mut()
                    .kad
                    .put_record(record, kad::Quorum::One)
                    .map(|_| ())
                    .map_err(|e| Error::Network(format!("DHT record: {e}")));
                let _ = reply.send(result);
            }
            Command::GetRecord { key, reply } => {
                let key = kad::RecordKey::new(&key);
                let mut found = Vec::new();
                if let Some(local) = self.swarm.behaviour_mut().kad.store_mut().get(&key) {
                    found.push(local.value.clone());
                }
                let query = self.swarm.behaviour_mut().kad.get_record(key);
                self.pending_records.insert(query, (found, reply));
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr {
                address,
                listener_id,
            } if !self.listen_addrs.contains(&address) => {
                if let Some(relay) = self.relay_listeners.get(&listener_id) {
                    tracing::info!(%relay, %address, "listening through a relay");
                } else if self.config.loopback_only && is_loopback(&address) {
                    self.swarm
                        .behaviour_mut()
                        .known_external
                        .confirm(address.clone());
                }
                self.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                self.listen_addrs.retain(|a| !addresses.contains(a));
                if let Some(relay) = self.relay_listeners.remove(&listener_id) {
                    match reason {
                        Ok(()) => tracing::debug!(%relay, "relay listener closed"),
                        Err(e) => {
                            tracing::info!(%relay, error = %e, "relay reservation failed");
                            self.relay_paused.insert(relay, Instant::now());
                        }
                    }
                    self.ensure_relays();
                }
            }
            SwarmEvent::ExternalAddrConfirmed { address }
            | SwarmEvent::ExternalAddrExpired { address } => {
                tracing::debug!(%address, "the set of external addresses changed");
                self.ensure_relays();
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if self.shut_out(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    if let Some(reply) = self.pending_dials.remove(&connection_id) {
                        let _ = reply.send(Err(Error::Network(format!(
                            "peer {peer_id} is banned or unreachable"
                        ))));
                    }
                    return;
                }
                if endpoint.is_dialer() {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, endpoint.get_remote_address().clone());
                }
                if let Some(reply) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                let relayed = endpoint.is_relayed();
                let addr = link_addr(&endpoint, peer_id);
                if relayed {
                    tracing::info!(peer = %peer_id, %addr, "relayed connection");
                }
                self.links.entry(peer_id).or_default().push(Link {
                    id: connection_id,
                    addr: addr.clone(),
                    relayed,
                    dialed: endpoint.is_dialer(),
                });
                if !relayed {
                    self.close_relayed(peer_id);
                }
                if num_established.get() == 1 {
                    self.emit(NetEvent::PeerConnected {
                        peer: peer_id,
                        addr,
                    });
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some(reply) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Err(Error::Network(format!("dial: {error}"))));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                if let Some(links) = self.links.get_mut(&peer_id) {
                    links.retain(|l| l.id != connection_id);
                    if !links.iter().any(|l| !l.relayed) {
                        self.relays.remove(&peer_id);
                    }
                }
                if num_established == 0 && self.links.remove(&peer_id).is_some() {
                    self.limiters.remove(&peer_id);
                    self.emit(NetEvent::PeerDisconnected { peer: peer_id });
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                connection_id,
                info,
            }) => {
                if self.shut_out(&peer_id) {
                    return;
                }
                let listen: Vec<Multiaddr> = info
                    .listen_addrs
                    .iter()
                    .filter(|a| !self.config.loopback_only || is_loopback(a))
                    .map(without_peer)
                    .collect();
                for addr in &listen {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, addr.clone());
                }
                self.note_relay(peer_id, connection_id, &info.protocols, &listen);
            }
            BehaviourEvent::Autonat(autonat::Event::StatusChanged { old, new }) => {
                tracing::info!(?old, ?new, "AutoNAT: reachability changed");
                self.nat_private = new == autonat::NatStatus::Private;
                self.ensure_relays();
            }
            BehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            }) => match result {
                Ok(_) => tracing::info!(peer = %remote_peer_id, "hole punch: direct connection"),
                Err(e) => tracing::debug!(peer = %remote_peer_id, error = %e, "hole punch failed"),
            },
            BehaviourEvent::RelayClient(event) => tracing::debug!(?event, "relay client"),
            BehaviourEvent::Relay(event) => tracing::debug!(?event, "relay service"),
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => self.on_lan_peers(found),
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) if message.topic != self.topic.hash() => {
                let acceptance = match self.validators.get(&message.topic) {
                    Some((_, validator)) => validator(&message.data, message.source.as_ref()),
                    None => Validation::Ignore,
                };
                let verdict = match acceptance {
                    Validation::Accept => gossipsub::MessageAcceptance::Accept,
                    Validation::Reject => {
                        tracing::debug!(peer = %propagation_source, "rejected topic message");
                        gossipsub::MessageAcceptance::Reject
                    }
                    Validation::Ignore => gossipsub::MessageAcceptance::Ignore,
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, verdict);
                if acceptance == Validation::Accept
                    && let Some((topic, _)) = self.validators.get(&message.topic)
                {
                    self.emit(NetEvent::TopicMessage {
                        topic: topic.clone(),
                        data: message.data,
                        source: message.source,
                    });
                }
            }
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let verdict = decode_announcement(&message.data);
                let acceptance = match &verdict {
                    Ok(_) => gossipsub::MessageAcceptance::Accept,
                    Err(e) => {
                        tracing::info!(peer = %propagation_source, error = %e, "rejected announcement");
                        gossipsub::MessageAcceptance::Reject
                    }
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
                match verdict {
                    Ok(manifest) => self.emit(NetEvent::Announcement {
                        manifest: Box::new(manifest),
                        origin: message.source,
                    }),
                    Err(_) => self.on_invalid_gossip(propagation_source),
                }
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetProviders(result),
                step,
                ..
            }) => {
                if let Some(pending) = self.pending_providers.get_mut(&id)
                    && let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = result
                    && !providers.is_empty()
                {
                    pending.found.extend(providers);
                    pending.first_found.get_or_insert_with(Instant::now);
                }
                // The rest is answered by `answer_provider_queries_in_grace`.
                if step.last {
                    self.answer_providers(id);
                }
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetRecord(result),
                step,
                ..
            }) => {
                if let Some((found, _)) = self.pending_records.get_mut(&id)
                    && let Ok(kad::GetRecordOk::FoundRecord(peer_record)) = result
                    && found.len() < MAX_RECORDS_PER_LOOKUP
                    && !found.contains(&peer_record.record.value)
                {
                    found.push(peer_record.record.value);
                }
                if step.last
                    && let Some((found, reply)) = self.pending_records.remove(&id)
                {
                    let _ = reply.send(found);
                }
            }
            BehaviourEvent::Kad(kad::Event::RoutingUpdated { .. })
                if !self.provided_early.is_empty() =>
            {
                self.provide_again_as_the_table_grows();
            }
            BehaviourEvent::Kad(kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::PutRecord {
                        record: Some(record),
                        source,
                        ..
                    },
            }) => self.on_inbound_record(source, record),
            // Record filtering is on (for artist profiles), so provider records are stored here
            // by hand; kad has checked that the provider is the peer that sent the record.
            BehaviourEvent::Kad(kad::Event::InboundRequest {
                request:
                    kad::InboundRequest::AddProvider {
                        record: Some(record),
                    },
            }) => {
                use libp2p::kad::store::RecordStore;
                let kad = &mut self.swarm.behaviour_mut().kad;
                tracing::debug!(provider = %record.provider, "storing a provider record");
                if let Err(e) = kad.store_mut().add_provider(record) {
                    tracing::debug!(error = %e, "cannot store a provider record");
                }
            }
            BehaviourEvent::Transfer(event) => self.on_transfer_event(event),
            _ => {}
        }
    }

    /// Remembers whether `peer` offers the relay service (after identify on `connection`),
    /// then reserves through it if this peer needs a relay.
    fn note_relay(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        protocols: &[libp2p::StreamProtocol],
        listen: &[Multiaddr],
    ) {
        if !protocols.contains(&relay::HOP_PROTOCOL_NAME) {
            self.relays.remove(&peer);
            return;
        }
        let Some(link) = self
            .links
            .get(&peer)
            .and_then(|links| links.iter().find(|l| l.id == connection))
        else {
            return;
        };
        if link.relayed {
            return;
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
        if let Some(addr) = named {
            self.relays.insert(peer, addr);
            self.ensure_relays();
        }
    }

    /// Whether this peer should listen through relays: it may use them and has no direct
    /// external address, or AutoNAT found it private.
    fn wants_relay(&self) -> bool {
        self.config.relay.use_relays
            && (self.nat_private || !self.swarm.external_addresses().any(|a| !is_relayed(a)))
    }

    /// Keeps up to `MAX_RELAYS` relay listeners while this peer wants them, none otherwise.
    fn ensure_relays(&mut self) {
        if !self.wants_relay() {
            for (id, relay) in self.relay_listeners.drain() {
                tracing::info!(%relay, "reachable directly: leaving the relay");
                self.swarm.remove_listener(id);
            }
            return;
        }
        let now = Instant::now();
        self.relay_paused
            .retain(|_, at| now.saturating_duration_since(*at) < RELAY_RETRY);
        while self.relay_listeners.len() < MAX_RELAYS {
            let next = self
                .relays
                .iter()
                .find(|(relay, _)| {
                    !self.relay_listeners.values().any(|r| r == *relay)
                        && !self.relay_paused.contains_key(relay)
                        && !self.shut_out(relay)
                })
                .map(|(relay, addr)| (*relay, addr.clone()));
            let Some((relay, addr)) = next else {
                break;
            };
            let circuit = super::circuit_through(&addr, relay);
            match self.swarm.listen_on(circuit.clone()) {
                Ok(id) => {
                    tracing::info!(%relay, %circuit, "reserving a slot on a relay");
                    self.relay_listeners.insert(id, relay);
                }
                Err(e) => {
                    tracing::info!(%relay, error = %e, "cannot listen through a relay");
                    self.relay_paused.insert(relay, now);
                }
            }
        }
    }

    /// Circuit addresses of `peer` through the relays this peer is connected to.
    fn relay_routes(&self, peer: PeerId) -> Vec<Multiaddr> {
        self.relays
            .iter()
            .filter(|(relay, _)| **relay != peer)
            .take(MAX_RELAY_ROUTES)
            .map(|(relay, addr)| super::circuit_through(addr, *relay).with(Protocol::P2p(peer)))
            .collect()
    }

    /// A direct connection to `peer` is up (dialed, or made by hole punching): its relayed
    /// connections are closed, so that the relay carries nothing it does not have to.
    fn close_relayed(&mut self, peer: PeerId) {
        let relayed: Vec<ConnectionId> = self
            .links
            .get(&peer)
            .into_iter()
            .flatten()
            .filter(|l| l.relayed)
            .map(|l| l.id)
            .collect();
        for id in relayed {
            tracing::info!(%peer, "direct connection up: closing the relayed one");
            self.swarm.close_connection(id);
        }
    }

    /// Peers mDNS found on the LAN: dialed unless connected (or shut out).
    fn on_lan_peers(&mut self, found: Vec<(PeerId, Multiaddr)>) {
        let mut by_peer: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
        for (peer, addr) in found {
            if !self.links.contains_key(&peer) && !self.shut_out(&peer) {
                by_peer.entry(peer).or_default().push(addr);
            }
        }
        for (peer, addrs) in by_peer {
            for addr in &addrs {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
            }
            let opts = DialOpts::peer_id(peer)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .addresses(addrs)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "cannot dial a LAN peer");
            }
        }
    }

    /// A DHT record another peer wants stored here. Artist profiles must verify, name the key
    /// they are stored under, and be at least as new as the copy held; other records (radio
    /// channel descriptors, checked by whoever reads them) are stored as they come.
    fn on_inbound_record(&mut self, source: PeerId, record: kad::Record) {
        use libp2p::kad::store::RecordStore;
        let store = self.swarm.behaviour_mut().kad.store_mut();
        if let Some(artist) = crate::artist::artist_of_record_key(record.key.as_ref()) {
            let Ok(profile) = crate::artist::ArtistProfile::decode(&record.value) else {
                tracing::info!(%source, "refused a DHT record: invalid artist profile");
                return;
            };
            let held = store
                .get(&record.key)
                .and_then(|r| crate::artist::ArtistProfile::decode(&r.value).ok())
                .map_or(0, |p| p.version);
            if profile.key != artist || profile.version < held {
                tracing::info!(%source, "refused a DHT record: foreign or older artist profile");
                return;
            }
        }
        if let Err(e) = store.put(record) {
            tracing::debug!(%source, error = %e, "cannot store a DHT record");
        }
    }

    /// A peer sent an invalid gossip message: gossipsub has scored it down; ban it once its score
    /// shows it keeps doing so, or when it runs out of strikes.
    fn on_invalid_gossip(&mut self, peer: PeerId) {
        let score = self.swarm.behaviour().gossipsub.peer_score(&peer);
        if score.is_some_and(|s| s < self.config.limits.ban_gossip_score) {
            tracing::info!(%peer, ?score, "gossip score too low");
            self.ban(peer);
            return;
        }
        self.strike(peer, INVALID_GOSSIP_STRIKES);
    }

    /// Decides whether to serve an inbound request from `peer`.
    fn admit(&mut self, peer: PeerId) -> Verdict {
        let limits = &self.config.limits;
        let now = Instant::now();
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

    fn on_transfer_event(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                if self.shut_out(&peer) {
                    return;
                }
                let verdict = self.admit(peer);
                let permit = match verdict {
                    Verdict::Serve => self.inbound_limit.clone().try_acquire_owned().ok(),
                    Verdict::Refuse | Verdict::Ban => None,
                };
                let Some(permit) = permit else {
                    if verdict == Verdict::Serve
                        && let Some(limiter) = self.limiters.get_mut(&peer)
                    {
                        limiter.inflight = limiter.inflight.saturating_sub(1);
                    }
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .transfer
                        .send_response(channel, Response::Refused);
                    if verdict == Verdict::Ban {
                        self.ban(peer);
                    }
                    return;
                };
                let source = self.source.clone();
                let responses = self.responses_tx.clone();
                let pacer = self.pacer.clone();
                let rate = self.config.serve_rate;
                tokio::spawn(async move {
                    let response =
                        tokio::task::spawn_blocking(move || super::serve(&*source, peer, request))
                            .await
                            .unwrap_or(Response::Refused);
                    if let (Some(rate), Response::Chunks { chunks, .. }) = (rate, &response) {
                        let bytes: usize = chunks.iter().map(Vec::len).sum();
                        let cost = Duration::from_secs_f64(bytes as f64 / rate.max(1) as f64);
                        let ready = {
                            let mut next = pacer.lock().unwrap_or_else(|p| p.into_inner());
                            let start = (*next).max(tokio::time::Instant::now());
                            *next = start + cost;
                            *next
                        };
                        tokio::time::sleep_until(ready).await;
                    }
                    let _ = responses.send((peer, channel, response)).await;
                    drop(permit);
                });
            }
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.pending_requests.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.pending_requests.remove(&request_id) {
                    let error = match error {
                        request_response::OutboundFailure::DialFailure
                        | request_response::OutboundFailure::ConnectionClosed => {
                            Error::Unreachable(format!("request failed: {error}"))
                        }
                        _ => Error::Network(format!("request failed: {error}")),
                    };
                    let _ = reply.send(Err(error));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound transfer request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}

/// The address that describes a connection: the remote address, or for a connection that came
/// in through a relay, the circuit (`<relay>/p2p/<relay id>/p2p-circuit/p2p/<peer>`).
fn link_addr(endpoint: &ConnectedPoint, peer: PeerId) -> Multiaddr {
    match endpoint {
        ConnectedPoint::Dialer { address, .. } => address.clone(),
        ConnectedPoint::Listener { local_addr, .. } if is_relayed(local_addr) => {
            local_addr.clone().with(Protocol::P2p(peer))
        }
        ConnectedPoint::Listener { send_back_addr, .. } => send_back_addr.clone(),
    }
}

/// `addr` without a trailing `/p2p/<id>` (a relay's own id inside a circuit address stays).
fn without_peer(addr: &Multiaddr) -> Multiaddr {
    let mut addr = addr.clone();
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}

/// Whether an address names the unspecified IP (`0.0.0.0`, `::`), which nobody can dial.
fn is_unspecified(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}
