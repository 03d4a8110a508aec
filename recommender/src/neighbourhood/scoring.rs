//! How a peer recommends: each kept neighbour's influence after the defences (similarity,
//! trust, near-duplicate damping), the items the neighbours support, re-weighted by the
//! streamed walk and blended with the local EASE fitted on the streamed co-occurrence, then the
//! top `k` with a reason each and a share for new releases.

use std::collections::HashMap;

use super::{Neighbourhood, profile_similarity};
use crate::profile::Key;
use crate::recommendation::{Reason, Recommendation, promote};

/// The similarity a followed peer counts with at least, whatever its profile.
pub const FOLLOWED_MIN_SIMILARITY: f32 = 0.2;

impl Neighbourhood {
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
    /// above [`NeighbourhoodConfig::clique_threshold`](super::NeighbourhoodConfig::clique_threshold)
    /// (all pairs compared).
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
    /// (the fit factors a matrix of the tracked items; see
    /// [`CoStream::fit`](crate::CoStream::fit)).
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
    use crate::digest::ProfileDigest;
    use crate::neighbourhood::test_profiles::{k, profile};
    use crate::neighbourhood::{Admission, Neighbourhood, NeighbourhoodConfig};
    use crate::profile::TasteProfile;
    use crate::recommendation::Reason;

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
    fn shilling_clique_is_damped_and_needs_support() {
        // Me: items 1..=4, following peer 1, who follows peer 2; both have item 100.
        // Three Sybils (whom nobody follows) copy my taste and push item 666.
        let me = profile(0, &[1, 2, 3, 4], &[1]);
        let sybil = |p: u64| profile(p, &[1, 2, 3, 666], &[]);
        for defences in [false, true] {
            let config = NeighbourhoodConfig {
                defences,
                // Weights of 1 here: the local EASE as strongly held as on Last.fm's weights
                // (mean square 32), so that the neighbours' scores decide.
                ease_lambda: 6.0,
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
