//! Per-row Laplacians: in one second-order forward pass (the forward Laplacian),
//! or forward over reverse.

use burn::tensor::{Tensor, backend::Backend};

use super::engine::{
    basis, inside_reverse, probe, refuse_reverse_defect, require_faithful_reverse,
    reverse_is_faithful,
};
use super::mode::{Mode, Path};
use super::pass;
use super::rows::{audited, check_rows, contract, count_row_check, row_direction, row_weights};
use super::taylor::{taylor_rows, unit_directions, unit_seed};
use super::validate;
use crate::dual::passes::{Observed, shared_draws};
use crate::layer::NestedFn;
use crate::lift::{constant, primal, seed, tangent};
use crate::settings::count_reverse;
use crate::settings::{policy, tune};

/// `Δu = Σᵢ ∂²u/∂xᵢ²` for every row of `x` (`[batch, d]`), where `f` maps `x` to
/// `u` of shape `[batch, 1]` and each output row depends on its own input row only
/// (an MLP; not a model with `BatchNorm` in training mode). The result is
/// `[batch]`. Row independence is guarded on every call: an audit of the
/// function's ops, and a numerical second-order check where the audit cannot
/// follow the rows (see [`set_row_check`](crate::settings::set_row_check)).
///
/// Two paths compute it, and agree to rounding:
/// - **forward Laplacian** (`Mode::AutoForward`, and what `Mode::Auto` takes): one
///   forward pass on `Dual<B>` carrying `d` first-order lanes (the unit vectors)
///   and one accumulator lane that every nonlinear op adds its curvature to
///   (`f''(x)·Σₗ x₁ₗ²` for an elementwise `f`, `2·Σₗ a₁ₗ b₁ₗ` for a product). No
///   backward pass, and a `d + 1`-lane forward pass instead of a `d`-lane forward
///   and backward pass. An op without a second-order rule (a convolution whose
///   kernel depends on the input) panics naming itself.
/// - **forward over reverse** (`Mode::AutoReverse`): one backward pass on
///   `Autodiff<Dual<B>>` with `d` tangent lanes, lane `k` seeded with `eₖ` in every
///   row: the gradient's lane `k` is the Hessian's column `k` for every row, and
///   its diagonal entries sum to the Laplacian. Outside a loss, a function that
///   switches on the train/eval mode is refused (the backward pass would run it in
///   training mode).
///
/// An explicit mode is honoured. Inside a loss on `Autodiff<I>`, with measured
/// switching on ([`Options::tuning`](crate::settings::Options::tuning)), `Auto`
/// times both paths on its first calls and keeps the faster. Either way the result
/// stays on the loss's tape, so the loss can be differentiated w.r.t. the
/// parameters.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Mode, Pure, laplacian, tensor_fn};
///
/// // u(x) = Σⱼ xⱼ³ per row, so Δu = 6·Σⱼ xⱼ.
/// tensor_fn!(RowCubes, |x: 2| -> 2 { (x.clone() * x.clone() * x).sum_dim(1) });
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let tensor = |v: Vec<f64>, shape: [usize; 2]| Tensor::<B, 2>::from_data(TensorData::new(v, shape), &device);
/// let x = tensor(vec![1.0, 2.0, 3.0, 4.0], [2, 2]);
/// for mode in [Mode::Auto, Mode::FORWARD, Mode::AutoReverse] {
///     let lap = laplacian(&Pure(RowCubes), x.clone(), mode);
///     assert_eq!(lap.into_data().to_vec::<f64>().unwrap(), vec![18.0, 42.0]);
/// }
/// ```
///
/// # Panics
/// If `x` has no entries, `f(x)` is not shaped `[batch, 1]`, the mode's chunk is
/// zero, the rows are found to couple, the forward path meets an op without a
/// second-order rule, or (reverse path, outside a loss) `f` switches on the
/// train/eval mode.
#[track_caller]
pub fn laplacian<B, F>(f: &F, x: Tensor<B, 2>, mode: Mode) -> Tensor<B, 1>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    value_and_laplacian(f, x, mode).1
}

