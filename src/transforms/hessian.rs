//! Hessians: full (`hessian`), per row (`batched_hessian`) and their per-row
//! diagonal (`diag_hessian`).

use burn::tensor::{Tensor, backend::Backend};

use super::engine::{basis, cat_parts, chunks, refuse_reverse_defect, require_faithful_reverse};
use super::laplacian::{refused, row_hessian_columns};
use super::mode::Mode;
use super::pass;
use super::taylor::{taylor_rows, unit_seed};
use super::validate::{non_empty_input, scalar_output};
use crate::dual::passes::shared_draws;
use crate::layer::NestedFn;
use crate::lift::{seed, tangent};
use crate::settings::count_reverse;

/// The Hessian `∇²f(x)` of a scalar-valued `f`, `[n, n]` with `n = numel(x)`
/// (entries in `x`'s row-major order), like `jax.hessian` or
/// `torch.func.hessian`.
///
/// Forward over reverse: a backward pass on `Autodiff<Dual<B>>` with `x` seeded
/// in `n` unit directions, so the gradient's lanes are the Hessian's columns
/// (lanes are split into several passes only beyond
/// [`LANE_BUDGET`](crate::settings::policy::LANE_BUDGET)). Inside a loss on
/// `Autodiff<I>` the result stays on the loss's tape. For the Laplacian or the
/// diagonal of a per-row function, [`laplacian`](crate::laplacian) and
/// [`diag_hessian`] cost `d` times less.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Pure, hessian, tensor_fn};
///
/// // f(x) = x₀²·x₁, so ∇²f = [[2x₁, 2x₀], [2x₀, 0]].
/// tensor_fn!(F, |x: 1| -> 1 {
///     let (a, b) = (x.clone().slice(0..1), x.slice(1..2));
///     a.clone() * a * b
/// });
/// type B = burn_ndarray::NdArray<f64>;
/// let x = Tensor::<B, 1>::from_data(TensorData::new(vec![3.0, 5.0], [2]), &Default::default());
/// let h = hessian(&Pure(F), x);
/// assert_eq!(h.into_data().to_vec::<f64>().unwrap(), vec![10.0, 6.0, 6.0, 0.0]);
/// ```
///
/// # Panics
/// If `x` has no entries, `f(x)` has more than one element, `f` meets an op whose
/// Burn reverse rule is inexact, or (outside a loss) `f` switches on the
/// train/eval mode.
#[track_caller]
pub fn hessian<B, F, const DI: usize, const DO: usize>(f: &F, x: Tensor<B, DI>) -> Tensor<B, 2>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    const OP: &str = "hessian";
    non_empty_input(OP, &x.dims());
    let _draws = shared_draws();
    require_faithful_reverse::<B, F, DI, DO>(OP, f, &x);
    let n = x.shape().num_elements();
    let chunk = Mode::Auto.chunk_for(OP, n, n);
    let mut columns = Vec::new();
    for range in chunks(n, chunk) {
        columns.push(hessian_columns(OP, f, &x, range));
    }
    cat_parts(columns)
}

/// Columns `range` of the Hessian of a scalar `f`: `[lanes, n]`.
#[track_caller]
fn hessian_columns<B, F, const DI: usize, const DO: usize>(
    op: &str,
    f: &F,
    x: &Tensor<B, DI>,
    range: core::ops::Range<usize>,
) -> Tensor<B, 2>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    count_reverse();
    let n = x.shape().num_elements();
    let lanes = range.len();
    let dirs = basis::<B>(range, n, &x.device());
    let xd = seed(x.clone().reshape([n]), dirs).reshape(x.dims());
    let pass::Taped { leaf, output, seen } = pass::reverse(f, xd);
    refuse_reverse_defect(op, seen);
    scalar_output(op, &output.dims());
    let grads = output.sum().backward();
    match leaf.grad(&grads) {
        Some(g) => tangent::<B, 1, 2>(g.reshape([n]), lanes),
        None => Tensor::zeros([lanes, n], &x.device()),
    }
}

