//! The player engine: a queue of tracks decoded from the chunk store into an [`AudioSink`].
//!
//! [`Player::spawn`] starts one thread that owns the decoder and the sink; the [`Player`] handle
//! sends it commands over a bounded channel and receives [`PlayerEvent`]s over another. The UI
//! drains events with [`Player::try_event`] and never blocks. A track starts as soon as its
//! first chunk is in the store: the decoder reads through a [`ChunkSource`], which asks the
//! [`ChunkProvider`] for the chunk under the playhead (after a seek, the chunk sought to) and
//! waits for it. Commands that move the playhead (seek, next, previous, stop) interrupt a wait.
//!
//! Consecutive tracks go to the sink without a gap (symphonia trims encoder delay and padding);
//! the first chunks of the next track are requested while the current one plays. Device sinks
//! get `f32` at the device rate with the volume applied; recording sinks get the exact samples.
//! Plays, skips (with their position) and completions are written to the [`Store`]'s history.
//!
//! ```no_run
//! use std::sync::Arc;
//! use busker_core::media::{NoNetwork, WavSink};
//! use busker_core::{Player, PlayerEvent, PlayerOptions, Store};
//! # fn demo(store: Store, id: busker_core::model::TrackId) -> Result<(), Box<dyn std::error::Error>> {
//! let sink = WavSink::create(std::path::Path::new("out.wav"))?;
//! let player = Player::spawn(store, Arc::new(NoNetwork), Box::new(sink), PlayerOptions::default());
//! player.load(vec![id], 0)?;
//! while let Some(event) = player.next_event() {
//!     if let PlayerEvent::Finished { .. } = event { break; }
//! }
//! let stats = player.shutdown();
//! println!("{} frames", stats.frames);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::media::{
    AudioSink, CancelToken, ChunkProvider, ChunkSource, DEFAULT_CHUNK_TIMEOUT, MediaError,
    NullSink, Pcm, PcmSpec, Resampler, SinkInput, TrackDecoder,
};
use crate::model::{Manifest, TrackId};
use crate::store::{Listen, ListenKind, Store};

/// How the player behaves.
#[derive(Debug, Clone)]
pub struct PlayerOptions {
    /// How long a read waits for a missing chunk before the track is given up.
    pub chunk_timeout: Duration,
    /// Stop after this much audio has been played (the CLI's `--seconds`).
    pub stop_after: Option<Duration>,
    /// How many leading chunks of the next track to request while the current one plays.
    pub prefetch_chunks: usize,
    /// Whether plays, skips and completions go to the store's history.
    pub record_history: bool,
    /// How often a [`PlayerEvent::Position`] is sent.
    pub position_interval: Duration,
}

impl Default for PlayerOptions {
    fn default() -> Self {
        Self {
            chunk_timeout: DEFAULT_CHUNK_TIMEOUT,
            stop_after: None,
            prefetch_chunks: 4,
            record_history: true,
            position_interval: Duration::from_millis(250),
        }
    }
}

/// What the player tells its owner. Sent with `try_send`: when the owner does not drain the
/// channel (256 events), position events are the ones that get lost first in practice.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerEvent {
    /// A track started (its first samples are going to the sink).
    TrackStarted {
        /// The track.
        id: TrackId,
        /// Its place in the queue.
        index: usize,
        /// Its decoded format.
        spec: PcmSpec,
        /// Its length, from the manifest.
        duration_ms: u64,
    },
    /// The first samples after a load reached the sink, this long after the command.
    FirstAudio {
        /// The track.
        id: TrackId,
        /// From the command to the first samples handed to the sink.
        after: Duration,
    },
    /// Where the playhead is.
    Position {
        /// The track.
        id: TrackId,
        /// Milliseconds from the track's start.
        ms: u64,
    },
    /// Paused or resumed.
    Paused(bool),
    /// A track ended or was left.
    TrackEnded {
        /// The track.
        id: TrackId,
        /// Whether it played to its end.
        completed: bool,
    },
    /// The audio device failed; playback goes on silently on the clock.
    DeviceLost(String),
    /// A track could not be played; the player moves to the next one.
    Error {
        /// The track, when one was involved.
        id: Option<TrackId>,
        /// What went wrong.
        message: String,
    },
    /// Playback stopped: the queue ended, `stop_after` was reached, or a stop command.
    Finished {
        /// Frames handed to the sink since the player started, at the tracks' own rates.
        frames: u64,
    },
}

