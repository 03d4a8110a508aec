//! The play queue: the tracks in order and the place of the one playing (or to play next).
//!
//! The place may run past the end: that is how the engine knows the queue is exhausted.
//! Skipping back stops at the first track.

use crate::model::TrackId;

/// The tracks to play and the place in them.
#[derive(Debug, Default)]
pub(super) struct Queue {
    tracks: Vec<TrackId>,
    index: usize,
}

impl Queue {
    /// Replaces the tracks; `start` is the place to play from.
    pub(super) fn replace(&mut self, tracks: Vec<TrackId>, start: usize) {
        self.tracks = tracks;
        self.index = start;
    }

    /// Appends tracks (the place stays).
    pub(super) fn extend(&mut self, tracks: Vec<TrackId>) {
        self.tracks.extend(tracks);
    }

    /// Replaces the tracks after the place (the place and its track stay; past the end, the
    /// new tracks are the ones to play next).
    pub(super) fn replace_upcoming(&mut self, tracks: Vec<TrackId>) {
        self.tracks.truncate(self.index + 1);
        self.tracks.extend(tracks);
    }

    /// The place, counting from 0 (it can be past the end).
    pub(super) fn index(&self) -> usize {
        self.index
    }

    /// The track at the place, `None` once the queue is exhausted.
    pub(super) fn current(&self) -> Option<TrackId> {
        self.tracks.get(self.index).copied()
    }

    /// The track after the place (the one to prefetch).
    pub(super) fn upcoming(&self) -> Option<TrackId> {
        self.tracks.get(self.index + 1).copied()
    }

    /// Moves to the next track.
    pub(super) fn advance(&mut self) {
        self.index += 1;
    }

    /// Moves to the previous track, staying on the first.
    pub(super) fn back(&mut self) {
        self.index = self.index.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TrackId {
        TrackId([n; 32])
    }

    #[test]
    fn the_place_walks_the_tracks_and_runs_out_past_the_end() {
        let mut queue = Queue::default();
        assert_eq!(queue.current(), None);
        queue.replace(vec![id(1), id(2)], 1);
        assert_eq!((queue.index(), queue.current()), (1, Some(id(2))));
        assert_eq!(queue.upcoming(), None);
        queue.extend(vec![id(3)]);
        assert_eq!(queue.upcoming(), Some(id(3)));
        queue.advance();
        queue.advance();
        assert_eq!((queue.index(), queue.current()), (3, None));
        queue.replace_upcoming(vec![id(4), id(5)]);
        assert_eq!((queue.index(), queue.current()), (3, Some(id(4))));
        queue.replace(vec![id(1), id(2), id(3)], 0);
        queue.replace_upcoming(vec![id(3)]);
        assert_eq!(
            (queue.current(), queue.upcoming()),
            (Some(id(1)), Some(id(3)))
        );
        queue.advance();
        queue.advance();
        assert_eq!(queue.current(), None);
        queue.replace(vec![id(1)], 0);
        queue.back();
        assert_eq!((queue.index(), queue.current()), (0, Some(id(1))));
    }
}
