//! Second-order operators `Σᵢⱼ Aᵢⱼ ∂²u/∂xᵢ∂xⱼ` per row, exact or estimated from
//! random directions, all in second-order forward passes (see `taylor`).

use burn::tensor::{ElementConversion, Tensor, TensorData, backend::Backend};

use super::mode::Mode;
use super::taylor::{taylor_rows, with_accumulators};
use super::validate::non_empty_input;
use crate::dual::passes::shared_draws;
use crate::layer::NestedFn;

/// `Σᵢⱼ Aᵢⱼ ∂²u_b/∂xᵢ∂xⱼ` for every row `b` of `x` (`[batch, d]`), for `f` mapping
/// `x` to `u` (`[batch, 1]`) row by row and a symmetric `A` (`[d, d]`): a
/// diffusion operator `∇·(A∇u)` with constant coefficients. `A = I` gives the
/// Laplacian. The result is `[batch]`.
///
/// `A` is factored once, on the host, as `A = Σₖ λₖ qₖqₖᵀ` (Jacobi eigenvalue
/// iteration), and the directions `√|λₖ| qₖ` are the lanes of one second-order
/// forward pass per sign of `λ` (see [`laplacian`](crate::laplacian)): a
/// rank-`r` positive semidefinite `A` costs `r + 1` lanes. `A` is read as a
/// constant: no gradient flows to it. Rows are guarded as in
/// [`laplacian`](crate::laplacian).
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Pure, second_order_operator, tensor_fn};
///
/// // u = x₀²·x₁ per row: ∂₀₀u = 2x₁, ∂₀₁u = 2x₀, ∂₁₁u = 0.
/// tensor_fn!(F, |x: 2| -> 2 {
///     let rows = x.dims()[0];
///     let (a, b) = (x.clone().slice([0..rows, 0..1]), x.slice([0..rows, 1..2]));
///     a.clone() * a * b
/// });
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let x = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0, 2.0], [1, 2]), &device);
/// let a = Tensor::<B, 2>::from_data(TensorData::new(vec![3.0, 1.0, 1.0, 2.0], [2, 2]), &device);
/// // 3·∂₀₀u + 2·∂₀₁u + 2·∂₁₁u = 3·4 + 2·2 + 0 = 16
/// let lu = second_order_operator(&Pure(F), x, a);
/// assert!((lu.into_data().to_vec::<f64>().unwrap()[0] - 16.0).abs() < 1e-12);
/// ```
///
/// # Panics
/// If `x` has no entries, `A` is not `[d, d]` or not symmetric, `f(x)` is not
/// `[batch, 1]`, the rows are found to couple, or `f` meets an op without a second-order
/// rule.
#[track_caller]
pub fn second_order_operator<B, F>(f: &F, x: Tensor<B, 2>, a: Tensor<B, 2>) -> Tensor<B, 1>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    const OP: &str = "second_order_operator";
    non_empty_input(OP, &x.dims());
    let factors = factor(OP, &a, x.dims()[1]);
    let _draws = shared_draws();
    operator(OP, f, &x, &factors, None)
}

/// The random directions of a stochastic estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Entries ±1 with equal probability: the lowest-variance choice for a trace.
    Rademacher,
    /// Standard normal entries.
    Gaussian,
}

/// A stochastic trace estimator: `probes` random directions per row, drawn from
/// `probe` by a generator seeded with `seed` (the same seed gives the same
/// directions on every backend; vary it per training step for fresh draws).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stochastic {
    /// Directions per row (`k`); each is one lane of the forward pass.
    pub probes: usize,
    /// Their distribution.
    pub probe: Probe,
    /// The generator's seed.
    pub seed: u64,
}

impl Stochastic {
    /// `probes` Rademacher directions per row from `seed`.
    pub fn rademacher(probes: usize, seed: u64) -> Self {
        Self {
            probes,
            probe: Probe::Rademacher,
            seed,
        }
    }

    /// `probes` Gaussian directions per row from `seed`.
    pub fn gaussian(probes: usize, seed: u64) -> Self {
        Self {
            probes,
            probe: Probe::Gaussian,
            seed,
        }
    }
}

