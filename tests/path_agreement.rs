//! One function, one derivative: every path a transform can take — forward lanes
//! with and without chunks, one nested backward, switched or naive — returns the
//! same value and derivative, inside a loss and outside, for models beyond `tanh`
//! MLPs (`BatchNorm` in both modes, `LayerNorm`, `Dropout`, GELU, softplus,
//! sigmoid, `Conv1d`, `prod`/`cummax`/`repeat_dim`). Each comparison also checks,
//! through `path_counts`, that the runs compared really took different paths.

mod common;

use burn::module::{AutodiffModule, Module};
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig, PaddingConfig1d,
};
use burn::tensor::{Tensor, TensorData, activation, backend::Backend};
use burn_nested::check::fd_gradient;
use burn_nested::{
    Forward, Mode, Pure, StatefulLayer, TensorFn, batched_jacobian, gradient, hvp, jacobian,
    laplacian,
    settings::{PathCounts, path_counts, reset_path_counts, with_row_check, with_switching},
    tensor_fn, value_and_gradient, value_and_jacobian, value_and_jvp,
};
use common::{Ad, F, assert_close, random_data, tensor, values};
use rand::{SeedableRng, rngs::StdRng};

/// Paths must agree to rounding.
const PATH_TOL: f64 = 1e-10;
/// Central differences (step 1e-5) are good to about 1e-10; a wrong derivative
/// misses by O(1).
const FD_TOL: f64 = 1e-6;
const FD_STEP: f64 = 1e-5;

/// Every test here takes this lock: the runs a test compares seed the backend's
/// global random stream (`Ad::seed`) before drawing `Dropout` masks and weights,
/// so a test drawing on another thread in between would make two runs of one
/// test see different masks.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const ROWS: usize = 4;
const IN: usize = 3;

/// The activation after the hidden layer; `Order` mixes `prod`, `cummax` and
/// `repeat_dim` into it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Tanh,
    Gelu,
    Softplus,
    Sigmoid,
    Order,
}

/// A small model whose optional parts make up the zoo.
#[derive(Module, Debug)]
struct Zoo<B: Backend> {
    first: Linear<B>,
    conv: Option<Conv1d<B>>,
    batch_norm: Option<BatchNorm<B>>,
    layer_norm: Option<LayerNorm<B>>,
    dropout: Option<Dropout>,
    last: Linear<B>,
    #[module(skip)]
    act: Act,
}

impl<B: Backend> Forward<B, 2, 2> for Zoo<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let mut h = self.first.forward(x);
        if let Some(conv) = &self.conv {
            let [rows, width] = h.dims();
            h = conv
                .forward(h.reshape([rows, 1, width]))
                .reshape([rows, 2 * width]);
        }
        if let Some(norm) = &self.batch_norm {
            h = norm.forward(h);
        }
        if let Some(norm) = &self.layer_norm {
            h = norm.forward(h);
        }
        if let Some(dropout) = &self.dropout {
            h = dropout.forward(h);
        }
        h = match self.act {
            Act::Tanh => h.tanh(),
            Act::Gelu => activation::gelu(h),
            Act::Softplus => activation::softplus(h, 1.0),
            Act::Sigmoid => activation::sigmoid(h),
            Act::Order => {
                let [rows, width] = h.dims();
                // Positive factors, so Burn's own `prod` (exp Σ log) is defined.
                let s = h.clone().tanh() * 0.5 + 1.0;
                let p = s.clone().prod_dim(1);
                let half = h.slice([0..rows, 0..width / 2]).repeat_dim(1, 2);
                s.cummax(1) * p + half
            }
        };
        self.last.forward(h)
    }
}

/// The zoo's members by name.
const ZOO: &[&str] = &[
    "batch_norm",
    "layer_norm_gelu",
    "dropout_softplus",
    "conv_sigmoid",
    "order",
];

fn zoo(name: &str) -> Zoo<Ad> {
    let device = Default::default();
    Ad::seed(&device, 42);
    let linear = |a, b| LinearConfig::new(a, b).init(&device);
    let (width, last_in) = if name == "conv_sigmoid" {
        (6, 12)
    } else {
        (4, 4)
    };
    let model = Zoo {
        first: linear(IN, width),
        conv: (name == "conv_sigmoid").then(|| {
            Conv1dConfig::new(1, 2, 3)
                .with_padding(PaddingConfig1d::Explicit(1, 1))
                .init(&device)
        }),
        batch_norm: (name == "batch_norm").then(|| BatchNormConfig::new(width).init(&device)),
        layer_norm: (name == "layer_norm_gelu").then(|| LayerNormConfig::new(width).init(&device)),
        dropout: (name == "dropout_softplus").then(|| DropoutConfig::new(0.3).init()),
        last: linear(last_in, 2),
        act: match name {
            "batch_norm" => Act::Tanh,
            "layer_norm_gelu" => Act::Gelu,
            "dropout_softplus" => Act::Softplus,
            "conv_sigmoid" => Act::Sigmoid,
            "order" => Act::Order,
            other => panic!("no zoo member {other}"),
        },
    };
    burn_nested::lift::initialize_params(&model);
    model
}

fn input() -> TensorData {
    random_data(&mut StdRng::seed_from_u64(5), &[ROWS, IN], -1.0, 1.0)
}

/// Every mode, with switching on and off.
fn modes() -> Vec<(Mode, bool)> {
    [
        Mode::FORWARD,
        Mode::forward_chunked(2),
        Mode::AutoReverse,
        Mode::Auto,
    ]
    .into_iter()
    .flat_map(|m| [(m, true), (m, false)])
    .collect()
}

