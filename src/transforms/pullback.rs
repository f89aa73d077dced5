//! `vᵀJ` by either path: the shared core of `vjp` and `gradient`.

use burn::tensor::{Tensor, backend::Backend};

use super::engine::{basis, chunks, forward_pass, inside_reverse, reverse_pass};
use super::mode::{Mode, Path};
use super::policy;
use crate::layer::NestedFn;
use crate::lift::constant;

/// `(f(x), vᵀJ(x))` where `cotangent(output dims)` checks the output shape and
/// gives `v`. Reverse: one backward pass of `⟨v, f(x)⟩`; forward: one lane per
/// input entry, each contracted with `v`.
pub(crate) fn pullback<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
    cotangent: impl Fn(&[usize; DO]) -> Tensor<B, DO>,
) -> (Tensor<B, DO>, Tensor<B, DI>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    let n = x.shape().num_elements();
    match policy::gradient(mode, inside_reverse(&x), n) {
        Path::Reverse => reverse_pass(f, &x, |y| {
            let v = cotangent(&y.dims());
            (y * Tensor::from_inner(constant(v))).sum()
        }),
        Path::Forward => {
            let device = x.device();
            let mut value = None;
            let mut parts = Vec::new();
            for range in chunks(n, mode.chunk_for(n)) {
                let lanes = range.len();
                let (y, t) = forward_pass::<B, F, DI, DO>(f, &x, basis(range, n, &device));
                let m = y.shape().num_elements();
                let w = cotangent(&y.dims()).reshape([1, m]);
                parts.push((t * w).sum_dim(1).reshape([lanes]));
                value.get_or_insert(y);
            }
            let grad = Tensor::cat(parts, 0).reshape(x.dims());
            (value.expect("at least one pass"), grad)
        }
    }
}