/// An unbiased estimate of every row's Laplacian, `[batch]`:
/// `(1/k) Σₗ vₗᵀ ∇²u_b vₗ` over `k` random directions `vₗ` with `E[vvᵀ] = I`
/// (Hutchinson's estimator on the Hessian, as in stochastic Taylor
/// derivative estimators). One second-order forward pass with `k` lanes, whatever
/// `d` is: for high-dimensional PDEs, `k ≪ d` directions trade variance for
/// cost. Every row gets its own directions. Inside a loss the estimate stays on the
/// loss's tape, and its gradient is an unbiased estimate of the exact one.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Pure, Stochastic, stochastic_laplacian, tensor_fn};
///
/// // u = ½·Σⱼ xⱼ² has ∇²u = I: Rademacher directions give Δu = d exactly.
/// tensor_fn!(HalfSquare, |x: 2| -> 2 { (x.clone() * x).sum_dim(1) * 0.5 });
/// type B = burn_ndarray::NdArray<f64>;
/// let x = Tensor::<B, 2>::from_data(TensorData::new(vec![0.5; 12], [2, 6]), &Default::default());
/// let lap = stochastic_laplacian(&Pure(HalfSquare), x, Stochastic::rademacher(4, 7));
/// assert_eq!(lap.into_data().to_vec::<f64>().unwrap(), vec![6.0, 6.0]);
/// ```
///
/// # Panics
/// If `x` has no entries, `probes` is zero, `f(x)` is not `[batch, 1]`, the row
/// check fails, or `f` meets an op without a second-order rule.
#[track_caller]
pub fn stochastic_laplacian<B, F>(f: &F, x: Tensor<B, 2>, estimator: Stochastic) -> Tensor<B, 1>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    const OP: &str = "stochastic_laplacian";
    non_empty_input(OP, &x.dims());
    check_probes(OP, &estimator);
    let d = x.dims()[1];
    let identity = Factors {
        positive: (0..d)
            .flat_map(|i| (0..d).map(move |j| f64::from(u8::from(i == j))))
            .collect(),
        negative: Vec::new(),
        identity: true,
    };
    let _draws = shared_draws();
    operator(OP, f, &x, &identity, Some(estimator))
}

/// An unbiased estimate of [`second_order_operator`] from `k` random directions
/// per row: `(1/k) Σₗ (Pvₗ)ᵀ ∇²u_b (Pvₗ)` with `A = PPᵀ` (and the same for the
/// negative part of an indefinite `A`).
///
/// # Panics
/// As [`second_order_operator`] and [`stochastic_laplacian`].
#[track_caller]
pub fn stochastic_operator<B, F>(
    f: &F,
    x: Tensor<B, 2>,
    a: Tensor<B, 2>,
    estimator: Stochastic,
) -> Tensor<B, 1>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    const OP: &str = "stochastic_operator";
    non_empty_input(OP, &x.dims());
    check_probes(OP, &estimator);
    let factors = factor(OP, &a, x.dims()[1]);
    let _draws = shared_draws();
    operator(OP, f, &x, &factors, Some(estimator))
}

/// Panics, naming the estimator `op`, unless it draws at least one probe.
#[track_caller]
fn check_probes(op: &str, estimator: &Stochastic) {
    assert!(
        estimator.probes > 0,
        "burn-nested: `{op}` needs at least one probe, got 0; give `Stochastic::rademacher(k, \
         seed)` or `Stochastic::gaussian(k, seed)` a k of at least 1 (more probes, less \
         variance)"
    );
}

/// `A = PPᵀ − NNᵀ`: the columns of `P` and `N` as rows (`[r, d]`, row-major).
struct Factors {
    positive: Vec<f64>,
    negative: Vec<f64>,
    /// `P = I`, `N` empty: random directions go in as they are.
    identity: bool,
}

/// The exact or estimated operator for factored `A`: one group of passes per
/// non-empty factor, the negative one subtracted (the caller checked the
/// estimator's probes).
#[track_caller]
fn operator<B, F>(
    op: &str,
    f: &F,
    x: &Tensor<B, 2>,
    factors: &Factors,
    estimator: Option<Stochastic>,
) -> Tensor<B, 1>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    let [batch, d] = x.dims();
    let device = x.device();
    let mut total: Option<Tensor<B, 1>> = None;
    let groups = [(&factors.positive, 1.0), (&factors.negative, -1.0)];
    for (i, (rows, sign)) in groups.into_iter().enumerate() {
        let r = rows.len() / d;
        if r == 0 {
            continue;
        }
        let p = Tensor::<B, 2>::from_data(
            TensorData::new(rows.clone(), [r, d]).convert::<B::FloatElem>(),
            &device,
        );
        let (lanes, dirs): (usize, Tensor<B, 3>) = match estimator {
            // Lanes are P's columns, the same in every row.
            None => (r, p.reshape([r, 1, d]).expand([r, batch, d])),
            // Lane l of row b is Pᵀv_lb, v_lb drawn per lane, row and group.
            Some(e) => {
                let v = draws(e, i as u64, e.probes * batch * r);
                let v = Tensor::<B, 3>::from_data(
                    TensorData::new(v, [e.probes, batch, r]).convert::<B::FloatElem>(),
                    &device,
                );
                (
                    e.probes,
                    match factors.identity {
                        true => v,
                        false => v
                            .reshape([e.probes * batch, r])
                            .matmul(p)
                            .reshape([e.probes, batch, d]),
                    },
                )
            }
        };
        let chunk = Mode::Auto.chunk_for(op, lanes, batch * d);
        let t = taylor_rows(op, f, x, lanes, chunk, false, |range, layout| {
            with_accumulators(dirs.clone().slice(range), layout)
        });
        let mut part = t.second.reshape([batch]);
        if let Some(e) = estimator {
            part = part / (e.probes as f64);
        }
        let part = if sign < 0.0 { -part } else { part };
        total = Some(match total {
            Some(t) => t + part,
            None => part,
        });
    }
    // A = 0: the operator is zero.
    total.unwrap_or_else(|| Tensor::zeros([batch], &device))
}

