//! Energy natural gradient descent (ENGD) for residual losses, the Gauss–Newton
//! step of physics-informed training.
//!
//! A PINN loss is a mean of squared residuals, `L(θ) = ½·mean_i r_i(θ)²`, where
//! each `r_i` holds a derivative of the network (`Δu − f` at a collocation
//! point). ENGD (Müller & Zeinhofer, 2023) preconditions the gradient with the
//! Gauss–Newton matrix `JᵀJ` of the residual Jacobian `J = ∂r/∂θ` (`N × P`) and
//! takes the best step along it by a line search. With fewer residuals than
//! parameters the step is solved in residual space:
//!
//! `δ = Jᵀ (J Jᵀ + λ I)⁻¹ r`, `θ ← θ − η δ`, `η = argmin_k L(θ − 2⁻ᵏ δ)`,
//!
//! which costs one `N × N` Gram matrix and its Cholesky factorisation per step.
//!
//! The Jacobian is nested: each row differentiates a Laplacian w.r.t. the
//! parameters. [`row_jacobian`] reads it off one backward pass when the
//! network is evaluated with a per-row copy of its parameters (row `i` of every
//! parameter only reaches residual `i`, so the gradient of `Σ_i r_i` w.r.t. the
//! copies *is* `J`); `examples/pinn_engd.rs` shows the whole step.
//!
//! ```
//! use burn::tensor::{Tensor, TensorData};
//! use burn_nested::engd::{Engd, EngdConfig};
//!
//! type B = burn_ndarray::NdArray<f64>;
//! let device = Default::default();
//! // Fit y = 2x with one weight: r(w) = w·x − y, J = x.
//! let model = burn::nn::LinearConfig::new(1, 1).with_bias(false).init::<B>(&device);
//! let x = [1.0, 2.0, 3.0];
//! let w = model.weight.val().into_scalar();
//! let r: Vec<f64> = x.iter().map(|x| w * x - 2.0 * x).collect();
//! let residuals = Tensor::<B, 1>::from_data(TensorData::new(r, [3]), &device);
//! let jacobian = Tensor::<B, 2>::from_data(TensorData::new(x.to_vec(), [3, 1]), &device);
//! let loss = |m: &burn::nn::Linear<B>| {
//!     let w = m.weight.val().into_scalar();
//!     x.iter().map(|x| (w * x - 2.0 * x).powi(2)).sum::<f64>() / 6.0
//! };
//! let (model, step) = Engd::new(EngdConfig::new())
//!     .step(&model, residuals, jacobian, loss)
//!     .expect("a well-posed step");
//! // A linear residual is solved in one step.
//! assert!((model.weight.val().into_scalar() - 2.0).abs() < 1e-8);
//! assert!(step.loss < 1e-15);
//! ```

mod cholesky;

use std::fmt;
use std::time::Instant;

use burn::config::Config;
use burn::module::{AutodiffModule, HasAutodiffModule, Module, ModuleVisitor, Param};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use burn_autodiff::Autodiff;

use crate::params::{flatten_params, num_params, unflatten_params};

/// Settings of [`Engd`].
#[derive(Config, Debug)]
pub struct EngdConfig {
    /// Tikhonov damping `λ` of the residual-space system, relative to the mean
    /// diagonal of `J Jᵀ` (so it does not depend on the scale of the residuals).
    /// Raise it when a step reports an ill-conditioned system.
    #[config(default = 1e-10)]
    pub damping: f64,
    /// The line search tries the step sizes `2⁰, 2⁻¹, …, 2⁻ʰ` with `h` this many
    /// halvings and keeps the one with the lowest loss (see `first_minimum`).
    #[config(default = 30)]
    pub halvings: u32,
    /// Stop the line search at the first step size whose loss is not below the
    /// previous (larger) one's, once a step size has lowered the loss. Along the
    /// direction the loss is usually unimodal, so this keeps the step size of the
    /// full search in a fraction of the loss evaluations (on the main job it kept
    /// the same one at every step, and its line search took 27 ms instead of 77);
    /// `false` tries every step size.
    #[config(default = true)]
    pub first_minimum: bool,
}

/// Energy natural gradient descent: see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Engd {
    config: EngdConfig,
}

