//! Each transform outside any reverse pass against a direct computation, and the
//! errors bad input gets.

mod common;
#[path = "../scenarios/mod.rs"]
mod scenarios;

use burn::tensor::Tensor;
use burn_nested::{
    Mode, Pure, StatefulLayer, TensorFn, batched_jacobian, gradient, hvp, jacobian, jvp, jvp_lanes,
    param_jacobian, value_and_jacobian, vjp,
};
use common::{F, TanhLinear, random_data, tensor, values};
use rand::{SeedableRng, rngs::StdRng};
use scenarios::{Mlp, SumOfSquares};

const B_ROWS: usize = 3;
const N_IN: usize = 4;
const N_OUT: usize = 2;

fn setup() -> (TanhLinear, Vec<f64>, Tensor<F, 2>, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(9);
    let w = random_data(&mut rng, &[N_IN, N_OUT], -1.0, 1.0);
    let x = random_data(&mut rng, &[B_ROWS, N_IN], -1.0, 1.0);
    let wv = w.clone().to_vec::<f64>().unwrap();
    let xt = tensor::<F, 2>(&x);
    let y = values(TanhLinear(w.clone()).apply(xt.clone()));
    (TanhLinear(w), wv, xt, y)
}

/// ∂y[b,j]/∂x[c,i] = δ_bc (1 − y[b,j]²) W[i,j], as a row-major [out, in] matrix.
fn expected_jacobian(w: &[f64], y: &[f64]) -> Vec<f64> {
    let (n_out, n_in) = (B_ROWS * N_OUT, B_ROWS * N_IN);
    let mut j = vec![0.0; n_out * n_in];
    for b in 0..B_ROWS {
        for o in 0..N_OUT {
            for i in 0..N_IN {
                let d = 1.0 - y[b * N_OUT + o].powi(2);
                j[(b * N_OUT + o) * n_in + b * N_IN + i] = d * w[i * N_OUT + o];
            }
        }
    }
    j
}

fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (k, (p, q)) in a.iter().zip(b).enumerate() {
        assert!(
            (p - q).abs() < 1e-12 * q.abs().max(1.0),
            "{what}[{k}]: {p} vs {q}"
        );
    }
}

fn matvec(j: &[f64], rows: usize, u: &[f64]) -> Vec<f64> {
    let cols = u.len();
    (0..rows)
        .map(|r| (0..cols).map(|c| j[r * cols + c] * u[c]).sum())
        .collect()
}

#[test]
fn jacobian_in_every_mode_equals_the_closed_form() {
    let (f, w, x, y) = setup();
    let expected = expected_jacobian(&w, &y);
    for mode in [
        Mode::FORWARD,
        Mode::forward_chunked(5),
        Mode::AutoReverse,
        Mode::Auto,
    ] {
        let j = jacobian(&Pure(f.clone()), x.clone(), mode);
        assert_eq!(j.dims(), [B_ROWS * N_OUT, B_ROWS * N_IN]);
        assert_close(&format!("jacobian {mode:?}"), &values(j), &expected);
    }
    let (value, _) = value_and_jacobian(&Pure(f), x, Mode::Auto);
    assert_close("value", &values(value), &y);
}

#[test]
fn batched_jacobian_equals_the_diagonal_blocks() {
    let (f, w, x, y) = setup();
    let full = expected_jacobian(&w, &y);
    for mode in [
        Mode::FORWARD,
        Mode::forward_chunked(3),
        Mode::AutoReverse,
        Mode::Auto,
    ] {
        let j = values(batched_jacobian(&Pure(f.clone()), x.clone(), mode));
        let mut expected = Vec::new();
        for b in 0..B_ROWS {
            for o in 0..N_OUT {
                for i in 0..N_IN {
                    expected.push(full[(b * N_OUT + o) * (B_ROWS * N_IN) + b * N_IN + i]);
                }
            }
        }
        assert_close(&format!("batched {mode:?}"), &j, &expected);
    }
}

