//! Every scenario of SCENARIOS.md at seed size in f64: AD against central
//! differences, switched against naive paths, Hutchinson's three forms.

mod common;

use burn::tensor::{Tensor, backend::Backend as _};
use burn_nested::check::{DEFAULT_STEP, check_gradients, param_gradients};
use burn_nested::scenarios::{self, Hutchinson, Mlp, sizes};
use burn_nested::{Mode, path_counts, reset_path_counts, with_switching};
use common::{F, random_data, tensor, values};
use rand::{Rng, SeedableRng, rngs::StdRng};

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

/// Loss value, input gradient and flat parameter gradient, with switching on or off.
fn gradients(
    m: &Mlp<Ad>,
    x: &Tensor<Ad, 2>,
    loss: &impl Fn(&Mlp<Ad>, Tensor<Ad, 2>) -> Tensor<Ad, 1>,
    switching: bool,
) -> (f64, Vec<f64>, Vec<f64>) {
    with_switching(switching, || check_gradients_ad_only(m, x, loss))
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
            burn_nested::switching_enabled()
        )
    }));
    (value, gx, param_gradients(m, &grads))
}

/// The full check of one scenario: AD vs FD below 1e-6, switched vs naive to 1e-10.
fn check_scenario(
    name: &str,
    m: &Mlp<Ad>,
    x: &Tensor<Ad, 2>,
    loss: impl Fn(&Mlp<Ad>, Tensor<Ad, 2>) -> Tensor<Ad, 1>,
) {
    let report = check_gradients(m, x, &loss, DEFAULT_STEP);
    println!("{name}\n{report}");
    assert!(
        report.within(FD_TOL),
        "{name}: AD differs from FD\n{report}"
    );

    let (v_on, gx_on, gp_on) = gradients(m, x, &loss, true);
    let (v_off, gx_off, gp_off) = gradients(m, x, &loss, false);
    assert_close(name, "value", &[v_on], &[v_off]);
    assert_close(name, "input gradient", &gx_on, &gx_off);
    assert_close(name, "parameter gradient", &gp_on, &gp_off);
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
    check_scenario("jacobian_regularization", &m, &x, |m, x| {
        scenarios::jacobian_regularization(m, x, y.clone(), Mode::AutoReverse)
    });
}

#[test]
fn batched_jacobian() {
    let m = model(sizes::BATCHED_JACOBIAN, false, 0);
    let x = data([10, 2], 0);
    let y = data([10, 2], 11);
    check_scenario("batched_jacobian", &m, &x, |m, x| {
        scenarios::batched_jacobian_loss(m, x, y.clone(), Mode::Auto)
    });
}

fn times(seed: u64) -> Tensor<Ad, 2> {
    let mut rng = StdRng::seed_from_u64(seed);
    tensor(&random_data(&mut rng, &[16, 1], 0.0, 1.0))
}

#[test]
fn pinn_gradient_full() {
    let m = model(sizes::PINN, false, 0);
    check_scenario("pinn_gradient", &m, &times(0), |m, t| {
        scenarios::pinn_gradient(m, t, Mode::AutoReverse)
    });
}

#[test]
fn pinn_gradient_rowwise_matches_full() {
    let m = model(sizes::PINN, false, 0);
    let t = times(0);
    check_scenario("pinn_gradient (rows)", &m, &t, |m, t| {
        scenarios::pinn_gradient_rowwise(m, t, Mode::Auto)
    });
    let full = gradients(
        &m,
        &t,
        &|m, t| scenarios::pinn_gradient(m, t, Mode::Auto),
        true,
    );
    let rows = gradients(
        &m,
        &t,
        &|m, t| scenarios::pinn_gradient_rowwise(m, t, Mode::Auto),
        true,
    );
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
    check_scenario("parameter_jacobian", &m, &times(0), |m, x| {
        scenarios::parameter_jacobian(m, x, Mode::Auto)
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
                |m: &Mlp<Ad>, x| scenarios::hutchinson_trace(m, x, v.clone(), how, Mode::Auto);
            check_scenario(&format!("hutchinson_trace ({how:?})"), &m, &x, loss);
            gradients(&m, &x, &loss, true)
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
