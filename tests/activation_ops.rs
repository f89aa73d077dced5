//! Dot-product, transparency and finite-difference tests of every activation in
//! `burn::tensor::activation`: the ones `Dual` implements with direct rules
//! (`relu`, `leaky_relu`, `prelu`, `gelu`, `sigmoid`, `hard_sigmoid`, `log_sigmoid`,
//! `softmax`, `log_softmax`, `softmin`) and the ones Burn composes from float ops.

mod common;

use burn::tensor::{Tensor, TensorData, activation};
use burn_nested::lift::{constant, seed, split};
use common::{Check, Df, F, values};

/// Piecewise-linear activations have kinks (at 0 or at thresholds); random inputs
/// in `[-1, 1)` sit away from them, so finite differences stay on.
fn wide() -> Check {
    Check {
        lo: -3.0,
        hi: 3.0,
        ..Check::default()
    }
}

/// Burn's default `sigmoid` and `hard_sigmoid` (which `NdArray` uses) compute in
/// f32 even on `NdArray<f64>`: the outputs are f32-rounded, so central differences
/// with step 1e-6 are rounding noise and are switched off. The rules themselves are
/// checked against hand-computed values below.
fn f32_inside() -> Check {
    Check {
        finite_differences: false,
        ..wide()
    }
}

/// As [`f32_inside`], and the `Autodiff` oracle also runs its backward pass through
/// the f32 casts of the default `hard_sigmoid` (Autodiff has no own rule for it), so
/// its VJP is f32-rounded too: the dot-product test can hold only to f32 precision.
fn f32_inside_and_oracle() -> Check {
    Check {
        tol: 1e-6,
        ..f32_inside()
    }
}

// ---------------------------------------------------------------------------------
// Direct rules.

op_test!(relu, [[3, 4]], 2 => 2, |xs| activation::relu(xs[0].clone()));
op_test!(leaky_relu, [[3, 4]], 2 => 2, |xs| activation::leaky_relu(xs[0].clone(), 0.1));
op_test!(leaky_relu_negative_slope_above_one, [[3, 4]], 2 => 2, |xs| {
    activation::leaky_relu(xs[0].clone(), 1.5)
});
op_test!(prelu_per_channel, [[2, 3, 4], [1, 3, 1]], 3 => 3, |xs| {
    activation::prelu(xs[0].clone(), xs[1].clone().reshape([3]))
});
op_test!(prelu_single_weight, [[2, 3, 4], [1, 1, 1]], 3 => 3, |xs| {
    activation::prelu(xs[0].clone(), xs[1].clone().reshape([1]))
});
op_test!(prelu_rank_1, [[5], [1]], 1 => 1, |xs| activation::prelu(xs[0].clone(), xs[1].clone()));
// Autodiff's `gelu` backward is `gelu_backward`, the derivative of the tanh
// approximation (constants to 6 digits), not of the exact erf GELU that `gelu`
// computes; on [-3, 3] it differs from the exact derivative by up to 9e-4, so the
// dot-product test against Burn's `gelu` can only hold to that order (here it is
// off by 1.4e-4). `gelu_dot_product_against_the_composed_exact_gelu` below holds
// to 1e-12 against Burn's reverse mode of the erf formula, and the rule is checked
// by central differences (1e-6) and `gelu_tangent_is_the_exact_derivative`.
op_test!(gelu, [[3, 4]], 2 => 2, Check { tol: 5e-3, ..wide() }, |xs| {
    activation::gelu(xs[0].clone())
});
op_test!(gelu_approximate, [[3, 4]], 2 => 2, wide(), |xs| {
    activation::gelu_approximate(xs[0].clone())
});
op_test!(sigmoid, [[3, 4]], 2 => 2, f32_inside(), |xs| activation::sigmoid(xs[0].clone()));
op_test!(hard_sigmoid, [[3, 4]], 2 => 2, f32_inside_and_oracle(), |xs| {
    activation::hard_sigmoid(xs[0].clone(), 0.2, 0.5)
});
op_test!(log_sigmoid, [[3, 4]], 2 => 2, wide(), |xs| activation::log_sigmoid(xs[0].clone()));
op_test!(softmax_last_dim, [[3, 4]], 2 => 2, wide(), |xs| activation::softmax(xs[0].clone(), 1));
op_test!(softmax_first_dim, [[3, 4, 2]], 3 => 3, wide(), |xs| {
    activation::softmax(xs[0].clone(), 0)
});
op_test!(log_softmax_last_dim, [[3, 4]], 2 => 2, wide(), |xs| {
    activation::log_softmax(xs[0].clone(), 1)
});
op_test!(log_softmax_middle_dim, [[2, 4, 3]], 3 => 3, wide(), |xs| {
    activation::log_softmax(xs[0].clone(), 1)
});
op_test!(softmin_last_dim, [[3, 4]], 2 => 2, wide(), |xs| activation::softmin(xs[0].clone(), 1));
op_test!(softmin_first_dim, [[3, 4, 2]], 3 => 3, wide(), |xs| {
    activation::softmin(xs[0].clone(), 0)
});

