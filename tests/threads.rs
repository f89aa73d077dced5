//! Nested losses on several threads at once: the same results as on one thread,
//! no deadlock, and a `with_switching` scope that stays on its own thread.
//!
//! Burn 0.21 keeps every autodiff graph in one process-wide registry and, after
//! each backward, sweeps it (`GraphCleaner::cleanup_orphaned_entries`), locking
//! other threads' graphs in turn. The nested backward passes of the reverse path
//! and of `hvp` run inside the outer loss, so threads interleave many backward
//! passes and sweeps. Every thread runs behind a watchdog: a deadlock fails the
//! test after [`WATCHDOG`] instead of hanging CI.

mod common;
#[path = "../scenarios/mod.rs"]
mod scenarios;

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use burn::module::AutodiffModule;
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_nested::{
    Mode, StatefulLayer, hvp, jacobian,
    settings::{path_counts, reset_path_counts, switching_enabled, with_switching},
    vjp,
};
use common::{F, random_data, tensor, trainable, values};
use rand::{SeedableRng, rngs::StdRng};
use scenarios::{Mlp, SumOfSquares, sizes};

type Ad = burn_autodiff::Autodiff<F>;

const WATCHDOG: Duration = Duration::from_secs(60);

/// A computation to run on its own thread.
type Job<T> = Box<dyn FnOnce() -> T + Send>;

/// Every case a thread ran, with its result.
type Runs = Vec<(Case, Vec<f64>)>;
const THREADS: usize = 4;

/// The computations the threads share: each a nested loss, differentiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// Input gradient inside the loss by one nested backward (reverse path).
    PinnReverse,
    /// Per-row input gradient by forward lanes (`batched_jacobian`).
    PinnRowwiseForward,
    /// Full Jacobian through `BatchNorm`, switched to forward lanes.
    JacobianRegularization,
    /// Parameter Jacobian by one nested backward with cotangent lanes.
    ParamJacobianReverse,
    /// Hessian-vector product (forward over reverse) inside the loss.
    Hvp,
}

const CASES: [Case; 5] = [
    Case::PinnReverse,
    Case::PinnRowwiseForward,
    Case::JacobianRegularization,
    Case::ParamJacobianReverse,
    Case::Hvp,
];

/// Models and data, built once on the main thread on the inner backend (plain
/// tensors, `Send`); each run re-creates fresh `Autodiff` leaves from them.
#[derive(Clone)]
struct Inputs {
    pinn: Mlp<F>,
    regularized: Mlp<F>,
    hutchinson: Mlp<F>,
    t: Tensor<F, 2>,
    x2: Tensor<F, 2>,
    y2: Tensor<F, 2>,
    x4: Tensor<F, 2>,
    v4: Tensor<F, 2>,
}

fn inputs() -> Inputs {
    let device = Default::default();
    let model = |sizes: &[usize], bn: bool, seed: u64| {
        Ad::seed(&device, seed);
        Mlp::<Ad>::new(sizes, bn, &device).valid()
    };
    let mut rng = StdRng::seed_from_u64(17);
    let mut data =
        |shape: &[usize], lo: f64| tensor::<F, 2>(&random_data(&mut rng, shape, lo, 1.0));
    Inputs {
        pinn: model(sizes::PINN, false, 1),
        regularized: model(sizes::JACOBIAN_REGULARIZATION, true, 2),
        hutchinson: model(sizes::HUTCHINSON, false, 3),
        t: data(&[16, 1], 0.0),
        x2: data(&[10, 2], -1.0),
        y2: data(&[10, 2], -1.0),
        x4: data(&[6, 4], -1.0),
        v4: data(&[6, 4], -1.0),
    }
}

fn sum_sq<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, 1> {
    (t.clone() * t).sum()
}

