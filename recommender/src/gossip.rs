//! A gossip simulation: every user of a data set is a peer that learns other users' profiles
//! only through the exchange rules of [`crate::Neighbourhood`] and the wire format of
//! [`crate::TasteProfile`], exactly as a live peer does.
//!
//! Each round every peer picks a partner ([`crate::Neighbourhood::choose_partner`]) and both
//! send an encoded profile plus a hint of peer keys; the receiver decodes (so every message
//! passes the same validation as on the network), considers the profile and learns the keys. A
//! peer answers at most [`MAX_ANSWERS_PER_ROUND`] requests per round, which bounds the bytes it
//! sends. Optional fake peers run a shilling attack: their profiles copy popular items and
//! push one target item.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::digest::ProfileDigest;
use crate::error::Result;
use crate::matrix::SparseRows;
use crate::neighbourhood::{
    DIGEST_FRAMING, HINT_BUDDIES, HINT_RANDOM, MAX_ANSWERS_PER_ROUND, MAX_GOSSIP_BYTES,
    Neighbourhood, NeighbourhoodConfig, PROFILE_FRAMING, message_len,
};
use crate::profile::{Key, TasteProfile};

/// Key offset of the simulation's fake peers.
const FAKE_BASE: u64 = 1 << 40;

/// A shilling attack: fake peers whose profiles push one item.
#[derive(Debug, Clone)]
pub struct Attack {
    /// Number of fake peers.
    pub fakes: usize,
    /// The item (index) they push.
    pub target: u32,
    /// Items (indices) they copy to look like real listeners, most popular first.
    pub filler: Vec<u32>,
    /// How many filler items each fake profile lists (drawn at random from `filler`).
    pub filler_per_profile: usize,
}

/// Simulation parameters.
#[derive(Debug, Clone)]
pub struct GossipConfig {
    /// The exchange rules' parameters.
    pub neighbourhood: NeighbourhoodConfig,
    /// Random peer keys every peer knows at start (the transport's peer sampling).
    pub bootstrap: usize,
    /// Seed of the simulation's randomness.
    pub seed: u64,
    /// An optional shilling attack.
    pub attack: Option<Attack>,
}

/// Traffic of one round.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundStats {
    /// Most bytes any real peer sent in the round.
    pub max_bytes: usize,
    /// Mean bytes a real peer sent in the round.
    pub mean_bytes: f64,
}

/// The simulated network.
#[derive(Debug)]
pub struct GossipSim {
    hoods: Vec<Neighbourhood>,
    fakes: Vec<TasteProfile>,
    /// Canonical bytes of every profile (real peers, then fakes); profiles do not change
    /// during a simulation, so each is encoded once.
    wire: Vec<Vec<u8>>,
    /// Canonical bytes of every profile's digest, in the same order.
    wire_digest: Vec<Vec<u8>>,
    rng: rand::rngs::StdRng,
    peers_seen_max: usize,
}

/// One gossip message: profiles (indices into the encoded profiles, the sender's first) and a
/// hint of peer keys.
struct Message {
    from: Key,
    profiles: Vec<usize>,
    digests: Vec<usize>,
    hint: Vec<Key>,
}

