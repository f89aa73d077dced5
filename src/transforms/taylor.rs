//! The second-order forward pass over rows (collapsed Taylor mode, the "forward
//! Laplacian"): value, first-order lanes and accumulated second derivatives of a
//! per-row scalar `u = f(x)` in one forward pass, with no backward pass.
//!
//! Each row `b` of `x` (`[batch, d]`) is seeded with directions `v₁..v_k` (lanes)
//! and a zero accumulator. The pass returns `∂u_b/∂vₗ` per lane and, per row,
//! `Σₗ vₗᵀ ∇²u_b vₗ` (collapsed) or each `vₗᵀ ∇²u_b vₗ` (diagonal); see
//! `dual::second` for how the rules carry it. With unit directions the collapsed
//! sum is the Laplacian and the diagonal one `diag(∇²u)`.

use burn::tensor::{Tensor, backend::Backend};

use super::engine::chunks;
use super::rows::{Due, check_rows, contract, row_direction};
use super::switching::count_forward;
use crate::dual::passes::begin_pass;
use crate::dual::second::{Layout, with_layout};
use crate::layer::NestedFn;
use crate::lift::{seed, split};

/// What second-order passes over all directions give.
pub(crate) struct Taylor<B: Backend> {
    /// `f(x)`, `[batch, 1]`.
    pub value: Tensor<B, 2>,
    /// `Σₗ vₗᵀ∇²u_b vₗ` as `[1, batch]`, or (diagonal) each term, `[k, batch]`.
    pub second: Tensor<B, 2>,
}

/// Second-order passes of `f` at `x` (`[batch, d]`) over `total` directions per
/// row, `chunk` lanes a pass, `dirs(range)` giving lanes `range` as
/// `[lanes, batch, d]`. When `due` says so, the rows are checked for independence
/// with one more first-order lane: a per-row combination of the directions whose
/// derivative the first-order lanes predict.
///
/// # Panics
/// If `f(x)` is not `[batch, 1]`, or the row check fails.
#[allow(clippy::too_many_arguments)]
pub(crate) fn taylor_rows<B, F>(
    op: &str,
    f: &F,
    x: &Tensor<B, 2>,
    total: usize,
    chunk: usize,
    diagonal: bool,
    due: Due,
    dirs: impl Fn(core::ops::Range<usize>) -> Tensor<B, 3>,
) -> Taylor<B>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    let batch = x.dims()[0];
    let device = x.device();
    // The row check's lane: row b goes in direction Σₗ c_bl vₗ,b.
    let check = due.now().then(|| {
        let coefficients = row_direction::<B>(batch, total, &device);
        let lane = (dirs(0..total) * coefficients.clone().transpose().reshape([total, batch, 1]))
            .sum_dim(0);
        (coefficients, lane)
    });
    let mut value = None;
    let (mut first, mut second, mut checked) = (Vec::new(), Vec::new(), None);
    for (i, range) in chunks(total, chunk).enumerate() {
        let extra = check
            .as_ref()
            .filter(|_| i == 0)
            .map(|(_, lane)| lane.clone());
        let layout = Layout {
            summed: range.len(),
            extra: usize::from(extra.is_some()),
            diagonal,
        };
        let (y, t) = pass(op, f, x, dirs(range), extra, layout);
        let [summed, first_order] = [layout.summed, layout.first_order()];
        first.push(t.clone().slice(0..summed));
        if first_order > summed {
            checked = Some(t.clone().slice(summed..first_order));
        }
        second.push(t.slice(first_order..layout.lanes()));
        value.get_or_insert(y);
    }
    let first = Tensor::cat(first, 0);
    let second = Tensor::cat(second, 0);
    let second = if diagonal { second } else { second.sum_dim(0) };
    if let (Some((coefficients, _)), Some(got)) = (check, checked) {
        let (predicted, scale) = contract(first.clone().detach(), coefficients.transpose(), 0);
        check_rows(op, due, got, predicted, scale);
    }
    Taylor {
        value: value.expect("at least one pass"),
        second,
    }
}

/// One second-order pass: the value and the output's lanes `[lanes, batch]`.
fn pass<B, F>(
    op: &str,
    f: &F,
    x: &Tensor<B, 2>,
    dirs: Tensor<B, 3>,
    extra: Option<Tensor<B, 3>>,
    layout: Layout,
) -> (Tensor<B, 2>, Tensor<B, 2>)
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    count_forward();
    begin_pass();
    let [batch, d] = x.dims();
    let device = x.device();
    let mut lanes = vec![dirs];
    lanes.extend(extra);
    lanes.push(Tensor::zeros([layout.accumulators(), batch, d], &device));
    let xd = seed(x.clone(), Tensor::cat(lanes, 0));
    let y = with_layout::<B, _>(layout, || f.eval_dual(xd));
    assert!(
        y.dims() == [batch, 1],
        "burn-nested: `{op}` needs f(x) shaped [batch, 1] for x shaped [{batch}, {d}], got {:?}",
        y.dims()
    );
    let (value, t) = split::<B, 2, 3>(y);
    let t = match t {
        Some(t) => t.reshape([layout.lanes(), batch]),
        // `u` does not depend on `x`: every derivative is zero.
        None => Tensor::zeros([layout.lanes(), batch], &device),
    };
    (value, t)
}

/// Lanes `range` of the unit directions over `d` features, the same in every row:
/// `[lanes, batch, d]`.
pub(crate) fn unit_directions<B: Backend>(
    range: core::ops::Range<usize>,
    d: usize,
    batch: usize,
    device: &B::Device,
) -> Tensor<B, 3> {
    let lanes = range.len();
    super::engine::basis::<B>(range, d, device)
        .reshape([lanes, 1, d])
        .expand([lanes, batch, d])
}
