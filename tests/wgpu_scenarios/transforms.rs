//! Every transform, in each of its modes, inside a loss on wgpu (f32, burn-fusion
//! on) against the same loss in f64 on ndarray: the transform's value and the
//! loss's gradients w.r.t. the input and every parameter.
//!
//! burn-fusion 0.21 returned wrong values without an error for two patterns of
//! plain Burn ops (docs/backends.md, "burn-fusion: wrong values in two
//! patterns"). Which ops a transform records depends on its path and on the
//! rules of `Dual`, so the scenarios alone do not show that no path meets one:
//! this sweep runs each path once, on a network whose ops go beyond a `tanh`
//! MLP (a layer norm, a softmax gate, a sigmoid, a product of two branches).

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::layer::Then;
use burn_nested::params::{flatten_params, unflatten_params};
use burn_nested::settings::{path_counts, reset_path_counts};
use burn_nested::{
    Forward, Mode, StatefulLayer, batched_hessian, batched_jacobian, diag_hessian, divergence,
    gradient, hessian, hvp, jacobian, jvp, laplacian, param_gradient, param_jacobian,
    second_order_operator, tensor_fn, vjp,
};

use super::{Ad, Wad, data};
use crate::common::{self, F32_SCENARIO_TOL, values};

/// Inputs per row. With [`WIDTH`] 8 the parameters start at offsets that are
/// multiples of 8 floats, where a column `slice` of the flat parameters'
/// tangent is a view (see `reshape_of_a_column_view`).
const D: usize = 4;
/// Hidden features.
const WIDTH: usize = 8;
/// Rows of the batch.
const ROWS: usize = 4;

/// A per-row network `[rows, D] → [rows, out]`: a dense `tanh` layer, a layer
/// norm, then a sigmoid branch gated by a softmax over the features, and a
/// dense output layer.
#[derive(Module, Debug)]
struct Mixed<B: Backend> {
    first: Linear<B>,
    norm: LayerNorm<B>,
    middle: Linear<B>,
    last: Linear<B>,
}

impl<B: Backend> Mixed<B> {
    fn new(out: usize, device: &B::Device) -> Self {
        let model = Self {
            first: LinearConfig::new(D, WIDTH).init(device),
            norm: LayerNormConfig::new(WIDTH).init(device),
            middle: LinearConfig::new(WIDTH, WIDTH).init(device),
            last: LinearConfig::new(WIDTH, out).init(device),
        };
        burn_nested::lift::initialize_params(&model);
        model
    }
}

impl<B: Backend> Forward<B, 2, 2> for Mixed<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let h = self.norm.forward(self.first.forward(x).tanh());
        let gate = softmax(h.clone(), 1);
        let h = sigmoid(self.middle.forward(h)) * gate * 3.0;
        self.last.forward(h)
    }
}

tensor_fn!(Total, |y: 2| -> 1 { y.sum() });

/// The two networks the transforms differentiate: `u` (one output per row) and
/// the vector field `v` (`D` outputs per row).
struct Nets<B: Backend> {
    u: Mixed<B>,
    v: Mixed<B>,
}

/// A transform inside a loss: its value, flattened.
type Item<B> = Box<dyn Fn(&Nets<B>, Tensor<B, 2>) -> Tensor<B, 1>>;

/// Direction data shaped like the input, fixed: the same on both backends.
fn direction<B: Backend>(like: &Tensor<B, 2>, seed: u64) -> Tensor<B, 2> {
    let data = data(like.dims(), seed, -1.0).convert::<B::FloatElem>();
    Tensor::from_data(data, &like.device())
}

fn flat<B: Backend, const N: usize>(t: Tensor<B, N>) -> Tensor<B, 1> {
    let n = t.shape().num_elements();
    t.reshape([n])
}

/// The items without a mode whose one path is a reverse pass.
const REVERSE_ONLY: [&str; 3] = ["hvp", "hessian", "batched_hessian"];

