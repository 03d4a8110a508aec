//! Item statistics a peer accumulates from the profiles that pass through its gossip.
//!
//! A peer keeps at most [`crate::MAX_NEIGHBOURS`] raw profiles, but many more pass by: every
//! message forwards the sender's closest buddies. [`WalkStream`] takes each distinct profile
//! once, adds it to two per-item aggregates and drops it:
//!
//! - `count(i)`: how many of the distinct profiles seen list item `i` (a popularity estimate);
//! - `mass(j)`: the probability mass that a three-step random walk owner -> item -> peer ->
//!   item ends on `j`, over the peers seen (RP3beta's walk, Paudel et al. 2017, with binary
//!   weights): a profile `v` sharing items with the owner adds
//!   `sum_{i in owner ∩ v} 1 / (|owner| * (count(i) + 1))` times `1 / |v|` to each of its items
//!   (the `+ 1` counts the owner as a listener of its own items).
//!
//! The score of item `j` is `mass(j) / (count(j) + 1)^beta`: RP3beta's popularity penalty with
//! popularity estimated from the stream. Only keys' 64-bit fingerprints and per-item sums are
//! kept, at most [`MAX_STREAM_PEERS`] peers and [`MAX_STREAM_ITEMS`] items; a profile whose
//! peer was already counted (any version) is skipped, and items beyond the cap are not tracked.
//! The counts use the statistics at the time a profile arrives, so the result depends a little
//! on the order profiles arrive in.

use crate::digest::{FingerprintMap, FingerprintSet, item_fingerprint as fingerprint};
use crate::profile::{Key, TasteProfile};

/// Most distinct peers whose profiles are counted.
pub const MAX_STREAM_PEERS: usize = 4096;
/// Most distinct items tracked.
pub const MAX_STREAM_ITEMS: usize = 8192;

/// Streamed per-item statistics (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct WalkStream {
    seen: FingerprintSet,
    items: FingerprintMap<(f32, f32)>,
}

impl WalkStream {
    /// An empty stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct peers counted.
    pub fn peers(&self) -> usize {
        self.seen.len()
    }

    /// Counts `profile` once as seen by `own`'s owner, at `weight` (1 for a full peer, less for
    /// one the owner trusts less: it adds `weight` to counts and `weight` times its walk mass);
    /// returns whether it was new and counted.
    pub fn add(&mut self, own: &TasteProfile, profile: &TasteProfile, weight: f32) -> bool {
        let mut own_fps: Vec<u64> = own.items.iter().map(|(k, _)| fingerprint(k)).collect();
        own_fps.sort_unstable();
        let items: Vec<(u64, f32)> = profile
            .items
            .iter()
            .map(|(k, w)| (fingerprint(k), *w))
            .collect();
        profile.peer != own.peer && self.add_items(&own_fps, &profile.peer, &items, weight)
    }

    /// [`WalkStream::add`] with items as fingerprints (as a [`crate::ProfileDigest`] names
    /// them): `own_fps` are the owner's items' fingerprints, sorted; the caller makes sure
    /// `peer` is not the owner.
    pub fn add_items(
        &mut self,
        own_fps: &[u64],
        peer: &Key,
        items: &[(u64, f32)],
        weight: f32,
    ) -> bool {
        if weight.is_nan()
            || weight <= 0.0
            || items.is_empty()
            || self.seen.len() >= MAX_STREAM_PEERS
            || !self.seen.insert(fingerprint(peer))
        {
            return false;
        }
        let mut walk = 0.0f32;
        for &(f, _) in items {
            let full = self.items.len() >= MAX_STREAM_ITEMS;
            let count = match self.items.get_mut(&f) {
                Some(e) => {
                    e.0 += weight;
                    e.0
                }
                None if !full => {
                    self.items.insert(f, (weight, 0.0));
                    weight
                }
                None => continue,
            };
            if own_fps.binary_search(&f).is_ok() {
                walk += 1.0 / (count + 1.0);
            }
        }
        if walk > 0.0 && !own_fps.is_empty() {
            let add = weight * walk / own_fps.len() as f32 / items.len() as f32;
            for (f, _) in items {
                if let Some(e) = self.items.get_mut(f) {
                    e.1 += add;
                }
            }
        }
        true
    }

