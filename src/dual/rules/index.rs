//! Indexing ops: linear in their float inputs, indices and masks shared by all lanes.

use burn_backend::{
    Backend, IntDType, Scalar, Shape, Slice, TensorMetadata, get_device_settings,
    tensor::IndexingUpdateOp,
};

use crate::dual::lanes::{
    Prim, common_lanes, expand_to, int_over_lanes, lane_shape, lanes_of, no_jvp, or_zeros,
};
use crate::dual::reshape::reshape;
use crate::dual::{DualTensor, second};

/// `[full, ..slices]`: the same slice on every lane.
fn lane_slices(slices: &[Slice]) -> Vec<Slice> {
    let mut all = Vec::with_capacity(slices.len() + 1);
    all.push(Slice::full());
    all.extend_from_slice(slices);
    all
}

/// Indices `[..batch, M]` into the leading dims of a primal `[d0, ..]`, turned into
/// indices `[lanes·batch, M]` into its tangent folded to `[lanes·d0, ..]`: lane
/// `l`'s copy has `l·d0` added to its first component, so one `gather_nd` or
/// `scatter_nd` on the folded tangent handles every lane. The index batch is
/// flattened to one dim because Burn 0.21's wgpu `scatter_nd` and `gather_nd` give
/// wrong results for index tensors with more than one batch dim (seen on lavapipe).
fn lane_offset<B: Backend>(
    indices: B::IntTensorPrimitive,
    lanes: usize,
    d0: usize,
) -> B::IntTensorPrimitive {
    let shape = indices.shape();
    let rank = shape.num_dims();
    let depth = shape[rank - 1];
    let dtype: IntDType = indices.dtype().into();
    let device = B::int_device(&indices);
    let mut lane_dims = vec![1; rank + 1];
    lane_dims[0] = lanes;
    let offsets = B::int_mul_scalar(
        B::int_reshape(
            B::int_arange(0..lanes as i64, &device, dtype),
            Shape::from(lane_dims),
        ),
        Scalar::from(d0 as i64),
    );
    let over = int_over_lanes::<B>(indices, lanes);
    let flat = Shape::from([lanes * shape.num_elements() / depth, depth]);
    if depth == 1 {
        return B::int_reshape(B::int_add(over, offsets), flat);
    }
    // Only the first component moves: add [l·d0, 0, .., 0].
    let mut first = lane_shape(lanes, &shape).as_slice().to_vec();
    first[rank] = 1;
    let mut rest = first.clone();
    rest[rank] = depth - 1;
    let shift = B::int_cat(
        vec![
            B::int_expand(offsets, Shape::from(first)),
            B::int_zeros(Shape::from(rest), &device, dtype),
        ],
        rank,
    );
    B::int_reshape(B::int_add(over, shift), flat)
}

/// `[lanes, d0, d1, ..]` → `[lanes·d0, d1, ..]`, and back.
fn fold_lanes<B: Backend>(t: Prim<B>) -> Prim<B> {
    let dims = t.shape().as_slice().to_vec();
    let mut folded = vec![dims[0] * dims[1]];
    folded.extend_from_slice(&dims[2..]);
    reshape::<B>(t, Shape::from(folded))
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
    let layout = second::joint("float_slice_assign", [&x, &value]);
    let (xs, vs) = (x.primal.shape(), value.primal.shape());
    let primal = B::float_slice_assign(x.primal.clone(), slices, value.primal.clone());
    let Some(lanes) = lanes else {
        return DualTensor::constant(primal);
    };
    let tx = or_zeros::<B>(x.tangent, &x.primal, lanes, &xs);
    let tv = or_zeros::<B>(value.tangent, &value.primal, lanes, &vs);
    let tangent = B::float_slice_assign(tx, &lane_slices(slices), tv);
    DualTensor::from_parts(primal, Some(tangent), layout)
}

