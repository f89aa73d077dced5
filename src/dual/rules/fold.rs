//! Folding the lane axis into a batch or channel dimension, so that one call of an
//! inner-backend op handles every lane instead of one call per lane.
//!
//! A tangent `[L, s0, .., s(r-1)]` can have its lanes merged into primal dim `d`,
//! optionally after splitting that dim into `groups` equal blocks: the merged dim
//! is laid out `[groups, L, s_d / groups]`, which keeps grouped convolutions
//! correct (every block of a group stays inside its group).

use burn_backend::{Backend, Shape, TensorMetadata};

use crate::dual::DualTensor;
use crate::dual::lanes::{Prim, lane_shape, lanes_of};
use crate::dual::reshape::reshape;

/// Reshapes `t` to `split`, permutes its axes to `order` and reshapes to `out`.
/// Unit axes are dropped first (they do not move data), and the permutation is
/// skipped when what is left is already in order, so folding lanes next to the
/// batch is a pure reshape and no intermediate has more than five dims.
fn regroup<B: Backend>(t: Prim<B>, split: &[usize], order: &[usize], out: Vec<usize>) -> Prim<B> {
    let kept: Vec<usize> = (0..split.len()).filter(|&i| split[i] != 1).collect();
    let dims: Vec<usize> = kept.iter().map(|&i| split[i]).collect();
    let axes: Vec<usize> = order
        .iter()
        .filter(|&&i| split[i] != 1)
        .map(|i| kept.iter().position(|k| k == i).expect("kept axis"))
        .collect();
    let t = if axes.iter().enumerate().all(|(i, &a)| i == a) {
        t
    } else {
        B::float_permute(reshape::<B>(t, Shape::from(dims)), &axes)
    };
    reshape::<B>(t, Shape::from(out))
}

/// `[L, .., A, ..] -> [.., groups·L·(A/groups), ..]`: lanes merged into primal dim
/// `dim`, between the group and the within-group index.
pub(crate) fn into_dim<B: Backend>(t: Prim<B>, dim: usize, groups: usize) -> Prim<B> {
    let s = t.shape();
    let (lanes, prim) = (s[0], &s[1..]);
    let (pre, a, post) = split_at(prim, dim);
    // [L, pre, g, A/g, post] -> [pre, g, L, A/g, post]
    let split = [lanes, pre, groups, a / groups, post];
    let mut out = prim.to_vec();
    out[dim] = a * lanes;
    regroup::<B>(t, &split, &[1, 2, 0, 3, 4], out)
}

/// Inverse of [`into_dim`]: `[.., groups·L·A', ..] -> [L, .., groups·A', ..]`.
pub(crate) fn out_of_dim<B: Backend>(
    t: Prim<B>,
    dim: usize,
    groups: usize,
    lanes: usize,
) -> Prim<B> {
    let s = t.shape();
    let (pre, merged, post) = split_at(&s, dim);
    let per = merged / (groups * lanes);
    // [pre, g, L, A', post] -> [L, pre, g, A', post]
    let split = [pre, groups, lanes, per, post];
    let mut out = vec![lanes];
    out.extend_from_slice(&s[..dim]);
    out.push(groups * per);
    out.extend_from_slice(&s[dim + 1..]);
    regroup::<B>(t, &split, &[2, 0, 1, 3, 4], out)
}

/// `(Π dims before dim, dims[dim], Π dims after dim)`.
fn split_at(dims: &[usize], dim: usize) -> (usize, usize, usize) {
    let pre = dims[..dim].iter().product();
    let post = dims[dim + 1..].iter().product();
    (pre, dims[dim], post)
}

/// `[L, N, ..] -> [L·N, ..]`: lanes become extra batch rows.
pub(crate) fn into_batch<B: Backend>(t: Prim<B>) -> Prim<B> {
    into_dim::<B>(t, 0, 1)
}

/// `[L·N, ..] -> [L, N, ..]`.
pub(crate) fn out_of_batch<B: Backend>(t: Prim<B>, lanes: usize) -> Prim<B> {
    out_of_dim::<B>(t, 0, 1, lanes)
}

/// Applies an op that treats batch rows independently (and is linear in its input)
/// to all lanes of `t` in one call, by folding the lanes into the batch.
pub(crate) fn per_batch<B: Backend>(t: Prim<B>, op: impl FnOnce(Prim<B>) -> Prim<B>) -> Prim<B> {
    let lanes = lanes_of::<B>(&t);
    out_of_batch::<B>(op(into_batch::<B>(t)), lanes)
}

