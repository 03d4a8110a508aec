//! The player: queue, current track, play/pause, a position clock, volume; and the
//! [`PlayerBackend`] seam where the audio engine plugs in.
//!
//! The position is kept by an [`Instant`] clock (position at the last change plus the time
//! played since), so the seek bar and the time display move smoothly between engine reports.
//! Two kinds of backend exist:
//! - [`EnginePlayer`]: the core player engine (`busker_core::Player`: chunk source, decoder,
//!   audio device or recording sink). It drives the clock: a track's clock starts when its
//!   first samples reach the sink (a streamed track may wait for its first chunk), follows the
//!   engine's position reports, and the engine moves on to the next track by itself (gapless).
//! - clock-only backends ([`NoAudio`], [`RecordingPlayer`]): the clock runs from the command
//!   and the player advances the queue when it reaches a track's end.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use busker_core::TrackSummary;

mod engine;
mod queue;

pub use engine::EnginePlayer;
pub use queue::Repeat;

/// What an engine reports back, in terms of the app's queue.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendEvent {
    /// The track at this queue index started (its first samples reached the sink).
    Started(usize),
    /// Where the playhead of the current track is.
    Position(Duration),
    /// The queue ended (or the engine stopped).
    Finished,
    /// Something to tell the user (a track that cannot be played, a lost device).
    Notice(String),
}

/// Where the player sends what the user asked for. Implemented by the audio engine.
///
/// Calls come from the UI thread and must return at once: an implementation hands the work to
/// its own thread or task.
pub trait PlayerBackend: Send {
    /// A short name for the player bar ("no audio output", "default device", ...).
    fn name(&self) -> &str;
    /// Whether this backend makes sound. `false` makes the player bar say so.
    fn audible(&self) -> bool;
    /// Starts playing `queue[index]` at position zero; the backend may go on with the tracks
    /// after it by itself.
    fn load(&mut self, queue: &[TrackSummary], index: usize);
    /// Plays the loaded track.
    fn play(&mut self);
    /// Pauses.
    fn pause(&mut self);
    /// Moves the playhead.
    fn seek(&mut self, position: Duration);
    /// Volume from 0.0 (silent) to 1.0 (full).
    fn set_volume(&mut self, volume: f32);
    /// Stops and unloads.
    fn stop(&mut self);
    /// Whether the backend reports positions and track ends ([`PlayerBackend::poll`]) rather
    /// than leaving the clock to the player.
    fn drives_clock(&self) -> bool {
        false
    }
    /// The queue after the current track changed (play next, reorder, remove, shuffle): the
    /// backend goes on with `upcoming` after the current track, which plays on undisturbed.
    /// `current` is the current track's place in the player's queue.
    fn set_upcoming(&mut self, _current: usize, _upcoming: &[TrackSummary]) {}
    /// The next report, if one is waiting. Never blocks.
    fn poll(&mut self) -> Option<BackendEvent> {
        None
    }
}

/// The backend of a build without an audio engine: it accepts every call and makes no sound.
#[derive(Debug, Default)]
pub struct NoAudio;

impl PlayerBackend for NoAudio {
    fn name(&self) -> &str {
        "starting the audio engine"
    }
    fn audible(&self) -> bool {
        false
    }
    fn load(&mut self, _: &[TrackSummary], _: usize) {}
    fn play(&mut self) {}
    fn pause(&mut self) {}
    fn seek(&mut self, _: Duration) {}
    fn set_volume(&mut self, _: f32) {}
    fn stop(&mut self) {}
}

/// One call a [`RecordingPlayer`] received.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerCall {
    /// [`PlayerBackend::load`] of the queue entry with this track id (hex).
    Load(String),
    /// [`PlayerBackend::play`].
    Play,
    /// [`PlayerBackend::pause`].
    Pause,
    /// [`PlayerBackend::seek`].
    Seek(Duration),
    /// [`PlayerBackend::set_volume`].
    Volume(f32),
    /// [`PlayerBackend::stop`].
    Stop,
    /// [`PlayerBackend::set_upcoming`]: the ids (hex) that follow the current track.
    Upcoming(Vec<String>),
}

