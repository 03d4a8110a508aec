//! Editing the queue while it plays: play next, add, remove, move, shuffle, clear, and the
//! repeat mode. The backend hears of every change through [`super::PlayerBackend::set_upcoming`], so
//! the current track plays on undisturbed.

use busker_core::TrackSummary;

use super::Player;

/// What happens at the end of the queue, or of each track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Repeat {
    /// Stop after the last track.
    #[default]
    Off,
    /// Start the queue again after the last track.
    All,
    /// Play the current track again and again.
    One,
}

impl Repeat {
    /// The next mode, as the Repeat button cycles them.
    pub fn next(self) -> Self {
        match self {
            Self::Off => Self::All,
            Self::All => Self::One,
            Self::One => Self::Off,
        }
    }

    /// What the Repeat button says.
    pub fn label(self) -> &'static str {
        match self {
            Self::Off => "Repeat: off",
            Self::All => "Repeat: all",
            Self::One => "Repeat: one",
        }
    }
}

impl Player {
    /// Puts `tracks` right after the current track (at the front when nothing plays).
    pub fn play_next(&mut self, tracks: Vec<TrackSummary>) {
        let at = self.current.map_or(0, |i| i + 1);
        self.queue.splice(at..at, tracks);
        self.sync_upcoming();
    }

    /// Puts `tracks` at the end of the queue.
    pub fn enqueue(&mut self, tracks: Vec<TrackSummary>) {
        self.queue.extend(tracks);
        self.sync_upcoming();
    }

    /// Takes the track at `index` out of the queue (the current one: the next plays).
    pub fn remove(&mut self, index: usize) {
        if index >= self.queue.len() {
            return;
        }
        match self.current {
            Some(i) if i == index => {
                self.queue.remove(index);
                if index < self.queue.len() {
                    self.start(index);
                } else {
                    self.stop();
                }
                return;
            }
            Some(i) if index < i => self.current = Some(i - 1),
            _ => {}
        }
        self.queue.remove(index);
        self.sync_upcoming();
    }

    /// Moves the track at `from` to `to` (the current track may move too, and plays on).
    pub fn move_item(&mut self, from: usize, to: usize) {
        if from >= self.queue.len() || to >= self.queue.len() || from == to {
            return;
        }
        let track = self.queue.remove(from);
        self.queue.insert(to, track);
        self.current = self.current.map(|i| match i {
            i if i == from => to,
            i if from < i && i <= to => i - 1,
            i if to <= i && i < from => i + 1,
            i => i,
        });
        self.sync_upcoming();
    }

    /// Shuffles the tracks after the current one (all of them when nothing plays).
    pub fn shuffle_upcoming(&mut self) {
        let from = self.current.map_or(0, |i| i + 1);
        if let Some(rest) = self.queue.get_mut(from..) {
            rand::seq::SliceRandom::shuffle(rest, &mut rand::thread_rng());
        }
        self.sync_upcoming();
    }

    /// Takes every track after the current one out of the queue.
    pub fn clear_upcoming(&mut self) {
        match self.current {
            Some(i) => self.queue.truncate(i + 1),
            None => self.queue.clear(),
        }
        self.sync_upcoming();
    }

    /// The repeat mode.
    pub fn repeat(&self) -> Repeat {
        self.repeat
    }

    /// Sets the repeat mode.
    pub fn set_repeat(&mut self, repeat: Repeat) {
        self.repeat = repeat;
        self.sync_upcoming();
    }

    /// Tells the backend what follows the current track: nothing under [`Repeat::One`] (the
    /// player starts the track again when it ends).
    pub(super) fn sync_upcoming(&mut self) {
        let Some(i) = self.current else {
            return;
        };
        let upcoming = match self.repeat {
            Repeat::One => &[][..],
            _ => self.queue.get(i + 1..).unwrap_or_default(),
        };
        self.backend.set_upcoming(i, upcoming);
    }

    /// At the end of the track or queue: the repeat mode says whether something plays again.
    pub(super) fn repeat_at_end(&mut self) -> bool {
        match (self.repeat, self.current) {
            (Repeat::One, Some(i)) => self.start(i),
            (Repeat::All, Some(_)) if !self.queue.is_empty() => self.start(0),
            _ => return false,
        }
        true
    }
}
