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

#[cfg(test)]
mod tests {
    use super::*;

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