#[test]
fn jvp_and_vjp_are_jacobian_products() {
    let (f, w, x, y) = setup();
    let j = expected_jacobian(&w, &y);
    let mut rng = StdRng::seed_from_u64(2);
    let u = random_data(&mut rng, &[B_ROWS, N_IN], -1.0, 1.0);
    let v = random_data(&mut rng, &[B_ROWS, N_OUT], -1.0, 1.0);
    let uv = u.clone().to_vec::<f64>().unwrap();
    let vv = v.clone().to_vec::<f64>().unwrap();

    let ju = values(jvp(&Pure(f.clone()), x.clone(), tensor::<F, 2>(&u)));
    assert_close("jvp", &ju, &matvec(&j, B_ROWS * N_OUT, &uv));

    let n_in = B_ROWS * N_IN;
    let vtj: Vec<f64> = (0..n_in)
        .map(|c| (0..B_ROWS * N_OUT).map(|r| vv[r] * j[r * n_in + c]).sum())
        .collect();
    for mode in [Mode::FORWARD, Mode::forward_chunked(4), Mode::AutoReverse] {
        let got = values(vjp(&Pure(f.clone()), x.clone(), tensor::<F, 2>(&v), mode));
        assert_close(&format!("vjp {mode:?}"), &got, &vtj);
    }

    // Two distinct directions at once (u and a second random w), so a swap of the
    // lanes or a broadcast of lane 0 fails.
    let w = random_data(&mut rng, &[B_ROWS, N_IN], -1.0, 1.0);
    let jw = matvec(&j, B_ROWS * N_OUT, &w.clone().to_vec::<f64>().unwrap());
    let lanes = Tensor::cat(
        vec![
            tensor::<F, 2>(&u).reshape([1, B_ROWS, N_IN]),
            tensor::<F, 2>(&w).reshape([1, B_ROWS, N_IN]),
        ],
        0,
    );
    let both: Tensor<F, 3> = jvp_lanes(&Pure(f), x, lanes);
    let both = values(both);
    assert_close("jvp_lanes lane 0", &both[..ju.len()], &ju);
    assert_close("jvp_lanes lane 1", &both[ju.len()..], &jw);
}

#[test]
fn gradient_and_hvp_match_burn_autodiff() {
    let (f, _, x, _) = setup();
    let head = burn_nested::layer::Then::<_, _, 2> {
        inner: Pure(f.clone()),
        outer: SumOfSquares,
    };
    // Burn's own reverse mode as the reference.
    type Ad = burn_autodiff::Autodiff<F>;
    let xa = Tensor::<Ad, 2>::from_data(x.to_data(), &Default::default()).require_grad();
    let reference = values(
        xa.grad(&SumOfSquares.apply(f.apply(xa.clone())).backward())
            .unwrap(),
    );
    for mode in [Mode::FORWARD, Mode::AutoReverse, Mode::Auto] {
        assert_close(
            &format!("gradient {mode:?}"),
            &values(gradient(&head, x.clone(), mode)),
            &reference,
        );
    }

    // H·v against central differences of the gradient.
    let mut rng = StdRng::seed_from_u64(4);
    let v = random_data(&mut rng, &[B_ROWS, N_IN], -1.0, 1.0);
    let hv = values(hvp(&head, x.clone(), tensor::<F, 2>(&v)));
    let h = 1e-5;
    let at = |s: f64| {
        values(gradient(
            &head,
            x.clone() + tensor::<F, 2>(&v) * s,
            Mode::AutoReverse,
        ))
    };
    let (p, m) = (at(h), at(-h));
    for k in 0..hv.len() {
        let fd = (p[k] - m[k]) / (2.0 * h);
        assert!((hv[k] - fd).abs() < 1e-7, "hvp[{k}]: {} vs {fd}", hv[k]);
    }
}

#[test]
fn parameter_jacobian_forward_and_reverse_agree() {
    let device = Default::default();
    let model = Mlp::<F>::new(&[2, 5, 3], false, &device);
    let layer = StatefulLayer::new(model);
    let mut rng = StdRng::seed_from_u64(6);
    let x = tensor::<F, 2>(&random_data(&mut rng, &[4, 2], -1.0, 1.0));
    let fwd = param_jacobian(&layer, x.clone(), Mode::FORWARD);
    let rev = param_jacobian(&layer, x, Mode::AutoReverse);
    assert_eq!(fwd.dims(), [12, 2 * 5 + 5 + 5 * 3 + 3]);
    assert_close("param_jacobian", &values(fwd), &values(rev));
}

// ---- bad input -------------------------------------------------------------

#[test]
#[should_panic(expected = "needs a tangent shaped like the input")]
fn jvp_rejects_a_tangent_of_the_wrong_shape() {
    let (f, _, x, _) = setup();
    let _ = jvp(
        &Pure(f),
        x,
        Tensor::<F, 2>::zeros([B_ROWS, N_IN + 1], &Default::default()),
    );
}

#[test]
#[should_panic(expected = "needs a cotangent shaped like the output")]
fn vjp_rejects_a_cotangent_of_the_wrong_shape() {
    let (f, _, x, _) = setup();
    let v = Tensor::<F, 2>::zeros([B_ROWS, N_OUT + 1], &Default::default());
    let _ = vjp(&Pure(f), x, v, Mode::AutoReverse);
}

