//! Hessian-vector products of scalar losses: forward-over-reverse
//! (`Autodiff<Dual<F>>`, whose backward pass calls `Dual`'s module backward methods
//! with tangents) against reverse-over-reverse (`Autodiff<Autodiff<F>>`) or against
//! central differences of reverse-mode gradients, for ops whose backward methods
//! `Autodiff` cannot differentiate a second time.
#![allow(dead_code)]

use burn::tensor::{Tensor, TensorData, backend::Backend};
use burn_autodiff::Autodiff;
use burn_nested::{
    Dual,
    lift::{seed, tangent},
};
use rand::{SeedableRng, rngs::StdRng};

use crate::common::{Ad, F, random_data, random_lanes, tensor, values};

/// A backend-generic scalar loss of `N` same-rank inputs.
pub trait LossFn<const D: usize> {
    fn call<B: Backend>(&self, xs: Vec<Tensor<B, D>>) -> Tensor<B, 1>;
}

/// What the forward-over-reverse product is compared with.
#[derive(Clone, Copy, Debug)]
pub enum Oracle {
    /// `Autodiff<Autodiff<F>>`, to 1e-10 relative.
    ReverseOverReverse,
    /// Central differences of `Autodiff<F>` gradients, to 1e-6 relative.
    Differences,
    /// Wider central differences, to 1e-3 relative, for inner backward passes that
    /// are only f32-accurate (NdArray's deformable convolution accumulates its input
    /// gradient in f32).
    CoarseDifferences,
}

impl Oracle {
    /// Relative tolerance of `H·v`, and of the gradient's primal against
    /// `Autodiff<F>`'s.
    fn tolerances(self) -> (f64, f64) {
        match self {
            Oracle::ReverseOverReverse => (1e-10, 1e-12),
            Oracle::Differences => (1e-6, 1e-12),
            Oracle::CoarseDifferences => (1e-3, 1e-5),
        }
    }
}

type AdD = Autodiff<Dual<F>>;
type AdAd = Autodiff<Ad>;

fn flat(d: &TensorData) -> Vec<f64> {
    d.clone().convert::<f64>().to_vec::<f64>().unwrap()
}

/// Gradients of the loss at `xs` by `Autodiff<F>`.
fn gradient<const D: usize>(f: &impl LossFn<D>, xs: &[TensorData]) -> Vec<Vec<f64>> {
    let ad: Vec<Tensor<Ad, D>> = xs
        .iter()
        .map(|x| tensor::<Ad, D>(x).require_grad())
        .collect();
    let grads = f.call(ad.clone()).backward();
    ad.iter()
        .zip(xs)
        .map(|(x, d)| match x.grad(&grads) {
            Some(g) => values(g),
            None => vec![0.0; d.num_elements()],
        })
        .collect()
}

/// `xs + s·vs`.
fn moved(xs: &[TensorData], vs: &[Vec<f64>], s: f64) -> Vec<TensorData> {
    xs.iter()
        .zip(vs)
        .map(|(x, v)| {
            let m: Vec<f64> = flat(x).iter().zip(v).map(|(a, b)| a + s * b).collect();
            TensorData::new(m, x.shape.clone())
        })
        .collect()
}

/// `H·v` by reverse over reverse: the gradient of `⟨∇f, v⟩`.
fn reverse_over_reverse<const D: usize>(
    f: &impl LossFn<D>,
    xs: &[TensorData],
    vs: &[Vec<f64>],
) -> Vec<Vec<f64>> {
    let inner: Vec<Tensor<Ad, D>> = xs
        .iter()
        .map(|x| tensor::<Ad, D>(x).require_grad())
        .collect();
    let outer: Vec<Tensor<AdAd, D>> = inner
        .iter()
        .map(|x| Tensor::<AdAd, D>::from_inner(x.clone()).require_grad())
        .collect();
    let grads = f.call(outer.clone()).backward();
    let mut s: Option<Tensor<Ad, 1>> = None;
    for ((x, v), d) in outer.iter().zip(vs).zip(xs) {
        if let Some(g) = x.grad(&grads) {
            let v = tensor::<Ad, D>(&TensorData::new(v.clone(), d.shape.clone()));
            let term = (g * v).sum();
            s = Some(match s {
                Some(s) => s + term,
                None => term,
            });
        }
    }
    let Some(s) = s else {
        return xs.iter().map(|d| vec![0.0; d.num_elements()]).collect();
    };
    let grads = s.backward();
    inner
        .iter()
        .zip(xs)
        .map(|(x, d)| match x.grad(&grads) {
            Some(g) => values(g),
            None => vec![0.0; d.num_elements()],
        })
        .collect()
}

