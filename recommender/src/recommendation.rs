//! Recommendations with reasons, and the promotion share for new releases.
//!
//! Every recommendation carries a [`Reason`] that the app can show as is (its `Display` is
//! the sentence). [`promote`] reserves a share of the slots for new releases, so that a new
//! artist can be found before anyone's taste vector knows it.

use crate::profile::Key;

/// Why an item was recommended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reason {
    /// Liked by `peers` peers whose taste is close to the listener's.
    Neighbours {
        /// How many neighbours have the item.
        peers: u32,
    },
    /// Liked by `peers` peers the listener follows (and maybe others).
    Followed {
        /// How many followed peers have the item.
        peers: u32,
    },
    /// Similar to an item the listener already likes.
    SimilarTo {
        /// The liked item.
        item: Key,
    },
    /// Popular among all listeners (a fallback when nothing else is known).
    Popular,
    /// A new release, promoted so that new artists can be found.
    NewRelease,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Neighbours { peers: 1 } => {
                write!(f, "liked by a peer whose taste is close to yours")
            }
            Reason::Neighbours { peers } => {
                write!(f, "liked by {peers} peers whose taste is close to yours")
            }
            Reason::Followed { peers: 1 } => write!(f, "liked by a peer you follow"),
            Reason::Followed { peers } => write!(f, "liked by {peers} peers you follow"),
            Reason::SimilarTo { item } => write!(f, "similar to {item:?}, which you like"),
            Reason::Popular => write!(f, "popular with listeners"),
            Reason::NewRelease => write!(f, "new release"),
        }
    }
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// The item.
    pub item: Key,
    /// Its score (higher is better; comparable within one list only).
    pub score: f32,
    /// Why it is here.
    pub reason: Reason,
}

/// Makes room for new releases: the last `round(share * k)` slots of a `k`-long list go to the
/// best items of `new_releases` (in the order given, best first) that are not already listed.
/// Returns at most `k` items; `share` is clamped to `[0, 1]`.
pub fn promote(
    mut ranked: Vec<Recommendation>,
    new_releases: &[Recommendation],
    k: usize,
    share: f32,
) -> Vec<Recommendation> {
    let slots = ((share.clamp(0.0, 1.0) * k as f32).round() as usize).min(k);
    let fresh: Vec<&Recommendation> = new_releases
        .iter()
        .filter(|n| !ranked.iter().take(k - slots).any(|r| r.item == n.item))
        .take(slots)
        .collect();
    ranked.truncate(k - fresh.len());
    ranked.extend(fresh.into_iter().map(|n| Recommendation {
        reason: Reason::NewRelease,
        ..n.clone()
    }));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64) -> Recommendation {
        Recommendation {
            item: Key::from_u64(i),
            score: 1.0,
            reason: Reason::Neighbours { peers: 4 },
        }
    }

    #[test]
    fn promotion_takes_the_last_slots() {
        let ranked: Vec<_> = (0..10).map(rec).collect();
        let new = vec![rec(3), rec(20), rec(21), rec(22)];
        let out = promote(ranked, &new, 10, 0.2);
        assert_eq!(out.len(), 10);
        assert_eq!(out[8].item, Key::from_u64(20));
        assert_eq!(out[9].reason, Reason::NewRelease);
        assert_eq!(
            out[0].reason.to_string(),
            "liked by 4 peers whose taste is close to yours"
        );
        assert_eq!(promote((0..3).map(rec).collect(), &[], 10, 0.5).len(), 3);
    }
}
