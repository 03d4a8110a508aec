//! Recommendations out of the library: new releases as promotion candidates, one scoring pass
//! of the taste neighbourhood ([`Library::suggest`]), and the suggestions turned into tracks to
//! show ([`Library::recommended`]). A node looks up the manifests of suggested tracks it does not
//! know between the two steps, so the scores are computed once.

use super::Library;
use crate::TrackSummary;
use crate::error::Result;
use crate::model::TrackId;
use crate::release::{self, Candidate};
use crate::taste::Suggestion;

/// A recommended track, ready to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommended {
    /// The track.
    pub track: TrackSummary,
    /// Higher is better; comparable within one list.
    pub score: f32,
    /// Why it is recommended, as a sentence.
    pub reason: String,
}

impl Library {
    /// Tracks announced by others, newest first in rounds over artist keys, each key with a
    /// bounded share (see [`release::fair_newest`]), followed keys' releases first: the
    /// candidates for promotion. Blocked keys and re-signed copies of another key's audio are
    /// left out.
    pub fn new_releases(&self, limit: usize) -> Result<Vec<TrackId>> {
        let mine = self.artist.public();
        let mut fresh = Vec::new();
        let blocked = self.blocked()?;
        for m in self.store.manifests() {
            let m = m?;
            // A re-signed copy of another key's audio is never promoted.
            if m.artist_key() != mine
                && !blocked.hides(&m)
                && self.store.same_audio_as(&m)?.is_none()
            {
                fresh.push(Candidate::of(&m));
            }
        }
        Ok(release::followed_first(
            fresh,
            &self.store.followed_keys()?,
            limit,
        ))
    }

    /// One scoring pass for a list of `limit` tracks: the taste profile refreshed from the
    /// ratings and history, then the kept neighbours' profiles scored (see [`crate::taste`]),
    /// with new releases promoted, best first. Asks for a few more than `limit`: some may be
    /// unknown here or this peer's own.
    pub fn suggest(&self, limit: usize) -> Result<Vec<Suggestion>> {
        self.taste.refresh()?;
        let fresh = self.new_releases(256)?;
        Ok(self.taste.recommend(limit * 2 + 4, &fresh, |_| false))
    }

    /// The first `limit` of `suggestions` as tracks to show, in their order: tracks whose
    /// manifest is not known here and this peer's own tracks are left out. (Tracks already
    /// listened to or rated are never suggested.)
    pub fn recommended(
        &self,
        suggestions: Vec<Suggestion>,
        limit: usize,
    ) -> Result<Vec<Recommended>> {
        let mine = self.artist.public();
        let blocked = self.blocked()?;
        let mut out = Vec::new();
        for s in suggestions {
            if out.len() >= limit {
                break;
            }
            let Some(m) = self.store.manifest(&s.id)? else {
                continue;
            };
            if m.artist_key() == mine || blocked.hides(&m) {
                continue;
            }
            out.push(Recommended {
                track: self.summary(&m)?,
                score: s.score,
                reason: s.reason,
            });
        }
        Ok(out)
    }

    /// Recommendations out of what is known here: [`Library::suggest`] then
    /// [`Library::recommended`].
    pub fn recommend(&self, limit: usize) -> Result<Vec<Recommended>> {
        let suggestions = self.suggest(limit)?;
        self.recommended(suggestions, limit)
    }
}
