//! The listener: joins a channel at its live point, keeps a jitter buffer, repairs missing
//! segments from neighbours, and plays each segment at its broadcast time plus a fixed latency.
//!
//! Timing: playback starts at the live point, [`TuneOptions::latency`] behind the broadcast (or
//! with a segment already on air, a little closer; see [`choose_start`]); from then on segment
//! `n` plays at that anchor plus the broadcast-time difference. A segment that has not arrived by its expected arrival
//! time (its play time minus the latency and [`super::SEND_AHEAD`]) plus
//! [`TuneOptions::repair_after`] is asked from a
//! neighbour on the topic (another neighbour every [`REPAIR_RETRY`], the broadcaster at the third
//! try) until its play time; a segment still missing then is counted late and skipped.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::{mpsc, watch};

use super::channel::{ChannelDescriptor, ChannelId};
use super::hub::{NowPlaying, RadioHub};
use super::protocol::{self, Request, Response};
use super::segment::{RadioMessage, Segment, encode_heartbeat};
use super::unix_ms;
use crate::error::{Error, Result};
use crate::media::{AudioSink, MediaError, Pcm, PcmSpec, SinkInput};
use crate::model::TrackId;
use crate::net::Client;

/// How often a repair request for a still-missing segment is retried (with another peer).
pub const REPAIR_RETRY: Duration = Duration::from_millis(250);
/// How often a listener that has not started yet asks its neighbours for their latest segments
/// (a neighbour is asked again only once its previous answer is in).
const RECENT_RETRY: Duration = Duration::from_millis(300);
/// Neighbours asked for their latest segments at once while the listener has not started.
const RECENT_FANOUT: usize = 3;
/// How long a listener that holds only segments too old for its jitter buffer waits for newer
/// ones before it starts with the newest it holds anyway (and plays that much later).
const ADAPT_AFTER: Duration = Duration::from_millis(1000);
/// A listener never starts with a segment older than this (it waits for newer ones).
const MAX_LATE: Duration = Duration::from_secs(10);
/// Tune-in requests a listener sends the broadcaster at most (its neighbours are asked until
/// playback starts): the broadcaster holds the live point when no neighbour does yet.
const BROADCASTER_ASKS: u32 = 2;
/// The repair try of a segment that goes to the broadcaster (counting from 0); the others go to
/// neighbours in turn.
const BROADCASTER_REPAIR_ATTEMPT: usize = 2;
/// How often a listener says it is tuned in.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// Segments buffered ahead at most.
const MAX_AHEAD: u64 = 64;
/// Repair requests in flight at most.
const MAX_REPAIRS: usize = 8;

/// Drops gossip deliveries on purpose (fault injection for tests and benches): the delivery
/// numbered `first` (counting from 0), then every `every`-th one after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropPattern {
    /// The first delivery dropped.
    pub first: u64,
    /// Then one in this many.
    pub every: u64,
}

impl DropPattern {
    fn drops(&self, delivery: u64) -> bool {
        delivery >= self.first && (delivery - self.first).is_multiple_of(self.every.max(1))
    }
}

/// How to tune in.
#[derive(Debug, Clone)]
pub struct TuneOptions {
    /// Delay between a segment's broadcast (air) time and its playback. With the broadcaster's
    /// [`super::SEND_AHEAD`], a segment has this plus the lead to arrive: the jitter buffer.
    pub latency: Duration,
    /// How long after its expected arrival a missing segment is asked from a neighbour.
    pub repair_after: Duration,
    /// Stop after this much of the broadcast, played or skipped as late (`None`: until
    /// [`Tuning::stop`]): a listener ends even when the segments stop coming.
    pub seconds: Option<f64>,
    /// Give up when no segment arrives within this time of tuning in.
    pub start_timeout: Duration,
    /// Fault injection: drop these gossip deliveries (repair must bring them).
    pub drop_gossip: Option<DropPattern>,
}

impl Default for TuneOptions {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(500),
            repair_after: Duration::from_millis(350),
            seconds: None,
            start_timeout: Duration::from_secs(30),
            drop_gossip: None,
        }
    }
}

impl TuneOptions {
    /// The defaults, stopping after `seconds` of audio.
    pub fn seconds(seconds: f64) -> Self {
        Self {
            seconds: Some(seconds),
            ..Self::default()
        }
    }
}

