//! [`RadioHub`]: what a node knows about channels and the state of the channels it takes part in
//! (broadcasting or tuned): recent segments for repair, listener heartbeats, and the listener
//! sessions segments are handed to.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::mpsc;

use super::channel::{ChannelDescriptor, ChannelId, ChannelStatus};
use super::segment::{RadioMessage, Segment};
use crate::error::Result;
use crate::model::ArtistKey;
use crate::net::{CHANNELS_TOPIC, Client};

/// Recent segments kept per channel for repair and tune-in.
const RING: usize = 16;
/// A listener counts while its last heartbeat is this recent.
const LISTENER_TTL: Duration = Duration::from_secs(15);
/// A channel heard of stays listed this long after its last status.
const HEARD_TTL: Duration = Duration::from_secs(60);
/// Most channels remembered.
const MAX_HEARD: usize = 1024;
/// Most listeners counted per channel (heartbeat sources kept).
const MAX_HEARTBEATS: usize = 4096;

/// A channel as `radio list` and the GUI show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The channel.
    pub id: ChannelId,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its owner's key.
    pub owner: ArtistKey,
    /// Listeners: for a channel this peer broadcasts or is tuned to, the peers heard from on its
    /// topic in the last 15 s; otherwise what the broadcaster last announced.
    pub listeners: u32,
    /// This peer broadcasts it.
    pub broadcasting: bool,
    /// This peer is tuned to it.
    pub tuned: bool,
    /// The newest sequence number this peer holds (broadcast or received).
    pub last_seq: Option<u64>,
}

struct Heard {
    descriptor: ChannelDescriptor,
    listeners: u32,
    at: Instant,
}

struct Session {
    descriptor: ChannelDescriptor,
    ring: VecDeque<Segment>,
    heartbeats: HashMap<PeerId, Instant>,
    tuners: Vec<(u64, mpsc::Sender<Segment>)>,
    broadcasting: bool,
    members: usize,
}

impl Session {
    fn keep(&mut self, segment: &Segment) -> bool {
        if self.ring.iter().any(|s| s.seq() == segment.seq()) {
            return false;
        }
        let pos = self
            .ring
            .iter()
            .position(|s| s.seq() > segment.seq())
            .unwrap_or(self.ring.len());
        self.ring.insert(pos, segment.clone());
        while self.ring.len() > RING {
            self.ring.pop_front();
        }
        true
    }

