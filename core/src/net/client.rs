//! [`Client`]: the cloneable handle to the network actor.

use std::collections::HashSet;

use libp2p::{Multiaddr, PeerId, StreamProtocol};
use tokio::sync::{mpsc, oneshot};

use super::event_loop::Command;
use super::traffic::{Traffic, TrafficCount};
use super::{dht, gate, gossip, links, requests};
use crate::error::{Error, Result};
use crate::wire::DecodeError;

/// A handle to the network actor. Cheap to clone. Every method is cancel-safe in the sense that
/// dropping its future abandons the answer; the command may still be carried out.
#[derive(Clone, Debug)]
pub struct Client {
    tx: mpsc::Sender<Command>,
    peer_id: PeerId,
    offline: bool,
    traffic: Traffic,
}

impl Client {
    pub(crate) fn new(tx: mpsc::Sender<Command>, peer_id: PeerId, traffic: Traffic) -> Self {
        Self {
            tx,
            peer_id,
            offline: false,
            traffic,
        }
    }

    /// A client with no network behind it: every call fails with [`Error::Offline`].
    pub fn offline(peer_id: PeerId) -> Self {
        let (tx, _) = mpsc::channel(1);
        Self {
            tx,
            peer_id,
            offline: true,
            traffic: Traffic::default(),
        }
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        if self.offline {
            return Err(Error::Offline);
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| Error::NetworkStopped)?;
        rx.await.map_err(|_| Error::NetworkStopped)
    }

    /// This peer's id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Bytes sent to and received from other peers since the network started.
    pub fn traffic(&self) -> TrafficCount {
        self.traffic.totals()
    }

    /// Whether the actor has stopped.
    pub fn is_stopped(&self) -> bool {
        self.tx.is_closed()
    }

