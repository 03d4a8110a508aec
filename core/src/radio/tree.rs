//! The radio tree: each segment is pushed to each listener once, along a tree rooted at the
//! broadcaster, instead of flooding the channel's gossip mesh (where a listener received each
//! segment from every mesh neighbour that had it before its IDONTWANT arrived: 3-4 copies).
//!
//! - A listener joins by asking the broadcaster ([`Request::Join`]). A peer that has room
//!   ([`BROADCASTER_CHILDREN`], [`LISTENER_CHILDREN`]) and receives the channel (it broadcasts
//!   it, or a parent pushed it a segment lately) takes it as a child and answers with its own
//!   path from the broadcaster; a full one names its children to try next, so a joiner walks
//!   down the tree breadth first to the first place with room. A joiner that finds itself in a
//!   path (it would become its own descendant) leaves that parent and walks on.
//! - A parent pushes every new segment it keeps to each child ([`Request::Push`]); the child
//!   checks it like a gossiped one (the channel validator: owner signature, clock and replay
//!   windows), keeps it and pushes it on. A push from any peer but the child's parent is
//!   answered [`Response::Gone`], and a parent drops a child that answers so or cannot be reached.
//! - A listener whose parent has pushed nothing for [`STALE_AFTER`] (it left, crashed, or lost
//!   its own parent) leaves it and joins again; the segments missed meanwhile are repaired from
//!   neighbours as before (`listener/repair.rs`).
//!
//! - Each child answers a push with the listeners at and below it, so the broadcaster counts its
//!   audience without gossiped heartbeats and announces it in the channel status (which stays
//!   on gossip: it is how peers find the channel).
//!
//! The hub's side (serving, pushing, joining) is in `relay.rs`; this file holds the messages and
//! a peer's [`Links`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::{PeerId, StreamProtocol};

use super::{ChannelId, MAX_SEGMENT_BYTES};
use crate::error::Result;
use crate::net::Client;
use crate::wire::{DecodeError, Envelope};

/// The protocol name negotiated on every tree stream.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/busker/radio-tree/1");
/// Version byte at the start of every request and response body.
pub const PROTOCOL_VERSION: u8 = 1;
/// Children a broadcaster pushes to: its upload is this many times the stream, whatever the
/// number of listeners.
pub const BROADCASTER_CHILDREN: usize = 4;
/// Children a listener pushes to.
pub const LISTENER_CHILDREN: usize = 3;
/// The deepest a peer may sit (a longer path is refused; at three children a level, far more
/// listeners than a channel will have).
pub const MAX_DEPTH: usize = 24;
/// A listener whose parent pushed nothing for this long joins again.
pub const STALE_AFTER: Duration = Duration::from_millis(2500);
/// A peer takes children while its parent pushed it something this recently.
const RECEIVING_WITHIN: Duration = Duration::from_secs(3);
/// Largest request body: a segment and the channel id, with room for framing.
pub const MAX_REQUEST_BYTES: usize = MAX_SEGMENT_BYTES + 1024;
/// Largest response body: a path of [`MAX_DEPTH`] peer ids.
pub const MAX_RESPONSE_BYTES: usize = 4096;
/// Longest encoded peer id accepted.
const MAX_PEER_ID_BYTES: usize = 64;

/// What one peer of a channel's tree asks another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Take me as a child.
    Join {
        /// The channel.
        channel: ChannelId,
    },
    /// A segment, from the receiver's parent (encoded and signed, still to be checked).
    Push {
        /// The channel.
        channel: ChannelId,
        /// The encoded segment.
        segment: Vec<u8>,
    },
    /// I am no longer your child.
    Leave {
        /// The channel.
        channel: ChannelId,
    },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Taken as a child; the parent's own path from the broadcaster (the broadcaster first, the
    /// parent's parent last; empty when the parent is the broadcaster).
    Joined(Vec<PeerId>),
    /// No room here: these are children to try.
    Full(Vec<PeerId>),
    /// Done (a push kept or ignored, a leave noted), with the listeners at and below the
    /// answering peer in the tree (itself and its children's counts, as they last reported).
    Done(u32),
    /// Not (or no longer) on this channel, or not this peer's child: stop pushing.
    Gone,
    /// Refused (not receiving the channel, or over the peer's limits).
    Refused,
}

const TAG_JOIN: u8 = 1;
const TAG_PUSH: u8 = 2;
const TAG_LEAVE: u8 = 3;
const TAG_JOINED: u8 = 4;
const TAG_FULL: u8 = 5;
const TAG_DONE: u8 = 6;
const TAG_GONE: u8 = 7;
const TAG_REFUSED: u8 = 8;