/// Like [`per_batch`] for an op `op(x, t)` that reads `x` only for its shape (a
/// backward pass linear in the gradient `t`): `x` is replaced by a stand-in with
/// `lanes` times its batch.
pub(crate) fn per_batch_shaped<B: Backend>(
    x: &Prim<B>,
    t: Prim<B>,
    op: impl FnOnce(Prim<B>, Prim<B>) -> Prim<B>,
) -> Prim<B> {
    let lanes = lanes_of::<B>(&t);
    let mut dims = x.shape().to_vec();
    dims[0] *= lanes;
    let x = stand_in::<B>(x, Shape::from(dims));
    out_of_batch::<B>(op(x, into_batch::<B>(t)), lanes)
}

/// Shapes for repeating `[N, ..]` over lanes: `[1, N, ..]`, `[L, N, ..]`, `[L·N, ..]`.
fn lane_repeat_shapes(s: &Shape, lanes: usize) -> (Shape, Shape, Shape) {
    let one = lane_shape(1, s);
    let many = lane_shape(lanes, s);
    let mut flat = s.to_vec();
    flat[0] *= lanes;
    (one, many, Shape::from(flat))
}

/// Repeats a primal once per lane along the batch: `[N, ..] -> [L·N, ..]`, the
/// companion of a tangent folded with [`into_batch`].
pub(crate) fn repeat_batch<B: Backend>(p: Prim<B>, lanes: usize) -> Prim<B> {
    let (one, many, flat) = lane_repeat_shapes(&p.shape(), lanes);
    reshape::<B>(B::float_expand(reshape::<B>(p, one), many), flat)
}

/// [`repeat_batch`] for an int tensor (pooling indices).
pub(crate) fn int_repeat_batch<B: Backend>(
    p: B::IntTensorPrimitive,
    lanes: usize,
) -> B::IntTensorPrimitive {
    let (one, many, flat) = lane_repeat_shapes(&p.shape(), lanes);
    B::int_reshape(B::int_expand(B::int_reshape(p, one), many), flat)
}

/// Zeros with `like`'s dtype and device, standing in for an argument that an op reads
/// only for its shape (the weight of a weight-gradient, the input of a pooling
/// backward), when lanes have changed that shape.
pub(crate) fn stand_in<B: Backend>(like: &Prim<B>, shape: Shape) -> Prim<B> {
    B::float_zeros(shape, &B::float_device(like), like.dtype().into())
}

/// A channel bias tangent `[L, C]` shaped `[L, 1, C, 1, ..]` to broadcast over an
/// output `[N, C, ..]` of rank `rank`.
pub(crate) fn channel_bias<B: Backend>(t: Prim<B>, rank: usize) -> Prim<B> {
    let s = t.shape();
    let mut dims = vec![s[0], 1, s[1]];
    dims.resize(rank + 1, 1);
    reshape::<B>(t, Shape::from(dims))
}

/// Sums a tangent over every primal dim except `dim`: `[L, ..] -> [L, s_dim]` (the
/// tangent of a bias gradient).
pub(crate) fn sum_all_but<B: Backend>(t: Prim<B>, dim: usize) -> Prim<B> {
    let s = t.shape();
    let (lanes, keep) = (s[0], s[dim + 1]);
    let t = B::float_swap_dims(t, 1, dim + 1);
    let rest = s.num_elements() / (lanes * keep);
    let t = reshape::<B>(t, Shape::new([lanes, keep, rest]));
    reshape::<B>(B::float_sum_dim(t, 2), Shape::new([lanes, keep]))
}

/// Kind *linear* for an op that treats batch rows independently (pooling,
/// interpolation, unfolding): the tangent goes through the same op with the lanes
/// folded into the batch.
pub(crate) fn batch_linear<B: Backend>(
    x: DualTensor<B>,
    op: impl Fn(Prim<B>) -> Prim<B>,
) -> DualTensor<B> {
    x.linear(&op, |t| per_batch::<B>(t, &op))
}

/// A backward pass `op(x, grad)` that is linear in `grad` and reads `x` only for its
/// shape: the gradient's lanes are folded into the batch.
pub(crate) fn batch_linear_grad<B: Backend>(
    x: DualTensor<B>,
    grad: DualTensor<B>,
    op: impl Fn(Prim<B>, Prim<B>) -> Prim<B>,
) -> DualTensor<B> {
    let tangent = grad
        .tangent
        .map(|t| per_batch_shaped::<B>(&x.primal, t, &op));
    DualTensor::from_parts(op(x.primal, grad.primal), tangent, grad.layout)
}
