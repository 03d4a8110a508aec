//! The task that alone owns the `Swarm`: a `select!` over swarm events, commands from clients,
//! answers of the services and timers, each handed to the part of the actor it concerns:
//! [`Links`] (connections, dials), [`Relays`], [`Dht`], [`Gate`] (bans, limits, the partition
//! switch), [`Serving`] (inbound requests), [`Requests`] (this peer's own) and [`Gossip`].

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::Transport as _;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, MemoryTransport, OptionalTransport};
use libp2p::core::upgrade::Version;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm, autonat, dcutr, identify, mdns, request_response};
use tokio::sync::{mpsc, oneshot};

use super::behaviour::{Behaviour, BehaviourEvent};
use super::conns::{Conns, TRIM_EVERY};
use super::dht::{self, Dht, PROVIDERS_GRACE};
use super::gate::{self, Gate};
use super::gossip::{self, Gossip};
use super::links::{self, Link, Links, link_addr, without_peer};
use super::relay::{RELAY_CHECK, Relays, close_relayed};
use super::requests::{self, Requests};
use super::router::Spec;
use super::serving::Serving;
use super::traffic::Traffic;
use super::{NetEvent, NetworkConfig, Services, is_loopback};
use crate::error::{Error, Result};

const COMMAND_QUEUE: usize = 256;
const EVENT_QUEUE: usize = 1024;

/// What a client asks of the actor, by concern.
pub(crate) enum Command {
    Links(links::Command),
    Request(requests::Command),
    Dht(dht::Command),
    Gate(gate::Command),
    Gossip(gossip::Command),
    Shutdown {
        reply: oneshot::Sender<()>,
    },
    /// Tests only: end at once, as a killed process does (see [`super::Client::crash`]).
    #[cfg(feature = "test-utils")]
    Crash {
        reply: oneshot::Sender<()>,
    },
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    /// Keep to loopback addresses (see [`NetworkConfig::loopback_only`]).
    loopback_only: bool,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    links: Links,
    relays: Relays,
    dht: Dht,
    gate: Gate,
    serving: Serving,
    requests: Requests,
    gossip: Gossip,
    conns: Conns,
}

