//! The hub's side of the push tree ([`super::tree`]): serving its protocol, pushing segments to
//! children, joining under a parent and keeping a listener joined.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use rand::seq::SliceRandom;

use super::ChannelId;
use super::hub::{RadioHub, lock};
use super::segment::{RadioMessage, Segment};
use super::tree::{MAX_DEPTH, PROTOCOL, Request, Response, STALE_AFTER, request};
use super::tree::{MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use crate::net::{self, Client, Reply, Validation};

/// How often a listener checks that its parent still pushes.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// How long a listener that found no place waits before it walks again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// The most listeners one child may report at and below it (a lying child can inflate the
/// count this far, no further).
const MAX_REPORTED: u32 = 100_000;
/// Peers a joiner asks at most in one walk.
const MAX_JOIN_ASKS: usize = 32;

/// What a peer answers on the tree protocol, out of its radio hub.
fn serve(hub: &Arc<RadioHub>, peer: PeerId, request: Request) -> Response {
    match request {
        Request::Join { channel } => hub.tree_join(&channel, peer),
        Request::Leave { channel } => {
            hub.tree_drop_child(&channel, &peer);
            Response::Done(0)
        }
        Request::Push { channel, segment } => match hub.tree_push(&channel, peer, &segment) {
            None => Response::Gone,
            Some(children) => {
                if !children.is_empty() {
                    forward(hub, channel, children, segment);
                }
                Response::Done(hub.tree_size(&channel))
            }
        },
    }
}

/// The tree protocol serving `hub`, to register with [`net::Services::protocol`].
pub(crate) fn offer(hub: Arc<RadioHub>) -> net::Protocol {
    net::Protocol::decoding(
        PROTOCOL,
        MAX_REQUEST_BYTES,
        MAX_RESPONSE_BYTES,
        Response::Refused.encode(),
        Request::decode,
        move |peer, request| Reply::Answer(serve(&hub, peer, request).encode()),
    )
}

/// Pushes an encoded segment of `channel` to `children`, each on its own task; a child that
/// answers [`Response::Gone`] or cannot be reached is dropped.
pub(crate) fn forward(
    hub: &Arc<RadioHub>,
    channel: ChannelId,
    children: Vec<PeerId>,
    segment: Vec<u8>,
) {
    let Some(client) = hub.client() else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    // One encoding for every child.
    let push = Request::Push { channel, segment }.encode();
    for child in children {
        let (client, hub, push) = (client.clone(), hub.clone(), push.clone());
        runtime.spawn(async move {
            match client.ask(child, PROTOCOL, push, Response::decode).await {
                Ok(Response::Done(below)) => hub.tree_note(&channel, &child, below),
                Ok(answer) => {
                    tracing::debug!(%child, ?answer, "radio child dropped");
                    hub.tree_drop_child(&channel, &child);
                }
                Err(e) => {
                    tracing::debug!(%child, error = %e, "radio child unreachable, dropped");
                    hub.tree_drop_child(&channel, &child);
                }
            }
        });
    }
}

/// Walks the tree of `channel` from `first` (the broadcaster, then neighbours on the channel),
/// breadth first, until a peer takes this one as its child; returns it. Peers whose path holds
/// this one are left at once.
pub(crate) async fn join(
    client: &Client,
    hub: &RadioHub,
    channel: ChannelId,
    first: Vec<PeerId>,
) -> Option<PeerId> {
    let me = client.peer_id();
    let mut queue: VecDeque<PeerId> = first.into();
    let mut asked = HashSet::new();
    while let Some(peer) = queue.pop_front() {
        if peer == me || !asked.insert(peer) {
            continue;
        }
        if asked.len() > MAX_JOIN_ASKS {
            break;
        }
        match request(client, peer, Request::Join { channel }).await {
            Ok(Response::Joined(path)) => {
                if path.contains(&me) || path.len() >= MAX_DEPTH {
                    let _ = request(client, peer, Request::Leave { channel }).await;
                    continue;
                }
                if hub.tree_adopt(&channel, peer, path) {
                    return Some(peer);
                }
                let _ = request(client, peer, Request::Leave { channel }).await;
                return None;
            }
            Ok(Response::Full(others)) => queue.extend(others),
            Ok(_) => {}
            Err(e) => tracing::debug!(%peer, error = %e, "radio tree join not answered"),
        }
    }
    None
}

/// A listener's place in the tree, as [`RadioHub::tree_check`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// The session has ended.
    Gone,
    /// A parent pushes segments here (or this peer broadcasts).
    Fed,
    /// No parent, or a silent one (now forgotten, to be told to stop): join again.
    Orphan(Option<PeerId>),
}

impl RadioHub {
    /// A join from `peer`.
    pub(crate) fn tree_join(&self, channel: &ChannelId, peer: PeerId) -> Response {
        match lock(&self.sessions).get_mut(channel) {
            None => Response::Refused,
            Some(s) => {
                let broadcasting = s.broadcasting();
                s.tree.join(peer, broadcasting)
            }
        }
    }