/// One run of a transform: what it returned and which passes it took.
struct Run {
    label: String,
    counts: PathCounts,
    values: Vec<f64>,
}

fn run(label: String, switching: bool, f: impl FnOnce() -> Vec<f64>) -> Run {
    with_switching(switching, || {
        reset_path_counts();
        let values = f();
        Run {
            label,
            counts: path_counts(),
            values,
        }
    })
}

/// All runs agree with the first to [`PATH_TOL`]; at least one ran forward lanes
/// only and one ran a nested backward (unless `reverse_expected` is false, for a
/// function whose backward pass Burn gets wrong and burn-nested avoids).
fn assert_paths_agree(what: &str, runs: &[Run], reverse_expected: bool) {
    for r in &runs[1..] {
        assert_close(
            &format!("{what}: {} vs {}", r.label, runs[0].label),
            &r.values,
            &runs[0].values,
            PATH_TOL,
        );
    }
    let forward_only = runs
        .iter()
        .any(|r| r.counts.forward > 0 && r.counts.reverse == 0);
    let reverse = runs.iter().any(|r| r.counts.reverse > 0);
    assert!(forward_only, "{what}: no run took forward lanes only");
    assert_eq!(
        reverse, reverse_expected,
        "{what}: a nested backward ran: {reverse}, expected {reverse_expected}"
    );
}

/// Central differences of `f` (flattened output) at `x`: `[out, in]` row-major,
/// one `check::fd_gradient` per output entry.
fn fd_jacobian(f: impl Fn(&TensorData) -> Vec<f64>, x: &TensorData) -> Vec<f64> {
    let x = tensor::<F, 2>(x);
    let m = f(&x.to_data()).len();
    (0..m)
        .flat_map(|o| fd_gradient(|t: Tensor<F, 2>| f(&t.into_data())[o], &x, FD_STEP))
        .collect()
}

/// The per-row blocks `[rows, out, in]` of a full Jacobian `[rows·out, rows·in]`.
fn row_blocks(full: &[f64], out: usize, inp: usize) -> Vec<f64> {
    let cols = ROWS * inp;
    (0..ROWS)
        .flat_map(|b| {
            (0..out)
                .flat_map(move |o| (0..inp).map(move |i| full[(b * out + o) * cols + b * inp + i]))
        })
        .collect()
}

/// Whether central differences can check the model to [`FD_TOL`]: Burn 0.21's
/// `sigmoid` on ndarray is computed in f32 even for f64 tensors (the backend
/// trait's default casts), so differences of such a model carry f32 noise
/// (about 1e-3 at this step); its first derivatives are checked against plain
/// Burn's `Autodiff` instead.
fn fd_checkable(name: &str) -> bool {
    name != "conv_sigmoid"
}

/// The full Jacobian `[out, in]` of the model from plain Burn (`Autodiff<F>`),
/// one backward pass per output entry: the oracle where differences cannot serve.
fn autodiff_jacobian(model: &Zoo<Ad>, x: &TensorData) -> Vec<f64> {
    let m = ROWS * 2;
    (0..m)
        .flat_map(|o| {
            let xa = tensor::<Ad, 2>(x).require_grad();
            let y = model.forward(xa.clone()).reshape([m]);
            let grads = y
                .select(0, Tensor::from_ints([o as i32], &Default::default()))
                .sum()
                .backward();
            values(xa.grad(&grads).expect("input gradient"))
        })
        .collect()
}

/// Whether the model's rows couple in training mode (inside a loss).
fn couples_rows(name: &str) -> bool {
    name == "batch_norm"
}

/// Whether the model has an op whose Burn reverse rule is inexact, so every
/// transform keeps to forward lanes.
fn avoids_reverse(name: &str) -> bool {
    name == "order"
}

// ---------------------------------------------------------------- outside a loss

/// Outside a loss every path differentiates the inference-mode function, which
/// central differences of the model on the plain backend confirm.
#[test]
fn outside_a_loss_every_path_agrees_with_inference_mode_differences() {
    let _serial = serial();
    for &name in ZOO {
        let model = zoo(name).valid();
        let layer = StatefulLayer::new(model.clone());
        let x = input();
        let f = |x: &TensorData| values(model.forward(tensor::<F, 2>(x)));
        let fd = if fd_checkable(name) {
            fd_jacobian(f, &x)
        } else {
            autodiff_jacobian(&zoo(name), &x)
        };
        let value = f(&x);

        let runs: Vec<Run> = modes()
            .into_iter()
            .map(|(mode, sw)| {
                run(format!("jacobian {mode:?} switching {sw}"), sw, || {
                    let (y, j) = value_and_jacobian(&layer, tensor::<F, 2>(&x), mode);
                    assert_close(
                        &format!("{name}: value {mode:?}"),
                        &values(y),
                        &value,
                        PATH_TOL,
                    );
                    values(j)
                })
            })
            .collect();
        // Outside a loss a mode-switching function never takes a backward pass.
        let mode_free = name != "batch_norm" && name != "dropout_softplus";
        assert_paths_agree(
            &format!("{name} jacobian"),
            &runs,
            mode_free && !avoids_reverse(name),
        );
        assert_close(
            &format!("{name}: jacobian vs FD"),
            &runs[0].values,
            &fd,
            FD_TOL,
        );

        let runs: Vec<Run> = modes()
            .into_iter()
            .map(|(mode, sw)| {
                run(format!("batched {mode:?} switching {sw}"), sw, || {
                    values(batched_jacobian(&layer, tensor::<F, 2>(&x), mode))
                })
            })
            .collect();
        assert_paths_agree(
            &format!("{name} batched_jacobian"),
            &runs,
            mode_free && !avoids_reverse(name),
        );
        assert_close(
            &format!("{name}: batched vs FD"),
            &runs[0].values,
            &row_blocks(&fd, 2, IN),
            FD_TOL,
        );
    }
}

