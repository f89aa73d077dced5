//! `parameter_jacobian` (docs/scenarios.md): `Σ J²` with `J` the Jacobian of the outputs
//! w.r.t. all parameters. Checks the loss's input and parameter gradients against
//! central differences in f64.
//!
//! `cargo run --example parameter_jacobian [-- --device wgpu]`

mod common;

use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::Mode;
use burn_nested::scenarios::{self, Mlp, sizes};
use common::{Scenario, uniform};

struct ParameterJacobian {
    x: TensorData,
}

impl Scenario for ParameterJacobian {
    const NAME: &'static str = "parameter_jacobian";
    const SIZES: &'static [usize] = sizes::PINN;
    const FORMS: &'static [&'static str] = &["parameter Jacobian"];

    fn input(&self) -> TensorData {
        self.x.clone()
    }

    fn loss<B: Backend>(&self, _: usize, model: &Mlp<B>, x: Tensor<B, 2>) -> Tensor<B, 1> {
        scenarios::parameter_jacobian(model, x, Mode::Auto)
    }
}

fn main() {
    common::main(ParameterJacobian {
        x: uniform([16, 1], 0.0, 1.0, 0),
    });
}
