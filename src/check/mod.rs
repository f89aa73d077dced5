//! Layer 6: central finite differences and `check_gradients`, which reports the
//! ∞-norm of AD − FD for input and parameter gradients, as the scenario examples print it.

use core::fmt;

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData, backend::AutodiffBackend, backend::Backend};

/// Default central-difference step for f64.
pub const DEFAULT_STEP: f64 = 1e-6;

fn to_f64<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("f64 data")
}

/// The value of a one-element tensor as `f64`.
///
/// # Panics
/// If `t` does not have exactly one element.
#[track_caller]
pub fn scalar<B: Backend, const D: usize>(t: Tensor<B, D>) -> f64 {
    let v = to_f64(t);
    assert!(
        v.len() == 1,
        "burn-nested: `check::scalar` expected a one-element loss, got {} elements; reduce it \
         to one element first (`.sum()`, `.mean()`): the loss given to `check_gradients` must \
         return one",
        v.len()
    );
    v[0]
}

/// Central differences `(f(x + h eₖ) − f(x − h eₖ)) / 2h` for every entry `k` of `x`.
pub fn fd_gradient<B: Backend, const D: usize>(
    f: impl Fn(Tensor<B, D>) -> f64,
    x: &Tensor<B, D>,
    step: f64,
) -> Vec<f64> {
    let values = to_f64(x.clone());
    let dims = x.dims();
    let device = x.device();
    let at = |v: Vec<f64>| {
        Tensor::<B, D>::from_data(TensorData::new(v, dims).convert_dtype(x.dtype()), &device)
    };
    (0..values.len())
        .map(|k| {
            let (mut plus, mut minus) = (values.clone(), values.clone());
            plus[k] += step;
            minus[k] -= step;
            (f(at(plus)) - f(at(minus))) / (2.0 * step)
        })
        .collect()
}

/// Which visited float tensors of an `Autodiff` model are trainable parameters.
fn trainable<B: AutodiffBackend, M: AutodiffModule<B>>(model: &M) -> Vec<bool> {
    crate::params::require_grad_flags(model)
}

/// A fresh copy of `model`: same parameter values, new tape leaves and its own
/// running statistics, so evaluating it leaves `model` untouched.
fn fresh<B: AutodiffBackend, M: AutodiffModule<B>>(model: &M) -> M
where
    M::InnerModule: burn::module::HasAutodiffModule<B, TrainModule = M>,
{
    M::from_inner(model.valid())
}

/// Central differences of `f` w.r.t. the model's flattened trainable parameters.
///
/// # Panics
/// If the model has no tensor at all (so no device to build parameters on).
#[track_caller]
pub fn fd_param_gradient<B, M>(f: impl Fn(&M) -> f64, model: &M, step: f64) -> Vec<f64>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    M::InnerModule: burn::module::HasAutodiffModule<B, TrainModule = M>,
{
    let mask = trainable(model);
    let mut flat = Vec::new();
    crate::params::visit_masked(model, &mask, |t| flat.extend(to_f64(t)));
    let Some(device) = model.devices().into_iter().next() else {
        panic!(
            "burn-nested: `check::fd_param_gradient` found no tensor in the model, so it has no \
             parameter to perturb; for a function without parameters use `check::fd_gradient`"
        )
    };
    // Each trainable parameter from consecutive `values`, as a new leaf.
    let with = |values: &[f64]| {
        crate::params::map_masked(fresh(model), &mask, true, |offset, t| {
            let [n] = t.dims();
            let data = TensorData::new(values[offset..offset + n].to_vec(), [n]);
            Tensor::from_data(data.convert_dtype(t.dtype()), &device)
        })
    };
    (0..flat.len())
        .map(|k| {
            let (mut plus, mut minus) = (flat.clone(), flat.clone());
            plus[k] += step;
            minus[k] -= step;
            (f(&with(&plus)) - f(&with(&minus))) / (2.0 * step)
        })
        .collect()
}

/// The gradients in `grads` of the model's trainable parameters, flattened in
/// [`flatten_params`](crate::params::flatten_params) order: the layout of
/// [`param_jacobian`](crate::param_jacobian)'s columns and of
/// [`param_gradient`](crate::param_gradient).
///
/// ```
/// use burn::tensor::{Tensor, TensorData};
/// use burn_nested::check::param_gradients;
///
/// type B = burn_autodiff::Autodiff<burn_ndarray::NdArray<f64>>;
/// let device = Default::default();
/// let model = burn::nn::LinearConfig::new(2, 1).init::<B>(&device);
/// let x = Tensor::<B, 2>::from_data(TensorData::new(vec![3.0, 4.0], [1, 2]), &device);
/// let grads = model.forward(x).sum().backward();
/// // d(x W + b)/d(W, b) = (x₀, x₁, 1): the weight [2, 1], then the bias.
/// assert_eq!(param_gradients(&model, &grads), vec![3.0, 4.0, 1.0]);
/// ```
///
/// # Panics
/// If a trainable parameter has no gradient in `grads`: the loss does not reach
/// it, which is how a lost gradient shows. The message names the parameter by
/// its path in the module (`layers.1.weight`). When some parameters are
/// legitimately unused, call [`param_gradients_or_zeros`]. Also if `model` has
/// no trainable parameter at all: an empty list would make any comparison of
/// gradients pass without comparing anything.
#[track_caller]
pub fn param_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &B::Gradients,
) -> Vec<f64> {
    const OP: &str = "check::param_gradients";
    let (out, missing) = collect_param_gradients(OP, model, grads);
    if let Some(m) = missing {
        panic!(
            "burn-nested: `{OP}`: trainable parameter `{}` (shape {:?}, entries {}..{} of the \
             flattened list) has no gradient: the loss does not reach it. If that is \
             expected, use `check::param_gradients_or_zeros`; otherwise a gradient was lost: \
             look for a `detach`, a tensor rebuilt from data, or a model clone whose parameters \
             were not initialized first",
            m.path, m.dims, m.entries.start, m.entries.end,
        );
    }
    out
}

