//! Order-based ops (max/min, sort, top-k, running extremes): the tangent of each
//! output element is the tangent of the input element it was taken from.

use burn_backend::{Backend, IntDType, Scalar, Shape, TensorMetadata, get_device_settings};

use crate::dual::DualTensor;
use crate::dual::lanes::{Prim, int_over_lanes, lanes_of, slices_along};
use crate::dual::reshape::reshape;

/// The backend's default int dtype, for index tensors the rules make themselves.
pub(crate) fn int_dtype<B: Backend>(x: &Prim<B>) -> IntDType {
    get_device_settings::<B>(&B::float_device(x)).int_dtype
}

/// Picks tangent entries along `dim` at `indices` (shaped like the output).
pub(crate) fn take<B: Backend>(t: Prim<B>, dim: usize, indices: B::IntTensorPrimitive) -> Prim<B> {
    let lanes = lanes_of::<B>(&t);
    B::float_gather(dim + 1, t, int_over_lanes::<B>(indices, lanes))
}

/// Values with the indices they came from, and the matching tangent.
pub(crate) fn with_indices<B: Backend>(
    x: DualTensor<B>,
    dim: usize,
    op: impl FnOnce(Prim<B>) -> (Prim<B>, B::IntTensorPrimitive),
) -> (DualTensor<B>, B::IntTensorPrimitive) {
    let (values, indices) = op(x.primal);
    let tangent = x.tangent.map(|t| take::<B>(t, dim, indices.clone()));
    (DualTensor::from_parts(values, tangent, x.layout), indices)
}

/// The `k` largest values along `dim` (`B`'s own `float_topk`); the tangent is
/// taken at the first `k` positions of a descending `argsort`, because
/// `float_argtopk` is optional for backends (NdArray does not implement it) while
/// `argsort` is not.
pub(crate) fn topk<B: Backend>(x: DualTensor<B>, dim: usize, k: usize) -> DualTensor<B> {
    let Some(t) = x.tangent else {
        return DualTensor::constant(B::float_topk(x.primal, dim, k));
    };
    let dtype = int_dtype::<B>(&x.primal);
    let order = B::float_argsort(x.primal.clone(), dim, true, dtype);
    let first_k = slices_along(order.shape().num_dims(), dim, 0..k);
    let indices = B::int_slice(order, &first_k);
    DualTensor::from_parts(
        B::float_topk(x.primal, dim, k),
        Some(take::<B>(t, dim, indices)),
        x.layout,
    )
}

/// Flattens a dual to rank 1 (for whole-tensor max/min).
pub(crate) fn flatten<B: Backend>(x: DualTensor<B>) -> DualTensor<B> {
    let n = x.primal.shape().num_elements();
    x.linear(
        |p| reshape::<B>(p, Shape::new([n])),
        |t| {
            let lanes = lanes_of::<B>(&t);
            reshape::<B>(t, Shape::new([lanes, n]))
        },
    )
}

/// Running max/min along `dim`: the tangent follows the position of the latest
/// element equal to the running extreme (for a NaN extreme, the latest NaN).
pub(crate) fn running_extreme<B: Backend>(
    x: DualTensor<B>,
    dim: usize,
    op: impl Fn(Prim<B>, usize) -> Prim<B>,
) -> DualTensor<B> {
    let Some(t) = x.tangent else {
        return DualTensor::constant(op(x.primal, dim));
    };
    let out = op(x.primal.clone(), dim);
    let shape = x.primal.shape();
    let device = B::float_device(&x.primal);
    let settings = get_device_settings::<B>(&device);
    let n = shape[dim];
    let mut along = vec![1; shape.num_dims()];
    along[dim] = n;
    let positions = B::int_reshape(
        B::int_arange(0..n as i64, &device, settings.int_dtype),
        Shape::from(along),
    );
    let positions = B::int_into_float(
        B::int_expand(positions, shape.clone()),
        x.primal.dtype().into(),
    );
    // A NaN output was reached by the latest NaN input before it (a backend's
    // running extreme either carries a NaN on or skips it; either way some input
    // at or before each position equals its output or is a NaN under a NaN).
    // Without this a leading NaN leaves no source and the gather index at −1.
    let equal = B::float_equal(x.primal.clone(), out.clone(), settings.bool_dtype);
    let both_nan = B::bool_and(
        B::float_is_nan(x.primal, settings.bool_dtype),
        B::float_is_nan(out.clone(), settings.bool_dtype),
    );
    let reached = B::bool_or(equal, both_nan);
    let marked = B::float_mask_fill(
        positions,
        B::bool_not(reached),
        Scalar::new(-1.0, &out.dtype()),
    );
    let source = B::float_into_int(B::float_cummax(marked, dim), settings.int_dtype);
    DualTensor::from_parts(out, Some(take::<B>(t, dim, source)), x.layout)
}