impl GossipSim {
    /// One peer per row of `train` (weights as in a live profile), following its `friends`.
    pub fn new(train: &SparseRows, friends: &[Vec<u32>], config: &GossipConfig) -> Result<Self> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
        let n = train.nrows();
        let fakes_n = config.attack.as_ref().map_or(0, |a| a.fakes);
        let all: Vec<Key> = (0..n as u64)
            .map(Key::from_u64)
            .chain((0..fakes_n as u64).map(|f| Key::from_u64(FAKE_BASE + f)))
            .collect();
        let mut hoods = Vec::with_capacity(n);
        for u in 0..n {
            let follows = friends.get(u).map_or(&[][..], |v| v.as_slice());
            let own = TasteProfile::of_user(train, follows, u);
            let mut h = Neighbourhood::new(own, config.neighbourhood.clone())?;
            h.learn_peers(follows.iter().map(|&f| Key::from_u64(u64::from(f))));
            h.learn_peers((0..config.bootstrap).map(|_| all[rng.gen_range(0..all.len())]));
            hoods.push(h);
        }
        let mut fakes = Vec::with_capacity(fakes_n);
        if let Some(a) = &config.attack {
            // Filler weights copy a typical real weight so the fakes look like listeners.
            let typical = typical_weight(train);
            for f in 0..a.fakes {
                let mut filler = a.filler.clone();
                filler.shuffle(&mut rng);
                filler.truncate(a.filler_per_profile);
                let items = filler
                    .iter()
                    .map(|&i| {
                        (
                            Key::from_u64(u64::from(i)),
                            typical * rng.gen_range(0.5..1.5),
                        )
                    })
                    .chain([(Key::from_u64(u64::from(a.target)), typical * 1.5)]);
                fakes.push(TasteProfile::new(
                    Key::from_u64(FAKE_BASE + f as u64),
                    1,
                    items,
                    [],
                ));
            }
        }
        let wire = hoods
            .iter()
            .map(|h| h.own().encode())
            .chain(fakes.iter().map(TasteProfile::encode))
            .collect();
        let wire_digest = hoods
            .iter()
            .map(|h| ProfileDigest::of(h.own()).encode())
            .chain(fakes.iter().map(|f| ProfileDigest::of(f).encode()))
            .collect();
        Ok(GossipSim {
            hoods,
            fakes,
            wire,
            wire_digest,
            rng,
            peers_seen_max: 0,
        })
    }

    /// The real peers' neighbourhoods.
    pub fn neighbourhoods(&self) -> &[Neighbourhood] {
        &self.hoods
    }

    /// Most raw profiles any peer has held so far.
    pub fn peers_seen_max(&self) -> usize {
        self.peers_seen_max
    }

    /// Index in `wire` of a peer's profile.
    fn wire_index(&self, k: Key) -> Option<usize> {
        match self.index(k) {
            Peer::Real(u) if u < self.hoods.len() => Some(u),
            Peer::Fake(f) if f < self.fakes.len() => Some(self.hoods.len() + f),
            _ => None,
        }
    }

    /// A fake peer's message: its own profile, other fakes' profiles (as many as the budget
    /// allows, the attack's best amplification) and fake peers as hints.
    fn fake_message(&mut self, f: usize) -> Message {
        let hint: Vec<Key> = (0..HINT_BUDDIES + HINT_RANDOM)
            .map(|_| self.fakes[self.rng.gen_range(0..self.fakes.len())].peer)
            .collect();
        let n = self.hoods.len();
        let mut profiles = vec![n + f];
        let mut bytes = message_len(1, self.wire[n + f].len(), 0, 0, hint.len());
        for _ in 0..self.fakes.len() {
            let other = n + self.rng.gen_range(0..self.fakes.len());
            if bytes + PROFILE_FRAMING + self.wire[other].len() > MAX_GOSSIP_BYTES {
                break;
            }
            bytes += PROFILE_FRAMING + self.wire[other].len();
            profiles.push(other);
        }
        // Then digests of other fakes, as many as fit (when the network carries digests).
        let mut digests = Vec::new();
        if self.hoods.first().is_some_and(|h| h.config().digests) {
            for _ in 0..self.fakes.len() {
                let other = n + self.rng.gen_range(0..self.fakes.len());
                if bytes + DIGEST_FRAMING + self.wire_digest[other].len() > MAX_GOSSIP_BYTES {
                    break;
                }
                bytes += DIGEST_FRAMING + self.wire_digest[other].len();
                digests.push(other);
            }
        }
        Message {
            from: self.fakes[f].peer,
            profiles,
            digests,
            hint,
        }
    }

    fn real_message(&mut self, u: usize) -> Message {
        let hint = self.hoods[u].gossip_hint(&mut self.rng);
        let full = self.hoods[u].gossip_profiles();
        let digests = self.hoods[u]
            .gossip_digests(&full)
            .into_iter()
            .filter_map(|p| self.wire_index(p.peer))
            .collect();
        let profiles = full
            .into_iter()
            .filter_map(|p| self.wire_index(p.peer))
            .collect();
        Message {
            from: self.hoods[u].own().peer,
            profiles,
            digests,
            hint,
        }
    }

    /// Bytes on the live wire ([`message_len`]): each profile and digest with its framing
    /// (length and signatures), the hint.
    fn message_len(&self, msg: &Message) -> usize {
        message_len(
            msg.profiles.len(),
            msg.profiles.iter().map(|&p| self.wire[p].len()).sum(),
            msg.digests.len(),
            msg.digests.iter().map(|&p| self.wire_digest[p].len()).sum(),
            msg.hint.len(),
        )
    }

    /// Delivers a message to real peer `u`, decoding every profile like the network would. The
    /// first profile must be the sender's; the others are forwarded (signed by their owners).
    fn deliver(&mut self, u: usize, msg: Message) {
        let admit = self.hoods[u].config().admit_forwarded;
        for (i, &p) in msg.profiles.iter().enumerate() {
            if let Ok(profile) = TasteProfile::decode(&self.wire[p])
                && (i > 0 || profile.peer == msg.from)
            {
                if i > admit {
                    self.hoods[u].consider_digest(&ProfileDigest::of(&profile));
                } else {
                    self.hoods[u].consider(profile);
                }
            }
        }
        for &p in &msg.digests {
            if let Ok(digest) = ProfileDigest::decode(&self.wire_digest[p]) {
                self.hoods[u].consider_digest(&digest);
            }
        }
        self.hoods[u].learn_peers(msg.hint);
        self.hoods[u].learn_peers([msg.from]);
    }

    fn index(&self, k: Key) -> Peer {
        let x = k.low_u64();
        if x >= FAKE_BASE {
            Peer::Fake((x - FAKE_BASE) as usize)
        } else {
            Peer::Real(x as usize)
        }
    }

    /// Runs one round and returns its traffic.
    pub fn round(&mut self) -> RoundStats {
        let n = self.hoods.len();
        let mut sent = vec![0usize; n];
        let mut answered = vec![0usize; n];
        let mut order: Vec<usize> = (0..n + self.fakes.len()).collect();
        order.shuffle(&mut self.rng);
        for p in order {
            if p >= n {
                // A fake peer contacts a random real peer and pushes its profile.
                let f = p - n;
                let q = self.rng.gen_range(0..n);
                if answered[q] >= MAX_ANSWERS_PER_ROUND {
                    continue;
                }
                answered[q] += 1;
                let msg = self.fake_message(f);
                self.deliver(q, msg);
                let reply = self.real_message(q);
                sent[q] += self.message_len(&reply);
                continue;
            }
            let Some(partner) = self.hoods[p].choose_partner(&mut self.rng) else {
                continue;
            };
            match self.index(partner) {
                Peer::Real(q) if q < n && q != p => {
                    if answered[q] >= MAX_ANSWERS_PER_ROUND {
                        continue;
                    }
                    answered[q] += 1;
                    let msg = self.real_message(p);
                    sent[p] += self.message_len(&msg);
                    self.deliver(q, msg);
                    let reply = self.real_message(q);
                    sent[q] += self.message_len(&reply);
                    self.deliver(p, reply);
                }
                Peer::Fake(f) if f < self.fakes.len() => {
                    let msg = self.real_message(p);
                    sent[p] += self.message_len(&msg);
                    let reply = self.fake_message(f);
                    self.deliver(p, reply);
                }
                _ => {}
            }
        }
        for h in &mut self.hoods {
            h.tick();
            self.peers_seen_max = self.peers_seen_max.max(h.neighbours().len());
        }
        RoundStats {
            max_bytes: sent.iter().copied().max().unwrap_or(0),
            mean_bytes: sent.iter().sum::<usize>() as f64 / n.max(1) as f64,
        }
    }
}

