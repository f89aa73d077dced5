//! Vector-Jacobian products.

use burn::tensor::{Tensor, backend::Backend};

use super::engine::{basis, chunks, forward_pass, inside_reverse, reverse_pass};
use super::mode::{Mode, Path};
use super::policy;
use crate::layer::NestedFn;
use crate::lift::constant;

fn check_cotangent<const DO: usize>(y: &[usize; DO], v: &[usize; DO]) {
    assert!(
        y == v,
        "burn-nested: `vjp` needs a cotangent shaped like the output: output {y:?}, \
         cotangent {v:?}"
    );
}

/// `vᵀJ(x)`: the cotangent `v` (shaped like `f(x)`) pulled back to `x`'s shape.
///
/// # Panics
/// If `v`'s shape differs from `f(x)`'s, or the mode's chunk is zero.
pub fn vjp<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    v: Tensor<B, DO>,
    mode: Mode,
) -> Tensor<B, DI>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    value_and_vjp(f, x, v, mode).1
}

/// `(f(x), vᵀJ(x))`.
///
/// # Panics
/// As [`vjp`].
pub fn value_and_vjp<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    v: Tensor<B, DO>,
    mode: Mode,
) -> (Tensor<B, DO>, Tensor<B, DI>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    let n = x.shape().num_elements();
    match policy::gradient(mode, inside_reverse(&x), n) {
        Path::Reverse => reverse_pass(f, &x, |y| {
            check_cotangent::<DO>(&y.dims(), &v.dims());
            (y * Tensor::from_inner(constant(v))).sum()
        }),
        Path::Forward => {
            let device = x.device();
            let mut value = None;
            let mut parts = Vec::new();
            for range in chunks(n, mode.chunk_for(n)) {
                let lanes = range.len();
                let (y, t) = forward_pass::<B, F, DI, DO>(f, &x, basis(range, n, &device));
                check_cotangent::<DO>(&y.dims(), &v.dims());
                let m = y.shape().num_elements();
                let w = v.clone().reshape([1, m]);
                parts.push((t * w).sum_dim(1).reshape([lanes]));
                value.get_or_insert(y);
            }
            let grad = Tensor::cat(parts, 0).reshape(x.dims());
            (value.expect("at least one pass"), grad)
        }
    }
}
