//! The reference scenarios (docs/scenarios.md) as benchmark cases: each scenario's model and
//! data at seed or bench size, its training step on each path (switched, naive,
//! plain Burn), and the paired timing that alternates the paths. Shared by
//! `benches/scenarios.rs` and the inner-backend bench in `benches/backends/`
//! (included with `#[path]`; each including crate also declares `mod native` and
//! `mod scenarios`, the shared `scenarios/mod.rs`).

use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Tensor, TensorData};
use burn_autodiff::Autodiff;
use burn_nested::{
    Mode,
    settings::{TUNE_SAMPLES, TUNE_WARMUP, clear_tuning, tuning_decisions, with_switching},
};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::native::{self, NativeMlp};
use crate::scenarios::{self, Hutchinson, Mlp, sizes};

/// Seed size or bench size (docs/scenarios.md).
#[derive(Clone, Copy)]
pub enum Size {
    Seed,
    Bench,
}

impl Size {
    pub fn name(self) -> &'static str {
        match self {
            Size::Seed => "seed",
            Size::Bench => "bench",
        }
    }
}

/// The paths of a nested derivative: burn-nested with switching on and off, and
/// plain Burn.
#[derive(Clone, Copy, PartialEq)]
pub enum PathKind {
    Switched,
    Naive,
    Native,
}

impl PathKind {
    pub const ALL: [PathKind; 3] = [PathKind::Switched, PathKind::Naive, PathKind::Native];

    pub fn name(self) -> &'static str {
        match self {
            PathKind::Switched => "switched",
            PathKind::Naive => "naive",
            PathKind::Native => "native",
        }
    }

    /// Whether this path can run `scenario`.
    pub fn covers(self, scenario: &str) -> bool {
        self != PathKind::Native || native::SCENARIOS.contains(&scenario)
    }
}

/// The scenarios (the PINN gradient in both forms, Hutchinson three ways).
pub const SCENARIOS: &[&str] = &[
    "jacobian_regularization",
    "batched_jacobian",
    "pinn_gradient",
    "pinn_gradient_rowwise",
    "parameter_jacobian",
    "hutchinson_vjp",
    "hutchinson_jvp",
    "hutchinson_full_jacobian",
];

/// Whether `scenario` runs at `size`: the full Jacobian of the Hutchinson model at
/// bench size is `[16384, 16384]` (1 GiB in f32, and 16384 lanes through
/// 256-wide layers), so that variant runs at seed size only.
pub fn runs(scenario: &str, size: Size) -> bool {
    !(scenario == "hutchinson_full_jacobian" && matches!(size, Size::Bench))
}

/// Model widths, whether it has a `BatchNorm`, and the input shape.
pub fn shapes(scenario: &str, size: Size) -> (Vec<usize>, bool, [usize; 2]) {
    let bench = matches!(size, Size::Bench);
    match scenario {
        "jacobian_regularization" if bench => (vec![8, 64, 8], true, [32, 8]),
        "jacobian_regularization" => (sizes::JACOBIAN_REGULARIZATION.to_vec(), true, [10, 2]),
        "batched_jacobian" if bench => (vec![16, 256, 16], false, [512, 16]),
        "batched_jacobian" => (sizes::BATCHED_JACOBIAN.to_vec(), false, [10, 2]),
        "pinn_gradient" | "pinn_gradient_rowwise" if bench => {
            (vec![1, 64, 64, 64, 1], false, [4096, 1])
        }
        "pinn_gradient" | "pinn_gradient_rowwise" => (sizes::PINN.to_vec(), false, [16, 1]),
        "parameter_jacobian" if bench => (vec![1, 32, 32, 32, 1], false, [64, 1]),
        "parameter_jacobian" => (sizes::PINN.to_vec(), false, [16, 1]),
        _ if bench => (vec![64, 256, 256, 256, 64], false, [256, 64]),
        _ => (sizes::HUTCHINSON.to_vec(), false, [12, 4]),
    }
}