const REQUEST: Envelope = Envelope::new(PROTOCOL_VERSION, MAX_REQUEST_BYTES);
const RESPONSE: Envelope = Envelope::new(PROTOCOL_VERSION, MAX_RESPONSE_BYTES);

impl Request {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Join { channel } => {
                let mut w = REQUEST.writer(TAG_JOIN);
                w.raw(channel.as_bytes());
                w.into_bytes()
            }
            Self::Push { channel, segment } => {
                let mut w = REQUEST.writer(TAG_PUSH);
                w.raw(channel.as_bytes());
                w.bytes(segment);
                w.into_bytes()
            }
            Self::Leave { channel } => {
                let mut w = REQUEST.writer(TAG_LEAVE);
                w.raw(channel.as_bytes());
                w.into_bytes()
            }
        }
    }

    /// Decodes a request body, rejecting anything out of its limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        REQUEST.decode("request", bytes, |tag, r| {
            let channel = ChannelId(r.array("channel id")?);
            match tag {
                TAG_JOIN => Ok(Self::Join { channel }),
                TAG_PUSH => Ok(Self::Push {
                    channel,
                    segment: r.bytes("segment", MAX_SEGMENT_BYTES)?.to_vec(),
                }),
                TAG_LEAVE => Ok(Self::Leave { channel }),
                _ => Err(DecodeError::Invalid("request tag")),
            }
        })
    }
}

impl Response {
    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let peers = |tag, list: &[PeerId]| {
            let mut w = RESPONSE.writer(tag);
            let ids: Vec<Vec<u8>> = list.iter().map(|p| p.to_bytes()).collect();
            w.byte_list(&ids);
            w.into_bytes()
        };
        match self {
            Self::Joined(path) => peers(TAG_JOINED, path),
            Self::Full(others) => peers(TAG_FULL, others),
            Self::Done(below) => {
                let mut w = RESPONSE.writer(TAG_DONE);
                w.u32(*below);
                w.into_bytes()
            }
            Self::Gone => RESPONSE.writer(TAG_GONE).into_bytes(),
            Self::Refused => RESPONSE.writer(TAG_REFUSED).into_bytes(),
        }
    }

    /// Decodes a response body, rejecting anything out of its limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        RESPONSE.decode("response", bytes, |tag, r| {
            let mut peers = || -> Result<Vec<PeerId>, DecodeError> {
                r.byte_list("peers", MAX_DEPTH, MAX_PEER_ID_BYTES)?
                    .iter()
                    .map(|b| PeerId::from_bytes(b).map_err(|_| DecodeError::Invalid("peer id")))
                    .collect()
            };
            match tag {
                TAG_JOINED => Ok(Self::Joined(peers()?)),
                TAG_FULL => Ok(Self::Full(peers()?)),
                TAG_DONE => Ok(Self::Done(r.u32("listeners")?)),
                TAG_GONE => Ok(Self::Gone),
                TAG_REFUSED => Ok(Self::Refused),
                _ => Err(DecodeError::Invalid("response tag")),
            }
        })
    }
}

/// Sends `request` to `peer` and decodes the answer.
pub async fn request(client: &Client, peer: PeerId, request: Request) -> Result<Response> {
    client
        .ask(peer, PROTOCOL, request.encode(), Response::decode)
        .await
}

/// This peer's place in one channel's tree.
#[derive(Debug, Default)]
pub(crate) struct Links {
    /// The peer that pushes segments here (none for the broadcaster, or before a join).
    pub(crate) parent: Option<PeerId>,
    /// The parent's path from the broadcaster, then the parent.
    pub(crate) path: Vec<PeerId>,
    /// The peers this one pushes to.
    pub(crate) children: Vec<PeerId>,
    /// The listeners each child last reported at and below it.
    sizes: HashMap<PeerId, u32>,
    /// When the parent was taken or last pushed a segment.
    pub(crate) heard_at: Option<Instant>,
    /// Rotates the children named in a [`Response::Full`], so joiners spread over them.
    turn: usize,
}

impl Links {
    /// The listeners below this peer, as its children last reported them.
    pub(crate) fn below(&self) -> u32 {
        self.children
            .iter()
            .map(|c| self.sizes.get(c).copied().unwrap_or(1))
            .sum()
    }

    /// A child's report of the listeners at and below it.
    pub(crate) fn note(&mut self, child: PeerId, below: u32) {
        self.sizes.insert(child, below);
    }

    /// Forgets a child.
    pub(crate) fn drop_child(&mut self, peer: &PeerId) {
        self.children.retain(|c| c != peer);
        self.sizes.remove(peer);
    }

