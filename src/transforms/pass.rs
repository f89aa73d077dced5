//! A pass: the one way a transform evaluates its function.
//!
//! Every evaluation of the user's function by a transform, forward on
//! `Dual<B>` or reverse on `Autodiff<Dual<B>>`, probe or lanes, whole or one
//! chunk of lanes, goes through [`run`], which in order:
//! 1. starts the pass, so that the function's random draws replay the ones the
//!    call's first pass made (`dual::passes`): every pass of one call
//!    differentiates one function, one `Dropout` mask;
//! 2. evaluates the function, under the row audit of a per-row transform when
//!    the input carries lanes (`dual::rows`): only a tangent shows the audit
//!    which values depend on the input, so a tangent-free evaluation watched
//!    would count as an audited one that saw nothing;
//! 3. returns what the evaluation revealed ([`Observed`]): a train/eval
//!    question, an op whose Burn reverse rule is inexact.
//!
//! The caller seeds the input (first-order lanes with `lift::seed`, a
//! second-order layout with `dual::second::seed`, none with `lift::constant`)
//! and counts the pass as a path's where it is one (`settings::count_*`).

use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;

use crate::dual::Dual;
use crate::dual::passes::{Observed, begin_pass, observe};
use crate::layer::NestedFn;

/// Runs `eval` as one pass of the current transform call, watched by an open
/// row audit of `Dual<B>` when `lanes` (the input carries a tangent).
pub(crate) fn run<B: Backend, R>(lanes: bool, eval: impl FnOnce() -> R) -> (R, Observed) {
    crate::fusion_warning::check::<B>();
    begin_pass();
    if lanes {
        observe(|| crate::dual::rows::eval::<B, _>(eval))
    } else {
        observe(eval)
    }
}

/// A forward pass of `f` at `x`: `f(x)` on `Dual<B>` with its lanes.
pub(crate) fn forward<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<Dual<B>, DI>,
) -> (Tensor<Dual<B>, DO>, Observed)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    run::<B, _>(carries_lanes(&x), || f.eval_dual(x))
}

/// The tape of a reverse pass: the input as its leaf and `f`'s output.
pub(crate) struct Taped<B: Backend, const DI: usize, const DO: usize> {
    /// The input, a leaf that requires its gradient.
    pub leaf: Tensor<Autodiff<Dual<B>>, DI>,
    /// `f(leaf)`, to take a backward pass from.
    pub output: Tensor<Autodiff<Dual<B>>, DO>,
    /// What the evaluation revealed.
    pub seen: Observed,
}

/// A reverse pass of `f` at `x`: `f` evaluated on `Autodiff<Dual<B>>` with `x`
/// (and its lanes, if seeded) as a fresh leaf, ready for a backward pass.
pub(crate) fn reverse<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: Tensor<Dual<B>, DI>,
) -> Taped<B, DI, DO>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    let lanes = carries_lanes(&x);
    let leaf = Tensor::<Autodiff<Dual<B>>, DI>::from_inner(x).require_grad();
    let (output, seen) = run::<B, _>(lanes, || f.eval_reverse_dual(leaf.clone()));
    Taped { leaf, output, seen }
}

/// Whether `x` carries tangent lanes.
fn carries_lanes<B: Backend, const D: usize>(x: &Tensor<Dual<B>, D>) -> bool {
    x.clone().into_primitive().tensor().tangent.is_some()
}