pub(crate) fn gather<B: Backend>(
    dim: usize,
    x: DualTensor<B>,
    indices: B::IntTensorPrimitive,
) -> DualTensor<B> {
    if one_index_on_fusion::<B>(&x.primal, dim, &indices) {
        let idx = indices.clone();
        return x.linear(
            |p| masked_sum::<B>(p, dim, indices),
            |t| {
                // The primal's index, broadcast over the lanes.
                let shape = idx.shape();
                masked_sum::<B>(t, dim + 1, B::int_reshape(idx, lane_shape(1, &shape)))
            },
        );
    }
    let Some(t) = x.tangent else {
        return DualTensor::constant(B::float_gather(dim, x.primal, indices));
    };
    let lanes = lanes_of::<B>(&t);
    let tangent = B::float_gather(dim + 1, t, int_over_lanes::<B>(indices.clone(), lanes));
    DualTensor::from_parts(
        B::float_gather(dim, x.primal, indices),
        Some(tangent),
        x.layout,
    )
}

/// Whether a `gather` along `dim` takes one index per position (`indices` of
/// `x`'s shape except size one along `dim`) on a burn-fusion backend, where
/// Burn 0.21 may compute it wrongly (see [`select_exact`]).
fn one_index_on_fusion<B: Backend>(
    x: &Prim<B>,
    dim: usize,
    indices: &B::IntTensorPrimitive,
) -> bool {
    let (xs, is) = (x.shape(), indices.shape());
    is[dim] == 1
        && xs.num_dims() == is.num_dims()
        && (0..xs.num_dims()).all(|d| d == dim || xs[d] == is[d])
        && crate::fusion_warning::on_fusion::<B>()
}

/// `t` summed along `dim` with every position whose coordinate along `dim`
/// differs from `index` set to zero: `index` has `t`'s rank and size one along
/// `dim`, and broadcasts against `t`. Exact: each sum adds zeros to the one
/// kept value, and a NaN or infinity elsewhere is masked away, not multiplied.
fn masked_sum<B: Backend>(t: Prim<B>, dim: usize, index: B::IntTensorPrimitive) -> Prim<B> {
    let shape = t.shape();
    let device = B::float_device(&t);
    let mut along = vec![1; shape.num_dims()];
    along[dim] = shape[dim];
    let positions = B::int_reshape(
        B::int_arange(0..shape[dim] as i64, &device, index.dtype().into()),
        Shape::from(along),
    );
    let bool_dtype = get_device_settings::<B>(&device).bool_dtype;
    let others = B::bool_not(B::int_equal(positions, index, bool_dtype));
    let others = B::bool_expand(others, shape);
    B::float_sum_dim(B::float_mask_fill(t, others, Scalar::from(0.0)), dim)
}

pub(crate) fn scatter_add<B: Backend>(
    dim: usize,
    x: DualTensor<B>,
    indices: B::IntTensorPrimitive,
    value: DualTensor<B>,
) -> DualTensor<B> {
    let lanes = common_lanes::<B>("float_scatter_add", [&x.tangent, &value.tangent]);
    let layout = second::joint("float_scatter_add", [&x, &value]);
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
    DualTensor::from_parts(primal, Some(tangent), layout)
}

pub(crate) fn select<B: Backend>(
    x: DualTensor<B>,
    dim: usize,
    indices: B::IntTensorPrimitive,
) -> DualTensor<B> {
    let idx = indices.clone();
    x.linear(
        |p| select_exact::<B>(p, dim, indices),
        |t| select_exact::<B>(t, dim + 1, idx),
    )
}

