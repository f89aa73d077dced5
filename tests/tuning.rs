//! Measured switching: the faster path is kept, the decision is cached, results
//! do not depend on it, and the off switches work.
//!
//! The functions timed here sleep on one path, so the faster path is known and
//! the margin (15 ms a step) dwarfs a loaded machine's noise. Every test uses its
//! own function (its own tuning key), so tests running in parallel do not share
//! decisions; trials are per thread.

mod common;
#[path = "../scenarios/mod.rs"]
mod scenarios;

use std::time::Duration;

use burn::tensor::{Tensor, backend::Backend};
use burn_autodiff::Autodiff;
use burn_nested::{
    Dual, Mode, NestedFn, StatefulLayer, jacobian,
    settings::{
        TUNE_SAMPLES, TUNE_WARMUP, TunedPath, path_counts, reset_path_counts, tuning_decisions,
        with_tuning,
    },
};
use common::{Ad, F, random_data, tensor, values};
use rand::{SeedableRng, rngs::StdRng};
use scenarios::Mlp;

/// Trial calls before a decision: warm-up and timed calls on each path.
const TRIAL_CALLS: usize = 2 * (TUNE_WARMUP + TUNE_SAMPLES);
/// Trial calls when the second path's first timed step is clearly slower.
const SHORT_TRIAL_CALLS: usize = TUNE_WARMUP + TUNE_SAMPLES + TUNE_WARMUP + 1;

/// `tanh`, with a sleep on forward lanes or on the reverse pass. `id` makes the
/// tuning key of each test its own.
struct Slow {
    id: u64,
    forward: Duration,
    reverse: Duration,
}

impl<B: Backend> NestedFn<B, 2, 2> for Slow {
    fn eval(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        x.tanh()
    }

    fn eval_dual(&self, x: Tensor<Dual<B>, 2>) -> Tensor<Dual<B>, 2> {
        std::thread::sleep(self.forward);
        x.tanh()
    }

    fn eval_reverse_dual(&self, x: Tensor<Autodiff<Dual<B>>, 2>) -> Tensor<Autodiff<Dual<B>>, 2> {
        std::thread::sleep(self.reverse);
        x.tanh()
    }

    fn structure_key(&self) -> Option<u64> {
        Some(self.id)
    }
}

fn decision_for(input_dims: &[usize], inside: bool, backend_has: &str) -> Vec<TunedPath> {
    tuning_decisions()
        .into_iter()
        .filter(|d| {
            d.transform == "jacobian"
                && d.input_dims == input_dims
                && d.inside_loss == inside
                && d.backend.contains(backend_has)
        })
        .map(|d| d.chosen)
        .collect()
}

/// `jacobian` of `f` at `x`, `calls` times in a loop, outside a loss: the
/// Jacobians and the trial calls counted.
fn jacobians(f: &Slow, x: &Tensor<F, 2>, calls: usize) -> (Vec<Vec<f64>>, usize) {
    reset_path_counts();
    let js = (0..calls)
        .map(|_| values(jacobian(f, x.clone(), Mode::Auto)))
        .collect();
    (js, path_counts().tuning)
}

/// The shape rule picks forward lanes for a square Jacobian; when those are the
/// slow ones, measured switching keeps the reverse path, and the other way round.
/// The decision is reported once and then reused without trials.
#[test]
fn keeps_the_faster_path_and_caches_the_decision() {
    let slow = Duration::from_millis(15);
    // Distinct shapes tell the two decisions apart in the shared report.
    // Forward lanes cost the probe's pass and the lanes' pass (two sleeps), the
    // reverse path the probe's and the backward's. When the second path tried is
    // many times slower, the trial stops after its first timed step.
    for (id, forward, reverse, rows, want, trial_calls) in [
        (
            0x7e57_0001,
            slow,
            Duration::ZERO,
            3,
            TunedPath::Reverse,
            TRIAL_CALLS,
        ),
        (
            0x7e57_0002,
            Duration::ZERO,
            slow,
            5,
            TunedPath::Forward,
            SHORT_TRIAL_CALLS,
        ),
    ] {
        let f = Slow {
            id,
            forward,
            reverse,
        };
        let x = Tensor::<F, 2>::ones([rows, 2], &Default::default()) * 0.3;
        let (js, trials) = jacobians(&f, &x, TRIAL_CALLS + 3);
        assert_eq!(trials, trial_calls, "trial calls before the decision");
        assert_eq!(decision_for(&[rows, 2], false, "NdArray"), vec![want]);
        for j in &js[1..] {
            assert_eq!(j, &js[0], "every path gives the same Jacobian");
        }

        // Decided: the next calls take the kept path without trials.
        reset_path_counts();
        let _ = jacobian(&f, x.clone(), Mode::Auto);
        let c = path_counts();
        assert_eq!(c.tuning, 0);
        match want {
            TunedPath::Reverse => assert_eq!((c.forward, c.reverse), (0, 1)),
            TunedPath::Forward => assert_eq!((c.forward, c.reverse), (1, 0)),
        }
    }
}

