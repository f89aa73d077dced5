//! `FloatTensorOps` for `Dual<B>`: every primal is `B`'s own op; tangents follow the
//! rule of the op's kind (see `lanes.rs` and `rules/`).

use burn_backend::{
    Backend, Distribution, ExecutionError, Scalar, Slice, TensorData, TensorMetadata,
    ops::{
        FloatTensorOps, GridSampleOptions, InterpolateMode, grid_sample::float_grid_sample_2d_ref,
    },
    tensor::{BoolTensor, Device, FloatTensor, IndexingUpdateOp, IntTensor},
};
use burn_backend::{BoolDType, FloatDType, IntDType, Shape};

use crate::dual::lanes::{Prim, bool_dtype, expand_to, lane_shape, lanes_of, no_jvp, scalar};
use crate::dual::reshape::reshape;
use crate::dual::rules::{binary, index, order, reduce};
use crate::dual::{Dual, DualTensor, rows};

type D<B> = DualTensor<B>;

/// `t·c` for a scalar `c`.
fn times<B: Backend>(t: Prim<B>, c: f64) -> Prim<B> {
    let c = scalar::<B>(c, &t);
    B::float_mul_scalar(t, c)
}

/// `d³`.
fn cube<B: Backend>(d: Prim<B>) -> Prim<B> {
    B::float_mul(B::float_mul(d.clone(), d.clone()), d)
}

/// `c·x·d³`: the second derivative of `asin`-like ops from their first, `d`.
fn x_times_cube<B: Backend>(x: Prim<B>, d: Prim<B>, c: f64) -> Prim<B> {
    times::<B>(B::float_mul(x, cube::<B>(d)), c)
}

/// `c·x·d²`: the second derivative of `atan`-like ops from their first, `d`.
fn x_times_square<B: Backend>(x: Prim<B>, d: Prim<B>, c: f64) -> Prim<B> {
    times::<B>(B::float_mul(x, B::float_mul(d.clone(), d)), c)
}

/// Scalar `s − 1`, keeping an int exponent an int.
fn minus_one(s: Scalar) -> Scalar {
    match s.try_as_integer() {
        Some(i) => Scalar::Int(i.elem::<i64>() - 1),
        None => Scalar::Float(s.elem::<f64>() - 1.0),
    }
}

/// `x^e` for a scalar `e` (`primal_op` is `B`'s own power op): the tangent is
/// `e·x^(e−1)·∂x`, and none at all for `e = 0` (`x^0` is constant), where the
/// formula would give `0·0^(−1) = NaN` at `x = 0`.
fn power_scalar<B: Backend>(
    x: D<B>,
    exponent: Scalar,
    primal_op: impl FnOnce(Prim<B>) -> Prim<B>,
) -> D<B> {
    if exponent.elem::<f64>() == 0.0 {
        return x.zero_derivative(primal_op);
    }
    let e = exponent.elem::<f64>();
    x.elementwise(
        primal_op,
        |x, _| {
            let factor = scalar::<B>(e, &x);
            B::float_mul_scalar(B::float_powf_scalar(x, minus_one(exponent)), factor)
        },
        |x, _, _| {
            // e·(e−1)·x^(e−2); none for e = 1, where it would be 0·0^(−1) at x = 0.
            (e != 1.0).then(|| {
                let factor = scalar::<B>(e * (e - 1.0), &x);
                let lowered = minus_one(minus_one(exponent));
                B::float_mul_scalar(B::float_powf_scalar(x, lowered), factor)
            })
        },
    )
}

impl<B: Backend> FloatTensorOps<Self> for Dual<B> {
    fn float_from_data(data: TensorData, device: &Device<Self>) -> FloatTensor<Self> {
        D::constant(B::float_from_data(data, device))
    }

    fn float_random(
        shape: Shape,
        distribution: Distribution,
        device: &Device<Self>,
        dtype: FloatDType,
    ) -> FloatTensor<Self> {
        // Inside a transform call every pass sees the same draws (one Dropout
        // mask per call; see `dual::passes`).
        D::constant(crate::dual::passes::shared_random::<B>(&shape, || {
            B::float_random(shape.clone(), distribution, device, dtype)
        }))
    }

    fn float_zeros(shape: Shape, device: &Device<Self>, dtype: FloatDType) -> FloatTensor<Self> {
        D::constant(B::float_zeros(shape, device, dtype))
    }

    fn float_ones(shape: Shape, device: &Device<Self>, dtype: FloatDType) -> FloatTensor<Self> {
        D::constant(B::float_ones(shape, device, dtype))
    }