tensor_fn!(SumOfSquares, |y: 2| -> 1 { (y.clone() * y).sum() });
tensor_fn!(FirstColumn, |y: 2| -> 2 {
    let rows = y.dims()[0];
    y.slice([0..rows, 0..1])
});

/// Gradients of `Σ f(x)²`, forward lanes against one backward pass, outside a loss.
#[test]
fn outside_a_loss_gradients_agree() {
    let _serial = serial();
    for &name in ZOO {
        let model = zoo(name).valid();
        let layer = StatefulLayer::new(model.clone());
        let x = input();
        let f = |x: &TensorData| {
            let y = values(model.forward(tensor::<F, 2>(x)));
            vec![y.iter().map(|v| v * v).sum::<f64>()]
        };
        let fd = if fd_checkable(name) {
            fd_jacobian(f, &x)
        } else {
            // ∇Σy² = 2 Jᵀy.
            let j = autodiff_jacobian(&zoo(name), &x);
            let ys = values(model.forward(tensor::<F, 2>(&x)));
            (0..ROWS * IN)
                .map(|i| {
                    (0..ys.len())
                        .map(|o| 2.0 * ys[o] * j[o * ROWS * IN + i])
                        .sum()
                })
                .collect()
        };
        let runs: Vec<Run> = [
            Mode::FORWARD,
            Mode::forward_chunked(5),
            Mode::AutoReverse,
            Mode::Auto,
        ]
        .into_iter()
        .map(|mode| {
            run(format!("gradient {mode:?}"), true, || {
                values(gradient(
                    &layer.then(SumOfSquares),
                    tensor::<F, 2>(&x),
                    mode,
                ))
            })
        })
        .collect();
        let mode_free = name != "batch_norm" && name != "dropout_softplus";
        assert_paths_agree(
            &format!("{name} gradient"),
            &runs,
            mode_free && !avoids_reverse(name),
        );
        assert_close(
            &format!("{name}: gradient vs FD"),
            &runs[0].values,
            &fd,
            FD_TOL,
        );
    }
}

/// `hvp` and `laplacian` have no forward-only path: outside a loss they refuse a
/// function that switches on the train/eval mode or has an op Burn's reverse rule
/// gets wrong, and otherwise match central differences of the gradient.
#[test]
fn outside_a_loss_second_order_matches_differences_or_refuses() {
    let _serial = serial();
    for &name in ZOO {
        let model = zoo(name).valid();
        let layer = StatefulLayer::new(model.clone());
        let x = input();
        let v = random_data(&mut StdRng::seed_from_u64(8), &[ROWS, IN], -1.0, 1.0);
        let refused = name == "batch_norm" || name == "dropout_softplus" || avoids_reverse(name);
        let hv = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            values(hvp(
                &layer.then(SumOfSquares),
                tensor::<F, 2>(&x),
                tensor::<F, 2>(&v),
            ))
        }));
        let lap = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            values(laplacian(
                &layer.then(FirstColumn),
                tensor::<F, 2>(&x),
                Mode::AutoReverse,
            ))
        }));
        assert_eq!(hv.is_err(), refused, "{name}: hvp refused");
        assert_eq!(lap.is_err(), refused, "{name}: laplacian refused");
        if refused || !fd_checkable(name) {
            continue;
        }
        // ∇²f·v = d/dh ∇f(x + h v), by central differences of the exact gradient.
        let grad_at = |h: f64| {
            let xs: Vec<f64> = x.clone().to_vec::<f64>().unwrap();
            let vs: Vec<f64> = v.clone().to_vec::<f64>().unwrap();
            let shifted: Vec<f64> = xs.iter().zip(&vs).map(|(a, b)| a + h * b).collect();
            let xt = tensor::<F, 2>(&TensorData::new(shifted, [ROWS, IN]));
            values(gradient(&layer.then(SumOfSquares), xt, Mode::FORWARD))
        };
        let (plus, minus) = (grad_at(FD_STEP), grad_at(-FD_STEP));
        let fd: Vec<f64> = plus
            .iter()
            .zip(&minus)
            .map(|(p, m)| (p - m) / (2.0 * FD_STEP))
            .collect();
        assert_close(&format!("{name}: hvp vs FD"), &hv.unwrap(), &fd, FD_TOL);

        // Δu per row from the diagonal of the forward-mode per-row Jacobian of ∇u.
        let u = |x: &TensorData| values(layer.then(FirstColumn).forward_first(x));
        let lap_fd: Vec<f64> = (0..ROWS)
            .map(|b| {
                (0..IN)
                    .map(|i| {
                        let at = |h: f64| {
                            let mut xs: Vec<f64> = x.clone().to_vec::<f64>().unwrap();
                            xs[b * IN + i] += h;
                            u(&TensorData::new(xs, [ROWS, IN]))[b]
                        };
                        let h = 1e-4;
                        (at(h) - 2.0 * at(0.0) + at(-h)) / (h * h)
                    })
                    .sum()
            })
            .collect();
        // Second differences with h = 1e-4 are good to about 1e-7 here.
        assert_close(
            &format!("{name}: laplacian vs FD"),
            &lap.unwrap(),
            &lap_fd,
            1e-5,
        );
    }
}

