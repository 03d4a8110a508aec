//! The evaluation protocol's data split.
//!
//! Each user's interactions are shuffled with a seeded generator and cut 8:1:1 into train,
//! validation and test, with the same rounding as RecBole's `split_by_ratio` (the default
//! protocol behind the published Last.fm results): validation and test get `floor(0.1 n)` each,
//! at least one when `n >= 3`, and train keeps the rest.

use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::matrix::SparseRows;

/// Train, validation and test interactions (same shape as the input).
#[derive(Debug, Clone)]
pub struct Split {
    /// 80 %: what models are fitted on.
    pub train: SparseRows,
    /// 10 %: what hyper-parameters are chosen on.
    pub valid: SparseRows,
    /// 10 %: what the reported figures are measured on.
    pub test: SparseRows,
}

/// How many of `n` interactions go to train, validation and test (RecBole's rounding).
pub fn split_sizes(n: usize) -> (usize, usize, usize) {
    let ratios = [0.8f64, 0.1, 0.1];
    let mut cnt: Vec<usize> = ratios.iter().map(|r| (r * n as f64) as usize).collect();
    cnt[0] = n - cnt[1] - cnt[2];
    for i in 1..3 {
        if cnt[0] <= 1 {
            break;
        }
        let x = ratios[3 - i] * n as f64;
        if 0.0 < x && x < 1.0 {
            cnt[3 - i] += 1;
            cnt[0] -= 1;
        }
    }
    (cnt[0], cnt[1], cnt[2])
}

/// Splits every user's row at random, 8:1:1, reproducibly for a given `seed`.
pub fn split_random(counts: &SparseRows, seed: u64) -> Split {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut tr, mut va, mut te) = (Vec::new(), Vec::new(), Vec::new());
    for u in 0..counts.nrows() {
        let (cols, vals) = counts.row(u);
        let mut order: Vec<usize> = (0..cols.len()).collect();
        order.shuffle(&mut rng);
        let (a, b, _) = split_sizes(cols.len());
        for (pos, &k) in order.iter().enumerate() {
            let t = (u as u32, cols[k], vals[k]);
            if pos < a {
                tr.push(t);
            } else if pos < a + b {
                va.push(t);
            } else {
                te.push(t);
            }
        }
    }
    let (n, m) = (counts.nrows(), counts.ncols());
    Split {
        train: SparseRows::from_triplets(n, m, &tr),
        valid: SparseRows::from_triplets(n, m, &va),
        test: SparseRows::from_triplets(n, m, &te),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_recbole_rounding() {
        assert_eq!(split_sizes(50), (40, 5, 5));
        assert_eq!(split_sizes(5), (3, 1, 1));
        assert_eq!(split_sizes(2), (1, 0, 1));
        assert_eq!(split_sizes(1), (1, 0, 0));
        assert_eq!(split_sizes(19), (17, 1, 1));
    }

    #[test]
    fn split_is_a_seeded_partition() {
        let trip: Vec<(u32, u32, f32)> = (0..3u32)
            .flat_map(|u| (0..20u32).map(move |i| (u, i, 1.0)))
            .collect();
        let m = SparseRows::from_triplets(3, 20, &trip);
        let a = split_random(&m, 7);
        let b = split_random(&m, 7);
        assert_eq!(a.test, b.test);
        assert_ne!(split_random(&m, 8).test, a.test);
        for u in 0..3 {
            let mut all: Vec<u32> = [&a.train, &a.valid, &a.test]
                .iter()
                .flat_map(|s| s.row_indices(u).to_vec())
                .collect();
            all.sort_unstable();
            assert_eq!(all, (0..20).collect::<Vec<_>>());
            assert_eq!(a.test.row_indices(u).len(), 2);
        }
    }
}
