//! The two primitive passes every transform is built from.

use burn::tensor::{Tensor, TensorPrimitive, backend::Backend};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind, unary};

use super::pass;
use crate::dual::passes::Observed;
use crate::dual::{Dual, DualTensor};
use crate::layer::NestedFn;
use crate::lift::{constant, primal, seed, split, tangent};
use crate::settings::{count_forward, count_reverse};

/// Chunks of `0..total`, `chunk` long (the last one shorter).
pub(crate) fn chunks(total: usize, chunk: usize) -> impl Iterator<Item = core::ops::Range<usize>> {
    (0..total)
        .step_by(chunk.max(1))
        .map(move |start| start..(start + chunk).min(total))
}

/// Lanes `range` of the identity over `n` entries: `[lanes, n]`.
pub(crate) fn basis<B: Backend>(
    range: core::ops::Range<usize>,
    n: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    let lanes = range.len();
    let rows =
        Tensor::<B, 1, burn::tensor::Int>::arange(range.start as i64..range.end as i64, device)
            .reshape([lanes, 1])
            .expand([lanes, n]);
    let cols = Tensor::<B, 1, burn::tensor::Int>::arange(0..n as i64, device)
        .reshape([1, n])
        .expand([lanes, n]);
    rows.equal(cols).float()
}

/// One forward pass of `f` at `x` in the directions `dirs` (`[lanes, numel(x)]`)
/// for the transform `op`: the value and the output tangent `[lanes, numel(y)]`.
///
/// # Panics
/// Naming `op`, if `f(x)` has no entries.
#[track_caller]
pub(crate) fn forward_pass<B, F, const DI: usize, const DO: usize>(
    op: &str,
    f: &F,
    x: &Tensor<B, DI>,
    dirs: Tensor<B, 2>,
) -> (Tensor<B, DO>, Tensor<B, 2>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    count_forward();
    forward_pass_uncounted(op, f, x, dirs)
}

/// [`forward_pass`] without counting it as a path's pass (the row check's own
/// pass).
#[track_caller]
pub(crate) fn forward_pass_uncounted<B, F, const DI: usize, const DO: usize>(
    op: &str,
    f: &F,
    x: &Tensor<B, DI>,
    dirs: Tensor<B, 2>,
) -> (Tensor<B, DO>, Tensor<B, 2>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    let lanes = dirs.dims()[0];
    let n = x.shape().num_elements();
    let xd = seed(x.clone().reshape([n]), dirs).reshape(x.dims());
    let (y, _) = pass::forward(f, xd);
    let y_dims = y.dims();
    // Before the reshape below, where Burn would read a `0` as "keep this dim".
    super::validate::non_empty_output(op, &y_dims);
    let m = y.shape().num_elements();
    let (value, tangent) = split::<B, 1, 2>(y.reshape([m]));
    let tangent = tangent.unwrap_or_else(|| Tensor::zeros([lanes, m], &x.device()));
    (value.reshape(y_dims), tangent)
}

/// The cotangent `v` of a pullback, given the output's shape: checks that shape
/// (a method rather than a closure, so the check stays `#[track_caller]`).
pub(crate) trait Cotangent<B: Backend, const DO: usize> {
    /// `v` for an output of shape `dims`.
    ///
    /// # Panics
    /// If `dims` is not a shape the transform accepts, naming the transform.
    #[track_caller]
    fn at(&self, dims: &[usize; DO]) -> Tensor<B, DO>;

    /// [`at`](Self::at), or `None` where `v` is all ones (a gradient's): the ones
    /// Burn's `backward` seeds are then `v` already.
    #[track_caller]
    fn unless_ones(&self, dims: &[usize; DO]) -> Option<Tensor<B, DO>> {
        Some(self.at(dims))
    }
}

/// The root of a nested backward whose cotangent is given: the identity forward,
/// and a backward that hands on its state, the cotangent, in place of the ones
/// Burn's `backward` seeds.
///
/// Why not `(y * v).sum().backward()`: that costs six inner ops (the product and
/// the sum, then the seed's ones spread by the sum's backward and multiplied by
/// `v`), all to arrive at `v`; this costs the seed alone.
#[derive(Debug)]
struct SeedCotangent;

