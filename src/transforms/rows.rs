//! The row guard of the per-row transforms.
//!
//! `batched_jacobian`, `laplacian`, `diag_hessian`, `batched_hessian` and the
//! operators seed the same directions in every row at once, which gives per-row
//! derivatives only if row `b` of the output depends on row `b` of the input
//! alone. A function that couples rows (`BatchNorm` in training, a mean over
//! the batch, attention across it) would otherwise get a silently wrong answer.
//! Every call is guarded, in two layers:
//!
//! 1. **The audit** (`dual::rows`): while the transform's passes evaluate the
//!    function, every `Dual` op that makes a tangent says what it does to rows.
//!    All kept: the per-row result is exact, proved at no numerical cost. One
//!    mixes rows (a reduction, scan or contraction over dim 0): the call panics,
//!    whatever the size of the coupling at this point, so a coupling behind a gate
//!    that starts at zero is refused before it grows.
//! 2. **The numerical check**, only when the audit could not follow the rows (a
//!    reshape that moves the batch, an op without a row rule): one more pass on
//!    that call, whose directions differ from row to row in a way the per-row
//!    result predicts exactly. First order for `batched_jacobian`; second order
//!    (value and curvature) for the others, so a coupling that only second
//!    derivatives see is caught too.
//!
//! There is no schedule and no memory between calls: what one call proves or
//! checks says nothing about the next.

use burn::tensor::{DType, ElementConversion, Tensor, backend::Backend};

use crate::dual::rows::{Verdict, audit};
pub(crate) use crate::settings::count_row_check;
use crate::settings::{count_rows_proved, row_check_enabled};

/// What is left to do after an audited call (see [`audited`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    /// Nothing: the check is off, the input has one row, or the audit proved the
    /// rows apart.
    Done,
    /// The audit could not follow the rows: run the numerical check.
    Check,
}

impl Guard {
    /// Whether the numerical check must run.
    pub(crate) fn check(self) -> bool {
        self == Guard::Check
    }
}

/// Runs `passes` (the transform's passes over `x`'s rows, `dims` its shape; they
/// mark the function's evaluations with `dual::rows::eval`) under the row audit
/// for `Dual<B>`.
///
/// # Panics
/// Naming `op`, if the audit saw an op mix the rows.
#[track_caller]
pub(crate) fn audited<B: Backend, R>(
    op: &str,
    dims: &[usize],
    passes: impl FnOnce() -> R,
) -> (R, Guard) {
    if !row_check_enabled() || dims.first().is_none_or(|&rows| rows < 2) {
        return (passes(), Guard::Done);
    }
    let (result, verdict) = audit::<B, _>(dims[0], passes);
    match verdict {
        Verdict::Proved => {
            count_rows_proved();
            (result, Guard::Done)
        }
        Verdict::Mixed(by) => mixed(op, by),
        Verdict::Unknown(_) => (result, Guard::Check),
    }
}

/// The panic of a function whose rows an op mixed.
#[track_caller]
fn mixed(op: &str, by: &str) -> ! {
    panic!(
        "burn-nested: `{op}` found that the rows of its input are not independent: the function \
         applies `{by}` across the batch (dim 0) to a value that depends on the input, so output \
         row b depends on other input rows. `{op}` seeds every row at once and is only right \
         when output row b depends on input row b alone; a sum or mean over the batch, \
         BatchNorm in training mode or attention across the batch breaks that, even while the \
         coupling is zero at this point (a gate initialised at zero). {}, evaluate such \
         layers in inference mode, or, if the coupling is known not to matter, turn the check \
         off with `with_row_check(false, ..)`",
        full_derivative(op)
    )
}

/// The transform that gives the whole derivative of a function whose rows
/// couple, for the per-row transform `op`.
fn full_derivative(op: &str) -> &'static str {
    match op {
        "batched_jacobian" => {
            "Use `jacobian` for the full Jacobian (every output entry against every input entry)"
        }
        _ => {
            "Use `hessian` of a scalar (one output row, or their sum) for the full second derivative"
        }
    }
}