// ---------------------------------------------------------------------------------
// Activations Burn composes from float ops.

op_test!(tanh, [[3, 4]], 2 => 2, wide(), |xs| activation::tanh(xs[0].clone()));
op_test!(silu, [[3, 4]], 2 => 2, f32_inside(), |xs| activation::silu(xs[0].clone()));
op_test!(hard_swish, [[3, 4]], 2 => 2, Check { lo: -5.0, hi: 5.0, ..f32_inside_and_oracle() }, |xs| {
    activation::hard_swish(xs[0].clone())
});
op_test!(mish, [[3, 4]], 2 => 2, wide(), |xs| activation::mish(xs[0].clone()));
op_test!(softplus, [[3, 4]], 2 => 2, wide(), |xs| activation::softplus(xs[0].clone(), 2.0));
op_test!(quiet_softmax, [[3, 4]], 2 => 2, wide(), |xs| {
    activation::quiet_softmax(xs[0].clone(), 1)
});
op_test!(elu, [[3, 4]], 2 => 2, wide(), |xs| activation::elu(xs[0].clone(), 0.7));
// `celu` divides by alpha and Autodiff's `div_scalar` backward forms `1 / alpha` in
// f32: alpha = 2 keeps that exact.
op_test!(celu, [[3, 4]], 2 => 2, wide(), |xs| activation::celu(xs[0].clone(), 2.0));
op_test!(selu, [[3, 4]], 2 => 2, wide(), |xs| activation::selu(xs[0].clone()));
op_test!(thresholded_relu, [[3, 4]], 2 => 2, wide(), |xs| {
    activation::thresholded_relu(xs[0].clone(), 0.5)
});
op_test!(glu, [[3, 4]], 2 => 2, f32_inside(), |xs| activation::glu(xs[0].clone(), 1));
op_test!(softsign, [[3, 4]], 2 => 2, wide(), |xs| activation::softsign(xs[0].clone()));
op_test!(hard_shrink, [[3, 4]], 2 => 2, wide(), |xs| activation::hard_shrink(xs[0].clone(), 0.5));
op_test!(soft_shrink, [[3, 4]], 2 => 2, wide(), |xs| activation::soft_shrink(xs[0].clone(), 0.5));
op_test!(shrink, [[3, 4]], 2 => 2, wide(), |xs| activation::shrink(xs[0].clone(), 0.5, 0.2));

// ---------------------------------------------------------------------------------
// Values the dot-product test cannot pin down.

fn dual_1d(x: Vec<f64>, t: Vec<f64>) -> Tensor<Df, 1> {
    let n = x.len();
    let x = Tensor::<F, 1>::from_data(TensorData::new(x, [n]), &Default::default());
    let t = Tensor::<F, 2>::from_data(TensorData::new(t, [1, n]), &Default::default());
    seed(x, t)
}

fn tangent_of(y: Tensor<Df, 1>) -> Vec<f64> {
    let (_, t) = split::<F, 1, 2>(y);
    values(t.expect("expected a tangent"))
}