    fn float_full(
        shape: Shape,
        fill_value: Scalar,
        device: &Device<Self>,
        dtype: FloatDType,
    ) -> FloatTensor<Self> {
        D::constant(B::float_full(shape, fill_value, device, dtype))
    }

    fn float_into_data(
        tensor: FloatTensor<Self>,
    ) -> impl Future<Output = Result<TensorData, ExecutionError>> + Send {
        B::float_into_data(tensor.primal)
    }

    fn float_device(tensor: &FloatTensor<Self>) -> Device<Self> {
        B::float_device(&tensor.primal)
    }

    fn float_to_device(tensor: FloatTensor<Self>, device: &Device<Self>) -> FloatTensor<Self> {
        // Already there: the identity, without an op on the inner backend (and,
        // under an outer `Autodiff`, without a node and its backward). Burn's
        // `BatchNorm` moves its running statistics to the input's device on
        // every training forward, a transform's passes included.
        if B::float_device(&tensor.primal) == *device {
            return tensor;
        }
        tensor.linear_rowwise(
            "to_device",
            |p| B::float_to_device(p, device),
            |t| B::float_to_device(t, device),
        )
    }

    fn float_into_int(tensor: FloatTensor<Self>, out_dtype: IntDType) -> IntTensor<Self> {
        B::float_into_int(tensor.primal, out_dtype)
    }

    fn float_empty(shape: Shape, device: &Device<Self>, dtype: FloatDType) -> FloatTensor<Self> {
        D::constant(B::float_empty(shape, device, dtype))
    }

    /// On a taped inner backend the copies are an `expand` of a new axis and a
    /// `reshape`, whose reverse rules are exact: Burn 0.21's `repeat_dim` backward
    /// sums interleaved entries where the copies are stacked blocks.
    fn float_repeat_dim(tensor: FloatTensor<Self>, dim: usize, times: usize) -> FloatTensor<Self> {
        if tensor.primal.shape()[dim] > 1 && times > 1 {
            crate::dual::passes::note_reverse_defect("repeat_dim");
        }
        if B::ad_enabled(&B::float_device(&tensor.primal)) {
            return tensor.linear_if(
                "repeat_dim",
                dim != 0 || times == 1,
                |p| index::tile_dim::<B>(p, dim, times),
                |t| index::tile_dim::<B>(t, dim + 1, times),
            );
        }
        tensor.linear_if(
            "repeat_dim",
            dim != 0 || times == 1,
            |p| B::float_repeat_dim(p, dim, times),
            |t| B::float_repeat_dim(t, dim + 1, times),
        )
    }

    fn float_add(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>("float_add", (lhs, rhs), rows::pair_keeps, |(l, r)| {
            binary::add(l, r)
        })
    }

    fn float_add_scalar(lhs: FloatTensor<Self>, rhs: Scalar) -> FloatTensor<Self> {
        lhs.linear_rowwise("add_scalar", |p| B::float_add_scalar(p, rhs), |t| t)
    }

    fn float_clamp_min(tensor: FloatTensor<Self>, min: Scalar) -> FloatTensor<Self> {
        tensor.zero_where(
            |p| {
                let dt = bool_dtype::<B>(&p);
                B::float_lower_elem(p, min, dt)
            },
            |p| B::float_clamp_min(p, min),
        )
    }

    fn float_clamp_max(tensor: FloatTensor<Self>, max: Scalar) -> FloatTensor<Self> {
        tensor.zero_where(
            |p| {
                let dt = bool_dtype::<B>(&p);
                B::float_greater_elem(p, max, dt)
            },
            |p| B::float_clamp_max(p, max),
        )
    }

    fn float_clamp(tensor: FloatTensor<Self>, min: Scalar, max: Scalar) -> FloatTensor<Self> {
        tensor.zero_where(
            |p| {
                let dt = bool_dtype::<B>(&p);
                B::bool_or(
                    B::float_lower_elem(p.clone(), min, dt),
                    B::float_greater_elem(p, max, dt),
                )
            },
            |p| B::float_clamp(p, min, max),
        )
    }

    fn float_sub(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>("float_sub", (lhs, rhs), rows::pair_keeps, |(l, r)| {
            binary::sub(l, r)
        })
    }

    fn float_sub_scalar(lhs: FloatTensor<Self>, rhs: Scalar) -> FloatTensor<Self> {
        lhs.linear_rowwise("sub_scalar", |p| B::float_sub_scalar(p, rhs), |t| t)
    }