/// A fixed direction `[batch, k]` that differs from row to row and from feature
/// to feature (entries in `[−1, 1]`; no random stream is touched, so the check
/// is reproducible and does not shift the user's draws).
pub(crate) fn row_direction<B: Backend>(
    batch: usize,
    k: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let index = Tensor::<B, 1, burn::tensor::Int>::arange(0..(batch * k) as i64, device).float();
    // Irrational steps keep the entries from repeating with any row or feature
    // period the model might have.
    (index * 0.754_877_666_246_692_7 + 0.569_840_290_998_053_3)
        .sin()
        .reshape([batch, k])
}

/// Two row weights `[batch, 1]` in `[0.5, 1.5]`, differing from row to row and
/// from each other. Positive and near one, so that a coupling's cross-row terms
/// add up rather than cancel.
pub(crate) fn row_weights<B: Backend>(
    batch: usize,
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let w = row_direction::<B>(batch, 2, device) * 0.5 + 1.0;
    (w.clone().slice([0..batch, 0..1]), w.slice([0..batch, 1..2]))
}

/// A relative tolerance for the check: well above the rounding of a few
/// thousand operations in the dtype, well below a coupling's cross-row terms.
fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-7,
        DType::F16 | DType::BF16 => 5e-2,
        _ => 2e-3,
    }
}

/// Panics, naming `op`, unless `got` (the result of the row-varying lane) equals
/// `predicted` (the per-row result applied to it) up to rounding: within the
/// tolerance times the largest of `scale` (the magnitude rounding is relative
/// to). NaN results are not judged: they already show. The caller counts the
/// check ([`count_row_check`]), once however many comparisons it makes.
#[track_caller]
pub(crate) fn check_rows<B: Backend, const D: usize>(
    op: &str,
    got: Tensor<B, D>,
    predicted: Tensor<B, D>,
    scale: Tensor<B, D>,
) {
    let tol = tolerance(got.dtype());
    let err: f64 = (got.detach() - predicted.detach())
        .abs()
        .max()
        .into_scalar()
        .elem();
    let scale: f64 = scale.detach().max().into_scalar().elem();
    if err > tol * scale + f64::MIN_POSITIVE {
        panic!(
            "burn-nested: `{op}` found that the rows of its input are not independent: a \
             direction that differs from row to row changed the output by {err:.3e} more than \
             the per-row derivatives predict (scale {scale:.3e}). `{op}` seeds every row at \
             once and is only right when output row b depends on input row b alone; a layer \
             that mixes rows (BatchNorm in training mode, attention or a sum over the batch) \
             breaks that. {}, evaluate such layers in inference mode, or, if the rows are \
             known to be independent, turn the check off with `with_row_check(false, ..)`",
            full_derivative(op)
        );
    }
}

/// `(Σ_k a·b, Σ_k |a|·|b|)` over dim `dim`: a contraction and the scale of its
/// rounding error.
pub(crate) fn contract<B: Backend, const D: usize>(
    a: Tensor<B, D>,
    b: Tensor<B, D>,
    dim: usize,
) -> (Tensor<B, D>, Tensor<B, D>) {
    let scale = (a.clone().abs() * b.clone().abs()).sum_dim(dim);
    ((a * b).sum_dim(dim), scale)
}

/// Lanes `range` of the row-wise basis over `k` features: lane `j < k` holds unit
/// vector `j` in every row, lane `k` the row-varying `row_dir` (`[batch, k]`).
/// Shaped `[lanes, batch·k]`.
pub(crate) fn row_basis_lanes<B: Backend>(
    range: core::ops::Range<usize>,
    k: usize,
    batch: usize,
    row_dir: Option<&Tensor<B, 2>>,
    device: &B::Device,
) -> Tensor<B, 2> {
    let mut parts = Vec::new();
    let unit = range.start.min(k)..range.end.min(k);
    if !unit.is_empty() {
        let lanes = unit.len();
        parts.push(
            super::engine::basis::<B>(unit, k, device)
                .reshape([lanes, 1, k])
                .expand([lanes, batch, k])
                .reshape([lanes, batch * k]),
        );
    }
    if range.contains(&k) {
        let dir = row_dir.expect("the row-varying lane is only asked for when checking");
        parts.push(dir.clone().reshape([1, batch * k]));
    }
    super::engine::cat_parts(parts)
}
