//! Every scenario of docs/scenarios.md at seed size in f64: AD against central
//! differences, switched against naive paths, Hutchinson's three forms.

mod common;
#[path = "../scenarios/mod.rs"]
mod scenarios;

use burn::tensor::{Tensor, backend::Backend as _};
use burn_nested::check::{DEFAULT_STEP, check_gradients};
use burn_nested::{
    Mode,
    settings::{PathCounts, path_counts, reset_path_counts, with_switching},
};
use common::{F, random_data, tensor, values};
use rand::{Rng, SeedableRng, rngs::StdRng};
use scenarios::{Hutchinson, Mlp, sizes};

type Ad = burn_autodiff::Autodiff<F>;

const FD_TOL: f64 = 1e-6;
const PATH_TOL: f64 = 1e-10;

fn model(sizes: &[usize], batch_norm: bool, seed: u64) -> Mlp<Ad> {
    Ad::seed(&Default::default(), seed);
    Mlp::new(sizes, batch_norm, &Default::default())
}

fn data(shape: [usize; 2], seed: u64) -> Tensor<Ad, 2> {
    let mut rng = StdRng::seed_from_u64(seed);
    tensor(&random_data(&mut rng, &shape, -1.0, 1.0))
}

/// Loss value, input gradient and flat parameter gradient of `loss` in `mode`,
/// with switching on or off, and the passes the transform took.
fn gradients(
    m: &Mlp<Ad>,
    x: &Tensor<Ad, 2>,
    loss: &impl Fn(&Mlp<Ad>, Tensor<Ad, 2>, Mode) -> Tensor<Ad, 1>,
    mode: Mode,
    switching: bool,
) -> ((f64, Vec<f64>, Vec<f64>), PathCounts) {
    with_switching(switching, || {
        reset_path_counts();
        let out = check_gradients_ad_only(m, x, &|m: &Mlp<Ad>, x| loss(m, x, mode));
        (out, path_counts())
    })
}

fn check_gradients_ad_only(
    m: &Mlp<Ad>,
    x: &Tensor<Ad, 2>,
    loss: &impl Fn(&Mlp<Ad>, Tensor<Ad, 2>) -> Tensor<Ad, 1>,
) -> (f64, Vec<f64>, Vec<f64>) {
    // A fresh leaf: `require_grad` on a clone keeps the node id, and re-registering
    // one id in several graphs confuses Burn's graph registry.
    let xa = x.clone().detach().require_grad();
    let l = loss(m, xa.clone());
    let value = values(l.clone())[0];
    let grads = l.backward();
    let gx = values(xa.grad(&grads).unwrap_or_else(|| {
        panic!(
            "no input gradient (switching {})",
            burn_nested::settings::switching_enabled()
        )
    }));
    // `parameter_jacobian`'s loss never reaches the last bias (its Jacobian column
    // is constant); the finite differences confirm the zeros.
    (value, gx, common::param_gradients_counted(m, &grads))
}

/// The full check of one scenario: AD vs FD below 1e-6; switched (`Mode::Auto`),
/// naive (switching off, `Mode::AutoReverse`) and forced forward lanes
/// (`Mode::FORWARD`) to 1e-10, where at least one of them ran forward lanes only
/// and one a nested backward (switched and naive take the same path in some
/// scenarios; the forced forward run makes sure two paths are compared).
fn check_scenario(
    name: &str,
    m: &Mlp<Ad>,
    x: &Tensor<Ad, 2>,
    loss: impl Fn(&Mlp<Ad>, Tensor<Ad, 2>, Mode) -> Tensor<Ad, 1>,
) {
    check_scenario_paths(name, m, x, loss, true)
}

/// [`check_scenario`]; `both_paths` is false for a loss whose transform has one
/// path only (a `jvp` is always forward lanes), which other tests compare with a
/// reverse-mode form of the same quantity.
fn check_scenario_paths(
    name: &str,
    m: &Mlp<Ad>,
    x: &Tensor<Ad, 2>,
    loss: impl Fn(&Mlp<Ad>, Tensor<Ad, 2>, Mode) -> Tensor<Ad, 1>,
    both_paths: bool,
) {
    let report = check_gradients(m, x, |m: &Mlp<Ad>, x| loss(m, x, Mode::Auto), DEFAULT_STEP);
    println!("{name}\n{report}");
    assert!(
        report.within(FD_TOL),
        "{name}: AD differs from FD\n{report}"
    );

    let runs = [
        ("switched", gradients(m, x, &loss, Mode::Auto, true)),
        ("naive", gradients(m, x, &loss, Mode::AutoReverse, false)),
        ("forward", gradients(m, x, &loss, Mode::FORWARD, true)),
    ];
    let ((v0, gx0, gp0), _) = &runs[0].1;
    for (label, ((v, gx, gp), _)) in &runs[1..] {
        let name = format!("{name} ({label} vs switched)");
        assert_close(&name, "value", &[*v], &[*v0]);
        assert_close(&name, "input gradient", gx, gx0);
        assert_close(&name, "parameter gradient", gp, gp0);
    }
    let counts: Vec<PathCounts> = runs.iter().map(|(_, (_, c))| *c).collect();
    assert!(
        counts.iter().any(|c| c.forward > 0 && c.reverse == 0),
        "{name}: no run took forward lanes only: {counts:?}"
    );
    assert_eq!(
        counts.iter().any(|c| c.reverse > 0),
        both_paths,
        "{name}: whether a run took a nested backward: {counts:?}"
    );
}