/// Evaluation of `layer.then(FirstColumn)` on the plain backend, for the finite
/// differences above.
trait ForwardFirst {
    fn forward_first(&self, x: &TensorData) -> Tensor<F, 2>;
}

impl<L: burn_nested::NestedFn<F, 2, 2>> ForwardFirst for L {
    fn forward_first(&self, x: &TensorData) -> Tensor<F, 2> {
        self.eval(tensor::<F, 2>(x))
    }
}

// ------------------------------------------------------------------ inside a loss

/// Inside a loss every path differentiates the training-mode function: the
/// Jacobian and the gradient of a loss built on it (w.r.t. the input and every
/// parameter) agree across paths; for functions without randomness they match
/// central differences of the training-mode model.
#[test]
fn inside_a_loss_every_path_agrees() {
    let _serial = serial();
    for &name in ZOO {
        let model = zoo(name);
        let x = input();
        let weights = random_data(
            &mut StdRng::seed_from_u64(6),
            &[ROWS * 2, ROWS * IN],
            -1.0,
            1.0,
        );
        let step = |mode: Mode| {
            // One Dropout mask per call, the same in every call compared.
            Ad::seed(&Default::default(), 7);
            let xa = tensor::<Ad, 2>(&x).require_grad();
            let layer = StatefulLayer::from_ref(&model);
            let j = jacobian(&layer, xa.clone(), mode);
            let loss = (j.clone() * tensor::<Ad, 2>(&weights)).sum();
            let grads = loss.backward();
            let mut out = values(j);
            out.extend(values(xa.grad(&grads).expect("input gradient")));
            // A loss of the Jacobian alone never reaches the last layer's bias.
            out.extend(common::param_gradients_counted(&model, &grads));
            out
        };
        let runs: Vec<Run> = modes()
            .into_iter()
            .map(|(mode, sw)| run(format!("{mode:?} switching {sw}"), sw, || step(mode)))
            .collect();
        assert_paths_agree(
            &format!("{name} jacobian in a loss"),
            &runs,
            !avoids_reverse(name),
        );
        if name != "dropout_softplus" {
            let f = |x: &TensorData| values(model.forward(tensor::<Ad, 2>(x)));
            let fd = if fd_checkable(name) {
                fd_jacobian(f, &x)
            } else {
                autodiff_jacobian(&model, &x)
            };
            let n = fd.len();
            assert_close(
                &format!("{name}: jacobian in a loss vs FD"),
                &runs[0].values[..n],
                &fd,
                FD_TOL,
            );
        }
    }
}

/// The per-row Laplacian inside a loss: the forward Laplacian (one second-order
/// forward pass) and forward over reverse (one nested backward) give the same
/// Laplacian and the same input and parameter gradients of the loss, with one
/// Dropout mask per call on every path. `order` has `prod`, whose Burn reverse
/// rule is inexact, so every mode takes the forward Laplacian there; `batch_norm`
/// couples rows and is refused.
#[test]
fn inside_a_loss_laplacian_paths_agree() {
    let _serial = serial();
    for &name in ZOO {
        let model = zoo(name);
        let x = input();
        let step = |mode: Mode| {
            Ad::seed(&Default::default(), 7);
            let xa = tensor::<Ad, 2>(&x).require_grad();
            let layer = StatefulLayer::from_ref(&model);
            let lap = laplacian(&layer.then(FirstColumn), xa.clone(), mode);
            let loss = (lap.clone() * lap.clone()).sum();
            let grads = loss.backward();
            let mut out = values(lap);
            out.extend(values(xa.grad(&grads).expect("input gradient")));
            out.extend(common::param_gradients_counted(&model, &grads));
            out
        };
        let runs: Vec<std::thread::Result<Run>> = [
            (Mode::FORWARD, true),
            (Mode::forward_chunked(2), true),
            (Mode::AutoReverse, false),
            (Mode::Auto, true),
        ]
        .into_iter()
        .map(|(mode, sw)| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(format!("{mode:?} switching {sw}"), sw, || step(mode))
            }))
        })
        .collect();
        if couples_rows(name) {
            assert!(
                runs.iter().all(|r| r.is_err()),
                "{name}: laplacian in a loss was not refused"
            );
            continue;
        }
        let runs: Vec<Run> = runs.into_iter().map(|r| r.expect("path ran")).collect();
        // `order`'s reverse rules are inexact in Burn: every mode takes the
        // forward Laplacian.
        assert_paths_agree(
            &format!("{name} laplacian in a loss"),
            &runs,
            !avoids_reverse(name),
        );
    }
}

/// Per-row Jacobians inside a loss: paths agree where rows are independent, and
/// a training-mode `BatchNorm` (rows coupled) is refused on every path.
#[test]
fn inside_a_loss_batched_jacobian_agrees_or_refuses_coupled_rows() {
    let _serial = serial();
    for &name in ZOO {
        let model = zoo(name);
        let x = input();
        let step = |mode: Mode| {
            Ad::seed(&Default::default(), 7);
            let xa = tensor::<Ad, 2>(&x).require_grad();
            let layer = StatefulLayer::from_ref(&model);
            let j = batched_jacobian(&layer, xa.clone(), mode);
            let grads = (j.clone() * j.clone()).sum().backward();
            let mut out = values(j);
            out.extend(values(xa.grad(&grads).expect("input gradient")));
            // A loss of the Jacobian alone never reaches the last layer's bias.
            out.extend(common::param_gradients_counted(&model, &grads));
            out
        };
        if couples_rows(name) {
            for (mode, sw) in modes() {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    with_switching(sw, || step(mode))
                }));
                let message = result.expect_err("coupled rows must be refused");
                let text = message
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default();
                assert!(text.contains("not independent"), "{name} {mode:?}: {text}");
            }
            continue;
        }
        let runs: Vec<Run> = modes()
            .into_iter()
            .map(|(mode, sw)| run(format!("{mode:?} switching {sw}"), sw, || step(mode)))
            .collect();
        assert_paths_agree(
            &format!("{name} batched_jacobian in a loss"),
            &runs,
            !avoids_reverse(name),
        );
    }
}

