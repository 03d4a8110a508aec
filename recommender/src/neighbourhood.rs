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
//! - **Digests.** With [`NeighbourhoodConfig::digests`], a message forwards only the
//!   `forward_top` closest kept profiles in full and fills the rest of its budget with
//!   [`ProfileDigest`]s of the other kept profiles ([`Neighbourhood::gossip_digests`]), four
//!   times smaller: they cannot be kept, only feed the receiver's streamed statistics
//!   ([`Neighbourhood::consider_digest`]).
//! - **Budget.** A message is at most [`MAX_GOSSIP_BYTES`] as the live network frames it
//!   ([`message_len`]: each profile with its length and two signatures, its own and its
//!   digest's, each digest with its length and signature), so the simulation counts the bytes
//!   the live network sends.
//! - **Streamed statistics and local EASE.** Every distinct peer's profile or digest is counted
//!   once in a [`WalkStream`] (popularity and random-walk mass) and a [`CoStream`]
//!   (co-occurrence sums over the owner's items and a few hundred candidates), then dropped.
//!   [`Neighbourhood::recommend`] blends the kept neighbours' scores, the walk and an EASE model
//!   fitted on the co-occurrence sums (once a round, [`Neighbourhood::ease_scores`]).
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
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;

use crate::co_stream::CoStream;
use crate::digest::{ProfileDigest, item_fingerprint};
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
/// Most bytes in one gossip message as the live network encodes it ([`message_len`]): profiles
/// (the sender's own plus forwarded buddies') and digests with their framing, and the hint of
/// peer keys.
pub const MAX_GOSSIP_BYTES: usize = 25_000;
/// Bytes of an ed25519 signature: the live network signs every profile and every digest.
pub const SIGNATURE_BYTES: usize = 64;
/// Framing of a message on the live wire: magic (3), version (1), and the counts (2 each) of
/// profiles, digests and hinted keys.
pub const MESSAGE_FRAMING: usize = 3 + 1 + 2 + 2 + 2;
/// Framing of one profile in a message: its length (4), its signature and its digest's
/// signature (so that a keeper can forward the owner-signed digest).
pub const PROFILE_FRAMING: usize = 4 + 2 * SIGNATURE_BYTES;
/// Framing of one digest in a message: its length (4) and its signature.
pub const DIGEST_FRAMING: usize = 4 + SIGNATURE_BYTES;
/// Bytes of a gossip message kept for the framing and the hint (up to 15 keys).
const HINT_RESERVE: usize = MESSAGE_FRAMING + 32 * (HINT_BUDDIES + HINT_RANDOM);
/// Most gossip requests a peer answers in one round. With one request of its own, a peer sends
/// at most `(1 + MAX_ANSWERS_PER_ROUND) * MAX_GOSSIP_BYTES`, 100 KB, per round.
pub const MAX_ANSWERS_PER_ROUND: usize = 3;

/// Bytes of a gossip message on the live wire with `profiles` profiles of `profile_bytes`
/// encoded bytes in all, `digests` digests of `digest_bytes` in all and `hint` hinted keys
/// (what [`Neighbourhood::gossip_profiles`] and [`Neighbourhood::gossip_digests`] keep within
/// [`MAX_GOSSIP_BYTES`]).
pub fn message_len(
    profiles: usize,
    profile_bytes: usize,
    digests: usize,
    digest_bytes: usize,
    hint: usize,
) -> usize {
    MESSAGE_FRAMING
        + profiles * PROFILE_FRAMING
        + profile_bytes
        + digests * DIGEST_FRAMING
        + digest_bytes
        + 32 * hint
}

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
    /// Weight of the local EASE model fitted on streamed co-occurrence ([`CoStream`]) beside
    /// the other scores (max-normalised); 0 turns it off (and stops collecting the sums).
    pub ease_weight: f32,
    /// Candidate items the co-occurrence stream tracks besides the owner's own (at most
    /// [`crate::MAX_CO_CANDIDATES`]), chosen by their streamed random-walk score.
    pub ease_candidates: usize,
    /// EASE's L2 strength per counted profile.
    pub ease_lambda: f32,
    /// Popularity penalty exponent on EASE's scores, with popularity counted by the stream.
    pub ease_beta: f32,
    /// With defences: whether an item only EASE scores (no kept neighbour lists it) may be
    /// recommended (at the untrusted factor). Without defences it always may.
    pub ease_new_items: bool,
    /// How many of the closest kept profiles every gossip message forwards first; the rest of
    /// the message's budget rotates through the other kept profiles.
    pub forward_top: usize,
    /// Whether messages carry digests of the kept profiles not forwarded in full
    /// ([`Neighbourhood::gossip_digests`]).
    pub digests: bool,
}

