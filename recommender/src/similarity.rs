//! Similarity between sparse weighted vectors (sorted index lists with weights).
//!
//! Cosine similarity is what both kNN models and the peer-to-peer neighbourhood use; a shrink
//! term damps similarities that rest on very few shared items.

/// Dot product of two sparse vectors whose indices are sorted ascending.
pub fn sparse_dot<K: Ord>(a: &[K], wa: &[f32], b: &[K], wb: &[f32]) -> (f32, usize) {
    let (mut i, mut j, mut dot, mut common) = (0, 0, 0.0f32, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                dot += wa[i] * wb[j];
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    (dot, common)
}

/// Euclidean norm of a weight vector.
pub fn norm(w: &[f32]) -> f32 {
    w.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Cosine similarity of two sparse vectors, `dot / (|a| |b| + shrink)`; 0 for empty vectors.
pub fn cosine<K: Ord>(a: &[K], wa: &[f32], b: &[K], wb: &[f32], shrink: f32) -> f32 {
    let (dot, _) = sparse_dot(a, wa, b, wb);
    let d = norm(wa) * norm(wb) + shrink;
    if d > 0.0 { dot / d } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_by_hand() {
        let c = cosine(
            &[1u32, 3, 5],
            &[1.0, 2.0, 2.0],
            &[3u32, 4],
            &[3.0, 4.0],
            0.0,
        );
        assert!((c - 6.0 / 15.0).abs() < 1e-6);
        assert_eq!(cosine::<u32>(&[], &[], &[1], &[1.0], 0.0), 0.0);
        assert_eq!(
            sparse_dot(&[1u32, 2], &[1.0, 1.0], &[2u32], &[3.0]),
            (3.0, 1)
        );
    }
}
