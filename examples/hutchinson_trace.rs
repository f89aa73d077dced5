//! The Hutchinson estimate `vᵀJv` of a Jacobian's trace (docs/scenarios.md), for
//! a Rademacher probe `v`, three ways — a vector-Jacobian product ([`vjp`]), a
//! Jacobian-vector product ([`jvp`]) and the full Jacobian ([`jacobian`], for
//! comparison) — each as a loss that reverse mode differentiates.
//!
//! The model and the losses (the first half of this file) use only burn-nested's
//! public API: a `#[derive(Module)]` network that implements
//! [`burn_nested::Forward`], wrapped in a [`StatefulLayer`] inside the loss. The
//! rest checks each form's input and parameter gradients against central
//! differences in f64 (`examples/common`), checks that the three agree, and exits
//! non-zero on a mismatch.
//!
//! ```text
//! cargo run --example hutchinson_trace
//! cargo run --features wgpu --example hutchinson_trace -- --device wgpu
//! cargo run --features cuda --example hutchinson_trace -- --device cuda
//! ```
//! The second and third also run the losses on wgpu or CUDA in f32 and compare
//! their gradients with the f64 ones.

mod common;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::{Forward, Mode, StatefulLayer, jacobian, jvp, vjp};
use common::{Scenario, rademacher, tensor, uniform};

// ---- the model and the losses -----------------------------------------------

/// `Dense(4→12, tanh)`, `Dense(12→12, tanh)` ×2, `Dense(12→4)`, batch first.
#[derive(Module, Debug)]
pub struct Net<B: Backend> {
    hidden: Vec<Linear<B>>,
    output: Linear<B>,
}

impl<B: Backend> Net<B> {
    pub fn new(device: &B::Device) -> Self {
        let net = Self {
            hidden: [(4, 12), (12, 12), (12, 12)]
                .map(|(i, o)| LinearConfig::new(i, o).init(device))
                .into(),
            output: LinearConfig::new(12, 4).init(device),
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

/// `(vᵀJ)·v` from a vector-Jacobian product.
pub fn trace_vjp<B: Backend>(net: &Net<B>, x: Tensor<B, 2>, v: Tensor<B, 2>) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(net);
    (vjp(&layer, x, v.clone(), Mode::Auto) * v).sum()
}

/// `vᵀ(Jv)` from a Jacobian-vector product (forward mode, no mode to choose).
pub fn trace_jvp<B: Backend>(net: &Net<B>, x: Tensor<B, 2>, v: Tensor<B, 2>) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(net);
    let jv: Tensor<B, 2> = jvp(&layer, x, v.clone());
    (v * jv).sum()
}

/// `vᵀJv` from the full Jacobian `[numel(x), numel(x)]`, with `v` flattened.
pub fn trace_full<B: Backend>(net: &Net<B>, x: Tensor<B, 2>, v: Tensor<B, 2>) -> Tensor<B, 1> {
    let layer = StatefulLayer::from_ref(net);
    let n = v.shape().num_elements();
    let v = v.reshape([n, 1]);
    let j = jacobian::<B, _, 2, 2>(&layer, x, Mode::Auto);
    v.clone().transpose().matmul(j.matmul(v)).reshape([1])
}

// ---- the check ----------------------------------------------------------------

struct HutchinsonTrace {
    x: TensorData,
    v: TensorData,
}

impl Scenario for HutchinsonTrace {
    type Model<B: Backend> = Net<B>;
    const NAME: &'static str = "hutchinson_trace";
    const FORMS: &'static [&'static str] = &["vjp", "jvp", "full Jacobian"];

    fn model<B: Backend>(device: &B::Device) -> Net<B> {
        Net::new(device)
    }

    fn input(&self) -> TensorData {
        self.x.clone()
    }

    fn loss<B: Backend>(&self, form: usize, net: &Net<B>, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let v = tensor(&self.v, &x.device());
        match form {
            0 => trace_vjp(net, x, v),
            1 => trace_jvp(net, x, v),
            _ => trace_full(net, x, v),
        }
    }
}

fn main() {
    common::main(HutchinsonTrace {
        x: uniform([12, 4], 0.0, 1.0, 0),
        v: rademacher([12, 4], 12),
    });
}