/// What one [`Engd::step`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct EngdStep {
    /// The loss before the step.
    pub loss_before: f64,
    /// The loss after it (equal to `loss_before` when no step size lowered it and
    /// the model was kept).
    pub loss: f64,
    /// The step size the line search kept; 0 when it kept the model.
    pub step_size: f64,
    /// Seconds spent forming and solving the residual-space system.
    pub solve_seconds: f64,
    /// Seconds spent in the line search (loss evaluations).
    pub line_search_seconds: f64,
}

/// Why an [`Engd::step`] refused to update the model (which is then left as it
/// was).
#[derive(Debug, Clone, PartialEq)]
pub enum EngdError {
    /// The residuals and the Jacobian disagree in count, or the Jacobian's
    /// columns do not match the model's trainable parameters.
    Shape {
        /// Number of residuals.
        residuals: usize,
        /// Shape of the Jacobian.
        jacobian: [usize; 2],
        /// Trainable parameter entries of the model.
        params: usize,
    },
    /// A residual or a Jacobian entry is NaN or infinite.
    NotFinite {
        /// `"residuals"`, `"Jacobian"` or `"loss"`.
        what: &'static str,
    },
    /// The Jacobian is zero: no parameter moves any residual.
    ZeroJacobian,
    /// `J Jᵀ + λ I` is not numerically positive definite: a pivot of its
    /// Cholesky factorisation was not above the rounding level of its diagonal
    /// (`N·ε` times the mean diagonal of `J Jᵀ`).
    IllConditioned {
        /// The index of that pivot.
        pivot: usize,
        /// Its value.
        value: f64,
        /// The damping `λ` in use (absolute).
        damping: f64,
    },
}

impl fmt::Display for EngdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngdError::Shape {
                residuals,
                jacobian,
                params,
            } => write!(
                f,
                "burn-nested: ENGD needs a Jacobian shaped [residuals, parameters] = \
                 [{residuals}, {params}] (one row per residual, one column per trainable \
                 parameter entry, in `flatten_params` order), got {jacobian:?}; the model was \
                 left unchanged. Build J with `engd::row_jacobian` from the same residuals, \
                 on a per-row model whose parameters follow the model's own"
            ),
            EngdError::NotFinite { what } => write!(
                f,
                "burn-nested: ENGD got a NaN or infinite value in the {what}; the model was left \
                 unchanged. Evaluate the {what} at the current parameters to find it: a NaN in \
                 the collocation points or the source term, or parameters an earlier update \
                 (another optimizer) left non-finite"
            ),
            EngdError::ZeroJacobian => write!(
                f,
                "burn-nested: ENGD got an all-zero residual Jacobian: no parameter moves any \
                 residual, so there is no step to take; the model was left unchanged. Mark the \
                 per-row parameter copies `require_grad` before the forward pass, and check that \
                 the residuals are computed from them (not from the shared model)"
            ),
            EngdError::IllConditioned {
                pivot,
                value,
                damping,
            } => write!(
                f,
                "burn-nested: ENGD's residual-space system J Jᵀ + λI is not numerically positive \
                 definite (Cholesky pivot {pivot} is {value:e}, λ = {damping:e}); the model was \
                 left unchanged. Raise `EngdConfig::damping` (it is relative to the mean diagonal \
                 of J Jᵀ; f32 needs about 1e-5), or use fewer residuals than parameters"
            ),
        }
    }
}

impl std::error::Error for EngdError {}

impl Engd {
    /// An optimizer with these settings.
    ///
    /// # Panics
    /// If the damping is negative or not finite.
    #[track_caller]
    pub fn new(config: EngdConfig) -> Self {
        assert!(
            config.damping.is_finite() && config.damping >= 0.0,
            "burn-nested: ENGD's damping must be finite and non-negative, got {}; use \
             `EngdConfig::new()` (1e-10) or `.with_damping(λ)` with λ >= 0 (about 1e-5 for f32)",
            config.damping
        );
        Self { config }
    }

    /// The settings.
    pub fn config(&self) -> &EngdConfig {
        &self.config
    }

