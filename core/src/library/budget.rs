//! The catalog's disk budget on the library's side: what is protected from eviction, and when
//! an eviction runs (the mechanics are the store's, see [`crate::store::Verdict`]).
//!
//! Beyond the budget (`catalog_budget_kib` in `config.toml`) a peer keeps, for good, the tracks
//! it holds and its own key's releases, and, while the reason lasts, what it played (the
//! listening history), rated, starred, put in a playlist or is downloading, the releases of the
//! keys it follows, what its kept taste neighbours' profiles name, and every release published
//! in the last `catalog_recent_days` (30 by default). Everything else is evictable, the oldest received first; an
//! evicted release is still found through peers (search asks them, a play or fetch by id asks
//! for its manifest).
//!
//! An eviction runs after accepts that left the catalog over its budget (the node runs it on
//! the blocking pool, one at a time) and frees down to nine tenths of the budget, so that the
//! next one waits for a tenth of the budget of new releases. When a run finds nothing to evict
//! (everything it looked at is protected) the next one waits until the catalog grew by another
//! hundredth of the budget: a catalog of protected releases over its budget does not make
//! every accept walk the queue.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use super::Library;
use crate::error::Result;
use crate::model::{ArtistKey, Manifest, TrackId};
use crate::release::unix_now;
use crate::store::Verdict;

/// Releases evicted per transaction.
const EVICTION_BATCH: usize = 1000;

/// What one [`Library::evict_over_budget`] run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvictionReport {
    /// Releases evicted.
    pub evicted: usize,
    /// Budget bytes freed.
    pub bytes: u64,
    /// What the catalog costs now.
    pub catalog_bytes: u64,
}

/// What must stay, read once per eviction run.
struct Protected {
    own: ArtistKey,
    followed: HashSet<ArtistKey>,
    /// Listened to, in a playlist, or named by a kept neighbour's profile.
    named: HashSet<TrackId>,
    recent_since: u64,
}

impl Library {
    /// The catalog's budget in bytes (`None`: no limit).
    pub fn catalog_budget(&self) -> Option<u64> {
        match self.config().catalog_budget_kib {
            0 => None,
            kib => Some(kib.saturating_mul(1024)),
        }
    }

    /// Whether the catalog costs more than its budget and an eviction is worth running now.
    pub fn over_budget(&self) -> bool {
        let Some(budget) = self.catalog_budget() else {
            return false;
        };
        let bytes = self.store.catalog_bytes();
        let stalled = self.eviction_stalled_at.load(Ordering::Relaxed);
        bytes > budget && bytes > stalled.saturating_add(budget / 100)
    }

    /// Evicts releases, oldest received first, until the catalog costs at most nine tenths of
    /// its budget or nothing evictable is left, in batches of one transaction each; drops them
    /// from the search index after each. Does nothing under the budget, or while another run
    /// is under way.
    pub fn evict_over_budget(&self) -> Result<EvictionReport> {
        let mut report = EvictionReport {
            catalog_bytes: self.store.catalog_bytes(),
            ..EvictionReport::default()
        };
        let Some(budget) = self.catalog_budget() else {
            return Ok(report);
        };
        let Ok(_running) = self.evicting.try_lock() else {
            return Ok(report);
        };
        if report.catalog_bytes <= budget {
            return Ok(report);
        }
        let target = budget / 10 * 9;
        let protected = self.protected()?;
        while self.store.catalog_bytes() > target {
            let done = self
                .store
                .evict(target, EVICTION_BATCH, |m| self.judge(&protected, m))?;
            if !done.ids.is_empty() {
                self.index.remove(&done.ids)?;
            }
            report.evicted += done.ids.len();
            report.bytes += done.bytes;
            if done.ids.is_empty() {
                break;
            }
        }
        report.catalog_bytes = self.store.catalog_bytes();
        let stalled = if report.catalog_bytes > budget {
            report.catalog_bytes
        } else {
            0
        };
        self.eviction_stalled_at.store(stalled, Ordering::Relaxed);
        if report.evicted > 0 {
            tracing::info!(
                evicted = report.evicted,
                freed = report.bytes,
                catalog_bytes = report.catalog_bytes,
                budget,
                "evicted releases over the catalog budget"
            );
        } else if stalled > 0 {
            tracing::info!(
                catalog_bytes = report.catalog_bytes,
                budget,
                "over the catalog budget, but what is left is protected"
            );
        }
        Ok(report)
    }

    /// Releases published since then (Unix seconds) are recent: never evicted. With no window
    /// (`catalog_recent_days = 0`) none is, not even one published this very second.
    pub(crate) fn recent_since(&self) -> u64 {
        match self.config().catalog_recent_days {
            0 => u64::MAX,
            days => unix_now().saturating_sub(days.saturating_mul(24 * 3600)),
        }
    }

    fn protected(&self) -> Result<Protected> {
        let mut named: HashSet<TrackId> = self.store.listens()?.iter().map(|l| l.id).collect();
        for list in self.store.playlists()? {
            named.extend(list.tracks);
        }
        for stored in self.store.profiles()? {
            // Kept profiles were verified when kept and when the library opened.
            if let Ok(p) = crate::taste::SignedProfile::from_stored(&stored) {
                named.extend(p.profile().items.iter().map(|(key, _)| TrackId(key.0)));
            }
        }
        Ok(Protected {
            own: self.artist_key(),
            followed: self.store.followed_keys()?,
            named,
            recent_since: self.recent_since(),
        })
    }

    fn judge(&self, protected: &Protected, m: &Manifest) -> Verdict {
        let id = m.id();
        let held = self.store.is_local(&id).unwrap_or(true);
        if held || m.artist_key() == protected.own {
            return Verdict::KeepForGood;
        }
        let wanted = protected.named.contains(&id)
            || protected.followed.contains(&m.artist_key())
            || m.published_at() >= protected.recent_since
            || self.store.rating(&id).map_or(true, |r| r.is_some())
            || self.store.is_starred(&id).unwrap_or(true)
            || self.store.is_downloading(&m.audio_id()).unwrap_or(true);
        if wanted {
            Verdict::Keep
        } else {
            Verdict::Evict
        }
    }

    /// Whether a release from a peer is one this peer evicted lately and would evict again
    /// (published before `recent_since`, see [`Library::recent_since`]): catalog sync and
    /// gossip leave those out (a recent one is taken: it is protected).
    pub(crate) fn evicted_lately(&self, m: &Manifest, recent_since: u64) -> Result<bool> {
        Ok(m.published_at() < recent_since && self.store.was_evicted(&m.id())?)
    }

    /// Keeps manifests the user asked for (a play or fetch by id, a search's answers from
    /// peers): as [`Library::accept`], but a release evicted lately is taken back.
    pub fn accept_wanted(&self, manifests: Vec<Manifest>) -> Result<Vec<TrackId>> {
        for m in &manifests {
            self.store.forget_evicted(&m.id())?;
        }
        self.accept(manifests)
    }
}

#[cfg(test)]
mod tests;
