//! Turning what a listener did into one weight per item.
//!
//! Implicit feedback dominates: a play count `c` becomes `ln(1 + c)`, so that the thousandth play
//! of an artist counts far less than the first few (Last.fm counts reach 352,698). Skips count
//! against an item, explicit stars shift it up or down. The same transform feeds the centralised
//! models, the simulation and a live peer's [`crate::TasteProfile`].
//!
//! ```
//! use busker_recommender::{Feedback, implicit_weight};
//! assert!((implicit_weight(0.0)).abs() < 1e-6);
//! let liked = Feedback { plays: 10, skips: 0, stars: Some(5) };
//! let skipped = Feedback { plays: 10, skips: 8, stars: None };
//! assert!(liked.weight() > skipped.weight());
//! ```

/// The implicit weight of a play count: `ln(1 + count)` (negative counts count as 0).
pub fn implicit_weight(count: f32) -> f32 {
    count.max(0.0).ln_1p()
}

/// What one listener did with one item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Feedback {
    /// Plays that were listened through (or mostly).
    pub plays: u32,
    /// Plays that were skipped early.
    pub skips: u32,
    /// Explicit rating, 1..=5 stars; `None` when not rated.
    pub stars: Option<u8>,
}

impl Feedback {
    /// The item's weight in the listener's taste vector.
    ///
    /// `ln(1 + plays - skips / 2)` for the implicit part (a skip cancels half a play), plus
    /// `(stars - 3) / 2` for an explicit rating, so 5 stars add 1.0 and 1 star subtracts 1.0.
    /// The result may be negative (disliked); profiles keep only positive weights.
    pub fn weight(&self) -> f32 {
        let implicit = implicit_weight(self.plays as f32 - self.skips as f32 / 2.0);
        let explicit = match self.stars {
            Some(s @ 1..=5) => (f32::from(s) - 3.0) / 2.0,
            _ => 0.0,
        };
        implicit + explicit
    }
}

/// How raw play counts become weights in the centralised models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weighting {
    /// Every interaction weighs 1.
    Binary,
    /// `ln(1 + count)`, see [`implicit_weight`].
    Log1p,
}

impl Weighting {
    /// Applies the weighting to one raw count.
    pub fn apply(self, count: f32) -> f32 {
        match self {
            Weighting::Binary => 1.0,
            Weighting::Log1p => implicit_weight(count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert!((implicit_weight(1.0) - 2f32.ln()).abs() < 1e-6);
        assert_eq!(implicit_weight(-5.0), 0.0);
        let f = Feedback {
            plays: 0,
            skips: 0,
            stars: Some(1),
        };
        assert!((f.weight() + 1.0).abs() < 1e-6);
        let f = Feedback {
            plays: 0,
            skips: 0,
            stars: Some(9),
        };
        assert_eq!(f.weight(), 0.0);
        assert_eq!(Weighting::Binary.apply(100.0), 1.0);
    }
}
