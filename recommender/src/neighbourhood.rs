//! The exchange rules: which peers' profiles a peer keeps, whom it gossips with, and how much
//! each kept profile may weigh in its recommendations.
//!
//! This is pure code shared by the `busker-eval` gossip simulation and `busker-core`'s `taste`
//! module, so the figures measured offline are those of the live network's rules.
//!
//! - **Bounded memory.** A [`Neighbourhood`] keeps at most [`MAX_NEIGHBOURS`] raw profiles and a
//!   bounded list of candidate peer keys.
//! - **Partner choice (BuddyCast).** [`Neighbourhood::choose_partner`] returns, with probability
//!   `exploration`, a random candidate (so new peers and new tastes can be discovered), otherwise
//!   one of the kept neighbours, drawn in proportion to similarity times trust. A gossip message
//!   carries the sender's signed profile and a hint ([`Neighbourhood::gossip_hint`]): its best
//!   taste buddies and a few random peers, which the receiver adds to its candidates.
//! - **Eviction.** When full, the kept profile with the lowest similarity times trust makes room
//!   for a better one. Followed peers are always kept (they rank first).
//! - **Trust.** From follows: 1 for a peer the owner follows, 0.8 two follow hops away, 0.6
//!   three and 0.5 four hops away (distances are learnt from the `follows` of profiles that pass by, keeping
//!   only keys). A peer with no follow path is a stranger: 0.05 rising to 0.1 with the rounds it
//!   stayed in the neighbourhood (history). Sybils can follow each other, but real users do not
//!   follow them, so they stay strangers. An owner who follows nobody has no anchor; for them
//!   every peer gets 0.3 rising to 0.5 with history.
//! - **Sybil and shilling defences** (on unless [`NeighbourhoodConfig::defences`] is off): each
//!   profile is normalised to unit length and any one item's share of it is capped
//!   ([`NeighbourhoodConfig::item_cap`]), so no peer can pour its whole weight into one item;
//!   near-duplicate profiles (cosine above [`NeighbourhoodConfig::clique_threshold`] with each
//!   other) share one weight instead of adding up; an item needs support from at least
//!   [`NeighbourhoodConfig::min_support`] independent neighbours or one trusted (at most four
//!   follow hops away) neighbour to be recommended at all; influence is similarity times trust.
//!
//! ```
//! use busker_recommender::{Key, Neighbourhood, NeighbourhoodConfig, TasteProfile};
//! let me = TasteProfile::new(Key::from_u64(1), 1, [(Key::from_u64(10), 1.0)], []);
//! let mut hood = Neighbourhood::new(me, NeighbourhoodConfig::default()).unwrap();
//! for peer in [2, 3] {
//!     let other = TasteProfile::new(
//!         Key::from_u64(peer), 1, [(Key::from_u64(10), 1.0), (Key::from_u64(11), 1.0)], []);
//!     hood.consider(other);
//! }
//! let recs = hood.recommend(10, |_| false, &[], 0.0);
//! assert_eq!(recs[0].item, Key::from_u64(11));
//! assert_eq!(recs[0].reason.to_string(), "liked by 2 peers whose taste is close to yours");
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;

use rand::Rng;

use crate::error::{Error, Result};
use crate::profile::{Key, TasteProfile};
use crate::recommendation::{Reason, Recommendation, promote};
use crate::stream::WalkStream;

/// Hard cap on kept raw profiles, whatever the configuration says.
pub const MAX_NEIGHBOURS: usize = 50;
/// How many best buddies a gossip hint names.
pub const HINT_BUDDIES: usize = 10;
/// How many random peers a gossip hint names.
pub const HINT_RANDOM: usize = 5;
/// Most bytes in one gossip message: profiles (the sender's own plus forwarded buddies'), each
/// with a 2-byte length, and the hint of peer keys.
pub const MAX_GOSSIP_BYTES: usize = 24_000;
/// Bytes of a gossip message kept for the hint (a count and up to 15 keys).
const HINT_RESERVE: usize = 2 + 32 * (HINT_BUDDIES + HINT_RANDOM);
/// Most gossip requests a peer answers in one round. With one request of its own, a peer sends
/// at most `(1 + MAX_ANSWERS_PER_ROUND) * MAX_GOSSIP_BYTES`, 96 KB, per round.
pub const MAX_ANSWERS_PER_ROUND: usize = 3;

