//! The tunable parameters of the exchange rules ([`NeighbourhoodConfig`], with the values
//! chosen on validation as its default) and the hard cap on kept profiles that no
//! configuration can lift.

/// Hard cap on kept raw profiles, whatever the configuration says.
pub const MAX_NEIGHBOURS: usize = 50;

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
    /// Weight of the streamed random-walk score ([`WalkStream`](crate::WalkStream)) beside the
    /// neighbours' score, both max-normalised; 0 turns the stream off. The stream only
    /// re-weights items that kept neighbours support, so it cannot bring in an item by itself.
    pub stream_weight: f32,
    /// Popularity penalty exponent of the streamed score.
    pub stream_beta: f32,
    /// Popularity penalty exponent on the neighbours' score, with popularity counted by the
    /// stream (only when the stream is on).
    pub knn_beta: f32,
    /// With defences: the weight in the stream of a peer without a known follow path (at most
    /// [`MAX_TRUST_HOPS`](super::MAX_TRUST_HOPS) hops); 0 counts only trusted peers. Ignored
    /// when the owner follows nobody.
    pub stream_stranger: f32,
    /// Weight of the local EASE model fitted on streamed co-occurrence
    /// ([`CoStream`](crate::CoStream)) beside the other scores (max-normalised); 0 turns it off
    /// (and stops collecting the sums).
    pub ease_weight: f32,
    /// Candidate items the co-occurrence stream tracks besides the owner's own (at most
    /// [`crate::MAX_CO_CANDIDATES`]), chosen by their streamed random-walk score.
    pub ease_candidates: usize,
    /// EASE's L2 strength per counted profile and unit of mean squared item weight
    /// ([`CoStream::mean_square`](crate::CoStream::mean_square)): each peer scales it by the
    /// weights it has seen, so a data set of small weights (ratings) gets a weaker L2 than one
    /// of large weights (play counts), as its co-occurrence sums are smaller.
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
    /// ([`Neighbourhood::gossip_digests`](super::Neighbourhood::gossip_digests)).
    pub digests: bool,
    /// Exponent of an item's rarity weight in the owner's profile when a neighbour's similarity
    /// is measured: `(1 + ln((peers + 1) / (count + 1)))^rarity`, with `peers` the peers counted
    /// in the stream and `count` those listing the item; 0 is plain cosine. Each peer computes
    /// the weights from the peers it has counted, so the rule adapts to the catalogue's
    /// popularity curve instead of carrying a constant fitted on one data set.
    pub rarity: f32,
    /// How many forwarded full profiles of one message a receiver may keep (the rest only feed
    /// its streams, as digests would): an honest sender forwards `forward_top` in full, a
    /// Sybil can fill a message with its clique. Applied by the simulation's delivery
    /// ([`GossipSim`](crate::GossipSim)); `usize::MAX` (the default) is no limit. An experiment
    /// (`BENCHMARKS.md`, "Session 15"), not yet applied by the live network.
    pub admit_forwarded: usize,
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
            // 6 per counted profile on Last.fm (chosen on validation), whose mean squared
            // weight is 32.3: 6 / 32.3.
            ease_lambda: 0.185,
            ease_beta: 0.2,
            ease_new_items: true,
            forward_top: 3,
            digests: true,
            // Chosen on the validation splits of Last.fm and InstEval, seed 1 (BENCHMARKS.md,
            // "Session 15").
            rarity: 3.0,
            admit_forwarded: usize::MAX,
        }
    }
}
