//! Collapsed second-order forward mode (the forward Laplacian): the extra lanes a
//! second-order pass carries, and the terms a nonlinear rule adds to them.
//!
//! A second-order pass pushes, next to each value `x`, first-order lanes `x₁ₗ`
//! (directions `vₗ`) and an *accumulator*: `x₂ = Σₗ ∂²x/∂vₗ²` summed over the
//! first `summed` lanes ("collapsed"), or one accumulator per summed lane
//! (`diagonal`, for `diag(∇²u)`). Both ride in the ordinary tangent, stacked after
//! the first-order lanes: `[summed | extra | accumulators]`, where `extra` lanes are
//! first-order only (unused by the transforms today; the rules carry them).
//!
//! That layout is what keeps this small: a linear or structural op maps the
//! accumulator exactly as it maps a first-order lane (`(Lx)₂ = L x₂`), so every
//! linear rule of `Dual` is already a second-order rule. A nonlinear rule applies
//! its first-order rule to every lane and then adds its curvature to the
//! accumulators: `f''(x)·Σₗ x₁ₗ²` for an elementwise `f`, `2·Σₗ a₁ₗ ∘ b₁ₗ` for a
//! bilinear `a ∘ b` (`mul`, `matmul`). A nonlinear rule that has no such term
//! panics, naming its op, when it meets a second-order pass.
//!
//! The layout travels with the tangent it describes (`DualTensor::layout`): the
//! transform that runs the pass seeds its input with it, and every rule gives
//! its output the [`joint`] layout of its tangent-carrying inputs. So a
//! `Dual<Dual<B>>` used inside the pass keeps its own first-order meaning, and
//! a tangent carried out of the pass keeps saying what its lanes are.

use burn::tensor::{Tensor, TensorPrimitive};
use burn_backend::{Backend, Shape, TensorData, TensorMetadata};

use super::lanes::{Prim, lanes_of, slices_along};
use super::{Dual, DualTensor};
use crate::dual::reshape::reshape;

/// How the tangent lanes of a second-order pass are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// First-order lanes whose second derivatives are accumulated (lanes `0..summed`).
    pub summed: usize,
    /// First-order lanes after them that are not accumulated.
    pub extra: usize,
    /// One accumulator per summed lane (`diag`) instead of their sum.
    pub diagonal: bool,
}

impl Layout {
    /// First-order lanes, summed and extra.
    pub(crate) fn first_order(&self) -> usize {
        self.summed + self.extra
    }

    /// Accumulator lanes.
    pub(crate) fn accumulators(&self) -> usize {
        if self.diagonal { self.summed } else { 1 }
    }

    /// All lanes of a tangent in this pass.
    pub(crate) fn lanes(&self) -> usize {
        self.first_order() + self.accumulators()
    }
}

/// `x` on `Dual<B>` seeded with the lanes `[lanes, ..x's shape]` of a
/// second-order pass laid out as `layout`.
pub(crate) fn seed<B: Backend, const D: usize, const DL: usize>(
    x: Tensor<B, D>,
    lanes: Tensor<B, DL>,
    layout: Layout,
) -> Tensor<Dual<B>, D> {
    debug_assert_eq!(lanes.dims()[0], layout.lanes());
    let x = x.into_primitive().tensor();
    let lanes = lanes.into_primitive().tensor();
    Tensor::from_primitive(TensorPrimitive::Float(DualTensor::from_parts(
        x,
        Some(lanes),
        Some(layout),
    )))
}

/// Panics, naming `op`, unless the output `y` of a second-order pass seeded
/// with `layout` carries it (or has no tangent): every rule hands its inputs'
/// layout on, and a rule that lost it would have left later nonlinear rules
/// without their curvature terms.
pub(crate) fn check_output<B: Backend, const D: usize>(
    op: &str,
    y: &Tensor<Dual<B>, D>,
    layout: Layout,
) {
    let y = y.clone().into_primitive().tensor();
    assert!(
        y.tangent.is_none() || y.layout == Some(layout),
        "burn-nested: internal error: the second-order pass of `{op}` lost the layout of its \
         lanes (an op's rule did not hand it on), so its second derivatives would be wrong: \
         please report this as a bug, with the ops the function uses"
    );
}

/// The layout shared by the tangent-carrying operands of `op` (`None` when
/// they carry first-order lanes, or no operand carries a tangent).
///
/// # Panics
/// Naming `op`, when a tangent of a second-order pass meets one from outside
/// it, or from a pass with another layout.
pub(crate) fn joint<'a, B: Backend + 'a>(
    op: &str,
    operands: impl IntoIterator<Item = &'a DualTensor<B>>,
) -> Option<Layout> {
    let mut found: Option<Option<Layout>> = None;
    for x in operands.into_iter().filter(|x| x.tangent.is_some()) {
        match found {
            None => found = Some(x.layout),
            Some(layout) => assert!(
                layout == x.layout,
                "burn-nested: `{op}` met tangents from two different passes (lanes laid out as \
                 {layout:?} and as {:?}, `None` being first-order); the function must not use a \
                 tangent-carrying tensor made outside this call (one captured from an enclosing \
                 transform): drop its tangent with `constant(primal(t))`, or compute it inside \
                 the function",
                x.layout
            ),
        }
    }
    found.flatten()
}

