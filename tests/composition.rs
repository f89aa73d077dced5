//! `Dual` nested with `Autodiff` and with itself, and models lifted onto it.

mod common;

use burn::module::{AutodiffModule, Module};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_autodiff::Autodiff;
use burn_nested::{
    Dual,
    lift::{constant, lift_module, seed, split, tangent},
};
use common::{F, assert_close, random_data, tensor, values};
use rand::{SeedableRng, rngs::StdRng};

type Ad = Autodiff<F>;

#[derive(Module, Debug)]
struct Mlp<B: Backend> {
    l1: Linear<B>,
    l2: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    fn new(device: &B::Device) -> Self {
        Self {
            l1: LinearConfig::new(3, 5).init(device),
            l2: LinearConfig::new(5, 2).init(device),
        }
    }

    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.l2.forward(self.l1.forward(x).tanh())
    }
}

/// `Σ (J(x)·u)²` for the MLP at `x` in direction `u` (lanes 2), computed with
/// `Dual<B>` whatever `B` is; the model is lifted with `train`.
fn jvp_loss<B: Backend>(model: &Mlp<B>, x: Tensor<B, 2>, u: Tensor<B, 3>) -> Tensor<B, 1> {
    let lifted: Mlp<Dual<B>> = lift_module(model);
    let out = lifted.forward(seed(x, u));
    let t: Tensor<B, 3> = tangent(out, 2);
    (t.clone() * t).sum()
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    values(t)[0]
}

#[test]
fn reverse_over_forward_gradient_of_a_jvp_loss_matches_finite_differences() {
    let device = Default::default();
    let mut rng = StdRng::seed_from_u64(1);
    let model = Mlp::<Ad>::new(&device);
    let x = random_data(&mut rng, &[4, 3], -1.0, 1.0);
    let u = random_data(&mut rng, &[2, 4, 3], -1.0, 1.0);

    let xa = tensor::<Ad, 2>(&x).require_grad();
    let loss = jvp_loss(&model, xa.clone(), tensor::<Ad, 3>(&u));
    let grads = loss.backward();
    let gx = values(xa.grad(&grads).expect("x gradient"));
    let gw = values(
        model
            .l1
            .weight
            .grad(&grads)
            .expect("weight gradient reaches the model"),
    );

    // Central differences of the same loss on the plain backend.
    let plain = model.valid();
    let h = 1e-6;
    let eval =
        |m: &Mlp<F>, x: &TensorData| scalar(jvp_loss(m, tensor::<F, 2>(x), tensor::<F, 3>(&u)));
    let xv = x.clone().to_vec::<f64>().unwrap();
    for k in 0..xv.len() {
        let shifted = |s: f64| {
            let mut v = xv.clone();
            v[k] += s * h;
            eval(&plain, &TensorData::new(v, [4, 3]))
        };
        let fd = (shifted(1.0) - shifted(-1.0)) / (2.0 * h);
        assert!((fd - gx[k]).abs() < 1e-6, "x[{k}]: ad {} fd {fd}", gx[k]);
    }
    let w = values(plain.l1.weight.val());
    for k in 0..w.len() {
        let shifted = |s: f64| {
            let mut v = w.clone();
            v[k] += s * h;
            let mut m = plain.clone();
            m.l1.weight =
                m.l1.weight
                    .map(|_| Tensor::from_data(TensorData::new(v, [3, 5]), &device));
            eval(&m, &x)
        };
        let fd = (shifted(1.0) - shifted(-1.0)) / (2.0 * h);
        assert!((fd - gw[k]).abs() < 1e-6, "w[{k}]: ad {} fd {fd}", gw[k]);
    }
}

type Dd = Dual<Dual<F>>;

/// First and second directional derivatives `f'(x)·u` and `f''(x)·u²` of an
/// elementwise `f` through `Dual<Dual<F>>`.
fn two_derivatives(
    f: impl Fn(Tensor<Dd, 1>) -> Tensor<Dd, 1>,
    x: &[f64],
    u: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let n = x.len();
    let x = tensor::<F, 1>(&TensorData::new(x.to_vec(), [n]));
    let u = tensor::<F, 2>(&TensorData::new(u.to_vec(), [1, n]));
    // Inner level: x + εu. Outer level: (x + εu) + δu.
    let outer = seed::<Dual<F>, 1, 2>(seed(x, u.clone()), constant(u));
    let (_, first) = split::<Dual<F>, 1, 2>(f(outer));
    let first = first.expect("outer tangent");
    let second: Tensor<F, 3> = tangent(first.clone(), 1);
    (values(burn_nested::lift::primal(first)), values(second))
}

