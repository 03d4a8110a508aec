//! What the services of a peer offer on the network, registered when the actor starts.
//!
//! The network knows no service. Each one (transfer, catalog, taste exchange, radio) brings:
//! - request-response [`Protocol`]s: a protocol name, the largest request and response it
//!   allows (checked on the length prefix of each frame, before anything is allocated), the
//!   bytes of its refusal, and a [`Handler`] that answers inbound requests;
//! - gossip [`Topic`]s with their validators;
//! - the largest gossip message it publishes ([`Services::max_message`]);
//! - a check on the DHT records other peers store here ([`RecordFilter`]).
//!
//! ```
//! use std::sync::Arc;
//! use busker_core::net::{Protocol, Reply, Services};
//! use libp2p::StreamProtocol;
//!
//! let echo = Protocol {
//!     name: StreamProtocol::new("/example/echo/1"),
//!     max_request: 1024,
//!     max_response: 1024,
//!     refused: Vec::new(),
//!     handler: Arc::new(|_peer, request: &[u8]| Reply::Answer(request.to_vec())),
//! };
//! let services = Services::default().protocol(echo);
//! # let _ = services;
//! ```

use std::sync::Arc;

use libp2p::{PeerId, StreamProtocol};

use super::TopicValidator;

/// Answers the inbound requests of one protocol.
///
/// The network calls it on the blocking pool (it may read the disk), at most
/// [`NetworkConfig::max_inbound_requests`](super::NetworkConfig::max_inbound_requests) at once
/// over every protocol, and only for requests within the requesting peer's limits (see
/// [`PeerLimits`](super::PeerLimits)); over them the network sends [`Protocol::refused`] itself.
pub trait Handler: Send + Sync + 'static {
    /// The answer to `request` (one whole frame body, at most [`Protocol::max_request`] bytes,
    /// not decoded yet) from `peer`.
    fn handle(&self, peer: PeerId, request: &[u8]) -> Reply;
}

impl<F> Handler for F
where
    F: Fn(PeerId, &[u8]) -> Reply + Send + Sync + 'static,
{
    fn handle(&self, peer: PeerId, request: &[u8]) -> Reply {
        self(peer, request)
    }
}

/// What a [`Handler`] makes of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Send these bytes back.
    Answer(Vec<u8>),
    /// Send `answer` back; it carries `len` bytes of bulk content (chunk data), which count
    /// against [`NetworkConfig::serve_rate`](super::NetworkConfig::serve_rate): the answer waits
    /// its turn so that the peer serves no more than that many bytes per second.
    Paced {
        /// The answer.
        answer: Vec<u8>,
        /// Bulk bytes in it.
        len: usize,
    },
    /// Send the protocol's refusal ([`Protocol::refused`]).
    Refuse,
    /// Send nothing (a malformed request): the requester sees its stream closed.
    Drop,
}

/// A request-response protocol a service offers and asks over.
#[derive(Clone)]
pub struct Protocol {
    /// The protocol name negotiated on every stream.
    pub name: StreamProtocol,
    /// Largest request body; a longer length prefix is refused before reading the body.
    pub max_request: usize,
    /// Largest response body, checked the same way on the asking side.
    pub max_response: usize,
    /// The answer the network sends when it refuses a request (too many at once, over the
    /// peer's rate) or when the handler says [`Reply::Refuse`].
    pub refused: Vec<u8>,
    /// Answers inbound requests.
    pub handler: Arc<dyn Handler>,
}

impl Protocol {
    /// A protocol whose handler decodes each request with `decode` and hands it to `answer`. A
    /// request that does not decode gets no answer ([`Reply::Drop`]): the asker sees its stream
    /// closed.
    pub fn decoding<R: 'static, E: 'static>(
        name: StreamProtocol,
        max_request: usize,
        max_response: usize,
        refused: Vec<u8>,
        decode: fn(&[u8]) -> Result<R, E>,
        answer: impl Fn(PeerId, R) -> Reply + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            max_request,
            max_response,
            refused,
            handler: Arc::new(move |peer: PeerId, bytes: &[u8]| match decode(bytes) {
                Ok(request) => answer(peer, request),
                Err(_) => Reply::Drop,
            }),
        }
    }
}

impl std::fmt::Debug for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protocol")
            .field("name", &self.name)
            .field("max_request", &self.max_request)
            .field("max_response", &self.max_response)
            .finish_non_exhaustive()
    }
}

