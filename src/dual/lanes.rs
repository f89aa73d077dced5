//! Lane bookkeeping and the four kinds of JVP rule.
//!
//! A tangent has shape `[lanes, ..primal shape]`. A rule acting on primal dim `d`
//! acts on tangent dim `d + 1`; a factor computed from primals is reshaped to
//! `[1, ..shape]` so it broadcasts over the lanes. Every helper here is written with
//! `B`'s ops only, which is what lets `Dual` nest inside and outside `Autodiff`.

use burn_backend::{
    Backend, BoolDType, Scalar, Shape, TensorMetadata, backend::BackendTypes, get_device_settings,
};

use super::DualTensor;
use crate::dual::reshape::reshape;

/// A float primitive of the inner backend.
pub(crate) type Prim<B> = <B as BackendTypes>::FloatTensorPrimitive;

/// `[lanes, ..shape]`.
pub(crate) fn lane_shape(lanes: usize, shape: &Shape) -> Shape {
    let mut dims = Vec::with_capacity(shape.num_dims() + 1);
    dims.push(lanes);
    dims.extend_from_slice(shape.as_slice());
    Shape::from(dims)
}

/// Lane count of a tangent.
pub(crate) fn lanes_of<B: Backend>(tangent: &Prim<B>) -> usize {
    tangent.shape()[0]
}

/// Reshapes a primal-derived factor to `[1, ..shape]` so it broadcasts over lanes.
pub(crate) fn over_lanes<B: Backend>(factor: Prim<B>) -> Prim<B> {
    let shape = lane_shape(1, &factor.shape());
    reshape::<B>(factor, shape)
}

/// Broadcasts a tangent to `[lanes, ..shape]` when its primal was broadcast by the op.
pub(crate) fn expand_to<B: Backend>(tangent: Prim<B>, shape: &Shape) -> Prim<B> {
    let current = tangent.shape();
    if current[1..] == shape[..] {
        return tangent;
    }
    let lanes = current[0];
    // A lower-rank tangent gains unit dims right after the lane axis first.
    let tangent = if current.num_dims() - 1 < shape.num_dims() {
        let mut dims = vec![lanes];
        dims.extend(std::iter::repeat_n(
            1,
            shape.num_dims() + 1 - current.num_dims(),
        ));
        dims.extend_from_slice(&current[1..]);
        reshape::<B>(tangent, Shape::from(dims))
    } else {
        tangent
    };
    B::float_expand(tangent, lane_shape(lanes, shape))
}

/// Panics unless two tangents have the same number of lanes.
pub(crate) fn check_lanes<B: Backend>(op: &str, a: &Prim<B>, b: &Prim<B>) {
    let (la, lb) = (lanes_of::<B>(a), lanes_of::<B>(b));
    assert!(
        la == lb,
        "burn-nested: `{op}` got tangents with {la} and {lb} lanes; all tangents meeting in \
         one computation must have the same number of lanes: seed every input with the same \
         lanes, and drop the tangent of a tensor from another transform call with \
         `constant(primal(t))`"
    );
}

/// Sum of two optional tangents (`None` is zero), broadcast to `[lanes, ..shape]`.
pub(crate) fn add_tangents<B: Backend>(
    op: &str,
    a: Option<Prim<B>>,
    b: Option<Prim<B>>,
    shape: &Shape,
) -> Option<Prim<B>> {
    match (a, b) {
        (Some(a), Some(b)) => {
            check_lanes::<B>(op, &a, &b);
            Some(expand_to::<B>(B::float_add(a, b), shape))
        }
        (Some(t), None) | (None, Some(t)) => Some(expand_to::<B>(t, shape)),
        (None, None) => None,
    }
}

/// `tangent * factor`, the factor broadcast over lanes.
pub(crate) fn scale<B: Backend>(tangent: Prim<B>, factor: Prim<B>) -> Prim<B> {
    B::float_mul(tangent, over_lanes::<B>(factor))
}

/// Zeros of shape `[lanes, ..shape]` like `like`.
pub(crate) fn zeros_like_lanes<B: Backend>(like: &Prim<B>, lanes: usize, shape: &Shape) -> Prim<B> {
    B::float_zeros(
        lane_shape(lanes, shape),
        &B::float_device(like),
        like.dtype().into(),
    )
}

/// A tangent for `shape`, zeros when absent.
pub(crate) fn or_zeros<B: Backend>(
    tangent: Option<Prim<B>>,
    like: &Prim<B>,
    lanes: usize,
    shape: &Shape,
) -> Prim<B> {
    tangent.unwrap_or_else(|| zeros_like_lanes::<B>(like, lanes, shape))
}

