//! The residual-space linear algebra of an ENGD step on the host, in f64: the
//! Gram matrix `J Jᵀ` (`N × N`, `N` the number of residuals, a few thousand at
//! most), its Cholesky factorisation and the solve. Both large parts are
//! blocked so that their `O(N²P)` and `O(N³)` work runs through ndarray's
//! threaded GEMM, and both touch the lower triangle only (the matrix is
//! symmetric): the entries above the diagonal are left unset. The blocks of
//! rows go to rayon's threads: each block's GEMM is too short in its rows for
//! matrixmultiply to split it across threads itself.

use ndarray::linalg::general_mat_mul;
use ndarray::parallel::prelude::*;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, s};

/// Rows per block: large enough for the GEMM to run at speed, small enough that
/// the wasted upper part of each diagonal block stays a few per cent.
const BLOCK: usize = 64;

/// The message of a shape these functions' callers guarantee.
const SHAPE: &str = "burn-nested: ENGD's host linear algebra got a buffer whose length does not \
                     match its shape, which `Engd::direction` guarantees: please report this as \
                     a bug";

/// The lower triangle of `J Jᵀ` for a row-major `J` (`rows × cols`), row-major
/// `rows × rows`, from one product per block of rows: rows `a..b` of `J` times
/// rows `..b`, about half of the full product's work.
pub(crate) fn lower_gram(jacobian: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let j = ArrayView2::from_shape((rows, cols), jacobian).expect(SHAPE);
    let mut gram = Array2::<f64>::zeros((rows, rows));
    gram.axis_chunks_iter_mut(Axis(0), BLOCK)
        .into_par_iter()
        .enumerate()
        .for_each(|(block, mut out)| {
            let (start, end) = (block * BLOCK, block * BLOCK + out.nrows());
            let (these, earlier) = (j.slice(s![start..end, ..]), j.slice(s![..end, ..]));
            general_mat_mul(
                1.0,
                &these,
                &earlier.t(),
                0.0,
                &mut out.slice_mut(s![.., ..end]),
            );
        });
    gram.into_raw_vec_and_offset().0
}

/// `Jᵀ α` (`cols`) for a row-major `J` (`rows × cols`).
pub(crate) fn transposed_times(
    jacobian: &[f64],
    rows: usize,
    cols: usize,
    alpha: &[f64],
) -> Vec<f64> {
    let j = ArrayView2::from_shape((rows, cols), jacobian).expect(SHAPE);
    let a = ArrayView2::from_shape((1, rows), alpha).expect(SHAPE);
    let mut out = Array2::<f64>::zeros((1, cols));
    general_mat_mul(1.0, &a, &j, 0.0, &mut out);
    out.into_raw_vec_and_offset().0
}

/// The lower Cholesky factor of a symmetric positive-definite `n × n` matrix
/// (row-major, lower triangle read), factored in place, or the first pivot (its
/// index and value) not above `floor`: a pivot at rounding level means the
/// matrix is singular to working precision, and its solve would be noise.
///
/// Right-looking and blocked: each block column is factored (its diagonal block
/// directly, the rows below by forward substitution), then the lower part of
/// the trailing matrix is updated by one GEMM per block of rows.
pub(crate) fn factor(mut matrix: Vec<f64>, n: usize, floor: f64) -> Result<Vec<f64>, (usize, f64)> {
    assert_eq!(matrix.len(), n * n, "{SHAPE}");
    let mut panel = Vec::new();
    for k0 in (0..n).step_by(BLOCK) {
        let k1 = (k0 + BLOCK).min(n);
        let a = &mut matrix;
        for i in k0..n {
            for j in k0..(i + 1).min(k1) {
                // Rows i and j of L over this block's columns: contiguous, so
                // the dot product vectorises; earlier columns are already in.
                let s = a[i * n + j] - dot(&a[i * n + k0..i * n + j], &a[j * n + k0..j * n + j]);
                if i == j {
                    // A NaN pivot fails too.
                    if s.is_nan() || s <= floor || s.is_infinite() {
                        return Err((i, s));
                    }
                    a[i * n + i] = s.sqrt();
                } else {
                    a[i * n + j] = s / a[j * n + j];
                }
            }
        }
        if k1 == n {
            break;
        }
        // The block column below the diagonal, copied so that the GEMM reads it
        // while it writes the trailing matrix.
        let width = k1 - k0;
        panel.clear();
        for i in k1..n {
            panel.extend_from_slice(&a[i * n + k0..i * n + k1]);
        }
        let panel = ArrayView2::from_shape((n - k1, width), &panel[..]).expect("panel shape");
        let mut system = ArrayViewMut2::from_shape((n, n), &mut a[..]).expect("system shape");
        system
            .slice_mut(s![k1.., k1..])
            .axis_chunks_iter_mut(Axis(0), BLOCK)
            .into_par_iter()
            .enumerate()
            .for_each(|(block, mut out)| {
                // Rows r0..r1 of the trailing matrix, columns up to r1.
                let (r0, r1) = (block * BLOCK, block * BLOCK + out.nrows());
                let (rows, cols) = (panel.slice(s![r0..r1, ..]), panel.slice(s![..r1, ..]));
                general_mat_mul(
                    -1.0,
                    &rows,
                    &cols.t(),
                    1.0,
                    &mut out.slice_mut(s![.., ..r1]),
                );
            });
    }
    Ok(matrix)
}

