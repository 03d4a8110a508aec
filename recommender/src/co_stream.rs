//! Item co-occurrence statistics a peer accumulates from the profiles that pass through its
//! gossip, and the local EASE model it fits on them.
//!
//! EASE (Steck 2019, [`crate::Ease`]) is the strongest centralised model, but it needs the
//! Gram matrix `X^T X` of every user's profile. A peer cannot hold other users' profiles (at
//! most [`crate::MAX_NEIGHBOURS`]), nor can the whole Gram matrix of thousands of items travel
//! within a gossip budget. [`CoStream`] keeps an aggregate instead: for a bounded set of
//! **tracked items** (the owner's own items plus at most [`MAX_CO_CANDIDATES`] candidates), the
//! sums `sum_v w_v x_vi x_vj` over the distinct profiles `v` the peer is offered (each counted
//! once, at weight `w_v`, then dropped). Only the sums are kept, never a profile.
//!
//! Candidates are the items with the highest `priority` (the caller's streamed random-walk
//! score, [`crate::WalkStream::score`]); a candidate that a better one displaces loses its
//! sums. An item tracked late has sums over the profiles that came after only: as if the
//! earlier profiles had not listed it. (Scaling its sums up to everything counted was tried and
//! lost clearly on validation: the scaled Gram matrix is noisy and no longer positive
//! semi-definite.)
//!
//! [`CoStream::fit`] solves EASE on the tracked items alone: `P = (G + l I)^-1` with `G` the
//! sums plus the owner's own `x x^T` and `l = lambda (total + 1) s2`, where `s2` is the mean
//! squared item weight of the profiles counted and the owner's own (so the strength follows the
//! scale of the weights, as `G` does: a data set of ratings, `ln(1 + 1..5)`, has weights four
//! times smaller than one of play counts, and squares sixteen times smaller), and scores each
//! candidate `j` with
//! `-sum_i x_i P_ij / P_jj` over the owner's items `i` (EASE's `x B` with `B = I - P
//! diag(P)^-1` and a zero diagonal). Restricting EASE to the owner's items and a few hundred
//! candidates costs little accuracy (the other items only add regressors that rarely matter for
//! this owner) and makes the system small: `n` of a few hundred. No inverse is formed: the fit
//! factors `G + l I = L L^T` (Cholesky, [`crate::cholesky`]), solves for
//! `P x` and takes each candidate's `P_jj` from one column of `L^-1`, about a third of the
//! work of inverting.
//!
//! ```
//! use busker_recommender::{CoStream, Key, TasteProfile};
//! let k = Key::from_u64;
//! let me = TasteProfile::new(k(0), 1, [(k(1), 1.0)], []);
//! let mut s = CoStream::new(&me, 10);
//! for peer in 1..5 {
//!     let other = TasteProfile::new(k(peer), 1, [(k(1), 1.0), (k(2), 1.0)], []);
//!     s.add(&other, 1.0, |_| 1.0);
//! }
//! let scores = s.fit(0.1);
//! assert_eq!(scores[0].0, k(2));
//! assert!(scores[0].1 > 0.0);
//! ```

use crate::digest::{FingerprintMap, item_fingerprint};
use crate::linalg::{cholesky, cholesky_inverse_diagonal, cholesky_solve};
use crate::profile::{Key, MAX_PROFILE_ITEMS, TasteProfile};

/// Most candidate items tracked besides the owner's own (at most [`MAX_PROFILE_ITEMS`]).
pub const MAX_CO_CANDIDATES: usize = 400;

/// One tracked item.
#[derive(Debug, Clone)]
struct Slot {
    /// The item's key, once a full profile named it (a digest names only the fingerprint).
    key: Option<Key>,
    fp: u64,
    /// The owner's weight of the item, 0 for a candidate.
    own: f32,
    /// The candidate's priority when last updated (infinite for own items).
    priority: f32,
}

