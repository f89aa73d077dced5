//! Property tests: random shapes, broadcasting and lane counts for the dot-product
//! test of core ops, and random MLP sizes and modes for the scenario losses
//! against central differences.
//!
//! Each property draws [`CASES`] cases from a seeded generator (a small stand-in
//! for proptest, which would add a dev-dependency whose feature unification
//! rebuilds `burn-flex`); the drawn parameters are printed before each case, so a
//! failure shows them (and is reproducible: the seeds are fixed).

mod common;
#[path = "../scenarios/mod.rs"]
mod scenarios;

use burn::tensor::{Tensor, activation, backend::Backend};
use burn_nested::Mode;
use burn_nested::check::{DEFAULT_STEP, check_gradients};
use common::{Check, OpFn, check_op_with, random_data, tensor};
use rand::{Rng, SeedableRng, rngs::StdRng};
use scenarios::{Hutchinson, Mlp};

type Ad = burn_autodiff::Autodiff<common::F>;

/// Cases per property.
const CASES: u64 = 32;

/// Runs `property` on [`CASES`] generators seeded from `base`.
fn for_cases(base: u64, mut property: impl FnMut(u64, &mut StdRng)) {
    for case in 0..CASES {
        let seed = base * 1000 + case;
        let mut rng = StdRng::seed_from_u64(seed);
        property(seed, &mut rng);
    }
}

/// A rank-3 shape with dims in `1..=4`.
fn shape3(rng: &mut StdRng) -> [usize; 3] {
    core::array::from_fn(|_| rng.random_range(1..=4))
}

/// `shape` with a random subset of dims set to 1 (a shape that broadcasts to it).
fn broadcast_of(rng: &mut StdRng, shape: [usize; 3]) -> [usize; 3] {
    core::array::from_fn(|d| if rng.random_bool(0.5) { 1 } else { shape[d] })
}

/// One or two lane counts in `1..=5`.
fn lanes(rng: &mut StdRng) -> Vec<usize> {
    let n = rng.random_range(1..=2);
    (0..n).map(|_| rng.random_range(1..=5)).collect()
}

/// `x ∘ y` for an elementwise binary op, with broadcasting, then a smooth map.
struct Binary(usize);

impl OpFn<3, 3> for Binary {
    fn call<B: Backend>(&self, mut xs: Vec<Tensor<B, 3>>) -> Tensor<B, 3> {
        let y = xs.pop().unwrap();
        let x = xs.pop().unwrap();
        match self.0 {
            0 => (x + y).tanh(),
            1 => (x - y).sin(),
            2 => x.exp() * y,
            3 => x / y,
            _ => x.powf(y),
        }
    }
}

/// Batched matmul with broadcast batch dims.
struct Matmul;

impl OpFn<3, 3> for Matmul {
    fn call<B: Backend>(&self, mut xs: Vec<Tensor<B, 3>>) -> Tensor<B, 3> {
        let b = xs.pop().unwrap();
        let a = xs.pop().unwrap();
        a.tanh().matmul(b)
    }
}

/// A reduction or normalization along `dim`.
struct AlongDim(usize, usize);

impl OpFn<3, 3> for AlongDim {
    fn call<B: Backend>(&self, mut xs: Vec<Tensor<B, 3>>) -> Tensor<B, 3> {
        let x = xs.pop().unwrap();
        let d = self.1;
        match self.0 {
            0 => x.exp().sum_dim(d),
            1 => (x.clone() * x).mean_dim(d),
            2 => activation::softmax(x, d),
            3 => activation::log_softmax(x * 2.0, d),
            _ => x.cumsum(d).sin(),
        }
    }
}

/// Structural ops: swap two dims, slice, reshape.
struct Structural(usize, usize);

impl OpFn<3, 3> for Structural {
    fn call<B: Backend>(&self, mut xs: Vec<Tensor<B, 3>>) -> Tensor<B, 3> {
        let x = xs.pop().unwrap().swap_dims(self.0, self.1);
        let [a, b, c] = x.dims();
        let x = x.slice([0..a, 0..b, (c - 1) / 2..c]).cos();
        let [a, b, c] = x.dims();
        x.reshape([1, a * b, c]) * 3.0
    }
}

fn positive() -> Check {
    Check {
        lo: 0.5,
        hi: 2.0,
        ..Check::default()
    }
}

#[test]
fn binary_ops_broadcast() {
    for_cases(1, |seed, rng| {
        let x = shape3(rng);
        let y = broadcast_of(rng, x);
        let (x, y) = if rng.random_bool(0.5) { (y, x) } else { (x, y) };
        let op = rng.random_range(0..5);
        let lanes = lanes(rng);
        println!("case {seed}: op {op}, shapes {x:?} {y:?}, lanes {lanes:?}");
        // Division and powers on positive inputs.
        let check = if op >= 3 {
            positive()
        } else {
            Check::default()
        };
        check_op_with::<3, 3, 4, 4>(&Binary(op), &[&x, &y], check, &lanes, seed);
    });
}

