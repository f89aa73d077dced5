//! Indexing ops: linear in their float inputs, indices and masks shared by all lanes.

use burn_backend::{
    Backend, IntDType, Scalar, Shape, Slice, TensorMetadata, tensor::IndexingUpdateOp,
};

use crate::dual::DualTensor;
use crate::dual::lanes::{
    Prim, common_lanes, expand_to, int_over_lanes, lane_shape, lanes_of, no_jvp, or_zeros,
};

/// `[full, ..slices]`: the same slice on every lane.
fn lane_slices(slices: &[Slice]) -> Vec<Slice> {
    let mut all = Vec::with_capacity(slices.len() + 1);
    all.push(Slice::full());
    all.extend_from_slice(slices);
    all
}

/// Indices `[..batch, M]` into the leading dims of a primal, turned into indices
/// `[lanes, ..batch, 1 + M]` into its tangent `[lanes, ..]`: each lane's copy is
/// prefixed with its lane number, so `gather_nd`/`scatter_nd` on the tangent index
/// the lane axis too and every lane is handled in one call (no permutation, which
/// some backends' `gather_nd`/`scatter_nd` reject as non-contiguous).
fn lane_prefixed<B: Backend>(
    indices: B::IntTensorPrimitive,
    lanes: usize,
) -> B::IntTensorPrimitive {
    let shape = indices.shape();
    let rank = shape.num_dims();
    let dtype: IntDType = indices.dtype().into();
    let device = B::int_device(&indices);
    let mut lane_dims = vec![1; rank + 1];
    lane_dims[0] = lanes;
    let lane_ids = B::int_reshape(
        B::int_arange(0..lanes as i64, &device, dtype),
        Shape::from(lane_dims),
    );
    let mut ids_shape = lane_shape(lanes, &shape);
    ids_shape[rank] = 1;
    let lane_ids = B::int_expand(lane_ids, ids_shape);
    B::int_cat(vec![lane_ids, int_over_lanes::<B>(indices, lanes)], rank)
}

pub(crate) fn slice<B: Backend>(x: DualTensor<B>, slices: &[Slice]) -> DualTensor<B> {
    x.linear(
        |p| B::float_slice(p, slices),
        |t| B::float_slice(t, &lane_slices(slices)),
    )
}

pub(crate) fn slice_assign<B: Backend>(
    x: DualTensor<B>,
    slices: &[Slice],
    value: DualTensor<B>,
) -> DualTensor<B> {
    let lanes = common_lanes::<B>("float_slice_assign", [&x.tangent, &value.tangent]);
    let (xs, vs) = (x.primal.shape(), value.primal.shape());
    let primal = B::float_slice_assign(x.primal.clone(), slices, value.primal.clone());
    let Some(lanes) = lanes else {
        return DualTensor::constant(primal);
    };
    let tx = or_zeros::<B>(x.tangent, &x.primal, lanes, &xs);
    let tv = or_zeros::<B>(value.tangent, &value.primal, lanes, &vs);
    let tangent = B::float_slice_assign(tx, &lane_slices(slices), tv);
    DualTensor::new(primal, Some(tangent))
}

pub(crate) fn gather<B: Backend>(
    dim: usize,
    x: DualTensor<B>,
    indices: B::IntTensorPrimitive,
) -> DualTensor<B> {
    let Some(t) = x.tangent else {
        return DualTensor::constant(B::float_gather(dim, x.primal, indices));
    };
    let lanes = lanes_of::<B>(&t);
    let tangent = B::float_gather(dim + 1, t, int_over_lanes::<B>(indices.clone(), lanes));
    DualTensor::new(B::float_gather(dim, x.primal, indices), Some(tangent))
}

pub(crate) fn scatter_add<B: Backend>(
    dim: usize,
    x: DualTensor<B>,
    indices: B::IntTensorPrimitive,
    value: DualTensor<B>,
) -> DualTensor<B> {
    let lanes = common_lanes::<B>("float_scatter_add", [&x.tangent, &value.tangent]);
    let xs = x.primal.shape();
    let primal = B::float_scatter_add(dim, x.primal.clone(), indices.clone(), value.primal);
    let Some(lanes) = lanes else {
        return DualTensor::constant(primal);
    };
    let tx = or_zeros::<B>(x.tangent, &x.primal, lanes, &xs);
    let tangent = match value.tangent {
        Some(tv) => B::float_scatter_add(dim + 1, tx, int_over_lanes::<B>(indices, lanes), tv),
        None => tx,
    };
    DualTensor::new(primal, Some(tangent))
}

pub(crate) fn select<B: Backend>(
    x: DualTensor<B>,
    dim: usize,
    indices: B::IntTensorPrimitive,
) -> DualTensor<B> {
    let idx = indices.clone();
    x.linear(
        |p| B::float_select(p, dim, indices),
        |t| B::float_select(t, dim + 1, idx),
    )
}

pub(crate) fn select_add<B: Backend>(
    x: DualTensor<B>,
    dim: usize,
    indices: B::IntTensorPrimitive,
    value: DualTensor<B>,
) -> DualTensor<B> {
    let lanes = common_lanes::<B>("float_select_add", [&x.tangent, &value.tangent]);
    let xs = x.primal.shape();
    let primal = B::float_select_add(x.primal.clone(), dim, indices.clone(), value.primal);
    let Some(lanes) = lanes else {
        return DualTensor::constant(primal);
    };
    let tx = or_zeros::<B>(x.tangent, &x.primal, lanes, &xs);
    let tangent = match value.tangent {
        Some(tv) => B::float_select_add(tx, dim + 1, indices, tv),
        None => tx,
    };
    DualTensor::new(primal, Some(tangent))
}

