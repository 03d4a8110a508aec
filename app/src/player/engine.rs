//! [`EnginePlayer`]: the core player engine (`busker_core::Player`) behind the
//! [`PlayerBackend`] seam, its reports mapped to the app's queue.

use std::time::Duration;

use busker_core::model::TrackId;
use busker_core::{PlayerEvent, TrackSummary};

use super::{BackendEvent, PlayerBackend};

/// Most tracks handed to the engine at once: the one asked for and those after it. The player
/// loads again from its own queue when the user moves beyond them.
const ENGINE_QUEUE: usize = 64;

/// The core player engine behind the seam: commands go to its thread over a bounded channel,
/// its events are drained with `try_event`. Plays, skips and completions go to the store's
/// listening history (the engine writes them, as for `busker play`).
pub struct EnginePlayer {
    engine: busker_core::Player,
    name: String,
    audible: bool,
    /// The player's queue index of the engine's track `anchor` (set by a load and by every
    /// change of what follows the current track).
    base: usize,
    /// The engine's own index that `base` names.
    anchor: usize,
    /// The engine's index of the track playing.
    started: usize,
    /// The tracks handed to the engine, in its order.
    loaded: Vec<TrackId>,
    /// A load was sent and no track of it has started or failed yet: a `Finished` seen now
    /// belongs to the previous load.
    awaiting_start: bool,
}

impl EnginePlayer {
    /// Wraps a running engine. `name` is what the player bar says about the output; `audible`
    /// whether it makes sound (a device) or not (silent clock, recording).
    pub fn new(engine: busker_core::Player, name: impl Into<String>, audible: bool) -> Self {
        Self {
            engine,
            name: name.into(),
            audible,
            base: 0,
            anchor: 0,
            started: 0,
            loaded: Vec::new(),
            awaiting_start: false,
        }
    }

    fn check(&self, what: &str, result: Result<(), busker_core::PlayerError>) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "player {what} not taken");
        }
    }

    fn title(&self, id: Option<TrackId>) -> String {
        id.map_or_else(|| "the track".to_owned(), |id| id.to_hex()[..12].to_owned())
    }
}

impl PlayerBackend for EnginePlayer {
    fn name(&self) -> &str {
        &self.name
    }
    fn audible(&self) -> bool {
        self.audible
    }
    fn load(&mut self, queue: &[TrackSummary], index: usize) {
        self.base = index;
        self.anchor = 0;
        self.started = 0;
        self.loaded = queue
            .iter()
            .skip(index)
            .take(ENGINE_QUEUE)
            .map(|t| t.id)
            .collect();
        self.awaiting_start = true;
        let r = self.engine.load(self.loaded.clone(), 0);
        self.check("load", r);
    }
    fn play(&mut self) {
        let r = self.engine.play();
        self.check("play", r);
    }
    fn pause(&mut self) {
        let r = self.engine.pause();
        self.check("pause", r);
    }
    fn seek(&mut self, position: Duration) {
        let r = self.engine.seek(position);
        self.check("seek", r);
    }
    fn set_volume(&mut self, volume: f32) {
        let r = self.engine.set_volume(volume);
        self.check("volume", r);
    }
    fn stop(&mut self) {
        self.loaded.clear();
        let r = self.engine.stop();
        self.check("stop", r);
    }
    fn drives_clock(&self) -> bool {
        true
    }
    fn set_upcoming(&mut self, current: usize, upcoming: &[TrackSummary]) {
        let ids: Vec<TrackId> = upcoming
            .iter()
            .take(ENGINE_QUEUE - 1)
            .map(|t| t.id)
            .collect();
        self.loaded.truncate(self.started + 1);
        self.loaded.extend(&ids);
        self.base = current;
        self.anchor = self.started;
        let r = self.engine.set_upcoming(ids);
        self.check("queue change", r);
    }
    fn poll(&mut self) -> Option<BackendEvent> {
        while let Some(event) = self.engine.try_event() {
            let mapped = match event {
                PlayerEvent::TrackStarted { index, .. } => {
                    self.awaiting_start = false;
                    self.started = index;
                    Some(BackendEvent::Started(
                        (self.base + index).saturating_sub(self.anchor),
                    ))
                }
                PlayerEvent::Position { id, ms } => (!self.awaiting_start
                    && self.loaded.contains(&id))
                .then_some(BackendEvent::Position(Duration::from_millis(ms))),
                PlayerEvent::Finished { .. } => {
                    (!self.awaiting_start).then_some(BackendEvent::Finished)
                }
                PlayerEvent::Error { id, message } => {
                    self.awaiting_start = false;
                    Some(BackendEvent::Notice(format!(
                        "cannot play {}: {message}",
                        self.title(id)
                    )))
                }
                PlayerEvent::DeviceLost(why) => {
                    self.audible = false;
                    self.name = "audio device lost: playing silently".to_owned();
                    Some(BackendEvent::Notice(format!(
                        "the audio device failed ({why}); playing on silently"
                    )))
                }
                PlayerEvent::FirstAudio { .. }
                | PlayerEvent::Paused(_)
                | PlayerEvent::TrackEnded { .. } => None,
            };
            if mapped.is_some() {
                return mapped;
            }
        }
        None
    }
}