impl<B: Backend> Backward<Dual<B>, 1> for SeedCotangent {
    type State = DualTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let v = ops.state;
        unary::<Dual<B>, _>(ops.parents, ops.node, grads, |_ones| v);
    }
}

/// `y` as the root of a backward pass whose cotangent is `v` (shaped like `y`):
/// `seeded(y, v).backward()` gives the gradients of `⟨v, y⟩`. Only for a
/// backward taken from the result at once: the node replaces whatever gradient
/// reaches it by `v`.
pub(crate) fn seeded<B: Backend, const D: usize>(
    y: Tensor<Autodiff<Dual<B>>, D>,
    v: DualTensor<B>,
) -> Tensor<Autodiff<Dual<B>>, D> {
    let y = y.into_primitive().tensor();
    let out = match SeedCotangent
        .prepare::<NoCheckpointing>([y.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(v, y.primitive),
        OpsKind::UnTracked(prep) => prep.finish(y.primitive),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// One reverse pass: the value `f(x)` and the gradient of `⟨v, f(x)⟩` (`v` from
/// `cotangent`) w.r.t. `x`, by a backward pass. Inside a loss on `Autodiff<I>` the gradient
/// stays on the loss's tape (reverse over reverse). `None` when the pass met an
/// op whose reverse rule in Burn 0.21 is inexact (see [`Observed`]): the caller
/// then takes forward lanes.
///
/// The pass runs on `Autodiff<Dual<B>>` with no tangent, not on `Autodiff<B>`:
/// Burn 0.21's `Autodiff` cannot differentiate its own fused backward kernels
/// (`linear_x_backward` panics "Can't differentiate"), so `Autodiff<Autodiff<I>>`
/// fails on every `nn::Linear`. The tangent-free `Dual` in between is transparent
/// and composes those kernels from differentiable ops.
#[track_caller]
pub(crate) fn reverse_pass<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: &Tensor<B, DI>,
    cotangent: &impl Cotangent<B, DO>,
) -> Option<(Tensor<B, DO>, Tensor<B, DI>)>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    count_reverse();
    let pass::Taped {
        leaf,
        output: y,
        seen,
    } = pass::reverse(f, constant(x.clone()));
    if seen.reverse_defect.is_some() {
        return None;
    }
    let value = primal(y.clone().inner());
    let grads = match cotangent.unless_ones(&y.dims()) {
        Some(v) => seeded(y, constant(v).into_primitive().tensor()).backward(),
        None => y.backward(),
    };
    let grad = match leaf.grad(&grads) {
        Some(g) => primal(g),
        None => Tensor::zeros(x.dims(), &x.device()),
    };
    Some((value, grad))
}

/// Whether `x` lives on a reverse-mode backend, i.e. the transform runs inside a
/// loss whose gradient will be taken.
pub(crate) fn inside_reverse<B: Backend, const D: usize>(x: &Tensor<B, D>) -> bool {
    B::ad_enabled(&x.device())
}

/// `f(x)` from a forward-mode pass: used to learn the output shape before
/// choosing a path. It runs a lifted copy of any model, so running statistics of
/// the original are not touched. What the pass revealed about `f` decides
/// whether a reverse pass may stand in for forward lanes
/// ([`reverse_is_faithful`]). The pass carries no tangent, except under an open
/// row audit (a per-row transform whose path may have no forward pass): then one
/// lane, the same direction in every row, for the audit to watch.
pub(crate) fn probe<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: &Tensor<B, DI>,
) -> (Tensor<B, DO>, Observed)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    let xd = if crate::dual::rows::open::<B>() {
        let n = x.shape().num_elements();
        let dir = Tensor::<B, 2>::ones([1, n], &x.device());
        seed(x.clone().reshape([n]), dir).reshape(x.dims())
    } else {
        constant(x.clone())
    };
    let (y, seen) = pass::forward(f, xd);
    (primal(y), seen)
}