/// Every transform, each mode that picks a path of its own.
fn items<B: Backend>() -> Vec<(String, Item<B>)> {
    fn u<B: Backend>(n: &Nets<B>) -> StatefulLayer<Mixed<B>> {
        StatefulLayer::from_ref(&n.u)
    }
    fn v<B: Backend>(n: &Nets<B>) -> StatefulLayer<Mixed<B>> {
        StatefulLayer::from_ref(&n.v)
    }
    fn total<B: Backend>(n: &Nets<B>) -> Then<StatefulLayer<Mixed<B>>, Total, 2> {
        Then {
            inner: u(n),
            outer: Total,
        }
    }
    let mut items: Vec<(String, Item<B>)> = vec![
        (
            "jvp".into(),
            Box::new(|n, x| flat(jvp(&v(n), x.clone(), direction(&x, 31)))),
        ),
        (
            "hvp".into(),
            Box::new(|n, x| flat(hvp(&total(n), x.clone(), direction(&x, 32)))),
        ),
        (
            "hessian".into(),
            Box::new(|n, x| flat(hessian(&total(n), x.slice([0..2, 0..D])))),
        ),
        (
            "batched_hessian".into(),
            Box::new(|n, x| flat(batched_hessian(&u(n), x))),
        ),
        (
            "diag_hessian".into(),
            Box::new(|n, x| flat(diag_hessian(&u(n), x))),
        ),
        (
            "second_order_operator".into(),
            Box::new(|n, x| {
                // A symmetric coefficient matrix with one negative eigenvalue.
                let a = TensorData::new(
                    vec![
                        2.0, 0.5, 0.0, 0.1, 0.5, -1.0, 0.3, 0.0, 0.0, 0.3, 1.5, 0.2, 0.1, 0.0, 0.2,
                        1.0,
                    ],
                    [D, D],
                );
                let a = Tensor::from_data(a.convert::<B::FloatElem>(), &x.device());
                second_order_operator(&u(n), x, a)
            }),
        ),
    ];
    for (name, mode) in [
        ("forward", Mode::FORWARD),
        ("forward, chunks of 2", Mode::forward_chunked(2)),
        ("reverse", Mode::AutoReverse),
    ] {
        let entries: [(&str, Item<B>); 8] = [
            (
                "vjp",
                Box::new(move |n, x| {
                    let w = direction(&x, 33);
                    flat(vjp(&v(n), x, w, mode))
                }),
            ),
            (
                "jacobian",
                Box::new(move |n, x| flat(jacobian(&v(n), x, mode))),
            ),
            (
                "batched_jacobian",
                Box::new(move |n, x| flat(batched_jacobian(&v(n), x, mode))),
            ),
            (
                "divergence",
                Box::new(move |n, x| divergence(&v(n), x, mode)),
            ),
            (
                "gradient",
                Box::new(move |n, x| flat(gradient(&total(n), x, mode))),
            ),
            ("laplacian", Box::new(move |n, x| laplacian(&u(n), x, mode))),
            (
                "param_jacobian",
                Box::new(move |n, x| flat(param_jacobian(&u(n), x, mode))),
            ),
            (
                "param_gradient",
                Box::new(move |n, x| param_gradient(&u(n), x, Total, mode)),
            ),
        ];
        for (what, item) in entries {
            // 137 parameters in chunks of 2 are 69 passes: long, and no new path.
            if what.starts_with("param_") && name.contains("chunks") {
                continue;
            }
            items.push((format!("{what} ({name})"), item));
        }
    }
    items
}

/// What one item gives: the transform's value, and the gradients of
/// `Σ value ⊙ r` (`r` fixed weights) w.r.t. the input and both networks'
/// parameters.
struct Outcome {
    value: Vec<f64>,
    input: Vec<f64>,
    params: Vec<f64>,
}

fn run<B: AutodiffBackend>(nets: &Nets<B>, x: &TensorData, item: &Item<B>) -> Outcome {
    let device = Default::default();
    let xa = Tensor::<B, 2>::from_data(x.clone().convert::<B::FloatElem>(), &device).require_grad();
    let y = item(nets, xa.clone());
    let n = y.dims()[0];
    let weights: Vec<f64> = (0..n).map(|i| (0.7 * i as f64 + 0.3).cos()).collect();
    let r = TensorData::new(weights, [n]).convert::<B::FloatElem>();
    let grads = (y.clone() * Tensor::from_data(r, &device)).sum().backward();
    let mut params = common::param_gradients_counted(&nets.u, &grads);
    params.extend(common::param_gradients_counted(&nets.v, &grads));
    Outcome {
        value: values(y),
        input: values(xa.grad(&grads).expect("an input gradient")),
        params,
    }
}