/// A clock-only backend that records the calls it receives (for tests of the player's own
/// logic). It makes no sound: tests of the audio path give the engine a recording sink.
#[derive(Debug, Clone, Default)]
pub struct RecordingPlayer {
    calls: Arc<Mutex<Vec<PlayerCall>>>,
}

impl RecordingPlayer {
    /// The calls so far.
    pub fn calls(&self) -> Vec<PlayerCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn push(&self, call: PlayerCall) {
        if let Ok(mut c) = self.calls.lock() {
            c.push(call);
        }
    }
}

impl PlayerBackend for RecordingPlayer {
    fn name(&self) -> &str {
        "recording (no sound)"
    }
    fn audible(&self) -> bool {
        false
    }
    fn load(&mut self, queue: &[TrackSummary], index: usize) {
        if let Some(track) = queue.get(index) {
            self.push(PlayerCall::Load(track.id.to_hex()));
        }
    }
    fn play(&mut self) {
        self.push(PlayerCall::Play);
    }
    fn pause(&mut self) {
        self.push(PlayerCall::Pause);
    }
    fn seek(&mut self, position: Duration) {
        self.push(PlayerCall::Seek(position));
    }
    fn set_volume(&mut self, volume: f32) {
        self.push(PlayerCall::Volume(volume));
    }
    fn stop(&mut self) {
        self.push(PlayerCall::Stop);
    }
    fn set_upcoming(&mut self, _current: usize, upcoming: &[TrackSummary]) {
        self.push(PlayerCall::Upcoming(
            upcoming.iter().map(|t| t.id.to_hex()).collect(),
        ));
    }
}

/// Pressing "previous" later than this into a track restarts it instead.
const RESTART_THRESHOLD: Duration = Duration::from_secs(3);

/// The player state the player bar shows.
pub struct Player {
    queue: Vec<TrackSummary>,
    current: Option<usize>,
    /// Whether the user wants sound (play pressed, not paused, queue not finished).
    playing: bool,
    /// Position when the clock last started or stopped.
    base: Duration,
    /// When the clock (re)started; `None` while it stands (paused, or waiting for an engine to
    /// start the track).
    since: Option<Instant>,
    volume: f32,
    backend: Box<dyn PlayerBackend>,
    /// Messages from the engine for the notice area, taken by [`Player::take_notices`].
    notices: Vec<String>,
    repeat: Repeat,
}

impl Player {
    /// A stopped player with an empty queue.
    pub fn new(backend: Box<dyn PlayerBackend>, volume: f32) -> Self {
        let mut player = Self {
            queue: Vec::new(),
            current: None,
            playing: false,
            base: Duration::ZERO,
            since: None,
            volume: volume.clamp(0.0, 1.0),
            backend,
            notices: Vec::new(),
            repeat: Repeat::Off,
        };
        player.backend.set_volume(player.volume);
        player
    }

    /// Replaces the backend (when the audio engine is up). What was playing goes on in the new
    /// backend from where the clock stands.
    pub fn attach(&mut self, backend: Box<dyn PlayerBackend>) {
        self.backend.stop();
        self.backend = backend;
        self.backend.set_volume(self.volume);
        if let Some(i) = self.current {
            let at = self.position();
            self.backend.load(&self.queue, i);
            if at > Duration::ZERO {
                self.backend.seek(at);
            }
            if !self.playing {
                self.backend.pause();
            }
            self.hold_clock();
        }
    }

    /// The backend's name, for the player bar.
    pub fn backend_name(&self) -> &str {
        self.backend.name()
    }

    /// Whether the backend makes sound.
    pub fn audible(&self) -> bool {
        self.backend.audible()
    }

