//! Jacobian regularization with `BatchNorm` (docs/scenarios.md): a regression loss
//! `Σ(ŷ−y)² + ‖0.01·J‖²` whose penalty is the full Jacobian `J` of the output
//! w.r.t. the whole input, inside a loss that reverse mode differentiates.
//!
//! The model and the loss (the first half of this file) use only burn-nested's
//! public API: a `#[derive(Module)]` network that implements
//! [`burn_nested::Forward`], wrapped in a [`StatefulLayer`] inside the loss, and
//! [`value_and_jacobian`], which gives `ŷ` and `J` from one pass. The `BatchNorm`
//! couples the rows, so the Jacobian is `[numel(ŷ), numel(x)]` with no per-row
//! shortcut. The rest checks the loss's input and parameter gradients against
//! central differences in f64 (`examples/common`) and exits non-zero on a
//! mismatch.
//!
//! ```text
//! cargo run --example jacobian_regularization
//! cargo run --features wgpu --example jacobian_regularization -- --device wgpu
//! cargo run --features cuda --example jacobian_regularization -- --device cuda
//! ```
//! The second and third also run the loss on wgpu or CUDA in f32 and compare
//! its gradients with the f64 ones.

mod common;

use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::{Forward, Mode, StatefulLayer, value_and_jacobian};
use common::{Scenario, tensor, uniform};

// ---- the model and the loss -------------------------------------------------

/// `Dense(2→4, tanh)`, `BatchNorm(4)`, `Dense(4→2)`, batch first.
#[derive(Module, Debug)]
pub struct Net<B: Backend> {
    hidden: Linear<B>,
    norm: BatchNorm<B>,
    output: Linear<B>,
}

impl<B: Backend> Net<B> {
    pub fn new(device: &B::Device) -> Self {
        let net = Self {
            hidden: LinearConfig::new(2, 4).init(device),
            norm: BatchNormConfig::new(4).init(device),
            output: LinearConfig::new(4, 2).init(device),
        };
        // Burn draws a parameter lazily, on first use, and each clone of a module
        // whose parameters are not drawn yet draws its own: draw them now, so every
        // clone the loss and the checks make sees the same weights.
        burn_nested::lift::initialize_params(&net);
        net
    }
}

impl<B: Backend> Forward<B, 2, 2> for Net<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let h = self.hidden.forward(x).tanh();
        self.output.forward(self.norm.forward(h))
    }
}

fn sum_sq<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, 1> {
    (t.clone() * t).sum()
}

/// `Σ(ŷ−y)² + ‖0.01·J‖²` with `J = ∂ŷ/∂x`, `[numel(ŷ), numel(x)]`.
pub fn loss<B: Backend>(net: &Net<B>, x: Tensor<B, 2>, y: Tensor<B, 2>) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(net);
    // `Mode::Auto` lets burn-nested choose between one nested backward pass (a
    // cotangent lane per entry of ŷ) and forward lanes, whichever is faster here,
    // for the same `J`; `Mode::AutoReverse` would insist on the backward pass.
    let (y_hat, j) = value_and_jacobian(&layer, x, Mode::Auto);
    sum_sq(y_hat - y) + sum_sq(j * 0.01)
}

// ---- the check ----------------------------------------------------------------

struct JacobianRegularization {
    x: TensorData,
    y: TensorData,
}

impl Scenario for JacobianRegularization {
    type Model<B: Backend> = Net<B>;
    const NAME: &'static str = "jacobian_regularization";
    const FORMS: &'static [&'static str] = &["full Jacobian"];

    fn model<B: Backend>(device: &B::Device) -> Net<B> {
        Net::new(device)
    }

    fn input(&self) -> TensorData {
        self.x.clone()
    }

    fn loss<B: Backend>(&self, _: usize, net: &Net<B>, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let y = tensor(&self.y, &x.device());
        loss(net, x, y)
    }
}

fn main() {
    common::main(JacobianRegularization {
        x: uniform([10, 2], -1.0, 1.0, 0),
        y: uniform([10, 2], -1.0, 1.0, 11),
    });
}
