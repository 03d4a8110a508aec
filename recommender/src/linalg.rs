//! Dense linear algebra the models need, in pure Rust on top of ndarray.
//!
//! EASE needs the inverse of a regularised Gram matrix of a few thousand items. No system
//! BLAS or LAPACK may be required to build Busker, so [`invert_spd`] does a blocked
//! Gauss-Jordan (principal pivot) inversion whose work is almost all in ndarray's matrix product
//! (the `matrixmultiply` kernels, SIMD on x86-64): about `2 n^3` flops, a few seconds for
//! `n = 5000` in single precision.

use ndarray::{Array2, ArrayView2, linalg::general_mat_mul, s};

use crate::error::{Error, Result};

/// Inverts a small square block by Gauss-Jordan elimination in `f64` without pivoting (the
/// blocks met by [`invert_spd`] are Schur complements of a positive definite matrix).
fn invert_small(a: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
    let n = a.nrows();
    let mut m: Array2<f64> = a.mapv(f64::from);
    let mut inv: Array2<f64> = Array2::eye(n);
    for k in 0..n {
        let p = m[[k, k]];
        if !(p.is_finite() && p > 1e-12) {
            return Err(Error::Singular);
        }
        for j in 0..n {
            m[[k, j]] /= p;
            inv[[k, j]] /= p;
        }
        for i in 0..n {
            if i != k {
                let f = m[[i, k]];
                if f != 0.0 {
                    for j in 0..n {
                        m[[i, j]] -= f * m[[k, j]];
                        inv[[i, j]] -= f * inv[[k, j]];
                    }
                }
            }
        }
    }
    Ok(inv.mapv(|x| x as f32))
}

/// Inverts a symmetric positive definite matrix in place, `block` pivots at a time.
///
/// Each step exchanges a block `K` of variables: `A_KK <- A_KK^-1`, `A_RK <- A_RK A_KK^-1`,
/// `A_KR <- -A_KK^-1 A_KR`, `A_RR <- A_RR - A_RK A_KK^-1 A_KR`. After all blocks, `A` holds its
/// inverse.
pub fn invert_spd(mut a: Array2<f32>, block: usize) -> Result<Array2<f32>> {
    let n = a.nrows();
    if a.ncols() != n || block == 0 {
        return Err(Error::InvalidParameter(
            "invert_spd needs a square matrix and block > 0",
        ));
    }
    let mut k0 = 0;
    while k0 < n {
        let k1 = (k0 + block).min(n);
        let p = invert_small(a.slice(s![k0..k1, k0..k1]))?;
        let c = a.slice(s![.., k0..k1]).to_owned();
        let r = a.slice(s![k0..k1, ..]).to_owned();
        let cp = c.dot(&p);
        general_mat_mul(-1.0, &cp, &r, 1.0, &mut a);
        a.slice_mut(s![.., k0..k1]).assign(&cp);
        let pr = p.dot(&r);
        a.slice_mut(s![k0..k1, ..]).assign(&pr.mapv(|x| -x));
        a.slice_mut(s![k0..k1, k0..k1]).assign(&p);
        k0 = k1;
    }
    if a.iter().all(|x| x.is_finite()) {
        Ok(a)
    } else {
        Err(Error::Singular)
    }
}

/// Dot product with four running sums (independent, so the loop can use SIMD lanes).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, xi), yi) in acc.iter_mut().zip(x).zip(y) {
            *s += xi * yi;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// The Cholesky factor of a symmetric positive definite matrix, in `f64`: `a` (`n x n`,
/// row-major, only its lower triangle read) becomes `L` with `A = L L^T` in its lower triangle
/// (the upper triangle is left as it was). About `n^3 / 6` multiply-adds, a third of what
/// [`invert_spd`] does: for a system or the diagonal of the inverse, no inverse is needed.
pub fn cholesky(a: &mut [f64], n: usize) -> Result<()> {
    if a.len() != n * n {
        return Err(Error::InvalidParameter("cholesky needs an n x n matrix"));
    }
    for i in 0..n {
        let (done, rest) = a.split_at_mut(i * n);
        let row = &mut rest[..n];
        for j in 0..i {
            let lj = &done[j * n..j * n + j + 1];
            let s = row[j] - dot(&row[..j], &lj[..j]);
            row[j] = s / lj[j];
        }
        let d = row[i] - dot(&row[..i], &row[..i]);
        if !(d.is_finite() && d > 0.0) {
            return Err(Error::Singular);
        }
        row[i] = d.sqrt();
    }
    Ok(())
}