/// `(f(x), Δu)` from the same pass as [`laplacian`]: the value `[batch, 1]` and the
/// per-row Laplacian `[batch]`.
///
/// # Panics
/// As [`laplacian`].
#[track_caller]
pub fn value_and_laplacian<B, F>(f: &F, x: Tensor<B, 2>, mode: Mode) -> (Tensor<B, 2>, Tensor<B, 1>)
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    validate::non_empty_input(OP, &x.dims());
    mode.check_chunk(OP);
    let _draws = shared_draws();
    let inside = inside_reverse(&x);
    let d = x.dims()[1];
    let key = tune::key::<B, F, 2, 2>(OP, f, &x, mode, inside);
    let rule = policy::laplacian(mode);
    // d + 1 forward lanes against d reverse lanes.
    let path = tune::choose(key.as_ref(), rule, || tune::worth_trying(rule, d + 1, d));
    if path == Path::Reverse {
        if mode == Mode::AutoReverse && !inside {
            require_faithful_reverse::<B, F, 2, 2>(OP, f, &x);
            return laplacian_pass(f, x);
        }
        // Outside a loss a probe asks whether `f` switches on the train/eval
        // mode; inside one the pass itself reports a Burn reverse defect.
        let faithful = inside || reverse_is_faithful(inside, probe::<B, F, 2, 2>(f, &x).1);
        if faithful && let Ok((value, columns)) = row_hessian_columns(OP, f, x.clone()) {
            return (value, hessian_trace(columns));
        }
        tune::reverse_refused(key.as_ref());
    }
    forward_laplacian(f, x, mode)
}

/// The forward-Laplacian path of [`value_and_laplacian`].
#[track_caller]
fn forward_laplacian<B, F>(f: &F, x: Tensor<B, 2>, mode: Mode) -> (Tensor<B, 2>, Tensor<B, 1>)
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    let [batch, d] = x.dims();
    let device = x.device();
    let chunk = mode.chunk_for(OP, d, batch * d);
    let t = taylor_rows(OP, f, &x, d, chunk, false, |range, layout| {
        unit_seed::<B>(range, layout.accumulators(), d, batch, &device)
    });
    (t.value, t.second.reshape([batch]))
}

const OP: &str = "laplacian";

/// The forward-over-reverse path of [`value_and_laplacian`].
#[track_caller]
fn laplacian_pass<B, F>(f: &F, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>)
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    let (value, columns) = match row_hessian_columns(OP, f, x) {
        Ok(pass) => pass,
        Err(defect) => refused(OP, defect),
    };
    (value, hessian_trace(columns))
}

/// Every row's trace from the Hessian columns `[d, batch, d]`.
fn hessian_trace<B: Backend>(columns: Tensor<B, 3>) -> Tensor<B, 1> {
    let [d, batch, _] = columns.dims();
    let eye = basis::<B>(0..d, d, &columns.device());
    // Keep j = k and sum.
    let diagonal = columns * eye.reshape([d, 1, d]);
    diagonal.sum_dim(2).sum_dim(0).reshape([batch])
}

/// Panics as [`refuse_reverse_defect`] does for a pass that met `defect`.
#[track_caller]
pub(crate) fn refused(op: &str, defect: &'static str) -> ! {
    refuse_reverse_defect(
        op,
        Observed {
            asks_mode: false,
            reverse_defect: Some(defect),
        },
    );
    unreachable!("a reverse defect is refused")
}

