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
//!   [`ProfileDigest`](crate::ProfileDigest)s of the other kept profiles
//!   ([`Neighbourhood::gossip_digests`]), four times smaller: they cannot be kept, only feed
//!   the receiver's streamed statistics ([`Neighbourhood::consider_digest`]).
//! - **Budget.** A message is at most [`MAX_GOSSIP_BYTES`] as the live network frames it
//!   ([`message_len`]: each profile with its length and two signatures, its own and its
//!   digest's, each digest with its length and signature), so the simulation counts the bytes
//!   the live network sends.
//! - **Streamed statistics and local EASE.** Every distinct peer's profile or digest is counted
//!   once in a [`WalkStream`] (popularity and random-walk mass) and a [`CoStream`]
//!   (co-occurrence sums over the owner's items and a few hundred candidates), then dropped.
//!   [`Neighbourhood::recommend`] blends the kept neighbours' scores, the walk and an EASE model
//!   fitted on the co-occurrence sums (once a round, [`Neighbourhood::ease_scores`]).
//! - **Similarity.** A profile's cosine with the owner's, the owner's weights scaled by each
//!   item's rarity among the peers counted so far ([`NeighbourhoodConfig::rarity`]): sharing a
//!   rare item says more about taste than sharing one that most peers list.
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

mod admission;
mod config;
mod message;
mod scoring;
mod trust;

pub use config::{MAX_NEIGHBOURS, NeighbourhoodConfig};
pub use message::{
    DIGEST_FRAMING, HINT_BUDDIES, HINT_RANDOM, MAX_ANSWERS_PER_ROUND, MAX_GOSSIP_BYTES,
    MESSAGE_FRAMING, PROFILE_FRAMING, SIGNATURE_BYTES, message_len,
};
pub use scoring::FOLLOWED_MIN_SIMILARITY;
pub use trust::{MAX_TRUST_HOPS, MAX_TRUSTED};

use std::collections::{HashMap, VecDeque};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::co_stream::CoStream;
use crate::digest::item_fingerprint;
use crate::error::{Error, Result};
use crate::profile::{Key, TasteProfile};
use crate::stream::WalkStream;

/// A kept profile and what the owner knows about its peer.
#[derive(Debug, Clone)]
pub struct Neighbour {
    /// The peer's latest valid profile.
    pub profile: TasteProfile,
    /// Cosine similarity to the owner's profile, the owner's items weighted by rarity
    /// ([`NeighbourhoodConfig::rarity`]).
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
    /// The owner's profile with each weight scaled by the item's rarity among the peers
    /// counted so far (refreshed every round; see [`NeighbourhoodConfig::rarity`]): what a
    /// neighbour's similarity is measured against.
    own_rare: TasteProfile,
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
            own_rare: own.clone(),
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
            n.followed = self.own.follows.binary_search(&n.profile.peer).is_ok();
        }
        self.refresh_rarity();
        Ok(())
    }

    /// Re-weights the owner's items by their rarity among the peers counted in the stream,
    /// `(1 + ln((peers + 1) / (count + 1)))^rarity` (1 for every item before any peer is
    /// counted), and re-measures every kept neighbour against it. Sharing an item that most
    /// peers list says little about taste; sharing a rare one says much. It also weighs down
    /// shilling profiles padded with popular items, though without follows it does not stop
    /// them (see `BENCHMARKS.md`, "Session 15").
    fn refresh_rarity(&mut self) {
        let mut rare = self.own.clone();
        let r = self.config.rarity;
        if r > 0.0 {
            let peers = self.stream.peers() as f32;
            for (k, w) in &mut rare.items {
                let idf = 1.0 + ((peers + 1.0) / (self.stream.count(k) + 1.0)).ln().max(0.0);
                *w *= idf.powf(r);
            }
        }
        self.own_rare = rare;
        for n in &mut self.neighbours {
            n.similarity = profile_similarity(&self.own_rare, &n.profile);
        }
    }

    /// A profile's similarity to the owner's: cosine against the rarity-weighted own profile.
    pub(super) fn taste_similarity(&self, profile: &TasteProfile) -> f32 {
        profile_similarity(&self.own_rare, profile)
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
        if self.config.rarity > 0.0 {
            self.refresh_rarity();
        }
    }
}

#[cfg(test)]
mod test_profiles {
    //! Small profiles for the unit tests of the exchange rules.

    use crate::profile::{Key, TasteProfile};

    pub(super) fn k(x: u64) -> Key {
        Key::from_u64(x)
    }

    pub(super) fn profile(peer: u64, items: &[u64], follows: &[u64]) -> TasteProfile {
        TasteProfile::new(
            k(peer),
            1,
            items.iter().map(|&i| (k(i), 1.0)),
            follows.iter().map(|&f| k(f)),
        )
    }
}