/// What a listener reports while it plays.
#[derive(Debug, Clone, PartialEq)]
pub enum RadioEvent {
    /// The first segment went to the sink, this long after tuning in.
    Started {
        /// Milliseconds from tuning in to the first audio.
        startup_ms: f64,
    },
    /// A new track is playing (the first, or the next).
    NowPlaying {
        /// The track: an ordinary published track (fetch it, rate it).
        track: TrackId,
        /// Its title.
        title: String,
        /// Its artist.
        artist: String,
    },
    /// The listener count of the channel changed.
    Listeners(u32),
    /// A segment was not here at its play time and was skipped.
    Gap {
        /// Its sequence number.
        seq: u64,
    },
}

/// The first segment a listener played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstSegment {
    /// Its sequence number.
    pub seq: u64,
    /// The track.
    pub track: TrackId,
    /// The frame of the track it starts at.
    pub frame: u64,
}

/// Figures of one tune-in (the `radio tune --json` fields and a few more).
#[derive(Debug, Clone, PartialEq)]
pub struct TuneReport {
    /// The channel.
    pub channel: ChannelId,
    /// Milliseconds from tuning in to the first audio.
    pub startup_ms: Option<f64>,
    /// Median milliseconds between a segment's broadcast time and its playback.
    pub lag_ms: Option<f64>,
    /// Segments played on time.
    pub segments: u64,
    /// Segments missing at their play time (skipped).
    pub late: u64,
    /// Segments that came from a neighbour's repair answer rather than gossip.
    pub repaired: u64,
    /// Gossip deliveries dropped on purpose ([`TuneOptions::drop_gossip`]).
    pub dropped: u64,
    /// The first segment played.
    pub first: Option<FirstSegment>,
    /// Frames written to the sink.
    pub frames: u64,
    /// The format of the audio written (of the first track).
    pub spec: Option<PcmSpec>,
    /// The tracks played, in order: ordinary published tracks, to fetch or rate.
    pub tracks: Vec<NowPlaying>,
}

impl TuneReport {
    /// The fraction of segments played on time (1.0: no gap).
    pub fn continuity(&self) -> f64 {
        let total = self.segments + self.late;
        if total == 0 {
            1.0
        } else {
            self.segments as f64 / total as f64
        }
    }
}

/// A running tune-in. Drop it or call [`Tuning::stop`] to stop; [`Tuning::finish`] waits for
/// the report.
pub struct Tuning {
    channel: ChannelId,
    events: mpsc::Receiver<RadioEvent>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<TuneReport>>,
}

impl std::fmt::Debug for Tuning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tuning")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Tuning {
    /// The channel.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// The next event, if one is waiting (never blocks: for a UI frame).
    pub fn try_event(&mut self) -> Option<RadioEvent> {
        self.events.try_recv().ok()
    }

    /// Waits for the next event; `None` once the listener has stopped.
    pub async fn next_event(&mut self) -> Option<RadioEvent> {
        self.events.recv().await
    }

    /// Asks the listener to stop (the sink is finished, the report made).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits until the listener stops (after [`TuneOptions::seconds`] of audio, or
    /// [`Tuning::stop`]) and returns its report.
    pub async fn finish(self) -> Result<TuneReport> {
        let Self { task, stop, .. } = self;
        let result = task
            .await
            .map_err(|e| Error::Network(format!("radio listener failed: {e}")))?;
        drop(stop);
        result
    }
}

enum WriterMsg {
    Play(PcmSpec, Pcm),
}

/// What the writer thread ends with: frames written and the first stream's format.
type WriterResult = std::result::Result<(u64, Option<PcmSpec>), MediaError>;

/// The thread that owns the sink (its writes block as long as a device needs).
fn spawn_writer(
    mut sink: Box<dyn AudioSink>,
) -> (
    std::sync::mpsc::SyncSender<WriterMsg>,
    std::thread::JoinHandle<WriterResult>,
) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<WriterMsg>(64);
    let handle = std::thread::spawn(move || {
        let mut current: Option<PcmSpec> = None;
        let mut first: Option<PcmSpec> = None;
        let mut frames = 0u64;
        let mut device: Option<crate::player::DeviceOut> = None;
        while let Ok(WriterMsg::Play(spec, pcm)) = rx.recv() {
            frames += (pcm.len() / spec.channels.max(1) as usize) as u64;
            first.get_or_insert(spec);
            match sink.input() {
                SinkInput::Native => {
                    if current != Some(spec) {
                        sink.begin(&spec)?;
                        current = Some(spec);
                    }
                    sink.write(&pcm)?;
                }
                SinkInput::Device {
                    sample_rate,
                    channels,
                } => {
                    let out = device
                        .get_or_insert_with(|| crate::player::DeviceOut::new(sample_rate, channels))
                        .convert(&spec, &pcm, 1.0);
                    if current.is_none() {
                        let device_spec = PcmSpec {
                            sample_rate,
                            channels,
                            format: crate::media::SampleFormat::Float,
                        };
                        sink.begin(&device_spec)?;
                        current = Some(device_spec);
                    }
                    sink.write(&out)?;
                }
            }
        }
        sink.finish()?;
        Ok((frames, first))
    });
    (tx, handle)
}

