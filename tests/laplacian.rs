//! `laplacian`: closed form, central second differences, agreement with `hvp`, and
//! a Poisson residual loss differentiated w.r.t. input and parameters.

mod common;
#[path = "../scenarios/mod.rs"]
mod scenarios;

use burn::tensor::{Tensor, backend::Backend};
use burn_nested::check::{DEFAULT_STEP, check_gradients};
use burn_nested::{Mode, Pure, StatefulLayer, TensorFn, hvp, laplacian, value_and_laplacian};
use common::{F, random_data, tensor, values};
use rand::{SeedableRng, rngs::StdRng};
use scenarios::Mlp;

type Ad = burn_autodiff::Autodiff<F>;

/// `u(x, y) = sin(πx)·sin(πy)`, one output column.
#[derive(Clone, Copy)]
struct SinSin;

impl TensorFn<2, 2> for SinSin {
    fn apply<B: Backend>(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let s = (x * core::f64::consts::PI).sin();
        s.clone().narrow(1, 0, 1) * s.narrow(1, 1, 1)
    }
}

fn points(batch: usize, d: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    random_data(&mut rng, &[batch, d], -1.0, 1.0)
        .to_vec::<f64>()
        .unwrap()
}

fn mlp<B: Backend>(d: usize, seed: u64) -> Mlp<B> {
    B::seed(&Default::default(), seed);
    Mlp::new(&[d, 8, 8, 1], false, &Default::default())
}

fn assert_close(what: &str, a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (k, (p, q)) in a.iter().zip(b).enumerate() {
        assert!(
            (p - q).abs() <= tol * q.abs().max(1.0),
            "{what}[{k}]: {p} vs {q}"
        );
    }
}

#[test]
fn laplacian_of_sin_sin_is_minus_two_pi_squared_u() {
    let x = tensor::<F, 2>(&burn::tensor::TensorData::new(points(7, 2, 1), [7, 2]));
    let (u, lap) = value_and_laplacian(&Pure(SinSin), x, Mode::Auto);
    let u = values(u);
    let expected: Vec<f64> = u
        .iter()
        .map(|u| -2.0 * core::f64::consts::PI.powi(2) * u)
        .collect();
    assert_close("Δ sin·sin", &values(lap), &expected, 1e-12);
}

#[test]
fn laplacian_of_an_mlp_matches_second_differences_and_hvp() {
    let (batch, d) = (5, 3);
    let layer = StatefulLayer::new(mlp::<F>(d, 3));
    let xs = points(batch, d, 4);
    let x = tensor::<F, 2>(&burn::tensor::TensorData::new(xs.clone(), [batch, d]));
    let lap = values(laplacian(&layer, x.clone(), Mode::Auto));

    // Central second differences, one coordinate at a time.
    let h = 1e-4;
    let u_at = |v: &[f64]| {
        let t = tensor::<F, 2>(&burn::tensor::TensorData::new(v.to_vec(), [batch, d]));
        values(layer.forward(t))
    };
    let u0 = u_at(&xs);
    let mut fd = vec![0.0; batch];
    for i in 0..d {
        let (mut plus, mut minus) = (xs.clone(), xs.clone());
        for b in 0..batch {
            plus[b * d + i] += h;
            minus[b * d + i] -= h;
        }
        let (up, um) = (u_at(&plus), u_at(&minus));
        for b in 0..batch {
            fd[b] += (up[b] - 2.0 * u0[b] + um[b]) / (h * h);
        }
    }
    assert_close("Δu vs second differences", &lap, &fd, 1e-5);

    // Σₖ eₖᵀ H eₖ row by row from `hvp` of Σ_b u_b, directions eₖ in every row.
    let sum_u = layer.then(SumColumn);
    let mut from_hvp = vec![0.0; batch];
    for k in 0..d {
        let mut dir = vec![0.0; batch * d];
        for b in 0..batch {
            dir[b * d + k] = 1.0;
        }
        let v = tensor::<F, 2>(&burn::tensor::TensorData::new(dir, [batch, d]));
        let hv = values(hvp(&sum_u, x.clone(), v));
        for b in 0..batch {
            from_hvp[b] += hv[b * d + k];
        }
    }
    assert_close("Δu vs hvp", &lap, &from_hvp, 1e-12);
}

burn_nested::tensor_fn!(SumColumn, |u: 2| -> 1 { u.sum() });

#[test]
fn a_poisson_residual_loss_has_exact_gradients() {
    let (batch, d) = (6, 2);
    let model = mlp::<Ad>(d, 5);
    let x = tensor::<Ad, 2>(&burn::tensor::TensorData::new(
        points(batch, d, 6),
        [batch, d],
    ));
    let loss = |m: &Mlp<Ad>, x: Tensor<Ad, 2>| {
        let layer = StatefulLayer::new(m.clone());
        let f = SinSin.apply(x.clone()).reshape([x.dims()[0]]);
        let r = laplacian(&layer, x, Mode::Auto) + f;
        (r.clone() * r).sum()
    };
    let check = check_gradients(&model, &x, loss, DEFAULT_STEP);
    assert!(
        check.within(1e-6),
        "Poisson residual loss, AD vs FD:\n{check}"
    );
}

#[test]
#[should_panic(expected = "burn-nested: `laplacian` needs f(x) shaped [batch, 1]")]
fn laplacian_rejects_a_vector_valued_function() {
    let layer = StatefulLayer::new(Mlp::<F>::new(&[2, 4, 2], false, &Default::default()));
    let x = tensor::<F, 2>(&burn::tensor::TensorData::new(points(3, 2, 7), [3, 2]));
    let _ = laplacian(&layer, x, Mode::Auto);
}
