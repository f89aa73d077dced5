//! Soak test: 2000 Adam steps of a nested loss must not leak.
//!
//! Ignored by default; run it with `cargo test --test soak -- --ignored` (about
//! 10 s in the dev profile on the two-core development machine; see
//! `docs/reliability.md`).
//!
//! Leftover graph nodes are checked through memory: burn-autodiff 0.21 exposes no
//! count of graphs or nodes (its registry, `GraphLocator` in `runtime/graph.rs`, and
//! the per-graph `AutodiffServer` are crate-private), so a node left behind by a
//! nested backward — and every tensor its backward step holds — can only show as
//! resident memory that grows with the number of steps.

#[path = "../scenarios/mod.rs"]
mod scenarios;

use std::time::Instant;

use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::{
    Mode,
    settings::{path_counts, reset_path_counts},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use scenarios::{Mlp, pinn_gradient, sizes};

type B = burn_autodiff::Autodiff<burn_ndarray::NdArray<f32>>;

const STEPS: usize = 2000;
const BASELINE_STEP: usize = 200;

/// Resident set size in pages, from `/proc/self/statm` (second field).
fn resident_pages() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm (Linux)");
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("resident pages in statm")
}

#[test]
#[ignore = "soak test, ~10 s: cargo test --test soak -- --ignored"]
fn two_thousand_adam_steps_of_a_nested_loss_do_not_grow_memory() {
    let device = Default::default();
    B::seed(&device, 5);
    let mut model = Mlp::<B>::new(sizes::PINN, false, &device);
    let mut rng = StdRng::seed_from_u64(5);
    let t: Vec<f32> = (0..16).map(|_| rng.random_range(0.0..1.0)).collect();
    let t = Tensor::<B, 2>::from_data(TensorData::new(t, [16, 1]), &device);
    let mut optim = AdamConfig::new().init();

    let start = Instant::now();
    let mut baseline = None;
    let mut losses = Vec::new();
    reset_path_counts();
    // Measured switching would try forward lanes for a few steps; this test is
    // about the reverse path, so it stays on the shape rule's choice.
    burn_nested::settings::set_tuning(false);
    for step in 1..=STEPS {
        // A 16-entry input gradient inside the loss: one nested backward per step
        // (the reverse path, where leftover graphs would come from).
        let loss = pinn_gradient(&model, t.clone(), Mode::Auto);
        let value = loss.clone().into_scalar();
        assert!(value.is_finite(), "step {step}: loss {value}");
        losses.push(value);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
        if step == BASELINE_STEP {
            baseline = Some((resident_pages(), start.elapsed()));
        }
    }
    let elapsed = start.elapsed();
    let end = resident_pages();
    let (base, base_time) = baseline.expect("baseline taken");
    let growth = end as f64 / base as f64 - 1.0;
    println!(
        "steps {BASELINE_STEP}..{STEPS}: resident {} -> {} KiB ({:+.2}%), {:.1} s in all \
         ({:.1} ms/step over the first {BASELINE_STEP}, {:.1} ms/step after); loss {} -> {}",
        base * 4,
        end * 4,
        growth * 100.0,
        elapsed.as_secs_f64(),
        base_time.as_secs_f64() * 1e3 / BASELINE_STEP as f64,
        (elapsed - base_time).as_secs_f64() * 1e3 / (STEPS - BASELINE_STEP) as f64,
        losses[0],
        losses[STEPS - 1],
    );
    assert_eq!(
        path_counts().reverse,
        STEPS,
        "expected one nested backward per step"
    );
    assert!(
        growth.abs() <= 0.05,
        "resident memory after step {STEPS} is {:+.2}% of that after step {BASELINE_STEP}",
        growth * 100.0
    );
    assert!(
        losses[STEPS - 1] < losses[0],
        "training did not lower the loss: {} -> {}",
        losses[0],
        losses[STEPS - 1]
    );
}
