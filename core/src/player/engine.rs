//! The player thread: owns the decoder and the sink, takes commands, plays the queue.
//!
//! [`Engine::run`] loops: while a track plays and is not paused it polls for commands between
//! blocks, otherwise it blocks on the command channel. A block is decoded from the current
//! track's [`ChunkSource`] and written to the sink, converted by a [`DeviceOut`] for a device
//! sink. A read interrupted by a command ([`MediaError::Cancelled`]) leaves the track in
//! `resync`: the decoder seeks back to the playhead before it goes on. The next track opens on
//! the same sink stream (gapless); a device that fails is replaced by a paced [`NullSink`], so
//! the queue and the history go on.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::queue::Queue;
use super::{Command, PlayerEvent, PlayerOptions, PlayerStats};
use crate::media::{
    AudioSink, DeviceOut, MediaError, NullSink, Pcm, PcmSpec, SampleFormat, SinkInput, TrackDecoder,
};
use crate::model::{Manifest, TrackId};
use crate::store::{Listen, ListenKind, Store};
use crate::stream::{CancelToken, ChunkProvider, ChunkSource};

/// The track playing: its decoder and where the playhead is.
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

/// What the player thread owns.
pub(super) struct Engine {
    store: Store,
    provider: Arc<dyn ChunkProvider>,
    sink: Box<dyn AudioSink>,
    device_failed: bool,
    options: PlayerOptions,
    commands: Receiver<Command>,
    events: SyncSender<PlayerEvent>,
    interrupt: CancelToken,
    queue: Queue,
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
    /// An engine with an empty queue, fed by `commands` and reporting on `events`; `interrupt`
    /// is the handle's, which it raises before a command that moves the playhead.
    pub(super) fn new(
        store: Store,
        provider: Arc<dyn ChunkProvider>,
        sink: Box<dyn AudioSink>,
        options: PlayerOptions,
        commands: Receiver<Command>,
        events: SyncSender<PlayerEvent>,
        interrupt: CancelToken,
    ) -> Self {
        Self {
            store,
            provider,
            sink,
            device_failed: false,
            options,
            commands,
            events,
            interrupt,
            queue: Queue::default(),
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
        }
    }

    /// Takes commands and plays until [`Command::Shutdown`] (or the handle is gone), then closes
    /// the sink and returns the totals.
    pub(super) fn run(&mut self) -> PlayerStats {
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
                self.queue.replace(tracks, start);
                self.paused = false;
                self.load_at = Some(Instant::now());
                self.open_at_index();
            }
            Command::Enqueue(tracks) => self.queue.extend(tracks),
            Command::SetUpcoming(tracks) => self.queue.replace_upcoming(tracks),
            Command::Play => {
                if self.paused {
                    self.paused = false;
                    self.sink.set_paused(false);
                    self.emit(PlayerEvent::Paused(false));
                } else if self.current.is_none() && self.queue.current().is_some() {
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
                self.queue.advance();
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
                    self.queue.back();
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
        while let Some(id) = self.queue.current() {
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
                    self.queue.advance();
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
        let Some(next) = self.queue.upcoming() else {
            return;
        };
        if let Ok(Some(m)) = self.store.manifest(&next) {
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
                index: self.queue.index(),
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
                let device = self
                    .device
                    .get_or_insert_with(|| DeviceOut::new(sample_rate, channels));
                let out = device.convert(spec, pcm, self.volume);
                if !self.sink_open {
                    let device_spec = PcmSpec {
                        sample_rate,
                        channels,
                        format: SampleFormat::Float,
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
        self.queue.advance();
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
        self.queue.advance();
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
        if let Some(d) = &mut self.device {
            let tail = d.flush();
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