    fn listeners(&mut self) -> u32 {
        self.heartbeats.retain(|_, at| at.elapsed() < LISTENER_TTL);
        self.heartbeats.len() as u32
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The radio state of one node.
#[derive(Default)]
pub(crate) struct RadioHub {
    heard: Mutex<HashMap<ChannelId, Heard>>,
    sessions: Mutex<HashMap<ChannelId, Session>>,
    next_tuner: Mutex<u64>,
}

impl RadioHub {
    /// Remembers a channel (from a status, the DHT, or our own broadcast).
    pub(crate) fn heard(&self, descriptor: ChannelDescriptor, listeners: u32) {
        let mut heard = lock(&self.heard);
        if heard.len() >= MAX_HEARD && !heard.contains_key(&descriptor.id()) {
            heard.retain(|_, h| h.at.elapsed() < HEARD_TTL);
            if heard.len() >= MAX_HEARD {
                return;
            }
        }
        heard.insert(
            descriptor.id(),
            Heard {
                descriptor,
                listeners,
                at: Instant::now(),
            },
        );
    }

    /// The descriptor of a channel known here.
    pub(crate) fn descriptor(&self, id: &ChannelId) -> Option<ChannelDescriptor> {
        if let Some(s) = lock(&self.sessions).get(id) {
            return Some(s.descriptor.clone());
        }
        lock(&self.heard).get(id).map(|h| h.descriptor.clone())
    }

    /// Joins a channel's topic (the first member subscribes). The membership ends when the
    /// returned guard is dropped (the last member unsubscribes).
    pub(crate) async fn enter(
        self: &Arc<Self>,
        client: &Client,
        descriptor: &ChannelDescriptor,
        broadcasting: bool,
    ) -> Result<Membership> {
        let id = descriptor.id();
        let first = {
            let mut sessions = lock(&self.sessions);
            let session = sessions.entry(id).or_insert_with(|| Session {
                descriptor: descriptor.clone(),
                ring: VecDeque::new(),
                heartbeats: HashMap::new(),
                tuners: Vec::new(),
                broadcasting: false,
                members: 0,
            });
            session.members += 1;
            session.broadcasting |= broadcasting;
            session.members == 1
        };
        if first
            && let Err(e) = client
                .subscribe(id.topic(), super::validator(descriptor.clone()))
                .await
        {
            self.leave_session(&id, broadcasting);
            return Err(e);
        }
        Ok(Membership {
            hub: self.clone(),
            client: client.clone(),
            id,
            broadcasting,
        })
    }

    fn leave_session(&self, id: &ChannelId, broadcasting: bool) -> bool {
        let mut sessions = lock(&self.sessions);
        let Some(session) = sessions.get_mut(id) else {
            return false;
        };
        session.members = session.members.saturating_sub(1);
        if broadcasting {
            session.broadcasting = false;
        }
        if session.members == 0 {
            sessions.remove(id);
            return true;
        }
        false
    }

    /// Registers a listener session; segments of the channel arriving by gossip go to `tx`.
    pub(crate) fn add_tuner(&self, id: &ChannelId, tx: mpsc::Sender<Segment>) -> u64 {
        let key = {
            let mut next = lock(&self.next_tuner);
            *next += 1;
            *next
        };
        if let Some(s) = lock(&self.sessions).get_mut(id) {
            s.tuners.push((key, tx));
        }
        key
    }

    /// Removes a listener session.
    pub(crate) fn remove_tuner(&self, id: &ChannelId, key: u64) {
        if let Some(s) = lock(&self.sessions).get_mut(id) {
            s.tuners.retain(|(k, _)| *k != key);
        }
    }

    /// Keeps a segment in the channel's ring (own broadcast, repair answers). Returns whether it
    /// was new.
    pub(crate) fn keep(&self, segment: &Segment) -> bool {
        lock(&self.sessions)
            .get_mut(&segment.channel())
            .is_some_and(|s| s.keep(segment))
    }

    /// Recent segments for the network: the one numbered `seq`, or the most recent ones.
    pub(crate) fn segments(&self, id: &ChannelId, seq: Option<u64>) -> Vec<Vec<u8>> {
        let sessions = lock(&self.sessions);
        let Some(s) = sessions.get(id) else {
            return Vec::new();
        };
        match seq {
            Some(seq) => s
                .ring
                .iter()
                .filter(|x| x.seq() == seq)
                .map(|x| x.encoded().to_vec())
                .collect(),
            None => s.ring.iter().map(|x| x.encoded().to_vec()).collect(),
        }
    }

    /// Listeners heard on a channel this peer takes part in.
    pub(crate) fn listeners(&self, id: &ChannelId) -> u32 {
        lock(&self.sessions)
            .get_mut(id)
            .map_or(0, Session::listeners)
    }

    /// A message accepted on a radio topic or the channels topic.
    pub(crate) fn on_message(&self, topic: &str, data: &[u8], source: Option<PeerId>) {
        if topic == CHANNELS_TOPIC {
            if let Ok(status) = ChannelStatus::decode(data) {
                self.heard(status.descriptor, status.listeners);
            }
            return;
        }
        let Some(id) = topic
            .strip_prefix("busker/radio/")
            .and_then(|t| t.strip_suffix("/1"))
            .and_then(|hex| hex.parse::<ChannelId>().ok())
        else {
            return;
        };
        let mut sessions = lock(&self.sessions);
        let Some(session) = sessions.get_mut(&id) else {
            return;
        };
        match RadioMessage::decode(data, &session.descriptor) {
            Ok(RadioMessage::Segment(segment)) => {
                if session.keep(&segment) {
                    for (_, tx) in &session.tuners {
                        // A listener that cannot keep up loses the segment and repairs it.
                        let _ = tx.try_send(segment.clone());
                    }
                }
            }
            Ok(RadioMessage::Heartbeat { .. }) => {
                if let Some(peer) = source
                    && (session.heartbeats.len() < MAX_HEARTBEATS
                        || session.heartbeats.contains_key(&peer))
                {
                    session.heartbeats.insert(peer, Instant::now());
                }
            }
            Err(e) => tracing::debug!(error = %e, "radio message dropped"),
        }
    }

    /// Channels heard of and channels this peer takes part in.
    pub(crate) fn channels(&self) -> Vec<ChannelInfo> {
        let mut out: HashMap<ChannelId, ChannelInfo> = HashMap::new();
        for (id, h) in lock(&self.heard).iter() {
            if h.at.elapsed() > HEARD_TTL {
                continue;
            }
            out.insert(*id, info(&h.descriptor, h.listeners));
        }
        for (id, s) in lock(&self.sessions).iter_mut() {
            let listeners = s.listeners();
            let mut i = info(&s.descriptor, listeners);
            i.broadcasting = s.broadcasting;
            i.tuned = !s.tuners.is_empty();
            i.last_seq = s.ring.back().map(Segment::seq);
            out.insert(*id, i);
        }
        let mut list: Vec<ChannelInfo> = out.into_values().collect();
        list.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        list
    }
}

/// Membership of a channel's topic (a broadcast or a listener). Dropping it leaves the channel;
/// the last member unsubscribes from the topic.
pub(crate) struct Membership {
    hub: Arc<RadioHub>,
    client: Client,
    id: ChannelId,
    broadcasting: bool,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if self.hub.leave_session(&self.id, self.broadcasting)
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let client = self.client.clone();
            let topic = self.id.topic();
            runtime.spawn(async move {
                let _ = client.unsubscribe(topic).await;
            });
        }
    }
}

fn info(d: &ChannelDescriptor, listeners: u32) -> ChannelInfo {
    ChannelInfo {
        id: d.id(),
        name: d.name().to_owned(),
        description: d.description().to_owned(),
        owner: d.owner(),
        listeners,
        broadcasting: false,
        tuned: false,
        last_seq: None,
    }
}
