//! The listener: joins a channel at its live point, keeps a jitter buffer, repairs missing
//! segments from neighbours, and plays each segment at its broadcast time plus a fixed latency.
//!
//! Timing (`listener/schedule.rs`): playback starts at the live point, [`TuneOptions::latency`]
//! behind the broadcast (or with a segment already on air, a little closer; see
//! [`schedule::choose_start`]); from then on segment `n` plays at that anchor plus the
//! broadcast-time difference. Repair (`listener/repair.rs`): a segment that has not arrived by its
//! expected arrival time (its play time less how far ahead of their play times the segments
//! pushed so far came, a smoothed figure; before any, the latency and [`super::SEND_AHEAD`]) plus
//! [`TuneOptions::repair_after`] is asked from a neighbour on the topic (another neighbour every
//! [`REPAIR_RETRY`], the broadcaster at the third try) until its play time; a segment still
//! missing then is counted late and skipped. Until playback starts, neighbours (and the
//! broadcaster) are asked for their latest segments. Output (`listener/writer.rs`): a thread owns
//! the sink and writes each segment played into it.
//!
//! This file holds the public types, the [`Tuning`] handle and the task's `select!` loop.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use tokio::sync::{mpsc, watch};

use super::channel::{ChannelDescriptor, ChannelId};
use super::hub::{NowPlaying, RadioHub};
use super::segment::Segment;
use super::unix_ms;
use crate::error::{Error, Result};
use crate::media::{AudioSink, MediaError, PcmSpec};
use crate::model::TrackId;
use crate::net::Client;

mod repair;
mod schedule;
mod writer;

use repair::RECENT_RETRY;
pub use repair::REPAIR_RETRY;
use writer::spawn_writer;

/// How often a listener says it is tuned in.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

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
    /// How long after its expected arrival (see the module doc) a missing segment is asked from
    /// a neighbour.
    pub repair_after: Duration,
    /// Stop after this much of the broadcast, played or skipped as late (`None`: until
    /// [`Tuning::stop`]): a listener ends even when the segments stop coming.
    pub seconds: Option<f64>,
    /// Give up when no segment arrives within this time of tuning in.
    pub start_timeout: Duration,
    /// Fault injection: drop these gossip deliveries (repair must bring them).
    pub drop_gossip: Option<DropPattern>,
    /// Also hand every segment played, as it was broadcast, to this queue (an HTTP stream of
    /// the channel's own packets). A full queue loses the segment: a slow reader never holds
    /// the listener up.
    pub tap: Option<mpsc::Sender<Segment>>,
}

impl Default for TuneOptions {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(500),
            repair_after: Duration::from_millis(350),
            seconds: None,
            start_timeout: Duration::from_secs(30),
            drop_gossip: None,
            tap: None,
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
    /// Bytes of the channel's messages received: every segment delivered by gossip (the ones
    /// dropped on purpose too) and every segment in a repair or tune-in answer.
    pub bytes: u64,
    /// Seconds from tuning in to the end.
    pub seconds: f64,
    /// Segments played but left out of [`TuneOptions::tap`] because its reader was behind.
    pub tap_left_out: u64,
}

impl TuneReport {
    /// Kilobits per second received for the channel ([`TuneReport::bytes`] over
    /// [`TuneReport::seconds`]).
    pub fn kbps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 * 8.0 / 1000.0 / self.seconds
        } else {
            0.0
        }
    }

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
        let result = task.await.map_err(Error::task("the radio listener"))?;
        drop(stop);
        result
    }
}

/// A listener's state. The schedule, the repair and the writer parts each add their methods in
/// their own file.
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
    /// when the listener had to start with an older segment (see [`schedule::ADAPT_AFTER`]).
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
    /// Tune-in requests sent to the broadcaster so far (at most [`repair::BROADCASTER_ASKS`]).
    broadcaster_asks: u32,
    /// Peers with a tune-in request in flight (not asked again until they answer).
    asking: HashSet<PeerId>,
    /// Rounds of tune-in requests so far.
    recent_rounds: usize,
    /// The decoder of the packets played last (kept from segment to segment).
    packets: Option<crate::media::PacketDecoder>,
    /// A segment named a codec setup not held here (its tune-in answer lacked it): the
    /// neighbours are asked again for their latest segments, which bring it.
    lacks_setup: bool,
    /// How far ahead of its play time a pushed segment arrives, smoothed (see
    /// `Listener::note_arrival`): a live channel's segments come with less lead than a file's.
    ahead: Option<Duration>,
}

impl Listener {
    fn emit(&self, event: RadioEvent) {
        let _ = self.events.try_send(event);
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
    // Segments come down the channel's push tree: join it, and again if the parent falls silent.
    let tree = tokio::spawn(super::relay::keep_joined(
        client.clone(),
        hub.clone(),
        channel,
    ));
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
            bytes: 0,
            seconds: 0.0,
            tap_left_out: 0,
        },
        played: Duration::ZERO,
        track: None,
        trim: 0,
        broadcaster,
        broadcaster_asks: 0,
        asking: HashSet::new(),
        recent_rounds: 0,
        lacks_setup: false,
        ahead: None,
        packets: None,
    };
    let task = tokio::spawn(async move {
        let result = run(listener, sink, segments, stop_rx).await;
        tree.abort();
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

    // The listener count, as the broadcaster's statuses announce it (counted down the push
    // tree: listeners no longer gossip heartbeats, which cost every listener a copy of every
    // other listener's from each mesh neighbour).
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
                l.report.bytes += segment.encoded().len() as u64;
                let drop_it = l.options.drop_gossip.is_some_and(|p| p.drops(deliveries));
                deliveries += 1;
                if drop_it {
                    l.report.dropped += 1;
                } else {
                    let seq = segment.seq();
                    l.insert(segment);
                    l.note_arrival(seq);
                }
            }
            Some((_, list)) = repairs.recv() => {
                l.repairs_in_flight = l.repairs_in_flight.saturating_sub(1);
                l.accept_answer(list, true);
            }
            Some((peer, list)) = recent.recv() => {
                l.asking.remove(&peer);
                // The one neighbour of the first round had nothing: ask the next ones now,
                // not a round later. (Only then: in a crowd tuning in at once every neighbour
                // has nothing at first, and later rounds keep their pace.)
                if list.is_empty() && l.recent_rounds == 1 {
                    ask_recent_at = tokio::time::Instant::now();
                }
                l.accept_answer(list, false);
            }
            _ = heartbeat.tick() => {
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
        let starving = l.next.is_none() && !l.holds_playable();
        if (starving || l.lacks_setup) && tokio::time::Instant::now() >= ask_recent_at {
            ask_recent_at = tokio::time::Instant::now() + RECENT_RETRY;
            l.lacks_setup = false;
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
        .map_err(Error::task("the radio writer"))?
        .map_err(|_| Error::Media(MediaError::Output("the audio writer panicked".into())))?;
    result?;
    let (frames, spec) = written?;
    l.report.frames = frames;
    l.report.spec = spec;
    if !l.lags.is_empty() {
        l.lags.sort_by(f64::total_cmp);
        l.report.lag_ms = Some(l.lags[l.lags.len() / 2]);
    }
    l.report.seconds = started.elapsed().as_secs_f64();
    Ok(l.report)
}