/// Streamed co-occurrence sums over tracked items, and the local EASE fitted on them (see the
/// module docs).
#[derive(Debug, Clone, Default)]
pub struct CoStream {
    slots: Vec<Slot>,
    index: FingerprintMap<usize>,
    /// The lowest candidate and its priority, when known.
    low: Option<(usize, f32)>,
    /// Lower triangle: `pairs[a][b]` for `b <= a`.
    pairs: Vec<Vec<f32>>,
    total: f32,
    /// Weighted sums over the counted profiles of their squared item weights and of their
    /// item counts (for the mean squared weight that scales EASE's L2 strength).
    squares: f64,
    entries: f64,
    candidates: usize,
    max_candidates: usize,
}

impl CoStream {
    /// Tracks `own`'s items and at most `max_candidates` (capped at [`MAX_CO_CANDIDATES`]) others.
    pub fn new(own: &TasteProfile, max_candidates: usize) -> Self {
        let mut s = CoStream {
            max_candidates: max_candidates.min(MAX_CO_CANDIDATES),
            ..Self::default()
        };
        s.set_own(own);
        s
    }

    /// The owner's profile changed: its items are tracked (with their sums, if they were
    /// candidates), items it dropped become candidates of lowest priority.
    pub fn set_own(&mut self, own: &TasteProfile) {
        self.low = None;
        for slot in &mut self.slots {
            if slot.own > 0.0 {
                slot.own = 0.0;
                slot.priority = 0.0;
            }
        }
        for (item, w) in own.items.iter().take(MAX_PROFILE_ITEMS) {
            let f = item_fingerprint(item);
            let s = match self.index.get(&f) {
                Some(&s) => s,
                None => self.push(f),
            };
            self.slots[s].key = Some(*item);
            self.slots[s].own = *w;
            self.slots[s].priority = f32::INFINITY;
        }
        self.candidates = self.slots.iter().filter(|s| s.own <= 0.0).count();
        // A grown own profile may leave more candidates than allowed: drop the lowest.
        while self.candidates > self.max_candidates {
            match self.min_candidate() {
                Some((m, _)) => self.remove_last_into(m),
                None => break,
            }
        }
    }

    /// Number of tracked items (own and candidates).
    pub fn tracked(&self) -> usize {
        self.slots.len()
    }

    /// Total weight of the profiles counted.
    pub fn total(&self) -> f32 {
        self.total
    }

    /// Whether `item` is tracked.
    pub fn is_tracked(&self, item: &Key) -> bool {
        self.index.contains_key(&item_fingerprint(item))
    }

    /// Counts a new distinct profile at `weight` (the caller deduplicates peers, as
    /// [`crate::WalkStream::add`] does) and learns the keys of its tracked items;
    /// `priority` is given item fingerprints. See [`CoStream::add_items`].
    pub fn add(&mut self, profile: &TasteProfile, weight: f32, priority: impl Fn(u64) -> f32) {
        let items: Vec<(u64, f32)> = profile
            .items
            .iter()
            .map(|(k, w)| (item_fingerprint(k), *w))
            .collect();
        self.add_items(&items, weight, priority);
        self.learn_keys(profile);
    }

    /// Counts a new distinct profile given as `(fingerprint, weight)` items at `weight`.
    /// First every item of the profile that is tracked as a candidate gets its new `priority`,
    /// and untracked items whose priority beats the lowest candidate's are tracked (from this
    /// profile on); then the profile's tracked items add `weight * x_a * x_b` to every pair's
    /// sum.
    pub fn add_items(&mut self, items: &[(u64, f32)], weight: f32, priority: impl Fn(u64) -> f32) {
        if !(weight.is_finite() && weight > 0.0) {
            return;
        }
        self.total += weight;
        for &(_, x) in items {
            self.squares += f64::from(weight * x * x);
            self.entries += f64::from(weight);
        }
        let mut fresh: Vec<(f32, u64)> = Vec::new();
        for &(f, _) in items {
            match self.index.get(&f) {
                Some(&s) if self.slots[s].own <= 0.0 => {
                    let p = priority(f);
                    self.slots[s].priority = p;
                    self.low = match self.low {
                        Some((m, _)) if m == s => None,
                        Some((_, lp)) if p < lp => Some((s, p)),
                        other => other,
                    };
                }
                Some(_) => {}
                None => {
                    let p = priority(f);
                    if p > 0.0 && p.is_finite() {
                        fresh.push((p, f));
                    }
                }
            }
        }
        if self.max_candidates > 0 && !fresh.is_empty() {
            fresh.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            for (p, f) in fresh {
                if self.candidates < self.max_candidates {
                    let s = self.push(f);
                    self.candidates += 1;
                    self.slots[s].priority = p;
                    if let Some((_, lp)) = self.low
                        && p < lp
                    {
                        self.low = Some((s, p));
                    }
                    continue;
                }
                match self.min_candidate() {
                    Some((m, low)) if p > low => self.replace(m, f, p),
                    _ => break,
                }
            }
        }
        let tracked: Vec<(usize, f32)> = items
            .iter()
            .filter_map(|(f, x)| self.index.get(f).map(|&s| (s, *x)))
            .collect();
        for &(a, xa) in &tracked {
            for &(b, xb) in &tracked {
                if b <= a {
                    self.pairs[a][b] += weight * xa * xb;
                }
            }
        }
    }

