//! The row audit: a proof, op by op, that a per-row pass keeps its rows apart.
//!
//! The per-row transforms (`batched_jacobian`, `laplacian`, `diag_hessian`, the
//! operators) seed the same directions in every row of `x` (`[batch, ..]`) at
//! once. That gives per-row derivatives only if row `b` of the output depends on
//! row `b` of the input alone. While such a transform evaluates its function, an
//! audit watches every `Dual<B>` op that produces a tangent (only values with a
//! tangent depend on `x`; parameters and data have none):
//!
//! - an op *keeps rows* when, given its arguments, row `b` of its output depends
//!   on row `b` of its tangent-carrying inputs alone: elementwise ops, reductions
//!   and scans over a dim other than 0, reshapes that keep dim 0, products with a
//!   tangent-free weight, convolutions of a batch, and so on. Each such op says so
//!   through [`op`], with the condition on its arguments;
//! - every tangent-carrying value must keep the batch on dim 0 with the pass's
//!   batch size (checked on every output), which is what makes those conditions
//!   local;
//! - an op that combines the rows of a tangent-carrying value (a sum, mean, scan
//!   or softmax over dim 0, a product contracting it) *mixes* rows: the per-row
//!   result would be wrong wherever that coupling is not zero, so the transform
//!   refuses the function. That holds on every call, whatever the coupling's
//!   current size (a gate initialised at zero mixes rows as soon as it moves);
//! - an op that moves rows around (a reshape or concatenation along dim 0, an
//!   op without a row rule) leaves the audit *unknown*.
//!
//! A proved audit is exact and costs a few thread-local reads per op. An unknown
//! one proves nothing either way: the transform then runs its numerical check
//! (see `transforms::rows`) on that call, which finds a coupling or passes.

use core::any::TypeId;

use burn_backend::{Backend, TensorMetadata};

use super::DualTensor;
use super::lanes::Prim;
use crate::context;

/// What an audit found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Every tangent the function produced kept its rows: the per-row result is
    /// exact.
    Proved,
    /// An op mixed the rows of a tangent-carrying value (named).
    Mixed(&'static str),
    /// The first op whose rows could not be followed (or that no pass was
    /// audited): only a numerical check can tell.
    Unknown(&'static str),
}

/// What one op does to the rows of its tangent-carrying inputs, each of which
/// has the batch on dim 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rows {
    /// Row `b` of the output depends on row `b` of the inputs alone.
    Kept,
    /// Row `b` of the output combines several input rows.
    Mixed,
    /// Dim 0 of the output is not the batch any more (a reshape, a concatenation
    /// along it): what happens to the rows shows only later, if at all.
    Moved,
}

impl From<bool> for Rows {
    /// `true`: kept; `false`: moved.
    fn from(kept: bool) -> Self {
        if kept { Rows::Kept } else { Rows::Moved }
    }
}

/// A reduction, scan or normalisation over `dim`: it mixes rows over dim 0 and
/// keeps them over any other.
pub(crate) fn along(dim: usize) -> Rows {
    if dim == 0 { Rows::Mixed } else { Rows::Kept }
}

struct Frame {
    /// The inner backend of the `Dual` the audited pass runs on.
    backend: TypeId,
    batch: usize,
    /// Whether the function is being evaluated (the transform's own seeding and
    /// reading of lanes is not part of it).
    live: bool,
    /// Depth of declared ops in progress: their outputs are covered.
    declared: usize,
    /// Audited evaluations.
    evals: usize,
    /// The first op that did not keep rows; only the first counts, since the
    /// rules assume every earlier tangent kept the batch on dim 0.
    unproved: Option<(Rows, &'static str)>,
}

/// This module's part of the call [`context`]: the audits in progress on this
/// thread, innermost last, each for the inner backend type of the `Dual` its
/// passes run on.
pub(crate) struct Audits(Vec<Frame>);

impl Audits {
    /// No audit in progress.
    pub(crate) const fn new() -> Self {
        Self(Vec::new())
    }
}

/// Runs `call` (a per-row transform's passes) with an audit for `Dual<B>` over
/// `batch` rows; the passes mark the function's evaluations with [`eval`].
pub(crate) fn audit<B: Backend, R>(batch: usize, call: impl FnOnce() -> R) -> (R, Verdict) {
    context::with(|cx| {
        cx.audits.0.push(Frame {
            backend: TypeId::of::<B>(),
            batch,
            live: false,
            declared: 0,
            evals: 0,
            unproved: None,
        })
    });
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            context::with(|cx| cx.audits.0.pop());
        }
    }
    let pop = Pop;
    let result = call();
    let verdict = with_frame::<B, _>(|frame| match (frame.unproved, frame.evals) {
        (Some((Rows::Mixed, op)), _) => Verdict::Mixed(op),
        (Some((_, op)), _) => Verdict::Unknown(op),
        (None, 0) => Verdict::Unknown("no audited pass"),
        (None, _) => Verdict::Proved,
    })
    .expect("the audit's own frame");
    drop(pop);
    (result, verdict)
}

/// Runs `f` on the innermost frame for `Dual<B>`, if any (`f` only updates the
/// frame: see [`context::with`]).
fn with_frame<B: Backend, R>(f: impl FnOnce(&mut Frame) -> R) -> Option<R> {
    let id = TypeId::of::<B>();
    context::with(|cx| {
        cx.audits
            .0
            .iter_mut()
            .rev()
            .find(|frame| frame.backend == id)
            .map(f)
    })
}

