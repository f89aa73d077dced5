//! `batched_jacobian` (docs/scenarios.md): `Σ(ŷ−y)² + ‖0.01·J‖²` with `J` the per-row
//! Jacobian `[batch, out, in]` (rows are independent). Checks the loss's input and
//! parameter gradients against central differences in f64.
//!
//! `cargo run --example batched_jacobian [-- --device wgpu]`

mod common;

use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::Mode;
use burn_nested::scenarios::{self, Mlp, sizes};
use common::{Scenario, tensor, uniform};

struct BatchedJacobian {
    x: TensorData,
    y: TensorData,
}

impl Scenario for BatchedJacobian {
    const NAME: &'static str = "batched_jacobian";
    const SIZES: &'static [usize] = sizes::BATCHED_JACOBIAN;
    const FORMS: &'static [&'static str] = &["per-row Jacobian"];

    fn input(&self) -> TensorData {
        self.x.clone()
    }

    fn loss<B: Backend>(&self, _: usize, model: &Mlp<B>, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let y = tensor(&self.y, &x.device());
        scenarios::batched_jacobian_loss(model, x, y, Mode::Auto)
    }
}

fn main() {
    common::main(BatchedJacobian {
        x: uniform([10, 2], -1.0, 1.0, 0),
        y: uniform([10, 2], -1.0, 1.0, 11),
    });
}