enum Peer {
    Real(usize),
    Fake(usize),
}

/// The median positive weight of `m` (what a typical item weighs in a profile).
fn typical_weight(m: &SparseRows) -> f32 {
    let mut w: Vec<f32> = m.triplets().map(|t| t.2).filter(|w| *w > 0.0).collect();
    if w.is_empty() {
        return 1.0;
    }
    let mid = w.len() / 2;
    w.select_nth_unstable_by(mid, f32::total_cmp);
    w[mid]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_network_finds_its_neighbours_within_limits() {
        // Two taste groups of 30 users each; items 0..10 and 10..20.
        let mut t = Vec::new();
        for u in 0..60u32 {
            let base = if u < 30 { 0 } else { 10 };
            for i in 0..6 {
                t.push((u, base + (u + i) % 10, 1.0 + (i as f32)));
            }
        }
        let m = SparseRows::from_triplets(60, 20, &t);
        for digests in [false, true] {
            let config = GossipConfig {
                neighbourhood: NeighbourhoodConfig {
                    max_profiles: 10,
                    forward_top: 2,
                    digests,
                    ..Default::default()
                },
                bootstrap: 5,
                seed: 3,
                attack: None,
            };
            let mut sim = GossipSim::new(&m, &vec![Vec::new(); 60], &config).unwrap();
            let mut stats = RoundStats::default();
            for _ in 0..10 {
                stats = sim.round();
            }
            assert!(sim.peers_seen_max() <= 10);
            assert!(stats.max_bytes < 100_000);
            let h = &sim.neighbourhoods()[0];
            assert!(h.neighbours().len() >= 5);
            assert!(h.neighbours().iter().all(|n| n.profile.peer.low_u64() < 30));
            // The co-occurrence stream tracks the owner's 6 items and candidates beside them.
            assert!(h.co_stream().tracked() > 6, "digests {digests}");
            assert!(h.stream().peers() >= h.neighbours().len());
        }
    }
}
