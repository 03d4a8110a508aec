//! What a peer takes in: a profile offered to [`Neighbourhood::consider`] is kept when it is
//! among the best (evicting the least similar kept profile when full), a digest only feeds the
//! streamed statistics, and every peer key heard of becomes a candidate gossip partner.

use std::sync::OnceLock;

use super::{Admission, MAX_NEIGHBOURS, Neighbour, Neighbourhood};
use crate::digest::{ProfileDigest, item_fingerprint};
use crate::profile::{Key, TasteProfile};

impl Neighbourhood {
    /// How firmly a kept neighbour holds its place: the least retained makes room first.
    pub(super) fn retention(&self, n: &Neighbour) -> f32 {
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
        let similarity = self.taste_similarity(&profile);
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
}

#[cfg(test)]
mod tests {
    use crate::digest::ProfileDigest;
    use crate::neighbourhood::test_profiles::{k, profile};
    use crate::neighbourhood::{Admission, Neighbourhood, NeighbourhoodConfig};

    #[test]
    fn a_shared_rare_item_outweighs_a_shared_popular_one() {
        // Six peers (digests) list the owner's item 1 and none its item 2. Peers 10 and 11
        // share one of the owner's items each: by plain cosine they tie and 10, first in, keeps
        // the one place; weighted by rarity, 11, who shares the rare item, takes it.
        let run = |rarity: f32| {
            let config = NeighbourhoodConfig {
                max_profiles: 1,
                rarity,
                ..Default::default()
            };
            let mut h = Neighbourhood::new(profile(0, &[1, 2], &[]), config).unwrap();
            for p in 20..26 {
                assert!(h.consider_digest(&ProfileDigest::of(&profile(p, &[1, 7], &[]))));
            }
            h.tick();
            assert_eq!(h.consider(profile(10, &[1, 5], &[])), Admission::Admitted);
            let second = h.consider(profile(11, &[2, 6], &[]));
            (second, h.neighbours()[0].profile.peer)
        };
        assert_eq!(run(0.0), (Admission::NotKept, k(10)));
        assert_eq!(run(1.0), (Admission::Replaced(k(10)), k(11)));
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
}
