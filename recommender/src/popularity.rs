//! The popularity baseline: every user gets the items most users have.

use crate::matrix::SparseRows;
use crate::rank::Scorer;

/// Scores an item by its number of training listeners.
#[derive(Debug, Clone)]
pub struct Popularity {
    counts: Vec<f32>,
}

impl Popularity {
    /// Counts listeners per item in `train`.
    pub fn fit(train: &SparseRows) -> Self {
        Popularity {
            counts: train
                .column_counts()
                .into_iter()
                .map(|c| c as f32)
                .collect(),
        }
    }

    /// Listener count of every item.
    pub fn counts(&self) -> &[f32] {
        &self.counts
    }
}

impl Scorer for Popularity {
    fn score(&self, _user: usize, _items: &[u32], _weights: &[f32], out: &mut [f32]) {
        for (o, c) in out.iter_mut().zip(&self.counts) {
            *o += c;
        }
    }
}