/// Whether an audit of `Dual<B>` is open (a per-row transform's passes are
/// running), watching ops or not.
pub(crate) fn open<B: Backend>() -> bool {
    with_frame::<B, _>(|_| ()).is_some()
}

/// Whether an audit of `Dual<B>` is watching ops now.
fn live<B: Backend>() -> bool {
    with_frame::<B, _>(|frame| frame.live).unwrap_or(false)
}

/// Evaluates the audited function: its ops are watched.
pub(crate) fn eval<B: Backend, R>(f: impl FnOnce() -> R) -> R {
    let Some(was) = with_frame::<B, _>(|frame| {
        frame.evals += 1;
        core::mem::replace(&mut frame.live, true)
    }) else {
        return f();
    };
    struct Restore<B: Backend>(bool, core::marker::PhantomData<B>);
    impl<B: Backend> Drop for Restore<B> {
        fn drop(&mut self) {
            with_frame::<B, _>(|frame| frame.live = self.0);
        }
    }
    let _restore = Restore::<B>(was, core::marker::PhantomData);
    f()
}

/// Runs the `Dual<B>` op `name` on `args`; `rows` (asked only under a live
/// audit) says what, with these arguments, the op does to the rows of its
/// tangent-carrying inputs (see [`Rows`]; `true` for kept, `false` for moved),
/// given that each of those has the batch on dim 0.
pub(crate) fn op<B: Backend, A, K: Into<Rows>, R>(
    name: &'static str,
    args: A,
    rows: impl FnOnce(&A) -> K,
    body: impl FnOnce(A) -> R,
) -> R {
    if !live::<B>() {
        return body(args);
    }
    let rows = rows(&args).into();
    with_frame::<B, _>(|frame| {
        if rows != Rows::Kept {
            frame.unproved.get_or_insert((rows, name));
        }
        frame.declared += 1;
    });
    struct Leave<B: Backend>(core::marker::PhantomData<B>);
    impl<B: Backend> Drop for Leave<B> {
        fn drop(&mut self) {
            with_frame::<B, _>(|frame| frame.declared -= 1);
        }
    }
    let _leave = Leave::<B>(core::marker::PhantomData);
    body(args)
}

/// Called for every `Dual<B>` value built with a tangent: under a live audit it
/// must come from a declared op and keep the batch on dim 0.
pub(crate) fn produced<B: Backend>(primal: &Prim<B>) {
    with_frame::<B, _>(|frame| {
        if !frame.live || frame.unproved.is_some() {
            return;
        }
        if frame.declared == 0 {
            frame.unproved = Some((Rows::Moved, "an op without a row rule"));
        } else if primal.shape().as_slice().first() != Some(&frame.batch) {
            frame.unproved = Some((Rows::Moved, "a tangent whose dim 0 is not the batch"));
        }
    });
}

/// Elementwise with broadcasting: rows are kept when every tangent-carrying
/// operand has the output's rank, so its dim 0 stays the output's dim 0
/// (`ranks`: each operand's rank and whether it carries a tangent; bool masks
/// count with `false`).
pub(crate) fn broadcast_keeps(ranks: &[(usize, bool)]) -> bool {
    let out = ranks.iter().map(|(r, _)| *r).max().unwrap_or(0);
    ranks.iter().all(|&(r, t)| !t || r == out)
}

/// `(rank, carries a tangent)` of a dual operand.
pub(crate) fn rank_of<B: Backend>(x: &DualTensor<B>) -> (usize, bool) {
    (x.primal.shape().num_dims(), x.tangent.is_some())
}

/// The elementwise condition for two dual operands.
pub(crate) fn pair_keeps<B: Backend>(pair: &(DualTensor<B>, DualTensor<B>)) -> bool {
    broadcast_keeps(&[rank_of(&pair.0), rank_of(&pair.1)])
}

/// A matrix product keeps rows when each tangent-carrying operand has the
/// output's rank and, for a plain `[rows, k] × [k, n]` product, only the left
/// one carries a tangent; a tangent-carrying right operand of rank 2 is
/// contracted over its dim 0, the batch: that mixes rows.
pub(crate) fn matmul_keeps<B: Backend>(pair: &(DualTensor<B>, DualTensor<B>)) -> Rows {
    let (l, r) = (rank_of(&pair.0), rank_of(&pair.1));
    let out = l.0.max(r.0);
    if !broadcast_keeps(&[l, r]) {
        Rows::Moved
    } else if out < 3 && r.1 {
        Rows::Mixed
    } else {
        Rows::Kept
    }
}

/// A reduction over every entry: with a tangent it sums over the batch.
pub(crate) fn all_rows<B: Backend>(x: &DualTensor<B>) -> Rows {
    if x.tangent.is_some() {
        Rows::Mixed
    } else {
        Rows::Kept
    }
}

/// Runs the `Dual<B>` op `name`, which keeps rows whatever its arguments
/// (pooling and interpolation work sample by sample).
pub(crate) fn kept<B: Backend, R>(name: &'static str, body: impl FnOnce() -> R) -> R {
    op::<B, _, _, _>(name, (), |_| true, |_| body())
}

/// Whether a layer's weight and optional bias carry no tangent, so that a
/// batch through the layer keeps its rows (a tangent-carrying weight would make
/// every row depend on whatever the weight depends on).
pub(crate) fn constant_weights<B: Backend>(
    weight: &DualTensor<B>,
    bias: Option<&DualTensor<B>>,
) -> bool {
    weight.tangent.is_none() && bias.is_none_or(|b| b.tangent.is_none())
}