/// A mask broadcast to `[lanes, ..shape]`.
fn mask_over_lanes<B: Backend>(
    mask: B::BoolTensorPrimitive,
    lanes: usize,
    shape: &burn_backend::Shape,
) -> B::BoolTensorPrimitive {
    let ms = mask.shape();
    let mut dims = vec![1; shape.num_dims() + 1 - ms.num_dims()];
    dims.extend_from_slice(&ms);
    let one = B::bool_reshape(mask, burn_backend::Shape::from(dims));
    B::bool_expand(one, lane_shape(lanes, shape))
}

/// `where(mask, value, x)`.
pub(crate) fn mask_where<B: Backend>(
    x: DualTensor<B>,
    mask: B::BoolTensorPrimitive,
    value: DualTensor<B>,
) -> DualTensor<B> {
    let lanes = common_lanes::<B>("float_mask_where", [&x.tangent, &value.tangent]);
    let primal = B::float_mask_where(x.primal.clone(), mask.clone(), value.primal.clone());
    let Some(lanes) = lanes else {
        return DualTensor::constant(primal);
    };
    let shape = primal.shape();
    let full = |t: Option<Prim<B>>, p: &Prim<B>| {
        let ps = p.shape();
        expand_to::<B>(or_zeros::<B>(t, p, lanes, &ps), &shape)
    };
    let tx = full(x.tangent, &x.primal);
    let tv = full(value.tangent, &value.primal);
    let tangent = B::float_mask_where(tx, mask_over_lanes::<B>(mask, lanes, &shape), tv);
    DualTensor::new(primal, Some(tangent))
}

/// Filled positions become constants: their tangent is zero.
pub(crate) fn mask_fill<B: Backend>(
    x: DualTensor<B>,
    mask: B::BoolTensorPrimitive,
    value: Scalar,
) -> DualTensor<B> {
    let Some(t) = x.tangent else {
        return DualTensor::constant(B::float_mask_fill(x.primal, mask, value));
    };
    let primal = B::float_mask_fill(x.primal, mask.clone(), value);
    let shape = primal.shape();
    let t = expand_to::<B>(t, &shape);
    let zero = Scalar::new(0.0, &t.dtype());
    let lanes = lanes_of::<B>(&t);
    let tangent = B::float_mask_fill(t, mask_over_lanes::<B>(mask, lanes, &shape), zero);
    DualTensor::new(primal, Some(tangent))
}

pub(crate) fn cat<B: Backend>(tensors: Vec<DualTensor<B>>, dim: usize) -> DualTensor<B> {
    let lanes = common_lanes::<B>("float_cat", tensors.iter().map(|t| &t.tangent));
    let Some(lanes) = lanes else {
        return DualTensor::constant(B::float_cat(
            tensors.into_iter().map(|t| t.primal).collect(),
            dim,
        ));
    };
    let (primals, tangents): (Vec<_>, Vec<_>) = tensors
        .into_iter()
        .map(|t| {
            let shape = t.primal.shape();
            let tangent = or_zeros::<B>(t.tangent, &t.primal, lanes, &shape);
            (t.primal, tangent)
        })
        .unzip();
    DualTensor::new(
        B::float_cat(primals, dim),
        Some(B::float_cat(tangents, dim + 1)),
    )
}

/// `gather_nd` indexes leading dims: the tangent is gathered with lane-prefixed
/// indices.
pub(crate) fn gather_nd<B: Backend>(
    x: DualTensor<B>,
    indices: B::IntTensorPrimitive,
) -> DualTensor<B> {
    let Some(t) = x.tangent else {
        return DualTensor::constant(B::float_gather_nd(x.primal, indices));
    };
    let lanes = lanes_of::<B>(&t);
    let tangent = B::float_gather_nd(t, lane_prefixed::<B>(indices.clone(), lanes));
    DualTensor::new(B::float_gather_nd(x.primal, indices), Some(tangent))
}

/// `scatter_nd` with `Assign` or `Add` is linear in data and values; the other
/// reductions have no JVP yet.
pub(crate) fn scatter_nd<B: Backend>(
    x: DualTensor<B>,
    indices: B::IntTensorPrimitive,
    values: DualTensor<B>,
    reduction: IndexingUpdateOp,
) -> DualTensor<B> {
    let lanes = common_lanes::<B>("float_scatter_nd", [&x.tangent, &values.tangent]);
    let (xs, vs) = (x.primal.shape(), values.primal.shape());
    let primal = B::float_scatter_nd(
        x.primal.clone(),
        indices.clone(),
        values.primal.clone(),
        reduction,
    );
    let Some(lanes) = lanes else {
        return DualTensor::constant(primal);
    };
    if !matches!(reduction, IndexingUpdateOp::Assign | IndexingUpdateOp::Add) {
        no_jvp("float_scatter_nd with a Mul, Min or Max reduction")
    }
    let tx = or_zeros::<B>(x.tangent, &x.primal, lanes, &xs);
    let tv = or_zeros::<B>(values.tangent, &values.primal, lanes, &vs);
    let tangent = B::float_scatter_nd(tx, lane_prefixed::<B>(indices, lanes), tv, reduction);
    DualTensor::new(primal, Some(tangent))
}
