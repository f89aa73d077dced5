//! `ActivationOps` for `Dual<B>`: each forward activation is `B`'s own op on the
//! primal (so `Dual` without tangents gives `B`'s result bit for bit, and runs `B`'s
//! fused kernel where it has one) and a direct JVP rule on the tangent.
//!
//! The `*_backward` methods (`relu_backward`, `sigmoid_backward`,
//! `log_sigmoid_backward`) are deliberately left as the trait defaults: they are
//! compositions of `Dual` float ops, so when `Autodiff<Dual<B>>` runs a backward
//! pass the gradient it computes carries correct tangents (forward-over-reverse).
//! `gelu_backward` is the exception: its default is the tanh approximation's
//! derivative, so it is replaced by the exact one, composed the same way.

use burn_backend::{
    Backend, Scalar, TensorMetadata,
    ops::{ActivationOps, FloatTensorOps},
    tensor::FloatTensor,
};

use crate::dual::lanes::{
    Prim, add_tangents, bool_dtype, bool_over_lanes, common_lanes, or_zeros, over_lanes, scalar,
    scale,
};
use crate::dual::{Dual, DualTensor, rows, second};

type D<B> = DualTensor<B>;

/// A derivative that is piecewise constant: `inside` everywhere except where `mask`
/// holds, where it is `at_mask`.
fn piecewise<B: Backend>(
    like: &Prim<B>,
    inside: f64,
    mask: B::BoolTensorPrimitive,
    at_mask: f64,
) -> Prim<B> {
    let full = B::float_full(
        like.shape(),
        scalar::<B>(inside, like),
        &B::float_device(like),
        like.dtype().into(),
    );
    B::float_mask_fill(full, mask, scalar::<B>(at_mask, like))
}

/// `gelu'(x) = Φ(x) + x·φ(x)` on any backend `K`, with `Φ(x) = (1 + erf(x/√2))/2`
/// and `φ(x) = exp(−x²/2)/√(2π)`. Scalars are multiplied, never divided by:
/// Burn 0.21's `Autodiff` differentiates a division by a scalar with an f32
/// reciprocal, which would cost f64 runs their accuracy when `K` is taped.
fn gelu_derivative<K: Backend>(x: Prim<K>) -> Prim<K> {
    let half = scalar::<K>(0.5, &x);
    let one = scalar::<K>(1.0, &x);
    let inv_sqrt_2 = scalar::<K>(core::f64::consts::FRAC_1_SQRT_2, &x);
    let inv_sqrt_2pi = scalar::<K>(
        core::f64::consts::FRAC_2_SQRT_PI * core::f64::consts::FRAC_1_SQRT_2 * 0.5,
        &x,
    );
    let cdf = K::float_erf(K::float_mul_scalar(x.clone(), inv_sqrt_2));
    let cdf = K::float_mul_scalar(K::float_add_scalar(cdf, one), half);
    let half_sq = K::float_mul_scalar(K::float_mul(x.clone(), x.clone()), half);
    let pdf = K::float_mul_scalar(K::float_exp(K::float_neg(half_sq)), inv_sqrt_2pi);
    K::float_add(cdf, K::float_mul(x, pdf))
}

/// `gelu''(x) = φ(x)·(2 − x²)` (see [`gelu_derivative`]).
fn gelu_second_derivative<K: Backend>(x: Prim<K>) -> Prim<K> {
    let half = scalar::<K>(0.5, &x);
    let two = scalar::<K>(2.0, &x);
    let inv_sqrt_2pi = scalar::<K>(
        core::f64::consts::FRAC_2_SQRT_PI * core::f64::consts::FRAC_1_SQRT_2 * 0.5,
        &x,
    );
    let square = K::float_mul(x.clone(), x);
    let pdf = K::float_exp(K::float_neg(K::float_mul_scalar(square.clone(), half)));
    let pdf = K::float_mul_scalar(pdf, inv_sqrt_2pi);
    K::float_mul(pdf, K::float_add_scalar(K::float_neg(square), two))
}

/// `softmax(x)` along `dim` composed from `Dual` ops (`exp`, `sum`, `div`), for a
/// second-order pass: each step adds its own curvature.
fn softmax_composed<B: Backend>(x: D<B>, dim: usize) -> D<B> {
    let max = B::float_max_dim(x.primal.clone(), dim);
    let e = Dual::<B>::float_exp(Dual::<B>::float_sub(x, D::constant(max)));
    let total = Dual::<B>::float_sum_dim(e.clone(), dim);
    Dual::<B>::float_div(e, total)
}

/// `log_softmax(x)` along `dim` composed from `Dual` ops, for a second-order pass.
fn log_softmax_composed<B: Backend>(x: D<B>, dim: usize) -> D<B> {
    let max = B::float_max_dim(x.primal.clone(), dim);
    let shifted = Dual::<B>::float_sub(x, D::constant(max));
    let total = Dual::<B>::float_sum_dim(Dual::<B>::float_exp(shifted.clone()), dim);
    Dual::<B>::float_sub(shifted, Dual::<B>::float_log(total))
}

