//! Item-based k nearest neighbours.
//!
//! Two items are similar when the same users listen to them (cosine over the item-user
//! columns, with shrink). A user's score for item `i` is the sum over the items `j` in their
//! history of `weight(j) * sim(j, i)`, keeping only each item's `k` most similar items.

use crate::matrix::SparseRows;
use crate::rank::Scorer;
use crate::similarity::{SparseAccumulator, cosine_knn};

/// A fitted item-kNN model: the `k` nearest items of every item.
#[derive(Debug, Clone)]
pub struct ItemKnn {
    neighbours: Vec<Vec<(u32, f32)>>,
}

impl ItemKnn {
    /// Fits on weighted user rows. `k` neighbours per item, cosine with `shrink`.
    pub fn fit(train: &SparseRows, k: usize, shrink: f32) -> Self {
        ItemKnn {
            neighbours: cosine_knn(&train.transpose(), k, shrink),
        }
    }

    /// Fits the RP3beta variant (Paudel et al. 2017): the similarity of `i` to `j` is the
    /// probability of a random walk item -> user -> item going from `i` to `j` (transition
    /// probabilities raised to `alpha`), divided by `popularity(j)^beta` so that popular items
    /// do not win every walk.
    pub fn fit_rp3(train: &SparseRows, k: usize, alpha: f32, beta: f32) -> Self {
        let by_item = train.transpose();
        let n = train.ncols();
        let user_deg: Vec<f32> = (0..train.nrows())
            .map(|u| train.row(u).1.iter().sum())
            .collect();
        let item_deg: Vec<f32> = (0..n).map(|i| by_item.row(i).1.iter().sum()).collect();
        let pop = train.column_counts();
        let mut acc = SparseAccumulator::new(n);
        let mut neighbours = Vec::with_capacity(n);
        for (i, &deg_i) in item_deg.iter().enumerate() {
            let (users, wu) = by_item.row(i);
            for (&u, &w) in users.iter().zip(wu) {
                let p_iu = (w / deg_i).powf(alpha);
                let (items, wi) = train.row(u as usize);
                for (&j, &v) in items.iter().zip(wi) {
                    if j as usize != i {
                        acc.add(j, p_iu * (v / user_deg[u as usize]).powf(alpha));
                    }
                }
            }
            neighbours.push(acc.drain_top_k(k, |j, sum| sum / (pop[j as usize] as f32).powf(beta)));
        }
        ItemKnn { neighbours }
    }

    /// The kept neighbours of `item` with their similarity.
    pub fn neighbours(&self, item: u32) -> &[(u32, f32)] {
        self.neighbours
            .get(item as usize)
            .map_or(&[], |v| v.as_slice())
    }
}

impl Scorer for ItemKnn {
    fn score(&self, _user: usize, items: &[u32], weights: &[f32], out: &mut [f32]) {
        for (&j, &w) in items.iter().zip(weights) {
            for &(i, s) in self.neighbours(j) {
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
    fn co_listened_items_are_recommended() {
        // Users 0 and 1 both have items 0 and 1; user 2 has item 0 only and item 2.
        let m = SparseRows::from_triplets(
            3,
            4,
            &[
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (2, 0, 1.0),
                (2, 2, 1.0),
            ],
        );
        let knn = ItemKnn::fit(&m, 10, 0.0);
        let mut s = vec![0.0; 4];
        knn.score(0, &[0], &[1.0], &mut s);
        assert_eq!(top_k(&s, 1, |i| i == 0), vec![1]);
        assert_eq!(s[3], 0.0);
    }
}
