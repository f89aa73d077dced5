//! `pinn_gradient` (docs/scenarios.md): `Σ(g − cos t)²` with `g = ∇ₜ Σ u(t)²`, computed two
//! ways — the gradient of the whole batch's sum (the original form) and per row
//! through `batched_jacobian` (the rows are independent). Checks both against
//! central differences in f64 and checks that they agree.
//!
//! `cargo run --example pinn_gradient [-- --device wgpu]`

mod common;

use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::Mode;
use burn_nested::scenarios::{self, Mlp, sizes};
use common::{Scenario, uniform};

struct PinnGradient {
    t: TensorData,
}

impl Scenario for PinnGradient {
    const NAME: &'static str = "pinn_gradient";
    const SIZES: &'static [usize] = sizes::PINN;
    const FORMS: &'static [&'static str] = &["full gradient", "per row"];

    fn input(&self) -> TensorData {
        self.t.clone()
    }

    fn loss<B: Backend>(&self, form: usize, model: &Mlp<B>, t: Tensor<B, 2>) -> Tensor<B, 1> {
        match form {
            0 => scenarios::pinn_gradient(model, t, Mode::AutoReverse),
            _ => scenarios::pinn_gradient_rowwise(model, t, Mode::Auto),
        }
    }
}

fn main() {
    common::main(PinnGradient {
        t: uniform([16, 1], 0.0, 1.0, 0),
    });
}
