//! User-based k nearest neighbours.
//!
//! A user's score for an item is the similarity-weighted sum of their `k` most similar users'
//! weights for it: `sum_v sim(u, v)^alpha * w_v(i) / |w_v|`. This is the same rule a peer runs
//! on the profiles in its [`crate::Neighbourhood`], here with all users visible.

use crate::matrix::SparseRows;
use crate::rank::Scorer;
use crate::similarity::norm;

/// A fitted user-kNN model.
#[derive(Debug, Clone)]
pub struct UserKnn {
    train: SparseRows,
    norms: Vec<f32>,
    neighbours: Vec<Vec<(u32, f32)>>,
    alpha: f32,
}

impl UserKnn {
    /// Fits on weighted user rows: the `k` most cosine-similar users of every user.
    pub fn fit(train: &SparseRows, k: usize, shrink: f32, alpha: f32) -> Self {
        let by_item = train.transpose();
        let n = train.nrows();
        let norms: Vec<f32> = (0..n).map(|u| norm(train.row(u).1)).collect();
        let mut acc = vec![0.0f32; n];
        let mut touched: Vec<u32> = Vec::new();
        let mut neighbours = Vec::with_capacity(n);
        for u in 0..n {
            let (items, wi) = train.row(u);
            for (&i, &w) in items.iter().zip(wi) {
                let (users, wu) = by_item.row(i as usize);
                for (&v, &x) in users.iter().zip(wu) {
                    if v as usize != u {
                        if acc[v as usize] == 0.0 {
                            touched.push(v);
                        }
                        acc[v as usize] += w * x;
                    }
                }
            }
            let mut row: Vec<(u32, f32)> = touched
                .iter()
                .map(|&v| (v, acc[v as usize] / (norms[u] * norms[v as usize] + shrink)))
                .collect();
            for &v in &touched {
                acc[v as usize] = 0.0;
            }
            touched.clear();
            if row.len() > k && k > 0 {
                row.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
                row.truncate(k);
            }
            neighbours.push(row);
        }
        UserKnn {
            train: train.clone(),
            norms,
            neighbours,
            alpha,
        }
    }

    /// The kept neighbours of `user` with their similarity.
    pub fn neighbours(&self, user: usize) -> &[(u32, f32)] {
        self.neighbours.get(user).map_or(&[], |v| v.as_slice())
    }
}

impl Scorer for UserKnn {
    fn score(&self, user: usize, _items: &[u32], _weights: &[f32], out: &mut [f32]) {
        for &(v, s) in self.neighbours(user) {
            let f = s.max(0.0).powf(self.alpha) / self.norms[v as usize].max(1e-9);
            let (items, w) = self.train.row(v as usize);
            for (&i, &x) in items.iter().zip(w) {
                if let Some(o) = out.get_mut(i as usize) {
                    *o += f * x;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_users_items_are_scored() {
        let m = SparseRows::from_triplets(
            3,
            4,
            &[
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (1, 2, 1.0),
                (2, 3, 1.0),
            ],
        );
        let knn = UserKnn::fit(&m, 5, 0.0, 1.0);
        assert_eq!(knn.neighbours(0).len(), 1);
        let mut s = vec![0.0; 4];
        knn.score(0, &[], &[], &mut s);
        assert!(s[2] > 0.0);
        assert_eq!(s[3], 0.0);
    }
}