/// Checks `H·v` for `lanes` directions at once against `oracle`, and that the
/// gradient's primal equals `Autodiff<F>`'s.
pub fn check_hvp<const D: usize, const DL: usize>(
    f: &impl LossFn<D>,
    shapes: &[&[usize]],
    lanes: usize,
    oracle: Oracle,
) {
    assert_eq!(DL, D + 1);
    let mut rng = StdRng::seed_from_u64(11);
    let xs: Vec<TensorData> = shapes
        .iter()
        .map(|s| random_data(&mut rng, s, -1.0, 1.0))
        .collect();
    let vs = random_lanes(&mut rng, shapes, lanes);

    let lifted: Vec<Tensor<AdD, D>> = xs
        .iter()
        .zip(&vs)
        .map(|(x, v)| {
            Tensor::<AdD, D>::from_inner(seed(tensor::<F, D>(x), tensor::<F, DL>(v))).require_grad()
        })
        .collect();
    let grads = f.call(lifted.clone()).backward();
    let reference = gradient(f, &xs);
    let mut hv: Vec<Vec<f64>> = Vec::new();
    for ((x, d), g_ref) in lifted.iter().zip(&xs).zip(&reference) {
        let n = d.num_elements();
        match x.grad(&grads) {
            Some(g) => {
                let g_primal = values(burn_nested::lift::primal(g.clone()));
                let tol = oracle.tolerances().1;
                for (a, b) in g_primal.iter().zip(g_ref) {
                    assert!(
                        (a - b).abs() <= tol * b.abs().max(1.0),
                        "gradient {a} vs {b}"
                    );
                }
                hv.push(values(tangent::<F, D, DL>(g, lanes)));
            }
            None => hv.push(vec![0.0; lanes * n]),
        }
    }

    for l in 0..lanes {
        let v_l: Vec<Vec<f64>> = vs
            .iter()
            .zip(&xs)
            .map(|(v, d)| {
                let n = d.num_elements();
                flat(v)[l * n..(l + 1) * n].to_vec()
            })
            .collect();
        let tol = oracle.tolerances().0;
        let expected: Vec<Vec<f64>> = match oracle {
            Oracle::ReverseOverReverse => reverse_over_reverse(f, &xs, &v_l),
            Oracle::Differences | Oracle::CoarseDifferences => {
                let h = if matches!(oracle, Oracle::Differences) {
                    1e-5
                } else {
                    1e-3
                };
                let plus = gradient(f, &moved(&xs, &v_l, h));
                let minus = gradient(f, &moved(&xs, &v_l, -h));
                plus.iter()
                    .zip(&minus)
                    .map(|(p, m)| p.iter().zip(m).map(|(a, b)| (a - b) / (2.0 * h)).collect())
                    .collect()
            }
        };
        for (i, (got, want)) in hv.iter().zip(&expected).enumerate() {
            let n = want.len();
            for (k, (a, b)) in got[l * n..(l + 1) * n].iter().zip(want).enumerate() {
                assert!(
                    (a - b).abs() <= tol * b.abs().max(1.0),
                    "H·v (input {i}, lane {l}, entry {k}): forward-over-reverse {a} vs {oracle:?} {b}"
                );
            }
        }
    }
}

/// Declares a `#[test]` running [`check_hvp`] on a generic scalar loss.
///
/// `hvp_test!(name, [shape, ..], D, lanes, oracle, |xs| body)`.
#[macro_export]
macro_rules! hvp_test {
    ($name:ident, [$($shape:expr),+ $(,)?], $d:literal, $lanes:expr, $oracle:expr, |$xs:ident| $body:expr) => {
        #[test]
        fn $name() {
            struct Loss;
            impl hvp::LossFn<$d> for Loss {
                #[allow(unused_mut)]
                fn call<B: burn::tensor::backend::Backend>(
                    &self,
                    mut $xs: Vec<burn::tensor::Tensor<B, $d>>,
                ) -> burn::tensor::Tensor<B, 1> {
                    $body
                }
            }
            hvp::check_hvp::<$d, { $d + 1 }>(&Loss, &[$(&$shape),+], $lanes, $oracle);
        }
    };
}