// ------------------------------------------------- the cases that used to disagree

/// A lone `BatchNorm` over one feature.
#[derive(Module, Debug)]
struct Norm<B: Backend> {
    norm: BatchNorm<B>,
}

impl<B: Backend> Forward<B, 2, 2> for Norm<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.norm.forward(x)
    }
}

fn column(values: Vec<f64>) -> TensorData {
    let n = values.len();
    TensorData::new(values, [n, 1])
}

fn diagonal(j: &[f64], n: usize) -> Vec<f64> {
    (0..n).map(|i| j[i * n + i]).collect()
}

/// Outside a loss a fresh `BatchNorm` is the inference map `x/√(1 + ε)` on every
/// path, value included (the reverse path used to give the training-mode 0.229).
#[test]
fn batch_norm_outside_a_loss_is_inference_mode_on_every_path() {
    let _serial = serial();
    let model = Norm::<F> {
        norm: BatchNormConfig::new(1).init(&Default::default()),
    };
    let layer = StatefulLayer::new(model);
    let x = column(vec![0.0, 1.0, 3.0]);
    let slope = 1.0 / (1.0 + 1e-5f64).sqrt();
    for mode in [Mode::FORWARD, Mode::AutoReverse, Mode::Auto] {
        let (y, j) = value_and_jacobian(&layer, tensor::<F, 2>(&x), mode);
        assert_close(
            &format!("{mode:?} diagonal"),
            &diagonal(&values(j), 3),
            &[slope; 3],
            1e-12,
        );
        assert_close(
            &format!("{mode:?} value"),
            &values(y),
            &[0.0, slope, 3.0 * slope],
            1e-12,
        );
        let g = values(gradient(
            &layer.then(SumOfSquares),
            tensor::<F, 2>(&x),
            mode,
        ));
        let expected: Vec<f64> = [0.0, 1.0, 3.0]
            .iter()
            .map(|v| 2.0 * v * slope * slope)
            .collect();
        assert_close(&format!("{mode:?} gradient"), &g, &expected, 1e-12);
    }
}

/// Inside a loss the same `BatchNorm` is the training-mode map, whose true
/// per-row derivatives at (0, 1, 3) are about 0.229, 0.515, 0.057: the full
/// Jacobian gives them on every path; the per-row transforms refuse the coupled
/// rows instead of returning 0, and do not refuse with the check off.
#[test]
fn batch_norm_inside_a_loss_is_training_mode_and_coupled_rows_are_refused() {
    let _serial = serial();
    let model = Norm::<Ad> {
        norm: BatchNormConfig::new(1).init(&Default::default()),
    };
    let x = column(vec![0.0, 1.0, 3.0]);
    // y = (x − μ)/√(σ² + ε) with the batch's μ and biased σ²: ∂yᵢ/∂xᵢ = (1 − 1/n − zᵢ²/n)/s.
    let (mu, n) = (4.0 / 3.0, 3.0);
    let var = [0.0f64, 1.0, 3.0]
        .iter()
        .map(|v| (v - mu).powi(2))
        .sum::<f64>()
        / n;
    let s = (var + 1e-5).sqrt();
    let expected: Vec<f64> = [0.0f64, 1.0, 3.0]
        .iter()
        .map(|v| (1.0 - 1.0 / n - ((v - mu) / s).powi(2) / n) / s)
        .collect();
    assert_close("closed form", &expected, &[0.229, 0.515, 0.057], 2e-3);
    for (mode, sw) in modes() {
        let layer = StatefulLayer::from_ref(&model);
        let j = with_switching(sw, || {
            jacobian(&layer, tensor::<Ad, 2>(&x).require_grad(), mode)
        });
        assert_close(
            &format!("{mode:?} {sw}"),
            &diagonal(&values(j), 3),
            &expected,
            1e-10,
        );
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_switching(sw, || {
                batched_jacobian(&layer, tensor::<Ad, 2>(&x).require_grad(), mode)
            })
        }));
        assert!(
            refused.is_err(),
            "{mode:?} {sw}: coupled rows were not refused"
        );
        let unchecked = with_row_check(false, || {
            with_switching(sw, || {
                batched_jacobian(&layer, tensor::<Ad, 2>(&x).require_grad(), mode)
            })
        });
        assert_eq!(
            unchecked.dims(),
            [3, 1, 1],
            "the opt-out returns the per-row blocks"
        );
    }
    let deep = zoo("batch_norm");
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        laplacian(
            &StatefulLayer::from_ref(&deep).then(FirstColumn),
            tensor::<Ad, 2>(&input()).require_grad(),
            Mode::Auto,
        )
    }));
    assert!(
        refused.is_err(),
        "laplacian through a training-mode BatchNorm was not refused"
    );
}

/// A lone `Dropout`.
#[derive(Module, Debug)]
struct DropoutOnly<B: Backend> {
    dropout: Dropout,
    backend: core::marker::PhantomData<B>,
}

