//! An input gradient inside a PINN-style loss (docs/scenarios.md):
//! `Σ(g − cos t)²` with `g = ∇ₜ Σ u(t)²`, computed two ways — the gradient of the
//! whole batch's sum (with [`gradient`]) and per row (with [`batched_jacobian`]
//! of `u(t)²`; the rows are independent) — inside a loss that reverse mode
//! differentiates.
//!
//! The model and the losses (the first half of this file) use only burn-nested's
//! public API: a `#[derive(Module)]` network `u(t)` that implements
//! [`burn_nested::Forward`], wrapped in a [`StatefulLayer`] inside the loss and
//! composed with a tensor function ([`tensor_fn!`], [`StatefulLayer::then`]). The
//! rest checks both forms' input and parameter gradients against central
//! differences in f64 (`examples/common`), checks that the two agree, and exits
//! non-zero on a mismatch.
//!
//! ```text
//! cargo run --example pinn_gradient
//! cargo run --features wgpu --example pinn_gradient -- --device wgpu
//! cargo run --features cuda --example pinn_gradient -- --device cuda
//! ```
//! The second and third also run the losses on wgpu or CUDA in f32 and compare
//! their gradients with the f64 ones.

mod common;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::{Forward, Mode, StatefulLayer, batched_jacobian, gradient, tensor_fn};
use common::{Scenario, uniform};

// ---- the model and the losses -----------------------------------------------

/// `u(t)`: `Dense(1→12, tanh)`, `Dense(12→12, tanh)` ×2, `Dense(12→1)`, batch first.
#[derive(Module, Debug)]
pub struct Net<B: Backend> {
    hidden: Vec<Linear<B>>,
    output: Linear<B>,
}

impl<B: Backend> Net<B> {
    pub fn new(device: &B::Device) -> Self {
        let net = Self {
            hidden: [(1, 12), (12, 12), (12, 12)]
                .map(|(i, o)| LinearConfig::new(i, o).init(device))
                .into(),
            output: LinearConfig::new(12, 1).init(device),
        };
        // Burn draws a parameter lazily, on first use, and each clone of a module
        // whose parameters are not drawn yet draws its own: draw them now, so every
        // clone the loss and the checks make sees the same weights.
        burn_nested::lift::initialize_params(&net);
        net
    }
}

impl<B: Backend> Forward<B, 2, 2> for Net<B> {
    fn forward(&self, t: Tensor<B, 2>) -> Tensor<B, 2> {
        let h = self
            .hidden
            .iter()
            .fold(t, |h, layer| layer.forward(h).tanh());
        self.output.forward(h)
    }
}

// `u ↦ Σ u²` (the whole batch) and `u ↦ u²` (per entry), as tensor functions
// that compose after the network.
tensor_fn!(SumOfSquares, |u: 2| -> 1 { (u.clone() * u).sum() });
tensor_fn!(Square, |u: 2| -> 2 { u.clone() * u });

fn sum_sq<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, 1> {
    (t.clone() * t).sum()
}

/// `Σ(g − cos t)²` with `g = ∇ₜ Σ u(t)²`, the gradient of the whole batch's sum.
pub fn loss<B: Backend>(net: &Net<B>, t: Tensor<B, 2>) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(net);
    let g = gradient(&layer.then(SumOfSquares), t.clone(), Mode::Auto);
    sum_sq(g - t.cos())
}

/// The same loss with `g` per row: the batched Jacobian of `u(t)²`, `[batch, 1, 1]`.
pub fn loss_rowwise<B: Backend>(net: &Net<B>, t: Tensor<B, 2>) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(net);
    let [batch, features] = t.dims();
    let g = batched_jacobian(&layer.then(Square), t.clone(), Mode::Auto).reshape([batch, features]);
    sum_sq(g - t.cos())
}

// ---- the check ----------------------------------------------------------------

struct PinnGradient {
    t: TensorData,
}

impl Scenario for PinnGradient {
    type Model<B: Backend> = Net<B>;
    const NAME: &'static str = "pinn_gradient";
    const FORMS: &'static [&'static str] = &["full gradient", "per row"];

    fn model<B: Backend>(device: &B::Device) -> Net<B> {
        Net::new(device)
    }

    fn input(&self) -> TensorData {
        self.t.clone()
    }

    fn loss<B: Backend>(&self, form: usize, net: &Net<B>, t: Tensor<B, 2>) -> Tensor<B, 1> {
        match form {
            0 => loss(net, t),
            _ => loss_rowwise(net, t),
        }
    }
}

fn main() {
    common::main(PinnGradient {
        t: uniform([16, 1], 0.0, 1.0, 0),
    });
}