/// Inside a loss: through the trial (both paths taken), the Jacobian and the
/// gradients of a loss on it equal those with tuning off, step after step.
#[test]
fn results_do_not_depend_on_tuning_inside_a_loss() {
    let model = Mlp::<Ad>::new(&[3, 6, 3], false, &Default::default());
    let x = random_data(&mut StdRng::seed_from_u64(5), &[4, 3], -1.0, 1.0);
    let step = || {
        let xa = tensor::<Ad, 2>(&x).require_grad();
        let layer = StatefulLayer::from_ref(&model);
        let j = jacobian(&layer, xa.clone(), Mode::Auto);
        let grads = (j.clone() * j.clone()).sum().backward();
        let mut out = values(j);
        out.extend(values(xa.grad(&grads).expect("input gradient")));
        out.extend(common::param_gradients_counted(&model, &grads));
        out
    };
    let reference = with_tuning(false, step);
    reset_path_counts();
    for call in 0..TRIAL_CALLS + 2 {
        let got = step();
        assert_eq!(got.len(), reference.len(), "step {call}: lengths");
        let gap = common::max_abs_diff(&got, &reference);
        assert!(
            gap < 1e-10,
            "step {call}: tuned and untuned differ by {gap}"
        );
    }
    let c = path_counts();
    assert!(
        [SHORT_TRIAL_CALLS, TRIAL_CALLS].contains(&c.tuning),
        "{c:?}"
    );
    assert!(
        c.forward > 0 && c.reverse > 0,
        "both paths were tried: {c:?}"
    );
    assert_eq!(decision_for(&[4, 3], true, "Autodiff").len(), 1);
}

/// With tuning off, no trial runs and nothing is decided.
#[test]
fn tuning_off_keeps_the_shape_rule() {
    let f = Slow {
        id: 0x7e57_0003,
        forward: Duration::from_millis(2),
        reverse: Duration::ZERO,
    };
    let x = Tensor::<F, 2>::ones([7, 2], &Default::default());
    let (_, trials) = with_tuning(false, || jacobians(&f, &x, TRIAL_CALLS + 2));
    assert_eq!(trials, 0);
    assert!(decision_for(&[7, 2], false, "NdArray").is_empty());
}

/// One key is tried at a time on a thread: the second keeps the shape rule's
/// path until the first is decided, then has its own trial.
#[test]
fn one_key_at_a_time() {
    let first = Slow {
        id: 0x7e57_0004,
        forward: Duration::from_millis(2),
        reverse: Duration::ZERO,
    };
    let second = Slow {
        id: 0x7e57_0005,
        ..first
    };
    let x = Tensor::<F, 2>::ones([9, 2], &Default::default());
    let x2 = Tensor::<F, 2>::ones([11, 2], &Default::default());
    reset_path_counts();
    for _ in 0..TRIAL_CALLS {
        let _ = jacobian(&first, x.clone(), Mode::Auto);
        let _ = jacobian(&second, x2.clone(), Mode::Auto);
    }
    // The first key's next call decides.
    let _ = jacobian(&first, x.clone(), Mode::Auto);
    assert_eq!(
        path_counts().tuning,
        TRIAL_CALLS,
        "only the first key's trial ran"
    );
    assert_eq!(decision_for(&[9, 2], false, "NdArray").len(), 1);
    assert!(decision_for(&[11, 2], false, "NdArray").is_empty());
    let (_, trials) = jacobians(&second, &x2, TRIAL_CALLS + 1);
    assert_eq!(trials, TRIAL_CALLS);
    assert_eq!(decision_for(&[11, 2], false, "NdArray").len(), 1);
}