impl<B: Backend> Forward<B, 2, 2> for DropoutOnly<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.dropout.forward(x)
    }
}

/// One mask per transform call: for `y = dropout(x)`, `∂yᵢ/∂xᵢ = yᵢ/xᵢ` must hold
/// between the value and the Jacobian whatever the passes (probe, chunks,
/// backward); a mask drawn per pass breaks it.
#[test]
fn dropout_draws_one_mask_per_call() {
    let _serial = serial();
    let layer = StatefulLayer::new(DropoutOnly::<Ad> {
        dropout: DropoutConfig::new(0.5).init(),
        backend: core::marker::PhantomData,
    });
    let x = random_data(&mut StdRng::seed_from_u64(3), &[8, 6], 0.5, 1.5);
    let xs = x.clone().to_vec::<f64>().unwrap();
    for (mode, sw) in modes() {
        let (y, j) = with_switching(sw, || {
            value_and_jacobian(&layer, tensor::<Ad, 2>(&x).require_grad(), mode)
        });
        let y = values(y);
        let ratio: Vec<f64> = y.iter().zip(&xs).map(|(y, x)| y / x).collect();
        assert!(ratio.contains(&0.0) && ratio.iter().any(|r| *r > 1.0));
        assert_close(
            &format!("{mode:?} {sw}"),
            &diagonal(&values(j), 48),
            &ratio,
            1e-12,
        );
    }
}

tensor_fn!(Gelu, |x: 2| -> 2 { activation::gelu(x) });
tensor_fn!(SumOfErf, |x: 2| -> 1 { x.erf().sum() });
tensor_fn!(SumOfGelu, |x: 2| -> 1 { activation::gelu(x).sum() });

