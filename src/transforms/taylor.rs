//! The second-order forward pass over rows (collapsed Taylor mode, the "forward
//! Laplacian"): value, first-order lanes and accumulated second derivatives of a
//! per-row scalar `u = f(x)` in one forward pass, with no backward pass.
//!
//! Each row `b` of `x` (`[batch, d]`) is seeded with directions `v₁..v_k` (lanes)
//! and a zero accumulator. The pass returns `∂u_b/∂vₗ` per lane and, per row,
//! `Σₗ vₗᵀ ∇²u_b vₗ` (collapsed) or each `vₗᵀ ∇²u_b vₗ` (diagonal); see
//! `dual::second` for how the rules carry it. With unit directions the collapsed
//! sum is the Laplacian and the diagonal one `diag(∇²u)`.

use burn::tensor::{Tensor, TensorData, backend::Backend};

use super::engine::{cat_parts, chunks};
use super::pass;
use super::rows::{audited, check_rows, count_row_check, row_direction, row_weights};
use crate::dual::second::{self, Layout};
use crate::layer::NestedFn;
use crate::lift::split;
use crate::settings::count_forward;

/// What second-order passes over all directions give.
pub(crate) struct Taylor<B: Backend> {
    /// `f(x)`, `[batch, 1]`.
    pub value: Tensor<B, 2>,
    /// `Σₗ vₗᵀ∇²u_b vₗ` as `[1, batch]`, or (diagonal) each term, `[k, batch]`.
    pub second: Tensor<B, 2>,
}

/// Second-order passes of `f` at `x` (`[batch, d]`) over `total` directions per
/// row, `chunk` lanes a pass, `dirs(range, layout)` giving the seed of the
/// pass over lanes `range` laid out as `layout`, accumulators included:
/// `[layout.lanes(), batch, d]` ([`unit_seed`], or [`with_accumulators`]).
/// The passes run under the row audit; where it cannot follow the rows,
/// [`check_second_order`] runs.
///
/// # Panics
/// If `f(x)` is not `[batch, 1]`, or the rows are found to couple.
#[allow(clippy::too_many_arguments)]
#[track_caller]
pub(crate) fn taylor_rows<B, F>(
    op: &str,
    f: &F,
    x: &Tensor<B, 2>,
    total: usize,
    chunk: usize,
    diagonal: bool,
    dirs: impl Fn(core::ops::Range<usize>, Layout) -> Tensor<B, 3>,
) -> Taylor<B>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    let ((value, second), guard) = audited::<B, _>(op, &x.dims(), || {
        let mut value = None;
        let mut second = Vec::new();
        for range in chunks(total, chunk) {
            let layout = Layout {
                summed: range.len(),
                extra: 0,
                diagonal,
            };
            count_forward();
            let (y, t) = pass(op, f, x, dirs(range, layout), layout);
            second.push(t.slice(layout.first_order()..layout.lanes()));
            value.get_or_insert(y);
        }
        // Collapsed, each pass has one accumulator lane `[1, batch]`: the passes'
        // are added, where a `cat` and a `sum_dim` would cost one pass a
        // reduction over one lane, and three ops more in an outer backward.
        let second = match diagonal {
            true => cat_parts(second),
            false => second.into_iter().reduce(|a, b| a + b).expect("one pass"),
        };
        (value.expect("at least one pass"), second)
    });
    if guard.check() {
        check_second_order(op, f, x);
    }
    Taylor { value, second }
}