/// Every row's Hessian by one backward pass on `Autodiff<Dual<B>>` with `d`
/// tangent lanes (forward over reverse), under the row guard: `(f(x), columns)`
/// where `columns[k, b, j] = ∂²u_b/∂x_j∂x_k`, or the op whose Burn reverse rule
/// is inexact if the pass met one.
///
/// # Panics
/// If `f(x)` is not `[batch, 1]` or the rows are found to couple.
#[track_caller]
pub(crate) fn row_hessian_columns<B, F>(
    op: &str,
    f: &F,
    x: Tensor<B, 2>,
) -> Result<(Tensor<B, 2>, Tensor<B, 3>), &'static str>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    let [batch, d] = x.dims();
    // Lane k holds e_k in every row: [d, batch, d].
    let dirs = unit_directions::<B>(0..d, d, batch, &x.device());
    let (pass, guard) = audited::<B, _>(op, &x.dims(), || {
        hessian_lanes(op, f, x.clone(), dirs, None)
    });
    let (value, columns) = pass?;
    // Counted here: a pass that met a reverse defect ran no backward.
    count_reverse();
    if guard.check() {
        check_reverse_second_order(op, f, x, &columns)?;
    }
    Ok((value, columns))
}

/// The numerical row check of the forward-over-reverse Hessians `columns`, in
/// one more backward pass: one lane seeds `τ_b·w` in row `b` (`w` the same in
/// every row) and the backward pass starts from `Σ_b c_b u_b`, with row weights
/// `τ_b, c_b ∈ [0.5, 1.5]`. With independent rows the lane's gradient in row `b`
/// is `c_b τ_b ∇²u_b w`, which `columns` predicts; a coupling adds terms weighted
/// by other rows' `τ` (input rows) or `c` (output rows). The weighted start is
/// what catches outputs centred over the batch, whose plain sum is constant.
#[track_caller]
fn check_reverse_second_order<B, F>(
    op: &str,
    f: &F,
    x: Tensor<B, 2>,
    columns: &Tensor<B, 3>,
) -> Result<(), &'static str>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    let [batch, d] = x.dims();
    let device = x.device();
    let w = row_direction::<B>(1, d, &device);
    let (tau, c) = row_weights::<B>(batch, &device);
    let lane = (w.clone().expand([batch, d]) * tau.clone()).reshape([1, batch, d]);
    let (_, got) = hessian_lanes(op, f, x, lane, Some(c.clone()))?;
    let got = got.detach();
    let (predicted, scale) = contract(columns.clone().detach(), w.reshape([d, 1, 1]), 0);
    let weight = (c * tau).reshape([1, batch, 1]);
    let scale = (scale * weight.clone()).max_pair(got.clone().abs());
    count_row_check();
    check_rows(op, got, predicted * weight, scale);
    Ok(())
}

/// One backward pass on `Autodiff<Dual<B>>` with `x` seeded in `dirs`
/// (`[lanes, batch, d]`), from `Σ_b c_b u_b` (`weights` `[batch, 1]`, ones when
/// `None`): `(f(x), the gradient's lanes [lanes, batch, d])`, or the op whose
/// Burn reverse rule is inexact if the pass met one.
fn hessian_lanes<B, F>(
    op: &str,
    f: &F,
    x: Tensor<B, 2>,
    dirs: Tensor<B, 3>,
    weights: Option<Tensor<B, 2>>,
) -> Result<(Tensor<B, 2>, Tensor<B, 3>), &'static str>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    let [batch, d] = x.dims();
    let lanes = dirs.dims()[0];
    let device = x.device();
    let pass::Taped {
        leaf,
        output: u,
        seen,
    } = pass::reverse(f, seed(x, dirs));
    if let Some(defect) = seen.reverse_defect {
        return Err(defect);
    }
    validate::per_row_scalar(op, batch, d, &u.dims());
    let value = primal(u.clone().inner());
    let head = match weights {
        Some(c) => (u * Tensor::from_inner(constant(c))).sum(),
        None => u.sum(),
    };
    let grads = head.backward();
    let Some(g) = leaf.grad(&grads) else {
        // `u` does not depend on `x`: every second derivative is zero.
        return Ok((value, Tensor::zeros([lanes, batch, d], &device)));
    };
    // lanes[l, b, j] = Σ_k ∂²(head)/∂x_{b,j}∂x_k dirs[l, k]
    Ok((value, tangent(g, lanes)))
}