/// The standard normal cdf, by a series accurate to f64 rounding for |x| <= 3.
fn normal_cdf(x: f64) -> f64 {
    // erf(z) = 2/√π Σ (−1)^n z^(2n+1) / (n! (2n+1))
    let z = x / core::f64::consts::SQRT_2;
    let (mut term, mut sum) = (z, z);
    for n in 1..200 {
        term *= -z * z / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    0.5 * (1.0 + core::f64::consts::FRAC_2_SQRT_PI * sum)
}

#[test]
fn gelu_tangent_is_the_exact_derivative() {
    let xs = vec![-2.5, -1.0, -0.3, 0.0, 0.4, 1.7, 3.0];
    let t = tangent_of(activation::gelu(dual_1d(xs.clone(), vec![1.0; xs.len()])));
    for (x, d) in xs.iter().zip(&t) {
        let pdf = (-x * x / 2.0).exp() / (2.0 * core::f64::consts::PI).sqrt();
        let exact = normal_cdf(*x) + x * pdf;
        assert!(
            (d - exact).abs() < 1e-7,
            "gelu'({x}) = {d}, expected {exact}"
        );
    }
}

#[test]
fn sigmoid_tangent_is_y_times_one_minus_y() {
    let xs = vec![-2.0, -0.5, 0.0, 0.7, 3.0];
    let y = activation::sigmoid(dual_1d(xs.clone(), vec![2.0; xs.len()]));
    let (p, t) = split::<F, 1, 2>(y);
    let (p, t) = (values(p), values(t.unwrap()));
    for ((x, y), d) in xs.iter().zip(&p).zip(&t) {
        assert_eq!(*d, 2.0 * y * (1.0 - y));
        // The exact derivative, to the f32 precision of the primal.
        let s = 1.0 / (1.0 + (-x).exp());
        assert!((d - 2.0 * s * (1.0 - s)).abs() < 1e-7);
    }
}

#[test]
fn hard_sigmoid_tangent_is_alpha_inside_and_zero_where_clamped() {
    // alpha x + beta = 0.2 x + 0.5: clamped below x = -2.5 and above x = 2.5.
    let t = tangent_of(activation::hard_sigmoid(
        dual_1d(
            vec![-3.0, -1.0, 0.0, 2.0, 4.0],
            vec![1.0, 2.0, 3.0, 4.0, 5.0],
        ),
        0.2,
        0.5,
    ));
    assert_eq!(t, vec![0.0, 0.2 * 2.0, 0.2 * 3.0, 0.2 * 4.0, 0.0]);
}

#[test]
fn relu_tangent_is_zero_at_and_below_zero() {
    let t = tangent_of(activation::relu(dual_1d(
        vec![-1.0, 0.0, 2.0],
        vec![5.0, 5.0, 5.0],
    )));
    assert_eq!(t, vec![0.0, 0.0, 5.0]);
}

#[test]
fn prelu_tangent_in_alpha_only_where_x_is_negative() {
    // Only alpha carries a tangent: d/dα (α x) = x where x < 0, 0 elsewhere.
    let x = constant(Tensor::<F, 1>::from_data(
        TensorData::new(vec![-2.0, 3.0, -0.5], [3]),
        &Default::default(),
    ));
    let alpha = dual_1d(vec![0.25], vec![1.0]);
    let t = tangent_of(activation::prelu(x, alpha));
    assert_eq!(t, vec![-2.0, 0.0, -0.5]);
}

#[test]
fn log_sigmoid_tangent_is_finite_for_large_inputs() {
    let t = tangent_of(activation::log_sigmoid(dual_1d(
        vec![-800.0, 800.0],
        vec![1.0, 1.0],
    )));
    assert_eq!(t, vec![1.0, 0.0]);
}

#[test]
fn softmax_tangents_sum_to_zero_along_dim() {
    let s = activation::softmax(
        dual_1d(vec![0.3, -1.0, 2.0, 0.5], vec![1.0, -2.0, 0.5, 3.0]),
        0,
    );
    let t = tangent_of(s);
    assert!(t.iter().sum::<f64>().abs() < 1e-15);
}

#[test]
fn activations_without_tangents_return_no_tangent() {
    let x = || {
        constant(Tensor::<F, 2>::from_data(
            TensorData::new(vec![0.3, -1.0, 2.0, 0.5], [2, 2]),
            &Default::default(),
        ))
    };
    let none = |y: Tensor<Df, 2>| split::<F, 2, 3>(y).1.is_none();
    assert!(none(activation::relu(x())));
    assert!(none(activation::leaky_relu(x(), 0.1)));
    assert!(none(activation::gelu(x())));
    assert!(none(activation::sigmoid(x())));
    assert!(none(activation::hard_sigmoid(x(), 0.2, 0.5)));
    assert!(none(activation::log_sigmoid(x())));
    assert!(none(activation::softmax(x(), 1)));
    assert!(none(activation::log_softmax(x(), 1)));
    assert!(none(activation::softmin(x(), 0)));
    let alpha = constant(Tensor::<F, 1>::from_data(
        TensorData::new(vec![0.2, 0.3], [2]),
        &Default::default(),
    ));
    assert!(none(activation::prelu(x(), alpha)));
}

#[test]
fn forward_over_reverse_through_log_sigmoid_gives_the_exact_hvp() {
    // `Autodiff<Dual<_>>` runs the default `log_sigmoid_backward` on `Dual` ops, so
    // the gradient's tangent is a Hessian-vector product:
    // d²/dx² log σ(x) = −σ(x)·σ(−x), a diagonal Hessian.
    use burn_autodiff::Autodiff;
    let xs = vec![-2.0, -0.5, 0.0, 0.7, 3.0];
    let vs = vec![1.0, -2.0, 0.5, 3.0, 1.5];
    let x = dual_1d(xs.clone(), vs.clone());
    let x = Tensor::<Autodiff<Df>, 1>::from_inner(x).require_grad();
    let grads = activation::log_sigmoid(x.clone()).sum().backward();
    let (g, hv) = split::<F, 1, 2>(x.grad(&grads).unwrap());
    let (g, hv) = (values(g), values(hv.unwrap()));
    for k in 0..xs.len() {
        let s = 1.0 / (1.0 + (-xs[k]).exp());
        assert!((g[k] - (1.0 - s)).abs() < 1e-14, "gradient at {k}");
        let expected = -s * (1.0 - s) * vs[k];
        assert!(
            (hv[k] - expected).abs() < 1e-14,
            "HVP at {k}: {} vs {expected}",
            hv[k]
        );
    }
}

/// Burn's `gelu` through `Dual` against the exact GELU composed from ops whose
/// reverse rules are exact in Burn: `x·(1 + erf(x·(1/√2)))/2` (a product with
/// `1/√2`, since Burn differentiates a division by a scalar with an f32
/// reciprocal). The dot-product test then holds to f64 rounding.
#[test]
fn gelu_dot_product_against_the_composed_exact_gelu() {
    use burn::tensor::backend::Backend;
    use common::{OpFn, jvp_of, random_data, random_lanes, vjps_of};
    use rand::{SeedableRng, rngs::StdRng};
    struct Gelu;
    impl OpFn<2, 2> for Gelu {
        fn call<B: Backend>(&self, xs: Vec<Tensor<B, 2>>) -> Tensor<B, 2> {
            activation::gelu(xs[0].clone())
        }
    }
    struct ComposedGelu;
    impl OpFn<2, 2> for ComposedGelu {
        fn call<B: Backend>(&self, xs: Vec<Tensor<B, 2>>) -> Tensor<B, 2> {
            let x = xs[0].clone();
            let cdf = ((x.clone() * core::f64::consts::FRAC_1_SQRT_2).erf() + 1.0) * 0.5;
            x * cdf
        }
    }
    let mut rng = StdRng::seed_from_u64(17);
    let x = random_data(&mut rng, &[3, 4], -3.0, 3.0);
    let lanes = 3;
    let u = random_lanes(&mut rng, &[&[3, 4]], lanes);
    let jvp: Vec<f64> = jvp_of::<F, 2, 2, 3, 3>(&Gelu, std::slice::from_ref(&x), &u, lanes);
    let us = u[0].clone().to_vec::<f64>().unwrap();
    for lane in 0..lanes {
        let v = random_data(&mut rng, &[3, 4], -1.0, 1.0);
        let vs = v.clone().to_vec::<f64>().unwrap();
        let vjp = &vjps_of::<F, 2, 2>(&ComposedGelu, std::slice::from_ref(&x), &v)[0];
        let part = |a: &[f64]| a[lane * 12..(lane + 1) * 12].to_vec();
        let left: f64 = part(&jvp).iter().zip(&vs).map(|(a, b)| a * b).sum();
        let right: f64 = vjp.iter().zip(part(&us)).map(|(a, b)| a * b).sum();
        let scale: f64 = part(&jvp).iter().zip(&vs).map(|(a, b)| (a * b).abs()).sum();
        assert!(
            (left - right).abs() <= 1e-12 * scale.max(1.0),
            "lane {lane}: ⟨v, Ju⟩ = {left}, ⟨vᵀJ, u⟩ = {right}"
        );
    }
}