    fn float_mul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>("float_mul", (lhs, rhs), rows::pair_keeps, |(l, r)| {
            binary::mul(l, r)
        })
    }

    fn float_mul_scalar(lhs: FloatTensor<Self>, rhs: Scalar) -> FloatTensor<Self> {
        lhs.linear_rowwise(
            "mul_scalar",
            |p| B::float_mul_scalar(p, rhs),
            |t| B::float_mul_scalar(t, rhs),
        )
    }

    fn float_div(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>("float_div", (lhs, rhs), rows::pair_keeps, |(l, r)| {
            binary::div(l, r)
        })
    }

    /// On a taped inner backend the division becomes a product with the
    /// reciprocal taken in f64: Burn 0.21's `Autodiff` differentiates
    /// `float_div_scalar` with an f32 reciprocal (`1/√π` off by 5e-8), so a reverse
    /// pass over `Dual<Autodiff<I>>` (its `erf` backward divides by `√π`) would
    /// carry that error into f64 results. Untaped, `B`'s own division keeps
    /// `Dual` bit-identical to `B`.
    fn float_div_scalar(lhs: FloatTensor<Self>, rhs: Scalar) -> FloatTensor<Self> {
        if B::ad_enabled(&B::float_device(&lhs.primal)) {
            let recip = scalar::<B>(1.0 / rhs.elem::<f64>(), &lhs.primal);
            return lhs.linear_rowwise(
                "div_scalar",
                |p| B::float_mul_scalar(p, recip),
                |t| B::float_mul_scalar(t, recip),
            );
        }
        lhs.linear_rowwise(
            "div_scalar",
            |p| B::float_div_scalar(p, rhs),
            |t| B::float_div_scalar(t, rhs),
        )
    }

    fn float_remainder(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>("float_remainder", (lhs, rhs), rows::pair_keeps, |(l, r)| {
            binary::remainder(l, r)
        })
    }

    fn float_remainder_scalar(lhs: FloatTensor<Self>, rhs: Scalar) -> FloatTensor<Self> {
        lhs.linear_rowwise(
            "remainder_scalar",
            |p| B::float_remainder_scalar(p, rhs),
            |t| t,
        )
    }

    fn float_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>("float_matmul", (lhs, rhs), rows::matmul_keeps, |(l, r)| {
            binary::matmul(l, r)
        })
    }

    fn float_cross(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        dim: usize,
    ) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "float_cross",
            (lhs, rhs),
            |p| {
                if rows::pair_keeps(p) {
                    rows::along(dim)
                } else {
                    rows::Rows::Moved
                }
            },
            |(l, r)| binary::cross(l, r, dim),
        )
    }

    fn float_neg(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.linear_rowwise("neg", B::float_neg, B::float_neg)
    }

    fn float_recip(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        // f'' = 2y³ = −2y·f'
        tensor.elementwise(
            B::float_recip,
            |_, y| B::float_neg(B::float_mul(y.clone(), y)),
            |_, y, d| Some(times::<B>(B::float_mul(y, d), -2.0)),
        )
    }

    fn float_transpose(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        let keeps = tensor.primal.shape().num_dims() >= 3;
        tensor.linear_if("transpose", keeps, B::float_transpose, B::float_transpose)
    }

    fn float_swap_dims(tensor: FloatTensor<Self>, dim1: usize, dim2: usize) -> FloatTensor<Self> {
        tensor.linear_if(
            "swap_dims",
            dim1 != 0 && dim2 != 0,
            |p| B::float_swap_dims(p, dim1, dim2),
            |t| B::float_swap_dims(t, dim1 + 1, dim2 + 1),
        )
    }

    fn float_permute(tensor: FloatTensor<Self>, axes: &[usize]) -> FloatTensor<Self> {
        let lane_axes: Vec<usize> = [0].into_iter().chain(axes.iter().map(|a| a + 1)).collect();
        tensor.linear_if(
            "permute",
            axes.first() == Some(&0),
            |p| B::float_permute(p, axes),
            |t| B::float_permute(t, &lane_axes),
        )
    }

    fn float_flip(tensor: FloatTensor<Self>, axes: &[usize]) -> FloatTensor<Self> {
        let lane_axes: Vec<usize> = axes.iter().map(|a| a + 1).collect();
        tensor.linear_if(
            "flip",
            !axes.contains(&0),
            |p| B::float_flip(p, axes),
            |t| B::float_flip(t, &lane_axes),
        )
    }

    fn float_reshape(tensor: FloatTensor<Self>, shape: Shape) -> FloatTensor<Self> {
        tensor.linear_rowwise(
            "reshape",
            |p| reshape::<B>(p, shape.clone()),
            |t| {
                let lanes = lanes_of::<B>(&t);
                reshape::<B>(t, lane_shape(lanes, &shape))
            },
        )
    }

    fn float_gather(
        dim: usize,
        tensor: FloatTensor<Self>,
        indices: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "float_gather",
            (tensor, indices),
            |_| dim != 0,
            |(t, i)| index::gather(dim, t, i),
        )
    }

    fn float_scatter_add(
        dim: usize,
        tensor: FloatTensor<Self>,
        indices: IntTensor<Self>,
        value: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        index::scatter_add(dim, tensor, indices, value)
    }

    fn float_scatter_nd(
        data: FloatTensor<Self>,
        indices: IntTensor<Self>,
        values: FloatTensor<Self>,
        reduction: IndexingUpdateOp,
    ) -> FloatTensor<Self> {
        index::scatter_nd(data, indices, values, reduction)
    }

    fn float_gather_nd(data: FloatTensor<Self>, indices: IntTensor<Self>) -> FloatTensor<Self> {
        index::gather_nd(data, indices)
    }

    fn float_select(
        tensor: FloatTensor<Self>,
        dim: usize,
        indices: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "float_select",
            (tensor, indices),
            |_| dim != 0,
            |(t, i)| index::select(t, dim, i),
        )
    }

    fn float_select_add(
        tensor: FloatTensor<Self>,
        dim: usize,
        indices: IntTensor<Self>,
        value: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        index::select_add(tensor, dim, indices, value)
    }

    fn float_slice(tensor: FloatTensor<Self>, slices: &[Slice]) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "float_slice",
            tensor,
            |_| slices.first().is_none_or(|s| s.step == 1),
            |t| index::slice(t, slices),
        )
    }

    fn float_slice_assign(
        tensor: FloatTensor<Self>,
        slices: &[Slice],
        value: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        index::slice_assign(tensor, slices, value)
    }

    fn float_mask_where(
        tensor: FloatTensor<Self>,
        mask: BoolTensor<Self>,
        value: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "float_mask_where",
            (tensor, mask, value),
            |(t, m, v)| {
                rows::broadcast_keeps(&[
                    rows::rank_of(t),
                    (m.shape().num_dims(), false),
                    rows::rank_of(v),
                ])
            },
            |(t, m, v)| index::mask_where(t, m, v),
        )
    }

    fn float_mask_fill(
        tensor: FloatTensor<Self>,
        mask: BoolTensor<Self>,
        value: Scalar,
    ) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "float_mask_fill",
            (tensor, mask),
            |(t, m)| rows::broadcast_keeps(&[rows::rank_of(t), (m.shape().num_dims(), false)]),
            |(t, m)| index::mask_fill(t, m, value),
        )
    }

    fn float_equal(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_equal(lhs.primal, rhs.primal, out_dtype)
    }

    fn float_not_equal(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_not_equal(lhs.primal, rhs.primal, out_dtype)
    }

    fn float_equal_elem(
        lhs: FloatTensor<Self>,
        rhs: Scalar,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_equal_elem(lhs.primal, rhs, out_dtype)
    }

    fn float_not_equal_elem(
        lhs: FloatTensor<Self>,
        rhs: Scalar,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_not_equal_elem(lhs.primal, rhs, out_dtype)
    }

    fn float_greater(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_greater(lhs.primal, rhs.primal, out_dtype)
    }

    fn float_greater_elem(
        lhs: FloatTensor<Self>,
        rhs: Scalar,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_greater_elem(lhs.primal, rhs, out_dtype)
    }

    fn float_greater_equal(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_greater_equal(lhs.primal, rhs.primal, out_dtype)
    }

    fn float_greater_equal_elem(
        lhs: FloatTensor<Self>,
        rhs: Scalar,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_greater_equal_elem(lhs.primal, rhs, out_dtype)
    }

    fn float_lower(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_lower(lhs.primal, rhs.primal, out_dtype)
    }

    fn float_lower_elem(
        lhs: FloatTensor<Self>,
        rhs: Scalar,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_lower_elem(lhs.primal, rhs, out_dtype)
    }

    fn float_lower_equal(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_lower_equal(lhs.primal, rhs.primal, out_dtype)
    }

    fn float_lower_equal_elem(
        lhs: FloatTensor<Self>,
        rhs: Scalar,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_lower_equal_elem(lhs.primal, rhs, out_dtype)
    }

    /// Drops the tangent and detaches the primal (stops every derivative, like
    /// JAX's `stop_gradient`).
    fn float_detach(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        D::constant(B::float_detach(tensor.primal))
    }

    /// Leaves the tensor untouched: re-marking an `Autodiff` primal as a leaf would
    /// cut it from the outer tape when a model is lifted with `train::<Dual<_>>()`.
    fn float_set_require_grad(tensor: FloatTensor<Self>, _require_grad: bool) -> FloatTensor<Self> {
        tensor
    }

    fn float_is_require_grad(tensor: &FloatTensor<Self>) -> bool {
        B::float_is_require_grad(&tensor.primal)
    }

    fn float_sum(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>("float_sum", tensor, rows::all_rows, reduce::sum)
    }

    fn float_sum_dim(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        tensor.linear_if(
            "sum_dim",
            rows::along(dim),
            |p| B::float_sum_dim(p, dim),
            |t| B::float_sum_dim(t, dim + 1),
        )
    }

    fn float_prod(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        crate::dual::passes::note_reverse_defect("prod");
        rows::op::<B, _, _, _>("float_prod", tensor, rows::all_rows, reduce::prod)
    }

    fn float_prod_dim(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        crate::dual::passes::note_reverse_defect("prod_dim");
        rows::op::<B, _, _, _>(
            "float_prod_dim",
            tensor,
            |_| rows::along(dim),
            |t| reduce::prod_dim(t, dim),
        )
    }

    fn float_mean(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>("float_mean", tensor, rows::all_rows, reduce::mean)
    }

    fn float_mean_dim(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        tensor.linear_if(
            "mean_dim",
            rows::along(dim),
            |p| B::float_mean_dim(p, dim),
            |t| B::float_mean_dim(t, dim + 1),
        )
    }

    fn float_cumsum(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        tensor.linear_if(
            "cumsum",
            rows::along(dim),
            |p| B::float_cumsum(p, dim),
            |t| B::float_cumsum(t, dim + 1),
        )
    }

    fn float_cumprod(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        crate::dual::passes::note_reverse_defect("cumprod");
        rows::op::<B, _, _, _>(
            "float_cumprod",
            tensor,
            |_| rows::along(dim),
            |t| reduce::cumprod(t, dim),
        )
    }

    fn float_cummin(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "float_cummin",
            tensor,
            |_| rows::along(dim),
            |t| order::running_extreme(t, dim, B::float_cummin),
        )
    }

    fn float_cummax(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "float_cummax",
            tensor,
            |_| rows::along(dim),
            |t| order::running_extreme(t, dim, B::float_cummax),
        )
    }

    fn float_cast(tensor: FloatTensor<Self>, dtype: FloatDType) -> FloatTensor<Self> {
        tensor.linear_rowwise(
            "cast",
            |p| B::float_cast(p, dtype),
            |t| B::float_cast(t, dtype),
        )
    }

    fn float_exp(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        if tensor.tangent.is_none() {
            // Burn's `Autodiff` recomputes it in the backward pass.
            return tensor.recall("exp", B::float_exp);
        }
        tensor.elementwise(B::float_exp, |_, y| y, |_, y, _| Some(y))
    }

    fn float_log(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(
            B::float_log,
            |x, _| B::float_recip(x),
            |_, _, d| Some(B::float_neg(B::float_mul(d.clone(), d))),
        )
    }

    fn float_log1p(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(
            B::float_log1p,
            |x, _| {
                let one = scalar::<B>(1.0, &x);
                B::float_recip(B::float_add_scalar(x, one))
            },
            |_, _, d| Some(B::float_neg(B::float_mul(d.clone(), d))),
        )
    }

    fn float_powf(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>("float_powf", (lhs, rhs), rows::pair_keeps, |(l, r)| {
            binary::powf(l, r)
        })
    }

    fn float_powi(lhs: FloatTensor<Self>, rhs: IntTensor<Self>) -> FloatTensor<Self> {
        let exponent = rhs.clone();
        let exponent2 = rhs.clone();
        lhs.elementwise(
            |p| B::float_powi(p, rhs),
            |x, _| {
                // n·x^(n−1), with n−1 taken as 0 where n = 0 so that 0·0^(−1) = NaN is
                // never formed (x^0 is constant: its derivative is 0 also at x = 0).
                let bool_dtype = bool_dtype::<B>(&x);
                let is_zero = B::int_equal_elem(exponent.clone(), Scalar::Int(0), bool_dtype);
                let safe = B::int_mask_fill(exponent.clone(), is_zero, Scalar::Int(1));
                let lowered = B::float_powi(x.clone(), B::int_sub_scalar(safe, Scalar::Int(1)));
                B::float_mul(B::int_into_float(exponent, x.dtype().into()), lowered)
            },
            |x, _, _| {
                // n·(n−1)·x^(n−2), with n−2 taken as 0 where n ∈ {0, 1} (the factor
                // n·(n−1) is 0 there, and 0·0^(−1) must not be formed).
                let bool_dtype = bool_dtype::<B>(&x);
                let n = exponent2;
                let low = B::int_lower_elem(n.clone(), Scalar::Int(2), bool_dtype);
                let high = B::int_greater_elem(n.clone(), Scalar::Int(-1), bool_dtype);
                let flat = B::bool_and(low, high);
                let lowered = B::int_mask_fill(
                    B::int_sub_scalar(n.clone(), Scalar::Int(2)),
                    flat,
                    Scalar::Int(0),
                );
                let nf = B::int_into_float(n, x.dtype().into());
                let factor =
                    B::float_mul(nf.clone(), B::float_sub_scalar(nf, scalar::<B>(1.0, &x)));
                Some(B::float_mul(factor, B::float_powi(x, lowered)))
            },
        )
    }

    fn float_powi_scalar(lhs: FloatTensor<Self>, rhs: Scalar) -> FloatTensor<Self> {
        power_scalar(lhs, rhs, |p| B::float_powi_scalar(p, rhs))
    }

    fn float_powi_scalar_impl(lhs: FloatTensor<Self>, rhs: Scalar) -> FloatTensor<Self> {
        power_scalar(lhs, rhs, |p| B::float_powi_scalar_impl(p, rhs))
    }

    fn float_powf_scalar(tensor: FloatTensor<Self>, value: Scalar) -> FloatTensor<Self> {
        power_scalar(tensor, value, |p| B::float_powf_scalar(p, value))
    }

    fn float_powf_scalar_impl(tensor: FloatTensor<Self>, value: Scalar) -> FloatTensor<Self> {
        power_scalar(tensor, value, |p| B::float_powf_scalar_impl(p, value))
    }

    fn float_sqrt(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        // f'' = −1/(4y³) = −2·f'³
        tensor.elementwise(
            B::float_sqrt,
            |_, y| {
                let half = scalar::<B>(0.5, &y);
                B::float_mul_scalar(B::float_recip(y), half)
            },
            |_, _, d| Some(times::<B>(cube::<B>(d), -2.0)),
        )
    }

    fn float_abs(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(B::float_abs, |x, _| B::float_sign(x), |_, _, _| None)
    }

    fn float_cos(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(
            B::float_cos,
            |x, _| B::float_neg(B::float_sin(x)),
            |_, y, _| Some(B::float_neg(y)),
        )
    }

    fn float_sin(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(
            B::float_sin,
            |x, _| B::float_cos(x),
            |_, y, _| Some(B::float_neg(y)),
        )
    }

    fn float_tan(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        if tensor.tangent.is_none() {
            // Burn's `Autodiff` recomputes it in the backward pass.
            return tensor.recall("tan", B::float_tan);
        }
        // f'' = 2y·f'
        tensor.elementwise(
            B::float_tan,
            |_, y| one_plus_square::<B>(y, 1.0),
            |_, y, d| Some(times::<B>(B::float_mul(y, d), 2.0)),
        )
    }

    fn float_cosh(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(B::float_cosh, |x, _| B::float_sinh(x), |_, y, _| Some(y))
    }

    fn float_sinh(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(B::float_sinh, |x, _| B::float_cosh(x), |_, y, _| Some(y))
    }

    fn float_tanh(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        if tensor.tangent.is_none() {
            // Burn's `Autodiff` recomputes it in the backward pass.
            return tensor.recall("tanh", B::float_tanh);
        }
        // f'' = −2y·f'
        tensor.elementwise(
            B::float_tanh,
            |_, y| one_plus_square::<B>(y, -1.0),
            |_, y, d| Some(times::<B>(B::float_mul(y, d), -2.0)),
        )
    }

    fn float_acos(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(
            B::float_acos,
            |x, _| B::float_neg(B::float_recip(B::float_sqrt(one_plus_square::<B>(x, -1.0)))),
            |x, _, d| Some(x_times_cube::<B>(x, d, 1.0)),
        )
    }

    fn float_acosh(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(
            B::float_acosh,
            |x, _| {
                let minus_one = B::float_neg(one_plus_square::<B>(x, -1.0));
                B::float_recip(B::float_sqrt(minus_one))
            },
            |x, _, d| Some(x_times_cube::<B>(x, d, -1.0)),
        )
    }

    fn float_asin(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(
            B::float_asin,
            |x, _| B::float_recip(B::float_sqrt(one_plus_square::<B>(x, -1.0))),
            |x, _, d| Some(x_times_cube::<B>(x, d, 1.0)),
        )
    }

    fn float_asinh(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(
            B::float_asinh,
            |x, _| B::float_recip(B::float_sqrt(one_plus_square::<B>(x, 1.0))),
            |x, _, d| Some(x_times_cube::<B>(x, d, -1.0)),
        )
    }

    fn float_atan(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(
            B::float_atan,
            |x, _| B::float_recip(one_plus_square::<B>(x, 1.0)),
            |x, _, d| Some(x_times_square::<B>(x, d, -2.0)),
        )
    }

    fn float_atanh(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(
            B::float_atanh,
            |x, _| B::float_recip(one_plus_square::<B>(x, -1.0)),
            |x, _, d| Some(x_times_square::<B>(x, d, 2.0)),
        )
    }

    fn float_atan2(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>("float_atan2", (lhs, rhs), rows::pair_keeps, |(l, r)| {
            binary::atan2(l, r)
        })
    }

    fn float_round(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.zero_derivative(B::float_round)
    }

    fn float_floor(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.zero_derivative(B::float_floor)
    }

    fn float_ceil(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.zero_derivative(B::float_ceil)
    }

    fn float_trunc(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.zero_derivative(B::float_trunc)
    }

    fn float_erf(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        // erf'(x) = 2/√π · exp(−x²)
        tensor.elementwise(
            B::float_erf,
            |x, _| {
                let factor = scalar::<B>(2.0 / core::f64::consts::PI.sqrt(), &x);
                let gauss = B::float_exp(B::float_neg(B::float_mul(x.clone(), x)));
                B::float_mul_scalar(gauss, factor)
            },
            |x, _, d| Some(times::<B>(B::float_mul(x, d), -2.0)),
        )
    }

    fn float_cat(tensors: Vec<FloatTensor<Self>>, dim: usize) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>("float_cat", tensors, |_| dim != 0, |t| index::cat(t, dim))
    }

    fn float_argmax(tensor: FloatTensor<Self>, dim: usize, out_dtype: IntDType) -> IntTensor<Self> {
        B::float_argmax(tensor.primal, dim, out_dtype)
    }

    fn float_argtopk(
        tensor: FloatTensor<Self>,
        dim: usize,
        k: usize,
        out_dtype: IntDType,
    ) -> IntTensor<Self> {
        B::float_argtopk(tensor.primal, dim, k, out_dtype)
    }

    fn float_topk(tensor: FloatTensor<Self>, dim: usize, k: usize) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "float_topk",
            tensor,
            |_| rows::along(dim),
            |t| order::topk(t, dim, k),
        )
    }

    fn float_argmin(tensor: FloatTensor<Self>, dim: usize, out_dtype: IntDType) -> IntTensor<Self> {
        B::float_argmin(tensor.primal, dim, out_dtype)
    }

    fn float_max(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        if tensor.tangent.is_none() {
            return D::constant(B::float_max(tensor.primal));
        }
        rows::op::<B, _, _, _>("float_max", tensor, rows::all_rows, |t| {
            Self::float_max_dim(order::flatten(t), 0)
        })
    }

    fn float_max_dim(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        if tensor.tangent.is_none() {
            return D::constant(B::float_max_dim(tensor.primal, dim));
        }
        let dtype = order::int_dtype::<B>(&tensor.primal);
        Self::float_max_dim_with_indices(tensor, dim, dtype).0
    }

    fn float_max_dim_with_indices(
        tensor: FloatTensor<Self>,
        dim: usize,
        indices_dtype: IntDType,
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        rows::op::<B, _, _, _>(
            "float_max_dim",
            tensor,
            |_| rows::along(dim),
            |t| {
                order::with_indices(t, dim, |p| {
                    B::float_max_dim_with_indices(p, dim, indices_dtype)
                })
            },
        )
    }

    fn float_min(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        if tensor.tangent.is_none() {
            return D::constant(B::float_min(tensor.primal));
        }
        rows::op::<B, _, _, _>("float_min", tensor, rows::all_rows, |t| {
            Self::float_min_dim(order::flatten(t), 0)
        })
    }

    fn float_min_dim(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        if tensor.tangent.is_none() {
            return D::constant(B::float_min_dim(tensor.primal, dim));
        }
        let dtype = order::int_dtype::<B>(&tensor.primal);
        Self::float_min_dim_with_indices(tensor, dim, dtype).0
    }

    fn float_min_dim_with_indices(
        tensor: FloatTensor<Self>,
        dim: usize,
        indices_dtype: IntDType,
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        rows::op::<B, _, _, _>(
            "float_min_dim",
            tensor,
            |_| rows::along(dim),
            |t| {
                order::with_indices(t, dim, |p| {
                    B::float_min_dim_with_indices(p, dim, indices_dtype)
                })
            },
        )
    }

    fn float_max_abs(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        if tensor.tangent.is_none() {
            return D::constant(B::float_max_abs(tensor.primal));
        }
        Self::float_max(Self::float_abs(tensor))
    }

    fn float_max_abs_dim(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        if tensor.tangent.is_none() {
            return D::constant(B::float_max_abs_dim(tensor.primal, dim));
        }
        Self::float_max_dim(Self::float_abs(tensor), dim)
    }

    fn float_any(tensor: FloatTensor<Self>, out_dtype: BoolDType) -> BoolTensor<Self> {
        B::float_any(tensor.primal, out_dtype)
    }

    fn float_any_dim(
        tensor: FloatTensor<Self>,
        dim: usize,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_any_dim(tensor.primal, dim, out_dtype)
    }

    fn float_all(tensor: FloatTensor<Self>, out_dtype: BoolDType) -> BoolTensor<Self> {
        B::float_all(tensor.primal, out_dtype)
    }

    fn float_all_dim(
        tensor: FloatTensor<Self>,
        dim: usize,
        out_dtype: BoolDType,
    ) -> BoolTensor<Self> {
        B::float_all_dim(tensor.primal, dim, out_dtype)
    }

    fn float_sign(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.zero_derivative(B::float_sign)
    }

    fn float_expand(tensor: FloatTensor<Self>, shape: Shape) -> FloatTensor<Self> {
        // Same rank: dim 0 stays dim 0 (and the output keeps the batch there).
        let keeps = tensor.primal.shape().num_dims() == shape.num_dims();
        tensor.linear_if(
            "expand",
            keeps,
            |p| B::float_expand(p, shape.clone()),
            |t| expand_to::<B>(t, &shape),
        )
    }

    fn float_sort(tensor: FloatTensor<Self>, dim: usize, descending: bool) -> FloatTensor<Self> {
        if tensor.tangent.is_none() {
            return D::constant(B::float_sort(tensor.primal, dim, descending));
        }
        let dtype = order::int_dtype::<B>(&tensor.primal);
        Self::float_sort_with_indices(tensor, dim, descending, dtype).0
    }

    fn float_sort_with_indices(
        tensor: FloatTensor<Self>,
        dim: usize,
        descending: bool,
        indices_dtype: IntDType,
    ) -> (FloatTensor<Self>, IntTensor<Self>) {
        rows::op::<B, _, _, _>(
            "float_sort",
            tensor,
            |_| rows::along(dim),
            |t| {
                order::with_indices(t, dim, |p| {
                    B::float_sort_with_indices(p, dim, descending, indices_dtype)
                })
            },
        )
    }

    fn float_argsort(
        tensor: FloatTensor<Self>,
        dim: usize,
        descending: bool,
        out_dtype: IntDType,
    ) -> IntTensor<Self> {
        B::float_argsort(tensor.primal, dim, descending, out_dtype)
    }

    /// Without tangents this is `B`'s kernel; with tangents the reference
    /// composition runs on `Dual` ops, differentiable in the input and the grid.
    fn float_grid_sample_2d(
        tensor: FloatTensor<Self>,
        grid: FloatTensor<Self>,
        options: GridSampleOptions,
    ) -> FloatTensor<Self> {
        if tensor.tangent.is_none() && grid.tangent.is_none() {
            return D::constant(B::float_grid_sample_2d(tensor.primal, grid.primal, options));
        }
        // Burn's reference composition only covers bilinear sampling.
        if !matches!(options.mode, InterpolateMode::Bilinear) {
            no_jvp("float_grid_sample_2d with nearest or bicubic interpolation")
        }
        float_grid_sample_2d_ref::<Self>(tensor, grid, options)
    }

    fn float_unfold(
        tensor: FloatTensor<Self>,
        dim: usize,
        size: usize,
        step: usize,
    ) -> FloatTensor<Self> {
        // Windows along dim 0 would put several rows in one: moved.
        tensor.linear_if(
            "unfold",
            dim != 0,
            |p| B::float_unfold(p, dim, size, step),
            |t| B::float_unfold(t, dim + 1, size, step),
        )
    }

    fn float_is_nan(tensor: FloatTensor<Self>, out_dtype: BoolDType) -> BoolTensor<Self> {
        B::float_is_nan(tensor.primal, out_dtype)
    }

    fn float_is_inf(tensor: FloatTensor<Self>, out_dtype: BoolDType) -> BoolTensor<Self> {
        B::float_is_inf(tensor.primal, out_dtype)
    }
}

/// `1 + sign·x²`.
fn one_plus_square<B: Backend>(x: Prim<B>, sign: f64) -> Prim<B> {
    let sq = B::float_mul(x.clone(), x);
    let sq = if sign < 0.0 { B::float_neg(sq) } else { sq };
    let one = scalar::<B>(1.0, &sq);
    B::float_add_scalar(sq, one)
}