/// Where a listener starts (see [`choose_start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// At once, inside segment `seq`, leaving out its first `trim` frames: the live point
    /// (broadcast time `point`) falls in it.
    Inside { seq: u64, point: u64, trim: u64 },
    /// No held segment holds the live point, but `seq` (broadcast time `bt`, after the live point)
    /// is on air already: it starts at once, `latency` behind the broadcast (less than asked;
    /// the broadcaster's lead still covers the jitter).
    OnAir {
        seq: u64,
        bt: u64,
        latency: Duration,
    },
    /// Every held segment is too old: the newest, `seq` (broadcast time `bt`), starts at once,
    /// and the jitter buffer grows to `latency`.
    Late {
        seq: u64,
        bt: u64,
        latency: Duration,
    },
    /// Not yet: wait for newer segments, keeping those from `keep_from` on.
    Wait { keep_from: Option<u64> },
}

/// Picks where to start from the held segments, at `now_ms` with the jitter buffer `latency`,
/// `waited` after tuning in. The live point is the broadcast time playing now (now minus the
/// latency): a held segment that contains it (one the neighbours sent at tune-in) starts playing
/// at once, from that point on. Failing that, a newer held segment that is on air already starts
/// at once, a little closer to the broadcast (starting sooner matters more than the exact lag,
/// and the broadcaster's [`super::SEND_AHEAD`] still covers the jitter). A listener holding only
/// segments not yet on air waits for one to go on air or for an older one to come from a
/// neighbour. When every held segment is too old and the listener has waited [`ADAPT_AFTER`],
/// the newest one starts at once and the buffer grows to its age: a slow network plays late
/// rather than not at all.
fn choose_start(
    held: &BTreeMap<u64, Segment>,
    now_ms: u64,
    latency: Duration,
    waited: Duration,
) -> Start {
    let latency_ms = latency.as_millis() as u64;
    let point = now_ms.saturating_sub(latency_ms);
    let inside = held.iter().find(|(_, s)| {
        s.broadcast_ms() <= point && (point as f64) < s.broadcast_ms() as f64 + s.duration_ms()
    });
    if let Some((&seq, s)) = inside {
        let rate = u64::from(s.fields().spec.sample_rate);
        let trim = ((point - s.broadcast_ms()) * rate / 1000).min(s.frames());
        return Start::Inside { seq, point, trim };
    }
    if let Some((&seq, s)) = held
        .iter()
        .find(|(_, s)| s.broadcast_ms() > point && s.broadcast_ms() <= now_ms)
    {
        let bt = s.broadcast_ms();
        return Start::OnAir {
            seq,
            bt,
            latency: Duration::from_millis(now_ms - bt),
        };
    }
    if held.values().any(|s| s.broadcast_ms() > point) {
        return Start::Wait { keep_from: None };
    }
    let Some((&seq, newest)) = held.iter().next_back() else {
        return Start::Wait { keep_from: None };
    };
    let bt = newest.broadcast_ms();
    let age = Duration::from_millis(now_ms.saturating_sub(bt));
    if age > MAX_LATE {
        return Start::Wait { keep_from: None };
    }
    if waited < ADAPT_AFTER {
        return Start::Wait {
            keep_from: Some(seq),
        };
    }
    Start::Late {
        seq,
        bt,
        latency: age.max(latency),
    }
}

