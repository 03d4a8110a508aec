//! User-based k nearest neighbours.
//!
//! A user's score for an item is the similarity-weighted sum of their `k` most similar users'
//! weights for it: `sum_v sim(u, v)^alpha * w_v(i) / |w_v|`. This is the same rule a peer runs
//! on the profiles in its [`crate::Neighbourhood`], here with all users visible.

use crate::matrix::SparseRows;
use crate::rank::Scorer;
use crate::similarity::{cosine_knn, norm};

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
        let norms: Vec<f32> = (0..train.nrows()).map(|u| norm(train.row(u).1)).collect();
        let neighbours = cosine_knn(train, k, shrink);
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
