//! Hessian-vector products, forward over reverse.

use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;

use super::switching::count_reverse;
use super::validate::non_empty_input;
use crate::dual::Dual;
use crate::layer::NestedFn;
use crate::lift::{seed, split};

/// `∇²f(x)·v` for a scalar-valued `f`, shaped like `x`: the gradient is taken on
/// `Autodiff<Dual<B>>` with `x` seeded in the direction `v`, so its tangent is the
/// Hessian-vector product (one pass, no Hessian formed). Inside a loss on
/// `Autodiff<I>` the result stays on the loss's tape.
///
/// # Panics
/// If `x` has no entries, `v`'s shape differs from `x`'s or `f(x)` has more than
/// one element.
pub fn hvp<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    v: Tensor<B, DI>,
) -> Tensor<B, DI>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    non_empty_input("hvp", &x.dims());
    assert!(
        v.dims() == x.dims(),
        "burn-nested: `hvp` needs a direction shaped like the input: input {:?}, direction {:?}",
        x.dims(),
        v.dims()
    );
    count_reverse();
    let n = x.shape().num_elements();
    let xd = seed(x.clone().reshape([n]), v.reshape([1, n])).reshape(x.dims());
    let xa = Tensor::<Autodiff<Dual<B>>, DI>::from_inner(xd).require_grad();
    let y = f.eval_reverse_dual(xa.clone());
    let dims = y.dims();
    assert!(
        dims.iter().product::<usize>() == 1,
        "burn-nested: `hvp` needs a scalar output (one element), got shape {dims:?}"
    );
    let grads = y.sum().backward();
    let Some(g) = xa.grad(&grads) else {
        return Tensor::zeros(x.dims(), &x.device());
    };
    let (_, t) = split::<B, 1, 2>(g.reshape([n]));
    match t {
        Some(t) => t.reshape(x.dims()),
        None => Tensor::zeros(x.dims(), &x.device()),
    }
}