    /// Whether the audio engine reports back (positions, track ends).
    pub fn has_engine(&self) -> bool {
        self.backend.drives_clock()
    }

    /// The queue.
    pub fn queue(&self) -> &[TrackSummary] {
        &self.queue
    }

    /// The place of the current track in the queue.
    pub fn current_index(&self) -> Option<usize> {
        self.current
    }

    /// The current track.
    pub fn current(&self) -> Option<&TrackSummary> {
        self.queue.get(self.current?)
    }

    /// Whether the player plays (or waits for the engine to start the track).
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Whether the player waits for the engine to start the current track (its first chunk
    /// may still be on its way from a peer).
    pub fn is_buffering(&self) -> bool {
        self.playing && self.since.is_none()
    }

    /// Volume, 0.0 to 1.0.
    pub fn volume(&self) -> f32 {
        self.volume
    }

    /// The current track's length.
    pub fn duration(&self) -> Duration {
        self.current().map_or(Duration::ZERO, |t| {
            Duration::from_millis(t.info.duration_ms)
        })
    }

    /// The playhead.
    pub fn position(&self) -> Duration {
        let played = self.since.map_or(Duration::ZERO, |s| s.elapsed());
        (self.base + played).min(self.duration())
    }

    /// Messages for the user since the last call.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    /// Replaces the queue and plays `tracks[index]`.
    pub fn play_queue(&mut self, tracks: Vec<TrackSummary>, index: usize) {
        if index >= tracks.len() {
            return;
        }
        self.queue = tracks;
        self.start(index);
    }

    /// Stops the clock where it is until the engine reports.
    fn hold_clock(&mut self) {
        if self.backend.drives_clock() {
            self.base = self.position();
            self.since = None;
        }
    }

    fn run_clock(&mut self) {
        if self.since.is_none() {
            self.since = Some(Instant::now());
        }
    }

    fn start(&mut self, index: usize) {
        if index >= self.queue.len() {
            return;
        }
        self.current = Some(index);
        self.base = Duration::ZERO;
        self.playing = true;
        self.since = (!self.backend.drives_clock()).then(Instant::now);
        self.backend.load(&self.queue, index);
        if self.repeat == Repeat::One {
            self.sync_upcoming();
        }
        self.backend.play();
    }

    /// Plays when paused, pauses when playing. With nothing loaded, starts the queue.
    pub fn toggle(&mut self) {
        if self.current.is_none() {
            if !self.queue.is_empty() {
                self.start(0);
            }
            return;
        }
        if self.playing {
            self.base = self.position();
            self.since = None;
            self.playing = false;
            self.backend.pause();
        } else if self.position() >= self.duration() {
            // Played to the end: play the track again.
            if let Some(i) = self.current {
                self.start(i);
            }
        } else {
            self.playing = true;
            self.backend.play();
            if self.backend.drives_clock() {
                // The engine's next position report moves the clock on.
                self.hold_clock();
            } else {
                self.run_clock();
            }
        }
    }

    /// Next track in the queue; after the last, the first again under [`Repeat::All`], else
    /// stop.
    pub fn next(&mut self) {
        match self.current {
            Some(i) if i + 1 < self.queue.len() => self.start(i + 1),
            Some(_) if self.repeat == Repeat::All => self.start(0),
            Some(_) => self.stop(),
            None => {}
        }
    }

    /// Plays the queue's track at `index` now.
    pub fn play_index(&mut self, index: usize) {
        self.start(index);
    }

    /// Restarts the track, or goes to the previous one near its start.
    pub fn previous(&mut self) {
        match self.current {
            Some(i) if i > 0 && self.position() < RESTART_THRESHOLD => self.start(i - 1),
            Some(_) => self.seek(Duration::ZERO),
            None => {}
        }
    }

    /// Stops at the start of the current track.
    pub fn stop(&mut self) {
        self.since = None;
        self.playing = false;
        self.base = Duration::ZERO;
        self.backend.stop();
        self.current = None;
    }

    /// Moves the playhead (clamped to the track).
    pub fn seek(&mut self, position: Duration) {
        if self.current.is_none() {
            return;
        }
        self.base = position.min(self.duration());
        self.since = None;
        if self.playing && !self.backend.drives_clock() {
            self.run_clock();
        }
        self.backend.seek(self.base);
    }

    /// Moves the playhead by `seconds` (negative: back).
    pub fn seek_by(&mut self, seconds: f32) {
        let now = self.position();
        let step = Duration::from_secs_f32(seconds.abs());
        let target = if seconds >= 0.0 {
            now + step
        } else {
            now.saturating_sub(step)
        };
        self.seek(target);
    }

    /// Sets the volume (clamped to 0.0..=1.0).
    pub fn set_volume(&mut self, volume: f32) {
        self.volume = volume.clamp(0.0, 1.0);
        self.backend.set_volume(self.volume);
    }

    /// Takes the engine's reports, or (clock-only backends) advances to the next track when the
    /// current one has ended. Call once per frame.
    pub fn tick(&mut self) {
        while let Some(event) = self.backend.poll() {
            self.apply(event);
        }
        if self.backend.drives_clock() || !self.playing || self.current.is_none() {
            return;
        }
        if self.position() >= self.duration() {
            if self.repeat == Repeat::One {
                self.repeat_at_end();
            } else if self.current.is_some_and(|i| i + 1 < self.queue.len()) {
                self.next();
            } else if !self.repeat_at_end() {
                self.base = self.duration();
                self.since = None;
                self.playing = false;
                self.backend.pause();
            }
        }
    }

    fn apply(&mut self, event: BackendEvent) {
        match event {
            BackendEvent::Started(index) if index < self.queue.len() => {
                self.current = Some(index);
                self.base = Duration::ZERO;
                self.since = self.playing.then(Instant::now);
            }
            BackendEvent::Started(_) => {}
            BackendEvent::Position(at) => {
                self.base = at.min(self.duration());
                self.since = self.playing.then(Instant::now);
            }
            BackendEvent::Finished => {
                if self.playing && self.repeat_at_end() {
                    return;
                }
                if self.current.is_some() {
                    self.base = self.duration();
                }
                self.since = None;
                self.playing = false;
            }
            BackendEvent::Notice(text) => self.notices.push(text),
        }
    }

    /// Updates a queued track (for example after it became local).
    pub fn update_track(&mut self, track: &TrackSummary) {
        for t in &mut self.queue {
            if t.id == track.id {
                *t = track.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use busker_core::model::{TrackId, TrackInfo};

    fn track(n: u8, secs: u64) -> TrackSummary {
        let info = TrackInfo {
            title: format!("t{n}"),
            duration_ms: secs * 1000,
            ..TrackInfo::default()
        };
        busker_core::test_utils::summary(n, 0, info)
    }

    #[test]
    fn queue_toggle_seek_and_previous_drive_the_backend() {
        let rec = RecordingPlayer::default();
        let mut p = Player::new(Box::new(rec.clone()), 0.5);
        p.play_queue(vec![track(1, 60), track(2, 60)], 0);
        assert!(p.is_playing());
        p.toggle();
        assert!(!p.is_playing());
        p.seek(Duration::from_secs(10));
        assert_eq!(p.position(), Duration::from_secs(10));
        p.seek_by(-20.0);
        assert_eq!(p.position(), Duration::ZERO);
        p.seek(Duration::from_secs(600));
        assert_eq!(p.position(), Duration::from_secs(60));
        p.next();
        assert_eq!(p.current().map(|t| t.id), Some(TrackId([2; 32])));
        p.previous();
        assert_eq!(p.current().map(|t| t.id), Some(TrackId([1; 32])));
        p.next();
        p.next();
        assert!(p.current().is_none());
        let calls = rec.calls();
        assert_eq!(calls[0], PlayerCall::Volume(0.5));
        assert_eq!(calls[1], PlayerCall::Load(TrackId([1; 32]).to_hex()));
        assert_eq!(calls[2], PlayerCall::Play);
        assert_eq!(calls[3], PlayerCall::Pause);
        assert_eq!(calls.last(), Some(&PlayerCall::Stop));
    }

    fn ids(p: &Player) -> Vec<u8> {
        p.queue().iter().map(|t| t.id.0[0]).collect()
    }

    fn last_upcoming(rec: &RecordingPlayer) -> Vec<u8> {
        let Some(PlayerCall::Upcoming(up)) = rec
            .calls()
            .into_iter()
            .rev()
            .find(|c| matches!(c, PlayerCall::Upcoming(_)))
        else {
            panic!("the backend was never told what follows");
        };
        up.iter()
            .map(|h| h.parse::<TrackId>().unwrap().0[0])
            .collect()
    }

    #[test]
    fn queue_edits_keep_the_current_track_and_tell_the_backend_what_follows() {
        let rec = RecordingPlayer::default();
        let mut p = Player::new(Box::new(rec.clone()), 0.5);
        p.play_queue(vec![track(1, 60), track(2, 60), track(3, 60)], 1);
        p.play_next(vec![track(9, 60)]);
        assert_eq!(ids(&p), [1, 2, 9, 3]);
        assert_eq!(last_upcoming(&rec), [9, 3]);
        p.enqueue(vec![track(7, 60)]);
        assert_eq!(last_upcoming(&rec), [9, 3, 7]);
        // Moving the current track and removing one before it keep it current.
        p.move_item(1, 3);
        assert_eq!(ids(&p), [1, 9, 3, 2, 7]);
        assert_eq!(p.current().map(|t| t.id.0[0]), Some(2));
        p.remove(0);
        assert_eq!(p.current().map(|t| t.id.0[0]), Some(2));
        assert_eq!(last_upcoming(&rec), [7]);
        let loads = rec
            .calls()
            .iter()
            .filter(|c| matches!(c, PlayerCall::Load(_)))
            .count();
        assert_eq!(loads, 1, "no edit restarted the current track");
        // Removing the current track plays the next.
        p.remove(2);
        assert_eq!(p.current().map(|t| t.id.0[0]), Some(7));
        p.clear_upcoming();
        assert_eq!(ids(&p), [9, 3, 7]);
    }

    #[test]
    fn shuffle_moves_only_what_follows_and_repeat_plays_again() {
        let rec = RecordingPlayer::default();
        let mut p = Player::new(Box::new(rec.clone()), 0.5);
        let queue: Vec<_> = (1..=20).map(|n| track(n, 1)).collect();
        p.play_queue(queue, 4);
        p.shuffle_upcoming();
        assert_eq!(&ids(&p)[..5], [1, 2, 3, 4, 5]);
        let mut rest = ids(&p)[5..].to_vec();
        assert_ne!(
            rest,
            (6..=20).collect::<Vec<u8>>(),
            "15 tracks kept their order"
        );
        rest.sort_unstable();
        assert_eq!(rest, (6..=20).collect::<Vec<u8>>());

        // Repeat one: nothing follows, and the track starts again at its end.
        p.set_repeat(Repeat::One);
        assert_eq!(last_upcoming(&rec), Vec::<u8>::new());
        p.apply(BackendEvent::Finished);
        assert_eq!(p.current().map(|t| t.id.0[0]), Some(5));
        assert!(p.is_playing());
        // Repeat all: after the last track, the first.
        p.set_repeat(Repeat::All);
        p.play_index(19);
        p.apply(BackendEvent::Finished);
        assert_eq!(p.current().map(|t| t.id.0[0]), Some(1));
        p.set_repeat(Repeat::Off);
        p.play_index(19);
        p.apply(BackendEvent::Finished);
        assert!(!p.is_playing());
    }
}
