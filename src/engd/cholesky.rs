//! A dense Cholesky factorisation and solve on the host, in f64: the
//! residual-space system of an ENGD step (`N × N`, `N` the number of residuals,
//! a few thousand at most) is small enough that a straightforward factorisation
//! costs less than forming it.

/// The lower Cholesky factor of a symmetric positive-definite `n × n` matrix
/// (row-major), or the first pivot (its index and value) not above `floor`: a
/// pivot at rounding level means the matrix is singular to working precision,
/// and its solve would be noise.
pub(crate) fn factor(matrix: &[f64], n: usize, floor: f64) -> Result<Vec<f64>, (usize, f64)> {
    debug_assert_eq!(matrix.len(), n * n);
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            // Rows i and j of L up to column j: contiguous, so the dot product
            // vectorises.
            let (row_i, row_j) = (&l[i * n..i * n + j], &l[j * n..j * n + j]);
            let s = matrix[i * n + j] - dot(row_i, row_j);
            if i == j {
                // A NaN pivot fails too.
                if s.is_nan() || s <= floor || s.is_infinite() {
                    return Err((i, s));
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Ok(l)
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

    /// A random SPD matrix `A Aᵀ + n·I`: the solve reproduces a known solution.
    #[test]
    fn solves_a_positive_definite_system() {
        let n = 37;
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let a: Vec<f64> = (0..n * n).map(|_| next()).collect();
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                m[i * n + j] = (0..n).map(|k| a[i * n + k] * a[j * n + k]).sum::<f64>()
                    + if i == j { n as f64 } else { 0.0 };
            }
        }
        let x: Vec<f64> = (0..n).map(|_| next()).collect();
        let b: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| m[i * n + j] * x[j]).sum())
            .collect();
        let l = factor(&m, n, 0.0).expect("positive definite");
        let got = solve(&l, n, &b);
        let err = got
            .iter()
            .zip(&x)
            .fold(0f64, |e, (g, w)| e.max((g - w).abs()));
        assert!(err < 1e-12, "solve error {err}");
    }

    #[test]
    fn reports_the_first_non_positive_pivot() {
        // [[1, 2], [2, 1]] is indefinite: the second pivot is 1 − 4 = −3.
        assert_eq!(factor(&[1.0, 2.0, 2.0, 1.0], 2, 0.0), Err((1, -3.0)));
        // Singular to working precision: a pivot at rounding level is refused.
        let floor = 2.0 * f64::EPSILON;
        assert_eq!(factor(&[1.0, 1.0, 1.0, 1.0], 2, floor), Err((1, 0.0)));
    }
}