/// Panics, naming `op`, if a tangent of a second-order pass reaches a nonlinear
/// rule that has no curvature term (`layout` is its operands' [`joint`] layout).
pub(crate) fn unsupported(op: &str, layout: Option<Layout>) {
    if layout.is_some() {
        panic!(
            "burn-nested: `{op}` has no second-order (forward Laplacian) rule yet, so the \
             forward Laplacian (`laplacian` on its forward path), `diag_hessian`, \
             `second_order_operator` and the stochastic estimators cannot run through it. \
             Take the second derivatives by a backward pass instead: `batched_hessian` (its \
             diagonals for `diag_hessian`, its contraction with A for an operator), or \
             `laplacian` with `Mode::AutoReverse`; or keep this op out of the function"
        );
    }
}

/// Panics, naming `op`, when both factors of a bilinear op carry tangents of a
/// second-order pass (the cross term of that op is not implemented).
pub(crate) fn bilinear_unsupported<B: Backend>(op: &str, a: &DualTensor<B>, b: &DualTensor<B>) {
    if a.tangent.is_some() && b.tangent.is_some() {
        unsupported(op, joint(op, [a, b]));
    }
}

/// Lanes `range` of a tangent.
fn lane_range<B: Backend>(t: Prim<B>, range: core::ops::Range<usize>) -> Prim<B> {
    let rank = t.shape().num_dims();
    B::float_slice(t, &slices_along(rank, 0, range))
}

/// Checks that a tangent in a second-order pass has the pass's lanes.
fn check<B: Backend>(op: &str, t: &Prim<B>, layout: &Layout) {
    let lanes = lanes_of::<B>(t);
    assert!(
        lanes == layout.lanes(),
        "burn-nested: `{op}` met a tangent with {lanes} lanes in a second-order pass with {} \
         (a tangent from outside the pass reached it); the function must not use a \
         tangent-carrying tensor made outside this call (one captured from an enclosing \
         transform): drop its tangent with `constant(primal(t))`, or compute it inside the \
         function",
        layout.lanes()
    );
}

/// `Σₗ op(a₁ₗ, b₁ₗ)` over the summed lanes, `[1, ..]` (or per lane, `[summed, ..]`,
/// when diagonal); `op` acts on lane-stacked operands.
///
/// Collapsed, `op` runs on every lane and the lanes are summed with weights one
/// and zero, as one product `[1, lanes] · [lanes, rest]`: slicing the tangent
/// instead would cost, under an outer `Autodiff`, a zero tensor of the whole
/// tangent's size per slice in the backward pass. The product replaces a
/// weighting and a `sum_dim`, and in the backward a tensor of ones, two
/// lane-sized products and the weighting's: 12 fewer kernel ops in a Poisson
/// step (docs/performance.md, "The census of every workload").
///
/// The accumulator's own products are weighted by zero, so where one overflows
/// to infinity (an accumulator beyond the square root of the dtype's range,
/// about 1.8e19 in f32) the sum is NaN. A `[lanes, lanes]` product that would
/// also place the sum on the accumulator lane saved no wgpu launch and was
/// slower on lavapipe (docs/performance.md, "Cut on 2026-12-07, for fusion").
pub(crate) fn lane_products<B: Backend>(
    a: &Prim<B>,
    b: &Prim<B>,
    layout: &Layout,
    op: impl FnOnce(Prim<B>, Prim<B>) -> Prim<B>,
) -> Prim<B> {
    let n = layout.summed;
    if layout.diagonal {
        return op(
            lane_range::<B>(a.clone(), 0..n),
            lane_range::<B>(b.clone(), 0..n),
        );
    }
    let products = op(a.clone(), b.clone());
    let shape = products.shape();
    let lanes = shape[0];
    let rest = shape.num_elements() / lanes.max(1);
    let flat = reshape::<B>(products, Shape::new([lanes, rest]));
    let weights = lane_weights::<B>(&flat, 0..n);
    let mut summed = shape;
    summed[0] = 1;
    reshape::<B>(B::float_matmul(weights, flat), summed)
}

/// Ones on lanes `range` and zeros on the other lanes of `like` (`[lanes, ..]`),
/// as a row `[1, lanes]` that sums the lanes by a product.
fn lane_weights<B: Backend>(like: &Prim<B>, range: core::ops::Range<usize>) -> Prim<B> {
    lane_mask::<B>(like, range, Shape::new([1, like.shape()[0]]))
}

