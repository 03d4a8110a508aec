//! [`RadioHub`]: what a node knows about channels and the state of the channels it takes part in
//! (broadcasting or tuned): recent segments for repair, listener heartbeats, and the listener
//! sessions segments are handed to.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::mpsc;

use super::CHANNELS_TOPIC;
use super::channel::{ChannelDescriptor, ChannelId, ChannelStatus};
use super::segment::{RadioMessage, Segment};
use super::tree::Links;
use crate::error::Result;
use crate::model::{ArtistKey, TrackId};
use crate::net::{Client, TopicValidator};

/// Recent segments kept per channel for repair and tune-in.
const RING: usize = 16;
/// Codec setups kept per channel beyond the ring (each as the newest segment carrying it): a
/// channel's tracks in turn use a few, and a tune-in answer brings the one its segments name.
const SETUPS: usize = 4;
/// A listener counts while its last heartbeat is this recent.
const LISTENER_TTL: Duration = Duration::from_secs(15);
/// A channel heard of stays listed this long after its last status.
const HEARD_TTL: Duration = Duration::from_secs(60);
/// Most channels remembered.
const MAX_HEARD: usize = 1024;
/// Most listeners counted per channel (heartbeat sources kept).
const MAX_HEARTBEATS: usize = 4096;
/// Tune-in answers (recent segments) a broadcaster gives at once, and per second after that.
/// A flash crowd of listeners is served this fast by the broadcaster itself; the rest get the
/// same segments from listeners that already have them, so a broadcast needs little more upload
/// than its stream.
const TUNE_IN_BURST: f64 = 16.0;
const TUNE_IN_PER_SEC: f64 = 8.0;

/// A track playing on a channel: an ordinary published track, so a listener can fetch it and
/// rate it like any other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NowPlaying {
    /// The track.
    pub track: TrackId,
    /// Its title.
    pub title: String,
    /// Its artist.
    pub artist: String,
}

impl NowPlaying {
    pub(crate) fn of(segment: &Segment) -> Self {
        let f = segment.fields();
        Self {
            track: f.track,
            title: f.title.clone(),
            artist: f.artist.clone(),
        }
    }
}

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
    /// Listeners: for a channel this peer broadcasts, the listeners its push tree counts below
    /// it; otherwise what the broadcaster last announced.
    pub listeners: u32,
    /// This peer broadcasts it.
    pub broadcasting: bool,
    /// This peer is tuned to it.
    pub tuned: bool,
    /// The newest sequence number this peer holds (broadcast or received).
    pub last_seq: Option<u64>,
    /// It plays a live source (its broadcaster says so, or its segments do).
    pub live: bool,
    /// For a channel this peer broadcasts or is tuned to: the air time of the newest segment
    /// held, Unix milliseconds (far behind the clock: the channel has stalled).
    pub last_air_ms: Option<u64>,
    /// For a channel this peer broadcasts or is tuned to: the track on air (that of the newest
    /// segment held whose air time has come).
    pub now_playing: Option<NowPlaying>,
    /// For a channel this peer is tuned to: the peer that pushes its segments here (its parent
    /// in the channel's push tree).
    pub parent: Option<PeerId>,
    /// For a channel this peer broadcasts or is tuned to: the peers it pushes segments to.
    pub children: usize,
}

struct Heard {
    descriptor: ChannelDescriptor,
    listeners: u32,
    at: Instant,
    /// The peer the last status came from: the broadcaster, unless someone replays its
    /// statuses (only a hint: what it sends is verified like anything else).
    broadcaster: Option<PeerId>,
    live: bool,
}

pub(super) struct Session {
    descriptor: ChannelDescriptor,
    ring: VecDeque<Segment>,
    /// The newest segment carrying each recent codec setup, oldest setup first (Vorbis headers
    /// ride in a track's first segment and then only every 64th, `SETUP_EVERY`, so the
    /// ring alone would soon hold none).
    setups: VecDeque<Segment>,
    heartbeats: HashMap<PeerId, Instant>,
    tuners: Vec<(u64, mpsc::Sender<Segment>)>,
    broadcasting: bool,
    members: usize,
    /// Tune-in answers left to give (see [`TUNE_IN_BURST`]) and when they were counted.
    tune_in_tokens: (f64, Instant),
    /// This peer's place in the channel's push tree.
    pub(super) tree: Links,
    /// The channel validator pushed segments pass (its own replay window).
    pub(super) check: TopicValidator,
}