#[test]
fn forward_over_forward_second_derivatives_match_closed_forms() {
    let x = [-0.7, 0.1, 0.4, 1.3];
    let u = [0.5, -1.2, 2.0, 0.3];
    type Case = (
        fn(Tensor<Dd, 1>) -> Tensor<Dd, 1>,
        fn(f64) -> f64,
        fn(f64) -> f64,
    );
    let cases: [(&str, Case); 5] = [
        (
            "x^3",
            (|t| t.powf_scalar(3.0), |x| 3.0 * x * x, |x| 6.0 * x),
        ),
        ("sin", (|t| t.sin(), f64::cos, |x| -x.sin())),
        (
            "exp(2x)",
            (
                |t| (t * 2.0).exp(),
                |x| 2.0 * (2.0 * x).exp(),
                |x| 4.0 * (2.0 * x).exp(),
            ),
        ),
        (
            "tanh",
            (
                |t| t.tanh(),
                |x| 1.0 - x.tanh().powi(2),
                |x| -2.0 * x.tanh() * (1.0 - x.tanh().powi(2)),
            ),
        ),
        (
            "x*sin(x)",
            (
                |t| t.clone() * t.sin(),
                |x| x.sin() + x * x.cos(),
                |x| 2.0 * x.cos() - x * x.sin(),
            ),
        ),
    ];
    for (name, (f, d1, d2)) in cases {
        let (first, second) = two_derivatives(f, &x, &u);
        for i in 0..x.len() {
            let (e1, e2) = (d1(x[i]) * u[i], d2(x[i]) * u[i] * u[i]);
            assert!(
                (first[i] - e1).abs() < 1e-12 * e1.abs().max(1.0),
                "{name}' at {}: {} vs {e1}",
                x[i],
                first[i]
            );
            assert!(
                (second[i] - e2).abs() < 1e-12 * e2.abs().max(1.0),
                "{name}'' at {}: {} vs {e2}",
                x[i],
                second[i]
            );
        }
    }
}

/// A scalar function with couplings between entries, for Hessian-vector products.
fn coupled<B: Backend>(x: Tensor<B, 2>, w: Tensor<B, 2>) -> Tensor<B, 1> {
    let h = x.clone().matmul(w).tanh();
    (h.clone() * h).sum() + x.powf_scalar(3.0).sum()
}

#[test]
fn forward_over_reverse_hvp_equals_reverse_over_reverse() {
    let mut rng = StdRng::seed_from_u64(3);
    let x = random_data(&mut rng, &[3, 4], -1.0, 1.0);
    let w = random_data(&mut rng, &[4, 2], -1.0, 1.0);
    let v = random_data(&mut rng, &[1, 3, 4], -1.0, 1.0);

    // Autodiff<Dual<F>>: the gradient's tangent in direction v is H·v.
    type AdD = Autodiff<Dual<F>>;
    let xd = seed(tensor::<F, 2>(&x), tensor::<F, 3>(&v));
    let xa = Tensor::<AdD, 2>::from_inner(xd).require_grad();
    let wa = Tensor::<AdD, 2>::from_inner(constant(tensor::<F, 2>(&w)));
    let grads = coupled(xa.clone(), wa).backward();
    let hv_fwd: Tensor<F, 3> = tangent(xa.grad(&grads).expect("gradient"), 1);

    // Autodiff<Autodiff<F>>: differentiate <∇f, v> once more.
    type AdAd = Autodiff<Ad>;
    let x_in = tensor::<Ad, 2>(&x).require_grad();
    let x_out = Tensor::<AdAd, 2>::from_inner(x_in.clone()).require_grad();
    let w_out = Tensor::<AdAd, 2>::from_inner(tensor::<Ad, 2>(&w));
    let g = x_out
        .grad(&coupled(x_out.clone(), w_out).backward())
        .expect("gradient");
    let v2 = tensor::<Ad, 3>(&v).reshape([3, 4]);
    let hv_rev = x_in.grad(&(g * v2).sum().backward()).expect("hvp");

    let (a, b) = (values(hv_fwd), values(hv_rev));
    assert_eq!(a.len(), b.len());
    for (i, (p, q)) in a.iter().zip(&b).enumerate() {
        assert!(
            (p - q).abs() < 1e-10 * q.abs().max(1.0),
            "H·v[{i}]: {p} vs {q}"
        );
    }
}