/// The loss value, its input gradient and its parameter gradient, flattened.
fn run(case: Case, inp: &Inputs) -> Vec<f64> {
    let leaf = |t: &Tensor<F, 2>| Tensor::<Ad, 2>::from_inner(t.clone()).require_grad();
    let (model, x) = match case {
        Case::PinnReverse | Case::PinnRowwiseForward | Case::ParamJacobianReverse => {
            (&inp.pinn, &inp.t)
        }
        Case::JacobianRegularization => (&inp.regularized, &inp.x2),
        Case::Hvp => (&inp.hutchinson, &inp.x4),
    };
    let m = trainable(Mlp::<Ad>::from_inner(model.clone()));
    let xa = leaf(x);
    let loss = match case {
        Case::PinnReverse => scenarios::pinn_gradient(&m, xa.clone(), Mode::AutoReverse),
        Case::PinnRowwiseForward => scenarios::pinn_gradient_rowwise(&m, xa.clone(), Mode::FORWARD),
        Case::JacobianRegularization => scenarios::jacobian_regularization(
            &m,
            xa.clone(),
            Tensor::from_inner(inp.y2.clone()),
            Mode::Auto,
        ),
        Case::ParamJacobianReverse => {
            scenarios::parameter_jacobian(&m, xa.clone().slice([0..4, 0..1]), Mode::AutoReverse)
        }
        Case::Hvp => {
            let layer = StatefulLayer::new(m.clone());
            let v = Tensor::from_inner(inp.v4.clone());
            sum_sq(hvp(&layer.then(SumOfSquares), xa.clone(), v))
        }
    };
    let mut out = values(loss.clone());
    let grads = loss.backward();
    let gx = xa.grad(&grads).map(values).unwrap_or_default();
    assert!(!gx.is_empty(), "{case:?}: no input gradient");
    out.extend(gx);
    out.extend(common::param_gradients_counted(&m, &grads));
    out
}

/// Runs `jobs` on their own threads and collects their results, failing if any has
/// not finished within [`WATCHDOG`] (a deadlock) or panicked.
fn run_with_watchdog<T: Send + 'static>(jobs: Vec<Job<T>>) -> Vec<T> {
    let (tx, rx) = mpsc::channel();
    let n = jobs.len();
    for (i, job) in jobs.into_iter().enumerate() {
        let tx = tx.clone();
        thread::Builder::new()
            .name(format!("nested-{i}"))
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                let _ = tx.send((i, result));
            })
            .expect("spawn");
    }
    let deadline = std::time::Instant::now() + WATCHDOG;
    let mut results: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for _ in 0..n {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, Ok(r))) => results[i] = Some(r),
            Ok((i, Err(_))) => panic!("thread {i} panicked (its message is above)"),
            Err(_) => {
                let pending: Vec<usize> = (0..n).filter(|&i| results[i].is_none()).collect();
                panic!("threads {pending:?} did not finish within {WATCHDOG:?}: deadlock?")
            }
        }
    }
    results.into_iter().map(|r| r.unwrap()).collect()
}

fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (k, (p, q)) in a.iter().zip(b).enumerate() {
        assert!(
            (p - q).abs() <= 1e-12 * p.abs().max(q.abs()).max(1.0),
            "{what}[{k}]: {p} on a thread vs {q} alone"
        );
    }
}

#[test]
fn four_threads_of_nested_losses_match_one_thread() {
    let inp = inputs();
    let reference: Vec<Vec<f64>> = CASES.iter().map(|&c| run(c, &inp)).collect();
    // Each thread runs every case three times, starting at a different one, so
    // forward, reverse and HVP passes overlap in every combination.
    let start = Arc::new(Barrier::new(THREADS));
    let jobs: Vec<Job<Runs>> = (0..THREADS)
        .map(|i| {
            let inp = inp.clone();
            let start = start.clone();
            Box::new(move || {
                start.wait();
                (0..3 * CASES.len())
                    .map(|k| {
                        let case = CASES[(i + k) % CASES.len()];
                        (case, run(case, &inp))
                    })
                    .collect::<Vec<_>>()
            }) as Job<_>
        })
        .collect();
    let mut identical = 0;
    let mut total = 0;
    for (i, runs) in run_with_watchdog(jobs).into_iter().enumerate() {
        for (case, got) in runs {
            let expected = &reference[CASES.iter().position(|&c| c == case).unwrap()];
            assert_close(&format!("thread {i}, {case:?}"), &got, expected);
            identical += usize::from(&got == expected);
            total += 1;
        }
    }
    println!("{identical} of {total} runs bit-identical to the single-thread run");
}