/// Lane count shared by several optional tangents, checking they agree.
pub(crate) fn common_lanes<'a, B: Backend + 'a>(
    op: &str,
    tangents: impl IntoIterator<Item = &'a Option<Prim<B>>>,
) -> Option<usize> {
    let mut found: Option<usize> = None;
    for t in tangents.into_iter().flatten() {
        let lb = lanes_of::<B>(t);
        match found {
            Some(la) => assert!(
                la == lb,
                "burn-nested: `{op}` got tangents with {la} and {lb} lanes; all tangents meeting \
                 in one computation must have the same number of lanes: seed every input with \
                 the same lanes, and drop the tangent of a tensor from another transform call \
                 with `constant(primal(t))`"
            ),
            None => found = Some(lb),
        }
    }
    found
}

/// Repeats an int index tensor over a new leading lane axis: `[lanes, ..shape]`.
pub(crate) fn int_over_lanes<B: Backend>(
    indices: B::IntTensorPrimitive,
    lanes: usize,
) -> B::IntTensorPrimitive {
    let shape = indices.shape();
    let one = B::int_reshape(indices, lane_shape(1, &shape));
    B::int_expand(one, lane_shape(lanes, &shape))
}

/// Repeats a bool mask over a new leading lane axis: `[lanes, ..shape]`.
pub(crate) fn bool_over_lanes<B: Backend>(
    mask: B::BoolTensorPrimitive,
    lanes: usize,
) -> B::BoolTensorPrimitive {
    let shape = mask.shape();
    let one = B::bool_reshape(mask, lane_shape(1, &shape));
    B::bool_expand(one, lane_shape(lanes, &shape))
}

/// Slices selecting `range` along `dim` and everything along the other dims of a
/// rank-`rank` tensor.
pub(crate) fn slices_along(
    rank: usize,
    dim: usize,
    range: core::ops::Range<usize>,
) -> Vec<burn_backend::Slice> {
    (0..rank)
        .map(|d| match d == dim {
            true => burn_backend::Slice::from(range.clone()),
            false => burn_backend::Slice::full(),
        })
        .collect()
}

/// A float scalar in the dtype of `like`.
pub(crate) fn scalar<B: Backend>(value: f64, like: &Prim<B>) -> Scalar {
    Scalar::new(value, &like.dtype())
}

/// The backend's bool dtype on the device of `x`, for masks the rules make.
pub(crate) fn bool_dtype<B: Backend>(x: &Prim<B>) -> BoolDType {
    get_device_settings::<B>(&B::float_device(x)).bool_dtype
}

/// Panics because `op` has no JVP rule yet and met a tangent.
pub(crate) fn no_jvp(op: &str) -> ! {
    panic!(
        "burn-nested: `{op}` has no forward-mode (JVP) rule yet and was given a tangent; \
         detach its inputs (`.detach()` drops the tangent: the derivative through this op is \
         then taken as zero) or compute this part outside the differentiated function \
         (docs/ops.md lists each op's rule)"
    )
}

impl<B: Backend> DualTensor<B> {
    /// Kind *linear / structural*: the tangent goes through the lane-shifted op.
    pub(crate) fn linear(
        self,
        primal_op: impl FnOnce(Prim<B>) -> Prim<B>,
        tangent_op: impl FnOnce(Prim<B>) -> Prim<B>,
    ) -> Self {
        DualTensor::from_parts(
            primal_op(self.primal),
            self.tangent.map(tangent_op),
            self.layout,
        )
    }

    /// [`linear`](Self::linear) for an op that keeps rows whatever its arguments
    /// (a scalar op, a cast; see `dual::rows`).
    pub(crate) fn linear_rowwise(
        self,
        name: &'static str,
        primal_op: impl FnOnce(Prim<B>) -> Prim<B>,
        tangent_op: impl FnOnce(Prim<B>) -> Prim<B>,
    ) -> Self {
        super::rows::op::<B, _, _, _>(name, self, |_| true, |x| x.linear(primal_op, tangent_op))
    }

    /// [`linear`](Self::linear) for an op that does `rows` to the rows of its
    /// input (`true` when it keeps them; see `dual::rows`).
    pub(crate) fn linear_if(
        self,
        name: &'static str,
        rows: impl Into<super::rows::Rows>,
        primal_op: impl FnOnce(Prim<B>) -> Prim<B>,
        tangent_op: impl FnOnce(Prim<B>) -> Prim<B>,
    ) -> Self {
        let rows = rows.into();
        super::rows::op::<B, _, _, _>(name, self, |_| rows, |x| x.linear(primal_op, tangent_op))
    }