/// A gossip topic a service subscribes to from the start.
#[derive(Clone)]
pub struct Topic {
    /// The topic name.
    pub name: String,
    /// Decides about every message before it is delivered or forwarded.
    pub validator: TopicValidator,
    /// Invalid messages count against the peer that forwarded them: they weigh -100 on its
    /// gossip score and cost it strikes (see [`PeerLimits`](super::PeerLimits)), so a peer that
    /// keeps sending them is banned. Right for every topic whose messages each peer checks
    /// alone before forwarding (signed releases, radio segments and channel statuses), where an
    /// invalid message can only come from a peer that forged or failed to check it: the
    /// validator says `Ignore`, not `Reject`, for what an honest peer may forward (a message
    /// outside the clock window). Off: invalid messages are only dropped.
    pub strict: bool,
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic")
            .field("name", &self.name)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

/// Decides whether a DHT record another peer wants stored here is kept: given its key, its
/// value and the value held under that key (if any). Runs on the network actor's task, so it
/// must be quick.
pub type RecordFilter = Arc<dyn Fn(&[u8], &[u8], Option<&[u8]>) -> bool + Send + Sync>;

/// Gossip messages up to this size are always allowed (gossipsub's own default).
const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;

/// Everything the services of a peer register with the network (see the module docs), given
/// to [`spawn`](super::spawn).
#[derive(Clone, Default)]
pub struct Services {
    pub(super) protocols: Vec<Protocol>,
    pub(super) topics: Vec<Topic>,
    pub(super) max_message: usize,
    pub(super) record_filter: Option<RecordFilter>,
    pub(super) ban_book: Option<Arc<dyn BanBook>>,
}

/// Where bans are kept across restarts (a node keeps them in its store). The network saves
/// every ban it makes and, at start, loads those still in force. Called on the network actor's
/// task: keep both quick.
pub trait BanBook: Send + Sync + 'static {
    /// The bans in force, each with when it ends (seconds since the Unix epoch).
    fn load(&self) -> Vec<(PeerId, u64)>;
    /// Keeps a ban of `peer` until `until` (seconds since the Unix epoch).
    fn save(&self, peer: &PeerId, until: u64);
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("protocols", &self.protocols)
            .field("topics", &self.topics)
            .field("max_message", &self.max_message)
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Adds a request-response protocol. A protocol is asked over only if it is registered
    /// (see [`Client::request`](super::Client::request)). A second protocol of the same name
    /// replaces the first.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocols.retain(|p| p.name != protocol.name);
        self.protocols.push(protocol);
        self
    }

    /// Adds a gossip topic, subscribed before the first peer is dialed.
    pub fn topic(mut self, topic: Topic) -> Self {
        self.topics.retain(|t| t.name != topic.name);
        self.topics.push(topic);
        self
    }

    /// Raises the largest gossip message this peer takes and sends to `bytes` (plus room for
    /// gossipsub's own framing).
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = self.max_message.max(bytes);
        self
    }

    /// Sets the check on DHT records other peers store here (without one, every record is
    /// stored as it comes).
    pub fn record_filter(mut self, filter: RecordFilter) -> Self {
        self.record_filter = Some(filter);
        self
    }

    /// Keeps bans in `book`, so that they survive a restart (without one, bans last as long as
    /// the process).
    pub fn ban_book(mut self, book: Arc<dyn BanBook>) -> Self {
        self.ban_book = Some(book);
        self
    }

    /// The gossip message size limit: the largest a service asked for, at least gossipsub's
    /// default.
    pub(super) fn gossip_limit(&self) -> usize {
        self.max_message.max(DEFAULT_MAX_MESSAGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protocol(name: &'static str, answer: u8) -> Protocol {
        Protocol {
            name: StreamProtocol::new(name),
            max_request: 16,
            max_response: 16,
            refused: vec![0],
            handler: Arc::new(move |_, _: &[u8]| Reply::Answer(vec![answer])),
        }
    }

    #[test]
    fn a_protocol_registered_twice_is_replaced() {
        let services = Services::default()
            .protocol(protocol("/a/1", 1))
            .protocol(protocol("/b/1", 2))
            .protocol(protocol("/a/1", 3));
        assert_eq!(services.protocols.len(), 2);
        let a = &services.protocols[1];
        assert_eq!(a.name.as_ref(), "/a/1");
        let peer = PeerId::random();
        assert_eq!(a.handler.handle(peer, &[]), Reply::Answer(vec![3]));
    }

    #[test]
    fn the_gossip_limit_is_the_largest_asked_for() {
        assert_eq!(Services::default().gossip_limit(), DEFAULT_MAX_MESSAGE);
        let services = Services::default().max_message(300_000).max_message(1000);
        assert_eq!(services.gossip_limit(), 300_000);
    }
}