/// With `l` a Cholesky factor of `A` (from [`cholesky`]): solves `A z = x` in place.
pub fn cholesky_solve(l: &[f64], n: usize, x: &mut [f64]) {
    for i in 0..n {
        let row = &l[i * n..i * n + i + 1];
        x[i] = (x[i] - dot(&row[..i], &x[..i])) / row[i];
    }
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * x[k]).sum();
        x[i] = (x[i] - s) / l[i * n + i];
    }
}

/// With `l` a Cholesky factor of `A` (from [`cholesky`]): `(A^-1)_jj`, the squared norm of
/// column `j` of `L^-1` (one forward substitution from row `j` on; `y` is scratch of length `n`).
pub fn cholesky_inverse_diagonal(l: &[f64], n: usize, j: usize, y: &mut [f64]) -> f64 {
    let mut sum = 0.0;
    for i in j..n {
        let row = &l[i * n..i * n + i + 1];
        let rhs = if i == j { 1.0 } else { 0.0 };
        y[i] = (rhs - dot(&row[j..i], &y[j..i])) / row[i];
        sum += y[i] * y[i];
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_and_gives_the_inverse_diagonal() {
        let n = 23;
        let x = Array2::from_shape_fn((40, n), |(i, j)| {
            (((i * 7 + j * 11) % 9) as f32 - 4.0) / 4.0
        });
        let a = x.t().dot(&x) + Array2::<f32>::eye(n);
        let inv = invert_spd(a.clone(), 8).unwrap();
        let mut l: Vec<f64> = a.iter().map(|&v| f64::from(v)).collect();
        cholesky(&mut l, n).unwrap();
        let b: Vec<f64> = (0..n).map(|i| (i % 5) as f64 - 2.0).collect();
        let mut z = b.clone();
        cholesky_solve(&l, n, &mut z);
        let mut y = vec![0.0; n];
        for i in 0..n {
            // A z = b, checked row by row.
            let az: f64 = (0..n).map(|k| f64::from(a[[i, k]]) * z[k]).sum();
            assert!((az - b[i]).abs() < 1e-9, "row {i}: {az} vs {}", b[i]);
            let d = cholesky_inverse_diagonal(&l, n, i, &mut y);
            assert!((d - f64::from(inv[[i, i]])).abs() < 1e-4, "({i},{i}): {d}");
        }
        let mut zero = vec![0.0; 9];
        assert_eq!(cholesky(&mut zero, 3).unwrap_err(), Error::Singular);
        assert!(cholesky(&mut [1.0, 0.0], 2).is_err());
    }

    #[test]
    fn inverse_times_matrix_is_identity() {
        let n = 37;
        // A = X^T X + I with a deterministic pseudo-random X.
        let x = Array2::from_shape_fn((50, n), |(i, j)| {
            (((i * 31 + j * 17) % 13) as f32 - 6.0) / 6.0
        });
        let a = x.t().dot(&x) + Array2::<f32>::eye(n);
        for block in [1, 5, 8, 64] {
            let inv = invert_spd(a.clone(), block).unwrap();
            let id = a.dot(&inv);
            for ((i, j), v) in id.indexed_iter() {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-3, "block {block} ({i},{j}) = {v}");
            }
        }
    }

    #[test]
    fn singular_and_non_square_are_errors() {
        assert_eq!(
            invert_spd(Array2::zeros((3, 3)), 2).unwrap_err(),
            Error::Singular
        );
        assert!(invert_spd(Array2::zeros((3, 2)), 2).is_err());
    }
}
