//! Trust from the follow graph: the owner's follow distance to a peer, learnt from the
//! `follows` of the profiles that pass by (keys only), and how far the owner trusts a kept
//! neighbour (see the parent module's docs for the values).

use super::{Neighbour, Neighbourhood};
use crate::profile::{Key, TasteProfile};

/// Longest follow path along which trust flows (1 = followed by the owner).
pub const MAX_TRUST_HOPS: u8 = 4;
/// Most peer keys with a known follow distance kept by one peer.
pub const MAX_TRUSTED: usize = 4096;

impl Neighbourhood {
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
    pub(super) fn note_follows(&mut self, profile: &TasteProfile) {
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

    /// How far the owner trusts a kept neighbour, in `(0, 1]` (the values are in the parent
    /// module's docs).
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
}

#[cfg(test)]
mod tests {
    use crate::neighbourhood::test_profiles::{k, profile};
    use crate::neighbourhood::{Admission, Neighbourhood, NeighbourhoodConfig};
    use crate::recommendation::Reason;

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
}