impl Default for NeighbourhoodConfig {
    /// Values chosen on the validation split of Last.fm seed 1 (see `BENCHMARKS.md ("Recommender")`).
    fn default() -> Self {
        NeighbourhoodConfig {
            max_profiles: MAX_NEIGHBOURS,
            max_candidates: 256,
            exploration: 0.7,
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
            stream_stranger: 1.0,
            ease_weight: 3.0,
            ease_candidates: 200,
            ease_lambda: 6.0,
            ease_beta: 0.2,
            ease_new_items: true,
            forward_top: 3,
            digests: true,
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
    /// The clique check's near-duplicate count per kept profile (changes only with the kept
    /// profiles, not with the rounds).
    dups_cache: OnceLock<Vec<f32>>,
    stream: WalkStream,
    co: CoStream,
    /// EASE's candidate scores, fitted at most once per round.
    ease_cache: OnceLock<Vec<(Key, f32)>>,
    /// Where the next message's rotating forwarded profiles start.
    forward_next: Rotation,
    /// Fingerprints of the owner's items, sorted (for the streamed walk).
    own_fps: Vec<u64>,
}

/// A counter that clones by value (an atomic so that `gossip_profiles` can take `&self`).
#[derive(Debug, Default)]
struct Rotation(AtomicUsize);

impl Clone for Rotation {
    fn clone(&self) -> Self {
        Rotation(AtomicUsize::new(self.0.load(Ordering::Relaxed)))
    }
}

/// The sorted fingerprints of a profile's items.
fn fingerprints(p: &TasteProfile) -> Vec<u64> {
    let mut f: Vec<u64> = p.items.iter().map(|(k, _)| item_fingerprint(k)).collect();
    f.sort_unstable();
    f
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
        let co = if config.ease_weight > 0.0 {
            CoStream::new(&own, config.ease_candidates)
        } else {
            CoStream::default()
        };
        Ok(Neighbourhood {
            co,
            ease_cache: OnceLock::new(),
            forward_next: Rotation::default(),
            own_fps: fingerprints(&own),
            own,
            config,
            neighbours: Vec::new(),
            candidates: VecDeque::new(),
            trust_hops: HashMap::new(),
            follows_tried: 0,
            influence_cache: OnceLock::new(),
            dups_cache: OnceLock::new(),
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
        self.ease_cache = OnceLock::new();
        if self.config.ease_weight > 0.0 {
            self.co.set_own(&own);
        }
        self.own_fps = fingerprints(&own);
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

    /// The co-occurrence sums streamed from the profiles that passed by (empty when EASE is
    /// off).
    pub fn co_stream(&self) -> &CoStream {
        &self.co
    }

    /// Number of candidate peer keys remembered.
    pub fn candidate_count(&self) -> usize {
        self.candidates.len()
    }

    /// Marks the end of a gossip round: every kept peer gains one round of history.
    pub fn tick(&mut self) {
        self.influence_cache = OnceLock::new();
        self.ease_cache = OnceLock::new();
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
            if !self.stream.has_seen(&peer) {
                let items: Vec<(u64, f32)> = profile
                    .items
                    .iter()
                    .map(|(k, w)| (item_fingerprint(k), *w))
                    .collect();
                self.stream_in(&peer, &items);
            }
            if self.config.ease_weight > 0.0 {
                self.co.learn_keys(&profile);
            }
        }
        let similarity = profile_similarity(&self.own, &profile);
        if let Some(n) = self.neighbours.iter_mut().find(|n| n.profile.peer == peer) {
            if profile.version <= n.profile.version {
                return Admission::Stale;
            }
            self.dups_cache = OnceLock::new();
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
            self.dups_cache = OnceLock::new();
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
                self.dups_cache = OnceLock::new();
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

    /// Adds a distinct peer's items to the streamed statistics. With defences, a peer without
    /// a known follow path counts at `stream_stranger` (unless the owner follows nobody and so
    /// has no anchor).
    fn stream_in(&mut self, peer: &Key, items: &[(u64, f32)]) {
        let weight = if !self.config.defences
            || self.own.follows.is_empty()
            || self.follow_hops(peer).is_some()
        {
            1.0
        } else {
            self.config.stream_stranger
        };
        if self.stream.add_items(&self.own_fps, peer, items, weight)
            && self.config.ease_weight > 0.0
        {
            let (stream, beta) = (&self.stream, self.config.stream_beta);
            self.co
                .add_items(items, weight, |f| stream.score_fp(f, beta));
        }
    }

    /// Offers a (decoded, signature-checked) digest of another peer's profile: it only feeds
    /// the streamed statistics (once per peer), and is never kept. Returns whether it was new
    /// and counted.
    pub fn consider_digest(&mut self, digest: &ProfileDigest) -> bool {
        if digest.peer == self.own.peer
            || self.config.stream_weight <= 0.0
            || self.stream.has_seen(&digest.peer)
        {
            return false;
        }
        let items: Vec<(u64, f32)> = digest.weighted_items().collect();
        self.stream_in(&digest.peer, &items);
        self.stream.has_seen(&digest.peer)
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
        let mut bytes = HINT_RESERVE + PROFILE_FRAMING + self.own.encoded_len();
        let mut order: Vec<&Neighbour> = self.neighbours.iter().collect();
        order.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        // The closest `forward_top` first; the rest of the budget goes round the other kept
        // profiles, starting where the last message stopped, so that successive messages
        // carry different profiles (more distinct profiles reach the receivers' streams).
        let top = self.config.forward_top.min(order.len());
        // With digests the other kept profiles travel as digests instead.
        let rest = if self.config.digests {
            0
        } else {
            order.len() - top
        };
        let start = if rest > 0 {
            self.forward_next.0.load(Ordering::Relaxed) % rest
        } else {
            0
        };
        let rotated = order[..top]
            .iter()
            .chain(order[top + start..top + rest].iter())
            .chain(order[top..top + start].iter());
        let mut sent_rest = 0;
        for (i, n) in rotated.enumerate() {
            let len = PROFILE_FRAMING + n.profile.encoded_len();
            if bytes + len > MAX_GOSSIP_BYTES {
                break;
            }
            bytes += len;
            out.push(&n.profile);
            if i >= top {
                sent_rest += 1;
            }
        }
        self.forward_next.0.fetch_add(sent_rest, Ordering::Relaxed);
        out
    }

    /// The kept profiles to send as digests ([`ProfileDigest`]) in a message whose full
    /// profiles are `full` (from [`Neighbourhood::gossip_profiles`]): the other kept profiles,
    /// closest first, as many as the rest of [`MAX_GOSSIP_BYTES`] holds (each digest with its
    /// framing, [`DIGEST_FRAMING`]). Empty unless [`NeighbourhoodConfig::digests`] is on. Forwarded digests
    /// carry their owners' signatures (in the live network), like forwarded profiles.
    pub fn gossip_digests(&self, full: &[&TasteProfile]) -> Vec<&TasteProfile> {
        if !self.config.digests {
            return Vec::new();
        }
        let mut bytes = HINT_RESERVE
            + full
                .iter()
                .map(|p| PROFILE_FRAMING + p.encoded_len())
                .sum::<usize>();
        let mut order: Vec<&Neighbour> = self
            .neighbours
            .iter()
            .filter(|n| !full.iter().any(|p| p.peer == n.profile.peer))
            .collect();
        order.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        let mut out = Vec::new();
        for n in order {
            let len = DIGEST_FRAMING + ProfileDigest::len_of(&n.profile);
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
        let dups = self.dups_cache.get_or_init(|| self.near_duplicates());
        base.iter().zip(dups).map(|(w, d)| w / d).collect()
    }

    /// For each kept profile, 1 + the number of other kept profiles whose cosine with it is
    /// above [`NeighbourhoodConfig::clique_threshold`] (all pairs compared).
    fn near_duplicates(&self) -> Vec<f32> {
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
        dups
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

    /// EASE's candidate scores from the streamed co-occurrence, fitted at most once a round
    /// (the fit factors a matrix of the tracked items; see [`CoStream::fit`]).
    pub fn ease_scores(&self) -> &[(Key, f32)] {
        self.ease_cache
            .get_or_init(|| self.co.fit(self.config.ease_lambda))
    }

    /// Adds `ease_weight` times EASE's max-normalised, popularity-penalised scores to `scores`.
    fn blend_ease(&self, scores: &mut HashMap<Key, (f32, u32, u32, bool)>) {
        let beta = self.config.ease_beta;
        let ease: Vec<(Key, f32)> = self
            .ease_scores()
            .iter()
            .map(|&(k, s)| (k, s / (self.stream.count(&k) + 1.0).powf(beta)))
            .filter(|(_, s)| *s > 0.0)
            .collect();
        let max = ease.iter().map(|x| x.1).fold(0.0f32, f32::max);
        if max <= 0.0 {
            return;
        }
        let w = self.config.ease_weight / max;
        for (k, s) in ease {
            scores.entry(k).or_insert((0.0, 0, 0, false)).0 += w * s;
        }
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
        if self.config.ease_weight > 0.0 {
            self.blend_ease(&mut scores);
        }
        let ease_new = !self.config.defences || self.config.ease_new_items;
        let mut ranked: Vec<Recommendation> = scores
            .iter()
            .filter(|(item, _)| !known(item) && self.own.weight(item) == 0.0)
            .filter(|(_, (_, support, _, trusted))| {
                !self.config.defences
                    || *trusted
                    || *support as usize >= self.config.min_support
                    || (ease_new && *support == 0)
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
                // Only the walk: no popularity penalties, no EASE.
                knn_beta: 0.0,
                stream_beta: 0.0,
                ease_weight: 0.0,
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
    fn digests_fill_the_rest_of_a_message_and_feed_only_the_stream() {
        let config = NeighbourhoodConfig {
            forward_top: 1,
            digests: true,
            ..Default::default()
        };
        let mut h = Neighbourhood::new(profile(0, &[1, 2, 3], &[]), config).unwrap();
        // Neighbours 1..=4, closest first: 4 shares 3 items, 3 shares 2 (of 3), ...
        h.consider(profile(1, &[1, 7, 8, 9], &[]));
        h.consider(profile(2, &[1, 2, 7, 8], &[]));
        h.consider(profile(3, &[1, 2, 7], &[]));
        h.consider(profile(4, &[1, 2, 3, 7], &[]));
        let full = h.gossip_profiles();
        let peers: Vec<u64> = full.iter().map(|p| p.peer.low_u64()).collect();
        assert_eq!(peers, vec![0, 4]);
        let digests: Vec<u64> = h
            .gossip_digests(&full)
            .iter()
            .map(|p| p.peer.low_u64())
            .collect();
        assert_eq!(digests, vec![3, 2, 1]);
        // A digest is counted once in the stream, never kept, and the owner's is ignored.
        let d = ProfileDigest::of(&profile(9, &[1, 5], &[]));
        assert!(h.consider_digest(&d));
        assert!(!h.consider_digest(&d));
        assert!(!h.consider_digest(&ProfileDigest::of(h.own())));
        assert_eq!(h.stream().peers(), 5);
        assert_eq!(h.stream().count(&k(5)), 1.0);
        assert_eq!(h.neighbours().len(), 4);
        // Without digests, the whole budget goes to full profiles.
        let mut plain = h.clone();
        plain.config.digests = false;
        assert_eq!(plain.gossip_profiles().len(), 5);
        assert!(plain.gossip_digests(&plain.gossip_profiles()).is_empty());
    }

    #[test]
    fn forwarded_profiles_rotate_after_the_closest() {
        // Ten neighbours of 100 items each (3,650 bytes encoded, 3,782 framed): a 25,000-byte
        // message holds the owner's profile and 6 of them, the closest first, then 5 that
        // rotate.
        let config = NeighbourhoodConfig {
            forward_top: 1,
            digests: false,
            ..Default::default()
        };
        let mut h = Neighbourhood::new(profile(0, &[1, 2], &[]), config).unwrap();
        for p in 1..=10u64 {
            // Neighbour p shares item 1, and item 2 too for p = 10 (the closest).
            let shared: &[u64] = if p == 10 { &[1, 2] } else { &[1] };
            let items: Vec<u64> = shared
                .iter()
                .copied()
                .chain((0..100 - shared.len() as u64).map(|i| 1000 * p + i))
                .collect();
            h.consider(profile(p, &items, &[]));
        }
        let peers = |h: &Neighbourhood| -> Vec<u64> {
            h.gossip_profiles()
                .iter()
                .map(|p| p.peer.low_u64())
                .collect()
        };
        let first = peers(&h);
        let second = peers(&h);
        assert_eq!(first.len(), 7);
        assert_eq!(&first[..2], &[0, 10]);
        assert_eq!(&second[..2], &[0, 10]);
        // The second message carries the 4 neighbours the first left out, then wraps round.
        let left_out: Vec<u64> = (1..10).filter(|p| !first.contains(p)).collect();
        assert_eq!(left_out.len(), 4);
        assert!(left_out.iter().all(|p| second.contains(p)));
    }

    #[test]
    fn ease_on_streamed_co_occurrence_reranks_supported_items() {
        // Two kept neighbours support items 3 and 4, item 4 less (weight 0.3 in one). Digests of eight more peers
        // list 4 with the owner's items 1 and 2 (and 3 only with 1): EASE learns that 4 goes
        // with both of the owner's items and lifts it above 3. The walk is off (its tiny
        // weight only keeps the stream, which EASE is fed from, running).
        let run = |ease_weight: f32| {
            let config = NeighbourhoodConfig {
                max_profiles: 2,
                stream_weight: 1e-6,
                knn_beta: 0.0,
                ease_beta: 0.0,
                ease_weight,
                ease_lambda: 0.1,
                ..Default::default()
            };
            let mut h = Neighbourhood::new(profile(0, &[1, 2], &[]), config).unwrap();
            h.consider(profile(1, &[1, 2, 3, 4], &[]));
            h.consider(TasteProfile::new(
                k(2),
                1,
                [(k(1), 1.0), (k(2), 1.0), (k(3), 1.0), (k(4), 0.3)],
                [],
            ));
            for p in 3..7 {
                h.consider_digest(&ProfileDigest::of(&profile(p, &[1, 2, 4], &[])));
                h.consider_digest(&ProfileDigest::of(&profile(p + 10, &[1, 3], &[])));
            }
            let recs: Vec<u64> = h
                .recommend(10, |_| false, &[], 0.0)
                .iter()
                .map(|r| r.item.low_u64())
                .collect();
            (recs, h.co_stream().tracked())
        };
        assert_eq!(run(0.0), (vec![3, 4], 0));
        assert_eq!(run(4.0), (vec![4, 3], 4));
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
        // The neighbours' scores alone: EASE would rank item 6 first from the stranger's
        // co-occurrence with both of the owner's items.
        let config = NeighbourhoodConfig {
            max_profiles: 1,
            ease_weight: 0.0,
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