/// `B::float_select`, except for one index on burn-fusion, where it is the sum
/// along `dim` of `t` with every other position set to zero ([`masked_sum`]).
///
/// Burn 0.21's fused `select` finds the position along `dim` it writes from the
/// fused kernel's reference shape, and burn-fusion lets a later op in the same
/// kernel widen that shape where the selection has size one (an op that
/// broadcasts the selected column against the full tensor, or an unrelated op
/// merged beside it): each output then reads an index past the end of
/// `indices`, and the values are wrong without an error
/// (docs/burn-issues.md). A fused `gather` of one index per position goes
/// wrong the same way. The masked sum's reduction is a kernel burn-fusion gets
/// right; it costs one reduction launch where the fused `select` cost none.
pub(crate) fn select_exact<B: Backend>(
    t: Prim<B>,
    dim: usize,
    indices: B::IntTensorPrimitive,
) -> Prim<B> {
    if indices.shape().num_elements() != 1 || !crate::fusion_warning::on_fusion::<B>() {
        return B::float_select(t, dim, indices);
    }
    let rank = t.shape().num_dims();
    masked_sum::<B>(t, dim, B::int_reshape(indices, Shape::from(vec![1; rank])))
}

pub(crate) fn select_add<B: Backend>(
    x: DualTensor<B>,
    dim: usize,
    indices: B::IntTensorPrimitive,
    value: DualTensor<B>,
) -> DualTensor<B> {
    let lanes = common_lanes::<B>("float_select_add", [&x.tangent, &value.tangent]);
    let layout = second::joint("float_select_add", [&x, &value]);
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
    DualTensor::from_parts(primal, Some(tangent), layout)
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
    let layout = second::joint("float_mask_where", [&x, &value]);
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
    DualTensor::from_parts(primal, Some(tangent), layout)
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
    DualTensor::from_parts(primal, Some(tangent), x.layout)
}

pub(crate) fn cat<B: Backend>(tensors: Vec<DualTensor<B>>, dim: usize) -> DualTensor<B> {
    let lanes = common_lanes::<B>("float_cat", tensors.iter().map(|t| &t.tangent));
    let layout = second::joint("float_cat", &tensors);
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
    DualTensor::from_parts(
        B::float_cat(primals, dim),
        Some(B::float_cat(tangents, dim + 1)),
        layout,
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
    let (lanes, d0) = (lanes_of::<B>(&t), x.primal.shape()[0]);
    let gathered = B::float_gather_nd(
        fold_lanes::<B>(t),
        lane_offset::<B>(indices.clone(), lanes, d0),
    );
    let primal = B::float_gather_nd(x.primal, indices);
    let tangent = reshape::<B>(gathered, lane_shape(lanes, &primal.shape()));
    DualTensor::from_parts(primal, Some(tangent), x.layout)
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
    let layout = second::joint("float_scatter_nd", [&x, &values]);
    let (xs, vs) = (x.primal.shape(), values.primal.shape());
    let index_batch_rank = indices.shape().num_dims() - 1;
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
    let indices = lane_offset::<B>(indices, lanes, xs[0]);
    // Values `[lanes, ..batch, ..rest]` follow the indices' flattened batch.
    let mut flat_values = vec![indices.shape()[0]];
    flat_values.extend_from_slice(&vs.as_slice()[index_batch_rank..]);
    let tv = reshape::<B>(tv, Shape::from(flat_values));
    let folded = B::float_scatter_nd(fold_lanes::<B>(tx), indices, tv, reduction);
    let tangent = reshape::<B>(folded, lane_shape(lanes, &xs));
    DualTensor::from_parts(primal, Some(tangent), layout)
}

/// `repeat_dim(x, dim, times)` (stacked copies of the whole dim) as a `reshape`
/// to a new unit axis before `dim`, an `expand` of it to `times` and a `reshape`
/// back: each has an exact reverse rule in Burn's `Autodiff`, which its own
/// `repeat_dim` lacks.
pub(crate) fn tile_dim<B: Backend>(x: Prim<B>, dim: usize, times: usize) -> Prim<B> {
    let shape = x.shape();
    let mut unit = shape.as_slice().to_vec();
    unit.insert(dim, 1);
    let mut stacked = unit.clone();
    stacked[dim] = times;
    let mut out = shape.as_slice().to_vec();
    out[dim] *= times;
    let x = reshape::<B>(x, Shape::from(unit));
    let x = B::float_expand(x, Shape::from(stacked));
    reshape::<B>(x, Shape::from(out))
}