    /// Learns the keys of tracked items that `profile` names (candidates tracked from digests
    /// can be recommended only once their key is known).
    pub fn learn_keys(&mut self, profile: &TasteProfile) {
        for (k, _) in &profile.items {
            if let Some(&s) = self.index.get(&item_fingerprint(k)) {
                self.slots[s].key = Some(*k);
            }
        }
    }

    /// The mean squared item weight of the profiles counted and the owner's own (1 when there
    /// is none).
    pub fn mean_square(&self) -> f64 {
        let (own_squares, own_entries) = self
            .slots
            .iter()
            .filter(|s| s.own > 0.0)
            .fold((0.0, 0.0), |(q, n), s| {
                (q + f64::from(s.own * s.own), n + 1.0)
            });
        let n = self.entries + own_entries;
        if n > 0.0 {
            (self.squares + own_squares) / n
        } else {
            1.0
        }
    }

    /// EASE scores of the candidates (see the module docs), best first; `lambda` is the L2
    /// strength per counted profile and unit of mean squared weight. Empty when nothing can be
    /// scored.
    pub fn fit(&self, lambda: f32) -> Vec<(Key, f32)> {
        let n = self.slots.len();
        if n == 0 || self.candidates == 0 || lambda.is_nan() || lambda <= 0.0 {
            return Vec::new();
        }
        // G's lower triangle, row-major, in f64; then its Cholesky factor in place.
        let mut g = vec![0.0f64; n * n];
        for a in 0..n {
            let sa = &self.slots[a];
            for b in 0..=a {
                let sb = &self.slots[b];
                g[a * n + b] = f64::from(self.pairs[a][b] + sa.own * sb.own);
            }
        }
        let l = f64::from(lambda) * (f64::from(self.total) + 1.0) * self.mean_square();
        for a in 0..n {
            g[a * n + a] += l;
        }
        if cholesky(&mut g, n).is_err() {
            return Vec::new();
        }
        // z = P x with P = G^-1 (one solve), and P_jj for each candidate j.
        let mut z: Vec<f64> = self.slots.iter().map(|s| f64::from(s.own)).collect();
        cholesky_solve(&g, n, &mut z);
        let mut scratch = vec![0.0f64; n];
        let mut out: Vec<(Key, f32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.own <= 0.0)
            .filter_map(|(j, s)| {
                let k = s.key?;
                let pjj = cholesky_inverse_diagonal(&g, n, j, &mut scratch);
                Some((k, (-z[j] / pjj) as f32))
            })
            .filter(|(_, v)| v.is_finite())
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// Appends a slot for `item`; returns its index.
    fn push(&mut self, item: u64) -> usize {
        let s = self.slots.len();
        self.slots.push(Slot {
            key: None,
            fp: item,
            own: 0.0,
            priority: 0.0,
        });
        self.index.insert(item, s);
        self.pairs.push(vec![0.0; s + 1]);
        s
    }

    /// The candidate with the lowest priority.
    fn min_candidate(&mut self) -> Option<(usize, f32)> {
        if self.low.is_none() {
            self.low = self.scan_min();
        }
        self.low
    }

    fn scan_min(&self) -> Option<(usize, f32)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.own <= 0.0)
            .map(|(i, s)| (i, s.priority))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Reuses slot `s` for a new candidate: its sums start from zero.
    fn replace(&mut self, s: usize, item: u64, priority: f32) {
        self.low = None;
        self.index.remove(&self.slots[s].fp);
        self.index.insert(item, s);
        self.slots[s] = Slot {
            key: None,
            fp: item,
            own: 0.0,
            priority,
        };
        self.clear_sums(s);
    }