/// `laplacian` with `Mode::Auto` inside a loss: the shape rule's path is the
/// forward Laplacian; when its pass is the slow one, measured switching keeps
/// forward over reverse (no probe pass inside a loss), and every call, trial or
/// not, returns the same Laplacian and input gradient.
#[test]
fn laplacian_keeps_the_faster_path_inside_a_loss() {
    let f = Slow {
        id: 0x7e57_0003,
        forward: Duration::from_millis(15),
        reverse: Duration::ZERO,
    };
    let x = random_data(&mut StdRng::seed_from_u64(9), &[7, 1], -1.0, 1.0);
    let step = || {
        let xa = tensor::<Ad, 2>(&x).require_grad();
        let lap = burn_nested::laplacian(&f, xa.clone(), Mode::Auto);
        let g = (lap.clone() * lap.clone()).sum().backward();
        let mut out = values(lap);
        out.extend(values(xa.grad(&g).expect("input gradient")));
        out
    };
    reset_path_counts();
    let runs: Vec<Vec<f64>> = (0..TRIAL_CALLS + 2).map(|_| step()).collect();
    let c = path_counts();
    assert!(c.tuning > 0 && c.forward > 0 && c.reverse > 0, "{c:?}");
    let decided: Vec<TunedPath> = tuning_decisions()
        .into_iter()
        .filter(|d| d.transform == "laplacian" && d.input_dims == [7, 1] && d.inside_loss)
        .map(|d| d.chosen)
        .collect();
    assert_eq!(decided, vec![TunedPath::Reverse]);
    for r in &runs[1..] {
        common::assert_close("laplacian through the trial", r, &runs[0], 1e-10);
    }
    // tanh'' = −2·tanh·(1 − tanh²).
    let want: Vec<f64> = x
        .to_vec::<f64>()
        .unwrap()
        .iter()
        .map(|v| -2.0 * v.tanh() * (1.0 - v.tanh().powi(2)))
        .collect();
    common::assert_close("laplacian of tanh", &runs[0][..7], &want, 1e-12);
}

/// A trial left unfinished by a thread that ended is taken over by the next
/// thread that calls the key: burn-train's multi-device strategy runs each epoch
/// on fresh worker threads, and a trial longer than an epoch would otherwise
/// start over every epoch and never end.
#[test]
fn a_trial_outlives_the_thread_that_began_it() {
    let f = std::sync::Arc::new(Slow {
        id: 0x7e57_0007,
        forward: Duration::from_millis(15),
        reverse: Duration::ZERO,
    });
    let x = Tensor::<F, 2>::ones([13, 2], &Default::default()) * 0.3;
    // The shape rule's path (forward lanes, the slow one) needs TUNE_WARMUP +
    // TUNE_SAMPLES calls; four leave it unfinished, so nothing is decided yet.
    let first_calls = 4;
    assert!(first_calls < TUNE_WARMUP + TUNE_SAMPLES);
    let on_a_thread = |calls: usize| {
        let (f, x) = (f.clone(), x.clone());
        std::thread::spawn(move || jacobians(&f, &x, calls).1)
            .join()
            .expect("the thread ran")
    };
    assert_eq!(on_a_thread(first_calls), first_calls, "all trial calls");
    assert!(decision_for(&[13, 2], false, "NdArray").is_empty());
    // The second thread goes on from the fourth call: one step's interval (the
    // first thread's last) is lost, so one call more than the rest of the trial.
    let rest = on_a_thread(TRIAL_CALLS + 3);
    assert_eq!(
        rest,
        TRIAL_CALLS - first_calls + 1,
        "trial calls on the second thread"
    );
    assert_eq!(
        decision_for(&[13, 2], false, "NdArray"),
        vec![TunedPath::Reverse]
    );
}
