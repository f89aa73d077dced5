//! burn-nested's training steps on other Burn 0.21 CPU backends than burn-ndarray:
//! the scenarios of docs/scenarios.md at bench size (the harness of
//! `benches/scenarios.rs`, shared through `#[path]`) and the PINN main job of
//! `examples/pinn.rs` (its training loop, shared the same way).
//!
//! ```text
//! backends BACKEND --check           # switched and naive losses and input gradients against ndarray
//! backends BACKEND --paired [ITERS]  # the paths' steps alternated, medians (default 9)
//! backends BACKEND --pinn [STEPS]    # the PINN main job: ms per step, relative L2 error
//! backends BACKEND --table [D,D,..] [--json FILE]  # benches/laplacian.rs's Poisson table
//! ```
//!
//! BACKEND is `ndarray`, `tch` (feature `tch`, libtorch 2.9; see README.md) or
//! `candle` (feature `candle`).

#[path = "../../../examples/common/alloc.rs"]
mod alloc;
#[allow(dead_code)] // Seed size and the criterion helpers are `benches/scenarios.rs`'s.
#[path = "../../common/case.rs"]
mod case;
#[path = "../../common/native.rs"]
mod native;
#[path = "../../common/poisson.rs"]
mod poisson;
#[path = "../../../examples/pinn/problem.rs"]
mod problem;
#[path = "../../../scenarios/mod.rs"]
mod scenarios;
#[allow(dead_code)] // The grid helpers' plotting half is the example's.
#[path = "../../../examples/pinn/train.rs"]
mod train;

use std::time::Instant;

use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_autodiff::Autodiff;
use burn_nested::params::{flatten_params, unflatten_params};
use burn_nested::{Mode, settings::with_switching};

use case::{Case, PathKind, SCENARIOS, Size, paired_report, runs};
use native::NativeMlp;

type NdArray = burn_ndarray::NdArray<f32>;

fn main() {
    alloc::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("");
    let command = args.get(2).map(String::as_str).unwrap_or("");
    let count = args.get(3).and_then(|n| n.parse().ok());
    match backend {
        "ndarray" if cfg!(feature = "blas") => run::<NdArray>("ndarray+openblas", command, count),
        "ndarray" => run::<NdArray>(backend, command, count),
        #[cfg(feature = "tch")]
        "tch" => run::<burn_tch::LibTorch<f32>>(backend, command, count),
        // Deprecated in Burn 0.21 (and slower than ndarray here); kept to reproduce the
        // candle row of docs/performance.md.
        #[cfg(feature = "candle")]
        #[allow(deprecated)]
        "candle" => run::<burn_candle::Candle<f32, i64>>(backend, command, count),
        other => {
            eprintln!(
                "unknown or not built backend {other:?}: ndarray, tch (--features tch), \
                 candle (--features candle)"
            );
            std::process::exit(2)
        }
    }
}

fn run<B: Backend>(backend: &str, command: &str, count: Option<usize>) {
    let args: Vec<String> = std::env::args().collect();
    match command {
        "--table" => poisson::table::<B>(&args, &format!("burn-nested ({backend})")),
        "--check" => check::<B>(backend),
        "--paired" => paired_report::<B>(count.unwrap_or(9), backend, Size::Bench),
        "--pinn" => pinn::<B>(backend, count.unwrap_or(1000)),
        other => {
            eprintln!(
                "unknown command {other:?}: --check, --paired [ITERS], --pinn [STEPS] or --table"
            );
            std::process::exit(2)
        }
    }
}

/// Each scenario's switched and naive loss and input gradient on `B`, from the
/// parameters of the ndarray case, against ndarray's switched ones (f32,
/// relative 1e-3). Exits non-zero on a miss.
fn check<B: Backend>(backend: &str) {
    let mut worst = 0f64;
    for &scenario in SCENARIOS.iter().filter(|s| runs(s, Size::Bench)) {
        let reference = Case::<NdArray>::new(scenario, Size::Bench, None, &Default::default());
        let mut case = Case::<B>::new(scenario, Size::Bench, None, &Default::default());
        // Each backend's generator draws other initial weights from the same seed.
        let flat = flatten_params(&reference.model).into_data();
        case.model = unflatten_params(case.model, Tensor::from_data(flat, &Default::default()));
        case.native = NativeMlp::new(&case.model);
        let (l_ref, g_ref) = host(reference.loss_and_input_gradient(PathKind::Switched));
        for path in [PathKind::Switched, PathKind::Naive] {
            let (l, g) = host(case.loss_and_input_gradient(path));
            let (el, eg) = (relative_error(&l_ref, &l), relative_error(&g_ref, &g));
            println!(
                "{backend} {scenario} {}: loss {el:.1e}, input gradient {eg:.1e}",
                path.name()
            );
            worst = worst.max(el).max(eg);
        }
    }
    if worst > 1e-3 {
        eprintln!("{backend}: relative error {worst:.1e} against ndarray (limit 1e-3)");
        std::process::exit(1)
    }
    println!(
        "{backend} ({}): every scenario within {worst:.1e} of ndarray",
        B::name(&Default::default())
    );
}

/// The PINN main job (`examples/pinn.rs`'s defaults but `steps`): time per step
/// after the first ten, and the relative L2 error on the example's grid.
fn pinn<B: Backend>(backend: &str, steps: usize) {
    let config = train::Config {
        steps,
        batch: 512,
        lr: 3e-3,
        final_lr: 3e-5,
        width: 32,
        hidden: 3,
        seed: 0,
        mode: Mode::Auto,
    };
    let device = Default::default();
    let mut marks = Vec::with_capacity(steps);
    let trained = with_switching(true, || {
        train::train::<Autodiff<B>>(&config, &device, |_, _| marks.push(Instant::now()))
    });
    let warm = 10.min(steps.saturating_sub(1));
    let per_step = marks[warm..]
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .sum::<f64>()
        / (marks.len() - warm - 1).max(1) as f64;
    let (learned, exact) = train::solution_grid(&trained.model, 101);
    println!(
        "{backend} pinn: {steps} steps, {:.2} ms per step (after step {warm}), final loss {:.3e}, \
         relative L2 error {:.3e}",
        per_step * 1e3,
        trained.losses.last().copied().unwrap_or(f64::NAN),
        train::relative_l2(&learned, &exact)
    );
}

/// A loss and an input gradient as host data.
fn host<B: Backend>((loss, grad): (Tensor<B, 1>, Tensor<B, 2>)) -> (TensorData, TensorData) {
    (loss.into_data(), grad.into_data())
}

/// `max |a − b| / max |a|` (f64).
fn relative_error(a: &TensorData, b: &TensorData) -> f64 {
    let to_vec = |t: &TensorData| t.clone().convert::<f64>().into_vec::<f64>().expect("f64");
    let (a, b) = (to_vec(a), to_vec(b));
    assert_eq!(a.len(), b.len(), "shapes differ");
    let scale = a.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
    let err = a
        .iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    err / scale
}