#[derive(Module, Debug)]
struct Normed<B: Backend> {
    linear: Linear<B>,
    norm: BatchNorm<B>,
}

impl<B: Backend> Normed<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.norm.forward(self.linear.forward(x))
    }
}

#[test]
fn lifted_model_keeps_gradient_flow_and_leaves_running_statistics_alone() {
    let device = Default::default();
    let mut rng = StdRng::seed_from_u64(5);
    let model = Normed::<Ad> {
        linear: LinearConfig::new(3, 4).init(&device),
        norm: BatchNormConfig::new(4).init(&device),
    };
    let x = random_data(&mut rng, &[6, 3], -1.0, 1.0);
    let u = random_data(&mut rng, &[1, 6, 3], -1.0, 1.0);
    let mean_before = values(model.norm.running_mean.value_sync());
    let var_before = values(model.norm.running_var.value_sync());

    let lifted = lift_module(&model);
    let out = lifted.forward(seed(tensor::<Ad, 2>(&x), tensor::<Ad, 3>(&u)));
    let t: Tensor<Ad, 3> = tangent(out, 1);
    let grads = (t.clone() * t).sum().backward();

    let gw = values(
        model
            .linear
            .weight
            .grad(&grads)
            .expect("gradient reaches the original weight"),
    );
    assert!(
        gw.iter().any(|g| g.abs() > 1e-8),
        "weight gradient is all zero"
    );
    assert_eq!(values(model.norm.running_mean.value_sync()), mean_before);
    assert_eq!(values(model.norm.running_var.value_sync()), var_before);
    // The lifted copy ran in training mode (ad_enabled follows Autodiff) and did move
    // its own statistics.
    assert_ne!(
        values(lifted.norm.running_mean.value_sync().inner()),
        mean_before
    );
}

/// A long batch takes the chunked path of the `linear` rule (rows split so an
/// outer backward's weight gradient is a sum of short matmuls): values, tangents
/// and the outer gradients must be those of the plain computation.
#[test]
fn linear_over_a_long_batch_matches_the_plain_computation() {
    let device = Default::default();
    let mut rng = StdRng::seed_from_u64(8);
    let rows = 16384 + 512; // 2⁹·33: split into 64 chunks of 264 rows
    let layer = LinearConfig::new(3, 2).init::<Ad>(&device);
    let x = random_data(&mut rng, &[rows, 3], -1.0, 1.0);
    let u = random_data(&mut rng, &[2, rows, 3], -1.0, 1.0);
    let w = layer.weight.val();
    let b = layer.bias.as_ref().expect("a bias").val();

    // Through Dual<Autodiff>: Σ y² + Σ ẏ².
    let lifted: Linear<Dual<Ad>> = lift_module(&layer);
    let out = lifted.forward(seed(tensor::<Ad, 2>(&x), tensor::<Ad, 3>(&u)));
    let (y, ty) = split::<Ad, 2, 3>(out);
    let ty = ty.expect("a tangent");
    let loss = (y.clone() * y.clone()).sum() + (ty.clone() * ty.clone()).sum();
    let grads = loss.backward();
    let (gw, gb) = (
        values(w.grad(&grads).expect("w gradient")),
        values(b.grad(&grads).expect("b gradient")),
    );

    // The same by hand on Autodiff alone.
    let y_ref = tensor::<Ad, 2>(&x).matmul(w.clone()) + b.clone().unsqueeze();
    let ty_ref = tensor::<Ad, 3>(&u).matmul(w.clone().unsqueeze());
    let loss_ref = (y_ref.clone() * y_ref.clone()).sum() + (ty_ref.clone() * ty_ref.clone()).sum();
    let grads_ref = loss_ref.backward();

    let close = |what: &str, a: Vec<f64>, b: Vec<f64>| assert_close(what, &a, &b, 1e-12);
    close("value", values(y), values(y_ref));
    close("tangent", values(ty), values(ty_ref));
    close(
        "weight gradient",
        gw,
        values(w.grad(&grads_ref).expect("w")),
    );
    close("bias gradient", gb, values(b.grad(&grads_ref).expect("b")));
}