    /// Kind *elementwise with a derivative*: `tangent * f'(x, y)` where `y` is the
    /// output; the derivative is only computed when a tangent is present.
    /// `curvature(x, y, f')` gives `f''` (`None` where it is zero almost everywhere,
    /// as for piecewise-linear `f`); it is only called in a second-order pass (see
    /// `dual::second`), which adds `f''·Σₗ x₁ₗ²` to the accumulator lanes.
    pub(crate) fn elementwise(
        self,
        primal_op: impl FnOnce(Prim<B>) -> Prim<B>,
        derivative: impl FnOnce(Prim<B>, Prim<B>) -> Prim<B>,
        curvature: impl FnOnce(Prim<B>, Prim<B>, Prim<B>) -> Option<Prim<B>>,
    ) -> Self {
        // Elementwise by construction: it keeps rows.
        super::rows::op::<B, _, _, _>(
            "elementwise op",
            self,
            |_| true,
            |x| x.elementwise_body(primal_op, derivative, curvature),
        )
    }

    fn elementwise_body(
        self,
        primal_op: impl FnOnce(Prim<B>) -> Prim<B>,
        derivative: impl FnOnce(Prim<B>, Prim<B>) -> Prim<B>,
        curvature: impl FnOnce(Prim<B>, Prim<B>, Prim<B>) -> Option<Prim<B>>,
    ) -> Self {
        let Some(t) = self.tangent else {
            return DualTensor::constant(primal_op(self.primal));
        };
        let out = primal_op(self.primal.clone());
        let Some(layout) = self.layout else {
            let d = derivative(self.primal, out.clone());
            return DualTensor::from_parts(out, Some(scale::<B>(t, d)), None);
        };
        // The primal-shaped factors first, then the lane-shaped products:
        // burn-fusion ends a fused kernel where an output's shape changes, so
        // interleaved they were a kernel each (6 more launches a main-job step
        // on wgpu, 119 against 113 through lavapipe).
        let d = derivative(self.primal.clone(), out.clone());
        let c = curvature(self.primal, out.clone(), d.clone());
        let scaled = scale::<B>(t.clone(), d);
        let tangent = match c {
            Some(c) => {
                super::second::elementwise_curvature::<B>("elementwise op", &t, scaled, c, &layout)
            }
            None => scaled,
        };
        DualTensor::from_parts(out, Some(tangent), Some(layout))
    }

    /// Kind *zero derivative*: piecewise-constant ops carry no tangent.
    pub(crate) fn zero_derivative(self, primal_op: impl FnOnce(Prim<B>) -> Prim<B>) -> Self {
        DualTensor::constant(primal_op(self.primal))
    }

    /// Kind *piecewise linear with slope 0 or 1* (relu, clamp): the tangent is
    /// zeroed where `mask_of(primal)` holds, and passes unchanged elsewhere.
    pub(crate) fn zero_where(
        self,
        mask_of: impl FnOnce(Prim<B>) -> B::BoolTensorPrimitive,
        primal_op: impl FnOnce(Prim<B>) -> Prim<B>,
    ) -> Self {
        let Some(t) = self.tangent else {
            return DualTensor::constant(primal_op(self.primal));
        };
        // A mask on the tangent, entry by entry: it keeps rows.
        let layout = self.layout;
        super::rows::op::<B, _, _, _>(
            "masked op",
            (self.primal, t),
            |_| true,
            |(p, t)| Self::zero_where_body(p, t, layout, mask_of, primal_op),
        )
    }

    fn zero_where_body(
        primal: Prim<B>,
        t: Prim<B>,
        layout: Option<super::second::Layout>,
        mask_of: impl FnOnce(Prim<B>) -> B::BoolTensorPrimitive,
        primal_op: impl FnOnce(Prim<B>) -> Prim<B>,
    ) -> Self {
        let mask = mask_of(primal.clone());
        let lanes = lanes_of::<B>(&t);
        let zero = scalar::<B>(0.0, &t);
        let tangent = B::float_mask_fill(t, bool_over_lanes::<B>(mask, lanes), zero);
        DualTensor::from_parts(primal_op(primal), Some(tangent), layout)
    }

    /// The primal, panicking naming `op` if a tangent is present.
    pub(crate) fn primal_without_jvp(self, op: &str) -> Prim<B> {
        if self.tangent.is_some() {
            no_jvp(op)
        }
        self.primal
    }
}
