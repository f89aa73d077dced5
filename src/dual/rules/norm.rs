//! Layer normalization over the last dim, `y = x̂·γ + β` with `x̂ = (x − μ)/σ` and
//! `σ = √(var + ε)` (biased variance). Its JVP, with `c = x − μ` and
//! `∂c = ∂x − mean(∂x)`:
//! `∂x̂ = (∂c − x̂·mean(x̂·∂c)) / σ` and `∂y = ∂x̂·γ + x̂·∂γ + ∂β`.

use burn_backend::{Backend, Shape, TensorMetadata};

use burn_backend::ops::FloatTensorOps;

use crate::dual::lanes::{Prim, add_tangents, common_lanes, over_lanes, scalar};
use crate::dual::reshape::reshape;
use crate::dual::{Dual, DualTensor, second};

/// A `[L, D]` tangent of γ or β shaped `[L, 1, .., D]` for a rank-`rank` output.
fn feature_tangent<B: Backend>(t: Prim<B>, rank: usize) -> Prim<B> {
    let s = t.shape();
    let mut dims = vec![s[0]];
    dims.resize(rank, 1);
    dims.push(s[1]);
    reshape::<B>(t, Shape::from(dims))
}

/// `(x̂, σ)` of `x`, computed with the inner backend's ops.
fn normalized<B: Backend>(x: Prim<B>, epsilon: f64) -> (Prim<B>, Prim<B>) {
    let last = x.shape().num_dims() - 1;
    let mean = B::float_mean_dim(x.clone(), last);
    let centered = B::float_sub(x, mean);
    let var = B::float_mean_dim(B::float_mul(centered.clone(), centered.clone()), last);
    let eps = scalar::<B>(epsilon, &var);
    let sigma = B::float_sqrt(B::float_add_scalar(var, eps));
    (B::float_div(centered, sigma.clone()), sigma)
}

/// `layer_norm(x, γ, β, ε)`: the primal is the inner backend's op.
pub(crate) fn layer_norm<B: Backend>(
    x: DualTensor<B>,
    gamma: DualTensor<B>,
    beta: Option<DualTensor<B>>,
    epsilon: f64,
) -> DualTensor<B> {
    let operands = [&x, &gamma].into_iter().chain(beta.as_ref());
    if second::joint("layer_norm", operands).is_some() {
        return layer_norm_composed(x, gamma, beta, epsilon);
    }
    let (b, tb) = super::conv::split_bias(beta);
    if common_lanes::<B>("layer_norm", [&x.tangent, &gamma.tangent, &tb]).is_none() {
        return DualTensor::constant(B::layer_norm(x.primal, gamma.primal, b, epsilon));
    }
    let out = B::layer_norm(x.primal.clone(), gamma.primal.clone(), b, epsilon);
    let shape = out.shape();
    let rank = shape.num_dims();
    let (x_hat, sigma) = normalized::<B>(x.primal, epsilon);
    let gamma_b = {
        let mut dims = vec![1; rank - 1];
        dims.push(shape[rank - 1]);
        reshape::<B>(gamma.primal, Shape::from(dims))
    };
    let tx = x.tangent.map(|t| {
        let tc = B::float_sub(t.clone(), B::float_mean_dim(t, rank));
        let proj = B::float_mean_dim(
            B::float_mul(tc.clone(), over_lanes::<B>(x_hat.clone())),
            rank,
        );
        let t_hat = B::float_sub(tc, B::float_mul(proj, over_lanes::<B>(x_hat.clone())));
        B::float_mul(t_hat, over_lanes::<B>(B::float_div(gamma_b, sigma)))
    });
    let tg = gamma
        .tangent
        .map(|t| B::float_mul(feature_tangent::<B>(t, rank), over_lanes::<B>(x_hat)));
    let t = add_tangents::<B>("layer_norm", tx, tg, &shape);
    let tb = tb.map(|t| feature_tangent::<B>(t, rank));
    // First-order lanes: a second-order pass took the composed rule above.
    let tangent = add_tangents::<B>("layer_norm", t, tb, &shape);
    DualTensor::from_parts(out, tangent, None)
}

/// `layer_norm` composed from `Dual` ops (mean, sub, mul, sqrt, div), for a
/// second-order pass: each step adds its own curvature.
fn layer_norm_composed<B: Backend>(
    x: DualTensor<B>,
    gamma: DualTensor<B>,
    beta: Option<DualTensor<B>>,
    epsilon: f64,
) -> DualTensor<B> {
    type D<B> = Dual<B>;
    let rank = x.shape().num_dims();
    let last = rank - 1;
    let features = |t: DualTensor<B>| {
        let mut dims = vec![1; rank - 1];
        dims.push(t.shape()[0]);
        D::<B>::float_reshape(t, Shape::from(dims))
    };
    let mean = D::<B>::float_mean_dim(x.clone(), last);
    let centered = D::<B>::float_sub(x, mean);
    let var = D::<B>::float_mean_dim(D::<B>::float_mul(centered.clone(), centered.clone()), last);
    let eps = scalar::<B>(epsilon, &var.primal);
    let sigma = D::<B>::float_sqrt(D::<B>::float_add_scalar(var, eps));
    let y = D::<B>::float_mul(D::<B>::float_div(centered, sigma), features(gamma));
    match beta {
        Some(beta) => D::<B>::float_add(y, features(beta)),
        None => y,
    }
}