/// GELU's reverse rule is exact (Burn's default is the tanh approximation's
/// derivative: 1.086099 at x = 2 against the exact 1.085232), and second derivatives of
/// `erf` inside a loss are f64-accurate (Burn differentiates a division by a
/// scalar with an f32 reciprocal).
#[test]
fn gelu_and_erf_are_exact_on_every_path() {
    let _serial = serial();
    let x = column(vec![2.0, -0.7, 0.3]);
    let xs = [2.0f64, -0.7, 0.3];
    let pdf = |v: f64| (-v * v / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let cdf = |v: f64| 0.5 * (1.0 + erf(v / std::f64::consts::SQRT_2));
    let first: Vec<f64> = xs.iter().map(|&v| cdf(v) + v * pdf(v)).collect();
    assert!((first[0] - 1.085232).abs() < 1e-6, "{first:?}");
    for mode in [Mode::FORWARD, Mode::AutoReverse] {
        let g = values(gradient(&Pure(SumOfGelu), tensor::<F, 2>(&x), mode));
        assert_close(&format!("gelu' {mode:?}"), &g, &first, 1e-14);
    }
    // gelu''(x) = φ(x)(2 − x²), forward over reverse.
    let ones = column(vec![1.0; 3]);
    let second: Vec<f64> = xs.iter().map(|&v| pdf(v) * (2.0 - v * v)).collect();
    let h = values(hvp(
        &Pure(SumOfGelu),
        tensor::<F, 2>(&x),
        tensor::<F, 2>(&ones),
    ));
    assert_close("gelu'' by hvp", &h, &second, 1e-14);
    let _ = Gelu;

    // erf''(x) = −2x · 2/√π · e^{−x²}: the outer gradient of a nested reverse gradient.
    let erf2: Vec<f64> = xs
        .iter()
        .map(|&v| -2.0 * v * 2.0 / std::f64::consts::PI.sqrt() * (-v * v).exp())
        .collect();
    for (mode, sw) in [(Mode::AutoReverse, false), (Mode::FORWARD, true)] {
        let xa = tensor::<Ad, 2>(&x).require_grad();
        let g = with_switching(sw, || gradient(&Pure(SumOfErf), xa.clone(), mode));
        let grads = g.sum().backward();
        let got = values(xa.grad(&grads).unwrap());
        for (k, (a, b)) in got.iter().zip(&erf2).enumerate() {
            assert!(
                (a - b).abs() <= 1e-14 * b.abs(),
                "erf'' {mode:?} [{k}]: {a} vs {b}"
            );
        }
    }
}

/// `erf` to f64 accuracy (Abramowitz–Stegun 7.1.26 is not enough): a series.
fn erf(x: f64) -> f64 {
    // erf x = 2/√π Σ (−1)ⁿ x^{2n+1} / (n! (2n+1)), converging fast for |x| ≤ 3.
    let mut term = x;
    let mut sum = x;
    for n in 1..80 {
        term *= -x * x / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    2.0 / std::f64::consts::PI.sqrt() * sum
}

/// A leading NaN in `cummax`/`cummin` propagates and never panics (the gather
/// index used to be −1); the tangent follows the NaN's own.
#[test]
fn running_extremes_carry_nan() {
    let _serial = serial();
    let x = TensorData::new(vec![f64::NAN, 1.0, 2.0, 0.5], [1, 4]);
    let u = TensorData::new(vec![10.0, 20.0, 30.0, 40.0], [1, 1, 4]);
    for max in [true, false] {
        let xd = burn_nested::lift::seed(tensor::<F, 2>(&x), tensor::<F, 3>(&u));
        let y = if max { xd.cummax(1) } else { xd.cummin(1) };
        let (p, t) = burn_nested::lift::split::<F, 2, 3>(y);
        let p = values(p);
        let t = values(t.expect("a tangent"));
        assert!(p[0].is_nan(), "{p:?}");
        assert_eq!(t[0], 10.0, "max {max}: {t:?}");
        for (pv, tv) in p.iter().zip(&t) {
            assert!(
                pv.is_nan() || [10.0, 20.0, 30.0, 40.0].contains(tv),
                "{p:?} {t:?}"
            );
        }
    }
}

tensor_fn!(RowSquares, |x: 2| -> 2 { (x.clone() * x).sum_dim(1) });

/// Lanes stay within the lane budget when burn-nested picks them: a per-row
/// Jacobian of 2048 features over 16 rows (33 M tangent entries in one pass)
/// runs in several forward passes inside a loss, and gives ∂Σx²/∂x = 2x.
#[test]
fn lanes_are_chunked_within_the_budget() {
    let _serial = serial();
    let (rows, k) = (16, 2048);
    let x = random_data(&mut StdRng::seed_from_u64(4), &[rows, k], -1.0, 1.0);
    let xa = tensor::<Ad, 2>(&x).require_grad();
    reset_path_counts();
    let j = batched_jacobian(&Pure(RowSquares), xa, Mode::Auto);
    let counts = path_counts();
    let per_pass = burn_nested::settings::policy::LANE_BUDGET / (rows * k);
    assert_eq!(counts.forward, k.div_ceil(per_pass), "{counts:?}");
    let expected: Vec<f64> = x.to_vec::<f64>().unwrap().iter().map(|v| 2.0 * v).collect();
    assert_close("2x", &values(j), &expected, 1e-14);
}

tensor_fn!(Product, |x: 2| -> 1 { x.prod() });
tensor_fn!(RunningProduct, |x: 2| -> 2 { x.cumprod(1) });

/// Where Burn's own reverse rule is NaN — a product through `exp Σ log x` with a
/// negative entry, `cumprod` at a zero — burn-nested's forward rules are exact,
/// and so is the outer gradient of a derivative taken inside a loss.
#[test]
fn products_are_exact_at_negative_and_zero_entries() {
    let _serial = serial();
    let x = TensorData::new(vec![-1.0f64, 2.0, -3.0], [1, 3]);
    let xa = tensor::<Ad, 2>(&x).require_grad();
    // ∂/∂xᵢ Π x = Π_{j≠i} xⱼ = (−6, 3, −2); the outer gradient of their sum is
    // Σ_{i≠k} Π_{j≠i,k} xⱼ = (−1, −4, 1).
    let (value, g) = value_and_gradient(&Pure(Product), xa.clone(), Mode::FORWARD);
    assert_eq!(values(value.clone()), vec![6.0]);
    assert_eq!(values(g.clone()), vec![-6.0, 3.0, -2.0]);
    // ∂/∂x of (Π x + Σ ∂Π/∂xᵢ) = (−6, 3, −2) + (−1, −4, 1).
    let grads = (value + g.sum()).backward();
    assert_eq!(values(xa.grad(&grads).unwrap()), vec![-7.0, -1.0, -1.0]);
    // Every mode. A gradient inside a loss that takes a backward pass (switching
    // off, or many inputs) runs the function on `Autodiff` without a probe first,
    // so it meets Burn's own `prod` (`exp Σ log x`) and returns its NaN: never a
    // silently different number. Every other path is exact.
    let (mut exact, mut burns_nan) = (0, 0);
    for (mode, sw) in modes() {
        let xa = tensor::<Ad, 2>(&x).require_grad();
        reset_path_counts();
        let g = values(with_switching(sw, || gradient(&Pure(Product), xa, mode)));
        if path_counts().reverse > 0 {
            assert!(g.iter().all(|v| v.is_nan()), "{mode:?} {sw}: {g:?}");
            burns_nan += 1;
        } else {
            assert_eq!(g, vec![-6.0, 3.0, -2.0], "{mode:?} {sw}");
            exact += 1;
        }
    }
    assert!(exact > 0 && burns_nan > 0, "{exact} exact, {burns_nan} NaN");
    // Outside a loss the probe sees `prod` and keeps to forward lanes.
    for mode in [Mode::AutoReverse, Mode::Auto] {
        let g = gradient(&Pure(Product), tensor::<F, 2>(&x), mode);
        assert_eq!(values(g), vec![-6.0, 3.0, -2.0], "{mode:?} outside");
    }

    // cumprod at a zero: J[i][k] = Π_{j≤i, j≠k} xⱼ for k ≤ i.
    let x = TensorData::new(vec![2.0f64, 0.0, 3.0], [1, 3]);
    let xa = tensor::<Ad, 2>(&x).require_grad();
    let j = jacobian(&Pure(RunningProduct), xa.clone(), Mode::FORWARD);
    assert_eq!(
        values(j.clone()),
        vec![1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 6.0, 0.0]
    );
    // Σ J = 1 + 2 + x₀x₂ + ... : ∂/∂x of (1 + x₀ + x₀x₂ + x₀x₁ ... ) evaluated exactly.
    let grads = j.sum().backward();
    let got = values(xa.grad(&grads).unwrap());
    // Σ_{i,k} J[i][k] = 1 + (x₁ + x₀) + (x₁x₂ + x₀x₂ + x₀x₁).
    let expected = vec![1.0 + 3.0 + 0.0, 1.0 + 3.0 + 2.0, 0.0 + 2.0];
    assert!(got.iter().all(|v| v.is_finite()), "{got:?}");
    assert_eq!(got, expected);
}

tensor_fn!(ProductAndSlope, |x: 2| -> 1 {
    // Π x + Σᵢ ∂(Π x)/∂xᵢ: a transform inside the function.
    let (value, slope) = value_and_jvp(&Pure(Product), x.clone(), x.ones_like());
    value + slope
});

/// A transform inside the differentiated function, on a function with an op
/// whose Burn reverse rule is NaN here (`prod` at negative entries): the outer
/// derivative is exact on every path, inside a loss and outside one. The inner
/// `jvp`'s passes report `prod` to the enclosing pass, and its rules compute
/// through exact ops on whatever backend the outer pass runs.
#[test]
fn a_transform_inside_the_function_keeps_products_exact() {
    let _serial = serial();
    let x = TensorData::new(vec![-1.0f64, 2.0, -3.0], [1, 3]);
    // ∂/∂x of Π x + Σᵢ Π_{j≠i} xⱼ: (−6, 3, −2) + (−1, −4, 1).
    let expected = vec![-7.0, -1.0, -1.0];
    for mode in [Mode::AutoReverse, Mode::Auto] {
        let g = gradient(&Pure(ProductAndSlope), tensor::<F, 2>(&x), mode);
        assert_eq!(values(g), expected, "{mode:?} outside a loss");
    }
    let (mut forward, mut reverse) = (0, 0);
    for (mode, sw) in modes() {
        let xa = tensor::<Ad, 2>(&x).require_grad();
        reset_path_counts();
        let g = values(with_switching(sw, || {
            gradient(&Pure(ProductAndSlope), xa, mode)
        }));
        assert_eq!(g, expected, "{mode:?} {sw} inside a loss");
        match path_counts().reverse {
            0 => forward += 1,
            _ => reverse += 1,
        }
    }
    // Both kinds of outer path were compared.
    assert!(
        forward > 0 && reverse > 0,
        "{forward} forward, {reverse} reverse"
    );
}

tensor_fn!(HardSigmoid, |x: 2| -> 2 { activation::hard_sigmoid(x, 0.2, 0.5) });

/// `hard_sigmoid` at its breakpoints (`0.2 x + 0.5` = 0 or 1, x = ∓2.5) passes
/// the slope, as Burn's reverse rule does, so forward lanes and plain Burn agree
/// there; beyond them the slope is 0.
#[test]
fn hard_sigmoid_breakpoints_follow_burns_convention() {
    let _serial = serial();
    let x = TensorData::new(vec![-2.5f64, 2.5, -3.0, 3.0, 0.0], [1, 5]);
    let forward = values(jacobian(
        &Pure(HardSigmoid),
        tensor::<F, 2>(&x),
        Mode::FORWARD,
    ));
    let xa = tensor::<Ad, 2>(&x).require_grad();
    let grads = HardSigmoid.apply(xa.clone()).sum().backward();
    let burn = values(xa.grad(&grads).unwrap());
    let slopes = diagonal(&forward, 5);
    assert_close("forward slopes", &slopes, &[0.2, 0.2, 0.0, 0.0, 0.2], 1e-7);
    assert_close("Burn's reverse slopes", &burn, &slopes, 1e-7);
}

tensor_fn!(RowwiseRows, |x: 2| -> 2 { x.clone().tanh() * x });

// The same function through a flattening reshape: the audit cannot follow the
// rows through dim 0 = batch·features, so a numerical check runs.
tensor_fn!(FlattenedRows, |x: 2| -> 2 {
    let dims = x.dims();
    let flat = x.reshape([dims[0] * dims[1]]);
    (flat.clone().tanh() * flat).reshape(dims)
});

/// The row guard runs on every call, with no schedule: a function whose ops keep
/// rows is proved on each call with no numerical check, one the audit cannot
/// follow is checked numerically on each call, coupled rows are refused on each
/// call, and with the guard off nothing runs.
#[test]
fn the_row_guard_runs_on_every_call() {
    let _serial = serial();
    let x = tensor::<F, 2>(&random_data(
        &mut StdRng::seed_from_u64(2),
        &[3, 2],
        -1.0,
        1.0,
    ));
    let guarded = |f: &dyn Fn() -> Tensor<F, 3>, calls: usize| {
        reset_path_counts();
        let mut out = Vec::new();
        for _ in 0..calls {
            out.push(values(f()));
        }
        let counts = path_counts();
        (counts.rows_proved, counts.row_checks, out)
    };
    let rowwise = || batched_jacobian(&Pure(RowwiseRows), x.clone(), Mode::FORWARD);
    let flattened = || batched_jacobian(&Pure(FlattenedRows), x.clone(), Mode::FORWARD);
    let (proved, checks, a) = guarded(&rowwise, 5);
    assert_eq!((proved, checks), (5, 0), "proved on every call");
    let (proved, checks, b) = guarded(&flattened, 5);
    assert_eq!((proved, checks), (0, 5), "checked on every call");
    assert_eq!(a.len(), 5);
    for (a, b) in a.iter().zip(&b) {
        assert_close("the audited and the checked call", a, b, PATH_TOL);
    }
    // Coupled rows are refused on every call: a refusal is not remembered, nor
    // forgotten.
    let model = zoo("batch_norm");
    for _ in 0..2 {
        let layer = StatefulLayer::from_ref(&model);
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            batched_jacobian(
                &layer,
                tensor::<Ad, 2>(&input()).require_grad(),
                Mode::FORWARD,
            )
        }));
        assert!(refused.is_err());
    }
    let (proved, checks, _) = with_row_check(false, || guarded(&flattened, 3));
    assert_eq!((proved, checks), (0, 0), "guard off");
}