/// Whether a reverse pass differentiates the same function as forward lanes, to
/// rounding, for a function `seen` by a probe:
/// - reverse passes run on `Autodiff<Dual<B>>`, which Burn 0.21 always reports as
///   training; outside a loss the caller evaluates inference mode, so a function
///   that asks for the mode must take forward lanes there;
/// - a function with an op whose Burn reverse rule is inexact (`prod`,
///   `cumprod`, `repeat_dim`, `hard_sigmoid`) takes forward lanes everywhere.
pub(crate) fn reverse_is_faithful(inside: bool, seen: Observed) -> bool {
    (inside || !seen.asks_mode) && seen.reverse_defect.is_none()
}

/// Forward passes over `total` directions, `chunk` lanes at a time, seeded by
/// `seeds(range)` (`[lanes, numel(x)]`): the value and the output tangents of all
/// lanes stacked, `[total, numel(y)]`. Pass `value` when `f(x)` is already known;
/// otherwise the first pass provides it.
#[track_caller]
pub(crate) fn forward_lanes<B, F, const DI: usize, const DO: usize>(
    op: &str,
    f: &F,
    x: &Tensor<B, DI>,
    total: usize,
    chunk: usize,
    value: Option<Tensor<B, DO>>,
    seeds: impl Fn(core::ops::Range<usize>) -> Tensor<B, 2>,
) -> (Tensor<B, DO>, Tensor<B, 2>)
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    let mut value = value;
    let mut parts = Vec::new();
    for range in chunks(total, chunk) {
        let (y, t) = forward_pass::<B, F, DI, DO>(op, f, x, seeds(range));
        value.get_or_insert(y);
        parts.push(t);
    }
    (value.expect("at least one pass"), cat_parts(parts))
}

/// The parts of a result taken in chunks, concatenated along dim 0; a single
/// part as it is (Burn's `cat` copies even one tensor).
pub(crate) fn cat_parts<B: Backend, const D: usize>(mut parts: Vec<Tensor<B, D>>) -> Tensor<B, D> {
    if parts.len() == 1 {
        return parts.pop().expect("one part");
    }
    Tensor::cat(parts, 0)
}

/// Reverse passes with lane-stacked cotangents: `cotangents` is `[lanes,
/// numel(f(x))]` and the result `[lanes, numel(x)]` holds `vₗᵀJ` for every lane.
/// Lanes go in as few passes as the lane budget allows
/// ([`LANE_BUDGET`](crate::settings::policy::LANE_BUDGET)), one when they fit. `None` when
/// a pass met an op whose reverse rule in Burn 0.21 is inexact.
///
/// The cotangent is a `Dual` with a zero primal and the lanes as its tangent, so the
/// backward pass on `Autodiff<Dual<B>>` carries all lanes at once: a whole Jacobian
/// costs one nested backward instead of one per output row. (Per-row backward
/// passes were also seen to make Burn 0.21's graph bookkeeping drop gradients now
/// and then when dozens of them ran inside one outer loss.)
pub(crate) fn reverse_lanes<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: &Tensor<B, DI>,
    cotangents: Tensor<B, 2>,
) -> Option<Tensor<B, 2>>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    let [lanes, m] = cotangents.dims();
    let n = x.shape().num_elements();
    let chunk = crate::settings::policy::lanes_within_budget(lanes, n.max(m));
    if chunk >= lanes {
        return reverse_lanes_pass::<B, F, DI, DO>(f, x, cotangents, lanes, m, n);
    }
    let parts = chunks(lanes, chunk)
        .map(|range| {
            let part = cotangents.clone().slice(range.clone());
            reverse_lanes_pass::<B, F, DI, DO>(f, x, part, range.len(), m, n)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(cat_parts(parts))
}

/// One nested backward for `lanes` cotangent lanes (see [`reverse_lanes`]).
fn reverse_lanes_pass<B, F, const DI: usize, const DO: usize>(
    f: &F,
    x: &Tensor<B, DI>,
    cotangents: Tensor<B, 2>,
    lanes: usize,
    m: usize,
    n: usize,
) -> Option<Tensor<B, 2>>
where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    count_reverse();
    let pass::Taped { leaf, output, seen } = pass::reverse(f, constant(x.clone()));
    if seen.reverse_defect.is_some() {
        return None;
    }
    let w = seed(Tensor::<B, 1>::zeros([m], &x.device()), cotangents);
    let grads = seeded(output.reshape([m]), w.into_primitive().tensor()).backward();
    Some(match leaf.grad(&grads) {
        Some(g) => tangent::<B, 1, 2>(g.reshape([n]), lanes),
        None => Tensor::zeros([lanes, n], &x.device()),
    })
}