fn assert_close(name: &str, what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{name}: {what} lengths differ");
    for (i, (p, q)) in a.iter().zip(b).enumerate() {
        assert!(
            (p - q).abs() <= PATH_TOL * p.abs().max(q.abs()).max(1.0),
            "{name}: switched and naive {what} differ at {i}: {p} vs {q}"
        );
    }
}

#[test]
fn jacobian_regularization_with_batch_norm() {
    let m = model(sizes::JACOBIAN_REGULARIZATION, true, 0);
    let x = data([10, 2], 0);
    let y = data([10, 2], 11);
    check_scenario("jacobian_regularization", &m, &x, |m, x, mode| {
        scenarios::jacobian_regularization(m, x, y.clone(), mode)
    });
}

#[test]
fn batched_jacobian() {
    let m = model(sizes::BATCHED_JACOBIAN, false, 0);
    let x = data([10, 2], 0);
    let y = data([10, 2], 11);
    check_scenario("batched_jacobian", &m, &x, |m, x, mode| {
        scenarios::batched_jacobian_loss(m, x, y.clone(), mode)
    });
}

fn times(seed: u64) -> Tensor<Ad, 2> {
    let mut rng = StdRng::seed_from_u64(seed);
    tensor(&random_data(&mut rng, &[16, 1], 0.0, 1.0))
}

#[test]
fn pinn_gradient_full() {
    let m = model(sizes::PINN, false, 0);
    check_scenario("pinn_gradient", &m, &times(0), |m, t, mode| {
        scenarios::pinn_gradient(m, t, mode)
    });
}

#[test]
fn pinn_gradient_rowwise_matches_full() {
    let m = model(sizes::PINN, false, 0);
    let t = times(0);
    check_scenario("pinn_gradient (rows)", &m, &t, |m, t, mode| {
        scenarios::pinn_gradient_rowwise(m, t, mode)
    });
    let full = gradients(
        &m,
        &t,
        &|m, t, mode| scenarios::pinn_gradient(m, t, mode),
        Mode::Auto,
        true,
    )
    .0;
    let rows = gradients(
        &m,
        &t,
        &|m, t, mode| scenarios::pinn_gradient_rowwise(m, t, mode),
        Mode::Auto,
        true,
    )
    .0;
    assert_close(
        "pinn_gradient",
        "full vs row-wise input gradient",
        &full.1,
        &rows.1,
    );
    assert_close(
        "pinn_gradient",
        "full vs row-wise parameter gradient",
        &full.2,
        &rows.2,
    );
}

#[test]
fn parameter_jacobian() {
    let m = model(sizes::PINN, false, 0);
    check_scenario("parameter_jacobian", &m, &times(0), |m, x, mode| {
        scenarios::parameter_jacobian(m, x, mode)
    });
}

fn rademacher(shape: [usize; 2], seed: u64) -> Tensor<Ad, 2> {
    let mut rng = StdRng::seed_from_u64(seed);
    let v: Vec<f64> = (0..shape[0] * shape[1])
        .map(|_| if rng.random_bool(0.5) { 1.0 } else { -1.0 })
        .collect();
    tensor(&burn::tensor::TensorData::new(v, shape))
}

#[test]
fn hutchinson_trace_three_ways_agree() {
    let m = model(sizes::HUTCHINSON, false, 0);
    let mut rng = StdRng::seed_from_u64(0);
    let x: Tensor<Ad, 2> = tensor(&random_data(&mut rng, &[12, 4], 0.0, 1.0));
    let v = rademacher([12, 4], 12);
    let variants = [Hutchinson::Vjp, Hutchinson::Jvp, Hutchinson::FullJacobian];
    let results: Vec<_> = variants
        .iter()
        .map(|&how| {
            let loss =
                |m: &Mlp<Ad>, x, mode| scenarios::hutchinson_trace(m, x, v.clone(), how, mode);
            let name = format!("hutchinson_trace ({how:?})");
            check_scenario_paths(&name, &m, &x, loss, how != Hutchinson::Jvp);
            gradients(&m, &x, &loss, Mode::Auto, true).0
        })
        .collect();
    for r in &results[1..] {
        assert_close("hutchinson_trace", "value", &[results[0].0], &[r.0]);
        assert_close("hutchinson_trace", "input gradient", &results[0].1, &r.1);
        assert_close(
            "hutchinson_trace",
            "parameter gradient",
            &results[0].2,
            &r.2,
        );
    }
}

#[test]
fn switching_off_takes_the_naive_reverse_path() {
    let m = model(sizes::BATCHED_JACOBIAN, false, 0);
    let x = data([10, 2], 0);
    let run = |switching| {
        with_switching(switching, || {
            reset_path_counts();
            let _ = scenarios::batched_jacobian_loss(&m, x.clone(), x.clone(), Mode::Auto);
            path_counts()
        })
    };
    let on = run(true);
    let off = run(false);
    assert_eq!(
        (on.forward, on.reverse),
        (1, 0),
        "switched: one forward pass"
    );
    assert_eq!(
        (off.forward, off.reverse),
        (0, 1),
        "naive: one nested backward (cotangent lanes)"
    );
}
