//! A small compressed-sparse-row matrix of `f32` weights.
//!
//! User-item data is 99.7 % empty, so the models keep it as [`SparseRows`]: row `u` lists the
//! column indices (sorted, distinct) and weights of user `u`. [`SparseRows::transpose`] gives the
//! item-user view that the item models need.

/// A sparse matrix stored row by row, columns sorted and distinct within each row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseRows {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
    ncols: usize,
}

impl SparseRows {
    /// Builds a matrix from `(row, col, value)` triplets; duplicates are summed, rows or columns
    /// outside `nrows` or `ncols` are ignored.
    pub fn from_triplets(nrows: usize, ncols: usize, triplets: &[(u32, u32, f32)]) -> Self {
        let mut sorted: Vec<(u32, u32, f32)> = triplets
            .iter()
            .copied()
            .filter(|&(r, c, _)| (r as usize) < nrows && (c as usize) < ncols)
            .collect();
        sorted.sort_by_key(|&(r, c, _)| (r, c));
        let mut indptr = vec![0usize; nrows + 1];
        let mut indices = Vec::with_capacity(sorted.len());
        let mut values: Vec<f32> = Vec::with_capacity(sorted.len());
        let mut last: Option<(u32, u32)> = None;
        for (r, c, v) in sorted {
            if last == Some((r, c)) {
                if let Some(x) = values.last_mut() {
                    *x += v;
                }
                continue;
            }
            last = Some((r, c));
            indices.push(c);
            values.push(v);
            indptr[r as usize + 1] += 1;
        }
        for r in 0..nrows {
            indptr[r + 1] += indptr[r];
        }
        SparseRows {
            indptr,
            indices,
            values,
            ncols,
        }
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// The column indices and values of row `r` (empty if `r` is out of range).
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        match (self.indptr.get(r), self.indptr.get(r + 1)) {
            (Some(&a), Some(&b)) => (&self.indices[a..b], &self.values[a..b]),
            _ => (&[], &[]),
        }
    }

    /// The column indices of row `r`.
    pub fn row_indices(&self, r: usize) -> &[u32] {
        self.row(r).0
    }

    /// The transposed matrix (columns become rows).
    pub fn transpose(&self) -> SparseRows {
        let mut trip = Vec::with_capacity(self.nnz());
        for r in 0..self.nrows() {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                trip.push((c, r as u32, v));
            }
        }
        SparseRows::from_triplets(self.ncols, self.nrows(), &trip)
    }

    /// A copy with every value replaced by `f(value)`.
    pub fn map_values(&self, f: impl Fn(f32) -> f32) -> SparseRows {
        SparseRows {
            indptr: self.indptr.clone(),
            indices: self.indices.clone(),
            values: self.values.iter().map(|&v| f(v)).collect(),
            ncols: self.ncols,
        }
    }

    /// Number of entries in each column.
    pub fn column_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.ncols];
        for &c in &self.indices {
            counts[c as usize] += 1;
        }
        counts
    }

    /// Iterates over all `(row, col, value)` entries.
    pub fn triplets(&self) -> impl Iterator<Item = (u32, u32, f32)> + '_ {
        (0..self.nrows()).flat_map(move |r| {
            let (cols, vals) = self.row(r);
            cols.iter().zip(vals).map(move |(&c, &v)| (r as u32, c, v))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triplets_are_sorted_summed_and_transposed() {
        let m =
            SparseRows::from_triplets(2, 3, &[(1, 2, 1.0), (0, 1, 2.0), (1, 0, 3.0), (1, 2, 1.0)]);
        assert_eq!(m.row(0), (&[1u32][..], &[2.0f32][..]));
        assert_eq!(m.row(1), (&[0u32, 2][..], &[3.0f32, 2.0][..]));
        let t = m.transpose();
        assert_eq!(t.nrows(), 3);
        assert_eq!(t.row(2), (&[1u32][..], &[2.0f32][..]));
        assert_eq!(m.column_counts(), vec![1, 1, 1]);
        assert_eq!(m.row(7).0.len(), 0);
    }
}
