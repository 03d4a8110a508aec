//! Similarity between sparse weighted vectors (sorted index lists with weights).
//!
//! Cosine similarity is what both kNN models and the peer-to-peer neighbourhood use; a shrink
//! term damps similarities that rest on very few shared items.

use crate::matrix::SparseRows;

/// Dot product of two sparse vectors whose indices are sorted ascending.
pub fn sparse_dot<K: Ord>(a: &[K], wa: &[f32], b: &[K], wb: &[f32]) -> (f32, usize) {
    let (mut i, mut j, mut dot, mut common) = (0, 0, 0.0f32, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                dot += wa[i] * wb[j];
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    (dot, common)
}

/// Euclidean norm of a weight vector.
pub fn norm(w: &[f32]) -> f32 {
    w.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Cosine similarity of two sparse vectors, `dot / (|a| |b| + shrink)`; 0 for empty vectors.
pub fn cosine<K: Ord>(a: &[K], wa: &[f32], b: &[K], wb: &[f32], shrink: f32) -> f32 {
    let (dot, _) = sparse_dot(a, wa, b, wb);
    let d = norm(wa) * norm(wb) + shrink;
    if d > 0.0 { dot / d } else { 0.0 }
}

/// A dense accumulator over `n` ids that remembers which ids it touched, so that emptying it
/// costs only what was added. The kNN fits add one row's co-occurrences, then drain the best.
pub(crate) struct SparseAccumulator {
    acc: Vec<f32>,
    touched: Vec<u32>,
}

impl SparseAccumulator {
    /// An empty accumulator over ids `0..n`.
    pub(crate) fn new(n: usize) -> Self {
        Self {
            acc: vec![0.0; n],
            touched: Vec::new(),
        }
    }

    /// Adds `v` to id `j`.
    pub(crate) fn add(&mut self, j: u32, v: f32) {
        let slot = &mut self.acc[j as usize];
        if *slot == 0.0 {
            self.touched.push(j);
        }
        *slot += v;
    }

    /// Empties the accumulator into `(id, score(id, sum))` pairs, keeping the `k` best
    /// (all of them when `k` is 0), in no particular order.
    pub(crate) fn drain_top_k(
        &mut self,
        k: usize,
        score: impl Fn(u32, f32) -> f32,
    ) -> Vec<(u32, f32)> {
        let mut row: Vec<(u32, f32)> = self
            .touched
            .iter()
            .map(|&j| (j, score(j, self.acc[j as usize])))
            .collect();
        for &j in &self.touched {
            self.acc[j as usize] = 0.0;
        }
        self.touched.clear();
        if row.len() > k && k > 0 {
            row.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            row.truncate(k);
        }
        row
    }
}

/// The `k` most cosine-similar other rows of every row of `rows` (with `shrink` in the
/// denominator). Item-kNN runs it on the item-user matrix, user-kNN on the user-item matrix.
pub(crate) fn cosine_knn(rows: &SparseRows, k: usize, shrink: f32) -> Vec<Vec<(u32, f32)>> {
    let columns = rows.transpose();
    let n = rows.nrows();
    let norms: Vec<f32> = (0..n).map(|r| norm(rows.row(r).1)).collect();
    let mut acc = SparseAccumulator::new(n);
    (0..n)
        .map(|r| {
            let (cols, wr) = rows.row(r);
            for (&c, &w) in cols.iter().zip(wr) {
                let (others, wo) = columns.row(c as usize);
                for (&o, &x) in others.iter().zip(wo) {
                    if o as usize != r {
                        acc.add(o, w * x);
                    }
                }
            }
            acc.drain_top_k(k, |o, sum| sum / (norms[r] * norms[o as usize] + shrink))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_by_hand() {
        let c = cosine(
            &[1u32, 3, 5],
            &[1.0, 2.0, 2.0],
            &[3u32, 4],
            &[3.0, 4.0],
            0.0,
        );
        assert!((c - 6.0 / 15.0).abs() < 1e-6);
        assert_eq!(cosine::<u32>(&[], &[], &[1], &[1.0], 0.0), 0.0);
        assert_eq!(
            sparse_dot(&[1u32, 2], &[1.0, 1.0], &[2u32], &[3.0]),
            (3.0, 1)
        );
    }
}
