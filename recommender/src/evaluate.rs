//! Offline evaluation: rank all items for every user and average the metrics.

use crate::matrix::SparseRows;
use crate::metrics::{MetricsMean, rank_metrics};
use crate::rank::{Scorer, top_k};

/// Scores every user with `scorer` (fed the user's row of `input`), excludes the items of every
/// matrix in `known`, ranks the rest and compares the top `k` with the user's row of `target`.
pub fn evaluate(
    scorer: &dyn Scorer,
    input: &SparseRows,
    known: &[&SparseRows],
    target: &SparseRows,
    k: usize,
) -> MetricsMean {
    let mut mean = MetricsMean::default();
    let mut scores = vec![0.0f32; input.ncols()];
    for u in 0..target.nrows() {
        let relevant = target.row_indices(u);
        if relevant.is_empty() {
            continue;
        }
        scores.iter_mut().for_each(|s| *s = 0.0);
        let (items, weights) = input.row(u);
        scorer.score(u, items, weights, &mut scores);
        let ranked = top_k(&scores, k, |i| {
            known
                .iter()
                .any(|m| m.row_indices(u).binary_search(&i).is_ok())
        });
        if let Some(m) = rank_metrics(&ranked, relevant, k) {
            mean.add(m);
        }
    }
    mean
}