/// Solves `L Lᵀ x = b` for the factor `l` of [`factor`].
pub(crate) fn solve(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut y = b.to_vec();
    for i in 0..n {
        let s = y[i] - dot(&l[i * n..i * n + i], &y[..i]);
        y[i] = s / l[i * n + i];
    }
    // Back substitution with Lᵀ: column access of L, row by row from the end.
    for i in (0..n).rev() {
        let yi = y[i] / l[i * n + i];
        y[i] = yi;
        for (k, yk) in y.iter_mut().enumerate().take(i) {
            *yk -= l[i * n + k] * yi;
        }
    }
    y
}

/// `Σ aₖ bₖ` with four accumulators (the compiler vectorises them).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc[0] + acc[1] + acc[2] + acc[3] + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform draws in `[-0.5, 0.5)` from a fixed linear congruential stream.
    fn draws(count: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
            })
            .collect()
    }

    /// `A Aᵀ` for a row-major `rows × cols` `A`, every entry, the plain way.
    fn plain_gram(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
        let mut m = vec![0.0; rows * rows];
        for i in 0..rows {
            for j in 0..rows {
                m[i * rows + j] = (0..cols).map(|k| a[i * cols + k] * a[j * cols + k]).sum();
            }
        }
        m
    }

    /// The blocked lower triangle equals the plain product's, at sizes below,
    /// at and across the block size.
    #[test]
    fn the_blocked_gram_matrix_is_the_product() {
        let mut checked = 0;
        for (rows, cols) in [(37, 5), (64, 3), (200, 70), (129, 1)] {
            let j = draws(rows * cols, rows as u64);
            let (want, got) = (plain_gram(&j, rows, cols), lower_gram(&j, rows, cols));
            for i in 0..rows {
                for k in 0..=i {
                    let (w, g) = (want[i * rows + k], got[i * rows + k]);
                    assert!(
                        (w - g).abs() < 1e-12,
                        "{rows}×{cols} at ({i}, {k}): {g} vs {w}"
                    );
                    checked += 1;
                }
            }
            let alpha = draws(rows, 7);
            let got = transposed_times(&j, rows, cols, &alpha);
            for (c, g) in got.iter().enumerate() {
                let w: f64 = (0..rows).map(|r| alpha[r] * j[r * cols + c]).sum();
                assert!((w - g).abs() < 1e-12, "Jᵀα entry {c}: {g} vs {w}");
            }
        }
        assert_eq!(checked, 703 + 2080 + 20100 + 8385);
    }

    /// A random SPD matrix `A Aᵀ + n·I`: the solve reproduces a known solution,
    /// at sizes below, at and across the block size (the blocked updates).
    #[test]
    fn solves_a_positive_definite_system() {
        for n in [37, 64, 200] {
            let a = draws(n * n, 12345 + n as u64);
            let mut m = plain_gram(&a, n, n);
            for i in 0..n {
                m[i * n + i] += n as f64;
            }
            let x = draws(n, 99);
            let b: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| m[i * n + j] * x[j]).sum())
                .collect();
            // Only the lower triangle is read: garbage above it changes nothing.
            for i in 0..n {
                for j in i + 1..n {
                    m[i * n + j] = f64::NAN;
                }
            }
            let l = factor(m, n, 0.0).expect("positive definite");
            let got = solve(&l, n, &b);
            let err = got
                .iter()
                .zip(&x)
                .fold(0f64, |e, (g, w)| e.max((g - w).abs()));
            assert!(err < 1e-12, "n {n}: solve error {err}");
        }
    }

    #[test]
    fn reports_the_first_non_positive_pivot() {
        let first_bad = |m: Vec<f64>, n, floor| factor(m, n, floor).map(|_| ());
        // [[1, 2], [2, 1]] is indefinite: the second pivot is 1 − 4 = −3.
        assert_eq!(first_bad(vec![1.0, 2.0, 2.0, 1.0], 2, 0.0), Err((1, -3.0)));
        // Singular to working precision: a pivot at rounding level is refused.
        let floor = 2.0 * f64::EPSILON;
        assert_eq!(first_bad(vec![1.0, 1.0, 1.0, 1.0], 2, floor), Err((1, 0.0)));
        // Past the first block: rows 100 and 101 equal make pivot 101 vanish.
        let n = 150;
        let mut a = draws(n * n, 5);
        let row: Vec<f64> = a[100 * n..101 * n].to_vec();
        a[101 * n..102 * n].copy_from_slice(&row);
        let m = plain_gram(&a, n, n);
        match first_bad(m, n, 1e-9) {
            Err((101, v)) => assert!(v.abs() < 1e-9, "pivot 101 is {v}"),
            other => panic!("expected pivot 101 to fail, got {other:?}"),
        }
    }
}
