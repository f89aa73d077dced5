//! `jacobian_regularization` (docs/scenarios.md): `Σ(ŷ−y)² + ‖0.01·J‖²` with `J` the full
//! Jacobian of the output w.r.t. the whole input; the model has a `BatchNorm`,
//! which couples the rows. Checks the loss's input and parameter gradients against
//! central differences in f64.
//!
//! `cargo run --example jacobian_regularization [-- --device wgpu]`

mod common;

use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::Mode;
use burn_nested::scenarios::{self, Mlp, sizes};
use common::{Scenario, tensor, uniform};

struct JacobianRegularization {
    x: TensorData,
    y: TensorData,
}

impl Scenario for JacobianRegularization {
    const NAME: &'static str = "jacobian_regularization";
    const SIZES: &'static [usize] = sizes::JACOBIAN_REGULARIZATION;
    const BATCH_NORM: bool = true;
    const FORMS: &'static [&'static str] = &["full Jacobian"];

    fn input(&self) -> TensorData {
        self.x.clone()
    }

    fn loss<B: Backend>(&self, _: usize, model: &Mlp<B>, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let y = tensor(&self.y, &x.device());
        scenarios::jacobian_regularization(model, x, y, Mode::AutoReverse)
    }
}

fn main() {
    common::main(JacobianRegularization {
        x: uniform([10, 2], -1.0, 1.0, 0),
        y: uniform([10, 2], -1.0, 1.0, 11),
    });
}