    /// The ENGD direction `δ = Jᵀ (J Jᵀ + λ I)⁻¹ r` for residuals `r` (`[N]`) and
    /// their Jacobian `J` (`[N, P]`): the step `θ − δ` solves the linearised
    /// residuals `r + J (θ' − θ) = 0` with the least change of parameters.
    ///
    /// # Errors
    /// See [`EngdError`]; `P` is not checked here.
    pub fn direction<B: Backend>(
        &self,
        residuals: Tensor<B, 1>,
        jacobian: Tensor<B, 2>,
    ) -> Result<Tensor<B, 1>, EngdError> {
        let [n] = residuals.dims();
        let [rows, p] = jacobian.dims();
        if rows != n || n == 0 || p == 0 {
            return Err(EngdError::Shape {
                residuals: n,
                jacobian: [rows, p],
                params: p,
            });
        }
        let device = residuals.device();
        let r = host(residuals);
        if r.iter().any(|v| !v.is_finite()) {
            return Err(EngdError::NotFinite { what: "residuals" });
        }
        // One read of `J`, then the linear algebra on the host in f64 whatever
        // the backend's float: the Gram matrix (the O(N²P) part) and the O(N³)
        // factorisation run through the threaded GEMM, and an f32 Jacobian
        // loses nothing more to rounding in the product. A uniquely held
        // ndarray tensor is read without a copy.
        let data = jacobian.into_data().convert::<f64>();
        let j = data.as_slice::<f64>().expect(NOT_F64);
        let gram = cholesky::lower_gram(j, n, p);
        // A non-finite Jacobian entry reaches its row's diagonal, and
        // |G_ik| ≤ √(G_ii G_kk) bounds the rest.
        let diagonal: Vec<f64> = (0..n).map(|i| gram[i * n + i]).collect();
        if diagonal.iter().any(|v| !v.is_finite()) {
            return Err(EngdError::NotFinite { what: "Jacobian" });
        }
        let mean_diag = diagonal.iter().sum::<f64>() / n as f64;
        if mean_diag == 0.0 {
            return Err(EngdError::ZeroJacobian);
        }
        let damping = self.config.damping * mean_diag;
        let mut system = gram;
        for i in 0..n {
            system[i * n + i] += damping;
        }
        // Pivots at the rounding level of the system's diagonal are noise.
        let floor = n as f64 * f64::EPSILON * mean_diag;
        let factor = cholesky::factor(system, n, floor).map_err(|(pivot, value)| {
            EngdError::IllConditioned {
                pivot,
                value,
                damping,
            }
        })?;
        let alpha = cholesky::solve(&factor, n, &r);
        let direction = cholesky::transposed_times(j, n, p, &alpha);
        Ok(upload(direction, [p], &device))
    }

    /// One ENGD step of `model`: the direction from `residuals` (`[N]`) and their
    /// Jacobian w.r.t. the model's flattened trainable parameters (`[N, P]`, see
    /// [`row_jacobian`]), then the step size among `2⁰ … 2⁻ʰ` with the lowest
    /// `loss`. Returns the updated model, or the same parameters when no step size
    /// lowered the loss.
    ///
    /// # Errors
    /// See [`EngdError`]. On an error nothing was changed: `model` is borrowed,
    /// and only a finished step returns a new one.
    pub fn step<B, M>(
        &self,
        model: &M,
        residuals: Tensor<B, 1>,
        jacobian: Tensor<B, 2>,
        mut loss: impl FnMut(&M) -> f64,
    ) -> Result<(M, EngdStep), EngdError>
    where
        B: Backend,
        M: Module<B> + HasAutodiffModule<Autodiff<B>>,
    {
        let params = num_params(model);
        let [n] = residuals.dims();
        let [rows, cols] = jacobian.dims();
        if cols != params || rows != n {
            return Err(EngdError::Shape {
                residuals: n,
                jacobian: [rows, cols],
                params,
            });
        }
        let start = Instant::now();
        let direction = self.direction(residuals, jacobian)?;
        let solve_seconds = start.elapsed().as_secs_f64();

        let start = Instant::now();
        let loss_before = loss(model);
        if !loss_before.is_finite() {
            return Err(EngdError::NotFinite { what: "loss" });
        }
        let theta = flatten_params(model);
        let mut best: Option<(f64, f64, M)> = None;
        let mut previous = f64::INFINITY;
        for k in 0..=self.config.halvings {
            let eta = 0.5f64.powi(k as i32);
            let candidate =
                unflatten_params(model.clone(), theta.clone() - direction.clone() * eta);
            let value = loss(&candidate);
            // A NaN loss never wins, and never counts as a rise.
            if value < best.as_ref().map_or(loss_before, |b| b.0) {
                best = Some((value, eta, candidate));
            } else if self.config.first_minimum && best.is_some() && value >= previous {
                break;
            }
            previous = value;
        }
        let line_search_seconds = start.elapsed().as_secs_f64();
        let (loss, step_size, model) = match best {
            Some((value, eta, candidate)) => (value, eta, candidate),
            None => (loss_before, 0.0, model.clone()),
        };
        Ok((
            model,
            EngdStep {
                loss_before,
                loss,
                step_size,
                solve_seconds,
                line_search_seconds,
            },
        ))
    }
}