/// [`param_gradients`] with zeros for a parameter the loss does not reach.
///
/// # Panics
/// If `model` has no trainable parameter (see [`param_gradients`]).
#[track_caller]
pub fn param_gradients_or_zeros<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &B::Gradients,
) -> Vec<f64> {
    collect_param_gradients("check::param_gradients_or_zeros", model, grads).0
}

/// The first trainable parameter without a gradient.
struct Missing {
    /// Its path in the module (`layers.1.weight`).
    path: String,
    dims: Vec<usize>,
    /// Its entries in the flattened list.
    entries: core::ops::Range<usize>,
}

/// The flattened gradients of the trainable parameters, zeros for a parameter
/// without one, and the first such parameter.
///
/// # Panics
/// Naming `op`, if the model has no trainable parameter.
#[track_caller]
fn collect_param_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
    op: &str,
    model: &M,
    grads: &B::Gradients,
) -> (Vec<f64>, Option<Missing>) {
    struct Grads<'a, B: AutodiffBackend> {
        grads: &'a B::Gradients,
        path: crate::params::ModulePath,
        params: usize,
        out: Vec<f64>,
        missing: Option<Missing>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Grads<'_, B> {
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
            self.params += 1;
            match p.grad(self.grads) {
                Some(g) => self.out.extend(to_f64(g)),
                None => {
                    let dims = p.dims().to_vec();
                    let start = self.out.len();
                    self.out.resize(start + dims.iter().product::<usize>(), 0.0);
                    self.missing.get_or_insert_with(|| Missing {
                        path: self.path.current(),
                        dims,
                        entries: start..self.out.len(),
                    });
                }
            }
        }
    }
    let mut visitor = Grads::<B> {
        grads,
        path: Default::default(),
        params: 0,
        out: Vec::new(),
        missing: None,
    };
    model.visit(&mut visitor);
    assert!(
        visitor.params > 0,
        "burn-nested: `{op}` found no trainable parameter in the model, so there are no \
         parameter gradients to compare (an empty list would compare nothing). A module rebuilt \
         on Autodiff from an inner one (`from_inner`) or a clone of an initialized module has \
         untracked parameters in Burn 0.21: mark them with `require_grad` (a `ModuleMapper`), \
         or build the module on the Autodiff backend"
    );
    (visitor.out, visitor.missing)
}

/// AD gradients of a loss next to central differences, and their ∞-norm errors.
#[derive(Debug, Clone)]
pub struct GradientCheck {
    /// ∂loss/∂x by AD, flattened.
    pub input_ad: Vec<f64>,
    /// ∂loss/∂x by central differences.
    pub input_fd: Vec<f64>,
    /// ∂loss/∂params by AD, flattened in [`flatten_params`](crate::params::flatten_params) order.
    pub params_ad: Vec<f64>,
    /// ∂loss/∂params by central differences.
    pub params_fd: Vec<f64>,
}

fn inf_norm_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

impl GradientCheck {
    /// ∞-norm(∂x − ∂x_fd).
    pub fn input_error(&self) -> f64 {
        inf_norm_diff(&self.input_ad, &self.input_fd)
    }

    /// ∞-norm(∂ps − ∂ps_fd).
    pub fn param_error(&self) -> f64 {
        inf_norm_diff(&self.params_ad, &self.params_fd)
    }

    /// Whether both errors are at most `tol`.
    pub fn within(&self, tol: f64) -> bool {
        self.input_error() <= tol && self.param_error() <= tol
    }
}

impl fmt::Display for GradientCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "∞-norm(∂x - ∂x_fd): {:e}", self.input_error())?;
        write!(f, "∞-norm(∂ps - ∂ps_fd): {:e}", self.param_error())
    }
}

/// Gradients of `loss(model, x)` w.r.t. `x` and the model's trainable parameters,
/// by `Autodiff` and by central differences with `step`.
///
/// Every evaluation runs on a fresh copy of the model (own running statistics), so
/// the check does not change `model`.
///
/// # Panics
/// If `loss` does not return one element, or the model has no trainable
/// parameter.
#[track_caller]
pub fn check_gradients<B, M, const D: usize>(
    model: &M,
    x: &Tensor<B, D>,
    loss: impl Fn(&M, Tensor<B, D>) -> Tensor<B, 1>,
    step: f64,
) -> GradientCheck
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    M::InnerModule: burn::module::HasAutodiffModule<B, TrainModule = M>,
{
    let model_ad = fresh(model);
    let xa = x.clone().detach().require_grad();
    let grads = loss(&model_ad, xa.clone()).backward();
    let input_ad = match xa.grad(&grads) {
        Some(g) => to_f64(g),
        None => vec![0.0; x.shape().num_elements()],
    };
    // A parameter the loss never uses has no gradient; its entries are compared
    // with the finite differences as zeros.
    let params_ad = param_gradients_or_zeros(&model_ad, &grads);
    let x_plain = x.clone().detach();
    let input_fd = fd_gradient(|xs| scalar(loss(&fresh(model), xs)), &x_plain, step);
    let params_fd = fd_param_gradient(|m| scalar(loss(m, x_plain.clone())), model, step);
    GradientCheck {
        input_ad,
        input_fd,
        params_ad,
        params_fd,
    }
}
