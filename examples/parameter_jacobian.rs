//! A parameter Jacobian inside a loss (docs/scenarios.md): `Σ J²` with `J` the
//! Jacobian of the network's outputs w.r.t. all its parameters, `[numel(u),
//! num_params]`, inside a loss that reverse mode differentiates (w.r.t. the
//! input and, again, the parameters).
//!
//! The model and the loss (the first half of this file) use only burn-nested's
//! public API: a `#[derive(Module)]` network that implements
//! [`burn_nested::Forward`], wrapped in a [`StatefulLayer`] inside the loss, and
//! [`param_jacobian`], whose columns follow `burn_nested::params::flatten_params`.
//! The rest checks the loss's input and parameter gradients against central
//! differences in f64 (`examples/common`) and exits non-zero on a mismatch.
//!
//! ```text
//! cargo run --example parameter_jacobian
//! cargo run --features wgpu --example parameter_jacobian -- --device wgpu
//! cargo run --features cuda --example parameter_jacobian -- --device cuda
//! ```
//! The second and third also run the loss on wgpu or CUDA in f32 and compare
//! its gradients with the f64 ones.

mod common;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::{Forward, Mode, StatefulLayer, param_jacobian};
use common::{Scenario, uniform};

// ---- the model and the loss -------------------------------------------------

/// `Dense(1→12, tanh)`, `Dense(12→12, tanh)` ×2, `Dense(12→1)`, batch first.
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
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let h = self
            .hidden
            .iter()
            .fold(x, |h, layer| layer.forward(h).tanh());
        self.output.forward(h)
    }
}

/// `Σ J²` with `J = ∂u/∂θ` over all the network's parameters `θ`.
pub fn loss<B: Backend>(net: &Net<B>, x: Tensor<B, 2>) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(net);
    let j = param_jacobian(&layer, x, Mode::Auto);
    (j.clone() * j).sum()
}

// ---- the check ----------------------------------------------------------------

struct ParameterJacobian {
    x: TensorData,
}

impl Scenario for ParameterJacobian {
    type Model<B: Backend> = Net<B>;
    const NAME: &'static str = "parameter_jacobian";
    const FORMS: &'static [&'static str] = &["parameter Jacobian"];

    fn model<B: Backend>(device: &B::Device) -> Net<B> {
        Net::new(device)
    }

    fn input(&self) -> TensorData {
        self.x.clone()
    }

    fn loss<B: Backend>(&self, _: usize, net: &Net<B>, x: Tensor<B, 2>) -> Tensor<B, 1> {
        loss(net, x)
    }
}

fn main() {
    common::main(ParameterJacobian {
        x: uniform([16, 1], 0.0, 1.0, 0),
    });
}