/// For a transform that has no forward-only path (`hvp`, `laplacian`): refuses a
/// function whose backward pass would not differentiate the caller's function —
/// outside a loss one that asks for the train/eval mode (Burn 0.21 runs every
/// backward pass in training mode), anywhere one with an op whose Burn reverse
/// rule is inexact. `seen` is what the transform's own pass revealed; outside a
/// loss a probe runs first, since the mode question only shows on `Dual`.
///
/// # Panics
/// As described, naming `op` and the cause.
#[track_caller]
pub(crate) fn require_faithful_reverse<B, F, const DI: usize, const DO: usize>(
    op: &str,
    f: &F,
    x: &Tensor<B, DI>,
) where
    B: Backend,
    F: NestedFn<B, DI, DO> + ?Sized,
{
    if inside_reverse(x) {
        return;
    }
    let (_, seen) = probe::<B, F, DI, DO>(f, x);
    if seen.asks_mode {
        let instead = match op {
            "laplacian" => {
                "; or use `Mode::Auto` or `Mode::AutoForward`, whose forward Laplacian runs \
                 inference mode without a backward pass"
            }
            "batched_hessian" => {
                "; or, for the Hessians' diagonals only, `diag_hessian`, which runs inference \
                 mode without a backward pass"
            }
            _ => "",
        };
        panic!(
            "burn-nested: `{op}` outside a loss needs a backward pass, and Burn 0.21 runs every \
             backward pass in training mode, while this function switches on the train/eval \
             mode (a BatchNorm, Dropout or GaussianNoise layer) and the caller's backend \
             evaluates inference mode. Call `{op}` inside a loss (its input on an Autodiff \
             backend) for the training-mode derivative, or give it a function without \
             train/eval switching (for inference, fold BatchNorm's running statistics into the \
             layer before it){instead}"
        );
    }
    refuse_reverse_defect(op, seen);
}

/// Panics naming `op` if its backward pass met an op whose reverse rule in Burn
/// 0.21 is inexact (see [`Observed::reverse_defect`]).
#[track_caller]
pub(crate) fn refuse_reverse_defect(op: &str, seen: Observed) {
    if let Some(defect) = seen.reverse_defect {
        let instead = match op {
            "laplacian" => {
                "use `Mode::Auto` or `Mode::AutoForward`, whose forward Laplacian takes no \
                 backward pass"
            }
            "batched_hessian" => {
                "for the Hessians' diagonals use `diag_hessian` (no backward pass); otherwise \
                 write the function without it"
            }
            _ => "write the function without it",
        };
        let replacement = match defect {
            "hard_sigmoid" => " (`hard_sigmoid(x, a, b)` is `(x * a + b).clamp(0, 1)`)",
            "repeat_dim" => " (`repeat_dim` is a `Tensor::cat` of copies)",
            "prod" | "prod_dim" | "cumprod" => " (a product of slices multiplied out)",
            _ => "",
        };
        panic!(
            "burn-nested: `{op}` needs a backward pass through `{defect}`, whose reverse rule in \
             Burn 0.21's Autodiff is inexact (docs/burn-issues.md pins it), and `{op}` has no \
             path without a backward pass here; {instead}{replacement}"
        );
    }
}