/// The residual Jacobian `[N, P]` read off the gradients of a backward pass from
/// `Σ_i r_i`, where `per_row` evaluated the residuals with a copy of the
/// parameters per residual: every trainable parameter of `per_row` has the
/// residual count `N` as its leading dim, and row `i` of it reached residual `i`
/// alone. Its trainable parameters must come in the order of the shared model's
/// [`flatten_params`] (the same fields, each with the leading `N`), so that
/// column `j` of the result is the shared parameter entry `j`. A parameter the
/// residuals never reached contributes zero columns. The per-row parameters'
/// gradients are taken out of `grads` (removed, which saves a copy of each).
///
/// # Panics
/// If `per_row` has no trainable parameter, or one whose leading dim is not
/// `rows`.
#[track_caller]
pub fn row_jacobian<B, M>(
    per_row: &M,
    grads: &mut B::Gradients,
    rows: usize,
) -> Tensor<B::InnerBackend, 2>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    /// Each trainable parameter's gradient, `[rows, width]` row-major on the
    /// host, in visiting order.
    struct Columns<'a, B: AutodiffBackend> {
        grads: &'a mut B::Gradients,
        rows: usize,
        parts: Vec<(TensorData, usize)>,
        device: Option<burn::tensor::Device<B::InnerBackend>>,
        path: crate::params::ModulePath,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Columns<'_, B> {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.enter(name);
        }

        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.exit();
        }

        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let p = param.val();
            if !p.is_require_grad() {
                return;
            }
            let dims = p.dims();
            assert!(
                dims[0] == self.rows,
                "burn-nested: `row_jacobian` needs every trainable parameter of the per-row \
                 model to have one copy per residual (leading dim {}), got `{}` shaped {dims:?}; \
                 give each parameter of the per-row model a leading dim of the residual count",
                self.rows,
                self.path.current()
            );
            let width = dims[1..].iter().product::<usize>();
            let device = p.clone().inner().device();
            // Removed, not cloned: a gradient held once is read without a copy.
            let g = p
                .grad_remove(self.grads)
                .unwrap_or_else(|| Tensor::zeros(dims, &device));
            self.parts.push((g.into_data(), width));
            self.device.get_or_insert(device);
        }
    }
    let mut visitor = Columns::<B> {
        grads,
        rows,
        parts: Vec::new(),
        device: None,
        path: Default::default(),
    };
    per_row.visit(&mut visitor);
    let device = visitor.device.expect(
        "burn-nested: `row_jacobian` found no trainable parameter in the per-row model, so \
         there is no column to read; mark the per-row copies `require_grad` before the \
         forward pass",
    );
    // Row i of J is row i of every part, side by side: assembled on the host by
    // slices, where a concatenation along dim 1 costs several times as much on
    // ndarray. (The Jacobian goes to the host for the step anyway.)
    let width: usize = visitor.parts.iter().map(|(_, w)| w).sum();
    let parts: Vec<(Vec<f64>, usize)> = visitor
        .parts
        .into_iter()
        .map(|(data, w)| (host_values(data), w))
        .collect();
    let mut jacobian = Vec::with_capacity(rows * width);
    for i in 0..rows {
        for (values, w) in &parts {
            jacobian.extend_from_slice(&values[i * w..(i + 1) * w]);
        }
    }
    upload(jacobian, [rows, width], &device)
}

/// f64 values onto `device` as a tensor of the backend's float.
fn upload<B: Backend, const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::from_data(
        TensorData::new(values, shape).convert::<B::FloatElem>(),
        device,
    )
}

/// The message of a conversion `TensorData::convert::<f64>` guarantees.
const NOT_F64: &str = "burn-nested: ENGD could not read a float tensor's values as f64 after \
                       converting them, which Burn guarantees: please report this as a bug";

/// A tensor's values on the host, in f64.
fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    host_values(t.into_data())
}

/// Float tensor data as f64 values (no copy when it already is f64).
fn host_values(data: TensorData) -> Vec<f64> {
    data.convert::<f64>().into_vec::<f64>().expect(NOT_F64)
}