struct Listener {
    client: Client,
    hub: Arc<RadioHub>,
    descriptor: ChannelDescriptor,
    options: TuneOptions,
    events: mpsc::Sender<RadioEvent>,
    buffer: BTreeMap<u64, Segment>,
    /// Next sequence number to play, once started.
    next: Option<u64>,
    /// Where the schedule is anchored: the first segment's play time and broadcast time.
    anchor: Option<(tokio::time::Instant, u64)>,
    /// The delay from broadcast to playback actually kept: [`TuneOptions::latency`], or more
    /// when the listener had to start with an older segment (see [`ADAPT_AFTER`]).
    latency: Duration,
    /// Expected play time of `next` when it is not here (from the previous segment's end).
    expected: tokio::time::Instant,
    /// The whole length of the last segment played (untrimmed): what a missing segment is
    /// taken to last.
    last_duration: Duration,
    requested: BTreeMap<u64, (tokio::time::Instant, usize)>,
    repairs_in_flight: usize,
    peers: Vec<PeerId>,
    peers_at: Option<tokio::time::Instant>,
    lags: Vec<f64>,
    report: TuneReport,
    /// Broadcast time since the start, played or skipped (see [`TuneOptions::seconds`]).
    played: Duration,
    track: Option<TrackId>,
    /// Frames of the first segment to leave out: playback starts inside it, at the live point.
    trim: u64,
    /// The broadcaster's peer, when known.
    broadcaster: Option<PeerId>,
    /// Tune-in requests sent to the broadcaster so far (at most [`BROADCASTER_ASKS`]).
    broadcaster_asks: u32,
    /// Peers with a tune-in request in flight (not asked again until they answer).
    asking: HashSet<PeerId>,
    /// Rounds of tune-in requests so far.
    recent_rounds: usize,
}

impl Listener {
    fn emit(&self, event: RadioEvent) {
        let _ = self.events.try_send(event);
    }

    fn insert(&mut self, segment: Segment) {
        let seq = segment.seq();
        if let Some(next) = self.next
            && (seq < next || seq >= next + MAX_AHEAD)
        {
            return;
        }
        if self.next.is_none() && self.buffer.len() >= MAX_AHEAD as usize {
            self.buffer.pop_first();
        }
        self.buffer.entry(seq).or_insert(segment);
    }

    /// Whether a held segment reaches past the live point: playback can start with it (now or
    /// when it goes on air), so there is nothing more to ask neighbours for.
    fn holds_playable(&self) -> bool {
        let point = unix_ms().saturating_sub(self.options.latency.as_millis() as u64) as f64;
        self.buffer
            .values()
            .any(|s| s.broadcast_ms() as f64 + s.duration_ms() > point)
    }

    /// Starts playback if the held segments allow it (see [`choose_start`]).
    fn try_start(&mut self, waited: Duration) {
        let now = tokio::time::Instant::now();
        match choose_start(&self.buffer, unix_ms(), self.options.latency, waited) {
            Start::Inside { seq, point, trim } => {
                tracing::debug!(
                    seq,
                    held = self.buffer.len(),
                    waited_ms = waited.as_millis() as u64,
                    "starting inside a held segment"
                );
                self.trim = trim;
                self.start_at(seq, now, point);
            }
            // Closer to the broadcast than asked (on air after the live point) or further
            // (every held segment too old): either way the latency becomes the segment's age.
            Start::OnAir { seq, bt, latency } | Start::Late { seq, bt, latency } => {
                tracing::debug!(
                    seq,
                    latency_ms = latency.as_millis() as u64,
                    waited_ms = waited.as_millis() as u64,
                    "starting at once with a held segment outside the buffer"
                );
                self.latency = latency;
                self.start_at(seq, now, bt);
            }
            Start::Wait { keep_from } => {
                if let Some(seq) = keep_from {
                    self.buffer = self.buffer.split_off(&seq);
                }
            }
        }
    }

    /// Starts the schedule: segment `seq`, whose broadcast time is `bt`, plays at `at`.
    fn start_at(&mut self, seq: u64, at: tokio::time::Instant, bt: u64) {
        self.anchor = Some((at, bt));
        self.next = Some(seq);
        self.expected = at;
        self.buffer = self.buffer.split_off(&seq);
    }

    fn play_time(&self, seq: u64) -> tokio::time::Instant {
        match (self.buffer.get(&seq), self.anchor) {
            (Some(s), Some((at, bt))) => {
                at + Duration::from_millis(s.broadcast_ms().saturating_sub(bt))
            }
            _ => self.expected,
        }
    }

