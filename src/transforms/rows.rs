//! The row check of the per-row transforms.
//!
//! `batched_jacobian` and `laplacian` seed the same direction in every row at
//! once, which gives per-row derivatives only if row `b` of the output depends on
//! row `b` of the input alone. A model that couples rows (`BatchNorm` in training,
//! attention across the batch) would otherwise get a silently wrong answer. The
//! check adds one lane whose direction differs from row to row: with independent
//! rows its result is each row's derivative applied to that row's direction,
//! which the transform can compute from its own per-row result; a coupling adds
//! cross-row terms that break the equality.
//!
//! A lane is not free where rows have few features (a per-row PINN gradient has
//! one, a 2-D Laplacian two: one more lane is half the tangent work again), so a
//! function with a [`structure_key`](crate::NestedFn::structure_key) is checked on
//! its first call with that key, input shape and train/eval mode, and then once
//! every [`ROW_RECHECK_EVERY`] calls; one without a key on every call.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use burn::tensor::{DType, ElementConversion, Tensor, backend::Backend};

use super::policy::ROW_RECHECK_EVERY;
use super::switching::{count_row_check, row_check_enabled};
use crate::layer::NestedFn;

/// Calls since the last passed check, per (structure key, input shape, mode).
fn schedule() -> &'static Mutex<HashMap<u64, usize>> {
    static SCHEDULE: OnceLock<Mutex<HashMap<u64, usize>>> = OnceLock::new();
    SCHEDULE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// At most this many functions are remembered; past it the memory starts afresh
/// (every function is then checked once more).
const SCHEDULE_CAPACITY: usize = 4096;

/// When a per-row transform of `f` at an input of shape `dims` must check its
/// rows: skip when the check is off, the input has one row, or a check of the
/// same function (same structure key, shape and mode) passed fewer than
/// [`ROW_RECHECK_EVERY`] calls ago.
pub(crate) fn due<B, F, const DI: usize, const DO: usize>(
    f: &F,
    dims: &[usize],
    inside: bool,
) -> Due
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    if !row_check_enabled() || dims.first().is_none_or(|&rows| rows < 2) {
        return Due::Skip;
    }
    let Some(key) = f.structure_key() else {
        return Due::Check(None);
    };
    let key = crate::layer::key_of((key, dims, inside));
    let mut schedule = schedule().lock().unwrap_or_else(|e| e.into_inner());
    match schedule.get_mut(&key) {
        Some(calls) => {
            *calls += 1;
            if *calls >= ROW_RECHECK_EVERY {
                Due::Check(Some(key))
            } else {
                Due::Skip
            }
        }
        None => Due::Check(Some(key)),
    }
}

/// Whether a per-row transform checks its rows on this call (see [`due`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// No check on this call.
    Skip,
    /// Check; on success report the key (if any) to [`passed`].
    Check(Option<u64>),
}

impl Due {
    /// Whether to check.
    pub(crate) fn now(self) -> bool {
        matches!(self, Due::Check(_))
    }
}

/// Records a passed check, so the same function skips the next
/// [`ROW_RECHECK_EVERY`]` − 1` checks.
fn passed(due: Due) {
    if let Due::Check(Some(key)) = due {
        let mut schedule = schedule().lock().unwrap_or_else(|e| e.into_inner());
        if schedule.len() >= SCHEDULE_CAPACITY {
            schedule.clear();
        }
        schedule.insert(key, 0);
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
/// tolerance times the largest of `scale` (`Σ |per-row derivative| |direction|`,
/// the magnitude rounding is relative to). NaN results are not judged: they
/// already show.
pub(crate) fn check_rows<B: Backend, const D: usize>(
    op: &str,
    due: Due,
    got: Tensor<B, D>,
    predicted: Tensor<B, D>,
    scale: Tensor<B, D>,
) {
    count_row_check();
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
             breaks that. Use `jacobian` for the full derivative, evaluate such layers in \
             inference mode, or, if the rows are known to be independent, turn the check off \
             with `with_row_check(false, ..)`"
        );
    }
    passed(due);
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
    Tensor::cat(parts, 0)
}