/// Totals returned by [`Player::shutdown`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlayerStats {
    /// Frames played (at the tracks' own rates).
    pub frames: u64,
    /// Time from the first load to the first samples in the sink.
    pub first_audio: Option<Duration>,
    /// Format of the last track played.
    pub spec: Option<PcmSpec>,
}

/// The player is gone (its thread ended) or its command queue is full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlayerError {
    /// The engine thread has stopped.
    #[error("the player has stopped")]
    Stopped,
    /// Too many commands are waiting; try again.
    #[error("the player is busy")]
    Busy,
}

enum Command {
    Load(Vec<TrackId>, usize),
    Enqueue(Vec<TrackId>),
    Play,
    Pause,
    Seek(Duration),
    Next,
    Previous,
    Volume(f32),
    Stop,
    Shutdown,
}

/// The handle to the player thread. Dropping it shuts the player down.
pub struct Player {
    commands: SyncSender<Command>,
    events: Receiver<PlayerEvent>,
    interrupt: CancelToken,
    thread: Option<JoinHandle<PlayerStats>>,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player").finish_non_exhaustive()
    }
}

const COMMAND_QUEUE: usize = 64;
const EVENT_QUEUE: usize = 256;

impl Player {
    /// Starts the engine on its own thread. `provider` is told which chunks the playhead needs.
    pub fn spawn(
        store: Store,
        provider: Arc<dyn ChunkProvider>,
        sink: Box<dyn AudioSink>,
        options: PlayerOptions,
    ) -> Self {
        let (commands, command_rx) = sync_channel(COMMAND_QUEUE);
        let (event_tx, events) = sync_channel(EVENT_QUEUE);
        let interrupt = CancelToken::new();
        let mut engine = Engine {
            store,
            provider,
            sink,
            device_failed: false,
            options,
            commands: command_rx,
            events: event_tx,
            interrupt: interrupt.clone(),
            queue: Vec::new(),
            index: 0,
            current: None,
            paused: false,
            volume: 1.0,
            device: None,
            native_spec: None,
            played: Duration::ZERO,
            frames: 0,
            load_at: None,
            first_audio: None,
            last_spec: None,
            sink_open: false,
            reopen: false,
        };
        let thread = std::thread::Builder::new()
            .name("busker-player".to_owned())
            .spawn(move || engine.run())
            .ok();
        Self {
            commands,
            events,
            interrupt,
            thread,
        }
    }

