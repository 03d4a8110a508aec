//! Scoring and top-k selection.
//!
//! Every model implements [`Scorer`]: given a user's weighted history it writes one score per
//! item. [`top_k`] then picks the best `k` items that the user does not already know.

/// A model that scores every item for one user.
pub trait Scorer {
    /// Adds this model's score of every item to `out` (`out.len()` is the number of items).
    /// `user` is the user's index in the training data; `items` and `weights` its history.
    fn score(&self, user: usize, items: &[u32], weights: &[f32], out: &mut [f32]);
}

/// The `k` best-scored items, best first, skipping items for which `known` is true and items
/// whose score is not finite. Ties are broken by the lower item index, so results are stable.
pub fn top_k(scores: &[f32], k: usize, known: impl Fn(u32) -> bool) -> Vec<u32> {
    let mut cand: Vec<(f32, u32)> = scores
        .iter()
        .enumerate()
        .filter(|&(i, s)| s.is_finite() && !known(i as u32))
        .map(|(i, &s)| (s, i as u32))
        .collect();
    let cmp = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if cand.len() > k && k > 0 {
        cand.select_nth_unstable_by(k - 1, cmp);
        cand.truncate(k);
    }
    cand.sort_by(cmp);
    cand.truncate(k);
    cand.into_iter().map(|(_, i)| i).collect()
}

/// Scales `scores` so that the largest absolute value is 1 (no change if all are 0), which lets
/// [`crate::Blend`] mix models whose scores live on different scales.
pub fn normalise_max(scores: &mut [f32]) {
    let m = scores.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if m > 0.0 && m.is_finite() {
        scores.iter_mut().for_each(|s| *s /= m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_excludes_known_and_breaks_ties() {
        let s = [0.5, 0.9, 0.9, f32::NAN, 0.1, 0.7];
        assert_eq!(top_k(&s, 3, |i| i == 5), vec![1, 2, 0]);
        assert_eq!(top_k(&s, 10, |_| false), vec![1, 2, 5, 0, 4]);
        assert!(top_k(&s, 0, |_| false).is_empty());
        let mut v = [2.0, -4.0];
        normalise_max(&mut v);
        assert_eq!(v, [0.5, -1.0]);
    }
}
