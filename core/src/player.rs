//! The player: a queue of tracks decoded from the chunk store into an [`AudioSink`].
//!
//! [`Player::spawn`] starts one thread that owns the decoder and the sink (`player/engine.rs`,
//! with the queue in `player/queue.rs`); the [`Player`] handle sends it commands over a bounded
//! channel and receives [`PlayerEvent`]s over another. The UI drains events with
//! [`Player::try_event`] and never blocks. A track starts as soon as its first chunk is in the
//! store: the decoder reads through a [`crate::stream::ChunkSource`], which asks the
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
//! use busker_core::media::WavSink;
//! use busker_core::stream::NoNetwork;
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
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::media::{AudioSink, PcmSpec};
use crate::model::TrackId;
use crate::store::Store;
use crate::stream::{CancelToken, ChunkProvider, DEFAULT_CHUNK_TIMEOUT};

mod engine;
mod queue;

use engine::Engine;

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

/// What the handle asks of the engine thread.
enum Command {
    Load(Vec<TrackId>, usize),
    Enqueue(Vec<TrackId>),
    SetUpcoming(Vec<TrackId>),
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
        let mut engine = Engine::new(
            store,
            provider,
            sink,
            options,
            command_rx,
            event_tx,
            interrupt.clone(),
        );
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

    /// Replaces the tracks after the one playing (or the one to play next, when the queue ran
    /// out): the current track plays on, and these follow it. How a listener's edits of the
    /// queue (play next, reorder, remove, shuffle) reach the engine.
    pub fn set_upcoming(&self, tracks: Vec<TrackId>) -> Result<(), PlayerError> {
        self.send(Command::SetUpcoming(tracks), false)
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

#[cfg(test)]
mod tests;
