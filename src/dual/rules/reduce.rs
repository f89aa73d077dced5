//! Reductions and cumulative sums/products.

use burn_backend::{Backend, Scalar, Shape, TensorMetadata};

use crate::dual::lanes::{Prim, over_lanes, scale, slices_along};
use burn_backend::ops::FloatTensorOps;

use crate::dual::reshape::reshape;
use crate::dual::rules::binary;
use crate::dual::{Dual, DualTensor};

/// Flattens a tangent to `[lanes, numel]`.
fn flat_lanes<B: Backend>(t: Prim<B>) -> Prim<B> {
    let shape = t.shape();
    let lanes = shape[0];
    reshape::<B>(t, Shape::new([lanes, shape.num_elements() / lanes]))
}

pub(crate) fn sum<B: Backend>(x: DualTensor<B>) -> DualTensor<B> {
    x.linear(B::float_sum, |t| B::float_sum_dim(flat_lanes::<B>(t), 1))
}

pub(crate) fn mean<B: Backend>(x: DualTensor<B>) -> DualTensor<B> {
    x.linear(B::float_mean, |t| B::float_mean_dim(flat_lanes::<B>(t), 1))
}

/// Slices `range` of `x` along `dim`.
fn slice_dim<B: Backend>(x: Prim<B>, dim: usize, range: core::ops::Range<usize>) -> Prim<B> {
    let slices = slices_along(x.shape().num_dims(), dim, range);
    B::float_slice(x, &slices)
}

/// `x` moved one step along `dim` with a 1 shifted in: at the start
/// (`[1, x₀, …, x_{n−2}]`, turning an inclusive product into an exclusive one) or
/// at the end (`[x₁, …, x_{n−1}, 1]`).
fn shift_in_one<B: Backend>(x: Prim<B>, dim: usize, at_start: bool) -> Prim<B> {
    let n = x.shape()[dim];
    let mut unit = x.shape();
    unit[dim] = 1;
    let one = Scalar::new(1.0, &x.dtype());
    let ones = B::float_full(unit, one, &B::float_device(&x), x.dtype().into());
    if n == 1 {
        return ones;
    }
    match at_start {
        true => B::float_cat(vec![ones, slice_dim::<B>(x, dim, 0..n - 1)], dim),
        false => B::float_cat(vec![slice_dim::<B>(x, dim, 1..n), ones], dim),
    }
}

/// `cumprod(x)` along `dim`. On a taped `B` (an outer `Autodiff`) it is a scan of
/// `⌈log₂ n⌉` shifted products, whose reverse rule is the exact product rule:
/// Burn 0.21's own `cumprod` backward divides by the input (NaN at zeros).
/// Untaped, `B`'s own op keeps `Dual` bit-identical to `B`.
pub(crate) fn cumprod_primal<B: Backend>(x: Prim<B>, dim: usize) -> Prim<B> {
    if !B::ad_enabled(&B::float_device(&x)) {
        return B::float_cumprod(x, dim);
    }
    let n = x.shape()[dim];
    let mut y = x;
    let mut shift = 1;
    while shift < n {
        // y[i] ← y[i] · y[i − shift] for i ≥ shift (Hillis–Steele).
        let head = slice_dim::<B>(y.clone(), dim, 0..shift);
        let tail = B::float_mul(
            slice_dim::<B>(y.clone(), dim, shift..n),
            slice_dim::<B>(y, dim, 0..n - shift),
        );
        y = B::float_cat(vec![head, tail], dim);
        shift *= 2;
    }
    y
}

/// `Π_dim x`, kept as a unit dim. On a taped `B` it is the last entry of
/// [`cumprod_primal`]: Burn 0.21's `Autodiff` computes a product as `exp Σ log x`
/// (NaN for zero and negative entries, value and gradient alike).
fn prod_dim_primal<B: Backend>(x: Prim<B>, dim: usize) -> Prim<B> {
    if !B::ad_enabled(&B::float_device(&x)) {
        return B::float_prod_dim(x, dim);
    }
    let n = x.shape()[dim];
    slice_dim::<B>(cumprod_primal::<B>(x, dim), dim, n - 1..n)
}

/// `Π x` over every entry, as a one-element tensor (see [`prod_dim_primal`]).
fn prod_primal<B: Backend>(x: Prim<B>) -> Prim<B> {
    if !B::ad_enabled(&B::float_device(&x)) {
        return B::float_prod(x);
    }
    let n = x.shape().num_elements();
    prod_dim_primal::<B>(reshape::<B>(x, Shape::new([n])), 0)
}

/// `∂ Π_dim x = Σ_i ∂x_i Π_{j≠i} x_j`, with the products over `j ≠ i` formed from
/// exclusive prefix and suffix products so that zeros in `x` are handled exactly.
pub(crate) fn prod_dim<B: Backend>(x: DualTensor<B>, dim: usize) -> DualTensor<B> {
    if x.layout.is_some() {
        return tree_product(x, dim);
    }
    let Some(t) = x.tangent else {
        return DualTensor::constant(prod_dim_primal::<B>(x.primal, dim));
    };
    let others = product_of_others::<B>(x.primal.clone(), dim);
    let tangent = B::float_sum_dim(scale::<B>(t, others), dim + 1);
    DualTensor::from_parts(prod_dim_primal::<B>(x.primal, dim), Some(tangent), x.layout)
}

