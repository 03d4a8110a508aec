//! Mixing models, and the friend-graph signal.
//!
//! [`Blend`] adds the per-user max-normalised scores of several [`Scorer`]s with fixed weights,
//! so a strong model (EASE) can be complemented by what it cannot see: items it does not model
//! (item-kNN), and what the user's friends, the people they follow in Busker, listen to
//! ([`Friends`]).

use crate::matrix::SparseRows;
use crate::rank::{Scorer, normalise_max};
use crate::similarity::norm;

/// Scores items by how much the user's friends listen to them (each friend's vector is
/// normalised to unit length so that no friend dominates).
#[derive(Debug, Clone)]
pub struct Friends {
    train: SparseRows,
    friends: Vec<Vec<u32>>,
}

impl Friends {
    /// Uses the weighted training rows and the friend lists (user indices).
    pub fn new(train: &SparseRows, friends: &[Vec<u32>]) -> Self {
        Friends {
            train: train.clone(),
            friends: friends.to_vec(),
        }
    }
}

impl Scorer for Friends {
    fn score(&self, user: usize, _items: &[u32], _weights: &[f32], out: &mut [f32]) {
        for &f in self.friends.get(user).map_or(&[][..], |v| v.as_slice()) {
            let (items, w) = self.train.row(f as usize);
            let n = norm(w).max(1e-9);
            for (&i, &x) in items.iter().zip(w) {
                if let Some(o) = out.get_mut(i as usize) {
                    *o += x / n;
                }
            }
        }
    }
}

/// A weighted sum of max-normalised model scores.
pub struct Blend {
    parts: Vec<(f32, Box<dyn Scorer + Send + Sync>)>,
}

impl std::fmt::Debug for Blend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blend")
            .field("parts", &self.parts.len())
            .finish()
    }
}

impl Blend {
    /// An empty blend (scores nothing).
    pub fn new() -> Self {
        Blend { parts: Vec::new() }
    }

    /// Adds a model with weight `w`.
    pub fn with(mut self, w: f32, model: impl Scorer + Send + Sync + 'static) -> Self {
        self.parts.push((w, Box::new(model)));
        self
    }

    /// Changes the weight of the `index`-th model (used when tuning on validation).
    pub fn set_weight(&mut self, index: usize, w: f32) {
        if let Some(p) = self.parts.get_mut(index) {
            p.0 = w;
        }
    }
}

impl Default for Blend {
    fn default() -> Self {
        Self::new()
    }
}

impl Scorer for Blend {
    fn score(&self, user: usize, items: &[u32], weights: &[f32], out: &mut [f32]) {
        let mut tmp = vec![0.0f32; out.len()];
        for (w, model) in &self.parts {
            if *w == 0.0 {
                continue;
            }
            tmp.iter_mut().for_each(|x| *x = 0.0);
            model.score(user, items, weights, &mut tmp);
            normalise_max(&mut tmp);
            for (o, t) in out.iter_mut().zip(&tmp) {
                *o += w * t;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::popularity::Popularity;

    #[test]
    fn friends_and_blend() {
        let m =
            SparseRows::from_triplets(3, 3, &[(0, 0, 1.0), (1, 1, 2.0), (2, 2, 1.0), (2, 0, 1.0)]);
        let f = Friends::new(&m, &[vec![1], vec![0], vec![]]);
        let mut s = vec![0.0; 3];
        f.score(0, &[], &[], &mut s);
        assert_eq!(s, vec![0.0, 1.0, 0.0]);
        let b = Blend::new().with(1.0, f).with(0.5, Popularity::fit(&m));
        let mut s = vec![0.0; 3];
        b.score(0, &[], &[], &mut s);
        assert_eq!(s, vec![0.5, 1.25, 0.25]);
    }
}
