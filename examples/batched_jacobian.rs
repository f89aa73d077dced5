//! A per-row Jacobian penalty (docs/scenarios.md): a regression loss
//! `Σ(ŷ−y)² + ‖0.01·J‖²` whose penalty is each row's Jacobian, `J` shaped
//! `[batch, out, in]`, inside a loss that reverse mode differentiates.
//!
//! The model and the loss (the first half of this file) use only burn-nested's
//! public API: a `#[derive(Module)]` network that implements
//! [`burn_nested::Forward`], wrapped in a [`StatefulLayer`] inside the loss, and
//! [`value_and_batched_jacobian`], which gives `ŷ` and the per-row Jacobians from
//! one pass (the rows are independent: no layer mixes them). The rest checks the
//! loss's input and parameter gradients against central differences in f64
//! (`examples/common`) and exits non-zero on a mismatch.
//!
//! ```text
//! cargo run --example batched_jacobian
//! cargo run --features wgpu --example batched_jacobian -- --device wgpu
//! cargo run --features cuda --example batched_jacobian -- --device cuda
//! ```
//! The second and third also run the loss on wgpu or CUDA in f32 and compare
//! its gradients with the f64 ones.

mod common;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::{Forward, Mode, StatefulLayer, value_and_batched_jacobian};
use common::{Scenario, tensor, uniform};

// ---- the model and the loss -------------------------------------------------

/// `Dense(2→4, tanh)`, `Dense(4→2)`, batch first.
#[derive(Module, Debug)]
pub struct Net<B: Backend> {
    hidden: Linear<B>,
    output: Linear<B>,
}

impl<B: Backend> Net<B> {
    pub fn new(device: &B::Device) -> Self {
        let net = Self {
            hidden: LinearConfig::new(2, 4).init(device),
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
        self.output.forward(self.hidden.forward(x).tanh())
    }
}

fn sum_sq<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, 1> {
    (t.clone() * t).sum()
}

/// `Σ(ŷ−y)² + ‖0.01·J‖²` with `J[b] = ∂ŷ[b]/∂x[b]`, `[batch, out, in]`.
pub fn loss<B: Backend>(net: &Net<B>, x: Tensor<B, 2>, y: Tensor<B, 2>) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(net);
    // `Mode::Auto`: forward or reverse lanes, chosen from the shapes (and, with
    // switching on, from measurements).
    let (y_hat, j) = value_and_batched_jacobian(&layer, x, Mode::Auto);
    sum_sq(y_hat - y) + sum_sq(j * 0.01)
}

// ---- the check ----------------------------------------------------------------

struct BatchedJacobian {
    x: TensorData,
    y: TensorData,
}

impl Scenario for BatchedJacobian {
    type Model<B: Backend> = Net<B>;
    const NAME: &'static str = "batched_jacobian";
    const FORMS: &'static [&'static str] = &["per-row Jacobian"];

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
    common::main(BatchedJacobian {
        x: uniform([10, 2], -1.0, 1.0, 0),
        y: uniform([10, 2], -1.0, 1.0, 11),
    });
}