impl Session {
    pub(super) fn broadcasting(&self) -> bool {
        self.broadcasting
    }

    pub(super) fn descriptor(&self) -> &ChannelDescriptor {
        &self.descriptor
    }

    /// Keeps a new segment and hands it to the listener sessions; returns whether it was new.
    pub(super) fn take(&mut self, segment: Segment) -> bool {
        if !self.keep(&segment) {
            return false;
        }
        for (_, tx) in &self.tuners {
            // A listener that cannot keep up loses the segment and repairs it.
            let _ = tx.try_send(segment.clone());
        }
        true
    }

    fn keep(&mut self, segment: &Segment) -> bool {
        if let Some((id, _)) = segment.carried_setup() {
            self.keep_setup(id, segment);
        }
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

    /// Keeps `segment` as the carrier of setup `id` unless a newer one is kept.
    fn keep_setup(&mut self, id: u32, segment: &Segment) {
        let same = |s: &Segment| s.carried_setup().is_some_and(|(k, _)| k == id);
        if let Some(i) = self.setups.iter().position(same) {
            if self.setups[i].seq() >= segment.seq() {
                return;
            }
            self.setups.remove(i);
        }
        self.setups.push_back(segment.clone());
        while self.setups.len() > SETUPS {
            self.setups.pop_front();
        }
    }

    /// The kept segment carrying setup `id`.
    fn carrier(&self, id: u32) -> Option<&Segment> {
        self.setups
            .iter()
            .find(|s| s.carried_setup().is_some_and(|(k, _)| k == id))
    }

    /// Listeners counted here: for a broadcaster, the listeners its push tree reports below it;
    /// and peers of older versions heard by their gossiped heartbeats.
    fn listeners(&mut self) -> u32 {
        self.heartbeats.retain(|_, at| at.elapsed() < LISTENER_TTL);
        let heard = self.heartbeats.len() as u32;
        if self.broadcasting {
            heard.max(self.tree.below())
        } else {
            heard
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The radio state of one node.
#[derive(Default)]
pub(crate) struct RadioHub {
    heard: Mutex<HashMap<ChannelId, Heard>>,
    pub(super) sessions: Mutex<HashMap<ChannelId, Session>>,
    next_tuner: Mutex<u64>,
    /// The node's network client (set when a channel is first entered): pushes down the tree.
    client: OnceLock<Client>,
}

impl RadioHub {
    /// Remembers a channel (from a status, the DHT, or our own broadcast), and the peer that
    /// broadcasts it when a status says so.
    pub(crate) fn heard(
        &self,
        descriptor: ChannelDescriptor,
        listeners: u32,
        broadcaster: Option<PeerId>,
    ) {
        let mut heard = lock(&self.heard);
        if heard.len() >= MAX_HEARD && !heard.contains_key(&descriptor.id()) {
            heard.retain(|_, h| h.at.elapsed() < HEARD_TTL);
            if heard.len() >= MAX_HEARD {
                return;
            }
        }
        let before = heard.get(&descriptor.id());
        let broadcaster = broadcaster.or_else(|| before.and_then(|h| h.broadcaster));
        let live = before.is_some_and(|h| h.live);
        heard.insert(
            descriptor.id(),
            Heard {
                descriptor,
                listeners,
                at: Instant::now(),
                broadcaster,
                live,
            },
        );
    }

    /// Remembers a channel from its signed status (with its live flag).
    pub(crate) fn heard_status(&self, status: &ChannelStatus, broadcaster: Option<PeerId>) {
        let id = status.descriptor.id();
        self.heard(status.descriptor.clone(), status.listeners, broadcaster);
        if let Some(h) = lock(&self.heard).get_mut(&id) {
            h.live = status.live;
        }
    }

    /// The peer that broadcasts a channel, as far as its statuses say.
    pub(crate) fn broadcaster(&self, id: &ChannelId) -> Option<PeerId> {
        lock(&self.heard).get(id).and_then(|h| h.broadcaster)
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
        let _ = self.client.set(client.clone());
        let first = {
            let mut sessions = lock(&self.sessions);
            let session = sessions.entry(id).or_insert_with(|| Session {
                descriptor: descriptor.clone(),
                ring: VecDeque::new(),
                setups: VecDeque::new(),
                heartbeats: HashMap::new(),
                tuners: Vec::new(),
                broadcasting: false,
                members: 0,
                tune_in_tokens: (TUNE_IN_BURST, Instant::now()),
                tree: Links::default(),
                check: super::validator(descriptor.clone()),
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

    /// The node's network client, once a channel was entered.
    pub(super) fn client(&self) -> Option<Client> {
        self.client.get().cloned()
    }

    /// Keeps a segment in the channel's ring (repair answers). Returns whether it was new.
    pub(crate) fn keep(&self, segment: &Segment) -> bool {
        lock(&self.sessions)
            .get_mut(&segment.channel())
            .is_some_and(|s| s.keep(segment))
    }

    /// The segments this node holds of a channel, oldest first (for a listener of its own).
    pub(crate) fn ring(&self, id: &ChannelId) -> Vec<Segment> {
        lock(&self.sessions)
            .get(id)
            .map(|s| s.ring.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Recent segments for the network: the one numbered `seq`, or the most recent ones. A
    /// broadcaster gives the most recent ones (a tune-in) at a bounded rate, and none beyond it.
    pub(crate) fn segments(&self, id: &ChannelId, seq: Option<u64>) -> Vec<Vec<u8>> {
        let mut sessions = lock(&self.sessions);
        let Some(s) = sessions.get_mut(id) else {
            return Vec::new();
        };
        if seq.is_none() && s.broadcasting {
            let (tokens, at) = &mut s.tune_in_tokens;
            let now = Instant::now();
            *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * TUNE_IN_PER_SEC)
                .min(TUNE_IN_BURST);
            *at = now;
            if *tokens < 1.0 {
                return Vec::new();
            }
            *tokens -= 1.0;
        }
        match seq {
            Some(seq) => s
                .ring
                .iter()
                .filter(|x| x.seq() == seq)
                .map(|x| x.encoded().to_vec())
                .collect(),
            None => {
                // The newest, and before them the newest segment carrying the codec setup
                // they leave out (Vorbis headers ride in a track's first segment and then
                // rarely), however old: the listener takes the setup from it.
                let newest: Vec<&Segment> =
                    s.ring.iter().rev().take(super::TUNE_IN_SEGMENTS).collect();
                let needs = newest.first().and_then(|n| match &n.fields().audio {
                    super::SegmentAudio::Packets {
                        setup_id, extra, ..
                    } if extra.is_empty() => Some(*setup_id),
                    _ => None,
                });
                let carrier = needs
                    .and_then(|id| s.carrier(id))
                    .filter(|x| !newest.iter().any(|n| n.seq() == x.seq()));
                carrier
                    .into_iter()
                    .chain(newest.into_iter().rev())
                    .map(|x| x.encoded().to_vec())
                    .collect()
            }
        }
    }

    /// The codec setup `setup_id` as a segment of `id` held here carries it.
    pub(crate) fn setup(&self, id: &ChannelId, setup_id: u32) -> Option<Vec<u8>> {
        let sessions = lock(&self.sessions);
        let s = sessions.get(id)?;
        let (_, extra) = s.carrier(setup_id)?.carried_setup()?;
        Some(extra.to_vec())
    }

    /// Listeners of a channel this peer takes part in: counted down its push tree by the
    /// broadcaster, as its latest status announced them to the others.
    pub(crate) fn listeners(&self, id: &ChannelId) -> u32 {
        let own = lock(&self.sessions)
            .get_mut(id)
            .map_or(0, Session::listeners);
        let announced = lock(&self.heard).get(id).map_or(0, |h| h.listeners);
        own.max(announced)
    }

    /// A message accepted on a radio topic or the channels topic.
    pub(crate) fn on_message(&self, topic: &str, data: &[u8], source: Option<PeerId>) {
        if topic == CHANNELS_TOPIC {
            if let Ok(status) = ChannelStatus::decode(data) {
                self.heard_status(&status, source);
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
                // From a peer that still floods segments on gossip (before the push tree).
                session.take(segment);
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
            let mut i = info(&h.descriptor, h.listeners);
            i.live = h.live;
            out.insert(*id, i);
        }
        for (id, s) in lock(&self.sessions).iter_mut() {
            let announced = out.get(id).map_or(0, |h| h.listeners);
            let listeners = s.listeners().max(announced);
            let mut i = info(&s.descriptor, listeners);
            i.broadcasting = s.broadcasting;
            i.tuned = !s.tuners.is_empty();
            i.parent = s.tree.parent;
            i.children = s.tree.children.len();
            i.last_seq = s.ring.back().map(Segment::seq);
            i.last_air_ms = s.ring.back().map(Segment::broadcast_ms);
            let now = super::unix_ms();
            i.now_playing = s
                .ring
                .iter()
                .rev()
                .find(|seg| seg.broadcast_ms() <= now)
                .map(NowPlaying::of);
            // A live segment's track is the channel itself.
            let live_segment = s
                .ring
                .back()
                .is_some_and(|seg| seg.fields().track.0 == id.0);
            i.live = live_segment || out.get(id).is_some_and(|h| h.live);
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
        live: false,
        last_air_ms: None,
        now_playing: None,
        parent: None,
        children: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ArtistKeypair;
    use crate::radio::segment::SegmentDraft;

    /// A hub in a channel's session, as its broadcaster or a listener, holding one segment.
    fn hub_with_segment(broadcasting: bool) -> (RadioHub, ChannelId) {
        let owner = ArtistKeypair::from_seed([3; 32]);
        let descriptor = ChannelDescriptor::sign(&owner, "Hub FM", "", 1);
        let id = descriptor.id();
        let hub = RadioHub::default();
        lock(&hub.sessions).insert(
            id,
            Session {
                check: crate::radio::validator(descriptor.clone()),
                descriptor,
                ring: VecDeque::new(),
                setups: VecDeque::new(),
                heartbeats: HashMap::new(),
                tuners: Vec::new(),
                broadcasting,
                members: 1,
                tune_in_tokens: (TUNE_IN_BURST, Instant::now()),
                tree: Links::default(),
            },
        );
        let segment = SegmentDraft::silence(id, 7, 1_700_000_000_000, 800).sign(&owner);
        assert!(hub.keep(&segment));
        (hub, id)
    }

    #[test]
    fn only_the_parent_may_push_and_a_parent_that_pushes_a_forgery_is_left() {
        let (hub, id) = hub_with_segment(false);
        let owner = ArtistKeypair::from_seed([3; 32]);
        let pushed = |seq, key: &ArtistKeypair| {
            SegmentDraft::silence(id, seq, crate::radio::unix_ms(), 800)
                .sign(key)
                .encoded()
                .to_vec()
        };
        let parent = PeerId::random();
        assert_eq!(hub.tree_push(&id, parent, &pushed(8, &owner)), None);
        assert!(hub.tree_adopt(&id, parent, Vec::new()));
        assert_eq!(
            hub.tree_push(&id, parent, &pushed(8, &owner)),
            Some(Vec::new())
        );
        assert_eq!(hub.ring(&id).last().map(Segment::seq), Some(8));
        let child = PeerId::random();
        assert_eq!(
            hub.tree_join(&id, child),
            crate::radio::tree::Response::Joined(vec![parent])
        );
        assert_eq!(
            hub.tree_push(&id, parent, &pushed(9, &owner)),
            Some(vec![child]),
            "a new segment goes on to the children"
        );
        assert_eq!(
            hub.tree_push(&id, parent, &pushed(9, &owner)),
            Some(Vec::new()),
            "a segment held already goes no further"
        );
        assert_eq!(
            hub.tree_push(&id, PeerId::random(), &pushed(10, &owner)),
            None,
            "a stranger is told to stop"
        );
        assert_eq!(hub.ring(&id).last().map(Segment::seq), Some(9));
        assert_eq!(hub.tree_check(&id), crate::radio::relay::Place::Fed);
        let thief = ArtistKeypair::from_seed([4; 32]);
        assert_eq!(hub.tree_push(&id, parent, &pushed(10, &thief)), None);
        assert_eq!(hub.ring(&id).last().map(Segment::seq), Some(9));
        assert_eq!(
            hub.tree_check(&id),
            crate::radio::relay::Place::Orphan(None),
            "the forger is no longer the parent: join again"
        );
    }

    #[test]
    fn a_broadcaster_answers_a_burst_of_tune_ins_then_refuses_but_always_repairs() {
        let (hub, id) = hub_with_segment(true);
        for k in 0..TUNE_IN_BURST as usize {
            assert_eq!(hub.segments(&id, None).len(), 1, "tune-in {k}");
        }
        assert!(hub.segments(&id, None).is_empty(), "over the burst");
        assert_eq!(
            hub.segments(&id, Some(7)).len(),
            1,
            "a repair is not limited"
        );
    }

    #[test]
    fn a_listener_answers_every_tune_in() {
        let (hub, id) = hub_with_segment(false);
        for k in 0..2 * TUNE_IN_BURST as usize {
            assert_eq!(hub.segments(&id, None).len(), 1, "tune-in {k}");
        }
    }

    #[test]
    fn the_broadcaster_named_by_a_status_is_kept_when_the_dht_names_the_channel() {
        let owner = ArtistKeypair::from_seed([4; 32]);
        let descriptor = ChannelDescriptor::sign(&owner, "Hub FM", "", 1);
        let hub = RadioHub::default();
        let peer = PeerId::random();
        hub.heard(descriptor.clone(), 3, Some(peer));
        // A later sighting without a source (the DHT) keeps the broadcaster.
        hub.heard(descriptor.clone(), 0, None);
        assert_eq!(hub.broadcaster(&descriptor.id()), Some(peer));
    }

    #[test]
    fn a_tune_in_brings_the_codec_setup_of_a_track_that_began_long_before_the_ring() {
        let (hub, id) = hub_with_segment(false);
        let owner = ArtistKeypair::from_seed([3; 32]);
        let vorbis = |seq: u64, extra: &[u8], carried: bool| {
            let mut draft = SegmentDraft::silence(id, seq, 1_700_000_000_000 + seq, 800);
            draft.audio = crate::radio::SegmentAudio::Packets {
                codec: crate::media::PacketCodec::Vorbis,
                setup_id: crate::radio::segment::setup_id(extra),
                extra: if carried { extra.to_vec() } else { Vec::new() },
                packets: vec![crate::media::EncodedPacket {
                    data: vec![1; 50],
                    frames: 800,
                    trim_start: 0,
                    trim_end: 0,
                }],
            };
            draft.sign(&owner)
        };
        let (first, second) = ([4u8; 3000], [5u8; 3000]);
        // A track whose headers rode in its first segment only, 40 segments ago.
        hub.keep(&vorbis(100, &first, true));
        for seq in 101..140 {
            hub.keep(&vorbis(seq, &first, false));
        }
        assert!(hub.ring(&id).iter().all(|s| s.carried_setup().is_none()));
        let answer = hub.segments(&id, None);
        let seqs: Vec<u64> = answer
            .iter()
            .map(
                |b| match RadioMessage::decode(b, hub.descriptor(&id).as_ref().unwrap()) {
                    Ok(RadioMessage::Segment(s)) => s.seq(),
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(
            seqs,
            vec![100, 138, 139],
            "the carrier first, then the newest"
        );
        let first_id = crate::radio::segment::setup_id(&first);
        assert_eq!(hub.setup(&id, first_id).as_deref(), Some(&first[..]));
        // The next track brings other headers; the first track's stay known a while.
        hub.keep(&vorbis(140, &second, true));
        hub.keep(&vorbis(141, &second, false));
        assert_eq!(
            hub.segments(&id, None).len(),
            2,
            "the carrier is among the newest"
        );
        hub.keep(&vorbis(142, &second, false));
        assert_eq!(hub.segments(&id, None).len(), 3);
        assert_eq!(hub.setup(&id, first_id).as_deref(), Some(&first[..]));
        // An older copy of a carrier does not replace the newer one.
        hub.keep(&vorbis(90, &first, true));
        let kept = lock(&hub.sessions)[&id].carrier(first_id).map(Segment::seq);
        assert_eq!(kept, Some(100));
    }
}