    fn play(
        &mut self,
        writer: &std::sync::mpsc::SyncSender<WriterMsg>,
        started: Instant,
    ) -> Result<()> {
        let Some(seq) = self.next else {
            return Ok(());
        };
        let due = self.play_time(seq);
        match self.buffer.remove(&seq) {
            Some(segment) => {
                let fields = segment.fields();
                let trim = std::mem::take(&mut self.trim);
                let mut pcm = fields.pcm.clone();
                pcm.skip(trim as usize * fields.spec.channels.max(1) as usize);
                let rate = f64::from(fields.spec.sample_rate.max(1));
                let trim_ms = trim as f64 * 1000.0 / rate;
                if self.report.first.is_none() {
                    let startup_ms = started.elapsed().as_secs_f64() * 1000.0;
                    self.report.startup_ms = Some(startup_ms);
                    self.report.first = Some(FirstSegment {
                        seq,
                        track: fields.track,
                        frame: fields.frame + trim,
                    });
                    self.emit(RadioEvent::Started { startup_ms });
                }
                if self.track != Some(fields.track) {
                    self.track = Some(fields.track);
                    self.report.tracks.push(NowPlaying::of(&segment));
                    self.emit(RadioEvent::NowPlaying {
                        track: fields.track,
                        title: fields.title.clone(),
                        artist: fields.artist.clone(),
                    });
                }
                self.lags
                    .push(unix_ms() as f64 - segment.broadcast_ms() as f64 - trim_ms);
                let duration =
                    Duration::from_secs_f64((segment.duration_ms() - trim_ms).max(0.0) / 1000.0);
                writer
                    .send(WriterMsg::Play(fields.spec, pcm))
                    .map_err(|_| {
                        Error::Media(MediaError::Output("the audio output stopped".into()))
                    })?;
                self.report.segments += 1;
                self.played += duration;
                // A trimmed first segment must not shorten the missing ones after it: they
                // would be skipped faster than the broadcast runs, and playback would run ahead.
                self.last_duration = Duration::from_secs_f64(segment.duration_ms() / 1000.0);
                self.expected = due + duration;
            }
            None => {
                self.report.late += 1;
                tracing::debug!(seq, "segment missing at its play time: skipped");
                self.emit(RadioEvent::Gap { seq });
                self.played += self.last_duration;
                self.expected = due + self.last_duration;
            }
        }
        self.requested.remove(&seq);
        self.next = Some(seq + 1);
        Ok(())
    }