/// Longest follow path along which trust flows (1 = followed by the owner).
pub const MAX_TRUST_HOPS: u8 = 4;
/// Most peer keys with a known follow distance kept by one peer.
pub const MAX_TRUSTED: usize = 4096;

/// The similarity a followed peer counts with at least, whatever its profile.
pub const FOLLOWED_MIN_SIMILARITY: f32 = 0.2;

/// Tunable parameters of the exchange rules.
#[derive(Debug, Clone, PartialEq)]
pub struct NeighbourhoodConfig {
    /// Most raw profiles kept (at most [`MAX_NEIGHBOURS`]).
    pub max_profiles: usize,
    /// Most candidate peer keys remembered.
    pub max_candidates: usize,
    /// Probability that a gossip partner is a random candidate rather than a neighbour.
    pub exploration: f32,
    /// Exponent applied to similarity when weighting a neighbour (sharpens towards the closest).
    pub alpha: f32,
    /// Whether the Sybil and shilling defences are on.
    pub defences: bool,
    /// Largest share of its unit-length profile a peer may give one item (with defences).
    pub item_cap: f32,
    /// Cosine similarity above which two neighbour profiles count as near-duplicates.
    pub clique_threshold: f32,
    /// Independent neighbours needed to recommend an item no trusted neighbour has.
    pub min_support: usize,
    /// Factor on the score of an item that no trusted neighbour has (with defences).
    pub untrusted_factor: f32,
    /// Exponent of trust in a neighbour's influence (0: trust only filters items).
    pub trust_exponent: f32,
    /// Weight of the streamed random-walk score ([`WalkStream`]) beside the neighbours' score,
    /// both max-normalised; 0 turns the stream off. The stream only re-weights items that kept
    /// neighbours support, so it cannot bring in an item by itself.
    pub stream_weight: f32,
    /// Popularity penalty exponent of the streamed score.
    pub stream_beta: f32,
    /// Popularity penalty exponent on the neighbours' score, with popularity counted by the
    /// stream (only when the stream is on).
    pub knn_beta: f32,
    /// With defences: the weight in the stream of a peer without a known follow path (at most
    /// [`MAX_TRUST_HOPS`] hops); 0 counts only trusted peers. Ignored when the owner follows
    /// nobody.
    pub stream_stranger: f32,
}

impl Default for NeighbourhoodConfig {
    /// Values chosen on the validation split of Last.fm seed 1 (see `BENCHMARKS.md ("Recommender")`).
    fn default() -> Self {
        NeighbourhoodConfig {
            max_profiles: MAX_NEIGHBOURS,
            max_candidates: 256,
            exploration: 0.5,
            alpha: 3.0,
            defences: true,
            item_cap: 0.35,
            clique_threshold: 0.6,
            min_support: 2,
            untrusted_factor: 0.25,
            trust_exponent: 0.25,
            stream_weight: 2.0,
            stream_beta: 0.5,
            knn_beta: 0.2,
            stream_stranger: 0.2,
        }
    }
}

/// A kept profile and what the owner knows about its peer.
#[derive(Debug, Clone)]
pub struct Neighbour {
    /// The peer's latest valid profile.
    pub profile: TasteProfile,
    /// Cosine similarity to the owner's profile.
    pub similarity: f32,
    /// The owner follows this peer.
    pub followed: bool,
    /// Rounds this peer has stayed in the neighbourhood (interaction history).
    pub rounds_kept: u32,
}

