//! EASE (Steck, WWW 2019): a closed-form linear item-item model.
//!
//! `B = I - P diag(1/diag(P))` with `P = (X^T X + lambda I)^-1` and a zero diagonal; a user's
//! scores are `x_u B`. Inverting over all 17,632 Last.fm artists is out of reach without BLAS,
//! and an item that fewer than two training users have cannot be learned anyway, so the model
//! keeps only items with at least `min_listeners` training listeners; other items score 0.

use ndarray::Array2;

use crate::error::Result;
use crate::linalg::invert_spd;
use crate::matrix::SparseRows;
use crate::rank::Scorer;

/// A fitted EASE model over a subset of the items.
#[derive(Debug, Clone)]
pub struct Ease {
    /// Item index -> position in `b`, or `u32::MAX` when the item is not modelled.
    position: Vec<u32>,
    /// Modelled item indices, in `b` order.
    kept: Vec<u32>,
    b: Array2<f32>,
}

impl Ease {
    /// Fits on weighted user rows with L2 strength `lambda`.
    pub fn fit(train: &SparseRows, lambda: f32, min_listeners: u32) -> Result<Self> {
        let counts = train.column_counts();
        let kept: Vec<u32> = (0..train.ncols() as u32)
            .filter(|&i| counts[i as usize] >= min_listeners)
            .collect();
        let mut position = vec![u32::MAX; train.ncols()];
        for (p, &i) in kept.iter().enumerate() {
            position[i as usize] = p as u32;
        }
        let n = kept.len();
        let mut g = Array2::<f32>::zeros((n, n));
        let mut row: Vec<(usize, f32)> = Vec::new();
        for u in 0..train.nrows() {
            let (items, w) = train.row(u);
            row.clear();
            row.extend(
                items
                    .iter()
                    .zip(w)
                    .filter(|(i, _)| position[**i as usize] != u32::MAX)
                    .map(|(i, &x)| (position[*i as usize] as usize, x)),
            );
            for &(a, x) in &row {
                for &(b, y) in &row {
                    g[[a, b]] += x * y;
                }
            }
        }
        for a in 0..n {
            g[[a, a]] += lambda;
        }
        let mut p = invert_spd(g, 128)?;
        let diag: Vec<f32> = (0..n).map(|a| p[[a, a]]).collect();
        for ((_, b), v) in p.indexed_iter_mut() {
            *v = -*v / diag[b];
        }
        for a in 0..n {
            p[[a, a]] = 0.0;
        }
        Ok(Ease {
            position,
            kept,
            b: p,
        })
    }

    /// Number of modelled items.
    pub fn modelled_items(&self) -> usize {
        self.kept.len()
    }
}

impl Scorer for Ease {
    fn score(&self, _user: usize, items: &[u32], weights: &[f32], out: &mut [f32]) {
        for (&j, &w) in items.iter().zip(weights) {
            let Some(&pj) = self.position.get(j as usize) else {
                continue;
            };
            if pj == u32::MAX {
                continue;
            }
            let row = self.b.row(pj as usize);
            for (&i, &s) in self.kept.iter().zip(row.iter()) {
                if let Some(o) = out.get_mut(i as usize) {
                    *o += w * s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rank::top_k;

    #[test]
    fn ease_learns_co_occurrence() {
        let mut t = Vec::new();
        for u in 0..20u32 {
            t.push((u, 0, 1.0));
            t.push((u, 1 + u % 2, 1.0));
        }
        t.push((20, 3, 1.0));
        let m = SparseRows::from_triplets(21, 4, &t);
        let e = Ease::fit(&m, 1.0, 2).unwrap();
        assert_eq!(e.modelled_items(), 3);
        let mut s = vec![0.0; 4];
        e.score(0, &[1], &[1.0], &mut s);
        assert_eq!(top_k(&s, 1, |i| i == 1), vec![0]);
        assert_eq!(s[3], 0.0);
    }
}