    fn clear_sums(&mut self, s: usize) {
        self.pairs[s].iter_mut().for_each(|v| *v = 0.0);
        for row in self.pairs.iter_mut().skip(s + 1) {
            row[s] = 0.0;
        }
    }

    /// Drops candidate slot `m` by moving the last slot into its place.
    fn remove_last_into(&mut self, m: usize) {
        self.low = None;
        let last = self.slots.len() - 1;
        self.index.remove(&self.slots[m].fp);
        if m != last {
            // Move the last slot's sums into row/column `m`.
            let moved: Vec<f32> = (0..=last).map(|b| self.pair(last, b)).collect();
            let keep_self = moved[last];
            self.slots.swap(m, last);
            self.index.insert(self.slots[m].fp, m);
            for (b, &v) in moved.iter().enumerate().take(last) {
                if b != m {
                    self.set_pair(m, b, v);
                }
            }
            self.set_pair(m, m, keep_self);
        }
        self.slots.pop();
        self.pairs.pop();
        self.candidates -= 1;
    }

    fn pair(&self, a: usize, b: usize) -> f32 {
        if b <= a {
            self.pairs[a][b]
        } else {
            self.pairs[b][a]
        }
    }

    fn set_pair(&mut self, a: usize, b: usize, v: f32) {
        if b <= a {
            self.pairs[a][b] = v;
        } else {
            self.pairs[b][a] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(x: u64) -> Key {
        Key::from_u64(x)
    }

    fn p(peer: u64, items: &[(u64, f32)]) -> TasteProfile {
        TasteProfile::new(k(peer), 1, items.iter().map(|&(i, w)| (k(i), w)), [])
    }

    /// Owner {1: 1}; one peer {1: 1, 2: 2} at weight 1, one candidate (item 2).
    /// G = [[1 + 1, 2], [2, 4]] (own x x^T adds 1 to G_11); mean squared weight (1 + 1 + 4) / 3
    /// = 2, lambda 1 per profile and unit of it: l = 1 * 2 * 2 = 4.
    /// G + 4I = [[6, 2], [2, 8]], det 44, P = [[8, -2], [-2, 6]] / 44.
    /// Score of item 2: -x_1 P_12 / P_22 = -(-2/44) / (6/44) = 1/3.
    #[test]
    fn fit_matches_hand_computed_two_item_case() {
        let mut s = CoStream::new(&p(0, &[(1, 1.0)]), 5);
        s.add(&p(1, &[(1, 1.0), (2, 2.0)]), 1.0, |_| 1.0);
        assert_eq!(s.tracked(), 2);
        let f = s.fit(1.0);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, k(2));
        assert!((f[0].1 - 1.0 / 3.0).abs() < 1e-5, "{}", f[0].1);
        assert!((s.mean_square() - 2.0).abs() < 1e-9);
    }

    /// A candidate tracked late has sums over the later profiles only, and a candidate with a
    /// higher priority displaces the lowest.
    #[test]
    fn late_candidates_count_later_profiles_and_low_priorities_are_displaced() {
        let mut s = CoStream::new(&p(0, &[(1, 1.0)]), 1);
        // Item 2 (priority 1) is the only candidate slot.
        s.add(&p(1, &[(1, 1.0), (2, 1.0)]), 1.0, |_| 1.0);
        assert!(s.is_tracked(&k(2)));
        // Item 3 has a higher priority and displaces item 2, starting from this profile.
        s.add(&p(2, &[(1, 1.0), (3, 1.0)]), 1.0, |f| {
            if f == item_fingerprint(&k(3)) {
                2.0
            } else {
                1.0
            }
        });
        assert!(s.is_tracked(&k(3)) && !s.is_tracked(&k(2)));
        // Item 4 has a lower priority than item 3 and is not tracked.
        s.add(&p(3, &[(1, 1.0), (3, 1.0), (4, 1.0)]), 1.0, |f| {
            if f == item_fingerprint(&k(4)) {
                0.5
            } else {
                2.0
            }
        });
        assert!(!s.is_tracked(&k(4)));
        assert_eq!(s.total(), 3.0);
        // Sums: G_11 = 3 profiles + own = 4; G_13 = 2 (item 3 tracked from profile 2 on);
        // G_33 = 2. lambda 1 per profile: l = 4. G + 4I = [[8, 2], [2, 6]], det 44.
        // P_13 = -2/44, P_33 = 8/44, score = 2/8.
        let f = s.fit(1.0);
        assert_eq!(f[0].0, k(3));
        assert!((f[0].1 - 0.25).abs() < 1e-5, "{}", f[0].1);
    }

    #[test]
    fn items_known_only_by_fingerprint_are_not_scored_until_named() {
        let mut s = CoStream::new(&p(0, &[(1, 1.0)]), 5);
        let items = [
            (item_fingerprint(&k(1)), 1.0),
            (item_fingerprint(&k(2)), 1.0),
        ];
        s.add_items(&items, 1.0, |_| 1.0);
        assert!(s.is_tracked(&k(2)));
        assert!(s.fit(1.0).is_empty());
        // A full profile naming item 2 (counted already, so only its keys are learnt).
        s.learn_keys(&p(1, &[(2, 1.0)]));
        assert_eq!(s.total(), 1.0);
        // Same numbers as the two-item case above with x_2 = 1: G = [[2, 1], [1, 1]] + 2I,
        // det 11, P_12 = -1/11, P_22 = 4/11, score 1/4.
        let f = s.fit(1.0);
        assert_eq!(f.len(), 1);
        assert!((f[0].1 - 0.25).abs() < 1e-5, "{}", f[0].1);
    }

    #[test]
    fn owner_changes_keep_sums_and_respect_the_cap() {
        let mut s = CoStream::new(&p(0, &[(1, 1.0)]), 2);
        s.add(&p(1, &[(1, 1.0), (2, 1.0), (3, 1.0)]), 1.0, |_| 1.0);
        assert_eq!(s.tracked(), 3);
        // The owner now has items 1 and 2: item 2 becomes own, keeping its sums.
        s.set_own(&p(0, &[(1, 1.0), (2, 1.0)]));
        assert_eq!(s.tracked(), 3);
        // Only candidate 3 is left; its score uses G_23 = 1 from the profile.
        let f = s.fit(1.0);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].0, k(3));
        assert!(f[0].1 > 0.0);
        // A profile at weight 0 or NaN is ignored.
        s.add(&p(2, &[(1, 1.0)]), 0.0, |_| 1.0);
        s.add(&p(3, &[(1, 1.0)]), f32::NAN, |_| 1.0);
        assert_eq!(s.total(), 1.0);
        // The cap shrinks candidates when the owner's profile drops items: 1 own + 2 candidates.
        let mut c = CoStream::new(&p(0, &[(1, 1.0), (2, 1.0), (3, 1.0)]), 2);
        let prio = |f: u64| {
            (1..=5)
                .find(|&i| item_fingerprint(&k(i)) == f)
                .map_or(0.0, |i| i as f32)
        };
        c.add(&p(1, &[(4, 1.0), (5, 1.0)]), 1.0, prio);
        assert_eq!(c.tracked(), 5);
        c.set_own(&p(0, &[(1, 1.0)]));
        // Items 2 and 3 became candidates (priority 0); two of 2, 3, 4, 5 may stay: 4 and 5.
        assert_eq!(c.tracked(), 3);
        assert!(c.is_tracked(&k(4)) && c.is_tracked(&k(5)) && !c.is_tracked(&k(2)));
    }
}