/// What [`Neighbourhood::consider`] did with a profile.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Kept in a free slot.
    Admitted,
    /// Kept in place of the returned peer.
    Replaced(Key),
    /// A newer version of a kept profile replaced the old one.
    Updated,
    /// An older or equal version of a kept profile; ignored.
    Stale,
    /// Not kept: not similar enough, or the owner's own profile.
    NotKept,
    /// Invalid; the error says why.
    Rejected(Error),
}

/// One peer's set of kept profiles and candidate peers, and the rules that maintain it.
#[derive(Debug, Clone)]
pub struct Neighbourhood {
    own: TasteProfile,
    config: NeighbourhoodConfig,
    neighbours: Vec<Neighbour>,
    candidates: VecDeque<Key>,
    trust_hops: HashMap<Key, u8>,
    follows_tried: usize,
    influence_cache: OnceLock<Vec<f32>>,
    stream: WalkStream,
}

/// Cosine similarity of two profiles' item vectors.
pub fn profile_similarity(a: &TasteProfile, b: &TasteProfile) -> f32 {
    let (mut i, mut j, mut dot) = (0, 0, 0.0f32);
    while i < a.items.len() && j < b.items.len() {
        match a.items[i].0.cmp(&b.items[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                dot += a.items[i].1 * b.items[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    let n = |p: &TasteProfile| p.items.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    let d = n(a) * n(b);
    if d > 0.0 { dot / d } else { 0.0 }
}

impl Neighbourhood {
    /// An empty neighbourhood for the owner's profile.
    pub fn new(own: TasteProfile, config: NeighbourhoodConfig) -> Result<Self> {
        own.validate()?;
        if config.max_profiles > MAX_NEIGHBOURS || !(0.0..=1.0).contains(&config.exploration) {
            return Err(Error::InvalidParameter(
                "max_profiles must be <= MAX_NEIGHBOURS and exploration in [0, 1]",
            ));
        }
        Ok(Neighbourhood {
            own,
            config,
            neighbours: Vec::new(),
            candidates: VecDeque::new(),
            trust_hops: HashMap::new(),
            follows_tried: 0,
            influence_cache: OnceLock::new(),
            stream: WalkStream::new(),
        })
    }

    /// The owner's profile.
    pub fn own(&self) -> &TasteProfile {
        &self.own
    }

    /// The configuration.
    pub fn config(&self) -> &NeighbourhoodConfig {
        &self.config
    }

    /// Replaces the owner's profile (after new plays or ratings) and refreshes similarities.
    pub fn set_own(&mut self, own: TasteProfile) -> Result<()> {
        own.validate()?;
        self.influence_cache = OnceLock::new();
        self.own = own;
        self.follows_tried = 0;
        for n in &mut self.neighbours {
            n.similarity = profile_similarity(&self.own, &n.profile);
            n.followed = self.own.follows.binary_search(&n.profile.peer).is_ok();
        }
        Ok(())
    }

    /// The kept profiles.
    pub fn neighbours(&self) -> &[Neighbour] {
        &self.neighbours
    }

    /// The item statistics streamed from the profiles that passed by.
    pub fn stream(&self) -> &WalkStream {
        &self.stream
    }

    /// Number of candidate peer keys remembered.
    pub fn candidate_count(&self) -> usize {
        self.candidates.len()
    }

    /// Marks the end of a gossip round: every kept peer gains one round of history.
    pub fn tick(&mut self) {
        self.influence_cache = OnceLock::new();
        for n in &mut self.neighbours {
            n.rounds_kept = n.rounds_kept.saturating_add(1);
        }
    }

    /// Follow-graph distance from the owner to `peer` (1 = followed), if known and at most
    /// [`MAX_TRUST_HOPS`].
    pub fn follow_hops(&self, peer: &Key) -> Option<u8> {
        if self.own.follows.binary_search(peer).is_ok() {
            return Some(1);
        }
        self.trust_hops.get(peer).copied()
    }

    /// Learns follow-graph distances from a profile: the peers followed by a peer at distance
    /// `h < MAX_TRUST_HOPS` are at distance at most `h + 1`. Only keys are kept (at most
    /// [`MAX_TRUSTED`]), never the profile.
    fn note_follows(&mut self, profile: &TasteProfile) {
        let Some(h) = self.follow_hops(&profile.peer) else {
            return;
        };
        if h >= MAX_TRUST_HOPS {
            return;
        }
        for f in &profile.follows {
            if *f == self.own.peer || self.own.follows.binary_search(f).is_ok() {
                continue;
            }
            let full = self.trust_hops.len() >= MAX_TRUSTED;
            match self.trust_hops.get_mut(f) {
                Some(old) => *old = (*old).min(h + 1),
                None if !full => {
                    self.trust_hops.insert(*f, h + 1);
                }
                None => {}
            }
        }
    }

    /// How far the owner trusts a kept neighbour, in `(0, 1]` (see the module docs).
    pub fn trust(&self, n: &Neighbour) -> f32 {
        let history = n.rounds_kept.min(10) as f32 / 10.0;
        match self.follow_hops(&n.profile.peer) {
            Some(1) => 1.0,
            Some(2) => 0.8,
            Some(3) => 0.6,
            Some(_) => 0.5,
            // Without any follow the owner has no trust anchor: every peer is a stranger and
            // only history counts.
            None if self.own.follows.is_empty() => 0.3 + 0.2 * history,
            None => 0.05 + 0.05 * history,
        }
    }

    fn retention(&self, n: &Neighbour) -> f32 {
        // Trust decides influence, not membership: weighing history here would make
        // incumbents hard to replace and slow the search for the closest peers.
        if n.followed {
            2.0 + n.similarity
        } else {
            n.similarity
        }
    }

    /// Offers a (decoded, signature-checked) profile; keeps it if it is among the best.
    pub fn consider(&mut self, profile: TasteProfile) -> Admission {
        if let Err(e) = profile.validate() {
            return Admission::Rejected(e);
        }
        let peer = profile.peer;
        if peer == self.own.peer {
            return Admission::NotKept;
        }
        // Trust distances or the kept set may change below.
        self.influence_cache = OnceLock::new();
        self.note_follows(&profile);
        if self.config.stream_weight > 0.0 {
            // With defences, a peer without a known follow path counts at `stream_stranger`
            // (unless the owner follows nobody and so has no anchor).
            let weight = if !self.config.defences
                || self.own.follows.is_empty()
                || self.follow_hops(&peer).is_some()
            {
                1.0
            } else {
                self.config.stream_stranger
            };
            self.stream.add(&self.own, &profile, weight);
        }
        let similarity = profile_similarity(&self.own, &profile);
        if let Some(n) = self.neighbours.iter_mut().find(|n| n.profile.peer == peer) {
            if profile.version <= n.profile.version {
                return Admission::Stale;
            }
            n.profile = profile;
            n.similarity = similarity;
            return Admission::Updated;
        }
        let followed = self.own.follows.binary_search(&peer).is_ok();
        if similarity <= 0.0 && !followed {
            self.learn_peers([peer]);
            return Admission::NotKept;
        }
        let new = Neighbour {
            profile,
            similarity,
            followed,
            rounds_kept: 0,
        };
        let cap = self.config.max_profiles.min(MAX_NEIGHBOURS);
        if self.neighbours.len() < cap {
            self.neighbours.push(new);
            self.candidates.retain(|k| *k != peer);
            return Admission::Admitted;
        }
        let worst = self
            .neighbours
            .iter()
            .enumerate()
            .map(|(i, n)| (i, self.retention(n)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match worst {
            Some((i, r)) if self.retention(&new) > r => {
                let old = std::mem::replace(&mut self.neighbours[i], new).profile.peer;
                self.candidates.retain(|k| *k != peer);
                self.learn_peers([old]);
                Admission::Replaced(old)
            }
            _ => {
                self.learn_peers([peer]);
                Admission::NotKept
            }
        }
    }

    /// Remembers peer keys heard of (from hints or the transport) as future gossip partners.
    pub fn learn_peers(&mut self, peers: impl IntoIterator<Item = Key>) {
        for p in peers {
            if p == self.own.peer
                || self.candidates.contains(&p)
                || self.neighbours.iter().any(|n| n.profile.peer == p)
            {
                continue;
            }
            if self.candidates.len() >= self.config.max_candidates {
                self.candidates.pop_front();
            }
            self.candidates.push_back(p);
        }
    }

    /// Picks the next gossip partner (see the module docs); `None` if no peer is known. A
    /// random candidate is taken out of the candidate list (it comes back if not kept).
    pub fn choose_partner(&mut self, rng: &mut impl Rng) -> Option<Key> {
        let explore = self.neighbours.is_empty() || rng.r#gen::<f32>() < self.config.exploration;
        // Followed peers come first: their profiles anchor trust (and they are always kept).
        while explore && self.follows_tried < self.own.follows.len() {
            let f = self.own.follows[self.follows_tried];
            self.follows_tried += 1;
            if !self.neighbours.iter().any(|n| n.profile.peer == f) {
                return Some(f);
            }
        }
        if explore && !self.candidates.is_empty() {
            let i = rng.gen_range(0..self.candidates.len());
            return self.candidates.remove(i);
        }
        let weights: Vec<f32> = self
            .neighbours
            .iter()
            .map(|n| self.retention(n).max(1e-6))
            .collect();
        let total: f32 = weights.iter().sum();
        if total <= 0.0 {
            return None;
        }
        let mut x = rng.r#gen::<f32>() * total;
        for (n, w) in self.neighbours.iter().zip(&weights) {
            if x < *w {
                return Some(n.profile.peer);
            }
            x -= w;
        }
        self.neighbours.last().map(|n| n.profile.peer)
    }

    /// The peer keys to send with the owner's profile: up to [`HINT_BUDDIES`] best neighbours
    /// and [`HINT_RANDOM`] random candidates.
    pub fn gossip_hint(&self, rng: &mut impl Rng) -> Vec<Key> {
        let mut best: Vec<(f32, Key)> = self
            .neighbours
            .iter()
            .map(|n| (n.similarity, n.profile.peer))
            .collect();
        best.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut out: Vec<Key> = best.into_iter().take(HINT_BUDDIES).map(|x| x.1).collect();
        for _ in 0..HINT_RANDOM.min(self.candidates.len()) {
            let i = rng.gen_range(0..self.candidates.len());
            if let Some(&k) = self.candidates.get(i)
                && !out.contains(&k)
            {
                out.push(k);
            }
        }
        out
    }

    /// The profiles to send in a gossip message: the owner's own first, then the kept
    /// profiles most similar to it (its taste buddies), as many as fit in
    /// [`MAX_GOSSIP_BYTES`]. Forwarded profiles keep their owners' signatures (in
    /// `busker-core`), so a receiver can check each one.
    pub fn gossip_profiles(&self) -> Vec<&TasteProfile> {
        let mut out = vec![&self.own];
        let mut bytes = HINT_RESERVE + 2 + self.own.encoded_len();
        let mut order: Vec<&Neighbour> = self.neighbours.iter().collect();
        order.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        for n in order {
            let len = 2 + n.profile.encoded_len();
            if bytes + len > MAX_GOSSIP_BYTES {
                break;
            }
            bytes += len;
            out.push(&n.profile);
        }
        out
    }

    /// The weight of every kept neighbour in recommendations, after the defences. Computed
    /// once after each change of the neighbourhood (the clique check compares all pairs).
    pub fn influence(&self) -> Vec<f32> {
        self.influence_cache
            .get_or_init(|| self.compute_influence())
            .clone()
    }

    fn compute_influence(&self) -> Vec<f32> {
        let base: Vec<f32> = self
            .neighbours
            .iter()
            .map(|n| {
                // A followed peer counts at least as a mildly similar one.
                let sim = if n.followed {
                    n.similarity.max(FOLLOWED_MIN_SIMILARITY)
                } else {
                    n.similarity
                };
                let s = sim.max(0.0).powf(self.config.alpha);
                if self.config.defences {
                    s * self.trust(n).powf(self.config.trust_exponent)
                } else {
                    s
                }
            })
            .collect();
        if !self.config.defences {
            return base;
        }
        // Near-duplicate profiles share one weight: a group of Sybils that copy one profile
        // (or one attack template) counts about as much as one peer.
        let n = self.neighbours.len();
        let mut dups = vec![1.0f32; n];
        for a in 0..n {
            for b in a + 1..n {
                let s =
                    profile_similarity(&self.neighbours[a].profile, &self.neighbours[b].profile);
                if s > self.config.clique_threshold {
                    dups[a] += 1.0;
                    dups[b] += 1.0;
                }
            }
        }
        base.iter().zip(&dups).map(|(w, d)| w / d).collect()
    }

    /// Item scores from the kept profiles: `(score, supporters, followed supporters, trusted)`.
    pub fn item_scores(&self) -> HashMap<Key, (f32, u32, u32, bool)> {
        let influence = self.influence();
        let mut acc: HashMap<Key, (f32, u32, u32, bool)> = HashMap::new();
        for (n, &a) in self.neighbours.iter().zip(&influence) {
            if a <= 0.0 {
                continue;
            }
            let norm = n
                .profile
                .items
                .iter()
                .map(|(_, w)| w * w)
                .sum::<f32>()
                .sqrt();
            if norm <= 0.0 {
                continue;
            }
            let trusted = n.followed || self.trust(n) >= 0.5;
            for (item, w) in &n.profile.items {
                let mut c = w / norm;
                if self.config.defences {
                    c = c.min(self.config.item_cap);
                }
                let e = acc.entry(*item).or_insert((0.0, 0, 0, false));
                e.0 += a * c;
                e.1 += 1;
                e.2 += u32::from(n.followed);
                e.3 |= trusted;
            }
        }
        acc
    }

    /// The top `k` items the owner does not know (`known` is true for the owner's own items,
    /// which are always excluded too), each with a reason; the last `round(promotion_share * k)`
    /// slots go to `new_releases` (best first) that the owner does not know.
    pub fn recommend(
        &self,
        k: usize,
        known: impl Fn(&Key) -> bool,
        new_releases: &[Key],
        promotion_share: f32,
    ) -> Vec<Recommendation> {
        let mut scores = self.item_scores();
        if self.config.stream_weight > 0.0 {
            let beta = self.config.stream_beta;
            let kb = self.config.knn_beta;
            let mut stream: Vec<f32> = Vec::with_capacity(scores.len());
            for (k, v) in scores.iter_mut() {
                stream.push(self.stream.score(k, beta));
                if kb > 0.0 {
                    v.0 /= (self.stream.count(k) + 1.0).powf(kb);
                }
            }
            let knn_max = scores.values().map(|v| v.0).fold(0.0f32, f32::max);
            let stream_max = stream.iter().copied().fold(0.0f32, f32::max);
            if knn_max > 0.0 && stream_max > 0.0 {
                let w = self.config.stream_weight / stream_max;
                // `values_mut` visits the unchanged map in the same order as `iter_mut` above.
                for (v, st) in scores.values_mut().zip(&stream) {
                    v.0 = v.0 / knn_max + w * st;
                }
            }
        }
        let mut ranked: Vec<Recommendation> = scores
            .iter()
            .filter(|(item, _)| !known(item) && self.own.weight(item) == 0.0)
            .filter(|(_, (_, support, _, trusted))| {
                !self.config.defences || *trusted || *support as usize >= self.config.min_support
            })
            .map(
                |(item, &(score, support, followed, trusted))| Recommendation {
                    item: *item,
                    score: if self.config.defences && !trusted {
                        score * self.config.untrusted_factor
                    } else {
                        score
                    },
                    reason: if followed > 0 {
                        Reason::Followed { peers: followed }
                    } else {
                        Reason::Neighbours { peers: support }
                    },
                },
            )
            .collect();
        let cmp = |a: &Recommendation, b: &Recommendation| {
            b.score.total_cmp(&a.score).then(a.item.cmp(&b.item))
        };
        if ranked.len() > k && k > 0 {
            ranked.select_nth_unstable_by(k - 1, cmp);
            ranked.truncate(k);
        }
        ranked.sort_by(cmp);
        ranked.truncate(k);
        if promotion_share <= 0.0 || new_releases.is_empty() {
            return ranked;
        }
        let mut fresh: Vec<Recommendation> = new_releases
            .iter()
            .filter(|item| !known(item) && self.own.weight(item) == 0.0)
            .map(|item| Recommendation {
                item: *item,
                score: scores.get(item).map_or(0.0, |s| s.0),
                reason: Reason::NewRelease,
            })
            .collect();
        fresh.sort_by(|a, b| b.score.total_cmp(&a.score));
        promote(ranked, &fresh, k, promotion_share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn k(x: u64) -> Key {
        Key::from_u64(x)
    }

    fn profile(peer: u64, items: &[u64], follows: &[u64]) -> TasteProfile {
        TasteProfile::new(
            k(peer),
            1,
            items.iter().map(|&i| (k(i), 1.0)),
            follows.iter().map(|&f| k(f)),
        )
    }

    #[test]
    fn stream_reweights_only_supported_items() {
        // Two kept neighbours support items 3 and 4 equally (3 wins the tie by key). Three more
        // profiles, too dissimilar to be kept, share item 1 with the owner and list 4 and 7:
        // their walk mass lifts 4 above 3, but 7, which no kept neighbour has, stays out.
        let run = |stream_weight: f32| {
            let config = NeighbourhoodConfig {
                max_profiles: 2,
                stream_weight,
                // Only the walk: no popularity penalties.
                knn_beta: 0.0,
                stream_beta: 0.0,
                ..Default::default()
            };
            let mut h = Neighbourhood::new(profile(0, &[1, 2], &[]), config).unwrap();
            h.consider(profile(1, &[1, 2, 3, 4], &[]));
            h.consider(profile(2, &[1, 2, 3, 4], &[]));
            for p in 3..6 {
                assert_eq!(
                    h.consider(profile(p, &[1, 4, 7, 8, 9], &[])),
                    Admission::NotKept
                );
            }
            assert_eq!(h.neighbours().len(), 2);
            let recs: Vec<u64> = h
                .recommend(10, |_| false, &[], 0.0)
                .iter()
                .map(|r| r.item.low_u64())
                .collect();
            (recs, h.stream().peers())
        };
        assert_eq!(run(0.0), (vec![3, 4], 0));
        assert_eq!(run(2.0), (vec![4, 3], 5));
    }

    #[test]
    fn keeps_at_most_the_cap_and_evicts_the_least_similar() {
        let me = profile(0, &[1, 2, 3, 4], &[]);
        let config = NeighbourhoodConfig {
            max_profiles: 2,
            ..Default::default()
        };
        let mut h = Neighbourhood::new(me, config).unwrap();
        assert_eq!(h.consider(profile(1, &[1, 9], &[])), Admission::Admitted);
        assert_eq!(h.consider(profile(2, &[1, 2, 9], &[])), Admission::Admitted);
        assert_eq!(
            h.consider(profile(3, &[1, 2, 3, 8], &[])),
            Admission::Replaced(k(1))
        );
        assert_eq!(h.consider(profile(4, &[50], &[])), Admission::NotKept);
        assert_eq!(h.consider(profile(3, &[1, 2, 3, 8], &[])), Admission::Stale);
        assert_eq!(h.neighbours().len(), 2);
        assert!(h.candidate_count() >= 2);
        let mut bad = profile(5, &[1], &[]);
        bad.items[0].1 = f32::NAN;
        assert!(matches!(h.consider(bad), Admission::Rejected(_)));
        let too_many = NeighbourhoodConfig {
            max_profiles: 51,
            ..Default::default()
        };
        assert!(Neighbourhood::new(profile(0, &[1], &[]), too_many).is_err());
    }

    #[test]
    fn followed_peers_are_kept_trusted_and_named() {
        let me = profile(0, &[1, 2], &[7]);
        let config = NeighbourhoodConfig {
            max_profiles: 1,
            ..Default::default()
        };
        let mut h = Neighbourhood::new(me, config).unwrap();
        assert_eq!(h.consider(profile(7, &[5], &[])), Admission::Admitted);
        assert_eq!(h.consider(profile(8, &[1, 2, 6], &[])), Admission::NotKept);
        let recs = h.recommend(5, |_| false, &[], 0.0);
        assert_eq!(recs[0].item, k(5));
        assert_eq!(recs[0].reason, Reason::Followed { peers: 1 });
    }

    #[test]
    fn partners_mix_neighbours_and_exploration() {
        let mut h =
            Neighbourhood::new(profile(0, &[1], &[]), NeighbourhoodConfig::default()).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert_eq!(h.choose_partner(&mut rng), None);
        h.learn_peers((10..20).map(k));
        h.consider(profile(1, &[1], &[]));
        let picks: Vec<Key> = (0..100)
            .filter_map(|_| h.choose_partner(&mut rng))
            .collect();
        let explored = picks.iter().filter(|p| **p != k(1)).count();
        assert!((1..=10).contains(&explored), "{explored}");
        assert!(h.gossip_hint(&mut rng).contains(&k(1)));
    }

    #[test]
    fn shilling_clique_is_damped_and_needs_support() {
        // Me: items 1..=4, following peer 1, who follows peer 2; both have item 100.
        // Three Sybils (whom nobody follows) copy my taste and push item 666.
        let me = profile(0, &[1, 2, 3, 4], &[1]);
        let sybil = |p: u64| profile(p, &[1, 2, 3, 666], &[]);
        for defences in [false, true] {
            let config = NeighbourhoodConfig {
                defences,
                ..Default::default()
            };
            let mut h = Neighbourhood::new(me.clone(), config).unwrap();
            h.consider(profile(1, &[1, 2, 100], &[2]));
            h.consider(profile(2, &[3, 4, 100], &[]));
            for p in 50..53 {
                h.consider(sybil(p));
            }
            assert_eq!(h.follow_hops(&k(2)), Some(2));
            assert_eq!(h.follow_hops(&k(50)), None);
            let top = h.recommend(1, |_| false, &[], 0.0);
            let want = if defences { k(100) } else { k(666) };
            assert_eq!(top[0].item, want, "defences {defences}");
        }
    }

    #[test]
    fn promotion_share_brings_new_releases() {
        let mut h =
            Neighbourhood::new(profile(0, &[1], &[]), NeighbourhoodConfig::default()).unwrap();
        h.consider(profile(1, &[1, 2, 3], &[]));
        h.consider(profile(2, &[1, 2, 3], &[]));
        let recs = h.recommend(2, |_| false, &[k(99)], 0.5);
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].item, k(99));
        assert_eq!(recs[1].reason, Reason::NewRelease);
    }
}