    /// The addresses this peer listens on, each ending in `/p2p/<peer id>`.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>> {
        self.call(|reply| Command::Links(links::Command::ListenAddrs { reply }))
            .await
    }

    /// Dials `addr` and waits until the connection is up (or failed). Returns the remote peer.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId> {
        self.call(|reply| Command::Links(links::Command::Dial { addr, reply }))
            .await?
    }

    /// Connected peers with the address of one connection each.
    pub async fn peers(&self) -> Result<Vec<(PeerId, Multiaddr)>> {
        self.call(|reply| Command::Links(links::Command::Peers { reply }))
            .await
    }

    /// Sends one request on `protocol` (which must be registered here, see
    /// [`super::Services::protocol`]) and waits for the answer (the actor times out after
    /// 20 s). A peer that is not connected is dialed, directly and through the connected
    /// relays. The answer is one frame body, not decoded: the service's typed wrapper does that.
    /// Fails with [`Error::Unreachable`] when the peer could not be reached at all, and with
    /// [`Error::ShutOut`] when it is banned or cut off here.
    pub async fn request(
        &self,
        peer: PeerId,
        protocol: StreamProtocol,
        request: Vec<u8>,
    ) -> Result<Vec<u8>> {
        self.call(|reply| {
            Command::Request(requests::Command {
                peer,
                protocol,
                request,
                reply,
            })
        })
        .await?
    }

    /// [`Client::request`], then `decode` on the answer: the typed request of a service. An
    /// answer that does not decode is an [`Error::BadAnswer`].
    pub async fn ask<T>(
        &self,
        peer: PeerId,
        protocol: StreamProtocol,
        request: Vec<u8>,
        decode: impl FnOnce(&[u8]) -> Result<T, DecodeError>,
    ) -> Result<T> {
        let answer = self.request(peer, protocol, request).await?;
        decode(&answer).map_err(|e| Error::BadAnswer {
            peer,
            source: Box::new(e),
        })
    }

    /// Simulates a network partition (tests only): closes the connections to `peers` and
    /// refuses any new one to or from them, until called again with another set (an empty set
    /// heals the partition; closed connections are not re-dialled).
    #[cfg(feature = "test-utils")]
    pub async fn partition(&self, peers: HashSet<PeerId>) -> Result<()> {
        self.call(|reply| Command::Gate(gate::Command::Partition { peers, reply }))
            .await
    }

    /// Ends the actor the way a killed process ends (tests only): the swarm and every
    /// connection are dropped at once, without closing them or answering what is in flight.
    #[cfg(feature = "test-utils")]
    pub async fn crash(&self) {
        let _ = self.call(|reply| Command::Crash { reply }).await;
    }

    /// Puts a provider record for `key` into the DHT (kept republished while the actor runs).
    pub async fn provide(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref().to_vec();
        self.call(|reply| Command::Dht(dht::Command::Provide { key, reply }))
            .await
    }

    /// Asks the DHT who provides `key`: the providers found until shortly (0.75 s) after the
    /// first were found, or none when the query ends without any (at most about 20 s).
    pub async fn providers(&self, key: impl AsRef<[u8]>) -> Result<HashSet<PeerId>> {
        let key = key.as_ref().to_vec();
        self.call(|reply| Command::Dht(dht::Command::Providers { key, reply }))
            .await
    }

    /// The provider records of `key` this peer's DHT store holds (its own and those other
    /// peers put here), without asking the network.
    pub async fn stored_providers(&self, key: impl AsRef<[u8]>) -> Result<HashSet<PeerId>> {
        let key = key.as_ref().to_vec();
        self.call(|reply| Command::Dht(dht::Command::StoredProviders { key, reply }))
            .await
    }

    /// Penalises a misbehaving peer: disconnects it, refuses it from now on and lowers its
    /// gossip score.
    pub async fn ban(&self, peer: PeerId) -> Result<()> {
        self.call(|reply| Command::Gate(gate::Command::Ban { peer, reply }))
            .await
    }

    /// Peers banned so far.
    pub async fn banned(&self) -> Result<Vec<PeerId>> {
        self.call(|reply| Command::Gate(gate::Command::Banned { reply }))
            .await
    }

    /// Subscribes to a gossip topic. Every message on it is first checked by `validator` (on the
    /// actor's task); accepted ones are forwarded and come out as [`super::NetEvent::TopicMessage`].
    /// The topic is strict (see [`super::Topic::strict`]): invalid messages are dropped and cost
    /// the peer that forwarded them.
    pub async fn subscribe(&self, topic: String, validator: super::TopicValidator) -> Result<()> {
        self.call(|reply| {
            Command::Gossip(gossip::Command::Subscribe {
                topic,
                validator,
                reply,
            })
        })
        .await?
    }

    /// Leaves a topic subscribed with [`Client::subscribe`].
    pub async fn unsubscribe(&self, topic: String) -> Result<()> {
        self.call(|reply| Command::Gossip(gossip::Command::Unsubscribe { topic, reply }))
            .await
    }

    /// Publishes on a topic (to this peer's mesh for it, or to some of its peers when not
    /// subscribed). Returns `false` when no peer could take the message.
    pub async fn publish(&self, topic: String, data: Vec<u8>) -> Result<bool> {
        self.call(|reply| Command::Gossip(gossip::Command::Publish { topic, data, reply }))
            .await
    }

    /// Connected peers that are subscribed to `topic`.
    pub async fn topic_peers(&self, topic: String) -> Result<Vec<PeerId>> {
        self.call(|reply| Command::Gossip(gossip::Command::TopicPeers { topic, reply }))
            .await
    }

    /// This peer's gossip mesh for `topic`: the peers it forwards every message to (see
    /// [`super::ConnectionTargets`], which keeps them connected).
    pub async fn mesh_peers(&self, topic: String) -> Result<Vec<PeerId>> {
        self.call(|reply| Command::Gossip(gossip::Command::MeshPeers { topic, reply }))
            .await
    }

    /// Stores a record in the DHT under `key` (here and on the closest peers).
    pub async fn put_record(&self, key: Vec<u8>, value: Vec<u8>) -> Result<()> {
        self.call(|reply| Command::Dht(dht::Command::PutRecord { key, value, reply }))
            .await?
    }

    /// Looks `key` up in the DHT (the local copy first); waits for the query to finish. The
    /// values are unverified.
    pub async fn get_record(&self, key: Vec<u8>) -> Result<Vec<Vec<u8>>> {
        self.call(|reply| Command::Dht(dht::Command::GetRecord { key, reply }))
            .await
    }

    /// Stops the actor: closes listeners and connections, then the task ends. Idempotent; returns
    /// once the actor is gone.
    pub async fn shutdown(&self) {
        let _ = self.call(|reply| Command::Shutdown { reply }).await;
    }
}