/// Ones on lanes `range` of `like` and zeros on its other lanes, shaped `dims`
/// (which hold `like`'s lane count once and ones elsewhere), on `like`'s device
/// and dtype.
///
/// One mask per transform call for each shape, range and dtype (see
/// `passes::call_constant`): the rules of every nonlinear op ask for the same few.
fn lane_mask<B: Backend>(like: &Prim<B>, range: core::ops::Range<usize>, dims: Shape) -> Prim<B> {
    let lanes = like.shape()[0];
    let dtype = like.dtype();
    let device = B::float_device(like);
    let name = format!(
        "lane mask {range:?} of {lanes} as {:?} {dtype:?}",
        dims.as_slice()
    );
    super::passes::call_constant::<B>(name, &device, || {
        let values: Vec<f64> = (0..lanes)
            .map(|l| f64::from(u8::from(range.contains(&l))))
            .collect();
        let data = TensorData::new(values, dims).convert_dtype(dtype);
        B::float_from_data(data, &device)
    })
}

/// Ones on lanes `range` and zeros on the other lanes of `like` (`[lanes, ..]`),
/// shaped `[lanes, 1, .., 1]` to broadcast against it.
fn lane_indicator<B: Backend>(like: &Prim<B>, range: core::ops::Range<usize>) -> Prim<B> {
    let shape = like.shape();
    let mut dims = vec![1; shape.num_dims()];
    dims[0] = shape[0];
    lane_mask::<B>(like, range, Shape::from(dims))
}

/// `tangent` with `term` (shaped like its accumulators, or broadcasting to them)
/// added to its accumulator lanes.
///
/// Collapsed, the term is spread onto the lanes by an indicator that is one on
/// the accumulator and zero elsewhere, and added: no slice or concatenation of
/// the tangent (see [`lane_products`]).
pub(crate) fn add_to_accumulators<B: Backend>(
    op: &str,
    tangent: Prim<B>,
    term: Prim<B>,
    layout: &Layout,
) -> Prim<B> {
    check::<B>(op, &tangent, layout);
    let first = layout.first_order();
    let lanes = layout.lanes();
    if layout.diagonal {
        let acc = lane_range::<B>(tangent.clone(), first..lanes);
        let acc = B::float_add(acc, term);
        let head = lane_range::<B>(tangent, 0..first);
        return B::float_cat(vec![head, acc], 0);
    }
    let column = lane_indicator::<B>(&tangent, first..lanes);
    B::float_add(tangent, B::float_mul(column, term))
}

/// The elementwise curvature term `f''(x)·Σₗ x₁ₗ²`, added to `out_tangent` (the
/// first-order rule already applied to every lane). `input_tangent` is `x`'s.
pub(crate) fn elementwise_curvature<B: Backend>(
    op: &str,
    input_tangent: &Prim<B>,
    out_tangent: Prim<B>,
    second_derivative: Prim<B>,
    layout: &Layout,
) -> Prim<B> {
    weighted_curvature::<B>(
        op,
        input_tangent,
        input_tangent,
        out_tangent,
        second_derivative,
        layout,
    )
}

/// The curvature term `w·Σₗ a₁ₗ b₁ₗ` (`w` primal-shaped, as a second derivative
/// is), added to `out_tangent`.
pub(crate) fn weighted_curvature<B: Backend>(
    op: &str,
    a: &Prim<B>,
    b: &Prim<B>,
    out_tangent: Prim<B>,
    weight: Prim<B>,
    layout: &Layout,
) -> Prim<B> {
    check::<B>(op, a, layout);
    check::<B>(op, b, layout);
    let products = lane_products::<B>(a, b, layout, B::float_mul);
    let term = B::float_mul(products, super::lanes::over_lanes::<B>(weight));
    add_to_accumulators::<B>(op, out_tangent, term, layout)
}

/// The bilinear cross term `2·Σₗ op(a₁ₗ, b₁ₗ)`, added to `out_tangent`.
pub(crate) fn bilinear_curvature<B: Backend>(
    op_name: &str,
    a: &Prim<B>,
    b: &Prim<B>,
    out_tangent: Prim<B>,
    layout: &Layout,
    op: impl FnOnce(Prim<B>, Prim<B>) -> Prim<B>,
) -> Prim<B> {
    check::<B>(op_name, a, layout);
    check::<B>(op_name, b, layout);
    let products = lane_products::<B>(a, b, layout, op);
    let two = super::lanes::scalar::<B>(2.0, &products);
    let term = B::float_mul_scalar(products, two);
    add_to_accumulators::<B>(op_name, out_tangent, term, layout)
}