/// `Σ_dim s·t` for a lane-stacked `t`, kept as a unit dim (`dim` is a primal dim).
fn weighted_sum<B: Backend>(s: &Prim<B>, t: Prim<B>, dim: usize) -> Prim<B> {
    B::float_sum_dim(scale::<B>(t, s.clone()), dim + 1)
}

impl<B: Backend> ActivationOps<Self> for Dual<B> {
    /// `∂x` where `x > 0`, `0` elsewhere (the convention of Burn's `relu_backward`).
    fn relu(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.zero_where(
            |x| {
                let dt = bool_dtype::<B>(&x);
                let zero = scalar::<B>(0.0, &x);
                B::float_lower_equal_elem(x, zero, dt)
            },
            B::relu,
        )
    }

    /// `∂x · slope` where `x < 0`, `∂x` elsewhere.
    fn leaky_relu(tensor: FloatTensor<Self>, negative_slope: Scalar) -> FloatTensor<Self> {
        tensor.elementwise(
            |x| B::leaky_relu(x, negative_slope),
            |x, _| {
                let zero = scalar::<B>(0.0, &x);
                let negative = B::float_lower_elem(x.clone(), zero, bool_dtype::<B>(&x));
                piecewise::<B>(&x, 1.0, negative, negative_slope.elem::<f64>())
            },
            |_, _, _| None,
        )
    }