/// Both networks on the backend `G` with the f64 networks' weights.
fn copied<G: AutodiffBackend>(nets: &Nets<Ad>) -> Nets<G> {
    let copy = |m: &Mixed<Ad>, out: usize| {
        let weights = values(flatten_params(m));
        let device = Default::default();
        unflatten_params(
            Mixed::<G>::new(out, &device),
            Tensor::from_data(
                TensorData::new(weights.clone(), [weights.len()]).convert::<G::FloatElem>(),
                &device,
            ),
        )
    };
    Nets {
        u: copy(&nets.u, 1),
        v: copy(&nets.v, D),
    }
}

/// Runs every item on `G` (its default device, f32) and in f64 on ndarray and
/// panics listing every comparison that differs beyond f32 rounding.
fn sweep<G: AutodiffBackend>(backend: &str) {
    let device = Default::default();
    Ad::seed(&device, 5);
    let reference = Nets {
        u: Mixed::<Ad>::new(1, &device),
        v: Mixed::<Ad>::new(D, &device),
    };
    let nets = copied::<G>(&reference);
    let x = data([ROWS, D], 30, -1.0);
    let (want, got) = (items::<Ad>(), items::<G>());
    let mut failures = Vec::new();
    for ((name, f64_item), (_, item)) in want.iter().zip(&got) {
        let reference = run(&reference, &x, f64_item);
        reset_path_counts();
        let result = run(&nets, &x, item);
        // The item took the path its name says, on `G`.
        let counts = path_counts();
        let forward = !name.contains("reverse") && !REVERSE_ONLY.contains(&name.as_str());
        assert!(
            (counts.forward > 0, counts.reverse > 0) == (forward, !forward),
            "{name}: expected the {} path, counted {counts:?}",
            if forward { "forward" } else { "reverse" }
        );
        for (what, a, b) in [
            ("value", &result.value, &reference.value),
            ("input gradient", &result.input, &reference.input),
            ("parameter gradient", &result.params, &reference.params),
        ] {
            let what = format!("{name}: {what}");
            failures.extend(common::closeness_failure(&what, a, b, F32_SCENARIO_TOL));
        }
    }
    assert_eq!(want.len(), 28, "the sweep's items");
    assert!(
        failures.is_empty(),
        "{} of {} comparisons differ on {backend}:\n{}",
        failures.len(),
        3 * want.len(),
        failures.join("\n")
    );
}

#[test]
fn every_transform_inside_a_loss_on_fused_wgpu_matches_f64() {
    sweep::<Wad>("wgpu");
}

/// The same on wgpu without burn-fusion, the backend docs/backends.md offers
/// where burn-fusion's faults are a concern: every transform must hold there too.
/// Ignored in the default run (its shaders take about 40 s to compile from an
/// empty cache through lavapipe, for a backend with no known fault);
/// `scripts/gpu-bench.sh`'s `run.sh` runs it on the GPU, and
/// `cargo test --features wgpu --test wgpu_scenarios -- --ignored unfused` here.
#[test]
#[ignore = "about 40 s through lavapipe from an empty shader cache; run by gpu-bench"]
fn every_transform_inside_a_loss_on_unfused_wgpu_matches_f64() {
    sweep::<burn_autodiff::Autodiff<super::WgpuUnfused>>("wgpu without burn-fusion");
}

/// The same on burn-cuda (with burn-fusion): ignored, as it needs an NVIDIA
/// GPU; `scripts/gpu-bench.sh`'s `run.sh` runs it there
/// (`wgpu_scenarios --ignored cuda`).
#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs an NVIDIA GPU with CUDA"]
fn every_transform_inside_a_loss_on_fused_cuda_matches_f64() {
    sweep::<burn_autodiff::Autodiff<burn_cuda::Cuda>>("cuda");
}