#[test]
#[should_panic(expected = "needs a scalar output")]
fn gradient_rejects_a_vector_output() {
    let (f, _, x, _) = setup();
    let _ = gradient(&Pure(f), x, Mode::Auto);
}

burn_nested::tensor_fn!(BatchSum, |y: 2| -> 2 { y.sum_dim(0) });

#[test]
#[should_panic(expected = "output batch size")]
fn batched_jacobian_rejects_a_changed_batch_size() {
    let (_, _, x, _) = setup();
    let _ = batched_jacobian(&Pure(BatchSum), x, Mode::Auto);
}

#[test]
#[should_panic(expected = "zero lanes per pass")]
fn zero_chunk_is_rejected() {
    let (f, _, x, _) = setup();
    let _ = jacobian(&Pure(f), x, Mode::forward_chunked(0));
}

#[test]
#[should_panic(expected = "needs a vector of")]
fn unflatten_rejects_a_wrong_length() {
    let model = Mlp::<F>::new(&[2, 3], false, &Default::default());
    let _ = burn_nested::params::unflatten_params(model, Tensor::zeros([4], &Default::default()));
}

burn_nested::tensor_fn!(PoolSum, |x: 4| -> 1 {
    burn::tensor::module::avg_pool2d(x, [2, 2], [2, 2], [0, 0], true, false).sum()
});

#[test]
#[should_panic(
    expected = "`avg_pool2d_backward` was reached by reverse mode over an `Autodiff` backend"
)]
fn reverse_over_reverse_through_pooling_is_refused_naming_the_op() {
    type Ad = burn_autodiff::Autodiff<F>;
    let x = Tensor::<Ad, 4>::ones([1, 1, 4, 4], &Default::default()).require_grad();
    let _ = burn_nested::settings::with_switching(false, || {
        gradient(&Pure(PoolSum), x, Mode::AutoReverse)
    });
}

#[test]
fn pooling_inside_a_loss_works_in_forward_mode() {
    type Ad = burn_autodiff::Autodiff<F>;
    let x = Tensor::<Ad, 4>::ones([1, 1, 4, 4], &Default::default()).require_grad();
    let g = gradient(&Pure(PoolSum), x, Mode::FORWARD);
    assert_close("avg-pool gradient", &values(g), &[0.25; 16]);
}

burn_nested::tensor_fn!(Halve, |y: 2| -> 2 { y * 0.5 });
burn_nested::tensor_fn!(Shift, |x: 2| -> 2 { x + 1.0 });

/// Compositions chain: `Pure(f).then(g).then(h)` and `.after(k)` differentiate
/// `h ∘ g ∘ f ∘ k`, the same function `layer.then(...)` builds in one struct.
#[test]
fn compositions_chain_with_then_and_after() {
    let (f, _, x, _) = setup();
    let x_plus_one = x.clone() + 1.0;
    // ∇ Σ (f(x + 1) / 2)², two ways.
    let chained = Pure(f.clone()).then(Halve).then(SumOfSquares).after(Shift);
    let by_hand = burn_nested::layer::Then::<_, _, 2> {
        inner: Pure(f),
        outer: HalfSumOfSquares,
    };
    let got = values(gradient(&chained, x, Mode::Auto));
    let want = values(gradient(&by_hand, x_plus_one, Mode::Auto));
    assert_close("chained composition", &got, &want);
}

burn_nested::tensor_fn!(HalfSumOfSquares, |y: 2| -> 1 {
    let h = y * 0.5;
    (h.clone() * h).sum()
});

