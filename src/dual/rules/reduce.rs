//! Reductions and cumulative sums/products.

use burn_backend::{Backend, Scalar, Shape, Slice, TensorMetadata, get_device_settings};

use crate::dual::DualTensor;
use crate::dual::lanes::{Prim, bool_over_lanes, lane_shape, lanes_of, over_lanes, scale};

/// Flattens a tangent to `[lanes, numel]`.
fn flat_lanes<B: Backend>(t: Prim<B>) -> Prim<B> {
    let shape = t.shape();
    let lanes = shape[0];
    B::float_reshape(t, Shape::new([lanes, shape.num_elements() / lanes]))
}

pub(crate) fn sum<B: Backend>(x: DualTensor<B>) -> DualTensor<B> {
    x.linear(B::float_sum, |t| B::float_sum_dim(flat_lanes::<B>(t), 1))
}

pub(crate) fn mean<B: Backend>(x: DualTensor<B>) -> DualTensor<B> {
    x.linear(B::float_mean, |t| B::float_mean_dim(flat_lanes::<B>(t), 1))
}

/// `∂ Π_dim x = Σ_i ∂x_i Π_{j≠i} x_j`, with the products over `j ≠ i` formed from
/// exclusive prefix and suffix products so that zeros in `x` are handled exactly.
pub(crate) fn prod_dim<B: Backend>(x: DualTensor<B>, dim: usize) -> DualTensor<B> {
    let Some(t) = x.tangent else {
        return DualTensor::constant(B::float_prod_dim(x.primal, dim));
    };
    let others = product_of_others::<B>(x.primal.clone(), dim);
    let tangent = B::float_sum_dim(scale::<B>(t, others), dim + 1);
    DualTensor::new(B::float_prod_dim(x.primal, dim), Some(tangent))
}

pub(crate) fn prod<B: Backend>(x: DualTensor<B>) -> DualTensor<B> {
    let Some(t) = x.tangent else {
        return DualTensor::constant(B::float_prod(x.primal));
    };
    let numel = x.primal.shape().num_elements();
    let flat = B::float_reshape(x.primal.clone(), Shape::new([numel]));
    let others = product_of_others::<B>(flat, 0);
    let tangent = B::float_sum_dim(scale::<B>(flat_lanes::<B>(t), others), 1);
    DualTensor::new(B::float_prod(x.primal), Some(tangent))
}

/// `Π_{j≠i} x_j` along `dim`, for every `i`.
fn product_of_others<B: Backend>(x: Prim<B>, dim: usize) -> Prim<B> {
    let shape = x.shape();
    let n = shape[dim];
    let one = Scalar::new(1.0, &x.dtype());
    let ones_shape = {
        let mut s = shape.clone();
        s[dim] = 1;
        s
    };
    let ones = B::float_full(ones_shape, one, &B::float_device(&x), x.dtype().into());
    let range = |r: core::ops::Range<usize>| -> Vec<Slice> {
        (0..shape.num_dims())
            .map(|d| {
                if d == dim {
                    Slice::from(r.clone())
                } else {
                    Slice::full()
                }
            })
            .collect()
    };
    // before[i] = Π_{j<i} x_j, after[i] = Π_{j>i} x_j.
    let prefix = B::float_cumprod(x.clone(), dim);
    let before = B::float_cat(
        vec![ones.clone(), B::float_slice(prefix, &range(0..n - 1))],
        dim,
    );
    let suffix = B::float_flip(B::float_cumprod(B::float_flip(x, &[dim]), dim), &[dim]);
    let after = B::float_cat(vec![B::float_slice(suffix, &range(1..n)), ones], dim);
    B::float_mul(before, after)
}

/// `∂ cumprod(x)_i = Σ_{j≤i} ∂x_j Π_{k≤i, k≠j} x_k`, exact also where `x` has zeros.
///
/// Before the first zero along `dim` this is `out_i · Σ_{j≤i} ∂x_j / x_j`. From the
/// first zero `f` on, every term but `j = f` contains the factor `x_f = 0`, so
/// `∂ out_i = ∂x_f · Π_{k≤i, k≠f} x_k`: the cumulative product of `x` with `x_f`
/// replaced by its tangent. Zeros are replaced by ones before dividing, so the rule
/// forms no NaN or infinity even in the discarded branch. (Under an outer
/// `Autodiff` the gradient at zeros is still NaN in Burn 0.21, whose own
/// `cumprod` backward divides by the input: tracel-ai/burn#3864.)
pub(crate) fn cumprod<B: Backend>(x: DualTensor<B>, dim: usize) -> DualTensor<B> {
    let Some(t) = x.tangent else {
        return DualTensor::constant(B::float_cumprod(x.primal, dim));
    };
    let out = B::float_cumprod(x.primal.clone(), dim);
    let lanes = lanes_of::<B>(&t);
    let shape = x.primal.shape();
    let settings = get_device_settings::<B>(&B::float_device(&x.primal));
    let (bool_dtype, int_dtype) = (settings.bool_dtype, settings.int_dtype);

    let zero = Scalar::new(0.0, &x.primal.dtype());
    let one = Scalar::new(1.0, &x.primal.dtype());
    let is_zero = B::float_equal_elem(x.primal.clone(), zero, bool_dtype);
    // Number of zeros up to and including each position.
    let zeros_so_far = B::int_cumsum(B::bool_into_int(is_zero.clone(), int_dtype), dim);
    let first_zero = B::bool_and(
        is_zero.clone(),
        B::int_equal_elem(zeros_so_far.clone(), Scalar::Int(1), bool_dtype),
    );
    let from_first_zero = B::int_greater_elem(zeros_so_far, Scalar::Int(0), bool_dtype);

    let safe_x = B::float_mask_fill(x.primal.clone(), is_zero, one);
    let relative = B::float_cumsum(scale::<B>(t.clone(), B::float_recip(safe_x)), dim + 1);
    let before = B::float_mul(relative, over_lanes::<B>(out.clone()));

    let x_lanes = B::float_expand(over_lanes::<B>(x.primal), lane_shape(lanes, &shape));
    let swapped = B::float_mask_where(x_lanes, bool_over_lanes::<B>(first_zero, lanes), t);
    let after = B::float_cumprod(swapped, dim + 1);

    let tangent = B::float_mask_where(before, bool_over_lanes::<B>(from_first_zero, lanes), after);
    DualTensor::new(out, Some(tangent))
}
