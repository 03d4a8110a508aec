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

/// Options of [`Ease::fit_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct EaseConfig {
    /// L2 strength added to every item's diagonal.
    pub lambda: f32,
    /// Items with fewer training listeners are not modelled.
    pub min_listeners: u32,
    /// Extra L2 on item `a` proportional to its Gram diagonal `G_aa` (EDLAE's `p / (1 - p)` for
    /// dropout probability `p`); 0 gives plain EASE.
    pub dropout: f32,
    /// `true`: EASE's constraint `diag(B) = 0`; `false`: the unconstrained solution
    /// `B = I - P Lambda` (DLAE). A user's own items are excluded from ranking, so the diagonal
    /// itself never matters, only how the constraint changes the other weights.
    pub zero_diagonal: bool,
}

impl Default for EaseConfig {
    fn default() -> Self {
        EaseConfig {
            lambda: 2500.0,
            min_listeners: 3,
            dropout: 0.0,
            zero_diagonal: true,
        }
    }
}

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
        Self::fit_with(
            train,
            &EaseConfig {
                lambda,
                min_listeners,
                ..EaseConfig::default()
            },
        )
    }

    /// Fits with every option of [`EaseConfig`].
    pub fn fit_with(train: &SparseRows, config: &EaseConfig) -> Result<Self> {
        let (lambda, min_listeners) = (config.lambda, config.min_listeners);
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
        // The penalty on item `a`: `lambda + dropout * G_aa` (EDLAE's dropout-equivalent
        // regularisation grows with the item's own mass).
        let penalty: Vec<f32> = (0..n)
            .map(|a| lambda + config.dropout * g[[a, a]])
            .collect();
        for (a, &l) in penalty.iter().enumerate() {
            g[[a, a]] += l;
        }
        let mut p = invert_spd(g, 128)?;
        if config.zero_diagonal {
            let diag: Vec<f32> = (0..n).map(|a| p[[a, a]]).collect();
            for ((_, b), v) in p.indexed_iter_mut() {
                *v = -*v / diag[b];
            }
        } else {
            // `B = I - P Lambda`: the unconstrained (denoising) solution.
            for ((_, b), v) in p.indexed_iter_mut() {
                *v = -*v * penalty[b];
            }
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

    /// Users {0, 1}, {0, 1}, {0}: Gram `[[3, 2], [2, 2]]`. By hand, with `lambda = 1`:
    /// EASE predicts item 1 from item 0 with `c / (G_00 + l_0) = 2 / 4`; with dropout 0.5 the
    /// penalty on item 0 becomes `1 + 0.5 * 3`, giving `2 / 5.5`; DLAE (no diagonal
    /// constraint) gives `c * l_1 / det = 2 * 1 / ((3 + 1) * (2 + 1) - 4) = 0.25`.
    #[test]
    fn variants_match_hand_computed_two_item_case() {
        let m = SparseRows::from_triplets(
            3,
            2,
            &[
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (2, 0, 1.0),
            ],
        );
        let score = |config: EaseConfig| {
            let e = Ease::fit_with(&m, &config).unwrap();
            let mut s = vec![0.0; 2];
            e.score(0, &[0], &[1.0], &mut s);
            s[1]
        };
        let base = EaseConfig {
            lambda: 1.0,
            min_listeners: 1,
            ..EaseConfig::default()
        };
        let close = |a: f32, b: f32| assert!((a - b).abs() < 1e-5, "{a} != {b}");
        close(score(base.clone()), 0.5);
        close(
            score(EaseConfig {
                dropout: 0.5,
                ..base.clone()
            }),
            2.0 / 5.5,
        );
        close(
            score(EaseConfig {
                zero_diagonal: false,
                ..base
            }),
            0.25,
        );
    }
}