pub(crate) fn prod<B: Backend>(x: DualTensor<B>) -> DualTensor<B> {
    if x.layout.is_some() {
        let n = x.primal.shape().num_elements();
        return tree_product(Dual::<B>::float_reshape(x, Shape::new([n])), 0);
    }
    let Some(t) = x.tangent else {
        return DualTensor::constant(prod_primal::<B>(x.primal));
    };
    let numel = x.primal.shape().num_elements();
    let flat = reshape::<B>(x.primal.clone(), Shape::new([numel]));
    let others = product_of_others::<B>(flat, 0);
    let tangent = B::float_sum_dim(scale::<B>(flat_lanes::<B>(t), others), 1);
    DualTensor::from_parts(prod_primal::<B>(x.primal), Some(tangent), x.layout)
}

/// `Π_{j≠i} x_j` along `dim`, for every `i`: the exclusive prefix product times
/// the exclusive suffix product.
fn product_of_others<B: Backend>(x: Prim<B>, dim: usize) -> Prim<B> {
    let prefix = cumprod_primal::<B>(x.clone(), dim);
    let suffix = B::float_flip(cumprod_primal::<B>(B::float_flip(x, &[dim]), dim), &[dim]);
    B::float_mul(
        shift_in_one::<B>(prefix, dim, true),
        shift_in_one::<B>(suffix, dim, false),
    )
}

/// `∂ cumprod(x)_i = Σ_{j≤i} ∂x_j Π_{k≤i, k≠j} x_k`, from the recurrence
/// `∂out_i = x_i · ∂out_{i−1} + out_{i−1} · ∂x_i` solved by [`linear_scan`].
///
/// The rule only multiplies and adds (no division by `x`, no mask on its zeros),
/// so it is exact where `x` has zeros, and so are derivatives *of* the tangent
/// taken by an outer `Autodiff` (a Jacobian of `cumprod` inside a loss).
pub(crate) fn cumprod<B: Backend>(x: DualTensor<B>, dim: usize) -> DualTensor<B> {
    if x.layout.is_some() {
        return scan_product(x, dim);
    }
    let Some(t) = x.tangent else {
        return DualTensor::constant(cumprod_primal::<B>(x.primal, dim));
    };
    let out = cumprod_primal::<B>(x.primal.clone(), dim);
    // out_{i−1}, with out_{−1} = 1.
    let previous = shift_in_one::<B>(out.clone(), dim, true);
    let driven = scale::<B>(t, previous);
    let tangent = linear_scan::<B>(over_lanes::<B>(x.primal), driven, dim + 1);
    DualTensor::from_parts(out, Some(tangent), x.layout)
}

/// Solves `h_i = a_i · h_{i−1} + b_i` (with `h_{−1} = 0`) along `dim` in
/// `⌈log₂ n⌉` steps (a Hillis–Steele scan of the affine maps `h ↦ a h + b`).
/// `a` broadcasts against `b` (a primal factor over the lanes of a tangent).
fn linear_scan<B: Backend>(a: Prim<B>, b: Prim<B>, dim: usize) -> Prim<B> {
    let n = b.shape()[dim];
    let (mut a, mut b) = (a, b);
    let mut shift = 1;
    while shift < n {
        // Compose element i with element i − shift: (a, b)ᵢ ← (aᵢ aᵢ₋ₛ, aᵢ bᵢ₋ₛ + bᵢ).
        let a_tail = slice_dim::<B>(a.clone(), dim, shift..n);
        let b_tail = B::float_add(
            B::float_mul(a_tail.clone(), slice_dim::<B>(b.clone(), dim, 0..n - shift)),
            slice_dim::<B>(b.clone(), dim, shift..n),
        );
        let a_next = B::float_mul(a_tail, slice_dim::<B>(a.clone(), dim, 0..n - shift));
        b = B::float_cat(vec![slice_dim::<B>(b, dim, 0..shift), b_tail], dim);
        a = B::float_cat(vec![slice_dim::<B>(a, dim, 0..shift), a_next], dim);
        shift *= 2;
    }
    b
}

/// Lanes `range` of a dual along `dim`, by `Dual`'s own (linear) slice rule.
fn dual_slice<B: Backend>(
    x: DualTensor<B>,
    dim: usize,
    range: core::ops::Range<usize>,
) -> DualTensor<B> {
    let slices = slices_along(x.primal.shape().num_dims(), dim, range);
    Dual::<B>::float_slice(x, &slices)
}

/// `Π x` along `dim` (kept, size 1) as a balanced tree of `Dual` products, for a
/// second-order pass: each product adds its own cross term, and nothing is
/// divided, so zeros in `x` are exact.
fn tree_product<B: Backend>(x: DualTensor<B>, dim: usize) -> DualTensor<B> {
    let n = x.primal.shape()[dim];
    if n == 1 {
        return x;
    }
    let half = n / 2;
    let left = tree_product(dual_slice(x.clone(), dim, 0..half), dim);
    let right = tree_product(dual_slice(x, dim, half..n), dim);
    binary::mul(left, right)
}

/// `cumprod(x)` along `dim` as a scan of `⌈log₂ n⌉` shifted `Dual` products, for a
/// second-order pass (exact at zeros, like [`tree_product`]).
fn scan_product<B: Backend>(x: DualTensor<B>, dim: usize) -> DualTensor<B> {
    let n = x.primal.shape()[dim];
    let mut out = x;
    let mut shift = 1;
    while shift < n {
        let head = dual_slice(out.clone(), dim, 0..shift);
        let tail = binary::mul(
            dual_slice(out.clone(), dim, shift..n),
            dual_slice(out, dim, 0..n - shift),
        );
        out = Dual::<B>::float_cat(vec![head, tail], dim);
        shift *= 2;
    }
    out
}
