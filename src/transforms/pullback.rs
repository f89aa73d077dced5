//! `vᵀJ` by either path: the shared core of `vjp` and `gradient`.

use burn::tensor::{Tensor, backend::Backend};

use super::engine::{
    Cotangent, basis, cat_parts, chunks, forward_pass, inside_reverse, probe, reverse_is_faithful,
    reverse_pass,
};
use super::mode::{Mode, Path};
use crate::dual::passes::shared_draws;
use crate::layer::NestedFn;
use crate::settings::{policy, tune};

/// `(f(x), vᵀJ(x))` where `cotangent` checks the output shape and gives `v`.
/// Reverse: one backward pass of `⟨v, f(x)⟩`; forward: one lane per input entry,
/// each contracted with `v`. Outside a loss, a function that asks for the
/// train/eval mode takes the forward lanes (see [`reverse_is_faithful`]), and so
/// does one whose backward pass meets an op with an inexact Burn reverse rule.
#[track_caller]
pub(crate) fn pullback<B, F, const DI: usize, const DO: usize>(
    op: &'static str,
    f: &F,
    x: Tensor<B, DI>,
    mode: Mode,
    cotangent: &impl Cotangent<B, DO>,
) -> (Tensor<B, DO>, Tensor<B, DI>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    mode.check_chunk(op);
    let _draws = shared_draws();
    let n = x.shape().num_elements();
    let inside = inside_reverse(&x);
    let key = tune::key::<B, F, DI, DO>(op, f, &x, mode, inside);
    // Forward lanes, one per input entry, against one backward pass.
    let rule = policy::gradient(mode, inside, n);
    let path = tune::choose(key.as_ref(), rule, || tune::worth_trying(rule, n, 1));
    let (value, reverse) = match path {
        Path::Reverse if inside => (None, reverse_pass(f, &x, cotangent)),
        Path::Reverse => {
            // Outside a loss, learn first whether a backward pass (always in
            // training mode) would evaluate the caller's function.
            let (y, seen) = probe::<B, F, DI, DO>(f, &x);
            let reverse = match reverse_is_faithful(inside, seen) {
                true => reverse_pass(f, &x, cotangent),
                false => None,
            };
            (Some(y), reverse)
        }
        Path::Forward => return pull_forward(op, f, &x, mode, None, cotangent),
    };
    match reverse {
        Some(result) => result,
        None => {
            tune::reverse_refused(key.as_ref());
            pull_forward(op, f, &x, mode, value, cotangent)
        }
    }
}

/// One forward lane per input entry, each contracted with `v`; `value` is `f(x)`
/// when already known.
#[track_caller]
fn pull_forward<B, F, const DI: usize, const DO: usize>(
    op: &str,
    f: &F,
    x: &Tensor<B, DI>,
    mode: Mode,
    value: Option<Tensor<B, DO>>,
    cotangent: &impl Cotangent<B, DO>,
) -> (Tensor<B, DO>, Tensor<B, DI>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    let n = x.shape().num_elements();
    let device = x.device();
    let mut value = value;
    let mut parts = Vec::new();
    for range in chunks(n, mode.chunk_for(op, n, n)) {
        let lanes = range.len();
        let (y, t) = forward_pass::<B, F, DI, DO>(op, f, x, basis(range, n, &device));
        let m = y.shape().num_elements();
        let w = cotangent.at(&y.dims()).reshape([1, m]);
        parts.push((t * w).sum_dim(1).reshape([lanes]));
        value.get_or_insert(y);
    }
    let grad = cat_parts(parts).reshape(x.dims());
    (value.expect("at least one pass"), grad)
}