/// `divergence` on an MLP vector field `R³ → R³`: outside a loss, forward lanes
/// and the nested backward each equal central differences of `Σᵢ ∂fᵢ/∂xᵢ` row by
/// row; inside a loss, the parameter gradient of `Σ_b (∇·f)²` by either path
/// equals central differences of that loss over all 59 parameters.
#[test]
fn divergence_matches_central_differences_on_both_paths() {
    use burn_nested::check::{fd_param_gradient, param_gradients_or_zeros, scalar};
    use burn_nested::divergence;
    use burn_nested::settings::{path_counts, reset_path_counts};
    type Ad = burn_autodiff::Autodiff<F>;
    let (rows, d) = (4, 3);
    let device = Default::default();
    let mut rng = StdRng::seed_from_u64(31);
    let xd = random_data(&mut rng, &[rows, d], -1.0, 1.0);
    let model = Mlp::<Ad>::new(&[d, 8, d], false, &device);

    // Central differences of the trace, from plain evaluations of the model.
    let inner = burn::module::AutodiffModule::valid(&model);
    let eval = |x: Vec<f64>| {
        values(burn_nested::Forward::forward(
            &inner,
            tensor::<F, 2>(&burn::tensor::TensorData::new(x, [rows, d])),
        ))
    };
    let x0 = xd.clone().to_vec::<f64>().unwrap();
    let h = 1e-5;
    let fd: Vec<f64> = (0..rows)
        .map(|b| {
            (0..d)
                .map(|i| {
                    let k = b * d + i;
                    let (mut p, mut m) = (x0.clone(), x0.clone());
                    p[k] += h;
                    m[k] -= h;
                    (eval(p)[k] - eval(m)[k]) / (2.0 * h)
                })
                .sum()
        })
        .collect();
    let layer = StatefulLayer::from_ref(&inner);
    for (mode, forward) in [(Mode::FORWARD, true), (Mode::AutoReverse, false)] {
        reset_path_counts();
        let div = values(divergence(&layer, tensor::<F, 2>(&xd), mode));
        let c = path_counts();
        assert_eq!(
            (c.forward > 0, c.reverse > 0),
            (forward, !forward),
            "{mode:?} path"
        );
        assert_eq!(div.len(), rows);
        for (got, want) in div.iter().zip(&fd) {
            assert!((got - want).abs() < 1e-8, "{mode:?}: {div:?} vs {fd:?}");
        }
    }

    // Inside a loss: the parameter gradient of Σ (∇·f)².
    let loss = |m: &Mlp<Ad>, mode: Mode| {
        let x = tensor::<Ad, 2>(&xd);
        divergence(&StatefulLayer::from_ref(m), x, mode)
            .powf_scalar(2.0)
            .sum()
    };
    let fd_params = fd_param_gradient(|m: &Mlp<Ad>| scalar(loss(m, Mode::FORWARD)), &model, 1e-5);
    assert_eq!(fd_params.len(), 3 * 8 + 8 + 8 * 3 + 3);
    for mode in [Mode::FORWARD, Mode::AutoReverse] {
        // The output bias does not enter the divergence: its gradient is zero.
        let grads = param_gradients_or_zeros(&model, &loss(&model, mode).backward());
        assert_eq!(grads.len(), fd_params.len());
        for (k, (got, want)) in grads.iter().zip(&fd_params).enumerate() {
            assert!(
                (got - want).abs() < 1e-6 * want.abs().max(1.0),
                "{mode:?} parameter {k}: {got} vs {want}"
            );
        }
    }
}

#[test]
#[should_panic(expected = "`divergence` needs a vector field")]
fn divergence_rejects_a_field_of_another_width() {
    let device = Default::default();
    let model = Mlp::<F>::new(&[3, 4, 2], false, &device);
    let x = Tensor::<F, 2>::ones([2, 3], &device);
    let _ = burn_nested::divergence(&StatefulLayer::from_ref(&model), x, Mode::Auto);
}

burn_nested::tensor_fn!(Prod, |x: 2| -> 1 { x.prod() });
burn_nested::tensor_fn!(GradProd, |x: 2| -> 2 {
    burn_nested::gradient(&Pure(Prod), x, Mode::Auto)
});

/// A reverse defect met inside a transform nested in the function still reaches
/// the outer transform: the outer `jacobian`, asked for reverse mode, learns that
/// a backward pass through the inner gradient's `prod` would be inexact (Burn's
/// `prod` backward is `exp Σ log x`, NaN at a zero entry) and keeps to forward
/// lanes, the one exception to an explicit mode. The Hessian of `x₀x₁x₂` at a
/// point with a zero entry (all NaN when the outer takes the backward pass).
#[test]
fn a_defect_inside_a_nested_transform_reaches_the_outer_probe() {
    let x = tensor::<F, 2>(&burn::tensor::TensorData::new(vec![0.0, 2.0, 3.0], [1, 3]));
    burn_nested::settings::reset_path_counts();
    let h = values(jacobian(&Pure(GradProd), x, Mode::AutoReverse));
    let counts = burn_nested::settings::path_counts();
    assert!(counts.forward > 0 && counts.reverse == 0, "{counts:?}");
    let want = [0.0, 3.0, 2.0, 3.0, 0.0, 0.0, 2.0, 0.0, 0.0];
    assert_eq!(h.len(), 9);
    for (k, (got, want)) in h.iter().zip(want).enumerate() {
        assert!(
            (got - want).abs() < 1e-12,
            "H[{k}] = {got}, want {want}: {h:?}"
        );
    }
}
