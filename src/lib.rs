//! Nested automatic differentiation for [Burn](https://burn.dev) 0.21:
//! derivatives taken *inside* a loss whose gradient Burn's `Autodiff` backend
//! then computes. An input gradient in a physics-informed loss, a Jacobian
//! penalty, a Laplacian, a Hutchinson trace or a parameter Jacobian becomes an
//! ordinary tensor on the loss's tape, and `loss.backward()` differentiates
//! through it exactly.
//!
//! The base is [`Dual<B>`](Dual), a forward-mode backend decorator whose float
//! tensors carry tangent lanes (one per direction). It composes with Burn's
//! `Autodiff` in both orders: `Dual<Autodiff<B>>` gives gradients of Jacobians,
//! `Autodiff<Dual<B>>` Hessian-vector products. The transforms on top take a
//! Burn model wrapped in a [`StatefulLayer`], choose the fastest correct path
//! (forward lanes or one nested backward) and check the assumptions a fast path
//! needs.
//!
//! # Example
//!
//! A physics-informed residual `Δu + 1` inside a loss, with the Laplacian of the
//! network w.r.t. its inputs taken by [`laplacian`] in one forward pass:
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Linear, LinearConfig};
//! use burn::tensor::{Tensor, backend::Backend};
//! use burn_nested::{Forward, Mode, StatefulLayer, check::param_gradients_or_zeros, laplacian};
//!
//! #[derive(Module, Debug)]
//! struct Net<B: Backend> {
//!     hidden: Linear<B>,
//!     out: Linear<B>,
//! }
//!
//! // Written once, generic over the backend, so burn-nested can re-run it.
//! impl<B: Backend> Forward<B, 2, 2> for Net<B> {
//!     fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
//!         self.out.forward(self.hidden.forward(x).tanh())
//!     }
//! }
//!
//! type B = burn_autodiff::Autodiff<burn_ndarray::NdArray<f64>>;
//! let device = Default::default();
//! let net = Net::<B> {
//!     hidden: LinearConfig::new(2, 8).init(&device),
//!     out: LinearConfig::new(8, 1).init(&device),
//! };
//! let points = Tensor::<B, 2>::ones([5, 2], &device).mul_scalar(0.3);
//!
//! let u = StatefulLayer::from_ref(&net);
//! let residual = laplacian(&u, points, Mode::Auto) + 1.0; // [5], on the loss's tape
//! let loss = residual.powf_scalar(2.0).mean();
//! let grads = loss.backward();
//! // The parameters' gradients in flattening order, 2·8 + 8 + 8·1 + 1 entries; the
//! // output bias does not enter Δu, so its gradient is zero.
//! let g = param_gradients_or_zeros(&net, &grads);
//! assert_eq!((g.len(), g[32]), (33, 0.0));
//! ```
//!
//! # What is here
//!
//! - **Transforms**, each usable inside a reverse-mode loss and outside any:
//!   [`jvp`] and [`jvp_lanes`], [`vjp`], [`jacobian`], [`batched_jacobian`],
//!   [`gradient`], [`hvp`], [`hessian`], [`batched_hessian`], [`divergence`], and
//!   the `value_and_*` forms such as [`value_and_jacobian`].
//! - **Second-order operators** in one forward pass: [`laplacian`] (the forward
//!   Laplacian), [`diag_hessian`], [`second_order_operator`], and the stochastic
//!   estimators [`stochastic_laplacian`] and [`stochastic_operator`] with
//!   [`Stochastic`] directions.
//! - **Parameter derivatives**: [`param_jacobian`], [`param_gradient`] and the
//!   parameter view [`layer::ParamView`] (`layer.params_at(x)`).
//! - **What a transform differentiates**: a [`StatefulLayer`] around a model
//!   implementing [`Forward`] (generic code bounds the model by
//!   [`NestedModel`]), [`Pure`] and the compositions `layer.then(g)` and
//!   `layer.after(g)` ([`layer::Then`], [`layer::After`]) with
//!   backend-generic [`TensorFn`]s declared by [`tensor_fn!`], or any
//!   [`NestedFn`].
//! - **Paths**: [`Mode`] per call, and [`settings`], where the path choice lives:
//!   the one options value [`settings::Options`] (switching, measured switching,
//!   the per-row guard, the lane budget; serde-serialisable, so it can sit in a
//!   Burn `Config`), measured switching's decisions and their file
//!   ([`settings::save_tuning`], [`settings::load_tuning`]), and
//!   [`settings::path_counts`] to see which path ran.
//! - **Forward mode by hand**: [`Dual`] and the module [`lift`] ([`lift::seed`],
//!   [`lift::tangent`], [`lift::primal`], [`lift::lift_module`], ...).
//! - **Around the transforms**: [`params`] (parameters as one flat vector),
//!   [`check`] (finite-difference gradient checks) and [`engd`] (energy natural
//!   gradient descent, the Gauss–Newton step for PINNs).
//! - **A faster CPU backend**: [`cpu::FastNdArray`], burn-ndarray with faster
//!   `matmul`, f32 `tanh`, `reshape` and `zeros` (feature `ndarray`, default).
//! - **Counting ops**: [`census`], a backend decorator that counts the ops a
//!   step sends to its inner backend, by op and by kind.
//!
//! # The guide
//!
//! The repository's `docs/` folder holds the guide, one page per topic:
//! `docs/nested-losses.md` (writing nested losses, generic code, burn-train's
//! `Learner`), `docs/modes-and-switching.md` (modes, switching, the guarantee
//! "one function, one derivative", the row guard), `docs/second-order.md`,
//! `docs/engd.md`, `docs/scenarios.md` (the reference scenarios and examples),
//! `docs/performance.md` (dated measurements against PyTorch and JAX),
//! `docs/backends.md` (ndarray, libtorch, wgpu, ...), `docs/errors.md`,
//! `docs/burn-issues.md` (known Burn 0.21 issues and why this Burn version),
//! `docs/design.md`, `docs/ops.md` (every op's forward rule) and
//! `docs/reliability.md`.
#![warn(missing_docs)]

pub mod census;
pub mod check;
mod context;
#[cfg(feature = "ndarray")]
pub mod cpu;
pub mod dual;
pub mod engd;
mod fusion_warning;
pub mod layer;
pub mod lift;
pub mod params;
mod relay;
pub mod settings;
pub mod transforms;

pub use dual::Dual;
pub use layer::{Forward, NestedFn, NestedModel, Pure, StatefulLayer, TensorFn};
pub use transforms::*;

/// The guide's pages and the README, compiled as doctests.
#[cfg(doctest)]
pub mod guide {
    #[doc = include_str!("../README.md")]
    pub struct Readme;
    #[doc = include_str!("../docs/nested-losses.md")]
    pub struct NestedLosses;
    #[doc = include_str!("../docs/modes-and-switching.md")]
    pub struct ModesAndSwitching;
    #[doc = include_str!("../docs/second-order.md")]
    pub struct SecondOrder;
    #[doc = include_str!("../docs/performance.md")]
    pub struct Performance;
    #[doc = include_str!("../docs/backends.md")]
    pub struct Backends;
    #[doc = include_str!("../docs/burn-issues.md")]
    pub struct BurnIssues;
    #[doc = include_str!("../docs/design.md")]
    pub struct Design;
    #[doc = include_str!("../docs/scenarios.md")]
    pub struct Scenarios;
    #[doc = include_str!("../docs/engd.md")]
    pub struct Engd;
    #[doc = include_str!("../docs/ops.md")]
    pub struct Ops;
    #[doc = include_str!("../docs/reliability.md")]
    pub struct Reliability;
}