/// The numerical row check of a per-row second-order result, in one more
/// forward pass: lane A seeds the same direction `w` in every row, lane B seeds
/// `τ_b·w` in row `b` (`τ_b ∈ [0.5, 1.5]`), each with its own accumulator. With
/// independent rows B's first derivative is `τ_b` times A's and its second
/// `τ_b²` times A's; a coupling of any order adds cross-row terms weighted by
/// other rows' `τ`, which breaks one of the two equalities.
///
/// # Panics
/// Naming `op`, if either equality fails beyond rounding.
#[track_caller]
pub(crate) fn check_second_order<B, F>(op: &str, f: &F, x: &Tensor<B, 2>)
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    let [batch, d] = x.dims();
    let device = x.device();
    let w = row_direction::<B>(1, d, &device).expand([batch, d]);
    let (tau, _) = row_weights::<B>(batch, &device);
    let dirs = Tensor::stack::<3>(vec![w.clone(), w * tau.clone()], 0);
    let layout = Layout {
        summed: 2,
        extra: 0,
        diagonal: true,
    };
    count_row_check();
    let (_, t) = pass(op, f, x, with_accumulators(dirs, layout), layout);
    // Lanes: A's and B's first derivatives, then A's and B's curvatures.
    let t = t.detach();
    let lane = |i: usize| t.clone().slice(i..i + 1);
    let tau = tau.reshape([1, batch]);
    for (a, b, factor) in [
        (lane(0), lane(1), tau.clone()),
        (lane(2), lane(3), tau.clone() * tau),
    ] {
        let predicted = a.clone() * factor;
        let scale = predicted.clone().abs().max_pair(b.clone().abs());
        check_rows(op, b, predicted, scale);
    }
}

/// One second-order pass from the seed `lanes` (`[layout.lanes(), batch, d]`,
/// accumulators included): the value and the output's lanes `[lanes, batch]`.
fn pass<B, F>(
    op: &str,
    f: &F,
    x: &Tensor<B, 2>,
    lanes: Tensor<B, 3>,
    layout: Layout,
) -> (Tensor<B, 2>, Tensor<B, 2>)
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    let [batch, d] = x.dims();
    let device = x.device();
    let xd = second::seed(x.clone(), lanes, layout);
    let (y, _) = pass::forward(f, xd);
    super::validate::per_row_scalar(op, batch, d, &y.dims());
    second::check_output(op, &y, layout);
    let (value, t) = split::<B, 2, 3>(y);
    let t = match t {
        Some(t) => t.reshape([layout.lanes(), batch]),
        // `u` does not depend on `x`: every derivative is zero.
        None => Tensor::zeros([layout.lanes(), batch], &device),
    };
    (value, t)
}

/// `dirs` (`[first-order lanes, batch, d]`) followed by zero accumulators: the
/// seed of a pass laid out as `layout`.
pub(crate) fn with_accumulators<B: Backend>(dirs: Tensor<B, 3>, layout: Layout) -> Tensor<B, 3> {
    let [_, batch, d] = dirs.dims();
    let zeros = Tensor::zeros([layout.accumulators(), batch, d], &dirs.device());
    Tensor::cat(vec![dirs, zeros], 0)
}

/// The seed of a pass over lanes `range` of the unit directions over `d`
/// features, the same in every row, followed by `accumulators` zero lanes:
/// `[lanes + accumulators, batch, d]`.
///
/// One block `[lanes + accumulators, 1, d]` from host data, broadcast over the
/// rows: an identity built on the device (two `arange`s, a comparison, a cast)
/// and its zeros joined by a `cat` would be six kernels a call, each a kernel
/// more to compile on a GPU.
pub(crate) fn unit_seed<B: Backend>(
    range: core::ops::Range<usize>,
    accumulators: usize,
    d: usize,
    batch: usize,
    device: &B::Device,
) -> Tensor<B, 3> {
    let lanes = range.len() + accumulators;
    let mut block = vec![0.0f64; lanes * d];
    for (lane, k) in range.enumerate() {
        block[lane * d + k] = 1.0;
    }
    let data = TensorData::new(block, [lanes, 1, d]).convert::<B::FloatElem>();
    Tensor::<B, 3>::from_data(data, device).expand([lanes, batch, d])
}

/// Lanes `range` of the unit directions over `d` features, the same in every row:
/// `[lanes, batch, d]`.
pub(crate) fn unit_directions<B: Backend>(
    range: core::ops::Range<usize>,
    d: usize,
    batch: usize,
    device: &B::Device,
) -> Tensor<B, 3> {
    unit_seed::<B>(range, 0, d, batch, device)
}