/// `n` draws from `e`'s distribution, stream `stream` of its seed.
fn draws(e: Stochastic, stream: u64, n: usize) -> Vec<f64> {
    let mut state = e.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    match e.probe {
        Probe::Rademacher => (0..n)
            .map(|_| if next() >> 63 == 0 { 1.0 } else { -1.0 })
            .collect(),
        Probe::Gaussian => {
            // Box–Muller, uniforms in (0, 1].
            let mut uniform = move || ((next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            (0..n)
                .map(|_| {
                    let (u1, u2) = (uniform(), uniform());
                    (-2.0 * u1.ln()).sqrt() * (2.0 * core::f64::consts::PI * u2).cos()
                })
                .collect()
        }
    }
}

/// Factors a symmetric `[d, d]` `A` into `PPᵀ − NNᵀ` by its eigenvalues.
///
/// # Panics
/// If `A` is not `[d, d]`, has a non-finite entry, or is not symmetric.
#[track_caller]
fn factor<B: Backend>(op: &str, a: &Tensor<B, 2>, d: usize) -> Factors {
    assert!(
        a.dims() == [d, d],
        "burn-nested: `{op}` needs a coefficient matrix A shaped [d, d] = [{d}, {d}] for x with \
         {d} features, got {:?}; pass A with one row and one column per feature (column) of x",
        a.dims()
    );
    let values: Vec<f64> = a
        .to_data()
        .iter::<B::FloatElem>()
        .map(|v| v.elem::<f64>())
        .collect();
    let scale = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(
        scale.is_finite(),
        "burn-nested: `{op}` got a coefficient matrix A with a non-finite entry (NaN or \
         infinite); A is read as constants, so check the computation that built it"
    );
    let asymmetry = (0..d)
        .flat_map(|i| (0..d).map(move |j| (i, j)))
        .map(|(i, j)| (values[i * d + j] - values[j * d + i]).abs())
        .fold(0.0f64, f64::max);
    // Rounding of an f32 matrix built as M + Mᵀ stays far below this.
    assert!(
        asymmetry <= 1e-6 * scale,
        "burn-nested: `{op}` needs a symmetric coefficient matrix A; |A − Aᵀ| reaches \
         {asymmetry:.3e} (largest |A| entry {scale:.3e}). Only the symmetric part of A acts on a \
         Hessian: pass (A + Aᵀ)/2"
    );
    let (eigenvalues, vectors) = jacobi_eigen(values, d);
    let (mut positive, mut negative) = (Vec::new(), Vec::new());
    // Eigenvalues below rounding of A's scale are dropped (a rank-deficient A
    // needs fewer lanes).
    let tol = 1e-12 * scale * d as f64;
    for (k, &lambda) in eigenvalues.iter().enumerate() {
        let target = match lambda {
            l if l > tol => &mut positive,
            l if l < -tol => &mut negative,
            _ => continue,
        };
        let s = lambda.abs().sqrt();
        target.extend((0..d).map(|i| s * vectors[i * d + k]));
    }
    Factors {
        positive,
        negative,
        identity: false,
    }
}

/// Eigenvalues and eigenvectors (columns of a row-major `[d, d]`) of a symmetric
/// matrix, by cyclic Jacobi rotations.
fn jacobi_eigen(mut a: Vec<f64>, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v: Vec<f64> = (0..d * d)
        .map(|i| f64::from(u8::from(i / d == i % d)))
        .collect();
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).map(move |j| (i, j)))
            .filter(|(i, j)| i != j)
            .map(|(i, j)| a[i * d + j] * a[i * d + j])
            .sum();
        let total: f64 = a.iter().map(|x| x * x).sum();
        if off <= 1e-30 * total.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_reconstructs_an_indefinite_matrix() {
        let a = vec![2.0, -1.0, 0.5, -1.0, -3.0, 0.25, 0.5, 0.25, 1.0];
        let (l, v) = jacobi_eigen(a.clone(), 3);
        for i in 0..3 {
            for j in 0..3 {
                let r: f64 = (0..3).map(|k| l[k] * v[i * 3 + k] * v[j * 3 + k]).sum();
                assert!(
                    (r - a[i * 3 + j]).abs() < 1e-12,
                    "{i} {j}: {r} vs {}",
                    a[i * 3 + j]
                );
            }
        }
        assert!(l.iter().any(|&x| x < 0.0) && l.iter().any(|&x| x > 0.0));
    }

    #[test]
    fn rademacher_and_gaussian_draws_have_unit_second_moment() {
        for e in [Stochastic::rademacher(1, 3), Stochastic::gaussian(1, 3)] {
            let x = draws(e, 0, 200_000);
            let m2 = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
            let m1 = x.iter().sum::<f64>() / x.len() as f64;
            assert!(
                (m2 - 1.0).abs() < 0.02 && m1.abs() < 0.01,
                "{e:?}: {m1} {m2}"
            );
        }
    }
}