    /// `peer` is no longer a child here.
    pub(crate) fn tree_drop_child(&self, channel: &ChannelId, peer: &PeerId) {
        if let Some(s) = lock(&self.sessions).get_mut(channel) {
            s.tree.drop_child(peer);
        }
    }

    /// A child's report of the listeners at and below it (at most [`MAX_REPORTED`]).
    pub(crate) fn tree_note(&self, channel: &ChannelId, child: &PeerId, below: u32) {
        if let Some(s) = lock(&self.sessions).get_mut(channel)
            && s.tree.children.contains(child)
        {
            s.tree.note(*child, below.clamp(1, MAX_REPORTED));
        }
    }

    /// This listener and the listeners below it.
    pub(crate) fn tree_size(&self, channel: &ChannelId) -> u32 {
        lock(&self.sessions)
            .get(channel)
            .map_or(0, |s| 1 + s.tree.below())
    }

    /// A segment pushed by `peer`: `None` when `peer` is not this peer's parent on the channel
    /// (stop pushing); otherwise the children to push it on to (none when it was not new, or
    /// was ignored by the channel's checks). A parent that pushes a forged segment is left.
    pub(crate) fn tree_push(
        &self,
        channel: &ChannelId,
        peer: PeerId,
        bytes: &[u8],
    ) -> Option<Vec<PeerId>> {
        let mut sessions = lock(&self.sessions);
        let s = sessions.get_mut(channel)?;
        if s.tree.parent != Some(peer) {
            return None;
        }
        match (s.check)(bytes, Some(&peer)) {
            Validation::Reject => {
                tracing::warn!(%peer, "radio parent pushed an invalid segment, left");
                s.tree.parent = None;
                return None;
            }
            Validation::Ignore => {
                s.tree.heard_at = Some(Instant::now());
                return Some(Vec::new());
            }
            Validation::Accept => s.tree.heard_at = Some(Instant::now()),
        }
        let new = match RadioMessage::decode(bytes, s.descriptor()) {
            Ok(RadioMessage::Segment(segment)) => s.take(segment),
            _ => false,
        };
        Some(if new {
            s.tree.children.clone()
        } else {
            Vec::new()
        })
    }

    /// Takes `parent` (whose path is `path`) as this peer's parent; false when the session has
    /// ended meanwhile.
    pub(crate) fn tree_adopt(
        &self,
        channel: &ChannelId,
        parent: PeerId,
        path: Vec<PeerId>,
    ) -> bool {
        match lock(&self.sessions).get_mut(channel) {
            None => false,
            Some(s) => {
                for c in s.tree.children.clone() {
                    if c == parent || path.contains(&c) {
                        s.tree.drop_child(&c);
                    }
                }
                s.tree.adopt(parent, path);
                true
            }
        }
    }

    /// Where this peer stands in the channel's tree; a silent parent is forgotten here.
    pub(crate) fn tree_check(&self, channel: &ChannelId) -> Place {
        match lock(&self.sessions).get_mut(channel) {
            None => Place::Gone,
            Some(s) if s.broadcasting() || s.tree.receiving(STALE_AFTER) => Place::Fed,
            Some(s) => {
                let old = s.tree.parent.take();
                s.tree.path.clear();
                Place::Orphan(old)
            }
        }
    }

    /// A segment of this peer's own broadcast: kept, handed to local listeners and pushed to
    /// the children.
    pub(crate) fn air(self: &Arc<Self>, segment: &Segment) {
        let channel = segment.channel();
        let children = match lock(&self.sessions).get_mut(&channel) {
            Some(s) => {
                if !s.take(segment.clone()) {
                    return;
                }
                s.tree.children.clone()
            }
            None => return,
        };
        forward(self, channel, children, segment.encoded().to_vec());
    }
}

/// Keeps a listener in the channel's tree until its session ends: joins at once, and again
/// whenever the parent falls silent (the old one, if it pushes again, is answered `Gone`).
/// Candidates are the broadcaster, then the neighbours on the channel's topic.
pub(crate) async fn keep_joined(client: Client, hub: Arc<RadioHub>, channel: ChannelId) {
    loop {
        match hub.tree_check(&channel) {
            Place::Gone => return,
            Place::Fed => tokio::time::sleep(CHECK_EVERY).await,
            Place::Orphan(old) => {
                if let Some(old) = old {
                    // The old parent is not told: the walk may take this peer back to it (a
                    // broadcaster whose live source paused), and a leave overtaking that join
                    // would drop this peer from its children. If it pushes again, it is
                    // answered `Gone` and drops this peer then.
                    tracing::debug!(%old, "radio parent silent, joining again");
                }
                let mut first: Vec<PeerId> = hub.broadcaster(&channel).into_iter().collect();
                let mut neighbours = client
                    .topic_peers(channel.topic())
                    .await
                    .unwrap_or_default();
                neighbours.shuffle(&mut rand::thread_rng());
                first.extend(neighbours);
                if join(&client, &hub, channel, first).await.is_none() {
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
    }
}