/// Builds the swarm, starts the actor and returns its command sender and event receiver.
pub(super) async fn spawn(
    key: libp2p::identity::Keypair,
    config: NetworkConfig,
    services: Services,
) -> Result<(mpsc::Sender<Command>, mpsc::Receiver<NetEvent>, Traffic)> {
    let net_err = |e: &dyn std::fmt::Display| Error::Network(e.to_string());
    let idle = config.idle_timeout;
    let behaviour_config = config.clone();
    let specs = || {
        services
            .protocols
            .iter()
            .map(|p| Spec {
                name: p.name.clone(),
                max_request: p.max_request,
                max_response: p.max_response,
            })
            .collect()
    };
    let max_message = services.gossip_limit();
    let mut registry = libp2p::metrics::Registry::default();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .map_err(|e| net_err(&e))?
        .with_quic()
        // The in-process transport of the scale harness, only when asked for: none otherwise.
        .with_other_transport(|key| memory_transport(key, config.memory_transport))
        .map_err(|e| net_err(&e))?
        // Relayed connections get Noise and Yamux on top of the circuit, like TCP.
        .with_relay_client(libp2p::noise::Config::new, libp2p::yamux::Config::default)
        .map_err(|e| net_err(&e))?
        .with_bandwidth_metrics(&mut registry)
        .with_behaviour(|key, relay_client| {
            Behaviour::new(key, &behaviour_config, relay_client, specs(), max_message)
                .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
        })
        .map_err(|e| net_err(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();

    // The services' topics, subscribed before any peer is met.
    let mut gossip = Gossip::default();
    for topic in services.topics.iter().cloned() {
        gossip.subscribe(&mut swarm, topic)?;
    }

    let listen_addrs = listen(&mut swarm, &config.listen).await?;

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
    let mut event_loop = EventLoop {
        swarm,
        loopback_only: config.loopback_only,
        commands,
        events,
        links: Links::with_listen_addrs(listen_addrs),
        relays: Relays::new(config.relay.use_relays),
        dht: Dht::new(services.record_filter.clone()),
        gate: Gate::new(config.limits.clone()).with_book(services.ban_book.clone()),
        serving: Serving::new(
            &services.protocols,
            config.max_inbound_requests,
            config.serve_rate,
        ),
        requests: Requests::default(),
        gossip,
        conns: Conns::new(config.connections.clone(), idle),
    };
    event_loop.gate.enforce_loaded(&mut event_loop.swarm);
    for addr in config.bootstrap {
        // Bootstrap peers are kept connected (see `Conns`), whether or not the address names
        // the peer.
        let opts = DialOpts::from(addr.clone());
        let id = opts.connection_id();
        match event_loop.swarm.dial(opts) {
            Ok(()) => event_loop.conns.pin_dial(id),
            Err(e) => tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer"),
        }
    }
    tokio::spawn(event_loop.run());
    Ok((tx, events_rx, Traffic::new(registry)))
}

/// A transport that yields authenticated, multiplexed connections.
type Upgraded = Boxed<(PeerId, StreamMuxerBox)>;

/// libp2p's memory transport upgraded like TCP (Noise, then Yamux) when `on`; a transport that
/// takes no address otherwise.
fn memory_transport(
    key: &libp2p::identity::Keypair,
    on: bool,
) -> std::result::Result<OptionalTransport<Upgraded>, Box<dyn std::error::Error + Send + Sync>> {
    if !on {
        return Ok(OptionalTransport::none());
    }
    let transport = MemoryTransport::default()
        .upgrade(Version::V1Lazy)
        .authenticate(libp2p::noise::Config::new(key)?)
        .multiplex(libp2p::yamux::Config::default())
        .map(|(peer, muxer), _| (peer, StreamMuxerBox::new(muxer)))
        .boxed();
    Ok(OptionalTransport::some(transport))
}

/// Listens on `addrs` and waits until each listener reports an address, so that callers can
/// print them. TCP addresses come first, whatever order the listeners came up in: callers that
/// take one address get the transport every peer has.
async fn listen(swarm: &mut Swarm<Behaviour>, addrs: &[Multiaddr]) -> Result<Vec<Multiaddr>> {
    let mut waiting = HashSet::new();
    for addr in addrs {
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| Error::Network(e.to_string()))?;
        waiting.insert(id);
    }
    let mut listen_addrs = Vec::new();
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
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
    listen_addrs.sort_by_key(super::is_quic);
    Ok(listen_addrs)
}

impl EventLoop {
    async fn run(mut self) {
        let mut housekeeping = tokio::time::interval(PROVIDERS_GRACE / 3);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut relay_check = tokio::time::interval(RELAY_CHECK);
        relay_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut trim = tokio::time::interval(TRIM_EVERY);
        trim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = housekeeping.tick() => self.dht.answer_queries_in_grace(&mut self.swarm),
                _ = trim.tick() => self.trim(),
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = relay_check.tick() => self.relays.ensure(&mut self.swarm, &self.gate),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.stop();
                        let _ = reply.send(());
                        return;
                    }
                    #[cfg(feature = "test-utils")]
                    Some(Command::Crash { reply }) => {
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.on_command(command),
                    None => {
                        self.stop();
                        return;
                    }
                },
                Some(served) = self.serving.rx.recv() => {
                    self.conns.used(&served.1, Instant::now());
                    self.serving.on_served(&mut self.swarm, &mut self.gate, served);
                }
            }
        }
    }

    fn stop(&mut self) {
        let peers: Vec<_> = self.links.connected().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        tracing::debug!("network actor stopped");
    }

    /// Disconnects the peers the connection manager finds in excess (see `Conns`): the
    /// behaviours' needs are the gossip mesh, the relays this peer listens through and the
    /// peers reached through a relay.
    fn trim(&mut self) {
        // The needs are gathered only when there is something to close.
        if !self.conns.over() {
            return;
        }
        let mut needed: HashSet<PeerId> = self
            .swarm
            .behaviour()
            .gossipsub
            .all_mesh_peers()
            .copied()
            .collect();
        needed.extend(self.relays.reserved_on());
        needed.extend(self.links.relayed_peers());
        let excess = self.conns.to_close(Instant::now(), &needed);
        if excess.is_empty() {
            return;
        }
        tracing::debug!(
            connected = self.conns.len(),
            closing = excess.len(),
            "over the connection target"
        );
        for peer in excess {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn emit(&self, event: NetEvent) {
        if let Err(e) = self.events.try_send(event) {
            // Losing an announcement is harmless: anti-entropy fetches what gossip missed.
            tracing::debug!(error = %e, "network event dropped");
        }
    }

    fn on_command(&mut self, command: Command) {
        let swarm = &mut self.swarm;
        match command {
            Command::Links(c) => {
                // A peer dialed on purpose is kept connected, even when it was already.
                if let links::Command::Dial { addr, .. } = &c
                    && let Some(peer) = super::peer_id_of(addr)
                {
                    self.conns.pin(peer);
                }
                self.links.on_command(swarm, &self.gate, c);
            }
            Command::Request(c) => {
                self.conns.used(&c.peer, Instant::now());
                self.requests
                    .send(swarm, &self.gate, &self.links, &self.relays, c);
            }
            Command::Dht(c) => self.dht.on_command(swarm, c),
            Command::Gate(c) => self.gate.on_command(swarm, c),
            Command::Gossip(c) => self.gossip.on_command(swarm, &self.gate, c),
            Command::Shutdown { .. } => {}
            #[cfg(feature = "test-utils")]
            Command::Crash { .. } => {}
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr {
                address,
                listener_id,
            } if !self.links.listen_addrs.contains(&address) => {
                if !self.relays.on_listen_addr(listener_id, &address)
                    && self.loopback_only
                    && is_loopback(&address)
                {
                    let known = &mut self.swarm.behaviour_mut().known_external;
                    known.confirm(address.clone());
                }
                self.links.listen_addrs.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.links.listen_addrs.retain(|a| a != &address);
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                self.links.listen_addrs.retain(|a| !addresses.contains(a));
                let reason = reason.as_ref().map(|_| ());
                (self.relays).on_listener_closed(&mut self.swarm, &self.gate, listener_id, reason);
            }
            SwarmEvent::ExternalAddrConfirmed { address }
            | SwarmEvent::ExternalAddrExpired { address } => {
                tracing::debug!(%address, "the set of external addresses changed");
                self.relays.ensure(&mut self.swarm, &self.gate);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if self.gate.shut_out(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    let error = Error::ShutOut(peer_id);
                    self.links.dial_failed(connection_id, error);
                    return;
                }
                if endpoint.is_dialer() {
                    let addr = endpoint.get_remote_address().clone();
                    dht::add_address(&mut self.swarm, &peer_id, addr);
                }
                let relayed = endpoint.is_relayed();
                let addr = link_addr(&endpoint, peer_id);
                if relayed {
                    tracing::info!(peer = %peer_id, %addr, "relayed connection");
                }
                let link = Link {
                    id: connection_id,
                    addr: addr.clone(),
                    relayed,
                    dialed: endpoint.is_dialer(),
                };
                let asked = self.links.opened(peer_id, link);
                (self.conns).opened(peer_id, connection_id, asked, Instant::now());
                if !relayed {
                    close_relayed(&mut self.swarm, &self.links, peer_id);
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
                let error = Error::Dial(Box::new(error));
                self.links.dial_failed(connection_id, error);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                let closed = self.links.closed(&peer_id, connection_id, num_established);
                if closed.no_direct {
                    self.relays.lost(&peer_id);
                }
                if closed.gone {
                    self.conns.gone(&peer_id);
                    self.gate.forget(&peer_id);
                    self.emit(NetEvent::PeerDisconnected { peer: peer_id });
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        let swarm = &mut self.swarm;
        match event {
            BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                connection_id,
                info,
            }) => {
                if self.gate.shut_out(&peer_id) {
                    return;
                }
                let listen: Vec<Multiaddr> = info
                    .listen_addrs
                    .iter()
                    .filter(|a| !self.loopback_only || is_loopback(a))
                    .map(without_peer)
                    .collect();
                for addr in &listen {
                    dht::add_address(swarm, &peer_id, addr.clone());
                }
                let links = &self.links;
                if (self.relays).note(links, peer_id, connection_id, &info.protocols, &listen) {
                    self.relays.ensure(swarm, &self.gate);
                }
            }
            BehaviourEvent::Autonat(autonat::Event::StatusChanged { old, new }) => {
                tracing::info!(?old, ?new, "AutoNAT: reachability changed");
                let private = new == autonat::NatStatus::Private;
                self.relays.on_nat_status(swarm, &self.gate, private);
            }
            BehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            }) => match result {
                Ok(_) => tracing::info!(peer = %remote_peer_id, "hole punch: direct connection"),
                Err(e) => tracing::debug!(peer = %remote_peer_id, error = %e, "hole punch failed"),
            },
            BehaviourEvent::RelayClient(event) => tracing::debug!(?event, "relay client"),
            BehaviourEvent::Relay(event) => {
                self.conns.on_relay_event(&event);
                tracing::debug!(?event, "relay service");
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                self.links.dial_lan_peers(swarm, &self.gate, found);
            }
            BehaviourEvent::Gossipsub(libp2p::gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let gate = &mut self.gate;
                let event =
                    (self.gossip).on_message(swarm, gate, propagation_source, message_id, message);
                if let Some(event) = event {
                    self.emit(event);
                }
            }
            BehaviourEvent::Kad(event) => self.dht.on_event(swarm, event),
            BehaviourEvent::Services((index, event)) => self.on_service_event(index, event),
            _ => {}
        }
    }

    fn on_service_event(&mut self, index: usize, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        if let request_response::Event::Message { peer, .. } = &event {
            self.conns.used(peer, Instant::now());
        }
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let (swarm, gate) = (&mut self.swarm, &mut self.gate);
                self.serving
                    .on_request(swarm, gate, index, peer, request, channel);
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                let protocol = self.swarm.behaviour().services.name(index).cloned();
                tracing::debug!(%peer, ?protocol, %error, "inbound request failed");
            }
            event => self.requests.on_event(index, event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Services, memory_any_port};
    use super::*;

    fn on_memory(memory_transport: bool) -> NetworkConfig {
        NetworkConfig {
            listen: vec![memory_any_port()],
            memory_transport,
            ..NetworkConfig::loopback()
        }
    }

    fn key() -> libp2p::identity::Keypair {
        libp2p::identity::Keypair::generate_ed25519()
    }

    #[tokio::test]
    async fn the_memory_transport_is_there_only_when_asked_for() {
        // A real peer's config: a memory address is refused like any unsupported one.
        assert!(!NetworkConfig::loopback().memory_transport);
        let refused = spawn(key(), on_memory(false), Services::default()).await;
        assert!(
            matches!(refused, Err(Error::Network(_))),
            "{:?}",
            refused.err()
        );
        // Asked for: two peers meet over it, Noise-authenticated (the dial names the peer id).
        let (a, _a_events) = super::super::spawn(key(), on_memory(true), Services::default())
            .await
            .unwrap();
        let (b, _b_events) = super::super::spawn(key(), on_memory(true), Services::default())
            .await
            .unwrap();
        let addr = a.listen_addrs().await.unwrap()[0].clone();
        assert!(addr.to_string().starts_with("/memory/"), "{addr}");
        assert_eq!(b.dial(addr).await.unwrap(), a.peer_id());
        b.shutdown().await;
        a.shutdown().await;
    }
}
