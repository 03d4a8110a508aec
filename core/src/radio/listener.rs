//! The listener: joins a channel at its live point, keeps a jitter buffer, repairs missing
//! segments from neighbours, and plays each segment at its broadcast time plus a fixed latency.
//!
//! Timing: the first segment played is chosen so that its broadcast time plus
//! [`TuneOptions::latency`] is now or just ahead; from then on segment `n` plays at that anchor
//! plus the broadcast-time difference. A segment that has not arrived by its expected arrival
//! time (its play time minus the latency) plus [`TuneOptions::repair_after`] is asked from a
//! neighbour on the topic (another neighbour every [`REPAIR_RETRY`], the broadcaster at the third
//! try) until its play time; a segment still missing then is counted late and skipped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::{mpsc, watch};

use super::channel::{ChannelDescriptor, ChannelId};
use super::hub::RadioHub;
use super::segment::{RadioMessage, Segment, encode_heartbeat};
use super::unix_ms;
use crate::error::{Error, Result};
use crate::media::{AudioSink, MediaError, Pcm, PcmSpec, SinkInput};
use crate::model::TrackId;
use crate::net::{Client, Request, Response};

/// How often a repair request for a still-missing segment is retried (with another peer).
pub const REPAIR_RETRY: Duration = Duration::from_millis(250);
/// How often a listener that has not started yet asks its neighbours for their latest segments.
const RECENT_RETRY: Duration = Duration::from_millis(300);
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
    /// Delay between a segment's broadcast time and its playback: the jitter buffer.
    pub latency: Duration,
    /// How long after its expected arrival a missing segment is asked from a neighbour.
    pub repair_after: Duration,
    /// Stop after this much audio has played (`None`: until [`Tuning::stop`]).
    pub seconds: Option<f64>,
    /// Give up when no segment arrives within this time of tuning in.
    pub start_timeout: Duration,
    /// Fault injection: drop these gossip deliveries (repair must bring them).
    pub drop_gossip: Option<DropPattern>,
}

impl Default for TuneOptions {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(1500),
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
    /// Expected play time of `next` when it is not here (from the previous segment's end).
    expected: tokio::time::Instant,
    last_duration: Duration,
    requested: BTreeMap<u64, (tokio::time::Instant, usize)>,
    repairs_in_flight: usize,
    peers: Vec<PeerId>,
    peers_at: Option<tokio::time::Instant>,
    lags: Vec<f64>,
    report: TuneReport,
    played: Duration,
    track: Option<TrackId>,
    /// Frames of the first segment to leave out: playback starts inside it, at the live point.
    trim: u64,
    /// The broadcaster's peer, when known.
    broadcaster: Option<PeerId>,
    /// Tune-in requests sent to the broadcaster so far (at most [`BROADCASTER_ASKS`]).
    broadcaster_asks: u32,
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

    /// Picks where to start. The live point is the broadcast time playing now (now minus the
    /// latency): a held segment that contains it (one the neighbours sent at tune-in) starts
    /// playing at once, from that point on. Otherwise the oldest segment whose play time has not
    /// passed yet starts when it is due.
    fn try_start(&mut self) {
        let now_ms = unix_ms();
        let latency = self.options.latency.as_millis() as u64;
        let point = now_ms.saturating_sub(latency);
        let inside = self.buffer.iter().find(|(_, s)| {
            s.broadcast_ms() <= point && (point as f64) < s.broadcast_ms() as f64 + s.duration_ms()
        });
        if let Some((&seq, s)) = inside {
            let rate = u64::from(s.fields().spec.sample_rate);
            self.trim = ((point - s.broadcast_ms()) * rate / 1000).min(s.frames());
            self.anchor = Some((tokio::time::Instant::now(), point));
            self.next = Some(seq);
            self.expected = tokio::time::Instant::now();
            self.buffer = self.buffer.split_off(&seq);
            return;
        }
        let found = self
            .buffer
            .iter()
            .find(|(_, s)| s.broadcast_ms() + latency >= now_ms)
            .map(|(&seq, s)| (seq, s.broadcast_ms()));
        let Some((seq, bt)) = found else {
            // Everything held is too old to play in step: wait for newer segments.
            self.buffer.clear();
            return;
        };
        let wait = (bt + latency - now_ms).min(latency);
        let at = tokio::time::Instant::now() + Duration::from_millis(wait);
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
                self.last_duration = duration;
                self.expected = due + duration;
            }
            None => {
                self.report.late += 1;
                self.emit(RadioEvent::Gap { seq });
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
            let arrival = due.checked_sub(self.options.latency).unwrap_or(now);
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
                    client.request(peer, Request::RadioSegment { channel, seq }),
                )
                .await;
                let list = match answer {
                    Ok(Ok(Response::RadioSegments(list))) => list,
                    _ => Vec::new(),
                };
                let _ = tx.send((seq, list)).await;
            });
            let again = now + REPAIR_RETRY;
            wake = Some(wake.map_or(again, |w| w.min(again)));
        }
        wake
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
    let listener = Listener {
        client,
        hub: hub.clone(),
        descriptor,
        options,
        events: events_tx,
        buffer: BTreeMap::new(),
        next: None,
        anchor: None,
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
        },
        played: Duration::ZERO,
        track: None,
        trim: 0,
        broadcaster,
        broadcaster_asks: 0,
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
    let (recent_tx, mut recent) = mpsc::channel::<Vec<Vec<u8>>>(8);

    // Tune-in: ask a few neighbours on the channel for their latest segments, so that playback
    // can start at the live point without waiting for the next segment's gossip. Asked again
    // until playback starts: neighbours that tuned in at the same moment have nothing at first.
    let mut ask_recent_at = tokio::time::Instant::now();

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
            Some(list) = recent.recv() => l.accept_answer(list, false),
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
        if l.next.is_none() && tokio::time::Instant::now() >= ask_recent_at {
            ask_recent_at = tokio::time::Instant::now() + RECENT_RETRY;
            l.peers_at = None;
            l.refresh_peers().await;
            let mut ask: Vec<PeerId> = l.peers.iter().take(3).copied().collect();
            if let Some(b) = l.broadcaster
                && l.broadcaster_asks < BROADCASTER_ASKS
                && !ask.contains(&b)
            {
                l.broadcaster_asks += 1;
                ask.push(b);
            }
            for peer in ask {
                let client = l.client.clone();
                let tx = recent_tx.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(Response::RadioSegments(list))) = tokio::time::timeout(
                        Duration::from_secs(3),
                        client.request(peer, Request::RadioRecent { channel }),
                    )
                    .await
                    {
                        let _ = tx.send(list).await;
                    }
                });
            }
        }
        if l.next.is_none() {
            l.try_start();
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