    fn send(&self, command: Command, interrupts: bool) -> Result<(), PlayerError> {
        if interrupts {
            // Wakes the engine if it is waiting for a chunk of the old position. Set before the
            // command is queued: the engine clears it when it takes a command, so a flag can
            // never outlive the command it was raised for.
            self.interrupt.cancel();
        }
        match self.commands.try_send(command) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(PlayerError::Busy),
            Err(TrySendError::Disconnected(_)) => Err(PlayerError::Stopped),
        }
    }

    /// Replaces the queue with `tracks` and plays from `start`.
    pub fn load(&self, tracks: Vec<TrackId>, start: usize) -> Result<(), PlayerError> {
        self.send(Command::Load(tracks, start), true)
    }

    /// Appends tracks to the queue.
    pub fn enqueue(&self, tracks: Vec<TrackId>) -> Result<(), PlayerError> {
        self.send(Command::Enqueue(tracks), false)
    }

    /// Resumes (or starts the queue).
    pub fn play(&self) -> Result<(), PlayerError> {
        self.send(Command::Play, false)
    }

    /// Pauses.
    pub fn pause(&self) -> Result<(), PlayerError> {
        self.send(Command::Pause, false)
    }

    /// Moves the playhead of the current track.
    pub fn seek(&self, to: Duration) -> Result<(), PlayerError> {
        self.send(Command::Seek(to), true)
    }

    /// Skips to the next track.
    pub fn next(&self) -> Result<(), PlayerError> {
        self.send(Command::Next, true)
    }

    /// Goes back to the previous track (or the start of this one after its first 3 seconds).
    pub fn previous(&self) -> Result<(), PlayerError> {
        self.send(Command::Previous, true)
    }

    /// Sets the output volume, 0.0 to 1.0 (device sinks only; recordings are never scaled).
    pub fn set_volume(&self, volume: f32) -> Result<(), PlayerError> {
        self.send(Command::Volume(volume), false)
    }

    /// Stops playback (the queue stays).
    pub fn stop(&self) -> Result<(), PlayerError> {
        self.send(Command::Stop, true)
    }

    /// The next event, if one is waiting. Never blocks (for UI threads).
    pub fn try_event(&self) -> Option<PlayerEvent> {
        self.events.try_recv().ok()
    }

    /// Waits for the next event; `None` once the player has stopped.
    pub fn next_event(&self) -> Option<PlayerEvent> {
        self.events.recv().ok()
    }

    /// Waits up to `timeout` for the next event.
    pub fn next_event_timeout(&self, timeout: Duration) -> Option<PlayerEvent> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Stops the engine, closes the sink (a recording is finalised) and returns the totals.
    pub fn shutdown(mut self) -> PlayerStats {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> PlayerStats {
        let Some(thread) = self.thread.take() else {
            return PlayerStats::default();
        };
        // A full queue must not keep the engine alive: the interrupt plus a blocking send.
        self.interrupt.cancel();
        let _ = self.commands.send(Command::Shutdown);
        // Drain events so that an engine blocked on nothing can finish; events are try_send.
        thread.join().unwrap_or_default()
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}

struct Current {
    manifest: Arc<Manifest>,
    decoder: TrackDecoder,
    spec: PcmSpec,
    /// Frame of the playhead (end of the last block written).
    frame: u64,
    last_position: Option<Instant>,
    started: bool,
    /// After an interrupted read the decoder must seek back here before it goes on.
    resync: bool,
}

/// Converts decoded audio for a device sink (channel mapping, resampling, volume). Also used by
/// the radio listener.
pub(crate) struct DeviceOut {
    rate: u32,
    channels: u16,
    resampler: Option<Resampler>,
    mapped: Vec<f32>,
    out: Vec<f32>,
}

impl DeviceOut {
    pub(crate) fn new(rate: u32, channels: u16) -> Self {
        Self {
            rate,
            channels,
            resampler: None,
            mapped: Vec::new(),
            out: Vec::new(),
        }
    }

    pub(crate) fn convert(&mut self, spec: &PcmSpec, pcm: &Pcm, volume: f32) -> Pcm {
        let input = pcm.to_f32(spec.format);
        let from = spec.channels.max(1) as usize;
        let to = self.channels.max(1) as usize;
        self.mapped.clear();
        for frame in input.chunks_exact(from) {
            match (from, to) {
                (a, b) if a == b => self.mapped.extend_from_slice(frame),
                (1, _) => self.mapped.extend(std::iter::repeat_n(frame[0], to)),
                (_, 1) => self.mapped.push(frame.iter().sum::<f32>() / from as f32),
                _ => {
                    for c in 0..to {
                        self.mapped.push(frame.get(c).copied().unwrap_or(0.0));
                    }
                }
            }
        }
        self.out.clear();
        if self
            .resampler
            .as_ref()
            .is_none_or(|r| r.input_rate() != spec.sample_rate)
        {
            if let Some(old) = &mut self.resampler {
                old.finish(&mut self.out);
            }
            self.resampler = Some(Resampler::new(spec.sample_rate, self.rate, to));
        }
        if let Some(r) = &mut self.resampler {
            r.process(&self.mapped, &mut self.out);
        }
        let gain = volume.clamp(0.0, 1.0);
        Pcm::F32(
            self.out
                .iter()
                .map(|s| (s * gain).clamp(-1.0, 1.0))
                .collect(),
        )
    }

    fn reset(&mut self) {
        if let Some(r) = &mut self.resampler {
            r.reset();
        }
    }
}

struct Engine {
    store: Store,
    provider: Arc<dyn ChunkProvider>,
    sink: Box<dyn AudioSink>,
    device_failed: bool,
    options: PlayerOptions,
    commands: Receiver<Command>,
    events: SyncSender<PlayerEvent>,
    interrupt: CancelToken,
    queue: Vec<TrackId>,
    index: usize,
    current: Option<Current>,
    paused: bool,
    volume: f32,
    device: Option<DeviceOut>,
    native_spec: Option<PcmSpec>,
    played: Duration,
    frames: u64,
    load_at: Option<Instant>,
    first_audio: Option<Duration>,
    last_spec: Option<PcmSpec>,
    sink_open: bool,
    /// An open was cancelled by a command that did not replace the track: open it again.
    reopen: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Engine {
    fn run(&mut self) -> PlayerStats {
        loop {
            let active = self.current.is_some() && !self.paused;
            let command = if active {
                match self.commands.try_recv() {
                    Ok(c) => Some(c),
                    Err(std::sync::mpsc::TryRecvError::Empty) => None,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => Some(Command::Shutdown),
                }
            } else {
                match self.commands.recv_timeout(Duration::from_secs(1)) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(Command::Shutdown),
                }
            };
            if let Some(command) = command {
                if matches!(command, Command::Shutdown) {
                    break;
                }
                self.handle(command);
                if self.reopen && self.current.is_none() {
                    // Opening a track was interrupted by a command that did not replace it.
                    self.reopen = false;
                    self.open_at_index();
                }
                continue;
            }
            if active {
                self.step();
            }
        }
        self.leave_current();
        self.close_sink();
        PlayerStats {
            frames: self.frames,
            first_audio: self.first_audio,
            spec: self.last_spec,
        }
    }

    fn emit(&self, event: PlayerEvent) {
        if let Err(TrySendError::Full(e)) = self.events.try_send(event) {
            tracing::trace!(event = ?e, "player event dropped: nobody drains the events");
        }
    }

    fn history(&self, id: TrackId, kind: ListenKind) {
        if !self.options.record_history {
            return;
        }
        let listen = Listen {
            id,
            at_ms: now_ms(),
            kind,
        };
        if let Err(e) = self.store.record_listen(&listen) {
            tracing::warn!(error = %e, "could not record the listening history");
        }
    }

    fn handle(&mut self, command: Command) {
        self.interrupt.reset();
        if matches!(
            command,
            Command::Load(..) | Command::Next | Command::Previous | Command::Stop
        ) {
            self.reopen = false;
        }
        match command {
            Command::Load(tracks, start) => {
                self.leave_current();
                self.queue = tracks;
                self.index = start;
                self.paused = false;
                self.load_at = Some(Instant::now());
                self.open_at_index();
            }
            Command::Enqueue(tracks) => {
                self.queue.extend(tracks);
            }
            Command::Play => {
                if self.paused {
                    self.paused = false;
                    self.sink.set_paused(false);
                    self.emit(PlayerEvent::Paused(false));
                } else if self.current.is_none() && self.index < self.queue.len() {
                    self.load_at = Some(Instant::now());
                    self.open_at_index();
                }
            }
            Command::Pause => {
                if !self.paused && self.current.is_some() {
                    self.paused = true;
                    self.sink.set_paused(true);
                    self.emit(PlayerEvent::Paused(true));
                }
            }
            Command::Seek(to) => self.seek(to),
            Command::Next => {
                self.leave_current();
                self.sink.discard();
                self.index += 1;
                self.open_at_index();
            }
            Command::Previous => {
                let restart = self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.frame > 3 * c.spec.sample_rate as u64);
                if restart {
                    self.seek(Duration::ZERO);
                } else {
                    self.leave_current();
                    self.sink.discard();
                    self.index = self.index.saturating_sub(1);
                    self.open_at_index();
                }
            }
            Command::Volume(v) => self.volume = v.clamp(0.0, 1.0),
            Command::Stop => {
                self.leave_current();
                self.sink.discard();
                self.finish();
            }
            Command::Shutdown => {}
        }
    }

    fn seek(&mut self, to: Duration) {
        let Some(current) = &mut self.current else {
            return;
        };
        let frame = (to.as_secs_f64() * current.spec.sample_rate as f64) as u64;
        self.sink.discard();
        if let Some(d) = &mut self.device {
            d.reset();
        }
        match current.decoder.seek(frame) {
            Ok(_) => {
                current.frame = frame;
                current.resync = false;
            }
            Err(MediaError::Cancelled) => {
                // Another command came while waiting for the chunk; it decides what is next.
                current.frame = frame;
                current.resync = true;
            }
            Err(e) => self.fail_current(e),
        }
    }

    /// Opens the queue entry at `index`, or finishes when the queue is exhausted.
    fn open_at_index(&mut self) {
        while self.index < self.queue.len() {
            let id = self.queue[self.index];
            match self.open(&id) {
                Ok(current) => {
                    self.current = Some(current);
                    return;
                }
                Err(MediaError::Cancelled) => {
                    self.reopen = true;
                    return;
                }
                Err(e) => {
                    self.emit(PlayerEvent::Error {
                        id: Some(id),
                        message: e.to_string(),
                    });
                    self.index += 1;
                }
            }
        }
        self.finish();
    }

    fn open(&mut self, id: &TrackId) -> Result<Current, MediaError> {
        let manifest = match self.store.manifest(id) {
            Ok(Some(m)) => Arc::new(m),
            Ok(None) => return Err(MediaError::Source(format!("no track {id} is known"))),
            Err(e) => return Err(MediaError::Source(e.to_string())),
        };
        let source = ChunkSource::new(self.store.clone(), manifest.clone(), self.provider.clone())
            .with_timeout(self.options.chunk_timeout)
            .with_cancel(self.interrupt.clone());
        let ext = manifest.info().format.extension();
        let decoder = TrackDecoder::open_chunks(source, Some(ext))?;
        let spec = decoder.spec();
        Ok(Current {
            manifest,
            decoder,
            spec,
            frame: 0,
            last_position: None,
            started: false,
            resync: false,
        })
    }

    fn prefetch_next(&self) {
        let Some(next) = self.queue.get(self.index + 1) else {
            return;
        };
        if let Ok(Some(m)) = self.store.manifest(next) {
            let source = ChunkSource::new(self.store.clone(), Arc::new(m), self.provider.clone());
            source.prefetch(self.options.prefetch_chunks);
        }
    }

    /// Decodes and plays one block of the current track.
    fn step(&mut self) {
        let Some(current) = &mut self.current else {
            return;
        };
        if current.resync {
            let frame = current.frame;
            match current.decoder.seek(frame) {
                Ok(_) => current.resync = false,
                Err(MediaError::Cancelled) => return,
                Err(e) => return self.fail_current(e),
            }
        }
        match current.decoder.next_block() {
            Ok(Some(block)) => self.play_block(block.start_frame, block.pcm),
            Ok(None) => self.end_current(),
            Err(MediaError::Cancelled) => {
                current.resync = true;
            }
            Err(e) => self.fail_current(e),
        }
    }

    fn play_block(&mut self, start: u64, mut pcm: Pcm) {
        let Some(current) = &mut self.current else {
            return;
        };
        let spec = current.spec;
        let id = current.manifest.id();
        let channels = spec.channels.max(1) as usize;
        let mut stop = false;
        if let Some(limit) = self.options.stop_after {
            let left = limit.saturating_sub(self.played);
            let left_frames = (left.as_secs_f64() * spec.sample_rate as f64).round() as usize;
            if pcm.len() / channels >= left_frames {
                pcm.truncate(left_frames * channels);
                stop = true;
            }
        }
        let frames = (pcm.len() / channels) as u64;
        current.frame = start + frames;
        let first = !current.started;
        current.started = true;
        let duration_ms = current.manifest.info().duration_ms;
        let due = current
            .last_position
            .is_none_or(|t| t.elapsed() >= self.options.position_interval);
        let ms = current.frame * 1000 / spec.sample_rate.max(1) as u64;
        if due {
            current.last_position = Some(Instant::now());
        }
        if first {
            self.emit(PlayerEvent::TrackStarted {
                id,
                index: self.index,
                spec,
                duration_ms,
            });
            self.history(id, ListenKind::Play);
            self.prefetch_next();
        }
        if frames > 0 {
            // First audio is when decoded samples reach the sink, before a device's buffer.
            if let Some(at) = self.load_at.take() {
                let after = at.elapsed();
                self.first_audio.get_or_insert(after);
                self.emit(PlayerEvent::FirstAudio { id, after });
            }
            self.write(&spec, &pcm);
            self.frames += frames;
            self.played += Duration::from_secs_f64(frames as f64 / spec.sample_rate as f64);
            self.last_spec = Some(spec);
        }
        if due {
            self.emit(PlayerEvent::Position { id, ms });
        }
        if stop {
            self.leave_current();
            self.finish();
        }
    }

    fn write(&mut self, spec: &PcmSpec, pcm: &Pcm) {
        let result = match self.sink.input() {
            SinkInput::Native => {
                self.device = None;
                if self.native_spec != Some(*spec) {
                    self.native_spec = Some(*spec);
                    if let Err(e) = self.sink.begin(spec) {
                        self.sink_failed(e);
                        return;
                    }
                }
                self.sink_open = true;
                self.sink.write(pcm)
            }
            SinkInput::Device {
                sample_rate,
                channels,
            } => {
                let device = self.device.get_or_insert_with(|| DeviceOut {
                    rate: sample_rate,
                    channels,
                    resampler: None,
                    mapped: Vec::new(),
                    out: Vec::new(),
                });
                let out = device.convert(spec, pcm, self.volume);
                if !self.sink_open {
                    let device_spec = PcmSpec {
                        sample_rate,
                        channels,
                        format: crate::media::SampleFormat::Float,
                    };
                    if let Err(e) = self.sink.begin(&device_spec) {
                        self.sink_failed(e);
                        return;
                    }
                    self.sink_open = true;
                }
                self.sink.write(&out)
            }
        };
        if let Err(e) = result {
            self.sink_failed(e);
        }
    }

    fn sink_failed(&mut self, e: MediaError) {
        match self.sink.input() {
            SinkInput::Device { .. } if !self.device_failed => {
                // Say it once, then keep time silently so the queue and history go on.
                self.device_failed = true;
                tracing::warn!(error = %e, "audio device lost: playing silently");
                self.emit(PlayerEvent::DeviceLost(e.to_string()));
                self.sink = Box::new(NullSink::paced());
                self.sink_open = false;
                self.native_spec = None;
            }
            _ => {
                let id = self.current.as_ref().map(|c| c.manifest.id());
                self.emit(PlayerEvent::Error {
                    id,
                    message: e.to_string(),
                });
                self.current = None;
                self.finish();
            }
        }
    }

    /// The current track played to its end: go on to the next without closing the sink.
    fn end_current(&mut self) {
        if let Some(current) = self.current.take() {
            let id = current.manifest.id();
            self.history(id, ListenKind::Complete);
            self.emit(PlayerEvent::TrackEnded {
                id,
                completed: true,
            });
        }
        self.index += 1;
        self.open_at_index();
    }

    fn fail_current(&mut self, e: MediaError) {
        let id = self.current.take().map(|c| c.manifest.id());
        self.emit(PlayerEvent::Error {
            id,
            message: e.to_string(),
        });
        if let Some(id) = id {
            self.emit(PlayerEvent::TrackEnded {
                id,
                completed: false,
            });
        }
        self.index += 1;
        self.open_at_index();
    }

    /// Leaves the current track before its end (a skip when it had started).
    fn leave_current(&mut self) {
        if let Some(current) = self.current.take() {
            let id = current.manifest.id();
            if current.started {
                let position_ms = current.frame * 1000 / current.spec.sample_rate.max(1) as u64;
                self.history(id, ListenKind::Skip { position_ms });
                self.emit(PlayerEvent::TrackEnded {
                    id,
                    completed: false,
                });
            }
        }
        if let Some(d) = &mut self.device {
            d.reset();
        }
    }

    /// Playback stopped: flush the sink and say so.
    fn finish(&mut self) {
        self.close_sink();
        self.paused = false;
        self.emit(PlayerEvent::Finished {
            frames: self.frames,
        });
    }

    fn close_sink(&mut self) {
        if self.paused {
            // A paused (corked) device would never drain.
            self.sink.set_paused(false);
            self.paused = false;
        }
        if let Some(d) = &mut self.device
            && let Some(r) = &mut d.resampler
        {
            let mut tail = Vec::new();
            r.finish(&mut tail);
            if !tail.is_empty() && self.sink_open {
                let _ = self.sink.write(&Pcm::F32(tail));
            }
        }
        if self.sink_open
            && let Err(e) = self.sink.finish()
        {
            self.emit(PlayerEvent::Error {
                id: None,
                message: e.to_string(),
            });
        }
        self.sink_open = false;
        self.native_spec = None;
    }
}

#[cfg(test)]
mod tests;