    async fn refresh_peers(&mut self) {
        let stale = self
            .peers_at
            .is_none_or(|t| t.elapsed() > Duration::from_secs(2));
        if stale || self.peers.is_empty() {
            let mut peers = self
                .client
                .topic_peers(self.descriptor.id().topic())
                .await
                .unwrap_or_default();
            if peers.is_empty() {
                peers = self
                    .client
                    .peers()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(p, _)| p)
                    .collect();
            }
            self.peers = peers;
            self.peers_at = Some(tokio::time::Instant::now());
        }
    }

    /// Asks neighbours for segments that are overdue; returns when to look again.
    async fn repair(
        &mut self,
        repairs: &mpsc::Sender<(u64, Vec<Vec<u8>>)>,
    ) -> Option<tokio::time::Instant> {
        let next = self.next?;
        let now = tokio::time::Instant::now();
        let mut wake: Option<tokio::time::Instant> = None;
        let newest = self.buffer.keys().next_back().copied().unwrap_or(next);
        let mut due = self.play_time(next);
        for seq in next..=newest.max(next).min(next + 8) {
            if seq > next {
                due = match self.buffer.get(&seq) {
                    Some(_) => self.play_time(seq),
                    None => due + self.last_duration,
                };
            }
            if self.buffer.contains_key(&seq) {
                continue;
            }
            let arrival = due
                .checked_sub(self.latency + super::SEND_AHEAD)
                .unwrap_or(now);
            // A later segment is here already: this one was lost, ask now.
            let ask_at = if seq < newest {
                now
            } else {
                arrival + self.options.repair_after
            };
            let retry_at = self
                .requested
                .get(&seq)
                .map_or(ask_at, |(at, _)| (*at + REPAIR_RETRY).max(ask_at));
            if retry_at > now {
                wake = Some(wake.map_or(retry_at, |w| w.min(retry_at)));
                continue;
            }
            if due <= now || self.repairs_in_flight >= MAX_REPAIRS {
                continue;
            }
            self.refresh_peers().await;
            let attempt = self.requested.get(&seq).map_or(0, |(_, n)| n + 1);
            // Neighbours first; the third try goes to the broadcaster, which holds every
            // segment, so a segment no neighbour got in time still plays (one segment's upload
            // for the broadcaster, and only when the mesh failed).
            let peer = match self.broadcaster {
                Some(b) if attempt == BROADCASTER_REPAIR_ATTEMPT => b,
                _ => match self.peers.get(attempt % self.peers.len().max(1)) {
                    Some(&p) => p,
                    None => continue,
                },
            };
            self.requested.insert(seq, (now, attempt));
            self.repairs_in_flight += 1;
            let client = self.client.clone();
            let channel = self.descriptor.id();
            let tx = repairs.clone();
            tokio::spawn(async move {
                let answer = tokio::time::timeout(
                    Duration::from_secs(2),
                    protocol::request(&client, peer, Request::Segment { channel, seq }),
                )
                .await;
                let list = match answer {
                    Ok(Ok(Response::Segments(list))) => list,
                    _ => Vec::new(),
                };
                let _ = tx.send((seq, list)).await;
            });
            let again = now + REPAIR_RETRY;
            wake = Some(wake.map_or(again, |w| w.min(again)));
        }
        wake
    }

    /// Asks a few neighbours on the channel (and the broadcaster, at most [`BROADCASTER_ASKS`]
    /// times) for their latest segments; a peer whose answer is still out is not asked again.
    async fn ask_recent(&mut self, answers: &mpsc::Sender<(PeerId, Vec<Vec<u8>>)>) {
        self.peers_at = None;
        self.refresh_peers().await;
        // Other neighbours each round: the ones asked last time may have had nothing yet.
        let skip = self.recent_rounds * RECENT_FANOUT % self.peers.len().max(1);
        self.recent_rounds += 1;
        let mut ask: Vec<PeerId> = self
            .peers
            .iter()
            .cycle()
            .skip(skip)
            .take(self.peers.len())
            .filter(|p| !self.asking.contains(p) && Some(**p) != self.broadcaster)
            .take(RECENT_FANOUT)
            .copied()
            .collect();
        if let Some(b) = self.broadcaster
            && self.broadcaster_asks < BROADCASTER_ASKS
            && !self.asking.contains(&b)
        {
            self.broadcaster_asks += 1;
            ask.push(b);
        }
        let channel = self.descriptor.id();
        tracing::debug!(
            asked = ask.len(),
            peers = self.peers.len(),
            "asking for the latest segments"
        );
        for peer in ask {
            self.asking.insert(peer);
            let client = self.client.clone();
            let tx = answers.clone();
            tokio::spawn(async move {
                let asked = Instant::now();
                let list = match tokio::time::timeout(
                    Duration::from_secs(3),
                    protocol::request(&client, peer, Request::Recent { channel }),
                )
                .await
                {
                    Ok(Ok(Response::Segments(list))) => list,
                    _ => Vec::new(),
                };
                tracing::debug!(
                    %peer,
                    segments = list.len(),
                    ms = asked.elapsed().as_millis() as u64,
                    "tune-in answer"
                );
                let _ = tx.send((peer, list)).await;
            });
        }
    }

    fn accept_answer(&mut self, list: Vec<Vec<u8>>, repaired: bool) {
        for bytes in list {
            // Everything from a neighbour is verified like gossip: signature, channel.
            match RadioMessage::decode(&bytes, &self.descriptor) {
                Ok(RadioMessage::Segment(segment)) => {
                    let seq = segment.seq();
                    let new = !self.buffer.contains_key(&seq) && self.next.is_none_or(|n| seq >= n);
                    self.hub.keep(&segment);
                    self.insert(segment);
                    if repaired && new && self.buffer.contains_key(&seq) {
                        self.report.repaired += 1;
                    }
                }
                Ok(RadioMessage::Heartbeat { .. }) => {}
                Err(e) => tracing::info!(error = %e, "dropped a bad segment from a neighbour"),
            }
        }
    }
}

/// A listener's place on a channel: the gossip segments the hub hands it, its key in the hub,
/// and its membership of the topic.
pub(crate) struct TuneSession {
    pub(crate) segments: mpsc::Receiver<Segment>,
    pub(crate) tuner: u64,
    pub(crate) membership: super::hub::Membership,
    /// The broadcaster's peer, if known: asked for the live point too at tune-in.
    pub(crate) broadcaster: Option<PeerId>,
}