pub fn uniform<B: Backend>(
    shape: [usize; 2],
    lo: f32,
    hi: f32,
    seed: u64,
    device: &B::Device,
) -> Tensor<B, 2> {
    let mut rng = StdRng::seed_from_u64(seed);
    let v: Vec<f32> = (0..shape[0] * shape[1])
        .map(|_| rng.random_range(lo..hi))
        .collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

pub fn rademacher<B: Backend>(shape: [usize; 2], seed: u64, device: &B::Device) -> Tensor<B, 2> {
    let mut rng = StdRng::seed_from_u64(seed);
    let v: Vec<f32> = (0..shape[0] * shape[1])
        .map(|_| if rng.random_bool(0.5) { 1.0 } else { -1.0 })
        .collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// A scenario's model and data, and its loss as a function of a fresh input leaf.
pub struct Case<B: Backend> {
    pub model: Mlp<Autodiff<B>>,
    pub x: Tensor<Autodiff<B>, 2>,
    /// Targets `y` (regressions) or the probe `v` (Hutchinson).
    pub aux: Option<Tensor<Autodiff<B>, 2>>,
    pub scenario: &'static str,
    /// The same parameters for the plain-Burn path.
    pub native: NativeMlp<B>,
}

impl<B: Backend> Case<B> {
    pub fn new(
        scenario: &'static str,
        size: Size,
        batch: Option<usize>,
        device: &B::Device,
    ) -> Self {
        let (widths, batch_norm, mut shape) = shapes(scenario, size);
        if let Some(b) = batch {
            shape[0] = b;
        }
        Autodiff::<B>::seed(device, 0);
        let model = Mlp::new(&widths, batch_norm, device);
        let (x, aux) = match scenario {
            "jacobian_regularization" | "batched_jacobian" => (
                uniform(shape, -1.0, 1.0, 1, device),
                Some(uniform(
                    [shape[0], *widths.last().unwrap()],
                    -1.0,
                    1.0,
                    2,
                    device,
                )),
            ),
            "pinn_gradient" | "pinn_gradient_rowwise" | "parameter_jacobian" => {
                (uniform(shape, 0.0, 1.0, 1, device), None)
            }
            _ => (
                uniform(shape, 0.0, 1.0, 1, device),
                Some(rademacher(shape, 2, device)),
            ),
        };
        Self {
            native: NativeMlp::new(&model),
            model,
            x,
            aux,
            scenario,
        }
    }

    /// The loss at a fresh leaf `x` (the path's mode passed in).
    pub fn loss(&self, x: Tensor<Autodiff<B>, 2>, mode: Mode) -> Tensor<Autodiff<B>, 1> {
        let m = &self.model;
        let aux = || self.aux.clone().expect("targets or probe");
        match self.scenario {
            "jacobian_regularization" => scenarios::jacobian_regularization(m, x, aux(), mode),
            "batched_jacobian" => scenarios::batched_jacobian_loss(m, x, aux(), mode),
            "pinn_gradient" => scenarios::pinn_gradient(m, x, mode),
            "pinn_gradient_rowwise" => scenarios::pinn_gradient_rowwise(m, x, mode),
            "parameter_jacobian" => scenarios::parameter_jacobian(m, x, mode),
            "hutchinson_vjp" => scenarios::hutchinson_trace(m, x, aux(), Hutchinson::Vjp, mode),
            "hutchinson_jvp" => scenarios::hutchinson_trace(m, x, aux(), Hutchinson::Jvp, mode),
            "hutchinson_full_jacobian" => {
                scenarios::hutchinson_trace(m, x, aux(), Hutchinson::FullJacobian, mode)
            }
            other => unreachable!("unknown scenario {other}"),
        }
    }

    /// The step's loss on `path` at a fresh leaf `x`.
    pub fn path_loss(&self, path: PathKind, x: Tensor<Autodiff<B>, 2>) -> Tensor<Autodiff<B>, 1> {
        match path {
            PathKind::Switched => with_switching(true, || self.loss(x, Mode::Auto)),
            PathKind::Naive => with_switching(false, || self.loss(x, Mode::AutoReverse)),
            PathKind::Native => self
                .native
                .loss(self.scenario, x, self.aux.clone())
                .unwrap_or_else(|| panic!("no native path for {}", self.scenario)),
        }
    }

    /// One step's loss and input gradient on `path`, off the tape.
    pub fn loss_and_input_gradient(&self, path: PathKind) -> (Tensor<B, 1>, Tensor<B, 2>) {
        let x = self.x.clone().detach().require_grad();
        let loss = self.path_loss(path, x.clone());
        let grads = loss.backward();
        let gx = x.grad(&grads).expect("input gradient");
        (loss.inner(), gx)
    }

    /// Panics unless the plain-Burn path gives the switched path's loss and input
    /// gradient (f32, relative 1e-3): a baseline that computed something else
    /// would make its timings meaningless.
    pub fn check_native(&self) {
        if !PathKind::Native.covers(self.scenario) {
            return;
        }
        let ((l_s, g_s), (l_n, g_n)) = (
            self.loss_and_input_gradient(PathKind::Switched),
            self.loss_and_input_gradient(PathKind::Native),
        );
        for (what, a, b) in [
            ("loss", l_s.reshape([1, 1]), l_n.reshape([1, 1])),
            ("input gradient", g_s, g_n),
        ] {
            let scale = a.clone().abs().max().into_scalar().elem::<f64>().max(1e-6);
            let err = (a - b).abs().max().into_scalar().elem::<f64>();
            assert!(
                err <= 1e-3 * scale,
                "{}: the native path's {what} differs from the switched one by {err:e} \
                 (scale {scale:e})",
                self.scenario
            );
        }
    }

    /// Switched steps until measured switching has decided (its trial would
    /// otherwise fall into the timed steps, and in `--paired` each trial step
    /// would time the other paths' steps too). The trial's cost is what
    /// `--tuning` reports.
    pub fn settle_tuning(&self, device: &B::Device) {
        for _ in 0..2 * (TUNE_WARMUP + TUNE_SAMPLES) + 1 {
            self.step(PathKind::Switched, device);
        }
    }

    /// One training step: the loss and its gradients w.r.t. `x` and the parameters,
    /// waiting for the device to finish.
    pub fn step(&self, path: PathKind, device: &B::Device) {
        let x = self.x.clone().detach().require_grad();
        let grads = self.path_loss(path, x).backward();
        // Asynchronous backends (wgpu) queue kernels: wait for them so the time is
        // the real one.
        B::sync(device).expect("device sync");
        drop(grads);
    }
}

/// `--paired [ITERS]`: the paths' steps timed alternately (in rotating order) on
/// `B` at `size`, so load that drifts on a shared machine hits them alike;
/// prints the medians and the ratios to the switched path.
pub fn paired_report<B: Backend>(iters: usize, backend: &str, size: Size) {
    let device = Default::default();
    println!(
        "| scenario ({} size, {backend}) | switched | naive | native | naive/switched | \
         native/switched |",
        size.name()
    );
    println!("|---|---|---|---|---|---|");
    let mut decisions = Vec::new();
    for &scenario in SCENARIOS {
        if !runs(scenario, size) {
            continue;
        }
        let case = Case::<B>::new(scenario, size, None, &device);
        case.check_native();
        clear_tuning();
        case.settle_tuning(&device);
        for d in tuning_decisions() {
            // Both times are NaN where the shape rule's path was kept untimed.
            let timing = if d.forward_ms.is_nan() && d.reverse_ms.is_nan() {
                "by the shape rule, without a trial".to_string()
            } else {
                format!(
                    "forward {:.2} ms, reverse {:.2} ms per step",
                    d.forward_ms, d.reverse_ms
                )
            };
            decisions.push(format!(
                "{scenario}: {} {:?} kept {:?} ({timing})",
                d.transform, d.input_dims, d.chosen
            ));
        }
        let paths: Vec<PathKind> = PathKind::ALL
            .into_iter()
            .filter(|p| p.covers(scenario))
            .collect();
        let mut times = vec![Vec::new(); paths.len()];
        // The order rotates every iteration, so load that drifts hits every path
        // alike. Each timed step is the second of two steps of its path in a row,
        // as in a training loop: a step right after another path's pays for that
        // path's memory (a step after the plain-Burn one, hundreds of
        // milliseconds and large allocations, ran up to 1.2× slower on libtorch),
        // and with a cyclic order it is always the same path that follows it.
        for i in 0..iters {
            for j in 0..paths.len() {
                let k = (i + j) % paths.len();
                case.step(paths[k], &device);
                let start = std::time::Instant::now();
                case.step(paths[k], &device);
                times[k].push(start.elapsed().as_secs_f64());
            }
        }
        let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
        let cell =
            |i: usize, f: &dyn Fn(f64) -> String| medians.get(i).map_or("—".into(), |&m| f(m));
        let ms = |m: f64| format!("{:.2} ms", m * 1e3);
        let ratio = |m: f64| format!("{:.2}×", m / medians[0]);
        println!(
            "| {scenario} | {} | {} | {} | {} | {} |",
            cell(0, &ms),
            cell(1, &ms),
            cell(2, &ms),
            cell(1, &ratio),
            cell(2, &ratio)
        );
    }
    println!();
    println!("Measured switching's decisions (the trial before the timed steps):");
    for line in decisions {
        println!("- {line}");
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