/// Every row's Hessian, `[batch, d, d]`, for `f` mapping `x` (`[batch, d]`) to
/// `u` (`[batch, 1]`) row by row: `out[b, i, j] = ∂²u_b/∂x_{b,i}∂x_{b,j}`.
///
/// One backward pass on `Autodiff<Dual<B>>` with `d` tangent lanes, each seeding
/// one feature in every row (the pass [`laplacian`](crate::laplacian)'s reverse
/// path uses). Rows are guarded as in
/// [`batched_jacobian`](crate::batched_jacobian). Inside a loss the result stays
/// on the loss's tape.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Pure, batched_hessian, tensor_fn};
///
/// // u = x₀·x₁ per row: every row's Hessian is [[0, 1], [1, 0]].
/// tensor_fn!(RowProduct, |x: 2| -> 2 { x.clone().slice([0..x.dims()[0], 0..1]) * x.clone().slice([0..x.dims()[0], 1..2]) });
/// type B = burn_ndarray::NdArray<f64>;
/// let x = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0, 2.0, 3.0, 4.0], [2, 2]), &Default::default());
/// let h = batched_hessian(&Pure(RowProduct), x);
/// assert_eq!(h.into_data().to_vec::<f64>().unwrap(), vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
/// ```
///
/// # Panics
/// If `x` has no entries, `f(x)` is not `[batch, 1]`, the rows are found to couple, `f`
/// meets an op whose Burn reverse rule is inexact, or (outside a loss) `f`
/// switches on the train/eval mode.
#[track_caller]
pub fn batched_hessian<B, F>(f: &F, x: Tensor<B, 2>) -> Tensor<B, 3>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    const OP: &str = "batched_hessian";
    non_empty_input(OP, &x.dims());
    let _draws = shared_draws();
    require_faithful_reverse::<B, F, 2, 2>(OP, f, &x);
    // columns[k, b, j] = ∂²u_b/∂x_j∂x_k -> [b, j, k]
    let (_, columns) = match row_hessian_columns(OP, f, x) {
        Ok(pass) => pass,
        Err(defect) => refused(OP, defect),
    };
    columns.permute([1, 2, 0])
}

/// The diagonal of every row's Hessian, `[batch, d]`:
/// `out[b, i] = ∂²u_b/∂x_{b,i}²`, for `f` mapping `x` (`[batch, d]`) to `u`
/// (`[batch, 1]`) row by row.
///
/// One second-order forward pass (see [`laplacian`](crate::laplacian)) with `d`
/// first-order lanes and `d` accumulators, one per lane, instead of their sum: no
/// backward pass and no Hessian formed. Rows are guarded as in
/// [`laplacian`](crate::laplacian). The
/// function is evaluated as the caller's backend would (inference mode outside a
/// loss). Inside a loss the result stays on the loss's tape.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Pure, diag_hessian, tensor_fn};
///
/// // u = x₀³ + x₀·x₁ per row: diag ∇²u = [6x₀, 0].
/// tensor_fn!(F, |x: 2| -> 2 {
///     let rows = x.dims()[0];
///     let (a, b) = (x.clone().slice([0..rows, 0..1]), x.slice([0..rows, 1..2]));
///     a.clone().powi_scalar(3) + a * b
/// });
/// type B = burn_ndarray::NdArray<f64>;
/// let x = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0, 2.0, 3.0, 4.0], [2, 2]), &Default::default());
/// let diag = diag_hessian(&Pure(F), x);
/// assert_eq!(diag.into_data().to_vec::<f64>().unwrap(), vec![6.0, 0.0, 18.0, 0.0]);
/// ```
///
/// # Panics
/// If `x` has no entries, `f(x)` is not `[batch, 1]`, the rows are found to couple, or `f`
/// meets an op without a second-order rule (a convolution whose kernel depends
/// on the input).
#[track_caller]
pub fn diag_hessian<B, F>(f: &F, x: Tensor<B, 2>) -> Tensor<B, 2>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    const OP: &str = "diag_hessian";
    non_empty_input(OP, &x.dims());
    let _draws = shared_draws();
    let [batch, d] = x.dims();
    let device = x.device();
    // d first-order lanes and d accumulators a pass.
    let chunk = Mode::Auto.chunk_for(OP, d, 2 * batch * d);
    let t = taylor_rows(OP, f, &x, d, chunk, true, |range, layout| {
        unit_seed::<B>(range, layout.accumulators(), d, batch, &device)
    });
    t.second.transpose()
}