/// Runs a listener on a channel the hub has entered; leaves it at the end.
pub(crate) fn tune(
    client: Client,
    hub: Arc<RadioHub>,
    descriptor: ChannelDescriptor,
    sink: Box<dyn AudioSink>,
    options: TuneOptions,
    session: TuneSession,
) -> Tuning {
    let TuneSession {
        segments,
        tuner,
        membership,
        broadcaster,
    } = session;
    let channel = descriptor.id();
    let (events_tx, events) = mpsc::channel(256);
    let (stop, stop_rx) = watch::channel(false);
    let latency = options.latency;
    let listener = Listener {
        client,
        hub: hub.clone(),
        descriptor,
        options,
        events: events_tx,
        buffer: BTreeMap::new(),
        next: None,
        anchor: None,
        latency,
        expected: tokio::time::Instant::now(),
        last_duration: Duration::from_millis(1000),
        requested: BTreeMap::new(),
        repairs_in_flight: 0,
        peers: Vec::new(),
        peers_at: None,
        lags: Vec::new(),
        report: TuneReport {
            channel,
            startup_ms: None,
            lag_ms: None,
            segments: 0,
            late: 0,
            repaired: 0,
            dropped: 0,
            first: None,
            frames: 0,
            spec: None,
            tracks: Vec::new(),
        },
        played: Duration::ZERO,
        track: None,
        trim: 0,
        broadcaster,
        broadcaster_asks: 0,
        asking: HashSet::new(),
        recent_rounds: 0,
    };
    let task = tokio::spawn(async move {
        let result = run(listener, sink, segments, stop_rx).await;
        hub.remove_tuner(&channel, tuner);
        drop(membership);
        result
    });
    Tuning {
        channel,
        events,
        stop,
        task,
    }
}