    /// Whether a profile of `peer` was already counted.
    pub fn has_seen(&self, peer: &Key) -> bool {
        self.seen.contains(&fingerprint(peer))
    }

    /// How many counted profiles list `item` (weighted).
    pub fn count(&self, item: &Key) -> f32 {
        self.items.get(&fingerprint(item)).map_or(0.0, |e| e.0)
    }

    /// `mass(item) / (count(item) + 1)^beta` (0 for an item never seen).
    pub fn score(&self, item: &Key, beta: f32) -> f32 {
        self.score_fp(fingerprint(item), beta)
    }

    /// [`WalkStream::score`] of an item given by its fingerprint.
    pub fn score_fp(&self, item: u64, beta: f32) -> f32 {
        self.items
            .get(&item)
            .map_or(0.0, |&(c, m)| m / (c + 1.0).powf(beta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(peer: u64, items: &[u64]) -> TasteProfile {
        TasteProfile::new(
            Key::from_u64(peer),
            1,
            items.iter().map(|&i| (Key::from_u64(i), 1.0)),
            [],
        )
    }

    #[test]
    fn walk_mass_and_counts_by_hand() {
        let own = p(0, &[1, 2]);
        let mut s = WalkStream::new();
        // Peer 1 lists {1, 3}: item 1 now counted once, walk 1/(1+1) = 0.5; mass added to
        // each of its items: 0.5 / |own| (2) / |v| (2) = 0.125.
        assert!(s.add(&own, &p(1, &[1, 3]), 1.0));
        assert!((s.score(&Key::from_u64(3), 0.0) - 0.125).abs() < 1e-6);
        // Peer 2 lists {1, 2, 4}: counts 2 and 1, walk 1/3 + 1/2 = 5/6, per item 5/36.
        assert!(s.add(&own, &p(2, &[1, 2, 4]), 1.0));
        assert!((s.score(&Key::from_u64(4), 0.0) - 5.0 / 36.0).abs() < 1e-6);
        assert_eq!(s.count(&Key::from_u64(1)), 2.0);
        // Popularity penalty: item 1 has mass 0.125 + 5/36 and count 2, so beta 1 divides by 3.
        let m1 = 0.125 + 5.0 / 36.0;
        assert!((s.score(&Key::from_u64(1), 1.0) - m1 / 3.0).abs() < 1e-6);
        // A peer sharing nothing is counted but adds no mass; a repeat and the owner are skipped.
        assert!(s.add(&own, &p(3, &[5]), 1.0));
        assert_eq!(s.score(&Key::from_u64(5), 0.0), 0.0);
        assert_eq!(s.count(&Key::from_u64(5)), 1.0);
        assert!(!s.add(&own, &p(2, &[1, 5]), 1.0));
        assert!(!s.add(&own, &p(0, &[1]), 1.0));
        assert!(!s.add(&own, &p(4, &[1]), 0.0));
        assert_eq!(s.peers(), 3);
        // A peer at weight 0.5 adds half a count and half its mass: item 2 (count 1 -> 1.5),
        // walk 1 / (1.5 + 1) = 0.4, mass 0.5 * 0.4 / 2 / 1 = 0.1 on item 2.
        let before = s.score(&Key::from_u64(2), 0.0);
        assert!(s.add(&own, &p(5, &[2]), 0.5));
        assert_eq!(s.count(&Key::from_u64(2)), 1.5);
        assert!((s.score(&Key::from_u64(2), 0.0) - before - 0.1).abs() < 1e-6);
    }
}