/// Many nested backward passes from four threads at once: the reverse path only.
#[test]
fn concurrent_nested_backward_passes_stay_exact() {
    let inp = inputs();
    let reference = run(Case::PinnReverse, &inp);
    let jobs: Vec<Job<Vec<Vec<f64>>>> = (0..THREADS)
        .map(|_| {
            let inp = inp.clone();
            Box::new(move || (0..20).map(|_| run(Case::PinnReverse, &inp)).collect()) as Job<_>
        })
        .collect();
    for (i, runs) in run_with_watchdog(jobs).into_iter().enumerate() {
        for (k, got) in runs.iter().enumerate() {
            assert_close(&format!("thread {i}, run {k}"), got, &reference);
        }
    }
}

/// `Σ‖row of J‖²` for the `BatchNorm` model, the Jacobian taken either by one
/// nested backward pass per output entry (`per_output`: 20 backward passes inside
/// one loss, each its own graph) or by one pass with cotangent lanes; the loss
/// value, input gradient and parameter gradient.
fn jacobian_norm(inp: &Inputs, per_output: bool) -> Vec<f64> {
    let m = trainable(Mlp::<Ad>::from_inner(inp.regularized.clone()));
    let xa = Tensor::<Ad, 2>::from_inner(inp.x2.clone()).require_grad();
    let layer = StatefulLayer::new(m.clone());
    let [rows, cols] = [inp.x2.dims()[0], 2];
    let loss = with_switching(false, || {
        if !per_output {
            return sum_sq(jacobian(&layer, xa.clone(), Mode::AutoReverse));
        }
        (0..rows * cols)
            .map(|o| {
                let mut e = vec![0.0f64; rows * cols];
                e[o] = 1.0;
                let e = TensorData::new(e, [rows, cols]);
                let v = Tensor::<Ad, 2>::from_data(e, &Default::default());
                sum_sq(vjp(&layer, xa.clone(), v, Mode::AutoReverse))
            })
            .reduce(|a, b| a + b)
            .expect("outputs")
    });
    let mut out = values(loss.clone());
    let grads = loss.backward();
    out.extend(values(xa.grad(&grads).expect("an input gradient")));
    out.extend(common::param_gradients_counted(&m, &grads));
    out
}

/// Dozens of nested backward passes inside one outer loss (the per-row pattern
/// that once seemed to lose gradients in Burn 0.21), on one thread and on four at
/// once: equal to the one-pass Jacobian.
#[test]
fn many_nested_backward_passes_in_one_loss_stay_exact_on_four_threads() {
    let inp = inputs();
    let reference = jacobian_norm(&inp, false);
    assert_close("one thread", &jacobian_norm(&inp, true), &reference);
    let jobs: Vec<Job<Vec<Vec<f64>>>> = (0..THREADS)
        .map(|_| {
            let inp = inp.clone();
            Box::new(move || (0..3).map(|_| jacobian_norm(&inp, true)).collect()) as Job<_>
        })
        .collect();
    for (i, runs) in run_with_watchdog(jobs).into_iter().enumerate() {
        for (k, got) in runs.iter().enumerate() {
            assert_close(&format!("thread {i}, run {k}"), got, &reference);
        }
    }
}

/// `with_switching` changes the path on its own thread only, even while another
/// thread runs the same transform at the same moment.
#[test]
fn with_switching_is_local_to_its_thread() {
    let inp = inputs();
    // Four time points: an input gradient of 4 entries goes forward when switching
    // is on, by a nested backward when it is off.
    let t4 = inp.t.clone().slice([0..4, 0..1]);
    let default_on = switching_enabled();
    let both_inside = Arc::new(Barrier::new(2));
    let job = |scoped: Option<bool>| {
        let (m, t4, both_inside) = (inp.pinn.clone(), t4.clone(), both_inside.clone());
        Box::new(move || {
            let body = || {
                both_inside.wait();
                reset_path_counts();
                let m = Mlp::<Ad>::from_inner(m);
                let loss = scenarios::pinn_gradient(&m, Tensor::from_inner(t4), Mode::Auto);
                let _ = loss.backward();
                let c = path_counts();
                both_inside.wait();
                (switching_enabled(), c.forward, c.reverse)
            };
            match scoped {
                Some(on) => with_switching(on, body),
                None => body(),
            }
        }) as Job<(bool, usize, usize)>
    };
    let results = run_with_watchdog(vec![job(Some(!default_on)), job(None)]);
    let path = |on: bool| if on { (on, 1, 0) } else { (on, 0, 1) };
    assert_eq!(results[0], path(!default_on), "the scoped thread");
    assert_eq!(results[1], path(default_on), "the other thread");
}
