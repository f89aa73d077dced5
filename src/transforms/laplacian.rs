//! Per-row Laplacians, forward over reverse, for physics-informed losses.

use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;

use super::engine::{basis, inside_reverse, refuse_reverse_defect, require_faithful_reverse};
use super::rows::{check_rows, contract, due, row_basis_lanes, row_direction};
use super::switching::count_reverse;
use super::validate;
use crate::dual::Dual;
use crate::dual::passes::{begin_pass, observe, with_shared_draws};
use crate::layer::NestedFn;
use crate::lift::{primal, seed, tangent};

/// `Δu = Σᵢ ∂²u/∂xᵢ²` for every row of `x` (`[batch, d]`), where `f` maps `x` to
/// `u` of shape `[batch, 1]` and each output row depends on its own input row only
/// (an MLP; not a model with `BatchNorm` in training mode). The result is
/// `[batch]`. Row independence is checked by one extra lane whose direction
/// differs from row to row (see [`batched_jacobian`](crate::batched_jacobian));
/// outside a loss, a function that switches on the train/eval mode is refused
/// (the backward pass would run it in training mode).
///
/// One backward pass on `Autodiff<Dual<B>>` with `d` tangent lanes, lane `k`
/// seeded with the unit vector `eₖ` in every row: the gradient's lane `k` is the
/// Hessian's column `k` for every row at once, and its diagonal entries sum to the
/// Laplacian. Inside a loss on `Autodiff<I>` the result stays on the loss's tape,
/// so the loss can be differentiated w.r.t. the parameters.
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::{Pure, laplacian, tensor_fn};
///
/// // u(x) = Σⱼ xⱼ³ per row, so Δu = 6·Σⱼ xⱼ.
/// tensor_fn!(RowCubes, |x: 2| -> 2 { (x.clone() * x.clone() * x).sum_dim(1) });
/// type B = burn_ndarray::NdArray<f64>;
/// let device = Default::default();
/// let tensor = |v: Vec<f64>, shape: [usize; 2]| Tensor::<B, 2>::from_data(TensorData::new(v, shape), &device);
/// let lap = laplacian(&Pure(RowCubes), tensor(vec![1.0, 2.0, 3.0, 4.0], [2, 2]));
/// assert_eq!(lap.into_data().to_vec::<f64>().unwrap(), vec![18.0, 42.0]);
/// ```
///
/// # Panics
/// If `x` has no entries, `f(x)` is not shaped `[batch, 1]`, the row check fails,
/// or (outside a loss) `f` switches on the train/eval mode.
pub fn laplacian<B, F>(f: &F, x: Tensor<B, 2>) -> Tensor<B, 1>
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    value_and_laplacian(f, x).1
}

/// `(f(x), Δu)` from the same pass as [`laplacian`]: the value `[batch, 1]` and the
/// per-row Laplacian `[batch]`.
///
/// # Panics
/// If `f(x)` is not shaped `[batch, 1]`.
pub fn value_and_laplacian<B, F>(f: &F, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>)
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    with_shared_draws(|| {
        validate::non_empty_input(OP, &x.dims());
        require_faithful_reverse::<B, F, 2, 2>(OP, f, &x);
        laplacian_pass(f, x)
    })
}

const OP: &str = "laplacian";

/// The one pass of [`value_and_laplacian`], with the row check's extra lane.
fn laplacian_pass<B, F>(f: &F, x: Tensor<B, 2>) -> (Tensor<B, 2>, Tensor<B, 1>)
where
    B: Backend,
    F: NestedFn<B, 2, 2> + ?Sized,
{
    count_reverse();
    begin_pass();
    let [batch, d] = x.dims();
    let device = x.device();
    // Lane k < d holds e_k in every row: [d, batch, d]. When checking, lane d holds
    // a direction that differs from row to row.
    let eye = basis::<B>(0..d, d, &device);
    let due = due::<B, F, 2, 2>(f, &[batch, d], inside_reverse(&x));
    let row_dir = due.now().then(|| row_direction::<B>(batch, d, &device));
    let lanes = d + usize::from(row_dir.is_some());
    let dirs =
        row_basis_lanes(0..lanes, d, batch, row_dir.as_ref(), &device).reshape([lanes, batch, d]);
    let xa = Tensor::<Autodiff<Dual<B>>, 2>::from_inner(seed(x, dirs)).require_grad();
    let (u, seen) = observe(|| f.eval_reverse_dual(xa.clone()));
    refuse_reverse_defect(OP, seen);
    assert!(
        u.dims() == [batch, 1],
        "burn-nested: `laplacian` needs f(x) shaped [batch, 1] for x shaped [{batch}, {d}], got {:?}",
        u.dims()
    );
    let value = primal(u.clone().inner());
    let grads = u.sum().backward();
    let Some(g) = xa.grad(&grads) else {
        // `u` does not depend on `x`: every second derivative is zero.
        return (value, Tensor::zeros([batch], &device));
    };
    // columns[k, b, j] = ∂²u_b / ∂x_j ∂x_k for k < d; lane d is H_b · dir_b.
    let columns: Tensor<B, 3> = tangent(g, lanes);
    let hessian_columns = columns.clone().slice(0..d);
    if let Some(dir) = row_dir {
        let got = columns.slice(d..d + 1);
        let (predicted, scale) = contract(
            hessian_columns.clone().detach(),
            dir.transpose().reshape([d, batch, 1]),
            0,
        );
        check_rows(OP, due, got, predicted, scale);
    }
    // Keep j = k and sum.
    let diagonal = hessian_columns * eye.reshape([d, 1, d]);
    let lap = diagonal.sum_dim(2).sum_dim(0).reshape([batch]);
    (value, lap)
}