    /// Whether the parent has pushed anything within `within` (or was taken that recently).
    pub(crate) fn receiving(&self, within: Duration) -> bool {
        self.parent.is_some() && self.heard_at.is_some_and(|t| t.elapsed() < within)
    }

    /// A join from `peer`, answered by a peer that broadcasts (`broadcasting`) or not.
    pub(crate) fn join(&mut self, peer: PeerId, broadcasting: bool) -> Response {
        if !broadcasting && !self.receiving(RECEIVING_WITHIN) {
            return Response::Refused;
        }
        if self.parent == Some(peer) || self.path.contains(&peer) {
            // An ancestor asking: it would become its own descendant.
            return Response::Refused;
        }
        let room = if broadcasting {
            BROADCASTER_CHILDREN
        } else {
            LISTENER_CHILDREN
        };
        if self.children.contains(&peer) {
            return Response::Joined(self.path.clone());
        }
        if self.children.len() < room && self.path.len() < MAX_DEPTH {
            self.children.push(peer);
            return Response::Joined(self.path.clone());
        }
        let mut others = self.children.clone();
        if !others.is_empty() {
            self.turn = (self.turn + 1) % others.len();
            others.rotate_left(self.turn);
        }
        Response::Full(others)
    }

    /// Takes `parent` (whose path is `path`) as the parent.
    pub(crate) fn adopt(&mut self, parent: PeerId, mut path: Vec<PeerId>) {
        path.push(parent);
        self.parent = Some(parent);
        self.path = path;
        self.heard_at = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests() -> Vec<Request> {
        let channel = ChannelId([6; 32]);
        vec![
            Request::Join { channel },
            Request::Push {
                channel,
                segment: vec![9; 300],
            },
            Request::Leave { channel },
        ]
    }

    fn responses() -> Vec<Response> {
        vec![
            Response::Joined(vec![PeerId::random(), PeerId::random()]),
            Response::Full(vec![PeerId::random()]),
            Response::Joined(Vec::new()),
            Response::Done(7),
            Response::Gone,
            Response::Refused,
        ]
    }

    #[test]
    fn every_message_round_trips_and_limits_hold() {
        for r in requests() {
            assert_eq!(Request::decode(&r.encode()).unwrap(), r);
        }
        for r in responses() {
            assert_eq!(Response::decode(&r.encode()).unwrap(), r);
        }
        let deep = Response::Joined((0..=MAX_DEPTH).map(|_| PeerId::random()).collect());
        assert!(Response::decode(&deep.encode()).is_err(), "a path too long");
        let big = Request::Push {
            channel: ChannelId([1; 32]),
            segment: vec![0; MAX_SEGMENT_BYTES + 1],
        };
        assert!(
            Request::decode(&big.encode()).is_err(),
            "a segment too large"
        );
        let mut bad_peer = RESPONSE.writer(TAG_FULL);
        bad_peer.byte_list(&[vec![0xFF; 10]]);
        assert!(Response::decode(&bad_peer.into_bytes()).is_err());
    }

    #[test]
    fn a_full_peer_names_its_children_and_a_silent_one_takes_none() {
        let mut root = Links::default();
        let kids: Vec<PeerId> = (0..BROADCASTER_CHILDREN)
            .map(|_| PeerId::random())
            .collect();
        for k in &kids {
            assert_eq!(root.join(*k, true), Response::Joined(Vec::new()));
        }
        assert_eq!(
            root.join(kids[0], true),
            Response::Joined(Vec::new()),
            "a child asking again keeps its place"
        );
        let Response::Full(others) = root.join(PeerId::random(), true) else {
            panic!("a broadcaster with every place taken is full");
        };
        assert_eq!(
            others.iter().collect::<std::collections::HashSet<_>>(),
            kids.iter().collect()
        );

        let mut listener = Links::default();
        assert_eq!(
            listener.join(PeerId::random(), false),
            Response::Refused,
            "a listener without a parent has nothing to push"
        );
        let parent = PeerId::random();
        listener.adopt(parent, vec![kids[1]]);
        assert_eq!(listener.path, vec![kids[1], parent]);
        assert_eq!(
            listener.join(PeerId::random(), false),
            Response::Joined(vec![kids[1], parent])
        );
        assert_eq!(
            listener.join(kids[1], false),
            Response::Refused,
            "an ancestor cannot become a child"
        );
    }

    crate::wire::codec_proptests!(
        Request,
        Response,
        requests()
            .iter()
            .map(Request::encode)
            .chain(responses().iter().map(Response::encode))
            .collect()
    );
}