#[test]
fn matmul_broadcasts_batch_dims() {
    for_cases(2, |seed, rng| {
        let [batch, m, k] = shape3(rng);
        let n = rng.random_range(1..=4);
        let mut batch_of = || if rng.random_bool(0.5) { 1 } else { batch };
        let (a, b) = ([batch_of(), m, k], [batch_of(), k, n]);
        let lanes = lanes(rng);
        println!("case {seed}: {a:?} @ {b:?}, lanes {lanes:?}");
        check_op_with::<3, 3, 4, 4>(&Matmul, &[&a, &b], Check::default(), &lanes, seed);
    });
}

#[test]
fn ops_along_a_dim() {
    for_cases(3, |seed, rng| {
        let shape = shape3(rng);
        let (op, dim) = (rng.random_range(0..5), rng.random_range(0..3));
        let lanes = lanes(rng);
        println!("case {seed}: op {op} along {dim}, shape {shape:?}, lanes {lanes:?}");
        let f = AlongDim(op, dim);
        check_op_with::<3, 3, 4, 4>(&f, &[&shape], Check::default(), &lanes, seed);
    });
}

#[test]
fn structural_ops() {
    for_cases(4, |seed, rng| {
        let shape = shape3(rng);
        let (d0, d1) = (rng.random_range(0..3), rng.random_range(0..3));
        let lanes = lanes(rng);
        println!("case {seed}: swap {d0} {d1}, shape {shape:?}, lanes {lanes:?}");
        let f = Structural(d0, d1);
        check_op_with::<3, 3, 4, 4>(&f, &[&shape], Check::default(), &lanes, seed);
    });
}

/// Which scenario loss to check.
#[derive(Debug, Clone, Copy)]
enum Loss {
    Jacobian { batch_norm: bool },
    Batched,
    Pinn,
    HutchinsonVjp,
    HutchinsonJvp,
}

/// AD gradients (input and parameters) of a nested loss on a random MLP, batch
/// and mode equal central differences.
#[test]
fn scenario_losses_on_random_mlps_match_finite_differences() {
    for_cases(5, |seed, rng| {
        let loss = match rng.random_range(0..6) {
            0 => Loss::Jacobian { batch_norm: false },
            1 => Loss::Jacobian { batch_norm: true },
            2 => Loss::Batched,
            3 => Loss::Pinn,
            4 => Loss::HutchinsonVjp,
            _ => Loss::HutchinsonJvp,
        };
        let mode = match rng.random_range(0..4) {
            0 => Mode::FORWARD,
            1 => Mode::forward_chunked(rng.random_range(1..=3)),
            2 => Mode::AutoReverse,
            _ => Mode::Auto,
        };
        let width_in = rng.random_range(1..=3);
        let hidden: Vec<usize> = (0..rng.random_range(1..=2))
            .map(|_| rng.random_range(2..=5))
            .collect();
        let hutchinson = matches!(loss, Loss::HutchinsonVjp | Loss::HutchinsonJvp);
        let width_out = if hutchinson {
            width_in
        } else {
            rng.random_range(1..=3)
        };
        let batch = rng.random_range(2..=5);
        let mut sizes = vec![width_in];
        sizes.extend(&hidden);
        sizes.push(width_out);
        println!("case {seed}: {loss:?} {mode:?}, sizes {sizes:?}, batch {batch}");

        let batch_norm = matches!(loss, Loss::Jacobian { batch_norm: true });
        Ad::seed(&Default::default(), seed);
        let model = Mlp::<Ad>::new(&sizes, batch_norm, &Default::default());
        let x = tensor::<Ad, 2>(&random_data(rng, &[batch, width_in], -1.0, 1.0));
        let y = tensor::<Ad, 2>(&random_data(rng, &[batch, width_out], -1.0, 1.0));
        let v = tensor::<Ad, 2>(&random_data(rng, &[batch, width_in], -1.0, 1.0));
        let f = |m: &Mlp<Ad>, x: Tensor<Ad, 2>| match loss {
            Loss::Jacobian { .. } => scenarios::jacobian_regularization(m, x, y.clone(), mode),
            Loss::Batched => scenarios::batched_jacobian_loss(m, x, y.clone(), mode),
            Loss::Pinn => scenarios::pinn_gradient(m, x, mode),
            Loss::HutchinsonVjp => {
                scenarios::hutchinson_trace(m, x, v.clone(), Hutchinson::Vjp, mode)
            }
            Loss::HutchinsonJvp => {
                scenarios::hutchinson_trace(m, x, v.clone(), Hutchinson::Jvp, mode)
            }
        };
        let report = check_gradients(&model, &x, f, DEFAULT_STEP);
        assert!(
            report.within(1e-6),
            "case {seed}: {loss:?} {mode:?} sizes {sizes:?} batch {batch}\n{report}"
        );
    });
}
