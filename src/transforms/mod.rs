//! Layer 3: the transforms — `jvp`, `vjp`, `jacobian`, `batched_jacobian`,
//! `gradient`, `hvp`, `laplacian` and the parameter forms — each usable inside a reverse-mode
//! loss and outside any.

mod batched;
mod divergence;
pub(crate) mod engine;
mod gradient;
mod hessian;
mod hvp;
mod jacobian;
mod jvp;
mod laplacian;
pub(crate) mod mode;
mod operator;
mod params;
pub(crate) mod pass;
mod pullback;
mod rows;
mod taylor;
mod validate;
mod vjp;

pub use batched::{batched_jacobian, value_and_batched_jacobian};
pub use divergence::{divergence, value_and_divergence};
pub use gradient::{gradient, value_and_gradient};
pub use hessian::{batched_hessian, diag_hessian, hessian};
pub use hvp::hvp;
pub use jacobian::{jacobian, value_and_jacobian};
pub use jvp::{jvp, jvp_lanes, value_and_jvp};
pub use laplacian::{laplacian, value_and_laplacian};
pub use mode::Mode;
pub use operator::{
    Probe, Stochastic, second_order_operator, stochastic_laplacian, stochastic_operator,
};
pub use params::{param_gradient, param_jacobian};
pub use vjp::{value_and_vjp, vjp};
