//! What a gossip message carries and how big it may be: the partner to gossip with, the hint
//! of peer keys, the kept profiles forwarded in full and the digests of the others, all within
//! [`MAX_GOSSIP_BYTES`] as the live network frames them ([`message_len`]).

use std::sync::atomic::Ordering;

use rand::Rng;

use super::{Neighbour, Neighbourhood};
use crate::digest::ProfileDigest;
use crate::profile::{Key, TasteProfile};

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

impl Neighbourhood {
    /// Picks the next gossip partner (see the parent module's docs); `None` if no peer is
    /// known. A random candidate is taken out of the candidate list (it comes back if not
    /// kept).
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
    /// framing, [`DIGEST_FRAMING`]). Empty unless
    /// [`NeighbourhoodConfig::digests`](super::NeighbourhoodConfig::digests) is on. Forwarded
    /// digests carry their owners' signatures (in the live network), like forwarded profiles.
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
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use crate::digest::ProfileDigest;
    use crate::neighbourhood::test_profiles::{k, profile};
    use crate::neighbourhood::{Neighbourhood, NeighbourhoodConfig};
    use crate::profile::Key;

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
}
