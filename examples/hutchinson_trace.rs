//! `hutchinson_trace` (docs/scenarios.md): the Hutchinson estimate `vᵀJv` of the
//! Jacobian's trace for a Rademacher probe `v`, three ways — a vector-Jacobian
//! product, a Jacobian-vector product and the full Jacobian. Checks each against
//! central differences in f64 and checks that the three agree.
//!
//! `cargo run --example hutchinson_trace [-- --device wgpu]`

mod common;

use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::Mode;
use burn_nested::scenarios::{self, Hutchinson, Mlp, sizes};
use common::{Scenario, rademacher, tensor, uniform};

struct HutchinsonTrace {
    x: TensorData,
    v: TensorData,
}

const HOW: [Hutchinson; 3] = [Hutchinson::Vjp, Hutchinson::Jvp, Hutchinson::FullJacobian];

impl Scenario for HutchinsonTrace {
    const NAME: &'static str = "hutchinson_trace";
    const SIZES: &'static [usize] = sizes::HUTCHINSON;
    const FORMS: &'static [&'static str] = &["vjp", "jvp", "full Jacobian"];

    fn input(&self) -> TensorData {
        self.x.clone()
    }

    fn loss<B: Backend>(&self, form: usize, model: &Mlp<B>, x: Tensor<B, 2>) -> Tensor<B, 1> {
        let v = tensor(&self.v, &x.device());
        scenarios::hutchinson_trace(model, x, v, HOW[form], Mode::Auto)
    }
}

fn main() {
    common::main(HutchinsonTrace {
        x: uniform([12, 4], 0.0, 1.0, 0),
        v: rademacher([12, 4], 12),
    });
}
