//! Recommendations out of the library: new releases as promotion candidates, one scoring pass
//! of the taste neighbourhood ([`Library::suggest`]), and the suggestions turned into tracks to
//! show ([`Library::recommended`]). A node looks up the manifests of suggested tracks it does not
//! know between the two steps, so the scores are computed once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::Library;
use crate::TrackSummary;
use crate::error::Result;
use crate::model::{ArtistKey, TrackId};
use crate::release::{self, Candidate, artist_share};
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
    /// left out. Reads the followed keys' newest releases and the artists with the newest
    /// releases from the store's indexes, never every release.
    pub fn new_releases(&self, limit: usize) -> Result<Vec<TrackId>> {
        let mine = self.artist.public();
        let blocked = self.store.blocked_keys()?;
        let followed = self.store.followed_keys()?;
        let shown = |key: &ArtistKey| *key != mine && !blocked.contains(key);
        let mut theirs = Vec::new();
        for key in followed.iter().filter(|key| shown(key)) {
            theirs.extend(self.promotable(key, artist_share(limit))?);
        }
        let mut out = release::fair_newest(theirs, limit);
        let rest = limit - out.len();
        out.extend(self.newest_of(rest, |key| shown(key) && !followed.contains(key))?);
        Ok(out)
    }

    /// [`release::fair_newest`]`(releases, limit)` over the promotable releases of the keys
    /// `include` takes, walking artists by their newest release and stopping early.
    ///
    /// Why stopping gives the same list: once `limit` artists' newest releases are found and
    /// the next artist's newest release is older than the `limit`-th of those, no release of
    /// an artist not yet walked can rank among the first `limit` (the first round holds each
    /// key's newest release, newest first, and every later round ranks after it), so the list
    /// is those `limit` newest releases, as `fair_newest` would rank them. When fewer artists
    /// have anything to promote, every one of them is walked, and each one's newest
    /// [`artist_share`] releases are all `fair_newest` keeps of it.
    fn newest_of(
        &self,
        limit: usize,
        include: impl Fn(&ArtistKey) -> bool,
    ) -> Result<Vec<TrackId>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut firsts = Vec::new();
        // The `limit` newest of `firsts` (publish time, then id; the worst on top).
        let mut best: BinaryHeap<Reverse<(u64, Reverse<TrackId>)>> = BinaryHeap::new();
        for entry in self.store.artists_newest_first() {
            let (key, newest) = entry?;
            if best.len() == limit && best.peek().is_some_and(|Reverse((at, _))| newest < *at) {
                return Ok(release::fair_newest(firsts, limit));
            }
            if !include(&key) {
                continue;
            }
            let Some(first) = self.promotable(&key, 1)?.pop() else {
                continue;
            };
            best.push(Reverse((first.published_at, Reverse(first.id))));
            if best.len() > limit {
                best.pop();
            }
            firsts.push(first);
        }
        if firsts.len() >= limit {
            return Ok(release::fair_newest(firsts, limit));
        }
        let mut all = Vec::new();
        for first in &firsts {
            all.extend(self.promotable(&first.artist, artist_share(limit))?);
        }
        Ok(release::fair_newest(all, limit))
    }

    /// The newest `n` releases of `key` that may be promoted (re-signed copies of another
    /// key's audio never are), newest first.
    fn promotable(&self, key: &ArtistKey, n: usize) -> Result<Vec<Candidate>> {
        let mut out = Vec::new();
        for release in self.store.releases_of(key) {
            if out.len() == n {
                break;
            }
            let release = release?;
            if !self.store.is_resigned_copy(&release.id, &release.audio)? {
                out.push(Candidate {
                    id: release.id,
                    artist: *key,
                    published_at: release.published_at,
                });
            }
        }
        Ok(out)
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