    /// Where `x < 0`: `∂x · α + x · ∂α`; elsewhere `∂x`. `alpha` broadcasts against
    /// `x` (Burn passes it as `[1, channels, 1, ..]`).
    fn prelu(tensor: FloatTensor<Self>, alpha: FloatTensor<Self>) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "prelu",
            (tensor, alpha),
            rows::pair_keeps,
            |(tensor, alpha)| {
                let lanes = common_lanes::<B>("prelu", [&tensor.tangent, &alpha.tangent]);
                // Where x < 0 the output is the product α·x: a second-order pass adds
                // 2·Σₗ ∂α ∂x there.
                let joint = second::joint("prelu", [&tensor, &alpha]);
                let cross = joint.and_then(|layout| {
                    Some((layout, tensor.tangent.clone()?, alpha.tangent.clone()?))
                });
                let x = tensor.primal;
                let primal = B::prelu(x.clone(), alpha.primal.clone());
                let Some(lanes) = lanes else {
                    return D::constant(primal);
                };
                let shape = primal.shape();
                let negative =
                    B::float_lower_elem(x.clone(), scalar::<B>(0.0, &x), bool_dtype::<B>(&x));
                let via_x = tensor.tangent.clone().map(|t| scale::<B>(t, alpha.primal));
                let via_alpha = alpha
                    .tangent
                    .map(|t| B::float_mul(t, over_lanes::<B>(x.clone())));
                let below = add_tangents::<B>("prelu", via_x, via_alpha, &shape)
                    .expect("one of the prelu tangents is present");
                let above = or_zeros::<B>(tensor.tangent, &x, lanes, &shape);
                let tangent = B::float_mask_where(
                    above,
                    bool_over_lanes::<B>(negative.clone(), lanes),
                    below,
                );
                let tangent = match cross {
                    Some((layout, tx, ta)) => {
                        let twice_below = B::float_mul_scalar(
                            B::bool_into_float(negative, x.dtype().into()),
                            scalar::<B>(2.0, &x),
                        );
                        second::weighted_curvature::<B>(
                            "prelu",
                            &tx,
                            &ta,
                            tangent,
                            twice_below,
                            &layout,
                        )
                    }
                    None => tangent,
                };
                D::from_parts(primal, Some(tangent), joint)
            },
        )
    }

    /// `gelu'(x) = Φ(x) + x·φ(x)` for Burn's exact (erf) GELU. Not
    /// `B::gelu_backward`, which is the derivative of the tanh approximation.
    fn gelu(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(
            B::gelu,
            |x, _| gelu_derivative::<B>(x),
            |x, _, _| Some(gelu_second_derivative::<B>(x)),
        )
    }

    /// `grad · gelu'(x)`, exact, written with `Dual`'s own ops so a backward pass
    /// of `Autodiff<Dual<B>>` carries tangents through it. The trait default is
    /// the derivative of the tanh approximation (off by 1e-3 at `x = 2`), which
    /// would make every reverse path disagree with the forward rule.
    fn gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_mul(gelu_derivative::<Self>(x), grad)
    }

    /// `y·(1 − y)` from the output `y`.
    fn sigmoid(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        if tensor.tangent.is_none() {
            // Burn's `Autodiff` recomputes it in the backward pass.
            return tensor.recall("sigmoid", B::sigmoid);
        }
        tensor.elementwise(
            B::sigmoid,
            |_, y| {
                let one = scalar::<B>(1.0, &y);
                B::float_mul(y.clone(), B::float_add_scalar(B::float_neg(y), one))
            },
            // f'' = f'·(1 − 2y)
            |_, y, d| {
                let (one, minus_two) = (scalar::<B>(1.0, &y), scalar::<B>(-2.0, &y));
                Some(B::float_mul(
                    d,
                    B::float_add_scalar(B::float_mul_scalar(y, minus_two), one),
                ))
            },
        )
    }

    /// `α` where `0 ≤ α·x + β ≤ 1` (breakpoints included, as Burn's reverse rule
    /// has it), `0` where the output is clamped.
    fn hard_sigmoid(tensor: FloatTensor<Self>, alpha: Scalar, beta: Scalar) -> FloatTensor<Self> {
        // Burn 0.21's default (which `Autodiff` keeps) computes it in f32.
        crate::dual::passes::note_reverse_defect("hard_sigmoid");
        tensor.elementwise(
            |x| B::hard_sigmoid(x, alpha, beta),
            |x, _| {
                let dt = bool_dtype::<B>(&x);
                let a = scalar::<B>(alpha.elem::<f64>(), &x);
                let b = scalar::<B>(beta.elem::<f64>(), &x);
                let z = B::float_add_scalar(B::float_mul_scalar(x.clone(), a), b);
                // Strict: at the breakpoints the slope passes, as Burn's reverse
                // rule (a clamp that keeps values equal to its bounds) does.
                let clamped = B::bool_or(
                    B::float_lower_elem(z.clone(), scalar::<B>(0.0, &x), dt),
                    B::float_greater_elem(z, scalar::<B>(1.0, &x), dt),
                );
                piecewise::<B>(&x, alpha.elem::<f64>(), clamped, 0.0)
            },
            |_, _, _| None,
        )
    }

    /// `1 − σ(x) = 1 / (1 + eˣ)`, which neither overflows nor cancels.
    fn log_sigmoid(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        tensor.elementwise(
            B::log_sigmoid,
            |x, _| {
                let one = scalar::<B>(1.0, &x);
                B::float_recip(B::float_add_scalar(B::float_exp(x), one))
            },
            // f' = σ(−x), so f'' = −σ(x)·σ(−x) = −(1 − f')·f'
            |_, _, d| {
                let one = scalar::<B>(1.0, &d);
                let sig = B::float_add_scalar(B::float_neg(d.clone()), one);
                Some(B::float_neg(B::float_mul(sig, d)))
            },
        )
    }

    /// `s·(∂x − Σ_dim s·∂x)` with `s` the output.
    fn softmax(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "softmax",
            tensor,
            |_| rows::along(dim),
            |tensor| {
                if tensor.layout.is_some() {
                    return softmax_composed(tensor, dim);
                }
                let Some(t) = tensor.tangent else {
                    return D::constant(B::softmax(tensor.primal, dim));
                };
                let s = B::softmax(tensor.primal, dim);
                let centred = B::float_sub(t.clone(), weighted_sum::<B>(&s, t, dim));
                D::from_parts(s.clone(), Some(scale::<B>(centred, s)), tensor.layout)
            },
        )
    }

    /// `∂x − Σ_dim softmax(x)·∂x`, with `softmax(x) = exp(y)` from the output `y`.
    fn log_softmax(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "log_softmax",
            tensor,
            |_| rows::along(dim),
            |tensor| {
                if tensor.layout.is_some() {
                    return log_softmax_composed(tensor, dim);
                }
                let Some(t) = tensor.tangent else {
                    return D::constant(B::log_softmax(tensor.primal, dim));
                };
                let y = B::log_softmax(tensor.primal, dim);
                let s = B::float_exp(y.clone());
                let tangent = B::float_sub(t.clone(), weighted_sum::<B>(&s, t, dim));
                D::from_parts(y, Some(tangent), tensor.layout)
            },
        )
    }

    /// `softmax(−x)`: `s·(Σ_dim s·∂x − ∂x)` with `s` the output.
    fn softmin(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        rows::op::<B, _, _, _>(
            "softmin",
            tensor,
            |_| rows::along(dim),
            |tensor| {
                if tensor.layout.is_some() {
                    return softmax_composed(Self::float_neg(tensor), dim);
                }
                let Some(t) = tensor.tangent else {
                    return D::constant(B::softmin(tensor.primal, dim));
                };
                let s = B::softmin(tensor.primal, dim);
                let centred = B::float_sub(weighted_sum::<B>(&s, t.clone(), dim), t);
                D::from_parts(s.clone(), Some(scale::<B>(centred, s)), tensor.layout)
            },
        )
    }
}
