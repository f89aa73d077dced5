//! The reference scenarios' losses (docs/scenarios.md), each containing a
//! derivative of the model.

use burn::tensor::{Tensor, backend::Backend};
use burn_nested::{
    Mode, StatefulLayer, batched_jacobian, gradient, jacobian, jvp, param_jacobian, vjp,
};

use super::model::Mlp;

burn_nested::tensor_fn!(pub SumOfSquares, |y: 2| -> 1 { (y.clone() * y).sum() });
burn_nested::tensor_fn!(pub Square, |y: 2| -> 2 { y.clone() * y });

fn sum_sq<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, 1> {
    (t.clone() * t).sum()
}

/// `Σ(ŷ−y)² + ‖0.01·J‖²` with `J` the full Jacobian of the output w.r.t. the whole
/// input (`BatchNorm` couples the rows).
pub fn jacobian_regularization<B: Backend>(
    model: &Mlp<B>,
    x: Tensor<B, 2>,
    y: Tensor<B, 2>,
    mode: Mode,
) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(model);
    let y_hat: Tensor<B, 2> = layer.forward(x.clone());
    let j = jacobian(&layer, x, mode);
    sum_sq(y_hat - y) + sum_sq(j * 0.01)
}

/// `Σ(ŷ−y)² + ‖0.01·J‖²` with `J` the per-row Jacobian `[batch, out, in]`.
pub fn batched_jacobian_loss<B: Backend>(
    model: &Mlp<B>,
    x: Tensor<B, 2>,
    y: Tensor<B, 2>,
    mode: Mode,
) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(model);
    let y_hat: Tensor<B, 2> = layer.forward(x.clone());
    let j = batched_jacobian(&layer, x, mode);
    sum_sq(y_hat - y) + sum_sq(j * 0.01)
}

/// `Σ(g − cos t)²` with `g = ∇ₜ Σ u(t)²`, the gradient of the whole batch's sum
/// (the scenario's original form).
pub fn pinn_gradient<B: Backend>(model: &Mlp<B>, t: Tensor<B, 2>, mode: Mode) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(model);
    let g = gradient(&layer.then(SumOfSquares), t.clone(), mode);
    sum_sq(g - t.cos())
}

/// The same loss with `g` computed per row through `batched_jacobian` of `u(t)²`
/// (rows are independent here).
pub fn pinn_gradient_rowwise<B: Backend>(
    model: &Mlp<B>,
    t: Tensor<B, 2>,
    mode: Mode,
) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(model);
    let [batch, features] = t.dims();
    let g = batched_jacobian(&layer.then(Square), t.clone(), mode).reshape([batch, features]);
    sum_sq(g - t.cos())
}

/// `Σ J²` with `J` the Jacobian of the outputs w.r.t. all parameters.
pub fn parameter_jacobian<B: Backend>(model: &Mlp<B>, x: Tensor<B, 2>, mode: Mode) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(model);
    sum_sq(param_jacobian(&layer, x, mode))
}

/// How the Hutchinson estimate `vᵀJv` is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hutchinson {
    /// `(vᵀJ)·v` from a vector-Jacobian product.
    Vjp,
    /// `vᵀ(Jv)` from a Jacobian-vector product.
    Jvp,
    /// `vᵀJv` from the full Jacobian (for comparison only).
    FullJacobian,
}

/// The Hutchinson trace estimate `vᵀJv` for one probe `v` shaped like `x`.
pub fn hutchinson_trace<B: Backend>(
    model: &Mlp<B>,
    x: Tensor<B, 2>,
    v: Tensor<B, 2>,
    how: Hutchinson,
    mode: Mode,
) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(model);
    match how {
        Hutchinson::Vjp => (vjp(&layer, x, v.clone(), mode) * v).sum(),
        Hutchinson::Jvp => (v.clone() * jvp::<B, _, 2, 2>(&layer, x, v)).sum(),
        Hutchinson::FullJacobian => {
            let n = v.shape().num_elements();
            let flat = v.reshape([n, 1]);
            let j = jacobian::<B, _, 2, 2>(&layer, x, mode);
            flat.clone().transpose().matmul(j.matmul(flat)).reshape([1])
        }
    }
}
