//! Gradients of scalar functions.

use burn::tensor::{Tensor, backend::Backend};

use super::engine::{basis, chunks, forward_pass, inside_reverse, reverse_pass};
use super::mode::{Mode, Path};
use super::policy;
use crate::layer::NestedFn;

fn check_scalar<const DO: usize>(dims: &[usize; DO]) {
    assert!(
        dims.iter().product::<usize>() == 1,
        "burn-nested: `gradient` needs a scalar output (one element), got shape {dims:?}; use \
         `vjp` or `jacobian` for vector outputs"
    );
}

/// `∇f(x)` for a scalar-valued `f` (output of one element), shaped like `x`.
///
/// # Panics
/// If `f(x)` has more than one element, or the mode's chunk is zero.
pub fn gradient<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
) -> Tensor<B, DI>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    value_and_gradient(f, x, mode).1
}

/// `(f(x), ∇f(x))`.
///
/// # Panics
/// As [`gradient`].
pub fn value_and_gradient<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
) -> (Tensor<B, DO>, Tensor<B, DI>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    let n = x.shape().num_elements();
    match policy::gradient(mode, inside_reverse(&x), n) {
        Path::Reverse => reverse_pass(f, &x, |y| {
            check_scalar(&y.dims());
            y.sum()
        }),
        Path::Forward => {
            let device = x.device();
            let mut value = None;
            let mut parts = Vec::new();
            for range in chunks(n, mode.chunk_for(n)) {
                let lanes = range.len();
                let (y, t) = forward_pass::<B, F, DI, DO>(f, &x, basis(range, n, &device));
                check_scalar(&y.dims());
                parts.push(t.reshape([lanes]));
                value.get_or_insert(y);
            }
            let grad = Tensor::cat(parts, 0).reshape(x.dims());
            (value.expect("at least one pass"), grad)
        }
    }
}
