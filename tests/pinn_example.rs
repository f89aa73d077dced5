//! The PINN example's training, evaluation and plotting, run briefly in-process:
//! the loss goes down and the three output files are written.

#[path = "../examples/pinn/plot.rs"]
mod plot;
#[path = "../examples/pinn/problem.rs"]
mod problem;
#[path = "../examples/pinn/train.rs"]
mod train;

use std::path::PathBuf;

use train::{Config, relative_l2, solution_grid};

type B = burn_autodiff::Autodiff<burn_ndarray::NdArray<f32>>;

/// burn-ndarray's random stream is one per process: a training seeds it and
/// draws its weights and points from it, so the tests here train one at a time.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn short_pinn_run_lowers_the_loss_and_writes_its_outputs() {
    let _rng = one_at_a_time();
    let config = Config {
        steps: 30,
        batch: 32,
        lr: 1e-2,
        final_lr: 1e-3,
        width: 8,
        hidden: 2,
        seed: 1,
        mode: burn_nested::Mode::Auto,
    };
    let trained = train::train::<B>(&config, &Default::default(), |_, _| {});
    let losses = &trained.losses;
    assert_eq!(losses.len(), config.steps);
    assert!(losses.iter().all(|l| l.is_finite()), "losses: {losses:?}");
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&losses[..5]), mean(&losses[losses.len() - 5..]));
    assert!(last < first, "the loss did not go down: {first} -> {last}");

    let n = 21;
    let (learned, exact) = solution_grid(&trained.model, n);
    assert_eq!(learned.len(), n * n);
    assert!(relative_l2(&learned, &exact).is_finite());
    // The boundary condition is built into the network.
    assert!(
        learned[..n].iter().all(|u| u.abs() < 1e-6),
        "u ≠ 0 at y = 0"
    );

    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pinn_example");
    std::fs::create_dir_all(&out).unwrap();
    for name in ["pinn_loss.csv", "pinn_loss.png", "pinn_solution.png"] {
        let _ = std::fs::remove_file(out.join(name));
    }
    plot::write_csv(&out.join("pinn_loss.csv"), losses).unwrap();
    plot::plot_loss(&out.join("pinn_loss.png"), losses).unwrap();
    plot::plot_solution(&out.join("pinn_solution.png"), &learned, &exact, n).unwrap();
    for name in ["pinn_loss.csv", "pinn_loss.png", "pinn_solution.png"] {
        let len = std::fs::metadata(out.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 0, "{name} was not written");
    }
    let csv = std::fs::read_to_string(out.join("pinn_loss.csv")).unwrap();
    assert_eq!(csv.lines().count(), config.steps + 1);
}

/// The same short training on `FastNdArray` (the examples' `--device ndarray`)
/// and on burn-ndarray: the same weights and points (its random draws are
/// burn-ndarray's), and losses equal to f32 rounding, step after step (the
/// nested f32 check of the fast kernels; this binary is all f32, which Burn 0.21
/// needs for an f32 `NdArray` test, docs/burn-issues.md).
#[test]
fn the_fast_cpu_backend_trains_as_burn_ndarray() {
    let _rng = one_at_a_time();
    let config = Config {
        steps: 10,
        batch: 32,
        lr: 1e-2,
        final_lr: 1e-3,
        width: 8,
        hidden: 2,
        seed: 3,
        mode: burn_nested::Mode::Auto,
    };
    type Fast = burn_autodiff::Autodiff<burn_nested::cpu::FastNdArray<f32>>;
    let fast = train::train::<Fast>(&config, &Default::default(), |_, _| {}).losses;
    let plain = train::train::<B>(&config, &Default::default(), |_, _| {}).losses;
    assert_eq!((fast.len(), plain.len()), (config.steps, config.steps));
    for (step, (a, b)) in fast.iter().zip(&plain).enumerate() {
        let gap = (a - b).abs() / b.abs();
        assert!(gap < 1e-4, "step {step}: {a} against {b}");
    }
    assert_ne!(
        fast, plain,
        "the fast kernels ran (f32 tanh rounds differently)"
    );
}