async fn run(
    mut l: Listener,
    sink: Box<dyn AudioSink>,
    mut segments: mpsc::Receiver<Segment>,
    mut stop: watch::Receiver<bool>,
) -> Result<TuneReport> {
    let started = Instant::now();
    let channel = l.descriptor.id();
    let (writer, writer_thread) = spawn_writer(sink);
    let (repairs_tx, mut repairs) = mpsc::channel::<(u64, Vec<Vec<u8>>)>(64);
    let (recent_tx, mut recent) = mpsc::channel::<(PeerId, Vec<Vec<u8>>)>(16);

    // Tune-in: what this node holds already (it broadcasts the channel or is tuned to it),
    // then the latest segments of a few neighbours on the channel and of the broadcaster, so
    // that playback can start at the live point without waiting for the next segment's gossip.
    // Asked again until playback starts: neighbours that tuned in at the same moment have
    // nothing at first.
    for segment in l.hub.ring(&channel) {
        l.insert(segment);
    }
    l.ask_recent(&recent_tx).await;
    let mut ask_recent_at = tokio::time::Instant::now() + RECENT_RETRY;

    // The first heartbeat after a second, when the topic mesh has formed.
    let mut heartbeat = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        HEARTBEAT_INTERVAL,
    );
    let mut listeners = None;
    let mut deliveries = 0u64;
    let mut wake = tokio::time::Instant::now() + Duration::from_millis(50);
    let deadline = tokio::time::Instant::now() + l.options.start_timeout;
    let result: Result<()> = loop {
        tokio::select! {
            Some(segment) = segments.recv() => {
                if l.next.is_none() {
                    tracing::debug!(
                        seq = segment.seq(),
                        delay_ms = unix_ms().saturating_sub(segment.broadcast_ms()),
                        "gossip segment before the start"
                    );
                }
                let drop_it = l.options.drop_gossip.is_some_and(|p| p.drops(deliveries));
                deliveries += 1;
                if drop_it {
                    l.report.dropped += 1;
                } else {
                    l.insert(segment);
                }
            }
            Some((_, list)) = repairs.recv() => {
                l.repairs_in_flight = l.repairs_in_flight.saturating_sub(1);
                l.accept_answer(list, true);
            }
            Some((peer, list)) = recent.recv() => {
                l.asking.remove(&peer);
                l.accept_answer(list, false);
            }
            _ = heartbeat.tick() => {
                let _ = l
                    .client
                    .publish(channel.topic(), encode_heartbeat(&channel, unix_ms()))
                    .await;
                let n = l.hub.listeners(&channel);
                if listeners != Some(n) {
                    listeners = Some(n);
                    l.emit(RadioEvent::Listeners(n));
                }
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break Ok(());
                }
            }
            () = tokio::time::sleep_until(wake) => {}
        }
        if l.next.is_none() && !l.holds_playable() && tokio::time::Instant::now() >= ask_recent_at {
            ask_recent_at = tokio::time::Instant::now() + RECENT_RETRY;
            l.ask_recent(&recent_tx).await;
        }
        if l.next.is_none() {
            l.try_start(started.elapsed());
            if l.next.is_none() {
                if tokio::time::Instant::now() >= deadline {
                    break Err(Error::Network(format!(
                        "nothing heard on channel {channel} within {:?}",
                        l.options.start_timeout
                    )));
                }
                wake = tokio::time::Instant::now() + Duration::from_millis(50);
                continue;
            }
        }
        // Play everything that is due.
        let mut failed = None;
        while let Some(seq) = l.next {
            if l.play_time(seq) > tokio::time::Instant::now() {
                break;
            }
            if let Err(e) = l.play(&writer, started) {
                failed = Some(e);
                break;
            }
        }
        if let Some(e) = failed {
            break Err(e);
        }
        if l.options
            .seconds
            .is_some_and(|s| l.played.as_secs_f64() >= s)
        {
            break Ok(());
        }
        let next_play = l.next.map(|s| l.play_time(s));
        let repair_wake = l.repair(&repairs_tx).await;
        wake = [next_play, repair_wake]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_millis(100));
    };
    drop(writer);
    let written = tokio::task::spawn_blocking(move || writer_thread.join())
        .await
        .map_err(|e| Error::Network(format!("radio writer failed: {e}")))?
        .map_err(|_| Error::Media(MediaError::Output("the audio writer panicked".into())))?;
    result?;
    let (frames, spec) = written?;
    l.report.frames = frames;
    l.report.spec = spec;
    if !l.lags.is_empty() {
        l.lags.sort_by(f64::total_cmp);
        l.report.lag_ms = Some(l.lags[l.lags.len() / 2]);
    }
    Ok(l.report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ArtistKeypair;
    use crate::radio::segment::SegmentDraft;

    const NOW: u64 = 1_700_000_100_000;
    const LATENCY: Duration = Duration::from_millis(1500);

    /// Held one-second segments (8 kHz mono), numbered from 1, broadcast at these times.
    fn held(broadcast_ms: &[u64]) -> BTreeMap<u64, Segment> {
        let owner = ArtistKeypair::from_seed([5; 32]);
        let descriptor = ChannelDescriptor::sign(&owner, "Start FM", "", 1);
        broadcast_ms
            .iter()
            .enumerate()
            .map(|(i, &bt)| {
                let seq = i as u64 + 1;
                let segment = SegmentDraft {
                    frame: 8000 * i as u64,
                    ..SegmentDraft::silence(descriptor.id(), seq, bt, 8000)
                }
                .sign(&owner);
                (seq, segment)
            })
            .collect()
    }

    #[test]
    fn a_segment_holding_the_live_point_starts_at_once_inside_it() {
        // The live point is NOW - 1500: 700 ms into segment 2.
        let segments = held(&[NOW - 3200, NOW - 2200, NOW - 1200]);
        assert_eq!(
            choose_start(&segments, NOW, LATENCY, Duration::ZERO),
            Start::Inside {
                seq: 2,
                point: NOW - 1500,
                trim: 5600,
            }
        );
    }

    #[test]
    fn a_newer_segment_starts_as_soon_as_it_is_on_air() {
        // Sent ahead by the broadcaster: on air in 600 ms.
        let segments = held(&[NOW + 600]);
        assert_eq!(
            choose_start(&segments, NOW, LATENCY, ADAPT_AFTER),
            Start::Wait { keep_from: None },
            "an older segment may still come"
        );
        assert_eq!(
            choose_start(&segments, NOW + 1000, LATENCY, ADAPT_AFTER),
            Start::OnAir {
                seq: 1,
                bt: NOW + 600,
                latency: Duration::from_millis(400),
            },
            "the live point (NOW - 500) is before it: it starts closer to the broadcast"
        );
        // Once the live point reaches it, it is an ordinary start inside it.
        assert_eq!(
            choose_start(&segments, NOW + 2100, LATENCY, ADAPT_AFTER),
            Start::Inside {
                seq: 1,
                point: NOW + 600,
                trim: 0,
            }
        );
    }

    #[test]
    fn segments_too_old_for_the_buffer_start_late_after_a_wait() {
        let segments = held(&[NOW - 4000, NOW - 3000]);
        assert_eq!(
            choose_start(&segments, NOW, LATENCY, Duration::from_millis(200)),
            Start::Wait { keep_from: Some(2) },
            "newer segments may come"
        );
        assert_eq!(
            choose_start(&segments, NOW, LATENCY, ADAPT_AFTER),
            Start::Late {
                seq: 2,
                bt: NOW - 3000,
                latency: Duration::from_millis(3000),
            }
        );
        let stale = held(&[NOW - 20_000]);
        assert_eq!(
            choose_start(&stale, NOW, LATENCY, ADAPT_AFTER),
            Start::Wait { keep_from: None },
            "never with a segment older than {MAX_LATE:?}"
        );
        assert_eq!(
            choose_start(&BTreeMap::new(), NOW, LATENCY, ADAPT_AFTER),
            Start::Wait { keep_from: None }
        );
    }
}
