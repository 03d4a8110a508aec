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

/// Feeds a model the user's history plus what the user's friends listen to: each friend's
/// weighted row, normalised to unit length, is added to the input at `weight` before the inner
/// model scores it (so an item-item model sees the friends' items as faint history).
pub struct FriendInput<S> {
    inner: S,
    train: SparseRows,
    friends: Vec<Vec<u32>>,
    weight: f32,
}

impl<S> std::fmt::Debug for FriendInput<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FriendInput")
            .field("weight", &self.weight)
            .finish()
    }
}

impl<S: Scorer> FriendInput<S> {
    /// Wraps `inner`; `train` gives the friends' rows (the weighting `inner` expects).
    pub fn new(inner: S, train: &SparseRows, friends: &[Vec<u32>], weight: f32) -> Self {
        FriendInput {
            inner,
            train: train.clone(),
            friends: friends.to_vec(),
            weight,
        }
    }

    /// The augmented input row of `user`: `items`/`weights` plus `weight` times each friend's
    /// unit-normalised row, sorted by item.
    pub fn input(&self, user: usize, items: &[u32], weights: &[f32]) -> (Vec<u32>, Vec<f32>) {
        let mut acc: std::collections::BTreeMap<u32, f32> =
            items.iter().copied().zip(weights.iter().copied()).collect();
        if self.weight != 0.0 {
            for &f in self.friends.get(user).map_or(&[][..], |v| v.as_slice()) {
                let (fi, fw) = self.train.row(f as usize);
                let n = norm(fw).max(1e-9);
                for (&i, &x) in fi.iter().zip(fw) {
                    *acc.entry(i).or_insert(0.0) += self.weight * x / n;
                }
            }
        }
        acc.into_iter().unzip()
    }
}

impl<S: Scorer> Scorer for FriendInput<S> {
    fn score(&self, user: usize, items: &[u32], weights: &[f32], out: &mut [f32]) {
        let (i, w) = self.input(user, items, weights);
        self.inner.score(user, &i, &w, out);
    }
}

/// Divides a model's scores by `popularity^beta` (training listeners, at least 1), the
/// popularity penalty RP3beta applies inside its similarity, here applied to any model's
/// output.
pub struct PopularityPenalty<S> {
    inner: S,
    factor: Vec<f32>,
}

impl<S> std::fmt::Debug for PopularityPenalty<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PopularityPenalty").finish()
    }
}

impl<S: Scorer> PopularityPenalty<S> {
    /// Wraps `inner`; popularity is counted in `train`.
    pub fn new(inner: S, train: &SparseRows, beta: f32) -> Self {
        let factor = train
            .column_counts()
            .iter()
            .map(|&c| (c.max(1) as f32).powf(-beta))
            .collect();
        PopularityPenalty { inner, factor }
    }
}

impl<S: Scorer> Scorer for PopularityPenalty<S> {
    fn score(&self, user: usize, items: &[u32], weights: &[f32], out: &mut [f32]) {
        let mut tmp = vec![0.0f32; out.len()];
        self.inner.score(user, items, weights, &mut tmp);
        for ((o, t), f) in out.iter_mut().zip(&tmp).zip(&self.factor) {
            *o += t * f;
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

    #[test]
    fn popularity_penalty_divides_by_listeners() {
        // Item 0 has 4 listeners, item 1 one: with beta 0.5 popularity scores 4 and 1 become
        // 4 / 2 = 2 and 1 / 1 = 1.
        let t: Vec<(u32, u32, f32)> = (0..4).map(|u| (u, 0, 1.0)).chain([(0, 1, 1.0)]).collect();
        let m = SparseRows::from_triplets(4, 2, &t);
        let p = PopularityPenalty::new(Popularity::fit(&m), &m, 0.5);
        let mut s = vec![0.0; 2];
        p.score(0, &[], &[], &mut s);
        assert!(
            (s[0] - 2.0).abs() < 1e-6 && (s[1] - 1.0).abs() < 1e-6,
            "{s:?}"
        );
    }

    #[test]
    fn friend_input_adds_normalised_friend_rows() {
        // User 0 has item 0 (weight 2); its friend 1 has items 1 and 2 with weights 3 and 4
        // (norm 5), so the input gains 0.5 * 3 / 5 and 0.5 * 4 / 5.
        let m = SparseRows::from_triplets(2, 3, &[(0, 0, 2.0), (1, 1, 3.0), (1, 2, 4.0)]);
        let f = FriendInput::new(Popularity::fit(&m), &m, &[vec![1], vec![]], 0.5);
        let (i, w) = f.input(0, &[0], &[2.0]);
        assert_eq!(i, vec![0, 1, 2]);
        assert!((w[0] - 2.0).abs() < 1e-6 && (w[1] - 0.3).abs() < 1e-6);
        assert!((w[2] - 0.4).abs() < 1e-6);
        // A user without friends gets its own row back.
        assert_eq!(f.input(1, &[1], &[3.0]), (vec![1], vec![3.0]));
    }
}
