//! Ranking metrics at a cut-off `k`, computed exactly as RecBole does.
//!
//! For one user with relevant set `R` and a ranked list `L` (best first, cut at `k`):
//! - `hit` is 1 if any of `L` is in `R`;
//! - `precision` is `|L ∩ R| / k`;
//! - `recall` is `|L ∩ R| / |R|`;
//! - `ndcg` is `DCG / IDCG` with gains `1 / log2(rank + 1)`, IDCG over `min(|R|, k)` ideal hits.
//!
//! Users with an empty relevant set are not counted.

/// The four metrics for one user, or their mean over users.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    /// Normalised discounted cumulative gain.
    pub ndcg: f64,
    /// Share of the relevant items that were ranked in the top k.
    pub recall: f64,
    /// Share of the top k that was relevant.
    pub precision: f64,
    /// 1 if at least one relevant item is in the top k.
    pub hit: f64,
}

/// Metrics of one ranked list against the sorted list of `relevant` items; `None` when
/// `relevant` is empty.
pub fn rank_metrics(ranked: &[u32], relevant: &[u32], k: usize) -> Option<Metrics> {
    if relevant.is_empty() || k == 0 {
        return None;
    }
    let mut dcg = 0.0;
    let mut hits = 0usize;
    for (pos, item) in ranked.iter().take(k).enumerate() {
        if relevant.binary_search(item).is_ok() {
            hits += 1;
            dcg += 1.0 / ((pos + 2) as f64).log2();
        }
    }
    let idcg: f64 = (0..relevant.len().min(k))
        .map(|pos| 1.0 / ((pos + 2) as f64).log2())
        .sum();
    Some(Metrics {
        ndcg: dcg / idcg,
        recall: hits as f64 / relevant.len() as f64,
        precision: hits as f64 / k as f64,
        hit: if hits > 0 { 1.0 } else { 0.0 },
    })
}

/// Running mean of [`Metrics`] over users.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsMean {
    sum: Metrics,
    users: usize,
}

impl MetricsMean {
    /// Adds one user's metrics.
    pub fn add(&mut self, m: Metrics) {
        self.sum.ndcg += m.ndcg;
        self.sum.recall += m.recall;
        self.sum.precision += m.precision;
        self.sum.hit += m.hit;
        self.users += 1;
    }

    /// Number of users added.
    pub fn users(&self) -> usize {
        self.users
    }

    /// The mean (all zero when no user was added).
    pub fn mean(&self) -> Metrics {
        let n = self.users.max(1) as f64;
        Metrics {
            ndcg: self.sum.ndcg / n,
            recall: self.sum.recall / n,
            precision: self.sum.precision / n,
            hit: self.sum.hit / n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn hand_computed_case() {
        // Relevant {3, 9, 20}; ranked 5, 3, 7, 20 at k = 4: hits at ranks 2 and 4.
        let m = rank_metrics(&[5, 3, 7, 20, 9], &[3, 9, 20], 4).unwrap();
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!(close(m.ndcg, dcg / idcg));
        assert!(close(m.recall, 2.0 / 3.0));
        assert!(close(m.precision, 0.5));
        assert!(close(m.hit, 1.0));
    }

    #[test]
    fn perfect_miss_and_short_relevant_set() {
        let m = rank_metrics(&[1, 2], &[1], 10).unwrap();
        assert!(close(m.ndcg, 1.0));
        assert!(close(m.precision, 0.1));
        let m = rank_metrics(&[4, 5, 6], &[1], 3).unwrap();
        assert_eq!(m, Metrics::default());
        assert!(rank_metrics(&[1], &[], 10).is_none());
        let mut mean = MetricsMean::default();
        mean.add(rank_metrics(&[1], &[1], 1).unwrap());
        mean.add(Metrics::default());
        assert!(close(mean.mean().hit, 0.5));
        assert_eq!(mean.users(), 2);
    }
}
