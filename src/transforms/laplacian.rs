//! Per-row Laplacians, forward over reverse, for physics-informed losses.

use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;

use super::engine::basis;
use super::switching::count_reverse;
use super::validate;
use crate::dual::Dual;
use crate::layer::NestedFn;
use crate::lift::{primal, seed, tangent};

/// `Δu = Σᵢ ∂²u/∂xᵢ²` for every row of `x` (`[batch, d]`), where `f` maps `x` to
/// `u` of shape `[batch, 1]` and each output row depends on its own input row only
/// (an MLP; not a model with `BatchNorm` in training mode). The result is
/// `[batch]`.
///
/// One backward pass on `Autodiff<Dual<B>>` with `d` tangent lanes, lane `k`
/// seeded with the unit vector `eₖ` in every row: the gradient's lane `k` is the
/// Hessian's column `k` for every row at once, and its diagonal entries sum to the
/// Laplacian. Inside a loss on `Autodiff<I>` the result stays on the loss's tape,
/// so the loss can be differentiated w.r.t. the parameters.
///
/// # Panics
/// If `x` has no entries or `f(x)` is not shaped `[batch, 1]`.
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
    validate::non_empty_input("laplacian", &x.dims());
    count_reverse();
    let [batch, d] = x.dims();
    let device = x.device();
    // Lane k holds e_k in every row: [d, batch, d].
    let eye = basis::<B>(0..d, d, &device);
    let dirs = eye.clone().reshape([d, 1, d]).expand([d, batch, d]);
    let xa = Tensor::<Autodiff<Dual<B>>, 2>::from_inner(seed(x, dirs)).require_grad();
    let u = f.eval_reverse_dual(xa.clone());
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
    // hessian_columns[k, b, j] = ∂²u_b / ∂x_j ∂x_k; keep j = k and sum.
    let hessian_columns: Tensor<B, 3> = tangent(g, d);
    let diagonal = hessian_columns * eye.reshape([d, 1, d]);
    let lap = diagonal.sum_dim(2).sum_dim(0).reshape([batch]);
    (value, lap)
}
