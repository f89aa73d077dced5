//! Max pooling: the output is the input at each window's argmax, so its tangent is
//! the input tangent gathered at the same indices (Burn's indices are flat over the
//! input's spatial dims). Average pooling is linear and handled by
//! [`batch_linear`](super::fold::batch_linear).

use burn_backend::{Backend, Shape, TensorMetadata};

use crate::dual::DualTensor;
use crate::dual::lanes::{Prim, int_over_lanes, lane_shape, lanes_of};
use crate::dual::reshape::reshape;
use crate::dual::rules::fold::{int_repeat_batch, per_batch_shaped};

/// An int primitive of the inner backend.
type IntPrim<B> = <B as burn_backend::backend::BackendTypes>::IntTensorPrimitive;

/// The tangent `[L, N, C, spatial..]` gathered at flat spatial `indices`
/// `[N, C, out spatial..]`.
pub(crate) fn gather_at<B: Backend>(t: Prim<B>, indices: IntPrim<B>) -> Prim<B> {
    let (s, out) = (t.shape(), indices.shape());
    let lanes = s[0];
    let flat_in: usize = s[3..].iter().product();
    let flat_out: usize = out[2..].iter().product();
    let t = reshape::<B>(t, Shape::new([lanes, s[1], s[2], flat_in]));
    let idx = B::int_reshape(indices, Shape::new([out[0], out[1], flat_out]));
    let picked = B::float_gather(3, t, int_over_lanes::<B>(idx, lanes));
    reshape::<B>(picked, lane_shape(lanes, &out))
}

/// Max pooling with its argmax indices, by `with_indices` (the inner op returning
/// `(output, indices)`).
pub(crate) fn max_pool_with_indices<B: Backend>(
    x: DualTensor<B>,
    with_indices: impl FnOnce(Prim<B>) -> (Prim<B>, IntPrim<B>),
) -> (DualTensor<B>, IntPrim<B>) {
    let (out, indices) = with_indices(x.primal);
    let tangent = x.tangent.map(|t| gather_at::<B>(t, indices.clone()));
    (DualTensor::from_parts(out, tangent, x.layout), indices)
}

/// Max pooling: `plain` alone when there is no tangent (so the result is exactly
/// the inner backend's), else `with_indices` to know where to gather the tangent.
pub(crate) fn max_pool<B: Backend>(
    x: DualTensor<B>,
    plain: impl FnOnce(Prim<B>) -> Prim<B>,
    with_indices: impl FnOnce(Prim<B>) -> (Prim<B>, IntPrim<B>),
) -> DualTensor<B> {
    if x.tangent.is_none() {
        return DualTensor::constant(plain(x.primal));
    }
    max_pool_with_indices(x, with_indices).0
}

/// The input gradient of a max pooling, linear in the output gradient: lanes fold
/// into the batch, with the indices repeated once per lane.
pub(crate) fn max_pool_backward<B: Backend>(
    x: DualTensor<B>,
    grad: DualTensor<B>,
    indices: IntPrim<B>,
    backward: impl Fn(Prim<B>, Prim<B>, IntPrim<B>) -> Prim<B>,
) -> DualTensor<B> {
    let tangent = grad.tangent.map(|t| {
        let lanes = lanes_of::<B>(&t);
        let repeated = int_repeat_batch::<B>(indices.clone(), lanes);
        per_batch_shaped::<B>(&x.primal, t, |x, g| backward(x, g, repeated))
    });
    DualTensor::from_parts(
        backward(x.primal, grad.primal, indices),
        tangent,
        grad.layout,
    )
}
