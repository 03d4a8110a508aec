//! Collaborative filtering for Busker: pure, synchronous, no I/O.
//!
//! The crate has two halves.
//!
//! **Models** turn listening histories into ranked items. Feedback (plays, skips, stars)
//! becomes weights ([`Feedback`], [`implicit_weight`]: `ln(1 + plays)`); models implement
//! [`Scorer`]: [`Popularity`], [`ItemKnn`] (cosine, or RP3beta with [`ItemKnn::fit_rp3`]),
//! [`UserKnn`], [`Ease`] (closed-form linear model, inverted with [`invert_spd`], options in
//! [`EaseConfig`]), the friend signal [`Friends`] (and [`FriendInput`], which feeds friends'
//! rows into a model's input), [`PopularityPenalty`] and a [`Blend`] of them. [`top_k`] picks the best unknown items;
//! [`evaluate`] runs the offline protocol of the `busker-eval` binary on a [`Split`] of a
//! [`Dataset`].
//!
//! **Exchange rules**, shared by the simulation ([`GossipSim`]) and the live network
//! (`busker-core`'s `taste` module): a [`TasteProfile`] is what a peer shares (bounded by
//! [`MAX_PROFILE_ITEMS`] and [`MAX_FOLLOWS`], canonical bytes from [`TasteProfile::encode`],
//! strict [`TasteProfile::decode`]; `busker-core` signs those bytes). A [`Neighbourhood`]
//! keeps at most [`MAX_NEIGHBOURS`] profiles, picks gossip partners
//! ([`Neighbourhood::choose_partner`]), says what to send
//! ([`Neighbourhood::gossip_profiles`], [`Neighbourhood::gossip_digests`],
//! [`Neighbourhood::gossip_hint`]), takes in what arrives ([`Neighbourhood::consider`],
//! [`Neighbourhood::consider_digest`], [`Neighbourhood::learn_peers`]; every distinct profile or
//! [`ProfileDigest`] offered feeds the peer's [`WalkStream`] of item statistics and its
//! [`CoStream`] of co-occurrence sums, on which it fits a small local EASE) and recommends with
//! a [`Reason`] for every item and a promotion share for new releases
//! ([`Neighbourhood::recommend`]).
//!
//! ```
//! use busker_recommender::{ItemKnn, Scorer, SparseRows, top_k};
//! let m = SparseRows::from_triplets(2, 3, &[(0, 0, 1.0), (0, 1, 1.0), (1, 0, 1.0)]);
//! let knn = ItemKnn::fit(&m, 10, 0.0);
//! let mut scores = vec![0.0; 3];
//! knn.score(1, &[0], &[1.0], &mut scores);
//! assert_eq!(top_k(&scores, 1, |i| i == 0), vec![1]);
//! ```
#![deny(missing_docs)]

mod blend;
mod co_stream;
mod data;
mod digest;
mod ease;
mod error;
mod evaluate;
mod feedback;
mod gossip;
mod item_knn;
mod linalg;
mod matrix;
mod metrics;
mod neighbourhood;
mod popularity;
mod profile;
mod rank;
mod recommendation;
mod similarity;
mod split;
mod stream;
mod user_knn;

pub use blend::{Blend, FriendInput, Friends, PopularityPenalty};
pub use co_stream::{CoStream, MAX_CO_CANDIDATES};
pub use data::{Dataset, RawInteraction, parse_friends, parse_interactions};
pub use digest::{DIGEST_FORMAT, MAX_DIGEST_BYTES, ProfileDigest, item_fingerprint};
pub use ease::{Ease, EaseConfig};
pub use error::{Error, Result};
pub use evaluate::evaluate;
pub use feedback::{Feedback, Weighting, implicit_weight};
pub use gossip::{Attack, GossipConfig, GossipSim, RoundStats};
pub use item_knn::ItemKnn;
pub use linalg::{cholesky, cholesky_inverse_diagonal, cholesky_solve, invert_spd};
pub use matrix::SparseRows;
pub use metrics::{Metrics, MetricsMean, rank_metrics};
pub use neighbourhood::{
    Admission, DIGEST_FRAMING, FOLLOWED_MIN_SIMILARITY, HINT_BUDDIES, HINT_RANDOM,
    MAX_ANSWERS_PER_ROUND, MAX_GOSSIP_BYTES, MAX_NEIGHBOURS, MAX_TRUST_HOPS, MAX_TRUSTED,
    MESSAGE_FRAMING, Neighbour, Neighbourhood, NeighbourhoodConfig, PROFILE_FRAMING,
    SIGNATURE_BYTES, message_len, profile_similarity,
};
pub use popularity::Popularity;
pub use profile::{
    Key, MAX_FOLLOWS, MAX_PROFILE_BYTES, MAX_PROFILE_ITEMS, MAX_WEIGHT, PROFILE_FORMAT,
    TasteProfile,
};
pub use rank::{Scorer, normalise_max, top_k};
pub use recommendation::{Reason, Recommendation, promote};
pub use similarity::{cosine, norm, sparse_dot};
pub use split::{Split, split_random, split_sizes};
pub use stream::{MAX_STREAM_ITEMS, MAX_STREAM_PEERS, WalkStream};
pub use user_knn::UserKnn;
