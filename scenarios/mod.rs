// Each test or bench binary that includes this module uses only part of it (and
// of its re-exports).
#![allow(dead_code, unused_imports)]
//! The reference scenarios of docs/scenarios.md (nested losses in Burn layout),
//! shared by the tests and the benchmarks, which include this file with
//! `#[path = "../scenarios/mod.rs"] mod scenarios;` (from `tests/` or
//! `benches/`). It is not part of the library's API and uses only the public API
//! of `burn_nested`. The scenario examples write the same models and losses in
//! their own files.
//!
//! | scenario | model | derivative inside the loss |
//! |---|---|---|
//! | [`jacobian_regularization`] | Dense(2→4,tanh), BatchNorm(4), Dense(4→2) | full Jacobian w.r.t. `x` |
//! | [`batched_jacobian_loss`] | Dense(2→4,tanh), Dense(4→2) | per-row Jacobian |
//! | [`pinn_gradient`], [`pinn_gradient_rowwise`] | Dense(1→12,tanh), Dense(12→12,tanh)×2, Dense(12→1) | `∇ₜ Σ u(t)²` |
//! | [`parameter_jacobian`] | as `pinn_gradient` | Jacobian w.r.t. all parameters |
//! | [`hutchinson_trace`] | Dense(4→12,tanh), Dense(12→12,tanh)×2, Dense(12→4) | `vᵀJv` three ways |

mod losses;
mod model;

pub use losses::{
    Hutchinson, Square, SumOfSquares, batched_jacobian_loss, hutchinson_trace,
    jacobian_regularization, parameter_jacobian, pinn_gradient, pinn_gradient_rowwise,
};
pub use model::Mlp;

/// Layer widths of the seed-size models (docs/scenarios.md, "Sizes").
pub mod sizes {
    /// `jacobian_regularization` (with `BatchNorm` after the first layer).
    pub const JACOBIAN_REGULARIZATION: &[usize] = &[2, 4, 2];
    /// `batched_jacobian`.
    pub const BATCHED_JACOBIAN: &[usize] = &[2, 4, 2];
    /// `pinn_gradient` and `parameter_jacobian`.
    pub const PINN: &[usize] = &[1, 12, 12, 12, 1];
    /// `hutchinson_trace`.
    pub const HUTCHINSON: &[usize] = &[4, 12, 12, 12, 4];
}
